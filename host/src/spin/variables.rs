//! `fermyon:spin/variables@2.0.0` from a fixed map built at startup from the command line.
//!
//! The names are the contract with the guest (see [`crate::config`]): `upstream_url`,
//! `open_access` and, only when the operator passed one, `admin_key`. Name rules follow Spin's
//! (lowercase ASCII letters, digits and `_`, starting with a letter) so that a guest that works
//! here also works under `spin up`.

use std::collections::HashMap;

use crate::bindings::fermyon::spin::variables::{self as wit, Error};
use crate::state::Host;

/// The application variables every request sees.
#[derive(Clone, Default)]
pub struct Variables {
    values: HashMap<String, String>,
}

// Values may be secrets (the admin key): print names only.
impl std::fmt::Debug for Variables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.values.keys()).finish()
    }
}

impl Variables {
    /// Wraps a name -> value map.
    pub fn new(values: HashMap<String, String>) -> Self {
        Self { values }
    }

    /// Looks a variable up the way the guest sees it.
    pub fn get(&self, name: &str) -> Result<&str, Error> {
        if !is_valid_name(name) {
            return Err(Error::InvalidName(name.to_owned()));
        }
        self.values
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| Error::Undefined(name.to_owned()))
    }
}

fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl wit::Host for Host {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, Error>> {
        Ok(self.vars.get(&name).map(str::to_owned))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Variables {
        Variables::new(HashMap::from([("upstream_url".into(), "http://x".into())]))
    }

    #[test]
    fn known_names_resolve() {
        assert_eq!(vars().get("upstream_url").unwrap(), "http://x");
    }

    #[test]
    fn unknown_names_are_undefined() {
        assert!(matches!(vars().get("admin_key"), Err(Error::Undefined(n)) if n == "admin_key"));
    }

    #[test]
    fn names_spin_would_reject_are_invalid() {
        for bad in ["", "Upstream", "1x", "a-b"] {
            assert!(matches!(vars().get(bad), Err(Error::InvalidName(_))), "{bad}");
        }
    }
}
