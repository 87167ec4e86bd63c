//! Who is calling: the admin, a client key holder, an open-access caller, or nobody.
//!
//! Credentials are accepted from `Authorization: Bearer`, `x-goog-api-key`, `x-api-key` and
//! `?key=`, because each client SDK uses one of them. A client's key is only ever compared by
//! its SHA-256 hash and is never forwarded upstream: upstream requests carry a pool key.

use sha2::{Digest, Sha256};

/// The credential a request presented, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented {
    /// The secret as presented (never logged).
    pub secret: String,
    /// Where it came from.
    pub source: CredentialSource,
}

/// Where a request carried its credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialSource {
    /// `Authorization: Bearer …`.
    Bearer,
    /// `x-goog-api-key` (Gemini SDKs).
    GoogApiKey,
    /// `x-api-key` (Anthropic SDKs).
    ApiKey,
    /// The `key=` query parameter.
    Query,
}

/// Finds the credential in headers (lowercase names) or the query string. Headers win over
/// the query; among headers, the protocol-specific ones win over `Authorization`.
pub fn presented_credential(headers: &[(String, String)], query: &str) -> Option<Presented> {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    if let Some(v) = header("x-goog-api-key") {
        return Some(Presented {
            secret: v,
            source: CredentialSource::GoogApiKey,
        });
    }
    if let Some(v) = header("x-api-key") {
        return Some(Presented {
            secret: v,
            source: CredentialSource::ApiKey,
        });
    }
    if let Some(v) = header("authorization") {
        let token = match v.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            None if v.eq_ignore_ascii_case("bearer") => "",
            _ => v.as_str(),
        };
        if !token.is_empty() {
            return Some(Presented {
                secret: token.to_owned(),
                source: CredentialSource::Bearer,
            });
        }
    }
    query_param(query, "key")
        .filter(|k| !k.is_empty())
        .map(|secret| Presented {
            secret,
            source: CredentialSource::Query,
        })
}

/// The (percent-decoded) value of a query parameter.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_decode(v))
    })
}

/// The query string without the `key` parameter, so a client's key never travels upstream.
pub fn strip_key_param(query: &str) -> String {
    query
        .split('&')
        .filter(|p| !p.is_empty() && p.split('=').next() != Some("key"))
        .collect::<Vec<_>>()
        .join("&")
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Lowercase hex SHA-256, the form in which client and admin keys are stored.
pub fn sha256_hex(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two equal-length strings in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A short, safe-to-show form of a secret: the first 4 and last 4 characters. Secrets of 12
/// characters or fewer show only their last 2, and those under 8 show nothing.
pub fn redact(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() < 8 {
        return "…".to_owned();
    }
    if chars.len() <= 12 {
        let tail: String = chars[chars.len().saturating_sub(2)..].iter().collect();
        return format!("…{tail}");
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// Makes a new client key from 30 random bytes: `gp-` and 40 URL-safe characters.
pub fn new_client_key(random: &[u8]) -> String {
    use base64::Engine;
    format!("gp-{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random))
}

/// Whether a secret looks like a Google API key (for pure-proxy mode and redaction).
pub fn looks_like_google_key(s: &str) -> bool {
    s.starts_with("AIza") && s.len() >= 30 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn credential_sources_in_priority_order() {
        let p = presented_credential(&h(&[("authorization", "Bearer b"), ("x-goog-api-key", "g")]), "key=q").unwrap();
        assert_eq!((p.secret.as_str(), p.source), ("g", CredentialSource::GoogApiKey));
        let p = presented_credential(&h(&[("authorization", "Bearer b"), ("x-api-key", "a")]), "").unwrap();
        assert_eq!((p.secret.as_str(), p.source), ("a", CredentialSource::ApiKey));
        let p = presented_credential(&h(&[("Authorization", "Bearer  b ")]), "").unwrap();
        assert_eq!((p.secret.as_str(), p.source), ("b", CredentialSource::Bearer));
        let p = presented_credential(&[], "alt=sse&key=q%2Bx").unwrap();
        assert_eq!((p.secret.as_str(), p.source), ("q+x", CredentialSource::Query));
        assert_eq!(presented_credential(&h(&[("authorization", "Bearer ")]), "key="), None);
    }

    #[test]
    fn key_param_is_stripped_from_forwarded_query() {
        assert_eq!(strip_key_param("alt=sse&key=secret"), "alt=sse");
        assert_eq!(strip_key_param("key=secret"), "");
        assert_eq!(strip_key_param("pageSize=5&keyword=x"), "pageSize=5&keyword=x");
    }

    #[test]
    fn redaction_keeps_only_a_prefix_and_suffix() {
        assert_eq!(redact("AIzaSyA1234567890abcdefghijklmnopqrstu"), "AIza…rstu");
        assert_eq!(redact("short-key"), "…ey");
        assert_eq!(redact("k1"), "…");
        assert!(!redact("gp-abcdefghijklmnopqrstuvwxyz").contains("fghij"));
    }

    #[test]
    fn sha256_is_lowercase_hex() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }

    #[test]
    fn client_keys_are_url_safe() {
        let k = new_client_key(&[0xff; 30]);
        assert!(k.starts_with("gp-") && k.len() == 43);
        assert!(k[3..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }
}
