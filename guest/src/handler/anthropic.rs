//! Anthropic endpoints: `/v1/messages`, `/v1/messages/count_tokens`, and `/v1/models` when the
//! request carries `anthropic-version`.
//!
//! The translation itself lives in [`crate::protocol::anthropic`].

use super::openai::list_models;
use super::{
    call_upstream, decode_upstream, error_reply, fault_status, generate, parse_body, post, request_context,
    resolve_model, to_body, to_json_reply, Caller, Env, Reply, Upstreamed,
};
use crate::error::GatewayError;
use crate::pool::PoolSettings;
use crate::protocol::anthropic::{self, AnthropicCountTokensRequest, AnthropicMessagesRequest};
use crate::protocol::gemini::{self, CountTokensResponse, API_VERSION};
use crate::protocol::Protocol;
use crate::store::Database;
use crate::stream::Transducer;
use crate::upstream::Upstream;

/// Renders an upstream fault (a 4xx the request caused) in Anthropic's shape.
fn fault_reply<B>(status: u16, body: &[u8]) -> Reply<B> {
    error_reply(&GatewayError::from(fault_status(status, body)), Protocol::Anthropic)
}

pub async fn messages<U: Upstream, D: Database>(
    env: &Env<'_, U, D>,
    caller: &Caller,
    body: &[u8],
    settings: &PoolSettings,
    stored: &[(String, String)],
) -> Result<Reply<U::Body>, GatewayError> {
    let req: AnthropicMessagesRequest = parse_body(body)?;
    let model = resolve_model(caller, &req.model, stored, "model: Field required")?;
    let gemini = anthropic::messages_request_to_gemini(&req, &model)?;
    let ctx = request_context(&env.random, env.now_ms);
    let transducer = req
        .stream
        .then(|| Transducer::anthropic_messages(anthropic::MessagesStreamTranslator::new(&req.model, &ctx)));
    generate(
        env,
        caller,
        Protocol::Anthropic,
        &model,
        &gemini,
        settings,
        transducer,
        fault_reply,
        |response| to_json_reply(200, &anthropic::gemini_to_messages_response(response, &req.model, &ctx)),
    )
    .await
}

pub async fn count_tokens<U: Upstream, D: Database>(
    env: &Env<'_, U, D>,
    caller: &Caller,
    body: &[u8],
    settings: &PoolSettings,
    stored: &[(String, String)],
) -> Result<Reply<U::Body>, GatewayError> {
    let req: AnthropicCountTokensRequest = parse_body(body)?;
    let model = resolve_model(caller, &req.model, stored, "model: Field required")?;
    let gemini = anthropic::count_tokens_request_to_gemini(&req, &model)?;
    let gemini_body = to_body(&gemini)?;
    let path = gemini::model_path(API_VERSION, &model, Some("countTokens"));
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
            let response: CountTokensResponse = decode_upstream(&body)?;
            Ok(to_json_reply(
                200,
                &anthropic::count_tokens_response_to_anthropic(&response),
            ))
        }
        Upstreamed::Stream(reply) => Ok(reply),
    }
}

/// `GET /v1/models` and `/v1/models/{id}` for Anthropic clients: the client-facing Claude names
/// ([`crate::models::listed_claude_models`]) first, then the Gemini models. `/v1/models/{id}` also
/// answers for any other name that resolves as a Claude alias or by the Claude family.
pub async fn models<U: Upstream, D: Database>(
    env: &Env<'_, U, D>,
    caller: &Caller,
    settings: &PoolSettings,
    stored: &[(String, String)],
    id: Option<&str>,
) -> Result<Reply<U::Body>, GatewayError> {
    if let Some(id) = id {
        super::openai::check_listed_model_id(id)?;
    }
    let list = list_models(env, caller, settings, Protocol::Anthropic).await?;
    let client = crate::models::listed_claude_models(stored);
    match id {
        None => Ok(to_json_reply(200, &anthropic::models_to_anthropic(&list, &client))),
        Some(id) => {
            if let Some(model) = list.models.iter().find(|m| m.id() == id) {
                return Ok(to_json_reply(200, &anthropic::model_to_anthropic(model)));
            }
            let listed = client
                .iter()
                .find(|(name, _)| name == id)
                .map(|(_, target)| target.clone());
            let claude_name = id.starts_with("claude") && gemini::validate_model_id(id).is_ok();
            match listed.or_else(|| claude_name.then(|| crate::models::resolve(id, stored))) {
                Some(target) => Ok(to_json_reply(200, &anthropic::client_model_to_anthropic(id, &target))),
                None => Err(GatewayError::ModelNotFound(format!("model: {id}"))),
            }
        }
    }
}
