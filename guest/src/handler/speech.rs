//! `POST /v1/audio/speech`: OpenAI's speech API on Gemini's text-to-speech models, through
//! the pool: one `generateContent` whose PCM answer comes back as `wav` or `pcm` bytes. The
//! translation lives in [`crate::protocol::openai::speech`].

use super::body;
use super::pipeline::{call_upstream, resolve_model, HubCall, Upstreamed};
use super::reply::{common_headers, error_reply, Reply};
use super::Call;
use crate::error::GatewayError;
use crate::protocol::gemini::{self, GenerateContentResponse, API_VERSION};
use crate::protocol::openai::speech::{self, OpenAiSpeechRequest};
use crate::protocol::Protocol;
use crate::store::Database;
use crate::upstream::{Upstream, UpstreamRequest};

/// Serves one speech request.
pub(super) async fn speak<U: Upstream, D: Database>(
    call: &Call<'_, U, D>,
    body: &[u8],
) -> Result<Reply<U::Body>, GatewayError> {
    let request: OpenAiSpeechRequest = body::parse_body(body)?;
    let ask = speech::check(&request)?;
    let requested = request.model.as_deref().unwrap_or(speech::DEFAULT_TTS_MODEL);
    let model = resolve_model(call, requested, "you must provide a model parameter")?;
    speech::check_model(&model)?;
    let hub = speech::gemini_request(&request, &ask.voice);
    hub.check()?;
    let json = body::to_json(&hub)?;
    let request_for = |m: &str| {
        UpstreamRequest::post_json(
            gemini::model_path(API_VERSION, m, Some("generateContent")),
            json.clone(),
        )
    };
    let answer: GenerateContentResponse =
        match call_upstream(call, Protocol::OpenAi, &model, &request_for(&model), None).await? {
            Upstreamed::Whole { body, .. } => body::decode_upstream(&body)?,
            Upstreamed::Fault { status, body } => {
                return Ok(error_reply(
                    &GatewayError::from(body::fault_status(status, &body)),
                    Protocol::OpenAi,
                ))
            }
            Upstreamed::Stream(_) => return Err(GatewayError::Internal("a speech answer streamed".into())),
        };
    let audio = speech::audio(&answer, ask.format)?;
    let mut headers = common_headers();
    headers.push(("content-type".into(), ask.format.content_type().into()));
    Ok(Reply::Full {
        status: 200,
        headers,
        body: audio,
    })
}
