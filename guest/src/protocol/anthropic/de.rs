//! `Deserialize` for the Anthropic request enums, read from a [`Value`] (see
//! [`crate::protocol::wire`] for why and for the rules): the same results as
//! `#[serde(untagged)]` / `#[serde(tag = "type", rename_all = "snake_case")]` on the types.

use serde::de::{Deserialize, Deserializer, Error as _};
use serde_json::{Error, Value};

use super::{AnthropicContent, AnthropicContentBlock, AnthropicSource, AnthropicThinking, AnthropicToolChoice};
use crate::protocol::wire::{opt_bool, opt_string, optional, required, string, tagged, via_value};

impl AnthropicContent {
    fn from_value(value: Value) -> Result<Self, Error> {
        let read = match value {
            Value::String(text) => Some(AnthropicContent::Text(text)),
            Value::Array(items) => items
                .into_iter()
                .map(AnthropicContentBlock::from_value)
                .collect::<Result<Vec<_>, _>>()
                .ok()
                .map(AnthropicContent::Blocks),
            _ => None,
        };
        read.ok_or_else(|| Error::custom("data did not match any variant of untagged enum AnthropicContent"))
    }

    fn from_optional(value: Value) -> Result<Option<Self>, Error> {
        match value {
            Value::Null => Ok(None),
            value => Self::from_value(value).map(Some),
        }
    }
}

impl<'de> Deserialize<'de> for AnthropicContent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        via_value(deserializer, Self::from_value)
    }
}

impl AnthropicContentBlock {
    fn from_value(value: Value) -> Result<Self, Error> {
        let (tag, mut f) = tagged(value, "internally tagged enum AnthropicContentBlock")?;
        let f = &mut f;
        Ok(match tag.as_str() {
            "text" => Self::Text {
                text: required(f, "text", string)?,
            },
            "image" => Self::Image {
                source: required(f, "source", AnthropicSource::from_value)?,
            },
            "document" => Self::Document {
                source: required(f, "source", AnthropicSource::from_value)?,
                title: optional(f, "title", opt_string)?,
            },
            "tool_use" => Self::ToolUse {
                id: required(f, "id", string)?,
                name: required(f, "name", string)?,
                input: f.remove("input").unwrap_or_else(super::empty_object),
            },
            "tool_result" => Self::ToolResult {
                tool_use_id: required(f, "tool_use_id", string)?,
                content: optional(f, "content", AnthropicContent::from_optional)?,
                is_error: optional(f, "is_error", opt_bool)?,
            },
            "thinking" => Self::Thinking {
                thinking: required(f, "thinking", string)?,
                signature: optional(f, "signature", string)?,
            },
            "redacted_thinking" => Self::RedactedThinking {
                data: optional(f, "data", string)?,
            },
            _ => Self::Unknown,
        })
    }
}

impl<'de> Deserialize<'de> for AnthropicContentBlock {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        via_value(deserializer, Self::from_value)
    }
}

impl AnthropicSource {
    fn from_value(value: Value) -> Result<Self, Error> {
        let (tag, mut f) = tagged(value, "internally tagged enum AnthropicSource")?;
        let f = &mut f;
        Ok(match tag.as_str() {
            "base64" => Self::Base64 {
                media_type: required(f, "media_type", string)?,
                data: required(f, "data", string)?,
            },
            "url" => Self::Url {
                url: required(f, "url", string)?,
            },
            "text" => Self::Text {
                media_type: optional(f, "media_type", opt_string)?,
                data: required(f, "data", string)?,
            },
            "content" => Self::Content {
                content: required(f, "content", AnthropicContent::from_value)?,
            },
            "file" => Self::File {
                file_id: required(f, "file_id", string)?,
            },
            _ => Self::Unknown,
        })
    }
}

impl<'de> Deserialize<'de> for AnthropicSource {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        via_value(deserializer, Self::from_value)
    }
}

impl AnthropicToolChoice {
    fn from_value(value: Value) -> Result<Self, Error> {
        let (tag, mut f) = tagged(value, "internally tagged enum AnthropicToolChoice")?;
        let f = &mut f;
        Ok(match tag.as_str() {
            "auto" => Self::Auto {
                disable_parallel_tool_use: optional(f, "disable_parallel_tool_use", opt_bool)?,
            },
            "any" => Self::Any {
                disable_parallel_tool_use: optional(f, "disable_parallel_tool_use", opt_bool)?,
            },
            "tool" => Self::Tool {
                name: required(f, "name", string)?,
                disable_parallel_tool_use: optional(f, "disable_parallel_tool_use", opt_bool)?,
            },
            "none" => Self::None {},
            other => return Err(Error::unknown_variant(other, &["auto", "any", "tool", "none"])),
        })
    }
}

impl<'de> Deserialize<'de> for AnthropicToolChoice {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        via_value(deserializer, Self::from_value)
    }
}

impl AnthropicThinking {
    fn from_value(value: Value) -> Result<Self, Error> {
        let (tag, mut f) = tagged(value, "internally tagged enum AnthropicThinking")?;
        let f = &mut f;
        Ok(match tag.as_str() {
            "enabled" => Self::Enabled {
                budget_tokens: required(f, "budget_tokens", u32::deserialize)?,
                display: optional(f, "display", opt_string)?,
            },
            "disabled" => Self::Disabled {},
            "adaptive" => Self::Adaptive {
                display: optional(f, "display", opt_string)?,
            },
            _ => Self::Unknown,
        })
    }
}

impl<'de> Deserialize<'de> for AnthropicThinking {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        via_value(deserializer, Self::from_value)
    }
}

#[cfg(test)]
mod tests {
    //! The hand-written readers against what serde's derive gave for the same JSON.
    use super::*;
    use serde_json::json;

    fn block(v: Value) -> Result<AnthropicContentBlock, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn blocks_read_as_the_derive_did() {
        assert_eq!(
            block(json!({"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}})),
            Ok(AnthropicContentBlock::Text { text: "hi".into() })
        );
        assert_eq!(
            block(json!({"type": "tool_use", "id": "t", "name": "f"})),
            Ok(AnthropicContentBlock::ToolUse {
                id: "t".into(),
                name: "f".into(),
                input: json!({})
            })
        );
        assert_eq!(
            block(json!({"type": "tool_result", "tool_use_id": "t", "content": null, "is_error": null})),
            Ok(AnthropicContentBlock::ToolResult {
                tool_use_id: "t".into(),
                content: None,
                is_error: None
            })
        );
        assert_eq!(
            block(json!({"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "x"}]})),
            Ok(AnthropicContentBlock::ToolResult {
                tool_use_id: "t".into(),
                content: Some(AnthropicContent::Blocks(vec![AnthropicContentBlock::Text {
                    text: "x".into()
                }])),
                is_error: None
            })
        );
        assert_eq!(
            block(json!({"type": "document", "source": {"type": "content", "content": "plain"}})),
            Ok(AnthropicContentBlock::Document {
                source: AnthropicSource::Content {
                    content: AnthropicContent::Text("plain".into())
                },
                title: None
            })
        );
        assert_eq!(
            block(json!({"type": "server_tool_use", "id": 5})),
            Ok(AnthropicContentBlock::Unknown)
        );
        assert_eq!(
            block(json!({"type": "image", "source": {"type": "s3"}})),
            Ok(AnthropicContentBlock::Image {
                source: AnthropicSource::Unknown
            })
        );
    }

    #[test]
    fn errors_read_as_the_derive_gave_them() {
        assert_eq!(block(json!({"text": "hi"})), Err("missing field `type`".into()));
        assert_eq!(block(json!({"type": "text"})), Err("missing field `text`".into()));
        assert_eq!(
            block(json!({"type": "text", "text": 5})),
            Err("invalid type: integer `5`, expected a string".into())
        );
        assert_eq!(
            block(json!("hi")),
            Err("invalid type: string \"hi\", expected internally tagged enum AnthropicContentBlock".into())
        );
        assert_eq!(
            block(json!({"type": "text", "text": null})),
            Err("invalid type: null, expected a string".into())
        );
        assert_eq!(
            serde_json::from_value::<AnthropicContent>(json!([{"type": "text"}])).map_err(|e| e.to_string()),
            Err("data did not match any variant of untagged enum AnthropicContent".into())
        );
        assert_eq!(
            serde_json::from_value::<AnthropicToolChoice>(json!({"type": "some"})).map_err(|e| e.to_string()),
            Err("unknown variant `some`, expected one of `auto`, `any`, `tool`, `none`".into())
        );
        assert_eq!(
            serde_json::from_value::<AnthropicThinking>(json!({"type": "enabled", "budget_tokens": -1}))
                .map_err(|e| e.to_string()),
            Err("invalid value: integer `-1`, expected u32".into())
        );
        assert_eq!(
            serde_json::from_value::<AnthropicThinking>(json!({"type": "enabled"})).map_err(|e| e.to_string()),
            Err("missing field `budget_tokens`".into())
        );
    }

    /// The types as they were, with serde's derive: what the readers must agree with.
    mod derived {
        use serde::{Deserialize, Serialize};
        use serde_json::Value;

        #[derive(Serialize, Deserialize)]
        pub struct Message {
            pub role: String,
            pub content: AnthropicContent,
            #[serde(default)]
            pub tool_choice: Option<AnthropicToolChoice>,
            #[serde(default)]
            pub thinking: Option<AnthropicThinking>,
        }

        #[derive(Serialize, Deserialize)]
        #[serde(untagged)]
        pub enum AnthropicContent {
            Text(String),
            Blocks(Vec<AnthropicContentBlock>),
        }

        #[derive(Serialize, Deserialize)]
        #[serde(tag = "type", rename_all = "snake_case")]
        pub enum AnthropicContentBlock {
            Text {
                text: String,
            },
            Image {
                source: AnthropicSource,
            },
            Document {
                source: AnthropicSource,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                title: Option<String>,
            },
            ToolUse {
                id: String,
                name: String,
                #[serde(default = "empty")]
                input: Value,
            },
            ToolResult {
                tool_use_id: String,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                content: Option<AnthropicContent>,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                is_error: Option<bool>,
            },
            Thinking {
                thinking: String,
                #[serde(default)]
                signature: String,
            },
            RedactedThinking {
                #[serde(default)]
                data: String,
            },
            #[serde(other)]
            Unknown,
        }

        fn empty() -> Value {
            Value::Object(Default::default())
        }

        #[derive(Serialize, Deserialize)]
        #[serde(tag = "type", rename_all = "snake_case")]
        pub enum AnthropicSource {
            Base64 {
                media_type: String,
                data: String,
            },
            Url {
                url: String,
            },
            Text {
                #[serde(default, skip_serializing_if = "Option::is_none")]
                media_type: Option<String>,
                data: String,
            },
            Content {
                content: AnthropicContent,
            },
            File {
                file_id: String,
            },
            #[serde(other)]
            Unknown,
        }

        #[derive(Serialize, Deserialize)]
        #[serde(tag = "type", rename_all = "snake_case")]
        pub enum AnthropicToolChoice {
            Auto {
                #[serde(default, skip_serializing_if = "Option::is_none")]
                disable_parallel_tool_use: Option<bool>,
            },
            Any {
                #[serde(default, skip_serializing_if = "Option::is_none")]
                disable_parallel_tool_use: Option<bool>,
            },
            Tool {
                name: String,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                disable_parallel_tool_use: Option<bool>,
            },
            None {},
        }

        #[derive(Serialize, Deserialize)]
        #[serde(tag = "type", rename_all = "snake_case")]
        pub enum AnthropicThinking {
            Enabled {
                budget_tokens: u32,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                display: Option<String>,
            },
            Disabled {},
            Adaptive {
                #[serde(default, skip_serializing_if = "Option::is_none")]
                display: Option<String>,
            },
            #[serde(other)]
            Unknown,
        }
    }

    /// A message as the component reads it now (with the same fields as the mirror).
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Message {
        role: String,
        content: AnthropicContent,
        #[serde(default)]
        tool_choice: Option<AnthropicToolChoice>,
        #[serde(default)]
        thinking: Option<AnthropicThinking>,
    }

    #[test]
    fn the_readers_agree_with_the_derive() {
        let contents = [
            r#""plain""#,
            r#"[]"#,
            r#"5"#,
            r#"null"#,
            r#"{"type": "text", "text": "x"}"#,
            r#"[{"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}]"#,
            r#"[{"type": "text"}]"#,
            r#"[{"type": "text", "text": 1.5}]"#,
            r#"[{"text": "x"}]"#,
            r#"["x"]"#,
            r#"[{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]"#,
            r#"[{"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]"#,
            r#"[{"type": "image", "source": {"type": "base64", "data": "AAAA"}}]"#,
            r#"[{"type": "image", "source": {"type": "weird", "x": 1}}]"#,
            r#"[{"type": "image"}]"#,
            r#"[{"type": "document", "source": {"type": "text", "data": "t"}, "title": "T"}]"#,
            r#"[{"type": "document", "source": {"type": "text", "media_type": null, "data": "t"}, "title": null}]"#,
            r#"[{"type": "document", "source": {"type": "content", "content": [{"type": "text", "text": "a"}]}}]"#,
            r#"[{"type": "document", "source": {"type": "content", "content": 7}}]"#,
            r#"[{"type": "document", "source": {"type": "file", "file_id": "files/abc"}}]"#,
            r#"[{"type": "document", "source": {"type": "file", "file_id": null}}]"#,
            r#"[{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": [1, 2.5, -3, "s", null, true]}}]"#,
            r#"[{"type": "tool_use", "id": "toolu_1", "name": "f"}]"#,
            r#"[{"type": "tool_use", "id": "toolu_1", "name": "f", "input": null}]"#,
            r#"[{"type": "tool_use", "name": "f"}]"#,
            r#"[{"type": "tool_result", "tool_use_id": "t", "content": "ok", "is_error": true}]"#,
            r#"[{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "image", "source": {"type": "url", "url": "u"}}]}]"#,
            r#"[{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text"}]}]"#,
            r#"[{"type": "tool_result", "tool_use_id": "t", "is_error": "yes"}]"#,
            r#"[{"type": "thinking", "thinking": "hm", "signature": "gemini:abc"}]"#,
            r#"[{"type": "thinking", "thinking": "hm"}]"#,
            r#"[{"type": "thinking", "thinking": "hm", "signature": null}]"#,
            r#"[{"type": "redacted_thinking", "data": "xyz"}]"#,
            r#"[{"type": "redacted_thinking"}]"#,
            r#"[{"type": "search_result", "content": [1]}, {"type": "text", "text": "y"}]"#,
            r#"[{"type": "Text", "text": "y"}]"#,
            r#"{"type": "text"}"#,
        ];
        let choices = [
            r#"null"#,
            r#"{"type": "auto"}"#,
            r#"{"type": "auto", "disable_parallel_tool_use": true}"#,
            r#"{"type": "any", "disable_parallel_tool_use": null}"#,
            r#"{"type": "tool", "name": "f"}"#,
            r#"{"type": "tool"}"#,
            r#"{"type": "none", "extra": 1}"#,
            r#"{"type": "some"}"#,
            r#"{"name": "f"}"#,
            r#""auto""#,
            r#"{"type": "auto", "disable_parallel_tool_use": 1}"#,
        ];
        let thinking = [
            r#"null"#,
            r#"{"type": "enabled", "budget_tokens": 1024}"#,
            r#"{"type": "enabled", "budget_tokens": 1024, "display": "omitted"}"#,
            r#"{"type": "enabled"}"#,
            r#"{"type": "enabled", "budget_tokens": -5}"#,
            r#"{"type": "enabled", "budget_tokens": 5000000000}"#,
            r#"{"type": "enabled", "budget_tokens": 10.5}"#,
            r#"{"type": "enabled", "budget_tokens": "10"}"#,
            r#"{"type": "disabled"}"#,
            r#"{"type": "adaptive", "display": "summarized"}"#,
            r#"{"type": "adaptive", "display": 3}"#,
            r#"{"type": "budget"}"#,
            r#"{}"#,
            r#"true"#,
        ];
        let mut cases = Vec::new();
        for c in contents {
            cases.push(format!(r#"{{"role": "user", "content": {c}}}"#));
        }
        for t in choices {
            cases.push(format!(r#"{{"role": "user", "content": "x", "tool_choice": {t}}}"#));
        }
        for t in thinking {
            cases.push(format!(
                r#"{{"role": "user", "content": "x",
                "thinking": {t}}}"#
            ));
        }
        for case in cases {
            let before = serde_json::from_str::<derived::Message>(&case)
                .map(|m| serde_json::to_value(m).unwrap())
                .map_err(|e| e.to_string());
            let now = serde_json::from_slice::<Message>(case.as_bytes())
                .map(|m| serde_json::to_value(m).unwrap())
                .map_err(|e| e.to_string());
            // The same value or the same message. Where the input is a JSON error, the readers
            // report it after the whole object; the derive, inside it for some (a missing or
            // unknown tag): the column in the message may differ by that much.
            let strip = |r: Result<Value, String>| r.map_err(|e| e.split(" at line ").next().unwrap_or("").to_owned());
            assert_eq!(strip(now), strip(before), "{case}");
        }
    }
}
