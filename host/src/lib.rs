//! `gempool-host`: runs the gempool gateway component with wasmtime and gives it storage.
//!
//! All gateway logic lives in the component (`guest/`), embedded here as [`GUEST_WASM`]. This
//! crate only hosts it:
//! - [`config`]: the command line and the variables handed to the guest;
//! - [`app`]: the start-up sequence and serving;
//! - [`migrations`], [`bootstrap`]: the schema, the admin key, `--keys`;
//! - [`component`]: engine, compiled-component cache, linking;
//! - [`server`], [`state`], [`metrics`], [`access`]: per-request instances over hyper, the host's
//!   part of `/metrics`, the access log;
//! - [`memory`]: gives a burst's memory back to the OS once it is over;
//! - [`connection`], [`shape`]: client connection limits, host-made errors in the caller's shape;
//! - [`outgoing`]: the pooled client for the guest's outgoing HTTP requests;
//! - [`spin`]: the `fermyon:spin/sqlite` and `fermyon:spin/variables` imports.

#![deny(missing_docs)]

pub mod access;
pub mod app;
mod bindings;
pub mod bootstrap;
pub mod component;
pub mod config;
pub mod connection;
pub mod memory;
pub mod metrics;
pub mod migrations;
pub mod outgoing;
pub mod server;
pub mod shape;
pub mod spin;
pub mod state;

/// The gateway component (a `wasm32-wasip2` component built from `guest/` by the build script,
/// or the file named by `GEMPOOL_GUEST_WASM` at build time).
pub const GUEST_WASM: &[u8] = include_bytes!(env!("GEMPOOL_GUEST_WASM"));
