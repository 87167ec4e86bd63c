//! The key pool's decisions, as pure functions of (keys, their state, the clock, the request).
//!
//! gempool pools many Gemini API keys behind one endpoint. For each request the store loads
//! the keys' state for the request's model ([`KeyCandidate`]); [`attempt_order`] says which
//! keys to try and in which order; after each upstream answer [`classify`] says whether to
//! return it or move on, and what happens to the key (cooldown until a time, disable, or a
//! breaker failure). Time-based state is an expiry timestamp: a key spent for the day cools
//! down until [`next_pacific_midnight_ms`], when Gemini's daily quotas reset.
//!
//! Nothing here touches SQL, the host or a real clock: time and random seeds are parameters,
//! so every policy is tested natively (see each module's tests).
//!
//! - [`settings`]: [`PoolSettings`] and [`Strategy`], parsed from the settings table.
//! - [`classify`]: upstream answer -> [`Outcome`] / [`KeyEffect`].
//! - [`details`]: readers of Gemini's error details (quota, retry delay) and reason hygiene.
//! - [`select`]: usable keys and the order to try them; when the next one recovers.
//! - [`breaker`]: the per-key consecutive-failure circuit breaker.
//! - [`clock`]: LA midnight and UTC day without a time-zone database.

pub mod breaker;
pub mod classify;
pub mod clock;
pub mod details;
pub mod select;
pub mod settings;

pub use breaker::{BreakerPhase, BreakerState};
pub use classify::{classify, classify_network_error, ClassifyContext, CooldownScope, KeyEffect, Outcome, QuotaKind};
pub use clock::{next_pacific_midnight_ms, utc_day};
pub use select::{attempt_order, soonest_recovery_ms, usable, KeyCandidate};
pub use settings::{PoolSettings, SettingsError, Strategy};
