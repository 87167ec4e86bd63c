//! What one upstream answer means for the request and for the key that sent it.
//!
//! [`classify`] reads the HTTP status and Gemini's error body (`google.rpc.Status` with
//! `QuotaFailure`, `RetryInfo`, `ErrorInfo` details; see the reference's §1.13) and decides
//! whether the answer goes back to the client ([`Outcome::Success`], [`Outcome::ClientFault`])
//! or whether the request moves on to another key after the key is cooled down, disabled or
//! charged a breaker failure ([`Outcome::RetryElsewhere`]). It is pure: the clock, the
//! settings and the key's strike count come in through [`ClassifyContext`].
//!
//! Reasons are short human-readable strings for the admin page: the upstream's message,
//! whitespace-collapsed, with anything shaped like a Google API key redacted, at most
//! [`MAX_REASON_CHARS`] characters.

use super::breaker::secs_to_ms;
use super::clock::next_pacific_midnight_ms;
use super::details::{error_info_reason, message_retry_delay_ms, retry_delay_ms, violations};
use super::settings::PoolSettings;
use crate::protocol::gemini::status::QuotaViolation;
use crate::protocol::gemini::{ErrorBody, Status};

pub use super::details::{clean_reason, quota_kind, redact_keys, QuotaKind, MAX_REASON_CHARS};

/// No cooldown is shorter than this, even when the upstream says `retryDelay: "0s"`: the
/// same key must not be hammered again within the same second.
pub const MIN_COOLDOWN_MS: i64 = 1000;

/// What one upstream answer means for the request and the key.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// 2xx: hand the answer to the client; the key is healthy.
    Success,
    /// A 4xx caused by the request itself (bad body, unknown model, …): return it to the
    /// client as is; the key is untouched.
    ClientFault,
    /// The key could not serve this request: apply the effect, then try the next key if
    /// attempts remain.
    RetryElsewhere(KeyEffect),
}

/// What happens to the key after a [`Outcome::RetryElsewhere`].
#[derive(Debug, Clone, PartialEq)]
pub enum KeyEffect {
    /// Skip the (key, model) until `until_ms`; `strikes` is the new count of consecutive
    /// 429s to store. `Project` scope extends the cooldown to every key of the key's project
    /// (just the key when it has none).
    Cooldown {
        /// The end of the cooldown (Unix ms).
        until_ms: i64,
        /// Why, for the admin API (e.g. the quota that was hit).
        reason: String,
        /// This key, or every key of its project.
        scope: CooldownScope,
        /// Consecutive 429s on the (key, model), this one included.
        strikes: u32,
    },
    /// The key is invalid, expired, suspended or not allowed to call the API: disable it.
    Disable {
        /// Why, for the admin API (e.g. `API_KEY_INVALID`).
        reason: String,
    },
    /// 5xx, network error or timeout: count a failure on the key's circuit breaker.
    BreakerFailure {
        /// What failed, for the admin API.
        reason: String,
    },
}

/// How far a cooldown reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CooldownScope {
    /// This key only (per-minute quotas: each request spreads to the other keys anyway).
    Key,
    /// Every key of the same Google Cloud project (daily quotas are per project).
    Project,
}

/// The facts [`classify`] needs besides the answer itself.
#[derive(Debug, Clone, Copy)]
pub struct ClassifyContext<'a> {
    /// The current time (Unix ms).
    pub now_ms: i64,
    /// The pool settings (cooldown lengths, strike limits).
    pub settings: &'a PoolSettings,
    /// Consecutive 429s already recorded for this (key, model).
    pub previous_strikes: u32,
}

/// Classifies one upstream answer.
///
/// | Upstream answer | Outcome | Effect on the key |
/// |---|---|---|
/// | 2xx | `Success` | none (the caller clears strikes and breaker) |
/// | 429, a `QuotaFailure` violation whose `quotaId` contains `PerDay` (or a quota limit of `0`) | `RetryElsewhere` | `Cooldown` until the next midnight America/Los_Angeles (even if `retryDelay` is small), scope `Project` |
/// | 429, per-minute or token quota (`…PerMinute…`, `…TokensPerMinute…`), or details without a known quota | `RetryElsewhere` | `Cooldown` for `RetryInfo.retryDelay`, else the message's "Please retry in 12.3s", else `default_retry_secs`; × `cooldown_escalation`^previous strikes, capped at `max_cooldown_secs` but never below the upstream's delay; scope `Key` |
/// | 429 without details (or an unreadable body) | `RetryElsewhere` | `Cooldown` for `no_details_cooldown_secs` (or the message's delay), escalated the same way; scope `Key` |
/// | 400 with `ErrorInfo.reason` `API_KEY_INVALID` (or "API key not valid" / "API key expired") | `RetryElsewhere` | `Disable` with the upstream's message |
/// | 401 | `RetryElsewhere` | `Disable` |
/// | 403 (`PERMISSION_DENIED`: suspended consumer, service disabled, unregistered callers, blocked or expired key…) | `RetryElsewhere` | `Disable` with the upstream's message |
/// | 403 about a resource the key's project cannot see ("permission to access" a file, tuned model or cached content) | `ClientFault` | none |
/// | other 400, 404, 409, 413, 422 and any other 4xx | `ClientFault` | none |
/// | 500, 502, 503, 504 and any other non-2xx, non-4xx status | `RetryElsewhere` | `BreakerFailure` |
/// | network error or timeout ([`classify_network_error`]) | `RetryElsewhere` | `BreakerFailure` |
///
/// Every cooldown lasts at least [`MIN_COOLDOWN_MS`]; `strikes` is `previous_strikes + 1`.
/// Reasons are the upstream's message (prefixed with the quota id for 429s), at most
/// [`MAX_REASON_CHARS`] characters, with API keys redacted.
pub fn classify(status: u16, body: &[u8], ctx: &ClassifyContext) -> Outcome {
    if (200..300).contains(&status) {
        return Outcome::Success;
    }
    let parsed = ErrorBody::parse(body).map(|b| b.error);
    let message = match &parsed {
        Some(s) if !s.message.trim().is_empty() => s.message.clone(),
        _ => fallback_message(status, parsed.as_ref(), body),
    };
    let error_reason = parsed.as_ref().and_then(error_info_reason);
    match status {
        429 => Outcome::RetryElsewhere(quota_cooldown(parsed.as_ref(), &message, ctx)),
        401 => disable(&message, error_reason.as_deref()),
        400 if is_invalid_key(&message, error_reason.as_deref()) => disable(&message, error_reason.as_deref()),
        403 if is_foreign_resource(&message, error_reason.as_deref()) => Outcome::ClientFault,
        403 => disable(&message, error_reason.as_deref()),
        400..=499 => Outcome::ClientFault,
        _ => Outcome::RetryElsewhere(KeyEffect::BreakerFailure {
            reason: breaker_reason(status, parsed.as_ref(), &message),
        }),
    }
}

/// A request that got no HTTP answer (connection refused, reset, DNS, timeout): a breaker
/// failure on the key, and the request moves on.
pub fn classify_network_error(message: &str) -> Outcome {
    let message = if message.trim().is_empty() {
        "no answer"
    } else {
        message
    };
    Outcome::RetryElsewhere(KeyEffect::BreakerFailure {
        reason: clean_reason(&format!("network error: {message}")),
    })
}

fn quota_cooldown(status: Option<&Status>, message: &str, ctx: &ClassifyContext) -> KeyEffect {
    let s = ctx.settings;
    let strikes = ctx.previous_strikes.saturating_add(1);
    let upstream_delay = status
        .and_then(retry_delay_ms)
        .or_else(|| message_retry_delay_ms(message));
    let kind = status.map_or(QuotaKind::Unknown, quota_kind);
    let zero_limit =
        status.is_some_and(|st| violations(st).any(|v| v.quota_value_text().is_some_and(|q| q.trim() == "0")));
    let reason = quota_reason(status, message);
    let now = ctx.now_ms;
    if kind == QuotaKind::PerDay || zero_limit {
        // Daily limits report a small retryDelay ("3s") that would only burn more attempts:
        // the quota is back at the Pacific midnight reset.
        let until_ms = next_pacific_midnight_ms(now).max(now.saturating_add(upstream_delay.unwrap_or(0)));
        return KeyEffect::Cooldown {
            until_ms,
            reason,
            scope: CooldownScope::Project,
            strikes,
        };
    }
    let has_details = status.is_some_and(|st| !st.details.is_empty());
    let fallback_secs = if has_details {
        s.default_retry_secs
    } else {
        s.no_details_cooldown_secs
    };
    let base_ms = upstream_delay.unwrap_or_else(|| secs_to_ms(fallback_secs));
    let factor = if s.cooldown_escalation.is_finite() {
        s.cooldown_escalation.max(1.0)
    } else {
        1.0
    };
    let escalated = base_ms as f64 * factor.powi(ctx.previous_strikes.min(64) as i32);
    let capped = escalated.min(secs_to_ms(s.max_cooldown_secs) as f64) as i64;
    let cooldown_ms = capped.max(upstream_delay.unwrap_or(0)).max(MIN_COOLDOWN_MS);
    KeyEffect::Cooldown {
        until_ms: now.saturating_add(cooldown_ms),
        reason,
        scope: CooldownScope::Key,
        strikes,
    }
}

/// "`quotaId` (limit 10, model gemini-2.5-flash): message", or just the message.
fn quota_reason(status: Option<&Status>, message: &str) -> String {
    let violation = status.and_then(|st| {
        // Name the violation that decided the cooldown: a daily one first.
        let all: Vec<&QuotaViolation> = violations(st).collect();
        all.iter()
            .find(|v| v.quota_id.as_deref().unwrap_or("").contains("PerDay"))
            .or_else(|| all.first())
            .copied()
    });
    let Some(v) = violation else {
        return clean_reason(message);
    };
    let id = v.quota_id.as_deref().unwrap_or("quota");
    let mut facts = Vec::new();
    if let Some(limit) = v.quota_value_text() {
        facts.push(format!("limit {limit}"));
    }
    if let Some(model) = v.model() {
        facts.push(format!("model {model}"));
    }
    let facts = if facts.is_empty() {
        String::new()
    } else {
        format!(" ({})", facts.join(", "))
    };
    clean_reason(&format!("{id}{facts}: {message}"))
}

fn disable(message: &str, error_reason: Option<&str>) -> Outcome {
    let reason = match error_reason {
        Some(r) if !message.contains(r) => format!("{message} ({r})"),
        _ => message.to_string(),
    };
    Outcome::RetryElsewhere(KeyEffect::Disable {
        reason: clean_reason(&reason),
    })
}

fn breaker_reason(status: u16, parsed: Option<&Status>, message: &str) -> String {
    match parsed.map(|s| s.status.as_str()).filter(|s| !s.is_empty()) {
        Some(name) => clean_reason(&format!("HTTP {status} {name}: {message}")),
        None => clean_reason(&format!("HTTP {status}: {message}")),
    }
}

/// Whether a 400 says the key itself is bad.
fn is_invalid_key(message: &str, error_reason: Option<&str>) -> bool {
    const KEY_REASONS: [&str; 2] = ["API_KEY_INVALID", "API_KEY_EXPIRED"];
    let lower = message.to_ascii_lowercase();
    error_reason.is_some_and(|r| KEY_REASONS.contains(&r))
        || lower.contains("api key not valid")
        || lower.contains("api key expired")
        || lower.contains("api_key_invalid")
}

/// Whether a 403 is about a resource (an uploaded file, tuned model, cached content) that
/// belongs to another project, rather than about the key: another key would not help, and
/// the key must not be disabled for it.
fn is_foreign_resource(message: &str, error_reason: Option<&str>) -> bool {
    if error_reason.is_some_and(|r| r.starts_with("API_KEY") || r.contains("SUSPENDED") || r.contains("DISABLED")) {
        return false;
    }
    let lower = message.to_ascii_lowercase();
    lower.contains("permission to access")
        || lower.contains("tunedmodels/")
        || lower.contains("cachedcontents/")
        || lower.contains("files/")
}

/// A message for an answer whose body has none: the body text if it reads as text (not
/// HTML), else the status.
fn fallback_message(status: u16, parsed: Option<&Status>, body: &[u8]) -> String {
    if let Some(name) = parsed.map(|s| s.status.as_str()).filter(|s| !s.is_empty()) {
        return format!("upstream answered {status} {name}");
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(4 * MAX_REASON_CHARS)]);
    let text = text.trim();
    let readable = !text.is_empty() && !text.starts_with('<') && !text.contains('\u{fffd}');
    if readable {
        text.to_string()
    } else {
        format!("upstream answered {status} without a readable error body")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::clock::next_pacific_midnight_ms;

    /// 2026-03-08 09:30 UTC (01:30 PST, the morning of the spring change).
    const NOW: i64 = 1_772_962_200_000;

    const PER_MINUTE: &str = r#"{"error": {"code": 429, "message": "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.\n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 10, model: gemini-2.5-flash\nPlease retry in 14.5s.", "status": "RESOURCE_EXHAUSTED", "details": [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests", "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "quotaDimensions": {"location": "global", "model": "gemini-2.5-flash"}, "quotaValue": "10"}]},
        {"@type": "type.googleapis.com/google.rpc.Help", "links": [{"description": "Learn more about Gemini API quotas", "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "15s"}]}}"#;
    const PER_DAY: &str = r#"{"error": {"code": 429, "message": "You exceeded your current quota, please check your plan and billing details.\n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 50, model: gemini-2.5-pro\nPlease retry in 3.2s.", "status": "RESOURCE_EXHAUSTED", "details": [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests", "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier", "quotaDimensions": {"location": "global", "model": "gemini-2.5-pro"}, "quotaValue": "50"}]},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"}]}}"#;
    const TOKENS: &str = r#"{"error": {"code": 429, "message": "You exceeded your current quota. Please retry in 40s.", "status": "RESOURCE_EXHAUSTED", "details": [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count", "quotaId": "GenerateContentInputTokensPerModelPerMinute-FreeTier", "quotaDimensions": {"location": "global", "model": "gemini-2.0-flash"}, "quotaValue": "1000000"}]}]}}"#;
    const NO_DETAILS: &str = r#"{"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED"}}"#;
    const INVALID_KEY: &str = r#"{"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT", "details": [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}},
        {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": "API key not valid. Please pass a valid API key."}]}}"#;
    const SUSPENDED: &str = r#"{"error": {"code": 403, "message": "Permission denied: Consumer 'api_key:AIzaSyA1234567890abcdefghijklmnopqrstuv' has been suspended.", "status": "PERMISSION_DENIED", "details": [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "CONSUMER_SUSPENDED", "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com", "consumer": "projects/123"}}]}}"#;
    const SERVICE_DISABLED: &str = r#"{"error": {"code": 403, "message": "Generative Language API has not been used in project 123 before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/generativelanguage.googleapis.com/overview?project=123 then retry.", "status": "PERMISSION_DENIED", "details": [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "SERVICE_DISABLED", "domain": "googleapis.com"}]}}"#;
    const UNREGISTERED: &str = r#"{"error": {"code": 403, "message": "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.", "status": "PERMISSION_DENIED"}}"#;
    const FOREIGN_FILE: &str = r#"{"error": {"code": 403, "message": "You do not have permission to access the File abc123 or it may not exist.", "status": "PERMISSION_DENIED"}}"#;
    const BAD_REQUEST: &str = r#"{"error": {"code": 400, "message": "Invalid JSON payload received. Unknown name \"additionalProperties\" at 'tools[0].function_declarations[0].parameters': Cannot find field.", "status": "INVALID_ARGUMENT", "details": [
        {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [{"field": "tools[0].function_declarations[0].parameters", "description": "Invalid JSON payload received."}]}]}}"#;
    const NOT_FOUND: &str = r#"{"error": {"code": 404, "message": "models/gemini-9 is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.", "status": "NOT_FOUND"}}"#;
    const INTERNAL: &str = r#"{"error": {"code": 500, "message": "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting", "status": "INTERNAL"}}"#;
    const OVERLOADED: &str = r#"{"error": {"code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE"}}"#;

    fn run(status: u16, body: &str, strikes: u32) -> Outcome {
        let settings = PoolSettings::default();
        classify(
            status,
            body.as_bytes(),
            &ClassifyContext {
                now_ms: NOW,
                settings: &settings,
                previous_strikes: strikes,
            },
        )
    }

    fn cooldown(until_ms: i64, scope: CooldownScope, strikes: u32) -> impl Fn(&Outcome) -> bool {
        move |o| {
            matches!(o, Outcome::RetryElsewhere(KeyEffect::Cooldown { until_ms: u, scope: s, strikes: k, .. })
            if *u == until_ms && *s == scope && *k == strikes)
        }
    }

    #[test]
    fn realistic_gemini_answers() {
        let midnight = next_pacific_midnight_ms(NOW);
        assert_eq!(
            midnight,
            NOW + 21 * 3_600_000 + 30 * 60_000,
            "01:30 PST to midnight PDT on the 23-hour day"
        );
        let disabled = |o: &Outcome| matches!(o, Outcome::RetryElsewhere(KeyEffect::Disable { .. }));
        let breaker = |o: &Outcome| matches!(o, Outcome::RetryElsewhere(KeyEffect::BreakerFailure { .. }));
        let array_wrapped = format!("[{PER_MINUTE}]");
        type Check = Box<dyn Fn(&Outcome) -> bool>;
        let cases: Vec<(&str, u16, &str, Check)> = vec![
            ("200", 200, "{}", Box::new(|o| *o == Outcome::Success)),
            ("204 empty", 204, "", Box::new(|o| *o == Outcome::Success)),
            (
                "per-minute, RetryInfo 15s",
                429,
                PER_MINUTE,
                Box::new(cooldown(NOW + 15_000, CooldownScope::Key, 1)),
            ),
            (
                "array-wrapped",
                429,
                &array_wrapped,
                Box::new(cooldown(NOW + 15_000, CooldownScope::Key, 1)),
            ),
            (
                "per-day, retryDelay 3s",
                429,
                PER_DAY,
                Box::new(cooldown(midnight, CooldownScope::Project, 1)),
            ),
            (
                "token per-minute, message 40s",
                429,
                TOKENS,
                Box::new(cooldown(NOW + 40_000, CooldownScope::Key, 1)),
            ),
            (
                "no details",
                429,
                NO_DETAILS,
                Box::new(cooldown(NOW + 10_000, CooldownScope::Key, 1)),
            ),
            (
                "garbage 429",
                429,
                "<html>Too Many Requests</html>",
                Box::new(cooldown(NOW + 10_000, CooldownScope::Key, 1)),
            ),
            ("API_KEY_INVALID", 400, INVALID_KEY, Box::new(disabled)),
            ("401", 401, "", Box::new(disabled)),
            ("403 suspended", 403, SUSPENDED, Box::new(disabled)),
            ("403 service disabled", 403, SERVICE_DISABLED, Box::new(disabled)),
            ("403 unregistered", 403, UNREGISTERED, Box::new(disabled)),
            (
                "403 foreign file",
                403,
                FOREIGN_FILE,
                Box::new(|o| *o == Outcome::ClientFault),
            ),
            (
                "400 bad request",
                400,
                BAD_REQUEST,
                Box::new(|o| *o == Outcome::ClientFault),
            ),
            ("404 model", 404, NOT_FOUND, Box::new(|o| *o == Outcome::ClientFault)),
            ("409", 409, "", Box::new(|o| *o == Outcome::ClientFault)),
            ("413", 413, "too big", Box::new(|o| *o == Outcome::ClientFault)),
            ("422", 422, "{}", Box::new(|o| *o == Outcome::ClientFault)),
            ("418", 418, "", Box::new(|o| *o == Outcome::ClientFault)),
            ("500", 500, INTERNAL, Box::new(breaker)),
            ("502 garbage", 502, "<html>Bad Gateway</html>", Box::new(breaker)),
            ("503", 503, OVERLOADED, Box::new(breaker)),
            ("504", 504, "", Box::new(breaker)),
            ("599", 599, "\x00\x01", Box::new(breaker)),
            ("302", 302, "", Box::new(breaker)),
        ];
        for (name, status, body, check) in cases {
            let got = run(status, body, 0);
            assert!(check(&got), "{name}: got {got:?}");
        }
    }

    #[test]
    fn reasons_are_readable_bounded_and_keyless() {
        let reason = |o: Outcome| match o {
            Outcome::RetryElsewhere(KeyEffect::Cooldown { reason, .. })
            | Outcome::RetryElsewhere(KeyEffect::Disable { reason })
            | Outcome::RetryElsewhere(KeyEffect::BreakerFailure { reason }) => reason,
            other => panic!("no reason in {other:?}"),
        };
        let r = reason(run(429, PER_MINUTE, 0));
        assert!(
            r.starts_with(
                "GenerateRequestsPerMinutePerProjectPerModel-FreeTier (limit 10, model gemini-2.5-flash): You exceeded"
            ),
            "{r}"
        );
        assert!(
            r.chars().count() <= MAX_REASON_CHARS && r.ends_with('…') && !r.contains('\n'),
            "{r}"
        );
        let r = reason(run(429, PER_DAY, 0));
        assert!(
            r.starts_with("GenerateRequestsPerDayPerProjectPerModel-FreeTier (limit 50, model gemini-2.5-pro): "),
            "{r}"
        );
        assert_eq!(
            reason(run(400, INVALID_KEY, 0)),
            "API key not valid. Please pass a valid API key. (API_KEY_INVALID)"
        );
        let r = reason(run(403, SUSPENDED, 0));
        assert_eq!(
            r,
            "Permission denied: Consumer 'api_key:[redacted key]' has been suspended. (CONSUMER_SUSPENDED)"
        );
        assert_eq!(
            reason(run(503, OVERLOADED, 0)),
            "HTTP 503 UNAVAILABLE: The model is overloaded. Please try again later."
        );
        assert_eq!(
            reason(run(502, "<html>x</html>", 0)),
            "HTTP 502: upstream answered 502 without a readable error body"
        );
        assert_eq!(
            reason(run(401, "", 0)),
            "upstream answered 401 without a readable error body"
        );
        assert_eq!(
            reason(run(504, "upstream request timeout", 0)),
            "HTTP 504: upstream request timeout"
        );
        assert_eq!(
            reason(run(429, NO_DETAILS, 0)),
            "Resource has been exhausted (e.g. check quota)."
        );
        let r = reason(classify_network_error(
            "connection refused to AIzaSyA1234567890abcdefghijklmnopqrstuv",
        ));
        assert_eq!(r, "network error: connection refused to [redacted key]");
        assert_eq!(reason(classify_network_error("")), "network error: no answer");
    }

    #[test]
    fn a_zero_limit_is_treated_like_a_daily_quota() {
        // "limit: 0" (a model the project's tier does not include) never recovers within the
        // minute: wait for the daily reset instead of burning attempts every minute.
        let zero = r#"{"error":{"code":429,"message":"Quota exceeded, limit: 0","details":[
            {"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier","quotaValue":"0"}]},
            {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"20s"}]}}"#;
        assert!(cooldown(next_pacific_midnight_ms(NOW), CooldownScope::Project, 1)(
            &run(429, zero, 0)
        ));
    }

    #[test]
    fn escalation_multiplies_caps_and_respects_the_upstream_delay() {
        // (body, previous strikes, settings tweak, expected cooldown ms)
        let no_retry_info = r#"{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[
            {"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel"}]}]}}"#;
        let long_delay = PER_MINUTE.replace("\"15s\"", "\"5000s\"");
        let zero_delay = PER_MINUTE.replace("\"15s\"", "\"0s\"");
        let cases: Vec<(&str, u32, u64, i64)> = vec![
            (PER_MINUTE, 0, 3600, 15_000),
            (PER_MINUTE, 1, 3600, 30_000),
            (PER_MINUTE, 3, 3600, 120_000),
            (PER_MINUTE, 20, 3600, 3_600_000), // capped
            (PER_MINUTE, 2, 40, 40_000),       // capped by a small maximum
            (PER_MINUTE, 0, 10, 15_000),       // the cap never goes under the upstream delay
            (&long_delay, 0, 3600, 5_000_000), // an upstream delay above the cap wins
            (&zero_delay, 0, 3600, MIN_COOLDOWN_MS),
            (&zero_delay, 5, 3600, MIN_COOLDOWN_MS),
            (no_retry_info, 0, 3600, 60_000), // default_retry_secs
            (no_retry_info, 2, 3600, 240_000),
            (NO_DETAILS, 0, 3600, 10_000), // no_details_cooldown_secs
            (NO_DETAILS, 1, 3600, 20_000),
            (NO_DETAILS, 100, 3600, 3_600_000),
            (NO_DETAILS, u32::MAX, 3600, 3_600_000),
        ];
        for (i, (body, strikes, max_cooldown_secs, want)) in cases.into_iter().enumerate() {
            let settings = PoolSettings {
                max_cooldown_secs,
                ..PoolSettings::default()
            };
            let ctx = ClassifyContext {
                now_ms: NOW,
                settings: &settings,
                previous_strikes: strikes,
            };
            let check = cooldown(NOW + want, CooldownScope::Key, strikes.saturating_add(1));
            let got = classify(429, body.as_bytes(), &ctx);
            assert!(check(&got), "case {i}: want {want} ms, got {got:?}");
        }
        // Per-day ignores escalation: always the next Pacific midnight.
        assert!(cooldown(next_pacific_midnight_ms(NOW), CooldownScope::Project, 8)(
            &run(429, PER_DAY, 7)
        ));
    }
}
