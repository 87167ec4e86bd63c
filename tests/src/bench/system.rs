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

/// CPU time of a proxy's process tree and of the whole machine, to tell "slow" from "busy".
#[derive(Default, Clone, Copy)]
pub(super) struct Cpu {
    /// utime + stime of the process tree, in clock ticks.
    pub(super) process_ticks: u64,
    /// Busy and total ticks over all CPUs (`/proc/stat`).
    pub(super) machine_busy: u64,
    pub(super) machine_total: u64,
    pub(super) at: Option<Instant>,
}

/// Clock ticks per second of `/proc` figures (USER_HZ, 100 on Linux).
pub(super) const TICKS_PER_SECOND: f64 = 100.0;

/// The fields of `/proc/<pid>/stat` after `(comm)`: index 0 is the state (field 3 of proc(5)).
fn stat_fields(pid: u32) -> Option<Vec<u64>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    // The state is a letter; keep the numbers after it (index 0 = ppid, field 4).
    Some(
        rest.split_whitespace()
            .skip(1)
            .map(|f| f.parse().unwrap_or(0))
            .collect(),
    )
}

/// `root` and every live descendant (by parent pid, from `/proc/*/stat`).
pub fn process_tree(root: u32) -> Vec<u32> {
    let mut children: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            if let Some(ppid) = stat_fields(pid).and_then(|f| f.first().copied()) {
                children.push((u32::try_from(ppid).unwrap_or(0), pid));
            }
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(children.iter().filter(|(p, _)| *p == parent).map(|(_, c)| *c));
        i += 1;
    }
    tree
}

/// utime + stime (+ cutime + cstime: children that ended and were reaped) of a process tree.
pub fn tree_ticks(root: u32) -> u64 {
    process_tree(root)
        .into_iter()
        .filter_map(stat_fields)
        // After the state: ppid(0) pgrp session tty tpgid flags minflt cminflt majflt cmajflt
        // utime(10) stime(11) cutime(12) cstime(13).
        .map(|f| f.iter().skip(10).take(4).sum::<u64>())
        .sum()
}

/// Sum of a `kB` field of `/proc/<pid>/status` (`VmHWM`, `VmRSS`) over a process tree.
pub fn tree_status_kib(root: u32, field: &str) -> Option<u64> {
    let values: Vec<u64> = process_tree(root)
        .into_iter()
        .filter_map(|pid| proc_status_kib(pid, field))
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// Resets the peak RSS (`VmHWM`) of every process of a tree (`clear_refs` 5); false when refused.
pub fn reset_peak_rss(root: u32) -> bool {
    process_tree(root)
        .into_iter()
        .all(|pid| std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok())
}

impl Cpu {
    /// The CPU ticks of `root`'s process tree (none: only the machine) and of the machine.
    pub(super) fn sample(root: Option<u32>) -> Cpu {
        let process_ticks = root.map_or(0, tree_ticks);
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

/// What a phase cost: the proxy's CPU per request and how busy the machine was.
#[derive(Default, Clone, Copy)]
pub(super) struct CpuUse {
    /// The proxy's CPU time per completed request, microseconds (0 without a process).
    pub(super) us_per_request: f64,
    /// The proxy's CPU time over wall time (1.0 = one full core).
    pub(super) cores: f64,
    /// Share of all CPUs busy during the phase (everything: upstream, load generator, proxy, others).
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
            us_per_request: if requests > 0 {
                seconds * 1e6 / requests as f64
            } else {
                0.0
            },
            cores: if wall > 0.0 { seconds / wall } else { 0.0 },
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

/// Sends `signal` (a `kill` name such as `TERM`, `QUIT`, `KILL`) to `pid`, ignoring failures:
/// for tearing down the proxies a bench started.
pub fn signal(pid: u32, signal: &str) {
    crate::best_effort(
        std::process::Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status(),
    );
}

/// Whether `child` exits within `patience` (polled).
pub fn exited_within(child: &mut std::process::Child, patience: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + patience;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    false
}
