//! `jco serve` (npm `@bytecodealliance/jco`, pinned in `tests/hosts/package.json`, installed by
//! `scripts/test`) running the edge component under Node.js, one component instance per
//! request. The component's upstream slot is pointed at the mock first.
//!
//! jco: `$GEMPOOL_JCO`, else `tests/hosts/node_modules/.bin/jco`; Node.js: `$GEMPOOL_TEST_NODE`,
//! else `node` on `PATH`.

use super::{binary, edge_component_for, HostKind, LaunchConfig, Process, World};
use crate::harness::workspace_root;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// `jco serve`.
pub struct Jco;

fn jco() -> Result<PathBuf, String> {
    let path = std::env::var_os("GEMPOOL_JCO")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("tests/hosts/node_modules/.bin/jco"));
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "{} is missing: (cd tests/hosts && npm ci) or set GEMPOOL_JCO",
            path.display()
        ))
    }
}

fn node() -> Result<PathBuf, String> {
    binary("GEMPOOL_TEST_NODE", "node", "install Node.js 18 or later")
}

impl HostKind for Jco {
    fn name(&self) -> &'static str {
        "jco"
    }

    fn world(&self) -> World {
        World::Edge
    }

    fn check(&self) -> Result<(), String> {
        jco()?;
        node()?;
        Ok(())
    }

    fn launch(&self, config: &LaunchConfig) -> Result<Process, String> {
        let component = edge_component_for(&config.upstream_url, &config.state_dir)?;
        let mut command = Command::new(node()?);
        command
            .arg(jco()?)
            .arg("serve")
            .args(["--host", "127.0.0.1", "--port", &config.port.to_string()])
            // wasi:http/proxy lets hosts reuse an instance, but a fresh one per request is how
            // the component is meant to run (and how workerd must run it).
            .args(["--isolate-requests", "instance"])
            .args(["--jco-dir", &config.state_dir.join("jco").display().to_string()])
            .arg(component);
        // Transpiling the component takes a few seconds on a cold start.
        Process::spawn(command, format!("http://127.0.0.1:{}", config.port))?.wait_healthy(Duration::from_secs(120))
    }
}
