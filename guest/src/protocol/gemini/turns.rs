//! Gemini's rules for a replayed tool loop, decided once for every client protocol.
//!
//! * Pairing (protocols.md §5.4.2): a `model` turn with N `functionCall`s must be followed by
//!   one `user` turn holding exactly N `functionResponse`s. [`pair_responses`] puts a turn's
//!   responses in the calls' order and refuses, as a typed [`PairingError`] each protocol words
//!   in its own shape, a call without a response, a response without a call in the turn
//!   before, and a second response to the same call. Policy: an unanswered call is the
//!   client's error (a 400, as on OpenAI and Anthropic themselves), never a fabricated result.
//! * The active loop (§1.15): [`mark_active_loop`] gives the first unsigned `functionCall` of
//!   each model turn since the last user turn without function responses [`SKIP_SIGNATURE`].

use super::signatures::SKIP_SIGNATURE;
use super::{Content, Part};

/// What a function response answers: a tool-call id, or (OpenAI's legacy `function_call`,
/// which has no id) the model turn's one legacy call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallKey {
    /// A tool-call / `tool_use` id.
    Id(String),
    /// A legacy `function_call`.
    Legacy,
}

impl std::fmt::Display for CallKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallKey::Id(id) => f.write_str(id),
            CallKey::Legacy => f.write_str("function_call"),
        }
    }
}

/// One client tool result on its way to becoming a `functionResponse` part; `origin` says
/// where the client sent it (for error messages).
#[derive(Debug, Clone, PartialEq)]
pub struct Response<O> {
    /// The call it answers.
    pub key: CallKey,
    /// Where it came from in the client's request.
    pub origin: O,
    /// The `functionResponse` part.
    pub part: Part,
}

/// Why a turn's responses cannot be paired with the calls before them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairingError<O> {
    /// Calls with no response (in call order).
    Unanswered(Vec<CallKey>),
    /// A response to a call that is not in the model turn just before it.
    NotAfterItsCall {
        /// The call it claims to answer.
        key: CallKey,
        /// Where the client sent it.
        origin: O,
    },
    /// A second response to the same call.
    Duplicate {
        /// The call answered twice.
        key: CallKey,
        /// Where the client sent the second one.
        origin: O,
    },
}

/// Pairs `responses` (in the client's order) with `calls` (the keys of the previous model
/// turn's `functionCall`s, in order) and returns the response parts in call order. A key used
/// by several calls is answered in order: the first unanswered call with that key takes the
/// next response with it.
pub fn pair_responses<O>(calls: &[CallKey], responses: Vec<Response<O>>) -> Result<Vec<Part>, PairingError<O>> {
    let mut slots: Vec<Option<Part>> = vec![None; calls.len()];
    for response in responses {
        let mut with_key = calls
            .iter()
            .enumerate()
            .filter(|(_, key)| **key == response.key)
            .map(|(i, _)| i)
            .peekable();
        if with_key.peek().is_none() {
            return Err(PairingError::NotAfterItsCall {
                key: response.key,
                origin: response.origin,
            });
        }
        match with_key.find(|i| slots[*i].is_none()) {
            Some(i) => slots[i] = Some(response.part),
            None => {
                return Err(PairingError::Duplicate {
                    key: response.key,
                    origin: response.origin,
                })
            }
        }
    }
    let missing: Vec<CallKey> = calls
        .iter()
        .zip(&slots)
        .filter(|(_, slot)| slot.is_none())
        .map(|(key, _)| key.clone())
        .collect();
    if !missing.is_empty() {
        return Err(PairingError::Unanswered(missing));
    }
    Ok(slots.into_iter().flatten().collect())
}

/// Appends `parts` as a `role` turn, merging into the previous turn when it has the same role
/// (Gemini wants alternating turns). Empty turns are dropped: Gemini rejects them.
pub fn push_turn(contents: &mut Vec<Content>, role: &str, parts: Vec<Part>) {
    if parts.is_empty() {
        return;
    }
    match contents.last_mut() {
        Some(last) if last.role.as_deref() == Some(role) => last.parts.extend(parts),
        _ => contents.push(Content {
            role: Some(role.to_string()),
            parts,
        }),
    }
}

/// Gemini 3 validates the signatures of the "active loop": the model turns since the last
/// user turn with real content. The first `functionCall` of each such turn that has no
/// signature gets [`SKIP_SIGNATURE`], as gemini-cli does.
///
/// The loop starts after the last user turn that holds no function responses at all: a turn
/// of responses with text beside them (Claude Code appends reminders to tool results, OpenAI
/// clients a user message after the tool messages) stays inside the loop. This errs towards
/// marking more turns, which is harmless: the sentinel only goes where no signature is.
pub fn mark_active_loop(contents: &mut [Content]) {
    let start = contents
        .iter()
        .rposition(|c| c.role.as_deref() == Some("user") && c.parts.iter().all(|p| p.function_response.is_none()))
        .map_or(0, |i| i + 1);
    for content in &mut contents[start..] {
        if content.role.as_deref() != Some("model") {
            continue;
        }
        if let Some(first) = content.parts.iter_mut().find(|p| p.function_call.is_some()) {
            first
                .thought_signature
                .get_or_insert_with(|| SKIP_SIGNATURE.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{FunctionCall, FunctionResponse};
    use super::*;

    fn key(id: &str) -> CallKey {
        CallKey::Id(id.into())
    }

    fn response(id: &str, n: usize) -> Response<usize> {
        Response {
            key: key(id),
            origin: n,
            part: Part {
                function_response: Some(FunctionResponse {
                    name: format!("r{n}"),
                    ..Default::default()
                }),
                ..Default::default()
            },
        }
    }

    fn names(parts: &[Part]) -> Vec<String> {
        parts
            .iter()
            .filter_map(|p| p.function_response.as_ref().map(|r| r.name.clone()))
            .collect()
    }

    #[test]
    fn pairing_table() {
        type Row = (
            &'static [&'static str],
            &'static [&'static str],
            Result<&'static [&'static str], PairingError<usize>>,
        );
        let rows: Vec<Row> = vec![
            (&["a"], &["a"], Ok(&["r0"])),
            (&["a", "b", "c"], &["c", "a", "b"], Ok(&["r1", "r2", "r0"])),
            (&["a", "a"], &["a", "a"], Ok(&["r0", "r1"])),
            (&[], &[], Ok(&[])),
            (&["a", "b"], &["a"], Err(PairingError::Unanswered(vec![key("b")]))),
            (&["a"], &[], Err(PairingError::Unanswered(vec![key("a")]))),
            (
                &["a"],
                &["a", "z"],
                Err(PairingError::NotAfterItsCall {
                    key: key("z"),
                    origin: 1,
                }),
            ),
            (
                &[],
                &["a"],
                Err(PairingError::NotAfterItsCall {
                    key: key("a"),
                    origin: 0,
                }),
            ),
            (
                &["a", "b"],
                &["a", "a"],
                Err(PairingError::Duplicate {
                    key: key("a"),
                    origin: 1,
                }),
            ),
        ];
        for (calls, responses, expected) in rows {
            let calls: Vec<CallKey> = calls.iter().map(|c| key(c)).collect();
            let responses = responses.iter().enumerate().map(|(n, id)| response(id, n)).collect();
            let got = pair_responses(&calls, responses).map(|parts| names(&parts));
            let expected = expected.map(|e| e.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            assert_eq!(got, expected, "{calls:?}");
        }
        let legacy = Response {
            key: CallKey::Legacy,
            origin: 0,
            part: Part::default(),
        };
        assert!(pair_responses(&[CallKey::Legacy], vec![legacy]).is_ok());
    }

    fn call(signature: Option<&str>) -> Part {
        Part {
            function_call: Some(FunctionCall {
                name: "f".into(),
                ..Default::default()
            }),
            thought_signature: signature.map(str::to_string),
            ..Default::default()
        }
    }

    fn answered() -> Part {
        Part {
            function_response: Some(FunctionResponse::default()),
            ..Default::default()
        }
    }

    #[test]
    fn active_loop_starts_after_the_last_user_turn_without_responses() {
        let mut contents = vec![
            Content::user(vec![Part::text("old question")]),
            Content::model(vec![call(None)]),
            Content::user(vec![answered()]),
            Content::user(vec![Part::text("new question")]),
            Content::model(vec![Part::text("ok"), call(None), call(None)]),
            Content::user(vec![answered(), answered(), Part::text("<reminder>")]),
            Content::model(vec![call(Some("sig")), call(None)]),
            Content::user(vec![answered(), answered()]),
        ];
        mark_active_loop(&mut contents);
        let sigs: Vec<Vec<Option<&str>>> = contents
            .iter()
            .filter(|c| c.role.as_deref() == Some("model"))
            .map(|c| {
                c.parts
                    .iter()
                    .filter(|p| p.function_call.is_some())
                    .map(|p| p.thought_signature.as_deref())
                    .collect()
            })
            .collect();
        assert_eq!(
            sigs,
            vec![
                vec![None],                       // before the loop
                vec![Some(SKIP_SIGNATURE), None], // first call only
                vec![Some("sig"), None],          // already signed
            ]
        );
    }
}
