//! LiteLLM proxy as a column (optional: it runs when `litellm` is importable).
//!
//! The proxy runs with one worker on a generated config in a temporary directory: four
//! deployments of the model `gemini-2.5-flash`, one per pool key (k1..k4), each
//! `gemini/gemini-2.5-flash` with `api_base` pointed at the bench's upstream (LiteLLM's gemini
//! provider then calls `{api_base}/models/gemini-2.5-flash:generateContent` with the key in
//! `x-goog-api-key`), router strategy `simple-shuffle`, no master key, no database, telemetry off,
//! the bundled model cost map (no download). It is driven on the OpenAI route
//! (`POST /v1/chat/completions`).

use super::*;

/// Which Python runs LiteLLM, and its version.
pub(super) struct Found {
    pub(super) python: PathBuf,
    pub(super) version: String,
}

/// The Python to run LiteLLM with: `--litellm-python`, else the interpreter of `litellm` on
/// PATH (its script's `#!` line), else `python3`; `Err` says why there is no LiteLLM column.
pub(super) fn find(explicit: Option<&Path>) -> Result<Found, String> {
    let candidates: Vec<PathBuf> = match explicit {
        Some(python) => vec![python.to_path_buf()],
        None => {
            let mut c = Vec::new();
            if let Some(python) = script_python("litellm") {
                c.push(python);
            }
            c.push(PathBuf::from("python3"));
            c
        }
    };
    let mut tried = Vec::new();
    for python in candidates {
        let output = Command::new(&python)
            .args([
                "-c",
                "import importlib.metadata as m, litellm.proxy.proxy_cli; print(m.version('litellm'))",
            ])
            .stdin(Stdio::null())
            .output();
        match output {
            Ok(out) if out.status.success() => {
                return Ok(Found {
                    python,
                    version: String::from_utf8_lossy(&out.stdout).trim().to_string(),
                })
            }
            _ => tried.push(python.display().to_string()),
        }
    }
    Err(format!(
        "`import litellm.proxy.proxy_cli` failed with {} (install `litellm[proxy]` or pass --litellm-python)",
        tried.join(", ")
    ))
}

/// The interpreter named on the `#!` line of an executable script found on PATH.
fn script_python(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let script = std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())?;
    let text = std::fs::read(&script).ok()?;
    let first = String::from_utf8_lossy(&text[..text.len().min(300)])
        .lines()
        .next()?
        .to_string();
    let interpreter = first.strip_prefix("#!")?.split_whitespace().next()?;
    Some(PathBuf::from(interpreter))
}

/// A running LiteLLM proxy; killed (with its children) when dropped.
pub(super) struct LiteLlm {
    child: Option<Child>,
    pub(super) addr: SocketAddr,
    /// The proxy's master key, which callers send as a bearer token.
    pub(super) master_key: String,
    dir: tempfile::TempDir,
}

impl LiteLlm {
    /// Starts the proxy against `upstream` (an `http://host:port` origin) and waits until it
    /// answers `/health/liveliness` (importing LiteLLM takes seconds).
    pub(super) fn start(found: &Found, upstream: &str) -> anyhow::Result<LiteLlm> {
        let dir = tempfile::Builder::new().prefix("gempool-bench-litellm-").tempdir()?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut config = String::from("model_list:\n");
        for key in KEYS {
            crate::best_effort(write!(
                config,
                "  - model_name: gemini-2.5-flash\n\
                 \x20   litellm_params:\n\
                 \x20     model: gemini/gemini-2.5-flash\n\
                 \x20     api_key: {key}\n\
                 \x20     api_base: {upstream}/v1beta\n"
            ));
        }
        config.push_str(
            "router_settings:\n\
             \x20 routing_strategy: simple-shuffle\n\
             litellm_settings:\n\
             \x20 telemetry: false\n\
             \x20 drop_params: true\n\
             \x20 set_verbose: false\n\
             general_settings: {}\n",
        );
        let conf = dir.path().join("config.yaml");
        std::fs::write(&conf, config)?;
        let master_key = random_key()?;
        let log = std::fs::File::create(dir.path().join("litellm.log"))?;
        let child = Command::new(&found.python)
            .args([
                "-c",
                "import sys; from litellm.proxy.proxy_cli import run_server; sys.exit(run_server())",
            ])
            .arg("--config")
            .arg(&conf)
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--num_workers", "1"])
            .current_dir(dir.path())
            .env("LITELLM_TELEMETRY", "False")
            .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            .env("LITELLM_LOG", "ERROR")
            .env("DISABLE_ADMIN_UI", "True")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .env_remove("DATABASE_URL")
            .env("LITELLM_MASTER_KEY", &master_key)
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .env_remove("http_proxy")
            .env_remove("https_proxy")
            .env_remove("ALL_PROXY")
            .env_remove("all_proxy")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot run {}", found.python.display()))?;
        let mut litellm = LiteLlm {
            child: Some(child),
            addr,
            master_key,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(180);
        let client = crate::http::Client::new(format!("http://{addr}"));
        loop {
            if StdTcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                let health = client
                    .get("/health/liveliness")
                    .timeout(Duration::from_secs(5))
                    .try_send();
                if health.is_ok_and(|r| r.status == 200) {
                    return Ok(litellm);
                }
            }
            if let Some(Ok(Some(status))) = litellm.child.as_mut().map(Child::try_wait) {
                bail!("LiteLLM exited ({status}): {}", litellm.log_tail());
            }
            if Instant::now() >= deadline {
                bail!("LiteLLM did not answer on {addr} in time: {}", litellm.log_tail());
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    pub(super) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The last lines of the proxy's output.
    pub(super) fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("litellm.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

/// `sk-` and 32 random hex digits.
fn random_key() -> anyhow::Result<String> {
    use std::io::Read as _;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(format!(
        "sk-{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}

impl Drop for LiteLlm {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        // Its worker processes (if any) first, then the proxy itself, by pid.
        for pid in process_tree(child.id()).iter().skip(1).rev() {
            signal(*pid, "TERM");
        }
        signal(child.id(), "TERM");
        if exited_within(&mut child, Duration::from_secs(5)) {
            return;
        }
        for pid in process_tree(child.id()).iter().skip(1) {
            signal(*pid, "KILL");
        }
        crate::best_effort(child.kill());
        crate::best_effort(child.wait());
    }
}
