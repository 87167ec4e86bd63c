use crate::{hello, setup, FLASH};
use serde_json::json;

#[test]
fn malformed_json_is_a_gemini_400() {
    let (mock, gw) = setup(&["k1"]);
    let resp = gw
        .post(FLASH)
        .body("{\"contents\": [")
        .header("content-type", "application/json")
        .send();
    resp.assert_status(400);
    assert_eq!(resp.json()["error"]["status"], "INVALID_ARGUMENT");
    assert_eq!(resp.json()["error"]["code"], 400);
    assert_eq!(mock.request_count(), 0, "nothing is sent upstream");
}

#[test]
fn unknown_routes_and_wrong_methods() {
    let (_mock, gw) = setup(&["k1"]);
    let missing = gw.get("/v1beta/nothing/here").send();
    missing.assert_status(404);
    assert_eq!(missing.json()["error"]["status"], "NOT_FOUND");
    let wrong = gw.get(FLASH).send();
    wrong.assert_status(405);
    assert!(wrong.json()["error"]["message"].as_str().unwrap().contains("GET"));
    gw.post("/v1beta/models/x:teleport")
        .json(&hello())
        .send()
        .assert_status(404);
}

#[test]
fn an_oversized_body_is_refused() {
    let (mock, gw) = setup(&["k1"]);
    gw.admin("PATCH", "/admin/api/settings")
        .json(&json!({"max_body_bytes": 2048}))
        .send()
        .assert_status(200);
    let big = json!({"contents": [{"role": "user", "parts": [{"text": "x".repeat(4096)}]}]});
    let resp = gw.post(FLASH).json(&big).send();
    resp.assert_status(413);
    assert_eq!(resp.json()["error"]["code"], 413);
    assert_eq!(mock.request_count(), 0);
    gw.post(FLASH).json(&hello()).send().assert_status(200);
}

#[test]
fn with_no_keys_the_gateway_says_so() {
    let (_mock, gw) = setup(&[]);
    let resp = gw.post(FLASH).json(&hello()).send();
    resp.assert_status(503);
    assert!(resp.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no upstream"));
}

#[test]
fn cors_preflight_is_answered() {
    let (_mock, gw) = setup(&["k1"]);
    let resp = gw
        .request("OPTIONS", FLASH)
        .header("origin", "http://example.test")
        .send();
    resp.assert_status(204);
    assert_eq!(resp.header("access-control-allow-origin"), Some("*"));
}

#[test]
fn health_answers() {
    let (_mock, gw) = setup(&[]);
    let resp = gw.get("/health").send();
    resp.assert_status(200);
    assert_eq!(resp.json()["status"], "ok");
    let id = resp.header("request-id").expect("a request id");
    assert!(id.starts_with("req_") && id.len() > 10, "{id}");
    assert_ne!(
        gw.get("/health").send().header("request-id"),
        Some(id),
        "ids differ per request"
    );
}

#[test]
fn an_unreachable_upstream_is_a_502_in_the_callers_shape() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut options = gempool_tests::harness::GatewayOptions::new(format!("http://127.0.0.1:{port}"));
    options.keys = vec!["k1".into()];
    options.open = true;
    let gw = gempool_tests::harness::Gateway::start(options);
    let gemini = gw.post(FLASH).json(&hello()).send();
    gemini.assert_status(502);
    assert_eq!(gemini.json()["error"]["status"], "UNAVAILABLE");
    let openai = gw
        .post("/v1/chat/completions")
        .json(&json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}))
        .send();
    openai.assert_status(502);
    assert_eq!(openai.json()["error"]["type"], "server_error");
}
