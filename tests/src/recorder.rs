//! A recording TCP proxy for HTTP/1.1: what a real client (a coding agent, an SDK) sends to the
//! gateway, byte for byte.
//!
//! [`RecordingProxy::start`] listens on `127.0.0.1:0` and forwards every connection to the
//! target unchanged in both directions (keep-alive and streamed responses pass through as they
//! come); meanwhile it parses the client's side into requests (`Content-Length` or chunked
//! bodies), which [`RecordingProxy::requests`] returns in arrival order. It has its own tokio
//! runtime on a background thread and stops when dropped.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request a client sent through the proxy.
#[derive(Debug, Clone)]
pub struct RecordedHttp {
    /// `POST`, `GET`, ...
    pub method: String,
    /// Path and query, e.g. `/v1/messages?beta=true`.
    pub target: String,
    /// Headers, names lowercase, in order.
    pub headers: Vec<(String, String)>,
    /// The body (chunked encoding removed).
    pub body: Vec<u8>,
}

impl RecordedHttp {
    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or(&self.target)
    }

    /// The body as JSON (`Null` when empty or not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A running recording proxy; stops on drop.
pub struct RecordingProxy {
    addr: SocketAddr,
    recorded: Arc<Mutex<Vec<RecordedHttp>>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl RecordingProxy {
    /// Starts a proxy in front of `target` (e.g. a gateway's address).
    pub fn start(target: SocketAddr) -> RecordingProxy {
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (shutdown_tx, mut shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let log = recorded.clone();
        let thread = std::thread::Builder::new()
            .name("gempool-recorder".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .expect("build the recorder runtime");
                runtime.block_on(async move {
                    let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind the recorder");
                    crate::best_effort(addr_tx.send(listener.local_addr().expect("recorder address")));
                    loop {
                        tokio::select! {
                            _ = &mut shutdown_rx => break,
                            accepted = listener.accept() => {
                                let Ok((client, _)) = accepted else { continue };
                                tokio::spawn(relay(client, target, log.clone()));
                            }
                        }
                    }
                });
                runtime.shutdown_background();
            })
            .expect("spawn the recorder thread");
        let addr = addr_rx.recv().expect("the recorder started");
        RecordingProxy {
            addr,
            recorded,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every complete request so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedHttp> {
        self.recorded.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            crate::best_effort(shutdown.send(()));
        }
        if let Some(thread) = self.thread.take() {
            crate::best_effort(thread.join());
        }
    }
}

/// Forwards one connection both ways, parsing the client's requests as they pass.
async fn relay(mut client: TcpStream, target: SocketAddr, log: Arc<Mutex<Vec<RecordedHttp>>>) {
    let Ok(mut upstream) = TcpStream::connect(target).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.split();
    let (mut upstream_read, mut upstream_write) = upstream.split();
    let to_upstream = async {
        let mut pending: Vec<u8> = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if upstream_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
            pending.extend_from_slice(&buf[..n]);
            while let Some((request, used)) = parse_request(&pending) {
                pending.drain(..used);
                if let Ok(mut log) = log.lock() {
                    log.push(request);
                }
            }
        }
        crate::best_effort(upstream_write.shutdown().await);
    };
    let to_client = async {
        crate::best_effort(tokio::io::copy(&mut upstream_read, &mut client_write).await);
        crate::best_effort(client_write.shutdown().await);
    };
    tokio::join!(to_upstream, to_client);
}

/// Parses one complete request off the front of `bytes`: the request and the bytes it used.
/// `None` until the whole request (head and body) has arrived.
pub fn parse_request(bytes: &[u8]) -> Option<(RecordedHttp, usize)> {
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&bytes[..head_end]).ok()?;
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_string();
    let target = request_line.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let chunked = header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let (body, used) = if chunked {
        let mut body = Vec::new();
        let mut at = head_end;
        loop {
            let line_end = bytes[at..].windows(2).position(|w| w == b"\r\n")? + at;
            let size_text = std::str::from_utf8(&bytes[at..line_end]).ok()?;
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            at = line_end + 2;
            if size == 0 {
                // No trailers: the last chunk is followed by an empty line.
                if bytes.len() < at + 2 {
                    return None;
                }
                break (body, at + 2);
            }
            if bytes.len() < at + size + 2 {
                return None;
            }
            body.extend_from_slice(&bytes[at..at + size]);
            at += size + 2;
        }
    } else {
        let length: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        if bytes.len() < head_end + length {
            return None;
        }
        (bytes[head_end..head_end + length].to_vec(), head_end + length)
    };
    Some((
        RecordedHttp {
            method,
            target,
            headers,
            body,
        },
        used,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_length_and_chunked_bodies_and_waits_for_the_rest() {
        let raw = b"POST /v1/messages?beta=true HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}GET /v1/models HTTP/1.1\r\n\r\n";
        let (first, used) = parse_request(raw).unwrap();
        assert_eq!((first.method.as_str(), first.path()), ("POST", "/v1/messages"));
        assert_eq!(first.body, b"{}");
        assert_eq!(first.header("HOST"), Some("x"));
        let (second, rest) = parse_request(&raw[used..]).unwrap();
        assert_eq!(second.target, "/v1/models");
        assert_eq!(used + rest, raw.len());

        let chunked = b"POST /r HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4;x=y\r\n\":1}\r\n0\r\n\r\n";
        let (request, used) = parse_request(chunked).unwrap();
        assert_eq!(request.json(), serde_json::json!({"a": 1}));
        assert_eq!(used, chunked.len());
        for cut in [10, chunked.len() - 1] {
            assert!(parse_request(&chunked[..cut]).is_none(), "{cut}");
        }
        assert!(parse_request(b"POST /r HTTP/1.1\r\nContent-Length: 5\r\n\r\n{}").is_none());
    }
}
