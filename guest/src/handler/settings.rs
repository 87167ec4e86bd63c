//! What a request is configured by: the deployment's [`Config`] (host variables, fixed for
//! the process) and the stored [`Settings`] (the `settings` table, read once per request).
//!
//! Every on/off value goes through [`store::settings::flag`] (`true`, `1` or `yes`, any case):
//! before, `open_access` alone accepted `yes`, `pure_proxy` and `metrics_public` took `true`
//! or `1`, and the admin view showed `metrics_public` only for `true`.

use crate::error::GatewayError;
use crate::store::settings::{flag, Settings};
use crate::store::{self, Database};

/// The variable a host sets (to `true`) when its SQLite has the function
/// `gempool_next_ticket()`: a process-wide atomic counter, so the round-robin ticket costs no
/// write. The bundled host has it; under other hosts the ticket is one `UPDATE`.
pub const SQL_TICKET_VARIABLE: &str = "sql_ticket_function";
/// The variable a host sets (to `true`) to get [`super::ACCESS_HEADER`]; read apart from
/// [`Config`] because even `/health` answers carry the header.
pub const ACCESS_VARIABLE: &str = "access_log_header";

/// Deployment configuration, from the host's variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Gemini's origin, without a trailing slash.
    pub upstream_url: String,
    /// The admin key, when the operator configured one (else the stored hash is used).
    pub admin_key: Option<String>,
    /// Proxied requests need no client key.
    pub open_access: bool,
    /// The host's SQL has `gempool_next_ticket()` (variable [`SQL_TICKET_VARIABLE`]): round
    /// robin takes its ticket with a read instead of a write.
    pub sql_ticket_function: bool,
}

impl Config {
    /// The configuration from a variable lookup (`None`: not set; values are trimmed and an
    /// empty one counts as not set).
    pub fn from_variables(variable: impl Fn(&str) -> Option<String>) -> Self {
        let variable = |name: &str| variable(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let on = |name: &str| variable(name).is_some_and(|v| flag(&v));
        Config {
            upstream_url: variable("upstream_url")
                .unwrap_or_else(|| crate::upstream::DEFAULT_UPSTREAM_URL.to_owned())
                .trim_end_matches('/')
                .to_owned(),
            admin_key: variable("admin_key"),
            open_access: on("open_access"),
            sql_ticket_function: on(SQL_TICKET_VARIABLE),
        }
    }
}

/// Loads the typed settings, migrating the schema first when it is missing or old: one
/// statement on every request once the schema is current.
pub fn load_settings(db: &dyn Database) -> Result<Settings, GatewayError> {
    let pairs = match store::settings::load_with_schema_version(db) {
        Ok((version, pairs)) if version >= store::migrate::latest_version() => pairs,
        _ => {
            store::migrate::ensure_schema(db).map_err(GatewayError::from)?;
            store::settings::load(db).map_err(GatewayError::from)?
        }
    };
    Ok(Settings::from_pairs(&pairs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn variables_are_typed_with_the_one_flag_parser() {
        let vars: HashMap<&str, &str> = [
            ("upstream_url", " http://127.0.0.1:9/ "),
            ("admin_key", "  "),
            ("open_access", "yes"),
            (SQL_TICKET_VARIABLE, "1"),
        ]
        .into();
        let config = Config::from_variables(|name| vars.get(name).map(|v| v.to_string()));
        assert_eq!(
            config,
            Config {
                upstream_url: "http://127.0.0.1:9".into(),
                admin_key: None,
                open_access: true,
                sql_ticket_function: true,
            }
        );
        let none = Config::from_variables(|_| None);
        assert_eq!(none.upstream_url, crate::upstream::DEFAULT_UPSTREAM_URL);
        assert!(!none.open_access && !none.sql_ticket_function);
    }

    #[test]
    fn settings_load_migrates_an_empty_database_first() {
        let empty = crate::store::testing::MemoryDb(rusqlite::Connection::open_in_memory().unwrap());
        assert_eq!(load_settings(&empty).unwrap(), Settings::default());
        store::settings::put(&empty, store::settings::PURE_PROXY, "true").unwrap();
        assert!(load_settings(&empty).unwrap().pure_proxy);
    }
}
