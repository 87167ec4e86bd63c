//! The access log: one structured line per request, written when its response has been sent
//! in full (or the client went away), with the tracing target `gempool::access`.
//!
//! Fields: `request_id` (the `x-request-id` the client got; `host-<n>` for an answer the host
//! made up itself), `method`, `route` (a fixed route name, never the path: a path or a query can
//! carry a key), `protocol`, `model` (the resolved model), `status`, `attempts` (upstream keys
//! tried), `key` (the pool key id that answered last), `latency_ms` (request head to the end of
//! the response body). The guest knows route, model, attempts and key; it reports them in the
//! `x-gempool-access` response header, which it adds only when the host sets the
//! `access_log_header` variable, and which is removed here before the client sees it. No
//! field carries a secret: values outside a short safe alphabet are dropped.
//!
//! Text lines read `... INFO gempool::access: request request_id=req_.. method=POST ...`;
//! with `--log-format json` each line is a JSON object with those fields at the top level.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use hyper::Response;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::shape::Protocol;

/// The response header the guest reports its part in.
pub const ACCESS_HEADER: &str = "x-gempool-access";

/// One request's line, written when dropped.
#[derive(Debug)]
pub struct Entry {
    request_id: String,
    method: String,
    route: String,
    protocol: String,
    model: Option<String>,
    status: u16,
    attempts: u32,
    key: Option<String>,
    started: Instant,
}

/// A value safe to log: short, and only characters model ids, route names and numbers use.
fn safe(value: &str) -> Option<String> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'));
    ok.then(|| value.to_owned())
}

fn protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Gemini => "gemini",
        Protocol::OpenAi => "openai",
        Protocol::Anthropic => "anthropic",
    }
}

impl Entry {
    /// An entry for a request that arrived at `started`, from its response head: takes the
    /// guest's [`ACCESS_HEADER`] out of `response`. `host_id` names answers without a request id.
    pub fn from_response(
        method: &hyper::Method,
        protocol: Protocol,
        host_id: u64,
        started: Instant,
        response: &mut Response<HyperOutgoingBody>,
    ) -> Self {
        let mut entry = Entry {
            request_id: format!("host-{host_id}"),
            method: safe(method.as_str()).unwrap_or_else(|| "OTHER".into()),
            route: "-".into(),
            protocol: protocol_name(protocol).into(),
            model: None,
            status: response.status().as_u16(),
            attempts: 0,
            key: None,
            started,
        };
        if let Some(id) = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .and_then(safe)
        {
            entry.request_id = id;
        }
        if let Some(note) = response.headers_mut().remove(ACCESS_HEADER) {
            entry.apply(note.to_str().unwrap_or_default());
        }
        entry
    }

    /// Takes the guest's `name=value` pairs.
    fn apply(&mut self, note: &str) {
        for pair in note.split(' ') {
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let Some(value) = safe(value) else {
                continue;
            };
            match name {
                "route" => self.route = value,
                "protocol" => self.protocol = value,
                "model" => self.model = Some(value),
                "attempts" => self.attempts = value.parse().unwrap_or(0),
                "key" => self.key = value.parse::<i64>().ok().map(|k| k.to_string()),
                _ => {}
            }
        }
    }

    fn write(&self) {
        tracing::info!(
            target: "gempool::access",
            request_id = %self.request_id,
            method = %self.method,
            route = %self.route,
            protocol = %self.protocol,
            model = %self.model.as_deref().unwrap_or("-"),
            status = self.status,
            attempts = self.attempts,
            key = %self.key.as_deref().unwrap_or("-"),
            latency_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "request"
        );
    }
}

/// Writes the line when the response body is done with: sent in full, or dropped because the
/// client went away.
pub fn log_when_sent(response: Response<HyperOutgoingBody>, entry: Entry) -> Response<HyperOutgoingBody> {
    response.map(|body| Logged { body, entry }.boxed_unsync())
}

struct Logged {
    body: HyperOutgoingBody,
    entry: Entry,
}

impl Drop for Logged {
    fn drop(&mut self) {
        self.entry.write();
    }
}

impl Body for Logged {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            request_id: "host-1".into(),
            method: "POST".into(),
            route: "-".into(),
            protocol: "openai".into(),
            model: None,
            status: 200,
            attempts: 0,
            key: None,
            started: Instant::now(),
        }
    }

    #[test]
    fn takes_the_guests_note_and_drops_unsafe_values() {
        let mut e = entry();
        e.apply("route=openai.chat protocol=openai model=gemini-2.5-flash attempts=2 key=7");
        assert_eq!(e.route, "openai.chat");
        assert_eq!(e.model.as_deref(), Some("gemini-2.5-flash"));
        assert_eq!((e.attempts, e.key.as_deref()), (2, Some("7")));
        let mut e = entry();
        e.apply("model=a\"b key=AIzaSecret route=x/y?key=z attempts=lots");
        assert_eq!((e.model, e.key, e.route.as_str(), e.attempts), (None, None, "-", 0));
    }
}
