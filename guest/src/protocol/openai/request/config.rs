//! Tools, `tool_choice` and generation settings of a chat request → Gemini `tools`,
//! `toolConfig` and `generationConfig` (protocols.md §5.1, §1.6, §2).

use crate::error::GatewayError;
use crate::protocol::gemini::extras::{GoogleExtras, ThinkingExtras};
use crate::protocol::gemini::thinking::{effort_config, Effort, ThinkingFamily};
use crate::protocol::gemini::{
    FunctionCallingConfig, FunctionDeclaration, GenerationConfig, ThinkingConfig, MAX_CANDIDATE_COUNT,
};
use crate::protocol::openai::{OpenAiChatRequest, OpenAiStop, OpenAiTool, OpenAiToolChoice};
use crate::protocol::schema;
use serde_json::Value;

/// Gemini accepts at most this many stop sequences.
const MAX_STOP_SEQUENCES: usize = 5;

pub(super) fn convert_tools(tools: &[OpenAiTool]) -> Result<Vec<FunctionDeclaration>, GatewayError> {
    let mut declarations = Vec::new();
    for (i, tool) in tools.iter().enumerate() {
        if !(tool.kind.is_empty() || tool.kind == "function") {
            return Err(GatewayError::invalid_param(
                format!("tool type '{}' is not supported; only function tools are", tool.kind),
                format!("tools[{i}].type"),
            ));
        }
        let function = tool.function.as_ref().filter(|f| !f.name.is_empty()).ok_or_else(|| {
            GatewayError::invalid_param(
                "function tools require function.name",
                format!("tools[{i}].function.name"),
            )
        })?;
        declarations.push(FunctionDeclaration {
            name: function.name.clone(),
            description: function.description.clone().filter(|d| !d.is_empty()),
            // `strict` lives beside `parameters` and is simply not forwarded.
            parameters: function.parameters.as_ref().and_then(schema::tool_parameters),
            parameters_json_schema: None,
        });
    }
    Ok(declarations)
}

pub(super) fn convert_tool_choice(choice: &OpenAiToolChoice) -> Result<FunctionCallingConfig, GatewayError> {
    let config = |mode: &str, names: Vec<String>| FunctionCallingConfig {
        mode: mode.into(),
        allowed_function_names: names,
    };
    let invalid = |message: &str, param: &str| Err(GatewayError::invalid_param(message, param));
    match choice {
        OpenAiToolChoice::Mode(mode) => match mode.as_str() {
            "none" => Ok(config("NONE", Vec::new())),
            "auto" => Ok(config("AUTO", Vec::new())),
            "required" => Ok(config("ANY", Vec::new())),
            _ => invalid("tool_choice must be none, auto, required or an object", "tool_choice"),
        },
        OpenAiToolChoice::Object(object) => match object.kind.as_str() {
            "function" => match object.function.as_ref().filter(|f| !f.name.is_empty()) {
                Some(f) => Ok(config("ANY", vec![f.name.clone()])),
                None => invalid("tool_choice.function.name is required", "tool_choice.function.name"),
            },
            "allowed_tools" => {
                let Some(allowed) = &object.allowed_tools else {
                    return invalid("tool_choice.allowed_tools is required", "tool_choice.allowed_tools");
                };
                let names: Vec<String> = allowed
                    .tools
                    .iter()
                    .filter_map(|t| t.function.as_ref())
                    .map(|f| f.name.clone())
                    .collect();
                match allowed.mode.as_str() {
                    "required" => Ok(config("ANY", names)),
                    // Gemini restricts names only in ANY mode; "auto" keeps every tool callable.
                    "auto" | "" => Ok(config("AUTO", Vec::new())),
                    _ => invalid(
                        "tool_choice.allowed_tools.mode must be auto or required",
                        "tool_choice.allowed_tools.mode",
                    ),
                }
            }
            _ => invalid("tool_choice.type must be function or allowed_tools", "tool_choice.type"),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Generation config

pub(super) fn generation_config(
    req: &OpenAiChatRequest,
    model: &str,
    google: Option<&GoogleExtras>,
) -> Result<GenerationConfig, GatewayError> {
    if let Some(n) = req.n.filter(|n| !(1..=MAX_CANDIDATE_COUNT).contains(n)) {
        return Err(GatewayError::invalid_param(
            format!("n must be between 1 and {MAX_CANDIDATE_COUNT} (got {n})"),
            "n",
        ));
    }
    let mut config = GenerationConfig {
        candidate_count: req.n,
        stop_sequences: stop_sequences(req.stop.as_ref())?,
        max_output_tokens: req.max_completion_tokens.or(req.max_tokens),
        temperature: req.temperature,
        top_p: req.top_p,
        top_k: req.top_k,
        seed: req.seed,
        // A zero penalty is the default; dropping it keeps Gemini 3 (which rejects penalties)
        // working for clients that always send 0.
        presence_penalty: req.presence_penalty.filter(|p| *p != 0.0),
        frequency_penalty: req.frequency_penalty.filter(|p| *p != 0.0),
        ..Default::default()
    };
    if req.logprobs == Some(true) {
        config.response_logprobs = Some(true);
        config.logprobs = req.top_logprobs;
    }
    if let Some(format) = &req.response_format {
        let schema = format.json_schema.as_ref().and_then(|s| s.schema.as_ref());
        let names = (
            "response_format",
            "response_format.json_schema.schema",
            "response_format.json_schema",
        );
        json_response_format(&mut config, &format.kind, schema, names)?;
    }
    let effort = req
        .reasoning_effort
        .as_deref()
        .map(|e| parse_effort(e, "reasoning_effort"))
        .transpose()?;
    config.thinking_config = thinking_config(effort, google.and_then(|g| g.thinking_config.as_ref()), model);
    Ok(config)
}

/// A structured-output format (`text`, `json_object`, `json_schema`) onto `config`. `names` is
/// how the client calls the format, its schema, and the param a missing schema is reported on:
/// (`response_format`, `response_format.json_schema.schema`, `response_format.json_schema`) on
/// Chat, (`text.format`, `text.format.schema`, `text.format`) on Responses.
pub(crate) fn json_response_format(
    config: &mut GenerationConfig,
    kind: &str,
    schema: Option<&Value>,
    (format, schema_field, schema_param): (&str, &str, &str),
) -> Result<(), GatewayError> {
    match kind {
        "text" | "" => {}
        "json_object" => config.response_mime_type = Some("application/json".into()),
        "json_schema" => {
            let schema = schema.ok_or_else(|| {
                GatewayError::invalid_param(format!("{schema_field} is required"), schema_param.to_string())
            })?;
            config.response_mime_type = Some("application/json".into());
            config.response_schema = Some(schema::response_schema(schema));
        }
        other => {
            return Err(GatewayError::invalid_param(
                format!("{format} type '{other}' is not supported"),
                format!("{format}.type"),
            ))
        }
    }
    Ok(())
}

fn stop_sequences(stop: Option<&OpenAiStop>) -> Result<Vec<String>, GatewayError> {
    let sequences: Vec<String> = match stop {
        None => Vec::new(),
        Some(OpenAiStop::One(s)) => vec![s.clone()],
        Some(OpenAiStop::Many(list)) => list.clone(),
    };
    let sequences: Vec<String> = sequences.into_iter().filter(|s| !s.is_empty()).collect();
    if sequences.len() > MAX_STOP_SEQUENCES {
        return Err(GatewayError::invalid_param(
            format!(
                "stop accepts at most {MAX_STOP_SEQUENCES} sequences with Gemini, got {}",
                sequences.len()
            ),
            "stop",
        ));
    }
    Ok(sequences)
}

/// An effort (Chat's `reasoning_effort`, Responses' `reasoning.effort`) and explicit
/// `google.thinking_config` → `thinkingConfig`. Never both a level and a budget (a 400
/// upstream); explicit settings win over the effort.
pub(crate) fn thinking_config(
    effort: Option<Effort>,
    explicit: Option<&ThinkingExtras>,
    model: &str,
) -> Option<ThinkingConfig> {
    let family = ThinkingFamily::of(model);
    let mut config = effort.and_then(|effort| effort_config(effort, family));
    if let Some(explicit) = explicit {
        let (budget, level, include) = (
            explicit.thinking_budget,
            explicit.thinking_level.clone(),
            explicit.include_thoughts,
        );
        let c = config.get_or_insert_with(ThinkingConfig::default);
        match (budget, level) {
            (Some(b), Some(l)) => {
                // Both given explicitly: keep the one this model family understands.
                if matches!(family, ThinkingFamily::Level { .. }) {
                    (c.thinking_level, c.thinking_budget) = (Some(l), None);
                } else {
                    (c.thinking_level, c.thinking_budget) = (None, Some(b));
                }
            }
            (Some(b), None) => (c.thinking_level, c.thinking_budget) = (None, Some(b)),
            (None, Some(l)) => (c.thinking_level, c.thinking_budget) = (Some(l), None),
            (None, None) => {}
        }
        if include.is_some() {
            c.include_thoughts = include;
        }
    }
    config.filter(|c| *c != ThinkingConfig::default())
}

/// A client's effort name, or a 400 naming `param` (the table is the hub's, `gemini::thinking`).
pub(crate) fn parse_effort(effort: &str, param: &str) -> Result<Effort, GatewayError> {
    Effort::parse(effort).ok_or_else(|| {
        GatewayError::invalid_param(
            format!("{param} '{effort}' is not one of {}", Effort::NAMES),
            param.to_string(),
        )
    })
}
