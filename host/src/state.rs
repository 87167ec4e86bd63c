//! Per-request store data: what one guest instance can reach.
//!
//! A fresh [`Host`] is built for every HTTP request (as `wasmtime serve` does), so nothing the
//! guest does survives the request except what it writes to SQLite. The shared parts (the
//! database, the variables, the pooled client for outgoing HTTP) are behind `Arc`s; the rest is
//! cheap to create.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::{CallHook, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::outgoing::Upstream;
use crate::spin::sqlite::SqliteBackend;
use crate::spin::variables::Variables;

/// The `T` of `Store<T>`: WASI, wasi:http and the Spin interfaces for one request.
pub struct Host {
    /// Every resource the guest holds (HTTP bodies, streams, SQLite connections).
    pub table: ResourceTable,
    /// WASI context: no environment, no arguments, no files; guest output goes to our stderr.
    pub wasi: WasiCtx,
    /// wasi:http context.
    pub http: WasiHttpCtx,
    /// Sends the guest's outgoing requests through the process-wide connection pool.
    pub upstream: Upstream,
    /// The database behind `fermyon:spin/sqlite`.
    pub sqlite: Arc<SqliteBackend>,
    /// The values behind `fermyon:spin/variables`.
    pub vars: Arc<Variables>,
    /// Open `fermyon:spin/sqlite` connections, bounded by
    /// [`crate::spin::sqlite::MAX_CONNECTIONS_PER_REQUEST`].
    pub(crate) sqlite_connections: usize,
    /// Memory bounds of this store (see [`crate::component::MAX_MEMORY_BYTES`]).
    pub limits: StoreLimits,
    /// CPU time the guest has used, for the per-request CPU limit.
    pub clock: GuestClock,
}

/// Time a guest has spent running its own code, as opposed to waiting in host calls (for the
/// client, the upstream, SQLite). Fed by the store's call hook.
#[derive(Debug, Default)]
pub struct GuestClock {
    used: Duration,
    in_wasm_since: Option<Instant>,
}

impl GuestClock {
    /// Records a transition between wasm and the host.
    pub fn transition(&mut self, hook: CallHook) {
        if hook.entering_host() {
            if let Some(since) = self.in_wasm_since.take() {
                self.used += since.elapsed();
            }
        } else {
            self.in_wasm_since = Some(Instant::now());
        }
    }

    /// The time spent in wasm so far, including a run in progress.
    pub fn used(&self) -> Duration {
        self.used + self.in_wasm_since.map_or(Duration::ZERO, |since| since.elapsed())
    }
}

impl Host {
    /// State for one request; `upstream` is a handle to the shared client.
    pub fn new(sqlite: Arc<SqliteBackend>, vars: Arc<Variables>, upstream: Upstream) -> Self {
        // Both guest streams go to the host's stderr: stdout belongs to the host (it prints the
        // generated admin key there) and must not interleave with guest debug output.
        let wasi = WasiCtx::builder()
            .stdout(tokio::io::stderr())
            .stderr(tokio::io::stderr())
            .build();
        Self {
            table: ResourceTable::new(),
            wasi,
            http: WasiHttpCtx::new(),
            upstream,
            sqlite,
            vars,
            sqlite_connections: 0,
            limits: StoreLimitsBuilder::new()
                .memory_size(crate::component::MAX_MEMORY_BYTES)
                .build(),
            clock: GuestClock::default(),
        }
    }

    #[cfg(test)]
    pub(crate) fn for_tests(sqlite: Arc<SqliteBackend>) -> Self {
        Self::new(sqlite, Arc::new(Variables::default()), Upstream::new())
    }
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Host {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.upstream,
        }
    }
}
