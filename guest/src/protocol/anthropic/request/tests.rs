use serde_json::{json, Value};

use super::super::{gemini_to_messages_response, AnthropicMessagesRequest};
use super::*;
use crate::protocol::gemini::GenerateContentResponse;
use crate::protocol::RequestContext;

fn req(body: Value) -> AnthropicMessagesRequest {
    serde_json::from_value(body).expect("valid Anthropic request")
}

fn to_gemini(body: Value, model: &str) -> Value {
    let out = messages_request_to_gemini(&req(body), model).expect("translates");
    serde_json::to_value(out).unwrap()
}

fn error_of(body: Value) -> String {
    match messages_request_to_gemini(&req(body), "gemini-2.5-flash") {
        Err(GatewayError::InvalidRequest { message, .. }) => message,
        other => panic!("expected a 400, got {other:?}"),
    }
}

#[test]
fn basic_request_maps_system_roles_and_generation_config() {
    let g = to_gemini(
        json!({
            "model": "claude-x", "max_tokens": 1024,
            "system": [{"type": "text", "text": "Be terse."}, {"type": "text", "text": "Use English."}],
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "user", "content": [{"type": "text", "text": "there"}, {"type": "text", "text": ""}]},
                {"role": "assistant", "content": "Hello"},
                {"role": "assistant", "content": [{"type": "text", "text": "!"}]},
                {"role": "user", "content": "Bye"}
            ],
            "stop_sequences": ["END", ""], "temperature": 0.5, "top_p": 0.9, "top_k": 40
        }),
        "gemini-2.5-flash",
    );
    assert_eq!(
        g,
        json!({
            "contents": [
                {"role": "user", "parts": [{"text": "Hi"}, {"text": "there"}]},
                {"role": "model", "parts": [{"text": "Hello"}, {"text": "!"}]},
                {"role": "user", "parts": [{"text": "Bye"}]}
            ],
            "systemInstruction": {"parts": [{"text": "Be terse."}, {"text": "Use English."}]},
            "generationConfig": {"maxOutputTokens": 1024, "stopSequences": ["END"], "temperature": 0.5, "topP": 0.9, "topK": 40}
        })
    );
}

#[test]
fn invalid_requests_are_400s() {
    let user = json!([{"role": "user", "content": "x"}]);
    let cases: Vec<(Value, &str)> = vec![
        (json!({"messages": user}), "max_tokens"),
        (json!({"max_tokens": 1, "messages": []}), "at least one message"),
        (
            json!({"max_tokens": 1, "messages": [{"role": "system", "content": "x"}]}),
            "at least one user or assistant message",
        ),
        (
            json!({"max_tokens": 1, "messages": [{"role": "user", "content": "x"}, {"role": "tool", "content": "x"}]}),
            "messages.1.role",
        ),
        (
            json!({"max_tokens": 1, "messages": [{"role": "user", "content": "x"}, {"role": "system", "content": [{"type": "image", "source": {"type": "url", "url": "https://x/a.png"}}]}]}),
            "system messages may only contain text blocks",
        ),
        (
            json!({"max_tokens": 1, "messages": user, "output_config": {"effort": "extreme"}}),
            "output_config.effort",
        ),
        (
            json!({"max_tokens": 1, "messages": user, "stop_sequences": ["a", "b", "c", "d", "e", "f"]}),
            "at most 5",
        ),
        (
            json!({"max_tokens": 1, "messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_nope", "content": "x"}]}]}),
            "toolu_nope",
        ),
        (
            json!({"max_tokens": 1, "messages": user, "tools": [{"name": "a", "input_schema": {}}], "tool_choice": {"type": "tool", "name": "b"}}),
            "tool_choice.name",
        ),
        (
            json!({"max_tokens": 1, "messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "file", "file_id": "f"}}]}]}),
            "Anthropic Files API ids",
        ),
        (
            json!({"max_tokens": 1, "messages": [{"role": "user", "content": ""}]}),
            "empty",
        ),
        (
            // A tool_result that does not follow its call.
            json!({"max_tokens": 1, "messages": [
                {"role": "user", "content": "go"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_a", "name": "f", "input": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_a", "content": "1"}]},
                {"role": "assistant", "content": "done"},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_a", "content": "again"}]}
            ]}),
            "must directly follow",
        ),
    ];
    for (body, needle) in cases {
        let message = error_of(body.clone());
        assert!(message.contains(needle), "{body}: {message}");
    }
}

#[test]
fn tools_become_declarations_and_server_tools_are_skipped() {
    let g = to_gemini(
        json!({
            "max_tokens": 10, "messages": [{"role": "user", "content": "x"}],
            "tools": [
                {"name": "get_weather", "description": "Weather", "cache_control": {"type": "ephemeral"},
                 "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false, "$schema": "x"}},
                {"name": "now", "input_schema": {"type": "object", "properties": {}}},
                {"name": "get_weather", "input_schema": {"type": "object"}},
                {"type": "bash_20250124", "name": "bash"},
                {"type": "web_search_20250305", "name": "web_search"}
            ],
            "tool_choice": {"type": "tool", "name": "get_weather"}
        }),
        "gemini-2.5-flash",
    );
    assert_eq!(
        g["tools"],
        json!([{"functionDeclarations": [
            {"name": "get_weather", "description": "Weather",
             "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]}},
            {"name": "now"}
        ]}])
    );
    assert_eq!(
        g["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}})
    );

    let search_only = to_gemini(
        json!({"max_tokens": 10, "messages": [{"role": "user", "content": "x"}],
               "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 3}], "tool_choice": {"type": "any"}}),
        "gemini-2.5-flash",
    );
    assert_eq!(search_only["tools"], json!([{"googleSearch": {}}]));
    assert!(search_only.get("toolConfig").is_none());
}

#[test]
fn tool_choice_table() {
    for (choice, expected) in [
        (json!({"type": "auto"}), json!({"mode": "AUTO"})),
        (
            json!({"type": "any", "disable_parallel_tool_use": true}),
            json!({"mode": "ANY"}),
        ),
        (json!({"type": "none"}), json!({"mode": "NONE"})),
        (
            json!({"type": "tool", "name": "f"}),
            json!({"mode": "ANY", "allowedFunctionNames": ["f"]}),
        ),
    ] {
        let g = to_gemini(
            json!({"max_tokens": 1, "messages": [{"role": "user", "content": "x"}],
                   "tools": [{"name": "f", "input_schema": {"type": "object", "properties": {"a": {"type": "string"}}}}], "tool_choice": choice}),
            "gemini-2.5-flash",
        );
        assert_eq!(g["toolConfig"]["functionCallingConfig"], expected);
    }
}

#[test]
fn thinking_table() {
    let cases: Vec<(Value, Option<&str>, &str, Option<Value>)> = vec![
        (
            json!({"type": "enabled", "budget_tokens": 4096}),
            None,
            "gemini-2.5-flash",
            Some(json!({"thinkingBudget": 4096, "includeThoughts": true})),
        ),
        (
            json!({"type": "enabled", "budget_tokens": 31999}),
            None,
            "gemini-2.5-flash",
            Some(json!({"thinkingBudget": 24576, "includeThoughts": true})),
        ),
        (
            json!({"type": "enabled", "budget_tokens": 31999}),
            None,
            "models/gemini-2.5-pro",
            Some(json!({"thinkingBudget": 31999, "includeThoughts": true})),
        ),
        (
            json!({"type": "enabled", "budget_tokens": 1024}),
            None,
            "gemini-3-pro-preview",
            Some(json!({"thinkingLevel": "LOW", "includeThoughts": true})),
        ),
        (
            json!({"type": "enabled", "budget_tokens": 1025}),
            None,
            "gemini-3-pro-preview",
            Some(json!({"thinkingLevel": "HIGH", "includeThoughts": true})),
        ),
        (
            json!({"type": "enabled", "budget_tokens": 2048, "display": "omitted"}),
            None,
            "gemini-2.5-flash",
            Some(json!({"thinkingBudget": 2048, "includeThoughts": false})),
        ),
        (
            json!({"type": "disabled"}),
            None,
            "gemini-2.5-flash",
            Some(json!({"thinkingBudget": 0, "includeThoughts": false})),
        ),
        (
            json!({"type": "disabled"}),
            None,
            "gemini-2.5-flash-lite",
            Some(json!({"thinkingBudget": 0, "includeThoughts": false})),
        ),
        // 2.5 Pro cannot turn thinking off: "disabled" is its minimum (hub decision).
        (
            json!({"type": "disabled"}),
            None,
            "gemini-2.5-pro",
            Some(json!({"thinkingBudget": 128, "includeThoughts": false})),
        ),
        (
            json!({"type": "disabled"}),
            None,
            "gemini-3-flash-preview",
            Some(json!({"thinkingLevel": "MINIMAL", "includeThoughts": false})),
        ),
        (
            json!({"type": "disabled"}),
            None,
            "gemini-3-pro-preview",
            Some(json!({"thinkingLevel": "LOW", "includeThoughts": false})),
        ),
        (
            json!({"type": "adaptive"}),
            None,
            "gemini-2.5-flash",
            Some(json!({"thinkingBudget": -1, "includeThoughts": true})),
        ),
        (
            json!({"type": "adaptive"}),
            Some("low"),
            "gemini-2.5-pro",
            Some(json!({"thinkingBudget": 1024, "includeThoughts": true})),
        ),
        (
            json!({"type": "adaptive"}),
            Some("max"),
            "gemini-2.5-pro",
            Some(json!({"thinkingBudget": 32768, "includeThoughts": true})),
        ),
        (
            json!({"type": "adaptive"}),
            None,
            "gemini-3-pro-preview",
            Some(json!({"includeThoughts": true})),
        ),
        (
            json!({"type": "adaptive"}),
            Some("medium"),
            "gemini-3-pro-preview",
            Some(json!({"thinkingLevel": "HIGH", "includeThoughts": true})),
        ),
        (
            json!({"type": "adaptive"}),
            Some("medium"),
            "gemini-3-flash-preview",
            Some(json!({"thinkingLevel": "MEDIUM", "includeThoughts": true})),
        ),
        (
            json!({"type": "adaptive"}),
            Some("low"),
            "gemini-3-flash-preview",
            Some(json!({"thinkingLevel": "LOW", "includeThoughts": true})),
        ),
        (
            json!({"type": "enabled", "budget_tokens": 4096}),
            None,
            "gemini-2.0-flash",
            None,
        ),
        (
            json!({"type": "enabled", "budget_tokens": 4096}),
            None,
            "gemini-flash-latest",
            Some(json!({"thinkingBudget": 4096, "includeThoughts": true})),
        ),
        (
            json!({"type": "disabled"}),
            None,
            "gemini-flash-latest",
            Some(json!({"thinkingBudget": 0, "includeThoughts": false})),
        ),
    ];
    for (thinking, effort, model, expected) in cases {
        let mut body =
            json!({"max_tokens": 64000, "messages": [{"role": "user", "content": "x"}], "thinking": thinking});
        if let Some(effort) = effort {
            body["output_config"] = json!({"effort": effort});
        }
        let g = to_gemini(body, model);
        assert_eq!(
            g["generationConfig"].get("thinkingConfig").cloned(),
            expected,
            "{thinking} {effort:?} {model}"
        );
    }
    let none = to_gemini(
        json!({"max_tokens": 1, "messages": [{"role": "user", "content": "x"}]}),
        "gemini-3-pro-preview",
    );
    assert!(none["generationConfig"].get("thinkingConfig").is_none());
}

#[test]
fn images_and_documents_map_to_inline_and_file_data() {
    let g = to_gemini(
        json!({"max_tokens": 1, "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}},
            {"type": "image", "source": {"type": "url", "url": "https://x.test/cat.JPG?size=2"}},
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}},
            {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "notes"}, "title": "Notes"},
            {"type": "document", "source": {"type": "url", "url": "https://x.test/a.pdf"}},
            {"type": "document", "source": {"type": "content", "content": [{"type": "text", "text": "chunk"}]}},
            {"type": "text", "text": "Describe."}
        ]}]}),
        "gemini-2.5-flash",
    );
    assert_eq!(
        g["contents"][0]["parts"],
        json!([
            {"inlineData": {"mimeType": "image/png", "data": "iVBO"}},
            {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://x.test/cat.JPG?size=2"}},
            {"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}},
            {"text": "Notes\n\nnotes"},
            {"fileData": {"mimeType": "application/pdf", "fileUri": "https://x.test/a.pdf"}},
            {"text": "chunk"},
            {"text": "Describe."}
        ])
    );
}

/// The first round of a tool loop as Gemini 3 answers it: a signed call.
fn gemini3_call_response() -> GenerateContentResponse {
    serde_json::from_value(json!({
        "candidates": [{"content": {"role": "model", "parts": [
            {"text": "Let me look.", "thought": true},
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "CiQBjz1rX+/a1w=="}
        ]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15}
    }))
    .unwrap()
}

#[test]
fn two_round_tool_loop_round_trips_gemini3_signatures_through_ids() {
    let model = "gemini-3-pro-preview";
    let ctx = RequestContext {
        request_id: "r-1".into(),
        created: 0,
    };
    // Round 1: Gemini calls a tool; the client sees a tool_use whose id carries the signature.
    let first = gemini_to_messages_response(&gemini3_call_response(), "claude-sonnet-4-5", &ctx);
    let first_json = serde_json::to_value(&first).unwrap();
    let id = first_json["content"][1]["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("toolu_r1_0__ts__"), "{id}");

    // Round 2: the client replays the assistant turn verbatim plus its tool_result.
    let second = json!({"max_tokens": 100, "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": first_json["content"]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": "18C"}]}
    ]});
    let g = to_gemini(second.clone(), model);
    assert_eq!(
        g["contents"][1],
        json!({"role": "model", "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "CiQBjz1rX+/a1w=="}
        ]})
    );
    assert_eq!(
        g["contents"][2],
        json!({"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"output": "18C"}}}]})
    );

    // Round 3: Gemini calls again (new signature); both calls keep their own signatures.
    let ctx2 = RequestContext {
        request_id: "r-2".into(),
        created: 0,
    };
    let mut again = gemini3_call_response();
    again.candidates[0].content.as_mut().unwrap().parts[1].thought_signature = Some("Zm9vYmFy".into());
    let round3 = serde_json::to_value(gemini_to_messages_response(&again, "m", &ctx2)).unwrap();
    let id2 = round3["content"][1]["id"].as_str().unwrap().to_string();
    let mut third = second;
    third["messages"].as_array_mut().unwrap().extend([
        json!({"role": "assistant", "content": round3["content"]}),
        json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": id2, "content": "19C"}]}),
    ]);
    let g = to_gemini(third, model);
    assert_eq!(g["contents"][1]["parts"][0]["thoughtSignature"], "CiQBjz1rX+/a1w==");
    assert_eq!(g["contents"][3]["parts"][0]["thoughtSignature"], "Zm9vYmFy");
    assert_eq!(g["contents"].as_array().unwrap().len(), 5);
}

#[test]
fn parallel_calls_get_one_response_each_in_call_order() {
    let g = to_gemini(
        json!({"max_tokens": 1, "messages": [
            {"role": "user", "content": "Compare Paris, Rome and Oslo"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_a", "name": "weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_b", "name": "weather", "input": {"city": "Rome"}},
                {"type": "tool_use", "id": "toolu_c", "name": "time", "input": {"city": "Oslo"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_c", "content": "12:00"},
                {"type": "text", "text": "<system-reminder>be brief</system-reminder>"},
                {"type": "tool_result", "tool_use_id": "toolu_b", "content": "21C"},
                {"type": "tool_result", "tool_use_id": "toolu_a", "content": [{"type": "text", "text": "18C"}, {"type": "text", "text": "sunny"}], "is_error": false}
            ]}
        ]}),
        "gemini-2.5-flash",
    );
    let calls = g["contents"][1]["parts"].as_array().unwrap();
    assert_eq!(calls.iter().filter(|p| p.get("functionCall").is_some()).count(), 3);
    // Only the first call of the active loop gets the sentinel; the others stay unsigned.
    assert_eq!(calls[1]["thoughtSignature"], "skip_thought_signature_validator");
    assert!(calls[2].get("thoughtSignature").is_none());
    assert_eq!(
        g["contents"][2]["parts"],
        json!([
            {"functionResponse": {"name": "weather", "response": {"output": "18C\nsunny"}}},
            {"functionResponse": {"name": "weather", "response": {"output": "21C"}}},
            {"functionResponse": {"name": "time", "response": {"output": "12:00"}}},
            {"text": "<system-reminder>be brief</system-reminder>"}
        ])
    );
}

#[test]
fn error_results_pass_and_unanswered_calls_are_400s() {
    let g = to_gemini(
        json!({"max_tokens": 1, "messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_a", "name": "f", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_a", "content": "boom", "is_error": true}]}
        ]}),
        "gemini-2.5-flash",
    );
    assert_eq!(
        g["contents"][2]["parts"][0]["functionResponse"]["response"],
        json!({"error": "boom"})
    );
    // One policy for every protocol (hub decision): a call without a result is the client's
    // error, as on Anthropic itself; never a fabricated result, never dropped silently.
    let call = |id: &str| json!({"type": "tool_use", "id": id, "name": "f", "input": {}});
    let result = |id: &str| json!({"type": "tool_result", "tool_use_id": id, "content": "1"});
    for (case, messages, param, fragment) in [
        (
            "trailing unanswered call",
            json!([{"role": "user", "content": "go"}, {"role": "assistant", "content": [{"type": "text", "text": "Retrying."}, call("toolu_b")]}]),
            "messages.1",
            "toolu_b",
        ),
        (
            "one of two answered",
            json!([{"role": "user", "content": "go"}, {"role": "assistant", "content": [call("toolu_a"), call("toolu_b")]},
                   {"role": "user", "content": [result("toolu_b")]}]),
            "messages.1",
            "toolu_a",
        ),
        (
            "text instead of results",
            json!([{"role": "user", "content": "go"}, {"role": "assistant", "content": [call("toolu_a")]},
                   {"role": "user", "content": "never mind"}]),
            "messages.1",
            "without `tool_result`",
        ),
        (
            "answered twice",
            json!([{"role": "user", "content": "go"}, {"role": "assistant", "content": [call("toolu_a")]},
                   {"role": "user", "content": [result("toolu_a"), result("toolu_a")]}]),
            "messages.2",
            "only one tool_result",
        ),
    ] {
        let req: AnthropicMessagesRequest =
            serde_json::from_value(json!({"max_tokens": 1, "messages": messages})).unwrap();
        match messages_request_to_gemini(&req, "gemini-2.5-flash") {
            Err(GatewayError::InvalidRequest { message, param: p }) => {
                assert_eq!(p.as_deref(), Some(param), "{case}");
                assert!(message.contains(fragment), "{case}: {message}");
            }
            other => panic!("{case}: {other:?}"),
        }
    }
}

#[test]
fn tool_result_images_ride_in_the_response_on_gemini3_and_beside_it_otherwise() {
    let body = json!({"max_tokens": 1, "messages": [
        {"role": "user", "content": "screenshot please"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_s", "name": "screenshot", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_s", "content": [
            {"type": "text", "text": "captured"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}}
        ]}]}
    ]});
    let g3 = to_gemini(body.clone(), "gemini-3-pro-preview");
    assert_eq!(
        g3["contents"][2]["parts"],
        json!([{"functionResponse": {"name": "screenshot", "response": {"output": "captured"},
                "parts": [{"inlineData": {"mimeType": "image/png", "data": "iVBO"}}]}}])
    );
    let g25 = to_gemini(body, "gemini-2.5-flash");
    assert_eq!(
        g25["contents"][2]["parts"],
        json!([
            {"functionResponse": {"name": "screenshot", "response": {"output": "captured"}}},
            {"inlineData": {"mimeType": "image/png", "data": "iVBO"}}
        ])
    );
}

#[test]
fn tool_result_url_images_stay_beside_the_response_on_gemini3() {
    // FunctionResponsePart holds inline data only; a URL image (fileData) cannot go inside.
    let body = json!({"max_tokens": 1, "messages": [
        {"role": "user", "content": "screenshot please"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_s", "name": "screenshot", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_s", "content": [
            {"type": "image", "source": {"type": "url", "url": "https://x.io/a.png"}},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}}
        ]}]}
    ]});
    let g3 = to_gemini(body, "gemini-3-pro-preview");
    assert_eq!(
        g3["contents"][2]["parts"],
        json!([
            {"functionResponse": {"name": "screenshot", "response": {"output": ""},
                "parts": [{"inlineData": {"mimeType": "image/png", "data": "iVBO"}}]}},
            {"fileData": {"mimeType": "image/png", "fileUri": "https://x.io/a.png"}}
        ])
    );
}

#[test]
fn thinking_blocks_replay_only_with_gemini_signatures() {
    let g = to_gemini(
        json!({"max_tokens": 1, "messages": [
            {"role": "user", "content": "q1"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "gemini thought", "signature": "gemini:U0lH"},
                {"type": "thinking", "thinking": "unsigned summary", "signature": ""},
                {"type": "thinking", "thinking": "claude thought", "signature": "EqQBCkgIARABGAIiQL"},
                {"type": "redacted_thinking", "data": "abc"},
                {"type": "thinking", "thinking": "", "signature": "gemini:VEVYVA=="},
                {"type": "text", "text": "Answer one."}
            ]},
            {"role": "user", "content": "q2"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Answer two."},
                {"type": "thinking", "thinking": "", "signature": "gemini:TEFTVA=="}
            ]},
            {"role": "user", "content": "q3"}
        ]}),
        "gemini-3-pro-preview",
    );
    assert_eq!(
        g["contents"][1]["parts"],
        json!([
            {"text": "gemini thought", "thought": true, "thoughtSignature": "U0lH"},
            {"text": "Answer one.", "thoughtSignature": "VEVYVA=="}
        ])
    );
    assert_eq!(
        g["contents"][3]["parts"],
        json!([{"text": "Answer two.", "thoughtSignature": "TEFTVA=="}])
    );
}

#[test]
fn sentinel_marks_only_unsigned_calls_of_the_active_loop() {
    let g = to_gemini(
        json!({"max_tokens": 1, "messages": [
            {"role": "user", "content": "old question"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_old", "name": "f", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_old", "content": "1"}]},
            {"role": "assistant", "content": "old answer"},
            {"role": "user", "content": "new question"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_x__ts__UVVKRA", "name": "f", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_x__ts__UVVKRA", "content": "2"}, {"type": "text", "text": "note"}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_01Abc", "name": "f", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01Abc", "content": "3"}]}
        ]}),
        "gemini-3-pro-preview",
    );
    let contents = g["contents"].as_array().unwrap();
    assert!(
        contents[1]["parts"][0].get("thoughtSignature").is_none(),
        "turns before the loop are not validated"
    );
    assert_eq!(contents[5]["parts"][0]["thoughtSignature"], "QUJD");
    assert_eq!(
        contents[7]["parts"][0]["thoughtSignature"],
        "skip_thought_signature_validator"
    );
}

#[test]
fn structured_output_sets_a_response_schema_without_tools() {
    let g = to_gemini(
        json!({"max_tokens": 1, "messages": [{"role": "user", "content": "x"}],
               "output_config": {"format": {"type": "json_schema", "schema": {"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": false}}}}),
        "gemini-2.5-flash",
    );
    assert_eq!(g["generationConfig"]["responseMimeType"], "application/json");
    assert_eq!(
        g["generationConfig"]["responseSchema"],
        json!({"type": "OBJECT", "properties": {"a": {"type": "INTEGER"}}})
    );
}

#[test]
fn count_tokens_wraps_a_generate_content_request_with_the_model() {
    let req: AnthropicCountTokensRequest = serde_json::from_value(json!({
        "model": "claude-x", "system": "sys", "messages": [{"role": "user", "content": "Hi"}],
        "tools": [{"name": "f", "input_schema": {"type": "object", "properties": {"a": {"type": "string"}}}}],
        "tool_choice": {"type": "any"}
    }))
    .unwrap();
    let out = serde_json::to_value(count_tokens_request_to_gemini(&req, "gemini-2.5-flash").unwrap()).unwrap();
    assert_eq!(
        out,
        json!({"generateContentRequest": {
            "model": "models/gemini-2.5-flash",
            "contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
            "systemInstruction": {"parts": [{"text": "sys"}]},
            "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}}}]}]
        }})
    );
    let prefixed = count_tokens_request_to_gemini(&req, "models/gemini-2.5-pro").unwrap();
    assert_eq!(
        prefixed.generate_content_request.unwrap().model,
        "models/gemini-2.5-pro"
    );
}

#[test]
fn system_messages_lead_into_the_system_instruction_and_later_ones_join_their_user_turn() {
    let g = to_gemini(
        json!({
            "model": "claude-opus-5-5", "max_tokens": 1024,
            "system": [{"type": "text", "text": "Top."}],
            "messages": [
                {"role": "system", "content": "Lead one."},
                {"role": "system", "content": [{"type": "text", "text": "Lead two.", "cache_control": {"type": "ephemeral"}}]},
                {"role": "user", "content": "Hi"},
                {"role": "system", "content": [{"type": "text", "text": "Env after user."}]},
                {"role": "assistant", "content": "Hello"},
                {"role": "system", "content": "Reminder before user."},
                {"role": "user", "content": "Bye"}
            ]
        }),
        "gemini-2.5-flash",
    );
    assert_eq!(
        g["systemInstruction"],
        json!({"parts": [{"text": "Top."}, {"text": "Lead one."}, {"text": "Lead two."}]})
    );
    assert_eq!(
        g["contents"],
        json!([
            {"role": "user", "parts": [{"text": "Hi"}, {"text": "Env after user."}]},
            {"role": "model", "parts": [{"text": "Hello"}]},
            {"role": "user", "parts": [{"text": "Reminder before user."}, {"text": "Bye"}]}
        ])
    );
    // Without a top-level `system`, leading system messages alone make the instruction.
    let g = to_gemini(
        json!({"max_tokens": 1, "messages": [
            {"role": "system", "content": "Only."},
            {"role": "user", "content": "x"}
        ]}),
        "gemini-2.5-flash",
    );
    assert_eq!(g["systemInstruction"], json!({"parts": [{"text": "Only."}]}));
    assert_eq!(g["contents"], json!([{"role": "user", "parts": [{"text": "x"}]}]));
}

#[test]
fn system_messages_inside_a_tool_loop_keep_pairing_and_signatures() {
    // Claude Code's shape: a system reminder between the tool_use and its tool_result, and
    // another one after the result; the call carries a Gemini 3 signature in its id.
    let id = super::super::tool_use_id("req1", 0, Some("c2lnLWE="));
    let g = to_gemini(
        json!({
            "max_tokens": 1024,
            "messages": [
                {"role": "user", "content": "run it"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "", "signature": "gemini:c2lnLXQ="},
                    {"type": "text", "text": "Running."},
                    {"type": "tool_use", "id": id, "name": "Bash", "input": {"command": "ls"}}
                ]},
                {"role": "system", "content": "The user is watching."},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": id, "content": "a.txt"},
                    {"type": "text", "text": "continue"}
                ]},
                {"role": "system", "content": [{"type": "text", "text": "Budget: low."}]}
            ],
            "tools": [{"name": "Bash", "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}}}]
        }),
        "gemini-3-pro-preview",
    );
    assert_eq!(
        g["contents"],
        json!([
            {"role": "user", "parts": [{"text": "run it"}]},
            {"role": "model", "parts": [
                {"text": "Running.", "thoughtSignature": "c2lnLXQ="},
                {"functionCall": {"name": "Bash", "args": {"command": "ls"}}, "thoughtSignature": "c2lnLWE="}
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "Bash", "response": {"output": "a.txt"}}},
                {"text": "The user is watching."},
                {"text": "continue"},
                {"text": "Budget: low."}
            ]}
        ])
    );
}

#[test]
fn system_messages_count_on_count_tokens_too() {
    let req: AnthropicCountTokensRequest = serde_json::from_value(json!({
        "model": "claude-opus-5-5",
        "messages": [{"role": "user", "content": "hi"}, {"role": "system", "content": "env"}],
        "thinking": {"type": "adaptive", "display": "omitted"},
        "output_config": {"effort": "medium"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "tools": [{"name": "Read", "input_schema": {"type": "object"}, "defer_loading": true, "cache_control": {"type": "ephemeral"}}]
    }))
    .unwrap();
    let out = serde_json::to_value(count_tokens_request_to_gemini(&req, "gemini-2.5-pro").unwrap()).unwrap();
    assert_eq!(
        out["generateContentRequest"]["contents"],
        json!([{"role": "user", "parts": [{"text": "hi"}, {"text": "env"}]}])
    );
}

#[test]
fn effort_uses_the_reasoning_effort_table_with_or_without_adaptive_thinking() {
    let body = |thinking: Option<Value>, effort: &str| {
        let mut body = json!({"max_tokens": 1000, "messages": [{"role": "user", "content": "x"}],
                              "output_config": {"effort": effort}});
        if let Some(thinking) = thinking {
            body["thinking"] = thinking;
        }
        body
    };
    let adaptive_omitted = Some(json!({"type": "adaptive", "display": "omitted"}));
    let cases: Vec<(Option<Value>, &str, &str, Value)> = vec![
        // Claude Code's default request.
        (
            adaptive_omitted.clone(),
            "medium",
            "gemini-3.1-pro-preview",
            json!({"thinkingLevel": "HIGH", "includeThoughts": false}),
        ),
        (
            adaptive_omitted.clone(),
            "medium",
            "gemini-3.5-flash",
            json!({"thinkingLevel": "MEDIUM", "includeThoughts": false}),
        ),
        (
            Some(json!({"type": "adaptive", "display": "summarized"})),
            "high",
            "gemini-2.5-flash",
            json!({"thinkingBudget": 24576, "includeThoughts": true}),
        ),
        (
            None,
            "low",
            "gemini-2.5-pro",
            json!({"thinkingBudget": 1024, "includeThoughts": false}),
        ),
        (
            None,
            "max",
            "gemini-3-flash-preview",
            json!({"thinkingLevel": "HIGH", "includeThoughts": false}),
        ),
        (
            None,
            "xhigh",
            "gemini-2.5-flash",
            json!({"thinkingBudget": 24576, "includeThoughts": false}),
        ),
    ];
    for (thinking, effort, model, expected) in cases {
        let g = to_gemini(body(thinking.clone(), effort), model);
        assert_eq!(
            g["generationConfig"]["thinkingConfig"], expected,
            "{thinking:?} {effort} {model}"
        );
    }
    // A model that cannot think gets no thinking config, whatever the effort.
    let g = to_gemini(body(adaptive_omitted, "high"), "gemini-2.0-flash");
    assert!(g["generationConfig"].get("thinkingConfig").is_none());
}

#[test]
fn fields_gemini_has_no_use_for_are_accepted() {
    let g = to_gemini(
        json!({
            "model": "claude-opus-5-5", "max_tokens": 100,
            "container": "container_011CT", "mcp_servers": [{"type": "url", "url": "https://mcp.example/sse", "name": "x"}],
            "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},
            "service_tier": "auto", "metadata": {"user_id": "u"},
            "system": [{"type": "text", "text": "S", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}},
                {"type": "container_upload", "file_id": "file_1"}
            ]}],
            "tools": [
                {"name": "Read", "input_schema": {"type": "object"}, "defer_loading": true, "cache_control": {"type": "ephemeral"}},
                {"type": "tool_search_tool_regex_20251119", "name": "tool_search_tool_regex"},
                {"type": "mcp_toolset", "mcp_server_name": "x"}
            ]
        }),
        "gemini-2.5-flash",
    );
    assert_eq!(g["contents"], json!([{"role": "user", "parts": [{"text": "hi"}]}]));
    assert_eq!(g["systemInstruction"], json!({"parts": [{"text": "S"}]}));
    assert_eq!(g["tools"][0]["functionDeclarations"][0]["name"], "Read");
    assert_eq!(g["tools"][0]["functionDeclarations"].as_array().unwrap().len(), 1);
}

#[test]
fn image_data_that_is_not_base64_and_unknown_thinking_types_are_400s() {
    for data in ["!!!not-base64!!!", "", "%%%"] {
        let message = error_of(json!({
            "model": "claude-sonnet-4-5", "max_tokens": 10,
            "messages": [{"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}
            ]}]
        }));
        assert!(message.contains("base64"), "{data:?}: {message}");
    }
    let message = error_of(json!({
        "model": "claude-sonnet-4-5", "max_tokens": 10, "thinking": {"type": "sometimes"},
        "messages": [{"role": "user", "content": "hi"}]
    }));
    assert!(message.contains("thinking.type"), "{message}");
}

#[test]
fn a_document_naming_a_gemini_file_becomes_its_file_data() {
    let out = to_gemini(
        json!({"max_tokens": 10, "messages": [{"role": "user", "content": [
            {"type": "document", "source": {"type": "file", "file_id": "files/abc123"}},
            {"type": "text", "text": "summarize"}
        ]}]}),
        "gemini-2.5-flash",
    );
    assert_eq!(
        out["contents"][0]["parts"][0]["fileData"]["fileUri"],
        "https://generativelanguage.googleapis.com/v1beta/files/abc123"
    );
}
