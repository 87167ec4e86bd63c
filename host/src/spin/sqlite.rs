//! `fermyon:spin/sqlite@2.0.0` over one SQLite file (rusqlite, bundled SQLite, WAL mode).
//!
//! Owns the process-wide [`SqliteBackend`] (one connection, opened at startup, shared by every
//! request) and the guest-facing `connection` resource. A guest `connection` is only a handle:
//! all of them reach the same database, so opening one is cheap and holds no SQLite state.
//!
//! A statement runs on the calling thread when the connection is free and SQLite need not wait
//! for a lock: the guest's statements take microseconds, and handing each to tokio's blocking
//! pool cost more than running it (two thread wake-ups per statement, ~14 futex calls per
//! proxied request). Only a statement that would wait goes to the blocking pool: the connection
//! is busy with another request's statement, or another process holds SQLite's write lock
//! (`SQLITE_BUSY` with no busy timeout, retried there with [`BUSY_TIMEOUT`]). WAL checkpoints,
//! the one part of a write that may take milliseconds (they write back and `fsync`), run on a
//! thread of their own ([`spawn_checkpointer`]) rather than inside a request's commit.
//!
//! Semantics follow Spin's own in-process backend (`spin:crates/sqlite-inproc`), so the guest
//! behaves the same under `spin up`: only the database `default` exists, one statement per
//! `execute`, rows come back for any statement that produces them (`SELECT`, `... RETURNING`,
//! `PRAGMA`), and SQLite errors reach the guest as `error::io(message)`.
//!
//! Two additions of the bundled host, both invisible to a guest that does not ask for them:
//! the SQL function `gempool_next_ticket()` (a process-wide atomic counter, so the guest's
//! round-robin ticket is a read, not a write; advertised by the `sql_ticket_function` variable)
//! and the statement and write counters behind `gempool_sql_statements_total` and
//! `gempool_sql_writes_total` ([`SqlStats`]).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError, Weak};
use std::time::Duration;

use rusqlite::functions::FunctionFlags;
use rusqlite::types::{Value as SqlValue, ValueRef};
use wasmtime::component::Resource;

use crate::bindings::fermyon::spin::sqlite::{self as wit, Error, QueryResult, RowResult, Value};
use crate::state::Host;

/// The only database name the guest may open (Spin's name for an app's default database).
pub const DEFAULT_DATABASE: &str = "default";

/// How many `connection` resources one request may hold at once. The guest needs one; the bound
/// stops a buggy guest from growing the store's resource table without limit.
pub const MAX_CONNECTIONS_PER_REQUEST: usize = 16;

/// How long a statement waits for another process's write lock (e.g. `sqlite3` on the same file)
/// before failing with `SQLITE_BUSY`. Within this process the mutex already serialises access.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the checkpoint thread copies the WAL back into the database file. SQLite's own
/// automatic checkpoint (in the commit that crosses 1000 WAL pages) is off, so this bounds how
/// far the WAL grows: the writes of one interval.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(500);

/// Prepared statements kept per connection; the guest's hot path uses a handful.
const STATEMENT_CACHE_CAPACITY: usize = 64;

/// The SQL function handing out round-robin tickets (see the module docs).
pub const TICKET_FUNCTION: &str = "gempool_next_ticket";

/// Statements the guest ran, and how many of them could write (not read-only: each is a write
/// transaction of its own, triggers included).
#[derive(Debug, Default)]
pub struct SqlStats {
    statements: AtomicU64,
    writes: AtomicU64,
}

impl SqlStats {
    /// Statements run for guests so far.
    pub fn statements(&self) -> u64 {
        self.statements.load(Relaxed)
    }

    /// Write statements (write transactions) run for guests so far.
    pub fn writes(&self) -> u64 {
        self.writes.load(Relaxed)
    }
}

/// The guest-visible `connection` resource. It carries no state: see the module docs.
#[derive(Debug)]
pub struct Connection {
    _private: (),
}

/// The one SQLite connection behind every guest `connection`.
#[derive(Clone)]
pub struct SqliteBackend {
    conn: Arc<Mutex<rusqlite::Connection>>,
    stats: Arc<SqlStats>,
}

impl std::fmt::Debug for SqliteBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteBackend").finish_non_exhaustive()
    }
}

impl SqliteBackend {
    /// Opens (creating if needed) the database file at `path` and configures it for a server:
    /// WAL (readers never block the writer), `synchronous=NORMAL` (durable across process
    /// crashes, which is what WAL needs), a busy timeout. Foreign-key enforcement stays at
    /// SQLite's default (off), as under Spin, so the guest behaves the same on both hosts.
    ///
    /// WAL checkpoints run on a thread of their own while the backend lives
    /// ([`spawn_checkpointer`]).
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        let backend = Self::configure(rusqlite::Connection::open(path)?, true)?;
        backend.with_connection(|conn| conn.pragma_update(None, "wal_autocheckpoint", 0))?;
        spawn_checkpointer(path, Arc::downgrade(&backend.conn));
        Ok(backend)
    }

    /// An in-memory database, for tests.
    pub fn open_in_memory() -> rusqlite::Result<Self> {
        Self::configure(rusqlite::Connection::open_in_memory()?, false)
    }

    fn configure(conn: rusqlite::Connection, wal: bool) -> rusqlite::Result<Self> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        if wal {
            // `journal_mode` answers with the resulting mode; a file on a filesystem without
            // shared memory support stays in its old mode, which still works, only slower.
            let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                tracing::warn!(%mode, "SQLite could not switch to WAL mode");
            }
        }
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
        // Not deterministic: every call gives the next number, atomically across requests.
        // Starts at 1, like the stored counter's first `UPDATE ... RETURNING` under other hosts.
        let tickets = AtomicU64::new(1);
        conn.create_scalar_function(TICKET_FUNCTION, 0, FunctionFlags::SQLITE_UTF8, move |_| {
            Ok(i64::try_from(tickets.fetch_add(1, Relaxed) & (i64::MAX as u64)).unwrap_or(0))
        })?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            stats: Arc::default(),
        })
    }

    /// The statement and write counters of guest SQL.
    pub fn stats(&self) -> Arc<SqlStats> {
        Arc::clone(&self.stats)
    }

    /// Runs `f` with the connection on the current thread. For startup work (migrations,
    /// bootstrap) before serving; request handling goes through [`SqliteBackend::execute`].
    pub fn with_connection<R>(&self, f: impl FnOnce(&mut rusqlite::Connection) -> R) -> R {
        f(&mut lock(&self.conn))
    }

    /// Runs one statement with positional parameters and returns its rows (none for statements
    /// that produce no columns): here if it need not wait, otherwise on the blocking pool (see
    /// the module docs).
    pub async fn execute(&self, statement: String, parameters: Vec<Value>) -> Result<QueryResult, Error> {
        let parameters: Vec<SqlValue> = parameters.into_iter().map(to_sql).collect();
        if let Some(result) = self.try_execute_here(&statement, &parameters) {
            return result.map_err(io);
        }
        let conn = Arc::clone(&self.conn);
        let stats = Arc::clone(&self.stats);
        tokio::task::spawn_blocking(move || run_statement(&lock(&conn), &stats, &statement, &parameters).map_err(io))
            .await
            .unwrap_or_else(|e| Err(Error::Io(format!("sqlite task failed: {e}"))))
    }

    /// Runs the statement on this thread if the connection is free, without waiting for another
    /// process's lock; `None` when it must wait. A statement that meets `SQLITE_BUSY` has not
    /// written anything, so it can run again.
    fn try_execute_here(&self, statement: &str, parameters: &[SqlValue]) -> Option<rusqlite::Result<QueryResult>> {
        let conn = match self.conn.try_lock() {
            Ok(conn) => conn,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        // Without a busy timeout SQLite answers `SQLITE_BUSY` at once instead of sleeping on
        // this (async) thread.
        conn.busy_timeout(Duration::ZERO).ok()?;
        let result = run_statement(&conn, &self.stats, statement, parameters);
        conn.busy_timeout(BUSY_TIMEOUT).ok()?;
        match result {
            Err(e) if is_busy(&e) => None,
            result => Some(result),
        }
    }
}

/// Copies the WAL back into the database file every [`CHECKPOINT_INTERVAL`], on its own thread
/// and connection, until `backend` is dropped. `PASSIVE` never waits for readers or the
/// writer: what it cannot copy now, a later round does. A failure is logged and retried.
fn spawn_checkpointer(path: &Path, backend: Weak<Mutex<rusqlite::Connection>>) {
    let path = path.to_owned();
    let run = move || {
        let mut conn: Option<rusqlite::Connection> = None;
        loop {
            std::thread::sleep(CHECKPOINT_INTERVAL);
            if backend.strong_count() == 0 {
                return;
            }
            let result = match &conn {
                Some(conn) => conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())),
                None => rusqlite::Connection::open(&path).map(|opened| conn = Some(opened)),
            };
            if let Err(e) = result {
                tracing::warn!("SQLite WAL checkpoint failed (retried): {e}");
                conn = None;
            }
        }
    };
    if let Err(e) = std::thread::Builder::new().name("gempool-checkpoint".into()).spawn(run) {
        tracing::warn!("no WAL checkpoint thread ({e}); the WAL grows until restart");
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
}

/// A panic while holding the lock cannot leave SQLite half-way through a statement (rusqlite
/// resets statements on drop), so a poisoned mutex is still safe to use.
fn lock(conn: &Mutex<rusqlite::Connection>) -> MutexGuard<'_, rusqlite::Connection> {
    conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs one statement and counts it, unless SQLite said busy before it began (it runs again).
fn run_statement(
    conn: &rusqlite::Connection,
    stats: &SqlStats,
    statement: &str,
    parameters: &[SqlValue],
) -> rusqlite::Result<QueryResult> {
    let mut stmt = conn.prepare_cached(statement)?;
    let writes = !stmt.readonly();
    let result = step(&mut stmt, parameters);
    if !matches!(&result, Err(e) if is_busy(e)) {
        stats.statements.fetch_add(1, Relaxed);
        if writes {
            stats.writes.fetch_add(1, Relaxed);
        }
    }
    result
}

fn step(stmt: &mut rusqlite::CachedStatement<'_>, parameters: &[SqlValue]) -> rusqlite::Result<QueryResult> {
    let params = rusqlite::params_from_iter(parameters);
    let columns: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
    if columns.is_empty() {
        // No result columns: `execute` steps the statement to completion.
        stmt.execute(params)?;
        return Ok(QueryResult {
            columns,
            rows: Vec::new(),
        });
    }
    // Rows are collected even for writes (`... RETURNING`): stepping to the end is what runs the
    // statement completely.
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let values = (0..columns.len())
            .map(|i| row.get_ref(i).map(from_sql))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        out.push(RowResult { values });
    }
    Ok(QueryResult { columns, rows: out })
}

fn to_sql(value: Value) -> SqlValue {
    match value {
        Value::Integer(i) => SqlValue::Integer(i),
        Value::Real(f) => SqlValue::Real(f),
        Value::Text(s) => SqlValue::Text(s),
        Value::Blob(b) => SqlValue::Blob(b),
        Value::Null => SqlValue::Null,
    }
}

fn from_sql(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(f) => Value::Real(f),
        // SQLite does not enforce UTF-8 in TEXT; a lossy copy beats failing the whole query.
        ValueRef::Text(s) => Value::Text(String::from_utf8_lossy(s).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        ValueRef::Null => Value::Null,
    }
}

fn io(e: rusqlite::Error) -> Error {
    Error::Io(e.to_string())
}

impl wit::Host for Host {}

impl wit::HostConnection for Host {
    async fn open(&mut self, database: String) -> wasmtime::Result<Result<Resource<Connection>, Error>> {
        if database != DEFAULT_DATABASE {
            return Ok(Err(Error::NoSuchDatabase));
        }
        if self.sqlite_connections >= MAX_CONNECTIONS_PER_REQUEST {
            return Ok(Err(Error::Io("too many connections".to_owned())));
        }
        let handle = self.table.push(Connection { _private: () })?;
        self.sqlite_connections += 1;
        Ok(Ok(handle))
    }

    async fn execute(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        if self.table.get(&connection).is_err() {
            return Ok(Err(Error::InvalidConnection));
        }
        Ok(self.sqlite.execute(statement, parameters).await)
    }

    async fn drop(&mut self, connection: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        self.sqlite_connections = self.sqlite_connections.saturating_sub(1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend() -> SqliteBackend {
        SqliteBackend::open_in_memory().unwrap()
    }

    async fn exec(db: &SqliteBackend, sql: &str, params: Vec<Value>) -> QueryResult {
        db.execute(sql.to_owned(), params).await.unwrap()
    }

    #[tokio::test]
    async fn every_value_type_round_trips() {
        let db = backend();
        exec(&db, "CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n)", vec![]).await;
        let inserted = exec(
            &db,
            "INSERT INTO t VALUES (?, ?, ?, ?, ?)",
            vec![
                Value::Integer(-7),
                Value::Real(1.5),
                Value::Text("héllo".into()),
                Value::Blob(vec![0, 255, 1]),
                Value::Null,
            ],
        )
        .await;
        assert!(inserted.columns.is_empty() && inserted.rows.is_empty());

        let got = exec(&db, "SELECT i, r, s, b, n FROM t", vec![]).await;
        assert_eq!(got.columns, ["i", "r", "s", "b", "n"]);
        assert_eq!(got.rows.len(), 1);
        let v = &got.rows[0].values;
        assert!(matches!(v[0], Value::Integer(-7)));
        assert!(matches!(v[1], Value::Real(r) if r == 1.5));
        assert!(matches!(&v[2], Value::Text(s) if s == "héllo"));
        assert!(matches!(&v[3], Value::Blob(b) if b == &[0, 255, 1]));
        assert!(matches!(v[4], Value::Null));
    }

    #[tokio::test]
    async fn writes_with_returning_give_back_their_rows() {
        let db = backend();
        exec(&db, "CREATE TABLE c (k TEXT PRIMARY KEY, n INTEGER NOT NULL)", vec![]).await;
        let upsert = "INSERT INTO c (k, n) VALUES (?, 1) \
                      ON CONFLICT(k) DO UPDATE SET n = n + 1 RETURNING n";
        for expected in 1..=3 {
            let got = exec(&db, upsert, vec![Value::Text("a".into())]).await;
            assert_eq!(got.columns, ["n"]);
            assert!(matches!(got.rows[0].values[0], Value::Integer(n) if n == expected));
        }
        let updated = exec(&db, "UPDATE c SET n = 0 RETURNING k, n", vec![]).await;
        assert_eq!(updated.rows.len(), 1);
        let count = exec(&db, "SELECT n FROM c", vec![]).await;
        assert!(matches!(count.rows[0].values[0], Value::Integer(0)));
    }

    #[tokio::test]
    async fn select_with_no_matches_still_names_its_columns() {
        let db = backend();
        exec(&db, "CREATE TABLE e (a, b)", vec![]).await;
        let got = exec(&db, "SELECT a, b FROM e", vec![]).await;
        assert_eq!(got.columns, ["a", "b"]);
        assert!(got.rows.is_empty());
    }

    #[tokio::test]
    async fn sql_errors_become_io_errors() {
        let db = backend();
        let err = db.execute("SELEC 1".into(), vec![]).await.unwrap_err();
        assert!(matches!(err, Error::Io(m) if m.contains("syntax error")));
        let err = db
            .execute("SELECT ?".into(), vec![Value::Integer(1), Value::Integer(2)])
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Io(_)));
    }

    #[tokio::test]
    async fn only_the_default_database_opens() {
        use crate::bindings::fermyon::spin::sqlite::HostConnection;
        let mut host = Host::for_tests(Arc::new(backend()));
        let err = host.open("other".into()).await.unwrap().unwrap_err();
        assert!(matches!(err, Error::NoSuchDatabase));
        let conn = host.open(DEFAULT_DATABASE.into()).await.unwrap().unwrap();
        let got = host
            .execute(conn, "SELECT 1 AS one".into(), vec![])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.columns, ["one"]);
    }

    #[tokio::test]
    async fn connections_per_request_are_bounded() {
        use crate::bindings::fermyon::spin::sqlite::HostConnection;
        let mut host = Host::for_tests(Arc::new(backend()));
        let mut open = Vec::new();
        for _ in 0..MAX_CONNECTIONS_PER_REQUEST {
            open.push(host.open(DEFAULT_DATABASE.into()).await.unwrap().unwrap());
        }
        let err = host.open(DEFAULT_DATABASE.into()).await.unwrap().unwrap_err();
        assert!(matches!(err, Error::Io(m) if m == "too many connections"));
        host.drop(open.pop().unwrap()).await.unwrap();
        assert!(host.open(DEFAULT_DATABASE.into()).await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn tickets_are_a_read_and_statements_are_counted() {
        let db = backend();
        exec(&db, "CREATE TABLE c (n INTEGER)", vec![]).await;
        let stats = db.stats();
        let (statements, writes) = (stats.statements(), stats.writes());
        let mut seen = Vec::new();
        for _ in 0..3 {
            let got = exec(&db, "SELECT gempool_next_ticket()", vec![]).await;
            let Value::Integer(n) = got.rows[0].values[0] else {
                panic!("not an integer")
            };
            seen.push(n);
        }
        assert_eq!(seen, [1, 2, 3]);
        exec(&db, "INSERT INTO c VALUES (1)", vec![]).await;
        exec(&db, "SELECT n FROM c", vec![]).await;
        assert_eq!(stats.statements() - statements, 5);
        assert_eq!(stats.writes() - writes, 1);
    }

    #[test]
    fn file_databases_use_wal() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteBackend::open(&dir.path().join("t.db")).unwrap();
        let mode: String = db.with_connection(|c| c.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap());
        assert_eq!(mode, "wal");
    }

    #[tokio::test]
    async fn a_statement_waiting_for_another_process_does_not_block_the_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let db = SqliteBackend::open(&path).unwrap();
        exec(&db, "CREATE TABLE t (x INTEGER)", vec![]).await;
        let other = rusqlite::Connection::open(&path).unwrap();
        other
            .execute_batch("BEGIN IMMEDIATE; INSERT INTO t VALUES (1);")
            .unwrap();
        let insert = tokio::spawn({
            let db = db.clone();
            async move { db.execute("INSERT INTO t VALUES (2)".into(), vec![]).await }
        });
        // This test's runtime has one thread: had the insert waited for the lock here, the
        // sleep would end only after the insert's busy timeout, with the insert failed.
        let started = std::time::Instant::now();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(!insert.is_finished(), "the insert waits for the other process");
        other.execute_batch("COMMIT").unwrap();
        insert.await.unwrap().unwrap();
        let rows = exec(&db, "SELECT count(*) FROM t", vec![]).await.rows;
        assert!(matches!(rows[0].values[0], Value::Integer(2)));
        let stats = db.stats();
        assert_eq!(
            (stats.statements(), stats.writes()),
            (3, 2),
            "the retried insert counts once"
        );
    }

    #[tokio::test]
    async fn the_wal_is_checkpointed_off_the_request_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let db = SqliteBackend::open(&path).unwrap();
        exec(&db, "CREATE TABLE t (b BLOB)", vec![]).await;
        exec(&db, "INSERT INTO t VALUES (?)", vec![Value::Blob(vec![7; 200_000])]).await;
        // The commit left the rows in the WAL (no automatic checkpoint in it); the checkpoint
        // thread copies them into the database file within an interval or two.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::fs::metadata(&path).unwrap().len() < 200_000 {
            assert!(std::time::Instant::now() < deadline, "the WAL was not checkpointed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
