//! The mock's per-project resources: the Files API (resumable and multipart uploads, get,
//! list, delete, download of generated files), cached contents, batches and long-running
//! video operations. Each resource belongs to the key that created it, as it belongs to that
//! key's Google project: any other key gets Google's 403 "You do not have permission to access
//! ... or it may not exist." So a gateway that sends a request naming a resource to the wrong
//! key fails the test.
//!
//! Routes (under `/v1beta/` and `/v1/`; uploads under `/upload/v1beta/` and `/upload/v1/`):
//! `POST /upload/v1beta/files` (`X-Goog-Upload-Protocol: resumable` + `X-Goog-Upload-Command:
//! start` with `X-Goog-Upload-Header-Content-Length`, or `?uploadType=multipart` with a
//! `multipart/related` body); `POST /upload/v1beta/files?upload_id=..` (`upload`, `upload,
//! finalize`; `X-Goog-Upload-Offset` must equal the bytes received; only the starting key);
//! `GET|DELETE files/{id}`, `GET files` (`pageSize` <= 100), `GET files/{id}:download` (only
//! generated files); `POST|GET cachedContents`, `GET|PATCH|DELETE cachedContents/{id}`;
//! `POST models/{m}:batchGenerateContent`, `GET|DELETE batches/{id}`, `POST
//! batches/{id}:cancel`, `GET batches` (`operations`); `POST models/veo-*:predictLongRunning`,
//! `GET models/{m}/operations/{id}`. Jobs finish on their second `GET`: a batch with inlined
//! responses (or a `responsesFile` for file input), a video as a generated file.
//!
//! A generateContent naming a file (`fileData.fileUri`) or a cache (`cachedContent`) of another
//! key, or one that does not exist, gets the same 403 ([`check_references`]).

use std::collections::HashMap;

use base64::Engine;
use bytes::Bytes;
use hyper::{Method, Response};
use serde_json::{json, Value};
use sha2::Digest;

use super::errors::MockError;
use super::models;
use super::server::{error_response, full_body, json_response, ResponseBody};

/// One resource and the key (project) it belongs to.
#[derive(Debug, Clone)]
struct Resource {
    key: String,
    /// The resource as Google describes it.
    body: Value,
    /// A file's bytes (generated files can be downloaded).
    bytes: Vec<u8>,
    /// A generated file (downloadable) rather than an upload.
    generated: bool,
    /// GETs so far (jobs finish on the second).
    polls: u32,
}

/// An upload session.
#[derive(Debug, Clone)]
struct Session {
    key: String,
    declared: u64,
    mime: String,
    display_name: Option<String>,
    received: Vec<u8>,
}

/// Every resource of the mock, by name.
#[derive(Default)]
pub(crate) struct Resources {
    items: HashMap<String, Resource>,
    sessions: HashMap<String, Session>,
    next: u64,
}

impl Resources {
    fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        // Google's ids are lowercase letters and digits (the SDKs parse them out of URIs so).
        format!("{prefix}{:06}", self.next)
    }

    /// How many resources each key holds, for tests (`files`, `cachedContents`, ...).
    pub(crate) fn count(&self, key: &str, collection: &str) -> usize {
        self.items
            .iter()
            .filter(|(name, r)| r.key == key && name.starts_with(&format!("{collection}/")))
            .count()
    }
}

/// One resource request, as the server hands it over.
pub(crate) struct ResourceRequest<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: &'a [(String, String)],
    pub headers: &'a hyper::HeaderMap,
    pub body: &'a Bytes,
    pub key: &'a str,
}

impl ResourceRequest<'_> {
    fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// The origin the request came to, for the upload session URL.
    fn origin(&self) -> String {
        format!("http://{}", self.header("host").unwrap_or("127.0.0.1"))
    }
}

/// Whether the path is one of the resource routes.
pub(crate) fn is_resource_path(path: &str) -> bool {
    let rest = path
        .strip_prefix("/v1beta/")
        .or_else(|| path.strip_prefix("/v1/"))
        .unwrap_or("");
    path.starts_with("/upload/v1beta/files")
        || path.starts_with("/upload/v1/files")
        || ["files", "cachedContents", "batches"]
            .iter()
            .any(|c| rest == *c || rest.starts_with(&format!("{c}/")))
        || (rest.starts_with("models/")
            && (rest.contains("/operations/")
                || rest.ends_with(":batchGenerateContent")
                || rest.ends_with(":asyncBatchEmbedContent")
                || rest.ends_with(":predictLongRunning")))
}

fn not_yours(kind: &str, id: &str) -> MockError {
    MockError::new(
        403,
        "PERMISSION_DENIED",
        format!("You do not have permission to access the {kind} {id} or it may not exist."),
    )
}

fn now_rfc3339(offset_secs: i64) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
        + offset_secs;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.000000Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn json_body(body: &Bytes) -> Result<Value, MockError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|_| MockError::malformed_json())
}

fn ok(value: Value) -> Response<ResponseBody> {
    json_response(200, &value)
}

/// Serves one resource request (the key is already authorized).
pub(crate) fn serve(resources: &mut Resources, req: &ResourceRequest<'_>) -> Response<ResponseBody> {
    match route(resources, req) {
        Ok(response) => response,
        Err(error) => error_response(&error, false),
    }
}

fn route(resources: &mut Resources, req: &ResourceRequest<'_>) -> Result<Response<ResponseBody>, MockError> {
    if req.path.starts_with("/upload/v1beta/files") || req.path.starts_with("/upload/v1/files") {
        if *req.method != Method::POST && *req.method != Method::PUT {
            return Err(MockError::new(405, "INVALID_ARGUMENT", "Method not allowed."));
        }
        return match req.query("upload_id") {
            Some(id) => upload_bytes(resources, req, id),
            None if req.query("uploadType") == Some("multipart") => multipart(resources, req),
            None => upload_start(resources, req),
        };
    }
    let rest = req
        .path
        .strip_prefix("/v1beta/")
        .or_else(|| req.path.strip_prefix("/v1/"))
        .unwrap_or(req.path)
        .replace("%3A", ":");
    let (name, verb) = match rest.split_once(':') {
        Some((name, verb)) => (name.to_owned(), Some(verb.to_owned())),
        None => (rest.clone(), None),
    };
    let method = req.method.clone();
    match (name.as_str(), verb.as_deref(), method) {
        ("files" | "cachedContents" | "batches", None, Method::GET) => list(resources, req, &name),
        ("cachedContents", None, Method::POST) => create_cache(resources, req),
        (model_path, Some("batchGenerateContent"), Method::POST) => {
            create_batch(resources, req, model_path, BatchKind::GenerateContent)
        }
        (model_path, Some("asyncBatchEmbedContent"), Method::POST) => {
            create_batch(resources, req, model_path, BatchKind::EmbedContent)
        }
        (model_path, Some("predictLongRunning"), Method::POST) => create_video(resources, req, model_path),
        (name, None, Method::GET) => get(resources, req, name),
        (name, None, Method::DELETE) if !name.starts_with("models/") => delete(resources, req, name),
        (name, None, Method::PATCH) if name.starts_with("cachedContents/") => patch_cache(resources, req, name),
        (name, Some("cancel"), Method::POST) if name.starts_with("batches/") => {
            owned(resources, req, name)?;
            if let Some(r) = resources.items.get_mut(name) {
                r.body["metadata"]["state"] = json!("BATCH_STATE_CANCELLED");
                r.body["done"] = json!(true);
            }
            Ok(ok(json!({})))
        }
        (name, Some("download"), Method::GET) if name.starts_with("files/") => download(resources, req, name),
        _ => Err(MockError::new(
            404,
            "NOT_FOUND",
            format!("Method not found: {}", req.path),
        )),
    }
}

fn kind_word(name: &str) -> &'static str {
    if name.starts_with("files/") {
        "File"
    } else if name.starts_with("cachedContents/") {
        "CachedContent"
    } else if name.starts_with("batches/") {
        "Batch"
    } else {
        "Operation"
    }
}

/// The resource if `req.key` owns it, else Google's 403.
fn owned<'r>(
    resources: &'r mut Resources,
    req: &ResourceRequest<'_>,
    name: &str,
) -> Result<&'r mut Resource, MockError> {
    let id = name.rsplit('/').next().unwrap_or(name);
    match resources.items.get_mut(name) {
        Some(r) if r.key == req.key => Ok(r),
        _ => Err(not_yours(kind_word(name), id)),
    }
}

/// Where Google's file URIs point (the SDKs parse `files/{id}` out of them).
const GOOGLE_ORIGIN: &str = "https://generativelanguage.googleapis.com";

fn new_file(
    resources: &mut Resources,
    key: &str,
    bytes: Vec<u8>,
    mime: &str,
    display_name: Option<String>,
    generated: bool,
) -> Value {
    let id = resources.id("file");
    let name = format!("files/{id}");
    let mut file = json!({
        "name": name,
        "mimeType": mime,
        "sizeBytes": bytes.len().to_string(),
        "createTime": now_rfc3339(0),
        "updateTime": now_rfc3339(0),
        "expirationTime": now_rfc3339(48 * 3600),
        "sha256Hash": base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&bytes)),
        "uri": format!("{GOOGLE_ORIGIN}/v1beta/files/{id}"),
        "state": "ACTIVE",
        "source": if generated { "GENERATED" } else { "UPLOADED" },
    });
    if let Some(display) = display_name {
        file["displayName"] = json!(display);
    }
    if generated {
        file["downloadUri"] = json!(format!("{GOOGLE_ORIGIN}/v1beta/files/{id}:download?alt=media"));
    }
    resources.items.insert(
        name,
        Resource {
            key: key.to_owned(),
            body: file.clone(),
            bytes,
            generated,
            polls: 0,
        },
    );
    file
}

fn upload_start(resources: &mut Resources, req: &ResourceRequest<'_>) -> Result<Response<ResponseBody>, MockError> {
    if req.header("x-goog-upload-protocol") != Some("resumable") {
        return Err(MockError::invalid_argument("Unsupported upload protocol."));
    }
    if req.header("x-goog-upload-command") != Some("start") {
        return Err(MockError::invalid_argument("The upload command must be 'start'."));
    }
    let declared = req
        .header("x-goog-upload-header-content-length")
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| MockError::invalid_argument("Missing X-Goog-Upload-Header-Content-Length."))?;
    let metadata = json_body(req.body)?;
    let file = metadata.get("file").cloned().unwrap_or(json!({}));
    let mime = file
        .get("mimeType")
        .and_then(Value::as_str)
        .or(req.header("x-goog-upload-header-content-type"))
        .unwrap_or("application/octet-stream")
        .to_owned();
    let display_name = file
        .get("displayName")
        .or(file.get("display_name"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let id = resources.id("upload");
    resources.sessions.insert(
        id.clone(),
        Session {
            key: req.key.to_owned(),
            declared,
            mime,
            display_name,
            received: Vec::new(),
        },
    );
    Ok(Response::builder()
        .status(200)
        .header(
            "x-goog-upload-url",
            format!(
                "{}/upload/{}/files?upload_id={id}&upload_protocol=resumable",
                req.origin(),
                if req.path.starts_with("/upload/v1/") {
                    "v1"
                } else {
                    "v1beta"
                }
            ),
        )
        .header("x-goog-upload-status", "active")
        .header("x-goog-upload-chunk-granularity", "8388608")
        .header("content-type", "text/plain; charset=utf-8")
        .body(full_body(Bytes::new()))
        .expect("valid response"))
}

fn upload_bytes(
    resources: &mut Resources,
    req: &ResourceRequest<'_>,
    id: &str,
) -> Result<Response<ResponseBody>, MockError> {
    let Some(session) = resources.sessions.get_mut(id) else {
        return Err(MockError::new(404, "NOT_FOUND", "Upload session not found."));
    };
    if session.key != req.key {
        return Err(not_yours("upload", id));
    }
    let command = req.header("x-goog-upload-command").unwrap_or("");
    let commands: Vec<&str> = command.split(',').map(str::trim).collect();
    let offset = req.header("x-goog-upload-offset").and_then(|v| v.parse::<u64>().ok());
    if commands.contains(&"upload") {
        if offset != Some(session.received.len() as u64) {
            return Err(MockError::invalid_argument(format!(
                "X-Goog-Upload-Offset {offset:?} does not match the {} bytes received.",
                session.received.len()
            )));
        }
        session.received.extend_from_slice(req.body);
    } else if !commands.contains(&"finalize") {
        return Err(MockError::invalid_argument("Unknown upload command."));
    }
    if !commands.contains(&"finalize") {
        return Ok(Response::builder()
            .status(200)
            .header("x-goog-upload-status", "active")
            .header("x-goog-upload-size-received", session.received.len().to_string())
            .body(full_body(Bytes::new()))
            .expect("valid response"));
    }
    if session.received.len() as u64 != session.declared {
        return Err(MockError::invalid_argument(format!(
            "The upload has {} bytes, but {} were declared.",
            session.received.len(),
            session.declared
        )));
    }
    let Some(session) = resources.sessions.remove(id) else {
        return Err(MockError::internal());
    };
    let file = new_file(
        resources,
        &session.key,
        session.received,
        &session.mime,
        session.display_name,
        false,
    );
    let mut response = ok(json!({ "file": file }));
    response
        .headers_mut()
        .insert("x-goog-upload-status", hyper::header::HeaderValue::from_static("final"));
    Ok(response)
}

/// A `multipart/related` upload: a JSON part, then the media.
fn multipart(resources: &mut Resources, req: &ResourceRequest<'_>) -> Result<Response<ResponseBody>, MockError> {
    let content_type = req.header("content-type").unwrap_or("");
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"').to_owned())
        .filter(|_| content_type.starts_with("multipart/related"))
        .ok_or_else(|| MockError::invalid_argument("A multipart upload needs a multipart/related body."))?;
    let delimiter = format!("--{boundary}");
    let text = req.body.as_ref();
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(at) = find(rest, delimiter.as_bytes()) {
        rest = &rest[at + delimiter.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        let end = find(rest, delimiter.as_bytes()).unwrap_or(rest.len());
        let part = &rest[..end];
        let body_at = find(part, b"\r\n\r\n").map(|i| i + 4).unwrap_or(0);
        let mut content = part[body_at..].to_vec();
        if content.ends_with(b"\r\n") {
            content.truncate(content.len() - 2);
        }
        parts.push((String::from_utf8_lossy(&part[..body_at]).to_ascii_lowercase(), content));
    }
    let [(_, metadata), (media_head, media)] = parts.as_slice() else {
        return Err(MockError::invalid_argument(
            "A multipart upload has a metadata part and a media part.",
        ));
    };
    let metadata: Value = serde_json::from_slice(metadata).unwrap_or(json!({}));
    let file = metadata.get("file").cloned().unwrap_or(json!({}));
    let mime = file
        .get("mimeType")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| {
            media_head
                .lines()
                .find_map(|l| l.strip_prefix("content-type:").map(|v| v.trim().to_owned()))
        })
        .unwrap_or_else(|| "application/octet-stream".into());
    let display = file.get("displayName").and_then(Value::as_str).map(str::to_owned);
    let file = new_file(resources, req.key, media.clone(), &mime, display, false);
    Ok(ok(json!({ "file": file })))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn list(
    resources: &mut Resources,
    req: &ResourceRequest<'_>,
    collection: &str,
) -> Result<Response<ResponseBody>, MockError> {
    let max = if collection == "files" { 100 } else { 1000 };
    let page_size = req
        .query("pageSize")
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(10);
    if page_size > max {
        return Err(MockError::invalid_argument(format!("page_size must be at most {max}.")));
    }
    let offset = match req.query("pageToken").filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => t
            .strip_prefix("page-")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| MockError::invalid_argument("Invalid page token."))?,
    };
    let mut mine: Vec<(&String, &Resource)> = resources
        .items
        .iter()
        .filter(|(name, r)| r.key == req.key && name.starts_with(&format!("{collection}/")))
        .collect();
    mine.sort_by(|a, b| b.0.cmp(a.0));
    let page: Vec<Value> = mine
        .iter()
        .skip(offset)
        .take(page_size)
        .map(|(_, r)| r.body.clone())
        .collect();
    let field = if collection == "batches" {
        "operations"
    } else {
        collection
    };
    let mut answer = json!({});
    if !page.is_empty() {
        answer[field] = Value::Array(page);
    }
    if offset + page_size < mine.len() {
        answer["nextPageToken"] = json!(format!("page-{}", offset + page_size));
    }
    Ok(ok(answer))
}

fn get(resources: &mut Resources, req: &ResourceRequest<'_>, name: &str) -> Result<Response<ResponseBody>, MockError> {
    let key = req.key.to_owned();
    let resource = owned(resources, req, name)?;
    resource.polls += 1;
    let finishing = resource.polls == 2 && resource.body.get("done") != Some(&json!(true));
    if !finishing {
        return Ok(ok(resource.body.clone()));
    }
    // A job finishes on its second poll.
    let mut body = resource.body.clone();
    if name.starts_with("batches/") {
        let requests = body["metadata"]["gempoolRequests"].take();
        body["metadata"].as_object_mut().map(|m| m.remove("gempoolRequests"));
        body["metadata"]["state"] = json!("BATCH_STATE_SUCCEEDED");
        body["metadata"]["endTime"] = json!(now_rfc3339(0));
        body["done"] = json!(true);
        let kind = BatchKind::of_metadata(&body["metadata"]);
        let output = match requests {
            Value::Array(requests) => {
                let inlined: Vec<Value> = requests
                    .iter()
                    .map(|r| json!({"response": kind.answer(&r["request"]), "metadata": r.get("metadata").cloned().unwrap_or(json!({}))}))
                    .collect();
                json!({kind.inlined_field(): {"inlinedResponses": inlined}})
            }
            _ => {
                let request = json!({"contents": [{"parts": [{"text": "from file"}]}], "content": {"parts": [{"text": "from file"}]}});
                let mut lines = json!({"key": "1", "response": kind.answer(&request)})
                    .to_string()
                    .into_bytes();
                lines.push(b'\n');
                let file = new_file(resources, &key, lines, "application/jsonl", None, true);
                json!({"responsesFile": file["name"]})
            }
        };
        body["metadata"]["output"] = output.clone();
        let mut response = output;
        response["@type"] = json!(format!("{}Output", kind.type_url()));
        body["response"] = response;
    } else {
        // A video: a generated MP4 file of this key.
        let mp4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isommock-video".to_vec();
        let file = new_file(resources, &key, mp4, "video/mp4", None, true);
        body["done"] = json!(true);
        body["response"] = json!({
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse",
            "generateVideoResponse": {"generatedSamples": [{"video": {"uri": file["downloadUri"]}}]},
        });
    }
    if let Some(resource) = resources.items.get_mut(name) {
        resource.body = body.clone();
    }
    Ok(ok(body))
}

/// The mock's usual reply to one batch request: `echo: <last user text>`.
fn echo_response(request: &Value) -> Value {
    let text: Vec<&str> = request["contents"]
        .as_array()
        .and_then(|c| c.last())
        .and_then(|turn| turn["parts"].as_array())
        .map(|parts| parts.iter().filter_map(|p| p["text"].as_str()).collect())
        .unwrap_or_default();
    json!({
        "candidates": [{"content": {"parts": [{"text": format!("echo: {}", text.join(" "))}], "role": "model"}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 2, "totalTokenCount": 3},
    })
}

fn delete(
    resources: &mut Resources,
    req: &ResourceRequest<'_>,
    name: &str,
) -> Result<Response<ResponseBody>, MockError> {
    owned(resources, req, name)?;
    resources.items.remove(name);
    Ok(ok(json!({})))
}

fn download(
    resources: &mut Resources,
    req: &ResourceRequest<'_>,
    name: &str,
) -> Result<Response<ResponseBody>, MockError> {
    let resource = owned(resources, req, name)?;
    if !resource.generated {
        return Err(MockError::invalid_argument("Only generated files can be downloaded."));
    }
    if req.query("alt") != Some("media") {
        return Err(MockError::invalid_argument("Downloads need alt=media."));
    }
    let mime = resource.body["mimeType"]
        .as_str()
        .unwrap_or("application/octet-stream")
        .to_owned();
    Ok(Response::builder()
        .status(200)
        .header("content-type", mime)
        .body(full_body(Bytes::from(resource.bytes.clone())))
        .expect("valid response"))
}

fn model_of(path_or_name: &str) -> Result<String, MockError> {
    let id = path_or_name.trim_start_matches("models/");
    if id.is_empty() || id.contains('/') {
        return Err(MockError::invalid_argument("Invalid model name."));
    }
    Ok(id.to_owned())
}

/// Seconds of a `"300s"` duration.
fn duration_secs(value: &Value) -> Option<i64> {
    value.as_str()?.strip_suffix('s')?.parse::<f64>().ok().map(|s| s as i64)
}

fn create_cache(resources: &mut Resources, req: &ResourceRequest<'_>) -> Result<Response<ResponseBody>, MockError> {
    let body = json_body(req.body)?;
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .ok_or_else(|| MockError::invalid_argument("CachedContent.model is required."))?;
    let model = model_of(model)?;
    if models::find(&model).is_none() {
        return Err(MockError::model_not_found(&model, "v1beta", "createCachedContent"));
    }
    let has_contents = body
        .get("contents")
        .and_then(Value::as_array)
        .is_some_and(|c| !c.is_empty());
    if !has_contents && body.get("systemInstruction").is_none() && body.get("system_instruction").is_none() {
        return Err(MockError::invalid_argument(
            "Cached content must have contents or a system instruction.",
        ));
    }
    check_references(resources, req.key, &body)?;
    let ttl = body.get("ttl").and_then(duration_secs).unwrap_or(3600);
    let id = resources.id("cache");
    let name = format!("cachedContents/{id}");
    let mut cache = json!({
        "name": name,
        "model": format!("models/{model}"),
        "createTime": now_rfc3339(0),
        "updateTime": now_rfc3339(0),
        "expireTime": now_rfc3339(ttl),
        "usageMetadata": {"totalTokenCount": 10},
    });
    if let Some(display) = body.get("displayName").or(body.get("display_name")) {
        cache["displayName"] = display.clone();
    }
    resources.items.insert(
        name,
        Resource {
            key: req.key.to_owned(),
            body: cache.clone(),
            bytes: Vec::new(),
            generated: false,
            polls: 0,
        },
    );
    Ok(ok(cache))
}

fn patch_cache(
    resources: &mut Resources,
    req: &ResourceRequest<'_>,
    name: &str,
) -> Result<Response<ResponseBody>, MockError> {
    let body = json_body(req.body)?;
    let resource = owned(resources, req, name)?;
    let ttl = body
        .get("ttl")
        .and_then(duration_secs)
        .ok_or_else(|| MockError::invalid_argument("Only ttl can be updated."))?;
    resource.body["expireTime"] = json!(now_rfc3339(ttl));
    resource.body["updateTime"] = json!(now_rfc3339(0));
    Ok(ok(resource.body.clone()))
}

/// Gemini's two batch methods: what the batch's requests are and what its output holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BatchKind {
    /// `:batchGenerateContent`: `GenerateContentRequest`s, answered with candidates.
    GenerateContent,
    /// `:asyncBatchEmbedContent`: `EmbedContentRequest`s, answered with embeddings.
    EmbedContent,
}

impl BatchKind {
    fn verb(self) -> &'static str {
        match self {
            BatchKind::GenerateContent => "batchGenerateContent",
            BatchKind::EmbedContent => "asyncBatchEmbedContent",
        }
    }

    /// The batch's `metadata.@type` (its output's is this with `Output`).
    fn type_url(self) -> &'static str {
        match self {
            BatchKind::GenerateContent => {
                "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
            }
            BatchKind::EmbedContent => "type.googleapis.com/google.ai.generativelanguage.v1main.EmbedContentBatch",
        }
    }

    fn of_metadata(metadata: &Value) -> BatchKind {
        if metadata["@type"] == BatchKind::EmbedContent.type_url() {
            BatchKind::EmbedContent
        } else {
            BatchKind::GenerateContent
        }
    }

    /// The output's field of inlined answers (`EmbedContentBatchOutput` names its own).
    fn inlined_field(self) -> &'static str {
        match self {
            BatchKind::GenerateContent => "inlinedResponses",
            BatchKind::EmbedContent => "inlinedEmbedContentResponses",
        }
    }

    /// Whether one inlined request is one of this kind's.
    fn accepts(self, request: &Value) -> bool {
        match self {
            BatchKind::GenerateContent => request.is_object(),
            BatchKind::EmbedContent => request["content"]["parts"].as_array().is_some_and(|p| !p.is_empty()),
        }
    }

    /// The inlined answer to one request.
    fn answer(self, request: &Value) -> Value {
        match self {
            BatchKind::GenerateContent => echo_response(request),
            BatchKind::EmbedContent => {
                let text: Vec<&str> = request["content"]["parts"]
                    .as_array()
                    .map(|parts| parts.iter().filter_map(|p| p["text"].as_str()).collect())
                    .unwrap_or_default();
                let width = request["outputDimensionality"].as_u64().unwrap_or(768) as usize;
                json!({"embedding": {"values": super::reply::embedding(&text.join(" "), width)}})
            }
        }
    }
}

fn create_batch(
    resources: &mut Resources,
    req: &ResourceRequest<'_>,
    model_path: &str,
    kind: BatchKind,
) -> Result<Response<ResponseBody>, MockError> {
    let model = model_of(model_path.trim_start_matches("models/"))?;
    if !models::find(&model).is_some_and(|m| m.methods.contains(&kind.verb())) {
        return Err(MockError::model_not_found(&model, "v1beta", kind.verb()));
    }
    let body = json_body(req.body)?;
    let batch = body
        .get("batch")
        .ok_or_else(|| MockError::invalid_argument("batch is required."))?;
    let input = batch
        .get("inputConfig")
        .or(batch.get("input_config"))
        .ok_or_else(|| MockError::invalid_argument("batch.input_config is required."))?;
    check_references(resources, req.key, &body)?;
    let requests = match (input.get("requests"), input.get("fileName").or(input.get("file_name"))) {
        (Some(requests), None) => {
            let list = requests
                .get("requests")
                .and_then(Value::as_array)
                .filter(|l| !l.is_empty())
                .ok_or_else(|| {
                    MockError::invalid_argument("batch.input_config.requests.requests must not be empty.")
                })?;
            if list.iter().any(|r| r.get("request").is_none()) {
                return Err(MockError::invalid_argument("Each inlined request needs a request."));
            }
            if list.iter().any(|r| !kind.accepts(&r["request"])) {
                return Err(MockError::invalid_argument(format!(
                    "* {}: every request must be a {} request.\n",
                    kind.verb(),
                    if kind == BatchKind::EmbedContent {
                        "EmbedContent"
                    } else {
                        "GenerateContent"
                    }
                )));
            }
            Value::Array(list.clone())
        }
        (None, Some(_)) => Value::Null,
        _ => {
            return Err(MockError::invalid_argument(
                "batch.input_config needs requests or a file name, not both.",
            ))
        }
    };
    let id = resources.id("batch");
    let name = format!("batches/{id}");
    let operation = json!({
        "name": name,
        "metadata": {
            "@type": kind.type_url(),
            "model": format!("models/{model}"),
            "displayName": batch.get("displayName").or(batch.get("display_name")).cloned().unwrap_or(json!("batch")),
            "createTime": now_rfc3339(0),
            "updateTime": now_rfc3339(0),
            "state": "BATCH_STATE_PENDING",
            "name": name,
        },
    });
    let mut stored = operation.clone();
    stored["metadata"]["gempoolRequests"] = requests;
    resources.items.insert(
        name,
        Resource {
            key: req.key.to_owned(),
            body: stored,
            bytes: Vec::new(),
            generated: false,
            polls: 0,
        },
    );
    Ok(ok(operation))
}

fn create_video(
    resources: &mut Resources,
    req: &ResourceRequest<'_>,
    model_path: &str,
) -> Result<Response<ResponseBody>, MockError> {
    let model = model_of(model_path.trim_start_matches("models/"))?;
    if !model.starts_with("veo-") {
        return Err(MockError::model_not_found(&model, "v1beta", "predictLongRunning"));
    }
    let body = json_body(req.body)?;
    let prompt = body["instances"]
        .as_array()
        .and_then(|i| i.first())
        .and_then(|i| i["prompt"].as_str());
    if prompt.is_none_or(str::is_empty) {
        return Err(MockError::invalid_argument("instances[0].prompt is required."));
    }
    let id = resources.id("op");
    let name = format!("models/{model}/operations/{id}");
    let operation = json!({ "name": name });
    resources.items.insert(
        name,
        Resource {
            key: req.key.to_owned(),
            body: operation.clone(),
            bytes: Vec::new(),
            generated: false,
            polls: 0,
        },
    );
    Ok(ok(operation))
}

/// Refuses a request that names a file or cache `key` does not own (Google's 403).
pub(crate) fn check_references(resources: &Resources, key: &str, body: &Value) -> Result<(), MockError> {
    let mut names = Vec::new();
    collect(body, &mut names);
    for name in names {
        let id = name.rsplit('/').next().unwrap_or(&name).to_owned();
        match resources.items.get(&name) {
            Some(r) if r.key == key => {}
            _ => return Err(not_yours(kind_word(&name), &id)),
        }
    }
    Ok(())
}

fn collect(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    (
                        "fileUri" | "file_uri" | "fileName" | "file_name" | "cachedContent" | "cached_content",
                        Value::String(s),
                    ) => {
                        for prefix in ["files/", "cachedContents/"] {
                            if let Some(at) = s.rfind(prefix) {
                                let id: String = s[at + prefix.len()..]
                                    .chars()
                                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                                    .collect();
                                out.push(format!("{prefix}{id}"));
                            }
                        }
                    }
                    _ => collect(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
        _ => {}
    }
}
