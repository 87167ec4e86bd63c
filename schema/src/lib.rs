//! The schema, `migrations/*.sql`, and the one runner that applies it, shared by the guest
//! (on first use, under any host: the bundled `gempool`, Spin, a Cloudflare Worker on D1) and
//! the bundled host (at start).
//!
//! Contract, the same for every database whoever migrated it:
//! - table `schema_migrations(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at
//!   INTEGER NOT NULL)`; a version is applied iff its row is present;
//! - `version` is the file's numeric prefix, `name` the file name without `.sql`
//!   (`0001_init.sql` is version 1, `0001_init`), `applied_at` unix milliseconds;
//! - every file ends by recording its own row (`INSERT OR IGNORE`), so a database migrated by
//!   `wrangler d1 migrations apply` (which runs each file whole and keeps its own table) is up to
//!   date for the runner too.
//!
//! Databases written by the two earlier runners keep working: the bundled host recorded the
//! file name (`0001_init.sql`), the guest the name without `.sql`; only the version is read, and
//! rows already present are left as they are.
//!
//! The runner sends one statement per call (Spin's sqlite interface and D1 run one statement
//! at a time), so [`statements`] splits each file: files keep `;` out of string literals and
//! comments, and a `CREATE TRIGGER` is kept whole up to the `END` on a line of its own. Every
//! statement is idempotent (`IF NOT EXISTS`, `INSERT OR IGNORE`, and an `ADD COLUMN` whose
//! column exists counts as done), so two instances migrating at once, or a migration cut short
//! and run again, are harmless. Where the database has transactions ([`Sql::begin`]) each
//! migration and its row are committed together.

#![deny(missing_docs)]

use std::fmt;

/// One embedded migration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// The file's numeric prefix.
    pub version: i64,
    /// The file name without `.sql`, e.g. `0001_init`: the name recorded in `schema_migrations`.
    pub name: &'static str,
    /// The file's SQL (any number of statements).
    pub sql: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

/// The schema version this build expects.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Creates the bookkeeping table; the first statement the runner sends.
pub const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at INTEGER NOT NULL
)";

impl Migration {
    /// The statement recording this migration as applied (the same row the file writes itself).
    pub fn record(&self) -> String {
        // `name` is checked by the build script to hold only [a-z0-9_].
        format!(
            "INSERT OR IGNORE INTO schema_migrations (version, name, applied_at) VALUES ({}, '{}', strftime('%s', 'now') * 1000)",
            self.version, self.name
        )
    }
}

/// What the runner needs from a database: statements without parameters, one at a time.
pub trait Sql {
    /// The database's error; its text is searched for SQLite's "duplicate column name".
    type Error: fmt::Display;
    /// Runs one statement, discarding any rows.
    fn execute(&self, statement: &str) -> Result<(), Self::Error>;
    /// Runs a query whose rows hold one integer each (`NULL`s are skipped).
    fn integers(&self, query: &str) -> Result<Vec<i64>, Self::Error>;
    /// Starts a transaction holding the write lock, where the database has transactions
    /// across calls (the bundled host). The default does nothing: the statements are idempotent.
    fn begin(&self) -> Result<(), Self::Error> {
        Ok(())
    }
    /// Commits what [`Sql::begin`] started.
    fn commit(&self) -> Result<(), Self::Error> {
        Ok(())
    }
    /// Abandons what [`Sql::begin`] started, after a failed statement.
    fn rollback(&self) {}
}

/// A migration that could not be applied, or a version that could not be read.
#[derive(Debug, Clone, PartialEq)]
pub struct Error<E> {
    /// The migration being applied, or `None` while reading which versions are applied.
    pub migration: Option<&'static str>,
    /// The database's error.
    pub source: E,
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.migration {
            Some(name) => write!(f, "applying migration {name}: {}", self.source),
            None => write!(f, "reading the schema version: {}", self.source),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for Error<E> {}

/// The versions recorded in `schema_migrations`, creating the table when it is missing.
/// A failure is an error, never "version 0".
pub fn applied_versions<S: Sql>(db: &S) -> Result<Vec<i64>, Error<S::Error>> {
    let read = |source| Error {
        migration: None,
        source,
    };
    db.execute(CREATE_TABLE).map_err(read)?;
    db.integers("SELECT version FROM schema_migrations ORDER BY version")
        .map_err(read)
}

/// Applies every migration of `migrations` whose version is not recorded yet, in order, and
/// returns the versions applied now.
pub fn migrate<S: Sql>(db: &S, migrations: &[Migration]) -> Result<Vec<i64>, Error<S::Error>> {
    let done = applied_versions(db)?;
    let mut applied = Vec::new();
    for m in migrations.iter().filter(|m| !done.contains(&m.version)) {
        let fail = |source| Error {
            migration: Some(m.name),
            source,
        };
        db.begin().map_err(fail)?;
        match apply_one(db, m) {
            Ok(true) => {
                db.commit().map_err(fail)?;
                applied.push(m.version);
            }
            // Another process applied it between the first read and the lock.
            Ok(false) => db.rollback(),
            Err(e) => {
                db.rollback();
                return Err(fail(e));
            }
        }
    }
    Ok(applied)
}

/// Applies one migration inside the caller's transaction; `false` when it turned out to be
/// recorded already.
fn apply_one<S: Sql>(db: &S, m: &Migration) -> Result<bool, S::Error> {
    let recorded = db.integers(&format!(
        "SELECT version FROM schema_migrations WHERE version = {}",
        m.version
    ))?;
    if !recorded.is_empty() {
        return Ok(false);
    }
    for statement in statements(m.sql) {
        match db.execute(&statement) {
            // `ADD COLUMN` has no `IF NOT EXISTS`: another instance migrating at the same
            // moment, or an earlier run cut short, added it first.
            Err(e) if is_add_column(&statement) && e.to_string().contains("duplicate column name") => {}
            other => other?,
        }
    }
    db.execute(&m.record())?;
    Ok(true)
}

fn is_add_column(statement: &str) -> bool {
    let upper = statement.to_ascii_uppercase();
    upper.starts_with("ALTER TABLE") && upper.contains(" ADD COLUMN ")
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

#[cfg(test)]
mod tests;
