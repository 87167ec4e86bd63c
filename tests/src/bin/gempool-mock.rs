//! `gempool-mock`: serves the strict mock Gemini API on a fixed address, for the benchmark and
//! manual use. Prints `mock listening on http://ADDR` and runs until killed.

use std::net::SocketAddr;

use anyhow::Context;
use clap::Parser;
use gempool_tests::mock::{MockGemini, MockOptions};

/// Command line of `gempool-mock`.
#[derive(Parser)]
#[command(name = "gempool-mock", about = "A strict mock of the Gemini API")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9999")]
    listen: SocketAddr,
    /// API keys to accept (comma-separated).
    #[arg(long, value_delimiter = ',')]
    keys: Vec<String>,
    /// Accept every API key.
    #[arg(long)]
    any_key: bool,
    /// Worker threads [default: available cores].
    #[arg(long)]
    threads: Option<usize>,
    /// Requests kept in memory for inspection.
    #[arg(long, default_value_t = 10_000)]
    record_limit: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get));
    let mock = MockGemini::start_with(MockOptions {
        listen: args.listen,
        keys: args.keys,
        accept_any_key: args.any_key,
        worker_threads: threads,
        record_limit: args.record_limit,
    })
    .with_context(|| format!("cannot listen on {}", args.listen))?;
    println!("mock listening on {}", mock.url());
    loop {
        std::thread::park();
    }
}
