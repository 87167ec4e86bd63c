//! OpenAI endpoints: `/v1/chat/completions` ([`Chat`]), `/v1/embeddings` ([`Embeddings`]) and
//! `/v1/models` ([`models`]).
//!
//! The translation itself lives in [`crate::protocol::openai`]; here each endpoint says how
//! its request becomes the hub's and back ([`ClientProtocol`]), and [`super::pipeline::run`]
//! does the rest.

use super::model_list::list_models;
use super::pipeline::{check_listed_model_id, single, ClientProtocol};
use super::reply::{to_json_reply, Reply};
use super::{body, Call};
use crate::error::GatewayError;
use crate::models;
use crate::protocol::gemini::{
    BatchEmbedContentsRequest, BatchEmbedContentsResponse, GenerateContentRequest, GenerateContentResponse,
};
use crate::protocol::openai::{self, OpenAiChatRequest, OpenAiEmbeddingsRequest, OpenAiModel};
use crate::protocol::{Protocol, RequestContext};
use crate::store::Database;
use crate::stream::Transducer;
use crate::upstream::Upstream;

/// What OpenAI says when a request names no model.
const MISSING_MODEL: &str = "you must provide a model parameter";

/// `POST /v1/chat/completions`.
pub(super) struct Chat;

impl ClientProtocol for Chat {
    const PROTOCOL: Protocol = Protocol::OpenAi;
    const MISSING_MODEL: &'static str = MISSING_MODEL;
    type Request = OpenAiChatRequest;
    type Hub = GenerateContentRequest;

    fn model(request: &OpenAiChatRequest) -> &str {
        &request.model
    }

    fn decode(request: &OpenAiChatRequest, model: &str) -> Result<Vec<GenerateContentRequest>, GatewayError> {
        Ok(vec![openai::chat_request_to_gemini(request, model)?])
    }

    fn stream(request: &OpenAiChatRequest, ctx: &RequestContext) -> Option<Transducer> {
        request.is_stream().then(|| {
            Transducer::openai_chat(openai::ChatStreamTranslator::new(
                request.model.clone(),
                ctx.clone(),
                request.include_usage(),
            ))
        })
    }

    fn encode(
        _request: &OpenAiChatRequest,
        answers: &[GenerateContentResponse],
        ctx: &RequestContext,
        model: &str,
    ) -> Result<Vec<u8>, GatewayError> {
        let answer = single(answers)?;
        body::to_json(&openai::gemini_to_chat_response(answer, model, ctx))
    }
}

/// `POST /v1/embeddings`: one upstream call per batch of inputs.
pub(super) struct Embeddings;

impl ClientProtocol for Embeddings {
    const PROTOCOL: Protocol = Protocol::OpenAi;
    const MISSING_MODEL: &'static str = MISSING_MODEL;
    type Request = OpenAiEmbeddingsRequest;
    type Hub = BatchEmbedContentsRequest;

    fn model(request: &OpenAiEmbeddingsRequest) -> &str {
        &request.model
    }

    fn decode(request: &OpenAiEmbeddingsRequest, model: &str) -> Result<Vec<BatchEmbedContentsRequest>, GatewayError> {
        openai::embeddings_request_to_gemini(request, model)
    }

    fn encode(
        request: &OpenAiEmbeddingsRequest,
        answers: &[BatchEmbedContentsResponse],
        _ctx: &RequestContext,
        model: &str,
    ) -> Result<Vec<u8>, GatewayError> {
        body::to_json(&openai::gemini_to_embeddings_response(request, answers, model)?)
    }
}

/// `GET /v1/models` and `/v1/models/{id}`: Gemini's models plus the configured aliases.
pub(super) async fn models<U: Upstream, D: Database>(
    call: &Call<'_, U, D>,
    id: Option<&str>,
) -> Result<Reply<U::Body>, GatewayError> {
    if let Some(id) = id {
        check_listed_model_id(id)?;
    }
    let list = list_models(call, Protocol::OpenAi).await?;
    let mut result = openai::gemini_to_models_list(&list);
    for alias in models::alias_table(&call.settings.aliases).keys() {
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
