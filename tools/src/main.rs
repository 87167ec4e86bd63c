//! `gempool-tools`: the steps of `scripts/build-components` that cargo cannot do.
//!
//! - `seal-edge IN OUT`: makes the edge build a pure `wasi:http/proxy` component. Rust's
//!   standard library seeds its hash maps from `wasi:random/insecure-seed`, which the proxy
//!   world does not have; this composes the component with a small provider of that interface
//!   (written here in WAT) that draws the seed from `wasi:random/random`, which it does have.
//! - `edge-upstream IN OUT URL`: sets the upstream origin of a built edge component (a slot in
//!   its data, see `gempool_guest::edge`), so one build can serve any upstream.
//! - `imports FILE`: lists a component's imports and exports.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use wasmparser::{Parser, Payload};

const USAGE: &str = "usage:
  gempool-tools seal-edge IN.wasm OUT.wasm
  gempool-tools edge-upstream IN.wasm OUT.wasm URL
  gempool-tools imports FILE.wasm";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["seal-edge", input, output] => seal_edge(Path::new(input), Path::new(output)),
        ["edge-upstream", input, output, url] => {
            let mut wasm = read(Path::new(input))?;
            gempool_guest::edge::set_upstream(&mut wasm, url)?;
            std::fs::write(output, wasm).with_context(|| format!("writing {output}"))
        }
        ["imports", file] => {
            let (imports, exports) = interface(&read(Path::new(file))?)?;
            imports.iter().for_each(|i| println!("import {i}"));
            exports.iter().for_each(|e| println!("export {e}"));
            Ok(())
        }
        _ => bail!("{USAGE}"),
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// The names a component imports and exports at its top level.
fn interface(wasm: &[u8]) -> Result<(Vec<String>, Vec<String>)> {
    let (mut imports, mut exports) = (Vec::new(), Vec::new());
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.context("not a valid WebAssembly component")? {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(section) if depth == 0 => {
                for import in section {
                    imports.push(import?.name.name.to_owned());
                }
            }
            Payload::ComponentExportSection(section) if depth == 0 => {
                for export in section {
                    exports.push(export?.name.name.to_owned());
                }
            }
            _ => {}
        }
    }
    Ok((imports, exports))
}

/// A component exporting `insecure` (`wasi:random/insecure-seed@V`) from `random`
/// (`wasi:random/random@V`): the seed is two `get-random-u64` calls. Its core module keeps the
/// 16-byte result at address 0 of its own memory, as the canonical ABI returns a tuple.
fn seed_provider(random: &str, insecure: &str) -> String {
    format!(
        r#"(component
  (import "{random}" (instance $random
    (export "get-random-u64" (func (result u64)))))
  (core module $seed
    (import "random" "get-random-u64" (func $u64 (result i64)))
    (memory (export "memory") 1)
    (func (export "insecure-seed") (result i32)
      (i64.store (i32.const 0) (call $u64))
      (i64.store (i32.const 8) (call $u64))
      (i32.const 0)))
  (alias export $random "get-random-u64" (func $get-u64))
  (core func $u64 (canon lower (func $get-u64)))
  (core instance $imports (export "get-random-u64" (func $u64)))
  (core instance $inst (instantiate $seed (with "random" (instance $imports))))
  (alias core export $inst "insecure-seed" (core func $seed-core))
  (alias core export $inst "memory" (core memory $memory))
  (func $insecure-seed (result (tuple u64 u64))
    (canon lift (core func $seed-core) (memory $memory)))
  (instance $out (export "insecure-seed" (func $insecure-seed)))
  (export "{insecure}" (instance $out)))
"#
    )
}

fn seal_edge(input: &Path, output: &Path) -> Result<()> {
    let wasm = read(input)?;
    let (imports, _) = interface(&wasm)?;
    let Some(insecure) = imports.iter().find(|i| i.starts_with("wasi:random/insecure-seed@")) else {
        // Nothing to provide: the component is already free of it.
        std::fs::write(output, &wasm).with_context(|| format!("writing {}", output.display()))?;
        return Ok(());
    };
    let version = insecure.rsplit_once('@').map_or("", |(_, v)| v);
    // Reuse the component's own `wasi:random/random` import when it has one, so the composed
    // component imports it once.
    let random = imports
        .iter()
        .find(|i| i.starts_with("wasi:random/random@"))
        .cloned()
        .unwrap_or_else(|| format!("wasi:random/random@{version}"));

    let dir = tempfile::tempdir()?;
    let provider: PathBuf = dir.path().join("insecure-seed.wat");
    std::fs::write(&provider, seed_provider(&random, insecure))?;
    let config = wasm_compose::config::Config {
        dir: dir.path().to_path_buf(),
        definitions: vec![provider],
        ..Default::default()
    };
    let composed = wasm_compose::composer::ComponentComposer::new(input, &config)
        .compose()
        .context("composing the edge component with the insecure-seed provider")?;
    let (after, _) = interface(&composed)?;
    if after.iter().any(|i| i.starts_with("wasi:random/insecure-seed@")) {
        bail!("the composed component still imports {insecure}");
    }
    std::fs::write(output, composed).with_context(|| format!("writing {}", output.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_provider_is_a_valid_component_importing_only_random() {
        let text = seed_provider("wasi:random/random@0.2.6", "wasi:random/insecure-seed@0.2.6");
        let bytes = wat::parse_str(&text).expect("the provider's WAT parses");
        wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
            .validate_all(&bytes)
            .expect("the provider is a valid component");
        let (imports, exports) = interface(&bytes).unwrap();
        assert_eq!(imports, ["wasi:random/random@0.2.6"]);
        assert_eq!(exports, ["wasi:random/insecure-seed@0.2.6"]);
    }
}
