//! `gempool-workers-bench`: gempool as a Cloudflare Worker under local `wrangler dev`
//! (workerd, local D1), against the mock Gemini on loopback; prints the figures of
//! BENCHMARKS.md's "Cloudflare Workers" section.
//!
//! * **D1 rows per request**: the Worker runs with `D1_STATS=1`, which logs D1's own `meta`
//!   (rows read, rows written, statements) per request; averaged per route.
//! * **CPU per request**: workerd's CPU time (all of wrangler's workerd processes, from
//!   `/proc`) over `--requests` sequential requests, for `/health` (an instance, no SQL), a
//!   native `generateContent` and an OpenAI chat completion; and the same for a baseline Worker
//!   without the component (`deploy/cloudflare/bench/baseline.js`) that answers at once, or runs
//!   as many one-row D1 queries as gempool's request did and forwards the body to the mock. The
//!   difference is what the component (instance, guest code, jco glue) costs.
//! * **Saturation**: a closed loop on `--connections` keep-alive connections for `--duration`
//!   seconds, native route, through the Worker and through the bundled host (`$GEMPOOL_BIN` or
//!   `target/release/gempool`) on the same mock.
//! * **Upload size**: `wrangler deploy --dry-run`.
//!
//! All traffic goes to 127.0.0.1; every loop is bounded.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use clap::Parser;
use gempool_tests::harness::{workspace_root, Gateway, GatewayOptions};
use gempool_tests::http::{Client, RequestBuilder};
use gempool_tests::mock::MockGemini;
use gempool_tests::wrangler::{cloudflare_dir, node, prepare, DevOptions, WranglerDev};
use serde_json::{json, Value};

const KEYS: [&str; 4] = ["bench-key-1", "bench-key-2", "bench-key-3", "bench-key-4"];
const ADMIN_KEY: &str = "workers-bench-admin-key-0123456789";
const NATIVE: &str = "/v1beta/models/gemini-2.5-flash:generateContent";
const OPENAI: &str = "/v1/chat/completions";

/// Command line of `gempool-workers-bench`.
#[derive(Parser, Debug)]
#[command(
    name = "gempool-workers-bench",
    about = "gempool on local workerd + D1: CPU, D1 rows, throughput, size"
)]
struct Args {
    /// Sequential requests per route for CPU time.
    #[arg(long, default_value_t = 200)]
    requests: usize,
    /// Keep-alive connections of the closed loop.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Seconds of each closed loop.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// The gateway component (default dist/gempool.wasm, else target/wasm's).
    #[arg(long)]
    component: Option<PathBuf>,
}

fn component(args: &Args) -> PathBuf {
    if let Some(path) = &args.component {
        return path.clone();
    }
    let dist = workspace_root().join("dist/gempool.wasm");
    if dist.is_file() {
        dist
    } else {
        workspace_root().join("target/wasm/wasm32-wasip2/guest/gempool_guest.wasm")
    }
}

fn native_body() -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": "hello there, how are you today"}]}]})
}

fn openai_body() -> Value {
    json!({"model": "gpt-5-mini", "messages": [{"role": "user", "content": "hello there, how are you today"}]})
}

/// A request of `route` ("health", "native", "openai") with `client_key`.
fn request(client: &Client, route: &str, client_key: &str) -> RequestBuilder {
    match route {
        "health" => client.get("/health"),
        "native" => client
            .post(NATIVE)
            .header("x-goog-api-key", client_key)
            .json(&native_body()),
        _ => client.post(OPENAI).bearer(client_key).json(&openai_body()),
    }
}

/// Adds the pool keys and returns a new client key.
fn provision(client: &Client) -> String {
    client
        .post("/admin/api/keys")
        .bearer(ADMIN_KEY)
        .json(&json!({"keys": KEYS}))
        .send()
        .assert_status(201);
    let created = client
        .post("/admin/api/client-keys")
        .bearer(ADMIN_KEY)
        .json(&json!({"name": "bench"}))
        .send();
    created.assert_status(201);
    created.json()["key"].as_str().expect("a client key").to_owned()
}

/// CPU milliseconds per request of workerd over `n` sequential requests, and the median wall time.
fn cpu_per_request(dev: &WranglerDev, n: usize, mut send: impl FnMut() -> u16) -> (f64, f64) {
    let mut walls = Vec::with_capacity(n);
    let before = dev.workerd_cpu();
    for _ in 0..n {
        let started = Instant::now();
        let status = send();
        assert_eq!(status, 200, "a benchmark request failed:\n{}", tail(&dev.log()));
        walls.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let cpu = dev.workerd_cpu().saturating_sub(before);
    walls.sort_by(f64::total_cmp);
    (cpu.as_secs_f64() * 1000.0 / n as f64, walls[n / 2])
}

/// Requests per second of a closed loop on `connections` threads for `duration`.
fn saturation(url: &str, client_key: &str, connections: usize, duration: Duration) -> (f64, usize) {
    let warmup_end = Instant::now() + Duration::from_secs(2);
    let end = warmup_end + duration;
    let results: Vec<(usize, usize)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..connections)
            .map(|_| {
                s.spawn(|| {
                    let client = Client::new(url);
                    let (mut ok, mut failed) = (0, 0);
                    while Instant::now() < end {
                        let status = request(&client, "native", client_key)
                            .timeout(Duration::from_secs(30))
                            .try_send()
                            .map_or(0, |r| r.status);
                        if Instant::now() > warmup_end && Instant::now() <= end {
                            if status == 200 {
                                ok += 1;
                            } else {
                                failed += 1;
                            }
                        }
                    }
                    (ok, failed)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("loop thread")).collect()
    });
    let ok: usize = results.iter().map(|r| r.0).sum();
    let failed: usize = results.iter().map(|r| r.1).sum();
    (ok as f64 / duration.as_secs_f64(), failed)
}

/// Mean of each `key=value` number over the `gempool-d1` log lines of requests to `path`.
fn d1_means(log: &str, path: &str) -> Vec<(String, f64)> {
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("gempool-d1 ") && l.contains(&format!(" {path} ")))
        .collect();
    let mut sums: Vec<(String, f64)> = Vec::new();
    for line in &lines {
        for field in line.split_whitespace().filter_map(|f| f.split_once('=')) {
            if let Ok(value) = field.1.parse::<f64>() {
                match sums.iter_mut().find(|(k, _)| k == field.0) {
                    Some(entry) => entry.1 += value,
                    None => sums.push((field.0.to_owned(), value)),
                }
            }
        }
    }
    let n = lines.len().max(1) as f64;
    sums.into_iter().map(|(k, v)| (k, v / n)).collect()
}

fn mean(means: &[(String, f64)], key: &str) -> f64 {
    means.iter().find(|(k, _)| k == key).map_or(0.0, |(_, v)| *v)
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// `Total Upload: X KiB / gzip: Y KiB` of `wrangler deploy --dry-run`.
fn upload_size() -> String {
    let out = tempfile::tempdir().expect("tempdir");
    let output = Command::new(node().expect("node"))
        .current_dir(cloudflare_dir())
        .args([
            "node_modules/wrangler/bin/wrangler.js",
            "deploy",
            "--dry-run",
            "--outdir",
        ])
        .arg(out.path())
        .env("WRANGLER_SEND_METRICS", "false")
        .env("CI", "1")
        .env("NO_COLOR", "1")
        .output()
        .expect("run wrangler deploy --dry-run");
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    text.lines()
        .find(|l| l.contains("Total Upload"))
        .map_or_else(|| format!("(not reported: {})", tail(&text)), |l| l.trim().to_owned())
}

fn start(options: &DevOptions) -> WranglerDev {
    WranglerDev::start(options).unwrap_or_else(|e| panic!("{e}"))
}

fn main() {
    let args = Args::parse();
    let component = component(&args);
    prepare(&component).unwrap_or_else(|e| panic!("{e}"));
    let mock = MockGemini::with_keys(&KEYS);
    let state = tempfile::tempdir().expect("tempdir");
    let n = args.requests;
    println!(
        "component: {} ({} bytes)",
        component.display(),
        std::fs::metadata(&component).map_or(0, |m| m.len())
    );

    // D1 rows per request, from D1's meta.
    let mut options = DevOptions::new(&mock.url(), ADMIN_KEY, &state.path().join("gempool"));
    options.vars.push(("D1_STATS".into(), "1".into()));
    let dev = start(&options);
    let client = Client::new(dev.url());
    let client_key = provision(&client);
    for route in ["native", "openai"] {
        for _ in 0..20 {
            assert_eq!(request(&client, route, &client_key).send().status, 200);
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let log = dev.log();
    let native_d1 = d1_means(&log, NATIVE);
    let openai_d1 = d1_means(&log, OPENAI);
    drop(dev);

    // CPU per request: gempool, then the baseline Worker.
    options.vars.retain(|(k, _)| k != "D1_STATS");
    let dev = start(&options);
    let client = Client::new(dev.url());
    let mut cpu = Vec::new();
    for route in ["health", "native", "openai"] {
        for _ in 0..20 {
            request(&client, route, &client_key).send();
        }
        let (ms, p50) = cpu_per_request(&dev, n, || request(&client, route, &client_key).send().status);
        cpu.push((route, ms, p50));
    }
    let (workers_rps, workers_failed) = saturation(
        dev.url(),
        &client_key,
        args.connections,
        Duration::from_secs_f64(args.duration),
    );
    drop(dev);

    let baseline_options = DevOptions {
        script: Some(PathBuf::from("bench/baseline.js")),
        ..DevOptions::new(&mock.url(), ADMIN_KEY, &state.path().join("baseline"))
    };
    let baseline = start(&baseline_options);
    let bclient = Client::new(baseline.url());
    let queries = mean(&native_d1, "queries").round() as usize;
    let work = format!(
        "/work?queries={queries}&upstream={}",
        form_urlencoded::byte_serialize(format!("{}{NATIVE}", mock.url()).as_bytes()).collect::<String>()
    );
    let send_work = || {
        bclient
            .post(&work)
            .header("x-goog-api-key", KEYS[0])
            .json(&native_body())
            .send()
            .status
    };
    for _ in 0..20 {
        bclient.get("/").send();
        send_work();
    }
    let (base_empty, base_empty_p50) = cpu_per_request(&baseline, n, || bclient.get("/").send().status);
    let (base_work, base_work_p50) = cpu_per_request(&baseline, n, send_work);
    drop(baseline);

    // The bundled host on the same mock (when it is built).
    let host_bin = std::env::var_os("GEMPOOL_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/release/gempool"));
    let host = host_bin.is_file().then(|| {
        let gateway = Gateway::start(GatewayOptions {
            admin_key: Some(ADMIN_KEY.into()),
            ..GatewayOptions::new(mock.url())
        });
        let host_key = provision(&gateway.client());
        saturation(
            &gateway.url(),
            &host_key,
            args.connections,
            Duration::from_secs_f64(args.duration),
        )
    });

    let upload = upload_size();

    println!();
    println!("D1 per request (D1 meta, mean of 20):");
    for (name, means) in [("native generateContent", &native_d1), ("OpenAI chat", &openai_d1)] {
        println!(
            "  {name:<24} statements {:>4.1}  rows read {:>5.1}  rows written {:>5.1}  writing statements {:>4.1}",
            mean(means, "queries"),
            mean(means, "rows_read"),
            mean(means, "rows_written"),
            mean(means, "write_statements")
        );
    }
    let written = mean(&native_d1, "rows_written").max(0.1);
    let read = mean(&native_d1, "rows_read").max(0.1);
    println!(
        "  free plan (100,000 rows written, 5,000,000 read a day): {:.0} requests/day by writes, {:.0} by reads",
        100_000.0 / written,
        5_000_000.0 / read
    );
    println!();
    println!("workerd CPU per request (wrangler dev, {n} sequential requests each; ms):");
    println!("  {:<44} {:>8} {:>10}", "", "CPU", "wall p50");
    for (route, ms, p50) in &cpu {
        println!("  {:<44} {ms:>8.2} {p50:>10.2}", format!("gempool {route}"));
    }
    println!(
        "  {:<44} {base_empty:>8.2} {base_empty_p50:>10.2}",
        "baseline Worker, empty answer"
    );
    println!(
        "  {:<44} {base_work:>8.2} {base_work_p50:>10.2}",
        format!("baseline Worker, {queries} D1 queries + fetch")
    );
    let health = cpu[0].1;
    println!(
        "  component share: /health {:.2} (instance + routing), native {:.2}, OpenAI {:.2}",
        health - base_empty,
        cpu[1].1 - base_work,
        cpu[2].1 - base_work
    );
    println!();
    let host = host.map_or_else(
        || format!("bundled host not built ({})", host_bin.display()),
        |(rps, failed)| format!("bundled host {rps:.0} req/s ({failed} failed)"),
    );
    println!(
        "saturation, native route, {} connections, {} s: Worker {workers_rps:.0} req/s ({workers_failed} failed), {host}",
        args.connections, args.duration
    );
    println!("upload (wrangler deploy --dry-run): {upload}");
}
