//! Native resources held per key: the Files API (resumable and multipart uploads, get, list,
//! delete, download), cached contents, batches and long-running operations.
//!
//! Each resource lives in the Google project of the key that created it, so:
//! - a call that creates one goes through the pool (failover before the first byte, unless its
//!   body refers to a resource already held: then to that key), and the key that answered is
//!   remembered as the holder ([`crate::store::resources`]);
//! - a call that names one goes to its holder only ([`affinity`]); when that key is disabled or
//!   cooling down the client is told so, never silently retried on a key that cannot see it;
//! - a resumable upload's session URL is gempool's own (`/upload/{v}/files?upload_id=<id>`,
//!   on the origin the client called), and its bytes are streamed to the holder as they come;
//! - lists merge the holders' lists and show only what the caller created;
//! - names are Google's own (`files/abc`): they say nothing of which key holds them.
//!
//! Callers with their own Gemini keys (pure-proxy mode) have nothing stored, so these routes
//! are refused for them with a clear error.

use serde_json::{json, Value};

use crate::auth;
use crate::error::GatewayError;
use crate::pool;
use crate::protocol::gemini::resources::{created, generated_files, FILE_LIFETIME_MS, UPLOAD_SESSION_MS};
use crate::protocol::gemini::ErrorBody;
use crate::protocol::Protocol;
use crate::route::{NamedAction, ResourceCall, ResourceKind};
use crate::secrets::Secrets;
use crate::store::failures::WriteOp;
use crate::store::resources::{self, Held, NewResource};
use crate::store::usage::SuccessHealth;
use crate::store::{keys, Database};
use crate::upstream::{holder_unavailable, Pinned, Upstream, UpstreamRequest, ERROR_BODY_LIMIT, MAX_WHOLE_BODY_BYTES};

use super::accounting::CallFacts;
use super::affinity;
use super::paging;
use super::pipeline::{call_upstream, call_upstream_pinned, Upstreamed};
use super::reply::{common_headers, json_bytes_reply, Reply};
use super::{Call, Caller, RequestHead};

/// Headers of the resumable upload protocol passed between the client and Google.
const UPLOAD_REQUEST_HEADERS: &[&str] = &[
    "x-goog-upload-protocol",
    "x-goog-upload-command",
    "x-goog-upload-offset",
    "x-goog-upload-header-content-length",
    "x-goog-upload-header-content-type",
    "x-goog-upload-file-name",
    "content-type",
];
/// Headers of Google's upload answers passed back to the client.
const UPLOAD_ANSWER_HEADERS: &[&str] = &[
    "x-goog-upload-status",
    "x-goog-upload-size-received",
    "x-goog-upload-chunk-granularity",
    "content-type",
];
/// Query parameters passed upstream for resource calls.
const FORWARDED_QUERY: &[&str] = &["alt", "pageSize", "pageToken", "updateMask", "uploadType"];
/// Upstream pages read per holder when merging a list.
const MAX_LIST_PAGES: usize = 10;

/// Serves one resource call.
pub(super) async fn handle<U: Upstream, D: Database>(
    call: &Call<'_, U, D>,
    head: &RequestHead,
    version: &str,
    resource: ResourceCall,
    body: &[u8],
    unread: Option<U::ClientBody>,
) -> Result<Reply<U::Body>, GatewayError> {
    if let Caller::OwnKeys(_) = call.caller {
        return Err(GatewayError::invalid(
            "files, cached contents, batches and operations need gempool's stored pool, which remembers the key that holds each; \
             call them with a gempool client key, or call Google directly with your own key",
        ));
    }
    match resource {
        ResourceCall::UploadStart => upload_start(call, head, version, body).await,
        ResourceCall::UploadBytes { upload_id } => {
            let unread =
                unread.ok_or_else(|| GatewayError::Internal("upload bytes were read before their route".into()))?;
            upload_bytes(call, head, &upload_id, unread).await
        }
        ResourceCall::List(kind) => list(call, head, version, kind).await,
        ResourceCall::CreateCache => {
            let model = json_body(body)?
                .get("model")
                .and_then(Value::as_str)
                .map(|m| m.trim_start_matches("models/").to_owned())
                .ok_or_else(|| GatewayError::invalid_param("a cached content needs a model", "model"))?;
            call.caller.may_use(&model, &model)?;
            let request = UpstreamRequest::post_json(format!("/{version}/cachedContents"), body.to_vec());
            create(call, &model, request).await
        }
        ResourceCall::StartJob { model, verb } => {
            call.caller.may_use(&model, &model)?;
            json_body(body)?;
            let path = crate::protocol::gemini::model_path(version, &model, Some(verb.verb()));
            let request = UpstreamRequest::post_json(path, body.to_vec());
            // A batch or a video is a call to its model: the model is its pool bucket.
            create(call, &model, request).await
        }
        ResourceCall::Named { name, action } => named(call, head, version, &name, action, body).await,
    }
}

/// The body as JSON, or Gemini's own error for one that is not.
fn json_body(body: &[u8]) -> Result<Value, GatewayError> {
    serde_json::from_slice(body)
        .map_err(|_| GatewayError::invalid("Invalid JSON payload received: the request body is not valid JSON."))
}

/// `path` with the forwarded query parameters of the client's query.
fn with_query(mut path: String, query: &str) -> String {
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| FORWARDED_QUERY.contains(&pair.split_once('=').map_or(*pair, |(name, _)| name)))
        .collect();
    if !kept.is_empty() {
        path.push(if path.contains('?') { '&' } else { '?' });
        path.push_str(&kept.join("&"));
    }
    path
}

/// The client's headers of the upload protocol, passed on to Google.
fn upload_request_headers(head: &RequestHead) -> Vec<(String, String)> {
    head.headers
        .iter()
        .filter(|(name, _)| UPLOAD_REQUEST_HEADERS.contains(&name.as_str()))
        .cloned()
        .collect()
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Remembers a resource an answer created (or pointed at) as held by `key_id`.
fn remember<U: Upstream, D: Database>(call: &Call<'_, U, D>, new: NewResource<'_>) {
    call.env
        .writes
        .check(WriteOp::Resource, resources::remember(call.env.db, &new));
}

/// Remembers what a create call's answer describes, and the files it points at.
fn remember_created<U: Upstream, D: Database>(call: &Call<'_, U, D>, answer: &[u8], key_id: i64, client: Option<i64>) {
    let Ok(answer) = serde_json::from_slice::<Value>(answer) else {
        return;
    };
    let now_ms = call.env.now_ms;
    if let Some(made) = created(&answer, now_ms) {
        remember(
            call,
            NewResource {
                name: &made.name,
                kind: made.kind.collection(),
                key_id,
                client_id: client,
                upstream: None,
                now_ms,
                expires_ms: made.expires_ms,
            },
        );
    }
    for file in generated_files(&answer) {
        remember(
            call,
            NewResource {
                name: &file,
                kind: ResourceKind::Files.collection(),
                key_id,
                client_id: client,
                upstream: None,
                now_ms,
                expires_ms: Some(now_ms + FILE_LIFETIME_MS),
            },
        );
    }
}

/// A call that creates a resource: through the pool (or to the holder of what its body refers
/// to); the answering key becomes the holder.
async fn create<U: Upstream, D: Database>(
    call: &Call<'_, U, D>,
    pool_model: &str,
    request: UpstreamRequest,
) -> Result<Reply<U::Body>, GatewayError> {
    match call_upstream(call, Protocol::Gemini, pool_model, &request, None).await? {
        Upstreamed::Whole {
            status, body, key_id, ..
        } => {
            if let Some(key_id) = key_id {
                remember_created(call, &body, key_id, call.caller.client_id());
            }
            Ok(json_bytes_reply(status, body))
        }
        Upstreamed::Fault { status, body } => Ok(json_bytes_reply(status, body)),
        Upstreamed::Stream(reply) => Ok(reply),
    }
}

/// The origin the client called, for URLs handed back to it: the `Host` it sent, with the
/// scheme a proxy in front says (`x-forwarded-proto`), else `http` on loopback and `https`
/// elsewhere.
fn client_origin(head: &RequestHead) -> String {
    let host = header(&head.headers, "x-forwarded-host")
        .or_else(|| header(&head.headers, "host"))
        .unwrap_or("localhost");
    let host: String = host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        .collect();
    let loopback = ["localhost", "127.", "[::1]"].iter().any(|p| host.starts_with(p));
    let scheme = match header(&head.headers, "x-forwarded-proto") {
        Some("https") => "https",
        Some("http") => "http",
        _ if loopback => "http",
        _ => "https",
    };
    format!("{scheme}://{host}")
}

/// `POST /upload/{v}/files`: a resumable upload's start (the session URL handed back points
/// at gempool), or a whole multipart upload.
async fn upload_start<U: Upstream, D: Database>(
    call: &Call<'_, U, D>,
    head: &RequestHead,
    version: &str,
    body: &[u8],
) -> Result<Reply<U::Body>, GatewayError> {
    let resumable =
        header(&head.headers, "x-goog-upload-protocol").is_some_and(|p| p.eq_ignore_ascii_case("resumable"));
    let headers = upload_request_headers(head);
    let request = UpstreamRequest {
        method: "POST".into(),
        path_and_query: with_query(format!("/upload/{version}/files"), &head.query),
        body: Some(body.to_vec()),
        headers,
        stream: false,
    };
    let files = ResourceKind::Files.collection();
    let (status, answer, answer_headers, key_id) =
        match call_upstream(call, Protocol::Gemini, files, &request, None).await? {
            Upstreamed::Whole {
                status,
                body,
                headers,
                key_id,
                ..
            } => (status, body, headers, key_id),
            Upstreamed::Fault { status, body } => return Ok(json_bytes_reply(status, body)),
            Upstreamed::Stream(reply) => return Ok(reply),
        };
    let key_id = key_id.ok_or_else(|| GatewayError::Internal("an upload was answered by no stored key".into()))?;
    let mut reply_headers = upload_answer_headers(&answer_headers);
    if resumable {
        let session = header(&answer_headers, "x-goog-upload-url")
            .and_then(|url| url.find("/upload/").map(|at| url[at..].to_owned()))
            .ok_or_else(|| GatewayError::Upstream {
                status: 502,
                message: "the upstream started an upload without a session URL".into(),
            })?;
        let id = auth::sha256_hex(&format!("{}:upload", hex(&call.env.random)))[..32].to_owned();
        let name = format!("{}/{id}", ResourceKind::Uploads.collection());
        remember(
            call,
            NewResource {
                name: &name,
                kind: ResourceKind::Uploads.collection(),
                key_id,
                client_id: call.caller.client_id(),
                upstream: Some(&session),
                now_ms: call.env.now_ms,
                expires_ms: Some(call.env.now_ms + UPLOAD_SESSION_MS),
            },
        );
        reply_headers.push((
            "x-goog-upload-url".into(),
            format!(
                "{}/upload/{version}/files?upload_id={id}&upload_protocol=resumable",
                client_origin(head)
            ),
        ));
    } else {
        remember_created(call, &answer, key_id, call.caller.client_id());
    }
    Ok(Reply::Full {
        status,
        headers: reply_headers,
        body: answer,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The common headers plus the upload protocol's, exposed to browser clients.
fn upload_answer_headers(upstream: &[(String, String)]) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = common_headers()
        .into_iter()
        .map(|(name, value)| {
            if name == "access-control-expose-headers" {
                (
                    name,
                    format!("{value}, x-goog-upload-url, x-goog-upload-status, x-goog-upload-size-received"),
                )
            } else {
                (name, value)
            }
        })
        .collect();
    headers.extend(
        upstream
            .iter()
            .filter(|(name, _)| UPLOAD_ANSWER_HEADERS.contains(&name.to_ascii_lowercase().as_str()))
            .map(|(name, value)| (name.to_ascii_lowercase(), value.clone())),
    );
    headers
}

/// The stored key holding a resource, with its secret, if it can be used now; otherwise the
/// error a pinned request gets (with `Retry-After` while the key cools down).
fn holder_key(db: &dyn Database, pinned: &Pinned, now_ms: i64) -> Result<String, GatewayError> {
    let day = pool::clock::utc_day(now_ms);
    let candidate = keys::candidates(db, ResourceKind::Files.collection(), &day)?
        .into_iter()
        .find(|k| k.candidate.id == pinned.key_id);
    match candidate {
        Some(key) if pool::usable(&key.candidate, now_ms) => Ok(key.secret),
        other => Err(holder_unavailable(pinned, other.as_ref().map(|k| &k.candidate), now_ms)),
    }
}

/// `POST /upload/{v}/files?upload_id=...`: the bytes of an upload gempool started, streamed to
/// the key that started it. Sent once: bytes cannot be replayed on another key.
async fn upload_bytes<U: Upstream, D: Database>(
    call: &Call<'_, U, D>,
    head: &RequestHead,
    upload_id: &str,
    client_body: U::ClientBody,
) -> Result<Reply<U::Body>, GatewayError> {
    let env = call.env;
    let name = format!("{}/{upload_id}", ResourceKind::Uploads.collection());
    let held: Held = affinity::holder(call, &name)?.ok_or_else(|| {
        GatewayError::NotFound(format!(
            "no upload session {upload_id} (it may have finished or expired)"
        ))
    })?;
    let session = held
        .upstream
        .clone()
        .ok_or_else(|| GatewayError::Internal("an upload session without its upstream URL".into()))?;
    let pinned = Pinned {
        key_id: held.key_id,
        resource: "this upload".into(),
    };
    let secret = holder_key(env.db, &pinned, env.now_ms)?;
    let headers = upload_request_headers(head);
    let length = header(&head.headers, "content-length").and_then(|l| l.trim().parse::<u64>().ok());
    let request = UpstreamRequest {
        method: if head.method == "PUT" {
            "PUT".into()
        } else {
            "POST".into()
        },
        path_and_query: session,
        body: None,
        headers,
        stream: false,
    };
    let started_ms = env.upstream.now_ms();
    let files = ResourceKind::Files.collection();
    let facts = CallFacts {
        client_id: call.caller.client_id(),
        protocol: Protocol::Gemini,
        model: files,
        requested: None,
        attempts: 1,
        key_id: Some(held.key_id),
        proxy_key: None,
    };
    let secrets = Secrets::new([secret.clone()]);
    let response = match env.upstream.send_streamed(&request, &secret, client_body, length).await {
        Ok(response) => response,
        Err(error) => {
            let error = GatewayError::Upstream {
                status: 502,
                message: secrets.scrub(&error.to_string()).into_owned(),
            };
            facts.failed(env, &error);
            return Err(error);
        }
    };
    let status = response.status;
    let answer_headers = response.headers;
    let limit = if (200..300).contains(&status) {
        MAX_WHOLE_BODY_BYTES
    } else {
        ERROR_BODY_LIMIT
    };
    let answer = env
        .upstream
        .read_to_end(response.body, limit, true)
        .await
        .unwrap_or_default();
    let answer = secrets.scrub_bytes(&answer).unwrap_or(answer);
    if (200..300).contains(&status) {
        facts.answered(env, status, started_ms, SuccessHealth::default(), &answer);
        if header(&answer_headers, "x-goog-upload-status") == Some("final") {
            remember_created(call, &answer, held.key_id, held.client_id);
            env.writes.check(WriteOp::Resource, resources::forget(env.db, &name));
        }
    } else {
        facts.faulted(env, status, &answer);
    }
    Ok(Reply::Full {
        status,
        headers: upload_answer_headers(&answer_headers),
        body: answer,
    })
}

/// A call naming one resource: sent to its holder only.
async fn named<U: Upstream, D: Database>(
    call: &Call<'_, U, D>,
    head: &RequestHead,
    version: &str,
    name: &str,
    action: NamedAction,
    body: &[u8],
) -> Result<Reply<U::Body>, GatewayError> {
    let kind = ResourceKind::of_name(name).unwrap_or(ResourceKind::Files);
    let held = affinity::holder(call, name)?.ok_or_else(|| {
        GatewayError::NotFound(format!(
            "{name} is not known here: gempool serves the {} created through it (until they expire)",
            kind.collection()
        ))
    })?;
    let path = format!("/{version}/{name}");
    let (method, path, body) = match action {
        NamedAction::Get => ("GET", path, None),
        NamedAction::Delete => ("DELETE", path, None),
        NamedAction::Patch => ("PATCH", path, Some(json_body(body).map(|_| body.to_vec())?)),
        NamedAction::Cancel => ("POST", format!("{path}:cancel"), Some(b"{}".to_vec())),
        NamedAction::Download => ("GET", format!("{path}:download"), None),
    };
    let request = UpstreamRequest {
        method: method.into(),
        path_and_query: with_query(path, &head.query),
        headers: if body.is_some() {
            vec![("content-type".into(), "application/json".into())]
        } else {
            vec![]
        },
        body,
        stream: false,
    };
    let pinned = Pinned {
        key_id: held.key_id,
        resource: name.to_owned(),
    };
    let outcome = call_upstream_pinned(call, Protocol::Gemini, kind.collection(), &request, None, Some(pinned)).await?;
    match outcome {
        Upstreamed::Whole {
            status, body, headers, ..
        } => {
            match action {
                NamedAction::Delete => {
                    call.env
                        .writes
                        .check(WriteOp::Resource, resources::forget(call.env.db, name));
                }
                NamedAction::Get | NamedAction::Patch | NamedAction::Cancel => {
                    // A finished job points at the files it wrote; a patched cache has a new expiry.
                    remember_created(call, &body, held.key_id, held.client_id);
                }
                NamedAction::Download => {
                    let mut reply_headers = common_headers();
                    if let Some(kind) = header(&headers, "content-type") {
                        reply_headers.push(("content-type".into(), kind.to_owned()));
                    }
                    return Ok(Reply::Full {
                        status,
                        headers: reply_headers,
                        body,
                    });
                }
            }
            Ok(json_bytes_reply(status, body))
        }
        Upstreamed::Fault { status, body } => {
            // Google no longer has it (deleted elsewhere, expired early): forget it too.
            if status == 404 {
                call.env
                    .writes
                    .check(WriteOp::Resource, resources::forget(call.env.db, name));
            }
            Ok(json_bytes_reply(status, body))
        }
        Upstreamed::Stream(reply) => Ok(reply),
    }
}

/// The list field of each collection's answer.
fn list_field(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Batches => "operations",
        other => other.collection(),
    }
}

/// The largest page Google serves for each collection.
fn max_page(kind: ResourceKind) -> usize {
    match kind {
        ResourceKind::Files => 100,
        _ => 1000,
    }
}

/// `GET /{v}/files | cachedContents | batches`: the caller's resources, merged from the lists
/// of the keys holding them, newest first, in gempool's own pages. A holder that cannot be used
/// now (disabled, cooling down) leaves its resources out rather than failing the whole list.
async fn list<U: Upstream, D: Database>(
    call: &Call<'_, U, D>,
    head: &RequestHead,
    version: &str,
    kind: ResourceKind,
) -> Result<Reply<U::Body>, GatewayError> {
    let page_size = auth::query_param(&head.query, "pageSize")
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(10)
        .min(max_page(kind));
    let offset = match auth::query_param(&head.query, "pageToken").filter(|t| !t.is_empty()) {
        None => 0,
        Some(token) => paging::offset_of(&token).ok_or_else(paging::invalid_token)?,
    };
    let held = resources::visible(call.env.db, kind.collection(), call.caller.client_id(), call.env.now_ms)?;
    let mut holders: Vec<i64> = held.iter().map(|h| h.key_id).collect();
    holders.sort_unstable();
    holders.dedup();
    let field = list_field(kind);
    let mut items: Vec<Value> = Vec::new();
    for key_id in holders {
        let mut token: Option<String> = None;
        for _ in 0..MAX_LIST_PAGES {
            let request = UpstreamRequest::list_page(version, kind.collection(), max_page(kind), token.as_deref());
            let pinned = Pinned {
                key_id,
                resource: format!("the {} list", kind.collection()),
            };
            let page =
                match call_upstream_pinned(call, Protocol::Gemini, kind.collection(), &request, None, Some(pinned))
                    .await
                {
                    Ok(Upstreamed::Whole { body, .. }) => serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null),
                    Ok(Upstreamed::Fault { body, .. }) => {
                        let message = ErrorBody::parse(&body).map(|e| e.error.message).unwrap_or_default();
                        eprintln!("gempool: a {} list of one holder failed: {message}", kind.collection());
                        break;
                    }
                    Ok(Upstreamed::Stream(_)) | Err(_) => break,
                };
            if let Some(list) = page.get(field).and_then(Value::as_array) {
                items.extend(list.iter().cloned());
            }
            token = page.get("nextPageToken").and_then(Value::as_str).map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
    }
    // The caller's own, in the order gempool knows them (newest first).
    let order: Vec<&str> = held.iter().map(|h| h.name.as_str()).collect();
    let mut mine: Vec<(usize, Value)> = items
        .into_iter()
        .filter_map(|item| {
            let name = item.get("name")?.as_str()?;
            let at = order.iter().position(|n| *n == name)?;
            Some((at, item))
        })
        .collect();
    crate::sort::sort_by_key(&mut mine, |(at, _)| *at);
    mine.dedup_by_key(|(at, _)| *at);
    let end = (offset + page_size).min(mine.len());
    let page: Vec<Value> = mine
        .into_iter()
        .skip(offset)
        .take(end.saturating_sub(offset))
        .map(|(_, item)| item)
        .collect();
    let mut answer = json!({});
    if !page.is_empty() {
        answer[field] = Value::Array(page);
    }
    if end < order.len() && end > offset {
        answer["nextPageToken"] = Value::String(paging::offset_token(end));
    }
    Ok(json_bytes_reply(200, serde_json::to_vec(&answer).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(headers: &[(&str, &str)]) -> RequestHead {
        RequestHead {
            method: "POST".into(),
            path: "/upload/v1beta/files".into(),
            query: String::new(),
            headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn the_session_url_points_at_the_origin_the_client_called() {
        assert_eq!(
            client_origin(&head(&[("host", "127.0.0.1:8080")])),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            client_origin(&head(&[("host", "gempool.example")])),
            "https://gempool.example"
        );
        assert_eq!(
            client_origin(&head(&[("host", "gempool.example"), ("x-forwarded-proto", "http")])),
            "http://gempool.example"
        );
        // A header cannot smuggle a path or another URL into the session URL.
        assert_eq!(
            client_origin(&head(&[("host", "evil.example/x?y=@z")])),
            "https://evil.examplexyz"
        );
    }

    #[test]
    fn forwarded_query_keeps_only_documented_parameters() {
        assert_eq!(
            with_query("/v1beta/files".into(), "key=gp-secret&pageSize=5&x=1"),
            "/v1beta/files?pageSize=5"
        );
        assert_eq!(with_query("/v1beta/files/a".into(), ""), "/v1beta/files/a");
    }
}
