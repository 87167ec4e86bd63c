//! Which pool key holds each upstream resource (table `resources`, `0006_resources.sql`).
//!
//! A file, cached content, batch or long-running operation lives in the Google project of the
//! key that created it. Every one created through gempool is remembered here with that key and
//! the client that created it, so later requests naming it are sent to the same key
//! ([`holder`]) and a client sees only its own ([`visible`]). Rows past their expiry are
//! treated as gone and removed when the next resource is remembered.

use super::{col_i64, col_opt_i64, col_opt_string, col_string, Database, SqlValue, StoreError};

/// A remembered resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The upstream name (`files/abc`, `uploads/<id>`, ...).
    pub name: String,
    /// The pool key that holds it.
    pub key_id: i64,
    /// The client key that created it (`None`: an open or admin caller).
    pub client_id: Option<i64>,
    /// For an upload in progress: the upstream path and query of the session.
    pub upstream: Option<String>,
    /// When it was created (Unix ms).
    pub created_ms: i64,
}

impl Held {
    /// Whether `client` may see it: a client sees its own; a caller without a client key (open
    /// access, the admin key) sees every resource.
    pub fn visible_to(&self, client: Option<i64>) -> bool {
        client.is_none() || self.client_id == client
    }
}

/// A resource to remember.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewResource<'a> {
    /// The upstream name.
    pub name: &'a str,
    /// Its kind (`files`, `cachedContents`, `batches`, `operations`, `uploads`).
    pub kind: &'a str,
    /// The pool key that created it.
    pub key_id: i64,
    /// The client key that created it.
    pub client_id: Option<i64>,
    /// For an upload: the upstream session's path and query.
    pub upstream: Option<&'a str>,
    /// Now (Unix ms).
    pub now_ms: i64,
    /// When Google drops it (Unix ms); `None`: not before it is deleted.
    pub expires_ms: Option<i64>,
}

/// Remembers a resource (again: a name seen twice keeps its first holder and creator, and takes
/// the newer expiry), and drops rows that have expired.
pub fn remember(db: &dyn Database, new: &NewResource<'_>) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO resources (name, kind, key_id, client_id, upstream, created_ms, expires_ms) \
         VALUES (?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT (name) DO UPDATE SET expires_ms = excluded.expires_ms, upstream = excluded.upstream",
        &[
            new.name.into(),
            new.kind.into(),
            new.key_id.into(),
            new.client_id.map_or(SqlValue::Null, SqlValue::Integer),
            new.upstream.map_or(SqlValue::Null, |u| u.into()),
            new.now_ms.into(),
            new.expires_ms.map_or(SqlValue::Null, SqlValue::Integer),
        ],
    )?;
    db.execute(
        "DELETE FROM resources WHERE expires_ms IS NOT NULL AND expires_ms < ?",
        &[new.now_ms.into()],
    )?;
    Ok(())
}

fn held(row: &[SqlValue]) -> Result<Held, StoreError> {
    let row = row.to_vec();
    Ok(Held {
        name: col_string(&row, 0)?,
        key_id: col_i64(&row, 1)?,
        client_id: col_opt_i64(&row, 2),
        upstream: col_opt_string(&row, 3),
        created_ms: col_i64(&row, 4)?,
    })
}

/// The holder of `name`, unless it is unknown or expired.
pub fn holder(db: &dyn Database, name: &str, now_ms: i64) -> Result<Option<Held>, StoreError> {
    let rows = db.execute(
        "SELECT name, key_id, client_id, upstream, created_ms FROM resources \
         WHERE name = ? AND (expires_ms IS NULL OR expires_ms >= ?)",
        &[name.into(), now_ms.into()],
    )?;
    rows.first().map(|row| held(row)).transpose()
}

/// The holders of several names at once (unknown and expired names are left out).
pub fn holders(db: &dyn Database, names: &[String], now_ms: i64) -> Result<Vec<Held>, StoreError> {
    let mut out = Vec::new();
    for name in names {
        if let Some(found) = holder(db, name, now_ms)? {
            out.push(found);
        }
    }
    Ok(out)
}

/// Every live resource of `kind` that `client` may see, newest first.
pub fn visible(db: &dyn Database, kind: &str, client: Option<i64>, now_ms: i64) -> Result<Vec<Held>, StoreError> {
    let rows = db.execute(
        "SELECT name, key_id, client_id, upstream, created_ms FROM resources \
         WHERE kind = ? AND (expires_ms IS NULL OR expires_ms >= ?) AND (? IS NULL OR client_id = ?) \
         ORDER BY created_ms DESC, name",
        &[
            kind.into(),
            now_ms.into(),
            client.map_or(SqlValue::Null, SqlValue::Integer),
            client.map_or(SqlValue::Null, SqlValue::Integer),
        ],
    )?;
    rows.iter().map(|row| held(row)).collect()
}

/// Forgets a resource (deleted upstream, or an upload finished).
pub fn forget(db: &dyn Database, name: &str) -> Result<(), StoreError> {
    db.execute("DELETE FROM resources WHERE name = ?", &[name.into()])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::MemoryDb;

    fn db_with_keys() -> MemoryDb {
        let db = MemoryDb::new();
        for secret in ["AIzaKeyOne", "AIzaKeyTwo"] {
            crate::store::keys::add(&db, secret, None, None, Some(1), 0).unwrap();
        }
        db
    }

    fn new<'a>(name: &'a str, key_id: i64, client_id: Option<i64>, expires_ms: Option<i64>) -> NewResource<'a> {
        NewResource {
            name,
            kind: "files",
            key_id,
            client_id,
            upstream: None,
            now_ms: 1_000,
            expires_ms,
        }
    }

    #[test]
    fn a_remembered_resource_names_its_key_until_it_expires() {
        let db = db_with_keys();
        remember(&db, &new("files/a", 2, Some(7), Some(5_000))).unwrap();
        let found = holder(&db, "files/a", 4_999).unwrap().unwrap();
        assert_eq!((found.key_id, found.client_id), (2, Some(7)));
        assert_eq!(holder(&db, "files/a", 5_001).unwrap(), None);
        assert_eq!(holder(&db, "files/unknown", 0).unwrap(), None);
    }

    #[test]
    fn the_first_holder_stays_when_a_name_is_seen_again() {
        let db = db_with_keys();
        remember(&db, &new("files/a", 1, Some(7), Some(5_000))).unwrap();
        remember(&db, &new("files/a", 2, Some(8), Some(9_000))).unwrap();
        let found = holder(&db, "files/a", 8_000).unwrap().unwrap();
        assert_eq!((found.key_id, found.client_id), (1, Some(7)));
    }

    #[test]
    fn a_client_sees_only_its_own_and_an_open_caller_sees_all() {
        let db = db_with_keys();
        remember(&db, &new("files/mine", 1, Some(7), None)).unwrap();
        remember(&db, &new("files/theirs", 2, Some(8), None)).unwrap();
        remember(&db, &new("files/open", 2, None, None)).unwrap();
        let names = |client| -> Vec<String> {
            visible(&db, "files", client, 0)
                .unwrap()
                .into_iter()
                .map(|h| h.name)
                .collect()
        };
        assert_eq!(names(Some(7)), ["files/mine"]);
        assert_eq!(names(None).len(), 3);
        let theirs = holder(&db, "files/theirs", 0).unwrap().unwrap();
        assert!(!theirs.visible_to(Some(7)));
        assert!(theirs.visible_to(None));
    }

    #[test]
    fn expired_rows_are_dropped_and_a_deleted_key_takes_its_resources() {
        let db = db_with_keys();
        remember(&db, &new("files/old", 1, None, Some(500))).unwrap();
        remember(&db, &new("files/kept", 2, None, None)).unwrap();
        let rows = db.execute("SELECT name FROM resources ORDER BY name", &[]).unwrap();
        assert_eq!(rows, vec![vec![SqlValue::from("files/kept")]]);
        crate::store::keys::delete(&db, 2).unwrap();
        assert_eq!(holder(&db, "files/kept", 0).unwrap(), None);
        remember(&db, &new("files/b", 1, None, None)).unwrap();
        forget(&db, "files/b").unwrap();
        assert_eq!(holder(&db, "files/b", 0).unwrap(), None);
    }
}
