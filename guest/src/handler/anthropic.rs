//! Anthropic endpoints: `/v1/messages` ([`Messages`]), `/v1/messages/count_tokens`
//! ([`CountTokens`]), and `/v1/models` when the request carries `anthropic-version`
//! ([`models`]).
//!
//! The translation itself lives in [`crate::protocol::anthropic`]; the steps around it are
//! [`super::pipeline::run`]'s.

use super::model_list::list_models;
use super::pipeline::{check_listed_model_id, single, ClientProtocol};
use super::reply::{to_json_reply, Reply};
use super::{body, Call};
use crate::error::GatewayError;
use crate::protocol::anthropic::{self, AnthropicCountTokensRequest, AnthropicMessagesRequest};
use crate::protocol::gemini::{
    self, CountTokensRequest, CountTokensResponse, GenerateContentRequest, GenerateContentResponse,
};
use crate::protocol::{Protocol, RequestContext};
use crate::store::Database;
use crate::stream::Transducer;
use crate::upstream::Upstream;

/// What Anthropic says when a request names no model.
const MISSING_MODEL: &str = "model: Field required";

/// `POST /v1/messages`.
pub(super) struct Messages;

impl ClientProtocol for Messages {
    const PROTOCOL: Protocol = Protocol::Anthropic;
    const MISSING_MODEL: &'static str = MISSING_MODEL;
    type Request = AnthropicMessagesRequest;
    type Hub = GenerateContentRequest;

    fn model(request: &AnthropicMessagesRequest) -> &str {
        &request.model
    }

    fn decode(request: &AnthropicMessagesRequest, model: &str) -> Result<Vec<GenerateContentRequest>, GatewayError> {
        Ok(vec![anthropic::messages_request_to_gemini(request, model)?])
    }

    fn stream(request: &AnthropicMessagesRequest, ctx: &RequestContext) -> Option<Transducer> {
        request
            .stream
            .then(|| Transducer::anthropic_messages(anthropic::MessagesStreamTranslator::new(&request.model, ctx)))
    }

    fn encode(
        _request: &AnthropicMessagesRequest,
        answers: &[GenerateContentResponse],
        ctx: &RequestContext,
        model: &str,
    ) -> Result<Vec<u8>, GatewayError> {
        body::to_json(&anthropic::gemini_to_messages_response(single(answers)?, model, ctx))
    }
}

/// `POST /v1/messages/count_tokens`.
pub(super) struct CountTokens;

impl ClientProtocol for CountTokens {
    const PROTOCOL: Protocol = Protocol::Anthropic;
    const MISSING_MODEL: &'static str = MISSING_MODEL;
    type Request = AnthropicCountTokensRequest;
    type Hub = CountTokensRequest;

    fn model(request: &AnthropicCountTokensRequest) -> &str {
        &request.model
    }

    fn decode(request: &AnthropicCountTokensRequest, model: &str) -> Result<Vec<CountTokensRequest>, GatewayError> {
        Ok(vec![anthropic::count_tokens_request_to_gemini(request, model)?])
    }

    fn encode(
        _request: &AnthropicCountTokensRequest,
        answers: &[CountTokensResponse],
        _ctx: &RequestContext,
        _model: &str,
    ) -> Result<Vec<u8>, GatewayError> {
        body::to_json(&anthropic::count_tokens_response_to_anthropic(single(answers)?))
    }
}

/// `GET /v1/models` and `/v1/models/{id}` for Anthropic clients: the client-facing Claude names
/// ([`crate::models::listed_claude_models`]) first, then the Gemini models. `/v1/models/{id}` also
/// answers for any other name that resolves as a Claude alias or by the Claude family.
pub(super) async fn models<U: Upstream, D: Database>(
    call: &Call<'_, U, D>,
    id: Option<&str>,
) -> Result<Reply<U::Body>, GatewayError> {
    if let Some(id) = id {
        check_listed_model_id(id)?;
    }
    let list = list_models(call, Protocol::Anthropic).await?;
    let aliases = &call.settings.aliases;
    let client = crate::models::listed_claude_models(aliases);
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
            match listed.or_else(|| claude_name.then(|| crate::models::resolve(id, aliases))) {
                Some(target) => Ok(to_json_reply(200, &anthropic::client_model_to_anthropic(id, &target))),
                None => Err(GatewayError::ModelNotFound(format!("model: {id}"))),
            }
        }
    }
}
