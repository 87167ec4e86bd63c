//! The `settings` table: pool settings, model aliases and the admin key's hash.
//!
//! Settings are read once per request (one query) and written by the admin API; a change
//! applies to the next request.

use super::{col_string, Database, StoreError};

/// Name of the setting holding the lowercase hex SHA-256 of the generated admin key.
pub const ADMIN_KEY_HASH: &str = "admin_key_sha256";
/// Prefix of alias settings: `alias:gpt-4o` -> `gemini-2.5-pro`.
pub const ALIAS_PREFIX: &str = "alias:";

/// All settings as (name, value) pairs.
pub fn load(db: &dyn Database) -> Result<Vec<(String, String)>, StoreError> {
    db.execute("SELECT name, value FROM settings", &[])?
        .iter()
        .map(|r| Ok((col_string(r, 0)?, col_string(r, 1)?)))
        .collect()
}

/// The schema version and all settings in one statement: the first thing every request reads.
/// `Err` when the schema is missing altogether.
pub fn load_with_schema_version(db: &dyn Database) -> Result<(i64, Vec<(String, String)>), StoreError> {
    let rows = db.execute(
        "SELECT 0, name, value FROM settings UNION ALL SELECT 1, '', MAX(version) FROM schema_migrations",
        &[],
    )?;
    let mut version = 0;
    let mut pairs = Vec::with_capacity(rows.len());
    for row in &rows {
        if super::col_opt_i64(row, 0) == Some(1) {
            version = super::col_opt_i64(row, 2).unwrap_or(0);
        } else {
            pairs.push((col_string(row, 1)?, col_string(row, 2)?));
        }
    }
    Ok((version, pairs))
}

/// Sets one setting.
pub fn put(db: &dyn Database, name: &str, value: &str) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        &[name.into(), value.into()],
    )?;
    Ok(())
}

/// Removes one setting (falls back to the default). Returns false if it was not set.
pub fn remove(db: &dyn Database, name: &str) -> Result<bool, StoreError> {
    Ok(!db
        .execute("DELETE FROM settings WHERE name = ? RETURNING name", &[name.into()])?
        .is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::MemoryDb;

    #[test]
    fn settings_come_with_the_schema_version() {
        let db = MemoryDb::new();
        put(&db, "strategy", "random").unwrap();
        let (version, pairs) = load_with_schema_version(&db).unwrap();
        assert_eq!(version, crate::store::migrate::latest_version());
        assert_eq!(pairs, vec![("strategy".to_string(), "random".to_string())]);
        let empty = crate::store::testing::MemoryDb(rusqlite::Connection::open_in_memory().unwrap());
        assert!(load_with_schema_version(&empty).is_err(), "no schema yet");
    }

    #[test]
    fn put_overwrites_and_remove_deletes() {
        let db = MemoryDb::new();
        put(&db, "strategy", "random").unwrap();
        put(&db, "strategy", "least_used").unwrap();
        assert_eq!(
            load(&db).unwrap(),
            vec![("strategy".to_string(), "least_used".to_string())]
        );
        assert!(remove(&db, "strategy").unwrap());
        assert!(!remove(&db, "strategy").unwrap());
        assert!(load(&db).unwrap().is_empty());
    }
}
