//! Runs gempool as a Cloudflare Worker under local `wrangler dev` (workerd with local D1), for
//! the `workers` host of the hosts test target and the Workers benchmark.
//!
//! [`prepare`] transpiles the gateway component with `deploy/cloudflare`'s build (jco, once per
//! test process); [`WranglerDev::start`] runs `wrangler dev` on a loopback port with D1 persisted
//! to a directory, the component's variables passed as `--var`, and waits until `GET /health`
//! answers 200. Wrangler 4 needs Node >= 22: the Node of the npm package `node` installed in
//! `deploy/cloudflare/node_modules` (by `npm ci` there, which `scripts/test` runs).
//! Wrangler and its workerd run in their own process group, stopped together.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::harness::workspace_root;
use crate::http::{Client, LogHandle};

/// `deploy/cloudflare` of this workspace.
pub fn cloudflare_dir() -> PathBuf {
    workspace_root().join("deploy/cloudflare")
}

/// Node 22 from `deploy/cloudflare/node_modules`, or why it is missing.
pub fn node() -> Result<PathBuf, String> {
    let node = cloudflare_dir().join("node_modules/.bin/node");
    let wrangler = cloudflare_dir().join("node_modules/wrangler/bin/wrangler.js");
    if node.is_file() && wrangler.is_file() {
        Ok(node)
    } else {
        Err(format!(
            "wrangler or Node 22 is not installed in {}: run `npm ci` there (scripts/test does)",
            cloudflare_dir().display()
        ))
    }
}

/// Transpiles `component` into `deploy/cloudflare/gen` (once per process; later calls return
/// the first outcome).
pub fn prepare(component: &Path) -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let node = node()?;
        let output = Command::new(&node)
            .arg("scripts/build.mjs")
            .current_dir(cloudflare_dir())
            .env("GEMPOOL_COMPONENT", component)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", node.display()))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "npm run build (jco transpile of {}) failed:\n{}{}",
                component.display(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    })
    .clone()
}

/// `wrangler d1 migrations apply gempool --local` on the local D1 kept in `state_dir` (what a
/// deployment may run before the Worker's first request).
pub fn apply_migrations(state_dir: &Path) -> Result<String, String> {
    let node = node()?;
    let output = Command::new(&node)
        .current_dir(cloudflare_dir())
        .args([
            "node_modules/wrangler/bin/wrangler.js",
            "d1",
            "migrations",
            "apply",
            "gempool",
            "--local",
        ])
        .arg("--persist-to")
        .arg(state_dir)
        .env("WRANGLER_SEND_METRICS", "false")
        .env("CI", "1")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run wrangler: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() {
        Ok(text)
    } else {
        Err(format!("wrangler d1 migrations apply failed:\n{text}"))
    }
}

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a loopback port")
}

/// How to run `wrangler dev`.
#[derive(Debug, Clone)]
pub struct DevOptions {
    /// Loopback port to serve on.
    pub port: u16,
    /// `--persist-to`: local D1 (and other state) lives here across restarts.
    pub state_dir: PathBuf,
    /// Worker variables and secrets (`--var name:value`): `upstream_url`, `admin_key`, ...
    pub vars: Vec<(String, String)>,
    /// How long to wait for `/health`.
    pub startup_timeout: Duration,
    /// Another Worker script than wrangler.toml's `main` (relative to `deploy/cloudflare`).
    pub script: Option<PathBuf>,
}

impl DevOptions {
    /// Options for a gateway against `upstream_url` with `admin_key`, state in `state_dir`.
    pub fn new(upstream_url: &str, admin_key: &str, state_dir: &Path) -> DevOptions {
        DevOptions {
            port: free_port(),
            state_dir: state_dir.to_path_buf(),
            vars: vec![
                ("upstream_url".into(), upstream_url.into()),
                ("admin_key".into(), admin_key.into()),
                ("open_access".into(), "false".into()),
            ],
            startup_timeout: Duration::from_secs(90),
            script: None,
        }
    }
}

/// A running `wrangler dev`.
pub struct WranglerDev {
    child: Option<Child>,
    log: LogHandle,
    url: String,
}

impl WranglerDev {
    /// Builds the command line (run from `deploy/cloudflare`).
    pub fn command(options: &DevOptions) -> Result<Command, String> {
        let node = node()?;
        let mut command = Command::new(node);
        command
            .current_dir(cloudflare_dir())
            .arg("node_modules/wrangler/bin/wrangler.js")
            .arg("dev")
            .args(options.script.iter())
            .args(["--ip", "127.0.0.1", "--port", &options.port.to_string()])
            .args(["--inspector-port", &free_port().to_string()])
            .arg("--persist-to")
            .arg(&options.state_dir)
            .arg("--show-interactive-dev-session=false");
        for (name, value) in &options.vars {
            command.arg("--var").arg(format!("{name}:{value}"));
        }
        command
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CI", "1")
            .env("NO_COLOR", "1")
            .env("FORCE_COLOR", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Wrangler and the workerd it starts are stopped together.
            .process_group(0);
        Ok(command)
    }

    /// Starts `wrangler dev` and waits until `/health` answers 200.
    pub fn start(options: &DevOptions) -> Result<WranglerDev, String> {
        std::fs::create_dir_all(&options.state_dir).map_err(|e| e.to_string())?;
        let mut command = Self::command(options)?;
        let log = LogHandle::default();
        let mut child = command.spawn().map_err(|e| format!("cannot start wrangler dev: {e}"))?;
        spawn_reader(child.stdout.take().expect("piped"), log.clone());
        spawn_reader(child.stderr.take().expect("piped"), log.clone());
        let mut dev = WranglerDev {
            child: Some(child),
            log,
            url: format!("http://127.0.0.1:{}", options.port),
        };
        let deadline = Instant::now() + options.startup_timeout;
        let client = Client::new(dev.url.clone());
        loop {
            if let Some(Ok(Some(status))) = dev.child.as_mut().map(Child::try_wait) {
                return Err(format!("wrangler dev exited ({status}):\n{}", dev.log()));
            }
            if dev.log.contains("Ready on") {
                match client.get("/health").timeout(Duration::from_secs(10)).try_send() {
                    Ok(r) if r.status == 200 => return Ok(dev),
                    _ => {}
                }
            }
            if Instant::now() >= deadline {
                dev.stop();
                return Err(format!("wrangler dev did not answer /health in time:\n{}", dev.log()));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// What wrangler and the Worker printed.
    pub fn log(&self) -> String {
        self.log.snapshot()
    }

    /// The live log.
    pub fn log_handle(&self) -> LogHandle {
        self.log.clone()
    }

    /// Stops wrangler and workerd (SIGTERM to the group, then SIGKILL after 10 s).
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let group = child.id();
        let signal = |sig: &str| {
            crate::best_effort(
                Command::new("sh")
                    // dash's `kill` takes a negative pid as a group, and no `--`.
                    .args(["-c", &format!("kill -{sig} -{group} 2>/dev/null")])
                    .status(),
            );
        };
        signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // workerd may outlive wrangler's node process: end the whole group.
        signal("KILL");
        crate::best_effort(child.kill());
        crate::best_effort(child.wait());
    }
}

impl WranglerDev {
    /// The workerd processes wrangler started (in its process group).
    pub fn workerd_pids(&self) -> Vec<u32> {
        let Some(group) = self.child.as_ref().map(|c| c.id().to_string()) else {
            return Vec::new();
        };
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|entry| {
                let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
                let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
                let (comm, rest) = stat.split_once(") ")?;
                let fields: Vec<&str> = rest.split_whitespace().collect();
                // After the command: state, ppid, pgrp.
                (comm.ends_with("(workerd") && fields.get(2) == Some(&group.as_str())).then_some(pid)
            })
            .collect()
    }

    /// CPU time all of wrangler's workerd processes have used so far.
    pub fn workerd_cpu(&self) -> Duration {
        self.workerd_pids().into_iter().filter_map(cpu_time).sum()
    }
}

/// CPU time (user + system) a process has used so far, from `/proc/PID/stat`.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(") ")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let hz = clock_ticks_per_second();
    Some(Duration::from_secs_f64(ticks as f64 / hz as f64))
}

/// `getconf CLK_TCK` (100 on Linux unless told otherwise).
fn clock_ticks_per_second() -> u64 {
    static HZ: OnceLock<u64> = OnceLock::new();
    *HZ.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100)
    })
}

impl Drop for WranglerDev {
    fn drop(&mut self) {
        self.stop();
    }
}

fn spawn_reader(stream: impl Read + Send + 'static, log: LogHandle) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            log.push_line(&line);
        }
    });
}
