//! The server's own behaviour, independent of the gateway's logic: a guest that traps or never
//! answers yields the fixed JSON 500, `/metrics` is answered by the host, and shutdown returns.
//!
//! The guests here are tiny components written in WAT that export
//! `wasi:http/incoming-handler@0.2.0` with a `handle` whose body is the behaviour under test.

use std::sync::Arc;
use std::time::Duration;

use gempool_host::component;
use gempool_host::metrics::Metrics;
use gempool_host::server::{self, Handler};
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
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn start(wat: &str) -> Running {
    let engine = component::engine().unwrap();
    let component = wasmtime::component::Component::new(&engine, wat).unwrap();
    let pre = component::proxy_pre(&engine, &component).unwrap();
    let handler = Handler::new(
        pre,
        Arc::new(SqliteBackend::open_in_memory().unwrap()),
        Arc::new(Variables::default()),
        Arc::new(Metrics::default()),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server::serve(listener, handler, async {
        let _ = stopped.await;
    }));
    Running { addr, stop, task }
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
async fn a_guest_that_never_answers_gets_a_json_500() {
    let server = start(&handler_component("")).await;
    let response = get(server.addr, "/").await;
    assert!(response.starts_with("HTTP/1.1 500"), "{response}");
    assert!(response.ends_with(INTERNAL_ERROR), "{response}");
    server.stop().await;
}

#[tokio::test]
async fn metrics_are_served_by_the_host() {
    let server = start(&handler_component("unreachable")).await;
    get(server.addr, "/boom").await;
    let response = get(server.addr, "/metrics").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("text/plain; version=0.0.4"), "{response}");
    assert!(response.contains("gempool_requests_total 1\n"), "{response}");
    assert!(
        response.contains("gempool_responses_total{status=\"5xx\"} 1\n"),
        "{response}"
    );
    assert!(response.contains("gempool_requests_in_flight 0\n"), "{response}");
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
