use crate::{hello, keys_view, setup, FLASH};
use serde_json::json;

#[test]
fn keys_client_keys_and_usage_survive_a_restart() {
    let (mock, gw) = setup(&["k1", "k2"]);
    gw.admin("POST", "/admin/api/keys")
        .json(&json!({"key": "AIzaSyRESTART-dddddddddddddddddddddddddd", "label": "later"}))
        .send()
        .assert_status(201);
    let created = gw
        .admin("POST", "/admin/api/client-keys")
        .json(&json!({"name": "dora"}))
        .send();
    let client_key = created.json()["key"].as_str().unwrap().to_owned();
    gw.post(FLASH).json(&hello()).send().assert_status(200);
    let usage_before = gw.admin("GET", "/admin/api/usage").send().json();

    let gw = gw.restart_with(|o| o.open = false);
    assert_eq!(
        keys_view(&gw).len(),
        3,
        "keys persist and --keys does not duplicate them"
    );
    assert_eq!(gw.admin("GET", "/admin/api/usage").send().json(), usage_before);
    gw.post(FLASH)
        .bearer(&client_key)
        .json(&hello())
        .send()
        .assert_status(200);
    assert!(mock.request_count() >= 2);
}
