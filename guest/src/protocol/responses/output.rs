//! Responses output wire types: the `response` object, its output items and usage, typed.
//!
//! Serialize-only: gempool writes these and never reads them back. Fields OpenAI always sends
//! (even as `null`) are plain `Option`s without `skip_serializing_if`, so they appear as `null`.

use serde::Serialize;
use serde_json::Value;

/// `object` of a response.
pub const RESPONSE_OBJECT: &str = "response";

/// A `response` object (whole replies and the `response` of stream events).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponseObject {
    /// `resp_<request id>`.
    pub id: String,
    /// Always [`RESPONSE_OBJECT`].
    pub object: &'static str,
    /// Unix seconds.
    pub created_at: u64,
    /// `in_progress`, `completed`, `incomplete` or `failed`.
    pub status: &'static str,
    /// Always false.
    pub background: bool,
    /// `{code, message}` of a failed response.
    pub error: Option<ResponseError>,
    /// Why an incomplete response stopped.
    pub incomplete_details: Option<IncompleteDetails>,
    /// Echoed `instructions`.
    pub instructions: Value,
    /// Echoed `max_output_tokens`.
    pub max_output_tokens: Value,
    /// Always null.
    pub max_tool_calls: Option<u32>,
    /// The model name the client asked for.
    pub model: String,
    /// The output items.
    pub output: Vec<OutputItem>,
    /// Echoed `parallel_tool_calls`.
    pub parallel_tool_calls: bool,
    /// Always null (nothing is stored).
    pub previous_response_id: Option<String>,
    /// Echoed `reasoning`.
    pub reasoning: Value,
    /// Always `default`.
    pub service_tier: &'static str,
    /// Always false (nothing is stored).
    pub store: bool,
    /// Echoed `temperature`.
    pub temperature: Value,
    /// Echoed `text`.
    pub text: Value,
    /// Echoed `tool_choice`.
    pub tool_choice: Value,
    /// Echoed `tools`.
    pub tools: Value,
    /// Echoed `top_p`.
    pub top_p: Value,
    /// Always `disabled`.
    pub truncation: &'static str,
    /// Token usage (none while in progress or failed).
    pub usage: Option<ResponsesUsage>,
    /// Echoed `user`.
    pub user: Value,
    /// Echoed `metadata`.
    pub metadata: Value,
}

/// `error` of a failed response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponseError {
    /// `server_error`, `rate_limit_exceeded`, `invalid_prompt`.
    pub code: String,
    /// What went wrong.
    pub message: String,
}

/// `incomplete_details`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncompleteDetails {
    /// `max_output_tokens` or `content_filter`.
    pub reason: &'static str,
}

/// Responses usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ResponsesUsage {
    /// Prompt tokens (tool-use prompt included).
    pub input_tokens: u64,
    /// Cached and cache-write prompt tokens.
    pub input_tokens_details: InputTokensDetails,
    /// Output tokens, thoughts included.
    pub output_tokens: u64,
    /// Thought tokens.
    pub output_tokens_details: OutputTokensDetails,
    /// Input plus output.
    pub total_tokens: u64,
}

/// `input_tokens_details`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct InputTokensDetails {
    /// Tokens read from Gemini's cache.
    pub cached_tokens: u64,
    /// Always 0 (Gemini caches implicitly).
    pub cache_write_tokens: u64,
}

/// `output_tokens_details`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutputTokensDetails {
    /// Thought tokens.
    pub reasoning_tokens: u64,
}

/// One output item.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputItem {
    /// The assistant's text.
    Message {
        /// `msg_<request>_<index>`.
        id: String,
        /// Always `assistant`.
        role: &'static str,
        /// `in_progress`, `completed` or `incomplete`.
        status: &'static str,
        /// One `output_text` part (none in the `added` form).
        content: Vec<OutputText>,
    },
    /// Thought summaries, or (with `encrypted_content`) gempool's thought signatures.
    Reasoning {
        /// `rs_<request>_<index>`.
        id: String,
        /// One `summary_text` part once done.
        summary: Vec<SummaryText>,
        /// gempool's [`super::TurnSignatures`].
        #[serde(skip_serializing_if = "Option::is_none")]
        encrypted_content: Option<String>,
    },
    /// A function call.
    FunctionCall {
        /// `fc_<request>_<index>`.
        id: String,
        /// `in_progress` or `completed`.
        status: &'static str,
        /// The arguments as a JSON string.
        arguments: String,
        /// The id the output must name (carries the thought signature).
        call_id: String,
        /// The function's name (in its namespace, if any).
        name: String,
        /// The namespace of a namespaced tool.
        #[serde(skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
    },
    /// A call of a `custom` (free-form) tool.
    CustomToolCall {
        /// `ctc_<request>_<index>`.
        id: String,
        /// `in_progress` or `completed`.
        status: &'static str,
        /// The id the output must name.
        call_id: String,
        /// The tool's name.
        name: String,
        /// The free-form input.
        input: String,
        /// The namespace of a namespaced tool.
        #[serde(skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
    },
    /// A `local_shell` call.
    LocalShellCall {
        /// `lsh_<request>_<index>`.
        id: String,
        /// `in_progress` or `completed`.
        status: &'static str,
        /// The id the output must name.
        call_id: String,
        /// The `exec` action.
        action: Value,
    },
}

/// An `output_text` content part.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename = "output_text")]
pub struct OutputText {
    /// The text.
    pub text: String,
    /// Always empty.
    pub annotations: Vec<Value>,
    /// Always empty.
    pub logprobs: Vec<Value>,
}

impl OutputText {
    /// A text part.
    pub fn new(text: &str) -> Self {
        OutputText {
            text: text.to_string(),
            annotations: Vec::new(),
            logprobs: Vec::new(),
        }
    }
}

/// A `summary_text` part.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename = "summary_text")]
pub struct SummaryText {
    /// The summary.
    pub text: String,
}
