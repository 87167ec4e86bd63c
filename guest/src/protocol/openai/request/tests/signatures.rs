use super::*;
use crate::protocol::gemini::GenerateContentResponse;
use crate::protocol::openai::{gemini_to_chat_response, tool_call_id, OpenAiChatResponse};
use crate::protocol::RequestContext;

fn ctx(request_id: &str) -> RequestContext {
    RequestContext {
        request_id: request_id.into(),
        created: 1_700_000_000,
    }
}

/// The `functionCall` parts of every model turn: `(name, thoughtSignature)`.
fn model_calls(out: &Value) -> Vec<Vec<(String, Option<String>)>> {
    out["contents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["role"] == "model")
        .map(|c| {
            c["parts"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p.get("functionCall").is_some())
                .map(|p| {
                    let name = p["functionCall"]["name"].as_str().unwrap().to_string();
                    (
                        name,
                        p.get("thoughtSignature").and_then(Value::as_str).map(str::to_string),
                    )
                })
                .collect()
        })
        .collect()
}

fn sig(s: &str) -> Option<String> {
    Some(s.to_string())
}

#[test]
fn signatures_come_back_from_ids_and_extra_content() {
    let id = tool_call_id(&ctx("r1"), 0, 0, Some("SIG/a+b=="));
    let out = convert_for(
        "gemini-3-pro-preview",
        json!({"messages": [
            user(json!("q")),
            {"role": "assistant", "tool_calls": [call(&id, "f", "{}")]},
            tool(&id, json!("1")),
            {"role": "assistant", "tool_calls": [{"id": "opaque", "type": "function", "function": {"name": "g", "arguments": "{}"},
                "extra_content": {"google": {"thought_signature": "EXTRA"}}}]},
            tool("opaque", json!("2")),
        ]}),
    );
    assert_eq!(
        model_calls(&out),
        vec![vec![("f".into(), sig("SIG/a+b=="))], vec![("g".into(), sig("EXTRA"))]]
    );
}

#[test]
fn unsigned_calls_of_the_active_loop_get_the_skip_sentinel_on_the_first_call_only() {
    let out = convert_for(
        "gemini-3-pro-preview",
        json!({"messages": [
            user(json!("old question")),
            {"role": "assistant", "tool_calls": [call("old", "f", "{}")]},
            tool("old", json!("x")),
            {"role": "assistant", "content": "old answer"},
            user(json!("new question")),
            {"role": "assistant", "tool_calls": [call("a", "f", "{}"), call("b", "g", "{}")]},
            tool("a", json!("x")), tool("b", json!("y")),
            {"role": "assistant", "content": "thinking aloud", "tool_calls": [call("c", "h", "{}")]},
            tool("c", json!("z")),
        ]}),
    );
    let skip = sig(SKIP_SIGNATURE);
    assert_eq!(
        model_calls(&out),
        vec![
            vec![("f".into(), None)], // before the last user text: not validated, left alone
            vec![],
            vec![("f".into(), skip.clone()), ("g".into(), None)],
            vec![("h".into(), skip)],
        ]
    );
}

#[test]
fn images_without_text_do_not_start_a_new_loop() {
    let out = convert(json!({"messages": [
        user(json!("q")),
        {"role": "assistant", "tool_calls": [call("a", "f", "{}")]},
        tool("a", json!("x")),
        user(json!([{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}])),
    ]}));
    assert_eq!(model_calls(&out), vec![vec![("f".into(), sig(SKIP_SIGNATURE))]]);
}

/// A Gemini 3 response with `calls` as `(name, args, signature)`.
fn gemini_calls(calls: &[(&str, Value, Option<&str>)]) -> GenerateContentResponse {
    let parts: Vec<Value> = calls
        .iter()
        .map(|(name, args, sig)| {
            let mut part = json!({"functionCall": {"name": name, "args": args}});
            if let Some(sig) = sig {
                part["thoughtSignature"] = json!(sig);
            }
            part
        })
        .collect();
    serde_json::from_value(
        json!({"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}]}),
    )
    .unwrap()
}

/// The assistant message a client would append from a response (OpenAI SDK `message.model_dump()`).
fn assistant_from(resp: &OpenAiChatResponse) -> Value {
    serde_json::to_value(&resp.choices[0].message).unwrap()
}

#[test]
fn two_round_gemini3_tool_loop_round_trips_signatures_through_ids() {
    let model = "gemini-3-pro-preview";
    // Round 1: the model calls get_weather, signed.
    let r1 = gemini_to_chat_response(
        &gemini_calls(&[("get_weather", json!({"city": "Paris"}), Some("SIG_ONE"))]),
        model,
        &ctx("req1"),
    );
    let m1 = assistant_from(&r1);
    let id1 = m1["tool_calls"][0]["id"].as_str().unwrap().to_string();
    let mut messages = vec![
        user(json!("Plan my day in Paris")),
        m1,
        tool(&id1, json!("{\"temp\": 21}")),
    ];
    let g1 = convert_for(model, json!({ "messages": messages.clone() }));
    assert_eq!(model_calls(&g1), vec![vec![("get_weather".into(), sig("SIG_ONE"))]]);

    // Round 2: another signed call; both signatures must be replayed on their own parts.
    let r2 = gemini_to_chat_response(
        &gemini_calls(&[("get_events", json!({"day": "today"}), Some("SIG_TWO"))]),
        model,
        &ctx("req2"),
    );
    let m2 = assistant_from(&r2);
    let id2 = m2["tool_calls"][0]["id"].as_str().unwrap().to_string();
    assert_ne!(id1, id2);
    messages.extend([m2, tool(&id2, json!("museum at 3pm"))]);
    let g2 = convert_for(model, json!({ "messages": messages }));
    assert_eq!(
        model_calls(&g2),
        vec![
            vec![("get_weather".into(), sig("SIG_ONE"))],
            vec![("get_events".into(), sig("SIG_TWO"))]
        ]
    );
    assert_eq!(
        g2["contents"][2]["parts"][0]["functionResponse"],
        json!({"name": "get_weather", "response": {"temp": 21}})
    );
    assert_eq!(
        g2["contents"][4]["parts"][0]["functionResponse"],
        json!({"name": "get_events", "response": {"result": "museum at 3pm"}})
    );
}

#[test]
fn parallel_calls_keep_the_signature_on_the_first_call_and_pair_results() {
    let model = "gemini-3-flash-preview";
    let resp = gemini_to_chat_response(
        &gemini_calls(&[
            ("a", json!({"i": 1}), Some("FIRST")),
            ("b", json!({"i": 2}), None),
            ("a", json!({"i": 3}), None),
        ]),
        model,
        &ctx("par"),
    );
    assert_eq!(resp.choices[0].finish_reason.as_deref(), Some("tool_calls"));
    let m = assistant_from(&resp);
    let ids: Vec<String> = m["tool_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(ids[0].contains("__ts__") && !ids[1].contains("__ts__") && !ids[2].contains("__ts__"));
    // Results arrive out of order; Gemini gets them in call order, one per call.
    let out = convert_for(
        model,
        json!({"messages": [
            user(json!("go")), m, tool(&ids[2], json!("r3")), tool(&ids[0], json!("r1")), tool(&ids[1], json!("r2")),
        ]}),
    );
    assert_eq!(
        model_calls(&out),
        vec![vec![("a".into(), sig("FIRST")), ("b".into(), None), ("a".into(), None)]]
    );
    let responses: Vec<Value> = out["contents"][2]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["functionResponse"].clone())
        .collect();
    assert_eq!(
        responses,
        vec![
            json!({"name": "a", "response": {"result": "r1"}}),
            json!({"name": "b", "response": {"result": "r2"}}),
            json!({"name": "a", "response": {"result": "r3"}}),
        ]
    );
}

#[test]
fn clients_that_drop_unknown_fields_still_round_trip_through_the_id() {
    let resp = gemini_to_chat_response(
        &gemini_calls(&[("f", json!({}), Some("S"))]),
        "gemini-3-pro-preview",
        &ctx("x"),
    );
    let mut m = assistant_from(&resp);
    assert_eq!(
        m["tool_calls"][0]["extra_content"],
        json!({"google": {"thought_signature": "S"}})
    );
    m["tool_calls"][0].as_object_mut().unwrap().remove("extra_content");
    let id = m["tool_calls"][0]["id"].as_str().unwrap().to_string();
    let out = convert_for(
        "gemini-3-pro-preview",
        json!({"messages": [user(json!("q")), m, tool(&id, json!("ok"))]}),
    );
    assert_eq!(model_calls(&out), vec![vec![("f".into(), sig("S"))]]);
}
