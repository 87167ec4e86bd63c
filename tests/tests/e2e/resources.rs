//! Files, caches and batches stay on the key that created them, whatever the strategy; when
//! that key cannot be used the client is told so and no other key is tried.

use crate::{keys_view, setup, FLASH};
use gempool_tests::harness::Gateway;
use gempool_tests::mock::MockGemini;
use serde_json::{json, Value};

/// Uploads `bytes` with the resumable protocol, as the google-genai SDKs do; the file's JSON.
fn upload(gw: &Gateway, bytes: &[u8]) -> Value {
    let start = gw
        .post("/upload/v1beta/files")
        .header("x-goog-upload-protocol", "resumable")
        .header("x-goog-upload-command", "start")
        .header("x-goog-upload-header-content-length", &bytes.len().to_string())
        .header("x-goog-upload-header-content-type", "application/pdf")
        .json(&json!({"file": {"displayName": "report"}}))
        .send();
    start.assert_status(200);
    let session = start.header("x-goog-upload-url").expect("a session URL").to_owned();
    assert!(
        session.starts_with(&format!("{}/upload/v1beta/files?upload_id=", gw.url())),
        "the session URL points at gempool, not at the upstream: {session}"
    );
    assert!(
        !session.contains("upload-0"),
        "Google's own session id stays inside: {session}"
    );
    let path = &session[gw.url().len()..];
    let done = gw
        .post(path)
        .header("x-goog-upload-command", "upload, finalize")
        .header("x-goog-upload-offset", "0")
        .body(bytes.to_vec())
        .send();
    done.assert_status(200);
    assert_eq!(done.header("x-goog-upload-status"), Some("final"));
    done.json()["file"].clone()
}

fn with_file(uri: &str, text: &str) -> Value {
    json!({"contents": [{"role": "user", "parts": [
        {"fileData": {"mimeType": "application/pdf", "fileUri": uri}},
        {"text": text},
    ]}]})
}

/// Polls the long-running job `name` (a batch or an operation) up to four times, running
/// `between` before each poll, until it is done; its last state.
fn polled(gw: &Gateway, name: &str, between: impl Fn()) -> Value {
    let mut job = Value::Null;
    for _ in 0..4 {
        between();
        job = gw.get(&format!("/v1beta/{name}")).send().json();
        if job["done"] == true {
            break;
        }
    }
    job
}

/// The pool key the mock saw a request naming `needle` on, for every such request.
fn keys_naming(mock: &MockGemini, needle: &str) -> Vec<String> {
    mock.requests()
        .iter()
        .filter(|r| {
            String::from_utf8_lossy(&r.body).contains(needle) || r.path.contains(needle) || r.query.contains(needle)
        })
        .filter_map(|r| r.key.clone())
        .collect()
}

#[test]
fn a_file_is_used_on_the_key_that_uploaded_it_while_the_strategy_rotates() {
    let (mock, gw) = setup(&["k1", "k2", "k3"]);
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let file = upload(&gw, &bytes);
    let name = file["name"].as_str().unwrap().to_owned();
    assert_eq!(file["sizeBytes"], bytes.len().to_string());
    let holder = mock
        .requests()
        .iter()
        .find(|r| r.path == "/upload/v1beta/files" && r.query.contains("upload_id"))
        .and_then(|r| r.key.clone())
        .unwrap();
    let uri = file["uri"].as_str().unwrap();
    for i in 0..6 {
        let resp = gw.post(FLASH).json(&with_file(uri, &format!("summarize {i}"))).send();
        resp.assert_status(200);
        assert_eq!(
            resp.json_at("/candidates/0/content/parts/0/text"),
            format!("echo: summarize {i}")
        );
        // Requests without the file keep rotating.
        gw.post(FLASH)
            .json(&json!({"contents": [{"role": "user", "parts": [{"text": "plain"}]}]}))
            .send()
            .assert_status(200);
    }
    let id = name.trim_start_matches("files/");
    let keys = keys_naming(&mock, id);
    assert_eq!(keys.len(), 6, "{keys:?}");
    assert!(
        keys.iter().all(|k| *k == holder),
        "every call naming {name} went to {holder}: {keys:?}"
    );
    let others: Vec<_> = ["k1", "k2", "k3"].iter().filter(|k| **k != holder).collect();
    assert!(
        others.iter().all(|k| mock.count_for_key(k) >= 1),
        "the other requests rotated"
    );
    // get, list, delete: the holder answers; afterwards the name is gone.
    gw.get(&format!("/v1beta/{name}"))
        .send()
        .assert_status(200)
        .assert_json("/name", name.clone());
    let list = gw.get("/v1beta/files").send();
    list.assert_status(200);
    assert_eq!(list.json()["files"][0]["name"], name);
    gw.request("DELETE", &format!("/v1beta/{name}"))
        .send()
        .assert_status(200);
    assert_eq!(mock.resource_count(&holder, "files"), 0);
    let gone = gw.get(&format!("/v1beta/{name}")).send();
    gone.assert_status(404);
    assert_eq!(gone.json()["error"]["status"], "NOT_FOUND");
    assert!(
        mock.requests().iter().all(|r| r.status == Some(200)),
        "no request went to a key that cannot see the file"
    );
}

#[test]
fn a_disabled_holder_is_a_clear_error_and_no_other_key_is_tried() {
    let (mock, gw) = setup(&["k1", "k2"]);
    let file = upload(&gw, b"%PDF-1.4 tiny");
    let uri = file["uri"].as_str().unwrap().to_owned();
    let holder = keys_naming(&mock, "upload_id")[0].clone();
    // Keys are listed in the order they were added: k1, k2.
    let id = keys_view(&gw)[if holder == "k1" { 0 } else { 1 }]["id"]
        .as_i64()
        .unwrap();
    gw.admin("POST", &format!("/admin/api/keys/{id}/disable"))
        .send()
        .assert_success();
    let before = mock.requests().len();
    let resp = gw.post(FLASH).json(&with_file(&uri, "again")).send();
    resp.assert_status(503);
    let message = resp.json()["error"]["message"].as_str().unwrap_or_default().to_owned();
    assert!(
        message.contains(file["name"].as_str().unwrap()) && message.contains("disabled"),
        "{message}"
    );
    assert_eq!(resp.json()["error"]["status"], "UNAVAILABLE");
    assert_eq!(mock.requests().len(), before, "no key was tried");
    // The other key still serves requests without the file.
    gw.post(FLASH)
        .json(&json!({"contents": [{"role": "user", "parts": [{"text": "plain"}]}]}))
        .send()
        .assert_status(200);
    // Enabled again, the file works again.
    gw.admin("POST", &format!("/admin/api/keys/{id}/enable"))
        .send()
        .assert_success();
    gw.post(FLASH).json(&with_file(&uri, "back")).send().assert_status(200);
}

#[test]
fn caches_and_batches_stay_on_their_key() {
    let (mock, gw) = setup(&["k1", "k2"]);
    let cache = gw
        .post("/v1beta/cachedContents")
        .json(&json!({"model": "models/gemini-2.5-flash", "systemInstruction": {"parts": [{"text": "Be terse."}]}, "ttl": "300s"}))
        .send();
    cache.assert_status(200);
    let cache_name = cache.json()["name"].as_str().unwrap().to_owned();
    for i in 0..4 {
        gw.post(FLASH)
            .json(&json!({"contents": [{"role": "user", "parts": [{"text": format!("q{i}")}]}], "cachedContent": cache_name}))
            .send()
            .assert_status(200);
    }
    let keys = keys_naming(&mock, &cache_name);
    assert!(keys.windows(2).all(|w| w[0] == w[1]), "{keys:?}");
    gw.request("PATCH", &format!("/v1beta/{cache_name}"))
        .json(&json!({"ttl": "600s"}))
        .send()
        .assert_status(200);
    let batch = gw
        .post("/v1beta/models/gemini-2.5-flash:batchGenerateContent")
        .json(
            &json!({"batch": {"displayName": "b", "inputConfig": {"requests": {"requests": [
                {"request": {"contents": [{"role": "user", "parts": [{"text": "first"}]}]}, "metadata": {"key": "1"}}
            ]}}}}),
        )
        .send();
    batch.assert_status(200);
    let batch_name = batch.json()["name"].as_str().unwrap().to_owned();
    let done = polled(&gw, &batch_name, || {});
    assert_eq!(done["metadata"]["state"], "BATCH_STATE_SUCCEEDED", "{done}");
    let keys = keys_naming(&mock, batch_name.trim_start_matches("batches/"));
    assert!(keys.windows(2).all(|w| w[0] == w[1]), "{keys:?}");
    assert!(mock.requests().iter().all(|r| r.status == Some(200)));
    // Unknown and malformed names never reach the upstream.
    let before = mock.requests().len();
    gw.get("/v1beta/batches/nope").send().assert_status(404);
    gw.post("/upload/v1beta/files?upload_id=0123456789abcdef&upload_protocol=resumable")
        .header("x-goog-upload-command", "upload, finalize")
        .header("x-goog-upload-offset", "0")
        .body(b"guess".to_vec())
        .send()
        .assert_status(404);
    gw.get("/v1beta/files/a%2F..%2Fb").send().assert_status(404);
    assert_eq!(mock.requests().len(), before);
}

#[test]
fn a_client_sees_only_its_own_files() {
    let mock = MockGemini::with_keys(&["k1", "k2"]);
    let gw = Gateway::start(gempool_tests::harness::GatewayOptions::with_mock(&mock, &["k1", "k2"]));
    let mint = |name: &str| {
        let resp = gw
            .admin("POST", "/admin/api/client-keys")
            .json(&json!({"name": name}))
            .send();
        resp.assert_status(201);
        resp.json()["key"].as_str().unwrap().to_owned()
    };
    let (alice, bob) = (mint("alice"), mint("bob"));
    let start = gw
        .post("/upload/v1beta/files?uploadType=multipart")
        .header("x-goog-api-key", &alice)
        .header("content-type", "multipart/related; boundary=XX")
        .body(
            "--XX\r\ncontent-type: application/json\r\n\r\n{\"file\": {\"mimeType\": \"text/plain\"}}\r\n--XX\r\ncontent-type: text/plain\r\n\r\nhello\r\n--XX--\r\n",
        )
        .send();
    start.assert_status(200);
    let name = start.json()["file"]["name"].as_str().unwrap().to_owned();
    assert_eq!(start.json()["file"]["sizeBytes"], "5");
    gw.get(&format!("/v1beta/{name}"))
        .header("x-goog-api-key", &alice)
        .send()
        .assert_status(200);
    let refused = gw.get(&format!("/v1beta/{name}")).header("x-goog-api-key", &bob).send();
    refused.assert_status(403);
    assert_eq!(refused.json()["error"]["status"], "PERMISSION_DENIED");
    let list = gw.get("/v1beta/files").header("x-goog-api-key", &bob).send();
    list.assert_status(200);
    assert_eq!(list.json(), json!({}));
    let used = gw
        .post(FLASH)
        .header("x-goog-api-key", &bob)
        .json(&with_file(
            &format!("files/{}", name.trim_start_matches("files/")),
            "steal",
        ))
        .send();
    used.assert_status(403);
}

#[test]
fn an_embedding_batch_is_polled_on_its_key_and_answers_every_request() {
    let (mock, gw) = setup(&["k1", "k2", "k3"]);
    let texts = ["the first text", "a second one", "and a third"];
    let requests: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            json!({"request": {"content": {"parts": [{"text": text}]}, "outputDimensionality": 16},
                   "metadata": {"key": i.to_string()}})
        })
        .collect();
    let started = gw
        .post("/v1beta/models/gemini-embedding-001:asyncBatchEmbedContent")
        .json(&json!({"batch": {"displayName": "vectors", "inputConfig": {"requests": {"requests": requests}}}}))
        .send();
    started.assert_status(200);
    let name = started.json()["name"].as_str().unwrap().to_owned();
    assert!(name.starts_with("batches/"), "{name}");
    // Other requests rotate over the pool meanwhile; the batch is polled on its own key.
    let batch = polled(&gw, &name, || {
        gw.post(FLASH).json(&crate::hello()).send().assert_status(200);
    });
    assert_eq!(batch["metadata"]["state"], "BATCH_STATE_SUCCEEDED", "{batch}");
    let answers = batch["response"]["inlinedEmbedContentResponses"]["inlinedResponses"]
        .as_array()
        .unwrap_or_else(|| panic!("inlined answers: {batch}"));
    assert_eq!(answers.len(), texts.len(), "{batch}");
    for (i, answer) in answers.iter().enumerate() {
        assert_eq!(answer["metadata"]["key"], i.to_string(), "{answer}");
        let values = answer["response"]["embedding"]["values"].as_array().unwrap();
        assert_eq!(values.len(), 16, "{answer}");
    }
    let keys = keys_naming(&mock, name.trim_start_matches("batches/"));
    assert!(keys.len() >= 2 && keys.windows(2).all(|w| w[0] == w[1]), "{keys:?}");
    // The gateway lists it with the caller's other batches, and it is gone once deleted.
    let listed = gw.get("/v1beta/batches").send().json();
    assert!(listed.to_string().contains(&name), "{listed}");
    gw.request("DELETE", &format!("/v1beta/{name}"))
        .send()
        .assert_status(200);
    gw.get(&format!("/v1beta/{name}")).send().assert_status(404);
    // A model that does not embed is the upstream's 404, passed on as it is.
    let wrong = gw
        .post("/v1beta/models/gemini-2.5-flash:asyncBatchEmbedContent")
        .json(&json!({"batch": {"inputConfig": {"requests": {"requests": [
            {"request": {"content": {"parts": [{"text": "x"}]}}}
        ]}}}}))
        .send();
    wrong.assert_status(404);
    assert!(wrong.text().contains("asyncBatchEmbedContent"), "{}", wrong.text());
}

#[test]
fn a_video_operation_is_polled_and_its_file_downloaded_on_the_same_key() {
    let (mock, gw) = setup(&["k1", "k2", "k3"]);
    let started = gw
        .post("/v1beta/models/veo-3.0-generate-001:predictLongRunning")
        .json(&json!({"instances": [{"prompt": "a cat on a piano"}]}))
        .send();
    started.assert_status(200);
    let name = started.json()["name"].as_str().unwrap().to_owned();
    assert!(name.starts_with("models/veo-3.0-generate-001/operations/"), "{name}");
    let operation = polled(&gw, &name, || {});
    let uri = operation["response"]["generateVideoResponse"]["generatedSamples"][0]["video"]["uri"]
        .as_str()
        .unwrap_or_else(|| panic!("a finished video: {operation}"))
        .to_owned();
    let file = uri
        .split("files/")
        .nth(1)
        .unwrap()
        .split(':')
        .next()
        .unwrap()
        .to_owned();
    let video = gw.get(&format!("/v1beta/files/{file}:download?alt=media")).send();
    video.assert_status(200);
    assert_eq!(video.header("content-type"), Some("video/mp4"));
    let keys = keys_naming(&mock, name.rsplit('/').next().unwrap());
    let file_keys = keys_naming(&mock, &file);
    assert!(keys.len() >= 2 && keys.windows(2).all(|w| w[0] == w[1]), "{keys:?}");
    assert_eq!(
        file_keys,
        [keys[0].clone()],
        "the generated file is fetched from the key that made it"
    );
    assert!(mock.requests().iter().all(|r| r.status == Some(200)));
}

/// OpenAI `file` parts and Anthropic `document` blocks naming a file uploaded through gempool
/// resolve to its `fileData` and go to the key holding it.
#[test]
fn openai_and_anthropic_clients_use_an_uploaded_file_on_its_key() {
    let (mock, gw) = setup(&["k1", "k2", "k3"]);
    let file = upload(&gw, b"%PDF-1.4 a small report");
    let name = file["name"].as_str().unwrap().to_owned();
    let holder = keys_naming(&mock, "upload_id")[0].clone();
    for i in 0..3 {
        let chat = gw
            .post("/v1/chat/completions")
            .json(
                &json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": [
                    {"type": "file", "file": {"file_id": name, "filename": "report.pdf"}},
                    {"type": "text", "text": format!("summarize {i}")}
                ]}]}),
            )
            .send();
        chat.assert_status(200);
        assert_eq!(
            chat.json_at("/choices/0/message/content"),
            format!("echo: summarize {i}")
        );
        let message = gw
            .post("/v1/messages")
            .header("anthropic-version", "2023-06-01")
            .json(
                &json!({"model": "gemini-2.5-flash", "max_tokens": 100, "messages": [{"role": "user", "content": [
                    {"type": "document", "source": {"type": "file", "file_id": name}},
                    {"type": "text", "text": format!("again {i}")}
                ]}]}),
            )
            .send();
        message.assert_status(200);
        assert_eq!(message.json_at("/content/0/text"), format!("echo: again {i}"));
    }
    let keys = keys_naming(&mock, name.trim_start_matches("files/"));
    assert_eq!(keys.len(), 6, "{keys:?}");
    assert!(
        keys.iter().all(|k| *k == holder),
        "every call naming {name} went to {holder}: {keys:?}"
    );
    assert!(mock.requests().iter().all(|r| r.status == Some(200)));
}
