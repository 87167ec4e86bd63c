//! `gempool-scrape-bench`: what a `GET /metrics` scrape costs, and whether scraping slows the
//! proxied requests.
//!
//! Starts the mock Gemini and `gempool serve` (the e2e harness), adds `--keys` pool keys through
//! the admin API, then writes usage rows straight into the gateway's SQLite file (WAL: the
//! gateway keeps serving): `--keys` × `--models` × `--days` `key_usage` rows with every counter
//! set, plus `--clients` client keys with usage per model and day. Then:
//! 1. `--scrapes` sequential scrapes: latency (min, p50, p95, max) and body size;
//! 2. `--requests` sequential proxied `generateContent` requests with no scrape running, then the
//!    same with one thread scraping back to back: p50 / p95 latency of each.
//!
//! Prints the figures; no thresholds (BENCHMARKS.md records them with the command).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use gempool_tests::harness::{Gateway, GatewayOptions};
use gempool_tests::mock::MockGemini;
use serde_json::json;

#[derive(Parser)]
#[command(about = "Cost of a GET /metrics scrape with many keys, models and days of usage")]
struct Args {
    /// Pool keys.
    #[arg(long, default_value_t = 100)]
    keys: usize,
    /// Models with usage on every key.
    #[arg(long, default_value_t = 10)]
    models: usize,
    /// UTC days of usage per key and model.
    #[arg(long, default_value_t = 30)]
    days: usize,
    /// Client keys (each with usage on every model and day).
    #[arg(long, default_value_t = 20)]
    clients: usize,
    /// Sequential scrapes measured.
    #[arg(long, default_value_t = 50)]
    scrapes: usize,
    /// Proxied requests per phase (without, then with a concurrent scraper).
    #[arg(long, default_value_t = 300)]
    requests: usize,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mock = MockGemini::start();
    mock.set_accept_any_key(true);
    let data = tempfile::tempdir()?;
    let db_path = data.path().join("gempool.db");
    let mut options = GatewayOptions::with_mock(&mock, &[]).open();
    options.data = Some(db_path.clone());
    options.extra_args = vec!["--quiet".into()];
    let gw = Gateway::start(options);

    let secrets: Vec<String> = (0..args.keys).map(|i| format!("AIzaSyScrapeBenchKey{i:019}")).collect();
    let added = gw
        .admin("POST", "/admin/api/keys")
        .json(&json!({"keys": secrets}))
        .send();
    if added.status != 201 {
        bail!("adding keys: {} {}", added.status, added.text());
    }
    for i in 0..args.clients {
        gw.admin("POST", "/admin/api/client-keys")
            .json(&json!({"name": format!("client-{i}")}))
            .send()
            .assert_status(201);
    }

    // Usage rows, as weeks of traffic would leave them.
    let started = Instant::now();
    let mut conn = rusqlite::Connection::open(&db_path).context("opening the gateway's database")?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let tx = conn.transaction()?;
    let key_ids: Vec<i64> = tx
        .prepare("SELECT id FROM upstream_keys ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let client_ids: Vec<i64> = tx
        .prepare("SELECT id FROM client_keys ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let today = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        / 86_400;
    let days: Vec<String> = (0..args.days as u64)
        .map(|back| {
            tx.query_row(
                "SELECT strftime('%Y-%m-%d', ?, 'unixepoch')",
                [((today - back) * 86_400) as i64],
                |r| r.get(0),
            )
        })
        .collect::<Result<_, _>>()?;
    let models: Vec<String> = (0..args.models).map(|m| format!("gemini-bench-{m}")).collect();
    {
        let mut insert = tx.prepare(
            "INSERT OR REPLACE INTO key_usage (key_id, model, day, requests, errors, rate_limited, invalid, overloaded, \
             timeouts, prompt_tokens, candidate_tokens, thought_tokens, latency_ms_total, ok_latency_ms, lat_le_1, \
             lat_le_2, lat_le_5, lat_le_10, lat_le_20, lat_le_60, lat_le_120, h00, q00, h12, q12) \
             VALUES (?, ?, ?, 1000, 60, 30, 5, 10, 5, 500000, 200000, 50000, 1500000, 1400000, 300, 300, 200, 100, 30, \
             8, 2, 600, 20, 400, 10)",
        )?;
        for id in &key_ids {
            for model in &models {
                for day in &days {
                    insert.execute(rusqlite::params![id, model, day])?;
                }
            }
        }
        let mut insert = tx.prepare(
            "INSERT OR REPLACE INTO client_usage (client_id, model, day, requests, prompt_tokens, output_tokens, \
             rate_limited, rejected_4xx, failed_5xx) VALUES (?, ?, ?, 500, 250000, 120000, 10, 5, 2)",
        )?;
        for id in &client_ids {
            for model in &models {
                for day in &days {
                    insert.execute(rusqlite::params![id, model, day])?;
                }
            }
        }
    }
    tx.commit()?;
    let rows = key_ids.len() * models.len() * days.len();
    println!(
        "data: {} keys × {} models × {} days = {rows} key_usage rows, {} client_usage rows (written in {:?})",
        key_ids.len(),
        models.len(),
        days.len(),
        client_ids.len() * models.len() * days.len(),
        started.elapsed()
    );

    // 1. Scrapes on their own.
    let admin_key = gw.admin_key().context("the gateway's admin key")?.to_owned();
    let client = gempool_tests::http::Client::new(gw.url());
    let scrape = |client: &gempool_tests::http::Client| {
        client
            .get("/metrics")
            .bearer(&admin_key)
            .timeout(Duration::from_secs(30))
            .try_send()
    };
    let first = scrape(&client).map_err(|e| anyhow::anyhow!("{e}"))?;
    if first.status != 200 {
        bail!("GET /metrics answered {}", first.status);
    }
    let body = first.text();
    let series = body.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).count();
    let mut took = Vec::with_capacity(args.scrapes);
    for _ in 0..args.scrapes {
        let t = Instant::now();
        let r = scrape(&client).map_err(|e| anyhow::anyhow!("{e}"))?;
        took.push(t.elapsed());
        if r.status != 200 {
            bail!("GET /metrics answered {}", r.status);
        }
    }
    took.sort();
    println!(
        "scrape: {} bytes, {series} samples; {} scrapes: min {}, p50 {}, p95 {}, max {}",
        body.len(),
        took.len(),
        ms(took[0]),
        ms(percentile(&took, 0.5)),
        ms(percentile(&took, 0.95)),
        ms(*took.last().unwrap())
    );

    // 2. Proxied requests, without and with a scraper running alongside.
    let hello = json!({"contents": [{"role": "user", "parts": [{"text": "hello there"}]}]});
    let run = |label: &str| -> anyhow::Result<()> {
        let mut took = Vec::with_capacity(args.requests);
        for _ in 0..args.requests {
            let t = Instant::now();
            let r = client
                .post("/v1beta/models/gemini-2.5-flash:generateContent")
                .json(&hello)
                .timeout(Duration::from_secs(10))
                .try_send()
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            took.push(t.elapsed());
            if r.status != 200 {
                bail!("a proxied request answered {}: {}", r.status, r.text());
            }
        }
        took.sort();
        println!(
            "requests {label}: {} sequential generateContent: p50 {}, p95 {}, max {}",
            took.len(),
            ms(percentile(&took, 0.5)),
            ms(percentile(&took, 0.95)),
            ms(*took.last().unwrap())
        );
        Ok(())
    };
    run("without scrapes")?;
    let stop = Arc::new(AtomicBool::new(false));
    let scrapes = Arc::new(AtomicU64::new(0));
    let scraper = {
        let (stop, scrapes) = (Arc::clone(&stop), Arc::clone(&scrapes));
        let client = gempool_tests::http::Client::new(gw.url());
        let admin_key = admin_key.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let ok = client
                    .get("/metrics")
                    .bearer(&admin_key)
                    .timeout(Duration::from_secs(30))
                    .try_send()
                    .is_ok_and(|r| r.status == 200);
                if ok {
                    scrapes.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let with = Instant::now();
    run("with a scraper running back to back")?;
    stop.store(true, Ordering::Relaxed);
    scraper.join().map_err(|_| anyhow::anyhow!("the scraper panicked"))?;
    println!(
        "  (the scraper completed {} scrapes in {:.1} s meanwhile)",
        scrapes.load(Ordering::Relaxed),
        with.elapsed().as_secs_f64()
    );
    Ok(())
}
