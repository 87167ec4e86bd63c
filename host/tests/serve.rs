//! The server's own behaviour, independent of the gateway's logic: a guest that traps or never
//! answers yields a JSON 500 in the caller's shape, the host counts its figures (and adds them only
//! to a guest's own `/metrics` answer), shutdown
//! returns, a looping guest is stopped at its CPU limit without holding a worker thread, the
//! instance limit answers a shaped 503, and client connections are closed when they idle, dawdle
//! over their request head, or trickle it.
//!
//! The guests here are tiny components written in WAT that export
//! `wasi:http/incoming-handler@0.2.0` with a `handle` whose body is the behaviour under test.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gempool_host::component;
use gempool_host::metrics::Metrics;
use gempool_host::server::{self, ConnectionLimits, Handler, RequestLimits};
use gempool_host::spin::sqlite::SqliteBackend;
use gempool_host::spin::variables::Variables;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A handler component whose `handle` core function has the body `body`.
fn handler_component(body: &str) -> String {
    format!(
        r#"(component
  (import "wasi:http/types@0.2.0" (instance $types
    (export "incoming-request" (type (sub resource)))
    (export "response-outparam" (type (sub resource)))))
  (alias export $types "incoming-request" (type $req))
  (alias export $types "response-outparam" (type $out))
  (core module $m (func (export "handle") (param i32 i32) {body}))
  (core instance $i (instantiate $m))
  (func $handle (param "request" (own $req)) (param "response-out" (own $out))
    (canon lift (core func $i "handle")))
  (instance $h (export "handle" (func $handle)))
  (export "wasi:http/incoming-handler@0.2.0" (instance $h)))"#
    )
}

struct Running {
    addr: std::net::SocketAddr,
    /// The host's figures (the guests here cannot answer `/metrics` themselves).
    metrics: Arc<Metrics>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn start(wat: &str) -> Running {
    start_with(wat, ConnectionLimits::unlimited(), RequestLimits::default()).await
}

async fn start_with(wat: &str, connections: ConnectionLimits, requests: RequestLimits) -> Running {
    let engine = component::engine_with(requests.max_instances).unwrap();
    let component = wasmtime::component::Component::new(&engine, wat).unwrap();
    let pre = component::proxy_pre(&engine, &component).unwrap();
    let metrics = Arc::new(Metrics::default());
    let handler = Handler::with_limits(
        pre,
        Arc::new(SqliteBackend::open_in_memory().unwrap()),
        Arc::new(Variables::default()),
        Arc::clone(&metrics),
        requests,
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server::serve_with(listener, handler, connections, async {
        // The signal, or its sender dropped: either way the server stops.
        stopped.await.unwrap_or(());
    }));
    Running {
        addr,
        metrics,
        stop,
        task,
    }
}

impl Running {
    async fn stop(self) {
        self.stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("shutdown finishes promptly")
            .unwrap()
            .unwrap();
    }
}

/// One HTTP/1.1 request over a fresh connection; returns the whole response as text.
async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut response))
        .await
        .expect("a response within 10 s")
        .unwrap();
    response
}

const INTERNAL_ERROR: &str = r#"{"error":{"code":500,"message":"internal error","status":"INTERNAL"}}"#;

#[tokio::test]
async fn a_trapping_guest_gets_a_json_500() {
    let server = start(&handler_component("unreachable")).await;
    let response = get(server.addr, "/v1beta/models").await;
    assert!(response.starts_with("HTTP/1.1 500"), "{response}");
    assert!(response.contains("content-type: application/json"), "{response}");
    assert!(response.ends_with(INTERNAL_ERROR), "{response}");
    // The server survives and keeps answering.
    assert!(get(server.addr, "/again").await.starts_with("HTTP/1.1 500"));
    server.stop().await;
}

#[tokio::test]
async fn a_guest_that_never_answers_gets_a_json_500_in_the_callers_shape() {
    let server = start(&handler_component("")).await;
    let response = get(server.addr, "/v1beta/models/m:generateContent").await;
    assert!(response.starts_with("HTTP/1.1 500"), "{response}");
    assert!(response.ends_with(INTERNAL_ERROR), "{response}");
    // OpenAI's shape for an OpenAI path.
    let response = get(server.addr, "/v1/chat/completions").await;
    assert!(response.starts_with("HTTP/1.1 500"), "{response}");
    assert!(
        response.ends_with(r#"{"error":{"message":"internal error","type":"server_error","param":null,"code":null}}"#),
        "{response}"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_host_counts_requests_and_adds_its_figures_only_to_a_guests_metrics() {
    let server = start(&handler_component("unreachable")).await;
    get(server.addr, "/boom").await;
    let figures = server.metrics.render();
    assert!(figures.contains("gempool_requests_total 1\n"), "{figures}");
    assert!(
        figures.contains("gempool_responses_total{status=\"5xx\"} 1\n"),
        "{figures}"
    );
    assert!(figures.contains("gempool_requests_in_flight 0\n"), "{figures}");
    // `/metrics` is the guest's (behind its key): a guest that fails it gets no host figures
    // added, so they never leak past the guest's refusal.
    let response = get(server.addr, "/metrics").await;
    assert!(response.starts_with("HTTP/1.1 500"), "{response}");
    assert!(!response.contains("gempool_"), "{response}");
    server.stop().await;
}

#[tokio::test]
async fn a_request_without_host_is_a_client_error() {
    let server = start(&handler_component("unreachable")).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.0 400"), "{response}");
    server.stop().await;
}

/// A guest whose `handle` never returns and never calls the host.
fn looping_guest() -> String {
    handler_component("(loop $spin (br $spin))")
}

fn limits(header: f64, idle: f64) -> ConnectionLimits {
    ConnectionLimits {
        header_timeout: Some(Duration::from_secs_f64(header)),
        idle_timeout: Some(Duration::from_secs_f64(idle)),
        ..ConnectionLimits::default()
    }
}

/// Reads until the server closes the connection; returns what was read and when it closed
/// (None if it was still open after `patience`).
async fn read_until_closed(stream: &mut TcpStream, patience: Duration) -> (String, Option<Instant>) {
    let deadline = tokio::time::Instant::now() + patience;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return (String::from_utf8_lossy(&seen).into_owned(), None),
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&seen).into_owned(), Some(Instant::now())),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_looping_guest_is_stopped_at_its_cpu_limit_and_does_not_hold_the_worker() {
    let requests = RequestLimits {
        cpu_limit: Some(Duration::from_secs(1)),
        ..RequestLimits::default()
    };
    let server = start_with(&looping_guest(), ConnectionLimits::unlimited(), requests).await;
    let started = Instant::now();
    let looping = tokio::spawn(get(server.addr, "/v1/messages"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    // One worker thread: the host answers (a request it refuses itself: no Host header) only if
    // the looping guest yields it.
    let probe = async {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    };
    let answer = tokio::time::timeout(Duration::from_millis(700), probe)
        .await
        .expect("the host answers while a guest loops");
    assert!(answer.starts_with("HTTP/1.0 400"), "{answer}");
    let metrics = server.metrics.render();
    assert!(metrics.contains("gempool_requests_in_flight 1\n"), "{metrics}");
    let response = looping.await.unwrap();
    let took = started.elapsed();
    assert!(response.starts_with("HTTP/1.1 500"), "{response}");
    // Anthropic's shape for an Anthropic path, saying what happened.
    assert!(response.contains(r#"{"type":"error","error":{"type":"api_error","message":"the gateway stopped this request after 1 s of processing"}}"#), "{response}");
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(4),
        "{took:?}"
    );
    let metrics = server.metrics.render();
    assert!(metrics.contains("gempool_requests_in_flight 0\n"), "{metrics}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_the_instance_limit_requests_get_a_503_in_their_shape() {
    let requests = RequestLimits {
        max_instances: 1,
        cpu_limit: Some(Duration::from_millis(1500)),
    };
    let server = start_with(&looping_guest(), ConnectionLimits::unlimited(), requests).await;
    let busy = tokio::spawn(get(server.addr, "/v1/chat/completions"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cases = [
        (
            "/v1/messages",
            r#"{"type":"error","error":{"type":"overloaded_error","message":"the gateway is serving its limit of 1 requests at once; retry in 1 s"}}"#,
        ),
        (
            "/v1/chat/completions",
            r#"{"error":{"message":"the gateway is serving its limit of 1 requests at once; retry in 1 s","type":"server_error","param":null,"code":"overloaded"}}"#,
        ),
        (
            "/v1beta/models/gemini-2.5-flash:generateContent",
            r#"{"error":{"code":503,"message":"the gateway is serving its limit of 1 requests at once; retry in 1 s","status":"UNAVAILABLE"}}"#,
        ),
    ];
    for (path, body) in cases {
        let started = Instant::now();
        let response = get(server.addr, path).await;
        assert!(started.elapsed() < Duration::from_millis(500), "answered at once");
        assert!(response.starts_with("HTTP/1.1 503"), "{response}");
        assert!(response.contains("\r\nretry-after: 1\r\n"), "{response}");
        assert!(response.ends_with(body), "{response}");
    }
    assert!(busy.await.unwrap().starts_with("HTTP/1.1 500"));
    // The slot is free again.
    let again = get(server.addr, "/v1/chat/completions").await;
    assert!(again.starts_with("HTTP/1.1 500"), "{again}");
    let metrics = server.metrics.render();
    assert!(
        metrics.contains("gempool_requests_rejected_busy_total 3\n"),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let server = start_with(
        &handler_component("unreachable"),
        limits(5.0, 1.0),
        RequestLimits::default(),
    )
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /v1/models HTTP/1.1\r\nhost: test\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 8192];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 500"));
    let answered = Instant::now();
    let (_, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    let idle = closed.expect("the idle connection is closed").duration_since(answered);
    assert!(
        idle >= Duration::from_millis(900) && idle < Duration::from_millis(2500),
        "{idle:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn silent_half_sent_and_trickled_heads_are_closed_after_the_header_timeout() {
    let server = start_with(
        &handler_component("unreachable"),
        limits(1.0, 10.0),
        RequestLimits::default(),
    )
    .await;
    // A connection that never says anything.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    // Half a request head.
    let mut half = TcpStream::connect(server.addr).await.unwrap();
    half.write_all(b"GET /v1/models HTTP/1.1\r\nhost: test\r\n")
        .await
        .unwrap();
    let opened = Instant::now();
    // A slowloris: one header line every 200 ms, for longer than the timeout.
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    let slowloris = tokio::spawn(async move {
        // The server may have timed the connection out already: that is what is tested.
        slow.write_all(b"GET /v1/models HTTP/1.1\r\nhost: test\r\n")
            .await
            .unwrap_or(());
        for i in 0..25 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if slow
                .write_all(format!("x-trickle-{i}: a\r\n").as_bytes())
                .await
                .is_err()
            {
                return Instant::now();
            }
        }
        let (_, closed) = read_until_closed(&mut slow, Duration::from_secs(3)).await;
        closed.unwrap_or_else(|| panic!("the slowloris connection was still open"))
    });
    for stream in [&mut silent, &mut half] {
        let (_, closed) = read_until_closed(stream, Duration::from_secs(4)).await;
        let after = closed.expect("closed by the server").duration_since(opened);
        assert!(after < Duration::from_millis(2500), "{after:?}");
    }
    let after = slowloris.await.unwrap().duration_since(opened);
    assert!(after < Duration::from_millis(3000), "{after:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_idle_connections_do_not_stop_a_request_and_are_all_closed() {
    let server = start_with(
        &handler_component("unreachable"),
        limits(2.0, 2.0),
        RequestLimits::default(),
    )
    .await;
    let mut idle = Vec::new();
    for _ in 0..1000 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    let started = Instant::now();
    let response = tokio::time::timeout(Duration::from_secs(2), get(server.addr, "/v1/models"))
        .await
        .expect("served despite 1000 idle connections");
    assert!(response.starts_with("HTTP/1.1 500"), "{response}");
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    let metrics = server.metrics.render();
    assert!(metrics.contains("gempool_connections_total 1001\n"), "{metrics}");
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let metrics = server.metrics.render();
    assert!(metrics.contains("gempool_connections_open 0\n"), "{metrics}");
    for stream in &mut idle {
        let (_, closed) = read_until_closed(stream, Duration::from_millis(100)).await;
        assert!(closed.is_some(), "every idle connection is closed");
    }
    server.stop().await;
}

#[tokio::test]
async fn beyond_max_connections_clients_wait_until_one_closes() {
    let connections = ConnectionLimits {
        max_connections: 1,
        ..ConnectionLimits::unlimited()
    };
    let server = start_with(&handler_component("unreachable"), connections, RequestLimits::default()).await;
    let first = TcpStream::connect(server.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let waiting = tokio::spawn(get(server.addr, "/v1/models"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "the second client waits while the first holds the only slot"
    );
    drop(first);
    let response = tokio::time::timeout(Duration::from_secs(2), waiting)
        .await
        .expect("served once the first connection closed")
        .unwrap();
    assert!(response.starts_with("HTTP/1.1 500"), "{response}");
    assert!(server.metrics.render().contains("gempool_connections_total 2\n"));
    server.stop().await;
}
