//! Which keys may serve a request, and in which order to try them.
//!
//! The store loads every enabled key with its state for the request's model
//! ([`KeyCandidate`]); [`attempt_order`] filters the usable ones and orders them by the
//! configured [`Strategy`]; the upstream loop tries them in that order until one answers or
//! the attempt budget runs out. When none is usable, [`soonest_recovery_ms`] says when to
//! tell the client to come back (`Retry-After`).
//!
//! Every strategy is a pure function of the keys, the clock, a round-robin ticket (handed out
//! by an atomic SQL counter, one per request, so concurrent instances spread evenly) and a
//! random seed. Keys whose breaker is half-open are probed: one of them (in round-robin
//! order) goes first, so a recovered key comes back even while healthy keys serve every
//! request (a key is blamed only where another succeeds, so a probe placed last would never
//! run); the others come last. The upstream loop claims each probe in the store, so only one
//! request at a time probes a key.

use super::breaker::{phase, BreakerPhase, BreakerState};
use super::settings::Strategy;
use crate::sort;

/// One key as the store sees it for this request's model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KeyCandidate {
    /// The key's row id.
    pub id: i64,
    /// False when disabled; a disabled key is never chosen.
    pub enabled: bool,
    /// Relative share under [`Strategy::Weighted`]; 0 = only when nothing else is left.
    pub weight: u32,
    /// The Google Cloud project, when known (daily quotas are per project).
    pub project: Option<String>,
    /// The key is cooling down for this model until then (already merged with project-wide
    /// cooldowns by the store).
    pub cooldown_until_ms: Option<i64>,
    /// Its circuit breaker's state.
    pub breaker: BreakerState,
    /// Requests sent with this key for this model today ([`Strategy::LeastUsed`]).
    pub requests_today: u64,
    /// Share of recent attempts that succeeded, 0..=1 ([`Strategy::Adaptive`]).
    pub recent_success_rate: f64,
    /// Mean latency of recent attempts in milliseconds ([`Strategy::Adaptive`]).
    pub recent_latency_ms: f64,
    /// How many recent attempts the two figures above are drawn from.
    pub recent_samples: u32,
}

/// Adaptive: keys with fewer recent samples than this are explored (scored like the best key).
pub const EXPLORE_SAMPLES: u32 = 5;
/// Adaptive: the latency scale when no key has enough samples yet, in milliseconds.
const DEFAULT_LATENCY_MS: f64 = 1000.0;

/// Whether the key may be tried now: enabled, not cooling down for this model, breaker not
/// open (half-open is allowed: that is the probe).
pub fn usable(k: &KeyCandidate, now_ms: i64) -> bool {
    k.enabled
        && k.cooldown_until_ms.is_none_or(|until| until <= now_ms)
        && phase(&k.breaker, now_ms) != BreakerPhase::Open
}

/// The ids of the usable keys, in the order to try them.
///
/// - `round_robin`: keys sorted by id, rotated so the first is `usable[rr_ticket % n]`.
/// - `least_used`: ascending `requests_today`; ties in round-robin order.
/// - `random`: a permutation drawn from `seed`.
/// - `weighted`: weighted random order without replacement (a key with weight 2 comes first
///   twice as often as one with weight 1); weight-0 keys after all others.
/// - `adaptive`: weighted random order by a score from the Laplace-smoothed success rate and
///   the latency relative to the pool's mean (`p · ref / (ref + latency)`, squared). Keys with
///   fewer than [`EXPLORE_SAMPLES`] samples score like the best key, so they get explored.
///   Random rather than greedy, so one good key is not drained while the others idle.
///
/// In every strategy, one half-open key (the ticket's, in round-robin order) comes first and
/// the other half-open keys after all the healthy ones.
pub fn attempt_order(strategy: Strategy, keys: &[KeyCandidate], now_ms: i64, rr_ticket: u64, seed: u64) -> Vec<i64> {
    let mut healthy: Vec<&KeyCandidate> = Vec::new();
    let mut probes: Vec<&KeyCandidate> = Vec::new();
    for k in keys.iter().filter(|k| usable(k, now_ms)) {
        if phase(&k.breaker, now_ms) == BreakerPhase::HalfOpen {
            probes.push(k);
        } else {
            healthy.push(k);
        }
    }
    sort::sort_by_key(&mut healthy, |k| k.id);
    sort::sort_by_key(&mut probes, |k| k.id);
    let mut rng = SplitMix64(seed);
    let order = match strategy {
        Strategy::RoundRobin => rotated(&healthy, rr_ticket),
        Strategy::LeastUsed => {
            let mut keys = rotated(&healthy, rr_ticket);
            sort::sort_by_key(&mut keys, |k| k.requests_today); // stable: ties keep the rotation
            keys
        }
        Strategy::Random => {
            rng.shuffle(&mut healthy);
            healthy
        }
        Strategy::Weighted => {
            let (mut weighted, mut spare): (Vec<_>, Vec<_>) = healthy.into_iter().partition(|k| k.weight > 0);
            let weights: Vec<f64> = weighted.iter().map(|k| f64::from(k.weight)).collect();
            weighted = rng.weighted_order(weighted, &weights);
            rng.shuffle(&mut spare);
            weighted.extend(spare);
            weighted
        }
        Strategy::Adaptive => {
            let weights = adaptive_weights(&healthy);
            rng.weighted_order(healthy, &weights)
        }
    };
    let mut probes = rotated(&probes, rr_ticket).into_iter();
    let first_probe = probes.next();
    first_probe
        .into_iter()
        .chain(order)
        .chain(probes)
        .map(|k| k.id)
        .collect()
}

/// When all keys are unusable: the earliest time one becomes usable again (its cooldown end
/// or its breaker's half-open time, whichever is later). `Some(now_ms)` if a key is usable
/// now; `None` if every key is disabled (or there are none).
pub fn soonest_recovery_ms(keys: &[KeyCandidate], now_ms: i64) -> Option<i64> {
    keys.iter()
        .filter(|k| k.enabled)
        .map(|k| {
            let cooldown = k.cooldown_until_ms.unwrap_or(now_ms);
            let breaker = match phase(&k.breaker, now_ms) {
                BreakerPhase::Open => k.breaker.open_until_ms.unwrap_or(now_ms),
                _ => now_ms,
            };
            cooldown.max(breaker).max(now_ms)
        })
        .min()
}

/// `keys` (sorted) rotated so that `keys[ticket % n]` comes first.
fn rotated<'a>(keys: &[&'a KeyCandidate], ticket: u64) -> Vec<&'a KeyCandidate> {
    if keys.is_empty() {
        return Vec::new();
    }
    let start = (ticket % keys.len() as u64) as usize;
    keys[start..].iter().chain(&keys[..start]).copied().collect()
}

/// Adaptive sampling weights, one per key.
fn adaptive_weights(keys: &[&KeyCandidate]) -> Vec<f64> {
    let experienced = |k: &&&KeyCandidate| k.recent_samples >= EXPLORE_SAMPLES;
    let latencies: Vec<f64> = keys
        .iter()
        .filter(experienced)
        .map(|k| k.recent_latency_ms)
        .filter(|l| l.is_finite() && *l > 0.0)
        .collect();
    let reference = if latencies.is_empty() {
        DEFAULT_LATENCY_MS
    } else {
        (latencies.iter().sum::<f64>() / latencies.len() as f64).max(1.0)
    };
    let score = |rate: f64, samples: u32, latency: f64| {
        let n = f64::from(samples);
        let rate = if rate.is_finite() { rate.clamp(0.0, 1.0) } else { 0.0 };
        let p = (rate * n + 1.0) / (n + 2.0);
        let latency = if latency.is_finite() && latency > 0.0 {
            latency
        } else {
            reference
        };
        (p * reference / (reference + latency)).powi(2)
    };
    // A newcomer scores at least like a perfect key of average latency, and like the best key.
    let best = keys
        .iter()
        .filter(experienced)
        .map(|k| score(k.recent_success_rate, k.recent_samples, k.recent_latency_ms))
        .fold(0.25, f64::max);
    keys.iter()
        .map(|k| {
            if k.recent_samples >= EXPLORE_SAMPLES {
                score(k.recent_success_rate, k.recent_samples, k.recent_latency_ms)
            } else {
                best
            }
        })
        .collect()
}

/// SplitMix64: a tiny, well-mixed generator; good enough to spread keys, not for secrets.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), by multiply-shift.
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Uniform in (0, 1].
    fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// Fisher-Yates.
    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }

    /// A random order in which each item comes next with probability proportional to its
    /// weight among those left (Efraimidis-Spirakis: sort by `ln(u) / w`, descending).
    fn weighted_order<T>(&mut self, items: Vec<T>, weights: &[f64]) -> Vec<T> {
        let mut keyed: Vec<(f64, T)> = items
            .into_iter()
            .zip(weights)
            .map(|(item, &w)| {
                let w = if w.is_finite() && w > 0.0 { w } else { f64::MIN_POSITIVE };
                (self.unit().ln() / w, item)
            })
            .collect();
        sort::sort_by(&mut keyed, |a, b| b.0.total_cmp(&a.0));
        keyed.into_iter().map(|(_, item)| item).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn key(id: i64) -> KeyCandidate {
        KeyCandidate {
            id,
            enabled: true,
            weight: 1,
            recent_success_rate: 1.0,
            ..KeyCandidate::default()
        }
    }

    fn keys(ids: &[i64]) -> Vec<KeyCandidate> {
        ids.iter().map(|&id| key(id)).collect()
    }

    fn half_open(id: i64) -> KeyCandidate {
        KeyCandidate {
            breaker: BreakerState {
                consecutive_failures: 3,
                open_until_ms: Some(NOW - 1),
            },
            ..key(id)
        }
    }

    /// How often each id comes first over `runs` calls of `pick(run)`.
    fn first_counts(ids: &[i64], runs: u64, pick: impl Fn(u64) -> Vec<i64>) -> Vec<u64> {
        let mut counts = vec![0; ids.len()];
        for run in 0..runs {
            let first = pick(run)[0];
            counts[ids.iter().position(|&id| id == first).unwrap()] += 1;
        }
        counts
    }

    #[test]
    fn usable_table() {
        let cases = [
            (key(1), true),
            (
                KeyCandidate {
                    enabled: false,
                    ..key(1)
                },
                false,
            ),
            (
                KeyCandidate {
                    cooldown_until_ms: Some(NOW + 1),
                    ..key(1)
                },
                false,
            ),
            (
                KeyCandidate {
                    cooldown_until_ms: Some(NOW),
                    ..key(1)
                },
                true,
            ),
            (
                KeyCandidate {
                    cooldown_until_ms: Some(NOW - 5),
                    ..key(1)
                },
                true,
            ),
            (
                KeyCandidate {
                    breaker: BreakerState {
                        consecutive_failures: 3,
                        open_until_ms: Some(NOW + 1),
                    },
                    ..key(1)
                },
                false,
            ),
            (half_open(1), true),
            (
                KeyCandidate {
                    breaker: BreakerState {
                        consecutive_failures: 2,
                        open_until_ms: None,
                    },
                    ..key(1)
                },
                true,
            ),
        ];
        for (i, (k, want)) in cases.iter().enumerate() {
            assert_eq!(usable(k, NOW), *want, "case {i}: {k:?}");
        }
    }

    #[test]
    fn round_robin_rotates_by_ticket_over_sorted_ids() {
        let ks = keys(&[40, 10, 30, 20]);
        let cases = [
            (0, vec![10, 20, 30, 40]),
            (1, vec![20, 30, 40, 10]),
            (3, vec![40, 10, 20, 30]),
            (6, vec![30, 40, 10, 20]),
        ];
        for (ticket, want) in cases {
            assert_eq!(
                attempt_order(Strategy::RoundRobin, &ks, NOW, ticket, 99),
                want,
                "ticket {ticket}"
            );
        }
        assert!(attempt_order(Strategy::RoundRobin, &[], NOW, 5, 5).is_empty());
    }

    #[test]
    fn round_robin_is_fair_for_concurrent_clients() {
        let ids = [1, 2, 3, 4];
        let ks = keys(&ids);
        let counts = first_counts(&ids, 400, |t| attempt_order(Strategy::RoundRobin, &ks, NOW, t, t));
        assert!(counts.iter().all(|&c| c.abs_diff(100) <= 2), "{counts:?}");
        // 8 clients x 400 requests, interleaved in a scrambled order, sharing one counter.
        let mut rng = SplitMix64(7);
        let mut remaining = [400u32; 8];
        let (mut ticket, mut counts) = (0u64, [0u64; 4]);
        while remaining.iter().any(|&r| r > 0) {
            let client = rng.below(8);
            if remaining[client] == 0 {
                continue;
            }
            remaining[client] -= 1;
            ticket += 1;
            let first = attempt_order(Strategy::RoundRobin, &ks, NOW, ticket, 0)[0];
            counts[(first - 1) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c.abs_diff(800) <= 2), "{counts:?}");
    }

    #[test]
    fn cooling_disabled_and_open_keys_are_skipped() {
        let mut ks = keys(&[1, 2, 3, 4, 5]);
        ks[1].cooldown_until_ms = Some(NOW + 60_000);
        ks[2].enabled = false;
        ks[3].breaker = BreakerState {
            consecutive_failures: 3,
            open_until_ms: Some(NOW + 10),
        };
        for strategy in Strategy::ALL {
            for ticket in 0..20 {
                let mut order = attempt_order(strategy, &ks, NOW, ticket, ticket * 31);
                order.sort();
                assert_eq!(order, vec![1, 5], "{strategy} ticket {ticket}");
            }
        }
        // Round robin spreads evenly over what is left.
        let counts = first_counts(&[1, 5], 300, |t| attempt_order(Strategy::RoundRobin, &ks, NOW, t, 0));
        assert_eq!(counts, vec![150, 150]);
    }

    #[test]
    fn one_half_open_key_is_probed_first_and_the_others_go_last_in_every_strategy() {
        let mut ks = keys(&[1, 2, 3, 4]);
        ks[0] = half_open(1);
        ks[2] = half_open(3);
        ks[0].requests_today = 0;
        ks[1].requests_today = 50;
        ks[3].requests_today = 60;
        ks[1].weight = 0;
        for strategy in Strategy::ALL {
            for ticket in 0..10 {
                let order = attempt_order(strategy, &ks, NOW, ticket, ticket);
                assert_eq!(order.len(), 4);
                let probed_first = if ticket % 2 == 0 { 1 } else { 3 };
                let probed_last = 4 - probed_first;
                assert_eq!(order[0], probed_first, "{strategy}: {order:?}");
                assert_eq!(order[3], probed_last, "{strategy}: {order:?}");
            }
        }
        let only_probes = vec![half_open(7), half_open(8)];
        assert_eq!(attempt_order(Strategy::Random, &only_probes, NOW, 1, 1), vec![8, 7]);
    }

    #[test]
    fn least_used_orders_by_requests_with_ties_rotating() {
        let mut ks = keys(&[1, 2, 3, 4]);
        for (k, r) in ks.iter_mut().zip([30, 10, 30, 10]) {
            k.requests_today = r;
        }
        let cases = [
            (0, vec![2, 4, 1, 3]),
            (1, vec![2, 4, 3, 1]),
            (2, vec![4, 2, 3, 1]),
            (3, vec![4, 2, 1, 3]),
        ];
        for (ticket, want) in cases {
            assert_eq!(
                attempt_order(Strategy::LeastUsed, &ks, NOW, ticket, 0),
                want,
                "ticket {ticket}"
            );
        }
    }

    #[test]
    fn random_is_a_seeded_uniform_permutation() {
        let ids = [1, 2, 3, 4];
        let ks = keys(&ids);
        let a = attempt_order(Strategy::Random, &ks, NOW, 0, 42);
        assert_eq!(
            a,
            attempt_order(Strategy::Random, &ks, NOW, 9, 42),
            "the ticket does not matter, the seed does"
        );
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, ids);
        let distinct: std::collections::HashSet<Vec<i64>> = (0..200)
            .map(|s| attempt_order(Strategy::Random, &ks, NOW, 0, s))
            .collect();
        assert_eq!(distinct.len(), 24, "every permutation of 4 keys shows up");
        let counts = first_counts(&ids, 8000, |s| attempt_order(Strategy::Random, &ks, NOW, 0, s));
        assert!(counts.iter().all(|&c| c.abs_diff(2000) < 150), "{counts:?}");
    }

    #[test]
    fn weighted_follows_weights_over_many_seeds() {
        let ids = [1, 2, 3, 4];
        let mut ks = keys(&ids);
        for (k, w) in ks.iter_mut().zip([1, 2, 3, 4]) {
            k.weight = w;
        }
        let runs = 20_000;
        let counts = first_counts(&ids, runs, |s| attempt_order(Strategy::Weighted, &ks, NOW, 0, s));
        for (i, &c) in counts.iter().enumerate() {
            let expected = runs as f64 * (i + 1) as f64 / 10.0;
            assert!(
                (c as f64 - expected).abs() < expected * 0.08 + 50.0,
                "key {} first {c} times, expected ~{expected}",
                i + 1
            );
        }
        // Without replacement: after the first pick, the second follows the remaining weights.
        let second_given_4_first = (0..runs)
            .map(|s| attempt_order(Strategy::Weighted, &ks, NOW, 0, s))
            .filter(|o| o[0] == 4)
            .fold([0u64; 4], |mut acc, o| {
                acc[(o[1] - 1) as usize] += 1;
                acc
            });
        let total: u64 = second_given_4_first.iter().sum();
        let share3 = second_given_4_first[2] as f64 / total as f64;
        assert!((share3 - 0.5).abs() < 0.04, "{second_given_4_first:?}");
    }

    #[test]
    fn weight_zero_keys_only_when_nothing_else_is_left() {
        let mut ks = keys(&[1, 2, 3]);
        ks[0].weight = 0;
        ks[2].weight = 5;
        for seed in 0..500 {
            let order = attempt_order(Strategy::Weighted, &ks, NOW, 0, seed);
            assert_eq!(order.len(), 3);
            assert_eq!(order[2], 1, "seed {seed}: {order:?}");
        }
        for k in &mut ks {
            k.weight = 0;
        }
        let mut order = attempt_order(Strategy::Weighted, &ks, NOW, 0, 3);
        order.sort();
        assert_eq!(order, vec![1, 2, 3]);
    }

    #[test]
    fn adaptive_prefers_reliable_fast_keys_and_explores_new_ones() {
        let ids = [1, 2, 3, 4];
        let mut ks = keys(&ids);
        let stats = [
            (0.99, 500.0, 100),
            (0.5, 500.0, 100),
            (0.99, 2000.0, 100),
            (0.0, 0.0, 0),
        ];
        for (k, (rate, latency, samples)) in ks.iter_mut().zip(stats) {
            (k.recent_success_rate, k.recent_latency_ms, k.recent_samples) = (rate, latency, samples);
        }
        let counts = first_counts(&ids, 20_000, |s| attempt_order(Strategy::Adaptive, &ks, NOW, 0, s));
        let [good, flaky, slow, new] = [counts[0], counts[1], counts[2], counts[3]];
        assert!(good > 2 * flaky, "{counts:?}");
        assert!(good > 2 * slow, "{counts:?}");
        assert!(
            new.abs_diff(good) < good / 8,
            "a key without samples is explored like the best: {counts:?}"
        );
        assert!(flaky > 0 && slow > 0, "nobody is starved: {counts:?}");
        // Laplace smoothing: a key that failed all its samples still gets an occasional try.
        let mut fresh = keys(&[1, 2]);
        (fresh[1].recent_success_rate, fresh[1].recent_samples) = (0.0, EXPLORE_SAMPLES);
        let counts = first_counts(&[1, 2], 4000, |s| attempt_order(Strategy::Adaptive, &fresh, NOW, 0, s));
        assert!(counts[1] > 10 && counts[0] > 10 * counts[1], "{counts:?}");
        // Garbage figures do not poison the order.
        let mut odd = keys(&[1, 2]);
        (
            odd[0].recent_success_rate,
            odd[0].recent_latency_ms,
            odd[0].recent_samples,
        ) = (f64::NAN, f64::INFINITY, 50);
        assert_eq!(attempt_order(Strategy::Adaptive, &odd, NOW, 0, 1).len(), 2);
    }

    #[test]
    fn soonest_recovery_table() {
        let cooling = |id, until| KeyCandidate {
            cooldown_until_ms: Some(until),
            ..key(id)
        };
        let open = |id, until| KeyCandidate {
            breaker: BreakerState {
                consecutive_failures: 3,
                open_until_ms: Some(until),
            },
            ..key(id)
        };
        let disabled = KeyCandidate {
            enabled: false,
            ..key(9)
        };
        let cases: Vec<(&str, Vec<KeyCandidate>, Option<i64>)> = vec![
            ("no keys", vec![], None),
            ("all disabled", vec![disabled.clone()], None),
            (
                "cooldowns",
                vec![cooling(1, NOW + 5_000), cooling(2, NOW + 3_000), disabled.clone()],
                Some(NOW + 3_000),
            ),
            (
                "open breaker",
                vec![cooling(1, NOW + 5_000), open(2, NOW + 2_000)],
                Some(NOW + 2_000),
            ),
            (
                "both on one key: the later counts",
                vec![
                    KeyCandidate {
                        cooldown_until_ms: Some(NOW + 9_000),
                        ..open(1, NOW + 1_000)
                    },
                    cooling(2, NOW + 7_000),
                ],
                Some(NOW + 7_000),
            ),
            ("a usable key", vec![cooling(1, NOW + 5_000), key(2)], Some(NOW)),
            ("half-open counts as usable", vec![half_open(1)], Some(NOW)),
            ("expired cooldown", vec![cooling(1, NOW - 5)], Some(NOW)),
        ];
        for (name, ks, want) in cases {
            assert_eq!(soonest_recovery_ms(&ks, NOW), want, "{name}");
        }
    }
}
