//! Thinking per model family: the one place that knows how each Gemini model expresses
//! thinking and how a client's effort, budget, "off" or "dynamic" becomes a `thinkingConfig`.
//!
//! OpenAI's `reasoning_effort`, Responses' `reasoning.effort`, Anthropic's
//! `output_config.effort` and `thinking` all land here (protocols.md §1.6, §2, §5.1).
//!
//! Decisions (issue 13; see `notes/hub-decisions.md`):
//! * families are classified by the version number after `gemini-` (3 and later: levels), with
//!   the documented budget ranges of the 2.5 models; unknown names and aliases
//!   (`gemini-flash-latest`) get budgets, unclamped;
//! * "off" on a model that cannot turn thinking off (2.5 Pro, an unknown `pro` name) is its
//!   minimum budget, not "send nothing" (which would leave the model's dynamic thinking on);
//! * the top efforts (`xhigh`, `max`) ask for the model's largest budget (32768 on 2.5 Pro),
//!   `high` for 24576 within the model's range.

use super::ThinkingConfig;

/// How a Gemini model controls thinking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThinkingFamily {
    /// Gemini 3 and later: `thinkingLevel`. Flash takes MINIMAL/LOW/MEDIUM/HIGH, the others
    /// only LOW/HIGH.
    Level {
        /// A Flash model (more levels).
        flash: bool,
    },
    /// A Gemini 2.5 model with a documented budget range.
    Budget {
        /// Smallest budget above 0.
        min: i64,
        /// Largest budget.
        max: i64,
        /// Whether 0 turns thinking off (2.5 Pro cannot).
        can_disable: bool,
    },
    /// Aliases and unrecognized names: budgets, unclamped. A name containing `pro` is assumed
    /// unable to turn thinking off.
    Unknown {
        /// The name contains `pro`.
        pro: bool,
    },
    /// Gemini 1.x, 2.0, Gemma: a `thinkingConfig` is an error upstream.
    None,
}

/// The budget `high` asks for, and the largest an unknown model is given.
const HIGH_BUDGET: i64 = 24576;

impl ThinkingFamily {
    /// The family of a model id (bare or `models/...`, any case).
    pub fn of(model: &str) -> Self {
        let m = model.strip_prefix("models/").unwrap_or(model).to_ascii_lowercase();
        let pro = m.contains("pro");
        if m.starts_with("gemma") {
            return ThinkingFamily::None;
        }
        let Some(version) = m.strip_prefix("gemini-") else {
            return ThinkingFamily::Unknown { pro };
        };
        let major: String = version.chars().take_while(char::is_ascii_digit).collect();
        match major.parse::<u32>() {
            Ok(major) if major >= 3 => ThinkingFamily::Level {
                flash: m.contains("flash"),
            },
            Ok(2) if version.starts_with("2.5-pro") => ThinkingFamily::Budget {
                min: 128,
                max: 32768,
                can_disable: false,
            },
            Ok(2) if version.starts_with("2.5-flash-lite") => ThinkingFamily::Budget {
                min: 512,
                max: HIGH_BUDGET,
                can_disable: true,
            },
            Ok(2) if version.starts_with("2.5-flash") => ThinkingFamily::Budget {
                min: 1,
                max: HIGH_BUDGET,
                can_disable: true,
            },
            Ok(2) if version.starts_with("2.5") => ThinkingFamily::Unknown { pro },
            Ok(_) => ThinkingFamily::None,
            Err(_) => ThinkingFamily::Unknown { pro },
        }
    }

    /// Gemini 3 and later accept media inside `functionResponse.parts`; older models take it
    /// as parts next to the responses.
    pub fn multimodal_function_responses(self) -> bool {
        matches!(self, ThinkingFamily::Level { .. })
    }

    /// A budget fitted to the family: 0 stays 0 only where thinking can be turned off,
    /// anything else is clamped to the documented range.
    fn fit(self, budget: i64) -> i64 {
        match self {
            ThinkingFamily::Budget { can_disable: true, .. } if budget == 0 => 0,
            ThinkingFamily::Budget { min, max, .. } => budget.clamp(min, max),
            ThinkingFamily::Unknown { pro: true } if budget == 0 => 128,
            _ => budget,
        }
    }

    fn max_budget(self) -> i64 {
        match self {
            ThinkingFamily::Budget { max, .. } => max,
            _ => HIGH_BUDGET,
        }
    }
}

/// A client's reasoning effort, in the vocabulary the three protocols share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effort {
    /// Thinking off (or as little as the model allows).
    None,
    /// `minimal`.
    Minimal,
    /// `low`.
    Low,
    /// `medium`.
    Medium,
    /// `high`.
    High,
    /// `xhigh`.
    XHigh,
    /// `max`.
    Max,
}

impl Effort {
    /// The accepted names, for error messages.
    pub const NAMES: &'static str = "none, minimal, low, medium, high, xhigh, max";

    /// Parses an effort name; `None` for anything else.
    pub fn parse(name: &str) -> Option<Effort> {
        Some(match name {
            "none" => Effort::None,
            "minimal" => Effort::Minimal,
            "low" => Effort::Low,
            "medium" => Effort::Medium,
            "high" => Effort::High,
            "xhigh" => Effort::XHigh,
            "max" => Effort::Max,
            _ => return None,
        })
    }
}

fn level(level: &str, include_thoughts: bool) -> ThinkingConfig {
    ThinkingConfig {
        include_thoughts: Some(include_thoughts),
        thinking_budget: None,
        thinking_level: Some(level.into()),
    }
}

fn budget(budget: i64, include_thoughts: bool) -> ThinkingConfig {
    ThinkingConfig {
        include_thoughts: Some(include_thoughts),
        thinking_budget: Some(budget),
        thinking_level: None,
    }
}

/// An effort as a thinking config for `family` (`None` where the family cannot think).
/// Thought summaries are on for every effort but `none`.
///
/// | effort | Gemini 3 Flash | Gemini 3 other | 2.5 budget (clamped to the model) | unknown |
/// |---|---|---|---|---|
/// | none | MINIMAL | LOW | 0 (2.5 Pro: 128) | 0 (`pro`: 128) |
/// | minimal | MINIMAL | LOW | 512 | 512 |
/// | low | LOW | LOW | 1024 | 1024 |
/// | medium | MEDIUM | HIGH | 8192 | 8192 |
/// | high | HIGH | HIGH | 24576 | 24576 |
/// | xhigh, max | HIGH | HIGH | the model's max (2.5 Pro: 32768) | 24576 |
pub fn effort_config(effort: Effort, family: ThinkingFamily) -> Option<ThinkingConfig> {
    let include = effort != Effort::None;
    match family {
        ThinkingFamily::None => None,
        ThinkingFamily::Level { flash } => Some(level(
            match (effort, flash) {
                (Effort::None | Effort::Minimal, true) => "MINIMAL",
                (Effort::None | Effort::Minimal | Effort::Low, _) => "LOW",
                (Effort::Medium, true) => "MEDIUM",
                _ => "HIGH",
            },
            include,
        )),
        ThinkingFamily::Budget { .. } | ThinkingFamily::Unknown { .. } => {
            let wanted = match effort {
                Effort::None => 0,
                Effort::Minimal => 512,
                Effort::Low => 1024,
                Effort::Medium => 8192,
                Effort::High => HIGH_BUDGET,
                Effort::XHigh | Effort::Max => family.max_budget(),
            };
            Some(budget(family.fit(wanted), include))
        }
    }
}

/// Thinking turned off, or as far down as the model allows (the `none` row of
/// [`effort_config`]): the one meaning of "disabled" for every protocol.
pub fn off_config(family: ThinkingFamily) -> Option<ThinkingConfig> {
    effort_config(Effort::None, family)
}

/// An explicit token budget (Anthropic's `budget_tokens`): clamped to a 2.5 model's range, the
/// nearest level on Gemini 3 (up to 1024: LOW, above: HIGH), as is for unknown models.
pub fn budget_config(tokens: i64, include_thoughts: bool, family: ThinkingFamily) -> Option<ThinkingConfig> {
    match family {
        ThinkingFamily::None => None,
        ThinkingFamily::Level { .. } => Some(level(if tokens <= 1024 { "LOW" } else { "HIGH" }, include_thoughts)),
        ThinkingFamily::Budget { min, max, .. } => Some(budget(tokens.clamp(min, max), include_thoughts)),
        ThinkingFamily::Unknown { .. } => Some(budget(tokens, include_thoughts)),
    }
}

/// The model's own dynamic thinking: no level on Gemini 3 (its default), budget -1 elsewhere.
pub fn dynamic_config(include_thoughts: bool, family: ThinkingFamily) -> Option<ThinkingConfig> {
    match family {
        ThinkingFamily::None => None,
        ThinkingFamily::Level { .. } => Some(ThinkingConfig {
            include_thoughts: Some(include_thoughts),
            ..Default::default()
        }),
        _ => Some(budget(-1, include_thoughts)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_families() {
        use ThinkingFamily::*;
        let pro25 = Budget {
            min: 128,
            max: 32768,
            can_disable: false,
        };
        let flash25 = Budget {
            min: 1,
            max: 24576,
            can_disable: true,
        };
        let lite25 = Budget {
            min: 512,
            max: 24576,
            can_disable: true,
        };
        for (model, family) in [
            ("gemini-3-pro-preview", Level { flash: false }),
            ("gemini-3-flash-preview", Level { flash: true }),
            ("models/gemini-3.5-flash", Level { flash: true }),
            ("gemini-4-pro", Level { flash: false }),
            ("gemini-2.5-pro", pro25),
            ("GEMINI-2.5-PRO-preview-06-05", pro25),
            ("gemini-2.5-flash", flash25),
            ("gemini-2.5-flash-preview-09-2025", flash25),
            ("gemini-2.5-flash-lite", lite25),
            ("gemini-2.5-computer-use-preview", Unknown { pro: false }),
            ("gemini-2.0-flash", None),
            ("gemini-1.5-pro", None),
            ("gemma-3-27b-it", None),
            ("gemini-flash-latest", Unknown { pro: false }),
            ("gemini-pro-latest", Unknown { pro: true }),
            ("my-alias", Unknown { pro: false }),
        ] {
            assert_eq!(ThinkingFamily::of(model), family, "{model}");
        }
        assert!(Level { flash: false }.multimodal_function_responses());
        assert!(!pro25.multimodal_function_responses());
    }

    fn show(config: Option<ThinkingConfig>) -> String {
        match config {
            None => "-".into(),
            Some(c) => match (c.thinking_level, c.thinking_budget) {
                (Some(l), _) => l,
                (_, Some(b)) => b.to_string(),
                _ => "default".into(),
            },
        }
    }

    #[test]
    fn effort_table() {
        // effort: 3 flash, 3 pro, 2.5 pro, 2.5 flash, 2.5 flash-lite, unknown, unknown pro, 2.0
        let models = [
            "gemini-3-flash-preview",
            "gemini-3-pro-preview",
            "gemini-2.5-pro",
            "gemini-2.5-flash",
            "gemini-2.5-flash-lite",
            "gemini-flash-latest",
            "gemini-pro-latest",
            "gemini-2.0-flash",
        ];
        let rows: &[(&str, [&str; 8])] = &[
            ("none", ["MINIMAL", "LOW", "128", "0", "0", "0", "128", "-"]),
            ("minimal", ["MINIMAL", "LOW", "512", "512", "512", "512", "512", "-"]),
            ("low", ["LOW", "LOW", "1024", "1024", "1024", "1024", "1024", "-"]),
            (
                "medium",
                ["MEDIUM", "HIGH", "8192", "8192", "8192", "8192", "8192", "-"],
            ),
            (
                "high",
                ["HIGH", "HIGH", "24576", "24576", "24576", "24576", "24576", "-"],
            ),
            (
                "xhigh",
                ["HIGH", "HIGH", "32768", "24576", "24576", "24576", "24576", "-"],
            ),
            (
                "max",
                ["HIGH", "HIGH", "32768", "24576", "24576", "24576", "24576", "-"],
            ),
        ];
        for (name, expected) in rows {
            let effort = Effort::parse(name).unwrap_or(Effort::None);
            for (model, want) in models.iter().zip(expected) {
                let config = effort_config(effort, ThinkingFamily::of(model));
                if let Some(c) = &config {
                    assert_eq!(c.include_thoughts, Some(*name != "none"));
                    assert!(c.thinking_budget.is_none() || c.thinking_level.is_none());
                }
                assert_eq!(show(config), *want, "{name} on {model}");
            }
        }
        assert_eq!(Effort::parse("extreme"), None);
        assert_eq!(
            show(off_config(ThinkingFamily::of("gemini-2.5-pro"))),
            "128",
            "2.5 Pro cannot turn thinking off: its minimum"
        );
    }

    #[test]
    fn budgets_and_dynamic_thinking() {
        let rows: &[(&str, i64, &str, &str)] = &[
            // model, budget_tokens, budget_config, dynamic_config
            ("gemini-2.5-pro", 64, "128", "-1"),
            ("gemini-2.5-pro", 100000, "32768", "-1"),
            ("gemini-2.5-flash", 4096, "4096", "-1"),
            ("gemini-2.5-flash", 100000, "24576", "-1"),
            ("gemini-2.5-flash-lite", 100, "512", "-1"),
            ("gemini-3-pro-preview", 1024, "LOW", "default"),
            ("gemini-3-flash-preview", 1025, "HIGH", "default"),
            ("gemini-flash-latest", 100000, "100000", "-1"),
            ("gemma-3-27b-it", 4096, "-", "-"),
        ];
        for (model, tokens, fixed, dynamic) in rows {
            let family = ThinkingFamily::of(model);
            assert_eq!(show(budget_config(*tokens, true, family)), *fixed, "{model} {tokens}");
            assert_eq!(show(dynamic_config(true, family)), *dynamic, "{model}");
        }
    }
}
