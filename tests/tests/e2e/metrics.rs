//! `GET /metrics` from the component under the bundled host, after a scripted run against the
//! strict mock: the text parses with `prometheus_client`'s own parser (Python), its numbers
//! match `/admin/api/usage`, it is refused without the admin key or the metrics token, and no
//! secret appears in it. Also the host's access log: one line per request, text or JSON, off
//! with `--quiet`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::{hello, FLASH};
use gempool_tests::harness::{workspace_root, Gateway, GatewayOptions, TEST_ADMIN_KEY};
use gempool_tests::mock::{Behavior, MockGemini};
use serde_json::{json, Value};

const K1: &str = "AIzaSyMetricsPoolKeyOne0000000000000001";
const K2: &str = "AIzaSyMetricsPoolKeyTwo0000000000000002";
const K3: &str = "AIzaSyMetricsPoolKeyThree00000000000003";
const STREAM: &str = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse";
const METRICS_TOKEN: &str = "metrics-token-for-the-e2e-test-0001";

/// The Python with `prometheus_client`: `$GEMPOOL_TEST_PYTHON`, else the workspace venv.
fn python() -> PathBuf {
    std::env::var_os("GEMPOOL_TEST_PYTHON")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"))
}

/// One parsed sample.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the exposition with `prometheus_client.parser` (`tests/sdk/parse_metrics.py`).
fn parse_with_prometheus_client(text: &str) -> Vec<Sample> {
    let script = workspace_root().join("tests/sdk/parse_metrics.py");
    let mut child = Command::new(python())
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "running {} (scripts/test installs prometheus-client): {e}",
                python().display()
            )
        });
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client rejected the text: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Value = serde_json::from_slice(&out.stdout).unwrap();
    parsed["families"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["samples"].as_array().unwrap().clone())
        .map(|s| Sample {
            name: s["name"].as_str().unwrap().to_owned(),
            labels: serde_json::from_value(s["labels"].clone()).unwrap(),
            value: match &s["value"] {
                Value::String(inf) if inf == "+Inf" => f64::INFINITY,
                v => v.as_f64().unwrap(),
            },
        })
        .collect()
}

/// The sum of `name`'s samples whose labels include every pair in `labels`.
fn sum(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

fn new_client(gw: &Gateway, body: Value) -> (i64, String) {
    let resp = gw.admin("POST", "/admin/api/client-keys").json(&body).send();
    resp.assert_status(201);
    let v = resp.json();
    (v["id"].as_i64().unwrap(), v["key"].as_str().unwrap().to_owned())
}

/// Sums a usage API row field over days, for rows matching `filter`.
fn usage_sum(rows: &Value, filter: impl Fn(&Value) -> bool, field: &str) -> f64 {
    rows.as_array()
        .unwrap()
        .iter()
        .filter(|r| filter(r))
        .map(|r| r[field].as_f64().unwrap_or(0.0))
        .sum()
}

#[test]
fn metrics_parse_match_the_usage_api_and_stay_behind_a_key() {
    let keys = [K1, K2, K3];
    let mock = MockGemini::with_keys(&keys);
    mock.set_behavior(K1, Behavior::RateLimitPerMinute { retry_delay_secs: 60 });
    mock.set_behavior(K2, Behavior::InvalidKey);
    let gw = Gateway::start(GatewayOptions::with_mock(&mock, &keys));
    let (alice_id, alice) = new_client(&gw, json!({"name": "alice"}));
    let (bob_id, bob) = new_client(&gw, json!({"name": "bob", "allowed_models": ["gemini-2.5-pro"]}));

    // The scripted run: 5 whole answers and 1 stream for alice (K1 cools, K2 is disabled, K3
    // answers), a model the upstream does not know, a model bob may not use, 2 without a key.
    for _ in 0..5 {
        gw.post(FLASH).bearer(&alice).json(&hello()).send().assert_status(200);
    }
    let stream = gw.post(STREAM).bearer(&alice).json(&hello()).send();
    stream.assert_status(200);
    assert!(stream.text().contains("data: "), "{}", stream.text());
    gw.post("/v1beta/models/gemini-nope-9:generateContent")
        .bearer(&alice)
        .json(&hello())
        .send()
        .assert_status(404);
    gw.post(FLASH).bearer(&bob).json(&hello()).send().assert_status(403);
    gw.post(FLASH).json(&hello()).send().assert_status(401);
    gw.post(FLASH)
        .bearer("gp-not-a-key-at-all-000000")
        .json(&hello())
        .send()
        .assert_status(401);

    // Who may read it.
    gw.get("/metrics").send().assert_status(401);
    gw.get("/metrics").bearer(&alice).send().assert_status(401);
    gw.get("/metrics")
        .header("x-goog-api-key", TEST_ADMIN_KEY)
        .send()
        .assert_status(401);
    gw.get(&format!("/metrics?key={TEST_ADMIN_KEY}"))
        .send()
        .assert_status(401);
    gw.get("/metrics").bearer(METRICS_TOKEN).send().assert_status(401);
    gw.admin("PATCH", "/admin/api/settings")
        .json(&json!({"metrics_token": METRICS_TOKEN}))
        .send()
        .assert_status(200);
    let settings = gw.admin("GET", "/admin/api/settings").send().json();
    assert_eq!(settings["settings"]["metrics_token_set"], true);
    assert!(!settings.to_string().contains(METRICS_TOKEN));
    let by_token = gw.get("/metrics").bearer(METRICS_TOKEN).send();
    by_token.assert_status(200);
    assert!(by_token
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));

    let text = gw.admin("GET", "/metrics").send().text();
    for secret in [K1, K2, K3, &alice, &bob, TEST_ADMIN_KEY, METRICS_TOKEN] {
        assert!(!text.contains(secret), "a secret in /metrics:\n{text}");
    }
    let samples = parse_with_prometheus_client(&text);
    let usage = gw.admin("GET", "/admin/api/usage").send().json();
    let key_ids: Vec<i64> = crate::keys_view(&gw)
        .iter()
        .map(|k| k["id"].as_i64().unwrap())
        .collect();
    let (id1, id2, id3) = (key_ids[0], key_ids[1], key_ids[2]);

    // Per key: every usage figure equals the metric summed over models and outcomes.
    let upstream = "gempool_upstream_requests_total";
    for id in [id1, id2, id3] {
        let key = id.to_string();
        let of_key = |r: &Value| r["key_id"].as_i64() == Some(id);
        let rows = &usage["keys"];
        let k = [("key", key.as_str())];
        assert_eq!(
            sum(&samples, upstream, &k),
            usage_sum(rows, of_key, "requests"),
            "key {id}"
        );
        let not_ok = sum(&samples, upstream, &k) - sum(&samples, upstream, &[k[0], ("outcome", "ok")]);
        assert_eq!(not_ok, usage_sum(rows, of_key, "errors"), "key {id}");
        for (outcome, field) in [
            ("rate_limited", "rate_limited"),
            ("invalid", "invalid"),
            ("overloaded", "overloaded"),
            ("timeout", "timeouts"),
        ] {
            assert_eq!(
                sum(&samples, upstream, &[k[0], ("outcome", outcome)]),
                usage_sum(rows, of_key, field),
                "key {id} {outcome}"
            );
        }
        for (kind, field) in [
            ("prompt", "prompt_tokens"),
            ("output", "candidate_tokens"),
            ("thoughts", "thought_tokens"),
        ] {
            assert_eq!(
                sum(&samples, "gempool_tokens_total", &[k[0], ("kind", kind)]),
                usage_sum(rows, of_key, field),
                "key {id} {kind}"
            );
        }
        // Labelled by id and hint, never the secret.
        let hint = samples
            .iter()
            .find(|s| s.name == upstream && s.labels["key"] == key)
            .map(|s| s.labels["hint"].clone())
            .unwrap();
        assert!(hint.starts_with("AIza…") && hint.chars().count() == 9, "{hint}");
    }
    // What the script did, seen in the metrics.
    let flash = ("model", "gemini-2.5-flash");
    let id1s = id1.to_string();
    let id2s = id2.to_string();
    let id3s = id3.to_string();
    assert!(sum(&samples, upstream, &[("key", &id1s), ("outcome", "rate_limited")]) >= 1.0);
    assert_eq!(sum(&samples, upstream, &[("key", &id2s), ("outcome", "invalid")]), 1.0);
    assert_eq!(
        sum(&samples, upstream, &[("key", &id3s), flash, ("outcome", "ok")]),
        6.0
    );
    assert!(sum(&samples, "gempool_tokens_total", &[("key", &id3s), ("kind", "prompt")]) > 0.0);
    // The made-up model is not a label of its own.
    assert!(!text.contains("gemini-nope-9"), "{text}");
    assert_eq!(
        sum(
            &samples,
            upstream,
            &[("key", &id3s), ("model", "other"), ("outcome", "error")]
        ),
        1.0
    );
    // Latency of the 6 ok attempts.
    assert_eq!(sum(&samples, "gempool_upstream_seconds_count", &[flash]), 6.0);
    assert_eq!(
        sum(&samples, "gempool_upstream_seconds_bucket", &[flash, ("le", "+Inf")]),
        6.0
    );
    assert!(sum(&samples, "gempool_upstream_seconds_sum", &[flash]) >= 0.0);
    // Key state and cooldowns.
    assert_eq!(
        sum(&samples, "gempool_key_state", &[("key", &id2s), ("state", "disabled")]),
        1.0
    );
    assert_eq!(
        sum(&samples, "gempool_key_state", &[("key", &id3s), ("state", "enabled")]),
        1.0
    );
    let cooling = sum(&samples, "gempool_key_cooldown_seconds", &[("key", &id1s), flash]);
    assert!(cooling > 0.0 && cooling <= 60.0, "{cooling}");

    // Per client: the usage API's successful requests and tokens, and the failures by class.
    let clients = &usage["clients"];
    let client = "gempool_client_requests_total";
    let alice_s = alice_id.to_string();
    let of_alice = |r: &Value| r["client_id"].as_i64() == Some(alice_id);
    assert_eq!(
        sum(&samples, client, &[("client", &alice_s), ("status", "2xx")]),
        usage_sum(clients, of_alice, "requests")
    );
    assert_eq!(sum(&samples, client, &[("client", &alice_s), ("status", "2xx")]), 6.0);
    assert_eq!(sum(&samples, client, &[("client", &alice_s), ("status", "4xx")]), 1.0);
    assert_eq!(
        sum(&samples, client, &[("client", &alice_s), ("status", "4xx")]),
        usage_sum(clients, of_alice, "rejected_4xx")
    );
    for (kind, field) in [("prompt", "prompt_tokens"), ("output", "output_tokens")] {
        assert_eq!(
            sum(
                &samples,
                "gempool_client_tokens_total",
                &[("client", &alice_s), ("kind", kind)]
            ),
            usage_sum(clients, of_alice, field),
            "{kind}"
        );
    }
    let alice_name = samples
        .iter()
        .find(|s| s.name == client && s.labels["client"] == alice_s)
        .map(|s| s.labels["name"].clone());
    assert_eq!(alice_name.as_deref(), Some("alice"));
    assert_eq!(
        sum(&samples, client, &[("client", &bob_id.to_string()), ("status", "4xx")]),
        1.0
    );

    // Refused before the upstream.
    let refused = "gempool_requests_refused_total";
    assert_eq!(sum(&samples, refused, &[("reason", "unauthenticated")]), 2.0);
    assert_eq!(sum(&samples, refused, &[("reason", "permission_denied")]), 1.0);

    // The host's own figures follow the component's.
    assert!(sum(&samples, "gempool_instantiate_seconds_count", &[]) >= 10.0);
    assert!(samples.iter().any(|s| s.name == "gempool_requests_in_flight"));

    // Every series the Grafana dashboard queries is one this scrape has.
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(workspace_root().join("deploy/grafana/gempool.json")).unwrap())
            .unwrap();
    let mut queried = Vec::new();
    collect_metric_names(&dashboard, &mut queried);
    assert!(queried.len() >= 10, "{queried:?}");
    for name in &queried {
        assert!(
            samples.iter().any(|s| &s.name == name),
            "the dashboard queries {name}, which /metrics does not have"
        );
    }

    // Open, when the operator says so.
    gw.admin("PATCH", "/admin/api/settings")
        .json(&json!({"metrics_public": true, "metrics_token": null}))
        .send()
        .assert_status(200);
    gw.get("/metrics").send().assert_status(200);
    gw.get("/metrics").bearer(METRICS_TOKEN).send().assert_status(200);
    gw.admin("PATCH", "/admin/api/settings")
        .json(&json!({"metrics_public": false}))
        .send()
        .assert_status(200);
    gw.get("/metrics").bearer(METRICS_TOKEN).send().assert_status(401);
}

/// Every `gempool_*` name in the `expr` fields of a dashboard.
fn collect_metric_names(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if let (true, Some(expr)) = (k == "expr", v.as_str()) {
                    for (i, _) in expr.match_indices("gempool_") {
                        let name: String = expr[i..]
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect();
                        if !out.contains(&name) {
                            out.push(name);
                        }
                    }
                } else {
                    collect_metric_names(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_metric_names(v, out)),
        _ => {}
    }
}

/// The access-log lines of a process log (text format), without the harness's health checks.
fn access_lines(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains("gempool::access") && !l.contains("route=health"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_access_log_has_one_line_per_request_without_secrets() {
    let keys = [K1, K2];
    let mock = MockGemini::with_keys(&keys);
    mock.set_behavior(K1, Behavior::RateLimitPerMinute { retry_delay_secs: 60 });
    let gw = Gateway::start(GatewayOptions::with_mock(&mock, &keys));
    let (_, alice) = new_client(&gw, json!({"name": "alice"}));
    // Two keys, K1 always 429: some request takes two attempts (round robin starts anywhere).
    for _ in 0..2 {
        gw.post(FLASH).bearer(&alice).json(&hello()).send().assert_status(200);
    }
    let chat = gw
        .post("/v1/chat/completions")
        .bearer(&alice)
        .json(&json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}))
        .send();
    chat.assert_status(200);
    assert!(
        chat.header("x-gempool-access").is_none(),
        "the guest's note is for the host only"
    );
    let request_id = chat.header("x-request-id").unwrap().to_owned();
    gw.post(&format!("{FLASH}?key={alice}"))
        .json(&hello())
        .send()
        .assert_status(200);
    gw.post(FLASH)
        .bearer("gp-wrong-key-000000000000")
        .json(&hello())
        .send()
        .assert_status(401);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let log = gw.process_log();
    let lines = access_lines(&log);
    // The admin call above, 2 + 1 + 1 proxied, 1 refused.
    assert_eq!(lines.len(), 6, "{log}");
    for secret in [K1, K2, &alice, TEST_ADMIN_KEY, "gp-wrong-key-000000000000"] {
        assert!(!log.contains(secret), "a secret in the log:\n{log}");
    }
    let chat_line = lines.iter().find(|l| l.contains(&request_id)).unwrap();
    for field in [
        "method=POST",
        "route=openai.chat",
        "protocol=openai",
        "model=gemini-2.5-flash",
        "status=200",
        "latency_ms=",
    ] {
        assert!(chat_line.contains(field), "{field} in {chat_line}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("route=gemini.generateContent") && l.contains("attempts=2")),
        "{lines:#?}"
    );
    let key_ids: Vec<String> = crate::keys_view(&gw)
        .iter()
        .map(|k| format!("key={}", k["id"]))
        .collect();
    assert!(lines.iter().any(|l| l.contains(&key_ids[1])), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("status=401") && l.contains("route=gemini.generateContent")),
        "{lines:#?}"
    );
    assert!(lines.iter().any(|l| l.contains("route=admin.api")), "{lines:#?}");
}

#[test]
fn the_access_log_is_json_with_log_format_json_and_off_with_quiet() {
    let mock = MockGemini::with_keys(&[K1]);
    let mut options = GatewayOptions::with_mock(&mock, &[K1]).open();
    options.extra_args = vec!["--log-format".into(), "json".into()];
    let gw = Gateway::start(options);
    let resp = gw.post(FLASH).json(&hello()).send();
    resp.assert_status(200);
    let request_id = resp.header("x-request-id").unwrap().to_owned();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let log = gw.process_log();
    let line: Value = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["target"] == "gempool::access" && v["request_id"] == request_id.as_str())
        .unwrap_or_else(|| panic!("no JSON access line for {request_id}:\n{log}"));
    assert_eq!(line["method"], "POST");
    assert_eq!(line["route"], "gemini.generateContent");
    assert_eq!(line["protocol"], "gemini");
    assert_eq!(line["model"], "gemini-2.5-flash");
    assert_eq!(line["status"], 200);
    assert_eq!(line["attempts"], 1);
    assert!(line["latency_ms"].is_u64(), "{line}");
    assert!(line["key"].as_str().unwrap().parse::<i64>().is_ok(), "{line}");
    assert!(!log.contains(K1));

    let mut options = GatewayOptions::with_mock(&mock, &[K1]).open();
    options.extra_args = vec!["--quiet".into()];
    let quiet = Gateway::start(options);
    quiet.post(FLASH).json(&hello()).send().assert_status(200);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(access_lines(&quiet.process_log()).is_empty(), "{}", quiet.process_log());
}
