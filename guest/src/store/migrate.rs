//! Applies the schema on first use, with the runner shared with the bundled host
//! ([`gempool_schema`]: the migrations, their recorded names, the statement splitter).
//!
//! [`Database`] sends one statement per call, as Spin's sqlite interface and D1 do; it has no
//! transactions across calls, so the runner relies on every statement being idempotent and the
//! version row being written with `INSERT OR IGNORE`: two instances migrating at once is safe.

use super::{Database, SqlValue, StoreError};

/// The schema version this build expects.
pub fn latest_version() -> i64 {
    gempool_schema::latest_version()
}

/// [`Database`] as the runner sees it.
struct Runner<'a>(&'a dyn Database);

impl gempool_schema::Sql for Runner<'_> {
    type Error = StoreError;
    fn execute(&self, statement: &str) -> Result<(), StoreError> {
        self.0.execute(statement, &[]).map(drop)
    }
    fn integers(&self, query: &str) -> Result<Vec<i64>, StoreError> {
        self.0
            .execute(query, &[])?
            .iter()
            .filter(|row| row.first().is_some_and(|v| *v != SqlValue::Null))
            .map(|row| super::col_i64(row, 0))
            .collect()
    }
}

impl From<gempool_schema::Error<StoreError>> for StoreError {
    fn from(e: gempool_schema::Error<StoreError>) -> Self {
        match e.migration {
            Some(name) => StoreError(format!("applying migration {name}: {}", e.source.0)),
            None => StoreError(format!("reading the schema version: {}", e.source.0)),
        }
    }
}

/// The version the database is at (the highest applied); 0 when it has no schema yet. Failing
/// to read it is an error.
pub fn current_version(db: &dyn Database) -> Result<i64, StoreError> {
    Ok(gempool_schema::applied_versions(&Runner(db))?
        .last()
        .copied()
        .unwrap_or(0))
}

/// Brings the schema up to [`latest_version`].
pub fn ensure_schema(db: &dyn Database) -> Result<(), StoreError> {
    gempool_schema::migrate(&Runner(db), gempool_schema::MIGRATIONS)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::MemoryDb;

    #[test]
    fn fresh_database_gets_the_latest_schema() {
        let db = MemoryDb::new();
        assert_eq!(current_version(&db).unwrap(), latest_version());
        let rows = db
            .execute("SELECT value FROM counters WHERE name = 'round_robin'", &[])
            .unwrap();
        assert_eq!(rows[0][0], SqlValue::Integer(0));
        let names = db
            .execute("SELECT name FROM schema_migrations WHERE version = 1", &[])
            .unwrap();
        assert_eq!(names[0][0], SqlValue::from("0001_init"));
    }

    #[test]
    fn applying_twice_is_harmless() {
        let db = MemoryDb::new();
        db.execute("INSERT INTO settings (name, value) VALUES ('x', '1')", &[])
            .unwrap();
        db.execute("DELETE FROM schema_migrations", &[]).unwrap();
        ensure_schema(&db).unwrap();
        assert_eq!(current_version(&db).unwrap(), latest_version());
        let rows = db.execute("SELECT value FROM settings WHERE name = 'x'", &[]).unwrap();
        assert_eq!(rows.len(), 1, "re-running a migration must not drop data");
    }

    #[test]
    fn databases_of_both_old_runners_upgrade() {
        // The old host recorded `0001_init.sql`, the old guest `0001_init`; both stopped at 4.
        for suffix in [".sql", ""] {
            let db = MemoryDb::new();
            db.execute("DELETE FROM schema_migrations WHERE version >= 4", &[])
                .unwrap();
            db.execute("UPDATE schema_migrations SET name = name || ?", &[suffix.into()])
                .unwrap();
            ensure_schema(&db).unwrap();
            let rows = db
                .execute("SELECT version, name FROM schema_migrations ORDER BY version", &[])
                .unwrap();
            assert_eq!(rows.len(), gempool_schema::MIGRATIONS.len());
            assert_eq!(rows[0][1], SqlValue::Text(format!("0001_init{suffix}")));
            assert_eq!(rows[4][1], SqlValue::from("0005_accounting"));
        }
    }

    #[test]
    fn an_unreadable_version_is_an_error() {
        let db = MemoryDb(rusqlite::Connection::open_in_memory().unwrap());
        db.execute("CREATE TABLE schema_migrations (version TEXT)", &[])
            .unwrap();
        db.execute("INSERT INTO schema_migrations VALUES ('one')", &[]).unwrap();
        let err = ensure_schema(&db).unwrap_err();
        assert!(err.0.starts_with("reading the schema version"), "{err}");
        assert!(current_version(&db).is_err());
    }
}
