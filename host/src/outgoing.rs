//! The guest's outgoing `wasi:http` requests, sent through one pooled client.
//!
//! wasmtime-wasi-http's default `send_request` opens a new TCP connection (and, for https, does a
//! new TLS handshake) for every request. [`Upstream`] replaces it through the per-store
//! [`WasiHttpHooks`]: every store gets a handle to the same `hyper_util` legacy [`Client`], so
//! connections to the upstream are kept alive and reused across requests (HTTP/1.1 keep-alive,
//! or one multiplexed HTTP/2 connection when the server offers `h2` by ALPN).
//!
//! Behaviour kept from the default implementation:
//! - the URI the guest built (scheme + authority + path) is used as is; `http` and `https`
//!   (webpki roots, ring) are supported;
//! - the request options' timeouts, 600 s each when unset: `connect` bounds establishing a new
//!   connection (DNS + TCP + TLS), `first-byte` the wait for the response head (not counting
//!   the time this request spent establishing a connection), `between-bytes` each wait for the
//!   next body frame;
//! - the response body is handed to the guest frame by frame as it arrives (SSE streams);
//! - errors become the matching `wasi:http` error codes (connection refused, DNS, TLS,
//!   timeouts, protocol errors).
//!
//! One difference: a connection that closes, resets or ends mid-answer is reported as
//! `connection-terminated` / `HTTP-response-incomplete`, where the default reports every hyper
//! error as `HTTP-protocol-error` (which the gateway would describe as invalid HTTP).

use std::error::Error as StdError;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::Uri;
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::time::Sleep;
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// How long an unused upstream connection stays in the pool.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Idle connections kept per upstream host (HTTP/1.1; HTTP/2 needs one). Enough for the
/// concurrency a single gateway process sees; more concurrent requests open more connections,
/// which are closed rather than pooled when they finish.
pub const POOL_MAX_IDLE_PER_HOST: usize = 64;

/// A timeout the guest did not set (wasmtime-wasi-http's default).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// Longer timeouts are treated as this (keeps deadline arithmetic far from overflow).
const MAX_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);

type BoxError = Box<dyn StdError + Send + Sync>;

/// The shared client. Cloning is one `Arc` increment; every clone uses the same pool.
#[derive(Clone)]
pub struct Upstream(Arc<Client<TimedConnector, WasiBody>>);

impl Upstream {
    /// A client with an empty pool. Its connections are driven by tasks on the tokio runtime
    /// that sends the requests, so one client should serve one runtime.
    pub fn new() -> Self {
        let mut http = HttpConnector::new();
        // The connector also serves https URIs (the TLS layer wraps it).
        http.enforce_http(false);
        // Small writes (a request head, an SSE-sized body chunk) must not wait for an ACK.
        http.set_nodelay(true);
        http.set_keepalive(Some(Duration::from_secs(60)));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(provider)
            .expect("ring supports rustls' default protocol versions")
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            // Notice a dead HTTP/2 connection during a long, quiet stream.
            .http2_keep_alive_interval(Duration::from_secs(30))
            .build(TimedConnector(https));
        Self(Arc::new(client))
    }

    /// Sends `request` and waits for the response head; the body is returned unread.
    async fn send(
        &self,
        request: hyper::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<hyper::Response<WasiBody>, Error> {
        if request.uri().authority().is_none() {
            return Err(Error::HttpRequestUriInvalid);
        }
        let options = options.unwrap_or_default();
        let timeout = |t: Option<Duration>| t.unwrap_or(DEFAULT_TIMEOUT).min(MAX_TIMEOUT);
        let first_byte = timeout(options.first_byte_timeout);
        let between_bytes = timeout(options.between_bytes_timeout);
        let attempt = Arc::new(Attempt::new(timeout(options.connect_timeout)));

        let started = Instant::now();
        // The connector runs inside this scope (the client starts connecting when its future
        // is first polled), which is how it learns this request's connect timeout.
        let mut response = pin!(ATTEMPT.scope(Arc::clone(&attempt), self.0.request(request)));
        let mut deadline = pin!(tokio::time::sleep_until(
            attempt.head_deadline(started, first_byte).into()
        ));
        let response = poll_fn(|cx| {
            if let Poll::Ready(result) = response.as_mut().poll(cx) {
                return Poll::Ready(result.map_err(request_error));
            }
            // The deadline only moves later (when a connection attempt starts or finishes).
            loop {
                let at = attempt.head_deadline(started, first_byte);
                if deadline.deadline().into_std() != at {
                    deadline.as_mut().reset(at.into());
                }
                ready!(deadline.as_mut().poll(cx));
                if attempt.head_deadline(started, first_byte) == at {
                    return Poll::Ready(Err(Error::ConnectionReadTimeout));
                }
            }
        })
        .await?;
        Ok(response.map(|incoming| TimedBody::new(incoming, between_bytes).boxed_unsync()))
    }
}

impl Default for Upstream {
    fn default() -> Self {
        Self::new()
    }
}

impl WasiHttpHooks for Upstream {
    fn send_request(
        &mut self,
        request: hyper::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = Result<(hyper::Response<WasiBody>, ConnectionIo), Error>> + Send> {
        drop(fut);
        let upstream = self.clone();
        Box::new(async move {
            let response = upstream.send(request, options).await?;
            // The pool drives its connections in its own tasks: nothing to hand back.
            let io: ConnectionIo = Box::new(async { Ok(()) });
            Ok((response, io))
        })
    }
}

/// What `send_request` returns next to the response: the connection's I/O future.
type ConnectionIo = Box<dyn Future<Output = Result<(), Error>> + Send>;

tokio::task_local! {
    /// The request whose client future is being polled, for [`TimedConnector`].
    static ATTEMPT: Arc<Attempt>;
}

/// Connection setup done on behalf of one request.
struct Attempt {
    connect_timeout: Duration,
    connects: Mutex<Connects>,
}

#[derive(Default)]
struct Connects {
    /// Time spent in finished connection attempts.
    spent: Duration,
    /// When the attempt in progress started.
    since: Option<Instant>,
}

impl Attempt {
    fn new(connect_timeout: Duration) -> Self {
        Self {
            connect_timeout,
            connects: Mutex::default(),
        }
    }

    /// When the response head is overdue: `first_byte` after the request was submitted, not
    /// counting connection setup. While a connection is being set up its length is unknown, so
    /// the deadline assumes the whole connect timeout; it is recomputed when that attempt ends.
    fn head_deadline(&self, started: Instant, first_byte: Duration) -> Instant {
        let connects = self.connects.lock().unwrap_or_else(PoisonError::into_inner);
        let connecting = if connects.since.is_some() {
            self.connect_timeout
        } else {
            Duration::ZERO
        };
        started + connects.spent + connecting + first_byte
    }

    /// Records a connection attempt until the guard is dropped.
    fn connecting(self: Arc<Self>) -> ConnectGuard {
        self.connects.lock().unwrap_or_else(PoisonError::into_inner).since = Some(Instant::now());
        ConnectGuard(self)
    }
}

struct ConnectGuard(Arc<Attempt>);

impl Drop for ConnectGuard {
    fn drop(&mut self) {
        let mut connects = self.0.connects.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(since) = connects.since.take() {
            connects.spent += since.elapsed();
        }
    }
}

/// The HTTPS connector with the requesting guest's connect timeout.
#[derive(Clone)]
struct TimedConnector(HttpsConnector<HttpConnector>);

/// A connection attempt ran out of time.
#[derive(Debug)]
struct ConnectTimedOut;

impl std::fmt::Display for ConnectTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connect timed out")
    }
}

impl StdError for ConnectTimedOut {}

impl tower_service::Service<Uri> for TimedConnector {
    type Response = MaybeHttpsStream<TokioIo<TcpStream>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        // Outside a request's scope (never, as the client is used) the default applies.
        let attempt = ATTEMPT.try_with(Arc::clone).ok();
        let connect = self.0.call(dst);
        Box::pin(async move {
            let timeout = attempt.as_ref().map_or(DEFAULT_TIMEOUT, |a| a.connect_timeout);
            let _guard = attempt.map(Attempt::connecting);
            match tokio::time::timeout(timeout, connect).await {
                Ok(connected) => connected,
                Err(_) => Err(Box::new(ConnectTimedOut) as BoxError),
            }
        })
    }
}

/// The response body with the between-bytes timeout; frames pass through as they arrive.
struct TimedBody {
    incoming: Incoming,
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl TimedBody {
    fn new(incoming: Incoming, timeout: Duration) -> Self {
        Self {
            incoming,
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.incoming).poll_frame(cx) {
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Ok(frame))) => {
                let next = tokio::time::Instant::now() + this.timeout;
                this.deadline.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) if e.is_timeout() => Poll::Ready(Some(Err(Error::HttpResponseTimeout))),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(broken_connection(&e).unwrap_or(Error::Hyper(e))))),
            Poll::Pending => {
                ready!(this.deadline.as_mut().poll(cx));
                Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

/// Maps a failed request (before the response head) to the error the guest sees, looking
/// through the client's error chain for the cause the default implementation would report.
fn request_error(err: hyper_util::client::legacy::Error) -> Error {
    let mut cause: Option<&(dyn StdError + 'static)> = err.source();
    while let Some(e) = cause {
        if e.is::<ConnectTimedOut>() {
            return Error::ConnectionTimeout;
        }
        if let Some(code) = e.downcast_ref::<ErrorCode>() {
            return code.clone().into();
        }
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return tls_error(tls);
        }
        if let Some(io) = e.downcast_ref::<io::Error>() {
            // tokio-rustls reports handshake failures as an io::Error around the rustls error.
            if let Some(tls) = io.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
                return tls_error(tls);
            }
            if err.is_connect() {
                // wasmtime-wasi-http tells DNS failures from refused connections by this error.
                return Error::Connect(io::Error::new(io.kind(), io.to_string()));
            }
        }
        if let Some(hyper) = e.downcast_ref::<hyper::Error>() {
            if hyper.is_timeout() {
                return Error::HttpResponseTimeout;
            }
            if let Some(broken) = broken_connection(hyper) {
                return broken;
            }
        }
        cause = e.source();
    }
    tracing::debug!("upstream request failed: {err:?}");
    if err.is_connect() {
        Error::ConnectionRefused
    } else {
        Error::HttpProtocolError
    }
}

/// The upstream connection broke (closed, reset, cut mid-message) rather than speaking bad
/// HTTP. wasmtime-wasi-http reports every hyper error as `HttpProtocolError`, which the gateway
/// would have to describe as "invalid HTTP"; these get the codes that say what happened.
fn broken_connection(err: &hyper::Error) -> Option<Error> {
    if err.is_parse() || err.is_parse_status() || err.is_user() {
        return None;
    }
    let mut cause: Option<&(dyn StdError + 'static)> = err.source();
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            return match io.kind() {
                io::ErrorKind::UnexpectedEof => Some(Error::HttpResponseIncomplete),
                io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::NotConnected => Some(Error::ConnectionTerminated),
                _ => None,
            };
        }
        cause = e.source();
    }
    if err.is_incomplete_message() {
        // The connection closed before the answer was complete.
        return Some(Error::HttpResponseIncomplete);
    }
    if err.is_closed() || err.is_canceled() || err.is_body_write_aborted() {
        return Some(Error::ConnectionTerminated);
    }
    None
}

fn tls_error(err: &rustls::Error) -> Error {
    match err {
        rustls::Error::InvalidCertificate(_) => Error::TlsCertificateError,
        rustls::Error::AlertReceived(alert) => Error::TlsAlertReceived {
            alert_id: Some(u8::from(*alert)),
            alert_message: Some(format!("{alert:?}")),
        },
        _ => Error::TlsProtocolError,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use std::net::SocketAddr;

    use http_body_util::Empty;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn get(addr: SocketAddr) -> hyper::Request<WasiBody> {
        let body = Empty::new().map_err(|never: Infallible| match never {}).boxed_unsync();
        hyper::Request::get(format!("http://{addr}/")).body(body).unwrap()
    }

    fn options(first_byte: u64, between_bytes: u64) -> Option<RequestOptions> {
        Some(RequestOptions {
            connect_timeout: Some(Duration::from_secs(5)),
            first_byte_timeout: Some(Duration::from_millis(first_byte)),
            between_bytes_timeout: Some(Duration::from_millis(between_bytes)),
        })
    }

    /// A server that reads the request head, writes `reply`, then holds the connection open.
    async fn stalling_server(reply: &'static [u8]) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = vec![0; 4096];
            let mut read = 0;
            while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                read += stream.read(&mut buf[read..]).await.unwrap();
            }
            stream.write_all(reply).await.unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
        addr
    }

    #[tokio::test]
    async fn a_missing_response_head_is_a_read_timeout() {
        let addr = stalling_server(b"").await;
        let started = Instant::now();
        let result = Upstream::new().send(get(addr), options(200, 5000)).await;
        assert!(matches!(result, Err(Error::ConnectionReadTimeout)), "{result:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[tokio::test]
    async fn the_body_streams_and_a_stall_is_a_read_timeout() {
        let addr = stalling_server(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n6\r\nevent1\r\n").await;
        let response = Upstream::new().send(get(addr), options(5000, 300)).await.unwrap();
        assert_eq!(response.status(), 200);
        let mut body = response.into_body();
        // The first chunk arrives while the upstream is still sending: nothing is buffered.
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first, "event1");
        let next = body.frame().await.unwrap();
        assert!(matches!(next, Err(Error::ConnectionReadTimeout)), "{next:?}");
    }

    #[tokio::test]
    async fn a_connection_closed_before_the_head_is_not_a_protocol_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = vec![0; 4096];
            let _request_len = stream.read(&mut buf).await.unwrap();
            // Closed without a word.
        });
        let result = Upstream::new().send(get(addr), options(5000, 5000)).await;
        assert!(
            matches!(result, Err(Error::HttpResponseIncomplete | Error::ConnectionTerminated)),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn a_body_cut_short_is_an_incomplete_answer() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = vec![0; 4096];
            let _request_len = stream.read(&mut buf).await.unwrap();
            let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"candidates\":";
            stream.write_all(reply).await.unwrap();
        });
        let response = Upstream::new().send(get(addr), options(5000, 5000)).await.unwrap();
        let mut body = response.into_body();
        let mut last = None;
        while let Some(frame) = body.frame().await {
            if let Err(e) = frame {
                last = Some(e);
                break;
            }
        }
        assert!(matches!(last, Some(Error::HttpResponseIncomplete)), "{last:?}");
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error() {
        let addr = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
        let result = Upstream::new().send(get(addr), None).await;
        match result {
            Err(Error::Connect(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_request_without_authority_is_rejected() {
        let body = Empty::new().map_err(|never: Infallible| match never {}).boxed_unsync();
        let request = hyper::Request::get("/path").body(body).unwrap();
        let result = Upstream::new().send(request, None).await;
        assert!(matches!(result, Err(Error::HttpRequestUriInvalid)), "{result:?}");
    }

    #[test]
    fn the_head_deadline_excludes_connection_setup() {
        let attempt = Arc::new(Attempt::new(Duration::from_secs(5)));
        let started = Instant::now();
        let first_byte = Duration::from_secs(1);
        assert_eq!(attempt.head_deadline(started, first_byte), started + first_byte);
        let guard = Arc::clone(&attempt).connecting();
        assert_eq!(
            attempt.head_deadline(started, first_byte),
            started + Duration::from_secs(5) + first_byte
        );
        std::thread::sleep(Duration::from_millis(20));
        drop(guard);
        let deadline = attempt.head_deadline(started, first_byte);
        assert!(deadline >= started + first_byte + Duration::from_millis(20));
        assert!(deadline < started + first_byte + Duration::from_secs(5));
    }
}
