//! The runner every target uses: proptest's `TestRunner` with a seed that is printed (so any
//! failure can be replayed), a per-case time limit (a sanitizer that blows up exponentially
//! fails with its input instead of stalling), a watchdog for true hangs, and an optional time
//! budget for long runs.
//!
//! Environment:
//! * `PROPTEST_CASES`: cases per batch (default: the target's own, sized for the test command,
//!   a quarter of it in debug builds);
//! * `FUZZ_SECS`: keep running fresh batches until this many seconds have passed (long runs);
//! * `FUZZ_SEED`: the first batch's seed (a `u64`), to replay a reported failure;
//! * `FUZZ_DEBUG`: the translator targets print why each body was rejected.

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use std::fmt::Debug;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One case slower than this fails the run (debug builds are ~10x slower than release).
const CASE_LIMIT: Duration = Duration::from_secs(if cfg!(debug_assertions) { 20 } else { 5 });
/// A case still running after this is a hang: the watchdog prints it and aborts the process.
const HANG_LIMIT: Duration = Duration::from_secs(120);

/// The case being run (when it started, its input), shared with the watchdog.
type InProgress<V> = Arc<Mutex<Option<(Instant, V)>>>;

/// Runs `test` on values of `strategy`; panics with the (shrunk) failing input and the seed.
pub fn run<S>(name: &str, default_cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S: Strategy,
    S::Value: Debug + Clone + Send + 'static,
{
    // Debug builds (a developer's `cargo test -p gempool-guest`) run a quarter of the cases;
    // the test command runs release.
    let default_cases = if cfg!(debug_assertions) {
        default_cases.div_ceil(4)
    } else {
        default_cases
    };
    let cases = env_u64("PROPTEST_CASES").map_or(default_cases, |c| c as u32);
    let budget = env_u64("FUZZ_SECS").map(Duration::from_secs);
    let first_seed = env_u64("FUZZ_SEED").unwrap_or_else(random_seed);
    let config = Config {
        cases,
        // Failures are reported (with their seed) instead of being written into the tree.
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..Config::default()
    };

    // Watchdog: the input of the case in progress and when it started.
    let current: InProgress<S::Value> = Arc::new(Mutex::new(None));
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let (current, done, name) = (current.clone(), done.clone(), name.to_string());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(500));
                let guard = current.lock().unwrap_or_else(|e| e.into_inner());
                if let Some((started, value)) = guard.as_ref() {
                    if started.elapsed() > HANG_LIMIT {
                        // Not `eprintln!`: the test harness would capture it and the abort loses it.
                        // A failed write changes nothing: the process aborts next either way.
                        #[allow(clippy::let_underscore_must_use)]
                        let _ = writeln!(
                            std::io::stderr(),
                            "fuzz {name}: a case has run for over {HANG_LIMIT:?} (hang); input: {value:?}"
                        );
                        std::process::abort();
                    }
                }
            }
        })
    };

    let started = Instant::now();
    let mut total: u64 = 0;
    let mut batch: u64 = 0;
    loop {
        let seed = first_seed.wrapping_add(batch);
        let mut runner = TestRunner::new_with_rng(config.clone(), rng(seed));
        let result = runner.run(&strategy, |value| {
            *current.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), value.clone()));
            let case_started = Instant::now();
            let outcome = test(value);
            let elapsed = case_started.elapsed();
            *current.lock().unwrap_or_else(|e| e.into_inner()) = None;
            outcome?;
            if elapsed > CASE_LIMIT {
                return Err(TestCaseError::fail(format!(
                    "one case took {elapsed:?} (limit {CASE_LIMIT:?})"
                )));
            }
            Ok(())
        });
        total += u64::from(cases);
        if let Err(e) = result {
            done.store(true, Ordering::Relaxed);
            match e {
                TestError::Fail(reason, value) => panic!(
                    "fuzz {name}: property failed: {reason}\nminimal input: {value:#?}\n\
                     replay with FUZZ_SEED={seed} PROPTEST_CASES={cases}"
                ),
                TestError::Abort(reason) => panic!("fuzz {name}: aborted: {reason} (FUZZ_SEED={seed})"),
            }
        }
        batch += 1;
        if budget.is_none_or(|b| started.elapsed() >= b) {
            break;
        }
    }
    // The watchdog sees `done` within one tick and ends; no need to wait for it.
    done.store(true, Ordering::Relaxed);
    drop(watchdog);
    eprintln!(
        "fuzz {name}: {total} cases in {:.1}s, all passed (FUZZ_SEED={first_seed})",
        started.elapsed().as_secs_f64()
    );
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

fn rng(seed: u64) -> TestRng {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}

/// A fresh seed per run (std's randomly keyed hasher; no extra dependency).
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}
