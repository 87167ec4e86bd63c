use super::*;
use crate::error::GatewayError;
use crate::protocol::gemini::signatures::{signature_from_id, SKIP_SIGNATURE};
use crate::protocol::openai::tool_call_id;
use serde_json::json;

/// What the pinned Codex sends, through the translators.
mod agents;

const MODEL: &str = "gemini-2.5-flash";
const G3: &str = "gemini-3-pro-preview";

fn ctx() -> RequestContext {
    crate::protocol::test_support::ctx("r1", 1_760_000_000)
}

fn req(body: Value) -> OpenAiResponsesRequest {
    serde_json::from_value(body).unwrap()
}

fn convert_for(model: &str, body: Value) -> Value {
    serde_json::to_value(responses_request_to_gemini(&req(body), model).unwrap()).unwrap()
}

fn convert(body: Value) -> Value {
    convert_for(MODEL, body)
}

/// The `(message, param)` of the 400 `body` must produce.
fn error(body: Value) -> (String, String) {
    match responses_request_to_gemini(&req(body.clone()), MODEL) {
        Err(GatewayError::InvalidRequest { message, param }) => (message, param.unwrap_or_default()),
        other => panic!("expected a 400 for {body}, got {other:?}"),
    }
}

fn user(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

fn call(call_id: &str, name: &str, arguments: &str) -> Value {
    json!({"type": "function_call", "id": "fc_x", "call_id": call_id, "name": name, "arguments": arguments, "status": "completed"})
}

fn output(call_id: &str, output: Value) -> Value {
    json!({"type": "function_call_output", "call_id": call_id, "output": output})
}

fn custom_call(call_id: &str, name: &str, input: &str) -> Value {
    json!({"type": "custom_tool_call", "id": "ctc_x", "call_id": call_id, "name": name, "input": input, "status": "completed"})
}

fn custom_output(call_id: &str, output: Value) -> Value {
    json!({"type": "custom_tool_call_output", "call_id": call_id, "output": output})
}

/// Codex's freeform `apply_patch` tool (abridged grammar).
const PATCH_GRAMMAR: &str =
    "start: begin_patch hunk+ end_patch\nbegin_patch: \"*** Begin Patch\" LF\nend_patch: \"*** End Patch\" LF?";

fn apply_patch_tool() -> Value {
    json!({"type": "custom", "name": "apply_patch", "description": "Use the `apply_patch` tool to edit files.",
           "format": {"type": "grammar", "syntax": "lark", "definition": PATCH_GRAMMAR}})
}

fn weather_tool() -> Value {
    json!({"type": "function", "name": "get_weather", "description": "Weather", "strict": true,
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                          "additionalProperties": false}})
}

fn user_turn(text: &str) -> Value {
    json!({"role": "user", "parts": [{"text": text}]})
}

#[test]
fn input_forms_map_to_contents() {
    let cases: Vec<(&str, Value, Value, Value)> = vec![
        (
            "string input",
            json!({"input": "hi"}),
            json!([user_turn("hi")]),
            Value::Null,
        ),
        (
            "instructions and system/developer items join the system instruction",
            json!({"instructions": "Be terse.", "input": [
                {"role": "developer", "content": "Answer in English."},
                {"role": "user", "content": "hello"},
                {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "No emoji."}]},
            ]}),
            json!([user_turn("hello")]),
            json!({"parts": [{"text": "Be terse.\n\nAnswer in English.\n\nNo emoji."}]}),
        ),
        (
            "easy messages without type, assistant output_text replayed",
            json!({"input": [
                {"role": "user", "content": "a"},
                {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
                 "content": [{"type": "output_text", "text": "b", "annotations": []}]},
                user("c"),
            ]}),
            json!([user_turn("a"), {"role": "model", "parts": [{"text": "b"}]}, user_turn("c")]),
            Value::Null,
        ),
        (
            "images: data URI inline, URL as fileData",
            json!({"input": [{"role": "user", "content": [
                {"type": "input_text", "text": "look"},
                {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "auto"},
                {"type": "input_image", "image_url": "https://example.com/cat.jpg"},
            ]}]}),
            json!([{"role": "user", "parts": [
                {"text": "look"},
                {"inlineData": {"mimeType": "image/png", "data": "AAAA"}},
                {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/cat.jpg"}},
            ]}]),
            Value::Null,
        ),
        (
            "reasoning items are ignored",
            json!({"input": [user("q"), {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "hmm"}],
                                          "encrypted_content": "xyz"}, {"role": "assistant", "content": "a"}]}),
            json!([user_turn("q"), {"role": "model", "parts": [{"text": "a"}]}]),
            Value::Null,
        ),
    ];
    for (name, body, contents, system) in cases {
        let out = convert(body);
        assert_eq!(out["contents"], contents, "{name}");
        assert_eq!(
            out.get("systemInstruction").cloned().unwrap_or(Value::Null),
            system,
            "{name}"
        );
    }
}

#[test]
fn tools_tool_choice_and_settings() {
    let out = convert(json!({
        "input": "hi",
        "tools": [weather_tool(), {"type": "web_search"}, {"type": "mcp", "server_label": "x"},
                  {"type": "function", "name": "noop", "parameters": {"type": "object", "properties": {}}}],
        "tool_choice": {"type": "function", "name": "get_weather"},
        "max_output_tokens": 100, "temperature": 0.5, "top_p": 0.9,
        "parallel_tool_calls": false, "store": true, "include": ["reasoning.encrypted_content"],
        "metadata": {"a": "b"}, "truncation": "auto",
        "text": {"format": {"type": "json_schema", "name": "w", "strict": true,
                            "schema": {"type": "object", "properties": {"x": {"type": "integer"}}, "additionalProperties": false}}}
    }));
    assert_eq!(
        out["tools"],
        json!([{"functionDeclarations": [
            {"name": "get_weather", "description": "Weather",
             "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]}},
            {"name": "noop"},
        ]}])
    );
    assert_eq!(
        out["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}})
    );
    let config = &out["generationConfig"];
    assert_eq!(config["maxOutputTokens"], 100);
    assert_eq!(config["temperature"], 0.5);
    assert_eq!(config["topP"], 0.9);
    assert_eq!(config["responseMimeType"], "application/json");
    assert_eq!(
        config["responseSchema"],
        json!({"type": "OBJECT", "properties": {"x": {"type": "INTEGER"}}})
    );

    let modes: Vec<(Value, Value)> = vec![
        (json!("auto"), json!({"mode": "AUTO"})),
        (json!("none"), json!({"mode": "NONE"})),
        (json!("required"), json!({"mode": "ANY"})),
        (
            json!({"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "get_weather"}]}),
            json!({"mode": "ANY", "allowedFunctionNames": ["get_weather"]}),
        ),
        // A hosted tool's choice goes with its tool.
        (json!({"type": "web_search_preview"}), Value::Null),
    ];
    for (choice, expected) in modes {
        let out = convert(json!({"input": "hi", "tools": [weather_tool()], "tool_choice": choice.clone()}));
        let got = out
            .get("toolConfig")
            .map(|c| c["functionCallingConfig"].clone())
            .unwrap_or(Value::Null);
        assert_eq!(got, expected, "{choice}");
    }
    // Only hosted tools: no tools at all.
    let out = convert(json!({"input": "hi", "tools": [{"type": "web_search"}], "tool_choice": "required"}));
    assert!(out.get("tools").is_none() && out.get("toolConfig").is_none(), "{out}");
    // json_object
    let out = convert(json!({"input": "hi", "text": {"format": {"type": "json_object"}}}));
    assert_eq!(out["generationConfig"]["responseMimeType"], "application/json");
}

#[test]
fn reasoning_maps_to_thinking_config() {
    let cases: Vec<(&str, Value, Value)> = vec![
        (
            MODEL,
            json!({"effort": "low", "summary": "auto"}),
            json!({"includeThoughts": true, "thinkingBudget": 1024}),
        ),
        (
            MODEL,
            json!({"effort": "high"}),
            json!({"includeThoughts": false, "thinkingBudget": 24576}),
        ),
        (
            MODEL,
            json!({"effort": "medium", "summary": "detailed"}),
            json!({"includeThoughts": true, "thinkingBudget": 8192}),
        ),
        (
            MODEL,
            json!({"effort": "none"}),
            json!({"includeThoughts": false, "thinkingBudget": 0}),
        ),
        (
            G3,
            json!({"effort": "medium", "summary": "concise"}),
            json!({"includeThoughts": true, "thinkingLevel": "HIGH"}),
        ),
        (
            "gemini-3-flash-preview",
            json!({"effort": "minimal", "summary": "auto"}),
            json!({"includeThoughts": true, "thinkingLevel": "MINIMAL"}),
        ),
        (MODEL, json!({"summary": "auto"}), Value::Null),
        (MODEL, json!(null), Value::Null),
    ];
    for (model, reasoning, expected) in cases {
        let out = convert_for(model, json!({"input": "hi", "reasoning": reasoning.clone()}));
        let got = out
            .get("generationConfig")
            .and_then(|g| g.get("thinkingConfig"))
            .cloned()
            .unwrap_or(Value::Null);
        assert_eq!(got, expected, "{model} {reasoning}");
    }
    // Explicit Gemini extras win over the summary rule.
    let out = convert(json!({"input": "hi", "reasoning": {"effort": "low"},
                             "extra_body": {"google": {"thinking_config": {"include_thoughts": true}}}}));
    assert_eq!(out["generationConfig"]["thinkingConfig"]["includeThoughts"], true);
    // Gemini 2.0 takes no thinking config at all.
    let out = convert_for(
        "gemini-2.0-flash",
        json!({"input": "hi", "reasoning": {"effort": "high", "summary": "auto"}}),
    );
    assert!(out.get("generationConfig").is_none(), "{out}");
}

/// The Codex-style loop on Gemini 3: the signature Gemini put on the call comes back in the
/// `call_id`, the result is paired by `call_id` and named after the call; a second round adds a
/// second call and the whole history stays valid.
#[test]
fn two_round_tool_loop_round_trips_gemini3_signatures() {
    // Round 1: Gemini answered with a signed call; the gateway handed out this call_id.
    let id1 = tool_call_id(&ctx(), 0, 0, Some("c2lnLTE="));
    assert_eq!(signature_from_id(&id1).as_deref(), Some("c2lnLTE="));
    let round2 = json!({
        "instructions": "You are a coding agent.",
        "tools": [weather_tool()],
        "input": [
            user("weather? call:get_weather"),
            {"type": "reasoning", "id": "rs_r1_0", "summary": []},
            call(&id1, "get_weather", "{\"city\":\"Paris\"}"),
            output(&id1, json!("{\"temp_c\": 21}")),
        ],
    });
    let out = convert_for(G3, round2.clone());
    assert_eq!(
        out["contents"],
        json!([
            user_turn("weather? call:get_weather"),
            {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                                         "thoughtSignature": "c2lnLTE="}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp_c": 21}}}]},
        ])
    );
    // Round 2 answered with text and a new signed call; round 3 replays everything.
    let id2 = tool_call_id(
        &RequestContext {
            request_id: "r2".into(),
            created: 0,
        },
        0,
        0,
        Some("c2lnLTI="),
    );
    let mut input = round2["input"].as_array().unwrap().clone();
    input.push(
        json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]}),
    );
    input.push(call(&id2, "get_weather", "{\"city\":\"Rome\"}"));
    input.push(output(&id2, json!([{"type": "input_text", "text": "sunny"}])));
    let out = convert_for(G3, json!({"tools": [weather_tool()], "input": input}));
    let contents = out["contents"].as_array().unwrap();
    assert_eq!(contents.len(), 5, "{out}");
    assert_eq!(
        contents[3],
        json!({"role": "model", "parts": [
            {"text": "Checking."},
            {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}, "thoughtSignature": "c2lnLTI="},
        ]})
    );
    assert_eq!(
        contents[4],
        json!({"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"result": "sunny"}}}]})
    );
}

#[test]
fn parallel_calls_pair_by_call_id_in_any_order() {
    let a = tool_call_id(&ctx(), 0, 0, Some("c2ln"));
    let b = tool_call_id(&ctx(), 0, 1, None);
    let expected = json!([
        user_turn("both"),
        {"role": "model", "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2ln"},
            {"functionCall": {"name": "get_time", "args": {}}},
        ]},
        {"role": "user", "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"result": "rainy"}}},
            {"functionResponse": {"name": "get_time", "response": {"result": "noon"}}},
        ]},
    ]);
    let orders = [
        vec![
            call(&a, "get_weather", "{\"city\":\"Paris\"}"),
            call(&b, "get_time", ""),
            output(&a, json!("rainy")),
            output(&b, json!("noon")),
        ],
        vec![
            call(&a, "get_weather", "{\"city\":\"Paris\"}"),
            call(&b, "get_time", ""),
            output(&b, json!("noon")),
            output(&a, json!("rainy")),
        ],
    ];
    for items in orders {
        let mut input = vec![user("both")];
        input.extend(items);
        let out = convert_for(G3, json!({"input": input}));
        assert_eq!(out["contents"], expected);
    }
    // Interleaved (call, output, call, output): two model turns; the unsigned one gets the
    // skip sentinel because it is part of the active loop.
    let input = vec![
        user("both"),
        call(&a, "get_weather", "{\"city\":\"Paris\"}"),
        output(&a, json!("rainy")),
        call(&b, "get_time", "{}"),
        output(&b, json!("noon")),
    ];
    let out = convert_for(G3, json!({"input": input}));
    let contents = out["contents"].as_array().unwrap();
    assert_eq!(contents.len(), 5);
    assert_eq!(contents[3]["parts"][0]["thoughtSignature"], SKIP_SIGNATURE);
    assert_eq!(contents[4]["parts"][0]["functionResponse"]["name"], "get_time");
}

#[test]
fn bad_requests_name_the_responses_field() {
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"input": "hi", "previous_response_id": "resp_1"}),
            "previous_response_id is not supported",
            "previous_response_id",
        ),
        (
            json!({"input": "hi", "conversation": "conv_1"}),
            "conversation is not supported",
            "conversation",
        ),
        (json!({}), "input must not be empty", "input"),
        (json!({"input": []}), "input must not be empty", "input"),
        (
            json!({"input": [user("x"), output("call_1", json!("r"))]}),
            "No tool call found for function call output with call_id call_1.",
            "input[1].call_id",
        ),
        (
            json!({"input": [user("x"), call("call_1", "f", "{}")]}),
            "No tool output found for function call call_1.",
            "input[1]",
        ),
        (
            json!({"input": [user("x"), call("call_1", "f", "[1]"), output("call_1", json!("r"))]}),
            "arguments must be a JSON object",
            "input[1].arguments",
        ),
        (
            json!({"input": [{"type": "item_reference", "id": "msg_1"}]}),
            "item_reference is not supported",
            "input[0].type",
        ),
        (
            json!({"input": [{"type": "web_search_call", "id": "ws_1"}]}),
            "input item type 'web_search_call' is not supported",
            "input[0].type",
        ),
        (
            json!({"input": [user("x"), {"type": "custom_tool_call_output", "call_id": "c9", "output": "r"}]}),
            "No tool call found for custom tool call output with call_id c9.",
            "input[1].call_id",
        ),
        (
            json!({"input": [user("x"), custom_call("c1", "apply_patch", "x")]}),
            "No tool output found for custom tool call c1.",
            "input[1]",
        ),
        (
            json!({"input": [user("x"), {"type": "custom_tool_call", "call_id": "c1", "input": "x"},
                             custom_output("c1", json!("ok"))]}),
            "custom_tool_call items require a name",
            "input[1].name",
        ),
        (
            json!({"input": [user("x"), {"type": "local_shell_call", "call_id": "c1", "status": "completed"},
                             output("c1", json!("ok"))]}),
            "local_shell_call items require an action",
            "input[1].action",
        ),
        (
            json!({"input": "hi", "tools": [{"type": "custom", "format": {"type": "text"}}]}),
            "custom tools require a name",
            "tools[0].name",
        ),
        (
            json!({"input": "hi", "tools": [weather_tool(), {"type": "custom", "name": "get_weather"}]}),
            "tool names must be unique: 'get_weather' is declared twice",
            "tools[1]",
        ),
        (
            json!({"input": "hi", "tools": [{"type": "function", "name": "local_shell"}, {"type": "local_shell"}]}),
            "tool names must be unique: 'local_shell' is declared twice",
            "tools[1]",
        ),
        (
            json!({"input": [{"role": "tool", "content": "x"}]}),
            "unsupported message role 'tool'",
            "input[0].role",
        ),
        (
            json!({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file_1"}]}]}),
            "file_id refers to OpenAI's Files API",
            "input[0].content[0].image_url",
        ),
        (
            json!({"input": [{"role": "user", "content": [{"type": "input_video"}]}]}),
            "unsupported content part type 'input_video'",
            "input[0].content[0].type",
        ),
        (
            json!({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "ftp://x/y.png"}]}]}),
            "image_url must be",
            "input[0].content[0].image_url",
        ),
        (
            json!({"input": "hi", "tools": [{"type": "function", "parameters": {}}]}),
            "function tools require a name",
            "tools[0].name",
        ),
        (
            json!({"input": "hi", "reasoning": {"effort": "extreme"}}),
            "reasoning.effort 'extreme'",
            "reasoning.effort",
        ),
        (
            json!({"input": "hi", "text": {"format": {"type": "json_schema", "name": "x"}}}),
            "schema is required",
            "text.format",
        ),
        (
            json!({"input": "hi", "tools": [weather_tool()], "tool_choice": "sometimes"}),
            "tool_choice must be",
            "tool_choice",
        ),
        (
            json!({"input": [call("c1", "f", "{}"), user("interrupt"), output("c1", json!("r"))]}),
            "No tool output found for function call c1.",
            "input[0]",
        ),
    ];
    for (body, message, param) in cases {
        let (got_message, got_param) = error(body.clone());
        assert!(got_message.contains(message), "{body}: {got_message}");
        // Responses wording only: no chat-completions field names leak into the message.
        for chat in ["messages", "reasoning_effort", "response_format", "tool_calls"] {
            assert!(!got_message.contains(chat), "{body}: {got_message}");
        }
        assert_eq!(got_param, param, "{body}: {got_message}");
    }
}

fn gemini(body: Value) -> GenerateContentResponse {
    serde_json::from_value(body).unwrap()
}

#[test]
fn whole_response_has_items_in_part_order() {
    let resp = gemini(json!({
        "candidates": [{"index": 0, "finishReason": "STOP", "content": {"role": "model", "parts": [
            {"text": "think ", "thought": true}, {"text": "hard", "thought": true},
            {"text": "Hello "}, {"text": "there", "thoughtSignature": "c2ln"},
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2lnMg=="},
            {"functionCall": {"name": "get_time"}},
        ]}}],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "thoughtsTokenCount": 3,
                          "cachedContentTokenCount": 4, "totalTokenCount": 18},
    }));
    let echo = ResponseEcho::new(&req(json!({"model": "gpt-5", "input": "x", "instructions": "be nice",
        "tools": [weather_tool()], "reasoning": {"effort": "low", "summary": "auto"}, "metadata": {"k": "v"}})));
    let out = response_json(&resp, &echo, &ctx());
    assert_eq!(out["id"], "resp_r1");
    assert_eq!(out["object"], "response");
    assert_eq!(out["created_at"], 1_760_000_000);
    assert_eq!(out["status"], "completed");
    assert_eq!(out["model"], "gpt-5");
    assert_eq!(out["instructions"], "be nice");
    assert_eq!(out["error"], Value::Null);
    assert_eq!(out["incomplete_details"], Value::Null);
    assert_eq!(out["tools"], json!([weather_tool()]));
    assert_eq!(out["tool_choice"], "auto");
    assert_eq!(out["parallel_tool_calls"], true);
    assert_eq!(out["reasoning"], json!({"effort": "low", "summary": "auto"}));
    assert_eq!(out["text"], json!({"format": {"type": "text"}}));
    assert_eq!(out["metadata"], json!({"k": "v"}));
    assert_eq!(
        out["output"],
        json!([
            {"id": "rs_r1_0", "type": "reasoning", "summary": [{"type": "summary_text", "text": "think hard"}]},
            {"id": "msg_r1_1", "type": "message", "role": "assistant", "status": "completed",
             "content": [{"type": "output_text", "text": "Hello there", "annotations": [], "logprobs": []}]},
            {"id": "fc_r1_2", "type": "function_call", "status": "completed", "arguments": "{\"city\":\"Paris\"}",
             "call_id": tool_call_id(&ctx(), 0, 0, Some("c2lnMg==")), "name": "get_weather"},
            {"id": "fc_r1_3", "type": "function_call", "status": "completed", "arguments": "{}",
             "call_id": tool_call_id(&ctx(), 0, 1, None), "name": "get_time"},
        ])
    );
    assert_eq!(
        out["usage"],
        json!({"input_tokens": 10, "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
               "output_tokens": 8, "output_tokens_details": {"reasoning_tokens": 3}, "total_tokens": 18})
    );
}

#[test]
fn whole_response_statuses() {
    let cases: Vec<(Value, &str, Value, Value)> = vec![
        (
            json!({"candidates": [{"finishReason": "MAX_TOKENS", "content": {"role": "model", "parts": [{"text": "cut"}]}}]}),
            "incomplete",
            json!({"reason": "max_output_tokens"}),
            json!([{"id": "msg_r1_0", "type": "message", "role": "assistant", "status": "incomplete",
                    "content": [{"type": "output_text", "text": "cut", "annotations": [], "logprobs": []}]}]),
        ),
        (
            // Thinking used the whole budget: no content at all.
            json!({"candidates": [{"finishReason": "MAX_TOKENS", "content": {"role": "model"}}]}),
            "incomplete",
            json!({"reason": "max_output_tokens"}),
            json!([]),
        ),
        (
            json!({"candidates": [{"finishReason": "SAFETY"}]}),
            "incomplete",
            json!({"reason": "content_filter"}),
            json!([]),
        ),
        (
            json!({"promptFeedback": {"blockReason": "SAFETY"}}),
            "incomplete",
            json!({"reason": "content_filter"}),
            json!([]),
        ),
    ];
    for (body, status, details, output) in cases {
        let out = response_json(&gemini(body.clone()), &ResponseEcho::for_model("m"), &ctx());
        assert_eq!(out["status"], status, "{body}");
        assert_eq!(out["incomplete_details"], details, "{body}");
        assert_eq!(out["output"], output, "{body}");
    }
}

// ---------------------------------------------------------------------------------------------
// Codex: custom and local_shell tools, encrypted reasoning

#[test]
fn custom_and_local_shell_tools_are_declared() {
    let out = convert(json!({
        "input": "hi",
        "tools": [weather_tool(), apply_patch_tool(), {"type": "custom", "name": "note", "format": {"type": "text"}},
                  {"type": "local_shell"}, {"type": "web_search"}],
    }));
    let declarations = out["tools"][0]["functionDeclarations"].as_array().unwrap();
    let names: Vec<&str> = declarations.iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["get_weather", "apply_patch", "note", "local_shell"]);
    let input_param = json!({"type": "OBJECT", "required": ["input"], "properties": {"input": {"type": "STRING",
        "description": "The tool's free-form input, as raw text (not JSON)."}}});
    assert_eq!(
        declarations[1],
        json!({"name": "apply_patch", "parameters": input_param,
               "description": format!("Use the `apply_patch` tool to edit files.\n\nPut the tool's free-form input in the \
                   `input` string, exactly as raw text (not JSON). It must match this lark grammar:\n{PATCH_GRAMMAR}")})
    );
    assert_eq!(
        declarations[2],
        json!({"name": "note", "parameters": input_param,
               "description": "Put the tool's free-form input in the `input` string, as raw text (not JSON)."})
    );
    let shell = &declarations[3]["parameters"];
    assert_eq!(shell["required"], json!(["command"]));
    assert_eq!(shell["properties"]["command"]["items"], json!({"type": "STRING"}));
    assert_eq!(shell["properties"]["command"]["type"], "ARRAY");
    assert_eq!(shell["properties"]["workdir"]["type"], "STRING");
    assert_eq!(shell["properties"]["timeout_ms"]["type"], "INTEGER");

    // A huge grammar is cut at a character boundary.
    let grammar = "é".repeat(tools::MAX_GRAMMAR_CHARS);
    let out = convert(json!({"input": "hi", "tools": [{"type": "custom", "name": "big",
        "format": {"type": "grammar", "syntax": "regex", "definition": grammar}}]}));
    let description = out["tools"][0]["functionDeclarations"][0]["description"]
        .as_str()
        .unwrap();
    assert!(
        description.contains("It must match this regex grammar:\néé"),
        "{description}"
    );
    assert!(description.ends_with("\n… (grammar truncated)"), "{description}");
    assert!(description.len() < tools::MAX_GRAMMAR_CHARS + 300);
}

#[test]
fn tool_choice_names_custom_and_shell_tools() {
    let tools = json!([weather_tool(), apply_patch_tool(), {"type": "local_shell"}]);
    let cases: Vec<(Value, Value)> = vec![
        (
            json!({"type": "custom", "name": "apply_patch"}),
            json!({"mode": "ANY", "allowedFunctionNames": ["apply_patch"]}),
        ),
        (
            json!({"type": "function", "name": "get_weather"}),
            json!({"mode": "ANY", "allowedFunctionNames": ["get_weather"]}),
        ),
        (
            json!({"type": "local_shell"}),
            json!({"mode": "ANY", "allowedFunctionNames": ["local_shell"]}),
        ),
        (
            json!({"type": "allowed_tools", "mode": "required", "tools": [
                {"type": "custom", "name": "apply_patch"}, {"type": "function", "name": "get_weather"},
                {"type": "local_shell"}, {"type": "web_search"}]}),
            json!({"mode": "ANY", "allowedFunctionNames": ["apply_patch", "get_weather", "local_shell"]}),
        ),
    ];
    for (choice, expected) in cases {
        let out = convert(json!({"input": "hi", "tools": tools, "tool_choice": choice}));
        assert_eq!(out["toolConfig"]["functionCallingConfig"], expected, "{choice}");
    }
}

/// Everything Codex sends with each request is accepted (and echoed where OpenAI echoes it).
#[test]
fn codex_request_settings_are_accepted() {
    let body = json!({
        "model": "gemini-3-pro-preview", "instructions": "You are Codex.", "input": [user("hi")],
        "tools": [apply_patch_tool(), {"type": "local_shell"}, {"type": "web_search"}],
        "tool_choice": "auto", "parallel_tool_calls": false, "store": false, "stream": true,
        "include": ["reasoning.encrypted_content"], "prompt_cache_key": "019a-session",
        "reasoning": {"effort": "medium", "summary": "auto"}, "text": {"verbosity": "low"},
        "service_tier": null, "client_metadata": {"x": "y"},
    });
    let out = convert_for(G3, body.clone());
    assert_eq!(out["toolConfig"]["functionCallingConfig"], json!({"mode": "AUTO"}));
    assert_eq!(
        out["generationConfig"]["thinkingConfig"],
        json!({"includeThoughts": true, "thinkingLevel": "HIGH"})
    );
    let request = req(body);
    assert!(request.is_stream() && request.wants_encrypted_reasoning());
    let echo = ResponseEcho::new(&request);
    assert_eq!(echo.text, json!({"format": {"type": "text"}, "verbosity": "low"}));
    assert!(!echo.parallel_tool_calls);
    assert!(echo.encrypted_reasoning);
    assert_eq!(echo.tool_kinds.custom, ["apply_patch"]);
    assert!(echo.tool_kinds.local_shell);
}

/// Codex's loop: a signed `apply_patch` call answered with `custom_tool_call_output`, a
/// `local_shell_call` answered with `function_call_output` (what Codex sends), and one named by
/// its item id answered with `local_shell_call_output`.
#[test]
fn custom_and_shell_calls_map_back_with_signatures() {
    let patch = "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch\n";
    let id1 = tool_call_id(&ctx(), 0, 0, Some("c2lnLTE="));
    let id2 = tool_call_id(&ctx(), 0, 1, Some("c2lnLTI="));
    let input = json!([
        user("fix it call:apply_patch"),
        custom_call(&id1, "apply_patch", patch),
        custom_output(&id1, json!("Success. Updated the following files:\nA a.txt")),
        {"type": "local_shell_call", "id": "lsh_1", "call_id": id2, "status": "completed",
         "action": {"type": "exec", "command": ["ls", "-la"], "working_directory": "/repo", "timeout_ms": 1000, "env": {}}},
        output(&id2, json!("{\"output\":\"a.txt\",\"metadata\":{\"exit_code\":0}}")),
        {"type": "local_shell_call", "id": "lsh_2", "status": "completed",
         "action": {"type": "exec", "command": ["pwd"], "env": {}}},
        {"type": "local_shell_call_output", "id": "lsh_2", "output": "/repo"},
    ]);
    let out = convert_for(
        G3,
        json!({"tools": [apply_patch_tool(), {"type": "local_shell"}], "input": input}),
    );
    assert_eq!(
        out["contents"],
        json!([
            user_turn("fix it call:apply_patch"),
            {"role": "model", "parts": [{"functionCall": {"name": "apply_patch", "args": {"input": patch}},
                                         "thoughtSignature": "c2lnLTE="}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "apply_patch",
                "response": {"result": "Success. Updated the following files:\nA a.txt"}}}]},
            {"role": "model", "parts": [{"functionCall": {"name": "local_shell",
                "args": {"command": ["ls", "-la"], "workdir": "/repo", "timeout_ms": 1000}}, "thoughtSignature": "c2lnLTI="}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "local_shell",
                "response": {"output": "a.txt", "metadata": {"exit_code": 0}}}}]},
            {"role": "model", "parts": [{"functionCall": {"name": "local_shell", "args": {"command": ["pwd"]}},
                                         "thoughtSignature": SKIP_SIGNATURE}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "local_shell", "response": {"result": "/repo"}}}]},
        ])
    );
}

#[test]
fn turn_signatures_encode_and_decode() {
    let sigs = TurnSignatures {
        text: Some("dGV4dA==".into()),
        calls: vec![(0, "YQ==".into()), (2, "Yg==".into())],
    };
    let encoded = sigs.encode();
    assert!(encoded.starts_with("gempool.sig.v1."), "{encoded}");
    assert_eq!(TurnSignatures::decode(&encoded), Some(sigs));
    for foreign in ["gAAAAABoXyz", "", "gempool.sig.v1.!!!", "gempool.sig.v1.e30"] {
        assert_eq!(TurnSignatures::decode(foreign), None, "{foreign}");
    }
}

fn signed_reasoning(text: Option<&str>, calls: &[(usize, &str)]) -> Value {
    let sigs = TurnSignatures {
        text: text.map(str::to_string),
        calls: calls.iter().map(|(i, s)| (*i, s.to_string())).collect(),
    };
    json!({"type": "reasoning", "id": "rs_x", "summary": [{"type": "summary_text", "text": "hmm"}],
           "encrypted_content": sigs.encode()})
}

fn assistant(text: &str) -> Value {
    json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text, "annotations": []}]})
}

#[test]
fn replayed_reasoning_items_restore_signatures() {
    let text_sig = signed_reasoning(Some("dGV4dA=="), &[]);
    let signed_answer = json!({"role": "model", "parts": [{"text": "answer", "thoughtSignature": "dGV4dA=="}]});
    // gempool's order (signatures last) and OpenAI's (reasoning first) restore the same way.
    for input in [
        json!([user("q"), assistant("answer"), text_sig.clone(), user("next")]),
        json!([user("q"), text_sig.clone(), assistant("answer"), user("next")]),
    ] {
        let out = convert_for(G3, json!({"input": input}));
        assert_eq!(
            out["contents"],
            json!([user_turn("q"), signed_answer, user_turn("next")]),
            "{input}"
        );
    }
    // Text before calls, one call id rewritten by the client: the call signature comes back from
    // the reasoning item instead of the skip sentinel; a signed call_id wins.
    let signed_id = tool_call_id(&ctx(), 0, 1, Some("ZnJvbS1pZA=="));
    let input = json!([
        user("go"),
        assistant("Let me look."),
        call("call_plain", "get_weather", "{\"city\":\"Paris\"}"),
        call(&signed_id, "get_time", "{}"),
        signed_reasoning(Some("dGV4dA=="), &[(0, "Y2FsbA=="), (1, "b3RoZXI=")]),
        output("call_plain", json!("rainy")),
        output(&signed_id, json!("noon")),
    ]);
    let out = convert_for(G3, json!({"input": input}));
    assert_eq!(
        out["contents"][1],
        json!({"role": "model", "parts": [
            {"text": "Let me look.", "thoughtSignature": "dGV4dA=="},
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "Y2FsbA=="},
            {"functionCall": {"name": "get_time", "args": {}}, "thoughtSignature": "ZnJvbS1pZA=="},
        ]})
    );
    // Foreign encrypted content, and signatures with no turn to go to, are dropped; a turn that
    // held nothing but the signatures disappears and its neighbours merge.
    let cases: Vec<(Value, Value)> = vec![
        (
            json!([user("q"), {"type": "reasoning", "summary": [], "encrypted_content": "gAAAAABfoo"}, assistant("a")]),
            json!([user_turn("q"), {"role": "model", "parts": [{"text": "a"}]}]),
        ),
        (json!([user("q"), text_sig.clone()]), json!([user_turn("q")])),
        (
            json!([user("q"), text_sig.clone(), {"role": "assistant", "content": ""}, user("r")]),
            json!([{"role": "user", "parts": [{"text": "q"}, {"text": "r"}]}]),
        ),
    ];
    for (input, expected) in cases {
        let out = convert_for(G3, json!({"input": input}));
        assert_eq!(out["contents"], expected, "{input}");
        assert!(!out.to_string().contains("gempool-turn-signatures"), "{out}");
    }
}

/// Signatures never travel as text through the translation, so client text that looks like
/// the marker an older translation used is text like any other (never read as signatures,
/// never dropped).
#[test]
fn client_text_like_an_old_signature_marker_is_kept_as_text() {
    let marker = "\u{1}gempool-turn-signatures:0\u{1}";
    let input = json!([
        user(marker),
        assistant(marker),
        signed_reasoning(Some("dGV4dA=="), &[]),
        user("next")
    ]);
    let out = convert_for(G3, json!({"input": input}));
    assert_eq!(
        out["contents"],
        json!([
            user_turn(marker),
            {"role": "model", "parts": [{"text": marker, "thoughtSignature": "dGV4dA=="}]},
            user_turn("next")
        ])
    );
    // Alone (no reasoning item), the marker-like text is still kept and unsigned.
    let out = convert_for(G3, json!({"input": [user("q"), assistant(marker), user("r")]}));
    assert_eq!(
        out["contents"][1],
        json!({"role": "model", "parts": [{"text": marker}]})
    );
}

/// A reasoning item whose turn holds nothing else leaves no empty request behind: with no
/// other content the request is a 400 (it used to go upstream with no `contents`).
#[test]
fn input_of_nothing_but_signatures_is_a_400() {
    let (message, param) = error(json!({"input": [signed_reasoning(Some("dGV4dA=="), &[(0, "Y2FsbA==")])]}));
    assert_eq!(param, "input", "{message}");
    let out = convert_for(
        G3,
        json!({"instructions": "be brief", "input": [signed_reasoning(Some("dGV4dA=="), &[])]}),
    );
    assert_eq!(out["contents"], json!([user_turn(" ")]));
}

#[test]
fn whole_response_with_custom_shell_calls_and_encrypted_reasoning() {
    let patch = "*** Begin Patch\n*** End Patch\n";
    let resp = gemini(
        json!({"candidates": [{"index": 0, "finishReason": "STOP", "content": {"role": "model", "parts": [
            {"text": "Patching."},
            {"functionCall": {"name": "apply_patch", "args": {"input": patch}}, "thoughtSignature": "c2lnMQ=="},
            {"functionCall": {"name": "local_shell", "args": {"command": ["ls"], "workdir": "/tmp", "timeout_ms": 500}}},
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
        ]}}]}),
    );
    let echo = ResponseEcho::new(&req(json!({"input": "x", "include": ["reasoning.encrypted_content"],
        "tools": [weather_tool(), apply_patch_tool(), {"type": "local_shell"}]})));
    let out = response_json(&resp, &echo, &ctx());
    let encrypted = TurnSignatures {
        text: None,
        calls: vec![(0, "c2lnMQ==".into())],
    }
    .encode();
    assert_eq!(
        out["output"],
        json!([
            {"id": "msg_r1_0", "type": "message", "role": "assistant", "status": "completed",
             "content": [{"type": "output_text", "text": "Patching.", "annotations": [], "logprobs": []}]},
            {"id": "ctc_r1_1", "type": "custom_tool_call", "status": "completed",
             "call_id": tool_call_id(&ctx(), 0, 0, Some("c2lnMQ==")), "name": "apply_patch", "input": patch},
            {"id": "lsh_r1_2", "type": "local_shell_call", "status": "completed", "call_id": tool_call_id(&ctx(), 0, 1, None),
             "action": {"type": "exec", "command": ["ls"], "working_directory": "/tmp", "timeout_ms": 500, "env": {}}},
            {"id": "fc_r1_3", "type": "function_call", "status": "completed", "arguments": "{\"city\":\"Paris\"}",
             "call_id": tool_call_id(&ctx(), 0, 2, None), "name": "get_weather"},
            {"id": "rs_r1_4", "type": "reasoning", "summary": [], "encrypted_content": encrypted},
        ])
    );
    assert_eq!(out["tools"][1]["format"]["definition"], PATCH_GRAMMAR);

    // Without the tools declared as custom/shell, the same calls are plain function calls; without
    // `include`, no signature item.
    let plain = response_json(&resp, &ResponseEcho::for_model("m"), &ctx());
    let kinds: Vec<&str> = plain["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["message", "function_call", "function_call", "function_call"]);
}

/// A text-only Gemini 3 answer's signature survives the client's next request when the output
/// items are appended to the input, as Codex does.
#[test]
fn text_answer_signature_round_trips_through_output_items() {
    let resp = gemini(
        json!({"candidates": [{"index": 0, "finishReason": "STOP", "content": {"role": "model", "parts": [
        {"text": "thinking", "thought": true}, {"text": "Hello", "thoughtSignature": "bW9jay1zaWctMQ=="}]}}]}),
    );
    let body = json!({"input": [user("hi")], "include": ["reasoning.encrypted_content"],
                      "reasoning": {"effort": "low", "summary": "auto"}});
    let out = response_json(&resp, &ResponseEcho::new(&req(body.clone())), &ctx());
    let kinds: Vec<&str> = out["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["reasoning", "message", "reasoning"]);
    assert!(out["output"][0].get("encrypted_content").is_none());
    let mut input = body["input"].as_array().unwrap().clone();
    input.extend(out["output"].as_array().unwrap().iter().cloned());
    input.push(user("more"));
    let next = convert_for(G3, json!({"input": input}));
    assert_eq!(
        next["contents"],
        json!([
            user_turn("hi"),
            {"role": "model", "parts": [{"text": "Hello", "thoughtSignature": "bW9jay1zaWctMQ=="}]},
            user_turn("more"),
        ])
    );
}

#[test]
fn local_shell_actions_from_gemini_arguments() {
    let cases: Vec<(Value, Value)> = vec![
        (
            json!({"command": ["git", "status"]}),
            json!({"type": "exec", "command": ["git", "status"], "env": {}}),
        ),
        (
            json!({"command": "ls -la | head", "workdir": "/w", "timeout_ms": 2500.0}),
            json!({"type": "exec", "command": ["bash", "-lc", "ls -la | head"], "working_directory": "/w",
                   "timeout_ms": 2500, "env": {}}),
        ),
        (json!({}), json!({"type": "exec", "command": [], "env": {}})),
    ];
    for (args, expected) in cases {
        assert_eq!(tools::local_shell_action(&args), expected, "{args}");
    }
    assert_eq!(tools::custom_call_input(&json!({"input": "raw"})), "raw");
    assert_eq!(tools::custom_call_input(&json!({"patch": "x"})), "{\"patch\":\"x\"}");
    assert_eq!(tools::custom_call_input(&Value::Null), "");
}
