//! Proves that the embedded gateway component targets the `gateway` world in `wit/`: every
//! interface it imports is one the world declares (so every host that implements the world can
//! run it), and that the check really can fail.

use std::collections::BTreeSet;
use std::path::Path;

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
