//! The entry of the stateless `edge` component (world `edge`: `wasi:http/proxy` only).
//!
//! It reuses the gateway's HTTP plumbing (request head, body, upstream, reply pumping) and runs
//! the same pipeline over [`NoStore`], with the caller's own keys as the pool (see
//! [`crate::edge`]). Two things keep its imports inside `wasi:http/proxy`:
//! - the upstream origin comes from a slot in the component's data, not from variables;
//! - the C library functions through which Rust's standard library reaches `wasi:cli`
//!   interfaces outside the proxy world (`getenv` and `getcwd` -> `wasi:cli/environment`,
//!   `write` -> descriptor tables, `terminal-*` and `exit`) are defined here, so the linker
//!   takes these instead of wasi-libc's. The standard library reads the environment only for
//!   `RUST_BACKTRACE` and the working directory only to shorten backtrace paths; both have no
//!   meaning in a proxy host, and stdout/stderr go to `wasi:cli/stdout`/`stderr`, which the
//!   proxy world has.
//!
//! The one import left outside the world, `wasi:random/insecure-seed` (the standard library's
//! hash-map seed), is satisfied by `scripts/build-components`, which composes the component
//! with a small provider that derives the seed from `wasi:random/random`.

use super::{head_of, now_ms, random_bytes, read_body, write_reply, WasiUpstream};
use crate::edge::{self, NoStore, UPSTREAM_SLOT_LEN};
use crate::handler::{self, Env};
use crate::route::Route;
use spin_sdk::http::{IncomingRequest, IncomingResponse, ResponseOutparam};

/// The upstream origin: `GEMPOOL_EDGE_UPSTREAM_URL` at build time, else Gemini's; built
/// components can be given another with `gempool-tools edge-upstream` (see [`crate::edge`]).
#[used]
static UPSTREAM_SLOT: [u8; UPSTREAM_SLOT_LEN] = edge::upstream_slot(match option_env!("GEMPOOL_EDGE_UPSTREAM_URL") {
    Some(url) => url,
    None => crate::upstream::DEFAULT_UPSTREAM_URL,
});

fn upstream_url() -> String {
    // SAFETY: a plain read of an initialized static. Volatile because the slot's bytes are
    // rewritten after the build, so its compile-time content must never be folded into code.
    let slot = unsafe { std::ptr::read_volatile(&UPSTREAM_SLOT) };
    edge::upstream_of_slot(&slot).unwrap_or_else(|| crate::upstream::DEFAULT_UPSTREAM_URL.to_owned())
}

#[spin_sdk::http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    let head = head_of(&req);
    let (protocol, route) = handler::prepare(&head);
    if let Ok(route @ (Route::Health | Route::Preflight)) = &route {
        let mut reply = handler::static_reply::<IncomingResponse>(route, &head.path);
        handler::stamp_request_id(&mut reply, &random_bytes(), now_ms());
        return write_reply(out, reply, None).await;
    }
    let settings = edge::settings();
    let config = edge::config(upstream_url());
    let upstream = WasiUpstream {
        origin: config.upstream_url.clone(),
        settings: settings.pool.clone(),
    };
    let env = Env {
        upstream: &upstream,
        db: &NoStore,
        config: &config,
        random: random_bytes(),
        now_ms: now_ms(),
        logged: Default::default(),
        access: Default::default(),
        writes: Default::default(),
    };
    let route = match route.and_then(|route| edge::precheck(&route, &head).map(|()| route)) {
        Ok(route) => route,
        Err(e) => return write_reply(out, handler::refuse(&env, &head, protocol, &e), None).await,
    };
    let body = match read_body(req, settings.pool.max_body_bytes).await {
        Ok(body) => body,
        Err(e) => return write_reply(out, handler::refuse(&env, &head, protocol, &e), None).await,
    };
    let reply = handler::handle(
        &env,
        &head,
        route,
        protocol,
        handler::RequestBody::Read(body),
        &settings,
    )
    .await;
    write_reply(out, reply, None).await;
}

/// Rust's standard library and wasi-libc, without `wasi:cli/environment`: no variables here.
#[no_mangle]
pub extern "C" fn getenv(_name: *const std::ffi::c_char) -> *mut std::ffi::c_char {
    std::ptr::null_mut()
}

/// `write(2)` for the two streams the proxy world has: fd 1 to `wasi:cli/stdout`, fd 2 to
/// `wasi:cli/stderr`; other descriptors do not exist here.
///
/// # Safety
/// `buf` points to `len` readable bytes, as `write(2)` requires of its callers.
#[no_mangle]
pub unsafe extern "C" fn write(fd: i32, buf: *const u8, len: usize) -> isize {
    // SAFETY: the caller's contract (see above).
    let bytes = unsafe { std::slice::from_raw_parts(buf, len) };
    let stream = match fd {
        1 => wasi::cli::stdout::get_stdout(),
        2 => wasi::cli::stderr::get_stderr(),
        _ => return -1,
    };
    // `blocking-write-and-flush` takes at most 4096 bytes per call.
    for chunk in bytes.chunks(4096) {
        if stream.blocking_write_and_flush(chunk).is_err() {
            return -1;
        }
    }
    len as isize
}
