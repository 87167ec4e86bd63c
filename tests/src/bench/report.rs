//! The tables and the JSON figures.

use super::*;

/// What a phase cost beside its latencies.
#[derive(Default, Clone, Copy)]
pub(super) struct PhaseCost {
    /// The proxy's CPU (none for direct) and the machine's.
    pub(super) cpu: CpuUse,
    /// gempool's `/metrics` difference over the phase.
    pub(super) metrics: Option<Scrape>,
}

/// Everything measured for one column.
#[derive(Default)]
pub(super) struct Measured {
    pub(super) name: &'static str,
    pub(super) saturation: Saturation,
    pub(super) saturation_cost: PhaseCost,
    /// The closed loop on one connection.
    pub(super) one: Saturation,
    pub(super) one_cost: PhaseCost,
    pub(super) open_loop: OpenLoop,
    pub(super) open_loop_rate: u32,
    pub(super) open_loop_cost: PhaseCost,
    /// Peak RSS of the proxy's process tree (sum of `VmHWM`) after its phases.
    pub(super) peak_rss_kib: Option<u64>,
}

impl Measured {
    pub(super) fn new(name: &'static str) -> Measured {
        Measured {
            name,
            ..Measured::default()
        }
    }

    fn has_process(&self) -> bool {
        self.name != "direct"
    }

    fn label(&self) -> &'static str {
        match self.name {
            "gempool" => "gempool",
            "gempool-openai" => "gempool OpenAI",
            "litellm" => "LiteLLM",
            other => other,
        }
    }

    fn phases(&self) -> [(&'static str, &Tally); 3] {
        [
            ("saturation", &self.saturation.tally),
            ("one connection", &self.one.tally),
            ("open loop", &self.open_loop.tally),
        ]
    }
}

/// Everything measured.
pub(super) struct Report {
    pub(super) args: Args,
    pub(super) columns: Vec<Measured>,
    /// Direct at LiteLLM's open-loop rate (when LiteLLM runs at another rate).
    pub(super) direct_at_litellm_rate: Option<OpenLoop>,
    /// LiteLLM's warm-up (not measured, but its failures count).
    pub(super) litellm_warmup: Option<Tally>,
    /// Whether gempool's peak RSS was reset before the OpenAI column (else it is the whole run's).
    pub(super) openai_peak_reset: bool,
    pub(super) stream_direct: Streaming,
    pub(super) stream_gempool: Streaming,
    pub(super) metrics_total: Scrape,
    pub(super) startup_hwm_kib: Option<u64>,
    pub(super) rss_kib: Option<u64>,
    pub(super) component_bytes: Option<u64>,
    pub(super) binary_bytes: Option<u64>,
    pub(super) loadavg_before: String,
    pub(super) loadavg_after: String,
    /// One line on the LiteLLM column: its version and configuration, or why it did not run.
    pub(super) litellm: Option<String>,
    /// One line on what the static upstream answered (empty with the mock).
    pub(super) upstream: String,
}

const LABEL: usize = 40;
const COLUMN: usize = 16;

impl Report {
    pub(super) fn new(args: &Args) -> Report {
        Report {
            args: args.clone(),
            columns: Vec::new(),
            direct_at_litellm_rate: None,
            litellm_warmup: None,
            openai_peak_reset: false,
            stream_direct: Streaming::default(),
            stream_gempool: Streaming::default(),
            metrics_total: Scrape::default(),
            startup_hwm_kib: None,
            rss_kib: None,
            component_bytes: None,
            binary_bytes: None,
            loadavg_before: String::new(),
            loadavg_after: String::new(),
            litellm: None,
            upstream: String::new(),
        }
    }

    pub(super) fn column(&self, name: &str) -> Option<&Measured> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Every phase with its tally, for the failure check and the list of problems.
    fn phases(&self) -> Vec<(String, &Tally)> {
        let mut all: Vec<(String, &Tally)> = Vec::new();
        for c in &self.columns {
            for (phase, tally) in c.phases() {
                all.push((format!("{} {phase}", c.name), tally));
            }
        }
        if let Some(o) = &self.direct_at_litellm_rate {
            all.push(("direct open loop at LiteLLM's rate".to_string(), &o.tally));
        }
        if let Some(t) = &self.litellm_warmup {
            all.push(("litellm warm-up".to_string(), t));
        }
        all.push(("direct stream".to_string(), &self.stream_direct.ttfb));
        all.push(("gempool stream".to_string(), &self.stream_gempool.ttfb));
        all
    }

    pub(super) fn failed(&self) -> bool {
        self.phases().iter().any(|(_, t)| t.non_200 > 0 || t.errors > 0)
    }

    pub(super) fn table(&self) -> String {
        let a = &self.args;
        let mut out = String::new();
        crate::best_effort(writeln!(
            out,
            "\ngempool-bench: POST {MODEL_PATH}:generateContent (OpenAI columns: /v1/chat/completions), {} B body; upstream: {}; {} cores; {} s per phase{}",
            generate_body(a.body_bytes).len(),
            match a.upstream {
                UpstreamKind::Mock => "mock",
                UpstreamKind::Static => "static",
            },
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            a.duration,
            if a.quick { " (--quick)" } else { "" }
        ));
        let mut header = format!("{:<LABEL$}", "");
        for c in &self.columns {
            crate::best_effort(write!(header, "{:>COLUMN$}", c.label()));
        }
        crate::best_effort(writeln!(out, "{header}"));
        crate::best_effort(writeln!(out, "{}", "-".repeat(header.len())));

        // A row; `None` prints a dash (a figure that does not apply to that column).
        let row = |out: &mut String, label: &str, value: &dyn Fn(&Measured) -> Option<f64>, decimals: usize| {
            let mut line = format!("{label:<LABEL$}");
            for c in &self.columns {
                match value(c) {
                    Some(v) => crate::best_effort(write!(line, "{v:>COLUMN$.decimals$}")),
                    None => crate::best_effort(write!(line, "{:>COLUMN$}", "-")),
                }
            }
            crate::best_effort(writeln!(out, "{line}"));
        };
        let proxy = |c: &Measured, v: f64| c.has_process().then_some(v);

        row(
            &mut out,
            &format!("saturation req/s ({} conns)", a.connections),
            &|c| Some(c.saturation.rps),
            0,
        );
        row(
            &mut out,
            "  mean latency (ms)",
            &|c| Some(mean_ms(&c.saturation.tally)),
            2,
        );
        row(
            &mut out,
            "  proxy CPU per request (us)",
            &|c| proxy(c, c.saturation_cost.cpu.us_per_request),
            0,
        );
        row(
            &mut out,
            "  proxy cores busy",
            &|c| proxy(c, c.saturation_cost.cpu.cores),
            2,
        );
        row(
            &mut out,
            "  machine CPU busy (%)",
            &|c| Some(c.saturation_cost.cpu.machine_busy * 100.0),
            0,
        );
        row(&mut out, "one connection: req/s", &|c| Some(c.one.rps), 0);
        row(&mut out, "  p50 (ms)", &|c| Some(c.one.tally.percentile_ms(50.0)), 3);
        row(&mut out, "  p99 (ms)", &|c| Some(c.one.tally.percentile_ms(99.0)), 3);
        row(
            &mut out,
            "  proxy CPU per request (us)",
            &|c| proxy(c, c.one_cost.cpu.us_per_request),
            0,
        );
        row(
            &mut out,
            "open loop: scheduled req/s",
            &|c| Some(f64::from(c.open_loop_rate)),
            0,
        );
        for (label, p) in [
            ("  p50 (ms)", 50.0),
            ("  p90 (ms)", 90.0),
            ("  p99 (ms)", 99.0),
            ("  max (ms)", 100.0),
        ] {
            row(&mut out, label, &|c| Some(c.open_loop.tally.percentile_ms(p)), 2);
        }
        row(&mut out, "  achieved req/s", &|c| Some(c.open_loop.achieved_rps), 0);
        row(
            &mut out,
            "  proxy CPU per request (us)",
            &|c| proxy(c, c.open_loop_cost.cpu.us_per_request),
            0,
        );
        row(
            &mut out,
            "  machine CPU busy (%)",
            &|c| Some(c.open_loop_cost.cpu.machine_busy * 100.0),
            0,
        );
        row(
            &mut out,
            "peak RSS, process tree (MiB)",
            &|c| c.peak_rss_kib.map(|k| k as f64 / 1024.0),
            1,
        );
        if let Some(o) = &self.direct_at_litellm_rate {
            crate::best_effort(writeln!(
                out,
                "direct, open loop at {} req/s (LiteLLM's rate): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                a.litellm_rate,
                o.tally.percentile_ms(50.0),
                o.tally.percentile_ms(99.0),
                o.tally.percentile_ms(100.0)
            ));
        }
        crate::best_effort(writeln!(out));

        let (sd, sg) = (&self.stream_direct, &self.stream_gempool);
        crate::best_effort(writeln!(
            out,
            "{:<LABEL$}{:>COLUMN$}{:>COLUMN$}{:>COLUMN$}",
            format!("streaming, {} sequential", a.stream_requests),
            "direct",
            "gempool",
            "gempool/direct"
        ));
        for (label, p, from_total) in [
            ("  first byte p50 (ms)", 50.0, false),
            ("  first byte p99 (ms)", 99.0, false),
            ("  whole stream p50 (ms)", 50.0, true),
        ] {
            let get = |s: &Streaming| {
                if from_total {
                    percentile(&s.total, p) as f64 / 1000.0
                } else {
                    s.ttfb.percentile_ms(p)
                }
            };
            crate::best_effort(writeln!(
                out,
                "{label:<LABEL$}{:>COLUMN$.2}{:>COLUMN$.2}{:>COLUMN$}",
                get(sd),
                get(sg),
                ratio(get(sg), get(sd))
            ));
        }
        crate::best_effort(writeln!(out));

        crate::best_effort(writeln!(out, "gempool /metrics (host side, per request):"));
        let mut phases: Vec<(String, Scrape)> = Vec::new();
        for c in self.columns.iter().filter(|c| c.name.starts_with("gempool")) {
            let route = if c.name == "gempool" { "native" } else { "openai" };
            for (phase, cost) in [
                ("saturation", &c.saturation_cost),
                ("one connection", &c.one_cost),
                ("open loop", &c.open_loop_cost),
            ] {
                if let Some(s) = cost.metrics {
                    phases.push((format!("{route} {phase}"), s));
                }
            }
        }
        phases.push(("whole run".to_string(), self.metrics_total));
        for (label, s) in phases {
            let (statements, writes) = s.sql_per_request();
            crate::best_effort(writeln!(
                out,
                "  {label:<22} instantiate {:>7.1} us   request -> response head {:>9.1} us   SQL {statements:>5.2} statements {writes:>5.2} writes   (n = {})",
                s.mean_instantiate_us(),
                s.mean_head_us(),
                s.request_count
            ));
        }
        let mib = |k: Option<u64>| k.map_or("n/a".to_string(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
        crate::best_effort(writeln!(
            out,
            "gempool memory: peak RSS (VmHWM) {} native + streams, {} OpenAI phases{} (after start-up {}), RSS at the end {}",
            mib(self.column("gempool").and_then(|c| c.peak_rss_kib)),
            mib(self.column("gempool-openai").and_then(|c| c.peak_rss_kib)),
            if self.openai_peak_reset { "" } else { " (not reset: whole run)" },
            mib(self.startup_hwm_kib),
            mib(self.rss_kib)
        ));
        let size = |b: Option<u64>| {
            b.map_or("n/a".to_string(), |b| {
                format!("{b} B ({:.2} MiB)", b as f64 / 1048576.0)
            })
        };
        crate::best_effort(writeln!(
            out,
            "component: {}; gempool binary: {}",
            size(self.component_bytes),
            size(self.binary_bytes)
        ));
        if let Some(line) = &self.litellm {
            crate::best_effort(writeln!(out, "{line}"));
        }
        if !self.upstream.is_empty() {
            crate::best_effort(writeln!(out, "{}", self.upstream));
        }

        crate::best_effort(writeln!(out));
        out.push_str(&self.side_by_side());

        crate::best_effort(writeln!(out));
        let problems: Vec<String> = self
            .phases()
            .into_iter()
            .filter(|(_, t)| t.non_200 > 0 || t.errors > 0)
            .map(|(phase, t)| {
                format!(
                    "  {phase}: {} non-200, {} errors; first: {}",
                    t.non_200,
                    t.errors,
                    t.first_problem.as_deref().unwrap_or("?")
                )
            })
            .collect();
        let total_ok: u64 = self.phases().iter().map(|(_, t)| t.ok).sum();
        if problems.is_empty() {
            crate::best_effort(writeln!(out, "all {total_ok} measured requests answered 200"));
        } else {
            crate::best_effort(writeln!(out, "FAILURES ({total_ok} requests answered 200):"));
            for p in problems {
                crate::best_effort(writeln!(out, "{p}"));
            }
        }
        let lags: Vec<String> = self
            .columns
            .iter()
            .map(|c| format!("{} {:.2} ms", c.name, c.open_loop.max_dispatch_lag_us as f64 / 1000.0))
            .collect();
        crate::best_effort(writeln!(
            out,
            "open-loop scheduler: worst dispatch lag {}",
            lags.join(", ")
        ));
        crate::best_effort(writeln!(
            out,
            "load average (1/5/15 min): {} at the start, {} at the end",
            self.loadavg_before, self.loadavg_after
        ));
        out
    }

    /// The proxies side by side, as in issue 10's table: added figures are the proxy's minus
    /// direct's in the same kind of phase (open loop: direct at the same rate).
    fn side_by_side(&self) -> String {
        let mut out = String::new();
        let Some(direct) = self.column("direct") else {
            return out;
        };
        let proxies: Vec<&Measured> = self.columns.iter().filter(|c| c.has_process()).collect();
        let mut header = format!("{:<LABEL$}", "side by side");
        for c in &proxies {
            crate::best_effort(write!(header, "{:>COLUMN$}", c.label()));
        }
        crate::best_effort(writeln!(out, "{header}"));
        crate::best_effort(writeln!(out, "{}", "-".repeat(header.len())));
        let row = |out: &mut String, label: &str, value: &dyn Fn(&Measured) -> String| {
            let mut line = format!("{label:<LABEL$}");
            for c in &proxies {
                crate::best_effort(write!(line, "{:>COLUMN$}", value(c)));
            }
            crate::best_effort(writeln!(out, "{line}"));
        };
        let a = &self.args;
        row(
            &mut out,
            &format!("CPU per request, {} conns (us)", a.connections),
            &|c| format!("{:.0}", c.saturation_cost.cpu.us_per_request),
        );
        row(&mut out, "CPU per request, 1 conn (us)", &|c| {
            format!("{:.0}", c.one_cost.cpu.us_per_request)
        });
        row(&mut out, "CPU per request, open loop (us)", &|c| {
            format!("{:.0}", c.open_loop_cost.cpu.us_per_request)
        });
        row(&mut out, &format!("req/s ({} conns)", a.connections), &|c| {
            format!("{:.0}", c.saturation.rps)
        });
        let one_direct = direct.one.tally.percentile_ms(50.0);
        row(&mut out, "added p50 over direct, 1 conn (ms)", &|c| {
            format!("{:+.3}", c.one.tally.percentile_ms(50.0) - one_direct)
        });
        let direct_p99 = |rate: u32| {
            if rate == direct.open_loop_rate {
                Some(direct.open_loop.tally.percentile_ms(99.0))
            } else {
                self.direct_at_litellm_rate
                    .as_ref()
                    .map(|o| o.tally.percentile_ms(99.0))
            }
        };
        row(
            &mut out,
            "open loop p99 over direct (ms)",
            &|c| match direct_p99(c.open_loop_rate) {
                Some(d) => format!("{:+.2}", c.open_loop.tally.percentile_ms(99.0) - d),
                None => "n/a".to_string(),
            },
        );
        row(&mut out, "  at req/s", &|c| c.open_loop_rate.to_string());
        row(&mut out, "peak RSS (MiB)", &|c| {
            c.peak_rss_kib
                .map_or("n/a".to_string(), |k| format!("{:.1}", k as f64 / 1024.0))
        });
        row(
            &mut out,
            "SQL statements / writes per req",
            &|c| match c.saturation_cost.metrics {
                Some(s) => {
                    let (statements, writes) = s.sql_per_request();
                    format!("{statements:.2} / {writes:.2}")
                }
                None => "-".to_string(),
            },
        );
        out
    }

    pub(super) fn json(&self) -> Value {
        let tally = |t: &Tally| {
            json!({
                "ok": t.ok, "non_200": t.non_200, "errors": t.errors,
                "p50_ms": t.percentile_ms(50.0), "p90_ms": t.percentile_ms(90.0),
                "p99_ms": t.percentile_ms(99.0), "max_ms": t.percentile_ms(100.0),
                "first_problem": t.first_problem,
            })
        };
        let scrape = |s: Option<Scrape>| {
            s.map(|s| {
                let (statements, writes) = s.sql_per_request();
                json!({"instantiate_us": s.mean_instantiate_us(), "head_us": s.mean_head_us(), "n": s.request_count,
                       "sql_statements_per_request": statements, "sql_writes_per_request": writes})
            })
        };
        let mut targets = serde_json::Map::new();
        for c in &self.columns {
            targets.insert(
                c.name.to_string(),
                json!({
                    "saturation_rps": c.saturation.rps,
                    "saturation": tally(&c.saturation.tally),
                    "one_connection_rps": c.one.rps,
                    "one_connection": tally(&c.one.tally),
                    "open_loop_rate": c.open_loop_rate,
                    "open_loop_rps": c.open_loop.achieved_rps,
                    "open_loop": tally(&c.open_loop.tally),
                    "cpu_us_per_request": c.has_process().then(|| json!({
                        "saturation": c.saturation_cost.cpu.us_per_request,
                        "one_connection": c.one_cost.cpu.us_per_request,
                        "open_loop": c.open_loop_cost.cpu.us_per_request,
                    })),
                    "metrics": c.saturation_cost.metrics.map(|_| json!({
                        "saturation": scrape(c.saturation_cost.metrics),
                        "one_connection": scrape(c.one_cost.metrics),
                        "open_loop": scrape(c.open_loop_cost.metrics),
                    })),
                    "peak_rss_kib": c.peak_rss_kib,
                }),
            );
        }
        let openai = self.column("gempool-openai");
        let gempool = self.column("gempool");
        json!({
            "duration_s": self.args.duration,
            "rate": self.args.rate,
            "connections": self.args.connections,
            "upstream": format!("{:?}", self.args.upstream).to_lowercase(),
            "targets": targets,
            "stream": {"direct": tally(&self.stream_direct.ttfb), "gempool": tally(&self.stream_gempool.ttfb)},
            "openai": {
                "rps": openai.map_or(0.0, |c| c.saturation.rps),
                "tally": openai.map(|c| tally(&c.saturation.tally)),
            },
            "metrics": {
                "saturation": scrape(gempool.and_then(|c| c.saturation_cost.metrics)),
                "open_loop": scrape(gempool.and_then(|c| c.open_loop_cost.metrics)),
                "openai": scrape(openai.and_then(|c| c.saturation_cost.metrics)),
                "total": scrape(Some(self.metrics_total)),
            },
            "gempool_cpu_us_per_request": {
                "saturation": gempool.map(|c| c.saturation_cost.cpu.us_per_request),
                "openai": openai.map(|c| c.saturation_cost.cpu.us_per_request),
            },
            "peak_rss_kib": gempool.and_then(|c| c.peak_rss_kib),
            "component_bytes": self.component_bytes,
            "litellm": self.litellm,
            "failed": self.failed(),
        })
    }
}

pub(super) fn mean_ms(t: &Tally) -> f64 {
    if t.latencies.is_empty() {
        0.0
    } else {
        t.latencies.iter().sum::<u64>() as f64 / t.latencies.len() as f64 / 1000.0
    }
}

pub(super) fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}x", a / b)
    } else {
        "n/a".to_string()
    }
}
