use super::*;
use crate::protocol::gemini::GenerateContentResponse;
use serde_json::json;

fn ctx() -> RequestContext {
    crate::protocol::test_support::ctx("r42", 1_760_000_000)
}

fn gemini(body: Value) -> GenerateContentResponse {
    serde_json::from_value(body).unwrap()
}

fn render(body: Value) -> Value {
    serde_json::to_value(gemini_to_chat_response(&gemini(body), "gemini-2.5-flash", &ctx())).unwrap()
}

#[test]
fn text_response_has_openai_shape() {
    let out = render(json!({
        "candidates": [{"content": {"role": "model", "parts": [
            {"text": "Let me think", "thought": true}, {"text": " more", "thought": true},
            {"text": "Hello"}, {"text": ", world"}, {"text": "", "thoughtSignature": "c2ln"}
        ]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 42, "candidatesTokenCount": 17, "thoughtsTokenCount": 120,
            "totalTokenCount": 179, "cachedContentTokenCount": 8},
        "modelVersion": "gemini-2.5-flash", "responseId": "x"
    }));
    assert_eq!(
        out,
        json!({
            "id": "chatcmpl-r42", "object": "chat.completion", "created": 1_760_000_000_u64, "model": "gemini-2.5-flash",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello, world", "refusal": null,
                "reasoning_content": "Let me think more"}, "logprobs": null, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 42, "completion_tokens": 137, "total_tokens": 179,
                "prompt_tokens_details": {"cached_tokens": 8}, "completion_tokens_details": {"reasoning_tokens": 120}},
            "system_fingerprint": null
        })
    );
}

#[test]
fn function_calls_become_tool_calls_with_content_null() {
    let out = render(json!({"candidates": [{"content": {"role": "model", "parts": [
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "U0lH"},
        {"functionCall": {"name": "ping"}}
    ]}, "finishReason": "STOP"}]}));
    let choice = &out["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], Value::Null);
    assert_eq!(
        choice["message"]["tool_calls"],
        json!([
            {"id": tool_call_id(&ctx(), 0, 0, Some("U0lH")), "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
             "extra_content": {"google": {"thought_signature": "U0lH"}}},
            {"id": "call_r42_0_1", "type": "function", "function": {"name": "ping", "arguments": "{}"}},
        ])
    );
}

#[test]
fn text_beside_tool_calls_is_kept() {
    let out = render(json!({"candidates": [{"content": {"parts": [
        {"text": "Checking."}, {"functionCall": {"name": "f", "args": {}}}]}, "finishReason": "STOP"}]}));
    assert_eq!(out["choices"][0]["message"]["content"], "Checking.");
    assert_eq!(out["choices"][0]["finish_reason"], "tool_calls");
}

#[test]
fn finish_reasons_map_per_table() {
    let cases = [
        (Some("STOP"), false, "stop"),
        (None, false, "stop"),
        (Some("STOP"), true, "tool_calls"),
        (None, true, "tool_calls"),
        (Some("MAX_TOKENS"), false, "length"),
        (Some("MAX_TOKENS"), true, "length"),
        (Some("SAFETY"), false, "content_filter"),
        (Some("RECITATION"), false, "content_filter"),
        (Some("BLOCKLIST"), false, "content_filter"),
        (Some("PROHIBITED_CONTENT"), false, "content_filter"),
        (Some("SPII"), false, "content_filter"),
        (Some("IMAGE_SAFETY"), false, "content_filter"),
        (Some("IMAGE_PROHIBITED_CONTENT"), false, "content_filter"),
        (Some("IMAGE_RECITATION"), false, "content_filter"),
        (Some("LANGUAGE"), false, "stop"),
        (Some("OTHER"), false, "stop"),
        (Some("MALFORMED_FUNCTION_CALL"), false, "stop"),
        (Some("UNEXPECTED_TOOL_CALL"), false, "stop"),
        (Some("TOO_MANY_TOOL_CALLS"), false, "stop"),
        (Some("FINISH_REASON_UNSPECIFIED"), false, "stop"),
        (Some("SOMETHING_NEW"), true, "tool_calls"),
    ];
    for (reason, tools, expected) in cases {
        let reason = reason.map(crate::protocol::gemini::FinishReason::from);
        assert_eq!(
            finish_reason_from_gemini(reason.as_ref(), tools),
            expected,
            "{reason:?} {tools}"
        );
    }
}

#[test]
fn empty_candidates_give_empty_content_with_their_finish_reason() {
    for (candidate, finish) in [
        (
            json!({"content": {"role": "model"}, "finishReason": "MAX_TOKENS"}),
            "length",
        ),
        (json!({"finishReason": "SAFETY"}), "content_filter"),
        (json!({"content": {"parts": []}, "finishReason": "STOP"}), "stop"),
    ] {
        let out = render(json!({"candidates": [candidate.clone()]}));
        assert_eq!(out["choices"][0]["message"]["content"], "", "{candidate}");
        assert_eq!(out["choices"][0]["finish_reason"], finish, "{candidate}");
    }
}

#[test]
fn blocked_prompt_is_one_content_filter_choice_with_null_content() {
    let out = render(
        json!({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7}}),
    );
    assert_eq!(
        out["choices"],
        json!([{"index": 0, "message": {"role": "assistant", "content": null, "refusal": null},
            "logprobs": null, "finish_reason": "content_filter"}])
    );
    assert_eq!(out["usage"]["prompt_tokens"], 7);
}

#[test]
fn several_candidates_are_several_choices_with_distinct_call_ids() {
    let call = json!({"functionCall": {"name": "f", "args": {}}});
    let out = render(json!({"candidates": [
        {"content": {"parts": [call.clone()]}, "finishReason": "STOP"},
        {"content": {"parts": [call]}, "finishReason": "STOP", "index": 1},
    ]}));
    assert_eq!(out["choices"][1]["index"], 1);
    let id = |i: usize| out["choices"][i]["message"]["tool_calls"][0]["id"].clone();
    assert_eq!(id(0), "call_r42_0_0");
    assert_eq!(id(1), "call_r42_1_0");
}

#[test]
fn usage_maps_per_table() {
    let usage = |v: Value| usage_from_gemini(&serde_json::from_value(v).unwrap());
    let cases = [
        (json!({}), (0, 0, 0, 0, 0)),
        (
            json!({"promptTokenCount": 8, "candidatesTokenCount": 12, "thoughtsTokenCount": 1171, "totalTokenCount": 1191}),
            (8, 1183, 1191, 0, 1171),
        ),
        (
            json!({"promptTokenCount": 1706, "thoughtsTokenCount": 2999, "totalTokenCount": 4705}),
            (1706, 2999, 4705, 0, 2999),
        ),
        (
            json!({"promptTokenCount": 100, "cachedContentTokenCount": 60, "candidatesTokenCount": 5, "totalTokenCount": 105}),
            (100, 5, 105, 60, 0),
        ),
        (
            json!({"promptTokenCount": 10, "toolUsePromptTokenCount": 30, "candidatesTokenCount": 5, "totalTokenCount": 45}),
            (40, 5, 45, 0, 0),
        ),
        // Intermediate stream chunks may lack a total.
        (
            json!({"promptTokenCount": 5, "candidatesTokenCount": 3}),
            (5, 3, 8, 0, 0),
        ),
    ];
    for (input, (prompt, completion, total, cached, reasoning)) in cases {
        let u = usage(input.clone());
        assert_eq!(
            (
                u.prompt_tokens,
                u.completion_tokens,
                u.total_tokens,
                u.prompt_tokens_details.cached_tokens,
                u.completion_tokens_details.reasoning_tokens
            ),
            (prompt, completion, total, cached, reasoning),
            "{input}"
        );
    }
}
