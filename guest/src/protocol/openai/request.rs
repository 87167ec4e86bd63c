//! Chat request → Gemini `GenerateContentRequest` (protocols.md §5.1).
//!
//! Messages: every `system`/`developer` message goes, in order and joined by a blank line, into
//! `systemInstruction`; `assistant` becomes `model`; consecutive turns of the same role are
//! merged. Tool results go in one `user` turn right after the model turn that called them, one
//! `functionResponse` per call, in call order, named after the call (OpenAI `tool` messages do
//! not carry the name). Legacy `function` messages answer the previous assistant message's
//! `function_call`. The pairing itself is the hub's (`gemini::turns`): as on OpenAI itself, a
//! tool call without a result, a result without a call and a duplicated result are 400s, so the
//! upstream never sees a count mismatch ("Please ensure that the number of function response
//! parts is equal to…").
//!
//! Thought signatures come back from tool-call ids (or `extra_content`); the hub's active-loop
//! rule gives unsigned calls the skip sentinel (protocols.md §1.15).

mod config;

use super::{
    signature_from_extra_content, OpenAiChatRequest, OpenAiContent, OpenAiContentPart, OpenAiFile, OpenAiInputAudio,
    OpenAiMessage, OpenAiToolCall,
};
use crate::error::GatewayError;
use crate::protocol::gemini::extras::openai_shaped_request;
use crate::protocol::gemini::media::{is_youtube, mime_from_path, url_path};
use crate::protocol::gemini::signatures::signature_from_id;
use crate::protocol::gemini::thinking::ThinkingFamily;
use crate::protocol::gemini::turns::{mark_active_loop, pair_responses, push_turn, CallKey, PairingError, Response};
use crate::protocol::gemini::{Blob, Content, FileData, FunctionCall, FunctionResponse, GenerateContentRequest, Part};
use config::{convert_tool_choice, convert_tools, generation_config};
pub(crate) use config::{json_response_format, parse_effort, thinking_config};
use serde_json::{json, Map, Value};

/// Translates an OpenAI chat request for the Gemini model `model` (already resolved from any
/// alias; it decides how `reasoning_effort` is expressed).
pub fn chat_request_to_gemini(req: &OpenAiChatRequest, model: &str) -> Result<GenerateContentRequest, GatewayError> {
    let multimodal_responses = ThinkingFamily::of(model).multimodal_function_responses();
    let (system_instruction, contents) = convert_messages(&req.messages, multimodal_responses)?;
    let tools = convert_tools(&req.tools)?;
    // Checked even without tools: a malformed tool_choice is the client's error either way.
    let calling = req.tool_choice.as_ref().map(convert_tool_choice).transpose()?;
    openai_shaped_request((system_instruction, contents), tools, calling, &req.extras, |google| {
        generation_config(req, model, google)
    })
}

// ---------------------------------------------------------------------------------------------
// Messages

/// The tool calls of the last assistant message, and the results filed against them so far.
struct PendingCalls {
    /// `messages[i]` of the assistant message, for error messages.
    at: String,
    /// The calls' keys (tool-call ids; [`CallKey::Legacy`] for a `function_call`) and names.
    calls: Vec<(CallKey, String)>,
    /// The results, with the `messages[i]` each came from.
    responses: Vec<Response<String>>,
    /// Images and files from tool results that go next to, not inside, the responses.
    media: Vec<Part>,
}

impl PendingCalls {
    fn name_of(&self, key: &CallKey) -> Option<String> {
        self.calls.iter().find(|(k, _)| k == key).map(|(_, name)| name.clone())
    }

    /// Pairs the results with the calls (the hub's rule) into one user turn.
    fn close(self, contents: &mut Vec<Content>) -> Result<(), GatewayError> {
        let keys: Vec<CallKey> = self.calls.iter().map(|(k, _)| k.clone()).collect();
        let mut parts = pair_responses(&keys, self.responses).map_err(|e| pairing_error(e, &self.at))?;
        parts.extend(self.media);
        push_turn(contents, "user", parts);
        Ok(())
    }
}

/// A pairing error in OpenAI's words: unanswered calls name the assistant message, a
/// misplaced or duplicated result names its own `tool_call_id`.
fn pairing_error(error: PairingError<String>, assistant_at: &str) -> GatewayError {
    match error {
        PairingError::Unanswered(keys) => {
            let missing: Vec<String> = keys.iter().map(ToString::to_string).collect();
            GatewayError::invalid_param(
                format!(
                    "An assistant message with 'tool_calls' must be followed by tool messages responding to each \
                     'tool_call_id'. The following tool_call_ids did not have response messages: {}",
                    missing.join(", ")
                ),
                assistant_at.to_string(),
            )
        }
        PairingError::NotAfterItsCall { key, origin } => not_after_its_call(&key, &origin),
        PairingError::Duplicate { key, origin } => GatewayError::invalid_param(
            format!("duplicated tool message for tool_call_id '{key}'"),
            param_of(&key, &origin),
        ),
    }
}

fn param_of(key: &CallKey, at: &str) -> String {
    match key {
        CallKey::Id(_) => format!("{at}.tool_call_id"),
        CallKey::Legacy => format!("{at}.name"),
    }
}

fn not_after_its_call(key: &CallKey, at: &str) -> GatewayError {
    let message = match key {
        CallKey::Id(id) => {
            format!("tool message for '{id}' must directly follow the assistant message with that tool call")
        }
        CallKey::Legacy => "function messages must directly follow an assistant message with a function_call".into(),
    };
    GatewayError::invalid_param(message, param_of(key, at))
}

/// `multimodal_responses`: media in tool results rides inside `functionResponse.parts` (Gemini
/// 3); otherwise it follows the function responses as parts of the same user turn.
fn convert_messages(
    messages: &[OpenAiMessage],
    multimodal_responses: bool,
) -> Result<(Option<Content>, Vec<Content>), GatewayError> {
    if messages.is_empty() {
        return Err(GatewayError::invalid_param(
            "messages must contain at least one message",
            "messages",
        ));
    }
    let mut system: Vec<String> = Vec::new();
    let mut contents: Vec<Content> = Vec::new();
    let mut pending: Option<PendingCalls> = None;
    let mut earlier_ids: Vec<String> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        match m.role.as_str() {
            "system" | "developer" => {
                let text = text_only(m.content.as_ref(), &at, "\n\n")?;
                if !text.is_empty() {
                    system.push(text);
                }
            }
            "tool" => tool_result(m, &at, pending.as_mut(), &earlier_ids, multimodal_responses)?,
            "function" => {
                // Legacy function-calling: the message names the function itself and answers
                // the previous assistant message's `function_call`.
                let name = m.name.clone().filter(|n| !n.is_empty()).ok_or_else(|| {
                    GatewayError::invalid_param("function messages require a name", format!("{at}.name"))
                })?;
                let Some(p) = pending.as_mut().filter(|p| p.name_of(&CallKey::Legacy).is_some()) else {
                    return Err(not_after_its_call(&CallKey::Legacy, &at));
                };
                let response = tool_response_value(text_only(m.content.as_ref(), &at, "")?);
                p.responses.push(Response {
                    key: CallKey::Legacy,
                    origin: at,
                    part: function_response(name, response, Vec::new()),
                });
            }
            "user" => {
                if let Some(done) = pending.take() {
                    done.close(&mut contents)?;
                }
                push_turn(&mut contents, "user", user_parts(m.content.as_ref(), &at)?);
            }
            "assistant" => {
                if let Some(done) = pending.take() {
                    done.close(&mut contents)?;
                }
                let (parts, calls) = assistant_parts(m, &at)?;
                push_turn(&mut contents, "model", parts);
                if !calls.is_empty() {
                    earlier_ids.extend(calls.iter().filter_map(|(key, _)| match key {
                        CallKey::Id(id) => Some(id.clone()),
                        CallKey::Legacy => None,
                    }));
                    pending = Some(PendingCalls {
                        at,
                        calls,
                        responses: Vec::new(),
                        media: Vec::new(),
                    });
                }
            }
            other => {
                return Err(GatewayError::invalid_param(
                    format!("unsupported message role '{other}'"),
                    format!("{at}.role"),
                ))
            }
        }
    }
    if let Some(done) = pending.take() {
        done.close(&mut contents)?;
    }
    mark_active_loop(&mut contents);
    if contents.is_empty() {
        if system.is_empty() {
            return Err(GatewayError::invalid_param("messages contain no content", "messages"));
        }
        // Gemini requires at least one turn; a system-only conversation gets a blank user turn
        // (an empty string would be rejected: "must include at least one parts field").
        contents.push(Content::user(vec![Part::text(" ")]));
    }
    let system_instruction = (!system.is_empty()).then(|| Content {
        role: None,
        parts: vec![Part::text(system.join("\n\n"))],
    });
    Ok((system_instruction, contents))
}

fn function_response(name: String, response: Value, parts: Vec<Part>) -> Part {
    Part {
        function_response: Some(FunctionResponse {
            id: None,
            name,
            response,
            parts,
        }),
        ..Default::default()
    }
}

/// Files a `tool` message's result against the pending calls (pairing, duplicates and order
/// are the hub's, when the turn closes).
fn tool_result(
    m: &OpenAiMessage,
    at: &str,
    pending: Option<&mut PendingCalls>,
    earlier_ids: &[String],
    multimodal_responses: bool,
) -> Result<(), GatewayError> {
    let param = format!("{at}.tool_call_id");
    let id = m
        .tool_call_id
        .as_deref()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| GatewayError::invalid_param("tool messages require a tool_call_id", param.clone()))?;
    let key = CallKey::Id(id.to_string());
    if !earlier_ids.iter().any(|e| e == id) {
        return Err(GatewayError::invalid_param(
            format!("unknown tool_call_id '{id}': no preceding assistant message has a tool call with this id"),
            param,
        ));
    }
    let Some((p, name)) = pending.and_then(|p| p.name_of(&key).map(|name| (p, name))) else {
        return Err(not_after_its_call(&key, at));
    };
    let (text, media) = tool_content(m.content.as_ref(), at)?;
    // Only inline data may go inside a functionResponse (`FunctionResponsePart`).
    let (inner, outer): (Vec<Part>, Vec<Part>) = media
        .into_iter()
        .partition(|part| multimodal_responses && part.inline_data.is_some());
    p.media.extend(outer);
    p.responses.push(Response {
        key,
        origin: at.to_string(),
        part: function_response(name, tool_response_value(text), inner),
    });
    Ok(())
}

/// A tool result as a `functionResponse.response` object: the content itself when it is a
/// JSON object, else `{"result": <text>}` (the response must be a Struct, protocols.md §1.4).
pub(crate) fn tool_response_value(text: String) -> Value {
    match serde_json::from_slice::<Value>(text.as_bytes()) {
        Ok(Value::Object(object)) => Value::Object(object),
        _ => json!({ "result": text }),
    }
}

/// A tool message's text (text parts joined) and its media parts: images and files, which the
/// Responses API allows in `function_call_output` (Codex sends screenshots that way).
fn tool_content(content: Option<&OpenAiContent>, at: &str) -> Result<(String, Vec<Part>), GatewayError> {
    let Some(OpenAiContent::Parts(parts)) = content else {
        return Ok((text_only(content, at, "")?, Vec::new()));
    };
    let mut texts = Vec::new();
    let mut media = Vec::new();
    for (j, part) in parts.iter().enumerate() {
        let param = format!("{at}.content[{j}]");
        match part.kind.as_str() {
            "text" | "input_text" | "output_text" => texts.push(part.text.clone().unwrap_or_default()),
            "image_url" => media.push(image_part(part, &param)?),
            "file" => media.push(file_part(part, &param)?),
            other => return Err(not_in_a_tool_result(other, &param)),
        }
    }
    Ok((texts.concat(), media))
}

/// A content part a tool result may not hold (Chat and Responses word it alike).
pub(crate) fn not_in_a_tool_result(kind: &str, param: &str) -> GatewayError {
    GatewayError::invalid_param(
        format!("content part type '{kind}' is not supported in a tool result; text, images and files are"),
        format!("{param}.type"),
    )
}

/// The text of a message that may only hold text (system, developer, tool); parts are joined
/// with `separator`.
fn text_only(content: Option<&OpenAiContent>, at: &str, separator: &str) -> Result<String, GatewayError> {
    match content {
        None => Ok(String::new()),
        Some(OpenAiContent::Text(text)) => Ok(text.clone()),
        Some(OpenAiContent::Parts(parts)) => {
            let mut texts = Vec::new();
            for (j, part) in parts.iter().enumerate() {
                match part.kind.as_str() {
                    "text" | "input_text" => texts.push(part.text.clone().unwrap_or_default()),
                    other => {
                        return Err(GatewayError::invalid_param(
                            format!("content part type '{other}' is not supported in this message; only text is"),
                            format!("{at}.content[{j}].type"),
                        ))
                    }
                }
            }
            Ok(texts.join(separator))
        }
    }
}

fn user_parts(content: Option<&OpenAiContent>, at: &str) -> Result<Vec<Part>, GatewayError> {
    let parts = match content {
        None => return Ok(Vec::new()),
        Some(OpenAiContent::Text(text)) => return Ok(text_part(text).into_iter().collect()),
        Some(OpenAiContent::Parts(parts)) => parts,
    };
    let mut out = Vec::new();
    for (j, part) in parts.iter().enumerate() {
        let param = format!("{at}.content[{j}]");
        out.extend(match part.kind.as_str() {
            "text" | "input_text" => text_part(part.text.as_deref().unwrap_or("")),
            "image_url" => Some(image_part(part, &param)?),
            "input_audio" => Some(audio_part(part, &param)?),
            "file" => Some(file_part(part, &param)?),
            other => {
                return Err(GatewayError::invalid_param(
                    format!("unsupported content part type '{other}'"),
                    format!("{param}.type"),
                ))
            }
        });
    }
    Ok(out)
}

/// A text part, or nothing for empty text (Gemini rejects empty-text-only turns).
pub(crate) fn text_part(text: &str) -> Option<Part> {
    (!text.is_empty()).then(|| Part::text(text))
}

fn image_part(part: &OpenAiContentPart, param: &str) -> Result<Part, GatewayError> {
    let url = part.image_url.as_ref().map(|u| u.url()).unwrap_or("");
    image_url_part(url, &format!("{param}.image_url.url"))
}

/// An image by URL (Chat's `image_url.url`, Responses' `image_url`): a data URI becomes inline
/// data, an http(s) / gs URL a file reference typed by its extension (YouTube untyped).
pub(crate) fn image_url_part(url: &str, param: &str) -> Result<Part, GatewayError> {
    let param = param.to_string();
    if url.starts_with("data:") {
        return Ok(Part {
            inline_data: Some(parse_data_uri(url, &param)?),
            ..Default::default()
        });
    }
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://") || lower.starts_with("gs://")) {
        return Err(GatewayError::invalid_param(
            "image_url must be a base64 data URI (data:image/png;base64,…) or an http(s) URL",
            param,
        ));
    }
    let mime_type = if is_youtube(&lower) {
        None // Gemini takes YouTube links without a MIME type
    } else {
        Some(mime_from_path(url_path(url)).ok_or_else(|| {
            GatewayError::invalid_param(
                format!(
                    "cannot tell the media type of image URL '{url}' from its extension; \
                     send the image as a base64 data URI instead"
                ),
                param.clone(),
            )
        })?)
    };
    Ok(Part {
        file_data: Some(FileData {
            mime_type: mime_type.map(str::to_string),
            file_uri: url.to_string(),
        }),
        ..Default::default()
    })
}

fn audio_part(part: &OpenAiContentPart, param: &str) -> Result<Part, GatewayError> {
    input_audio_part(part.input_audio.as_ref(), param)
}

/// `input_audio: {data, format}` (Chat and Responses) as inline `audio/<format>` data.
pub(crate) fn input_audio_part(audio: Option<&OpenAiInputAudio>, param: &str) -> Result<Part, GatewayError> {
    let audio = audio.filter(|a| !a.data.is_empty()).ok_or_else(|| {
        GatewayError::invalid_param(
            "input_audio parts require input_audio.data",
            format!("{param}.input_audio"),
        )
    })?;
    let format = audio.format.to_ascii_lowercase();
    if format.is_empty() {
        return Err(GatewayError::invalid_param(
            "input_audio parts require input_audio.format",
            format!("{param}.input_audio.format"),
        ));
    }
    let data = audio.data.clone();
    Ok(Part {
        inline_data: Some(Blob {
            mime_type: format!("audio/{format}"),
            data,
        }),
        ..Default::default()
    })
}

fn file_part(part: &OpenAiContentPart, param: &str) -> Result<Part, GatewayError> {
    inline_file_part(part.file.as_ref(), &format!("{param}.file"))
}

/// An inline file (Chat's `file`, Responses' `input_file`): `file_data` as a data URI or raw
/// base64 (typed by `filename`, else PDF), or a `file_id` naming a Gemini Files API file
/// (`files/...`); an OpenAI Files API id is refused.
pub(crate) fn inline_file_part(file: Option<&OpenAiFile>, param: &str) -> Result<Part, GatewayError> {
    let param = param.to_string();
    if let Some(data) = file.and_then(|f| f.file_data.as_deref()).filter(|d| !d.is_empty()) {
        let blob = if data.starts_with("data:") {
            parse_data_uri(data, &format!("{param}.file_data"))?
        } else {
            // Raw base64: the type comes from the filename; chat-completion files are PDFs
            // unless the name says otherwise.
            if !crate::protocol::gemini::is_valid_base64(data) {
                return Err(GatewayError::invalid_param(
                    "file_data is not valid base64",
                    format!("{param}.file_data"),
                ));
            }
            let mime = file
                .and_then(|f| f.filename.as_deref())
                .and_then(mime_from_path)
                .unwrap_or("application/pdf");
            Blob {
                mime_type: mime.to_string(),
                data: data.to_string(),
            }
        };
        return Ok(Part {
            inline_data: Some(blob),
            ..Default::default()
        });
    }
    if let Some(id) = file.and_then(|f| f.file_id.as_deref()) {
        // A file uploaded to Gemini's Files API (through gempool) is named by its `files/...`
        // name or URI; its type comes from the filename when one is given.
        let mime = file.and_then(|f| f.filename.as_deref()).and_then(mime_from_path);
        return crate::protocol::gemini::resources::files_api_part(id, mime).ok_or_else(|| {
            GatewayError::invalid_param(
                "file_id refers to OpenAI's Files API, which Gemini cannot read; send the file inline as file_data, \
                 or name a file uploaded to Gemini's Files API through gempool (files/...)",
                format!("{param}.file_id"),
            )
        });
    }
    Err(GatewayError::invalid_param("file parts require file.file_data", param))
}

/// `data:<mime>[;params];base64,<data>` → inline bytes.
fn parse_data_uri(uri: &str, param: &str) -> Result<Blob, GatewayError> {
    let invalid = || {
        GatewayError::invalid_param(
            "expected a base64 data URI like data:image/png;base64,<data>",
            param.to_string(),
        )
    };
    let rest = uri.strip_prefix("data:").ok_or_else(invalid)?;
    let (meta, data) = rest.split_once(',').ok_or_else(invalid)?;
    let mut fields = meta.split(';');
    let mime = fields.next().unwrap_or("").trim();
    if mime.is_empty() || data.is_empty() || !fields.any(|f| f.trim().eq_ignore_ascii_case("base64")) {
        return Err(invalid());
    }
    if !crate::protocol::gemini::is_valid_base64(data) {
        return Err(GatewayError::invalid_param(
            "the data URI's payload is not valid base64",
            param.to_string(),
        ));
    }
    Ok(Blob {
        mime_type: mime.to_ascii_lowercase(),
        data: data.to_string(),
    })
}

/// An assistant message's parts (text, then function calls) and its `(id, name)` calls.
#[allow(clippy::type_complexity)]
fn assistant_parts(m: &OpenAiMessage, at: &str) -> Result<(Vec<Part>, Vec<(CallKey, String)>), GatewayError> {
    let mut parts = Vec::new();
    match &m.content {
        None => {}
        Some(OpenAiContent::Text(text)) => parts.extend(text_part(text)),
        Some(OpenAiContent::Parts(content)) => {
            for (j, part) in content.iter().enumerate() {
                match part.kind.as_str() {
                    "text" | "output_text" => parts.extend(text_part(part.text.as_deref().unwrap_or(""))),
                    "refusal" => {} // the model's own refusal; nothing to replay
                    other => {
                        let message = format!("content part type '{other}' is not supported in assistant messages");
                        let param = format!("{at}.content[{j}].type");
                        return Err(GatewayError::invalid_param(message, param));
                    }
                }
            }
        }
    }
    let mut calls: Vec<(CallKey, String)> = Vec::new();
    if let Some(call) = &m.function_call {
        let args = parse_arguments(&call.arguments, &format!("{at}.function_call.arguments"))?;
        calls.push((CallKey::Legacy, call.name.clone()));
        parts.push(Part {
            function_call: Some(FunctionCall {
                id: None,
                name: call.name.clone(),
                args,
            }),
            ..Default::default()
        });
    }
    for (j, call) in m.tool_calls.iter().enumerate() {
        let param = format!("{at}.tool_calls[{j}]");
        parts.push(function_call_part(call, &param)?);
        let key = CallKey::Id(call.id.clone());
        if calls.iter().any(|(k, _)| *k == key) {
            return Err(GatewayError::invalid_param(
                format!("duplicated tool call id '{}'", call.id),
                param + ".id",
            ));
        }
        calls.push((key, call.function.name.clone()));
    }
    Ok((parts, calls))
}

fn function_call_part(call: &OpenAiToolCall, param: &str) -> Result<Part, GatewayError> {
    if !(call.kind.is_empty() || call.kind == "function") {
        return Err(GatewayError::invalid_param(
            format!("tool call type '{}' is not supported; only function", call.kind),
            format!("{param}.type"),
        ));
    }
    if call.id.is_empty() {
        return Err(GatewayError::invalid_param(
            "tool calls require an id",
            format!("{param}.id"),
        ));
    }
    if call.function.name.is_empty() {
        return Err(GatewayError::invalid_param(
            "tool calls require a function name",
            format!("{param}.function.name"),
        ));
    }
    let args = parse_arguments(&call.function.arguments, &format!("{param}.function.arguments"))?;
    let signature = signature_from_id(&call.id).or_else(|| signature_from_extra_content(call.extra_content.as_ref()));
    Ok(Part {
        function_call: Some(FunctionCall {
            id: None,
            name: call.function.name.clone(),
            args,
        }),
        thought_signature: signature,
        ..Default::default()
    })
}

/// `arguments` (a JSON string; an object is tolerated) → `functionCall.args` (an object).
pub(crate) fn parse_arguments(arguments: &Value, param: &str) -> Result<Value, GatewayError> {
    let value = match arguments {
        Value::Null => return Ok(Value::Object(Map::new())),
        Value::String(s) if s.trim().is_empty() => return Ok(Value::Object(Map::new())),
        Value::String(s) => serde_json::from_slice::<Value>(s.as_bytes()).map_err(|e| {
            GatewayError::invalid_param(format!("arguments are not valid JSON: {e}"), param.to_string())
        })?,
        other => other.clone(),
    };
    match value {
        Value::Object(_) => Ok(value),
        Value::Null => Ok(Value::Object(Map::new())),
        _ => Err(GatewayError::invalid_param(
            "arguments must be a JSON object",
            param.to_string(),
        )),
    }
}

#[cfg(test)]
mod tests;
