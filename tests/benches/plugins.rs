//! Plugin benchmark (run with `scripts/bench`, which builds the release server and the plugin
//! components first). Measures:
//!
//! 1. instantiate + call of the `cn-id` validator from its `InstancePre` with the pooling
//!    allocator, in this process on the tokio runtime (a fresh instance per call, async, as the
//!    server does);
//! 2. what one plugin validator adds to a record write: the release server (SQLite) creating
//!    records in a form whose field is checked by a built-in pattern and in one checked by
//!    `cn-id`, one request at a time, alternating between the two forms, p50 of each;
//! 3. server start (spawn → `/readyz` answers) with 10 installed plugins whose compiled code
//!    is cached on disk, and, for comparison, with the cache removed.
//!
//! Prints a Markdown table for BENCHMARKS.md.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use server::plugins::host::{Answer, Call, Host};
use server::plugins::{Kind, Limits};

mod common;
use common::{PASSWORD, percentile, start_in};

const CALLS: usize = 20_000;
const WRITES: usize = 10_000;
const STARTS: usize = 7;
const PLUGINS: usize = 10;

fn component(dir: &str, name: &str) -> Vec<u8> {
    std::fs::read(PathBuf::from(dir).join(format!("{name}.wasm"))).expect("the plugins are built (scripts/bench)")
}

/// The component with a custom section appended: the same code, another SHA-256 (to install
/// ten distinct plugins).
fn variant(bytes: &[u8], i: usize) -> Vec<u8> {
    let name = b"tessera-bench";
    let payload = format!("variant {i}");
    let content_len = 1 + name.len() + payload.len();
    let mut out = bytes.to_vec();
    out.push(0);
    out.push(content_len as u8);
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    out.extend_from_slice(payload.as_bytes());
    out
}

async fn instantiate_and_call(cn_id: &[u8]) -> (Duration, Duration, f64) {
    let host = Host::new(Limits::default()).expect("host");
    let pre = host.load(Kind::Validator, "bench", || Ok(cn_id.to_vec())).expect("loads");
    let config = r#"{"kind":"mobile"}"#;
    let call = async || {
        let (answer, _) = host
            .call(
                &pre,
                Call::Validate { config, value: "\"13800138000\"", record: "{}" },
                Duration::from_millis(50),
                None,
            )
            .await;
        assert!(matches!(answer, Ok(Answer::Validated(Ok(())))));
    };
    for _ in 0..1000 {
        call().await;
    }
    let mut samples = Vec::with_capacity(CALLS);
    let started = Instant::now();
    for _ in 0..CALLS {
        let t = Instant::now();
        call().await;
        samples.push(t.elapsed());
    }
    let per_s = CALLS as f64 / started.elapsed().as_secs_f64();
    (percentile(&mut samples, 0.5), percentile(&mut samples, 0.95), per_s)
}

async fn publish(http: &reqwest::Client, base: &str, token: &str, manifest: &str, component: &[u8]) {
    let (content_type, body) = server::plugins::cli::publish_body(manifest, component);
    let r = http
        .post(format!("{base}/api/v1/plugins"))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("publish");
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
}

async fn post(http: &reqwest::Client, url: String, token: &str, body: Value) -> Value {
    let r = http.post(url).bearer_auth(token).json(&body).send().await.expect("sent");
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{status}: {body}");
    body
}

/// Creates records alternately in the `builtin` and the `plugin` form (so that drift and noise
/// of this shared machine fall on both alike); returns each form's p50.
async fn write_latencies(http: &reqwest::Client, base: &str, token: &str, writes: usize) -> (Duration, Duration) {
    let mut samples = [Vec::with_capacity(writes), Vec::with_capacity(writes)];
    for i in 0..writes {
        let phone = format!("1380013{:04}", i % 10_000);
        for (k, form) in ["builtin", "plugin"].iter().enumerate() {
            let t = Instant::now();
            let r = http
                .post(format!("{base}/api/v1/t/default/forms/{form}/records"))
                .bearer_auth(token)
                .header("prefer", "return=minimal")
                .json(&json!({"data": {"phone": phone}}))
                .send()
                .await
                .expect("sent");
            assert_eq!(r.status(), 201);
            samples[k].push(t.elapsed());
        }
    }
    let [mut builtin, mut plugin] = samples;
    (percentile(&mut builtin, 0.5), percentile(&mut plugin, 0.5))
}

/// Starts the server (SQLite in `dir`, or `database_url`), publishes `PLUGINS` variants of
/// cn-id and installs them, and measures the write p50 of a built-in rule and of the same rule
/// as the plugin.
async fn writes(
    bin: &str,
    database_url: Option<&str>,
    dir: &std::path::Path,
    cn_id: &[u8],
    manifest: &str,
) -> (Duration, Duration) {
    let server = start_in(bin, database_url, dir).await;
    let http = reqwest::Client::new();
    let base = server.base.clone();
    let login = post(
        &http,
        format!("{base}/api/v1/auth/login"),
        "",
        json!({"email": "admin@example.com", "password": PASSWORD}),
    )
    .await;
    let token = login["token"].as_str().expect("token").to_owned();
    for i in 0..PLUGINS {
        let id = format!("cn-id-{i}");
        let m = manifest.replacen("id = \"cn-id\"", &format!("id = \"{id}\""), 1);
        publish(&http, &base, &token, &m, &variant(cn_id, i)).await;
        post(&http, format!("{base}/api/v1/t/default/plugins"), &token, json!({"plugin": id})).await;
    }
    let field = |validators: Value, pattern: Option<&str>| {
        let mut f = json!({"key": "phone", "label": "Phone", "type": "text", "required": true});
        if let Some(p) = pattern {
            f["pattern"] = json!(p);
        }
        if !validators.is_null() {
            f["validators"] = validators;
        }
        f
    };
    post(
        &http,
        format!("{base}/api/v1/t/default/forms"),
        &token,
        json!({"key": "builtin", "name": "Built-in rule", "fields": [field(Value::Null, Some(r"^(\+?86)?1[3-9]\d{9}$"))]}),
    )
    .await;
    post(
        &http,
        format!("{base}/api/v1/t/default/forms"),
        &token,
        json!({"key": "plugin", "name": "Plugin rule", "fields": [field(json!([{"plugin": "cn-id-0", "config": {"kind": "mobile"}}]), None)]}),
    )
    .await;
    write_latencies(&http, &base, &token, 500).await;
    let (builtin_p50, plugin_p50) = write_latencies(&http, &base, &token, WRITES).await;
    eprintln!(
        "write p50 ({}): built-in {builtin_p50:?}, plugin {plugin_p50:?}",
        if database_url.is_some() { "PostgreSQL" } else { "SQLite" }
    );
    drop(server);
    (builtin_p50, plugin_p50)
}

#[tokio::main]
async fn main() {
    let bin = std::env::var("TESSERA_BIN").expect("TESSERA_BIN: the release server (scripts/bench sets it)");
    let plugins = std::env::var("TESSERA_TEST_PLUGIN_DIR").expect("TESSERA_TEST_PLUGIN_DIR (scripts/bench sets it)");
    let cn_id = component(&plugins, "cn_id");
    let manifest =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/cn-id/tessera-plugin.toml"))
            .expect("manifest");

    let (call_p50, call_p95, calls_per_s) = instantiate_and_call(&cn_id).await;
    eprintln!("instantiate+call: p50 {call_p50:?}, p95 {call_p95:?}, {calls_per_s:.0}/s");

    let dir = tempfile::tempdir().expect("temp dir");
    let (builtin_p50, plugin_p50) = writes(&bin, None, dir.path(), &cn_id, &manifest).await;
    let pg = match tests::fresh_postgres().await {
        Some(url) => {
            let pg_dir = tempfile::tempdir().expect("temp dir");
            Some(writes(&bin, Some(&url), pg_dir.path(), &cn_id, &manifest).await)
        }
        None => None,
    };

    let mut warm = Vec::new();
    for _ in 0..STARTS {
        let t = Instant::now();
        let s = start_in(&bin, None, dir.path()).await;
        warm.push(t.elapsed());
        drop(s);
    }
    let cache = dir.path().join("plugin-cache");
    let cached_files = std::fs::read_dir(&cache).map(|d| d.count()).unwrap_or(0);
    std::fs::remove_dir_all(&cache).expect("remove the cache");
    let t = Instant::now();
    let s = start_in(&bin, None, dir.path()).await;
    let cold = t.elapsed();
    drop(s);
    let warm_p50 = percentile(&mut warm, 0.5);
    let warm_max = percentile(&mut warm, 1.0);

    println!("| measure | target | result |");
    println!("|---|---|---|");
    println!(
        "| instantiate + call, cn-id validator, fresh instance from InstancePre (pooling), p50 / p95 | ≤ 50 µs p50 | {:.1} µs / {:.1} µs ({calls_per_s:.0} calls/s, 1 thread) |",
        call_p50.as_secs_f64() * 1e6,
        call_p95.as_secs_f64() * 1e6
    );
    println!(
        "| record write p50, field rule built in → same rule as cn-id plugin (SQLite, 1 client) | ≤ +100 µs | {:.0} µs → {:.0} µs (+{:.0} µs) |",
        builtin_p50.as_secs_f64() * 1e6,
        plugin_p50.as_secs_f64() * 1e6,
        (plugin_p50.as_secs_f64() - builtin_p50.as_secs_f64()) * 1e6
    );
    if let Some((b, p)) = pg {
        println!(
            "| record write p50, same comparison on PostgreSQL | ≤ +100 µs | {:.0} µs → {:.0} µs (+{:.0} µs) |",
            b.as_secs_f64() * 1e6,
            p.as_secs_f64() * 1e6,
            (p.as_secs_f64() - b.as_secs_f64()) * 1e6
        );
    }
    println!(
        "| server start to ready with {PLUGINS} installed plugins, compiled code cached ({cached_files} files), p50 / max of {STARTS} | ≤ 1 s | {:.0} ms / {:.0} ms |",
        warm_p50.as_secs_f64() * 1e3,
        warm_max.as_secs_f64() * 1e3
    );
    println!(
        "| server start, compiled-code cache removed (compiles all {PLUGINS}) | — | {:.0} ms |",
        cold.as_secs_f64() * 1e3
    );
}
