//! The HTTP server: accepts connections, runs one fresh guest instance per request, answers
//! `GET /metrics` itself, and shuts down gracefully.
//!
//! Laid out like `wasmtime serve`: a cheap-to-clone [`Handler`] holds the pre-instantiated
//! component; per request it builds a new `Store`, hands the request and a response slot to the
//! guest in a spawned task, and returns as soon as the guest has set the response head, while
//! the task keeps writing the body (SSE streams through untouched). Errors never reach hyper as
//! errors: they become a fixed JSON 500 and a log line.

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use wasmtime::Store;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::WasiHttpView;

use crate::metrics::{InFlight, Metrics};
use crate::outgoing::Upstream;
use crate::spin::sqlite::SqliteBackend;
use crate::spin::variables::Variables;
use crate::state::Host;

/// How long in-flight requests may run after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Body of every response the host makes up when the guest fails (Gemini's error shape).
const INTERNAL_ERROR_BODY: &str = r#"{"error":{"code":500,"message":"internal error","status":"INTERNAL"}}"#;

/// Body of the 400 for a request without a Host header (Gemini's error shape).
const MISSING_HOST_BODY: &str = r#"{"error":{"code":400,"message":"missing Host header","status":"INVALID_ARGUMENT"}}"#;

/// Serves requests with the gateway component. Cloning shares everything.
#[derive(Clone)]
pub struct Handler(Arc<Inner>);

struct Inner {
    pre: ProxyPre<Host>,
    sqlite: Arc<SqliteBackend>,
    vars: Arc<Variables>,
    metrics: Arc<Metrics>,
    /// The one client (and connection pool) every request's outgoing calls go through.
    upstream: Upstream,
    next_id: AtomicU64,
}

impl Handler {
    /// A handler over a pre-instantiated component and the state every request shares,
    /// including a new pool for the guests' outgoing HTTP connections.
    pub fn new(pre: ProxyPre<Host>, sqlite: Arc<SqliteBackend>, vars: Arc<Variables>, metrics: Arc<Metrics>) -> Self {
        Self(Arc::new(Inner {
            pre,
            sqlite,
            vars,
            metrics,
            upstream: Upstream::new(),
            next_id: AtomicU64::new(0),
        }))
    }

    /// Answers one request. Never fails: guest errors become a 500.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<HyperOutgoingBody> {
        if req.method() == Method::GET && req.uri().path() == "/metrics" {
            return metrics_response(&self.0.metrics);
        }
        // wasi:http needs the request's authority; HTTP/1.0 clients may send neither an
        // absolute URI nor a Host header. That is the client's fault, not an internal error.
        if req.uri().authority().is_none() && !req.headers().contains_key(hyper::header::HOST) {
            return json_error(StatusCode::BAD_REQUEST, MISSING_HOST_BODY);
        }
        let started = Instant::now();
        let id = self.0.next_id.fetch_add(1, Relaxed);
        let in_flight = self.0.metrics.request_started();
        let response = match self.call_guest(id, req, in_flight).await {
            Ok(response) => response,
            Err(e) => {
                tracing::error!(req_id = id, "answering 500: {e:#}");
                internal_error()
            }
        };
        self.0
            .metrics
            .record_response(response.status().as_u16(), started.elapsed());
        response
    }

    /// Per-request store: fresh WASI/HTTP state, shared database, variables and HTTP client.
    fn new_store(&self) -> Store<Host> {
        let host = Host::new(
            Arc::clone(&self.0.sqlite),
            Arc::clone(&self.0.vars),
            self.0.upstream.clone(),
        );
        Store::new(self.0.pre.engine(), host)
    }

    async fn call_guest(
        &self,
        id: u64,
        req: Request<Incoming>,
        in_flight: InFlight,
    ) -> anyhow::Result<Response<HyperOutgoingBody>> {
        let mut store = self.new_store();
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let req = store.data_mut().http().new_incoming_request(Scheme::Http, req)?;
        let out = store.data_mut().http().new_response_outparam(sender)?;
        let inner = Arc::clone(&self.0);

        // The guest runs in its own task so it can keep writing the body after the head is
        // sent; the instance (and the in-flight count) lives until the handler returns.
        let task = tokio::spawn(async move {
            let _in_flight = in_flight;
            let started = Instant::now();
            let proxy = inner.pre.instantiate_async(&mut store).await?;
            inner.metrics.record_instantiate(started.elapsed());
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await
        });

        match receiver.await {
            Ok(Ok(response)) => {
                report_late_failure(id, task);
                Ok(response)
            }
            Ok(Err(code)) => {
                report_late_failure(id, task);
                Err(anyhow!("the guest answered with error code {code:?}"))
            }
            // The sender was dropped with the store: the guest returned or trapped without
            // setting a response. The task's outcome says which.
            Err(_) => {
                let cause = match task.await {
                    Ok(Ok(())) => anyhow!("the guest returned without calling response-outparam.set"),
                    Ok(Err(e)) => anyhow::Error::from(e),
                    Err(e) => anyhow::Error::from(e),
                };
                Err(cause.context("the guest never set a response"))
            }
        }
    }
}

/// Logs a guest failure that happens after the response head went out (e.g. a trap while
/// streaming): the client sees a cut-off body, the operator needs the cause.
fn report_late_failure(id: u64, task: tokio::task::JoinHandle<wasmtime::Result<()>>) {
    tokio::spawn(async move {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(req_id = id, "guest failed after responding: {e:?}"),
            Err(e) => tracing::error!(req_id = id, "guest task failed after responding: {e}"),
        }
    });
}

fn full_body(bytes: impl Into<Bytes>) -> HyperOutgoingBody {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed_unsync()
}

fn internal_error() -> Response<HyperOutgoingBody> {
    json_error(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_ERROR_BODY)
}

fn json_error(status: StatusCode, body: &'static str) -> Response<HyperOutgoingBody> {
    let mut response = Response::new(full_body(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn metrics_response(metrics: &Metrics) -> Response<HyperOutgoingBody> {
    let mut response = Response::new(full_body(metrics.render()));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// Serves `listener` until `shutdown` resolves, then stops accepting and waits up to
/// [`SHUTDOWN_GRACE`] for open requests (including streaming bodies) to finish.
pub async fn serve(listener: TcpListener, handler: Handler, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    // HTTP/1.1, plus HTTP/2 with prior knowledge (h2c) for clients that ask for it.
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Usually fd exhaustion: back off instead of spinning, keep serving.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Nagle's algorithm would hold each small SSE event back ~40 ms waiting for an ACK.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%peer, "set_nodelay failed: {e}");
        }
        let handler = handler.clone();
        let service = hyper::service::service_fn(move |req| {
            let handler = handler.clone();
            async move { Ok::<_, Infallible>(handler.handle(req).await) }
        });
        let conn = builder.serve_connection(TokioIo::new(stream), service).into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, "connection ended with an error: {e}");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: waiting for open requests");
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::warn!(
            "requests still open after {}s; exiting anyway",
            SHUTDOWN_GRACE.as_secs()
        );
    }
    Ok(())
}

/// A future that resolves on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed now, not
/// when the future is first polled, so a signal right after start-up is not lost.
#[cfg(unix)]
pub fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut terminate = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("received SIGINT"),
            _ = terminate.recv() => tracing::info!("received SIGTERM"),
        }
    })
}

/// A future that resolves on Ctrl-C.
#[cfg(not(unix))]
pub fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
