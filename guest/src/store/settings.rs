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
