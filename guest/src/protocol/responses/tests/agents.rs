//! What current Codex sends (`tests/fixtures/agents/codex-*.json`, recorded from the pinned
//! agent by the end-to-end suite) and the namespaced tools it declares through
//! `additional_tools` input items.

use crate::error::GatewayError;
use crate::protocol::gemini::{GenerateContentRequest, GenerateContentResponse};
use crate::protocol::responses::*;
use serde_json::json;

const G3: &str = "gemini-3.1-pro-preview";

/// Codex 0.171.0's first request with its default model (`gpt-6.2-sol`).
const CODEX_FIRST_TURN: &str = include_str!("../../../../../tests/fixtures/agents/codex-0.171.0-default-1.json");
/// `-m gpt-5-codex`: top-level `tools`, no namespaces.
const CODEX_PINNED: &str = include_str!("../../../../../tests/fixtures/agents/codex-0.171.0-pinned-1.json");
/// The second request of a tool loop: a replayed namespaced `function_call` and its output.
const CODEX_TOOL_LOOP: &str = include_str!("../../../../../tests/fixtures/agents/codex-0.171.0-tool-loop-2.json");

fn ctx() -> RequestContext {
    crate::protocol::test_support::ctx("n1", 1_760_000_000)
}

fn req(body: Value) -> OpenAiResponsesRequest {
    serde_json::from_value(body).unwrap()
}

fn declared_names(gemini: &GenerateContentRequest) -> Vec<String> {
    gemini
        .tools
        .iter()
        .flat_map(|t| &t.function_declarations)
        .map(|d| d.name.clone())
        .collect()
}

fn clock_namespace() -> Value {
    json!({"type": "namespace", "name": "clock", "description": "Tools for time.", "tools": [
        {"type": "function", "name": "sleep", "description": "Pause.", "strict": false,
         "parameters": {"type": "object", "properties": {"duration_ms": {"type": "number"}}, "required": ["duration_ms"]}},
        {"type": "custom", "name": "cron", "description": "A crontab line."}
    ]})
}

fn additional_tools(tools: Value) -> Value {
    json!({"type": "additional_tools", "id": "at_1", "role": "developer", "tools": tools})
}

fn user(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

fn call_response(name: &str, args: Value) -> GenerateContentResponse {
    serde_json::from_value(json!({
        "candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"name": name, "args": args}, "thoughtSignature": "c2ln"}
        ]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1, "totalTokenCount": 4}
    }))
    .unwrap()
}

/// The Gemini function names a list of Responses tools should become: `function` and
/// `custom` tools by name, those inside a `namespace` as `<namespace>__<name>`, hosted tools
/// skipped.
fn expected_declarations(tools: &Value) -> Vec<String> {
    let declarable = |t: &&Value| t["type"] == "function" || t["type"] == "custom";
    let mut names = Vec::new();
    for tool in tools.as_array().expect("a tool list") {
        if tool["type"] == "namespace" {
            let namespace = tool["name"].as_str().unwrap();
            names.extend(
                tool["tools"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(declarable)
                    .map(|t| namespaced_name(namespace, t["name"].as_str().unwrap())),
            );
        } else if declarable(&tool) {
            names.push(tool["name"].as_str().unwrap().to_string());
        }
    }
    names
}

#[test]
fn namespaced_tools_from_additional_tools_and_top_level_are_flattened() {
    let body = json!({
        "model": "gpt-6.2-sol",
        "tools": [{"type": "function", "name": "top", "parameters": {"type": "object"}}],
        "input": [
            additional_tools(json!([
                clock_namespace(),
                {"type": "namespace", "name": "functions", "description": "", "tools": [
                    {"type": "function", "name": "wait", "parameters": {"type": "object", "properties": {}}}
                ]},
                {"type": "web_search"}
            ])),
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Be Codex."}]},
            user("hi")
        ]
    });
    let gemini = responses_request_to_gemini(&req(body), G3).unwrap();
    assert_eq!(
        declared_names(&gemini),
        ["top", "clock__sleep", "clock__cron", "functions__wait"]
    );
    let declarations = &gemini.tools[0].function_declarations;
    // The namespace's description introduces each of its tools; the custom tool takes `input`.
    assert_eq!(
        declarations[1].description.as_deref(),
        Some("Tools for time.\n\nPause.")
    );
    assert!(declarations[2]
        .description
        .as_deref()
        .unwrap()
        .starts_with("Tools for time.\n\nA crontab line."));
    let cron = serde_json::to_value(&declarations[2].parameters).unwrap();
    assert_eq!(cron["required"], json!(["input"]));
    // The developer message is system text; the additional_tools item adds no content.
    let value = serde_json::to_value(&gemini).unwrap();
    assert_eq!(value["systemInstruction"]["parts"][0]["text"], "Be Codex.");
    assert_eq!(value["contents"], json!([{"role": "user", "parts": [{"text": "hi"}]}]));
}

#[test]
fn calls_of_namespaced_tools_come_back_under_their_namespace() {
    let request = req(json!({
        "model": "gpt-6.2-sol", "stream": true,
        "input": [additional_tools(json!([clock_namespace()])), user("call:clock__sleep")]
    }));
    let echo = ResponseEcho::new(&request);

    // Whole response.
    let whole = response_json(
        &call_response("clock__sleep", json!({"duration_ms": 1.5})),
        &echo,
        &ctx(),
    );
    let item = &whole["output"][0];
    assert_eq!(item["type"], "function_call");
    assert_eq!(item["name"], "sleep");
    assert_eq!(item["namespace"], "clock");
    assert_eq!(item["arguments"], r#"{"duration_ms":1.5}"#);

    let custom = response_json(
        &call_response("clock__cron", json!({"input": "* * * * *"})),
        &echo,
        &ctx(),
    );
    let item = &custom["output"][0];
    assert_eq!(item["type"], "custom_tool_call");
    assert_eq!(item["name"], "cron");
    assert_eq!(item["namespace"], "clock");
    assert_eq!(item["input"], "* * * * *");

    // Streamed: every event that carries the item (and the arguments' `done`) names it so.
    let mut translator = ResponsesStreamTranslator::new("gpt-6.2-sol", ctx()).with_echo(echo);
    let mut frames = translator.on_chunk(&call_response("clock__sleep", json!({"duration_ms": 1.5})));
    frames.extend(translator.finish());
    let text: String = frames.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect();
    let events: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let items: Vec<&Value> = events
        .iter()
        .filter(|e| {
            e["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("response.output_item."))
        })
        .map(|e| &e["item"])
        .collect();
    assert_eq!(items.len(), 2, "{text}");
    for item in &items {
        assert_eq!(
            (item["name"].as_str(), item["namespace"].as_str()),
            (Some("sleep"), Some("clock"))
        );
    }
    let done = events
        .iter()
        .find(|e| e["type"] == "response.function_call_arguments.done")
        .unwrap();
    assert_eq!(done["name"], "sleep");
    let completed = events.iter().find(|e| e["type"] == "response.completed").unwrap();
    assert_eq!(completed["response"]["output"][0]["namespace"], "clock");

    // A plain (not namespaced) function keeps its name and gets no namespace.
    let plain = req(json!({"model": "m", "input": "x",
                            "tools": [{"type": "function", "name": "top", "parameters": {"type": "object"}}]}));
    let whole = response_json(&call_response("top", json!({})), &ResponseEcho::new(&plain), &ctx());
    assert_eq!(whole["output"][0]["name"], "top");
    assert!(whole["output"][0].get("namespace").is_none());
}

#[test]
fn replayed_namespaced_calls_and_tool_choice_use_the_flattened_name() {
    let body = json!({
        "model": "gpt-6.2-sol",
        "tool_choice": {"type": "function", "name": "sleep", "namespace": "clock"},
        "input": [
            additional_tools(json!([clock_namespace()])),
            user("wait a bit"),
            {"type": "function_call", "call_id": "call_1", "name": "sleep", "namespace": "clock",
             "arguments": "{\"duration_ms\":1}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "slept 1 ms"},
            {"type": "custom_tool_call", "call_id": "call_2", "name": "cron", "namespace": "clock", "input": "@daily"},
            {"type": "custom_tool_call_output", "call_id": "call_2", "output": "ok"}
        ]
    });
    let gemini = serde_json::to_value(responses_request_to_gemini(&req(body), "gemini-2.5-flash").unwrap()).unwrap();
    let contents = gemini["contents"].as_array().unwrap();
    assert_eq!(contents[1]["parts"][0]["functionCall"]["name"], "clock__sleep");
    assert_eq!(contents[2]["parts"][0]["functionResponse"]["name"], "clock__sleep");
    assert_eq!(contents[3]["parts"][0]["functionCall"]["name"], "clock__cron");
    assert_eq!(
        contents[3]["parts"][0]["functionCall"]["args"],
        json!({"input": "@daily"})
    );
    assert_eq!(
        gemini["toolConfig"]["functionCallingConfig"],
        json!({"mode": "ANY", "allowedFunctionNames": ["clock__sleep"]})
    );
}

#[test]
fn long_namespaced_names_fit_gemini_and_stay_distinct() {
    let namespace = "a_very_long_namespace_name_for_a_connector_with_many_tools";
    let a = namespaced_name(namespace, "create_calendar_event_with_attendees");
    let b = namespaced_name(namespace, "create_calendar_event_with_reminders");
    assert!(a.len() <= 64 && b.len() <= 64, "{a} {b}");
    assert_ne!(a, b);
    assert!(
        a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
        "{a}"
    );
    assert_eq!(a, namespaced_name(namespace, "create_calendar_event_with_attendees"));
    assert_eq!(namespaced_name("clock", "sleep"), "clock__sleep");
}

#[test]
fn errors_in_namespaced_tools_name_where_the_client_declared_them() {
    let body = json!({
        "model": "m",
        "input": [
            user("x"),
            additional_tools(json!([{"type": "namespace", "name": "ns", "tools": [
                {"type": "function", "name": "ok"},
                {"type": "function", "name": ""}
            ]}]))
        ]
    });
    match responses_request_to_gemini(&req(body), "gemini-2.5-flash") {
        Err(GatewayError::InvalidRequest { param, .. }) => {
            assert_eq!(param.as_deref(), Some("input[1].tools[0].tools[1].name"))
        }
        other => panic!("expected a 400, got {other:?}"),
    }
    // Two tools that flatten to one name are a clear 400, not a Gemini error.
    let body = json!({
        "model": "m", "input": "x",
        "tools": [
            {"type": "function", "name": "clock__sleep"},
            {"type": "namespace", "name": "clock", "tools": [{"type": "function", "name": "sleep"}]}
        ]
    });
    match responses_request_to_gemini(&req(body), "gemini-2.5-flash") {
        Err(GatewayError::InvalidRequest { message, param }) => {
            assert!(message.contains("clock__sleep"), "{message}");
            assert_eq!(param.as_deref(), Some("tools[1].tools[0]"));
        }
        other => panic!("expected a 400, got {other:?}"),
    }
}

#[test]
fn codex_first_turn_translates_with_every_tool_and_setting() {
    let body: Value = serde_json::from_str(CODEX_FIRST_TURN).unwrap();
    // What the fixture holds: the shapes this test is about.
    assert_eq!(body["input"][0]["type"], "additional_tools");
    assert!(body.get("tools").is_none());
    for field in [
        "store",
        "include",
        "prompt_cache_key",
        "text",
        "parallel_tool_calls",
        "client_metadata",
    ] {
        assert!(body.get(field).is_some(), "the fixture lost {field}");
    }
    let request = req(body.clone());
    let gemini = responses_request_to_gemini(&request, G3).unwrap();
    let names = declared_names(&gemini);
    // Every function and custom tool of every namespace is declared, under its namespace.
    let expected = expected_declarations(&body["input"][0]["tools"]);
    assert!(expected.contains(&"functions__exec".to_string()), "{expected:?}");
    assert!(expected.contains(&"clock__sleep".to_string()), "{expected:?}");
    assert_eq!(names, expected);
    let value = serde_json::to_value(&gemini).unwrap();
    // The developer messages lead the system instruction; the user turn ends with the prompt.
    let system = value["systemInstruction"]["parts"][0]["text"].as_str().unwrap();
    assert!(system.starts_with("You are Codex"), "{system}");
    let last = value["contents"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["role"], "user");
    assert_eq!(
        last["parts"].as_array().unwrap().last().unwrap()["text"],
        "say hello marker-cx1"
    );
    // reasoning.effort "low" on Gemini 3 Pro; Codex asked for no summary.
    assert_eq!(
        value["generationConfig"]["thinkingConfig"],
        json!({"includeThoughts": false, "thinkingLevel": "LOW"})
    );
    // The echo keeps what Codex reads back.
    let echo = ResponseEcho::new(&request);
    assert!(echo.encrypted_reasoning);
    assert!(!echo.parallel_tool_calls);
    assert!(echo.tool_kinds.is_custom("functions__exec"));
    assert_eq!(echo.tool_kinds.namespace_of("clock__sleep"), Some(("clock", "sleep")));
}

#[test]
fn codex_tool_loop_replays_the_namespaced_call_under_its_gemini_name() {
    let body: Value = serde_json::from_str(CODEX_TOOL_LOOP).unwrap();
    let items = body["input"].as_array().unwrap();
    let call = items.iter().find(|i| i["type"] == "function_call").unwrap();
    assert_eq!((&call["name"], &call["namespace"]), (&json!("sleep"), &json!("clock")));
    for model in ["gemini-2.5-pro", G3] {
        let gemini = serde_json::to_value(responses_request_to_gemini(&req(body.clone()), model).unwrap()).unwrap();
        let contents = gemini["contents"].as_array().unwrap();
        let roles: Vec<&str> = contents.iter().map(|c| c["role"].as_str().unwrap()).collect();
        assert_eq!(roles, ["user", "model", "user"], "{model}");
        assert_eq!(contents[1]["parts"][0]["functionCall"]["name"], "clock__sleep");
        assert_eq!(contents[2]["parts"][0]["functionResponse"]["name"], "clock__sleep");
        // The call carries its signature back (in the call_id), or the skip value on Gemini 3.
        if model == G3 {
            assert!(contents[1]["parts"][0]["thoughtSignature"].is_string(), "{gemini}");
        }
    }
}

#[test]
fn codex_pinned_older_model_request_translates() {
    let body: Value = serde_json::from_str(CODEX_PINNED).unwrap();
    assert!(body["tools"].as_array().is_some_and(|t| !t.is_empty()));
    let request = req(body.clone());
    let gemini = responses_request_to_gemini(&request, "gemini-2.5-pro").unwrap();
    let declared = declared_names(&gemini);
    let expected = expected_declarations(&body["tools"]);
    assert!(expected.iter().any(|n| n == "exec_command"), "{expected:?}");
    assert_eq!(declared, expected);
    let value = serde_json::to_value(&gemini).unwrap();
    let last = value["contents"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        last["parts"].as_array().unwrap().last().unwrap()["text"],
        "say hello marker-cx2"
    );
}
