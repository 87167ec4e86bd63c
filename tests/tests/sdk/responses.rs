//! The `openai` SDK's Responses API (`client.responses.create`, what Codex CLI speaks): whole
//! and streamed responses, reasoning summaries, the tool loop on Gemini 3 with thought
//! signatures round-tripping through `call_id`s, structured output, limits and errors, and
//! Codex's own loop (freeform `apply_patch`, `local_shell`, encrypted reasoning, always
//! streamed).

use crate::{clean, midstream_error, Sdk, Setup};
use serde_json::Value;

const SDK: Sdk = Sdk::OpenAiResponses;

#[test]
fn text() {
    clean(SDK, "text");
}

#[test]
fn stream() {
    clean(SDK, "stream");
}

#[test]
fn reasoning() {
    clean(SDK, "reasoning");
}

/// The loop passes on the strict Gemini 3 mock, and the signatures the mock issued came back
/// on the replayed calls (not the skip sentinel the gateway uses for unsigned history).
#[test]
fn tool_loop_gemini3_round_trips_signatures() {
    let setup = Setup::two_keys();
    setup.run(SDK, "tool_loop", true);
    let replayed: Vec<String> = setup
        .mock
        .requests()
        .iter()
        .filter(|r| r.path.contains("gemini-3-pro-preview:generateContent"))
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .filter(|body| body.contains("functionResponse"))
        .collect();
    assert_eq!(replayed.len(), 2, "two rounds replayed the call");
    for body in &replayed {
        // base64("mock-sig-") starts every signature the mock issues.
        assert!(
            body.contains("\"thoughtSignature\":\"bW9jay1zaWct"),
            "the issued signature rides the replayed call: {body}"
        );
        assert!(!body.contains("skip_thought_signature_validator"), "{body}");
    }
}

#[test]
fn tool_parallel_stream_gemini3() {
    clean(SDK, "tool_parallel_stream");
}

#[test]
fn tool_choice_and_json_schema() {
    clean(SDK, "tool_choice_and_json");
}

#[test]
fn max_output_tokens_is_incomplete() {
    clean(SDK, "max_tokens");
}

#[test]
fn bad_request() {
    clean(SDK, "bad_request");
}

#[test]
fn mid_stream_error_is_response_failed() {
    midstream_error(SDK);
}

/// base64("mock-sig-"): the start of every signature the mock issues.
const MOCK_SIG: &str = "bW9jay1zaWct";

/// Codex's loop on the strict Gemini 3 mock, streamed: `apply_patch` as a custom tool answered
/// with `custom_tool_call_output`, a text answer, a `local_shell_call` answered with
/// `function_call_output`. Every replayed call carries the signature the mock issued, and the
/// text answer's signature comes back on its text part through the reasoning item's
/// `encrypted_content`.
#[test]
fn codex_loop_custom_and_shell_tools_gemini3() {
    let setup = Setup::two_keys();
    setup.run(SDK, "codex_loop", true);
    let bodies: Vec<Value> = setup
        .mock
        .requests()
        .iter()
        .filter(|r| r.path.contains("gemini-3-pro-preview:streamGenerateContent"))
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(bodies.len(), 4, "four streamed rounds");
    let declarations = &bodies[0]["tools"][0]["functionDeclarations"];
    let names: Vec<&str> = declarations
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["shell", "apply_patch", "local_shell"]);
    let patch_description = declarations[1]["description"].as_str().unwrap();
    assert!(
        patch_description.contains("FREEFORM") && patch_description.contains("begin_patch: \"*** Begin Patch\" LF"),
        "the grammar rides in the description: {patch_description}"
    );
    let model_parts = |body: &Value| -> Vec<Value> {
        body["contents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["role"] == "model")
            .flat_map(|c| c["parts"].as_array().unwrap().clone())
            .collect()
    };
    for (round, body) in bodies.iter().enumerate().skip(1) {
        let text = body.to_string();
        assert!(
            !text.contains("skip_thought_signature_validator"),
            "round {round}: {text}"
        );
        assert!(!text.contains("gempool-turn-signatures"), "round {round}: {text}");
        for part in model_parts(body).iter().filter(|p| p.get("functionCall").is_some()) {
            let sig = part["thoughtSignature"].as_str().unwrap_or("");
            assert!(
                sig.starts_with(MOCK_SIG),
                "round {round}: the issued signature rides the call: {part}"
            );
        }
        assert!(
            !model_parts(body).iter().any(|p| p.get("thought").is_some()),
            "reasoning summaries are not replayed: {text}"
        );
    }
    assert_eq!(
        bodies[1]["contents"].as_array().unwrap().last().unwrap()["parts"][0]["functionResponse"]["name"],
        "apply_patch"
    );
    // Rounds 3 and 4 replay the text answer of round 2 with its signature.
    for body in &bodies[2..] {
        let signed_text = model_parts(body).into_iter().any(|p| {
            p.get("text").is_some() && p["thoughtSignature"].as_str().is_some_and(|s| s.starts_with(MOCK_SIG))
        });
        assert!(signed_text, "the text answer keeps its signature: {body}");
    }
    let last = bodies[3]["contents"].as_array().unwrap().last().unwrap();
    assert_eq!(last["parts"][0]["functionResponse"]["name"], "local_shell");
}

/// `tool_choice: {"type": "custom", "name": "apply_patch"}` forces the custom tool.
#[test]
fn custom_tool_choice() {
    let setup = Setup::two_keys();
    setup.run(SDK, "custom_tool_choice", true);
    let first: Value = serde_json::from_slice(&setup.mock.requests()[0].body).unwrap();
    assert_eq!(
        first["toolConfig"]["functionCallingConfig"],
        serde_json::json!({"mode": "ANY", "allowedFunctionNames": ["apply_patch"]})
    );
}
