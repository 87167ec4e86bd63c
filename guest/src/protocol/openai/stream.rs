//! Gemini stream → `chat.completion.chunk` SSE frames (protocols.md §3.3, §5.3).
//!
//! Grammar, as OpenAI emits it, per choice: a first chunk `delta: {"role":"assistant","content":""}`;
//! `content` deltas for text and `reasoning_content` deltas for thought summaries (never mixed);
//! each function call as one `tool_calls` delta carrying `index`, `id`, `type`, `function.name`
//! and the whole `arguments` (Gemini never splits a call); finally `delta: {}` with the finish
//! reason, held back until the upstream ends so it is always the choice's last chunk. With
//! `include_usage`, every chunk carries `"usage": null` and one last chunk `{"choices": [],
//! "usage": {…}}` follows (Gemini's usage is cumulative: the last one seen wins). Then
//! `data: [DONE]`. `id` and `created` are the same in every chunk.
//!
//! Failures are never dressed up as a normal end: an upstream `{"error": …}` chunk becomes an
//! OpenAI error frame (the SDK raises on it), and a stream that ends before every choice got a
//! `finishReason` (a cut connection) ends with an error frame instead of a fabricated `stop`.
//! Neither is followed by `[DONE]`.

use super::response::{completion_id, finish_reason_from_gemini, tool_call, usage_from_gemini};
use super::{
    OpenAiChatChunk, OpenAiChunkChoice, OpenAiDelta, OpenAiToolCallDelta, CHAT_COMPLETION_CHUNK_OBJECT, DONE_FRAME,
};
use crate::error::GatewayError;
use crate::protocol::gemini::events::{events, Event};
use crate::protocol::gemini::{GenerateContentResponse, Status, UsageMetadata};
use crate::protocol::sse::data_frame;
use crate::protocol::{Protocol, RequestContext};
use std::collections::BTreeMap;

/// Stateful translator for one streamed chat completion. Feed it each upstream chunk with
/// [`on_chunk`](Self::on_chunk) and call [`finish`](Self::finish) when the upstream ends; write
/// every returned frame as is. Production drives it through [`crate::stream::Transducer`],
/// which reads the upstream's events and turns an error or unreadable chunk into
/// [`on_upstream_error`](Self::on_upstream_error).
#[derive(Debug)]
pub struct ChatStreamTranslator {
    ctx: RequestContext,
    model: String,
    include_usage: bool,
    /// Per candidate index, in index order.
    choices: BTreeMap<u32, ChoiceState>,
    usage: Option<UsageMetadata>,
    /// An error frame was sent; nothing follows it.
    failed: bool,
}

#[derive(Debug, Default)]
struct ChoiceState {
    tool_calls: usize,
    finish_reason: Option<&'static str>,
}

impl ChatStreamTranslator {
    /// Shows `model` as the model that answers, instead of the name the client asked for.
    pub fn show_model(&mut self, model: &str) {
        self.model = model.to_owned();
    }

    /// `model` is the name shown to the client; `include_usage` is `stream_options.include_usage`.
    pub fn new(model: impl Into<String>, ctx: RequestContext, include_usage: bool) -> Self {
        ChatStreamTranslator {
            ctx,
            model: model.into(),
            include_usage,
            choices: BTreeMap::new(),
            usage: None,
            failed: false,
        }
    }

    /// Translates one upstream chunk into zero or more frames.
    pub fn on_chunk(&mut self, chunk: &GenerateContentResponse) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        if self.failed {
            return out;
        }
        for event in events(chunk) {
            let (index, delta) = match event {
                Event::Usage(usage) => {
                    self.usage = Some(usage);
                    continue;
                }
                Event::PromptBlocked => {
                    self.open_choice(0, &mut out).finish_reason = Some("content_filter");
                    continue;
                }
                Event::Candidate(index) => {
                    self.open_choice(index, &mut out);
                    continue;
                }
                Event::Finish { candidate, reason } => {
                    let state = self.choices.entry(candidate).or_default();
                    state.finish_reason = Some(finish_reason_from_gemini(Some(reason), state.tool_calls > 0));
                    continue;
                }
                // Chat completions carry signatures only in tool-call ids.
                Event::Signature { .. } => continue,
                Event::Text { candidate, text } => (
                    candidate,
                    OpenAiDelta {
                        content: Some(text.to_string()),
                        ..Default::default()
                    },
                ),
                Event::Thought { candidate, text } => (
                    candidate,
                    OpenAiDelta {
                        reasoning_content: Some(text.to_string()),
                        ..Default::default()
                    },
                ),
                Event::FunctionCall {
                    candidate,
                    call,
                    signature,
                } => {
                    let state = self.choices.entry(candidate).or_default();
                    let n = state.tool_calls;
                    state.tool_calls += 1;
                    let call = tool_call(call, signature, &self.ctx, candidate, n);
                    let delta = OpenAiDelta {
                        tool_calls: vec![OpenAiToolCallDelta {
                            index: n as u32,
                            id: call.id,
                            kind: call.kind,
                            function: call.function,
                            extra_content: call.extra_content,
                        }],
                        ..Default::default()
                    };
                    (candidate, delta)
                }
            };
            out.push(self.frame(vec![choice(index, delta, None)], None));
        }
        out
    }

    /// An upstream failure after the stream started: one OpenAI error frame. The stream is
    /// over; later chunks and [`finish`](Self::finish) produce nothing.
    pub fn on_upstream_error(&mut self, status: &Status) -> Vec<u8> {
        self.failed = true;
        error_frame(&GatewayError::from(status.clone()))
    }

    /// The upstream ended: finish chunks, the usage chunk, `[DONE]` — or, if some choice never
    /// got a finish reason (or nothing arrived at all), an error frame.
    pub fn finish(self) -> Vec<Vec<u8>> {
        if self.failed {
            return Vec::new();
        }
        if self.choices.is_empty() || self.choices.values().any(|c| c.finish_reason.is_none()) {
            return vec![error_frame(&GatewayError::StreamTruncated)];
        }
        let mut out: Vec<Vec<u8>> = self
            .choices
            .iter()
            .map(|(index, state)| self.frame(vec![choice(*index, OpenAiDelta::default(), state.finish_reason)], None))
            .collect();
        if self.include_usage {
            let usage = usage_from_gemini(&self.usage.unwrap_or_default());
            out.push(self.frame(Vec::new(), Some(usage)));
        }
        out.push(DONE_FRAME.to_vec());
        out
    }

    /// Registers a candidate; the first time, emits its role chunk.
    fn open_choice(&mut self, index: u32, out: &mut Vec<Vec<u8>>) -> &mut ChoiceState {
        if !self.choices.contains_key(&index) {
            let delta = OpenAiDelta {
                role: Some("assistant".into()),
                content: Some(String::new()),
                ..Default::default()
            };
            out.push(self.frame(vec![choice(index, delta, None)], None));
        }
        self.choices.entry(index).or_default()
    }

    fn frame(&self, choices: Vec<OpenAiChunkChoice>, usage: Option<super::OpenAiUsage>) -> Vec<u8> {
        let chunk = OpenAiChatChunk {
            id: completion_id(&self.ctx),
            object: CHAT_COMPLETION_CHUNK_OBJECT.into(),
            created: self.ctx.created,
            model: self.model.clone(),
            system_fingerprint: None,
            choices,
            usage: self.include_usage.then_some(usage),
        };
        data_frame(&serde_json::to_string(&chunk).unwrap_or_default())
    }
}

/// An error as the stream's last frame: the body a whole reply would carry (`crate::error`).
fn error_frame(error: &GatewayError) -> Vec<u8> {
    data_frame(&error.body(Protocol::OpenAi).to_string())
}

fn choice(index: u32, delta: OpenAiDelta, finish_reason: Option<&str>) -> OpenAiChunkChoice {
    OpenAiChunkChoice {
        index,
        delta,
        logprobs: None,
        finish_reason: finish_reason.map(str::to_string),
    }
}

#[cfg(test)]
mod tests;
