//! Applies `migrations/*.sql`, embedded at build time, on first use.
//!
//! Spin's sqlite interface runs one statement per call, so each file is split into
//! statements here. Migration files must therefore keep `;` out of string literals and
//! comments; a `CREATE TRIGGER` is kept whole up to the `END` on a line of its own. Every statement is idempotent (`IF NOT EXISTS`, `INSERT OR IGNORE`, an `ADD COLUMN`
//! whose column exists counts as done), and the
//! version row is written with `INSERT OR IGNORE`, so two instances migrating at once is safe.
//! The bundled host applies the same files at start with the same bookkeeping.

use super::{Database, SqlValue, StoreError};

/// (version, name, SQL) for every migration, in order.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "0001_init", include_str!("../../../migrations/0001_init.sql")),
    (
        2,
        "0002_client_limits",
        include_str!("../../../migrations/0002_client_limits.sql"),
    ),
    (3, "0003_key_ids", include_str!("../../../migrations/0003_key_ids.sql")),
    (4, "0004_observe", include_str!("../../../migrations/0004_observe.sql")),
    (
        5,
        "0005_accounting",
        include_str!("../../../migrations/0005_accounting.sql"),
    ),
];

/// The schema version this build expects.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

/// Splits a migration file into statements, dropping `--` comments. A `CREATE TRIGGER`'s
/// body (statements between `BEGIN` and `END`) stays part of the trigger's statement.
pub fn statements(sql: &str) -> Vec<String> {
    let without_comments: String = sql
        .lines()
        .map(|line| line.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Vec::new();
    let mut pending = String::new();
    for piece in without_comments.split(';') {
        let in_trigger = pending.trim_start().to_ascii_uppercase().starts_with("CREATE TRIGGER");
        if in_trigger {
            pending.push(';');
        }
        pending.push_str(piece);
        let statement = pending.trim();
        let opens_trigger = statement.to_ascii_uppercase().starts_with("CREATE TRIGGER");
        if opens_trigger && !piece.trim().eq_ignore_ascii_case("END") {
            continue;
        }
        if !statement.is_empty() {
            out.push(statement.to_owned());
        }
        pending.clear();
    }
    if !pending.trim().is_empty() {
        out.push(pending.trim().to_owned());
    }
    out
}

fn is_add_column(statement: &str) -> bool {
    let upper = statement.to_ascii_uppercase();
    upper.starts_with("ALTER TABLE") && upper.contains(" ADD COLUMN ")
}

/// The version the database is at; 0 when it has no schema yet.
pub fn current_version(db: &dyn Database) -> i64 {
    match db.execute("SELECT MAX(version) FROM schema_migrations", &[]) {
        Ok(rows) => rows.first().and_then(|r| super::col_opt_i64(r, 0)).unwrap_or(0),
        Err(_) => 0,
    }
}

/// Brings the schema up to [`latest_version`]; a no-op (one cheap query) when it is.
pub fn ensure_schema(db: &dyn Database) -> Result<(), StoreError> {
    let current = current_version(db);
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        for statement in statements(sql) {
            match db.execute(&statement, &[]) {
                // `ADD COLUMN` has no `IF NOT EXISTS`: another instance migrating at the same
                // moment added it first.
                Err(e) if is_add_column(&statement) && e.0.contains("duplicate column name") => {}
                other => {
                    other?;
                }
            }
        }
        db.execute(
            "INSERT OR IGNORE INTO schema_migrations (version, name, applied_at) VALUES (?, ?, strftime('%s','now') * 1000)",
            &[SqlValue::Integer(*version), SqlValue::from(*name)],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::MemoryDb;

    #[test]
    fn fresh_database_gets_the_latest_schema() {
        let db = MemoryDb::new();
        assert_eq!(current_version(&db), latest_version());
        let rows = db
            .execute("SELECT value FROM counters WHERE name = 'round_robin'", &[])
            .unwrap();
        assert_eq!(rows[0][0], SqlValue::Integer(0));
    }

    #[test]
    fn applying_twice_is_harmless() {
        let db = MemoryDb::new();
        db.execute("INSERT INTO settings (name, value) VALUES ('x', '1')", &[])
            .unwrap();
        db.execute("DELETE FROM schema_migrations", &[]).unwrap();
        ensure_schema(&db).unwrap();
        assert_eq!(current_version(&db), latest_version());
        let rows = db.execute("SELECT value FROM settings WHERE name = 'x'", &[]).unwrap();
        assert_eq!(rows.len(), 1, "re-running a migration must not drop data");
    }

    #[test]
    fn every_migration_file_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".sql"))
            .map(|n| n.trim_end_matches(".sql").to_owned())
            .collect();
        files.sort();
        let embedded: Vec<String> = MIGRATIONS.iter().map(|m| m.1.to_owned()).collect();
        assert_eq!(files, embedded, "add the new migration to MIGRATIONS");
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.0, i as i64 + 1, "versions are consecutive from 1");
        }
    }

    #[test]
    fn statements_split_on_semicolons_and_drop_comments() {
        let s = statements("-- a; comment\nCREATE TABLE a (x); -- trailing\n\nINSERT INTO a VALUES (1);\n");
        assert_eq!(
            s,
            vec!["CREATE TABLE a (x)".to_string(), "INSERT INTO a VALUES (1)".to_string()]
        );
    }

    #[test]
    fn triggers_stay_whole() {
        let s = statements(
            "CREATE TABLE a (x);\nCREATE TRIGGER t AFTER INSERT ON a\nBEGIN\n  INSERT INTO b VALUES (1);\n  -- c;\n  DELETE FROM b;\nEND;\nINSERT INTO a VALUES (2);",
        );
        assert_eq!(s.len(), 3, "{s:?}");
        assert!(s[1].starts_with("CREATE TRIGGER t") && s[1].ends_with("END"), "{s:?}");
        assert!(s[1].contains("INSERT INTO b VALUES (1);") && s[1].contains("DELETE FROM b;"));
        assert_eq!(s[2], "INSERT INTO a VALUES (2)");
    }
}
