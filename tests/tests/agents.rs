//! The real coding agents, headless, through the real gateway to the strict mock Gemini:
//! Claude Code (`claude -p`), Gemini CLI (`gemini -p`) and Codex (`codex exec`, a provider with
//! `wire_api = "responses"`), pinned in `tests/agents/package.json` and installed by
//! `scripts/test` with Node 22 from the npm package `node`.
//!
//! Each agent runs with its default model, with one pinned older model, and once through a tool
//! loop (the prompt holds the mock's `call:<function>` directive: the mock answers with that
//! function call first, the agent runs the tool, and the mock then answers with the results as
//! text). Every scenario asserts that the agent exited 0 and printed the mock's answer, and that
//! the mock answered every upstream request 200.
//!
//! The agents see only the gateway: a recording proxy ([`RecordingProxy`]) on loopback is their
//! base URL; HOME and the agents' config directories are fresh temporary directories; their
//! telemetry, update checks and error reporting are off by their documented variables; and
//! `HTTP(S)_PROXY` points at a closed loopback port so that anything else they might try fails
//! at once instead of leaving the machine.
//!
//! With `GEMPOOL_RECORD_AGENT_FIXTURES=1`, the request bodies the agents sent are written to
//! `tests/fixtures/agents/` (what the guest's native translator tests read); do that after
//! bumping an agent.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gempool_tests::harness::{workspace_root, Gateway, GatewayOptions};
use gempool_tests::mock::MockGemini;
use gempool_tests::recorder::{RecordedHttp, RecordingProxy};
use serde_json::{json, Value};

/// How long one agent run may take.
const AGENT_TIMEOUT: Duration = Duration::from_secs(240);
/// A loopback port nothing listens on: the agents' HTTP(S) proxy, so stray traffic fails fast.
const DEAD_PROXY: &str = "http://127.0.0.1:9";

fn agents_dir() -> PathBuf {
    workspace_root().join("tests/agents")
}

/// `tests/agents/node_modules/.bin`, which holds `node` (22), `claude`, `gemini` and `codex`.
fn bin_dir() -> PathBuf {
    let dir = agents_dir().join("node_modules/.bin");
    assert!(
        dir.join("node").is_file() && dir.join("claude").exists(),
        "the coding agents are not installed in {}: run scripts/test (it runs `npm ci` there), or \
         `cd tests/agents && npm ci`",
        dir.display()
    );
    dir
}

/// The installed version of an npm package of `tests/agents`.
fn installed_version(package: &str) -> String {
    let path = agents_dir().join("node_modules").join(package).join("package.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let value: Value = serde_json::from_str(&text).expect("package.json is JSON");
    value["version"].as_str().unwrap_or_default().to_string()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Agent {
    ClaudeCode,
    GeminiCli,
    Codex,
}

impl Agent {
    fn name(self) -> &'static str {
        match self {
            Agent::ClaudeCode => "claude-code",
            Agent::GeminiCli => "gemini-cli",
            Agent::Codex => "codex",
        }
    }

    fn package(self) -> &'static str {
        match self {
            Agent::ClaudeCode => "@anthropic-ai/claude-code",
            Agent::GeminiCli => "@google/gemini-cli",
            Agent::Codex => "@openai/codex",
        }
    }

    /// The path of the requests that carry the conversation.
    fn endpoint(self, request: &RecordedHttp) -> bool {
        match self {
            Agent::ClaudeCode => request.path() == "/v1/messages",
            Agent::GeminiCli => request.path().contains(":streamGenerateContent"),
            Agent::Codex => request.path() == "/v1/responses",
        }
    }
}

/// What one agent run looked like.
struct Run {
    agent: Agent,
    scenario: &'static str,
    success: bool,
    status: String,
    stdout: String,
    stderr: String,
    mock: MockGemini,
    gw: Gateway,
    proxy: RecordingProxy,
    _home: tempfile::TempDir,
}

impl Run {
    /// Everything useful for a failure report.
    fn report(&self, problem: &str) -> String {
        let upstream: Vec<String> = self
            .mock
            .requests()
            .iter()
            .map(|r| format!("{} {} -> {:?}", r.method, r.path, r.status))
            .collect();
        let client: Vec<String> = self
            .proxy
            .requests()
            .iter()
            .map(|r| format!("{} {}", r.method, r.target))
            .collect();
        format!(
            "\n\n{} `{}`: {problem} ({})\n\n=============== agent stdout ===========\n{}\n\
             =============== agent stderr ===========\n{}\n=============== requests the agent sent ===========\n{}\n\
             =============== upstream requests ===========\n{}\n=============== gateway log ===========\n{}",
            self.agent.name(),
            self.scenario,
            self.status,
            self.stdout,
            tail(&self.stderr, 6000),
            client.join("\n"),
            upstream.join("\n"),
            tail(&self.gw.log(), 6000)
        )
    }

    /// Exit 0, `expected` printed, and every upstream request answered 200.
    fn assert_answered(&self, expected: &str) {
        assert!(self.success, "{}", self.report("the agent failed"));
        assert!(
            self.stdout.contains(expected),
            "{}",
            self.report(&format!("the agent did not print {expected:?}"))
        );
        let requests = self.mock.requests();
        assert!(!requests.is_empty(), "{}", self.report("nothing reached the upstream"));
        for r in &requests {
            assert_eq!(
                r.status,
                Some(200),
                "{}",
                self.report(&format!(
                    "the mock rejected {} {}: {}",
                    r.method,
                    r.path,
                    String::from_utf8_lossy(&r.body)
                ))
            );
        }
        self.record_fixtures();
    }

    /// The Gemini models the conversation requests were sent to (generate/stream calls).
    fn upstream_models(&self) -> Vec<String> {
        self.mock
            .requests()
            .iter()
            .filter(|r| r.action().is_some_and(|a| a.contains("enerateContent")))
            .filter_map(|r| r.model().map(str::to_string))
            .collect()
    }

    /// The conversation requests the agent sent, in order.
    fn conversation(&self) -> Vec<RecordedHttp> {
        self.proxy
            .requests()
            .into_iter()
            .filter(|r| r.method == "POST" && self.agent.endpoint(r))
            .collect()
    }

    /// Writes the conversation bodies to `tests/fixtures/agents/` when asked to.
    fn record_fixtures(&self) {
        if std::env::var_os("GEMPOOL_RECORD_AGENT_FIXTURES").is_none_or(|v| v.is_empty() || v == "0") {
            return;
        }
        let dir = workspace_root().join("tests/fixtures/agents");
        std::fs::create_dir_all(&dir).expect("create the fixtures directory");
        let version = installed_version(self.agent.package());
        for (n, request) in self.conversation().iter().enumerate() {
            let name = format!("{}-{version}-{}-{}.json", self.agent.name(), self.scenario, n + 1);
            let body = serde_json::to_string_pretty(&request.json()).expect("serialize a fixture");
            std::fs::write(dir.join(&name), body + "\n").unwrap_or_else(|e| panic!("write {name}: {e}"));
        }
    }
}

fn tail(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// Starts a mock, a gateway with a client key, and a recording proxy; runs the agent with
/// `args` in a fresh HOME and working directory; waits for it.
fn run_agent(agent: Agent, scenario: &'static str, args: &[&str]) -> Run {
    let bin = bin_dir();
    let mock = MockGemini::with_keys(&["k1", "k2"]);
    let gw = Gateway::start(GatewayOptions::with_mock(&mock, &["k1", "k2"]));
    let resp = gw
        .admin("POST", "/admin/api/client-keys")
        .json(&json!({"name": format!("{}-{scenario}", agent.name())}))
        .send();
    resp.assert_status(201);
    let client_key = resp.json()["key"].as_str().expect("a client key").to_string();
    let proxy = RecordingProxy::start(gw.addr());
    let home = tempfile::Builder::new()
        .prefix("gempool-agent-")
        .tempdir()
        .expect("a temporary HOME");
    let work = home.path().join("work");
    std::fs::create_dir_all(&work).expect("a working directory");

    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())
    );
    let mut command = Command::new(bin.join(match agent {
        Agent::ClaudeCode => "claude",
        Agent::GeminiCli => "gemini",
        Agent::Codex => "codex",
    }));
    command
        .args(args)
        .current_dir(&work)
        .env_clear()
        .env("PATH", path)
        .env("HOME", home.path())
        .env("LANG", "C.UTF-8")
        .env("TERM", "dumb")
        .env("NO_COLOR", "1")
        .env("CI", "1")
        .env("HTTP_PROXY", DEAD_PROXY)
        .env("HTTPS_PROXY", DEAD_PROXY)
        .env("http_proxy", DEAD_PROXY)
        .env("https_proxy", DEAD_PROXY)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    configure(agent, &mut command, home.path(), &proxy.url(), &client_key);

    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", agent.name()));
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));
    let deadline = Instant::now() + AGENT_TIMEOUT;
    let (success, status) = loop {
        match child.try_wait() {
            Ok(Some(status)) => break (status.success(), status.to_string()),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                gempool_tests::best_effort(child.kill());
                gempool_tests::best_effort(child.wait());
                break (false, format!("timed out after {AGENT_TIMEOUT:?}"));
            }
            Err(e) => break (false, format!("wait failed: {e}")),
        }
    };
    Run {
        agent,
        scenario,
        success,
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
        mock,
        gw,
        proxy,
        _home: home,
    }
}

/// The environment and config files each agent needs to talk to gempool only (README:
/// "Coding agents").
fn configure(agent: Agent, command: &mut Command, home: &Path, base_url: &str, key: &str) {
    match agent {
        Agent::ClaudeCode => {
            command
                .env("ANTHROPIC_BASE_URL", base_url)
                .env("ANTHROPIC_API_KEY", key)
                .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
                .env("DISABLE_TELEMETRY", "1")
                .env("DISABLE_AUTOUPDATER", "1")
                .env("DISABLE_ERROR_REPORTING", "1");
        }
        Agent::GeminiCli => {
            let dir = home.join(".gemini");
            std::fs::create_dir_all(&dir).expect("create ~/.gemini");
            let settings = json!({
                "security": {"auth": {"selectedType": "gemini-api-key"}},
                "privacy": {"usageStatisticsEnabled": false},
                "telemetry": {"enabled": false},
                "general": {"disableAutoUpdate": true, "disableUpdateNag": true}
            });
            std::fs::write(dir.join("settings.json"), settings.to_string()).expect("write settings.json");
            command
                .env("GEMINI_API_KEY", key)
                .env("GOOGLE_GEMINI_BASE_URL", base_url)
                .env("GEMINI_CLI_TRUST_WORKSPACE", "true");
        }
        Agent::Codex => {
            let codex_home = home.join(".codex");
            std::fs::create_dir_all(&codex_home).expect("create CODEX_HOME");
            let config = format!(
                "model_provider = \"gempool\"\n\
                 check_for_update_on_startup = false\n\n\
                 [model_providers.gempool]\n\
                 name = \"gempool\"\n\
                 base_url = \"{base_url}/v1\"\n\
                 env_key = \"GEMPOOL_API_KEY\"\n\
                 wire_api = \"responses\"\n\n\
                 [analytics]\n\
                 enabled = false\n"
            );
            std::fs::write(codex_home.join("config.toml"), config).expect("write config.toml");
            command.env("CODEX_HOME", &codex_home).env("GEMPOOL_API_KEY", key);
        }
    }
}

fn drain(mut stream: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        gempool_tests::best_effort(stream.read_to_end(&mut bytes));
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

// ---------------------------------------------------------------------------------------------
// Claude Code
// ---------------------------------------------------------------------------------------------

#[test]
fn claude_code_default_model() {
    let run = run_agent(Agent::ClaudeCode, "default", &["-p", "say hello marker-cc1"]);
    run.assert_answered("marker-cc1");
    // Its default model (a current Opus) resolves by family to the pro tier.
    let first = &run.conversation()[0].json();
    assert!(
        first["model"].as_str().is_some_and(|m| m.starts_with("claude-")),
        "{first}"
    );
    assert!(
        run.upstream_models().iter().any(|m| m == "gemini-2.5-pro"),
        "{:?}",
        run.upstream_models()
    );
}

#[test]
fn claude_code_pinned_older_model() {
    let run = run_agent(
        Agent::ClaudeCode,
        "pinned",
        &["-p", "say hello marker-cc2", "--model", "claude-sonnet-4-5-20250929"],
    );
    run.assert_answered("marker-cc2");
    assert_eq!(run.conversation()[0].json()["model"], "claude-sonnet-4-5-20250929");
}

#[test]
fn claude_code_tool_loop() {
    // `Read` on a file that does not exist: the tool runs and reports an error result.
    let run = run_agent(Agent::ClaudeCode, "tool-loop", &["-p", "look it up call:Read"]);
    run.assert_answered("function results: Read=");
    let turns = run.conversation();
    let last = turns.last().expect("a request").json();
    let replayed = last["messages"].to_string();
    assert!(
        replayed.contains("\"tool_use\"") && replayed.contains("\"tool_result\""),
        "{last}"
    );
}

// ---------------------------------------------------------------------------------------------
// Gemini CLI
// ---------------------------------------------------------------------------------------------

#[test]
fn gemini_cli_default_model() {
    let run = run_agent(Agent::GeminiCli, "default", &["-p", "say hello marker-gc1"]);
    run.assert_answered("echo:");
    assert!(run.stdout.contains("marker-gc1"), "{}", run.report("no marker"));
    // Gemini names pass through unchanged.
    assert!(run.upstream_models().iter().all(|m| m.starts_with("gemini-")));
}

#[test]
fn gemini_cli_pinned_older_model() {
    let run = run_agent(
        Agent::GeminiCli,
        "pinned",
        &["-p", "say hello marker-gc2", "-m", "gemini-2.5-flash"],
    );
    run.assert_answered("marker-gc2");
    assert!(
        run.upstream_models().iter().any(|m| m == "gemini-2.5-flash"),
        "{:?}",
        run.upstream_models()
    );
}

#[test]
fn gemini_cli_tool_loop() {
    let run = run_agent(
        Agent::GeminiCli,
        "tool-loop",
        &["-p", "look around call:list_directory"],
    );
    run.assert_answered("function results: list_directory=");
}

// ---------------------------------------------------------------------------------------------
// Codex
// ---------------------------------------------------------------------------------------------

#[test]
fn codex_default_model() {
    let run = run_agent(
        Agent::Codex,
        "default",
        &["exec", "--skip-git-repo-check", "say hello marker-cx1"],
    );
    run.assert_answered("marker-cx1");
    let first = run.conversation()[0].json();
    // Its default model is a new GPT name: resolved by family, not sent to Gemini as is.
    assert!(
        first["model"].as_str().is_some_and(|m| m.starts_with("gpt-")),
        "{first}"
    );
    assert!(
        run.upstream_models().iter().all(|m| m == "gemini-2.5-pro"),
        "{:?}",
        run.upstream_models()
    );
}

#[test]
fn codex_pinned_older_model() {
    let run = run_agent(
        Agent::Codex,
        "pinned",
        &[
            "exec",
            "--skip-git-repo-check",
            "-m",
            "gpt-5-codex",
            "say hello marker-cx2",
        ],
    );
    run.assert_answered("marker-cx2");
    assert_eq!(run.conversation()[0].json()["model"], "gpt-5-codex");
}

#[test]
fn codex_tool_loop() {
    // `sleep` of Codex's `clock` namespace: a namespaced tool round trip.
    let run = run_agent(
        Agent::Codex,
        "tool-loop",
        &["exec", "--skip-git-repo-check", "wait a moment call:clock__sleep"],
    );
    run.assert_answered("function results: clock__sleep=");
    let last = run.conversation().last().expect("a request").json();
    let items = last["input"].as_array().cloned().unwrap_or_default();
    let call = items
        .iter()
        .find(|i| i["type"] == "function_call")
        .unwrap_or_else(|| panic!("no function_call replayed: {last}"));
    assert_eq!((&call["name"], &call["namespace"]), (&json!("sleep"), &json!("clock")));
    assert!(items.iter().any(|i| i["type"] == "function_call_output"), "{last}");
}
