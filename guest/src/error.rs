//! The gateway's one error type, and the only place where errors become HTTP responses or
//! mid-stream error frames.
//!
//! Handlers return [`GatewayError`]; [`GatewayError::render`] turns it into the caller's
//! protocol shape (OpenAI, Anthropic or Gemini error JSON) with the matching status and, for
//! rate limits, a `Retry-After` header. An upstream error (`google.rpc.Status`) is the
//! [`GatewayError::UpstreamStatus`] variant, rendered by the same tables whether it ends a whole
//! reply or a stream that already started ([`GatewayError::body`] for the frame's JSON,
//! [`GatewayError::responses_code`] for a Responses `response.failed`). Messages never contain
//! secrets: keys are redacted with [`crate::auth::redact`] before they reach an error.

use crate::protocol::gemini::Status;
use crate::protocol::Protocol;
use crate::store::StoreError;
use serde_json::{json, Value};

/// Everything that can go wrong while serving a request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GatewayError {
    /// The request body or a field is malformed.
    #[error("{message}")]
    InvalidRequest {
        /// What is wrong, for the caller.
        message: String,
        /// The offending field's path (e.g. `messages.2.content`), when one field is at fault.
        param: Option<String>,
    },
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
    MethodNotAllowed {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
    },
    /// The request body exceeds the configured limit.
    #[error("request body exceeds the limit of {limit} bytes")]
    BodyTooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// Every key is cooling down (or the client exceeded its own limits).
    #[error("{message}")]
    RateLimited {
        /// Which limit was hit, for the caller.
        message: String,
        /// Seconds until a retry can succeed (`Retry-After`).
        retry_after_secs: u64,
    },
    /// No upstream key is configured or enabled at all.
    #[error("{0}")]
    NoKeys(String),
    /// The upstream failed (5xx, unreachable) on every attempt.
    #[error("{message}")]
    Upstream {
        /// The upstream status (a 5xx is passed on; anything else becomes 502).
        status: u16,
        /// What failed, for the caller.
        message: String,
    },
    /// The model failed upstream (5xx) on every key tried: the model's trouble, not the
    /// keys'. 503 with `Retry-After` in every protocol.
    #[error("{message}")]
    Overloaded {
        /// What failed, for the caller.
        message: String,
        /// Seconds to wait before retrying (`Retry-After`).
        retry_after_secs: u64,
    },
    /// The upstream did not answer in time.
    #[error("{0}")]
    Timeout(String),
    /// The request names a resource (a file, cached content, batch, operation) whose pool key
    /// cannot be used now (disabled, removed, cooling down): no other key can see it, so the
    /// request is not retried elsewhere. 503, with `Retry-After` while the key cools down.
    #[error("{message}")]
    HolderUnavailable {
        /// Which resource, which key state, what to do.
        message: String,
        /// Seconds until the key's cooldown ends, when it is cooling down.
        retry_after_secs: Option<u64>,
    },
    /// The upstream answered with an error the caller sees as such (a fault the request
    /// caused, or an error in the middle of a stream), in the caller's protocol.
    #[error("{}", upstream_message(.0))]
    UpstreamStatus(Status),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bug or a host failure.
    #[error("{0}")]
    Internal(String),
    /// A stream that ended before every answer got a finish reason (a cut connection): its
    /// last frame, in the caller's protocol, instead of a fabricated normal end.
    #[error("The upstream stream ended before the response was complete (no finish reason).")]
    StreamTruncated,
    /// The route needs what this build leaves out (the stateless `edge` build has no SQL:
    /// no admin API, usage or client keys): 501 naming the build that has it.
    #[error("{0}")]
    NotInThisBuild(String),
}

/// An upstream status's message, or `upstream error <code>` when it has none.
fn upstream_message(status: &Status) -> String {
    if status.message.is_empty() {
        format!("upstream error {}", status.http_status())
    } else {
        status.message.clone()
    }
}

impl From<Status> for GatewayError {
    fn from(status: Status) -> Self {
        GatewayError::UpstreamStatus(status)
    }
}

/// An HTTP response ready to be written: status, headers, body.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorResponse {
    /// The HTTP status.
    pub status: u16,
    /// The headers: `content-type`, and `retry-after` for rate limits and overloads.
    pub headers: Vec<(String, String)>,
    /// The JSON error body.
    pub body: Vec<u8>,
}

impl GatewayError {
    /// A 400 for a malformed request, naming no field.
    pub fn invalid(message: impl Into<String>) -> Self {
        GatewayError::InvalidRequest {
            message: message.into(),
            param: None,
        }
    }

    /// A 400 for a malformed request, naming the field at fault (`param`).
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
            GatewayError::Overloaded { .. } | GatewayError::HolderUnavailable { .. } => 503,
            GatewayError::Timeout(_) => 504,
            GatewayError::UpstreamStatus(st) => match (protocol, st.http_status()) {
                _ if st.is_api_key_invalid() => 401,
                (Protocol::Anthropic, 503) => 529,
                (_, code) => code,
            },
            GatewayError::Store(_) | GatewayError::Internal(_) => 500,
            GatewayError::StreamTruncated => 502,
            GatewayError::NotInThisBuild(_) => 501,
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            GatewayError::RateLimited { retry_after_secs, .. } | GatewayError::Overloaded { retry_after_secs, .. } => {
                Some((*retry_after_secs).max(1))
            }
            GatewayError::HolderUnavailable { retry_after_secs, .. } => retry_after_secs.map(|s| s.max(1)),
            _ => None,
        }
    }

    /// Renders the error in `protocol`'s shape.
    pub fn render(&self, protocol: Protocol) -> ErrorResponse {
        let status = self.status(protocol);
        let body = self.body(protocol);
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

    /// The error's JSON in `protocol`'s shape: the body of a whole reply, and what an OpenAI
    /// (`data: {...}`) or Anthropic (`event: error`) stream sends when it fails midway.
    pub fn body(&self, protocol: Protocol) -> Value {
        let status = self.status(protocol);
        let message = self.to_string();
        match protocol {
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
                if let GatewayError::UpstreamStatus(st) = self {
                    // Gemini's own error, as Gemini sent it (with a code and message always).
                    let mut st = st.clone();
                    st.code = status;
                    st.message = message;
                    return json!({ "error": st });
                }
                let mut error = json!({"code": status, "message": message, "status": self.google_status()});
                if let Some(secs) = self.retry_after() {
                    error["details"] = json!([{
                        "@type": "type.googleapis.com/google.rpc.RetryInfo",
                        "retryDelay": format!("{secs}s"),
                    }]);
                }
                json!({ "error": error })
            }
        }
    }

    /// The `error.code` of a Responses `response.failed` event.
    pub fn responses_code(&self) -> &'static str {
        match self.status(Protocol::OpenAi) {
            429 => "rate_limit_exceeded",
            400 => "invalid_prompt",
            _ => "server_error",
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
            GatewayError::HolderUnavailable { .. } => ("server_error", Some("resource_key_unavailable")),
            GatewayError::UpstreamStatus(st) => match st.http_status() {
                _ if st.is_api_key_invalid() => ("invalid_request_error", Some("invalid_api_key")),
                401 => ("invalid_request_error", Some("invalid_api_key")),
                403 => ("invalid_request_error", Some("permission_denied")),
                404 => ("invalid_request_error", Some("model_not_found")),
                429 => ("rate_limit_error", Some("rate_limit_exceeded")),
                400..=499 => ("invalid_request_error", None),
                503 => ("server_error", Some("overloaded")),
                504 => ("server_error", Some("timeout")),
                _ => ("server_error", Some("upstream_error")),
            },
            GatewayError::Store(_) | GatewayError::Internal(_) => ("server_error", None),
            GatewayError::StreamTruncated => ("server_error", Some("upstream_stream_truncated")),
            GatewayError::NotInThisBuild(_) => ("invalid_request_error", Some("not_implemented")),
        }
    }

    fn anthropic_type(&self, status: u16) -> &'static str {
        match self {
            GatewayError::InvalidRequest { .. }
            | GatewayError::MethodNotAllowed { .. }
            | GatewayError::NotInThisBuild(_) => "invalid_request_error",
            GatewayError::Unauthenticated(_) => "authentication_error",
            GatewayError::PermissionDenied(_) => "permission_error",
            GatewayError::NotFound(_) | GatewayError::ModelNotFound(_) => "not_found_error",
            GatewayError::BodyTooLarge { .. } => "request_too_large",
            GatewayError::RateLimited { .. } => "rate_limit_error",
            GatewayError::Timeout(_) => "timeout_error",
            GatewayError::StreamTruncated => "api_error",
            GatewayError::Upstream { .. } if status == 529 => "overloaded_error",
            GatewayError::NoKeys(_) | GatewayError::Overloaded { .. } => "overloaded_error",
            GatewayError::UpstreamStatus(st) => match status {
                _ if st.is_api_key_invalid() => "authentication_error",
                400 => "invalid_request_error",
                401 => "authentication_error",
                403 => "permission_error",
                404 => "not_found_error",
                413 => "request_too_large",
                429 => "rate_limit_error",
                529 => "overloaded_error",
                504 => "timeout_error",
                c if (400..500).contains(&c) => "invalid_request_error",
                _ => "api_error",
            },
            GatewayError::Upstream { .. }
            | GatewayError::HolderUnavailable { .. }
            | GatewayError::Store(_)
            | GatewayError::Internal(_) => "api_error",
        }
    }

    fn google_status(&self) -> &'static str {
        match self {
            GatewayError::InvalidRequest { .. } | GatewayError::BodyTooLarge { .. } => "INVALID_ARGUMENT",
            GatewayError::Unauthenticated(_) => "UNAUTHENTICATED",
            GatewayError::PermissionDenied(_) => "PERMISSION_DENIED",
            GatewayError::NotFound(_) | GatewayError::ModelNotFound(_) => "NOT_FOUND",
            GatewayError::MethodNotAllowed { .. } | GatewayError::NotInThisBuild(_) => "UNIMPLEMENTED",
            GatewayError::RateLimited { .. } => "RESOURCE_EXHAUSTED",
            GatewayError::NoKeys(_)
            | GatewayError::Upstream { .. }
            | GatewayError::Overloaded { .. }
            | GatewayError::HolderUnavailable { .. } => "UNAVAILABLE",
            GatewayError::Timeout(_) => "DEADLINE_EXCEEDED",
            GatewayError::UpstreamStatus(_) => "UNKNOWN",
            GatewayError::Store(_) | GatewayError::Internal(_) => "INTERNAL",
            GatewayError::StreamTruncated => "UNAVAILABLE",
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

    /// The one table of upstream errors: whole replies and mid-stream frames of every protocol
    /// come from it (status, OpenAI type and code, Anthropic status and type, Responses code).
    #[test]
    fn upstream_status_table() {
        let key_invalid = json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]);
        type Row = (
            u16,
            &'static str,
            Value,
            u16,
            &'static str,
            Value,
            u16,
            &'static str,
            &'static str,
        );
        #[rustfmt::skip]
        let rows: Vec<Row> = vec![
            (400, "INVALID_ARGUMENT", key_invalid.clone(), 401, "invalid_request_error", json!("invalid_api_key"), 401, "authentication_error", "server_error"),
            (400, "INVALID_ARGUMENT", json!([]), 400, "invalid_request_error", Value::Null, 400, "invalid_request_error", "invalid_prompt"),
            (401, "UNAUTHENTICATED", json!([]), 401, "invalid_request_error", json!("invalid_api_key"), 401, "authentication_error", "server_error"),
            (403, "PERMISSION_DENIED", json!([]), 403, "invalid_request_error", json!("permission_denied"), 403, "permission_error", "server_error"),
            (404, "NOT_FOUND", json!([]), 404, "invalid_request_error", json!("model_not_found"), 404, "not_found_error", "server_error"),
            (409, "ABORTED", json!([]), 409, "invalid_request_error", Value::Null, 409, "invalid_request_error", "server_error"),
            (413, "", json!([]), 413, "invalid_request_error", Value::Null, 413, "request_too_large", "server_error"),
            (429, "RESOURCE_EXHAUSTED", json!([]), 429, "rate_limit_error", json!("rate_limit_exceeded"), 429, "rate_limit_error", "rate_limit_exceeded"),
            (500, "INTERNAL", json!([]), 500, "server_error", json!("upstream_error"), 500, "api_error", "server_error"),
            (502, "", json!([]), 502, "server_error", json!("upstream_error"), 502, "api_error", "server_error"),
            (503, "UNAVAILABLE", json!([]), 503, "server_error", json!("overloaded"), 529, "overloaded_error", "server_error"),
            (504, "DEADLINE_EXCEEDED", json!([]), 504, "server_error", json!("timeout"), 504, "timeout_error", "server_error"),
            (0, "RESOURCE_EXHAUSTED", json!([]), 429, "rate_limit_error", json!("rate_limit_exceeded"), 429, "rate_limit_error", "rate_limit_exceeded"),
            (0, "UNAVAILABLE", json!([]), 503, "server_error", json!("overloaded"), 529, "overloaded_error", "server_error"),
            (0, "", json!([]), 500, "server_error", json!("upstream_error"), 500, "api_error", "server_error"),
        ];
        for (code, name, details, o_http, o_type, o_code, a_http, a_type, r_code) in rows {
            let status: Status =
                serde_json::from_value(json!({"code": code, "message": "boom", "status": name, "details": details}))
                    .unwrap_or_default();
            let e = GatewayError::from(status);
            let o = e.render(Protocol::OpenAi);
            assert_eq!(o.status, o_http, "{code} {name}");
            assert_eq!(
                body(&o),
                json!({"error": {"message": "boom", "type": o_type, "param": null, "code": o_code}}),
                "{code} {name}"
            );
            assert_eq!(
                e.body(Protocol::OpenAi),
                body(&o),
                "mid-stream frames carry the same body"
            );
            let a = e.render(Protocol::Anthropic);
            assert_eq!(a.status, a_http, "{code} {name}");
            assert_eq!(
                body(&a),
                json!({"type": "error", "error": {"type": a_type, "message": "boom"}})
            );
            assert_eq!(e.responses_code(), r_code, "{code} {name}");
            let g = body(&e.render(Protocol::Gemini));
            assert_eq!(g["error"]["message"], "boom");
            assert_eq!(
                g["error"]["details"],
                e_details(&e),
                "Gemini callers get the details back"
            );
        }
        let empty = GatewayError::from(Status {
            code: 500,
            ..Default::default()
        });
        assert_eq!(empty.to_string(), "upstream error 500");
    }

    fn e_details(e: &GatewayError) -> Value {
        match e {
            GatewayError::UpstreamStatus(st) if !st.details.is_empty() => {
                serde_json::to_value(&st.details).unwrap_or_default()
            }
            _ => Value::Null,
        }
    }

    #[test]
    fn store_errors_are_internal_errors_without_hand_made_strings() {
        let e = GatewayError::from(StoreError("disk I/O error".into()));
        assert_eq!(e.to_string(), "database error: disk I/O error");
        assert_eq!(e.render(Protocol::OpenAi).status, 500);
        assert_eq!(body(&e.render(Protocol::Anthropic))["error"]["type"], "api_error");
    }
}
