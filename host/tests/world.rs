//! Proves that each component targets its world in `wit/`: every interface it imports is one
//! the world declares (so every host that implements the world can run it), and that the check
//! really can fail. The embedded gateway and `dist/gempool.wasm` target `gateway`;
//! `dist/gempool-edge.wasm` targets `edge`, which is exactly `wasi:http/proxy`. The `dist/`
//! files come from `scripts/build-components` (`$GEMPOOL_DIST` points elsewhere).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use wasmtime::component::Component;
use wasmtime::Engine;
use wit_parser::{Resolve, WorldItem};

/// `namespace:package/interface` and its version, e.g. (`wasi:http/types`, `0.2.6`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Import {
    name: String,
    version: Option<String>,
}

impl Import {
    fn parse(full: &str) -> Self {
        match full.split_once('@') {
            Some((name, version)) => Self {
                name: name.to_owned(),
                version: Some(version.to_owned()),
            },
            None => Self {
                name: full.to_owned(),
                version: None,
            },
        }
    }

    /// Whether a host offering `self` satisfies an import of `wanted`: same interface, and
    /// versions on the same semver track (same major, and same minor while the major is 0,
    /// e.g. `wasi:http/types@0.2.0` is covered by `@0.2.6`).
    fn covers(&self, wanted: &Import) -> bool {
        if self.name != wanted.name {
            return false;
        }
        match (&self.version, &wanted.version) {
            (None, None) => true,
            (Some(have), Some(want)) => track(have) == track(want),
            _ => false,
        }
    }
}

/// The part of a version that must match for two versions to be compatible.
fn track(version: &str) -> String {
    let parts: Vec<&str> = version.split(['.', '-', '+']).collect();
    match parts.as_slice() {
        ["0", "0", ..] => version.to_owned(),
        ["0", minor, ..] => format!("0.{minor}"),
        [major, ..] => (*major).to_owned(),
        [] => version.to_owned(),
    }
}

/// Interfaces imported by `world` in the WIT package at `dir` (after `include`s and the
/// dependencies they pull in are elaborated).
fn world_imports(dir: &Path, world: &str) -> Vec<Import> {
    let mut resolve = Resolve::new();
    let (pkg, _) = resolve
        .push_path(dir)
        .unwrap_or_else(|e| panic!("parsing {}: {e:?}", dir.display()));
    let world = resolve.select_world(&[pkg], Some(world)).unwrap();
    resolve.worlds[world]
        .imports
        .iter()
        .filter_map(|(key, item)| match item {
            WorldItem::Interface { .. } => Some(Import::parse(&resolve.name_world_key(key))),
            _ => None,
        })
        .collect()
}

/// Everything `component` imports, by name.
fn component_imports(engine: &Engine, component: &Component) -> Vec<Import> {
    component
        .component_type()
        .imports(engine)
        .map(|(name, _)| Import::parse(name))
        .collect()
}

/// Imports of `component` that `world` does not cover.
fn uncovered(imports: &[Import], world: &[Import]) -> BTreeSet<String> {
    imports
        .iter()
        .filter(|want| !world.iter().any(|have| have.covers(want)))
        .map(|i| match &i.version {
            Some(v) => format!("{}@{v}", i.name),
            None => i.name.clone(),
        })
        .collect()
}

fn gateway_world() -> Vec<Import> {
    let wit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
    let world = world_imports(&wit, "gempool:gateway/gateway");
    assert!(
        world.iter().any(|i| i.name == "fermyon:spin/sqlite"),
        "the gateway world should import fermyon:spin/sqlite: {world:?}"
    );
    world
}

#[test]
fn the_embedded_guest_imports_only_what_the_gateway_world_declares() {
    let engine = Engine::default();
    let component = Component::new(&engine, gempool_host::GUEST_WASM).unwrap();
    let imports = component_imports(&engine, &component);
    assert!(!imports.is_empty());
    let missing = uncovered(&imports, &gateway_world());
    assert!(
        missing.is_empty(),
        "the guest imports interfaces the `gateway` world does not declare: {missing:?}"
    );
}

fn edge_world() -> Vec<Import> {
    let wit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
    let world = world_imports(&wit, "gempool:gateway/edge");
    let proxy = world_imports(&wit, "wasi:http/proxy@0.2.6");
    assert_eq!(world, proxy, "the edge world should be exactly wasi:http/proxy");
    world
}

/// A built distributable component; panics (never skips) when it has not been built.
fn dist(name: &str) -> PathBuf {
    let dir = std::env::var_os("GEMPOOL_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist"));
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/build-components first",
        path.display()
    );
    path
}

fn component_at(engine: &Engine, path: &Path) -> Component {
    Component::from_file(engine, path).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()))
}

#[test]
fn the_distributed_gateway_imports_only_what_the_gateway_world_declares() {
    let engine = Engine::default();
    let imports = component_imports(&engine, &component_at(&engine, &dist("gempool.wasm")));
    assert!(imports.iter().any(|i| i.name == "fermyon:spin/sqlite"), "{imports:?}");
    let missing = uncovered(&imports, &gateway_world());
    assert!(
        missing.is_empty(),
        "dist/gempool.wasm imports outside `gateway`: {missing:?}"
    );
}

#[test]
fn the_edge_component_imports_only_wasi_http_proxy() {
    let engine = Engine::default();
    let component = component_at(&engine, &dist("gempool-edge.wasm"));
    let imports = component_imports(&engine, &component);
    assert!(
        imports.iter().any(|i| i.name == "wasi:http/outgoing-handler"),
        "{imports:?}"
    );
    let missing = uncovered(&imports, &edge_world());
    assert!(
        missing.is_empty(),
        "dist/gempool-edge.wasm imports outside `edge` (wasi:http/proxy): {missing:?}"
    );
    let exports: Vec<String> = component
        .component_type()
        .exports(&engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    assert_eq!(exports, ["wasi:http/incoming-handler@0.2.0"]);
}

#[test]
fn the_edge_world_refuses_what_the_gateway_needs() {
    let edge = edge_world();
    for outside in [
        "wasi:cli/environment@0.2.6",
        "wasi:random/insecure-seed@0.2.6",
        "fermyon:spin/sqlite@2.0.0",
        "fermyon:spin/variables@2.0.0",
    ] {
        let missing = uncovered(&[Import::parse(outside)], &edge);
        assert_eq!(missing, BTreeSet::from([outside.to_owned()]));
    }
}

#[test]
fn a_component_importing_outside_the_world_is_caught() {
    let engine = Engine::default();
    let component = Component::new(&engine, r#"(component (import "wasi:sockets/tcp@0.2.6" (instance)))"#).unwrap();
    let imports = component_imports(&engine, &component);
    let missing = uncovered(&imports, &gateway_world());
    assert_eq!(missing, BTreeSet::from(["wasi:sockets/tcp@0.2.6".to_owned()]));
}

#[test]
fn versions_match_on_their_semver_track() {
    let world = Import::parse("wasi:http/types@0.2.6");
    assert!(world.covers(&Import::parse("wasi:http/types@0.2.0")));
    assert!(!world.covers(&Import::parse("wasi:http/types@0.3.0")));
    assert!(!world.covers(&Import::parse("wasi:http/handler@0.2.0")));
    let spin = Import::parse("fermyon:spin/sqlite@2.0.0");
    assert!(spin.covers(&Import::parse("fermyon:spin/sqlite@2.1.0")));
    assert!(!spin.covers(&Import::parse("fermyon:spin/sqlite@3.0.0")));
}
