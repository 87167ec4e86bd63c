//! `gempool-bench` (`src/bin/gempool-bench.rs` runs [`main`]): measures the gateway against the mock Gemini on loopback and prints a table.
//!
//! It starts the in-process mock ([`MockGemini`]), `gempool serve --open` on a temporary data
//! file pooling keys k1..k4 (the release binary: `$GEMPOOL_BIN` or `target/release/gempool`,
//! through [`Gateway`]) and, with `--nginx`, an nginx `proxy_pass` to the mock as a floor. Then,
//! for `POST /v1beta/models/gemini-2.5-flash:generateContent` with a ~1 KB JSON body, against
//! each target (direct to the mock, nginx, gempool):
//!
//! * **saturation**: a closed loop on `--connections` keep-alive connections for `--duration`
//!   after `--warmup`; requests/s counts responses completed after the warm-up;
//! * **open loop**: `--rate` requests/s sent on a fixed schedule for `--duration` whatever the
//!   completions (a pool of `--open-connections` connections; a request waiting for a free one
//!   waits on the clock), latency measured from the *scheduled* send time (no coordinated
//!   omission); p50/p90/p99/max.
//!
//! Then, through gempool and direct: time to first body byte of
//! `:streamGenerateContent?alt=sse` (sequential requests), and the closed-loop throughput of the
//! OpenAI route `/v1/chat/completions` next to the native route (the translation cost). Last,
//! `GET /metrics` (mean instantiation time, mean time to response head, per phase), the gempool
//! process's peak RSS (`VmHWM`) and the component's size.
//!
//! Every loop is bounded by a deadline and every request by a timeout; all traffic goes to
//! 127.0.0.1. `--json FILE` also writes the figures as JSON (used by the smoke test).

mod args;
mod load;
mod nginx;
mod report;
pub mod system;

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream as StdTcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::harness::{workspace_root, Gateway, GatewayOptions};
use crate::mock::{MockGemini, MockOptions};
use anyhow::{bail, Context};
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpStream;

use args::Args;
use load::*;
use nginx::Nginx;
use report::Report;
use system::*;

const KEYS: [&str; 4] = ["k1", "k2", "k3", "k4"];
const MODEL_PATH: &str = "/v1beta/models/gemini-2.5-flash";
/// No single request may take longer than this; a slower one counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Extra time a phase may take after its deadline (draining in-flight requests) before it is cut.
const DRAIN_GRACE: Duration = Duration::from_secs(15);

/// Parses the command line and runs the benchmark; fails when some request failed.
pub fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    args.apply_quick();
    if let Some(bin) = &args.gempool_bin {
        std::env::set_var("GEMPOOL_BIN", bin);
    }
    let failed = run(&args)?;
    if failed {
        bail!("some requests failed (see the table)");
    }
    Ok(())
}

/// Runs everything; true when some request failed or answered other than 200.
fn run(args: &Args) -> anyhow::Result<bool> {
    let mock = MockGemini::start_with(MockOptions {
        keys: KEYS.iter().map(|k| k.to_string()).collect(),
        worker_threads: args.mock_threads.max(1),
        record_limit: 1,
        ..MockOptions::default()
    })
    .context("starting the mock")?;
    let gateway = Gateway::start(GatewayOptions::with_mock(&mock, &KEYS).open());
    let gempool_pid = gateway.pid().context("gempool has no pid")?;
    let nginx = if args.nginx {
        Some(Nginx::start(&args.nginx_bin, mock.addr())?)
    } else {
        None
    };

    let mut targets = vec![Target {
        name: "direct",
        addr: mock.addr(),
        api_key: Some("k1"),
    }];
    if let Some(nginx) = &nginx {
        targets.push(Target {
            name: "nginx",
            addr: nginx.addr,
            api_key: Some("k1"),
        });
    }
    let gempool = Target {
        name: "gempool",
        addr: gateway.addr(),
        api_key: None,
    };
    targets.push(gempool.clone());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads.max(1))
        .enable_all()
        .build()?;
    let native = Call {
        path: format!("{MODEL_PATH}:generateContent"),
        body: Bytes::from(generate_body(args.body_bytes)),
    };
    let stream = Call {
        path: format!("{MODEL_PATH}:streamGenerateContent?alt=sse"),
        body: native.body.clone(),
    };
    let openai = Call {
        path: "/v1/chat/completions".to_string(),
        body: Bytes::from(openai_body(args.body_bytes)),
    };

    // Check every route answers before measuring anything.
    runtime.block_on(async {
        for target in &targets {
            preflight(target, &native).await?;
        }
        preflight(&gempool, &openai).await
    })?;

    let metrics_addr = (gateway.addr(), gateway.admin_key().unwrap_or_default().to_owned());
    let mut report = Report::new(args, &targets);
    report.loadavg_before = loadavg();
    let startup_rss = proc_status_kib(gempool_pid, "VmHWM");
    for (i, target) in targets.iter().enumerate() {
        eprintln!("[bench] {}: saturation ({} connections)", target.name, args.connections);
        let before = scrape(&metrics_addr)?;
        let cpu = Cpu::sample(gempool_pid);
        report.saturation[i] = runtime.block_on(saturation(target, &native, args))?;
        report.cpu_saturation[i] = CpuUse::between(cpu, Cpu::sample(gempool_pid), report.saturation[i].tally.ok);
        if target.name == "gempool" {
            report.metrics_saturation = Some(scrape(&metrics_addr)?.minus(before));
        }
        eprintln!("[bench] {}: open loop at {} rps", target.name, args.rate);
        let before = scrape(&metrics_addr)?;
        let cpu = Cpu::sample(gempool_pid);
        report.open_loop[i] = runtime.block_on(open_loop(target, &native, args))?;
        report.cpu_open_loop[i] = CpuUse::between(cpu, Cpu::sample(gempool_pid), report.open_loop[i].tally.ok);
        if target.name == "gempool" {
            report.metrics_open_loop = Some(scrape(&metrics_addr)?.minus(before));
        }
    }
    let direct = targets[0].clone();
    eprintln!("[bench] streaming: time to first byte");
    report.stream_direct = runtime.block_on(streaming(&direct, &stream, args.stream_requests))?;
    report.stream_gempool = runtime.block_on(streaming(&gempool, &stream, args.stream_requests))?;
    eprintln!("[bench] gempool: OpenAI chat completions saturation");
    let before = scrape(&metrics_addr)?;
    let cpu = Cpu::sample(gempool_pid);
    report.openai = runtime.block_on(saturation(&gempool, &openai, args))?;
    report.cpu_openai = CpuUse::between(cpu, Cpu::sample(gempool_pid), report.openai.tally.ok);
    report.metrics_openai = Some(scrape(&metrics_addr)?.minus(before));
    report.metrics_total = scrape(&metrics_addr)?;
    report.loadavg_after = loadavg();
    report.startup_hwm_kib = startup_rss;
    report.peak_hwm_kib = proc_status_kib(gempool_pid, "VmHWM");
    report.rss_kib = proc_status_kib(gempool_pid, "VmRSS");
    report.component_bytes = component_path(args)
        .and_then(|p| std::fs::metadata(p).ok())
        .map(|m| m.len());
    report.binary_bytes = std::fs::metadata(crate::harness::gempool_bin()).ok().map(|m| m.len());
    drop(runtime);

    print!("{}", report.table());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report.json())?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(report.failed())
}
