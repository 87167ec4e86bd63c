//! Per-request store data: what one guest instance can reach.
//!
//! A fresh [`Host`] is built for every HTTP request (as `wasmtime serve` does), so nothing the
//! guest does survives the request except what it writes to SQLite. The shared parts (the
//! database, the variables, the pooled client for outgoing HTTP) are behind `Arc`s; the rest is
//! cheap to create.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
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
