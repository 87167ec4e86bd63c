//! The secrets an instance knows, and scrubbing them out of everything that leaves it.
//!
//! Upstream text can carry a pool key (Google's suspension message reads "Consumer
//! 'api_key:…' has been suspended"), and stored text (disabled reasons, the request log)
//! came from the upstream. Pattern-based redaction only catches keys that look like Google's,
//! so every string that leaves the component (a reply, a request-log row, a disabled reason)
//! is also scrubbed of every secret the instance knows, by exact match and whatever its
//! format: each occurrence becomes the secret's short hint ([`crate::auth::redact`]).

use std::borrow::Cow;

use crate::auth;

/// Secrets shorter than this are not searched for in text: a one-letter "key" would mangle
/// every message. Pool keys this short are refused when added (see the admin API).
pub const MIN_SCRUBBED_LEN: usize = 6;

/// A set of secrets to scrub, longest first (so a secret containing another is replaced whole).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    known: Vec<String>,
}

impl Secrets {
    /// The given secrets (empty and too-short ones are skipped, duplicates dropped).
    pub fn new<I, S>(secrets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut set = Secrets::default();
        set.extend(secrets);
        set
    }

    /// Adds more secrets.
    pub fn extend<I, S>(&mut self, secrets: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        for secret in secrets {
            self.add(&secret.into());
        }
        self.sort();
    }

    /// One secret, unsorted (not generic, so `extend`'s many instances share it).
    fn add(&mut self, secret: &str) {
        let secret = secret.trim();
        if secret.chars().count() >= MIN_SCRUBBED_LEN && !self.known.iter().any(|k| k == secret) {
            self.known.push(secret.to_owned());
        }
    }

    /// Longest first (stable: equal lengths keep their order).
    fn sort(&mut self) {
        crate::sort::sort_by_key(&mut self.known, |k| std::cmp::Reverse(k.len()));
    }

    /// Whether there is nothing to scrub.
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// `text` with every known secret (raw, or as it appears escaped inside a JSON string)
    /// replaced by its hint, and any remaining Google-key-shaped run redacted.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for secret in &self.known {
            let hint = hint(secret);
            for form in forms(secret) {
                if out.contains(form.as_ref()) {
                    out = Cow::Owned(out.replace(form.as_ref(), &hint));
                }
            }
        }
        match crate::pool::details::redact_keys(&out) {
            redacted if redacted != out => Cow::Owned(redacted),
            _ => out,
        }
    }

    /// [`Self::scrub`] over bytes that may not be UTF-8 (a body): invalid sequences are kept.
    pub fn scrub_bytes(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        match std::str::from_utf8(bytes) {
            Ok(text) => match self.scrub(text) {
                Cow::Borrowed(_) => None,
                Cow::Owned(clean) => Some(clean.into_bytes()),
            },
            // Not text: scrub the raw forms byte-wise.
            Err(_) => {
                let mut out = bytes.to_vec();
                let mut changed = false;
                for secret in &self.known {
                    let hint = hint(secret);
                    while let Some(at) = find(&out, secret.as_bytes()) {
                        out.splice(at..at + secret.len(), hint.bytes());
                        changed = true;
                    }
                }
                changed.then_some(out)
            }
        }
    }
}

/// The secret's short hint, safe inside any JSON string or header (odd characters become `*`).
fn hint(secret: &str) -> String {
    auth::redact(secret)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '…') {
                c
            } else {
                '*'
            }
        })
        .collect()
}

/// The ways a secret can appear in text: raw, and escaped inside a JSON string.
fn forms(secret: &str) -> Vec<Cow<'_, str>> {
    let mut forms = vec![Cow::Borrowed(secret)];
    if let Ok(quoted) = serde_json::to_string(secret) {
        let escaped = &quoted[1..quoted.len() - 1];
        if escaped != secret {
            forms.push(Cow::Owned(escaped.to_owned()));
        }
    }
    forms
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > haystack.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_secret_is_replaced_by_its_hint_whatever_its_format() {
        let secrets = Secrets::new(["sk-odd-format-pool-key-123456", "short1", "x"]);
        let text = "Consumer 'api_key:sk-odd-format-pool-key-123456' has been suspended; also short1.";
        let clean = secrets.scrub(text);
        assert!(!clean.contains("sk-odd-format-pool-key-123456"), "{clean}");
        assert!(!clean.contains("short1"), "{clean}");
        assert!(clean.contains("sk-o…3456"), "{clean}");
        // Too short to search for: left alone.
        assert!(secrets.scrub("x marks").contains("x marks"));
    }

    #[test]
    fn a_secret_inside_json_is_found_in_its_escaped_form() {
        let secrets = Secrets::new([r#"we"ird\key-99"#]);
        let body = serde_json::json!({"error": {"message": r#"key we"ird\key-99 is bad"#}}).to_string();
        let clean = secrets.scrub(&body);
        assert!(!clean.contains(r#"we\"ird\\key-99"#), "{clean}");
        assert!(serde_json::from_str::<serde_json::Value>(&clean).is_ok(), "{clean}");
    }

    #[test]
    fn longer_secrets_win_over_their_substrings() {
        let secrets = Secrets::new(["abcdef", "abcdefghijklmnop"]);
        let clean = secrets.scrub("k=abcdefghijklmnop");
        assert_eq!(clean, "k=abcd…mnop");
    }

    #[test]
    fn google_shaped_keys_are_redacted_even_when_unknown() {
        let unknown = format!("AIza{}", "Q".repeat(35));
        let text = format!("bad key {unknown}");
        let clean = Secrets::default().scrub(&text);
        assert!(!clean.contains(&unknown), "{clean}");
    }

    #[test]
    fn bytes_that_are_not_utf8_are_scrubbed_too() {
        let secrets = Secrets::new(["secret-key-1"]);
        let mut body = vec![0xff, 0xfe];
        body.extend_from_slice(b"secret-key-1");
        let clean = secrets.scrub_bytes(&body).unwrap();
        assert!(find(&clean, b"secret-key-1").is_none());
        assert_eq!(secrets.scrub_bytes(b"nothing here"), None);
    }
}
