//! The guest's outgoing requests go through one pooled client: the real gateway component,
//! pointed at a tiny counting upstream, reuses upstream connections across requests instead of
//! connecting once per request (wasmtime-wasi-http's default).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gempool_host::metrics::Metrics;
use gempool_host::server::{self, Handler};
use gempool_host::spin::sqlite::SqliteBackend;
use gempool_host::spin::variables::Variables;
use gempool_host::{bootstrap, component, migrations, GUEST_WASM};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

const ANSWER: &str = r#"{"candidates":[{"content":{"parts":[{"text":"pong"}],"role":"model"},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":1,"totalTokenCount":2},"modelVersion":"gemini-2.5-flash"}"#;

/// An HTTP/1.1 upstream that answers every request with [`ANSWER`] (keep-alive) and counts
/// the TCP connections it accepts and the requests it serves.
struct Upstream {
    url: String,
    connections: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
}

async fn counting_upstream() -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(AtomicUsize::new(0));
    let (accepted, served) = (Arc::clone(&connections), Arc::clone(&requests));
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            accepted.fetch_add(1, SeqCst);
            let served = Arc::clone(&served);
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let served = Arc::clone(&served);
                async move {
                    assert_eq!(req.headers()["x-goog-api-key"], "k1");
                    req.into_body().collect().await.unwrap();
                    served.fetch_add(1, SeqCst);
                    let mut response = Response::new(Full::new(Bytes::from_static(ANSWER.as_bytes())));
                    response
                        .headers_mut()
                        .insert("content-type", "application/json".parse().unwrap());
                    Ok::<_, Infallible>(response)
                }
            });
            tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    Upstream {
        url,
        connections,
        requests,
    }
}

/// The real gateway component in open mode with one upstream key, served on a local port.
async fn gateway(upstream_url: &str) -> std::net::SocketAddr {
    let sqlite = SqliteBackend::open_in_memory().unwrap();
    sqlite
        .with_connection(|conn| {
            migrations::apply(conn, migrations::embedded()).unwrap();
            bootstrap::import_upstream_keys(conn, &["k1".to_owned()])
        })
        .unwrap();
    let vars = Variables::new(HashMap::from([
        ("upstream_url".to_owned(), upstream_url.to_owned()),
        ("open_access".to_owned(), "true".to_owned()),
    ]));
    let engine = component::engine().unwrap();
    let component = wasmtime::component::Component::new(&engine, GUEST_WASM).unwrap();
    let pre = component::proxy_pre(&engine, &component).unwrap();
    let handler = Handler::new(pre, Arc::new(sqlite), Arc::new(vars), Arc::new(Metrics::default()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(server::serve(listener, handler, std::future::pending()));
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_requests_reuse_upstream_connections() {
    const REQUESTS: usize = 20;
    let upstream = counting_upstream().await;
    let addr = gateway(&upstream.url).await;

    // One keep-alive connection to the gateway, requests one after another.
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    for i in 0..REQUESTS {
        sender.ready().await.unwrap();
        let request = Request::post("/v1beta/models/gemini-2.5-flash:generateContent")
            .header("host", "gateway")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(
                br#"{"contents":[{"role":"user","parts":[{"text":"ping"}]}]}"#,
            )))
            .unwrap();
        let response = tokio::time::timeout(Duration::from_secs(10), sender.send_request(request))
            .await
            .expect("a response within 10 s")
            .unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8_lossy(&body);
        assert_eq!(status, 200, "request {i}: {body}");
        assert!(body.contains("pong"), "request {i}: {body}");
    }

    assert_eq!(upstream.requests.load(SeqCst), REQUESTS, "one upstream request each");
    let connections = upstream.connections.load(SeqCst);
    // Sequential requests need one connection; allow a spare in case the upstream side closes
    // one, but nowhere near one per request.
    assert!(
        connections <= 2,
        "{REQUESTS} sequential requests opened {connections} upstream connections"
    );
}
