//! LangChain's chat models (`langchain-openai`'s ChatOpenAI, `langchain-google-genai`'s
//! ChatGoogleGenerativeAI) against the gateway: invoke, stream, and a bind_tools loop.

use crate::{clean, Sdk};

const SDK: Sdk = Sdk::LangChain;

#[test]
fn chat_openai_invoke() {
    clean(SDK, "openai_invoke");
}

#[test]
fn chat_openai_stream() {
    clean(SDK, "openai_stream");
}

#[test]
fn chat_openai_bind_tools() {
    clean(SDK, "openai_tools");
}

#[test]
fn chat_google_invoke() {
    clean(SDK, "google_invoke");
}

#[test]
fn chat_google_stream() {
    clean(SDK, "google_stream");
}

#[test]
fn chat_google_bind_tools() {
    clean(SDK, "google_tools");
}
