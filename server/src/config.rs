//! The one configuration struct, read from flags and environment variables.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use crate::tenants::auth::SessionPolicy;

/// Settings of a running server.
#[derive(Clone, Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "TESSERA_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Folder for the embedded SQLite database and attachments.
    #[arg(long, env = "TESSERA_DATA_DIR", default_value = "./tessera-data")]
    pub data_dir: PathBuf,
    /// `postgres://…` for PostgreSQL; when unset, SQLite in the data folder.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Largest request body in bytes.
    #[arg(long, env = "TESSERA_MAX_BODY_BYTES", default_value_t = 8 << 20)]
    pub max_body_bytes: usize,
    /// Minutes a session may stay unused.
    #[arg(long, env = "TESSERA_SESSION_IDLE_MINUTES", default_value_t = 12 * 60)]
    pub session_idle_minutes: i64,
    /// Hours a session lives at most.
    #[arg(long, env = "TESSERA_SESSION_MAX_HOURS", default_value_t = 7 * 24)]
    pub session_max_hours: i64,
    /// E-mail of the admin created on first start.
    #[arg(long, env = "TESSERA_ADMIN_EMAIL", default_value = "admin@example.com")]
    pub admin_email: String,
    /// Password of the admin created on first start; when unset one is generated and printed once.
    #[arg(long, env = "TESSERA_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// PEM file of extra certificate authorities that plugins' outbound HTTPS trusts, beside
    /// the system's (e.g. a company CA).
    #[arg(long, env = "TESSERA_PLUGIN_HTTP_CA")]
    pub plugin_http_ca: Option<PathBuf>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("data_dir", &self.data_dir)
            .field("database_url", &self.database_url.as_ref().map(|u| redact_url(u)))
            .field("max_body_bytes", &self.max_body_bytes)
            .field("admin_email", &self.admin_email)
            .field("admin_password", &self.admin_password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A database URL with its password hidden, for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}://{}:***@{}", &url[..scheme], user, &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

impl Config {
    /// A configuration for tests and embedding: everything default, the given database.
    pub fn for_database(database_url: &str) -> Config {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: PathBuf::from("./tessera-data"),
            database_url: Some(database_url.to_owned()),
            max_body_bytes: 8 << 20,
            session_idle_minutes: 12 * 60,
            session_max_hours: 7 * 24,
            admin_email: "admin@example.com".into(),
            admin_password: None,
            plugin_http_ca: None,
        }
    }

    pub fn session_policy(&self) -> SessionPolicy {
        SessionPolicy {
            idle: chrono::Duration::minutes(self.session_idle_minutes),
            absolute: chrono::Duration::hours(self.session_max_hours),
        }
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> anyhow::Result<String> {
        match &self.database_url {
            Some(u) if !u.is_empty() => Ok(u.clone()),
            _ => crate::store::Db::sqlite_url_in(&self.data_dir),
        }
    }
}
