//! Semantic checks Gemini applies after parsing (protocols.md §1.3–§1.6, §1.10, §1.13, §1.15).
//!
//! Path-scoped problems are reported the way Gemini reports them: one
//! `* GenerateContentRequest.<snake path>: <problem>\n` line each, all in one 400
//! `INVALID_ARGUMENT` message without details. Turn-structure and thought-signature problems are
//! single plain messages.

use serde_json::Value;

use super::errors::{
    MockError, CALL_TURN_ORDER_MESSAGE, COUNT_MISMATCH_MESSAGE, INVALID_SIGNATURE_MESSAGE, RESPONSE_TURN_ORDER_MESSAGE,
    ROLE_MESSAGE,
};
use super::models::ModelInfo;
use super::validate::{decode_base64, snake_of};
use super::wire::{GeminiContent, GeminiGenerateContentRequest};

/// Signature strings Google documents as "skip validation" (accepted raw or base64-encoded).
pub const SIGNATURE_SENTINELS: [&str; 2] = [
    "skip_thought_signature_validator",
    "context_engineering_is_the_way_to_go",
];

/// Gemini's limit on `stopSequences`.
pub const MAX_STOP_SEQUENCES: usize = 5;

/// Collects `* path: problem` lines.
#[derive(Default)]
struct Problems(String);

impl Problems {
    fn add(&mut self, path: &str, problem: &str) {
        self.0.push_str(&format!("* {path}: {problem}\n"));
    }

    fn into_result(self) -> Result<(), MockError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(MockError::invalid_argument(self.0))
        }
    }
}

/// Checks a generateContent-shaped request. `prefix` is `GenerateContentRequest.` or
/// `CountTokensRequest.generate_content_request.`; `raw` is the normalized body.
pub(crate) fn check_generate(
    req: &GeminiGenerateContentRequest,
    raw: &Value,
    prefix: &str,
    model: &ModelInfo,
) -> Result<(), MockError> {
    check_contents(&req.contents, &format!("{prefix}contents"))?;
    let mut problems = Problems::default();
    check_tools(raw, prefix, &mut problems);
    check_tool_config(raw, prefix, &mut problems);
    check_generation_config(raw, prefix, model, &mut problems)?;
    problems.into_result()
}

/// Contents: non-empty, non-empty parts with one data field each, valid roles, function-call
/// turn structure.
pub(crate) fn check_contents(contents: &[GeminiContent], path: &str) -> Result<(), MockError> {
    let mut problems = Problems::default();
    if contents.is_empty() {
        problems.add(path, "contents is not specified");
        return problems.into_result();
    }
    for (i, content) in contents.iter().enumerate() {
        if content.parts.is_empty() {
            problems.add(&format!("{path}[{i}].parts"), "contents.parts must not be empty.");
        }
        for (j, part) in content.parts.iter().enumerate() {
            let set = [
                part.text.is_some(),
                part.function_call.is_some(),
                part.function_response.is_some(),
                part.inline_data.is_some(),
                part.file_data.is_some(),
                part.executable_code.is_some(),
                part.code_execution_result.is_some(),
            ]
            .iter()
            .filter(|b| **b)
            .count();
            if set == 0 {
                problems.add(
                    &format!("{path}[{i}].parts[{j}].data"),
                    "required oneof field 'data' must have one initialized field",
                );
            } else if set > 1 {
                problems.add(
                    &format!("{path}[{i}].parts[{j}].data"),
                    "oneof field 'data' is already set; only one data field may be set per part",
                );
            }
        }
    }
    problems.into_result()?;
    if contents
        .iter()
        .any(|c| !matches!(c.role.as_deref(), None | Some("") | Some("user") | Some("model")))
    {
        return Err(MockError::invalid_argument(ROLE_MESSAGE));
    }
    check_function_turns(contents)
}

fn calls_in(content: &GeminiContent) -> usize {
    content.parts.iter().filter(|p| p.function_call.is_some()).count()
}

fn responses_in(content: &GeminiContent) -> usize {
    content.parts.iter().filter(|p| p.function_response.is_some()).count()
}

fn is_model(content: &GeminiContent) -> bool {
    content.role.as_deref() == Some("model")
}

fn check_function_turns(contents: &[GeminiContent]) -> Result<(), MockError> {
    for (i, content) in contents.iter().enumerate() {
        let calls = calls_in(content);
        if calls > 0 {
            let after_user = i > 0 && !is_model(&contents[i - 1]);
            if !after_user {
                return Err(MockError::invalid_argument(CALL_TURN_ORDER_MESSAGE));
            }
            if let Some(next) = contents.get(i + 1) {
                if responses_in(next) != calls {
                    return Err(MockError::invalid_argument(COUNT_MISMATCH_MESSAGE));
                }
            }
        }
        if responses_in(content) > 0 {
            let after_calls = i > 0 && is_model(&contents[i - 1]) && calls_in(&contents[i - 1]) > 0;
            if !after_calls {
                return Err(MockError::invalid_argument(RESPONSE_TURN_ORDER_MESSAGE));
            }
        }
    }
    Ok(())
}

fn check_tools(raw: &Value, prefix: &str, problems: &mut Problems) {
    let Some(tools) = raw.get("tools").and_then(Value::as_array) else {
        return;
    };
    for (t, tool) in tools.iter().enumerate() {
        let Some(decls) = tool.get("functionDeclarations").and_then(Value::as_array) else {
            continue;
        };
        for (d, decl) in decls.iter().enumerate() {
            let path = format!("{prefix}tools[{t}].function_declarations[{d}]");
            let name = decl.get("name").and_then(Value::as_str).unwrap_or("");
            if !valid_function_name(name) {
                problems.add(
                    &format!("{path}.name"),
                    "Invalid function name. Must start with a letter or an underscore. Must be \
                     alphameric (a-z, A-Z, 0-9), underscores (_), dots (.), colons (:), or dashes \
                     (-), with a maximum length of 64.",
                );
            }
            for (schema, json_schema) in [
                ("parameters", "parametersJsonSchema"),
                ("response", "responseJsonSchema"),
            ] {
                if decl.get(schema).is_some() && decl.get(json_schema).is_some() {
                    problems.add(
                        &format!("{path}.{schema}"),
                        &format!("{schema} and {} cannot both be set", snake_of(json_schema)),
                    );
                }
                if let Some(s) = decl.get(schema) {
                    check_schema(s, &format!("{path}.{schema}"), problems);
                }
            }
        }
    }
}

/// `^[a-zA-Z_][a-zA-Z0-9_.:-]{0,63}$`.
fn valid_function_name(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    name.len() <= 64
        && (first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'))
}

/// Semantic rules of the OpenAPI-subset `Schema` (its keys were already checked).
fn check_schema(schema: &Value, path: &str, problems: &mut Problems) {
    let ty = schema.get("type").and_then(Value::as_str);
    if ty == Some("STRING") {
        if let Some(format) = schema.get("format").and_then(Value::as_str) {
            if format != "enum" && format != "date-time" {
                problems.add(
                    &format!("{path}.format"),
                    "only 'enum' and 'date-time' are supported for STRING type",
                );
            }
        }
    }
    let properties = schema.get("properties").and_then(Value::as_object);
    if let Some(props) = properties {
        if props.is_empty() && ty == Some("OBJECT") {
            problems.add(&format!("{path}.properties"), "should be non-empty for OBJECT type");
        }
        for (name, sub) in props {
            check_schema(sub, &format!("{path}.properties[{name}]"), problems);
        }
    }
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for (i, r) in required.iter().enumerate() {
            let name = r.as_str().unwrap_or("");
            if !properties.is_some_and(|p| p.contains_key(name)) {
                problems.add(&format!("{path}.required[{i}]"), "property is not defined");
            }
        }
    }
    if let Some(items) = schema.get("items") {
        check_schema(items, &format!("{path}.items"), problems);
    }
    if let Some(any_of) = schema.get("anyOf").and_then(Value::as_array) {
        for (i, sub) in any_of.iter().enumerate() {
            check_schema(sub, &format!("{path}.any_of[{i}]"), problems);
        }
    }
}

fn check_tool_config(raw: &Value, prefix: &str, problems: &mut Problems) {
    let Some(fcc) = raw.pointer("/toolConfig/functionCallingConfig") else {
        return;
    };
    let mode = fcc.get("mode").and_then(Value::as_str).unwrap_or("AUTO");
    let has_allowed = fcc
        .get("allowedFunctionNames")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if has_allowed && !matches!(mode, "ANY" | "VALIDATED") {
        problems.add(
            &format!("{prefix}tool_config.function_calling_config.allowed_function_names"),
            "allowed_function_names may only be set when mode is ANY or VALIDATED",
        );
    }
}

fn check_generation_config(
    raw: &Value,
    prefix: &str,
    model: &ModelInfo,
    problems: &mut Problems,
) -> Result<(), MockError> {
    let Some(config) = raw.get("generationConfig") else {
        return Ok(());
    };
    let path = format!("{prefix}generation_config");
    if config
        .get("stopSequences")
        .and_then(Value::as_array)
        .is_some_and(|s| s.len() > MAX_STOP_SEQUENCES)
    {
        problems.add(
            &format!("{path}.stop_sequences"),
            &format!("at most {MAX_STOP_SEQUENCES} stop sequences are allowed"),
        );
    }
    let mime = config
        .get("responseMimeType")
        .and_then(Value::as_str)
        .unwrap_or("text/plain");
    let schema = config.get("responseSchema");
    let json_schema = config.get("responseJsonSchema");
    if schema.is_some() && json_schema.is_some() {
        problems.add(
            &format!("{path}.response_schema"),
            "response_schema and response_json_schema cannot both be set",
        );
    }
    if (schema.is_some() || json_schema.is_some()) && !matches!(mime, "application/json" | "text/x.enum") {
        problems.add(
            &format!("{path}.response_mime_type"),
            "response_mime_type must be application/json or text/x.enum when a response schema \
             is set",
        );
    }
    if let Some(s) = schema {
        check_schema(s, &format!("{path}.response_schema"), problems);
    }
    if let Some(thinking) = config.get("thinkingConfig") {
        let budget = thinking.get("thinkingBudget").and_then(Value::as_i64);
        let level = thinking.get("thinkingLevel").and_then(Value::as_str);
        if budget.is_some() && level.is_some() {
            return Err(MockError::invalid_argument(
                "You can only set only one of thinking budget and thinking level.",
            ));
        }
        if !model.thinking {
            return Err(MockError::invalid_argument("Thinking is not supported for this model."));
        }
        if let Some(level) = level {
            if !model.is_gemini3() {
                return Err(MockError::invalid_argument(
                    "Thinking level is not supported for this model.",
                ));
            }
            if model.id.starts_with("gemini-3-pro") && matches!(level, "MINIMAL" | "MEDIUM") {
                return Err(MockError::invalid_argument(format!(
                    "Thinking level {level} is not supported for this model. Supported levels: \
                     LOW, HIGH."
                )));
            }
        }
        if budget == Some(0) && model.id == "gemini-2.5-pro" {
            return Err(MockError::invalid_argument(
                "Budget 0 is invalid. This model only works in thinking mode.",
            ));
        }
    }
    Ok(())
}

/// Whether a signature value is a documented sentinel, raw or base64-encoded.
pub fn is_sentinel_signature(signature: &str) -> bool {
    SIGNATURE_SENTINELS.contains(&signature)
        || decode_base64(signature).is_some_and(|bytes| SIGNATURE_SENTINELS.iter().any(|s| s.as_bytes() == bytes))
}

/// Gemini 3 thought-signature rules (§1.15): every signature present must be one the mock
/// issued (or a sentinel); in the active loop (model turns after the last user turn that has a
/// text part), the first functionCall part of each model turn must carry one.
pub(crate) fn check_thought_signatures(
    contents: &[GeminiContent],
    issued: impl Fn(&str) -> bool,
) -> Result<(), MockError> {
    for content in contents {
        for part in &content.parts {
            if let Some(sig) = &part.thought_signature {
                if !is_sentinel_signature(sig) && !issued(sig) {
                    return Err(MockError::invalid_argument(INVALID_SIGNATURE_MESSAGE));
                }
            }
        }
    }
    let loop_start = contents
        .iter()
        .rposition(|c| !is_model(c) && c.parts.iter().any(|p| p.text.is_some()))
        .map_or(0, |i| i + 1);
    for (i, content) in contents.iter().enumerate().skip(loop_start) {
        if !is_model(content) {
            continue;
        }
        let first_call = content.parts.iter().find(|p| p.function_call.is_some());
        if let Some(part) = first_call {
            if part.thought_signature.is_none() {
                let name = part.function_call.as_ref().map_or("", |c| c.name.as_str());
                return Err(MockError::invalid_argument(format!(
                    "Function call is missing a thought_signature in functionCall parts. This is \
                     required for tools to work correctly, and missing thought_signature may lead \
                     to degraded model performance. Additional data, function call \
                     `default_api:{name}` , position {}. Please refer to \
                     https://ai.google.dev/gemini-api/docs/thought-signatures for more details.",
                    i + 1
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::models;
    use crate::mock::wire::{GeminiFunctionCall, GeminiFunctionResponse, GeminiPart};

    fn user(text: &str) -> GeminiContent {
        GeminiContent {
            role: Some("user".into()),
            parts: vec![GeminiPart::text(text)],
        }
    }

    fn call_turn(names: &[&str], sig: Option<&str>) -> GeminiContent {
        let parts = names
            .iter()
            .enumerate()
            .map(|(i, n)| GeminiPart {
                function_call: Some(GeminiFunctionCall {
                    name: n.to_string(),
                    ..Default::default()
                }),
                thought_signature: if i == 0 { sig.map(str::to_string) } else { None },
                ..Default::default()
            })
            .collect();
        GeminiContent {
            role: Some("model".into()),
            parts,
        }
    }

    fn response_turn(names: &[&str]) -> GeminiContent {
        let parts = names
            .iter()
            .map(|n| GeminiPart {
                function_response: Some(GeminiFunctionResponse {
                    name: n.to_string(),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect();
        GeminiContent {
            role: Some("user".into()),
            parts,
        }
    }

    #[test]
    fn response_count_must_equal_call_count() {
        let contents = [user("hi"), call_turn(&["a", "b"], None), response_turn(&["a"])];
        let err = check_contents(&contents, "GenerateContentRequest.contents").unwrap_err();
        assert_eq!(err.body.error.message, COUNT_MISMATCH_MESSAGE);
        let ok = [user("hi"), call_turn(&["a", "b"], None), response_turn(&["a", "b"])];
        check_contents(&ok, "GenerateContentRequest.contents").unwrap();
    }

    #[test]
    fn empty_contents_and_parts_are_rejected() {
        let err = check_contents(&[], "GenerateContentRequest.contents").unwrap_err();
        assert_eq!(
            err.body.error.message,
            "* GenerateContentRequest.contents: contents is not specified\n"
        );
        let empty = GeminiContent {
            role: Some("user".into()),
            parts: vec![],
        };
        let err = check_contents(&[empty], "GenerateContentRequest.contents").unwrap_err();
        assert!(err.body.error.message.contains("contents[0].parts"));
    }

    #[test]
    fn roles_other_than_user_and_model_are_rejected() {
        let mut c = user("hi");
        c.role = Some("system".into());
        let err = check_contents(&[c], "x").unwrap_err();
        assert_eq!(err.body.error.message, ROLE_MESSAGE);
    }

    #[test]
    fn active_loop_calls_need_signatures_but_old_turns_do_not() {
        let issued = |s: &str| s == "bW9jay1zaWctMQ==";
        let missing = [
            user("hi"),
            call_turn(&["get_weather"], None),
            response_turn(&["get_weather"]),
        ];
        let err = check_thought_signatures(&missing, issued).unwrap_err();
        assert!(err
            .body
            .error
            .message
            .starts_with("Function call is missing a thought_signature"));
        assert!(err
            .body
            .error
            .message
            .contains("`default_api:get_weather` , position 2"));

        let old = [
            user("hi"),
            call_turn(&["get_weather"], None),
            response_turn(&["get_weather"]),
            user("next question"),
        ];
        check_thought_signatures(&old, issued).unwrap();

        for sig in [
            "bW9jay1zaWctMQ==",
            "skip_thought_signature_validator",
            "c2tpcF90aG91Z2h0X3NpZ25hdHVyZV92YWxpZGF0b3I=",
        ] {
            let signed = [
                user("hi"),
                call_turn(&["a", "b"], Some(sig)),
                response_turn(&["a", "b"]),
            ];
            check_thought_signatures(&signed, issued).unwrap();
        }
        let forged = [user("hi"), call_turn(&["a"], Some("Zm9yZ2Vk")), response_turn(&["a"])];
        let err = check_thought_signatures(&forged, issued).unwrap_err();
        assert_eq!(err.body.error.message, INVALID_SIGNATURE_MESSAGE);
    }

    #[test]
    fn string_format_and_empty_object_properties_are_rejected() {
        let raw = serde_json::json!({"tools": [{"functionDeclarations": [{"name": "f", "parameters": {
            "type": "OBJECT",
            "properties": {"url": {"type": "STRING", "format": "uri"}, "o": {"type": "OBJECT", "properties": {}}},
            "required": ["url", "missing"]
        }}]}]});
        let mut problems = Problems::default();
        check_tools(&raw, "GenerateContentRequest.", &mut problems);
        let p = "GenerateContentRequest.tools[0].function_declarations[0].parameters";
        assert_eq!(
            problems.0,
            format!(
                "* {p}.properties[url].format: only 'enum' and 'date-time' are supported for STRING type\n\
                 * {p}.properties[o].properties: should be non-empty for OBJECT type\n\
                 * {p}.required[1]: property is not defined\n"
            )
        );
    }

    #[test]
    fn thinking_level_and_budget_together_are_rejected() {
        let raw =
            serde_json::json!({"generationConfig": {"thinkingConfig": {"thinkingBudget": 10, "thinkingLevel": "LOW"}}});
        let model = models::find("gemini-3-flash-preview").unwrap();
        let err = check_generation_config(&raw, "", model, &mut Problems::default()).unwrap_err();
        assert_eq!(err.status, 400);
    }
}
