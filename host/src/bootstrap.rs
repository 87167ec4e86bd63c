//! First-start work on the database after the migrations: the admin key and the `--keys` import.
//!
//! Admin key contract with the guest: when no `--admin-key` is given, the guest accepts the key
//! whose lowercase hex SHA-256 is stored in `settings` under `admin_key_sha256`. This module
//! generates that key once (`gp-admin-` + 32 URL-safe random characters), stores only its hash,
//! and hands the key back so the caller can show it exactly once.

use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

use crate::migrations::unix_millis;

/// The `settings` row holding the admin key's hash.
pub const ADMIN_KEY_SETTING: &str = "admin_key_sha256";

/// Prefix of generated admin keys, so they are recognisable in a password manager or a leak scan.
pub const ADMIN_KEY_PREFIX: &str = "gp-admin-";

const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Makes sure an admin key exists. Returns the new key if one was generated now (and only then);
/// `None` if the hash was already stored.
pub fn ensure_admin_key(conn: &Connection) -> anyhow::Result<Option<String>> {
    let stored: Option<String> = conn
        .query_row(
            "SELECT value FROM settings WHERE name = ?1",
            [ADMIN_KEY_SETTING],
            |row| row.get(0),
        )
        .optional()?;
    if stored.is_some() {
        return Ok(None);
    }
    let key = generate_admin_key()?;
    let inserted = conn.execute(
        "INSERT OR IGNORE INTO settings (name, value) VALUES (?1, ?2)",
        params![ADMIN_KEY_SETTING, sha256_hex(&key)],
    )?;
    // Another process may have stored its own key between our read and write; then ours is
    // not the valid one and must not be shown.
    Ok((inserted == 1).then_some(key))
}

/// Adds upstream keys to the pool, keeping existing ones (and their state) untouched.
/// Returns how many were new.
pub fn import_upstream_keys(conn: &mut Connection, keys: &[String]) -> rusqlite::Result<usize> {
    let tx = conn.transaction()?;
    let mut added = 0;
    {
        let mut insert = tx.prepare(
            "INSERT INTO upstream_keys (secret, label, created_at) VALUES (?1, NULL, ?2) \
             ON CONFLICT(secret) DO NOTHING",
        )?;
        let now = unix_millis();
        for key in keys {
            added += insert.execute(params![key, now])?;
        }
    }
    tx.commit()?;
    Ok(added)
}

/// A fresh admin key: [`ADMIN_KEY_PREFIX`] + 32 characters from the URL-safe base64 alphabet
/// (192 bits of entropy).
pub fn generate_admin_key() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no system randomness: {e}"))?;
    let mut key = String::with_capacity(ADMIN_KEY_PREFIX.len() + bytes.len());
    key.push_str(ADMIN_KEY_PREFIX);
    // 256 is a multiple of 64, so taking 6 bits of each byte keeps the choice uniform.
    key.extend(bytes.iter().map(|b| char::from(URL_SAFE[usize::from(b & 63)])));
    Ok(key)
}

/// Lowercase hex SHA-256 of `text`, the form keys are stored in.
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE upstream_keys (id INTEGER PRIMARY KEY, secret TEXT NOT NULL UNIQUE,
                 label TEXT, created_at INTEGER NOT NULL, disabled INTEGER NOT NULL DEFAULT 0);",
        )
        .unwrap();
        conn
    }

    #[test]
    fn generated_keys_have_the_documented_shape() {
        let key = generate_admin_key().unwrap();
        let tail = key.strip_prefix(ADMIN_KEY_PREFIX).unwrap();
        assert_eq!(tail.len(), 32);
        assert!(tail.bytes().all(|b| URL_SAFE.contains(&b)));
        assert_ne!(key, generate_admin_key().unwrap());
    }

    #[test]
    fn the_admin_key_is_generated_once_and_stored_as_a_hash() {
        let conn = db();
        let key = ensure_admin_key(&conn).unwrap().expect("first start generates a key");
        assert!(ensure_admin_key(&conn).unwrap().is_none());
        let stored: String = conn
            .query_row("SELECT value FROM settings WHERE name = ?1", [ADMIN_KEY_SETTING], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(stored, sha256_hex(&key));
        assert!(!stored.contains(&key));
    }

    #[test]
    fn sha256_hex_is_lowercase_hex() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn importing_keys_keeps_existing_ones() {
        let mut conn = db();
        let keys = ["k1".to_owned(), "k2".to_owned()];
        assert_eq!(import_upstream_keys(&mut conn, &keys).unwrap(), 2);
        conn.execute("UPDATE upstream_keys SET disabled = 1 WHERE secret = 'k1'", [])
            .unwrap();
        let more = ["k1".to_owned(), "k3".to_owned()];
        assert_eq!(import_upstream_keys(&mut conn, &more).unwrap(), 1);
        let disabled: i64 = conn
            .query_row("SELECT disabled FROM upstream_keys WHERE secret = 'k1'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(disabled, 1);
    }
}
