//! Anthropic Messages / count_tokens request -> Gemini `generateContent` / `countTokens`.
//!
//! Turn structure is where Gemini is strictest (§5.4.2): every `model` turn with N
//! `functionCall`s must be followed by one `user` turn holding exactly N `functionResponse`s.
//! Anthropic lets `tool_result`s come in any order, mixed with text; the hub's pairing
//! (`gemini::turns`) reorders them to the calls' order and they go first, the other blocks
//! after them. A `tool_use` the client sent no result for is a 400 (as on Anthropic itself).

use std::collections::HashMap;

use serde_json::json;

use super::super::gemini::{
    Blob, Content, CountTokensGenerateContentRequest, CountTokensRequest, FileData, FunctionCall,
    FunctionCallingConfig, FunctionDeclaration, FunctionResponse, GenerateContentRequest, GenerationConfig, Part,
    ThinkingConfig, Tool, ToolConfig,
};
use super::super::schema;
use super::{
    gemini_signature_from_thinking, AnthropicContent, AnthropicContentBlock, AnthropicCountTokensRequest,
    AnthropicMessage, AnthropicMessagesRequest, AnthropicSource, AnthropicThinking, AnthropicTool, AnthropicToolChoice,
};
use crate::error::GatewayError;
use crate::protocol::gemini::media::mime_from_url;
use crate::protocol::gemini::signatures::signature_from_id;
use crate::protocol::gemini::thinking::{self, Effort, ThinkingFamily};
use crate::protocol::gemini::turns::{mark_active_loop, pair_responses, CallKey, PairingError, Response};

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

/// Anthropic `thinking` and `output_config.effort` -> Gemini `thinkingConfig`, by the hub's
/// rules (`gemini::thinking`). Never sets both a budget and a level (a 400 upstream).
///
/// * `enabled`: `budget_tokens` as the budget ([`thinking::budget_config`]: clamped to the
///   model's range, or the nearest level on Gemini 3).
/// * `adaptive`: with an effort, the shared effort table; without one, the model's own dynamic
///   thinking.
/// * no `thinking` but an effort: the effort table, without thought summaries (Anthropic returns
///   thinking blocks only when thinking is on).
/// * `disabled`: [`thinking::off_config`] (as far down as the model allows).
///
/// `display: "omitted"` asks for no thought summaries (`includeThoughts: false`).
fn thinking_config(
    thinking: Option<&AnthropicThinking>,
    effort: Option<&str>,
    model: &str,
) -> Result<Option<ThinkingConfig>, GatewayError> {
    let family = ThinkingFamily::of(model);
    // Validates the effort even where it ends up unused.
    let effort = effort
        .map(|effort| {
            Effort::parse(effort).ok_or_else(|| {
                GatewayError::invalid_param(
                    format!("output_config.effort: {effort:?} is not one of low, medium, high, xhigh, max"),
                    "output_config.effort",
                )
            })
        })
        .transpose()?;
    let by_effort = effort.and_then(|e| thinking::effort_config(e, family));
    let shown = |display: &Option<String>| display.as_deref() != Some("omitted");
    let config = match thinking {
        None => by_effort.map(|c| (c, false)),
        Some(AnthropicThinking::Enabled { budget_tokens, display }) => {
            thinking::budget_config(i64::from(*budget_tokens), shown(display), family).map(|c| (c, shown(display)))
        }
        Some(AnthropicThinking::Adaptive { display }) => by_effort
            .or_else(|| thinking::dynamic_config(shown(display), family))
            .map(|c| (c, shown(display))),
        Some(AnthropicThinking::Disabled {}) => thinking::off_config(family).map(|c| (c, false)),
        Some(AnthropicThinking::Unknown) => {
            return Err(GatewayError::invalid_param(
                "thinking.type: expected 'enabled', 'disabled' or 'adaptive'",
                "thinking.type",
            ))
        }
    };
    Ok(config.map(|(mut config, include)| {
        config.include_thoughts = Some(include);
        config
    }))
}

// ---------------------------------------------------------------------------------------------
// Messages -> contents.
// ---------------------------------------------------------------------------------------------

/// A turn being assembled, before the function responses are paired with their calls.
#[derive(Debug, Default)]
struct Turn {
    model: bool,
    /// `messages[i]` of the turn's first message, for error messages.
    origin: usize,
    parts: Vec<Part>,
    /// Model turns: the `tool_use` id of each `functionCall` part, in order.
    call_ids: Vec<String>,
    /// User turns: the `tool_result`s (as function responses) in the client's order.
    responses: Vec<Response<usize>>,
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
    let multimodal_responses = ThinkingFamily::of(model).multimodal_function_responses();
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
        let turn = Turn { origin: i, ..turn };
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
    pair_and_assemble(turns)
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
                    thought_signature: signature_from_id(id),
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
                turn.responses.push(Response {
                    key: CallKey::Id(tool_use_id.clone()),
                    origin: i,
                    part,
                });
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
        // A file uploaded to Gemini's Files API (through gempool) by its `files/...` name;
        // Anthropic's own file ids name nothing Gemini can read.
        AnthropicSource::File { file_id } => match crate::protocol::gemini::resources::files_api_part(file_id, None) {
            Some(part) => vec![part],
            None => {
                return Err(GatewayError::invalid_param(
                    format!(
                        "{param}.source: Anthropic Files API ids are not supported; send the data as base64, \
                         or name a file uploaded to Gemini's Files API through gempool (files/...)"
                    ),
                    format!("{param}.source"),
                ))
            }
        },
        AnthropicSource::Unknown => vec![],
    })
}

/// Pairs each user turn's function responses with the calls of the model turn before it (the
/// hub's rule: in call order, every call answered once), then marks the active loop's unsigned
/// calls. Calls nobody answered, also in a trailing model turn, are the client's error.
fn pair_and_assemble(turns: Vec<Turn>) -> Result<Vec<Content>, GatewayError> {
    let mut contents: Vec<Content> = Vec::with_capacity(turns.len());
    // The previous model turn's calls and its `messages` index.
    let mut previous: (Vec<CallKey>, usize) = (Vec::new(), 0);
    for mut turn in turns {
        if turn.model {
            unanswered(&previous)?;
            previous = (turn.call_ids.drain(..).map(CallKey::Id).collect(), turn.origin);
            if !turn.parts.is_empty() {
                contents.push(Content::model(turn.parts));
            }
            continue;
        }
        let calls = std::mem::take(&mut previous.0);
        let mut parts = pair_responses(&calls, turn.responses).map_err(|e| pairing_error(e, previous.1))?;
        parts.extend(turn.response_media);
        parts.extend(turn.parts);
        if !parts.is_empty() {
            contents.push(Content::user(parts));
        }
    }
    unanswered(&previous)?;
    mark_active_loop(&mut contents);
    Ok(contents)
}

/// A model turn's calls with no user turn after them at all.
fn unanswered((calls, origin): &(Vec<CallKey>, usize)) -> Result<(), GatewayError> {
    match calls.is_empty() {
        true => Ok(()),
        false => Err(pairing_error(PairingError::Unanswered(calls.clone()), *origin)),
    }
}

/// A pairing error in Anthropic's words (those of its own API where it has them).
fn pairing_error(error: PairingError<usize>, model_turn: usize) -> GatewayError {
    match error {
        PairingError::Unanswered(keys) => {
            let ids: Vec<String> = keys.iter().map(ToString::to_string).collect();
            GatewayError::invalid_param(
                format!(
                    "messages.{model_turn}: `tool_use` ids were found without `tool_result` blocks immediately after: {}. \
                     Each `tool_use` block must have a corresponding `tool_result` block in the next message.",
                    ids.join(", ")
                ),
                format!("messages.{model_turn}"),
            )
        }
        PairingError::NotAfterItsCall { key, origin } => GatewayError::invalid_param(
            format!(
                "messages.{origin}: tool_result for {:?} must directly follow the assistant message with that tool_use",
                key.to_string()
            ),
            format!("messages.{origin}"),
        ),
        PairingError::Duplicate { key, origin } => GatewayError::invalid_param(
            format!(
                "messages.{origin}: each tool_use may have only one tool_result; {:?} has more",
                key.to_string()
            ),
            format!("messages.{origin}"),
        ),
    }
}

#[cfg(test)]
mod tests;
