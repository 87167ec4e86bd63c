//! Native Gemini: the body goes upstream as the client sent it and the answer comes back as
//! Gemini sent it; only the key changes (and a client's `?key=` is dropped from the query).
//! A generation may be answered by a model of the configured fallback chain (its
//! `modelVersion` says so, as the upstream sent it, and the reply carries
//! [`super::pipeline::FALLBACK_HEADER`]); model listings come from the cache
//! ([`super::model_list`]).

use super::pipeline::{call_with_fallbacks, fallbacks_for, Fallbacks, Upstreamed, FALLBACK_HEADER};
use super::reply::{json_bytes_reply, Reply};
use super::{Call, RequestHead};
use crate::auth;
use crate::error::GatewayError;
use crate::protocol::gemini;
use crate::protocol::Protocol;
use crate::route::GeminiMethod;
use crate::store::Database;
use crate::stream::Transducer;
use crate::upstream::{Upstream, UpstreamRequest};

/// Query parameters forwarded upstream; anything else a client sends (its own `key`, an
/// `access_token`, parameters Gemini does not document) stays here.
const FORWARDED_QUERY: &[&str] = &["alt", "pageSize", "pageToken", "$fields", "fields", "prettyPrint"];

/// The upstream path for a native call: the client's own, rebuilt from the validated model
/// and the forwarded query parameters.
fn upstream_path(version: &str, model: Option<&str>, method: GeminiMethod, query: &str) -> String {
    let mut path = match model {
        Some(model) => gemini::model_path(version, model, method.verb()),
        None => format!("/{version}/models"),
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let name = pair.split_once('=').map_or(*pair, |(name, _)| name);
            FORWARDED_QUERY.contains(&name)
        })
        .collect();
    if !kept.is_empty() {
        path.push('?');
        path.push_str(&kept.join("&"));
    }
    path
}

/// Serves a native Gemini call: the client's body and answer, a pool key.
pub(super) async fn handle<U: Upstream, D: Database>(
    call: &Call<'_, U, D>,
    head: &RequestHead,
    version: &str,
    model: Option<&str>,
    method: GeminiMethod,
    body: &[u8],
) -> Result<Reply<U::Body>, GatewayError> {
    if let Some(model) = model {
        call.caller.may_use(model, model)?;
    }
    if method == GeminiMethod::ListModels {
        if let Some(reply) = super::model_list::native_listing(call, version, &head.query).await {
            return reply;
        }
    }
    let is_post = method.verb().is_some();
    if is_post && serde_json::from_slice::<serde_json::Value>(body).is_err() {
        return Err(GatewayError::invalid(
            "Invalid JSON payload received: the request body is not valid JSON.",
        ));
    }
    // The chain's model in the path (a listing names none).
    let request_for = |chain_model: &str| UpstreamRequest {
        method: if is_post { "POST".into() } else { "GET".into() },
        path_and_query: upstream_path(version, model.map(|_| chain_model), method, &head.query),
        body: is_post.then(|| body.to_vec()),
        headers: if is_post {
            vec![("content-type".into(), "application/json".into())]
        } else {
            vec![]
        },
        stream: method == GeminiMethod::StreamGenerateContent,
    };
    let generates = matches!(
        method,
        GeminiMethod::GenerateContent | GeminiMethod::StreamGenerateContent
    );
    let fallbacks = Fallbacks {
        models: model.map_or_else(Vec::new, |model| fallbacks_for(call, model, generates)),
        request_for: &request_for,
    };
    // Listing models is not about one model; its pool bucket is "models".
    let pool_model = model.unwrap_or("models");
    let request = request_for(pool_model);
    let transducer = (method == GeminiMethod::StreamGenerateContent)
        .then(|| Transducer::gemini_passthrough(auth::query_param(&head.query, "alt").as_deref() == Some("sse")));
    Ok(
        match call_with_fallbacks(call, Protocol::Gemini, pool_model, &request, fallbacks, transducer).await? {
            Upstreamed::Whole {
                status, body, fallback, ..
            } => {
                let mut reply = json_bytes_reply(status, body);
                if let Some(served) = fallback {
                    reply.headers_mut().push((FALLBACK_HEADER.into(), served));
                }
                reply
            }
            Upstreamed::Fault { status, body } => json_bytes_reply(status, body),
            Upstreamed::Stream(reply) => reply,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clients_key_never_reaches_the_upstream_path() {
        assert_eq!(
            upstream_path(
                "v1beta",
                Some("m"),
                GeminiMethod::StreamGenerateContent,
                "key=gp-secret&alt=sse"
            ),
            "/v1beta/models/m:streamGenerateContent?alt=sse"
        );
        assert_eq!(
            upstream_path("v1", None, GeminiMethod::ListModels, "pageSize=5"),
            "/v1/models?pageSize=5"
        );
        assert_eq!(
            upstream_path("v1beta", Some("m"), GeminiMethod::GetModel, ""),
            "/v1beta/models/m"
        );
        assert_eq!(
            upstream_path(
                "v1beta",
                Some("m"),
                GeminiMethod::GenerateContent,
                "access_token=x&KEY=y&alt=json&x=%23"
            ),
            "/v1beta/models/m:generateContent?alt=json"
        );
    }
}
