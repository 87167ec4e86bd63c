//! Upstream (Gemini) keys: the pool's rows, their per-model cooldowns and breaker state.

use super::{col_i64, col_opt_i64, col_opt_string, col_string, Database, SqlValue, StoreError};
use crate::pool::{BreakerState, CooldownScope, KeyCandidate, KeyEffect};
use crate::store::usage::AdaptiveSample;

/// A key as the admin API shows it; the secret itself is never part of this.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KeyInfo {
    /// The key's row id.
    pub id: i64,
    /// A short prefix and suffix of the secret, e.g. `AIza…x9Qk`.
    pub redacted: String,
    /// The operator's label for the key.
    pub label: Option<String>,
    /// The Google Cloud project the key belongs to (cooldowns for daily quotas span it).
    pub project: Option<String>,
    /// The key's share under the `weighted` strategy.
    pub weight: i64,
    /// False once disabled (by the operator or an invalid-key answer).
    pub enabled: bool,
    /// Why it was disabled, e.g. `API_KEY_INVALID`.
    pub disabled_reason: Option<String>,
    /// When it was disabled (Unix ms).
    pub disabled_at: Option<i64>,
    /// When it was added (Unix ms).
    pub created_at: i64,
    /// Failures in a row, for the circuit breaker.
    pub consecutive_failures: i64,
    /// While set and in the future, the circuit breaker is open (Unix ms).
    pub breaker_open_until: Option<i64>,
    /// When the key was last validated against Gemini (Unix ms).
    pub validated_at: Option<i64>,
    /// The outcome of that validation: its state, and a detail when there is one.
    pub validation: Option<String>,
    /// Its cooldowns in force, per model.
    pub cooldowns: Vec<CooldownInfo>,
}

/// One model's cooldown on a key.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CooldownInfo {
    /// The model the cooldown applies to.
    pub model: String,
    /// When it ends (Unix ms).
    pub until: i64,
    /// Why, e.g. the quota that was hit.
    pub reason: String,
    /// 429s in a row on this (key, model).
    pub strikes: i64,
}

/// A key chosen for an attempt: the candidate facts plus the secret to send upstream.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolKey {
    /// The key's facts as selection saw them.
    pub candidate: KeyCandidate,
    /// The secret, sent upstream as `x-goog-api-key` and never logged.
    pub secret: String,
    /// Consecutive 429s on this (key, model), for cooldown escalation.
    pub strikes: u32,
}

/// Adds a key unless the same secret is already present. Returns the new id, or `None` for
/// a duplicate.
pub fn add(
    db: &dyn Database,
    secret: &str,
    label: Option<&str>,
    project: Option<&str>,
    weight: Option<i64>,
    now_ms: i64,
) -> Result<Option<i64>, StoreError> {
    if !db
        .execute("SELECT 1 FROM upstream_keys WHERE secret = ?", &[secret.into()])?
        .is_empty()
    {
        return Ok(None);
    }
    // A fresh id from the `key_id` counter, never one a deleted key had (its usage history
    // stays with it). The counter is raised past any id already present first, so rows made
    // before the counter existed cannot collide.
    let rows = db.execute(
        "UPDATE counters SET value = MAX(value, COALESCE((SELECT MAX(id) FROM upstream_keys), 0)) + 1 \
         WHERE name = 'key_id' RETURNING value",
        &[],
    )?;
    let id = rows.first().map(|r| col_i64(r, 0)).transpose()?;
    let rows = db.execute(
        "INSERT INTO upstream_keys (id, secret, label, project, weight, created_at) VALUES (?, ?, ?, ?, ?, ?) \
         ON CONFLICT (secret) DO NOTHING RETURNING id",
        &[
            id.into(),
            secret.into(),
            label.into(),
            project.into(),
            SqlValue::Integer(weight.unwrap_or(1).max(0)),
            now_ms.into(),
        ],
    )?;
    rows.first().map(|r| col_i64(r, 0)).transpose()
}

/// Every key with its cooldowns, for the admin API.
pub fn list(db: &dyn Database, now_ms: i64) -> Result<Vec<KeyInfo>, StoreError> {
    let rows = db.execute(
        "SELECT id, secret, label, project, weight, enabled, disabled_reason, disabled_at, created_at, \
         consecutive_failures, breaker_open_until, validated_at, validation FROM upstream_keys ORDER BY id",
        &[],
    )?;
    let cooldowns = db.execute(
        "SELECT key_id, model, until, reason, strikes FROM cooldowns WHERE until > ? ORDER BY key_id, model",
        &[now_ms.into()],
    )?;
    rows.iter()
        .map(|r| {
            let id = col_i64(r, 0)?;
            Ok(KeyInfo {
                id,
                redacted: crate::auth::redact(&col_string(r, 1)?),
                label: col_opt_string(r, 2),
                project: col_opt_string(r, 3),
                weight: col_opt_i64(r, 4).unwrap_or(1),
                enabled: col_opt_i64(r, 5) == Some(1),
                disabled_reason: col_opt_string(r, 6),
                disabled_at: col_opt_i64(r, 7),
                created_at: col_opt_i64(r, 8).unwrap_or(0),
                consecutive_failures: col_opt_i64(r, 9).unwrap_or(0),
                breaker_open_until: col_opt_i64(r, 10),
                validated_at: col_opt_i64(r, 11),
                validation: col_opt_string(r, 12),
                cooldowns: cooldowns
                    .iter()
                    .filter(|c| col_opt_i64(c, 0) == Some(id))
                    .map(|c| {
                        Ok(CooldownInfo {
                            model: col_string(c, 1)?,
                            until: col_i64(c, 2)?,
                            reason: col_string(c, 3)?,
                            strikes: col_opt_i64(c, 4).unwrap_or(1),
                        })
                    })
                    .collect::<Result<_, StoreError>>()?,
            })
        })
        .collect()
}

/// Claims the half-open probe of a key: moves its breaker's reopening to `reopen_at` if it
/// is due, so concurrent requests skip the key while this one probes it. False when another
/// request claimed it first.
pub fn claim_probe(db: &dyn Database, id: i64, now_ms: i64, reopen_at: i64) -> Result<bool, StoreError> {
    let rows = db.execute(
        "UPDATE upstream_keys SET breaker_open_until = ? WHERE id = ? AND breaker_open_until <= ? RETURNING id",
        &[reopen_at.into(), id.into(), now_ms.into()],
    )?;
    Ok(!rows.is_empty())
}

/// Every pool key's secret, to scrub them out of text that leaves the component.
pub fn all_secrets(db: &dyn Database) -> Result<Vec<String>, StoreError> {
    let rows = db.execute("SELECT secret FROM upstream_keys", &[])?;
    rows.iter().map(|r| col_string(r, 0)).collect()
}

/// The secret of one key (for validation calls). Never leaves the guest except upstream.
pub fn secret(db: &dyn Database, id: i64) -> Result<Option<String>, StoreError> {
    let rows = db.execute("SELECT secret FROM upstream_keys WHERE id = ?", &[id.into()])?;
    rows.first().map(|r| col_string(r, 0)).transpose()
}

/// Enables or disables a key. Enabling clears the reason and the breaker. Returns false if
/// no such key.
pub fn set_enabled(
    db: &dyn Database,
    id: i64,
    enabled: bool,
    reason: Option<&str>,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let rows = if enabled {
        db.execute(
            "UPDATE upstream_keys SET enabled = 1, disabled_reason = NULL, disabled_at = NULL, \
             consecutive_failures = 0, breaker_open_until = NULL WHERE id = ? RETURNING id",
            &[id.into()],
        )?
    } else {
        db.execute(
            "UPDATE upstream_keys SET enabled = 0, disabled_reason = ?, disabled_at = ? WHERE id = ? RETURNING id",
            &[reason.unwrap_or("disabled by admin").into(), now_ms.into(), id.into()],
        )?
    };
    Ok(!rows.is_empty())
}

/// Updates label, project and weight (each only when given). Returns false if no such key.
pub fn update(
    db: &dyn Database,
    id: i64,
    label: Option<&str>,
    project: Option<&str>,
    weight: Option<i64>,
) -> Result<bool, StoreError> {
    let rows = db.execute(
        "UPDATE upstream_keys SET label = COALESCE(?, label), project = COALESCE(?, project), \
         weight = COALESCE(?, weight) WHERE id = ? RETURNING id",
        &[label.into(), project.into(), weight.map(|w| w.max(0)).into(), id.into()],
    )?;
    Ok(!rows.is_empty())
}

/// Deletes a key, its cooldowns and what gempool remembers of the resources its project holds
/// (no other key can reach them). Returns false if no such key.
pub fn delete(db: &dyn Database, id: i64) -> Result<bool, StoreError> {
    db.execute("DELETE FROM cooldowns WHERE key_id = ?", &[id.into()])?;
    db.execute("DELETE FROM resources WHERE key_id = ?", &[id.into()])?;
    let rows = db.execute("DELETE FROM upstream_keys WHERE id = ? RETURNING id", &[id.into()])?;
    Ok(!rows.is_empty())
}

/// Clears every cooldown of a key (admin "reset").
pub fn clear_cooldowns(db: &dyn Database, id: i64) -> Result<(), StoreError> {
    db.execute("DELETE FROM cooldowns WHERE key_id = ?", &[id.into()])?;
    Ok(())
}

/// Records the result of a validation check.
pub fn record_validation(db: &dyn Database, id: i64, result: &str, now_ms: i64) -> Result<(), StoreError> {
    db.execute(
        "UPDATE upstream_keys SET validated_at = ?, validation = ? WHERE id = ?",
        &[now_ms.into(), result.into(), id.into()],
    )?;
    Ok(())
}

/// Enabled keys with their state for `model` today: one query on the hot path.
pub fn candidates(db: &dyn Database, model: &str, day: &str) -> Result<Vec<PoolKey>, StoreError> {
    let rows = db.execute(
        "SELECT k.id, k.secret, k.weight, k.project, k.consecutive_failures, k.breaker_open_until, \
                c.until, c.strikes, u.requests, k.ewma_success, k.ewma_latency_ms, k.ewma_samples \
         FROM upstream_keys k \
         LEFT JOIN cooldowns c ON c.key_id = k.id AND c.model = ?1 \
         LEFT JOIN key_usage u ON u.key_id = k.id AND u.model = ?1 AND u.day = ?2 \
         WHERE k.enabled = 1 ORDER BY k.id",
        &[model.into(), day.into()],
    )?;
    rows.iter()
        .map(|r| {
            let requests = col_opt_i64(r, 8).unwrap_or(0).max(0) as u64;
            let real = |i: usize| match r.get(i) {
                Some(SqlValue::Real(f)) => Some(*f),
                Some(SqlValue::Integer(n)) => Some(*n as f64),
                _ => None,
            };
            Ok(PoolKey {
                secret: col_string(r, 1)?,
                strikes: col_opt_i64(r, 7).unwrap_or(0).max(0) as u32,
                candidate: KeyCandidate {
                    id: col_i64(r, 0)?,
                    enabled: true,
                    weight: col_opt_i64(r, 2).unwrap_or(1).max(0) as u32,
                    project: col_opt_string(r, 3),
                    cooldown_until_ms: col_opt_i64(r, 6),
                    breaker: BreakerState {
                        consecutive_failures: col_opt_i64(r, 4).unwrap_or(0).max(0) as u32,
                        open_until_ms: col_opt_i64(r, 5),
                    },
                    requests_today: requests,
                    recent_success_rate: real(9).unwrap_or(1.0).clamp(0.0, 1.0),
                    recent_latency_ms: real(10).unwrap_or(0.0).max(0.0),
                    recent_samples: col_opt_i64(r, 11).unwrap_or(0).clamp(0, u32::MAX as i64) as u32,
                },
            })
        })
        .collect()
}

/// Counts enabled keys (to tell "no keys at all" from "all cooling down").
pub fn count_enabled(db: &dyn Database) -> Result<i64, StoreError> {
    let rows = db.execute("SELECT COUNT(*) FROM upstream_keys WHERE enabled = 1", &[])?;
    rows.first().map(|r| col_i64(r, 0)).unwrap_or(Ok(0))
}

/// The next round-robin ticket, shared by all concurrent requests: with `host_function` a read
/// of the bundled host's SQL function `gempool_next_ticket()`, a process-wide atomic counter
/// ([`crate::handler::SQL_TICKET_VARIABLE`]), so no write; else (or if that fails) one atomic
/// increment of the stored counter.
pub fn next_round_robin_ticket(db: &dyn Database, host_function: bool) -> Result<u64, StoreError> {
    if host_function {
        let rows = db.execute("SELECT gempool_next_ticket()", &[]);
        if let Some(ticket) = rows.ok().and_then(|rows| rows.first().and_then(|r| col_opt_i64(r, 0))) {
            return Ok(ticket.max(0) as u64);
        }
    }
    let rows = db.execute(
        "UPDATE counters SET value = value + 1 WHERE name = 'round_robin' RETURNING value",
        &[],
    )?;
    Ok(rows.first().and_then(|r| col_opt_i64(r, 0)).unwrap_or(0).max(0) as u64)
}

/// Applies what an upstream answer means for a key (cooldown, disable, breaker).
pub fn apply_effect(
    db: &dyn Database,
    key: &PoolKey,
    model: &str,
    effect: &KeyEffect,
    settings: &crate::pool::PoolSettings,
    now_ms: i64,
) -> Result<(), StoreError> {
    match effect {
        KeyEffect::Cooldown {
            until_ms,
            reason,
            scope,
            strikes,
        } => {
            let sql = "INSERT INTO cooldowns (key_id, model, until, reason, strikes) VALUES (?, ?, ?, ?, ?) \
                       ON CONFLICT (key_id, model) DO UPDATE SET until = MAX(until, excluded.until), \
                       reason = excluded.reason, strikes = excluded.strikes";
            let params = |id: i64| -> Vec<SqlValue> {
                vec![
                    id.into(),
                    model.into(),
                    (*until_ms).into(),
                    reason.as_str().into(),
                    (*strikes).into(),
                ]
            };
            match (scope, &key.candidate.project) {
                (CooldownScope::Project, Some(project)) => {
                    // Daily quotas belong to the Google Cloud project: every key of it is spent.
                    let members = db.execute(
                        "SELECT id FROM upstream_keys WHERE project = ?",
                        &[project.as_str().into()],
                    )?;
                    for member in members {
                        db.execute(sql, &params(col_i64(&member, 0)?))?;
                    }
                }
                _ => {
                    db.execute(sql, &params(key.candidate.id))?;
                }
            }
        }
        KeyEffect::Disable { reason } => {
            db.execute(
                "UPDATE upstream_keys SET enabled = 0, disabled_reason = ?, disabled_at = ? WHERE id = ?",
                &[reason.as_str().into(), now_ms.into(), key.candidate.id.into()],
            )?;
        }
        KeyEffect::BreakerFailure { .. } => {
            // The policy decides from the state we read whether this failure opens the
            // breaker; the count itself is incremented in SQL so concurrent failures add up.
            let next = crate::pool::breaker::on_failure(&key.candidate.breaker, now_ms, settings);
            db.execute(
                "UPDATE upstream_keys SET consecutive_failures = consecutive_failures + 1, \
                 breaker_open_until = COALESCE(?, breaker_open_until) WHERE id = ?",
                &[next.open_until_ms.into(), key.candidate.id.into()],
            )?;
        }
    }
    Ok(())
}

/// The adaptive strategy's sample of a failed attempt. (A success's rides in its request-log
/// row: the trigger `request_log_key_health` of `0008_success_health.sql` moves the same averages
/// towards 1 with the same weight.)
pub fn record_adaptive_failure(db: &dyn Database, id: i64, sample: AdaptiveSample) -> Result<(), StoreError> {
    db.execute(
        "UPDATE upstream_keys SET ewma_success = ewma_success + ?1 * (0.0 - ewma_success), \
         ewma_latency_ms = CASE WHEN ewma_samples = 0 THEN ?2 ELSE ewma_latency_ms + ?1 * (?2 - ewma_latency_ms) END, \
         ewma_samples = ewma_samples + 1 WHERE id = ?3",
        &[sample.alpha.into(), (sample.latency_ms as f64).into(), id.into()],
    )?;
    Ok(())
}

/// After a success: close the key's breaker, only if it had failures. (Its cooldown for the
/// model is forgotten by the request-log row's trigger, `0008_success_health.sql`.)
pub fn close_breaker(db: &dyn Database, key: &KeyCandidate) -> Result<(), StoreError> {
    if key.breaker.consecutive_failures > 0 || key.breaker.open_until_ms.is_some() {
        db.execute(
            "UPDATE upstream_keys SET consecutive_failures = 0, breaker_open_until = NULL WHERE id = ?",
            &[key.id.into()],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod recent_tests {
    use super::*;
    use crate::store::testing::MemoryDb;
    use crate::store::usage::{log_request, LogEntry, OkAttempt, SuccessHealth};

    #[test]
    fn tickets_come_from_the_host_function_when_there_is_one() {
        let db = MemoryDb::new();
        let stored = || {
            let rows = db
                .execute("SELECT value FROM counters WHERE name = 'round_robin'", &[])
                .unwrap();
            col_i64(&rows[0], 0).unwrap()
        };
        // No such function: the stored counter, one write.
        assert_eq!(next_round_robin_ticket(&db, true).unwrap(), 1);
        assert_eq!(next_round_robin_ticket(&db, false).unwrap(), 2);
        let next = std::sync::atomic::AtomicI64::new(40);
        db.0.create_scalar_function(
            "gempool_next_ticket",
            0,
            rusqlite::functions::FunctionFlags::SQLITE_UTF8,
            move |_| Ok(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)),
        )
        .unwrap();
        assert_eq!(next_round_robin_ticket(&db, true).unwrap(), 40);
        assert_eq!(next_round_robin_ticket(&db, true).unwrap(), 41);
        assert_eq!(stored(), 2, "the host's tickets write nothing");
    }

    /// A successful request's log row (its one write) for `key` and model `m`: the attempt
    /// started at `started`, answered after 100 ms.
    fn log_success(db: &MemoryDb, key: i64, started: i64, health: SuccessHealth) {
        let entry = LogEntry {
            at: started - 20,
            client_id: None,
            key_id: Some(key),
            model: Some("m".into()),
            protocol: None,
            status: 200,
            attempts: 1,
            latency_ms: 120,
            error: None,
            fallback_from: None,
        };
        let ok = OkAttempt {
            started_ms: started,
            latency_ms: 100,
            tokens: Default::default(),
            proxy_key_hash: None,
            health,
        };
        log_request(db, &entry, Some(&ok)).unwrap();
    }

    #[test]
    fn recent_outcomes_move_the_averages() {
        let db = MemoryDb::new();
        let id = add(&db, "k", None, None, None, 0).unwrap().unwrap();
        // A success's sample rides in its log row; a failure is written when it happens.
        let adaptive = Some(AdaptiveSample::new(3, 100));
        log_success(
            &db,
            id,
            1_000,
            SuccessHealth {
                adaptive,
                clears_cooldown: false,
            },
        );
        record_adaptive_failure(&db, id, AdaptiveSample::new(3, 300)).unwrap();
        let c = &candidates(&db, "m", "d").unwrap()[0].candidate;
        assert_eq!(c.recent_samples, 2);
        assert!((c.recent_success_rate - 0.5).abs() < 1e-9, "{}", c.recent_success_rate);
        assert!((c.recent_latency_ms - 200.0).abs() < 1e-9, "{}", c.recent_latency_ms);
        // Under the other strategies a success teaches the averages nothing.
        log_success(&db, id, 2_000, SuccessHealth::default());
        assert_eq!(candidates(&db, "m", "d").unwrap()[0].candidate.recent_samples, 2);
    }

    #[test]
    fn a_success_forgets_the_cooldown_it_outlived_but_not_a_newer_one() {
        let db = MemoryDb::new();
        let id = add(&db, "k", None, None, None, 0).unwrap().unwrap();
        let cooldown = |until: i64| {
            db.execute(
                "INSERT INTO cooldowns (key_id, model, until, reason, strikes) VALUES (?, 'm', ?, 'rate_limited', 3) \
                 ON CONFLICT (key_id, model) DO UPDATE SET until = excluded.until",
                &[id.into(), until.into()],
            )
            .unwrap();
        };
        let cooldowns = || db.execute("SELECT until FROM cooldowns", &[]).unwrap().len();
        let clears = SuccessHealth {
            adaptive: None,
            clears_cooldown: true,
        };
        // Another request's 429 cooled the key after this attempt started: it stays.
        cooldown(5_500);
        log_success(&db, id, 5_000, clears);
        assert_eq!(cooldowns(), 1);
        // The cooldown had ended when the attempt started: forgotten, strikes with it.
        cooldown(4_900);
        log_success(&db, id, 5_000, clears);
        assert_eq!(cooldowns(), 0);
        // Only when the key had one: a plain success leaves the table alone.
        cooldown(4_900);
        log_success(&db, id, 5_000, SuccessHealth::default());
        assert_eq!(cooldowns(), 1);
    }

    #[test]
    fn a_deleted_keys_id_is_never_reused_nor_its_history_inherited() {
        let db = MemoryDb::new();
        let first = add(&db, "key-one-123", None, None, None, 0).unwrap().unwrap();
        crate::store::usage::record_key_attempt(
            &db,
            first,
            "m",
            1_767_225_600_000, // 2026-01-01
            crate::store::usage::AttemptOutcome::Ok,
            Default::default(),
            5,
        )
        .unwrap();
        assert!(delete(&db, first).unwrap());
        let second = add(&db, "key-two-456", None, None, None, 0).unwrap().unwrap();
        assert_ne!(first, second);
        let usage = crate::store::usage::key_usage(&db, None).unwrap();
        assert!(usage.iter().all(|row| row.key_id != second), "{usage:?}");
        assert_eq!(
            add(&db, "key-two-456", None, None, None, 0).unwrap(),
            None,
            "duplicates are skipped"
        );
    }
}
