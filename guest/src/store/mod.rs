//! Everything the gateway keeps: the SQL behind a small [`Database`] trait.
//!
//! All SQL text lives in this module's files (`migrate`, `keys`, `clients`, `settings`,
//! `model_lists`, `usage`, `windows`, `metrics`, `failures`, `resources`); the rest of the guest calls typed functions. The component implements
//! [`Database`] over Spin's `fermyon:spin/sqlite@2.0.0`; native tests implement it over an
//! in-memory rusqlite connection, so the same statements are exercised by real SQLite.
//!
//! Counters change in single statements (`INSERT .. ON CONFLICT DO UPDATE`,
//! `UPDATE .. RETURNING`): each request runs in its own instance, possibly concurrently with
//! others, so read-then-write in the guest would lose updates.

pub mod clients;
pub mod failures;
pub mod keys;
pub mod metrics;
pub mod migrate;
pub mod model_lists;
pub mod resources;
pub mod settings;
pub mod usage;
pub mod windows;

/// A SQL value, as Spin's sqlite interface carries it.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// An `INTEGER`.
    Integer(i64),
    /// A `REAL`.
    Real(f64),
    /// `TEXT`.
    Text(String),
    /// A `BLOB`.
    Blob(Vec<u8>),
    /// `NULL`.
    Null,
}

impl SqlValue {
    /// The value as an integer: integers, reals (truncated) and numeric text.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            SqlValue::Integer(i) => Some(*i),
            SqlValue::Real(f) => Some(*f as i64),
            SqlValue::Text(s) => s.parse().ok(),
            _ => None,
        }
    }
    /// The text of a `TEXT` value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            SqlValue::Text(s) => Some(s),
            _ => None,
        }
    }
    /// The text of a `TEXT` value, owned.
    pub fn as_string(&self) -> Option<String> {
        self.as_str().map(str::to_owned)
    }
}

impl From<i64> for SqlValue {
    fn from(v: i64) -> Self {
        SqlValue::Integer(v)
    }
}
impl From<u64> for SqlValue {
    fn from(v: u64) -> Self {
        SqlValue::Integer(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<u32> for SqlValue {
    fn from(v: u32) -> Self {
        SqlValue::Integer(v.into())
    }
}
impl From<f64> for SqlValue {
    fn from(v: f64) -> Self {
        SqlValue::Real(v)
    }
}
impl From<bool> for SqlValue {
    fn from(v: bool) -> Self {
        SqlValue::Integer(v.into())
    }
}
impl From<&str> for SqlValue {
    fn from(v: &str) -> Self {
        SqlValue::Text(v.to_owned())
    }
}
impl From<String> for SqlValue {
    fn from(v: String) -> Self {
        SqlValue::Text(v)
    }
}
impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(SqlValue::Null, Into::into)
    }
}

/// A failed statement. The message comes from the database and never contains secrets
/// (secrets travel only as bound parameters).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("database error: {0}")]
pub struct StoreError(pub String);

/// One row of a result.
pub type Row = Vec<SqlValue>;

/// The one capability the core needs from storage: run one statement with bound parameters.
pub trait Database {
    /// Runs `sql` (a single statement) and returns its rows (empty for writes without
    /// `RETURNING`).
    fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>, StoreError>;
}

/// Column accessors that turn a missing or mistyped column into a [`StoreError`].
pub(crate) fn col_i64(row: &Row, i: usize) -> Result<i64, StoreError> {
    row.get(i)
        .and_then(SqlValue::as_i64)
        .ok_or_else(|| StoreError(format!("column {i}: expected an integer")))
}
pub(crate) fn col_opt_i64(row: &Row, i: usize) -> Option<i64> {
    row.get(i).and_then(SqlValue::as_i64)
}
pub(crate) fn col_string(row: &Row, i: usize) -> Result<String, StoreError> {
    row.get(i)
        .and_then(SqlValue::as_string)
        .ok_or_else(|| StoreError(format!("column {i}: expected text")))
}
pub(crate) fn col_opt_string(row: &Row, i: usize) -> Option<String> {
    row.get(i).and_then(SqlValue::as_string)
}

#[cfg(test)]
pub(crate) mod testing {
    //! A [`Database`] over in-memory SQLite, with the schema applied.
    use super::*;
    use rusqlite::types::{Value, ValueRef};

    pub struct MemoryDb(pub rusqlite::Connection);

    impl MemoryDb {
        pub fn new() -> Self {
            let db = MemoryDb(rusqlite::Connection::open_in_memory().unwrap());
            migrate::ensure_schema(&db).unwrap();
            db
        }
    }

    impl Database for MemoryDb {
        fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>, StoreError> {
            let mut stmt = self.0.prepare_cached(sql).map_err(|e| StoreError(e.to_string()))?;
            let params: Vec<Value> = params
                .iter()
                .map(|p| match p {
                    SqlValue::Integer(i) => Value::Integer(*i),
                    SqlValue::Real(f) => Value::Real(*f),
                    SqlValue::Text(s) => Value::Text(s.clone()),
                    SqlValue::Blob(b) => Value::Blob(b.clone()),
                    SqlValue::Null => Value::Null,
                })
                .collect();
            let columns = stmt.column_count();
            let mut rows = stmt
                .query(rusqlite::params_from_iter(params))
                .map_err(|e| StoreError(e.to_string()))?;
            let mut out = Vec::new();
            while let Some(row) = rows.next().map_err(|e| StoreError(e.to_string()))? {
                let mut values = Vec::with_capacity(columns);
                for i in 0..columns {
                    values.push(match row.get_ref(i).map_err(|e| StoreError(e.to_string()))? {
                        ValueRef::Integer(i) => SqlValue::Integer(i),
                        ValueRef::Real(f) => SqlValue::Real(f),
                        ValueRef::Text(t) => SqlValue::Text(String::from_utf8_lossy(t).into_owned()),
                        ValueRef::Blob(b) => SqlValue::Blob(b.to_vec()),
                        ValueRef::Null => SqlValue::Null,
                    });
                }
                out.push(values);
            }
            Ok(out)
        }
    }
}
