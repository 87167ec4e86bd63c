//! What the stateless `edge` build does differently from the gateway (pure logic; the entry
//! point is `component/edge.rs`).
//!
//! The edge component (world `edge`, feature `edge`) imports nothing outside
//! `wasi:http/proxy`, so it has no SQL, no variables and no environment. It runs the same
//! routes, translators, classification and failover loop as the gateway, with these changes:
//! - The pool is the caller's own Gemini keys (pure-proxy mode: comma-separated in its usual
//!   auth header). Failover across them happens within the request; nothing is remembered
//!   between requests, so a key exhausted for the day is tried again by the next request.
//!   The order is random per request, which spreads load without shared state.
//! - Storage is [`NoStore`]: reads find nothing and writes go nowhere (the usage and request
//!   log the pipeline records are dropped).
//! - What needs SQL (the admin API and page, usage, client keys, `/metrics`) answers 501 in the caller's
//!   protocol, naming the `gateway` build ([`needs_gateway`]).
//! - The upstream origin is configuration without any config interface: a fixed-size slot in
//!   the component's data ([`UPSTREAM_SLOT_LEN`] bytes, starting with [`UPSTREAM_SLOT_MARKER`]),
//!   set at build time (`GEMPOOL_EDGE_UPSTREAM_URL`) or rewritten in a built component with
//!   [`set_upstream`], so one build serves any upstream (a corporate egress proxy, a test mock).
//!
//! Keys baked in at build time were left out on purpose: anyone holding the `.wasm` file would
//! hold the keys, rotating one would need a rebuild, and without shared state a key exhausted
//! for the day would cost every request a wasted round trip. Deployments that want a shared
//! pool with memory run the `gateway` build.

use crate::auth;
use crate::error::GatewayError;
use crate::handler::{Config, RequestHead};
use crate::route::Route;
use crate::store::settings::Settings;
use crate::store::{Database, Row, SqlValue, StoreError};

/// The bytes that start the upstream slot; the origin follows, then NUL padding.
pub const UPSTREAM_SLOT_MARKER: &[u8] = b"gempool-edge-upstream=";
/// The bytes that end the upstream slot, so a rewrite can check it has the whole slot.
pub const UPSTREAM_SLOT_END: &[u8] = b"=end";
/// The slot's total size (marker + origin + NUL padding + end).
pub const UPSTREAM_SLOT_LEN: usize = 256;
/// The longest origin a slot holds.
pub const UPSTREAM_MAX_LEN: usize = UPSTREAM_SLOT_LEN - UPSTREAM_SLOT_MARKER.len() - UPSTREAM_SLOT_END.len() - 1;

/// Builds the slot holding `origin` (at compile time; the origin must fit).
pub const fn upstream_slot(origin: &str) -> [u8; UPSTREAM_SLOT_LEN] {
    let mut slot = [0u8; UPSTREAM_SLOT_LEN];
    let marker = UPSTREAM_SLOT_MARKER;
    let origin = origin.as_bytes();
    assert!(origin.len() <= UPSTREAM_MAX_LEN, "the edge upstream URL is too long");
    let mut i = 0;
    while i < marker.len() {
        slot[i] = marker[i];
        i += 1;
    }
    let mut j = 0;
    while j < origin.len() {
        slot[marker.len() + j] = origin[j];
        j += 1;
    }
    let end = UPSTREAM_SLOT_END;
    let mut k = 0;
    while k < end.len() {
        slot[UPSTREAM_SLOT_LEN - end.len() + k] = end[k];
        k += 1;
    }
    slot
}

/// The origin a slot holds (without a trailing slash), or `None` when the slot is malformed.
/// Only the marker's length is used here, so the marker's bytes appear in a built component
/// once: in the slot itself, where [`set_upstream`] finds it.
pub fn upstream_of_slot(slot: &[u8]) -> Option<String> {
    let rest = slot.get(UPSTREAM_SLOT_MARKER.len()..)?;
    let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    let origin = std::str::from_utf8(&rest[..end]).ok()?.trim().trim_end_matches('/');
    (origin.starts_with("http://") || origin.starts_with("https://")).then(|| origin.to_owned())
}

/// Why a built component's upstream could not be set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlotError {
    /// The component holds no slot: not an edge build.
    #[error("the component has no edge upstream slot (is it the edge build?)")]
    Missing,
    /// The slot's marker occurs more than once (the count), so which to rewrite is unclear.
    #[error("the component has {0} edge upstream slots; expected one")]
    Ambiguous(usize),
    /// The URL is not http(s) or does not fit the slot.
    #[error("the upstream URL must start with http:// or https:// and fit in {max} bytes")]
    BadUrl {
        /// The slot's size, in bytes.
        max: usize,
    },
}

/// Rewrites the upstream slot of a built edge component in place.
pub fn set_upstream(wasm: &mut [u8], origin: &str) -> Result<(), SlotError> {
    let max = UPSTREAM_MAX_LEN;
    let origin = origin.trim().trim_end_matches('/');
    if origin.len() > max || !(origin.starts_with("http://") || origin.starts_with("https://")) {
        return Err(SlotError::BadUrl { max });
    }
    let starts: Vec<usize> = wasm
        .windows(UPSTREAM_SLOT_MARKER.len())
        .enumerate()
        .filter(|(_, w)| *w == UPSTREAM_SLOT_MARKER)
        .map(|(i, _)| i)
        .filter(|&i| {
            wasm.get(i + UPSTREAM_SLOT_LEN - UPSTREAM_SLOT_END.len()..i + UPSTREAM_SLOT_LEN) == Some(UPSTREAM_SLOT_END)
        })
        .collect();
    let start = match starts.as_slice() {
        [] => return Err(SlotError::Missing),
        [one] => *one,
        many => return Err(SlotError::Ambiguous(many.len())),
    };
    wasm[start..start + UPSTREAM_SLOT_LEN].copy_from_slice(&upstream_slot(origin));
    Ok(())
}

/// Storage for a build that has none: every query finds no rows, every write is dropped.
pub struct NoStore;

impl Database for NoStore {
    fn execute(&self, _sql: &str, _params: &[SqlValue]) -> Result<Vec<Row>, StoreError> {
        Ok(Vec::new())
    }
}

/// The settings the pipeline reads, as the edge has them: the pool's defaults, pure-proxy
/// mode on.
pub fn settings() -> Settings {
    Settings {
        pure_proxy: true,
        ..Settings::default()
    }
}

/// The deployment configuration: no admin key, no open access (the caller brings keys).
pub fn config(upstream_url: String) -> Config {
    Config {
        upstream_url,
        admin_key: None,
        open_access: false,
        sql_ticket_function: false,
    }
}

/// The 501 for a route that needs the gateway's storage.
pub fn needs_gateway(route: &Route) -> GatewayError {
    let what = match route {
        Route::AdminPage => "the admin page",
        Route::AdminApi { .. } => "the admin API (keys, client keys, usage, settings)",
        Route::Metrics => "/metrics (rendered from the pool's stored state)",
        Route::Resource { .. } => {
            "files, cached contents, batches and operations (gempool remembers which key holds each)"
        }
        _ => "this route",
    };
    GatewayError::NotInThisBuild(format!(
        "{what} needs storage, which this stateless gempool edge build does not have; run the `gateway` build (dist/gempool.wasm or the gempool binary) for it"
    ))
}

/// Refuses, before anything else runs, a request the edge cannot serve: a route that needs
/// storage, or a proxied request that brings no Gemini key of its own.
pub fn precheck(route: &Route, head: &RequestHead) -> Result<(), GatewayError> {
    if matches!(
        route,
        Route::AdminPage | Route::AdminApi { .. } | Route::Metrics | Route::Resource { .. }
    ) {
        return Err(needs_gateway(route));
    }
    if !route.is_proxied() {
        return Ok(());
    }
    let brings_keys = auth::presented_credential(&head.headers, &head.query)
        .is_some_and(|p| p.secret.split(',').any(|k| auth::looks_like_google_key(k.trim())));
    if brings_keys {
        Ok(())
    } else {
        Err(GatewayError::Unauthenticated(
            "this gempool edge build serves your own Gemini API keys: send one or more (comma-separated) in Authorization: Bearer, x-goog-api-key, x-api-key or ?key="
                .into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Protocol;

    fn head(headers: &[(&str, &str)]) -> RequestHead {
        RequestHead {
            method: "POST".into(),
            path: "/v1/chat/completions".into(),
            query: String::new(),
            headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
        }
    }

    const KEY: &str = "AIzaSyTESTKEY-aaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    #[test]
    fn the_slot_round_trips_and_is_rewritten_in_place() {
        let slot = upstream_slot("https://generativelanguage.googleapis.com");
        assert_eq!(
            upstream_of_slot(&slot).as_deref(),
            Some("https://generativelanguage.googleapis.com")
        );
        let mut wasm = b"\0asm....".to_vec();
        wasm.extend_from_slice(&slot);
        wasm.extend_from_slice(b"tail");
        let len = wasm.len();
        set_upstream(&mut wasm, "http://127.0.0.1:9/").unwrap();
        assert_eq!(wasm.len(), len);
        assert!(wasm.ends_with(b"tail"));
        assert_eq!(upstream_of_slot(&wasm[8..]).as_deref(), Some("http://127.0.0.1:9"));
    }

    #[test]
    fn bad_slots_and_urls_are_refused() {
        let mut none = b"no slot here".to_vec();
        assert_eq!(set_upstream(&mut none, "http://x"), Err(SlotError::Missing));
        let mut two = [upstream_slot("http://a"), upstream_slot("http://b")].concat();
        assert_eq!(set_upstream(&mut two, "http://x"), Err(SlotError::Ambiguous(2)));
        let mut one = upstream_slot("http://a").to_vec();
        assert!(matches!(
            set_upstream(&mut one, "ftp://x"),
            Err(SlotError::BadUrl { .. })
        ));
        assert!(matches!(
            set_upstream(&mut one, &format!("http://{}", "x".repeat(300))),
            Err(SlotError::BadUrl { .. })
        ));
        assert_eq!(upstream_of_slot(b"gempool-edge-upstream=ftp://x\0"), None);
    }

    #[test]
    fn storage_routes_answer_501_in_the_callers_protocol() {
        let admin = Route::AdminApi { rest: "keys".into() };
        let error = precheck(&admin, &head(&[])).unwrap_err();
        for protocol in [Protocol::OpenAi, Protocol::Anthropic, Protocol::Gemini, Protocol::Admin] {
            let rendered = error.render(protocol);
            assert_eq!(rendered.status, 501);
            let text = String::from_utf8(rendered.body).unwrap();
            assert!(text.contains("gateway"), "{text}");
        }
        assert!(precheck(&Route::AdminPage, &head(&[])).is_err());
        assert!(precheck(&Route::Health, &head(&[])).is_ok());
    }

    #[test]
    fn proxied_routes_need_the_callers_own_keys() {
        let error = precheck(&Route::OpenAiChat, &head(&[])).unwrap_err();
        assert_eq!(error.render(Protocol::OpenAi).status, 401);
        assert!(precheck(&Route::OpenAiChat, &head(&[("authorization", "Bearer gp-client-key")])).is_err());
        let both = format!("Bearer {KEY}, {KEY}b");
        assert!(precheck(&Route::OpenAiChat, &head(&[("authorization", &both)])).is_ok());
        assert!(precheck(&Route::AnthropicMessages, &head(&[("x-api-key", KEY)])).is_ok());
    }

    #[test]
    fn no_store_finds_nothing() {
        assert!(NoStore.execute("SELECT 1", &[]).unwrap().is_empty());
        assert!(settings().pure_proxy);
        assert_eq!(settings().pool, crate::pool::PoolSettings::default());
    }
}
