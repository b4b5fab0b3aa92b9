//! Writes the macro that generates a plugin's world bindings *inside the plugin crate*.
//!
//! Each `export_*!` macro expands `wit_bindgen::generate!` for its own world where the plugin
//! invokes it, so a component carries the metadata of exactly one world (see the crate docs).
//! `generate!` reads WIT from a path relative to the *invoking* crate, so the macro names this
//! crate's `wit/` folder by its absolute path, known only here at build time.

use std::path::Path;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let wit = Path::new(&manifest_dir).join("wit");
    let wit = format!("{:?}", wit.to_string_lossy());
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let host = "::plugin_sdk::bindings::host::tessera::plugin";
    let arm = |world: &str, with: &[&str]| {
        let with: String = with.iter().map(|i| format!("\"tessera:plugin/{i}@0.1.0\": {host}::{i},\n")).collect();
        format!(
            "({world}) => {{
        ::plugin_sdk::__private::wit_bindgen::generate!({{
            path: {wit},
            world: \"tessera:plugin/{world}@0.1.0\",
            runtime_path: \"::plugin_sdk::__private::wit_bindgen::rt\",
            with: {{
                {with}
            }},
        }});
    }};\n"
        )
    };
    let source = format!(
        "/// Generates the bindings of one world of `tessera:plugin@0.1.0` in the invoking crate,
/// with the shared types and host interfaces taken from `plugin_sdk::bindings::host`.
#[doc(hidden)]
#[macro_export]
macro_rules! __generate_world {{
    {}    {}    {}}}
",
        arm("validator", &["types", "log"]),
        arm("action", &["types", "log", "records", "http"]),
        arm("widget", &["types", "log"]),
    );
    std::fs::write(Path::new(&out_dir).join("generate_world.rs"), source).expect("writes to OUT_DIR");
}
