//! Gemini -> Anthropic for whole responses, count_tokens and the model list (errors are
//! `crate::error`'s).

use serde_json::json;

use super::super::gemini::events::{events, Event, Signed};
use super::super::gemini::{CountTokensResponse, GenerateContentResponse, ListModelsResponse, Model};
use super::super::RequestContext;
use super::{
    id_token, stop_reason, thinking_signature, tool_use_id, usage, AnthropicContentBlock, AnthropicCountTokensResponse,
    AnthropicMessagesResponse, AnthropicModelInfo, AnthropicModelList, AnthropicStopReason, MODEL_CREATED_AT,
    UNSIGNED_THINKING_SIGNATURE,
};

/// Translates a whole `generateContent` response. `model` is echoed as the response's model
/// (the name the client asked for). Only the first candidate is used.
pub fn gemini_to_messages_response(
    resp: &GenerateContentResponse,
    model: &str,
    ctx: &RequestContext,
) -> AnthropicMessagesResponse {
    let token = id_token(&ctx.request_id);
    let candidate = resp
        .candidates
        .iter()
        .find(|c| c.index == 0)
        .or(resp.candidates.first());
    let chosen = candidate.map(|c| c.index);
    let mut content: Vec<AnthropicContentBlock> = Vec::new();
    let mut calls = 0;
    for event in events(resp).filter(|e| e.candidate().is_some() && e.candidate() == chosen) {
        push_event(&mut content, &event, &token, &mut calls);
    }
    // Anthropic clients expect every thinking block to be signed.
    for block in &mut content {
        if let AnthropicContentBlock::Thinking { signature, .. } = block {
            if signature.is_empty() {
                *signature = UNSIGNED_THINKING_SIGNATURE.to_string();
            }
        }
    }
    let blocked = candidate.is_none() && resp.prompt_feedback.as_ref().is_some_and(|f| f.block_reason.is_some());
    let stop = if blocked {
        // The prompt itself was blocked: HTTP 200, no candidates (§1.8).
        AnthropicStopReason::Refusal
    } else {
        stop_reason(candidate.and_then(|c| c.finish_reason.as_ref()), calls > 0)
    };
    AnthropicMessagesResponse {
        id: format!("msg_{}", ctx.request_id),
        kind: "message".into(),
        role: "assistant".into(),
        model: model.to_string(),
        content,
        stop_reason: Some(stop),
        stop_sequence: None,
        usage: usage(resp.usage_metadata.as_ref()),
    }
}

/// Appends one hub event to the content being built (see the module doc of `anthropic` for
/// where signatures go). What Anthropic cannot express (inline images, code execution) has no
/// event.
fn push_event(content: &mut Vec<AnthropicContentBlock>, event: &Event, token: &str, calls: &mut usize) {
    match *event {
        Event::FunctionCall { call, signature, .. } => {
            let input = if call.args.is_object() {
                call.args.clone()
            } else {
                json!({})
            };
            content.push(AnthropicContentBlock::ToolUse {
                id: tool_use_id(token, *calls, signature),
                name: call.name.clone(),
                input,
            });
            *calls += 1;
        }
        // Continue an unsigned thinking block, else start one.
        Event::Thought { text, .. } => match content.last_mut() {
            Some(AnthropicContentBlock::Thinking { thinking, signature }) if signature.is_empty() => {
                thinking.push_str(text);
            }
            _ => content.push(AnthropicContentBlock::Thinking {
                thinking: text.into(),
                signature: String::new(),
            }),
        },
        // A signature closes the unsigned thinking block it follows.
        Event::Signature {
            signature,
            on: Signed::Thought,
            ..
        } => match content.last_mut() {
            Some(AnthropicContentBlock::Thinking {
                signature: existing, ..
            }) if existing.is_empty() => {
                *existing = thinking_signature(Some(signature));
            }
            _ => content.push(AnthropicContentBlock::Thinking {
                thinking: String::new(),
                signature: thinking_signature(Some(signature)),
            }),
        },
        // A signed answer: an empty thinking block holding the signature, before the text.
        Event::Signature {
            signature,
            on: Signed::Text,
            ..
        } => content.push(AnthropicContentBlock::Thinking {
            thinking: String::new(),
            signature: thinking_signature(Some(signature)),
        }),
        Event::Text { text, .. } => match content.last_mut() {
            Some(AnthropicContentBlock::Text { text: existing }) => existing.push_str(text),
            _ => content.push(AnthropicContentBlock::Text { text: text.into() }),
        },
        _ => {}
    }
}

/// `countTokens` -> `{"input_tokens": N}`.
pub fn count_tokens_response_to_anthropic(resp: &CountTokensResponse) -> AnthropicCountTokensResponse {
    AnthropicCountTokensResponse {
        input_tokens: resp.total_tokens,
    }
}

/// One Gemini model as an Anthropic model object.
pub fn model_to_anthropic(model: &Model) -> AnthropicModelInfo {
    AnthropicModelInfo {
        kind: "model".into(),
        id: model.id().to_string(),
        display_name: model
            .display_name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| model.id().to_string()),
        created_at: MODEL_CREATED_AT.into(),
    }
}

/// A client-facing name (`claude-opus-5-5`) as an Anthropic model object; the display name
/// says which Gemini model serves it.
pub fn client_model_to_anthropic(name: &str, target: &str) -> AnthropicModelInfo {
    AnthropicModelInfo {
        kind: "model".into(),
        id: name.to_string(),
        display_name: format!("{name} (served by {target})"),
        created_at: MODEL_CREATED_AT.into(),
    }
}

/// The client-facing names `client` ((name, Gemini target) pairs) first, then Gemini's model
/// list, keeping the models that can generate content (embedding-only models are useless to a
/// Messages client). One page, `has_more: false`.
pub fn models_to_anthropic(list: &ListModelsResponse, client: &[(String, String)]) -> AnthropicModelList {
    let data: Vec<AnthropicModelInfo> = client
        .iter()
        .map(|(name, target)| client_model_to_anthropic(name, target))
        .chain(
            list.models
                .iter()
                .filter(|m| {
                    m.supported_generation_methods.is_empty()
                        || m.supported_generation_methods.iter().any(|g| g == "generateContent")
                })
                .map(model_to_anthropic),
        )
        .collect();
    AnthropicModelList {
        first_id: data.first().map(|m| m.id.clone()),
        last_id: data.last().map(|m| m.id.clone()),
        data,
        has_more: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn ctx() -> RequestContext {
        crate::protocol::test_support::ctx("abc123", 1_760_000_000)
    }

    fn translate(resp: Value) -> Value {
        let resp: GenerateContentResponse = serde_json::from_value(resp).unwrap();
        serde_json::to_value(gemini_to_messages_response(&resp, "claude-sonnet-4-5", &ctx())).unwrap()
    }

    #[test]
    fn text_response_has_the_anthropic_shape() {
        let out = translate(json!({
            "candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}, {"text": "lo"}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 3, "thoughtsTokenCount": 5, "cachedContentTokenCount": 2, "totalTokenCount": 20},
            "modelVersion": "gemini-2.5-flash", "responseId": "x"
        }));
        assert_eq!(
            out,
            json!({
                "id": "msg_abc123", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                "content": [{"type": "text", "text": "Hello"}],
                "stop_reason": "end_turn", "stop_sequence": null,
                "usage": {"input_tokens": 10, "output_tokens": 8, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 2}
            })
        );
    }

    #[test]
    fn thoughts_calls_and_signatures_become_blocks() {
        let out = translate(json!({
            "candidates": [{"content": {"role": "model", "parts": [
                {"text": "Think", "thought": true},
                {"text": "ing.", "thought": true, "thoughtSignature": "VEhP"},
                {"text": "Calling.", "thoughtSignature": "VEVY"},
                {"functionCall": {"name": "a", "args": {"x": 1}}, "thoughtSignature": "Q0FM+/=="},
                {"functionCall": {"name": "b"}},
                {"inlineData": {"mimeType": "image/png", "data": "AA=="}}
            ]}, "finishReason": "STOP"}]
        }));
        assert_eq!(
            out["content"],
            json!([
                {"type": "thinking", "thinking": "Thinking.", "signature": "gemini:VEhP"},
                {"type": "thinking", "thinking": "", "signature": "gemini:VEVY"},
                {"type": "text", "text": "Calling."},
                {"type": "tool_use", "id": "toolu_abc123_0__ts__UTBGTSsvPT0", "name": "a", "input": {"x": 1}},
                {"type": "tool_use", "id": "toolu_abc123_1", "name": "b", "input": {}}
            ])
        );
        assert_eq!(out["stop_reason"], "tool_use");
    }

    #[test]
    fn unsigned_thoughts_get_the_bare_marker_signature() {
        let out = translate(json!({"candidates": [{"content": {"parts": [
            {"text": "thinking...", "thought": true},
            {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "U0lH"}
        ]}, "finishReason": "STOP"}]}));
        assert_eq!(
            out["content"],
            json!([
                {"type": "thinking", "thinking": "thinking...", "signature": "gemini:"},
                {"type": "tool_use", "id": "toolu_abc123_0__ts__VTBsSA", "name": "f", "input": {}}
            ])
        );
    }

    #[test]
    fn final_empty_text_part_with_signature_becomes_a_trailing_thinking_block() {
        let out = translate(
            json!({"candidates": [{"content": {"parts": [{"text": "Done."}, {"text": "", "thoughtSignature": "U0lH"}]}, "finishReason": "STOP"}]}),
        );
        assert_eq!(
            out["content"],
            json!([{"type": "text", "text": "Done."}, {"type": "thinking", "thinking": "", "signature": "gemini:U0lH"}])
        );
    }

    #[test]
    fn empty_candidates_and_blocks_keep_their_finish_reasons() {
        let cases = [
            (
                json!({"candidates": [{"content": {"role": "model"}, "finishReason": "MAX_TOKENS"}], "usageMetadata": {"promptTokenCount": 5, "thoughtsTokenCount": 100}}),
                "max_tokens",
            ),
            (json!({"candidates": [{"finishReason": "SAFETY"}]}), "refusal"),
            (
                json!({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": {"promptTokenCount": 5}}),
                "refusal",
            ),
            (
                json!({"candidates": [{"content": {"parts": [{"text": ""}]}, "finishReason": "STOP"}]}),
                "end_turn",
            ),
            (
                json!({"candidates": [{"finishReason": "MALFORMED_FUNCTION_CALL"}]}),
                "end_turn",
            ),
            (json!({}), "end_turn"),
        ];
        for (resp, expected) in &cases {
            let out = translate(resp.clone());
            assert_eq!(out["content"], json!([]), "{resp}");
            assert_eq!(out["stop_reason"], *expected, "{resp}");
        }
        let out = translate(cases[0].0.clone());
        assert_eq!(out["usage"]["output_tokens"], 100);
    }

    #[test]
    fn count_tokens_and_models() {
        let n: CountTokensResponse = serde_json::from_value(json!({"totalTokens": 42})).unwrap();
        assert_eq!(
            serde_json::to_value(count_tokens_response_to_anthropic(&n)).unwrap(),
            json!({"input_tokens": 42})
        );

        let list: ListModelsResponse = serde_json::from_value(json!({"models": [
            {"name": "models/gemini-2.5-flash", "displayName": "Gemini 2.5 Flash", "supportedGenerationMethods": ["generateContent", "countTokens"]},
            {"name": "models/gemini-embedding-001", "supportedGenerationMethods": ["embedContent"]},
            {"name": "models/gemini-3-pro-preview"}
        ]}))
        .unwrap();
        assert_eq!(
            serde_json::to_value(models_to_anthropic(&list, &[])).unwrap(),
            json!({
                "data": [
                    {"type": "model", "id": "gemini-2.5-flash", "display_name": "Gemini 2.5 Flash", "created_at": "2025-01-01T00:00:00Z"},
                    {"type": "model", "id": "gemini-3-pro-preview", "display_name": "gemini-3-pro-preview", "created_at": "2025-01-01T00:00:00Z"}
                ],
                "has_more": false, "first_id": "gemini-2.5-flash", "last_id": "gemini-3-pro-preview"
            })
        );
        let client = vec![("claude-opus-5-5".to_string(), "gemini-2.5-pro".to_string())];
        let with_client = serde_json::to_value(models_to_anthropic(&list, &client)).unwrap();
        assert_eq!(
            with_client["data"][0],
            json!({"type": "model", "id": "claude-opus-5-5", "display_name": "claude-opus-5-5 (served by gemini-2.5-pro)", "created_at": "2025-01-01T00:00:00Z"})
        );
        assert_eq!(with_client["data"].as_array().unwrap().len(), 3);
        assert_eq!(with_client["first_id"], "claude-opus-5-5");
        let empty = serde_json::to_value(models_to_anthropic(&ListModelsResponse::default(), &[])).unwrap();
        assert_eq!(
            empty,
            json!({"data": [], "has_more": false, "first_id": null, "last_id": null})
        );
    }
}
