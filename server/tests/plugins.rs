//! The plugin host on its own, with the components `scripts/test` builds into
//! `TESSERA_TEST_PLUGIN_DIR`: `cn-id` validates, a validator written with plain wit-bindgen
//! works as well, each deliberately bad plugin (endless loop, memory bomb, panic, oversized
//! output) fails alone with a clear error within its deadline, and a component that imports
//! more than its world allows is refused.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use server::plugins::host::{Answer, Call, Host, types};
use server::plugins::{Kind, Limits, PluginError};

fn plugin_dir() -> Option<PathBuf> {
    let Ok(dir) = std::env::var("TESSERA_TEST_PLUGIN_DIR") else {
        assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "CI must build the plugins (scripts/test does)");
        eprintln!("note: TESSERA_TEST_PLUGIN_DIR not set: skipping (scripts/test sets it)");
        return None;
    };
    Some(PathBuf::from(dir))
}

fn component(name: &str) -> Option<Vec<u8>> {
    let dir = plugin_dir()?;
    let path = dir.join(format!("{name}.wasm"));
    Some(std::fs::read(&path).unwrap_or_else(|e| panic!("{} was built: {e}", path.display())))
}

fn host() -> Host {
    Host::new(Limits { concurrent_calls: 4, ..Limits::default() }).expect("host")
}

async fn validate(host: &Host, kind_sha: &str, bytes: &[u8], config: &str, value: &str) -> Result<Answer, PluginError> {
    let pre = host.load(Kind::Validator, kind_sha, || Ok(bytes.to_vec())).expect("loads");
    host.call(&pre, Call::Validate { config, value, record: "{}" }, Duration::from_millis(500), None).await.0
}

fn violations(answer: Result<Answer, PluginError>) -> Vec<String> {
    match answer.expect("runs") {
        Answer::Validated(Ok(())) => Vec::new(),
        Answer::Validated(Err(v)) => v.into_iter().map(|v| v.message).collect(),
        _ => panic!("not a validation"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_the_cn_id_validator() {
    let Some(bytes) = component("cn_id") else { return };
    let host = host();
    host.check(Kind::Validator, &bytes).expect("a validator");
    let mobile = r#"{"kind":"mobile"}"#;
    assert!(violations(validate(&host, "cn", &bytes, mobile, r#""13800138000""#).await).is_empty());
    let refused = violations(validate(&host, "cn", &bytes, mobile, r#""12345""#).await);
    assert_eq!(refused.len(), 1);
    assert!(refused[0].contains("mobile"), "{refused:?}");
    let uscc = r#"{"kind":"uscc"}"#;
    assert!(violations(validate(&host, "cn", &bytes, uscc, r#""914403001922038216""#).await).is_empty());
    assert_eq!(violations(validate(&host, "cn", &bytes, uscc, r#""914403001922038217""#).await).len(), 1);
    let bad_config = violations(validate(&host, "cn", &bytes, r#"{"kind":"passport"}"#, r#""x""#).await);
    assert!(bad_config[0].contains("configuration"), "{bad_config:?}");
    // Each call has a fresh instance: many calls in a row stay independent.
    for _ in 0..50 {
        assert!(violations(validate(&host, "cn", &bytes, mobile, r#""+86 150 1234 5678""#).await).is_empty());
    }
    // The wrong world for its kind is refused.
    let err = host.check(Kind::Widget, &bytes).expect_err("not a widget");
    assert!(err.to_string().contains("widget"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_written_with_plain_wit_bindgen_works() {
    let Some(bytes) = component("plain_upper") else { return };
    let host = host();
    host.check(Kind::Validator, &bytes).expect("the WIT alone is enough");
    let config = r#"{"case":"upper"}"#;
    assert!(violations(validate(&host, "plain", &bytes, config, r#""ABC""#).await).is_empty());
    let refused = violations(validate(&host, "plain", &bytes, config, r#""abc""#).await);
    assert_eq!(refused, ["must be upper case / 须为大写"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_importing_more_than_its_world_is_refused() {
    let Some(bytes) = component("rogue") else { return };
    let err = host().check(Kind::Validator, &bytes).expect_err("http is not for validators");
    let text = err.to_string();
    assert!(text.contains("more than a validator may use") && text.contains("http"), "{text}");
}

async fn render(
    host: &Host,
    pre_sha: &str,
    bytes: &[u8],
    mode: &str,
    deadline: Duration,
) -> Result<Answer, PluginError> {
    let pre = host.load(Kind::Widget, pre_sha, || Ok(bytes.to_vec())).expect("loads");
    let config = format!(r#"{{"mode":"{mode}"}}"#);
    let dataset = types::Dataset { columns: vec!["x".into()], rows: vec!["[1]".into()] };
    host.call(&pre, Call::Render { config: &config, dataset }, deadline, None).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_plugins_fail_alone_within_their_deadline() {
    let Some(bytes) = component("faulty") else { return };
    let host = host();
    host.check(Kind::Widget, &bytes).expect("a widget");
    let deadline = Duration::from_millis(200);

    let started = Instant::now();
    let err = render(&host, "faulty", &bytes, "loop", deadline).await.err().expect("an endless loop is stopped");
    assert!(matches!(err, PluginError::Timeout(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "stopped near its deadline: {:?}", started.elapsed());

    let err = render(&host, "faulty", &bytes, "memory", Duration::from_secs(10))
        .await
        .err()
        .expect("a memory bomb is stopped");
    assert!(matches!(err, PluginError::OutOfMemory), "{err:?}");

    let err = render(&host, "faulty", &bytes, "panic", deadline).await.err().expect("a panic is a failed call");
    assert!(matches!(err, PluginError::Trap(_)), "{err:?}");

    let err = render(&host, "faulty", &bytes, "big", Duration::from_secs(10)).await.err().expect("oversized output");
    assert!(matches!(err, PluginError::BadOutput(_)), "{err:?}");

    // After all of that, the same host and component still work.
    for _ in 0..10 {
        match render(&host, "faulty", &bytes, "ok", deadline).await.expect("runs") {
            Answer::Rendered(Ok(server::plugins::Drawing::Svg(svg))) => assert!(svg.starts_with("<svg")),
            _ => panic!("expected an SVG"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compiled_code_is_cached_on_disk() {
    let Some(bytes) = component("cn_id") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let limits = Limits { concurrent_calls: 2, cache_dir: Some(dir.path().to_owned()), ..Limits::default() };
    let first = Host::new(limits.clone()).expect("host");
    first.load(Kind::Validator, "abc", || Ok(bytes.clone())).expect("compiles");
    let files: Vec<_> = std::fs::read_dir(dir.path()).expect("cache").filter_map(|e| e.ok()).collect();
    assert_eq!(files.len(), 1, "one compiled file");
    // A new host (a restart) loads it without the component's bytes.
    let second = Host::new(limits).expect("host");
    let pre = second.load(Kind::Validator, "abc", || anyhow::bail!("must not compile again")).expect("from disk");
    let answer = second
        .call(
            &pre,
            Call::Validate { config: r#"{"kind":"mobile"}"#, value: "\"13800138000\"", record: "{}" },
            Duration::from_millis(500),
            None,
        )
        .await
        .0;
    assert!(violations(answer).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_what_is_not_a_component() {
    let host = host();
    assert!(matches!(host.check(Kind::Validator, b"\0asm\x01\0\0\0"), Err(PluginError::Invalid(_))), "a core module");
    assert!(matches!(host.check(Kind::Validator, b"not wasm"), Err(PluginError::Invalid(_))));
    let big = vec![0u8; Limits::default().component_bytes + 1];
    let err = host.check(Kind::Validator, &big).expect_err("too big");
    assert!(err.to_string().contains("limit"), "{err}");
}
