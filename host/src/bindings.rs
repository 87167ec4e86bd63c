//! Host bindings for the Spin 2 interfaces the gateway imports (`fermyon:spin/sqlite@2.0.0`,
//! `fermyon:spin/variables@2.0.0`), generated from the `host-services` world in `wit/`.
//!
//! Only the `bindgen!` call lives here; the implementations are in [`crate::spin`]. Every import
//! is `async` (SQLite runs on the blocking pool) and `trappable` (a host bug traps the guest
//! instead of being reported as a guest-visible error).

wasmtime::component::bindgen!({
    path: "../wit",
    world: "gempool:gateway/host-services",
    imports: { default: async | trappable },
    with: {
        "fermyon:spin/sqlite.connection": crate::spin::sqlite::Connection,
    },
});
