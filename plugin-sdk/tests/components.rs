//! The plugins built with (and without) this SDK are components of exactly their world: each
//! exports only its world's function, and everything it imports outside WASI is in that world
//! (interfaces and world-level types alike) — nothing of another world leaks in.
//!
//! Checks the components in `TESSERA_TEST_PLUGIN_DIR` (e.g.
//! `$CARGO_TARGET_DIR/wasm32-wasip2/plugin` after
//! `cargo build --target wasm32-wasip2 --profile plugin -p cn-id -p bom-explode -p gantt
//! -p faulty -p probe -p plain-upper -p rogue`); a component not built there is skipped with a
//! note. Run with `-- --nocapture` to see each component's imports and exports.

use std::collections::BTreeSet;
use std::path::Path;

use wit_parser::Resolve;
use wit_parser::decoding::{DecodedWasm, decode};

const RECORDS: &str = "tessera:plugin/records@0.1.0";
const HTTP: &str = "tessera:plugin/http@0.1.0";

struct Expect {
    file: &'static str,
    world: &'static str,
    /// Imports it must have (the host calls it makes).
    required: &'static [&'static str],
    /// Imports outside its world that it must have (only the rogue plugin).
    extra: &'static [&'static str],
}

const PLUGINS: &[Expect] = &[
    Expect { file: "cn_id.wasm", world: "validator", required: &[], extra: &[] },
    Expect { file: "plain_upper.wasm", world: "validator", required: &[], extra: &[] },
    Expect { file: "bom_explode.wasm", world: "action", required: &[RECORDS], extra: &[] },
    Expect { file: "probe.wasm", world: "action", required: &[RECORDS, HTTP], extra: &[] },
    Expect { file: "gantt.wasm", world: "widget", required: &[], extra: &[] },
    Expect { file: "faulty.wasm", world: "widget", required: &[], extra: &[] },
    // Claims to be a validator but imports http: the host must refuse it at publish.
    Expect { file: "rogue.wasm", world: "validator", required: &[], extra: &[HTTP] },
];

/// The names of the imports and exports of `world` in the contract (`plugin-sdk/wit`).
fn contract_world(world: &str) -> (BTreeSet<String>, Vec<String>) {
    let mut resolve = Resolve::new();
    resolve.push_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("wit")).expect("the contract resolves");
    let (id, _) = resolve.worlds.iter().find(|(_, w)| w.name == world).expect("world exists");
    names(&resolve, id)
}

fn names(resolve: &Resolve, world: wit_parser::WorldId) -> (BTreeSet<String>, Vec<String>) {
    let w = &resolve.worlds[world];
    let imports = w.imports.keys().map(|k| resolve.name_world_key(k)).collect();
    let exports = w.exports.keys().map(|k| resolve.name_world_key(k)).collect();
    (imports, exports)
}

/// The names of a component's imports and exports.
fn component_world(bytes: &[u8]) -> (BTreeSet<String>, Vec<String>) {
    assert_eq!(&bytes[..8], b"\0asm\x0d\x00\x01\x00", "a component, not a core module");
    let DecodedWasm::Component(resolve, world) = decode(bytes).expect("the component decodes") else {
        panic!("not a component");
    };
    names(&resolve, world)
}

#[test]
fn built_plugins_are_components_of_their_world() {
    let Ok(dir) = std::env::var("TESSERA_TEST_PLUGIN_DIR") else {
        eprintln!("note: TESSERA_TEST_PLUGIN_DIR not set: the built plugins are not checked");
        return;
    };
    for expect in PLUGINS {
        let path = Path::new(&dir).join(expect.file);
        let Ok(bytes) = std::fs::read(&path) else {
            eprintln!("note: {} not built: skipped", path.display());
            continue;
        };
        let (imports, exports) = component_world(&bytes);
        let own: Vec<&String> = imports.iter().filter(|n| !n.starts_with("wasi:")).collect();
        let wasi = imports.len() - own.len();
        eprintln!("{} ({} bytes): exports {exports:?}; imports {own:?} + {wasi} WASI", expect.file, bytes.len());
        let (allowed, world_exports) = contract_world(expect.world);
        assert_eq!(exports, world_exports, "{}", expect.file);
        let outside: BTreeSet<&str> = own.iter().map(|n| n.as_str()).filter(|n| !allowed.contains(*n)).collect();
        assert_eq!(outside, expect.extra.iter().copied().collect(), "{}: imports outside its world", expect.file);
        for required in expect.required {
            assert!(imports.contains(*required), "{} does not import {required}", expect.file);
        }
    }
}
