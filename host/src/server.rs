//! The HTTP server: accepts connections, runs one fresh guest instance per request, adds its
//! own figures to the guest's `GET /metrics`, writes the access log, and shuts down gracefully.
//!
//! Laid out like `wasmtime serve`: a cheap-to-clone [`Handler`] holds the pre-instantiated
//! component; per request it builds a new `Store`, hands the request and a response slot to the
//! guest in a spawned task, and returns as soon as the guest has set the response head, while
//! the task keeps writing the body (SSE streams through untouched). Errors never reach hyper as
//! errors: they become a JSON error in the caller's protocol shape ([`crate::shape`]) and a log
//! line.
//!
//! What a request may cost is bounded here: at most `--max-instances` instances at once (the
//! rest are answered 503 with `Retry-After`), a CPU-time limit per request (enforced with epoch
//! interruption; a guest running wasm also yields its worker thread every epoch tick), memory
//! limits per store, and the client connection's timeouts ([`crate::connection`]). A client
//! that goes away cancels its request: the guest instance is dropped, and with it its
//! outgoing requests.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::AbortHandle;
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::WasiHttpView;

use crate::access;
pub use crate::connection::ConnectionLimits;
use crate::connection::{BodyLimits, ClientBody, ConnState, GuardedIo};
use crate::metrics::Metrics;
use crate::outgoing::Upstream;
use crate::shape::{error_body, error_headers, Kind, Protocol, BUSY_RETRY_AFTER_SECS};
use crate::spin::sqlite::SqliteBackend;
use crate::spin::variables::Variables;
use crate::state::Host;

/// How long in-flight requests may run after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Limits of each request's gateway instance (`--max-instances`, `--request-cpu-limit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    /// Instances alive at once; a request beyond this is answered 503 with `Retry-After`.
    pub max_instances: u32,
    /// CPU time the guest may spend on one request (`None`: no limit).
    pub cpu_limit: Option<Duration>,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            max_instances: crate::component::MAX_INSTANCES,
            cpu_limit: Some(Duration::from_secs(10)),
        }
    }
}

/// A guest ran past its CPU limit and was stopped.
#[derive(Debug)]
pub struct CpuLimitExceeded(pub Duration);

impl std::fmt::Display for CpuLimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the gateway used more than {:?} of CPU time on this request", self.0)
    }
}

impl std::error::Error for CpuLimitExceeded {}

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
    limits: RequestLimits,
    /// One permit per instance that may be alive at once.
    instances: Arc<Semaphore>,
    /// Whether each request gets an access-log line.
    access_log: AtomicBool,
}

/// Why a request got no answer from the guest; each becomes a shaped error response.
enum Failure {
    /// The instance limit was reached (or the pool had no free slot).
    Busy,
    /// The request body arrived too slowly and was cut.
    BodyTimeout,
    /// The guest was stopped at its CPU limit.
    CpuLimit(Duration),
    /// Anything else: a trap, a guest that never answered, a host error.
    Internal,
}

impl Handler {
    /// A handler over a pre-instantiated component and the state every request shares,
    /// including a new pool for the guests' outgoing HTTP connections, with the default
    /// [`RequestLimits`]. The engine must have room for that many instances
    /// ([`crate::component::engine_with`]).
    pub fn new(pre: ProxyPre<Host>, sqlite: Arc<SqliteBackend>, vars: Arc<Variables>, metrics: Arc<Metrics>) -> Self {
        Self::with_limits(pre, sqlite, vars, metrics, RequestLimits::default())
    }

    /// [`Handler::new`] with explicit limits.
    pub fn with_limits(
        pre: ProxyPre<Host>,
        sqlite: Arc<SqliteBackend>,
        vars: Arc<Variables>,
        metrics: Arc<Metrics>,
        limits: RequestLimits,
    ) -> Self {
        let permits = usize::try_from(limits.max_instances.max(1)).unwrap_or(usize::MAX);
        Self(Arc::new(Inner {
            pre,
            sqlite,
            vars,
            metrics,
            upstream: Upstream::new(),
            next_id: AtomicU64::new(0),
            limits,
            instances: Arc::new(Semaphore::new(permits.min(Semaphore::MAX_PERMITS))),
            access_log: AtomicBool::new(false),
        }))
    }

    /// The metrics this handler records into.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.0.metrics
    }

    /// Answers one request without body limits. Never fails: errors become shaped responses.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<HyperOutgoingBody> {
        self.handle_limited(req, BodyLimits::default()).await
    }

    /// Answers one request whose body must arrive within `body_limits`. Never fails: guest
    /// errors become a 500, a full instance pool a 503, a stalled body a 408, each in the
    /// caller's protocol shape.
    ///
    /// If the returned future is dropped (the client went away) the guest instance is
    /// dropped with it, and with the instance its outgoing requests; the same holds for the
    /// response body once the head was sent, until the body has been written in full.
    pub async fn handle_limited(&self, req: Request<Incoming>, body_limits: BodyLimits) -> Response<HyperOutgoingBody> {
        let protocol = Protocol::of(req.uri().path(), req.uri().query(), req.headers());
        let started = Instant::now();
        let method = req.method().clone();
        // The guest answers `/metrics` (the pool's figures, behind its key); the host adds its own.
        // Taken before this request counts, so a scrape does not see itself in flight.
        let host_figures = (method == Method::GET && req.uri().path() == "/metrics").then(|| self.0.metrics.render());
        let id = self.0.next_id.fetch_add(1, Relaxed);
        // wasi:http needs the request's authority; HTTP/1.0 clients may send neither an
        // absolute URI nor a Host header. That is the client's fault, not an internal error.
        let mut response = if req.uri().authority().is_none() && !req.headers().contains_key(hyper::header::HOST) {
            error_response(protocol, Kind::BadRequest, "missing Host header")
        } else {
            match self.call_guest(id, req, body_limits).await {
                Ok(response) => response,
                Err(failure) => self.failure_response(protocol, failure),
            }
        };
        if let Some(figures) = host_figures.filter(|_| response.status() == StatusCode::OK) {
            response = crate::metrics::append_host_figures(response, figures).await;
        }
        self.0
            .metrics
            .record_response(response.status().as_u16(), started.elapsed());
        if self.0.access_log.load(Relaxed) {
            let entry = access::Entry::from_response(&method, protocol, id, started, &mut response);
            return access::log_when_sent(response, entry);
        }
        response.headers_mut().remove(access::ACCESS_HEADER);
        response
    }

    /// Turns the access log (one line per request, [`crate::access`]) on or off. Off by
    /// default; `gempool serve` turns it on unless `--quiet`.
    pub fn set_access_log(&self, on: bool) {
        self.0.access_log.store(on, Relaxed);
    }

    fn failure_response(&self, protocol: Protocol, failure: Failure) -> Response<HyperOutgoingBody> {
        match failure {
            Failure::Busy => {
                self.0.metrics.record_busy();
                let message = format!(
                    "the gateway is serving its limit of {} requests at once; retry in {} s",
                    self.0.limits.max_instances, BUSY_RETRY_AFTER_SECS
                );
                error_response(protocol, Kind::Busy, &message)
            }
            Failure::BodyTimeout => error_response(
                protocol,
                Kind::RequestTimeout,
                "the request body did not arrive in time",
            ),
            Failure::CpuLimit(limit) => error_response(
                protocol,
                Kind::Internal,
                &format!(
                    "the gateway stopped this request after {} s of processing",
                    limit.as_secs_f64()
                ),
            ),
            Failure::Internal => error_response(protocol, Kind::Internal, "internal error"),
        }
    }

    /// Per-request store: fresh WASI/HTTP state, shared database, variables and HTTP client;
    /// memory limits; the CPU clock and the epoch callback that enforces the CPU limit and
    /// makes a long-running guest yield its worker thread every [`crate::component::EPOCH_TICK`].
    fn new_store(&self) -> Store<Host> {
        let host = Host::new(
            Arc::clone(&self.0.sqlite),
            Arc::clone(&self.0.vars),
            self.0.upstream.clone(),
        );
        let mut store = Store::new(self.0.pre.engine(), host);
        store.limiter(|host| &mut host.limits);
        store.call_hook(|mut cx, hook| {
            cx.data_mut().clock.transition(hook);
            Ok(())
        });
        let cpu_limit = self.0.limits.cpu_limit;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |cx| {
            if let Some(limit) = cpu_limit {
                if cx.data().clock.used() > limit {
                    return Err(CpuLimitExceeded(limit).into());
                }
            }
            // tokio's yield_now (unlike a plain self-wake) lets the scheduler poll the I/O
            // driver first, so other connections make progress while this guest computes.
            Ok(UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now())))
        });
        store
    }

    async fn call_guest(
        &self,
        id: u64,
        req: Request<Incoming>,
        body_limits: BodyLimits,
    ) -> Result<Response<HyperOutgoingBody>, Failure> {
        let Ok(permit) = Arc::clone(&self.0.instances).try_acquire_owned() else {
            tracing::warn!(req_id = id, "answering 503: every instance is busy");
            return Err(Failure::Busy);
        };
        let head_only = req.method() == Method::HEAD;
        let req = req.map(|incoming| ClientBody::new(incoming, body_limits));
        let body_timed_out = req.body().timed_out();
        let mut slot = Slot {
            store: self.new_store(),
            _permit: permit,
        };
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let internal = |e: anyhow::Error| {
            tracing::error!(req_id = id, "answering 500: {e:#}");
            Failure::Internal
        };
        let req = slot
            .store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, req)
            .map_err(|e| internal(e.into()))?;
        let out = slot
            .store
            .data_mut()
            .http()
            .new_response_outparam(sender)
            .map_err(|e| internal(e.into()))?;
        let inner = Arc::clone(&self.0);
        let in_flight = self.0.metrics.request_started();

        // The guest runs in its own task so it can keep writing the body after the head is
        // sent; the instance (and the in-flight count) lives until the task ends. The task is
        // aborted if this future is dropped first (the client went away).
        let task = AbortOnDrop(Some(tokio::spawn(async move {
            let _in_flight = in_flight;
            let started = Instant::now();
            let proxy = match inner.pre.instantiate_async(&mut slot.store).await {
                Ok(proxy) => proxy,
                Err(e) => return Err(GuestError::Instantiate(e)),
            };
            inner.metrics.record_instantiate(started.elapsed());
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut slot.store, req, out)
                .await
                .map_err(GuestError::Run)
        })));

        let outcome = receiver.await;
        if body_timed_out.load(Relaxed) {
            // Whatever the guest made of a cut body, the client's problem is its slowness.
            tracing::info!(req_id = id, "answering 408: the request body arrived too slowly");
            return Err(Failure::BodyTimeout);
        }
        match outcome {
            Ok(Ok(response)) => {
                let (abort, task) = task.disarm();
                report_late_failure(id, task);
                Ok(cancel_on_early_drop(response, abort, head_only))
            }
            Ok(Err(code)) => {
                let (_, task) = task.disarm();
                report_late_failure(id, task);
                tracing::error!(
                    req_id = id,
                    "answering 500: the guest answered with error code {code:?}"
                );
                Err(Failure::Internal)
            }
            // The sender was dropped with the store: the guest returned or trapped without
            // setting a response. The task's outcome says which.
            Err(_) => {
                let (_, task) = task.disarm();
                let result = task.await;
                if body_timed_out.load(Relaxed) {
                    return Err(Failure::BodyTimeout);
                }
                match result {
                    Ok(Ok(())) => Err(internal(anyhow!(
                        "the guest returned without calling response-outparam.set"
                    ))),
                    Ok(Err(GuestError::Instantiate(e))) => {
                        // The pool is sized for the permits, so this is unexpected, but it
                        // is still a capacity problem rather than a broken gateway.
                        tracing::warn!(req_id = id, "answering 503: instantiation failed: {e:#}");
                        Err(Failure::Busy)
                    }
                    Ok(Err(GuestError::Run(e))) => {
                        if let Some(limit) = e.downcast_ref::<CpuLimitExceeded>() {
                            tracing::error!(req_id = id, "answering 500: {limit}");
                            return Err(Failure::CpuLimit(limit.0));
                        }
                        Err(internal(
                            anyhow::Error::from(e).context("the guest never set a response"),
                        ))
                    }
                    Err(e) => Err(internal(anyhow::Error::from(e).context("the guest task failed"))),
                }
            }
        }
    }
}

/// A store and its instance-limit permit. Fields drop in order: the instance's pool slot is
/// free again before another request can take the permit.
struct Slot {
    store: Store<Host>,
    _permit: OwnedSemaphorePermit,
}

/// How a guest task ended badly.
enum GuestError {
    Instantiate(wasmtime::Error),
    Run(wasmtime::Error),
}

impl std::fmt::Display for GuestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GuestError::Instantiate(e) => write!(f, "instantiating the gateway failed: {e:?}"),
            GuestError::Run(e) => write!(f, "the gateway failed: {e:?}"),
        }
    }
}

type GuestTask = tokio::task::JoinHandle<Result<(), GuestError>>;

/// Aborts the guest task when dropped, unless disarmed.
struct AbortOnDrop(Option<GuestTask>);

impl AbortOnDrop {
    /// Gives up the guard: returns a handle to abort the task later, and the task.
    fn disarm(mut self) -> (AbortHandle, GuestTask) {
        let task = self.0.take().expect("a guard is disarmed once");
        (task.abort_handle(), task)
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

/// Logs a guest failure that happens after the response head went out (e.g. a trap while
/// streaming): the client sees a cut-off body, the operator needs the cause.
fn report_late_failure(id: u64, task: GuestTask) {
    tokio::spawn(async move {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(req_id = id, "guest failed after responding: {e}"),
            Err(e) if e.is_cancelled() => {
                tracing::debug!(req_id = id, "the client went away; the request was cancelled")
            }
            Err(e) => tracing::error!(req_id = id, "guest task failed after responding: {e}"),
        }
    });
}

/// Wraps the response body so that dropping it before it was written in full (the client
/// went away mid-stream) aborts the guest, and with it the upstream request. A body written in
/// full (end of stream seen, or as many bytes as its content-length) leaves the guest to
/// finish its bookkeeping.
fn cancel_on_early_drop(
    response: Response<HyperOutgoingBody>,
    abort: AbortHandle,
    head_only: bool,
) -> Response<HyperOutgoingBody> {
    let status = response.status();
    // hyper never polls these bodies: dropping them says nothing about the client.
    if head_only || status.is_informational() || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED
    {
        return response;
    }
    let length = response
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    response.map(|body| {
        CancelOnEarlyDrop {
            body,
            abort: Some(abort),
            length,
            sent: 0,
        }
        .boxed_unsync()
    })
}

struct CancelOnEarlyDrop {
    body: HyperOutgoingBody,
    abort: Option<AbortHandle>,
    length: Option<u64>,
    sent: u64,
}

impl Body for CancelOnEarlyDrop {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.body).poll_frame(cx));
        match &frame {
            None => this.abort = None,
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    this.sent += data.len() as u64;
                    if this.length.is_some_and(|length| this.sent >= length) {
                        this.abort = None;
                    }
                }
            }
            Some(Err(_)) => {}
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for CancelOnEarlyDrop {
    fn drop(&mut self) {
        if let Some(abort) = self.abort.take() {
            if !self.body.is_end_stream() {
                abort.abort();
            }
        }
    }
}

fn full_body(bytes: impl Into<Bytes>) -> HyperOutgoingBody {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed_unsync()
}

/// A host-made error in the caller's shape.
fn error_response(protocol: Protocol, kind: Kind, message: &str) -> Response<HyperOutgoingBody> {
    let mut response = Response::new(full_body(error_body(protocol, kind, message)));
    *response.status_mut() = kind.status();
    *response.headers_mut() = error_headers(kind);
    response
}

/// A response body that keeps a guard alive until the body is done or dropped.
struct Guarded<G> {
    body: HyperOutgoingBody,
    _guard: G,
}

impl<G: Send + Unpin + 'static> Body for Guarded<G> {
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

/// [`serve_with`] with [`ConnectionLimits::unlimited`].
pub async fn serve(listener: TcpListener, handler: Handler, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    serve_with(listener, handler, ConnectionLimits::unlimited(), shutdown).await
}

/// Serves `listener` until `shutdown` resolves, then stops accepting and waits up to
/// [`SHUTDOWN_GRACE`] for open requests (including streaming bodies) to finish. Connections
/// live within `limits`; at `max_connections` open ones, further clients wait in the backlog.
pub async fn serve_with(
    listener: TcpListener,
    handler: Handler,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    // HTTP/1.1, plus HTTP/2 with prior knowledge (h2c) for clients that ask for it. hyper's own
    // header timeout also covers the keep-alive wait; GuardedIo keeps the two apart.
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().header_read_timeout(None);
    let graceful = GracefulShutdown::new();
    let connections = Arc::new(Semaphore::new(limits.max_connections.clamp(1, Semaphore::MAX_PERMITS)));
    let body_limits = limits.body();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = Arc::clone(&connections).acquire_owned() => permit.context("the connection limit closed")?,
        };
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
        let open = handler.metrics().connection_opened();
        let conn_state = ConnState::new();
        let handler = handler.clone();
        let service_state = Arc::clone(&conn_state);
        let service = hyper::service::service_fn(move |req| {
            // Marked now, synchronously, so the connection counts as busy from the moment the
            // head is parsed until the response body is done.
            let busy = service_state.request_started();
            let handler = handler.clone();
            async move {
                let response = handler.handle_limited(req, body_limits).await;
                Ok::<_, Infallible>(response.map(|body| Guarded { body, _guard: busy }.boxed_unsync()))
            }
        });
        let io = TokioIo::new(GuardedIo::new(stream, conn_state, limits));
        let conn = builder.serve_connection(io, service).into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _permit = permit;
            let _open = open;
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
