//! Gemini `v1beta` wire types (serde), as the mock reads and writes them.
//!
//! Request types are decoded from the *normalized* body that the mock's validator produces: keys
//! are lowerCamelCase, nulls are dropped, integers are numbers and enums are canonical names, so
//! these structs need no snake_case aliases. Response types omit zero/false/empty fields the way
//! proto3 JSON output does (`index: 0`, `thought: false`, zero token counts are absent).
//! Free-form parts (schemas, function args, function responses) stay `serde_json::Value`.
//!
//! Every type also derives the other serde direction, so tests can decode what a gateway returns
//! on its Gemini-native routes. Reference: <https://ai.google.dev/api/generate-content>.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// `Content`: one turn of a conversation (request and response side).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GeminiContent {
    /// The parts of the turn; absent when empty (e.g. a MAX_TOKENS candidate during thinking).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<GeminiPart>,
    /// `user` or `model`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// `Part`: a one-of of text / function call / function response / media, plus thought flags.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GeminiPart {
    /// Text (also thought summaries when `thought` is true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Marks a thought summary part.
    #[serde(skip_serializing_if = "is_false")]
    pub thought: bool,
    /// A call the model wants to make.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_call: Option<GeminiFunctionCall>,
    /// The client's answer to a call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_response: Option<GeminiFunctionResponse>,
    /// Inline media `{mimeType, data}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inline_data: Option<Value>,
    /// Media by URI `{mimeType, fileUri}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_data: Option<Value>,
    /// Code the model generated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executable_code: Option<Value>,
    /// Result of executing code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_execution_result: Option<Value>,
    /// Opaque base64 signature that must be replayed on the same part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thought_signature: Option<String>,
}

impl GeminiPart {
    /// A plain text part.
    pub fn text(text: impl Into<String>) -> Self {
        GeminiPart {
            text: Some(text.into()),
            ..GeminiPart::default()
        }
    }
}

/// `FunctionCall`: `args` is always an object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GeminiFunctionCall {
    /// Optional call id (the Gemini API usually omits it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Function name.
    pub name: String,
    /// Arguments object.
    pub args: Map<String, Value>,
}

/// `FunctionResponse`: `response` must be a JSON object (a `Struct`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GeminiFunctionResponse {
    /// Optional call id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Function name.
    pub name: String,
    /// Result object.
    pub response: Map<String, Value>,
}

/// `GenerateContentRequest` (normalized).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GeminiGenerateContentRequest {
    /// Only meaningful inside `countTokens.generateContentRequest`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The conversation.
    pub contents: Vec<GeminiContent>,
    /// System prompt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_instruction: Option<GeminiContent>,
    /// Tool declarations.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<GeminiTool>,
    /// Function calling mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<GeminiToolConfig>,
    /// Sampling and output settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation_config: Option<GeminiGenerationConfig>,
}

/// `Tool` (only the function declarations matter to the mock's replies).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GeminiTool {
    /// Declared functions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub function_declarations: Vec<GeminiFunctionDeclaration>,
}

/// `FunctionDeclaration`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GeminiFunctionDeclaration {
    /// Function name.
    pub name: String,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// OpenAPI-subset schema.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// Raw JSON Schema (exclusive with `parameters`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters_json_schema: Option<Value>,
}

/// `ToolConfig`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GeminiToolConfig {
    /// Function calling settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_calling_config: Option<GeminiFunctionCallingConfig>,
}

/// `FunctionCallingConfig`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GeminiFunctionCallingConfig {
    /// `AUTO` | `ANY` | `NONE` | `VALIDATED`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Restricts `ANY` mode.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_function_names: Vec<String>,
}

/// `GenerationConfig` (the fields the mock acts on).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GeminiGenerationConfig {
    /// Number of candidates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate_count: Option<i64>,
    /// Up to 5 stop strings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
    /// Output cap, in the mock's word tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<i64>,
    /// `text/plain`, `application/json`, `text/x.enum`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_mime_type: Option<String>,
    /// OpenAPI-subset schema of the reply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_schema: Option<Value>,
    /// JSON Schema of the reply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_json_schema: Option<Value>,
    /// Thinking settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_config: Option<GeminiThinkingConfig>,
}

/// `ThinkingConfig`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GeminiThinkingConfig {
    /// Return thought summaries.
    pub include_thoughts: bool,
    /// Token budget: 0 off, -1 dynamic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_budget: Option<i64>,
    /// `MINIMAL` | `LOW` | `MEDIUM` | `HIGH` (Gemini 3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_level: Option<String>,
}

/// `CountTokensRequest` (normalized).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GeminiCountTokensRequest {
    /// Bare contents form.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contents: Vec<GeminiContent>,
    /// Full-request form (needs `model` and `contents`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generate_content_request: Option<GeminiGenerateContentRequest>,
}

/// `EmbedContentRequest` (normalized).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GeminiEmbedContentRequest {
    /// `models/{m}`; required inside a batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Text to embed (only `parts.text` is used).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<GeminiContent>,
    /// Truncated vector width.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_dimensionality: Option<i64>,
}

/// `BatchEmbedContentsRequest` (normalized).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GeminiBatchEmbedContentsRequest {
    /// One entry per text.
    pub requests: Vec<GeminiEmbedContentRequest>,
}

/// `GenerateContentResponse` (also each streamed chunk).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GeminiGenerateContentResponse {
    /// Absent when the prompt was blocked.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<GeminiCandidate>,
    /// Set when the prompt was blocked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_feedback: Option<GeminiPromptFeedback>,
    /// Token accounting (cumulative in streams).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_metadata: Option<GeminiUsageMetadata>,
    /// The model that answered.
    pub model_version: String,
    /// Same id on every chunk of one stream.
    pub response_id: String,
}

/// `Candidate`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GeminiCandidate {
    /// The reply turn (may lack parts, or be absent on SAFETY).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<GeminiContent>,
    /// Only on the last chunk of a stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// Omitted when 0.
    #[serde(skip_serializing_if = "is_zero")]
    pub index: u32,
    /// Safety verdicts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub safety_ratings: Vec<GeminiSafetyRating>,
}

/// `PromptFeedback`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GeminiPromptFeedback {
    /// `SAFETY`, `OTHER`, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_reason: Option<String>,
    /// Safety verdicts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub safety_ratings: Vec<GeminiSafetyRating>,
}

/// `SafetyRating`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GeminiSafetyRating {
    /// `HARM_CATEGORY_*`.
    pub category: String,
    /// `NEGLIGIBLE` | `LOW` | `MEDIUM` | `HIGH`.
    pub probability: String,
    /// Whether this rating caused the block.
    #[serde(skip_serializing_if = "is_false")]
    pub blocked: bool,
}

/// `UsageMetadata`: `total = prompt + candidates + thoughts`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GeminiUsageMetadata {
    /// Prompt tokens.
    #[serde(skip_serializing_if = "is_zero")]
    pub prompt_token_count: u32,
    /// Reply tokens, thoughts excluded.
    #[serde(skip_serializing_if = "is_zero")]
    pub candidates_token_count: u32,
    /// Sum of all counts.
    #[serde(skip_serializing_if = "is_zero")]
    pub total_token_count: u32,
    /// Prompt tokens per modality.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prompt_tokens_details: Vec<GeminiModalityTokenCount>,
    /// Thinking tokens.
    #[serde(skip_serializing_if = "is_zero")]
    pub thoughts_token_count: u32,
}

/// `ModalityTokenCount`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GeminiModalityTokenCount {
    /// `TEXT`, `IMAGE`, ...
    pub modality: String,
    /// Tokens of that modality.
    #[serde(skip_serializing_if = "is_zero")]
    pub token_count: u32,
}

/// `CountTokensResponse`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GeminiCountTokensResponse {
    /// Prompt tokens.
    #[serde(skip_serializing_if = "is_zero")]
    pub total_tokens: u32,
    /// Prompt tokens per modality.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prompt_tokens_details: Vec<GeminiModalityTokenCount>,
}

/// `ContentEmbedding`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GeminiContentEmbedding {
    /// The vector.
    pub values: Vec<f32>,
}

/// `EmbedContentResponse`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GeminiEmbedContentResponse {
    /// The vector.
    pub embedding: GeminiContentEmbedding,
}

/// `BatchEmbedContentsResponse`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GeminiBatchEmbedContentsResponse {
    /// One vector per request, in request order.
    pub embeddings: Vec<GeminiContentEmbedding>,
}

/// `Model`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GeminiModel {
    /// `models/{id}`.
    pub name: String,
    /// Bare id.
    pub base_model_id: String,
    /// Version tag.
    pub version: String,
    /// Human name.
    pub display_name: String,
    /// Description.
    pub description: String,
    /// Context window.
    pub input_token_limit: u32,
    /// Output cap.
    pub output_token_limit: u32,
    /// e.g. `generateContent`, `countTokens`, `embedContent`.
    pub supported_generation_methods: Vec<String>,
    /// Default temperature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Max temperature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_temperature: Option<f32>,
    /// Default top-p.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Default top-k.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// Whether the model thinks.
    #[serde(skip_serializing_if = "is_false")]
    pub thinking: bool,
}

/// `ListModelsResponse`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GeminiListModelsResponse {
    /// One page of models.
    pub models: Vec<GeminiModel>,
    /// Absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// The error envelope: `{"error": {code, message, status, details}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeminiApiError {
    /// The status.
    pub error: GeminiErrorBody,
}

/// `google.rpc.Status` as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeminiErrorBody {
    /// HTTP status code.
    pub code: u16,
    /// Human message.
    pub message: String,
    /// Canonical code name (`INVALID_ARGUMENT`, `RESOURCE_EXHAUSTED`, ...).
    pub status: String,
    /// Typed details.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<GeminiErrorDetail>,
}

/// One `google.rpc.*` detail, tagged by `@type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "@type")]
pub enum GeminiErrorDetail {
    /// Machine-readable reason (`API_KEY_INVALID`, `CONSUMER_SUSPENDED`).
    #[serde(rename = "type.googleapis.com/google.rpc.ErrorInfo")]
    ErrorInfo {
        /// Reason code.
        reason: String,
        /// `googleapis.com`.
        domain: String,
        /// e.g. `{"service": "generativelanguage.googleapis.com"}`.
        #[serde(default)]
        metadata: std::collections::BTreeMap<String, String>,
    },
    /// A translated message.
    #[serde(rename = "type.googleapis.com/google.rpc.LocalizedMessage")]
    LocalizedMessage {
        /// `en-US`.
        locale: String,
        /// The message.
        message: String,
    },
    /// Field-level problems of a bad request.
    #[serde(rename = "type.googleapis.com/google.rpc.BadRequest")]
    BadRequest {
        /// One entry per problem.
        #[serde(rename = "fieldViolations")]
        field_violations: Vec<GeminiFieldViolation>,
    },
    /// Which quota was exceeded.
    #[serde(rename = "type.googleapis.com/google.rpc.QuotaFailure")]
    QuotaFailure {
        /// The exceeded quotas.
        violations: Vec<GeminiQuotaViolation>,
    },
    /// Documentation links.
    #[serde(rename = "type.googleapis.com/google.rpc.Help")]
    Help {
        /// The links.
        links: Vec<GeminiHelpLink>,
    },
    /// When to retry, e.g. `"15s"`.
    #[serde(rename = "type.googleapis.com/google.rpc.RetryInfo")]
    RetryInfo {
        /// Duration string.
        #[serde(rename = "retryDelay")]
        retry_delay: String,
    },
}

/// `BadRequest.FieldViolation`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeminiFieldViolation {
    /// snake_case path; absent for top-level unknown names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The message.
    pub description: String,
}

/// `QuotaFailure.Violation`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GeminiQuotaViolation {
    /// e.g. `generativelanguage.googleapis.com/generate_content_free_tier_requests`.
    pub quota_metric: String,
    /// e.g. `GenerateRequestsPerMinutePerProjectPerModel-FreeTier`.
    pub quota_id: String,
    /// `{location, model}`.
    #[serde(default)]
    pub quota_dimensions: std::collections::BTreeMap<String, String>,
    /// The limit, as a string.
    #[serde(default)]
    pub quota_value: String,
}

/// `Help.Link`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeminiHelpLink {
    /// Link text.
    pub description: String,
    /// Target.
    pub url: String,
}
