//! The admin JSON API (`/admin/api/...`) and the embedded admin page (`/admin/`).
//!
//! Every route needs the admin key (checked by the handler before this module runs). Keys
//! are only ever shown redacted; a client key is shown once, when it is created.
//!
//! This module knows nothing of the request pipeline (`handler` calls it, never the other way
//! round): it gets a [`Context`] and answers `(status, JSON)`, or the page's headers and bytes.

use crate::error::GatewayError;
use crate::pool::PoolSettings;
use crate::pool::{self, ClassifyContext, KeyEffect, Outcome};
use crate::store::clients::{self, ClientLimits};
use crate::store::settings::{Settings, METRICS_PUBLIC, METRICS_TOKEN_HASH, PURE_PROXY};
use crate::store::{self, keys, usage, Database};
use crate::upstream::{Upstream, UpstreamRequest};
use serde::Deserialize;
use serde_json::{json, Value};

pub mod inflate;

/// The admin page (`page.html`), gzipped by build.rs: 16 KB in the component instead of 55.
const PAGE_GZ: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/page.html.gz"));
/// The base64 SHA-256 of the page's one inline script, for its content security policy
/// (computed by build.rs from `page.html`).
const SCRIPT_SHA256: &str = include_str!(concat!(env!("OUT_DIR"), "/page-script.sha256"));

/// What an admin call may use.
pub struct Context<'a, U: Upstream> {
    /// The upstream, to validate keys.
    pub upstream: &'a U,
    /// The database.
    pub db: &'a dyn Database,
    /// The request's arrival time (Unix ms).
    pub now_ms: i64,
    /// The request's random bytes (new client keys are made from them).
    pub random: &'a [u8; 32],
}

/// The admin page (static; it talks to the JSON API with the key the operator types in): its
/// headers and body. The body is the gzipped page with `content-encoding: gzip` when the
/// request's `accept-encoding` allows gzip (every browser's does), else the page itself.
pub fn page(request_headers: &[(String, String)]) -> (Vec<(String, String)>, Vec<u8>) {
    let mut headers = vec![
        ("content-type".into(), "text/html; charset=utf-8".into()),
        ("cache-control".into(), "no-store".into()),
        ("content-security-policy".into(), content_security_policy()),
        ("x-frame-options".into(), "DENY".into()),
        ("x-content-type-options".into(), "nosniff".into()),
        ("referrer-policy".into(), "no-referrer".into()),
        ("vary".into(), "accept-encoding".into()),
    ];
    let gzip = request_headers
        .iter()
        .filter(|(name, _)| name == "accept-encoding")
        .any(|(_, value)| accepts_gzip(value));
    let body = if gzip {
        headers.push(("content-encoding".into(), "gzip".into()));
        PAGE_GZ.to_vec()
    } else {
        inflate::gunzip(PAGE_GZ).unwrap_or_default()
    };
    (headers, body)
}

/// Whether an `accept-encoding` value allows gzip: `gzip`, `x-gzip` or `*` without `q=0`.
fn accepts_gzip(value: &str) -> bool {
    value.split(',').any(|coding| {
        let mut parts = coding.split(';').map(str::trim);
        let name = parts.next().unwrap_or_default();
        let named = ["gzip", "x-gzip", "*"].iter().any(|n| name.eq_ignore_ascii_case(n));
        let refused = parts.any(|p| {
            p.split_once('=')
                .is_some_and(|(k, q)| k.trim().eq_ignore_ascii_case("q") && is_zero_qvalue(q.trim()))
        });
        named && !refused
    })
}

/// A q-value (RFC 9110 §12.4.2) of zero: `0`, `0.`, `0.0` … `0.000`.
fn is_zero_qvalue(q: &str) -> bool {
    q.strip_prefix('0')
        .is_some_and(|rest| rest.is_empty() || rest.strip_prefix('.').is_some_and(|d| d.bytes().all(|b| b == b'0')))
}

/// The page's policy: its one inline script by hash and nothing else, no framing, requests
/// only to this origin. Inline `style` attributes are allowed (they cannot run code).
fn content_security_policy() -> String {
    format!(
        "default-src 'none'; script-src 'sha256-{SCRIPT_SHA256}'; style-src 'unsafe-inline'; img-src 'self' data:; \
         connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, GatewayError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| GatewayError::invalid(format!("invalid JSON body: {e}")))
}

fn id_of(segment: &str) -> Result<i64, GatewayError> {
    segment
        .parse()
        .map_err(|_| GatewayError::invalid(format!("{segment:?} is not a valid id")))
}

fn not_found(what: &str, id: i64) -> GatewayError {
    GatewayError::NotFound(format!("no {what} with id {id}"))
}

/// `POST /admin/api/keys` body: one key or many.
#[derive(Debug, Deserialize)]
struct AddKeys {
    key: Option<String>,
    #[serde(default)]
    keys: Vec<String>,
    label: Option<String>,
    project: Option<String>,
    weight: Option<i64>,
}

/// `PATCH /admin/api/keys/{id}` body.
#[derive(Debug, Deserialize)]
struct UpdateKey {
    label: Option<String>,
    project: Option<String>,
    weight: Option<i64>,
    enabled: Option<bool>,
    reason: Option<String>,
}

/// `POST /admin/api/client-keys` body.
#[derive(Debug, Deserialize)]
struct CreateClientKey {
    name: Option<String>,
    #[serde(flatten)]
    limits: ClientLimits,
}

/// Serves one admin API call: `(status, JSON body)`.
pub async fn handle<U: Upstream>(
    ctx: &Context<'_, U>,
    method: &str,
    rest: &str,
    query: &str,
    body: &[u8],
    settings: &Settings,
) -> Result<(u16, Value), GatewayError> {
    let db = ctx.db;
    let now = ctx.now_ms;
    let settings = &settings.pool;
    let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    let not_allowed = || GatewayError::MethodNotAllowed {
        method: method.to_owned(),
        path: format!("/admin/api/{rest}"),
    };
    match (method, segments.as_slice()) {
        ("GET", ["keys"]) => Ok((
            200,
            json!({ "keys": keys::list(db, now).map_err(GatewayError::from)?, "now": now }),
        )),
        ("POST", ["keys"]) => {
            let req: AddKeys = parse(body)?;
            let secrets: Vec<String> = req
                .key
                .into_iter()
                .chain(req.keys)
                .flat_map(|k| {
                    k.split([',', '\n', ' '])
                        .map(str::trim)
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
                .filter(|k| !k.is_empty())
                .collect();
            if secrets.is_empty() {
                return Err(GatewayError::invalid_param("give `key` or `keys`", "keys"));
            }
            if let Some(position) = secrets.iter().position(|k| !is_plausible_key(k)) {
                // Never echo the value: it may be a real key with a typo.
                return Err(GatewayError::invalid_param(
                    format!(
                        "key #{} is not a usable API key: {MIN_KEY_LEN} to {MAX_KEY_LEN} printable ASCII characters without spaces",
                        position + 1
                    ),
                    "keys",
                ));
            }
            check_weight(req.weight)?;
            let mut ids = Vec::new();
            let mut duplicates = 0;
            for secret in &secrets {
                match keys::add(
                    db,
                    secret,
                    req.label.as_deref(),
                    req.project.as_deref(),
                    req.weight,
                    now,
                )
                .map_err(GatewayError::from)?
                {
                    Some(id) => ids.push(id),
                    None => duplicates += 1,
                }
            }
            Ok((201, json!({ "added": ids.len(), "duplicates": duplicates, "ids": ids })))
        }
        ("PATCH", ["keys", id]) => {
            let id = id_of(id)?;
            let req: UpdateKey = parse(body)?;
            check_weight(req.weight)?;
            let mut found = keys::update(db, id, req.label.as_deref(), req.project.as_deref(), req.weight)
                .map_err(GatewayError::from)?;
            if let Some(enabled) = req.enabled {
                found &= keys::set_enabled(db, id, enabled, req.reason.as_deref(), now).map_err(GatewayError::from)?;
            }
            if !found {
                return Err(not_found("key", id));
            }
            Ok((200, json!({ "updated": id })))
        }
        ("POST", ["keys", id, action @ ("enable" | "disable")]) => {
            let id = id_of(id)?;
            #[derive(Deserialize)]
            struct Reason {
                reason: Option<String>,
            }
            let reason: Reason = parse(body)?;
            if !keys::set_enabled(db, id, *action == "enable", reason.reason.as_deref(), now)
                .map_err(GatewayError::from)?
            {
                return Err(not_found("key", id));
            }
            Ok((200, json!({ "id": id, "enabled": *action == "enable" })))
        }
        ("POST", ["keys", "validate"]) => {
            let mut results = Vec::new();
            for key in keys::list(db, now).map_err(GatewayError::from)? {
                results.push(validate(ctx, key.id).await?);
            }
            Ok((200, json!({ "results": results })))
        }
        ("POST", ["keys", id, "validate"]) => Ok((200, validate(ctx, id_of(id)?).await?)),
        ("POST", ["keys", id, "reset"]) => {
            let id = id_of(id)?;
            if keys::secret(db, id).map_err(GatewayError::from)?.is_none() {
                return Err(not_found("key", id));
            }
            keys::clear_cooldowns(db, id).map_err(GatewayError::from)?;
            Ok((200, json!({ "id": id, "cooldowns": "cleared" })))
        }
        ("DELETE", ["keys", id]) => {
            let id = id_of(id)?;
            if !keys::delete(db, id).map_err(GatewayError::from)? {
                return Err(not_found("key", id));
            }
            Ok((200, json!({ "deleted": id })))
        }
        ("GET", ["client-keys"]) => Ok((
            200,
            json!({ "client_keys": clients::list(db).map_err(GatewayError::from)? }),
        )),
        ("POST", ["client-keys"]) => {
            let req: CreateClientKey = parse(body)?;
            check_limits(&req.limits)?;
            let secret = crate::auth::new_client_key(&ctx.random[2..32]);
            let hint = crate::auth::redact(&secret);
            let name = req.name.unwrap_or_else(|| "client".into());
            let id = clients::create(db, &name, &crate::auth::sha256_hex(&secret), &hint, &req.limits, now)
                .map_err(GatewayError::from)?;
            Ok((
                201,
                json!({ "id": id, "name": name, "key": secret, "hint": hint, "limits": req.limits,
                        "note": "store this key now: it is shown only once" }),
            ))
        }
        ("PATCH", ["client-keys", id]) => {
            let id = id_of(id)?;
            let limits: ClientLimits = parse(body)?;
            check_limits(&limits)?;
            if !clients::update_limits(db, id, &limits).map_err(GatewayError::from)? {
                return Err(not_found("client key", id));
            }
            Ok((200, json!({ "updated": id })))
        }
        ("DELETE", ["client-keys", id]) => {
            let id = id_of(id)?;
            if !clients::revoke(db, id, now).map_err(GatewayError::from)? {
                return Err(not_found("client key", id));
            }
            Ok((200, json!({ "revoked": id })))
        }
        ("GET", ["usage"]) => {
            let since = crate::auth::query_param(query, "since");
            if let Some(day) = since.as_deref().filter(|d| !is_utc_day(d)) {
                return Err(GatewayError::invalid_param(
                    format!(
                        "since must be a date like 2026-01-31, got {:?}",
                        day.chars().take(40).collect::<String>()
                    ),
                    "since",
                ));
            }
            Ok((
                200,
                json!({
                    "keys": usage::key_usage(db, since.as_deref()).map_err(GatewayError::from)?,
                    "clients": usage::client_usage(db, since.as_deref()).map_err(GatewayError::from)?,
                    "proxy_keys": usage::proxy_usage(db, since.as_deref()).map_err(GatewayError::from)?,
                }),
            ))
        }
        ("GET", ["usage", "hourly"]) => Ok((
            200,
            json!({ "hours": usage::hourly(db, now).map_err(GatewayError::from)?, "now": now }),
        )),
        ("GET", ["requests"]) => {
            let limit = match crate::auth::query_param(query, "limit") {
                None => 100,
                Some(l) => l
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| GatewayError::invalid_param("limit is a whole number from 1 to 1000", "limit"))?,
            };
            Ok((
                200,
                json!({ "requests": usage::recent_requests(db, limit).map_err(GatewayError::from)? }),
            ))
        }
        ("GET", ["settings"]) => settings_view(db, settings),
        ("PUT" | "PATCH", ["settings"]) => {
            let mut changes: serde_json::Map<String, Value> = parse(body)?;
            // Pure-proxy mode is a gateway setting, not a pool one.
            if let Some(value) = changes.remove(PURE_PROXY) {
                let on = match value {
                    Value::Bool(on) => on,
                    Value::String(s) if s == "true" || s == "false" => s == "true",
                    _ => return Err(GatewayError::invalid_param("pure_proxy is true or false", PURE_PROXY)),
                };
                store::settings::put(db, PURE_PROXY, if on { "true" } else { "false" }).map_err(GatewayError::from)?;
            }
            if let Some(value) = changes.remove(METRICS_PUBLIC) {
                let on = match value {
                    Value::Bool(on) => on,
                    Value::String(s) if s == "true" || s == "false" => s == "true",
                    _ => {
                        return Err(GatewayError::invalid_param(
                            "metrics_public is true or false",
                            METRICS_PUBLIC,
                        ))
                    }
                };
                store::settings::put(db, METRICS_PUBLIC, if on { "true" } else { "false" })
                    .map_err(GatewayError::from)?;
            }
            if let Some(value) = changes.remove(METRICS_TOKEN) {
                match value {
                    Value::Null => {
                        store::settings::remove(db, METRICS_TOKEN_HASH).map_err(GatewayError::from)?;
                    }
                    Value::String(token) if is_plausible_token(&token) => {
                        // Kept only as a hash, like the admin key.
                        store::settings::put(db, METRICS_TOKEN_HASH, &crate::auth::sha256_hex(&token)).map_err(GatewayError::from)?;
                    }
                    _ => {
                        return Err(GatewayError::invalid_param(
                            format!(
                                "metrics_token is {MIN_TOKEN_LEN} to {MAX_KEY_LEN} printable ASCII characters without spaces, or null to remove it"
                            ),
                            METRICS_TOKEN,
                        ))
                    }
                }
            }
            let mut next = settings.clone();
            for (name, value) in &changes {
                next.set(name, value)
                    .map_err(|e| GatewayError::invalid_param(e.to_string(), name.clone()))?;
            }
            for (name, value) in next.to_pairs() {
                if changes.contains_key(&name) {
                    store::settings::put(db, &name, &value).map_err(GatewayError::from)?;
                }
            }
            settings_view(db, &next)
        }
        ("GET", ["aliases"]) => {
            let stored = store::settings::load(db).map_err(GatewayError::from)?;
            Ok((200, aliases_view(&stored)))
        }
        ("PUT" | "PATCH", ["aliases"]) => {
            let changes: serde_json::Map<String, Value> = parse(body)?;
            for (alias, target) in &changes {
                // Family patterns such as `claude-*-haiku` are aliases too.
                if crate::protocol::gemini::validate_model_id(&alias.replace('*', "x")).is_err() {
                    return Err(GatewayError::invalid_param(
                        "an alias name uses letters, digits, '.', '_', '-' and '*'",
                        alias.clone(),
                    ));
                }
                let name = format!("{}{alias}", store::settings::ALIAS_PREFIX);
                match target {
                    Value::String(model) if !model.trim().is_empty() => {
                        let model = crate::protocol::gemini::validate_model_id(model.trim())
                            .map_err(|e| GatewayError::invalid_param(e.to_string(), alias.clone()))?;
                        store::settings::put(db, &name, model).map_err(GatewayError::from)?
                    }
                    Value::Null => {
                        store::settings::remove(db, &name).map_err(GatewayError::from)?;
                    }
                    _ => {
                        return Err(GatewayError::invalid_param(
                            "an alias maps to a model id string (or null to remove it)",
                            alias.clone(),
                        ))
                    }
                }
            }
            let stored = store::settings::load(db).map_err(GatewayError::from)?;
            Ok((200, aliases_view(&stored)))
        }
        ("GET", ["fallbacks"]) => {
            let stored = store::settings::load(db).map_err(GatewayError::from)?;
            Ok((200, fallbacks_view(&stored)))
        }
        ("PUT" | "PATCH", ["fallbacks"]) => {
            let changes: serde_json::Map<String, Value> = parse(body)?;
            let mut rows = Vec::with_capacity(changes.len());
            // Every entry is checked before any is stored: a bad one changes nothing.
            for (model, chain) in &changes {
                rows.push((
                    format!("{}{}", store::settings::FALLBACK_PREFIX, fallback_model(model)?),
                    fallback_value(model, chain)?,
                ));
            }
            for (name, value) in rows {
                match value {
                    Some(value) => store::settings::put(db, &name, &value).map_err(GatewayError::from)?,
                    None => {
                        store::settings::remove(db, &name).map_err(GatewayError::from)?;
                    }
                }
            }
            let stored = store::settings::load(db).map_err(GatewayError::from)?;
            Ok((200, fallbacks_view(&stored)))
        }
        (
            _,
            ["keys"]
            | ["keys", _]
            | ["keys", _, _]
            | ["client-keys"]
            | ["client-keys", _]
            | ["usage"]
            | ["usage", "hourly"]
            | ["requests"]
            | ["settings"]
            | ["aliases"]
            | ["fallbacks"],
        ) => Err(not_allowed()),
        _ => Err(GatewayError::NotFound(format!(
            "no admin route {method} /admin/api/{rest}"
        ))),
    }
}

/// The shortest and longest pool key accepted (Google's keys are 39 characters).
const MIN_KEY_LEN: usize = 8;
const MAX_KEY_LEN: usize = 256;
/// The largest weight a key can have (the weighted strategy's scale).
const MAX_WEIGHT: i64 = 1000;

/// A key gempool can send in a header and scrub from text: printable ASCII, no spaces.
fn is_plausible_key(key: &str) -> bool {
    (MIN_KEY_LEN..=MAX_KEY_LEN).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

fn check_weight(weight: Option<i64>) -> Result<(), GatewayError> {
    match weight {
        Some(w) if !(0..=MAX_WEIGHT).contains(&w) => Err(GatewayError::invalid_param(
            format!("weight is a whole number from 0 to {MAX_WEIGHT}"),
            "weight",
        )),
        _ => Ok(()),
    }
}

/// Limits are positive (absent means "no limit"); allowed models are model ids.
fn check_limits(limits: &ClientLimits) -> Result<(), GatewayError> {
    for (name, value) in [("rpm", limits.rpm), ("rpd", limits.rpd), ("tpm", limits.tpm)] {
        if value.is_some_and(|v| v < 1) {
            return Err(GatewayError::invalid_param(
                format!("{name} is a positive whole number (leave it out for no limit)"),
                name,
            ));
        }
    }
    if limits.expires_at.is_some_and(|at| at < 0) {
        return Err(GatewayError::invalid_param(
            "expires_at is a Unix time in milliseconds",
            "expires_at",
        ));
    }
    if let Some(bad) = limits
        .allowed_models
        .iter()
        .find(|m| crate::protocol::gemini::validate_model_id(m).is_err())
    {
        return Err(GatewayError::invalid_param(
            format!(
                "allowed_models: {:?} is not a model id",
                bad.chars().take(64).collect::<String>()
            ),
            "allowed_models",
        ));
    }
    Ok(())
}

/// `YYYY-MM-DD` with a plausible month and day.
fn is_utc_day(day: &str) -> bool {
    let parts: Vec<&str> = day.split('-').collect();
    let number = |s: &str, len: usize| {
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u32>().ok())
            .flatten()
    };
    match parts.as_slice() {
        [y, m, d] => matches!(
            (number(y, 4), number(m, 2), number(d, 2)),
            (Some(_), Some(1..=12), Some(1..=31))
        ),
        _ => false,
    }
}

/// The alias table in force, the built-in defaults, and which names the operator configured.
fn aliases_view(stored: &[(String, String)]) -> Value {
    let defaults: serde_json::Map<String, Value> = crate::models::DEFAULT_ALIASES
        .iter()
        .map(|(a, m)| (a.to_string(), json!(m)))
        .collect();
    let configured: Vec<&str> = stored
        .iter()
        .filter_map(|(n, _)| n.strip_prefix(store::settings::ALIAS_PREFIX))
        .collect();
    json!({ "aliases": crate::models::alias_table(stored), "defaults": defaults, "configured": configured })
}

/// The most models a fallback chain may list after its first.
pub const MAX_FALLBACKS: usize = 5;

/// The model a chain starts from: a Gemini model id (not an alias: chains apply after
/// aliases are resolved).
fn fallback_model(model: &str) -> Result<&str, GatewayError> {
    crate::protocol::gemini::validate_model_id(model)
        .map_err(|e| GatewayError::invalid_param(format!("a fallback chain starts from a model id: {e}"), model))
}

/// A chain as stored (`a,b`), or `None` to remove it: the body gives a list of model ids, a
/// comma-separated string, or `null` (an empty list removes it too).
fn fallback_value(model: &str, chain: &Value) -> Result<Option<String>, GatewayError> {
    let bad = |message: String| GatewayError::invalid_param(message, model);
    let models: Vec<String> = match chain {
        Value::Null => return Ok(None),
        Value::String(s) => store::settings::fallback_chain(s),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.trim().to_owned()),
                _ => Err(bad("a fallback chain lists model id strings".into())),
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(bad(
                "a fallback chain is a list of model ids (or null to remove it)".into()
            ))
        }
    };
    if models.is_empty() {
        return Ok(None);
    }
    if models.len() > MAX_FALLBACKS {
        return Err(bad(format!("a fallback chain lists at most {MAX_FALLBACKS} models")));
    }
    let mut seen: Vec<&str> = vec![fallback_model(model)?];
    for m in &models {
        let id = crate::protocol::gemini::validate_model_id(m).map_err(|e| bad(e.to_string()))?;
        if seen.contains(&id) {
            return Err(bad(format!("{id} appears twice in the chain of {model}")));
        }
        seen.push(id);
    }
    Ok(Some(seen[1..].join(",")))
}

fn fallbacks_view(stored: &[(String, String)]) -> Value {
    let chains: serde_json::Map<String, Value> = Settings::from_pairs(stored)
        .fallbacks
        .into_iter()
        .map(|(model, chain)| (model, json!(chain)))
        .collect();
    json!({ "fallbacks": chains })
}

/// `PATCH /admin/api/settings` name of the token that may read `/metrics` (besides the admin key).
pub const METRICS_TOKEN: &str = "metrics_token";
/// The shortest metrics token accepted.
const MIN_TOKEN_LEN: usize = 16;

/// A metrics token: long enough not to be guessed, sendable in a header.
fn is_plausible_token(token: &str) -> bool {
    (MIN_TOKEN_LEN..=MAX_KEY_LEN).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_graphic())
}

/// Checks one key against the upstream (list one model) and records what it says: `valid`,
/// `invalid: ...` (the key is disabled), `quota: ...` or `error: ...`.
async fn validate<U: Upstream>(ctx: &Context<'_, U>, id: i64) -> Result<Value, GatewayError> {
    let db = ctx.db;
    let Some(secret) = keys::secret(db, id).map_err(GatewayError::from)? else {
        return Err(not_found("key", id));
    };
    let request = UpstreamRequest::list_page(crate::protocol::gemini::API_VERSION, "models", 1, None);
    // What the upstream says about the key may quote it.
    let secrets = crate::secrets::Secrets::new([secret.clone()]);
    let now = ctx.upstream.now_ms();
    let (state, detail) = match ctx.upstream.send(&request, &secret).await {
        Err(e) => ("unreachable", secrets.scrub(&e.to_string()).into_owned()),
        Ok(response) if (200..300).contains(&response.status) => ("valid", String::new()),
        Ok(response) => {
            let status = response.status;
            let body = ctx
                .upstream
                .read_to_end(response.body, crate::upstream::ERROR_BODY_LIMIT, true)
                .await
                .unwrap_or_default();
            let body = secrets.scrub_bytes(&body).unwrap_or(body);
            let settings = PoolSettings::default();
            let ctx = ClassifyContext {
                now_ms: now,
                settings: &settings,
                previous_strikes: 0,
            };
            match pool::classify(status, &body, &ctx) {
                Outcome::RetryElsewhere(KeyEffect::Disable { reason }) => {
                    keys::set_enabled(db, id, false, Some(&reason), now).map_err(GatewayError::from)?;
                    ("invalid", reason)
                }
                Outcome::RetryElsewhere(KeyEffect::Cooldown { reason, .. }) => ("quota", reason),
                _ => {
                    let message = crate::protocol::gemini::ErrorBody::parse(&body).map(|e| e.error.message);
                    (
                        "error",
                        format!("upstream answered {status}: {}", message.unwrap_or_default()),
                    )
                }
            }
        }
    };
    let recorded = if detail.is_empty() {
        state.to_owned()
    } else {
        format!("{state}: {detail}")
    };
    keys::record_validation(db, id, &recorded, now).map_err(GatewayError::from)?;
    Ok(json!({ "id": id, "state": state, "detail": detail, "validated_at": now }))
}

fn settings_view(db: &dyn Database, settings: &PoolSettings) -> Result<(u16, Value), GatewayError> {
    let stored = Settings::from_pairs(&store::settings::load(db).map_err(GatewayError::from)?);
    let mut view = serde_json::to_value(settings).unwrap_or_else(|_| json!({}));
    view[PURE_PROXY] = json!(stored.pure_proxy);
    view[METRICS_PUBLIC] = json!(stored.metrics_public);
    // Whether a token is set; never the token (only its hash is stored anyway).
    view["metrics_token_set"] = json!(stored.metrics_token_hash.is_some());
    Ok((200, json!({ "settings": view })))
}

#[cfg(test)]
mod input_tests {
    use super::*;

    #[test]
    fn admin_input_is_checked_before_it_is_stored() {
        assert!(is_utc_day("2026-01-31"));
        for bad in ["notadate", "2026-13-01", "2026-1-1", "26-01-01", "2026-01-01' OR 1=1"] {
            assert!(!is_utc_day(bad), "{bad}");
        }
        assert!(check_weight(Some(-1)).is_err());
        assert!(check_weight(Some(MAX_WEIGHT + 1)).is_err());
        assert!(check_weight(Some(0)).is_ok() && check_weight(None).is_ok());
        let limits = |rpm: i64| ClientLimits {
            rpm: Some(rpm),
            ..ClientLimits::default()
        };
        assert!(check_limits(&limits(-1)).is_err());
        assert!(check_limits(&limits(0)).is_err());
        assert!(check_limits(&limits(5)).is_ok());
        let models = ClientLimits {
            allowed_models: vec!["gemini-2.5-flash".into(), "../x".into()],
            ..ClientLimits::default()
        };
        assert!(check_limits(&models).is_err());
        assert!(is_plausible_key("AIzaSyExample-key_123"));
        for bad in ["short", "has space inside", "tab\tinside!!", "ünïcode-key-1"] {
            assert!(!is_plausible_key(bad), "{bad}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(accept_encoding: Option<&str>) -> (Option<String>, Vec<u8>) {
        let request: Vec<(String, String)> = accept_encoding
            .map(|v| ("accept-encoding".to_string(), v.to_string()))
            .into_iter()
            .collect();
        let (headers, body) = page(&request);
        let encoding = headers
            .iter()
            .find(|(n, _)| n == "content-encoding")
            .map(|(_, v)| v.clone());
        (encoding, body)
    }

    #[test]
    fn the_page_is_gzipped_only_for_clients_that_accept_gzip() {
        let plain = include_bytes!("page.html").to_vec();
        for accepted in [
            "gzip",
            "gzip, deflate, br, zstd",
            "br;q=1.0, GZIP;q=0.5",
            "*",
            "x-gzip",
            "gzip;q=0.001",
        ] {
            assert_eq!(
                served(Some(accepted)),
                (Some("gzip".into()), PAGE_GZ.to_vec()),
                "{accepted}"
            );
        }
        for refused in [
            "identity",
            "br",
            "gzip;q=0",
            "gzip; q=0.000, br",
            "*;q=0",
            "gzipped",
            "",
        ] {
            assert_eq!(served(Some(refused)), (None, plain.clone()), "{refused}");
        }
        assert_eq!(served(None), (None, plain));
    }

    #[test]
    fn the_policy_names_the_pages_script_by_hash() {
        use base64::Engine;
        use sha2::{Digest, Sha256};
        let page = include_str!("page.html");
        let script = page
            .split_once("<script>")
            .and_then(|(_, rest)| rest.split_once("</script>"))
            .map(|(script, _)| script)
            .expect("the page has its script");
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(script.as_bytes()));
        assert!(content_security_policy().contains(&format!("script-src 'sha256-{hash}'")));
    }
}
