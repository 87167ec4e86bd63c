//! Client keys: the access keys an operator hands out, stored as SHA-256 hashes with limits.

use super::{col_i64, col_opt_i64, col_opt_string, col_string, Database, SqlValue, StoreError};
use serde::{Deserialize, Serialize};

/// The limits and scope of a client key; every field optional (no limit).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientLimits {
    /// Models (Gemini ids or aliases as the client names them) the key may use; empty = all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_models: Vec<String>,
    /// Unix ms after which the key stops working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// Requests per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<i64>,
    /// Requests per UTC day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpd: Option<i64>,
    /// Tokens (prompt + output, from usageMetadata) per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<i64>,
}

/// A client key as the admin API lists it (never the key itself).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientKeyInfo {
    /// The key's row id.
    pub id: i64,
    /// The operator's name for the key.
    pub name: String,
    /// A short prefix and suffix of the key, e.g. `gp-Ab…9xQ`.
    pub hint: String,
    /// When the key was created (Unix ms).
    pub created_at: i64,
    /// When it was revoked (Unix ms), if it was.
    pub revoked_at: Option<i64>,
    /// Its limits and allowed models.
    #[serde(flatten)]
    pub limits: ClientLimits,
}

/// The active client key matching a presented secret.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientKey {
    /// The key's row id.
    pub id: i64,
    /// The operator's name for the key.
    pub name: String,
    /// Its limits and allowed models.
    pub limits: ClientLimits,
}

fn limits_from(row: &super::Row, start: usize) -> ClientLimits {
    ClientLimits {
        allowed_models: col_opt_string(row, start)
            .map(|s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        expires_at: col_opt_i64(row, start + 1),
        rpm: col_opt_i64(row, start + 2),
        rpd: col_opt_i64(row, start + 3),
        tpm: col_opt_i64(row, start + 4),
    }
}

fn allowed_models_column(limits: &ClientLimits) -> SqlValue {
    if limits.allowed_models.is_empty() {
        SqlValue::Null
    } else {
        SqlValue::Text(limits.allowed_models.join(","))
    }
}

/// Stores a new client key by its hash. `hint` is the redacted form shown later.
pub fn create(
    db: &dyn Database,
    name: &str,
    key_hash: &str,
    hint: &str,
    limits: &ClientLimits,
    now_ms: i64,
) -> Result<i64, StoreError> {
    let rows = db.execute(
        "INSERT INTO client_keys (name, key_hash, key_hint, created_at, expires_at, allowed_models, rpm, rpd, tpm) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        &[
            name.into(),
            key_hash.into(),
            hint.into(),
            now_ms.into(),
            limits.expires_at.into(),
            allowed_models_column(limits),
            limits.rpm.into(),
            limits.rpd.into(),
            limits.tpm.into(),
        ],
    )?;
    rows.first()
        .map(|r| col_i64(r, 0))
        .unwrap_or_else(|| Err(StoreError("insert returned no id".into())))
}

/// Replaces a key's limits. Returns false if no such key.
pub fn update_limits(db: &dyn Database, id: i64, limits: &ClientLimits) -> Result<bool, StoreError> {
    let rows = db.execute(
        "UPDATE client_keys SET expires_at = ?, allowed_models = ?, rpm = ?, rpd = ?, tpm = ? WHERE id = ? RETURNING id",
        &[
            limits.expires_at.into(),
            allowed_models_column(limits),
            limits.rpm.into(),
            limits.rpd.into(),
            limits.tpm.into(),
            id.into(),
        ],
    )?;
    Ok(!rows.is_empty())
}

/// Every client key, newest first.
pub fn list(db: &dyn Database) -> Result<Vec<ClientKeyInfo>, StoreError> {
    let rows = db.execute(
        "SELECT id, name, key_hint, created_at, revoked_at, allowed_models, expires_at, rpm, rpd, tpm \
         FROM client_keys ORDER BY id DESC",
        &[],
    )?;
    rows.iter()
        .map(|r| {
            Ok(ClientKeyInfo {
                id: col_i64(r, 0)?,
                name: col_string(r, 1)?,
                hint: col_string(r, 2)?,
                created_at: col_opt_i64(r, 3).unwrap_or(0),
                revoked_at: col_opt_i64(r, 4),
                limits: limits_from(r, 5),
            })
        })
        .collect()
}

/// Revokes a key. Returns false if no such (unrevoked) key.
pub fn revoke(db: &dyn Database, id: i64, now_ms: i64) -> Result<bool, StoreError> {
    let rows = db.execute(
        "UPDATE client_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL RETURNING id",
        &[now_ms.into(), id.into()],
    )?;
    Ok(!rows.is_empty())
}

/// Finds the unrevoked client key with this hash (expiry is checked by the caller, so it can
/// say "expired" rather than "unknown").
pub fn find_by_hash(db: &dyn Database, key_hash: &str) -> Result<Option<ClientKey>, StoreError> {
    let rows = db.execute(
        "SELECT id, name, allowed_models, expires_at, rpm, rpd, tpm FROM client_keys \
         WHERE key_hash = ? AND revoked_at IS NULL",
        &[key_hash.into()],
    )?;
    rows.first()
        .map(|r| {
            Ok(ClientKey {
                id: col_i64(r, 0)?,
                name: col_string(r, 1)?,
                limits: limits_from(r, 2),
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::MemoryDb;

    #[test]
    fn created_key_is_found_by_hash_until_revoked() {
        let db = MemoryDb::new();
        let limits = ClientLimits {
            allowed_models: vec!["gemini-2.5-flash".into()],
            rpm: Some(5),
            ..Default::default()
        };
        let id = create(&db, "alice", "h1", "gp-ab…yz", &limits, 1).unwrap();
        let found = find_by_hash(&db, "h1").unwrap().unwrap();
        assert_eq!(found.id, id);
        assert_eq!(found.limits, limits);
        assert!(find_by_hash(&db, "h2").unwrap().is_none());
        assert!(revoke(&db, id, 2).unwrap());
        assert!(!revoke(&db, id, 3).unwrap(), "revoking twice reports nothing to do");
        assert!(find_by_hash(&db, "h1").unwrap().is_none());
        let listed = list(&db).unwrap();
        assert_eq!(listed[0].revoked_at, Some(2));
        assert_eq!(listed[0].hint, "gp-ab…yz");
    }
}
