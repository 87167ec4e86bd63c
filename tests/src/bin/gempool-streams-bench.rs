//! `gempool-streams-bench`: many concurrent slow streams through the bundled host, and what
//! they cost in memory.
//!
//! It starts the in-process mock Gemini with four keys that answer every stream slowly
//! ([`Behavior::SlowStream`]: one chunk per word of the reply, `--chunk-delay-ms` apart), then
//! `gempool serve --open` with `--max-instances` and `--max-connections` room for the streams
//! (or fewer, to see the limit), then opens `--streams` `:streamGenerateContent?alt=sse`
//! requests, each on its own connection, at most `--open-rate` per second, and reads each to its
//! end. A sampler reads the gateway's resident memory (`VmRSS`) every `--sample-ms`.
//!
//! Printed: streams completed / refused with 503 (and whether every refusal carried
//! `Retry-After` and a Gemini-shaped JSON error) / failed otherwise; the most streams open at
//! once; the gateway's memory idle, at the peak, per open stream, right after the last stream
//! ended, and after `--settle-secs` more seconds, as `VmRSS` and as PSS (`smaps_rollup`).
//! RSS counts the compiled component's pages once per instance that maps them (each instance's
//! linear memory is a copy-on-write mapping of the same data image), PSS counts them once: PSS
//! is what the process costs the machine.
//!
//! Each stream holds a client connection, a gateway instance and an upstream connection, so the
//! bench needs about two file descriptors per stream and the gateway as many: it raises its own
//! `RLIMIT_NOFILE` soft limit to the hard limit and refuses to start when that is too low
//! (`ulimit -n 65536` as root first). All traffic stays on 127.0.0.1; every phase is bounded.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::Parser;
use gempool_tests::bench::system::{kib_field, loadavg, proc_status_kib};
use gempool_tests::harness::{Gateway, GatewayOptions};
use gempool_tests::mock::{Behavior, MockGemini, MockOptions};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

const KEYS: [&str; 4] = ["k1", "k2", "k3", "k4"];
const STREAM_PATH: &str = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse";

#[derive(Parser, Debug)]
#[command(about = "Concurrent slow streams through gempool: completions, refusals and memory")]
struct Args {
    /// Streams to open, each on its own connection.
    #[arg(long, default_value_t = 10_000)]
    streams: usize,
    /// Streams opened per second at most (a ramp, so the listen backlog is not the test).
    #[arg(long, default_value_t = 2_000)]
    open_rate: u32,
    /// Delay between two chunks of a stream.
    #[arg(long, default_value_t = 1_000)]
    chunk_delay_ms: u64,
    /// Words in the prompt: the reply echoes them, one chunk per word.
    #[arg(long, default_value_t = 20)]
    words: usize,
    /// The gateway's `--max-instances` [default: streams + 16].
    #[arg(long)]
    max_instances: Option<usize>,
    /// Seconds to keep sampling memory after the last stream ended.
    #[arg(long, default_value_t = 60)]
    settle_secs: u64,
    /// Memory sampling interval.
    #[arg(long, default_value_t = 250)]
    sample_ms: u64,
    /// Worker threads of the in-process mock.
    #[arg(long, default_value_t = 1)]
    mock_threads: usize,
}

/// How one stream ended.
#[derive(Debug)]
enum Outcome {
    /// 200 and the body read to its end with this many SSE events.
    Completed(usize),
    /// 503 before any byte of the stream; whether it carried `Retry-After` and a Gemini error body.
    Refused { retry_after: bool, shaped: bool },
    /// Anything else, described.
    Failed(String),
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let max_instances = args.max_instances.unwrap_or(args.streams + 16);
    let needed = args.streams as u64 * 2 + 1_024;
    let limit = raise_nofile_limit()?;
    if limit < needed {
        bail!(
            "RLIMIT_NOFILE is {limit}, {} streams need about {needed} (raise the hard limit: ulimit -n 65536)",
            args.streams
        );
    }

    let mock = MockGemini::start_with(MockOptions {
        keys: KEYS.iter().map(|k| k.to_string()).collect(),
        worker_threads: args.mock_threads,
        record_limit: 1,
        ..MockOptions::default()
    })?;
    for key in KEYS {
        mock.set_behavior(
            key,
            Behavior::SlowStream {
                chunk_delay_ms: args.chunk_delay_ms,
            },
        );
    }
    let mut options = GatewayOptions::with_mock(&mock, &KEYS).open();
    options.extra_args.extend([
        "--max-instances".to_owned(),
        max_instances.to_string(),
        "--max-connections".to_owned(),
        (args.streams + 64).to_string(),
        "--quiet".to_owned(),
    ]);
    let gateway = Gateway::start(options);
    let pid = gateway.pid().context("the gateway has no pid")?;
    let addr = gateway.addr();

    // Warm: compile caches, first instantiation, connections to the mock.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let body = Bytes::from(
        serde_json::json!({
            "contents": [{"role": "user", "parts": [{"text": prompt(args.words)}]}]
        })
        .to_string(),
    );
    mock.set_behavior(KEYS[0], Behavior::Ok);
    let warm = runtime.block_on(stream_once(addr, body.clone(), Arc::default()));
    if !matches!(warm, Outcome::Completed(_)) {
        bail!("warm-up stream did not complete: {warm:?}");
    }
    mock.set_behavior(
        KEYS[0],
        Behavior::SlowStream {
            chunk_delay_ms: args.chunk_delay_ms,
        },
    );
    std::thread::sleep(Duration::from_millis(500));
    let idle_kib = rss_kib(pid).context("cannot read the gateway's VmRSS")?;
    let idle_pss_kib = pss_kib(pid).context("cannot read the gateway's smaps_rollup")?;

    let open_now = Arc::new(AtomicU64::new(0));
    let peak_open = Arc::new(AtomicU64::new(0));
    let sampler = Sampler::start(pid, Duration::from_millis(args.sample_ms));
    let expected_secs = args.chunk_delay_ms as f64 * (args.words + 2) as f64 / 1000.0;
    let ramp_secs = args.streams as f64 / f64::from(args.open_rate.max(1));
    let deadline = Duration::from_secs_f64(ramp_secs + expected_secs * 3.0 + 60.0);
    eprintln!(
        "[streams] {} streams, ramp {ramp_secs:.1} s, each ~{expected_secs:.0} s, deadline {:.0} s, max-instances {max_instances}, idle RSS {} MiB",
        args.streams,
        deadline.as_secs_f64(),
        idle_kib / 1024
    );
    let started = Instant::now();
    let outcomes = runtime.block_on(async {
        let interval = Duration::from_secs_f64(1.0 / f64::from(args.open_rate.max(1)));
        let mut tasks = Vec::with_capacity(args.streams);
        for i in 0..args.streams {
            tokio::time::sleep_until(tokio::time::Instant::from_std(started + interval * i as u32)).await;
            let gauge = Gauge {
                open: open_now.clone(),
                peak: peak_open.clone(),
            };
            tasks.push(tokio::spawn(tokio::time::timeout(
                deadline,
                stream_once(addr, body.clone(), Arc::new(gauge)),
            )));
        }
        let mut outcomes = Vec::with_capacity(tasks.len());
        for task in tasks {
            outcomes.push(match task.await {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(_)) => Outcome::Failed("past the deadline".to_owned()),
                Err(e) => Outcome::Failed(format!("task: {e}")),
            });
        }
        outcomes
    });
    let elapsed = started.elapsed();
    let end_kib = rss_kib(pid).unwrap_or(0);
    let end_pss_kib = pss_kib(pid).unwrap_or(0);
    std::thread::sleep(Duration::from_secs(args.settle_secs));
    let settled_kib = rss_kib(pid).unwrap_or(0);
    let settled_pss_kib = pss_kib(pid).unwrap_or(0);
    let samples = sampler.stop();
    let hwm_kib = proc_status_kib(pid, "VmHWM").unwrap_or(0);
    drop(gateway);

    let completed: Vec<usize> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Completed(n) => Some(*n),
            _ => None,
        })
        .collect();
    let refused: Vec<(bool, bool)> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Refused { retry_after, shaped } => Some((*retry_after, *shaped)),
            _ => None,
        })
        .collect();
    let failed: Vec<&String> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Failed(why) => Some(why),
            _ => None,
        })
        .collect();
    let peak_kib = samples.iter().map(|s| s.rss_kib).max().unwrap_or(0).max(end_kib);
    let peak_pss_kib = samples.iter().map(|s| s.pss_kib).max().unwrap_or(0).max(end_pss_kib);
    let peak_streams = peak_open.load(Ordering::Relaxed);
    let per_stream = |peak: u64, idle: u64| {
        if peak_streams > 0 {
            peak.saturating_sub(idle) as f64 / peak_streams as f64
        } else {
            0.0
        }
    };
    let min_events = completed.iter().min().copied().unwrap_or(0);

    println!(
        "\n{} streams over one connection each, opened at <= {}/s, {} ms between chunks, max-instances {max_instances}; load {}\n",
        args.streams,
        args.open_rate,
        args.chunk_delay_ms,
        loadavg()
    );
    let mib = |rss: u64, pss: u64| format!("{:.1} MiB RSS, {:.1} MiB PSS", rss as f64 / 1024.0, pss as f64 / 1024.0);
    let rows: Vec<(String, String)> = vec![
        (
            "completed",
            format!("{} (each >= {min_events} events)", completed.len()),
        ),
        (
            "refused 503",
            format!(
                "{} ({} with Retry-After, {} Gemini-shaped)",
                refused.len(),
                refused.iter().filter(|r| r.0).count(),
                refused.iter().filter(|r| r.1).count()
            ),
        ),
        ("failed otherwise", failed.len().to_string()),
        ("most streams open at once", peak_streams.to_string()),
        ("wall time", format!("{:.1} s", elapsed.as_secs_f64())),
        ("gateway memory idle", mib(idle_kib, idle_pss_kib)),
        ("gateway memory peak (sampled)", mib(peak_kib, peak_pss_kib)),
        ("gateway VmHWM", format!("{:.1} MiB", hwm_kib as f64 / 1024.0)),
        (
            "per open stream",
            format!(
                "{:.1} KiB RSS, {:.1} KiB PSS",
                per_stream(peak_kib, idle_kib),
                per_stream(peak_pss_kib, idle_pss_kib)
            ),
        ),
        ("right after the last stream", mib(end_kib, end_pss_kib)),
        (
            "after settling",
            format!("{} ({} s later)", mib(settled_kib, settled_pss_kib), args.settle_secs),
        ),
    ]
    .into_iter()
    .map(|(label, value)| (label.to_owned(), value))
    .collect();
    for (label, value) in rows {
        println!("{label:<34}{value}");
    }
    if let Some(why) = failed.first() {
        println!("\nfirst failure: {why}");
    }
    if !failed.is_empty() || refused.iter().any(|r| !r.0 || !r.1) {
        bail!("some streams failed, or a refusal lacked Retry-After or a Gemini error body");
    }
    Ok(())
}

/// `n` words for the prompt; the mock's reply echoes them one chunk per word.
fn prompt(n: usize) -> String {
    (0..n).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" ")
}

/// Counts streams whose response head arrived and whose body has not ended.
#[derive(Default)]
struct Gauge {
    open: Arc<AtomicU64>,
    peak: Arc<AtomicU64>,
}

impl Gauge {
    fn opened(&self) {
        let now = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }

    fn closed(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn stream_once(addr: std::net::SocketAddr, body: Bytes, gauge: Arc<Gauge>) -> Outcome {
    let stream = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => return Outcome::Failed(format!("connect: {e}")),
    };
    let (mut sender, connection) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
        Ok(pair) => pair,
        Err(e) => return Outcome::Failed(format!("handshake: {e}")),
    };
    tokio::spawn(connection);
    let request = Request::post(STREAM_PATH)
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .body(Full::new(body));
    let request = match request {
        Ok(r) => r,
        Err(e) => return Outcome::Failed(format!("request: {e}")),
    };
    let response = match sender.send_request(request).await {
        Ok(r) => r,
        Err(e) => return Outcome::Failed(format!("send: {e}")),
    };
    let status = response.status().as_u16();
    if status == 503 {
        let retry_after = response.headers().contains_key("retry-after");
        let body = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let shaped = serde_json::from_slice::<serde_json::Value>(&body)
            .is_ok_and(|v| v["error"]["code"] == 503 && v["error"]["status"].is_string());
        return Outcome::Refused { retry_after, shaped };
    }
    if status != 200 {
        return Outcome::Failed(format!("status {status}"));
    }
    gauge.opened();
    let mut body = response.into_body();
    let mut text = Vec::new();
    let result = loop {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    text.extend_from_slice(data);
                }
            }
            Some(Err(e)) => break Err(format!("body: {e}")),
            None => break Ok(()),
        }
    };
    gauge.closed();
    let text = String::from_utf8_lossy(&text);
    let events = text.matches("data: ").count();
    match result {
        Err(why) => Outcome::Failed(why),
        Ok(()) if text.contains("\"error\"") => Outcome::Failed(format!("error event: {}", text.trim())),
        Ok(()) if !text.contains("finishReason") => {
            Outcome::Failed("the stream ended without a finishReason".to_owned())
        }
        Ok(()) => Outcome::Completed(events),
    }
}

/// One memory sample of the gateway.
struct Sample {
    rss_kib: u64,
    pss_kib: u64,
}

/// Samples the gateway's `VmRSS` and PSS on a background thread.
struct Sampler {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Vec<Sample>>,
}

impl Sampler {
    fn start(pid: u32, every: Duration) -> Sampler {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                if let (Some(rss_kib), Some(pss_kib)) = (rss_kib(pid), pss_kib(pid)) {
                    samples.push(Sample { rss_kib, pss_kib });
                }
                std::thread::sleep(every);
            }
            samples
        });
        Sampler { stop, thread }
    }

    fn stop(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

fn rss_kib(pid: u32) -> Option<u64> {
    proc_status_kib(pid, "VmRSS")
}

/// Proportional set size: shared pages divided among the processes (and mappings) sharing them.
fn pss_kib(pid: u32) -> Option<u64> {
    kib_field(
        &std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?,
        "Pss",
    )
}

/// Raises this process's `RLIMIT_NOFILE` soft limit to its hard limit (children inherit it) and
/// returns the soft limit now in force. `prlimit` (util-linux) does the raising: no libc binding
/// needed for one call.
fn raise_nofile_limit() -> anyhow::Result<u64> {
    let pid = std::process::id().to_string();
    let hard = std::process::Command::new("prlimit")
        .args(["--pid", &pid, "--nofile", "--output", "HARD", "--noheadings"])
        .output()
        .context("cannot run prlimit")?;
    let hard = String::from_utf8_lossy(&hard.stdout).trim().to_owned();
    let status = std::process::Command::new("prlimit")
        .args(["--pid", &pid, &format!("--nofile={hard}:")])
        .status()
        .context("cannot run prlimit")?;
    if !status.success() {
        bail!("prlimit could not raise the soft limit to {hard}");
    }
    let limits = std::fs::read_to_string("/proc/self/limits")?;
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|soft| soft.parse().ok())
        .context("cannot read RLIMIT_NOFILE")
}
