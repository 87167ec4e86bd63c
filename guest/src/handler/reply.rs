//! The reply and its headers: CORS for browser clients, the admin surface's own headers,
//! request ids, the host's access header, errors rendered in the caller's protocol, and the
//! scrubbing of every secret from what leaves.

use crate::error::GatewayError;
use crate::protocol::Protocol;
use crate::route::Route;
use crate::secrets::Secrets;
use crate::stream::Transducer;

use super::accounting::Accounting;
use super::ids;

/// What to answer.
pub enum Reply<B> {
    /// A whole body.
    Full {
        /// The HTTP status.
        status: u16,
        /// The response headers.
        headers: Vec<(String, String)>,
        /// The body bytes.
        body: Vec<u8>,
    },
    /// A stream: the upstream body re-framed for the client as it arrives.
    Stream {
        /// The HTTP status.
        status: u16,
        /// The response headers.
        headers: Vec<(String, String)>,
        /// The upstream body, not read yet.
        body: B,
        /// Re-frames Gemini's chunks into the client's protocol.
        transducer: Box<Transducer>,
        /// What to record when the stream ends.
        accounting: Accounting,
    },
}

impl<B> Reply<B> {
    /// The reply's headers, whole or streamed.
    pub fn headers_mut(&mut self) -> &mut Vec<(String, String)> {
        let (Reply::Full { headers, .. } | Reply::Stream { headers, .. }) = self;
        headers
    }
}

/// Headers every response carries (CORS: browser clients and the admin page on other origins).
pub fn common_headers() -> Vec<(String, String)> {
    vec![
        ("access-control-allow-origin".into(), "*".into()),
        (
            "access-control-expose-headers".into(),
            "retry-after, request-id, x-request-id".into(),
        ),
    ]
}

/// A JSON reply with the common headers.
pub fn json_bytes_reply<B>(status: u16, body: Vec<u8>) -> Reply<B> {
    let mut headers = common_headers();
    headers.push(("content-type".into(), "application/json".into()));
    Reply::Full { status, headers, body }
}

/// A serializable value as a JSON reply.
pub fn to_json_reply<B, T: serde::Serialize>(status: u16, value: &T) -> Reply<B> {
    json_bytes_reply(status, serde_json::to_vec(value).unwrap_or_default())
}

/// Renders an error in the caller's protocol.
pub fn error_reply<B>(error: &GatewayError, protocol: Protocol) -> Reply<B> {
    let rendered = error.render(protocol);
    let mut headers = common_headers();
    headers.extend(rendered.headers);
    Reply::Full {
        status: rendered.status,
        headers,
        body: rendered.body,
    }
}

/// The answer to a route that needs neither storage nor a body: `/health` and CORS
/// preflights. Preflights for the admin surface carry no CORS grant, so browsers on other
/// origins cannot call it.
pub fn static_reply<B>(route: &Route, path: &str) -> Reply<B> {
    match route {
        Route::Preflight if path.starts_with("/admin") => Reply::Full {
            status: 204,
            headers: vec![("x-content-type-options".into(), "nosniff".into())],
            body: Vec::new(),
        },
        Route::Preflight => preflight(),
        _ => to_json_reply(200, &serde_json::json!({"status": "ok"})),
    }
}

fn preflight<B>() -> Reply<B> {
    let mut headers = common_headers();
    headers.extend([
        (
            "access-control-allow-methods".into(),
            "GET, POST, PUT, PATCH, DELETE, OPTIONS".into(),
        ),
        ("access-control-allow-headers".into(), "*".into()),
        ("access-control-max-age".into(), "86400".into()),
    ]);
    Reply::Full {
        status: 204,
        headers,
        body: Vec::new(),
    }
}

/// The admin surface (admin API and metrics) is same-origin only (no CORS grant) and never
/// sniffed or cached.
pub(super) fn secure_admin_surface<B>(reply: &mut Reply<B>) {
    let headers = reply.headers_mut();
    headers.retain(|(name, _)| !name.starts_with("access-control-"));
    headers.push(("x-content-type-options".into(), "nosniff".into()));
    headers.push(("cache-control".into(), "no-store".into()));
}

/// Removes every known secret from a whole reply's body and, with `headers`, its headers.
pub(super) fn scrub<B>(reply: &mut Reply<B>, secrets: &Secrets, headers: bool) {
    let Reply::Full {
        headers: reply_headers,
        body,
        ..
    } = reply
    else {
        return;
    };
    if let Some(clean) = secrets.scrub_bytes(body) {
        *body = clean;
    }
    if headers {
        for (_, value) in reply_headers.iter_mut() {
            if let std::borrow::Cow::Owned(clean) = secrets.scrub(value) {
                *value = clean;
            }
        }
    }
}

/// Adds `request-id` / `x-request-id`: SDKs surface them as the request id (`_request_id`),
/// which users quote in bug reports.
pub fn stamp_request_id<B>(reply: &mut Reply<B>, random: &[u8; 32], now_ms: i64) {
    let id = ids::request_context(random, now_ms).request_id;
    let headers = reply.headers_mut();
    headers.push(("request-id".into(), format!("req_{id}")));
    headers.push(("x-request-id".into(), format!("req_{id}")));
}

/// The response header that tells the bundled host's access log what only the component
/// knows. Added only when the host sets the variable [`super::ACCESS_VARIABLE`] (and strips the
/// header before the client sees it); other hosts never get it.
pub const ACCESS_HEADER: &str = "x-gempool-access";

/// Adds [`ACCESS_HEADER`] to a reply.
pub fn add_access_header<B>(reply: &mut Reply<B>, value: String) {
    reply.headers_mut().push((ACCESS_HEADER.into(), value));
}
