//! `gempool-bench`: measures the gateway against the mock Gemini on loopback and prints a table.
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

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream as StdTcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::Parser;
use gempool_tests::harness::{workspace_root, Gateway, GatewayOptions};
use gempool_tests::mock::{MockGemini, MockOptions};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpStream;

const KEYS: [&str; 4] = ["k1", "k2", "k3", "k4"];
const MODEL_PATH: &str = "/v1beta/models/gemini-2.5-flash";
/// No single request may take longer than this; a slower one counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Extra time a phase may take after its deadline (draining in-flight requests) before it is cut.
const DRAIN_GRACE: Duration = Duration::from_secs(15);

/// Command line of `gempool-bench`.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "gempool-bench",
    about = "Benchmark gempool against the mock Gemini on loopback"
)]
struct Args {
    /// Measured seconds of each saturation and open-loop phase.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Warm-up seconds before each saturation phase (not counted).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Requests per second of the open-loop phase.
    #[arg(long, default_value_t = 500)]
    rate: u32,
    /// Keep-alive connections of the closed loop.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Connections of the open loop (requests wait for a free one, on the clock).
    #[arg(long, default_value_t = 64)]
    open_connections: usize,
    /// Sequential streaming requests for time to first byte.
    #[arg(long, default_value_t = 300)]
    stream_requests: usize,
    /// Size of the generateContent body in bytes (approximately).
    #[arg(long, default_value_t = 1024)]
    body_bytes: usize,
    /// Short run for CI smoke tests: 0.4 s phases, 0.2 s warm-up, 200 rps, 20 streams.
    #[arg(long)]
    quick: bool,
    /// Also measure nginx `proxy_pass` to the mock as a floor.
    #[arg(long)]
    nginx: bool,
    /// The nginx binary.
    #[arg(long, default_value = "nginx")]
    nginx_bin: PathBuf,
    /// The gempool binary [default: $GEMPOOL_BIN, else <workspace>/target/release/gempool].
    #[arg(long)]
    gempool_bin: Option<PathBuf>,
    /// The guest component, for its size [default: $GEMPOOL_GUEST_WASM, else
    /// <workspace>/target/wasm/wasm32-wasip2/guest/gempool_guest.wasm].
    #[arg(long)]
    component: Option<PathBuf>,
    /// Worker threads of the in-process mock.
    #[arg(long, default_value_t = 1)]
    mock_threads: usize,
    /// Worker threads of the load generator.
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

impl Args {
    fn apply_quick(&mut self) {
        if self.quick {
            self.duration = self.duration.min(0.4);
            self.warmup = self.warmup.min(0.2);
            self.rate = self.rate.min(200);
            self.stream_requests = self.stream_requests.min(20);
        }
    }
}

/// Where requests go and which headers they carry.
#[derive(Clone)]
struct Target {
    name: &'static str,
    addr: SocketAddr,
    /// `x-goog-api-key` to send (the mock and nginx need one; gempool runs `--open`).
    api_key: Option<&'static str>,
}

/// One request template.
#[derive(Clone)]
struct Call {
    path: String,
    body: Bytes,
}

/// Outcome counts and latencies of a phase.
#[derive(Default)]
struct Tally {
    ok: u64,
    non_200: u64,
    errors: u64,
    first_problem: Option<String>,
    /// Microseconds.
    latencies: Vec<u64>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.ok += other.ok;
        self.non_200 += other.non_200;
        self.errors += other.errors;
        if self.first_problem.is_none() {
            self.first_problem = other.first_problem;
        }
        self.latencies.extend(other.latencies);
    }

    fn problem(&mut self, text: String) {
        if self.first_problem.is_none() {
            self.first_problem = Some(text);
        }
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        percentile(&self.latencies, p) as f64 / 1000.0
    }
}

/// Latency percentiles in microseconds of sorted samples (0 when empty).
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[derive(Default)]
struct Saturation {
    rps: f64,
    tally: Tally,
}

#[derive(Default)]
struct OpenLoop {
    tally: Tally,
    achieved_rps: f64,
    /// Worst delay between a scheduled time and the dispatch of that request, microseconds.
    max_dispatch_lag_us: u64,
}

#[derive(Default)]
struct Streaming {
    /// Time to first body byte, microseconds, sorted.
    ttfb: Tally,
    /// Time to the end of the stream, microseconds, sorted.
    total: Vec<u64>,
}

/// The `/metrics` figures we use.
#[derive(Default, Clone, Copy)]
struct Scrape {
    instantiate_sum: f64,
    instantiate_count: f64,
    request_sum: f64,
    request_count: f64,
    /// The component's SQL statements, and those that could write (hosts from issue 10 on).
    sql_statements: f64,
    sql_writes: f64,
}

impl Scrape {
    fn minus(self, before: Scrape) -> Scrape {
        Scrape {
            instantiate_sum: self.instantiate_sum - before.instantiate_sum,
            instantiate_count: self.instantiate_count - before.instantiate_count,
            request_sum: self.request_sum - before.request_sum,
            request_count: self.request_count - before.request_count,
            sql_statements: self.sql_statements - before.sql_statements,
            sql_writes: self.sql_writes - before.sql_writes,
        }
    }

    /// SQL statements and writes per request (the scrape's own SQL included).
    fn sql_per_request(&self) -> (f64, f64) {
        let n = self.request_count.max(1.0);
        (self.sql_statements / n, self.sql_writes / n)
    }

    fn mean_instantiate_us(&self) -> f64 {
        mean_us(self.instantiate_sum, self.instantiate_count)
    }

    fn mean_head_us(&self) -> f64 {
        mean_us(self.request_sum, self.request_count)
    }
}

/// CPU time of the gempool process and of the whole machine, to tell "slow" from "busy".
#[derive(Default, Clone, Copy)]
struct Cpu {
    /// utime + stime of gempool, in clock ticks.
    process_ticks: u64,
    /// Busy and total ticks over all CPUs (`/proc/stat`).
    machine_busy: u64,
    machine_total: u64,
    at: Option<Instant>,
}

/// Clock ticks per second of `/proc` figures (USER_HZ, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

impl Cpu {
    fn sample(pid: u32) -> Cpu {
        let process_ticks = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| {
                // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
                let rest = stat.rsplit_once(')')?.1;
                let fields: Vec<&str> = rest.split_whitespace().collect();
                Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
            })
            .unwrap_or(0);
        let (machine_busy, machine_total) = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|stat| {
                let line = stat.lines().next()?;
                let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
                let total: u64 = v.iter().take(8).sum();
                let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
                Some((total - idle, total))
            })
            .unwrap_or((0, 0));
        Cpu {
            process_ticks,
            machine_busy,
            machine_total,
            at: Some(Instant::now()),
        }
    }
}

/// What a gempool phase cost: CPU per request and how busy the machine was.
#[derive(Default, Clone, Copy)]
struct CpuUse {
    /// gempool CPU time per completed request, microseconds.
    gempool_us_per_request: f64,
    /// gempool CPU time over wall time (1.0 = one full core).
    gempool_cores: f64,
    /// Share of all CPUs busy during the phase (everything: mock, load generator, gempool, others).
    machine_busy: f64,
}

impl CpuUse {
    fn between(before: Cpu, after: Cpu, requests: u64) -> CpuUse {
        let seconds = (after.process_ticks.saturating_sub(before.process_ticks)) as f64 / TICKS_PER_SECOND;
        let wall = match (before.at, after.at) {
            (Some(a), Some(b)) => (b - a).as_secs_f64(),
            _ => 0.0,
        };
        let total = after.machine_total.saturating_sub(before.machine_total) as f64;
        CpuUse {
            gempool_us_per_request: if requests > 0 {
                seconds * 1e6 / requests as f64
            } else {
                0.0
            },
            gempool_cores: if wall > 0.0 { seconds / wall } else { 0.0 },
            machine_busy: if total > 0.0 {
                after.machine_busy.saturating_sub(before.machine_busy) as f64 / total
            } else {
                0.0
            },
        }
    }
}

fn mean_us(sum: f64, count: f64) -> f64 {
    if count > 0.0 {
        sum / count * 1e6
    } else {
        0.0
    }
}

fn main() -> anyhow::Result<()> {
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
    report.binary_bytes = std::fs::metadata(gempool_tests::harness::gempool_bin())
        .ok()
        .map(|m| m.len());
    drop(runtime);

    print!("{}", report.table());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report.json())?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(report.failed())
}

/// A ~`size`-byte generateContent body: one user turn of words plus a small generation config.
fn generate_body(size: usize) -> String {
    let base = json!({
        "contents": [{"role": "user", "parts": [{"text": ""}]}],
        "generationConfig": {"temperature": 0.7, "maxOutputTokens": 256},
    });
    let text = filler(size.saturating_sub(base.to_string().len()));
    let body = json!({
        "contents": [{"role": "user", "parts": [{"text": text}]}],
        "generationConfig": {"temperature": 0.7, "maxOutputTokens": 256},
    });
    body.to_string()
}

/// A ~`size`-byte OpenAI chat completions body with the same prompt.
fn openai_body(size: usize) -> String {
    let base = json!({
        "model": "gemini-2.5-flash",
        "messages": [{"role": "user", "content": ""}],
        "temperature": 0.7,
        "max_tokens": 256,
    });
    let text = filler(size.saturating_sub(base.to_string().len()));
    json!({
        "model": "gemini-2.5-flash",
        "messages": [{"role": "user", "content": text}],
        "temperature": 0.7,
        "max_tokens": 256,
    })
    .to_string()
}

/// Words totalling `len` bytes (at least one word).
fn filler(len: usize) -> String {
    const WORDS: [&str; 8] = ["lorem", "ipsum", "dolor", "sit", "amet", "gateway", "bench", "pool"];
    let mut text = String::with_capacity(len + 8);
    let mut i = 0;
    while text.len() < len.max(1) {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(WORDS[i % WORDS.len()]);
        i += 1;
    }
    text
}

type Sender = SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> anyhow::Result<Sender> {
    let stream = tokio::time::timeout(REQUEST_TIMEOUT, TcpStream::connect(addr))
        .await
        .context("connect timed out")??;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        gempool_tests::best_effort(conn.await);
    });
    Ok(sender)
}

fn request(target: &Target, call: &Call) -> Request<Full<Bytes>> {
    let mut builder = Request::post(call.path.as_str())
        .header(hyper::header::HOST, target.addr.to_string())
        .header(hyper::header::CONTENT_TYPE, "application/json");
    if let Some(key) = target.api_key {
        builder = builder.header("x-goog-api-key", key);
    }
    builder.body(Full::new(call.body.clone())).expect("a valid request")
}

/// What one request came to.
enum Outcome {
    Ok,
    Status(u16, String),
}

/// Sends one request on `sender` (reconnecting when it is closed) and reads the whole body.
async fn exchange(sender: &mut Option<Sender>, target: &Target, call: &Call) -> anyhow::Result<Outcome> {
    let work = async {
        if sender.as_ref().is_none_or(|s| s.is_closed()) {
            *sender = Some(connect(target.addr).await?);
        }
        let s = sender.as_mut().expect("connected above");
        s.ready().await?;
        let response = s.send_request(request(target, call)).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        anyhow::Ok(if status == 200 && !body.is_empty() {
            Outcome::Ok
        } else {
            Outcome::Status(
                status,
                String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
            )
        })
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, work).await {
        Ok(Ok(outcome)) => Ok(outcome),
        Ok(Err(e)) => {
            *sender = None;
            Err(e)
        }
        Err(_) => {
            *sender = None;
            bail!("no complete response within {REQUEST_TIMEOUT:?}")
        }
    }
}

fn record(tally: &mut Tally, target: &Target, outcome: anyhow::Result<Outcome>) -> bool {
    match outcome {
        Ok(Outcome::Ok) => {
            tally.ok += 1;
            true
        }
        Ok(Outcome::Status(status, body)) => {
            tally.non_200 += 1;
            tally.problem(format!("{}: status {status}: {body}", target.name));
            false
        }
        Err(e) => {
            tally.errors += 1;
            tally.problem(format!("{}: {e:#}", target.name));
            false
        }
    }
}

async fn preflight(target: &Target, call: &Call) -> anyhow::Result<()> {
    let mut sender = None;
    match exchange(&mut sender, target, call).await {
        Ok(Outcome::Ok) => Ok(()),
        Ok(Outcome::Status(status, body)) => bail!("{} {}: status {status}: {body}", target.name, call.path),
        Err(e) => Err(e.context(format!("{} {}", target.name, call.path))),
    }
}

/// Closed loop: `connections` tasks, each sending its next request when the last one is done.
async fn saturation(target: &Target, call: &Call, args: &Args) -> anyhow::Result<Saturation> {
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    let end = measure_from + Duration::from_secs_f64(args.duration);
    let mut tasks = Vec::new();
    for _ in 0..args.connections.max(1) {
        let (target, call) = (target.clone(), call.clone());
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut sender = None;
            while Instant::now() < end {
                let sent = Instant::now();
                let outcome = exchange(&mut sender, &target, &call).await;
                let done = Instant::now();
                let failed = outcome.is_err();
                if sent >= measure_from && done <= end {
                    if record(&mut tally, &target, outcome) {
                        tally.latencies.push(micros(done - sent));
                    }
                } else if failed {
                    // A failure during the warm-up still counts.
                    record(&mut tally, &target, outcome);
                }
                if failed {
                    // Do not spin on a refused connection.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            tally
        }));
    }
    let tally = join_all(tasks, end + DRAIN_GRACE).await?;
    Ok(Saturation {
        rps: tally.ok as f64 / args.duration,
        tally: sorted(tally),
    })
}

/// Open loop at a fixed rate; latency from the scheduled send time.
async fn open_loop(target: &Target, call: &Call, args: &Args) -> anyhow::Result<OpenLoop> {
    let rate = f64::from(args.rate.max(1));
    let total = (rate * args.duration).round().max(1.0) as u64;
    let interval = Duration::from_secs_f64(1.0 / rate);
    // Give the connections a moment to open before the schedule starts.
    let start = Instant::now() + Duration::from_millis(100);
    let end = start + interval * u32::try_from(total).unwrap_or(u32::MAX);

    // A plain thread keeps the schedule (tokio's timer has millisecond granularity); workers take
    // slots in order from the channel and send as soon as they are free.
    let (slots_tx, slots_rx) = tokio::sync::mpsc::unbounded_channel::<(u64, Instant)>();
    let max_lag = Arc::new(AtomicU64::new(0));
    let scheduler = {
        let max_lag = Arc::clone(&max_lag);
        std::thread::spawn(move || {
            for i in 0..total {
                let at = start + interval * u32::try_from(i).unwrap_or(u32::MAX);
                let now = Instant::now();
                if at > now {
                    std::thread::sleep(at - now);
                }
                max_lag.fetch_max(micros(Instant::now().saturating_duration_since(at)), Ordering::Relaxed);
                if slots_tx.send((i, at)).is_err() {
                    break;
                }
            }
        })
    };
    let slots_rx = Arc::new(tokio::sync::Mutex::new(slots_rx));
    let mut tasks = Vec::new();
    for _ in 0..args.open_connections.max(1) {
        let (target, call, slots_rx) = (target.clone(), call.clone(), Arc::clone(&slots_rx));
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut sender = connect(target.addr).await.ok();
            loop {
                let slot = slots_rx.lock().await.recv().await;
                let Some((_, scheduled)) = slot else { break };
                let outcome = exchange(&mut sender, &target, &call).await;
                let done = Instant::now();
                if record(&mut tally, &target, outcome) {
                    tally.latencies.push(micros(done - scheduled));
                }
            }
            tally
        }));
    }
    let tally = join_all(tasks, end + DRAIN_GRACE).await;
    gempool_tests::best_effort(tokio::task::spawn_blocking(move || scheduler.join()).await);
    let tally = tally?;
    let finished = tally.ok + tally.non_200 + tally.errors;
    Ok(OpenLoop {
        achieved_rps: tally.ok as f64 / args.duration,
        max_dispatch_lag_us: max_lag.load(Ordering::Relaxed),
        tally: {
            let mut t = sorted(tally);
            if finished < total {
                t.errors += total - finished;
                t.problem(format!(
                    "{}: {} scheduled requests never completed",
                    target.name,
                    total - finished
                ));
            }
            t
        },
    })
}

/// Sequential streaming requests on one connection: time to the first body byte and to the end.
async fn streaming(target: &Target, call: &Call, count: usize) -> anyhow::Result<Streaming> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut result = Streaming::default();
    let mut sender: Option<Sender> = None;
    for _ in 0..count {
        if Instant::now() >= deadline {
            break;
        }
        let work = async {
            if sender.as_ref().is_none_or(|s| s.is_closed()) {
                sender = Some(connect(target.addr).await?);
            }
            let s = sender.as_mut().expect("connected above");
            s.ready().await?;
            let sent = Instant::now();
            let response = s.send_request(request(target, call)).await?;
            let status = response.status().as_u16();
            let mut body = response.into_body();
            let mut first = None;
            let mut bytes = 0;
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame?.into_data() {
                    if !data.is_empty() {
                        first.get_or_insert_with(Instant::now);
                        bytes += data.len();
                    }
                }
            }
            let end = Instant::now();
            anyhow::Ok((status, bytes, first.map(|f| f - sent), end - sent))
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, work).await {
            Ok(Ok((200, bytes, Some(ttfb), total))) if bytes > 0 => {
                result.ttfb.ok += 1;
                result.ttfb.latencies.push(micros(ttfb));
                result.total.push(micros(total));
            }
            Ok(Ok((status, bytes, _, _))) => {
                result.ttfb.non_200 += 1;
                result
                    .ttfb
                    .problem(format!("{} stream: status {status}, {bytes} body bytes", target.name));
            }
            Ok(Err(e)) => {
                sender = None;
                result.ttfb.errors += 1;
                result.ttfb.problem(format!("{} stream: {e:#}", target.name));
            }
            Err(_) => {
                sender = None;
                result.ttfb.errors += 1;
                result.ttfb.problem(format!("{} stream: timed out", target.name));
            }
        }
    }
    result.ttfb = sorted(std::mem::take(&mut result.ttfb));
    result.total.sort_unstable();
    Ok(result)
}

/// Waits for every task, up to `deadline`; tasks still running then are aborted (an error).
async fn join_all(tasks: Vec<tokio::task::JoinHandle<Tally>>, deadline: Instant) -> anyhow::Result<Tally> {
    let mut total = Tally::default();
    for task in tasks {
        let abort = task.abort_handle();
        match tokio::time::timeout_at(deadline.into(), task).await {
            Ok(Ok(tally)) => total.merge(tally),
            Ok(Err(e)) => bail!("a load task failed: {e}"),
            Err(_) => {
                abort.abort();
                total.errors += 1;
                total.problem("a load task did not finish in time".to_string());
            }
        }
    }
    Ok(total)
}

fn sorted(mut tally: Tally) -> Tally {
    tally.latencies.sort_unstable();
    tally
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// `GET /metrics` of gempool (a blocking client: called between phases).
/// `/metrics` is the component's, behind the admin key; the host appends its own figures.
fn scrape((addr, admin_key): &(SocketAddr, String)) -> anyhow::Result<Scrape> {
    let response = gempool_tests::http::Client::new(format!("http://{addr}"))
        .get("/metrics")
        .bearer(admin_key)
        .timeout(Duration::from_secs(5))
        .try_send()
        .map_err(|e| anyhow::anyhow!("GET /metrics: {e}"))?;
    if response.status != 200 {
        bail!("GET /metrics answered {}", response.status);
    }
    let text = String::from_utf8_lossy(&response.body);
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or(0.0)
    };
    Ok(Scrape {
        instantiate_sum: value("gempool_instantiate_seconds_sum"),
        instantiate_count: value("gempool_instantiate_seconds_count"),
        request_sum: value("gempool_request_seconds_sum"),
        request_count: value("gempool_request_seconds_count"),
        sql_statements: value("gempool_sql_statements_total"),
        sql_writes: value("gempool_sql_writes_total"),
    })
}

/// A `kB` field of `/proc/<pid>/status` (Linux only).
fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// The first three fields of `/proc/loadavg` (other work on the machine skews every figure).
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "n/a".to_string())
}

fn component_path(args: &Args) -> Option<PathBuf> {
    args.component
        .clone()
        .or_else(|| std::env::var_os("GEMPOOL_GUEST_WASM").map(PathBuf::from))
        .or_else(|| Some(workspace_root().join("target/wasm/wasm32-wasip2/guest/gempool_guest.wasm")))
}

/// nginx `proxy_pass` to the mock, on a generated configuration in a temporary directory.
struct Nginx {
    child: Option<Child>,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Nginx {
    fn start(bin: &Path, upstream: SocketAddr) -> anyhow::Result<Nginx> {
        let dir = tempfile::Builder::new().prefix("gempool-bench-nginx-").tempdir()?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let d = dir.path().display();
        let config = format!(
            "worker_processes auto;\n\
             pid {d}/nginx.pid;\n\
             error_log {d}/error.log warn;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n\
             \x20 access_log off;\n\
             \x20 client_body_temp_path {d}/body;\n\
             \x20 proxy_temp_path {d}/proxy;\n\
             \x20 fastcgi_temp_path {d}/fastcgi;\n\
             \x20 uwsgi_temp_path {d}/uwsgi;\n\
             \x20 scgi_temp_path {d}/scgi;\n\
             \x20 keepalive_requests 1000000;\n\
             \x20 upstream mock {{ server {upstream}; keepalive 128; keepalive_requests 1000000; }}\n\
             \x20 server {{\n\
             \x20   listen {addr};\n\
             \x20   location / {{\n\
             \x20     proxy_pass http://mock;\n\
             \x20     proxy_http_version 1.1;\n\
             \x20     proxy_set_header Connection \"\";\n\
             \x20     proxy_buffering off;\n\
             \x20   }}\n\
             \x20 }}\n\
             }}\n"
        );
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, config)?;
        let child = Command::new(bin)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot run {} (install nginx or drop --nginx)", bin.display()))?;
        let mut nginx = Nginx {
            child: Some(child),
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if StdTcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(nginx);
            }
            if let Some(Ok(Some(status))) = nginx.child.as_mut().map(Child::try_wait) {
                let log = std::fs::read_to_string(nginx._dir.path().join("error.log")).unwrap_or_default();
                bail!("nginx exited ({status}): {log}");
            }
            if Instant::now() >= deadline {
                bail!("nginx did not listen on {addr} in time");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        // SIGQUIT lets the master stop its workers (a SIGKILLed master would orphan them).
        gempool_tests::best_effort(
            Command::new("sh")
                .args(["-c", &format!("kill -QUIT {}", child.id())])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status(),
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        gempool_tests::best_effort(child.kill());
        gempool_tests::best_effort(child.wait());
    }
}

/// Everything measured.
struct Report {
    args: Args,
    names: Vec<&'static str>,
    saturation: Vec<Saturation>,
    open_loop: Vec<OpenLoop>,
    cpu_saturation: Vec<CpuUse>,
    cpu_open_loop: Vec<CpuUse>,
    cpu_openai: CpuUse,
    stream_direct: Streaming,
    stream_gempool: Streaming,
    openai: Saturation,
    metrics_saturation: Option<Scrape>,
    metrics_open_loop: Option<Scrape>,
    metrics_openai: Option<Scrape>,
    metrics_total: Scrape,
    startup_hwm_kib: Option<u64>,
    peak_hwm_kib: Option<u64>,
    rss_kib: Option<u64>,
    component_bytes: Option<u64>,
    binary_bytes: Option<u64>,
    loadavg_before: String,
    loadavg_after: String,
}

impl Report {
    fn new(args: &Args, targets: &[Target]) -> Report {
        Report {
            args: args.clone(),
            names: targets.iter().map(|t| t.name).collect(),
            saturation: targets.iter().map(|_| Saturation::default()).collect(),
            open_loop: targets.iter().map(|_| OpenLoop::default()).collect(),
            cpu_saturation: vec![CpuUse::default(); targets.len()],
            cpu_open_loop: vec![CpuUse::default(); targets.len()],
            cpu_openai: CpuUse::default(),
            stream_direct: Streaming::default(),
            stream_gempool: Streaming::default(),
            openai: Saturation::default(),
            metrics_saturation: None,
            metrics_open_loop: None,
            metrics_openai: None,
            metrics_total: Scrape::default(),
            startup_hwm_kib: None,
            peak_hwm_kib: None,
            rss_kib: None,
            component_bytes: None,
            binary_bytes: None,
            loadavg_before: String::new(),
            loadavg_after: String::new(),
        }
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| *n == name)
    }

    fn tallies(&self) -> Vec<&Tally> {
        let mut all: Vec<&Tally> = self.saturation.iter().map(|s| &s.tally).collect();
        all.extend(self.open_loop.iter().map(|o| &o.tally));
        all.extend([&self.stream_direct.ttfb, &self.stream_gempool.ttfb, &self.openai.tally]);
        all
    }

    fn failed(&self) -> bool {
        self.tallies().iter().any(|t| t.non_200 > 0 || t.errors > 0)
    }

    fn table(&self) -> String {
        let a = &self.args;
        let g = self.index("gempool").expect("gempool is always measured");
        let d = self.index("direct").expect("direct is always measured");
        let n = self.index("nginx");
        let mut out = String::new();
        gempool_tests::best_effort(writeln!(
            out,
            "\ngempool-bench: POST {MODEL_PATH}:generateContent, {} B body; {} cores; {} s per phase{}",
            self.args_body_len(),
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            a.duration,
            if a.quick { " (--quick)" } else { "" }
        ));
        let mut header = format!("{:<36}{:>12}", "", "direct");
        if n.is_some() {
            gempool_tests::best_effort(write!(header, "{:>12}", "nginx"));
        }
        gempool_tests::best_effort(write!(header, "{:>12}{:>16}", "gempool", "gempool/direct"));
        if n.is_some() {
            gempool_tests::best_effort(write!(header, "{:>15}", "gempool/nginx"));
        }
        gempool_tests::best_effort(writeln!(out, "{header}"));
        gempool_tests::best_effort(writeln!(out, "{}", "-".repeat(header.len())));

        let row = |out: &mut String, label: &str, values: &dyn Fn(usize) -> f64, decimals: usize| {
            let mut line = format!("{label:<36}{:>12.*}", decimals, values(d));
            if let Some(n) = n {
                gempool_tests::best_effort(write!(line, "{:>12.*}", decimals, values(n)));
            }
            gempool_tests::best_effort(write!(line, "{:>12.*}", decimals, values(g)));
            // A ratio of CPU shares says nothing; only figures of the proxies get one.
            if !label.contains("CPU") {
                gempool_tests::best_effort(write!(line, "{:>16}", ratio(values(g), values(d))));
                if let Some(n) = n {
                    gempool_tests::best_effort(write!(line, "{:>15}", ratio(values(g), values(n))));
                }
            }
            gempool_tests::best_effort(writeln!(out, "{line}"));
        };
        let sat_label = format!("saturation req/s ({} conns)", a.connections);
        row(&mut out, &sat_label, &|i| self.saturation[i].rps, 0);
        row(
            &mut out,
            "  mean latency at saturation (ms)",
            &|i| mean_ms(&self.saturation[i].tally),
            2,
        );
        row(
            &mut out,
            "  machine CPU busy (%)",
            &|i| self.cpu_saturation[i].machine_busy * 100.0,
            0,
        );
        let ol = |p: f64| move |i: usize| self.open_loop[i].tally.percentile_ms(p);
        row(&mut out, &format!("open loop {} rps: p50 (ms)", a.rate), &ol(50.0), 2);
        row(&mut out, "  p90 (ms)", &ol(90.0), 2);
        row(&mut out, "  p99 (ms)", &ol(99.0), 2);
        row(&mut out, "  max (ms)", &ol(100.0), 2);
        row(&mut out, "  achieved req/s", &|i| self.open_loop[i].achieved_rps, 0);
        row(
            &mut out,
            "  machine CPU busy (%)",
            &|i| self.cpu_open_loop[i].machine_busy * 100.0,
            0,
        );
        gempool_tests::best_effort(writeln!(out));

        let (sd, sg) = (&self.stream_direct, &self.stream_gempool);
        gempool_tests::best_effort(writeln!(
            out,
            "{:<36}{:>12}{:>12}{:>16}",
            format!("streaming, {} sequential", a.stream_requests),
            "direct",
            "gempool",
            "gempool/direct"
        ));
        for (label, p, from_total) in [
            ("  first byte p50 (ms)", 50.0, false),
            ("  first byte p99 (ms)", 99.0, false),
            ("  whole stream p50 (ms)", 50.0, true),
        ] {
            let get = |s: &Streaming| {
                if from_total {
                    percentile(&s.total, p) as f64 / 1000.0
                } else {
                    s.ttfb.percentile_ms(p)
                }
            };
            gempool_tests::best_effort(writeln!(
                out,
                "{label:<36}{:>12.2}{:>12.2}{:>16}",
                get(sd),
                get(sg),
                ratio(get(sg), get(sd))
            ));
        }
        gempool_tests::best_effort(writeln!(out));
        let native = self.saturation[g].rps;
        gempool_tests::best_effort(writeln!(
            out,
            "{:<36}{:>12}{:>12}{:>16}",
            format!("gempool saturation ({} conns)", a.connections),
            "native",
            "openai",
            "openai/native"
        ));
        gempool_tests::best_effort(writeln!(
            out,
            "{:<36}{:>12.0}{:>12.0}{:>16}",
            "  req/s",
            native,
            self.openai.rps,
            ratio(self.openai.rps, native)
        ));
        gempool_tests::best_effort(writeln!(out));

        gempool_tests::best_effort(writeln!(out, "gempool /metrics (host side, per request):"));
        let phases = [
            ("native saturation", self.metrics_saturation),
            ("native open loop", self.metrics_open_loop),
            ("openai saturation", self.metrics_openai),
            ("whole run", Some(self.metrics_total)),
        ];
        for (label, scrape) in phases {
            if let Some(s) = scrape {
                gempool_tests::best_effort(writeln!(
                    out,
                    "  {label:<20} instantiate {:>8.1} us   request -> response head {:>9.1} us   SQL {:>5.2} statements {:>5.2} writes   (n = {})",
                    s.mean_instantiate_us(),
                    s.mean_head_us(),
                    s.sql_per_request().0,
                    s.sql_per_request().1,
                    s.request_count
                ));
            }
        }
        gempool_tests::best_effort(writeln!(out, "gempool process CPU (from /proc/<pid>/stat):"));
        for (label, cpu) in [
            ("native saturation", self.cpu_saturation[g]),
            ("native open loop", self.cpu_open_loop[g]),
            ("openai saturation", self.cpu_openai),
        ] {
            gempool_tests::best_effort(writeln!(
                out,
                "  {label:<20} {:>8.0} us CPU per request   {:>5.2} cores busy",
                cpu.gempool_us_per_request, cpu.gempool_cores
            ));
        }
        let mib = |k: Option<u64>| k.map_or("n/a".to_string(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
        gempool_tests::best_effort(writeln!(
            out,
            "gempool memory: peak RSS (VmHWM) {} (after start-up {}), RSS at the end {}",
            mib(self.peak_hwm_kib),
            mib(self.startup_hwm_kib),
            mib(self.rss_kib)
        ));
        let size = |b: Option<u64>| {
            b.map_or("n/a".to_string(), |b| {
                format!("{b} B ({:.2} MiB)", b as f64 / 1048576.0)
            })
        };
        gempool_tests::best_effort(writeln!(
            out,
            "component: {}; gempool binary: {}",
            size(self.component_bytes),
            size(self.binary_bytes)
        ));

        gempool_tests::best_effort(writeln!(out));
        let mut problems = Vec::new();
        let phases = (self.names.iter().zip(&self.saturation)).map(|(n, s)| (format!("{n} saturation"), &s.tally));
        let phases = phases
            .chain((self.names.iter().zip(&self.open_loop)).map(|(n, o)| (format!("{n} open loop"), &o.tally)))
            .chain([
                ("direct stream".to_string(), &self.stream_direct.ttfb),
                ("gempool stream".to_string(), &self.stream_gempool.ttfb),
                ("gempool openai".to_string(), &self.openai.tally),
            ]);
        for (phase, tally) in phases {
            if tally.non_200 > 0 || tally.errors > 0 {
                problems.push(format!(
                    "  {phase}: {} non-200, {} errors; first: {}",
                    tally.non_200,
                    tally.errors,
                    tally.first_problem.as_deref().unwrap_or("?")
                ));
            }
        }
        let total_ok: u64 = self.tallies().iter().map(|t| t.ok).sum();
        if problems.is_empty() {
            gempool_tests::best_effort(writeln!(out, "all {total_ok} measured requests answered 200"));
        } else {
            gempool_tests::best_effort(writeln!(out, "FAILURES ({total_ok} requests answered 200):"));
            for p in problems {
                gempool_tests::best_effort(writeln!(out, "{p}"));
            }
        }
        let lags: Vec<String> = self
            .names
            .iter()
            .zip(&self.open_loop)
            .map(|(n, o)| format!("{n} {:.2} ms", o.max_dispatch_lag_us as f64 / 1000.0))
            .collect();
        gempool_tests::best_effort(writeln!(
            out,
            "open-loop scheduler: worst dispatch lag {}",
            lags.join(", ")
        ));
        gempool_tests::best_effort(writeln!(
            out,
            "load average (1/5/15 min): {} at the start, {} at the end",
            self.loadavg_before, self.loadavg_after
        ));
        out
    }

    fn args_body_len(&self) -> usize {
        generate_body(self.args.body_bytes).len()
    }

    fn json(&self) -> Value {
        let tally = |t: &Tally| {
            json!({
                "ok": t.ok, "non_200": t.non_200, "errors": t.errors,
                "p50_ms": t.percentile_ms(50.0), "p90_ms": t.percentile_ms(90.0),
                "p99_ms": t.percentile_ms(99.0), "max_ms": t.percentile_ms(100.0),
                "first_problem": t.first_problem,
            })
        };
        let scrape = |s: Option<Scrape>| {
            s.map(|s| {
                let (statements, writes) = s.sql_per_request();
                json!({"instantiate_us": s.mean_instantiate_us(), "head_us": s.mean_head_us(), "n": s.request_count,
                       "sql_statements_per_request": statements, "sql_writes_per_request": writes})
            })
        };
        let mut targets = serde_json::Map::new();
        for (i, name) in self.names.iter().enumerate() {
            targets.insert(
                name.to_string(),
                json!({
                    "saturation_rps": self.saturation[i].rps,
                    "saturation": tally(&self.saturation[i].tally),
                    "open_loop_rps": self.open_loop[i].achieved_rps,
                    "open_loop": tally(&self.open_loop[i].tally),
                }),
            );
        }
        json!({
            "duration_s": self.args.duration,
            "rate": self.args.rate,
            "connections": self.args.connections,
            "targets": targets,
            "stream": {"direct": tally(&self.stream_direct.ttfb), "gempool": tally(&self.stream_gempool.ttfb)},
            "openai": {"rps": self.openai.rps, "tally": tally(&self.openai.tally)},
            "metrics": {
                "saturation": scrape(self.metrics_saturation),
                "open_loop": scrape(self.metrics_open_loop),
                "openai": scrape(self.metrics_openai),
                "total": scrape(Some(self.metrics_total)),
            },
            "gempool_cpu_us_per_request": {
                "saturation": self.cpu_saturation.get(self.index("gempool").unwrap_or(0)).map(|c| c.gempool_us_per_request),
                "openai": self.cpu_openai.gempool_us_per_request,
            },
            "peak_rss_kib": self.peak_hwm_kib,
            "component_bytes": self.component_bytes,
            "failed": self.failed(),
        })
    }
}

fn mean_ms(t: &Tally) -> f64 {
    if t.latencies.is_empty() {
        0.0
    } else {
        t.latencies.iter().sum::<u64>() as f64 / t.latencies.len() as f64 / 1000.0
    }
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}x", a / b)
    } else {
        "n/a".to_string()
    }
}
