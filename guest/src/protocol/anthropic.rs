//! Anthropic Messages API (`POST /v1/messages`, `/v1/messages/count_tokens`, `GET /v1/models`)
//! translated to and from Gemini. Reference: `shared/reference/protocols.md` §4 (wire format),
//! §5 (mapping decisions), §1.15 (thought signatures); <https://docs.claude.com/en/api/messages>.
//!
//! * [`request`]: `AnthropicMessagesRequest` -> `GenerateContentRequest` (and count_tokens);
//! * [`response`]: whole responses, count_tokens and model list out, upstream errors out;
//! * [`stream`]: [`MessagesStreamTranslator`], Gemini SSE chunks -> Anthropic SSE events.
//!
//! ## `system` messages inside `messages`
//! Current Claude Code puts `{"role": "system", ...}` entries (environment, agent lists,
//! reminders) inside `messages` besides the top-level `system`. Their content is a string or
//! text blocks (anything else is a 400). Those that come before the first user/assistant
//! message join the system instruction after the top-level `system`, in order. A later one
//! becomes user-side text in the turn where it appears: Gemini has no system turns, so its text
//! joins the user turn it follows, or opens the next user turn (after an assistant message).
//! This keeps user/model alternation: a system message never splits a model turn from the tool
//! results that answer it (function responses stay first in their user turn), and thought
//! signatures stay on the model parts they came with. count_tokens counts them the same way.
//!
//! ## Accepted and ignored, or approximated
//! * `thinking: {"type": "adaptive", "display"}` and `output_config.effort` map onto Gemini
//!   thinking (see `request::thinking_config`): the effort by the same table as OpenAI's
//!   `reasoning_effort`; `display: "omitted"` turns thought summaries off.
//! * `context_management`, `container`, `mcp_servers`, `metadata`, `service_tier`, the
//!   `?beta=true` query and `anthropic-beta` headers are ignored: Gemini has no equivalent (no
//!   server-side context editing, code-execution containers or remote MCP connectors), and the
//!   betas they enable change nothing in the translation.
//! * `cache_control` on any block or tool is ignored (Gemini caches implicitly), and so is
//!   `defer_loading` on tools: every custom tool is declared up front, as Gemini has no tool
//!   search. Anthropic-defined tools other than `web_search_*` are skipped.
//!
//! ## Thought signatures
//! Gemini 3 rejects a replayed tool loop whose `functionCall` parts lack the signature they
//! came with, and Anthropic clients only send back what the Anthropic wire format carries.
//! gempool therefore carries each signature inside something the client returns verbatim:
//!
//! * a `functionCall`'s signature rides in the `tool_use` id:
//!   `toolu_<request id>_<n>__ts__<base64url of the signature>`, the hub's one codec
//!   (`gemini::signatures`; ids must match `^[a-zA-Z0-9_-]+$`, which it keeps);
//! * a `thought` part's signature becomes the `thinking` block's `signature`, prefixed with
//!   `gemini:` so that signatures from real Claude (a client that switched backends) can be
//!   recognised and dropped instead of being sent to Gemini as corrupt signatures;
//! * a signature on a plain text part becomes an empty `thinking` block placed just before
//!   that text (in streams: where it arrives); on replay an empty signed thinking block puts
//!   its signature back on the part that follows it (or, at the end of a turn, the part before);
//! * a `thinking` block whose thoughts came without a signature (Gemini usually signs the call
//!   or text after them instead) still gets one, the bare prefix `gemini:`
//!   ([`UNSIGNED_THINKING_SIGNATURE`]), because Anthropic clients expect every thinking block
//!   to be signed (streams close it with a `signature_delta`); on replay it means "no signature".
//!
//! On replay, `functionCall`s of the active loop that still have no signature (ids minted by
//! someone else, or parallel calls after the first) get Google's documented escape hatch on
//! the first call of each model turn (the hub's `turns::mark_active_loop`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::gemini::signatures::id_with_signature;
use super::gemini::{FinishOutcome, FinishReason, UsageMetadata};

mod de;
mod request;
mod response;
mod stream;

pub use request::{count_tokens_request_to_gemini, messages_request_to_gemini};
pub use response::{
    client_model_to_anthropic, count_tokens_response_to_anthropic, gemini_to_messages_response, model_to_anthropic,
    models_to_anthropic,
};
pub use stream::MessagesStreamTranslator;

/// Prefix of the `tool_use` ids gempool mints.
pub const TOOL_USE_ID_PREFIX: &str = "toolu_";
/// Marks a `thinking` block signature as a Gemini thought signature.
pub const THINKING_SIGNATURE_PREFIX: &str = "gemini:";
/// The signature of a `thinking` block whose Gemini thoughts carried none.
pub const UNSIGNED_THINKING_SIGNATURE: &str = THINKING_SIGNATURE_PREFIX;
/// Anthropic's model objects need a creation date; Gemini's model list has none.
pub const MODEL_CREATED_AT: &str = "2025-01-01T00:00:00Z";

// ---------------------------------------------------------------------------------------------
// Request wire types. Unknown fields (cache_control, defer_loading, citations, container,
// mcp_servers, context_management, service_tier, beta features...) are ignored by serde.
// ---------------------------------------------------------------------------------------------

/// `POST /v1/messages` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AnthropicMessagesRequest {
    /// The model the client asked for (a Claude name mapped through the aliases, or a Gemini id).
    #[serde(default)]
    pub model: String,
    /// Required by Anthropic; a missing value is reported as a 400 by the translator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// The conversation, alternating `user` and `assistant` turns.
    #[serde(default, deserialize_with = "crate::protocol::null_as_default")]
    pub messages: Vec<AnthropicMessage>,
    /// The system prompt: a string or text blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<AnthropicContent>,
    /// Tools the model may call: client tools become function declarations; of Anthropic's server tools only web search is kept.
    #[serde(
        default,
        deserialize_with = "crate::protocol::null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tools: Vec<AnthropicTool>,
    /// `auto`, `any`, a named `tool`, or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<AnthropicToolChoice>,
    /// Extended thinking: enabled with a budget, adaptive, or disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<AnthropicThinking>,
    /// Effort and structured-output settings (`output_config`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_config: Option<AnthropicOutputConfig>,
    /// Structured-outputs beta (`output_format`), superseded by `output_config.format`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_format: Option<AnthropicOutputFormat>,
    /// Sequences that end generation when produced.
    #[serde(
        default,
        deserialize_with = "crate::protocol::null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub stop_sequences: Vec<String>,
    /// Sampling temperature, 0 to 1 in Anthropic's range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling mass, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Top-k sampling cut-off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// Caller metadata (`user_id`); accepted and not forwarded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// Whether to answer as a server-sent event stream.
    #[serde(default, deserialize_with = "crate::protocol::null_as_default")]
    pub stream: bool,
}

/// `POST /v1/messages/count_tokens` body: the messages body minus `max_tokens`/`stream`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AnthropicCountTokensRequest {
    /// The model the client asked for.
    #[serde(default)]
    pub model: String,
    /// The conversation whose tokens are counted.
    #[serde(default, deserialize_with = "crate::protocol::null_as_default")]
    pub messages: Vec<AnthropicMessage>,
    /// The system prompt: a string or text blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<AnthropicContent>,
    /// The tools, counted as part of the prompt.
    #[serde(
        default,
        deserialize_with = "crate::protocol::null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tools: Vec<AnthropicTool>,
    /// The tool choice, as in a Messages request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<AnthropicToolChoice>,
    /// The thinking settings, as in a Messages request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<AnthropicThinking>,
}

/// One turn of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnthropicMessage {
    /// `user`, `assistant`, or `system` (see the module doc).
    pub role: String,
    /// The turn's content: a string or a list of blocks.
    pub content: AnthropicContent,
}

/// Message content, `system`, a `tool_result`'s content and a document's `content` source:
/// a plain string or a list of blocks. (The request enums' `Deserialize` is written out in
/// `de.rs`, with the derive's rules; the `serde` attributes here shape their serialization.)
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum AnthropicContent {
    /// Plain text.
    Text(String),
    /// Typed content blocks.
    Blocks(Vec<AnthropicContentBlock>),
}

/// A content block, in requests and responses.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AnthropicContentBlock {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// An image.
    Image {
        /// Where the image's bytes are.
        source: AnthropicSource,
    },
    /// A document (PDF or text).
    Document {
        /// Where the document's content is.
        source: AnthropicSource,
        /// The document's title.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
    },
    /// A tool call the assistant made.
    ToolUse {
        /// The call id (`toolu_…`), quoted by the matching `tool_result`.
        id: String,
        /// The tool's name.
        name: String,
        /// The arguments, a JSON object.
        #[serde(default = "empty_object")]
        input: Value,
    },
    /// The result of a tool call, in a `user` turn.
    ToolResult {
        /// The id of the `tool_use` this answers.
        tool_use_id: String,
        /// The result: a string, or text and image blocks.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<AnthropicContent>,
        /// True when the tool failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        is_error: Option<bool>,
    },
    /// The assistant's reasoning, with the signature that lets it be sent back.
    Thinking {
        /// The thought summary text.
        thinking: String,
        /// Opaque signature; gempool's carries the Gemini thought signature.
        #[serde(default)]
        signature: String,
    },
    /// Reasoning the API redacted; its opaque `data` goes back unchanged.
    RedactedThinking {
        /// The opaque encrypted reasoning.
        #[serde(default)]
        data: String,
    },
    /// Server-tool blocks (`server_tool_use`, `web_search_tool_result`, ...), `search_result`,
    /// `container_upload` and future types: ignored.
    #[serde(other)]
    Unknown,
}

/// The `source` of an image or document block.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AnthropicSource {
    /// Inline bytes.
    Base64 {
        /// The media type, e.g. `image/png` or `application/pdf`.
        media_type: String,
        /// The bytes, base64.
        data: String,
    },
    /// A URL Gemini fetches itself.
    Url {
        /// The `https` URL.
        url: String,
    },
    /// Plain-text documents.
    Text {
        /// `text/plain`, when given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media_type: Option<String>,
        /// The document's text.
        data: String,
    },
    /// Custom-content documents.
    Content {
        /// The document's content blocks.
        content: AnthropicContent,
    },
    /// Files API references: a Gemini Files API name (`files/...`, uploaded through gempool)
    /// becomes its `fileData`; Anthropic's own file ids are refused (no such store here).
    File {
        /// A Gemini file name, or an Anthropic file id (refused).
        file_id: String,
    },
    /// Any other source type; skipped.
    #[serde(other)]
    Unknown,
}

/// A tool: a custom tool (no `type`, or `custom`) with `input_schema`, or an Anthropic-defined
/// tool (`web_search_20250305`, `bash_20250124`, ...) identified by `type`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AnthropicTool {
    /// Absent or `custom` for a client tool; a versioned type (`web_search_20250305`, ...) for an Anthropic server tool.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The tool's name, as the model will call it.
    #[serde(default)]
    pub name: String,
    /// What the tool does, for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The tool input's JSON Schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<Value>,
}

/// `tool_choice`. `disable_parallel_tool_use` has no Gemini equivalent and is ignored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AnthropicToolChoice {
    /// The model decides whether to call tools.
    Auto {
        /// At most one tool call per turn when true.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    /// The model must call some tool.
    Any {
        /// At most one tool call per turn when true.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    /// The model must call the named tool.
    Tool {
        /// The tool's name.
        name: String,
        /// At most one tool call per turn when true.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    /// The model must not call tools.
    None {},
}

/// Extended thinking configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AnthropicThinking {
    /// Thinking with a token budget.
    Enabled {
        /// The most tokens to spend thinking.
        budget_tokens: u32,
        /// `summarized` (default) or `omitted`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        display: Option<String>,
    },
    /// No thinking.
    Disabled {},
    /// The model decides how much to think (Claude 4.6+).
    Adaptive {
        /// `summarized` or `omitted`: whether thought text is returned.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        display: Option<String>,
    },
    /// Any other thinking type; refused as a 400.
    #[serde(other)]
    Unknown,
}

/// `output_config`: effort and structured output.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AnthropicOutputConfig {
    /// `low`, `medium`, `high` or `max`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effort: Option<String>,
    /// Structured output: the format the answer must follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<AnthropicOutputFormat>,
}

/// `{"type": "json_schema", "schema": {...}}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AnthropicOutputFormat {
    /// `json_schema`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The answer's JSON Schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
}

// ---------------------------------------------------------------------------------------------
// Response wire types.
// ---------------------------------------------------------------------------------------------

/// A whole (non-streamed) Messages response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnthropicMessagesResponse {
    /// `msg_…` id.
    pub id: String,
    /// Always `message`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Always `assistant`.
    pub role: String,
    /// The model the client asked for.
    pub model: String,
    /// The answer's blocks: thinking, text and tool calls, in order.
    pub content: Vec<AnthropicContentBlock>,
    /// Why generation stopped.
    pub stop_reason: Option<AnthropicStopReason>,
    /// Gemini never says which stop sequence matched, so this is always `null`.
    pub stop_sequence: Option<String>,
    /// Token counts.
    pub usage: AnthropicUsage,
}

/// Why an Anthropic message ended (`stop_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnthropicStopReason {
    /// The model finished its turn.
    EndTurn,
    /// The output-token cap cut the answer.
    MaxTokens,
    /// A stop sequence matched.
    StopSequence,
    /// The model called tools and waits for their results.
    ToolUse,
    /// A long server-tool turn paused; the client continues it.
    PauseTurn,
    /// The answer was blocked (Gemini's safety and recitation finishes).
    Refusal,
}

impl AnthropicStopReason {
    /// The wire name, e.g. `end_turn`.
    pub fn as_str(self) -> &'static str {
        match self {
            AnthropicStopReason::EndTurn => "end_turn",
            AnthropicStopReason::MaxTokens => "max_tokens",
            AnthropicStopReason::StopSequence => "stop_sequence",
            AnthropicStopReason::ToolUse => "tool_use",
            AnthropicStopReason::PauseTurn => "pause_turn",
            AnthropicStopReason::Refusal => "refusal",
        }
    }
}

/// Token counts of a message, in Anthropic's terms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnthropicUsage {
    /// Prompt tokens not read from the cache.
    pub input_tokens: u64,
    /// Answer and thinking tokens.
    pub output_tokens: u64,
    /// Tokens written to a prompt cache; always 0 (Gemini's caches are explicit).
    pub cache_creation_input_tokens: u64,
    /// Prompt tokens read from a context cache.
    pub cache_read_input_tokens: u64,
}

/// `POST /v1/messages/count_tokens` response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnthropicCountTokensResponse {
    /// Tokens the request would take as input.
    pub input_tokens: u64,
}

/// One entry of `GET /v1/models`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnthropicModelInfo {
    /// Always `model`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The model id the client can send.
    pub id: String,
    /// The human-readable name.
    pub display_name: String,
    /// RFC 3339 creation date ([`MODEL_CREATED_AT`]: Gemini gives none).
    pub created_at: String,
}

/// `GET /v1/models` response (a single page: `has_more` is false).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnthropicModelList {
    /// The models.
    pub data: Vec<AnthropicModelInfo>,
    /// Always false: one page holds every model.
    pub has_more: bool,
    /// The first model's id.
    pub first_id: Option<String>,
    /// The last model's id.
    pub last_id: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Shared mapping helpers.
// ---------------------------------------------------------------------------------------------

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// The request id reduced to `[a-zA-Z0-9]`, the unique part of the `tool_use` ids we mint.
fn id_token(request_id: &str) -> String {
    let token: String = request_id.chars().filter(char::is_ascii_alphanumeric).collect();
    if token.is_empty() {
        "0".into()
    } else {
        token
    }
}

/// `toolu_<token>_<n>`, plus the hub's `__ts__<signature>` when the call carried a thought
/// signature.
fn tool_use_id(token: &str, n: usize, signature: Option<&str>) -> String {
    id_with_signature(format!("{TOOL_USE_ID_PREFIX}{token}_{n}"), signature)
}

fn thinking_signature(gemini_signature: Option<&str>) -> String {
    gemini_signature
        .map(|s| format!("{THINKING_SIGNATURE_PREFIX}{s}"))
        .unwrap_or_default()
}

/// The Gemini signature in a `thinking` block's signature; `None` for empty signatures and
/// for signatures that did not come from gempool (real Claude's).
fn gemini_signature_from_thinking(signature: &str) -> Option<&str> {
    signature
        .strip_prefix(THINKING_SIGNATURE_PREFIX)
        .filter(|s| !s.is_empty())
}

/// Gemini `finishReason` -> Anthropic `stop_reason` (§5.2), by the hub's
/// [`FinishReason::outcome`]. A turn with a `functionCall` ends with `STOP`, so tool use is
/// decided by the presence of calls, not by the reason.
fn stop_reason(finish_reason: Option<&FinishReason>, has_tool_use: bool) -> AnthropicStopReason {
    if has_tool_use {
        return AnthropicStopReason::ToolUse;
    }
    match FinishReason::outcome_of(finish_reason) {
        FinishOutcome::Length => AnthropicStopReason::MaxTokens,
        FinishOutcome::Blocked => AnthropicStopReason::Refusal,
        FinishOutcome::Stop => AnthropicStopReason::EndTurn,
    }
}

/// Gemini usage -> Anthropic usage. `promptTokenCount` includes cached tokens, which Anthropic
/// reports separately; thoughts are output tokens.
fn usage(u: Option<&UsageMetadata>) -> AnthropicUsage {
    let u = u.copied().unwrap_or_default();
    AnthropicUsage {
        input_tokens: u.prompt_token_count.saturating_sub(u.cached_content_token_count),
        output_tokens: u.candidates_token_count + u.thoughts_token_count,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: u.cached_content_token_count,
    }
}

#[cfg(test)]
mod tests;
