//! What the benchmarks share: the release server as a child process, percentiles, RSS.

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const PASSWORD: &str = "bench-password-1";

pub struct Server {
    pub child: Child,
    pub base: String,
    /// The data folder, when the server owns it.
    pub dir: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

pub async fn start(bin: &str, database_url: Option<&str>) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = start_in(bin, database_url, dir.path()).await;
    server.dir = Some(dir);
    server
}

/// Starts the server with `dir` as its data folder (the caller keeps it).
pub async fn start_in(bin: &str, database_url: Option<&str>, dir: &std::path::Path) -> Server {
    let port = free_port();
    let mut cmd = Command::new(bin);
    cmd.args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir)
        .env("TESSERA_ADMIN_PASSWORD", PASSWORD)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    match database_url {
        Some(u) => cmd.env("DATABASE_URL", u),
        None => cmd.env_remove("DATABASE_URL"),
    };
    let base = format!("http://127.0.0.1:{port}");
    // Owned by `Server` at once, so that its Drop kills and reaps it on every path.
    let server = Server { child: cmd.spawn().expect("start tessera"), base, dir: None };
    let http = reqwest::Client::new();
    for _ in 0..3000 {
        if http.get(format!("{}/readyz", server.base)).send().await.is_ok_and(|r| r.status() == 200) {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("server did not become ready");
}

pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

pub fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[i]
}
