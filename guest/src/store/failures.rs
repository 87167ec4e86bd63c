//! Store writes that failed: counted, logged, and kept for `/metrics`, never silent.
//!
//! The bookkeeping writes of a request (its request-log row, usage and refusal counters, key
//! effects) must not fail the request: the client's answer is already decided when they run.
//! So each failure is noted in the instance's [`WriteFailures`] instead: a line on stderr
//! (the operation and the database's message, which never holds a secret: secrets travel only
//! as bound parameters), and once the request is done one statement adds the counts to the
//! `counters` table ([`WriteFailures::flush`]), which `/metrics` renders as
//! `gempool_store_write_failures_total{op}`. When even that statement fails, stderr is all
//! there is; it says so.

use super::{col_i64, col_string, Database, StoreError};
use std::cell::RefCell;
use std::collections::BTreeMap;

/// The prefix of a write-failure counter's name in the `counters` table; the operation follows.
pub const COUNTER_PREFIX: &str = "store_write_failures:";

/// The bookkeeping writes a request makes, as the `op` label names them. A fixed, short list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum WriteOp {
    /// The request-log row (whole replies and refusals; its triggers count the attempt).
    RequestLog,
    /// The request-log row of a finished stream.
    StreamLog,
    /// A refusal counter (`gempool_requests_refused_total`).
    Refusal,
    /// A client key's failure counter.
    ClientFailure,
    /// A pure-proxy key's counter.
    ProxyKey,
    /// A failed attempt on a pool key.
    KeyAttempt,
    /// A pool key's success (strikes and breaker cleared).
    KeySuccess,
    /// A cooldown, breaker or disable applied to a pool key.
    KeyEffect,
    /// The adaptive strategy's recent outcome of a key.
    RecentOutcome,
    /// Claiming the half-open probe of a key's breaker.
    ProbeClaim,
    /// Taking the round-robin ticket (on failure the request's seed is used instead).
    Ticket,
    /// Remembering (or forgetting) which key holds a file, cache, batch or operation.
    Resource,
    /// Reading or storing the cached model list (on failure the upstream is asked).
    ModelList,
}

impl WriteOp {
    /// The `op` label.
    pub fn name(self) -> &'static str {
        match self {
            WriteOp::RequestLog => "request_log",
            WriteOp::StreamLog => "stream_log",
            WriteOp::Refusal => "refusal",
            WriteOp::ClientFailure => "client_failure",
            WriteOp::ProxyKey => "proxy_key",
            WriteOp::KeyAttempt => "key_attempt",
            WriteOp::KeySuccess => "key_success",
            WriteOp::KeyEffect => "key_effect",
            WriteOp::RecentOutcome => "recent_outcome",
            WriteOp::ProbeClaim => "probe_claim",
            WriteOp::Ticket => "round_robin_ticket",
            WriteOp::Resource => "resource",
            WriteOp::ModelList => "model_list",
        }
    }
}

/// The write failures of one instance (one request), until [`flush`](Self::flush)ed.
#[derive(Debug, Default)]
pub struct WriteFailures {
    counts: RefCell<BTreeMap<WriteOp, i64>>,
}

impl WriteFailures {
    /// Passes a write's result through, noting a failure: counted and logged to stderr.
    pub fn check<T>(&self, op: WriteOp, result: Result<T, StoreError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                eprintln!("gempool: store write {} failed: {error}", op.name());
                *self.counts.borrow_mut().entry(op).or_insert(0) += 1;
                None
            }
        }
    }

    /// The failures noted so far, per operation.
    pub fn counts(&self) -> Vec<(WriteOp, i64)> {
        self.counts.borrow().iter().map(|(op, n)| (*op, *n)).collect()
    }

    /// Adds the failures noted so far to the stored counters (one statement per operation
    /// that failed; none when nothing failed) and forgets them.
    pub fn flush(&self, db: &dyn Database) {
        let counts = std::mem::take(&mut *self.counts.borrow_mut());
        for (op, n) in counts {
            if let Err(error) = add(db, op, n) {
                eprintln!(
                    "gempool: {n} failed store write(s) of {} could not be counted either: {error}",
                    op.name()
                );
            }
        }
    }
}

/// Adds `n` to the stored failure counter of `op`.
fn add(db: &dyn Database, op: WriteOp, n: i64) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO counters (name, value) VALUES (?, ?) \
         ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
        &[format!("{COUNTER_PREFIX}{}", op.name()).into(), n.into()],
    )?;
    Ok(())
}

/// Every stored failure counter: (op, failures), by op.
pub fn totals(db: &dyn Database) -> Result<Vec<(String, i64)>, StoreError> {
    db.execute(
        "SELECT substr(name, ?), value FROM counters WHERE substr(name, 1, ?) = ? ORDER BY name",
        &[
            i64::try_from(COUNTER_PREFIX.len() + 1).unwrap_or(i64::MAX).into(),
            i64::try_from(COUNTER_PREFIX.len()).unwrap_or(i64::MAX).into(),
            COUNTER_PREFIX.into(),
        ],
    )?
    .iter()
    .map(|r| Ok((col_string(r, 0)?, col_i64(r, 1)?)))
    .collect()
}

#[cfg(test)]
pub(crate) mod testing {
    //! A [`Database`] whose writes fail on demand, over the in-memory one.
    use super::super::testing::MemoryDb;
    use super::super::{Row, SqlValue};
    use super::*;

    /// Fails every statement whose text contains one of `failing`; runs the others.
    pub struct FailingDb {
        /// The database behind.
        pub inner: MemoryDb,
        /// Substrings of the statements that fail.
        pub failing: RefCell<Vec<&'static str>>,
    }

    impl FailingDb {
        pub fn new(failing: &[&'static str]) -> Self {
            FailingDb {
                inner: MemoryDb::new(),
                failing: RefCell::new(failing.to_vec()),
            }
        }
    }

    impl Database for FailingDb {
        fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>, StoreError> {
            if self.failing.borrow().iter().any(|f| sql.contains(f)) {
                return Err(StoreError("database is locked".into()));
            }
            self.inner.execute(sql, params)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::FailingDb;
    use super::*;

    #[test]
    fn a_failed_write_is_counted_and_stored_once_flushed() {
        let db = FailingDb::new(&["INSERT INTO refusals"]);
        let failures = WriteFailures::default();
        let day = "2026-12-03";
        assert_eq!(
            failures.check(WriteOp::Refusal, super::super::usage::record_refusal(&db, day, "x")),
            None
        );
        assert_eq!(failures.check(WriteOp::Refusal, Ok::<_, StoreError>(7)), Some(7));
        failures.check(WriteOp::Refusal, super::super::usage::record_refusal(&db, day, "x"));
        assert_eq!(failures.counts(), vec![(WriteOp::Refusal, 2)]);
        failures.flush(&db);
        assert!(failures.counts().is_empty());
        failures.check(WriteOp::RequestLog, Err::<(), _>(StoreError("disk I/O error".into())));
        failures.flush(&db);
        assert_eq!(
            totals(&db).unwrap(),
            vec![("refusal".to_owned(), 2), ("request_log".to_owned(), 1)]
        );
    }

    #[test]
    fn a_failure_that_cannot_be_counted_is_dropped_after_its_log_line() {
        let db = FailingDb::new(&["counters"]);
        let failures = WriteFailures::default();
        failures.check(
            WriteOp::KeyEffect,
            Err::<(), _>(StoreError("database is locked".into())),
        );
        failures.flush(&db);
        assert!(failures.counts().is_empty());
        db.failing.borrow_mut().clear();
        assert!(totals(&db).unwrap().is_empty());
    }
}
