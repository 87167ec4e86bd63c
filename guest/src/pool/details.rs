//! Readers for Gemini's error details (`google.rpc.Status.details`) and reason hygiene.
//!
//! A 429 names the quota it hit in `google.rpc.QuotaFailure` violations and how long to wait
//! in `google.rpc.RetryInfo.retryDelay` (a protobuf `Duration`, `"15s"`), and often repeats
//! the wait in its message ("Please retry in 14.5s."). Other errors carry
//! `google.rpc.ErrorInfo.reason` (`API_KEY_INVALID`, `CONSUMER_SUSPENDED`, …). These readers
//! are tolerant: a missing or malformed detail reads as absent, never as an error.
//!
//! Reasons stored for keys go through [`clean_reason`]: keys redacted, whitespace collapsed,
//! bounded length.

use crate::protocol::gemini::status::QuotaViolation;
use crate::protocol::gemini::Status;
use serde_json::Value;

/// Longest reason kept (in characters), including the trailing `…` when cut.
pub const MAX_REASON_CHARS: usize = 300;

/// Which quota a 429 hit, from its `QuotaFailure` violations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaKind {
    /// A daily quota (`…PerDay…`): resets at midnight America/Los_Angeles.
    PerDay,
    /// A per-minute request quota (`…PerMinute…`).
    PerMinute,
    /// A token quota (`…TokensPerMinute…`, `InputTokensPerModelPerMinute`).
    Tokens,
    /// No recognizable violation.
    Unknown,
}

/// The quota a 429's details name. A daily violation wins over a per-minute one.
pub fn quota_kind(status: &Status) -> QuotaKind {
    let mut kind = QuotaKind::Unknown;
    for v in violations(status) {
        let id = v.quota_id.as_deref().unwrap_or("");
        let metric = v.quota_metric.as_deref().unwrap_or("").to_ascii_lowercase();
        let this = if id.contains("PerDay") || metric.contains("per_day") {
            QuotaKind::PerDay
        } else if id.contains("Token") || metric.contains("token") {
            QuotaKind::Tokens
        } else if id.contains("PerMinute") || metric.contains("per_minute") {
            QuotaKind::PerMinute
        } else {
            QuotaKind::Unknown
        };
        kind = match (kind, this) {
            (QuotaKind::PerDay, _) | (_, QuotaKind::PerDay) => QuotaKind::PerDay,
            (QuotaKind::Tokens, _) | (_, QuotaKind::Tokens) => QuotaKind::Tokens,
            (QuotaKind::PerMinute, _) | (_, QuotaKind::PerMinute) => QuotaKind::PerMinute,
            _ => QuotaKind::Unknown,
        };
    }
    kind
}

/// `RetryInfo.retryDelay` in milliseconds (rounded up), if the details carry one.
pub fn retry_delay_ms(status: &Status) -> Option<i64> {
    status.retry_delay().and_then(duration_ms)
}

/// The delay in a message such as "… Please retry in 12.3s." or "retry in 1m30s", in
/// milliseconds (rounded up). Understands Go duration syntax (`h`, `m`, `s`, `ms`, `us`, `ns`).
pub fn message_retry_delay_ms(message: &str) -> Option<i64> {
    let lower = message.to_ascii_lowercase();
    let at = lower.find("retry in ")? + "retry in ".len();
    parse_go_duration_ms(&message[at..])
}

/// Replaces every `AIza` followed by 35 or more key characters (`[0-9A-Za-z_-]`) with
/// `[redacted key]`.
pub fn redact_keys(text: &str) -> String {
    let bytes = text.as_bytes();
    let is_key_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    let mut out = String::with_capacity(text.len());
    let (mut i, mut copied) = (0, 0);
    while let Some(pos) = text[i..].find("AIza") {
        let start = i + pos;
        let mut end = start + 4;
        while end < bytes.len() && is_key_byte(bytes[end]) {
            end += 1;
        }
        if end - start >= 39 {
            out.push_str(&text[copied..start]);
            out.push_str("[redacted key]");
            copied = end;
        }
        i = if end > start + 4 { end } else { start + 4 };
    }
    out.push_str(&text[copied..]);
    out
}

/// A reason fit for storage and display: keys redacted, whitespace collapsed, cut to
/// [`MAX_REASON_CHARS`] characters.
pub fn clean_reason(text: &str) -> String {
    let redacted = redact_keys(text);
    let collapsed = redacted.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= MAX_REASON_CHARS {
        return collapsed;
    }
    let mut cut: String = collapsed.chars().take(MAX_REASON_CHARS - 1).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

/// The `reason` of the first `google.rpc.ErrorInfo` detail.
pub(super) fn error_info_reason(status: &Status) -> Option<String> {
    status.error_info_reason().map(str::to_string)
}

/// Every violation of every `google.rpc.QuotaFailure` detail.
pub(super) fn violations(status: &Status) -> impl Iterator<Item = &QuotaViolation> {
    status.quota_violations()
}

pub(super) fn value_as_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A protobuf `Duration` in JSON: `"15s"`, `"1.5s"`, or `{"seconds": 15, "nanos": 0}`.
pub(super) fn duration_ms(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => {
            let s = s.trim().strip_suffix('s')?;
            let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
            decimal_ms(whole, frac, 1000)
        }
        Value::Object(o) => {
            let seconds = o
                .get("seconds")
                .and_then(|v| value_as_string(v)?.parse::<i64>().ok())
                .unwrap_or(0);
            let nanos = o.get("nanos").and_then(Value::as_i64).unwrap_or(0);
            let ms = seconds
                .checked_mul(1000)?
                .checked_add((nanos + 999_999).div_euclid(1_000_000))?;
            (ms >= 0).then_some(ms)
        }
        _ => None,
    }
}

/// `whole.frac` units of `unit_ms` milliseconds, rounded up to a whole millisecond; `None`
/// unless both parts are plain digits (an empty fraction is allowed, an empty whole is not).
fn decimal_ms(whole: &str, frac: &str, unit_ms: i64) -> Option<i64> {
    decimal_ns(whole, frac, unit_ms.checked_mul(1_000_000)?)
        .map(|ns| ns.div_euclid(1_000_000) + i64::from(ns % 1_000_000 != 0))
}

/// `whole.frac` units of `unit_ns` nanoseconds, rounded up to a whole nanosecond.
fn decimal_ns(whole: &str, frac: &str, unit_ns: i64) -> Option<i64> {
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(frac) {
        return None;
    }
    let whole_ns = whole.parse::<i64>().ok()?.checked_mul(unit_ns)?;
    let mut frac_ns: i128 = 0;
    let mut scale: i128 = 1;
    for b in frac.bytes().take(18) {
        frac_ns = frac_ns * 10 + i128::from(b - b'0');
        scale *= 10;
    }
    let frac_ns = (frac_ns * i128::from(unit_ns) + scale - 1) / scale;
    whole_ns.checked_add(i64::try_from(frac_ns).ok()?)
}

/// A Go duration (`"1m30.5s"`, `"12.3s"`, `"850ms"`) at the start of `text`, in milliseconds
/// rounded up. Parsing stops at the first character that cannot continue it.
fn parse_go_duration_ms(text: &str) -> Option<i64> {
    const UNITS: [(&str, i64); 8] = [
        ("ns", 1),
        ("us", 1_000),
        ("µs", 1_000),
        ("μs", 1_000),
        ("ms", 1_000_000),
        ("s", 1_000_000_000),
        ("m", 60_000_000_000),
        ("h", 3_600_000_000_000),
    ];
    let mut rest = text;
    let mut total_ns: i64 = 0;
    let mut parts = 0;
    loop {
        let number_len = rest.bytes().take_while(|b| b.is_ascii_digit() || *b == b'.').count();
        if number_len == 0 {
            break;
        }
        let number = rest[..number_len].trim_end_matches('.');
        let after = &rest[number.len()..];
        let Some((unit, unit_ns)) = UNITS.iter().find(|(u, _)| after.starts_with(u)) else {
            break;
        };
        let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
        total_ns = total_ns.checked_add(decimal_ns(whole, frac, *unit_ns)?)?;
        parts += 1;
        rest = &after[unit.len()..];
    }
    (parts > 0).then(|| total_ns.div_euclid(1_000_000) + i64::from(total_ns % 1_000_000 != 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::gemini::ErrorBody;

    #[test]
    fn quota_kinds() {
        let body = |violations: &str| {
            format!(
                r#"{{"error":{{"code":429,"message":"m","details":[{{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{violations}]}}]}}}}"#
            )
        };
        let kind = |b: &str| quota_kind(&ErrorBody::parse(b.as_bytes()).unwrap().error);
        let cases = [
            (
                r#"{"quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier"}"#,
                QuotaKind::PerDay,
            ),
            (
                r#"{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}"#,
                QuotaKind::PerMinute,
            ),
            (
                r#"{"quotaId":"GenerateContentInputTokensPerModelPerMinute-FreeTier"}"#,
                QuotaKind::Tokens,
            ),
            (r#"{"quotaId":"InputTokensPerModelPerMinute"}"#, QuotaKind::Tokens),
            (
                r#"{"quotaId":"GenerateContentInputTokensPerModelPerDay-FreeTier"}"#,
                QuotaKind::PerDay,
            ),
            (
                r#"{"quotaMetric":"x/generate_requests_per_model_per_day"}"#,
                QuotaKind::PerDay,
            ),
            (r#"{"quotaId":"Mystery"}"#, QuotaKind::Unknown),
            (r#"{"quotaId":"A-PerMinute"},{"quotaId":"B-PerDay"}"#, QuotaKind::PerDay),
            (r#"{"quotaId":"B-PerDay"},{"quotaId":"A-PerMinute"}"#, QuotaKind::PerDay),
            ("", QuotaKind::Unknown),
        ];
        for (violations, want) in cases {
            assert_eq!(kind(&body(violations)), want, "{violations}");
        }
    }

    #[test]
    fn durations_parse() {
        let retry = |v: Value| duration_ms(&v);
        assert_eq!(retry(serde_json::json!("15s")), Some(15_000));
        assert_eq!(retry(serde_json::json!("1.5s")), Some(1_500));
        assert_eq!(retry(serde_json::json!("0.5s")), Some(500));
        assert_eq!(retry(serde_json::json!("0.000000001s")), Some(1));
        assert_eq!(retry(serde_json::json!("3.123456789s")), Some(3_124));
        assert_eq!(retry(serde_json::json!("0s")), Some(0));
        assert_eq!(
            retry(serde_json::json!({"seconds": "20", "nanos": 500000000})),
            Some(20_500)
        );
        assert_eq!(retry(serde_json::json!({"seconds": 2})), Some(2_000));
        for bad in ["15", "s", "-1s", "1.2.3s", "abc", "1,5s", ".5s"] {
            assert_eq!(retry(serde_json::json!(bad)), None, "{bad}");
        }
        let msg = |m: &str| message_retry_delay_ms(m);
        assert_eq!(msg("Please retry in 12.3s."), Some(12_300));
        assert_eq!(msg("please RETRY IN 40s"), Some(40_000));
        assert_eq!(msg("Please retry in 16.588582652s."), Some(16_589));
        assert_eq!(msg("Please retry in 850.5ms."), Some(851));
        assert_eq!(msg("retry in 1m30s"), Some(90_000));
        assert_eq!(msg("retry in 1h2m3.5s"), Some(3_723_500));
        assert_eq!(msg("retry in 500µs"), Some(1));
        assert_eq!(msg("retry in a moment"), None);
        assert_eq!(msg("retry in 3."), None);
        assert_eq!(msg("no hint here"), None);
        let body = br#"{"error": {"code": 429, "message": "Quota exceeded. Please retry in 14.5s.", "details": [
            {"@type": "type.googleapis.com/google.rpc.Help", "links": []},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "15s"}]}}"#;
        let status = ErrorBody::parse(body).unwrap().error;
        assert_eq!(retry_delay_ms(&status), Some(15_000));
        assert_eq!(message_retry_delay_ms(&status.message), Some(14_500));
    }

    #[test]
    fn redaction_and_trimming() {
        let key = "AIzaSyA1234567890abcdefghijklmnopqrstuv";
        assert_eq!(key.len(), 39);
        assert_eq!(redact_keys(&format!("k={key}&x")), "k=[redacted key]&x");
        assert_eq!(redact_keys(&format!("{key} {key}")), "[redacted key] [redacted key]");
        assert_eq!(redact_keys("AIza short AIzaAIza"), "AIza short AIzaAIza");
        assert_eq!(redact_keys("é AIza"), "é AIza");
        let long = format!("{}{key}", "abcdefghijkl ".repeat(40));
        let cleaned = clean_reason(&long);
        assert_eq!(
            cleaned.chars().count(),
            MAX_REASON_CHARS - 1,
            "trailing space trimmed before …"
        );
        assert!(!cleaned.contains("AIzaSy"));
        let near_end = format!("{}{key}", "x".repeat(MAX_REASON_CHARS - 20));
        assert!(!clean_reason(&near_end).contains("AIza"), "redacted before cutting");
        assert_eq!(clean_reason("  a\n\tb  "), "a b");
        assert_eq!(clean_reason(&"é".repeat(400)).chars().count(), MAX_REASON_CHARS);
    }
}
