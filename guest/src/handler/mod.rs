//! The request pipeline: route -> caller -> protocol handler -> failover -> reply.
//!
//! Generic over the transport ([`Upstream`]) and the [`Database`], so the whole pipeline runs
//! natively in tests; the component only reads the request, calls [`handle`], and writes the
//! [`Reply`] (pumping streams through their [`Transducer`]).

use crate::admin;
use crate::auth::{self, Presented};
use crate::error::GatewayError;
use crate::pool::{self, PoolSettings};
use crate::protocol::gemini::{self, ErrorBody, Status, UsageMetadata};
use crate::protocol::{Protocol, RequestContext};
use crate::route::{self, Route};
use crate::secrets::Secrets;
use crate::store::clients::ClientKey;
use crate::store::failures::{WriteFailures, WriteOp};
use crate::store::usage::{self, LogEntry, OkAttempt, Tokens};
use crate::store::{self, Database};
use crate::stream::Transducer;

mod anthropic;
mod native;
mod openai;
mod responses;
#[cfg(test)]
mod tests;
use crate::upstream::{
    self, Attempted, Delivered, FailoverContext, KeySource, Upstream, UpstreamRequest, UpstreamResponse,
};

/// Deployment configuration, from the host's variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Gemini's origin, without a trailing slash.
    pub upstream_url: String,
    /// The admin key, when the operator configured one (else the stored hash is used).
    pub admin_key: Option<String>,
    /// Proxied requests need no client key.
    pub open_access: bool,
    /// The host's SQL has `gempool_next_ticket()` (variable [`SQL_TICKET_VARIABLE`]): round
    /// robin takes its ticket with a read instead of a write.
    pub sql_ticket_function: bool,
}

/// The variable a host sets (to `true`) when its SQLite has the function
/// `gempool_next_ticket()`: a process-wide atomic counter, so the round-robin ticket costs no
/// write. The bundled host has it; under other hosts the ticket is one `UPDATE`.
pub const SQL_TICKET_VARIABLE: &str = "sql_ticket_function";

/// The parts of a request the pipeline looks at before the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// The HTTP method, uppercase.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query string, without `?` (empty when there is none).
    pub query: String,
    /// Header names in lowercase.
    pub headers: Vec<(String, String)>,
}

/// What to answer.
pub enum Reply<B> {
    /// A whole body.
    Full {
        /// The HTTP status.
        status: u16,
        /// The response headers.
        headers: Vec<(String, String)>,
        /// The body bytes.
        body: Vec<u8>,
    },
    /// A stream: the upstream body re-framed for the client as it arrives.
    Stream {
        /// The HTTP status.
        status: u16,
        /// The response headers.
        headers: Vec<(String, String)>,
        /// The upstream body, not read yet.
        body: B,
        /// Re-frames Gemini's chunks into the client's protocol.
        transducer: Box<Transducer>,
        /// What to record when the stream ends.
        accounting: Accounting,
    },
}

/// What to record once a streamed reply has ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Accounting {
    /// The pool key that serves the stream (none in pure-proxy mode).
    pub key_id: Option<i64>,
    /// Pure-proxy mode: the short hash of the client's own key that served the stream.
    pub proxy_key_hash: Option<String>,
    /// The client key that made the request, if any.
    pub client_id: Option<i64>,
    /// The model the stream comes from.
    pub model: String,
    /// The client's protocol.
    pub protocol: Protocol,
    /// When the request started (Unix ms), for its latency.
    pub started_ms: i64,
    /// Upstream attempts made, this one included.
    pub attempts: u32,
}

/// Per-request facts from the environment.
pub struct Env<'a, U: Upstream, D: Database> {
    /// Sends requests to Gemini.
    pub upstream: &'a U,
    /// The database.
    pub db: &'a D,
    /// The deployment's configuration.
    pub config: &'a Config,
    /// Random bytes for ids, seeds and new keys.
    pub random: [u8; 32],
    /// The request's arrival time (Unix ms).
    pub now_ms: i64,
    /// Set once the upstream bookkeeping wrote this request's log row.
    pub logged: std::cell::Cell<bool>,
    /// What the upstream bookkeeping learnt, for the host's access log.
    pub access: std::cell::RefCell<AccessNote>,
    /// Bookkeeping writes that failed, counted once the request is done.
    pub writes: WriteFailures,
}

/// The response header that tells the bundled host's access log what only the component
/// knows. Added only when the host sets the variable [`ACCESS_VARIABLE`] (and strips the
/// header before the client sees it); other hosts never get it.
pub const ACCESS_HEADER: &str = "x-gempool-access";
/// The variable a host sets (to `true`) to get [`ACCESS_HEADER`].
pub const ACCESS_VARIABLE: &str = "access_log_header";

/// What the upstream bookkeeping learnt about a request: never a secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessNote {
    /// The resolved model (a validated model id).
    pub model: Option<String>,
    /// Upstream attempts made.
    pub attempts: u32,
    /// The pool key that answered last (pure-proxy keys have none).
    pub key_id: Option<i64>,
}

impl AccessNote {
    /// The [`ACCESS_HEADER`] value: space-separated `name=value` pairs, values without spaces.
    pub fn header_value(&self, route: &str, protocol: Protocol) -> String {
        let mut value = format!("route={route} protocol={}", protocol_name(protocol));
        if let Some(model) = &self.model {
            value.push_str(&format!(" model={model}"));
        }
        value.push_str(&format!(" attempts={}", self.attempts));
        if let Some(key) = self.key_id {
            value.push_str(&format!(" key={key}"));
        }
        value
    }
}

/// Adds [`ACCESS_HEADER`] to a reply.
pub fn add_access_header<B>(reply: &mut Reply<B>, value: String) {
    let (Reply::Full { headers, .. } | Reply::Stream { headers, .. }) = reply;
    headers.push((ACCESS_HEADER.into(), value));
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq)]
pub enum Caller {
    /// The admin key: every route.
    Admin,
    /// A client key: its limits and allowed models.
    Client(ClientKey),
    /// Open access: no key required (`open_access`).
    Open,
    /// Pure-proxy mode: the client brought its own Gemini keys.
    OwnKeys(Vec<String>),
}

impl Caller {
    fn client_id(&self) -> Option<i64> {
        match self {
            Caller::Client(c) => Some(c.id),
            _ => None,
        }
    }
}

/// Headers every response carries (CORS: browser clients and the admin page on other origins).
pub fn common_headers() -> Vec<(String, String)> {
    vec![
        ("access-control-allow-origin".into(), "*".into()),
        (
            "access-control-expose-headers".into(),
            "retry-after, request-id, x-request-id".into(),
        ),
    ]
}

fn json_reply<B>(status: u16, value: &serde_json::Value) -> Reply<B> {
    let mut headers = common_headers();
    headers.push(("content-type".into(), "application/json".into()));
    Reply::Full {
        status,
        headers,
        body: serde_json::to_vec(value).unwrap_or_default(),
    }
}

/// Renders an error in the caller's protocol.
pub fn error_reply<B>(error: &GatewayError, protocol: Protocol) -> Reply<B> {
    let rendered = error.render(protocol);
    let mut headers = common_headers();
    headers.extend(rendered.headers);
    Reply::Full {
        status: rendered.status,
        headers,
        body: rendered.body,
    }
}

/// Routes a request head; the error (if any) is already in the right protocol.
pub fn prepare(head: &RequestHead) -> (Protocol, Result<Route, GatewayError>) {
    let protocol = route::protocol_of(&head.path, &head.headers, &head.query);
    (
        protocol,
        route::route(&head.method, &head.path, &head.headers, &head.query),
    )
}

/// Loads the settings, migrating the schema first when it is missing or old: one statement on
/// every request once the schema is current.
pub fn load_settings(db: &dyn Database) -> Result<(PoolSettings, Vec<(String, String)>), GatewayError> {
    let internal = GatewayError::from;
    let pairs = match store::settings::load_with_schema_version(db) {
        Ok((version, pairs)) if version >= store::migrate::latest_version() => pairs,
        _ => {
            store::migrate::ensure_schema(db).map_err(internal)?;
            store::settings::load(db).map_err(internal)?
        }
    };
    let settings = PoolSettings::from_pairs(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))).unwrap_or_default();
    Ok((settings, pairs))
}

/// Decides who the caller is for `route`.
pub fn authenticate(
    route: &Route,
    presented: Option<&Presented>,
    config: &Config,
    stored: &[(String, String)],
    db: &dyn Database,
    now_ms: i64,
) -> Result<Caller, GatewayError> {
    let is_admin = |secret: &str| {
        let hash = auth::sha256_hex(secret);
        match &config.admin_key {
            Some(admin) => auth::constant_time_eq(&hash, &auth::sha256_hex(admin)),
            None => stored
                .iter()
                .find(|(n, _)| n == store::settings::ADMIN_KEY_HASH)
                .is_some_and(|(_, stored_hash)| auth::constant_time_eq(&hash, stored_hash)),
        }
    };
    if let Route::AdminApi { .. } = route {
        return match presented {
            // Only in a header: a key in the URL ends up in proxy logs and browser history.
            Some(p) if is_admin(&p.secret) && p.source != auth::CredentialSource::Bearer => {
                Err(GatewayError::Unauthenticated(
                    "the admin key is accepted only in the Authorization header (Bearer)".into(),
                ))
            }
            Some(p) if is_admin(&p.secret) => Ok(Caller::Admin),
            Some(_) => Err(GatewayError::Unauthenticated("the admin key is not valid".into())),
            None => Err(GatewayError::Unauthenticated(
                "the admin API needs the admin key (Authorization: Bearer ...)".into(),
            )),
        };
    }
    if let Route::Metrics = route {
        return authenticate_metrics(presented, stored, is_admin);
    }
    if !route.is_proxied() {
        return Ok(Caller::Open);
    }
    if let Some(p) = presented {
        let hash = auth::sha256_hex(&p.secret);
        if let Some(client) = store::clients::find_by_hash(db, &hash)? {
            if client.limits.expires_at.is_some_and(|at| at <= now_ms) {
                return Err(GatewayError::Unauthenticated("this client key has expired".into()));
            }
            return Ok(Caller::Client(client));
        }
        if pure_proxy_enabled(stored) {
            let keys: Vec<String> = p
                .secret
                .split(',')
                .map(str::trim)
                .filter(|k| auth::looks_like_google_key(k))
                .map(str::to_owned)
                .collect();
            if !keys.is_empty() {
                return Ok(Caller::OwnKeys(keys));
            }
        }
        if is_admin(&p.secret) && !config.open_access {
            return Err(GatewayError::PermissionDenied(
                "the admin key is for /admin/ only; create a client key for API calls".into(),
            ));
        }
    }
    if config.open_access {
        return Ok(Caller::Open);
    }
    match presented {
        None => Err(GatewayError::Unauthenticated(
            "missing API key: send a gempool client key (Authorization: Bearer, x-api-key, x-goog-api-key or ?key=)"
                .into(),
        )),
        Some(p) => Err(GatewayError::Unauthenticated(format!(
            "invalid API key {}",
            auth::redact(&p.secret)
        ))),
    }
}

/// `GET /metrics` takes the admin key or the metrics token, in `Authorization: Bearer` only,
/// unless the operator made it public (`metrics_public`, for loopback-only set-ups).
fn authenticate_metrics(
    presented: Option<&Presented>,
    stored: &[(String, String)],
    is_admin: impl Fn(&str) -> bool,
) -> Result<Caller, GatewayError> {
    let setting = |name: &str| stored.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    if matches!(setting(admin::METRICS_PUBLIC), Some("true" | "1")) {
        return Ok(Caller::Open);
    }
    let is_token = |secret: &str| {
        setting(admin::METRICS_TOKEN_HASH)
            .is_some_and(|stored_hash| auth::constant_time_eq(&auth::sha256_hex(secret), stored_hash))
    };
    match presented {
        Some(p) if is_admin(&p.secret) || is_token(&p.secret) => {
            if p.source == auth::CredentialSource::Bearer {
                Ok(Caller::Open)
            } else {
                Err(GatewayError::Unauthenticated(
                    "/metrics takes its key only in the Authorization header (Bearer)".into(),
                ))
            }
        }
        Some(_) => Err(GatewayError::Unauthenticated(
            "the key is neither the admin key nor the metrics token".into(),
        )),
        None => Err(GatewayError::Unauthenticated(
            "/metrics needs the admin key or the metrics token (Authorization: Bearer ...)".into(),
        )),
    }
}

fn pure_proxy_enabled(stored: &[(String, String)]) -> bool {
    stored
        .iter()
        .any(|(n, v)| n == "pure_proxy" && (v == "true" || v == "1"))
}

/// Serves one request whose body has been read.
///
/// On the way out: an error that was never logged by the upstream bookkeeping (refused before
/// the upstream: auth, limits, a bad body, an unknown model) gets its request-log row, and
/// every error reply and admin answer is scrubbed of every secret the instance knows.
pub async fn handle<U: Upstream, D: Database>(
    env: &Env<'_, U, D>,
    head: &RequestHead,
    route: Route,
    protocol: Protocol,
    body: Vec<u8>,
    settings: &PoolSettings,
    stored: &[(String, String)],
) -> Reply<U::Body> {
    let presented = auth::presented_credential(&head.headers, &head.query);
    // The admin surface: the admin API and the metrics.
    let is_admin_api = matches!(route, Route::AdminApi { .. } | Route::Metrics);
    let loggable = route.is_proxied();
    let route_model = match &route {
        Route::Gemini { model, .. } => model.clone(),
        _ => None,
    };
    let mut client_id = None;
    let outcome = serve(
        env,
        head,
        route,
        &body,
        settings,
        stored,
        presented.as_ref(),
        &mut client_id,
    )
    .await;
    let mut reply = match outcome {
        Ok(reply) => reply,
        Err(error) => {
            if loggable && !env.logged.get() {
                let model = route_model.or_else(|| model_named_in(&body));
                log_refusal(env, protocol, model, client_id, &error, presented.as_ref());
            }
            error_reply(&error, protocol)
        }
    };
    if is_admin_api {
        // The admin surface is same-origin only (no CORS grant) and never sniffed or cached.
        let (Reply::Full { headers, .. } | Reply::Stream { headers, .. }) = &mut reply;
        headers.retain(|(name, _)| !name.starts_with("access-control-"));
        headers.push(("x-content-type-options".into(), "nosniff".into()));
        headers.push(("cache-control".into(), "no-store".into()));
    }
    if let Reply::Full { status, headers, body } = &mut reply {
        if *status >= 400 || is_admin_api {
            let secrets = known_secrets(env, presented.as_ref());
            if let Some(clean) = secrets.scrub_bytes(body) {
                *body = clean;
            }
            for (_, value) in headers.iter_mut() {
                if let std::borrow::Cow::Owned(clean) = secrets.scrub(value) {
                    *value = clean;
                }
            }
        }
    }
    stamp_request_id(&mut reply, &env.random, env.now_ms);
    env.writes.flush(env.db);
    reply
}

/// Adds `request-id` / `x-request-id`: SDKs surface them as the request id (`_request_id`),
/// which users quote in bug reports.
pub fn stamp_request_id<B>(reply: &mut Reply<B>, random: &[u8; 32], now_ms: i64) {
    let id = request_context(random, now_ms).request_id;
    let (Reply::Full { headers, .. } | Reply::Stream { headers, .. }) = reply;
    headers.push(("request-id".into(), format!("req_{id}")));
    headers.push(("x-request-id".into(), format!("req_{id}")));
}

/// Renders and logs an error met before the pipeline could start (an unknown route, a body
/// over the limit): what the component answers when [`handle`] cannot run.
pub fn refuse<U: Upstream, D: Database>(
    env: &Env<'_, U, D>,
    head: &RequestHead,
    protocol: Protocol,
    error: &GatewayError,
) -> Reply<U::Body> {
    let presented = auth::presented_credential(&head.headers, &head.query);
    if protocol != Protocol::Admin {
        log_refusal(env, protocol, None, None, error, presented.as_ref());
    }
    let mut reply = error_reply(error, protocol);
    if let Reply::Full { body, .. } = &mut reply {
        if let Some(clean) = known_secrets(env, presented.as_ref()).scrub_bytes(body) {
            *body = clean;
        }
    }
    env.writes.flush(env.db);
    reply
}

/// Every secret this instance knows: the pool's keys, the admin key when configured, and
/// whatever credential the caller presented (a client key, or its own Gemini keys).
fn known_secrets<U: Upstream, D: Database>(env: &Env<'_, U, D>, presented: Option<&Presented>) -> Secrets {
    let mut secrets = Secrets::new(store::keys::all_secrets(env.db).unwrap_or_default());
    secrets.extend(env.config.admin_key.iter().cloned());
    if let Some(p) = presented {
        secrets.extend(p.secret.split(',').map(str::to_owned));
        secrets.extend([p.secret.clone()]);
    }
    secrets
}

/// The model of a client's usage row for a request refused before its model was resolved.
pub const UNRESOLVED_MODEL: &str = "-";

/// A request-log row (and the refusal counters) for a request that never reached the upstream.
fn log_refusal<U: Upstream, D: Database>(
    env: &Env<'_, U, D>,
    protocol: Protocol,
    model: Option<String>,
    client_id: Option<i64>,
    error: &GatewayError,
    presented: Option<&Presented>,
) {
    let secrets = known_secrets(env, presented);
    let reason: String = secrets.scrub(&error.to_string()).chars().take(300).collect();
    let model = model.map(|m| secrets.scrub(&m).chars().take(128).collect());
    let status = error.status(protocol);
    let day = pool::clock::utc_day(env.now_ms);
    let refused = usage::record_refusal(env.db, &day, crate::metrics::refusal_reason(error));
    env.writes.check(WriteOp::Refusal, refused);
    if let Some(client) = client_id {
        // The model is not resolved yet: the client's name for it would be unbounded.
        let failed = usage::record_client_failure(env.db, client, UNRESOLVED_MODEL, &day, status);
        env.writes.check(WriteOp::ClientFailure, failed);
    }
    let entry = LogEntry {
        at: env.now_ms,
        client_id,
        key_id: None,
        model,
        protocol: Some(protocol_name(protocol).into()),
        status: status.into(),
        attempts: 0,
        latency_ms: (env.upstream.now_ms() - env.now_ms).max(0),
        error: Some(reason),
    };
    env.writes
        .check(WriteOp::RequestLog, usage::log_request(env.db, &entry, None));
}

/// The `model` a JSON body names, if any (for the log row of a refused request).
fn model_named_in(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Named {
        model: Option<serde_json::Value>,
    }
    match serde_json::from_slice::<Named>(body).ok()?.model? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s),
        _ => None,
    }
}

#[allow(clippy::too_many_arguments)]
async fn serve<U: Upstream, D: Database>(
    env: &Env<'_, U, D>,
    head: &RequestHead,
    route: Route,
    body: &[u8],
    settings: &PoolSettings,
    stored: &[(String, String)],
    presented: Option<&Presented>,
    client_id: &mut Option<i64>,
) -> Result<Reply<U::Body>, GatewayError> {
    let caller = authenticate(&route, presented, env.config, stored, env.db, env.now_ms)?;
    *client_id = caller.client_id();
    if let (Caller::Client(client), true) = (&caller, route.is_proxied()) {
        match store::windows::admit(env.db, client.id, &client.limits, env.now_ms) {
            Ok(Ok(())) => {}
            Ok(Err(exceeded)) => {
                return Err(GatewayError::RateLimited {
                    message: format!(
                        "this client key exceeded its limit of {} {}; retry in {}s",
                        exceeded.value, exceeded.limit, exceeded.retry_after_secs
                    ),
                    retry_after_secs: exceeded.retry_after_secs,
                });
            }
            Err(e) => return Err(e.into()),
        }
    }
    match route {
        Route::Health | Route::Preflight => Ok(static_reply(&route, &head.path)),
        #[cfg(not(feature = "edge"))]
        Route::AdminPage => Ok(admin::page()),
        #[cfg(not(feature = "edge"))]
        Route::Metrics => {
            let snapshot =
                store::metrics::snapshot(env.db, env.now_ms).map_err(|e| GatewayError::Internal(e.to_string()))?;
            Ok(Reply::Full {
                status: 200,
                headers: vec![("content-type".into(), crate::metrics::CONTENT_TYPE.into())],
                body: crate::metrics::render(&snapshot, env.now_ms).into_bytes(),
            })
        }
        #[cfg(not(feature = "edge"))]
        Route::AdminApi { rest } => admin::handle(env, &head.method, &rest, &head.query, body, settings)
            .await
            .map(|(status, value)| json_reply(status, &value)),
        // The edge build has no storage, so no admin surface is compiled into it.
        #[cfg(feature = "edge")]
        Route::AdminPage | Route::AdminApi { .. } | Route::Metrics => Err(crate::edge::needs_gateway(&route)),
        Route::Gemini { version, model, method } => {
            native::handle(
                env,
                head,
                &caller,
                &version,
                model.as_deref(),
                method,
                body.to_vec(),
                settings,
            )
            .await
        }
        Route::OpenAiChat => openai::chat(env, &caller, body, settings, stored).await,
        Route::OpenAiResponses => responses::create(env, &caller, body, settings, stored).await,
        Route::OpenAiEmbeddings => openai::embeddings(env, &caller, body, settings, stored).await,
        Route::OpenAiModels => openai::models(env, &caller, settings, stored, None).await,
        Route::OpenAiModel(id) => openai::models(env, &caller, settings, stored, Some(&id)).await,
        Route::AnthropicMessages => anthropic::messages(env, &caller, body, settings, stored).await,
        Route::AnthropicCountTokens => anthropic::count_tokens(env, &caller, body, settings, stored).await,
        Route::AnthropicModels => anthropic::models(env, &caller, settings, stored, None).await,
        Route::AnthropicModel(id) => anthropic::models(env, &caller, settings, stored, Some(&id)).await,
    }
}

/// The answer to a route that needs neither storage nor a body: `/health` and CORS
/// preflights. Preflights for the admin surface carry no CORS grant, so browsers on other
/// origins cannot call it.
pub fn static_reply<B>(route: &Route, path: &str) -> Reply<B> {
    match route {
        Route::Preflight if path.starts_with("/admin") => Reply::Full {
            status: 204,
            headers: vec![("x-content-type-options".into(), "nosniff".into())],
            body: Vec::new(),
        },
        Route::Preflight => preflight(),
        _ => json_reply(200, &serde_json::json!({"status": "ok"})),
    }
}

fn preflight<B>() -> Reply<B> {
    let mut headers = common_headers();
    headers.extend([
        (
            "access-control-allow-methods".into(),
            "GET, POST, PUT, PATCH, DELETE, OPTIONS".into(),
        ),
        ("access-control-allow-headers".into(), "*".into()),
        ("access-control-max-age".into(), "86400".into()),
    ]);
    Reply::Full {
        status: 204,
        headers,
        body: Vec::new(),
    }
}

/// The per-request seed for the pool's random strategies.
pub(crate) fn seed(random: &[u8; 32]) -> u64 {
    u64::from_le_bytes(random[..8].try_into().unwrap_or_default())
}

/// A request id from the request's random bytes.
pub fn request_context(env_random: &[u8; 32], now_ms: i64) -> RequestContext {
    let id: String = env_random[8..20].iter().map(|b| format!("{b:02x}")).collect();
    RequestContext {
        request_id: id,
        created: (now_ms / 1000).max(0) as u64,
    }
}

/// Parses a client body, answering 400 when it is not what the endpoint expects.
pub(crate) fn parse_body<T: for<'de> serde::Deserialize<'de>>(body: &[u8]) -> Result<T, GatewayError> {
    serde_json::from_slice(body).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            GatewayError::invalid(format!("the request body is not valid JSON: {e}"))
        } else {
            GatewayError::invalid(format!("invalid request body: {e}"))
        }
    })
}

/// Decodes a successful upstream body; a body we cannot read is the upstream's fault (502).
pub(crate) fn decode_upstream<T: for<'de> serde::Deserialize<'de>>(body: &[u8]) -> Result<T, GatewayError> {
    serde_json::from_slice(body).map_err(|e| GatewayError::Upstream {
        status: 502,
        message: format!("unreadable upstream response: {e}"),
    })
}

/// The upstream's error status from a fault body, for the protocol's error translator.
pub(crate) fn fault_status(status: u16, body: &[u8]) -> Status {
    ErrorBody::parse(body).map(|e| e.error).unwrap_or_else(|| Status {
        code: status,
        message: format!("the upstream answered {status}"),
        ..Default::default()
    })
}

/// A translated `generateContent` through the pool (with a transducer: its
/// `streamGenerateContent?alt=sse`), answered as a stream, as the protocol's rendering of an
/// upstream fault, or as `whole(response)`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn generate<U: Upstream, D: Database>(
    env: &Env<'_, U, D>,
    caller: &Caller,
    protocol: Protocol,
    model: &str,
    request: &gemini::GenerateContentRequest,
    settings: &PoolSettings,
    transducer: Option<Transducer>,
    fault: fn(u16, &[u8]) -> Reply<U::Body>,
    whole: impl FnOnce(&gemini::GenerateContentResponse) -> Reply<U::Body>,
) -> Result<Reply<U::Body>, GatewayError> {
    let method = if transducer.is_some() {
        "streamGenerateContent?alt=sse"
    } else {
        "generateContent"
    };
    let path = gemini::model_path(gemini::API_VERSION, model, Some(method));
    if let Some(config) = &request.generation_config {
        config
            .check_ranges()
            .map_err(|e| GatewayError::invalid_param(e.to_string(), e.name))?;
    }
    let mut request = post(path, to_body(request)?);
    request.stream = transducer.is_some();
    Ok(
        match call_upstream(env, caller, protocol, model, &request, settings, transducer).await? {
            Upstreamed::Stream(reply) => reply,
            Upstreamed::Fault { status, body } => fault(status, &body),
            Upstreamed::Whole { body, .. } => whole(&decode_upstream(&body)?),
        },
    )
}

/// A JSON `POST` to the upstream.
pub(crate) fn post(path: String, body: Vec<u8>) -> UpstreamRequest {
    UpstreamRequest {
        method: "POST".into(),
        path_and_query: path,
        body: Some(body),
        headers: vec![("content-type".into(), "application/json".into())],
        stream: false,
    }
}

/// Serializes a translated request for the upstream.
pub(crate) fn to_body<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, GatewayError> {
    serde_json::to_vec(value).map_err(|e| GatewayError::Internal(e.to_string()))
}

/// Resolves the model a client named (aliases included) and checks the caller may use it.
pub(crate) fn resolve_model(
    caller: &Caller,
    requested: &str,
    stored: &[(String, String)],
    missing: &str,
) -> Result<String, GatewayError> {
    if requested.trim().is_empty() {
        return Err(GatewayError::invalid_param(missing.to_owned(), "model"));
    }
    gemini::validate_model_id(requested).map_err(|e| GatewayError::invalid_param(e.to_string(), "model"))?;
    let model = crate::models::resolve(requested, stored);
    // An alias's target was validated when it was configured; checked again because it
    // becomes part of the upstream path.
    gemini::validate_model_id(&model).map_err(|e| {
        GatewayError::invalid_param(format!("the alias {requested} maps to an invalid model: {e}"), "model")
    })?;
    check_model_allowed(caller, requested, &model)?;
    Ok(model)
}

/// Refuses a model a client key is not allowed to use (by its requested or resolved name).
pub(crate) fn check_model_allowed(caller: &Caller, requested: &str, resolved: &str) -> Result<(), GatewayError> {
    if let Caller::Client(client) = caller {
        let allowed = &client.limits.allowed_models;
        if !allowed.is_empty() && !allowed.iter().any(|m| m == requested || m == resolved) {
            return Err(GatewayError::PermissionDenied(format!(
                "this client key may not use the model {requested}"
            )));
        }
    }
    Ok(())
}

/// The answer of one upstream call made through the pool.
pub enum Upstreamed<B> {
    /// A 2xx whole body (already counted in usage).
    Whole {
        /// The upstream status, a 2xx.
        status: u16,
        /// The body, read in full.
        body: Vec<u8>,
    },
    /// A 2xx stream, ready to pump through its transducer.
    Stream(Reply<B>),
    /// The upstream blamed the request: its status and (Gemini-shaped) body.
    Fault {
        /// The upstream status, a 4xx.
        status: u16,
        /// The upstream's error body.
        body: Vec<u8>,
    },
}

/// Runs the failover for one upstream request and does the bookkeeping: usage per key and
/// client, the request log. With a `transducer` a success is returned as a stream reply.
#[allow(clippy::too_many_arguments)]
pub async fn call_upstream<U: Upstream, D: Database>(
    env: &Env<'_, U, D>,
    caller: &Caller,
    protocol: Protocol,
    model: &str,
    request: &UpstreamRequest,
    settings: &PoolSettings,
    transducer: Option<Transducer>,
) -> Result<Upstreamed<U::Body>, GatewayError> {
    let keys = match caller {
        Caller::OwnKeys(keys) => KeySource::Client(keys.clone()),
        _ => KeySource::Stored,
    };
    let stored = matches!(keys, KeySource::Stored);
    let ctx = FailoverContext {
        settings,
        model,
        seed: seed(&env.random),
        keys,
        host_ticket: env.config.sql_ticket_function,
        writes: &env.writes,
    };
    let attempted = upstream::send_with_failover(env.upstream, env.db, request, &ctx).await;
    let day = pool::clock::utc_day(env.now_ms);
    let mut log = LogEntry {
        at: env.now_ms,
        client_id: caller.client_id(),
        key_id: None,
        model: Some(model.to_owned()),
        protocol: Some(protocol_name(protocol).into()),
        status: 0,
        attempts: 0,
        latency_ms: 0,
        error: None,
    };
    match attempted {
        Attempted::Success {
            response,
            key,
            attempts,
            started_ms,
        } => {
            let key_id = stored.then_some(key.candidate.id);
            note(env, model, attempts, key_id);
            let UpstreamResponse { status, body, .. } = response;
            let body = match (body, transducer) {
                (Delivered::Unread(body), Some(mut transducer)) => {
                    transducer.scrub(Secrets::new([key.secret.clone()]));
                    let mut headers = common_headers();
                    headers.extend(transducer.headers());
                    let accounting = Accounting {
                        key_id,
                        proxy_key_hash: (!stored).then(|| proxy_key_hash(&key.secret)),
                        client_id: caller.client_id(),
                        model: model.to_owned(),
                        protocol,
                        started_ms,
                        attempts,
                    };
                    return Ok(Upstreamed::Stream(Reply::Stream {
                        status,
                        headers,
                        body,
                        transducer: Box::new(transducer),
                        accounting,
                    }));
                }
                (Delivered::Whole(bytes), None) => bytes,
                _ => {
                    return Err(GatewayError::Internal(
                        "a stream was read whole, or a whole answer streamed".into(),
                    ))
                }
            };
            let bytes = body;
            let tokens = usage_of(&bytes).map(|u| Tokens::from(&u)).unwrap_or_default();
            let ended_ms = env.upstream.now_ms();
            // One statement: the log row carries the attempt; its triggers count it per key,
            // client and pure-proxy key.
            let ok = OkAttempt {
                started_ms,
                latency_ms: (ended_ms - started_ms).max(0) as u64,
                tokens,
                proxy_key_hash: (!stored).then(|| proxy_key_hash(&key.secret)),
            };
            log.key_id = key_id;
            log.attempts = attempts.into();
            log.latency_ms = (ended_ms - env.now_ms).max(0);
            log.status = status.into();
            env.writes
                .check(WriteOp::RequestLog, usage::log_request(env.db, &log, Some(&ok)));
            env.logged.set(true);
            Ok(Upstreamed::Whole { status, body: bytes })
        }
        Attempted::ClientFault {
            status,
            body,
            key,
            attempts,
        } => {
            if !stored {
                let recorded = usage::record_proxy_key(
                    env.db,
                    &proxy_key_hash(&key.secret),
                    model,
                    &day,
                    false,
                    Tokens::default(),
                );
                env.writes.check(WriteOp::ProxyKey, recorded);
            }
            if let Some(client) = caller.client_id() {
                let failed = usage::record_client_failure(env.db, client, model, &day, status);
                env.writes.check(WriteOp::ClientFailure, failed);
            }
            note(env, model, attempts, stored.then_some(key.candidate.id));
            log.key_id = stored.then_some(key.candidate.id);
            log.attempts = attempts.into();
            log.status = status.into();
            log.error = ErrorBody::parse(&body).map(|e| e.error.message);
            log.latency_ms = (env.upstream.now_ms() - env.now_ms).max(0);
            env.writes
                .check(WriteOp::RequestLog, usage::log_request(env.db, &log, None));
            env.logged.set(true);
            Ok(Upstreamed::Fault { status, body })
        }
        Attempted::Failed {
            error,
            attempts,
            last_key,
        } => {
            let status = error.status(protocol);
            if let Some(client) = caller.client_id() {
                let failed = usage::record_client_failure(env.db, client, model, &day, status);
                env.writes.check(WriteOp::ClientFailure, failed);
            }
            let reason = match &error {
                GatewayError::RateLimited { .. } => Some(crate::metrics::KEYS_COOLING),
                GatewayError::NoKeys(_) => Some("no_keys"),
                _ => None,
            };
            if let Some(reason) = reason {
                env.writes
                    .check(WriteOp::Refusal, usage::record_refusal(env.db, &day, reason));
            }
            note(env, model, attempts, if stored { last_key } else { None });
            log.key_id = if stored { last_key } else { None };
            log.attempts = attempts.into();
            log.status = status.into();
            log.error = Some(error.to_string());
            log.latency_ms = (env.upstream.now_ms() - env.now_ms).max(0);
            env.writes
                .check(WriteOp::RequestLog, usage::log_request(env.db, &log, None));
            env.logged.set(true);
            Err(error)
        }
    }
}

/// Notes the upstream call's facts for the access log.
fn note<U: Upstream, D: Database>(env: &Env<'_, U, D>, model: &str, attempts: u32, key_id: Option<i64>) {
    *env.access.borrow_mut() = AccessNote {
        model: Some(model.to_owned()),
        attempts,
        key_id,
    };
}

/// A JSON reply with the common headers.
pub fn json_bytes_reply<B>(status: u16, body: Vec<u8>) -> Reply<B> {
    let mut headers = common_headers();
    headers.push(("content-type".into(), "application/json".into()));
    Reply::Full { status, headers, body }
}

/// A serializable value as a JSON reply.
pub fn to_json_reply<B, T: serde::Serialize>(status: u16, value: &T) -> Reply<B> {
    json_bytes_reply(status, serde_json::to_vec(value).unwrap_or_default())
}

/// Records a finished stream: one request-log row carrying the attempt (tokens from the
/// stream's last usage), which its triggers add to the key's, client's and pure-proxy key's
/// counters.
pub fn finish_stream(
    db: &dyn Database,
    accounting: &Accounting,
    usage: Option<UsageMetadata>,
    error: Option<String>,
    now_ms: i64,
) {
    let latency = (now_ms - accounting.started_ms).max(0);
    let ok = OkAttempt {
        started_ms: accounting.started_ms,
        latency_ms: latency as u64,
        tokens: usage.as_ref().map(Tokens::from).unwrap_or_default(),
        proxy_key_hash: accounting.proxy_key_hash.clone(),
    };
    let writes = WriteFailures::default();
    let logged = usage::log_request(
        db,
        &LogEntry {
            at: accounting.started_ms,
            client_id: accounting.client_id,
            key_id: accounting.key_id,
            model: Some(accounting.model.clone()),
            protocol: Some(protocol_name(accounting.protocol).into()),
            status: 200,
            attempts: accounting.attempts.into(),
            latency_ms: latency,
            error,
        },
        Some(&ok),
    );
    writes.check(WriteOp::StreamLog, logged);
    writes.flush(db);
}

/// How a client's own key appears in the statistics: the first 16 hex digits of its SHA-256.
fn proxy_key_hash(secret: &str) -> String {
    auth::sha256_hex(secret)[..16].to_owned()
}

fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Gemini => "gemini",
        Protocol::OpenAi => "openai",
        Protocol::Anthropic => "anthropic",
        Protocol::Admin => "admin",
    }
}

/// The `usageMetadata` of a whole (non-streamed) Gemini response, if any.
fn usage_of(bytes: &[u8]) -> Option<UsageMetadata> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct WithUsage {
        usage_metadata: Option<UsageMetadata>,
    }
    serde_json::from_slice::<WithUsage>(bytes).ok()?.usage_metadata
}
