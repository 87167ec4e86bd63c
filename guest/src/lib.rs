//! gempool's gateway component.
//!
//! One WebAssembly component (wasm32-wasip2, spin-sdk 5.2) holds all of the gateway: routing,
//! caller identity, protocol translation, the key pool and the admin API. Everything except
//! `component` is pure logic over small traits ([`store::Database`], [`upstream::Upstream`])
//! and is unit-tested natively; `component` is the only module that touches host imports
//! (HTTP in and out, SQLite, variables, clock, randomness).
//!
//! A request: `component` -> [`handler::prepare`] ([`route`]) -> [`handler::authenticate`]
//! ([`auth`]) -> the protocol's decoding ([`protocol`]) -> [`upstream::send_with_failover`]
//! ([`pool`] decides, [`store`] records) -> the protocol's encoding: a whole reply, or a stream
//! through a [`stream::Transducer`] -> the accounting. [`handler`] runs these steps once for
//! every protocol.
//!
//! With the `edge` feature the same pipeline builds the stateless component of world `edge`:
//! `component/edge.rs` is its entry, the admin routes are not compiled in, and [`edge`] holds what
//! differs (no storage, pure-proxy keys, 501 for what needs SQL).

#![deny(missing_docs)]
// Non-test code reports failures as values; a panic aborts the whole component instance.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod admin;
pub mod auth;
pub mod edge;
pub mod error;
pub mod handler;
pub mod metrics;
pub mod models;
pub mod pool;
pub mod protocol;
pub mod route;
pub mod secrets;
mod sort;
pub mod store;
pub mod stream;
pub mod upstream;

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)] // spin-sdk's export macro expands to unsafe ABI glue
mod component;
