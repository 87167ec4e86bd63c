//! The `gempool` binary: parses the command line, sets up logging (text or JSON lines on
//! stderr) and runs the server.
//!
//! Exit codes: 0 after a clean shutdown, 2 for bad configuration (one line naming the flag;
//! clap's own usage errors also exit 2), 1 for any other failure.

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use gempool_host::config::{Cli, Command, Config, ConfigError, LogFormat};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    quiet_error_backtraces();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(config) = e.chain().find_map(|c| c.downcast_ref::<ConfigError>()) {
                eprintln!("error: {config}");
                ExitCode::from(2)
            } else {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        }
    }
}

/// Keeps `RUST_BACKTRACE=1` from making every request capture a backtrace: wasmtime builds an
/// error value (with a backtrace when `RUST_BACKTRACE` is set) each time a request's store is
/// dropped, which cost ~25 % of a `/health` request's CPU. Panics still print backtraces (they
/// follow `RUST_BACKTRACE`); an explicit `RUST_LIB_BACKTRACE` is respected. Called before any
/// other thread exists.
fn quiet_error_backtraces() {
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let Command::Serve(args) = &cli.command;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match args.log_format {
        // One JSON object per line, the event's fields (an access line's among them) at the top.
        LogFormat::Json => logs.json().flatten_event(true).with_current_span(false).init(),
        // Colour only for a terminal: logs piped to a file or a test harness stay plain text.
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
    }
    match cli.command {
        Command::Serve(args) => {
            let config = Config::from_args(args)?;
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            let result = runtime.block_on(gempool_host::app::serve(config));
            // Requests still running after the grace period are abandoned, not awaited again.
            runtime.shutdown_timeout(Duration::from_secs(1));
            result
        }
    }
}
