//! gempool's own page tokens, for the lists it pages itself (the cached model list, the
//! merged files, cached contents and batches): an opaque token carrying the next page's offset.
//! Opaque so clients treat it as Google's (they must not build one), and distinct from an
//! upstream token, which a client never sees for these lists.

use base64::Engine;

use crate::error::GatewayError;

const PREFIX: &str = "gempool-offset:";

/// The token of the page that starts at `offset`.
pub fn offset_token(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{PREFIX}{offset}"))
}

/// The offset a token of [`offset_token`] carries; `None` for any other string.
pub fn offset_of(token: &str) -> Option<usize> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).ok()?;
    String::from_utf8(bytes).ok()?.strip_prefix(PREFIX)?.parse().ok()
}

/// The 400 for a token gempool did not make (or one past the list's end), as Google words it.
pub fn invalid_token() -> GatewayError {
    GatewayError::invalid_param("Invalid page token.", "pageToken")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_others_are_refused() {
        for offset in [0, 20, 1000, usize::MAX] {
            assert_eq!(offset_of(&offset_token(offset)), Some(offset));
        }
        // Base64 of "nope", not base64, a bare offset (the model list's tokens were once bare).
        for other in ["bm9wZQ", "!!", "50", ""] {
            assert_eq!(offset_of(other), None, "{other:?}");
        }
    }
}
