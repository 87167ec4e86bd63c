//! The pipeline end to end, natively: in-memory SQLite (or one whose writes fail on demand)
//! and a scripted upstream.

use super::*;
use crate::store::failures::{self, testing::FailingDb};
use crate::store::{keys, testing::MemoryDb};
use crate::upstream::testing::{FakeUpstream, NOW};

const KEY: &str = "AIzaSyPoolKeyForHandlerTests0000000001";
const GEMINI_OK: &str = r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"hello"}]},"finishReason":"STOP"}],
    "usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1,"totalTokenCount":4}}"#;

fn config(open_access: bool) -> Config {
    Config {
        upstream_url: "http://upstream.invalid".into(),
        admin_key: Some("admin-key-for-handler-tests".into()),
        open_access,
        sql_ticket_function: false,
    }
}

/// What a test reads of a reply.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// Runs one request through routing and [`handle`], as the component does.
fn run<D: Database>(
    up: &FakeUpstream,
    db: &D,
    config: &Config,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let head = RequestHead {
        method: method.into(),
        path: path.into(),
        query: query.into(),
        headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
    };
    let env = Env {
        upstream: up,
        db,
        config,
        random: [7; 32],
        now_ms: NOW,
        logged: Default::default(),
        access: Default::default(),
        writes: Default::default(),
    };
    let (protocol, route) = prepare(&head);
    let (settings, stored) = load_settings(db).unwrap();
    let reply = match route {
        Ok(route) => futures::executor::block_on(handle(
            &env,
            &head,
            route,
            protocol,
            body.as_bytes().to_vec(),
            &settings,
            &stored,
        )),
        Err(e) => refuse(&env, &head, protocol, &e),
    };
    match reply {
        Reply::Full { status, headers, body } => Answer {
            status,
            headers,
            body: String::from_utf8(body).unwrap(),
        },
        Reply::Stream { .. } => panic!("a stream"),
    }
}

const CHAT: &str = r#"{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"hi"}]}"#;

#[test]
fn a_failed_bookkeeping_write_is_counted_and_shown_in_metrics() {
    let db = FailingDb::new(&["INSERT INTO request_log"]);
    keys::add(&db, KEY, None, None, None, NOW).unwrap();
    let up = FakeUpstream::default().answer(KEY, vec![Ok((200, GEMINI_OK))]);
    let answer = run(&up, &db, &config(true), "POST", "/v1/chat/completions", &[], CHAT);
    // The client's answer does not depend on the bookkeeping.
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["choices"][0]["message"]["content"], "hello");
    assert!(answer
        .headers
        .iter()
        .any(|(n, v)| n == "request-id" && v.starts_with("req_")));
    assert_eq!(failures::totals(&db).unwrap(), vec![("request_log".to_owned(), 1)]);
    // A refusal's log row fails the same way.
    let refused = run(&up, &db, &config(false), "POST", "/v1/chat/completions", &[], CHAT);
    assert_eq!(refused.status, 401);
    assert_eq!(failures::totals(&db).unwrap(), vec![("request_log".to_owned(), 2)]);
    let metrics = crate::metrics::render(&crate::store::metrics::snapshot(&db, NOW).unwrap(), NOW);
    assert!(
        metrics.contains("gempool_store_write_failures_total{op=\"request_log\"} 2"),
        "{metrics}"
    );
}

#[test]
fn nothing_is_counted_when_every_write_succeeds() {
    let db = MemoryDb::new();
    keys::add(&db, KEY, None, None, None, NOW).unwrap();
    let up = FakeUpstream::default().answer(KEY, vec![Ok((200, GEMINI_OK))]);
    let answer = run(&up, &db, &config(true), "POST", "/v1/chat/completions", &[], CHAT);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(failures::totals(&db).unwrap().is_empty());
}
