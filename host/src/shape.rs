//! Error responses the host makes up itself (the guest could not answer: it trapped, ran out
//! of CPU time, the instance limit was reached, the request body stalled), in the caller's
//! protocol shape.
//!
//! The protocol is judged from the request's path and headers the way the guest's
//! `route::protocol_of` does, reduced to what the host needs:
//! - `/admin...` and `/v1beta/openai/...`: admin (Gemini's shape) and OpenAI;
//! - `/v1beta/...`, or a path with a `:` (`models/x:generateContent`): Gemini;
//! - `/v1/messages...` or an `anthropic-version` header: Anthropic;
//! - an `x-goog-api-key` header or a `key` query parameter: Gemini;
//! - anything else: OpenAI.
//!
//! Shapes: OpenAI `{"error":{"message","type","param","code"}}`, Anthropic
//! `{"type":"error","error":{"type","message"}}`, Gemini `{"error":{"code","message","status"}}`.

use http::{HeaderMap, HeaderValue, StatusCode};

/// The client protocol a request speaks, for the shape of host-made errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Native Gemini and the admin API.
    Gemini,
    /// OpenAI chat, Responses, embeddings, models.
    OpenAi,
    /// Anthropic messages.
    Anthropic,
}

impl Protocol {
    /// The protocol of a request with this path, query and headers.
    pub fn of(path: &str, query: Option<&str>, headers: &HeaderMap) -> Self {
        if path.starts_with("/admin") {
            return Protocol::Gemini;
        }
        if path.starts_with("/v1beta/openai/") {
            return Protocol::OpenAi;
        }
        if path.starts_with("/v1beta/") || path.contains(':') || path.to_ascii_lowercase().contains("%3a") {
            return Protocol::Gemini;
        }
        if path.starts_with("/v1/messages") || headers.contains_key("anthropic-version") {
            return Protocol::Anthropic;
        }
        let key_in_query = query.is_some_and(|q| q.split('&').any(|pair| pair == "key" || pair.starts_with("key=")));
        if headers.contains_key("x-goog-api-key") || key_in_query {
            return Protocol::Gemini;
        }
        Protocol::OpenAi
    }
}

/// What went wrong, as far as the shape of the answer is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 500: the gateway itself failed (a guest trap, an internal error).
    Internal,
    /// 503 with `Retry-After`: the host is at its concurrent-request limit.
    Busy,
    /// 408: the client did not send its request body in time.
    RequestTimeout,
    /// 400: the request lacks what the host needs to hand it to the gateway.
    BadRequest,
}

impl Kind {
    /// The HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Kind::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Kind::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Kind::BadRequest => StatusCode::BAD_REQUEST,
        }
    }

    fn openai_type(self) -> &'static str {
        match self {
            Kind::Internal | Kind::Busy => "server_error",
            Kind::RequestTimeout | Kind::BadRequest => "invalid_request_error",
        }
    }

    fn openai_code(self) -> Option<&'static str> {
        match self {
            Kind::Internal => None,
            Kind::Busy => Some("overloaded"),
            Kind::RequestTimeout => Some("request_timeout"),
            Kind::BadRequest => None,
        }
    }

    fn anthropic_type(self) -> &'static str {
        match self {
            Kind::Internal => "api_error",
            Kind::Busy => "overloaded_error",
            Kind::RequestTimeout => "timeout_error",
            Kind::BadRequest => "invalid_request_error",
        }
    }

    fn google_status(self) -> &'static str {
        match self {
            Kind::Internal => "INTERNAL",
            Kind::Busy => "UNAVAILABLE",
            Kind::RequestTimeout => "DEADLINE_EXCEEDED",
            Kind::BadRequest => "INVALID_ARGUMENT",
        }
    }
}

/// Seconds a client is told to wait when the host is at its instance limit.
pub const BUSY_RETRY_AFTER_SECS: u64 = 1;

/// The JSON body of an error of `kind` with `message` in `protocol`'s shape.
pub fn error_body(protocol: Protocol, kind: Kind, message: &str) -> String {
    let body = match protocol {
        Protocol::OpenAi => serde_json::json!({"error": {
            "message": message,
            "type": kind.openai_type(),
            "param": null,
            "code": kind.openai_code(),
        }}),
        Protocol::Anthropic => serde_json::json!({
            "type": "error",
            "error": {"type": kind.anthropic_type(), "message": message},
        }),
        Protocol::Gemini => serde_json::json!({"error": {
            "code": kind.status().as_u16(),
            "message": message,
            "status": kind.google_status(),
        }}),
    };
    body.to_string()
}

/// The headers of such an error: JSON, and `Retry-After` for [`Kind::Busy`].
pub fn error_headers(kind: Kind) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if kind == Kind::Busy {
        headers.insert(http::header::RETRY_AFTER, HeaderValue::from(BUSY_RETRY_AFTER_SECS));
    }
    if kind == Kind::RequestTimeout {
        // The rest of the body may still be on its way: the connection cannot be reused.
        headers.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn of(path: &str, query: Option<&str>, header: Option<&str>) -> Protocol {
        let mut headers = HeaderMap::new();
        if let Some(name) = header {
            headers.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_static("x"),
            );
        }
        Protocol::of(path, query, &headers)
    }

    #[test]
    fn the_protocol_follows_the_path_then_the_headers() {
        assert_eq!(of("/v1/chat/completions", None, None), Protocol::OpenAi);
        assert_eq!(of("/v1beta/openai/chat/completions", None, None), Protocol::OpenAi);
        assert_eq!(of("/v1/messages", None, None), Protocol::Anthropic);
        assert_eq!(of("/v1/messages/count_tokens", None, None), Protocol::Anthropic);
        assert_eq!(of("/v1/models", None, Some("anthropic-version")), Protocol::Anthropic);
        assert_eq!(of("/v1beta/models/m:generateContent", None, None), Protocol::Gemini);
        assert_eq!(of("/v1/models/m:generateContent", None, None), Protocol::Gemini);
        assert_eq!(of("/v1/models", Some("key=abc"), None), Protocol::Gemini);
        assert_eq!(of("/v1/models", None, Some("x-goog-api-key")), Protocol::Gemini);
        assert_eq!(of("/v1/models", Some("monkey=1"), None), Protocol::OpenAi);
        assert_eq!(of("/admin/api/keys", None, None), Protocol::Gemini);
        assert_eq!(of("/", None, None), Protocol::OpenAi);
    }

    #[test]
    fn each_protocol_gets_its_own_shape() {
        let openai: Value = serde_json::from_str(&error_body(Protocol::OpenAi, Kind::Busy, "busy")).unwrap();
        assert_eq!(openai["error"]["message"], "busy");
        assert_eq!(openai["error"]["type"], "server_error");
        assert!(openai["error"]["param"].is_null());
        let anthropic: Value = serde_json::from_str(&error_body(Protocol::Anthropic, Kind::Busy, "busy")).unwrap();
        assert_eq!(anthropic["type"], "error");
        assert_eq!(anthropic["error"]["type"], "overloaded_error");
        let gemini: Value = serde_json::from_str(&error_body(Protocol::Gemini, Kind::Internal, "x")).unwrap();
        assert_eq!(gemini["error"]["code"], 500);
        assert_eq!(gemini["error"]["status"], "INTERNAL");
        assert_eq!(error_headers(Kind::Busy)["retry-after"], "1");
        assert!(error_headers(Kind::Internal).get("retry-after").is_none());
    }
}
