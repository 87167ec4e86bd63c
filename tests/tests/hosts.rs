//! The end-to-end scenarios that matter, against the hosts `GEMPOOL_HOST` selects (default
//! `gempool`; e.g. `GEMPOOL_HOST=jco`, `GEMPOOL_HOST=spin GEMPOOL_SPIN_BIN=/path/to/spin`,
//! `GEMPOOL_HOST=gempool,jco,spin,wasmtime-serve,workers`). See `gempool_tests::hosts`.
//!
//! Gateway hosts (gempool, spin, workers) run `dist/gempool.wasm`: rotation, failover on a
//! per-day 429, an invalid key disabled, incremental streaming, OpenAI and Anthropic chat (plain
//! and stream), the admin API, the pool's `/metrics` rendered by the component, state across a
//! restart. Edge hosts (jco, wasmtime-serve) run `dist/gempool-edge.wasm` in pure-proxy mode:
//! chat through the OpenAI, Anthropic and native routes with failover across two
//! client-supplied keys, incremental streaming, and 501 for what needs storage. A selected host that cannot run fails the test; each scenario names the
//! hosts it ran on.

use gempool_tests::harness::{report_line, KeyHealth};
use gempool_tests::hosts::{self, Host, HostKind, World};
use gempool_tests::mock::{Behavior, MockGemini};
use serde_json::{json, Value};
use std::time::Duration;

const MODEL: &str = "gemini-2.5-flash";
const NATIVE: &str = "/v1beta/models/gemini-2.5-flash:generateContent";
const NATIVE_STREAM: &str = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse";

/// Google-shaped keys (the edge's pure-proxy mode only takes keys that look like Gemini's).
fn keys(tag: &str) -> [String; 2] {
    [
        format!("AIzaSyHOSTS-{tag}-aaaaaaaaaaaaaaaaaaaaaaaaaa"),
        format!("AIzaSyHOSTS-{tag}-bbbbbbbbbbbbbbbbbbbbbbbbbb"),
    ]
}

/// Runs `scenario` on every selected host of `world`, and says where it ran.
fn on_hosts(world: World, name: &str, scenario: impl Fn(&'static dyn HostKind)) {
    let kinds = hosts::selected_for(world);
    for kind in &kinds {
        scenario(*kind);
    }
    let names: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
    let ran = if names.is_empty() {
        format!("no {world:?} host selected")
    } else {
        names.join(", ")
    };
    report_line(&format!("hosts: {name}: {ran}"));
}

fn hello() -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": "hello there"}]}]})
}

fn openai_chat(stream: bool) -> Value {
    json!({"model": MODEL, "stream": stream, "messages": [{"role": "user", "content": "hello there"}]})
}

fn anthropic_messages(stream: bool) -> Value {
    json!({"model": MODEL, "max_tokens": 64, "stream": stream,
           "messages": [{"role": "user", "content": "hello there"}]})
}

/// A gateway host on `mock` with `pool` as its upstream keys; returns it and a client key.
fn gateway(kind: &'static dyn HostKind, mock: &MockGemini, pool: &[String]) -> (Host, String) {
    let host = Host::start(kind, &mock.url());
    let pool: Vec<&str> = pool.iter().map(String::as_str).collect();
    host.add_keys(&pool);
    let client = host.client_key();
    (host, client)
}

fn key_health(host: &Host) -> Vec<KeyHealth> {
    let list = host.admin("GET", "/admin/api/keys").send();
    list.assert_status(200);
    list.json()["keys"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(KeyHealth::from_json)
        .collect()
}

/// The text of an OpenAI chat completion, checked for shape.
fn openai_text(value: &Value) -> String {
    assert_eq!(value["object"], "chat.completion", "{value}");
    let text = value["choices"][0]["message"]["content"].as_str().unwrap_or_default();
    assert!(!text.is_empty(), "{value}");
    text.to_owned()
}

fn anthropic_text(value: &Value) -> String {
    assert_eq!(value["type"], "message", "{value}");
    let text = value["content"][0]["text"].as_str().unwrap_or_default();
    assert!(!text.is_empty(), "{value}");
    text.to_owned()
}

fn native_text(value: &Value) -> String {
    let text = value["candidates"][0]["content"]["parts"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(!text.is_empty(), "{value}");
    text.to_owned()
}

/// OpenAI stream: `chat.completion.chunk` events with content, ending in `[DONE]`.
fn check_openai_stream(text: &str) {
    assert!(text.contains("chat.completion.chunk"), "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
}

/// Anthropic stream: the event sequence from `message_start` to `message_stop`.
fn check_anthropic_stream(text: &str) {
    for event in [
        "event: message_start",
        "event: content_block_delta",
        "event: message_stop",
    ] {
        assert!(text.contains(event), "no {event}: {text}");
    }
}

/// Streams `request`, proving the first event reaches the client while the upstream stream is
/// still running (the mock sends a chunk every 300 ms), then that the rest follows.
fn check_incremental(mock: &MockGemini, request: gempool_tests::http::RequestBuilder) {
    let mut stream = request.send_stream();
    stream.assert_status(200);
    let first = stream
        .next_chunk(Duration::from_secs(10))
        .expect("a first chunk within 10 s");
    assert!(!first.data.is_empty());
    assert!(
        mock.active_requests() >= 1,
        "the first chunk arrived only after the upstream had finished: the host buffered"
    );
    let rest = stream.collect_chunks();
    assert!(!rest.is_empty(), "nothing followed the first chunk");
    let span = rest.last().unwrap().at.duration_since(first.at);
    assert!(
        span >= Duration::from_millis(300),
        "the chunks came {span:?} apart: buffered"
    );
}

// ---------------------------------------------------------------- gateway world

#[test]
fn rotation_spreads_requests_over_the_pool() {
    on_hosts(World::Gateway, "rotation", |kind| {
        let pool = keys("rot");
        let mock = MockGemini::with_keys(&[&pool[0], &pool[1]]);
        let (host, client) = gateway(kind, &mock, &pool);
        for _ in 0..6 {
            host.post(NATIVE)
                .bearer(&client)
                .json(&hello())
                .send()
                .assert_status(200);
        }
        let (a, b) = (mock.count_for_key(&pool[0]), mock.count_for_key(&pool[1]));
        assert_eq!(a + b, 6);
        assert!(a >= 2 && b >= 2, "{}: round robin sent {a} and {b}", kind.name());
    });
}

/// A gateway over two keys whose first is out of its per-day quota, after `requests` native
/// requests that each succeeded: the pool, the mock, the host and the client key.
struct DayExhausted {
    pool: [String; 2],
    mock: MockGemini,
    host: Host,
    client: String,
}

fn first_key_exhausted_for_the_day(kind: &'static dyn HostKind, tag: &str, requests: usize) -> DayExhausted {
    let pool = keys(tag);
    let mock = MockGemini::with_keys(&[&pool[0], &pool[1]]);
    mock.set_behavior(&pool[0], Behavior::RateLimitPerDay);
    let (host, client) = gateway(kind, &mock, &pool);
    for _ in 0..requests {
        let reply = host.post(NATIVE).bearer(&client).json(&hello()).send();
        reply.assert_status(200);
        native_text(&reply.json());
    }
    DayExhausted {
        pool,
        mock,
        host,
        client,
    }
}

#[test]
fn a_per_day_429_fails_over_and_the_key_cools_down() {
    on_hosts(World::Gateway, "per-day 429 failover", |kind| {
        let DayExhausted { pool, mock, host, .. } = first_key_exhausted_for_the_day(kind, "day", 4);
        assert_eq!(
            mock.count_for_key(&pool[0]),
            1,
            "{}: the exhausted key is cooled down after its first 429",
            kind.name()
        );
        assert_eq!(mock.count_for_key(&pool[1]), 4);
        let health = key_health(&host);
        assert_eq!(health.len(), 2);
        let until = health[0]
            .cooldowns
            .iter()
            .find(|c| c.0 == MODEL)
            .map(|c| c.1)
            .unwrap_or_else(|| panic!("{}: no cooldown on {MODEL}: {health:?}", kind.name()));
        // A per-day quota resets at midnight Pacific time (07:00 or 08:00 UTC).
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let remaining = until - now_ms;
        assert!(
            remaining > 0 && remaining <= 25 * 3_600_000,
            "{}: cooldown ends in {remaining} ms",
            kind.name()
        );
        assert!(
            matches!((until / 3_600_000) % 24, 7 | 8) && until % 3_600_000 == 0,
            "{}: the cooldown does not end at a Pacific midnight: {until}",
            kind.name()
        );
        assert!(health[1].is_pristine(), "{health:?}");
    });
}

#[test]
fn an_invalid_key_is_disabled() {
    on_hosts(World::Gateway, "invalid key disabled", |kind| {
        let pool = keys("inv");
        let mock = MockGemini::with_keys(&[&pool[0], &pool[1]]);
        mock.set_behavior(&pool[0], Behavior::InvalidKey);
        let (host, client) = gateway(kind, &mock, &pool);
        for _ in 0..3 {
            host.post(NATIVE)
                .bearer(&client)
                .json(&hello())
                .send()
                .assert_status(200);
        }
        assert_eq!(mock.count_for_key(&pool[0]), 1, "{}", kind.name());
        let health = key_health(&host);
        assert!(!health[0].enabled, "{}: {health:?}", kind.name());
        assert!(health[0].disabled_reason.is_some(), "{health:?}");
        assert!(health[1].enabled);
    });
}

#[test]
fn streams_reach_the_client_incrementally() {
    on_hosts(World::Gateway, "incremental streaming", |kind| {
        let pool = keys("inc");
        let mock = MockGemini::with_keys(&[&pool[0]]);
        mock.set_behavior(&pool[0], Behavior::SlowStream { chunk_delay_ms: 300 });
        let (host, client) = gateway(kind, &mock, &pool[..1]);
        check_incremental(&mock, host.post(NATIVE_STREAM).bearer(&client).json(&hello()));
        check_incremental(
            &mock,
            host.post("/v1/chat/completions")
                .bearer(&client)
                .json(&openai_chat(true)),
        );
    });
}

#[test]
fn openai_and_anthropic_chat_plain_and_streamed() {
    on_hosts(World::Gateway, "OpenAI + Anthropic chat", |kind| {
        let pool = keys("chat");
        let mock = MockGemini::with_keys(&[&pool[0], &pool[1]]);
        let (host, client) = gateway(kind, &mock, &pool);
        let plain = host
            .post("/v1/chat/completions")
            .bearer(&client)
            .json(&openai_chat(false))
            .send();
        plain.assert_status(200);
        openai_text(&plain.json());
        let streamed = host
            .post("/v1/chat/completions")
            .bearer(&client)
            .json(&openai_chat(true))
            .send();
        streamed.assert_status(200);
        check_openai_stream(&streamed.text());
        let anthropic = |stream: bool| {
            host.post("/v1/messages")
                .header("x-api-key", &client)
                .header("anthropic-version", "2023-06-01")
                .json(&anthropic_messages(stream))
                .send()
        };
        let plain = anthropic(false);
        plain.assert_status(200);
        anthropic_text(&plain.json());
        let streamed = anthropic(true);
        streamed.assert_status(200);
        check_anthropic_stream(&streamed.text());
        assert_eq!(mock.request_count(), 4);
    });
}

#[test]
fn the_admin_api_adds_and_lists_keys() {
    on_hosts(World::Gateway, "admin API", |kind| {
        let mock = MockGemini::start();
        let host = Host::start(kind, &mock.url());
        host.admin("GET", "/admin/api/keys")
            .send()
            .assert_json("/keys", json!([]));
        let pool = keys("adm");
        let added = host
            .admin("POST", "/admin/api/keys")
            .json(&json!({"keys": pool}))
            .send();
        added.assert_success();
        let listed = host.admin("GET", "/admin/api/keys").send();
        listed.assert_status(200);
        let list = listed.json()["keys"].as_array().cloned().unwrap_or_default();
        assert_eq!(list.len(), 2, "{}", listed.text());
        assert!(
            !listed.text().contains(&pool[0]),
            "the list shows secrets: {}",
            listed.text()
        );
        host.get("/admin/api/keys").send().assert_status(401);
    });
}

/// The sum of the samples of `family` in Prometheus text whose label set contains every one of
/// `labels` (`name="value"`).
fn metric_sum(text: &str, family: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .filter(|(series, _)| series.split('{').next() == Some(family) && labels.iter().all(|l| series.contains(l)))
        .filter_map(|(_, value)| value.parse::<f64>().ok())
        .sum()
}

#[test]
fn the_pool_metrics_come_from_the_component() {
    on_hosts(World::Gateway, "pool /metrics", |kind| {
        // The mock stays up while the host runs.
        let DayExhausted {
            pool,
            mock: _mock,
            host,
            client,
        } = first_key_exhausted_for_the_day(kind, "met", 3);
        host.get("/metrics").send().assert_status(401);
        host.get("/metrics").bearer(&client).send().assert_status(401);
        let scraped = host.admin("GET", "/metrics").send();
        scraped.assert_status(200);
        let text = scraped.text();
        let model = format!("model=\"{MODEL}\"");
        assert_eq!(
            metric_sum(&text, "gempool_upstream_requests_total", &[&model, "outcome=\"ok\""]),
            3.0,
            "{}: three answered attempts\n{text}",
            kind.name()
        );
        assert_eq!(
            metric_sum(
                &text,
                "gempool_upstream_requests_total",
                &[&model, "outcome=\"rate_limited\""]
            ),
            1.0,
            "{}: one 429\n{text}",
            kind.name()
        );
        assert!(
            metric_sum(&text, "gempool_key_cooldown_seconds", &[&model]) > 60.0,
            "{}: the exhausted key cools for the rest of the day\n{text}",
            kind.name()
        );
        assert!(
            metric_sum(&text, "gempool_tokens_total", &[&model]) > 0.0,
            "{}: tokens counted\n{text}",
            kind.name()
        );
        for secret in [&pool[0], &pool[1], &client] {
            assert!(!text.contains(secret.as_str()), "{}: a secret in /metrics", kind.name());
        }
    });
}

#[test]
fn state_survives_a_restart_of_the_host() {
    on_hosts(World::Gateway, "state across a restart", |kind| {
        assert!(kind.stateful());
        let pool = keys("rst");
        let mock = MockGemini::with_keys(&[&pool[0], &pool[1]]);
        mock.set_behavior(&pool[0], Behavior::InvalidKey);
        let (mut host, client) = gateway(kind, &mock, &pool);
        host.post(NATIVE)
            .bearer(&client)
            .json(&hello())
            .send()
            .assert_status(200);
        host.restart();
        // The client key, the pool and the disabled key are all still there.
        for _ in 0..2 {
            host.post(NATIVE)
                .bearer(&client)
                .json(&hello())
                .send()
                .assert_status(200);
        }
        assert_eq!(
            mock.count_for_key(&pool[0]),
            1,
            "{}: the disabled key was tried again",
            kind.name()
        );
        let health = key_health(&host);
        assert_eq!(health.len(), 2);
        assert!(!health[0].enabled && health[1].enabled, "{health:?}");
    });
}

// ---------------------------------------------------------------- edge world

#[test]
fn edge_pure_proxy_fails_over_across_the_callers_keys_on_every_route() {
    on_hosts(World::Edge, "edge pure-proxy failover", |kind| {
        let pool = keys("edge");
        let mock = MockGemini::with_keys(&[&pool[0], &pool[1]]);
        mock.set_behavior(&pool[0], Behavior::RateLimitPerDay);
        let host = Host::start(kind, &mock.url());
        let both = format!("{},{}", pool[0], pool[1]);

        let openai = host
            .post("/v1/chat/completions")
            .bearer(&both)
            .json(&openai_chat(false))
            .send();
        openai.assert_status(200);
        openai_text(&openai.json());
        let openai_stream = host
            .post("/v1/chat/completions")
            .bearer(&both)
            .json(&openai_chat(true))
            .send();
        openai_stream.assert_status(200);
        check_openai_stream(&openai_stream.text());
        let anthropic = host
            .post("/v1/messages")
            .header("x-api-key", &both)
            .header("anthropic-version", "2023-06-01")
            .json(&anthropic_messages(false))
            .send();
        anthropic.assert_status(200);
        anthropic_text(&anthropic.json());
        let anthropic_stream = host
            .post("/v1/messages")
            .header("x-api-key", &both)
            .header("anthropic-version", "2023-06-01")
            .json(&anthropic_messages(true))
            .send();
        anthropic_stream.assert_status(200);
        check_anthropic_stream(&anthropic_stream.text());
        let native = host.post(NATIVE).header("x-goog-api-key", &both).json(&hello()).send();
        native.assert_status(200);
        native_text(&native.json());

        // Every request reached the good key; the exhausted one was tried as the random order
        // put it first (no state is kept between requests).
        assert_eq!(mock.count_for_key(&pool[1]), 5, "{}", kind.name());
        for request in mock.requests() {
            assert!(
                request
                    .header("x-goog-api-key")
                    .is_some_and(|k| k == pool[0] || k == pool[1]),
                "{}: an upstream request carried something else than one key",
                kind.name()
            );
        }
        for text in [openai.text(), anthropic.text(), native.text()] {
            assert!(
                !text.contains(&pool[0]) && !text.contains(&pool[1]),
                "a key leaked: {text}"
            );
        }
    });
}

#[test]
fn edge_failover_when_the_first_key_is_invalid_or_exhausted() {
    on_hosts(World::Edge, "edge failover within the request", |kind| {
        let pool = keys("fo");
        let mock = MockGemini::with_keys(&[&pool[0], &pool[1]]);
        mock.set_behavior(&pool[0], Behavior::InvalidKey);
        mock.set_behavior(&pool[1], Behavior::RateLimitPerDay);
        let host = Host::start(kind, &mock.url());
        let both = format!("{},{}", pool[0], pool[1]);
        // Both keys fail: each is tried once within the request, then the caller hears why.
        let failed = host
            .post("/v1/chat/completions")
            .bearer(&both)
            .json(&openai_chat(false))
            .send();
        assert!(failed.status >= 400, "{}", failed.text());
        assert_eq!(mock.count_for_key(&pool[0]), 1, "{}", kind.name());
        assert_eq!(mock.count_for_key(&pool[1]), 1, "{}", kind.name());
        assert!(failed.json()["error"]["message"].is_string(), "{}", failed.text());
        // One good key among them is enough, whatever the order.
        mock.set_behavior(&pool[1], Behavior::Ok);
        for _ in 0..4 {
            host.post("/v1/chat/completions")
                .bearer(&both)
                .json(&openai_chat(false))
                .send()
                .assert_status(200);
        }
    });
}

#[test]
fn edge_streams_reach_the_client_incrementally() {
    on_hosts(World::Edge, "edge incremental streaming", |kind| {
        let pool = keys("einc");
        let mock = MockGemini::with_keys(&[&pool[0]]);
        mock.set_behavior(&pool[0], Behavior::SlowStream { chunk_delay_ms: 300 });
        let host = Host::start(kind, &mock.url());
        check_incremental(
            &mock,
            host.post(NATIVE_STREAM)
                .header("x-goog-api-key", &pool[0])
                .json(&hello()),
        );
        check_incremental(
            &mock,
            host.post("/v1/messages")
                .header("x-api-key", &pool[0])
                .header("anthropic-version", "2023-06-01")
                .json(&anthropic_messages(true)),
        );
    });
}

#[test]
fn edge_refuses_what_needs_storage_in_the_callers_protocol() {
    on_hosts(World::Edge, "edge 501 / 401", |kind| {
        let mock = MockGemini::start();
        let host = Host::start(kind, &mock.url());
        let admin = host.admin("GET", "/admin/api/keys").send();
        admin.assert_status(501);
        assert!(admin.text().contains("gateway"), "{}", admin.text());
        host.get("/admin/").send().assert_status(501);
        let anthropic = host
            .post("/v1/messages")
            .header("x-api-key", "not-a-gemini-key")
            .header("anthropic-version", "2023-06-01")
            .json(&anthropic_messages(false))
            .send();
        anthropic.assert_status(401);
        assert_eq!(anthropic.json()["type"], "error", "{}", anthropic.text());
        let openai = host.post("/v1/chat/completions").json(&openai_chat(false)).send();
        openai.assert_status(401);
        assert!(openai.json()["error"]["message"].is_string(), "{}", openai.text());
        assert_eq!(mock.request_count(), 0, "nothing went upstream");
        host.get("/health").send().assert_status(200);
    });
}
