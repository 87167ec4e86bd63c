//! OpenAI wire format (`/v1/chat/completions`, `/v1/embeddings`, `/v1/models`) and its
//! translation to and from Gemini, the canonical model.
//!
//! Reference: `shared/reference/protocols.md` §3 (OpenAI), §5 (mapping decisions, pitfalls);
//! upstream API: <https://platform.openai.com/docs/api-reference/chat>.
//!
//! * [`chat_request_to_gemini`] (in `request`) turns a chat request into a Gemini request.
//! * [`gemini_to_chat_response`] (in `response`) renders a whole Gemini response (Gemini
//!   errors are rendered by [`crate::error::GatewayError`], in one place for every protocol).
//! * [`ChatStreamTranslator`] (in `stream`) renders a Gemini stream as `chat.completion.chunk`s.
//! * `embeddings` covers `/v1/embeddings` and `/v1/models`.
//!
//! Input types are tolerant: unknown fields are ignored, `null` is accepted wherever a field
//! is optional, and `content` may be a string or a list of parts. Output types serialize the
//! `null`s OpenAI's own responses carry (`refusal`, `logprobs`, `system_fingerprint`).
//!
//! ## Thought signatures in tool-call ids
//! OpenAI clients drop fields they do not know, so Gemini 3's `thoughtSignature` (which must be
//! replayed on the same `functionCall` part, protocols.md §1.15, §5.4.1) travels inside the
//! tool-call id the client echoes back: `call_<request>_<candidate>_<n>__ts__<base64url(sig)>`
//! (the hub's one codec, `gemini::signatures`).
//! The signature is also exposed as `extra_content.google.thought_signature`, the place
//! Gemini's own OpenAI-compatible endpoint uses, and read back from there.

use crate::protocol::gemini::signatures::id_with_signature;
use crate::protocol::RequestContext;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

mod embeddings;
pub(crate) mod request;
mod response;
mod stream;

pub use embeddings::{
    embeddings_request_to_gemini, gemini_to_embeddings_response, gemini_to_model, gemini_to_models_list,
    EMBED_BATCH_LIMIT,
};
pub use request::chat_request_to_gemini;
pub use response::{finish_reason_from_gemini, gemini_to_chat_response, usage_from_gemini};
pub use stream::ChatStreamTranslator;

/// `object` of a whole chat completion.
pub const CHAT_COMPLETION_OBJECT: &str = "chat.completion";
/// `object` of a streamed chunk.
pub const CHAT_COMPLETION_CHUNK_OBJECT: &str = "chat.completion.chunk";
/// The stream terminator the OpenAI SDK stops at.
pub const DONE_FRAME: &[u8] = b"data: [DONE]\n\n";

// ---------------------------------------------------------------------------------------------
// Chat request

/// `POST /v1/chat/completions` body (only the fields gempool reads).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OpenAiChatRequest {
    #[serde(default, deserialize_with = "crate::protocol::null_as_default")]
    pub model: String,
    #[serde(default, deserialize_with = "crate::protocol::null_as_default")]
    pub messages: Vec<OpenAiMessage>,
    #[serde(default, deserialize_with = "crate::protocol::null_as_default")]
    pub tools: Vec<OpenAiTool>,
    #[serde(default)]
    pub tool_choice: Option<OpenAiToolChoice>,
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default)]
    pub response_format: Option<OpenAiResponseFormat>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<OpenAiStreamOptions>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub max_completion_tokens: Option<u32>,
    #[serde(default)]
    pub n: Option<u32>,
    #[serde(default)]
    pub stop: Option<OpenAiStop>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    /// Not an OpenAI field, but many clients of Gemini-backed gateways send it.
    #[serde(default)]
    pub top_k: Option<u32>,
    #[serde(default)]
    pub seed: Option<i64>,
    #[serde(default)]
    pub presence_penalty: Option<f64>,
    #[serde(default)]
    pub frequency_penalty: Option<f64>,
    #[serde(default)]
    pub logprobs: Option<bool>,
    #[serde(default)]
    pub top_logprobs: Option<u32>,
    #[serde(default)]
    pub reasoning_effort: Option<String>,
    /// Gemini's compat-endpoint extras: `{"google": {"thinking_config": …, …}}` (protocols.md §2).
    #[serde(default)]
    pub extra_body: Option<Value>,
    /// The same extras flattened to the top level (what the OpenAI SDK's `extra_body=` sends).
    #[serde(default)]
    pub google: Option<Value>,
}

impl OpenAiChatRequest {
    pub fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    /// `stream_options.include_usage`.
    pub fn include_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false)
    }
}

/// One chat message of any role (`system`, `developer`, `user`, `assistant`, `tool`, legacy
/// `function`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OpenAiMessage {
    #[serde(default, deserialize_with = "crate::protocol::null_as_default")]
    pub role: String,
    #[serde(default)]
    pub content: Option<OpenAiContent>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::protocol::null_as_default")]
    pub tool_calls: Vec<OpenAiToolCall>,
    #[serde(default)]
    pub tool_call_id: Option<String>,
    /// Legacy single function call on an assistant message.
    #[serde(default)]
    pub function_call: Option<OpenAiFunctionCall>,
}

/// `content`: a plain string or a list of typed parts.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum OpenAiContent {
    Text(String),
    Parts(Vec<OpenAiContentPart>),
}

/// A content part. Kept as a flat struct (not a tagged enum) so that an unsupported `type`
/// can be named in the 400 instead of failing deserialization.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OpenAiContentPart {
    #[serde(rename = "type", default, deserialize_with = "crate::protocol::null_as_default")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub image_url: Option<OpenAiImageUrl>,
    #[serde(default)]
    pub input_audio: Option<OpenAiInputAudio>,
    #[serde(default)]
    pub file: Option<OpenAiFile>,
    #[serde(default)]
    pub refusal: Option<String>,
}

/// `image_url`: `{"url": …, "detail": …}`, or a bare string (some clients).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum OpenAiImageUrl {
    Url(String),
    Object {
        url: String,
        #[serde(default)]
        detail: Option<String>,
    },
}

impl OpenAiImageUrl {
    pub fn url(&self) -> &str {
        match self {
            OpenAiImageUrl::Url(url) | OpenAiImageUrl::Object { url, .. } => url,
        }
    }
}

/// `input_audio`: base64 `data` and its `format` (`wav`, `mp3`, …).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OpenAiInputAudio {
    #[serde(default, deserialize_with = "crate::protocol::null_as_default")]
    pub data: String,
    #[serde(default, deserialize_with = "crate::protocol::null_as_default")]
    pub format: String,
}

/// `file`: inline `file_data` (data URI or base64) or an OpenAI `file_id`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OpenAiFile {
    #[serde(default)]
    pub file_data: Option<String>,
    #[serde(default)]
    pub file_id: Option<String>,
    #[serde(default)]
    pub filename: Option<String>,
}

/// A tool call, as sent by clients on assistant messages and returned in responses.
/// `function.arguments` is a JSON string on the wire; input also tolerates an object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpenAiToolCall {
    #[serde(default, deserialize_with = "crate::protocol::null_as_default")]
    pub id: String,
    #[serde(
        rename = "type",
        default = "function_kind",
        deserialize_with = "crate::protocol::null_as_default"
    )]
    pub kind: String,
    pub function: OpenAiFunctionCall,
    /// `{"google": {"thought_signature": …}}` (Gemini's compat endpoint form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_content: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpenAiFunctionCall {
    #[serde(default, deserialize_with = "crate::protocol::null_as_default")]
    pub name: String,
    #[serde(default)]
    pub arguments: Value,
}

/// A tool definition: `{"type": "function", "function": {name, description, parameters, strict}}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OpenAiTool {
    #[serde(rename = "type", default, deserialize_with = "crate::protocol::null_as_default")]
    pub kind: String,
    #[serde(default)]
    pub function: Option<OpenAiFunctionDefinition>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OpenAiFunctionDefinition {
    #[serde(default, deserialize_with = "crate::protocol::null_as_default")]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub parameters: Option<Value>,
    /// Not forwarded: Gemini has no equivalent (protocols.md §1.14).
    #[serde(default)]
    pub strict: Option<bool>,
}

/// `tool_choice`: `"none" | "auto" | "required"` or an object
/// (`{"type":"function","function":{"name"}}`, `{"type":"allowed_tools","allowed_tools":{…}}`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum OpenAiToolChoice {
    Mode(String),
    Object(OpenAiToolChoiceObject),
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OpenAiToolChoiceObject {
    #[serde(rename = "type", default, deserialize_with = "crate::protocol::null_as_default")]
    pub kind: String,
    #[serde(default)]
    pub function: Option<OpenAiNamedFunction>,
    #[serde(default)]
    pub allowed_tools: Option<OpenAiAllowedTools>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OpenAiNamedFunction {
    #[serde(default, deserialize_with = "crate::protocol::null_as_default")]
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OpenAiAllowedTools {
    #[serde(default, deserialize_with = "crate::protocol::null_as_default")]
    pub mode: String,
    #[serde(default, deserialize_with = "crate::protocol::null_as_default")]
    pub tools: Vec<OpenAiAllowedTool>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OpenAiAllowedTool {
    #[serde(default)]
    pub function: Option<OpenAiNamedFunction>,
}

/// `response_format`: `text`, `json_object` or `json_schema`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OpenAiResponseFormat {
    #[serde(rename = "type", default, deserialize_with = "crate::protocol::null_as_default")]
    pub kind: String,
    #[serde(default)]
    pub json_schema: Option<OpenAiJsonSchema>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OpenAiJsonSchema {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub schema: Option<Value>,
    #[serde(default)]
    pub strict: Option<bool>,
}

/// `stop`: one string or a list.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum OpenAiStop {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OpenAiStreamOptions {
    #[serde(default)]
    pub include_usage: Option<bool>,
}

// ---------------------------------------------------------------------------------------------
// Chat response

/// A whole `chat.completion`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpenAiChatResponse {
    pub id: String,
    pub object: String,
    pub created: u64,
    pub model: String,
    pub choices: Vec<OpenAiChoice>,
    pub usage: OpenAiUsage,
    pub system_fingerprint: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpenAiChoice {
    pub index: u32,
    pub message: OpenAiResponseMessage,
    pub logprobs: Option<Value>,
    pub finish_reason: Option<String>,
}

/// The assistant message of a choice. `reasoning_content` (thought summaries) is the
/// non-standard field LiteLLM and others use; it is omitted when there are no thoughts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpenAiResponseMessage {
    pub role: String,
    pub content: Option<String>,
    pub refusal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<OpenAiToolCall>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenAiUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    pub prompt_tokens_details: OpenAiPromptTokensDetails,
    pub completion_tokens_details: OpenAiCompletionTokensDetails,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenAiPromptTokensDetails {
    pub cached_tokens: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenAiCompletionTokensDetails {
    pub reasoning_tokens: u64,
}

// ---------------------------------------------------------------------------------------------
// Chat stream

/// One `chat.completion.chunk`. `usage` is absent unless `include_usage` was asked for; then it
/// is `null` on every chunk but the last (`Some(None)` serializes as `null`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OpenAiChatChunk {
    pub id: String,
    pub object: String,
    pub created: u64,
    pub model: String,
    pub system_fingerprint: Option<String>,
    pub choices: Vec<OpenAiChunkChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Option<OpenAiUsage>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OpenAiChunkChoice {
    pub index: u32,
    pub delta: OpenAiDelta,
    pub logprobs: Option<Value>,
    pub finish_reason: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OpenAiDelta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<OpenAiToolCallDelta>,
}

/// A tool call in a delta. gempool always sends a call whole (Gemini never splits one), so
/// every delta carries `index`, `id`, `type`, `function.name` and the full `arguments`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OpenAiToolCallDelta {
    pub index: u32,
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub function: OpenAiFunctionCall,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_content: Option<Value>,
}

// ---------------------------------------------------------------------------------------------
// Embeddings and models

/// `POST /v1/embeddings` body. `input` is kept raw: a string, a list of strings, or token
/// arrays (rejected).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OpenAiEmbeddingsRequest {
    #[serde(default, deserialize_with = "crate::protocol::null_as_default")]
    pub model: String,
    #[serde(default)]
    pub input: Value,
    #[serde(default)]
    pub encoding_format: Option<String>,
    #[serde(default)]
    pub dimensions: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpenAiEmbeddingsResponse {
    pub object: String,
    pub data: Vec<OpenAiEmbedding>,
    pub model: String,
    pub usage: OpenAiEmbeddingsUsage,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenAiEmbedding {
    pub object: String,
    pub index: u32,
    pub embedding: OpenAiEmbeddingVector,
}

/// `encoding_format: "float"` → numbers; `"base64"` → little-endian `f32` bytes, base64.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OpenAiEmbeddingVector {
    Float(Vec<f32>),
    Base64(String),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenAiEmbeddingsUsage {
    pub prompt_tokens: u64,
    pub total_tokens: u64,
}

/// `GET /v1/models/{id}`, and each entry of the list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenAiModel {
    pub id: String,
    pub object: String,
    pub created: u64,
    pub owned_by: String,
}

impl OpenAiModel {
    /// A model entry for `id` (gempool knows no creation time: `created` is 0).
    pub fn new(id: impl Into<String>) -> Self {
        OpenAiModel {
            id: id.into(),
            object: "model".into(),
            created: 0,
            owned_by: "google".into(),
        }
    }
}

/// `GET /v1/models`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenAiModelList {
    pub object: String,
    pub data: Vec<OpenAiModel>,
}

// ---------------------------------------------------------------------------------------------
// Tool-call ids

/// The id of the `index`-th function call of `candidate` in this response. The same inputs give
/// the same id on the streaming and non-streaming paths. A thought signature is appended as
/// `__ts__<base64url(signature)>` so that it comes back with the client's next request.
pub fn tool_call_id(ctx: &RequestContext, candidate: u32, index: usize, signature: Option<&str>) -> String {
    // Only [A-Za-z0-9-] from the request id: the unique part must never contain the separator.
    let unique: String = ctx
        .request_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    id_with_signature(format!("call_{unique}_{candidate}_{index}"), signature)
}

/// `{"google": {"thought_signature": sig}}`, the compat endpoint's `extra_content`.
fn signature_extra_content(signature: Option<&str>) -> Option<Value> {
    signature
        .filter(|s| !s.is_empty())
        .map(|sig| json!({"google": {"thought_signature": sig}}))
}

/// The signature a client sent back in `extra_content.google.thought_signature`.
fn signature_from_extra_content(extra: Option<&Value>) -> Option<String> {
    let sig = extra?.get("google")?.get("thought_signature")?.as_str()?;
    (!sig.is_empty()).then(|| sig.to_string())
}

fn function_kind() -> String {
    "function".into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::gemini::signatures::signature_from_id;

    fn ctx() -> RequestContext {
        RequestContext {
            request_id: "req-01_AB".into(),
            created: 1_700_000_000,
        }
    }

    #[test]
    fn tool_call_ids_round_trip_signatures() {
        for sig in ["CiQBjz1rX+/abc==", "skip_thought_signature_validator", "a__ts__b", "é"] {
            let id = tool_call_id(&ctx(), 0, 3, Some(sig));
            assert!(id.starts_with("call_req-01AB_0_3__ts__"), "{id}");
            assert!(
                id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
                "{id}"
            );
            assert_eq!(signature_from_id(&id).as_deref(), Some(sig));
        }
    }

    #[test]
    fn tool_call_ids_without_signature_are_plain_and_unique() {
        let a = tool_call_id(&ctx(), 0, 0, None);
        let b = tool_call_id(&ctx(), 0, 1, Some(""));
        let c = tool_call_id(&ctx(), 1, 0, None);
        assert_eq!(a, "call_req-01AB_0_0");
        assert_eq!(b, "call_req-01AB_0_1");
        assert_ne!(a, c);
        assert_eq!(signature_from_id(&a), None);
        assert_eq!(signature_from_id("call_x__ts__!!!"), None);
        assert_eq!(signature_from_id("call_abc"), None);
    }

    #[test]
    fn request_tolerates_nulls_unknown_fields_and_content_forms() {
        let req: OpenAiChatRequest = serde_json::from_value(json!({
            "model": "m", "tools": null, "stop": null, "unknown": {"x": 1},
            "messages": [
                {"role": "user", "content": "hi", "name": null},
                {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": "data:image/png;base64,AA"}]},
                {"role": "assistant", "content": null, "tool_calls": null},
                {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": {"a": 1}}}]}
            ],
            "stream_options": {"include_usage": true}
        }))
        .unwrap();
        assert!(req.tools.is_empty());
        assert!(req.include_usage());
        assert!(!req.is_stream());
        assert_eq!(req.messages[0].content, Some(OpenAiContent::Text("hi".into())));
        let OpenAiContent::Parts(parts) = req.messages[1].content.as_ref().unwrap() else {
            panic!()
        };
        assert_eq!(parts[1].image_url.as_ref().unwrap().url(), "data:image/png;base64,AA");
        assert_eq!(req.messages[3].tool_calls[0].kind, "function");
    }

    #[test]
    fn response_serializes_openai_nulls() {
        let resp = OpenAiChatResponse {
            choices: vec![OpenAiChoice {
                message: OpenAiResponseMessage {
                    role: "assistant".into(),
                    ..Default::default()
                },
                ..Default::default()
            }],
            ..Default::default()
        };
        let v = serde_json::to_value(&resp).unwrap();
        assert_eq!(v["system_fingerprint"], Value::Null);
        assert!(v.as_object().unwrap().contains_key("system_fingerprint"));
        let choice = &v["choices"][0];
        assert!(choice.as_object().unwrap().contains_key("logprobs"));
        assert_eq!(
            choice["message"],
            json!({"role": "assistant", "content": null, "refusal": null})
        );
    }
}
