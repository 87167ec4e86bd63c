//! Cloudflare Workers: the gateway component (`dist/gempool.wasm`) transpiled by
//! `deploy/cloudflare`'s build (jco) and served by local `wrangler dev` (workerd) with a local
//! D1 database persisted under the state directory, so a restart keeps the pool. Wrangler,
//! Node 22 and jco come from `deploy/cloudflare/node_modules` (`npm ci` there; `scripts/test`
//! does). The admin key and upstream go in as Worker variables, as `wrangler secret put` and
//! `[vars]` would set them.

use super::{HostKind, LaunchConfig, Process, World};
use crate::wrangler::{self, DevOptions, WranglerDev};
use std::time::Duration;

/// `wrangler dev` with D1.
pub struct Workers;

impl HostKind for Workers {
    fn name(&self) -> &'static str {
        "workers"
    }

    fn world(&self) -> World {
        World::Gateway
    }

    fn check(&self) -> Result<(), String> {
        wrangler::node().map(|_| ())
    }

    fn launch(&self, config: &LaunchConfig) -> Result<Process, String> {
        wrangler::prepare(&config.component)?;
        let mut options = DevOptions::new(
            &config.upstream_url,
            &config.admin_key,
            &config.state_dir.join("wrangler"),
        );
        options.port = config.port;
        std::fs::create_dir_all(&options.state_dir).map_err(|e| e.to_string())?;
        let command = WranglerDev::command(&options)?;
        // workerd's first start compiles the component's core modules: allow for a slow machine.
        Process::spawn(command, format!("http://127.0.0.1:{}", config.port))?.wait_healthy(Duration::from_secs(120))
    }
}
