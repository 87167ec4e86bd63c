//! Structural validation of request bodies, like Google's proto3 JSON parser.
//!
//! Each request message is described by a small static descriptor table (field names in
//! snake_case, their kinds, repeated or not). [`normalize`] walks a body against it and either
//! returns the *normalized* body (lowerCamelCase keys, nulls dropped, integers as numbers, enums as
//! canonical names) or every violation, worded as Gemini words them:
//!
//! * unknown field: `Invalid JSON payload received. Unknown name "X" at 'path': Cannot find field.`
//!   (no `at` part at the top level), with a `BadRequest.fieldViolations` entry whose `field` is
//!   the snake_case path (map entries appear as `properties[3].value`, as in real errors);
//! * wrong type: `Invalid value at 'path' (TYPE_STRING), 5` /
//!   `(type.googleapis.com/google.ai.generativelanguage.v1beta.Type), "nul"`.
//!
//! Input keys may be lowerCamelCase or snake_case (proto3 JSON accepts both). The `Schema`
//! descriptor is the complete OpenAPI-subset field list of protocols.md §1.5, so JSON-Schema-only
//! keywords (`additionalProperties`, `$schema`, `$ref`, `const`, `oneOf`, ...) are unknown names.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use serde_json::{Map, Value};

use super::wire::GeminiFieldViolation;

/// What a field holds.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Bool,
    /// Integer, with its proto type name (`TYPE_INT32`, `TYPE_INT64`).
    Int(&'static str),
    /// Float, with its proto type name (`TYPE_FLOAT`, `TYPE_DOUBLE`).
    Float(&'static str),
    /// base64 `bytes`.
    Bytes,
    Enum(&'static EnumDesc),
    Msg(&'static MsgDesc),
    /// `map<string, Msg>`.
    Map(&'static MsgDesc),
    /// `google.protobuf.Struct`: any JSON object.
    Struct,
    /// `google.protobuf.Value` or a message the mock does not model: anything.
    Any,
}

struct FieldDesc {
    name: &'static str,
    kind: Kind,
    repeated: bool,
}

/// A proto message: its name and fields.
pub(crate) struct MsgDesc {
    name: &'static str,
    fields: &'static [FieldDesc],
}

struct EnumDesc {
    name: &'static str,
    values: &'static [&'static str],
    /// Gemini accepts lowercase `type` and `thinkingLevel` values in practice (§1.2).
    case_insensitive: bool,
}

const fn one(name: &'static str, kind: Kind) -> FieldDesc {
    FieldDesc {
        name,
        kind,
        repeated: false,
    }
}

const fn rep(name: &'static str, kind: Kind) -> FieldDesc {
    FieldDesc {
        name,
        kind,
        repeated: true,
    }
}

use Kind::{Any, Bool, Bytes, Enum, Float, Int, Map as MapOf, Msg, Str, Struct};

const INT32: Kind = Int("TYPE_INT32");
const INT64: Kind = Int("TYPE_INT64");
const FLOAT: Kind = Float("TYPE_FLOAT");
const DOUBLE: Kind = Float("TYPE_DOUBLE");

/// `GenerateContentRequest`.
pub(crate) static GENERATE_CONTENT_REQUEST: MsgDesc = MsgDesc {
    name: "GenerateContentRequest",
    fields: &[
        one("model", Str),
        rep("contents", Msg(&CONTENT)),
        one("system_instruction", Msg(&CONTENT)),
        rep("tools", Msg(&TOOL)),
        one("tool_config", Msg(&TOOL_CONFIG)),
        rep("safety_settings", Msg(&SAFETY_SETTING)),
        one("generation_config", Msg(&GENERATION_CONFIG)),
        one("cached_content", Str),
    ],
};

/// `CountTokensRequest`.
pub(crate) static COUNT_TOKENS_REQUEST: MsgDesc = MsgDesc {
    name: "CountTokensRequest",
    fields: &[
        rep("contents", Msg(&CONTENT)),
        one("generate_content_request", Msg(&GENERATE_CONTENT_REQUEST)),
    ],
};

/// `EmbedContentRequest`.
pub(crate) static EMBED_CONTENT_REQUEST: MsgDesc = MsgDesc {
    name: "EmbedContentRequest",
    fields: &[
        one("model", Str),
        one("content", Msg(&CONTENT)),
        one("task_type", Enum(&TASK_TYPE)),
        one("title", Str),
        one("output_dimensionality", INT32),
    ],
};

/// `BatchEmbedContentsRequest`.
pub(crate) static BATCH_EMBED_CONTENTS_REQUEST: MsgDesc = MsgDesc {
    name: "BatchEmbedContentsRequest",
    fields: &[rep("requests", Msg(&EMBED_CONTENT_REQUEST))],
};

static CONTENT: MsgDesc = MsgDesc {
    name: "Content",
    fields: &[rep("parts", Msg(&PART)), one("role", Str)],
};

static PART: MsgDesc = MsgDesc {
    name: "Part",
    fields: &[
        one("text", Str),
        one("inline_data", Msg(&BLOB)),
        one("function_call", Msg(&FUNCTION_CALL)),
        one("function_response", Msg(&FUNCTION_RESPONSE)),
        one("file_data", Msg(&FILE_DATA)),
        one("executable_code", Msg(&EXECUTABLE_CODE)),
        one("code_execution_result", Msg(&CODE_EXECUTION_RESULT)),
        one("thought", Bool),
        one("thought_signature", Bytes),
        one("video_metadata", Msg(&VIDEO_METADATA)),
        one("part_metadata", Struct),
        one("media_resolution", Any),
    ],
};

static BLOB: MsgDesc = MsgDesc {
    name: "Blob",
    fields: &[one("mime_type", Str), one("data", Bytes)],
};

static FUNCTION_CALL: MsgDesc = MsgDesc {
    name: "FunctionCall",
    fields: &[one("id", Str), one("name", Str), one("args", Struct)],
};

static FUNCTION_RESPONSE: MsgDesc = MsgDesc {
    name: "FunctionResponse",
    fields: &[
        one("id", Str),
        one("name", Str),
        one("response", Struct),
        rep("parts", Msg(&FUNCTION_RESPONSE_PART)),
        one("will_continue", Bool),
        one("scheduling", Enum(&SCHEDULING)),
    ],
};

static FUNCTION_RESPONSE_PART: MsgDesc = MsgDesc {
    name: "FunctionResponsePart",
    fields: &[one("inline_data", Msg(&FUNCTION_RESPONSE_BLOB))],
};

static FUNCTION_RESPONSE_BLOB: MsgDesc = MsgDesc {
    name: "FunctionResponseBlob",
    fields: &[one("mime_type", Str), one("data", Bytes)],
};

static FILE_DATA: MsgDesc = MsgDesc {
    name: "FileData",
    fields: &[one("mime_type", Str), one("file_uri", Str)],
};

static EXECUTABLE_CODE: MsgDesc = MsgDesc {
    name: "ExecutableCode",
    fields: &[one("language", Enum(&LANGUAGE)), one("code", Str)],
};

static CODE_EXECUTION_RESULT: MsgDesc = MsgDesc {
    name: "CodeExecutionResult",
    fields: &[one("outcome", Enum(&OUTCOME)), one("output", Str)],
};

static VIDEO_METADATA: MsgDesc = MsgDesc {
    name: "VideoMetadata",
    fields: &[one("start_offset", Str), one("end_offset", Str), one("fps", DOUBLE)],
};

static EMPTY: MsgDesc = MsgDesc {
    name: "CodeExecution",
    fields: &[],
};

static TOOL: MsgDesc = MsgDesc {
    name: "Tool",
    fields: &[
        rep("function_declarations", Msg(&FUNCTION_DECLARATION)),
        one("google_search_retrieval", Any),
        one("code_execution", Msg(&EMPTY)),
        one("google_search", Any),
        one("computer_use", Any),
        one("url_context", Any),
        one("file_search", Any),
        one("google_maps", Any),
    ],
};

static FUNCTION_DECLARATION: MsgDesc = MsgDesc {
    name: "FunctionDeclaration",
    fields: &[
        one("name", Str),
        one("description", Str),
        one("behavior", Enum(&BEHAVIOR)),
        one("parameters", Msg(&SCHEMA)),
        one("parameters_json_schema", Any),
        one("response", Msg(&SCHEMA)),
        one("response_json_schema", Any),
    ],
};

/// The OpenAPI-subset `Schema`: the complete field list of §1.5.
static SCHEMA: MsgDesc = MsgDesc {
    name: "Schema",
    fields: &[
        one("type", Enum(&TYPE)),
        one("format", Str),
        one("title", Str),
        one("description", Str),
        one("nullable", Bool),
        rep("enum", Str),
        one("items", Msg(&SCHEMA)),
        one("max_items", INT64),
        one("min_items", INT64),
        one("properties", MapOf(&SCHEMA)),
        rep("required", Str),
        one("min_properties", INT64),
        one("max_properties", INT64),
        one("minimum", DOUBLE),
        one("maximum", DOUBLE),
        one("min_length", INT64),
        one("max_length", INT64),
        one("pattern", Str),
        one("example", Any),
        rep("any_of", Msg(&SCHEMA)),
        rep("property_ordering", Str),
        one("default", Any),
    ],
};

static TOOL_CONFIG: MsgDesc = MsgDesc {
    name: "ToolConfig",
    fields: &[
        one("function_calling_config", Msg(&FUNCTION_CALLING_CONFIG)),
        one("retrieval_config", Any),
    ],
};

static FUNCTION_CALLING_CONFIG: MsgDesc = MsgDesc {
    name: "FunctionCallingConfig",
    fields: &[one("mode", Enum(&MODE)), rep("allowed_function_names", Str)],
};

static SAFETY_SETTING: MsgDesc = MsgDesc {
    name: "SafetySetting",
    fields: &[
        one("category", Enum(&HARM_CATEGORY)),
        one("threshold", Enum(&HARM_BLOCK_THRESHOLD)),
    ],
};

static GENERATION_CONFIG: MsgDesc = MsgDesc {
    name: "GenerationConfig",
    fields: &[
        one("candidate_count", INT32),
        rep("stop_sequences", Str),
        one("max_output_tokens", INT32),
        one("temperature", FLOAT),
        one("top_p", FLOAT),
        one("top_k", INT32),
        one("seed", INT32),
        one("response_mime_type", Str),
        one("response_schema", Msg(&SCHEMA)),
        one("response_json_schema", Any),
        one("presence_penalty", FLOAT),
        one("frequency_penalty", FLOAT),
        one("response_logprobs", Bool),
        one("logprobs", INT32),
        one("enable_enhanced_civic_answers", Bool),
        rep("response_modalities", Enum(&MODALITY)),
        one("speech_config", Any),
        one("thinking_config", Msg(&THINKING_CONFIG)),
        one("image_config", Any),
        one("media_resolution", Enum(&MEDIA_RESOLUTION)),
    ],
};

static THINKING_CONFIG: MsgDesc = MsgDesc {
    name: "ThinkingConfig",
    fields: &[
        one("include_thoughts", Bool),
        one("thinking_budget", INT32),
        one("thinking_level", Enum(&THINKING_LEVEL)),
    ],
};

static TYPE: EnumDesc = EnumDesc {
    name: "Type",
    values: &[
        "TYPE_UNSPECIFIED",
        "STRING",
        "NUMBER",
        "INTEGER",
        "BOOLEAN",
        "ARRAY",
        "OBJECT",
        "NULL",
    ],
    case_insensitive: true,
};

static THINKING_LEVEL: EnumDesc = EnumDesc {
    name: "ThinkingConfig.ThinkingLevel",
    values: &["THINKING_LEVEL_UNSPECIFIED", "MINIMAL", "LOW", "MEDIUM", "HIGH"],
    case_insensitive: true,
};

static MODE: EnumDesc = EnumDesc {
    name: "FunctionCallingConfig.Mode",
    values: &["MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"],
    case_insensitive: false,
};

static HARM_CATEGORY: EnumDesc = EnumDesc {
    name: "HarmCategory",
    values: &[
        "HARM_CATEGORY_UNSPECIFIED",
        "HARM_CATEGORY_DEROGATORY",
        "HARM_CATEGORY_TOXICITY",
        "HARM_CATEGORY_VIOLENCE",
        "HARM_CATEGORY_SEXUAL",
        "HARM_CATEGORY_MEDICAL",
        "HARM_CATEGORY_DANGEROUS",
        "HARM_CATEGORY_HARASSMENT",
        "HARM_CATEGORY_HATE_SPEECH",
        "HARM_CATEGORY_SEXUALLY_EXPLICIT",
        "HARM_CATEGORY_DANGEROUS_CONTENT",
        "HARM_CATEGORY_CIVIC_INTEGRITY",
    ],
    case_insensitive: false,
};

static HARM_BLOCK_THRESHOLD: EnumDesc = EnumDesc {
    name: "SafetySetting.HarmBlockThreshold",
    values: &[
        "HARM_BLOCK_THRESHOLD_UNSPECIFIED",
        "BLOCK_LOW_AND_ABOVE",
        "BLOCK_MEDIUM_AND_ABOVE",
        "BLOCK_ONLY_HIGH",
        "BLOCK_NONE",
        "OFF",
    ],
    case_insensitive: false,
};

static MODALITY: EnumDesc = EnumDesc {
    name: "GenerationConfig.Modality",
    values: &["MODALITY_UNSPECIFIED", "TEXT", "IMAGE", "AUDIO"],
    case_insensitive: false,
};

static MEDIA_RESOLUTION: EnumDesc = EnumDesc {
    name: "GenerationConfig.MediaResolution",
    values: &[
        "MEDIA_RESOLUTION_UNSPECIFIED",
        "MEDIA_RESOLUTION_LOW",
        "MEDIA_RESOLUTION_MEDIUM",
        "MEDIA_RESOLUTION_HIGH",
    ],
    case_insensitive: false,
};

static TASK_TYPE: EnumDesc = EnumDesc {
    name: "TaskType",
    values: &[
        "TASK_TYPE_UNSPECIFIED",
        "RETRIEVAL_QUERY",
        "RETRIEVAL_DOCUMENT",
        "SEMANTIC_SIMILARITY",
        "CLASSIFICATION",
        "CLUSTERING",
        "QUESTION_ANSWERING",
        "FACT_VERIFICATION",
        "CODE_RETRIEVAL_QUERY",
    ],
    case_insensitive: false,
};

static SCHEDULING: EnumDesc = EnumDesc {
    name: "FunctionResponse.Scheduling",
    values: &["SCHEDULING_UNSPECIFIED", "SILENT", "WHEN_IDLE", "INTERRUPT"],
    case_insensitive: false,
};

static BEHAVIOR: EnumDesc = EnumDesc {
    name: "FunctionDeclaration.Behavior",
    values: &["UNSPECIFIED", "BLOCKING", "NON_BLOCKING"],
    case_insensitive: false,
};

static LANGUAGE: EnumDesc = EnumDesc {
    name: "ExecutableCode.Language",
    values: &["LANGUAGE_UNSPECIFIED", "PYTHON"],
    case_insensitive: false,
};

static OUTCOME: EnumDesc = EnumDesc {
    name: "CodeExecutionResult.Outcome",
    values: &[
        "OUTCOME_UNSPECIFIED",
        "OUTCOME_OK",
        "OUTCOME_FAILED",
        "OUTCOME_DEADLINE_EXCEEDED",
    ],
    case_insensitive: false,
};

const TYPE_URL_PREFIX: &str = "type.googleapis.com/google.ai.generativelanguage.v1beta.";

/// Validates `body` against `desc`; returns the normalized body or every violation.
pub(crate) fn normalize(desc: &'static MsgDesc, body: &Value) -> Result<Value, Vec<GeminiFieldViolation>> {
    let mut walker = Walker::default();
    let out = walker.message(desc, body, "");
    if walker.violations.is_empty() {
        Ok(out)
    } else {
        Err(walker.violations)
    }
}

/// Whether a `bytes` field value is valid base64 (standard or URL-safe, padding optional).
pub(crate) fn is_base64(s: &str) -> bool {
    decode_base64(s).is_some()
}

/// Decodes base64 the way the proto3 JSON parser accepts it.
pub(crate) fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let config = GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let standard = GeneralPurpose::new(&alphabet::STANDARD, config);
    let url_safe = GeneralPurpose::new(&alphabet::URL_SAFE, config);
    standard.decode(s).or_else(|_| url_safe.decode(s)).ok()
}

#[derive(Default)]
struct Walker {
    violations: Vec<GeminiFieldViolation>,
}

impl Walker {
    fn unknown(&mut self, name: &str, path: &str) {
        let description = if path.is_empty() {
            format!("Invalid JSON payload received. Unknown name \"{name}\": Cannot find field.")
        } else {
            format!("Invalid JSON payload received. Unknown name \"{name}\" at '{path}': Cannot find field.")
        };
        self.violations.push(GeminiFieldViolation {
            field: (!path.is_empty()).then(|| path.to_string()),
            description,
        });
    }

    fn invalid(&mut self, path: &str, type_name: &str, value: &Value) {
        let mut shown = value.to_string();
        if shown.len() > 120 {
            let cut = (0..=120).rev().find(|&i| shown.is_char_boundary(i)).unwrap_or(0);
            shown.truncate(cut);
            shown.push_str("...");
        }
        if path.is_empty() {
            self.violations.push(GeminiFieldViolation {
                field: None,
                description: "Invalid JSON payload received. Unexpected token.".into(),
            });
            return;
        }
        self.violations.push(GeminiFieldViolation {
            field: Some(path.to_string()),
            description: format!("Invalid value at '{path}' ({type_name}), {shown}"),
        });
    }

    fn message(&mut self, desc: &'static MsgDesc, value: &Value, path: &str) -> Value {
        let Value::Object(object) = value else {
            self.invalid(path, &format!("{TYPE_URL_PREFIX}{}", desc.name), value);
            return Value::Null;
        };
        let mut out = Map::new();
        for (key, v) in object {
            let Some(field) = desc.fields.iter().find(|f| key_matches(f.name, key)) else {
                self.unknown(key, path);
                continue;
            };
            if v.is_null() {
                continue;
            }
            let field_path = if path.is_empty() {
                field.name.to_string()
            } else {
                format!("{path}.{}", field.name)
            };
            let normalized = if field.repeated {
                match v {
                    Value::Array(items) => Value::Array(
                        items
                            .iter()
                            .enumerate()
                            .map(|(i, item)| self.single(field.kind, item, &format!("{field_path}[{i}]")))
                            .collect(),
                    ),
                    other => {
                        self.invalid(&field_path, &type_name(field.kind), other);
                        Value::Null
                    }
                }
            } else {
                self.single(field.kind, v, &field_path)
            };
            out.insert(camel_case(field.name), normalized);
        }
        Value::Object(out)
    }

    fn single(&mut self, kind: Kind, value: &Value, path: &str) -> Value {
        match kind {
            Str => match value {
                Value::String(_) => value.clone(),
                other => self.reject(path, kind, other),
            },
            Bool => match value {
                Value::Bool(_) => value.clone(),
                other => self.reject(path, kind, other),
            },
            Int(_) => match parse_int(value) {
                Some(n) => Value::from(n),
                None => self.reject(path, kind, value),
            },
            Float(_) => match value {
                Value::Number(_) => value.clone(),
                Value::String(s) if s.parse::<f64>().is_ok() => {
                    serde_json::Number::from_f64(s.parse().unwrap_or_default())
                        .map_or_else(|| value.clone(), Value::Number)
                }
                other => self.reject(path, kind, other),
            },
            Bytes => match value {
                Value::String(s) if is_base64(s) => value.clone(),
                Value::String(s) => {
                    self.violations.push(GeminiFieldViolation {
                        field: Some(path.to_string()),
                        description: format!(
                            "Invalid value at '{path}' (TYPE_BYTES), Base64 decoding failed for \"{s}\""
                        ),
                    });
                    Value::Null
                }
                other => self.reject(path, kind, other),
            },
            Enum(desc) => match enum_value(desc, value) {
                Some(name) => Value::String(name.to_string()),
                None => self.reject(path, kind, value),
            },
            Msg(desc) => self.message(desc, value, path),
            MapOf(desc) => match value {
                Value::Object(entries) => Value::Object(
                    entries
                        .iter()
                        .enumerate()
                        .map(|(i, (k, v))| {
                            let entry_path = format!("{path}[{i}].value");
                            (k.clone(), self.message(desc, v, &entry_path))
                        })
                        .collect(),
                ),
                other => self.reject(path, kind, other),
            },
            Struct => match value {
                Value::Object(_) => value.clone(),
                other => self.reject(path, kind, other),
            },
            Any => value.clone(),
        }
    }

    fn reject(&mut self, path: &str, kind: Kind, value: &Value) -> Value {
        self.invalid(path, &type_name(kind), value);
        Value::Null
    }
}

fn type_name(kind: Kind) -> String {
    match kind {
        Str => "TYPE_STRING".into(),
        Bool => "TYPE_BOOL".into(),
        Int(name) | Float(name) => name.into(),
        Bytes => "TYPE_BYTES".into(),
        Enum(desc) => format!("{TYPE_URL_PREFIX}{}", desc.name),
        Msg(desc) | MapOf(desc) => format!("{TYPE_URL_PREFIX}{}", desc.name),
        Struct => "type.googleapis.com/google.protobuf.Struct".into(),
        Any => "type.googleapis.com/google.protobuf.Value".into(),
    }
}

fn parse_int(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn enum_value(desc: &EnumDesc, value: &Value) -> Option<&'static str> {
    match value {
        Value::String(s) => desc
            .values
            .iter()
            .find(|v| **v == s || (desc.case_insensitive && v.eq_ignore_ascii_case(s)))
            .copied(),
        Value::Number(n) => n
            .as_u64()
            .and_then(|i| desc.values.get(usize::try_from(i).ok()?))
            .copied(),
        _ => None,
    }
}

/// Whether a JSON key names the snake_case proto field (as itself or its lowerCamelCase form).
fn key_matches(snake: &str, key: &str) -> bool {
    if key == snake {
        return true;
    }
    let mut key_bytes = key.bytes();
    let mut upper = false;
    for b in snake.bytes() {
        if b == b'_' {
            upper = true;
            continue;
        }
        let expected = if upper { b.to_ascii_uppercase() } else { b };
        upper = false;
        if key_bytes.next() != Some(expected) {
            return false;
        }
    }
    key_bytes.next().is_none()
}

/// `function_declarations` -> `functionDeclarations`.
pub(crate) fn camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `parametersJsonSchema` -> `parameters_json_schema`.
pub(crate) fn snake_of(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn violations(body: Value) -> Vec<GeminiFieldViolation> {
        normalize(&GENERATE_CONTENT_REQUEST, &body).expect_err("should be rejected")
    }

    #[test]
    fn snake_and_camel_keys_normalize_to_camel() {
        let body = json!({
            "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
            "system_instruction": {"parts": [{"text": "be terse"}]},
            "generationConfig": {"max_output_tokens": "12", "thinking_config": {"thinkingLevel": "low"}},
            "tools": null
        });
        let out = normalize(&GENERATE_CONTENT_REQUEST, &body).unwrap();
        assert_eq!(out["systemInstruction"]["parts"][0]["text"], "be terse");
        assert_eq!(out["generationConfig"]["maxOutputTokens"], 12);
        assert_eq!(out["generationConfig"]["thinkingConfig"]["thinkingLevel"], "LOW");
        assert!(out.get("tools").is_none());
    }

    #[test]
    fn unknown_schema_keyword_is_reported_with_snake_case_map_path() {
        let body = json!({
            "contents": [{"parts": [{"text": "hi"}]}],
            "tools": [{"functionDeclarations": [{"name": "f", "parameters": {
                "type": "object",
                "additionalProperties": false,
                "properties": {"a": {"type": "string"}, "b": {"type": "string", "const": "x"}}
            }}]}]
        });
        let v = violations(body);
        assert_eq!(v.len(), 2);
        assert_eq!(
            v[0].field.as_deref(),
            Some("tools[0].function_declarations[0].parameters")
        );
        assert_eq!(
            v[0].description,
            "Invalid JSON payload received. Unknown name \"additionalProperties\" at \
             'tools[0].function_declarations[0].parameters': Cannot find field."
        );
        assert_eq!(
            v[1].field.as_deref(),
            Some("tools[0].function_declarations[0].parameters.properties[1].value")
        );
    }

    #[test]
    fn top_level_unknown_name_has_no_path() {
        let v = violations(json!({"contents": [], "top_k": 3}));
        assert_eq!(v[0].field, None);
        assert_eq!(
            v[0].description,
            "Invalid JSON payload received. Unknown name \"top_k\": Cannot find field."
        );
    }

    #[test]
    fn type_arrays_and_non_string_enums_are_invalid_values() {
        let v = violations(json!({
            "contents": [{"parts": [{"text": "x"}]}],
            "generationConfig": {"responseSchema": {"type": ["string", "null"], "enum": [1]}}
        }));
        assert_eq!(v.len(), 2);
        assert!(v[0].description.starts_with(
            "Invalid value at 'generation_config.response_schema.type' \
             (type.googleapis.com/google.ai.generativelanguage.v1beta.Type)"
        ));
        assert_eq!(
            v[1].description,
            "Invalid value at 'generation_config.response_schema.enum[0]' (TYPE_STRING), 1"
        );
    }

    #[test]
    fn function_response_must_be_an_object() {
        let v = violations(json!({"contents": [{"parts": [
            {"functionResponse": {"name": "f", "response": "sunny"}}
        ]}]}));
        assert_eq!(
            v[0].description,
            "Invalid value at 'contents[0].parts[0].function_response.response' \
             (type.googleapis.com/google.protobuf.Struct), \"sunny\""
        );
    }

    #[test]
    fn thought_signature_must_be_base64() {
        let v = violations(json!({"contents": [{"parts": [
            {"text": "x", "thoughtSignature": "not base64!"}
        ]}]}));
        assert!(v[0].description.contains("Base64 decoding failed"));
        assert!(is_base64("skip_thought_signature_validator"));
    }

    #[test]
    fn key_matching_accepts_both_spellings_only() {
        assert!(key_matches("function_declarations", "functionDeclarations"));
        assert!(key_matches("function_declarations", "function_declarations"));
        assert!(!key_matches("function_declarations", "FunctionDeclarations"));
        assert!(!key_matches("function_declarations", "functionDeclaration"));
        assert!(!key_matches("text", "texts"));
    }
}
