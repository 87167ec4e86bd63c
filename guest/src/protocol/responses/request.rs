//! Responses request -> Gemini `GenerateContentRequest`, mapped onto the hub directly.
//!
//! Input items become turns in order: `system` / `developer` messages (and `instructions`)
//! join the system instruction; `user` messages are user turns; consecutive assistant
//! `message` and call items (`function_call`, `custom_tool_call`, `local_shell_call`) form one
//! model turn, in item order; the outputs after them are paired with the calls by the hub
//! (`gemini::turns`). A replayed `reasoning` item puts the thought signatures it carries
//! ([`TurnSignatures`]) back on its model turn: the one before it, or (OpenAI's order) the one
//! it precedes. Errors name the Responses field (`input[3].arguments`, `text.format`).

use super::tools::{self, LOCAL_SHELL};
use super::{OpenAiResponsesRequest, ResponsesContent, ResponsesInput, ResponsesInputItem, TurnSignatures};
use crate::error::GatewayError;
use crate::protocol::gemini::extras::{openai_shaped_request, GoogleExtras};
use crate::protocol::gemini::signatures::{signature_from_id, SKIP_SIGNATURE};
use crate::protocol::gemini::thinking::ThinkingFamily;
use crate::protocol::gemini::turns::{mark_active_loop, pair_responses, push_turn, CallKey, PairingError, Response};
use crate::protocol::gemini::{
    Content, FunctionCall, FunctionResponse, GenerateContentRequest, GenerationConfig, Part,
};
use crate::protocol::openai::request::{
    image_url_part, inline_file_part, input_audio_part, json_response_format, not_in_a_tool_result, parse_arguments,
    parse_effort, text_part, thinking_config, tool_response_value,
};
use crate::protocol::openai::OpenAiFile;
use serde_json::Value;

/// Translates a Responses request for the Gemini model `model` (already resolved from any alias).
pub fn responses_request_to_gemini(
    req: &OpenAiResponsesRequest,
    model: &str,
) -> Result<GenerateContentRequest, GatewayError> {
    if req.previous_response_id.as_deref().is_some_and(|id| !id.is_empty()) {
        return Err(GatewayError::invalid_param(
            "previous_response_id is not supported: this gateway stores no responses. Send the whole \
             conversation in `input` instead (the output items of the previous response, then the new items).",
            "previous_response_id",
        ));
    }
    if req.conversation.as_ref().is_some_and(|c| !c.is_null()) {
        return Err(GatewayError::invalid_param(
            "conversation is not supported: this gateway stores no conversations. Send the whole \
             conversation in `input` instead.",
            "conversation",
        ));
    }
    let multimodal = ThinkingFamily::of(model).multimodal_function_responses();
    let (system_instruction, contents) = Conversation::build(req, multimodal)?;
    let declarations = tools::declared_tools(&tools::effective_tools(&req.tools, req.input_items()))?;
    let calling = req
        .tool_choice
        .as_ref()
        .map(tools::function_calling_config)
        .transpose()?
        .flatten();
    openai_shaped_request(
        (system_instruction, contents),
        declarations,
        calling,
        &req.extras,
        |google| generation_config(req, model, google),
    )
}

/// `max_output_tokens`, sampling, `text.format` and `reasoning` -> `generationConfig`.
fn generation_config(
    req: &OpenAiResponsesRequest,
    model: &str,
    google: Option<&GoogleExtras>,
) -> Result<GenerationConfig, GatewayError> {
    let mut config = GenerationConfig {
        max_output_tokens: req.max_output_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        ..Default::default()
    };
    if let Some(format) = req.text.as_ref().and_then(|t| t.format.as_ref()) {
        json_response_format(
            &mut config,
            &format.kind,
            format.schema.as_ref(),
            ("text.format", "text.format.schema", "text.format"),
        )?;
    }
    let reasoning = req.reasoning.as_ref();
    let effort_name = reasoning.and_then(|r| r.effort.as_deref());
    let effort = effort_name.map(|e| parse_effort(e, "reasoning.effort")).transpose()?;
    let explicit = google.and_then(|g| g.thinking_config.as_ref());
    config.thinking_config = thinking_config(effort, explicit, model);
    let explicit_thinking = explicit.is_some();
    if !explicit_thinking && effort_name.is_some_and(|e| e != "none") {
        // OpenAI returns reasoning summaries only when `reasoning.summary` asks for them.
        let wants_summary = reasoning.and_then(|r| r.summary()).is_some_and(|s| s != "none");
        if let Some(thinking) = config.thinking_config.as_mut() {
            thinking.include_thoughts = Some(wants_summary);
        }
    }
    Ok(config)
}

/// The model turn being assembled from assistant items.
#[derive(Default)]
struct ModelTurn {
    parts: Vec<Part>,
    /// The key of each call, and the input index of its item.
    calls: Vec<(CallKey, usize)>,
    /// Signatures of replayed `reasoning` items that belong to this turn.
    signatures: Vec<TurnSignatures>,
}

/// The input, turn by turn.
#[derive(Default)]
struct Conversation {
    system: Vec<String>,
    contents: Vec<Content>,
    /// The open model turn (assistant items since the last other item).
    model: Option<ModelTurn>,
    /// The calls of the last closed model turn and the outputs filed against them.
    calls: Vec<(CallKey, usize)>,
    responses: Vec<Response<usize>>,
    response_media: Vec<Part>,
    /// A reasoning item seen before the model turn it belongs to.
    pending_signatures: Vec<TurnSignatures>,
    /// Names of the calls so far, by key (outputs do not carry the name).
    names: Vec<(CallKey, String)>,
    multimodal: bool,
}

impl Conversation {
    fn build(req: &OpenAiResponsesRequest, multimodal: bool) -> Result<(Option<Content>, Vec<Content>), GatewayError> {
        let mut conv = Conversation {
            multimodal,
            ..Default::default()
        };
        if let Some(instructions) = req.instructions.as_deref().filter(|i| !i.is_empty()) {
            conv.system.push(instructions.to_string());
        }
        let items = match &req.input {
            None => &[][..],
            Some(ResponsesInput::Text(text)) => {
                conv.contents.extend(text_part(text).map(|p| Content::user(vec![p])));
                if text.is_empty() && conv.system.is_empty() {
                    return Err(GatewayError::invalid_param("input must not be empty", "input"));
                }
                &[][..]
            }
            Some(ResponsesInput::Items(items)) => items.as_slice(),
        };
        if conv.system.is_empty() && conv.contents.is_empty() && items.is_empty() {
            return Err(GatewayError::invalid_param("input must not be empty", "input"));
        }
        let keys = tools::call_keys(items);
        tools::check_call_pairing(items, &keys)?;
        for (i, item) in items.iter().enumerate() {
            conv.item(item, i, keys[i].as_deref())?;
        }
        conv.close_model();
        conv.close_responses()?;
        mark_active_loop(&mut conv.contents);
        if conv.contents.is_empty() {
            if conv.system.is_empty() {
                return Err(GatewayError::invalid_param("input contains no content", "input"));
            }
            // Gemini requires at least one turn; an instructions-only request gets a blank user
            // turn (an empty text would be rejected).
            conv.contents.push(Content::user(vec![Part::text(" ")]));
        }
        let system = (!conv.system.is_empty()).then(|| Content {
            role: None,
            parts: vec![Part::text(conv.system.join("\n\n"))],
        });
        Ok((system, conv.contents))
    }

    fn item(&mut self, item: &ResponsesInputItem, i: usize, key: Option<&str>) -> Result<(), GatewayError> {
        let at = format!("input[{i}]");
        let kind = if item.kind.is_empty() && item.role.is_some() {
            "message"
        } else {
            item.kind.as_str()
        };
        match kind {
            "message" => match item.role.as_deref().unwrap_or("") {
                "system" | "developer" => {
                    let text = system_text(item.content.as_ref(), &at)?;
                    if !text.is_empty() {
                        self.system.push(text);
                    }
                }
                "user" => {
                    self.pending_signatures.clear();
                    let parts = user_parts(item.content.as_ref(), &at)?;
                    self.close_model();
                    self.close_responses()?;
                    push_turn(&mut self.contents, "user", parts);
                }
                "assistant" => {
                    let parts = assistant_parts(item.content.as_ref(), &at)?;
                    self.open_model()?.parts.extend(parts);
                }
                other => {
                    return Err(GatewayError::invalid_param(
                        format!("unsupported message role '{other}'"),
                        format!("{at}.role"),
                    ))
                }
            },
            "function_call" | "custom_tool_call" | "local_shell_call" => {
                let name = match kind {
                    "local_shell_call" => LOCAL_SHELL.to_string(),
                    _ => item
                        .name
                        .as_deref()
                        .filter(|n| !n.is_empty())
                        .map(|name| tools::gemini_name(item.namespace.as_deref(), name))
                        .ok_or_else(|| {
                            GatewayError::invalid_param(format!("{kind} items require a name"), format!("{at}.name"))
                        })?,
                };
                let args = match kind {
                    "custom_tool_call" => tools::custom_call_arguments(item),
                    "local_shell_call" => tools::local_shell_arguments(item, &at)?,
                    _ => parse_arguments(
                        item.arguments.as_ref().unwrap_or(&Value::Null),
                        &format!("{at}.arguments"),
                    )?,
                };
                let call_id = required_call_id(item, key, &at)?;
                let key = CallKey::Id(call_id.clone());
                self.names.retain(|(k, _)| *k != key);
                self.names.push((key.clone(), name.clone()));
                let turn = self.open_model()?;
                if turn.calls.iter().any(|(k, _)| *k == key) {
                    return Err(GatewayError::invalid_param(
                        format!("duplicated call_id '{call_id}' in one assistant turn"),
                        format!("{at}.call_id"),
                    ));
                }
                turn.calls.push((key, i));
                turn.parts.push(Part {
                    function_call: Some(FunctionCall { id: None, name, args }),
                    thought_signature: signature_from_id(&call_id),
                    ..Default::default()
                });
            }
            "function_call_output" | "custom_tool_call_output" | "local_shell_call_output" => {
                let call_id = required_call_id(item, key, &at)?;
                self.close_model();
                let key = CallKey::Id(call_id);
                let name = self
                    .names
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, n)| n.clone())
                    .unwrap_or_default();
                let (text, media) = output_content(item.output.as_ref(), &at)?;
                let (inner, outer): (Vec<Part>, Vec<Part>) = media
                    .into_iter()
                    .partition(|part| self.multimodal && part.inline_data.is_some());
                self.response_media.extend(outer);
                self.responses.push(Response {
                    key,
                    origin: i,
                    part: Part {
                        function_response: Some(FunctionResponse {
                            id: None,
                            name,
                            response: tool_response_value(text),
                            parts: inner,
                        }),
                        ..Default::default()
                    },
                });
            }
            // The model's own earlier thoughts: the summary is not replayed (Gemini cannot take
            // thoughts back), the thought signatures gempool put in `encrypted_content` are.
            "reasoning" => {
                let Some(sigs) = item.encrypted_content.as_deref().and_then(TurnSignatures::decode) else {
                    return Ok(());
                };
                match self.model.as_mut() {
                    Some(turn) => turn.signatures.push(sigs),
                    None => self.pending_signatures.push(sigs),
                }
            }
            // Its tools joined the request's tools (`tools::effective_tools`).
            tools::ADDITIONAL_TOOLS => {}
            "item_reference" => {
                return Err(GatewayError::invalid_param(
                    "item_reference is not supported: this gateway stores no items; send the item itself",
                    format!("{at}.type"),
                ))
            }
            "" => {
                return Err(GatewayError::invalid_param(
                    "input items require a type (or a role for messages)",
                    format!("{at}.type"),
                ))
            }
            other => {
                return Err(GatewayError::invalid_param(
                    format!(
                        "input item type '{other}' is not supported; use message, function_call, \
                         function_call_output, custom_tool_call, custom_tool_call_output, local_shell_call, \
                         local_shell_call_output, reasoning or additional_tools"
                    ),
                    format!("{at}.type"),
                ))
            }
        }
        Ok(())
    }

    /// The model turn an assistant item joins: the open one, or a new one (after pairing the
    /// previous turn's outputs), which takes the signatures of a reasoning item before it.
    fn open_model(&mut self) -> Result<&mut ModelTurn, GatewayError> {
        if self.model.is_none() {
            self.close_responses()?;
            self.model = Some(ModelTurn {
                signatures: std::mem::take(&mut self.pending_signatures),
                ..Default::default()
            });
        }
        Ok(self.model.get_or_insert_with(ModelTurn::default))
    }

    /// Ends the open model turn: its signatures go back on its parts, its calls await outputs.
    fn close_model(&mut self) {
        let Some(mut turn) = self.model.take() else { return };
        for sigs in &turn.signatures {
            restore_signatures(&mut turn.parts, sigs);
        }
        self.calls = turn.calls;
        push_turn(&mut self.contents, "model", turn.parts);
    }

    /// Pairs the outputs with the last model turn's calls (the hub's rule) into a user turn.
    fn close_responses(&mut self) -> Result<(), GatewayError> {
        let calls = std::mem::take(&mut self.calls);
        let responses = std::mem::take(&mut self.responses);
        let keys: Vec<CallKey> = calls.iter().map(|(k, _)| k.clone()).collect();
        let mut parts = pair_responses(&keys, responses).map_err(|e| pairing_error(e, &calls))?;
        parts.append(&mut self.response_media);
        push_turn(&mut self.contents, "user", parts);
        Ok(())
    }
}

/// A pairing error in OpenAI's Responses words.
fn pairing_error(error: PairingError<usize>, calls: &[(CallKey, usize)]) -> GatewayError {
    match error {
        PairingError::Unanswered(keys) => {
            let first = keys.first().and_then(|k| calls.iter().find(|(c, _)| c == k));
            let (id, at) = first.map_or((String::new(), 0), |(k, i)| (k.to_string(), *i));
            GatewayError::invalid_param(
                format!("No tool output found for function call {id}."),
                format!("input[{at}]"),
            )
        }
        PairingError::NotAfterItsCall { key, origin } => GatewayError::invalid_param(
            format!("The output for call_id {key} must directly follow the assistant turn with that call."),
            format!("input[{origin}].call_id"),
        ),
        PairingError::Duplicate { key, origin } => GatewayError::invalid_param(
            format!("Duplicate tool output for call_id {key}."),
            format!("input[{origin}].call_id"),
        ),
    }
}

/// Puts a replayed reasoning item's signatures back: the text signature on the turn's last
/// text part, call signatures on the turn's calls (by index) that have none (or only the skip
/// sentinel).
fn restore_signatures(parts: &mut [Part], sigs: &TurnSignatures) {
    if let Some(sig) = &sigs.text {
        let last_text = parts
            .iter_mut()
            .rev()
            .find(|p| p.text.is_some() && !p.is_thought() && p.function_call.is_none());
        if let Some(part) = last_text.filter(|p| p.thought_signature.is_none()) {
            part.thought_signature = Some(sig.clone());
        }
    }
    for (index, sig) in &sigs.calls {
        let call = parts.iter_mut().filter(|p| p.function_call.is_some()).nth(*index);
        if let Some(part) = call {
            if part.thought_signature.as_deref().is_none_or(|s| s == SKIP_SIGNATURE) {
                part.thought_signature = Some(sig.clone());
            }
        }
    }
}

fn required_call_id(item: &ResponsesInputItem, key: Option<&str>, at: &str) -> Result<String, GatewayError> {
    key.map(str::to_string).ok_or_else(|| {
        GatewayError::invalid_param(
            format!("{} items require a call_id", item.kind),
            format!("{at}.call_id"),
        )
    })
}

/// The parts of a content as (part index, part); a string is one `input_text`.
fn content_parts(content: Option<&ResponsesContent>) -> Vec<(usize, super::ResponsesContentPart)> {
    match content {
        None => Vec::new(),
        Some(ResponsesContent::Text(text)) => vec![(
            0,
            super::ResponsesContentPart {
                kind: "input_text".into(),
                text: Some(text.clone()),
                ..Default::default()
            },
        )],
        Some(ResponsesContent::Parts(parts)) => parts.iter().cloned().enumerate().collect(),
    }
}

/// A `system` / `developer` message: text only, parts joined by a blank line.
fn system_text(content: Option<&ResponsesContent>, at: &str) -> Result<String, GatewayError> {
    let mut texts = Vec::new();
    for (j, part) in content_parts(content) {
        match part.kind.as_str() {
            "input_text" | "text" => texts.push(part.text.unwrap_or_default()),
            other => {
                return Err(GatewayError::invalid_param(
                    format!("content part type '{other}' is not supported in this message; only text is"),
                    format!("{at}.content[{j}].type"),
                ))
            }
        }
    }
    Ok(texts.join("\n\n"))
}

/// A media part (`input_image`, `input_file`, `input_audio`) as a Gemini part.
fn media_part(part: &super::ResponsesContentPart, param: &str) -> Result<Option<Part>, GatewayError> {
    Ok(Some(match part.kind.as_str() {
        "input_image" => {
            let url = part.image_url.as_deref().filter(|u| !u.is_empty()).ok_or_else(|| {
                let message = if part.file_id.is_some() {
                    "file_id refers to OpenAI's Files API, which Gemini cannot read; send the image as image_url \
                     (a data URI or an http(s) URL)"
                } else {
                    "input_image parts require image_url"
                };
                GatewayError::invalid_param(message, format!("{param}.image_url"))
            })?;
            image_url_part(url, &format!("{param}.image_url"))?
        }
        "input_file" => {
            if part.file_data.is_none() && part.file_url.is_some() {
                return Err(GatewayError::invalid_param(
                    "input_file with file_url is not supported; send the file inline as file_data",
                    format!("{param}.file_url"),
                ));
            }
            let file = OpenAiFile {
                file_data: part.file_data.clone(),
                file_id: part.file_id.clone(),
                filename: part.filename.clone(),
            };
            inline_file_part(Some(&file), param)?
        }
        "input_audio" => input_audio_part(part.input_audio.as_ref(), param)?,
        _ => return Ok(None),
    }))
}

/// A `user` message's parts: text and media.
fn user_parts(content: Option<&ResponsesContent>, at: &str) -> Result<Vec<Part>, GatewayError> {
    let mut out = Vec::new();
    for (j, part) in content_parts(content) {
        let param = format!("{at}.content[{j}]");
        match part.kind.as_str() {
            "input_text" | "text" => out.extend(text_part(part.text.as_deref().unwrap_or(""))),
            _ => match media_part(&part, &param)? {
                Some(media) => out.push(media),
                None => {
                    return Err(GatewayError::invalid_param(
                        format!("unsupported content part type '{}'", part.kind),
                        format!("{param}.type"),
                    ))
                }
            },
        }
    }
    Ok(out)
}

/// An assistant `message`'s text (a refusal is the model's own: nothing to replay).
fn assistant_parts(content: Option<&ResponsesContent>, at: &str) -> Result<Vec<Part>, GatewayError> {
    let mut out = Vec::new();
    for (j, part) in content_parts(content) {
        match part.kind.as_str() {
            "output_text" | "input_text" | "text" => out.extend(text_part(part.text.as_deref().unwrap_or(""))),
            "refusal" => {}
            other => {
                return Err(GatewayError::invalid_param(
                    format!("content part type '{other}' is not supported in assistant messages"),
                    format!("{at}.content[{j}].type"),
                ))
            }
        }
    }
    Ok(out)
}

/// A call output's text (text parts joined) and media (Codex sends screenshots this way).
fn output_content(content: Option<&ResponsesContent>, at: &str) -> Result<(String, Vec<Part>), GatewayError> {
    let mut texts = Vec::new();
    let mut media = Vec::new();
    for (j, part) in content_parts(content) {
        let param = format!("{at}.output[{j}]");
        match part.kind.as_str() {
            "input_text" | "output_text" | "text" => texts.push(part.text.unwrap_or_default()),
            "input_image" | "input_file" => media.extend(media_part(&part, &param)?),
            other => return Err(not_in_a_tool_result(other, &param)),
        }
    }
    Ok((texts.concat(), media))
}
