//! The official Node SDKs (`openai`, `@anthropic-ai/sdk`, `@google/genai`, pinned in
//! `tests/sdk/package.json`), run by Node 22 against the gateway.

use crate::{clean, Sdk};

#[test]
fn openai_chat() {
    clean(Sdk::NodeOpenAi, "chat");
}

#[test]
fn openai_chat_stream() {
    clean(Sdk::NodeOpenAi, "chat_stream");
}

#[test]
fn openai_chat_tool_loop() {
    clean(Sdk::NodeOpenAi, "chat_tools");
}

#[test]
fn openai_responses_stream() {
    clean(Sdk::NodeOpenAi, "responses_stream");
}

#[test]
fn openai_responses_namespace_tools() {
    clean(Sdk::NodeOpenAi, "responses_namespace_tools");
}

#[test]
fn anthropic_stream_with_tools_and_thinking() {
    clean(Sdk::NodeAnthropic, "stream_tools_thinking");
}

#[test]
fn anthropic_adaptive_thinking_and_system_messages() {
    clean(Sdk::NodeAnthropic, "adaptive_and_system_messages");
}

#[test]
fn anthropic_models_list_client_names() {
    clean(Sdk::NodeAnthropic, "models");
}

#[test]
fn genai_generate() {
    clean(Sdk::NodeGenAi, "generate");
}

#[test]
fn genai_stream() {
    clean(Sdk::NodeGenAi, "stream");
}

#[test]
fn genai_count_tokens() {
    clean(Sdk::NodeGenAi, "count_tokens");
}

#[test]
fn genai_embed() {
    clean(Sdk::NodeGenAi, "embed");
}
