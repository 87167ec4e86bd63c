//! Anthropic endpoints: `/v1/messages`, `/v1/messages/count_tokens`, and `/v1/models` when the
//! request carries `anthropic-version`.
//!
//! The translation itself lives in [`crate::protocol::anthropic`].

use super::openai::{list_models, parse_body};
use super::{call_upstream, request_context, to_json_reply, Caller, Env, Reply, Upstreamed};
use crate::error::GatewayError;
use crate::models;
use crate::pool::PoolSettings;
use crate::protocol::anthropic::{self, AnthropicCountTokensRequest, AnthropicMessagesRequest};
use crate::protocol::gemini::{CountTokensResponse, ErrorBody, GenerateContentResponse, Status, API_VERSION};
use crate::protocol::Protocol;
use crate::store::Database;
use crate::stream::Transducer;
use crate::upstream::{Upstream, UpstreamRequest};

/// Renders an upstream fault (a 4xx the request caused) in Anthropic's shape.
fn fault_reply<B>(status: u16, body: &[u8]) -> Reply<B> {
    let error = ErrorBody::parse(body).map(|e| e.error).unwrap_or_else(|| Status {
        code: status,
        message: format!("the upstream answered {status}"),
        ..Default::default()
    });
    let (status, value) = anthropic::upstream_error_to_anthropic(&error);
    to_json_reply(status, &value)
}

fn post(path: String, body: Vec<u8>) -> UpstreamRequest {
    UpstreamRequest {
        method: "POST".into(),
        path_and_query: path,
        body: Some(body),
        headers: vec![("content-type".into(), "application/json".into())],
    }
}

fn unreadable(e: serde_json::Error) -> GatewayError {
    GatewayError::Upstream {
        status: 502,
        message: format!("unreadable upstream response: {e}"),
    }
}

pub async fn messages<U: Upstream, D: Database>(
    env: &Env<'_, U, D>,
    caller: &Caller,
    body: &[u8],
    settings: &PoolSettings,
    stored: &[(String, String)],
) -> Result<Reply<U::Body>, GatewayError> {
    let req: AnthropicMessagesRequest = parse_body(body)?;
    if req.model.trim().is_empty() {
        return Err(GatewayError::invalid_param("model: Field required", "model"));
    }
    let model = models::resolve(&req.model, stored);
    super::check_model_allowed(caller, &req.model, &model)?;
    let gemini = anthropic::messages_request_to_gemini(&req, &model)?;
    let gemini_body = serde_json::to_vec(&gemini).map_err(|e| GatewayError::Internal(e.to_string()))?;
    let ctx = request_context(&env.random, env.now_ms);
    let path = if req.stream {
        format!("/{API_VERSION}/models/{model}:streamGenerateContent?alt=sse")
    } else {
        format!("/{API_VERSION}/models/{model}:generateContent")
    };
    let transducer = req
        .stream
        .then(|| Transducer::anthropic_messages(anthropic::MessagesStreamTranslator::new(&req.model, &ctx)));
    match call_upstream(
        env,
        caller,
        Protocol::Anthropic,
        &model,
        &post(path, gemini_body),
        settings,
        transducer,
    )
    .await?
    {
        Upstreamed::Stream(reply) => Ok(reply),
        Upstreamed::Fault { status, body } => Ok(fault_reply(status, &body)),
        Upstreamed::Whole { body, .. } => {
            let response: GenerateContentResponse = serde_json::from_slice(&body).map_err(unreadable)?;
            Ok(to_json_reply(
                200,
                &anthropic::gemini_to_messages_response(&response, &req.model, &ctx),
            ))
        }
    }
}

pub async fn count_tokens<U: Upstream, D: Database>(
    env: &Env<'_, U, D>,
    caller: &Caller,
    body: &[u8],
    settings: &PoolSettings,
    stored: &[(String, String)],
) -> Result<Reply<U::Body>, GatewayError> {
    let req: AnthropicCountTokensRequest = parse_body(body)?;
    if req.model.trim().is_empty() {
        return Err(GatewayError::invalid_param("model: Field required", "model"));
    }
    let model = models::resolve(&req.model, stored);
    super::check_model_allowed(caller, &req.model, &model)?;
    let gemini = anthropic::count_tokens_request_to_gemini(&req, &model)?;
    let gemini_body = serde_json::to_vec(&gemini).map_err(|e| GatewayError::Internal(e.to_string()))?;
    let path = format!("/{API_VERSION}/models/{model}:countTokens");
    match call_upstream(
        env,
        caller,
        Protocol::Anthropic,
        &model,
        &post(path, gemini_body),
        settings,
        None,
    )
    .await?
    {
        Upstreamed::Fault { status, body } => Ok(fault_reply(status, &body)),
        Upstreamed::Whole { body, .. } => {
            let response: CountTokensResponse = serde_json::from_slice(&body).map_err(unreadable)?;
            Ok(to_json_reply(
                200,
                &anthropic::count_tokens_response_to_anthropic(&response),
            ))
        }
        Upstreamed::Stream(reply) => Ok(reply),
    }
}

/// `GET /v1/models` and `/v1/models/{id}` for Anthropic clients.
pub async fn models<U: Upstream, D: Database>(
    env: &Env<'_, U, D>,
    caller: &Caller,
    settings: &PoolSettings,
    id: Option<&str>,
) -> Result<Reply<U::Body>, GatewayError> {
    let list = list_models(env, caller, settings, Protocol::Anthropic).await?;
    match id {
        None => Ok(to_json_reply(200, &anthropic::models_to_anthropic(&list))),
        Some(id) => match list.models.iter().find(|m| m.id() == id) {
            Some(model) => Ok(to_json_reply(200, &anthropic::model_to_anthropic(model))),
            None => Err(GatewayError::ModelNotFound(format!("model: {id}"))),
        },
    }
}
