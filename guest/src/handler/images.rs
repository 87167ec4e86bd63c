//! `POST /v1/images/generations`: OpenAI's images API on Gemini's image models, through the
//! pool. The translation lives in [`crate::protocol::openai::images`]; here each image call
//! goes upstream (a `generateContent` per image for Gemini image models, a `:predict` per four
//! images for Imagen) and the answers become one OpenAI reply. It does not fit
//! [`super::pipeline::ClientProtocol`], whose hub has one method and one answer type.
//!
//! No fallback chain applies (an image model's chain would have to be image models too), and
//! the answer is never streamed.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::body;
use super::ids;
use super::pipeline::{call_upstream, resolve_model, HubCall, Upstreamed};
use super::reply::{error_reply, json_bytes_reply, Reply};
use super::Call;
use crate::error::GatewayError;
use crate::protocol::gemini::imagen::PredictResponse;
use crate::protocol::gemini::{self, GenerateContentResponse, API_VERSION};
use crate::protocol::openai::images::{self, ImageModel, OpenAiImagesRequest, OpenAiImagesResponse};
use crate::protocol::Protocol;
use crate::store::Database;
use crate::upstream::{Upstream, UpstreamRequest};

/// One upstream call's answer, or the reply that ends the request (a fault of the request,
/// in OpenAI's shape).
enum Drawn<T, B> {
    Answer(T),
    Refused(Reply<B>),
}

/// Serves one images request.
pub(super) async fn generate<U: Upstream, D: Database>(
    call: &Call<'_, U, D>,
    body: &[u8],
) -> Result<Reply<U::Body>, GatewayError> {
    let request: OpenAiImagesRequest = body::parse_body(body)?;
    let ask = images::check(&request)?;
    let requested = request.model.as_deref().unwrap_or(images::DEFAULT_IMAGE_MODEL);
    let model = resolve_model(call, requested, "you must provide a model parameter")?;
    let ctx = ids::request_context(&call.env.random, call.env.now_ms);
    let data = match ImageModel::of(&model)? {
        ImageModel::Gemini => {
            let hub = images::gemini_request(&model, &request.prompt, ask.aspect_ratio);
            hub.check()?;
            let mut answers = Vec::with_capacity(ask.count as usize);
            for _ in 0..ask.count {
                match draw::<GenerateContentResponse, _, _, _>(call, &model, "generateContent", &hub).await? {
                    Drawn::Answer(answer) => answers.push(answer),
                    Drawn::Refused(reply) => return Ok(reply),
                }
            }
            images::images_from_gemini(&answers)?
        }
        ImageModel::Imagen => {
            let mut answers = Vec::new();
            for hub in images::imagen_requests(&request.prompt, ask.count, ask.aspect_ratio) {
                match draw::<PredictResponse, _, _, _>(call, &model, "predict", &hub).await? {
                    Drawn::Answer(answer) => answers.push(answer),
                    Drawn::Refused(reply) => return Ok(reply),
                }
            }
            images::images_from_imagen(&answers)?
        }
    };
    let reply = OpenAiImagesResponse {
        created: ctx.created,
        data,
    };
    Ok(json_bytes_reply(200, body::to_json(&reply)?))
}

/// One upstream call of `method` on `model` with `hub` as its body.
async fn draw<T: DeserializeOwned, H: Serialize, U: Upstream, D: Database>(
    call: &Call<'_, U, D>,
    model: &str,
    method: &str,
    hub: &H,
) -> Result<Drawn<T, U::Body>, GatewayError> {
    let json = body::to_json(hub)?;
    let request_for =
        |m: &str| UpstreamRequest::post_json(gemini::model_path(API_VERSION, m, Some(method)), json.clone());
    match call_upstream(call, Protocol::OpenAi, model, &request_for(model), None).await? {
        Upstreamed::Whole { body, .. } => Ok(Drawn::Answer(body::decode_upstream(&body)?)),
        Upstreamed::Fault { status, body } => Ok(Drawn::Refused(error_reply(
            &GatewayError::from(body::fault_status(status, &body)),
            Protocol::OpenAi,
        ))),
        Upstreamed::Stream(_) => Err(GatewayError::Internal("an image answer streamed".into())),
    }
}
