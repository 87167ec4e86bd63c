use super::*;
use std::cell::RefCell;

/// The runner over a real SQLite connection, as the host and the guest's tests drive it.
struct Db(rusqlite::Connection);

impl Sql for Db {
    type Error = rusqlite::Error;
    fn execute(&self, statement: &str) -> Result<(), rusqlite::Error> {
        self.0.execute_batch(statement)
    }
    fn integers(&self, query: &str) -> Result<Vec<i64>, rusqlite::Error> {
        let mut stmt = self.0.prepare(query)?;
        let rows = stmt.query_map([], |r| r.get::<_, Option<i64>>(0))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?.into_iter().flatten().collect())
    }
}

fn fresh() -> Db {
    Db(rusqlite::Connection::open_in_memory().unwrap())
}

fn names(db: &Db) -> Vec<(i64, String)> {
    let mut stmt =
        db.0.prepare("SELECT version, name FROM schema_migrations ORDER BY version")
            .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn expected_names(upto: usize) -> Vec<(i64, String)> {
    MIGRATIONS[..upto]
        .iter()
        .map(|m| (m.version, m.name.to_owned()))
        .collect()
}

#[test]
fn every_migration_file_is_embedded_in_order() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".sql").map(str::to_owned))
        .collect();
    files.sort();
    let embedded: Vec<&str> = MIGRATIONS.iter().map(|m| m.name).collect();
    assert_eq!(files, embedded);
    for (i, m) in MIGRATIONS.iter().enumerate() {
        assert_eq!(m.version, i as i64 + 1, "versions are consecutive from 1");
    }
    assert_eq!(latest_version(), MIGRATIONS.len() as i64);
}

#[test]
fn every_file_records_its_own_version_under_the_runners_name() {
    // `wrangler d1 migrations apply` runs the files whole: each must leave the row the runner
    // would have written, or the component would migrate a D1 database again.
    for m in MIGRATIONS {
        let db = fresh();
        for earlier in MIGRATIONS.iter().filter(|e| e.version < m.version) {
            db.0.execute_batch(earlier.sql).unwrap();
        }
        db.0.execute_batch(m.sql).unwrap();
        assert_eq!(names(&db), expected_names(m.version as usize), "{}", m.name);
    }
}

#[test]
fn a_fresh_database_gets_every_migration_once() {
    let db = fresh();
    assert_eq!(
        migrate(&db, MIGRATIONS).unwrap(),
        (1..=latest_version()).collect::<Vec<_>>()
    );
    assert_eq!(names(&db), expected_names(MIGRATIONS.len()));
    assert_eq!(migrate(&db, MIGRATIONS).unwrap(), Vec::<i64>::new());
    assert_eq!(
        applied_versions(&db).unwrap(),
        (1..=latest_version()).collect::<Vec<_>>()
    );
}

/// A database the way each earlier runner left it after applying the first `upto` files.
fn migrated_by_old_runner(upto: usize, name_of: impl Fn(&Migration) -> String) -> Db {
    let db = fresh();
    db.0.execute_batch(CREATE_TABLE).unwrap();
    for m in &MIGRATIONS[..upto] {
        db.0.execute_batch(m.sql).unwrap();
        db.0.execute(
            "INSERT OR REPLACE INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, 0)",
            rusqlite::params![m.version, name_of(m)],
        )
        .unwrap();
    }
    db.0.execute("INSERT INTO settings (name, value) VALUES ('kept', '1')", [])
        .unwrap();
    db
}

fn upgrades_cleanly(db: &Db, upto: usize, old_names: Vec<(i64, String)>) {
    let applied = migrate(db, MIGRATIONS).unwrap();
    assert_eq!(applied, ((upto as i64 + 1)..=latest_version()).collect::<Vec<_>>());
    let mut want = old_names;
    want.extend(expected_names(MIGRATIONS.len()).into_iter().skip(upto));
    assert_eq!(names(db), want, "old rows stay, new rows get the one name");
    let kept: i64 =
        db.0.query_row("SELECT count(*) FROM settings WHERE name = 'kept'", [], |r| r.get(0))
            .unwrap();
    assert_eq!(kept, 1, "nothing re-applied over existing data");
    let triggers: i64 =
        db.0.query_row("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(triggers > 0, "the latest migration ran");
}

#[test]
fn databases_of_the_old_host_runner_upgrade() {
    // The bundled host recorded the file name, `0001_init.sql`.
    for upto in 1..MIGRATIONS.len() {
        let host_name = |m: &Migration| format!("{}.sql", m.name);
        let db = migrated_by_old_runner(upto, host_name);
        let old = MIGRATIONS[..upto].iter().map(|m| (m.version, host_name(m))).collect();
        upgrades_cleanly(&db, upto, old);
    }
}

#[test]
fn databases_of_the_old_guest_runner_upgrade() {
    // The guest recorded `0001_init`, the name the files record themselves (so also D1
    // databases migrated by wrangler).
    for upto in 1..MIGRATIONS.len() {
        let db = migrated_by_old_runner(upto, |m| m.name.to_owned());
        upgrades_cleanly(&db, upto, expected_names(upto));
    }
}

#[test]
fn a_migration_cut_short_after_an_added_column_runs_again() {
    // Version 4 adds columns one statement at a time; an instance that stopped half-way
    // left some of them behind without its row.
    let db = migrated_by_old_runner(3, |m| m.name.to_owned());
    db.0.execute_batch("ALTER TABLE key_usage ADD COLUMN invalid INTEGER NOT NULL DEFAULT 0")
        .unwrap();
    upgrades_cleanly(&db, 3, expected_names(3));
}

#[test]
fn an_unreadable_version_is_an_error_not_version_zero() {
    let db = fresh();
    db.0.execute_batch("CREATE TABLE schema_migrations (version TEXT)")
        .unwrap();
    db.0.execute_batch("INSERT INTO schema_migrations VALUES ('one')")
        .unwrap();
    let err = migrate(&db, MIGRATIONS).unwrap_err();
    assert_eq!(err.migration, None);
    assert!(err.to_string().starts_with("reading the schema version"), "{err}");
    assert_eq!(
        db.0.query_row("SELECT count(*) FROM sqlite_master WHERE name = 'settings'", [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap(),
        0,
        "nothing applied"
    );
}

/// Records the calls, to check the transaction bracket.
#[derive(Default)]
struct Script {
    calls: RefCell<Vec<String>>,
    fail_on: Option<&'static str>,
}

impl Sql for Script {
    type Error = String;
    fn execute(&self, statement: &str) -> Result<(), String> {
        self.calls
            .borrow_mut()
            .push(statement.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
        match self.fail_on {
            Some(bad) if statement.contains(bad) => Err(format!("no: {bad}")),
            _ => Ok(()),
        }
    }
    fn integers(&self, _query: &str) -> Result<Vec<i64>, String> {
        self.calls.borrow_mut().push("SELECT".into());
        Ok(Vec::new())
    }
    fn begin(&self) -> Result<(), String> {
        self.calls.borrow_mut().push("BEGIN".into());
        Ok(())
    }
    fn commit(&self) -> Result<(), String> {
        self.calls.borrow_mut().push("COMMIT".into());
        Ok(())
    }
    fn rollback(&self) {
        self.calls.borrow_mut().push("ROLLBACK".into());
    }
}

const TWO: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_a",
        sql: "CREATE TABLE a (x); INSERT INTO a VALUES (1);",
    },
    Migration {
        version: 2,
        name: "0002_b",
        sql: "CREATE TABLE b (y);",
    },
];

#[test]
fn each_migration_and_its_row_commit_together() {
    let db = Script::default();
    migrate(&db, TWO).unwrap();
    let calls = db.calls.into_inner();
    assert_eq!(
        calls,
        [
            "CREATE TABLE IF",
            "SELECT",
            "BEGIN",
            "SELECT",
            "CREATE TABLE a",
            "INSERT INTO a",
            "INSERT OR IGNORE",
            "COMMIT",
            "BEGIN",
            "SELECT",
            "CREATE TABLE b",
            "INSERT OR IGNORE",
            "COMMIT"
        ]
    );
}

#[test]
fn a_failing_statement_rolls_back_and_names_the_migration() {
    let db = Script {
        fail_on: Some("TABLE b"),
        ..Script::default()
    };
    let err = migrate(&db, TWO).unwrap_err();
    assert_eq!(err.migration, Some("0002_b"));
    assert_eq!(err.to_string(), "applying migration 0002_b: no: TABLE b");
    assert_eq!(db.calls.into_inner().last().map(String::as_str), Some("ROLLBACK"));
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
