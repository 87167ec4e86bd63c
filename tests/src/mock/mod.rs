//! A strict mock of the Gemini API (`generativelanguage.googleapis.com`, `v1beta` and `v1`),
//! scriptable per API key, for gateway tests and the benchmark.
//!
//! [`MockGemini`] is a hyper server on `127.0.0.1:0` with its own tokio runtime on a background
//! thread, so sync and async tests can use it; it stops when dropped. It follows
//! `shared/reference/protocols.md` §1 and §6: same routes, auth, error shapes, proto3 JSON rules
//! (unknown fields rejected with snake_case paths, camelCase and snake_case input accepted),
//! streaming framing (`data: {json}\r\n\r\n`, no `[DONE]`), usage accounting.
//!
//! # Routes (under `/v1beta/` and `/v1/`)
//! `GET models` (`pageSize`, default 50, max 1000; `pageToken`), `GET models/{m}`,
//! `POST models/{m}:generateContent | :streamGenerateContent[?alt=sse] | :countTokens |
//! :embedContent | :batchEmbedContents | :predict` (Imagen; image output of `gemini-*-image`
//! models: [`images`]). Anything else: 404 (an HTML page, as Google's front end
//! answers). Models: [`models::MODELS`].
//!
//! Files, cached contents, batches and video operations, each held by the key that created it
//! (another key gets Google's 403): see `resources.rs`.
//!
//! # Auth
//! `x-goog-api-key` header, else `?key=`. No key (an `Authorization: Bearer` alone counts as no
//! key) -> 403 `PERMISSION_DENIED`; a key that was not added -> 400 `API_KEY_INVALID`
//! (unless [`MockGemini::set_accept_any_key`]).
//!
//! # Deterministic replies (generateContent and streams)
//! * Tokens are whitespace-separated words. `promptTokenCount` = words of every text part in
//!   `contents` and `systemInstruction` + 1 per non-text part. `candidatesTokenCount` = words of
//!   the reply text + 1 per function call. `thoughtsTokenCount` = [`reply::THOUGHT_TOKENS`] (8)
//!   when `thinkingConfig` has `includeThoughts: true` (and no budget 0), a budget > 0 or -1,
//!   or a level; else 0.
//!   `totalTokenCount` = prompt + candidates + thoughts.
//! * Text: `"echo: <T>"` where T is the text parts of the last non-model turn that has text,
//!   joined with a space. If the last turn holds functionResponse parts:
//!   `"function results: name1={json}; name2={json}"` (compact JSON of each `response`).
//! * Function calls: with declared tools (and mode not `NONE`), `call:<name>` in T makes one
//!   `functionCall` to that declared function, `call2:<a>,<b>` two parallel calls; mode `ANY`
//!   without a directive calls the first allowed function. Never right after function results.
//!   Args are built from the declaration's schema by [`reply::sample_value`]: strings `"Paris"`,
//!   integers 1, numbers 1.5, booleans true, enums their first value, every property present
//!   (so `{"city": "Paris"}`). Calls carry no `id`.
//! * `responseMimeType: application/json`: the text is `sample_value(responseSchema or
//!   responseJsonSchema)` as compact JSON, or `{"echo": T}` without a schema. `text/x.enum`: the
//!   schema's first enum value.
//! * `stopSequences`: the text is cut before the first occurrence. `maxOutputTokens`: the text
//!   keeps that many words (re-joined with single spaces) and `finishReason` is `MAX_TOKENS`;
//!   otherwise `STOP`.
//! * `includeThoughts: true` (unless `thinkingBudget: 0`): a part
//!   `{"text": "thinking...", "thought": true}` comes first.
//! * `candidateCount: n` (non-streaming): n identical candidates with `index` 0..n.
//! * Streams: one chunk for the thought, one per word of the text (trailing space kept, at most
//!   [`reply::MAX_STREAM_TEXT_CHUNKS`]), one per function call; each chunk is a full response
//!   with only its delta part, `modelVersion` and `responseId`; intermediate chunks carry usage
//!   `{promptTokenCount, totalTokenCount = prompt}`, the last one full usage and `finishReason`.
//!   Without `alt=sse` the chunks form one JSON array `[{..}\n,\r\n{..}]`.
//! * Gemini 3 mode (models `gemini-3*`, on by default): the first functionCall part of a reply,
//!   or else its last text part, carries `thoughtSignature` = base64(`mock-sig-<n>`). Requests
//!   must carry a signature on the first functionCall part of every model turn after the last
//!   user turn with text (400 "Function call is missing a thought_signature ..."), and every
//!   signature must be one the mock issued or a sentinel (`skip_thought_signature_validator`,
//!   `context_engineering_is_the_way_to_go`, raw or base64) else 400 "Invalid thought signature".
//! * countTokens: `{"totalTokens": N, "promptTokensDetails": [..]}` with the prompt rule above.
//!   embedContent: [`reply::embedding`] of the joined texts, width `outputDimensionality` or 3072.
//!
//! # Scripting
//! Each request with a known key takes the next [`Behavior`] from that key's one-shot script
//! ([`MockGemini::push_script`]), else the key's persistent behavior
//! ([`MockGemini::set_behavior`], default [`Behavior::Ok`]). Only POST model methods consume
//! behaviors; `GET models*` only honours a persistent `InvalidKey` / `PermissionDenied`.

mod checks;
mod errors;
pub mod images;
pub mod models;
pub mod reply;
mod resources;
mod server;
mod validate;
pub mod wire;

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use serde_json::Value;

pub use checks::{is_sentinel_signature, MAX_STOP_SEQUENCES, SIGNATURE_SENTINELS};
pub use errors::{
    MockError, CALL_TURN_ORDER_MESSAGE, COUNT_MISMATCH_MESSAGE, INTERNAL_MESSAGE, INVALID_KEY_MESSAGE,
    INVALID_SIGNATURE_MESSAGE, NO_KEY_MESSAGE, OVERLOADED_MESSAGE, RESPONSE_TURN_ORDER_MESSAGE, ROLE_MESSAGE,
};

/// How the mock answers one request of a key.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Behavior {
    /// Normal, validated, deterministic reply.
    #[default]
    Ok,
    /// 429 `RESOURCE_EXHAUSTED`, quotaId `GenerateRequestsPerMinutePerProjectPerModel-FreeTier`,
    /// Help link, `RetryInfo.retryDelay: "<n>s"`.
    RateLimitPerMinute {
        /// Seconds in `retryDelay`.
        retry_delay_secs: u64,
    },
    /// 429 with quotaId `GenerateRequestsPerDayPerProjectPerModel-FreeTier`, `retryDelay: "3s"`.
    RateLimitPerDay,
    /// 429 `RESOURCE_EXHAUSTED` without details.
    RateLimitNoDetails,
    /// 500 `INTERNAL`.
    InternalError,
    /// 503 `UNAVAILABLE` "The model is overloaded. Please try again later."
    Unavailable,
    /// 403 `PERMISSION_DENIED`, ErrorInfo reason `CONSUMER_SUSPENDED`.
    PermissionDenied,
    /// 400 `API_KEY_INVALID`, even for a registered key.
    InvalidKey,
    /// Streams: 200, one or two chunks, then `data: {"error": {"code": 503, ...}}` and close.
    /// Non-streaming methods: a 503 like [`Behavior::Unavailable`].
    MidStreamError,
    /// Like [`Behavior::MidStreamError`], but the error chunk's message names the key presented
    /// ("... for consumer 'api_key:<KEY>'"), as an upstream that echoes keys would.
    MidStreamErrorEchoKey,
    /// Streams: sleep this long between chunks (the first chunk is sent at once).
    /// Non-streaming: sleep as long as the whole stream would take, then answer.
    SlowStream {
        /// Delay between chunks.
        chunk_delay_ms: u64,
    },
    /// 200 with `promptFeedback.blockReason: SAFETY` and no candidates.
    PromptBlocked,
    /// 200, one candidate `{"content": {"role": "model"}, "finishReason": "MAX_TOKENS"}`.
    MaxTokensNoParts,
    /// 200, one candidate with `finishReason: SAFETY`, blocked ratings and no content.
    SafetyNoParts,
    /// Never answer (the request stays open until the client goes away or the mock is dropped).
    Hang,
    /// Sleep, then answer normally.
    Delay {
        /// Milliseconds.
        ms: u64,
    },
    /// Answer with this status and JSON body (wrapped in `[..]` for non-SSE streams).
    Custom {
        /// HTTP status.
        status: u16,
        /// Body.
        body: Value,
    },
    /// 429 `RESOURCE_EXHAUSTED` for a per-minute *token* quota (quotaId
    /// `GenerateContentInputTokensPerModelPerMinute-FreeTier`), `RetryInfo.retryDelay: "<n>s"`.
    RateLimitTokens {
        /// Seconds in `retryDelay`.
        retry_delay_secs: u64,
    },
    /// 403 `PERMISSION_DENIED` `CONSUMER_SUSPENDED` whose message (and a `LocalizedMessage`
    /// detail) echo the key presented, as Google's does: "Consumer 'api_key:<KEY>' has been
    /// suspended."
    SuspendedEchoKey,
    /// Read the request, then close the connection without any response head.
    ResetBeforeHeaders,
    /// 200 head, then the first part of the body (streams: the first chunk; otherwise half of
    /// the JSON, with the full `content-length` declared), then nothing until the client goes
    /// away.
    HangMidStream,
    /// 200 with a JSON content type and the full `content-length` declared, half of the bytes,
    /// then the connection is cut. Streams: like [`Behavior::TruncatedSse`].
    TruncatedJson,
    /// Streams: the first chunk whole, then half of the next chunk's bytes (a partial
    /// `data: {...` line, or a partial array element), then the connection is cut.
    /// Non-streaming: like [`Behavior::TruncatedJson`].
    TruncatedSse,
    /// 200 with the expected content type and a body that is neither JSON nor SSE events.
    Garbage,
    /// 200 with a body of this many bytes, generated on the fly (never held in memory): one
    /// JSON response (streams: one SSE event / array element) whose text part is `x` repeated.
    Huge {
        /// Total body size in bytes.
        bytes: u64,
    },
}

/// Where the mock listens and what it starts with.
#[derive(Debug, Clone)]
pub struct MockOptions {
    /// Listen address (default `127.0.0.1:0`).
    pub listen: SocketAddr,
    /// Keys registered at start.
    pub keys: Vec<String>,
    /// Accept every key, registered or not.
    pub accept_any_key: bool,
    /// Tokio worker threads (default 2).
    pub worker_threads: usize,
    /// Requests kept by [`MockGemini::requests`] (default 10 000; older ones are dropped).
    pub record_limit: usize,
}

impl Default for MockOptions {
    fn default() -> Self {
        MockOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            keys: Vec::new(),
            accept_any_key: false,
            worker_threads: 2,
            record_limit: 10_000,
        }
    }
}

/// One request the mock received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// Arrival order, from 0 (never reused, even after [`MockGemini::reset_log`]).
    pub seq: u64,
    /// Arrival time.
    pub at: Instant,
    /// `GET` / `POST` / ...
    pub method: String,
    /// e.g. `/v1beta/models/gemini-2.5-flash:streamGenerateContent`.
    pub path: String,
    /// Raw query string without `?` (empty when none).
    pub query: String,
    /// The API key presented (header first, then `?key=`).
    pub key: Option<String>,
    /// True when the key came from `?key=` rather than `x-goog-api-key`.
    pub key_in_query: bool,
    /// Every header, names lowercase.
    pub headers: Vec<(String, String)>,
    /// Raw body.
    pub body: Bytes,
    /// Response status, once decided (None while hanging).
    pub status: Option<u16>,
}

impl RecordedRequest {
    /// The body as JSON (`Null` when empty or not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// First header value with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A decoded query parameter.
    pub fn query_param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// The model id of a `models/{m}[:action]` path.
    pub fn model(&self) -> Option<&str> {
        let rest = self.path.split_once("/models/")?.1;
        Some(rest.split(':').next().unwrap_or(rest))
    }

    /// The `:action` of the path (`generateContent`, `streamGenerateContent`, ...).
    pub fn action(&self) -> Option<&str> {
        self.path.rsplit_once(':').map(|(_, a)| a)
    }
}

#[derive(Default)]
struct KeyState {
    behavior: Behavior,
    script: VecDeque<Behavior>,
}

struct Keys {
    accept_any: bool,
    table: HashMap<String, KeyState>,
}

struct Log {
    limit: usize,
    next_seq: u64,
    received: u64,
    entries: VecDeque<RecordedRequest>,
    counts: HashMap<String, u64>,
}

/// Shared by the handle and the server tasks.
pub(crate) struct State {
    keys: Mutex<Keys>,
    log: Mutex<Log>,
    issued: Mutex<HashSet<String>>,
    counter: AtomicU64,
    gemini3_signatures: AtomicBool,
    /// Requests whose handler is running or whose response body has not been dropped yet.
    active: AtomicU64,
    /// Files, caches, batches and operations, each of the key that created it.
    resources: Mutex<resources::Resources>,
}

/// Counts one request in [`State`]'s `active` until dropped (the handler future ends, or
/// hyper drops the response body because it was sent or the client went away).
pub(crate) struct ActiveGuard(Arc<State>);

impl ActiveGuard {
    pub(crate) fn new(state: Arc<State>) -> ActiveGuard {
        state.active.fetch_add(1, Ordering::SeqCst);
        ActiveGuard(state)
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Is the key known (or are all keys accepted)?
pub(crate) enum KeyCheck {
    Known,
    Unknown,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl State {
    fn new(options: &MockOptions) -> State {
        let table = options.keys.iter().map(|k| (k.clone(), KeyState::default())).collect();
        State {
            keys: Mutex::new(Keys {
                accept_any: options.accept_any_key,
                table,
            }),
            log: Mutex::new(Log {
                limit: options.record_limit.max(1),
                next_seq: 0,
                received: 0,
                entries: VecDeque::new(),
                counts: HashMap::new(),
            }),
            issued: Mutex::new(HashSet::new()),
            counter: AtomicU64::new(1),
            gemini3_signatures: AtomicBool::new(true),
            active: AtomicU64::new(0),
            resources: Mutex::new(resources::Resources::default()),
        }
    }

    pub(crate) fn resources(&self) -> MutexGuard<'_, resources::Resources> {
        lock(&self.resources)
    }

    pub(crate) fn check_key(&self, key: &str) -> KeyCheck {
        let keys = lock(&self.keys);
        if keys.accept_any || keys.table.contains_key(key) {
            KeyCheck::Known
        } else {
            KeyCheck::Unknown
        }
    }

    /// The next behavior for a request with `key` (script first, then persistent).
    pub(crate) fn next_behavior(&self, key: &str) -> Behavior {
        let mut keys = lock(&self.keys);
        match keys.table.get_mut(key) {
            Some(state) => state.script.pop_front().unwrap_or_else(|| state.behavior.clone()),
            None => Behavior::Ok,
        }
    }

    /// The persistent behavior (for GET routes, which consume no script).
    pub(crate) fn persistent_behavior(&self, key: &str) -> Behavior {
        lock(&self.keys)
            .table
            .get(key)
            .map(|s| s.behavior.clone())
            .unwrap_or_default()
    }

    pub(crate) fn record(&self, mut request: RecordedRequest) -> u64 {
        let mut log = lock(&self.log);
        let seq = log.next_seq;
        log.next_seq += 1;
        log.received += 1;
        request.seq = seq;
        if let Some(key) = &request.key {
            *log.counts.entry(key.clone()).or_insert(0) += 1;
        }
        if log.entries.len() >= log.limit {
            log.entries.pop_front();
        }
        log.entries.push_back(request);
        seq
    }

    pub(crate) fn set_status(&self, seq: u64, status: u16) {
        let mut log = lock(&self.log);
        let Some(first) = log.entries.front().map(|r| r.seq) else {
            return;
        };
        let Some(index) = seq.checked_sub(first).and_then(|i| usize::try_from(i).ok()) else {
            return;
        };
        if let Some(entry) = log.entries.get_mut(index) {
            entry.status = Some(status);
        }
    }

    pub(crate) fn gemini3_signatures(&self) -> bool {
        self.gemini3_signatures.load(Ordering::Relaxed)
    }

    pub(crate) fn issue_signature(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let signature = base64::engine::general_purpose::STANDARD.encode(format!("mock-sig-{n}"));
        lock(&self.issued).insert(signature.clone());
        signature
    }

    pub(crate) fn is_issued(&self, signature: &str) -> bool {
        lock(&self.issued).contains(signature)
    }

    pub(crate) fn next_response_id(&self) -> String {
        format!("mockResp{:06}", self.counter.fetch_add(1, Ordering::Relaxed))
    }
}

/// A running mock Gemini server; stops on drop.
pub struct MockGemini {
    addr: SocketAddr,
    state: Arc<State>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl MockGemini {
    /// Starts on `127.0.0.1:0` with no keys registered.
    pub fn start() -> MockGemini {
        MockGemini::start_with(MockOptions::default()).expect("start the mock Gemini server")
    }

    /// Starts on `127.0.0.1:0` with these keys registered.
    pub fn with_keys(keys: &[&str]) -> MockGemini {
        let mock = MockGemini::start();
        mock.add_keys(keys);
        mock
    }

    /// Starts with explicit options.
    pub fn start_with(options: MockOptions) -> std::io::Result<MockGemini> {
        let state = Arc::new(State::new(&options));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel();
        let server_state = state.clone();
        let thread = std::thread::Builder::new().name("gempool-mock".into()).spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(options.worker_threads.max(1))
                .thread_name("gempool-mock-worker")
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    crate::best_effort(addr_tx.send(Err(e)));
                    return;
                }
            };
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::bind(options.listen).await {
                    Ok(listener) => listener,
                    Err(e) => {
                        crate::best_effort(addr_tx.send(Err(e)));
                        return;
                    }
                };
                crate::best_effort(addr_tx.send(listener.local_addr()));
                server::serve(listener, server_state, shutdown_rx).await;
            });
            runtime.shutdown_background();
        })?;
        let addr = addr_rx
            .recv()
            .map_err(|_| std::io::Error::other("mock server thread died"))??;
        Ok(MockGemini {
            addr,
            state,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT` (no trailing slash, no version).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Registers keys (behavior [`Behavior::Ok`]); already-registered keys are untouched.
    pub fn add_keys(&self, keys: &[&str]) {
        let mut table = lock(&self.state.keys);
        for key in keys {
            table.table.entry((*key).to_string()).or_default();
        }
    }

    /// Unregisters a key: it then gets 400 `API_KEY_INVALID`.
    pub fn remove_key(&self, key: &str) {
        lock(&self.state.keys).table.remove(key);
    }

    /// Accept any key, registered or not (unregistered keys always behave [`Behavior::Ok`]).
    pub fn set_accept_any_key(&self, accept: bool) {
        lock(&self.state.keys).accept_any = accept;
    }

    /// Sets the persistent behavior of a key (registering it if needed).
    pub fn set_behavior(&self, key: &str, behavior: Behavior) {
        lock(&self.state.keys)
            .table
            .entry(key.to_string())
            .or_default()
            .behavior = behavior;
    }

    /// Appends one-shot behaviors for a key's next POST requests (registering it if needed).
    pub fn push_script(&self, key: &str, script: Vec<Behavior>) {
        lock(&self.state.keys)
            .table
            .entry(key.to_string())
            .or_default()
            .script
            .extend(script);
    }

    /// Clears every key's script and resets every persistent behavior to [`Behavior::Ok`].
    pub fn reset_behaviors(&self) {
        for state in lock(&self.state.keys).table.values_mut() {
            *state = KeyState::default();
        }
    }

    /// Turns Gemini 3 thought-signature emission and enforcement on or off (default on).
    pub fn set_gemini3_signatures(&self, enabled: bool) {
        self.state.gemini3_signatures.store(enabled, Ordering::Relaxed);
    }

    /// Issues a valid signature, as if a reply had carried it (for hand-built histories).
    pub fn issue_signature(&self) -> String {
        self.state.issue_signature()
    }

    /// How many resources of `collection` (`files`, `cachedContents`, `batches`) `key` holds.
    pub fn resource_count(&self, key: &str, collection: &str) -> usize {
        self.state.resources().count(key, collection)
    }

    /// Recorded requests, oldest first (the last `record_limit`).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state.log).entries.iter().cloned().collect()
    }

    /// The most recent request.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        lock(&self.state.log).entries.back().cloned()
    }

    /// Recorded requests that presented `key`.
    pub fn requests_for_key(&self, key: &str) -> Vec<RecordedRequest> {
        lock(&self.state.log)
            .entries
            .iter()
            .filter(|r| r.key.as_deref() == Some(key))
            .cloned()
            .collect()
    }

    /// How many requests presented `key` since start or [`MockGemini::reset_log`]
    /// (not capped by `record_limit`).
    pub fn count_for_key(&self, key: &str) -> u64 {
        lock(&self.state.log).counts.get(key).copied().unwrap_or(0)
    }

    /// Total requests received since start or the last reset.
    pub fn request_count(&self) -> u64 {
        lock(&self.state.log).received
    }

    /// Forgets recorded requests and per-key counts (sequence numbers keep increasing).
    pub fn reset_log(&self) {
        let mut log = lock(&self.state.log);
        log.entries.clear();
        log.counts.clear();
        log.received = 0;
    }

    /// Requests in progress: their handler is still running (e.g. [`Behavior::Hang`]) or their
    /// response body is still being sent or held open (e.g. [`Behavior::HangMidStream`]).
    /// Drops when the gateway abandons the request, so tests can see cancellation.
    pub fn active_requests(&self) -> u64 {
        self.state.active.load(Ordering::SeqCst)
    }

    /// Waits until at most `n` requests are in progress; false on timeout.
    pub fn wait_for_active_at_most(&self, n: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.active_requests() <= n {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until at least `n` requests were received; false on timeout.
    pub fn wait_for_requests(&self, n: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.request_count() >= n {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for MockGemini {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            crate::best_effort(shutdown.send(()));
        }
        if let Some(thread) = self.thread.take() {
            crate::best_effort(thread.join());
        }
    }
}

#[cfg(test)]
mod tests;
