//! Real Spin: `spin up` with the repository's own `spin.toml` (unchanged) running
//! `dist/gempool.wasm`; `$GEMPOOL_SPIN_BIN`, else `spin` on `PATH`.
//!
//! The admin key goes in as `SPIN_VARIABLE_ADMIN_KEY` (the environment route), the upstream as
//! `--variable upstream_url=...`, which `spin.toml` also turns into the component's only
//! allowed outbound host. Spin keeps the `default` SQLite database under `--state-dir`.

use super::{binary, HostKind, LaunchConfig, Process, World};
use crate::harness::workspace_root;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// `spin up`.
pub struct Spin;

fn bin() -> Result<PathBuf, String> {
    binary(
        "GEMPOOL_SPIN_BIN",
        "spin",
        "build Spin from its source repository and set GEMPOOL_SPIN_BIN",
    )
}

impl HostKind for Spin {
    fn name(&self) -> &'static str {
        "spin"
    }

    fn world(&self) -> World {
        World::Gateway
    }

    fn check(&self) -> Result<(), String> {
        bin().map(|_| ())
    }

    fn launch(&self, config: &LaunchConfig) -> Result<Process, String> {
        let manifest = workspace_root().join("spin.toml");
        let mut command = Command::new(bin()?);
        command
            .arg("up")
            .args(["--from", &manifest.display().to_string()])
            .args(["--listen", &format!("127.0.0.1:{}", config.port)])
            .args(["--state-dir", &config.state_dir.join("spin").display().to_string()])
            .args(["--variable", &format!("upstream_url={}", config.upstream_url)])
            .env("SPIN_VARIABLE_ADMIN_KEY", &config.admin_key)
            // No telemetry, update checks or plugin lookups during tests.
            .env("SPIN_DISABLE_PLUGIN_UPDATE_CHECK", "1");
        Process::spawn(command, format!("http://127.0.0.1:{}", config.port))?.wait_healthy(Duration::from_secs(60))
    }
}
