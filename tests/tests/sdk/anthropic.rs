//! The `anthropic` SDK: messages (whole and streamed), thinking, tools, images, models,
//! count_tokens and errors.

use crate::{auth_error, clean, midstream_error, rate_limit, Sdk};

const SDK: Sdk = Sdk::Anthropic;

#[test]
fn text() {
    clean(SDK, "text");
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
fn thinking() {
    clean(SDK, "thinking");
}

#[test]
fn tool_loop_gemini3() {
    clean(SDK, "tool_loop");
}

#[test]
fn tool_loop_hand_built() {
    clean(SDK, "tool_loop_hand_built");
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
fn image() {
    clean(SDK, "image");
}

#[test]
fn models() {
    clean(SDK, "models");
}

#[test]
fn count_tokens() {
    clean(SDK, "count_tokens");
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
