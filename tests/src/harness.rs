//! Runs the real `gempool` binary for end-to-end tests.
//!
//! [`Gateway::start`] spawns `gempool serve --listen 127.0.0.1:0 --data <file> --upstream-url
//! <url> --admin-key <k> --keys a,b --cache-dir <dir> [--open]`, captures stdout and stderr into
//! a log, learns the port from the line `gempool listening on http://ADDR`, and waits until
//! `GET /health` answers 200. The binary is `$GEMPOOL_BIN`, else
//! `<workspace>/target/release/gempool`. The process is killed on drop;
//! [`Gateway::stop`] sends SIGTERM first, and [`Gateway::restart`] starts a new process on the
//! same data file.
//!
//! ```no_run
//! use gempool_tests::harness::{Gateway, GatewayOptions};
//! use gempool_tests::mock::MockGemini;
//!
//! let mock = MockGemini::with_keys(&["k1", "k2"]);
//! let gw = Gateway::start(GatewayOptions::with_mock(&mock, &["k1", "k2"]));
//! let resp = gw
//!     .post("/v1beta/models/gemini-2.5-flash:generateContent")
//!     .json(&serde_json::json!({"contents": [{"parts": [{"text": "hi"}]}]}))
//!     .send();
//! resp.assert_status(200);
//! ```

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::http::{Client, LogHandle, RequestBuilder};
use crate::mock::MockGemini;

/// The admin key gateways get unless the options say otherwise.
pub const TEST_ADMIN_KEY: &str = "gempool-test-admin-key";

/// The line the host prints once it listens.
const LISTENING_PREFIX: &str = "gempool listening on http://";
/// The line the host prints when it generated an admin key.
const GENERATED_KEY_PREFIX: &str = "gempool: generated admin key ";

/// Environment variables of `gempool serve` that must not leak from the test environment.
const HOST_ENV: &[&str] = &[
    "GEMPOOL_LISTEN",
    "GEMPOOL_DATA",
    "GEMPOOL_UPSTREAM_URL",
    "GEMPOOL_ADMIN_KEY",
    "GEMPOOL_KEYS",
    "GEMPOOL_OPEN",
    "GEMPOOL_CACHE_DIR",
];

/// The workspace root (parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `$GEMPOOL_BIN`, else `<workspace>/target/release/gempool`; panics if it does not exist.
pub fn gempool_bin() -> PathBuf {
    let path = std::env::var_os("GEMPOOL_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/release/gempool"));
    assert!(
        path.is_file(),
        "the gempool binary is missing at {}: build it with `cargo build --release -p \
         gempool-host` (or point GEMPOOL_BIN at it)",
        path.display()
    );
    path
}

/// How to start a gateway.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// `--open`: proxied requests need no client key.
    pub open: bool,
    /// `--admin-key` (default [`TEST_ADMIN_KEY`]); `None` lets the host generate one, which
    /// [`Gateway::admin_key`] then reports.
    pub admin_key: Option<String>,
    /// `--keys` (omitted when empty).
    pub keys: Vec<String>,
    /// `--upstream-url` (omitted when empty), e.g. [`MockGemini::url`].
    pub upstream_url: String,
    /// `--data`; default a fresh temporary directory's `gempool.db`, removed with the gateway.
    pub data: Option<PathBuf>,
    /// `--cache-dir` for the compiled component (default `<workspace>/target/gempool-test-cache`,
    /// shared so each start does not recompile); `None` omits the flag.
    pub cache_dir: Option<PathBuf>,
    /// More arguments after the others.
    pub extra_args: Vec<String>,
    /// More environment variables.
    pub env: Vec<(String, String)>,
    /// How long to wait for `/health` (default 30 s).
    pub startup_timeout: Duration,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        GatewayOptions {
            open: false,
            admin_key: Some(TEST_ADMIN_KEY.to_string()),
            keys: Vec::new(),
            upstream_url: String::new(),
            data: None,
            cache_dir: Some(workspace_root().join("target/gempool-test-cache")),
            extra_args: Vec::new(),
            env: Vec::new(),
            startup_timeout: Duration::from_secs(30),
        }
    }
}

impl GatewayOptions {
    /// Defaults with this upstream.
    pub fn new(upstream_url: impl Into<String>) -> Self {
        GatewayOptions {
            upstream_url: upstream_url.into(),
            ..GatewayOptions::default()
        }
    }

    /// Defaults pointing at `mock`, pooling `keys`.
    pub fn with_mock(mock: &MockGemini, keys: &[&str]) -> Self {
        GatewayOptions {
            keys: keys.iter().map(|k| k.to_string()).collect(),
            ..GatewayOptions::new(mock.url())
        }
    }

    /// Sets `--open`.
    pub fn open(mut self) -> Self {
        self.open = true;
        self
    }

    fn args(&self, data: &Path) -> Vec<String> {
        let mut args = vec![
            "serve".to_string(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--data".into(),
            data.display().to_string(),
        ];
        if !self.upstream_url.is_empty() {
            args.extend(["--upstream-url".into(), self.upstream_url.clone()]);
        }
        if let Some(key) = &self.admin_key {
            args.extend(["--admin-key".into(), key.clone()]);
        }
        if !self.keys.is_empty() {
            args.extend(["--keys".into(), self.keys.join(",")]);
        }
        if let Some(dir) = &self.cache_dir {
            args.extend(["--cache-dir".into(), dir.display().to_string()]);
        }
        if self.open {
            args.push("--open".into());
        }
        args.extend(self.extra_args.iter().cloned());
        args
    }
}

/// A running `gempool serve` process.
pub struct Gateway {
    child: Option<Child>,
    addr: SocketAddr,
    log: LogHandle,
    options: GatewayOptions,
    data: PathBuf,
    tempdir: Option<tempfile::TempDir>,
    generated_admin_key: Option<String>,
    client: Client,
}

enum StartupLine {
    Listening(SocketAddr),
    GeneratedKey(String),
}

impl Gateway {
    /// Starts a gateway and waits until `/health` answers; panics with the log on failure.
    pub fn start(options: GatewayOptions) -> Gateway {
        Gateway::launch(options, None, None)
    }

    fn launch(
        options: GatewayOptions,
        tempdir: Option<tempfile::TempDir>,
        generated_admin_key: Option<String>,
    ) -> Gateway {
        let bin = gempool_bin();
        let (tempdir, data) = match (&options.data, tempdir) {
            (Some(data), tempdir) => (tempdir, data.clone()),
            (None, _) => {
                let dir = tempfile::Builder::new()
                    .prefix("gempool-test-")
                    .tempdir()
                    .expect("create a temporary data directory");
                let data = dir.path().join("gempool.db");
                (Some(dir), data)
            }
        };
        let args = options.args(&data);
        let log = LogHandle::default();
        log.push_line(&format!("$ {} {}", bin.display(), args.join(" ")));
        let mut command = Command::new(&bin);
        command
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for name in HOST_ENV {
            command.env_remove(name);
        }
        command.envs(options.env.iter().map(|(k, v)| (k, v)));
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));

        let (lines_tx, lines_rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        spawn_reader(stdout, log.clone(), Some(lines_tx));
        spawn_reader(stderr, log.clone(), None);

        let deadline = Instant::now() + options.startup_timeout;
        let mut generated = generated_admin_key;
        let addr = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines_rx.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(StartupLine::Listening(addr)) => break addr,
                Ok(StartupLine::GeneratedKey(key)) => generated = Some(key),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.wait().ok();
                    fail_startup(&log, &format!("gempool exited before listening ({status:?})"));
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                fail_startup(&log, &format!("gempool exited before listening ({status})"));
            }
            if Instant::now() >= deadline {
                crate::best_effort(child.kill());
                crate::best_effort(child.wait());
                fail_startup(&log, "gempool did not print its listening line in time");
            }
        };

        let client = Client::new(format!("http://{addr}")).with_log(log.clone());
        let gateway = Gateway {
            child: Some(child),
            addr,
            log,
            options,
            data,
            tempdir,
            generated_admin_key: generated,
            client,
        };
        gateway.wait_healthy(deadline);
        gateway
    }

    fn wait_healthy(&self, deadline: Instant) {
        loop {
            let attempt = self.client.get("/health").timeout(Duration::from_secs(2)).try_send();
            match attempt {
                Ok(response) if response.status == 200 => return,
                Ok(response) if Instant::now() >= deadline => response.fail("GET /health did not answer 200 in time"),
                Err(e) if Instant::now() >= deadline => fail_startup(&self.log, &format!("GET /health failed: {e}")),
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The process id (None after [`Gateway::stop`]).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Everything the process printed so far (stdout and stderr, interleaved by line).
    pub fn log(&self) -> String {
        self.log.snapshot()
    }

    /// What the process printed: [`Gateway::log`] without the command lines the harness wrote
    /// into it (those carry the admin key and pool keys as flags).
    pub fn process_log(&self) -> String {
        let command = format!("$ {} ", gempool_bin().display());
        self.log
            .snapshot()
            .lines()
            .filter(|line| !line.starts_with(&command))
            .map(|line| format!("{line}\n"))
            .collect()
    }

    /// The live log handle.
    pub fn log_handle(&self) -> LogHandle {
        self.log.clone()
    }

    /// Waits until the log contains `needle`; false on timeout.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.log.contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.log.contains(needle)
    }

    /// The admin key: the configured one, or the one the host generated and printed.
    pub fn admin_key(&self) -> Option<&str> {
        self.options
            .admin_key
            .as_deref()
            .or(self.generated_admin_key.as_deref())
    }

    /// The SQLite data file.
    pub fn data_path(&self) -> &Path {
        &self.data
    }

    /// The options it was started with.
    pub fn options(&self) -> &GatewayOptions {
        &self.options
    }

    /// A client for this gateway whose failure reports include the gateway log.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// Starts a request (`method` e.g. `"GET"`).
    pub fn request(&self, method: &str, path: &str) -> RequestBuilder {
        self.client.request(method, path)
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> RequestBuilder {
        self.client.get(path)
    }

    /// `POST path`.
    pub fn post(&self, path: &str) -> RequestBuilder {
        self.client.post(path)
    }

    /// A request carrying `Authorization: Bearer <admin key>`.
    pub fn admin(&self, method: &str, path: &str) -> RequestBuilder {
        let key = self
            .admin_key()
            .expect("the gateway has no known admin key")
            .to_string();
        self.client.request(method, path).bearer(&key)
    }

    /// Sends SIGTERM and waits up to 10 s (then SIGKILL); returns the exit status.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        // The shell's builtin `kill` is always there (the crate forbids unsafe `libc::kill`).
        crate::best_effort(
            Command::new("sh")
                .args(["-c", &format!("kill -TERM {}", child.id())])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status(),
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                _ => {
                    crate::best_effort(child.kill());
                    return child.wait().ok();
                }
            }
        }
    }

    /// Stops this gateway and starts a new one with the same options and data file.
    pub fn restart(self) -> Gateway {
        self.restart_with(|_| {})
    }

    /// Like [`Gateway::restart`], after letting `change` edit the options (the data file is
    /// kept unless `change` sets another one).
    pub fn restart_with(mut self, change: impl FnOnce(&mut GatewayOptions)) -> Gateway {
        self.stop();
        let mut options = self.options.clone();
        options.data = Some(self.data.clone());
        change(&mut options);
        let tempdir = self.tempdir.take();
        let generated = self.generated_admin_key.take();
        Gateway::launch(options, tempdir, generated)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            crate::best_effort(child.kill());
            crate::best_effort(child.wait());
        }
    }
}

fn fail_startup(log: &LogHandle, problem: &str) -> ! {
    // Give the reader threads a moment to drain what the process printed last.
    std::thread::sleep(Duration::from_millis(100));
    panic!(
        "\n\n{problem}\n\n=============== gateway log ===========\n{}",
        log.snapshot()
    )
}

fn spawn_reader(stream: impl Read + Send + 'static, log: LogHandle, startup: Option<mpsc::Sender<StartupLine>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            log.push_line(&line);
            let Some(tx) = &startup else { continue };
            if let Some(rest) = line.trim().strip_prefix(LISTENING_PREFIX) {
                if let Ok(addr) = rest.trim_end_matches('/').parse() {
                    crate::best_effort(tx.send(StartupLine::Listening(addr)));
                }
            } else if let Some(rest) = line.trim().strip_prefix(GENERATED_KEY_PREFIX) {
                let key = rest.split_whitespace().next().unwrap_or("").to_string();
                crate::best_effort(tx.send(StartupLine::GeneratedKey(key)));
            }
        }
    });
}

impl Gateway {
    /// Whether the process is still running (not exited, not a zombie).
    pub fn alive(&self) -> bool {
        let Some(pid) = self.pid() else {
            return false;
        };
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // The state is the first field after the parenthesised command name.
            Ok(stat) => stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .is_some_and(|state| state != "Z" && state != "X"),
            // No procfs: ask the process itself.
            Err(_) => self
                .get("/health")
                .timeout(Duration::from_secs(5))
                .try_send()
                .is_ok_and(|r| r.status == 200),
        }
    }

    /// Sends raw request bytes on a fresh connection and reads one response (see [`raw_http`]).
    pub fn raw(&self, request: &[u8], timeout: Duration) -> Result<RawResponse, String> {
        raw_http(self.addr, request, timeout)
    }

    /// Every pool key's health as `GET /admin/api/keys` reports it, by id.
    pub fn key_health(&self) -> Vec<KeyHealth> {
        let response = self.admin("GET", "/admin/api/keys").send();
        response.assert_status(200);
        response.json()["keys"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(KeyHealth::from_json)
            .collect()
    }
}

/// What decides whether a pool key is used: enabled, breaker, cooldowns (from the admin API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyHealth {
    /// Key id.
    pub id: i64,
    /// Not disabled.
    pub enabled: bool,
    /// Why it was disabled.
    pub disabled_reason: Option<String>,
    /// Consecutive 5xx / network failures (breaker strikes).
    pub consecutive_failures: i64,
    /// Set while the breaker is open.
    pub breaker_open_until: Option<i64>,
    /// Per-model cooldowns: model, until (ms), reason, strikes.
    pub cooldowns: Vec<(String, i64, String, i64)>,
}

impl KeyHealth {
    /// Reads one entry of `GET /admin/api/keys`' `keys`.
    pub fn from_json(key: &serde_json::Value) -> KeyHealth {
        let cooldowns = key["cooldowns"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|c| {
                        (
                            c["model"].as_str().unwrap_or_default().to_string(),
                            c["until"].as_i64().unwrap_or_default(),
                            c["reason"].as_str().unwrap_or_default().to_string(),
                            c["strikes"].as_i64().unwrap_or_default(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        KeyHealth {
            id: key["id"].as_i64().unwrap_or(-1),
            enabled: key["enabled"].as_bool().unwrap_or(false),
            disabled_reason: key["disabled_reason"].as_str().map(str::to_string),
            consecutive_failures: key["consecutive_failures"].as_i64().unwrap_or(-1),
            breaker_open_until: key["breaker_open_until"].as_i64(),
            cooldowns,
        }
    }

    /// Enabled, no strikes, breaker closed, no cooldowns.
    pub fn is_pristine(&self) -> bool {
        self.enabled && self.consecutive_failures == 0 && self.breaker_open_until.is_none() && self.cooldowns.is_empty()
    }
}

/// Writes a summary line straight to stderr, past the test harness's output capture, so suite
/// totals show in a normal `cargo test` run.
pub fn report_line(line: &str) {
    use std::io::Write;
    crate::best_effort(writeln!(std::io::stderr(), "{line}"));
}

/// A response read off a raw socket by [`raw_http`].
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// HTTP status.
    pub status: u16,
    /// Headers in order (names lowercase).
    pub headers: Vec<(String, String)>,
    /// The body (chunked encoding removed).
    pub body: Vec<u8>,
    /// Time from connecting to the end of the body.
    pub elapsed: Duration,
}

impl RawResponse {
    /// First header value with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// An HTTP/1.1 request as bytes: the request line with `target` sent exactly as given (so
/// tests can send paths an HTTP library would refuse to build), `Host`, `Connection: close`,
/// the given headers, and `Content-Length` unless the headers already set `content-length` or
/// `transfer-encoding`.
pub fn raw_request_bytes(method: &str, target: &str, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut head = format!("{method} {target} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n");
    let framed = headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("transfer-encoding"));
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !framed {
        head.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Sends `request` (complete HTTP/1.x bytes) on a new connection to `addr` and reads one
/// response: head, then a body framed by `content-length`, chunked encoding, or the end of the
/// connection. `Err` on connection errors, a malformed response, or `timeout`.
pub fn raw_http(addr: SocketAddr, request: &[u8], timeout: Duration) -> Result<RawResponse, String> {
    use std::io::Write;
    let started = Instant::now();
    let deadline = started + timeout;
    let mut stream =
        std::net::TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect to {addr}: {e}"))?;
    stream.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    // A server may answer (e.g. 413) before reading everything and close; a write error is
    // then not the end of the story, the answer may still be readable.
    crate::best_effort(stream.write_all(request));
    let mut reader = RawReader {
        stream,
        buffer: Vec::new(),
        deadline,
    };
    let head_end = loop {
        if let Some(end) = find(&reader.buffer, b"\r\n\r\n") {
            break end;
        }
        if !reader.fill()? {
            return Err(format!(
                "connection closed before a complete response head ({} bytes: {:?})",
                reader.buffer.len(),
                String::from_utf8_lossy(&reader.buffer)
            ));
        }
    };
    let head = String::from_utf8_lossy(&reader.buffer[..head_end]).into_owned();
    reader.buffer.drain(..head_end + 4);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let method = String::from_utf8_lossy(request)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    let body = if method == "HEAD" || status == 204 || status == 304 || (100..200).contains(&status) {
        Vec::new()
    } else if header("transfer-encoding").is_some_and(|te| te.to_ascii_lowercase().contains("chunked")) {
        reader.read_chunked()?
    } else if let Some(length) = header("content-length") {
        let length: usize = length.parse().map_err(|_| format!("bad content-length {length:?}"))?;
        reader.read_exact_len(length)?
    } else {
        reader.read_to_end()?
    };
    Ok(RawResponse {
        status,
        headers,
        body,
        elapsed: started.elapsed(),
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

struct RawReader {
    stream: std::net::TcpStream,
    buffer: Vec<u8>,
    deadline: Instant,
}

impl RawReader {
    /// Reads more bytes into the buffer; false at the end of the connection.
    fn fill(&mut self) -> Result<bool, String> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("timed out".into());
        }
        self.stream.set_read_timeout(Some(left)).map_err(|e| e.to_string())?;
        let mut chunk = [0u8; 64 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => Ok(false),
            Ok(n) => {
                self.buffer.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                Err("timed out".into())
            }
            // A reset after a complete answer (e.g. the server closed with unread request
            // bytes) ends the connection like a close.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(false),
            Err(e) => Err(e.to_string()),
        }
    }

    fn read_exact_len(&mut self, length: usize) -> Result<Vec<u8>, String> {
        while self.buffer.len() < length {
            if !self.fill()? {
                return Err(format!("body ended after {} of {length} bytes", self.buffer.len()));
            }
        }
        Ok(self.buffer.drain(..length).collect())
    }

    fn read_to_end(&mut self) -> Result<Vec<u8>, String> {
        while self.fill()? {}
        Ok(std::mem::take(&mut self.buffer))
    }

    fn read_chunked(&mut self) -> Result<Vec<u8>, String> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(end) = find(&self.buffer, b"\r\n") {
                    break end;
                }
                if !self.fill()? {
                    return Err("chunked body ended early".into());
                }
            };
            let size_text = String::from_utf8_lossy(&self.buffer[..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| format!("bad chunk size {size_text:?}"))?;
            self.buffer.drain(..line_end + 2);
            if size == 0 {
                return Ok(body);
            }
            let chunk = self.read_exact_len(size + 2)?;
            body.extend_from_slice(&chunk[..size]);
        }
    }
}

/// The three error shapes a caller can expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `{"error": {"message", "type", "param", "code"}}`.
    OpenAi,
    /// `{"type": "error", "error": {"type", "message"}}`.
    Anthropic,
    /// `{"error": {"code", "message", "status"}}` (native Gemini and the admin API).
    Gemini,
}

/// What is wrong with `body` as an error of `status` in `dialect`'s shape, if anything.
pub fn error_shape_problem(dialect: Dialect, status: u16, body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Some(format!("body is not JSON: {:?}", truncate(&text, 300)));
    };
    let error = &json["error"];
    let str_field = |name: &str| error[name].as_str().filter(|s| !s.trim().is_empty()).is_some();
    let problem = match dialect {
        Dialect::OpenAi => {
            if !str_field("message") || !str_field("type") {
                Some("expected {\"error\": {\"message\": str, \"type\": str, ...}}")
            } else if error.get("param").is_none() || error.get("code").is_none() {
                Some("expected error.param and error.code (null allowed)")
            } else {
                None
            }
        }
        Dialect::Anthropic => {
            if json["type"] != "error" || !str_field("type") || !str_field("message") {
                Some("expected {\"type\": \"error\", \"error\": {\"type\": str, \"message\": str}}")
            } else {
                None
            }
        }
        Dialect::Gemini => {
            if error["code"].as_u64() != Some(u64::from(status)) || !str_field("message") || !str_field("status") {
                Some("expected {\"error\": {\"code\": <status>, \"message\": str, \"status\": str}}")
            } else {
                None
            }
        }
    };
    problem
        .map(|p| format!("{p}; got {}", truncate(&text, 300)))
        .or_else(|| internals_problem(&text))
}

/// Fragments that show an error message exposes the implementation (Rust debug output of host
/// errors, panics) rather than saying what went wrong.
pub const INTERNAL_FRAGMENTS: &[&str] = &[
    "Error {",
    "ErrorCode::",
    "handle: ",
    "Resource {",
    "panicked",
    "RUST_BACKTRACE",
    "wasm backtrace",
    "called `Result::unwrap()`",
    "called `Option::unwrap()`",
];

/// A description of the first internal fragment in `text`, if any.
pub fn internals_problem(text: &str) -> Option<String> {
    INTERNAL_FRAGMENTS
        .iter()
        .find(|f| text.contains(*f))
        .map(|f| format!("message exposes internals ({f:?}): {}", truncate(text, 300)))
}

/// Where any secret (or any `window`-character piece of one) occurs in `haystack`; each entry
/// names the secret's label, the piece and some context. Secrets shorter than `window` are
/// looked for whole.
pub fn secret_leaks(haystack: &str, secrets: &[(String, String)], window: usize) -> Vec<String> {
    let mut found = Vec::new();
    for (label, secret) in secrets {
        let chars: Vec<char> = secret.chars().collect();
        let mut pieces = vec![secret.clone()];
        if chars.len() > window {
            pieces.extend((0..=chars.len() - window).map(|i| chars[i..i + window].iter().collect::<String>()));
        }
        if let Some((piece, at)) = pieces
            .iter()
            .find_map(|piece| haystack.find(piece.as_str()).map(|at| (piece, at)))
        {
            let start = (0..=at.saturating_sub(60))
                .rev()
                .find(|i| haystack.is_char_boundary(*i))
                .unwrap_or(0);
            let end = (at + piece.len() + 60).min(haystack.len());
            let end = (end..=haystack.len())
                .find(|i| haystack.is_char_boundary(*i))
                .unwrap_or(haystack.len());
            found.push(format!("{label} ({piece:?}) in …{}…", &haystack[start..end]));
        }
    }
    found
}

fn truncate(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let cut = (0..=limit).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
    format!("{}… ({} bytes)", &text[..cut], text.len())
}
