use crate::{hello, keys_view, setup, FLASH};
use gempool_tests::harness::{Gateway, GatewayOptions};
use gempool_tests::mock::{Behavior, MockGemini};
use serde_json::json;
use std::time::Duration;

fn patch_settings(gw: &Gateway, body: serde_json::Value) {
    gw.admin("PATCH", "/admin/api/settings")
        .json(&body)
        .send()
        .assert_status(200);
}

#[test]
fn round_robin_is_fair_under_concurrency_and_no_update_is_lost() {
    let (mock, gw) = setup(&["k1", "k2", "k3", "k4"]);
    let created = gw
        .admin("POST", "/admin/api/client-keys")
        .json(&json!({"name": "load"}))
        .send();
    let client_key = created.json()["key"].as_str().unwrap().to_owned();
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..50 {
                    gw.post(FLASH)
                        .bearer(&client_key)
                        .json(&hello())
                        .send()
                        .assert_status(200);
                }
            });
        }
    });
    for key in ["k1", "k2", "k3", "k4"] {
        let n = mock.count_for_key(key);
        assert!((98..=102).contains(&n), "{key} served {n} of 400 requests");
    }
    let usage = gw.admin("GET", "/admin/api/usage").send().json();
    let total: i64 = usage["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["requests"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 400, "every concurrent request is counted: {usage}");
    let client_total: i64 = usage["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["requests"].as_i64().unwrap())
        .sum();
    assert_eq!(client_total, 400);
}

#[test]
fn a_key_failing_where_others_succeed_opens_its_breaker_and_a_probe_closes_it() {
    let (mock, gw) = setup(&["k1", "k2"]);
    patch_settings(&gw, json!({"breaker_threshold": 2, "breaker_open_secs": 1}));
    mock.set_behavior("k1", Behavior::InternalError);
    // Round robin starts every other request on k1: it fails there, k2 answers, and k1 takes
    // the blame because another key succeeded on the same model.
    for _ in 0..4 {
        gw.post(FLASH).json(&hello()).send().assert_status(200);
    }
    let k1 = &keys_view(&gw)[0];
    assert!(k1["breaker_open_until"].as_i64().is_some(), "{k1}");
    let tried = mock.count_for_key("k1");
    for _ in 0..4 {
        gw.post(FLASH).json(&hello()).send().assert_status(200);
    }
    assert_eq!(mock.count_for_key("k1"), tried, "an open breaker keeps the key out");
    std::thread::sleep(Duration::from_millis(1300));
    mock.set_behavior("k1", Behavior::Ok);
    for _ in 0..2 {
        gw.post(FLASH).json(&hello()).send().assert_status(200);
    }
    let k1 = &keys_view(&gw)[0];
    assert_eq!(
        k1["consecutive_failures"], 0,
        "a successful probe closes the breaker: {k1}"
    );
    assert!(k1["breaker_open_until"].is_null());
}

#[test]
fn a_model_failing_on_every_key_is_a_503_and_blames_no_key() {
    let (mock, gw) = setup(&["k1", "k2"]);
    patch_settings(&gw, json!({"breaker_threshold": 1, "overload_retry_after_secs": 7}));
    mock.set_behavior("k1", Behavior::Unavailable);
    mock.set_behavior("k2", Behavior::InternalError);
    for _ in 0..5 {
        let resp = gw.post(FLASH).json(&hello()).send();
        resp.assert_status(503);
        assert_eq!(resp.header("retry-after"), Some("7"), "{}", resp.text());
        assert_eq!(resp.json()["error"]["status"], "UNAVAILABLE");
    }
    for key in keys_view(&gw) {
        assert_eq!(key["consecutive_failures"], 0, "{key}");
        assert!(key["breaker_open_until"].is_null(), "{key}");
        assert_eq!(key["enabled"], true);
    }
    // The upstream recovers: the very next request is served.
    mock.set_behavior("k1", Behavior::Ok);
    mock.set_behavior("k2", Behavior::Ok);
    gw.post(FLASH).json(&hello()).send().assert_status(200);
}

#[test]
fn a_daily_quota_cools_every_key_of_the_project() {
    let (mock, gw) = setup(&["solo"]);
    mock.add_keys(&["proj-key-1", "proj-key-2"]);
    gw.admin("POST", "/admin/api/keys")
        .json(&json!({"keys": ["proj-key-1", "proj-key-2"], "project": "proj-a"}))
        .send()
        .assert_status(201);
    mock.set_behavior("proj-key-1", Behavior::RateLimitPerDay);
    mock.set_behavior("proj-key-2", Behavior::RateLimitPerDay);
    for _ in 0..4 {
        gw.post(FLASH).json(&hello()).send().assert_status(200);
    }
    let hits = mock.count_for_key("proj-key-1") + mock.count_for_key("proj-key-2");
    assert_eq!(hits, 1, "one daily 429 is enough to know the project is spent");
    let keys = keys_view(&gw);
    for k in keys.iter().filter(|k| k["project"] == "proj-a") {
        assert_eq!(k["cooldowns"].as_array().unwrap().len(), 1, "{k}");
    }
    assert!(
        keys[0]["cooldowns"].as_array().unwrap().is_empty(),
        "keys of other projects are untouched"
    );
    // Another model is a separate quota.
    gw.post("/v1beta/models/gemini-2.5-pro:generateContent")
        .json(&hello())
        .send()
        .assert_status(200);
}

#[test]
fn weighted_strategy_follows_weights() {
    let (mock, gw) = setup(&["k1", "k2"]);
    let keys = keys_view(&gw);
    gw.admin("PATCH", &format!("/admin/api/keys/{}", keys[0]["id"]))
        .json(&json!({"weight": 4}))
        .send()
        .assert_status(200);
    patch_settings(&gw, json!({"strategy": "weighted"}));
    for _ in 0..100 {
        gw.post(FLASH).json(&hello()).send().assert_status(200);
    }
    let heavy = mock.count_for_key("k1");
    assert!(
        (65..=95).contains(&heavy),
        "weight 4:1 should give k1 about 80 of 100, got {heavy}"
    );
}

#[test]
fn least_used_prefers_the_key_with_fewest_requests_today() {
    let (mock, gw) = setup(&["k1", "k2"]);
    for _ in 0..6 {
        gw.post(FLASH).json(&hello()).send().assert_status(200);
    }
    let id = keys_view(&gw)[1]["id"].as_i64().unwrap();
    gw.admin("POST", &format!("/admin/api/keys/{id}/disable"))
        .send()
        .assert_status(200);
    for _ in 0..4 {
        gw.post(FLASH).json(&hello()).send().assert_status(200);
    }
    gw.admin("POST", &format!("/admin/api/keys/{id}/enable"))
        .send()
        .assert_status(200);
    patch_settings(&gw, json!({"strategy": "least_used"}));
    mock.reset_log();
    for _ in 0..4 {
        gw.post(FLASH).json(&hello()).send().assert_status(200);
    }
    assert_eq!(
        mock.count_for_key("k2"),
        4,
        "k2 (3 requests today vs 7) catches up first"
    );
}

#[test]
fn settings_apply_on_the_next_request() {
    let (mock, gw) = setup(&["k1", "k2", "k3"]);
    for k in ["k1", "k2", "k3"] {
        mock.set_behavior(k, Behavior::Unavailable);
    }
    patch_settings(&gw, json!({"max_attempts": 1}));
    gw.post(FLASH).json(&hello()).send().assert_status(503);
    assert_eq!(mock.request_count(), 1);
}

#[test]
fn keys_can_be_validated_against_the_upstream() {
    let (mock, gw) = setup(&["good", "bad"]);
    mock.set_behavior("bad", Behavior::InvalidKey);
    let resp = gw.admin("POST", "/admin/api/keys/validate").send();
    resp.assert_status(200);
    let results = resp.json()["results"].as_array().cloned().unwrap();
    assert_eq!(results[0]["state"], "valid");
    assert_eq!(results[1]["state"], "invalid");
    let keys = keys_view(&gw);
    assert_eq!(keys[0]["validation"], "valid");
    assert_eq!(keys[1]["enabled"], false, "an invalid key is taken out");
    let one = gw
        .admin("POST", &format!("/admin/api/keys/{}/validate", keys[0]["id"]))
        .send();
    one.assert_status(200);
    assert_eq!(one.json()["state"], "valid");
}

mod client_limits {
    use super::*;

    fn closed(keys: &[&str]) -> (MockGemini, Gateway) {
        let mock = MockGemini::with_keys(keys);
        let gw = Gateway::start(GatewayOptions::with_mock(&mock, keys));
        (mock, gw)
    }

    fn client(gw: &Gateway, body: serde_json::Value) -> String {
        let resp = gw.admin("POST", "/admin/api/client-keys").json(&body).send();
        resp.assert_status(201);
        resp.json()["key"].as_str().unwrap().to_owned()
    }

    /// Waits, if need be, until the current minute has at least 15 s left, so a test's
    /// requests share one per-minute window. The gateway reads the same system clock (the
    /// window's own arithmetic is pinned with a fake clock in `guest/src/store/windows.rs`).
    fn start_of_a_quiet_minute() {
        let into_minute = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
            % 60_000;
        if into_minute > 45_000 {
            std::thread::sleep(Duration::from_millis((60_000 - into_minute) as u64 + 50));
        }
    }

    /// Sends until the gateway refuses, all within one minute window.
    fn successes_before_refusal(gw: &Gateway, key: &str, max: usize) -> (usize, gempool_tests::http::TestResponse) {
        start_of_a_quiet_minute();
        for sent in 0..max {
            let resp = gw.post(FLASH).bearer(key).json(&hello()).send();
            if resp.status == 429 {
                return (sent, resp);
            }
            resp.assert_status(200);
        }
        panic!("no request was refused in {max} tries");
    }

    #[test]
    fn requests_per_minute_are_limited_with_retry_after() {
        let (_mock, gw) = closed(&["k1"]);
        let key = client(&gw, json!({"name": "rpm", "rpm": 2}));
        let (ok, refused) = successes_before_refusal(&gw, &key, 6);
        assert_eq!(ok, 2, "2 per minute");
        assert_eq!(refused.json()["error"]["status"], "RESOURCE_EXHAUSTED");
        assert!(refused.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("requests per minute"));
        let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry));
    }

    #[test]
    fn a_refused_client_gets_429_in_its_own_protocol() {
        let (_mock, gw) = closed(&["k1"]);
        let key = client(&gw, json!({"name": "rpd", "rpd": 1}));
        gw.post(FLASH).bearer(&key).json(&hello()).send().assert_status(200);
        let openai = gw
            .post("/v1/chat/completions")
            .bearer(&key)
            .json(&json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}))
            .send();
        openai.assert_status(429);
        assert_eq!(openai.json()["error"]["type"], "rate_limit_error");
        assert!(openai.header("retry-after").is_some());
        let anthropic = gw
            .post("/v1/messages")
            .header("x-api-key", &key)
            .header("anthropic-version", "2023-06-01")
            .json(&json!({"model": "gemini-2.5-flash", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}))
            .send();
        anthropic.assert_status(429);
        assert_eq!(anthropic.json()["type"], "error");
        assert_eq!(anthropic.json()["error"]["type"], "rate_limit_error");
    }

    #[test]
    fn tokens_per_minute_count_usage_metadata() {
        let (_mock, gw) = closed(&["k1"]);
        let key = client(&gw, json!({"name": "tpm", "tpm": 5}));
        let (ok, refused) = successes_before_refusal(&gw, &key, 4);
        assert_eq!(ok, 1, "one answer spends the 5 tokens");
        assert!(refused.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tokens per minute"));
    }

    #[test]
    fn requests_per_day_are_limited() {
        let (_mock, gw) = closed(&["k1"]);
        let key = client(&gw, json!({"name": "rpd", "rpd": 1}));
        gw.post(FLASH).bearer(&key).json(&hello()).send().assert_status(200);
        let refused = gw.post(FLASH).bearer(&key).json(&hello()).send();
        refused.assert_status(429);
        assert!(refused.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("requests per day"));
    }

    #[test]
    fn allowed_models_and_expiry_are_enforced() {
        let (_mock, gw) = closed(&["k1"]);
        let key = client(
            &gw,
            json!({"name": "flash-only", "allowed_models": ["gemini-2.5-flash"]}),
        );
        gw.post(FLASH).bearer(&key).json(&hello()).send().assert_status(200);
        gw.post("/v1beta/models/gemini-2.5-pro:generateContent")
            .bearer(&key)
            .json(&hello())
            .send()
            .assert_status(403);
        let expired = client(&gw, json!({"name": "old", "expires_at": 1_000}));
        let resp = gw.post(FLASH).bearer(&expired).json(&hello()).send();
        resp.assert_status(401);
        assert!(resp.json()["error"]["message"].as_str().unwrap().contains("expired"));
    }

    #[test]
    fn usage_is_kept_per_client_and_model() {
        let (_mock, gw) = closed(&["k1"]);
        let key = client(&gw, json!({"name": "meter"}));
        for _ in 0..3 {
            gw.post(FLASH).bearer(&key).json(&hello()).send().assert_status(200);
        }
        let usage = gw.admin("GET", "/admin/api/usage").send().json();
        let row = &usage["clients"][0];
        assert_eq!(row["requests"], 3, "{usage}");
        assert_eq!(row["model"], "gemini-2.5-flash");
        assert!(row["prompt_tokens"].as_i64().unwrap() > 0);
    }
}

#[test]
fn pure_proxy_mode_uses_the_clients_own_keys_and_stores_none() {
    let own_a = "AIzaSyOWNKEY-aaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let own_b = "AIzaSyOWNKEY-bbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    let mock = MockGemini::with_keys(&["pool", own_a, own_b]);
    let gw = Gateway::start(GatewayOptions::with_mock(&mock, &["pool"]));
    // Off by default: a Google key that is not a client key is refused.
    gw.post(FLASH)
        .header("x-goog-api-key", own_a)
        .json(&hello())
        .send()
        .assert_status(401);
    patch_settings(&gw, json!({"pure_proxy": true}));
    assert_eq!(
        gw.admin("GET", "/admin/api/settings").send().json()["settings"]["pure_proxy"],
        true
    );
    mock.push_script(own_a, vec![Behavior::RateLimitPerMinute { retry_delay_secs: 10 }]);
    let resp = gw
        .post(FLASH)
        .header("x-goog-api-key", &format!("{own_a},{own_b}"))
        .json(&hello())
        .send();
    resp.assert_status(200);
    let keys: Vec<_> = mock.requests().iter().filter_map(|r| r.key.clone()).collect();
    assert!(
        keys.iter().all(|k| k == own_a || k == own_b),
        "only the client's keys are used: {keys:?}"
    );
    assert!(
        keys.contains(&own_b.to_string()),
        "failover works across the client's keys"
    );
    let usage = gw.admin("GET", "/admin/api/usage").send();
    assert!(
        !usage.json()["proxy_keys"].as_array().unwrap().is_empty(),
        "a hash shows in the stats"
    );
    assert!(!usage.text().contains(own_b));
    let mut stored = std::fs::read(gw.data_path()).unwrap_or_default();
    stored.extend(std::fs::read(gw.data_path().with_extension("db-wal")).unwrap_or_default());
    let haystack = String::from_utf8_lossy(&stored);
    assert!(!haystack.contains("OWNKEY"), "the client's keys are not stored");
}

#[test]
fn adaptive_strategy_moves_traffic_away_from_a_slow_key() {
    let (mock, gw) = setup(&["slow", "fast"]);
    mock.set_behavior("slow", Behavior::Delay { ms: 600 });
    patch_settings(&gw, json!({"strategy": "adaptive"}));
    // Both keys are explored first (each needs a few samples); what the strategy learnt shows
    // in the traffic after that. The slow key's share there is ~10 % (up to ~18 % when a loaded
    // machine slows the fast key too), so the bound below leaves room for chance.
    let send = |n: usize| {
        for _ in 0..n {
            gw.post(FLASH).json(&hello()).send().assert_status(200);
        }
        (mock.count_for_key("slow"), mock.count_for_key("fast"))
    };
    let (slow_explored, fast_explored) = send(16);
    assert!(slow_explored >= 1, "every key is explored");
    let (slow, fast) = send(40);
    let (slow, fast) = (slow - slow_explored, fast - fast_explored);
    assert!(
        fast > 2 * slow,
        "adaptive should favour the fast key once it has samples: slow {slow}, fast {fast}"
    );
}
