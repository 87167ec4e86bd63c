//! Model fallback chains: when the model asked for is rate limited or overloaded on every
//! key, the next model of its chain answers, visibly, before anything reached the client.

use super::*;
use crate::handler::pipeline::FALLBACK_HEADER;

const OVERLOADED: &str =
    r#"{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}"#;
const PER_MINUTE: &str = r#"{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[
    {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"20s"}]}}"#;
const PRO_CHAT: &str = r#"{"model":"gemini-2.5-pro","messages":[{"role":"user","content":"hi"}]}"#;

/// A pool of one key whose `gemini-2.5-pro` falls back to `gemini-2.5-flash`.
fn pool_with_chain() -> MemoryDb {
    let db = pool_with_key();
    crate::store::settings::put(&db, "fallback:gemini-2.5-pro", "gemini-2.5-flash").unwrap();
    db
}

fn paths(up: &FakeUpstream) -> Vec<String> {
    up.paths.borrow().clone()
}

#[test]
fn an_overloaded_model_falls_back_to_the_next_of_its_chain_visibly() {
    let db = pool_with_chain();
    let up = FakeUpstream::default().answer(KEY, vec![Ok((503, OVERLOADED)), Ok((200, GEMINI_OK))]);
    let answer = run(&up, &db, &config(true), "POST", "/v1/chat/completions", &[], PRO_CHAT);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["model"], "gemini-2.5-flash");
    assert_eq!(answer.header(FALLBACK_HEADER), Some("gemini-2.5-flash"));
    assert_eq!(
        paths(&up),
        [
            "/v1beta/models/gemini-2.5-pro:generateContent",
            "/v1beta/models/gemini-2.5-flash:generateContent"
        ]
    );
    let log = last_log(&db);
    assert_eq!(
        (
            log.status,
            log.attempts,
            log.model.as_deref(),
            log.fallback_from.as_deref()
        ),
        (200, 2, Some("gemini-2.5-flash"), Some("gemini-2.5-pro"))
    );
    // The answer is counted under the model that served it, the overload under the other.
    let usage = usage::key_usage(&db, None).unwrap();
    let of = |model: &str| {
        usage
            .iter()
            .find(|u| u.model == model)
            .map(|u| (u.requests, u.overloaded))
    };
    assert_eq!(of("gemini-2.5-flash"), Some((1, 0)));
    assert_eq!(of("gemini-2.5-pro"), Some((1, 1)), "an attempt, overloaded");
}

#[test]
fn without_a_chain_nothing_falls_back() {
    let db = pool_with_key();
    let up = FakeUpstream::default().answer(KEY, vec![Ok((503, OVERLOADED)), Ok((200, GEMINI_OK))]);
    let answer = run(&up, &db, &config(true), "POST", "/v1/chat/completions", &[], PRO_CHAT);
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(paths(&up).len(), 1);
    assert_eq!(last_log(&db).fallback_from, None);
}

#[test]
fn a_rate_limited_model_falls_back_and_its_cooling_keys_are_skipped_next_time() {
    let db = pool_with_chain();
    let up = FakeUpstream::default().answer(KEY, vec![Ok((429, PER_MINUTE))]);
    let body = r#"{"model":"gemini-2.5-pro","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#;
    for round in 0..2 {
        let answer = run(&up, &db, &config(true), "POST", "/v1/messages", &[], body);
        assert_eq!(answer.status, 200, "round {round}: {}", answer.body);
        assert_eq!(answer.json()["model"], "gemini-2.5-flash", "round {round}");
    }
    // The key cools for the pro model: the second request goes straight to the fallback.
    assert_eq!(
        paths(&up),
        [
            "/v1beta/models/gemini-2.5-pro:generateContent",
            "/v1beta/models/gemini-2.5-flash:generateContent",
            "/v1beta/models/gemini-2.5-flash:generateContent"
        ]
    );
    assert_eq!(last_log(&db).attempts, 1);
}

#[test]
fn the_last_model_of_a_chain_fails_in_the_callers_shape() {
    let db = pool_with_chain();
    let up = FakeUpstream::default().answer(KEY, vec![Ok((503, OVERLOADED)), Ok((503, OVERLOADED))]);
    let answer = run(&up, &db, &config(true), "POST", "/v1/chat/completions", &[], PRO_CHAT);
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert!(answer.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("gemini-2.5-flash"));
    let log = last_log(&db);
    assert_eq!(
        (log.attempts, log.model.as_deref(), log.fallback_from.as_deref()),
        (2, Some("gemini-2.5-flash"), Some("gemini-2.5-pro"))
    );
}

#[test]
fn a_fault_of_the_request_never_falls_back() {
    let db = pool_with_chain();
    let fault = r#"{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}"#;
    let up = FakeUpstream::default().answer(KEY, vec![Ok((400, fault))]);
    let answer = run(&up, &db, &config(true), "POST", "/v1/chat/completions", &[], PRO_CHAT);
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(paths(&up).len(), 1);
}

#[test]
fn native_calls_fall_back_with_the_body_as_sent_and_counting_tokens_does_not() {
    let db = pool_with_chain();
    let up = FakeUpstream::default().answer(KEY, vec![Ok((503, OVERLOADED)), Ok((200, GEMINI_OK))]);
    let body = r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#;
    let path = "/v1beta/models/gemini-2.5-pro:generateContent";
    let answer = run(&up, &db, &config(true), "POST", path, &[], body);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.header(FALLBACK_HEADER), Some("gemini-2.5-flash"));
    assert_eq!(answer.json()["candidates"][0]["content"]["parts"][0]["text"], "hello");
    assert_eq!(paths(&up)[1], "/v1beta/models/gemini-2.5-flash:generateContent");

    let up = FakeUpstream::default().answer(KEY, vec![Ok((503, OVERLOADED))]);
    let count = "/v1beta/models/gemini-2.5-pro:countTokens";
    assert_eq!(run(&up, &db, &config(true), "POST", count, &[], body).status, 503);
    assert_eq!(paths(&up).len(), 1);
}

#[test]
fn a_client_key_falls_back_only_to_models_it_may_use() {
    let db = pool_with_chain();
    add_client(
        &db,
        &ClientLimits {
            allowed_models: vec!["gemini-2.5-pro".into()],
            ..ClientLimits::default()
        },
    );
    let up = FakeUpstream::default().answer(KEY, vec![Ok((503, OVERLOADED)), Ok((200, GEMINI_OK))]);
    let auth = bearer(CLIENT);
    let answer = run(
        &up,
        &db,
        &config(false),
        "POST",
        "/v1/chat/completions",
        &[("authorization", &auth)],
        PRO_CHAT,
    );
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(paths(&up).len(), 1);
}

#[test]
fn chains_are_managed_through_the_admin_api() {
    let db = MemoryDb::new();
    let up = FakeUpstream::default();
    let auth = bearer(ADMIN);
    let admin = |method: &str, body: &str| {
        run(
            &up,
            &db,
            &config(false),
            method,
            "/admin/api/fallbacks",
            &[("authorization", &auth)],
            body,
        )
    };
    assert_eq!(admin("GET", "").json(), serde_json::json!({"fallbacks": {}}));
    let set = admin(
        "PATCH",
        r#"{"gemini-2.5-pro": ["gemini-2.5-flash", "gemini-2.5-flash-lite"], "gemini-3-pro-preview": "gemini-2.5-pro"}"#,
    );
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(
        set.json()["fallbacks"],
        serde_json::json!({"gemini-2.5-pro": ["gemini-2.5-flash", "gemini-2.5-flash-lite"],
                           "gemini-3-pro-preview": ["gemini-2.5-pro"]})
    );
    for bad in [
        r#"{"gemini-2.5-pro": ["gemini-2.5-pro"]}"#,
        r#"{"gemini-2.5-pro": ["a", "a"]}"#,
        r#"{"gemini-2.5-pro": ["../x"]}"#,
        r#"{"bad model": ["a"]}"#,
        r#"{"gemini-2.5-pro": 3}"#,
        r#"{"gemini-2.5-pro": ["a", "b", "c", "d", "e", "f"]}"#,
    ] {
        assert_eq!(admin("PATCH", bad).status, 400, "{bad}");
    }
    let removed = admin("PATCH", r#"{"gemini-3-pro-preview": null, "gemini-2.5-pro": []}"#);
    assert_eq!(removed.json(), serde_json::json!({"fallbacks": {}}));
    assert_eq!(admin("DELETE", "").status, 405);
}
