//! The official SDKs (`openai`, `anthropic`, `google-genai` and LangChain's `langchain-openai` /
//! `langchain-google-genai`, installed from PyPI into a venv by `scripts/test`; the Node SDKs
//! `openai`, `@anthropic-ai/sdk` and `@google/genai`, installed with npm from
//! `tests/sdk/package.json`) driven against the real gateway and the strict mock Gemini.
//!
//! Each test starts a mock and a gateway, scripts the mock if the scenario needs it, and runs
//! `$GEMPOOL_TEST_PYTHON tests/sdk/<sdk>_sdk.py <scenario>` (or `$GEMPOOL_TEST_NODE
//! tests/sdk/<sdk>_sdk.mjs <scenario>`) with `GEMPOOL_URL` and
//! `GEMPOOL_KEY` (a client key minted through the admin API) in the environment. The Python
//! scenario asserts what a user of that SDK would see; it must exit 0. On failure the test
//! prints the script's output, the upstream requests the mock answered with an error, and the
//! gateway log.

mod anthropic;
mod genai;
mod langchain;
mod node;
mod openai;
mod responses;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gempool_tests::harness::{workspace_root, Gateway, GatewayOptions};
use gempool_tests::mock::{Behavior, MockGemini};
use serde_json::json;

/// How long one scenario script may run.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// The Python with the SDKs: `$GEMPOOL_TEST_PYTHON`, else `<workspace>/.venv/bin/python`.
fn python() -> PathBuf {
    if let Some(path) = std::env::var_os("GEMPOOL_TEST_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let venv = workspace_root().join(".venv/bin/python");
    assert!(
        venv.is_file(),
        "no Python with the official SDKs: GEMPOOL_TEST_PYTHON is unset and {} is missing. Run \
         scripts/test (it creates .venv from tests/sdk/requirements.txt and exports \
         GEMPOOL_TEST_PYTHON), or create the venv yourself: python3 -m venv .venv && \
         .venv/bin/pip install -r tests/sdk/requirements.txt",
        venv.display()
    );
    venv
}

/// Node 22 with the Node SDKs next to their scripts: `$GEMPOOL_TEST_NODE`, else the `node`
/// that `tests/agents` installs from npm.
fn node() -> PathBuf {
    if let Some(path) = std::env::var_os("GEMPOOL_TEST_NODE").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let node = workspace_root().join("tests/agents/node_modules/.bin/node");
    assert!(
        node.is_file() && workspace_root().join("tests/sdk/node_modules").is_dir(),
        "no Node 22 with the Node SDKs: GEMPOOL_TEST_NODE is unset and {} or tests/sdk/node_modules is \
         missing. Run scripts/test (it runs `npm ci` in tests/agents and tests/sdk), or run those \
         yourself.",
        node.display()
    );
    node
}

/// Which SDK script a scenario belongs to.
#[derive(Debug, Clone, Copy)]
pub enum Sdk {
    OpenAi,
    /// The `openai` SDK's Responses API (`client.responses`).
    OpenAiResponses,
    Anthropic,
    GenAi,
    /// `langchain-openai` and `langchain-google-genai`.
    LangChain,
    /// The `openai` Node SDK (chat completions and Responses).
    NodeOpenAi,
    /// `@anthropic-ai/sdk`.
    NodeAnthropic,
    /// `@google/genai`.
    NodeGenAi,
}

impl Sdk {
    fn script(self) -> &'static str {
        match self {
            Sdk::OpenAi => "openai_sdk.py",
            Sdk::OpenAiResponses => "openai_responses_sdk.py",
            Sdk::Anthropic => "anthropic_sdk.py",
            Sdk::GenAi => "genai_sdk.py",
            Sdk::LangChain => "langchain_sdk.py",
            Sdk::NodeOpenAi => "openai_sdk.mjs",
            Sdk::NodeAnthropic => "anthropic_sdk.mjs",
            Sdk::NodeGenAi => "genai_sdk.mjs",
        }
    }

    /// The interpreter that runs the script.
    fn interpreter(self) -> PathBuf {
        if self.script().ends_with(".mjs") {
            node()
        } else {
            python()
        }
    }
}

/// A mock and a gateway (not open) pooling its keys, plus a client key for the SDKs.
pub struct Setup {
    pub mock: MockGemini,
    pub gw: Gateway,
    pub client_key: String,
}

impl Setup {
    /// Pool keys `k1`, `k2`; a client key from `POST /admin/api/client-keys`.
    pub fn two_keys() -> Setup {
        Setup::with_keys(&["k1", "k2"])
    }

    pub fn with_keys(keys: &[&str]) -> Setup {
        let mock = MockGemini::with_keys(keys);
        let gw = Gateway::start(GatewayOptions::with_mock(&mock, keys));
        let resp = gw
            .admin("POST", "/admin/api/client-keys")
            .json(&json!({"name": "sdk-tests"}))
            .send();
        resp.assert_status(201);
        let client_key = resp.json()["key"].as_str().expect("client key").to_string();
        Setup { mock, gw, client_key }
    }

    /// Every pool key answers with `behavior` from now on.
    pub fn all_keys(&self, keys: &[&str], behavior: Behavior) -> &Self {
        for key in keys {
            self.mock.set_behavior(key, behavior.clone());
        }
        self
    }

    /// Runs the scenario and panics with everything useful when it fails. When `clean`, every
    /// upstream request must also have been answered 200 (no rejected translation hidden by a
    /// retry or a tolerant assertion).
    pub fn run(&self, sdk: Sdk, scenario: &str, clean: bool) {
        let outcome = run_script(sdk, scenario, &self.gw.url(), &self.client_key);
        let rejected: Vec<String> = self
            .mock
            .requests()
            .iter()
            .filter(|r| r.status.is_some_and(|s| s != 200))
            .map(|r| {
                format!(
                    "{} {} -> {:?}\n    body: {}",
                    r.method,
                    r.path,
                    r.status,
                    String::from_utf8_lossy(&r.body)
                )
            })
            .collect();
        let problem = if !outcome.success {
            Some(format!(
                "the {} scenario `{scenario}` failed ({})",
                sdk.script(),
                outcome.status
            ))
        } else if clean && !rejected.is_empty() {
            Some(format!(
                "the {} scenario `{scenario}` passed but the mock rejected {} upstream request(s)",
                sdk.script(),
                rejected.len()
            ))
        } else {
            None
        };
        if let Some(problem) = problem {
            panic!(
                "\n\n{problem}\n\n=============== script stdout ===========\n{}\n=============== script stderr \
                 ===========\n{}\n=============== upstream requests not answered 200 ===========\n{}\n\
                 =============== gateway log ===========\n{}",
                outcome.stdout,
                outcome.stderr,
                rejected.join("\n"),
                self.gw.log()
            );
        }
    }
}

struct Outcome {
    success: bool,
    status: String,
    stdout: String,
    stderr: String,
}

fn run_script(sdk: Sdk, scenario: &str, url: &str, key: &str) -> Outcome {
    let interpreter = sdk.interpreter();
    let script = workspace_root().join("tests/sdk").join(sdk.script());
    let mut child = Command::new(&interpreter)
        .arg(&script)
        .arg(scenario)
        .env("GEMPOOL_URL", url)
        .env("GEMPOOL_KEY", key)
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        // The SDKs read these; the scenarios pass everything explicitly.
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("ANTHROPIC_BASE_URL")
        .env_remove("GOOGLE_API_KEY")
        .env_remove("GEMINI_API_KEY")
        .env_remove("GOOGLE_GENAI_USE_VERTEXAI")
        .env_remove("GOOGLE_GEMINI_BASE_URL")
        // LangChain and the Node SDKs must not report anywhere.
        .env("LANGCHAIN_TRACING_V2", "false")
        .env("LANGSMITH_TRACING", "false")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {} {}: {e}", interpreter.display(), script.display()));
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));
    let deadline = Instant::now() + SCRIPT_TIMEOUT;
    let (success, status) = loop {
        match child.try_wait() {
            Ok(Some(status)) => break (status.success(), status.to_string()),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                gempool_tests::best_effort(child.kill());
                gempool_tests::best_effort(child.wait());
                break (false, format!("timed out after {SCRIPT_TIMEOUT:?}"));
            }
            Err(e) => break (false, format!("wait failed: {e}")),
        }
    };
    Outcome {
        success,
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

fn drain(mut stream: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        gempool_tests::best_effort(stream.read_to_end(&mut bytes));
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// A scenario that must pass with every upstream request answered 200.
pub fn clean(sdk: Sdk, scenario: &str) {
    Setup::two_keys().run(sdk, scenario, true);
}

/// A bad client key: the gateway answers 401 before anything reaches the upstream.
pub fn auth_error(sdk: Sdk) {
    let setup = Setup::two_keys();
    setup.run(sdk, "auth_error", true);
}

/// Every pool key rate limited: the SDK's rate-limit error.
pub fn rate_limit(sdk: Sdk) {
    let setup = Setup::two_keys();
    setup.all_keys(&["k1", "k2"], Behavior::RateLimitPerMinute { retry_delay_secs: 30 });
    setup.run(sdk, "rate_limit", false);
    assert!(setup.mock.request_count() >= 1, "the upstream was tried");
}

/// The upstream fails after the stream started: the SDK's stream iterator raises.
pub fn midstream_error(sdk: Sdk) {
    let setup = Setup::with_keys(&["k1"]);
    setup.all_keys(&["k1"], Behavior::MidStreamError);
    setup.run(sdk, "midstream_error", false);
}
