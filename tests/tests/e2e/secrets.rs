//! No secret ever leaves: distinctive pool keys (Google's `AIza…` format, an odd format, a
//! short one), client keys and the admin key are configured; a broad set of scenarios runs
//! (successes in every protocol, upstream errors, suspensions and invalid-key answers that echo
//! the key, a mid-stream error echoing it, 429s, key validation, the admin API, credentials
//! used in the wrong place); every response status, header and body, the gateway's log, every
//! request-log row and every admin API answer is captured and scanned for each secret and for
//! every 12-character piece of one.

use std::time::Duration;

use gempool_tests::harness::{report_line, secret_leaks, Gateway, GatewayOptions};
use gempool_tests::http::TestResponse;
use gempool_tests::mock::{Behavior, MockGemini};
use serde_json::{json, Value};

/// Pool keys in several formats: Google's, an odd one, a short one.
const POOL: [(&str, &str); 3] = [
    ("AIza pool key", "AIzaSyQ7-secretPoolKeyAlpha_0123456789x"),
    ("odd-format pool key", "sk-pool_odd.FORMAT+key/2222=="),
    ("short pool key", "pk3-short"),
];
/// A pool key added later through the admin API.
const ADDED: &str = "AIzaSyAddedLater-throughTheAdminApi_42zz";
const ADMIN: &str = "adm1n-Secret-Key-For-The-Tests-77Q";
/// Gemini keys a pure-proxy client sends as its own pool (they must look like Google's).
const OWN: [&str; 2] = [
    "AIzaSyOwnKeyOfAPureProxyClient_00000001",
    "AIzaSyOwnKeyOfAPureProxyClient_00000002",
];
/// Shorter secrets are looked for whole; longer ones also by every piece of this length.
const WINDOW: usize = 12;

/// Everything the test saw, labelled by where it came from.
#[derive(Default)]
struct Seen {
    captures: Vec<(String, String)>,
    /// (capture index, secret label) pairs where a secret may legitimately appear: a client
    /// key in the one answer that creates it.
    allowed: Vec<(usize, String)>,
}

impl Seen {
    fn text(&mut self, label: impl Into<String>, text: impl Into<String>) -> usize {
        self.captures.push((label.into(), text.into()));
        self.captures.len() - 1
    }

    fn response(&mut self, label: impl Into<String>, response: &TestResponse) -> usize {
        let mut text = format!("status {}\n", response.status);
        for (name, value) in &response.headers {
            text.push_str(&format!("{name}: {value}\n"));
        }
        text.push('\n');
        text.push_str(&response.text());
        self.text(label, text)
    }
}

fn proxied(gw: &Gateway, client: &str, what: &str, stream: bool) -> TestResponse {
    let text = "one two three four";
    let (path, body, anthropic) = match what {
        "openai" => (
            "/v1/chat/completions".to_string(),
            json!({"model": "gemini-2.5-flash", "stream": stream, "messages": [{"role": "user", "content": text}]}),
            false,
        ),
        "anthropic" => (
            "/v1/messages".to_string(),
            json!({"model": "gemini-2.5-flash", "max_tokens": 128, "stream": stream,
                   "messages": [{"role": "user", "content": text}]}),
            true,
        ),
        "responses" => (
            "/v1/responses".to_string(),
            json!({"model": "gemini-2.5-flash", "stream": stream, "input": text}),
            false,
        ),
        "embeddings" => (
            "/v1/embeddings".to_string(),
            json!({"model": "gemini-embedding-001", "input": [text]}),
            false,
        ),
        "count_tokens" => (
            "/v1/messages/count_tokens".to_string(),
            json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": text}]}),
            true,
        ),
        "native" => (
            format!(
                "/v1beta/models/gemini-2.5-flash:{}",
                if stream {
                    "streamGenerateContent?alt=sse"
                } else {
                    "generateContent"
                }
            ),
            json!({"contents": [{"role": "user", "parts": [{"text": text}]}]}),
            false,
        ),
        "native-array" => (
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent".to_string(),
            json!({"contents": [{"role": "user", "parts": [{"text": text}]}]}),
            false,
        ),
        other => panic!("unknown protocol {other}"),
    };
    let mut request = gw.post(&path).json(&body).timeout(Duration::from_secs(30));
    request = if anthropic {
        request
            .header("x-api-key", client)
            .header("anthropic-version", "2023-06-01")
    } else if what.starts_with("native") {
        request.header("x-goog-api-key", client)
    } else {
        request.bearer(client)
    };
    request.send()
}

const PROTOCOLS: [(&str, bool); 10] = [
    ("openai", false),
    ("openai", true),
    ("anthropic", false),
    ("anthropic", true),
    ("responses", false),
    ("responses", true),
    ("native", false),
    ("native", true),
    ("native-array", true),
    ("count_tokens", false),
];

fn admin_json(gw: &Gateway, seen: &mut Seen, method: &str, path: &str, body: Option<Value>) -> TestResponse {
    let mut request = gw.admin(method, path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send();
    seen.response(format!("admin {method} {path}"), &response);
    response
}

fn key_ids(gw: &Gateway) -> Vec<i64> {
    gw.key_health().iter().map(|k| k.id).collect()
}

fn upstream_error(status: u16, google_status: &str, message: String, reason: Option<&str>) -> Behavior {
    let mut error = json!({"code": status, "message": message, "status": google_status});
    if let Some(reason) = reason {
        error["details"] = json!([{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": reason,
            "domain": "googleapis.com",
            "metadata": {"service": "generativelanguage.googleapis.com"}
        }]);
    }
    Behavior::Custom {
        status,
        body: json!({ "error": error }),
    }
}

#[test]
fn no_secret_reaches_a_client_a_log_or_the_admin_api() {
    let pool: Vec<&str> = POOL.iter().map(|(_, k)| *k).collect();
    let mock = MockGemini::with_keys(&pool);
    mock.set_accept_any_key(true);
    let mut options = GatewayOptions::with_mock(&mock, &pool);
    options.admin_key = Some(ADMIN.to_string());
    let gw = Gateway::start(options);
    let mut seen = Seen::default();

    // Client keys: their one-time reveal is the only place they may appear.
    let created = admin_json(
        &gw,
        &mut seen,
        "POST",
        "/admin/api/client-keys",
        Some(json!({"name": "alice"})),
    );
    let client = created.json()["key"].as_str().expect("client key").to_string();
    seen.allowed.push((seen.captures.len() - 1, "client key".into()));
    let created = admin_json(
        &gw,
        &mut seen,
        "POST",
        "/admin/api/client-keys",
        Some(json!({"name": "bob", "rpm": 1000})),
    );
    let client2 = created.json()["key"].as_str().expect("client key").to_string();
    seen.allowed.push((seen.captures.len() - 1, "second client key".into()));

    // 1. Successes in every protocol.
    for (what, stream) in PROTOCOLS {
        let response = proxied(&gw, &client, what, stream);
        response.assert_status(200);
        seen.response(format!("{what} stream={stream}: success"), &response);
    }
    let embeddings = proxied(&gw, &client2, "embeddings", false);
    seen.response("embeddings: success", &embeddings);
    for (path, header) in [
        ("/v1/models", "authorization"),
        ("/v1beta/models", "x-goog-api-key"),
        ("/v1beta/models/gemini-2.5-flash", "x-goog-api-key"),
    ] {
        let value = if header == "authorization" {
            format!("Bearer {client}")
        } else {
            client.clone()
        };
        let response = gw.get(path).header(header, &value).send();
        seen.response(format!("GET {path}"), &response);
    }
    // The client key in ?key= (Google's SDKs may do that).
    let response = gw
        .post(&format!("/v1beta/models/gemini-2.5-flash:generateContent?key={client}"))
        .json(&json!({"contents": [{"parts": [{"text": "hi"}]}]}))
        .send();
    seen.response("native with the client key in ?key=", &response);

    // 2. Upstream 4xx that go back to the client, echoing the key in the message.
    for key in &pool {
        mock.set_behavior(
            key,
            upstream_error(
                400,
                "INVALID_ARGUMENT",
                format!("Invalid request from consumer 'api_key:{key}': contents must not be empty (key={key})"),
                None,
            ),
        );
    }
    for (what, stream) in PROTOCOLS {
        let response = proxied(&gw, &client, what, stream);
        seen.response(
            format!("{what} stream={stream}: upstream 400 echoing the key"),
            &response,
        );
    }
    mock.reset_behaviors();

    // 3. A mid-stream error echoing the key.
    for key in &pool {
        mock.set_behavior(key, Behavior::MidStreamErrorEchoKey);
    }
    for what in ["openai", "anthropic", "responses", "native", "native-array"] {
        let response = proxied(&gw, &client, what, true);
        seen.response(format!("{what}: mid-stream error echoing the key"), &response);
    }
    mock.reset_behaviors();

    // 4. 429s whose message names the key: cooldown reasons must not keep it.
    for key in &pool {
        mock.set_behavior(
            key,
            upstream_error(
                429,
                "RESOURCE_EXHAUSTED",
                format!("Quota exceeded for consumer 'api_key:{key}'. Please retry in 20s."),
                None,
            ),
        );
    }
    for what in ["openai", "anthropic", "native"] {
        let response = proxied(&gw, &client, what, false);
        seen.response(format!("{what}: 429 echoing the key"), &response);
    }
    admin_json(&gw, &mut seen, "GET", "/admin/api/keys", None);
    for id in key_ids(&gw) {
        admin_json(&gw, &mut seen, "POST", &format!("/admin/api/keys/{id}/reset"), None);
    }
    mock.reset_behaviors();

    // 5. Suspensions (Google's message names the key) and invalid keys echoing the key: the
    //    keys are disabled and their reasons shown by the admin API.
    for (i, key) in pool.iter().enumerate() {
        let behavior = if i % 2 == 0 {
            Behavior::SuspendedEchoKey
        } else {
            upstream_error(
                400,
                "INVALID_ARGUMENT",
                format!("API key not valid. Please pass a valid API key. (api_key:{key})"),
                Some("API_KEY_INVALID"),
            )
        };
        mock.set_behavior(key, behavior);
    }
    for (what, stream) in [
        ("openai", false),
        ("anthropic", true),
        ("native", false),
        ("responses", false),
    ] {
        let response = proxied(&gw, &client, what, stream);
        seen.response(
            format!("{what} stream={stream}: suspended / invalid echoing the key"),
            &response,
        );
    }
    admin_json(&gw, &mut seen, "GET", "/admin/api/keys", None);
    for id in key_ids(&gw) {
        admin_json(&gw, &mut seen, "POST", &format!("/admin/api/keys/{id}/enable"), None);
    }

    // 6. Validation against the upstream while it still suspends / refuses the keys.
    for (i, key) in pool.iter().enumerate() {
        mock.set_behavior(
            key,
            if i % 2 == 0 {
                Behavior::SuspendedEchoKey
            } else {
                Behavior::InvalidKey
            },
        );
    }
    admin_json(&gw, &mut seen, "POST", "/admin/api/keys/validate", None);
    if let Some(id) = key_ids(&gw).first() {
        admin_json(&gw, &mut seen, "POST", &format!("/admin/api/keys/{id}/validate"), None);
    }
    admin_json(&gw, &mut seen, "GET", "/admin/api/keys", None);
    mock.reset_behaviors();
    for id in key_ids(&gw) {
        admin_json(&gw, &mut seen, "POST", &format!("/admin/api/keys/{id}/enable"), None);
    }

    // 7. The admin API: adding a key, editing, listing everything.
    admin_json(
        &gw,
        &mut seen,
        "POST",
        "/admin/api/keys",
        Some(json!({"key": ADDED, "label": "added"})),
    );
    admin_json(&gw, &mut seen, "POST", "/admin/api/keys", Some(json!({"key": ADDED})));
    admin_json(
        &gw,
        &mut seen,
        "POST",
        "/admin/api/keys",
        Some(json!({"keys": [POOL[0].1, POOL[1].1]})),
    );
    if let Some(id) = key_ids(&gw).first() {
        admin_json(
            &gw,
            &mut seen,
            "PATCH",
            &format!("/admin/api/keys/{id}"),
            Some(json!({"label": "renamed"})),
        );
    }
    admin_json(&gw, &mut seen, "GET", "/admin/api/client-keys", None);
    admin_json(
        &gw,
        &mut seen,
        "PATCH",
        "/admin/api/client-keys/1",
        Some(json!({"rpm": 500})),
    );
    admin_json(&gw, &mut seen, "GET", "/admin/api/settings", None);
    admin_json(
        &gw,
        &mut seen,
        "PATCH",
        "/admin/api/settings",
        Some(json!({"max_attempts": 3})),
    );
    admin_json(&gw, &mut seen, "GET", "/admin/api/aliases", None);

    // 8. Pure proxy: a client brings its own Gemini keys; the upstream suspends one and echoes
    //    it. The client may see its own keys; nothing else (log, request log, usage, admin) may.
    admin_json(
        &gw,
        &mut seen,
        "PATCH",
        "/admin/api/settings",
        Some(json!({"pure_proxy": true})),
    );
    mock.set_behavior(OWN[0], Behavior::SuspendedEchoKey);
    let own_pair = format!("{},{}", OWN[0], OWN[1]);
    for (label, request) in [
        (
            "pure proxy: native with two own keys",
            gw.post("/v1beta/models/gemini-2.5-flash:generateContent")
                .header("x-goog-api-key", &own_pair)
                .json(&json!({"contents": [{"parts": [{"text": "hi"}]}]})),
        ),
        (
            "pure proxy: openai with a suspended own key",
            gw.post("/v1/chat/completions")
                .bearer(OWN[0])
                .json(&json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]})),
        ),
        (
            "pure proxy: anthropic stream with own keys",
            gw.post("/v1/messages")
                .header("x-api-key", &own_pair)
                .header("anthropic-version", "2023-06-01")
                .json(&json!({"model": "gemini-2.5-flash", "max_tokens": 16, "stream": true,
                              "messages": [{"role": "user", "content": "hi"}]})),
        ),
    ] {
        let index = seen.response(label, &request.send());
        seen.allowed.push((index, "pure-proxy own key 1".into()));
        seen.allowed.push((index, "pure-proxy own key 2".into()));
    }
    let own_calls = mock.count_for_key(OWN[0]) + mock.count_for_key(OWN[1]);
    assert!(
        own_calls >= 3,
        "pure proxy should use the client's own keys ({own_calls} upstream calls)"
    );
    admin_json(
        &gw,
        &mut seen,
        "PATCH",
        "/admin/api/settings",
        Some(json!({"pure_proxy": false})),
    );
    mock.reset_behaviors();

    // 9. Credentials in the wrong place.
    let response = gw
        .post("/v1/chat/completions")
        .bearer(ADMIN)
        .json(&json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}))
        .send();
    seen.response("the admin key on a proxied route", &response);
    let response = gw.get("/admin/api/keys").bearer(&client).send();
    seen.response("a client key on the admin API", &response);
    let response = gw.get(&format!("/admin/api/keys?key={ADMIN}")).send();
    seen.response("the admin key in ?key=", &response);
    let response = gw
        .post("/v1beta/models/gemini-2.5-flash:generateContent")
        .header("x-goog-api-key", POOL[0].1)
        .json(&json!({"contents": [{"parts": [{"text": "hi"}]}]}))
        .send();
    seen.response("a pool key presented as a client key", &response);
    let response = gw
        .post("/v1/messages")
        .header("x-api-key", &format!("{client}x"))
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "gemini-2.5-flash", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}))
        .send();
    seen.response("a client key with one character more", &response);

    // 10. Everything the operator can read afterwards.
    let requests = admin_json(&gw, &mut seen, "GET", "/admin/api/requests?limit=1000", None);
    let rows = requests.json()["requests"].as_array().map(Vec::len).unwrap_or(0);
    assert!(
        rows >= 30,
        "the request log should hold this test's requests, it has {rows}"
    );
    admin_json(&gw, &mut seen, "GET", "/admin/api/usage", None);
    admin_json(&gw, &mut seen, "GET", "/admin/api/keys", None);
    admin_json(&gw, &mut seen, "GET", "/admin/api/client-keys", None);
    let page = gw.get("/admin/").send();
    seen.response("the admin page", &page);
    let metrics = gw.admin("GET", "/metrics").send();
    seen.response("/metrics", &metrics);
    // Let the log catch up with the last requests before reading it.
    std::thread::sleep(Duration::from_millis(200));
    seen.text("the gateway log", gw.process_log());

    let secrets: Vec<(String, String)> = POOL
        .iter()
        .map(|(label, key)| (label.to_string(), key.to_string()))
        .chain([
            ("added pool key".to_string(), ADDED.to_string()),
            ("client key".to_string(), client.clone()),
            ("second client key".to_string(), client2.clone()),
            ("admin key".to_string(), ADMIN.to_string()),
            ("pure-proxy own key 1".to_string(), OWN[0].to_string()),
            ("pure-proxy own key 2".to_string(), OWN[1].to_string()),
        ])
        .collect();
    let mut leaks = Vec::new();
    for (index, (label, text)) in seen.captures.iter().enumerate() {
        let relevant: Vec<(String, String)> = secrets
            .iter()
            .filter(|(secret, _)| !seen.allowed.contains(&(index, secret.clone())))
            .cloned()
            .collect();
        for leak in secret_leaks(text, &relevant, WINDOW) {
            leaks.push(format!("{label}: {leak}"));
        }
    }

    // Client and admin keys never travel upstream.
    for request in mock.requests() {
        let all = format!(
            "{} {} {:?} {}",
            request.path,
            request.query,
            request.headers,
            String::from_utf8_lossy(&request.body)
        );
        for (label, secret) in secrets[POOL.len() + 1..]
            .iter()
            .filter(|(label, _)| !label.starts_with("pure-proxy"))
        {
            if all.contains(secret.as_str()) {
                leaks.push(format!("the upstream received the {label}: {}", request.path));
            }
        }
    }

    report_line(&format!(
        "secrets: {} captures scanned for {} secrets, {} leak(s)",
        seen.captures.len(),
        secrets.len(),
        leaks.len()
    ));
    assert!(
        leaks.is_empty(),
        "\nsecrets leaked ({}):\n  {}\n",
        leaks.len(),
        leaks.join("\n  ")
    );
}
