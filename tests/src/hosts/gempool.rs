//! The bundled host: `gempool serve` (`$GEMPOOL_BIN`, else `target/release/gempool`) with its
//! embedded gateway component, state in `<state_dir>/gempool.db`.

use super::{HostKind, LaunchConfig, Process, World};
use crate::harness::workspace_root;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// `gempool serve`.
pub struct Gempool;

fn bin() -> PathBuf {
    std::env::var_os("GEMPOOL_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/release/gempool"))
}

impl HostKind for Gempool {
    fn name(&self) -> &'static str {
        "gempool"
    }

    fn world(&self) -> World {
        World::Gateway
    }

    fn check(&self) -> Result<(), String> {
        let bin = bin();
        if bin.is_file() {
            Ok(())
        } else {
            Err(format!(
                "{} is missing: cargo build --release -p gempool-host (or set GEMPOOL_BIN)",
                bin.display()
            ))
        }
    }

    fn launch(&self, config: &LaunchConfig) -> Result<Process, String> {
        let mut command = Command::new(bin());
        command
            .arg("serve")
            .args(["--listen", &format!("127.0.0.1:{}", config.port)])
            .args(["--data", &config.state_dir.join("gempool.db").display().to_string()])
            .args(["--upstream-url", &config.upstream_url])
            .args(["--admin-key", &config.admin_key])
            .args([
                "--cache-dir",
                &workspace_root().join("target/gempool-test-cache").display().to_string(),
            ]);
        for name in [
            "GEMPOOL_KEYS",
            "GEMPOOL_OPEN",
            "GEMPOOL_ADMIN_KEY",
            "GEMPOOL_UPSTREAM_URL",
            "GEMPOOL_DATA",
        ] {
            command.env_remove(name);
        }
        Process::spawn(command, format!("http://127.0.0.1:{}", config.port))?.wait_healthy(Duration::from_secs(60))
    }
}
