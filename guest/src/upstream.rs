//! One logical upstream call, with failover across pool keys.
//!
//! [`send_with_failover`] asks the pool for an attempt order, sends the request with one key
//! at a time and classifies each answer: a success is returned with its body still unread (so
//! a stream can be forwarded as it arrives), a fault of the request goes back to the client,
//! and a fault of the key (quota, invalid, overloaded) applies its effect to the key and moves
//! on to the next one. Failover happens only before anything reaches the client.
//!
//! The transport is the [`Upstream`] trait: wasi-http in the component, a scripted fake in
//! native tests.

use crate::error::GatewayError;
use crate::pool::{self, ClassifyContext, KeyEffect, Outcome, PoolSettings};
use crate::store::keys::{self, PoolKey};
use crate::store::usage::{self, AttemptKind, Tokens};
use crate::store::Database;

/// Gemini's production origin.
pub const DEFAULT_UPSTREAM_URL: &str = "https://generativelanguage.googleapis.com";
/// Error bodies larger than this are cut when read for classification.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// What to send; the key is added per attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamRequest {
    pub method: String,
    /// Path and query as Gemini expects them, e.g. `/v1beta/models/m:generateContent`.
    pub path_and_query: String,
    pub body: Option<Vec<u8>>,
    /// Extra headers to forward (never credentials).
    pub headers: Vec<(String, String)>,
}

/// An upstream answer whose body has not been read yet.
pub struct UpstreamResponse<B> {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: B,
}

/// The transport to Gemini.
#[allow(async_fn_in_trait)] // used only with concrete types inside one component
pub trait Upstream {
    /// A response body that can be read later (whole or as a stream).
    type Body;
    /// Sends `req` authenticated with `key`. `Err` is a network-level failure.
    async fn send(&self, req: &UpstreamRequest, key: &str) -> Result<UpstreamResponse<Self::Body>, String>;
    /// Reads a whole body, up to `limit` bytes.
    async fn read_to_end(&self, body: Self::Body, limit: usize) -> Result<Vec<u8>, String>;
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// How a failover ended.
pub enum Attempted<B> {
    /// A 2xx from `key`; the body is unread.
    Success {
        response: UpstreamResponse<B>,
        key: PoolKey,
        attempts: u32,
        started_ms: i64,
    },
    /// The upstream blamed the request (4xx not about the key): give this to the client.
    ClientFault {
        status: u16,
        body: Vec<u8>,
        key: PoolKey,
        attempts: u32,
    },
    /// No attempt succeeded, or none could be made.
    Failed {
        error: GatewayError,
        attempts: u32,
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

/// Facts the loop needs besides the request.
pub struct FailoverContext<'a> {
    pub settings: &'a PoolSettings,
    /// The model the request is for (cooldowns and usage are per model).
    pub model: &'a str,
    /// Random bits for the `random`/`weighted` strategies.
    pub seed: u64,
    pub keys: KeySource,
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
                    error: GatewayError::Internal(e.to_string()),
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
    let ticket = if stored && uses_ticket(ctx.settings.strategy) {
        keys::next_round_robin_ticket(db).unwrap_or(ctx.seed)
    } else {
        ctx.seed
    };
    let candidates: Vec<_> = keys.iter().map(|k| k.candidate.clone()).collect();
    let order = pool::attempt_order(ctx.settings.strategy, &candidates, now, ticket, ctx.seed);
    if order.is_empty() {
        return Attempted::Failed {
            error: exhausted_error(&candidates, now, None),
            attempts: 0,
            last_key: None,
        };
    }

    let mut attempts = 0;
    let mut last_failure: Option<(u16, String)> = None;
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
        attempts += 1;
        last_key = Some(id);
        let started = upstream.now_ms();
        let key = &keys[index];
        let classify_ctx = ClassifyContext {
            now_ms: started,
            settings: ctx.settings,
            previous_strikes: key.strikes,
        };
        let (outcome, failure) = match upstream.send(req, &key.secret).await {
            Err(message) => (
                pool::classify_network_error(&message),
                (502, format!("upstream unreachable: {message}")),
            ),
            Ok(response) if (200..300).contains(&response.status) => {
                let key = keys.swap_remove(index);
                if stored {
                    let _ = keys::record_success(db, &key, ctx.model);
                }
                return Attempted::Success {
                    response,
                    key,
                    attempts,
                    started_ms: started,
                };
            }
            Ok(response) => {
                let status = response.status;
                let body = upstream
                    .read_to_end(response.body, ERROR_BODY_LIMIT)
                    .await
                    .unwrap_or_default();
                let outcome = pool::classify(status, &body, &classify_ctx);
                if let Outcome::ClientFault = outcome {
                    let key = keys.swap_remove(index);
                    if stored {
                        let latency = (upstream.now_ms() - started).max(0) as u64;
                        let _ = usage::record_key_attempt(
                            db,
                            id,
                            ctx.model,
                            &day,
                            AttemptKind::Error,
                            Tokens::default(),
                            latency,
                        );
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
                (outcome, (status, message))
            }
        };
        let Outcome::RetryElsewhere(effect) = outcome else {
            continue;
        };
        if stored {
            let kind = if failure.0 == 429 {
                AttemptKind::RateLimited
            } else {
                AttemptKind::Error
            };
            let latency = (upstream.now_ms() - started).max(0) as u64;
            let _ = usage::record_key_attempt(db, id, ctx.model, &day, kind, Tokens::default(), latency);
            let _ = keys::apply_effect(db, &keys[index], ctx.model, &effect, ctx.settings, started);
        }
        apply_in_memory(&mut keys, index, &effect, started, ctx.settings);
        last_failure = Some(failure);
    }
    let candidates: Vec<_> = keys.iter().map(|k| k.candidate.clone()).collect();
    Attempted::Failed {
        error: exhausted_error(&candidates, upstream.now_ms(), last_failure),
        attempts,
        last_key,
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

/// Mirrors an effect on the in-memory candidates, so the final "retry after" is accurate.
fn apply_in_memory(keys: &mut [PoolKey], index: usize, effect: &KeyEffect, now: i64, settings: &PoolSettings) {
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
        KeyEffect::BreakerFailure { .. } => {
            let c = &mut keys[index].candidate;
            c.breaker = pool::breaker::on_failure(&c.breaker, now, settings);
        }
    }
}

/// The error for "nothing worked": 429 with the soonest recovery when keys are cooling
/// down, otherwise the last upstream failure.
fn exhausted_error(candidates: &[pool::KeyCandidate], now: i64, last: Option<(u16, String)>) -> GatewayError {
    let soonest = pool::soonest_recovery_ms(candidates, now);
    match last {
        Some((status, message)) if status != 429 => {
            if matches!(status, 400 | 401 | 403) {
                GatewayError::Upstream {
                    status: 502,
                    message: format!("the upstream rejected the pool's keys: {message}"),
                }
            } else {
                GatewayError::Upstream {
                    status: if status >= 500 { status } else { 502 },
                    message,
                }
            }
        }
        _ => match soonest {
            Some(at) => {
                let retry_after_secs = ((at - now).max(0) as u64).div_ceil(1000).max(1);
                let message = match last {
                    Some((_, upstream)) => format!("every upstream key is rate limited for this model; retry in {retry_after_secs}s (upstream: {upstream})"),
                    None => format!("every upstream key is cooling down for this model; retry in {retry_after_secs}s"),
                };
                GatewayError::RateLimited {
                    message,
                    retry_after_secs,
                }
            }
            None => GatewayError::NoKeys("every upstream key is disabled; see the admin API for reasons".into()),
        },
    }
}
