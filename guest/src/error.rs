//! The gateway's one error type, and the only place where errors become HTTP responses.
//!
//! Handlers return [`GatewayError`]; [`GatewayError::render`] turns it into the caller's
//! protocol shape (OpenAI, Anthropic or Gemini error JSON) with the matching status and, for
//! rate limits, a `Retry-After` header. Messages never contain secrets: keys are redacted with
//! [`crate::auth::redact`] before they reach an error.

use crate::protocol::Protocol;
use serde_json::json;

/// Everything that can go wrong while serving a request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GatewayError {
    /// The request body or a field is malformed.
    #[error("{message}")]
    InvalidRequest { message: String, param: Option<String> },
    /// No credentials, or credentials that match no key.
    #[error("{0}")]
    Unauthenticated(String),
    /// Credentials are valid but not for this (e.g. a client key on the admin API).
    #[error("{0}")]
    PermissionDenied(String),
    /// The route does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The model does not exist (upstream said 404, or an alias is unknown).
    #[error("{0}")]
    ModelNotFound(String),
    /// The route exists but not for this method.
    #[error("method {method} is not allowed on {path}")]
    MethodNotAllowed { method: String, path: String },
    /// The request body exceeds the configured limit.
    #[error("request body exceeds the limit of {limit} bytes")]
    BodyTooLarge { limit: u64 },
    /// Every key is cooling down (or the client exceeded its own limits).
    #[error("{message}")]
    RateLimited { message: String, retry_after_secs: u64 },
    /// No upstream key is configured or enabled at all.
    #[error("{0}")]
    NoKeys(String),
    /// The upstream failed (5xx, unreachable) on every attempt.
    #[error("{message}")]
    Upstream { status: u16, message: String },
    /// The model failed upstream (5xx) on every key tried: the model's trouble, not the
    /// keys'. 503 with `Retry-After` in every protocol.
    #[error("{message}")]
    Overloaded { message: String, retry_after_secs: u64 },
    /// The upstream did not answer in time.
    #[error("{0}")]
    Timeout(String),
    /// A bug or a host failure.
    #[error("{0}")]
    Internal(String),
}

/// An HTTP response ready to be written: status, headers, body.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl GatewayError {
    pub fn invalid(message: impl Into<String>) -> Self {
        GatewayError::InvalidRequest {
            message: message.into(),
            param: None,
        }
    }

    pub fn invalid_param(message: impl Into<String>, param: impl Into<String>) -> Self {
        GatewayError::InvalidRequest {
            message: message.into(),
            param: Some(param.into()),
        }
    }

    /// The HTTP status for `protocol`. Only Anthropic's overload differs between protocols.
    pub fn status(&self, protocol: Protocol) -> u16 {
        match self {
            GatewayError::InvalidRequest { .. } => 400,
            GatewayError::Unauthenticated(_) => 401,
            GatewayError::PermissionDenied(_) => 403,
            GatewayError::NotFound(_) | GatewayError::ModelNotFound(_) => 404,
            GatewayError::MethodNotAllowed { .. } => 405,
            GatewayError::BodyTooLarge { .. } => 413,
            GatewayError::RateLimited { .. } => 429,
            GatewayError::NoKeys(_) => 503,
            GatewayError::Upstream { status, .. } => match (protocol, *status) {
                (Protocol::Anthropic, 503) => 529,
                (_, s) if s >= 500 => s,
                _ => 502,
            },
            GatewayError::Overloaded { .. } => 503,
            GatewayError::Timeout(_) => 504,
            GatewayError::Internal(_) => 500,
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            GatewayError::RateLimited { retry_after_secs, .. } | GatewayError::Overloaded { retry_after_secs, .. } => {
                Some((*retry_after_secs).max(1))
            }
            _ => None,
        }
    }

    /// Renders the error in `protocol`'s shape.
    pub fn render(&self, protocol: Protocol) -> ErrorResponse {
        let status = self.status(protocol);
        let message = self.to_string();
        let body = match protocol {
            Protocol::OpenAi => {
                let (kind, code) = self.openai_type_and_code();
                let param = match self {
                    GatewayError::InvalidRequest { param, .. } => param.clone(),
                    _ => None,
                };
                json!({"error": {"message": message, "type": kind, "param": param, "code": code}})
            }
            Protocol::Anthropic => json!({
                "type": "error",
                "error": {"type": self.anthropic_type(status), "message": message},
            }),
            Protocol::Gemini | Protocol::Admin => {
                let mut error = json!({"code": status, "message": message, "status": self.google_status()});
                if let Some(secs) = self.retry_after() {
                    error["details"] = json!([{
                        "@type": "type.googleapis.com/google.rpc.RetryInfo",
                        "retryDelay": format!("{secs}s"),
                    }]);
                }
                json!({ "error": error })
            }
        };
        let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
        if let Some(secs) = self.retry_after() {
            headers.push(("retry-after".to_string(), secs.to_string()));
        }
        ErrorResponse {
            status,
            headers,
            body: serde_json::to_vec(&body).unwrap_or_default(),
        }
    }

    fn openai_type_and_code(&self) -> (&'static str, Option<&'static str>) {
        match self {
            GatewayError::InvalidRequest { .. } => ("invalid_request_error", None),
            GatewayError::Unauthenticated(_) => ("invalid_request_error", Some("invalid_api_key")),
            GatewayError::PermissionDenied(_) => ("invalid_request_error", Some("permission_denied")),
            GatewayError::NotFound(_) => ("invalid_request_error", Some("not_found")),
            GatewayError::ModelNotFound(_) => ("invalid_request_error", Some("model_not_found")),
            GatewayError::MethodNotAllowed { .. } => ("invalid_request_error", Some("method_not_allowed")),
            GatewayError::BodyTooLarge { .. } => ("invalid_request_error", Some("request_too_large")),
            GatewayError::RateLimited { .. } => ("rate_limit_error", Some("rate_limit_exceeded")),
            GatewayError::NoKeys(_) => ("server_error", Some("no_upstream_keys")),
            GatewayError::Upstream { .. } => ("server_error", Some("upstream_error")),
            GatewayError::Overloaded { .. } => ("server_error", Some("model_overloaded")),
            GatewayError::Timeout(_) => ("server_error", Some("timeout")),
            GatewayError::Internal(_) => ("server_error", None),
        }
    }

    fn anthropic_type(&self, status: u16) -> &'static str {
        match self {
            GatewayError::InvalidRequest { .. } | GatewayError::MethodNotAllowed { .. } => "invalid_request_error",
            GatewayError::Unauthenticated(_) => "authentication_error",
            GatewayError::PermissionDenied(_) => "permission_error",
            GatewayError::NotFound(_) | GatewayError::ModelNotFound(_) => "not_found_error",
            GatewayError::BodyTooLarge { .. } => "request_too_large",
            GatewayError::RateLimited { .. } => "rate_limit_error",
            GatewayError::Timeout(_) => "timeout_error",
            GatewayError::Upstream { .. } if status == 529 => "overloaded_error",
            GatewayError::NoKeys(_) | GatewayError::Overloaded { .. } => "overloaded_error",
            GatewayError::Upstream { .. } | GatewayError::Internal(_) => "api_error",
        }
    }

    fn google_status(&self) -> &'static str {
        match self {
            GatewayError::InvalidRequest { .. } | GatewayError::BodyTooLarge { .. } => "INVALID_ARGUMENT",
            GatewayError::Unauthenticated(_) => "UNAUTHENTICATED",
            GatewayError::PermissionDenied(_) => "PERMISSION_DENIED",
            GatewayError::NotFound(_) | GatewayError::ModelNotFound(_) => "NOT_FOUND",
            GatewayError::MethodNotAllowed { .. } => "UNIMPLEMENTED",
            GatewayError::RateLimited { .. } => "RESOURCE_EXHAUSTED",
            GatewayError::NoKeys(_) | GatewayError::Upstream { .. } | GatewayError::Overloaded { .. } => "UNAVAILABLE",
            GatewayError::Timeout(_) => "DEADLINE_EXCEEDED",
            GatewayError::Internal(_) => "INTERNAL",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn body(r: &ErrorResponse) -> Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    #[test]
    fn rate_limit_renders_in_each_protocol_with_retry_after() {
        let e = GatewayError::RateLimited {
            message: "all keys cooling".into(),
            retry_after_secs: 42,
        };
        for p in [Protocol::OpenAi, Protocol::Anthropic, Protocol::Gemini] {
            let r = e.render(p);
            assert_eq!(r.status, 429);
            assert!(r.headers.contains(&("retry-after".into(), "42".into())), "{p:?}");
        }
        assert_eq!(body(&e.render(Protocol::OpenAi))["error"]["type"], "rate_limit_error");
        assert_eq!(
            body(&e.render(Protocol::Anthropic))["error"]["type"],
            "rate_limit_error"
        );
        assert_eq!(body(&e.render(Protocol::Anthropic))["type"], "error");
        let g = body(&e.render(Protocol::Gemini));
        assert_eq!(g["error"]["status"], "RESOURCE_EXHAUSTED");
        assert_eq!(g["error"]["details"][0]["retryDelay"], "42s");
    }

    #[test]
    fn unauthenticated_maps_to_each_protocols_code() {
        let e = GatewayError::Unauthenticated("missing key".into());
        assert_eq!(body(&e.render(Protocol::OpenAi))["error"]["code"], "invalid_api_key");
        assert_eq!(
            body(&e.render(Protocol::Anthropic))["error"]["type"],
            "authentication_error"
        );
        assert_eq!(body(&e.render(Protocol::Gemini))["error"]["status"], "UNAUTHENTICATED");
        assert_eq!(e.render(Protocol::Gemini).status, 401);
    }

    #[test]
    fn upstream_overload_is_529_for_anthropic_only() {
        let e = GatewayError::Upstream {
            status: 503,
            message: "overloaded".into(),
        };
        assert_eq!(e.render(Protocol::Anthropic).status, 529);
        assert_eq!(
            body(&e.render(Protocol::Anthropic))["error"]["type"],
            "overloaded_error"
        );
        assert_eq!(e.render(Protocol::OpenAi).status, 503);
        assert_eq!(e.render(Protocol::Gemini).status, 503);
    }

    #[test]
    fn a_model_overloaded_on_every_key_is_503_with_retry_after_everywhere() {
        let e = GatewayError::Overloaded {
            message: "overloaded".into(),
            retry_after_secs: 10,
        };
        for p in [Protocol::OpenAi, Protocol::Anthropic, Protocol::Gemini] {
            let r = e.render(p);
            assert_eq!(r.status, 503, "{p:?}");
            assert!(r.headers.contains(&("retry-after".into(), "10".into())), "{p:?}");
        }
        assert_eq!(
            body(&e.render(Protocol::Anthropic))["error"]["type"],
            "overloaded_error"
        );
        assert_eq!(body(&e.render(Protocol::Gemini))["error"]["status"], "UNAVAILABLE");
        assert_eq!(body(&e.render(Protocol::OpenAi))["error"]["type"], "server_error");
    }

    #[test]
    fn invalid_request_carries_param_for_openai() {
        let e = GatewayError::invalid_param("messages is required", "messages");
        let b = body(&e.render(Protocol::OpenAi));
        assert_eq!(b["error"]["param"], "messages");
        assert_eq!(b["error"]["type"], "invalid_request_error");
    }
}
