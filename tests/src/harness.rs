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
                let _ = child.kill();
                let _ = child.wait();
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
        let _ = Command::new("sh")
            .args(["-c", &format!("kill -TERM {}", child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                _ => {
                    let _ = child.kill();
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
            let _ = child.kill();
            let _ = child.wait();
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
                    let _ = tx.send(StartupLine::Listening(addr));
                }
            } else if let Some(rest) = line.trim().strip_prefix(GENERATED_KEY_PREFIX) {
                let key = rest.split_whitespace().next().unwrap_or("").to_string();
                let _ = tx.send(StartupLine::GeneratedKey(key));
            }
        }
    });
}
