//! Gemini's error body (`google.rpc.Status`) with typed details, and the one table from a
//! Google canonical code to an HTTP status.
//!
//! `details` are decoded by their `@type`: `RetryInfo`, `QuotaFailure` and `ErrorInfo` into
//! typed structs, anything else (and any known type whose fields do not parse) kept as
//! [`StatusDetail::Other`]. Unknown fields of the typed details are kept too, so a status
//! serializes back to what came in.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// `{"error": {...}}`, Gemini's (google.rpc.Status) error body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The status itself.
    pub error: Status,
}

/// A `google.rpc.Status` as the Gemini API returns it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// The HTTP status Google paired with the error (0 when absent).
    #[serde(default)]
    pub code: u16,
    /// The human-readable message.
    #[serde(default)]
    pub message: String,
    /// The canonical code name (`INVALID_ARGUMENT`, `RESOURCE_EXHAUSTED`, ...).
    #[serde(default)]
    pub status: String,
    /// Typed details (see the module doc).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<StatusDetail>,
}

impl ErrorBody {
    /// Parses an upstream error body: a bare object, or the one-element array streaming
    /// endpoints sometimes return (`[{"error": {...}}]`).
    pub fn parse(bytes: &[u8]) -> Option<ErrorBody> {
        // Serde would also accept a struct from a JSON array (positionally), so look first.
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'[') => serde_json::from_slice::<Vec<ErrorBody>>(bytes).ok()?.into_iter().next(),
            _ => serde_json::from_slice::<ErrorBody>(bytes).ok(),
        }
    }
}

impl Status {
    /// The HTTP status of this error: its `code` when it is one, else the status Google pairs
    /// with its canonical name ([`http_status_of_code`]).
    pub fn http_status(&self) -> u16 {
        if (400..600).contains(&self.code) {
            self.code
        } else {
            http_status_of_code(&self.status)
        }
    }

    /// True when the upstream rejected the API key itself (a 400 whose `ErrorInfo` reason is
    /// `API_KEY_INVALID`, or a 401): clients see an authentication error, not a bad request.
    pub fn is_api_key_invalid(&self) -> bool {
        self.code == 401 || self.error_info_reason() == Some("API_KEY_INVALID")
    }

    /// The `reason` of the first `ErrorInfo` detail that has one.
    pub fn error_info_reason(&self) -> Option<&str> {
        self.details.iter().find_map(|d| match d {
            StatusDetail::ErrorInfo(info) => info.reason.as_deref(),
            _ => None,
        })
    }

    /// The `retryDelay` of the first `RetryInfo` detail that has one (a protobuf `Duration` in
    /// its JSON form, `"15s"` or `{"seconds": 15}`).
    pub fn retry_delay(&self) -> Option<&Value> {
        self.details.iter().find_map(|d| match d {
            StatusDetail::RetryInfo(info) => info.retry_delay.as_ref(),
            _ => None,
        })
    }

    /// Every violation of every `QuotaFailure` detail.
    pub fn quota_violations(&self) -> impl Iterator<Item = &QuotaViolation> {
        self.details
            .iter()
            .filter_map(|d| match d {
                StatusDetail::QuotaFailure(failure) => Some(&failure.violations),
                _ => None,
            })
            .flatten()
    }
}

/// The HTTP status Google pairs with a canonical `google.rpc.Code` name; 500 for unknown names.
/// The one table every protocol's error rendering uses.
pub fn http_status_of_code(status: &str) -> u16 {
    match status {
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" => 400,
        "UNAUTHENTICATED" => 401,
        "PERMISSION_DENIED" => 403,
        "NOT_FOUND" => 404,
        "ALREADY_EXISTS" | "ABORTED" => 409,
        "RESOURCE_EXHAUSTED" => 429,
        "CANCELLED" => 499,
        "UNIMPLEMENTED" => 501,
        "UNAVAILABLE" => 503,
        "DEADLINE_EXCEEDED" => 504,
        _ => 500,
    }
}

/// One entry of `Status.details`.
#[derive(Debug, Clone, PartialEq)]
pub enum StatusDetail {
    /// `google.rpc.RetryInfo`: how long to wait.
    RetryInfo(RetryInfo),
    /// `google.rpc.QuotaFailure`: which quotas a 429 hit.
    QuotaFailure(QuotaFailure),
    /// `google.rpc.ErrorInfo`: a machine-readable reason (`API_KEY_INVALID`, ...).
    ErrorInfo(ErrorInfo),
    /// Any other detail (`Help`, `LocalizedMessage`, ...), or a known one that did not parse.
    Other(Value),
}

/// `google.rpc.RetryInfo`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryInfo {
    /// A protobuf `Duration` as JSON (`"15s"`, or `{"seconds", "nanos"}` from some proxies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_delay: Option<Value>,
    /// Fields gempool does not read, kept for re-serialization.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `google.rpc.QuotaFailure`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotaFailure {
    /// The quotas that were exceeded.
    #[serde(default)]
    pub violations: Vec<QuotaViolation>,
    /// Fields gempool does not read, kept for re-serialization.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One `QuotaFailure` violation, as the Gemini API fills it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotaViolation {
    /// e.g. `generativelanguage.googleapis.com/generate_content_free_tier_requests`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_metric: Option<String>,
    /// e.g. `GenerateRequestsPerDayPerProjectPerModel-FreeTier`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_id: Option<String>,
    /// The limit, a string (`"50"`) or, from some proxies, a number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_value: Option<Value>,
    /// `{"model": ..., "location": ...}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_dimensions: Option<Map<String, Value>>,
    /// Fields gempool does not read, kept for re-serialization.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl QuotaViolation {
    /// `quotaValue` as text, whether it came as a string or a number.
    pub fn quota_value_text(&self) -> Option<String> {
        match self.quota_value.as_ref()? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// `quotaDimensions.model`.
    pub fn model(&self) -> Option<&str> {
        self.quota_dimensions.as_ref()?.get("model")?.as_str()
    }
}

/// `google.rpc.ErrorInfo`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorInfo {
    /// e.g. `API_KEY_INVALID`, `CONSUMER_SUSPENDED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// e.g. `googleapis.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Fields gempool does not read (`metadata`), kept for re-serialization.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

const TYPE_PREFIX: &str = "type.googleapis.com/";
const RETRY_INFO: &str = "google.rpc.RetryInfo";
const QUOTA_FAILURE: &str = "google.rpc.QuotaFailure";
const ERROR_INFO: &str = "google.rpc.ErrorInfo";

impl StatusDetail {
    /// Decodes one detail by its `@type` (tolerantly: see the module doc).
    pub fn from_value(value: Value) -> StatusDetail {
        let kind = value.get("@type").and_then(Value::as_str).unwrap_or("");
        let typed = |name: &str| kind.ends_with(name);
        let without_type = || {
            let mut v = value.clone();
            if let Some(o) = v.as_object_mut() {
                o.remove("@type");
            }
            v
        };
        let parsed = if typed(RETRY_INFO) {
            serde_json::from_value(without_type()).ok().map(StatusDetail::RetryInfo)
        } else if typed(QUOTA_FAILURE) {
            serde_json::from_value(without_type())
                .ok()
                .map(StatusDetail::QuotaFailure)
        } else if typed(ERROR_INFO) {
            serde_json::from_value(without_type()).ok().map(StatusDetail::ErrorInfo)
        } else {
            None
        };
        parsed.unwrap_or(StatusDetail::Other(value))
    }

    /// The detail as JSON, with its `@type`.
    pub fn to_value(&self) -> Value {
        let (name, body) = match self {
            StatusDetail::Other(v) => return v.clone(),
            StatusDetail::RetryInfo(d) => (RETRY_INFO, serde_json::to_value(d)),
            StatusDetail::QuotaFailure(d) => (QUOTA_FAILURE, serde_json::to_value(d)),
            StatusDetail::ErrorInfo(d) => (ERROR_INFO, serde_json::to_value(d)),
        };
        let mut out = Map::new();
        out.insert("@type".into(), Value::String(format!("{TYPE_PREFIX}{name}")));
        if let Ok(Value::Object(fields)) = body {
            out.extend(fields);
        }
        Value::Object(out)
    }
}

impl<'de> Deserialize<'de> for StatusDetail {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(StatusDetail::from_value)
    }
}

impl Serialize for StatusDetail {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn error_body_parses_bare_and_array_forms() {
        let bare = br#"{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}"#;
        let arr = br#"[{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}]"#;
        assert_eq!(ErrorBody::parse(bare).map(|b| b.error.code), Some(429));
        assert_eq!(
            ErrorBody::parse(arr).map(|b| b.error.status),
            Some("INVALID_ARGUMENT".to_string())
        );
        assert!(ErrorBody::parse(b"nope").is_none());
    }

    #[test]
    fn details_are_typed_by_their_type_and_round_trip() {
        let details = json!([
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com", "metadata": {"service": "x"}},
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaId": "PerDay", "quotaValue": "50", "quotaDimensions": {"model": "m"}, "quotaMetric": "q"}]},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "15s"},
            {"@type": "type.googleapis.com/google.rpc.Help", "links": []},
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": 7},
            "junk"
        ]);
        let status: Status = serde_json::from_value(json!({"code": 400, "details": details})).unwrap_or_default();
        let kinds: Vec<&str> = status
            .details
            .iter()
            .map(|d| match d {
                StatusDetail::ErrorInfo(_) => "error_info",
                StatusDetail::QuotaFailure(_) => "quota",
                StatusDetail::RetryInfo(_) => "retry",
                StatusDetail::Other(_) => "other",
            })
            .collect();
        assert_eq!(kinds, ["error_info", "quota", "retry", "other", "other", "other"]);
        assert!(status.is_api_key_invalid());
        assert_eq!(status.retry_delay(), Some(&json!("15s")));
        let v: Vec<&QuotaViolation> = status.quota_violations().collect();
        assert_eq!(v[0].quota_value_text().as_deref(), Some("50"));
        assert_eq!(v[0].model(), Some("m"));
        assert_eq!(serde_json::to_value(&status.details).unwrap_or_default(), details);
    }

    #[test]
    fn google_codes_map_to_http_statuses() {
        for (name, http) in [
            ("INVALID_ARGUMENT", 400),
            ("FAILED_PRECONDITION", 400),
            ("OUT_OF_RANGE", 400),
            ("UNAUTHENTICATED", 401),
            ("PERMISSION_DENIED", 403),
            ("NOT_FOUND", 404),
            ("ALREADY_EXISTS", 409),
            ("ABORTED", 409),
            ("RESOURCE_EXHAUSTED", 429),
            ("CANCELLED", 499),
            ("UNIMPLEMENTED", 501),
            ("UNAVAILABLE", 503),
            ("DEADLINE_EXCEEDED", 504),
            ("INTERNAL", 500),
            ("", 500),
        ] {
            assert_eq!(http_status_of_code(name), http, "{name}");
        }
        let status = |code, name: &str| Status {
            code,
            status: name.into(),
            ..Default::default()
        };
        assert_eq!(status(429, "").http_status(), 429);
        assert_eq!(status(0, "NOT_FOUND").http_status(), 404);
        assert_eq!(status(7, "UNAVAILABLE").http_status(), 503);
        assert!(status(401, "").is_api_key_invalid());
        assert!(!status(400, "INVALID_ARGUMENT").is_api_key_invalid());
    }
}
