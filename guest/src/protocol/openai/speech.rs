//! OpenAI `POST /v1/audio/speech` ⇄ Gemini's text-to-speech models (`gemini-*-tts`).
//!
//! The request becomes a `generateContent` with `responseModalities: ["AUDIO"]` and one
//! prebuilt voice; Gemini answers with raw PCM (16-bit little-endian, mono, 24 kHz) in an
//! `inlineData` part. That maps cleanly onto two of OpenAI's formats, and only those are
//! served:
//! - `pcm`: the samples as they are (OpenAI's `pcm` is the same 24 kHz 16-bit mono);
//! - `wav`: the samples behind a 44-byte RIFF header, also the answer when no
//!   `response_format` is given.
//!
//! `mp3`, `opus`, `aac` and `flac` would need an encoder in the component (size, start-up
//! time, licences): they are a 400 naming the two served. OpenAI voice names map onto Gemini
//! voices ([`VOICES`]); Gemini's own voice names work too. `instructions` lead the text as
//! Gemini's style prompt ("Say cheerfully: ..."). `speed` other than 1 and `stream_format:
//! "sse"` have no Gemini equivalent and are a 400.

use serde::Deserialize;
use serde_json::Value;

use crate::error::GatewayError;
use crate::protocol::gemini::{
    Content, GenerateContentRequest, GenerateContentResponse, GenerationConfig, Part, PrebuiltVoiceConfig,
    SpeechConfig, VoiceConfig,
};

/// The model OpenAI's speech model names (and a request without `model`) map to.
pub const DEFAULT_TTS_MODEL: &str = "gemini-2.5-flash-preview-tts";
/// The sample rate Gemini's speech comes in, unless its media type says otherwise.
pub const SAMPLE_RATE: u32 = 24_000;
/// The longest input OpenAI accepts, in characters.
pub const MAX_INPUT_CHARS: usize = 4096;

/// OpenAI's voices and the Gemini voice each is served by (chosen for a similar character).
pub const VOICES: &[(&str, &str)] = &[
    ("alloy", "Kore"),
    ("ash", "Charon"),
    ("ballad", "Algenib"),
    ("coral", "Aoede"),
    ("echo", "Puck"),
    ("fable", "Fenrir"),
    ("onyx", "Orus"),
    ("nova", "Leda"),
    ("sage", "Sulafat"),
    ("shimmer", "Callirrhoe"),
    ("verse", "Achird"),
    ("marin", "Despina"),
    ("cedar", "Iapetus"),
];

/// Gemini's prebuilt voices.
pub const GEMINI_VOICES: &[&str] = &[
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

/// The `/v1/audio/speech` request.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OpenAiSpeechRequest {
    /// The model (an OpenAI speech model name, an alias, or a Gemini TTS model id).
    #[serde(default)]
    pub model: Option<String>,
    /// The text to speak.
    #[serde(default)]
    pub input: String,
    /// A voice name, or `{"id": name}`.
    #[serde(default)]
    pub voice: Value,
    /// How to speak it.
    #[serde(default)]
    pub instructions: Option<String>,
    /// `wav` (default here) or `pcm`.
    #[serde(default)]
    pub response_format: Option<String>,
    /// Only 1 is served.
    #[serde(default)]
    pub speed: Option<f64>,
    /// Only `audio` is served.
    #[serde(default)]
    pub stream_format: Option<String>,
}

/// The audio formats served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioFormat {
    /// RIFF/WAVE, 16-bit PCM.
    Wav,
    /// Raw 16-bit little-endian samples.
    Pcm,
}

impl AudioFormat {
    /// The reply's media type.
    pub fn content_type(self) -> &'static str {
        match self {
            AudioFormat::Wav => "audio/wav",
            AudioFormat::Pcm => "audio/pcm",
        }
    }
}

/// What a valid request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeechAsk {
    /// The Gemini voice.
    pub voice: String,
    /// The format of the reply.
    pub format: AudioFormat,
}

/// Checks what Gemini cannot serve or OpenAI would refuse, before any upstream call.
pub fn check(request: &OpenAiSpeechRequest) -> Result<SpeechAsk, GatewayError> {
    if request.input.trim().is_empty() {
        return Err(GatewayError::invalid_param("input is required", "input"));
    }
    if request.input.chars().count() > MAX_INPUT_CHARS {
        return Err(GatewayError::invalid_param(
            format!("input is longer than {MAX_INPUT_CHARS} characters"),
            "input",
        ));
    }
    let format = match request.response_format.as_deref() {
        None | Some("wav") => AudioFormat::Wav,
        Some("pcm") => AudioFormat::Pcm,
        Some(other) => {
            return Err(GatewayError::invalid_param(
                format!(
                    "response_format {:?} is not supported: Gemini speaks raw PCM and gempool has no audio encoder; use `wav` or `pcm`",
                    other.chars().take(20).collect::<String>()
                ),
                "response_format",
            ))
        }
    };
    if request.speed.is_some_and(|s| s != 1.0) {
        return Err(GatewayError::invalid_param(
            "speed is not supported by Gemini's speech models; ask for the pace in `instructions`",
            "speed",
        ));
    }
    if request.stream_format.as_deref().is_some_and(|f| f != "audio") {
        return Err(GatewayError::invalid_param(
            "stream_format `sse` is not supported; the audio comes whole",
            "stream_format",
        ));
    }
    Ok(SpeechAsk {
        voice: voice(&request.voice)?,
        format,
    })
}

/// The Gemini voice for an OpenAI voice name, a Gemini voice name (any case) or `{"id"}`.
pub fn voice(voice: &Value) -> Result<String, GatewayError> {
    let name = match voice {
        Value::String(name) => name.as_str(),
        Value::Object(o) => o.get("id").and_then(Value::as_str).unwrap_or_default(),
        _ => "",
    };
    let lower = name.trim().to_ascii_lowercase();
    VOICES
        .iter()
        .find(|(openai, _)| *openai == lower)
        .map(|(_, gemini)| *gemini)
        .or_else(|| GEMINI_VOICES.iter().copied().find(|g| g.to_ascii_lowercase() == lower))
        .map(str::to_owned)
        .ok_or_else(|| {
            GatewayError::invalid_param(
                format!(
                    "voice {:?} is not one of OpenAI's ({}) or Gemini's voices",
                    name.chars().take(40).collect::<String>(),
                    VOICES.iter().map(|(v, _)| *v).collect::<Vec<_>>().join(", ")
                ),
                "voice",
            )
        })
}

/// Whether `model` speaks (a Gemini text-to-speech model); else a 400.
pub fn check_model(model: &str) -> Result<(), GatewayError> {
    let lower = model.to_ascii_lowercase();
    if lower.starts_with("gemini-") && lower.contains("tts") {
        return Ok(());
    }
    Err(GatewayError::invalid_param(
        format!("the model {model} does not speak; use a Gemini text-to-speech model such as {DEFAULT_TTS_MODEL}"),
        "model",
    ))
}

/// The `generateContent` request that speaks `request.input` in `voice`.
pub fn gemini_request(request: &OpenAiSpeechRequest, voice: &str) -> GenerateContentRequest {
    let text = match request.instructions.as_deref().map(str::trim).filter(|i| !i.is_empty()) {
        Some(style) => format!("{style}: {}", request.input),
        None => request.input.clone(),
    };
    GenerateContentRequest {
        contents: vec![Content {
            role: Some("user".into()),
            parts: vec![Part::text(text)],
        }],
        generation_config: Some(GenerationConfig {
            response_modalities: vec!["AUDIO".into()],
            speech_config: Some(SpeechConfig {
                voice_config: VoiceConfig {
                    prebuilt_voice_config: PrebuiltVoiceConfig {
                        voice_name: voice.to_owned(),
                    },
                },
            }),
            ..GenerationConfig::default()
        }),
        ..GenerateContentRequest::default()
    }
}

/// The audio of Gemini's answer in `format`: its PCM parts, in order, behind a WAV header
/// when asked. No audio at all is a 400 naming Gemini's reason (a blocked prompt).
pub fn audio(answer: &GenerateContentResponse, format: AudioFormat) -> Result<Vec<u8>, GatewayError> {
    use base64::Engine;
    let blobs: Vec<_> = answer
        .candidates
        .iter()
        .filter_map(|c| c.content.as_ref())
        .flat_map(|c| &c.parts)
        .filter_map(|p| p.inline_data.as_ref())
        .filter(|b| b.mime_type.starts_with("audio/"))
        .collect();
    if blobs.is_empty() {
        let why = answer
            .prompt_feedback
            .as_ref()
            .and_then(|f| f.block_reason.clone())
            .or_else(|| {
                answer
                    .candidates
                    .iter()
                    .find_map(|c| c.finish_reason.clone().map(String::from))
            })
            .unwrap_or_else(|| "no reason given".into());
        return Err(GatewayError::invalid_param(
            format!(
                "the model returned no audio ({})",
                why.chars().take(200).collect::<String>()
            ),
            "input",
        ));
    }
    let rate = blobs
        .iter()
        .find_map(|b| {
            b.mime_type
                .split(';')
                .find_map(|p| p.trim().strip_prefix("rate=")?.parse().ok())
        })
        .unwrap_or(SAMPLE_RATE);
    let mut pcm = Vec::new();
    for blob in blobs {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&blob.data)
            .map_err(|e| GatewayError::Upstream {
                status: 502,
                message: format!("the upstream's audio is not base64: {e}"),
            })?;
        pcm.extend_from_slice(&bytes);
    }
    Ok(match format {
        AudioFormat::Pcm => pcm,
        AudioFormat::Wav => wav(&pcm, rate),
    })
}

/// 16-bit mono PCM behind a RIFF/WAVE header.
pub fn wav(pcm: &[u8], rate: u32) -> Vec<u8> {
    let data_len = pcm.len() as u32;
    let mut out = Vec::with_capacity(44 + pcm.len());
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes()); // bytes per second
    out.extend_from_slice(&2u16.to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    out.extend_from_slice(pcm);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: &str) -> OpenAiSpeechRequest {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn voices_and_formats_are_checked_before_any_call() {
        let ask = check(&request(r#"{"input":"hi","voice":"alloy"}"#)).unwrap();
        assert_eq!((ask.voice.as_str(), ask.format), ("Kore", AudioFormat::Wav));
        let ask = check(&request(
            r#"{"input":"hi","voice":{"id":"puck"},"response_format":"pcm","speed":1}"#,
        ))
        .unwrap();
        assert_eq!((ask.voice.as_str(), ask.format), ("Puck", AudioFormat::Pcm));
        for (body, param) in [
            (
                r#"{"input":"hi","voice":"alloy","response_format":"mp3"}"#,
                "response_format",
            ),
            (
                r#"{"input":"hi","voice":"alloy","response_format":"opus"}"#,
                "response_format",
            ),
            (r#"{"input":"hi","voice":"nobody"}"#, "voice"),
            (r#"{"input":"hi"}"#, "voice"),
            (r#"{"input":" ","voice":"alloy"}"#, "input"),
            (r#"{"input":"hi","voice":"alloy","speed":1.5}"#, "speed"),
            (
                r#"{"input":"hi","voice":"alloy","stream_format":"sse"}"#,
                "stream_format",
            ),
        ] {
            let err = check(&request(body)).unwrap_err();
            assert!(
                matches!(&err, GatewayError::InvalidRequest { param: Some(p), .. } if p == param),
                "{body}: {err:?}"
            );
        }
        assert!(check_model("gemini-2.5-pro-preview-tts").is_ok());
        assert!(check_model("gemini-2.5-flash").is_err());
    }

    #[test]
    fn the_request_asks_for_audio_in_one_voice() {
        let r = request(r#"{"input":"Have a nice day","voice":"alloy","instructions":"Say cheerfully"}"#);
        let g = serde_json::to_value(gemini_request(&r, "Kore")).unwrap();
        assert_eq!(g["contents"][0]["parts"][0]["text"], "Say cheerfully: Have a nice day");
        assert_eq!(
            g["generationConfig"]["responseModalities"],
            serde_json::json!(["AUDIO"])
        );
        assert_eq!(
            g["generationConfig"]["speechConfig"]["voiceConfig"]["prebuiltVoiceConfig"]["voiceName"],
            "Kore"
        );
    }

    #[test]
    fn pcm_comes_back_raw_or_as_wav() {
        let answer: GenerateContentResponse = serde_json::from_str(
            r#"{"candidates":[{"content":{"role":"model","parts":[
                {"inlineData":{"mimeType":"audio/L16;codec=pcm;rate=24000","data":"AQACAA=="}}]}}]}"#,
        )
        .unwrap();
        assert_eq!(audio(&answer, AudioFormat::Pcm).unwrap(), [1, 0, 2, 0]);
        let wav = audio(&answer, AudioFormat::Wav).unwrap();
        assert_eq!(wav.len(), 48);
        assert_eq!(&wav[..4], b"RIFF");
        assert_eq!(u32::from_le_bytes(wav[24..28].try_into().unwrap()), 24_000);
        assert_eq!(u32::from_le_bytes(wav[40..44].try_into().unwrap()), 4);
        let blocked: GenerateContentResponse =
            serde_json::from_str(r#"{"promptFeedback":{"blockReason":"SAFETY"}}"#).unwrap();
        assert!(audio(&blocked, AudioFormat::Wav)
            .unwrap_err()
            .to_string()
            .contains("SAFETY"));
    }
}
