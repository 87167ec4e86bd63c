//! The `model_lists` table: the upstream's model list per pool and API version, so listing
//! models (native, OpenAI and Anthropic) costs no upstream quota. A list is refreshed at most
//! every [`MAX_AGE_MS`]: one read per listing, one write per pool and hour.

use super::{col_i64, col_string, Database, StoreError};

/// How long a cached list is served before it is fetched again (one hour).
pub const MAX_AGE_MS: i64 = 3_600_000;
/// The pool name of the stored pool (a pure-proxy caller's own keys are `own:<hash>`).
pub const STORED_POOL: &str = "stored";

/// A cached list: when it was fetched (Unix ms) and its JSON (Gemini's `ListModelsResponse`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedList {
    /// When the upstream answered it (Unix ms).
    pub fetched_at: i64,
    /// The whole list, as JSON.
    pub body: String,
}

impl CachedList {
    /// Whether it is young enough to serve without asking the upstream.
    pub fn is_fresh(&self, now_ms: i64) -> bool {
        (0..MAX_AGE_MS).contains(&(now_ms - self.fetched_at))
    }
}

/// The cached list of `pool` for API `version`, if any.
pub fn get(db: &dyn Database, pool: &str, version: &str) -> Result<Option<CachedList>, StoreError> {
    let rows = db.execute(
        "SELECT fetched_at, body FROM model_lists WHERE pool = ? AND version = ?",
        &[pool.into(), version.into()],
    )?;
    rows.first()
        .map(|row| {
            Ok(CachedList {
                fetched_at: col_i64(row, 0)?,
                body: col_string(row, 1)?,
            })
        })
        .transpose()
}

/// Stores the list of `pool` for API `version` fetched at `now_ms` (replacing the older one).
pub fn put(db: &dyn Database, pool: &str, version: &str, now_ms: i64, body: &str) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO model_lists (pool, version, fetched_at, body) VALUES (?, ?, ?, ?) \
         ON CONFLICT (pool, version) DO UPDATE SET fetched_at = excluded.fetched_at, body = excluded.body",
        &[pool.into(), version.into(), now_ms.into(), body.into()],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::MemoryDb;

    #[test]
    fn a_list_is_kept_per_pool_and_version_and_fresh_for_an_hour() {
        let db = MemoryDb::new();
        assert_eq!(get(&db, STORED_POOL, "v1beta").unwrap(), None);
        put(&db, STORED_POOL, "v1beta", 1_000, r#"{"models":[]}"#).unwrap();
        put(&db, STORED_POOL, "v1beta", 2_000, r#"{"models":[{"name":"models/m"}]}"#).unwrap();
        put(&db, "own:abc", "v1beta", 5, "{}").unwrap();
        let list = get(&db, STORED_POOL, "v1beta").unwrap().unwrap();
        assert_eq!(list.fetched_at, 2_000);
        assert!(list.body.contains("models/m"));
        assert_eq!(get(&db, STORED_POOL, "v1").unwrap(), None);
        assert!(list.is_fresh(2_000 + MAX_AGE_MS - 1));
        assert!(!list.is_fresh(2_000 + MAX_AGE_MS));
        assert!(
            !list.is_fresh(1_000),
            "a list from the future (a clock step back) is refetched"
        );
    }
}
