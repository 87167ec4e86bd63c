//! `gempool-hosts-bench`: the same load against gempool in each host the hosts target knows
//! (`gempool`, `spin`, `workers`, `jco`, `wasmtime-serve`; see `gempool_tests::hosts`), printed
//! side by side, so a user choosing where to run it sees what each host costs.
//!
//! Each host is launched exactly as the hosts test target launches it, against the in-process
//! mock Gemini with four keys (gateway hosts get them through the admin API and are called with
//! a client key; edge hosts are called with a pool key in `x-goog-api-key`, pure proxy). The
//! load comes from `wrk` (Debian package `wrk`), one phase after another, each bounded by
//! `--duration`:
//!
//! - keep-alive saturation: `--connections` connections, each sending its next
//!   `generateContent` as soon as the last answer arrived: req/s and p50 / p99;
//! - fresh connections: the same with `Connection: close` (a TCP connection per request);
//! - one keep-alive connection: p50 and p99 of a lone client (the added latency a user feels);
//! - `GET /health` on one keep-alive connection: the host's floor, no upstream;
//! - a fixed rate (`--rate` requests/s spread over `--rate-connections` connections, from `hey`,
//!   Debian package `hey`), with keep-alive and with a fresh connection per request: p50 / p99 at
//!   a load every host can carry, which saturation figures do not show.
//!
//! Every answer must be 2xx: a phase with other answers is reported and the bench exits 1.

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use gempool_tests::hosts::{self, Host, HostKind, World};
use gempool_tests::mock::{MockGemini, MockOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Parser, Debug)]
#[command(about = "gempool under each host, side by side (wrk load, mock Gemini upstream)")]
struct Args {
    /// Hosts to measure, comma-separated (names as in GEMPOOL_HOST).
    #[arg(long, default_value = "gempool")]
    hosts: String,
    /// Seconds per phase.
    #[arg(long, default_value_t = 10)]
    duration: u32,
    /// Connections of the saturation phases.
    #[arg(long, default_value_t = 32)]
    connections: u32,
    /// The wrk binary.
    #[arg(long, default_value = "wrk")]
    wrk: PathBuf,
    /// Requests per second of the fixed-rate phases.
    #[arg(long, default_value_t = 100)]
    rate: u32,
    /// Connections of the fixed-rate phases (each sends `rate / rate-connections` requests/s).
    #[arg(long, default_value_t = 10)]
    rate_connections: u32,
    /// The hey binary (fixed-rate phases).
    #[arg(long, default_value = "hey")]
    hey: PathBuf,
    /// The pool's key-selection strategy in gateway hosts (the admin API's `strategy`); the
    /// default leaves the gateway's own (`round_robin`).
    #[arg(long)]
    strategy: Option<String>,
}

/// What one wrk phase measured.
#[derive(Debug, Clone, Default)]
struct Phase {
    requests_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    not_ok: u64,
}

const MODEL_PATH: &str = "/v1beta/models/gemini-2.5-flash:generateContent";
const POOL: [&str; 4] = [
    "AIzaSyHostsBenchPoolKey00000000000000001",
    "AIzaSyHostsBenchPoolKey00000000000000002",
    "AIzaSyHostsBenchPoolKey00000000000000003",
    "AIzaSyHostsBenchPoolKey00000000000000004",
];

fn main() -> Result<()> {
    let args = Args::parse();
    let kinds: Vec<&'static dyn HostKind> = args
        .hosts
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|name| {
            let kind = hosts::kind_named(name).with_context(|| format!("unknown host {name:?}"))?;
            kind.check().map_err(anyhow::Error::msg)?;
            Ok(kind)
        })
        .collect::<Result<_>>()?;
    let scratch = tempfile::tempdir()?;
    let mut columns = Vec::new();
    let mut failed = false;
    for kind in kinds {
        eprintln!("== {}", kind.name());
        let phases = measure(kind, &args, scratch.path())?;
        failed |= phases.iter().any(|(_, p)| p.not_ok > 0);
        columns.push((kind.name(), phases));
    }
    print_table(&columns, &args);
    if failed {
        bail!("some answers were not 2xx (see `not 2xx`)");
    }
    Ok(())
}

fn measure(kind: &'static dyn HostKind, args: &Args, scratch: &Path) -> Result<Vec<(&'static str, Phase)>> {
    let mock = MockGemini::start_with(MockOptions {
        keys: POOL.iter().map(|k| k.to_string()).collect(),
        worker_threads: 1,
        record_limit: 1,
        ..MockOptions::default()
    })?;
    let host = Host::start(kind, &mock.url());
    let header = match kind.world() {
        World::Gateway => {
            host.add_keys(&POOL);
            if let Some(strategy) = &args.strategy {
                let set = host
                    .admin("PATCH", "/admin/api/settings")
                    .json(&serde_json::json!({ "strategy": strategy }))
                    .send();
                ensure!(set.status == 200, "setting the strategy: {} {}", set.status, set.text());
            }
            format!("Authorization: Bearer {}", host.client_key())
        }
        World::Edge => format!("x-goog-api-key: {}", POOL[0]),
    };
    let script = scratch.join(format!("{}.lua", kind.name()));
    let body_file = scratch.join(format!("{}.json", kind.name()));
    let body = serde_json::json!({
        "contents": [{"role": "user", "parts": [{"text": "a short question about the weather in Lisbon"}]}],
        "generationConfig": {"maxOutputTokens": 64}
    });
    std::fs::File::create(&script)?.write_all(
        format!("wrk.method = \"POST\"\nwrk.body = [[{body}]]\nwrk.headers[\"Content-Type\"] = \"application/json\"\n")
            .as_bytes(),
    )?;
    std::fs::write(&body_file, body.to_string())?;
    let url = format!("{}{MODEL_PATH}", host.url());
    let c = args.connections.to_string();
    let wrk = |extra: &[&str], target: &str| run_wrk(&args.wrk, args.duration, extra, &header, target);
    // Warm-up (compiles, fills caches), not counted.
    run_wrk(
        &args.wrk,
        2,
        &["-c", &c, "-s", &script.display().to_string()],
        &header,
        &url,
    )?;
    let script = script.display().to_string();
    let phases = vec![
        ("keep-alive", wrk(&["-c", &c, "-s", &script], &url)?),
        (
            "fresh connections",
            wrk(&["-c", &c, "-s", &script, "-H", "Connection: close"], &url)?,
        ),
        ("one connection", wrk(&["-c", "1", "-s", &script], &url)?),
        (
            "/health, one connection",
            wrk(&["-c", "1"], &format!("{}/health", host.url()))?,
        ),
        (
            "fixed rate, keep-alive",
            run_hey(args, &body_file, &header, &url, true)?,
        ),
        (
            "fixed rate, fresh connections",
            run_hey(args, &body_file, &header, &url, false)?,
        ),
    ];
    drop(host);
    Ok(phases)
}

fn run_wrk(wrk: &Path, seconds: u32, extra: &[&str], header: &str, url: &str) -> Result<Phase> {
    let output = Command::new(wrk)
        .args(["-t", "1", "-d", &format!("{seconds}s"), "--latency", "--timeout", "10s"])
        .args(["-H", header])
        .args(extra)
        .arg(url)
        .output()
        .with_context(|| format!("cannot run {} (apt-get install wrk)", wrk.display()))?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!("wrk failed: {text}{}", String::from_utf8_lossy(&output.stderr));
    }
    parse_wrk(&text).with_context(|| format!("unreadable wrk output:\n{text}"))
}

/// `--rate` requests/s for `--duration` seconds from `hey`, each of `--rate-connections`
/// workers on its own ticker; latencies from hey's per-request CSV. A request hey could not
/// complete (connection error, timeout) has no CSV row and counts as not 2xx.
fn run_hey(args: &Args, body_file: &Path, header: &str, url: &str, keep_alive: bool) -> Result<Phase> {
    let connections = args.rate_connections.max(1);
    let per_connection = (f64::from(args.rate) / f64::from(connections)).max(1.0);
    let total = u64::from(args.rate) * u64::from(args.duration);
    let mut command = Command::new(&args.hey);
    command
        .args(["-n", &total.to_string(), "-c", &connections.to_string()])
        .args(["-q", &format!("{per_connection}"), "-t", "10", "-o", "csv"])
        .args(["-m", "POST", "-T", "application/json", "-H", header])
        .arg("-D")
        .arg(body_file);
    if !keep_alive {
        command.arg("-disable-keepalive");
    }
    let output = command
        .arg(url)
        .output()
        .with_context(|| format!("cannot run {} (apt-get install hey)", args.hey.display()))?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!("hey failed: {text}{}", String::from_utf8_lossy(&output.stderr));
    }
    parse_hey_csv(&text, total).with_context(|| format!("unreadable hey output:\n{text}"))
}

/// Reads hey's `-o csv` (`response-time,…,status-code,offset`, seconds): p50 / p99 of the
/// response times, the achieved rate (rows over the last offset) and the answers that were not
/// 2xx or never came (`expected` minus rows).
fn parse_hey_csv(text: &str, expected: u64) -> Option<Phase> {
    let mut times = Vec::new();
    let mut not_ok = 0u64;
    let mut last_end = 0f64;
    for line in text.lines().skip_while(|l| !l.starts_with("response-time")).skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        let [time, .., status, offset] = fields.as_slice() else {
            continue;
        };
        let time: f64 = time.parse().ok()?;
        let status: u16 = status.parse().ok()?;
        let offset: f64 = offset.parse().ok()?;
        if !(200..300).contains(&status) {
            not_ok += 1;
        }
        last_end = last_end.max(offset + time);
        times.push(time * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let at = |p: f64| {
        times
            .get(((times.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .copied()
    };
    Some(Phase {
        requests_per_second: if last_end > 0.0 {
            times.len() as f64 / last_end
        } else {
            0.0
        },
        p50_ms: at(0.50)?,
        p99_ms: at(0.99)?,
        not_ok: not_ok + expected.saturating_sub(times.len() as u64),
    })
}

/// Reads req/s, the 50 % and 99 % latencies and the non-2xx/3xx and error counts of
/// `wrk --latency`.
fn parse_wrk(text: &str) -> Option<Phase> {
    let mut phase = Phase::default();
    let mut read_rate = false;
    for line in text.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("Requests/sec:"), Some(v)) => {
                phase.requests_per_second = v.parse().ok()?;
                read_rate = true;
            }
            (Some("50%"), Some(v)) => phase.p50_ms = duration_ms(v)?,
            (Some("99%"), Some(v)) => phase.p99_ms = duration_ms(v)?,
            (Some("Non-2xx"), _) => phase.not_ok += line.rsplit(' ').next()?.parse::<u64>().ok()?,
            (Some("Socket"), Some("errors:")) => {
                // "Socket errors: connect 0, read 0, write 0, timeout 0"
                phase.not_ok += line
                    .split(',')
                    .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
                    .sum::<u64>();
            }
            _ => {}
        }
    }
    // A slow host may complete nothing within a short phase: that is a figure (0 req/s).
    read_rate.then_some(phase)
}

/// wrk's `1.23ms`, `456.00us`, `1.02s`, `2.00m` in milliseconds.
fn duration_ms(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    Some(match unit {
        "us" => value / 1000.0,
        "ms" => value,
        "s" => value * 1000.0,
        "m" => value * 60_000.0,
        _ => return None,
    })
}

fn print_table(columns: &[(&str, Vec<(&str, Phase)>)], args: &Args) {
    println!(
        "\n{} s per phase, {} connections for the saturation phases (wrk, 1 thread), fixed rate {} req/s over {} connections (hey)\n",
        args.duration, args.connections, args.rate, args.rate_connections
    );
    print!("{:<38}", "");
    for (name, _) in columns {
        print!("{name:>16}");
    }
    println!();
    let Some((_, first)) = columns.first() else { return };
    for (row, (phase_name, _)) in first.iter().enumerate() {
        for (label, value) in [
            ("req/s", (|p: &Phase| p.requests_per_second) as fn(&Phase) -> f64),
            ("p50 ms", |p: &Phase| p.p50_ms),
            ("p99 ms", |p: &Phase| p.p99_ms),
            ("not 2xx", |p: &Phase| p.not_ok as f64),
        ] {
            print!("{:<38}", format!("{phase_name}: {label}"));
            for (_, phases) in columns {
                let v = phases.get(row).map(|(_, p)| value(p)).unwrap_or(f64::NAN);
                if label == "req/s" || label == "not 2xx" {
                    print!("{v:>16.0}");
                } else {
                    print!("{v:>16.2}");
                }
            }
            println!();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_latency_output() {
        let text = "Running 2s test @ http://127.0.0.1:1/\n  1 threads and 1 connections\n  Thread Stats   Avg      Stdev     Max   +/- Stdev\n    Latency   710.00us  100.00us   2.00ms   90.00%\n  Latency Distribution\n     50%  650.00us\n     75%  700.00us\n     90%  800.00us\n     99%    1.50ms\n  2800 requests in 2.00s, 1.00MB read\n  Socket errors: connect 0, read 2, write 0, timeout 1\n  Non-2xx or 3xx responses: 4\nRequests/sec:   1400.00\nTransfer/sec:    500.00KB\n";
        let phase = parse_wrk(text).unwrap();
        assert_eq!(phase.requests_per_second, 1400.0);
        assert!((phase.p50_ms - 0.65).abs() < 1e-9);
        assert!((phase.p99_ms - 1.5).abs() < 1e-9);
        assert_eq!(phase.not_ok, 7);
    }

    #[test]
    fn reads_hey_csv_output() {
        let mut text = String::from(
            "response-time,DNS+dialup,DNS,Request-write,Response-delay,Response-read,status-code,offset\n",
        );
        for i in 0..100 {
            let status = if i == 7 { 503 } else { 200 };
            text.push_str(&format!(
                "{:.4},0.0001,0.0000,0.0001,0.0010,0.0001,{status},{:.4}\n",
                0.001 + f64::from(i) * 0.0001,
                f64::from(i) * 0.01
            ));
        }
        let phase = parse_hey_csv(&text, 102).unwrap();
        assert!((phase.p50_ms - 5.9).abs() < 1e-6, "{}", phase.p50_ms);
        assert!((phase.p99_ms - 10.8).abs() < 1e-6, "{}", phase.p99_ms);
        assert_eq!(phase.not_ok, 3, "one 503 and two that never came");
        assert!((phase.requests_per_second - 100.0 / (0.99 + 0.0109)).abs() < 1e-6);
    }
}
