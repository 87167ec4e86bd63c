//! The three request translators: OpenAI chat, Responses and Anthropic Messages -> Gemini.
//!
//! Bodies are generated as JSON (plausible conversations with tools, tool calls and results in
//! and out of order, media, settings, and random junk mixed in), serialized, and parsed with the
//! same serde types and `serde_json::from_slice` the handlers use. Each must end as either a
//! typed 400 or a Gemini request that serializes, round-trips, and keeps Gemini's structural
//! rules: turns are `user`/`model` and alternate, no turn and no text part is empty, each part
//! holds one kind of data, every model turn's function calls are answered by the next user turn
//! (same count, same names, same order) and every function response answers a call, function
//! declarations carry Gemini-valid schemas, at most 5 stop sequences, never both a thinking
//! budget and a level.

use crate::harness;
use crate::schema::{check_gemini_schema, schema};
use gempool_guest::error::GatewayError;
use gempool_guest::protocol::anthropic::{
    count_tokens_request_to_gemini, messages_request_to_gemini, AnthropicCountTokensRequest, AnthropicMessagesRequest,
};
use gempool_guest::protocol::gemini::{Content, GenerateContentRequest, Part};
use gempool_guest::protocol::openai::{chat_request_to_gemini, OpenAiChatRequest};
use gempool_guest::protocol::responses::{responses_request_to_gemini, OpenAiResponsesRequest, TurnSignatures};
use gempool_guest::protocol::Protocol;
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicU64, Ordering};

// ---------------------------------------------------------------------------------------------
// Shared pieces

const IDS: &[&str] = &["c1", "c2", "c3", "toolu_01", "call_ab_0_1__ts__c2lnLWE", ""];
const FN_NAMES: &[&str] = &["get_weather", "run", "f", "apply_patch", "local_shell", ""];
const MODELS: &[&str] = &[
    "gemini-2.5-flash",
    "gemini-2.5-pro",
    "gemini-2.5-flash-lite",
    "gemini-3-pro-preview",
    "gemini-3-flash-preview",
    "gemini-2.0-flash",
    "gemma-3-27b-it",
    "models/gemini-2.5-flash",
    "gemini-flash-latest",
];

/// Mostly one of the first few `pool` entries (so that ids and names meet), now and then any.
fn pick(pool: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        12 => prop::sample::select(&pool[..3]).prop_map(str::to_string),
        1 => prop::sample::select(pool).prop_map(str::to_string),
    ]
}

fn id() -> impl Strategy<Value = String> {
    pick(IDS)
}

fn fn_name() -> impl Strategy<Value = String> {
    pick(FN_NAMES)
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z ]{1,12}",
        1 => Just(String::new()),
        1 => "\\PC{0,8}",
        1 => Just("{\"ok\": true}".to_string()),
    ]
}

/// Any JSON scalar or small structure: the junk mixed into fields.
fn junk() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        Just(json!(-1)),
        Just(json!(1.5)),
        "\\PC{0,6}".prop_map(Value::String),
        Just(json!([])),
        Just(json!({})),
        Just(json!({"x": [1, {"y": null}]})),
    ]
}

/// Mostly `v`, sometimes junk in its place, sometimes absent (`None`).
fn or_junk(v: impl Strategy<Value = Value>) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![40 => v.prop_map(Some), 1 => junk().prop_map(Some), 4 => Just(None)]
}

/// An object from optional fields; absent ones are left out. Now and then an unknown field.
fn object(fields: Vec<(&'static str, Option<Value>)>, extra: Option<Value>) -> Value {
    let mut m = Map::new();
    for (k, v) in fields {
        if let Some(v) = v {
            m.insert(k.to_string(), v);
        }
    }
    if let Some(extra) = extra {
        m.insert("cache_control".into(), extra);
    }
    Value::Object(m)
}

fn extra() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![30 => Just(None), 1 => junk().prop_map(Some)]
}

/// Tool-call arguments: a JSON string (valid or not), an object, or junk.
fn arguments() -> impl Strategy<Value = Value> {
    prop_oneof![
        16 => Just(json!("{\"city\": \"Paris\"}")),
        6 => Just(json!({"city": "Paris"})),
        1 => Just(json!("")),
        1 => Just(json!("[1, 2]")),
        1 => Just(json!("{not json")),
        1 => Just(json!("null")),
        1 => junk(),
    ]
}

fn small_schema() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => Just(json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})),
        1 => Just(json!({"type": "object", "properties": {}})),
        2 => schema(),
    ]
}

fn image_url() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "data:image/png;base64,iVBORw0KGgo=",
        "data:image/png,notbase64",
        "data:;base64,AAAA",
        "data:image/jpeg;base64,",
        "https://example.com/cat.png",
        "https://example.com/cat",
        "https://www.youtube.com/watch?v=x",
        "gs://bucket/a.pdf",
        "ftp://example.com/a.png",
        "",
    ])
    .prop_map(str::to_string)
}

fn model() -> impl Strategy<Value = String> {
    prop::sample::select(MODELS).prop_map(str::to_string)
}

/// The order in which the results of `n` calls come: usually each call once, shuffled; now
/// and then an arbitrary list (results missing, doubled).
fn answer_order(n: usize) -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        6 => Just((0..n).collect::<Vec<usize>>()).prop_shuffle(),
        1 => prop::collection::vec(0..n, 0..5),
    ]
}

// ---------------------------------------------------------------------------------------------
// The invariants of a translated request

fn part_kinds(p: &Part) -> usize {
    [
        p.text.is_some(),
        p.inline_data.is_some(),
        p.file_data.is_some(),
        p.function_call.is_some(),
        p.function_response.is_some(),
        p.executable_code.is_some(),
        p.code_execution_result.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count()
}

fn check_parts(parts: &[Part], at: &str) -> Result<(), TestCaseError> {
    prop_assert!(!parts.is_empty(), "{}: empty parts", at);
    for (j, p) in parts.iter().enumerate() {
        prop_assert_eq!(
            part_kinds(p),
            1,
            "{}.parts[{}] holds {} kinds of data: {:?}",
            at,
            j,
            part_kinds(p),
            p
        );
        if let Some(t) = &p.text {
            prop_assert!(!t.is_empty(), "{}.parts[{}]: empty text", at, j);
        }
        if let Some(call) = &p.function_call {
            prop_assert!(
                call.args.is_object(),
                "{}.parts[{}]: args {} is not an object",
                at,
                j,
                call.args
            );
        }
        if let Some(r) = &p.function_response {
            prop_assert!(
                r.response.is_object(),
                "{}.parts[{}]: response {} is not an object",
                at,
                j,
                r.response
            );
            for inner in &r.parts {
                prop_assert!(
                    inner.inline_data.is_some(),
                    "{}.parts[{}]: functionResponse part {:?}",
                    at,
                    j,
                    inner
                );
            }
        }
    }
    Ok(())
}

fn calls(c: &Content) -> Vec<&str> {
    c.parts
        .iter()
        .filter_map(|p| p.function_call.as_ref().map(|f| f.name.as_str()))
        .collect()
}

/// Structural rules every translated request keeps (see the module doc).
fn check_request(req: &GenerateContentRequest) -> Result<(), TestCaseError> {
    let value = serde_json::to_value(req).map_err(|e| TestCaseError::fail(format!("does not serialize: {e}")))?;
    let back: GenerateContentRequest =
        serde_json::from_value(value.clone()).map_err(|e| TestCaseError::fail(format!("does not read back: {e}")))?;
    prop_assert_eq!(&back, req, "serialization does not round-trip");

    prop_assert!(!req.contents.is_empty(), "no contents");
    for (i, c) in req.contents.iter().enumerate() {
        let at = format!("contents[{i}]");
        let role = c.role.as_deref();
        prop_assert!(matches!(role, Some("user" | "model")), "{}: role {:?}", at, role);
        if i > 0 {
            prop_assert_ne!(
                &req.contents[i - 1].role,
                &c.role,
                "{}: same role as the turn before",
                at
            );
        }
        check_parts(&c.parts, &at)?;
        let responses: Vec<&str> = c
            .parts
            .iter()
            .filter_map(|p| p.function_response.as_ref().map(|r| r.name.as_str()))
            .collect();
        if role == Some("model") {
            prop_assert!(responses.is_empty(), "{}: function responses in a model turn", at);
            let names = calls(c);
            if !names.is_empty() {
                // The next turn answers every call: first its responses, in call order.
                let next = req.contents.get(i + 1);
                prop_assert!(next.is_some(), "{}: calls {:?} are the last turn", at, names);
                let next = next.unwrap();
                let answered: Vec<&str> = next
                    .parts
                    .iter()
                    .take_while(|p| p.function_response.is_some())
                    .map(|p| p.function_response.as_ref().unwrap().name.as_str())
                    .collect();
                prop_assert_eq!(&answered, &names, "{}: calls answered by {:?}", at, next.parts);
            }
        } else {
            prop_assert!(calls(c).is_empty(), "{}: function calls in a user turn", at);
            if !responses.is_empty() {
                let previous = if i > 0 { calls(&req.contents[i - 1]) } else { Vec::new() };
                prop_assert_eq!(&responses, &previous, "{}: responses answer no call", at);
            }
        }
    }
    if let Some(system) = &req.system_instruction {
        prop_assert!(system.role.is_none(), "systemInstruction has a role");
        check_parts(&system.parts, "systemInstruction")?;
        prop_assert!(
            system.parts.iter().all(|p| p.text.is_some()),
            "non-text systemInstruction"
        );
    }
    let mut declared: Vec<&str> = Vec::new();
    for tool in &req.tools {
        for d in &tool.function_declarations {
            prop_assert!(!d.name.is_empty(), "function declaration without a name");
            if let Some(p) = &d.parameters {
                check_gemini_schema(p, &format!("{}.parameters", d.name)).map_err(TestCaseError::fail)?;
                prop_assert_eq!(p.get("type"), Some(&json!("OBJECT")));
            }
            declared.push(&d.name);
        }
    }
    if let Some(config) = &req.tool_config {
        prop_assert!(!req.tools.is_empty(), "toolConfig without tools");
        if let Some(f) = &config.function_calling_config {
            prop_assert!(["AUTO", "ANY", "NONE"].contains(&f.mode.as_str()), "mode {}", f.mode);
            prop_assert!(
                f.allowed_function_names.is_empty() || f.mode == "ANY",
                "allowed names outside ANY"
            );
        }
    }
    if let Some(g) = &req.generation_config {
        prop_assert!(g.stop_sequences.len() <= 5, "{} stop sequences", g.stop_sequences.len());
        prop_assert!(g.stop_sequences.iter().all(|s| !s.is_empty()), "empty stop sequence");
        if let Some(t) = &g.thinking_config {
            prop_assert!(
                t.thinking_budget.is_none() || t.thinking_level.is_none(),
                "both budget and level"
            );
        }
        if let Some(s) = &g.response_schema {
            check_gemini_schema(s, "responseSchema").map_err(TestCaseError::fail)?;
        }
    }
    Ok(())
}

/// What the Anthropic and Responses translators add (chat does not: it forwards duplicated
/// names): each function is declared once. With `check_choice` (Anthropic only; chat and
/// Responses forward a `tool_choice` naming an undeclared function), `allowedFunctionNames`
/// names declared functions.
fn check_declarations(req: &GenerateContentRequest, check_choice: bool) -> Result<(), TestCaseError> {
    let declared: Vec<&str> = req
        .tools
        .iter()
        .flat_map(|t| &t.function_declarations)
        .map(|d| d.name.as_str())
        .collect();
    for (k, name) in declared.iter().enumerate() {
        prop_assert!(!declared[..k].contains(name), "{:?} declared twice", name);
    }
    let allowed = req
        .tool_config
        .iter()
        .flat_map(|c| &c.function_calling_config)
        .flat_map(|f| &f.allowed_function_names);
    for name in allowed.filter(|_| check_choice) {
        prop_assert!(declared.contains(&name.as_str()), "allowed {:?} is not declared", name);
    }
    Ok(())
}

/// A translation error is the client's: a 400 in every protocol.
fn check_error(e: &GatewayError) -> Result<(), TestCaseError> {
    prop_assert!(matches!(e, GatewayError::InvalidRequest { .. }), "not a 400: {:?}", e);
    for p in [Protocol::OpenAi, Protocol::Anthropic] {
        prop_assert_eq!(e.status(p), 400);
        let body: Value = serde_json::from_slice(&e.render(p).body).expect("error body is JSON");
        prop_assert!(
            body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{}",
            body
        );
    }
    Ok(())
}

/// How the generated bodies ended, so a run shows that both paths were exercised.
#[derive(Default)]
struct Outcomes {
    translated: AtomicU64,
    rejected: AtomicU64,
    unparsable: AtomicU64,
}

impl Outcomes {
    fn count<T, E: std::fmt::Display>(&self, result: &Result<T, E>) {
        if let (Err(e), true) = (result, debug()) {
            eprintln!("rejected: {e}");
        }
        let counter = if result.is_ok() {
            &self.translated
        } else {
            &self.rejected
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn report(&self, name: &str) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        eprintln!(
            "fuzz {name}: {} translated, {} rejected with a 400, {} unparsable bodies",
            get(&self.translated),
            get(&self.rejected),
            get(&self.unparsable)
        );
    }
}

/// Runs `check` on `body`, naming the body (as JSON text) when it fails.
fn with_body(body: &Value, check: impl FnOnce() -> Result<(), TestCaseError>) -> Result<(), TestCaseError> {
    check().map_err(|e| TestCaseError::fail(format!("{e}\nbody: {body}")))
}

/// Parses `body` as production does (`serde_json::from_slice` into the handler's type).
fn parse<T: serde::de::DeserializeOwned>(body: &Value) -> Option<T> {
    let parsed = serde_json::from_slice(&serde_json::to_vec(body).expect("a Value serializes"));
    if let (Err(e), true) = (&parsed, debug()) {
        eprintln!("unparsable: {e}");
    }
    parsed.ok()
}

/// `FUZZ_DEBUG=1` prints why each body was rejected (to tune the generators towards bodies
/// that translate).
fn debug() -> bool {
    std::env::var_os("FUZZ_DEBUG").is_some()
}

// ---------------------------------------------------------------------------------------------
// OpenAI chat

fn chat_part() -> impl Strategy<Value = Value> {
    prop_oneof![
        16 => text().prop_map(|t| json!({"type": "text", "text": t})),
        2 => image_url().prop_map(|u| json!({"type": "image_url", "image_url": {"url": u, "detail": "auto"}})),
        1 => image_url().prop_map(|u| json!({"type": "image_url", "image_url": u})),
        1 => prop::sample::select(vec!["wav", "mp3", ""]).prop_map(|f| json!({"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": f}})),
        1 => prop::sample::select(vec![
            json!({"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}}),
            json!({"type": "file", "file": {"file_data": "JVBERi0=", "filename": "notes.txt"}}),
            json!({"type": "file", "file": {"file_id": "file-123"}}),
            json!({"type": "file"}),
        ]),
        1 => prop::sample::select(vec!["refusal", "output_text", "input_text", "video", ""]).prop_map(|k| json!({"type": k, "text": "x", "refusal": "no"})),
    ]
}

fn chat_content() -> impl Strategy<Value = Value> {
    prop_oneof![
        20 => text().prop_map(Value::String),
        12 => prop::collection::vec(chat_part(), 0..4).prop_map(Value::Array),
        2 => Just(Value::Null),
        1 => junk(),
    ]
}

fn tool_call() -> impl Strategy<Value = Value> {
    (
        id(),
        fn_name(),
        arguments(),
        prop::sample::select(vec!["function"; 12].into_iter().chain(["custom"]).collect::<Vec<_>>()),
        extra(),
    )
        .prop_map(|(id, name, args, kind, extra)| {
            let mut c = json!({"id": id, "type": kind, "function": {"name": name, "arguments": args}});
            if extra.is_some() {
                c["extra_content"] = json!({"google": {"thought_signature": "c2ln"}});
            }
            c
        })
}

fn chat_message() -> impl Strategy<Value = Value> {
    let role = prop_oneof![
        20 => prop::sample::select(vec!["user", "user", "user", "assistant", "assistant", "system"]),
        1 => prop::sample::select(vec!["developer", "tool", "function", "bot"]),
    ];
    let calls = prop_oneof![6 => Just(Vec::new()), 1 => prop::collection::vec(tool_call(), 1..3)];
    (role, or_junk(chat_content()), calls, id(), fn_name(), 0u8..10, extra()).prop_map(
        |(role, content, calls, id, name, legacy, extra)| {
            let mut m = object(vec![("role", Some(json!(role))), ("content", content)], extra);
            match role {
                "assistant" if !calls.is_empty() => m["tool_calls"] = json!(calls),
                "assistant" if legacy == 0 => m["function_call"] = json!({"name": name, "arguments": "{}"}),
                "tool" => m["tool_call_id"] = json!(id),
                "function" => m["name"] = json!(name),
                _ => {}
            }
            m
        },
    )
}

/// An assistant turn with tool calls and their results (in any order, some maybe missing or
/// doubled): the shape of every agent loop.
fn chat_tool_round() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec((fn_name(), arguments()), 1..4)
        .prop_flat_map(|calls| {
            let n = calls.len();
            (Just(calls), prop::option::of(text()), answer_order(n), chat_content())
        })
        .prop_map(|(calls, text, order, result)| {
            let ids: Vec<String> = (0..calls.len()).map(|k| format!("call_{k}")).collect();
            let tool_calls: Vec<Value> = calls
                .iter()
                .zip(&ids)
                .map(|((name, args), id)| json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}}))
                .collect();
            let mut out = vec![json!({"role": "assistant", "content": text, "tool_calls": tool_calls})];
            for k in order {
                out.push(json!({"role": "tool", "tool_call_id": ids[k], "content": result}));
            }
            out
        })
}

fn chat_messages() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec(
        prop_oneof![3 => chat_message().prop_map(|m| vec![m]), 2 => chat_tool_round()],
        1..6,
    )
    .prop_map(|segments| segments.concat())
}

fn chat_tool() -> impl Strategy<Value = Value> {
    (fn_name(), or_junk(small_schema()), prop::sample::select(vec!["function"; 12].into_iter().chain(["web_search"]).collect::<Vec<_>>()), any::<bool>())
        .prop_map(|(name, parameters, kind, strict)| {
            json!({"type": kind, "function": object(vec![("name", Some(json!(name))), ("description", Some(json!("d"))), ("parameters", parameters), ("strict", Some(json!(strict)))], None)})
        })
}

fn tool_choice() -> impl Strategy<Value = Value> {
    prop_oneof![
        8 => prop::sample::select(vec!["none", "auto", "auto", "required", "sometimes"]).prop_map(|c| json!(c)),
        4 => fn_name().prop_map(|n| json!({"type": "function", "function": {"name": n}})),
        2 => fn_name().prop_map(|n| json!({"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [{"type": "function", "function": {"name": n}}]}})),
        1 => junk(),
    ]
}

fn google_extras() -> impl Strategy<Value = Value> {
    (
        or_junk(Just(json!(1024))),
        or_junk(Just(json!("high"))),
        or_junk(any::<bool>().prop_map(Value::Bool)),
        0u8..12,
    )
        .prop_map(|(budget, level, include, safety)| {
            let thinking = object(
                vec![
                    ("thinking_budget", budget),
                    ("thinking_level", level),
                    ("include_thoughts", include),
                ],
                None,
            );
            let mut g = json!({"thinking_config": thinking});
            match safety {
                0 => {
                    g["safety_settings"] = json!([{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}])
                }
                1 => g["safety_settings"] = json!([{"category": 1}]),
                2 => g["cached_content"] = json!("cachedContents/abc"),
                _ => {}
            }
            g
        })
}

fn response_format() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => Just(json!({"type": "text"})),
        3 => Just(json!({"type": "json_object"})),
        6 => schema().prop_map(|s| json!({"type": "json_schema", "json_schema": {"name": "out", "schema": s, "strict": true}})),
        1 => prop::sample::select(vec![json!({"type": "json_schema", "json_schema": {"name": "out"}}), json!({"type": "yaml"})]),
    ]
}

fn stop() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => text().prop_map(Value::String),
        6 => prop::collection::vec(text(), 0..7).prop_map(|s| json!(s)),
        1 => junk(),
    ]
}

fn chat_request() -> impl Strategy<Value = Value> {
    let settings = (
        or_junk(Just(json!(256))),
        or_junk(prop::sample::select(vec![0.0, 0.7, 2.0, -1.0]).prop_map(|t| json!(t))),
        or_junk(stop()),
        or_junk(
            prop::sample::select(vec!["none", "minimal", "low", "medium", "high", "xhigh", "max"])
                .prop_map(|e| json!(e)),
        ),
        or_junk(Just(json!(1))),
        or_junk(any::<bool>().prop_map(Value::Bool)),
    );
    (
        chat_messages(),
        prop::collection::vec(chat_tool(), 0..4),
        prop::option::of(tool_choice()),
        prop::option::of(response_format()),
        settings,
        prop::option::of(google_extras()),
        any::<bool>(),
        model(),
    )
        .prop_map(|(messages, tools, choice, format, s, google, nested, model)| {
            let mut body = object(
                vec![
                    ("model", Some(json!(model))),
                    ("messages", Some(json!(messages))),
                    ("tools", (!tools.is_empty()).then(|| json!(tools))),
                    ("tool_choice", choice),
                    ("response_format", format),
                    ("max_tokens", s.0),
                    ("temperature", s.1),
                    ("stop", s.2),
                    ("reasoning_effort", s.3),
                    ("n", s.4),
                    ("logprobs", s.5),
                ],
                None,
            );
            if let Some(g) = google {
                if nested {
                    body["extra_body"] = json!({"google": g});
                } else {
                    body["google"] = g;
                }
            }
            body
        })
}

#[test]
fn openai_chat_translation_is_a_400_or_a_valid_gemini_request() {
    let outcomes = Outcomes::default();
    harness::run("openai_chat", 1000, chat_request(), |body| {
        let Some(req) = parse::<OpenAiChatRequest>(&body) else {
            outcomes.unparsable.fetch_add(1, Ordering::Relaxed);
            return Ok(()); // the handler's parse_body answers 400
        };
        let result = chat_request_to_gemini(&req, &req.model);
        outcomes.count(&result);
        with_body(&body, || match result {
            Ok(gemini) => check_request(&gemini),
            Err(e) => check_error(&e),
        })
    });
    outcomes.report("openai_chat");
}

// ---------------------------------------------------------------------------------------------
// Responses

fn responses_part() -> impl Strategy<Value = Value> {
    prop_oneof![
        16 => (prop::sample::select(vec!["input_text", "output_text", "text"]), text()).prop_map(|(k, t)| json!({"type": k, "text": t})),
        2 => image_url().prop_map(|u| json!({"type": "input_image", "image_url": u, "detail": "auto"})),
        1 => prop::sample::select(vec![
            json!({"type": "input_image", "file_id": "file-1"}),
            json!({"type": "input_file", "file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}),
            json!({"type": "input_file", "file_url": "https://example.com/a.pdf"}),
            json!({"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}),
            json!({"type": "refusal", "refusal": "no"}),
            json!({"type": "computer_screenshot"}),
        ]),
    ]
}

fn responses_content() -> impl Strategy<Value = Value> {
    prop_oneof![
        16 => text().prop_map(Value::String),
        12 => prop::collection::vec(responses_part(), 0..4).prop_map(Value::Array),
        1 => junk(),
    ]
}

fn signatures() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (prop::option::of("[a-zA-Z0-9]{1,8}"), prop::collection::vec((0usize..4, "[a-zA-Z0-9]{1,8}"), 0..3))
            .prop_map(|(text, calls)| TurnSignatures { text, calls }.encode()),
        1 => Just("gAAAAB-openai-opaque".to_string()),
        1 => Just("gempool.sig.v1.!!!".to_string()),
    ]
}

fn responses_item() -> impl Strategy<Value = Value> {
    let role = prop_oneof![
        20 => prop::sample::select(vec!["user", "user", "assistant", "system"]),
        1 => prop::sample::select(vec!["developer", "tool"]),
    ];
    prop_oneof![
        12 => (role, or_junk(responses_content()), any::<bool>()).prop_map(|(role, content, typed)| {
            let mut m = object(vec![("role", Some(json!(role))), ("content", content)], None);
            if typed {
                m["type"] = json!("message");
            }
            m
        }),
        1 => (id(), fn_name(), arguments(), prop::sample::select(vec!["function_call", "custom_tool_call"]))
            .prop_map(|(id, name, args, kind)| json!({"type": kind, "call_id": id, "name": name, "arguments": args, "input": "*** Begin Patch"})),
        1 => (id(), prop::option::of(id())).prop_map(|(id, call_id)| json!({"type": "local_shell_call", "id": id, "call_id": call_id, "action": {"type": "exec", "command": ["ls", "-la"], "working_directory": "/tmp", "timeout_ms": 1000}})),
        1 => (id(), responses_content(), prop::sample::select(vec!["function_call_output", "custom_tool_call_output", "local_shell_call_output"]))
            .prop_map(|(id, output, kind)| json!({"type": kind, "call_id": id, "output": output})),
        2 => signatures().prop_map(|s| json!({"type": "reasoning", "summary": [], "encrypted_content": s})),
        1 => prop::sample::select(vec!["item_reference", "web_search_call", ""]).prop_map(|k| json!({"type": k, "id": "x"})),
    ]
}

/// Calls and their outputs with matching ids (outputs shuffled, maybe a reasoning item first).
fn responses_tool_round() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec((fn_name(), arguments(), any::<bool>()), 1..4)
        .prop_flat_map(|calls| {
            let n = calls.len();
            (
                Just(calls),
                prop::option::of(text()),
                prop::option::of(signatures()),
                answer_order(n),
                responses_content(),
            )
        })
        .prop_map(|(calls, text, reasoning, order, output)| {
            let mut out = Vec::new();
            if let Some(s) = reasoning {
                out.push(json!({"type": "reasoning", "summary": [], "encrypted_content": s}));
            }
            if let Some(t) = text {
                out.push(
                    json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": t}]}),
                );
            }
            let ids: Vec<String> = (0..calls.len()).map(|k| format!("fc_{k}")).collect();
            for ((name, args, custom), id) in calls.iter().zip(&ids) {
                out.push(if *custom {
                    json!({"type": "custom_tool_call", "call_id": id, "name": name, "input": "patch"})
                } else {
                    json!({"type": "function_call", "call_id": id, "name": name, "arguments": args})
                });
            }
            for k in order {
                out.push(json!({"type": "function_call_output", "call_id": ids[k], "output": output}));
            }
            out
        })
}

fn responses_tool() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => (fn_name(), or_junk(small_schema())).prop_map(|(name, p)| object(vec![("type", Some(json!("function"))), ("name", Some(json!(name))), ("parameters", p)], None)),
        1 => fn_name().prop_map(|name| json!({"type": "custom", "name": name, "format": {"type": "grammar", "syntax": "lark", "definition": "start: x"}})),
        1 => Just(json!({"type": "local_shell"})),
        1 => Just(json!({"type": "web_search"})),
        1 => junk(),
    ]
}

fn responses_request() -> impl Strategy<Value = Value> {
    let input = prop_oneof![
        4 => text().prop_map(Value::String),
        32 => prop::collection::vec(
            prop_oneof![3 => responses_item().prop_map(|i| vec![i]), 2 => responses_tool_round()],
            1..6,
        )
        .prop_map(|s| json!(s.concat())),
        1 => junk(),
    ];
    let choice = prop_oneof![
        prop::sample::select(vec!["none", "auto", "required", "bogus"]).prop_map(|c| json!(c)),
        fn_name().prop_map(|n| json!({"type": "function", "name": n})),
        fn_name().prop_map(|n| json!({"type": "custom", "name": n})),
        Just(json!({"type": "web_search"})),
        fn_name().prop_map(
            |n| json!({"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": n}]})
        ),
    ];
    let format = prop_oneof![
        Just(json!({"type": "text"})),
        Just(json!({"type": "json_object"})),
        schema().prop_map(|s| json!({"type": "json_schema", "name": "o", "schema": s})),
        Just(json!({"type": "json_schema", "name": "o"})),
    ];
    let reasoning = (
        prop::option::of(prop::sample::select(vec![
            "minimal", "low", "medium", "high", "none", "extreme",
        ])),
        prop::option::of(prop::sample::select(vec!["auto", "detailed", "none"])),
    )
        .prop_map(|(e, s)| json!({"effort": e, "summary": s}));
    (
        input,
        prop::option::of(text()),
        prop::collection::vec(responses_tool(), 0..4),
        prop::option::of(choice),
        prop::option::of(format),
        prop::option::of(reasoning),
        (0u8..60, prop::option::of(google_extras()), model()),
    )
        .prop_map(
            |(input, instructions, tools, choice, format, reasoning, (stateful, google, model))| {
                let mut body = object(
                    vec![
                        ("model", Some(json!(model))),
                        ("input", Some(input)),
                        ("instructions", instructions.map(Value::String)),
                        ("tools", Some(json!(tools))),
                        ("tool_choice", choice),
                        ("text", format.map(|f| json!({"format": f}))),
                        ("reasoning", reasoning),
                        ("include", Some(json!(["reasoning.encrypted_content"]))),
                    ],
                    None,
                );
                match stateful {
                    0 => body["previous_response_id"] = json!("resp_1"),
                    1 => body["conversation"] = json!("conv_1"),
                    2 => body["store"] = json!(true),
                    _ => {}
                }
                if let Some(g) = google {
                    body["extra_body"] = json!({"google": g});
                }
                body
            },
        )
}

#[test]
fn responses_translation_is_a_400_or_a_valid_gemini_request() {
    let outcomes = Outcomes::default();
    harness::run("responses", 1000, responses_request(), |body| {
        let Some(req) = parse::<OpenAiResponsesRequest>(&body) else {
            outcomes.unparsable.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        };
        let result = responses_request_to_gemini(&req, &req.model);
        outcomes.count(&result);
        with_body(&body, || match result {
            Ok(gemini) => {
                check_request(&gemini)?;
                check_declarations(&gemini, false)
            }
            Err(e) => check_error(&e),
        })
    });
    outcomes.report("responses");
}

// ---------------------------------------------------------------------------------------------
// Anthropic

fn source() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        json!({"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}),
        json!({"type": "url", "url": "https://example.com/a.png"}),
        json!({"type": "url", "url": "https://example.com/a"}),
        json!({"type": "text", "media_type": "text/plain", "data": "doc"}),
        json!({"type": "text", "data": ""}),
        json!({"type": "content", "content": [{"type": "text", "text": "inner"}, {"type": "image", "source": {"type": "url", "url": "https://x/y.jpg"}}]}),
        json!({"type": "content", "content": ""}),
        json!({"type": "file", "file_id": "file_1"}),
        json!({"type": "hologram"}),
        json!({"type": "base64"}),
    ])
}

fn thinking_signature() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["gemini:c2ln", "gemini:", "EqQBCkYIBxgCKkB-claude", ""]).prop_map(str::to_string)
}

fn anthropic_block() -> impl Strategy<Value = Value> {
    prop_oneof![
        16 => text().prop_map(|t| json!({"type": "text", "text": t})),
        1 => source().prop_map(|s| json!({"type": "image", "source": s})),
        1 => (source(), prop::option::of(text())).prop_map(|(s, t)| json!({"type": "document", "source": s, "title": t})),
        2 => (id(), fn_name(), prop_oneof![Just(json!({"city": "Paris"})), junk()])
            .prop_map(|(id, name, input)| json!({"type": "tool_use", "id": id, "name": name, "input": input})),
        2 => (id(), prop::option::of(prop_oneof![text().prop_map(Value::String), prop::collection::vec(text().prop_map(|t| json!({"type": "text", "text": t})), 0..3).prop_map(Value::Array)]), prop::option::of(any::<bool>()))
            .prop_map(|(id, content, err)| json!({"type": "tool_result", "tool_use_id": id, "content": content, "is_error": err})),
        1 => (text(), thinking_signature()).prop_map(|(t, s)| json!({"type": "thinking", "thinking": t, "signature": s})),
        1 => prop::sample::select(vec![
            json!({"type": "redacted_thinking", "data": "xx"}),
            json!({"type": "server_tool_use", "id": "srv", "name": "web_search", "input": {}}),
            json!({"type": "search_result"}),
            json!({"type": "text"}),
            json!({"text": "no type"}),
        ]),
    ]
}

fn anthropic_message() -> impl Strategy<Value = Value> {
    let role = prop_oneof![
        20 => prop::sample::select(vec!["user", "assistant"]),
        1 => Just("system"),
    ];
    let content = prop_oneof![
        10 => text().prop_map(Value::String),
        15 => prop::collection::vec(anthropic_block(), 0..4).prop_map(Value::Array),
        1 => junk(),
    ];
    (role, content).prop_map(|(role, content)| json!({"role": role, "content": content}))
}

/// An assistant turn with `tool_use`s and a user turn answering some of them, shuffled, with
/// text and media mixed in (what Claude Code sends).
fn anthropic_tool_round() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec((fn_name(), thinking_signature()), 1..4)
        .prop_flat_map(|calls| {
            let n = calls.len();
            (
                Just(calls),
                prop::option::of(text()),
                answer_order(n),
                prop::collection::vec(anthropic_block(), 0..2),
                any::<bool>(),
            )
        })
        .prop_map(|(calls, text, order, extra, thinking)| {
            let ids: Vec<String> = (0..calls.len()).map(|k| format!("toolu_{k}")).collect();
            let mut assistant = Vec::new();
            if thinking {
                assistant.push(json!({"type": "thinking", "thinking": "hmm", "signature": calls[0].1}));
            }
            if let Some(t) = text {
                assistant.push(json!({"type": "text", "text": t}));
            }
            for ((name, _), id) in calls.iter().zip(&ids) {
                assistant.push(json!({"type": "tool_use", "id": id, "name": name, "input": {"q": 1}}));
            }
            let mut user: Vec<Value> = order
                .into_iter()
                .map(|k| json!({"type": "tool_result", "tool_use_id": ids[k], "content": [{"type": "text", "text": "ok"}, {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]}))
                .collect();
            user.extend(extra);
            vec![json!({"role": "assistant", "content": assistant}), json!({"role": "user", "content": user})]
        })
}

fn anthropic_request() -> impl Strategy<Value = Value> {
    let messages = prop::collection::vec(
        prop_oneof![3 => anthropic_message().prop_map(|m| vec![m]), 2 => anthropic_tool_round()],
        1..6,
    )
    .prop_map(|s| s.concat());
    let tool = prop_oneof![
        4 => (fn_name(), or_junk(small_schema())).prop_map(|(name, s)| object(vec![("name", Some(json!(name))), ("description", Some(json!("d"))), ("input_schema", s)], None)),
        1 => Just(json!({"type": "web_search_20250305", "name": "web_search", "max_uses": 3})),
        1 => Just(json!({"type": "bash_20250124", "name": "bash"})),
        1 => fn_name().prop_map(|name| json!({"type": "custom", "name": name, "input_schema": {"type": "object"}})),
    ];
    let choice = prop_oneof![
        8 => prop::sample::select(vec!["auto", "any", "none", "auto"]).prop_map(|t| json!({"type": t, "disable_parallel_tool_use": true})),
        4 => fn_name().prop_map(|n| json!({"type": "tool", "name": n})),
        1 => prop_oneof![Just(json!({"type": "maybe"})), junk()],
    ];
    let thinking = prop_oneof![
        6 => prop::sample::select(vec![0u32, 1024, 2048, 100_000]).prop_map(|b| json!({"type": "enabled", "budget_tokens": b})),
        3 => Just(json!({"type": "disabled"})),
        3 => prop::sample::select(vec!["summarized", "omitted"]).prop_map(|d| json!({"type": "adaptive", "display": d})),
        1 => prop::sample::select(vec![json!({"type": "enabled"}), json!({"type": "telepathic"})]),
    ];
    let system = prop_oneof![
        text().prop_map(Value::String),
        prop::collection::vec(anthropic_block(), 0..3).prop_map(Value::Array),
    ];
    let output = (
        prop::option::of(prop::sample::select(vec!["low", "medium", "high", "max", "ultra"])),
        prop::option::of(schema()),
    )
        .prop_map(
            |(effort, s)| json!({"effort": effort, "format": s.map(|s| json!({"type": "json_schema", "schema": s}))}),
        );
    (
        messages,
        prop::option::of(system),
        prop::collection::vec(tool, 0..4),
        prop::option::of(choice),
        prop::option::of(thinking),
        prop::option::of(output),
        (
            or_junk(Just(json!(1024))),
            or_junk(prop::collection::vec(text(), 0..7).prop_map(|s| json!(s))),
            model(),
        ),
    )
        .prop_map(
            |(messages, system, tools, choice, thinking, output, (max_tokens, stop, model))| {
                object(
                    vec![
                        ("model", Some(json!(model))),
                        ("messages", Some(json!(messages))),
                        ("system", system),
                        ("tools", Some(json!(tools))),
                        ("tool_choice", choice),
                        ("thinking", thinking),
                        ("output_config", output),
                        ("max_tokens", max_tokens),
                        ("stop_sequences", stop),
                    ],
                    None,
                )
            },
        )
}

#[test]
fn anthropic_translation_is_a_400_or_a_valid_gemini_request() {
    let outcomes = Outcomes::default();
    harness::run("anthropic", 1000, anthropic_request(), |body| {
        with_body(&body.clone(), || {
            let Some(req) = parse::<AnthropicMessagesRequest>(&body) else {
                outcomes.unparsable.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            };
            {
                let result = messages_request_to_gemini(&req, &req.model);
                outcomes.count(&result);
                match result {
                    Ok(gemini) => {
                        check_request(&gemini)?;
                        check_declarations(&gemini, true)?;
                        let config = gemini.generation_config.as_ref();
                        prop_assert_eq!(config.and_then(|g| g.max_output_tokens), req.max_tokens);
                    }
                    Err(e) => check_error(&e)?,
                }
            }
            if let Some(req) = parse::<AnthropicCountTokensRequest>(&body) {
                match count_tokens_request_to_gemini(&req, &req.model) {
                    Ok(count) => {
                        prop_assert!(count.contents.is_empty());
                        let inner = count
                            .generate_content_request
                            .as_ref()
                            .expect("a generateContentRequest");
                        prop_assert!(inner.model.starts_with("models/") && !inner.model.starts_with("models/models/"));
                        check_request(&inner.request)?;
                    }
                    Err(e) => check_error(&e)?,
                }
            }
            Ok(())
        })
    });
    outcomes.report("anthropic");
}
