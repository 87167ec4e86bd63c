use crate::{hello, setup};
use gempool_tests::mock::Behavior;
use serde_json::json;

const PRO: &str = "/v1beta/models/gemini-2.5-pro:generateContent";

/// Every key answers its next request for the model with 503 UNAVAILABLE.
fn overload_next_request(mock: &gempool_tests::mock::MockGemini, keys: &[&str]) {
    for key in keys {
        mock.push_script(key, vec![Behavior::Unavailable]);
    }
}

#[test]
fn an_overloaded_model_falls_back_along_its_chain_in_every_protocol() {
    let keys = ["k1", "k2"];
    let (mock, gw) = setup(&keys);
    let chains = gw
        .admin("PATCH", "/admin/api/fallbacks")
        .json(&json!({"gemini-2.5-pro": ["gemini-2.5-flash"]}))
        .send();
    chains.assert_status(200);
    assert_eq!(
        chains.json()["fallbacks"]["gemini-2.5-pro"],
        json!(["gemini-2.5-flash"])
    );

    // OpenAI, whole: both keys overloaded for pro, flash answers; the reply says so.
    overload_next_request(&mock, &keys);
    let chat = gw
        .post("/v1/chat/completions")
        .json(&json!({"model": "gemini-2.5-pro", "messages": [{"role": "user", "content": "hi"}]}))
        .send();
    chat.assert_status(200);
    chat.assert_json("/model", "gemini-2.5-flash");
    assert_eq!(chat.header("x-gempool-fallback-model"), Some("gemini-2.5-flash"));
    let models: Vec<String> = mock
        .requests()
        .iter()
        .filter_map(|r| r.model().map(str::to_owned))
        .collect();
    assert_eq!(models, ["gemini-2.5-pro", "gemini-2.5-pro", "gemini-2.5-flash"]);
    let log = gw.admin("GET", "/admin/api/requests?limit=1").send().json();
    let row = &log["requests"][0];
    assert_eq!(
        (row["model"].as_str(), row["fallback_from"].as_str()),
        (Some("gemini-2.5-flash"), Some("gemini-2.5-pro"))
    );
    assert_eq!(row["attempts"], 3, "{row}");

    // Anthropic, streamed: the message_start names the model that answers.
    overload_next_request(&mock, &keys);
    let mut stream = gw
        .post("/v1/messages")
        .json(&json!({"model": "gemini-2.5-pro", "max_tokens": 64, "stream": true,
                      "messages": [{"role": "user", "content": "hello"}]}))
        .send_stream();
    stream.assert_status(200);
    assert_eq!(stream.header("x-gempool-fallback-model"), Some("gemini-2.5-flash"));
    let events = stream.events();
    let start: serde_json::Value = serde_json::from_str(&events[0].data).unwrap();
    assert_eq!(start["message"]["model"], "gemini-2.5-flash", "{start}");
    assert!(events.iter().any(|e| e.event.as_deref() == Some("message_stop")));

    // Native: the body goes as sent, `modelVersion` is the upstream's.
    overload_next_request(&mock, &keys);
    let native = gw.post(PRO).json(&hello()).send();
    native.assert_status(200);
    native.assert_json("/modelVersion", "gemini-2.5-flash");
    assert_eq!(native.header("x-gempool-fallback-model"), Some("gemini-2.5-flash"));

    // The chain removed: the overload reaches the client as a 503 in its shape.
    gw.admin("PATCH", "/admin/api/fallbacks")
        .json(&json!({"gemini-2.5-pro": null}))
        .send()
        .assert_status(200);
    overload_next_request(&mock, &keys);
    let refused = gw
        .post("/v1/chat/completions")
        .json(&json!({"model": "gemini-2.5-pro", "messages": [{"role": "user", "content": "hi"}]}))
        .send();
    refused.assert_status(503);
    assert!(refused.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("gemini-2.5-pro"));
}

#[test]
fn every_key_rate_limited_for_a_model_falls_back_and_then_skips_it() {
    let keys = ["k1"];
    let (mock, gw) = setup(&keys);
    gw.admin("PATCH", "/admin/api/fallbacks")
        .json(&json!({"gemini-2.5-pro": "gemini-2.5-flash"}))
        .send()
        .assert_status(200);
    mock.push_script("k1", vec![Behavior::RateLimitPerMinute { retry_delay_secs: 60 }]);
    for _ in 0..2 {
        let reply = gw
            .post("/v1/responses")
            .json(&json!({"model": "gemini-2.5-pro", "input": "hi"}))
            .send();
        reply.assert_status(200);
        reply.assert_json("/model", "gemini-2.5-flash");
    }
    // The key cools for pro: the second request went straight to flash.
    let models: Vec<String> = mock
        .requests()
        .iter()
        .filter_map(|r| r.model().map(str::to_owned))
        .collect();
    assert_eq!(models, ["gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash"]);
}

#[test]
fn listing_models_twice_costs_one_upstream_call_whatever_the_protocol() {
    let (mock, gw) = setup(&["k1"]);
    let openai = gw.get("/v1/models").send();
    openai.assert_status(200);
    assert!(openai.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == "gemini-2.5-pro"));
    gw.get("/v1/models")
        .header("anthropic-version", "2023-06-01")
        .send()
        .assert_status(200);
    let first = gw.get("/v1beta/models?pageSize=2").send();
    first.assert_status(200);
    assert_eq!(first.json()["models"].as_array().unwrap().len(), 2);
    let token = first.json()["nextPageToken"].as_str().unwrap().to_owned();
    let next = gw.get(&format!("/v1beta/models?pageSize=2&pageToken={token}")).send();
    next.assert_status(200);
    assert_ne!(next.json()["models"][0]["name"], first.json()["models"][0]["name"]);
    let lists = mock.requests().iter().filter(|r| r.path.ends_with("/models")).count();
    assert_eq!(
        lists,
        1,
        "{:?}",
        mock.requests().iter().map(|r| &r.path).collect::<Vec<_>>()
    );
}
