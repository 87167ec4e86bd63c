//! The schema: `migrations/*.sql`, embedded at build time and applied at startup.
//!
//! Contract shared with the guest, which applies the same files on first use when it runs under
//! `spin up`: table `schema_migrations(version INTEGER PRIMARY KEY, name TEXT NOT NULL,
//! applied_at INTEGER NOT NULL)`; a version is applied iff its row is absent; `version` is the
//! file's numeric prefix (`0001_init.sql` is version 1); `name` is the file name; `applied_at`
//! is unix milliseconds. Each migration and its row are committed together, so a crash leaves
//! either both or neither, and `INSERT OR IGNORE` lets a concurrent applier win harmlessly.

use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

/// One embedded migration file.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// The file's numeric prefix.
    pub version: i64,
    /// The file name, e.g. `0001_init.sql`.
    pub name: &'static str,
    /// The file's SQL (any number of statements).
    pub sql: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

/// The migrations embedded in this binary, in version order.
pub fn embedded() -> &'static [Migration] {
    MIGRATIONS
}

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at INTEGER NOT NULL
)";

/// Applies every migration in `migrations` not yet recorded; returns the versions applied now.
pub fn apply(conn: &mut Connection, migrations: &[Migration]) -> rusqlite::Result<Vec<i64>> {
    conn.execute_batch(CREATE_TABLE)?;
    let mut applied = Vec::new();
    for m in migrations {
        // IMMEDIATE takes the write lock before the check, so two processes starting on the
        // same file cannot both decide to apply the same version.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let done = tx
            .query_row(
                "SELECT 1 FROM schema_migrations WHERE version = ?1",
                [m.version],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if done {
            continue; // dropping `tx` rolls back the empty transaction
        }
        tx.execute_batch(m.sql)?;
        tx.execute(
            "INSERT OR IGNORE INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            params![m.version, m.name, unix_millis()],
        )?;
        tx.commit()?;
        tracing::info!(version = m.version, name = m.name, "applied migration");
        applied.push(m.version);
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
            name: "0001_a.sql",
            sql: "CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1);",
        },
        Migration {
            version: 2,
            name: "0002_b.sql",
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
            name: "0001_broken.sql",
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
}
