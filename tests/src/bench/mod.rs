//! `gempool-bench` (`src/bin/gempool-bench.rs` runs [`main`]): measures the gateway on loopback
//! next to a direct call, nginx and LiteLLM, and prints a table.
//!
//! The upstream is the in-process mock ([`MockGemini`], `--upstream mock`, the default) or a
//! built-in static Gemini-shaped server (`--upstream static`: fixed answers, so no proxy waits on
//! the mock's work). Against it: `gempool serve --open` on a temporary data file pooling keys
//! k1..k4 (the release binary: `$GEMPOOL_BIN` or `target/release/gempool`, through [`Gateway`]);
//! with `--nginx`, an nginx `proxy_pass`; and, when `litellm` is importable, LiteLLM's proxy with
//! the same four keys (one worker). Columns: direct (to the upstream), nginx, gempool on the
//! native route (`POST /v1beta/models/gemini-2.5-flash:generateContent`, ~1 KB JSON body),
//! gempool on the OpenAI route (`/v1/chat/completions`, same prompt), LiteLLM on the OpenAI route.
//! For each:
//!
//! * **saturation**: a closed loop on `--connections` keep-alive connections for `--duration`
//!   after `--warmup`; requests/s counts responses completed after the warm-up;
//! * **one connection**: the same closed loop on a single connection (the latency a proxy adds
//!   to one request);
//! * **open loop**: `--rate` requests/s (LiteLLM: `--litellm-rate`) sent on a fixed schedule for
//!   `--duration` whatever the completions (a pool of `--open-connections` connections; a request
//!   waiting for a free one waits on the clock), latency measured from the *scheduled* send time
//!   (no coordinated omission); p50/p90/p99/max.
//!
//! Around each phase: the CPU time (utime + stime) of the proxy's process tree, per request, and
//! for gempool `GET /metrics` (instantiation time, time to response head, SQL statements and
//! writes per request). Then, through gempool and direct: time to first body byte of
//! `:streamGenerateContent?alt=sse` (sequential requests). Last, each proxy's peak RSS and the
//! component's size; a side-by-side summary like issue 10's table.
//!
//! Every loop is bounded by a deadline and every request by a timeout; all traffic goes to
//! 127.0.0.1. `--json FILE` also writes the figures as JSON (used by the smoke test).

mod args;
mod litellm;
mod load;
mod nginx;
mod report;
pub mod system;
mod upstream;

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

use args::{Args, UpstreamKind};
use litellm::LiteLlm;
use load::*;
use nginx::Nginx;
use report::{Measured, PhaseCost, Report};
use system::*;
use upstream::StaticUpstream;

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

/// A proxy (or the upstream itself) measured on one route: a column of the table.
#[derive(Clone)]
struct Column {
    target: Target,
    call: Call,
    /// The root of the process tree whose CPU and memory are this column's (none for direct).
    pid: Option<u32>,
    /// Requests/s of the open loop.
    rate: u32,
    /// gempool: scrape `/metrics` around each phase.
    scrape: bool,
}

/// How the proxies' upstream runs.
enum Upstream {
    Mock(MockGemini),
    Static(StaticUpstream),
}

impl Upstream {
    fn addr(&self) -> SocketAddr {
        match self {
            Upstream::Mock(m) => m.addr(),
            Upstream::Static(s) => s.addr,
        }
    }

    fn url(&self) -> String {
        match self {
            Upstream::Mock(m) => m.url(),
            Upstream::Static(s) => s.url(),
        }
    }
}

/// Runs everything; true when some request failed or answered other than 200.
fn run(args: &Args) -> anyhow::Result<bool> {
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

    let upstream = match args.upstream {
        UpstreamKind::Mock => Upstream::Mock(
            MockGemini::start_with(MockOptions {
                keys: KEYS.iter().map(|k| k.to_string()).collect(),
                worker_threads: args.mock_threads.max(1),
                record_limit: 1,
                ..MockOptions::default()
            })
            .context("starting the mock")?,
        ),
        // The answer's text as long as the prompt's, like the mock's echo.
        UpstreamKind::Static => Upstream::Static(StaticUpstream::start(prompt_len(&native.body))?),
    };
    let gateway = Gateway::start(
        GatewayOptions {
            keys: KEYS.iter().map(|k| k.to_string()).collect(),
            ..GatewayOptions::new(upstream.url())
        }
        .open(),
    );
    let gempool_pid = gateway.pid().context("gempool has no pid")?;
    let nginx = if args.nginx {
        Some(Nginx::start(&args.nginx_bin, upstream.addr())?)
    } else {
        None
    };
    // LiteLLM: found now (a failure is a one-line note), started right before its column.
    let litellm_found = if args.no_litellm {
        Err("skipped (--no-litellm)".to_string())
    } else if args.quick && args.litellm_python.is_none() {
        Err("skipped (--quick without --litellm-python)".to_string())
    } else {
        match (litellm::find(args.litellm_python.as_deref()), &args.litellm_python) {
            (Err(why), Some(_)) => bail!("LiteLLM: {why}"),
            (found, _) => found,
        }
    };
    if let Err(why) = &litellm_found {
        eprintln!("[bench] LiteLLM column: {why}");
    }

    let direct = Column {
        target: Target {
            name: "direct",
            addr: upstream.addr(),
            api_key: Some("k1"),
            bearer: None,
        },
        call: native.clone(),
        pid: None,
        rate: args.rate,
        scrape: false,
    };
    let mut columns = vec![direct.clone()];
    if let Some(nginx) = &nginx {
        columns.push(Column {
            target: Target {
                name: "nginx",
                addr: nginx.addr,
                api_key: Some("k1"),
                bearer: None,
            },
            pid: nginx.child.as_ref().map(Child::id),
            ..direct.clone()
        });
    }
    let gempool = Column {
        target: Target {
            name: "gempool",
            addr: gateway.addr(),
            api_key: None,
            bearer: None,
        },
        call: native.clone(),
        pid: Some(gempool_pid),
        rate: args.rate,
        scrape: true,
    };
    columns.push(gempool.clone());
    columns.push(Column {
        target: Target {
            name: "gempool-openai",
            ..gempool.target.clone()
        },
        call: openai.clone(),
        ..gempool.clone()
    });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads.max(1))
        .enable_all()
        .build()?;
    // Check every route answers before measuring anything.
    runtime.block_on(async {
        for column in &columns {
            preflight(&column.target, &column.call).await?;
        }
        anyhow::Ok(())
    })?;

    let metrics_addr = (gateway.addr(), gateway.admin_key().unwrap_or_default().to_owned());
    let mut report = Report::new(args);
    report.loadavg_before = loadavg();
    report.startup_hwm_kib = proc_status_kib(gempool_pid, "VmHWM");
    for column in &columns {
        if column.target.name == "gempool-openai" {
            // The native phases and the streams ran through the same process: its peak so far
            // is theirs; reset it so that the OpenAI column's peak is its own.
            report.openai_peak_reset = reset_peak_rss(gempool_pid);
        }
        let measured = measure(&runtime, column, args, &metrics_addr)?;
        report.columns.push(measured);
        if column.target.name == "direct" && litellm_found.is_ok() && args.litellm_rate != args.rate {
            eprintln!(
                "[bench] direct: open loop at {} rps (LiteLLM's rate)",
                args.litellm_rate
            );
            let mut slow = args.clone();
            slow.rate = args.litellm_rate;
            report.direct_at_litellm_rate = Some(runtime.block_on(open_loop(&column.target, &column.call, &slow))?);
        }
        if column.target.name == "gempool" {
            eprintln!("[bench] streaming: time to first byte");
            report.stream_direct = runtime.block_on(streaming(&direct.target, &stream, args.stream_requests))?;
            report.stream_gempool = runtime.block_on(streaming(&gempool.target, &stream, args.stream_requests))?;
            if let Some(last) = report.columns.last_mut() {
                last.peak_rss_kib = tree_status_kib(gempool_pid, "VmHWM");
            }
        }
    }
    report.metrics_total = scrape(&metrics_addr)?;
    report.rss_kib = proc_status_kib(gempool_pid, "VmRSS");

    match litellm_found {
        Err(why) => report.litellm = Some(format!("LiteLLM: {why}")),
        Ok(found) => {
            eprintln!(
                "[bench] LiteLLM {}: starting ({})",
                found.version,
                found.python.display()
            );
            match LiteLlm::start(&found, &upstream.url()) {
                Err(e) if args.litellm_python.is_some() => return Err(e.context("starting LiteLLM")),
                Err(e) => {
                    eprintln!("[bench] LiteLLM column skipped: {e:#}");
                    report.litellm = Some(format!("LiteLLM {}: did not start", found.version));
                }
                Ok(proxy) => {
                    let column = Column {
                        target: Target {
                            name: "litellm",
                            addr: proxy.addr,
                            api_key: None,
                            bearer: Some(proxy.master_key.clone()),
                        },
                        call: openai.clone(),
                        pid: proxy.pid(),
                        rate: args.litellm_rate,
                        scrape: false,
                    };
                    let checked = runtime.block_on(preflight(&column.target, &column.call));
                    if let Err(e) = checked {
                        bail!("LiteLLM does not answer: {e:#}\n{}", proxy.log_tail());
                    }
                    eprintln!("[bench] litellm: warm-up ({} s, not counted)", args.litellm_warmup);
                    let mut warmup = args.clone();
                    (warmup.warmup, warmup.duration) = (0.0, args.litellm_warmup);
                    let warm = runtime.block_on(saturation(&column.target, &column.call, &warmup, args.connections))?;
                    // Failures here count like any other phase's (the table still prints).
                    report.litellm_warmup = Some(warm.tally);
                    report.columns.push(measure(&runtime, &column, args, &metrics_addr)?);
                    report.litellm = Some(format!(
                        "LiteLLM {} ({}): 1 worker, 4 deployments of gemini/gemini-2.5-flash (keys k1..k4), simple-shuffle, api_base = the upstream, a master key, no database",
                        found.version,
                        found.python.display()
                    ));
                }
            }
        }
    }
    report.loadavg_after = loadavg();
    if let Upstream::Static(s) = &upstream {
        report.upstream = s.summary();
    }
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

/// The length of the prompt's text in a generateContent body.
fn prompt_len(body: &[u8]) -> usize {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/contents/0/parts/0/text")
                .and_then(Value::as_str)
                .map(str::len)
        })
        .unwrap_or(900)
}

/// Runs one phase of `column`, with the proxy's CPU per request and (gempool) the `/metrics`
/// difference over it.
fn around<T>(
    column: &Column,
    metrics_addr: &(SocketAddr, String),
    phase: impl FnOnce() -> anyhow::Result<T>,
    ok: impl Fn(&T) -> u64,
) -> anyhow::Result<(T, PhaseCost)> {
    let before = if column.scrape {
        Some(scrape(metrics_addr)?)
    } else {
        None
    };
    let cpu = Cpu::sample(column.pid);
    let result = phase()?;
    let mut cost = PhaseCost {
        cpu: CpuUse::between(cpu, Cpu::sample(column.pid), ok(&result)),
        metrics: None,
    };
    if let Some(before) = before {
        cost.metrics = Some(scrape(metrics_addr)?.minus(before));
    }
    Ok((result, cost))
}

/// One column's phases: saturation, one connection, open loop; then the proxy tree's peak RSS.
fn measure(
    runtime: &tokio::runtime::Runtime,
    column: &Column,
    args: &Args,
    metrics_addr: &(SocketAddr, String),
) -> anyhow::Result<Measured> {
    let name = column.target.name;
    let (target, call) = (&column.target, &column.call);
    let mut m = Measured::new(name);

    eprintln!("[bench] {name}: saturation ({} connections)", args.connections);
    (m.saturation, m.saturation_cost) = around(
        column,
        metrics_addr,
        || runtime.block_on(saturation(target, call, args, args.connections)),
        |s| s.tally.ok,
    )?;
    eprintln!("[bench] {name}: one connection");
    (m.one, m.one_cost) = around(
        column,
        metrics_addr,
        || runtime.block_on(saturation(target, call, args, 1)),
        |s| s.tally.ok,
    )?;
    eprintln!("[bench] {name}: open loop at {} rps", column.rate);
    let mut at_rate = args.clone();
    at_rate.rate = column.rate;
    (m.open_loop, m.open_loop_cost) = around(
        column,
        metrics_addr,
        || runtime.block_on(open_loop(target, call, &at_rate)),
        |o| o.tally.ok,
    )?;
    m.open_loop_rate = column.rate;
    m.peak_rss_kib = column.pid.and_then(|pid| tree_status_kib(pid, "VmHWM"));
    Ok(m)
}
