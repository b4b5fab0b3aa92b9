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

#[test]
fn admin_tasks_on_postgres() {
    let Ok(admin_url) = std::env::var("TESSERA_TEST_POSTGRES_URL") else {
        assert_ne!(
            std::env::var("TESSERA_REQUIRE_POSTGRES").as_deref(),
            Ok("1"),
            "TESSERA_REQUIRE_POSTGRES=1 but TESSERA_TEST_POSTGRES_URL is not set"
        );
        eprintln!("note: TESSERA_TEST_POSTGRES_URL not set: skipping the PostgreSQL case");
        return;
    };
    let name = format!("cli_{}", std::process::id());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&admin_url).await.expect("connect");
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create database");
    });
    let base = admin_url.rsplit_once('/').map(|(b, _)| b.to_owned()).expect("url has a database");
    let dir = tempfile::tempdir().expect("temp dir");
    admin_tasks(&format!("{base}/{name}"), dir.path());
}
