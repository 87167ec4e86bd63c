//! Property-based fuzz targets for the guest's parsers and translators (issue 8).
//!
//! Each target feeds generated, often hostile, input through the same public entry points and
//! serde types production uses, and checks properties the code guarantees (never a panic, a
//! typed 400 instead of a bad upstream request, split-invariance, Gemini-valid schemas, ...):
//!
//! * `sse`: the SSE and JSON-array stream readers, against a reference parser and under
//!   arbitrary re-chunking;
//! * `schema`: the JSON Schema -> Gemini schema sanitizer;
//! * `translators`: OpenAI chat, Responses and Anthropic requests -> Gemini requests;
//! * `model_id`: client model ids and the upstream path built from them.
//!
//! `cargo fuzz` needs a nightly toolchain in the test command; proptest runs on stable, so the
//! short run is part of `cargo test` and the long run is the same binary with a time budget
//! (see [`harness`]):
//!
//! ```text
//! FUZZ_SECS=600 nice -n 19 cargo test --release -p gempool-guest --test fuzz <target> -- --nocapture
//! ```

mod harness;
mod model_id;
mod schema;
mod sse;
mod translators;
