//! Smoke test of the benchmark: `gempool-bench --quick` runs against the real gateway and the mock
//! and produces numbers. It checks that the bench works (every request answered 200, non-zero
//! throughput everywhere), never how fast anything is.

use std::process::Command;

use serde_json::Value;

#[test]
fn quick_bench_produces_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("bench.json");
    let output = Command::new(env!("CARGO_BIN_EXE_gempool-bench"))
        .args(["--quick", "--connections", "4", "--open-connections", "8", "--json"])
        .arg(&json_path)
        .output()
        .expect("run gempool-bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "gempool-bench failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let report: Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    let context = || format!("{report:#}\n{stdout}");

    assert_eq!(report["failed"], false, "{}", context());
    for target in ["direct", "gempool"] {
        let t = &report["targets"][target];
        assert!(t["saturation_rps"].as_f64().unwrap() > 0.0, "{}", context());
        assert!(t["open_loop_rps"].as_f64().unwrap() > 0.0, "{}", context());
        for phase in ["saturation", "open_loop"] {
            assert!(t[phase]["ok"].as_u64().unwrap() > 0, "{target} {phase}: {}", context());
            assert_eq!(t[phase]["non_200"], 0, "{target} {phase}: {}", context());
            assert_eq!(t[phase]["errors"], 0, "{target} {phase}: {}", context());
        }
    }
    for stream in ["direct", "gempool"] {
        assert!(report["stream"][stream]["ok"].as_u64().unwrap() > 0, "{}", context());
    }
    assert!(report["openai"]["rps"].as_f64().unwrap() > 0.0, "{}", context());
    let total = &report["metrics"]["total"];
    assert!(total["n"].as_f64().unwrap() > 0.0, "{}", context());
    assert!(total["instantiate_us"].as_f64().unwrap() > 0.0, "{}", context());
    assert!(report["peak_rss_kib"].as_u64().unwrap() > 0, "{}", context());
    assert!(stdout.contains("saturation req/s"), "{stdout}");
}
