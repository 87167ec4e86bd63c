//! What the machine and gempool say: `/metrics`, CPU ticks, memory, load average.

use super::*;

/// The `/metrics` figures we use.
#[derive(Default, Clone, Copy)]
pub(super) struct Scrape {
    pub(super) instantiate_sum: f64,
    pub(super) instantiate_count: f64,
    pub(super) request_sum: f64,
    pub(super) request_count: f64,
    /// The component's SQL statements, and those that could write (hosts from issue 10 on).
    pub(super) sql_statements: f64,
    pub(super) sql_writes: f64,
}

impl Scrape {
    pub(super) fn minus(self, before: Scrape) -> Scrape {
        Scrape {
            instantiate_sum: self.instantiate_sum - before.instantiate_sum,
            instantiate_count: self.instantiate_count - before.instantiate_count,
            request_sum: self.request_sum - before.request_sum,
            request_count: self.request_count - before.request_count,
            sql_statements: self.sql_statements - before.sql_statements,
            sql_writes: self.sql_writes - before.sql_writes,
        }
    }

    /// SQL statements and writes per request (the scrape's own SQL included).
    pub(super) fn sql_per_request(&self) -> (f64, f64) {
        let n = self.request_count.max(1.0);
        (self.sql_statements / n, self.sql_writes / n)
    }

    pub(super) fn mean_instantiate_us(&self) -> f64 {
        mean_us(self.instantiate_sum, self.instantiate_count)
    }

    pub(super) fn mean_head_us(&self) -> f64 {
        mean_us(self.request_sum, self.request_count)
    }
}

/// CPU time of the gempool process and of the whole machine, to tell "slow" from "busy".
#[derive(Default, Clone, Copy)]
pub(super) struct Cpu {
    /// utime + stime of gempool, in clock ticks.
    pub(super) process_ticks: u64,
    /// Busy and total ticks over all CPUs (`/proc/stat`).
    pub(super) machine_busy: u64,
    pub(super) machine_total: u64,
    pub(super) at: Option<Instant>,
}

/// Clock ticks per second of `/proc` figures (USER_HZ, 100 on Linux).
pub(super) const TICKS_PER_SECOND: f64 = 100.0;

impl Cpu {
    pub(super) fn sample(pid: u32) -> Cpu {
        let process_ticks = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| {
                // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
                let rest = stat.rsplit_once(')')?.1;
                let fields: Vec<&str> = rest.split_whitespace().collect();
                Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
            })
            .unwrap_or(0);
        let (machine_busy, machine_total) = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|stat| {
                let line = stat.lines().next()?;
                let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
                let total: u64 = v.iter().take(8).sum();
                let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
                Some((total - idle, total))
            })
            .unwrap_or((0, 0));
        Cpu {
            process_ticks,
            machine_busy,
            machine_total,
            at: Some(Instant::now()),
        }
    }
}

/// What a gempool phase cost: CPU per request and how busy the machine was.
#[derive(Default, Clone, Copy)]
pub(super) struct CpuUse {
    /// gempool CPU time per completed request, microseconds.
    pub(super) gempool_us_per_request: f64,
    /// gempool CPU time over wall time (1.0 = one full core).
    pub(super) gempool_cores: f64,
    /// Share of all CPUs busy during the phase (everything: mock, load generator, gempool, others).
    pub(super) machine_busy: f64,
}

impl CpuUse {
    pub(super) fn between(before: Cpu, after: Cpu, requests: u64) -> CpuUse {
        let seconds = (after.process_ticks.saturating_sub(before.process_ticks)) as f64 / TICKS_PER_SECOND;
        let wall = match (before.at, after.at) {
            (Some(a), Some(b)) => (b - a).as_secs_f64(),
            _ => 0.0,
        };
        let total = after.machine_total.saturating_sub(before.machine_total) as f64;
        CpuUse {
            gempool_us_per_request: if requests > 0 {
                seconds * 1e6 / requests as f64
            } else {
                0.0
            },
            gempool_cores: if wall > 0.0 { seconds / wall } else { 0.0 },
            machine_busy: if total > 0.0 {
                after.machine_busy.saturating_sub(before.machine_busy) as f64 / total
            } else {
                0.0
            },
        }
    }
}

pub(super) fn mean_us(sum: f64, count: f64) -> f64 {
    if count > 0.0 {
        sum / count * 1e6
    } else {
        0.0
    }
}

/// `GET /metrics` of gempool (a blocking client: called between phases).
/// `/metrics` is the component's, behind the admin key; the host appends its own figures.
pub(super) fn scrape((addr, admin_key): &(SocketAddr, String)) -> anyhow::Result<Scrape> {
    let response = crate::http::Client::new(format!("http://{addr}"))
        .get("/metrics")
        .bearer(admin_key)
        .timeout(Duration::from_secs(5))
        .try_send()
        .map_err(|e| anyhow::anyhow!("GET /metrics: {e}"))?;
    if response.status != 200 {
        bail!("GET /metrics answered {}", response.status);
    }
    let text = String::from_utf8_lossy(&response.body);
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or(0.0)
    };
    Ok(Scrape {
        instantiate_sum: value("gempool_instantiate_seconds_sum"),
        instantiate_count: value("gempool_instantiate_seconds_count"),
        request_sum: value("gempool_request_seconds_sum"),
        request_count: value("gempool_request_seconds_count"),
        sql_statements: value("gempool_sql_statements_total"),
        sql_writes: value("gempool_sql_writes_total"),
    })
}

/// A `kB` field of `/proc/<pid>/status` (Linux only).
pub fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    kib_field(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?, field)
}

/// `Field:   123 kB` in the text of a `/proc` file (`status`, `smaps_rollup`).
pub fn kib_field(text: &str, field: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// The first three fields of `/proc/loadavg` (other work on the machine skews every figure).
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "n/a".to_string())
}

pub(super) fn component_path(args: &Args) -> Option<PathBuf> {
    args.component
        .clone()
        .or_else(|| std::env::var_os("GEMPOOL_GUEST_WASM").map(PathBuf::from))
        .or_else(|| Some(workspace_root().join("target/wasm/wasm32-wasip2/guest/gempool_guest.wasm")))
}
