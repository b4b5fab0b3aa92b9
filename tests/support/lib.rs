//! Test support: starts a real Tessera server (in-process, on a free loopback port) on a
//! fresh SQLite file or a fresh PostgreSQL database, and a small JSON client for it.
//!
//! PostgreSQL comes from `TESSERA_TEST_POSTGRES_URL` (a superuser URL; `scripts/with-postgres`
//! starts a throw-away server and sets it). Without it, PostgreSQL cases are skipped with a
//! note — unless `TESSERA_REQUIRE_POSTGRES=1`, as in CI, where they fail.

use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::{Value, json};

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "admin-password-1";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running server with a signed-in platform admin.
pub struct TestServer {
    pub base: String,
    pub http: reqwest::Client,
    /// The bootstrap admin's bearer token (tenant `default`, platform admin).
    pub admin: String,
    pub backend: Backend,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

/// The answer to a request.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    /// Panics unless the status is `want`, showing the body.
    #[track_caller]
    pub fn expect(self, want: u16) -> Answer {
        assert_eq!(self.status.as_u16(), want, "unexpected status; body: {}", self.body);
        self
    }

    /// The `field`s named in a problem document's `errors`.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| a.iter().filter_map(|e| e["field"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }

    pub fn is_problem(&self) -> bool {
        self.headers
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap_or("").starts_with("application/problem+json"))
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name unique within this test process.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// The URL of a fresh PostgreSQL database, or None when PostgreSQL is not configured.
pub async fn fresh_postgres() -> Option<String> {
    let Ok(admin_url) = std::env::var("TESSERA_TEST_POSTGRES_URL") else {
        if std::env::var("TESSERA_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
            panic!("TESSERA_REQUIRE_POSTGRES=1 but TESSERA_TEST_POSTGRES_URL is not set");
        }
        eprintln!(
            "note: TESSERA_TEST_POSTGRES_URL not set: skipping the PostgreSQL case (run under scripts/with-postgres)"
        );
        return None;
    };
    use sqlx::Connection;
    let name = unique("t_");
    let mut conn = sqlx::PgConnection::connect(&admin_url).await.expect("connect to the test PostgreSQL");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create test database");
    let _ = conn.close().await;
    let base = admin_url.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap_or(admin_url);
    Some(format!("{base}/{name}"))
}

impl TestServer {
    /// Starts a server on `backend`; None when that backend is not available here.
    pub async fn start(backend: Backend) -> Option<TestServer> {
        Self::start_with(backend, |_| {}).await
    }

    /// Like [`TestServer::start`], with `adjust` applied to the configuration first.
    pub async fn start_with(backend: Backend, adjust: impl FnOnce(&mut server::Config)) -> Option<TestServer> {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = match backend {
            Backend::Sqlite => format!("sqlite://{}?mode=rwc", dir.path().join("tessera.db").display()),
            Backend::Postgres => fresh_postgres().await?,
        };
        let mut config = server::Config::for_database(&url);
        config.data_dir = dir.path().to_path_buf();
        config.admin_email = ADMIN_EMAIL.into();
        config.admin_password = Some(ADMIN_PASSWORD.into());
        adjust(&mut config);
        let (state, _) = server::prepare(config).await.expect("server prepares");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server::run(state, listener, async {
            let _ = rx.await;
        }));
        let http = reqwest::Client::builder().build().expect("client");
        let mut s =
            TestServer { base, http, admin: String::new(), backend, shutdown: Some(tx), task: Some(task), _dir: dir };
        s.admin = s.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        Some(s)
    }

    /// Signs in and returns the bearer token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let a = self
            .call(Method::POST, "/api/v1/auth/login", None, Some(json!({"email": email, "password": password})))
            .await;
        assert_eq!(a.status, 200, "login of {email} failed: {}", a.body);
        a.body["token"].as_str().expect("token").to_owned()
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Answer {
        self.call_with(method, path, token, body, &[]).await
    }

    /// Like [`TestServer::call`] with extra headers.
    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request sent");
        Self::answer(resp).await
    }

    /// Sends raw bytes with a content type.
    pub async fn call_raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> Answer {
        let mut req =
            self.http.request(method, format!("{}{path}", self.base)).header("content-type", content_type).body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Self::answer(req.send().await.expect("request sent")).await
    }

    async fn answer(resp: reqwest::Response) -> Answer {
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Answer { status, headers, body }
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call(Method::PATCH, path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Answer {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// Publishes a plugin version (multipart: `manifest` and `component`) with `token`.
    pub async fn publish(&self, token: &str, manifest: &str, component: &[u8]) -> Answer {
        let (content_type, body) = server::plugins::cli::publish_body(manifest, component);
        self.call_raw(Method::POST, "/api/v1/plugins", Some(token), &content_type, body).await
    }

    /// Creates a tenant with an admin; returns the admin's token.
    pub async fn tenant(&self, slug: &str) -> String {
        let email = format!("admin@{slug}.example.com");
        self.post(
            "/api/v1/tenants",
            &self.admin,
            json!({"slug": slug, "name": format!("Tenant {slug}"), "admin": {"email": email, "password": "tenant-password-1"}}),
        )
        .await
        .expect(201);
        self.login(&email, "tenant-password-1").await
    }

    /// Adds a member with `role` to a tenant; returns (user id, token).
    pub async fn member(&self, tenant: &str, admin: &str, email: &str, role: &str) -> (i64, String) {
        let a = self
            .post(
                &format!("/api/v1/t/{tenant}/users"),
                admin,
                json!({"email": email, "password": "member-password-1", "role": role}),
            )
            .await
            .expect(201);
        (a.body["id"].as_i64().expect("id"), self.login(email, "member-password-1").await)
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Declares a test that runs on SQLite and on PostgreSQL:
/// `both!(name, async_fn_taking_TestServer)`.
#[macro_export]
macro_rules! both {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                if let Some(s) = $crate::TestServer::start($crate::Backend::Sqlite).await {
                    super::$body(&s).await;
                    s.stop().await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(s) = $crate::TestServer::start($crate::Backend::Postgres).await {
                    super::$body(&s).await;
                    s.stop().await;
                }
            }
        }
    };
}

/// Sends a request over a plain TCP connection, writing the body while reading the answer,
/// so that a server which answers before reading the whole body (413) can be observed the
/// way a browser sees it. Returns the status and the response text.
pub async fn raw_post(base: &str, path: &str, token: &str, content_type: &str, body: Vec<u8>) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://").to_owned();
    let stream = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    let (mut rd, mut wr) = stream.into_split();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(head.as_bytes()).await;
        let _ = wr.write_all(&body).await;
    });
    let mut out = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(30), rd.read_to_end(&mut out)).await;
    writer.abort();
    let _ = read;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

/// A plugin built by `scripts/test`: its manifest (`tessera-plugin.toml` in `crate_dir`,
/// relative to the repository root) and its component (`<file>.wasm` in
/// `TESSERA_TEST_PLUGIN_DIR`). None when the plugins were not built (outside `scripts/test`).
pub fn built_plugin(crate_dir: &str, file: &str) -> Option<(String, Vec<u8>)> {
    let Ok(dir) = std::env::var("TESSERA_TEST_PLUGIN_DIR") else {
        assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "CI must build the plugins (scripts/test does)");
        assert!(
            std::env::var("TESSERA_REQUIRE_POSTGRES").is_err(),
            "the test command must build the plugins (TESSERA_TEST_PLUGIN_DIR)"
        );
        eprintln!("note: TESSERA_TEST_PLUGIN_DIR not set: skipping (scripts/test sets it)");
        return None;
    };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let manifest = std::fs::read_to_string(root.join(crate_dir).join("tessera-plugin.toml"))
        .unwrap_or_else(|e| panic!("{crate_dir}/tessera-plugin.toml: {e}"));
    let wasm = std::path::Path::new(&dir).join(format!("{file}.wasm"));
    let component = std::fs::read(&wasm).unwrap_or_else(|e| panic!("{}: {e}", wasm.display()));
    Some((manifest, component))
}

/// Percent-encodes a query-string value.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
