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

use crate::protocol::gemini::extras::ExtrasFields;
use crate::protocol::gemini::signatures::id_with_signature;
use crate::protocol::RequestContext;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

mod embeddings;
pub mod images;
pub(crate) mod request;
mod response;
pub mod speech;
mod stream;

pub use embeddings::{
    embeddings_request_to_gemini, gemini_to_embeddings_response, gemini_to_model, gemini_to_models_list,
    EMBED_BATCH_LIMIT,
};
pub use request::chat_request_to_gemini;
pub(crate) use response::arguments_json;
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
    /// The model the client asked for (a Gemini id or an alias).
    #[serde(default, deserialize_with = "crate::protocol::null_as_default")]
    pub model: String,
    /// The conversation, oldest message first.
    #[serde(default, deserialize_with = "crate::protocol::null_as_default")]
    pub messages: Vec<OpenAiMessage>,
    /// Functions the model may call.
    #[serde(default, deserialize_with = "crate::protocol::null_as_default")]
    pub tools: Vec<OpenAiTool>,
    /// `none` / `auto` / `required`, or a named function or allowed-tools object.
    #[serde(default)]
    pub tool_choice: Option<OpenAiToolChoice>,
    /// Whether the model may call several tools in one turn.
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    /// Plain text, `json_object` or `json_schema` output.
    #[serde(default)]
    pub response_format: Option<OpenAiResponseFormat>,
    /// Whether to answer as a server-sent event stream.
    #[serde(default)]
    pub stream: Option<bool>,
    /// Stream options; only `include_usage` is read.
    #[serde(default)]
    pub stream_options: Option<OpenAiStreamOptions>,
    /// The legacy cap on output tokens.
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// The cap on output tokens (reasoning included, in OpenAI's sense).
    #[serde(default)]
    pub max_completion_tokens: Option<u32>,
    /// How many choices to generate.
    #[serde(default)]
    pub n: Option<u32>,
    /// One stop sequence or several.
    #[serde(default)]
    pub stop: Option<OpenAiStop>,
    /// Sampling temperature, 0 to 2.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Nucleus sampling mass, 0 to 1.
    #[serde(default)]
    pub top_p: Option<f64>,
    /// Not an OpenAI field, but many clients of Gemini-backed gateways send it.
    #[serde(default)]
    pub top_k: Option<u32>,
    /// Seed for reproducible sampling.
    #[serde(default)]
    pub seed: Option<i64>,
    /// Penalty for tokens already present, -2 to 2.
    #[serde(default)]
    pub presence_penalty: Option<f64>,
    /// Penalty growing with a token's frequency so far, -2 to 2.
    #[serde(default)]
    pub frequency_penalty: Option<f64>,
    /// Whether to return log probabilities of the chosen tokens.
    #[serde(default)]
    pub logprobs: Option<bool>,
    /// How many top alternatives' log probabilities to return per token (0 to 20).
    #[serde(default)]
    pub top_logprobs: Option<u32>,
    /// `none`, `minimal`, `low`, `medium` or `high`: mapped to Gemini's thinking settings.
    #[serde(default)]
    pub reasoning_effort: Option<String>,
    /// Google's extras (`extra_body.google` or a top-level `google`), as on every OpenAI-shaped request.
    #[serde(flatten)]
    pub extras: ExtrasFields,
}

impl OpenAiChatRequest {
    /// Whether the client asked for a stream (`stream: true`).
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
    /// `system`, `developer`, `user`, `assistant`, `tool` or `function`.
    #[serde(default, deserialize_with = "crate::protocol::null_as_default")]
    pub role: String,
    /// The message text, or a list of content parts; absent on an assistant message made of tool calls.
    #[serde(default)]
    pub content: Option<OpenAiContent>,
    /// A participant name (or, on a legacy `function` message, the function's name).
    #[serde(default)]
    pub name: Option<String>,
    /// The tools an assistant message called.
    #[serde(default, deserialize_with = "crate::protocol::null_as_default")]
    pub tool_calls: Vec<OpenAiToolCall>,
    /// On a `tool` message: the id of the call it answers.
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
    /// Plain text.
    Text(String),
    /// Typed parts: text, images, audio, files.
    Parts(Vec<OpenAiContentPart>),
}

/// A content part. Kept as a flat struct (not a tagged enum) so that an unsupported `type`
/// can be named in the 400 instead of failing deserialization.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OpenAiContentPart {
    /// The part type: `text`, `image_url`, `input_audio`, `file` or `refusal`.
    #[serde(rename = "type", default, deserialize_with = "crate::protocol::null_as_default")]
    pub kind: String,
    /// The text of a `text` part.
    #[serde(default)]
    pub text: Option<String>,
    /// The image of an `image_url` part.
    #[serde(default)]
    pub image_url: Option<OpenAiImageUrl>,
    /// The audio of an `input_audio` part.
    #[serde(default)]
    pub input_audio: Option<OpenAiInputAudio>,
    /// The document of a `file` part.
    #[serde(default)]
    pub file: Option<OpenAiFile>,
    /// The refusal text of an assistant's `refusal` part.
    #[serde(default)]
    pub refusal: Option<String>,
}

/// `image_url`: `{"url": …, "detail": …}`, or a bare string (some clients).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum OpenAiImageUrl {
    /// The bare URL (or `data:` URL) form.
    Url(String),
    /// The object form, `{"url": …, "detail": …}`.
    Object {
        /// An `https` URL or a `data:` URL.
        url: String,
        /// `low`, `high` or `auto`; Gemini has no equivalent.
        #[serde(default)]
        detail: Option<String>,
    },
}

impl OpenAiImageUrl {
    /// The URL, whichever form carried it.
    pub fn url(&self) -> &str {
        match self {
            OpenAiImageUrl::Url(url) | OpenAiImageUrl::Object { url, .. } => url,
        }
    }
}

/// `input_audio`: base64 `data` and its `format` (`wav`, `mp3`, …).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OpenAiInputAudio {
    /// The audio bytes, base64.
    #[serde(default, deserialize_with = "crate::protocol::null_as_default")]
    pub data: String,
    /// The audio format, e.g. `wav` or `mp3`.
    #[serde(default, deserialize_with = "crate::protocol::null_as_default")]
    pub format: String,
}

/// `file`: inline `file_data` (data URI or base64) or an OpenAI `file_id`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OpenAiFile {
    /// The file as a `data:` URL (or bare base64).
    #[serde(default)]
    pub file_data: Option<String>,
    /// An id in OpenAI's Files API; refused (Gemini cannot read it).
    #[serde(default)]
    pub file_id: Option<String>,
    /// The file's name, used to guess its media type.
    #[serde(default)]
    pub filename: Option<String>,
}

/// A tool call, as sent by clients on assistant messages and returned in responses.
/// `function.arguments` is a JSON string on the wire; input also tolerates an object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpenAiToolCall {
    /// The call id, which the matching `tool` message quotes.
    #[serde(default, deserialize_with = "crate::protocol::null_as_default")]
    pub id: String,
    /// Always `function`.
    #[serde(
        rename = "type",
        default = "function_kind",
        deserialize_with = "crate::protocol::null_as_default"
    )]
    pub kind: String,
    /// The function called and its arguments.
    pub function: OpenAiFunctionCall,
    /// `{"google": {"thought_signature": …}}` (Gemini's compat endpoint form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_content: Option<Value>,
}

/// The function an assistant called and with what.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpenAiFunctionCall {
    /// The function's name.
    #[serde(default, deserialize_with = "crate::protocol::null_as_default")]
    pub name: String,
    /// The arguments: a JSON-encoded string on the wire, kept raw.
    #[serde(default)]
    pub arguments: Value,
}

/// A tool definition: `{"type": "function", "function": {name, description, parameters, strict}}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OpenAiTool {
    /// Always `function` (other tool types are refused).
    #[serde(rename = "type", default, deserialize_with = "crate::protocol::null_as_default")]
    pub kind: String,
    /// The function's declaration.
    #[serde(default)]
    pub function: Option<OpenAiFunctionDefinition>,
}

/// A function declaration in `tools`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OpenAiFunctionDefinition {
    /// The function's name.
    #[serde(default, deserialize_with = "crate::protocol::null_as_default")]
    pub name: String,
    /// What the function does, for the model.
    #[serde(default)]
    pub description: Option<String>,
    /// The arguments' JSON Schema.
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
    /// `none`, `auto` or `required`.
    Mode(String),
    /// A named function or an allowed-tools list.
    Object(OpenAiToolChoiceObject),
}

/// The object form of `tool_choice`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OpenAiToolChoiceObject {
    /// `function` or `allowed_tools`.
    #[serde(rename = "type", default, deserialize_with = "crate::protocol::null_as_default")]
    pub kind: String,
    /// With `function`: the function the model must call.
    #[serde(default)]
    pub function: Option<OpenAiNamedFunction>,
    /// With `allowed_tools`: the subset the model may call.
    #[serde(default)]
    pub allowed_tools: Option<OpenAiAllowedTools>,
}

/// A function named in `tool_choice`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OpenAiNamedFunction {
    /// The function's name.
    #[serde(default, deserialize_with = "crate::protocol::null_as_default")]
    pub name: String,
}

/// `tool_choice.allowed_tools`: a subset of the declared tools.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OpenAiAllowedTools {
    /// `auto` (may call one of them) or `required` (must).
    #[serde(default, deserialize_with = "crate::protocol::null_as_default")]
    pub mode: String,
    /// The allowed tools.
    #[serde(default, deserialize_with = "crate::protocol::null_as_default")]
    pub tools: Vec<OpenAiAllowedTool>,
}

/// One entry of `allowed_tools.tools`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OpenAiAllowedTool {
    /// The function it names.
    #[serde(default)]
    pub function: Option<OpenAiNamedFunction>,
}

/// `response_format`: `text`, `json_object` or `json_schema`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OpenAiResponseFormat {
    /// `text`, `json_object` or `json_schema`.
    #[serde(rename = "type", default, deserialize_with = "crate::protocol::null_as_default")]
    pub kind: String,
    /// With `json_schema`: the schema and its options.
    #[serde(default)]
    pub json_schema: Option<OpenAiJsonSchema>,
}

/// `response_format.json_schema`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OpenAiJsonSchema {
    /// The schema's name.
    #[serde(default)]
    pub name: Option<String>,
    /// What the output is for.
    #[serde(default)]
    pub description: Option<String>,
    /// The output's JSON Schema.
    #[serde(default)]
    pub schema: Option<Value>,
    /// Whether the output must match the schema exactly.
    #[serde(default)]
    pub strict: Option<bool>,
}

/// `stop`: one string or a list.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum OpenAiStop {
    /// A single stop sequence.
    One(String),
    /// Several stop sequences.
    Many(Vec<String>),
}

/// `stream_options`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OpenAiStreamOptions {
    /// Whether the last chunk carries the usage totals.
    #[serde(default)]
    pub include_usage: Option<bool>,
}

// ---------------------------------------------------------------------------------------------
// Chat response

/// A whole `chat.completion`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpenAiChatResponse {
    /// `chatcmpl-…` id.
    pub id: String,
    /// Always `chat.completion`.
    pub object: String,
    /// Creation time, Unix seconds.
    pub created: u64,
    /// The model that answered (the id the client asked for).
    pub model: String,
    /// The answers, one per candidate.
    pub choices: Vec<OpenAiChoice>,
    /// Token counts.
    pub usage: OpenAiUsage,
    /// Always `null`: Gemini has no fingerprint.
    pub system_fingerprint: Option<String>,
}

/// One answer of a `chat.completion`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpenAiChoice {
    /// The choice's position, 0-based.
    pub index: u32,
    /// The assistant message.
    pub message: OpenAiResponseMessage,
    /// Log probabilities of the chosen tokens, when asked for.
    pub logprobs: Option<Value>,
    /// `stop`, `length`, `tool_calls` or `content_filter`.
    pub finish_reason: Option<String>,
}

/// The assistant message of a choice. `reasoning_content` (thought summaries) is the
/// non-standard field LiteLLM and others use; it is omitted when there are no thoughts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpenAiResponseMessage {
    /// Always `assistant`.
    pub role: String,
    /// The answer text; `null` when there is none (only tool calls).
    pub content: Option<String>,
    /// Why the model refused; gempool sends `null`.
    pub refusal: Option<String>,
    /// The thought summaries, when the model returned any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// The tool calls the model made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<OpenAiToolCall>,
}

/// Token counts of a chat completion, in OpenAI's terms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenAiUsage {
    /// Prompt tokens (cached ones included).
    pub prompt_tokens: u64,
    /// Answer and thought tokens (OpenAI counts reasoning as completion).
    pub completion_tokens: u64,
    /// Prompt plus completion.
    pub total_tokens: u64,
    /// The cached part of the prompt.
    pub prompt_tokens_details: OpenAiPromptTokensDetails,
    /// The reasoning part of the completion.
    pub completion_tokens_details: OpenAiCompletionTokensDetails,
}

/// `usage.prompt_tokens_details`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenAiPromptTokensDetails {
    /// Prompt tokens read from a context cache.
    pub cached_tokens: u64,
}

/// `usage.completion_tokens_details`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenAiCompletionTokensDetails {
    /// Tokens spent thinking.
    pub reasoning_tokens: u64,
}

// ---------------------------------------------------------------------------------------------
// Chat stream

/// One `chat.completion.chunk`. `usage` is absent unless `include_usage` was asked for; then it
/// is `null` on every chunk but the last (`Some(None)` serializes as `null`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OpenAiChatChunk {
    /// The same `chatcmpl-…` id on every chunk.
    pub id: String,
    /// Always `chat.completion.chunk`.
    pub object: String,
    /// Creation time, Unix seconds.
    pub created: u64,
    /// The model that answers.
    pub model: String,
    /// Always `null`: Gemini has no fingerprint.
    pub system_fingerprint: Option<String>,
    /// The deltas, one per candidate (none on the usage chunk).
    pub choices: Vec<OpenAiChunkChoice>,
    /// Absent without `include_usage`; otherwise `null`, then the totals on the last chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Option<OpenAiUsage>>,
}

/// One choice's delta in a chunk.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OpenAiChunkChoice {
    /// The choice's position, 0-based.
    pub index: u32,
    /// What the chunk adds.
    pub delta: OpenAiDelta,
    /// Log probabilities of this chunk's tokens, when asked for.
    pub logprobs: Option<Value>,
    /// Set on the choice's last chunk only.
    pub finish_reason: Option<String>,
}

/// The increment of an assistant message.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OpenAiDelta {
    /// `assistant` on the first chunk only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Answer text to append.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Thought-summary text to append.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// Tool calls, each whole in one delta.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<OpenAiToolCallDelta>,
}

/// A tool call in a delta. gempool always sends a call whole (Gemini never splits one), so
/// every delta carries `index`, `id`, `type`, `function.name` and the full `arguments`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OpenAiToolCallDelta {
    /// The call's position among this turn's calls.
    pub index: u32,
    /// The call id.
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The function called and its full arguments.
    pub function: OpenAiFunctionCall,
    /// `{"google": {"thought_signature": …}}`, as on a whole reply's tool call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_content: Option<Value>,
}

// ---------------------------------------------------------------------------------------------
// Embeddings and models

/// `POST /v1/embeddings` body. `input` is kept raw: a string, a list of strings, or token
/// arrays (rejected).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OpenAiEmbeddingsRequest {
    /// The embedding model the client asked for.
    #[serde(default, deserialize_with = "crate::protocol::null_as_default")]
    pub model: String,
    /// A string, a list of strings, or token arrays (refused).
    #[serde(default)]
    pub input: Value,
    /// `float` (the default) or `base64`.
    #[serde(default)]
    pub encoding_format: Option<String>,
    /// Truncate each embedding to this many dimensions.
    #[serde(default)]
    pub dimensions: Option<u32>,
}

/// `POST /v1/embeddings` answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpenAiEmbeddingsResponse {
    /// Always `list`.
    pub object: String,
    /// One embedding per input, in input order.
    pub data: Vec<OpenAiEmbedding>,
    /// The model the client asked for.
    pub model: String,
    /// Token counts (Gemini returns none for embeddings: estimated).
    pub usage: OpenAiEmbeddingsUsage,
}

/// One entry of an embeddings answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenAiEmbedding {
    /// Always `embedding`.
    pub object: String,
    /// The input's position, 0-based.
    pub index: u32,
    /// The vector, as floats or base64.
    pub embedding: OpenAiEmbeddingVector,
}

/// `encoding_format: "float"` → numbers; `"base64"` → little-endian `f32` bytes, base64.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OpenAiEmbeddingVector {
    /// The vector as a list of floats (`encoding_format: float`).
    Float(Vec<f32>),
    /// The vector's little-endian f32 bytes, base64 (`encoding_format: base64`).
    Base64(String),
}

/// Token counts of an embeddings request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenAiEmbeddingsUsage {
    /// Tokens in the inputs.
    pub prompt_tokens: u64,
    /// The same again (embeddings have no output tokens).
    pub total_tokens: u64,
}

/// `GET /v1/models/{id}`, and each entry of the list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenAiModel {
    /// The model id.
    pub id: String,
    /// Always `model`.
    pub object: String,
    /// Creation time, Unix seconds (0: unknown).
    pub created: u64,
    /// Always `google`.
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
    /// Always `list`.
    pub object: String,
    /// The models.
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
        crate::protocol::test_support::ctx("req-01_AB", 1_700_000_000)
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
