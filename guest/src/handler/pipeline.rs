//! The one pipeline of the translating endpoints, generic over a [`ClientProtocol`]: a
//! request passes each step once, in this order:
//!
//! 1. the body is parsed as the protocol's request ([`body::parse_body`]);
//! 2. the model it names is resolved (aliases) and checked against the caller ([`resolve_model`]);
//! 3. the protocol decodes it into the hub's request(s) ([`ClientProtocol::decode`]), which are
//!    checked ([`HubCall::check`]);
//! 4. each goes through the pool to the upstream ([`call_upstream`], which also does the
//!    accounting), falling back along the model's configured chain when the model is rate
//!    limited or overloaded on every key ([`models_for`], [`falls_back`]);
//! 5. the protocol encodes the answer: a whole reply ([`ClientProtocol::encode`]), a stream
//!    (the transducer of [`ClientProtocol::stream`]), or an error in its shape
//!    ([`ClientProtocol::PROTOCOL`]).
//!
//! Native Gemini ([`super::native`]) skips 1, 3 and 5: the body goes upstream as sent. The
//! model listings ([`super::model_list`]) have no body and come from a cache.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::GatewayError;
use crate::protocol::gemini::{
    self, BatchEmbedContentsRequest, BatchEmbedContentsResponse, CountTokensRequest, CountTokensResponse,
    GenerateContentRequest, GenerateContentResponse, API_VERSION,
};
use crate::protocol::{Protocol, RequestContext};
use crate::secrets::Secrets;
use crate::store::Database;
use crate::stream::Transducer;
use crate::upstream::{
    self, Attempted, Delivered, FailoverContext, KeySource, Pinned, Upstream, UpstreamRequest, UpstreamResponse,
};

use super::accounting::{proxy_key_hash, CallFacts};
use super::affinity;
use super::reply::{self, common_headers, Reply};
use super::{body, ids, Call, Caller};

/// A request of the hub (Gemini) that one upstream call carries, and what answers it.
pub(crate) trait HubCall: Serialize {
    /// The upstream's whole answer.
    type Answer: DeserializeOwned;
    /// Gemini's method for a whole answer.
    const METHOD: &'static str;
    /// Gemini's method for a streamed answer, when the call can stream.
    const STREAM_METHOD: Option<&'static str> = None;
    /// Whether another model of the configured chain may answer when this one cannot
    /// (generation only: embeddings and token counts are tied to their model).
    const FALLS_BACK: bool = false;
    /// Refuses, before the upstream is called, what Gemini would refuse.
    fn check(&self) -> Result<(), GatewayError> {
        Ok(())
    }
}

impl HubCall for GenerateContentRequest {
    type Answer = GenerateContentResponse;
    const METHOD: &'static str = "generateContent";
    const STREAM_METHOD: Option<&'static str> = Some("streamGenerateContent?alt=sse");
    const FALLS_BACK: bool = true;
    fn check(&self) -> Result<(), GatewayError> {
        match &self.generation_config {
            Some(config) => config
                .check_ranges()
                .map_err(|e| GatewayError::invalid_param(e.to_string(), e.name)),
            None => Ok(()),
        }
    }
}

impl HubCall for CountTokensRequest {
    type Answer = CountTokensResponse;
    const METHOD: &'static str = "countTokens";
}

impl HubCall for BatchEmbedContentsRequest {
    type Answer = BatchEmbedContentsResponse;
    const METHOD: &'static str = "batchEmbedContents";
}

/// A client protocol's half of an endpoint: how its request becomes the hub's and how the
/// hub's answer (or an error) goes back. The steps in between are [`run`]'s.
pub(crate) trait ClientProtocol {
    /// The protocol errors are rendered in.
    const PROTOCOL: Protocol;
    /// The message when the request names no model.
    const MISSING_MODEL: &'static str;
    /// The client's request body.
    type Request: DeserializeOwned;
    /// The hub's request it becomes.
    type Hub: HubCall;

    /// The model the request names (an alias or a Gemini model id).
    fn model(request: &Self::Request) -> &str;

    /// The hub's request(s) for the resolved `model`: one upstream call each (embeddings split
    /// large inputs into batches; the others make one).
    fn decode(request: &Self::Request, model: &str) -> Result<Vec<Self::Hub>, GatewayError>;

    /// The transducer when the client asked for a stream (only hubs with a stream method).
    fn stream(_request: &Self::Request, _ctx: &RequestContext) -> Option<Transducer> {
        None
    }

    /// The client's whole reply (JSON) from the upstream's answers, one per hub request;
    /// `model` is the name to show (the client's own, or the fallback model that answered).
    fn encode(
        request: &Self::Request,
        answers: &[<Self::Hub as HubCall>::Answer],
        ctx: &RequestContext,
        model: &str,
    ) -> Result<Vec<u8>, GatewayError>;

    /// An error in the protocol's shape (ours, or an upstream fault the request caused).
    fn encode_error<B>(error: &GatewayError) -> Reply<B> {
        reply::error_reply(error, Self::PROTOCOL)
    }
}

/// Serves one request of protocol `P` (see the module doc for the steps).
pub(super) async fn run<P: ClientProtocol, U: Upstream, D: Database>(
    call: &Call<'_, U, D>,
    body: &[u8],
) -> Result<Reply<U::Body>, GatewayError> {
    let request: P::Request = body::parse_body(body)?;
    let model = resolve_model(call, P::model(&request), P::MISSING_MODEL)?;
    let hubs = P::decode(&request, &model)?;
    let ctx = ids::request_context(&call.env.random, call.env.now_ms);
    let mut transducer = P::stream(&request, &ctx);
    let method = match (&transducer, <P::Hub as HubCall>::STREAM_METHOD) {
        (None, _) => <P::Hub as HubCall>::METHOD,
        (Some(_), Some(method)) if hubs.len() == 1 => method,
        (Some(_), _) => {
            return Err(GatewayError::Internal(
                "a stream was asked of a call that cannot stream".into(),
            ))
        }
    };
    let chain = fallbacks_for(call, &model, <P::Hub as HubCall>::FALLS_BACK);
    let streaming = transducer.is_some();
    let mut answers = Vec::with_capacity(hubs.len());
    let mut fallback = None;
    for hub in &hubs {
        hub.check()?;
        let mut upstream_request = UpstreamRequest::post_json(
            gemini::model_path(API_VERSION, &model, Some(method)),
            body::to_json(hub)?,
        );
        upstream_request.stream = streaming;
        // Only a fallback copies the body.
        let request_for = |model: &str| UpstreamRequest {
            path_and_query: gemini::model_path(API_VERSION, model, Some(method)),
            ..upstream_request.clone()
        };
        let fallbacks = Fallbacks {
            models: chain.clone(),
            request_for: &request_for,
        };
        let upstreamed = call_with_fallbacks(
            call,
            P::PROTOCOL,
            &model,
            &upstream_request,
            fallbacks,
            transducer.take(),
        )
        .await?;
        match upstreamed {
            Upstreamed::Stream(reply) => return Ok(reply),
            Upstreamed::Fault { status, body } => {
                return Ok(P::encode_error(&GatewayError::from(body::fault_status(status, &body))))
            }
            Upstreamed::Whole {
                body, fallback: served, ..
            } => {
                fallback = served.or(fallback);
                answers.push(body::decode_upstream(&body)?)
            }
        }
    }
    let shown = fallback.as_deref().unwrap_or(P::model(&request));
    let mut reply = reply::json_bytes_reply(200, P::encode(&request, &answers, &ctx, shown)?);
    if let Some(served) = fallback {
        reply.headers_mut().push((FALLBACK_HEADER.into(), served));
    }
    Ok(reply)
}

/// The response header naming the fallback model that answered, when one did.
pub const FALLBACK_HEADER: &str = "x-gempool-fallback-model";

/// The models `model` may fall back to (its configured chain, for calls that fall back),
/// without the models the caller may not use; empty when there is no chain.
pub(super) fn fallbacks_for<U: Upstream, D: Database>(
    call: &Call<'_, U, D>,
    model: &str,
    falls_back: bool,
) -> Vec<String> {
    if !falls_back {
        return Vec::new();
    }
    call.settings
        .fallbacks_for(model)
        .iter()
        .filter(|m| call.caller.may_use(m, m).is_ok())
        .cloned()
        .collect()
}

/// The models a call may fall back to and how its upstream request is rebuilt for one.
pub(super) struct Fallbacks<'a> {
    /// The chain after the model asked for, in order ([`fallbacks_for`]).
    pub models: Vec<String>,
    /// The upstream request for one of them.
    pub request_for: &'a dyn Fn(&str) -> UpstreamRequest,
}

/// Whether a model's failure lets the next model of its chain try: every key rate limited or
/// cooling down for it, or it stayed overloaded (5xx, dropped connections) on the keys tried.
/// A disabled pool, keys the upstream refused, timeouts and the request's own faults end the
/// call as they are.
pub(super) fn falls_back(error: &GatewayError) -> bool {
    matches!(
        error,
        GatewayError::RateLimited { .. } | GatewayError::Overloaded { .. }
    )
}

/// The one answer of a call that makes one upstream request.
pub(super) fn single<T>(answers: &[T]) -> Result<&T, GatewayError> {
    match answers {
        [one] => Ok(one),
        _ => Err(GatewayError::Internal(format!(
            "expected one upstream answer, got {}",
            answers.len()
        ))),
    }
}

/// Resolves the model a client named (aliases included) and checks the caller may use it.
pub(super) fn resolve_model<U: Upstream, D: Database>(
    call: &Call<'_, U, D>,
    requested: &str,
    missing: &str,
) -> Result<String, GatewayError> {
    if requested.trim().is_empty() {
        return Err(GatewayError::invalid_param(missing.to_owned(), "model"));
    }
    gemini::validate_model_id(requested).map_err(|e| GatewayError::invalid_param(e.to_string(), "model"))?;
    let model = crate::models::resolve(requested, &call.settings.aliases);
    // An alias's target was validated when it was configured; checked again because it
    // becomes part of the upstream path.
    gemini::validate_model_id(&model).map_err(|e| {
        GatewayError::invalid_param(format!("the alias {requested} maps to an invalid model: {e}"), "model")
    })?;
    call.caller.may_use(requested, &model)?;
    Ok(model)
}

/// The answer of one upstream call made through the pool.
pub enum Upstreamed<B> {
    /// A 2xx whole body (already accounted for).
    Whole {
        /// The upstream status, a 2xx.
        status: u16,
        /// The body, read in full.
        body: Vec<u8>,
        /// The upstream's headers (an upload's `x-goog-upload-*`).
        #[cfg_attr(feature = "edge", allow(dead_code))]
        headers: Vec<(String, String)>,
        /// The stored key that answered (`None` for a caller's own key): the holder of
        /// whatever the call created.
        #[cfg_attr(feature = "edge", allow(dead_code))]
        key_id: Option<i64>,
        /// The fallback model that answered, when the requested one could not.
        fallback: Option<String>,
    },
    /// A 2xx stream, ready to pump through its transducer (which already shows a fallback
    /// model that answered, and whose reply carries [`FALLBACK_HEADER`]).
    Stream(Reply<B>),
    /// The upstream blamed the request: its status and (Gemini-shaped) body.
    Fault {
        /// The upstream status, a 4xx.
        status: u16,
        /// The upstream's error body.
        body: Vec<u8>,
    },
}

/// Runs the failover for one upstream request and has its outcome accounted for. With a
/// `transducer` a success is returned as a stream reply (accounted for when it ends).
///
/// A request whose body refers to a resource gempool created (a file, a cached content) goes
/// to the key holding it, and only there ([`affinity::pin_for_body`]).
pub(super) async fn call_upstream<U: Upstream, D: Database>(
    call: &Call<'_, U, D>,
    protocol: Protocol,
    model: &str,
    request: &UpstreamRequest,
    transducer: Option<Transducer>,
) -> Result<Upstreamed<U::Body>, GatewayError> {
    let pinned = affinity::pin_for_body(call, request.body.as_deref())?;
    call_upstream_pinned(call, protocol, model, request, transducer, pinned).await
}

/// [`call_upstream`] with the key already decided: `pinned` is the only key tried.
pub(super) async fn call_upstream_pinned<U: Upstream, D: Database>(
    call: &Call<'_, U, D>,
    protocol: Protocol,
    model: &str,
    request: &UpstreamRequest,
    transducer: Option<Transducer>,
    pinned: Option<Pinned>,
) -> Result<Upstreamed<U::Body>, GatewayError> {
    let none = |_: &str| request.clone();
    let fallbacks = Fallbacks {
        models: Vec::new(),
        request_for: &none,
    };
    fallback_loop(call, protocol, model, request, fallbacks, transducer, pinned).await
}

/// [`call_upstream`] along `model`'s fallback chain: when every key is rate limited or
/// cooling down for a model, or it stays overloaded ([`falls_back`]), the next model of
/// `fallbacks` is tried with its own request, before anything reached the client. The request
/// is recorded once, under the model that answered (or failed last), with the model asked for
/// when they differ and the attempts of every model.
pub(super) async fn call_with_fallbacks<U: Upstream, D: Database>(
    call: &Call<'_, U, D>,
    protocol: Protocol,
    model: &str,
    request: &UpstreamRequest,
    fallbacks: Fallbacks<'_>,
    transducer: Option<Transducer>,
) -> Result<Upstreamed<U::Body>, GatewayError> {
    // A request naming a resource gempool created goes to the key holding it; along the
    // chain too, since the resource lives in that key's project.
    let pinned = affinity::pin_for_body(call, request.body.as_deref())?;
    fallback_loop(call, protocol, model, request, fallbacks, transducer, pinned).await
}

/// The loop of [`call_with_fallbacks`], with the key (if any) already decided.
async fn fallback_loop<U: Upstream, D: Database>(
    call: &Call<'_, U, D>,
    protocol: Protocol,
    model: &str,
    request: &UpstreamRequest,
    fallbacks: Fallbacks<'_>,
    mut transducer: Option<Transducer>,
    pinned: Option<Pinned>,
) -> Result<Upstreamed<U::Body>, GatewayError> {
    let env = call.env;
    let stored = !matches!(call.caller, Caller::OwnKeys(_));
    let requested = model;
    let models: Vec<&str> = std::iter::once(model)
        .chain(fallbacks.models.iter().map(String::as_str))
        .collect();
    let mut earlier_attempts = 0;
    for (index, model) in models.iter().copied().enumerate() {
        let keys = match call.caller {
            Caller::OwnKeys(keys) => KeySource::Client(keys.clone()),
            _ => KeySource::Stored,
        };
        let ctx = FailoverContext {
            settings: &call.settings.pool,
            model,
            seed: ids::seed(&env.random),
            keys,
            host_ticket: env.config.sql_ticket_function,
            writes: &env.writes,
            pinned: pinned.clone(),
        };
        let rebuilt;
        let request = if index == 0 {
            request
        } else {
            rebuilt = (fallbacks.request_for)(model);
            &rebuilt
        };
        let attempted = upstream::send_with_failover(env.upstream, env.db, request, &ctx).await;
        let fallback = (index > 0).then(|| model.to_owned());
        // A pool key is known by its id; the caller's own key by a hash of it.
        let facts = |attempts: u32, key_id: Option<i64>, secret: Option<&str>| CallFacts {
            client_id: call.caller.client_id(),
            protocol,
            model,
            requested: fallback.as_ref().map(|_| requested),
            attempts: earlier_attempts + attempts,
            key_id: if stored { key_id } else { None },
            proxy_key: if stored { None } else { secret.map(proxy_key_hash) },
        };
        return match attempted {
            Attempted::Success {
                response,
                key,
                attempts,
                started_ms,
                health,
            } => {
                let facts = facts(attempts, Some(key.candidate.id), Some(&key.secret));
                let key_id = stored.then_some(key.candidate.id);
                let UpstreamResponse { status, body, headers } = response;
                match (body, transducer.take()) {
                    (Delivered::Unread(body), Some(mut transducer)) => {
                        transducer.scrub(Secrets::new([key.secret.clone()]));
                        let mut headers = common_headers();
                        if let Some(served) = &fallback {
                            transducer.show_model(served);
                            headers.push((FALLBACK_HEADER.into(), served.clone()));
                        }
                        headers.extend(transducer.headers());
                        Ok(Upstreamed::Stream(Reply::Stream {
                            status,
                            headers,
                            body,
                            transducer: Box::new(transducer),
                            accounting: facts.streamed(env, started_ms, health),
                        }))
                    }
                    (Delivered::Whole(body), None) => {
                        facts.answered(env, status, started_ms, health, &body);
                        Ok(Upstreamed::Whole {
                            status,
                            body,
                            headers,
                            key_id,
                            fallback,
                        })
                    }
                    _ => Err(GatewayError::Internal(
                        "a stream was read whole, or a whole answer streamed".into(),
                    )),
                }
            }
            Attempted::ClientFault {
                status,
                body,
                key,
                attempts,
            } => {
                facts(attempts, Some(key.candidate.id), Some(&key.secret)).faulted(env, status, &body);
                Ok(Upstreamed::Fault { status, body })
            }
            Attempted::Failed { error, attempts, .. } if index + 1 < models.len() && falls_back(&error) => {
                earlier_attempts += attempts;
                continue;
            }
            Attempted::Failed {
                error,
                attempts,
                last_key,
            } => {
                facts(attempts, last_key, None).failed(env, &error);
                Err(error)
            }
        };
    }
    Err(GatewayError::Internal("no model to call".into()))
}

/// A model id asked for by path (`GET /v1/models/{id}`): one that cannot exist is a 404
/// without asking the upstream.
pub(super) fn check_listed_model_id(id: &str) -> Result<(), GatewayError> {
    gemini::validate_model_id(id).map(|_| ()).map_err(|_| {
        GatewayError::ModelNotFound(format!(
            "The model `{}` does not exist",
            id.chars().take(128).collect::<String>()
        ))
    })
}
