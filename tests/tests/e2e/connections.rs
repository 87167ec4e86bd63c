//! Hostile and careless clients against the real binary: connections that idle, dawdle over
//! their head or trickle their body are closed (a body gets a 408 in the caller's shape), a
//! thousand idle connections neither stop a request nor stay open, a client that goes away
//! cancels its upstream request, and the instance limit answers 503 with `Retry-After` in the
//! caller's shape. Timeouts are shortened to about a second so each test takes a few seconds.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use gempool_tests::harness::{Gateway, GatewayOptions};
use gempool_tests::mock::{Behavior, MockGemini};
use serde_json::{json, Value};

use crate::{hello, FLASH};

/// A gateway pooling `k1` from `mock` in open mode, with these extra flags.
fn gateway(mock: &MockGemini, flags: &[&str]) -> Gateway {
    let mut options = GatewayOptions::with_mock(mock, &["k1"]).open();
    options.extra_args = flags.iter().map(|f| f.to_string()).collect();
    Gateway::start(options)
}

/// Reads until the peer closes the connection (or `patience` runs out): what was read, and
/// when it closed.
fn read_until_closed(stream: &mut TcpStream, patience: Duration) -> (String, Option<Instant>) {
    let deadline = Instant::now() + patience;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (String::from_utf8_lossy(&seen).into_owned(), None);
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&seen).into_owned(), Some(Instant::now())),
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return (String::from_utf8_lossy(&seen).into_owned(), Some(Instant::now())),
        }
    }
}

/// `name value` of the Prometheus text at `/metrics`.
fn metric(gw: &Gateway, name: &str) -> i64 {
    let text = gw.admin("GET", "/metrics").send().text();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

/// The body of a raw HTTP/1.1 response.
fn body_of(response: &str) -> Value {
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response}"))
}

/// Resident memory of a process in KiB (Linux).
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

#[test]
fn idle_silent_and_slowloris_connections_are_closed() {
    let mock = MockGemini::with_keys(&["k1"]);
    let gw = gateway(&mock, &["--client-header-timeout", "1", "--client-idle-timeout", "1.5"]);

    // An idle keep-alive connection, after one request.
    let mut idle = TcpStream::connect(gw.addr()).unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nhost: t\r\n\r\n").unwrap();
    let mut buf = [0u8; 4096];
    let n = idle.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let answered = Instant::now();
    // A connection that never sends anything, one with half a head, and a slowloris.
    let opened = Instant::now();
    let mut silent = TcpStream::connect(gw.addr()).unwrap();
    let mut half = TcpStream::connect(gw.addr()).unwrap();
    half.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: t\r\n")
        .unwrap();
    let addr = gw.addr();
    let slowloris = std::thread::spawn(move || {
        let mut slow = TcpStream::connect(addr).unwrap();
        gempool_tests::best_effort(slow.write_all(b"GET /v1/models HTTP/1.1\r\nhost: t\r\n"));
        for i in 0..30 {
            std::thread::sleep(Duration::from_millis(200));
            if slow.write_all(format!("x-slow-{i}: a\r\n").as_bytes()).is_err() {
                return Instant::now();
            }
        }
        read_until_closed(&mut slow, Duration::from_secs(2))
            .1
            .expect("the slowloris was cut")
    });

    let (_, closed) = read_until_closed(&mut idle, Duration::from_secs(5));
    let idle_for = closed.expect("the idle connection is closed") - answered;
    assert!(
        idle_for >= Duration::from_millis(1300) && idle_for < Duration::from_secs(3),
        "{idle_for:?}"
    );
    for stream in [&mut silent, &mut half] {
        let (_, closed) = read_until_closed(stream, Duration::from_secs(4));
        let after = closed.expect("closed by the gateway") - opened;
        assert!(
            after >= Duration::from_millis(900) && after < Duration::from_secs(3),
            "{after:?}"
        );
    }
    let after = slowloris.join().unwrap() - opened;
    assert!(after < Duration::from_secs(4), "slowloris held {after:?}");
    assert_eq!(mock.request_count(), 0);
    println!("idle closed after {idle_for:?}; slowloris after {after:?}");
}

#[test]
fn a_body_that_never_arrives_or_trickles_gets_a_408_in_the_callers_shape() {
    let mock = MockGemini::with_keys(&["k1"]);
    let gw = gateway(&mock, &["--client-body-timeout", "1", "--client-body-min-rate", "200"]);
    let body = serde_json::to_vec(&json!({
        "model": "gemini-2.5-flash",
        "messages": [{"role": "user", "content": "x".repeat(3000)}],
    }))
    .unwrap();
    let head = |path: &str, extra: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n{extra}content-length: {}\r\n\r\n",
            body.len()
        )
    };

    // A body that stops after 20 bytes.
    let started = Instant::now();
    let mut stalled = TcpStream::connect(gw.addr()).unwrap();
    stalled.write_all(head("/v1/chat/completions", "").as_bytes()).unwrap();
    stalled.write_all(&body[..20]).unwrap();
    let (response, closed) = read_until_closed(&mut stalled, Duration::from_secs(5));
    let took = started.elapsed();
    assert!(closed.is_some(), "the connection is closed: {response}");
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert_eq!(
        body_of(&response)["error"]["type"],
        "invalid_request_error",
        "OpenAI's shape: {response}"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );

    // A body at 10 B/s (never a pause as long as the timeout) to the Anthropic route.
    let started = Instant::now();
    let mut trickle = TcpStream::connect(gw.addr()).unwrap();
    trickle
        .write_all(head("/v1/messages", "anthropic-version: 2023-06-01\r\n").as_bytes())
        .unwrap();
    let writer = trickle.try_clone().unwrap();
    let body_copy = body.clone();
    std::thread::spawn(move || {
        let mut writer = writer;
        for byte in body_copy.iter().take(100) {
            std::thread::sleep(Duration::from_millis(100));
            if writer.write_all(&[*byte]).is_err() {
                return;
            }
        }
    });
    let (response, closed) = read_until_closed(&mut trickle, Duration::from_secs(6));
    let took = started.elapsed();
    assert!(closed.is_some(), "the connection is closed: {response}");
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert_eq!(body_of(&response)["type"], "error", "Anthropic's shape: {response}");
    assert!(took < Duration::from_secs(4), "{took:?}");

    assert_eq!(mock.request_count(), 0, "nothing went upstream");
    gw.post(FLASH).json(&hello()).send().assert_status(200);
}

#[test]
fn a_thousand_idle_connections_do_not_stop_a_request_and_are_closed() {
    let mock = MockGemini::with_keys(&["k1"]);
    let gw = gateway(&mock, &["--client-header-timeout", "2", "--client-idle-timeout", "2"]);
    gw.post(FLASH).json(&hello()).send().assert_status(200);
    let pid = gw.pid().unwrap();
    let rss_before = rss_kib(pid);
    let opened = Instant::now();
    let idle: Vec<TcpStream> = (0..1000).map(|_| TcpStream::connect(gw.addr()).unwrap()).collect();
    // Let the gateway accept them all.
    let connected_in = opened.elapsed();
    let deadline = Instant::now() + Duration::from_secs(2);
    while metric(&gw, "gempool_connections_open") < 1000 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        metric(&gw, "gempool_connections_open") >= 1000,
        "all 1000 are open at once (connected in {connected_in:?})"
    );
    let rss_with = rss_kib(pid);
    let started = Instant::now();
    gw.post(FLASH)
        .json(&hello())
        .timeout(Duration::from_secs(2))
        .send()
        .assert_status(200);
    let served_in = started.elapsed();
    assert!(served_in < Duration::from_secs(1), "{served_in:?}");

    let deadline = opened + Duration::from_secs(6);
    while metric(&gw, "gempool_connections_open") > 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        metric(&gw, "gempool_connections_open") <= 2,
        "idle connections were closed"
    );
    let all_closed_after = opened.elapsed();
    for mut stream in idle {
        assert!(read_until_closed(&mut stream, Duration::from_millis(200)).1.is_some());
    }
    println!(
        "connected 1000 in {connected_in:?}; RSS before {rss_before:?} KiB, with 1000 idle \
         connections {rss_with:?} KiB; a request served in {served_in:?}; all closed after \
         {all_closed_after:?}"
    );
}

/// An upstream that reads each request and then never answers (or, with `first_chunk`, sends a
/// streaming head and one SSE event and then goes quiet), and records when the gateway closes
/// each connection.
struct HangingUpstream {
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
    closed: mpsc::Receiver<Instant>,
    stop: Arc<AtomicBool>,
}

impl HangingUpstream {
    fn start(first_chunk: bool) -> HangingUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, closed) = mpsc::channel();
        let (count, stopping) = (Arc::clone(&requests), Arc::clone(&stop));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(mut stream) = stream else { continue };
                let (count, tx) = (Arc::clone(&count), tx.clone());
                std::thread::spawn(move || {
                    let mut seen = Vec::new();
                    let mut buf = [0u8; 8192];
                    // The head, then whatever body follows, then nothing until EOF.
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => seen.extend_from_slice(&buf[..n]),
                        }
                    }
                    count.fetch_add(1, Ordering::SeqCst);
                    if first_chunk {
                        let chunk =
                            r#"data: {"candidates":[{"content":{"parts":[{"text":"partial "}],"role":"model"}}]}"#;
                        let event = format!("{chunk}\r\n\r\n");
                        let head = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{event}\r\n",
                            event.len()
                        );
                        gempool_tests::best_effort(stream.write_all(head.as_bytes()));
                    }
                    loop {
                        match stream.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(_) => {}
                        }
                    }
                    gempool_tests::best_effort(tx.send(Instant::now()));
                });
            }
        });
        HangingUpstream {
            addr,
            requests,
            closed,
            stop,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn wait_for_request(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.requests.load(Ordering::SeqCst) < n {
            assert!(Instant::now() < deadline, "the upstream got no request");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for HangingUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        gempool_tests::best_effort(TcpStream::connect(self.addr));
    }
}

#[test]
fn a_client_that_goes_away_cancels_its_upstream_request() {
    for streaming in [false, true] {
        let upstream = HangingUpstream::start(streaming);
        let mut options = GatewayOptions::new(upstream.url()).open();
        options.keys = vec!["k1".into()];
        let gw = Gateway::start(options);
        let (path, body) = if streaming {
            (
                "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
                hello().to_string(),
            )
        } else {
            (FLASH, hello().to_string())
        };
        let mut client = TcpStream::connect(gw.addr()).unwrap();
        let request = format!(
            "POST {path} HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        client.write_all(request.as_bytes()).unwrap();
        upstream.wait_for_request(1);
        if streaming {
            // The head and the first event reach the client before it leaves.
            client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 4096];
            let n = client.read(&mut buf).unwrap();
            assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        }
        assert_eq!(metric(&gw, "gempool_requests_in_flight"), 1);
        let left = Instant::now();
        drop(client);

        let closed = upstream
            .closed
            .recv_timeout(Duration::from_secs(3))
            .unwrap_or_else(|_| {
                panic!(
                    "streaming={streaming}: the upstream connection is still open\n{}",
                    gw.log()
                )
            });
        let deadline = Instant::now() + Duration::from_secs(2);
        while metric(&gw, "gempool_requests_in_flight") != 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(metric(&gw, "gempool_requests_in_flight"), 0, "streaming={streaming}");
        println!(
            "streaming={streaming}: upstream closed {:?} after the client left",
            closed - left
        );
    }
}

#[test]
fn at_the_instance_limit_requests_get_a_503_with_retry_after_in_their_shape() {
    let mock = MockGemini::with_keys(&["k1"]);
    mock.set_behavior("k1", Behavior::Delay { ms: 2500 });
    let gw = gateway(&mock, &["--max-instances", "2"]);
    let busy: Vec<_> = (0..2)
        .map(|_| {
            let client = gw.client();
            std::thread::spawn(move || client.post(FLASH).json(&hello()).send().status)
        })
        .collect();
    assert!(mock.wait_for_requests(2, Duration::from_secs(5)));

    let message = "the gateway is serving its limit of 2 requests at once; retry in 1 s";
    let openai = gw
        .post("/v1/chat/completions")
        .json(&json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}))
        .send();
    openai.assert_status(503);
    assert_eq!(openai.header("retry-after"), Some("1"));
    assert_eq!(openai.json()["error"]["message"], message);
    assert_eq!(openai.json()["error"]["type"], "server_error");
    let anthropic = gw
        .post("/v1/messages")
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "claude-x", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}))
        .send();
    anthropic.assert_status(503);
    assert_eq!(anthropic.header("retry-after"), Some("1"));
    assert_eq!(
        anthropic.json(),
        json!({"type": "error", "error": {"type": "overloaded_error", "message": message}})
    );
    let gemini = gw.post(FLASH).json(&hello()).send();
    gemini.assert_status(503);
    assert_eq!(gemini.header("retry-after"), Some("1"));
    assert_eq!(
        gemini.json(),
        json!({"error": {"code": 503, "message": message, "status": "UNAVAILABLE"}})
    );

    for handle in busy {
        assert_eq!(handle.join().unwrap(), 200);
    }
    mock.set_behavior("k1", Behavior::Ok);
    gw.post(FLASH).json(&hello()).send().assert_status(200);
    assert_eq!(mock.request_count(), 3, "the rejected requests never went upstream");
    assert_eq!(metric(&gw, "gempool_requests_rejected_busy_total"), 3);
}
