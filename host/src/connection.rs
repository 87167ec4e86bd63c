//! What a client connection may cost: how long it may take to send a request head, how long
//! it may sit idle between requests, how slowly it may send a body or read a response.
//!
//! hyper has one knob for this (`header_read_timeout`, which also covers the idle wait between
//! keep-alive requests), so the host keeps its own books instead:
//! - [`ConnState`] knows whether the connection has a request in flight (the server marks
//!   requests with [`ConnState::request_started`]; the guard lives until the response body is
//!   done or dropped) and when the last request ended or the next head began;
//! - [`GuardedIo`] wraps the socket: a read that is pending past the deadline of the current
//!   phase (idle: `idle_timeout` after the last response; head: `header_timeout` after its
//!   first byte, or after accept for a new connection) fails with `TimedOut`, which makes hyper
//!   close the connection; a write stalled past `send_timeout` does the same. While a request
//!   is in flight reads have no deadline here: its body has its own, in [`ClientBody`];
//! - [`ClientBody`] wraps a request body: a pause longer than `body_timeout`, or an average rate
//!   below `body_min_rate` once the body has been arriving for `body_timeout`, ends it with an
//!   error and raises a flag the server turns into a 408.

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;
use wasmtime_wasi_http::Error;

/// Timeouts and limits of client connections (the `--client-*` and `--max-connections` flags).
/// `None` means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// From accept, or from the first byte after an idle wait, to a complete request head.
    pub header_timeout: Option<Duration>,
    /// From the end of a response to the first byte of the next request.
    pub idle_timeout: Option<Duration>,
    /// Longest pause between two reads of a request body; also the grace period of
    /// `body_min_rate`.
    pub body_timeout: Option<Duration>,
    /// Slowest average body rate in bytes per second after the grace period (0: none).
    pub body_min_rate: u64,
    /// Longest time a write to the client may stay blocked.
    pub send_timeout: Option<Duration>,
    /// Open connections at once.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    /// In the spirit of nginx (`client_header_timeout`, `keepalive_timeout 75s`,
    /// `client_body_timeout 60s`, `send_timeout 60s`), with a shorter head timeout.
    fn default() -> Self {
        Self {
            header_timeout: Some(Duration::from_secs(30)),
            idle_timeout: Some(Duration::from_secs(75)),
            body_timeout: Some(Duration::from_secs(60)),
            body_min_rate: 1024,
            send_timeout: Some(Duration::from_secs(60)),
            max_connections: 10_000,
        }
    }
}

impl ConnectionLimits {
    /// No timeouts at all (what the server did before these limits existed).
    pub fn unlimited() -> Self {
        Self {
            header_timeout: None,
            idle_timeout: None,
            body_timeout: None,
            body_min_rate: 0,
            send_timeout: None,
            max_connections: usize::MAX >> 4,
        }
    }

    /// The part that applies to request bodies.
    pub fn body(&self) -> BodyLimits {
        BodyLimits {
            pause: self.body_timeout,
            min_rate: self.body_min_rate,
        }
    }
}

/// Where one connection is between requests.
#[derive(Debug)]
pub struct ConnState(Mutex<Phase>);

#[derive(Debug)]
struct Phase {
    /// Requests handed to the server and not yet answered in full.
    active: usize,
    /// When the connection last became idle.
    idle_since: Instant,
    /// When the head being read began (set on accept, so a new connection gets the head timeout).
    head_since: Option<Instant>,
    /// The reader parked while a request was in flight (no deadline, so no timer armed). hyper
    /// polls the socket again only when it is readable; when the connection turns idle this
    /// wakes the reader so the idle deadline gets armed.
    parked_reader: Option<Waker>,
}

impl ConnState {
    /// A connection accepted now: its first request head is due within the head timeout.
    pub fn new() -> Arc<Self> {
        let now = Instant::now();
        Arc::new(Self(Mutex::new(Phase {
            active: 0,
            idle_since: now,
            head_since: Some(now),
            parked_reader: None,
        })))
    }

    fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks a request in flight until the returned guard is dropped.
    pub fn request_started(self: &Arc<Self>) -> InFlightRequest {
        let mut phase = self.phase();
        phase.active += 1;
        phase.head_since = None;
        InFlightRequest(Arc::clone(self))
    }

    /// Bytes arrived from the client.
    fn bytes_arrived(&self) {
        let mut phase = self.phase();
        if phase.active == 0 && phase.head_since.is_none() {
            phase.head_since = Some(Instant::now());
        }
    }

    /// When a pending read must give up, and why; `None` while a request is in flight (then
    /// `reader` is woken when the connection turns idle).
    fn read_deadline(&self, limits: &ConnectionLimits, reader: &Waker) -> Option<(Instant, &'static str)> {
        let mut phase = self.phase();
        if phase.active > 0 {
            phase.parked_reader = Some(reader.clone());
            return None;
        }
        match phase.head_since {
            Some(since) => limits
                .header_timeout
                .map(|t| (since + t, "the request head did not arrive in time")),
            None => limits
                .idle_timeout
                .map(|t| (phase.idle_since + t, "the keep-alive connection was idle too long")),
        }
    }
}

/// A request in flight on a connection; dropping it makes the connection idle (when it was
/// the last one).
#[derive(Debug)]
pub struct InFlightRequest(Arc<ConnState>);

impl Drop for InFlightRequest {
    fn drop(&mut self) {
        let mut phase = self.0.phase();
        phase.active = phase.active.saturating_sub(1);
        if phase.active == 0 {
            phase.idle_since = Instant::now();
            phase.head_since = None;
            if let Some(reader) = phase.parked_reader.take() {
                reader.wake();
            }
        }
    }
}

/// A client socket with the connection's read and write deadlines.
pub struct GuardedIo<S> {
    io: S,
    conn: Arc<ConnState>,
    limits: ConnectionLimits,
    read_timer: Pin<Box<Sleep>>,
    write_timer: Pin<Box<Sleep>>,
    write_blocked_since: Option<Instant>,
}

impl<S> GuardedIo<S> {
    /// Wraps `io`, whose phase `conn` tracks.
    pub fn new(io: S, conn: Arc<ConnState>, limits: ConnectionLimits) -> Self {
        let far = tokio::time::Instant::now() + Duration::from_secs(86_400);
        Self {
            io,
            conn,
            limits,
            read_timer: Box::pin(tokio::time::sleep_until(far)),
            write_timer: Box::pin(tokio::time::sleep_until(far)),
            write_blocked_since: None,
        }
    }

    /// For a write that is pending: an error once it has been blocked past the send timeout.
    fn write_stalled(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let Some(limit) = self.limits.send_timeout else {
            return Poll::Pending;
        };
        let since = *self.write_blocked_since.get_or_insert_with(Instant::now);
        let at = tokio::time::Instant::from_std(since + limit);
        if self.write_timer.deadline() != at {
            self.write_timer.as_mut().reset(at);
        }
        ready!(self.write_timer.as_mut().poll(cx));
        tracing::debug!("closing a client connection: the client did not read its response in time");
        Poll::Ready(io::Error::new(
            io::ErrorKind::TimedOut,
            "the client did not read its response in time",
        ))
    }

    fn write_done<T>(&mut self, result: Poll<io::Result<T>>, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        match result {
            Poll::Ready(result) => {
                self.write_blocked_since = None;
                Poll::Ready(result)
            }
            Poll::Pending => self.write_stalled(cx).map(Err),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for GuardedIo<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.conn.bytes_arrived();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let Some((at, why)) = this.conn.read_deadline(&this.limits, cx.waker()) else {
                    return Poll::Pending;
                };
                let at = tokio::time::Instant::from_std(at);
                if this.read_timer.deadline() != at {
                    this.read_timer.as_mut().reset(at);
                }
                ready!(this.read_timer.as_mut().poll(cx));
                tracing::debug!("closing a client connection: {why}");
                Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, why)))
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for GuardedIo<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.io).poll_write(cx, buf);
        this.write_done(result, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.write_done(result, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.io).poll_flush(cx);
        this.write_done(result, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// How slowly a request body may arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BodyLimits {
    /// Longest pause between frames; also the grace period before `min_rate` applies.
    pub pause: Option<Duration>,
    /// Bytes per second on average once the grace period is over (0: no minimum).
    pub min_rate: u64,
}

/// A request body with [`BodyLimits`]. When a limit is hit the body ends with
/// `ConnectionReadTimeout` and [`ClientBody::timed_out`]'s flag is raised.
pub struct ClientBody {
    incoming: Incoming,
    limits: BodyLimits,
    /// When the body was first read (a guest that does not read it pays nothing).
    started: Option<Instant>,
    last_frame: Instant,
    received: u64,
    timer: Pin<Box<Sleep>>,
    timed_out: Arc<AtomicBool>,
    done: bool,
}

impl ClientBody {
    /// Wraps `incoming`.
    pub fn new(incoming: Incoming, limits: BodyLimits) -> Self {
        let now = Instant::now();
        Self {
            incoming,
            limits,
            started: None,
            last_frame: now,
            received: 0,
            timer: Box::pin(tokio::time::sleep_until(tokio::time::Instant::from_std(now))),
            timed_out: Arc::new(AtomicBool::new(false)),
            done: false,
        }
    }

    /// Raised when the body was cut for being too slow.
    pub fn timed_out(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.timed_out)
    }

    /// When the body is overdue: the pause limit after the last frame, or the moment its
    /// average rate drops below the minimum (never before the grace period ends).
    fn deadline(&self, started: Instant) -> Option<Instant> {
        let pause = self.limits.pause?;
        let by_pause = self.last_frame + pause;
        if self.limits.min_rate == 0 {
            return Some(by_pause);
        }
        let needed = Duration::from_secs_f64(self.received as f64 / self.limits.min_rate as f64);
        let by_rate = started + needed.max(pause);
        Some(by_pause.min(by_rate))
    }

    fn cut(&mut self) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        tracing::debug!(
            received = self.received,
            "cutting a request body that arrives too slowly"
        );
        self.timed_out.store(true, Ordering::Relaxed);
        self.done = true;
        Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
    }
}

impl Body for ClientBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let now = Instant::now();
        let started = *this.started.get_or_insert_with(|| {
            this.last_frame = now;
            now
        });
        match Pin::new(&mut this.incoming).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received += data.len() as u64;
                }
                this.last_frame = now;
                if this.deadline(started).is_some_and(|at| at <= now) {
                    return this.cut();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Error::Hyper(e)))),
            Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => {
                let Some(at) = this.deadline(started) else {
                    return Poll::Pending;
                };
                let at = tokio::time::Instant::from_std(at);
                if this.timer.deadline() != at {
                    this.timer.as_mut().reset(at);
                }
                ready!(this.timer.as_mut().poll(cx));
                this.cut()
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt as _;

    #[tokio::test]
    async fn a_client_that_does_not_read_its_response_is_cut_after_the_send_timeout() {
        let limits = ConnectionLimits {
            send_timeout: Some(Duration::from_millis(300)),
            ..ConnectionLimits::default()
        };
        // A peer with a 1 KiB buffer that never reads.
        let (near, _far) = tokio::io::duplex(1024);
        let mut io = GuardedIo::new(near, ConnState::new(), limits);
        let started = Instant::now();
        let mut written = 0usize;
        let error = loop {
            match io.write(&[0u8; 256]).await {
                Ok(n) => written += n,
                Err(e) => break e,
            }
        };
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(written, 1024);
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_secs(2),
            "{took:?}"
        );
    }

    #[test]
    fn a_connection_waits_for_its_head_then_idles_between_requests() {
        let limits = ConnectionLimits {
            header_timeout: Some(Duration::from_secs(2)),
            idle_timeout: Some(Duration::from_secs(7)),
            ..ConnectionLimits::default()
        };
        let conn = ConnState::new();
        let waker = Waker::noop();
        let (at, why) = conn.read_deadline(&limits, waker).unwrap();
        assert!(why.contains("head"));
        assert!(at <= Instant::now() + Duration::from_secs(2));
        let request = conn.request_started();
        assert_eq!(
            conn.read_deadline(&limits, waker),
            None,
            "no deadline while a request is in flight"
        );
        conn.bytes_arrived();
        assert_eq!(conn.read_deadline(&limits, waker), None);
        drop(request);
        let (at, why) = conn.read_deadline(&limits, waker).unwrap();
        assert!(why.contains("idle"));
        assert!(at > Instant::now() + Duration::from_secs(6));
        conn.bytes_arrived();
        let (at, why) = conn.read_deadline(&limits, waker).unwrap();
        assert!(why.contains("head"));
        assert!(at <= Instant::now() + Duration::from_secs(2));
        let unlimited = ConnectionLimits::unlimited();
        assert_eq!(conn.read_deadline(&unlimited, waker), None);
    }
}
