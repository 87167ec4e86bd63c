//! Google's extras on OpenAI-shaped requests (Chat Completions and Responses), typed.
//!
//! Gemini's OpenAI-compatible endpoint reads `extra_body.google` (the documented nesting), and
//! the OpenAI SDKs flatten `extra_body=` to a top-level `google`; the first one that is an
//! object wins. Each field is accepted in snake or camel case (snake first; `null` is absent),
//! unknown fields are ignored, and a known field of the wrong type is a 400 naming it.

use super::{
    Content, FunctionCallingConfig, FunctionDeclaration, GenerateContentRequest, GenerationConfig, SafetySetting, Tool,
    ToolConfig,
};
use crate::error::GatewayError;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

/// `google.thinking_config`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ThinkingExtras {
    /// `thinking_budget` (Gemini 2.5): tokens, 0 off, -1 dynamic.
    pub thinking_budget: Option<i64>,
    /// `thinking_level` (Gemini 3), upper-cased as Gemini spells it.
    pub thinking_level: Option<String>,
    /// `include_thoughts`: return thought summaries.
    pub include_thoughts: Option<bool>,
}

/// The `google` object of a request.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct GoogleExtras {
    /// `thinking_config`; present (even empty) when the client sent one.
    pub thinking_config: Option<ThinkingExtras>,
    /// `safety_settings`, in Gemini's own shape.
    pub safety_settings: Vec<SafetySetting>,
    /// `cached_content`: the name of a Gemini cached content (ignored unless a string).
    pub cached_content: Option<String>,
}

/// Where an OpenAI-shaped request carries its extras; flattened into the chat and Responses
/// request types, so both read them alike.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ExtrasFields {
    /// Gemini's compat-endpoint extras: `{"google": {"thinking_config": …, …}}` (protocols.md §2).
    #[serde(default)]
    pub extra_body: Option<Value>,
    /// The same extras flattened to the top level (what the OpenAI SDK's `extra_body=` sends).
    #[serde(default)]
    pub google: Option<Value>,
}

const THINKING_PARAM: &str = "extra_body.google.thinking_config";
const SAFETY_PARAM: &str = "extra_body.google.safety_settings";

impl GoogleExtras {
    /// The extras of a request from its `extra_body` and top-level `google`; `None` when it
    /// has none.
    pub fn from_request(extra_body: Option<&Value>, google: Option<&Value>) -> Result<Option<Self>, GatewayError> {
        let object = extra_body
            .and_then(|e| e.get("google"))
            .or(google)
            .and_then(Value::as_object);
        object.map(Self::from_object).transpose()
    }

    fn from_object(google: &Map<String, Value>) -> Result<Self, GatewayError> {
        let thinking_config = match field(google, "thinking_config", "thinkingConfig") {
            Some(Value::Object(thinking)) => Some(ThinkingExtras::from_object(thinking)?),
            // Not an object: nothing to read, but the client did ask for explicit thinking.
            Some(_) => Some(ThinkingExtras::default()),
            None => None,
        };
        let safety_settings = match field(google, "safety_settings", "safetySettings") {
            Some(v) => serde_json::from_value::<Vec<SafetySetting>>(v.clone())
                .map_err(|e| GatewayError::invalid_param(format!("invalid safety_settings: {e}"), SAFETY_PARAM))?,
            None => Vec::new(),
        };
        let cached_content = field(google, "cached_content", "cachedContent")
            .and_then(Value::as_str)
            .map(str::to_owned);
        Ok(GoogleExtras {
            thinking_config,
            safety_settings,
            cached_content,
        })
    }
}

/// What an OpenAI-shaped request (Chat Completions, Responses) becomes: its turns, function
/// declarations and tool choice, the request-level Google extras (safety settings, cached
/// content) read from `extras`, and the generation config `generation_config` builds once the
/// extras are known (explicit thinking settings override the effort).
pub fn openai_shaped_request(
    (system_instruction, contents): (Option<Content>, Vec<Content>),
    declarations: Vec<FunctionDeclaration>,
    calling: Option<FunctionCallingConfig>,
    extras: &ExtrasFields,
    generation_config: impl FnOnce(Option<&GoogleExtras>) -> Result<GenerationConfig, GatewayError>,
) -> Result<GenerateContentRequest, GatewayError> {
    let tool_config = ToolConfig::for_functions(calling, !declarations.is_empty());
    let google = GoogleExtras::from_request(extras.extra_body.as_ref(), extras.google.as_ref())?;
    let generation_config = generation_config(google.as_ref())?;
    let google = google.unwrap_or_default();
    Ok(GenerateContentRequest {
        contents,
        system_instruction,
        tools: Tool::functions(declarations),
        tool_config,
        safety_settings: google.safety_settings,
        generation_config: generation_config.if_set(),
        cached_content: google.cached_content,
    })
}

impl ThinkingExtras {
    fn from_object(thinking: &Map<String, Value>) -> Result<Self, GatewayError> {
        Ok(ThinkingExtras {
            thinking_budget: typed(thinking, "thinking_budget", "thinkingBudget", "an integer")?,
            thinking_level: typed::<String>(thinking, "thinking_level", "thinkingLevel", "a string")?
                .map(|l| l.to_ascii_uppercase()),
            include_thoughts: typed(thinking, "include_thoughts", "includeThoughts", "a boolean")?,
        })
    }
}

/// A field by its snake or camel name; `null` counts as absent.
fn field<'a>(object: &'a Map<String, Value>, snake: &str, camel: &str) -> Option<&'a Value> {
    object.get(snake).or_else(|| object.get(camel)).filter(|v| !v.is_null())
}

/// A thinking field of type `T`, or a 400 saying what it must be.
fn typed<T: DeserializeOwned>(
    object: &Map<String, Value>,
    snake: &str,
    camel: &str,
    what: &str,
) -> Result<Option<T>, GatewayError> {
    field(object, snake, camel)
        .map(|v| {
            serde_json::from_value(v.clone())
                .map_err(|_| GatewayError::invalid_param(format!("{snake} must be {what}"), THINKING_PARAM))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn extras(extra_body: Value, google: Value) -> Result<Option<GoogleExtras>, GatewayError> {
        GoogleExtras::from_request(
            Some(&extra_body).filter(|v| !v.is_null()),
            Some(&google).filter(|v| !v.is_null()),
        )
    }

    #[test]
    fn extra_body_wins_over_the_flattened_form_and_non_objects_are_none() {
        let got = extras(
            json!({"google": {"cached_content": "a"}}),
            json!({"cached_content": "b"}),
        )
        .unwrap()
        .unwrap();
        assert_eq!(got.cached_content.as_deref(), Some("a"));
        let flat = extras(json!({"other": 1}), json!({"cachedContent": "b"}))
            .unwrap()
            .unwrap();
        assert_eq!(flat.cached_content.as_deref(), Some("b"));
        assert_eq!(extras(json!(null), json!("x")).unwrap(), None);
        assert_eq!(extras(json!(null), json!(null)).unwrap(), None);
    }

    #[test]
    fn thinking_fields_in_either_case_snake_first_null_absent() {
        let got = extras(
            json!(null),
            json!({"thinkingConfig": {"thinking_budget": null, "thinkingBudget": 5, "thinking_level": "low", "includeThoughts": true, "future": 1}}),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            got.thinking_config,
            Some(ThinkingExtras {
                thinking_budget: None,
                thinking_level: Some("LOW".into()),
                include_thoughts: Some(true)
            }),
            "a null snake field hides its camel twin, as before"
        );
        let odd = extras(json!(null), json!({"thinking_config": 7})).unwrap().unwrap();
        assert_eq!(odd.thinking_config, Some(ThinkingExtras::default()));
        let none = extras(json!(null), json!({"thinking_config": null})).unwrap().unwrap();
        assert_eq!(none.thinking_config, None);
    }

    #[test]
    fn wrong_types_name_the_field() {
        for (google, message, param) in [
            (
                json!({"thinking_config": {"thinking_budget": "lots"}}),
                "thinking_budget must be an integer",
                THINKING_PARAM,
            ),
            (
                json!({"thinking_config": {"thinking_level": 3}}),
                "thinking_level must be a string",
                THINKING_PARAM,
            ),
            (
                json!({"thinking_config": {"include_thoughts": "yes"}}),
                "include_thoughts must be a boolean",
                THINKING_PARAM,
            ),
            (
                json!({"safety_settings": "none"}),
                "invalid safety_settings",
                SAFETY_PARAM,
            ),
        ] {
            let err = extras(json!(null), google).unwrap_err();
            let body = err.body(crate::protocol::Protocol::OpenAi);
            assert!(
                body["error"]["message"].as_str().unwrap().starts_with(message),
                "{body}"
            );
            assert_eq!(body["error"]["param"], param);
        }
    }

    #[test]
    fn cached_content_that_is_not_a_string_is_ignored() {
        let got = extras(json!(null), json!({"cached_content": 5})).unwrap().unwrap();
        assert_eq!(got.cached_content, None);
    }
}
