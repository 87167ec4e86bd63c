//! Real coding agents' requests, as Claude Code, Gemini CLI and Codex send them: their tool
//! lists with full JSON schemas, streaming, thinking, multi-turn tool loops. Each request goes
//! through the real gateway to the strict mock, and the test checks both what the agent would
//! see and that the mock accepted every upstream request. The agents' tool declarations are
//! fixtures in `tests/fixtures/agents/e2e/` (hand-kept from the agents' definitions; the
//! recordings next to them are whole requests, re-recorded by `tests/tests/agents.rs`).

use gempool_tests::harness::Gateway;
use gempool_tests::http::SseEvent;
use gempool_tests::mock::MockGemini;
use serde_json::{json, Value};

use crate::setup;

// ---------------------------------------------------------------------------------------------
// Shared checks
// ---------------------------------------------------------------------------------------------

/// Every upstream request the mock saw was answered 200 (nothing rejected as invalid).
#[track_caller]
fn assert_upstream_accepted(mock: &MockGemini, gw: &Gateway, at_least: usize) {
    let requests = mock.requests();
    assert!(
        requests.len() >= at_least,
        "expected at least {at_least} upstream requests, got {}\n{}",
        requests.len(),
        gw.log()
    );
    for r in &requests {
        assert_eq!(
            r.status,
            Some(200),
            "the mock rejected {} {}: {}\n\ngateway log:\n{}",
            r.method,
            r.path,
            String::from_utf8_lossy(&r.body),
            gw.log()
        );
    }
}

/// The named events of a stream with their JSON.
fn named(events: &[SseEvent]) -> Vec<(String, Value)> {
    events
        .iter()
        .map(|e| (e.event.clone().unwrap_or_default(), e.json()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Claude Code (Anthropic Messages)
// ---------------------------------------------------------------------------------------------

const CLAUDE_SONNET: &str = "claude-sonnet-4-5-20250929";
const CLAUDE_HAIKU: &str = "claude-haiku-4-5-20251001";
const MESSAGES: &str = "/v1/messages?beta=true";
const CLAUDE_BETAS: &str =
    "claude-code-20250219,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14,context-management-2025-06-27";

/// A JSON fixture of `tests/fixtures/agents/e2e/`: what the agents declare, as they send it.
fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/agents/e2e")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Claude Code's tools, schemas as its zod definitions serialize them.
fn claude_code_tools() -> Value {
    fixture("claude-code-tools.json")
}

fn claude_code_body(model: &str, messages: Value) -> Value {
    let mut tools = claude_code_tools();
    // Claude Code marks the last tool for caching.
    if let Some(last) = tools.as_array_mut().and_then(|t| t.last_mut()) {
        last["cache_control"] = json!({"type": "ephemeral"});
    }
    json!({
        "model": model,
        "messages": messages,
        "temperature": 1,
        "system": [
            {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude.", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": format!("You are an interactive CLI tool that helps users with software engineering tasks. {}", "Follow the rules. ".repeat(2000)), "cache_control": {"type": "ephemeral"}}
        ],
        "tools": tools,
        "metadata": {"user_id": "user_2f1e_account__session_8c1b9d3e-1111-4e5a-9f00-0123456789ab"},
        "max_tokens": 32000,
        "thinking": {"type": "enabled", "budget_tokens": 31999},
        "stream": true
    })
}

fn claude_first_user(text: &str) -> Value {
    json!({
        "role": "user",
        "content": [
            {"type": "text", "text": "<system-reminder>\nAs you answer the user's questions, you can use the following context:\n# claudeMd\n...\n</system-reminder>"},
            {"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}
        ]
    })
}

fn claude_post(gw: &Gateway, body: &Value) -> Vec<(String, Value)> {
    let mut stream = gw
        .post(MESSAGES)
        .header("x-api-key", "sk-ant-anything")
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", CLAUDE_BETAS)
        .header("anthropic-dangerous-direct-browser-access", "true")
        .header("x-app", "cli")
        .header("user-agent", "claude-cli/2.0.14 (external, cli)")
        .header("x-stainless-helper-method", "stream")
        .json(body)
        .send_stream();
    stream.assert_status(200);
    named(&stream.events())
}

/// A Claude stream folded into the assistant message the client would keep.
struct ClaudeTurn {
    content: Vec<Value>,
    stop_reason: String,
}

/// Checks the event grammar and rebuilds the message (tool_use input parsed from the deltas).
#[track_caller]
fn fold_claude_stream(events: &[(String, Value)]) -> ClaudeTurn {
    let names: Vec<&str> = events
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| *n != "ping")
        .collect();
    assert_eq!(names.first(), Some(&"message_start"), "{names:?}");
    assert_eq!(names.last(), Some(&"message_stop"), "{names:?}");
    assert_eq!(names[names.len() - 2], "message_delta", "{names:?}");
    for (name, data) in events {
        assert_eq!(
            data["type"].as_str(),
            Some(name.as_str()),
            "event name matches data.type"
        );
    }
    let mut content: Vec<Value> = Vec::new();
    let mut partial: Vec<String> = Vec::new();
    let mut open: Option<usize> = None;
    let mut stop_reason = String::new();
    for (name, data) in events {
        match name.as_str() {
            "message_start" => {
                assert_eq!(data["message"]["role"], "assistant");
                assert!(data["message"]["id"].as_str().unwrap().starts_with("msg_"));
                assert!(data["message"]["usage"]["input_tokens"].is_u64());
            }
            "content_block_start" => {
                assert_eq!(open, None, "blocks do not overlap");
                let index = data["index"].as_u64().unwrap() as usize;
                assert_eq!(index, content.len(), "indices are consecutive");
                content.push(data["content_block"].clone());
                partial.push(String::new());
                open = Some(index);
            }
            "content_block_delta" => {
                let index = data["index"].as_u64().unwrap() as usize;
                assert_eq!(open, Some(index));
                let delta = &data["delta"];
                let block = &mut content[index];
                match delta["type"].as_str().unwrap() {
                    "text_delta" => {
                        let t = block["text"].as_str().unwrap_or("").to_string() + delta["text"].as_str().unwrap();
                        block["text"] = json!(t);
                    }
                    "thinking_delta" => {
                        let t =
                            block["thinking"].as_str().unwrap_or("").to_string() + delta["thinking"].as_str().unwrap();
                        block["thinking"] = json!(t);
                    }
                    "signature_delta" => block["signature"] = delta["signature"].clone(),
                    "input_json_delta" => partial[index].push_str(delta["partial_json"].as_str().unwrap()),
                    other => panic!("unknown delta {other}"),
                }
            }
            "content_block_stop" => {
                let index = data["index"].as_u64().unwrap() as usize;
                assert_eq!(open, Some(index));
                open = None;
                if content[index]["type"] == "tool_use" {
                    let raw = if partial[index].is_empty() {
                        "{}"
                    } else {
                        &partial[index]
                    };
                    content[index]["input"] =
                        serde_json::from_str(raw).unwrap_or_else(|e| panic!("tool input is not JSON ({e}): {raw}"));
                }
            }
            "message_delta" => {
                assert_eq!(open, None, "every block closed before message_delta");
                stop_reason = data["delta"]["stop_reason"].as_str().unwrap_or("").to_string();
                assert!(data["usage"]["output_tokens"].is_u64());
            }
            _ => {}
        }
    }
    ClaudeTurn { content, stop_reason }
}

fn tool_uses(turn: &ClaudeTurn) -> Vec<&Value> {
    turn.content.iter().filter(|b| b["type"] == "tool_use").collect()
}

/// The loop Claude Code runs: ask, get tool_use, send tool_result, get the answer.
fn claude_code_tool_loop(model: &str) {
    let (mock, gw) = setup(&["k1"]);
    let mut messages = vec![claude_first_user("call:Bash list the files in this repository")];
    let first = fold_claude_stream(&claude_post(&gw, &claude_code_body(model, json!(messages))));
    assert_eq!(first.stop_reason, "tool_use");
    let uses = tool_uses(&first);
    assert_eq!(uses.len(), 1, "{:?}", first.content);
    assert_eq!(uses[0]["name"], "Bash");
    assert!(uses[0]["input"]["command"].is_string(), "{}", uses[0]["input"]);
    let id = uses[0]["id"].as_str().unwrap().to_string();
    assert!(
        first.content.iter().any(|b| b["type"] == "thinking"),
        "thinking was asked for"
    );
    for b in &first.content {
        if b["type"] == "thinking" {
            assert!(b["signature"].is_string(), "thinking blocks carry a signature: {b}");
        }
    }

    // Round 2: the tool result as an array of text blocks, cache_control on the last block.
    messages.push(json!({"role": "assistant", "content": first.content}));
    messages.push(json!({
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": id, "content": [
                {"type": "text", "text": "Cargo.toml\nREADME.md\nguest\nhost"}
            ], "is_error": false},
            {"type": "text", "text": "<system-reminder>The TodoWrite tool hasn't been used recently.</system-reminder>", "cache_control": {"type": "ephemeral"}}
        ]
    }));
    let second = fold_claude_stream(&claude_post(&gw, &claude_code_body(model, json!(messages))));
    assert_eq!(second.stop_reason, "end_turn", "{:?}", second.content);
    let text: String = second
        .content
        .iter()
        .filter(|b| b["type"] == "text")
        .map(|b| b["text"].as_str().unwrap())
        .collect();
    assert!(text.contains("function results"), "{text}");
    assert!(text.contains("README.md"), "{text}");

    // Round 3: the user asks for two things at once; one fails (is_error), one has an image.
    messages.push(json!({"role": "assistant", "content": second.content}));
    messages.push(json!({"role": "user", "content": [
        {"type": "text", "text": "call2:Read,Grep now read the readme and grep for TODO"}
    ]}));
    let third = fold_claude_stream(&claude_post(&gw, &claude_code_body(model, json!(messages))));
    assert_eq!(third.stop_reason, "tool_use");
    let uses = tool_uses(&third);
    assert_eq!(uses.len(), 2, "{:?}", third.content);
    let (read_id, grep_id) = (uses[0]["id"].clone(), uses[1]["id"].clone());
    assert_ne!(read_id, grep_id, "tool_use ids are unique");
    messages.push(json!({"role": "assistant", "content": third.content}));
    messages.push(json!({"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": read_id, "content": [
            {"type": "text", "text": "     1\t# gempool\n     2\tA gateway."},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="}}
        ]},
        {"type": "tool_result", "tool_use_id": grep_id, "content": "<tool_use_error>Path does not exist: /nope</tool_use_error>", "is_error": true, "cache_control": {"type": "ephemeral"}}
    ]}));
    let fourth = fold_claude_stream(&claude_post(&gw, &claude_code_body(model, json!(messages))));
    assert_eq!(fourth.stop_reason, "end_turn", "{:?}", fourth.content);
    assert_upstream_accepted(&mock, &gw, 4);
}

#[test]
fn claude_code_tool_loop_sonnet() {
    claude_code_tool_loop(CLAUDE_SONNET);
}

#[test]
fn claude_code_tool_loop_gemini3() {
    claude_code_tool_loop("gemini-3-pro-preview");
}

#[test]
fn claude_code_side_requests() {
    let (mock, gw) = setup(&["k1"]);
    // The quota probe: haiku, max_tokens 1, not streamed.
    let quota = gw
        .post(MESSAGES)
        .header("x-api-key", "sk-ant-anything")
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "oauth-2025-04-20")
        .json(&json!({
            "model": CLAUDE_HAIKU,
            "max_tokens": 1,
            "messages": [{"role": "user", "content": "quota"}],
            "metadata": {"user_id": "user_x"}
        }))
        .send();
    quota.assert_status(200);
    assert_eq!(quota.json()["type"], "message");
    assert_eq!(quota.json()["role"], "assistant");

    // Topic detection: haiku, system as blocks, streamed, no tools.
    let events = claude_post(
        &gw,
        &json!({
            "model": CLAUDE_HAIKU,
            "max_tokens": 512,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "fix the flaky test"}]}],
            "system": [{"type": "text", "text": "Analyze if this message indicates a new conversation topic. Format your response as a JSON object with two fields: 'isNewTopic' and 'title'."}],
            "temperature": 0,
            "metadata": {"user_id": "user_x"},
            "stream": true
        }),
    );
    let turn = fold_claude_stream(&events);
    assert_eq!(turn.stop_reason, "end_turn");

    // Token counting for the context meter, with all the tools.
    let count = gw
        .post("/v1/messages/count_tokens?beta=true")
        .header("x-api-key", "sk-ant-anything")
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "token-counting-2024-11-01")
        .json(&json!({
            "model": CLAUDE_SONNET,
            "messages": [claude_first_user("how big is this?")],
            "tools": claude_code_tools(),
            "system": [{"type": "text", "text": "You are Claude Code."}]
        }))
        .send();
    count.assert_status(200);
    assert!(count.json()["input_tokens"].as_u64().unwrap() > 0);
    assert_upstream_accepted(&mock, &gw, 3);
}

#[test]
fn claude_code_tool_choice_any_and_todo_write() {
    let (mock, gw) = setup(&["k1"]);
    let mut body = claude_code_body(
        CLAUDE_SONNET,
        json!([claude_first_user("call:TodoWrite plan the work")]),
    );
    body["thinking"] = Value::Null;
    body.as_object_mut().unwrap().remove("thinking");
    let turn = fold_claude_stream(&claude_post(&gw, &body));
    assert_eq!(turn.stop_reason, "tool_use");
    let uses = tool_uses(&turn);
    assert_eq!(uses[0]["name"], "TodoWrite");
    let todos = uses[0]["input"]["todos"].as_array().expect("todos is an array");
    assert!(todos[0]["status"].is_string(), "{todos:?}");

    // A forced tool (Claude Code's structured side-queries) without streaming.
    let forced = gw
        .post(MESSAGES)
        .header("x-api-key", "sk-ant-anything")
        .header("anthropic-version", "2023-06-01")
        .json(&json!({
            "model": CLAUDE_HAIKU,
            "max_tokens": 1024,
            "messages": [{"role": "user", "content": "summarize"}],
            "tools": claude_code_tools(),
            "tool_choice": {"type": "tool", "name": "MultiEdit"}
        }))
        .send();
    forced.assert_status(200);
    let content = forced.json()["content"].as_array().cloned().unwrap();
    let call = content.iter().find(|b| b["type"] == "tool_use").expect("a tool_use");
    assert_eq!(call["name"], "MultiEdit");
    assert!(call["input"]["edits"].is_array(), "{call}");
    assert_upstream_accepted(&mock, &gw, 2);
}

// ---------------------------------------------------------------------------------------------
// Gemini CLI (native Gemini, google-genai JS SDK)
// ---------------------------------------------------------------------------------------------

/// The Gemini CLI's function declarations.
fn gemini_cli_declarations() -> Value {
    fixture("gemini-cli-declarations.json")
}

fn gemini_cli_body(contents: Value, model: &str) -> Value {
    let thinking = if model.starts_with("gemini-3") {
        json!({"includeThoughts": true, "thinkingLevel": "HIGH"})
    } else {
        json!({"includeThoughts": true, "thinkingBudget": 8192})
    };
    json!({
        "contents": contents,
        "systemInstruction": {"role": "user", "parts": [{"text": "You are an interactive CLI agent specializing in software engineering tasks."}]},
        "tools": [{"functionDeclarations": gemini_cli_declarations()}],
        "generationConfig": {"temperature": 0, "topP": 1, "thinkingConfig": thinking}
    })
}

fn gemini_cli_stream(gw: &Gateway, model: &str, body: &Value) -> Vec<Value> {
    let mut stream = gw
        .post(&format!("/v1beta/models/{model}:streamGenerateContent?alt=sse"))
        .header("x-goog-api-key", "anything")
        .header(
            "user-agent",
            "GeminiCLI/0.11.0/gemini-3-pro-preview (linux; x64) google-genai-sdk/1.16.0 gl-node/v22.12.0",
        )
        .header("x-goog-api-client", "google-genai-sdk/1.16.0 gl-node/v22.12.0")
        .json(body)
        .send_stream();
    stream.assert_status(200);
    let events = stream.events();
    assert!(!events.is_empty());
    events
        .iter()
        .map(|e| {
            let v = e.json();
            assert!(
                v["candidates"].is_array() || v["usageMetadata"].is_object(),
                "{}",
                e.data
            );
            v
        })
        .collect()
}

/// Gemini CLI's model turn: all parts of the stream, merged as the CLI keeps them.
fn gemini_model_turn(chunks: &[Value]) -> Value {
    let mut parts = Vec::new();
    for c in chunks {
        if let Some(ps) = c["candidates"][0]["content"]["parts"].as_array() {
            parts.extend(ps.iter().filter(|p| p["thought"] != true).cloned());
        }
    }
    json!({"role": "model", "parts": parts})
}

fn gemini_cli_loop(model: &str) {
    let (mock, gw) = setup(&["k1"]);
    let mut contents = vec![
        json!({"role": "user", "parts": [{"text": "This is the Gemini CLI. We are setting up the context for our chat.\nToday's date is Sunday, November 22, 2026.\nMy operating system is: linux"}]}),
        json!({"role": "model", "parts": [{"text": "Got it. Thanks for the context!"}]}),
        json!({"role": "user", "parts": [{"text": "call:run_shell_command show me the git log"}]}),
    ];
    let chunks = gemini_cli_stream(&gw, model, &gemini_cli_body(json!(contents), model));
    let turn = gemini_model_turn(&chunks);
    let call = turn["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["functionCall"].is_object())
        .cloned()
        .expect("a function call");
    assert_eq!(call["functionCall"]["name"], "run_shell_command");
    if model.starts_with("gemini-3") {
        assert!(call["thoughtSignature"].is_string(), "{call}");
    }
    let last = chunks.last().unwrap();
    assert!(last["candidates"][0]["finishReason"].is_string(), "{last}");
    assert!(last["usageMetadata"]["totalTokenCount"].is_u64(), "{last}");

    contents.push(turn);
    contents.push(json!({"role": "user", "parts": [{"functionResponse": {
        "id": "run_shell_command-1763780000000-0a1b2c",
        "name": "run_shell_command",
        "response": {"output": "Command: git log\nDirectory: (root)\nStdout: 714e772 Admin page\nStderr: (empty)\nError: (none)\nExit Code: 0"}
    }}]}));
    let chunks = gemini_cli_stream(&gw, model, &gemini_cli_body(json!(contents), model));
    let answer: String = gemini_model_turn(&chunks)["parts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["text"].as_str())
        .collect();
    assert!(answer.contains("function results"), "{answer}");

    // The next-speaker check: JSON output with a schema, not streamed.
    let mut check_contents = contents.clone();
    check_contents.push(gemini_model_turn(&chunks));
    check_contents.push(json!({"role": "user", "parts": [{"text": "Analyze *only* the content and structure of your immediately preceding response."}]}));
    let check = gw
        .post(&format!("/v1beta/models/{}:generateContent", "gemini-2.5-flash"))
        .header("x-goog-api-key", "anything")
        .json(&json!({
            "contents": check_contents,
            "generationConfig": {
                "temperature": 0, "topP": 1,
                "responseJsonSchema": {"type": "object", "properties": {
                    "reasoning": {"type": "string"},
                    "next_speaker": {"type": "string", "enum": ["user", "model"]}
                }, "required": ["reasoning", "next_speaker"]},
                "responseMimeType": "application/json",
                "thinkingConfig": {"thinkingBudget": 0}
            }
        }))
        .send();
    check.assert_status(200);
    let text = check.json()["candidates"][0]["content"]["parts"][0]["text"]
        .as_str()
        .unwrap()
        .to_string();
    let parsed: Value = serde_json::from_str(&text).expect("JSON text");
    assert_eq!(parsed["next_speaker"], "user");

    // countTokens on the whole history.
    let count = gw
        .post(&format!("/v1beta/models/{model}:countTokens"))
        .header("x-goog-api-key", "anything")
        .json(&json!({"contents": contents}))
        .send();
    count.assert_status(200);
    assert!(count.json()["totalTokens"].as_u64().unwrap() > 0);
    assert_upstream_accepted(&mock, &gw, 4);
}

#[test]
fn gemini_cli_tool_loop_pro() {
    gemini_cli_loop("gemini-2.5-pro");
}

#[test]
fn gemini_cli_tool_loop_gemini3() {
    gemini_cli_loop("gemini-3-pro-preview");
}

// ---------------------------------------------------------------------------------------------
// Codex (Responses API)
// ---------------------------------------------------------------------------------------------

/// Codex's tools, `apply_patch` with its lark grammar.
fn codex_tools() -> Value {
    fixture("codex-tools.json")
}

fn codex_body(input: Value) -> Value {
    json!({
        "model": "gpt-5-codex",
        "instructions": format!("You are Codex, based on GPT-5. You are running as a coding agent in the Codex CLI on a user's computer. {}", "Be concise. ".repeat(500)),
        "input": input,
        "tools": codex_tools(),
        "tool_choice": "auto",
        "parallel_tool_calls": false,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "store": false,
        "stream": true,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "0199a0b1-7a4e-7c52-9e2b-4b1f0c9d2e11"
    })
}

fn codex_user(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

/// Streams one Codex turn; checks the event grammar; returns the completed response's output.
#[track_caller]
fn codex_turn(gw: &Gateway, body: &Value) -> Vec<Value> {
    let mut stream = gw
        .post("/v1/responses")
        .bearer("sk-anything")
        .header("originator", "codex_cli_rs")
        .header(
            "user-agent",
            "codex_cli_rs/0.46.0 (Ubuntu 24.4.0; x86_64) xterm-256color",
        )
        .header("openai-beta", "responses=experimental")
        .header("session_id", "0199a0b1-7a4e-7c52-9e2b-4b1f0c9d2e11")
        .header("conversation_id", "0199a0b1-7a4e-7c52-9e2b-4b1f0c9d2e11")
        .header("accept", "text/event-stream")
        .json(body)
        .send_stream();
    stream.assert_status(200);
    let events = named(&stream.events());
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"response.created"), "{names:?}");
    assert_eq!(names.last(), Some(&"response.completed"), "{names:?}");
    let mut last_seq = None;
    for (name, data) in &events {
        assert_eq!(data["type"].as_str(), Some(name.as_str()));
        if let Some(seq) = data["sequence_number"].as_u64() {
            if let Some(prev) = last_seq {
                assert!(seq > prev, "sequence numbers increase");
            }
            last_seq = Some(seq);
        }
    }
    // Items Codex collects from output_item.done.
    let done: Vec<Value> = events
        .iter()
        .filter(|(n, _)| n == "response.output_item.done")
        .map(|(_, d)| d["item"].clone())
        .collect();
    let completed = &events.last().unwrap().1["response"];
    assert_eq!(completed["status"], "completed");
    assert!(completed["usage"]["input_tokens"].is_u64(), "{completed}");
    let output = completed["output"].as_array().cloned().unwrap_or_default();
    assert_eq!(output.len(), done.len(), "completed output matches the done items");
    done
}

#[test]
fn codex_tool_loop() {
    let (mock, gw) = setup(&["k1"]);
    let mut input = vec![
        json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "<user_instructions>\n\n# AGENTS.md\nRun cargo fmt.\n\n</user_instructions>"}]}),
        json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "<environment_context>\n  <cwd>/work/main</cwd>\n  <approval_policy>on-request</approval_policy>\n  <sandbox_mode>workspace-write</sandbox_mode>\n  <network_access>restricted</network_access>\n  <shell>bash</shell>\n</environment_context>"}]}),
        codex_user("call:shell show me the files"),
    ];
    let items = codex_turn(&gw, &codex_body(json!(input)));
    let call = items
        .iter()
        .find(|i| i["type"] == "function_call")
        .cloned()
        .unwrap_or_else(|| panic!("a function_call in {items:?}"));
    assert_eq!(call["name"], "shell");
    let args: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).expect("arguments are JSON");
    assert!(args["command"].is_array(), "{args}");
    for item in &items {
        if item["type"] == "reasoning" {
            assert!(item["encrypted_content"].is_string() || item["encrypted_content"].is_null());
        }
    }
    // Codex (store: false) replays every item, reasoning included, then the output.
    input.extend(items.iter().cloned());
    input.push(json!({"type": "function_call_output", "call_id": call["call_id"], "output": "Cargo.toml\nREADME.md\nguest\nhost\n"}));
    let items = codex_turn(&gw, &codex_body(json!(input)));
    let message = items
        .iter()
        .find(|i| i["type"] == "message")
        .cloned()
        .unwrap_or_else(|| panic!("a message in {items:?}"));
    let text = message["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("function results"), "{text}");

    // The freeform apply_patch tool.
    input.extend(items.iter().cloned());
    input.push(codex_user("call:apply_patch add a hello file"));
    let items = codex_turn(&gw, &codex_body(json!(input)));
    let patch = items
        .iter()
        .find(|i| i["type"] == "custom_tool_call")
        .cloned()
        .unwrap_or_else(|| panic!("a custom_tool_call in {items:?}"));
    assert_eq!(patch["name"], "apply_patch");
    assert!(patch["input"].is_string(), "{patch}");
    input.extend(items.iter().cloned());
    input.push(json!({"type": "custom_tool_call_output", "call_id": patch["call_id"], "output": "Exit code: 0\nWall time: 0 seconds\nOutput:\nSuccess. Updated the following files:\nA hello.txt\n"}));
    let items = codex_turn(&gw, &codex_body(json!(input)));
    assert!(items.iter().any(|i| i["type"] == "message"), "{items:?}");
    assert_upstream_accepted(&mock, &gw, 4);
}

#[test]
fn codex_hand_built_history_with_plan_and_patch() {
    // A resumed session: history items the gateway never produced (OpenAI reasoning blobs,
    // OpenAI call ids), which must still be a valid Gemini conversation.
    let (mock, gw) = setup(&["k1"]);
    let input = json!([
        codex_user("update the plan, then patch"),
        {"type": "reasoning", "id": "rs_0123", "summary": [{"type": "summary_text", "text": "**Planning**"}], "content": null, "encrypted_content": "gAAAAABo-opaque-openai-blob"},
        {"type": "function_call", "id": "fc_1", "name": "update_plan", "arguments": "{\"plan\":[{\"step\":\"Write code\",\"status\":\"in_progress\"}]}", "call_id": "call_abc123"},
        {"type": "function_call_output", "call_id": "call_abc123", "output": "Plan updated"},
        {"type": "custom_tool_call", "id": "ctc_1", "status": "completed", "call_id": "call_def456", "name": "apply_patch", "input": "*** Begin Patch\n*** Add File: hello.txt\n+hi\n*** End Patch\n"},
        {"type": "custom_tool_call_output", "call_id": "call_def456", "output": "Success. Updated the following files:\nA hello.txt\n"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Done."}]},
        codex_user("thanks, now summarize")
    ]);
    for model in ["gpt-5-codex", "gemini-3-pro-preview"] {
        let mut body = codex_body(input.clone());
        body["model"] = json!(model);
        let items = codex_turn(&gw, &body);
        assert!(items.iter().any(|i| i["type"] == "message"), "{items:?}");
    }
    assert_upstream_accepted(&mock, &gw, 2);
    assert_eq!(
        mock.requests()[0].model(),
        Some("gemini-2.5-pro"),
        "gpt-5-codex maps to pro"
    );
}

// ---------------------------------------------------------------------------------------------
// Harder shapes the agents produce in long sessions
// ---------------------------------------------------------------------------------------------

/// MCP tools Claude Code forwards verbatim: `$ref`/`$defs`, `oneOf`, `allOf`, type arrays,
/// integer enums, `const`, formats, `items: {}`, `propertyNames`, no-argument tools.
fn mcp_tools() -> Value {
    fixture("mcp-tools.json")
}

#[test]
fn claude_code_mcp_schemas_and_no_argument_tools() {
    let (mock, gw) = setup(&["k1"]);
    for model in [CLAUDE_SONNET, "gemini-3-pro-preview"] {
        for tool in ["mcp__github__get_me", "mcp__github__create_issue"] {
            let mut body = claude_code_body(model, json!([claude_first_user(&format!("call:{tool} go"))]));
            let mut tools = claude_code_tools().as_array().cloned().unwrap();
            tools.extend(mcp_tools().as_array().cloned().unwrap());
            body["tools"] = json!(tools);
            let turn = fold_claude_stream(&claude_post(&gw, &body));
            assert_eq!(turn.stop_reason, "tool_use", "{model} {tool}");
            let uses = tool_uses(&turn);
            assert_eq!(uses[0]["name"], tool);
            assert!(uses[0]["input"].is_object(), "{}", uses[0]);
        }
    }
    assert_upstream_accepted(&mock, &gw, 4);
}

#[test]
fn claude_code_resumed_session_from_real_claude() {
    // `claude --resume` of a session that ran on Anthropic: Claude thinking signatures,
    // redacted thinking, toolu_ ids, text before tool_use, empty and missing tool results.
    let (mock, gw) = setup(&["k1"]);
    let messages = json!([
        claude_first_user("look around"),
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "The user wants an overview.", "signature": "EqQBCkYIBxgCKkB0aGlzIGlzIGEgY2xhdWRlIHNpZ25hdHVyZQ=="},
            {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"},
            {"type": "text", "text": "I'll look at the files."},
            {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "Bash", "input": {"command": "ls", "description": "List files"}},
            {"type": "tool_use", "id": "toolu_01B09q90qw90lq917835lq9", "name": "Glob", "input": {"pattern": "**/*.rs"}}
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01A09q90qw90lq917835lq9", "content": ""},
            {"type": "tool_result", "tool_use_id": "toolu_01B09q90qw90lq917835lq9", "content": []}
        ]},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_01C09q90qw90lq917835lq9", "name": "TodoWrite", "input": {"todos": [
                {"content": "Read code", "status": "in_progress", "activeForm": "Reading code"}
            ]}}
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01C09q90qw90lq917835lq9"},
            {"type": "text", "text": "<system-reminder>todo list changed</system-reminder>"}
        ]}
    ]);
    for model in [CLAUDE_SONNET, CLAUDE_HAIKU, "gemini-3-pro-preview"] {
        let mut body = claude_code_body(model, messages.clone());
        body["context_management"] = json!({"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]});
        let turn = fold_claude_stream(&claude_post(&gw, &body));
        assert_eq!(turn.stop_reason, "end_turn", "{model}: {:?}", turn.content);
    }
    assert_upstream_accepted(&mock, &gw, 3);
}

#[test]
fn claude_code_large_request_with_screenshot() {
    let (mock, gw) = setup(&["k1"]);
    // ~1.3 MB in one "word": the mock echoes results word by word, cut at maxOutputTokens.
    let big_file = "fn_main(){println!(\"hello\");}".repeat(45_000);
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
    let messages = json!([
        claude_first_user("what is in this file and screenshot?"),
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_big", "name": "Read", "input": {"file_path": "/work/main/big.rs"}}
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_big", "content": [{"type": "text", "text": big_file}]},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
            {"type": "text", "text": "[Image #1] here it is"}
        ]}
    ]);
    let turn = fold_claude_stream(&claude_post(&gw, &claude_code_body(CLAUDE_SONNET, messages)));
    assert_eq!(turn.stop_reason, "end_turn");
    assert_upstream_accepted(&mock, &gw, 1);
}

#[test]
fn codex_newer_item_shapes() {
    // Developer messages, content-array tool outputs (view_image), web_search tool,
    // text.verbosity, a structured output schema.
    let (mock, gw) = setup(&["k1"]);
    let png = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
    let input = json!([
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "<permissions instructions>Filesystem sandboxing: workspace-write.</permissions instructions>"}]},
        codex_user("look at the screenshot"),
        {"type": "function_call", "name": "view_image", "arguments": "{\"path\":\"/tmp/s.png\"}", "call_id": "call_img"},
        {"type": "function_call_output", "call_id": "call_img", "output": [
            {"type": "input_text", "text": "attached image /tmp/s.png"},
            {"type": "input_image", "image_url": png}
        ]},
        {"type": "function_call", "name": "shell", "arguments": "{\"command\":[\"bash\",\"-lc\",\"true\"]}", "call_id": "call_empty"},
        {"type": "function_call_output", "call_id": "call_empty", "output": ""},
        codex_user("describe it")
    ]);
    for model in ["gpt-5", "gemini-3-pro-preview"] {
        let mut body = codex_body(input.clone());
        body["model"] = json!(model);
        body["text"] = json!({"verbosity": "low"});
        let mut tools = codex_tools().as_array().cloned().unwrap();
        tools.push(json!({"type": "web_search"}));
        body["tools"] = json!(tools);
        let items = codex_turn(&gw, &body);
        assert!(items.iter().any(|i| i["type"] == "message"), "{model}: {items:?}");
    }

    // `codex exec --output-schema`: strict JSON schema output.
    let mut body = codex_body(json!([codex_user("report")]));
    body["text"] = json!({"format": {"type": "json_schema", "name": "codex_output_schema", "strict": true, "schema": {
        "type": "object",
        "properties": {"summary": {"type": "string"}, "files": {"type": "array", "items": {"type": "string"}}},
        "required": ["summary", "files"],
        "additionalProperties": false
    }}});
    let items = codex_turn(&gw, &body);
    let message = items.iter().find(|i| i["type"] == "message").expect("a message");
    let parsed: Value = serde_json::from_str(message["content"][0]["text"].as_str().unwrap()).expect("JSON output");
    assert!(parsed["files"].is_array(), "{parsed}");
    assert_upstream_accepted(&mock, &gw, 3);
}

#[test]
fn codex_parallel_calls_on_gemini3() {
    let (mock, gw) = setup(&["k1"]);
    let mut input = vec![codex_user("call2:shell,update_plan do both")];
    let mut body = codex_body(json!(input));
    body["model"] = json!("gemini-3-pro-preview");
    body["parallel_tool_calls"] = json!(true);
    let items = codex_turn(&gw, &body);
    let calls: Vec<&Value> = items.iter().filter(|i| i["type"] == "function_call").collect();
    assert_eq!(calls.len(), 2, "{items:?}");
    input.extend(items.iter().cloned());
    for c in &calls {
        input.push(json!({"type": "function_call_output", "call_id": c["call_id"], "output": "ok"}));
    }
    body["input"] = json!(input);
    let items = codex_turn(&gw, &body);
    assert!(items.iter().any(|i| i["type"] == "message"), "{items:?}");
    assert_upstream_accepted(&mock, &gw, 2);
}

#[test]
fn codex_reasoning_efforts() {
    let (mock, gw) = setup(&["k1"]);
    for model in ["gpt-5-codex", "gemini-3-pro-preview", "gemini-2.5-flash"] {
        for effort in ["minimal", "low", "medium", "high"] {
            let mut body = codex_body(json!([codex_user("call:shell hi")]));
            body["model"] = json!(model);
            body["reasoning"] = json!({"effort": effort, "summary": "detailed"});
            let items = codex_turn(&gw, &body);
            assert!(
                items.iter().any(|i| i["type"] == "function_call"),
                "{model} {effort}: {items:?}"
            );
        }
    }
    assert_upstream_accepted(&mock, &gw, 12);
}

#[test]
fn claude_code_web_search_sub_request() {
    // Claude Code's WebSearch tool runs its own request with Anthropic's server tool.
    let (mock, gw) = setup(&["k1"]);
    let events = claude_post(
        &gw,
        &json!({
            "model": CLAUDE_SONNET,
            "max_tokens": 32000,
            "messages": [{"role": "user", "content": "Perform a web search for the query: rust wasm components 2026"}],
            "system": [{"type": "text", "text": "You are an assistant for performing a web search tool use"}],
            "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 8, "allowed_domains": ["docs.rs"]}],
            "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
            "thinking": {"type": "enabled", "budget_tokens": 63999},
            "stream": true
        }),
    );
    let turn = fold_claude_stream(&events);
    assert_eq!(turn.stop_reason, "end_turn");
    let upstream = mock.requests()[0].json();
    assert!(
        upstream["tools"][0]["googleSearch"].is_object(),
        "{}",
        upstream["tools"]
    );
    assert_upstream_accepted(&mock, &gw, 1);
}

#[test]
fn chat_completions_agent_tool_loop() {
    // OpenAI-compatible agents (opencode, Cline, Aider…): streamed chat with tools.
    let (mock, gw) = setup(&["k1"]);
    let tools: Vec<Value> = codex_tools()
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["type"] == "function")
        .map(|t| {
            json!({"type": "function", "function": {
                "name": t["name"], "description": t["description"], "parameters": t["parameters"], "strict": false}})
        })
        .collect();
    for model in ["gpt-5", "gemini-3-pro-preview"] {
        let mut messages = vec![
            json!({"role": "system", "content": "You are a coding agent."}),
            json!({"role": "user", "content": [{"type": "text", "text": "call:shell list files"}]}),
        ];
        let post = |messages: &Vec<Value>| {
            let mut stream = gw
                .post("/v1/chat/completions")
                .bearer("sk-anything")
                .json(&json!({
                    "model": model, "messages": messages, "tools": tools, "tool_choice": "auto",
                    "stream": true, "stream_options": {"include_usage": true}, "reasoning_effort": "medium",
                    "max_completion_tokens": 32000
                }))
                .send_stream();
            stream.assert_status(200);
            let events = stream.events();
            assert_eq!(events.last().unwrap().data, "[DONE]");
            events[..events.len() - 1]
                .iter()
                .map(SseEvent::json)
                .collect::<Vec<Value>>()
        };
        let chunks = post(&messages);
        let mut calls: Vec<Value> = Vec::new();
        let mut finish = Value::Null;
        for c in &chunks {
            if let Some(reason) = c["choices"][0]["finish_reason"].as_str() {
                finish = json!(reason);
            }
            for tc in c["choices"][0]["delta"]["tool_calls"].as_array().into_iter().flatten() {
                let index = tc["index"].as_u64().unwrap() as usize;
                if calls.len() <= index {
                    calls.push(json!({"id": tc["id"], "type": "function", "function": {"name": tc["function"]["name"], "arguments": ""}}));
                }
                let args = calls[index]["function"]["arguments"].as_str().unwrap().to_string()
                    + tc["function"]["arguments"].as_str().unwrap_or("");
                calls[index]["function"]["arguments"] = json!(args);
            }
        }
        assert_eq!(finish, "tool_calls", "{model}");
        assert_eq!(calls.len(), 1);
        let args: Value = serde_json::from_str(calls[0]["function"]["arguments"].as_str().unwrap()).unwrap();
        assert!(args["command"].is_array(), "{args}");
        messages.push(json!({"role": "assistant", "content": null, "tool_calls": calls}));
        messages.push(json!({"role": "tool", "tool_call_id": calls[0]["id"], "content": "README.md"}));
        let chunks = post(&messages);
        let text: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert!(text.contains("function results"), "{model}: {text}");
    }
    assert_upstream_accepted(&mock, &gw, 4);
}
