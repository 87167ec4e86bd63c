//! Hostile client input, table-driven: bad JSON, wrong types, out-of-range numbers, invalid
//! media, bad tool choices, model ids that try to steer the upstream URL, bad credentials,
//! oversized bodies, malformed HTTP, unknown routes and wrong methods, across OpenAI chat /
//! Responses / embeddings, Anthropic messages and count_tokens, native Gemini (streams too)
//! and the admin API.
//!
//! Each case states the status it must get, the error shape (the caller's protocol), and
//! whether anything may reach the upstream (the strict mock counts requests). Every case runs
//! (mismatches are collected, not fatal one by one); afterwards the process must still be up,
//! every pool key exactly as healthy as before, and a normal request must still work. The
//! test prints `hostile inputs: N passed, M failed` and fails listing every mismatch.

use std::time::Duration;

use gempool_tests::harness::{
    error_shape_problem, raw_request_bytes, report_line, secret_leaks, Dialect, Gateway, GatewayOptions, RawResponse,
    TEST_ADMIN_KEY,
};
use gempool_tests::mock::MockGemini;
use serde_json::{json, Value};

const POOL_KEYS: [&str; 2] = ["hostile-pool-key-0001-aaaa", "hostile-pool-key-0002-bbbb"];
/// Request bodies above this are refused (set before the table runs).
const BODY_LIMIT: usize = 64 * 1024;

/// The statuses a case accepts.
#[derive(Debug, Clone)]
enum Want {
    /// Exactly these.
    Status(Vec<u16>),
    /// Any 4xx, or the server closing the connection without an answer (malformed HTTP
    /// that no protocol can be read from).
    ClientErrorOrClose,
    /// Anything; only the extra check decides.
    Anything,
}

/// The body a case's error must have.
#[derive(Debug, Clone, Copy)]
enum Shape {
    Error(Dialect),
    /// Malformed HTTP: no protocol to answer in.
    Any,
}

/// Whether the case may reach the upstream.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Upstream {
    /// Nothing may be sent upstream.
    Never,
    /// The upstream may judge it (native bodies are forwarded as sent); its 4xx comes back.
    Maybe,
}

type Extra = fn(&RawResponse) -> Option<String>;

struct Case {
    name: String,
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// The whole request, when it cannot be built from the parts (malformed HTTP).
    raw: Option<Vec<u8>>,
    want: Want,
    shape: Shape,
    upstream: Upstream,
    extra: Option<Extra>,
}

impl Case {
    fn new(name: impl Into<String>, method: &str, target: &str, dialect: Dialect) -> Case {
        Case {
            name: name.into(),
            method: method.into(),
            target: target.into(),
            headers: Vec::new(),
            body: Vec::new(),
            raw: None,
            want: Want::Status(vec![400]),
            shape: Shape::Error(dialect),
            upstream: Upstream::Never,
            extra: None,
        }
    }

    fn header(mut self, name: &str, value: &str) -> Case {
        self.headers.push((name.into(), value.into()));
        self
    }

    fn without_header(mut self, name: &str) -> Case {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    fn body(mut self, body: impl AsRef<[u8]>) -> Case {
        self.body = body.as_ref().to_vec();
        if !self.headers.iter().any(|(n, _)| n == "content-type") {
            self.headers.push(("content-type".into(), "application/json".into()));
        }
        self
    }

    fn json(self, body: Value) -> Case {
        self.body(body.to_string())
    }

    fn status(mut self, statuses: &[u16]) -> Case {
        self.want = Want::Status(statuses.to_vec());
        self
    }

    fn want(mut self, want: Want) -> Case {
        self.want = want;
        self
    }

    fn any_shape(mut self) -> Case {
        self.shape = Shape::Any;
        self
    }

    fn maybe_upstream(mut self) -> Case {
        self.upstream = Upstream::Maybe;
        self
    }

    fn extra(mut self, check: Extra) -> Case {
        self.extra = Some(check);
        self
    }

    fn raw(mut self, bytes: impl AsRef<[u8]>) -> Case {
        self.raw = Some(bytes.as_ref().to_vec());
        self
    }

    fn bytes(&self) -> Vec<u8> {
        self.raw
            .clone()
            .unwrap_or_else(|| raw_request_bytes(&self.method, &self.target, &self.headers, &self.body))
    }
}

/// Model ids that must never reach the upstream path. 400 or 404 are both fine.
const BAD_MODELS: &[(&str, &str)] = &[
    ("space", "a b"),
    ("space in a real id", "gemini-2.5-flash latest"),
    (
        "method injection with ?key= and #",
        "gemini-2.5-flash:generateContent?key=INJECT#",
    ),
    ("method injection", "gemini-2.5-flash:streamGenerateContent"),
    ("dot-dot path", "../../x"),
    ("models/ dot-dot path", "models/../../x"),
    ("slash dot-dot inside", "gemini-2.5-flash/../../v1beta/cachedContents"),
    ("query", "gemini-2.5-flash?alt=sse"),
    ("fragment", "gemini-2.5-flash#x"),
    ("percent", "gemini%2D2.5-flash"),
    ("percent-encoded slash", "..%2F..%2Fx"),
    ("newline", "gemini-2.5-flash\r\nx-injected: 1"),
    ("NUL", "gemini\u{0}flash"),
    ("non-ASCII", "gemini-2.5-flash\u{00e9}"),
    ("empty after models/", "models/"),
    ("only a colon", ":"),
    ("backslash", "..\\..\\x"),
];

fn openai_chat() -> Case {
    Case::new("", "POST", "/v1/chat/completions", Dialect::OpenAi)
}

fn chat_body(extra: Value) -> Value {
    let mut body = json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]});
    merge(&mut body, extra);
    body
}

fn merge(body: &mut Value, extra: Value) {
    if let (Some(target), Value::Object(extra)) = (body.as_object_mut(), extra) {
        for (k, v) in extra {
            target.insert(k, v);
        }
    }
}

fn image_message(url: Value) -> Value {
    json!([{"role": "user", "content": [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": url}}
    ]}])
}

fn anthropic_body(extra: Value) -> Value {
    let mut body = json!({"model": "claude-3-5-haiku-latest", "max_tokens": 64,
                          "messages": [{"role": "user", "content": "hi"}]});
    merge(&mut body, extra);
    body
}

fn responses_body(extra: Value) -> Value {
    let mut body = json!({"model": "gemini-2.5-flash", "input": "hi"});
    merge(&mut body, extra);
    body
}

fn hello() -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": "hello"}]}]})
}

/// Every case, with the client key and admin key they authenticate with.
/// `victim` is a client key id the admin cases may try to damage (not `client`'s).
fn cases(client: &str, admin: &str, victim: i64) -> Vec<Case> {
    let bearer = format!("Bearer {client}");
    let admin_bearer = format!("Bearer {admin}");
    let oai = |name: &str, body: Value| {
        let mut case = openai_chat().header("authorization", &bearer).json(body);
        case.name = format!("openai chat: {name}");
        case
    };
    let oai_raw = |name: &str, body: &[u8]| {
        let mut case = openai_chat().header("authorization", &bearer).body(body);
        case.name = format!("openai chat: {name}");
        case
    };
    let resp = |name: &str, body: Value| {
        Case::new(
            format!("openai responses: {name}"),
            "POST",
            "/v1/responses",
            Dialect::OpenAi,
        )
        .header("authorization", &bearer)
        .json(body)
    };
    let emb = |name: &str, body: Value| {
        Case::new(
            format!("openai embeddings: {name}"),
            "POST",
            "/v1/embeddings",
            Dialect::OpenAi,
        )
        .header("authorization", &bearer)
        .json(body)
    };
    let ant_at = |path: &str, name: &str| {
        Case::new(format!("anthropic {path}: {name}"), "POST", path, Dialect::Anthropic)
            .header("x-api-key", client)
            .header("anthropic-version", "2023-06-01")
    };
    let ant = |name: &str, body: Value| ant_at("/v1/messages", name).json(body);
    let count = |name: &str, body: Value| ant_at("/v1/messages/count_tokens", name).json(body);
    let native = |name: &str, method: &str, target: &str| {
        Case::new(
            format!("native {method} {target}: {name}"),
            method,
            target,
            Dialect::Gemini,
        )
        .header("x-goog-api-key", client)
    };
    let flash = "/v1beta/models/gemini-2.5-flash:generateContent";
    let flash_sse = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse";
    let admin_case = |name: &str, method: &str, target: &str| {
        Case::new(
            format!("admin {method} {target}: {name}"),
            method,
            target,
            Dialect::Gemini,
        )
        .header("authorization", &admin_bearer)
    };

    let mut all = vec![
        // ---------------------------------------------------------------- OpenAI chat
        oai_raw("truncated JSON", b"{\"model\": \"gemini-2.5-flash\", \"messages\": ["),
        oai_raw("empty body", b""),
        oai_raw("not JSON at all", b"model=gemini&messages=hi"),
        oai_raw("a JSON array", b"[]"),
        oai_raw("a JSON string", b"\"hello\""),
        oai_raw("JSON null", b"null"),
        oai_raw("invalid UTF-8", b"{\"model\": \"gemini-2.5-flash\", \"messages\": [{\"role\": \"user\", \"content\": \"\xff\xfe\"}]}"),
        oai_raw("nested 10000 deep", format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).as_bytes()),
        oai_raw("number out of range", b"{\"model\": \"gemini-2.5-flash\", \"temperature\": 1e400, \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}"),
        oai("missing model", json!({"messages": [{"role": "user", "content": "hi"}]})),
        oai("model is a number", chat_body(json!({"model": 42}))),
        oai("model is empty", chat_body(json!({"model": ""}))),
        oai("missing messages", json!({"model": "gemini-2.5-flash"})),
        oai("messages is a string", chat_body(json!({"messages": "hi"}))),
        oai("messages is empty", chat_body(json!({"messages": []}))),
        oai("message without role", chat_body(json!({"messages": [{"content": "hi"}]}))),
        oai("role wizard", chat_body(json!({"messages": [{"role": "wizard", "content": "hi"}]}))),
        oai("content is a number", chat_body(json!({"messages": [{"role": "user", "content": 42}]}))),
        oai("content part type video", chat_body(json!({"messages": [{"role": "user", "content": [{"type": "video", "video": "x"}]}]}))),
        oai("text part without text", chat_body(json!({"messages": [{"role": "user", "content": [{"type": "text"}]}]}))),
        oai("image data URL with invalid base64", chat_body(json!({"messages": image_message(json!("data:image/png;base64,!!!not*base64***"))}))),
        oai("image data URL without a comma", chat_body(json!({"messages": image_message(json!("data:image/png;base64"))}))),
        oai("image data URL without data", chat_body(json!({"messages": image_message(json!("data:image/png;base64,"))}))),
        oai("image url is a number", chat_body(json!({"messages": image_message(json!(42))}))),
        oai("n: 0", chat_body(json!({"n": 0}))),
        oai("n: 9", chat_body(json!({"n": 9}))),
        oai("n: -1", chat_body(json!({"n": -1}))),
        oai("n is a string", chat_body(json!({"n": "2"}))),
        oai("n: 1e10", chat_body(json!({"n": 10_000_000_000u64}))),
        oai("temperature is a string", chat_body(json!({"temperature": "hot"}))),
        oai("temperature: -1", chat_body(json!({"temperature": -1}))),
        oai("temperature: 1e300", chat_body(json!({"temperature": 1e300}))),
        oai("top_p: 2", chat_body(json!({"top_p": 2}))),
        oai("max_tokens: -5", chat_body(json!({"max_tokens": -5}))),
        oai("max_tokens: 1e20", chat_body(json!({"max_tokens": 1e20}))),
        oai("max_tokens: 3.5", chat_body(json!({"max_tokens": 3.5}))),
        oai("max_completion_tokens is a string", chat_body(json!({"max_completion_tokens": "many"}))),
        oai("stream is a string", chat_body(json!({"stream": "yes"}))),
        oai("tools is an object", chat_body(json!({"tools": {}}))),
        oai("tool without function", chat_body(json!({"tools": [{"type": "function"}]}))),
        oai("tool function without name", chat_body(json!({"tools": [{"type": "function", "function": {"parameters": {"type": "object"}}}]}))),
        oai("tool_choice: sometimes", chat_body(json!({"tool_choice": "sometimes", "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]}))),
        oai("tool_choice object of unknown type", chat_body(json!({"tool_choice": {"type": "telepathy"}, "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]}))),
        oai("tool_choice is a number", chat_body(json!({"tool_choice": 7}))),
        oai("response_format type xml", chat_body(json!({"response_format": {"type": "xml"}}))),
        oai("response_format is a string", chat_body(json!({"response_format": "json"}))),
        oai("stop is a number", chat_body(json!({"stop": 42}))),
        oai("tool message without content or id", chat_body(json!({"messages": [{"role": "user", "content": "hi"}, {"role": "tool"}]}))),
        oai("assistant tool_calls is a string", chat_body(json!({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "tool_calls": "f()"}]}))),
        oai("stream with n: 9", chat_body(json!({"stream": true, "n": 9}))),
        oai("stream with tool_choice sometimes", chat_body(json!({"stream": true, "tool_choice": "sometimes"}))),
        oai("reasoning_effort: extreme", chat_body(json!({"reasoning_effort": "extreme"}))),
        Case::new("openai chat: no credentials", "POST", "/v1/chat/completions", Dialect::OpenAi)
            .json(chat_body(json!({})))
            .status(&[401]),
        Case::new("openai chat: wrong client key", "POST", "/v1/chat/completions", Dialect::OpenAi)
            .header("authorization", "Bearer gp-not-a-real-client-key")
            .json(chat_body(json!({})))
            .status(&[401]),
        Case::new("openai chat: empty bearer", "POST", "/v1/chat/completions", Dialect::OpenAi)
            .header("authorization", "Bearer ")
            .json(chat_body(json!({})))
            .status(&[401]),
        Case::new("openai chat: Basic auth", "POST", "/v1/chat/completions", Dialect::OpenAi)
            .header("authorization", "Basic dXNlcjpwYXNz")
            .json(chat_body(json!({})))
            .status(&[401]),
        Case::new("openai chat: 8 KiB bearer", "POST", "/v1/chat/completions", Dialect::OpenAi)
            .header("authorization", &format!("Bearer {}", "k".repeat(8192)))
            .json(chat_body(json!({})))
            .status(&[401]),
        Case::new("openai chat: the admin key as a client key", "POST", "/v1/chat/completions", Dialect::OpenAi)
            .header("authorization", &admin_bearer)
            .json(chat_body(json!({})))
            .status(&[401, 403]),
        Case::new("openai chat: a pool key as a client key", "POST", "/v1/chat/completions", Dialect::OpenAi)
            .header("authorization", &format!("Bearer {}", POOL_KEYS[0]))
            .json(chat_body(json!({})))
            .status(&[401]),
        Case::new("openai chat: GET", "GET", "/v1/chat/completions", Dialect::OpenAi)
            .header("authorization", &bearer)
            .status(&[405]),
        Case::new("openai chat: PUT", "PUT", "/v1/chat/completions", Dialect::OpenAi)
            .header("authorization", &bearer)
            .json(chat_body(json!({})))
            .status(&[405]),
        Case::new("openai chat: DELETE", "DELETE", "/v1/chat/completions", Dialect::OpenAi)
            .header("authorization", &bearer)
            .status(&[405]),
        Case::new("openai chat: lowercase method", "post", "/v1/chat/completions", Dialect::OpenAi)
            .header("authorization", &bearer)
            .json(chat_body(json!({})))
            .status(&[400, 405]),
        oai("oversized body", chat_body(json!({"messages": [{"role": "user", "content": "x".repeat(BODY_LIMIT + 4096)}]})))
            .status(&[413]),
        Case::new("openai chat: model listing for a model id with dot-dot", "GET", "/v1/models/..%2F..%2Fadmin%2Fapi%2Fkeys", Dialect::OpenAi)
            .header("authorization", &bearer)
            .status(&[400, 404]),
        Case::new("openai: GET /v1/models/ with a raw dot-dot path", "GET", "/v1/models/../../admin/api/keys", Dialect::OpenAi)
            .header("authorization", &bearer)
            .status(&[400, 404]),
        Case::new("openai: GET /v1/models/a%20b", "GET", "/v1/models/a%20b", Dialect::OpenAi)
            .header("authorization", &bearer)
            .status(&[400, 404]),
        // ---------------------------------------------------------------- OpenAI Responses
        resp("truncated JSON", json!(null)).body("{\"model\": \"gemini-2.5-flash\", \"input\": "),
        resp("empty body", json!(null)).body(""),
        resp("missing model", json!({"input": "hi"})),
        resp("input is a number", responses_body(json!({"input": 42}))),
        resp("input item of unknown type", responses_body(json!({"input": [{"type": "hologram", "content": "x"}]}))),
        resp("input message with role wizard", responses_body(json!({"input": [{"type": "message", "role": "wizard", "content": "hi"}]}))),
        resp("input_image with invalid base64", responses_body(json!({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "data:image/png;base64,@@@@"}]}]}))),
        resp("temperature is a string", responses_body(json!({"temperature": "hot"}))),
        resp("max_output_tokens: -1", responses_body(json!({"max_output_tokens": -1}))),
        resp("tool_choice: sometimes", responses_body(json!({"tool_choice": "sometimes", "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}]}))),
        resp("tools is an object", responses_body(json!({"tools": {}}))),
        resp("text.format type xml", responses_body(json!({"text": {"format": {"type": "xml"}}}))),
        resp("reasoning.effort: extreme", responses_body(json!({"reasoning": {"effort": "extreme"}}))),
        resp("stream is a string", responses_body(json!({"stream": "yes"}))),
        resp("stream with tool_choice sometimes", responses_body(json!({"stream": true, "tool_choice": "sometimes"}))),
        Case::new("openai responses: GET", "GET", "/v1/responses", Dialect::OpenAi)
            .header("authorization", &bearer)
            .status(&[404, 405]),
        Case::new("openai responses: no credentials", "POST", "/v1/responses", Dialect::OpenAi)
            .json(responses_body(json!({})))
            .status(&[401]),
        // ---------------------------------------------------------------- OpenAI embeddings
        emb("truncated JSON", json!(null)).body("{\"model\": \"text-embedding-3-small\", \"input\": [\"a\""),
        emb("missing input", json!({"model": "text-embedding-3-small"})),
        emb("missing model", json!({"input": "hi"})),
        emb("input is a number", json!({"model": "text-embedding-3-small", "input": 42})),
        emb("input is empty", json!({"model": "text-embedding-3-small", "input": []})),
        emb("input holds null", json!({"model": "text-embedding-3-small", "input": [null]})),
        emb("input holds an object", json!({"model": "text-embedding-3-small", "input": [{"text": "a"}]})),
        emb("dimensions: -1", json!({"model": "text-embedding-3-small", "input": "hi", "dimensions": -1})),
        emb("dimensions: 0", json!({"model": "text-embedding-3-small", "input": "hi", "dimensions": 0})),
        emb("dimensions is a string", json!({"model": "text-embedding-3-small", "input": "hi", "dimensions": "big"})),
        emb("encoding_format: hex", json!({"model": "text-embedding-3-small", "input": "hi", "encoding_format": "hex"})),
        Case::new("openai embeddings: GET", "GET", "/v1/embeddings", Dialect::OpenAi)
            .header("authorization", &bearer)
            .status(&[405]),
        // ---------------------------------------------------------------- Anthropic messages
        ant("truncated JSON", json!(null)).body("{\"model\": \"claude-3-5-haiku-latest\", \"messages\": [{"),
        ant("empty body", json!(null)).body(""),
        ant("a JSON array", json!([])),
        ant("missing model", json!({"max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]})),
        ant("missing max_tokens", json!({"model": "claude-3-5-haiku-latest", "messages": [{"role": "user", "content": "hi"}]})),
        ant("max_tokens: -1", anthropic_body(json!({"max_tokens": -1}))),
        ant("max_tokens is a string", anthropic_body(json!({"max_tokens": "many"}))),
        ant("max_tokens: 1e20", anthropic_body(json!({"max_tokens": 1e20}))),
        ant("missing messages", json!({"model": "claude-3-5-haiku-latest", "max_tokens": 64})),
        ant("messages is empty", anthropic_body(json!({"messages": []}))),
        ant("messages is a string", anthropic_body(json!({"messages": "hi"}))),
        ant("role system inside messages", anthropic_body(json!({"messages": [{"role": "system", "content": "hi"}]}))),
        ant("role wizard", anthropic_body(json!({"messages": [{"role": "wizard", "content": "hi"}]}))),
        ant("content is a number", anthropic_body(json!({"messages": [{"role": "user", "content": 42}]}))),
        ant("content block of unknown type", anthropic_body(json!({"messages": [{"role": "user", "content": [{"type": "video", "source": {}}]}]}))),
        ant("text block without text", anthropic_body(json!({"messages": [{"role": "user", "content": [{"type": "text"}]}]}))),
        ant("image with invalid base64", anthropic_body(json!({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "!!!not-base64!!!"}}]}]}))),
        ant("image with empty data", anthropic_body(json!({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": ""}}]}]}))),
        ant("image source of unknown type", anthropic_body(json!({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "carrier-pigeon"}}]}]}))),
        ant("tool_result without tool_use_id", anthropic_body(json!({"messages": [{"role": "user", "content": [{"type": "tool_result", "content": "x"}]}]}))),
        ant("tool_choice type sometimes", anthropic_body(json!({"tool_choice": {"type": "sometimes"}, "tools": [{"name": "f", "input_schema": {"type": "object"}}]}))),
        ant("tool_choice is a string", anthropic_body(json!({"tool_choice": "sometimes", "tools": [{"name": "f", "input_schema": {"type": "object"}}]}))),
        ant("tools is an object", anthropic_body(json!({"tools": {}}))),
        ant("tool without name", anthropic_body(json!({"tools": [{"input_schema": {"type": "object"}}]}))),
        ant("thinking budget -5", anthropic_body(json!({"thinking": {"type": "enabled", "budget_tokens": -5}}))),
        ant("thinking of unknown type", anthropic_body(json!({"thinking": {"type": "maybe"}}))),
        ant("temperature is a string", anthropic_body(json!({"temperature": "hot"}))),
        ant("stop_sequences is a string", anthropic_body(json!({"stop_sequences": "STOP"}))),
        ant("system is a number", anthropic_body(json!({"system": 42}))),
        ant("stream is a string", anthropic_body(json!({"stream": "yes"}))),
        ant("stream with an invalid image", anthropic_body(json!({"stream": true, "messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "%%%"}}]}]}))),
        ant("oversized body", anthropic_body(json!({"messages": [{"role": "user", "content": "x".repeat(BODY_LIMIT + 4096)}]})))
            .status(&[413]),
        Case::new("anthropic /v1/messages: no credentials", "POST", "/v1/messages", Dialect::Anthropic)
            .header("anthropic-version", "2023-06-01")
            .json(anthropic_body(json!({})))
            .status(&[401]),
        ant("wrong x-api-key", anthropic_body(json!({})))
            .without_header("x-api-key")
            .header("x-api-key", "sk-ant-not-a-client-key")
            .status(&[401]),
        Case::new("anthropic /v1/messages: GET", "GET", "/v1/messages", Dialect::Anthropic)
            .header("x-api-key", client)
            .header("anthropic-version", "2023-06-01")
            .status(&[405]),
        // ---------------------------------------------------------------- Anthropic count_tokens
        count("truncated JSON", json!(null)).body("{\"model\":"),
        count("missing messages", json!({"model": "claude-3-5-haiku-latest"})),
        count("missing model", json!({"messages": [{"role": "user", "content": "hi"}]})),
        count("messages is a number", json!({"model": "claude-3-5-haiku-latest", "messages": 42})),
        count("tools is an object", json!({"model": "claude-3-5-haiku-latest", "messages": [{"role": "user", "content": "hi"}], "tools": {}})),
        count("system is a number", json!({"model": "claude-3-5-haiku-latest", "messages": [{"role": "user", "content": "hi"}], "system": 42})),
        Case::new("anthropic count_tokens: GET", "GET", "/v1/messages/count_tokens", Dialect::Anthropic)
            .header("x-api-key", client)
            .header("anthropic-version", "2023-06-01")
            .status(&[405]),
        // ---------------------------------------------------------------- native Gemini
        native("truncated JSON", "POST", flash).body("{\"contents\": ["),
        native("empty body", "POST", flash).body(""),
        native("not JSON", "POST", flash).body("contents=hi"),
        native("invalid UTF-8", "POST", flash).body(b"{\"contents\": \"\xff\"}"),
        native("stream: truncated JSON", "POST", flash_sse).body("{\"contents\": [{\"parts\": "),
        native("stream: empty body", "POST", flash_sse).body(""),
        native("JSON-array stream: not JSON", "POST", "/v1beta/models/gemini-2.5-flash:streamGenerateContent").body("<xml/>"),
        native("countTokens: truncated JSON", "POST", "/v1beta/models/gemini-2.5-flash:countTokens").body("{"),
        native("embedContent: truncated JSON", "POST", "/v1beta/models/gemini-embedding-001:embedContent").body("{\"content\""),
        native("batchEmbedContents: not JSON", "POST", "/v1beta/models/gemini-embedding-001:batchEmbedContents").body("]["),
        native("contents is a string (the upstream judges)", "POST", flash)
            .json(json!({"contents": "hi"}))
            .maybe_upstream(),
        native("unknown field (the upstream judges)", "POST", flash)
            .json(json!({"contents": [{"parts": [{"text": "hi"}]}], "bogusField": 1}))
            .maybe_upstream(),
        native("role wizard (the upstream judges)", "POST", flash)
            .json(json!({"contents": [{"role": "wizard", "parts": [{"text": "hi"}]}]}))
            .maybe_upstream(),
        native("stream: unknown field (the upstream judges)", "POST", flash_sse)
            .json(json!({"contents": [{"parts": [{"text": "hi"}]}], "bogusField": 1}))
            .maybe_upstream(),
        native("inline data with invalid base64 (the upstream judges)", "POST", flash)
            .json(json!({"contents": [{"parts": [{"inlineData": {"mimeType": "image/png", "data": "!!!"}}]}]}))
            .maybe_upstream(),
        native("model %20 in the path", "POST", "/v1beta/models/a%20b:generateContent")
            .json(hello())
            .status(&[400, 404]),
        native("stream: model %20 in the path", "POST", "/v1beta/models/a%20b:streamGenerateContent?alt=sse")
            .json(hello())
            .status(&[400, 404]),
        native("encoded dot-dot in the model", "POST", "/v1beta/models/..%2F..%2Fx:generateContent")
            .json(hello())
            .status(&[400, 404]),
        native("raw dot-dot before the model", "POST", "/v1beta/models/../../x:generateContent")
            .json(hello())
            .status(&[400, 404]),
        native("encoded ? in the model", "POST", "/v1beta/models/gemini-2.5-flash%3Fkey=INJECT:generateContent")
            .json(hello())
            .status(&[400, 404]),
        native("encoded # in the model", "POST", "/v1beta/models/gemini-2.5-flash%23x:generateContent")
            .json(hello())
            .status(&[400, 404]),
        native("encoded NUL in the model", "POST", "/v1beta/models/gemini%00:generateContent")
            .json(hello())
            .status(&[400, 404]),
        native("encoded slash in the model", "POST", "/v1beta/models/a%2Fb:generateContent")
            .json(hello())
            .status(&[400, 404]),
        native("encoded ? after the method", "POST", "/v1beta/models/gemini-2.5-flash:generateContent%3Fkey=INJECT")
            .json(hello())
            .status(&[400, 404]),
        native("two methods", "POST", "/v1beta/models/gemini-2.5-flash:generateContent:streamGenerateContent")
            .json(hello())
            .status(&[400, 404]),
        native("empty model", "POST", "/v1beta/models/:generateContent")
            .json(hello())
            .status(&[400, 404]),
        native("unknown method", "POST", "/v1beta/models/gemini-2.5-flash:teleport")
            .json(hello())
            .status(&[404]),
        native("model id of 4 KiB", "POST", &format!("/v1beta/models/{}:generateContent", "a".repeat(4096)))
            .json(hello())
            .status(&[400, 404])
            .maybe_upstream(),
        native("GET a model with %20", "GET", "/v1beta/models/a%20b").status(&[400, 404]),
        native("GET a model with encoded dot-dot", "GET", "/v1beta/models/..%2F..%2Fv1beta%2Fmodels").status(&[400, 404]),
        native("unknown collection", "GET", "/v1beta/tunedModelsX/x").status(&[404]),
        native("nothing here", "GET", "/v1beta/nothing/here").status(&[404]),
        native("GET on a POST method", "GET", flash).status(&[405]),
        native("PUT on countTokens", "PUT", "/v1beta/models/gemini-2.5-flash:countTokens")
            .json(hello())
            .status(&[405]),
        native("POST on the model list", "POST", "/v1beta/models").json(hello()).status(&[405]),
        native("DELETE a model", "DELETE", "/v1beta/models/gemini-2.5-flash").status(&[405]),
        native("oversized body", "POST", flash)
            .json(json!({"contents": [{"parts": [{"text": "x".repeat(BODY_LIMIT + 4096)}]}]}))
            .status(&[413]),
        native("stream: oversized body", "POST", flash_sse)
            .json(json!({"contents": [{"parts": [{"text": "x".repeat(BODY_LIMIT + 4096)}]}]}))
            .status(&[413]),
        Case::new("native: no credentials", "POST", flash, Dialect::Gemini)
            .json(hello())
            .status(&[401]),
        Case::new("native: wrong x-goog-api-key", "POST", flash, Dialect::Gemini)
            .header("x-goog-api-key", "AIzaNotAClientKeyOfThisGateway0000000000")
            .json(hello())
            .status(&[401]),
        Case::new("native: wrong ?key=", "POST", &format!("{flash}?key=INJECT"), Dialect::Gemini)
            .json(hello())
            .status(&[401]),
        Case::new("native stream: wrong ?key=", "POST", &format!("{flash_sse}&key=INJECT"), Dialect::Gemini)
            .json(hello())
            .status(&[401]),
        Case::new("native: the admin key as x-goog-api-key", "POST", flash, Dialect::Gemini)
            .header("x-goog-api-key", admin)
            .json(hello())
            .status(&[401, 403]),
        // ---------------------------------------------------------------- admin API
        Case::new("admin: no credentials", "GET", "/admin/api/keys", Dialect::Gemini).status(&[401]),
        Case::new("admin: wrong bearer", "GET", "/admin/api/keys", Dialect::Gemini)
            .header("authorization", "Bearer not-the-admin-key")
            .status(&[401]),
        Case::new("admin: the admin key in ?key= is refused", "GET", &format!("/admin/api/keys?key={admin}"), Dialect::Gemini)
            .status(&[401]),
        Case::new("admin: the admin key in x-goog-api-key is refused", "GET", "/admin/api/keys", Dialect::Gemini)
            .header("x-goog-api-key", admin)
            .status(&[401]),
        Case::new("admin: the admin key in x-api-key is refused", "GET", "/admin/api/keys", Dialect::Gemini)
            .header("x-api-key", admin)
            .status(&[401]),
        Case::new("admin: a client key", "GET", "/admin/api/keys", Dialect::Gemini)
            .header("authorization", &bearer)
            .status(&[401, 403]),
        Case::new("admin: a pool key", "GET", "/admin/api/keys", Dialect::Gemini)
            .header("authorization", &format!("Bearer {}", POOL_KEYS[0]))
            .status(&[401, 403]),
        Case::new("admin: dot-dot around the auth check", "GET", "/admin/api/../api/keys", Dialect::Gemini)
            .status(&[400, 401, 404]),
        Case::new("admin: cross-origin error carries no wildcard CORS", "GET", "/admin/api/keys", Dialect::Gemini)
            .header("origin", "https://evil.example")
            .status(&[401])
            .extra(no_open_cors),
        admin_case("a cross-origin read carries no wildcard CORS", "GET", "/admin/api/settings")
            .header("origin", "https://evil.example")
            .status(&[200])
            .extra(no_open_cors),
        Case::new("admin: preflight from another origin is not allowed", "OPTIONS", "/admin/api/keys", Dialect::Gemini)
            .header("origin", "https://evil.example")
            .header("access-control-request-method", "DELETE")
            .header("access-control-request-headers", "authorization")
            .want(Want::Anything)
            .any_shape()
            .extra(no_open_cors),
        Case::new("admin page: framing and sniffing are forbidden", "GET", "/admin/", Dialect::Gemini)
            .status(&[200])
            .any_shape()
            .extra(page_security_headers),
        admin_case("malformed JSON", "POST", "/admin/api/keys").body("{\"key\": "),
        admin_case("empty object", "POST", "/admin/api/keys").json(json!({})),
        admin_case("key is a number", "POST", "/admin/api/keys").json(json!({"key": 42})),
        admin_case("key is empty", "POST", "/admin/api/keys").json(json!({"key": ""})),
        admin_case("key with a newline", "POST", "/admin/api/keys").json(json!({"key": "AIzaLine\nx-injected: 1"})),
        admin_case("keys is a string", "POST", "/admin/api/keys").json(json!({"keys": "a,b"})),
        admin_case("keys holds a number", "POST", "/admin/api/keys").json(json!({"keys": [1, 2]})),
        admin_case("negative weight", "POST", "/admin/api/keys").json(json!({"key": "hostile-new-key-negative-weight", "weight": -3})),
        admin_case("weight is a string", "POST", "/admin/api/keys").json(json!({"key": "hostile-new-key-string-weight", "weight": "heavy"})),
        admin_case("weight 1e20", "POST", "/admin/api/keys").json(json!({"key": "hostile-new-key-huge-weight", "weight": 1e20})),
        admin_case("label is an object", "POST", "/admin/api/keys").json(json!({"key": "hostile-new-key-object-label", "label": {}})),
        admin_case("PATCH weight -1", "PATCH", "/admin/api/keys/1").json(json!({"weight": -1})),
        admin_case("PATCH enabled is a string", "PATCH", "/admin/api/keys/1").json(json!({"enabled": "yes"})),
        admin_case("PATCH malformed JSON", "PATCH", "/admin/api/keys/1").body("{"),
        admin_case("PATCH a non-numeric id", "PATCH", "/admin/api/keys/abc").json(json!({"label": "x"})).status(&[400, 404]),
        admin_case("PATCH a negative id", "PATCH", "/admin/api/keys/-1").json(json!({"label": "x"})).status(&[400, 404]),
        admin_case("PATCH a missing id", "PATCH", "/admin/api/keys/999999").json(json!({"label": "x"})).status(&[404]),
        admin_case("DELETE a missing id", "DELETE", "/admin/api/keys/999999").status(&[404]),
        admin_case("DELETE with SQL in the id", "DELETE", "/admin/api/keys/1%20OR%201=1").status(&[400, 404]),
        admin_case("enable a non-numeric id", "POST", "/admin/api/keys/abc/enable").status(&[400, 404]),
        admin_case("unknown key action", "POST", "/admin/api/keys/1/explode").status(&[404, 405]),
        admin_case("reset a missing id", "POST", "/admin/api/keys/999999/reset").status(&[404]),
        admin_case("client key rpm -1", "POST", "/admin/api/client-keys").json(json!({"name": "x", "rpm": -1})),
        admin_case("client key rpd -5", "POST", "/admin/api/client-keys").json(json!({"name": "x", "rpd": -5})),
        admin_case("client key tpm is a string", "POST", "/admin/api/client-keys").json(json!({"name": "x", "tpm": "lots"})),
        admin_case("client key expires_at is a string", "POST", "/admin/api/client-keys").json(json!({"name": "x", "expires_at": "tomorrow"})),
        admin_case("client key allowed_models is a string", "POST", "/admin/api/client-keys").json(json!({"name": "x", "allowed_models": "gpt-4o"})),
        admin_case("client key name is a number", "POST", "/admin/api/client-keys").json(json!({"name": 42})),
        admin_case("client key malformed JSON", "POST", "/admin/api/client-keys").body("{\"name\""),
        admin_case("PATCH client key rpm -1", "PATCH", &format!("/admin/api/client-keys/{victim}"))
            .json(json!({"rpm": -1})),
        admin_case("PATCH a missing client key", "PATCH", "/admin/api/client-keys/999999").json(json!({"rpm": 1})).status(&[404]),
        admin_case("revoke a missing client key", "DELETE", "/admin/api/client-keys/999999").status(&[404]),
        admin_case("usage since=notadate", "GET", "/admin/api/usage?since=notadate"),
        admin_case("usage since an impossible date", "GET", "/admin/api/usage?since=2025-13-45"),
        admin_case("usage since with SQL", "GET", "/admin/api/usage?since=2025-01-01%27%20OR%20%271%27=%271"),
        admin_case("requests limit=-1", "GET", "/admin/api/requests?limit=-1"),
        admin_case("requests limit=abc", "GET", "/admin/api/requests?limit=abc"),
        admin_case("requests limit=1e30", "GET", "/admin/api/requests?limit=1000000000000000000000000000000"),
        admin_case("settings max_attempts 0", "PATCH", "/admin/api/settings").json(json!({"max_attempts": 0})),
        admin_case("settings unknown strategy", "PATCH", "/admin/api/settings").json(json!({"strategy": "best"})),
        admin_case("settings unknown name", "PATCH", "/admin/api/settings").json(json!({"nope": 1})),
        admin_case("settings breaker_threshold -1", "PATCH", "/admin/api/settings").json(json!({"breaker_threshold": -1})),
        admin_case("settings max_body_bytes 1e30", "PATCH", "/admin/api/settings").json(json!({"max_body_bytes": 1e30})),
        admin_case("settings cooldown_escalation NaN-ish string", "PATCH", "/admin/api/settings").json(json!({"cooldown_escalation": "NaN"})),
        admin_case("settings is an array", "PATCH", "/admin/api/settings").json(json!([])),
        admin_case("settings malformed JSON", "PATCH", "/admin/api/settings").body("{\"strategy\": }"),
        admin_case("alias target is a number", "PATCH", "/admin/api/aliases").json(json!({"gpt-4o": 42})),
        admin_case("alias target with a space", "PATCH", "/admin/api/aliases").json(json!({"hostile-alias-1": "a b"})),
        admin_case("alias target with dot-dot", "PATCH", "/admin/api/aliases").json(json!({"hostile-alias-2": "../../x"})),
        admin_case("alias target with method injection", "PATCH", "/admin/api/aliases").json(json!({"hostile-alias-3": "gemini-2.5-flash:generateContent?key=INJECT#"})),
        admin_case("aliases is an array", "PATCH", "/admin/api/aliases").json(json!(["gpt-4o"])),
        admin_case("unknown route", "GET", "/admin/api/nothing").status(&[404]),
        admin_case("DELETE settings", "DELETE", "/admin/api/settings").status(&[404, 405]),
        admin_case("PUT keys", "PUT", "/admin/api/keys").json(json!({})).status(&[404, 405]),
        admin_case("oversized body", "POST", "/admin/api/keys")
            .json(json!({"keys": vec!["x".repeat(1024); BODY_LIMIT / 1024 + 8]}))
            .status(&[413]),
        // ---------------------------------------------------------------- routes
        Case::new("route: GET /nothing", "GET", "/nothing", Dialect::OpenAi).status(&[404]),
        Case::new("route: POST /v1/completions (legacy)", "POST", "/v1/completions", Dialect::OpenAi)
            .header("authorization", &bearer)
            .json(json!({"model": "gemini-2.5-flash", "prompt": "hi"}))
            .status(&[404]),
        Case::new("route: GET /v1/nothing", "GET", "/v1/nothing", Dialect::OpenAi)
            .header("authorization", &bearer)
            .status(&[404]),
        Case::new("route: encoded dot-dot to /etc/passwd", "GET", "/%2e%2e/%2e%2e/etc/passwd", Dialect::OpenAi).status(&[400, 404]),
        Case::new("route: TRACE /health", "TRACE", "/health", Dialect::OpenAi).status(&[405]),
        // ---------------------------------------------------------------- malformed HTTP
        Case::new("http: garbage request line", "GET", "/", Dialect::OpenAi)
            .raw(b"GARBAGE\r\n\r\n")
            .want(Want::ClientErrorOrClose)
            .any_shape(),
        Case::new("http: header line without a colon", "GET", "/health", Dialect::OpenAi)
            .raw(b"GET /health HTTP/1.1\r\nhost: x\r\nthis is not a header\r\nconnection: close\r\n\r\n")
            .want(Want::ClientErrorOrClose)
            .any_shape(),
        Case::new("http: header name with a space", "GET", "/health", Dialect::OpenAi)
            .raw(b"GET /health HTTP/1.1\r\nhost: x\r\nbad name: 1\r\nconnection: close\r\n\r\n")
            .want(Want::ClientErrorOrClose)
            .any_shape(),
        Case::new("http: NUL in a header value", "POST", "/v1/chat/completions", Dialect::OpenAi)
            .raw(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer a\x00b\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
            .want(Want::ClientErrorOrClose)
            .any_shape(),
        Case::new("http: content-length is not a number", "POST", "/v1/chat/completions", Dialect::OpenAi)
            .raw(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: abc\r\nconnection: close\r\n\r\n{}")
            .want(Want::ClientErrorOrClose)
            .any_shape(),
        Case::new("http: negative content-length", "POST", "/v1/chat/completions", Dialect::OpenAi)
            .raw(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: -1\r\nconnection: close\r\n\r\n{}")
            .want(Want::ClientErrorOrClose)
            .any_shape(),
        Case::new("http: two different content-lengths", "POST", "/v1/chat/completions", Dialect::OpenAi)
            .raw(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\ncontent-length: 5\r\nconnection: close\r\n\r\n{}")
            .want(Want::ClientErrorOrClose)
            .any_shape(),
        Case::new("http: a 1 MiB header", "GET", "/health", Dialect::OpenAi)
            .raw(format!("GET /health HTTP/1.1\r\nhost: x\r\nx-big: {}\r\nconnection: close\r\n\r\n", "a".repeat(1 << 20)))
            .want(Want::ClientErrorOrClose)
            .any_shape(),
        Case::new("http: a 100 KiB request target", "GET", "/health", Dialect::OpenAi)
            .raw(format!("GET /v1/models/{} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n", "a".repeat(100 * 1024)))
            .want(Want::ClientErrorOrClose)
            .any_shape(),
        Case::new("http: space in the request target", "POST", "/v1beta/models/a b:generateContent", Dialect::Gemini)
            .raw(b"POST /v1beta/models/a b:generateContent HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
            .want(Want::ClientErrorOrClose)
            .any_shape(),
    ];

    // Bad model ids through every protocol that takes a model in the body.
    for (what, model) in BAD_MODELS {
        all.push(oai(&format!("model id: {what}"), chat_body(json!({"model": model}))).status(&[400, 404]));
        all.push(
            oai(
                &format!("stream, model id: {what}"),
                chat_body(json!({"model": model, "stream": true})),
            )
            .status(&[400, 404]),
        );
        all.push(ant(&format!("model id: {what}"), anthropic_body(json!({"model": model}))).status(&[400, 404]));
    }
    for (what, model) in BAD_MODELS.iter().step_by(2) {
        all.push(resp(&format!("model id: {what}"), responses_body(json!({"model": model}))).status(&[400, 404]));
        all.push(emb(&format!("model id: {what}"), json!({"model": model, "input": "hi"})).status(&[400, 404]));
        all.push(
            count(
                &format!("model id: {what}"),
                json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}),
            )
            .status(&[400, 404]),
        );
    }
    all
}

/// Admin answers must not open the API to other origins.
fn no_open_cors(response: &RawResponse) -> Option<String> {
    match response.header("access-control-allow-origin") {
        Some(origin) if origin == "*" || origin.contains("evil.example") => {
            Some(format!("access-control-allow-origin: {origin} on the admin API"))
        }
        _ => None,
    }
}

/// The admin page must forbid framing and MIME sniffing and set a CSP.
fn page_security_headers(response: &RawResponse) -> Option<String> {
    let mut missing = Vec::new();
    if response.header("content-security-policy").is_none() {
        missing.push("content-security-policy");
    }
    let framing = response
        .header("x-frame-options")
        .is_some_and(|v| v.eq_ignore_ascii_case("deny") || v.eq_ignore_ascii_case("sameorigin"))
        || response
            .header("content-security-policy")
            .is_some_and(|csp| csp.contains("frame-ancestors"));
    if !framing {
        missing.push("x-frame-options (or CSP frame-ancestors)");
    }
    if !response
        .header("x-content-type-options")
        .is_some_and(|v| v.eq_ignore_ascii_case("nosniff"))
    {
        missing.push("x-content-type-options: nosniff");
    }
    (!missing.is_empty()).then(|| format!("the admin page lacks {}", missing.join(", ")))
}

/// Checks one answer against its case; `None` when it passes.
fn judge(
    case: &Case,
    outcome: &Result<RawResponse, String>,
    upstream_calls: u64,
    secrets: &[(String, String)],
) -> Option<String> {
    let mut problems = Vec::new();
    match outcome {
        Err(e) => {
            if !matches!(case.want, Want::ClientErrorOrClose) || e.contains("timed out") {
                problems.push(format!("no answer: {e}"));
            }
        }
        Ok(response) => {
            let status_ok = match &case.want {
                Want::Status(statuses) => statuses.contains(&response.status),
                Want::ClientErrorOrClose => (400..500).contains(&response.status),
                Want::Anything => true,
            };
            if !status_ok {
                problems.push(format!("status {} (wanted {:?})", response.status, case.want));
            }
            let is_error = response.status >= 400;
            if let (Shape::Error(dialect), true) = (case.shape, is_error) {
                if let Some(problem) = error_shape_problem(dialect, response.status, &response.body) {
                    problems.push(format!("{dialect:?} error shape: {problem}"));
                }
            }
            if let Some(problem) = case.extra.and_then(|check| check(response)) {
                problems.push(problem);
            }
            let mut seen = response.text();
            for (name, value) in &response.headers {
                seen.push_str(&format!("\n{name}: {value}"));
            }
            for leak in secret_leaks(&seen, secrets, 12) {
                problems.push(format!("secret in the answer: {leak}"));
            }
        }
    }
    if case.upstream == Upstream::Never && upstream_calls > 0 {
        problems.push(format!("{upstream_calls} request(s) reached the upstream"));
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

fn describe_answer(outcome: &Result<RawResponse, String>) -> String {
    match outcome {
        Ok(r) => {
            let text = r.text();
            let cut = (0..=text.len().min(240))
                .rev()
                .find(|i| text.is_char_boundary(*i))
                .unwrap_or(0);
            format!("{} {}", r.status, &text[..cut])
        }
        Err(e) => format!("error: {e}"),
    }
}

#[test]
fn hostile_inputs_get_errors_in_the_callers_shape_and_change_nothing() {
    let mock = MockGemini::with_keys(&POOL_KEYS);
    let gw = Gateway::start(GatewayOptions::with_mock(&mock, &POOL_KEYS));
    gw.admin("PATCH", "/admin/api/settings")
        .json(&json!({"max_body_bytes": BODY_LIMIT}))
        .send()
        .assert_status(200);
    let created = gw
        .admin("POST", "/admin/api/client-keys")
        .json(&json!({"name": "hostile"}))
        .send();
    created.assert_status(201);
    let client = created.json()["key"].as_str().expect("a client key").to_string();

    // The setup works: a good request reaches the upstream and succeeds.
    gw.post("/v1/chat/completions")
        .bearer(&client)
        .json(&chat_body(json!({})))
        .send()
        .assert_status(200);
    let health_before = gw.key_health();
    assert!(
        health_before.iter().all(|k| k.is_pristine()),
        "keys start healthy: {health_before:?}"
    );

    let secrets: Vec<(String, String)> = POOL_KEYS
        .iter()
        .enumerate()
        .map(|(i, k)| (format!("pool key {}", i + 1), k.to_string()))
        .chain([
            ("client key".to_string(), client.clone()),
            ("admin key".to_string(), TEST_ADMIN_KEY.to_string()),
        ])
        .collect();
    let victim = gw
        .admin("POST", "/admin/api/client-keys")
        .json(&json!({"name": "victim"}))
        .send()
        .json()["id"]
        .as_i64()
        .expect("a client key id");
    // Proxied cases first, admin cases last: an admin change wrongly accepted (a negative
    // limit, a bad setting) must not mask what the proxied cases would show.
    let (admin_cases, proxied_cases): (Vec<Case>, Vec<Case>) = cases(&client, TEST_ADMIN_KEY, victim)
        .into_iter()
        .partition(|case| case.target.starts_with("/admin"));
    let table: Vec<Case> = proxied_cases.into_iter().chain(admin_cases).collect();
    let first_admin = table.iter().position(|case| case.target.starts_with("/admin"));
    let mut failures = Vec::new();
    let mut after = Vec::new();
    let mut health_changed = false;
    for (index, case) in table.iter().enumerate() {
        if Some(index) == first_admin {
            let health = gw.key_health();
            if health != health_before {
                after.push(format!(
                    "key health changed by the proxied cases:\n      before {health_before:?}\n      after  {health:?}"
                ));
            }
        }
        let before = mock.request_count();
        let outcome = gw.raw(&case.bytes(), Duration::from_secs(20));
        // An upstream call runs before the answer is written; nothing can arrive later.
        let upstream_calls = mock.request_count() - before;
        let mut problem = judge(case, &outcome, upstream_calls, &secrets);
        // Client input never changes key health: check after every proxied case, so the case
        // that did it is named.
        if first_admin.is_none_or(|first| index < first) && !health_changed {
            let health = gw.key_health();
            if health != health_before {
                health_changed = true;
                let change = format!("key health changed: {health:?}");
                problem = Some(problem.map_or(change.clone(), |p| format!("{p}; {change}")));
            }
        }
        if let Some(problem) = problem {
            failures.push(format!(
                "{} [{} {}]\n      expected: {:?}, {:?}, upstream {:?}\n      actual:   {}\n      problem:  {problem}",
                case.name,
                case.method,
                truncate_target(&case.target),
                case.want,
                case.shape,
                case.upstream,
                describe_answer(&outcome)
            ));
        }
    }

    // After the table: the process is up, keys are exactly as they were, and it still works.
    if !gw.alive() {
        after.push("the gateway process is gone".to_string());
    } else {
        let health_after = gw.key_health();
        let original: Vec<_> = health_after
            .iter()
            .filter(|k| health_before.iter().any(|b| b.id == k.id))
            .cloned()
            .collect();
        if original != health_before {
            after.push(format!(
                "key health changed:\n      before {health_before:?}\n      after  {original:?}"
            ));
        }
        let before = mock.request_count();
        let good = gw
            .post("/v1/chat/completions")
            .bearer(&client)
            .json(&chat_body(json!({})))
            .try_send();
        match good {
            Ok(r) if r.status == 200 && mock.request_count() == before + 1 => {}
            Ok(r) => after.push(format!(
                "a good request afterwards got {} ({} upstream calls): {}",
                r.status,
                mock.request_count() - before,
                r.text()
            )),
            Err(e) => after.push(format!("a good request afterwards failed: {e}")),
        }
        // The optional `models/` prefix is accepted and not doubled on the way upstream.
        let prefixed = gw
            .post("/v1/chat/completions")
            .bearer(&client)
            .json(&chat_body(json!({"model": "models/gemini-2.5-flash"})))
            .try_send();
        let path = mock.last_request().map(|r| r.path).unwrap_or_default();
        match prefixed {
            Ok(r) if r.status == 200 && path == "/v1beta/models/gemini-2.5-flash:generateContent" => {}
            Ok(r) => after.push(format!(
                "model \"models/gemini-2.5-flash\" got {} with upstream path {path:?}: {}",
                r.status,
                r.text()
            )),
            Err(e) => after.push(format!("model \"models/gemini-2.5-flash\" failed: {e}")),
        }
        // Whatever did reach the upstream went to a well-formed path: the model list, or one
        // `models/<id>[:<verb>]` with a plain id; a query of `alt`, `pageSize`, `pageToken` only.
        for request in mock.requests() {
            let plain = |id: &str| {
                !id.is_empty()
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
            };
            let path_ok = ["/v1beta/models", "/v1/models"].iter().any(|base| {
                request.path == *base
                    || request
                        .path
                        .strip_prefix(base)
                        .and_then(|rest| rest.strip_prefix('/'))
                        .is_some_and(|rest| match rest.split_once(':') {
                            Some((id, verb)) => {
                                plain(id) && !verb.is_empty() && verb.bytes().all(|b| b.is_ascii_alphabetic())
                            }
                            None => plain(rest),
                        })
            });
            let query_ok = form_pairs(&request.query)
                .iter()
                .all(|(k, _)| ["alt", "pageSize", "pageToken"].contains(&k.as_str()));
            let well_formed = path_ok && query_ok;
            if !well_formed {
                after.push(format!(
                    "an upstream request went to {:?} with query {:?}",
                    request.path, request.query
                ));
            }
        }
        let log = gw.process_log();
        for leak in secret_leaks(&log, &secrets, 12) {
            after.push(format!("secret in the gateway log: {leak}"));
        }
    }

    let total = table.len();
    report_line(&format!(
        "hostile inputs: {} passed, {} failed (of {total})",
        total - failures.len(),
        failures.len()
    ));
    assert!(total >= 150, "the table has {total} cases; it must have at least 150");
    if !failures.is_empty() || !after.is_empty() {
        panic!(
            "\nhostile inputs: {} passed, {} failed (of {total})\n\n  {}\n\nafter the table:\n  {}\n",
            total - failures.len(),
            failures.len(),
            failures.join("\n  "),
            if after.is_empty() {
                "ok".to_string()
            } else {
                after.join("\n  ")
            }
        );
    }
}

/// `a=b&c=d` as pairs (no decoding: the keys checked are plain).
fn form_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn truncate_target(target: &str) -> String {
    if target.len() > 100 {
        format!("{}… ({} bytes)", &target[..100], target.len())
    } else {
        target.to_string()
    }
}
