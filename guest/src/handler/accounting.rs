//! Everything recorded about a request, in one place: its request-log row (whose triggers
//! count a successful attempt per key, client and pure-proxy key), the client's failure and
//! the refusal counters, a pure-proxy key's failure, and the access note for the host's log.
//!
//! One write on the success path (the log row; a stream's is written when it ends, by
//! [`finish_stream`]); a failed write is counted in the instance's write failures
//! ([`crate::store::failures`]), never fails the request.

use crate::auth;
use crate::error::GatewayError;
use crate::pool;
use crate::protocol::gemini::{ErrorBody, UsageMetadata};
use crate::protocol::Protocol;
use crate::secrets::Secrets;
use crate::store::failures::{WriteFailures, WriteOp};
use crate::store::usage::{self, LogEntry, OkAttempt, SuccessHealth, Tokens};
use crate::store::Database;
use crate::upstream::Upstream;

use super::Env;

/// The model of a client's usage row for a request refused before its model was resolved.
pub const UNRESOLVED_MODEL: &str = "-";

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
    /// The model the client asked for, when a fallback model serves the stream.
    pub fallback_from: Option<String>,
    /// The client's protocol.
    pub protocol: Protocol,
    /// When the request started (Unix ms), for its latency.
    pub started_ms: i64,
    /// Upstream attempts made, this one included.
    pub attempts: u32,
    /// What the success teaches the pool about its key, written with the log row.
    pub health: SuccessHealth,
}

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
    /// The [`super::ACCESS_HEADER`] value: space-separated `name=value` pairs, values without spaces.
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

/// The facts of one upstream call through the pool, as the bookkeeping records them.
pub(super) struct CallFacts<'a> {
    /// The client key that made the request, if any.
    pub client_id: Option<i64>,
    /// The client's protocol.
    pub protocol: Protocol,
    /// The model (the pool's bucket): the one that answered, or failed last.
    pub model: &'a str,
    /// The model asked for, when a model of its fallback chain answered (or failed last).
    pub requested: Option<&'a str>,
    /// Upstream attempts made.
    pub attempts: u32,
    /// The pool key that answered last (none for the caller's own keys).
    pub key_id: Option<i64>,
    /// Pure-proxy mode: the short hash of the caller's key that answered last.
    pub proxy_key: Option<String>,
}

impl CallFacts<'_> {
    /// The request-log row of this call, with what every outcome shares.
    fn log_entry<U: Upstream, D: Database>(&self, env: &Env<'_, U, D>, status: u16) -> LogEntry {
        LogEntry {
            at: env.now_ms,
            client_id: self.client_id,
            key_id: self.key_id,
            model: Some(self.model.to_owned()),
            protocol: Some(protocol_name(self.protocol).into()),
            status: status.into(),
            attempts: self.attempts.into(),
            latency_ms: (env.upstream.now_ms() - env.now_ms).max(0),
            error: None,
            fallback_from: self.requested.map(str::to_owned),
        }
    }

    /// Notes the call for the access log.
    fn note<U: Upstream, D: Database>(&self, env: &Env<'_, U, D>) {
        *env.access.borrow_mut() = AccessNote {
            model: Some(self.model.to_owned()),
            attempts: self.attempts,
            key_id: self.key_id,
        };
    }

    /// What a stream served by this call records when it ends.
    pub(super) fn streamed<U: Upstream, D: Database>(
        &self,
        env: &Env<'_, U, D>,
        started_ms: i64,
        health: SuccessHealth,
    ) -> Accounting {
        self.note(env);
        Accounting {
            key_id: self.key_id,
            proxy_key_hash: self.proxy_key.clone(),
            client_id: self.client_id,
            model: self.model.to_owned(),
            fallback_from: self.requested.map(str::to_owned),
            protocol: self.protocol,
            started_ms,
            attempts: self.attempts,
            health,
        }
    }

    /// A whole 2xx answer: one log row that carries the attempt (tokens from its
    /// `usageMetadata`), which the triggers count per key, client and pure-proxy key.
    pub(super) fn answered<U: Upstream, D: Database>(
        &self,
        env: &Env<'_, U, D>,
        status: u16,
        started_ms: i64,
        health: SuccessHealth,
        body: &[u8],
    ) {
        self.note(env);
        let tokens = usage_of(body).map(|u| Tokens::from(&u)).unwrap_or_default();
        let ended_ms = env.upstream.now_ms();
        let ok = OkAttempt {
            started_ms,
            latency_ms: (ended_ms - started_ms).max(0) as u64,
            tokens,
            proxy_key_hash: self.proxy_key.clone(),
            health,
        };
        let mut log = self.log_entry(env, status);
        log.latency_ms = (ended_ms - env.now_ms).max(0);
        env.writes
            .check(WriteOp::RequestLog, usage::log_request(env.db, &log, Some(&ok)));
        env.logged.set(true);
    }

    /// The upstream blamed the request (a 4xx): the caller's failure and the log row with
    /// the upstream's message.
    pub(super) fn faulted<U: Upstream, D: Database>(&self, env: &Env<'_, U, D>, status: u16, body: &[u8]) {
        self.note(env);
        let day = pool::clock::utc_day(env.now_ms);
        if let Some(hash) = &self.proxy_key {
            let recorded = usage::record_proxy_key(env.db, hash, self.model, &day, false, Tokens::default());
            env.writes.check(WriteOp::ProxyKey, recorded);
        }
        self.client_failed(env, &day, status);
        let mut log = self.log_entry(env, status);
        log.error = ErrorBody::parse(body).map(|e| e.error.message);
        env.writes
            .check(WriteOp::RequestLog, usage::log_request(env.db, &log, None));
        env.logged.set(true);
    }

    /// No key could answer (every key failed, cooled down or disabled, or nothing could be
    /// sent): the caller's failure, the refusal counter when the pool refused, the log row.
    pub(super) fn failed<U: Upstream, D: Database>(&self, env: &Env<'_, U, D>, error: &GatewayError) {
        self.note(env);
        let day = pool::clock::utc_day(env.now_ms);
        let status = error.status(self.protocol);
        self.client_failed(env, &day, status);
        let reason = match error {
            GatewayError::RateLimited { .. } => Some(crate::metrics::KEYS_COOLING),
            GatewayError::NoKeys(_) => Some("no_keys"),
            _ => None,
        };
        if let Some(reason) = reason {
            env.writes
                .check(WriteOp::Refusal, usage::record_refusal(env.db, &day, reason));
        }
        let mut log = self.log_entry(env, status);
        log.error = Some(error.to_string());
        env.writes
            .check(WriteOp::RequestLog, usage::log_request(env.db, &log, None));
        env.logged.set(true);
    }

    fn client_failed<U: Upstream, D: Database>(&self, env: &Env<'_, U, D>, day: &str, status: u16) {
        if let Some(client) = self.client_id {
            let failed = usage::record_client_failure(env.db, client, self.model, day, status);
            env.writes.check(WriteOp::ClientFailure, failed);
        }
    }
}

/// A request refused before the upstream (auth, limits, a bad body, an unknown model): the
/// refusal counter, the client's failure and a request-log row, with every secret scrubbed.
pub(super) fn refused<U: Upstream, D: Database>(
    env: &Env<'_, U, D>,
    protocol: Protocol,
    model: Option<String>,
    client_id: Option<i64>,
    error: &GatewayError,
    secrets: &Secrets,
) {
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
        fallback_from: None,
    };
    env.writes
        .check(WriteOp::RequestLog, usage::log_request(env.db, &entry, None));
}

/// Records a finished stream: one request-log row carrying the attempt (tokens from the
/// stream's last usage), which its triggers add to the key's, client's and pure-proxy key's
/// counters. A failed write is counted like any other.
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
        health: accounting.health,
    };
    let entry = LogEntry {
        at: accounting.started_ms,
        client_id: accounting.client_id,
        key_id: accounting.key_id,
        model: Some(accounting.model.clone()),
        protocol: Some(protocol_name(accounting.protocol).into()),
        status: 200,
        attempts: accounting.attempts.into(),
        latency_ms: latency,
        error,
        fallback_from: accounting.fallback_from.clone(),
    };
    let writes = WriteFailures::default();
    writes.check(WriteOp::StreamLog, usage::log_request(db, &entry, Some(&ok)));
    writes.flush(db);
}

/// How a client's own key appears in the statistics: the first 16 hex digits of its SHA-256.
pub(super) fn proxy_key_hash(secret: &str) -> String {
    auth::sha256_hex(secret)[..16].to_owned()
}

/// The protocol's name in the request log and the access header.
pub(super) fn protocol_name(p: Protocol) -> &'static str {
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
