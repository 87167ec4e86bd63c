//! Host implementations of the Spin 2 interfaces the gateway imports beyond WASI.
//!
//! One module per interface, each implementing the `bindgen!` traits from [`crate::bindings`]
//! on the per-request [`crate::state::Host`].

pub mod sqlite;
pub mod variables;
