//! `gempool serve` from a validated [`Config`] to a clean exit: database, migrations, upstream
//! keys, component, listener, admin key, serving, shutdown.
//!
//! The order matters in one place: the admin key is generated only after the listener is bound,
//! because it is shown once and stored only as a hash; a start that fails after generating it
//! would lose it.

use std::fs;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;

use tokio::net::{TcpListener, TcpSocket};

use crate::config::{data_dir, Config, ConfigError};
use crate::metrics::Metrics;
use crate::server::{self, Handler};
use crate::spin::sqlite::SqliteBackend;
use crate::{bootstrap, component, migrations, GUEST_WASM};

/// Runs the gateway until SIGINT/SIGTERM. Errors a user can fix by changing a flag are
/// [`ConfigError`]s somewhere in the returned error's chain.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let sqlite = Arc::new(open_database(&config)?);

    sqlite
        .with_connection(|conn| migrations::apply(conn, migrations::embedded()))
        .context("applying the database migrations")?;
    if !config.keys.is_empty() {
        let added = sqlite
            .with_connection(|conn| bootstrap::import_upstream_keys(conn, &config.keys))
            .context("adding the --keys upstream keys")?;
        tracing::info!(
            added,
            already_present = config.keys.len() - added,
            "upstream keys from --keys"
        );
    }

    let engine = component::engine_with(config.requests.max_instances)?;
    let component = component::load(&engine, GUEST_WASM, &config.cache_dir)?;
    let pre = component::proxy_pre(&engine, &component)?;

    let listener = listen(config.listen)
        .map_err(|e| ConfigError::new("--listen", format!("cannot listen on {}: {e}", config.listen)))?;
    let addr = listener.local_addr()?;
    let shutdown = server::shutdown_signal()?;

    if config.admin_key.is_none() {
        let generated = sqlite
            .with_connection(|conn| bootstrap::ensure_admin_key(conn))
            .context("setting up the admin key")?;
        if let Some(key) = generated {
            println!("gempool: generated admin key {key} (shown once; it is stored only as a hash)");
            println!("admin page: http://{addr}/admin/");
        }
    }

    let metrics = Arc::new(Metrics::with_sql(sqlite.stats()));
    crate::memory::start_trimmer(Arc::clone(&metrics)).context("starting the memory trimmer")?;
    let handler = Handler::with_limits(
        pre,
        Arc::clone(&sqlite),
        Arc::new(config.variables()),
        metrics,
        config.requests,
    );
    handler.set_access_log(config.access_log);
    println!("gempool listening on http://{addr}");
    tracing::info!(%addr, upstream = %config.upstream_url, open = config.open, "serving");
    server::serve_with(listener, handler, config.connections, shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Pending connections the kernel queues before the server accepts them. std's (and so
/// tokio's `TcpListener::bind`'s) 128 drops SYNs when a burst of clients arrives while the
/// workers are busy, which costs each of them a 1 s retransmit; the kernel caps this at
/// `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 4096;

/// Binds `addr` (with `SO_REUSEADDR`, as std does) and listens with [`LISTEN_BACKLOG`].
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Opens the database file, creating its directory; failures name `--data`.
fn open_database(config: &Config) -> anyhow::Result<SqliteBackend> {
    let dir = data_dir(&config.data);
    fs::create_dir_all(&dir)
        .map_err(|e| ConfigError::new("--data", format!("cannot create directory {}: {e}", dir.display())))?;
    let backend = SqliteBackend::open(&config.data)
        .map_err(|e| ConfigError::new("--data", format!("cannot open {}: {e}", config.data.display())))?;
    Ok(backend)
}
