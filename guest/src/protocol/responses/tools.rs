//! Tools and tool calls of the Responses API beyond plain functions, as Codex CLI drives them,
//! and the thought signatures carried in `reasoning.encrypted_content`.
//!
//! * `custom` tools (free-form input, e.g. Codex's `apply_patch` with a Lark grammar) become a
//!   Gemini function taking one string parameter `input`; the grammar goes into the description
//!   (Gemini cannot constrain to it). Gemini's call comes back as a `custom_tool_call` item with
//!   that string as `input`; a replayed `custom_tool_call` becomes `functionCall {input}`.
//! * `local_shell` (older Codex) becomes a function `local_shell(command[], workdir, timeout_ms)`;
//!   Gemini's call comes back as a `local_shell_call` item with an `exec` action.
//! * `namespace` tools (`{"type": "namespace", "name", "description", "tools": [...]}`, at the
//!   top level or in `additional_tools` input items, as current Codex sends them) are flattened:
//!   each inner `function` / `custom` tool becomes one Gemini function named
//!   `<namespace>__<name>` ([`namespaced_name`]; cut and hashed past Gemini's 64 characters), its
//!   description prefixed with the namespace's. Gemini's calls come back as items with the
//!   original `name` and `namespace`; replayed items with a `namespace` map back the same way.
//!   Gemini has one tool list per request, so tools an `additional_tools` item adds are
//!   available for the whole request, not only from that item on.
//! * [`TurnSignatures`]: with `include: ["reasoning.encrypted_content"]`, the signatures of a
//!   response (on text parts and function calls) are handed out in a trailing `reasoning` item
//!   and put back on the same model turn when the item is replayed, so text-only answers keep
//!   their signature too. Call signatures also still travel in `call_id`s.

use super::{ResponsesInputItem, ResponsesTool, ResponsesToolChoice};
use crate::error::GatewayError;
use crate::protocol::gemini::{FunctionCallingConfig, FunctionDeclaration};
use crate::protocol::schema;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};

/// The function `local_shell` is exposed as.
pub(crate) const LOCAL_SHELL: &str = "local_shell";
/// The longest grammar definition copied into a custom tool's description (in bytes); longer
/// ones are cut at a character boundary and marked.
pub(crate) const MAX_GRAMMAR_CHARS: usize = 8_000;

/// Separates a namespace from a tool name in the Gemini function name of a namespaced tool
/// (Gemini function-call names allow only `[a-zA-Z0-9_-]`).
pub(crate) const NAMESPACE_SEPARATOR: &str = "__";
/// Gemini's limit on function names.
const MAX_FUNCTION_NAME: usize = 64;

/// What kind of Responses tool a Gemini function name stands for, so that Gemini's calls come
/// back as the item type (and under the namespace) the client declared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolKinds {
    /// Gemini names of `custom` tools.
    pub custom: Vec<String>,
    /// A `local_shell` tool is declared.
    pub local_shell: bool,
    /// Namespaced tools: (Gemini name, namespace, name in the namespace).
    pub namespaced: Vec<(String, String, String)>,
}

impl ToolKinds {
    /// From the request's [`effective_tools`].
    pub fn new(tools: &[EffectiveTool]) -> Self {
        let nonempty = |t: &&EffectiveTool| t.tool.name.as_deref().is_some_and(|n| !n.is_empty());
        ToolKinds {
            custom: tools
                .iter()
                .filter(|t| t.tool.kind == "custom")
                .filter(nonempty)
                .filter_map(|t| t.tool.name.clone())
                .collect(),
            local_shell: tools.iter().any(|t| t.tool.kind == LOCAL_SHELL),
            namespaced: tools
                .iter()
                .filter(nonempty)
                .filter_map(|t| {
                    let (namespace, name) = t.namespace.clone()?;
                    Some((t.tool.name.clone()?, namespace, name))
                })
                .collect(),
        }
    }

    pub(crate) fn is_custom(&self, name: &str) -> bool {
        self.custom.iter().any(|c| c == name)
    }

    pub(crate) fn is_local_shell(&self, name: &str) -> bool {
        self.local_shell && name == LOCAL_SHELL
    }

    /// The client's (namespace, name) of a Gemini function name, if it stands for a
    /// namespaced tool.
    pub(crate) fn namespace_of(&self, gemini_name: &str) -> Option<(&str, &str)> {
        self.namespaced
            .iter()
            .find(|(flat, _, _)| flat == gemini_name)
            .map(|(_, namespace, name)| (namespace.as_str(), name.as_str()))
    }
}

/// A tool as Gemini will be given it, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectiveTool {
    /// The tool; a namespaced one renamed to its Gemini name.
    pub tool: ResponsesTool,
    /// Where the client declared it (`tools[2]`, `input[0].tools[1].tools[3]`), for errors.
    pub origin: String,
    /// For a tool inside a `namespace`: (namespace, original name).
    pub namespace: Option<(String, String)>,
}

/// The Gemini function name of tool `name` in `namespace`: `<namespace>__<name>`; a longer
/// result than Gemini allows is cut and ends with a hash of the whole, so it stays unique.
pub fn namespaced_name(namespace: &str, name: &str) -> String {
    let flat = format!("{namespace}{NAMESPACE_SEPARATOR}{name}");
    if flat.len() <= MAX_FUNCTION_NAME {
        return flat;
    }
    // FNV-1a: stable across builds and platforms, unlike the std hasher.
    let hash = flat.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let suffix = format!("_{:08x}", hash as u32);
    let mut end = MAX_FUNCTION_NAME - suffix.len();
    while !flat.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{suffix}", &flat[..end])
}

/// Every tool of the request: the top-level `tools`, then those of each `additional_tools`
/// input item, in order; `namespace` tools flattened into their inner tools.
pub fn effective_tools(tools: &[ResponsesTool], items: &[ResponsesInputItem]) -> Vec<EffectiveTool> {
    let mut out = Vec::new();
    let mut add = |tools: &[ResponsesTool], at: &str| {
        for (i, tool) in tools.iter().enumerate() {
            let origin = format!("{at}[{i}]");
            if tool.kind != "namespace" {
                out.push(EffectiveTool {
                    tool: tool.clone(),
                    origin,
                    namespace: None,
                });
                continue;
            }
            let namespace = tool.name.clone().unwrap_or_default();
            let inner: Vec<ResponsesTool> = tool
                .other
                .get("tools")
                .cloned()
                .and_then(|t| serde_json::from_value(t).ok())
                .unwrap_or_default();
            let description = tool.description.as_deref().map(str::trim).filter(|d| !d.is_empty());
            for (j, inner) in inner.into_iter().enumerate() {
                let name = inner.name.clone().unwrap_or_default();
                let mut flat = inner;
                if !name.is_empty() && !namespace.is_empty() {
                    flat.name = Some(namespaced_name(&namespace, &name));
                }
                if let Some(prefix) = description {
                    let own = flat.description.as_deref().map(str::trim).unwrap_or_default();
                    flat.description = Some(if own.is_empty() {
                        prefix.to_string()
                    } else {
                        format!("{prefix}\n\n{own}")
                    });
                }
                out.push(EffectiveTool {
                    tool: flat,
                    origin: format!("{origin}.tools[{j}]"),
                    namespace: (!name.is_empty() && !namespace.is_empty()).then(|| (namespace.clone(), name)),
                });
            }
        }
    };
    add(tools, "tools");
    for (k, item) in items.iter().enumerate() {
        if item.kind == ADDITIONAL_TOOLS {
            add(&item.tools, &format!("input[{k}].tools"));
        }
    }
    out
}

/// The input item type that adds tools mid-conversation.
pub(crate) const ADDITIONAL_TOOLS: &str = "additional_tools";

// ---------------------------------------------------------------------------------------------
// Declarations

/// The tools Gemini is given, as function declarations. `function`, `custom` and
/// `local_shell` tools are declared; hosted tools (`web_search`, `mcp`, `tool_search`, …) are
/// skipped. Two tools may not share a name.
pub(crate) fn declared_tools(tools: &[EffectiveTool]) -> Result<Vec<FunctionDeclaration>, GatewayError> {
    let mut out: Vec<FunctionDeclaration> = Vec::new();
    for effective in tools {
        let (tool, at) = (&effective.tool, &effective.origin);
        let named = |kind: &str| {
            tool.name.clone().filter(|n| !n.is_empty()).ok_or_else(|| {
                GatewayError::invalid_param(format!("{kind} tools require a name"), format!("{at}.name"))
            })
        };
        let (name, description, parameters) = match tool.kind.as_str() {
            "function" => (named("function")?, tool.description.clone(), tool.parameters.clone()),
            "custom" => (
                named("custom")?,
                Some(custom_description(tool)),
                Some(json!({
                    "type": "object",
                    "properties": {"input": {"type": "string", "description": "The tool's free-form input, as raw text (not JSON)."}},
                    "required": ["input"],
                })),
            ),
            LOCAL_SHELL => (
                LOCAL_SHELL.to_string(),
                Some(
                    "Runs a command on the user's machine (no shell unless you invoke one, e.g. \
                     [\"bash\", \"-lc\", \"ls -la\"]) and returns its output."
                        .into(),
                ),
                Some(json!({
                    "type": "object",
                    "properties": {
                        "command": {"type": "array", "items": {"type": "string"},
                                    "description": "The program and its arguments."},
                        "workdir": {"type": "string", "description": "The working directory to run the command in."},
                        "timeout_ms": {"type": "integer", "description": "Timeout in milliseconds."},
                    },
                    "required": ["command"],
                })),
            ),
            _ => continue,
        };
        if out.iter().any(|d| d.name == name) {
            return Err(GatewayError::invalid_param(
                format!("tool names must be unique: '{name}' is declared twice"),
                at.clone(),
            ));
        }
        out.push(FunctionDeclaration {
            name,
            description: description.filter(|d| !d.is_empty()),
            // `strict` lives beside `parameters` and is simply not forwarded.
            parameters: parameters.as_ref().and_then(schema::tool_parameters),
            parameters_json_schema: None,
        });
    }
    Ok(out)
}

/// A custom tool's description for Gemini: its own description, how to fill `input`, and the
/// grammar (cut to [`MAX_GRAMMAR_CHARS`]) if it has one.
fn custom_description(tool: &ResponsesTool) -> String {
    let mut text = tool.description.clone().unwrap_or_default().trim().to_string();
    if !text.is_empty() {
        text.push_str("\n\n");
    }
    let format = tool.other.get("format");
    let definition = format
        .filter(|f| f.get("type").and_then(Value::as_str) == Some("grammar"))
        .and_then(|f| f.get("definition"))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|d| !d.is_empty());
    match definition {
        Some(definition) => {
            let syntax = format
                .and_then(|f| f.get("syntax"))
                .and_then(Value::as_str)
                .unwrap_or("lark");
            text.push_str(&format!(
                "Put the tool's free-form input in the `input` string, exactly as raw text (not JSON). \
                 It must match this {syntax} grammar:\n"
            ));
            if definition.len() > MAX_GRAMMAR_CHARS {
                let mut end = MAX_GRAMMAR_CHARS;
                while !definition.is_char_boundary(end) {
                    end -= 1;
                }
                text.push_str(&definition[..end]);
                text.push_str("\n… (grammar truncated)");
            } else {
                text.push_str(definition);
            }
        }
        None => text.push_str("Put the tool's free-form input in the `input` string, as raw text (not JSON)."),
    }
    text
}

/// `tool_choice` -> Gemini's function-calling config; `None` for a hosted tool type (its tool
/// is skipped too). Function and custom choices both name a Gemini function (`ANY` +
/// `allowedFunctionNames`); `allowed_tools` restricts names only when `required` (Gemini
/// restricts names only in ANY mode).
pub(crate) fn function_calling_config(
    choice: &ResponsesToolChoice,
) -> Result<Option<FunctionCallingConfig>, GatewayError> {
    let config = |mode: &str, names: Vec<String>| {
        Ok(Some(FunctionCallingConfig {
            mode: mode.into(),
            allowed_function_names: names,
        }))
    };
    let invalid = |message: &str, param: &str| Err(GatewayError::invalid_param(message, param));
    match choice {
        ResponsesToolChoice::Mode(mode) => match mode.as_str() {
            "none" => config("NONE", Vec::new()),
            "auto" => config("AUTO", Vec::new()),
            "required" => config("ANY", Vec::new()),
            _ => invalid("tool_choice must be none, auto, required or an object", "tool_choice"),
        },
        ResponsesToolChoice::Object(object) => match object.kind.as_str() {
            "function" | "custom" => match object.name.as_deref().filter(|n| !n.is_empty()) {
                Some(name) => config("ANY", vec![gemini_name(object.namespace.as_deref(), name)]),
                None => invalid("tool_choice.name is required", "tool_choice.name"),
            },
            LOCAL_SHELL => config("ANY", vec![LOCAL_SHELL.into()]),
            "allowed_tools" => match object.mode.as_deref().unwrap_or("") {
                "required" => config(
                    "ANY",
                    object
                        .tools
                        .iter()
                        .flatten()
                        .filter_map(|t| match t.kind.as_str() {
                            "function" | "custom" => Some(gemini_name(
                                t.other.get("namespace").and_then(Value::as_str),
                                t.name.as_deref().unwrap_or_default(),
                            )),
                            LOCAL_SHELL => Some(LOCAL_SHELL.into()),
                            _ => None,
                        })
                        .collect(),
                ),
                "auto" | "" => config("AUTO", Vec::new()),
                _ => invalid("tool_choice.mode must be auto or required", "tool_choice.mode"),
            },
            _ => Ok(None),
        },
    }
}

/// The Gemini function name of a tool the client names by `name` and, for a namespaced tool,
/// `namespace`.
pub(crate) fn gemini_name(namespace: Option<&str>, name: &str) -> String {
    match namespace.filter(|n| !n.is_empty()) {
        Some(namespace) if !name.is_empty() => namespaced_name(namespace, name),
        _ => name.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Call items

/// Input item types that are tool calls, and the outputs that answer them.
pub(crate) const CALL_KINDS: [&str; 3] = ["function_call", "custom_tool_call", "local_shell_call"];
pub(crate) const OUTPUT_KINDS: [&str; 3] = [
    "function_call_output",
    "custom_tool_call_output",
    "local_shell_call_output",
];

/// How OpenAI words a call kind in its errors.
pub(crate) fn call_words(kind: &str) -> &'static str {
    match kind {
        "custom_tool_call" => "custom tool call",
        "local_shell_call" => "local shell call",
        _ => "function call",
    }
}

/// The id that pairs each call item with its output: `call_id`; a `local_shell_call` without
/// one goes by its `id`, and a `local_shell_call_output` may name its call by the call's `id`.
pub(crate) fn call_keys(items: &[ResponsesInputItem]) -> Vec<Option<String>> {
    let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
    let shell_ids: Vec<(String, String)> = items
        .iter()
        .filter(|i| i.kind == "local_shell_call")
        .filter_map(|i| {
            let key = nonempty(&i.call_id).or_else(|| nonempty(&i.id))?;
            Some((nonempty(&i.id)?, key))
        })
        .collect();
    items
        .iter()
        .map(|item| match item.kind.as_str() {
            "local_shell_call" => nonempty(&item.call_id).or_else(|| nonempty(&item.id)),
            "local_shell_call_output" => nonempty(&item.call_id).or_else(|| {
                let id = nonempty(&item.id)?;
                Some(
                    shell_ids
                        .iter()
                        .find(|(item_id, _)| *item_id == id)
                        .map_or(id, |(_, key)| key.clone()),
                )
            }),
            kind if CALL_KINDS.contains(&kind) || OUTPUT_KINDS.contains(&kind) => nonempty(&item.call_id),
            _ => None,
        })
        .collect()
}

/// Every output answers an earlier call, and every call gets an output (OpenAI's own wording).
/// Any output type may answer any call type (Codex answers `local_shell_call`s with
/// `function_call_output`).
pub(crate) fn check_call_pairing(items: &[ResponsesInputItem], keys: &[Option<String>]) -> Result<(), GatewayError> {
    let mut calls: Vec<&str> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(id) = keys[i].as_deref() else { continue };
        if CALL_KINDS.contains(&item.kind.as_str()) {
            calls.push(id);
        } else if OUTPUT_KINDS.contains(&item.kind.as_str()) && !calls.contains(&id) {
            let words = call_words(item.kind.trim_end_matches("_output"));
            return Err(GatewayError::invalid_param(
                format!("No tool call found for {words} output with call_id {id}."),
                format!("input[{i}].call_id"),
            ));
        }
    }
    for (i, item) in items.iter().enumerate() {
        if !CALL_KINDS.contains(&item.kind.as_str()) {
            continue;
        }
        let Some(id) = keys[i].as_deref() else { continue };
        let answered = items[i + 1..]
            .iter()
            .zip(&keys[i + 1..])
            .any(|(o, key)| OUTPUT_KINDS.contains(&o.kind.as_str()) && key.as_deref() == Some(id));
        if !answered {
            return Err(GatewayError::invalid_param(
                format!("No tool output found for {} {id}.", call_words(&item.kind)),
                format!("input[{i}]"),
            ));
        }
    }
    Ok(())
}

/// A replayed `custom_tool_call`'s function-call arguments: `{"input": <input>}`.
pub(crate) fn custom_call_arguments(item: &ResponsesInputItem) -> Value {
    let input = match &item.input {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => String::new(),
        Some(other) => other.to_string(),
    };
    json!({ "input": input })
}

/// A replayed `local_shell_call`'s function-call arguments, from its `exec` action.
pub(crate) fn local_shell_arguments(item: &ResponsesInputItem, at: &str) -> Result<Value, GatewayError> {
    let action = item.action.as_ref().filter(|a| a.is_object()).ok_or_else(|| {
        GatewayError::invalid_param("local_shell_call items require an action", format!("{at}.action"))
    })?;
    let mut args = Map::new();
    args.insert(
        "command".into(),
        action.get("command").cloned().unwrap_or_else(|| json!([])),
    );
    if let Some(dir) = action.get("working_directory").filter(|d| !d.is_null()) {
        args.insert("workdir".into(), dir.clone());
    }
    if let Some(timeout) = action.get("timeout_ms").filter(|t| !t.is_null()) {
        args.insert("timeout_ms".into(), timeout.clone());
    }
    Ok(Value::Object(args))
}

/// Gemini's `custom` call arguments → the item's `input` string.
pub(crate) fn custom_call_input(args: &Value) -> String {
    match args.get("input") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) => String::new(),
        Some(other) => other.to_string(),
        None => match args {
            Value::Object(o) if !o.is_empty() => args.to_string(),
            _ => String::new(),
        },
    }
}

/// Gemini's `local_shell` call arguments → a `local_shell_call` item's `exec` action. A command
/// given as one string runs through `bash -lc`.
pub(crate) fn local_shell_action(args: &Value) -> Value {
    let command: Vec<Value> = match args.get("command") {
        Some(Value::Array(parts)) => parts
            .iter()
            .map(|p| match p {
                Value::String(s) => Value::String(s.clone()),
                other => Value::String(other.to_string()),
            })
            .collect(),
        Some(Value::String(line)) => vec![json!("bash"), json!("-lc"), json!(line)],
        _ => Vec::new(),
    };
    let mut action = Map::new();
    action.insert("type".into(), json!("exec"));
    action.insert("command".into(), Value::Array(command));
    if let Some(dir) = args
        .get("workdir")
        .or_else(|| args.get("working_directory"))
        .and_then(Value::as_str)
    {
        action.insert("working_directory".into(), json!(dir));
    }
    if let Some(ms) = args.get("timeout_ms").and_then(|t| {
        t.as_u64()
            .or_else(|| t.as_f64().filter(|f| *f >= 0.0).map(|f| f.round() as u64))
    }) {
        action.insert("timeout_ms".into(), json!(ms));
    }
    action.insert("env".into(), json!({}));
    Value::Object(action)
}

// ---------------------------------------------------------------------------------------------
// Thought signatures in reasoning items

/// Marks gempool's `encrypted_content` (anything else, e.g. OpenAI's own, is ignored).
const ENCRYPTED_PREFIX: &str = "gempool.sig.v1.";
/// The thought signatures of one model turn: the one on a non-call part (Gemini puts it on the
/// last text part of a text answer) and those on function calls, by call index in the turn.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TurnSignatures {
    /// The signature on the turn's non-call part (Gemini puts it on the last text part).
    pub text: Option<String>,
    /// The signatures on function calls, by the call's index in the turn.
    pub calls: Vec<(usize, String)>,
}

impl TurnSignatures {
    /// True when the turn carried no signature.
    pub fn is_empty(&self) -> bool {
        self.text.is_none() && self.calls.is_empty()
    }

    /// Records the (non-empty) signature of a part (`call`: its function-call index in the turn).
    pub(crate) fn record(&mut self, signature: &str, call: Option<usize>) {
        if signature.is_empty() {
            return;
        }
        let sig = signature.to_string();
        match call {
            Some(index) => self.calls.push((index, sig)),
            None => self.text = Some(sig),
        }
    }

    /// The `encrypted_content` of a reasoning item.
    pub fn encode(&self) -> String {
        let calls: Vec<Value> = self.calls.iter().map(|(i, s)| json!([i, s])).collect();
        let body = json!({"text": self.text, "calls": calls}).to_string();
        format!("{ENCRYPTED_PREFIX}{}", URL_SAFE_NO_PAD.encode(body))
    }

    /// Reads an `encrypted_content` made by [`encode`](Self::encode); `None` for anything else.
    pub fn decode(encrypted: &str) -> Option<TurnSignatures> {
        let body = URL_SAFE_NO_PAD.decode(encrypted.strip_prefix(ENCRYPTED_PREFIX)?).ok()?;
        let value: Value = serde_json::from_slice(&body).ok()?;
        let text = value
            .get("text")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let calls = value
            .get("calls")
            .and_then(Value::as_array)
            .map(|calls| {
                calls
                    .iter()
                    .filter_map(|c| Some((c.get(0)?.as_u64()? as usize, c.get(1)?.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        let sigs = TurnSignatures { text, calls };
        (!sigs.is_empty()).then_some(sigs)
    }
}
