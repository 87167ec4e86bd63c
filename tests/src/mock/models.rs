//! The mock's model catalog (`GET models`, `GET models/{m}`), protocols.md §1.12.

use super::wire::GeminiModel;

/// One model the mock serves.
#[derive(Debug, Clone, Copy)]
pub struct ModelInfo {
    /// Bare id, e.g. `gemini-2.5-flash`.
    pub id: &'static str,
    /// Human name.
    pub display_name: &'static str,
    /// `supportedGenerationMethods`.
    pub methods: &'static [&'static str],
    /// Whether the model thinks.
    pub thinking: bool,
    /// Context window.
    pub input_token_limit: u32,
    /// Output cap.
    pub output_token_limit: u32,
}

impl ModelInfo {
    /// Whether the model accepts `method` (`generateContent`, `countTokens`, `embedContent`).
    pub fn supports(&self, method: &str) -> bool {
        self.methods.contains(&method)
    }

    /// Gemini 3 models enforce thought signatures and take `thinkingLevel`.
    pub fn is_gemini3(&self) -> bool {
        self.id.starts_with("gemini-3")
    }

    /// Whether the model answers with images (`responseModalities: ["IMAGE"]`).
    pub fn draws_images(&self) -> bool {
        self.id.starts_with("gemini-") && self.id.contains("-image")
    }

    /// Whether the model speaks (`responseModalities: ["AUDIO"]`, and nothing else).
    pub fn speaks(&self) -> bool {
        self.id.ends_with("-tts")
    }

    /// Whether this is an embedding model.
    pub fn is_embedding(&self) -> bool {
        self.supports("embedContent")
    }

    /// The wire `Model`.
    pub fn to_wire(&self) -> GeminiModel {
        let generative = !self.is_embedding();
        GeminiModel {
            name: format!("models/{}", self.id),
            base_model_id: self.id.to_string(),
            version: "001".into(),
            display_name: self.display_name.into(),
            description: format!("Mock of {}", self.display_name),
            input_token_limit: self.input_token_limit,
            output_token_limit: self.output_token_limit,
            supported_generation_methods: self.methods.iter().map(|m| m.to_string()).collect(),
            temperature: generative.then_some(1.0),
            max_temperature: generative.then_some(2.0),
            top_p: generative.then_some(0.95),
            top_k: generative.then_some(64),
            thinking: self.thinking,
        }
    }
}

const GENERATIVE: &[&str] = &[
    "generateContent",
    "countTokens",
    "createCachedContent",
    "batchGenerateContent",
];
const EMBEDDING: &[&str] = &[
    "embedContent",
    "batchEmbedContents",
    "countTokens",
    "asyncBatchEmbedContent",
];
const IMAGEN: &[&str] = &["predict"];

/// Every model, in listing order.
pub const MODELS: &[ModelInfo] = &[
    ModelInfo {
        id: "gemini-2.5-flash",
        display_name: "Gemini 2.5 Flash",
        methods: GENERATIVE,
        thinking: true,
        input_token_limit: 1_048_576,
        output_token_limit: 65_536,
    },
    ModelInfo {
        id: "gemini-2.5-pro",
        display_name: "Gemini 2.5 Pro",
        methods: GENERATIVE,
        thinking: true,
        input_token_limit: 1_048_576,
        output_token_limit: 65_536,
    },
    ModelInfo {
        id: "gemini-2.5-flash-lite",
        display_name: "Gemini 2.5 Flash-Lite",
        methods: GENERATIVE,
        thinking: true,
        input_token_limit: 1_048_576,
        output_token_limit: 65_536,
    },
    ModelInfo {
        id: "gemini-3-pro-preview",
        display_name: "Gemini 3 Pro Preview",
        methods: GENERATIVE,
        thinking: true,
        input_token_limit: 1_048_576,
        output_token_limit: 65_536,
    },
    ModelInfo {
        id: "gemini-3-flash-preview",
        display_name: "Gemini 3 Flash Preview",
        methods: GENERATIVE,
        thinking: true,
        input_token_limit: 1_048_576,
        output_token_limit: 65_536,
    },
    // The newer models current Gemini CLI defaults to and routes between.
    ModelInfo {
        id: "gemini-3.1-pro-preview",
        display_name: "Gemini 3.1 Pro Preview",
        methods: GENERATIVE,
        thinking: true,
        input_token_limit: 1_048_576,
        output_token_limit: 65_536,
    },
    ModelInfo {
        id: "gemini-3.1-pro-preview-customtools",
        display_name: "Gemini 3.1 Pro Preview (custom tools)",
        methods: GENERATIVE,
        thinking: true,
        input_token_limit: 1_048_576,
        output_token_limit: 65_536,
    },
    ModelInfo {
        id: "gemini-3.5-flash",
        display_name: "Gemini 3.5 Flash",
        methods: GENERATIVE,
        thinking: true,
        input_token_limit: 1_048_576,
        output_token_limit: 65_536,
    },
    ModelInfo {
        id: "gemini-3.5-flash-lite",
        display_name: "Gemini 3.5 Flash-Lite",
        methods: GENERATIVE,
        thinking: true,
        input_token_limit: 1_048_576,
        output_token_limit: 65_536,
    },
    ModelInfo {
        id: "gemini-3.8-flash",
        display_name: "Gemini 3.8 Flash",
        methods: GENERATIVE,
        thinking: true,
        input_token_limit: 1_048_576,
        output_token_limit: 65_536,
    },
    ModelInfo {
        id: "gemini-2.5-flash-image",
        display_name: "Gemini 2.5 Flash Image",
        methods: &["generateContent", "countTokens"],
        thinking: false,
        input_token_limit: 32_768,
        output_token_limit: 32_768,
    },
    ModelInfo {
        id: "gemini-2.5-flash-preview-tts",
        display_name: "Gemini 2.5 Flash Preview TTS",
        methods: &["generateContent", "countTokens"],
        thinking: false,
        input_token_limit: 8_192,
        output_token_limit: 16_384,
    },
    ModelInfo {
        id: "imagen-4.0-generate-001",
        display_name: "Imagen 4",
        methods: IMAGEN,
        thinking: false,
        input_token_limit: 480,
        output_token_limit: 8_192,
    },
    ModelInfo {
        id: "gemini-embedding-001",
        display_name: "Gemini Embedding 001",
        methods: EMBEDDING,
        thinking: false,
        input_token_limit: 2_048,
        output_token_limit: 1,
    },
];

/// Looks a model up by bare id.
pub fn find(id: &str) -> Option<&'static ModelInfo> {
    MODELS.iter().find(|m| m.id == id)
}
