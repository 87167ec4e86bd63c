//! `wasmtime serve` (wasmtime-cli, `$GEMPOOL_WASMTIME_BIN` or `wasmtime` on `PATH`) running the
//! edge component with no `-S` flags: only `wasi:http/proxy` is linked, so this also proves the
//! component needs nothing more. The upstream slot is pointed at the mock first.

use super::{binary, edge_component_for, HostKind, LaunchConfig, Process, World};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// `wasmtime serve`.
pub struct WasmtimeServe;

fn bin() -> Result<PathBuf, String> {
    binary(
        "GEMPOOL_WASMTIME_BIN",
        "wasmtime",
        "cargo install wasmtime-cli --locked (a long build)",
    )
}

impl HostKind for WasmtimeServe {
    fn name(&self) -> &'static str {
        "wasmtime-serve"
    }

    fn world(&self) -> World {
        World::Edge
    }

    fn check(&self) -> Result<(), String> {
        bin().map(|_| ())
    }

    fn launch(&self, config: &LaunchConfig) -> Result<Process, String> {
        let component = edge_component_for(&config.upstream_url, &config.state_dir)?;
        let mut command = Command::new(bin()?);
        command
            .arg("serve")
            .args(["--addr", &format!("127.0.0.1:{}", config.port)])
            .arg(component);
        Process::spawn(command, format!("http://127.0.0.1:{}", config.port))?.wait_healthy(Duration::from_secs(60))
    }
}
