//! Model names: client-facing aliases (`gpt-4o`, `claude-sonnet-4-5`) to Gemini model ids.
//!
//! Aliases are configurable (settings rows `alias:<name>` edited through the admin API) on
//! top of built-in defaults. Any name that is not an alias passes through as itself, so every
//! Gemini model id works with every protocol.

use std::collections::BTreeMap;

/// The pro model the "big" aliases map to by default.
pub const DEFAULT_PRO: &str = "gemini-2.5-pro";
/// The flash model the "small" aliases map to by default.
pub const DEFAULT_FLASH: &str = "gemini-2.5-flash";
/// The embedding model OpenAI embedding names map to.
pub const DEFAULT_EMBEDDING: &str = "gemini-embedding-001";

/// Built-in exact aliases.
pub const DEFAULT_ALIASES: &[(&str, &str)] = &[
    ("gpt-4o", DEFAULT_PRO),
    ("gpt-4.1", DEFAULT_PRO),
    ("gpt-5", DEFAULT_PRO),
    // Codex CLI's default model.
    ("gpt-5-codex", DEFAULT_PRO),
    ("o3", DEFAULT_PRO),
    ("gpt-4o-mini", DEFAULT_FLASH),
    ("gpt-4.1-mini", DEFAULT_FLASH),
    ("gpt-4.1-nano", "gemini-2.5-flash-lite"),
    ("gpt-5-mini", DEFAULT_FLASH),
    ("gpt-5-nano", "gemini-2.5-flash-lite"),
    ("gpt-3.5-turbo", DEFAULT_FLASH),
    ("o4-mini", DEFAULT_FLASH),
    ("text-embedding-3-small", DEFAULT_EMBEDDING),
    ("text-embedding-3-large", DEFAULT_EMBEDDING),
    ("text-embedding-ada-002", DEFAULT_EMBEDDING),
];

/// The alias table in force: defaults overridden by configured rows.
pub fn alias_table(configured: &[(String, String)]) -> BTreeMap<String, String> {
    let mut table: BTreeMap<String, String> = DEFAULT_ALIASES
        .iter()
        .map(|(a, m)| (a.to_string(), m.to_string()))
        .collect();
    for (name, value) in configured {
        if let Some(alias) = name.strip_prefix(crate::store::settings::ALIAS_PREFIX) {
            table.insert(alias.to_owned(), value.clone());
        }
    }
    table
}

/// Resolves a client's model name to the Gemini model id to call.
pub fn resolve(name: &str, configured: &[(String, String)]) -> String {
    let bare = name.strip_prefix("models/").unwrap_or(name);
    let table = alias_table(configured);
    if let Some(target) = table.get(bare) {
        return target.clone();
    }
    // Claude model families: opus/sonnet think hard, haiku is quick.
    if bare.starts_with("claude") {
        let family_target = |family: &str| table.get(&format!("claude-*-{family}")).cloned();
        if bare.contains("haiku") {
            return family_target("haiku").unwrap_or_else(|| DEFAULT_FLASH.to_owned());
        }
        if bare.contains("opus") {
            return family_target("opus").unwrap_or_else(|| DEFAULT_PRO.to_owned());
        }
        return family_target("sonnet").unwrap_or_else(|| DEFAULT_PRO.to_owned());
    }
    bare.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_map_client_names_to_gemini() {
        let none: Vec<(String, String)> = vec![];
        for (name, want) in [
            ("gpt-4o", DEFAULT_PRO),
            ("gpt-4o-mini", DEFAULT_FLASH),
            ("gpt-5-codex", DEFAULT_PRO),
            ("claude-sonnet-4-5-20250929", DEFAULT_PRO),
            ("claude-3-5-haiku-latest", DEFAULT_FLASH),
            ("claude-opus-4-1", DEFAULT_PRO),
            ("text-embedding-3-small", DEFAULT_EMBEDDING),
            ("gemini-2.5-flash-lite", "gemini-2.5-flash-lite"),
            ("models/gemini-3-pro-preview", "gemini-3-pro-preview"),
        ] {
            assert_eq!(resolve(name, &none), want, "{name}");
        }
    }

    #[test]
    fn configured_aliases_override_defaults() {
        let configured = vec![
            ("alias:gpt-4o".to_string(), "gemini-3-pro-preview".to_string()),
            ("alias:claude-*-haiku".to_string(), "gemini-2.5-flash-lite".to_string()),
            ("strategy".to_string(), "random".to_string()),
        ];
        assert_eq!(resolve("gpt-4o", &configured), "gemini-3-pro-preview");
        assert_eq!(resolve("claude-haiku-4-5", &configured), "gemini-2.5-flash-lite");
        assert_eq!(resolve("strategy", &configured), "strategy");
    }
}
