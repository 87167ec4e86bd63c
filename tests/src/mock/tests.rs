//! HTTP-level tests of the mock: routes, auth, validation errors, framing, scripts, signatures.

use std::time::Duration;

use serde_json::{json, Value};

use super::wire::GeminiApiError;
use super::{Behavior, MockGemini};
use crate::http::{Client, TestResponse};

const FLASH: &str = "/v1beta/models/gemini-2.5-flash";
const GEMINI3: &str = "/v1beta/models/gemini-3-flash-preview";

fn setup() -> (MockGemini, Client) {
    let mock = MockGemini::with_keys(&["k1", "k2"]);
    let client = Client::new(mock.url());
    (mock, client)
}

fn post(client: &Client, path: &str, key: &str, body: &Value) -> TestResponse {
    client.post(path).header("x-goog-api-key", key).json(body).send()
}

fn hello() -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": "hello there"}]}]})
}

fn weather_request(text: &str) -> Value {
    json!({
        "contents": [{"role": "user", "parts": [{"text": text}]}],
        "tools": [{"functionDeclarations": [
            {"name": "get_weather", "parameters": {"type": "OBJECT",
                "properties": {"city": {"type": "STRING"}}, "required": ["city"]}},
            {"name": "get_time", "parameters": {"type": "OBJECT",
                "properties": {"tz": {"type": "STRING"}}}}
        ]}]
    })
}

fn error_of(resp: &TestResponse) -> GeminiApiError {
    resp.json_as()
}

#[test]
fn generate_content_echoes_with_usage_and_ids() {
    let (_mock, client) = setup();
    let resp = post(&client, &format!("{FLASH}:generateContent"), "k1", &hello());
    resp.assert_status(200);
    assert!(resp.header("content-type").unwrap().starts_with("application/json"));
    let body = resp.json();
    let candidate = &body["candidates"][0];
    assert_eq!(candidate["content"]["parts"][0]["text"], "echo: hello there");
    assert_eq!(candidate["content"]["role"], "model");
    assert_eq!(candidate["finishReason"], "STOP");
    assert!(candidate.get("index").is_none(), "index 0 is omitted");
    let usage = &body["usageMetadata"];
    assert_eq!(usage["promptTokenCount"], 2);
    assert_eq!(usage["candidatesTokenCount"], 3);
    assert_eq!(usage["totalTokenCount"], 5);
    assert!(usage.get("thoughtsTokenCount").is_none());
    assert_eq!(body["modelVersion"], "gemini-2.5-flash");
    assert!(body["responseId"].as_str().is_some_and(|s| !s.is_empty()));
}

#[test]
fn models_are_paged_on_both_versions() {
    let (_mock, client) = setup();
    for version in ["v1beta", "v1"] {
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut path = format!("/{version}/models?pageSize=4");
            if let Some(t) = &token {
                path.push_str(&format!("&pageToken={t}"));
            }
            let page = client.get(&path).header("x-goog-api-key", "k1").send();
            page.assert_status(200);
            let page = page.json();
            names.extend(
                page["models"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m["name"].as_str().unwrap().to_string()),
            );
            match page.get("nextPageToken").and_then(Value::as_str) {
                Some(t) => token = Some(t.to_string()),
                None => break,
            }
        }
        assert_eq!(names.len(), super::models::MODELS.len());
        assert!(names.contains(&"models/gemini-embedding-001".to_string()));
    }
    let model = client.get("/v1beta/models/gemini-embedding-001?key=k2").send();
    model.assert_status(200);
    assert_eq!(
        model.json()["supportedGenerationMethods"],
        json!([
            "embedContent",
            "batchEmbedContents",
            "countTokens",
            "asyncBatchEmbedContent"
        ])
    );
}

#[test]
fn unknown_model_and_route_are_404() {
    let (_mock, client) = setup();
    let resp = post(&client, "/v1beta/models/gemini-9:generateContent", "k1", &hello());
    resp.assert_status(404);
    let error = error_of(&resp).error;
    assert_eq!(error.status, "NOT_FOUND");
    assert!(error
        .message
        .starts_with("models/gemini-9 is not found for API version v1beta"));
    let resp = post(
        &client,
        "/v1beta/models/gemini-embedding-001:generateContent",
        "k1",
        &hello(),
    );
    resp.assert_status(404);
    let resp = client.get("/v1beta/tunedModels").header("x-goog-api-key", "k1").send();
    resp.assert_status(404);
    assert!(resp.text().contains("was not found on this server"));
}

#[test]
fn auth_requires_a_registered_key_in_header_or_query() {
    let (mock, client) = setup();
    let path = format!("{FLASH}:generateContent");
    let resp = client.post(&path).json(&hello()).send();
    resp.assert_status(403);
    assert_eq!(error_of(&resp).error.message, super::NO_KEY_MESSAGE);
    let resp = client.post(&path).bearer("k1").json(&hello()).send();
    resp.assert_status(403);

    let resp = post(&client, &path, "nope", &hello());
    resp.assert_status(400);
    let body = resp.json();
    assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
    assert_eq!(body["error"]["details"][0]["reason"], "API_KEY_INVALID");
    assert_eq!(
        body["error"]["details"][1]["@type"],
        "type.googleapis.com/google.rpc.LocalizedMessage"
    );

    client
        .post(&format!("{path}?key=k2"))
        .json(&hello())
        .send()
        .assert_status(200);
    let last = mock.last_request().unwrap();
    assert_eq!(last.key.as_deref(), Some("k2"));
    assert!(last.key_in_query);
    assert_eq!(last.status, Some(200));
    assert_eq!(last.model(), Some("gemini-2.5-flash"));
    assert_eq!(last.action(), Some("generateContent"));
    assert_eq!(last.json(), hello());
    assert_eq!(mock.count_for_key("k2"), 1);
}

#[test]
fn unknown_fields_are_rejected_with_snake_case_paths() {
    let (_mock, client) = setup();
    let mut body = weather_request("hi");
    body["tools"][0]["functionDeclarations"][0]["parameters"]["additionalProperties"] = json!(false);
    body["generation_config"] = json!({"max_tokens": 5});
    let resp = post(&client, &format!("{FLASH}:generateContent"), "k1", &body);
    resp.assert_status(400);
    let error = error_of(&resp).error;
    assert_eq!(
        error.message,
        "Invalid JSON payload received. Unknown name \"additionalProperties\" at \
         'tools[0].function_declarations[0].parameters': Cannot find field.\n\
         Invalid JSON payload received. Unknown name \"max_tokens\" at 'generation_config': \
         Cannot find field."
    );
    let details = serde_json::to_value(&error.details).unwrap();
    assert_eq!(
        details[0]["fieldViolations"][0]["field"],
        "tools[0].function_declarations[0].parameters"
    );
    assert_eq!(details[0]["@type"], "type.googleapis.com/google.rpc.BadRequest");

    let resp = client
        .post(&format!("{FLASH}:generateContent"))
        .header("x-goog-api-key", "k1")
        .body("{not json")
        .send();
    resp.assert_status(400);
    assert_eq!(error_of(&resp).error.status, "INVALID_ARGUMENT");
}

#[test]
fn sse_stream_is_crlf_framed_without_done() {
    let (_mock, client) = setup();
    let resp = post(
        &client,
        &format!("{FLASH}:streamGenerateContent?alt=sse"),
        "k1",
        &json!({"contents": [{"parts": [{"text": "a b c"}]}]}),
    );
    resp.assert_status(200);
    assert_eq!(resp.header("content-type"), Some("text/event-stream"));
    let text = resp.text();
    assert!(text.starts_with("data: {"));
    assert!(text.ends_with("}\r\n\r\n"));
    assert!(!text.contains("[DONE]"));
    let events = resp.sse_events();
    assert_eq!(events.len(), 4, "one chunk per word of 'echo: a b c'");
    let texts: String = events
        .iter()
        .map(|e| {
            e.json()["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(texts, "echo: a b c");
    for event in &events[..3] {
        let chunk = event.json();
        assert!(chunk["candidates"][0].get("finishReason").is_none());
        assert_eq!(
            chunk["usageMetadata"],
            json!({"promptTokenCount": 3, "totalTokenCount": 3})
        );
    }
    let last = events[3].json();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["usageMetadata"]["totalTokenCount"], 7);
    let ids: Vec<_> = events.iter().map(|e| e.json()["responseId"].clone()).collect();
    assert!(ids.iter().all(|id| *id == ids[0]));
}

#[test]
fn stream_without_alt_is_one_json_array_and_errors_are_arrays() {
    let (mock, client) = setup();
    let path = format!("{FLASH}:streamGenerateContent");
    let resp = post(&client, &path, "k1", &hello());
    resp.assert_status(200);
    let chunks = resp.json();
    assert_eq!(chunks.as_array().unwrap().len(), 3);
    assert!(resp.text().contains("\n,\r\n"));

    mock.push_script("k1", vec![Behavior::Unavailable]);
    let resp = post(&client, &path, "k1", &hello());
    resp.assert_status(503);
    assert_eq!(resp.json()[0]["error"]["status"], "UNAVAILABLE");
    mock.push_script("k1", vec![Behavior::Unavailable]);
    let resp = post(&client, &format!("{path}?alt=sse"), "k1", &hello());
    resp.assert_status(503);
    assert_eq!(resp.json()["error"]["code"], 503);
}

#[test]
fn scripts_run_before_the_persistent_behavior() {
    let (mock, client) = setup();
    let path = format!("{FLASH}:generateContent");
    mock.set_behavior("k1", Behavior::InternalError);
    mock.push_script(
        "k1",
        vec![Behavior::RateLimitPerMinute { retry_delay_secs: 7 }, Behavior::Ok],
    );
    let resp = post(&client, &path, "k1", &hello());
    resp.assert_status(429);
    let body = resp.json();
    assert_eq!(body["error"]["status"], "RESOURCE_EXHAUSTED");
    let details = body["error"]["details"].as_array().unwrap();
    assert_eq!(details[0]["@type"], "type.googleapis.com/google.rpc.QuotaFailure");
    assert_eq!(
        details[0]["violations"][0]["quotaId"],
        "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
    );
    assert_eq!(
        details[0]["violations"][0]["quotaDimensions"]["model"],
        "gemini-2.5-flash"
    );
    assert_eq!(details[1]["@type"], "type.googleapis.com/google.rpc.Help");
    assert_eq!(details[2]["@type"], "type.googleapis.com/google.rpc.RetryInfo");
    assert_eq!(details[2]["retryDelay"], "7s");

    post(&client, &path, "k1", &hello()).assert_status(200);
    post(&client, &path, "k1", &hello()).assert_status(500);
    post(&client, &path, "k2", &hello()).assert_status(200);
    assert_eq!(mock.count_for_key("k1"), 3);
    assert_eq!(mock.count_for_key("k2"), 1);

    mock.set_behavior("k2", Behavior::RateLimitPerDay);
    let resp = post(&client, &path, "k2", &hello());
    resp.assert_status(429);
    assert_eq!(
        resp.json()["error"]["details"][0]["violations"][0]["quotaId"],
        "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
    );
    mock.set_behavior("k2", Behavior::PermissionDenied);
    let resp = client.get("/v1beta/models").header("x-goog-api-key", "k2").send();
    resp.assert_status(403);
    assert_eq!(resp.json()["error"]["details"][0]["reason"], "CONSUMER_SUSPENDED");
    mock.reset_log();
    assert_eq!(mock.count_for_key("k1"), 0);
    assert!(mock.requests().is_empty());
}

#[test]
fn function_calls_and_response_count_checks() {
    let (_mock, client) = setup();
    let path = format!("{FLASH}:generateContent");
    let resp = post(&client, &path, "k1", &weather_request("call2:get_weather,get_time"));
    resp.assert_status(200);
    let parts = resp.json()["candidates"][0]["content"]["parts"].clone();
    assert_eq!(
        parts[0]["functionCall"],
        json!({"name": "get_weather", "args": {"city": "Paris"}})
    );
    assert_eq!(parts[1]["functionCall"]["name"], "get_time");
    assert!(parts[0].get("thoughtSignature").is_none(), "2.5 models sign nothing");

    let mut history = weather_request("call2:get_weather,get_time");
    let contents = history["contents"].as_array_mut().unwrap();
    contents.push(json!({"role": "model", "parts": parts}));
    contents.push(json!({"role": "user", "parts": [
        {"functionResponse": {"name": "get_weather", "response": {"temp": 20}}}
    ]}));
    let resp = post(&client, &path, "k1", &history);
    resp.assert_status(400);
    assert_eq!(error_of(&resp).error.message, super::COUNT_MISMATCH_MESSAGE);

    history["contents"][2]["parts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"function_response": {"name": "get_time", "response": {"t": "noon"}}}));
    let resp = post(&client, &path, "k1", &history);
    resp.assert_status(200);
    assert_eq!(
        resp.json()["candidates"][0]["content"]["parts"][0]["text"],
        "function results: get_weather={\"temp\":20}; get_time={\"t\":\"noon\"}"
    );
}

#[test]
fn gemini3_enforces_the_signatures_it_issues() {
    let (_mock, client) = setup();
    let path = format!("{GEMINI3}:generateContent");
    let resp = post(&client, &path, "k1", &weather_request("call:get_weather"));
    resp.assert_status(200);
    let part = resp.json()["candidates"][0]["content"]["parts"][0].clone();
    let signature = part["thoughtSignature"].as_str().unwrap().to_string();

    let history = |model_part: Value| {
        let mut body = weather_request("call:get_weather");
        let contents = body["contents"].as_array_mut().unwrap();
        contents.push(json!({"role": "model", "parts": [model_part]}));
        contents.push(json!({"role": "user", "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"temp": 20}}}
        ]}));
        body
    };
    let mut unsigned = part.clone();
    unsigned.as_object_mut().unwrap().remove("thoughtSignature");
    let resp = post(&client, &path, "k1", &history(unsigned.clone()));
    resp.assert_status(400);
    assert!(error_of(&resp)
        .error
        .message
        .starts_with("Function call is missing a thought_signature in functionCall parts."));

    let mut forged = unsigned.clone();
    forged["thoughtSignature"] = json!("Zm9yZ2Vk");
    post(&client, &path, "k1", &history(forged)).assert_status(400);

    let mut sentinel = unsigned;
    sentinel["thoughtSignature"] = json!("skip_thought_signature_validator");
    post(&client, &path, "k1", &history(sentinel)).assert_status(200);

    let resp = post(&client, &path, "k1", &history(part));
    resp.assert_status(200);
    let text_part = &resp.json()["candidates"][0]["content"]["parts"][0];
    assert!(text_part["thoughtSignature"].as_str().is_some());
    assert_ne!(text_part["thoughtSignature"].as_str(), Some(signature.as_str()));
}

#[test]
fn thoughts_json_mode_and_truncation() {
    let (_mock, client) = setup();
    let path = format!("{FLASH}:generateContent");
    let body = json!({
        "contents": [{"parts": [{"text": "hi"}]}],
        "generationConfig": {"thinkingConfig": {"includeThoughts": true, "thinkingBudget": 1024},
                             "responseMimeType": "application/json",
                             "responseSchema": {"type": "OBJECT", "properties": {"answer": {"type": "STRING"}}}}
    });
    let resp = post(&client, &path, "k1", &body);
    resp.assert_status(200);
    let json = resp.json();
    let parts = &json["candidates"][0]["content"]["parts"];
    assert_eq!(parts[0], json!({"text": "thinking...", "thought": true}));
    assert_eq!(parts[1]["text"], "{\"answer\":\"Paris\"}");
    let usage = &json["usageMetadata"];
    assert_eq!(usage["thoughtsTokenCount"], super::reply::THOUGHT_TOKENS);
    assert_eq!(
        usage["totalTokenCount"].as_u64(),
        Some(usage["promptTokenCount"].as_u64().unwrap() + usage["candidatesTokenCount"].as_u64().unwrap() + 8)
    );

    let both = json!({"contents": [{"parts": [{"text": "hi"}]}],
        "generationConfig": {"thinkingConfig": {"thinkingLevel": "LOW", "thinkingBudget": 10}}});
    post(&client, &format!("{GEMINI3}:generateContent"), "k1", &both).assert_status(400);
    let stops = json!({"contents": [{"parts": [{"text": "hi"}]}],
        "generationConfig": {"stopSequences": ["a", "b", "c", "d", "e", "f"]}});
    post(&client, &path, "k1", &stops).assert_status(400);
}

#[test]
fn mid_stream_error_and_slow_stream() {
    let (mock, client) = setup();
    let path = format!("{FLASH}:streamGenerateContent?alt=sse");
    let long = json!({"contents": [{"parts": [{"text": "one two three four five"}]}]});
    mock.push_script("k1", vec![Behavior::MidStreamError]);
    let resp = post(&client, &path, "k1", &long);
    resp.assert_status(200);
    let events = resp.sse_events();
    assert_eq!(events.len(), 3);
    assert_eq!(events[2].json()["error"]["status"], "UNAVAILABLE");
    assert!(events[1].json()["candidates"][0].get("finishReason").is_none());

    mock.push_script("k1", vec![Behavior::SlowStream { chunk_delay_ms: 150 }]);
    let mut stream = client
        .post(&path)
        .header("x-goog-api-key", "k1")
        .json(&long)
        .send_stream();
    stream.assert_status(200);
    let events = stream.events();
    assert_eq!(events.len(), 6);
    let first = events[0].at.unwrap();
    let last = events[5].at.unwrap();
    assert!(first - stream.sent_at < Duration::from_millis(500));
    assert!(last - first >= Duration::from_millis(600), "chunks were spaced out");
}

#[test]
fn special_candidates() {
    let (mock, client) = setup();
    let path = format!("{FLASH}:generateContent");
    mock.push_script(
        "k1",
        vec![
            Behavior::PromptBlocked,
            Behavior::MaxTokensNoParts,
            Behavior::SafetyNoParts,
        ],
    );
    let blocked = post(&client, &path, "k1", &hello()).json();
    assert_eq!(blocked["promptFeedback"]["blockReason"], "SAFETY");
    assert!(blocked.get("candidates").is_none());
    let max = post(&client, &path, "k1", &hello()).json();
    assert_eq!(max["candidates"][0]["content"], json!({"role": "model"}));
    assert_eq!(max["candidates"][0]["finishReason"], "MAX_TOKENS");
    let safety = post(&client, &path, "k1", &hello()).json();
    assert_eq!(safety["candidates"][0]["finishReason"], "SAFETY");
    assert!(safety["candidates"][0].get("content").is_none());
}

#[test]
fn count_tokens_and_embeddings() {
    let (_mock, client) = setup();
    let count = format!("{FLASH}:countTokens");
    let resp = post(&client, &count, "k1", &hello());
    resp.assert_status(200);
    assert_eq!(resp.json()["totalTokens"], 2);
    let resp = post(&client, &count, "k1", &json!({}));
    resp.assert_status(400);
    assert_eq!(
        error_of(&resp).error.message,
        "CountTokens requires generate_content_request or contents to be set."
    );
    let resp = post(&client, &count, "k1", &json!({"generateContentRequest": {}}));
    assert_eq!(
        error_of(&resp).error.message,
        "* CountTokensRequest.generate_content_request.contents: contents is not specified\n\
         * CountTokensRequest.generate_content_request.model: model is not specified\n"
    );
    let resp = post(
        &client,
        &count,
        "k1",
        &json!({"generateContentRequest": {"model": "models/gemini-2.5-flash",
            "contents": hello()["contents"], "systemInstruction": {"parts": [{"text": "be brief"}]}}}),
    );
    assert_eq!(resp.json()["totalTokens"], 4);

    let embed = "/v1beta/models/gemini-embedding-001";
    let resp = post(
        &client,
        &format!("{embed}:embedContent"),
        "k1",
        &json!({"content": {"parts": [{"text": "x"}]}, "outputDimensionality": 8}),
    );
    resp.assert_status(200);
    assert_eq!(resp.json()["embedding"]["values"].as_array().unwrap().len(), 8);
    let full = post(
        &client,
        &format!("{embed}:embedContent"),
        "k1",
        &json!({"content": {"parts": [{"text": "x"}]}}),
    );
    assert_eq!(full.json()["embedding"]["values"].as_array().unwrap().len(), 3072);

    let batch = |model: &str| {
        json!({"requests": [
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "a"}]}, "outputDimensionality": 4},
            {"model": model, "content": {"parts": [{"text": "b"}]}, "outputDimensionality": 4}
        ]})
    };
    let resp = post(
        &client,
        &format!("{embed}:batchEmbedContents"),
        "k1",
        &batch("models/gemini-embedding-001"),
    );
    resp.assert_status(200);
    let embeddings = resp.json()["embeddings"].clone();
    assert_eq!(embeddings.as_array().unwrap().len(), 2);
    assert_ne!(embeddings[0], embeddings[1]);
    post(
        &client,
        &format!("{embed}:batchEmbedContents"),
        "k1",
        &batch("models/other"),
    )
    .assert_status(400);
}

#[test]
fn hanging_requests_time_out_and_the_mock_still_drops() {
    let (mock, client) = setup();
    mock.set_behavior("k1", Behavior::Hang);
    let result = client
        .post(&format!("{FLASH}:generateContent"))
        .header("x-goog-api-key", "k1")
        .json(&hello())
        .timeout(Duration::from_millis(300))
        .try_send();
    assert!(result.is_err());
    assert_eq!(mock.last_request().unwrap().status, None);
    drop(mock);
}

/// Sends a raw HTTP request with a key and returns the open socket (nothing read yet).
fn raw_open(mock: &MockGemini, path: &str, key: &str, body: &Value) -> std::net::TcpStream {
    use std::io::Write;
    let body = body.to_string();
    let mut stream = std::net::TcpStream::connect(mock.addr()).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nhost: x\r\nx-goog-api-key: {key}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    stream
}

fn read_until_close(mut stream: std::net::TcpStream) -> (Vec<u8>, bool) {
    use std::io::Read;
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (out, true),
            Err(_) => return (out, false),
        }
    }
}

#[test]
fn token_quota_and_suspension_echoing_the_key() {
    let (mock, client) = setup();
    mock.push_script("k1", vec![Behavior::RateLimitTokens { retry_delay_secs: 9 }]);
    let resp = post(&client, &format!("{FLASH}:generateContent"), "k1", &hello());
    resp.assert_status(429);
    let quota_id = resp.json_at("/error/details/0/violations/0/quotaId");
    assert!(quota_id.as_str().unwrap().contains("Token"), "{quota_id}");
    assert_eq!(resp.json_at("/error/details/2/retryDelay"), "9s");

    mock.push_script("k2", vec![Behavior::SuspendedEchoKey]);
    let resp = post(&client, &format!("{FLASH}:generateContent"), "k2", &hello());
    resp.assert_status(403);
    assert_eq!(
        resp.json_at("/error/message"),
        "Permission denied: Consumer 'api_key:k2' has been suspended."
    );
    assert_eq!(resp.json_at("/error/details/0/reason"), "CONSUMER_SUSPENDED");
}

#[test]
fn reset_truncation_garbage_and_huge_bodies() {
    let (mock, client) = setup();
    let generate = format!("{FLASH}:generateContent");
    let sse = format!("{FLASH}:streamGenerateContent?alt=sse");
    let long = json!({"contents": [{"parts": [{"text": "one two three four five"}]}]});

    mock.push_script("k1", vec![Behavior::ResetBeforeHeaders]);
    let (bytes, closed) = read_until_close(raw_open(&mock, &generate, "k1", &hello()));
    assert!(closed && bytes.is_empty(), "closed without a head: {bytes:?}");

    mock.push_script("k1", vec![Behavior::TruncatedJson]);
    let (bytes, closed) = read_until_close(raw_open(&mock, &generate, "k1", &hello()));
    let text = String::from_utf8_lossy(&bytes);
    assert!(closed && text.starts_with("HTTP/1.1 200"), "{text}");
    let declared: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
    assert!(body.len() < declared && body.starts_with("{\"candidates\""), "{body}");

    mock.push_script("k1", vec![Behavior::TruncatedSse]);
    let (bytes, closed) = read_until_close(raw_open(&mock, &sse, "k1", &long));
    let text = String::from_utf8_lossy(&bytes);
    assert!(closed, "{text}");
    assert_eq!(
        text.matches("data: ").count(),
        2,
        "one whole event and a partial one: {text}"
    );
    assert!(
        !text.contains("\r\n0\r\n\r\n"),
        "the chunked body is never terminated: {text}"
    );

    mock.push_script("k1", vec![Behavior::Garbage]);
    let resp = post(&client, &generate, "k1", &hello());
    resp.assert_status(200);
    assert!(serde_json::from_slice::<Value>(&resp.body).is_err());

    mock.push_script("k1", vec![Behavior::Huge { bytes: 3_000_000 }]);
    let resp = post(&client, &generate, "k1", &hello());
    resp.assert_status(200);
    assert_eq!(resp.body.len(), 3_000_000);
    assert_eq!(resp.json()["candidates"][0]["finishReason"], "STOP");
}

#[test]
fn hangs_end_when_the_client_goes_away() {
    let (mock, _client) = setup();
    let sse = format!("{FLASH}:streamGenerateContent?alt=sse");
    mock.push_script("k1", vec![Behavior::Hang]);
    let socket = raw_open(&mock, &format!("{FLASH}:generateContent"), "k1", &hello());
    assert!(mock.wait_for_requests(1, Duration::from_secs(5)));
    assert_eq!(mock.active_requests(), 1);
    drop(socket);
    assert!(
        mock.wait_for_active_at_most(0, Duration::from_secs(5)),
        "a hang before headers ends when the client leaves"
    );

    mock.push_script("k1", vec![Behavior::HangMidStream]);
    let mut socket = raw_open(&mock, &sse, "k1", &hello());
    use std::io::Read;
    let mut first = [0u8; 4096];
    socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let n = socket.read(&mut first).unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).contains("HTTP/1.1 200"));
    assert_eq!(mock.active_requests(), 1);
    drop(socket);
    assert!(
        mock.wait_for_active_at_most(0, Duration::from_secs(5)),
        "a hang mid-stream ends when the client leaves"
    );
}

/// The requests current Gemini CLI sends (recorded by `tests/tests/agents.rs`) are what the
/// strict mock accepts: it must not be stricter than Gemini for a real client.
#[test]
fn recorded_gemini_cli_requests_pass_validation() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/agents");
    let mut fixtures: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("gemini-cli-"))
        })
        .collect();
    fixtures.sort();
    assert!(!fixtures.is_empty(), "no Gemini CLI fixtures in {}", dir.display());
    let (mock, client) = setup();
    for path in &fixtures {
        let body: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        if let Err(violations) = super::validate::normalize(&super::validate::GENERATE_CONTENT_REQUEST, &body) {
            panic!("{}: {violations:?}", path.display());
        }
        // Over HTTP too, where the whole request is checked (signatures aside: a replayed one
        // came from another mock).
        mock.set_gemini3_signatures(false);
        let resp = post(
            &client,
            &format!("{GEMINI3}:streamGenerateContent?alt=sse"),
            "k1",
            &body,
        );
        assert_eq!(resp.status, 200, "{}: {}", path.display(), resp.text());
    }
}
