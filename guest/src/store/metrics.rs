//! The reads behind `GET /metrics`: totals over every stored day, grouped in SQL.
//!
//! Read-only, seven statements per scrape, none of them on the proxied path. The totals are
//! sums over the per-day rows the usage API reads, so the two always agree. Secrets never leave
//! this module: a key comes out as its id and redacted hint.

use super::{col_i64, col_opt_i64, col_opt_string, col_string, Database, StoreError};
use crate::store::usage::LATENCY_BUCKETS_SECS;

/// A pool key as the metrics label it.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyState {
    /// The key's row id.
    pub id: i64,
    /// The redacted secret, e.g. `AIza…x9Qk`.
    pub hint: String,
    /// False once disabled (by the operator or an invalid-key answer).
    pub enabled: bool,
    /// While set and in the future, the circuit breaker is open (Unix ms).
    pub breaker_open_until: Option<i64>,
}

/// A current cooldown of a key on a model.
#[derive(Debug, Clone, PartialEq)]
pub struct Cooldown {
    /// The key's row id.
    pub key_id: i64,
    /// The model the cooldown applies to.
    pub model: String,
    /// When it ends (Unix ms).
    pub until: i64,
}

/// Everything counted for one (key, model), over all days.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyTotals {
    /// The key's row id.
    pub key_id: i64,
    /// The Gemini model.
    pub model: String,
    /// Attempts made.
    pub requests: i64,
    /// Attempts that failed, for any reason.
    pub errors: i64,
    /// Of the failures, 429s.
    pub rate_limited: i64,
    /// Of the failures, invalid-key answers.
    pub invalid: i64,
    /// Of the failures, upstream 5xx.
    pub overloaded: i64,
    /// Of the failures, timeouts.
    pub timeouts: i64,
    /// Prompt tokens of ok attempts.
    pub prompt_tokens: i64,
    /// Answer tokens of ok attempts (thoughts excluded).
    pub candidate_tokens: i64,
    /// Thought tokens of ok attempts.
    pub thought_tokens: i64,
    /// Sum of the latency of ok attempts, in milliseconds.
    pub ok_latency_ms: i64,
    /// Non-cumulative counts of ok attempts per [`LATENCY_BUCKETS_SECS`] bucket.
    pub latency_buckets: [i64; LATENCY_BUCKETS_SECS.len()],
}

impl KeyTotals {
    /// Ok attempts.
    pub fn ok(&self) -> i64 {
        (self.requests - self.errors).max(0)
    }
}

/// Everything counted for one (client, model), over all days.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientTotals {
    /// The client key's row id.
    pub client_id: i64,
    /// The Gemini model the requests went to (or a placeholder when none was resolved).
    pub model: String,
    /// Requests answered successfully.
    pub ok: i64,
    /// Requests refused with 429 (the client's limits or an exhausted pool).
    pub rate_limited: i64,
    /// Requests refused with another 4xx.
    pub rejected_4xx: i64,
    /// Requests that failed with a 5xx.
    pub failed_5xx: i64,
    /// Prompt tokens of successful requests.
    pub prompt_tokens: i64,
    /// Output tokens (answer and thoughts) of successful requests.
    pub output_tokens: i64,
}

/// A client key's name and whether it still works.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientName {
    /// The client key's row id.
    pub id: i64,
    /// The operator's name for the key.
    pub name: String,
    /// True once revoked.
    pub revoked: bool,
}

/// What one scrape reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Every pool key.
    pub keys: Vec<KeyState>,
    /// The cooldowns in force.
    pub cooldowns: Vec<Cooldown>,
    /// Per-(key, model) totals.
    pub key_totals: Vec<KeyTotals>,
    /// Every client key.
    pub clients: Vec<ClientName>,
    /// Per-(client, model) totals.
    pub client_totals: Vec<ClientTotals>,
    /// (reason, requests) over all days.
    pub refusals: Vec<(String, i64)>,
    /// (operation, failed store writes) over all time ([`super::failures`]).
    pub write_failures: Vec<(String, i64)>,
}

/// Reads a [`Snapshot`] at `now_ms`.
pub fn snapshot(db: &dyn Database, now_ms: i64) -> Result<Snapshot, StoreError> {
    let keys = db
        .execute(
            "SELECT id, secret, enabled, breaker_open_until FROM upstream_keys ORDER BY id",
            &[],
        )?
        .iter()
        .map(|r| {
            Ok(KeyState {
                id: col_i64(r, 0)?,
                hint: crate::auth::redact(&col_string(r, 1)?),
                enabled: col_opt_i64(r, 2) == Some(1),
                breaker_open_until: col_opt_i64(r, 3),
            })
        })
        .collect::<Result<_, StoreError>>()?;
    let cooldowns = db
        .execute(
            "SELECT key_id, model, until FROM cooldowns WHERE until > ? ORDER BY key_id, model",
            &[now_ms.into()],
        )?
        .iter()
        .map(|r| {
            Ok(Cooldown {
                key_id: col_i64(r, 0)?,
                model: col_string(r, 1)?,
                until: col_i64(r, 2)?,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    let key_totals = db
        .execute(
            "SELECT key_id, model, SUM(requests), SUM(errors), SUM(rate_limited), SUM(invalid), SUM(overloaded), \
             SUM(timeouts), SUM(prompt_tokens), SUM(candidate_tokens), SUM(thought_tokens), SUM(ok_latency_ms), \
             SUM(lat_le_1), SUM(lat_le_2), SUM(lat_le_5), SUM(lat_le_10), SUM(lat_le_20), SUM(lat_le_60), SUM(lat_le_120) \
             FROM key_usage GROUP BY key_id, model ORDER BY key_id, model",
            &[],
        )?
        .iter()
        .map(|r| {
            let n = |i: usize| col_opt_i64(r, i).unwrap_or(0);
            let mut latency_buckets = [0; LATENCY_BUCKETS_SECS.len()];
            for (i, bucket) in latency_buckets.iter_mut().enumerate() {
                *bucket = n(12 + i);
            }
            Ok(KeyTotals {
                key_id: col_i64(r, 0)?,
                model: col_string(r, 1)?,
                requests: n(2),
                errors: n(3),
                rate_limited: n(4),
                invalid: n(5),
                overloaded: n(6),
                timeouts: n(7),
                prompt_tokens: n(8),
                candidate_tokens: n(9),
                thought_tokens: n(10),
                ok_latency_ms: n(11),
                latency_buckets,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    let clients = db
        .execute("SELECT id, name, revoked_at FROM client_keys ORDER BY id", &[])?
        .iter()
        .map(|r| {
            Ok(ClientName {
                id: col_i64(r, 0)?,
                name: col_opt_string(r, 1).unwrap_or_default(),
                revoked: col_opt_i64(r, 2).is_some(),
            })
        })
        .collect::<Result<_, StoreError>>()?;
    let client_totals = db
        .execute(
            "SELECT client_id, model, SUM(requests), SUM(rate_limited), SUM(rejected_4xx), SUM(failed_5xx), \
             SUM(prompt_tokens), SUM(output_tokens) FROM client_usage GROUP BY client_id, model ORDER BY client_id, model",
            &[],
        )?
        .iter()
        .map(|r| {
            let n = |i: usize| col_opt_i64(r, i).unwrap_or(0);
            Ok(ClientTotals {
                client_id: col_i64(r, 0)?,
                model: col_string(r, 1)?,
                ok: n(2),
                rate_limited: n(3),
                rejected_4xx: n(4),
                failed_5xx: n(5),
                prompt_tokens: n(6),
                output_tokens: n(7),
            })
        })
        .collect::<Result<_, StoreError>>()?;
    let refusals = db
        .execute(
            "SELECT reason, SUM(requests) FROM refusals GROUP BY reason ORDER BY reason",
            &[],
        )?
        .iter()
        .map(|r| Ok((col_string(r, 0)?, col_opt_i64(r, 1).unwrap_or(0))))
        .collect::<Result<_, StoreError>>()?;
    let write_failures = super::failures::totals(db)?;
    Ok(Snapshot {
        keys,
        cooldowns,
        key_totals,
        clients,
        client_totals,
        refusals,
        write_failures,
    })
}
