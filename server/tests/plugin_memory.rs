//! Memory returns to its baseline after plugins that blow up: each call's instance (and its
//! linear memory, up to the 64 MiB cap) is returned to the pooling allocator, which releases
//! the pages. Its own test binary (process), so that no other test's allocations blur the
//! reading.

use std::time::Duration;

use server::plugins::host::{Answer, Call, Host, types};
use server::plugins::{Kind, Limits, PluginError};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .expect("VmRSS")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_returns_to_baseline_after_memory_bombs() {
    let Ok(dir) = std::env::var("TESSERA_TEST_PLUGIN_DIR") else {
        assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "CI must build the plugins (scripts/test does)");
        eprintln!("note: TESSERA_TEST_PLUGIN_DIR not set: skipping (scripts/test sets it)");
        return;
    };
    let bytes = std::fs::read(std::path::Path::new(&dir).join("faulty.wasm")).expect("faulty.wasm was built");
    let host = Host::new(Limits { concurrent_calls: 4, ..Limits::default() }).expect("host");
    let pre = host.load(Kind::Widget, "faulty", || Ok(bytes)).expect("loads");
    let render = async |mode: &str| {
        let config = format!(r#"{{"mode":"{mode}"}}"#);
        let dataset = types::Dataset { columns: vec!["x".into()], rows: vec!["[1]".into()] };
        host.call(&pre, Call::Render { config: &config, dataset }, Duration::from_secs(10), None).await.0
    };
    for _ in 0..3 {
        assert!(matches!(render("ok").await, Ok(Answer::Rendered(Ok(_)))));
    }
    let baseline = rss_kib();
    let mut peak_growth = 0;
    for round in 0..8 {
        let err = render("memory").await.err().expect("a memory bomb is stopped");
        assert!(matches!(err, PluginError::OutOfMemory), "round {round}: {err:?}");
        peak_growth = peak_growth.max(rss_kib().saturating_sub(baseline));
    }
    assert!(matches!(render("ok").await, Ok(Answer::Rendered(Ok(_)))), "the host still works");
    let after = rss_kib();
    eprintln!(
        "RSS: baseline {baseline} KiB, after 8 memory bombs {after} KiB (largest growth seen between calls {peak_growth} KiB)"
    );
    // Each bomb filled 64 MiB; eight of them kept would be 512 MiB. What stays is allocator
    // noise, well under one bomb.
    assert!(after <= baseline + 16 * 1024, "RSS grew from {baseline} KiB to {after} KiB");
}
