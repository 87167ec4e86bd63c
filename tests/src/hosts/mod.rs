//! Runs gempool's components in real hosts for the `hosts` test target (`tests/tests/hosts.rs`).
//!
//! A host is a [`HostKind`]: its name (what `GEMPOOL_HOST` selects), the world of the component
//! it runs ([`World::Gateway`]: `dist/gempool.wasm`, or [`World::Edge`]:
//! `dist/gempool-edge.wasm`), whether its state survives a restart, and how to launch it. One
//! module per host: [`gempool`] (the bundled binary), [`jco`] (`jco serve`), [`spin`]
//! (`spin up`), [`wasmtime_serve`] (`wasmtime serve`), [`workers`] (`wrangler dev` with D1). [`selected`] reads `GEMPOOL_HOST` (one
//! name or a comma list; default `gempool`); an unknown name, or a host whose binary or tool is
//! missing, panics: a host asked for is never skipped.
//!
//! Scenarios hold a [`Host`]: a running host process with its state directory, restartable on
//! the same state. Gateway hosts get their upstream keys through the admin API, so every host is
//! driven the same way.

pub mod gempool;
pub mod jco;
pub mod spin;
pub mod wasmtime_serve;
pub mod workers;

use crate::harness::{workspace_root, TEST_ADMIN_KEY};
use crate::http::{Client, LogHandle, RequestBuilder};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which component a host runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum World {
    /// `dist/gempool.wasm`: the full gateway (SQL state, variables).
    Gateway,
    /// `dist/gempool-edge.wasm`: stateless, `wasi:http/proxy` only, the caller's own keys.
    Edge,
}

/// What a host is launched with.
#[derive(Debug, Clone)]
pub struct LaunchConfig {
    /// The Gemini upstream (the mock): `http://127.0.0.1:PORT`.
    pub upstream_url: String,
    /// The admin key (gateway world).
    pub admin_key: String,
    /// Kept across [`Host::restart`]: hosts keep their state (SQLite files) here.
    pub state_dir: PathBuf,
    /// The component for the host's world ([`component`]).
    pub component: PathBuf,
    /// A free loopback port picked for this launch.
    pub port: u16,
}

/// A kind of host gempool runs in.
pub trait HostKind: Send + Sync {
    /// The name `GEMPOOL_HOST` selects it by.
    fn name(&self) -> &'static str;
    /// The world of the component it runs.
    fn world(&self) -> World;
    /// Whether state survives a restart of the host.
    fn stateful(&self) -> bool {
        self.world() == World::Gateway
    }
    /// Whether the host's binaries and tools are present; the error says how to get them.
    fn check(&self) -> Result<(), String>;
    /// Starts the host; returns once it answers `GET /health`.
    fn launch(&self, config: &LaunchConfig) -> Result<Process, String>;
}

/// The host named `name`, if there is one.
pub fn kind_named(name: &str) -> Option<&'static dyn HostKind> {
    match name {
        "gempool" => Some(&gempool::Gempool),
        "jco" => Some(&jco::Jco),
        "spin" => Some(&spin::Spin),
        "wasmtime-serve" => Some(&wasmtime_serve::WasmtimeServe),
        "workers" => Some(&workers::Workers),
        _ => None,
    }
}

/// The hosts `GEMPOOL_HOST` asks for (default `gempool`). Panics on an unknown name or a host
/// that cannot run here: a host asked for is never skipped.
pub fn selected() -> Vec<&'static dyn HostKind> {
    let wanted = std::env::var("GEMPOOL_HOST").unwrap_or_default();
    let wanted = if wanted.trim().is_empty() {
        "gempool".to_owned()
    } else {
        wanted
    };
    wanted
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|name| {
            let kind = kind_named(name).unwrap_or_else(|| {
                panic!(
                    "GEMPOOL_HOST names an unknown host {name:?}; known: gempool, jco, spin, wasmtime-serve, workers"
                )
            });
            if let Err(missing) = kind.check() {
                panic!("GEMPOOL_HOST asks for {name}, which cannot run here: {missing}");
            }
            kind
        })
        .collect()
}

/// The selected hosts that run `world`.
pub fn selected_for(world: World) -> Vec<&'static dyn HostKind> {
    selected().into_iter().filter(|k| k.world() == world).collect()
}

/// A built distributable component: `$GEMPOOL_DIST` or `<workspace>/dist`. Panics when it is
/// missing.
pub fn component(world: World) -> PathBuf {
    let dir = std::env::var_os("GEMPOOL_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("dist"));
    let path = dir.join(match world {
        World::Gateway => "gempool.wasm",
        World::Edge => "gempool-edge.wasm",
    });
    assert!(
        path.is_file(),
        "{} is missing: run scripts/build-components first",
        path.display()
    );
    path
}

/// A copy of the edge component in `dir` whose upstream slot points at `upstream_url` (the
/// edge has no configuration interface; see `gempool_guest::edge`).
pub fn edge_component_for(upstream_url: &str, dir: &Path) -> Result<PathBuf, String> {
    let source = component(World::Edge);
    let mut wasm = std::fs::read(&source).map_err(|e| format!("reading {}: {e}", source.display()))?;
    gempool_guest::edge::set_upstream(&mut wasm, upstream_url).map_err(|e| e.to_string())?;
    let path = dir.join("gempool-edge.wasm");
    std::fs::write(&path, wasm).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(path)
}

/// A free loopback port (bound and released; hosts that take `:0` do not need it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a loopback port")
}

/// A binary from an environment variable, else from `PATH`; the error says how to get it.
pub fn binary(env: &str, name: &str, how: &str) -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(env).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("{env}={} is not a file", path.display()))
        };
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("`{name}` is not on PATH and {env} is not set; {how}"))
}

/// A host process: its child, its captured output, its base URL.
pub struct Process {
    child: Option<Child>,
    url: String,
    log: LogHandle,
}

impl Process {
    /// Spawns `command` with stdout and stderr captured; `url` is where it will serve.
    pub fn spawn(mut command: Command, url: String) -> Result<Process, String> {
        let log = LogHandle::default();
        log.push_line(&format!("$ {command:?}"));
        let mut child = command
            // Its own process group, so stopping it also stops what it started (wrangler's
            // workerd, jco's workers).
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {:?}: {e}", command.get_program()))?;
        capture(child.stdout.take(), log.clone());
        capture(child.stderr.take(), log.clone());
        Ok(Process {
            child: Some(child),
            url,
            log,
        })
    }

    /// Waits until `GET /health` answers 200; on failure stops the process and says why, with
    /// its output.
    pub fn wait_healthy(mut self, timeout: Duration) -> Result<Process, String> {
        let client = Client::new(self.url.clone());
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                std::thread::sleep(Duration::from_millis(100));
                return Err(format!("exited before serving ({status})\n{}", self.log()));
            }
            match client.get("/health").timeout(Duration::from_secs(2)).try_send() {
                Ok(r) if r.status == 200 => return Ok(self),
                _ if Instant::now() >= deadline => {
                    self.stop();
                    return Err(format!(
                        "GET /health did not answer 200 within {timeout:?}\n{}",
                        self.log()
                    ));
                }
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// The base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Everything the process printed so far.
    pub fn log(&self) -> String {
        self.log.snapshot()
    }

    /// The log handle (for clients whose failures should show it).
    pub fn log_handle(&self) -> LogHandle {
        self.log.clone()
    }

    /// SIGTERM to its process group, then SIGKILL to the group after 10 s.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        signal_group(child.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Children (workerd) may outlive the leader: end the whole group.
        signal_group(child.id(), "KILL");
        crate::best_effort(child.kill());
        crate::best_effort(child.wait());
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal_group(child.id(), "KILL");
            crate::best_effort(child.kill());
            crate::best_effort(child.wait());
        }
    }
}

/// Sends `signal` to process group `group` with the shell's builtin `kill` (the crate forbids
/// the unsafe `libc::kill`; dash takes a negative pid as a group, and no `--`).
fn signal_group(group: u32, signal: &str) {
    crate::best_effort(
        Command::new("sh")
            .args(["-c", &format!("kill -{signal} -{group} 2>/dev/null")])
            .status(),
    );
}

fn capture(stream: Option<impl Read + Send + 'static>, log: LogHandle) {
    let Some(stream) = stream else { return };
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            log.push_line(&line);
        }
    });
}

/// A running host, as a scenario holds it.
pub struct Host {
    kind: &'static dyn HostKind,
    config: LaunchConfig,
    process: Process,
    _state: tempfile::TempDir,
}

impl Host {
    /// Starts `kind` against `upstream_url` on a fresh state directory; panics with the host's
    /// output when it does not come up.
    pub fn start(kind: &'static dyn HostKind, upstream_url: &str) -> Host {
        let state = tempfile::Builder::new()
            .prefix(&format!("gempool-host-{}-", kind.name()))
            .tempdir()
            .expect("create a state directory");
        let config = LaunchConfig {
            upstream_url: upstream_url.to_owned(),
            admin_key: TEST_ADMIN_KEY.to_owned(),
            state_dir: state.path().to_path_buf(),
            component: component(kind.world()),
            port: free_port(),
        };
        let process = kind
            .launch(&config)
            .unwrap_or_else(|e| panic!("\n\n{} did not start: {e}", kind.name()));
        Host {
            kind,
            config,
            process,
            _state: state,
        }
    }

    /// The kind of host.
    pub fn kind(&self) -> &'static dyn HostKind {
        self.kind
    }

    /// Stops the host and starts it again on the same state directory (and a new port).
    pub fn restart(&mut self) {
        self.process.stop();
        self.config.port = free_port();
        self.process = self
            .kind
            .launch(&self.config)
            .unwrap_or_else(|e| panic!("\n\n{} did not restart: {e}", self.kind.name()));
    }

    /// The base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        self.process.url()
    }

    /// A client for the host, whose failures show the host's output.
    pub fn client(&self) -> Client {
        Client::new(self.process.url().to_owned()).with_log(self.process.log_handle())
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> RequestBuilder {
        self.client().get(path)
    }

    /// `POST path`.
    pub fn post(&self, path: &str) -> RequestBuilder {
        self.client().post(path)
    }

    /// A request with the admin key.
    pub fn admin(&self, method: &str, path: &str) -> RequestBuilder {
        self.client().request(method, path).bearer(&self.config.admin_key)
    }

    /// Adds upstream keys through the admin API (gateway world).
    pub fn add_keys(&self, keys: &[&str]) {
        self.admin("POST", "/admin/api/keys")
            .json(&serde_json::json!({ "keys": keys }))
            .send()
            .assert_success();
    }

    /// Creates a client key through the admin API and returns its secret.
    pub fn client_key(&self) -> String {
        let created = self
            .admin("POST", "/admin/api/client-keys")
            .json(&serde_json::json!({ "name": "hosts-test" }))
            .send();
        created.assert_success();
        let value = created.json();
        value["key"]
            .as_str()
            .unwrap_or_else(|| created.fail("no client key in the answer"))
            .to_owned()
    }

    /// Everything the host printed so far.
    pub fn log(&self) -> String {
        self.process.log()
    }
}
