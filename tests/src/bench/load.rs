//! The load: request bodies, one exchange, the closed loop, the open loop, streaming, tallies.

use super::*;

/// Where requests go and which headers they carry.
#[derive(Clone)]
pub(super) struct Target {
    pub(super) name: &'static str,
    pub(super) addr: SocketAddr,
    /// `x-goog-api-key` to send (the mock and nginx need one; gempool runs `--open`).
    pub(super) api_key: Option<&'static str>,
    /// `Authorization: Bearer` to send (LiteLLM's master key).
    pub(super) bearer: Option<String>,
}

/// One request template.
#[derive(Clone)]
pub(super) struct Call {
    pub(super) path: String,
    pub(super) body: Bytes,
}

/// Outcome counts and latencies of a phase.
#[derive(Default)]
pub(super) struct Tally {
    pub(super) ok: u64,
    pub(super) non_200: u64,
    pub(super) errors: u64,
    pub(super) first_problem: Option<String>,
    /// Microseconds.
    pub(super) latencies: Vec<u64>,
}

impl Tally {
    pub(super) fn merge(&mut self, other: Tally) {
        self.ok += other.ok;
        self.non_200 += other.non_200;
        self.errors += other.errors;
        if self.first_problem.is_none() {
            self.first_problem = other.first_problem;
        }
        self.latencies.extend(other.latencies);
    }

    pub(super) fn problem(&mut self, text: String) {
        if self.first_problem.is_none() {
            self.first_problem = Some(text);
        }
    }

    pub(super) fn percentile_ms(&self, p: f64) -> f64 {
        percentile(&self.latencies, p) as f64 / 1000.0
    }
}

/// Latency percentiles in microseconds of sorted samples (0 when empty).
pub(super) fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[derive(Default)]
pub(super) struct Saturation {
    pub(super) rps: f64,
    pub(super) tally: Tally,
}

#[derive(Default)]
pub(super) struct OpenLoop {
    pub(super) tally: Tally,
    pub(super) achieved_rps: f64,
    /// Worst delay between a scheduled time and the dispatch of that request, microseconds.
    pub(super) max_dispatch_lag_us: u64,
}

#[derive(Default)]
pub(super) struct Streaming {
    /// Time to first body byte, microseconds, sorted.
    pub(super) ttfb: Tally,
    /// Time to the end of the stream, microseconds, sorted.
    pub(super) total: Vec<u64>,
}

/// A ~`size`-byte generateContent body: one user turn of words plus a small generation config.
pub(super) fn generate_body(size: usize) -> String {
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
pub(super) fn openai_body(size: usize) -> String {
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
pub(super) fn filler(len: usize) -> String {
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

pub(super) type Sender = SendRequest<Full<Bytes>>;

pub(super) async fn connect(addr: SocketAddr) -> anyhow::Result<Sender> {
    let stream = tokio::time::timeout(REQUEST_TIMEOUT, TcpStream::connect(addr))
        .await
        .context("connect timed out")??;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        crate::best_effort(conn.await);
    });
    Ok(sender)
}

pub(super) fn request(target: &Target, call: &Call) -> Request<Full<Bytes>> {
    let mut builder = Request::post(call.path.as_str())
        .header(hyper::header::HOST, target.addr.to_string())
        .header(hyper::header::CONTENT_TYPE, "application/json");
    if let Some(key) = target.api_key {
        builder = builder.header("x-goog-api-key", key);
    }
    if let Some(token) = &target.bearer {
        builder = builder.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    builder.body(Full::new(call.body.clone())).expect("a valid request")
}

/// What one request came to.
pub(super) enum Outcome {
    Ok,
    Status(u16, String),
}

/// Sends one request on `sender` (reconnecting when it is closed) and reads the whole body.
pub(super) async fn exchange(sender: &mut Option<Sender>, target: &Target, call: &Call) -> anyhow::Result<Outcome> {
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

pub(super) fn record(tally: &mut Tally, target: &Target, outcome: anyhow::Result<Outcome>) -> bool {
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

pub(super) async fn preflight(target: &Target, call: &Call) -> anyhow::Result<()> {
    let mut sender = None;
    match exchange(&mut sender, target, call).await {
        Ok(Outcome::Ok) => Ok(()),
        Ok(Outcome::Status(status, body)) => bail!("{} {}: status {status}: {body}", target.name, call.path),
        Err(e) => Err(e.context(format!("{} {}", target.name, call.path))),
    }
}

/// Closed loop: `connections` tasks, each sending its next request when the last one is done.
pub(super) async fn saturation(
    target: &Target,
    call: &Call,
    args: &Args,
    connections: usize,
) -> anyhow::Result<Saturation> {
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    let end = measure_from + Duration::from_secs_f64(args.duration);
    let mut tasks = Vec::new();
    for _ in 0..connections.max(1) {
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
pub(super) async fn open_loop(target: &Target, call: &Call, args: &Args) -> anyhow::Result<OpenLoop> {
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
    crate::best_effort(tokio::task::spawn_blocking(move || scheduler.join()).await);
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
pub(super) async fn streaming(target: &Target, call: &Call, count: usize) -> anyhow::Result<Streaming> {
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
pub(super) async fn join_all(tasks: Vec<tokio::task::JoinHandle<Tally>>, deadline: Instant) -> anyhow::Result<Tally> {
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

pub(super) fn sorted(mut tally: Tally) -> Tally {
    tally.latencies.sort_unstable();
    tally
}

pub(super) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
