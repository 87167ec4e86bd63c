use super::*;
use crate::protocol::gemini::signatures::SKIP_SIGNATURE;
use crate::protocol::schema;
use serde_json::json;

const MODEL: &str = "gemini-2.5-flash";

fn req(body: Value) -> OpenAiChatRequest {
    serde_json::from_value(body).unwrap()
}

fn convert_for(model: &str, body: Value) -> Value {
    serde_json::to_value(chat_request_to_gemini(&req(body), model).unwrap()).unwrap()
}

fn convert(body: Value) -> Value {
    convert_for(MODEL, body)
}

/// The `(message, param)` of the 400 `body` must produce.
fn error(body: Value) -> (String, String) {
    match chat_request_to_gemini(&req(body.clone()), MODEL) {
        Err(GatewayError::InvalidRequest { message, param }) => (message, param.unwrap_or_default()),
        other => panic!("expected a 400 for {body}, got {other:?}"),
    }
}

fn user(content: Value) -> Value {
    json!({"role": "user", "content": content})
}

fn call(id: &str, name: &str, arguments: &str) -> Value {
    json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}})
}

fn tool(id: &str, content: Value) -> Value {
    json!({"role": "tool", "tool_call_id": id, "content": content})
}

#[test]
fn system_and_developer_messages_are_concatenated_in_order() {
    let out = convert(json!({"messages": [
        {"role": "system", "content": "one"},
        user(json!("hi")),
        {"role": "developer", "content": [{"type": "text", "text": "two"}, {"type": "text", "text": "three"}]},
        {"role": "system", "content": ""},
    ]}));
    assert_eq!(
        out["systemInstruction"],
        json!({"parts": [{"text": "one\n\ntwo\n\nthree"}]})
    );
    assert_eq!(out["contents"], json!([{"role": "user", "parts": [{"text": "hi"}]}]));
    assert!(out.get("generationConfig").is_none());
}

#[test]
fn consecutive_same_role_turns_are_merged_and_empty_ones_dropped() {
    let out = convert(json!({"messages": [
        user(json!("a")), user(json!("")), user(json!([{"type": "text", "text": "b"}])),
        {"role": "assistant", "content": "c"}, {"role": "assistant", "content": null}, {"role": "assistant", "content": "d"},
        user(json!("e")),
    ]}));
    assert_eq!(
        out["contents"],
        json!([
            {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]},
            {"role": "model", "parts": [{"text": "c"}, {"text": "d"}]},
            {"role": "user", "parts": [{"text": "e"}]},
        ])
    );
}

#[test]
fn system_only_conversation_gets_a_blank_user_turn() {
    let out = convert(json!({"messages": [{"role": "system", "content": "s"}]}));
    assert_eq!(out["contents"], json!([{"role": "user", "parts": [{"text": " "}]}]));
}

#[test]
fn user_content_parts_map_to_gemini_parts() {
    let cases = [
        (json!({"type": "text", "text": "hi"}), json!({"text": "hi"})),
        (
            json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw==", "detail": "high"}}),
            json!({"inlineData": {"mimeType": "image/png", "data": "iVBORw=="}}),
        ),
        (
            json!({"type": "image_url", "image_url": {"url": "https://example.com/a/cat.JPG?size=2#x"}}),
            json!({"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/a/cat.JPG?size=2#x"}}),
        ),
        (
            json!({"type": "image_url", "image_url": {"url": "https://www.youtube.com/watch?v=abc"}}),
            json!({"fileData": {"fileUri": "https://www.youtube.com/watch?v=abc"}}),
        ),
        (
            json!({"type": "input_audio", "input_audio": {"data": "UklGR", "format": "wav"}}),
            json!({"inlineData": {"mimeType": "audio/wav", "data": "UklGR"}}),
        ),
        (
            json!({"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERg==", "filename": "a.pdf"}}),
            json!({"inlineData": {"mimeType": "application/pdf", "data": "JVBERg=="}}),
        ),
        (
            json!({"type": "file", "file": {"file_data": "iVBORw==", "filename": "chart.png"}}),
            json!({"inlineData": {"mimeType": "image/png", "data": "iVBORw=="}}),
        ),
        (
            json!({"type": "file", "file": {"file_data": "JVBERg=="}}),
            json!({"inlineData": {"mimeType": "application/pdf", "data": "JVBERg=="}}),
        ),
    ];
    for (part, expected) in cases {
        let out = convert(json!({"messages": [user(json!([part.clone()]))]}));
        assert_eq!(out["contents"][0]["parts"][0], expected, "{part}");
    }
}

#[test]
fn unusable_content_parts_are_400s_naming_the_part() {
    let at = "messages[0].content[0]";
    let cases = [
        (
            json!({"type": "image_url", "image_url": {"url": "https://example.com/image"}}),
            format!("{at}.image_url.url"),
        ),
        (
            json!({"type": "image_url", "image_url": {"url": "ftp://example.com/a.png"}}),
            format!("{at}.image_url.url"),
        ),
        (
            json!({"type": "image_url", "image_url": {"url": "data:image/png,rawbytes"}}),
            format!("{at}.image_url.url"),
        ),
        (
            json!({"type": "image_url", "image_url": {"url": "data:;base64,AAAA"}}),
            format!("{at}.image_url.url"),
        ),
        (
            json!({"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}),
            format!("{at}.input_audio"),
        ),
        (
            json!({"type": "input_audio", "input_audio": {"data": "AA", "format": ""}}),
            format!("{at}.input_audio.format"),
        ),
        (
            json!({"type": "file", "file": {"file_id": "file-abc"}}),
            format!("{at}.file.file_id"),
        ),
        (json!({"type": "file", "file": {}}), format!("{at}.file")),
        (json!({"type": "video", "video": {}}), format!("{at}.type")),
    ];
    for (part, param) in cases {
        assert_eq!(
            error(json!({"messages": [user(json!([part.clone()]))]})).1,
            param,
            "{part}"
        );
    }
    let (message, param) =
        error(json!({"messages": [user(json!([{"type": "image_url", "image_url": "https://x.io/img"}]))]}));
    assert!(message.contains("data URI"), "{message}");
    assert_eq!(param, format!("{at}.image_url.url"));
}

#[test]
fn text_only_roles_reject_other_parts() {
    let image = json!([{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}]);
    let (_, param) = error(json!({"messages": [{"role": "system", "content": image.clone()}, user(json!("x"))]}));
    assert_eq!(param, "messages[0].content[0].type");
    let (_, param) = error(json!({"messages": [user(json!("x")), {"role": "assistant", "content": image}]}));
    assert_eq!(param, "messages[1].content[0].type");
}

#[test]
fn bad_conversations_are_400s() {
    assert_eq!(error(json!({"messages": []})).1, "messages");
    assert_eq!(error(json!({})).1, "messages");
    assert_eq!(
        error(json!({"messages": [{"role": "wizard", "content": "x"}]})).1,
        "messages[0].role"
    );
    assert_eq!(error(json!({"messages": [user(json!(""))]})).1, "messages");
}

#[test]
fn tool_call_arguments_are_parsed_into_args() {
    let cases = [
        (json!("{\"city\": \"Paris\"}"), json!({"city": "Paris"})),
        (json!(""), json!({})),
        (json!("  "), json!({})),
        (json!(null), json!({})),
        (json!("null"), json!({})),
        (json!({"already": "object"}), json!({"already": "object"})),
    ];
    for (arguments, args) in cases {
        let out = convert(json!({"messages": [
            user(json!("q")),
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": arguments.clone()}}]},
            tool("call_1", json!("ok")),
        ]}));
        assert_eq!(
            out["contents"][1]["parts"][0]["functionCall"],
            json!({"name": "f", "args": args}),
            "{arguments}"
        );
    }
}

#[test]
fn invalid_arguments_are_400s_naming_the_param() {
    for arguments in ["{not json", "[1, 2]", "42"] {
        let (message, param) = error(json!({"messages": [
            user(json!("q")),
            {"role": "assistant", "tool_calls": [call("call_1", "f", arguments)]},
            tool("call_1", json!("ok")),
        ]}));
        assert_eq!(param, "messages[1].tool_calls[0].function.arguments", "{arguments}");
        assert!(message.contains("arguments"), "{message}");
    }
}

#[test]
fn tool_results_form_one_user_turn_in_call_order_with_recovered_names() {
    let out = convert(json!({"messages": [
        user(json!("weather and time in Paris?")),
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            call("call_a", "get_weather", "{\"city\":\"Paris\"}"), call("call_b", "get_time", "{}")]},
        tool("call_b", json!([{"type": "text", "text": "12:"}, {"type": "text", "text": "00"}])),
        tool("call_a", json!("{\"temp\": 20}")),
        {"role": "assistant", "content": "It is 20°C at noon."},
    ]}));
    assert_eq!(
        out["contents"],
        json!([
            {"role": "user", "parts": [{"text": "weather and time in Paris?"}]},
            {"role": "model", "parts": [
                {"text": "Checking."},
                // The active loop's first call needs a signature; this history has none.
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": SKIP_SIGNATURE},
                {"functionCall": {"name": "get_time", "args": {}}},
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temp": 20}}},
                {"functionResponse": {"name": "get_time", "response": {"result": "12:00"}}},
            ]},
            {"role": "model", "parts": [{"text": "It is 20°C at noon."}]},
        ])
    );
}

#[test]
fn tool_results_with_images_keep_them_in_the_response_turn() {
    // The Responses API allows images in function_call_output (Codex's view_image / MCP tools).
    let body = json!({"messages": [
        user(json!("q")),
        {"role": "assistant", "tool_calls": [call("c1", "view_image", "{}"), call("c2", "shell", "{}")]},
        tool("c1", json!([
            {"type": "input_text", "text": "attached"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
            {"type": "image_url", "image_url": {"url": "https://x.io/a.png"}}
        ])),
        tool("c2", json!("ok")),
    ]});
    let g25 = convert(body.clone());
    assert_eq!(
        g25["contents"][2]["parts"],
        json!([
            {"functionResponse": {"name": "view_image", "response": {"result": "attached"}}},
            {"functionResponse": {"name": "shell", "response": {"result": "ok"}}},
            {"inlineData": {"mimeType": "image/png", "data": "iVBO"}},
            {"fileData": {"mimeType": "image/png", "fileUri": "https://x.io/a.png"}}
        ])
    );
    // Gemini 3 takes inline images inside the response; URLs still follow it.
    let g3 = convert_for("gemini-3-pro-preview", body);
    assert_eq!(
        g3["contents"][2]["parts"],
        json!([
            {"functionResponse": {"name": "view_image", "response": {"result": "attached"},
                "parts": [{"inlineData": {"mimeType": "image/png", "data": "iVBO"}}]}},
            {"functionResponse": {"name": "shell", "response": {"result": "ok"}}},
            {"fileData": {"mimeType": "image/png", "fileUri": "https://x.io/a.png"}}
        ])
    );
    // Audio is still not a tool result.
    let (_, param) = error(json!({"messages": [
        user(json!("q")),
        {"role": "assistant", "tool_calls": [call("c1", "f", "{}")]},
        tool("c1", json!([{"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}}])),
    ]}));
    assert_eq!(param, "messages[2].content[0].type");
}

#[test]
fn non_object_tool_results_are_wrapped() {
    for (content, response) in [
        (json!("sunny"), json!({"result": "sunny"})),
        (json!("[1, 2]"), json!({"result": "[1, 2]"})),
        (json!("42"), json!({"result": "42"})),
        (json!(""), json!({"result": ""})),
        (json!(null), json!({"result": ""})),
    ] {
        let out = convert(json!({"messages": [
            user(json!("q")), {"role": "assistant", "tool_calls": [call("c1", "f", "{}")]}, tool("c1", content.clone()),
        ]}));
        assert_eq!(
            out["contents"][2]["parts"][0]["functionResponse"]["response"], response,
            "{content}"
        );
    }
}

#[test]
fn tool_pairing_errors_are_400s() {
    let q = user(json!("q"));
    let calls = json!({"role": "assistant", "tool_calls": [call("c1", "f", "{}"), call("c2", "g", "{}")]});
    let cases = [
        (
            "unknown id",
            json!([q, calls, tool("c1", json!("x")), tool("zzz", json!("x"))]),
            "messages[3].tool_call_id",
            "unknown tool_call_id",
        ),
        (
            "missing result before user",
            json!([q, calls, tool("c1", json!("x")), user(json!("next"))]),
            "messages[1]",
            "c2",
        ),
        ("trailing unanswered calls", json!([q, calls]), "messages[1]", "c1, c2"),
        (
            "duplicate result",
            json!([q, calls, tool("c1", json!("x")), tool("c1", json!("y"))]),
            "messages[3].tool_call_id",
            "duplicated",
        ),
        (
            "result for an older turn",
            json!([
                q,
                calls,
                tool("c1", json!("x")),
                tool("c2", json!("x")),
                tool("c1", json!("again"))
            ]),
            "messages[4].tool_call_id",
            "duplicated",
        ),
        (
            "no tool_call_id",
            json!([q, calls, {"role": "tool", "content": "x"}]),
            "messages[2].tool_call_id",
            "require",
        ),
        (
            "duplicate call ids",
            json!([q, {"role": "assistant", "tool_calls": [call("c1", "f", "{}"), call("c1", "g", "{}")]}]),
            "messages[1].tool_calls[1].id",
            "duplicated",
        ),
        (
            "call without id",
            json!([q, {"role": "assistant", "tool_calls": [call("", "f", "{}")]}]),
            "messages[1].tool_calls[0].id",
            "id",
        ),
        (
            "custom tool call",
            json!([q, {"role": "assistant", "tool_calls": [{"id": "c", "type": "custom", "function": {"name": "f"}}]}]),
            "messages[1].tool_calls[0].type",
            "custom",
        ),
    ];
    for (case, messages, param, fragment) in cases {
        let (message, p) = error(json!({ "messages": messages }));
        assert_eq!(p, param, "{case}");
        assert!(message.contains(fragment), "{case}: {message}");
    }
}

#[test]
fn legacy_function_messages_still_work() {
    let out = convert(json!({"messages": [
        user(json!("q")),
        {"role": "assistant", "content": null, "function_call": {"name": "f", "arguments": "{\"x\":1}"}},
        {"role": "function", "name": "f", "content": "done"},
    ]}));
    assert_eq!(
        out["contents"][1]["parts"][0]["functionCall"],
        json!({"name": "f", "args": {"x": 1}})
    );
    assert_eq!(
        out["contents"][2]["parts"][0]["functionResponse"],
        json!({"name": "f", "response": {"result": "done"}})
    );
}

#[test]
fn tools_become_one_tool_with_function_declarations() {
    let out = convert(json!({"messages": [user(json!("q"))], "tools": [
        {"type": "function", "function": {"name": "get_weather", "description": "Weather", "strict": true,
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false}}},
        {"type": "function", "function": {"name": "now", "description": "", "parameters": {"type": "object", "properties": {}}}},
        {"function": {"name": "bare"}},
    ]}));
    let declarations = out["tools"][0]["functionDeclarations"].as_array().unwrap();
    assert_eq!(out["tools"].as_array().unwrap().len(), 1);
    assert_eq!(declarations.len(), 3);
    assert_eq!(declarations[0]["name"], "get_weather");
    assert_eq!(declarations[0]["description"], "Weather");
    assert!(declarations[0]["parameters"]["properties"]["city"].is_object());
    assert!(!declarations[0].to_string().contains("strict"));
    assert!(!declarations[0].to_string().contains("additionalProperties"));
    assert_eq!(declarations[1], json!({"name": "now"}));
    assert_eq!(declarations[2], json!({"name": "bare"}));
    assert!(out.get("toolConfig").is_none());
}

#[test]
fn tool_choice_maps_to_function_calling_config() {
    let cases = [
        (json!("none"), json!({"mode": "NONE"})),
        (json!("auto"), json!({"mode": "AUTO"})),
        (json!("required"), json!({"mode": "ANY"})),
        (
            json!({"type": "function", "function": {"name": "f"}}),
            json!({"mode": "ANY", "allowedFunctionNames": ["f"]}),
        ),
        (
            json!({"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [{"type": "function", "function": {"name": "g"}}]}}),
            json!({"mode": "ANY", "allowedFunctionNames": ["g"]}),
        ),
        (
            json!({"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": [{"type": "function", "function": {"name": "g"}}]}}),
            json!({"mode": "AUTO"}),
        ),
    ];
    let tools =
        json!([{"type": "function", "function": {"name": "f"}}, {"type": "function", "function": {"name": "g"}}]);
    for (choice, expected) in cases {
        let out = convert(json!({"messages": [user(json!("q"))], "tools": tools, "tool_choice": choice.clone()}));
        assert_eq!(
            out["toolConfig"],
            json!({"functionCallingConfig": expected}),
            "{choice}"
        );
    }
    // Without tools there is nothing to configure.
    let out = convert(json!({"messages": [user(json!("q"))], "tool_choice": "required"}));
    assert!(out.get("toolConfig").is_none());
}

#[test]
fn bad_tools_and_tool_choices_are_400s() {
    let tools = json!([{"type": "function", "function": {"name": "f"}}]);
    let cases = [
        (
            json!({"tools": [{"type": "custom", "custom": {"name": "x"}}]}),
            "tools[0].type",
        ),
        (
            json!({"tools": [{"type": "function", "function": {"name": ""}}]}),
            "tools[0].function.name",
        ),
        (json!({"tools": tools, "tool_choice": "sometimes"}), "tool_choice"),
        (
            json!({"tools": tools, "tool_choice": {"type": "function", "function": {}}}),
            "tool_choice.function.name",
        ),
        (
            json!({"tools": tools, "tool_choice": {"type": "mystery"}}),
            "tool_choice.type",
        ),
    ];
    for (extra, param) in cases {
        let mut body = json!({"messages": [user(json!("q"))]});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        assert_eq!(error(body).1, param, "{extra}");
    }
}

#[test]
fn response_format_maps_to_mime_type_and_schema() {
    let schema = json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"], "additionalProperties": false});
    let cases = [
        (json!({"type": "text"}), None, None),
        (json!({"type": "json_object"}), Some("application/json"), None),
        (
            json!({"type": "json_schema", "json_schema": {"name": "x", "strict": true, "schema": schema}}),
            Some("application/json"),
            Some(schema::response_schema(&schema)),
        ),
    ];
    for (format, mime, response_schema) in cases {
        let out = convert(json!({"messages": [user(json!("q"))], "response_format": format.clone()}));
        let config = &out["generationConfig"];
        assert_eq!(config["responseMimeType"].as_str(), mime, "{format}");
        assert_eq!(config.get("responseSchema").cloned(), response_schema, "{format}");
    }
    assert_eq!(
        error(json!({"messages": [user(json!("q"))], "response_format": {"type": "json_schema"}})).1,
        "response_format.json_schema"
    );
    assert_eq!(
        error(json!({"messages": [user(json!("q"))], "response_format": {"type": "yaml"}})).1,
        "response_format.type"
    );
}

#[test]
fn sampling_parameters_map_to_generation_config() {
    let cases = [
        (json!({"max_tokens": 10}), json!({"maxOutputTokens": 10})),
        (
            json!({"max_tokens": 10, "max_completion_tokens": 20}),
            json!({"maxOutputTokens": 20}),
        ),
        (json!({"stop": "END"}), json!({"stopSequences": ["END"]})),
        (
            json!({"stop": ["a", "", "b", "c", "d", "e"]}),
            json!({"stopSequences": ["a", "b", "c", "d", "e"]}),
        ),
        (json!({"n": 2}), json!({"candidateCount": 2})),
        (
            json!({"temperature": 0.5, "top_p": 0.9, "top_k": 40, "seed": 7}),
            json!({"temperature": 0.5, "topP": 0.9, "topK": 40, "seed": 7}),
        ),
        (
            json!({"presence_penalty": 0.5, "frequency_penalty": -0.5}),
            json!({"presencePenalty": 0.5, "frequencyPenalty": -0.5}),
        ),
        (json!({"presence_penalty": 0.0, "frequency_penalty": 0}), Value::Null),
        (
            json!({"logprobs": true, "top_logprobs": 3}),
            json!({"responseLogprobs": true, "logprobs": 3}),
        ),
        (json!({"logprobs": false, "top_logprobs": 3}), Value::Null),
        (
            json!({"user": "u1", "metadata": {"a": "b"}, "store": false, "parallel_tool_calls": false}),
            Value::Null,
        ),
    ];
    for (extra, expected) in cases {
        let mut body = json!({"messages": [user(json!("q"))]});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let out = convert(body);
        assert_eq!(
            out.get("generationConfig").cloned().unwrap_or(Value::Null),
            expected,
            "{extra}"
        );
    }
}

#[test]
fn more_than_five_stop_sequences_is_a_400() {
    let (message, param) = error(json!({"messages": [user(json!("q"))], "stop": ["1", "2", "3", "4", "5", "6"]}));
    assert_eq!(param, "stop");
    assert!(message.contains('5'), "{message}");
}

#[test]
fn reasoning_effort_maps_per_model_family() {
    let level = |l: &str, include: bool| json!({"includeThoughts": include, "thinkingLevel": l});
    let budget = |b: i64, include: bool| json!({"includeThoughts": include, "thinkingBudget": b});
    let cases = [
        ("gemini-3-flash-preview", "none", level("MINIMAL", false)),
        ("gemini-3-flash-preview", "minimal", level("MINIMAL", true)),
        ("gemini-3-flash-preview", "low", level("LOW", true)),
        ("gemini-3-flash-preview", "medium", level("MEDIUM", true)),
        ("gemini-3-flash-preview", "high", level("HIGH", true)),
        ("models/gemini-3-pro-preview", "none", level("LOW", false)),
        ("gemini-3-pro-preview", "minimal", level("LOW", true)),
        ("gemini-3-pro-preview", "low", level("LOW", true)),
        ("gemini-3-pro-preview", "medium", level("HIGH", true)),
        ("gemini-3-pro-preview", "xhigh", level("HIGH", true)),
        ("gemini-3.5-pro", "max", level("HIGH", true)),
        ("gemini-2.5-flash", "none", budget(0, false)),
        ("gemini-2.5-flash", "minimal", budget(512, true)),
        ("gemini-2.5-flash", "low", budget(1024, true)),
        ("gemini-2.5-flash", "medium", budget(8192, true)),
        ("gemini-2.5-flash-lite", "high", budget(24576, true)),
        ("gemini-2.5-pro", "none", budget(128, false)),
        ("gemini-2.5-pro", "max", budget(32768, true)),
        ("gemini-flash-latest", "low", budget(1024, true)),
        ("gemini-2.0-flash", "high", Value::Null),
        ("gemma-3-27b-it", "high", Value::Null),
    ];
    for (model, effort, expected) in cases {
        let out = convert_for(
            model,
            json!({"messages": [user(json!("q"))], "reasoning_effort": effort}),
        );
        let got = out
            .get("generationConfig")
            .and_then(|g| g.get("thinkingConfig"))
            .cloned()
            .unwrap_or(Value::Null);
        assert_eq!(got, expected, "{model} {effort}");
    }
    assert_eq!(
        error(json!({"messages": [user(json!("q"))], "reasoning_effort": "extreme"})).1,
        "reasoning_effort"
    );
}

#[test]
fn explicit_google_thinking_config_wins_and_never_sends_both() {
    let cases = [
        (
            "gemini-2.5-flash",
            json!({"reasoning_effort": "high", "extra_body": {"google": {"thinking_config": {"thinking_budget": 2048, "include_thoughts": true}}}}),
            json!({"includeThoughts": true, "thinkingBudget": 2048}),
        ),
        (
            "gemini-3-pro-preview",
            json!({"reasoning_effort": "high", "google": {"thinking_config": {"thinking_level": "low"}}}),
            json!({"includeThoughts": true, "thinkingLevel": "LOW"}),
        ),
        (
            "gemini-3-pro-preview",
            json!({"reasoning_effort": "low", "google": {"thinking_config": {"thinking_budget": 4096}}}),
            json!({"includeThoughts": true, "thinkingBudget": 4096}),
        ),
        (
            "gemini-3-flash-preview",
            json!({"extra_body": {"google": {"thinking_config": {"thinking_budget": 100, "thinking_level": "high"}}}}),
            json!({"thinkingLevel": "HIGH"}),
        ),
        (
            "gemini-2.5-flash",
            json!({"extra_body": {"google": {"thinkingConfig": {"thinkingBudget": 100, "thinkingLevel": "high", "includeThoughts": false}}}}),
            json!({"includeThoughts": false, "thinkingBudget": 100}),
        ),
        (
            "gemini-2.5-flash",
            json!({"google": {"thinking_config": {"include_thoughts": true}}}),
            json!({"includeThoughts": true}),
        ),
        (
            "gemini-2.0-flash",
            json!({"google": {"thinking_config": {"thinking_budget": 0}}}),
            json!({"thinkingBudget": 0}),
        ),
    ];
    for (model, extra, expected) in cases {
        let mut body = json!({"messages": [user(json!("q"))]});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let out = convert_for(model, body);
        assert_eq!(out["generationConfig"]["thinkingConfig"], expected, "{model} {extra}");
    }
    let (_, param) =
        error(json!({"messages": [user(json!("q"))], "google": {"thinking_config": {"thinking_budget": "lots"}}}));
    assert_eq!(param, "extra_body.google.thinking_config");
}

#[test]
fn google_extras_carry_safety_settings_and_cached_content() {
    let out = convert(json!({"messages": [user(json!("q"))], "extra_body": {"google": {
        "safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
        "cached_content": "cachedContents/abc"}}}));
    assert_eq!(
        out["safetySettings"],
        json!([{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}])
    );
    assert_eq!(out["cachedContent"], "cachedContents/abc");
    let (_, param) = error(json!({"messages": [user(json!("q"))], "google": {"safety_settings": "none"}}));
    assert_eq!(param, "extra_body.google.safety_settings");
}

/// Thought signatures round-tripping through tool-call ids.
mod signatures;

#[test]
fn n_outside_geminis_candidate_range_is_a_400() {
    for n in [0, 9, 128] {
        let (_, param) = error(json!({"model": "m", "n": n, "messages": [user(json!("hi"))]}));
        assert_eq!(param, "n");
    }
    let ok = convert(json!({"model": "m", "n": 8, "messages": [user(json!("hi"))]}));
    assert_eq!(ok["generationConfig"]["candidateCount"], 8);
}

#[test]
fn image_and_file_data_that_is_not_base64_is_a_400() {
    let (_, param) = error(json!({"model": "m", "messages": [user(json!([
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,not base64!"}}
    ]))]}));
    assert_eq!(param, "messages[0].content[0].image_url.url");
    let (_, param) = error(json!({"model": "m", "messages": [user(json!([
        {"type": "file", "file": {"file_data": "%%%%", "filename": "a.pdf"}}
    ]))]}));
    assert!(param.ends_with("file_data"), "{param}");
}

#[test]
fn a_file_id_naming_a_gemini_file_becomes_its_file_data() {
    let out = convert(json!({"model": "gemini-2.5-flash", "messages": [user(json!([
        {"type": "file", "file": {"file_id": "files/abc123", "filename": "report.pdf"}},
        {"type": "text", "text": "summarize"}
    ]))]}));
    let data = &out["contents"][0]["parts"][0]["fileData"];
    assert_eq!(
        data["fileUri"],
        "https://generativelanguage.googleapis.com/v1beta/files/abc123"
    );
    assert_eq!(data["mimeType"], "application/pdf");
}
