//! A faulty upstream, scripted per key on the strict mock: quota 429s (day, minute, tokens,
//! no details), invalid and suspended keys (with the key echoed), 500, 503, refused
//! connections, resets before headers, hangs before headers and mid-stream, truncated JSON,
//! truncated SSE, garbage, a 300 MB answer, an error chunk mid-stream, and a client that leaves
//! during a hang.
//!
//! Each fault must end as README's "How upstream answers affect a key" table says: the client's
//! status and error shape (per protocol where it matters), the effect on each key (none unless
//! the table names one), and a bounded time (short upstream timeouts are set through
//! `PATCH /admin/api/settings`). Every test collects its mismatches and fails listing all of
//! them.

use std::time::{Duration, Instant};

use gempool_tests::harness::{error_shape_problem, report_line, Dialect, Gateway, GatewayOptions, KeyHealth};
use gempool_tests::http::{parse_sse, TestResponse};
use gempool_tests::mock::{Behavior, MockGemini};
use serde_json::{json, Value};

const MODEL: &str = "gemini-2.5-flash";
/// Every upstream timeout in these tests.
const TIMEOUT_MS: u64 = 1500;
/// How long any one request may take here: a few timeouts plus slack for slow CI machines.
const BOUND: Duration = Duration::from_secs(10);
const KEYS: [&str; 2] = ["fault-key-one-0001", "fault-key-two-0002"];

fn timeouts(ms: u64) -> Value {
    json!({
        "upstream_connect_timeout_ms": ms,
        "upstream_first_byte_timeout_ms": ms,
        "upstream_stream_first_byte_timeout_ms": ms,
        "upstream_between_bytes_timeout_ms": ms,
    })
}

/// The client protocols.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Proto {
    OpenAi,
    Anthropic,
    Responses,
    /// Native Gemini; streams with `alt=sse`.
    Native,
    /// Native Gemini streams without `alt=sse` (one JSON array).
    NativeArray,
}

const PROTOS: [Proto; 4] = [Proto::OpenAi, Proto::Anthropic, Proto::Responses, Proto::Native];
const STREAM_PROTOS: [Proto; 5] = [
    Proto::OpenAi,
    Proto::Anthropic,
    Proto::Responses,
    Proto::Native,
    Proto::NativeArray,
];

impl Proto {
    fn dialect(self) -> Dialect {
        match self {
            Proto::OpenAi | Proto::Responses => Dialect::OpenAi,
            Proto::Anthropic => Dialect::Anthropic,
            Proto::Native | Proto::NativeArray => Dialect::Gemini,
        }
    }

    /// Statuses that mean "the model is overloaded" in this protocol (Anthropic has 529).
    fn overloaded(self) -> &'static [u16] {
        match self {
            Proto::Anthropic => &[503, 529],
            _ => &[503],
        }
    }

    fn send(self, gw: &Gateway, stream: bool) -> TestResponse {
        let (path, body, headers) = raw_parts(self, stream);
        let mut request = gw.post(&path).body(body.to_string()).timeout(Duration::from_secs(60));
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        match request.try_send() {
            Ok(response) => response,
            Err(e) => panic!("{self:?} request failed: {e}\n\ngateway log:\n{}", gw.log()),
        }
    }
}

/// Mismatches of one test, reported together.
#[derive(Default)]
struct Report(Vec<String>);

impl Report {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }

    fn finish(self, name: &str) {
        if !self.0.is_empty() {
            panic!("\n{name}: {} mismatch(es)\n\n  {}\n", self.0.len(), self.0.join("\n  "));
        }
        report_line(&format!("upstream faults, {name}: ok"));
    }
}

/// A mock with [`KEYS`] and an open gateway pooling them, with short upstream timeouts.
struct Fixture {
    mock: MockGemini,
    gw: Gateway,
    /// Set when the gateway refused the timeout settings (tests that need them then fail).
    timeouts_refused: Option<String>,
}

impl Fixture {
    fn new(keys: &[&str], settings: Value, timeout_ms: u64) -> Fixture {
        let mock = MockGemini::with_keys(keys);
        let gw = Gateway::start(GatewayOptions::with_mock(&mock, keys).open());
        if settings.as_object().is_some_and(|o| !o.is_empty()) {
            gw.admin("PATCH", "/admin/api/settings")
                .json(&settings)
                .send()
                .assert_status(200);
        }
        let answer = gw
            .admin("PATCH", "/admin/api/settings")
            .json(&timeouts(timeout_ms))
            .send();
        let timeouts_refused = (answer.status != 200).then(|| format!("{} {}", answer.status, answer.text()));
        Fixture {
            mock,
            gw,
            timeouts_refused,
        }
    }

    fn two_keys() -> Fixture {
        Fixture::new(&KEYS, json!({}), TIMEOUT_MS)
    }

    fn health(&self) -> Vec<KeyHealth> {
        self.gw.key_health()
    }

    /// Sends until a request reaches `key` (round robin: at most one per key); returns that
    /// request's answer.
    fn send_hitting(&self, key: &str, proto: Proto, stream: bool) -> TestResponse {
        let mut last = None;
        for _ in 0..KEYS.len() + 1 {
            let before = self.mock.count_for_key(key);
            let response = proto.send(&self.gw, stream);
            if self.mock.count_for_key(key) > before {
                return response;
            }
            last = Some(response);
        }
        let response = last.expect("at least one request");
        response.fail(&format!("no request reached {key}"))
    }
}

fn short(text: &str) -> String {
    let cut = (0..=text.len().min(300))
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    if cut < text.len() {
        format!("{}… ({} bytes)", &text[..cut], text.len())
    } else {
        text.to_string()
    }
}

fn answer(r: &TestResponse) -> String {
    format!("{} after {:?}: {}", r.status, r.elapsed, short(&r.text()))
}

/// What the table says must happen to the faulty key.
#[derive(Debug, Clone, Copy)]
enum Effect {
    /// A cooldown on the model, lasting about this many seconds (±).
    Cooldown { secs: i64 },
    /// A cooldown until the next Pacific midnight: more than a minute, at most a day.
    CooldownUntilMidnight,
    /// Disabled, with the upstream's reason.
    Disabled,
    /// One breaker failure (another key then succeeded), nothing else.
    OneStrike,
    /// A breaker failure is allowed (an upstream fault) but nothing else: no cooldown, not
    /// disabled, breaker closed.
    AtMostOneStrike,
}

fn check_effect(report: &mut Report, what: &str, key: &KeyHealth, effect: Effect, sent_at_ms: i64) {
    let cooldown_until = key
        .cooldowns
        .iter()
        .find(|(model, ..)| model == MODEL)
        .map(|(_, until, ..)| *until);
    match effect {
        Effect::Cooldown { secs } => {
            let ok = cooldown_until.is_some_and(|until| {
                let lasts = (until - sent_at_ms) / 1000;
                (secs - 3..=secs + 5).contains(&lasts)
            });
            report.check(ok && key.enabled, || {
                format!("{what}: the key should cool down for about {secs} s on {MODEL}: {key:?}")
            });
        }
        Effect::CooldownUntilMidnight => {
            let ok =
                cooldown_until.is_some_and(|until| until - sent_at_ms > 60_000 && until - sent_at_ms <= 25 * 3_600_000);
            report.check(ok && key.enabled, || {
                format!("{what}: the key should cool down on {MODEL} until Pacific midnight: {key:?}")
            });
        }
        Effect::Disabled => {
            report.check(
                !key.enabled && key.disabled_reason.as_deref().is_some_and(|r| !r.trim().is_empty()),
                || format!("{what}: the key should be disabled with the upstream's reason: {key:?}"),
            );
        }
        Effect::OneStrike => {
            report.check(
                key.enabled
                    && key.cooldowns.is_empty()
                    && key.consecutive_failures == 1
                    && key.breaker_open_until.is_none(),
                || format!("{what}: the key should carry exactly one breaker failure and nothing else: {key:?}"),
            );
        }
        Effect::AtMostOneStrike => {
            report.check(
                key.enabled
                    && key.cooldowns.is_empty()
                    && key.consecutive_failures <= 1
                    && key.breaker_open_until.is_none(),
                || format!("{what}: the key should be enabled, without cooldown, breaker closed: {key:?}"),
            );
        }
    }
}

fn needs_timeouts(report: &mut Report, fx: &Fixture, what: &str) -> bool {
    if let Some(refused) = &fx.timeouts_refused {
        report.0.push(format!(
            "{what}: not run, the gateway refused the upstream timeout settings: {refused}"
        ));
        return false;
    }
    true
}

/// One key faults, the other is healthy: the client gets the healthy key's answer and only
/// the faulty key is affected, as the table says.
#[test]
fn a_fault_on_one_key_fails_over_and_affects_only_that_key() {
    let cases: Vec<(&str, Behavior, Effect, bool, Proto)> = vec![
        (
            "429 per day",
            Behavior::RateLimitPerDay,
            Effect::CooldownUntilMidnight,
            false,
            Proto::OpenAi,
        ),
        (
            "429 per minute (retryDelay 20s)",
            Behavior::RateLimitPerMinute { retry_delay_secs: 20 },
            Effect::Cooldown { secs: 20 },
            false,
            Proto::Anthropic,
        ),
        (
            "429 token quota (retryDelay 30s)",
            Behavior::RateLimitTokens { retry_delay_secs: 30 },
            Effect::Cooldown { secs: 30 },
            false,
            Proto::Native,
        ),
        (
            "429 without details",
            Behavior::RateLimitNoDetails,
            Effect::Cooldown { secs: 10 },
            false,
            Proto::Responses,
        ),
        (
            "400 API_KEY_INVALID",
            Behavior::InvalidKey,
            Effect::Disabled,
            false,
            Proto::OpenAi,
        ),
        (
            "403 suspended",
            Behavior::PermissionDenied,
            Effect::Disabled,
            false,
            Proto::Anthropic,
        ),
        (
            "403 suspended echoing the key",
            Behavior::SuspendedEchoKey,
            Effect::Disabled,
            false,
            Proto::Native,
        ),
        ("500", Behavior::InternalError, Effect::OneStrike, false, Proto::OpenAi),
        ("503", Behavior::Unavailable, Effect::OneStrike, false, Proto::Anthropic),
        (
            "reset before headers",
            Behavior::ResetBeforeHeaders,
            Effect::OneStrike,
            false,
            Proto::Responses,
        ),
        (
            "hang before headers",
            Behavior::Hang,
            Effect::OneStrike,
            false,
            Proto::Native,
        ),
        (
            "truncated JSON body",
            Behavior::TruncatedJson,
            Effect::OneStrike,
            false,
            Proto::OpenAi,
        ),
        (
            "hang mid-body",
            Behavior::HangMidStream,
            Effect::OneStrike,
            false,
            Proto::Anthropic,
        ),
        (
            "garbage body",
            Behavior::Garbage,
            Effect::AtMostOneStrike,
            false,
            Proto::Responses,
        ),
        (
            "stream: 429 per minute",
            Behavior::RateLimitPerMinute { retry_delay_secs: 20 },
            Effect::Cooldown { secs: 20 },
            true,
            Proto::OpenAi,
        ),
        (
            "stream: 503",
            Behavior::Unavailable,
            Effect::OneStrike,
            true,
            Proto::Anthropic,
        ),
        (
            "stream: hang before headers",
            Behavior::Hang,
            Effect::OneStrike,
            true,
            Proto::Native,
        ),
        (
            "stream: reset before headers",
            Behavior::ResetBeforeHeaders,
            Effect::OneStrike,
            true,
            Proto::Responses,
        ),
        (
            "stream: 403 suspended echoing the key",
            Behavior::SuspendedEchoKey,
            Effect::Disabled,
            true,
            Proto::NativeArray,
        ),
    ];
    let mut report = Report::default();
    for (name, behavior, effect, stream, proto) in cases {
        let what = format!("{name} on one key via {proto:?}");
        let fx = Fixture::two_keys();
        let needs_timeout = matches!(behavior, Behavior::Hang | Behavior::HangMidStream);
        if needs_timeout && !needs_timeouts(&mut report, &fx, &what) {
            continue;
        }
        fx.mock.set_behavior(KEYS[0], behavior.clone());
        let sent_at = crate::now_ms();
        let started = Instant::now();
        let response = fx.send_hitting(KEYS[0], proto, stream);
        let took = started.elapsed();
        let garbage = behavior == Behavior::Garbage;
        let status_ok = response.status == 200 || (garbage && response.status == 502);
        report.check(status_ok, || {
            format!("{what}: the other key should answer (200), got {}", answer(&response))
        });
        if response.status == 200 {
            let complete = if stream {
                stream_completed(proto, &response.body)
            } else {
                whole_answer_ok(proto, &response.body)
            };
            report.check(complete.is_none(), || {
                format!(
                    "{what}: the answer is not a complete {proto:?} answer: {}",
                    complete.unwrap_or_default()
                )
            });
        } else if let Some(problem) = error_shape_problem(proto.dialect(), response.status, &response.body) {
            report.0.push(format!("{what}: {problem}"));
        }
        report.check(took < BOUND, || format!("{what}: took {took:?} (bound {BOUND:?})"));
        report.check(fx.mock.count_for_key(KEYS[1]) >= 1, || {
            format!("{what}: the healthy key was never tried")
        });
        let health = fx.health();
        check_effect(&mut report, &what, &health[0], effect, sent_at);
        report.check(health[1].is_pristine(), || {
            format!("{what}: the healthy key changed: {:?}", health[1])
        });
        if let Some(reason) = &health[0].disabled_reason {
            report.check(!reason.contains(KEYS[0]), || {
                format!("{what}: the disabled reason carries the key: {reason:?}")
            });
        }
        report.check(!response.text().contains(KEYS[0]), || {
            format!("{what}: the answer carries the key: {}", short(&response.text()))
        });
    }
    report.finish("one-key faults");
}

/// A complete non-streamed answer of the protocol.
fn whole_answer_ok(proto: Proto, body: &[u8]) -> Option<String> {
    let json: Value = match serde_json::from_slice(body) {
        Ok(json) => json,
        Err(e) => return Some(format!("not JSON ({e}): {}", short(&String::from_utf8_lossy(body)))),
    };
    let ok = match proto {
        Proto::OpenAi => json["choices"][0]["message"]["content"].is_string(),
        Proto::Anthropic => json["type"] == "message" && json["content"].is_array(),
        Proto::Responses => json["object"] == "response" && json["status"] == "completed",
        Proto::Native | Proto::NativeArray => json["candidates"][0]["content"].is_object(),
    };
    (!ok).then(|| short(&json.to_string()))
}

/// A stream that ended normally (no error event).
fn stream_completed(proto: Proto, body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let ok = match proto {
        Proto::OpenAi => text.contains("[DONE]") && !text.contains("\"error\""),
        Proto::Anthropic => parse_sse(body)
            .iter()
            .any(|e| e.event.as_deref() == Some("message_stop")),
        Proto::Responses => parse_sse(body)
            .iter()
            .any(|e| e.event.as_deref() == Some("response.completed")),
        Proto::Native => {
            let events = parse_sse(body);
            !events.is_empty() && events.iter().all(|e| e.json()["candidates"].is_array())
        }
        Proto::NativeArray => serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.as_array().cloned())
            .is_some_and(|a| !a.is_empty() && a.iter().all(|e| e["candidates"].is_array())),
    };
    (!ok).then(|| short(&text))
}

/// The model fails on every key: the client gets the table's status in its own shape, every
/// key stays as it was however often it happens, and the next request after the upstream
/// recovers is served.
#[test]
fn a_model_failing_on_every_key_blames_no_key() {
    struct Wide {
        name: &'static str,
        behavior: Behavior,
        statuses: fn(Proto) -> &'static [u16],
        retry_after: bool,
        needs_timeouts: bool,
    }
    let table = [
        Wide {
            name: "503 on every key",
            behavior: Behavior::Unavailable,
            statuses: Proto::overloaded,
            retry_after: true,
            needs_timeouts: false,
        },
        Wide {
            name: "500 on every key",
            behavior: Behavior::InternalError,
            statuses: Proto::overloaded,
            retry_after: true,
            needs_timeouts: false,
        },
        Wide {
            name: "reset before headers on every key",
            behavior: Behavior::ResetBeforeHeaders,
            statuses: Proto::overloaded,
            retry_after: true,
            needs_timeouts: false,
        },
        Wide {
            name: "hang before headers on every key",
            behavior: Behavior::Hang,
            statuses: |_| &[504],
            retry_after: false,
            needs_timeouts: true,
        },
    ];
    let mut report = Report::default();
    for wide in &table {
        for proto in PROTOS {
            for stream in [false, true] {
                // Streams only where the failure comes before the first byte anyway; one
                // protocol each keeps the suite short.
                if stream && proto != Proto::OpenAi && proto != Proto::Native {
                    continue;
                }
                let what = format!("{} via {proto:?}{}", wide.name, if stream { " (stream)" } else { "" });
                let fx = Fixture::two_keys();
                if wide.needs_timeouts && !needs_timeouts(&mut report, &fx, &what) {
                    continue;
                }
                for key in KEYS {
                    fx.mock.set_behavior(key, wide.behavior.clone());
                }
                // More failures than breaker_threshold (3): still nobody's fault.
                let rounds = if wide.needs_timeouts { 1 } else { 4 };
                for round in 0..rounds {
                    let before = fx.mock.request_count();
                    let started = Instant::now();
                    let response = proto.send(&fx.gw, stream);
                    let took = started.elapsed();
                    let attempts = fx.mock.request_count() - before;
                    let statuses = (wide.statuses)(proto);
                    report.check(statuses.contains(&response.status), || {
                        format!(
                            "{what}, round {round}: expected {statuses:?}, got {}",
                            answer(&response)
                        )
                    });
                    if response.status >= 400 {
                        if let Some(problem) = error_shape_problem(proto.dialect(), response.status, &response.body) {
                            report.0.push(format!("{what}, round {round}: {problem}"));
                        }
                    }
                    if wide.retry_after {
                        let retry_after = response.header("retry-after").and_then(|v| v.parse::<u64>().ok());
                        report.check(retry_after.is_some_and(|s| s >= 1), || {
                            format!("{what}, round {round}: no Retry-After: {:?}", response.headers)
                        });
                    }
                    report.check((1..=3).contains(&attempts), || {
                        format!("{what}, round {round}: {attempts} upstream attempts (max_attempts is 3)")
                    });
                    report.check(took < BOUND, || format!("{what}, round {round}: took {took:?}"));
                }
                let health = fx.health();
                report.check(health.iter().all(KeyHealth::is_pristine), || {
                    format!("{what}: keys changed: {health:?}")
                });
                fx.mock.reset_behaviors();
                let recovered = proto.send(&fx.gw, stream);
                report.check(recovered.status == 200, || {
                    format!("{what}: after the upstream recovered: {}", answer(&recovered))
                });
            }
        }
    }
    report.finish("model-wide faults");
}

/// Every key over its quota: 429 in the caller's shape with `Retry-After`, and every key
/// cooling down for the upstream's delay.
#[test]
fn every_key_rate_limited_is_a_429_with_retry_after() {
    let mut report = Report::default();
    for proto in PROTOS {
        let what = format!("429 per minute on every key via {proto:?}");
        let fx = Fixture::two_keys();
        for key in KEYS {
            fx.mock
                .set_behavior(key, Behavior::RateLimitPerMinute { retry_delay_secs: 20 });
        }
        let sent_at = crate::now_ms();
        let response = proto.send(&fx.gw, false);
        report.check(response.status == 429, || format!("{what}: {}", answer(&response)));
        if let Some(problem) = error_shape_problem(proto.dialect(), response.status, &response.body) {
            report.0.push(format!("{what}: {problem}"));
        }
        let retry_after = response.header("retry-after").and_then(|v| v.parse::<u64>().ok());
        report.check(retry_after.is_some_and(|s| (15..=25).contains(&s)), || {
            format!(
                "{what}: Retry-After should be about 20: {:?}",
                response.header("retry-after")
            )
        });
        for key in fx.health() {
            check_effect(&mut report, &what, &key, Effect::Cooldown { secs: 20 }, sent_at);
        }
        // Cooling down, the keys are not asked again.
        let before = fx.mock.request_count();
        let again = proto.send(&fx.gw, false);
        report.check(again.status == 429 && fx.mock.request_count() == before, || {
            format!(
                "{what}: while every key cools down the gateway answers 429 itself: {} ({} upstream calls)",
                answer(&again),
                fx.mock.request_count() - before
            )
        });
    }
    report.finish("every key rate limited");
}

/// Nobody listens at the upstream address: 502 at once in the caller's shape, no key blamed.
#[test]
fn a_refused_connection_is_a_502_and_blames_no_key() {
    // Port 1: privileged, outside the ephemeral range, so no other test's server can take it
    // while this runs (a port freed by this test could be).
    let port = 1;
    let mut options = GatewayOptions::new(format!("http://127.0.0.1:{port}"));
    options.keys = KEYS.iter().map(|k| k.to_string()).collect();
    options.open = true;
    let gw = Gateway::start(options);
    let answer_timeouts = gw
        .admin("PATCH", "/admin/api/settings")
        .json(&timeouts(TIMEOUT_MS))
        .send();
    let mut report = Report::default();
    report.check(answer_timeouts.status == 200, || {
        format!(
            "the upstream timeout settings were refused: {}",
            answer(&answer_timeouts)
        )
    });
    for proto in PROTOS {
        for stream in [false, true] {
            for round in 0..4 {
                let what = format!(
                    "refused via {proto:?}{}, round {round}",
                    if stream { " (stream)" } else { "" }
                );
                let response = proto.send(&gw, stream);
                report.check(response.status == 502, || format!("{what}: {}", answer(&response)));
                if let Some(problem) = error_shape_problem(proto.dialect(), response.status, &response.body) {
                    report.0.push(format!("{what}: {problem}"));
                }
                report.check(response.elapsed < BOUND, || {
                    format!("{what}: took {:?}", response.elapsed)
                });
            }
        }
    }
    let health = gw.key_health();
    report.check(health.iter().all(KeyHealth::is_pristine), || {
        format!("refused: keys changed: {health:?}")
    });
    report.check(gw.alive(), || "the gateway died".to_string());
    report.finish("refused upstream");
}

/// The stream broke after its first chunk: the client gets its protocol's error event (never a
/// fake normal end), native streams keep every event whole, and no key is disabled or cooled.
#[test]
fn a_stream_broken_midway_ends_in_the_protocols_error_event() {
    let faults: [(&str, Behavior, bool); 4] = [
        ("an error chunk mid-stream", Behavior::MidStreamError, false),
        (
            "a cut connection mid-stream (truncated SSE)",
            Behavior::TruncatedSse,
            false,
        ),
        ("a hang mid-stream", Behavior::HangMidStream, true),
        ("garbage instead of events", Behavior::Garbage, false),
    ];
    let mut report = Report::default();
    for (name, behavior, timeout_needed) in &faults {
        for proto in STREAM_PROTOS {
            let garbage = *behavior == Behavior::Garbage;
            if garbage && matches!(proto, Proto::Native | Proto::NativeArray) {
                // Native streams pass bytes through; garbage stays the upstream's business.
                continue;
            }
            let what = format!("{name} via {proto:?}");
            let fx = Fixture::two_keys();
            if *timeout_needed && !needs_timeouts(&mut report, &fx, &what) {
                continue;
            }
            for key in KEYS {
                fx.mock.set_behavior(key, behavior.clone());
            }
            let response = proto.send(&fx.gw, true);
            report.check(response.elapsed < BOUND, || {
                format!("{what}: took {:?}", response.elapsed)
            });
            if garbage && response.status >= 500 {
                // Refusing the stream before its first byte is fine too.
                if let Some(problem) = error_shape_problem(proto.dialect(), response.status, &response.body) {
                    report.0.push(format!("{what}: {problem}"));
                }
            } else if response.status != 200 {
                report
                    .0
                    .push(format!("{what}: expected a 200 stream, got {}", answer(&response)));
            } else if let Some(problem) = stream_error_problem(proto, &response.body, !garbage) {
                report.0.push(format!("{what}: {problem}"));
            }
            let health = fx.health();
            for key in &health {
                report.check(
                    key.enabled && key.cooldowns.is_empty() && key.breaker_open_until.is_none(),
                    || format!("{what}: a key changed: {key:?}"),
                );
            }
            report.check(fx.gw.alive(), || format!("{what}: the gateway died"));
        }
    }
    report.finish("mid-stream faults");
}

/// What is wrong with a stream that should end in its protocol's error event, if anything.
/// `content_first`: the upstream sent a good chunk before failing, which the client must get.
fn stream_error_problem(proto: Proto, body: &[u8], content_first: bool) -> Option<String> {
    let text = String::from_utf8_lossy(body).into_owned();
    let show = || short(&text);
    match proto {
        Proto::OpenAi => {
            let events = parse_sse(body);
            let Some(at) = events.iter().position(|e| e.json().get("error").is_some()) else {
                return Some(format!("no `data: {{\"error\": ...}}` event: {}", show()));
            };
            let error = &events[at].json()["error"];
            if !error["message"].is_string() || !error["type"].is_string() {
                return Some(format!("the error event lacks message/type: {}", events[at].data));
            }
            if events[..at]
                .iter()
                .any(|e| e.json()["choices"][0]["finish_reason"].is_string())
            {
                return Some(format!(
                    "a finish_reason before the error (a fake normal end): {}",
                    show()
                ));
            }
            if content_first && !events[..at].iter().any(|e| e.json()["choices"].is_array()) {
                return Some(format!("the chunk sent before the failure is missing: {}", show()));
            }
            events[at + 1..]
                .iter()
                .any(|e| e.data != "[DONE]")
                .then(|| format!("events after the error: {}", show()))
        }
        Proto::Anthropic => {
            let events = parse_sse(body);
            let Some(at) = events.iter().position(|e| e.event.as_deref() == Some("error")) else {
                return Some(format!("no `event: error`: {}", show()));
            };
            let data = events[at].json();
            if data["type"] != "error" || !data["error"]["type"].is_string() || !data["error"]["message"].is_string() {
                return Some(format!("the error event is not Anthropic's shape: {}", events[at].data));
            }
            if events
                .iter()
                .any(|e| e.event.as_deref() == Some("message_stop") || e.json()["delta"]["stop_reason"] == "end_turn")
            {
                return Some(format!("a normal end alongside the error: {}", show()));
            }
            if content_first
                && !events[..at]
                    .iter()
                    .any(|e| e.event.as_deref() == Some("content_block_delta"))
            {
                return Some(format!("the chunk sent before the failure is missing: {}", show()));
            }
            (at + 1 != events.len()).then(|| format!("events after the error: {}", show()))
        }
        Proto::Responses => {
            let events = parse_sse(body);
            let failed = events.iter().position(|e| {
                let kind = e
                    .event
                    .clone()
                    .unwrap_or_else(|| e.json()["type"].as_str().unwrap_or_default().to_string());
                kind == "error" || kind == "response.failed"
            });
            let Some(at) = failed else {
                return Some(format!("no `error` / `response.failed` event: {}", show()));
            };
            let data = events[at].json();
            let message = data["message"]
                .as_str()
                .or_else(|| data["response"]["error"]["message"].as_str());
            if message.is_none_or(|m| m.is_empty()) {
                return Some(format!("the failure event has no message: {}", events[at].data));
            }
            events
                .iter()
                .any(|e| e.event.as_deref() == Some("response.completed"))
                .then(|| format!("response.completed alongside the failure: {}", show()))
        }
        Proto::Native => {
            // Every event whole and JSON (a cut line is never forwarded with the error glued
            // on), the last one Google's error.
            let normalized = text.replace("\r\n", "\n");
            for line in normalized.lines().filter(|l| !l.is_empty()) {
                let Some(data) = line.strip_prefix("data:") else {
                    return Some(format!("a line that is not `data:`: {line:?} in {}", show()));
                };
                if serde_json::from_str::<Value>(data.trim()).is_err() {
                    return Some(format!("a data line that is not JSON (cut or glued): {}", short(line)));
                }
            }
            let events = parse_sse(body);
            let last = events.last().map(|e| e.json()).unwrap_or(Value::Null);
            if !(last["error"]["code"].is_u64()
                && last["error"]["message"].is_string()
                && last["error"]["status"].is_string())
            {
                return Some(format!("the last event is not Google's error: {}", show()));
            }
            if !normalized.ends_with("\n\n") {
                return Some(format!("the error event is not terminated: {}", show()));
            }
            (content_first && !events.iter().any(|e| e.json()["candidates"].is_array()))
                .then(|| format!("the chunk sent before the failure is missing: {}", show()))
        }
        Proto::NativeArray => {
            let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(body) else {
                return Some(format!("the body is not one JSON array: {}", show()));
            };
            let last = items.last().cloned().unwrap_or(Value::Null);
            if !(last["error"]["code"].is_u64() && last["error"]["message"].is_string()) {
                return Some(format!("the array does not end in Google's error: {}", show()));
            }
            (content_first && !items.iter().any(|e| e["candidates"].is_array()))
                .then(|| format!("the chunk sent before the failure is missing: {}", show()))
        }
    }
}

/// A 300 MB answer, streamed by the mock without holding it: the gateway answers in bounded time
/// with an error in the caller's shape (or, for native Gemini, the answer as sent) and lives on.
#[test]
fn a_300_mb_answer_is_refused_in_the_callers_shape() {
    const HUGE: u64 = 300 * 1024 * 1024;
    let fx = Fixture::new(&KEYS[..1], json!({"max_attempts": 1}), 5000);
    fx.mock.set_behavior(KEYS[0], Behavior::Huge { bytes: HUGE });
    let mut report = Report::default();
    for (proto, stream) in [
        (Proto::OpenAi, false),
        (Proto::Anthropic, false),
        (Proto::Responses, false),
        (Proto::Native, false),
        (Proto::OpenAi, true),
        (Proto::Anthropic, true),
    ] {
        let what = format!("300 MB answer via {proto:?}{}", if stream { " (stream)" } else { "" });
        let response = proto.send(&fx.gw, stream);
        report.check(response.elapsed < Duration::from_secs(45), || {
            format!("{what}: took {:?}", response.elapsed)
        });
        let passed_through = proto == Proto::Native && response.status == 200 && response.body.len() as u64 == HUGE;
        if passed_through {
            continue;
        }
        if stream && response.status == 200 {
            if let Some(problem) = stream_error_problem(proto, &response.body, false) {
                report.0.push(format!(
                    "{what}: {problem} (200 stream of {} bytes after {:?})",
                    response.body.len(),
                    response.elapsed
                ));
            }
            continue;
        }
        report.check((500..=504).contains(&response.status), || {
            format!("{what}: expected a 5xx error, got {}", answer(&response))
        });
        if let Some(problem) = error_shape_problem(proto.dialect(), response.status, &response.body) {
            report.0.push(format!("{what}: {problem}"));
        }
    }
    report.check(fx.gw.alive(), || "the gateway died".to_string());
    let health = fx.health();
    report.check(health.iter().all(|k| k.enabled && k.cooldowns.is_empty()), || {
        format!("keys changed: {health:?}")
    });
    fx.mock.reset_behaviors();
    let after = Proto::OpenAi.send(&fx.gw, false);
    report.check(after.status == 200, || {
        format!("a normal request afterwards: {}", answer(&after))
    });
    report.finish("300 MB answer");
}

/// A client that leaves while the upstream hangs (before headers, or mid-stream) takes its
/// upstream request with it: the mock sees the gateway hang up soon after, long before any
/// upstream timeout.
#[test]
fn a_client_that_leaves_cancels_its_upstream_request() {
    let mut report = Report::default();
    for (what, behavior, proto, stream) in [
        ("hang before headers, OpenAI", Behavior::Hang, Proto::OpenAi, false),
        (
            "hang before headers, native stream",
            Behavior::Hang,
            Proto::Native,
            true,
        ),
        (
            "hang mid-stream, Anthropic",
            Behavior::HangMidStream,
            Proto::Anthropic,
            true,
        ),
        ("hang mid-stream, native", Behavior::HangMidStream, Proto::Native, true),
    ] {
        // Upstream timeouts far beyond the test: only the client's leaving can end the request.
        let fx = Fixture::new(&KEYS[..1], json!({}), 60_000);
        fx.mock.set_behavior(KEYS[0], behavior.clone());
        let (path, body, headers) = raw_parts(proto, stream);
        let request = gempool_tests::harness::raw_request_bytes("POST", &path, &headers, body.to_string().as_bytes());
        let mut socket = std::net::TcpStream::connect(fx.gw.addr()).expect("connect");
        use std::io::{Read, Write};
        socket.write_all(&request).expect("send");
        if !fx.mock.wait_for_requests(1, Duration::from_secs(5)) {
            report.0.push(format!("{what}: the request never reached the upstream"));
            continue;
        }
        if behavior == Behavior::HangMidStream {
            // Read the head and the first chunk, so the stream is known to be under way.
            socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 8192];
            let n = socket.read(&mut buf).unwrap_or(0);
            report.check(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"), || {
                format!("{what}: no stream started: {:?}", String::from_utf8_lossy(&buf[..n]))
            });
        }
        std::thread::sleep(Duration::from_millis(200));
        report.check(fx.mock.active_requests() == 1, || {
            format!(
                "{what}: expected the upstream request in flight, {} are",
                fx.mock.active_requests()
            )
        });
        drop(socket);
        let left = Instant::now();
        let cancelled = fx.mock.wait_for_active_at_most(0, Duration::from_secs(5));
        report.check(cancelled, || {
            format!(
                "{what}: the upstream request is still open {:?} after the client left",
                left.elapsed()
            )
        });
        report.check(fx.gw.alive(), || format!("{what}: the gateway died"));
        let health = fx.health();
        report.check(
            health
                .iter()
                .all(|k| k.enabled && k.cooldowns.is_empty() && k.breaker_open_until.is_none()),
            || format!("{what}: a client leaving changed a key: {health:?}"),
        );
    }
    report.finish("client disconnects");
}

fn raw_parts(proto: Proto, stream: bool) -> (String, Value, Vec<(String, String)>) {
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    let text = "one two three four five six";
    let (path, body) = match proto {
        Proto::OpenAi => (
            "/v1/chat/completions".to_string(),
            json!({"model": MODEL, "stream": stream, "messages": [{"role": "user", "content": text}]}),
        ),
        Proto::Anthropic => {
            headers.push(("anthropic-version".into(), "2023-06-01".into()));
            (
                "/v1/messages".to_string(),
                json!({"model": MODEL, "max_tokens": 256, "stream": stream,
                       "messages": [{"role": "user", "content": text}]}),
            )
        }
        Proto::Responses => (
            "/v1/responses".to_string(),
            json!({"model": MODEL, "stream": stream, "input": text}),
        ),
        Proto::Native | Proto::NativeArray => {
            let method = match (stream, proto) {
                (false, _) => "generateContent",
                (true, Proto::Native) => "streamGenerateContent?alt=sse",
                (true, _) => "streamGenerateContent",
            };
            (
                format!("/v1beta/models/{MODEL}:{method}"),
                json!({"contents": [{"role": "user", "parts": [{"text": text}]}]}),
            )
        }
    };
    (path, body, headers)
}
