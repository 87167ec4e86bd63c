//! `gempool serve` from a validated [`Config`] to a clean exit: database, migrations, upstream
//! keys, component, listener, admin key, serving, shutdown.
//!
//! The order matters in one place: the admin key is generated only after the listener is bound,
//! because it is shown once and stored only as a hash; a start that fails after generating it
//! would lose it.

use std::fs;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;

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

    let listener = TcpListener::bind(config.listen)
        .await
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

    let handler = Handler::with_limits(
        pre,
        Arc::clone(&sqlite),
        Arc::new(config.variables()),
        Arc::new(Metrics::default()),
        config.requests,
    );
    println!("gempool listening on http://{addr}");
    tracing::info!(%addr, upstream = %config.upstream_url, open = config.open, "serving");
    server::serve_with(listener, handler, config.connections, shutdown).await?;
    tracing::info!("stopped");
    Ok(())
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
