//! Model names: client-facing names (`gpt-4o`, `claude-opus-5-5`, `gpt-6.2-sol`) to Gemini
//! model ids.
//!
//! A name resolves, first match wins:
//! 1. an exact alias (configurable settings rows `alias:<name>`, edited through the admin API,
//!    on top of [`DEFAULT_ALIASES`]);
//! 2. by family: a name of a known client family ([`family_of`]: `gpt-*`, `o<digit>*`,
//!    `chatgpt-*`, `codex-*`, `claude-*`) goes to its family's default for its tier. Names with a
//!    small-model word ([`SMALL_MARKERS`]: mini, nano, haiku, lite, small) take the flash tier
//!    (pattern `<family>*-mini`, Claude's `claude-*-haiku`), the others the pro tier (pattern
//!    `<family>*`). The patterns are aliases too, listed in [`DEFAULT_ALIASES`] and configurable
//!    the same way; for Claude, configured `claude-*-opus` / `claude-*-sonnet` rows refine the
//!    pro tier. New client model names appear every month; this keeps them working without an
//!    alias each;
//! 3. anything else passes through as itself, so every Gemini model id works with every
//!    protocol (Gemini-family names never match a client family).

use std::collections::BTreeMap;

/// The pro model the "big" aliases map to by default.
pub const DEFAULT_PRO: &str = "gemini-2.5-pro";
/// The flash model the "small" aliases map to by default.
pub const DEFAULT_FLASH: &str = "gemini-2.5-flash";
/// The embedding model OpenAI embedding names map to.
pub const DEFAULT_EMBEDDING: &str = "gemini-embedding-001";

/// The image model OpenAI image model names map to.
pub const DEFAULT_IMAGE: &str = crate::protocol::openai::images::DEFAULT_IMAGE_MODEL;

/// The text-to-speech model OpenAI speech model names map to.
pub const DEFAULT_TTS: &str = crate::protocol::openai::speech::DEFAULT_TTS_MODEL;

/// Words (between `-`, `.` or `_`) that mark a small, fast client model.
pub const SMALL_MARKERS: &[&str] = &["mini", "nano", "haiku", "lite", "small"];

/// Built-in aliases: exact names, then the family patterns of the two tiers.
pub const DEFAULT_ALIASES: &[(&str, &str)] = &[
    ("gpt-4o", DEFAULT_PRO),
    ("gpt-4.1", DEFAULT_PRO),
    ("gpt-5", DEFAULT_PRO),
    // Codex CLI's default model in 2025.
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
    // OpenAI's image models, for `/v1/images/generations`.
    ("gpt-image-1", DEFAULT_IMAGE),
    ("gpt-image-1-mini", DEFAULT_IMAGE),
    ("dall-e-3", DEFAULT_IMAGE),
    ("dall-e-2", DEFAULT_IMAGE),
    // OpenAI's speech models, for `/v1/audio/speech`.
    ("tts-1", DEFAULT_TTS),
    ("tts-1-hd", DEFAULT_TTS),
    ("gpt-4o-mini-tts", DEFAULT_TTS),
    // Family defaults (see the module doc).
    ("gpt-*", DEFAULT_PRO),
    ("gpt-*-mini", DEFAULT_FLASH),
    ("o*", DEFAULT_PRO),
    ("o*-mini", DEFAULT_FLASH),
    ("chatgpt-*", DEFAULT_PRO),
    ("chatgpt-*-mini", DEFAULT_FLASH),
    ("codex-*", DEFAULT_PRO),
    ("codex-*-mini", DEFAULT_FLASH),
    ("claude-*", DEFAULT_PRO),
    ("claude-*-haiku", DEFAULT_FLASH),
];

/// A client model family: the alias patterns of its pro and flash tiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Family {
    /// The alias pattern of the pro tier, e.g. `gpt-*`.
    pub pro: &'static str,
    /// The alias pattern of the flash tier, e.g. `gpt-*-mini`.
    pub flash: &'static str,
}

/// The client family a bare model name belongs to, if any.
pub fn family_of(name: &str) -> Option<Family> {
    let lower = name.to_ascii_lowercase();
    let family = |pro, flash| Some(Family { pro, flash });
    if lower.starts_with("gpt-") {
        family("gpt-*", "gpt-*-mini")
    } else if lower.starts_with("chatgpt-") {
        family("chatgpt-*", "chatgpt-*-mini")
    } else if lower.starts_with("codex-") {
        family("codex-*", "codex-*-mini")
    } else if lower.starts_with("claude-") || lower == "claude" {
        family("claude-*", "claude-*-haiku")
    } else if lower
        .strip_prefix('o')
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
    {
        family("o*", "o*-mini")
    } else {
        None
    }
}

/// Does the name carry a small-model word (`gpt-5.4-mini`, `claude-haiku-5-5`, `o4-mini-high`)?
pub fn is_small(name: &str) -> bool {
    name.to_ascii_lowercase()
        .split(['-', '.', '_'])
        .any(|word| SMALL_MARKERS.contains(&word))
}

/// The alias table in force: defaults overridden by configured rows.
pub fn alias_table(configured: &[(String, String)]) -> BTreeMap<String, String> {
    // Inserted one by one, not collected: collecting into a map is one more copy of the
    // standard library's sort in the component.
    let mut table = BTreeMap::new();
    for (alias, model) in DEFAULT_ALIASES {
        table.insert(alias.to_string(), model.to_string());
    }
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
    let Some(family) = family_of(bare) else {
        return bare.to_owned();
    };
    let pattern = if is_small(bare) {
        family.flash
    } else {
        // Configured Claude sub-families (`claude-*-opus`, `claude-*-sonnet`) refine the pro tier.
        let lower = bare.to_ascii_lowercase();
        let refined = ["opus", "sonnet"]
            .into_iter()
            .filter(|_| family.pro == "claude-*")
            .find(|sub| lower.contains(sub))
            .and_then(|sub| table.get(&format!("claude-*-{sub}")));
        if let Some(target) = refined {
            return target.clone();
        }
        family.pro
    };
    table.get(pattern).cloned().unwrap_or_else(|| {
        // A default pattern cannot be removed (a configured row only replaces it), but stay total.
        if is_small(bare) { DEFAULT_FLASH } else { DEFAULT_PRO }.to_owned()
    })
}

/// Client-facing Claude names that Anthropic-shaped `GET /v1/models` lists before the Gemini
/// models (current and previous generation of each tier; each resolves by family, like any
/// other `claude-*` name). Configured exact `claude-*` aliases are listed too.
pub const LISTED_CLAUDE_MODELS: &[&str] = &[
    "claude-opus-5-5",
    "claude-sonnet-5-5",
    "claude-haiku-5-5",
    "claude-opus-4-8",
    "claude-sonnet-4-6",
    "claude-haiku-4-5",
];

/// The client-facing Claude names to list, with the Gemini model each resolves to.
pub fn listed_claude_models(configured: &[(String, String)]) -> Vec<(String, String)> {
    let mut names: Vec<String> = LISTED_CLAUDE_MODELS.iter().map(|n| n.to_string()).collect();
    for alias in alias_table(configured).into_keys() {
        if alias.starts_with("claude") && !alias.contains('*') && !names.contains(&alias) {
            names.push(alias);
        }
    }
    names
        .into_iter()
        .map(|name| {
            let target = resolve(&name, configured);
            (name, target)
        })
        .collect()
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
            ("gpt-4.1-nano", "gemini-2.5-flash-lite"),
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
    fn new_client_names_resolve_by_family_and_tier() {
        let none: Vec<(String, String)> = vec![];
        for (name, want) in [
            // Codex's and Claude Code's defaults at the time of writing.
            ("gpt-6.2-sol", DEFAULT_PRO),
            ("claude-opus-5-5", DEFAULT_PRO),
            ("claude-fable-5-2", DEFAULT_PRO),
            ("claude-haiku-5-5", DEFAULT_FLASH),
            ("gpt-5.4-mini", DEFAULT_FLASH),
            ("gpt-7-nano", DEFAULT_FLASH),
            ("o5", DEFAULT_PRO),
            ("o3-pro", DEFAULT_PRO),
            ("o9-mini-high", DEFAULT_FLASH),
            ("chatgpt-4o-latest", DEFAULT_PRO),
            ("codex-mini-latest", DEFAULT_FLASH),
            ("codex-2", DEFAULT_PRO),
            ("GPT-6", DEFAULT_PRO),
        ] {
            assert_eq!(resolve(name, &none), want, "{name}");
        }
        // Not client families: passed through unchanged.
        for name in [
            "gemini-3.1-pro-preview",
            "gemini-3.5-flash-lite",
            "gemma-3-27b-it",
            "openai-thing",
            "omni-model",
            "o",
            "gpt",
            "learnlm-2.0-flash-experimental",
        ] {
            assert_eq!(resolve(name, &none), name, "{name}");
        }
    }

    #[test]
    fn small_markers_are_whole_words() {
        assert!(is_small("gpt-5.4-mini"));
        assert!(is_small("claude-haiku-4-5"));
        assert!(is_small("gpt_lite"));
        assert!(!is_small("gpt-minimal"));
        assert!(!is_small("gemini-2.5-pro"));
    }

    #[test]
    fn configured_aliases_override_defaults_and_family_patterns() {
        let configured = vec![
            ("alias:gpt-4o".to_string(), "gemini-3-pro-preview".to_string()),
            ("alias:claude-*-haiku".to_string(), "gemini-2.5-flash-lite".to_string()),
            ("alias:claude-*-opus".to_string(), "gemini-3.1-pro-preview".to_string()),
            ("alias:gpt-*".to_string(), "gemini-3-pro-preview".to_string()),
            ("alias:gpt-*-mini".to_string(), "gemini-3.5-flash".to_string()),
            ("alias:gpt-6.2-sol".to_string(), "gemini-3.1-pro-preview".to_string()),
            ("strategy".to_string(), "random".to_string()),
        ];
        assert_eq!(resolve("gpt-4o", &configured), "gemini-3-pro-preview");
        assert_eq!(resolve("claude-haiku-4-5", &configured), "gemini-2.5-flash-lite");
        assert_eq!(resolve("claude-opus-5-5", &configured), "gemini-3.1-pro-preview");
        // No sonnet row: the Claude pro tier.
        assert_eq!(resolve("claude-sonnet-5-5", &configured), DEFAULT_PRO);
        // An exact alias wins over its family.
        assert_eq!(resolve("gpt-6.2-sol", &configured), "gemini-3.1-pro-preview");
        assert_eq!(resolve("gpt-7", &configured), "gemini-3-pro-preview");
        assert_eq!(resolve("gpt-7-mini", &configured), "gemini-3.5-flash");
        // Exact defaults still beat a configured family pattern.
        assert_eq!(resolve("gpt-4o-mini", &configured), DEFAULT_FLASH);
        assert_eq!(resolve("strategy", &configured), "strategy");
    }

    #[test]
    fn listed_claude_models_resolve_and_include_configured_names() {
        let configured = vec![("alias:claude-custom".to_string(), "gemini-3-flash-preview".to_string())];
        let listed = listed_claude_models(&configured);
        assert_eq!(listed[0], ("claude-opus-5-5".to_string(), DEFAULT_PRO.to_string()));
        assert!(listed.contains(&("claude-haiku-5-5".to_string(), DEFAULT_FLASH.to_string())));
        assert_eq!(
            listed.last(),
            Some(&("claude-custom".to_string(), "gemini-3-flash-preview".to_string()))
        );
    }
}
