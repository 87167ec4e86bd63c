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

/// An upstream error reaches every protocol in that protocol's own shape, from the one table
/// in `guest/src/error.rs`: whole replies (a 4xx the request caused) and streams that already
/// started (an error chunk after the first one).
#[test]
fn upstream_errors_reach_every_protocol_in_its_own_shape_whole_and_mid_stream() {
    use gempool_tests::harness::{error_shape_problem, Dialect};
    use gempool_tests::mock::Behavior;
    let (mock, gw) = setup(&["k1"]);
    let chat = |stream: bool| json!({"model": "gemini-2.5-flash", "stream": stream, "messages": [{"role": "user", "content": "hi"}]});
    let responses = |stream: bool| json!({"model": "gemini-2.5-flash", "stream": stream, "input": "hi"});
    let messages = |stream: bool| {
        json!({"model": "gemini-2.5-flash", "max_tokens": 64, "stream": stream,
               "messages": [{"role": "user", "content": "hi"}]})
    };
    let native = |stream: bool| {
        if stream {
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        } else {
            FLASH
        }
    };

    // Whole replies: a 404 the upstream gave for the model.
    let not_found =
        json!({"error": {"code": 404, "message": "models/gemini-2.5-flash is not found", "status": "NOT_FOUND"}});
    mock.set_behavior(
        "k1",
        Behavior::Custom {
            status: 404,
            body: not_found.clone(),
        },
    );
    let openai = gw.post("/v1/chat/completions").json(&chat(false)).send();
    openai.assert_status(404);
    assert_eq!(
        error_shape_problem(Dialect::OpenAi, 404, openai.text().as_bytes()),
        None
    );
    assert_eq!(
        (
            openai.json()["error"]["type"].clone(),
            openai.json()["error"]["code"].clone()
        ),
        (json!("invalid_request_error"), json!("model_not_found"))
    );
    assert_eq!(
        openai.json()["error"]["message"],
        "models/gemini-2.5-flash is not found"
    );
    let resp = gw.post("/v1/responses").json(&responses(false)).send();
    resp.assert_status(404);
    assert_eq!(error_shape_problem(Dialect::OpenAi, 404, resp.text().as_bytes()), None);
    assert_eq!(resp.json()["error"]["code"], "model_not_found");
    let anthropic = gw
        .post("/v1/messages")
        .header("anthropic-version", "2023-06-01")
        .json(&messages(false))
        .send();
    anthropic.assert_status(404);
    assert_eq!(
        error_shape_problem(Dialect::Anthropic, 404, anthropic.text().as_bytes()),
        None
    );
    assert_eq!(anthropic.json()["error"]["type"], "not_found_error");
    let gemini = gw.post(native(false)).json(&hello()).send();
    gemini.assert_status(404);
    assert_eq!(
        error_shape_problem(Dialect::Gemini, 404, gemini.text().as_bytes()),
        None
    );
    assert_eq!(gemini.json()["error"]["status"], "NOT_FOUND");

    // Mid-stream: 200, a first chunk, then Gemini's 503 error chunk.
    mock.set_behavior("k1", Behavior::MidStreamError);
    let openai = gw.post("/v1/chat/completions").json(&chat(true)).send();
    openai.assert_status(200);
    let events = openai.sse_events();
    let error = events
        .iter()
        .map(|e| e.json())
        .find(|e| e.get("error").is_some())
        .unwrap_or_else(|| panic!("no error frame: {}", openai.text()));
    assert_eq!(
        (error["error"]["type"].clone(), error["error"]["code"].clone()),
        (json!("server_error"), json!("overloaded")),
        "{error}"
    );
    assert!(error["error"].get("param").is_some(), "{error}");
    let resp = gw.post("/v1/responses").json(&responses(true)).send();
    resp.assert_status(200);
    let failed = resp
        .sse_events()
        .iter()
        .map(|e| e.json())
        .find(|e| e["type"] == "response.failed")
        .unwrap_or_else(|| panic!("no response.failed: {}", resp.text()));
    assert_eq!(failed["response"]["error"]["code"], "server_error", "{failed}");
    assert_eq!(failed["response"]["status"], "failed", "{failed}");
    let anthropic = gw
        .post("/v1/messages")
        .header("anthropic-version", "2023-06-01")
        .json(&messages(true))
        .send();
    anthropic.assert_status(200);
    let events = anthropic.sse_events();
    let error = events
        .iter()
        .find(|e| e.event.as_deref() == Some("error"))
        .unwrap_or_else(|| panic!("no error event: {}", anthropic.text()))
        .json();
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["error"]["type"], "overloaded_error", "{error}");
    let gemini = gw.post(native(true)).json(&hello()).send();
    gemini.assert_status(200);
    let last = gemini.sse_events().last().map(|e| e.json()).unwrap_or_default();
    assert_eq!(last["error"]["code"], 503, "{last}");
}
