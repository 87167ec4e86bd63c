//! Model listings from the cached list: one upstream call per pool and hour, whatever the
//! protocol, with native paging done by gempool.

use super::*;

const MODELS: &str = r#"{"models":[
    {"name":"models/gemini-2.5-flash","displayName":"Gemini 2.5 Flash","version":"001","thinking":true,
     "supportedGenerationMethods":["generateContent","countTokens"]},
    {"name":"models/gemini-2.5-pro","supportedGenerationMethods":["generateContent"]},
    {"name":"models/gemini-embedding-001","supportedGenerationMethods":["embedContent"]}]}"#;

#[test]
fn listings_of_every_protocol_share_one_upstream_call() {
    let db = pool_with_key();
    let up = FakeUpstream::default().answer(KEY, vec![Ok((200, MODELS))]);
    let openai = run(&up, &db, &config(true), "GET", "/v1/models", &[], "");
    assert_eq!(openai.status, 200, "{}", openai.body);
    assert!(openai.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == "gemini-2.5-pro"));
    let anthropic = run(
        &up,
        &db,
        &config(true),
        "GET",
        "/v1/models",
        &[("anthropic-version", "2023-06-01")],
        "",
    );
    assert_eq!(anthropic.status, 200, "{}", anthropic.body);
    let native = run(&up, &db, &config(true), "GET", "/v1beta/models", &[], "");
    assert_eq!(native.status, 200, "{}", native.body);
    // Google's own fields come back as Google sent them.
    assert_eq!(native.json()["models"][0]["version"], "001");
    assert_eq!(native.json()["models"][0]["thinking"], true);
    assert_eq!(*up.paths.borrow(), ["/v1beta/models?pageSize=1000"]);
}

#[test]
fn native_pages_come_from_the_cache_and_other_queries_go_upstream() {
    let db = pool_with_key();
    let up = FakeUpstream::default().answer(KEY, vec![Ok((200, MODELS)), Ok((200, MODELS))]);
    let first = run(&up, &db, &config(true), "GET", "/v1beta/models?pageSize=2", &[], "");
    assert_eq!(first.status, 200, "{}", first.body);
    let token = first.json()["nextPageToken"].as_str().unwrap().to_owned();
    assert_eq!(first.json()["models"].as_array().unwrap().len(), 2);
    let next = run(
        &up,
        &db,
        &config(true),
        "GET",
        &format!("/v1beta/models?pageSize=2&pageToken={token}"),
        &[],
        "",
    );
    assert_eq!(next.json()["models"][0]["name"], "models/gemini-embedding-001");
    assert!(next.json().get("nextPageToken").is_none(), "{}", next.body);
    let bad = run(&up, &db, &config(true), "GET", "/v1beta/models?pageToken=nope", &[], "");
    assert_eq!(
        (bad.status, bad.json()["error"]["status"].as_str()),
        (400, Some("INVALID_ARGUMENT"))
    );
    assert_eq!(up.paths.borrow().len(), 1);
    // `v1` is listed on its own; a field mask goes upstream as sent.
    run(&up, &db, &config(true), "GET", "/v1/models?key=x", &[], "");
    run(
        &up,
        &db,
        &config(true),
        "GET",
        "/v1beta/models?fields=models.name",
        &[],
        "",
    );
    assert_eq!(
        up.paths.borrow()[1..],
        ["/v1/models?pageSize=1000", "/v1beta/models?fields=models.name"]
    );
}

#[test]
fn a_list_older_than_an_hour_is_fetched_again_and_served_stale_when_that_fails() {
    let db = pool_with_key();
    let old = NOW - crate::store::model_lists::MAX_AGE_MS;
    crate::store::model_lists::put(&db, crate::store::model_lists::STORED_POOL, "v1beta", old, MODELS).unwrap();
    let boom = r#"{"error":{"code":500,"message":"Internal error encountered.","status":"INTERNAL"}}"#;
    let up = FakeUpstream::default().answer(KEY, vec![Ok((500, boom)), Ok((200, r#"{"models":[]}"#))]);
    let stale = run(&up, &db, &config(true), "GET", "/v1/models", &[], "");
    assert_eq!(stale.status, 200, "{}", stale.body);
    assert!(stale.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == "gemini-2.5-pro"));
    let fresh = run(&up, &db, &config(true), "GET", "/v1beta/models", &[], "");
    assert_eq!(fresh.json()["models"], serde_json::json!([]));
    assert_eq!(up.paths.borrow().len(), 2);
    let cached = crate::store::model_lists::get(&db, "stored", "v1beta")
        .unwrap()
        .unwrap();
    assert_eq!(cached.fetched_at, NOW);
}
