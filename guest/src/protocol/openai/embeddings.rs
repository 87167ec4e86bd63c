//! `/v1/embeddings` ⇄ Gemini `batchEmbedContents`, and `/v1/models` from Gemini's model list
//! (protocols.md §1.11, §1.12, §3.5).
//!
//! Gemini reports no token usage for embeddings, but OpenAI's typed SDKs require `usage`; it
//! is estimated as ⌈characters / 4⌉ per input (the usual rule of thumb for English text).
//! `encoding_format: "base64"` — what the OpenAI Python SDK asks for by default — packs each
//! vector as little-endian `f32` bytes in standard base64, which the SDK decodes.

use super::{
    OpenAiEmbedding, OpenAiEmbeddingVector, OpenAiEmbeddingsRequest, OpenAiEmbeddingsResponse, OpenAiEmbeddingsUsage,
    OpenAiModel, OpenAiModelList,
};
use crate::error::GatewayError;
use crate::protocol::gemini::{
    BatchEmbedContentsRequest, BatchEmbedContentsResponse, Content, EmbedContentRequest, ListModelsResponse, Model,
    Part,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;

/// `batchEmbedContents` takes at most this many requests; longer inputs are split in order.
pub const EMBED_BATCH_LIMIT: usize = 100;

/// The texts of `input`: a string or a list of strings. Token arrays cannot be embedded by
/// Gemini (it has no access to OpenAI's tokenizer) and are a 400.
fn input_texts(req: &OpenAiEmbeddingsRequest) -> Result<Vec<&str>, GatewayError> {
    let token_error = || {
        GatewayError::invalid_param(
            "token-array input is not supported by Gemini; send the text instead",
            "input",
        )
    };
    let texts: Vec<&str> = match &req.input {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) if items.iter().all(Value::is_string) => items.iter().filter_map(Value::as_str).collect(),
        Value::Array(items) if items.iter().all(|i| i.is_number() || i.is_array()) && !items.is_empty() => {
            return Err(token_error())
        }
        _ => {
            return Err(GatewayError::invalid_param(
                "input must be a string or an array of strings",
                "input",
            ))
        }
    };
    if texts.is_empty() {
        return Err(GatewayError::invalid_param("input must not be empty", "input"));
    }
    if let Some(i) = texts.iter().position(|t| t.is_empty()) {
        return Err(GatewayError::invalid_param(
            format!("input[{i}] is an empty string"),
            "input",
        ));
    }
    Ok(texts)
}

fn encoding_is_base64(req: &OpenAiEmbeddingsRequest) -> Result<bool, GatewayError> {
    match req.encoding_format.as_deref() {
        None | Some("float") => Ok(false),
        Some("base64") => Ok(true),
        Some(other) => Err(GatewayError::invalid_param(
            format!("encoding_format '{other}' is not one of float, base64"),
            "encoding_format",
        )),
    }
}

/// Translates an embeddings request for the Gemini model `model` (bare id, no `models/`) into
/// one or more `batchEmbedContents` bodies of at most [`EMBED_BATCH_LIMIT`] inputs each.
pub fn embeddings_request_to_gemini(
    req: &OpenAiEmbeddingsRequest,
    model: &str,
) -> Result<Vec<BatchEmbedContentsRequest>, GatewayError> {
    let texts = input_texts(req)?;
    encoding_is_base64(req)?;
    let widest = crate::protocol::gemini::MAX_EMBEDDING_DIMENSIONS;
    if req.dimensions.is_some_and(|d| !(1..=widest).contains(&d)) {
        return Err(GatewayError::invalid_param(
            format!("dimensions must be from 1 to {widest}"),
            "dimensions",
        ));
    }
    let name = format!("models/{}", model.strip_prefix("models/").unwrap_or(model));
    Ok(texts
        .chunks(EMBED_BATCH_LIMIT)
        .map(|chunk| BatchEmbedContentsRequest {
            requests: chunk
                .iter()
                .map(|text| EmbedContentRequest {
                    model: Some(name.clone()),
                    content: Content {
                        role: None,
                        parts: vec![Part::text(*text)],
                    },
                    task_type: None,
                    title: None,
                    output_dimensionality: req.dimensions,
                })
                .collect(),
        })
        .collect())
}

/// Joins the responses to the batches of [`embeddings_request_to_gemini`] (in the same order)
/// into one OpenAI response named `model`.
pub fn gemini_to_embeddings_response(
    req: &OpenAiEmbeddingsRequest,
    batches: &[BatchEmbedContentsResponse],
    model: &str,
) -> Result<OpenAiEmbeddingsResponse, GatewayError> {
    let texts = input_texts(req)?;
    let base64 = encoding_is_base64(req)?;
    let embeddings: Vec<&[f32]> = batches
        .iter()
        .flat_map(|b| b.embeddings.iter().map(|e| e.values.as_slice()))
        .collect();
    if embeddings.len() != texts.len() {
        return Err(GatewayError::Internal(format!(
            "upstream returned {} embeddings for {} inputs",
            embeddings.len(),
            texts.len()
        )));
    }
    let data = embeddings
        .into_iter()
        .enumerate()
        .map(|(i, values)| OpenAiEmbedding {
            object: "embedding".into(),
            index: i as u32,
            embedding: if base64 {
                let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                OpenAiEmbeddingVector::Base64(STANDARD.encode(bytes))
            } else {
                OpenAiEmbeddingVector::Float(values.to_vec())
            },
        })
        .collect();
    let tokens: u64 = texts.iter().map(|t| (t.chars().count() as u64).div_ceil(4)).sum();
    Ok(OpenAiEmbeddingsResponse {
        object: "list".into(),
        data,
        model: model.to_string(),
        usage: OpenAiEmbeddingsUsage {
            prompt_tokens: tokens,
            total_tokens: tokens,
        },
    })
}

/// `GET /v1/models` from one page of Gemini's model list; ids lose their `models/` prefix.
pub fn gemini_to_models_list(resp: &ListModelsResponse) -> OpenAiModelList {
    OpenAiModelList {
        object: "list".into(),
        data: resp.models.iter().map(gemini_to_model).collect(),
    }
}

/// `GET /v1/models/{id}` from a Gemini model.
pub fn gemini_to_model(model: &Model) -> OpenAiModel {
    OpenAiModel::new(model.id())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::gemini::ContentEmbedding;
    use serde_json::json;

    fn request(body: Value) -> OpenAiEmbeddingsRequest {
        serde_json::from_value(body).unwrap()
    }

    fn batch(vectors: &[&[f32]]) -> BatchEmbedContentsResponse {
        BatchEmbedContentsResponse {
            embeddings: vectors
                .iter()
                .map(|v| ContentEmbedding { values: v.to_vec() })
                .collect(),
        }
    }

    #[test]
    fn string_input_becomes_one_request_with_dimensions() {
        let req = request(json!({"model": "text-embedding-3-small", "input": "hello", "dimensions": 256}));
        let out = embeddings_request_to_gemini(&req, "gemini-embedding-001").unwrap();
        assert_eq!(
            serde_json::to_value(&out).unwrap(),
            json!([{"requests": [{"model": "models/gemini-embedding-001",
                "content": {"parts": [{"text": "hello"}]}, "outputDimensionality": 256}]}])
        );
    }

    #[test]
    fn array_input_is_batched_by_the_upstream_limit_in_order() {
        let inputs: Vec<String> = (0..250).map(|i| format!("t{i}")).collect();
        let req = request(json!({"input": inputs}));
        let out = embeddings_request_to_gemini(&req, "models/gemini-embedding-001").unwrap();
        assert_eq!(
            out.iter().map(|b| b.requests.len()).collect::<Vec<_>>(),
            vec![100, 100, 50]
        );
        assert_eq!(out[2].requests[49].content.parts[0].text.as_deref(), Some("t249"));
        assert_eq!(out[0].requests[0].model.as_deref(), Some("models/gemini-embedding-001"));
    }

    #[test]
    fn invalid_inputs_are_400s_naming_the_param() {
        let cases = [
            (json!({"input": [1, 2, 3]}), "input"),
            (json!({"input": [[1, 2], [3]]}), "input"),
            (json!({"input": []}), "input"),
            (json!({"input": ""}), "input"),
            (json!({"input": ["a", ""]}), "input"),
            (json!({"input": {"x": 1}}), "input"),
            (json!({}), "input"),
            (json!({"input": "a", "encoding_format": "int8"}), "encoding_format"),
        ];
        for (body, param) in cases {
            let err = embeddings_request_to_gemini(&request(body.clone()), "m").unwrap_err();
            let GatewayError::InvalidRequest { param: Some(p), .. } = &err else {
                panic!("{body}: {err:?}")
            };
            assert_eq!(p, param, "{body}");
        }
    }

    #[test]
    fn float_response_keeps_order_and_estimates_usage() {
        let req = request(json!({"input": ["abcde", "xy"], "encoding_format": "float"}));
        let resp = gemini_to_embeddings_response(&req, &[batch(&[&[0.5, -1.0], &[0.25, 2.0]])], "my-embed").unwrap();
        assert_eq!(
            serde_json::to_value(&resp).unwrap(),
            json!({"object": "list", "model": "my-embed",
                "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -1.0]},
                         {"object": "embedding", "index": 1, "embedding": [0.25, 2.0]}],
                "usage": {"prompt_tokens": 3, "total_tokens": 3}})
        );
    }

    #[test]
    fn base64_response_packs_little_endian_f32() {
        let req = request(json!({"input": "a", "encoding_format": "base64"}));
        let resp = gemini_to_embeddings_response(&req, &[batch(&[&[1.0, -2.5]])], "m").unwrap();
        let OpenAiEmbeddingVector::Base64(b64) = &resp.data[0].embedding else {
            panic!()
        };
        let bytes = STANDARD.decode(b64).unwrap();
        let floats: Vec<f32> = bytes
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(floats, vec![1.0, -2.5]);
    }

    #[test]
    fn responses_of_several_batches_are_joined() {
        let inputs: Vec<String> = (0..101).map(|i| i.to_string()).collect();
        let req = request(json!({"input": inputs}));
        let first: Vec<Vec<f32>> = (0..100).map(|i| vec![i as f32]).collect();
        let first: Vec<&[f32]> = first.iter().map(Vec::as_slice).collect();
        let resp = gemini_to_embeddings_response(&req, &[batch(&first), batch(&[&[100.0]])], "m").unwrap();
        assert_eq!(resp.data.len(), 101);
        assert_eq!(resp.data[100].index, 100);
        assert_eq!(resp.data[100].embedding, OpenAiEmbeddingVector::Float(vec![100.0]));
    }

    #[test]
    fn count_mismatch_is_an_internal_error() {
        let req = request(json!({"input": ["a", "b"]}));
        assert!(matches!(
            gemini_to_embeddings_response(&req, &[batch(&[&[1.0]])], "m"),
            Err(GatewayError::Internal(_))
        ));
    }

    #[test]
    fn models_lose_their_prefix() {
        let list: ListModelsResponse = serde_json::from_value(json!({"models": [
            {"name": "models/gemini-2.5-flash", "displayName": "Gemini 2.5 Flash"},
            {"name": "models/gemini-embedding-001"}], "nextPageToken": "x"}))
        .unwrap();
        assert_eq!(
            serde_json::to_value(gemini_to_models_list(&list)).unwrap(),
            json!({"object": "list", "data": [
                {"id": "gemini-2.5-flash", "object": "model", "created": 0, "owned_by": "google"},
                {"id": "gemini-embedding-001", "object": "model", "created": 0, "owned_by": "google"}]})
        );
        assert_eq!(gemini_to_model(&list.models[0]).id, "gemini-2.5-flash");
    }
}
