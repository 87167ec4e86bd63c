//! Ids and seeds, all drawn from the request's 32 random bytes: bytes 0..8 seed the pool's
//! random strategies, bytes 8..20 make the request id (response and tool-call ids are built
//! from it), and the admin API makes new client keys from bytes 2..32.

use crate::protocol::RequestContext;

/// The per-request seed for the pool's random strategies.
pub(crate) fn seed(random: &[u8; 32]) -> u64 {
    u64::from_le_bytes(random[..8].try_into().unwrap_or_default())
}

/// The request's id and creation time, for the protocol's response ids.
pub fn request_context(random: &[u8; 32], now_ms: i64) -> RequestContext {
    let id: String = random[8..20].iter().map(|b| format!("{b:02x}")).collect();
    RequestContext {
        request_id: id,
        created: (now_ms / 1000).max(0) as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_their_own_bytes() {
        let mut random = [0u8; 32];
        random[0] = 1;
        random[8] = 0xab;
        let ctx = request_context(&random, 1_500);
        assert_eq!(ctx.request_id, format!("ab{}", "00".repeat(11)));
        assert_eq!(ctx.created, 1);
        assert_eq!(seed(&random), 1);
        assert_eq!(request_context(&random, -5).created, 0);
    }
}
