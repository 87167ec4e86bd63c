//! Client protocols and their translation to and from Gemini, the canonical model.
//!
//! `gemini` is the hub: the wire types every translator converges on and the Gemini rules
//! they share (thinking, media, signatures, turns, finish reasons, errors, extras, and the one
//! walk over response chunks, `gemini::events`); `openai` (chat completions), `responses` and
//! `anthropic` translate requests into it and responses (whole or streamed) out of it;
//! `schema` makes client JSON Schemas acceptable to Gemini; `sse` frames and splits event
//! streams.

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

/// Fixtures the translators' unit tests share.
#[cfg(test)]
pub(crate) mod test_support {
    use super::gemini::GenerateContentResponse;
    use super::RequestContext;

    /// A request context with fixed id and time.
    pub(crate) fn ctx(request_id: &str, created: u64) -> RequestContext {
        RequestContext {
            request_id: request_id.into(),
            created,
        }
    }

    /// A Gemini response or stream chunk from its JSON.
    pub(crate) fn chunk(body: serde_json::Value) -> GenerateContentResponse {
        serde_json::from_value(body).unwrap()
    }
}

pub mod anthropic;
pub mod openai;
pub mod responses;
pub mod schema;
pub mod sse;
pub(crate) mod wire;

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
