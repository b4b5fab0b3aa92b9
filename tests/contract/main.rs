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

/// The first-party plugins, built by `scripts/test` for wasm32-wasip2 into
/// `TESSERA_TEST_PLUGIN_DIR`, are components of the world they claim: `cn-id` exports
/// `validate` and imports nothing from Tessera but `log`.
#[test]
fn built_plugins_are_components_of_their_world() {
    let Ok(dir) = std::env::var("TESSERA_TEST_PLUGIN_DIR") else {
        assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "CI must build the plugins (scripts/test does)");
        eprintln!("note: TESSERA_TEST_PLUGIN_DIR not set: the built plugins are not checked (scripts/test sets it)");
        return;
    };
    let bytes = std::fs::read(Path::new(&dir).join("cn_id.wasm")).expect("cn_id.wasm was built");
    assert_eq!(&bytes[..8], b"\0asm\x0d\x00\x01\x00", "a component, not a core module");
    let wit_parser::decoding::DecodedWasm::Component(resolve, world) =
        wit_parser::decoding::decode(&bytes).expect("the component decodes")
    else {
        panic!("not a component");
    };
    let w = &resolve.worlds[world];
    let exports: Vec<String> = w.exports.keys().map(|k| resolve.name_world_key(k)).collect();
    assert_eq!(exports, ["validate"]);
    let tessera_imports: BTreeSet<String> =
        w.imports.keys().map(|k| resolve.name_world_key(k)).filter(|n| n.starts_with("tessera:")).collect();
    let allowed = BTreeSet::from(["tessera:plugin/log@0.1.0".to_owned(), "tessera:plugin/types@0.1.0".to_owned()]);
    assert!(tessera_imports.is_subset(&allowed), "cn-id imports {tessera_imports:?}");
}
