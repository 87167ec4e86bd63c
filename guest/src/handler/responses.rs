//! OpenAI Responses API: `POST /v1/responses` (also `/responses`, `/v1beta/openai/responses`).
//!
//! The translation lives in [`crate::protocol::responses`]; this module parses the body,
//! resolves the model alias, sends through the pool and renders the outcome. Errors use
//! OpenAI's shape (the route speaks [`Protocol::OpenAi`]).

use super::openai::fault_reply;
use super::{generate, parse_body, request_context, resolve_model, to_json_reply, Caller, Env, Reply};
use crate::error::GatewayError;
use crate::pool::PoolSettings;
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
    let model = resolve_model(caller, &req.model, stored, "you must provide a model parameter")?;
    let gemini = responses::responses_request_to_gemini(&req, &model)?;
    let ctx = request_context(&env.random, env.now_ms);
    let echo = ResponseEcho::new(&req);
    let transducer = req.is_stream().then(|| {
        Transducer::openai_responses(
            ResponsesStreamTranslator::new(req.model.clone(), ctx.clone()).with_echo(echo.clone()),
        )
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
        |response| to_json_reply(200, &responses::gemini_to_response(response, &echo, &ctx)),
    )
    .await
}
