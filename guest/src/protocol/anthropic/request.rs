//! Anthropic Messages / count_tokens request -> Gemini `generateContent` / `countTokens`.
//!
//! Turn structure is where Gemini is strictest (§5.4.2): every `model` turn with N
//! `functionCall`s must be followed by one `user` turn holding exactly N `functionResponse`s.
//! Anthropic lets `tool_result`s come in any order, mixed with text; so responses are reordered
//! to the calls' order and put first, the other blocks after them, and a call the client sent
//! no result for gets an error response instead of making Gemini reject the whole request.

use std::collections::HashMap;

use serde_json::json;

use super::super::gemini::{
    Blob, Content, CountTokensGenerateContentRequest, CountTokensRequest, FileData, FunctionCall,
    FunctionCallingConfig, FunctionDeclaration, FunctionResponse, GenerateContentRequest, GenerationConfig, Part,
    ThinkingConfig, Tool, ToolConfig,
};
use super::super::schema;
use super::{
    gemini_signature_from_thinking, signature_from_tool_use_id, AnthropicContent, AnthropicContentBlock,
    AnthropicCountTokensRequest, AnthropicMessage, AnthropicMessagesRequest, AnthropicSource, AnthropicThinking,
    AnthropicTool, AnthropicToolChoice, SKIP_SIGNATURE_SENTINEL,
};
use crate::error::GatewayError;
use crate::protocol::openai::effort_thinking_config;

/// Gemini's limit on `stopSequences`.
const MAX_STOP_SEQUENCES: usize = 5;

/// Translates a Messages request for the Gemini model `model` (bare id or `models/...`).
pub fn messages_request_to_gemini(
    req: &AnthropicMessagesRequest,
    model: &str,
) -> Result<GenerateContentRequest, GatewayError> {
    let max_tokens = req
        .max_tokens
        .ok_or_else(|| GatewayError::invalid_param("max_tokens: Field required", "max_tokens"))?;
    let mut out = conversation(
        &req.messages,
        req.system.as_ref(),
        &req.tools,
        req.tool_choice.as_ref(),
        model,
    )?;

    let stop_sequences: Vec<String> = req.stop_sequences.iter().filter(|s| !s.is_empty()).cloned().collect();
    if stop_sequences.len() > MAX_STOP_SEQUENCES {
        return Err(GatewayError::invalid_param(
            format!("stop_sequences: at most {MAX_STOP_SEQUENCES} stop sequences are supported by this model"),
            "stop_sequences",
        ));
    }
    let effort = req.output_config.as_ref().and_then(|c| c.effort.as_deref());
    let mut config = GenerationConfig {
        max_output_tokens: Some(max_tokens),
        stop_sequences,
        temperature: req.temperature,
        top_p: req.top_p,
        top_k: req.top_k,
        thinking_config: thinking_config(req.thinking.as_ref(), effort, model)?,
        ..Default::default()
    };
    // Structured outputs. Gemini 2.x rejects a JSON response mime type together with function
    // calling, so with tools the format is left to the prompt.
    let format = req
        .output_config
        .as_ref()
        .and_then(|c| c.format.as_ref())
        .or(req.output_format.as_ref());
    if let Some(schema) = format
        .filter(|f| f.kind == "json_schema")
        .and_then(|f| f.schema.as_ref())
    {
        if out.tools.is_empty() {
            config.response_mime_type = Some("application/json".into());
            config.response_schema = Some(schema::response_schema(schema));
        }
    }
    out.generation_config = Some(config);
    Ok(out)
}

/// Translates a count_tokens request into `countTokens` with a full `generateContentRequest`,
/// so that the system prompt and tools are counted too (§1.10).
pub fn count_tokens_request_to_gemini(
    req: &AnthropicCountTokensRequest,
    model: &str,
) -> Result<CountTokensRequest, GatewayError> {
    let mut request = conversation(
        &req.messages,
        req.system.as_ref(),
        &req.tools,
        req.tool_choice.as_ref(),
        model,
    )?;
    request.tool_config = None;
    let bare = model.strip_prefix("models/").unwrap_or(model);
    Ok(CountTokensRequest {
        contents: Vec::new(),
        generate_content_request: Some(CountTokensGenerateContentRequest {
            model: format!("models/{bare}"),
            request,
        }),
    })
}

/// Contents, system instruction, tools and tool config: what both endpoints share.
fn conversation(
    messages: &[AnthropicMessage],
    system: Option<&AnthropicContent>,
    tools: &[AnthropicTool],
    tool_choice: Option<&AnthropicToolChoice>,
    model: &str,
) -> Result<GenerateContentRequest, GatewayError> {
    if messages.is_empty() {
        return Err(GatewayError::invalid_param(
            "messages: at least one message is required",
            "messages",
        ));
    }
    // `system` messages before the first user/assistant message extend the system instruction.
    let leading = messages.iter().take_while(|m| m.role == SYSTEM_ROLE).count();
    if leading == messages.len() {
        return Err(GatewayError::invalid_param(
            "messages: at least one user or assistant message is required besides system messages",
            "messages",
        ));
    }
    let mut system_parts = system.map(top_level_system_parts).unwrap_or_default();
    for (i, message) in messages[..leading].iter().enumerate() {
        system_parts.extend(system_message_parts(&message.content, i)?);
    }
    let contents = contents(messages, leading, model)?;
    if contents.is_empty() {
        return Err(GatewayError::invalid_param(
            "messages: all messages are empty",
            "messages",
        ));
    }
    let (tools, tool_config) = tools_to_gemini(tools, tool_choice)?;
    Ok(GenerateContentRequest {
        contents,
        system_instruction: (!system_parts.is_empty()).then_some(Content {
            role: None,
            parts: system_parts,
        }),
        tools,
        tool_config,
        ..Default::default()
    })
}

/// The role of the system messages current Claude Code puts inside `messages`.
const SYSTEM_ROLE: &str = "system";

/// The text of the top-level `system` (non-text blocks, which Anthropic does not allow there
/// either, are skipped).
fn top_level_system_parts(system: &AnthropicContent) -> Vec<Part> {
    let texts: Vec<&str> = match system {
        AnthropicContent::Text(text) => vec![text.as_str()],
        AnthropicContent::Blocks(blocks) => blocks
            .iter()
            .filter_map(|b| match b {
                AnthropicContentBlock::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .collect(),
    };
    texts
        .into_iter()
        .filter(|t| !t.is_empty())
        .map(|t| Part::text(t.to_string()))
        .collect()
}

/// The text parts of `messages[i]` with role `system`: a string or text blocks only.
fn system_message_parts(content: &AnthropicContent, i: usize) -> Result<Vec<Part>, GatewayError> {
    let mut parts = Vec::new();
    for (j, block) in blocks(content).iter().enumerate() {
        match block {
            AnthropicContentBlock::Text { text } if text.is_empty() => {}
            AnthropicContentBlock::Text { text } => parts.push(Part::text(text.clone())),
            _ => {
                return Err(GatewayError::invalid_param(
                    format!("messages.{i}.content.{j}: system messages may only contain text blocks"),
                    format!("messages.{i}.content.{j}.type"),
                ))
            }
        }
    }
    Ok(parts)
}

// ---------------------------------------------------------------------------------------------
// Tools.
// ---------------------------------------------------------------------------------------------

/// Custom tools become function declarations. Anthropic-defined tools have no schema Gemini
/// could use and are skipped, except `web_search_*`, which becomes Gemini's `googleSearch`
/// when it is the only kind of tool (Gemini 2.x rejects search combined with functions).
fn tools_to_gemini(
    tools: &[AnthropicTool],
    choice: Option<&AnthropicToolChoice>,
) -> Result<(Vec<Tool>, Option<ToolConfig>), GatewayError> {
    let mut declarations: Vec<FunctionDeclaration> = Vec::new();
    let mut web_search = false;
    for (i, tool) in tools.iter().enumerate() {
        match tool.kind.as_deref() {
            None | Some("custom") => {
                if tool.name.is_empty() {
                    return Err(GatewayError::invalid_param(
                        format!("tools.{i}.name: Field required"),
                        format!("tools.{i}.name"),
                    ));
                }
                if declarations.iter().any(|d| d.name == tool.name) {
                    continue; // Gemini rejects duplicate declarations.
                }
                declarations.push(FunctionDeclaration {
                    name: tool.name.clone(),
                    description: tool.description.clone().filter(|d| !d.is_empty()),
                    parameters: tool.input_schema.as_ref().and_then(schema::tool_parameters),
                    parameters_json_schema: None,
                });
            }
            Some(kind) if kind.starts_with("web_search") => web_search = true,
            Some(_) => {}
        }
    }
    if declarations.is_empty() {
        let tools = if web_search {
            vec![Tool {
                google_search: Some(json!({})),
                ..Default::default()
            }]
        } else {
            vec![]
        };
        return Ok((tools, None));
    }
    let config = match choice {
        None => None,
        Some(choice) => {
            let (mode, allowed) = match choice {
                AnthropicToolChoice::Auto { .. } => ("AUTO", vec![]),
                AnthropicToolChoice::Any { .. } => ("ANY", vec![]),
                AnthropicToolChoice::None {} => ("NONE", vec![]),
                AnthropicToolChoice::Tool { name, .. } => {
                    if !declarations.iter().any(|d| &d.name == name) {
                        return Err(GatewayError::invalid_param(
                            format!("tool_choice.name: no tool named {name:?} in tools"),
                            "tool_choice.name",
                        ));
                    }
                    ("ANY", vec![name.clone()])
                }
            };
            Some(ToolConfig {
                function_calling_config: Some(FunctionCallingConfig {
                    mode: mode.into(),
                    allowed_function_names: allowed,
                }),
            })
        }
    };
    Ok((
        vec![Tool {
            function_declarations: declarations,
            ..Default::default()
        }],
        config,
    ))
}

// ---------------------------------------------------------------------------------------------
// Thinking.
// ---------------------------------------------------------------------------------------------

/// How a Gemini model controls thinking.
#[derive(Debug, Clone, Copy, PartialEq)]
enum ThinkingControl {
    /// Gemini 3: `thinkingLevel`; Pro accepts only LOW/HIGH, Flash also MINIMAL/MEDIUM.
    Level { flash: bool },
    /// Gemini 2.5: `thinkingBudget` within a model-specific range [U ranges, §1.6].
    Budget { min: i64, max: i64, can_disable: bool },
    /// Gemini 1.x/2.0, Gemma: `thinkingConfig` is an error.
    Unsupported,
    /// Aliases (`gemini-flash-latest`) and unknown names: budget, unclamped.
    Unknown,
}

fn thinking_control(model: &str) -> ThinkingControl {
    let m = model.strip_prefix("models/").unwrap_or(model).to_ascii_lowercase();
    if m.starts_with("gemini-3") {
        ThinkingControl::Level {
            flash: m.contains("flash"),
        }
    } else if m.starts_with("gemini-2.5-pro") {
        ThinkingControl::Budget {
            min: 128,
            max: 32768,
            can_disable: false,
        }
    } else if m.starts_with("gemini-2.5-flash-lite") {
        ThinkingControl::Budget {
            min: 512,
            max: 24576,
            can_disable: true,
        }
    } else if m.starts_with("gemini-2.5-flash") {
        ThinkingControl::Budget {
            min: 1,
            max: 24576,
            can_disable: true,
        }
    } else if m.starts_with("gemini-1") || m.starts_with("gemini-2.0") || m.starts_with("gemma") {
        ThinkingControl::Unsupported
    } else {
        ThinkingControl::Unknown
    }
}

/// Anthropic `thinking` and `output_config.effort` -> Gemini `thinkingConfig`. Never sets both a
/// budget and a level (a 400 upstream).
///
/// * `enabled`: `budget_tokens` as the budget (clamped to the model's range), or on Gemini 3 the
///   level it is closest to (<= 1024 LOW, else HIGH).
/// * `adaptive`: with an effort, the effort table OpenAI's `reasoning_effort` uses
///   ([`effort_thinking_config`]); without one, the model's own dynamic thinking.
/// * no `thinking` but an effort: the effort table, without thought summaries (Anthropic returns
///   thinking blocks only when thinking is on).
/// * `disabled`: off where the model can turn thinking off (2.5 Pro cannot: its default).
///
/// `display: "omitted"` asks for no thought summaries (`includeThoughts: false`).
fn thinking_config(
    thinking: Option<&AnthropicThinking>,
    effort: Option<&str>,
    model: &str,
) -> Result<Option<ThinkingConfig>, GatewayError> {
    let by_effort = |effort: &str| {
        effort_thinking_config(effort, model).map_err(|_| {
            GatewayError::invalid_param(
                format!("output_config.effort: {effort:?} is not one of low, medium, high, xhigh, max"),
                "output_config.effort",
            )
        })
    };
    // Validates the effort even where it ends up unused.
    let effort_config = effort.map(by_effort).transpose()?.flatten();
    let control = thinking_control(model);
    if control == ThinkingControl::Unsupported {
        return Ok(None);
    }
    let level = |l: &str| ThinkingConfig {
        thinking_level: Some(l.into()),
        ..Default::default()
    };
    let budget = |b: i64| ThinkingConfig {
        thinking_budget: Some(b),
        ..Default::default()
    };
    let clamp = |b: i64| match control {
        ThinkingControl::Budget { min, max, .. } => b.clamp(min, max),
        _ => b,
    };
    let shown = |display: &Option<String>| display.as_deref() != Some("omitted");
    let (mut config, include) = match thinking {
        None => match effort_config {
            Some(config) => (config, false),
            None => return Ok(None),
        },
        Some(AnthropicThinking::Enabled { budget_tokens, display }) => {
            let config = match control {
                ThinkingControl::Level { .. } if *budget_tokens <= 1024 => level("LOW"),
                ThinkingControl::Level { .. } => level("HIGH"),
                _ => budget(clamp(i64::from(*budget_tokens))),
            };
            (config, shown(display))
        }
        Some(AnthropicThinking::Adaptive { display }) => {
            let config = match (effort_config, control) {
                (Some(config), _) => config,
                (None, ThinkingControl::Level { .. }) => ThinkingConfig::default(),
                (None, _) => budget(-1),
            };
            (config, shown(display))
        }
        Some(AnthropicThinking::Disabled {}) => match control {
            ThinkingControl::Level { .. } => (level("LOW"), false),
            ThinkingControl::Budget { can_disable: true, .. } => (budget(0), false),
            _ => return Ok(None), // 2.5 Pro cannot turn thinking off; unknown models: their default.
        },
        Some(AnthropicThinking::Unknown) => {
            return Err(GatewayError::invalid_param(
                "thinking.type: expected 'enabled', 'disabled' or 'adaptive'",
                "thinking.type",
            ))
        }
    };
    config.include_thoughts = Some(include);
    Ok(Some(config))
}

// ---------------------------------------------------------------------------------------------
// Messages -> contents.
// ---------------------------------------------------------------------------------------------

/// A turn being assembled, before the function responses are paired with their calls.
#[derive(Debug, Default)]
struct Turn {
    model: bool,
    parts: Vec<Part>,
    /// Model turns: the `tool_use` id of each `functionCall` part, in order.
    call_ids: Vec<String>,
    /// User turns: (tool_use_id, functionResponse part) in the client's order.
    responses: Vec<(String, Part)>,
    /// User turns: media from tool results that go next to, not inside, the responses.
    response_media: Vec<Part>,
}

impl Turn {
    fn is_empty(&self) -> bool {
        self.parts.is_empty() && self.responses.is_empty() && self.response_media.is_empty()
    }
}

fn blocks(content: &AnthropicContent) -> Vec<AnthropicContentBlock> {
    match content {
        AnthropicContent::Text(text) => vec![AnthropicContentBlock::Text { text: text.clone() }],
        AnthropicContent::Blocks(blocks) => blocks.clone(),
    }
}

/// The turns of `messages[skip..]` (the first `skip` are leading system messages, already in
/// the system instruction). A later `system` message becomes user-side text in the turn where it
/// appears: it joins the user turn it follows, or opens (and then joins) the next one.
fn contents(messages: &[AnthropicMessage], skip: usize, model: &str) -> Result<Vec<Content>, GatewayError> {
    let multimodal_responses = model.strip_prefix("models/").unwrap_or(model).starts_with("gemini-3");
    let mut names: HashMap<String, String> = HashMap::new();
    let mut turns: Vec<Turn> = Vec::new();
    for (i, message) in messages.iter().enumerate().skip(skip) {
        let turn = match message.role.as_str() {
            "assistant" => assistant_turn(&blocks(&message.content), &mut names),
            "user" => user_turn(&blocks(&message.content), &names, i, multimodal_responses)?,
            SYSTEM_ROLE => Turn {
                parts: system_message_parts(&message.content, i)?,
                ..Default::default()
            },
            other => {
                return Err(GatewayError::invalid_param(
                    format!("messages.{i}.role: expected 'user', 'assistant' or 'system', got {other:?}"),
                    format!("messages.{i}.role"),
                ))
            }
        };
        if turn.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some(last) if last.model == turn.model => {
                last.parts.extend(turn.parts);
                last.call_ids.extend(turn.call_ids);
                last.responses.extend(turn.responses);
                last.response_media.extend(turn.response_media);
            }
            _ => turns.push(turn),
        }
    }
    pair_and_assemble(turns, &names)
}

fn assistant_turn(blocks: &[AnthropicContentBlock], names: &mut HashMap<String, String>) -> Turn {
    let mut turn = Turn {
        model: true,
        ..Default::default()
    };
    // The signature of an empty thinking block, waiting for the part it belongs to.
    let mut pending: Option<String> = None;
    for block in blocks {
        let mut part = match block {
            AnthropicContentBlock::Text { text } if !text.is_empty() => Part::text(text.clone()),
            AnthropicContentBlock::Thinking { thinking, signature } => {
                match gemini_signature_from_thinking(signature) {
                    Some(sig) if thinking.is_empty() => pending = Some(sig.to_string()),
                    Some(sig) => turn.parts.push(Part {
                        text: Some(thinking.clone()),
                        thought: Some(true),
                        thought_signature: Some(sig.to_string()),
                        ..Default::default()
                    }),
                    // Unsigned or not Gemini's (real Claude's): Gemini cannot verify it.
                    None => {}
                }
                continue;
            }
            AnthropicContentBlock::ToolUse { id, name, input } => {
                names.insert(id.clone(), name.clone());
                turn.call_ids.push(id.clone());
                let args = if input.is_object() { input.clone() } else { json!({}) };
                Part {
                    function_call: Some(FunctionCall {
                        id: None,
                        name: name.clone(),
                        args,
                    }),
                    thought_signature: signature_from_tool_use_id(id),
                    ..Default::default()
                }
            }
            // Empty text, redacted thinking, server tool blocks, media (not valid here).
            _ => continue,
        };
        if part.thought_signature.is_none() {
            part.thought_signature = pending.take();
        }
        turn.parts.push(part);
    }
    if let Some(sig) = pending {
        // A signature that came on the turn's last (text) part.
        if let Some(last) = turn
            .parts
            .iter_mut()
            .rev()
            .find(|p| p.text.is_some() && p.thought != Some(true))
        {
            last.thought_signature.get_or_insert(sig);
        }
    }
    turn
}

fn user_turn(
    blocks: &[AnthropicContentBlock],
    names: &HashMap<String, String>,
    i: usize,
    multimodal_responses: bool,
) -> Result<Turn, GatewayError> {
    let mut turn = Turn::default();
    for (j, block) in blocks.iter().enumerate() {
        let param = || format!("messages.{i}.content.{j}");
        match block {
            AnthropicContentBlock::ToolResult {
                tool_use_id,
                content,
                is_error,
            } => {
                let Some(name) = names.get(tool_use_id) else {
                    return Err(GatewayError::invalid_param(
                        format!(
                            "{}.tool_use_id: unexpected tool_use_id {tool_use_id:?}: no tool_use block with this id in a previous assistant message",
                            param()
                        ),
                        format!("{}.tool_use_id", param()),
                    ));
                };
                let (text, media) = match content {
                    Some(content) => tool_result_content(content, &param())?,
                    None => (String::new(), Vec::new()),
                };
                // "Use 'output' for the function's output and 'error' for error details."
                let key = if is_error.unwrap_or(false) { "error" } else { "output" };
                // Only inline data may go inside a functionResponse (`FunctionResponsePart`);
                // URL sources (fileData) follow the responses.
                let (inner, outer): (Vec<Part>, Vec<Part>) = media
                    .into_iter()
                    .partition(|p| multimodal_responses && p.inline_data.is_some());
                let part = Part {
                    function_response: Some(FunctionResponse {
                        id: None,
                        name: name.clone(),
                        response: json!({ key: text }),
                        parts: inner,
                    }),
                    ..Default::default()
                };
                turn.responses.push((tool_use_id.clone(), part));
                turn.response_media.extend(outer);
            }
            other => turn.parts.extend(media_or_text(other, &param())?),
        }
    }
    Ok(turn)
}

/// A tool result's text (text blocks joined by newlines) and media parts.
fn tool_result_content(content: &AnthropicContent, param: &str) -> Result<(String, Vec<Part>), GatewayError> {
    let mut texts: Vec<String> = Vec::new();
    let mut media = Vec::new();
    for block in blocks(content) {
        for part in media_or_text(&block, param)? {
            match part.text {
                Some(text) => texts.push(text),
                None => media.push(part),
            }
        }
    }
    Ok((texts.join("\n"), media))
}

/// Text, image and document blocks of a user message as Gemini parts.
fn media_or_text(block: &AnthropicContentBlock, param: &str) -> Result<Vec<Part>, GatewayError> {
    Ok(match block {
        AnthropicContentBlock::Text { text } if !text.is_empty() => vec![Part::text(text.clone())],
        AnthropicContentBlock::Image { source } => source_parts(source, param, None)?,
        AnthropicContentBlock::Document { source, title } => source_parts(source, param, title.as_deref())?,
        _ => vec![],
    })
}

fn source_parts(source: &AnthropicSource, param: &str, title: Option<&str>) -> Result<Vec<Part>, GatewayError> {
    Ok(match source {
        AnthropicSource::Base64 { data, .. } if !crate::protocol::gemini::is_valid_base64(data) => {
            return Err(GatewayError::invalid_param(
                format!("{param}.source.data: the image or document data is not valid base64"),
                format!("{param}.source.data"),
            ))
        }
        AnthropicSource::Base64 { media_type, data } => vec![Part {
            inline_data: Some(Blob {
                mime_type: media_type.clone(),
                data: data.clone(),
            }),
            ..Default::default()
        }],
        AnthropicSource::Url { url } => vec![Part {
            file_data: Some(FileData {
                mime_type: mime_from_url(url).map(str::to_string),
                file_uri: url.clone(),
            }),
            ..Default::default()
        }],
        AnthropicSource::Text { data, .. } => match title {
            Some(title) if !title.is_empty() => vec![Part::text(format!("{title}\n\n{data}"))],
            _ if data.is_empty() => vec![],
            _ => vec![Part::text(data.clone())],
        },
        AnthropicSource::Content { content } => {
            let mut parts = Vec::new();
            for block in blocks(content) {
                parts.extend(media_or_text(&block, param)?);
            }
            parts
        }
        AnthropicSource::File { .. } => {
            return Err(GatewayError::invalid_param(
                format!("{param}.source: file sources (Files API) are not supported; send the data as base64"),
                format!("{param}.source"),
            ))
        }
        AnthropicSource::Unknown => vec![],
    })
}

fn mime_from_url(url: &str) -> Option<&'static str> {
    let path = url.split(['?', '#']).next().unwrap_or(url).to_ascii_lowercase();
    let ext = path.rsplit_once('.').map(|(_, e)| e)?;
    Some(match ext {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        _ => return None,
    })
}

/// Pairs each user turn's function responses with the calls of the model turn before it
/// (reordered to the calls' order, missing ones filled with an error response), drops calls
/// nothing can answer (a trailing model turn), then marks the active loop's unsigned calls.
fn pair_and_assemble(turns: Vec<Turn>, names: &HashMap<String, String>) -> Result<Vec<Content>, GatewayError> {
    let count = turns.len();
    let mut contents: Vec<Content> = Vec::with_capacity(count);
    let mut previous_calls: Vec<String> = Vec::new();
    for (k, mut turn) in turns.into_iter().enumerate() {
        if turn.model {
            if k + 1 == count {
                // Calls nobody answered cannot be sent: Gemini wants a response turn after them.
                turn.parts.retain(|p| p.function_call.is_none());
                turn.call_ids.clear();
            }
            previous_calls = std::mem::take(&mut turn.call_ids);
            if !turn.parts.is_empty() {
                contents.push(Content::model(turn.parts));
            }
            continue;
        }
        for (id, _) in &turn.responses {
            if !previous_calls.contains(id) {
                return Err(GatewayError::invalid_param(
                    format!("messages: tool_result for {id:?} must directly follow the assistant message with that tool_use"),
                    "messages",
                ));
            }
        }
        let mut parts: Vec<Part> = Vec::with_capacity(previous_calls.len() + turn.parts.len());
        for call_id in previous_calls.drain(..) {
            let position = turn.responses.iter().position(|(id, _)| *id == call_id);
            parts.push(match position {
                Some(p) => turn.responses.swap_remove(p).1,
                None => Part {
                    function_response: Some(FunctionResponse {
                        id: None,
                        name: names.get(&call_id).cloned().unwrap_or_default(),
                        response: json!({"error": "No result was provided for this tool call."}),
                        parts: vec![],
                    }),
                    ..Default::default()
                },
            });
        }
        parts.extend(turn.response_media);
        parts.extend(turn.parts);
        if !parts.is_empty() {
            contents.push(Content::user(parts));
        }
    }
    mark_active_loop(&mut contents);
    Ok(contents)
}

/// Gemini 3 validates the signatures of the "active loop": the model turns since the last
/// user turn with real (non-functionResponse) content. The first `functionCall` of each such
/// turn that has no signature gets [`SKIP_SIGNATURE_SENTINEL`], as gemini-cli does. A user
/// turn counts as the loop's start only if it holds no function responses at all (Claude Code
/// appends text to tool results); this errs towards marking more turns, which is harmless.
fn mark_active_loop(contents: &mut [Content]) {
    let start = contents
        .iter()
        .rposition(|c| c.role.as_deref() == Some("user") && c.parts.iter().all(|p| p.function_response.is_none()))
        .map_or(0, |i| i + 1);
    for content in &mut contents[start..] {
        if content.role.as_deref() != Some("model") {
            continue;
        }
        if let Some(first) = content.parts.iter_mut().find(|p| p.function_call.is_some()) {
            first
                .thought_signature
                .get_or_insert_with(|| SKIP_SIGNATURE_SENTINEL.to_string());
        }
    }
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
