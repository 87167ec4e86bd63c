//! Event-stream framing only: splitting upstream bytes into events and writing client frames.
//!
//! * [`SseReader`] parses `text/event-stream` ([WHATWG §9.2]) incrementally: bytes may be
//!   split anywhere (inside a UTF-8 sequence, between `\r` and `\n`), lines end in `\n`,
//!   `\r\n` or `\r` (Gemini is reported to send `\r\n\r\n`, protocols.md §1.9), multi-line
//!   `data:` fields are joined with `\n`, comments (`:`) and `id:`/`retry:` are ignored.
//! * [`JsonArrayReader`] handles `streamGenerateContent` without `?alt=sse`: one JSON array
//!   streamed element by element (`[{…}\n,\r\n{…}]`), yielding each element's text once its
//!   closing brace arrives.
//! * [`data_frame`], [`event_frame`] and [`comment_frame`] write frames for clients.
//!
//! Translation of event payloads lives in the protocol modules, never here.
//!
//! [WHATWG §9.2]: https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation

/// One dispatched event: the `event:` name (if any) and the `data:` lines joined by `\n`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, if the event had one.
    pub event: Option<String>,
    /// The `data:` lines, joined by `
    /// `.
    pub data: String,
}

/// Incremental `text/event-stream` parser. Feed it with [`SseReader::push`] as bytes arrive
/// and call [`SseReader::finish`] at end of stream.
#[derive(Debug, Default)]
pub struct SseReader {
    /// Bytes of the current, unterminated line. Kept as bytes so that a UTF-8 sequence split
    /// across pushes is decoded only once complete (line terminators are ASCII).
    line: Vec<u8>,
    /// The previous byte was `\r`: a following `\n` belongs to the same line terminator.
    after_cr: bool,
    /// No line has ended yet (a leading UTF-8 BOM is stripped from the first line).
    seen_line: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
}

impl SseReader {
    /// A reader with nothing buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Consumes `bytes` and returns every event completed by them, in order.
    pub fn push(&mut self, mut bytes: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            if self.after_cr {
                self.after_cr = false;
                if bytes[0] == b'\n' {
                    bytes = &bytes[1..];
                    continue;
                }
            }
            match bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(i) => {
                    self.line.extend_from_slice(&bytes[..i]);
                    self.after_cr = bytes[i] == b'\r';
                    bytes = &bytes[i + 1..];
                    self.end_line(&mut out);
                }
                None => {
                    self.line.extend_from_slice(bytes);
                    break;
                }
            }
        }
        out
    }

    /// Bytes held for the event not yet complete (its line and its data so far), so a caller
    /// can refuse an upstream event that never ends.
    pub fn buffered_len(&self) -> usize {
        self.line.len() + self.data.len()
    }

    /// Ends the stream: a final line without terminator is processed and an event still
    /// pending (no trailing blank line) is dispatched.
    pub fn finish(&mut self) -> Option<SseEvent> {
        let mut out = Vec::new();
        if !self.line.is_empty() {
            self.end_line(&mut out);
        }
        self.after_cr = false;
        self.dispatch(&mut out);
        out.pop()
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) {
        let mut bytes = std::mem::take(&mut self.line);
        if !self.seen_line {
            self.seen_line = true;
            if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
                bytes.drain(..3);
            }
        }
        if bytes.is_empty() {
            self.dispatch(out);
            return;
        }
        let line = String::from_utf8_lossy(&bytes);
        if line.starts_with(':') {
            return; // comment (keep-alive)
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_ref(), ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = (!value.is_empty()).then(|| value.to_string()),
            _ => {} // id, retry and unknown fields carry nothing we use
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = self.event.take();
        if self.has_data {
            self.has_data = false;
            out.push(SseEvent {
                event,
                data: std::mem::take(&mut self.data),
            });
        }
    }
}

/// Incremental reader for a streamed JSON array (`[{…},{…}]`), Gemini's streaming form
/// without `?alt=sse`. Each element's text is returned as soon as it is complete; string
/// contents (including escaped quotes and braces) are skipped correctly. A bare top-level
/// object (an error body sent without the array) is returned as one element too.
#[derive(Debug, Default)]
pub struct JsonArrayReader {
    state: ArrayState,
    /// Nesting depth inside the current element (0 = between elements).
    depth: u32,
    in_string: bool,
    escaped: bool,
    element: Vec<u8>,
    /// Bytes that fit no element (garbage or scalars), reported by `finish`.
    stray: Vec<u8>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ArrayState {
    /// Before the opening `[`.
    #[default]
    Start,
    /// Inside the array, between elements.
    InArray,
    /// Reading a bare top-level object (no array).
    Bare,
    /// After the closing `]` or the bare object.
    Done,
}

impl JsonArrayReader {
    /// A reader with nothing buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Consumes `bytes` and returns the JSON text of every element completed by them.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        for &b in bytes {
            if self.depth > 0 {
                self.element.push(b);
                if self.in_string {
                    if self.escaped {
                        self.escaped = false;
                    } else if b == b'\\' {
                        self.escaped = true;
                    } else if b == b'"' {
                        self.in_string = false;
                    }
                    continue;
                }
                match b {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => self.depth += 1,
                    b'}' | b']' => {
                        self.depth -= 1;
                        if self.depth == 0 {
                            let text = std::mem::take(&mut self.element);
                            out.push(String::from_utf8_lossy(&text).into_owned());
                            if self.state == ArrayState::Bare {
                                self.state = ArrayState::Done;
                            }
                        }
                    }
                    _ => {}
                }
                continue;
            }
            if b.is_ascii_whitespace() {
                if !self.stray.is_empty() {
                    self.stray.push(b);
                }
                continue;
            }
            match (self.state, b) {
                (ArrayState::Start, b'[') => self.state = ArrayState::InArray,
                (ArrayState::Start, b'{') => {
                    self.state = ArrayState::Bare;
                    self.open_element(b);
                }
                (ArrayState::InArray, b',') => {}
                (ArrayState::InArray, b'{' | b'[') => self.open_element(b),
                (ArrayState::InArray, b']') => self.state = ArrayState::Done,
                _ => self.stray.push(b),
            }
        }
        out
    }

    /// Bytes of the element not yet complete (from its opening brace): what a pass-through
    /// must hold back to forward whole elements only.
    pub fn pending_len(&self) -> usize {
        self.element.len()
    }

    /// True once the closing `]` (or the end of a bare object) has been read.
    pub fn is_closed(&self) -> bool {
        self.state == ArrayState::Done
    }

    /// Ends the stream. Returns the incomplete element text (stream cut mid-element) or any
    /// stray non-JSON bytes, if there were some; `None` when everything read was consumed.
    pub fn finish(&mut self) -> Option<String> {
        let mut rest = std::mem::take(&mut self.stray);
        rest.extend(std::mem::take(&mut self.element));
        self.depth = 0;
        let text = String::from_utf8_lossy(&rest).trim().to_string();
        (!text.is_empty()).then_some(text)
    }

    fn open_element(&mut self, b: u8) {
        self.depth = 1;
        self.in_string = false;
        self.escaped = false;
        self.element.push(b);
    }
}

/// `data: <data>\n\n`. A multi-line payload becomes one `data:` line per line.
pub fn data_frame(data: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 8);
    push_data_lines(&mut out, data);
    out.push(b'\n');
    out
}

/// `event: <name>\ndata: <data>\n\n` (Anthropic's framing).
pub fn event_frame(name: &str, data: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + data.len() + 16);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.push(b'\n');
    push_data_lines(&mut out, data);
    out.push(b'\n');
    out
}

/// `: <text>\n\n`, a comment clients ignore; useful as a keep-alive.
pub fn comment_frame(text: &str) -> Vec<u8> {
    format!(": {text}\n\n").into_bytes()
}

fn push_data_lines(out: &mut Vec<u8>, data: &str) {
    let normalized = data.replace("\r\n", "\n").replace('\r', "\n");
    for line in normalized.split('\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: event.map(str::to_string),
            data: data.to_string(),
        }
    }

    fn read_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut r = SseReader::new();
        let mut out: Vec<SseEvent> = chunks.iter().flat_map(|c| r.push(c)).collect();
        out.extend(r.finish());
        out
    }

    /// A stream exercising every separator, a multi-byte character, comments, event names
    /// and multi-line data.
    const SAMPLE: &str = "data: {\"t\":\"h\u{e9}llo \u{1F600}\"}\r\n\r\n\
        : keep-alive\n\n\
        event: ping\ndata: {\"type\":\"ping\"}\n\n\
        data: line1\rdata: line2\r\r\
        id: 7\nretry: 10\ndata:no-space\n\n\
        data: last";

    fn sample_events() -> Vec<SseEvent> {
        vec![
            ev(None, "{\"t\":\"h\u{e9}llo \u{1F600}\"}"),
            ev(Some("ping"), "{\"type\":\"ping\"}"),
            ev(None, "line1\nline2"),
            ev(None, "no-space"),
            ev(None, "last"),
        ]
    }

    #[test]
    fn whole_sample_parses() {
        assert_eq!(read_all(&[SAMPLE.as_bytes()]), sample_events());
    }

    #[test]
    fn sample_split_at_every_byte_boundary_parses_identically() {
        let bytes = SAMPLE.as_bytes();
        for i in 0..=bytes.len() {
            assert_eq!(read_all(&[&bytes[..i], &bytes[i..]]), sample_events(), "split at {i}");
        }
    }

    #[test]
    fn sample_fed_one_byte_at_a_time_parses_identically() {
        let chunks: Vec<&[u8]> = SAMPLE.as_bytes().chunks(1).collect();
        assert_eq!(read_all(&chunks), sample_events());
    }

    #[test]
    fn crlf_split_between_cr_and_lf_is_one_terminator() {
        let mut r = SseReader::new();
        assert!(r.push(b"data: a\r").is_empty());
        assert!(r.push(b"\n").is_empty());
        assert_eq!(r.push(b"\r"), vec![ev(None, "a")]);
        assert_eq!(r.push(b"\ndata: b\r\n\r\n"), vec![ev(None, "b")]);
        assert_eq!(r.finish(), None);
    }

    #[test]
    fn gemini_crlf_stream_yields_each_chunk() {
        let s = b"data: {\"a\":1}\r\n\r\ndata: {\"a\":2}\r\n\r\n";
        assert_eq!(read_all(&[s]), vec![ev(None, "{\"a\":1}"), ev(None, "{\"a\":2}")]);
    }

    #[test]
    fn events_without_data_are_not_dispatched_and_reset_the_name() {
        assert_eq!(read_all(&[b"event: x\n\ndata: y\n\n"]), vec![ev(None, "y")]);
    }

    #[test]
    fn empty_data_line_dispatches_an_empty_event() {
        assert_eq!(read_all(&[b"data:\n\n"]), vec![ev(None, "")]);
    }

    #[test]
    fn leading_bom_is_ignored() {
        assert_eq!(read_all(&[b"\xEF\xBB", b"\xBFdata: x\n\n"]), vec![ev(None, "x")]);
    }

    #[test]
    fn finish_without_pending_event_returns_none() {
        let mut r = SseReader::new();
        assert_eq!(r.push(b"data: x\n\n"), vec![ev(None, "x")]);
        assert_eq!(r.finish(), None);
    }

    const ARRAY: &str = "[{\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"a}]\\\"{\"}]}}]}\n\
        ,\r\n{\"x\": \"\u{e9}\\\\\", \"y\": [1, {\"z\": null}]}\n]";

    fn array_elements() -> Vec<String> {
        vec![
            "{\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"a}]\\\"{\"}]}}]}".to_string(),
            "{\"x\": \"\u{e9}\\\\\", \"y\": [1, {\"z\": null}]}".to_string(),
        ]
    }

    #[test]
    fn json_array_yields_elements_at_every_split() {
        let bytes = ARRAY.as_bytes();
        for i in 0..=bytes.len() {
            let mut r = JsonArrayReader::new();
            let mut out = r.push(&bytes[..i]);
            out.extend(r.push(&bytes[i..]));
            assert_eq!(out, array_elements(), "split at {i}");
            assert!(r.is_closed());
            assert_eq!(r.finish(), None);
        }
    }

    #[test]
    fn json_array_elements_parse_as_json() {
        let mut r = JsonArrayReader::new();
        for e in r.push(ARRAY.as_bytes()) {
            serde_json::from_str::<serde_json::Value>(&e).unwrap();
        }
    }

    #[test]
    fn json_array_element_is_emitted_before_the_array_closes() {
        let mut r = JsonArrayReader::new();
        assert_eq!(r.push(b"[{\"a\":1}"), vec!["{\"a\":1}"]);
        assert!(!r.is_closed());
        assert_eq!(r.push(b",{\"b\""), Vec::<String>::new());
        assert_eq!(r.finish().as_deref(), Some("{\"b\""));
    }

    #[test]
    fn bare_error_object_is_one_element() {
        let mut r = JsonArrayReader::new();
        let body = "{\"error\": {\"code\": 429}}";
        assert_eq!(r.push(body.as_bytes()), vec![body]);
        assert!(r.is_closed());
    }

    #[test]
    fn stray_text_is_reported_by_finish() {
        let mut r = JsonArrayReader::new();
        assert!(r.push(b"Service Unavailable").is_empty());
        assert_eq!(r.finish().as_deref(), Some("Service Unavailable"));
    }

    #[test]
    fn writers_frame_data_and_events() {
        assert_eq!(data_frame("{\"a\":1}"), b"data: {\"a\":1}\n\n");
        assert_eq!(data_frame("a\nb"), b"data: a\ndata: b\n\n");
        assert_eq!(
            event_frame("ping", "{\"type\":\"ping\"}"),
            b"event: ping\ndata: {\"type\":\"ping\"}\n\n"
        );
        assert_eq!(comment_frame("ok"), b": ok\n\n");
    }

    #[test]
    fn written_frames_read_back() {
        let mut bytes = data_frame("x\r\ny");
        bytes.extend(event_frame("e", "z"));
        assert_eq!(read_all(&[&bytes]), vec![ev(None, "x\ny"), ev(Some("e"), "z")]);
    }
}
