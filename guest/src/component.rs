//! The component's edge: the only code that touches host imports.
//!
//! It turns the incoming wasi-http request into a [`RequestHead`] and a body (bounded by the
//! configured limit), runs the pure pipeline in [`crate::handler`], and writes the reply,
//! pumping streams chunk by chunk. It also implements the core's two traits: [`Database`]
//! over Spin's `fermyon:spin/sqlite@2.0.0` and [`Upstream`] over `wasi:http/outgoing-handler`.
//!
//! With the `edge` feature, [`edge`] is the entry instead: the same HTTP plumbing, no SQL and
//! no variables, so the component imports nothing outside `wasi:http/proxy`.

#[cfg(feature = "edge")]
mod edge;

use crate::error::GatewayError;
use crate::handler::{self, Reply, RequestHead};
#[cfg(not(feature = "edge"))]
use crate::handler::{Config, Env};
use crate::store::Database;
#[cfg(not(feature = "edge"))]
use crate::store::{Row, SqlValue, StoreError};
use crate::upstream::{Timeouts, TransportError, Upstream, UpstreamRequest, UpstreamResponse};
use futures::{SinkExt, StreamExt};
use spin_sdk::http::{
    ErrorCode, Fields, IncomingRequest, IncomingResponse, Method, OutgoingRequest, OutgoingResponse, ResponseOutparam,
    Scheme,
};
#[cfg(not(feature = "edge"))]
use spin_sdk::sqlite;
use spin_sdk::wit::wasi::http0_2_0::outgoing_handler;
use spin_sdk::wit::wasi::http0_2_0::types::{FutureIncomingResponse, RequestOptions};
use std::task::Poll;

/// SQLite through the host.
#[cfg(not(feature = "edge"))]
struct SpinDb(sqlite::Connection);

#[cfg(not(feature = "edge"))]
impl Database for SpinDb {
    fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>, StoreError> {
        let params: Vec<sqlite::Value> = params
            .iter()
            .map(|p| match p {
                SqlValue::Integer(i) => sqlite::Value::Integer(*i),
                SqlValue::Real(f) => sqlite::Value::Real(*f),
                SqlValue::Text(s) => sqlite::Value::Text(s.clone()),
                SqlValue::Blob(b) => sqlite::Value::Blob(b.clone()),
                SqlValue::Null => sqlite::Value::Null,
            })
            .collect();
        let result = self.0.execute(sql, &params).map_err(sqlite_error)?;
        Ok(result
            .rows
            .into_iter()
            .map(|row| {
                row.values
                    .into_iter()
                    .map(|v| match v {
                        sqlite::Value::Integer(i) => SqlValue::Integer(i),
                        sqlite::Value::Real(f) => SqlValue::Real(f),
                        sqlite::Value::Text(s) => SqlValue::Text(s),
                        sqlite::Value::Blob(b) => SqlValue::Blob(b),
                        sqlite::Value::Null => SqlValue::Null,
                    })
                    .collect()
            })
            .collect())
    }
}

/// A host SQLite error in words (its debug form reads `Io("database is locked")`).
#[cfg(not(feature = "edge"))]
fn sqlite_error(e: sqlite::Error) -> StoreError {
    StoreError(match e {
        sqlite::Error::Io(message) => message,
        sqlite::Error::DatabaseFull => "the database is full".into(),
        sqlite::Error::NoSuchDatabase => "the database does not exist".into(),
        sqlite::Error::AccessDenied => "access to the database was denied".into(),
        sqlite::Error::InvalidConnection => "the database connection is not valid".into(),
    })
}

/// Gemini through `wasi:http/outgoing-handler`; the key travels in `x-goog-api-key`, never
/// in the URL.
struct WasiUpstream {
    origin: String,
    /// The pool settings' timeouts (streams and whole answers differ).
    settings: crate::pool::PoolSettings,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A WASI HTTP error code as a [`TransportError`] with a message for people. A macro because
/// spin-sdk's bindings and the `wasi` crate's each have their own (identical) `ErrorCode`.
macro_rules! transport_error {
    ($code:expr, $E:ident) => {
        match $code {
            $E::HttpRequestDenied => TransportError::NotSent(
                "the host does not allow outgoing requests to the upstream (under Spin, add its origin to allowed_outbound_hosts)".into(),
            ),
            $E::HttpRequestUriInvalid | $E::HttpRequestUriTooLong | $E::HttpRequestMethodInvalid => {
                TransportError::NotSent("the upstream URL is invalid".into())
            }
            $E::HttpRequestLengthRequired
            | $E::HttpRequestBodySize(_)
            | $E::HttpRequestHeaderSectionSize(_)
            | $E::HttpRequestHeaderSize(_)
            | $E::HttpRequestTrailerSectionSize(_)
            | $E::HttpRequestTrailerSize(_) => TransportError::NotSent("the host refused the request's size".into()),
            $E::DnsTimeout => TransportError::Timeout("looking up the upstream's address took too long".into()),
            $E::ConnectionTimeout => TransportError::Timeout("no connection within the connect timeout".into()),
            $E::ConnectionReadTimeout | $E::HttpResponseTimeout => {
                TransportError::Timeout("no answer within the first-byte timeout".into())
            }
            $E::ConnectionWriteTimeout => TransportError::Timeout("sending the request stalled".into()),
            $E::DnsError(_) | $E::DestinationNotFound => {
                TransportError::Connect("the upstream's address could not be resolved".into())
            }
            $E::DestinationUnavailable | $E::DestinationIpProhibited | $E::DestinationIpUnroutable => {
                TransportError::Connect("the upstream cannot be reached".into())
            }
            $E::ConnectionRefused => TransportError::Connect("connection refused".into()),
            $E::ConnectionLimitReached => TransportError::Connect("too many connections".into()),
            $E::TlsProtocolError | $E::TlsCertificateError | $E::TlsAlertReceived(_) => {
                TransportError::Connect("the TLS handshake failed".into())
            }
            $E::ConnectionTerminated => TransportError::Broken("the connection was closed".into()),
            $E::HttpResponseIncomplete => TransportError::Broken("the answer was cut short".into()),
            $E::HttpProtocolError => TransportError::Broken("the upstream sent invalid HTTP".into()),
            $E::HttpResponseTransferCoding(_) | $E::HttpResponseContentCoding(_) => {
                TransportError::Broken("the answer's encoding is not supported".into())
            }
            _ => TransportError::Broken("the upstream's answer could not be read".into()),
        }
    };
}

/// A failed read of an upstream body: the WASI error code behind it when the host gives one.
fn body_error(error: &wasi::io::error::Error) -> TransportError {
    use wasi::http::types::ErrorCode as E;
    match wasi::http::types::http_error_code(error) {
        Some(code) => transport_error!(code, E),
        None => TransportError::Broken("reading the answer failed".into()),
    }
}

/// A failed send: the WASI error code as a [`TransportError`].
fn send_error(code: ErrorCode) -> TransportError {
    use ErrorCode as E;
    transport_error!(code, E)
}

impl WasiUpstream {
    /// Splits the configured origin into scheme and authority.
    fn target(&self) -> Result<(Scheme, String), String> {
        let (scheme, authority) = self.origin.split_once("://").ok_or("the upstream URL has no scheme")?;
        let scheme = match scheme {
            "https" => Scheme::Https,
            "http" => Scheme::Http,
            other => Scheme::Other(other.to_owned()),
        };
        Ok((scheme, authority.trim_end_matches('/').to_owned()))
    }
}

/// An outgoing request's body as it is written.
type BodySink = std::pin::Pin<Box<dyn futures::Sink<Vec<u8>, Error = wasi::io::streams::StreamError>>>;

/// Waits for an outgoing request's response on Spin's executor.
async fn response_of(future: FutureIncomingResponse) -> Result<IncomingResponse, ErrorCode> {
    // Dropping the token would unregister the waker, so the closure keeps it while pending.
    let mut registration: Option<spin_executor::CancelOnDropToken> = None;
    futures::future::poll_fn(move |cx| match future.get() {
        Some(result) => {
            Poll::Ready(result.unwrap_or(Err(ErrorCode::InternalError(Some("response taken twice".into())))))
        }
        None => {
            registration.replace(spin_executor::CancelOnDropToken::from(
                spin_executor::push_waker_and_get_token(future.subscribe(), cx.waker().clone()),
            ));
            Poll::Pending
        }
    })
    .await
}

impl WasiUpstream {
    /// The outgoing request for `req` with `key`; `length` is the body's declared length.
    fn outgoing(
        &self,
        req: &UpstreamRequest,
        key: &str,
        length: Option<u64>,
    ) -> Result<OutgoingRequest, TransportError> {
        let (scheme, authority) = self.target().map_err(TransportError::NotSent)?;
        let not_sent = |what: &str| TransportError::NotSent(what.to_owned());
        let mut headers: Vec<(String, Vec<u8>)> = vec![("x-goog-api-key".into(), key.as_bytes().to_vec())];
        headers.extend(req.headers.iter().map(|(n, v)| (n.clone(), v.as_bytes().to_vec())));
        if let Some(length) = length {
            // A declared length rather than chunked encoding: some servers and proxies on
            // the way to the upstream are strict about request bodies.
            headers.push(("content-length".into(), length.to_string().into_bytes()));
        }
        // A key with characters a header cannot carry is refused here (never echoed).
        let fields = Fields::from_list(&headers)
            .map_err(|_| not_sent("a header (or the key) is not a valid HTTP header value"))?;
        let request = OutgoingRequest::new(fields);
        let method = match req.method.as_str() {
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            _ => Method::Get,
        };
        request.set_method(&method).map_err(|()| not_sent("invalid method"))?;
        request
            .set_scheme(Some(&scheme))
            .map_err(|()| not_sent("invalid upstream scheme"))?;
        request
            .set_authority(Some(&authority))
            .map_err(|()| not_sent("invalid upstream authority"))?;
        request
            .set_path_with_query(Some(&req.path_and_query))
            .map_err(|()| not_sent("invalid upstream path"))?;
        Ok(request)
    }

    /// Sends `request`, its body written by `write`, and waits for the response head.
    async fn exchange<F>(
        &self,
        req: &UpstreamRequest,
        request: OutgoingRequest,
        write: impl FnOnce(BodySink) -> F,
    ) -> Result<UpstreamResponse<IncomingResponse>, TransportError>
    where
        F: std::future::Future<Output = Result<(), wasi::io::streams::StreamError>>,
    {
        let options = request_options(&Timeouts::for_request(&self.settings, req.stream));
        let body: BodySink = Box::pin(request.take_body());
        let future = outgoing_handler::handle(request, Some(options)).map_err(send_error)?;
        // The body is finished (its sink dropped) inside `write`, which lets the host
        // complete the request.
        let sent = write(body).await;
        let response = response_of(future).await;
        // When the body could not be written, the response's error code says why (a refused
        // connection shows up here first as a closed body stream).
        let response = match (sent, response) {
            (_, Err(code)) => return Err(send_error(code)),
            (Err(wasi::io::streams::StreamError::LastOperationFailed(e)), Ok(_)) => return Err(body_error(&e)),
            (Err(wasi::io::streams::StreamError::Closed), Ok(_)) => {
                return Err(TransportError::Broken("the upstream closed the connection".into()))
            }
            (Ok(()), Ok(response)) => response,
        };
        let headers = response
            .headers()
            .entries()
            .into_iter()
            .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
            .collect();
        Ok(UpstreamResponse {
            status: response.status(),
            headers,
            body: response,
        })
    }
}

impl Upstream for WasiUpstream {
    type Body = IncomingResponse;
    type ClientBody = IncomingRequest;

    async fn send(
        &self,
        req: &UpstreamRequest,
        key: &str,
    ) -> Result<UpstreamResponse<IncomingResponse>, TransportError> {
        let length = req.body.as_ref().map(|b| b.len() as u64);
        let request = self.outgoing(req, key, length)?;
        self.exchange(req, request, |mut body| async move {
            match &req.body {
                Some(bytes) => body.send(bytes.clone()).await,
                None => Ok(()),
            }
        })
        .await
    }

    async fn send_streamed(
        &self,
        req: &UpstreamRequest,
        key: &str,
        client: IncomingRequest,
        length: Option<u64>,
    ) -> Result<UpstreamResponse<IncomingResponse>, TransportError> {
        let request = self.outgoing(req, key, length)?;
        self.exchange(req, request, |mut body| async move {
            // The client's bytes go on as they arrive; none is held longer than its chunk.
            let mut incoming = client.into_body_stream();
            while let Some(chunk) = incoming.next().await {
                match chunk {
                    Ok(chunk) => body.send(chunk).await?,
                    // The client broke off: the upstream sees a short body and refuses it.
                    Err(_) => break,
                }
            }
            Ok(())
        })
        .await
    }

    async fn read_to_end(
        &self,
        body: IncomingResponse,
        limit: usize,
        truncate: bool,
    ) -> Result<Vec<u8>, TransportError> {
        let mut stream = body.take_body_stream();
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| body_error(&e))?;
            out.extend_from_slice(&chunk);
            if out.len() > limit {
                if !truncate {
                    return Err(TransportError::TooLarge { limit });
                }
                out.truncate(limit);
                break;
            }
        }
        Ok(out)
    }

    fn now_ms(&self) -> i64 {
        now_ms()
    }
}

fn random_bytes() -> [u8; 32] {
    let bytes = wasi::random::random::get_random_bytes(32);
    let mut out = [0u8; 32];
    out.copy_from_slice(&bytes[..32]);
    out
}

fn head_of(req: &IncomingRequest) -> RequestHead {
    let path_and_query = req.path_with_query().unwrap_or_else(|| "/".into());
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p.to_owned(), q.to_owned()),
        None => (path_and_query, String::new()),
    };
    let method = match req.method() {
        Method::Get => "GET".to_owned(),
        Method::Post => "POST".to_owned(),
        Method::Put => "PUT".to_owned(),
        Method::Delete => "DELETE".to_owned(),
        Method::Patch => "PATCH".to_owned(),
        Method::Head => "HEAD".to_owned(),
        Method::Options => "OPTIONS".to_owned(),
        Method::Connect => "CONNECT".to_owned(),
        Method::Trace => "TRACE".to_owned(),
        Method::Other(o) => o,
    };
    let mut headers: Vec<(String, String)> = req
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), String::from_utf8_lossy(&value).into_owned()))
        .collect();
    // wasi-http carries the `Host` as the request's authority, not as a header; URLs handed
    // back to the client (an upload session) are built from it.
    if let Some(authority) = req.authority().filter(|_| !headers.iter().any(|(n, _)| n == "host")) {
        headers.push(("host".into(), authority));
    }
    RequestHead {
        method,
        path,
        query,
        headers,
    }
}

/// Reads the request body, refusing more than `limit` bytes.
async fn read_body(req: IncomingRequest, limit: u64) -> Result<Vec<u8>, GatewayError> {
    let mut stream = req.into_body_stream();
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|_| GatewayError::invalid("reading the request body failed: the connection broke"))?;
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(GatewayError::BodyTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn start(
    out: ResponseOutparam,
    status: u16,
    headers: &[(String, String)],
) -> Option<impl futures::Sink<Vec<u8>, Error = wasi::io::streams::StreamError>> {
    let list: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(k, v)| (k.clone(), v.as_bytes().to_vec()))
        .collect();
    let fields = Fields::from_list(&list).ok()?;
    let response = OutgoingResponse::new(fields);
    response.set_status_code(status).ok()?;
    let body = response.take_body();
    out.set(response);
    Some(body)
}

async fn write_full(out: ResponseOutparam, status: u16, headers: &[(String, String)], body: Vec<u8>) {
    if let Some(mut sink) = start(out, status, headers) {
        if body.is_empty() || sink.send(body).await.is_ok() {
            close(sink).await;
        }
    }
}

/// Ends a response body.
async fn close(mut sink: impl futures::Sink<Vec<u8>> + Unpin) {
    // Closing fails only when the client is gone, and then there is no one left to tell.
    #[allow(clippy::let_underscore_must_use)]
    let _ = sink.close().await;
}

/// The outgoing request's timeouts.
fn request_options(timeouts: &Timeouts) -> RequestOptions {
    let options = RequestOptions::new();
    let nanos = |ms: u64| ms.saturating_mul(1_000_000);
    // Hosts may not support every timeout; one they refuse keeps the host's default, which is
    // no error.
    #[allow(clippy::let_underscore_must_use)]
    let _ = (
        options.set_connect_timeout(Some(nanos(timeouts.connect_ms))),
        options.set_first_byte_timeout(Some(nanos(timeouts.first_byte_ms))),
        options.set_between_bytes_timeout(Some(nanos(timeouts.between_bytes_ms))),
    );
    options
}

#[cfg(not(feature = "edge"))]
#[spin_sdk::http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    let head = head_of(&req);
    let (protocol, route) = handler::prepare(&head);
    let route_name = route.as_ref().map_or("unknown", crate::route::Route::name);
    // The bundled host's access log asks for what only the component knows.
    let access = spin_sdk::variables::get(handler::ACCESS_VARIABLE).is_ok_and(|v| crate::store::settings::flag(&v));
    let annotate = |mut reply: Reply<IncomingResponse>, note: &handler::AccessNote| {
        if access {
            handler::add_access_header(&mut reply, note.header_value(route_name, protocol));
        }
        reply
    };
    let no_note = handler::AccessNote::default();
    // Health checks and preflights touch no storage at all.
    if let Ok(route @ (crate::route::Route::Health | crate::route::Route::Preflight)) = &route {
        let mut reply = handler::static_reply::<IncomingResponse>(route, &head.path);
        handler::stamp_request_id(&mut reply, &random_bytes(), now_ms());
        return write_reply(out, annotate(reply, &no_note), None).await;
    }
    let db = match sqlite::Connection::open_default() {
        Ok(conn) => SpinDb(conn),
        Err(e) => {
            let error = GatewayError::Internal(format!("the database is unavailable: {e}"));
            let reply = handler::error_reply::<IncomingResponse>(&error, protocol);
            return write_reply(out, annotate(reply, &no_note), None).await;
        }
    };
    let settings = match handler::load_settings(&db) {
        Ok(loaded) => loaded,
        Err(e) => {
            let reply = handler::error_reply::<IncomingResponse>(&e, protocol);
            return write_reply(out, annotate(reply, &no_note), None).await;
        }
    };
    let config = Config::from_variables(|name| spin_sdk::variables::get(name).ok());
    let upstream = WasiUpstream {
        origin: config.upstream_url.clone(),
        settings: settings.pool.clone(),
    };
    let env = Env {
        upstream: &upstream,
        db: &db,
        config: &config,
        random: random_bytes(),
        now_ms: now_ms(),
        logged: Default::default(),
        access: Default::default(),
        writes: Default::default(),
    };
    let route = match route {
        Ok(route) => route,
        Err(e) => {
            let reply = handler::refuse(&env, &head, protocol, &e);
            return write_reply(out, annotate(reply, &no_note), None).await;
        }
    };
    let body = if handler::streams_request_body(&route) {
        handler::RequestBody::Unread(req)
    } else {
        match read_body(req, settings.pool.max_body_bytes).await {
            Ok(body) => handler::RequestBody::Read(body),
            Err(e) => {
                let reply = handler::refuse(&env, &head, protocol, &e);
                return write_reply(out, annotate(reply, &no_note), None).await;
            }
        }
    };
    let reply = handler::handle(&env, &head, route, protocol, body, &settings).await;
    let note = env.access.borrow().clone();
    write_reply(out, annotate(reply, &note), Some(&db as &dyn Database)).await;
}

async fn write_reply(out: ResponseOutparam, reply: Reply<IncomingResponse>, db: Option<&dyn Database>) {
    match reply {
        Reply::Full { status, headers, body } => write_full(out, status, &headers, body).await,
        Reply::Stream {
            status,
            headers,
            body,
            mut transducer,
            accounting,
        } => {
            let Some(mut sink) = start(out, status, &headers) else {
                return;
            };
            let mut stream = body.take_body_stream();
            let mut client_gone = false;
            while let Some(chunk) = stream.next().await {
                let bytes = match chunk {
                    Ok(chunk) => transducer.push(&chunk),
                    Err(e) => {
                        let bytes = transducer.on_transport_error(&body_error(&e).to_string());
                        client_gone = sink.send(bytes).await.is_err();
                        break;
                    }
                };
                if !bytes.is_empty() && sink.send(bytes).await.is_err() {
                    client_gone = true;
                    break;
                }
                if transducer.is_failed() {
                    break;
                }
            }
            if !client_gone {
                let tail = transducer.finish();
                client_gone = !tail.is_empty() && sink.send(tail).await.is_err();
            }
            close(sink).await;
            drop(body);
            if let Some(db) = db {
                let error = transducer
                    .error()
                    .or(client_gone.then(|| "client disconnected".to_owned()));
                handler::finish_stream(db, &accounting, transducer.usage(), error, now_ms());
            }
        }
    }
}
