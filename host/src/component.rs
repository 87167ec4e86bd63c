//! The wasmtime side of startup: the engine (pooling allocator), the gateway component (compiled
//! once, cached on disk) and the linker that supplies its imports, ending in a [`ProxyPre`].
//!
//! Compiling the ~1 MB component takes a few hundred milliseconds; the cache makes restarts
//! instant. A cache entry is named by the SHA-256 of the wasm bytes and of the engine's
//! compatibility hash (wasmtime version + compilation settings), so a new guest or a new
//! wasmtime never reuses a stale artefact.

use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::bindings::HostServices;
use crate::state::Host;

/// Concurrent component instances (≈ concurrent requests) the pool has room for by default
/// (`--max-instances`). The server admits no more requests than this at once and answers the
/// rest 503, so the pool itself never runs out.
pub const MAX_INSTANCES: u32 = 1000;

/// Largest linear memory one instance may grow to. The gateway streams bodies, so its memory
/// stays small; this only bounds a runaway guest. Enforced twice: by the pooling allocator's
/// slot size and by each store's [`wasmtime::StoreLimits`] (the only bound when the engine
/// falls back to on-demand allocation).
pub const MAX_MEMORY_BYTES: usize = 128 << 20;

/// Bytes of a pooled fiber stack kept resident (zeroed) when its request ends; the rest is
/// decommitted. A gateway request touches about 12 KiB of it; keeping only the top page
/// bounds what thousands of idle pooled stacks hold (4 KiB each) at a few page faults per request.
const ASYNC_STACK_KEEP_RESIDENT: usize = 4 << 10;

/// How often the engine's epoch advances. A guest running wasm notices a tick at its next
/// loop header or function entry; the server uses that to yield the worker thread and to
/// enforce the per-request CPU limit, so this is the granularity of both.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The engine with room for [`MAX_INSTANCES`] instances.
pub fn engine() -> anyhow::Result<Engine> {
    engine_with(MAX_INSTANCES)
}

/// The engine every request's store is created from, with room for `max_instances` instances
/// at once, epoch interruption compiled in and a thread advancing the epoch every
/// [`EPOCH_TICK`] for as long as the engine lives.
///
/// Uses the pooling allocator (instantiation ~30% faster than on-demand). Reserving the pool's
/// address space can fail under a tight `ulimit -v`; then the engine falls back to on-demand
/// allocation rather than refusing to start.
pub fn engine_with(max_instances: u32) -> anyhow::Result<Engine> {
    let max_instances = max_instances.max(1);
    let mut pool = PoolingAllocationConfig::new();
    // A Rust component holds one main core module plus small adapter/shim modules: a few core
    // instances and tables but a single linear memory per component instance.
    pool.total_component_instances(max_instances)
        .total_core_instances(max_instances.saturating_mul(4))
        .total_memories(max_instances)
        .total_tables(max_instances.saturating_mul(2))
        .total_stacks(max_instances)
        .max_memory_size(MAX_MEMORY_BYTES)
        // A finished request's fiber stack keeps this much resident and gives the rest back,
        // so the memory of a burst of streams returns to the OS (a request touches ~12 KiB).
        .async_stack_keep_resident(ASYNC_STACK_KEEP_RESIDENT);
    let mut config = Config::new();
    config.epoch_interruption(true);
    // Required for `async_stack_keep_resident` to take effect: the kept part is zeroed, the
    // rest decommitted, when a stack returns to the pool.
    config.async_stack_zeroing(true);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    let engine = match Engine::new(&config) {
        Ok(engine) => engine,
        Err(e) => {
            tracing::warn!("pooling allocator unavailable ({e}); using on-demand allocation");
            let mut config = Config::new();
            config.epoch_interruption(true);
            Engine::new(&config)
                .map_err(anyhow::Error::from)
                .context("creating the wasmtime engine")?
        }
    };
    start_epoch_ticker(&engine)?;
    Ok(engine)
}

/// Advances `engine`'s epoch every [`EPOCH_TICK`] on a thread that ends with the engine.
fn start_epoch_ticker(engine: &Engine) -> anyhow::Result<()> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("gempool-epoch".into())
        .spawn(move || loop {
            std::thread::sleep(EPOCH_TICK);
            match weak.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => break,
            }
        })
        .context("starting the epoch thread")?;
    Ok(())
}

/// The compiled gateway component: from `cache_dir` if a matching artefact is there, otherwise
/// compiled now and written there (a cache that cannot be written only costs start-up time).
pub fn load(engine: &Engine, wasm: &[u8], cache_dir: &Path) -> anyhow::Result<wasmtime::component::Component> {
    let cached = cache_dir.join(format!("{}.cwasm", cache_key(engine, wasm)));
    if cached.is_file() {
        match deserialize_cached(engine, &cached) {
            Ok(component) => {
                tracing::debug!(path = %cached.display(), "loaded the compiled component from the cache");
                return Ok(component);
            }
            Err(e) => tracing::warn!(
                path = %cached.display(),
                "ignoring the unusable compiled-component cache entry: {e}"
            ),
        }
    }
    let started = Instant::now();
    let component = wasmtime::component::Component::new(engine, wasm)
        .map_err(anyhow::Error::from)
        .context("compiling the gateway component")?;
    tracing::info!(took = ?started.elapsed(), "compiled the gateway component");
    if let Err(e) = store_cached(&component, cache_dir, &cached) {
        tracing::warn!(dir = %cache_dir.display(), "could not cache the compiled component: {e:#}");
    }
    Ok(component)
}

/// Links WASI, wasi:http and the Spin interfaces, and pre-instantiates the component.
/// Fails here, before listening, if the component imports something no one provides.
pub fn proxy_pre(engine: &Engine, component: &wasmtime::component::Component) -> anyhow::Result<ProxyPre<Host>> {
    let mut linker = Linker::<Host>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    HostServices::add_to_linker::<Host, HasSelf<Host>>(&mut linker, |host| host)?;
    let pre = linker
        .instantiate_pre(component)
        .map_err(anyhow::Error::from)
        .context("the gateway component's imports cannot be satisfied")?;
    ProxyPre::new(pre)
        .map_err(anyhow::Error::from)
        .context("the component does not export wasi:http/incoming-handler")
}

/// Hex SHA-256 over the wasm bytes and the engine's compatibility hash.
fn cache_key(engine: &Engine, wasm: &[u8]) -> String {
    struct Sha(Sha256);
    impl Hasher for Sha {
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
        fn finish(&self) -> u64 {
            unreachable!("only the digest is read")
        }
    }
    let mut sha = Sha(Sha256::new());
    sha.write(wasm);
    engine.precompile_compatibility_hash().hash(&mut sha);
    sha.0.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Loads a compiled component written by [`store_cached`].
///
/// Sound because the file is one we wrote with `Component::serialize` into a directory we
/// created owner-only (0700): deserializing runs its machine code, so it must never come from
/// an untrusted source. wasmtime itself rejects files from another wasmtime version or engine
/// configuration, which the caller treats as a cache miss.
#[allow(unsafe_code)]
fn deserialize_cached(engine: &Engine, path: &Path) -> wasmtime::Result<wasmtime::component::Component> {
    // SAFETY: see the function docs: the file is our own serialized artefact.
    unsafe { wasmtime::component::Component::deserialize_file(engine, path) }
}

/// Writes the artefact atomically (temp file + rename, so a concurrent start never reads half a
/// file) and removes entries for other guests or engines, so the cache does not grow forever.
fn store_cached(component: &wasmtime::component::Component, dir: &Path, path: &Path) -> anyhow::Result<()> {
    create_private_dir(dir)?;
    let bytes = component.serialize().map_err(anyhow::Error::from)?;
    let tmp = dir.join(format!(".tmp-{}", std::process::id()));
    fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    for entry in fs::read_dir(dir)?.flatten() {
        let other: PathBuf = entry.path();
        if other != path && other.extension().is_some_and(|e| e == "cwasm") {
            // A stale compiled component only takes disk space: say so and go on.
            if let Err(e) = fs::remove_file(&other) {
                tracing::warn!(path = %other.display(), "could not remove a stale compiled component: {e}");
            }
        }
    }
    Ok(())
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_round_trips_and_ignores_garbage() {
        let engine = engine().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let wasm = wat_component();
        load(&engine, &wasm, &cache).unwrap();
        let entries: Vec<_> = fs::read_dir(&cache).unwrap().flatten().collect();
        assert_eq!(entries.len(), 1);
        // Loading again uses the entry; a corrupted entry falls back to compiling.
        load(&engine, &wasm, &cache).unwrap();
        fs::write(entries[0].path(), b"garbage").unwrap();
        load(&engine, &wasm, &cache).unwrap();
    }

    #[test]
    fn the_embedded_guest_links_against_the_host() {
        let engine = engine().unwrap();
        let component = wasmtime::component::Component::new(&engine, crate::GUEST_WASM).unwrap();
        proxy_pre(&engine, &component).unwrap();
    }

    /// wasmtime accepts the text format too (its `wat` feature).
    fn wat_component() -> Vec<u8> {
        b"(component (core module (func (export \"f\"))))".to_vec()
    }
}
