//! One logical upstream call, with failover across pool keys.
//!
//! [`send_with_failover`] asks the pool for an attempt order, sends the request with one key
//! at a time and classifies each answer: a success is returned with its body still unread (so
//! a stream can be forwarded as it arrives), a fault of the request goes back to the client,
//! and a fault of the key (quota, invalid, suspended) applies its effect to the key and moves
//! on to the next one. Failover happens only before anything reaches the client.
//!
//! Who is blamed for what (DESIGN "Key health"):
//! - nothing that happens before the upstream is reached (a request that could not be built,
//!   an outgoing request the host refused) touches any key;
//! - a 5xx or transport failure is only a *suspicion*: it opens the key's breaker only when
//!   another key then succeeds on the same model in the same request. When every key tried
//!   fails that way, the model (or the upstream) is in trouble, not the keys: the client gets
//!   503 with `Retry-After` (504 for timeouts, 502 when nothing could be reached) and every
//!   key stays as it was.
//!
//! Every text that came from the upstream and leaves this module (a fault body for the
//! client, an error message, a disabled reason) is scrubbed of every key secret loaded for
//! the request ([`Secrets`]).
//!
//! The transport is the [`Upstream`] trait: wasi-http in the component, a scripted fake in
//! native tests.

use crate::error::GatewayError;
use crate::pool::{self, ClassifyContext, KeyEffect, Outcome, PoolSettings};
use crate::secrets::Secrets;
use crate::store::failures::{WriteFailures, WriteOp};
use crate::store::keys::{self, PoolKey};
use crate::store::usage::{self, AdaptiveSample, AttemptOutcome, SuccessHealth, Tokens};
use crate::store::Database;

/// Gemini's production origin.
pub const DEFAULT_UPSTREAM_URL: &str = "https://generativelanguage.googleapis.com";
/// Error bodies larger than this are cut when read for classification.
pub const ERROR_BODY_LIMIT: usize = 64 * 1024;
/// The largest whole (non-streamed) upstream answer gempool reads; a larger one is a 502
/// rather than an instance that runs out of memory (hosts give an instance 128 MiB or so).
pub const MAX_WHOLE_BODY_BYTES: usize = 32 * 1024 * 1024;

/// What to send; the key is added per attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamRequest {
    /// The HTTP method.
    pub method: String,
    /// Path and query as Gemini expects them, e.g. `/v1beta/models/m:generateContent`.
    pub path_and_query: String,
    /// The JSON body, when there is one.
    pub body: Option<Vec<u8>>,
    /// Extra headers to forward (never credentials).
    pub headers: Vec<(String, String)>,
    /// The answer is a stream: its first bytes come sooner, so its first-byte timeout is
    /// shorter ([`Timeouts::for_request`]).
    pub stream: bool,
}

impl UpstreamRequest {
    /// A `GET` without a body.
    pub fn get(path_and_query: String) -> Self {
        Self {
            method: "GET".into(),
            path_and_query,
            body: None,
            headers: vec![],
            stream: false,
        }
    }

    /// A JSON `POST`.
    pub fn post_json(path_and_query: String, body: Vec<u8>) -> Self {
        Self {
            method: "POST".into(),
            path_and_query,
            body: Some(body),
            headers: vec![("content-type".into(), "application/json".into())],
            stream: false,
        }
    }

    /// One page of a Google list (`models`, `files`, ...): `page_size` items after `token`,
    /// the upstream's own page token, percent-encoded into the query.
    pub fn list_page(version: &str, collection: &str, page_size: usize, token: Option<&str>) -> Self {
        let mut path = format!("/{version}/{collection}?pageSize={page_size}");
        if let Some(token) = token {
            path.push_str("&pageToken=");
            path.extend(percent_encoding::utf8_percent_encode(
                token,
                percent_encoding::NON_ALPHANUMERIC,
            ));
        }
        Self::get(path)
    }
}

/// The upstream timeouts in force, from the pool settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Connecting (TCP and TLS), in ms.
    pub connect_ms: u64,
    /// From the request sent to the response head, in ms.
    pub first_byte_ms: u64,
    /// Between two chunks of the body, in ms.
    pub between_bytes_ms: u64,
}

impl Timeouts {
    /// The timeouts for one request: streams and whole answers have their own first-byte
    /// timeout.
    pub fn for_request(settings: &PoolSettings, stream: bool) -> Self {
        Timeouts {
            connect_ms: settings.upstream_connect_timeout_ms,
            first_byte_ms: if stream {
                settings.upstream_stream_first_byte_timeout_ms
            } else {
                settings.upstream_first_byte_timeout_ms
            },
            between_bytes_ms: settings.upstream_between_bytes_timeout_ms,
        }
    }
}

/// An upstream answer whose body has not been read yet.
pub struct UpstreamResponse<B> {
    /// The HTTP status.
    pub status: u16,
    /// The response headers.
    pub headers: Vec<(String, String)>,
    /// The body, not read yet.
    pub body: B,
}

/// Why an upstream call produced no HTTP answer (or no whole body). Messages are meant for
/// people: the component builds them from the WASI error code, never from debug output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// Nothing reached the upstream: the request could not be built, or the host refused to
    /// send it. Not the key's fault, and another key would fare no better.
    #[error("the request could not be sent upstream: {0}")]
    NotSent(String),
    /// No connection could be made (DNS, refused, TLS).
    #[error("could not connect to the upstream: {0}")]
    Connect(String),
    /// No answer, or a stalled one, within the configured time.
    #[error("the upstream did not answer in time: {0}")]
    Timeout(String),
    /// The connection broke or the upstream spoke broken HTTP.
    #[error("the upstream connection failed: {0}")]
    Broken(String),
    /// The answer was larger than gempool reads whole.
    #[error("the upstream answer is larger than {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
}

/// The transport to Gemini.
#[allow(async_fn_in_trait)] // used only with concrete types inside one component
pub trait Upstream {
    /// A response body that can be read later (whole or as a stream).
    type Body;
    /// A request body the client is still sending (upload bytes), passed on as it arrives.
    type ClientBody;
    /// Sends `req` authenticated with `key`.
    async fn send(&self, req: &UpstreamRequest, key: &str) -> Result<UpstreamResponse<Self::Body>, TransportError>;
    /// Sends `req` with `key` and the client's still-unread body as its body (`req.body` is
    /// ignored); `length` is the body's declared length. Sent once: it cannot be retried.
    async fn send_streamed(
        &self,
        req: &UpstreamRequest,
        key: &str,
        body: Self::ClientBody,
        length: Option<u64>,
    ) -> Result<UpstreamResponse<Self::Body>, TransportError>;
    /// Reads a whole body. More than `limit` bytes: with `truncate` the first `limit` bytes,
    /// else [`TransportError::TooLarge`] (the rest is not read).
    async fn read_to_end(&self, body: Self::Body, limit: usize, truncate: bool) -> Result<Vec<u8>, TransportError>;
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The body of a successful answer.
pub enum Delivered<B> {
    /// A stream, not read yet.
    Unread(B),
    /// A whole answer, read in full.
    Whole(Vec<u8>),
}

/// How a failover ended.
pub enum Attempted<B> {
    /// A 2xx from `key`: a stream's body unread, a whole answer's read.
    Success {
        /// The answer, its body a stream or read whole.
        response: UpstreamResponse<Delivered<B>>,
        /// The key that answered.
        key: PoolKey,
        /// Attempts made, this one included.
        attempts: u32,
        /// When the first attempt started (Unix ms).
        started_ms: i64,
        /// What the success teaches the pool about `key`, for the request-log row to write.
        health: SuccessHealth,
    },
    /// The upstream blamed the request (4xx not about the key): give this to the client.
    /// The body is scrubbed of every key secret.
    ClientFault {
        /// The upstream status, a 4xx.
        status: u16,
        /// The upstream body, key secrets scrubbed.
        body: Vec<u8>,
        /// The key that got the fault.
        key: PoolKey,
        /// Attempts made, this one included.
        attempts: u32,
    },
    /// No attempt succeeded, or none could be made.
    Failed {
        /// The error for the client.
        error: GatewayError,
        /// Attempts made.
        attempts: u32,
        /// The last key tried, if any.
        last_key: Option<i64>,
    },
}

/// Where the pool comes from for this request.
pub enum KeySource {
    /// The stored pool (the normal case).
    Stored,
    /// Keys the client sent itself (pure-proxy mode): nothing about them is stored.
    Client(Vec<String>),
}

/// A request bound to the key holding a resource it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinned {
    /// The stored key's id.
    pub key_id: i64,
    /// The resource, for the error when the key cannot be used (`files/abc`).
    pub resource: String,
}

/// The error when a pinned key cannot be used now: disabled or removed (absent from the
/// candidates), cooling down, or with its circuit open.
pub(crate) fn holder_unavailable(pinned: &Pinned, key: Option<&pool::KeyCandidate>, now: i64) -> GatewayError {
    let resource = &pinned.resource;
    match key {
        None => GatewayError::HolderUnavailable {
            message: format!(
                "{resource} is held by a pool key that is disabled or was removed, and no other key can see it; \
                 it can be used again once an administrator enables that key"
            ),
            retry_after_secs: None,
        },
        Some(key) => {
            let until = key
                .cooldown_until_ms
                .filter(|until| *until > now)
                .or(key.breaker.open_until_ms.filter(|until| *until > now))
                .unwrap_or(now + 1000);
            let secs = ((until - now) as u64).div_ceil(1000).max(1);
            GatewayError::HolderUnavailable {
                message: format!(
                    "{resource} is held by a pool key that is cooling down for this model, and no other key can see it; retry in {secs} s"
                ),
                retry_after_secs: Some(secs),
            }
        }
    }
}

/// Facts the loop needs besides the request.
pub struct FailoverContext<'a> {
    /// The pool settings (strategy, retry limits, timeouts).
    pub settings: &'a PoolSettings,
    /// The model the request is for (cooldowns and usage are per model).
    pub model: &'a str,
    /// Random bits for the `random`/`weighted` strategies.
    pub seed: u64,
    /// The stored pool, or the client's own keys.
    pub keys: KeySource,
    /// The host's SQL has `gempool_next_ticket()` ([`crate::handler::SQL_TICKET_VARIABLE`]).
    pub host_ticket: bool,
    /// Where the loop's bookkeeping writes that fail are counted.
    pub writes: &'a WriteFailures,
    /// The one stored key the request must go to: it names a resource that key's project
    /// holds. No other key is tried.
    pub pinned: Option<Pinned>,
}

/// One failed attempt, as the final error needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Failure {
    /// A 429: the key (or its project) is cooling down.
    Quota(String),
    /// The key was refused (invalid, suspended, …).
    KeyRefused(String),
    /// The upstream answered 5xx.
    Server { status: u16, message: String },
    /// No HTTP answer.
    Transport(TransportError),
}

/// Sends `req` with failover; records every attempt's outcome in `db`.
pub async fn send_with_failover<U: Upstream>(
    upstream: &U,
    db: &dyn Database,
    req: &UpstreamRequest,
    ctx: &FailoverContext<'_>,
) -> Attempted<U::Body> {
    let now = upstream.now_ms();
    let day = pool::clock::utc_day(now);
    let stored = matches!(ctx.keys, KeySource::Stored);
    let mut keys = match &ctx.keys {
        KeySource::Stored => match keys::candidates(db, ctx.model, &day) {
            Ok(keys) => keys,
            Err(e) => {
                return Attempted::Failed {
                    error: GatewayError::from(e),
                    attempts: 0,
                    last_key: None,
                }
            }
        },
        KeySource::Client(secrets) => client_supplied_keys(secrets),
    };
    if keys.is_empty() {
        let message = if stored {
            "no upstream Gemini keys are configured or enabled; add keys through the admin API"
        } else {
            "no Gemini keys were supplied"
        };
        return Attempted::Failed {
            error: GatewayError::NoKeys(message.into()),
            attempts: 0,
            last_key: None,
        };
    }
    if let (Some(pinned), true) = (&ctx.pinned, stored) {
        keys.retain(|k| k.candidate.id == pinned.key_id);
        match keys.first() {
            Some(key) if pool::usable(&key.candidate, now) => {}
            held => {
                return Attempted::Failed {
                    error: holder_unavailable(pinned, held.map(|k| &k.candidate), now),
                    attempts: 0,
                    last_key: None,
                }
            }
        }
    }
    let secrets = Secrets::new(keys.iter().map(|k| k.secret.clone()));
    // A pinned request has one key: no ticket to take.
    let ticket = if stored && ctx.pinned.is_none() && uses_ticket(ctx.settings.strategy) {
        ctx.writes
            .check(WriteOp::Ticket, keys::next_round_robin_ticket(db, ctx.host_ticket))
            .unwrap_or(ctx.seed)
    } else {
        ctx.seed
    };
    let candidates: Vec<_> = keys.iter().map(|k| k.candidate.clone()).collect();
    let order = pool::attempt_order(ctx.settings.strategy, &candidates, now, ticket, ctx.seed);
    if order.is_empty() {
        return Attempted::Failed {
            error: exhausted_error(&candidates, now, &[], ctx),
            attempts: 0,
            last_key: None,
        };
    }

    let mut attempts = 0;
    let mut failures: Vec<Failure> = Vec::new();
    // Keys that answered 5xx or not at all: blamed only if another key then succeeds.
    let mut suspects: Vec<(i64, KeyEffect)> = Vec::new();
    let mut last_key = None;
    let max_attempts = ctx.settings.max_attempts.max(1);
    for id in order {
        if attempts >= max_attempts {
            break;
        }
        let Some(index) = keys.iter().position(|k| k.candidate.id == id) else {
            continue;
        };
        // An earlier attempt may have cooled this key too (a project-wide daily quota).
        if !pool::usable(&keys[index].candidate, upstream.now_ms()) {
            continue;
        }
        // A half-open key is probed by one request at a time.
        let probing = pool::breaker::phase(&keys[index].candidate.breaker, now) == pool::BreakerPhase::HalfOpen;
        if stored && probing {
            let reopen_at = now + (ctx.settings.breaker_open_secs as i64) * 1000;
            let claimed = ctx
                .writes
                .check(WriteOp::ProbeClaim, keys::claim_probe(db, id, now, reopen_at));
            if !claimed.unwrap_or(false) {
                continue;
            }
        }
        attempts += 1;
        last_key = Some(id);
        let started = upstream.now_ms();
        let key = &keys[index];
        let classify_ctx = ClassifyContext {
            now_ms: started,
            settings: ctx.settings,
            previous_strikes: key.strikes,
        };
        let latency = || (upstream.now_ms() - started).max(0) as u64;
        let (outcome, failure) = match upstream.send(req, &key.secret).await {
            Err(TransportError::NotSent(message)) => {
                // Our side could not send it: no key is at fault, and no other key would help.
                return Attempted::Failed {
                    error: GatewayError::Upstream {
                        status: 502,
                        message: secrets
                            .scrub(&TransportError::NotSent(message).to_string())
                            .into_owned(),
                    },
                    attempts,
                    last_key: None,
                };
            }
            Err(error) => {
                let error = scrub_transport(&secrets, error);
                (
                    pool::classify_network_error(&error.to_string()),
                    Failure::Transport(error),
                )
            }
            Ok(response) if (200..300).contains(&response.status) => {
                let UpstreamResponse { status, headers, body } = response;
                // A whole answer is read here, while another key can still be tried if the
                // body breaks off; a stream goes to the client as it comes.
                let delivered = if req.stream {
                    Ok(Delivered::Unread(body))
                } else {
                    upstream
                        .read_to_end(body, MAX_WHOLE_BODY_BYTES, false)
                        .await
                        .map(Delivered::Whole)
                };
                match delivered {
                    Ok(body) => {
                        if stored {
                            blame_suspects(db, &keys, &suspects, ctx, started);
                        }
                        let key = keys.swap_remove(index);
                        // The adaptive sample and a cleared cooldown ride in the request-log
                        // row (one write); a half-open breaker closes now, so the key is back
                        // for other requests before a long stream ends.
                        let health = if stored {
                            ctx.writes
                                .check(WriteOp::KeySuccess, keys::close_breaker(db, &key.candidate));
                            SuccessHealth {
                                adaptive: (ctx.settings.strategy == pool::Strategy::Adaptive)
                                    .then(|| AdaptiveSample::new(ctx.settings.adaptive_window, latency())),
                                clears_cooldown: key.strikes > 0 || key.candidate.cooldown_until_ms.is_some(),
                            }
                        } else {
                            SuccessHealth::default()
                        };
                        return Attempted::Success {
                            response: UpstreamResponse { status, headers, body },
                            key,
                            attempts,
                            started_ms: started,
                            health,
                        };
                    }
                    Err(error) => {
                        let error = scrub_transport(&secrets, error);
                        (
                            pool::classify_network_error(&error.to_string()),
                            Failure::Transport(error),
                        )
                    }
                }
            }
            Ok(response) => {
                let status = response.status;
                let body = upstream
                    .read_to_end(response.body, ERROR_BODY_LIMIT, true)
                    .await
                    .unwrap_or_default();
                let body = secrets.scrub_bytes(&body).unwrap_or(body);
                let outcome = pool::classify(status, &body, &classify_ctx);
                if let Outcome::ClientFault = outcome {
                    let key = keys.swap_remove(index);
                    if stored {
                        let recorded = usage::record_key_attempt(
                            db,
                            id,
                            ctx.model,
                            started,
                            AttemptOutcome::Error,
                            Tokens::default(),
                            latency(),
                        );
                        ctx.writes.check(WriteOp::KeyAttempt, recorded);
                    }
                    return Attempted::ClientFault {
                        status,
                        body,
                        key,
                        attempts,
                    };
                }
                let message = crate::protocol::gemini::ErrorBody::parse(&body)
                    .map(|e| e.error.message)
                    .unwrap_or_else(|| format!("upstream answered {status}"));
                let failure = match &outcome {
                    Outcome::RetryElsewhere(KeyEffect::Cooldown { .. }) => Failure::Quota(message),
                    Outcome::RetryElsewhere(KeyEffect::Disable { .. }) => Failure::KeyRefused(message),
                    _ => Failure::Server { status, message },
                };
                (outcome, failure)
            }
        };
        let Outcome::RetryElsewhere(effect) = outcome else {
            continue;
        };
        let effect = scrub_effect(&secrets, effect);
        if stored {
            let kind = match &failure {
                Failure::Quota(_) => AttemptOutcome::RateLimited,
                Failure::KeyRefused(_) => AttemptOutcome::Invalid,
                Failure::Server { .. } => AttemptOutcome::Overloaded,
                Failure::Transport(TransportError::Timeout(_)) => AttemptOutcome::Timeout,
                Failure::Transport(_) => AttemptOutcome::Error,
            };
            let recorded = usage::record_key_attempt(db, id, ctx.model, started, kind, Tokens::default(), latency());
            ctx.writes.check(WriteOp::KeyAttempt, recorded);
        }
        if let KeyEffect::BreakerFailure { .. } = effect {
            suspects.push((id, effect));
        } else {
            if stored {
                let applied = keys::apply_effect(db, &keys[index], ctx.model, &effect, ctx.settings, started);
                ctx.writes.check(WriteOp::KeyEffect, applied);
                if ctx.settings.strategy == pool::Strategy::Adaptive {
                    let recorded = keys::record_adaptive_failure(
                        db,
                        id,
                        AdaptiveSample::new(ctx.settings.adaptive_window, latency()),
                    );
                    ctx.writes.check(WriteOp::RecentOutcome, recorded);
                }
            }
            apply_in_memory(&mut keys, index, &effect);
        }
        failures.push(failure);
    }
    let candidates: Vec<_> = keys.iter().map(|k| k.candidate.clone()).collect();
    Attempted::Failed {
        error: exhausted_error(&candidates, upstream.now_ms(), &failures, ctx),
        attempts,
        last_key,
    }
}

/// Another key succeeded where these failed with 5xx / no answer: now they are to blame.
fn blame_suspects(
    db: &dyn Database,
    keys: &[PoolKey],
    suspects: &[(i64, KeyEffect)],
    ctx: &FailoverContext<'_>,
    now: i64,
) {
    for (id, effect) in suspects {
        if let Some(key) = keys.iter().find(|k| k.candidate.id == *id) {
            let applied = keys::apply_effect(db, key, ctx.model, effect, ctx.settings, now);
            ctx.writes.check(WriteOp::KeyEffect, applied);
            if ctx.settings.strategy == pool::Strategy::Adaptive {
                let recorded =
                    keys::record_adaptive_failure(db, *id, AdaptiveSample::new(ctx.settings.adaptive_window, 0));
                ctx.writes.check(WriteOp::RecentOutcome, recorded);
            }
        }
    }
}

fn scrub_transport(secrets: &Secrets, error: TransportError) -> TransportError {
    let clean = |m: String| secrets.scrub(&m).into_owned();
    match error {
        TransportError::NotSent(m) => TransportError::NotSent(clean(m)),
        TransportError::Connect(m) => TransportError::Connect(clean(m)),
        TransportError::Timeout(m) => TransportError::Timeout(clean(m)),
        TransportError::Broken(m) => TransportError::Broken(clean(m)),
        TransportError::TooLarge { limit } => TransportError::TooLarge { limit },
    }
}

/// An effect whose reason (stored, shown in the admin API) carries no secret.
fn scrub_effect(secrets: &Secrets, effect: KeyEffect) -> KeyEffect {
    let clean = |reason: String| secrets.scrub(&reason).into_owned();
    match effect {
        KeyEffect::Cooldown {
            until_ms,
            scope,
            reason,
            strikes,
        } => KeyEffect::Cooldown {
            until_ms,
            scope,
            reason: clean(reason),
            strikes,
        },
        KeyEffect::Disable { reason } => KeyEffect::Disable { reason: clean(reason) },
        KeyEffect::BreakerFailure { reason } => KeyEffect::BreakerFailure { reason: clean(reason) },
    }
}

fn uses_ticket(strategy: pool::Strategy) -> bool {
    matches!(strategy, pool::Strategy::RoundRobin | pool::Strategy::LeastUsed)
}

/// Pure-proxy keys: usable, unnamed, with no history.
fn client_supplied_keys(secrets: &[String]) -> Vec<PoolKey> {
    secrets
        .iter()
        .enumerate()
        .map(|(i, secret)| PoolKey {
            secret: secret.clone(),
            strikes: 0,
            candidate: pool::KeyCandidate {
                id: -(i as i64) - 1,
                enabled: true,
                weight: 1,
                project: None,
                cooldown_until_ms: None,
                breaker: pool::BreakerState {
                    consecutive_failures: 0,
                    open_until_ms: None,
                },
                requests_today: 0,
                recent_success_rate: 1.0,
                recent_latency_ms: 0.0,
                recent_samples: 0,
            },
        })
        .collect()
}

/// Mirrors a cooldown or a disable on the in-memory candidates, so the rest of the request
/// skips them and the final "retry after" is accurate.
fn apply_in_memory(keys: &mut [PoolKey], index: usize, effect: &KeyEffect) {
    match effect {
        KeyEffect::Cooldown { until_ms, scope, .. } => {
            let project = keys[index].candidate.project.clone();
            for (i, key) in keys.iter_mut().enumerate() {
                let same_project = matches!(scope, pool::CooldownScope::Project)
                    && project.is_some()
                    && key.candidate.project == project;
                if i == index || same_project {
                    let c = &mut key.candidate;
                    c.cooldown_until_ms = Some(c.cooldown_until_ms.map_or(*until_ms, |u| u.max(*until_ms)));
                }
            }
        }
        KeyEffect::Disable { .. } => keys[index].candidate.enabled = false,
        KeyEffect::BreakerFailure { .. } => {}
    }
}

/// The error for "nothing worked".
///
/// - Any 5xx or transport failure among the attempts: the model or the upstream is in
///   trouble: 503 with `Retry-After` for 5xx and dropped connections, 504 when every failure
///   was a timeout, 502 when nothing could be reached (or the answer was too large).
/// - Keys refused by the upstream: 502 naming the upstream's reason.
/// - Otherwise (quota, or nothing could be tried): 429 with the soonest recovery, or "every
///   key is disabled".
fn exhausted_error(
    candidates: &[pool::KeyCandidate],
    now: i64,
    failures: &[Failure],
    ctx: &FailoverContext<'_>,
) -> GatewayError {
    let model = ctx.model;
    let server = failures.iter().rev().find_map(|f| match f {
        Failure::Server { status, message } => Some((*status, message)),
        _ => None,
    });
    if let Some((status, message)) = server {
        let count = failures.iter().filter(|f| matches!(f, Failure::Server { .. })).count();
        return GatewayError::Overloaded {
            message: format!(
                "the model {model} is unavailable upstream ({status} on {count} key{}): {message}; retry later",
                if count == 1 { "" } else { "s" }
            ),
            retry_after_secs: ctx.settings.overload_retry_after_secs,
        };
    }
    let transports: Vec<&TransportError> = failures
        .iter()
        .filter_map(|f| match f {
            Failure::Transport(e) => Some(e),
            _ => None,
        })
        .collect();
    if let Some(last) = transports.last() {
        if transports.iter().all(|e| matches!(e, TransportError::Timeout(_))) {
            return GatewayError::Timeout(last.to_string());
        }
        // Connections that were made and then dropped: the upstream is struggling.
        if let Some(broken) = transports.iter().rev().find(|e| matches!(e, TransportError::Broken(_))) {
            return GatewayError::Overloaded {
                message: format!("the upstream is unavailable for the model {model}: {broken}; retry later"),
                retry_after_secs: ctx.settings.overload_retry_after_secs,
            };
        }
        return GatewayError::Upstream {
            status: 502,
            message: last.to_string(),
        };
    }
    if let Some(message) = failures.iter().rev().find_map(|f| match f {
        Failure::KeyRefused(m) => Some(m),
        _ => None,
    }) {
        if pool::soonest_recovery_ms(candidates, now).is_none() {
            return GatewayError::Upstream {
                status: 502,
                message: format!("the upstream rejected the pool's keys: {message}"),
            };
        }
    }
    let last_quota = failures.iter().rev().find_map(|f| match f {
        Failure::Quota(m) => Some(m),
        _ => None,
    });
    match pool::soonest_recovery_ms(candidates, now) {
        Some(at) => {
            let retry_after_secs = ((at - now).max(0) as u64).div_ceil(1000).max(1);
            let message = match last_quota {
                Some(upstream) => format!(
                    "every upstream key is rate limited for this model; retry in {retry_after_secs}s (upstream: {upstream})"
                ),
                None => format!("every upstream key is cooling down for this model; retry in {retry_after_secs}s"),
            };
            GatewayError::RateLimited {
                message,
                retry_after_secs,
            }
        }
        None => GatewayError::NoKeys("every upstream key is disabled; see the admin API for reasons".into()),
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A scripted [`Upstream`] for native tests: answers per key from a script.
    use super::*;
    use std::cell::RefCell;
    use std::collections::{HashMap, VecDeque};

    /// The clock of every scripted upstream (2025-11-22, UTC).
    pub const NOW: i64 = 1_763_800_000_000;
    /// A body whose reading breaks off.
    pub const BROKEN_BODY: &str = "<the body breaks off here>";

    /// One scripted answer: a status and body, or a transport error.
    pub type Answer = Result<(u16, String), TransportError>;

    /// Answers per key from a script; records which keys were used.
    #[derive(Default)]
    pub struct FakeUpstream {
        pub script: RefCell<HashMap<String, VecDeque<Answer>>>,
        pub used: RefCell<Vec<String>>,
        /// The path and query of each request sent.
        pub paths: RefCell<Vec<String>>,
        /// The streamed bodies sent ([`Upstream::send_streamed`]).
        pub bodies: RefCell<Vec<Vec<u8>>>,
        /// Headers each answer carries.
        pub answer_headers: RefCell<Vec<(String, String)>>,
    }

    impl FakeUpstream {
        pub fn answer(self, key: &str, answers: Vec<Result<(u16, &str), TransportError>>) -> Self {
            self.script.borrow_mut().insert(
                key.into(),
                answers.into_iter().map(|a| a.map(|(s, b)| (s, b.to_owned()))).collect(),
            );
            self
        }
    }

    impl Upstream for FakeUpstream {
        type Body = Vec<u8>;
        type ClientBody = Vec<u8>;
        async fn send_streamed(
            &self,
            req: &UpstreamRequest,
            key: &str,
            body: Vec<u8>,
            _length: Option<u64>,
        ) -> Result<UpstreamResponse<Vec<u8>>, TransportError> {
            self.bodies.borrow_mut().push(body);
            self.send(req, key).await
        }
        async fn send(&self, req: &UpstreamRequest, key: &str) -> Result<UpstreamResponse<Vec<u8>>, TransportError> {
            self.used.borrow_mut().push(key.to_owned());
            self.paths.borrow_mut().push(req.path_and_query.clone());
            let answer = self.script.borrow_mut().get_mut(key).and_then(VecDeque::pop_front);
            let (status, body) = answer.unwrap_or(Ok((200, "{}".into())))?;
            Ok(UpstreamResponse {
                status,
                headers: self.answer_headers.borrow().clone(),
                body: body.into_bytes(),
            })
        }
        async fn read_to_end(&self, body: Vec<u8>, limit: usize, truncate: bool) -> Result<Vec<u8>, TransportError> {
            if body == BROKEN_BODY.as_bytes() {
                return Err(TransportError::Broken("the answer was cut short".into()));
            }
            match body.len() > limit {
                true if truncate => Ok(body[..limit].to_vec()),
                true => Err(TransportError::TooLarge { limit }),
                false => Ok(body),
            }
        }
        fn now_ms(&self) -> i64 {
            NOW
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::MemoryDb;
    use testing::{FakeUpstream, BROKEN_BODY, NOW};

    const PER_MINUTE: &str = r#"{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[
        {"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},
        {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"20s"}]}}"#;
    const PER_DAY: &str = r#"{"error":{"code":429,"message":"daily","status":"RESOURCE_EXHAUSTED","details":[
        {"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]},
        {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"3s"}]}}"#;

    fn db_with(keys: &[(&str, Option<&str>)]) -> MemoryDb {
        let db = MemoryDb::new();
        for (secret, project) in keys {
            keys::add(&db, secret, None, *project, None, NOW).unwrap();
        }
        db
    }

    /// The next round-robin ticket will be 0: the first key is tried first.
    fn start_at_first_key(db: &MemoryDb) {
        db.execute("UPDATE counters SET value = -1 WHERE name = 'round_robin'", &[])
            .unwrap();
    }

    fn run(up: &FakeUpstream, db: &MemoryDb, settings: &PoolSettings) -> Attempted<Vec<u8>> {
        let req = UpstreamRequest {
            method: "POST".into(),
            path_and_query: "/x".into(),
            body: None,
            headers: vec![],
            stream: false,
        };
        let ctx = FailoverContext {
            settings,
            model: "m",
            seed: 7,
            keys: KeySource::Stored,
            host_ticket: false,
            writes: &WriteFailures::default(),
            pinned: None,
        };
        futures::executor::block_on(send_with_failover(up, db, &req, &ctx))
    }

    #[test]
    fn a_rate_limited_key_fails_over_and_cools_down() {
        let db = db_with(&[("a", None), ("b", None)]);
        let up = FakeUpstream::default()
            .answer("a", vec![Ok((429, PER_MINUTE))])
            .answer("b", vec![]);
        let settings = PoolSettings::default();
        start_at_first_key(&db);
        let Attempted::Success { key, attempts, .. } = run(&up, &db, &settings) else {
            panic!("expected success")
        };
        assert_eq!((key.secret.as_str(), attempts), ("b", 2));
        let a = &keys::candidates(&db, "m", "2025-11-22").unwrap()[0];
        assert_eq!(a.candidate.cooldown_until_ms, Some(NOW + 20_000));
        assert_eq!(a.strikes, 1);
    }

    #[test]
    fn all_keys_cooling_is_a_rate_limit_with_the_soonest_recovery() {
        let db = db_with(&[("a", None), ("b", None)]);
        let up = FakeUpstream::default()
            .answer("a", vec![Ok((429, PER_MINUTE))])
            .answer("b", vec![Ok((429, PER_MINUTE))]);
        let Attempted::Failed { error, attempts, .. } = run(&up, &db, &PoolSettings::default()) else {
            panic!()
        };
        assert_eq!(attempts, 2);
        assert!(
            matches!(
                error,
                GatewayError::RateLimited {
                    retry_after_secs: 20,
                    ..
                }
            ),
            "{error:?}"
        );
        // Nothing is tried while both cool down.
        let again = run(&up, &db, &PoolSettings::default());
        assert!(matches!(
            again,
            Attempted::Failed {
                attempts: 0,
                error: GatewayError::RateLimited { .. },
                ..
            }
        ));
        assert_eq!(up.used.borrow().len(), 2);
    }

    #[test]
    fn a_daily_quota_skips_the_rest_of_the_project_in_the_same_request() {
        let db = db_with(&[("p1", Some("proj")), ("p2", Some("proj")), ("solo", None)]);
        start_at_first_key(&db);
        let up = FakeUpstream::default().answer("p1", vec![Ok((429, PER_DAY))]);
        let Attempted::Success { key, .. } = run(&up, &db, &PoolSettings::default()) else {
            panic!()
        };
        assert_eq!(key.secret, "solo");
        assert_eq!(*up.used.borrow(), vec!["p1".to_string(), "solo".to_string()]);
        let cands = keys::candidates(&db, "m", "2025-11-22").unwrap();
        let midnight = crate::pool::clock::next_pacific_midnight_ms(NOW);
        assert_eq!(cands[0].candidate.cooldown_until_ms, Some(midnight));
        assert_eq!(
            cands[1].candidate.cooldown_until_ms,
            Some(midnight),
            "the sibling shares the project quota"
        );
        assert_eq!(cands[2].candidate.cooldown_until_ms, None);
    }

    #[test]
    fn a_request_fault_goes_back_to_the_client_and_leaves_the_key_alone() {
        let db = db_with(&[("a", None), ("b", None)]);
        let bad = r#"{"error":{"code":400,"message":"Invalid JSON payload","status":"INVALID_ARGUMENT"}}"#;
        let up = FakeUpstream::default()
            .answer("a", vec![Ok((400, bad))])
            .answer("b", vec![Ok((400, bad))]);
        let Attempted::ClientFault { status, attempts, .. } = run(&up, &db, &PoolSettings::default()) else {
            panic!()
        };
        assert_eq!((status, attempts), (400, 1));
        assert!(keys::candidates(&db, "m", "d")
            .unwrap()
            .iter()
            .all(|k| k.candidate.cooldown_until_ms.is_none()));
    }

    #[test]
    fn an_invalid_key_is_disabled_and_network_errors_count_toward_the_breaker() {
        let db = db_with(&[("a", None), ("b", None), ("c", None)]);
        start_at_first_key(&db);
        let invalid = r#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT",
            "details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}"#;
        let up = FakeUpstream::default()
            .answer("a", vec![Ok((400, invalid))])
            .answer("b", vec![Err(TransportError::Connect("connection refused".into()))]);
        let Attempted::Success { key, attempts, .. } = run(&up, &db, &PoolSettings::default()) else {
            panic!()
        };
        assert_eq!((key.secret.as_str(), attempts), ("c", 3));
        let listed = keys::list(&db, NOW).unwrap();
        assert!(!listed[0].enabled);
        assert!(listed[0]
            .disabled_reason
            .as_deref()
            .unwrap()
            .contains("API key not valid"));
        assert_eq!(listed[1].consecutive_failures, 1);
    }

    #[test]
    fn timeouts_end_as_504_and_refusals_as_502() {
        let db = db_with(&[("a", None)]);
        let up = FakeUpstream::default().answer("a", vec![Err(TransportError::Timeout("no answer in 1s".into()))]);
        let Attempted::Failed { error, .. } = run(&up, &db, &PoolSettings::default()) else {
            panic!()
        };
        assert_eq!(error.status(crate::protocol::Protocol::OpenAi), 504, "{error:?}");
        let db = db_with(&[("a", None)]);
        let up = FakeUpstream::default().answer("a", vec![Err(TransportError::Connect("refused".into()))]);
        let Attempted::Failed { error, .. } = run(&up, &db, &PoolSettings::default()) else {
            panic!()
        };
        assert_eq!(error.status(crate::protocol::Protocol::OpenAi), 502, "{error:?}");
    }

    #[test]
    fn no_keys_at_all_is_said_plainly() {
        let db = db_with(&[]);
        let Attempted::Failed { error, .. } = run(&FakeUpstream::default(), &db, &PoolSettings::default()) else {
            panic!()
        };
        assert!(matches!(error, GatewayError::NoKeys(_)));
    }

    #[test]
    fn attempts_stop_at_the_configured_maximum() {
        let db = db_with(&[("a", None), ("b", None), ("c", None)]);
        let boom = r#"{"error":{"code":500,"message":"Internal error encountered.","status":"INTERNAL"}}"#;
        let up = FakeUpstream::default()
            .answer("a", vec![Ok((500, boom))])
            .answer("b", vec![Ok((500, boom))])
            .answer("c", vec![Ok((500, boom))]);
        let settings = PoolSettings {
            max_attempts: 2,
            ..PoolSettings::default()
        };
        let Attempted::Failed { error, attempts, .. } = run(&up, &db, &settings) else {
            panic!()
        };
        assert_eq!(attempts, 2);
        assert!(matches!(error, GatewayError::Overloaded { .. }), "{error:?}");
    }

    fn breaker_failures(db: &MemoryDb) -> Vec<i64> {
        keys::list(db, NOW)
            .unwrap()
            .iter()
            .map(|k| k.consecutive_failures)
            .collect()
    }

    /// A 200 whose body breaks off while it is read.

    #[test]
    fn a_whole_answer_that_breaks_off_fails_over_to_another_key() {
        let db = db_with(&[("a", None), ("b", None)]);
        start_at_first_key(&db);
        let up = FakeUpstream::default().answer("a", vec![Ok((200, BROKEN_BODY))]);
        let Attempted::Success { key, response, .. } = run(&up, &db, &PoolSettings::default()) else {
            panic!("expected the second key to answer")
        };
        assert_eq!(key.secret, "b");
        assert!(matches!(response.body, Delivered::Whole(ref bytes) if bytes == b"{}"));
        assert_eq!(
            breaker_failures(&db),
            vec![1, 0],
            "a key whose answer broke off is blamed"
        );
    }

    #[test]
    fn connections_dropped_on_every_key_are_a_503() {
        let db = db_with(&[("a", None), ("b", None)]);
        let up = FakeUpstream::default()
            .answer("a", vec![Ok((200, BROKEN_BODY))])
            .answer("b", vec![Err(TransportError::Broken("reset".into()))]);
        let Attempted::Failed { error, .. } = run(&up, &db, &PoolSettings::default()) else {
            panic!()
        };
        assert!(matches!(error, GatewayError::Overloaded { .. }), "{error:?}");
        assert_eq!(breaker_failures(&db), vec![0, 0]);
    }

    const OVERLOADED: &str =
        r#"{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}"#;

    #[test]
    fn a_model_overloaded_on_every_key_is_503_and_blames_no_key() {
        let db = db_with(&[("a", None), ("b", None), ("c", None)]);
        let up = FakeUpstream::default()
            .answer("a", vec![Ok((503, OVERLOADED)); 5])
            .answer("b", vec![Ok((503, OVERLOADED)); 5])
            .answer("c", vec![Ok((503, OVERLOADED)); 5]);
        let settings = PoolSettings::default();
        for _ in 0..5 {
            let Attempted::Failed { error, attempts, .. } = run(&up, &db, &settings) else {
                panic!("expected failure")
            };
            assert_eq!(attempts, 3);
            let GatewayError::Overloaded { retry_after_secs, .. } = error else {
                panic!("{error:?}")
            };
            assert_eq!(retry_after_secs, settings.overload_retry_after_secs);
        }
        assert_eq!(
            breaker_failures(&db),
            vec![0, 0, 0],
            "no key is blamed for the model's overload"
        );
        // The upstream recovers: the very next request succeeds.
        let up = FakeUpstream::default();
        assert!(matches!(run(&up, &db, &settings), Attempted::Success { .. }));
    }

    #[test]
    fn a_key_failing_where_another_succeeds_is_blamed() {
        let db = db_with(&[("a", None), ("b", None)]);
        start_at_first_key(&db);
        let boom = r#"{"error":{"code":500,"message":"Internal error encountered.","status":"INTERNAL"}}"#;
        let up = FakeUpstream::default().answer("a", vec![Ok((500, boom))]);
        let Attempted::Success { key, .. } = run(&up, &db, &PoolSettings::default()) else {
            panic!()
        };
        assert_eq!(key.secret, "b");
        assert_eq!(breaker_failures(&db), vec![1, 0]);
    }

    #[test]
    fn a_request_that_cannot_be_sent_changes_no_key_and_stops_at_once() {
        let db = db_with(&[("a", None), ("b", None), ("c", None)]);
        let refused = || Err(TransportError::NotSent("the host refused the outgoing request".into()));
        let up = FakeUpstream::default()
            .answer("a", (0..5).map(|_| refused()).collect())
            .answer("b", (0..5).map(|_| refused()).collect())
            .answer("c", (0..5).map(|_| refused()).collect());
        for _ in 0..5 {
            let Attempted::Failed { error, attempts, .. } = run(&up, &db, &PoolSettings::default()) else {
                panic!()
            };
            assert_eq!(attempts, 1);
            assert_eq!(error.status(crate::protocol::Protocol::OpenAi), 502);
        }
        assert_eq!(breaker_failures(&db), vec![0, 0, 0]);
        assert!(keys::list(&db, NOW).unwrap().iter().all(|k| k.enabled));
    }

    #[test]
    fn an_upstream_that_echoes_the_key_never_gets_it_out() {
        let secret = "odd-format-key-0123456789";
        let db = db_with(&[(secret, None)]);
        let suspended = format!(
            r#"{{"error":{{"code":403,"message":"Permission denied: Consumer 'api_key:{secret}' has been suspended.","status":"PERMISSION_DENIED"}}}}"#
        );
        let up = FakeUpstream::default().answer(secret, vec![Ok((403, suspended.as_str()))]);
        let Attempted::Failed { error, .. } = run(&up, &db, &PoolSettings::default()) else {
            panic!()
        };
        assert!(!error.to_string().contains(secret), "{error}");
        let listed = keys::list(&db, NOW).unwrap();
        let reason = listed[0].disabled_reason.as_deref().unwrap();
        assert!(!listed[0].enabled);
        assert!(!reason.contains(secret), "{reason}");
        assert!(reason.contains("suspended"), "{reason}");

        // A request fault that echoes it goes back to the client scrubbed.
        let db = db_with(&[(secret, None)]);
        let echoed =
            format!(r#"{{"error":{{"code":400,"message":"bad request for {secret}","status":"INVALID_ARGUMENT"}}}}"#);
        let up = FakeUpstream::default().answer(secret, vec![Ok((400, echoed.as_str()))]);
        let Attempted::ClientFault { body, .. } = run(&up, &db, &PoolSettings::default()) else {
            panic!()
        };
        assert!(!String::from_utf8_lossy(&body).contains(secret));
    }
}
