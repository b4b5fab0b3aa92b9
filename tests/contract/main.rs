//! The plugin contract: `plugin-sdk/wit` is a valid WIT package `tessera:plugin@0.1.0` with
//! the three worlds, each importing only what its kind of plugin may use, and every function
//! documented in the WIT itself.

use std::collections::BTreeSet;
use std::path::Path;

use wit_parser::{Resolve, WorldItem};

fn load() -> (Resolve, wit_parser::PackageId) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-sdk/wit");
    let mut resolve = Resolve::new();
    let (pkg, _) = resolve.push_dir(&dir).expect("the WIT package parses and resolves");
    (resolve, pkg)
}

/// The names of what a world imports (`None` for types pulled in with `use`).
fn imports(resolve: &Resolve, world: &str) -> BTreeSet<String> {
    let (id, _) = resolve.worlds.iter().find(|(_, w)| w.name == world).expect("world exists");
    resolve.worlds[id]
        .imports
        .iter()
        .filter(|(_, item)| matches!(item, WorldItem::Interface { .. }))
        .map(|(key, _)| resolve.name_world_key(key))
        .collect()
}

#[test]
fn package_and_worlds() {
    let (resolve, pkg) = load();
    assert_eq!(resolve.packages[pkg].name.to_string(), "tessera:plugin@0.1.0");
    let worlds: BTreeSet<&str> = resolve.packages[pkg].worlds.keys().map(String::as_str).collect();
    assert_eq!(worlds, BTreeSet::from(["action", "validator", "widget"]));
    let base = "tessera:plugin/";
    let at = "@0.1.0";
    let set = |names: &[&str]| -> BTreeSet<String> { names.iter().map(|n| format!("{base}{n}{at}")).collect() };
    // `types` comes along with `use`; the capability-bearing interfaces are explicit.
    assert_eq!(imports(&resolve, "validator"), set(&["log", "types"]));
    assert_eq!(imports(&resolve, "widget"), set(&["log", "types"]));
    assert_eq!(imports(&resolve, "action"), set(&["http", "log", "records", "types"]));
    for (world, export) in [("validator", "validate"), ("action", "run"), ("widget", "render")] {
        let (id, _) = resolve.worlds.iter().find(|(_, w)| w.name == world).expect("world");
        let exports: Vec<String> = resolve.worlds[id].exports.keys().map(|k| resolve.name_world_key(k)).collect();
        assert_eq!(exports, [export], "world {world}");
    }
}

#[test]
fn every_function_is_documented() {
    let (resolve, _) = load();
    let mut undocumented = Vec::new();
    for (_, iface) in resolve.interfaces.iter() {
        let name = iface.name.clone().unwrap_or_default();
        if iface.docs.contents.as_deref().is_none_or(|d| d.trim().is_empty()) {
            undocumented.push(format!("interface {name}"));
        }
        for (f, func) in &iface.functions {
            if func.docs.contents.as_deref().is_none_or(|d| d.trim().is_empty()) {
                undocumented.push(format!("{name}.{f}"));
            }
        }
    }
    for (_, world) in resolve.worlds.iter() {
        if world.docs.contents.as_deref().is_none_or(|d| d.trim().is_empty()) {
            undocumented.push(format!("world {}", world.name));
        }
        for item in world.exports.values() {
            if let WorldItem::Function(func) = item
                && func.docs.contents.as_deref().is_none_or(|d| d.trim().is_empty())
            {
                undocumented.push(format!("{}.{}", world.name, func.name));
            }
        }
    }
    assert!(undocumented.is_empty(), "undocumented: {undocumented:?}");
}
