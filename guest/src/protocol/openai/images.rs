//! OpenAI `POST /v1/images/generations` ⇄ Gemini's image models.
//!
//! - `gemini-*-image*` models draw through `generateContent` with `responseModalities:
//!   ["IMAGE"]` (Gemini 2.0's image model also needs `TEXT`) and `imageConfig.aspectRatio`;
//!   they make one image per call (no `candidateCount`), so `n` images are `n` calls.
//! - `imagen-*` models draw through `:predict` ([`crate::protocol::gemini::imagen`]), up to
//!   four images (`sampleCount`) per call.
//!
//! `size` (`WxH`) maps to the nearest aspect ratio Gemini and Imagen share (1:1, 3:4, 4:3,
//! 9:16, 16:9); `auto` or no size lets the model choose. Images come back as `b64_json` only:
//! gempool keeps no image to link to, so `response_format: "url"` is a 400 (without
//! `response_format` the answer is `b64_json`, as for OpenAI's `gpt-image-*` models). `quality`,
//! `style`, `background`, `moderation`, `output_format` and `user` are accepted and ignored.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::GatewayError;
use crate::protocol::gemini::imagen::{PredictRequest, PredictResponse, MAX_SAMPLES};
use crate::protocol::gemini::{
    Content, GenerateContentRequest, GenerateContentResponse, GenerationConfig, ImageConfig, Part,
};

/// The model an images request without `model` (or naming an OpenAI image model) uses.
pub const DEFAULT_IMAGE_MODEL: &str = "gemini-2.5-flash-image";
/// The most images one request asks for (OpenAI's limit).
pub const MAX_IMAGES: u32 = 10;
/// The aspect ratios `size` maps to, with their width / height.
const ASPECT_RATIOS: [(&str, f64); 5] = [
    ("1:1", 1.0),
    ("3:4", 0.75),
    ("4:3", 4.0 / 3.0),
    ("9:16", 9.0 / 16.0),
    ("16:9", 16.0 / 9.0),
];

/// The `/v1/images/generations` request.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OpenAiImagesRequest {
    /// What to draw.
    #[serde(default)]
    pub prompt: String,
    /// The model (an alias, an OpenAI image model name, or a Gemini model id).
    #[serde(default)]
    pub model: Option<String>,
    /// How many images (1 to [`MAX_IMAGES`], default 1).
    #[serde(default)]
    pub n: Option<Value>,
    /// `WxH` or `auto`.
    #[serde(default)]
    pub size: Option<String>,
    /// `b64_json` (the only one served) or `url`.
    #[serde(default)]
    pub response_format: Option<String>,
}

/// The `/v1/images/generations` answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpenAiImagesResponse {
    /// Unix seconds.
    pub created: u64,
    /// The images.
    pub data: Vec<OpenAiImage>,
}

/// One image of the answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpenAiImage {
    /// The image, standard base64.
    pub b64_json: String,
}

/// How a model draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageModel {
    /// A Gemini image model: `generateContent`, one image per call.
    Gemini,
    /// An Imagen model: `:predict`, up to [`MAX_SAMPLES`] per call.
    Imagen,
}

impl ImageModel {
    /// How `model` draws; a model that does not draw is a 400 naming the ones that do.
    pub fn of(model: &str) -> Result<ImageModel, GatewayError> {
        let lower = model.to_ascii_lowercase();
        if lower.starts_with("imagen-") {
            Ok(ImageModel::Imagen)
        } else if lower.starts_with("gemini-") && lower.contains("image") {
            Ok(ImageModel::Gemini)
        } else {
            Err(GatewayError::invalid_param(
                format!("the model {model} does not generate images; use a gemini-*-image or an imagen-* model"),
                "model",
            ))
        }
    }
}

/// What a valid request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageAsk {
    /// How many images.
    pub count: u32,
    /// The aspect ratio, when `size` named one.
    pub aspect_ratio: Option<&'static str>,
}

/// Checks what Gemini cannot serve or OpenAI would refuse, before any upstream call.
pub fn check(request: &OpenAiImagesRequest) -> Result<ImageAsk, GatewayError> {
    if request.prompt.trim().is_empty() {
        return Err(GatewayError::invalid_param("prompt is required", "prompt"));
    }
    let count = match &request.n {
        None | Some(Value::Null) => 1,
        Some(n) => n
            .as_u64()
            .filter(|n| (1..=u64::from(MAX_IMAGES)).contains(n))
            .ok_or_else(|| {
                GatewayError::invalid_param(format!("n must be a whole number from 1 to {MAX_IMAGES}"), "n")
            })? as u32,
    };
    match request.response_format.as_deref() {
        None | Some("b64_json") => {}
        Some("url") => {
            return Err(GatewayError::invalid_param(
                "response_format `url` is not supported: gempool keeps no images to link to; use `b64_json`",
                "response_format",
            ))
        }
        Some(other) => {
            return Err(GatewayError::invalid_param(
                format!(
                    "response_format must be `b64_json` (or `url`, which gempool does not serve), got {:?}",
                    other.chars().take(40).collect::<String>()
                ),
                "response_format",
            ))
        }
    }
    Ok(ImageAsk {
        count,
        aspect_ratio: aspect_ratio(request.size.as_deref())?,
    })
}

/// The aspect ratio nearest to `size` (`WxH`, compared on a log scale); `None` for `auto` or
/// no size.
pub fn aspect_ratio(size: Option<&str>) -> Result<Option<&'static str>, GatewayError> {
    let size = match size.map(str::trim) {
        None | Some("") | Some("auto") => return Ok(None),
        Some(size) => size,
    };
    let bad = || {
        GatewayError::invalid_param(
            format!(
                "size must be `auto` or WIDTHxHEIGHT, e.g. 1024x1024, got {:?}",
                size.chars().take(40).collect::<String>()
            ),
            "size",
        )
    };
    let (w, h) = size.split_once(['x', 'X']).ok_or_else(bad)?;
    let (w, h) = (
        w.trim().parse::<u32>().map_err(|_| bad())?,
        h.trim().parse::<u32>().map_err(|_| bad())?,
    );
    if w == 0 || h == 0 {
        return Err(bad());
    }
    let ratio = (f64::from(w) / f64::from(h)).ln();
    Ok(ASPECT_RATIOS
        .iter()
        .min_by(|a, b| (a.1.ln() - ratio).abs().total_cmp(&(b.1.ln() - ratio).abs()))
        .map(|(name, _)| *name))
}

/// The `generateContent` request that draws one image with a Gemini image model.
pub fn gemini_request(model: &str, prompt: &str, aspect_ratio: Option<&str>) -> GenerateContentRequest {
    // Gemini 2.0's image model answers only with text and images together.
    let modalities: &[&str] = if model.starts_with("gemini-2.0") {
        &["TEXT", "IMAGE"]
    } else {
        &["IMAGE"]
    };
    GenerateContentRequest {
        contents: vec![Content {
            role: Some("user".into()),
            parts: vec![Part::text(prompt)],
        }],
        generation_config: Some(GenerationConfig {
            response_modalities: modalities.iter().map(|m| m.to_string()).collect(),
            image_config: aspect_ratio.map(|ratio| ImageConfig {
                aspect_ratio: Some(ratio.to_owned()),
            }),
            ..GenerationConfig::default()
        }),
        ..GenerateContentRequest::default()
    }
}

/// The `:predict` requests that draw `count` images with an Imagen model.
pub fn imagen_requests(prompt: &str, count: u32, aspect_ratio: Option<&str>) -> Vec<PredictRequest> {
    (0..count.div_ceil(MAX_SAMPLES))
        .map(|i| PredictRequest::new(prompt, (count - i * MAX_SAMPLES).min(MAX_SAMPLES), aspect_ratio))
        .collect()
}

/// The images of Gemini's answers (every `inlineData` part of an image type).
pub fn images_from_gemini(answers: &[GenerateContentResponse]) -> Result<Vec<OpenAiImage>, GatewayError> {
    let images: Vec<OpenAiImage> = answers
        .iter()
        .flat_map(|a| &a.candidates)
        .filter_map(|c| c.content.as_ref())
        .flat_map(|c| &c.parts)
        .filter_map(|p| p.inline_data.as_ref())
        .filter(|blob| blob.mime_type.starts_with("image/"))
        .map(|blob| OpenAiImage {
            b64_json: blob.data.clone(),
        })
        .collect();
    if images.is_empty() {
        let why = answers
            .iter()
            .find_map(|a| {
                a.prompt_feedback
                    .as_ref()
                    .and_then(|f| f.block_reason.clone())
                    .or_else(|| {
                        a.candidates
                            .iter()
                            .find_map(|c| c.finish_reason.clone().map(String::from))
                    })
            })
            .unwrap_or_else(|| "no reason given".into());
        return Err(no_image(&why));
    }
    Ok(images)
}

/// The images of Imagen's answers.
pub fn images_from_imagen(answers: &[PredictResponse]) -> Result<Vec<OpenAiImage>, GatewayError> {
    let predictions = || answers.iter().flat_map(|a| &a.predictions);
    let images: Vec<OpenAiImage> = predictions()
        .filter_map(|p| p.bytes_base64_encoded.clone())
        .map(|b64_json| OpenAiImage { b64_json })
        .collect();
    if images.is_empty() {
        let why = predictions()
            .find_map(|p| p.rai_filtered_reason.clone())
            .unwrap_or_else(|| "no reason given".into());
        return Err(no_image(&why));
    }
    Ok(images)
}

/// The model made no image: most often its safety filters (OpenAI answers 400 too).
fn no_image(why: &str) -> GatewayError {
    GatewayError::invalid_param(
        format!(
            "the model returned no image ({}); the prompt may have been blocked by its safety filters",
            why.chars().take(200).collect::<String>()
        ),
        "prompt",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: &str) -> OpenAiImagesRequest {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn sizes_map_to_the_nearest_aspect_ratio() {
        for (size, want) in [
            ("1024x1024", Some("1:1")),
            ("256x256", Some("1:1")),
            ("1536x1024", Some("4:3")),
            ("1024x1536", Some("3:4")),
            ("1792x1024", Some("16:9")),
            ("1024x1792", Some("9:16")),
            ("1920x1080", Some("16:9")),
            ("1000X1100", Some("1:1")),
            ("auto", None),
        ] {
            assert_eq!(aspect_ratio(Some(size)).unwrap(), want, "{size}");
        }
        assert_eq!(aspect_ratio(None).unwrap(), None);
        for bad in ["big", "0x10", "10x", "x10", "-5x5", "1024*1024"] {
            assert_eq!(
                aspect_ratio(Some(bad))
                    .unwrap_err()
                    .status(crate::protocol::Protocol::OpenAi),
                400,
                "{bad}"
            );
        }
    }

    #[test]
    fn requests_are_checked_before_any_call() {
        let ok = check(&request(
            r#"{"prompt":"a cat","n":3,"size":"1792x1024","response_format":"b64_json"}"#,
        ))
        .unwrap();
        assert_eq!(
            ok,
            ImageAsk {
                count: 3,
                aspect_ratio: Some("16:9")
            }
        );
        assert_eq!(check(&request(r#"{"prompt":"a cat","n":null}"#)).unwrap().count, 1);
        for (body, param) in [
            (r#"{"prompt":"a cat","response_format":"url"}"#, "response_format"),
            (r#"{"prompt":"a cat","response_format":"png"}"#, "response_format"),
            (r#"{"prompt":"  "}"#, "prompt"),
            (r#"{"prompt":"a cat","n":0}"#, "n"),
            (r#"{"prompt":"a cat","n":11}"#, "n"),
            (r#"{"prompt":"a cat","n":1.5}"#, "n"),
        ] {
            let err = check(&request(body)).unwrap_err();
            assert!(
                matches!(&err, GatewayError::InvalidRequest { param: Some(p), .. } if p == param),
                "{body}: {err:?}"
            );
        }
        let url = check(&request(r#"{"prompt":"a cat","response_format":"url"}"#)).unwrap_err();
        assert!(url.to_string().contains("b64_json"), "{url}");
    }

    #[test]
    fn models_draw_their_own_way() {
        assert_eq!(ImageModel::of("gemini-2.5-flash-image").unwrap(), ImageModel::Gemini);
        assert_eq!(
            ImageModel::of("gemini-3-pro-image-preview").unwrap(),
            ImageModel::Gemini
        );
        assert_eq!(ImageModel::of("imagen-4.0-generate-001").unwrap(), ImageModel::Imagen);
        assert!(ImageModel::of("gemini-2.5-flash").is_err());
        let g = serde_json::to_value(gemini_request("gemini-2.5-flash-image", "a cat", Some("16:9"))).unwrap();
        assert_eq!(
            g["generationConfig"]["responseModalities"],
            serde_json::json!(["IMAGE"])
        );
        assert_eq!(g["generationConfig"]["imageConfig"]["aspectRatio"], "16:9");
        let old = serde_json::to_value(gemini_request(
            "gemini-2.0-flash-preview-image-generation",
            "a cat",
            None,
        ))
        .unwrap();
        assert_eq!(
            old["generationConfig"]["responseModalities"],
            serde_json::json!(["TEXT", "IMAGE"])
        );
        assert!(old["generationConfig"].get("imageConfig").is_none());
        let counts: Vec<u32> = imagen_requests("a cat", 10, None)
            .iter()
            .map(|r| r.parameters.sample_count)
            .collect();
        assert_eq!(counts, [4, 4, 2]);
    }

    #[test]
    fn images_come_from_image_parts_or_predictions_and_none_is_a_400() {
        let answer: GenerateContentResponse = serde_json::from_str(
            r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"here"},
                {"inlineData":{"mimeType":"image/png","data":"iVBORw0K"}}]},"finishReason":"STOP"}]}"#,
        )
        .unwrap();
        let images = images_from_gemini(&[answer.clone(), answer]).unwrap();
        assert_eq!(images.len(), 2);
        assert_eq!(images[0].b64_json, "iVBORw0K");
        let blocked: GenerateContentResponse =
            serde_json::from_str(r#"{"candidates":[{"finishReason":"IMAGE_SAFETY"}]}"#).unwrap();
        let err = images_from_gemini(&[blocked]).unwrap_err();
        assert!(err.to_string().contains("IMAGE_SAFETY"), "{err}");
        let predicted: PredictResponse =
            serde_json::from_str(r#"{"predictions":[{"bytesBase64Encoded":"AAAA","mimeType":"image/png"}]}"#).unwrap();
        assert_eq!(images_from_imagen(&[predicted]).unwrap()[0].b64_json, "AAAA");
        let filtered: PredictResponse =
            serde_json::from_str(r#"{"predictions":[{"raiFilteredReason":"unsafe"}]}"#).unwrap();
        assert!(images_from_imagen(&[filtered])
            .unwrap_err()
            .to_string()
            .contains("unsafe"));
    }
}
