//! The `openai` SDK's Responses API (`client.responses.create`, what Codex CLI speaks): whole
//! and streamed responses, reasoning summaries, the tool loop on Gemini 3 with thought
//! signatures round-tripping through `call_id`s, structured output, limits and errors.

use crate::{clean, midstream_error, Sdk, Setup};

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
