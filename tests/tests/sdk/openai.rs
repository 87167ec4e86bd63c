//! The `openai` SDK: chat completions (whole and streamed), tools, images, structured output,
//! reasoning, embeddings, models, image generation, speech and errors.

use crate::{auth_error, clean, midstream_error, rate_limit, Sdk, Setup};
use gempool_tests::harness::{Gateway, GatewayOptions};
use gempool_tests::mock::MockGemini;

const SDK: Sdk = Sdk::OpenAi;

#[test]
fn text() {
    clean(SDK, "text");
}

#[test]
fn text_in_open_mode_with_any_key() {
    let mock = MockGemini::with_keys(&["k1"]);
    let gw = Gateway::start(GatewayOptions::with_mock(&mock, &["k1"]).open());
    let setup = Setup {
        mock,
        gw,
        client_key: "anything".into(),
    };
    setup.run(SDK, "text", true);
}

#[test]
fn text_params() {
    clean(SDK, "text_params");
}

#[test]
fn stream() {
    clean(SDK, "stream");
}

#[test]
fn stream_usage() {
    clean(SDK, "stream_usage");
}

#[test]
fn reasoning() {
    clean(SDK, "reasoning");
}

#[test]
fn tool_loop_gemini3() {
    clean(SDK, "tool_loop");
}

#[test]
fn tool_loop_with_sdk_message_objects_and_reasoning() {
    clean(SDK, "tool_loop_sdk_objects");
}

#[test]
fn tool_loop_minimal_history() {
    clean(SDK, "tool_loop_minimal_history");
}

#[test]
fn tool_parallel_gemini3() {
    clean(SDK, "tool_parallel");
}

#[test]
fn tool_stream_gemini3() {
    clean(SDK, "tool_stream");
}

#[test]
fn tool_choice() {
    clean(SDK, "tool_choice");
}

#[test]
fn awkward_schemas() {
    clean(SDK, "schemas");
}

#[test]
fn speech() {
    clean(SDK, "speech");
}

#[test]
fn images_generate() {
    clean(SDK, "images_generate");
}

#[test]
fn image() {
    clean(SDK, "image");
}

#[test]
fn json_schema() {
    clean(SDK, "json_schema");
}

#[test]
fn embeddings() {
    clean(SDK, "embeddings");
}

#[test]
fn models() {
    clean(SDK, "models");
}

#[test]
fn bad_request() {
    clean(SDK, "bad_request");
}

#[test]
fn bad_client_key() {
    auth_error(SDK);
}

#[test]
fn all_keys_rate_limited() {
    rate_limit(SDK);
}

#[test]
fn mid_stream_error() {
    midstream_error(SDK);
}
