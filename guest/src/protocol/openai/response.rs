//! Gemini response → `chat.completion` (protocols.md §5.2, §5.4.9; errors are
//! `crate::error`'s). The helpers here are shared with the stream translator so that both
//! paths name tool calls and finish reasons identically.

use super::{
    signature_extra_content, tool_call_id, OpenAiChatResponse, OpenAiChoice, OpenAiCompletionTokensDetails,
    OpenAiFunctionCall, OpenAiPromptTokensDetails, OpenAiResponseMessage, OpenAiToolCall, OpenAiUsage,
    CHAT_COMPLETION_OBJECT,
};
use crate::protocol::gemini::{
    Candidate, FinishOutcome, FinishReason, FunctionCall, GenerateContentResponse, UsageMetadata,
};
use crate::protocol::RequestContext;
use serde_json::Value;

/// Renders a whole Gemini response as a `chat.completion` named `model`.
///
/// One choice per candidate: text parts concatenated as they are, thought parts in
/// `reasoning_content` (never in `content`), function calls as `tool_calls` (finish reason
/// `tool_calls`). A blocked prompt (no candidates) gives one choice with `content: null` and
/// `content_filter`.
pub fn gemini_to_chat_response(
    resp: &GenerateContentResponse,
    model: &str,
    ctx: &RequestContext,
) -> OpenAiChatResponse {
    let mut choices: Vec<OpenAiChoice> = resp.candidates.iter().map(|c| choice_from_candidate(c, ctx)).collect();
    if choices.is_empty() {
        let blocked = resp.prompt_feedback.as_ref().is_some_and(|f| f.block_reason.is_some());
        choices.push(OpenAiChoice {
            index: 0,
            message: OpenAiResponseMessage {
                role: "assistant".into(),
                content: if blocked { None } else { Some(String::new()) },
                ..Default::default()
            },
            logprobs: None,
            finish_reason: Some(if blocked { "content_filter" } else { "stop" }.into()),
        });
    }
    OpenAiChatResponse {
        id: completion_id(ctx),
        object: CHAT_COMPLETION_OBJECT.into(),
        created: ctx.created,
        model: model.to_string(),
        choices,
        usage: usage_from_gemini(&resp.usage_metadata.unwrap_or_default()),
        system_fingerprint: None,
    }
}

/// `chatcmpl-<request id>`, the same for a whole response and every chunk of a stream.
pub(super) fn completion_id(ctx: &RequestContext) -> String {
    format!("chatcmpl-{}", ctx.request_id)
}

fn choice_from_candidate(candidate: &Candidate, ctx: &RequestContext) -> OpenAiChoice {
    let parts = candidate
        .content
        .as_ref()
        .map(|c| c.parts.as_slice())
        .unwrap_or_default();
    let mut text: Option<String> = None;
    let mut reasoning: Option<String> = None;
    let mut tool_calls = Vec::new();
    for part in parts {
        if let Some(call) = &part.function_call {
            let index = tool_calls.len();
            tool_calls.push(tool_call(
                call,
                part.thought_signature.as_deref(),
                ctx,
                candidate.index,
                index,
            ));
        } else if let Some(t) = &part.text {
            let target = if part.is_thought() { &mut reasoning } else { &mut text };
            target.get_or_insert_with(String::new).push_str(t);
        }
        // inlineData / executableCode / codeExecutionResult have no Chat Completions form.
    }
    let finish = finish_reason_from_gemini(candidate.finish_reason.as_ref(), !tool_calls.is_empty());
    // `content` is null only beside tool calls; an empty answer (MAX_TOKENS spent on thinking,
    // a SAFETY stop without parts) is "" with its finish reason, not a crash (§5.4.6).
    let content = match text {
        Some(t) => Some(t),
        None if tool_calls.is_empty() => Some(String::new()),
        None => None,
    };
    OpenAiChoice {
        index: candidate.index,
        message: OpenAiResponseMessage {
            role: "assistant".into(),
            content,
            refusal: None,
            reasoning_content: reasoning.filter(|r| !r.is_empty()),
            tool_calls,
        },
        logprobs: None,
        finish_reason: Some(finish.into()),
    }
}

/// A Gemini function call as an OpenAI tool call; `index` counts calls within the candidate.
pub(super) fn tool_call(
    call: &FunctionCall,
    signature: Option<&str>,
    ctx: &RequestContext,
    candidate: u32,
    index: usize,
) -> OpenAiToolCall {
    OpenAiToolCall {
        id: tool_call_id(ctx, candidate, index, signature),
        kind: "function".into(),
        function: OpenAiFunctionCall {
            name: call.name.clone(),
            arguments: Value::String(arguments_json(&call.args)),
        },
        extra_content: signature_extra_content(signature),
    }
}

/// `args` as the JSON string OpenAI puts in `arguments` (`{}` when Gemini sent none).
pub(crate) fn arguments_json(args: &Value) -> String {
    match args {
        Value::Null => "{}".into(),
        args => serde_json::to_string(args).unwrap_or_else(|_| "{}".into()),
    }
}

/// Gemini `finishReason` → OpenAI `finish_reason`, by the hub's [`FinishReason::outcome`]:
/// length → `length`, blocked → `content_filter`, otherwise `stop` (`tool_calls` when the turn
/// has calls: Gemini ends a function-call turn with STOP).
pub fn finish_reason_from_gemini(reason: Option<&FinishReason>, has_tool_calls: bool) -> &'static str {
    match FinishReason::outcome_of(reason) {
        FinishOutcome::Length => "length",
        FinishOutcome::Blocked => "content_filter",
        FinishOutcome::Stop if has_tool_calls => "tool_calls",
        FinishOutcome::Stop => "stop",
    }
}

/// Gemini usage → OpenAI usage. Gemini's `candidatesTokenCount` excludes thoughts, so
/// completion = candidates + thoughts; the tool-use prompt counts as prompt, so that
/// prompt + completion = total as Gemini reports it.
pub fn usage_from_gemini(usage: &UsageMetadata) -> OpenAiUsage {
    let prompt_tokens = usage.prompt_token_count + usage.tool_use_prompt_token_count;
    let completion_tokens = usage.candidates_token_count + usage.thoughts_token_count;
    OpenAiUsage {
        prompt_tokens,
        completion_tokens,
        total_tokens: usage.total_token_count.max(prompt_tokens + completion_tokens),
        prompt_tokens_details: OpenAiPromptTokensDetails {
            cached_tokens: usage.cached_content_token_count,
        },
        completion_tokens_details: OpenAiCompletionTokensDetails {
            reasoning_tokens: usage.thoughts_token_count,
        },
    }
}

#[cfg(test)]
mod tests;
