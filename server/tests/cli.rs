//! The `tessera` command line against a real database: `migrate`, `admin create-tenant`,
//! `create-user`, `create-api-key`, on SQLite and (when configured) PostgreSQL.

use std::process::Command;

fn tessera(database_url: &str, data_dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("TESSERA_DATA_DIR", data_dir)
        .env("RUST_LOG", "warn")
        .env_remove("TESSERA_ADMIN_PASSWORD")
        .output()
        .expect("tessera runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn admin_tasks(url: &str, dir: &std::path::Path) {
    let (ok, text) = tessera(url, dir, &["migrate"]);
    assert!(ok, "{text}");
    assert!(text.contains("migrations applied"));
    let (ok, text) = tessera(
        url,
        dir,
        &[
            "admin",
            "create-tenant",
            "--slug",
            "acme",
            "--name",
            "ACME",
            "--admin-email",
            "boss@acme.io",
            "--admin-password",
            "long-password-1",
        ],
    );
    assert!(ok, "{text}");
    assert!(text.contains("created tenant acme"));
    let (ok, text) = tessera(
        url,
        dir,
        &[
            "admin",
            "create-tenant",
            "--slug",
            "acme",
            "--name",
            "Again",
            "--admin-email",
            "x@acme.io",
            "--admin-password",
            "long-password-1",
        ],
    );
    assert!(!ok, "a second tenant with the slug is refused");
    assert!(text.contains("slug"), "{text}");
    let (ok, text) = tessera(
        url,
        dir,
        &["admin", "create-user", "--tenant", "acme", "--email", "clerk@acme.io", "--password", "clerk-password-1"],
    );
    assert!(ok, "{text}");
    assert!(text.contains("as member"), "{text}");
    let (ok, text) =
        tessera(url, dir, &["admin", "create-api-key", "--tenant", "acme", "--name", "erp", "--owner", "boss@acme.io"]);
    assert!(ok, "{text}");
    assert!(text.lines().any(|l| l.starts_with("tsk_")), "the key is printed once: {text}");
    let (ok, text) =
        tessera(url, dir, &["admin", "create-user", "--tenant", "nope", "--email", "a@b.io", "--password", "x"]);
    assert!(!ok);
    assert!(text.contains("no such tenant"), "{text}");
}

#[test]
fn admin_tasks_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("cli.db").display());
    admin_tasks(&url, dir.path());
}

/// A fresh database on the test PostgreSQL server; None (a noted skip) when there is none
/// and none is required.
fn fresh_postgres(tag: &str) -> Option<String> {
    let Ok(admin_url) = std::env::var("TESSERA_TEST_POSTGRES_URL") else {
        assert_ne!(
            std::env::var("TESSERA_REQUIRE_POSTGRES").as_deref(),
            Ok("1"),
            "TESSERA_REQUIRE_POSTGRES=1 but TESSERA_TEST_POSTGRES_URL is not set"
        );
        eprintln!("note: TESSERA_TEST_POSTGRES_URL not set: skipping the PostgreSQL case");
        return None;
    };
    let name = format!("cli_{tag}_{}", std::process::id());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&admin_url).await.expect("connect");
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create database");
    });
    let base = admin_url.rsplit_once('/').map(|(b, _)| b.to_owned()).expect("url has a database");
    Some(format!("{base}/{name}"))
}

#[test]
fn admin_tasks_on_postgres() {
    let Some(url) = fresh_postgres("admin") else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    admin_tasks(&url, dir.path());
}

/// `tessera plugin package` checks a plugin as publishing will; `tessera plugin publish`
/// sends it to a running server, whose answer it prints (or fails with).
fn plugin_tasks(url: &str, dir: &std::path::Path) {
    let Ok(plugins) = std::env::var("TESSERA_TEST_PLUGIN_DIR") else {
        assert!(std::env::var("TESSERA_REQUIRE_POSTGRES").is_err(), "the test command must build the plugins");
        eprintln!("note: TESSERA_TEST_PLUGIN_DIR not set: skipping");
        return;
    };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let crate_dir = root.join("plugins/cn-id");
    let wasm = std::path::Path::new(&plugins).join("cn_id.wasm");
    let (crate_dir, wasm) = (crate_dir.to_str().expect("utf-8"), wasm.to_str().expect("utf-8"));
    let (ok, text) = tessera(url, dir, &["plugin", "package", crate_dir, "--component", wasm]);
    assert!(ok, "{text}");
    assert!(text.contains("cn-id 0.1.0 (validator) is ready to publish"), "{text}");
    // A manifest with problems names each of them.
    let bad = dir.join("bad");
    std::fs::create_dir_all(&bad).expect("dir");
    std::fs::write(
        bad.join("tessera-plugin.toml"),
        "id = \"X\"\nversion = \"1\"\nkind = \"action\"\n[name]\nen = \"x\"\n",
    )
    .expect("write");
    let (ok, text) = tessera(url, dir, &["plugin", "package", bad.to_str().expect("utf-8"), "--component", wasm]);
    assert!(!ok && text.contains("manifest.id") && text.contains("manifest.version"), "{text}");
    // The component must be of the manifest's kind.
    std::fs::write(
        bad.join("tessera-plugin.toml"),
        "id = \"xx\"\nversion = \"1.0.0\"\nkind = \"action\"\n[name]\nen = \"x\"\n",
    )
    .expect("write");
    let (ok, text) = tessera(url, dir, &["plugin", "package", bad.to_str().expect("utf-8"), "--component", wasm]);
    assert!(!ok && text.contains("action"), "{text}");

    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", url)
        .env("TESSERA_DATA_DIR", dir)
        .env("TESSERA_ADMIN_PASSWORD", "cli-admin-password")
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("server starts");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let token = runtime.block_on(async {
        let http = reqwest::Client::new();
        for _ in 0..600 {
            if http.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status() == 200) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let login: serde_json::Value = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({"email": "admin@example.com", "password": "cli-admin-password"}))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("json");
        login["token"].as_str().expect("token").to_owned()
    });
    let manifest = format!("{crate_dir}/tessera-plugin.toml");
    let publish = ["plugin", "publish", "--server", &base, "--token", &token, &manifest, wasm];
    let (ok, text) = tessera(url, dir, &publish);
    let (ok2, text2) = tessera(url, dir, &publish);
    let _ = server.kill();
    let _ = server.wait();
    assert!(ok, "{text}");
    assert!(text.contains("\"sha256\"") && text.contains("\"cn-id\""), "{text}");
    assert!(!ok2 && text2.contains("409") && text2.contains("immutable"), "{text2}");
}

#[test]
fn plugin_tasks_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("cli.db").display());
    plugin_tasks(&url, dir.path());
}

#[test]
fn plugin_tasks_on_postgres() {
    let Some(url) = fresh_postgres("plugin") else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    plugin_tasks(&url, dir.path());
}
