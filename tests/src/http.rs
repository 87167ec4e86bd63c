//! A small blocking HTTP/1.1 client for tests, with streaming (each chunk stamped with its
//! arrival time) and an SSE parser that accepts `\n`, `\r\n` and `\r` line endings.
//!
//! Requests run on a shared background tokio runtime and the caller waits on a channel, so the
//! client works from plain `#[test]`s and from inside async code alike. Failed assertions panic
//! with the request, the response status, headers and body, and (when the client belongs to a
//! [`crate::harness::Gateway`]) the gateway's log, like ripgrep's `tests/util.rs`.

use std::fmt::Write as _;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Method;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// Default time limit of one request (head and, for [`RequestBuilder::send`], body).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

type HyperClient = hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("gempool-test-client")
            .enable_all()
            .build()
            .expect("build the test client runtime")
    })
}

/// A shared, growing text log (a gateway's stdout + stderr).
#[derive(Clone, Default)]
pub struct LogHandle(Arc<Mutex<String>>);

impl LogHandle {
    /// The log so far.
    pub fn snapshot(&self) -> String {
        self.0.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Appends a line.
    pub fn push_line(&self, line: &str) {
        if let Ok(mut log) = self.0.lock() {
            log.push_str(line);
            log.push('\n');
        }
    }

    /// Whether the log contains `needle`.
    pub fn contains(&self, needle: &str) -> bool {
        self.0.lock().is_ok_and(|s| s.contains(needle))
    }
}

/// A client for one base URL (e.g. a gateway or the mock).
#[derive(Clone)]
pub struct Client {
    base: String,
    inner: HyperClient,
    log: Option<LogHandle>,
}

impl Client {
    /// A client for `base_url` (`http://127.0.0.1:PORT`; paths are appended to it).
    pub fn new(base_url: impl Into<String>) -> Client {
        let _guard = runtime().enter();
        let inner = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(5))
            .build_http();
        Client {
            base: base_url.into().trim_end_matches('/').to_string(),
            inner,
            log: None,
        }
    }

    /// Attaches a log that failure messages include.
    pub fn with_log(mut self, log: LogHandle) -> Client {
        self.log = Some(log);
        self
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Starts a request; `method` is e.g. `"GET"` or `"POST"`.
    pub fn request(&self, method: &str, path: &str) -> RequestBuilder {
        RequestBuilder {
            client: self.clone(),
            method: Method::from_bytes(method.as_bytes()).expect("valid HTTP method"),
            url: format!("{}{}", self.base, path),
            headers: Vec::new(),
            body: Bytes::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request("GET", path)
    }

    /// `POST path`.
    pub fn post(&self, path: &str) -> RequestBuilder {
        self.request("POST", path)
    }
}

/// A request being built.
pub struct RequestBuilder {
    client: Client,
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Bytes,
    timeout: Duration,
}

/// What a failure message shows about the request.
struct Context {
    request: String,
    log: Option<LogHandle>,
}

impl Context {
    fn report(&self, problem: &str, response: Option<String>) -> String {
        let mut out = String::new();
        crate::best_effort(write!(
            out,
            "\n\n{problem}\n\n=============== request ===============\n{}",
            self.request
        ));
        if let Some(response) = response {
            crate::best_effort(write!(out, "\n=============== response ==============\n{response}"));
        }
        if let Some(log) = &self.log {
            crate::best_effort(write!(
                out,
                "\n=============== gateway log ===========\n{}",
                log.snapshot()
            ));
        }
        out
    }
}

fn show_body(body: &[u8]) -> String {
    const LIMIT: usize = 8_000;
    let text = String::from_utf8_lossy(body);
    if text.len() > LIMIT {
        let cut = (0..=LIMIT).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        format!("{}... ({} bytes)", &text[..cut], body.len())
    } else {
        text.into_owned()
    }
}

impl RequestBuilder {
    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// A JSON body (sets `content-type: application/json`).
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        self.body = Bytes::from(serde_json::to_vec(body).expect("serialize the JSON body"));
        self.header("content-type", "application/json")
    }

    /// A raw body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Time limit (default [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn context(&self) -> Arc<Context> {
        let mut request = format!("{} {}\n", self.method, self.url);
        for (name, value) in &self.headers {
            crate::best_effort(writeln!(request, "{name}: {value}"));
        }
        if !self.body.is_empty() {
            crate::best_effort(write!(request, "\n{}\n", show_body(&self.body)));
        }
        Arc::new(Context {
            request,
            log: self.client.log.clone(),
        })
    }

    fn build(&self) -> hyper::Request<Full<Bytes>> {
        let mut builder = hyper::Request::builder().method(self.method.clone()).uri(&self.url);
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        builder.body(Full::new(self.body.clone())).expect("valid request")
    }

    /// Sends and reads the whole body; panics (with context) on a connection error or timeout.
    pub fn send(self) -> TestResponse {
        let context = self.context();
        match self.try_send() {
            Ok(response) => response,
            Err(e) => panic!("{}", context.report(&format!("request failed: {e}"), None)),
        }
    }

    /// Sends and reads the whole body; connection errors and timeouts are `Err`.
    pub fn try_send(self) -> Result<TestResponse, String> {
        let context = self.context();
        let request = self.build();
        let client = self.client.inner.clone();
        let timeout = self.timeout;
        let (tx, rx) = std_mpsc::channel();
        let started = Instant::now();
        runtime().spawn(async move {
            let result = tokio::time::timeout(timeout, async move {
                let response = client.request(request).await.map_err(|e| format!("{e:?}"))?;
                let (parts, body) = response.into_parts();
                let body = body.collect().await.map_err(|e| format!("{e:?}"))?.to_bytes();
                Ok::<_, String>((parts, body))
            })
            .await
            .unwrap_or_else(|_| Err(format!("timed out after {timeout:?}")));
            crate::best_effort(tx.send(result));
        });
        let (parts, body) = rx.recv().map_err(|_| "client task died".to_string())??;
        Ok(TestResponse {
            status: parts.status.as_u16(),
            headers: header_list(&parts.headers),
            body,
            elapsed: started.elapsed(),
            context,
        })
    }

    /// Sends and returns once the response head arrived; the body is read chunk by chunk.
    pub fn send_stream(self) -> StreamingResponse {
        let context = self.context();
        let request = self.build();
        let client = self.client.inner.clone();
        let timeout = self.timeout;
        let (head_tx, head_rx) = std_mpsc::channel();
        let (chunk_tx, chunk_rx) = std_mpsc::channel();
        let sent_at = Instant::now();
        runtime().spawn(async move {
            let response = match tokio::time::timeout(timeout, client.request(request)).await {
                Ok(Ok(response)) => response,
                Ok(Err(e)) => {
                    crate::best_effort(head_tx.send(Err(format!("{e:?}"))));
                    return;
                }
                Err(_) => {
                    crate::best_effort(head_tx.send(Err(format!("no response head after {timeout:?}"))));
                    return;
                }
            };
            let (parts, mut body) = response.into_parts();
            if head_tx.send(Ok((parts, Instant::now()))).is_err() {
                return;
            }
            loop {
                let item = match body.frame().await {
                    Some(Ok(frame)) => match frame.into_data() {
                        Ok(data) => StreamItem::Chunk(Chunk {
                            data,
                            at: Instant::now(),
                        }),
                        Err(_) => continue,
                    },
                    Some(Err(e)) => StreamItem::Error(format!("{e:?}")),
                    None => StreamItem::End,
                };
                let last = !matches!(item, StreamItem::Chunk(_));
                if chunk_tx.send(item).is_err() || last {
                    return;
                }
            }
        });
        let (parts, head_at) = match head_rx.recv() {
            Ok(Ok(head)) => head,
            Ok(Err(e)) => panic!("{}", context.report(&format!("request failed: {e}"), None)),
            Err(_) => panic!("{}", context.report("client task died", None)),
        };
        StreamingResponse {
            status: parts.status.as_u16(),
            headers: header_list(&parts.headers),
            sent_at,
            head_at,
            chunks: Vec::new(),
            finished: false,
            rx: chunk_rx,
            context,
        }
    }
}

fn header_list(headers: &hyper::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn show_response(status: u16, headers: &[(String, String)], body: &[u8]) -> String {
    let mut out = format!("status: {status}\n");
    for (name, value) in headers {
        crate::best_effort(writeln!(out, "{name}: {value}"));
    }
    crate::best_effort(write!(out, "\n{}\n", show_body(body)));
    out
}

/// A complete response.
pub struct TestResponse {
    /// HTTP status.
    pub status: u16,
    /// Headers (names lowercase).
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Bytes,
    /// Time from sending to the end of the body.
    pub elapsed: Duration,
    context: Arc<Context>,
}

impl TestResponse {
    /// First header value with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The body as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics with context if it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| self.fail(&format!("response body is not JSON: {e}")))
    }

    /// The body decoded as `T`; panics with context on failure.
    pub fn json_as<T: DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| self.fail(&format!("response body is not a {}: {e}", std::any::type_name::<T>())))
    }

    /// The JSON value at a JSON pointer (`/candidates/0/finishReason`); `Null` if absent.
    pub fn json_at(&self, pointer: &str) -> Value {
        self.json().pointer(pointer).cloned().unwrap_or(Value::Null)
    }

    /// Panics with context unless the JSON value at `pointer` equals `expected`.
    #[track_caller]
    pub fn assert_json(&self, pointer: &str, expected: impl Into<Value>) -> &Self {
        let expected = expected.into();
        let actual = self.json_at(pointer);
        if actual != expected {
            self.fail(&format!("expected {pointer} to be {expected}, got {actual}"));
        }
        self
    }

    /// The body parsed as SSE events (arrival times unknown: `at` is `None`).
    pub fn sse_events(&self) -> Vec<SseEvent> {
        parse_sse(&self.body)
    }

    /// Panics with context unless the status is `expected`.
    #[track_caller]
    pub fn assert_status(&self, expected: u16) -> &Self {
        if self.status != expected {
            self.fail(&format!("expected status {expected}, got {}", self.status));
        }
        self
    }

    /// Panics with context unless the status is 2xx.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        if !(200..300).contains(&self.status) {
            self.fail(&format!("expected a 2xx status, got {}", self.status));
        }
        self
    }

    /// Panics with `problem`, the request, this response and the gateway log.
    #[track_caller]
    pub fn fail(&self, problem: &str) -> ! {
        panic!("{}", self.describe(problem))
    }

    /// The failure report `fail` would print.
    pub fn describe(&self, problem: &str) -> String {
        self.context
            .report(problem, Some(show_response(self.status, &self.headers, &self.body)))
    }
}

/// A body chunk and when it arrived.
#[derive(Debug, Clone)]
pub struct Chunk {
    /// The bytes.
    pub data: Bytes,
    /// Arrival time.
    pub at: Instant,
}

enum StreamItem {
    Chunk(Chunk),
    Error(String),
    End,
}

/// A response whose body is still arriving.
pub struct StreamingResponse {
    /// HTTP status.
    pub status: u16,
    /// Headers (names lowercase).
    pub headers: Vec<(String, String)>,
    /// When the request was sent.
    pub sent_at: Instant,
    /// When the response head arrived.
    pub head_at: Instant,
    chunks: Vec<Chunk>,
    finished: bool,
    rx: std_mpsc::Receiver<StreamItem>,
    context: Arc<Context>,
}

impl StreamingResponse {
    /// First header value with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The next body chunk, or `None` at the end of the body. Panics with context on a
    /// transport error or when nothing arrives within `timeout`.
    pub fn next_chunk(&mut self, timeout: Duration) -> Option<Chunk> {
        if self.finished {
            return None;
        }
        match self.rx.recv_timeout(timeout) {
            Ok(StreamItem::Chunk(chunk)) => {
                self.chunks.push(chunk.clone());
                Some(chunk)
            }
            Ok(StreamItem::End) | Err(std_mpsc::RecvTimeoutError::Disconnected) => {
                self.finished = true;
                None
            }
            Ok(StreamItem::Error(e)) => {
                self.finished = true;
                self.fail(&format!("the body failed after {} chunks: {e}", self.chunks.len()))
            }
            Err(std_mpsc::RecvTimeoutError::Timeout) => self.fail(&format!("no chunk within {timeout:?}")),
        }
    }

    /// Like [`StreamingResponse::next_chunk`] but a transport error ends the body with
    /// `Err` instead of panicking (for tests of truncated streams).
    pub fn try_next_chunk(&mut self, timeout: Duration) -> Result<Option<Chunk>, String> {
        if self.finished {
            return Ok(None);
        }
        match self.rx.recv_timeout(timeout) {
            Ok(StreamItem::Chunk(chunk)) => {
                self.chunks.push(chunk.clone());
                Ok(Some(chunk))
            }
            Ok(StreamItem::End) | Err(std_mpsc::RecvTimeoutError::Disconnected) => {
                self.finished = true;
                Ok(None)
            }
            Ok(StreamItem::Error(e)) => {
                self.finished = true;
                Err(e)
            }
            Err(std_mpsc::RecvTimeoutError::Timeout) => Err(format!("no chunk within {timeout:?}")),
        }
    }

    /// Reads to the end (each chunk within `DEFAULT_TIMEOUT`); returns every chunk.
    pub fn collect_chunks(&mut self) -> Vec<Chunk> {
        while self.next_chunk(DEFAULT_TIMEOUT).is_some() {}
        self.chunks.clone()
    }

    /// Reads to the end and parses SSE events, each stamped with the arrival time of the chunk
    /// that completed it.
    pub fn events(&mut self) -> Vec<SseEvent> {
        let chunks = self.collect_chunks();
        let mut parser = SseParser::default();
        let mut events = Vec::new();
        for chunk in &chunks {
            events.extend(parser.push(&chunk.data, Some(chunk.at)));
        }
        events.extend(parser.finish());
        events
    }

    /// Reads to the end and returns a [`TestResponse`] (for status/body assertions).
    pub fn into_response(mut self) -> TestResponse {
        let chunks = self.collect_chunks();
        let mut body = Vec::new();
        for chunk in &chunks {
            body.extend_from_slice(&chunk.data);
        }
        TestResponse {
            status: self.status,
            headers: self.headers.clone(),
            body: Bytes::from(body),
            elapsed: chunks.last().map_or(self.head_at, |c| c.at) - self.sent_at,
            context: self.context.clone(),
        }
    }

    /// Panics unless the status is `expected` (reads the body for the report).
    #[track_caller]
    pub fn assert_status(&mut self, expected: u16) -> &mut Self {
        if self.status != expected {
            self.collect_chunks();
            self.fail(&format!("expected status {expected}, got {}", self.status));
        }
        self
    }

    /// Panics with `problem`, the request, what arrived so far and the gateway log.
    #[track_caller]
    pub fn fail(&self, problem: &str) -> ! {
        let mut body = Vec::new();
        for chunk in &self.chunks {
            body.extend_from_slice(&chunk.data);
        }
        let mut response = show_response(self.status, &self.headers, &body);
        crate::best_effort(writeln!(response, "({} chunks so far)", self.chunks.len()));
        panic!("{}", self.context.report(problem, Some(response)))
    }
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    /// `event:` name, if any.
    pub event: Option<String>,
    /// `data:` lines joined with `\n`.
    pub data: String,
    /// `id:`, if any.
    pub id: Option<String>,
    /// Arrival of the chunk that completed the event (streams only).
    pub at: Option<Instant>,
}

impl SseEvent {
    /// `data` as JSON (`Null` if it is not JSON, e.g. `[DONE]`).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or(Value::Null)
    }
}

/// Parses a whole SSE body.
pub fn parse_sse(body: &[u8]) -> Vec<SseEvent> {
    let mut parser = SseParser::default();
    let mut events = parser.push(body, None);
    events.extend(parser.finish());
    events
}

/// Incremental SSE parser (WHATWG rules: lines end in CRLF, LF or CR; a blank line dispatches;
/// `:` lines are comments; an event without data lines is not dispatched).
#[derive(Default)]
pub struct SseParser {
    buffer: Vec<u8>,
    event: Option<String>,
    data: Option<String>,
    id: Option<String>,
}

impl SseParser {
    /// Feeds bytes; returns the events they complete.
    pub fn push(&mut self, bytes: &[u8], at: Option<Instant>) -> Vec<SseEvent> {
        self.buffer.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(end) = self.buffer.iter().position(|b| *b == b'\n' || *b == b'\r') {
            let terminator_len = match self.buffer[end] {
                b'\r' => match self.buffer.get(end + 1) {
                    Some(b'\n') => 2,
                    Some(_) => 1,
                    // A CR at the end of the buffer: wait to see whether LF follows.
                    None => break,
                },
                _ => 1,
            };
            let line = String::from_utf8_lossy(&self.buffer[..end]).into_owned();
            self.buffer.drain(..end + terminator_len);
            if let Some(event) = self.line(&line, at) {
                events.push(event);
            }
        }
        events
    }

    /// Ends the stream: a pending CR line is processed; an unterminated event is dropped.
    pub fn finish(&mut self) -> Vec<SseEvent> {
        let mut events = Vec::new();
        if self.buffer.ends_with(b"\r") {
            let line = String::from_utf8_lossy(&self.buffer[..self.buffer.len() - 1]).into_owned();
            self.buffer.clear();
            events.extend(self.line(&line, None));
        }
        events
    }

    fn line(&mut self, line: &str, at: Option<Instant>) -> Option<SseEvent> {
        if line.is_empty() {
            let mut data = self.data.take()?;
            data.pop(); // the '\n' appended after the last data line
            return Some(SseEvent {
                event: self.event.take(),
                data,
                id: self.id.clone(),
                at,
            });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "data" => {
                let data = self.data.get_or_insert_with(String::new);
                data.push_str(value);
                data.push('\n');
            }
            "event" => self.event = Some(value.to_string()),
            "id" => self.id = Some(value.to_string()),
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_parser_accepts_crlf_lf_and_cr() {
        let body = b"data: {\"a\":1}\r\n\r\ndata: two\n\nevent: x\rdata: three\r\r: comment\n\n";
        let events = parse_sse(body);
        let data: Vec<_> = events.iter().map(|e| e.data.as_str()).collect();
        assert_eq!(data, ["{\"a\":1}", "two", "three"]);
        assert_eq!(events[2].event.as_deref(), Some("x"));
        assert_eq!(events[0].json()["a"], 1);
    }

    #[test]
    fn sse_parser_handles_split_terminators() {
        let mut parser = SseParser::default();
        assert!(parser.push(b"data: a\r", None).is_empty());
        assert!(parser.push(b"\n\r", None).is_empty());
        let events = parser.push(b"\ndata: b\n\n", None);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].data, "a");
        assert_eq!(events[1].data, "b");
    }

    #[test]
    fn multiple_data_lines_join_with_newline() {
        let events = parse_sse(b"data: a\ndata: b\ndata:\n\n");
        assert_eq!(events[0].data, "a\nb\n");
    }

    #[test]
    fn unterminated_event_is_dropped() {
        assert!(parse_sse(b"data: a\n").is_empty());
    }
}
