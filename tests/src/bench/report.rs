//! The table and the JSON figures.

use super::*;

/// Everything measured.
pub(super) struct Report {
    pub(super) args: Args,
    pub(super) names: Vec<&'static str>,
    pub(super) saturation: Vec<Saturation>,
    pub(super) open_loop: Vec<OpenLoop>,
    pub(super) cpu_saturation: Vec<CpuUse>,
    pub(super) cpu_open_loop: Vec<CpuUse>,
    pub(super) cpu_openai: CpuUse,
    pub(super) stream_direct: Streaming,
    pub(super) stream_gempool: Streaming,
    pub(super) openai: Saturation,
    pub(super) metrics_saturation: Option<Scrape>,
    pub(super) metrics_open_loop: Option<Scrape>,
    pub(super) metrics_openai: Option<Scrape>,
    pub(super) metrics_total: Scrape,
    pub(super) startup_hwm_kib: Option<u64>,
    pub(super) peak_hwm_kib: Option<u64>,
    pub(super) rss_kib: Option<u64>,
    pub(super) component_bytes: Option<u64>,
    pub(super) binary_bytes: Option<u64>,
    pub(super) loadavg_before: String,
    pub(super) loadavg_after: String,
}

impl Report {
    pub(super) fn new(args: &Args, targets: &[Target]) -> Report {
        Report {
            args: args.clone(),
            names: targets.iter().map(|t| t.name).collect(),
            saturation: targets.iter().map(|_| Saturation::default()).collect(),
            open_loop: targets.iter().map(|_| OpenLoop::default()).collect(),
            cpu_saturation: vec![CpuUse::default(); targets.len()],
            cpu_open_loop: vec![CpuUse::default(); targets.len()],
            cpu_openai: CpuUse::default(),
            stream_direct: Streaming::default(),
            stream_gempool: Streaming::default(),
            openai: Saturation::default(),
            metrics_saturation: None,
            metrics_open_loop: None,
            metrics_openai: None,
            metrics_total: Scrape::default(),
            startup_hwm_kib: None,
            peak_hwm_kib: None,
            rss_kib: None,
            component_bytes: None,
            binary_bytes: None,
            loadavg_before: String::new(),
            loadavg_after: String::new(),
        }
    }

    pub(super) fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| *n == name)
    }

    pub(super) fn tallies(&self) -> Vec<&Tally> {
        let mut all: Vec<&Tally> = self.saturation.iter().map(|s| &s.tally).collect();
        all.extend(self.open_loop.iter().map(|o| &o.tally));
        all.extend([&self.stream_direct.ttfb, &self.stream_gempool.ttfb, &self.openai.tally]);
        all
    }

    pub(super) fn failed(&self) -> bool {
        self.tallies().iter().any(|t| t.non_200 > 0 || t.errors > 0)
    }

    pub(super) fn table(&self) -> String {
        let a = &self.args;
        let g = self.index("gempool").expect("gempool is always measured");
        let d = self.index("direct").expect("direct is always measured");
        let n = self.index("nginx");
        let mut out = String::new();
        crate::best_effort(writeln!(
            out,
            "\ngempool-bench: POST {MODEL_PATH}:generateContent, {} B body; {} cores; {} s per phase{}",
            self.args_body_len(),
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            a.duration,
            if a.quick { " (--quick)" } else { "" }
        ));
        let mut header = format!("{:<36}{:>12}", "", "direct");
        if n.is_some() {
            crate::best_effort(write!(header, "{:>12}", "nginx"));
        }
        crate::best_effort(write!(header, "{:>12}{:>16}", "gempool", "gempool/direct"));
        if n.is_some() {
            crate::best_effort(write!(header, "{:>15}", "gempool/nginx"));
        }
        crate::best_effort(writeln!(out, "{header}"));
        crate::best_effort(writeln!(out, "{}", "-".repeat(header.len())));

        let row = |out: &mut String, label: &str, values: &dyn Fn(usize) -> f64, decimals: usize| {
            let mut line = format!("{label:<36}{:>12.*}", decimals, values(d));
            if let Some(n) = n {
                crate::best_effort(write!(line, "{:>12.*}", decimals, values(n)));
            }
            crate::best_effort(write!(line, "{:>12.*}", decimals, values(g)));
            // A ratio of CPU shares says nothing; only figures of the proxies get one.
            if !label.contains("CPU") {
                crate::best_effort(write!(line, "{:>16}", ratio(values(g), values(d))));
                if let Some(n) = n {
                    crate::best_effort(write!(line, "{:>15}", ratio(values(g), values(n))));
                }
            }
            crate::best_effort(writeln!(out, "{line}"));
        };
        let sat_label = format!("saturation req/s ({} conns)", a.connections);
        row(&mut out, &sat_label, &|i| self.saturation[i].rps, 0);
        row(
            &mut out,
            "  mean latency at saturation (ms)",
            &|i| mean_ms(&self.saturation[i].tally),
            2,
        );
        row(
            &mut out,
            "  machine CPU busy (%)",
            &|i| self.cpu_saturation[i].machine_busy * 100.0,
            0,
        );
        let ol = |p: f64| move |i: usize| self.open_loop[i].tally.percentile_ms(p);
        row(&mut out, &format!("open loop {} rps: p50 (ms)", a.rate), &ol(50.0), 2);
        row(&mut out, "  p90 (ms)", &ol(90.0), 2);
        row(&mut out, "  p99 (ms)", &ol(99.0), 2);
        row(&mut out, "  max (ms)", &ol(100.0), 2);
        row(&mut out, "  achieved req/s", &|i| self.open_loop[i].achieved_rps, 0);
        row(
            &mut out,
            "  machine CPU busy (%)",
            &|i| self.cpu_open_loop[i].machine_busy * 100.0,
            0,
        );
        crate::best_effort(writeln!(out));

        let (sd, sg) = (&self.stream_direct, &self.stream_gempool);
        crate::best_effort(writeln!(
            out,
            "{:<36}{:>12}{:>12}{:>16}",
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
                "{label:<36}{:>12.2}{:>12.2}{:>16}",
                get(sd),
                get(sg),
                ratio(get(sg), get(sd))
            ));
        }
        crate::best_effort(writeln!(out));
        let native = self.saturation[g].rps;
        crate::best_effort(writeln!(
            out,
            "{:<36}{:>12}{:>12}{:>16}",
            format!("gempool saturation ({} conns)", a.connections),
            "native",
            "openai",
            "openai/native"
        ));
        crate::best_effort(writeln!(
            out,
            "{:<36}{:>12.0}{:>12.0}{:>16}",
            "  req/s",
            native,
            self.openai.rps,
            ratio(self.openai.rps, native)
        ));
        crate::best_effort(writeln!(out));

        crate::best_effort(writeln!(out, "gempool /metrics (host side, per request):"));
        let phases = [
            ("native saturation", self.metrics_saturation),
            ("native open loop", self.metrics_open_loop),
            ("openai saturation", self.metrics_openai),
            ("whole run", Some(self.metrics_total)),
        ];
        for (label, scrape) in phases {
            if let Some(s) = scrape {
                crate::best_effort(writeln!(
                    out,
                    "  {label:<20} instantiate {:>8.1} us   request -> response head {:>9.1} us   SQL {:>5.2} statements {:>5.2} writes   (n = {})",
                    s.mean_instantiate_us(),
                    s.mean_head_us(),
                    s.sql_per_request().0,
                    s.sql_per_request().1,
                    s.request_count
                ));
            }
        }
        crate::best_effort(writeln!(out, "gempool process CPU (from /proc/<pid>/stat):"));
        for (label, cpu) in [
            ("native saturation", self.cpu_saturation[g]),
            ("native open loop", self.cpu_open_loop[g]),
            ("openai saturation", self.cpu_openai),
        ] {
            crate::best_effort(writeln!(
                out,
                "  {label:<20} {:>8.0} us CPU per request   {:>5.2} cores busy",
                cpu.gempool_us_per_request, cpu.gempool_cores
            ));
        }
        let mib = |k: Option<u64>| k.map_or("n/a".to_string(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
        crate::best_effort(writeln!(
            out,
            "gempool memory: peak RSS (VmHWM) {} (after start-up {}), RSS at the end {}",
            mib(self.peak_hwm_kib),
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

        crate::best_effort(writeln!(out));
        let mut problems = Vec::new();
        let phases = (self.names.iter().zip(&self.saturation)).map(|(n, s)| (format!("{n} saturation"), &s.tally));
        let phases = phases
            .chain((self.names.iter().zip(&self.open_loop)).map(|(n, o)| (format!("{n} open loop"), &o.tally)))
            .chain([
                ("direct stream".to_string(), &self.stream_direct.ttfb),
                ("gempool stream".to_string(), &self.stream_gempool.ttfb),
                ("gempool openai".to_string(), &self.openai.tally),
            ]);
        for (phase, tally) in phases {
            if tally.non_200 > 0 || tally.errors > 0 {
                problems.push(format!(
                    "  {phase}: {} non-200, {} errors; first: {}",
                    tally.non_200,
                    tally.errors,
                    tally.first_problem.as_deref().unwrap_or("?")
                ));
            }
        }
        let total_ok: u64 = self.tallies().iter().map(|t| t.ok).sum();
        if problems.is_empty() {
            crate::best_effort(writeln!(out, "all {total_ok} measured requests answered 200"));
        } else {
            crate::best_effort(writeln!(out, "FAILURES ({total_ok} requests answered 200):"));
            for p in problems {
                crate::best_effort(writeln!(out, "{p}"));
            }
        }
        let lags: Vec<String> = self
            .names
            .iter()
            .zip(&self.open_loop)
            .map(|(n, o)| format!("{n} {:.2} ms", o.max_dispatch_lag_us as f64 / 1000.0))
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

    pub(super) fn args_body_len(&self) -> usize {
        generate_body(self.args.body_bytes).len()
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
        for (i, name) in self.names.iter().enumerate() {
            targets.insert(
                name.to_string(),
                json!({
                    "saturation_rps": self.saturation[i].rps,
                    "saturation": tally(&self.saturation[i].tally),
                    "open_loop_rps": self.open_loop[i].achieved_rps,
                    "open_loop": tally(&self.open_loop[i].tally),
                }),
            );
        }
        json!({
            "duration_s": self.args.duration,
            "rate": self.args.rate,
            "connections": self.args.connections,
            "targets": targets,
            "stream": {"direct": tally(&self.stream_direct.ttfb), "gempool": tally(&self.stream_gempool.ttfb)},
            "openai": {"rps": self.openai.rps, "tally": tally(&self.openai.tally)},
            "metrics": {
                "saturation": scrape(self.metrics_saturation),
                "open_loop": scrape(self.metrics_open_loop),
                "openai": scrape(self.metrics_openai),
                "total": scrape(Some(self.metrics_total)),
            },
            "gempool_cpu_us_per_request": {
                "saturation": self.cpu_saturation.get(self.index("gempool").unwrap_or(0)).map(|c| c.gempool_us_per_request),
                "openai": self.cpu_openai.gempool_us_per_request,
            },
            "peak_rss_kib": self.peak_hwm_kib,
            "component_bytes": self.component_bytes,
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
