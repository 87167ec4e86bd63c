//! Gives the memory of a burst back to the operating system once the burst is over.
//!
//! Thousands of concurrent streams each leave tens of KiB in glibc's malloc arenas (hyper and
//! wasi-http buffers, stores, tasks). glibc keeps freed chunks inside its arenas, so without
//! help the process stays at its peak long after the streams ended (BENCHMARKS.md, "Concurrent
//! streams"). A thread looks every [`PERIOD`] at the most requests that were in flight at once
//! since its last trim; when at least [`BURST`] of them have finished since, it calls
//! `malloc_trim(0)`, which returns every free page of every arena, and starts counting again from
//! the requests still in flight (so a burst that drains over many periods is trimmed again at
//! its end). Quiet or steady traffic never triggers it, so the hot path pays nothing.

use std::sync::Arc;
use std::time::Duration;

use crate::metrics::Metrics;

/// How often the trimmer looks.
pub const PERIOD: Duration = Duration::from_secs(2);

/// Requests that must have finished since the period's peak before memory is trimmed.
pub const BURST: i64 = 64;

/// Whether a period that peaked at `peak` requests in flight and ends with `now` in flight
/// freed enough to trim.
pub fn burst_drained(peak: i64, now: i64) -> bool {
    peak - now >= BURST
}

/// Starts the trimmer thread; it ends with the process.
pub fn start_trimmer(metrics: Arc<Metrics>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("gempool-trim".into())
        .spawn(move || {
            let mut peak_since_trim = 0;
            loop {
                std::thread::sleep(PERIOD);
                peak_since_trim = peak_since_trim.max(metrics.take_peak_in_flight());
                let now = metrics.in_flight();
                if burst_drained(peak_since_trim, now) {
                    let released = trim();
                    tracing::debug!(
                        peak_since_trim,
                        released,
                        "returned free memory to the OS after a burst"
                    );
                    peak_since_trim = now;
                }
            }
        })
        .map(drop)
}

/// Returns free memory of the C allocator to the OS; whether any was returned.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() -> bool {
    // SAFETY: malloc_trim only walks glibc's own arenas under their locks; any thread may call it.
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0) == 1
    }
}

/// Other C libraries give memory back on their own (or offer no way to ask).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_drained_burst_trims() {
        assert!(!burst_drained(0, 0), "idle");
        assert!(!burst_drained(500, 480), "steady load");
        assert!(burst_drained(2_000, 3), "a burst of streams ended");
        assert!(burst_drained(BURST, 0));
    }

    #[test]
    fn the_peak_covers_one_period_and_restarts_at_the_current_count() {
        let metrics = Arc::new(Metrics::default());
        let guards: Vec<_> = (0..100).map(|_| metrics.request_started()).collect();
        drop(guards);
        assert_eq!(metrics.in_flight(), 0, "every guard dropped");
        assert_eq!(metrics.take_peak_in_flight(), 100);
        assert_eq!(
            metrics.take_peak_in_flight(),
            0,
            "the next period starts at the current count"
        );
    }
}
