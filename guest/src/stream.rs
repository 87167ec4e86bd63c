//! Streamed replies: what happens to each upstream chunk on its way to the client.
//!
//! A [`Transducer`] is fed upstream bytes as they arrive and returns the bytes to write at
//! once, so the client sees each event before the upstream has finished. It also remembers the
//! last `usageMetadata` (cumulative in Gemini streams) and any mid-stream error, which the
//! component records when the stream ends. Native Gemini streams pass through byte for byte;
//! translated streams are re-framed by the protocol's stream translator.

use crate::protocol::anthropic::MessagesStreamTranslator;
use crate::protocol::gemini::{GenerateContentResponse, Status, UsageMetadata};
use crate::protocol::openai::ChatStreamTranslator;
use crate::protocol::responses::ResponsesStreamTranslator;
use crate::protocol::sse::{JsonArrayReader, SseReader};
use serde::Deserialize;

/// Just the fields of a chunk the gateway itself needs.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChunkProbe {
    usage_metadata: Option<UsageMetadata>,
    error: Option<Status>,
}

enum Kind {
    /// `?alt=sse`: forwarded as is.
    GeminiSse(SseReader),
    /// A streamed JSON array: forwarded as is.
    GeminiArray(JsonArrayReader),
    /// Gemini SSE in, `chat.completion.chunk`s out. `None` once finished or failed.
    OpenAi(SseReader, Option<ChatStreamTranslator>),
    /// Gemini SSE in, Anthropic message events out. `None` once finished or failed.
    Anthropic(SseReader, Option<MessagesStreamTranslator>),
    /// Gemini SSE in, OpenAI Responses events out. `None` once finished or failed.
    Responses(SseReader, Option<Box<ResponsesStreamTranslator>>),
}

/// Turns an upstream stream into the client's stream, chunk by chunk.
pub struct Transducer {
    kind: Kind,
    usage: Option<UsageMetadata>,
    error: Option<String>,
}

impl Transducer {
    /// Native Gemini: bytes pass through untouched; chunks are only inspected.
    pub fn gemini_passthrough(sse: bool) -> Self {
        let kind = if sse {
            Kind::GeminiSse(SseReader::new())
        } else {
            Kind::GeminiArray(JsonArrayReader::new())
        };
        Transducer {
            kind,
            usage: None,
            error: None,
        }
    }

    /// OpenAI chat completions from a Gemini SSE stream.
    pub fn openai_chat(translator: ChatStreamTranslator) -> Self {
        Transducer {
            kind: Kind::OpenAi(SseReader::new(), Some(translator)),
            usage: None,
            error: None,
        }
    }

    /// OpenAI Responses API events from a Gemini SSE stream.
    pub fn openai_responses(translator: ResponsesStreamTranslator) -> Self {
        Transducer {
            kind: Kind::Responses(SseReader::new(), Some(Box::new(translator))),
            usage: None,
            error: None,
        }
    }

    /// Anthropic messages from a Gemini SSE stream.
    pub fn anthropic_messages(translator: MessagesStreamTranslator) -> Self {
        Transducer {
            kind: Kind::Anthropic(SseReader::new(), Some(translator)),
            usage: None,
            error: None,
        }
    }

    /// Response headers for the client.
    pub fn headers(&self) -> Vec<(String, String)> {
        let content_type = match self.kind {
            Kind::GeminiArray(_) => "application/json",
            _ => "text/event-stream",
        };
        vec![
            ("content-type".into(), content_type.into()),
            ("cache-control".into(), "no-cache".into()),
            ("x-accel-buffering".into(), "no".into()),
        ]
    }

    /// Feeds upstream bytes; returns what to write to the client now.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<u8> {
        match &mut self.kind {
            Kind::GeminiSse(reader) => {
                for event in reader.push(bytes) {
                    observe(&event.data, &mut self.usage, &mut self.error);
                }
                bytes.to_vec()
            }
            Kind::GeminiArray(reader) => {
                for element in reader.push(bytes) {
                    observe(&element, &mut self.usage, &mut self.error);
                }
                bytes.to_vec()
            }
            Kind::OpenAi(reader, translator) => {
                let events = reader.push(bytes);
                translate(
                    events.iter().map(|e| e.data.as_str()),
                    translator,
                    &mut self.usage,
                    &mut self.error,
                    |t, c| t.on_chunk(c).concat(),
                    |t, s| t.on_upstream_error(s),
                )
            }
            Kind::Anthropic(reader, translator) => {
                let events = reader.push(bytes);
                translate(
                    events.iter().map(|e| e.data.as_str()),
                    translator,
                    &mut self.usage,
                    &mut self.error,
                    |t, c| t.on_chunk(c).concat(),
                    |t, s| t.on_upstream_error(s).concat(),
                )
            }
            Kind::Responses(reader, translator) => {
                let events = reader.push(bytes);
                translate(
                    events.iter().map(|e| e.data.as_str()),
                    translator,
                    &mut self.usage,
                    &mut self.error,
                    |t, c| t.on_chunk(c).concat(),
                    |t, s| t.on_upstream_error(s),
                )
            }
        }
    }

    /// The upstream ended normally; returns any final bytes.
    pub fn finish(&mut self) -> Vec<u8> {
        match &mut self.kind {
            Kind::GeminiSse(reader) => {
                if let Some(event) = reader.finish() {
                    observe(&event.data, &mut self.usage, &mut self.error);
                }
                Vec::new()
            }
            Kind::GeminiArray(reader) => {
                if let Some(element) = reader.finish() {
                    observe(&element, &mut self.usage, &mut self.error);
                }
                Vec::new()
            }
            Kind::OpenAi(reader, translator) => {
                let last = reader.finish();
                let mut out = translate(
                    last.iter().map(|e| e.data.as_str()),
                    translator,
                    &mut self.usage,
                    &mut self.error,
                    |t, c| t.on_chunk(c).concat(),
                    |t, s| t.on_upstream_error(s),
                );
                if let Some(t) = translator.take() {
                    out.extend(t.finish().concat());
                }
                out
            }
            Kind::Anthropic(reader, translator) => {
                let last = reader.finish();
                let mut out = translate(
                    last.iter().map(|e| e.data.as_str()),
                    translator,
                    &mut self.usage,
                    &mut self.error,
                    |t, c| t.on_chunk(c).concat(),
                    |t, s| t.on_upstream_error(s).concat(),
                );
                if let Some(t) = translator.take() {
                    out.extend(t.finish().concat());
                }
                out
            }
            Kind::Responses(reader, translator) => {
                let last = reader.finish();
                let mut out = translate(
                    last.iter().map(|e| e.data.as_str()),
                    translator,
                    &mut self.usage,
                    &mut self.error,
                    |t, c| t.on_chunk(c).concat(),
                    |t, s| t.on_upstream_error(s),
                );
                if let Some(t) = translator.take() {
                    out.extend(t.finish().concat());
                }
                out
            }
        }
    }

    /// The upstream connection broke mid-stream: tell the client in its protocol rather
    /// than ending as if the answer were complete.
    pub fn on_transport_error(&mut self, message: &str) -> Vec<u8> {
        let status = Status {
            code: 502,
            message: format!("upstream stream interrupted: {message}"),
            status: "UNAVAILABLE".into(),
            details: vec![],
        };
        self.error = Some(status.message.clone());
        let error = serde_json::json!({ "error": status });
        match &mut self.kind {
            Kind::GeminiSse(_) => format!("data: {error}\r\n\r\n").into_bytes(),
            Kind::GeminiArray(_) => format!(",\r\n{error}]").into_bytes(),
            Kind::OpenAi(_, translator) => translator
                .take()
                .map(|mut t| t.on_upstream_error(&status))
                .unwrap_or_default(),
            Kind::Anthropic(_, translator) => translator
                .take()
                .map(|mut t| t.on_upstream_error(&status).concat())
                .unwrap_or_default(),
            Kind::Responses(_, translator) => translator
                .take()
                .map(|mut t| t.on_upstream_error(&status))
                .unwrap_or_default(),
        }
    }

    /// The last cumulative usage seen.
    pub fn usage(&self) -> Option<UsageMetadata> {
        self.usage
    }

    /// The mid-stream error, if the stream carried one.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
}

fn observe(json: &str, usage: &mut Option<UsageMetadata>, error: &mut Option<String>) {
    if let Ok(probe) = serde_json::from_str::<ChunkProbe>(json) {
        if probe.usage_metadata.is_some() {
            *usage = probe.usage_metadata;
        }
        if let Some(status) = probe.error {
            *error = Some(status.message);
        }
    }
}

/// Feeds upstream event payloads to a translator; an error chunk ends the translation (the
/// client gets the error in its protocol and nothing after it).
fn translate<'a, T>(
    payloads: impl Iterator<Item = &'a str>,
    translator: &mut Option<T>,
    usage: &mut Option<UsageMetadata>,
    error: &mut Option<String>,
    on_chunk: impl Fn(&mut T, &GenerateContentResponse) -> Vec<u8>,
    on_error: impl Fn(&mut T, &Status) -> Vec<u8>,
) -> Vec<u8> {
    let mut out = Vec::new();
    for payload in payloads {
        let Some(t) = translator.as_mut() else { break };
        match parse_chunk(payload) {
            Ok(chunk) => {
                if chunk.usage_metadata.is_some() {
                    *usage = chunk.usage_metadata;
                }
                out.extend(on_chunk(t, &chunk));
            }
            Err(status) => {
                *error = Some(status.message.clone());
                out.extend(on_error(t, &status));
                *translator = None;
            }
        }
    }
    out
}

/// Parses one upstream chunk for the translators.
pub fn parse_chunk(json: &str) -> Result<GenerateContentResponse, Status> {
    if let Ok(probe) = serde_json::from_str::<ChunkProbe>(json) {
        if let Some(status) = probe.error {
            return Err(status);
        }
    }
    serde_json::from_str(json).map_err(|e| Status {
        code: 502,
        message: format!("unreadable upstream chunk: {e}"),
        status: "UNAVAILABLE".into(),
        details: vec![],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SSE: &str = "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Hel\"}],\"role\": \"model\"}}],\"usageMetadata\": {\"promptTokenCount\": 5,\"totalTokenCount\": 5}}\r\n\r\n\
data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"lo\"}],\"role\": \"model\"},\"finishReason\": \"STOP\"}],\"usageMetadata\": {\"promptTokenCount\": 5,\"candidatesTokenCount\": 3,\"thoughtsTokenCount\": 2,\"totalTokenCount\": 10}}\r\n\r\n";

    #[test]
    fn sse_passes_through_byte_for_byte_and_keeps_last_usage() {
        let mut t = Transducer::gemini_passthrough(true);
        let mut out = Vec::new();
        for chunk in SSE.as_bytes().chunks(7) {
            out.extend(t.push(chunk));
        }
        out.extend(t.finish());
        assert_eq!(out, SSE.as_bytes());
        let usage = t.usage().unwrap();
        assert_eq!(
            (
                usage.prompt_token_count,
                usage.candidates_token_count,
                usage.thoughts_token_count
            ),
            (5, 3, 2)
        );
        assert!(t.error().is_none());
    }

    #[test]
    fn mid_stream_error_chunk_is_noticed() {
        let mut t = Transducer::gemini_passthrough(true);
        t.push(b"data: {\"error\": {\"code\": 503, \"message\": \"overloaded\", \"status\": \"UNAVAILABLE\"}}\r\n\r\n");
        assert_eq!(t.error(), Some("overloaded"));
    }

    #[test]
    fn json_array_stream_usage_is_read() {
        let mut t = Transducer::gemini_passthrough(false);
        let body = "[{\"usageMetadata\": {\"promptTokenCount\": 1}}\n,\r\n{\"usageMetadata\": {\"promptTokenCount\": 1, \"candidatesTokenCount\": 4}}]";
        let mut out = Vec::new();
        for chunk in body.as_bytes().chunks(5) {
            out.extend(t.push(chunk));
        }
        out.extend(t.finish());
        assert_eq!(out, body.as_bytes());
        assert_eq!(t.usage().unwrap().candidates_token_count, 4);
    }
}
