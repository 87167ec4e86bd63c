//! What current Claude Code sends, recorded from the pinned agent by the end-to-end suite
//! (`tests/fixtures/agents/claude-code-*.json`, re-recorded with
//! `GEMPOOL_RECORD_AGENT_FIXTURES=1`), through the translators.

use serde_json::{json, Value};

use crate::protocol::anthropic::{
    count_tokens_request_to_gemini, messages_request_to_gemini, AnthropicCountTokensRequest, AnthropicMessagesRequest,
};
use crate::protocol::gemini::signatures::SKIP_SIGNATURE as SKIP_SIGNATURE_SENTINEL;

/// Default model (`claude-opus-5-5`): adaptive thinking, an effort, `[user, system]` messages.
const DEFAULT: &str = include_str!("../../../../../tests/fixtures/agents/claude-code-2.1.332-default-1.json");
/// `--model claude-sonnet-4-5-20250929`: thinking enabled with a budget.
const PINNED: &str = include_str!("../../../../../tests/fixtures/agents/claude-code-2.1.332-pinned-1.json");
/// The second request of a tool loop: `[user, system, assistant(tool_use), user(tool_result)]`.
const TOOL_LOOP: &str = include_str!("../../../../../tests/fixtures/agents/claude-code-2.1.332-tool-loop-2.json");

fn body(text: &str) -> Value {
    serde_json::from_str(text).expect("a fixture is JSON")
}

fn translate(text: &str, model: &str) -> Value {
    let req: AnthropicMessagesRequest = serde_json::from_str(text).expect("the fixture parses");
    serde_json::to_value(messages_request_to_gemini(&req, model).expect("the fixture translates")).unwrap()
}

/// Gemini's turn rules: roles alternate, the first turn is the user's, and every model turn
/// with N calls is followed by a user turn with exactly N function responses.
fn assert_valid_turns(gemini: &Value) {
    let contents = gemini["contents"].as_array().expect("contents");
    assert_eq!(contents[0]["role"], "user", "{gemini}");
    for pair in contents.windows(2) {
        assert_ne!(pair[0]["role"], pair[1]["role"], "roles alternate: {gemini}");
        let count = |c: &Value, key: &str| {
            c["parts"]
                .as_array()
                .map_or(0, |p| p.iter().filter(|p| p.get(key).is_some()).count())
        };
        if pair[0]["role"] == "model" {
            assert_eq!(
                count(&pair[0], "functionCall"),
                count(&pair[1], "functionResponse"),
                "{gemini}"
            );
        }
    }
    for content in contents {
        assert!(
            !content["parts"].as_array().unwrap().is_empty(),
            "no empty turns: {gemini}"
        );
    }
}

fn texts(content: &Value) -> Vec<String> {
    content["parts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["text"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn default_request_keeps_its_system_message_and_maps_the_effort() {
    let raw = body(DEFAULT);
    // The shapes this test is about are in the fixture.
    assert_eq!(raw["messages"][1]["role"], "system");
    assert_eq!(raw["thinking"], json!({"type": "adaptive", "display": "omitted"}));
    assert!(raw["output_config"]["effort"].is_string());
    assert!(raw.get("context_management").is_some());
    assert!(raw["tools"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t.get("defer_loading").is_some()));

    let gemini = translate(DEFAULT, "gemini-2.5-pro");
    assert_valid_turns(&gemini);
    // Top-level system blocks become the system instruction, in order.
    let system: Vec<&str> = raw["system"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["text"].as_str())
        .filter(|t| !t.is_empty())
        .collect();
    assert_eq!(texts(&gemini["systemInstruction"]), system);
    // The user's prompt, then the system message's text, in the one user turn.
    let contents = gemini["contents"].as_array().unwrap();
    assert_eq!(contents.len(), 1);
    let parts = texts(&contents[0]);
    assert!(parts.iter().any(|t| t.contains("say hello marker-cc1")), "{parts:?}");
    let environment = match &raw["messages"][1]["content"] {
        Value::String(s) => s.clone(),
        blocks => blocks[0]["text"].as_str().unwrap().to_string(),
    };
    assert_eq!(parts.last(), Some(&environment));
    // Every custom tool is declared (deferred ones too).
    let declared = gemini["tools"][0]["functionDeclarations"].as_array().unwrap().len();
    assert_eq!(declared, raw["tools"].as_array().unwrap().len());
    // effort "medium" by the reasoning_effort table; `display: omitted` means no summaries.
    assert_eq!(
        gemini["generationConfig"]["thinkingConfig"],
        json!({"thinkingBudget": 8192, "includeThoughts": false})
    );
    let on_gemini3 = translate(DEFAULT, "gemini-3.1-pro-preview");
    assert_eq!(
        on_gemini3["generationConfig"]["thinkingConfig"],
        json!({"thinkingLevel": "HIGH", "includeThoughts": false})
    );
}

#[test]
fn default_request_counts_tokens_too() {
    let req: AnthropicCountTokensRequest = serde_json::from_str(DEFAULT).expect("parses as count_tokens");
    let out = serde_json::to_value(count_tokens_request_to_gemini(&req, "gemini-2.5-pro").unwrap()).unwrap();
    let inner = &out["generateContentRequest"];
    assert_eq!(inner["model"], "models/gemini-2.5-pro");
    assert_valid_turns(inner);
    assert!(inner["systemInstruction"].is_object());
}

#[test]
fn pinned_older_model_request_uses_its_thinking_budget() {
    let raw = body(PINNED);
    assert_eq!(raw["thinking"]["type"], "enabled");
    let gemini = translate(PINNED, "gemini-2.5-pro");
    assert_valid_turns(&gemini);
    let budget = raw["thinking"]["budget_tokens"].as_i64().unwrap().clamp(128, 32768);
    let include = raw["thinking"]["display"] != "omitted";
    assert_eq!(
        gemini["generationConfig"]["thinkingConfig"],
        json!({"thinkingBudget": budget, "includeThoughts": include})
    );
}

#[test]
fn tool_loop_replay_pairs_the_result_and_keeps_the_system_message_in_the_user_turn() {
    let raw = body(TOOL_LOOP);
    let roles: Vec<&str> = raw["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "system", "assistant", "user"]);
    for model in ["gemini-2.5-pro", "gemini-3.1-pro-preview"] {
        let gemini = translate(TOOL_LOOP, model);
        assert_valid_turns(&gemini);
        let contents = gemini["contents"].as_array().unwrap();
        let roles: Vec<&str> = contents.iter().map(|c| c["role"].as_str().unwrap()).collect();
        assert_eq!(roles, ["user", "model", "user"], "{model}");
        let call = &contents[1]["parts"][0];
        assert_eq!(call["functionCall"]["name"], "Read", "{model}");
        let response = &contents[2]["parts"][0]["functionResponse"];
        assert_eq!(response["name"], "Read");
        // Claude Code marked the result as an error.
        assert!(response["response"]["error"].is_string(), "{response}");
        // The system message follows the prompt in the first user turn.
        assert!(
            texts(&contents[0]).last().unwrap().starts_with("# Environment"),
            "{model}"
        );
        // Gemini 3 validates the signatures of the active loop: the call gempool's mock
        // answered without one gets the documented skip value.
        let signature = call.get("thoughtSignature").and_then(Value::as_str);
        if model.starts_with("gemini-3") {
            assert_eq!(signature, Some(SKIP_SIGNATURE_SENTINEL));
        }
    }
}
