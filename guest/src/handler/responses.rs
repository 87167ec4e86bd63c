//! OpenAI Responses API: `POST /v1/responses` (also `/responses`, `/v1beta/openai/responses`).
//!
//! The translation lives in [`crate::protocol::responses`]; the steps around it are
//! [`super::pipeline::run`]'s. Errors use OpenAI's shape (the route speaks
//! [`Protocol::OpenAi`]).

use super::body;
use super::pipeline::{single, ClientProtocol};
use crate::error::GatewayError;
use crate::protocol::gemini::{GenerateContentRequest, GenerateContentResponse};
use crate::protocol::responses::{self, OpenAiResponsesRequest, ResponseEcho, ResponsesStreamTranslator};
use crate::protocol::{Protocol, RequestContext};
use crate::stream::Transducer;

/// `POST /v1/responses`.
pub(super) struct Responses;

impl ClientProtocol for Responses {
    const PROTOCOL: Protocol = Protocol::OpenAi;
    const MISSING_MODEL: &'static str = "you must provide a model parameter";
    type Request = OpenAiResponsesRequest;
    type Hub = GenerateContentRequest;

    fn model(request: &OpenAiResponsesRequest) -> &str {
        &request.model
    }

    fn decode(request: &OpenAiResponsesRequest, model: &str) -> Result<Vec<GenerateContentRequest>, GatewayError> {
        Ok(vec![responses::responses_request_to_gemini(request, model)?])
    }

    fn stream(request: &OpenAiResponsesRequest, ctx: &RequestContext) -> Option<Transducer> {
        request.is_stream().then(|| {
            Transducer::openai_responses(
                ResponsesStreamTranslator::new(request.model.clone(), ctx.clone())
                    .with_echo(ResponseEcho::new(request)),
            )
        })
    }

    fn encode(
        request: &OpenAiResponsesRequest,
        answers: &[GenerateContentResponse],
        ctx: &RequestContext,
        model: &str,
    ) -> Result<Vec<u8>, GatewayError> {
        let mut echo = ResponseEcho::new(request);
        echo.model = model.to_owned();
        body::to_json(&responses::gemini_to_response(single(answers)?, &echo, ctx))
    }
}
