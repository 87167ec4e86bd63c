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
//! * [`events`]: the one walk over a response or stream chunk (usage, prompt block, text,
//!   thought, signature, function call, finish), which every stream translator consumes;
//! * [`status`]: the error body with typed details, the Google code -> HTTP table and
//!   `API_KEY_INVALID` detection.
//!
//! Everything serialized here skips `None`, so the upstream sees only what the client asked for;
//! everything deserialized tolerates unknown fields and missing defaults (Gemini omits zeros).

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub mod events;
pub mod extras;
pub mod finish;
pub mod imagen;
pub mod media;
pub mod resources;
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
    /// No model id at all (or only `models/`).
    #[error("the model name is empty")]
    Empty,
    /// Longer than [`MAX_MODEL_ID_LEN`].
    #[error("the model name is longer than {MAX_MODEL_ID_LEN} characters")]
    TooLong,
    /// A character outside `[A-Za-z0-9._-]`, or dots alone; carries the id as shown back.
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
    /// The parameter's name as the client spelled it (`temperature`, `top_p`, ...).
    pub name: &'static str,
    /// The accepted range, in words (`a number from 0 to 2`).
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
    /// The conversation so far, oldest turn first.
    pub contents: Vec<Content>,
    /// The system prompt (`systemInstruction`).
    #[serde(skip_serializing_if = "Option::is_none", alias = "system_instruction")]
    pub system_instruction: Option<Content>,
    /// Function declarations and built-in tools the model may use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    /// How the model may call the declared functions (`toolConfig`).
    #[serde(skip_serializing_if = "Option::is_none", alias = "tool_config")]
    pub tool_config: Option<ToolConfig>,
    /// Per-category safety thresholds, passed through from the client.
    #[serde(default, skip_serializing_if = "Vec::is_empty", alias = "safety_settings")]
    pub safety_settings: Vec<SafetySetting>,
    /// Sampling, output and thinking parameters (`generationConfig`).
    #[serde(skip_serializing_if = "Option::is_none", alias = "generation_config")]
    pub generation_config: Option<GenerationConfig>,
    /// The name of a context cache to read the prompt prefix from (`cachedContent`).
    #[serde(skip_serializing_if = "Option::is_none", alias = "cached_content")]
    pub cached_content: Option<String>,
}

/// One turn of a conversation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Content {
    /// `user` or `model`; absent on a system instruction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The turn's parts, in order.
    #[serde(default)]
    pub parts: Vec<Part>,
}

impl Content {
    /// A `user` turn made of `parts`.
    pub fn user(parts: Vec<Part>) -> Self {
        Content {
            role: Some("user".into()),
            parts,
        }
    }
    /// A `model` turn made of `parts`.
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
    /// Plain text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Inline bytes (`inlineData`): an image, audio or a document.
    #[serde(skip_serializing_if = "Option::is_none", alias = "inline_data")]
    pub inline_data: Option<Blob>,
    /// A file referenced by URI (`fileData`).
    #[serde(skip_serializing_if = "Option::is_none", alias = "file_data")]
    pub file_data: Option<FileData>,
    /// A function call the model makes (`functionCall`).
    #[serde(skip_serializing_if = "Option::is_none", alias = "function_call")]
    pub function_call: Option<FunctionCall>,
    /// The result of a function call, sent back by the client (`functionResponse`).
    #[serde(skip_serializing_if = "Option::is_none", alias = "function_response")]
    pub function_response: Option<FunctionResponse>,
    /// Code the model wrote for the code-execution tool (`executableCode`), passed through as is.
    #[serde(skip_serializing_if = "Option::is_none", alias = "executable_code")]
    pub executable_code: Option<Value>,
    /// The outcome of running that code (`codeExecutionResult`), passed through as is.
    #[serde(skip_serializing_if = "Option::is_none", alias = "code_execution_result")]
    pub code_execution_result: Option<Value>,
    /// True when the part is a thought summary rather than answer text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thought: Option<bool>,
    /// Opaque signature of the model's reasoning (`thoughtSignature`); must be sent back with the part it came on.
    #[serde(skip_serializing_if = "Option::is_none", alias = "thought_signature")]
    pub thought_signature: Option<String>,
}

impl Part {
    /// A part holding only `text`.
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
    /// The media type of `data`, e.g. `image/png`.
    #[serde(alias = "mime_type")]
    pub mime_type: String,
    /// The bytes, standard base64.
    pub data: String,
}

/// A reference to a file by URI (`fileData`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileData {
    /// The media type of the file, when known.
    #[serde(skip_serializing_if = "Option::is_none", alias = "mime_type")]
    pub mime_type: Option<String>,
    /// The file's URI (a Files API URI or an `https` URL).
    #[serde(alias = "file_uri")]
    pub file_uri: String,
}

/// A model's request to call a function; `args` is a JSON object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionCall {
    /// Call id, when the model gives one (Gemini 3); echoed in the matching response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The declared function's name.
    pub name: String,
    /// The arguments, a JSON object.
    #[serde(default = "empty_object")]
    pub args: Value,
}

/// The result of a function call; `response` must be a JSON object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionResponse {
    /// The id of the call this answers, when the call had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The name of the function that was called.
    pub name: String,
    /// The function's result, a JSON object.
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
    /// Functions the model may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty", alias = "function_declarations")]
    pub function_declarations: Vec<FunctionDeclaration>,
    /// The built-in Google Search tool (`googleSearch`), free-form.
    #[serde(skip_serializing_if = "Option::is_none", alias = "google_search")]
    pub google_search: Option<Value>,
    /// The built-in code-execution tool (`codeExecution`), free-form.
    #[serde(skip_serializing_if = "Option::is_none", alias = "code_execution")]
    pub code_execution: Option<Value>,
    /// The built-in URL-context tool (`urlContext`), free-form.
    #[serde(skip_serializing_if = "Option::is_none", alias = "url_context")]
    pub url_context: Option<Value>,
}

/// A function the model may call. Exactly one of `parameters` (OpenAPI-subset schema) and
/// `parameters_json_schema` (JSON Schema) may be set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionDeclaration {
    /// The function's name, as the model will call it.
    pub name: String,
    /// What the function does, for the model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The arguments' schema in Gemini's OpenAPI subset (`parameters`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// The arguments' schema as full JSON Schema (`parametersJsonSchema`).
    #[serde(skip_serializing_if = "Option::is_none", alias = "parameters_json_schema")]
    pub parameters_json_schema: Option<Value>,
}

/// `toolConfig`: how the model may use the declared tools.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolConfig {
    /// The function-calling mode and allow-list.
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
    /// `AUTO`, `ANY`, `NONE` or `VALIDATED`.
    pub mode: String,
    /// With `ANY`: the only functions the model may call (empty: any declared).
    #[serde(default, skip_serializing_if = "Vec::is_empty", alias = "allowed_function_names")]
    pub allowed_function_names: Vec<String>,
}

/// One `safetySettings` entry: a harm category and the threshold at which to block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SafetySetting {
    /// The harm category, e.g. `HARM_CATEGORY_HARASSMENT`.
    pub category: String,
    /// The blocking threshold, e.g. `BLOCK_NONE`.
    pub threshold: String,
}

/// `generationConfig`: sampling, output format and thinking parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerationConfig {
    /// How many candidates to generate (`candidateCount`, 1 to [`MAX_CANDIDATE_COUNT`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate_count: Option<u32>,
    /// Sequences that end generation when produced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
    /// The cap on output tokens (`maxOutputTokens`); thoughts are not counted in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// Sampling temperature, 0 to 2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling mass, 0 to 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Top-k sampling cut-off, positive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// Seed for reproducible sampling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Penalty for tokens already present, -2 to 2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// Penalty growing with a token's frequency so far, -2 to 2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// `application/json` or `text/x.enum` for structured output; plain text when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_mime_type: Option<String>,
    /// The output's schema in Gemini's OpenAPI subset (`responseSchema`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_schema: Option<Value>,
    /// The output's schema as full JSON Schema (`responseJsonSchema`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_json_schema: Option<Value>,
    /// Whether to return the chosen tokens' log probabilities.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_logprobs: Option<bool>,
    /// How many top alternatives' log probabilities to return per token (0 to 20).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<u32>,
    /// Thinking (reasoning) settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_config: Option<ThinkingConfig>,
    /// What the answer holds (`TEXT`, `IMAGE`, `AUDIO`); text when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_modalities: Vec<String>,
    /// Image output settings (image models).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_config: Option<ImageConfig>,
    /// Speech output settings (text-to-speech models).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speech_config: Option<SpeechConfig>,
}

/// `generationConfig.imageConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageConfig {
    /// The image's aspect ratio, e.g. `16:9`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aspect_ratio: Option<String>,
}

/// `generationConfig.speechConfig`: one prebuilt voice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpeechConfig {
    /// The voice.
    pub voice_config: VoiceConfig,
}

/// `speechConfig.voiceConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VoiceConfig {
    /// A voice of Google's catalog.
    pub prebuilt_voice_config: PrebuiltVoiceConfig,
}

/// `voiceConfig.prebuiltVoiceConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrebuiltVoiceConfig {
    /// The voice's name, e.g. `Kore`.
    pub voice_name: String,
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
    /// Whether thought summaries are returned as `thought` parts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_thoughts: Option<bool>,
    /// The thinking token budget (Gemini 2.5): 0 off, -1 dynamic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_budget: Option<i64>,
    /// The thinking level (Gemini 3): `low`, `medium`, `high`, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_level: Option<String>,
}

/// `generateContent` response, and each chunk of `streamGenerateContent`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentResponse {
    /// The generated candidates (one unless `candidateCount` asked for more).
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    /// Why the prompt itself was blocked, if it was (then there are no candidates).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_feedback: Option<PromptFeedback>,
    /// Token counts; cumulative in a stream, final in its last chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_metadata: Option<UsageMetadata>,
    /// The exact model version that answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    /// Gemini's id for the response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_id: Option<String>,
    /// The error a stream may end with, sent as a chunk of its own (`{"error": {…}}`); never
    /// set on a whole response (those fail with an HTTP status). An `error` that is not a
    /// readable [`Status`] is ignored.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "readable_status"
    )]
    pub error: Option<Status>,
}

/// `error` as a [`Status`] when it reads as one, else `None` (the chunk stays readable).
fn readable_status<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Status>, D::Error> {
    let value = Option::<Value>::deserialize(deserializer)?;
    Ok(value.and_then(|v| serde_json::from_value(v).ok()))
}

/// One generated answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    /// Absent on some MAX_TOKENS / SAFETY finishes; `parts` may be absent too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    /// Why generation stopped; absent on stream chunks before the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<FinishReason>,
    /// The candidate's position, 0-based.
    #[serde(default)]
    pub index: u32,
}

/// Feedback on the prompt: set when it was blocked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptFeedback {
    /// The block reason, e.g. `SAFETY` or `PROHIBITED_CONTENT`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_reason: Option<String>,
}

/// Token accounting. On the Gemini API `candidatesTokenCount` excludes thoughts:
/// `total = prompt + candidates + thoughts (+ toolUsePrompt)`. In streams it is cumulative.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageMetadata {
    /// Tokens in the prompt, cached ones included.
    #[serde(default)]
    pub prompt_token_count: u64,
    /// Tokens in the visible answer (thoughts excluded).
    #[serde(default)]
    pub candidates_token_count: u64,
    /// Tokens spent thinking.
    #[serde(default)]
    pub thoughts_token_count: u64,
    /// Tokens of the prompt read from a context cache.
    #[serde(default)]
    pub cached_content_token_count: u64,
    /// Tokens of tool-use prompts (the results of built-in tools).
    #[serde(default)]
    pub tool_use_prompt_token_count: u64,
    /// All tokens billed for the request.
    #[serde(default)]
    pub total_token_count: u64,
}

/// `POST models/{m}:countTokens` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CountTokensRequest {
    /// The contents to count, when no `generateContentRequest` is given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contents: Vec<Content>,
    /// A whole request to count (tools and system prompt included).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generate_content_request: Option<CountTokensGenerateContentRequest>,
}

/// The `generateContentRequest` inside countTokens: `model` is required here.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CountTokensGenerateContentRequest {
    /// The model, `models/{id}`.
    pub model: String,
    /// The request whose tokens are counted.
    #[serde(flatten)]
    pub request: GenerateContentRequest,
}

/// The `countTokens` answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CountTokensResponse {
    /// Tokens the contents or the request take as prompt.
    #[serde(default)]
    pub total_tokens: u64,
    /// Of those, tokens held in a context cache.
    #[serde(default)]
    pub cached_content_token_count: u64,
}

/// One `embedContent` request (also an element of `batchEmbedContents`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmbedContentRequest {
    /// The model, `models/{id}`; required inside a batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The content to embed (its text parts).
    pub content: Content,
    /// What the embedding is for, e.g. `RETRIEVAL_QUERY` or `SEMANTIC_SIMILARITY`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_type: Option<String>,
    /// A document title, with `RETRIEVAL_DOCUMENT`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Truncate the embedding to this many dimensions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_dimensionality: Option<u32>,
}

/// `POST models/{m}:batchEmbedContents` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchEmbedContentsRequest {
    /// One request per input, each naming the model.
    pub requests: Vec<EmbedContentRequest>,
}

/// One embedding vector.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentEmbedding {
    /// The vector's components.
    #[serde(default)]
    pub values: Vec<f32>,
}

/// The `embedContent` answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmbedContentResponse {
    /// The input's embedding.
    pub embedding: ContentEmbedding,
}

/// The `batchEmbedContents` answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchEmbedContentsResponse {
    /// One embedding per request, in request order.
    #[serde(default)]
    pub embeddings: Vec<ContentEmbedding>,
}

/// A model as listed by `GET models`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Model {
    /// The resource name, `models/{id}`.
    pub name: String,
    /// The human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// What the model is, in Google's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The most prompt tokens the model accepts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_token_limit: Option<u64>,
    /// The most output tokens the model produces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_token_limit: Option<u64>,
    /// The methods it serves, e.g. `generateContent`, `embedContent`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supported_generation_methods: Vec<String>,
    /// The fields gempool does not read (`version`, `temperature`, `thinking`, ...), kept as
    /// the upstream sent them: native listings served from the cache are Google's own.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Model {
    /// The bare id (`gemini-2.5-flash`) of `models/gemini-2.5-flash`.
    pub fn id(&self) -> &str {
        self.name.strip_prefix("models/").unwrap_or(&self.name)
    }
}

/// `GET models` answer: one page of the model list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListModelsResponse {
    /// The models on this page.
    #[serde(default)]
    pub models: Vec<Model>,
    /// The token for the next page, absent on the last.
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
