//! The Gemini hub: `v1beta` wire types, the canonical model every client protocol converges
//! on, and the single home of each Gemini rule the translators share.
//!
//! The OpenAI, Responses and Anthropic translators build a [`GenerateContentRequest`] and read
//! a [`GenerateContentResponse`]; native Gemini requests are forwarded untouched and only their
//! responses' `usageMetadata` and errors are read. Field names follow the proto3 JSON mapping
//! (lowerCamelCase out, both cases accepted in). Reference: `shared/reference/protocols.md` §1.
//!
//! The rules, one module each, each with a table test:
//! * [`thinking`]: model families and effort / budget / off / dynamic -> `thinkingConfig`;
//! * [`media`]: the MIME table for URLs and file names;
//! * [`signatures`]: the skip sentinel and the one codec for signatures in tool-call ids;
//! * [`turns`]: call/response pairing (unanswered calls are 400s) and the active-loop rule;
//! * [`finish`]: typed [`FinishReason`] and which reasons are blocks or length cuts;
//! * [`status`]: the error body with typed details, the Google code -> HTTP table and
//!   `API_KEY_INVALID` detection.
//!
//! Everything serialized here skips `None`, so the upstream sees only what the client asked for;
//! everything deserialized tolerates unknown fields and missing defaults (Gemini omits zeros).

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub mod finish;
pub mod media;
pub mod signatures;
pub mod status;
pub mod thinking;
pub mod turns;

pub use finish::{FinishOutcome, FinishReason};
pub use status::{ErrorBody, Status, StatusDetail};

/// The API version path segment gempool uses for translated requests.
pub const API_VERSION: &str = "v1beta";

/// The longest model id gempool accepts from a client (Gemini's own ids are under 64).
pub const MAX_MODEL_ID_LEN: usize = 128;

/// Why a client-supplied model id was refused before anything went upstream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelIdError {
    #[error("the model name is empty")]
    Empty,
    #[error("the model name is longer than {MAX_MODEL_ID_LEN} characters")]
    TooLong,
    #[error("the model name {0:?} may contain only letters, digits, '.', '_' and '-' (after an optional 'models/')")]
    BadCharacter(String),
}

/// Validates a model id a client sent (in a body or a path): an optional `models/` prefix,
/// then 1 to [`MAX_MODEL_ID_LEN`] characters of `[A-Za-z0-9._-]`, not made of dots alone.
/// Returns the bare id.
///
/// The id becomes a segment of the upstream path, so this is what keeps a client from
/// steering the upstream URL (`m:generateContent?key=…#`, `../../x`, `%2e%2e`).
pub fn validate_model_id(raw: &str) -> Result<&str, ModelIdError> {
    let bare = raw.strip_prefix("models/").unwrap_or(raw);
    if bare.is_empty() {
        return Err(ModelIdError::Empty);
    }
    if bare.len() > MAX_MODEL_ID_LEN {
        return Err(ModelIdError::TooLong);
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if !bare.chars().all(allowed) || bare.chars().all(|c| c == '.') {
        let shown: String = raw.chars().take(MAX_MODEL_ID_LEN).collect();
        return Err(ModelIdError::BadCharacter(shown));
    }
    Ok(bare)
}

/// The upstream path of a model method, e.g. `/v1beta/models/gemini-2.5-flash:generateContent`
/// (`method` may carry a fixed query, e.g. `streamGenerateContent?alt=sse`), or of the model
/// itself when `method` is `None`.
///
/// The model id is percent-encoded as one path segment (and a segment of dots alone is
/// encoded too), so even an id that escaped [`validate_model_id`] cannot add segments, a
/// query or a fragment.
pub fn model_path(version: &str, model: &str, method: Option<&str>) -> String {
    let model = model.strip_prefix("models/").unwrap_or(model);
    let mut segment = percent_encoding::utf8_percent_encode(model, PATH_SEGMENT).to_string();
    if segment.chars().all(|c| c == '.') {
        segment = segment.replace('.', "%2E");
    }
    match method {
        Some(method) => format!("/{version}/models/{segment}:{method}"),
        None => format!("/{version}/models/{segment}"),
    }
}

/// The most candidates Gemini generates for one request (`candidateCount`).
pub const MAX_CANDIDATE_COUNT: u32 = 8;

/// The widest embedding Gemini returns (`outputDimensionality`).
pub const MAX_EMBEDDING_DIMENSIONS: u32 = 3072;

/// A sampling parameter outside the range Gemini accepts: the client-facing name (the same in
/// OpenAI's and Anthropic's APIs) and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name} must be {allowed}")]
pub struct OutOfRange {
    pub name: &'static str,
    pub allowed: &'static str,
}

impl GenerationConfig {
    /// Gemini's ranges for the sampling parameters, checked before a translated request goes
    /// upstream (one rule for every client protocol).
    pub fn check_ranges(&self) -> Result<(), OutOfRange> {
        let within = |v: Option<f64>, lo: f64, hi: f64| v.is_none_or(|v| v.is_finite() && (lo..=hi).contains(&v));
        let fail = |name, allowed| Err(OutOfRange { name, allowed });
        if !within(self.temperature, 0.0, 2.0) {
            return fail("temperature", "a number from 0 to 2");
        }
        if !within(self.top_p, 0.0, 1.0) {
            return fail("top_p", "a number from 0 to 1");
        }
        if self.top_k == Some(0) {
            return fail("top_k", "a positive whole number");
        }
        if self.max_output_tokens == Some(0) {
            return fail("max_tokens", "a positive whole number");
        }
        if self
            .candidate_count
            .is_some_and(|n| !(1..=MAX_CANDIDATE_COUNT).contains(&n))
        {
            return fail("n", "from 1 to 8");
        }
        if !within(self.presence_penalty, -2.0, 2.0) {
            return fail("presence_penalty", "a number from -2 to 2");
        }
        if !within(self.frequency_penalty, -2.0, 2.0) {
            return fail("frequency_penalty", "a number from -2 to 2");
        }
        if self.logprobs.is_some_and(|n| n > 20) {
            return fail("top_logprobs", "from 0 to 20");
        }
        Ok(())
    }
}

/// Whether `data` is base64 as Gemini's `inlineData.data` (proto3 `bytes`) accepts it:
/// the standard or URL-safe alphabet, padding only at the end. Checked before sending, so a
/// client with broken image data gets its 400 from gempool, not a round trip upstream.
pub fn is_valid_base64(data: &str) -> bool {
    let body = data.trim_end_matches('=');
    let padding = data.len() - body.len();
    !body.is_empty()
        && padding <= 2
        && (padding == 0 || data.len().is_multiple_of(4))
        && body.len() % 4 != 1
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_'))
}

/// Everything but RFC 3986 unreserved characters is encoded in a model segment.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `POST models/{m}:generateContent` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentRequest {
    pub contents: Vec<Content>,
    #[serde(skip_serializing_if = "Option::is_none", alias = "system_instruction")]
    pub system_instruction: Option<Content>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    #[serde(skip_serializing_if = "Option::is_none", alias = "tool_config")]
    pub tool_config: Option<ToolConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", alias = "safety_settings")]
    pub safety_settings: Vec<SafetySetting>,
    #[serde(skip_serializing_if = "Option::is_none", alias = "generation_config")]
    pub generation_config: Option<GenerationConfig>,
    #[serde(skip_serializing_if = "Option::is_none", alias = "cached_content")]
    pub cached_content: Option<String>,
}

/// One turn of a conversation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Content {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default)]
    pub parts: Vec<Part>,
}

impl Content {
    pub fn user(parts: Vec<Part>) -> Self {
        Content {
            role: Some("user".into()),
            parts,
        }
    }
    pub fn model(parts: Vec<Part>) -> Self {
        Content {
            role: Some("model".into()),
            parts,
        }
    }
}

/// A part of a turn. Exactly one data field is set; `thought` and `thought_signature` ride along.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Part {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", alias = "inline_data")]
    pub inline_data: Option<Blob>,
    #[serde(skip_serializing_if = "Option::is_none", alias = "file_data")]
    pub file_data: Option<FileData>,
    #[serde(skip_serializing_if = "Option::is_none", alias = "function_call")]
    pub function_call: Option<FunctionCall>,
    #[serde(skip_serializing_if = "Option::is_none", alias = "function_response")]
    pub function_response: Option<FunctionResponse>,
    #[serde(skip_serializing_if = "Option::is_none", alias = "executable_code")]
    pub executable_code: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none", alias = "code_execution_result")]
    pub code_execution_result: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thought: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", alias = "thought_signature")]
    pub thought_signature: Option<String>,
}

impl Part {
    pub fn text(text: impl Into<String>) -> Self {
        Part {
            text: Some(text.into()),
            ..Default::default()
        }
    }
    /// True for thought-summary parts (`thought: true`).
    pub fn is_thought(&self) -> bool {
        self.thought.unwrap_or(false)
    }
}

/// Inline bytes (`inlineData`), base64 in JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blob {
    #[serde(alias = "mime_type")]
    pub mime_type: String,
    pub data: String,
}

/// A reference to a file by URI (`fileData`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileData {
    #[serde(skip_serializing_if = "Option::is_none", alias = "mime_type")]
    pub mime_type: Option<String>,
    #[serde(alias = "file_uri")]
    pub file_uri: String,
}

/// A model's request to call a function; `args` is a JSON object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionCall {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    #[serde(default = "empty_object")]
    pub args: Value,
}

/// The result of a function call; `response` must be a JSON object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    pub response: Value,
    /// Multimodal tool results (images) ride here as `inlineData` parts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Part>,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// A tool entry: function declarations or a built-in tool (kept free-form).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tool {
    #[serde(default, skip_serializing_if = "Vec::is_empty", alias = "function_declarations")]
    pub function_declarations: Vec<FunctionDeclaration>,
    #[serde(skip_serializing_if = "Option::is_none", alias = "google_search")]
    pub google_search: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none", alias = "code_execution")]
    pub code_execution: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none", alias = "url_context")]
    pub url_context: Option<Value>,
}

/// A function the model may call. Exactly one of `parameters` (OpenAPI-subset schema) and
/// `parameters_json_schema` (JSON Schema) may be set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionDeclaration {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none", alias = "parameters_json_schema")]
    pub parameters_json_schema: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolConfig {
    #[serde(skip_serializing_if = "Option::is_none", alias = "function_calling_config")]
    pub function_calling_config: Option<FunctionCallingConfig>,
}

impl Tool {
    /// The `tools` of a request declaring `declarations` (none when there are none: an empty
    /// `functionDeclarations` entry is a 400 upstream).
    pub fn functions(declarations: Vec<FunctionDeclaration>) -> Vec<Tool> {
        if declarations.is_empty() {
            return Vec::new();
        }
        vec![Tool {
            function_declarations: declarations,
            ..Default::default()
        }]
    }
}

impl ToolConfig {
    /// A function-calling config, sent only when there are functions to call (a `toolConfig`
    /// without tools is refused upstream).
    pub fn for_functions(calling: Option<FunctionCallingConfig>, has_functions: bool) -> Option<ToolConfig> {
        calling.filter(|_| has_functions).map(|config| ToolConfig {
            function_calling_config: Some(config),
        })
    }
}

/// `mode` is one of `AUTO`, `ANY`, `NONE`, `VALIDATED`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionCallingConfig {
    pub mode: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty", alias = "allowed_function_names")]
    pub allowed_function_names: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SafetySetting {
    pub category: String,
    pub threshold: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerationConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate_count: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_mime_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_schema: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_json_schema: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_logprobs: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_config: Option<ThinkingConfig>,
}

impl GenerationConfig {
    /// `None` when nothing is set, so the request carries no empty `generationConfig`.
    pub fn if_set(self) -> Option<GenerationConfig> {
        (self != GenerationConfig::default()).then_some(self)
    }
}

/// Gemini 2.5 takes `thinkingBudget` (0 off, -1 dynamic); Gemini 3 takes `thinkingLevel`.
/// Sending both is a 400 upstream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThinkingConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_thoughts: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_budget: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_level: Option<String>,
}

/// `generateContent` response, and each chunk of `streamGenerateContent`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentResponse {
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_feedback: Option<PromptFeedback>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_metadata: Option<UsageMetadata>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    /// Absent on some MAX_TOKENS / SAFETY finishes; `parts` may be absent too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<FinishReason>,
    #[serde(default)]
    pub index: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptFeedback {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_reason: Option<String>,
}

/// Token accounting. On the Gemini API `candidatesTokenCount` excludes thoughts:
/// `total = prompt + candidates + thoughts (+ toolUsePrompt)`. In streams it is cumulative.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageMetadata {
    #[serde(default)]
    pub prompt_token_count: u64,
    #[serde(default)]
    pub candidates_token_count: u64,
    #[serde(default)]
    pub thoughts_token_count: u64,
    #[serde(default)]
    pub cached_content_token_count: u64,
    #[serde(default)]
    pub tool_use_prompt_token_count: u64,
    #[serde(default)]
    pub total_token_count: u64,
}

/// `POST models/{m}:countTokens` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CountTokensRequest {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contents: Vec<Content>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generate_content_request: Option<CountTokensGenerateContentRequest>,
}

/// The `generateContentRequest` inside countTokens: `model` is required here.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CountTokensGenerateContentRequest {
    pub model: String,
    #[serde(flatten)]
    pub request: GenerateContentRequest,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CountTokensResponse {
    #[serde(default)]
    pub total_tokens: u64,
    #[serde(default)]
    pub cached_content_token_count: u64,
}

/// One `embedContent` request (also an element of `batchEmbedContents`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmbedContentRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub content: Content,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_dimensionality: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchEmbedContentsRequest {
    pub requests: Vec<EmbedContentRequest>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentEmbedding {
    #[serde(default)]
    pub values: Vec<f32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmbedContentResponse {
    pub embedding: ContentEmbedding,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchEmbedContentsResponse {
    #[serde(default)]
    pub embeddings: Vec<ContentEmbedding>,
}

/// A model as listed by `GET models`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Model {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_token_limit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_token_limit: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supported_generation_methods: Vec<String>,
}

impl Model {
    /// The bare id (`gemini-2.5-flash`) of `models/gemini-2.5-flash`.
    pub fn id(&self) -> &str {
        self.name.strip_prefix("models/").unwrap_or(&self.name)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListModelsResponse {
    #[serde(default)]
    pub models: Vec<Model>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

#[cfg(test)]
mod model_id_tests {
    use super::*;

    #[test]
    fn client_model_ids_are_validated() {
        for ok in [
            "gemini-2.5-flash",
            "models/gemini-2.5-pro",
            "gpt-4o",
            "claude-opus-4-5",
            "o3",
            "a.b_c-d",
        ] {
            assert!(validate_model_id(ok).is_ok(), "{ok}");
        }
        assert_eq!(validate_model_id("models/gemini-2.5-pro"), Ok("gemini-2.5-pro"));
        let too_long = "x".repeat(MAX_MODEL_ID_LEN + 1);
        for bad in [
            "",
            "models/",
            "a b",
            "gemini-2.5-flash:generateContent?key=INJECT#",
            "../../x",
            "models/../../x",
            "..",
            "%2e%2e",
            "m/x",
            "m\n",
            "m\u{0}",
            "gémini",
            too_long.as_str(),
        ] {
            assert!(validate_model_id(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn sampling_parameters_are_checked_against_geminis_ranges() {
        let ok = GenerationConfig {
            temperature: Some(2.0),
            top_p: Some(0.0),
            top_k: Some(40),
            candidate_count: Some(8),
            ..Default::default()
        };
        assert_eq!(ok.check_ranges(), Ok(()));
        for (bad, name) in [
            (
                GenerationConfig {
                    temperature: Some(-1.0),
                    ..Default::default()
                },
                "temperature",
            ),
            (
                GenerationConfig {
                    temperature: Some(1e300),
                    ..Default::default()
                },
                "temperature",
            ),
            (
                GenerationConfig {
                    temperature: Some(f64::NAN),
                    ..Default::default()
                },
                "temperature",
            ),
            (
                GenerationConfig {
                    top_p: Some(2.0),
                    ..Default::default()
                },
                "top_p",
            ),
            (
                GenerationConfig {
                    top_k: Some(0),
                    ..Default::default()
                },
                "top_k",
            ),
            (
                GenerationConfig {
                    max_output_tokens: Some(0),
                    ..Default::default()
                },
                "max_tokens",
            ),
            (
                GenerationConfig {
                    candidate_count: Some(9),
                    ..Default::default()
                },
                "n",
            ),
            (
                GenerationConfig {
                    presence_penalty: Some(3.0),
                    ..Default::default()
                },
                "presence_penalty",
            ),
        ] {
            assert_eq!(bad.check_ranges().map_err(|e| e.name), Err(name));
        }
    }

    #[test]
    fn base64_is_checked_like_proto3_bytes() {
        for ok in ["aGVsbG8=", "aGVsbG8", "iVBORw0KGgo=", "a-_b", "AAAA"] {
            assert!(is_valid_base64(ok), "{ok}");
        }
        for bad in ["", "not base64!", "aGVs bG8=", "a===", "abcde", "ab=c", "====", "%%%%"] {
            assert!(!is_valid_base64(bad), "{bad}");
        }
    }

    #[test]
    fn upstream_paths_keep_the_model_in_one_segment() {
        assert_eq!(
            model_path("v1beta", "models/gemini-2.5-flash", Some("generateContent")),
            "/v1beta/models/gemini-2.5-flash:generateContent"
        );
        assert_eq!(
            model_path("v1beta", "m:x?key=a#", Some("countTokens")),
            "/v1beta/models/m%3Ax%3Fkey%3Da%23:countTokens"
        );
        assert_eq!(model_path("v1", "../../x", None), "/v1/models/..%2F..%2Fx");
        assert_eq!(model_path("v1", "..", None), "/v1/models/%2E%2E");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_with_missing_defaults_parses() {
        let json = r#"{"candidates": [{"content": {"role": "model"},"finishReason": "MAX_TOKENS"}],
            "usageMetadata": {"promptTokenCount": 5,"totalTokenCount": 5}}"#;
        let r: GenerateContentResponse = serde_json::from_str(json).unwrap();
        assert_eq!(r.candidates[0].index, 0);
        assert!(r.candidates[0].content.as_ref().unwrap().parts.is_empty());
        assert_eq!(r.usage_metadata.unwrap().candidates_token_count, 0);
    }

    #[test]
    fn snake_case_input_is_accepted() {
        let json = r#"{"contents":[{"role":"user","parts":[{"inline_data":{"mime_type":"image/png","data":"AA=="}}]}],
            "system_instruction":{"parts":[{"text":"x"}]}}"#;
        let r: GenerateContentRequest = serde_json::from_str(json).unwrap();
        assert_eq!(
            r.contents[0].parts[0].inline_data.as_ref().unwrap().mime_type,
            "image/png"
        );
        assert!(r.system_instruction.is_some());
    }

    #[test]
    fn request_serializes_camel_case_without_nones() {
        let r = GenerateContentRequest {
            contents: vec![Content::user(vec![Part::text("hi")])],
            generation_config: Some(GenerationConfig {
                max_output_tokens: Some(5),
                ..Default::default()
            }),
            ..Default::default()
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"contents":[{"role":"user","parts":[{"text":"hi"}]}],
                "generationConfig":{"maxOutputTokens":5}})
        );
    }
}
