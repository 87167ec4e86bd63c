//! Client key limits: fixed-window request and token counters (per minute, per UTC day).
//!
//! A request is counted before it goes upstream with one `INSERT .. ON CONFLICT .. RETURNING`
//! over its windows, so concurrent requests of one client cannot all slip under the limit; a
//! request refused for a limit is uncounted again. Tokens are added when the answer is known.

use super::{col_opt_i64, col_string, Database, SqlValue, StoreError};
use crate::store::clients::ClientLimits;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;

/// Which limit refused a request, and when the window resets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitExceeded {
    /// The limit's name, e.g. `requests per minute`.
    pub limit: &'static str,
    /// Its value.
    pub value: i64,
    /// Seconds until the window resets.
    pub retry_after_secs: u64,
}

fn minute_window(now_ms: i64) -> (String, i64) {
    let start = now_ms - now_ms.rem_euclid(MINUTE_MS);
    (format!("m{}", start / MINUTE_MS), start + MINUTE_MS)
}

fn day_window(now_ms: i64) -> (String, i64) {
    let start = now_ms - now_ms.rem_euclid(DAY_MS);
    (format!("d{}", crate::pool::clock::utc_day(now_ms)), start + DAY_MS)
}

/// Adds `delta` requests to each of the client's `windows` (name, end) in one statement (one
/// write); returns each window's (requests, tokens) after it.
fn count_in(
    db: &dyn Database,
    client: i64,
    windows: &[(&str, i64)],
    delta: i64,
) -> Result<Vec<(String, i64, i64)>, StoreError> {
    let values = vec!["(?, ?, ?, ?)"; windows.len()].join(", ");
    let sql = format!(
        "INSERT INTO client_windows (client_id, window, requests, expires) VALUES {values} \
         ON CONFLICT (client_id, window) DO UPDATE SET requests = requests + excluded.requests \
         RETURNING window, requests, tokens"
    );
    let params: Vec<SqlValue> = windows
        .iter()
        .flat_map(|&(window, expires)| [client.into(), window.into(), SqlValue::Integer(delta), expires.into()])
        .collect();
    db.execute(&sql, &params)?
        .iter()
        .map(|row| {
            Ok((
                col_string(row, 0)?,
                col_opt_i64(row, 1).unwrap_or(0),
                col_opt_i64(row, 2).unwrap_or(0),
            ))
        })
        .collect()
}

/// Counts one request against the client's RPM/RPD/TPM limits, or refuses it (uncounted).
///
/// The request windows (minute, day) are counted in one statement, before the request goes
/// upstream, so concurrent requests of one client cannot all slip under a limit: with a request
/// limit a successful request costs this write and its request-log row. A TPM limit alone is a
/// read (tokens are added by the request-log row when the answer is known). Ended windows are
/// dropped by the trigger `client_windows_expire` (`0008_success_health.sql`).
pub fn admit(
    db: &dyn Database,
    client: i64,
    limits: &ClientLimits,
    now_ms: i64,
) -> Result<Result<(), LimitExceeded>, StoreError> {
    if limits.rpm.is_none() && limits.rpd.is_none() && limits.tpm.is_none() {
        return Ok(Ok(()));
    }
    let (minute, minute_end) = minute_window(now_ms);
    let (day, day_end) = day_window(now_ms);
    let secs_until = |end: i64| ((end - now_ms).max(0) as u64).div_ceil(1000).max(1);
    let mut windows = Vec::new();
    if limits.rpm.is_some() {
        windows.push((minute.as_str(), minute_end));
    }
    if limits.rpd.is_some() {
        windows.push((day.as_str(), day_end));
    }
    let counted = if windows.is_empty() {
        Vec::new()
    } else {
        count_in(db, client, &windows, 1)?
    };
    let after = |window: &str| counted.iter().find(|(name, ..)| name == window);
    let minute_tokens = match (after(&minute), limits.tpm) {
        (Some(&(_, _, tokens)), _) => tokens,
        (None, Some(_)) => db
            .execute(
                "SELECT tokens FROM client_windows WHERE client_id = ? AND window = ?",
                &[client.into(), minute.as_str().into()],
            )?
            .first()
            .and_then(|row| col_opt_i64(row, 0))
            .unwrap_or(0),
        (None, None) => 0,
    };
    let requests_in = |window: &str| after(window).map_or(0, |&(_, requests, _)| requests);
    let exceeded = |limit: &'static str, value: i64, end: i64| LimitExceeded {
        limit,
        value,
        retry_after_secs: secs_until(end),
    };
    let refused = limits
        .rpm
        .filter(|&rpm| requests_in(&minute) > rpm)
        .map(|rpm| exceeded("requests per minute", rpm, minute_end))
        .or_else(|| {
            let tpm = limits.tpm.filter(|&tpm| minute_tokens >= tpm)?;
            Some(exceeded("tokens per minute", tpm, minute_end))
        })
        .or_else(|| {
            let rpd = limits.rpd.filter(|&rpd| requests_in(&day) > rpd)?;
            Some(exceeded("requests per day", rpd, day_end))
        });
    match refused {
        Some(refused) => {
            if !windows.is_empty() {
                count_in(db, client, &windows, -1)?;
            }
            Ok(Err(refused))
        }
        None => Ok(Ok(())),
    }
}

/// Adds the tokens of a finished request to the client's current minute.
pub fn add_tokens(db: &dyn Database, client: i64, tokens: u64, now_ms: i64) -> Result<(), StoreError> {
    if tokens == 0 {
        return Ok(());
    }
    let (minute, minute_end) = minute_window(now_ms);
    db.execute(
        "INSERT INTO client_windows (client_id, window, tokens, expires) VALUES (?, ?, ?, ?) \
         ON CONFLICT (client_id, window) DO UPDATE SET tokens = tokens + excluded.tokens",
        &[client.into(), minute.into(), tokens.into(), minute_end.into()],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::MemoryDb;

    const T0: i64 = 1_763_800_000_000; // some minute in 2025

    #[test]
    fn requests_per_minute_are_enforced_and_reset_with_the_minute() {
        let db = MemoryDb::new();
        let limits = ClientLimits {
            rpm: Some(2),
            ..Default::default()
        };
        let start = T0 - T0 % MINUTE_MS;
        assert_eq!(admit(&db, 1, &limits, start).unwrap(), Ok(()));
        assert_eq!(admit(&db, 1, &limits, start + 1).unwrap(), Ok(()));
        let refused = admit(&db, 1, &limits, start + 30_000).unwrap().unwrap_err();
        assert_eq!(
            (refused.limit, refused.value, refused.retry_after_secs),
            ("requests per minute", 2, 30)
        );
        // A refused request is not counted: still refused, not further behind.
        assert!(admit(&db, 1, &limits, start + 59_000).unwrap().is_err());
        assert_eq!(admit(&db, 1, &limits, start + MINUTE_MS).unwrap(), Ok(()));
        // Another client has its own window.
        assert_eq!(admit(&db, 2, &limits, start + 30_000).unwrap(), Ok(()));
    }

    #[test]
    fn tokens_per_minute_refuse_once_spent() {
        let db = MemoryDb::new();
        let limits = ClientLimits {
            tpm: Some(100),
            ..Default::default()
        };
        assert!(admit(&db, 1, &limits, T0).unwrap().is_ok());
        add_tokens(&db, 1, 60, T0).unwrap();
        assert!(admit(&db, 1, &limits, T0).unwrap().is_ok());
        add_tokens(&db, 1, 50, T0).unwrap();
        let refused = admit(&db, 1, &limits, T0).unwrap().unwrap_err();
        assert_eq!(refused.limit, "tokens per minute");
        let next_minute = T0 - T0 % MINUTE_MS + MINUTE_MS;
        assert!(admit(&db, 1, &limits, next_minute - 1).unwrap().is_err());
        assert!(
            admit(&db, 1, &limits, next_minute).unwrap().is_ok(),
            "the tokens were spent in the previous minute"
        );
    }

    #[test]
    fn requests_per_day_are_enforced() {
        let db = MemoryDb::new();
        let limits = ClientLimits {
            rpd: Some(3),
            ..Default::default()
        };
        for i in 0..3 {
            assert!(admit(&db, 1, &limits, T0 + i * MINUTE_MS).unwrap().is_ok());
        }
        let refused = admit(&db, 1, &limits, T0 + 5 * MINUTE_MS).unwrap().unwrap_err();
        assert_eq!(refused.limit, "requests per day");
        assert!(refused.retry_after_secs > 0 && refused.retry_after_secs <= 86_400);
        assert!(
            admit(&db, 1, &limits, T0 + DAY_MS).unwrap().is_ok(),
            "a new UTC day resets it"
        );
    }

    /// Counts the statements that are not reads.
    struct Counting<'a>(&'a MemoryDb, std::cell::Cell<usize>);

    impl Database for Counting<'_> {
        fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<super::super::Row>, StoreError> {
            if !sql.trim_start().starts_with("SELECT") {
                self.1.set(self.1.get() + 1);
            }
            self.0.execute(sql, params)
        }
    }

    #[test]
    fn a_request_limit_costs_one_write_and_a_token_limit_alone_none() {
        let db = MemoryDb::new();
        let counting = Counting(&db, Default::default());
        let every = ClientLimits {
            rpm: Some(2),
            rpd: Some(10),
            tpm: Some(1_000),
            ..Default::default()
        };
        assert!(admit(&counting, 1, &every, T0).unwrap().is_ok());
        assert_eq!(counting.1.replace(0), 1, "minute and day counted in one statement");
        let tokens_only = ClientLimits {
            tpm: Some(1_000),
            ..Default::default()
        };
        assert!(admit(&counting, 2, &tokens_only, T0).unwrap().is_ok());
        assert_eq!(counting.1.replace(0), 0, "a TPM limit alone is read, not counted");
        assert!(admit(&counting, 1, &every, T0).unwrap().is_ok());
        counting.1.set(0);
        // A refusal is counted and uncounted: the day keeps only what was served.
        assert!(admit(&counting, 1, &every, T0).unwrap().is_err());
        assert_eq!(counting.1.get(), 2);
        let (day, _) = day_window(T0);
        let rows = db
            .execute(
                "SELECT requests FROM client_windows WHERE client_id = 1 AND window = ?",
                &[day.into()],
            )
            .unwrap();
        assert_eq!(rows[0][0], SqlValue::Integer(2));
    }

    #[test]
    fn ended_windows_are_dropped_when_a_new_minute_opens() {
        let db = MemoryDb::new();
        let limits = ClientLimits {
            rpm: Some(5),
            rpd: Some(100),
            ..Default::default()
        };
        let start = T0 - T0 % MINUTE_MS;
        assert!(admit(&db, 1, &limits, start).unwrap().is_ok());
        assert!(admit(&db, 2, &limits, start + 1).unwrap().is_ok());
        let windows = || {
            let rows = db
                .execute("SELECT client_id, window FROM client_windows ORDER BY 1, 2", &[])
                .unwrap();
            rows.iter()
                .map(|r| {
                    format!(
                        "{}:{}",
                        r[0].as_i64().unwrap(),
                        r[1].as_str().unwrap().chars().next().unwrap()
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(windows(), ["1:d", "1:m", "2:d", "2:m"]);
        // Client 1's next minute ends both clients' previous minutes; the days go on.
        assert!(admit(&db, 1, &limits, start + MINUTE_MS).unwrap().is_ok());
        assert_eq!(windows(), ["1:d", "1:m", "2:d"]);
        // A new day's first minute ends the old days too.
        assert!(admit(&db, 2, &limits, start - start % DAY_MS + DAY_MS).unwrap().is_ok());
        assert_eq!(windows(), ["2:d", "2:m"]);
    }

    #[test]
    fn no_limits_touch_nothing() {
        let db = MemoryDb::new();
        assert!(admit(&db, 1, &ClientLimits::default(), T0).unwrap().is_ok());
        let rows = db.execute("SELECT COUNT(*) FROM client_windows", &[]).unwrap();
        assert_eq!(rows[0][0], SqlValue::Integer(0));
    }
}
