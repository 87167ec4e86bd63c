use super::*;
use crate::protocol::openai::{gemini_to_chat_response, tool_call_id};
use crate::protocol::test_support::chunk;
use crate::stream::Transducer;
use serde_json::{json, Value};

fn ctx() -> RequestContext {
    crate::protocol::test_support::ctx("s1", 1_760_000_001)
}

/// Decodes frames: `data: <json>\n\n` → the JSON, `data: [DONE]\n\n` → the string "[DONE]".
fn decode(frames: &[Vec<u8>]) -> Vec<Value> {
    frames
        .iter()
        .map(|f| {
            let text = std::str::from_utf8(f).unwrap();
            let data = text
                .strip_prefix("data: ")
                .and_then(|t| t.strip_suffix("\n\n"))
                .expect(text);
            assert!(!data.contains('\n'), "one line per frame: {text}");
            if data == "[DONE]" {
                Value::String(data.into())
            } else {
                serde_json::from_str(data).unwrap()
            }
        })
        .collect()
}

/// Runs `chunks` the way production does: as Gemini SSE through the stream [`Transducer`],
/// and returns every frame, decoded.
fn run(include_usage: bool, chunks: &[Value]) -> Vec<Value> {
    decode_stream(&transduce(include_usage, &[&sse(chunks)]))
}

/// `chunks` as the upstream's SSE bytes.
fn sse(chunks: &[Value]) -> Vec<u8> {
    chunks
        .iter()
        .flat_map(|c| format!("data: {c}\r\n\r\n").into_bytes())
        .collect()
}

/// Feeds upstream bytes, piece by piece, to the transducer production uses for chat
/// completions; returns what the client receives.
fn transduce(include_usage: bool, pieces: &[&[u8]]) -> Vec<u8> {
    let mut t = Transducer::openai_chat(ChatStreamTranslator::new("gemini-2.5-flash", ctx(), include_usage));
    let mut out = Vec::new();
    for piece in pieces {
        out.extend(t.push(piece));
    }
    out.extend(t.finish());
    out
}

/// Splits the client's bytes into frames and decodes them.
fn decode_stream(bytes: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(bytes).unwrap();
    let frames: Vec<Vec<u8>> = text.split_inclusive("\n\n").map(|f| f.as_bytes().to_vec()).collect();
    decode(&frames)
}

/// A chunk as OpenAI would send it: one choice with `delta` and `finish_reason`.
fn expected(delta: Value, finish: Value, usage: Option<Value>) -> Value {
    let mut c = json!({
        "id": "chatcmpl-s1", "object": "chat.completion.chunk", "created": 1_760_000_001_u64,
        "model": "gemini-2.5-flash", "system_fingerprint": null,
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
    });
    if let Some(u) = usage {
        c["usage"] = u;
    }
    c
}

fn text_stream() -> Vec<Value> {
    vec![
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Thinking", "thought": true}]}}],
            "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5}}),
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}}],
            "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5}}),
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "lo!"}, {"text": "", "thoughtSignature": "c2ln"}]},
            "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 3, "thoughtsTokenCount": 22, "totalTokenCount": 30}}),
    ]
}

#[test]
fn text_stream_follows_openai_grammar_event_by_event() {
    let null = Some(Value::Null);
    assert_eq!(
        run(true, &text_stream()),
        vec![
            expected(json!({"role": "assistant", "content": ""}), Value::Null, null.clone()),
            expected(json!({"reasoning_content": "Thinking"}), Value::Null, null.clone()),
            expected(json!({"content": "Hel"}), Value::Null, null.clone()),
            expected(json!({"content": "lo!"}), Value::Null, null.clone()),
            expected(json!({}), json!("stop"), null),
            json!({
                "id": "chatcmpl-s1", "object": "chat.completion.chunk", "created": 1_760_000_001_u64,
                "model": "gemini-2.5-flash", "system_fingerprint": null, "choices": [],
                "usage": {"prompt_tokens": 5, "completion_tokens": 25, "total_tokens": 30,
                    "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 22}},
            }),
            json!("[DONE]"),
        ]
    );
}

#[test]
fn without_include_usage_chunks_have_no_usage_and_no_usage_chunk() {
    let events = run(false, &text_stream());
    assert_eq!(events.len(), 6);
    for e in &events[..5] {
        assert!(e.get("usage").is_none(), "{e}");
        assert_eq!(e["choices"].as_array().unwrap().len(), 1);
    }
    assert_eq!(events[4]["choices"][0]["finish_reason"], "stop");
    assert_eq!(events[5], json!("[DONE]"));
}

#[test]
fn finish_reason_appears_only_on_the_last_choice_chunk() {
    // Gemini may put the finish reason on a chunk that still carries text.
    let events = run(
        false,
        &[json!({"candidates": [{"content": {"parts": [{"text": "all at once"}]}, "finishReason": "MAX_TOKENS"}]})],
    );
    let finishes: Vec<&Value> = events[..events.len() - 1]
        .iter()
        .map(|e| &e["choices"][0]["finish_reason"])
        .collect();
    assert_eq!(finishes, vec![&Value::Null, &Value::Null, &json!("length")]);
    assert_eq!(events[2]["choices"][0]["delta"], json!({}));
}

#[test]
fn tool_calls_stream_whole_with_index_id_type_name_and_arguments() {
    let events = run(
        false,
        &[
            json!({"candidates": [{"content": {"parts": [{"text": "Let me check."}]}}]}),
            json!({"candidates": [{"content": {"parts": [
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "U0lH"},
                {"functionCall": {"name": "get_time", "args": {}}}]}}]}),
            json!({"candidates": [{"content": {"parts": [{"text": ""}]}, "finishReason": "STOP"}]}),
        ],
    );
    let deltas: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| e["choices"][0]["delta"].clone())
        .collect();
    assert_eq!(
        deltas,
        vec![
            json!({"role": "assistant", "content": ""}),
            json!({"content": "Let me check."}),
            json!({"tool_calls": [{"index": 0, "id": tool_call_id(&ctx(), 0, 0, Some("U0lH")), "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
                "extra_content": {"google": {"thought_signature": "U0lH"}}}]}),
            json!({"tool_calls": [{"index": 1, "id": "call_s1_0_1", "type": "function",
                "function": {"name": "get_time", "arguments": "{}"}}]}),
            json!({}),
        ]
    );
    assert_eq!(events[4]["choices"][0]["finish_reason"], "tool_calls");
}

#[test]
fn tool_call_ids_match_between_stream_and_whole_response() {
    let parts = json!([
        {"functionCall": {"name": "a", "args": {"x": 1}}, "thoughtSignature": "QQ=="},
        {"functionCall": {"name": "b", "args": {}}}]);
    let whole = gemini_to_chat_response(
        &chunk(json!({"candidates": [{"content": {"parts": parts}, "finishReason": "STOP"}]})),
        "m",
        &ctx(),
    );
    let whole_ids: Vec<String> = whole.choices[0]
        .message
        .tool_calls
        .iter()
        .map(|c| c.id.clone())
        .collect();
    // Streamed: the same calls split over two chunks.
    let events = run(
        false,
        &[
            json!({"candidates": [{"content": {"parts": [parts[0].clone()]}}]}),
            json!({"candidates": [{"content": {"parts": [parts[1].clone()]}, "finishReason": "STOP"}]}),
        ],
    );
    let stream_ids: Vec<String> = events
        .iter()
        .filter_map(|e| {
            e["choices"]
                .get(0)?
                .get("delta")?
                .get("tool_calls")?
                .get(0)?
                .get("id")?
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(stream_ids, whole_ids);
}

#[test]
fn every_chunk_shares_id_and_created() {
    let events = run(true, &text_stream());
    for e in events.iter().filter(|e| e.is_object()) {
        assert_eq!(e["id"], "chatcmpl-s1");
        assert_eq!(e["created"], 1_760_000_001_u64);
        assert_eq!(e["object"], "chat.completion.chunk");
    }
}

#[test]
fn truncated_stream_ends_with_an_error_not_a_fake_stop() {
    let events = run(true, &text_stream()[..2]);
    let last = events.last().unwrap();
    assert_eq!(last["error"]["code"], "upstream_stream_truncated");
    assert_eq!(last["error"]["type"], "server_error");
    assert!(!events.contains(&json!("[DONE]")));
    assert!(events.iter().all(|e| e["choices"][0]["finish_reason"].is_null()));
}

#[test]
fn empty_upstream_stream_is_an_error() {
    let events = run(false, &[]);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["error"]["code"], "upstream_stream_truncated");
}

#[test]
fn mid_stream_upstream_error_becomes_an_openai_error_frame_and_ends_the_stream() {
    let mut upstream = sse(&text_stream()[..1]);
    upstream.extend(b"data: {\"error\": {\"code\": 503, \"message\": \"The model is overloaded.\", \"status\": \"UNAVAILABLE\"}}\r\n\r\n");
    upstream.extend(sse(&text_stream()[2..]));
    let events = decode_stream(&transduce(true, &[&upstream]));
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(
        events[2],
        json!({"error": {"message": "The model is overloaded.", "type": "server_error", "param": null, "code": "overloaded"}})
    );
}

#[test]
fn on_upstream_error_returns_one_frame() {
    let mut t = ChatStreamTranslator::new("m", ctx(), false);
    let status = Status {
        code: 429,
        message: "quota".into(),
        status: "RESOURCE_EXHAUSTED".into(),
        details: vec![],
    };
    let frame = t.on_upstream_error(&status);
    assert_eq!(decode(&[frame])[0]["error"]["type"], "rate_limit_error");
    assert!(t.finish().is_empty());
}

#[test]
fn an_unreadable_chunk_ends_the_stream_with_an_error() {
    // Not JSON, or not a chunk: the answer cannot be trusted to be complete, so the client gets
    // an error frame (no `[DONE]`), and nothing after it.
    for bad in ["not json", "[1, 2", r#"{"candidates": "no"}"#] {
        let mut upstream = sse(&text_stream()[..1]);
        upstream.extend(format!("data: {bad}\r\n\r\n").into_bytes());
        upstream.extend(sse(&text_stream()[1..]));
        let events = decode_stream(&transduce(false, &[&upstream]));
        assert_eq!(events.len(), 3, "{bad}: {events:?}");
        let error = &events[2]["error"];
        assert_eq!(error["type"], "server_error", "{bad}: {error}");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .starts_with("unreadable upstream chunk"),
            "{bad}: {error}"
        );
    }
}

#[test]
fn blocked_prompt_streams_a_content_filter_finish() {
    let events = run(
        false,
        &[json!({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}})],
    );
    assert_eq!(events.len(), 3);
    assert_eq!(
        events[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    assert_eq!(events[1]["choices"][0]["finish_reason"], "content_filter");
    assert_eq!(events[2], json!("[DONE]"));
}

#[test]
fn trailing_finish_only_chunk_closes_the_choice() {
    let events = run(
        false,
        &[
            json!({"candidates": [{"content": {"parts": [{"text": "x"}]}}]}),
            json!({"candidates": [{"finishReason": "MALFORMED_FUNCTION_CALL"}]}),
        ],
    );
    assert_eq!(events[2]["choices"][0]["finish_reason"], "stop");
    assert_eq!(events[3], json!("[DONE]"));
}

#[test]
fn several_candidates_each_get_role_and_finish() {
    let events = run(
        false,
        &[json!({"candidates": [
            {"content": {"parts": [{"text": "a"}]}, "finishReason": "STOP"},
            {"content": {"parts": [{"text": "b"}]}, "finishReason": "MAX_TOKENS", "index": 1}]})],
    );
    let summary: Vec<(u64, Value, Value)> = events[..events.len() - 1]
        .iter()
        .map(|e| {
            let c = &e["choices"][0];
            (
                c["index"].as_u64().unwrap(),
                c["delta"].clone(),
                c["finish_reason"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (0, json!({"role": "assistant", "content": ""}), Value::Null),
            (0, json!({"content": "a"}), Value::Null),
            (1, json!({"role": "assistant", "content": ""}), Value::Null),
            (1, json!({"content": "b"}), Value::Null),
            (0, json!({}), json!("stop")),
            (1, json!({}), json!("length")),
        ]
    );
}

#[test]
fn gemini_sse_bytes_split_anywhere_translate_identically() {
    let upstream = sse(&text_stream());
    let whole = run(true, &text_stream());
    for split in (0..upstream.len()).step_by(7) {
        let frames = transduce(true, &[&upstream[..split], &upstream[split..]]);
        assert_eq!(decode_stream(&frames), whole, "split at {split}");
    }
}
