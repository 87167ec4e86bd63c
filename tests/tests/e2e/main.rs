//! End-to-end tests: the real `gempool` binary serving the real component, against the
//! strict mock Gemini on loopback. Each module is one area a user would notice.

// Native Gemini proxying: rotation, failover, cooldowns, streaming, usage.
mod gemini_native;
// Client keys, the admin key, open access; client keys never reach the upstream.
mod access;
// The admin JSON API.
mod admin_api;
// Errors a client gets for bad requests, in Gemini's shape.
mod errors;
// The key pool: fairness, breakers, projects, strategies, validation, client limits, pure proxy.
mod pool;
// State survives a restart of the host.
mod restart;
// Real coding agents' requests (Claude Code, Gemini CLI, Codex) end to end.
mod agents;
// Client connections: timeouts, idle floods, disconnects cancelling upstream work, instance limit.
mod connections;
// A kill -9 under load loses at most the requests in flight.
mod durability;
// Bad client input of every kind: the caller's error shape, nothing upstream, keys untouched.
mod hostile_inputs;
// A faulty upstream, scripted per key: each fault ends as README's table says, in bounded time.
mod upstream_faults;
// No pool key, client key or admin key in any answer, header, log line or request-log row.
mod secrets;
// GET /metrics from the component (parsed by prometheus_client, matching the usage API) and the
// host's access log.
mod metrics;
// At most one SQL write per successful request; none for /health, /metrics and preflights.
mod writes;
// Files, caches and batches kept on the key that created them.
mod resources;
// Model fallback chains and the cached model list.
mod fallbacks;
// Images: OpenAI's images API and native Imagen `:predict`.
mod images;

use gempool_tests::harness::{Gateway, GatewayOptions};
use gempool_tests::mock::MockGemini;
use serde_json::{json, Value};

/// A mock with these keys and a gateway pooling them (admin key: the harness default).
pub fn setup(keys: &[&str]) -> (MockGemini, Gateway) {
    let mock = MockGemini::with_keys(keys);
    let gateway = Gateway::start(GatewayOptions::with_mock(&mock, keys).open());
    (mock, gateway)
}

/// A minimal generateContent body.
pub fn hello() -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": "hello there"}]}]})
}

pub const FLASH: &str = "/v1beta/models/gemini-2.5-flash:generateContent";

/// The admin API's view of the pool keys, by label order (ids ascend with insertion).
pub fn keys_view(gw: &Gateway) -> Vec<Value> {
    let resp = gw.admin("GET", "/admin/api/keys").send();
    resp.assert_status(200);
    resp.json()["keys"].as_array().cloned().unwrap_or_default()
}

/// Wall-clock now in ms.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
