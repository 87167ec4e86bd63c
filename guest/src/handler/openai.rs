//! OpenAI endpoints: `/v1/chat/completions`, `/v1/embeddings`, `/v1/models`.
//!
//! The translation itself lives in [`crate::protocol::openai`]; this module parses the body,
//! resolves the model alias, sends through the pool and renders the outcome.

use super::{
    call_upstream, decode_upstream, error_reply, fault_status, generate, request_context, resolve_model, to_body,
    to_json_reply, Caller, Env, Reply, Upstreamed,
};
use crate::error::GatewayError;
use crate::models;
use crate::pool::PoolSettings;
use crate::protocol::gemini::{self, BatchEmbedContentsResponse, ErrorBody, ListModelsResponse, API_VERSION};
use crate::protocol::openai::{self, OpenAiChatRequest, OpenAiEmbeddingsRequest, OpenAiModel};
use crate::protocol::Protocol;
use crate::store::Database;
use crate::stream::Transducer;
use crate::upstream::{Upstream, UpstreamRequest};

use super::{parse_body, post};

/// Renders an upstream fault (a 4xx the request caused) in OpenAI's shape.
pub(super) fn fault_reply<B>(status: u16, body: &[u8]) -> Reply<B> {
    error_reply(&GatewayError::from(fault_status(status, body)), Protocol::OpenAi)
}

pub async fn chat<U: Upstream, D: Database>(
    env: &Env<'_, U, D>,
    caller: &Caller,
    body: &[u8],
    settings: &PoolSettings,
    stored: &[(String, String)],
) -> Result<Reply<U::Body>, GatewayError> {
    let req: OpenAiChatRequest = parse_body(body)?;
    let model = resolve_model(caller, &req.model, stored, "you must provide a model parameter")?;
    let gemini = openai::chat_request_to_gemini(&req, &model)?;
    let ctx = request_context(&env.random, env.now_ms);
    let transducer = req.is_stream().then(|| {
        Transducer::openai_chat(openai::ChatStreamTranslator::new(
            req.model.clone(),
            ctx.clone(),
            req.include_usage(),
        ))
    });
    generate(
        env,
        caller,
        Protocol::OpenAi,
        &model,
        &gemini,
        settings,
        transducer,
        fault_reply,
        |response| to_json_reply(200, &openai::gemini_to_chat_response(response, &req.model, &ctx)),
    )
    .await
}

pub async fn embeddings<U: Upstream, D: Database>(
    env: &Env<'_, U, D>,
    caller: &Caller,
    body: &[u8],
    settings: &PoolSettings,
    stored: &[(String, String)],
) -> Result<Reply<U::Body>, GatewayError> {
    let req: OpenAiEmbeddingsRequest = parse_body(body)?;
    let model = resolve_model(caller, &req.model, stored, "you must provide a model parameter")?;
    let batches = openai::embeddings_request_to_gemini(&req, &model)?;
    let mut responses = Vec::with_capacity(batches.len());
    for batch in &batches {
        let batch_body = to_body(batch)?;
        let path = gemini::model_path(API_VERSION, &model, Some("batchEmbedContents"));
        match call_upstream(
            env,
            caller,
            Protocol::OpenAi,
            &model,
            &post(path, batch_body),
            settings,
            None,
        )
        .await?
        {
            Upstreamed::Whole { body, .. } => {
                let response: BatchEmbedContentsResponse = decode_upstream(&body)?;
                responses.push(response);
            }
            Upstreamed::Fault { status, body } => return Ok(fault_reply(status, &body)),
            Upstreamed::Stream(reply) => return Ok(reply),
        }
    }
    Ok(to_json_reply(
        200,
        &openai::gemini_to_embeddings_response(&req, &responses, &req.model)?,
    ))
}

/// `GET /v1/models` and `/v1/models/{id}`: Gemini's models plus the configured aliases.
pub async fn models<U: Upstream, D: Database>(
    env: &Env<'_, U, D>,
    caller: &Caller,
    settings: &PoolSettings,
    stored: &[(String, String)],
    id: Option<&str>,
) -> Result<Reply<U::Body>, GatewayError> {
    if let Some(id) = id {
        check_listed_model_id(id)?;
    }
    let list = list_models(env, caller, settings, Protocol::OpenAi).await?;
    let mut result = openai::gemini_to_models_list(&list);
    for alias in models::alias_table(stored).keys() {
        if !alias.contains('*') && !result.data.iter().any(|m| &m.id == alias) {
            result.data.push(OpenAiModel::new(alias));
        }
    }
    match id {
        None => Ok(to_json_reply(200, &result)),
        Some(id) => match result
            .data
            .into_iter()
            .find(|m| m.id == id.strip_prefix("models/").unwrap_or(id))
        {
            Some(model) => Ok(to_json_reply(200, &model)),
            None => Err(GatewayError::ModelNotFound(format!("The model `{id}` does not exist"))),
        },
    }
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

/// Every Gemini model (one upstream page of up to 1000), through the pool.
pub(super) async fn list_models<U: Upstream, D: Database>(
    env: &Env<'_, U, D>,
    caller: &Caller,
    settings: &PoolSettings,
    protocol: Protocol,
) -> Result<ListModelsResponse, GatewayError> {
    let request = UpstreamRequest {
        method: "GET".into(),
        path_and_query: format!("/{API_VERSION}/models?pageSize=1000"),
        body: None,
        headers: vec![],
        stream: false,
    };
    match call_upstream(env, caller, protocol, "models", &request, settings, None).await? {
        Upstreamed::Whole { body, .. } => decode_upstream(&body),
        Upstreamed::Fault { status, body } => {
            let message = ErrorBody::parse(&body).map(|e| e.error.message).unwrap_or_default();
            Err(GatewayError::Upstream {
                status: if status >= 500 { status } else { 502 },
                message,
            })
        }
        Upstreamed::Stream(_) => Err(GatewayError::Internal("unexpected stream".into())),
    }
}
