//! Gemini's `finishReason`, typed, and the one rule for what each reason means to a client.
//!
//! Every client protocol reads a finish through [`FinishReason::outcome`]: a normal stop, the
//! output limit, or a safety/recitation block. The list of blocking reasons lives here only.

use serde::{Deserialize, Serialize};

/// `Candidate.finishReason`. Values Gemini adds later land in [`FinishReason::Unknown`] with
/// their name kept, so they serialize back unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum FinishReason {
    /// Natural stop (also the reason of a turn that ends with function calls).
    Stop,
    /// `maxOutputTokens` reached.
    MaxTokens,
    /// Safety filters.
    Safety,
    /// Recitation of training data.
    Recitation,
    /// Unsupported response language.
    Language,
    /// Terminology blocklist.
    Blocklist,
    /// Prohibited content.
    ProhibitedContent,
    /// Sensitive personally identifiable information.
    Spii,
    /// The model produced an invalid function call.
    MalformedFunctionCall,
    /// Generated image failed safety filters.
    ImageSafety,
    /// Generated image is prohibited content.
    ImageProhibitedContent,
    /// Generated image is a recitation.
    ImageRecitation,
    /// Image generation stopped for another reason.
    ImageOther,
    /// An image was expected but none was generated.
    NoImage,
    /// A tool call the request did not allow.
    UnexpectedToolCall,
    /// Too many tool calls in a row.
    TooManyToolCalls,
    /// `OTHER`.
    Other,
    /// `FINISH_REASON_UNSPECIFIED`.
    Unspecified,
    /// Any value this build does not know.
    Unknown(String),
}

/// What a finish means to a client, whatever its protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishOutcome {
    /// A complete answer (or tool calls).
    Stop,
    /// Cut by the output-token limit.
    Length,
    /// Stopped by a safety, recitation or policy filter.
    Blocked,
}

const NAMES: &[(&str, FinishReason)] = &[
    ("STOP", FinishReason::Stop),
    ("MAX_TOKENS", FinishReason::MaxTokens),
    ("SAFETY", FinishReason::Safety),
    ("RECITATION", FinishReason::Recitation),
    ("LANGUAGE", FinishReason::Language),
    ("BLOCKLIST", FinishReason::Blocklist),
    ("PROHIBITED_CONTENT", FinishReason::ProhibitedContent),
    ("SPII", FinishReason::Spii),
    ("MALFORMED_FUNCTION_CALL", FinishReason::MalformedFunctionCall),
    ("IMAGE_SAFETY", FinishReason::ImageSafety),
    ("IMAGE_PROHIBITED_CONTENT", FinishReason::ImageProhibitedContent),
    ("IMAGE_RECITATION", FinishReason::ImageRecitation),
    ("IMAGE_OTHER", FinishReason::ImageOther),
    ("NO_IMAGE", FinishReason::NoImage),
    ("UNEXPECTED_TOOL_CALL", FinishReason::UnexpectedToolCall),
    ("TOO_MANY_TOOL_CALLS", FinishReason::TooManyToolCalls),
    ("OTHER", FinishReason::Other),
    ("FINISH_REASON_UNSPECIFIED", FinishReason::Unspecified),
];

impl FinishReason {
    /// The wire name (`MAX_TOKENS`, ...).
    pub fn as_str(&self) -> &str {
        if let FinishReason::Unknown(name) = self {
            return name;
        }
        NAMES
            .iter()
            .find(|(_, r)| r == self)
            .map_or("FINISH_REASON_UNSPECIFIED", |(n, _)| n)
    }

    /// The one mapping of Gemini's reasons onto what clients can express:
    ///
    /// | Gemini | outcome |
    /// |---|---|
    /// | MAX_TOKENS | Length |
    /// | SAFETY, RECITATION, BLOCKLIST, PROHIBITED_CONTENT, SPII, IMAGE_SAFETY, IMAGE_PROHIBITED_CONTENT, IMAGE_RECITATION | Blocked |
    /// | STOP, LANGUAGE, OTHER, MALFORMED_FUNCTION_CALL, UNEXPECTED_TOOL_CALL, TOO_MANY_TOOL_CALLS, IMAGE_OTHER, NO_IMAGE, unspecified, unknown | Stop |
    pub fn outcome(&self) -> FinishOutcome {
        use FinishReason::*;
        match self {
            MaxTokens => FinishOutcome::Length,
            Safety
            | Recitation
            | Blocklist
            | ProhibitedContent
            | Spii
            | ImageSafety
            | ImageProhibitedContent
            | ImageRecitation => FinishOutcome::Blocked,
            _ => FinishOutcome::Stop,
        }
    }

    /// The outcome of an optional reason (absent: a normal stop).
    pub fn outcome_of(reason: Option<&FinishReason>) -> FinishOutcome {
        reason.map_or(FinishOutcome::Stop, FinishReason::outcome)
    }
}

impl From<String> for FinishReason {
    fn from(name: String) -> Self {
        NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(FinishReason::Unknown(name), |(_, r)| r.clone())
    }
}

impl From<&str> for FinishReason {
    fn from(name: &str) -> Self {
        FinishReason::from(name.to_string())
    }
}

impl From<FinishReason> for String {
    fn from(reason: FinishReason) -> Self {
        reason.as_str().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_one_outcome_and_round_trips() {
        use FinishOutcome::*;
        let rows: &[(&str, FinishOutcome)] = &[
            ("STOP", Stop),
            ("MAX_TOKENS", Length),
            ("SAFETY", Blocked),
            ("RECITATION", Blocked),
            ("BLOCKLIST", Blocked),
            ("PROHIBITED_CONTENT", Blocked),
            ("SPII", Blocked),
            ("IMAGE_SAFETY", Blocked),
            ("IMAGE_PROHIBITED_CONTENT", Blocked),
            ("IMAGE_RECITATION", Blocked),
            ("LANGUAGE", Stop),
            ("OTHER", Stop),
            ("MALFORMED_FUNCTION_CALL", Stop),
            ("UNEXPECTED_TOOL_CALL", Stop),
            ("TOO_MANY_TOOL_CALLS", Stop),
            ("IMAGE_OTHER", Stop),
            ("NO_IMAGE", Stop),
            ("FINISH_REASON_UNSPECIFIED", Stop),
            ("SOMETHING_NEW", Stop),
        ];
        for (name, outcome) in rows {
            let reason = FinishReason::from(*name);
            assert_eq!(reason.outcome(), *outcome, "{name}");
            assert_eq!(reason.as_str(), *name);
            let json = serde_json::to_value(&reason).unwrap_or_default();
            assert_eq!(json, serde_json::json!(name));
        }
        assert_eq!(FinishReason::from("NEW"), FinishReason::Unknown("NEW".into()));
        assert_eq!(FinishReason::outcome_of(None), Stop);
    }
}
