//! Client key limits: fixed-window request and token counters (per minute, per UTC day).
//!
//! A request is counted before it goes upstream with one `INSERT .. ON CONFLICT .. RETURNING`
//! per window, so concurrent requests of one client cannot all slip under the limit; a
//! request refused for a limit is uncounted again. Tokens are added when the answer is known.

use super::{col_opt_i64, Database, SqlValue, StoreError};
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

fn bump(db: &dyn Database, client: i64, window: &str, expires: i64, delta: i64) -> Result<(i64, i64), StoreError> {
    let rows = db.execute(
        "INSERT INTO client_windows (client_id, window, requests, expires) VALUES (?, ?, ?, ?) \
         ON CONFLICT (client_id, window) DO UPDATE SET requests = requests + excluded.requests \
         RETURNING requests, tokens",
        &[client.into(), window.into(), SqlValue::Integer(delta), expires.into()],
    )?;
    let row = rows.first();
    Ok((
        row.and_then(|r| col_opt_i64(r, 0)).unwrap_or(0),
        row.and_then(|r| col_opt_i64(r, 1)).unwrap_or(0),
    ))
}

/// Counts one request against the client's RPM/RPD/TPM limits, or refuses it (uncounted).
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
    let (minute_requests, minute_tokens) = bump(db, client, &minute, minute_end, 1)?;
    let mut refused = None;
    if let Some(rpm) = limits.rpm.filter(|&rpm| minute_requests > rpm) {
        refused = Some(LimitExceeded {
            limit: "requests per minute",
            value: rpm,
            retry_after_secs: secs_until(minute_end),
        });
    } else if let Some(tpm) = limits.tpm.filter(|&tpm| minute_tokens >= tpm) {
        refused = Some(LimitExceeded {
            limit: "tokens per minute",
            value: tpm,
            retry_after_secs: secs_until(minute_end),
        });
    }
    if refused.is_none() {
        if let Some(rpd) = limits.rpd {
            let (day_requests, _) = bump(db, client, &day, day_end, 1)?;
            if day_requests > rpd {
                bump(db, client, &day, day_end, -1)?;
                refused = Some(LimitExceeded {
                    limit: "requests per day",
                    value: rpd,
                    retry_after_secs: secs_until(day_end),
                });
            }
        }
    }
    if let Some(refused) = refused {
        bump(db, client, &minute, minute_end, -1)?;
        return Ok(Err(refused));
    }
    // Old windows are dropped now and then rather than by a job.
    if minute_requests == 1 {
        db.execute("DELETE FROM client_windows WHERE expires < ?", &[now_ms.into()])?;
    }
    Ok(Ok(()))
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

    #[test]
    fn no_limits_touch_nothing() {
        let db = MemoryDb::new();
        assert!(admit(&db, 1, &ClientLimits::default(), T0).unwrap().is_ok());
        let rows = db.execute("SELECT COUNT(*) FROM client_windows", &[]).unwrap();
        assert_eq!(rows[0][0], SqlValue::Integer(0));
    }
}
