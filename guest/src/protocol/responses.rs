//! OpenAI Responses API (`POST /v1/responses`, what Codex CLI and newer OpenAI SDK code speak)
//! and its translation to and from Gemini.
//!
//! Reference: `shared/reference/protocols.md` §3.6 and the OpenAI SDK's `types/responses`.
//!
//! * [`responses_request_to_gemini`] (in `request`) maps the input items onto the Gemini hub
//!   directly: the hub pairs tool results with their calls by `call_id` (names recovered from
//!   the call; one `functionResponse` per call in call order), reads thought signatures back from
//!   the `call_id`, marks unsigned calls of the active loop, and owns thinking and media rules;
//!   the content-part, arguments and Google-extras rules shared with chat completions are
//!   `openai::request`'s. `custom_tool_call` / `local_shell_call` items and their outputs take
//!   the same path as function calls (args `{"input": …}` / `{"command", "workdir",
//!   "timeout_ms"}`). Errors name the Responses field (`input[3].arguments`, `text.format`).
//! * [`gemini_to_response`] renders a whole Gemini response as a `response` object, and
//!   [`ResponsesStreamTranslator`] (in `stream`) a Gemini stream as Responses events.
//!
//! ## Decisions
//! * Stateless: `previous_response_id` and `conversation` are refused with a 400 (nothing is
//!   stored; `store` is accepted and ignored, the response says `store: false`).
//! * Thought signatures travel in `call_id`s (`call_<request>_0_<n>__ts__<base64url(sig)>`), as
//!   on chat completions. With `include: ["reasoning.encrypted_content"]` (what Codex sends), a
//!   response whose parts were signed also ends with a `reasoning` item whose `encrypted_content`
//!   holds all of them ([`TurnSignatures`]), so a text-only answer keeps its signature too; a
//!   replayed item puts them back on its model turn. Reasoning summaries are not replayed (the
//!   model's own thoughts; Gemini cannot take them back); foreign `encrypted_content` is ignored.
//! * `custom` tools (Codex's freeform `apply_patch`) and `local_shell` are declared as Gemini
//!   functions and their calls come back as `custom_tool_call` / `local_shell_call` items (see
//!   `tools`); `tool_choice` may name them. Hosted tools (`web_search`, `mcp`, …) are skipped
//!   without an error, and so is a `tool_choice` that names one of them.
//! * `reasoning.effort` maps as chat's `reasoning_effort`; thought summaries are asked for
//!   (`includeThoughts`) only when `reasoning.summary` is set (not `none`), as OpenAI returns
//!   summaries only then. They come back as `reasoning` output items.
//! * Gemini candidates other than the first are ignored (the Responses API has no `n`).
//! * What current Codex sends: `additional_tools` input items and `namespace` tools are
//!   flattened into Gemini functions named `<namespace>__<name>`, whose calls come back with the
//!   client's `name` and `namespace` (see `tools`); `developer` and `system` messages anywhere in
//!   the input join the system instruction, in order (as on chat completions). `store`,
//!   `include` (beyond `reasoning.encrypted_content`), `prompt_cache_key`, `text.verbosity`,
//!   `reasoning.context`, `service_tier`, `client_metadata` and `safety_identifier` are accepted
//!   and ignored: Gemini has no equivalent; `parallel_tool_calls` is echoed.

use crate::protocol::gemini::events::{events as hub_events, Event};
use crate::protocol::gemini::extras::ExtrasFields;
use crate::protocol::gemini::{FinishOutcome, FinishReason, FunctionCall, GenerateContentResponse, UsageMetadata};
use crate::protocol::openai::{self, OpenAiInputAudio};
use crate::protocol::RequestContext;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

mod output;
mod request;
mod stream;
mod tools;

pub use output::{
    IncompleteDetails, InputTokensDetails, OutputItem, OutputText, OutputTokensDetails, ResponseError, ResponseObject,
    ResponsesUsage, SummaryText, RESPONSE_OBJECT,
};
pub use request::responses_request_to_gemini;
pub use stream::ResponsesStreamTranslator;
pub use tools::{effective_tools, namespaced_name, EffectiveTool, ToolKinds, TurnSignatures};

// ---------------------------------------------------------------------------------------------
// Request

/// `POST /v1/responses` body (only the fields gempool reads or echoes).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OpenAiResponsesRequest {
    /// The model the client asked for (a Gemini id or an alias).
    #[serde(default, deserialize_with = "crate::protocol::null_as_default")]
    pub model: String,
    /// A string (one user message) or a list of input items.
    #[serde(default)]
    pub input: Option<ResponsesInput>,
    /// The system prompt.
    #[serde(default)]
    pub instructions: Option<String>,
    /// Function, custom, namespace and hosted tools.
    #[serde(default, deserialize_with = "crate::protocol::null_as_default")]
    pub tools: Vec<ResponsesTool>,
    /// `none` / `auto` / `required`, or an object naming a tool or an allowed subset.
    #[serde(default)]
    pub tool_choice: Option<ResponsesToolChoice>,
    /// Accepted and echoed; Gemini has no switch for it.
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    /// The cap on output tokens.
    #[serde(default)]
    pub max_output_tokens: Option<u32>,
    /// Reasoning effort and summary settings.
    #[serde(default)]
    pub reasoning: Option<ResponsesReasoning>,
    /// Output format and verbosity.
    #[serde(default)]
    pub text: Option<ResponsesText>,
    /// Sampling temperature, 0 to 2.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Nucleus sampling mass, 0 to 1.
    #[serde(default)]
    pub top_p: Option<f64>,
    /// Whether to answer as a server-sent event stream.
    #[serde(default)]
    pub stream: Option<bool>,
    /// Accepted and ignored: nothing is stored.
    #[serde(default)]
    pub store: Option<bool>,
    /// Refused: it needs stored responses.
    #[serde(default)]
    pub previous_response_id: Option<String>,
    /// Refused: it needs stored conversations.
    #[serde(default)]
    pub conversation: Option<Value>,
    /// Caller key-value metadata, echoed back in the response.
    #[serde(default)]
    pub metadata: Option<Value>,
    /// A caller's end-user id, echoed back.
    #[serde(default)]
    pub user: Option<Value>,
    /// `reasoning.encrypted_content` makes every response that carried Gemini thought
    /// signatures end with a `reasoning` item holding them (see [`TurnSignatures`]). Other
    /// values are accepted and ignored.
    #[serde(default, deserialize_with = "crate::protocol::null_as_default")]
    pub include: Vec<String>,
    /// Google's extras (`extra_body.google` or a top-level `google`), as on every OpenAI-shaped request.
    #[serde(flatten)]
    pub extras: ExtrasFields,
}

impl OpenAiResponsesRequest {
    /// Whether the client asked for a stream (`stream: true`).
    pub fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    /// `include` asks for `reasoning.encrypted_content`.
    pub fn wants_encrypted_reasoning(&self) -> bool {
        self.include.iter().any(|i| i == "reasoning.encrypted_content")
    }

    /// The input items (none when `input` is a string).
    pub fn input_items(&self) -> &[ResponsesInputItem] {
        match &self.input {
            Some(ResponsesInput::Items(items)) => items,
            _ => &[],
        }
    }
}

/// `input`: a string (one user message) or a list of items.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum ResponsesInput {
    /// One user message.
    Text(String),
    /// Messages, tool calls, tool outputs and reasoning items.
    Items(Vec<ResponsesInputItem>),
}

/// One input item of any type, kept flat (not a tagged enum) so that an unsupported `type` can
/// be named in the 400. `type` may be absent on messages (`{"role": "user", "content": "hi"}`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ResponsesInputItem {
    /// The item type: `message`, `function_call`, `function_call_output`, `reasoning`, ... (absent: `message`).
    #[serde(rename = "type", default, deserialize_with = "crate::protocol::null_as_default")]
    pub kind: String,
    /// `message`: `user`, `assistant`, `system` or `developer`.
    #[serde(default)]
    pub role: Option<String>,
    /// `message`: a string or content parts.
    #[serde(default)]
    pub content: Option<ResponsesContent>,
    /// The item's own id (`local_shell_call` outputs may name their call by it).
    #[serde(default)]
    pub id: Option<String>,
    /// `function_call`, `custom_tool_call`, `local_shell_call` and their outputs.
    #[serde(default)]
    pub call_id: Option<String>,
    /// `function_call`, `custom_tool_call`.
    #[serde(default)]
    pub name: Option<String>,
    /// `function_call`, `custom_tool_call`: the namespace of a namespaced tool.
    #[serde(default)]
    pub namespace: Option<String>,
    /// `additional_tools`: the tools it adds (see `tools`).
    #[serde(default, deserialize_with = "crate::protocol::null_as_default")]
    pub tools: Vec<ResponsesTool>,
    /// `custom_tool_call`: the free-form input (a string).
    #[serde(default)]
    pub input: Option<Value>,
    /// `local_shell_call`: `{"type": "exec", "command": [...], "working_directory", "timeout_ms", "env"}`.
    #[serde(default)]
    pub action: Option<Value>,
    /// `function_call`: a JSON string (an object is tolerated).
    #[serde(default)]
    pub arguments: Option<Value>,
    /// `function_call_output`, `custom_tool_call_output`, `local_shell_call_output`: a string or
    /// content parts.
    #[serde(default)]
    pub output: Option<ResponsesContent>,
    /// `reasoning`: gempool's [`TurnSignatures`] when it made the item (anything else is ignored).
    #[serde(default)]
    pub encrypted_content: Option<String>,
}

/// Message `content` or `function_call_output.output`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum ResponsesContent {
    /// Plain text.
    Text(String),
    /// Typed parts: text, images, files, audio.
    Parts(Vec<ResponsesContentPart>),
}

/// `input_text`, `output_text`, `input_image`, `input_file`, `input_audio`, `refusal`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ResponsesContentPart {
    /// `input_text`, `output_text`, `input_image`, `input_file` or `input_audio`.
    #[serde(rename = "type", default, deserialize_with = "crate::protocol::null_as_default")]
    pub kind: String,
    /// The text of an `input_text` / `output_text` part.
    #[serde(default)]
    pub text: Option<String>,
    /// `input_image`: an http(s) URL or a data URI.
    #[serde(default)]
    pub image_url: Option<String>,
    /// `input_image`: `low`, `high` or `auto`; Gemini has no equivalent.
    #[serde(default)]
    pub detail: Option<String>,
    /// An id in OpenAI's Files API; refused (Gemini cannot read it).
    #[serde(default)]
    pub file_id: Option<String>,
    /// `input_file`: the file as a `data:` URL or bare base64.
    #[serde(default)]
    pub file_data: Option<String>,
    /// `input_file`: a file by URL; refused.
    #[serde(default)]
    pub file_url: Option<String>,
    /// `input_file`: the file's name, used to guess its media type.
    #[serde(default)]
    pub filename: Option<String>,
    /// `input_audio`: base64 audio and its format.
    #[serde(default)]
    pub input_audio: Option<OpenAiInputAudio>,
}

/// A tool: `{"type": "function", "name", "description", "parameters", "strict"}` (flat), or a
/// hosted tool (`web_search`, `local_shell`, …), which is skipped. Unknown fields are kept so
/// the tool is echoed in the response as sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponsesTool {
    /// `function`, `custom`, `namespace`, `local_shell`, or a hosted tool type.
    #[serde(rename = "type", default, deserialize_with = "crate::protocol::null_as_default")]
    pub kind: String,
    /// The tool's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What the tool does, for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `function`: the arguments' JSON Schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// `function`: whether arguments must match the schema exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
    /// Every other field, kept to echo the tool back as sent.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `tool_choice`: `"none" | "auto" | "required"`, `{"type": "function", "name"}`,
/// `{"type": "allowed_tools", "mode", "tools": [...]}`, or a hosted tool type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ResponsesToolChoice {
    /// `none`, `auto` or `required`.
    Mode(String),
    /// A named tool, or an allowed-tools subset.
    Object(ResponsesToolChoiceObject),
}

/// The object form of `tool_choice`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponsesToolChoiceObject {
    /// `function`, `custom`, `allowed_tools`, or a hosted tool type.
    #[serde(rename = "type", default, deserialize_with = "crate::protocol::null_as_default")]
    pub kind: String,
    /// The tool's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The namespace of a namespaced tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `allowed_tools`: `auto` or `required`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// `allowed_tools`: the subset the model may call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<ResponsesTool>>,
}

/// `reasoning`: `{"effort", "summary"}` (`generate_summary` is the deprecated spelling).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponsesReasoning {
    /// `minimal`, `low`, `medium` or `high`: mapped to Gemini's thinking settings.
    #[serde(default)]
    pub effort: Option<String>,
    /// `auto`, `concise` or `detailed`: whether reasoning summaries are returned.
    #[serde(default)]
    pub summary: Option<String>,
    /// The deprecated spelling of `summary`.
    #[serde(default, skip_serializing)]
    pub generate_summary: Option<String>,
}

impl ResponsesReasoning {
    fn summary(&self) -> Option<&str> {
        self.summary.as_deref().or(self.generate_summary.as_deref())
    }
}

/// `text`: `{"format": {...}, "verbosity"}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponsesText {
    /// Plain text, `json_object` or `json_schema` output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<ResponsesTextFormat>,
    /// `low`, `medium` or `high`; echoed, Gemini has no equivalent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verbosity: Option<String>,
}

/// `text.format`: `text`, `json_object`, or `json_schema` with `name`, `schema`, … flat.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponsesTextFormat {
    /// `text`, `json_object` or `json_schema`.
    #[serde(rename = "type", default, deserialize_with = "crate::protocol::null_as_default")]
    pub kind: String,
    /// `json_schema`: the schema's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `json_schema`: what the output is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `json_schema`: the output's JSON Schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    /// `json_schema`: whether the output must match the schema exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

// ---------------------------------------------------------------------------------------------
// Response

/// The request fields a response object echoes back.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseEcho {
    /// The model name shown to the client (as requested).
    pub model: String,
    /// The system prompt, or `null`.
    pub instructions: Value,
    /// The tools as sent.
    pub tools: Value,
    /// The tool choice as sent (`auto` by default).
    pub tool_choice: Value,
    /// Whether parallel tool calls were allowed (default true).
    pub parallel_tool_calls: bool,
    /// The temperature, or `null`.
    pub temperature: Value,
    /// The nucleus mass, or `null`.
    pub top_p: Value,
    /// The output-token cap, or `null`.
    pub max_output_tokens: Value,
    /// `{"effort", "summary"}`.
    pub reasoning: Value,
    /// `{"format", "verbosity"}`, the format `text` by default.
    pub text: Value,
    /// The metadata object (`{}` by default).
    pub metadata: Value,
    /// The end-user id, or `null`.
    pub user: Value,
    /// Which Gemini functions stand for `custom` / `local_shell` tools.
    pub tool_kinds: ToolKinds,
    /// `include` asked for `reasoning.encrypted_content`.
    pub encrypted_reasoning: bool,
}

impl ResponseEcho {
    /// The echo of a request.
    pub fn new(req: &OpenAiResponsesRequest) -> Self {
        let to_value = |v: Option<Value>| v.unwrap_or(Value::Null);
        ResponseEcho {
            model: req.model.clone(),
            instructions: to_value(req.instructions.clone().map(Value::String)),
            tools: serde_json::to_value(&req.tools).unwrap_or_else(|_| json!([])),
            tool_choice: req
                .tool_choice
                .as_ref()
                .and_then(|c| serde_json::to_value(c).ok())
                .unwrap_or_else(|| json!("auto")),
            parallel_tool_calls: req.parallel_tool_calls.unwrap_or(true),
            temperature: to_value(req.temperature.map(Value::from)),
            top_p: to_value(req.top_p.map(Value::from)),
            max_output_tokens: to_value(req.max_output_tokens.map(Value::from)),
            reasoning: match &req.reasoning {
                Some(r) => json!({"effort": r.effort, "summary": r.summary()}),
                None => json!({"effort": null, "summary": null}),
            },
            text: {
                let mut text = req.text.clone().unwrap_or_default();
                text.format.get_or_insert_with(|| ResponsesTextFormat {
                    kind: "text".into(),
                    ..Default::default()
                });
                serde_json::to_value(text).unwrap_or_else(|_| json!({"format": {"type": "text"}}))
            },
            metadata: req
                .metadata
                .clone()
                .filter(|m| m.is_object())
                .unwrap_or_else(|| json!({})),
            user: to_value(req.user.clone()),
            tool_kinds: ToolKinds::new(&tools::effective_tools(&req.tools, req.input_items())),
            encrypted_reasoning: req.wants_encrypted_reasoning(),
        }
    }

    /// An echo for a bare model name (tests, defaults).
    pub fn for_model(model: impl Into<String>) -> Self {
        let mut echo = ResponseEcho::new(&OpenAiResponsesRequest::default());
        echo.model = model.into();
        echo
    }
}

/// How a response ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Still streaming (the `response.created` / `response.in_progress` snapshots).
    InProgress,
    /// Finished normally.
    Completed,
    /// `incomplete_details.reason`: `max_output_tokens` or `content_filter`.
    Incomplete(&'static str),
    /// `error`: `{"code", "message"}`.
    Failed(ResponseError),
}

impl Outcome {
    /// From the first candidate's Gemini finish reason (`blocked`: the prompt was blocked).
    pub fn from_finish(reason: Option<&FinishReason>, blocked: bool) -> Outcome {
        if blocked {
            return Outcome::Incomplete("content_filter");
        }
        match FinishReason::outcome_of(reason) {
            FinishOutcome::Length => Outcome::Incomplete("max_output_tokens"),
            FinishOutcome::Blocked => Outcome::Incomplete("content_filter"),
            FinishOutcome::Stop => Outcome::Completed,
        }
    }

    fn status(&self) -> &'static str {
        match self {
            Outcome::InProgress => "in_progress",
            Outcome::Completed => "completed",
            Outcome::Incomplete(_) => "incomplete",
            Outcome::Failed(_) => "failed",
        }
    }
}

/// `resp_<request id>`: the same on the streaming and non-streaming paths.
pub fn response_id(ctx: &RequestContext) -> String {
    format!("resp_{}", ctx.request_id)
}

/// A `response` object.
pub fn response_object(
    echo: &ResponseEcho,
    ctx: &RequestContext,
    outcome: &Outcome,
    output: Vec<OutputItem>,
    usage: Option<&UsageMetadata>,
) -> ResponseObject {
    let (error, incomplete_details) = match outcome {
        Outcome::Failed(error) => (Some(error.clone()), None),
        Outcome::Incomplete(reason) => (None, Some(IncompleteDetails { reason })),
        _ => (None, None),
    };
    ResponseObject {
        id: response_id(ctx),
        object: RESPONSE_OBJECT,
        created_at: ctx.created,
        status: outcome.status(),
        background: false,
        error,
        incomplete_details,
        instructions: echo.instructions.clone(),
        max_output_tokens: echo.max_output_tokens.clone(),
        max_tool_calls: None,
        model: echo.model.clone(),
        output,
        parallel_tool_calls: echo.parallel_tool_calls,
        previous_response_id: None,
        reasoning: echo.reasoning.clone(),
        service_tier: "default",
        store: false,
        temperature: echo.temperature.clone(),
        text: echo.text.clone(),
        tool_choice: echo.tool_choice.clone(),
        tools: echo.tools.clone(),
        top_p: echo.top_p.clone(),
        truncation: "disabled",
        usage: usage.map(usage_from_gemini),
        user: echo.user.clone(),
        metadata: echo.metadata.clone(),
    }
}

/// Gemini usage → Responses usage (the same arithmetic as chat's, renamed).
pub fn usage_from_gemini(usage: &UsageMetadata) -> ResponsesUsage {
    let u = openai::usage_from_gemini(usage);
    ResponsesUsage {
        input_tokens: u.prompt_tokens,
        input_tokens_details: InputTokensDetails {
            cached_tokens: u.prompt_tokens_details.cached_tokens,
            cache_write_tokens: 0,
        },
        output_tokens: u.completion_tokens,
        output_tokens_details: OutputTokensDetails {
            reasoning_tokens: u.completion_tokens_details.reasoning_tokens,
        },
        total_tokens: u.total_tokens,
    }
}

/// A whole Gemini response as a `response` object.
pub fn gemini_to_response(resp: &GenerateContentResponse, echo: &ResponseEcho, ctx: &RequestContext) -> ResponseObject {
    let mut builder = OutputBuilder::new(ctx.clone()).for_echo(echo);
    let mut events = Vec::new();
    let mut ending = Ending::default();
    for event in hub_events(resp) {
        ending.read(&event);
        builder.push_first_candidate(&event, &mut events);
    }
    let outcome = ending.outcome();
    builder.close(&outcome, &mut events);
    response_object(echo, ctx, &outcome, builder.items, resp.usage_metadata.as_ref())
}

/// How the first candidate ended, read from the hub's events (the whole and the streamed
/// rendering read it alike).
#[derive(Debug, Default)]
pub(crate) struct Ending {
    /// The last `finishReason` of candidate 0.
    reason: Option<FinishReason>,
    /// The prompt was blocked.
    blocked: bool,
}

impl Ending {
    /// Notes a finish of candidate 0 or a blocked prompt.
    pub(crate) fn read(&mut self, event: &Event) {
        match *event {
            Event::PromptBlocked => self.blocked = true,
            Event::Finish { candidate: 0, reason } => self.reason = Some(reason.clone()),
            _ => {}
        }
    }

    /// Whether the response is over (a finish reason or a blocked prompt arrived).
    pub(crate) fn is_over(&self) -> bool {
        self.blocked || self.reason.is_some()
    }

    /// The outcome it makes.
    pub(crate) fn outcome(&self) -> Outcome {
        Outcome::from_finish(self.reason.as_ref(), self.blocked)
    }
}

// ---------------------------------------------------------------------------------------------
// Output items, shared by the whole and the streamed rendering

/// Builds the output items from Gemini parts, in order, and the stream events that announce
/// them (without `sequence_number`, which the stream translator adds). Thought parts form a
/// `reasoning` item, text parts a `message` item, each function call a `function_call` item
/// (a `custom_tool_call` / `local_shell_call` item when the function stands for such a tool);
/// consecutive parts of one kind share an item. With `encrypted_reasoning`, a response whose
/// parts carried thought signatures ends with a `reasoning` item holding them.
#[derive(Debug)]
pub(crate) struct OutputBuilder {
    ctx: RequestContext,
    /// Finished items; the open item (if any) has output index `items.len()`.
    pub(crate) items: Vec<OutputItem>,
    open: Option<OpenItem>,
    calls: usize,
    tool_kinds: ToolKinds,
    encrypted_reasoning: bool,
    signatures: TurnSignatures,
}

#[derive(Debug)]
struct OpenItem {
    reasoning: bool,
    id: String,
    text: String,
}

impl OutputBuilder {
    pub(crate) fn new(ctx: RequestContext) -> Self {
        OutputBuilder {
            ctx,
            items: Vec::new(),
            open: None,
            calls: 0,
            tool_kinds: ToolKinds::default(),
            encrypted_reasoning: false,
            signatures: TurnSignatures::default(),
        }
    }

    /// Takes the tool kinds and `include` choice of the request `echo` describes.
    pub(crate) fn for_echo(mut self, echo: &ResponseEcho) -> Self {
        self.tool_kinds = echo.tool_kinds.clone();
        self.encrypted_reasoning = echo.encrypted_reasoning;
        self
    }

    fn item_id(&self, prefix: &str) -> String {
        format!("{prefix}_{}_{}", self.ctx.request_id, self.items.len())
    }

    /// Adds one part-level hub event (text, thought, signature, function call) of the first
    /// candidate (the Responses API has no `n`); pushes the Responses events it causes.
    pub(crate) fn push_first_candidate(&mut self, event: &Event, events: &mut Vec<Value>) {
        if event.candidate() != Some(0) {
            return;
        }
        match *event {
            Event::Text { text, .. } => self.push_text(text, false, events),
            Event::Thought { text, .. } => self.push_text(text, true, events),
            Event::Signature { signature, .. } => self.signatures.record(signature, None),
            Event::FunctionCall { call, signature, .. } => self.push_call(call, signature, events),
            _ => {}
        }
    }

    fn push_call(&mut self, call: &FunctionCall, signature: Option<&str>, events: &mut Vec<Value>) {
        self.close_open(events);
        let output_index = self.items.len();
        let index = self.calls;
        self.calls += 1;
        if let Some(signature) = signature {
            self.signatures.record(signature, Some(index));
        }
        let call_id = openai::tool_call_id(&self.ctx, 0, index, signature);
        // A namespaced tool's call names the tool as the client declared it.
        let (namespace, name) = match self.tool_kinds.namespace_of(&call.name) {
            Some((namespace, name)) => (Some(namespace.to_string()), name.to_string()),
            None => (None, call.name.clone()),
        };
        let done = if self.tool_kinds.is_custom(&call.name) {
            let id = self.item_id("ctc");
            let input = tools::custom_call_input(&call.args);
            let item = |input: &str, status| OutputItem::CustomToolCall {
                id: id.clone(),
                status,
                call_id: call_id.clone(),
                name: name.clone(),
                input: input.to_string(),
                namespace: namespace.clone(),
            };
            let added = item("", "in_progress");
            let whole = WholeValue::new(&id, output_index, "response.custom_tool_call_input", "input");
            whole.announce(added, &input, None, events);
            item(&input, "completed")
        } else if self.tool_kinds.is_local_shell(&call.name) {
            let id = self.item_id("lsh");
            let item = |status| OutputItem::LocalShellCall {
                id: id.clone(),
                status,
                call_id: call_id.clone(),
                action: tools::local_shell_action(&call.args),
            };
            events.push(
                json!({"type": "response.output_item.added", "output_index": output_index,
                               "item": item("in_progress")}),
            );
            item("completed")
        } else {
            let id = self.item_id("fc");
            let arguments = openai::arguments_json(&call.args);
            let item = |arguments: &str, status| OutputItem::FunctionCall {
                id: id.clone(),
                status,
                arguments: arguments.to_string(),
                call_id: call_id.clone(),
                name: name.clone(),
                namespace: namespace.clone(),
            };
            let added = item("", "in_progress");
            let whole = WholeValue::new(&id, output_index, "response.function_call_arguments", "arguments");
            whole.announce(added, &arguments, Some(&name), events);
            item(&arguments, "completed")
        };
        events.push(json!({"type": "response.output_item.done", "output_index": output_index, "item": done}));
        self.items.push(done);
    }

    fn push_text(&mut self, text: &str, reasoning: bool, events: &mut Vec<Value>) {
        if self.open.as_ref().is_some_and(|o| o.reasoning != reasoning) {
            self.close_open(events);
        }
        let output_index = self.items.len();
        let open = if let Some(open) = self.open.take() {
            open
        } else {
            let id = self.item_id(if reasoning { "rs" } else { "msg" });
            if reasoning {
                events.push(
                    json!({"type": "response.output_item.added", "output_index": output_index,
                                   "item": reasoning_item(&id, "", false)}),
                );
                events.push(json!({"type": "response.reasoning_summary_part.added", "item_id": id,
                                   "output_index": output_index, "summary_index": 0,
                                   "part": {"type": "summary_text", "text": ""}}));
            } else {
                events.push(
                    json!({"type": "response.output_item.added", "output_index": output_index,
                                   "item": message_item(&id, None, "in_progress")}),
                );
                events.push(json!({"type": "response.content_part.added", "item_id": id,
                                   "output_index": output_index, "content_index": 0,
                                   "part": OutputText::new("")}));
            }
            OpenItem {
                reasoning,
                id,
                text: String::new(),
            }
        };
        let open = self.open.insert(open);
        open.text.push_str(text);
        events.push(if reasoning {
            json!({"type": "response.reasoning_summary_text.delta", "item_id": open.id,
                   "output_index": output_index, "summary_index": 0, "delta": text})
        } else {
            json!({"type": "response.output_text.delta", "item_id": open.id, "output_index": output_index,
                   "content_index": 0, "delta": text, "logprobs": []})
        });
    }

    /// Closes the open item as completed.
    fn close_open(&mut self, events: &mut Vec<Value>) {
        self.close_with(true, events);
    }

    fn close_with(&mut self, complete: bool, events: &mut Vec<Value>) {
        let Some(open) = self.open.take() else { return };
        let output_index = self.items.len();
        let (id, text) = (open.id, open.text);
        let item = if open.reasoning {
            events.push(json!({"type": "response.reasoning_summary_text.done", "item_id": id,
                               "output_index": output_index, "summary_index": 0, "text": text}));
            events.push(json!({"type": "response.reasoning_summary_part.done", "item_id": id,
                               "output_index": output_index, "summary_index": 0,
                               "part": {"type": "summary_text", "text": text}}));
            reasoning_item(&id, &text, true)
        } else {
            events.push(
                json!({"type": "response.output_text.done", "item_id": id, "output_index": output_index,
                               "content_index": 0, "text": text, "logprobs": []}),
            );
            events.push(json!({"type": "response.content_part.done", "item_id": id,
                               "output_index": output_index, "content_index": 0, "part": OutputText::new(&text)}));
            message_item(&id, Some(&text), if complete { "completed" } else { "incomplete" })
        };
        events.push(json!({"type": "response.output_item.done", "output_index": output_index, "item": item}));
        self.items.push(item);
    }

    /// The response ended with `outcome`: closes the open item (a message cut by the token
    /// limit or a filter is `incomplete`).
    pub(crate) fn close(&mut self, outcome: &Outcome, events: &mut Vec<Value>) {
        self.close_with(!matches!(outcome, Outcome::Incomplete(_)), events);
        if self.encrypted_reasoning && !self.signatures.is_empty() {
            let output_index = self.items.len();
            let id = self.item_id("rs");
            let item = OutputItem::Reasoning {
                id,
                summary: Vec::new(),
                encrypted_content: Some(self.signatures.encode()),
            };
            events.push(json!({"type": "response.output_item.added", "output_index": output_index, "item": item}));
            events.push(json!({"type": "response.output_item.done", "output_index": output_index, "item": item}));
            self.items.push(item);
            self.signatures = TurnSignatures::default();
        }
    }
}

/// A call item whose value (arguments, custom input) arrives whole: its `output_item.added`,
/// one `<kind>.delta` with the whole value and `<kind>.done`.
struct WholeValue<'a> {
    id: &'a str,
    output_index: usize,
    kind: &'a str,
    field: &'a str,
}

impl<'a> WholeValue<'a> {
    fn new(id: &'a str, output_index: usize, kind: &'a str, field: &'a str) -> Self {
        WholeValue {
            id,
            output_index,
            kind,
            field,
        }
    }

    /// Pushes the three events; `name` (function calls) rides on `.done`.
    fn announce(&self, added: OutputItem, value: &str, name: Option<&str>, events: &mut Vec<Value>) {
        let (id, output_index) = (self.id, self.output_index);
        events.push(json!({"type": "response.output_item.added", "output_index": output_index, "item": added}));
        events.push(json!({"type": format!("{}.delta", self.kind), "item_id": id,
                           "output_index": output_index, "delta": value}));
        let mut done = json!({"type": format!("{}.done", self.kind), "item_id": id, "output_index": output_index});
        done[self.field] = value.into();
        if let Some(name) = name {
            done["name"] = name.into();
        }
        events.push(done);
    }
}

/// A message item; `None` text: no content part yet (the `added` form).
fn message_item(id: &str, text: Option<&str>, status: &'static str) -> OutputItem {
    OutputItem::Message {
        id: id.to_string(),
        role: "assistant",
        status,
        content: text.map(OutputText::new).into_iter().collect(),
    }
}

fn reasoning_item(id: &str, text: &str, done: bool) -> OutputItem {
    OutputItem::Reasoning {
        id: id.to_string(),
        summary: done
            .then(|| SummaryText { text: text.to_string() })
            .into_iter()
            .collect(),
        encrypted_content: None,
    }
}

/// A whole response as JSON, for tests that index into it.
#[cfg(test)]
pub(crate) fn response_json(resp: &GenerateContentResponse, echo: &ResponseEcho, ctx: &RequestContext) -> Value {
    serde_json::to_value(gemini_to_response(resp, echo, ctx)).unwrap_or_default()
}

#[cfg(test)]
mod tests;
