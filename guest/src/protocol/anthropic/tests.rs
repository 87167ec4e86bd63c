use super::*;
use serde_json::json;

/// What the pinned Claude Code sends, through the translators.
mod agents;

#[test]
fn tool_use_ids_carry_signatures_in_the_hub_codec() {
    let id = tool_use_id("req42", 3, Some("CiQBjz1rX+/aBg=="));
    assert!(id.starts_with("toolu_req42_3__ts__"), "{id}");
    assert_eq!(
        crate::protocol::gemini::signatures::signature_from_id(&id).as_deref(),
        Some("CiQBjz1rX+/aBg==")
    );
    assert_eq!(tool_use_id("r", 0, None), "toolu_r_0");
}

#[test]
fn request_ids_are_reduced_to_id_safe_characters() {
    assert_eq!(id_token("a1-b2_c3.d4"), "a1b2c3d4");
    assert_eq!(id_token("--"), "0");
}

#[test]
fn thinking_signatures_are_marked() {
    assert_eq!(thinking_signature(Some("CiQB")), "gemini:CiQB");
    assert_eq!(thinking_signature(None), "");
    assert_eq!(gemini_signature_from_thinking("gemini:CiQB"), Some("CiQB"));
    assert_eq!(gemini_signature_from_thinking("EqQBCkgIARABGAIiQL"), None);
    assert_eq!(gemini_signature_from_thinking(""), None);
    assert_eq!(gemini_signature_from_thinking("gemini:"), None);
}

#[test]
fn finish_reason_table() {
    use AnthropicStopReason::*;
    let rows: &[(Option<&str>, bool, AnthropicStopReason)] = &[
        (Some("STOP"), false, EndTurn),
        (None, false, EndTurn),
        (Some("STOP"), true, ToolUse),
        (Some("MAX_TOKENS"), false, MaxTokens),
        (Some("MAX_TOKENS"), true, ToolUse),
        (Some("SAFETY"), false, Refusal),
        (Some("RECITATION"), false, Refusal),
        (Some("BLOCKLIST"), false, Refusal),
        (Some("PROHIBITED_CONTENT"), false, Refusal),
        (Some("SPII"), false, Refusal),
        (Some("IMAGE_SAFETY"), false, Refusal),
        (Some("LANGUAGE"), false, EndTurn),
        (Some("OTHER"), false, EndTurn),
        (Some("MALFORMED_FUNCTION_CALL"), false, EndTurn),
        (Some("FINISH_REASON_UNSPECIFIED"), false, EndTurn),
        (Some("SOMETHING_NEW"), false, EndTurn),
    ];
    for (reason, tool, expected) in rows {
        let reason = reason.map(FinishReason::from);
        assert_eq!(stop_reason(reason.as_ref(), *tool), *expected, "{reason:?} {tool}");
    }
    assert_eq!(
        serde_json::to_value(AnthropicStopReason::EndTurn).unwrap(),
        json!("end_turn")
    );
    assert_eq!(AnthropicStopReason::ToolUse.as_str(), "tool_use");
}

#[test]
fn usage_subtracts_cached_and_adds_thoughts() {
    let u = UsageMetadata {
        prompt_token_count: 100,
        cached_content_token_count: 40,
        candidates_token_count: 7,
        thoughts_token_count: 20,
        total_token_count: 127,
        ..Default::default()
    };
    assert_eq!(
        usage(Some(&u)),
        AnthropicUsage {
            input_tokens: 60,
            output_tokens: 27,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 40
        }
    );
    assert_eq!(usage(None), AnthropicUsage::default());
}

#[test]
fn request_parses_real_client_shapes() {
    // Claude Code style: system blocks with cache_control, beta fields, metadata.
    let body = json!({
        "model": "claude-sonnet-4-5", "max_tokens": 32000, "stream": true,
        "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "gemini:CiQB"},
                {"type": "redacted_thinking", "data": "xyz"},
                {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
                {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"file_path": "/a"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "ok"}], "is_error": false}
            ]}
        ],
        "tools": [{"name": "Read", "description": "d", "input_schema": {"type": "object"}}, {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
        "thinking": {"type": "enabled", "budget_tokens": 4096},
        "metadata": {"user_id": "u"}, "stop_sequences": null, "context_management": {"edits": []}
    });
    let req: AnthropicMessagesRequest = serde_json::from_value(body).unwrap();
    assert_eq!(req.max_tokens, Some(32000));
    assert!(req.stream);
    assert!(req.stop_sequences.is_empty());
    let AnthropicContent::Blocks(blocks) = &req.messages[1].content else {
        panic!()
    };
    assert_eq!(blocks[2], AnthropicContentBlock::Unknown);
    assert_eq!(req.tools[1].kind.as_deref(), Some("web_search_20250305"));
    assert_eq!(
        req.thinking,
        Some(AnthropicThinking::Enabled {
            budget_tokens: 4096,
            display: None
        })
    );
    let none: AnthropicToolChoice = serde_json::from_value(json!({"type": "none"})).unwrap();
    assert_eq!(none, AnthropicToolChoice::None {});
    let adaptive: AnthropicThinking = serde_json::from_value(json!({"type": "adaptive"})).unwrap();
    assert_eq!(adaptive, AnthropicThinking::Adaptive { display: None });
}
