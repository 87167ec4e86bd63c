use serde_json::{json, Value};

use super::*;
use crate::protocol::test_support::chunk;

fn ctx() -> RequestContext {
    crate::protocol::test_support::ctx("req9", 0)
}

/// Splits a frame into (event name, data JSON), checking the framing and that `type` matches.
fn parse(frame: &[u8]) -> (String, Value) {
    let text = std::str::from_utf8(frame).unwrap();
    let body = text.strip_suffix("\n\n").expect("frame ends with a blank line");
    let (event_line, data_line) = body.split_once('\n').expect("two lines");
    let name = event_line.strip_prefix("event: ").expect("event line").to_string();
    let data: Value = serde_json::from_str(data_line.strip_prefix("data: ").expect("data line")).unwrap();
    assert_eq!(data["type"], name.as_str(), "type matches the event name");
    (name, data)
}

/// One line per event, compact enough to compare whole streams.
fn summarize(frames: &[Vec<u8>]) -> Vec<String> {
    frames
        .iter()
        .map(|f| {
            let (name, d) = parse(f);
            match name.as_str() {
                "content_block_start" => {
                    let b = &d["content_block"];
                    match b["type"].as_str().unwrap() {
                        "tool_use" => format!(
                            "start {} tool_use {} {}",
                            d["index"],
                            b["id"].as_str().unwrap(),
                            b["name"].as_str().unwrap()
                        ),
                        t => format!("start {} {t}", d["index"]),
                    }
                }
                "content_block_delta" => {
                    let delta = &d["delta"];
                    let t = delta["type"].as_str().unwrap();
                    let v = match t {
                        "text_delta" => &delta["text"],
                        "thinking_delta" => &delta["thinking"],
                        "signature_delta" => &delta["signature"],
                        _ => &delta["partial_json"],
                    };
                    format!("delta {} {t} {}", d["index"], v.as_str().unwrap())
                }
                "content_block_stop" => format!("stop {}", d["index"]),
                "message_delta" => format!(
                    "message_delta {} out={} in={}",
                    d["delta"]["stop_reason"].as_str().unwrap(),
                    d["usage"]["output_tokens"],
                    d["usage"]["input_tokens"]
                ),
                "error" => format!(
                    "error {} {}",
                    d["error"]["type"].as_str().unwrap(),
                    d["error"]["message"].as_str().unwrap()
                ),
                other => other.to_string(),
            }
        })
        .collect()
}

fn run(chunks: &[Value]) -> Vec<String> {
    let mut t = MessagesStreamTranslator::new("claude-sonnet-4-5", &ctx());
    let mut frames = Vec::new();
    for c in chunks {
        frames.extend(t.on_chunk(&chunk(c.clone())));
    }
    frames.extend(t.finish());
    summarize(&frames)
}

#[test]
fn only_text() {
    let mut t = MessagesStreamTranslator::new("claude-sonnet-4-5", &ctx());
    let first = t.on_chunk(&chunk(json!({
        "candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}}],
        "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5}
    })));
    assert_eq!(
        String::from_utf8(first[0].clone()).unwrap(),
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_req9\",\"type\":\"message\",\
         \"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-5\",\"stop_reason\":null,\"stop_sequence\":null,\
         \"usage\":{\"input_tokens\":5,\"output_tokens\":1,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0}}}\n\n"
    );
    let mut frames = first;
    frames.extend(t.on_chunk(&chunk(json!({
        "candidates": [{"content": {"role": "model", "parts": [{"text": "lo!"}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 3, "thoughtsTokenCount": 22, "totalTokenCount": 30}
    }))));
    frames.extend(t.finish());
    assert_eq!(
        summarize(&frames),
        [
            "message_start",
            "ping",
            "start 0 text",
            "delta 0 text_delta Hel",
            "delta 0 text_delta lo!",
            "stop 0",
            "message_delta end_turn out=25 in=5",
            "message_stop",
        ]
    );
}

#[test]
fn text_then_tool_use() {
    let got = run(&[
        json!({"candidates": [{"content": {"parts": [{"text": "Checking."}]}}], "usageMetadata": {"promptTokenCount": 9}}),
        json!({"candidates": [{"content": {"parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "U0lH"},
            {"functionCall": {"name": "get_time", "args": {}}}
        ]}, "finishReason": "STOP"}], "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 20}}),
    ]);
    assert_eq!(
        got,
        [
            "message_start",
            "ping",
            "start 0 text",
            "delta 0 text_delta Checking.",
            "stop 0",
            "start 1 tool_use toolu_req9_0__ts__VTBsSA get_weather",
            r#"delta 1 input_json_delta {"city":"Paris"}"#,
            "stop 1",
            "start 2 tool_use toolu_req9_1 get_time",
            "delta 2 input_json_delta {}",
            "stop 2",
            "message_delta tool_use out=20 in=9",
            "message_stop",
        ]
    );
}

#[test]
fn thinking_then_text_with_signatures() {
    let got = run(&[
        json!({"candidates": [{"content": {"parts": [{"text": "Let me ", "thought": true}]}}]}),
        json!({"candidates": [{"content": {"parts": [{"text": "think.", "thought": true, "thoughtSignature": "VEhP"}]}}]}),
        json!({"candidates": [{"content": {"parts": [{"text": "More.", "thought": true}]}}]}),
        json!({"candidates": [{"content": {"parts": [{"text": "Answer"}]}}]}),
        json!({"candidates": [{"content": {"parts": [{"text": "", "thoughtSignature": "RU5E"}]}, "finishReason": "STOP"}],
               "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 1, "thoughtsTokenCount": 10, "cachedContentTokenCount": 3}}),
    ]);
    assert_eq!(
        got,
        [
            "message_start",
            "ping",
            "start 0 thinking",
            "delta 0 thinking_delta Let me ",
            "delta 0 thinking_delta think.",
            "delta 0 signature_delta gemini:VEhP",
            "stop 0",
            "start 1 thinking",
            "delta 1 thinking_delta More.",
            "delta 1 signature_delta gemini:",
            "stop 1",
            "start 2 text",
            "delta 2 text_delta Answer",
            "stop 2",
            "start 3 thinking",
            "delta 3 signature_delta gemini:RU5E",
            "stop 3",
            "message_delta end_turn out=11 in=1",
            "message_stop",
        ]
    );
}

#[test]
fn unsigned_thinking_before_a_signed_call_still_ends_with_a_signature_delta() {
    // Gemini 3 signs the functionCall, not the thoughts before it; Anthropic clients expect
    // every thinking block to close with a signature.
    let got = run(&[
        json!({"candidates": [{"content": {"parts": [{"text": "thinking...", "thought": true}]}}]}),
        json!({"candidates": [{"content": {"parts": [{"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "U0lH"}]}, "finishReason": "STOP"}]}),
    ]);
    assert_eq!(
        got,
        [
            "message_start",
            "ping",
            "start 0 thinking",
            "delta 0 thinking_delta thinking...",
            "delta 0 signature_delta gemini:",
            "stop 0",
            "start 1 tool_use toolu_req9_0__ts__VTBsSA f",
            "delta 1 input_json_delta {}",
            "stop 1",
            "message_delta tool_use out=0 in=0",
            "message_stop",
        ]
    );
}

#[test]
fn mid_stream_error_replaces_the_end_of_the_message() {
    let mut t = MessagesStreamTranslator::new("m", &ctx());
    let mut frames = t.on_chunk(&chunk(
        json!({"candidates": [{"content": {"parts": [{"text": "Hi"}]}}]}),
    ));
    let status = Status {
        code: 503,
        message: "The model is overloaded.".into(),
        status: "UNAVAILABLE".into(),
        details: vec![],
    };
    frames.extend(t.on_upstream_error(&status));
    // Anything after the error is ignored, and finishing adds nothing.
    frames.extend(t.on_chunk(&chunk(
        json!({"candidates": [{"content": {"parts": [{"text": "late"}]}, "finishReason": "STOP"}]}),
    )));
    frames.extend(t.finish());
    assert_eq!(
        summarize(&frames),
        [
            "message_start",
            "ping",
            "start 0 text",
            "delta 0 text_delta Hi",
            "error overloaded_error The model is overloaded."
        ]
    );

    // The same table as whole replies (`crate::error`): a mid-stream 400 is an
    // invalid_request_error too, not a generic api_error.
    for (code, status, kind) in [
        (429, "", "rate_limit_error 429"),
        (500, "INTERNAL", "api_error 500"),
        (0, "UNAVAILABLE", "overloaded_error 503"),
        (400, "INVALID_ARGUMENT", "invalid_request_error 400"),
    ] {
        let mut t = MessagesStreamTranslator::new("m", &ctx());
        let s = Status {
            code,
            status: status.into(),
            ..Default::default()
        };
        assert_eq!(
            summarize(&t.on_upstream_error(&s)),
            [{
                let (kind, code) = kind.split_once(' ').unwrap_or_default();
                format!("error {kind} upstream error {code}")
            }]
        );
    }
}

#[test]
fn stream_without_finish_reason_ends_with_an_error_not_end_turn() {
    let got = run(&[json!({"candidates": [{"content": {"parts": [{"text": "Partial"}]}}]})]);
    assert_eq!(
        got,
        [
            "message_start",
            "ping",
            "start 0 text",
            "delta 0 text_delta Partial",
            "error api_error The upstream stream ended before the response was complete (no finish reason)."
        ]
    );
    assert_eq!(
        run(&[]),
        ["error api_error The upstream stream ended before the response was complete (no finish reason)."]
    );
}

#[test]
fn empty_candidates_finish_cleanly() {
    let got = run(&[
        json!({"candidates": [{"content": {"role": "model"}, "finishReason": "MAX_TOKENS"}],
                          "usageMetadata": {"promptTokenCount": 7, "thoughtsTokenCount": 1000}}),
    ]);
    assert_eq!(
        got,
        [
            "message_start",
            "ping",
            "message_delta max_tokens out=1000 in=7",
            "message_stop"
        ]
    );

    let blocked =
        run(&[json!({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3}})]);
    assert_eq!(
        blocked,
        [
            "message_start",
            "ping",
            "message_delta refusal out=0 in=3",
            "message_stop"
        ]
    );

    // A usage-only chunk does not end the message; the finishReason chunk after it does.
    let trailing = run(&[
        json!({"candidates": [{"content": {"parts": [{"text": "x"}]}}]}),
        json!({"usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 1}}),
        json!({"candidates": [{"finishReason": "SAFETY"}]}),
    ]);
    assert_eq!(
        trailing,
        [
            "message_start",
            "ping",
            "start 0 text",
            "delta 0 text_delta x",
            "stop 0",
            "message_delta refusal out=1 in=2",
            "message_stop"
        ]
    );
}
