//! The plugin host runs the first-party `cn-id` validator component (built by `scripts/test`
//! into `TESSERA_TEST_PLUGIN_DIR`): valid values pass, invalid ones come back as the plugin's
//! violations, bad configuration is the plugin's answer too, and a tiny fuel budget stops it.

use server::plugins::{Limits, PluginError, PluginHost};

fn cn_id() -> Option<Vec<u8>> {
    let Ok(dir) = std::env::var("TESSERA_TEST_PLUGIN_DIR") else {
        assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "CI must build the plugins (scripts/test does)");
        eprintln!("note: TESSERA_TEST_PLUGIN_DIR not set: skipping (scripts/test sets it)");
        return None;
    };
    Some(std::fs::read(std::path::Path::new(&dir).join("cn_id.wasm")).expect("cn_id.wasm was built"))
}

#[test]
fn runs_the_cn_id_validator() {
    let Some(bytes) = cn_id() else { return };
    let host = PluginHost::new(Limits::default()).expect("host");
    let component = host.compile(&bytes).expect("compiles");
    let mobile = r#"{"kind":"mobile"}"#;
    assert_eq!(host.validate(&component, mobile, r#""13800138000""#, "{}").expect("runs"), Ok(()));
    let refused = host.validate(&component, mobile, r#""12345""#, "{}").expect("runs").expect_err("invalid number");
    assert_eq!(refused.len(), 1);
    assert!(refused[0].message.contains("mobile"), "{refused:?}");
    let uscc = r#"{"kind":"uscc"}"#;
    assert_eq!(host.validate(&component, uscc, r#""914403001922038216""#, "{}").expect("runs"), Ok(()));
    assert!(host.validate(&component, uscc, r#""914403001922038217""#, "{}").expect("runs").is_err());
    let bad_config = host.validate(&component, r#"{"kind":"passport"}"#, r#""x""#, "{}").expect("runs");
    assert!(bad_config.expect_err("refused")[0].message.contains("configuration"));
    // Each call has a fresh store: many calls in a row stay independent.
    for _ in 0..20 {
        assert_eq!(host.validate(&component, mobile, r#""+86 150 1234 5678""#, "{}").expect("runs"), Ok(()));
    }
}

#[test]
fn a_call_past_its_budget_is_stopped() {
    let Some(bytes) = cn_id() else { return };
    let host = PluginHost::new(Limits { fuel: 1_000, ..Limits::default() }).expect("host");
    let component = host.compile(&bytes).expect("compiles");
    let err = host.validate(&component, r#"{"kind":"mobile"}"#, r#""13800138000""#, "{}").expect_err("out of fuel");
    assert!(matches!(err, PluginError::OutOfFuel), "{err:?}");
}

#[test]
fn refuses_what_is_not_a_component() {
    let host = PluginHost::new(Limits::default()).expect("host");
    assert!(
        matches!(host.compile(b"\0asm\x01\0\0\0"), Err(PluginError::Invalid(_))),
        "a core module is not a component"
    );
    assert!(matches!(host.compile(b"not wasm"), Err(PluginError::Invalid(_))));
}
