//! Gemini `streamGenerateContent` chunks -> Anthropic Messages SSE events (§4.3, §5.3).
//!
//! Order: `message_start`, `ping`, then content blocks (`content_block_start`, deltas,
//! `content_block_stop`), and on the chunk that carries a `finishReason`: the open block is
//! closed, then `message_delta` (stop reason, cumulative usage) and `message_stop`.
//!
//! * Thought parts stream into a `thinking` block; a signature arrives as `signature_delta`
//!   (with the `gemini:` prefix) and closes the block for further signatures. A thinking block
//!   still unsigned when it closes gets a `signature_delta` with the bare prefix first, as
//!   every Anthropic thinking block ends with one.
//! * A plain text part carrying a signature (Gemini puts it on the last text part, often an
//!   empty one) emits an empty `thinking` block with that signature where it arrives.
//! * Each `functionCall` arrives whole, so it is one `tool_use` block with one
//!   `input_json_delta` holding the complete arguments.
//! * A stream that ends without any `finishReason` is a failure, not a finished message:
//!   [`MessagesStreamTranslator::finish`] then emits `event: error` (`api_error`,
//!   [`GatewayError::StreamTruncated`]) instead of a fabricated `end_turn`, so SDKs raise.

use serde_json::{json, Value};

use super::super::gemini::events::{events, Event, Signed};
use super::super::gemini::{FunctionCall, GenerateContentResponse, Status, UsageMetadata};
use super::super::sse::event_frame;
use super::super::{Protocol, RequestContext};
use super::{
    id_token, stop_reason, thinking_signature, tool_use_id, usage, AnthropicStopReason, UNSIGNED_THINKING_SIGNATURE,
};
use crate::error::GatewayError;

/// The block currently open, if any.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Open {
    Text,
    Thinking { signed: bool },
}

/// Translates one Gemini stream into Anthropic SSE frames; see the module doc.
#[derive(Debug)]
pub struct MessagesStreamTranslator {
    model: String,
    message_id: String,
    token: String,
    started: bool,
    /// `message_stop` or an error has been emitted; later input is ignored.
    done: bool,
    open: Option<Open>,
    /// Index of the next content block.
    index: usize,
    calls: usize,
    usage: Option<UsageMetadata>,
}

impl MessagesStreamTranslator {
    /// Shows `model` as the model that answers, instead of the name the client asked for.
    pub fn show_model(&mut self, model: &str) {
        self.model = model.to_owned();
    }

    /// `model` is echoed as the message's model (the name the client asked for).
    pub fn new(model: &str, ctx: &RequestContext) -> Self {
        MessagesStreamTranslator {
            model: model.to_string(),
            message_id: format!("msg_{}", ctx.request_id),
            token: id_token(&ctx.request_id),
            started: false,
            done: false,
            open: None,
            index: 0,
            calls: 0,
            usage: None,
        }
    }

    /// Frames for one upstream chunk. Only the first candidate is rendered (Messages has no
    /// `n`).
    pub fn on_chunk(&mut self, chunk: &GenerateContentResponse) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for event in events(chunk) {
            if self.done {
                break;
            }
            if let Event::Usage(u) = event {
                self.usage = Some(u);
                continue;
            }
            self.start(&mut out);
            match event {
                Event::PromptBlocked => self.finish_message(&mut out, AnthropicStopReason::Refusal),
                Event::Text { candidate: 0, text } => self.text(text, &mut out),
                Event::Thought { candidate: 0, text } => {
                    self.open_thinking(&mut out);
                    out.push(delta(self.index, json!({"type": "thinking_delta", "thinking": text})));
                }
                Event::Signature {
                    candidate: 0,
                    signature,
                    on: Signed::Thought,
                } => {
                    self.open_thinking(&mut out);
                    self.sign(signature, &mut out);
                }
                // A signed answer: an empty thinking block holding the signature, where it arrives.
                Event::Signature {
                    candidate: 0,
                    signature,
                    on: Signed::Text,
                } => {
                    self.close(&mut out);
                    self.start_thinking(&mut out);
                    self.sign(signature, &mut out);
                    self.close(&mut out);
                }
                Event::FunctionCall {
                    candidate: 0,
                    call,
                    signature,
                } => self.tool_use(call, signature, &mut out),
                Event::Finish { candidate: 0, reason } => {
                    self.finish_message(&mut out, stop_reason(Some(reason), self.calls > 0));
                }
                _ => {}
            }
        }
        if !self.done {
            self.start(&mut out);
        }
        out
    }

    /// An error chunk (or failure) after the response started: one `event: error` frame.
    pub fn on_upstream_error(&mut self, status: &Status) -> Vec<Vec<u8>> {
        if self.done {
            return Vec::new();
        }
        self.done = true;
        vec![error_frame(&GatewayError::from(status.clone()))]
    }

    /// Frames for the end of the upstream stream: nothing after a finished message, an error
    /// when the upstream stopped before saying it was done.
    pub fn finish(self) -> Vec<Vec<u8>> {
        if self.done {
            return Vec::new();
        }
        vec![error_frame(&GatewayError::StreamTruncated)]
    }

    /// `message_start` and `ping`, once, before anything else.
    fn start(&mut self, out: &mut Vec<Vec<u8>>) {
        if self.started {
            return;
        }
        self.started = true;
        let u = usage(self.usage.as_ref());
        let start = json!({"type": "message_start", "message": {
            "id": self.message_id, "type": "message", "role": "assistant", "content": [], "model": self.model,
            "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": u.input_tokens, "output_tokens": 1,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": u.cache_read_input_tokens}
        }});
        out.push(frame("message_start", &start));
        out.push(frame("ping", &json!({"type": "ping"})));
    }

    fn tool_use(&mut self, call: &FunctionCall, signature: Option<&str>, out: &mut Vec<Vec<u8>>) {
        self.close(out);
        let args = if call.args.is_object() {
            call.args.clone()
        } else {
            json!({})
        };
        let id = tool_use_id(&self.token, self.calls, signature);
        self.calls += 1;
        let index = self.index;
        self.index += 1;
        out.push(frame(
            "content_block_start",
            &json!({"type": "content_block_start", "index": index,
                    "content_block": {"type": "tool_use", "id": id, "name": call.name, "input": {}}}),
        ));
        out.push(delta(
            index,
            json!({"type": "input_json_delta", "partial_json": args.to_string()}),
        ));
        out.push(frame(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": index}),
        ));
    }

    /// Thought text and signatures go to the open thinking block while it is unsigned; else a
    /// new one opens.
    fn open_thinking(&mut self, out: &mut Vec<Vec<u8>>) {
        if self.open != Some(Open::Thinking { signed: false }) {
            self.close(out);
            self.start_thinking(out);
        }
    }

    /// A `signature_delta`; the block takes no further signature.
    fn sign(&mut self, signature: &str, out: &mut Vec<Vec<u8>>) {
        out.push(delta(
            self.index,
            json!({"type": "signature_delta", "signature": thinking_signature(Some(signature))}),
        ));
        self.open = Some(Open::Thinking { signed: true });
    }

    fn text(&mut self, text: &str, out: &mut Vec<Vec<u8>>) {
        if self.open != Some(Open::Text) {
            self.close(out);
            out.push(frame(
                "content_block_start",
                &json!({"type": "content_block_start", "index": self.index, "content_block": {"type": "text", "text": ""}}),
            ));
            self.open = Some(Open::Text);
        }
        out.push(delta(self.index, json!({"type": "text_delta", "text": text})));
    }

    fn start_thinking(&mut self, out: &mut Vec<Vec<u8>>) {
        out.push(frame(
            "content_block_start",
            &json!({"type": "content_block_start", "index": self.index,
                    "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
        ));
        self.open = Some(Open::Thinking { signed: false });
    }

    fn close(&mut self, out: &mut Vec<Vec<u8>>) {
        if self.open == Some(Open::Thinking { signed: false }) {
            out.push(delta(
                self.index,
                json!({"type": "signature_delta", "signature": UNSIGNED_THINKING_SIGNATURE}),
            ));
        }
        if self.open.take().is_some() {
            out.push(frame(
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": self.index}),
            ));
            self.index += 1;
        }
    }

    fn finish_message(&mut self, out: &mut Vec<Vec<u8>>, stop: AnthropicStopReason) {
        self.close(out);
        let u = usage(self.usage.as_ref());
        out.push(frame(
            "message_delta",
            &json!({"type": "message_delta",
                    "delta": {"stop_reason": stop.as_str(), "stop_sequence": null},
                    "usage": {"output_tokens": u.output_tokens, "input_tokens": u.input_tokens,
                              "cache_creation_input_tokens": 0, "cache_read_input_tokens": u.cache_read_input_tokens}}),
        ));
        out.push(frame("message_stop", &json!({"type": "message_stop"})));
        self.done = true;
    }
}

fn frame(name: &str, data: &Value) -> Vec<u8> {
    event_frame(name, &data.to_string())
}

fn delta(index: usize, delta: Value) -> Vec<u8> {
    frame(
        "content_block_delta",
        &json!({"type": "content_block_delta", "index": index, "delta": delta}),
    )
}

/// An error as the stream's last event: the body a whole reply would carry (`crate::error`).
fn error_frame(error: &GatewayError) -> Vec<u8> {
    frame("error", &error.body(Protocol::Anthropic))
}

#[cfg(test)]
mod tests;
