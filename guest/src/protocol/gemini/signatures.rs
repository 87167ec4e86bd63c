//! Thought signatures that must survive a client round trip (protocols.md §1.15).
//!
//! Gemini 3 rejects a replayed tool loop whose `functionCall` parts lack the signature they
//! came with, and OpenAI / Anthropic clients only send back what their wire format carries. A
//! call's signature therefore rides in the tool-call id the client echoes: `<id>__ts__<code>`,
//! where `<code>` is the signature's bytes in base64url without padding. This is the one codec
//! for every protocol: lossless for any string (not only for valid base64), and made of
//! `[A-Za-z0-9_-]`, which both OpenAI and Anthropic (`^[a-zA-Z0-9_-]+$`) accept in ids.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Google's documented value that disables thought-signature validation for one replayed
/// `functionCall` that has no signature of its own (gemini-cli sends it literally).
pub const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

/// Separates the unique part of a tool-call id from the encoded signature. The unique parts
/// gempool mints never contain it, so the first occurrence is the separator.
pub const ID_SIGNATURE_SEPARATOR: &str = "__ts__";

/// `id` with `signature` (if any, and not empty) appended in the id codec.
pub fn id_with_signature(mut id: String, signature: Option<&str>) -> String {
    if let Some(sig) = signature.filter(|s| !s.is_empty()) {
        id.push_str(ID_SIGNATURE_SEPARATOR);
        id.push_str(&URL_SAFE_NO_PAD.encode(sig.as_bytes()));
    }
    id
}

/// The signature carried by an id made by [`id_with_signature`]; `None` for ids without one
/// (minted elsewhere) or whose code does not decode.
pub fn signature_from_id(id: &str) -> Option<String> {
    let (_, encoded) = id.split_once(ID_SIGNATURE_SEPARATOR)?;
    let bytes = URL_SAFE_NO_PAD.decode(encoded).ok()?;
    String::from_utf8(bytes).ok().filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_any_signature_losslessly() {
        for sig in [
            "CiQBjz1rX+/aBg==",
            "CiQB",
            "QUJDRA=",
            "a-_b",
            SKIP_SIGNATURE,
            "a__ts__b",
            "é",
        ] {
            for base in ["toolu_req42_3", "call_req-01AB_0_3"] {
                let id = id_with_signature(base.to_string(), Some(sig));
                assert!(id.starts_with(&format!("{base}__ts__")), "{id}");
                assert!(
                    id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
                    "{id}"
                );
                assert_eq!(signature_from_id(&id).as_deref(), Some(sig));
            }
        }
        assert_eq!(id_with_signature("call_x".into(), None), "call_x");
        assert_eq!(id_with_signature("call_x".into(), Some("")), "call_x");
        for plain in [
            "call_x",
            "toolu_01A09q90qw90lq917835lq9",
            "CiQBjz1rX+/aBg==",
            "call_x__ts__!!!",
            "x__ts__",
        ] {
            assert_eq!(signature_from_id(plain), None, "{plain}");
        }
    }
}
