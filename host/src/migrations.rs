//! The schema: `migrations/*.sql`, applied at startup by the runner shared with the guest
//! ([`gempool_schema`], which holds the contract: versions, recorded names, idempotence).
//!
//! Here each migration runs in an `IMMEDIATE` transaction together with its row, so a crash
//! leaves either both or neither, and two processes starting on the same file cannot both apply
//! the same version.

use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::Connection;

pub use gempool_schema::Migration;

/// The migrations embedded in this binary, in version order.
pub fn embedded() -> &'static [Migration] {
    gempool_schema::MIGRATIONS
}

/// A migration that failed, or the schema version that could not be read.
pub type Error = gempool_schema::Error<rusqlite::Error>;

/// The connection as the runner sees it.
struct Runner<'a>(&'a Connection);

impl gempool_schema::Sql for Runner<'_> {
    type Error = rusqlite::Error;
    fn execute(&self, statement: &str) -> rusqlite::Result<()> {
        self.0.execute_batch(statement)
    }
    fn integers(&self, query: &str) -> rusqlite::Result<Vec<i64>> {
        let mut stmt = self.0.prepare(query)?;
        let rows = stmt.query_map([], |r| r.get::<_, Option<i64>>(0))?;
        Ok(rows
            .collect::<rusqlite::Result<Vec<_>>>()?
            .into_iter()
            .flatten()
            .collect())
    }
    fn begin(&self) -> rusqlite::Result<()> {
        // IMMEDIATE takes the write lock before the runner's check, so two processes starting
        // on the same file cannot both decide to apply the same version.
        self.0.execute_batch("BEGIN IMMEDIATE")
    }
    fn commit(&self) -> rusqlite::Result<()> {
        self.0.execute_batch("COMMIT")
    }
    fn rollback(&self) {
        if let Err(e) = self.0.execute_batch("ROLLBACK") {
            tracing::warn!(error = %e, "rolling back a migration");
        }
    }
}

/// Applies every migration in `migrations` not yet recorded; returns the versions applied now.
pub fn apply(conn: &mut Connection, migrations: &[Migration]) -> Result<Vec<i64>, Error> {
    let applied = gempool_schema::migrate(&Runner(conn), migrations)?;
    for version in &applied {
        tracing::info!(version, "applied migration");
    }
    Ok(applied)
}

/// Milliseconds since the Unix epoch, the unit of every timestamp column.
pub fn unix_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST_MIGRATIONS: &[Migration] = &[
        Migration {
            version: 1,
            name: "0001_a",
            sql: "CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1);",
        },
        Migration {
            version: 2,
            name: "0002_b",
            sql: "CREATE TABLE b (y TEXT);",
        },
    ];

    fn versions(conn: &Connection) -> Vec<i64> {
        let mut stmt = conn
            .prepare("SELECT version FROM schema_migrations ORDER BY version")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn applies_each_version_once() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(apply(&mut conn, TEST_MIGRATIONS).unwrap(), [1, 2]);
        assert_eq!(apply(&mut conn, TEST_MIGRATIONS).unwrap(), Vec::<i64>::new());
        assert_eq!(versions(&conn), [1, 2]);
        // The data inserted by version 1 was not inserted twice.
        let n: i64 = conn.query_row("SELECT count(*) FROM a", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn applies_only_what_is_missing() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn, &TEST_MIGRATIONS[..1]).unwrap();
        assert_eq!(apply(&mut conn, TEST_MIGRATIONS).unwrap(), [2]);
    }

    #[test]
    fn a_failing_migration_leaves_no_trace() {
        let mut conn = Connection::open_in_memory().unwrap();
        let broken = [Migration {
            version: 1,
            name: "0001_broken",
            sql: "CREATE TABLE ok (x); THIS IS NOT SQL;",
        }];
        assert!(apply(&mut conn, &broken).is_err());
        assert!(versions(&conn).is_empty());
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE name = 'ok'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tables, 0);
    }

    #[test]
    fn embedded_migrations_are_ordered_and_apply_cleanly() {
        let all = embedded();
        assert!(all.windows(2).all(|w| w[0].version < w[1].version));
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn, all).unwrap();
        apply(&mut conn, all).unwrap();
        assert_eq!(versions(&conn).len(), all.len());
    }

    #[test]
    fn databases_of_both_old_runners_upgrade() {
        // The old host recorded `0001_init.sql`, the old guest `0001_init`; both at version 4.
        for suffix in [".sql", ""] {
            let mut conn = Connection::open_in_memory().unwrap();
            apply(&mut conn, &embedded()[..4]).unwrap();
            conn.execute("UPDATE schema_migrations SET name = name || ?1", [suffix])
                .unwrap();
            let later: Vec<i64> = embedded()[4..].iter().map(|m| m.version).collect();
            assert_eq!(apply(&mut conn, embedded()).unwrap(), later);
            let first: String = conn
                .query_row("SELECT name FROM schema_migrations WHERE version = 1", [], |r| r.get(0))
                .unwrap();
            assert_eq!(first, format!("0001_init{suffix}"));
            let last: String = conn
                .query_row("SELECT name FROM schema_migrations WHERE version = 5", [], |r| r.get(0))
                .unwrap();
            assert_eq!(last, "0005_accounting");
        }
    }
}
