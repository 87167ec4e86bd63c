//! The admin page (`/admin/`) in a real browser: headless Chromium from Debian, driven through
//! chromedriver with the W3C WebDriver protocol. WebDriver is plain JSON over HTTP, so the
//! test speaks it with the suite's own HTTP client (no WebDriver crate, no npm).
//!
//! `/usr/bin/chromium` and `/usr/bin/chromedriver` must be installed (`scripts/test` installs
//! both); without them the test fails rather than pass unseen. Screenshots land in `target/admin-page*.png`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use gempool_tests::harness::{workspace_root, Gateway, GatewayOptions, TEST_ADMIN_KEY};
use gempool_tests::http::Client;
use gempool_tests::mock::{Behavior, MockGemini};
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The W3C name of an element reference in WebDriver JSON.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// A pool key added through the page (the mock accepts it too).
const NEW_KEY: &str = "AIzaSyPAGE-TEST-KEY-0123456789abcdefWXYZ";
const FLASH: &str = "/v1beta/models/gemini-2.5-flash:generateContent";
const WAIT: Duration = Duration::from_secs(10);

/// A headless Chromium session behind its own chromedriver; both end on drop.
struct Browser {
    driver: Child,
    client: Client,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a Chromium session, or `None` when they are not installed.
    fn start() -> Option<Browser> {
        if !std::path::Path::new(CHROMIUM).exists() || !std::path::Path::new(CHROMEDRIVER).exists() {
            panic!("{CHROMIUM} or {CHROMEDRIVER} is missing: run scripts/test, or apt-get install chromium chromium-driver");
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let client = Client::new(format!("http://127.0.0.1:{port}"));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = client.get("/status").timeout(Duration::from_secs(2)).try_send();
            if ready.is_ok_and(|r| r.status == 200 && r.json()["value"]["ready"] == true) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::Builder::new()
            .prefix("gempool-chromium-")
            .tempdir()
            .expect("a profile dir");
        let args = [
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--window-size=1280,900".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }}});
        let mut browser = Browser {
            driver,
            client,
            session: String::new(),
            _profile: profile,
        };
        let created = browser.call("POST", "/session", Some(caps));
        browser.session = created["sessionId"].as_str().expect("a session id").to_string();
        browser.command("POST", "/timeouts", json!({"implicit": 5000, "script": 10000}));
        Some(browser)
    }

    /// One WebDriver call; panics with the driver's error. Returns the `value` member.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let mut request = self.client.request(method, path).timeout(Duration::from_secs(60));
        if let Some(body) = &body {
            request = request.json(body);
        }
        let response = request
            .try_send()
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        let value = serde_json::from_slice::<Value>(&response.body).map(|v| v["value"].clone());
        match value {
            Ok(value) if response.status == 200 => value,
            _ => panic!(
                "WebDriver {method} {path} failed: {} {}",
                response.status,
                response.text()
            ),
        }
    }

    /// A call on this session (`path` after `/session/{id}`).
    fn command(&self, method: &str, path: &str, body: Value) -> Value {
        let body = (method == "POST").then_some(body);
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    fn goto(&self, url: &str) {
        self.command("POST", "/url", json!({"url": url}));
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page.
    fn js(&self, script: &str, args: Value) -> Value {
        self.command("POST", "/execute/sync", json!({"script": script, "args": args}))
    }

    fn find(&self, css: &str) -> String {
        let found = self.command("POST", "/element", json!({"using": "css selector", "value": css}));
        found[ELEMENT].as_str().expect("an element reference").to_string()
    }

    fn click(&self, css: &str) {
        let id = self.find(css);
        self.command("POST", &format!("/element/{id}/click"), json!({}));
    }

    /// Clears a field and types `text` into it, key by key.
    fn fill(&self, css: &str, text: &str) {
        let id = self.find(css);
        self.command("POST", &format!("/element/{id}/clear"), json!({}));
        self.command("POST", &format!("/element/{id}/value"), json!({"text": text}));
    }

    /// The rendered text of the first element matching `css` ("" when there is none).
    fn text(&self, css: &str) -> String {
        let script = "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';";
        self.js(script, json!([css])).as_str().unwrap_or_default().to_string()
    }

    fn count(&self, css: &str) -> usize {
        let n = self.js("return document.querySelectorAll(arguments[0]).length;", json!([css]));
        n.as_u64().unwrap_or(0) as usize
    }

    /// Polls `check` until it holds; on timeout saves a screenshot and panics with the page text.
    fn wait_for(&self, what: &str, mut check: impl FnMut(&Browser) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !check(self) {
            if Instant::now() > deadline {
                let shot = self.screenshot("admin-page-failure");
                panic!(
                    "timed out waiting for {what}\nscreenshot: {}\n--- page text ---\n{}",
                    shot.display(),
                    self.text("body")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the element's text contains `needle`; returns the text.
    fn wait_text(&self, css: &str, needle: &str) -> String {
        self.wait_for(&format!("{css:?} to contain {needle:?}"), |b| {
            b.text(css).contains(needle)
        });
        self.text(css)
    }

    fn visible(&self, css: &str) -> bool {
        let script = "const e = document.querySelector(arguments[0]); return !!e && e.getClientRects().length > 0;";
        self.js(script, json!([css])) == json!(true)
    }

    fn resize(&self, width: u32, height: u32) {
        self.command("POST", "/window/rect", json!({"width": width, "height": height}));
    }

    /// Saves a PNG of the whole page (the window grows to fit it) as `target/<name>.png`.
    fn screenshot(&self, name: &str) -> PathBuf {
        let rect = self.command("GET", "/window/rect", Value::Null);
        let width = rect["width"].as_u64().unwrap_or(1280) as u32;
        let height = self.js(
            "window.scrollTo(0, 0); return document.documentElement.scrollHeight;",
            json!([]),
        );
        let height = height.as_u64().unwrap_or(900).clamp(600, 6000) as u32;
        self.resize(width, height + 100);
        let png = self.command("GET", "/screenshot", Value::Null);
        let png = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().expect("base64 PNG"))
            .expect("valid base64");
        let path = workspace_root().join("target").join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write the screenshot");
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let path = format!("/session/{}", self.session);
            gempool_tests::best_effort(
                self.client
                    .request("DELETE", &path)
                    .timeout(Duration::from_secs(10))
                    .try_send(),
            );
        }
        gempool_tests::best_effort(self.driver.kill());
        gempool_tests::best_effort(self.driver.wait());
    }
}

fn keys(gw: &Gateway) -> Vec<Value> {
    let resp = gw.admin("GET", "/admin/api/keys").send();
    resp.assert_status(200);
    resp.json()["keys"].as_array().cloned().unwrap_or_default()
}

#[test]
fn the_admin_page_manages_the_pool_in_a_real_browser() {
    let Some(browser) = Browser::start() else { return };
    let mock = MockGemini::with_keys(&["k1", "k2", NEW_KEY]);
    let gw = Gateway::start(GatewayOptions::with_mock(&mock, &["k1", "k2"]));
    let b = &browser;
    b.goto(&format!("{}/admin/", gw.url()));

    // A wrong admin key is refused with the API's message, and the app stays hidden.
    b.wait_for("the login form", |b| b.visible("#admin-key"));
    b.fill("#admin-key", "not-the-admin-key");
    b.click("#login-btn");
    let error = b.wait_text("#login-error", "admin key is not valid");
    assert!(error.contains("401"), "the error names the status: {error}");
    assert!(!b.visible("#app"), "nothing is shown without the admin key");

    // The right key opens the pool keys table: two keys, redacted.
    b.fill("#admin-key", TEST_ADMIN_KEY);
    b.click("#login-btn");
    b.wait_for("two key rows", |b| b.count("#keys-body tr[data-key-id]") == 2);
    assert_eq!(b.text("#health"), "2/2 keys available");
    let table = b.text("#keys-table");
    assert!(table.contains('…'), "keys are shown redacted: {table}");
    let stored = b.js("return sessionStorage.getItem('gempool.adminKey');", json!([]));
    assert_eq!(stored, json!(TEST_ADMIN_KEY), "the admin key is kept in sessionStorage");
    assert_eq!(
        b.js("return document.querySelector('#admin-key').value;", json!([])),
        json!("")
    );

    // Add a key through the form: it is listed (redacted, with its label), the secret is gone.
    b.fill("#nk-keys", NEW_KEY);
    b.fill("#nk-label", "from-the-page");
    b.fill("#nk-weight", "2");
    b.click("#add-keys button[type=submit]");
    b.wait_text("#nk-msg", "Added 1 key");
    b.wait_for("three key rows", |b| b.count("#keys-body tr[data-key-id]") == 3);
    let table = b.text("#keys-table");
    assert!(
        table.contains("AIza…WXYZ") && table.contains("from-the-page"),
        "{table}"
    );
    let listed = keys(&gw);
    assert_eq!(listed.len(), 3);
    assert_eq!(
        (listed[2]["label"].clone(), listed[2]["weight"].clone()),
        (json!("from-the-page"), json!(2))
    );

    // Disable the first key with a reason, through the confirmation dialog.
    let first = listed[0]["id"].as_i64().expect("an id");
    let row = format!("#keys-body tr[data-key-id=\"{first}\"]");
    b.click(&format!("{row} .act-disable"));
    b.wait_for("the disable dialog", |b| b.visible("#dlg-reason"));
    b.fill("#dlg-reason", "rotating");
    b.click("#dlg-ok");
    b.wait_text(&row, "disabled");
    assert!(b.text(&row).contains("rotating"), "{}", b.text(&row));
    assert!(b.visible(&format!("{row} .act-enable")), "a disabled key offers Enable");
    assert_eq!(b.text("#health"), "2/3 keys available");
    assert_eq!(keys(&gw)[0]["enabled"], json!(false));
    assert_eq!(keys(&gw)[0]["disabled_reason"], json!("rotating"));
    b.screenshot("admin-page");

    // Usage starts empty.
    b.click("#tab-usage");
    b.wait_text("#usage-clients-body", "No client-key requests");

    // Create a client key: it is shown once, and works for a Gemini request.
    b.click("#tab-clients");
    b.fill("#nc-name", "page-client");
    b.fill("#nc-rpm", "100");
    b.click("#add-client button[type=submit]");
    b.wait_for("the new client key", |b| b.visible("#new-client"));
    let key = b.js("return document.querySelector('#new-client-key').value;", json!([]));
    let key = key.as_str().expect("the key").to_string();
    assert!(key.starts_with("gp-"), "a client key: {key}");
    let clients = b.wait_text("#clients-body", "page-client");
    assert!(clients.contains("100/min") && !clients.contains(&key), "{clients}");
    b.screenshot("admin-page-clients");
    let hello = json!({"contents": [{"role": "user", "parts": [{"text": "hello from the page test"}]}]});
    let resp = gw.post(FLASH).header("x-goog-api-key", &key).json(&hello).send();
    resp.assert_status(200);

    // The usage shows the request after a refresh, per client and per key.
    b.click("#tab-usage");
    b.click("#refresh");
    let usage = b.wait_text("#usage-clients-body", "page-client");
    assert!(usage.contains("gemini-2.5-flash"), "{usage}");
    b.wait_for("a key usage row", |b| b.count("#usage-keys-body tr[data-key-id]") == 1);
    assert!(
        b.text("#usage-stats").contains("1\nupstream requests"),
        "{}",
        b.text("#usage-stats")
    );
    b.click("input[name=range][value=\"7\"] + span");
    b.wait_for("the request chart", |b| {
        b.count("#chart-requests svg rect[data-value]") >= 1
    });
    b.screenshot("admin-page-usage");

    // The request log lists it with the client's name.
    b.click("#tab-requests");
    let log = b.wait_text("#req-body", "page-client");
    assert!(log.contains("200") && log.contains("gemini-2.5-flash"), "{log}");
    b.screenshot("admin-page-requests");

    // A 429 puts a key in a cooldown the page counts down; Reset clears it.
    mock.push_script("k2", vec![Behavior::RateLimitPerMinute { retry_delay_secs: 50 }]);
    for _ in 0..3 {
        gw.post(FLASH)
            .header("x-goog-api-key", &key)
            .json(&hello)
            .send()
            .assert_status(200);
        if mock.count_for_key("k2") > 0 {
            break;
        }
    }
    let second = listed[1]["id"].as_i64().expect("an id");
    let row = format!("#keys-body tr[data-key-id=\"{second}\"]");
    b.click("#tab-keys");
    b.click("#refresh");
    b.wait_text(&row, "gemini-2.5-flash");
    let countdown = format!("{row} [data-until]");
    let before = b.text(&countdown);
    b.wait_for("the countdown to tick", |b| b.text(&countdown) != before);
    assert!(before.ends_with('s') && before.len() <= 3, "seconds left: {before}");
    b.screenshot("admin-page-cooldown");
    b.click(&format!("{row} .act-reset"));
    b.wait_for("the cooldown to clear", |b| !b.text(&row).contains("gemini-2.5-flash"));
    assert!(keys(&gw)[1]["cooldowns"].as_array().is_some_and(Vec::is_empty));

    // Settings: change the strategy and max_attempts; add an alias.
    b.click("#tab-settings");
    b.wait_for("the settings form", |b| b.visible("#set-max_attempts"));
    b.click("#set-strategy option[value=least_used]");
    b.fill("#set-max_attempts", "5");
    b.click("#set-pure_proxy");
    b.click("#settings-form button[type=submit]");
    b.wait_text("#settings-msg", "Saved");
    let settings = gw.admin("GET", "/admin/api/settings").send().json();
    assert_eq!(settings["settings"]["strategy"], json!("least_used"));
    assert_eq!(settings["settings"]["max_attempts"], json!(5));
    assert_eq!(
        settings["settings"]["pure_proxy"],
        json!(true),
        "pure proxy mode is switched from the page"
    );
    b.fill("#set-max_attempts", "99");
    b.click("#settings-form button[type=submit]");
    b.wait_text("#settings-msg", "out of range");
    b.fill("#na-alias", "page-alias");
    b.fill("#na-model", "gemini-2.5-pro");
    b.click("#add-alias button[type=submit]");
    b.wait_for("the new alias row", |b| {
        b.count("#aliases-body tr[data-alias=\"page-alias\"]") == 1
    });
    let aliases = gw.admin("GET", "/admin/api/aliases").send().json();
    assert_eq!(aliases["aliases"]["page-alias"], json!("gemini-2.5-pro"));
    b.fill("#nf-model", "gemini-2.5-pro");
    b.fill("#nf-chain", "gemini-2.5-flash, gemini-2.5-flash-lite");
    b.click("#add-fallback button[type=submit]");
    b.wait_for("the new fallback chain row", |b| {
        b.count("#fallbacks-body tr[data-fallback=\"gemini-2.5-pro\"]") == 1
    });
    let chains = gw.admin("GET", "/admin/api/fallbacks").send().json();
    assert_eq!(
        chains["fallbacks"]["gemini-2.5-pro"],
        json!(["gemini-2.5-flash", "gemini-2.5-flash-lite"])
    );
    b.screenshot("admin-page-settings");

    // Narrow screens: tables become cards, nothing overflows sideways.
    b.click("#tab-keys");
    b.resize(390, 800);
    b.wait_for("the narrow layout", |b| !b.visible("#keys-table thead"));
    let overflow = b.js(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
        json!([]),
    );
    assert!(
        overflow.as_i64().unwrap_or(0) <= 0,
        "the page scrolls sideways by {overflow}px"
    );
    b.screenshot("admin-page-narrow");

    // No secret other than the fresh client key ever reached the page.
    let page = b.js(
        "return document.documentElement.outerHTML + [...document.querySelectorAll('input, textarea')].map(e => e.value).join(' ');",
        json!([]),
    );
    let page = page.as_str().unwrap_or_default();
    for secret in [TEST_ADMIN_KEY, NEW_KEY] {
        assert!(!page.contains(secret), "the page shows a secret: {secret}");
    }
    assert!(!b.text("#keys-table").contains("k1"), "not even short ones");

    // Forget: back to the login form, nothing stored.
    b.resize(1280, 900);
    b.click("#forget");
    b.wait_for("the login form again", |b| b.visible("#admin-key"));
    assert_eq!(b.js("return sessionStorage.length;", json!([])), json!(0));
    assert_eq!(b.count("#keys-body tr"), 0, "the tables are cleared");
}

/// The `data-total` of a chart's SVG (0 when it draws nothing).
fn chart_total(b: &Browser, chart: &str) -> i64 {
    let script = "const e = document.querySelector(arguments[0] + ' svg'); return e ? Number(e.dataset.total) : 0;";
    b.js(script, json!([chart])).as_i64().unwrap_or(-1)
}

/// Series name → total, from a chart's legend.
fn legend(b: &Browser, chart: &str) -> std::collections::BTreeMap<String, i64> {
    let script = "return [...document.querySelectorAll(arguments[0] + ' .legend li')].map(l => [l.dataset.series, Number(l.dataset.total)]);";
    let pairs = b.js(script, json!([chart]));
    pairs
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_str().unwrap().to_owned(), p[1].as_i64().unwrap()))
        .collect()
}

/// The sum of the drawn bars' values: what the SVG shows, not what it claims.
fn drawn_sum(b: &Browser, chart: &str) -> i64 {
    let script = "return [...document.querySelectorAll(arguments[0] + ' svg rect[data-value]')].reduce((s, r) => s + Number(r.dataset.value), 0);";
    b.js(script, json!([chart])).as_i64().unwrap_or(-1)
}

#[test]
fn the_usage_charts_draw_the_scripted_runs_numbers() {
    let Some(browser) = Browser::start() else { return };
    let mock = MockGemini::with_keys(&["k1", "k2"]);
    let gw = Gateway::start(GatewayOptions::with_mock(&mock, &["k1", "k2"]));
    let ids: Vec<i64> = keys(&gw).iter().map(|k| k["id"].as_i64().unwrap()).collect();
    for (id, label) in ids.iter().zip(["alpha", "beta"]) {
        gw.admin("PATCH", &format!("/admin/api/keys/{id}"))
            .json(&json!({"label": label}))
            .send()
            .assert_status(200);
    }
    let created = gw
        .admin("POST", "/admin/api/client-keys")
        .json(&json!({"name": "chart-client"}))
        .send();
    created.assert_status(201);
    let client_id = created.json()["id"].as_i64().unwrap();
    let client_key = created.json()["key"].as_str().unwrap().to_owned();

    // The scripted run: 6 answered requests; beta answers one 429 first (then cools down).
    mock.push_script("k2", vec![Behavior::RateLimitPerMinute { retry_delay_secs: 60 }]);
    let hello = json!({"contents": [{"role": "user", "parts": [{"text": "chart me"}]}]});
    for _ in 0..6 {
        gw.post(FLASH)
            .bearer(&client_key)
            .json(&hello)
            .send()
            .assert_status(200);
    }
    assert!(mock.count_for_key("k2") >= 1);
    let hourly = gw.admin("GET", "/admin/api/usage/hourly").send().json();
    let hours = hourly["hours"].as_array().unwrap();
    let per_key = |id: i64, field: &str| -> i64 {
        hours
            .iter()
            .filter(|h| h["key_id"].as_i64() == Some(id))
            .map(|h| h[field].as_i64().unwrap())
            .sum()
    };
    let (alpha, beta) = (per_key(ids[0], "requests"), per_key(ids[1], "requests"));
    assert_eq!(alpha + beta, 7, "6 answers and one 429: {hourly}");
    assert_eq!(per_key(ids[1], "rate_limited"), 1, "{hourly}");
    let usage = gw.admin("GET", "/admin/api/usage").send().json();
    let client_tokens: i64 = usage["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["prompt_tokens"].as_i64().unwrap() + r["output_tokens"].as_i64().unwrap())
        .sum();
    assert!(client_tokens > 0, "{usage}");

    let b = &browser;
    b.goto(&format!("{}/admin/#usage", gw.url()));
    b.wait_for("the login form", |b| b.visible("#admin-key"));
    b.fill("#admin-key", TEST_ADMIN_KEY);
    b.click("#login-btn");
    b.wait_for("the request chart", |b| chart_total(b, "#chart-requests") > 0);

    // 24 hours, stacked by key: the same numbers as the API, per key.
    assert_eq!(chart_total(b, "#chart-requests"), 7);
    assert_eq!(drawn_sum(b, "#chart-requests"), 7);
    let by_key = legend(b, "#chart-requests");
    let expected: std::collections::BTreeMap<String, i64> = [
        (format!("alpha #{}", ids[0]), alpha),
        (format!("beta #{}", ids[1]), beta),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .collect();
    assert_eq!(by_key, expected);
    assert_eq!(chart_total(b, "#chart-429"), 1);
    assert_eq!(
        legend(b, "#chart-429"),
        [(format!("beta #{}", ids[1]), 1)].into_iter().collect()
    );
    // Bars stand in the hours the API reports.
    let drawn_slots = "return [...new Set([...document.querySelectorAll('#chart-requests rect[data-slot]')].map(r => r.dataset.slot))].sort();";
    let api_hours: Vec<i64> = hours.iter().map(|h| h["hour"].as_i64().unwrap()).collect();
    let expected_slots = b.js(
        "return [...new Set(arguments[0].map(h => new Date(h).toISOString().slice(0, 13)))].sort();",
        json!([api_hours]),
    );
    assert_eq!(b.js(drawn_slots, json!([])), expected_slots);
    // Tokens per client.
    assert_eq!(chart_total(b, "#chart-tokens"), client_tokens);
    assert_eq!(
        legend(b, "#chart-tokens"),
        [(format!("chart-client #{client_id}"), client_tokens)]
            .into_iter()
            .collect()
    );
    b.screenshot("admin-page-charts");

    // By model, then 30 days: still the run's numbers.
    b.click("input[name=cstack][value=model] + span");
    b.wait_for("the by-model legend", |b| {
        legend(b, "#chart-requests").contains_key("gemini-2.5-flash")
    });
    assert_eq!(
        legend(b, "#chart-requests"),
        [("gemini-2.5-flash".to_string(), 7)].into_iter().collect()
    );
    b.click("input[name=cperiod][value=days] + span");
    b.wait_for("the 30-day chart", |b| {
        b.js("return document.querySelectorAll('#chart-requests svg text').length;", json!([])).as_i64() > Some(3)
            && b.js(
                "return [...document.querySelectorAll('#chart-requests rect[data-slot]')].every(r => r.dataset.slot.length === 10);",
                json!([]),
            ) == json!(true)
    });
    assert_eq!(chart_total(b, "#chart-requests"), 7);
    assert_eq!(chart_total(b, "#chart-429"), 1);
    let mut days: Vec<&str> = usage["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["day"].as_str().unwrap())
        .collect();
    days.sort();
    days.dedup();
    assert_eq!(b.js(drawn_slots, json!([])), json!(days));
    b.screenshot("admin-page-charts-30d");

    // The page's policy still lets its one script run (it drew all this), and loads nothing else.
    let policy = gw.get("/admin/").send();
    let csp = policy.header("content-security-policy").unwrap().to_owned();
    assert!(
        csp.contains("script-src 'sha256-") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    let external = b.js(
        "return performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith(location.origin));",
        json!([]),
    );
    assert_eq!(external, json!([]), "nothing loaded from elsewhere");
}
