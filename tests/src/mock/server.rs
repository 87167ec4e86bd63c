//! The mock's HTTP side: accept loop, routing, auth, behaviors, and response framing
//! (JSON, SSE `data: {json}\r\n\r\n`, or a streamed JSON array).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::{Method, Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::Serialize;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use super::checks::{check_contents, check_generate, check_thought_signatures};
use super::errors::MockError;
use super::images;
use super::models::{self, ModelInfo, MODELS};
use super::reply::{self, Plan};
use super::validate::{self, MsgDesc};
use super::wire::{
    GeminiBatchEmbedContentsRequest, GeminiBatchEmbedContentsResponse, GeminiContent, GeminiContentEmbedding,
    GeminiCountTokensRequest, GeminiCountTokensResponse, GeminiEmbedContentRequest, GeminiEmbedContentResponse,
    GeminiGenerateContentRequest, GeminiListModelsResponse, GeminiModalityTokenCount,
};
use super::{ActiveGuard, Behavior, KeyCheck, RecordedRequest, State};

/// Response bodies can fail, which makes hyper cut the connection mid-body (the
/// truncation behaviors rely on that).
pub(super) type ResponseBody = BoxBody<Bytes, std::io::Error>;

/// Marks a response that must not be sent: the connection is closed instead
/// ([`Behavior::ResetBeforeHeaders`]).
#[derive(Clone, Copy)]
struct CloseWithoutAnswer;

/// Default and maximum embedding width.
const EMBEDDING_WIDTH: i64 = 3072;
/// Gemini's cap on one batchEmbedContents call.
const MAX_BATCH_EMBED: usize = 100;
/// Default and maximum `pageSize` of `GET models`.
const DEFAULT_PAGE_SIZE: usize = 50;
const MAX_PAGE_SIZE: usize = 1000;

/// Accepts connections until `shutdown` fires.
pub(crate) async fn serve(listener: TcpListener, state: Arc<State>, mut shutdown: oneshot::Receiver<()>) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut shutdown => return,
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        crate::best_effort(stream.set_nodelay(true));
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(state.clone(), req));
            crate::best_effort(
                hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await,
            );
        });
    }
}

/// Which method of `models/{m}` was called.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Action {
    Generate,
    Stream,
    CountTokens,
    Embed,
    BatchEmbed,
    Predict,
}

impl Action {
    fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "generateContent" => Action::Generate,
            "streamGenerateContent" => Action::Stream,
            "countTokens" => Action::CountTokens,
            "embedContent" => Action::Embed,
            "batchEmbedContents" => Action::BatchEmbed,
            "predict" => Action::Predict,
            _ => return None,
        })
    }

    /// The `supportedGenerationMethods` entry the model needs, and the name used in 404s.
    fn method(self) -> (&'static str, &'static str) {
        match self {
            Action::Generate => ("generateContent", "generateContent"),
            Action::Stream => ("generateContent", "streamGenerateContent"),
            Action::CountTokens => ("countTokens", "countTokens"),
            Action::Embed => ("embedContent", "embedContent"),
            Action::BatchEmbed => ("embedContent", "batchEmbedContents"),
            Action::Predict => ("predict", "predict"),
        }
    }
}

enum Route {
    List,
    Get(String),
    Call(String, Action),
}

fn parse_route(method: &Method, path: &str) -> Option<(&'static str, Route)> {
    let path = path.replace("%3A", ":").replace("%3a", ":");
    let (version, rest) = if let Some(rest) = path.strip_prefix("/v1beta/") {
        ("v1beta", rest.to_string())
    } else if let Some(rest) = path.strip_prefix("/v1/") {
        ("v1", rest.to_string())
    } else {
        return None;
    };
    let rest = rest.trim_end_matches('/');
    if rest == "models" {
        return (method == Method::GET).then_some((version, Route::List));
    }
    let name = rest.strip_prefix("models/")?;
    if name.is_empty() || name.contains('/') {
        return None;
    }
    match name.split_once(':') {
        None => (method == Method::GET).then(|| (version, Route::Get(name.to_string()))),
        Some((model, action)) => {
            let action = Action::parse(action)?;
            (method == Method::POST && !model.is_empty()).then(|| (version, Route::Call(model.to_string(), action)))
        }
    }
}

/// What one request looked like, for the handlers.
struct Call<'a> {
    state: &'a State,
    version: &'static str,
    key: String,
    query: &'a [(String, String)],
    body: &'a Bytes,
}

impl Call<'_> {
    fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Response<ResponseBody>, std::io::Error> {
    // Counted from arrival until the response body is dropped, so a test can see the gateway
    // abandon a hanging request.
    let guard = ActiveGuard::new(state.clone());
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    let path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let query: Vec<(String, String)> = form_urlencoded::parse(raw_query.as_bytes()).into_owned().collect();
    let header_key = parts
        .headers
        .get("x-goog-api-key")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_string);
    let query_key = query
        .iter()
        .find(|(k, v)| k == "key" && !v.is_empty())
        .map(|(_, v)| v.clone());
    let key_in_query = header_key.is_none() && query_key.is_some();
    let key = header_key.or(query_key);
    let headers = parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let seq = state.record(RecordedRequest {
        seq: 0,
        at: Instant::now(),
        method: parts.method.to_string(),
        path: path.clone(),
        query: raw_query,
        key: key.clone(),
        key_in_query,
        headers,
        body: body.clone(),
        status: None,
    });

    let resource_path = super::resources::is_resource_path(&path.replace("%3A", ":"));
    let response = match parse_route(&parts.method, &path) {
        _ if resource_path => match authorize(&state, key.as_deref()) {
            Err(error) => error_response(&error, false),
            Ok(key) => {
                let request = super::resources::ResourceRequest {
                    method: &parts.method,
                    path: &path,
                    query: &query,
                    headers: &parts.headers,
                    body: &body,
                    key: &key,
                };
                super::resources::serve(&mut state.resources(), &request)
            }
        },
        None => not_found_page(&path),
        Some((version, route)) => {
            let wrap_errors =
                matches!(route, Route::Call(_, Action::Stream)) && !query.iter().any(|(k, v)| k == "alt" && v == "sse");
            match authorize(&state, key.as_deref()) {
                Err(error) => error_response(&error, wrap_errors),
                Ok(key) => {
                    let call = Call {
                        state: &state,
                        version,
                        key,
                        query: &query,
                        body: &body,
                    };
                    match route {
                        Route::List => get_route(&call, None),
                        Route::Get(model) => get_route(&call, Some(&model)),
                        Route::Call(model, action) => post_route(&call, &model, action).await,
                    }
                }
            }
        }
    };
    if response.extensions().get::<CloseWithoutAnswer>().is_some() {
        // A service error makes hyper close the connection without writing a response head.
        return Err(std::io::Error::other(
            "mock: connection closed before the response head",
        ));
    }
    state.set_status(seq, response.status().as_u16());
    let (parts, body) = response.into_parts();
    Ok(Response::from_parts(
        parts,
        Guarded {
            inner: body,
            _guard: guard,
        }
        .boxed(),
    ))
}

/// A response body that keeps its request counted as active until hyper drops it.
struct Guarded {
    inner: ResponseBody,
    _guard: ActiveGuard,
}

impl Body for Guarded {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

fn authorize(state: &State, key: Option<&str>) -> Result<String, MockError> {
    let key = key.ok_or_else(MockError::no_key)?;
    match state.check_key(key) {
        KeyCheck::Known => Ok(key.to_string()),
        KeyCheck::Unknown => Err(MockError::invalid_key()),
    }
}

fn get_route(call: &Call<'_>, model: Option<&str>) -> Response<ResponseBody> {
    match call.state.persistent_behavior(&call.key) {
        Behavior::InvalidKey => return error_response(&MockError::invalid_key(), false),
        Behavior::PermissionDenied => return error_response(&MockError::consumer_suspended(), false),
        Behavior::SuspendedEchoKey => return error_response(&MockError::consumer_suspended_echoing(&call.key), false),
        _ => {}
    }
    if let Some(id) = model {
        return match models::find(id) {
            Some(model) => json_response(200, &model.to_wire()),
            None => error_response(&MockError::model_not_found(id, call.version, "get"), false),
        };
    }
    let page_size = call
        .query("pageSize")
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_PAGE_SIZE)
        .min(MAX_PAGE_SIZE);
    let offset = match call.query("pageToken").filter(|t| !t.is_empty()) {
        None => 0,
        Some(token) => match decode_page_token(token) {
            Some(offset) if offset < MODELS.len() => offset,
            _ => return error_response(&MockError::invalid_argument("Invalid page token."), false),
        },
    };
    let end = (offset + page_size).min(MODELS.len());
    let page = GeminiListModelsResponse {
        models: MODELS[offset..end].iter().map(ModelInfo::to_wire).collect(),
        next_page_token: (end < MODELS.len()).then(|| encode_page_token(end)),
    };
    json_response(200, &page)
}

fn encode_page_token(offset: usize) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("models-offset:{offset}"))
}

fn decode_page_token(token: &str) -> Option<usize> {
    let bytes = validate::decode_base64(token)?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix("models-offset:")?
        .parse()
        .ok()
}

async fn post_route(call: &Call<'_>, model_id: &str, action: Action) -> Response<ResponseBody> {
    let sse = action == Action::Stream && call.query("alt") == Some("sse");
    let wrap_errors = action == Action::Stream && !sse;
    let behavior = call.state.next_behavior(&call.key);
    let early = match &behavior {
        Behavior::RateLimitPerMinute { retry_delay_secs } => {
            Some(MockError::rate_limit_per_minute(model_id, *retry_delay_secs))
        }
        Behavior::RateLimitPerDay => Some(MockError::rate_limit_per_day(model_id)),
        Behavior::RateLimitNoDetails => Some(MockError::rate_limit_no_details()),
        Behavior::RateLimitTokens { retry_delay_secs } => {
            Some(MockError::rate_limit_tokens(model_id, *retry_delay_secs))
        }
        Behavior::SuspendedEchoKey => Some(MockError::consumer_suspended_echoing(&call.key)),
        Behavior::ResetBeforeHeaders => {
            let mut response = json_response(502, &Value::Null);
            response.extensions_mut().insert(CloseWithoutAnswer);
            return response;
        }
        Behavior::Garbage => return garbage_response(action == Action::Stream, sse),
        Behavior::Huge { bytes } => return huge_response(model_id, *bytes, action == Action::Stream, sse),
        Behavior::InternalError => Some(MockError::internal()),
        Behavior::Unavailable => Some(MockError::unavailable()),
        Behavior::PermissionDenied => Some(MockError::consumer_suspended()),
        Behavior::InvalidKey => Some(MockError::invalid_key()),
        Behavior::MidStreamError | Behavior::MidStreamErrorEchoKey if action != Action::Stream => {
            Some(MockError::unavailable())
        }
        Behavior::Custom { status, body } => {
            let body = if wrap_errors {
                Value::Array(vec![body.clone()])
            } else {
                body.clone()
            };
            return json_response(*status, &body);
        }
        Behavior::Delay { ms } => {
            tokio::time::sleep(Duration::from_millis(*ms)).await;
            None
        }
        Behavior::Hang => std::future::pending().await,
        _ => None,
    };
    if let Some(error) = early {
        return error_response(&error, wrap_errors);
    }
    let result = match models::find(model_id) {
        Some(model) if model.supports(action.method().0) => match parse_body(call.body) {
            Ok(json) => match action {
                Action::Generate | Action::Stream => {
                    return generate(call, model, &json, action, sse, &behavior)
                        .await
                        .unwrap_or_else(|e| error_response(&e, wrap_errors));
                }
                Action::CountTokens => count_tokens(model, &json),
                Action::Embed => embed(&json),
                Action::BatchEmbed => batch_embed(model, &json),
                Action::Predict => images::predict(model.id, &json).map(|answer| json_response(200, &answer)),
            },
            Err(e) => Err(e),
        },
        _ => Err(MockError::model_not_found(model_id, call.version, action.method().1)),
    };
    match result {
        Ok(response) => response,
        Err(error) => error_response(&error, wrap_errors),
    }
}

fn parse_body(body: &Bytes) -> Result<Value, MockError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_slice(body).map_err(|_| MockError::malformed_json())
}

/// Structural validation plus typed decoding.
fn decode<T: serde::de::DeserializeOwned>(desc: &'static MsgDesc, json: &Value) -> Result<(T, Value), MockError> {
    let normalized = validate::normalize(desc, json).map_err(MockError::bad_request)?;
    let typed = serde_json::from_value(normalized.clone())
        .map_err(|e| MockError::invalid_argument(format!("Invalid JSON payload received. {e}")))?;
    Ok((typed, normalized))
}

async fn generate(
    call: &Call<'_>,
    model: &ModelInfo,
    json: &Value,
    action: Action,
    sse: bool,
    behavior: &Behavior,
) -> Result<Response<ResponseBody>, MockError> {
    // A file or cache of another project (or none) is Google's 403.
    super::resources::check_references(&call.state.resources(), &call.key, json)?;
    let (req, raw): (GeminiGenerateContentRequest, Value) = decode(&validate::GENERATE_CONTENT_REQUEST, json)?;
    check_generate(&req, &raw, "GenerateContentRequest.", model)?;
    let gemini3 = model.is_gemini3() && call.state.gemini3_signatures();
    if gemini3 {
        check_thought_signatures(&req.contents, |s| call.state.is_issued(s))?;
    }
    let mut plan = reply::plan(&req);
    if gemini3 {
        plan.signature = Some(call.state.issue_signature());
    }
    let response_id = call.state.next_response_id();
    let max_output_tokens = req.generation_config.as_ref().and_then(|c| c.max_output_tokens);
    let generation_config = raw.get("generationConfig").unwrap_or(&Value::Null);
    let drawn = images::gemini_image(model.draws_images(), model.id, generation_config)?;
    let spoken = images::gemini_speech(model.speaks(), model.id, generation_config)?;
    let special = match behavior {
        Behavior::PromptBlocked => Some(reply::prompt_blocked(&plan, model.id, &response_id)),
        Behavior::MaxTokensNoParts => Some(reply::max_tokens_no_parts(
            &plan,
            max_output_tokens,
            model.id,
            &response_id,
        )),
        Behavior::SafetyNoParts => Some(reply::safety_no_parts(&plan, model.id, &response_id)),
        _ => None,
    }
    .or_else(|| {
        let prompt_tokens = reply::prompt_tokens(&req.contents, req.system_instruction.as_ref());
        drawn
            .map(|image| images::image_reply(image, prompt_tokens, model.id, &response_id))
            .or_else(|| {
                let words = reply::word_count(&reply::last_user_text(&req.contents));
                spoken.map(|()| images::speech_reply(words, prompt_tokens, model.id, &response_id))
            })
    });
    let chunk_delay = match behavior {
        Behavior::SlowStream { chunk_delay_ms } => Some(Duration::from_millis(*chunk_delay_ms)),
        _ => None,
    };
    let cut = match behavior {
        Behavior::HangMidStream => Some(Step::HoldOpen),
        Behavior::TruncatedJson | Behavior::TruncatedSse => Some(Step::Cut),
        _ => None,
    };
    if action == Action::Generate {
        let response = match special {
            Some(special) => special,
            None => {
                if let Some(delay) = chunk_delay {
                    let chunks = reply::stream_chunks(&plan, model.id, &response_id).len();
                    tokio::time::sleep(delay * u32::try_from(chunks.saturating_sub(1)).unwrap_or(0)).await;
                }
                reply::full_response(&plan, model.id, &response_id)
            }
        };
        if let Some(end) = cut {
            // Half of the JSON under a header that promises all of it.
            let json = Bytes::from(to_json(&response));
            let half = json.slice(..json.len() / 2);
            let body = scripted_body(vec![Step::Data(half), end]);
            return Ok(raw_response(
                200,
                "application/json; charset=UTF-8",
                Some(json.len() as u64),
                body,
            ));
        }
        return Ok(json_response(200, &response));
    }
    let mut chunks: Vec<String> = match special {
        Some(special) => vec![to_json(&special)],
        None => reply::stream_chunks(&plan, model.id, &response_id)
            .iter()
            .map(to_json)
            .collect(),
    };
    if *behavior == Behavior::MidStreamError {
        chunks = mid_stream_chunks(&plan, model.id, &response_id);
    }
    if *behavior == Behavior::MidStreamErrorEchoKey {
        chunks = mid_stream_chunks(&plan, model.id, &response_id);
        let mut error = MockError::unavailable();
        error.body.error.message = format!("{} (consumer 'api_key:{}')", error.body.error.message, call.key);
        if let Some(last) = chunks.last_mut() {
            *last = error.to_json().to_string();
        }
    }
    if let Some(end) = cut {
        let frames = frame_chunks(chunks, sse);
        let mut steps = vec![Step::Data(frames[0].clone())];
        if matches!(end, Step::Cut) {
            // Half of the next frame: a partial `data: {...` line or array element.
            let next = frames.get(1).unwrap_or(&frames[0]);
            steps.push(Step::Data(next.slice(..next.len() / 2)));
        }
        steps.push(end);
        return Ok(raw_response(200, stream_content_type(sse), None, scripted_body(steps)));
    }
    Ok(stream_response(chunks, chunk_delay, sse))
}

/// How a scripted body goes on.
enum Step {
    /// Send these bytes.
    Data(Bytes),
    /// Send `chunk` over and over (the last one cut short) until `total` bytes went out.
    Repeat { chunk: Bytes, total: u64 },
    /// Send nothing more and keep the connection open until the client goes away.
    HoldOpen,
    /// Cut the connection (hyper aborts it on a body error).
    Cut,
}

/// A body produced step by step by a task; memory stays bounded by the channel.
fn scripted_body(steps: Vec<Step>) -> ResponseBody {
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        for step in steps {
            match step {
                Step::Data(bytes) => {
                    if tx.send(Ok(bytes)).await.is_err() {
                        return;
                    }
                }
                Step::Repeat { chunk, total } => {
                    let mut left = total;
                    while left > 0 {
                        let n = usize::try_from(left).unwrap_or(usize::MAX).min(chunk.len());
                        if tx.send(Ok(chunk.slice(..n))).await.is_err() {
                            return;
                        }
                        left -= n as u64;
                    }
                }
                Step::HoldOpen => {
                    tx.closed().await;
                    return;
                }
                Step::Cut => {
                    // Let hyper flush what was sent: an error drops its unwritten buffer.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    crate::best_effort(tx.send(Err(std::io::Error::other("mock: connection cut"))).await);
                    return;
                }
            }
        }
    });
    ChannelBody(rx).boxed()
}

fn raw_response(
    status: u16,
    content_type: &str,
    content_length: Option<u64>,
    body: ResponseBody,
) -> Response<ResponseBody> {
    let mut builder = Response::builder().status(status).header("content-type", content_type);
    if let Some(length) = content_length {
        builder = builder.header("content-length", length);
    }
    builder.body(body).expect("valid response")
}

fn stream_content_type(sse: bool) -> &'static str {
    if sse {
        "text/event-stream"
    } else {
        "application/json; charset=UTF-8"
    }
}

/// 200 under the expected content type, with a body that is neither JSON nor SSE events.
fn garbage_response(stream: bool, sse: bool) -> Response<ResponseBody> {
    let body: &'static [u8] = match (stream, sse) {
        (true, true) => b"data: <html><body>502 Bad Gateway</body></html>\r\n\r\n: \x00\xff\xfe\r\n\r\ndata: {\"candidates\": [}\r\n\r\n",
        (true, false) => b"[<html><body>502 Bad Gateway</body></html>\x00\xff\xfe]",
        (false, _) => b"<!DOCTYPE html>\n<html><body>502 Bad Gateway</body></html>\n\x00\xff\xfe",
    };
    let content_type = if stream {
        stream_content_type(sse)
    } else {
        "application/json; charset=UTF-8"
    };
    raw_response(200, content_type, None, full_body(Bytes::from_static(body)))
}

/// 200 with a `bytes`-long answer generated on the fly: one response whose text part is `x`
/// repeated (an SSE event or array element for streams). No `content-length`.
fn huge_response(model: &str, bytes: u64, stream: bool, sse: bool) -> Response<ResponseBody> {
    let (open, close) = match (stream, sse) {
        (true, true) => ("data: ", "\r\n\r\n"),
        (true, false) => ("[", "]"),
        (false, _) => ("", ""),
    };
    let head = format!("{open}{{\"candidates\":[{{\"content\":{{\"role\":\"model\",\"parts\":[{{\"text\":\"");
    let tail = format!("\"}}]}},\"finishReason\":\"STOP\",\"index\":0}}],\"modelVersion\":\"{model}\"}}{close}");
    let filler = bytes.saturating_sub((head.len() + tail.len()) as u64);
    let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
    let body = scripted_body(vec![
        Step::Data(Bytes::from(head)),
        Step::Repeat { chunk, total: filler },
        Step::Data(Bytes::from(tail)),
    ]);
    raw_response(200, stream_content_type(stream && sse), None, body)
}

/// One or two chunks without `finishReason`, then the 503 error chunk.
fn mid_stream_chunks(plan: &Plan, model: &str, response_id: &str) -> Vec<String> {
    let mut chunks = reply::stream_chunks(plan, model, response_id);
    let keep = chunks.len().saturating_sub(1).clamp(1, 2);
    chunks.truncate(keep);
    let mut out: Vec<String> = chunks
        .into_iter()
        .map(|mut chunk| {
            for candidate in &mut chunk.candidates {
                candidate.finish_reason = None;
            }
            chunk.usage_metadata = chunk.usage_metadata.map(|u| super::wire::GeminiUsageMetadata {
                prompt_token_count: u.prompt_token_count,
                total_token_count: u.prompt_token_count,
                ..Default::default()
            });
            to_json(&chunk)
        })
        .collect();
    out.push(MockError::unavailable().to_json().to_string());
    out
}

fn count_tokens(model: &ModelInfo, json: &Value) -> Result<Response<ResponseBody>, MockError> {
    let (req, raw): (GeminiCountTokensRequest, Value) = decode(&validate::COUNT_TOKENS_REQUEST, json)?;
    let has_contents = raw.get("contents").is_some();
    let total = match (has_contents, &req.generate_content_request) {
        (false, None) => {
            return Err(MockError::invalid_argument(
                "CountTokens requires generate_content_request or contents to be set.",
            ))
        }
        (true, Some(_)) => {
            return Err(MockError::invalid_argument(
                "CountTokens requires only one of generate_content_request or contents to be set.",
            ))
        }
        (true, None) => {
            check_contents(&req.contents, "CountTokensRequest.contents")?;
            reply::prompt_tokens(&req.contents, None)
        }
        (false, Some(inner)) => {
            let prefix = "CountTokensRequest.generate_content_request.";
            let mut missing = String::new();
            if inner.contents.is_empty() {
                missing.push_str(&format!("* {prefix}contents: contents is not specified\n"));
            }
            if inner.model.as_deref().unwrap_or("").is_empty() {
                missing.push_str(&format!("* {prefix}model: model is not specified\n"));
            }
            if !missing.is_empty() {
                return Err(MockError::invalid_argument(missing));
            }
            let inner_raw = raw.get("generateContentRequest").cloned().unwrap_or_default();
            check_generate(inner, &inner_raw, prefix, model)?;
            reply::prompt_tokens(&inner.contents, inner.system_instruction.as_ref())
        }
    };
    Ok(json_response(
        200,
        &GeminiCountTokensResponse {
            total_tokens: total,
            prompt_tokens_details: vec![GeminiModalityTokenCount {
                modality: "TEXT".into(),
                token_count: total,
            }],
        },
    ))
}

/// Checks one embed request and returns its vector.
fn embed_one(req: &GeminiEmbedContentRequest, path: &str) -> Result<GeminiContentEmbedding, MockError> {
    let content: &GeminiContent = req
        .content
        .as_ref()
        .ok_or_else(|| MockError::invalid_argument(format!("* {path}content: content is not specified\n")))?;
    if content.parts.is_empty() {
        return Err(MockError::invalid_argument(format!(
            "* {path}content.parts: contents.parts must not be empty.\n"
        )));
    }
    let width = req.output_dimensionality.unwrap_or(EMBEDDING_WIDTH);
    if !(1..=EMBEDDING_WIDTH).contains(&width) {
        return Err(MockError::invalid_argument(format!(
            "* {path}output_dimensionality: must be between 1 and {EMBEDDING_WIDTH}\n"
        )));
    }
    let text: Vec<&str> = content.parts.iter().filter_map(|p| p.text.as_deref()).collect();
    Ok(GeminiContentEmbedding {
        values: reply::embedding(&text.join(" "), usize::try_from(width).unwrap_or(0)),
    })
}

fn embed(json: &Value) -> Result<Response<ResponseBody>, MockError> {
    let (req, _): (GeminiEmbedContentRequest, Value) = decode(&validate::EMBED_CONTENT_REQUEST, json)?;
    let embedding = embed_one(&req, "EmbedContentRequest.")?;
    Ok(json_response(200, &GeminiEmbedContentResponse { embedding }))
}

fn batch_embed(model: &ModelInfo, json: &Value) -> Result<Response<ResponseBody>, MockError> {
    let (req, _): (GeminiBatchEmbedContentsRequest, Value) = decode(&validate::BATCH_EMBED_CONTENTS_REQUEST, json)?;
    if req.requests.is_empty() {
        return Err(MockError::invalid_argument(
            "* BatchEmbedContentsRequest.requests: requests is not specified\n",
        ));
    }
    if req.requests.len() > MAX_BATCH_EMBED {
        return Err(MockError::invalid_argument(format!(
            "* BatchEmbedContentsRequest.requests: at most {MAX_BATCH_EMBED} requests can be in \
             one batch\n"
        )));
    }
    let url_model = format!("models/{}", model.id);
    let mut embeddings = Vec::with_capacity(req.requests.len());
    for (i, inner) in req.requests.iter().enumerate() {
        let path = format!("BatchEmbedContentsRequest.requests[{i}].");
        match inner.model.as_deref() {
            Some(m) if m == url_model => {}
            Some(m) => {
                return Err(MockError::invalid_argument(format!(
                    "* {path}model: Model in the request ({m}) does not match the model in the \
                     URL ({url_model}).\n"
                )))
            }
            None => {
                return Err(MockError::invalid_argument(format!(
                    "* {path}model: model is not specified\n"
                )))
            }
        }
        embeddings.push(embed_one(inner, &path)?);
    }
    Ok(json_response(200, &GeminiBatchEmbedContentsResponse { embeddings }))
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("wire types serialize")
}

pub(super) fn full_body(bytes: impl Into<Bytes>) -> ResponseBody {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

pub(super) fn json_response<T: Serialize>(status: u16, value: &T) -> Response<ResponseBody> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=UTF-8")
        .body(full_body(to_json(value)))
        .expect("valid response")
}

/// Errors of SSE-less streams come as a one-element array (§1.9).
pub(super) fn error_response(error: &MockError, wrap_in_array: bool) -> Response<ResponseBody> {
    let body = error.to_json();
    if wrap_in_array {
        json_response(error.status, &Value::Array(vec![body]))
    } else {
        json_response(error.status, &body)
    }
}

fn not_found_page(path: &str) -> Response<ResponseBody> {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=en>\n<title>Error 404 (Not Found)!!1</title>\n<p><b>404.</b> \
         <ins>That's an error.</ins>\n<p>The requested URL <code>{path}</code> was not found on \
         this server.  <ins>That's all we know.</ins>\n"
    );
    Response::builder()
        .status(404)
        .header("content-type", "text/html; charset=UTF-8")
        .body(full_body(html))
        .expect("valid response")
}

/// A body fed chunk by chunk from a channel, so each chunk is written as it is produced; an
/// `Err` item cuts the connection.
struct ChannelBody(mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0.poll_recv(cx).map(|b| b.map(|b| b.map(Frame::data)))
    }
}

/// Frames JSON chunks as SSE events, or as the pieces of one JSON array.
fn frame_chunks(chunks: Vec<String>, sse: bool) -> Vec<Bytes> {
    let count = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, json)| {
            if sse {
                Bytes::from(format!("data: {json}\r\n\r\n"))
            } else {
                let open = if i == 0 { "[" } else { "\n,\r\n" };
                let close = if i + 1 == count { "]" } else { "" };
                Bytes::from(format!("{open}{json}{close}"))
            }
        })
        .collect()
}

/// Frames JSON chunks as SSE events or as one JSON array, and streams them (with `delay`
/// between chunks).
fn stream_response(chunks: Vec<String>, delay: Option<Duration>, sse: bool) -> Response<ResponseBody> {
    let frames = frame_chunks(chunks, sse);
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        for (i, frame) in frames.into_iter().enumerate() {
            if i > 0 {
                if let Some(delay) = delay {
                    tokio::time::sleep(delay).await;
                }
            }
            if tx.send(Ok(frame)).await.is_err() {
                return;
            }
        }
    });
    let content_type = stream_content_type(sse);
    Response::builder()
        .status(200)
        .header("content-type", content_type)
        .body(ChannelBody(rx).boxed())
        .expect("valid response")
}
