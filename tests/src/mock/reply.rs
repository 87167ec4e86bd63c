//! Deterministic replies of the mock, derived only from the request (see the rules in
//! [`crate::mock`]'s module doc), rendered as one `GenerateContentResponse` or as stream chunks.

use serde_json::{Map, Value};

use super::wire::{
    GeminiCandidate, GeminiContent, GeminiFunctionCall, GeminiGenerateContentRequest, GeminiGenerateContentResponse,
    GeminiModalityTokenCount, GeminiPart, GeminiPromptFeedback, GeminiSafetyRating, GeminiUsageMetadata,
};

/// Text of the thought part emitted when `includeThoughts` is true.
pub const THOUGHT_TEXT: &str = "thinking...";
/// `thoughtsTokenCount` reported whenever thinking is requested.
pub const THOUGHT_TOKENS: u32 = 8;
/// Value generated for string properties of function args and JSON replies.
pub const SAMPLE_STRING: &str = "Paris";
/// Value generated for `format: date-time` strings.
pub const SAMPLE_DATE_TIME: &str = "2025-01-01T00:00:00Z";
/// Streams split the reply text into at most this many text chunks (one per word below that).
pub const MAX_STREAM_TEXT_CHUNKS: usize = 32;

/// What the mock will answer, before rendering.
#[derive(Debug, Clone, Default)]
pub(crate) struct Plan {
    /// Emit a thought part first.
    pub thought: bool,
    /// The reply text, if any (no text when the reply is a function call).
    pub text: Option<String>,
    /// Function calls (one or two).
    pub calls: Vec<GeminiFunctionCall>,
    /// `STOP` or `MAX_TOKENS`.
    pub finish_reason: &'static str,
    /// Usage.
    pub prompt_tokens: u32,
    /// Per candidate.
    pub candidate_tokens: u32,
    /// Thinking tokens.
    pub thought_tokens: u32,
    /// `candidateCount` (non-streaming only).
    pub candidate_count: u32,
    /// Gemini 3 mode: the signature for the first call part, or the last text part.
    pub signature: Option<String>,
}

/// Whitespace-separated words: the mock's token unit.
pub fn word_count(text: &str) -> u32 {
    u32::try_from(text.split_whitespace().count()).unwrap_or(u32::MAX)
}

/// Prompt tokens: words of every text part (system instruction included) plus 1 per non-text part.
pub fn prompt_tokens(contents: &[GeminiContent], system: Option<&GeminiContent>) -> u32 {
    contents
        .iter()
        .chain(system)
        .flat_map(|c| &c.parts)
        .map(|p| p.text.as_deref().map_or(1, word_count))
        .sum()
}

/// The text parts (non-thought) of the last non-model turn that has text, joined with a space.
pub fn last_user_text(contents: &[GeminiContent]) -> String {
    contents
        .iter()
        .rev()
        .filter(|c| c.role.as_deref() != Some("model"))
        .find_map(|c| {
            let texts: Vec<&str> = c
                .parts
                .iter()
                .filter(|p| !p.thought)
                .filter_map(|p| p.text.as_deref())
                .collect();
            (!texts.is_empty()).then(|| texts.join(" "))
        })
        .unwrap_or_default()
}

/// Decides the reply to a generateContent request.
pub(crate) fn plan(req: &GeminiGenerateContentRequest) -> Plan {
    let config = req.generation_config.clone().unwrap_or_default();
    let user_text = last_user_text(&req.contents);
    let results: Vec<String> = req
        .contents
        .last()
        .filter(|c| c.role.as_deref() != Some("model"))
        .map(|c| {
            c.parts
                .iter()
                .filter_map(|p| p.function_response.as_ref())
                .map(|r| format!("{}={}", r.name, Value::Object(r.response.clone())))
                .collect()
        })
        .unwrap_or_default();

    let calls = if results.is_empty() {
        choose_calls(req, &user_text)
    } else {
        Vec::new()
    };
    let mut finish_reason = "STOP";
    let text = if calls.is_empty() {
        let base = if results.is_empty() {
            format!("echo: {user_text}")
        } else {
            format!("function results: {}", results.join("; "))
        };
        let mut text = match config.response_mime_type.as_deref() {
            Some("application/json") => json_reply(&config, &user_text),
            Some("text/x.enum") => enum_reply(&config).unwrap_or(base),
            _ => base,
        };
        if let Some(at) = config
            .stop_sequences
            .iter()
            .filter(|s| !s.is_empty())
            .filter_map(|s| text.find(s.as_str()))
            .min()
        {
            text.truncate(at);
        }
        if let Some(max) = config.max_output_tokens.filter(|m| *m >= 0) {
            let words: Vec<&str> = text.split_whitespace().collect();
            if words.len() as i64 > max {
                text = words[..usize::try_from(max).unwrap_or(0)].join(" ");
                finish_reason = "MAX_TOKENS";
            }
        }
        Some(text)
    } else {
        None
    };

    let thinking = config.thinking_config.unwrap_or_default();
    // A budget of 0 turns thinking off, and with it the thought summaries.
    let include_thoughts = thinking.include_thoughts && thinking.thinking_budget != Some(0);
    let thinks = include_thoughts
        || thinking.thinking_budget.is_some_and(|b| b > 0 || b == -1)
        || thinking.thinking_level.is_some();
    let calls_len = u32::try_from(calls.len()).unwrap_or(0);
    Plan {
        thought: include_thoughts,
        candidate_tokens: text.as_deref().map_or(0, word_count) + calls_len,
        text,
        calls,
        finish_reason,
        prompt_tokens: prompt_tokens(&req.contents, req.system_instruction.as_ref()),
        thought_tokens: if thinks { THOUGHT_TOKENS } else { 0 },
        candidate_count: config
            .candidate_count
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n > 1)
            .unwrap_or(1),
        signature: None,
    }
}

fn json_reply(config: &super::wire::GeminiGenerationConfig, user_text: &str) -> String {
    let schema = config.response_schema.as_ref().or(config.response_json_schema.as_ref());
    match schema {
        Some(schema) => sample_value(schema).to_string(),
        None => serde_json::json!({ "echo": user_text }).to_string(),
    }
}

fn enum_reply(config: &super::wire::GeminiGenerationConfig) -> Option<String> {
    let schema = config
        .response_schema
        .as_ref()
        .or(config.response_json_schema.as_ref())?;
    let first = schema.get("enum")?.as_array()?.first()?;
    Some(first.as_str().map_or_else(|| first.to_string(), str::to_string))
}

/// `call:<name>` / `call2:<a>,<b>` in the user text, or mode `ANY`, picks declared functions.
fn choose_calls(req: &GeminiGenerateContentRequest, user_text: &str) -> Vec<GeminiFunctionCall> {
    let declarations: Vec<_> = req.tools.iter().flat_map(|t| &t.function_declarations).collect();
    if declarations.is_empty() {
        return Vec::new();
    }
    let config = req
        .tool_config
        .as_ref()
        .and_then(|t| t.function_calling_config.clone())
        .unwrap_or_default();
    let mode = config.mode.as_deref().unwrap_or("AUTO");
    if mode == "NONE" {
        return Vec::new();
    }
    let allowed = |name: &str| {
        config.allowed_function_names.is_empty() || config.allowed_function_names.iter().any(|a| a == name)
    };
    let find = |name: &str| declarations.iter().find(|d| d.name == name && allowed(name)).copied();
    let mut chosen = Vec::new();
    if let Some(names) = directive(user_text, "call2:") {
        let found: Vec<_> = names.split(',').filter_map(find).collect();
        if found.len() == 2 {
            chosen = found;
        }
    }
    if chosen.is_empty() {
        if let Some(decl) = directive(user_text, "call:").and_then(find) {
            chosen.push(decl);
        }
    }
    if chosen.is_empty() && mode == "ANY" {
        if let Some(decl) = declarations.iter().find(|d| allowed(&d.name)) {
            chosen.push(decl);
        }
    }
    chosen
        .into_iter()
        .map(|decl| {
            let schema = decl.parameters.as_ref().or(decl.parameters_json_schema.as_ref());
            let args = match schema.map(sample_value) {
                Some(Value::Object(map)) => map,
                _ => Map::new(),
            };
            GeminiFunctionCall {
                id: None,
                name: decl.name.clone(),
                args,
            }
        })
        .collect()
}

fn directive<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let start = text.find(marker)? + marker.len();
    let rest = &text[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ',')))
        .unwrap_or(rest.len());
    Some(&rest[..end]).filter(|s| !s.is_empty())
}

/// A value that satisfies `schema` (OpenAPI subset or JSON Schema): the first `enum` value,
/// the first `anyOf`/`oneOf` branch, [`SAMPLE_STRING`] for strings, 1 for integers, 1.5 for
/// numbers, true for booleans, one item for arrays, every property for objects.
pub fn sample_value(schema: &Value) -> Value {
    sample_at(schema, 0)
}

fn sample_at(schema: &Value, depth: usize) -> Value {
    let Some(obj) = schema.as_object() else {
        return Value::from(SAMPLE_STRING);
    };
    if depth > 8 {
        return Value::Null;
    }
    if let Some(first) = obj.get("enum").and_then(Value::as_array).and_then(|e| e.first()) {
        return first.clone();
    }
    if let Some(constant) = obj.get("const") {
        return constant.clone();
    }
    for key in ["anyOf", "any_of", "oneOf"] {
        if let Some(first) = obj.get(key).and_then(Value::as_array).and_then(|a| a.first()) {
            return sample_at(first, depth + 1);
        }
    }
    let ty = match obj.get("type") {
        Some(Value::String(s)) => s.to_ascii_lowercase(),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null")
            .to_ascii_lowercase(),
        _ if obj.contains_key("properties") => "object".into(),
        _ if obj.contains_key("items") => "array".into(),
        _ => "string".into(),
    };
    match ty.as_str() {
        "integer" => Value::from(1),
        "number" => Value::from(1.5),
        "boolean" => Value::Bool(true),
        "null" => Value::Null,
        "array" => Value::Array(vec![obj
            .get("items")
            .map_or_else(|| Value::from(SAMPLE_STRING), |i| sample_at(i, depth + 1))]),
        "object" => Value::Object(
            obj.get("properties")
                .and_then(Value::as_object)
                .map(|props| {
                    props
                        .iter()
                        .map(|(k, v)| (k.clone(), sample_at(v, depth + 1)))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        _ if obj.get("format").and_then(Value::as_str) == Some("date-time") => Value::from(SAMPLE_DATE_TIME),
        _ => Value::from(SAMPLE_STRING),
    }
}

fn usage(plan: &Plan, candidates: u32) -> GeminiUsageMetadata {
    let candidate_tokens = plan.candidate_tokens * candidates;
    GeminiUsageMetadata {
        prompt_token_count: plan.prompt_tokens,
        candidates_token_count: candidate_tokens,
        total_token_count: plan.prompt_tokens + candidate_tokens + plan.thought_tokens,
        prompt_tokens_details: prompt_details(plan.prompt_tokens),
        thoughts_token_count: plan.thought_tokens,
    }
}

fn prompt_details(tokens: u32) -> Vec<GeminiModalityTokenCount> {
    vec![GeminiModalityTokenCount {
        modality: "TEXT".into(),
        token_count: tokens,
    }]
}

/// Usage of an intermediate stream chunk: prompt and total only.
fn partial_usage(prompt_tokens: u32) -> GeminiUsageMetadata {
    GeminiUsageMetadata {
        prompt_token_count: prompt_tokens,
        total_token_count: prompt_tokens,
        ..GeminiUsageMetadata::default()
    }
}

fn thought_part() -> GeminiPart {
    GeminiPart {
        thought: true,
        ..GeminiPart::text(THOUGHT_TEXT)
    }
}

fn call_parts(plan: &Plan) -> Vec<GeminiPart> {
    plan.calls
        .iter()
        .enumerate()
        .map(|(i, call)| GeminiPart {
            function_call: Some(call.clone()),
            thought_signature: if i == 0 { plan.signature.clone() } else { None },
            ..GeminiPart::default()
        })
        .collect()
}

fn model_content(parts: Vec<GeminiPart>) -> Option<GeminiContent> {
    Some(GeminiContent {
        parts,
        role: Some("model".into()),
    })
}

/// The whole reply as one `GenerateContentResponse`.
pub(crate) fn full_response(plan: &Plan, model: &str, response_id: &str) -> GeminiGenerateContentResponse {
    let mut parts = Vec::new();
    if plan.thought {
        parts.push(thought_part());
    }
    if let Some(text) = &plan.text {
        parts.push(GeminiPart {
            thought_signature: plan.signature.clone(),
            ..GeminiPart::text(text.clone())
        });
    }
    parts.extend(call_parts(plan));
    let candidates = (0..plan.candidate_count)
        .map(|index| GeminiCandidate {
            content: model_content(parts.clone()),
            finish_reason: Some(plan.finish_reason.into()),
            index,
            ..GeminiCandidate::default()
        })
        .collect();
    GeminiGenerateContentResponse {
        candidates,
        usage_metadata: Some(usage(plan, plan.candidate_count)),
        model_version: model.into(),
        response_id: response_id.into(),
        ..GeminiGenerateContentResponse::default()
    }
}

/// Splits text into stream pieces that concatenate back to it: one per word (trailing space
/// kept), grouped when there are more than [`MAX_STREAM_TEXT_CHUNKS`].
pub fn text_pieces(text: &str) -> Vec<String> {
    let words: Vec<&str> = text.split_inclusive(' ').collect();
    if words.is_empty() {
        return vec![String::new()];
    }
    let per_chunk = words.len().div_ceil(MAX_STREAM_TEXT_CHUNKS);
    words.chunks(per_chunk).map(|c| c.concat()).collect()
}

/// The reply as stream chunks: a thought chunk, one chunk per text piece, one per function
/// call; only the last has `finishReason` and full usage, the others prompt + total.
pub(crate) fn stream_chunks(plan: &Plan, model: &str, response_id: &str) -> Vec<GeminiGenerateContentResponse> {
    let mut parts = Vec::new();
    if plan.thought {
        parts.push(thought_part());
    }
    if let Some(text) = &plan.text {
        let pieces = text_pieces(text);
        let last = pieces.len() - 1;
        parts.extend(pieces.into_iter().enumerate().map(|(i, piece)| GeminiPart {
            thought_signature: if i == last { plan.signature.clone() } else { None },
            ..GeminiPart::text(piece)
        }));
    }
    parts.extend(call_parts(plan));
    let last = parts.len().saturating_sub(1);
    parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| {
            let is_last = i == last;
            GeminiGenerateContentResponse {
                candidates: vec![GeminiCandidate {
                    content: model_content(vec![part]),
                    finish_reason: is_last.then(|| plan.finish_reason.to_string()),
                    ..GeminiCandidate::default()
                }],
                usage_metadata: Some(if is_last {
                    usage(plan, 1)
                } else {
                    partial_usage(plan.prompt_tokens)
                }),
                model_version: model.into(),
                response_id: response_id.into(),
                ..GeminiGenerateContentResponse::default()
            }
        })
        .collect()
}

fn ratings(blocked: bool) -> Vec<GeminiSafetyRating> {
    [
        "HARM_CATEGORY_SEXUALLY_EXPLICIT",
        "HARM_CATEGORY_HATE_SPEECH",
        "HARM_CATEGORY_HARASSMENT",
        "HARM_CATEGORY_DANGEROUS_CONTENT",
    ]
    .iter()
    .enumerate()
    .map(|(i, category)| GeminiSafetyRating {
        category: category.to_string(),
        probability: if blocked && i == 3 { "HIGH" } else { "NEGLIGIBLE" }.into(),
        blocked: blocked && i == 3,
    })
    .collect()
}

/// 200 with `promptFeedback.blockReason: SAFETY` and no candidates.
pub(crate) fn prompt_blocked(plan: &Plan, model: &str, response_id: &str) -> GeminiGenerateContentResponse {
    GeminiGenerateContentResponse {
        prompt_feedback: Some(GeminiPromptFeedback {
            block_reason: Some("SAFETY".into()),
            safety_ratings: ratings(true),
        }),
        usage_metadata: Some(GeminiUsageMetadata {
            prompt_tokens_details: prompt_details(plan.prompt_tokens),
            ..partial_usage(plan.prompt_tokens)
        }),
        model_version: model.into(),
        response_id: response_id.into(),
        ..GeminiGenerateContentResponse::default()
    }
}

/// A candidate with `finishReason: MAX_TOKENS` and `content: {"role": "model"}` (thinking used
/// the whole budget): thoughts = `maxOutputTokens` (or [`THOUGHT_TOKENS`]).
pub(crate) fn max_tokens_no_parts(
    plan: &Plan,
    max_output_tokens: Option<i64>,
    model: &str,
    response_id: &str,
) -> GeminiGenerateContentResponse {
    let thoughts = max_output_tokens
        .and_then(|m| u32::try_from(m).ok())
        .filter(|m| *m > 0)
        .unwrap_or(THOUGHT_TOKENS);
    GeminiGenerateContentResponse {
        candidates: vec![GeminiCandidate {
            content: model_content(Vec::new()),
            finish_reason: Some("MAX_TOKENS".into()),
            ..GeminiCandidate::default()
        }],
        usage_metadata: Some(GeminiUsageMetadata {
            prompt_token_count: plan.prompt_tokens,
            total_token_count: plan.prompt_tokens + thoughts,
            prompt_tokens_details: prompt_details(plan.prompt_tokens),
            thoughts_token_count: thoughts,
            ..GeminiUsageMetadata::default()
        }),
        model_version: model.into(),
        response_id: response_id.into(),
        ..GeminiGenerateContentResponse::default()
    }
}

/// A candidate with `finishReason: SAFETY`, blocked ratings and no content at all.
pub(crate) fn safety_no_parts(plan: &Plan, model: &str, response_id: &str) -> GeminiGenerateContentResponse {
    GeminiGenerateContentResponse {
        candidates: vec![GeminiCandidate {
            finish_reason: Some("SAFETY".into()),
            safety_ratings: ratings(true),
            ..GeminiCandidate::default()
        }],
        usage_metadata: Some(GeminiUsageMetadata {
            prompt_tokens_details: prompt_details(plan.prompt_tokens),
            ..partial_usage(plan.prompt_tokens)
        }),
        model_version: model.into(),
        response_id: response_id.into(),
        ..GeminiGenerateContentResponse::default()
    }
}

/// A deterministic embedding of `text`: `dim` values in (-0.1, 0.1) from an FNV-1a seeded
/// xorshift, so equal texts embed equally and different texts differently.
pub fn embedding(text: &str, dim: usize) -> Vec<f32> {
    let mut state = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }) | 1;
    (0..dim)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let unit = (state >> 11) as f64 / (1_u64 << 53) as f64;
            ((unit * 2.0 - 1.0) * 0.1) as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(body: Value) -> GeminiGenerateContentRequest {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn echoes_the_last_user_text() {
        let p = plan(&request(json!({"contents": [
            {"role": "user", "parts": [{"text": "hello"}, {"text": "there"}]},
            {"role": "model", "parts": [{"text": "x"}]},
            {"role": "user", "parts": [{"text": "how are you"}]}
        ]})));
        assert_eq!(p.text.as_deref(), Some("echo: how are you"));
        assert_eq!(p.prompt_tokens, 6);
        assert_eq!(p.candidate_tokens, 4);
    }

    #[test]
    fn call_directive_builds_args_from_schema() {
        let p = plan(&request(json!({
            "contents": [{"role": "user", "parts": [{"text": "weather? call:get_weather"}]}],
            "tools": [{"functionDeclarations": [{"name": "get_weather", "parameters": {
                "type": "OBJECT",
                "properties": {"city": {"type": "STRING"}, "days": {"type": "INTEGER"},
                               "unit": {"type": "STRING", "enum": ["c", "f"]}}
            }}]}]
        })));
        assert!(p.text.is_none());
        assert_eq!(p.calls.len(), 1);
        assert_eq!(
            Value::Object(p.calls[0].args.clone()),
            json!({"city": "Paris", "days": 1, "unit": "c"})
        );
    }

    #[test]
    fn call2_directive_makes_two_parallel_calls() {
        let p = plan(&request(json!({
            "contents": [{"role": "user", "parts": [{"text": "call2:a,b please"}]}],
            "tools": [{"functionDeclarations": [{"name": "a"}, {"name": "b"}]}]
        })));
        let names: Vec<_> = p.calls.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn max_output_tokens_truncates_with_max_tokens() {
        let p = plan(&request(json!({
            "contents": [{"parts": [{"text": "one two three four"}]}],
            "generationConfig": {"maxOutputTokens": 3}
        })));
        assert_eq!(p.text.as_deref(), Some("echo: one two"));
        assert_eq!(p.finish_reason, "MAX_TOKENS");
    }

    #[test]
    fn stream_pieces_concatenate_to_the_text() {
        let text = "echo: a b c";
        assert_eq!(text_pieces(text).concat(), text);
        assert_eq!(text_pieces(text).len(), 4);
        let long = "w ".repeat(100);
        assert_eq!(text_pieces(&long).concat(), long);
        assert!(text_pieces(&long).len() <= MAX_STREAM_TEXT_CHUNKS);
    }

    #[test]
    fn embeddings_are_deterministic() {
        assert_eq!(embedding("a", 4), embedding("a", 4));
        assert_ne!(embedding("a", 4), embedding("b", 4));
        assert!(embedding("a", 3072).iter().all(|v| v.abs() < 0.1));
    }
}
