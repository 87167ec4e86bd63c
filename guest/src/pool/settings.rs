//! The pool's tunables: selection strategy, retry budget, cooldowns, breaker, body limit.
//!
//! Settings live in the `settings` table as text (name, value) pairs and are read once per
//! request ([`PoolSettings::from_pairs`], which ignores names it does not own, such as model
//! aliases). The admin API changes one at a time with JSON values ([`PoolSettings::set`],
//! which validates ranges) and stores them back with [`PoolSettings::to_pairs`]. Every field
//! has a default, so an empty table means the defaults below.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::str::FromStr;

/// How the pool orders the keys it tries for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Each request starts at the next key (one shared ticket counter), so load spreads evenly.
    #[default]
    RoundRobin,
    /// Fewest requests today for the model first.
    LeastUsed,
    /// A uniformly random order per request.
    Random,
    /// Random, proportional to each key's weight (weight 0: only when nothing else is left).
    Weighted,
    /// Random, favouring keys with high recent success and low latency; new keys get explored.
    Adaptive,
}

impl Strategy {
    /// Every strategy, in documentation order.
    pub const ALL: [Strategy; 5] = [
        Strategy::RoundRobin,
        Strategy::LeastUsed,
        Strategy::Random,
        Strategy::Weighted,
        Strategy::Adaptive,
    ];

    /// The setting value: `round_robin`, `least_used`, `random`, `weighted`, `adaptive`.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::RoundRobin => "round_robin",
            Strategy::LeastUsed => "least_used",
            Strategy::Random => "random",
            Strategy::Weighted => "weighted",
            Strategy::Adaptive => "adaptive",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Strategy {
    type Err = SettingsError;

    /// Accepts the snake_case names, case-insensitively, with `-` for `_`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('-', "_");
        Strategy::ALL
            .into_iter()
            .find(|st| st.as_str() == wanted)
            .ok_or_else(|| {
                SettingsError::invalid(
                    "strategy",
                    format!(
                        "unknown strategy {s:?}; expected one of round_robin, least_used, random, weighted, adaptive"
                    ),
                )
            })
    }
}

/// A setting that could not be applied; the message names the setting.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SettingsError {
    /// The value is malformed or out of range.
    #[error("invalid value for setting `{name}`: {message}")]
    Invalid {
        /// The setting's name.
        name: String,
        /// What is wrong with the value.
        message: String,
    },
    /// No pool setting has this name (only from [`PoolSettings::set`]).
    #[error("unknown setting `{0}`")]
    Unknown(String),
}

impl SettingsError {
    fn invalid(name: &str, message: impl Into<String>) -> Self {
        SettingsError::Invalid {
            name: name.to_string(),
            message: message.into(),
        }
    }
}

/// The pool's settings. Missing fields take their defaults when deserialized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PoolSettings {
    /// Key order for each request. Default `round_robin`.
    pub strategy: Strategy,
    /// Upstream attempts per request, across keys (1..=20). Default 3.
    pub max_attempts: u32,
    /// Cooldown for a per-minute 429 that has neither `RetryInfo` nor "Please retry in …"
    /// (1..=86400 s). Default 60.
    pub default_retry_secs: u64,
    /// Cooldown for a 429 with no details at all (1..=86400 s). Default 10.
    pub no_details_cooldown_secs: u64,
    /// Factor applied per consecutive 429 on the same (key, model) (1.0..=10.0). Default 2.0.
    pub cooldown_escalation: f64,
    /// Ceiling of an escalated cooldown; the upstream's own delay still wins if longer
    /// (1..=604800 s). Default 3600.
    pub max_cooldown_secs: u64,
    /// Consecutive 5xx / network failures that open a key's breaker (1..=1000). Default 3.
    pub breaker_threshold: u32,
    /// How long an open breaker stays open before one half-open probe (1..=86400 s). Default 30.
    pub breaker_open_secs: u64,
    /// Recent outcomes the adaptive strategy considers (1..=100000). Default 50.
    pub adaptive_window: u32,
    /// Largest accepted request body (1024..=1 GiB). Default 20 MiB.
    pub max_body_bytes: u64,
    /// How long to wait for a connection to the upstream (100..=600000 ms). Default 10 s.
    pub upstream_connect_timeout_ms: u64,
    /// How long a whole (non-streamed) answer may take to start: thinking models answer only
    /// when they are done (100..=3600000 ms). Default 300 s.
    pub upstream_first_byte_timeout_ms: u64,
    /// How long a stream may take to send its first bytes (100..=3600000 ms). Default 120 s.
    pub upstream_stream_first_byte_timeout_ms: u64,
    /// How long a stream or body may stall between chunks (100..=3600000 ms). Default 120 s.
    pub upstream_between_bytes_timeout_ms: u64,
    /// `Retry-After` when a model is overloaded on every key tried (1..=3600 s). Default 10.
    pub overload_retry_after_secs: u64,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            strategy: Strategy::RoundRobin,
            max_attempts: 3,
            default_retry_secs: 60,
            no_details_cooldown_secs: 10,
            cooldown_escalation: 2.0,
            max_cooldown_secs: 3600,
            breaker_threshold: 3,
            breaker_open_secs: 30,
            adaptive_window: 50,
            max_body_bytes: 20 * 1024 * 1024,
            upstream_connect_timeout_ms: 10_000,
            upstream_first_byte_timeout_ms: 300_000,
            upstream_stream_first_byte_timeout_ms: 120_000,
            upstream_between_bytes_timeout_ms: 120_000,
            overload_retry_after_secs: 10,
        }
    }
}

/// The setting names, in the order [`PoolSettings::to_pairs`] lists them.
pub const SETTING_NAMES: [&str; 15] = [
    "strategy",
    "max_attempts",
    "default_retry_secs",
    "no_details_cooldown_secs",
    "cooldown_escalation",
    "max_cooldown_secs",
    "breaker_threshold",
    "breaker_open_secs",
    "adaptive_window",
    "max_body_bytes",
    "upstream_connect_timeout_ms",
    "upstream_first_byte_timeout_ms",
    "upstream_stream_first_byte_timeout_ms",
    "upstream_between_bytes_timeout_ms",
    "overload_retry_after_secs",
];

const DAY_SECS: u64 = 86_400;

impl PoolSettings {
    /// Builds settings from stored (name, value) text pairs over the defaults. Names that are
    /// not pool settings are ignored (the table holds other things too); a bad value for a
    /// pool setting is an error naming it.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, SettingsError> {
        let mut settings = PoolSettings::default();
        for (name, value) in pairs {
            if SETTING_NAMES.contains(&name) {
                settings.set(name, &Value::String(value.to_string()))?;
            }
        }
        Ok(settings)
    }

    /// Sets one setting from a JSON value, checking its range. Numbers may also come as
    /// strings (`"3"`), as they are stored. An unknown name is an error.
    pub fn set(&mut self, name: &str, value: &Value) -> Result<(), SettingsError> {
        match name {
            "strategy" => match value {
                Value::String(s) => self.strategy = s.parse()?,
                _ => return Err(SettingsError::invalid(name, "expected a string")),
            },
            "max_attempts" => self.max_attempts = int(name, value, 1, 20)? as u32,
            "default_retry_secs" => self.default_retry_secs = int(name, value, 1, DAY_SECS)?,
            "no_details_cooldown_secs" => self.no_details_cooldown_secs = int(name, value, 1, DAY_SECS)?,
            "cooldown_escalation" => self.cooldown_escalation = float(name, value, 1.0, 10.0)?,
            "max_cooldown_secs" => self.max_cooldown_secs = int(name, value, 1, 7 * DAY_SECS)?,
            "breaker_threshold" => self.breaker_threshold = int(name, value, 1, 1000)? as u32,
            "breaker_open_secs" => self.breaker_open_secs = int(name, value, 1, DAY_SECS)?,
            "adaptive_window" => self.adaptive_window = int(name, value, 1, 100_000)? as u32,
            "max_body_bytes" => self.max_body_bytes = int(name, value, 1024, 1 << 30)?,
            "upstream_connect_timeout_ms" => self.upstream_connect_timeout_ms = int(name, value, 100, 600_000)?,
            "upstream_first_byte_timeout_ms" => self.upstream_first_byte_timeout_ms = int(name, value, 100, 3_600_000)?,
            "upstream_stream_first_byte_timeout_ms" => {
                self.upstream_stream_first_byte_timeout_ms = int(name, value, 100, 3_600_000)?
            }
            "upstream_between_bytes_timeout_ms" => {
                self.upstream_between_bytes_timeout_ms = int(name, value, 100, 3_600_000)?
            }
            "overload_retry_after_secs" => self.overload_retry_after_secs = int(name, value, 1, 3600)?,
            _ => return Err(SettingsError::Unknown(name.to_string())),
        }
        Ok(())
    }

    /// Every setting as (name, text value), in [`SETTING_NAMES`] order; [`Self::from_pairs`]
    /// reads them back unchanged.
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        let values = [
            self.strategy.to_string(),
            self.max_attempts.to_string(),
            self.default_retry_secs.to_string(),
            self.no_details_cooldown_secs.to_string(),
            self.cooldown_escalation.to_string(),
            self.max_cooldown_secs.to_string(),
            self.breaker_threshold.to_string(),
            self.breaker_open_secs.to_string(),
            self.adaptive_window.to_string(),
            self.max_body_bytes.to_string(),
            self.upstream_connect_timeout_ms.to_string(),
            self.upstream_first_byte_timeout_ms.to_string(),
            self.upstream_stream_first_byte_timeout_ms.to_string(),
            self.upstream_between_bytes_timeout_ms.to_string(),
            self.overload_retry_after_secs.to_string(),
        ];
        SETTING_NAMES
            .iter()
            .zip(values)
            .map(|(n, v)| (n.to_string(), v))
            .collect()
    }

    /// Checks every range (for settings that arrived through serde rather than [`Self::set`]).
    pub fn validate(&self) -> Result<(), SettingsError> {
        let mut copy = self.clone();
        for (name, value) in self.to_pairs() {
            copy.set(&name, &Value::String(value))?;
        }
        Ok(())
    }
}

/// An integer in `min..=max` from a JSON number or a numeric string.
fn int(name: &str, value: &Value, min: u64, max: u64) -> Result<u64, SettingsError> {
    let n = match value {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64)),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    let n = n.ok_or_else(|| SettingsError::invalid(name, format!("expected a whole number, got {value}")))?;
    if n < min || n > max {
        return Err(SettingsError::invalid(
            name,
            format!("{n} is out of range {min}..={max}"),
        ));
    }
    Ok(n)
}

/// A finite number in `min..=max` from a JSON number or a numeric string.
fn float(name: &str, value: &Value, min: f64, max: f64) -> Result<f64, SettingsError> {
    let f = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    let f = f
        .filter(|f| f.is_finite())
        .ok_or_else(|| SettingsError::invalid(name, format!("expected a number, got {value}")))?;
    if f < min || f > max {
        return Err(SettingsError::invalid(
            name,
            format!("{f} is out of range {min}..={max}"),
        ));
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_are_the_documented_ones() {
        let s = PoolSettings::default();
        assert_eq!(s.strategy, Strategy::RoundRobin);
        assert_eq!(
            (
                s.max_attempts,
                s.default_retry_secs,
                s.no_details_cooldown_secs,
                s.max_cooldown_secs
            ),
            (3, 60, 10, 3600)
        );
        assert_eq!(s.cooldown_escalation, 2.0);
        assert_eq!(
            (s.breaker_threshold, s.breaker_open_secs, s.adaptive_window),
            (3, 30, 50)
        );
        assert_eq!(s.max_body_bytes, 20_971_520);
        assert!(s.validate().is_ok());
    }

    #[test]
    fn strategy_names_round_trip() {
        for st in Strategy::ALL {
            assert_eq!(st.to_string().parse::<Strategy>().unwrap(), st);
            assert_eq!(serde_json::to_value(st).unwrap(), json!(st.as_str()));
            assert_eq!(serde_json::from_value::<Strategy>(json!(st.as_str())).unwrap(), st);
        }
        assert_eq!("Least-Used".parse::<Strategy>().unwrap(), Strategy::LeastUsed);
        let err = "fastest".parse::<Strategy>().unwrap_err();
        assert!(err.to_string().contains("`strategy`"), "{err}");
    }

    #[test]
    fn from_pairs_ignores_foreign_names_and_names_bad_values() {
        let s = PoolSettings::from_pairs([
            ("strategy", "weighted"),
            ("alias:gpt-4o", "gemini-2.5-pro"),
            ("admin_key_sha256", "abc"),
            ("max_attempts", "5"),
            ("cooldown_escalation", "1.5"),
        ])
        .unwrap();
        assert_eq!(s.strategy, Strategy::Weighted);
        assert_eq!(s.max_attempts, 5);
        assert_eq!(s.cooldown_escalation, 1.5);
        assert_eq!(s.default_retry_secs, 60);

        let cases = [
            ("max_attempts", "0"),
            ("max_attempts", "three"),
            ("max_attempts", "-1"),
            ("cooldown_escalation", "0.5"),
            ("cooldown_escalation", "NaN"),
            ("breaker_threshold", ""),
            ("max_body_bytes", "10"),
            ("strategy", "best"),
        ];
        for (name, value) in cases {
            let err = PoolSettings::from_pairs([(name, value)]).unwrap_err();
            assert!(err.to_string().contains(&format!("`{name}`")), "{name}={value}: {err}");
        }
    }

    #[test]
    fn set_accepts_json_numbers_and_strings_and_checks_ranges() {
        let mut s = PoolSettings::default();
        let ok = [
            ("strategy", json!("adaptive")),
            ("max_attempts", json!(20)),
            ("default_retry_secs", json!("30")),
            ("no_details_cooldown_secs", json!(5.0)),
            ("cooldown_escalation", json!(1)),
            ("max_cooldown_secs", json!(604_800)),
            ("breaker_threshold", json!(1)),
            ("breaker_open_secs", json!(86_400)),
            ("adaptive_window", json!(100)),
            ("max_body_bytes", json!(1024)),
        ];
        for (name, value) in &ok {
            s.set(name, value).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        assert_eq!(s.strategy, Strategy::Adaptive);
        assert_eq!(s.max_attempts, 20);
        assert_eq!(s.default_retry_secs, 30);
        assert_eq!(s.no_details_cooldown_secs, 5);
        assert_eq!(s.cooldown_escalation, 1.0);

        let bad = [
            ("strategy", json!(3)),
            ("max_attempts", json!(21)),
            ("max_attempts", json!(1.5)),
            ("default_retry_secs", json!(0)),
            ("no_details_cooldown_secs", json!(null)),
            ("cooldown_escalation", json!(11)),
            ("max_cooldown_secs", json!(604_801)),
            ("breaker_threshold", json!(true)),
            ("breaker_open_secs", json!(-5)),
            ("adaptive_window", json!(0)),
            ("max_body_bytes", json!(2_000_000_000u64)),
        ];
        let before = s.clone();
        for (name, value) in &bad {
            let err = s.set(name, value).unwrap_err();
            assert!(
                matches!(&err, SettingsError::Invalid { name: n, .. } if n == name),
                "{name}: {err}"
            );
        }
        assert_eq!(s, before, "a rejected value leaves the settings unchanged");
        assert_eq!(s.set("nope", &json!(1)), Err(SettingsError::Unknown("nope".into())));
    }

    #[test]
    fn to_pairs_round_trips_through_from_pairs() {
        let s = PoolSettings {
            strategy: Strategy::LeastUsed,
            cooldown_escalation: 1.25,
            max_body_bytes: 4096,
            ..PoolSettings::default()
        };
        let pairs = s.to_pairs();
        assert_eq!(pairs.len(), SETTING_NAMES.len());
        assert_eq!(pairs[0], ("strategy".to_string(), "least_used".to_string()));
        let back = PoolSettings::from_pairs(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))).unwrap();
        assert_eq!(back, s);
        let default_pairs = PoolSettings::default().to_pairs();
        assert!(default_pairs.contains(&("cooldown_escalation".to_string(), "2".to_string())));
    }

    #[test]
    fn serde_fills_missing_fields_and_validate_catches_bad_ones() {
        let s: PoolSettings = serde_json::from_value(json!({"strategy": "random", "max_attempts": 4})).unwrap();
        assert_eq!(s.strategy, Strategy::Random);
        assert_eq!(s.max_attempts, 4);
        assert_eq!(s.breaker_open_secs, 30);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["strategy"], "random");
        assert_eq!(v["max_body_bytes"], 20_971_520);
        let bad: PoolSettings = serde_json::from_value(json!({"max_attempts": 0})).unwrap();
        assert!(bad.validate().is_err());
    }
}
