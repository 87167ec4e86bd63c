//! Bodies in and out: the client's JSON (a 400 when it is not what the endpoint expects), the
//! request sent upstream, and the upstream's answer (a body we cannot read is the upstream's
//! fault: 502).

use crate::error::GatewayError;
use crate::protocol::gemini::{ErrorBody, Status};

/// Parses a client body, answering 400 when it is not what the endpoint expects.
pub(crate) fn parse_body<T: for<'de> serde::Deserialize<'de>>(body: &[u8]) -> Result<T, GatewayError> {
    serde_json::from_slice(body).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            GatewayError::invalid(format!("the request body is not valid JSON: {e}"))
        } else {
            GatewayError::invalid(format!("invalid request body: {e}"))
        }
    })
}

/// Serializes a value as JSON: a translated request for the upstream, or a client's reply.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, GatewayError> {
    serde_json::to_vec(value).map_err(|e| GatewayError::Internal(e.to_string()))
}

/// Decodes a successful upstream body; a body we cannot read is the upstream's fault (502).
pub(crate) fn decode_upstream<T: for<'de> serde::Deserialize<'de>>(body: &[u8]) -> Result<T, GatewayError> {
    serde_json::from_slice(body).map_err(|e| GatewayError::Upstream {
        status: 502,
        message: format!("unreadable upstream response: {e}"),
    })
}

/// The upstream's error status from a fault body, for the protocol's error rendering.
pub(crate) fn fault_status(status: u16, body: &[u8]) -> Status {
    ErrorBody::parse(body).map(|e| e.error).unwrap_or_else(|| Status {
        code: status,
        message: format!("the upstream answered {status}"),
        ..Default::default()
    })
}

/// The `model` a JSON body names, if any (for the log row of a refused request).
pub(crate) fn model_named_in(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Named {
        model: Option<serde_json::Value>,
    }
    match serde_json::from_slice::<Named>(body).ok()?.model? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_bodies_fail_as_400_and_upstream_bodies_as_502() {
        let syntax = parse_body::<serde_json::Value>(b"{").unwrap_err();
        assert!(syntax.to_string().contains("not valid JSON"), "{syntax}");
        let shape = parse_body::<Vec<u8>>(b"{}").unwrap_err();
        assert!(shape.to_string().contains("invalid request body"), "{shape}");
        assert_eq!(syntax.status(crate::protocol::Protocol::OpenAi), 400);
        let upstream = decode_upstream::<Vec<u8>>(b"{}").unwrap_err();
        assert_eq!(upstream.status(crate::protocol::Protocol::OpenAi), 502);
        assert_eq!(fault_status(418, b"nope").code, 418);
        assert_eq!(model_named_in(br#"{"model":"m"}"#).as_deref(), Some("m"));
        assert_eq!(model_named_in(br#"{"model":""}"#), None);
        assert_eq!(model_named_in(br#"{"model":3}"#), None);
    }
}
