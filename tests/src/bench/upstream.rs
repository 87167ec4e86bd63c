//! The static Gemini-shaped upstream (`--upstream static`): fixed answers, no checks, so no proxy
//! under test waits on the mock's work.
//!
//! A minimal hyper HTTP/1.1 server on its own thread (a current-thread tokio runtime, so it uses
//! at most one core). Every `POST …:generateContent` gets the same valid `GenerateContentResponse`
//! (one candidate with text, `finishReason: STOP`, `usageMetadata`, `modelVersion`);
//! `POST …:streamGenerateContent?alt=sse` gets the same few SSE events (without `alt=sse`, the
//! same chunks as a JSON array); `GET /v1beta/models` a one-model list and
//! `GET /v1beta/models/{m}` that model. Keys are not checked. Anything else is a Gemini-shaped
//! 404, counted, so the report can say a proxy asked for something the bench did not expect.

use super::*;

use std::sync::Mutex;

use hyper::body::Incoming;
use hyper::{Method, Response};
use tokio::sync::oneshot;

/// What the static upstream saw.
#[derive(Default)]
pub(super) struct UpstreamCounts {
    pub(super) generate: AtomicU64,
    pub(super) stream: AtomicU64,
    pub(super) models: AtomicU64,
    pub(super) unknown: AtomicU64,
    pub(super) first_unknown: Mutex<Option<String>>,
}

/// The fixed answers, built once.
struct Answers {
    generate: Bytes,
    sse: Bytes,
    array: Bytes,
    models: Bytes,
    model: Bytes,
}

/// A running static upstream; stops when dropped.
pub(super) struct StaticUpstream {
    pub(super) addr: SocketAddr,
    pub(super) counts: Arc<UpstreamCounts>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

const MODEL: &str = "gemini-2.5-flash";

impl StaticUpstream {
    /// Starts the server on 127.0.0.1; `text_bytes` is the size of the answer's text (the mock
    /// echoes the prompt, so the bench passes the prompt's size to keep bodies alike).
    pub(super) fn start(text_bytes: usize) -> anyhow::Result<StaticUpstream> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let answers = Arc::new(answers(text_bytes));
        let counts = Arc::new(UpstreamCounts::default());
        let (shutdown, mut stop) = oneshot::channel::<()>();
        let thread = {
            let counts = Arc::clone(&counts);
            std::thread::Builder::new()
                .name("static-upstream".into())
                .spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a current-thread runtime");
                    runtime.block_on(async move {
                        let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                        loop {
                            let accepted = tokio::select! {
                                accepted = listener.accept() => accepted,
                                _ = &mut stop => return,
                            };
                            let Ok((stream, _)) = accepted else { continue };
                            crate::best_effort(stream.set_nodelay(true));
                            let (answers, counts) = (Arc::clone(&answers), Arc::clone(&counts));
                            tokio::spawn(async move {
                                let service = hyper::service::service_fn(move |req| {
                                    answer(Arc::clone(&answers), Arc::clone(&counts), req)
                                });
                                crate::best_effort(
                                    hyper::server::conn::http1::Builder::new()
                                        .serve_connection(TokioIo::new(stream), service)
                                        .await,
                                );
                            });
                        }
                    });
                })?
        };
        Ok(StaticUpstream {
            addr,
            counts,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    pub(super) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// One line for the report: what was asked of the upstream.
    pub(super) fn summary(&self) -> String {
        let c = &self.counts;
        let mut line = format!(
            "static upstream answered {} generateContent, {} streamGenerateContent, {} models requests",
            c.generate.load(Ordering::Relaxed),
            c.stream.load(Ordering::Relaxed),
            c.models.load(Ordering::Relaxed)
        );
        let unknown = c.unknown.load(Ordering::Relaxed);
        if unknown > 0 {
            let first = c.first_unknown.lock().map(|f| f.clone()).unwrap_or_default();
            crate::best_effort(write!(
                line,
                "; {unknown} other requests got a 404 (first: {})",
                first.unwrap_or_default()
            ));
        }
        line
    }
}

impl Drop for StaticUpstream {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            crate::best_effort(tx.send(()));
        }
        // Open keep-alive connections are tasks of the runtime, dropped with it.
        if let Some(thread) = self.thread.take() {
            crate::best_effort(thread.join());
        }
    }
}

async fn answer(
    answers: Arc<Answers>,
    counts: Arc<UpstreamCounts>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let sse = req.uri().query().is_some_and(|q| q.split('&').any(|p| p == "alt=sse"));
    // Read the whole request, as a real upstream would.
    req.into_body().collect().await?;
    let (content_type, body) = if method == Method::POST && path.ends_with(":generateContent") {
        counts.generate.fetch_add(1, Ordering::Relaxed);
        ("application/json; charset=UTF-8", answers.generate.clone())
    } else if method == Method::POST && path.ends_with(":streamGenerateContent") {
        counts.stream.fetch_add(1, Ordering::Relaxed);
        if sse {
            ("text/event-stream", answers.sse.clone())
        } else {
            ("application/json; charset=UTF-8", answers.array.clone())
        }
    } else if method == Method::GET && (path == "/v1beta/models" || path == "/v1/models") {
        counts.models.fetch_add(1, Ordering::Relaxed);
        ("application/json; charset=UTF-8", answers.models.clone())
    } else if method == Method::GET && path.trim_end_matches('/').ends_with(&format!("/models/{MODEL}")) {
        counts.models.fetch_add(1, Ordering::Relaxed);
        ("application/json; charset=UTF-8", answers.model.clone())
    } else {
        counts.unknown.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = counts.first_unknown.lock() {
            first.get_or_insert_with(|| format!("{method} {path}"));
        }
        let error = json!({"error": {"code": 404, "message": format!("{method} {path} is not served by the static upstream"), "status": "NOT_FOUND"}});
        let response = Response::builder()
            .status(404)
            .header(hyper::header::CONTENT_TYPE, "application/json; charset=UTF-8")
            .body(Full::new(Bytes::from(error.to_string())))
            .expect("a valid response");
        return Ok(response);
    };
    Ok(Response::builder()
        .header(hyper::header::CONTENT_TYPE, content_type)
        .body(Full::new(body))
        .expect("a valid response"))
}

fn answers(text_bytes: usize) -> Answers {
    let text = filler(text_bytes);
    let usage = |candidates: u64| {
        json!({
            "promptTokenCount": 210,
            "candidatesTokenCount": candidates,
            "totalTokenCount": 210 + candidates,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 210}],
        })
    };
    let generate = json!({
        "candidates": [{
            "content": {"parts": [{"text": text}], "role": "model"},
            "finishReason": "STOP",
            "index": 0,
        }],
        "usageMetadata": usage(180),
        "modelVersion": MODEL,
        "responseId": "static-bench-answer",
    });
    // Three chunks of the text; only the last has finishReason and the candidates' tokens.
    let words: Vec<&str> = text.split(' ').collect();
    let third = words.len().div_ceil(3).max(1);
    let chunks: Vec<Value> = words
        .chunks(third)
        .enumerate()
        .map(|(i, part)| {
            let last = (i + 1) * third >= words.len();
            let mut piece = part.join(" ");
            if !last {
                piece.push(' ');
            }
            let mut candidate = json!({"content": {"parts": [{"text": piece}], "role": "model"}, "index": 0});
            if last {
                candidate["finishReason"] = json!("STOP");
            }
            json!({
                "candidates": [candidate],
                "usageMetadata": if last { usage(180) } else { json!({"promptTokenCount": 210, "totalTokenCount": 210}) },
                "modelVersion": MODEL,
                "responseId": "static-bench-answer",
            })
        })
        .collect();
    let sse: String = chunks.iter().map(|c| format!("data: {c}\r\n\r\n")).collect();
    let model = json!({
        "name": format!("models/{MODEL}"),
        "version": "001",
        "displayName": "Gemini 2.5 Flash",
        "inputTokenLimit": 1048576,
        "outputTokenLimit": 65536,
        "supportedGenerationMethods": ["generateContent", "countTokens"],
    });
    Answers {
        generate: Bytes::from(generate.to_string()),
        sse: Bytes::from(sse),
        array: Bytes::from(Value::Array(chunks).to_string()),
        models: Bytes::from(json!({"models": [model.clone()]}).to_string()),
        model: Bytes::from(model.to_string()),
    }
}
