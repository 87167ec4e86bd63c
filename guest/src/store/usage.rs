//! Usage counters per (key, model, UTC day) and per (client, model, day), and the bounded
//! request log.

use super::{col_i64, col_opt_i64, col_opt_string, col_string, Database, SqlValue, StoreError};
use serde::Serialize;

/// Token counts of one response, from Gemini's `usageMetadata`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Prompt tokens.
    pub prompt: u64,
    /// Answer tokens (thoughts excluded).
    pub candidates: u64,
    /// Thought tokens.
    pub thoughts: u64,
}

impl Tokens {
    /// All three added up.
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

/// What one attempt on a key amounted to, for the counters (and the `outcome` label of
/// `gempool_upstream_requests_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// A 2xx.
    Ok,
    /// A 429: the key (or its project) cools down.
    RateLimited,
    /// The upstream refused the key (invalid, suspended, service disabled).
    Invalid,
    /// The upstream answered 5xx.
    Overloaded,
    /// No answer, or a stalled one, in time.
    Timeout,
    /// Anything else: no connection, a broken answer, a 4xx the request was to blame for.
    Error,
}

impl AttemptOutcome {
    /// Every outcome, in the order the metrics list them.
    pub const ALL: [AttemptOutcome; 6] = [
        AttemptOutcome::Ok,
        AttemptOutcome::RateLimited,
        AttemptOutcome::Invalid,
        AttemptOutcome::Overloaded,
        AttemptOutcome::Timeout,
        AttemptOutcome::Error,
    ];

    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            AttemptOutcome::Ok => "ok",
            AttemptOutcome::RateLimited => "rate_limited",
            AttemptOutcome::Invalid => "invalid",
            AttemptOutcome::Overloaded => "overloaded",
            AttemptOutcome::Timeout => "timeout",
            AttemptOutcome::Error => "error",
        }
    }
}

/// Upper bounds, in seconds, of the `lat_le_*` latency buckets of ok attempts.
pub const LATENCY_BUCKETS_SECS: [u64; 7] = [1, 2, 5, 10, 20, 60, 120];

/// The `hNN` (attempts) and `qNN` (429s) columns of each UTC hour.
const HOUR_COLUMNS: [(&str, &str); 24] = [
    ("h00", "q00"),
    ("h01", "q01"),
    ("h02", "q02"),
    ("h03", "q03"),
    ("h04", "q04"),
    ("h05", "q05"),
    ("h06", "q06"),
    ("h07", "q07"),
    ("h08", "q08"),
    ("h09", "q09"),
    ("h10", "q10"),
    ("h11", "q11"),
    ("h12", "q12"),
    ("h13", "q13"),
    ("h14", "q14"),
    ("h15", "q15"),
    ("h16", "q16"),
    ("h17", "q17"),
    ("h18", "q18"),
    ("h19", "q19"),
    ("h20", "q20"),
    ("h21", "q21"),
    ("h22", "q22"),
    ("h23", "q23"),
];

/// The UTC hour of day (0–23) of a unix-ms time.
pub fn utc_hour(at_ms: i64) -> usize {
    (at_ms.div_euclid(3_600_000).rem_euclid(24)) as usize
}

/// Adds one attempt, made at `at_ms`, to a key's counters for that UTC day and hour: one
/// statement whatever the outcome (the hour picks which of 24 statement texts).
pub fn record_key_attempt(
    db: &dyn Database,
    key_id: i64,
    model: &str,
    at_ms: i64,
    outcome: AttemptOutcome,
    tokens: Tokens,
    latency_ms: u64,
) -> Result<(), StoreError> {
    let flag = |o: AttemptOutcome| SqlValue::Integer((outcome == o).into());
    let ok = outcome == AttemptOutcome::Ok;
    let bucket = LATENCY_BUCKETS_SECS.iter().position(|le| latency_ms <= le * 1000);
    let (h, q) = HOUR_COLUMNS[utc_hour(at_ms)];
    let sql = format!(
        "INSERT INTO key_usage (key_id, model, day, requests, errors, rate_limited, invalid, overloaded, timeouts, \
         prompt_tokens, candidate_tokens, thought_tokens, latency_ms_total, ok_latency_ms, \
         lat_le_1, lat_le_2, lat_le_5, lat_le_10, lat_le_20, lat_le_60, lat_le_120, {h}, {q}) \
         VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?) \
         ON CONFLICT (key_id, model, day) DO UPDATE SET requests = requests + 1, errors = errors + excluded.errors, \
         rate_limited = rate_limited + excluded.rate_limited, invalid = invalid + excluded.invalid, \
         overloaded = overloaded + excluded.overloaded, timeouts = timeouts + excluded.timeouts, \
         prompt_tokens = prompt_tokens + excluded.prompt_tokens, \
         candidate_tokens = candidate_tokens + excluded.candidate_tokens, thought_tokens = thought_tokens + excluded.thought_tokens, \
         latency_ms_total = latency_ms_total + excluded.latency_ms_total, ok_latency_ms = ok_latency_ms + excluded.ok_latency_ms, \
         lat_le_1 = lat_le_1 + excluded.lat_le_1, lat_le_2 = lat_le_2 + excluded.lat_le_2, lat_le_5 = lat_le_5 + excluded.lat_le_5, \
         lat_le_10 = lat_le_10 + excluded.lat_le_10, lat_le_20 = lat_le_20 + excluded.lat_le_20, \
         lat_le_60 = lat_le_60 + excluded.lat_le_60, lat_le_120 = lat_le_120 + excluded.lat_le_120, \
         {h} = {h} + 1, {q} = {q} + excluded.{q}"
    );
    let mut params = vec![
        key_id.into(),
        model.into(),
        crate::pool::clock::utc_day(at_ms).into(),
        SqlValue::Integer((!ok).into()),
        flag(AttemptOutcome::RateLimited),
        flag(AttemptOutcome::Invalid),
        flag(AttemptOutcome::Overloaded),
        flag(AttemptOutcome::Timeout),
        tokens.prompt.into(),
        tokens.candidates.into(),
        tokens.thoughts.into(),
        latency_ms.into(),
        if ok { latency_ms.into() } else { SqlValue::Integer(0) },
    ];
    params.extend((0..LATENCY_BUCKETS_SECS.len()).map(|i| SqlValue::Integer((ok && bucket == Some(i)).into())));
    params.push(flag(AttemptOutcome::RateLimited));
    db.execute(&sql, &params)?;
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
    /// The key's row id.
    pub key_id: i64,
    /// The Gemini model.
    pub model: String,
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// Attempts made.
    pub requests: i64,
    /// Attempts that failed, for any reason.
    pub errors: i64,
    /// Of the failures, 429s.
    pub rate_limited: i64,
    /// Attempts the upstream refused the key on (invalid, suspended).
    pub invalid: i64,
    /// Attempts answered 5xx.
    pub overloaded: i64,
    /// Attempts with no answer in time.
    pub timeouts: i64,
    /// Prompt tokens of ok attempts.
    pub prompt_tokens: i64,
    /// Answer tokens of ok attempts (thoughts excluded).
    pub candidate_tokens: i64,
    /// Thought tokens of ok attempts.
    pub thought_tokens: i64,
}

/// Usage per key per model per day, newest day first, optionally from `since_day` on.
pub fn key_usage(db: &dyn Database, since_day: Option<&str>) -> Result<Vec<KeyUsageRow>, StoreError> {
    let rows = db.execute(
        "SELECT key_id, model, day, requests, errors, rate_limited, prompt_tokens, candidate_tokens, thought_tokens, \
         invalid, overloaded, timeouts FROM key_usage WHERE day >= ? ORDER BY day DESC, key_id, model",
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
                invalid: col_opt_i64(r, 9).unwrap_or(0),
                overloaded: col_opt_i64(r, 10).unwrap_or(0),
                timeouts: col_opt_i64(r, 11).unwrap_or(0),
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

/// Upstream attempts and 429s of one key and model in one UTC hour.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HourlyRow {
    /// The hour's start, unix milliseconds.
    pub hour: i64,
    /// The key's row id.
    pub key_id: i64,
    /// The Gemini model.
    pub model: String,
    /// Attempts made in the hour.
    pub requests: i64,
    /// Of them, 429s.
    pub rate_limited: i64,
}

/// Attempts and 429s per key, model and UTC hour for the 24 hours up to `now_ms` (the current
/// hour included), oldest first; hours without attempts are left out.
pub fn hourly(db: &dyn Database, now_ms: i64) -> Result<Vec<HourlyRow>, StoreError> {
    const HOUR: i64 = 3_600_000;
    let this_hour = now_ms.div_euclid(HOUR) * HOUR;
    let first = this_hour - 23 * HOUR;
    let columns: Vec<String> = HOUR_COLUMNS
        .iter()
        .flat_map(|(h, q)| [h.to_string(), q.to_string()])
        .collect();
    let rows = db.execute(
        &format!(
            "SELECT key_id, model, day, {} FROM key_usage WHERE day >= ? ORDER BY key_id, model",
            columns.join(", ")
        ),
        &[crate::pool::clock::utc_day(first).into()],
    )?;
    let mut out = Vec::new();
    for r in &rows {
        let day = col_string(r, 2)?;
        let Some(day_start) = day_start_ms(&day) else {
            continue;
        };
        for hour in 0..24 {
            let at = day_start + hour as i64 * HOUR;
            let requests = col_opt_i64(r, 3 + 2 * hour).unwrap_or(0);
            if at < first || at > this_hour || requests == 0 {
                continue;
            }
            out.push(HourlyRow {
                hour: at,
                key_id: col_i64(r, 0)?,
                model: col_string(r, 1)?,
                requests,
                rate_limited: col_opt_i64(r, 4 + 2 * hour).unwrap_or(0),
            });
        }
    }
    crate::sort::sort_by(&mut out, |a, b| {
        a.hour
            .cmp(&b.hour)
            .then(a.key_id.cmp(&b.key_id))
            .then(a.model.cmp(&b.model))
    });
    Ok(out)
}

/// The start of a `YYYY-MM-DD` UTC day in unix milliseconds.
fn day_start_ms(day: &str) -> Option<i64> {
    let mut parts = day.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (parts.next()??, parts.next()??, parts.next()??);
    let days = crate::pool::clock::days_from_civil(y, u32::try_from(m).ok()?, u32::try_from(d).ok()?);
    Some(days * 86_400_000)
}

/// Counts a client's request that did not succeed, by its final status class (429, other
/// 4xx, 5xx), for today.
pub fn record_client_failure(
    db: &dyn Database,
    client_id: i64,
    model: &str,
    day: &str,
    status: u16,
) -> Result<(), StoreError> {
    let column = match status {
        429 => "rate_limited",
        500.. => "failed_5xx",
        _ => "rejected_4xx",
    };
    db.execute(
        &format!(
            "INSERT INTO client_usage (client_id, model, day, {column}) VALUES (?, ?, ?, 1) \
             ON CONFLICT (client_id, model, day) DO UPDATE SET {column} = {column} + 1"
        ),
        &[client_id.into(), model.into(), day.into()],
    )?;
    Ok(())
}

/// Counts a request gempool refused itself (before or instead of an upstream answer) under a
/// short, fixed `reason` (see [`crate::metrics`]).
pub fn record_refusal(db: &dyn Database, day: &str, reason: &str) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO refusals (day, reason, requests) VALUES (?, ?, 1) \
         ON CONFLICT (day, reason) DO UPDATE SET requests = requests + 1",
        &[day.into(), reason.into()],
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
    /// The Gemini model.
    pub model: String,
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// Requests the key served.
    pub requests: i64,
    /// Of them, failures.
    pub errors: i64,
    /// Prompt tokens of successful requests.
    pub prompt_tokens: i64,
    /// Output tokens (answer and thoughts) of successful requests.
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
    /// The client key's row id.
    pub client_id: i64,
    /// The model.
    pub model: String,
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// Successful requests.
    pub requests: i64,
    /// Prompt tokens of successful requests.
    pub prompt_tokens: i64,
    /// Output tokens (answer and thoughts) of successful requests.
    pub output_tokens: i64,
    /// Requests answered 429 (the client's own limits, or every key cooling down).
    pub rate_limited: i64,
    /// Requests answered another 4xx.
    pub rejected_4xx: i64,
    /// Requests answered 5xx.
    pub failed_5xx: i64,
}

/// Usage per client per model per day, newest first.
pub fn client_usage(db: &dyn Database, since_day: Option<&str>) -> Result<Vec<ClientUsageRow>, StoreError> {
    let rows = db.execute(
        "SELECT client_id, model, day, requests, prompt_tokens, output_tokens, rate_limited, rejected_4xx, failed_5xx \
         FROM client_usage WHERE day >= ? ORDER BY day DESC, client_id, model",
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
                rate_limited: col_opt_i64(r, 6).unwrap_or(0),
                rejected_4xx: col_opt_i64(r, 7).unwrap_or(0),
                failed_5xx: col_opt_i64(r, 8).unwrap_or(0),
            })
        })
        .collect()
}

/// One entry of the request log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogEntry {
    /// When the request was logged (Unix ms).
    pub at: i64,
    /// The client key that made it, if any.
    pub client_id: Option<i64>,
    /// The pool key that answered last, if any.
    pub key_id: Option<i64>,
    /// The model, once resolved.
    pub model: Option<String>,
    /// The client protocol (`openai`, `anthropic`, `gemini`, ...).
    pub protocol: Option<String>,
    /// The HTTP status the client got.
    pub status: i64,
    /// Upstream attempts made.
    pub attempts: i64,
    /// The request's latency, in ms.
    pub latency_ms: i64,
    /// What went wrong, if anything (never a secret).
    pub error: Option<String>,
    /// The model the client asked for, when a model of its fallback chain answered (`model`).
    pub fallback_from: Option<String>,
}

/// How many log entries are kept (about: the log is trimmed every hundred entries, by the
/// trigger `request_log_trim` of `0005_accounting.sql`, which has this number too).
pub const LOG_CAPACITY: i64 = 1000;

/// The successful attempt a request-log row accounts for. Inserting the row adds it to the
/// key's counters (per model, day and hour, latency buckets), the client's usage and token
/// window, and the pure-proxy key's usage, through the triggers of `0005_accounting.sql`: the
/// whole accounting of a successful request is one statement, so one write transaction, and
/// concurrent requests never lose an update.
#[derive(Debug, Clone, PartialEq)]
pub struct OkAttempt {
    /// When the successful attempt started (its UTC day and hour are the counters' day and hour).
    pub started_ms: i64,
    /// From the attempt's start to the end of the answer.
    pub latency_ms: u64,
    /// The answer's tokens.
    pub tokens: Tokens,
    /// Pure-proxy mode: the short hash of the client's own key that answered.
    pub proxy_key_hash: Option<String>,
    /// What the success teaches the pool about its key (`0008_success_health.sql`).
    pub health: SuccessHealth,
}

/// What a successful attempt teaches the pool about its key, written by the request-log row's
/// trigger `request_log_key_health` (`0008_success_health.sql`) rather than by statements of
/// its own, so the success stays one write.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SuccessHealth {
    /// The adaptive strategy's sample: its weight (2 / (window + 1)) and the attempt's time to
    /// its answer; `None` under the other strategies.
    pub adaptive: Option<AdaptiveSample>,
    /// The key had strikes or a cooldown for the model: the success forgets them.
    pub clears_cooldown: bool,
}

/// One attempt for the adaptive strategy's success-rate and latency averages: exponential
/// moving averages over about `window` attempts (the setting `adaptive_window`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptiveSample {
    /// The new sample's weight, 2 / (window + 1).
    pub alpha: f64,
    /// The attempt's time to its answer (a whole reply read; a stream's headers).
    pub latency_ms: u64,
}

impl AdaptiveSample {
    /// A sample weighted for a moving average over about `window` attempts.
    pub fn new(window: u32, latency_ms: u64) -> Self {
        Self {
            alpha: 2.0 / (f64::from(window.max(1)) + 1.0),
            latency_ms,
        }
    }
}

/// Appends to the request log (one statement). With `ok`, the row also carries a successful
/// attempt, which the triggers add to the usage counters.
pub fn log_request(db: &dyn Database, e: &LogEntry, ok: Option<&OkAttempt>) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO request_log (at, client_id, key_id, model, protocol, status, attempts, latency_ms, error, \
         day, hour, prompt_tokens, candidate_tokens, thought_tokens, ok_ms, proxy_key, fallback_from, \
         adaptive_alpha, adaptive_ms, clears_cooldown) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            ok.map(|ok| crate::pool::clock::utc_day(ok.started_ms)).into(),
            ok.map(|ok| utc_hour(ok.started_ms) as i64).into(),
            ok.map_or(0, |ok| ok.tokens.prompt).into(),
            ok.map_or(0, |ok| ok.tokens.candidates).into(),
            ok.map_or(0, |ok| ok.tokens.thoughts).into(),
            ok.map(|ok| ok.latency_ms).into(),
            ok.and_then(|ok| ok.proxy_key_hash.clone()).into(),
            e.fallback_from.clone().into(),
            ok.and_then(|ok| ok.health.adaptive).map(|a| a.alpha).into(),
            ok.and_then(|ok| ok.health.adaptive).map(|a| a.latency_ms).into(),
            ok.is_some_and(|ok| ok.health.clears_cooldown).into(),
        ],
    )?;
    Ok(())
}

/// The most recent log entries, newest first.
pub fn recent_requests(db: &dyn Database, limit: i64) -> Result<Vec<LogEntry>, StoreError> {
    let rows = db.execute(
        "SELECT at, client_id, key_id, model, protocol, status, attempts, latency_ms, error, fallback_from \
         FROM request_log \
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
            fallback_from: col_opt_string(r, 9),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::MemoryDb;

    /// 2026-11-22 00:00 UTC.
    const DAY_22: i64 = 1_795_305_600_000;
    const HOUR: i64 = 3_600_000;

    #[test]
    fn attempts_accumulate_per_key_model_day() {
        let db = MemoryDb::new();
        assert_eq!(crate::pool::clock::utc_day(DAY_22), "2026-11-22");
        let t = Tokens {
            prompt: 10,
            candidates: 5,
            thoughts: 2,
        };
        let none = Tokens::default();
        record_key_attempt(&db, 1, "m", DAY_22 + 5 * HOUR, AttemptOutcome::Ok, t, 1500).unwrap();
        record_key_attempt(&db, 1, "m", DAY_22 + 5 * HOUR, AttemptOutcome::RateLimited, none, 10).unwrap();
        record_key_attempt(&db, 1, "m", DAY_22 + 23 * HOUR, AttemptOutcome::Invalid, none, 10).unwrap();
        record_key_attempt(&db, 1, "m", DAY_22 + 23 * HOUR, AttemptOutcome::Overloaded, none, 10).unwrap();
        record_key_attempt(&db, 1, "m", DAY_22 + 23 * HOUR, AttemptOutcome::Timeout, none, 10).unwrap();
        record_key_attempt(&db, 1, "m", DAY_22 + 24 * HOUR, AttemptOutcome::Error, none, 10).unwrap();
        add_key_tokens(&db, 1, "m", "2026-11-22", t).unwrap();
        let rows = key_usage(&db, None).unwrap();
        assert_eq!(rows.len(), 2);
        let today = rows.iter().find(|r| r.day == "2026-11-22").unwrap();
        assert_eq!((today.requests, today.errors, today.rate_limited), (5, 4, 1));
        assert_eq!((today.invalid, today.overloaded, today.timeouts), (1, 1, 1));
        assert_eq!(
            (today.prompt_tokens, today.candidate_tokens, today.thought_tokens),
            (20, 10, 4)
        );
        assert_eq!(key_usage(&db, Some("2026-11-23")).unwrap().len(), 1);
        let hours = db
            .execute(
                "SELECT h05, q05, h23, q23, ok_latency_ms, lat_le_1, lat_le_2, latency_ms_total FROM key_usage WHERE day = '2026-11-22'",
                &[],
            )
            .unwrap();
        let values: Vec<i64> = hours[0].iter().map(|v| v.as_i64().unwrap()).collect();
        assert_eq!(values, vec![2, 1, 3, 0, 1500, 0, 1, 1540]);

        // At 04:30 on the 23rd the last 24 hours run from 05:00 on the 22nd.
        let rows = hourly(&db, DAY_22 + 28 * HOUR + HOUR / 2).unwrap();
        let seen: Vec<(i64, i64, i64)> = rows
            .iter()
            .map(|r| ((r.hour - DAY_22) / HOUR, r.requests, r.rate_limited))
            .collect();
        assert_eq!(seen, vec![(5, 2, 1), (23, 3, 0), (24, 1, 0)]);
        let later = hourly(&db, DAY_22 + 29 * HOUR).unwrap();
        assert_eq!(later.len(), 2, "05:00 on the 22nd is more than 23 hours back");
    }

    /// A request-log row with a successful attempt counts exactly what the separate statements
    /// (before migration 5) counted: key usage with its hour and latency bucket, client usage,
    /// the client's token window, the pure-proxy key's usage.
    #[test]
    fn a_logged_success_counts_what_the_separate_statements_did() {
        let (before, now) = (MemoryDb::new(), MemoryDb::new());
        for db in [&before, &now] {
            db.execute(
                "INSERT INTO client_keys (id, name, key_hash, key_hint, created_at, tpm) VALUES (1, 'c', 'h', 'x', 0, 1000)",
                &[],
            )
            .unwrap();
        }
        let cases: [(u64, i64); 7] = [
            (0, 0),
            (1000, 5),
            (1001, 5),
            (2500, 23),
            (60_000, 23),
            (119_999, 24 + 3),
            (500_000, 24 + 3),
        ];
        for (i, &(latency, hour)) in cases.iter().enumerate() {
            let started = DAY_22 + hour * HOUR + 59_990;
            let ended = started + latency as i64;
            let day = crate::pool::clock::utc_day(started);
            let tokens = Tokens {
                prompt: 10 + i as u64,
                candidates: 5,
                thoughts: i as u64,
            };
            record_key_attempt(&before, 7, "m", started, AttemptOutcome::Ok, tokens, latency).unwrap();
            record_client(&before, 1, "m", &day, tokens, true).unwrap();
            crate::store::windows::add_tokens(&before, 1, tokens.total(), ended).unwrap();
            record_proxy_key(&before, "abcd", "m", &day, true, tokens).unwrap();

            let entry = LogEntry {
                at: started - 3,
                client_id: Some(1),
                key_id: Some(7),
                model: Some("m".into()),
                protocol: Some("gemini".into()),
                status: 200,
                attempts: 1,
                latency_ms: latency as i64 + 3,
                error: None,
                fallback_from: None,
            };
            let ok = OkAttempt {
                started_ms: started,
                latency_ms: latency,
                tokens,
                proxy_key_hash: Some("abcd".into()),
                health: SuccessHealth::default(),
            };
            log_request(&now, &entry, Some(&ok)).unwrap();
        }
        for table in ["key_usage", "client_usage", "client_windows", "proxy_key_usage"] {
            let sql = format!("SELECT * FROM {table} ORDER BY 1, 2, 3");
            let rows = now.execute(&sql, &[]).unwrap();
            assert!(!rows.is_empty(), "{table}");
            assert_eq!(before.execute(&sql, &[]).unwrap(), rows, "{table}");
        }
    }

    #[test]
    fn failover_then_success_counts_each_attempt_once() {
        let db = MemoryDb::new();
        let at = DAY_22 + 9 * HOUR;
        let none = Tokens::default();
        // Key 1 answered 429 (counted when it happened), key 2 answered.
        record_key_attempt(&db, 1, "m", at, AttemptOutcome::RateLimited, none, 40).unwrap();
        let tokens = Tokens {
            prompt: 3,
            candidates: 4,
            thoughts: 5,
        };
        let entry = LogEntry {
            at,
            client_id: Some(9),
            key_id: Some(2),
            model: Some("m".into()),
            protocol: None,
            status: 200,
            attempts: 2,
            latency_ms: 300,
            error: None,
            fallback_from: None,
        };
        let ok = OkAttempt {
            started_ms: at + 40,
            latency_ms: 260,
            tokens,
            proxy_key_hash: None,
            health: SuccessHealth::default(),
        };
        log_request(&db, &entry, Some(&ok)).unwrap();
        let rows = key_usage(&db, None).unwrap();
        let counts: Vec<_> = rows
            .iter()
            .map(|r| (r.key_id, r.requests, r.errors, r.rate_limited, r.prompt_tokens))
            .collect();
        assert_eq!(counts, vec![(1, 1, 1, 1, 0), (2, 1, 0, 0, 3)]);
        let clients = client_usage(&db, None).unwrap();
        assert_eq!(clients.len(), 1);
        assert_eq!((clients[0].requests, clients[0].output_tokens), (1, 9));
        // Client 9 has no TPM limit: no token window to keep.
        let windows = db.execute("SELECT COUNT(*) FROM client_windows", &[]).unwrap();
        assert_eq!(windows[0][0], SqlValue::Integer(0));
        let hours = hourly(&db, at).unwrap();
        let seen: Vec<_> = hours.iter().map(|h| (h.key_id, h.requests, h.rate_limited)).collect();
        assert_eq!(seen, vec![(1, 1, 1), (2, 1, 0)]);
        assert!(proxy_usage(&db, None).unwrap().is_empty());

        // A refusal's row counts nothing; a stream that broke off counts as an error of the
        // pure-proxy key.
        log_request(
            &db,
            &LogEntry {
                status: 401,
                ..entry.clone()
            },
            None,
        )
        .unwrap();
        assert_eq!(key_usage(&db, None).unwrap().len(), 2);
        let broken = OkAttempt {
            proxy_key_hash: Some("ffff".into()),
            ..ok
        };
        let entry = LogEntry {
            key_id: None,
            client_id: None,
            error: Some("cut".into()),
            ..entry
        };
        log_request(&db, &entry, Some(&broken)).unwrap();
        let proxy = proxy_usage(&db, None).unwrap();
        assert_eq!((proxy[0].requests, proxy[0].errors, proxy[0].output_tokens), (1, 1, 9));
        assert_eq!(client_usage(&db, None).unwrap()[0].requests, 1);
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
            fallback_from: None,
        };
        for _ in 0..(LOG_CAPACITY + 250) {
            log_request(&db, &e, None).unwrap();
        }
        let count = db.execute("SELECT COUNT(*) FROM request_log", &[]).unwrap();
        assert!(col_i64(&count[0], 0).unwrap() <= LOG_CAPACITY + 100);
        assert_eq!(recent_requests(&db, 5).unwrap().len(), 5);
    }
}
