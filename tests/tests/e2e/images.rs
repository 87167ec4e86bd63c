use crate::setup;
use base64::Engine;
use gempool_tests::mock::images::png_size;
use serde_json::json;

#[test]
fn native_predict_goes_through_the_pool_as_sent() {
    let (mock, gw) = setup(&["k1", "k2"]);
    let path = "/v1beta/models/imagen-4.0-generate-001:predict";
    let body = json!({"instances": [{"prompt": "a red fox"}], "parameters": {"sampleCount": 2, "aspectRatio": "16:9"}});
    let answer = gw.post(path).json(&body).send();
    answer.assert_status(200);
    let predictions = answer.json()["predictions"].as_array().cloned().unwrap_or_default();
    assert_eq!(predictions.len(), 2, "{}", answer.text());
    let png = base64::engine::general_purpose::STANDARD
        .decode(predictions[0]["bytesBase64Encoded"].as_str().unwrap())
        .unwrap();
    assert_eq!(png_size(&png), Some((16, 9)));
    let sent = mock.last_request().unwrap();
    assert_eq!(sent.json(), body, "the body goes upstream as sent");
    // A malformed body is Google's 400, in Gemini's shape, and no key is blamed.
    let bad = gw
        .post(path)
        .json(&json!({"instances": [{"prompt": "x"}], "parameters": {"n": 2}}))
        .send();
    bad.assert_status(400);
    assert_eq!(bad.json()["error"]["status"], "INVALID_ARGUMENT");
    assert!(gw.key_health().iter().all(|k| k.is_pristine()));
}

#[test]
fn openai_images_map_n_and_size_and_refuse_urls() {
    let (mock, gw) = setup(&["k1"]);
    let answer = gw
        .post("/v1/images/generations")
        .json(&json!({"model": "imagen-4.0-generate-001", "prompt": "a red fox", "n": 6, "size": "1024x1792"}))
        .send();
    answer.assert_status(200);
    let data = answer.json()["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(data.len(), 6, "{}", answer.text());
    let counts: Vec<serde_json::Value> = mock
        .requests()
        .iter()
        .map(|r| r.json()["parameters"]["sampleCount"].clone())
        .collect();
    assert_eq!(counts, [json!(4), json!(2)]);
    assert_eq!(mock.last_request().unwrap().json()["parameters"]["aspectRatio"], "9:16");
    let url = gw
        .post("/v1/images/generations")
        .json(&json!({"model": "gemini-2.5-flash-image", "prompt": "a cat", "response_format": "url"}))
        .send();
    url.assert_status(400);
    assert_eq!(url.json()["error"]["param"], "response_format");
    let blocked = gw
        .post("/v1/images/generations")
        .json(&json!({"model": "imagen-4.0-generate-001", "prompt": "block-me please"}))
        .send();
    blocked.assert_status(400);
    assert_eq!(blocked.json()["error"]["type"], "invalid_request_error");
    assert_eq!(mock.requests().len(), 3, "the url request never went upstream");
}
