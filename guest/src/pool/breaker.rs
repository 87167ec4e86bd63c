//! A consecutive-failure circuit breaker per upstream key.
//!
//! 5xx answers, network errors and timeouts count as failures ([`super::KeyEffect::BreakerFailure`]).
//! After [`PoolSettings::breaker_threshold`] failures in a row the breaker opens: the key is
//! skipped for [`PoolSettings::breaker_open_secs`]. When that time has passed the breaker is
//! half-open: the key may be tried again, but only after every healthy key (see
//! [`super::select::attempt_order`]). A success closes it; a failed probe re-opens it.
//!
//! ```text
//!  Closed --(threshold-th failure)--> Open --(open_until passes)--> HalfOpen
//!    ^                                  ^                              |
//!    |                                  +-------(probe fails)----------+
//!    +------------------------(any success)----------------------------+
//! ```
//!
//! The state is stored as data (a count and an expiry), never as a timer: the phase is a
//! function of the state and the clock.

use super::settings::PoolSettings;
use serde::{Deserialize, Serialize};

/// What the store keeps per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BreakerState {
    /// 5xx / network failures since the last success.
    pub consecutive_failures: u32,
    /// Set when the breaker opened: until then the key is skipped; after, it is half-open.
    pub open_until_ms: Option<i64>,
}

/// Where a breaker stands at a given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerPhase {
    /// Healthy: the key is used normally.
    Closed,
    /// Tripped: the key is skipped until `open_until_ms`.
    Open,
    /// The open period has passed: one probe is allowed, after the healthy keys.
    HalfOpen,
}

/// The phase of `state` at `now_ms`.
pub fn phase(state: &BreakerState, now_ms: i64) -> BreakerPhase {
    match state.open_until_ms {
        None => BreakerPhase::Closed,
        Some(until) if now_ms < until => BreakerPhase::Open,
        Some(_) => BreakerPhase::HalfOpen,
    }
}

/// The state after one more failure at `now_ms`: opens at the threshold, re-opens after a
/// failed half-open probe, and leaves an open breaker's expiry alone (a request that started
/// before it opened must not extend it).
pub fn on_failure(state: &BreakerState, now_ms: i64, s: &PoolSettings) -> BreakerState {
    let consecutive_failures = state.consecutive_failures.saturating_add(1);
    let reopen = Some(now_ms.saturating_add(secs_to_ms(s.breaker_open_secs)));
    let open_until_ms = match phase(state, now_ms) {
        BreakerPhase::Open => state.open_until_ms,
        BreakerPhase::HalfOpen => reopen,
        BreakerPhase::Closed if consecutive_failures >= s.breaker_threshold.max(1) => reopen,
        BreakerPhase::Closed => None,
    };
    BreakerState {
        consecutive_failures,
        open_until_ms,
    }
}

/// The state after a success: closed, no failures.
pub fn on_success() -> BreakerState {
    BreakerState::default()
}

pub(crate) fn secs_to_ms(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(threshold: u32, open_secs: u64) -> PoolSettings {
        PoolSettings {
            breaker_threshold: threshold,
            breaker_open_secs: open_secs,
            ..PoolSettings::default()
        }
    }

    fn st(failures: u32, open_until: Option<i64>) -> BreakerState {
        BreakerState {
            consecutive_failures: failures,
            open_until_ms: open_until,
        }
    }

    #[test]
    fn phase_table() {
        let cases = [
            (st(0, None), 1_000, BreakerPhase::Closed),
            (st(2, None), 1_000, BreakerPhase::Closed),
            (st(3, Some(5_000)), 4_999, BreakerPhase::Open),
            (st(3, Some(5_000)), 5_000, BreakerPhase::HalfOpen),
            (st(3, Some(5_000)), 99_000, BreakerPhase::HalfOpen),
        ];
        for (state, now, want) in cases {
            assert_eq!(phase(&state, now), want, "{state:?} at {now}");
        }
    }

    #[test]
    fn on_failure_table() {
        let s = settings(3, 30);
        let cases = [
            // (before, now, after)
            (st(0, None), 1_000, st(1, None)),
            (st(1, None), 1_000, st(2, None)),
            (st(2, None), 1_000, st(3, Some(31_000))), // threshold reached: open
            (st(3, Some(31_000)), 2_000, st(4, Some(31_000))), // already open: expiry unchanged
            (st(3, Some(31_000)), 31_000, st(4, Some(61_000))), // failed probe: re-open
            (st(9, Some(31_000)), 50_000, st(10, Some(80_000))),
        ];
        for (before, now, after) in cases {
            assert_eq!(on_failure(&before, now, &s), after, "{before:?} at {now}");
        }
    }

    #[test]
    fn full_cycle_closed_open_half_open_closed() {
        let s = settings(2, 10);
        let mut b = on_success();
        assert_eq!(phase(&b, 0), BreakerPhase::Closed);
        b = on_failure(&b, 0, &s);
        assert_eq!(phase(&b, 0), BreakerPhase::Closed);
        b = on_failure(&b, 100, &s);
        assert_eq!(phase(&b, 100), BreakerPhase::Open);
        assert_eq!(phase(&b, 10_099), BreakerPhase::Open);
        assert_eq!(phase(&b, 10_100), BreakerPhase::HalfOpen);
        b = on_failure(&b, 10_100, &s);
        assert_eq!(phase(&b, 10_100), BreakerPhase::Open);
        assert_eq!(phase(&b, 20_100), BreakerPhase::HalfOpen);
        b = on_success();
        assert_eq!(b, BreakerState::default());
        assert_eq!(phase(&b, 20_100), BreakerPhase::Closed);
    }

    #[test]
    fn threshold_one_opens_immediately_and_saturates() {
        let s = settings(1, u64::MAX);
        let b = on_failure(&st(u32::MAX, None), i64::MAX - 5, &s);
        assert_eq!(b, st(u32::MAX, Some(i64::MAX)));
    }
}
