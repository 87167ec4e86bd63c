//! The `settings` table: pool settings, model aliases, model fallback chains, gateway switches
//! and the hashes of the admin key and the metrics token; [`Settings`] is its typed view.
//!
//! Settings are read once per request (one query) and written by the admin API; a change
//! applies to the next request. Every on/off value, stored or from a host variable, is read by
//! the one [`flag`] parser.

use super::{col_string, Database, StoreError};
use crate::pool::PoolSettings;

/// Name of the setting holding the lowercase hex SHA-256 of the generated admin key.
pub const ADMIN_KEY_HASH: &str = "admin_key_sha256";
/// Prefix of alias settings: `alias:gpt-4o` -> `gemini-2.5-pro`.
pub const ALIAS_PREFIX: &str = "alias:";
/// Prefix of fallback chain settings: `fallback:gemini-2.5-pro` -> `gemini-2.5-flash,gemini-2.5-flash-lite`
/// (the models tried, in order, when the first is rate limited or overloaded on every key).
pub const FALLBACK_PREFIX: &str = "fallback:";
/// The setting that turns pure-proxy mode on (clients may bring their own Gemini keys).
pub const PURE_PROXY: &str = "pure_proxy";
/// The setting that serves `/metrics` without any key (loopback-only set-ups).
pub const METRICS_PUBLIC: &str = "metrics_public";
/// Where the metrics token's SHA-256 (lowercase hex) is stored; the token itself is not.
pub const METRICS_TOKEN_HASH: &str = "metrics_token_sha256";

/// Reads an on/off value: `true`, `1` or `yes` (trimmed, any case) are on, anything else off.
/// The one reading of every flag, stored settings and host variables alike.
pub fn flag(value: &str) -> bool {
    let value = value.trim();
    ["true", "1", "yes"].iter().any(|on| value.eq_ignore_ascii_case(on))
}

/// The settings table, typed: what a request needs of it, read once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    /// The pool's tunables (the defaults when a stored value is malformed).
    pub pool: PoolSettings,
    /// Pure-proxy mode: a caller may bring its own Gemini keys as the pool.
    pub pure_proxy: bool,
    /// `/metrics` needs no key.
    pub metrics_public: bool,
    /// The metrics token's SHA-256, when one is set.
    pub metrics_token_hash: Option<String>,
    /// The generated admin key's SHA-256 (used when the operator configured none).
    pub admin_key_hash: Option<String>,
    /// The configured alias rows (`alias:<name>`, target model), for [`crate::models`].
    pub aliases: Vec<(String, String)>,
    /// The configured fallback chains: a model and the models to try after it, in order
    /// (none configured: no fallback, the default).
    pub fallbacks: Vec<(String, Vec<String>)>,
}

impl Settings {
    /// Types stored (name, value) pairs; names nobody owns are ignored.
    pub fn from_pairs(pairs: &[(String, String)]) -> Self {
        let value = |name: &str| pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        Settings {
            pool: PoolSettings::from_pairs(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))).unwrap_or_default(),
            pure_proxy: value(PURE_PROXY).is_some_and(flag),
            metrics_public: value(METRICS_PUBLIC).is_some_and(flag),
            metrics_token_hash: value(METRICS_TOKEN_HASH).map(str::to_owned),
            admin_key_hash: value(ADMIN_KEY_HASH).map(str::to_owned),
            aliases: pairs
                .iter()
                .filter(|(n, _)| n.starts_with(ALIAS_PREFIX))
                .cloned()
                .collect(),
            fallbacks: pairs
                .iter()
                .filter_map(|(n, v)| Some((n.strip_prefix(FALLBACK_PREFIX)?.to_owned(), fallback_chain(v))))
                .filter(|(_, chain)| !chain.is_empty())
                .collect(),
        }
    }

    /// The models to try after `model` when it is rate limited or overloaded on every key
    /// (empty: no chain configured for it).
    pub fn fallbacks_for(&self, model: &str) -> &[String] {
        self.fallbacks
            .iter()
            .find(|(m, _)| m == model)
            .map_or(&[], |(_, chain)| chain.as_slice())
    }
}

/// A stored chain (`gemini-2.5-flash,gemini-2.5-flash-lite`) as its models, blanks dropped.
pub fn fallback_chain(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
        .collect()
}

/// All settings as (name, value) pairs.
pub fn load(db: &dyn Database) -> Result<Vec<(String, String)>, StoreError> {
    db.execute("SELECT name, value FROM settings", &[])?
        .iter()
        .map(|r| Ok((col_string(r, 0)?, col_string(r, 1)?)))
        .collect()
}

/// The schema version and all settings in one statement: the first thing every request reads.
/// `Err` when the schema is missing altogether.
pub fn load_with_schema_version(db: &dyn Database) -> Result<(i64, Vec<(String, String)>), StoreError> {
    let rows = db.execute(
        "SELECT 0, name, value FROM settings UNION ALL SELECT 1, '', MAX(version) FROM schema_migrations",
        &[],
    )?;
    let mut version = 0;
    let mut pairs = Vec::with_capacity(rows.len());
    for row in &rows {
        if super::col_opt_i64(row, 0) == Some(1) {
            version = super::col_opt_i64(row, 2).unwrap_or(0);
        } else {
            pairs.push((col_string(row, 1)?, col_string(row, 2)?));
        }
    }
    Ok((version, pairs))
}

/// Sets one setting.
pub fn put(db: &dyn Database, name: &str, value: &str) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        &[name.into(), value.into()],
    )?;
    Ok(())
}

/// Removes one setting (falls back to the default). Returns false if it was not set.
pub fn remove(db: &dyn Database, name: &str) -> Result<bool, StoreError> {
    Ok(!db
        .execute("DELETE FROM settings WHERE name = ? RETURNING name", &[name.into()])?
        .is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::MemoryDb;

    #[test]
    fn one_flag_parser_for_every_switch() {
        for on in ["true", "1", "yes", " TRUE ", "Yes"] {
            assert!(flag(on), "{on}");
        }
        for off in ["false", "0", "no", "", "on", "2", "truthy"] {
            assert!(!flag(off), "{off}");
        }
    }

    #[test]
    fn settings_are_typed_once() {
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
        };
        let typed = Settings::from_pairs(&pairs(&[
            ("strategy", "random"),
            (PURE_PROXY, "1"),
            (METRICS_PUBLIC, "false"),
            (METRICS_TOKEN_HASH, "abc"),
            ("alias:gpt-4o", "gemini-2.5-flash"),
            ("fallback:gemini-2.5-pro", " gemini-2.5-flash, gemini-2.5-flash-lite ,"),
            ("fallback:empty", " , "),
            ("something_else", "x"),
        ]));
        assert_eq!(
            typed.fallbacks_for("gemini-2.5-pro"),
            ["gemini-2.5-flash".to_string(), "gemini-2.5-flash-lite".to_string()]
        );
        assert!(typed.fallbacks_for("gemini-2.5-flash").is_empty());
        assert!(typed.fallbacks_for("empty").is_empty());
        assert_eq!(typed.pool.strategy, crate::pool::Strategy::Random);
        assert!(typed.pure_proxy && !typed.metrics_public);
        assert_eq!(typed.metrics_token_hash.as_deref(), Some("abc"));
        assert_eq!(typed.admin_key_hash, None);
        assert_eq!(typed.aliases, pairs(&[("alias:gpt-4o", "gemini-2.5-flash")]));
        // A malformed pool value keeps the pool's defaults, as before.
        let bad = Settings::from_pairs(&pairs(&[("max_attempts", "many"), (PURE_PROXY, "true")]));
        assert_eq!(bad.pool, PoolSettings::default());
        assert!(bad.pure_proxy);
        assert_eq!(Settings::from_pairs(&[]), Settings::default());
    }

    #[test]
    fn settings_come_with_the_schema_version() {
        let db = MemoryDb::new();
        put(&db, "strategy", "random").unwrap();
        let (version, pairs) = load_with_schema_version(&db).unwrap();
        assert_eq!(version, crate::store::migrate::latest_version());
        assert_eq!(pairs, vec![("strategy".to_string(), "random".to_string())]);
        let empty = crate::store::testing::MemoryDb(rusqlite::Connection::open_in_memory().unwrap());
        assert!(load_with_schema_version(&empty).is_err(), "no schema yet");
    }

    #[test]
    fn put_overwrites_and_remove_deletes() {
        let db = MemoryDb::new();
        put(&db, "strategy", "random").unwrap();
        put(&db, "strategy", "least_used").unwrap();
        assert_eq!(
            load(&db).unwrap(),
            vec![("strategy".to_string(), "least_used".to_string())]
        );
        assert!(remove(&db, "strategy").unwrap());
        assert!(!remove(&db, "strategy").unwrap());
        assert!(load(&db).unwrap().is_empty());
    }
}
