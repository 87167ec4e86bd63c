//! The Gemini error responses the mock can produce, each shaped like the real API's
//! (protocols.md §1.13): HTTP status mirrors `error.code`, details are typed `google.rpc.*`.

use std::collections::BTreeMap;

use super::wire::{
    GeminiApiError, GeminiErrorBody, GeminiErrorDetail, GeminiFieldViolation, GeminiHelpLink, GeminiQuotaViolation,
};

/// Message of a 403 without any API key.
pub const NO_KEY_MESSAGE: &str = "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.";
/// Message of a 400 for an unknown API key.
pub const INVALID_KEY_MESSAGE: &str = "API key not valid. Please pass a valid API key.";
/// Message of a 503 overload.
pub const OVERLOADED_MESSAGE: &str = "The model is overloaded. Please try again later.";
/// Message of a 500.
pub const INTERNAL_MESSAGE: &str = "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting";
/// Message of the 400 for a function-call / function-response count mismatch.
pub const COUNT_MISMATCH_MESSAGE: &str = "Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.";
/// Message of the 400 for a function-call turn in the wrong place.
pub const CALL_TURN_ORDER_MESSAGE: &str =
    "Please ensure that function call turn comes immediately after a user turn or after a function response turn.";
/// Message of the 400 for a function-response turn that follows no call turn.
pub const RESPONSE_TURN_ORDER_MESSAGE: &str =
    "Please ensure that function response turn comes immediately after a function call turn.";
/// Message of the 400 for a bad role.
pub const ROLE_MESSAGE: &str = "Please use a valid role: user, model.";
/// Message of the 400 for a signature the mock never issued.
pub const INVALID_SIGNATURE_MESSAGE: &str = "Invalid thought signature";

const RATE_LIMIT_DOCS: &str = "https://ai.google.dev/gemini-api/docs/rate-limits";
const FREE_TIER_METRIC: &str = "generativelanguage.googleapis.com/generate_content_free_tier_requests";
const TOKEN_METRIC: &str = "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count";

/// An error answer: HTTP status plus the JSON envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct MockError {
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: GeminiApiError,
}

impl MockError {
    /// An error without details.
    pub fn new(code: u16, status: &str, message: impl Into<String>) -> Self {
        MockError {
            status: code,
            body: GeminiApiError {
                error: GeminiErrorBody {
                    code,
                    message: message.into(),
                    status: status.to_string(),
                    details: Vec::new(),
                },
            },
        }
    }

    /// Adds details.
    pub fn with_details(mut self, details: Vec<GeminiErrorDetail>) -> Self {
        self.body.error.details = details;
        self
    }

    /// 400 `INVALID_ARGUMENT` without details (semantic checks: "* Path: problem\n" lines,
    /// turn-structure and signature messages).
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        MockError::new(400, "INVALID_ARGUMENT", message)
    }

    /// 400 `INVALID_ARGUMENT` with a `BadRequest` listing each violation; the message joins the
    /// descriptions with `\n`, as Gemini does for unknown fields.
    pub fn bad_request(violations: Vec<GeminiFieldViolation>) -> Self {
        let message = violations
            .iter()
            .map(|v| v.description.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        MockError::invalid_argument(message).with_details(vec![GeminiErrorDetail::BadRequest {
            field_violations: violations,
        }])
    }

    /// 400 for a body that is not JSON.
    pub fn malformed_json() -> Self {
        let description = "Invalid JSON payload received. Unexpected token.".to_string();
        MockError::bad_request(vec![GeminiFieldViolation {
            field: None,
            description,
        }])
    }

    /// 403 for a request without any key.
    pub fn no_key() -> Self {
        MockError::new(403, "PERMISSION_DENIED", NO_KEY_MESSAGE)
    }

    /// 400 `API_KEY_INVALID` with ErrorInfo + LocalizedMessage.
    pub fn invalid_key() -> Self {
        MockError::invalid_argument(INVALID_KEY_MESSAGE).with_details(vec![
            GeminiErrorDetail::ErrorInfo {
                reason: "API_KEY_INVALID".into(),
                domain: "googleapis.com".into(),
                metadata: service_metadata(),
            },
            GeminiErrorDetail::LocalizedMessage {
                locale: "en-US".into(),
                message: INVALID_KEY_MESSAGE.into(),
            },
        ])
    }

    /// 403 for a suspended consumer (ErrorInfo reason `CONSUMER_SUSPENDED`).
    pub fn consumer_suspended() -> Self {
        let mut metadata = service_metadata();
        metadata.insert("consumer".into(), "projects/123456789012".into());
        MockError::new(
            403,
            "PERMISSION_DENIED",
            "Permission denied: Consumer 'api_key:redacted' has been suspended.",
        )
        .with_details(vec![GeminiErrorDetail::ErrorInfo {
            reason: "CONSUMER_SUSPENDED".into(),
            domain: "googleapis.com".into(),
            metadata,
        }])
    }

    /// 403 for a suspended consumer whose text names the key, as Google's message does:
    /// "Permission denied: Consumer 'api_key:<KEY>' has been suspended." (also in a
    /// `LocalizedMessage` detail and the ErrorInfo metadata).
    pub fn consumer_suspended_echoing(key: &str) -> Self {
        let message = format!("Permission denied: Consumer 'api_key:{key}' has been suspended.");
        let mut metadata = service_metadata();
        metadata.insert("consumer".into(), format!("api_key:{key}"));
        MockError::new(403, "PERMISSION_DENIED", message.clone()).with_details(vec![
            GeminiErrorDetail::ErrorInfo {
                reason: "CONSUMER_SUSPENDED".into(),
                domain: "googleapis.com".into(),
                metadata,
            },
            GeminiErrorDetail::LocalizedMessage {
                locale: "en-US".into(),
                message,
            },
        ])
    }

    /// 404 for a model that does not exist or does not support `method`.
    pub fn model_not_found(model: &str, api_version: &str, method: &str) -> Self {
        MockError::new(
            404,
            "NOT_FOUND",
            format!(
                "models/{model} is not found for API version {api_version}, or is not supported \
                 for {method}. Call ListModels to see the list of available models and their \
                 supported methods."
            ),
        )
    }

    /// 429 per-minute quota with QuotaFailure + Help + RetryInfo.
    pub fn rate_limit_per_minute(model: &str, retry_delay_secs: u64) -> Self {
        rate_limit(
            model,
            "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
            "10",
            retry_delay_secs,
        )
    }

    /// 429 per-day quota (RetryInfo is short, as observed, although the quota lasts until
    /// midnight Pacific).
    pub fn rate_limit_per_day(model: &str) -> Self {
        rate_limit(model, "GenerateRequestsPerDayPerProjectPerModel-FreeTier", "250", 3)
    }

    /// 429 per-minute *input token* quota with QuotaFailure + Help + RetryInfo.
    pub fn rate_limit_tokens(model: &str, retry_delay_secs: u64) -> Self {
        let mut error = rate_limit(
            model,
            "GenerateContentInputTokensPerModelPerMinute-FreeTier",
            "250000",
            retry_delay_secs,
        );
        for detail in &mut error.body.error.details {
            if let GeminiErrorDetail::QuotaFailure { violations } = detail {
                for violation in violations {
                    violation.quota_metric = TOKEN_METRIC.into();
                }
            }
        }
        error.body.error.message = error.body.error.message.replace(FREE_TIER_METRIC, TOKEN_METRIC);
        error
    }

    /// 429 with no details at all.
    pub fn rate_limit_no_details() -> Self {
        MockError::new(
            429,
            "RESOURCE_EXHAUSTED",
            "Resource has been exhausted (e.g. check quota).",
        )
    }

    /// 500 INTERNAL.
    pub fn internal() -> Self {
        MockError::new(500, "INTERNAL", INTERNAL_MESSAGE)
    }

    /// 503 UNAVAILABLE (overloaded).
    pub fn unavailable() -> Self {
        MockError::new(503, "UNAVAILABLE", OVERLOADED_MESSAGE)
    }

    /// The JSON body.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.body).expect("error envelope serializes")
    }
}

fn service_metadata() -> BTreeMap<String, String> {
    BTreeMap::from([("service".to_string(), "generativelanguage.googleapis.com".to_string())])
}

fn rate_limit(model: &str, quota_id: &str, quota_value: &str, retry_delay_secs: u64) -> MockError {
    let message = format!(
        "You exceeded your current quota, please check your plan and billing details. For more \
         information on this error, head to: {RATE_LIMIT_DOCS}. To monitor your current usage, \
         head to: https://ai.dev/usage?tab=rate-limit. \n* Quota exceeded for metric: \
         {FREE_TIER_METRIC}, limit: {quota_value}, model: {model}\nPlease retry in \
         {retry_delay_secs}.5s."
    );
    MockError::new(429, "RESOURCE_EXHAUSTED", message).with_details(vec![
        GeminiErrorDetail::QuotaFailure {
            violations: vec![GeminiQuotaViolation {
                quota_metric: FREE_TIER_METRIC.into(),
                quota_id: quota_id.into(),
                quota_dimensions: BTreeMap::from([
                    ("location".to_string(), "global".to_string()),
                    ("model".to_string(), model.to_string()),
                ]),
                quota_value: quota_value.into(),
            }],
        },
        GeminiErrorDetail::Help {
            links: vec![GeminiHelpLink {
                description: "Learn more about Gemini API quotas".into(),
                url: RATE_LIMIT_DOCS.into(),
            }],
        },
        GeminiErrorDetail::RetryInfo {
            retry_delay: format!("{retry_delay_secs}s"),
        },
    ])
}
