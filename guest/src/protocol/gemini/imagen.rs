//! Imagen through the Gemini API: `POST models/{m}:predict`.
//!
//! Request `{"instances": [{"prompt"}], "parameters": {"sampleCount", "aspectRatio", ...}}`,
//! answer `{"predictions": [{"bytesBase64Encoded", "mimeType"}]}` (an image the safety
//! filters removed comes back as a prediction with `raiFilteredReason` and no bytes, or not
//! at all). Native clients send their own body (passed through); the OpenAI images endpoint
//! builds one with [`PredictRequest::new`].

use serde::{Deserialize, Serialize};

/// The most images one `:predict` call makes (`sampleCount`).
pub const MAX_SAMPLES: u32 = 4;

/// The `:predict` request of an Imagen model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PredictRequest {
    /// One instance: the prompt.
    pub instances: Vec<PredictInstance>,
    /// How many images, and their shape.
    pub parameters: PredictParameters,
}

/// One `instances[]` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PredictInstance {
    /// What to draw.
    pub prompt: String,
}

/// `parameters`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PredictParameters {
    /// How many images (1 to [`MAX_SAMPLES`]).
    pub sample_count: u32,
    /// The images' aspect ratio, e.g. `16:9`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aspect_ratio: Option<String>,
}

impl PredictRequest {
    /// `count` images of `prompt`, with an aspect ratio when one was asked for.
    pub fn new(prompt: &str, count: u32, aspect_ratio: Option<&str>) -> Self {
        PredictRequest {
            instances: vec![PredictInstance {
                prompt: prompt.to_owned(),
            }],
            parameters: PredictParameters {
                sample_count: count,
                aspect_ratio: aspect_ratio.map(str::to_owned),
            },
        }
    }
}

/// The `:predict` answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PredictResponse {
    /// One per image made (filtered ones may be missing, or carry only a reason).
    #[serde(default)]
    pub predictions: Vec<Prediction>,
}

/// One `predictions[]` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Prediction {
    /// The image, standard base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_base64_encoded: Option<String>,
    /// Its media type, e.g. `image/png`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Why the safety filters removed the image, when they did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rai_filtered_reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_and_answer_have_googles_shape() {
        let request = serde_json::to_value(PredictRequest::new("a cat", 2, Some("16:9"))).unwrap();
        assert_eq!(
            request,
            serde_json::json!({"instances": [{"prompt": "a cat"}], "parameters": {"sampleCount": 2, "aspectRatio": "16:9"}})
        );
        let answer: PredictResponse = serde_json::from_str(
            r#"{"predictions":[{"bytesBase64Encoded":"iVBO","mimeType":"image/png"},{"raiFilteredReason":"x"}]}"#,
        )
        .unwrap();
        assert_eq!(answer.predictions[0].bytes_base64_encoded.as_deref(), Some("iVBO"));
        assert_eq!(answer.predictions[1].rai_filtered_reason.as_deref(), Some("x"));
        assert_eq!(serde_json::from_str::<PredictResponse>("{}").unwrap().predictions, []);
    }
}
