//! Media output: Imagen's `:predict`, Gemini image models' `inlineData` images, and Gemini
//! speech models' PCM audio.
//!
//! Speech (`responseModalities: ["AUDIO"]`, only on `*-tts` models, which answer nothing else):
//! `speechConfig.voiceConfig.prebuiltVoiceConfig.voiceName` must be one of Google's voices
//! ([`VOICES`]); the answer is `inlineData` `audio/L16;codec=pcm;rate=24000` holding
//! [`SAMPLES_PER_WORD`] silent samples per word of the text.
//!
//! Images are real PNGs whose pixel size is the aspect ratio asked for (`16:9` -> 16x9 px,
//! none -> 1x1), so a test can decode them and see which ratio reached the upstream.
//!
//! `:predict` is checked the way Google's front end does for Imagen: the body is
//! `{"instances": [{"prompt": "..."}], "parameters": {...}}`; another top-level name, an
//! instance without a prompt or with another field, an unknown parameter, `sampleCount` outside
//! 1..=4 or an aspect ratio Imagen does not make is a 400 `INVALID_ARGUMENT`. The answer is
//! `{"predictions": [{"bytesBase64Encoded", "mimeType": "image/png"}, ...]}`, one per sample.
//! A prompt containing `block-me` comes back with no prediction at all, as Google answers when
//! every image was filtered.

use base64::Engine;
use serde_json::{json, Value};

use super::errors::MockError;
use super::wire::{
    GeminiCandidate, GeminiContent, GeminiFieldViolation, GeminiGenerateContentResponse, GeminiPart,
    GeminiUsageMetadata,
};

/// The aspect ratios Imagen and Gemini image models make.
pub const ASPECT_RATIOS: &[&str] = &["1:1", "3:4", "4:3", "9:16", "16:9"];
/// Parameters `:predict` accepts for Imagen.
const PREDICT_PARAMETERS: &[&str] = &[
    "sampleCount",
    "aspectRatio",
    "personGeneration",
    "negativePrompt",
    "outputOptions",
    "sampleImageSize",
    "imageSize",
    "addWatermark",
    "enhancePrompt",
    "safetySetting",
    "includeRaiReason",
    "includeSafetyAttributes",
    "language",
    "seed",
    "guidanceScale",
];

/// A prompt with this word makes no image (the safety filters "removed" it).
pub const BLOCKED_WORD: &str = "block-me";

fn unknown(name: &str, at: Option<&str>) -> MockError {
    let description = match at {
        Some(path) => format!("Invalid JSON payload received. Unknown name \"{name}\" at '{path}': Cannot find field."),
        None => format!("Invalid JSON payload received. Unknown name \"{name}\": Cannot find field."),
    };
    MockError::bad_request(vec![GeminiFieldViolation {
        field: at.map(str::to_owned),
        description,
    }])
}

/// The pixel size of an aspect ratio (`16:9` -> 16x9).
pub fn pixel_size(aspect_ratio: Option<&str>) -> (u32, u32) {
    aspect_ratio
        .and_then(|r| r.split_once(':'))
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .unwrap_or((1, 1))
}

/// Checks an aspect ratio value.
fn check_aspect_ratio(value: &Value, path: &str) -> Result<Option<String>, MockError> {
    match value {
        Value::Null => Ok(None),
        Value::String(r) if ASPECT_RATIOS.contains(&r.as_str()) => Ok(Some(r.clone())),
        other => Err(MockError::invalid_argument(format!(
            "{path}: unsupported aspect ratio {other}; supported: {}",
            ASPECT_RATIOS.join(", ")
        ))),
    }
}

/// `:predict` of an Imagen model.
pub fn predict(model: &str, body: &Value) -> Result<Value, MockError> {
    let object = body
        .as_object()
        .ok_or_else(|| MockError::invalid_argument("Invalid JSON payload received. Expected an object."))?;
    if let Some(name) = object.keys().find(|k| *k != "instances" && *k != "parameters") {
        return Err(unknown(name, None));
    }
    let instances = match object.get("instances") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        _ => {
            return Err(MockError::invalid_argument(
                "instances: at least one instance is required.",
            ))
        }
    };
    if instances.len() > 1 {
        return Err(MockError::invalid_argument(format!(
            "{model} takes one instance per request, got {}.",
            instances.len()
        )));
    }
    let instance = instances[0]
        .as_object()
        .ok_or_else(|| MockError::invalid_argument("instances[0] must be an object."))?;
    if let Some(name) = instance.keys().find(|k| *k != "prompt") {
        return Err(unknown(name, Some("instances[0]")));
    }
    let prompt = match instance.get("prompt") {
        Some(Value::String(p)) if !p.trim().is_empty() => p,
        _ => {
            return Err(MockError::invalid_argument(
                "instances[0].prompt: a non-empty prompt is required.",
            ))
        }
    };
    let empty = serde_json::Map::new();
    let parameters = match object.get("parameters") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(p)) => p,
        Some(_) => return Err(MockError::invalid_argument("parameters must be an object.")),
    };
    if let Some(name) = parameters.keys().find(|k| !PREDICT_PARAMETERS.contains(&k.as_str())) {
        return Err(unknown(name, Some("parameters")));
    }
    let count = match parameters.get("sampleCount") {
        None | Some(Value::Null) => 4,
        Some(n) => n
            .as_u64()
            .filter(|n| (1..=4).contains(n))
            .ok_or_else(|| MockError::invalid_argument("parameters.sampleCount: must be from 1 to 4."))?,
    };
    let ratio = check_aspect_ratio(
        parameters.get("aspectRatio").unwrap_or(&Value::Null),
        "parameters.aspectRatio",
    )?;
    if prompt.contains(BLOCKED_WORD) {
        return Ok(json!({}));
    }
    let image = png_base64(pixel_size(ratio.as_deref()));
    let predictions: Vec<Value> = (0..count)
        .map(|_| json!({"bytesBase64Encoded": image, "mimeType": "image/png"}))
        .collect();
    Ok(json!({ "predictions": predictions }))
}

/// The image a Gemini image model draws for a request asking for `IMAGE` output, or the 400
/// Google answers when the model draws no image or the aspect ratio is not one it makes.
pub fn gemini_image(
    model_draws_images: bool,
    model: &str,
    generation_config: &Value,
) -> Result<Option<String>, MockError> {
    let modalities: Vec<&str> = generation_config
        .get("responseModalities")
        .and_then(Value::as_array)
        .map(|m| m.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let image_config = generation_config.get("imageConfig").unwrap_or(&Value::Null);
    if !modalities.contains(&"IMAGE") {
        return Ok(None);
    }
    if !model_draws_images {
        return Err(MockError::invalid_argument(format!(
            "The requested combination of response modalities (IMAGE) is not supported by the model {model}."
        )));
    }
    if let Some(name) = image_config
        .as_object()
        .and_then(|c| c.keys().find(|k| *k != "aspectRatio" && *k != "imageSize"))
    {
        return Err(unknown(name, Some("generation_config.image_config")));
    }
    let ratio = check_aspect_ratio(
        image_config.get("aspectRatio").unwrap_or(&Value::Null),
        "generation_config.image_config.aspect_ratio",
    )?;
    Ok(Some(png_base64(pixel_size(ratio.as_deref()))))
}

/// The answer of a Gemini image model: one candidate with one PNG `inlineData` part.
pub fn image_reply(image: String, prompt_tokens: u32, model: &str, response_id: &str) -> GeminiGenerateContentResponse {
    GeminiGenerateContentResponse {
        candidates: vec![GeminiCandidate {
            content: Some(GeminiContent {
                parts: vec![GeminiPart {
                    inline_data: Some(json!({"mimeType": "image/png", "data": image})),
                    ..GeminiPart::default()
                }],
                role: Some("model".into()),
            }),
            finish_reason: Some("STOP".into()),
            ..GeminiCandidate::default()
        }],
        usage_metadata: Some(GeminiUsageMetadata {
            prompt_token_count: prompt_tokens,
            candidates_token_count: IMAGE_TOKENS,
            total_token_count: prompt_tokens + IMAGE_TOKENS,
            ..GeminiUsageMetadata::default()
        }),
        model_version: model.to_owned(),
        response_id: response_id.to_owned(),
        ..GeminiGenerateContentResponse::default()
    }
}

/// The output tokens Google counts for one image.
pub const IMAGE_TOKENS: u32 = 1290;

/// Google's prebuilt voices.
pub const VOICES: &[&str] = &[
    "Zephyr",
    "Puck",
    "Charon",
    "Kore",
    "Fenrir",
    "Leda",
    "Orus",
    "Aoede",
    "Callirrhoe",
    "Autonoe",
    "Enceladus",
    "Iapetus",
    "Umbriel",
    "Algieba",
    "Despina",
    "Erinome",
    "Algenib",
    "Rasalgethi",
    "Laomedeia",
    "Achernar",
    "Alnilam",
    "Schedar",
    "Gacrux",
    "Pulcherrima",
    "Achird",
    "Zubenelgenubi",
    "Vindemiatrix",
    "Sadachbia",
    "Sadaltager",
    "Sulafat",
];
/// 16-bit samples of speech per word (0.1 s at 24 kHz).
pub const SAMPLES_PER_WORD: usize = 2_400;

/// Checks a request to a speech model (or for audio): `Some(())` when the answer is speech.
pub fn gemini_speech(model_speaks: bool, model: &str, generation_config: &Value) -> Result<Option<()>, MockError> {
    let modalities: Vec<&str> = generation_config
        .get("responseModalities")
        .and_then(Value::as_array)
        .map(|m| m.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let wants_audio = modalities.contains(&"AUDIO");
    if wants_audio != model_speaks || (model_speaks && modalities.len() != 1) {
        return Err(MockError::invalid_argument(format!(
            "The requested combination of response modalities ({}) is not supported by the model {model}.",
            if modalities.is_empty() {
                "TEXT".to_owned()
            } else {
                modalities.join(", ")
            }
        )));
    }
    if !model_speaks {
        return Ok(None);
    }
    let voice = generation_config
        .pointer("/speechConfig/voiceConfig/prebuiltVoiceConfig/voiceName")
        .and_then(Value::as_str);
    match voice {
        Some(v) if VOICES.contains(&v) => Ok(Some(())),
        None => Ok(Some(())),
        Some(v) => Err(MockError::invalid_argument(format!("Voice name {v} is not supported."))),
    }
}

/// The answer of a speech model: `words` * [`SAMPLES_PER_WORD`] silent 16-bit samples.
pub fn speech_reply(words: u32, prompt_tokens: u32, model: &str, response_id: &str) -> GeminiGenerateContentResponse {
    let pcm = vec![0u8; words.max(1) as usize * SAMPLES_PER_WORD * 2];
    let data = base64::engine::general_purpose::STANDARD.encode(pcm);
    let mut reply = image_reply(String::new(), prompt_tokens, model, response_id);
    if let Some(part) = reply.candidates[0].content.as_mut().and_then(|c| c.parts.first_mut()) {
        part.inline_data = Some(json!({"mimeType": "audio/L16;codec=pcm;rate=24000", "data": data}));
    }
    reply
}

/// A solid-colour RGB PNG of `(width, height)` pixels, standard base64.
pub fn png_base64((width, height): (u32, u32)) -> String {
    base64::engine::general_purpose::STANDARD.encode(png((width, height)))
}

/// A solid-colour RGB PNG (uncompressed deflate), valid for any decoder.
pub fn png((width, height): (u32, u32)) -> Vec<u8> {
    // Each row: filter byte 0 (none), then RGB pixels.
    let row: Vec<u8> = std::iter::once(0)
        .chain((0..width).flat_map(|_| [0x42, 0x85, 0xf4]))
        .collect();
    let raw = row.repeat(height as usize);
    // zlib: header, stored blocks of at most 65535 bytes, Adler-32.
    let mut zlib = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        zlib.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        zlib.extend_from_slice(&len.to_le_bytes());
        zlib.extend_from_slice(&(!len).to_le_bytes());
        zlib.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for byte in &raw {
        a = (a + u32::from(*byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    zlib.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [
        (b"IHDR", ihdr.as_slice()),
        (b"IDAT", zlib.as_slice()),
        (b"IEND", &[][..]),
    ] {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// The width and height a PNG's header declares (for tests).
pub fn png_size(png: &[u8]) -> Option<(u32, u32)> {
    if png.get(..8)? != b"\x89PNG\r\n\x1a\n" || png.get(12..16)? != b"IHDR" {
        return None;
    }
    let word = |at: usize| Some(u32::from_be_bytes(png.get(at..at + 4)?.try_into().ok()?));
    Some((word(16)?, word(20)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pngs_are_well_formed() {
        let image = png((16, 9));
        assert_eq!(png_size(&image), Some((16, 9)));
        // The IHDR chunk's CRC, as any decoder checks it.
        assert_eq!(crc32(b"IEND"), 0xae42_6082);
        assert_eq!(&image[image.len() - 8..], b"IEND\xae\x42\x60\x82");
    }

    #[test]
    fn predict_is_strict() {
        let ok = predict(
            "imagen-4.0-generate-001",
            &json!({"instances": [{"prompt": "a cat"}], "parameters": {"sampleCount": 2, "aspectRatio": "9:16"}}),
        )
        .unwrap();
        let predictions = ok["predictions"].as_array().unwrap();
        assert_eq!(predictions.len(), 2);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(predictions[0]["bytesBase64Encoded"].as_str().unwrap())
            .unwrap();
        assert_eq!(png_size(&bytes), Some((9, 16)));
        for bad in [
            json!({"prompt": "a cat"}),
            json!({"instances": []}),
            json!({"instances": [{"text": "a cat"}]}),
            json!({"instances": [{"prompt": ""}]}),
            json!({"instances": [{"prompt": "a"}], "parameters": {"sampleCount": 5}}),
            json!({"instances": [{"prompt": "a"}], "parameters": {"aspectRatio": "2:1"}}),
            json!({"instances": [{"prompt": "a"}], "parameters": {"n": 1}}),
            json!({"instances": [{"prompt": "a"}], "extra": 1}),
        ] {
            assert_eq!(
                predict("imagen-4.0-generate-001", &bad).unwrap_err().status,
                400,
                "{bad}"
            );
        }
        assert_eq!(
            predict(
                "imagen-4.0-generate-001",
                &json!({"instances": [{"prompt": "block-me"}]})
            )
            .unwrap(),
            json!({})
        );
    }
}
