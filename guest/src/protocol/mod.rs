//! Client protocols and their translation to and from Gemini, the canonical model.
//!
//! `gemini` holds the wire types every translator converges on; `openai` and `anthropic`
//! translate requests into them and responses (whole or streamed) out of them; `schema`
//! makes client JSON Schemas acceptable to Gemini; `sse` frames and splits event streams.

pub mod gemini;

/// Which protocol a caller speaks; decides the error shape and the translator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Native Gemini (`/v1beta/models/...`).
    Gemini,
    /// OpenAI (`/v1/chat/completions`, `/v1/responses`, `/v1/embeddings`, `/v1/models`).
    OpenAi,
    /// Anthropic (`/v1/messages`, `/v1/messages/count_tokens`).
    Anthropic,
    /// The admin API (errors use Google's JSON shape).
    Admin,
}

/// Per-request facts a translator needs to produce ids and timestamps deterministically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    /// A random id for this request, unique enough to build response and tool-call ids from.
    pub request_id: String,
    /// Unix seconds at the start of the request.
    pub created: u64,
}

pub mod anthropic;
pub mod openai;
pub mod responses;
pub mod schema;
pub mod sse;

/// Client wire types: `null` and absent both mean the default (serde's `default` covers only
/// absent fields, and some clients send `"stop_sequences": null` or `"tools": null`).
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + serde::Deserialize<'de>,
{
    use serde::Deserialize;
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}
