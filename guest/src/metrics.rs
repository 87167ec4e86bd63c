//! `GET /metrics`: the pool's figures in the Prometheus text exposition format (0.0.4),
//! rendered from SQL by the component, so every host serves them.
//!
//! Families (counters are totals over every stored day, the same rows `/admin/api/usage` reads):
//! - `gempool_upstream_requests_total{key,hint,model,outcome}`: attempts per pool key and model;
//!   outcome `ok`, `rate_limited`, `invalid`, `overloaded` (5xx), `timeout`, `error`.
//! - `gempool_tokens_total{key,hint,model,kind}`: kind `prompt`, `output`, `thoughts`.
//! - `gempool_upstream_seconds{model}`: histogram of ok attempts (attempt start to the end of
//!   the answer, a stream's included).
//! - `gempool_client_requests_total{client,name,model,status}`: status `2xx`, `429`, `4xx`, `5xx`.
//! - `gempool_client_tokens_total{client,name,model,kind}`: kind `prompt`, `output`.
//! - `gempool_key_state{key,hint,state}`: 1 or 0 for `enabled`, `disabled`, `breaker_open`.
//! - `gempool_key_cooldown_seconds{key,hint,model}`: time left, for cooldowns in force.
//! - `gempool_requests_refused_total{reason}`: requests gempool answered itself (see
//!   [`refusal_reason`]).
//! - `gempool_store_write_failures_total{op}`: bookkeeping writes that failed (see
//!   [`crate::store::failures`]); `op` is one of a fixed list.
//!
//! Keys are labelled by id and redacted hint, never the secret. Label cardinality is bounded:
//! a model gets its own label only once an upstream answered it ok (so names clients make up
//! fold into `model="other"`), at most [`MAX_MODELS`] of them; a key deleted from the pool
//! keeps counting as `key="deleted"`; a revoked client key counts as `client="revoked"`, and
//! beyond [`MAX_CLIENTS`] active client keys the least busy fold into `client="other"`.
//! So a family has at most keys × ([`MAX_MODELS`] + 1) × 6 series.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::error::GatewayError;
use crate::store::metrics::{KeyTotals, Snapshot};
use crate::store::usage::{AttemptOutcome, LATENCY_BUCKETS_SECS};

/// Models with their own label; the rest are `other`.
pub const MAX_MODELS: usize = 50;
/// Active client keys with their own label; the rest are `other`.
pub const MAX_CLIENTS: usize = 200;
/// The content type of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The `reason` label of a request gempool refused itself. A fixed, short list.
pub fn refusal_reason(error: &GatewayError) -> &'static str {
    match error {
        GatewayError::InvalidRequest { .. } => "invalid_request",
        GatewayError::Unauthenticated(_) => "unauthenticated",
        GatewayError::PermissionDenied(_) => "permission_denied",
        GatewayError::NotFound(_) | GatewayError::ModelNotFound(_) => "not_found",
        GatewayError::MethodNotAllowed { .. } => "method_not_allowed",
        GatewayError::BodyTooLarge { .. } => "too_large",
        // Refused before the pool: the client's own limits. After the pool: every key cools.
        GatewayError::RateLimited { .. } => "client_limit",
        GatewayError::NoKeys(_) => "no_keys",
        GatewayError::HolderUnavailable { .. } => "holder_unavailable",
        GatewayError::Upstream { .. }
        | GatewayError::UpstreamStatus(_)
        | GatewayError::Overloaded { .. }
        | GatewayError::Timeout(_)
        | GatewayError::StreamTruncated => "upstream",
        GatewayError::Store(_) | GatewayError::Internal(_) => "internal",
        GatewayError::NotInThisBuild(_) => "not_in_this_build",
    }
}

/// The reason recorded when every key tried was cooling down (or became so).
pub const KEYS_COOLING: &str = "keys_cooling";

/// Escapes a label value (backslash, double quote, newline).
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Writes families: `# HELP`, `# TYPE`, then samples, each family once.
struct Writer {
    out: String,
}

impl Writer {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        self.out
            .push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(&format!("{k}=\"{}\"", escape(v)));
            }
            self.out.push('}');
        }
        self.out.push_str(&format!(" {value}\n"));
    }
}

/// A key's labels: id and hint, or `deleted` for usage of keys no longer in the pool.
struct KeyLabel {
    key: String,
    hint: String,
}

/// Which model names get their own label: answered ok at least once, the busiest first.
fn labelled_models(totals: &[KeyTotals]) -> HashSet<String> {
    let mut per_model: HashMap<&str, (i64, i64)> = HashMap::new();
    for t in totals {
        let entry = per_model.entry(&t.model).or_default();
        entry.0 += t.ok();
        entry.1 += t.requests;
    }
    let mut models: Vec<(&str, i64)> = per_model
        .into_iter()
        .filter(|(_, (ok, _))| *ok > 0)
        .map(|(m, (_, requests))| (m, requests))
        .collect();
    crate::sort::sort_by(&mut models, |a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    models.into_iter().take(MAX_MODELS).map(|(m, _)| m.to_owned()).collect()
}

fn model_label<'a>(labelled: &HashSet<String>, model: &'a str) -> &'a str {
    if labelled.contains(model) {
        model
    } else {
        "other"
    }
}

/// Renders a snapshot taken at `now_ms`.
pub fn render(snapshot: &Snapshot, now_ms: i64) -> String {
    let mut w = Writer {
        out: String::with_capacity(4096 + snapshot.key_totals.len() * 1024),
    };
    let models = labelled_models(&snapshot.key_totals);
    let key_labels: HashMap<i64, KeyLabel> = snapshot
        .keys
        .iter()
        .map(|k| {
            (
                k.id,
                KeyLabel {
                    key: k.id.to_string(),
                    hint: k.hint.clone(),
                },
            )
        })
        .collect();
    let deleted = KeyLabel {
        key: "deleted".into(),
        hint: String::new(),
    };
    // Folding (other models, deleted keys) merges rows: sum them per label set first.
    let mut per_key_model: BTreeMap<(i64, String), KeyTotals> = BTreeMap::new();
    for t in &snapshot.key_totals {
        let key = if key_labels.contains_key(&t.key_id) {
            t.key_id
        } else {
            -1
        };
        let model = model_label(&models, &t.model).to_owned();
        let sum = per_key_model.entry((key, model)).or_default();
        sum.requests += t.requests;
        sum.errors += t.errors;
        sum.rate_limited += t.rate_limited;
        sum.invalid += t.invalid;
        sum.overloaded += t.overloaded;
        sum.timeouts += t.timeouts;
        sum.prompt_tokens += t.prompt_tokens;
        sum.candidate_tokens += t.candidate_tokens;
        sum.thought_tokens += t.thought_tokens;
        sum.ok_latency_ms += t.ok_latency_ms;
        for (s, b) in sum.latency_buckets.iter_mut().zip(t.latency_buckets) {
            *s += b;
        }
    }
    let label_of = |id: i64| key_labels.get(&id).unwrap_or(&deleted);

    w.family(
        "gempool_upstream_requests_total",
        "counter",
        "Upstream attempts per pool key and model, by outcome.",
    );
    for ((id, model), t) in &per_key_model {
        let k = label_of(*id);
        let other = (t.errors - t.rate_limited - t.invalid - t.overloaded - t.timeouts).max(0);
        for outcome in AttemptOutcome::ALL {
            let value = match outcome {
                AttemptOutcome::Ok => t.ok(),
                AttemptOutcome::RateLimited => t.rate_limited,
                AttemptOutcome::Invalid => t.invalid,
                AttemptOutcome::Overloaded => t.overloaded,
                AttemptOutcome::Timeout => t.timeouts,
                AttemptOutcome::Error => other,
            };
            w.sample(
                "gempool_upstream_requests_total",
                &[
                    ("key", &k.key),
                    ("hint", &k.hint),
                    ("model", model),
                    ("outcome", outcome.name()),
                ],
                value,
            );
        }
    }

    w.family(
        "gempool_tokens_total",
        "counter",
        "Tokens per pool key and model, from the upstream's usageMetadata.",
    );
    for ((id, model), t) in &per_key_model {
        let k = label_of(*id);
        for (kind, value) in [
            ("prompt", t.prompt_tokens),
            ("output", t.candidate_tokens),
            ("thoughts", t.thought_tokens),
        ] {
            w.sample(
                "gempool_tokens_total",
                &[("key", &k.key), ("hint", &k.hint), ("model", model), ("kind", kind)],
                value,
            );
        }
    }

    w.family(
        "gempool_upstream_seconds",
        "histogram",
        "Time of ok upstream attempts per model, from sending to the end of the answer.",
    );
    let mut per_model: BTreeMap<&str, KeyTotals> = BTreeMap::new();
    for ((_, model), t) in &per_key_model {
        let sum = per_model.entry(model).or_default();
        sum.requests += t.ok();
        sum.ok_latency_ms += t.ok_latency_ms;
        for (s, b) in sum.latency_buckets.iter_mut().zip(t.latency_buckets) {
            *s += b;
        }
    }
    for (model, t) in &per_model {
        let mut cumulative = 0;
        for (le, count) in LATENCY_BUCKETS_SECS.iter().zip(t.latency_buckets) {
            cumulative += count;
            w.sample(
                "gempool_upstream_seconds_bucket",
                &[("model", model), ("le", &le.to_string())],
                cumulative,
            );
        }
        w.sample(
            "gempool_upstream_seconds_bucket",
            &[("model", model), ("le", "+Inf")],
            t.requests.max(cumulative),
        );
        w.sample(
            "gempool_upstream_seconds_sum",
            &[("model", model)],
            format_args!("{:.3}", t.ok_latency_ms as f64 / 1000.0),
        );
        w.sample(
            "gempool_upstream_seconds_count",
            &[("model", model)],
            t.requests.max(cumulative),
        );
    }

    render_clients(&mut w, snapshot, &models);

    w.family(
        "gempool_key_state",
        "gauge",
        "State of each pool key: 1 for the states it is in (enabled, disabled, breaker_open).",
    );
    for k in &snapshot.keys {
        let label = label_of(k.id);
        let breaker_open = k.enabled && k.breaker_open_until.is_some_and(|until| until > now_ms);
        for (state, on) in [
            ("enabled", k.enabled),
            ("disabled", !k.enabled),
            ("breaker_open", breaker_open),
        ] {
            w.sample(
                "gempool_key_state",
                &[("key", &label.key), ("hint", &label.hint), ("state", state)],
                u8::from(on),
            );
        }
    }

    w.family(
        "gempool_key_cooldown_seconds",
        "gauge",
        "Seconds until a pool key may be used again for a model (cooldowns in force only).",
    );
    let mut cooling: BTreeMap<(i64, &str), i64> = BTreeMap::new();
    for c in &snapshot.cooldowns {
        if key_labels.contains_key(&c.key_id) {
            let left = cooling.entry((c.key_id, model_label(&models, &c.model))).or_default();
            *left = (*left).max(c.until - now_ms);
        }
    }
    for ((id, model), left_ms) in cooling {
        let k = label_of(id);
        w.sample(
            "gempool_key_cooldown_seconds",
            &[("key", &k.key), ("hint", &k.hint), ("model", model)],
            format_args!("{:.3}", left_ms.max(0) as f64 / 1000.0),
        );
    }

    w.family(
        "gempool_requests_refused_total",
        "counter",
        "Requests gempool answered itself, without an upstream answer, by reason.",
    );
    for (reason, requests) in &snapshot.refusals {
        w.sample("gempool_requests_refused_total", &[("reason", reason)], requests);
    }

    w.family(
        "gempool_store_write_failures_total",
        "counter",
        "Bookkeeping writes to the store that failed (the request was answered anyway), by operation.",
    );
    for (op, failures) in &snapshot.write_failures {
        w.sample("gempool_store_write_failures_total", &[("op", op)], failures);
    }
    w.out
}

/// The client families.
fn render_clients(w: &mut Writer, snapshot: &Snapshot, models: &HashSet<String>) {
    // The busiest active clients keep their own label.
    let mut busy: HashMap<i64, i64> = HashMap::new();
    for t in &snapshot.client_totals {
        *busy.entry(t.client_id).or_default() += t.ok + t.rate_limited + t.rejected_4xx + t.failed_5xx;
    }
    let mut active: Vec<_> = snapshot.clients.iter().filter(|c| !c.revoked).collect();
    crate::sort::sort_by(&mut active, |a, b| {
        busy.get(&b.id)
            .unwrap_or(&0)
            .cmp(busy.get(&a.id).unwrap_or(&0))
            .then(a.id.cmp(&b.id))
    });
    let named: HashMap<i64, (String, &str)> = active
        .into_iter()
        .take(MAX_CLIENTS)
        .map(|c| (c.id, (c.id.to_string(), c.name.as_str())))
        .collect();
    let revoked: HashSet<i64> = snapshot.clients.iter().filter(|c| c.revoked).map(|c| c.id).collect();
    let mut sums: BTreeMap<(String, String, String), [i64; 6]> = BTreeMap::new();
    for t in &snapshot.client_totals {
        let (client, name) = match named.get(&t.client_id) {
            Some((id, name)) => (id.clone(), (*name).to_owned()),
            None if revoked.contains(&t.client_id) => ("revoked".into(), String::new()),
            None => ("other".into(), String::new()),
        };
        let sum = sums
            .entry((client, name, model_label(models, &t.model).to_owned()))
            .or_default();
        for (s, v) in sum.iter_mut().zip([
            t.ok,
            t.rate_limited,
            t.rejected_4xx,
            t.failed_5xx,
            t.prompt_tokens,
            t.output_tokens,
        ]) {
            *s += v;
        }
    }
    w.family(
        "gempool_client_requests_total",
        "counter",
        "Requests per client key and model, by final status class.",
    );
    for ((client, name, model), s) in &sums {
        for (status, value) in [("2xx", s[0]), ("429", s[1]), ("4xx", s[2]), ("5xx", s[3])] {
            w.sample(
                "gempool_client_requests_total",
                &[("client", client), ("name", name), ("model", model), ("status", status)],
                value,
            );
        }
    }
    w.family(
        "gempool_client_tokens_total",
        "counter",
        "Tokens per client key and model (output includes thoughts).",
    );
    for ((client, name, model), s) in &sums {
        for (kind, value) in [("prompt", s[4]), ("output", s[5])] {
            w.sample(
                "gempool_client_tokens_total",
                &[("client", client), ("name", name), ("model", model), ("kind", kind)],
                value,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::metrics::snapshot;
    use crate::store::testing::MemoryDb;
    use crate::store::usage::{self, AttemptOutcome, Tokens};
    use crate::store::{clients, keys, Database};

    const NOW: i64 = 1_795_305_600_000 + 10 * 3_600_000;

    fn sample(text: &str, line_start: &str) -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(line_start) && l[line_start.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    #[test]
    fn renders_every_family_from_sql_without_secrets() {
        let db = MemoryDb::new();
        let a = keys::add(&db, "AIzaSySecretKeyNumberOne000000000000001", None, None, None, NOW)
            .unwrap()
            .unwrap();
        let b = keys::add(&db, "AIzaSySecretKeyNumberTwo000000000000002", None, None, None, NOW)
            .unwrap()
            .unwrap();
        let gone = keys::add(&db, "a-key-that-will-be-deleted", None, None, None, NOW)
            .unwrap()
            .unwrap();
        let t = Tokens {
            prompt: 10,
            candidates: 4,
            thoughts: 3,
        };
        let none = Tokens::default();
        let m = "gemini-2.5-flash";
        usage::record_key_attempt(&db, a, m, NOW, AttemptOutcome::Ok, t, 1500).unwrap();
        usage::record_key_attempt(&db, a, m, NOW - 86_400_000, AttemptOutcome::Ok, t, 30_000).unwrap();
        usage::record_key_attempt(&db, a, m, NOW, AttemptOutcome::RateLimited, none, 5).unwrap();
        usage::record_key_attempt(&db, b, m, NOW, AttemptOutcome::Timeout, none, 5).unwrap();
        usage::record_key_attempt(&db, b, m, NOW, AttemptOutcome::Overloaded, none, 5).unwrap();
        usage::record_key_attempt(&db, b, m, NOW, AttemptOutcome::Invalid, none, 5).unwrap();
        usage::record_key_attempt(&db, b, m, NOW, AttemptOutcome::Error, none, 5).unwrap();
        // A made-up model (only ever a client fault) folds into "other".
        usage::record_key_attempt(&db, b, "made-up-model", NOW, AttemptOutcome::Error, none, 5).unwrap();
        usage::record_key_attempt(&db, gone, m, NOW, AttemptOutcome::Ok, t, 100).unwrap();
        keys::delete(&db, gone).unwrap();
        db.execute(
            "INSERT INTO cooldowns (key_id, model, until, reason) VALUES (?, ?, ?, 'quota')",
            &[a.into(), m.into(), (NOW + 20_000).into()],
        )
        .unwrap();
        keys::set_enabled(&db, b, false, Some("suspended"), NOW).unwrap();
        let alice = clients::create(&db, "al\"ice", "h1", "gp-…", &Default::default(), NOW).unwrap();
        usage::record_client(&db, alice, m, "2026-11-22", t, true).unwrap();
        usage::record_client_failure(&db, alice, m, "2026-11-22", 429).unwrap();
        usage::record_client_failure(&db, alice, m, "2026-11-22", 403).unwrap();
        usage::record_refusal(&db, "2026-11-22", "unauthenticated").unwrap();
        usage::record_refusal(&db, "2026-11-23", "unauthenticated").unwrap();
        let failures = crate::store::failures::WriteFailures::default();
        let failed = Err::<(), _>(crate::store::StoreError("database is locked".into()));
        failures.check(crate::store::failures::WriteOp::StreamLog, failed);
        failures.flush(&db);

        let text = render(&snapshot(&db, NOW).unwrap(), NOW);
        assert!(!text.contains("SecretKeyNumber"), "{text}");
        assert!(!text.contains("will-be-deleted"), "{text}");
        let key_a = format!("{{key=\"{a}\",hint=\"AIza…0001\",model=\"{m}\"");
        assert_eq!(
            sample(
                &text,
                &format!("gempool_upstream_requests_total{key_a},outcome=\"ok\"}}")
            ),
            Some(2.0)
        );
        assert_eq!(
            sample(
                &text,
                &format!("gempool_upstream_requests_total{key_a},outcome=\"rate_limited\"}}")
            ),
            Some(1.0)
        );
        let key_b = format!("{{key=\"{b}\",hint=\"AIza…0002\",model=\"{m}\"");
        for outcome in ["timeout", "overloaded", "invalid", "error"] {
            assert_eq!(
                sample(
                    &text,
                    &format!("gempool_upstream_requests_total{key_b},outcome=\"{outcome}\"}}")
                ),
                Some(1.0),
                "{outcome}"
            );
        }
        assert_eq!(
            sample(
                &text,
                &format!("gempool_upstream_requests_total{{key=\"{b}\",hint=\"AIza…0002\",model=\"other\",outcome=\"error\"}}")
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &text,
                &format!("gempool_upstream_requests_total{{key=\"deleted\",hint=\"\",model=\"{m}\",outcome=\"ok\"}}")
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(&text, &format!("gempool_tokens_total{key_a},kind=\"thoughts\"}}")),
            Some(6.0)
        );
        assert_eq!(
            sample(&text, &format!("gempool_tokens_total{key_a},kind=\"output\"}}")),
            Some(8.0)
        );
        // 1.5 s, 30 s and 0.1 s ok attempts.
        let bucket = |le: &str| {
            sample(
                &text,
                &format!("gempool_upstream_seconds_bucket{{model=\"{m}\",le=\"{le}\"}}"),
            )
        };
        assert_eq!(
            (bucket("1"), bucket("2"), bucket("20"), bucket("60"), bucket("+Inf")),
            (Some(1.0), Some(2.0), Some(2.0), Some(3.0), Some(3.0))
        );
        assert_eq!(
            sample(&text, &format!("gempool_upstream_seconds_sum{{model=\"{m}\"}}")),
            Some(31.6)
        );
        assert_eq!(
            sample(&text, &format!("gempool_upstream_seconds_count{{model=\"{m}\"}}")),
            Some(3.0)
        );
        let client = format!("{{client=\"{alice}\",name=\"al\\\"ice\",model=\"{m}\"");
        assert_eq!(
            sample(
                &text,
                &format!("gempool_client_requests_total{client},status=\"2xx\"}}")
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &text,
                &format!("gempool_client_requests_total{client},status=\"429\"}}")
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &text,
                &format!("gempool_client_requests_total{client},status=\"4xx\"}}")
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(&text, &format!("gempool_client_tokens_total{client},kind=\"output\"}}")),
            Some(7.0)
        );
        let state = |key: i64, hint: &str, s: &str| {
            sample(
                &text,
                &format!("gempool_key_state{{key=\"{key}\",hint=\"{hint}\",state=\"{s}\"}}"),
            )
        };
        assert_eq!(state(a, "AIza…0001", "enabled"), Some(1.0));
        assert_eq!(state(b, "AIza…0002", "disabled"), Some(1.0));
        assert_eq!(state(b, "AIza…0002", "enabled"), Some(0.0));
        assert_eq!(
            sample(
                &text,
                &format!("gempool_key_cooldown_seconds{{key=\"{a}\",hint=\"AIza…0001\",model=\"{m}\"}}")
            ),
            Some(20.0)
        );
        assert_eq!(
            sample(&text, "gempool_requests_refused_total{reason=\"unauthenticated\"}"),
            Some(2.0)
        );
        assert_eq!(
            sample(&text, "gempool_store_write_failures_total{op=\"stream_log\"}"),
            Some(1.0)
        );
        // Every family is declared once, before its samples.
        let declared: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .map(|l| l.split(' ').next().unwrap())
            .collect();
        let unique: HashSet<&&str> = declared.iter().collect();
        assert_eq!(declared.len(), unique.len(), "{declared:?}");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn models_beyond_the_cap_fold_into_other() {
        let totals: Vec<KeyTotals> = (0..MAX_MODELS + 5)
            .map(|i| KeyTotals {
                key_id: 1,
                model: format!("m{i}"),
                requests: i as i64 + 1,
                ..Default::default()
            })
            .collect();
        let labelled = labelled_models(&totals);
        assert_eq!(labelled.len(), MAX_MODELS);
        assert!(!labelled.contains("m0"), "the least busy fold");
    }
}
