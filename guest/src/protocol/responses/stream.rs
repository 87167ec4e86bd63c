//! Gemini stream → Responses API events (protocols.md §3.6; the OpenAI SDK's
//! `ResponseStreamEvent` types).
//!
//! Every event is framed `event: <type>\ndata: <json>\n\n`, its JSON carries `type` and a
//! `sequence_number` counting from 0. Grammar:
//!
//! ```text
//! response.created  response.in_progress            (status in_progress, output [])
//! ( reasoning item:  output_item.added {reasoning, summary []}
//!                    reasoning_summary_part.added  reasoning_summary_text.delta+
//!                    reasoning_summary_text.done   reasoning_summary_part.done  output_item.done
//! | message item:    output_item.added {message, content [], in_progress}
//!                    content_part.added {output_text ""}  output_text.delta+
//!                    output_text.done  content_part.done  output_item.done
//! | function call:   output_item.added {function_call, arguments ""}
//!                    function_call_arguments.delta (the whole arguments)
//!                    function_call_arguments.done  output_item.done
//! | custom tool call: output_item.added {custom_tool_call, input ""}
//!                    custom_tool_call_input.delta (the whole input)
//!                    custom_tool_call_input.done  output_item.done
//! | local shell call: output_item.added {local_shell_call, in_progress}  output_item.done )*
//! [ signatures:      output_item.added {reasoning, summary [], encrypted_content}
//!                    output_item.done ]             (only with include reasoning.encrypted_content)
//! response.completed | response.incomplete          (the full response, with usage)
//! ```
//!
//! Thought parts feed a reasoning item, text parts a message item; an item stays open while
//! parts of its kind keep coming, and closes when another kind starts or the stream ends.
//! `MAX_TOKENS` (and content filters) end with `response.incomplete` (`incomplete_details.reason`
//! `max_output_tokens` / `content_filter`), the open message `incomplete`.
//!
//! Failures are never dressed up as a completion: an upstream error chunk, or a stream that ends
//! without a finish reason (a cut connection), ends with `response.failed` (status `failed`,
//! `error {code, message}`, the items finished so far). No `[DONE]` follows (OpenAI sends none).

use super::{response_object, Ending, Outcome, OutputBuilder, ResponseEcho, ResponseError, ResponseObject};
use crate::error::GatewayError;
use crate::protocol::gemini::events::{events as hub_events, Event};
use crate::protocol::gemini::{GenerateContentResponse, Status, UsageMetadata};
use crate::protocol::sse::event_frame;
use crate::protocol::RequestContext;
use serde_json::{json, Value};

/// Stateful translator for one streamed response. Feed it each upstream chunk with
/// [`on_chunk`](Self::on_chunk), and call [`finish`](Self::finish) when the upstream ends (or
/// [`on_upstream_error`](Self::on_upstream_error) when it fails); write every returned frame.
#[derive(Debug)]
pub struct ResponsesStreamTranslator {
    ctx: RequestContext,
    echo: ResponseEcho,
    builder: OutputBuilder,
    sequence: u64,
    started: bool,
    /// How the first candidate ended, once it did.
    ending: Ending,
    usage: Option<UsageMetadata>,
    /// `response.failed` was sent; nothing follows it.
    failed: bool,
}

impl ResponsesStreamTranslator {
    /// Shows `model` as the model that answers, instead of the name the client asked for.
    pub fn show_model(&mut self, model: &str) {
        self.echo.model = model.to_owned();
    }

    /// `model` is the name shown to the client. The other echoed request fields take their
    /// defaults; see [`with_echo`](Self::with_echo).
    pub fn new(model: impl Into<String>, ctx: RequestContext) -> Self {
        ResponsesStreamTranslator {
            builder: OutputBuilder::new(ctx.clone()),
            ctx,
            echo: ResponseEcho::for_model(model),
            sequence: 0,
            started: false,
            ending: Ending::default(),
            usage: None,
            failed: false,
        }
    }

    /// The request fields the response objects echo (tools, instructions, …), which also say
    /// which calls are `custom_tool_call`s / `local_shell_call`s and whether signatures are
    /// handed out in `reasoning.encrypted_content`. Call it before the first chunk.
    pub fn with_echo(mut self, echo: ResponseEcho) -> Self {
        self.builder = OutputBuilder::new(self.ctx.clone()).for_echo(&echo);
        self.echo = echo;
        self
    }

    /// Translates one upstream chunk into zero or more frames.
    pub fn on_chunk(&mut self, chunk: &GenerateContentResponse) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        if self.failed {
            return out;
        }
        self.start(&mut out);
        let mut events = Vec::new();
        for event in hub_events(chunk) {
            if let Event::Usage(usage) = event {
                self.usage = Some(usage);
            }
            self.ending.read(&event);
            self.builder.push_first_candidate(&event, &mut events);
        }
        for event in events {
            out.push(self.frame(event));
        }
        out
    }

    /// An upstream failure after the stream started: `response.failed` (after
    /// `response.created` if nothing was sent yet). Later chunks and `finish` produce nothing.
    pub fn on_upstream_error(&mut self, status: &Status) -> Vec<u8> {
        if self.failed {
            return Vec::new();
        }
        self.fail(&GatewayError::from(status.clone())).concat()
    }

    /// The upstream ended: `response.completed` / `response.incomplete` with the full response,
    /// or `response.failed` if no finish reason ever arrived.
    pub fn finish(mut self) -> Vec<Vec<u8>> {
        if self.failed {
            return Vec::new();
        }
        if !self.ending.is_over() {
            return self.fail(&GatewayError::StreamTruncated);
        }
        let mut out = Vec::new();
        self.start(&mut out);
        let outcome = self.ending.outcome();
        let mut events = Vec::new();
        self.builder.close(&outcome, &mut events);
        for event in events {
            out.push(self.frame(event));
        }
        let kind = match outcome {
            Outcome::Incomplete(_) => "response.incomplete",
            _ => "response.completed",
        };
        let response = self.response(&outcome);
        out.push(self.frame(json!({"type": kind, "response": response})));
        out
    }

    /// `response.failed` carrying `error` (code and message from `crate::error`, one table).
    fn fail(&mut self, error: &GatewayError) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        self.start(&mut out);
        self.failed = true;
        let error = ResponseError {
            code: error.responses_code().into(),
            message: error.to_string(),
        };
        let response = self.response(&Outcome::Failed(error));
        out.push(self.frame(json!({"type": "response.failed", "response": response})));
        out
    }

    /// `response.created` and `response.in_progress`, once.
    fn start(&mut self, out: &mut Vec<Vec<u8>>) {
        if self.started {
            return;
        }
        self.started = true;
        for kind in ["response.created", "response.in_progress"] {
            let response = response_object(&self.echo, &self.ctx, &Outcome::InProgress, Vec::new(), None);
            out.push(self.frame(json!({"type": kind, "response": response})));
        }
    }

    fn response(&self, outcome: &Outcome) -> ResponseObject {
        let usage = match outcome {
            Outcome::Failed(_) | Outcome::InProgress => None,
            _ => Some(self.usage.unwrap_or_default()),
        };
        response_object(
            &self.echo,
            &self.ctx,
            outcome,
            self.builder.items.clone(),
            usage.as_ref(),
        )
    }

    /// Adds the sequence number and frames the event.
    fn frame(&mut self, mut event: Value) -> Vec<u8> {
        let kind = event["type"].as_str().unwrap_or("error").to_string();
        if let Some(object) = event.as_object_mut() {
            object.insert("sequence_number".into(), self.sequence.into());
        }
        self.sequence += 1;
        event_frame(&kind, &event.to_string())
    }
}

#[cfg(test)]
mod tests;
