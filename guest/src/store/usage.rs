//! Usage counters per (key, model, UTC day) and per (client, model, day), and the bounded
//! request log.

use super::{col_i64, col_opt_i64, col_opt_string, col_string, Database, SqlValue, StoreError};
use serde::Serialize;

/// Token counts of one response, from Gemini's `usageMetadata`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    pub prompt: u64,
    pub candidates: u64,
    pub thoughts: u64,
}

impl Tokens {
    pub fn total(&self) -> u64 {
        self.prompt + self.candidates + self.thoughts
    }
}

impl From<&crate::protocol::gemini::UsageMetadata> for Tokens {
    fn from(u: &crate::protocol::gemini::UsageMetadata) -> Self {
        Tokens {
            prompt: u.prompt_token_count,
            candidates: u.candidates_token_count,
            thoughts: u.thoughts_token_count,
        }
    }
}

/// What one attempt on a key amounted to, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptKind {
    Success,
    RateLimited,
    Error,
}

/// Adds one attempt to a key's counters for today.
pub fn record_key_attempt(
    db: &dyn Database,
    key_id: i64,
    model: &str,
    day: &str,
    kind: AttemptKind,
    tokens: Tokens,
    latency_ms: u64,
) -> Result<(), StoreError> {
    let (errors, limited) = match kind {
        AttemptKind::Success => (0, 0),
        AttemptKind::RateLimited => (1, 1),
        AttemptKind::Error => (1, 0),
    };
    db.execute(
        "INSERT INTO key_usage (key_id, model, day, requests, errors, rate_limited, prompt_tokens, candidate_tokens, thought_tokens, latency_ms_total) \
         VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT (key_id, model, day) DO UPDATE SET requests = requests + 1, errors = errors + excluded.errors, \
         rate_limited = rate_limited + excluded.rate_limited, prompt_tokens = prompt_tokens + excluded.prompt_tokens, \
         candidate_tokens = candidate_tokens + excluded.candidate_tokens, thought_tokens = thought_tokens + excluded.thought_tokens, \
         latency_ms_total = latency_ms_total + excluded.latency_ms_total",
        &[
            key_id.into(),
            model.into(),
            day.into(),
            SqlValue::Integer(errors),
            SqlValue::Integer(limited),
            tokens.prompt.into(),
            tokens.candidates.into(),
            tokens.thoughts.into(),
            latency_ms.into(),
        ],
    )?;
    Ok(())
}

/// Adds tokens to an existing row (a stream's usage is known only at its end).
pub fn add_key_tokens(
    db: &dyn Database,
    key_id: i64,
    model: &str,
    day: &str,
    tokens: Tokens,
) -> Result<(), StoreError> {
    db.execute(
        "UPDATE key_usage SET prompt_tokens = prompt_tokens + ?, candidate_tokens = candidate_tokens + ?, \
         thought_tokens = thought_tokens + ? WHERE key_id = ? AND model = ? AND day = ?",
        &[
            tokens.prompt.into(),
            tokens.candidates.into(),
            tokens.thoughts.into(),
            key_id.into(),
            model.into(),
            day.into(),
        ],
    )?;
    Ok(())
}

/// One row of the per-key usage report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyUsageRow {
    pub key_id: i64,
    pub model: String,
    pub day: String,
    pub requests: i64,
    pub errors: i64,
    pub rate_limited: i64,
    pub prompt_tokens: i64,
    pub candidate_tokens: i64,
    pub thought_tokens: i64,
}

/// Usage per key per model per day, newest day first, optionally from `since_day` on.
pub fn key_usage(db: &dyn Database, since_day: Option<&str>) -> Result<Vec<KeyUsageRow>, StoreError> {
    let rows = db.execute(
        "SELECT key_id, model, day, requests, errors, rate_limited, prompt_tokens, candidate_tokens, thought_tokens \
         FROM key_usage WHERE day >= ? ORDER BY day DESC, key_id, model",
        &[since_day.unwrap_or("").into()],
    )?;
    rows.iter()
        .map(|r| {
            Ok(KeyUsageRow {
                key_id: col_i64(r, 0)?,
                model: col_string(r, 1)?,
                day: col_string(r, 2)?,
                requests: col_opt_i64(r, 3).unwrap_or(0),
                errors: col_opt_i64(r, 4).unwrap_or(0),
                rate_limited: col_opt_i64(r, 5).unwrap_or(0),
                prompt_tokens: col_opt_i64(r, 6).unwrap_or(0),
                candidate_tokens: col_opt_i64(r, 7).unwrap_or(0),
                thought_tokens: col_opt_i64(r, 8).unwrap_or(0),
            })
        })
        .collect()
}

/// Counts a client's request and tokens for today.
pub fn record_client(
    db: &dyn Database,
    client_id: i64,
    model: &str,
    day: &str,
    tokens: Tokens,
    count_request: bool,
) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO client_usage (client_id, model, day, requests, prompt_tokens, output_tokens) VALUES (?, ?, ?, ?, ?, ?) \
         ON CONFLICT (client_id, model, day) DO UPDATE SET requests = requests + excluded.requests, \
         prompt_tokens = prompt_tokens + excluded.prompt_tokens, output_tokens = output_tokens + excluded.output_tokens",
        &[
            client_id.into(),
            model.into(),
            day.into(),
            SqlValue::Integer(count_request.into()),
            tokens.prompt.into(),
            (tokens.candidates + tokens.thoughts).into(),
        ],
    )?;
    Ok(())
}

/// Counts a request made with a client's own key (pure-proxy mode), known only by its hash.
pub fn record_proxy_key(
    db: &dyn Database,
    key_hash: &str,
    model: &str,
    day: &str,
    ok: bool,
    tokens: Tokens,
) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO proxy_key_usage (key_hash, model, day, requests, errors, prompt_tokens, output_tokens) \
         VALUES (?, ?, ?, 1, ?, ?, ?) ON CONFLICT (key_hash, model, day) DO UPDATE SET requests = requests + 1, \
         errors = errors + excluded.errors, prompt_tokens = prompt_tokens + excluded.prompt_tokens, \
         output_tokens = output_tokens + excluded.output_tokens",
        &[
            key_hash.into(),
            model.into(),
            day.into(),
            SqlValue::Integer((!ok).into()),
            tokens.prompt.into(),
            (tokens.candidates + tokens.thoughts).into(),
        ],
    )?;
    Ok(())
}

/// One row of the pure-proxy usage report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProxyUsageRow {
    /// The first 16 hex digits of the key's SHA-256.
    pub key_hash: String,
    pub model: String,
    pub day: String,
    pub requests: i64,
    pub errors: i64,
    pub prompt_tokens: i64,
    pub output_tokens: i64,
}

/// Pure-proxy usage per key hash per model per day, newest first.
pub fn proxy_usage(db: &dyn Database, since_day: Option<&str>) -> Result<Vec<ProxyUsageRow>, StoreError> {
    let rows = db.execute(
        "SELECT key_hash, model, day, requests, errors, prompt_tokens, output_tokens FROM proxy_key_usage \
         WHERE day >= ? ORDER BY day DESC, key_hash, model",
        &[since_day.unwrap_or("").into()],
    )?;
    rows.iter()
        .map(|r| {
            Ok(ProxyUsageRow {
                key_hash: col_string(r, 0)?,
                model: col_string(r, 1)?,
                day: col_string(r, 2)?,
                requests: col_opt_i64(r, 3).unwrap_or(0),
                errors: col_opt_i64(r, 4).unwrap_or(0),
                prompt_tokens: col_opt_i64(r, 5).unwrap_or(0),
                output_tokens: col_opt_i64(r, 6).unwrap_or(0),
            })
        })
        .collect()
}

/// One row of the per-client usage report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientUsageRow {
    pub client_id: i64,
    pub model: String,
    pub day: String,
    pub requests: i64,
    pub prompt_tokens: i64,
    pub output_tokens: i64,
}

/// Usage per client per model per day, newest first.
pub fn client_usage(db: &dyn Database, since_day: Option<&str>) -> Result<Vec<ClientUsageRow>, StoreError> {
    let rows = db.execute(
        "SELECT client_id, model, day, requests, prompt_tokens, output_tokens FROM client_usage \
         WHERE day >= ? ORDER BY day DESC, client_id, model",
        &[since_day.unwrap_or("").into()],
    )?;
    rows.iter()
        .map(|r| {
            Ok(ClientUsageRow {
                client_id: col_i64(r, 0)?,
                model: col_string(r, 1)?,
                day: col_string(r, 2)?,
                requests: col_opt_i64(r, 3).unwrap_or(0),
                prompt_tokens: col_opt_i64(r, 4).unwrap_or(0),
                output_tokens: col_opt_i64(r, 5).unwrap_or(0),
            })
        })
        .collect()
}

/// One entry of the request log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogEntry {
    pub at: i64,
    pub client_id: Option<i64>,
    pub key_id: Option<i64>,
    pub model: Option<String>,
    pub protocol: Option<String>,
    pub status: i64,
    pub attempts: i64,
    pub latency_ms: i64,
    pub error: Option<String>,
}

/// How many log entries are kept.
pub const LOG_CAPACITY: i64 = 1000;

/// Appends to the request log, trimming it to [`LOG_CAPACITY`] every hundred entries.
pub fn log_request(db: &dyn Database, e: &LogEntry) -> Result<(), StoreError> {
    let rows = db.execute(
        "INSERT INTO request_log (at, client_id, key_id, model, protocol, status, attempts, latency_ms, error) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        &[
            e.at.into(),
            e.client_id.into(),
            e.key_id.into(),
            e.model.clone().into(),
            e.protocol.clone().into(),
            e.status.into(),
            e.attempts.into(),
            e.latency_ms.into(),
            e.error.clone().into(),
        ],
    )?;
    let id = rows.first().and_then(|r| col_opt_i64(r, 0)).unwrap_or(0);
    if id % 100 == 0 {
        db.execute("DELETE FROM request_log WHERE id <= ?", &[(id - LOG_CAPACITY).into()])?;
    }
    Ok(())
}

/// The most recent log entries, newest first.
pub fn recent_requests(db: &dyn Database, limit: i64) -> Result<Vec<LogEntry>, StoreError> {
    let rows = db.execute(
        "SELECT at, client_id, key_id, model, protocol, status, attempts, latency_ms, error FROM request_log \
         ORDER BY id DESC LIMIT ?",
        &[limit.clamp(1, LOG_CAPACITY).into()],
    )?;
    Ok(rows
        .iter()
        .map(|r| LogEntry {
            at: col_opt_i64(r, 0).unwrap_or(0),
            client_id: col_opt_i64(r, 1),
            key_id: col_opt_i64(r, 2),
            model: col_opt_string(r, 3),
            protocol: col_opt_string(r, 4),
            status: col_opt_i64(r, 5).unwrap_or(0),
            attempts: col_opt_i64(r, 6).unwrap_or(0),
            latency_ms: col_opt_i64(r, 7).unwrap_or(0),
            error: col_opt_string(r, 8),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::MemoryDb;

    #[test]
    fn attempts_accumulate_per_key_model_day() {
        let db = MemoryDb::new();
        let t = Tokens {
            prompt: 10,
            candidates: 5,
            thoughts: 2,
        };
        record_key_attempt(&db, 1, "m", "2026-11-22", AttemptKind::Success, t, 100).unwrap();
        record_key_attempt(
            &db,
            1,
            "m",
            "2026-11-22",
            AttemptKind::RateLimited,
            Tokens::default(),
            10,
        )
        .unwrap();
        record_key_attempt(&db, 1, "m", "2026-11-23", AttemptKind::Error, Tokens::default(), 10).unwrap();
        add_key_tokens(&db, 1, "m", "2026-11-22", t).unwrap();
        let rows = key_usage(&db, None).unwrap();
        assert_eq!(rows.len(), 2);
        let today = rows.iter().find(|r| r.day == "2026-11-22").unwrap();
        assert_eq!((today.requests, today.errors, today.rate_limited), (2, 1, 1));
        assert_eq!(
            (today.prompt_tokens, today.candidate_tokens, today.thought_tokens),
            (20, 10, 4)
        );
        assert_eq!(key_usage(&db, Some("2026-11-23")).unwrap().len(), 1);
    }

    #[test]
    fn request_log_is_bounded() {
        let db = MemoryDb::new();
        let e = LogEntry {
            at: 1,
            client_id: None,
            key_id: Some(1),
            model: None,
            protocol: None,
            status: 200,
            attempts: 1,
            latency_ms: 1,
            error: None,
        };
        for _ in 0..(LOG_CAPACITY + 250) {
            log_request(&db, &e).unwrap();
        }
        let count = db.execute("SELECT COUNT(*) FROM request_log", &[]).unwrap();
        assert!(col_i64(&count[0], 0).unwrap() <= LOG_CAPACITY + 100);
        assert_eq!(recent_requests(&db, 5).unwrap().len(), 5);
    }
}
