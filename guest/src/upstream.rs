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
            Err(message) => {
                // wasi-http reports timeouts as `ConnectionTimeout` / `HttpResponseTimeout`.
                let failure = if message.contains("Timeout") {
                    (504, format!("the upstream did not answer in time: {message}"))
                } else {
                    (502, format!("upstream unreachable: {message}"))
                };
                (pool::classify_network_error(&message), failure)
            }
            Ok(response) if (200..300).contains(&response.status) => {
                let key = keys.swap_remove(index);
                if stored && ctx.settings.strategy == pool::Strategy::Adaptive {
                    let latency = (upstream.now_ms() - started).max(0) as u64;
                    let _ = keys::record_recent_outcome(db, id, true, latency, ctx.settings.adaptive_window);
                }
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
            if ctx.settings.strategy == pool::Strategy::Adaptive {
                let _ = keys::record_recent_outcome(db, id, false, latency, ctx.settings.adaptive_window);
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::MemoryDb;
    use std::cell::RefCell;
    use std::collections::{HashMap, VecDeque};

    const NOW: i64 = 1_763_800_000_000;

    /// One scripted answer: a status and body, or a network error.
    type Answer = Result<(u16, String), String>;

    /// Answers per key from a script; records which keys were used.
    #[derive(Default)]
    struct FakeUpstream {
        script: RefCell<HashMap<String, VecDeque<Answer>>>,
        used: RefCell<Vec<String>>,
    }

    impl FakeUpstream {
        fn answer(self, key: &str, answers: Vec<Result<(u16, &str), &str>>) -> Self {
            self.script.borrow_mut().insert(
                key.into(),
                answers
                    .into_iter()
                    .map(|a| a.map(|(s, b)| (s, b.to_owned())).map_err(str::to_owned))
                    .collect(),
            );
            self
        }
    }

    impl Upstream for FakeUpstream {
        type Body = Vec<u8>;
        async fn send(&self, _req: &UpstreamRequest, key: &str) -> Result<UpstreamResponse<Vec<u8>>, String> {
            self.used.borrow_mut().push(key.to_owned());
            let answer = self.script.borrow_mut().get_mut(key).and_then(VecDeque::pop_front);
            let (status, body) = answer.unwrap_or(Ok((200, "{}".into())))?;
            Ok(UpstreamResponse {
                status,
                headers: vec![],
                body: body.into_bytes(),
            })
        }
        async fn read_to_end(&self, body: Vec<u8>, _limit: usize) -> Result<Vec<u8>, String> {
            Ok(body)
        }
        fn now_ms(&self) -> i64 {
            NOW
        }
    }

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
        };
        let ctx = FailoverContext {
            settings,
            model: "m",
            seed: 7,
            keys: KeySource::Stored,
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
            .answer("b", vec![Err("connection refused")]);
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
        let up = FakeUpstream::default().answer("a", vec![Err("HttpResponseTimeout")]);
        let Attempted::Failed { error, .. } = run(&up, &db, &PoolSettings::default()) else {
            panic!()
        };
        assert_eq!(error.status(crate::protocol::Protocol::OpenAi), 504, "{error:?}");
        let db = db_with(&[("a", None)]);
        let up = FakeUpstream::default().answer("a", vec![Err("ConnectionRefused")]);
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
        assert!(matches!(error, GatewayError::Upstream { status: 500, .. }), "{error:?}");
    }
}
