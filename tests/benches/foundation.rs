//! Foundation benchmark: the `tessera` binary (release build) as a separate process on
//! SQLite and on PostgreSQL, driven over HTTP from this process on the same machine.
//!
//! Run with `scripts/bench` (it builds the server, starts a throw-away PostgreSQL and runs
//! this). Measures, per database: single creates/s with 8 concurrent clients, bulk rows/s,
//! list (filter + sort) latency over 100,000 records, get-by-id latency, and the server's
//! peak RSS. Prints a Markdown table for BENCHMARKS.md.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;
use common::{PASSWORD, percentile, rss_kib, start};

const CLIENTS: usize = 8;
const SINGLE_CREATES: usize = 20_000;
const TOTAL_RECORDS: usize = 100_000;
const BULK_BATCH: usize = 1_000;
const LIST_REQUESTS: usize = 400;
const GET_REQUESTS: usize = 2_000;
fn row(i: usize) -> Value {
    let statuses = ["open", "confirmed", "shipped", "closed"];
    json!({
        "code": format!("C-{i:07}"),
        "name": format!("Customer order {i}"),
        "qty": (i * 7919) % 1000,
        "price": format!("{}.{:02}", (i * 31) % 5000, i % 100),
        "status": statuses[i % 4],
        "due": format!("2026-{:02}-{:02}", 1 + i % 12, 1 + i % 28),
        "active": !i.is_multiple_of(3),
        "notes": "Benchmark record with a little bit of text in it.",
    })
}

struct Figures {
    creates_per_s: f64,
    bulk_rows_per_s: f64,
    bulk_minimal_rows_per_s: f64,
    bulk_two_clients_rows_per_s: f64,
    list_p50: Duration,
    list_p95: Duration,
    get_p50: Duration,
    get_p95: Duration,
    peak_rss_mib: f64,
}

async fn run(name: &str, bin: &str, database_url: Option<&str>) -> Figures {
    let server = start(bin, database_url).await;
    let pid = server.child.id();
    let peak = Arc::new(AtomicU64::new(0));
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let http = reqwest::Client::builder().pool_max_idle_per_host(CLIENTS * 2).build().expect("client");
    let base = server.base.clone();
    let login: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": "admin@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login body");
    let token = login["token"].as_str().expect("token").to_owned();
    let form = json!({
        "key": "orders", "name": "Orders",
        "fields": [
            {"key": "code", "label": "Code", "type": "text", "required": true, "unique": true},
            {"key": "name", "label": "Name", "type": "text"},
            {"key": "qty", "label": "Qty", "type": "integer", "indexed": true},
            {"key": "price", "label": "Price", "type": "decimal"},
            {"key": "status", "label": "Status", "type": "single_select", "options": ["open", "confirmed", "shipped", "closed"]},
            {"key": "due", "label": "Due", "type": "date"},
            {"key": "active", "label": "Active", "type": "boolean"},
            {"key": "notes", "label": "Notes", "type": "long_text"}
        ]
    });
    let r =
        http.post(format!("{base}/api/v1/t/default/forms")).bearer_auth(&token).json(&form).send().await.expect("form");
    assert_eq!(r.status(), 201, "form: {}", r.text().await.unwrap_or_default());
    let records = format!("{base}/api/v1/t/default/forms/orders/records");

    // Request bodies are made before the clock starts: the figures are the server's.
    let bodies: Arc<Vec<Vec<u8>>> =
        Arc::new((0..SINGLE_CREATES).map(|i| json!({"data": row(i)}).to_string().into_bytes()).collect());
    let bulk_bodies: Vec<(usize, Vec<u8>)> = (SINGLE_CREATES..TOTAL_RECORDS)
        .step_by(BULK_BATCH)
        .map(|start| {
            let batch: Vec<Value> =
                (start..(start + BULK_BATCH).min(TOTAL_RECORDS)).map(|j| json!({"data": row(j)})).collect();
            (batch.len(), json!({"records": batch}).to_string().into_bytes())
        })
        .collect();

    // 1. Single creates, 8 concurrent clients.
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (http, url, token, next, bodies) =
            (http.clone(), records.clone(), token.clone(), next.clone(), bodies.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= SINGLE_CREATES {
                    break;
                }
                let r = http
                    .post(&url)
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(bodies[i].clone())
                    .send()
                    .await
                    .expect("create");
                assert_eq!(r.status(), 201, "create: {}", r.text().await.unwrap_or_default());
            }
        }));
    }
    for t in tasks {
        t.await.expect("client");
    }
    let creates_per_s = SINGLE_CREATES as f64 / started.elapsed().as_secs_f64();
    eprintln!("{name}: {SINGLE_CREATES} creates at {creates_per_s:.0}/s");

    // 2. Bulk create up to TOTAL_RECORDS.
    // Three phases over a growing table (so later phases are, if anything, disadvantaged):
    // one client with the records echoed, one client with `Prefer: return=minimal`, and two
    // concurrent clients (an import split in two) with minimal answers.
    let third = bulk_bodies.len() / 3;
    let mut rates = Vec::new();
    let mut queue = bulk_bodies;
    for (clients, minimal) in [(1usize, false), (1, true), (2, true)] {
        let take = if rates.len() == 2 { queue.len() } else { third };
        let phase: Vec<(usize, Vec<u8>)> = queue.drain(..take).collect();
        let rows: usize = phase.iter().map(|(n, _)| n).sum();
        let phase = Arc::new(std::sync::Mutex::new(phase));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let (http, url, token, phase) = (http.clone(), format!("{records}/bulk"), token.clone(), phase.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let next = phase.lock().expect("queue").pop();
                    let Some((_, body)) = next else { break };
                    let mut req = http.post(&url).bearer_auth(&token).header("content-type", "application/json");
                    if minimal {
                        req = req.header("prefer", "return=minimal");
                    }
                    let r = req.body(body).send().await.expect("bulk");
                    let status = r.status();
                    let answer = r.bytes().await.expect("bulk answer");
                    assert_eq!(status, 201, "bulk: {}", String::from_utf8_lossy(&answer));
                }
            }));
        }
        for t in tasks {
            t.await.expect("bulk client");
        }
        rates.push(rows as f64 / started.elapsed().as_secs_f64());
        eprintln!(
            "{name}: {rows} bulk rows, {clients} client(s), minimal answer {minimal}: {:.0}/s",
            rates[rates.len() - 1]
        );
    }
    let (bulk_rows_per_s, bulk_minimal_rows_per_s, bulk_two_clients_rows_per_s) = (rates[0], rates[1], rates[2]);

    // 3. List with filter + sort over all records (one client, latency).
    let mut list = Vec::with_capacity(LIST_REQUESTS);
    for k in 0..LIST_REQUESTS {
        let threshold = (k * 37) % 900;
        let status = ["open", "confirmed", "shipped", "closed"][k % 4];
        let url = format!(
            "{records}?limit=50&sort=-qty&filter={}",
            tests::urlencode(&format!("status = \"{status}\" and qty > {threshold}"))
        );
        let t = Instant::now();
        let r = http.get(&url).bearer_auth(&token).send().await.expect("list");
        let status_code = r.status();
        let body: Value = r.json().await.expect("list body");
        list.push(t.elapsed());
        assert_eq!(status_code, 200, "list: {body}");
        assert_eq!(body["items"].as_array().map(Vec::len), Some(50));
    }
    let list_p50 = percentile(&mut list, 0.50);
    let list_p95 = percentile(&mut list, 0.95);

    // 4. Get by id.
    let first: Value = http
        .get(format!("{records}?limit=1&sort=id"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("first")
        .json()
        .await
        .expect("json");
    let first_id = first["items"][0]["id"].as_i64().expect("id");
    let mut gets = Vec::with_capacity(GET_REQUESTS);
    let seed = AtomicU64::new(88172645463325252);
    for _ in 0..GET_REQUESTS {
        let mut x = seed.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        seed.store(x, Ordering::Relaxed);
        let id = first_id + (x % TOTAL_RECORDS as u64) as i64;
        let t = Instant::now();
        let r = http.get(format!("{records}/{id}")).bearer_auth(&token).send().await.expect("get");
        let ok = r.status() == 200;
        let _ = r.bytes().await;
        gets.push(t.elapsed());
        assert!(ok, "get {id}");
    }
    let get_p50 = percentile(&mut gets, 0.50);
    let get_p95 = percentile(&mut gets, 0.95);
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.await;
    let peak_rss_mib = peak.load(Ordering::Relaxed) as f64 / 1024.0;
    Figures {
        creates_per_s,
        bulk_rows_per_s,
        bulk_minimal_rows_per_s,
        bulk_two_clients_rows_per_s,
        list_p50,
        list_p95,
        get_p50,
        get_p95,
        peak_rss_mib,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let bin = std::env::var("TESSERA_BIN").unwrap_or_else(|_| "target/release/tessera".into());
    assert!(std::path::Path::new(&bin).exists(), "no server binary at {bin}: run scripts/bench");
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let mut results = Vec::new();
    if only.is_empty() || only == "sqlite" {
        results.push(("SQLite", run("sqlite", &bin, None).await));
    }
    if only.is_empty() || only == "postgres" {
        match tests::fresh_postgres().await {
            Some(url) => results.push(("PostgreSQL", run("postgres", &bin, Some(&url)).await)),
            None => eprintln!("PostgreSQL skipped"),
        }
    }
    println!("| measure | target | {} |", results.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(" | "));
    println!("|---|---|{}", "---|".repeat(results.len()));
    let line = |label: &str, target: &str, f: &dyn Fn(&Figures) -> String| {
        println!("| {label} | {target} | {} |", results.iter().map(|(_, r)| f(r)).collect::<Vec<_>>().join(" | "));
    };
    line("single creates/s, 8 clients", "≥ 3,000", &|r| format!("{:.0}", r.creates_per_s));
    line("bulk create rows/s, 1 client, records echoed", "≥ 50,000", &|r| format!("{:.0}", r.bulk_rows_per_s));
    line("bulk create rows/s, 1 client, Prefer: return=minimal", "≥ 50,000", &|r| {
        format!("{:.0}", r.bulk_minimal_rows_per_s)
    });
    line("bulk create rows/s, 2 clients, Prefer: return=minimal", "≥ 50,000", &|r| {
        format!("{:.0}", r.bulk_two_clients_rows_per_s)
    });
    line("list filter+sort, 100k records, p50", "", &|r| ms(r.list_p50));
    line("list filter+sort, 100k records, p95", "≤ 20 ms", &|r| ms(r.list_p95));
    line("get by id p50", "", &|r| ms(r.get_p50));
    line("get by id p95", "≤ 2 ms", &|r| ms(r.get_p95));
    line("server peak RSS", "≤ 150 MB", &|r| format!("{:.0} MiB", r.peak_rss_mib));
}
