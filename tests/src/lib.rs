//! gempool's test support: a strict mock of the Gemini API ([`mock`]), a harness that runs the
//! real `gempool` binary against it ([`harness`]), a small blocking HTTP client with
//! streaming and SSE helpers for tests ([`http`]), and a recording proxy that keeps what real
//! clients send ([`recorder`]); a launcher of gempool as a Cloudflare Worker under local
//! `wrangler dev` ([`wrangler`]); launchers that run the components in other hosts (jco, Spin,
//! wasmtime serve) for the `hosts` target ([`hosts`]).
//!
//! The end-to-end tests themselves live in `tests/tests/`; the `gempool-mock` binary
//! (`src/bin/gempool-mock.rs`) serves the mock on a fixed address for the benchmark and manual use.
//! The benchmark `gempool-bench` is [`bench`] (its binary only calls [`bench::main`]).
#![deny(missing_docs)]

pub mod bench;
pub mod harness;
pub mod hosts;
pub mod http;
pub mod mock;
pub mod recorder;
pub mod wrangler;

/// Drops the outcome of a best-effort step on purpose: stopping a process that may have exited,
/// a send to a receiver that may have given up, a diagnostic write. Test support has nothing
/// better to do with such a failure; the name says so where `let _ =` would not.
pub fn best_effort<T, E>(outcome: Result<T, E>) {
    drop(outcome);
}
