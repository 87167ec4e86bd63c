//! The write bound, through the real host: a successful proxied request (native or OpenAI,
//! whole or streamed, with a client key or open access) costs at most one SQL write
//! transaction; `/health` and CORS preflights run no SQL at all and `/metrics` writes nothing.
//! Counted by the host itself (`gempool_sql_statements_total`, `gempool_sql_writes_total` on
//! `/metrics`), and the usage API, the request log and the round robin stay exact under
//! concurrent requests.

use crate::{hello, FLASH};
use gempool_tests::harness::{Gateway, GatewayOptions};
use gempool_tests::mock::MockGemini;
use serde_json::{json, Value};

const KEYS: [&str; 4] = [
    "AIzaSyWritesPoolKeyOne00000000000000001",
    "AIzaSyWritesPoolKeyTwo00000000000000002",
    "AIzaSyWritesPoolKeyThree000000000000003",
    "AIzaSyWritesPoolKeyFour0000000000000004",
];
const STREAM: &str = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse";

/// (statements, writes) so far, from the host's part of `/metrics`. The figures are taken
/// before the component serves that `/metrics` request, so its own SQL shows in the next read.
fn sql_counters(gw: &Gateway) -> (i64, i64) {
    let resp = gw.admin("GET", "/metrics").send();
    resp.assert_status(200);
    let text = resp.text();
    let value = |name: &str| -> i64 {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
    };
    (value("gempool_sql_statements_total"), value("gempool_sql_writes_total"))
}

fn chat() -> Value {
    json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hello there"}]})
}

/// Sends `n` native, `n` OpenAI and `n` streamed requests (with `key`, if any); returns how
/// many were sent.
fn successful_requests(gw: &Gateway, key: Option<&str>, n: usize) -> i64 {
    let with_key = |builder: gempool_tests::http::RequestBuilder| match key {
        Some(key) => builder.bearer(key),
        None => builder,
    };
    for _ in 0..n {
        with_key(gw.post(FLASH)).json(&hello()).send().assert_status(200);
        with_key(gw.post("/v1/chat/completions"))
            .json(&chat())
            .send()
            .assert_status(200);
        let streamed = with_key(gw.post(STREAM)).json(&hello()).send();
        streamed.assert_status(200);
        assert!(streamed.text().contains("data: "), "{}", streamed.text());
    }
    3 * n as i64
}

fn sum(rows: &Value, field: &str) -> i64 {
    rows.as_array()
        .unwrap_or_else(|| panic!("not rows: {rows}"))
        .iter()
        .map(|r| r[field].as_i64().unwrap_or(0))
        .sum()
}

#[test]
fn a_successful_request_is_one_write_and_health_metrics_preflight_write_nothing() {
    let mock = MockGemini::with_keys(&KEYS);
    let gw = Gateway::start(GatewayOptions::with_mock(&mock, &KEYS));
    let created = gw
        .admin("POST", "/admin/api/client-keys")
        .json(&json!({"name": "writer"}))
        .send();
    created.assert_status(201);
    let client_key = created.json()["key"].as_str().unwrap().to_owned();

    // Successful requests with a client key: exactly one write each.
    let (statements0, writes0) = sql_counters(&gw);
    let sent = successful_requests(&gw, Some(&client_key), 5);
    let (statements1, writes1) = sql_counters(&gw);
    assert_eq!(
        writes1 - writes0,
        sent,
        "one write per successful request (and none for /metrics)"
    );
    let per_request = (statements1 - statements0) as f64 / sent as f64;
    println!("with a client key: {per_request:.2} statements and 1 write per request");

    // /metrics alone: some reads, no write.
    let (statements2, writes2) = sql_counters(&gw);
    assert_eq!(writes2, writes1, "/metrics writes nothing");
    let metrics_statements = statements2 - statements1;

    // /health and CORS preflights: no SQL at all (the next read shows only that /metrics' own).
    for _ in 0..5 {
        gw.get("/health").send().assert_status(200);
        gw.request("OPTIONS", FLASH)
            .header("origin", "http://example.test")
            .header("access-control-request-method", "POST")
            .send()
            .assert_status(204);
    }
    let (statements3, writes3) = sql_counters(&gw);
    assert_eq!(writes3, writes2, "/health and preflights write nothing");
    assert_eq!(
        statements3 - statements2,
        metrics_statements,
        "/health and preflights run no SQL"
    );

    // The figures the writes carry are all there.
    let usage = gw.admin("GET", "/admin/api/usage").send().json();
    assert_eq!(sum(&usage["keys"], "requests"), sent, "{usage}");
    assert_eq!(sum(&usage["clients"], "requests"), sent, "{usage}");
    assert!(sum(&usage["keys"], "prompt_tokens") > 0, "{usage}");
    assert_eq!(
        sum(&usage["keys"], "prompt_tokens"),
        sum(&usage["clients"], "prompt_tokens"),
        "{usage}"
    );
    let log = gw.admin("GET", "/admin/api/requests?limit=100").send().json();
    let logged = log["requests"].as_array().unwrap();
    assert_eq!(logged.len() as i64, sent, "{log}");
    assert!(logged.iter().all(|r| r["status"] == 200), "{log}");
}

#[test]
fn open_access_requests_are_one_write_each_and_stay_exact_under_concurrency() {
    let mock = MockGemini::with_keys(&KEYS);
    let gw = Gateway::start(GatewayOptions::with_mock(&mock, &KEYS).open());
    let (_, writes0) = sql_counters(&gw);
    let sent = successful_requests(&gw, None, 4);
    let (statements1, writes1) = sql_counters(&gw);
    assert_eq!(writes1 - writes0, sent, "one write per successful request");

    // 8 clients at once, 40 requests each: still one write each, every one counted, and the
    // round robin (a read of the host's ticket function) spreads them evenly.
    const THREADS: usize = 8;
    const EACH: usize = 40;
    let before: Vec<u64> = KEYS.iter().map(|k| mock.count_for_key(k)).collect();
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..EACH {
                    gw.post(FLASH).json(&hello()).send().assert_status(200);
                }
            });
        }
    });
    let concurrent = (THREADS * EACH) as i64;
    let (statements2, writes2) = sql_counters(&gw);
    assert_eq!(writes2 - writes1, concurrent, "one write per concurrent request");
    println!(
        "open access, concurrent: {:.2} statements and 1 write per request",
        (statements2 - statements1) as f64 / concurrent as f64
    );
    let share = concurrent as u64 / KEYS.len() as u64;
    for (key, before) in KEYS.iter().zip(before) {
        let served = mock.count_for_key(key) - before;
        assert!(
            (share - 2..=share + 2).contains(&served),
            "{key} served {served} of {concurrent}"
        );
    }
    let usage = gw.admin("GET", "/admin/api/usage").send().json();
    assert_eq!(sum(&usage["keys"], "requests"), sent + concurrent, "{usage}");
}

/// Writes one successful request costs: the delta of the host's write counter around it.
fn writes_of(gw: &Gateway, request: impl FnOnce()) -> i64 {
    let (_, before) = sql_counters(gw);
    request();
    let (_, after) = sql_counters(gw);
    after - before
}

#[test]
fn the_adaptive_strategy_and_a_key_back_from_its_cooldown_stay_at_one_write() {
    use gempool_tests::mock::Behavior;
    let mock = MockGemini::with_keys(&KEYS);
    let gw = Gateway::start(GatewayOptions::with_mock(&mock, &KEYS).open());

    // The adaptive strategy learns every success's latency: in the log row, not a write of its own.
    gw.admin("PATCH", "/admin/api/settings")
        .json(&json!({"strategy": "adaptive"}))
        .send()
        .assert_status(200);
    for _ in 0..6 {
        let written = writes_of(&gw, || {
            gw.post(FLASH).json(&hello()).send().assert_status(200);
        });
        assert_eq!(written, 1, "an adaptive success is one write");
        let written = writes_of(&gw, || {
            let streamed = gw.post(STREAM).json(&hello()).send();
            streamed.assert_status(200);
            assert!(streamed.text().contains("data: "), "{}", streamed.text());
        });
        assert_eq!(written, 1, "an adaptive stream is one write");
    }

    // A key answers 429 (retry in 1 s) once: cooled down, the request served by another key.
    gw.admin("PATCH", "/admin/api/settings")
        .json(&json!({"strategy": "round_robin"}))
        .send()
        .assert_status(200);
    mock.set_behavior(KEYS[0], Behavior::RateLimitPerMinute { retry_delay_secs: 1 });
    let before = mock.count_for_key(KEYS[0]);
    for _ in 0..KEYS.len() {
        gw.post(FLASH).json(&hello()).send().assert_status(200);
    }
    assert!(mock.count_for_key(KEYS[0]) > before, "the key was never tried");
    mock.set_behavior(KEYS[0], Behavior::Ok);
    std::thread::sleep(std::time::Duration::from_millis(1_300));

    // Its first success after the cooldown forgets the cooldown's strikes in the same write.
    let before = mock.count_for_key(KEYS[0]);
    for _ in 0..KEYS.len() {
        let written = writes_of(&gw, || {
            gw.post(FLASH).json(&hello()).send().assert_status(200);
        });
        assert_eq!(written, 1, "a success is one write, the recovering key's too");
    }
    assert_eq!(
        mock.count_for_key(KEYS[0]),
        before + 1,
        "the key is back in the rotation"
    );
}

#[test]
fn a_client_with_request_limits_adds_one_write_its_admission() {
    let mock = MockGemini::with_keys(&KEYS);
    let gw = Gateway::start(GatewayOptions::with_mock(&mock, &KEYS));
    let create = |limits: Value| -> String {
        let created = gw.admin("POST", "/admin/api/client-keys").json(&limits).send();
        created.assert_status(201);
        created.json()["key"].as_str().unwrap().to_owned()
    };
    // Requests per minute and per day: both windows counted in one statement before the
    // request goes upstream (exact under concurrency), then the request-log row.
    let limited = create(json!({"name": "limited", "rpm": 1000, "rpd": 100000, "tpm": 10000000}));
    for _ in 0..5 {
        let written = writes_of(&gw, || {
            gw.post(FLASH).bearer(&limited).json(&hello()).send().assert_status(200);
        });
        assert_eq!(written, 2, "admission and the log row");
    }
    // Tokens per minute alone: a read at admission, the tokens added by the log row.
    let tokens = create(json!({"name": "tokens", "tpm": 10000000}));
    for _ in 0..5 {
        let written = writes_of(&gw, || {
            gw.post(FLASH).bearer(&tokens).json(&hello()).send().assert_status(200);
        });
        assert_eq!(written, 1, "a token limit alone adds no write");
    }
}
