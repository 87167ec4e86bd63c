use crate::{hello, FLASH};
use gempool_tests::harness::{Gateway, GatewayOptions, TEST_ADMIN_KEY};
use gempool_tests::mock::MockGemini;
use serde_json::json;

fn closed(keys: &[&str]) -> (MockGemini, Gateway) {
    let mock = MockGemini::with_keys(keys);
    let gw = Gateway::start(GatewayOptions::with_mock(&mock, keys));
    (mock, gw)
}

fn new_client_key(gw: &Gateway, body: serde_json::Value) -> (i64, String) {
    let resp = gw.admin("POST", "/admin/api/client-keys").json(&body).send();
    resp.assert_status(201);
    let v = resp.json();
    (v["id"].as_i64().unwrap(), v["key"].as_str().unwrap().to_owned())
}

#[test]
fn proxied_requests_need_a_client_key() {
    let (mock, gw) = closed(&["k1"]);
    let resp = gw.post(FLASH).json(&hello()).send();
    resp.assert_status(401);
    assert_eq!(resp.json()["error"]["status"], "UNAUTHENTICATED");
    let wrong = gw
        .post(FLASH)
        .header("x-goog-api-key", "not-a-client-key-at-all")
        .json(&hello())
        .send();
    wrong.assert_status(401);
    assert!(
        !wrong.text().contains("not-a-client-key-at-all"),
        "the presented key is never echoed"
    );
    assert_eq!(mock.request_count(), 0);
}

#[test]
fn a_client_key_works_from_every_header_and_is_never_forwarded() {
    let (mock, gw) = closed(&["k1"]);
    let (_, key) = new_client_key(&gw, json!({"name": "alice"}));
    assert!(key.starts_with("gp-"));
    gw.post(FLASH)
        .header("x-goog-api-key", &key)
        .json(&hello())
        .send()
        .assert_status(200);
    gw.post(FLASH)
        .header("x-api-key", &key)
        .json(&hello())
        .send()
        .assert_status(200);
    gw.post(FLASH).bearer(&key).json(&hello()).send().assert_status(200);
    gw.post(&format!("{FLASH}?key={key}"))
        .json(&hello())
        .send()
        .assert_status(200);
    let requests = mock.requests();
    assert_eq!(requests.len(), 4);
    for r in &requests {
        assert_eq!(r.key.as_deref(), Some("k1"), "upstream sees a pool key");
        assert!(!r.key_in_query, "the pool key travels in x-goog-api-key, not the URL");
        let all = format!("{} {:?} {}", r.query, r.headers, String::from_utf8_lossy(&r.body));
        assert!(!all.contains(&key), "the client key leaked upstream: {all}");
    }
    assert!(!gw.log().contains(&key), "the client key is not logged");
}

#[test]
fn a_revoked_client_key_stops_working() {
    let (_mock, gw) = closed(&["k1"]);
    let (id, key) = new_client_key(&gw, json!({"name": "bob"}));
    gw.post(FLASH).bearer(&key).json(&hello()).send().assert_status(200);
    gw.admin("DELETE", &format!("/admin/api/client-keys/{id}"))
        .send()
        .assert_status(200);
    gw.post(FLASH).bearer(&key).json(&hello()).send().assert_status(401);
}

#[test]
fn the_admin_key_is_for_admin_only_and_client_keys_cannot_administer() {
    let (_mock, gw) = closed(&["k1"]);
    let resp = gw.post(FLASH).bearer(TEST_ADMIN_KEY).json(&hello()).send();
    resp.assert_status(403);
    let (_, key) = new_client_key(&gw, json!({}));
    gw.request("GET", "/admin/api/keys")
        .bearer(&key)
        .send()
        .assert_status(401);
    gw.request("GET", "/admin/api/keys").send().assert_status(401);
}

#[test]
fn open_access_needs_no_key() {
    let mock = MockGemini::with_keys(&["k1"]);
    let gw = Gateway::start(GatewayOptions::with_mock(&mock, &["k1"]).open());
    gw.post(FLASH).json(&hello()).send().assert_status(200);
    gw.post(FLASH)
        .header("x-goog-api-key", "anything")
        .json(&hello())
        .send()
        .assert_status(200);
    assert!(mock.requests().iter().all(|r| r.key.as_deref() == Some("k1")));
}

#[test]
fn a_generated_admin_key_is_printed_once_and_works() {
    let mock = MockGemini::with_keys(&["k1"]);
    let mut options = GatewayOptions::with_mock(&mock, &["k1"]);
    options.admin_key = None;
    let gw = Gateway::start(options);
    let key = gw
        .admin_key()
        .expect("the host prints a generated admin key")
        .to_owned();
    gw.admin("GET", "/admin/api/keys").send().assert_status(200);
    let gw = gw.restart();
    assert!(!gw.log().contains(&key), "the key is shown only on first start");
    gw.client()
        .request("GET", "/admin/api/keys")
        .bearer(&key)
        .send()
        .assert_status(200);
}

/// The admin API's request log, newest first.
fn request_log(gw: &Gateway) -> Vec<serde_json::Value> {
    let resp = gw.admin("GET", "/admin/api/requests?limit=50").send();
    resp.assert_status(200);
    resp.json()["requests"].as_array().cloned().unwrap_or_default()
}

#[test]
fn requests_refused_before_the_upstream_are_in_the_request_log() {
    let (mock, gw) = closed(&["k1"]);
    let (_, key) = new_client_key(&gw, json!({"name": "bob", "allowed_models": ["gemini-2.5-flash"]}));
    // No key, a wrong key, a bad body, a bad model id, a model the client may not use, an
    // unknown route.
    gw.post(FLASH).json(&hello()).send().assert_status(401);
    gw.post(FLASH)
        .header("x-goog-api-key", "wrong-client-key-42")
        .json(&hello())
        .send()
        .assert_status(401);
    gw.post("/v1/chat/completions")
        .bearer(&key)
        .body("{not json")
        .send()
        .assert_status(400);
    gw.post("/v1/chat/completions")
        .bearer(&key)
        .json(&json!({"model": "a b", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .assert_status(400);
    gw.post("/v1/messages")
        .header("x-api-key", &key)
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "gemini-2.5-pro", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .assert_status(403);
    gw.post("/v1/nowhere")
        .bearer(&key)
        .json(&json!({}))
        .send()
        .assert_status(404);
    assert_eq!(mock.request_count(), 0, "nothing reached the upstream");

    let log = request_log(&gw);
    let statuses: Vec<i64> = log.iter().map(|r| r["status"].as_i64().unwrap()).collect();
    assert_eq!(statuses, vec![404, 403, 400, 400, 401, 401], "{log:#?}");
    let text = serde_json::to_string(&log).unwrap();
    assert!(!text.contains(&key) && !text.contains("wrong-client-key-42"), "{text}");
    let anthropic = &log[1];
    assert_eq!(anthropic["protocol"], "anthropic");
    assert_eq!(anthropic["model"], "gemini-2.5-pro");
    assert!(anthropic["client_id"].as_i64().is_some(), "{anthropic}");
    assert!(
        anthropic["error"].as_str().unwrap().contains("may not use"),
        "{anthropic}"
    );
    assert_eq!(
        log[2]["error"].as_str().map(|e| e.contains("model")),
        Some(true),
        "{}",
        log[2]
    );
}
