//! gempool as a Cloudflare Worker: the gateway component under local `wrangler dev` (workerd,
//! local D1 persisted to a directory), against the strict mock Gemini on loopback.
//!
//! Needs `npm ci` in `deploy/cloudflare` (scripts/test runs it) and the gateway component
//! (`dist/gempool.wasm`, else the one the host build leaves in `target/wasm`). Missing tools
//! fail the test; nothing is skipped.

use std::time::{Duration, Instant};

use gempool_tests::harness::workspace_root;
use gempool_tests::http::{Client, RequestBuilder, TestResponse};
use gempool_tests::mock::{Behavior, MockGemini};
use gempool_tests::wrangler::{apply_migrations, prepare, DevOptions, WranglerDev};
use serde_json::{json, Value};

const ADMIN_KEY: &str = "workers-test-admin-key-0123456789";
const FLASH: &str = "/v1beta/models/gemini-2.5-flash:generateContent";

fn component() -> std::path::PathBuf {
    let root = workspace_root();
    let dist = root.join("dist/gempool.wasm");
    if dist.is_file() {
        return dist;
    }
    let built = root.join("target/wasm/wasm32-wasip2/guest/gempool_guest.wasm");
    assert!(
        built.is_file(),
        "no gateway component: run scripts/build-components (dist/gempool.wasm) or build the host"
    );
    built
}

/// A Worker on a fresh local D1, against `mock`, pooling `keys`; and its client key.
struct Worker {
    dev: WranglerDev,
    options: DevOptions,
    client_key: String,
    _state: tempfile::TempDir,
}

impl Worker {
    fn start(mock: &MockGemini, keys: &[&str]) -> Worker {
        Worker::start_with(mock, keys, false, false)
    }

    /// `migrate`: run `wrangler d1 migrations apply` on the fresh D1 first. `d1_stats`: the
    /// Worker logs D1's own counts per request (`gempool-d1 .. write_statements=N`).
    fn start_with(mock: &MockGemini, keys: &[&str], migrate: bool, d1_stats: bool) -> Worker {
        prepare(&component()).unwrap_or_else(|e| panic!("{e}"));
        let state = tempfile::Builder::new().prefix("gempool-workers-").tempdir().unwrap();
        let mut options = DevOptions::new(&mock.url(), ADMIN_KEY, &state.path().join("wrangler-state"));
        if d1_stats {
            options.vars.push(("D1_STATS".into(), "1".into()));
        }
        if migrate {
            apply_migrations(&options.state_dir).unwrap_or_else(|e| panic!("{e}"));
        }
        let dev = WranglerDev::start(&options).unwrap_or_else(|e| panic!("{e}"));
        let mut worker = Worker {
            dev,
            options,
            client_key: String::new(),
            _state: state,
        };
        worker
            .admin("POST", "/admin/api/keys")
            .json(&json!({"keys": keys}))
            .send()
            .assert_status(201);
        let created = worker
            .admin("POST", "/admin/api/client-keys")
            .json(&json!({"name": "workers-test"}))
            .send();
        created.assert_status(201);
        worker.client_key = created.json()["key"].as_str().expect("a client key").to_owned();
        worker
    }

    fn client(&self) -> Client {
        Client::new(self.dev.url()).with_log(self.dev.log_handle())
    }

    fn admin(&self, method: &str, path: &str) -> RequestBuilder {
        self.client().request(method, path).bearer(ADMIN_KEY)
    }

    fn post(&self, path: &str) -> RequestBuilder {
        self.client().post(path).header("x-goog-api-key", &self.client_key)
    }

    fn keys(&self) -> Vec<Value> {
        let resp = self.admin("GET", "/admin/api/keys").send();
        resp.assert_status(200);
        resp.json()["keys"].as_array().cloned().unwrap_or_default()
    }

    fn restart(&mut self) {
        self.dev.stop();
        self.dev = WranglerDev::start(&self.options).unwrap_or_else(|e| panic!("{e}"));
    }
}

fn hello() -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": "hello there"}]}]})
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn ok(resp: TestResponse) -> TestResponse {
    resp.assert_status(200);
    resp
}

#[test]
fn gempool_serves_from_workers_with_d1_state() {
    let keys = ["wk-key-one-1111", "wk-key-two-2222", "wk-key-three-3333"];
    let mock = MockGemini::with_keys(&keys);
    let mut worker = Worker::start(&mock, &keys);

    // Rotation: round robin spreads requests evenly over the keys.
    for _ in 0..6 {
        ok(worker.post(FLASH).json(&hello()).send());
    }
    for key in keys {
        assert_eq!(mock.count_for_key(key), 2, "{key}: round robin over 3 keys, 6 requests");
    }
    assert!(
        mock.requests()
            .iter()
            .all(|r| r.header("x-goog-api-key") != Some(worker.client_key.as_str())),
        "the client key never reaches the upstream"
    );

    // Failover on a per-day 429: the client gets 200 from another key, and the key cools until
    // the next Pacific midnight.
    mock.reset_log();
    mock.push_script(keys[0], vec![Behavior::RateLimitPerDay]);
    for _ in 0..3 {
        ok(worker.post(FLASH).json(&hello()).send());
    }
    assert_eq!(mock.count_for_key(keys[0]), 1, "a cooled key is not tried again");
    let k0 = &worker.keys()[0];
    let until = k0["cooldowns"][0]["until"]
        .as_i64()
        .unwrap_or_else(|| panic!("a cooldown: {k0}"));
    let remaining = until - now_ms();
    assert!(remaining > 60_000 && remaining <= 25 * 3_600_000, "{remaining} ms");
    assert!(
        matches!((until / 3_600_000) % 24, 7 | 8) && until % 3_600_000 == 0,
        "not a Pacific midnight: {until}"
    );

    // An invalid key is disabled with the upstream's reason.
    mock.set_behavior(keys[1], Behavior::InvalidKey);
    for _ in 0..3 {
        ok(worker.post(FLASH).json(&hello()).send());
    }
    let k1 = &worker.keys()[1];
    assert_eq!(k1["enabled"], false, "{k1}");
    assert!(
        k1["disabled_reason"]
            .as_str()
            .unwrap_or_default()
            .contains("API key not valid"),
        "{k1}"
    );
    mock.set_behavior(keys[1], Behavior::Ok);
    worker
        .admin("POST", &format!("/admin/api/keys/{}/enable", k1["id"]))
        .send()
        .assert_status(200);
    worker
        .admin("POST", &format!("/admin/api/keys/{}/reset", k0["id"]))
        .send()
        .assert_status(200);

    // Streaming is incremental: the first event arrives while the upstream is still sending.
    mock.set_behavior(keys[2], Behavior::SlowStream { chunk_delay_ms: 300 });
    mock.set_behavior(keys[0], Behavior::SlowStream { chunk_delay_ms: 300 });
    mock.set_behavior(keys[1], Behavior::SlowStream { chunk_delay_ms: 300 });
    let words = json!({"contents": [{"role": "user", "parts": [{"text": "one two three four five six seven"}]}]});
    let mut stream = worker
        .post("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
        .json(&words)
        .send_stream();
    stream.assert_status(200);
    let events = stream.events();
    assert!(events.len() >= 5, "{} events", events.len());
    let first = events[0].at.expect("stamped");
    let last = events.last().unwrap().at.expect("stamped");
    assert!(
        last.duration_since(first) >= Duration::from_millis(1200),
        "the first event came only {:?} before the last: the Worker buffered",
        last.duration_since(first)
    );
    assert!(events.last().unwrap().json()["candidates"][0]["finishReason"] == "STOP");

    // OpenAI chat, whole and streamed (translated by the component).
    let chat = ok(worker
        .client()
        .post("/v1/chat/completions")
        .bearer(&worker.client_key)
        .json(&json!({"model": "gpt-5-mini", "messages": [{"role": "user", "content": "hi there"}]}))
        .send());
    assert_eq!(chat.json()["object"], "chat.completion", "{}", chat.text());
    assert!(chat.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
        .contains("hi there"));
    let started = Instant::now();
    let mut chat_stream = worker
        .client()
        .post("/v1/chat/completions")
        .bearer(&worker.client_key)
        .json(&json!({"model": "gpt-5-mini", "stream": true, "messages": [{"role": "user", "content": "one two three four five"}]}))
        .send_stream();
    chat_stream.assert_status(200);
    let chat_events = chat_stream.events();
    assert_eq!(chat_events.last().map(|e| e.data.as_str()), Some("[DONE]"));
    let first_chat = chat_events[0].at.unwrap().duration_since(started);
    let total = chat_events.last().unwrap().at.unwrap().duration_since(started);
    assert!(
        total >= first_chat + Duration::from_millis(900),
        "OpenAI stream buffered: first {first_chat:?}, total {total:?}"
    );

    // Anthropic messages.
    for key in keys {
        mock.set_behavior(key, Behavior::Ok);
    }
    let message = ok(worker
        .client()
        .post("/v1/messages")
        .header("x-api-key", &worker.client_key)
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "claude-haiku-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "bonjour"}]}))
        .send());
    assert_eq!(message.json()["type"], "message", "{}", message.text());
    assert!(message.json()["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .contains("bonjour"));

    // Admin API: settings, usage, request log; the wrong key is refused.
    worker
        .client()
        .get("/admin/api/keys")
        .bearer("not-the-admin-key")
        .send()
        .assert_status(401);
    ok(worker
        .admin("PATCH", "/admin/api/settings")
        .json(&json!({"max_attempts": 2}))
        .send());
    let settings = ok(worker.admin("GET", "/admin/api/settings").send()).json();
    assert_eq!(settings["settings"]["max_attempts"], 2);
    let usage = ok(worker.admin("GET", "/admin/api/usage").send()).json();
    let served: i64 = usage["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["requests"].as_i64().unwrap())
        .sum();
    assert!(served >= 14, "usage counts every served request: {usage}");
    let log = ok(worker.admin("GET", "/admin/api/requests?limit=5").send()).json();
    assert_eq!(log["requests"][0]["protocol"], "anthropic", "{log}");

    // 50 concurrent requests are all answered (one component instance each), none hangs.
    mock.reset_log();
    let started = Instant::now();
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..50)
            .map(|i| {
                let worker = &worker;
                s.spawn(move || {
                    let request = if i % 2 == 0 {
                        worker.post(FLASH).json(&hello())
                    } else {
                        worker
                            .client()
                            .post("/v1/chat/completions")
                            .bearer(&worker.client_key)
                            .json(&json!({"model": "gpt-5-mini", "messages": [{"role": "user", "content": "hi"}]}))
                    };
                    request
                        .timeout(Duration::from_secs(60))
                        .try_send()
                        .map_or(0, |r| r.status)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(statuses.iter().all(|s| *s == 200), "statuses: {statuses:?}");
    assert_eq!(mock.request_count(), 50);
    eprintln!("workers: 50 concurrent requests answered in {:?}", started.elapsed());

    // State is kept across a restart of wrangler dev (D1 persisted to a directory).
    let before = worker.keys();
    let usage_before = ok(worker.admin("GET", "/admin/api/usage").send()).json();
    worker.restart();
    assert_eq!(worker.keys(), before, "keys, cooldowns and health survive a restart");
    let usage_after = ok(worker.admin("GET", "/admin/api/usage").send()).json();
    assert_eq!(usage_after["keys"], usage_before["keys"]);
    assert_eq!(
        ok(worker.admin("GET", "/admin/api/settings").send()).json()["settings"]["max_attempts"],
        2
    );
    ok(worker.post(FLASH).json(&hello()).send());
}

#[test]
fn a_d1_migrated_by_wrangler_is_at_the_components_version() {
    // `wrangler d1 migrations apply` runs every file whole and records it in its own table; the
    // component must then take the database as migrated (a second run of a migration that is
    // not idempotent, such as ALTER TABLE, would fail every request).
    let keys = ["wk-migrated-key-1"];
    let mock = MockGemini::with_keys(&keys);
    let worker = Worker::start_with(&mock, &keys, true, false);
    assert_eq!(worker.keys().len(), 1);
    ok(worker.post(FLASH).json(&hello()).send());
    let usage = ok(worker.admin("GET", "/admin/api/usage").send()).json();
    assert_eq!(usage["keys"][0]["requests"], 1, "{usage}");
}

#[test]
fn the_admin_page_leaves_the_worker_gzipped_once() {
    // The component sends the page gzipped to a client that accepts gzip; Workers must pass
    // those bytes on as they are (encodeBody "manual"), not compress them a second time.
    let keys = ["wk-page-key-1"];
    let mock = MockGemini::with_keys(&keys);
    let worker = Worker::start(&mock, &keys);
    let page = ok(worker.client().get("/admin/").header("accept-encoding", "gzip").send());
    assert_eq!(page.header("content-encoding"), Some("gzip"));
    let html = gempool_guest::admin::inflate::gunzip(&page.body).expect("a gzip stream");
    let html = String::from_utf8(html).unwrap_or_else(|_| panic!("not HTML once unpacked: gzipped twice?"));
    assert!(
        html.contains("<title>gempool admin</title>"),
        "{}",
        &html[..html.len().min(200)]
    );
}

/// D1's own figures of the Worker's POST requests so far: (requests, statements that wrote).
fn d1_writes(worker: &Worker) -> Vec<(String, i64)> {
    worker
        .dev
        .log()
        .lines()
        .filter_map(|line| {
            let rest = line.split("gempool-d1 POST ").nth(1)?;
            let path = rest.split(' ').next()?.to_owned();
            let writes = rest
                .split("write_statements=")
                .nth(1)?
                .split(' ')
                .next()?
                .parse()
                .ok()?;
            Some((path, writes))
        })
        .collect()
}

#[test]
fn a_successful_request_through_the_worker_writes_d1_once() {
    let keys = ["wk-write-one-1111", "wk-write-two-2222"];
    let mock = MockGemini::with_keys(&keys);
    let worker = Worker::start_with(&mock, &keys, false, true);
    for _ in 0..4 {
        ok(worker.post(FLASH).json(&hello()).send());
        ok(worker
            .client()
            .post("/v1/chat/completions")
            .bearer(&worker.client_key)
            .json(&json!({"model": "gpt-5-mini", "messages": [{"role": "user", "content": "hi"}]}))
            .send());
    }
    // Round robin still alternates, with its ticket taken from the isolate.
    for key in keys {
        assert_eq!(mock.count_for_key(key), 4, "{key}: round robin over 2 keys, 8 requests");
    }
    // The per-request line is logged once the response has ended.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = d1_writes(&worker);
    while seen.len() < 8 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        seen = d1_writes(&worker);
    }
    // The admin calls that set the Worker up wrote too; the last 8 lines are the requests.
    assert!(seen.len() >= 8, "{seen:?}\n{}", worker.dev.log());
    let requests = &seen[seen.len() - 8..];
    assert!(
        requests.iter().all(|(_, writes)| *writes == 1),
        "one writing D1 statement per successful request: {requests:?}"
    );
}
