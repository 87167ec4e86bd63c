//! Build script of `gempool-host`: builds the guest component.
//!
//! The `gempool` binary embeds the gateway component (`guest/`, built for `wasm32-wasip2` with
//! the `guest` profile), whose path reaches the crate as `GEMPOOL_GUEST_WASM` (set it beforehand
//! to embed a prebuilt file). The migrations come from the `gempool-schema` crate.
//!
//! The guest is built by a nested `cargo` with its own `--target-dir` (`target/wasm`): the outer
//! cargo holds the lock on `target/`, so sharing it would deadlock.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{exit, Command};

const GUEST_TARGET: &str = "wasm32-wasip2";
const GUEST_PROFILE: &str = "guest";
const GUEST_ARTIFACT: &str = "gempool_guest.wasm";

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = manifest_dir
        .parent()
        .expect("host/ lives inside the workspace")
        .to_path_buf();
    println!("cargo:rerun-if-changed={}", workspace.join("Cargo.lock").display());

    println!("cargo:rerun-if-env-changed=GEMPOOL_GUEST_WASM");
    let wasm = match env::var_os("GEMPOOL_GUEST_WASM").filter(|v| !v.is_empty()) {
        Some(prebuilt) => {
            let prebuilt = PathBuf::from(prebuilt);
            if !prebuilt.is_file() {
                fail(&format!(
                    "GEMPOOL_GUEST_WASM={} is not a file; unset it to build the guest from guest/",
                    prebuilt.display()
                ));
            }
            prebuilt
        }
        None => build_guest(&workspace),
    };
    // Absolute, so `include_bytes!` works whatever the crate's working directory.
    let wasm = wasm.canonicalize().unwrap_or(wasm);
    println!("cargo:rerun-if-changed={}", wasm.display());
    println!("cargo:rustc-env=GEMPOOL_GUEST_WASM={}", wasm.display());
}

/// Builds `guest/` for `wasm32-wasip2` and returns the component's path.
fn build_guest(workspace: &Path) -> PathBuf {
    for path in [
        "guest/src",
        "guest/Cargo.toml",
        "schema/src",
        "schema/build.rs",
        "schema/Cargo.toml",
        "migrations",
        "wit",
        "Cargo.toml", // holds `[profile.guest]`
    ] {
        println!("cargo:rerun-if-changed={}", workspace.join(path).display());
    }
    check_target_installed();

    let target_dir = workspace.join("target").join("wasm");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .args(["build", "-p", "gempool-guest", "--target", GUEST_TARGET])
        .args(["--profile", GUEST_PROFILE])
        .arg("--target-dir")
        .arg(&target_dir);
    // The outer cargo describes *this* build (host target, host features, its target dir, its
    // flags) in the environment; none of that applies to the guest, and some of it (a target dir,
    // rustflags, clippy's wrapper) would break or slow the nested build.
    for (key, _) in env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let leaks = key.starts_with("CARGO_CFG_")
            || key.starts_with("CARGO_FEATURE_")
            || key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_MANIFEST_")
            || matches!(
                key,
                "CARGO_TARGET_DIR"
                    | "CARGO_BUILD_TARGET"
                    | "CARGO_BUILD_TARGET_DIR"
                    | "CARGO_BUILD_RUSTFLAGS"
                    | "CARGO_ENCODED_RUSTFLAGS"
                    | "CARGO_ENCODED_RUSTDOCFLAGS"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_CRATE_NAME"
                    | "RUSTFLAGS"
                    | "RUSTDOCFLAGS"
                    | "RUSTC_WORKSPACE_WRAPPER"
                    | "RUSTC_LINKER"
                    | "TARGET"
                    | "HOST"
                    | "OUT_DIR"
                    | "PROFILE"
                    | "OPT_LEVEL"
                    | "DEBUG"
                    | "NUM_JOBS"
            );
        if leaks {
            cmd.env_remove(key);
        }
    }

    let output = cmd
        .output()
        .unwrap_or_else(|e| fail(&format!("could not run cargo to build the guest: {e}")));
    if !output.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
        fail(&format!(
            "building the guest component failed ({}); reproduce with `cargo build -p gempool-guest \
             --target {GUEST_TARGET} --profile {GUEST_PROFILE} --target-dir {}`, or set \
             GEMPOOL_GUEST_WASM to a prebuilt component",
            output.status,
            target_dir.display()
        ));
    }
    let wasm = target_dir.join(GUEST_TARGET).join(GUEST_PROFILE).join(GUEST_ARTIFACT);
    if !wasm.is_file() {
        fail(&format!("the guest build succeeded but {} is missing", wasm.display()));
    }
    wasm
}

/// Fails early, with the fix, when rustup has not installed the guest's target.
fn check_target_installed() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let Ok(out) = Command::new(&rustc).args(["--print", "sysroot"]).output() else {
        return; // let the nested cargo report whatever is wrong with rustc
    };
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let target_libs = Path::new(&sysroot).join("lib").join("rustlib").join(GUEST_TARGET);
    if out.status.success() && !target_libs.is_dir() {
        fail(&format!(
            "the Rust target {GUEST_TARGET} is not installed; run `rustup target add {GUEST_TARGET}` \
             (or set GEMPOOL_GUEST_WASM to a prebuilt component)"
        ));
    }
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    exit(1);
}
