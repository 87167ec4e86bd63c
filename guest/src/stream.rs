//! Streamed replies: what happens to each upstream chunk on its way to the client.
//!
//! A [`Transducer`] is fed upstream bytes as they arrive and returns the bytes to write at
//! once, so the client sees each event before the upstream has finished. It also remembers the
//! last `usageMetadata` (cumulative in Gemini streams) and any mid-stream error, which the
//! component records when the stream ends. Native Gemini streams pass through byte for byte;
//! translated streams are re-framed by the protocol's [`StreamTranslator`].

use crate::protocol::anthropic::MessagesStreamTranslator;
use crate::protocol::gemini::{GenerateContentResponse, Status, UsageMetadata};
use crate::protocol::openai::ChatStreamTranslator;
use crate::protocol::responses::ResponsesStreamTranslator;
use crate::protocol::sse::{JsonArrayReader, SseReader};
use crate::secrets::Secrets;
use serde::Deserialize;

/// A client protocol's stream translator: Gemini chunks in, the client's frames out.
pub trait StreamTranslator {
    /// Frames for one upstream chunk.
    fn on_chunk(&mut self, chunk: &GenerateContentResponse) -> Vec<u8>;
    /// The frame(s) that tell the client the upstream failed; nothing follows them.
    fn on_upstream_error(&mut self, status: &Status) -> Vec<u8>;
    /// The closing frames once the upstream ended (an error if it ended too early).
    fn finish(self: Box<Self>) -> Vec<u8>;
    /// Shows `model` to the client instead of the name it asked for (a fallback model
    /// served the request); called before the first chunk.
    fn show_model(&mut self, model: &str);
}

impl StreamTranslator for ChatStreamTranslator {
    fn on_chunk(&mut self, chunk: &GenerateContentResponse) -> Vec<u8> {
        ChatStreamTranslator::on_chunk(self, chunk).concat()
    }
    fn on_upstream_error(&mut self, status: &Status) -> Vec<u8> {
        ChatStreamTranslator::on_upstream_error(self, status)
    }
    fn finish(self: Box<Self>) -> Vec<u8> {
        ChatStreamTranslator::finish(*self).concat()
    }
    fn show_model(&mut self, model: &str) {
        ChatStreamTranslator::show_model(self, model);
    }
}

impl StreamTranslator for MessagesStreamTranslator {
    fn on_chunk(&mut self, chunk: &GenerateContentResponse) -> Vec<u8> {
        MessagesStreamTranslator::on_chunk(self, chunk).concat()
    }
    fn on_upstream_error(&mut self, status: &Status) -> Vec<u8> {
        MessagesStreamTranslator::on_upstream_error(self, status).concat()
    }
    fn finish(self: Box<Self>) -> Vec<u8> {
        MessagesStreamTranslator::finish(*self).concat()
    }
    fn show_model(&mut self, model: &str) {
        MessagesStreamTranslator::show_model(self, model);
    }
}

impl StreamTranslator for ResponsesStreamTranslator {
    fn on_chunk(&mut self, chunk: &GenerateContentResponse) -> Vec<u8> {
        ResponsesStreamTranslator::on_chunk(self, chunk).concat()
    }
    fn on_upstream_error(&mut self, status: &Status) -> Vec<u8> {
        ResponsesStreamTranslator::on_upstream_error(self, status)
    }
    fn finish(self: Box<Self>) -> Vec<u8> {
        ResponsesStreamTranslator::finish(*self).concat()
    }
    fn show_model(&mut self, model: &str) {
        ResponsesStreamTranslator::show_model(self, model);
    }
}

/// Just the fields of a chunk the gateway itself needs.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChunkProbe {
    usage_metadata: Option<UsageMetadata>,
    error: Option<Status>,
}

enum Kind {
    /// `?alt=sse`: forwarded as is, one whole event at a time (the bytes of an event not yet
    /// complete wait in the buffer, so a cut stream never leaves half an event before the
    /// error event).
    GeminiSse(SseReader, Vec<u8>),
    /// A streamed JSON array: forwarded as is, up to the end of the last whole element (the
    /// bytes of an element not yet complete wait, so a cut stream can still close the array).
    GeminiArray(JsonArrayReader, Vec<u8>, ArrayProgress),
    /// Gemini SSE in, the client protocol's events out. `None` once finished or failed.
    Translated(SseReader, Option<Box<dyn StreamTranslator>>),
}

/// How far a passed-through JSON array got, to close it properly after a failure.
#[derive(Debug, Default, Clone, Copy)]
struct ArrayProgress {
    /// The opening `[` went to the client.
    opened: bool,
    /// Whole elements that went to the client.
    elements: usize,
    /// The last byte (not white space) that went to the client was a `,`.
    after_comma: bool,
}

/// The largest single upstream event (or array element) held while it arrives; a larger one
/// ends the stream with an error rather than exhausting the instance's memory.
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// Turns an upstream stream into the client's stream, chunk by chunk.
pub struct Transducer {
    kind: Kind,
    usage: Option<UsageMetadata>,
    error: Option<String>,
    /// Secrets to scrub from what the upstream sends (an error chunk may quote the key).
    secrets: Secrets,
    /// The stream ended in an error event of ours; nothing more goes to the client.
    failed: bool,
}

impl Transducer {
    fn new(kind: Kind) -> Self {
        Transducer {
            kind,
            usage: None,
            error: None,
            secrets: Secrets::default(),
            failed: false,
        }
    }

    /// Scrub these secrets (the key serving the stream) from everything forwarded.
    pub fn scrub(&mut self, secrets: Secrets) {
        self.secrets = secrets;
    }

    /// Native Gemini: bytes pass through untouched; chunks are only inspected.
    pub fn gemini_passthrough(sse: bool) -> Self {
        Transducer::new(if sse {
            Kind::GeminiSse(SseReader::new(), Vec::new())
        } else {
            Kind::GeminiArray(JsonArrayReader::new(), Vec::new(), ArrayProgress::default())
        })
    }

    /// A Gemini SSE stream re-framed by a client protocol's translator.
    pub fn translated(translator: impl StreamTranslator + 'static) -> Self {
        Transducer::new(Kind::Translated(SseReader::new(), Some(Box::new(translator))))
    }

    /// OpenAI chat completions from a Gemini SSE stream.
    pub fn openai_chat(translator: ChatStreamTranslator) -> Self {
        Transducer::translated(translator)
    }

    /// OpenAI Responses API events from a Gemini SSE stream.
    pub fn openai_responses(translator: ResponsesStreamTranslator) -> Self {
        Transducer::translated(translator)
    }

    /// Anthropic messages from a Gemini SSE stream.
    pub fn anthropic_messages(translator: MessagesStreamTranslator) -> Self {
        Transducer::translated(translator)
    }

    /// Shows `model` to the client as the model that answers (a fallback model served the
    /// request). Native streams pass through as the upstream sent them (`modelVersion` says
    /// which model answered), so only translated ones change.
    pub fn show_model(&mut self, model: &str) {
        if let Kind::Translated(_, Some(translator)) = &mut self.kind {
            translator.show_model(model);
        }
    }

    /// Response headers for the client.
    pub fn headers(&self) -> Vec<(String, String)> {
        let content_type = match self.kind {
            Kind::GeminiArray(..) => "application/json",
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
        if self.failed {
            return Vec::new();
        }
        let (out, held) = match &mut self.kind {
            Kind::GeminiSse(reader, pending) => {
                for event in reader.push(bytes) {
                    observe(&event.data, &mut self.usage, &mut self.error);
                }
                pending.extend_from_slice(bytes);
                let complete: Vec<u8> = match last_event_end(pending) {
                    Some(end) => pending.drain(..end).collect(),
                    None => Vec::new(),
                };
                (self.secrets.scrub_bytes(&complete).unwrap_or(complete), pending.len())
            }
            Kind::GeminiArray(reader, pending, progress) => {
                let elements = reader.push(bytes);
                for element in &elements {
                    observe(element, &mut self.usage, &mut self.error);
                }
                pending.extend_from_slice(bytes);
                let ready = pending.len() - reader.pending_len().min(pending.len());
                let complete: Vec<u8> = pending.drain(..ready).collect();
                progress.elements += elements.len();
                progress.opened |= complete.contains(&b'[');
                if let Some(&last) = complete.iter().rev().find(|b| !b.is_ascii_whitespace()) {
                    progress.after_comma = last == b',';
                }
                (
                    self.secrets.scrub_bytes(&complete).unwrap_or(complete),
                    reader.pending_len(),
                )
            }
            Kind::Translated(reader, translator) => {
                let events = reader.push(bytes);
                let out = translate(
                    events.iter().map(|e| e.data.as_str()),
                    translator,
                    &mut self.usage,
                    &mut self.error,
                    &self.secrets,
                );
                (out, reader.buffered_len())
            }
        };
        if held > MAX_EVENT_BYTES {
            let mut out = out;
            out.extend(self.on_transport_error(&format!(
                "the upstream sent an event larger than {} MiB",
                MAX_EVENT_BYTES >> 20
            )));
            return out;
        }
        out
    }

    /// The stream ended in an error event of ours: stop reading the upstream.
    pub fn is_failed(&self) -> bool {
        self.failed
    }

    /// The upstream ended normally; returns any final bytes.
    pub fn finish(&mut self) -> Vec<u8> {
        if self.failed {
            return Vec::new();
        }
        match &mut self.kind {
            Kind::GeminiSse(reader, pending) => {
                if let Some(event) = reader.finish() {
                    observe(&event.data, &mut self.usage, &mut self.error);
                }
                let rest = std::mem::take(pending);
                self.secrets.scrub_bytes(&rest).unwrap_or(rest)
            }
            Kind::GeminiArray(reader, pending, _) => {
                if let Some(element) = reader.finish() {
                    observe(&element, &mut self.usage, &mut self.error);
                }
                let rest = std::mem::take(pending);
                self.secrets.scrub_bytes(&rest).unwrap_or(rest)
            }
            Kind::Translated(reader, translator) => {
                let last = reader.finish();
                let mut out = translate(
                    last.iter().map(|e| e.data.as_str()),
                    translator,
                    &mut self.usage,
                    &mut self.error,
                    &self.secrets,
                );
                if let Some(t) = translator.take() {
                    out.extend(t.finish());
                }
                out
            }
        }
    }

    /// The upstream connection broke mid-stream: tell the client in its protocol rather
    /// than ending as if the answer were complete.
    pub fn on_transport_error(&mut self, message: &str) -> Vec<u8> {
        if self.failed {
            return Vec::new();
        }
        self.failed = true;
        let status = Status {
            code: 502,
            message: format!("upstream stream interrupted: {message}"),
            status: "UNAVAILABLE".into(),
            details: vec![],
        };
        self.error = Some(status.message.clone());
        let error = serde_json::json!({ "error": status });
        match &mut self.kind {
            // Half an event is dropped: the client sees whole events, then the error.
            Kind::GeminiSse(_, pending) => {
                pending.clear();
                format!("data: {error}\r\n\r\n").into_bytes()
            }
            // Half an element is dropped; the error becomes the array's last element.
            Kind::GeminiArray(reader, pending, progress) => {
                pending.clear();
                match (
                    reader.is_closed(),
                    progress.opened,
                    progress.elements,
                    progress.after_comma,
                ) {
                    (true, ..) => Vec::new(),
                    (false, false, ..) => format!("[{error}]").into_bytes(),
                    (false, true, 0, _) | (false, true, _, true) => format!("{error}]").into_bytes(),
                    (false, true, _, false) => format!(",\r\n{error}]").into_bytes(),
                }
            }
            Kind::Translated(_, translator) => translator
                .take()
                .map(|mut t| t.on_upstream_error(&status))
                .unwrap_or_default(),
        }
    }

    /// The last cumulative usage seen.
    pub fn usage(&self) -> Option<UsageMetadata> {
        self.usage
    }

    /// The mid-stream error, if the stream carried one (scrubbed of the secrets).
    pub fn error(&self) -> Option<String> {
        self.error.as_deref().map(|e| self.secrets.scrub(e).into_owned())
    }
}

/// Where the last complete SSE event in `buf` ends (after its blank line), if any.
fn last_event_end(buf: &[u8]) -> Option<usize> {
    let find_last = |pattern: &[u8]| {
        buf.windows(pattern.len())
            .rposition(|w| w == pattern)
            .map(|at| at + pattern.len())
    };
    [find_last(b"\n\n"), find_last(b"\r\n\r\n"), find_last(b"\r\r")]
        .into_iter()
        .flatten()
        .max()
}

fn observe(json: &str, usage: &mut Option<UsageMetadata>, error: &mut Option<String>) {
    if let Ok(probe) = serde_json::from_slice::<ChunkProbe>(json.as_bytes()) {
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
fn translate<'a>(
    payloads: impl Iterator<Item = &'a str>,
    translator: &mut Option<Box<dyn StreamTranslator>>,
    usage: &mut Option<UsageMetadata>,
    error: &mut Option<String>,
    secrets: &Secrets,
) -> Vec<u8> {
    let mut out = Vec::new();
    for payload in payloads {
        let Some(t) = translator.as_mut() else { break };
        match parse_chunk(payload) {
            Ok(chunk) => {
                if chunk.usage_metadata.is_some() {
                    *usage = chunk.usage_metadata;
                }
                out.extend(t.on_chunk(&chunk));
            }
            Err(mut status) => {
                status.message = secrets.scrub(&status.message).into_owned();
                *error = Some(status.message.clone());
                out.extend(t.on_upstream_error(&status));
                *translator = None;
            }
        }
    }
    out
}

/// Parses one upstream chunk for the translators, once: an error chunk (`{"error": {…}}`) is
/// the `Err`, and so is an unreadable chunk (a 502 `UNAVAILABLE`).
pub fn parse_chunk(json: &str) -> Result<GenerateContentResponse, Status> {
    match serde_json::from_slice::<GenerateContentResponse>(json.as_bytes()) {
        Ok(GenerateContentResponse {
            error: Some(status), ..
        }) => Err(status),
        Ok(chunk) => Ok(chunk),
        // Only here is the chunk read again: an error chunk whose other fields are unreadable
        // is still the upstream's error.
        Err(e) => Err(serde_json::from_slice::<ChunkProbe>(json.as_bytes())
            .ok()
            .and_then(|probe| probe.error)
            .unwrap_or_else(|| Status {
                code: 502,
                message: format!("unreadable upstream chunk: {e}"),
                status: "UNAVAILABLE".into(),
                details: vec![],
            })),
    }
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
        assert_eq!(t.error().as_deref(), Some("overloaded"));
    }

    #[test]
    fn a_cut_native_stream_never_glues_its_error_onto_half_an_event() {
        let mut t = Transducer::gemini_passthrough(true);
        let mut out = t.push(b"data: {\"candidates\": []}\r\n\r\ndata: {\"candidates\":");
        out.extend(t.on_transport_error("the connection was closed"));
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("data: {\"candidates\": []}\r\n\r\ndata: {\"error\":"),
            "{text}"
        );
        assert!(text.ends_with("\r\n\r\n"), "{text}");
        for event in text.split("\r\n\r\n").filter(|e| !e.is_empty()) {
            let json = event.strip_prefix("data: ").unwrap();
            assert!(serde_json::from_str::<serde_json::Value>(json).is_ok(), "{event}");
        }
    }

    #[test]
    fn an_error_chunk_quoting_the_key_is_scrubbed_in_every_mode() {
        let key = "pool-key-quoted-0001";
        let chunk = format!(
            "data: {{\"error\": {{\"code\": 403, \"message\": \"Consumer 'api_key:{key}' has been suspended.\", \"status\": \"PERMISSION_DENIED\"}}}}\r\n\r\n"
        );
        let mut native = Transducer::gemini_passthrough(true);
        native.scrub(Secrets::new([key]));
        let mut out = native.push(chunk.as_bytes());
        out.extend(native.finish());
        assert!(!String::from_utf8_lossy(&out).contains(key));
        assert!(!native.error().unwrap().contains(key));

        let mut translated = Transducer::openai_chat(ChatStreamTranslator::new("gpt-4o", ctx(), false));
        translated.scrub(Secrets::new([key]));
        let mut out = translated.push(chunk.as_bytes());
        out.extend(translated.finish());
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("suspended") && !text.contains(key), "{text}");
    }

    #[test]
    fn a_cut_json_array_stream_still_ends_as_one_json_array() {
        for (sent, elements) in [
            ("", 0),
            ("[", 0),
            ("[{\"candidates\": []}", 1),
            ("[{\"candidates\": []}\n,\r\n{\"candidates\": [{\"content\"", 1),
        ] {
            let mut t = Transducer::gemini_passthrough(false);
            let mut out = t.push(sent.as_bytes());
            out.extend(t.on_transport_error("the answer was cut short"));
            out.extend(t.finish());
            let array: Vec<serde_json::Value> = serde_json::from_slice(&out)
                .unwrap_or_else(|e| panic!("{sent:?} -> {}: {e}", String::from_utf8_lossy(&out)));
            assert_eq!(array.len(), elements + 1, "{sent:?}");
            assert!(array.last().unwrap()["error"].is_object());
        }
    }

    #[test]
    fn an_event_that_never_ends_is_cut_off_with_an_error_in_every_mode() {
        let huge = vec![b'x'; MAX_EVENT_BYTES + 1];
        let sse = {
            let mut t = Transducer::gemini_passthrough(true);
            let mut out = t.push(b"data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"");
            out.extend(t.push(&huge));
            assert!(t.is_failed());
            assert!(t.push(b"more").is_empty() && t.finish().is_empty());
            String::from_utf8(out).unwrap()
        };
        assert!(sse.starts_with("data: {\"error\""), "{}", &sse[..60.min(sse.len())]);
        let mut t = Transducer::openai_chat(ChatStreamTranslator::new("gpt-4o", ctx(), false));
        let mut out = t.push(b"data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"");
        out.extend(t.push(&huge));
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("\"error\"") && text.contains("larger than"), "{text}");
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

    #[test]
    fn parse_chunk_tells_chunks_error_chunks_and_garbage_apart() {
        let err = r#"{"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}"#;
        assert_eq!(parse_chunk(err).unwrap_err().message, "overloaded");
        let err_and_garbage =
            r#"{"candidates": 7, "error": {"code": 429, "message": "slow", "status": "RESOURCE_EXHAUSTED"}}"#;
        assert_eq!(parse_chunk(err_and_garbage).unwrap_err().code, 429);
        let odd_error = r#"{"candidates": [], "error": "not a status"}"#;
        assert!(parse_chunk(odd_error).unwrap().candidates.is_empty());
        let garbage = parse_chunk("{\"candidates\": 7}").unwrap_err();
        assert_eq!((garbage.code, garbage.status.as_str()), (502, "UNAVAILABLE"));
        assert!(
            garbage.message.starts_with("unreadable upstream chunk"),
            "{}",
            garbage.message
        );
        let chunk = parse_chunk(r#"{"candidates": [{"content": {"parts": [{"text": "a"}]}}]}"#).unwrap();
        assert_eq!(chunk.candidates.len(), 1);
        assert!(chunk.error.is_none());
    }

    fn ctx() -> crate::protocol::RequestContext {
        crate::protocol::RequestContext {
            request_id: "r1".into(),
            created: 1,
        }
    }

    #[test]
    fn a_translated_stream_is_reframed_and_keeps_usage() {
        let mut t = Transducer::openai_chat(ChatStreamTranslator::new("gpt-4o", ctx(), true));
        let mut out = Vec::new();
        for chunk in SSE.as_bytes().chunks(5) {
            out.extend(t.push(chunk));
        }
        out.extend(t.finish());
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("\"content\":\"Hel\"") && text.contains("\"content\":\"lo\""),
            "{text}"
        );
        assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
        assert_eq!(t.usage().unwrap().total_token_count, 10);
        assert!(t.error().is_none());
    }

    #[test]
    fn an_upstream_error_ends_a_translated_stream_in_the_clients_protocol() {
        let mut t = Transducer::anthropic_messages(MessagesStreamTranslator::new("claude-x", &ctx()));
        let first = t.push(SSE.split("\r\n\r\n").next().unwrap().as_bytes());
        assert!(first.is_empty(), "an event is complete only at its blank line");
        let mut out = t.push(b"\r\n\r\ndata: {\"error\": {\"code\": 503, \"message\": \"overloaded\", \"status\": \"UNAVAILABLE\"}}\r\n\r\n");
        out.extend(t.push(SSE.as_bytes()));
        out.extend(t.finish());
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("event: error"), "{text}");
        assert!(
            text.trim_end().ends_with('}') && !text.contains("message_stop"),
            "nothing after the error: {text}"
        );
        assert_eq!(t.error().as_deref(), Some("overloaded"));
    }
}
