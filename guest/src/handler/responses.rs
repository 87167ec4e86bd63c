//! OpenAI Responses API: `POST /v1/responses` (also `/responses`, `/v1beta/openai/responses`).
//!
//! The translation lives in [`crate::protocol::responses`]; this module parses the body,
//! resolves the model alias, sends through the pool and renders the outcome. Errors use
//! OpenAI's shape (the route speaks [`Protocol::OpenAi`]).

use super::openai::{fault_reply, parse_body, post};
use super::{call_upstream, request_context, to_json_reply, Caller, Env, Reply, Upstreamed};
use crate::error::GatewayError;
use crate::models;
use crate::pool::PoolSettings;
use crate::protocol::gemini::{GenerateContentResponse, API_VERSION};
use crate::protocol::responses::{self, OpenAiResponsesRequest, ResponseEcho, ResponsesStreamTranslator};
use crate::protocol::Protocol;
use crate::store::Database;
use crate::stream::Transducer;
use crate::upstream::Upstream;

pub async fn create<U: Upstream, D: Database>(
    env: &Env<'_, U, D>,
    caller: &Caller,
    body: &[u8],
    settings: &PoolSettings,
    stored: &[(String, String)],
) -> Result<Reply<U::Body>, GatewayError> {
    let req: OpenAiResponsesRequest = parse_body(body)?;
    if req.model.trim().is_empty() {
        return Err(GatewayError::invalid_param(
            "you must provide a model parameter",
            "model",
        ));
    }
    let model = models::resolve(&req.model, stored);
    super::check_model_allowed(caller, &req.model, &model)?;
    let gemini = responses::responses_request_to_gemini(&req, &model)?;
    let gemini_body = serde_json::to_vec(&gemini).map_err(|e| GatewayError::Internal(e.to_string()))?;
    let ctx = request_context(&env.random, env.now_ms);
    let echo = ResponseEcho::new(&req);
    let stream = req.is_stream();
    let path = if stream {
        format!("/{API_VERSION}/models/{model}:streamGenerateContent?alt=sse")
    } else {
        format!("/{API_VERSION}/models/{model}:generateContent")
    };
    let transducer = stream.then(|| {
        Transducer::openai_responses(
            ResponsesStreamTranslator::new(req.model.clone(), ctx.clone()).with_echo(echo.clone()),
        )
    });
    match call_upstream(
        env,
        caller,
        Protocol::OpenAi,
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
            let response: GenerateContentResponse =
                serde_json::from_slice(&body).map_err(|e| GatewayError::Upstream {
                    status: 502,
                    message: format!("unreadable upstream response: {e}"),
                })?;
            Ok(to_json_reply(
                200,
                &responses::gemini_to_response(&response, &echo, &ctx),
            ))
        }
    }
}
