use crate::{hello, keys_view, setup, FLASH};
use gempool_tests::mock::Behavior;
use serde_json::json;

const SECRET_A: &str = "AIzaSyTESTKEY-aaaaaaaaaaaaaaaaaaaaaaaaaaaa";

#[test]
fn keys_can_be_added_listed_redacted_and_deduplicated() {
    let (_mock, gw) = setup(&["k1"]);
    let added = gw
        .admin("POST", "/admin/api/keys")
        .json(&json!({"key": SECRET_A, "label": "main"}))
        .send();
    added.assert_status(201);
    assert_eq!(added.json()["added"], 1);
    let many = gw.admin("POST", "/admin/api/keys").json(&json!({"keys": [SECRET_A, "AIzaSyTESTKEY-bbbbbbbbbbbbbbbbbbbbbbbbbbbb", "AIzaSyTESTKEY-cccccccccccccccccccccccccccc"]})).send();
    many.assert_status(201);
    assert_eq!(many.json()["added"], 2);
    assert_eq!(many.json()["duplicates"], 1);
    let list = gw.admin("GET", "/admin/api/keys").send();
    list.assert_status(200);
    assert_eq!(list.json()["keys"].as_array().unwrap().len(), 4);
    assert!(!list.text().contains(SECRET_A), "secrets never appear in the admin API");
    assert!(!list.text().contains("k1\""), "not even short ones");
    let a = &list.json()["keys"][1];
    assert_eq!(a["redacted"], "AIza…aaaa");
    assert_eq!(a["label"], "main");
    gw.admin("POST", "/admin/api/keys")
        .json(&json!({}))
        .send()
        .assert_status(400);
}

#[test]
fn keys_can_be_disabled_enabled_and_deleted() {
    let (mock, gw) = setup(&["k1", "k2"]);
    let id = keys_view(&gw)[0]["id"].as_i64().unwrap();
    gw.admin("POST", &format!("/admin/api/keys/{id}/disable"))
        .json(&json!({"reason": "rotating"}))
        .send()
        .assert_status(200);
    let k = &keys_view(&gw)[0];
    assert_eq!(
        (k["enabled"].clone(), k["disabled_reason"].clone()),
        (json!(false), json!("rotating"))
    );
    for _ in 0..3 {
        gw.post(FLASH).json(&hello()).send().assert_status(200);
    }
    assert_eq!(mock.count_for_key("k1"), 0, "a disabled key is not used");
    gw.admin("POST", &format!("/admin/api/keys/{id}/enable"))
        .send()
        .assert_status(200);
    for _ in 0..4 {
        gw.post(FLASH).json(&hello()).send().assert_status(200);
    }
    assert!(mock.count_for_key("k1") >= 1, "re-enabled keys are used again");
    gw.admin("DELETE", &format!("/admin/api/keys/{id}"))
        .send()
        .assert_status(200);
    assert_eq!(keys_view(&gw).len(), 1);
    gw.admin("DELETE", &format!("/admin/api/keys/{id}"))
        .send()
        .assert_status(404);
    gw.admin("POST", "/admin/api/keys/abc/enable").send().assert_status(400);
}

#[test]
fn a_cooldown_can_be_reset_by_the_admin() {
    let (mock, gw) = setup(&["k1"]);
    mock.push_script("k1", vec![Behavior::RateLimitPerMinute { retry_delay_secs: 50 }]);
    gw.post(FLASH).json(&hello()).send().assert_status(429);
    let id = keys_view(&gw)[0]["id"].as_i64().unwrap();
    gw.admin("POST", &format!("/admin/api/keys/{id}/reset"))
        .send()
        .assert_status(200);
    gw.post(FLASH).json(&hello()).send().assert_status(200);
}

#[test]
fn client_keys_are_listed_without_their_secret() {
    let (_mock, gw) = setup(&["k1"]);
    let created = gw
        .admin("POST", "/admin/api/client-keys")
        .json(&json!({"name": "carol", "rpm": 10}))
        .send();
    created.assert_status(201);
    let secret = created.json()["key"].as_str().unwrap().to_owned();
    let list = gw.admin("GET", "/admin/api/client-keys").send();
    list.assert_status(200);
    assert!(!list.text().contains(&secret));
    let entry = &list.json()["client_keys"][0];
    assert_eq!(entry["name"], "carol");
    assert_eq!(entry["rpm"], 10);
    assert!(entry["hint"].as_str().unwrap().starts_with("gp-"));
}

#[test]
fn settings_can_be_read_and_changed() {
    let (_mock, gw) = setup(&["k1"]);
    let s = gw.admin("GET", "/admin/api/settings").send();
    s.assert_status(200);
    assert_eq!(s.json()["settings"]["strategy"], "round_robin");
    assert_eq!(s.json()["settings"]["max_attempts"], 3);
    let changed = gw
        .admin("PATCH", "/admin/api/settings")
        .json(&json!({"strategy": "least_used", "max_attempts": 2}))
        .send();
    changed.assert_status(200);
    assert_eq!(changed.json()["settings"]["strategy"], "least_used");
    let again = gw.admin("GET", "/admin/api/settings").send();
    assert_eq!(again.json()["settings"]["max_attempts"], 2);
    let bad = gw
        .admin("PATCH", "/admin/api/settings")
        .json(&json!({"strategy": "psychic"}))
        .send();
    bad.assert_status(400);
}

#[test]
fn unknown_admin_routes_and_methods_are_errors() {
    let (_mock, gw) = setup(&["k1"]);
    gw.admin("GET", "/admin/api/nothing").send().assert_status(404);
    gw.admin("PUT", "/admin/api/keys").send().assert_status(405);
    gw.admin("POST", "/admin/api/keys")
        .body("{not json")
        .send()
        .assert_status(400);
}

#[test]
fn the_request_log_shows_recent_requests() {
    let (_mock, gw) = setup(&["k1"]);
    gw.post(FLASH).json(&hello()).send().assert_status(200);
    let log = gw.admin("GET", "/admin/api/requests?limit=5").send();
    log.assert_status(200);
    let entry = &log.json()["requests"][0];
    assert_eq!(entry["status"], 200);
    assert_eq!(entry["model"], "gemini-2.5-flash");
    assert_eq!(entry["protocol"], "gemini");
}

#[test]
fn the_admin_page_is_served() {
    let (_mock, gw) = setup(&["k1"]);
    let page = gw.get("/admin/").send();
    page.assert_status(200);
    assert!(page.header("content-type").unwrap().starts_with("text/html"));
    assert!(page.text().contains("gempool"));
    // The component carries the page gzipped: sent as is to a client that accepts gzip,
    // unpacked for one that does not (as above).
    assert_eq!(page.header("content-encoding"), None);
    assert_eq!(page.header("vary"), Some("accept-encoding"));
    let gzipped = gw.get("/admin/").header("accept-encoding", "gzip, deflate, br").send();
    gzipped.assert_status(200);
    assert_eq!(gzipped.header("content-encoding"), Some("gzip"));
    assert!(gzipped.body.starts_with(&[0x1f, 0x8b]), "a gzip stream");
    assert!(gzipped.body.len() * 2 < page.body.len(), "smaller than the page");
    assert_eq!(
        gzipped.header("content-security-policy"),
        page.header("content-security-policy")
    );
    let refused = gw.get("/admin/").header("accept-encoding", "gzip;q=0, identity").send();
    assert_eq!(refused.header("content-encoding"), None);
    assert_eq!(refused.body, page.body);
}
