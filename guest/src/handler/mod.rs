//! The request pipeline: route -> caller -> protocol decode -> pool and upstream -> protocol
//! encode -> accounting, each step once per request.
//!
//! Generic over the transport ([`Upstream`]) and the [`Database`], so the whole pipeline runs
//! natively in tests; the component only reads the request, calls [`handle`], and writes the
//! [`Reply`] (pumping streams through their [`Transducer`](crate::stream::Transducer)).
//!
//! Where each concern lives:
//! - `mod.rs` (here): the entry points ([`prepare`], [`handle`], [`refuse`]), the per-request
//!   [`Env`], and the dispatch of a route to its endpoint;
//! - `settings.rs`: the deployment's [`Config`] (host variables) and [`load_settings`] (the
//!   typed [`Settings`], migrating the schema first when needed);
//! - `caller.rs`: who is calling ([`Caller`], [`authenticate`] and its precedence), a client
//!   key's limits and allowed models;
//! - `pipeline.rs`: the client-protocol trait and the one generic pipeline of the
//!   translating endpoints, model resolution, the pool call;
//! - `openai.rs`, `anthropic.rs`, `responses.rs`: each protocol's endpoints as implementations
//!   of that trait, plus the model listings; `native.rs`: Gemini passed through;
//! - `model_list.rs`: the model list every listing is served from, cached per pool;
//! - `images.rs`, `speech.rs`: OpenAI's images and speech endpoints on Gemini's image and
//!   text-to-speech models;
//! - `accounting.rs`: everything recorded about a request (request log, usage and refusal
//!   counters, the access note, a finished stream: [`finish_stream`]);
//! - `reply.rs`: the [`Reply`] and its headers (CORS, the admin surface's, request ids, the
//!   access header), errors in the caller's protocol, scrubbing;
//! - `ids.rs`: request ids and seeds from the request's random bytes;
//! - `body.rs`: client and upstream JSON bodies.
//!
//! The admin API (`crate::admin`) is called from here and knows nothing of this module.

use crate::auth::{self, Presented};
use crate::error::GatewayError;
use crate::protocol::Protocol;
use crate::route::{self, Route};
use crate::secrets::Secrets;
use crate::store::failures::WriteFailures;
use crate::store::{self, Database};
use crate::upstream::Upstream;

mod accounting;
mod affinity;
mod anthropic;
mod body;
mod caller;
mod ids;
mod images;
mod model_list;
mod native;
mod openai;
mod paging;
mod pipeline;
mod reply;
#[cfg(not(feature = "edge"))]
mod resources;
mod responses;
mod settings;
mod speech;
#[cfg(test)]
mod tests;

pub use accounting::{finish_stream, AccessNote, Accounting};
pub use caller::{authenticate, Caller};
pub use reply::{add_access_header, error_reply, stamp_request_id, static_reply, Reply, ACCESS_HEADER};
pub use settings::{load_settings, Config, ACCESS_VARIABLE, SQL_TICKET_VARIABLE};
pub use store::settings::Settings;

/// The parts of a request the pipeline looks at before the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// The HTTP method, uppercase.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query string, without `?` (empty when there is none).
    pub query: String,
    /// Header names in lowercase.
    pub headers: Vec<(String, String)>,
}

/// A request's body: read whole (every route but one), or still coming from the client (the
/// bytes of a resumable upload, streamed upstream as they arrive).
pub enum RequestBody<C> {
    /// Read in full, within the configured limit.
    Read(Vec<u8>),
    /// Not read yet.
    Unread(C),
}

/// Whether the route's body is passed upstream as it arrives rather than read first.
pub fn streams_request_body(route: &Route) -> bool {
    matches!(
        route,
        Route::Resource {
            call: route::ResourceCall::UploadBytes { .. },
            ..
        }
    )
}

/// Per-request facts from the environment.
pub struct Env<'a, U: Upstream, D: Database> {
    /// Sends requests to Gemini.
    pub upstream: &'a U,
    /// The database.
    pub db: &'a D,
    /// The deployment's configuration.
    pub config: &'a Config,
    /// Random bytes for ids, seeds and new keys.
    pub random: [u8; 32],
    /// The request's arrival time (Unix ms).
    pub now_ms: i64,
    /// Set once the upstream bookkeeping wrote this request's log row.
    pub logged: std::cell::Cell<bool>,
    /// What the upstream bookkeeping learnt, for the host's access log.
    pub access: std::cell::RefCell<AccessNote>,
    /// Bookkeeping writes that failed, counted once the request is done.
    pub writes: WriteFailures,
}

/// What an endpoint serves a request with: the environment, the caller, the settings.
pub(crate) struct Call<'a, U: Upstream, D: Database> {
    /// The per-request environment.
    pub env: &'a Env<'a, U, D>,
    /// Who is calling.
    pub caller: &'a Caller,
    /// The stored settings.
    pub settings: &'a Settings,
}

/// Routes a request head; the error (if any) is already in the right protocol.
pub fn prepare(head: &RequestHead) -> (Protocol, Result<Route, GatewayError>) {
    let protocol = route::protocol_of(&head.path, &head.headers, &head.query);
    (
        protocol,
        route::route(&head.method, &head.path, &head.headers, &head.query),
    )
}

/// Serves one request whose body has been read.
///
/// On the way out: an error that was never logged by the upstream bookkeeping (refused before
/// the upstream: auth, limits, a bad body, an unknown model) gets its request-log row, and
/// every error reply and admin answer is scrubbed of every secret the instance knows.
pub async fn handle<U: Upstream, D: Database>(
    env: &Env<'_, U, D>,
    head: &RequestHead,
    route: Route,
    protocol: Protocol,
    body: RequestBody<U::ClientBody>,
    settings: &Settings,
) -> Reply<U::Body> {
    let (body, unread) = match body {
        RequestBody::Read(bytes) => (bytes, None),
        RequestBody::Unread(client) => (Vec::new(), Some(client)),
    };
    let presented = auth::presented_credential(&head.headers, &head.query);
    // The admin surface: the admin API and the metrics.
    let admin_surface = matches!(route, Route::AdminApi { .. } | Route::Metrics);
    let loggable = route.is_proxied();
    let route_model = match &route {
        Route::Gemini { model, .. } => model.clone(),
        _ => None,
    };
    let mut client_id = None;
    let outcome = serve(
        env,
        head,
        route,
        (&body, unread),
        settings,
        presented.as_ref(),
        &mut client_id,
    )
    .await;
    let mut secrets = None;
    let mut reply = match outcome {
        Ok(reply) => reply,
        Err(error) => {
            if loggable && !env.logged.get() {
                let model = route_model.or_else(|| body::model_named_in(&body));
                let known = secrets.get_or_insert_with(|| known_secrets(env, presented.as_ref()));
                accounting::refused(env, protocol, model, client_id, &error, known);
            }
            error_reply(&error, protocol)
        }
    };
    if admin_surface {
        reply::secure_admin_surface(&mut reply);
    }
    if let Reply::Full { status, .. } = &reply {
        if *status >= 400 || admin_surface {
            let known = secrets.get_or_insert_with(|| known_secrets(env, presented.as_ref()));
            reply::scrub(&mut reply, known, true);
        }
    }
    stamp_request_id(&mut reply, &env.random, env.now_ms);
    env.writes.flush(env.db);
    reply
}

/// Renders and logs an error met before the pipeline could start (an unknown route, a body
/// over the limit): what the component answers when [`handle`] cannot run.
pub fn refuse<U: Upstream, D: Database>(
    env: &Env<'_, U, D>,
    head: &RequestHead,
    protocol: Protocol,
    error: &GatewayError,
) -> Reply<U::Body> {
    let presented = auth::presented_credential(&head.headers, &head.query);
    let secrets = known_secrets(env, presented.as_ref());
    if protocol != Protocol::Admin {
        accounting::refused(env, protocol, None, None, error, &secrets);
    }
    let mut reply = error_reply(error, protocol);
    reply::scrub(&mut reply, &secrets, false);
    env.writes.flush(env.db);
    reply
}

/// Every secret this instance knows: the pool's keys, the admin key when configured, and
/// whatever credential the caller presented (a client key, or its own Gemini keys).
fn known_secrets<U: Upstream, D: Database>(env: &Env<'_, U, D>, presented: Option<&Presented>) -> Secrets {
    let mut secrets = Secrets::new(store::keys::all_secrets(env.db).unwrap_or_default());
    secrets.extend(env.config.admin_key.iter().cloned());
    if let Some(p) = presented {
        secrets.extend(p.secret.split(',').map(str::to_owned));
        secrets.extend([p.secret.clone()]);
    }
    secrets
}

/// Who is calling, whether they may now, and the route's endpoint.
async fn serve<U: Upstream, D: Database>(
    env: &Env<'_, U, D>,
    head: &RequestHead,
    route: Route,
    (body, unread): (&[u8], Option<U::ClientBody>),
    settings: &Settings,
    presented: Option<&Presented>,
    client_id: &mut Option<i64>,
) -> Result<Reply<U::Body>, GatewayError> {
    // The edge build streams no request body (it has no upload sessions).
    #[cfg(feature = "edge")]
    drop(unread);
    // The bytes of a resumable upload come without credentials (the google-genai SDKs send
    // none): as at Google, the session URL is the credential. Its id is gempool's own, 128
    // random bits, and names a session some authenticated caller started.
    let session_bytes = presented.is_none() && streams_request_body(&route);
    let caller = if session_bytes {
        Caller::Open
    } else {
        authenticate(&route, presented, env.config, settings, env.db, env.now_ms)?
    };
    *client_id = caller.client_id();
    if route.is_proxied() {
        caller::admit(env.db, &caller, env.now_ms)?;
    }
    let call = Call {
        env,
        caller: &caller,
        settings,
    };
    match route {
        Route::Health | Route::Preflight => Ok(static_reply(&route, &head.path)),
        #[cfg(not(feature = "edge"))]
        Route::AdminPage => {
            let (headers, body) = crate::admin::page(&head.headers);
            Ok(Reply::Full {
                status: 200,
                headers,
                body,
            })
        }
        #[cfg(not(feature = "edge"))]
        Route::Metrics => {
            let snapshot =
                store::metrics::snapshot(env.db, env.now_ms).map_err(|e| GatewayError::Internal(e.to_string()))?;
            Ok(Reply::Full {
                status: 200,
                headers: vec![("content-type".into(), crate::metrics::CONTENT_TYPE.into())],
                body: crate::metrics::render(&snapshot, env.now_ms).into_bytes(),
            })
        }
        #[cfg(not(feature = "edge"))]
        Route::AdminApi { rest } => {
            let ctx = crate::admin::Context {
                upstream: env.upstream,
                db: env.db,
                now_ms: env.now_ms,
                random: &env.random,
            };
            crate::admin::handle(&ctx, &head.method, &rest, &head.query, body, settings)
                .await
                .map(|(status, value)| reply::to_json_reply(status, &value))
        }
        // The edge build has no storage, so no admin surface is compiled into it, and it cannot
        // remember which key holds a resource.
        #[cfg(feature = "edge")]
        Route::AdminPage | Route::AdminApi { .. } | Route::Metrics | Route::Resource { .. } => {
            Err(crate::edge::needs_gateway(&route))
        }
        #[cfg(not(feature = "edge"))]
        Route::Resource {
            version,
            call: resource,
        } => resources::handle(&call, head, &version, resource, body, unread).await,
        Route::Gemini { version, model, method } => {
            native::handle(&call, head, &version, model.as_deref(), method, body).await
        }
        Route::OpenAiChat => pipeline::run::<openai::Chat, _, _>(&call, body).await,
        Route::OpenAiResponses => pipeline::run::<responses::Responses, _, _>(&call, body).await,
        Route::OpenAiEmbeddings => pipeline::run::<openai::Embeddings, _, _>(&call, body).await,
        Route::OpenAiImages => images::generate(&call, body).await,
        Route::OpenAiSpeech => speech::speak(&call, body).await,
        Route::AnthropicMessages => pipeline::run::<anthropic::Messages, _, _>(&call, body).await,
        Route::AnthropicCountTokens => pipeline::run::<anthropic::CountTokens, _, _>(&call, body).await,
        Route::OpenAiModels => openai::models(&call, None).await,
        Route::OpenAiModel(id) => openai::models(&call, Some(&id)).await,
        Route::AnthropicModels => anthropic::models(&call, None).await,
        Route::AnthropicModel(id) => anthropic::models(&call, Some(&id)).await,
    }
}
