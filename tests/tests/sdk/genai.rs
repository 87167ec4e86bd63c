//! The `google-genai` SDK against the native Gemini routes.

use crate::{auth_error, clean, midstream_error, rate_limit, Sdk};

const SDK: Sdk = Sdk::GenAi;

#[test]
fn generate_content() {
    clean(SDK, "text");
}

#[test]
fn generate_content_stream() {
    clean(SDK, "stream");
}

#[test]
fn tool_loop_gemini3() {
    clean(SDK, "tools");
}

#[test]
fn count_tokens() {
    clean(SDK, "count_tokens");
}

#[test]
fn embed_content() {
    clean(SDK, "embed");
}

#[test]
fn models() {
    clean(SDK, "models");
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

/// A 5 MB upload used across calls while the strategy rotates: every call reaches the
/// uploading key (the mock refuses the file on any other, and `clean` fails on that).
#[test]
fn files_upload_and_use() {
    clean(SDK, "files");
}

#[test]
fn caches_create_use_update_delete() {
    clean(SDK, "caches");
}

#[test]
fn batch_created_and_polled_to_completion() {
    clean(SDK, "batch");
}

/// `batches.create_embeddings` (`:asyncBatchEmbedContent`): created, polled on its key, its
/// embeddings read back by the SDK.
#[test]
fn embedding_batch_created_and_polled_to_completion() {
    clean(SDK, "embed_batch");
}
