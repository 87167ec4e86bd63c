use super::*;
use crate::protocol::openai::tool_call_id;
use crate::protocol::responses::response_json;
use crate::protocol::sse::SseReader;
use crate::protocol::test_support::chunk;

fn ctx() -> RequestContext {
    crate::protocol::test_support::ctx("s1", 1_760_000_001)
}

/// Decodes `event: <type>\ndata: <json>\n\n` frames (one event each, except the
/// concatenated frames of `on_upstream_error`); checks each event line matches the JSON `type`,
/// the data is one line, and sequence numbers count from 0.
fn decode(frames: &[Vec<u8>]) -> Vec<Value> {
    let mut reader = SseReader::new();
    let mut events = Vec::new();
    for frame in frames {
        let text = std::str::from_utf8(frame).unwrap();
        assert!(text.starts_with("event: ") && text.ends_with("\n\n"), "{text}");
        assert_eq!(
            text.matches("data: ").count(),
            text.matches("event: ").count(),
            "{text}"
        );
        let parsed = reader.push(frame);
        assert!(!parsed.is_empty(), "{text}");
        for event in parsed {
            let value: Value = serde_json::from_str(&event.data).unwrap();
            assert_eq!(event.event.as_deref(), value["type"].as_str(), "{text}");
            assert_eq!(value["sequence_number"], events.len() as u64, "{text}");
            events.push(value);
        }
    }
    events
}

fn run(chunks: &[Value]) -> Vec<Value> {
    let mut t = ResponsesStreamTranslator::new("gpt-5", ctx());
    let mut frames = Vec::new();
    for c in chunks {
        frames.extend(t.on_chunk(&chunk(c.clone())));
    }
    frames.extend(t.finish());
    decode(&frames)
}

/// `(type, the fields that matter)` for each event; `response` events are checked by status.
fn summary(events: &[Value]) -> Vec<(String, Value)> {
    events
        .iter()
        .map(|e| {
            let kind = e["type"].as_str().unwrap().to_string();
            let mut rest = e.clone();
            let object = rest.as_object_mut().unwrap();
            object.remove("type");
            object.remove("sequence_number");
            if let Some(response) = object.remove("response") {
                object.insert("status".into(), response["status"].clone());
            }
            (kind, rest)
        })
        .collect()
}

fn text_chunk(text: &str) -> Value {
    json!({"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}],
           "usageMetadata": {"promptTokenCount": 4, "totalTokenCount": 4}})
}

fn final_chunk(parts: Value, reason: &str) -> Value {
    json!({"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": reason, "index": 0}],
           "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 3, "thoughtsTokenCount": 2, "totalTokenCount": 9}})
}

fn e(kind: &str, fields: Value) -> (String, Value) {
    (kind.to_string(), fields)
}

fn message(status: &str, content: Value) -> Value {
    json!({"id": "msg_s1_1", "type": "message", "role": "assistant", "status": status, "content": content})
}

fn text_part(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

#[test]
fn text_with_reasoning_event_by_event() {
    let events = run(&[
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "hmm", "thought": true}]}}]}),
        text_chunk("Hel"),
        final_chunk(
            json!([{"text": "lo"}, {"text": "", "thoughtSignature": "c2ln"}]),
            "STOP",
        ),
    ]);
    let rs = json!({"id": "rs_s1_0", "type": "reasoning", "summary": []});
    let rs_done = json!({"id": "rs_s1_0", "type": "reasoning", "summary": [{"type": "summary_text", "text": "hmm"}]});
    let expected = vec![
        e("response.created", json!({"status": "in_progress"})),
        e("response.in_progress", json!({"status": "in_progress"})),
        e("response.output_item.added", json!({"output_index": 0, "item": rs})),
        e(
            "response.reasoning_summary_part.added",
            json!({"item_id": "rs_s1_0", "output_index": 0, "summary_index": 0, "part": {"type": "summary_text", "text": ""}}),
        ),
        e(
            "response.reasoning_summary_text.delta",
            json!({"item_id": "rs_s1_0", "output_index": 0, "summary_index": 0, "delta": "hmm"}),
        ),
        e(
            "response.reasoning_summary_text.done",
            json!({"item_id": "rs_s1_0", "output_index": 0, "summary_index": 0, "text": "hmm"}),
        ),
        e(
            "response.reasoning_summary_part.done",
            json!({"item_id": "rs_s1_0", "output_index": 0, "summary_index": 0, "part": {"type": "summary_text", "text": "hmm"}}),
        ),
        e("response.output_item.done", json!({"output_index": 0, "item": rs_done})),
        e(
            "response.output_item.added",
            json!({"output_index": 1, "item": message("in_progress", json!([]))}),
        ),
        e(
            "response.content_part.added",
            json!({"item_id": "msg_s1_1", "output_index": 1, "content_index": 0, "part": text_part("")}),
        ),
        e(
            "response.output_text.delta",
            json!({"item_id": "msg_s1_1", "output_index": 1, "content_index": 0, "delta": "Hel", "logprobs": []}),
        ),
        e(
            "response.output_text.delta",
            json!({"item_id": "msg_s1_1", "output_index": 1, "content_index": 0, "delta": "lo", "logprobs": []}),
        ),
        e(
            "response.output_text.done",
            json!({"item_id": "msg_s1_1", "output_index": 1, "content_index": 0, "text": "Hello", "logprobs": []}),
        ),
        e(
            "response.content_part.done",
            json!({"item_id": "msg_s1_1", "output_index": 1, "content_index": 0, "part": text_part("Hello")}),
        ),
        e(
            "response.output_item.done",
            json!({"output_index": 1, "item": message("completed", json!([text_part("Hello")]))}),
        ),
        e("response.completed", json!({"status": "completed"})),
    ];
    assert_eq!(summary(&events), expected);
    // The lifecycle events carry the whole response; the last one its output and usage.
    assert_eq!(events[0]["response"]["id"], "resp_s1");
    assert_eq!(events[0]["response"]["output"], json!([]));
    assert_eq!(events[0]["response"]["usage"], Value::Null);
    assert_eq!(events[0]["response"]["model"], "gpt-5");
    let done = &events.last().unwrap()["response"];
    assert_eq!(
        done["output"],
        json!([rs_done, message("completed", json!([text_part("Hello")]))])
    );
    assert_eq!(
        done["usage"],
        json!({"input_tokens": 4, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
               "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 2}, "total_tokens": 9})
    );
}

#[test]
fn parallel_function_calls_event_by_event() {
    let events = run(&[
        json!({"candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2ln"}]}}]}),
        final_chunk(json!([{"functionCall": {"name": "get_time", "args": {}}}]), "STOP"),
    ]);
    let id0 = tool_call_id(&ctx(), 0, 0, Some("c2ln"));
    let id1 = tool_call_id(&ctx(), 0, 1, None);
    let item = |index: usize, call_id: &str, name: &str, arguments: &str, status: &str| {
        json!({"id": format!("fc_s1_{index}"), "type": "function_call", "status": status, "arguments": arguments,
               "call_id": call_id, "name": name})
    };
    let mut expected = vec![
        e("response.created", json!({"status": "in_progress"})),
        e("response.in_progress", json!({"status": "in_progress"})),
    ];
    for (index, call_id, name, arguments) in [
        (0, &id0, "get_weather", "{\"city\":\"Paris\"}"),
        (1, &id1, "get_time", "{}"),
    ] {
        let item_id = format!("fc_s1_{index}");
        expected.extend([
            e(
                "response.output_item.added",
                json!({"output_index": index, "item": item(index, call_id, name, "", "in_progress")}),
            ),
            e(
                "response.function_call_arguments.delta",
                json!({"item_id": item_id, "output_index": index, "delta": arguments}),
            ),
            e(
                "response.function_call_arguments.done",
                json!({"item_id": item_id, "output_index": index, "arguments": arguments, "name": name}),
            ),
            e(
                "response.output_item.done",
                json!({"output_index": index, "item": item(index, call_id, name, arguments, "completed")}),
            ),
        ]);
    }
    expected.push(e("response.completed", json!({"status": "completed"})));
    assert_eq!(summary(&events), expected);
}

#[test]
fn max_tokens_ends_incomplete() {
    let events = run(&[text_chunk("one "), final_chunk(json!([{"text": "two"}]), "MAX_TOKENS")]);
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.incomplete",
        ]
    );
    assert_eq!(events[8]["item"]["status"], "incomplete");
    let response = &events[9]["response"];
    assert_eq!(response["status"], "incomplete");
    assert_eq!(response["incomplete_details"], json!({"reason": "max_output_tokens"}));
    assert_eq!(response["output"][0]["content"][0]["text"], "one two");
}

#[test]
fn upstream_error_mid_stream_fails_without_completion() {
    let mut t = ResponsesStreamTranslator::new("gpt-5", ctx());
    let mut frames = t.on_chunk(&chunk(text_chunk("partial")));
    frames.push(t.on_upstream_error(&Status {
        code: 503,
        message: "The model is overloaded.".into(),
        status: "UNAVAILABLE".into(),
        details: vec![],
    }));
    frames.extend(t.on_chunk(&chunk(final_chunk(json!([{"text": "late"}]), "STOP"))));
    frames.extend(t.finish());
    let events = decode(&frames);
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.failed",
        ]
    );
    let response = &events[5]["response"];
    assert_eq!(response["status"], "failed");
    assert_eq!(
        response["error"],
        json!({"code": "server_error", "message": "The model is overloaded."})
    );
    assert_eq!(response["usage"], Value::Null);
}

#[test]
fn failures_before_anything_and_truncated_streams() {
    // An error before any chunk still opens the response first (SDKs expect response.created).
    let mut t = ResponsesStreamTranslator::new("gpt-5", ctx());
    let frames = vec![t.on_upstream_error(&Status {
        code: 429,
        message: "quota".into(),
        ..Default::default()
    })];
    let events = decode(&frames);
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["response.created", "response.in_progress", "response.failed"]);
    assert_eq!(events[2]["response"]["error"]["code"], "rate_limit_exceeded");
    assert!(t.finish().is_empty());

    // No finish reason: failed, not completed.
    let events = run(&[text_chunk("cut off")]);
    let last = events.last().unwrap();
    assert_eq!(last["type"], "response.failed");
    assert_eq!(last["response"]["error"]["code"], "server_error");
    assert!(events.iter().all(|e| e["type"] != "response.completed"));

    // Nothing at all.
    let events = run(&[]);
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["response.created", "response.in_progress", "response.failed"]);
}

#[test]
fn blocked_prompt_is_incomplete_content_filter() {
    let events = run(&[json!({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3}})]);
    let last = events.last().unwrap();
    assert_eq!(last["type"], "response.incomplete");
    assert_eq!(
        last["response"]["incomplete_details"],
        json!({"reason": "content_filter"})
    );
    assert_eq!(last["response"]["output"], json!([]));
}

/// The stream's final response equals the whole response for the same content.
#[test]
fn stream_and_whole_agree() {
    let chunks = [
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "hmm", "thought": true}]}}]}),
        text_chunk("Sure. "),
        final_chunk(
            json!([{"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": "c2ln"}]),
            "STOP",
        ),
    ];
    let events = run(&chunks);
    let streamed = &events.last().unwrap()["response"];
    let whole = gemini(json!({
        "candidates": [{"content": {"role": "model", "parts": [
            {"text": "hmm", "thought": true}, {"text": "Sure. "},
            {"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": "c2ln"}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 3, "thoughtsTokenCount": 2, "totalTokenCount": 9}
    }));
    let whole = response_json(&whole, &ResponseEcho::for_model("gpt-5"), &ctx());
    assert_eq!(streamed, &whole);
}

fn gemini(body: Value) -> GenerateContentResponse {
    serde_json::from_value(body).unwrap()
}

fn codex_echo() -> ResponseEcho {
    let req: crate::protocol::responses::OpenAiResponsesRequest = serde_json::from_value(json!({
        "model": "gpt-5-codex", "input": "x", "include": ["reasoning.encrypted_content"],
        "tools": [{"type": "custom", "name": "apply_patch", "format": {"type": "grammar", "syntax": "lark", "definition": "start: x"}},
                  {"type": "local_shell"}],
    }))
    .unwrap();
    ResponseEcho::new(&req)
}

fn run_with(echo: ResponseEcho, chunks: &[Value]) -> Vec<Value> {
    let mut t = ResponsesStreamTranslator::new("gpt-5-codex", ctx()).with_echo(echo);
    let mut frames = Vec::new();
    for c in chunks {
        frames.extend(t.on_chunk(&chunk(c.clone())));
    }
    frames.extend(t.finish());
    decode(&frames)
}

/// Codex's `apply_patch` (a custom tool) and `local_shell`, with the turn's signatures handed
/// out in a trailing reasoning item.
#[test]
fn custom_and_shell_calls_event_by_event() {
    let patch = "*** Begin Patch\n*** End Patch\n";
    let events = run_with(
        codex_echo(),
        &[
            json!({"candidates": [{"content": {"role": "model", "parts": [
                {"functionCall": {"name": "apply_patch", "args": {"input": patch}}, "thoughtSignature": "c2ln"}]}}]}),
            final_chunk(
                json!([{"functionCall": {"name": "local_shell", "args": {"command": ["ls"]}}}]),
                "STOP",
            ),
        ],
    );
    let call_id0 = tool_call_id(&ctx(), 0, 0, Some("c2ln"));
    let call_id1 = tool_call_id(&ctx(), 0, 1, None);
    let ctc = |input: &str, status: &str| {
        json!({"id": "ctc_s1_0", "type": "custom_tool_call", "status": status, "call_id": call_id0,
               "name": "apply_patch", "input": input})
    };
    let lsh = |status: &str| {
        json!({"id": "lsh_s1_1", "type": "local_shell_call", "status": status, "call_id": call_id1,
               "action": {"type": "exec", "command": ["ls"], "env": {}}})
    };
    let signatures = crate::protocol::responses::TurnSignatures {
        text: None,
        calls: vec![(0, "c2ln".into())],
    };
    let rs = json!({"id": "rs_s1_2", "type": "reasoning", "summary": [], "encrypted_content": signatures.encode()});
    let expected = vec![
        e("response.created", json!({"status": "in_progress"})),
        e("response.in_progress", json!({"status": "in_progress"})),
        e(
            "response.output_item.added",
            json!({"output_index": 0, "item": ctc("", "in_progress")}),
        ),
        e(
            "response.custom_tool_call_input.delta",
            json!({"item_id": "ctc_s1_0", "output_index": 0, "delta": patch}),
        ),
        e(
            "response.custom_tool_call_input.done",
            json!({"item_id": "ctc_s1_0", "output_index": 0, "input": patch}),
        ),
        e(
            "response.output_item.done",
            json!({"output_index": 0, "item": ctc(patch, "completed")}),
        ),
        e(
            "response.output_item.added",
            json!({"output_index": 1, "item": lsh("in_progress")}),
        ),
        e(
            "response.output_item.done",
            json!({"output_index": 1, "item": lsh("completed")}),
        ),
        e("response.output_item.added", json!({"output_index": 2, "item": rs})),
        e("response.output_item.done", json!({"output_index": 2, "item": rs})),
        e("response.completed", json!({"status": "completed"})),
    ];
    assert_eq!(summary(&events), expected);
    assert_eq!(
        events.last().unwrap()["response"]["output"],
        json!([ctc(patch, "completed"), lsh("completed"), rs])
    );
}

/// A streamed text answer's signature (on a trailing empty part) ends up in the reasoning item
/// after the message; nothing is added when `include` does not ask for it or nothing was signed.
#[test]
fn text_signature_goes_into_trailing_reasoning_item() {
    let chunks = [
        text_chunk("Hi"),
        final_chunk(json!([{"text": "", "thoughtSignature": "c2ln"}]), "STOP"),
    ];
    let events = run_with(codex_echo(), &chunks);
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds[kinds.len() - 3..],
        [
            "response.output_item.added",
            "response.output_item.done",
            "response.completed"
        ]
    );
    let item = &events[events.len() - 2]["item"];
    assert_eq!(item["type"], "reasoning");
    assert_eq!(item["id"], "rs_s1_1");
    let encrypted = item["encrypted_content"].as_str().unwrap();
    assert_eq!(
        crate::protocol::responses::TurnSignatures::decode(encrypted)
            .unwrap()
            .text
            .as_deref(),
        Some("c2ln")
    );
    let plain = run(&chunks);
    assert!(plain.iter().all(|e| e["item"]["type"] != "reasoning"));
    let unsigned = run_with(codex_echo(), &[final_chunk(json!([{"text": "Hi"}]), "STOP")]);
    assert!(unsigned.iter().all(|e| e["item"]["type"] != "reasoning"));
}

/// With Codex's tools and `include`, the stream's final response still equals the whole one.
#[test]
fn stream_and_whole_agree_for_codex_tools() {
    let chunks = [
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "hmm", "thought": true}]}}]}),
        text_chunk("Patching. "),
        final_chunk(
            json!([{"functionCall": {"name": "apply_patch", "args": {"input": "x"}}, "thoughtSignature": "c2ln"},
                   {"functionCall": {"name": "local_shell", "args": {"command": "make test"}}}]),
            "STOP",
        ),
    ];
    let events = run_with(codex_echo(), &chunks);
    let streamed = &events.last().unwrap()["response"];
    let whole = gemini(json!({
        "candidates": [{"content": {"role": "model", "parts": [
            {"text": "hmm", "thought": true}, {"text": "Patching. "},
            {"functionCall": {"name": "apply_patch", "args": {"input": "x"}}, "thoughtSignature": "c2ln"},
            {"functionCall": {"name": "local_shell", "args": {"command": "make test"}}}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 3, "thoughtsTokenCount": 2, "totalTokenCount": 9}
    }));
    let whole = response_json(&whole, &codex_echo(), &ctx());
    assert_eq!(streamed, &whole);
    let kinds: Vec<&str> = whole["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "reasoning",
            "message",
            "custom_tool_call",
            "local_shell_call",
            "reasoning"
        ]
    );
    assert_eq!(whole["model"], "gpt-5-codex");
}
