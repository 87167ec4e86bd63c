//! Smoke tests of the test infrastructure itself: the `gempool-mock` binary, the in-process mock
//! through the blocking client, and one gateway start.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use gempool_tests::harness::{Gateway, GatewayOptions};
use gempool_tests::http::Client;
use gempool_tests::mock::{Behavior, MockGemini};
use serde_json::json;

/// Kills the child on drop so a failing assertion does not leak the process.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        gempool_tests::best_effort(self.0.kill());
        gempool_tests::best_effort(self.0.wait());
    }
}

#[test]
fn mock_binary_prints_its_address_and_serves() {
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_gempool-mock"))
            .args(["--listen", "127.0.0.1:0", "--keys", "k1,k2", "--threads", "1"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("run gempool-mock"),
    );
    let stdout = child.0.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("mock listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    let client = Client::new(url);
    let resp = client
        .post("/v1beta/models/gemini-2.5-flash:generateContent?key=k2")
        .json(&json!({"contents": [{"parts": [{"text": "ping"}]}]}))
        .send();
    resp.assert_status(200)
        .assert_json("/candidates/0/content/parts/0/text", "echo: ping");
    client
        .get("/v1beta/models")
        .header("x-goog-api-key", "unknown")
        .send()
        .assert_status(400);
}

#[test]
fn in_process_mock_streams_incrementally() {
    let mock = MockGemini::with_keys(&["k1"]);
    mock.set_behavior("k1", Behavior::SlowStream { chunk_delay_ms: 100 });
    let mut stream = Client::new(mock.url())
        .post("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
        .header("x-goog-api-key", "k1")
        .json(&json!({"contents": [{"parts": [{"text": "a b c d"}]}]}))
        .send_stream();
    stream.assert_status(200);
    let first = stream.next_chunk(Duration::from_secs(5)).expect("a first chunk");
    let rest = stream.collect_chunks();
    let last = rest.last().expect("more chunks");
    assert!(last.at - first.at >= Duration::from_millis(300));
    assert_eq!(mock.count_for_key("k1"), 1);
}

#[test]
fn gateway_starts_and_proxies_to_the_mock() {
    let mock = MockGemini::with_keys(&["k1", "k2"]);
    let gw = Gateway::start(GatewayOptions::with_mock(&mock, &["k1", "k2"]).open());
    gw.get("/health").send().assert_status(200);
    let resp = gw
        .post("/v1beta/models/gemini-2.5-flash:generateContent")
        .json(&json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}))
        .send();
    resp.assert_status(200)
        .assert_json("/candidates/0/content/parts/0/text", "echo: hi");
    assert_eq!(mock.requests().len(), 1);
    let gw = gw.restart();
    gw.get("/health").send().assert_status(200);
}
