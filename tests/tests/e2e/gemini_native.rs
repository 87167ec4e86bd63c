use crate::{hello, keys_view, now_ms, setup, FLASH};
use gempool_tests::mock::Behavior;
use serde_json::json;
use std::time::Duration;

#[test]
fn requests_rotate_across_all_keys() {
    let (mock, gw) = setup(&["k1", "k2", "k3"]);
    for _ in 0..9 {
        gw.post(FLASH).json(&hello()).send().assert_status(200);
    }
    for key in ["k1", "k2", "k3"] {
        assert_eq!(
            mock.count_for_key(key),
            3,
            "round robin should use {key} 3 times of 9\n{}",
            gw.log()
        );
    }
}

#[test]
fn response_is_geminis_own() {
    let (_mock, gw) = setup(&["k1"]);
    let resp = gw.post(FLASH).json(&hello()).send();
    resp.assert_status(200);
    let body = resp.json();
    let text = body["candidates"][0]["content"]["parts"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(text.contains("hello there"), "the mock echoes the prompt: {body}");
    assert!(body["usageMetadata"]["totalTokenCount"].as_u64().unwrap_or(0) > 0);
}

#[test]
fn a_rate_limited_key_is_skipped_and_the_client_never_notices() {
    let (mock, gw) = setup(&["k1", "k2"]);
    mock.set_behavior("k1", Behavior::RateLimitPerMinute { retry_delay_secs: 30 });
    for _ in 0..4 {
        gw.post(FLASH).json(&hello()).send().assert_status(200);
    }
    assert_eq!(
        mock.count_for_key("k1"),
        1,
        "k1 is tried once, then cools down\n{}",
        gw.log()
    );
    assert_eq!(mock.count_for_key("k2"), 4);
    let keys = keys_view(&gw);
    let cooldown = &keys[0]["cooldowns"][0];
    assert_eq!(cooldown["model"], "gemini-2.5-flash");
    let remaining = cooldown["until"].as_i64().unwrap() - now_ms();
    assert!(
        (20_000..=35_000).contains(&remaining),
        "per-minute cooldown follows retryDelay 30s: {remaining} ms"
    );
    assert!(cooldown["reason"].as_str().unwrap().contains("PerMinute"), "{cooldown}");
    // The cooldown is per model: another model still uses k1.
    gw.post("/v1beta/models/gemini-2.5-pro:generateContent")
        .json(&hello())
        .send()
        .assert_status(200);
    gw.post("/v1beta/models/gemini-2.5-pro:generateContent")
        .json(&hello())
        .send()
        .assert_status(200);
    assert_eq!(mock.count_for_key("k1"), 2);
}

#[test]
fn a_daily_quota_cools_the_key_until_pacific_midnight() {
    let (mock, gw) = setup(&["k1", "k2"]);
    mock.push_script("k1", vec![Behavior::RateLimitPerDay]);
    gw.post(FLASH).json(&hello()).send().assert_status(200);
    gw.post(FLASH).json(&hello()).send().assert_status(200);
    let keys = keys_view(&gw);
    let until = keys[0]["cooldowns"][0]["until"].as_i64().expect("k1 has a cooldown");
    let remaining = until - now_ms();
    assert!(
        remaining > 60_000 && remaining <= 25 * 3_600_000,
        "daily cooldown lasts until LA midnight, not retryDelay: {remaining} ms"
    );
    // Pacific midnight is 07:00 or 08:00 UTC.
    let utc_hour = (until / 3_600_000) % 24;
    assert!(
        utc_hour == 7 || utc_hour == 8,
        "until {until} is not a Pacific midnight"
    );
    assert_eq!(until % 3_600_000, 0);
}

#[test]
fn an_invalid_key_is_disabled_with_the_upstreams_reason() {
    let (mock, gw) = setup(&["k1", "k2"]);
    mock.set_behavior("k1", Behavior::InvalidKey);
    for _ in 0..4 {
        gw.post(FLASH).json(&hello()).send().assert_status(200);
    }
    assert_eq!(mock.count_for_key("k1"), 1, "a disabled key is not tried again");
    let keys = keys_view(&gw);
    assert_eq!(keys[0]["enabled"], false);
    let reason = keys[0]["disabled_reason"].as_str().unwrap();
    assert!(reason.contains("API key not valid"), "{reason}");
    assert_eq!(keys[1]["enabled"], true);
}

#[test]
fn server_errors_fail_over_to_the_next_key() {
    let (mock, gw) = setup(&["k1", "k2"]);
    mock.push_script("k1", vec![Behavior::Unavailable, Behavior::InternalError]);
    for _ in 0..2 {
        gw.post(FLASH).json(&hello()).send().assert_status(200);
    }
    assert_eq!(mock.count_for_key("k1"), 1);
    assert!(mock.count_for_key("k2") >= 2);
}

#[test]
fn when_every_key_is_cooling_the_client_gets_429_with_retry_after() {
    let (mock, gw) = setup(&["k1", "k2"]);
    mock.set_behavior("k1", Behavior::RateLimitPerMinute { retry_delay_secs: 40 });
    mock.set_behavior("k2", Behavior::RateLimitPerMinute { retry_delay_secs: 20 });
    let first = gw.post(FLASH).json(&hello()).send();
    first.assert_status(429);
    let body = first.json();
    assert_eq!(body["error"]["status"], "RESOURCE_EXHAUSTED", "{body}");
    let retry_after: u64 = first
        .header("retry-after")
        .expect("Retry-After header")
        .parse()
        .unwrap();
    assert!(
        (15..=21).contains(&retry_after),
        "soonest recovery is k2's 20 s: {retry_after}"
    );
    // Now nothing is even tried upstream.
    let before = mock.request_count();
    let second = gw.post(FLASH).json(&hello()).send();
    second.assert_status(429);
    assert_eq!(mock.request_count(), before, "cooling keys are not tried");
    assert!(second.header("retry-after").is_some());
}

#[test]
fn attempts_are_bounded() {
    let (mock, gw) = setup(&["k1", "k2", "k3", "k4", "k5"]);
    for k in ["k1", "k2", "k3", "k4", "k5"] {
        mock.set_behavior(k, Behavior::InternalError);
    }
    let resp = gw.post(FLASH).json(&hello()).send();
    assert_eq!(
        resp.status,
        503,
        "a model failing on every key is unavailable: {}",
        resp.text()
    );
    assert_eq!(mock.request_count(), 3, "default max_attempts is 3");
}

#[test]
fn a_request_fault_is_returned_as_is_without_touching_the_key() {
    let (mock, gw) = setup(&["k1", "k2"]);
    let bad = json!({"contents": [{"role": "user", "parts": [{"text": "x"}]}], "bogusField": 1});
    let resp = gw.post(FLASH).json(&bad).send();
    resp.assert_status(400);
    assert!(
        resp.text().contains("bogusField"),
        "the upstream's own message reaches the client: {}",
        resp.text()
    );
    assert_eq!(
        mock.request_count(),
        1,
        "a 400 caused by the request is not retried on another key"
    );
    assert!(keys_view(&gw)
        .iter()
        .all(|k| k["enabled"] == true && k["cooldowns"].as_array().unwrap().is_empty()));
}

#[test]
fn streams_arrive_incrementally_and_byte_for_byte() {
    let (mock, gw) = setup(&["k1"]);
    mock.set_behavior("k1", Behavior::SlowStream { chunk_delay_ms: 250 });
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "one two three four five six"}]}]});
    let mut stream = gw
        .post("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
        .json(&body)
        .send_stream();
    stream.assert_status(200);
    assert_eq!(stream.header("content-type"), Some("text/event-stream"));
    let chunks = stream.collect_chunks();
    assert!(chunks.len() >= 2, "the stream came in {} chunk(s)", chunks.len());
    let span = chunks.last().unwrap().at.duration_since(chunks[0].at);
    assert!(
        span >= Duration::from_millis(500),
        "the first bytes arrived only {span:?} before the last: the gateway buffered"
    );
    let bytes: Vec<u8> = chunks.iter().flat_map(|c| c.data.to_vec()).collect();
    let text = String::from_utf8(bytes).unwrap();
    assert!(
        text.contains("\r\n\r\n"),
        "Gemini's CRLF framing passes through untouched"
    );
    assert!(!text.contains("[DONE]"));
}

#[test]
fn stream_without_sse_is_a_json_array() {
    let (_mock, gw) = setup(&["k1"]);
    let resp = gw
        .post("/v1beta/models/gemini-2.5-flash:streamGenerateContent")
        .json(&hello())
        .send();
    resp.assert_status(200);
    let value = resp.json();
    assert!(value.as_array().is_some_and(|a| !a.is_empty()), "{value}");
}

#[test]
fn a_mid_stream_error_reaches_the_client() {
    let (mock, gw) = setup(&["k1"]);
    mock.set_behavior("k1", Behavior::MidStreamError);
    let resp = gw
        .post("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
        .json(&hello())
        .send();
    resp.assert_status(200);
    let events = resp.sse_events();
    let last = events.last().expect("events").json();
    assert_eq!(last["error"]["code"], 503, "{last}");
}

#[test]
fn usage_is_counted_per_key_and_model_including_streams() {
    let (_mock, gw) = setup(&["k1"]);
    let plain = gw.post(FLASH).json(&hello()).send();
    plain.assert_status(200);
    let expected = plain.json()["usageMetadata"].clone();
    let streamed = gw
        .post("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
        .json(&hello())
        .send();
    streamed.assert_status(200);
    let last_usage = streamed.sse_events().last().unwrap().json()["usageMetadata"].clone();
    let usage = gw.admin("GET", "/admin/api/usage").send();
    usage.assert_status(200);
    let rows = usage.json()["keys"].as_array().cloned().unwrap();
    let row = rows
        .iter()
        .find(|r| r["model"] == "gemini-2.5-flash")
        .expect("a usage row for flash");
    assert_eq!(row["requests"], 2, "{row}");
    let prompt = expected["promptTokenCount"].as_i64().unwrap() + last_usage["promptTokenCount"].as_i64().unwrap();
    assert_eq!(row["prompt_tokens"].as_i64().unwrap(), prompt, "{row}");
    let candidates = expected["candidatesTokenCount"].as_i64().unwrap_or(0)
        + last_usage["candidatesTokenCount"].as_i64().unwrap_or(0);
    assert_eq!(row["candidate_tokens"].as_i64().unwrap(), candidates, "{row}");
}

#[test]
fn other_native_methods_are_proxied() {
    let (_mock, gw) = setup(&["k1"]);
    let models = gw.get("/v1beta/models").send();
    models.assert_status(200);
    assert!(models.json()["models"].as_array().is_some_and(|m| !m.is_empty()));
    gw.get("/v1beta/models/gemini-2.5-flash").send().assert_status(200);
    let count = gw
        .post("/v1beta/models/gemini-2.5-flash:countTokens")
        .json(&json!({"contents": [{"parts": [{"text": "a b c"}]}]}))
        .send();
    count.assert_status(200);
    assert!(count.json()["totalTokens"].as_u64().is_some());
    let embed = gw
        .post("/v1beta/models/gemini-embedding-001:embedContent")
        .json(&json!({"content": {"parts": [{"text": "hi"}]}, "outputDimensionality": 8}))
        .send();
    embed.assert_status(200);
    assert_eq!(embed.json()["embedding"]["values"].as_array().unwrap().len(), 8);
    let batch = gw
        .post("/v1beta/models/gemini-embedding-001:batchEmbedContents")
        .json(&json!({"requests": [
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "a"}]}},
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "b"}]}}]}))
        .send();
    batch.assert_status(200);
    assert_eq!(batch.json()["embeddings"].as_array().unwrap().len(), 2);
    let unknown = gw
        .post("/v1beta/models/no-such-model:generateContent")
        .json(&hello())
        .send();
    unknown.assert_status(404);
}
