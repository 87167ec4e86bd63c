//! The one walk over a Gemini response or stream chunk, as typed events.
//!
//! Every stream translator (chat completions, Responses, Anthropic Messages) reads a chunk
//! through [`events`] instead of walking `candidates` / `content.parts` itself, so the rules of
//! that walk live here once:
//!
//! * the chunk's `usageMetadata` comes first ([`Event::Usage`]; cumulative in a stream, so the
//!   last one seen wins);
//! * a chunk without candidates whose `promptFeedback.blockReason` is set is
//!   [`Event::PromptBlocked`];
//! * each candidate opens with [`Event::Candidate`] (even one without parts), then its parts in
//!   order, then [`Event::Finish`] if it carries a `finishReason`;
//! * a `functionCall` part is one [`Event::FunctionCall`] (Gemini never splits a call) with the
//!   part's signature;
//! * a text part is [`Event::Thought`] or [`Event::Text`]; empty text (often a lone signature
//!   carrier) gives no text event;
//! * a signature on any other part is an [`Event::Signature`]: on a thought part after its
//!   text (it closes the thought), on an answer-text part before its text (it signs the
//!   reasoning that led to the answer), alone on a part with no text form (`inlineData`, ...);
//! * an empty `thoughtSignature` is no signature;
//! * parts with no text form (`inlineData`, `executableCode`, ...) give no other event.
//!
//! Upstream error chunks never reach this walk: the stream reader turns them into a `Status`
//! (see `crate::stream::parse_chunk`), which each translator renders as its error frame.

use super::{Candidate, FinishReason, FunctionCall, GenerateContentResponse, Part, UsageMetadata};

/// What kind of part carried an [`Event::Signature`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signed {
    /// A thought part (the signature follows its [`Event::Thought`]).
    Thought,
    /// An answer-text part (the signature precedes its [`Event::Text`]).
    Text,
    /// A part with no text form (`inlineData`, ...).
    Other,
}

/// One step of a Gemini chunk, in the order a client should see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Event<'a> {
    /// The chunk's token counts (cumulative in a stream).
    Usage(UsageMetadata),
    /// The prompt was blocked: no candidates, `promptFeedback.blockReason` set.
    PromptBlocked,
    /// Candidate `0`-based index appears in this chunk (before its parts).
    Candidate(u32),
    /// Answer text (never empty).
    Text {
        /// The candidate's index.
        candidate: u32,
        /// The text delta.
        text: &'a str,
    },
    /// Thought-summary text (never empty).
    Thought {
        /// The candidate's index.
        candidate: u32,
        /// The text delta.
        text: &'a str,
    },
    /// A thought signature on a part that is not a function call (never empty).
    Signature {
        /// The candidate's index.
        candidate: u32,
        /// The opaque signature.
        signature: &'a str,
        /// The kind of part it came on.
        on: Signed,
    },
    /// A whole function call.
    FunctionCall {
        /// The candidate's index.
        candidate: u32,
        /// The call (name and arguments).
        call: &'a FunctionCall,
        /// Its thought signature, if any (never empty).
        signature: Option<&'a str>,
    },
    /// The candidate's finish reason.
    Finish {
        /// The candidate's index.
        candidate: u32,
        /// Why generation stopped.
        reason: &'a FinishReason,
    },
}

impl Event<'_> {
    /// The candidate the event belongs to (`None` for [`Event::Usage`] and
    /// [`Event::PromptBlocked`], which concern the whole chunk).
    pub fn candidate(&self) -> Option<u32> {
        match *self {
            Event::Usage(_) | Event::PromptBlocked => None,
            Event::Candidate(candidate)
            | Event::Text { candidate, .. }
            | Event::Thought { candidate, .. }
            | Event::Signature { candidate, .. }
            | Event::FunctionCall { candidate, .. }
            | Event::Finish { candidate, .. } => Some(candidate),
        }
    }
}

/// The events of one chunk (or of a whole response, which is one chunk); see the module doc.
pub fn events(chunk: &GenerateContentResponse) -> impl Iterator<Item = Event<'_>> {
    let blocked =
        chunk.candidates.is_empty() && chunk.prompt_feedback.as_ref().is_some_and(|f| f.block_reason.is_some());
    chunk
        .usage_metadata
        .map(Event::Usage)
        .into_iter()
        .chain(blocked.then_some(Event::PromptBlocked))
        .chain(chunk.candidates.iter().flat_map(candidate_events))
}

fn candidate_events(candidate: &Candidate) -> impl Iterator<Item = Event<'_>> {
    let index = candidate.index;
    std::iter::once(Event::Candidate(index))
        .chain(
            candidate
                .content
                .iter()
                .flat_map(|c| &c.parts)
                .flat_map(move |part| part_events(index, part)),
        )
        .chain(candidate.finish_reason.as_ref().map(|reason| Event::Finish {
            candidate: index,
            reason,
        }))
}

/// At most two events per part: its content and its signature, in the order the module doc gives.
fn part_events(candidate: u32, part: &Part) -> impl Iterator<Item = Event<'_>> {
    let signature = part.thought_signature.as_deref().filter(|s| !s.is_empty());
    let signed = |on| {
        signature.map(|signature| Event::Signature {
            candidate,
            signature,
            on,
        })
    };
    let pair = if let Some(call) = &part.function_call {
        [
            Some(Event::FunctionCall {
                candidate,
                call,
                signature,
            }),
            None,
        ]
    } else {
        let text = part.text.as_deref().filter(|t| !t.is_empty());
        match (&part.text, part.is_thought()) {
            (Some(_), true) => [
                text.map(|text| Event::Thought { candidate, text }),
                signed(Signed::Thought),
            ],
            (Some(_), false) => [signed(Signed::Text), text.map(|text| Event::Text { candidate, text })],
            (None, _) => [signed(Signed::Other), None],
        }
    };
    pair.into_iter().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn walk(chunk: serde_json::Value) -> Vec<String> {
        let chunk: GenerateContentResponse = serde_json::from_value(chunk).unwrap();
        events(&chunk)
            .map(|e| match e {
                Event::Usage(u) => format!("usage {}", u.total_token_count),
                Event::PromptBlocked => "blocked".into(),
                Event::Candidate(i) => format!("candidate {i}"),
                Event::Text { candidate, text } => format!("{candidate} text {text}"),
                Event::Thought { candidate, text } => format!("{candidate} thought {text}"),
                Event::Signature {
                    candidate,
                    signature,
                    on,
                } => format!("{candidate} sig {signature} {on:?}"),
                Event::FunctionCall {
                    candidate,
                    call,
                    signature,
                } => format!("{candidate} call {} {signature:?}", call.name),
                Event::Finish { candidate, reason } => format!("{candidate} finish {}", reason.as_str()),
            })
            .collect()
    }

    #[test]
    fn the_walk_table() {
        let cases = [
            (json!({"usageMetadata": {"totalTokenCount": 3}}), vec!["usage 3"]),
            (
                json!({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"totalTokenCount": 1}}),
                vec!["usage 1", "blocked"],
            ),
            (json!({"promptFeedback": {}}), vec![]),
            (json!({"candidates": [{"index": 0}]}), vec!["candidate 0"]),
            (
                json!({"candidates": [{"content": {"parts": [
                    {"text": "hm", "thought": true, "thoughtSignature": "T"},
                    {"text": "", "thought": true},
                    {"text": "", "thoughtSignature": ""},
                    {"text": "hi", "thoughtSignature": "S"},
                    {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "C"},
                    {"functionCall": {"name": "g"}},
                    {"inlineData": {"mimeType": "image/png", "data": "AA=="}, "thoughtSignature": "I"},
                    {"inlineData": {"mimeType": "image/png", "data": "AA=="}},
                ]}, "finishReason": "STOP"}]}),
                vec![
                    "candidate 0",
                    "0 thought hm",
                    "0 sig T Thought",
                    "0 sig S Text",
                    "0 text hi",
                    "0 call f Some(\"C\")",
                    "0 call g None",
                    "0 sig I Other",
                    "0 finish STOP",
                ],
            ),
            (
                json!({"candidates": [
                    {"index": 1, "content": {"parts": [{"text": "b"}]}, "finishReason": "MAX_TOKENS"},
                    {"content": {"parts": [{"text": "a"}]}},
                ]}),
                vec![
                    "candidate 1",
                    "1 text b",
                    "1 finish MAX_TOKENS",
                    "candidate 0",
                    "0 text a",
                ],
            ),
        ];
        for (chunk, expected) in cases {
            assert_eq!(walk(chunk.clone()), expected, "{chunk}");
        }
    }
}
