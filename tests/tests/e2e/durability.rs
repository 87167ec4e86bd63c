//! The process is killed (SIGKILL, no chance to clean up) in the middle of a load of 2,000
//! requests from 16 clients; after a restart on the same SQLite file the keys, client keys and
//! settings are intact, `PRAGMA integrity_check` says ok, and the usage recorded is short of the
//! answers clients got by at most the requests that were in flight.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gempool_tests::harness::{Gateway, GatewayOptions};
use gempool_tests::mock::MockGemini;
use serde_json::{json, Value};

use crate::{hello, FLASH};

const CLIENTS: usize = 16;
const REQUESTS: usize = 2_000;
const THIRD_KEY: &str = "AIzaSyDURABLE-eeeeeeeeeeeeeeeeeeeeeeeeee";

/// The parts of the admin views that must survive (not counters that move under load).
fn durable_state(gw: &Gateway) -> Value {
    let keys = gw.admin("GET", "/admin/api/keys").send().json();
    let keys: Vec<Value> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| json!([k["id"], k["label"], k["enabled"], k["weight"], k["project"]]))
        .collect();
    let clients = gw.admin("GET", "/admin/api/client-keys").send().json();
    let clients: Vec<Value> = clients["client_keys"]
        .as_array()
        .or_else(|| clients.as_array())
        .unwrap_or_else(|| panic!("client keys list: {clients}"))
        .iter()
        .map(|c| json!([c["id"], c["name"], c["rpm"], c["revoked"]]))
        .collect();
    let settings = gw.admin("GET", "/admin/api/settings").send().json();
    json!({"keys": keys, "clients": clients, "settings": settings})
}

fn sum(db: &rusqlite::Connection, sql: &str) -> i64 {
    db.query_row(sql, [], |row| row.get::<_, Option<i64>>(0))
        .unwrap()
        .unwrap_or(0)
}

#[test]
fn a_kill_under_load_loses_at_most_the_requests_in_flight() {
    let mock = MockGemini::with_keys(&["k1", "k2", THIRD_KEY]);
    let gw = Gateway::start(GatewayOptions::with_mock(&mock, &["k1", "k2"]));
    gw.admin("POST", "/admin/api/keys")
        .json(&json!({"key": THIRD_KEY, "label": "third", "weight": 3}))
        .send()
        .assert_status(201);
    let created = gw
        .admin("POST", "/admin/api/client-keys")
        .json(&json!({"name": "loader", "rpm": 100000}))
        .send();
    created.assert_status(201);
    let client_key = created.json()["key"].as_str().unwrap().to_owned();
    gw.admin("PATCH", "/admin/api/settings")
        .json(&json!({"strategy": "least_used", "max_attempts": 2}))
        .send()
        .assert_success();
    let before = durable_state(&gw);

    let next = Arc::new(AtomicUsize::new(0));
    let ok = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (client, key) = (gw.client(), client_key.clone());
            let (next, ok, killed) = (Arc::clone(&next), Arc::clone(&ok), Arc::clone(&killed));
            std::thread::spawn(move || {
                while next.fetch_add(1, Ordering::SeqCst) < REQUESTS {
                    let response = client
                        .post(FLASH)
                        .bearer(&key)
                        .json(&hello())
                        .timeout(Duration::from_secs(10))
                        .try_send();
                    match response {
                        Ok(r) if r.status == 200 => {
                            ok.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(r) => assert!(killed.load(Ordering::SeqCst), "{}", r.describe("before the kill")),
                        Err(_) if killed.load(Ordering::SeqCst) => return,
                        Err(e) => panic!("request failed before the kill: {e}"),
                    }
                }
            })
        })
        .collect();

    let deadline = Instant::now() + Duration::from_secs(60);
    while ok.load(Ordering::SeqCst) < REQUESTS / 2 {
        assert!(Instant::now() < deadline, "the load is too slow");
        std::thread::sleep(Duration::from_millis(2));
    }
    killed.store(true, Ordering::SeqCst);
    let pid = gw.pid().unwrap();
    let status = Command::new("sh")
        .args(["-c", &format!("kill -KILL {pid}")])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    for client in clients {
        client.join().unwrap();
    }
    let answered = ok.load(Ordering::SeqCst) as i64;

    // The file as the crash left it.
    let db = rusqlite::Connection::open(gw.data_path()).unwrap();
    let check: String = db.query_row("PRAGMA integrity_check", [], |row| row.get(0)).unwrap();
    assert_eq!(check, "ok");
    let key_requests = sum(&db, "SELECT SUM(requests) FROM key_usage");
    let client_requests = sum(&db, "SELECT SUM(requests) FROM client_usage");
    drop(db);
    let in_flight = CLIENTS as i64;
    for (what, recorded) in [("key_usage", key_requests), ("client_usage", client_requests)] {
        assert!(
            recorded >= answered - in_flight && recorded <= answered + in_flight,
            "{what}: {recorded} requests recorded, {answered} answered 200"
        );
    }
    assert!(key_requests as u64 <= mock.request_count());

    let gw = gw.restart();
    assert_eq!(durable_state(&gw), before);
    gw.post(FLASH)
        .bearer(&client_key)
        .json(&hello())
        .send()
        .assert_status(200);
    println!("killed after {answered} answers; usage recorded: {key_requests} per key, {client_requests} per client");
}
