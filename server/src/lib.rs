//! Tessera: a self-hosted, multi-tenant no-code business operations platform.
//!
//! The crate is organised by domain — `tenants`, `forms`, `records` (with the expression
//! language in the `expr` crate) — with `api` as the HTTP surface only and `store` for the
//! database pools and dialect differences. See ARCHITECTURE.md at the repository root.

pub mod api;
pub mod cli;
pub mod config;
pub mod error;
pub mod forms;
pub mod plugins;
pub mod records;
pub mod store;
pub mod tenants;

use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;

pub use api::{AppState, app};
pub use config::Config;
use store::Db;

/// Opens the database, applies migrations and makes sure there is a first tenant and admin.
/// Returns the state and, when the admin was created with a generated password, that password.
pub async fn prepare(config: Config) -> anyhow::Result<(AppState, Option<String>)> {
    let url = config.database_url()?;
    let db = Db::connect(&url).await?;
    let generated = bootstrap(&db, &config).await?;
    let batcher = (db.dialect() == store::Dialect::Sqlite).then(records::Batcher::start);
    store::housekeeping::spawn(db.clone());
    let http_ca_pem = match &config.plugin_http_ca {
        Some(path) => Some(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?),
        None => None,
    };
    let limits =
        plugins::Limits { cache_dir: Some(config.data_dir.join("plugin-cache")), http_ca_pem, ..Default::default() };
    let plugins = plugins::Plugins::new(limits).context("starting the plugin runtime")?;
    let warmed = plugins::registry::warm_all(&plugins, &db).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    tracing::info!(plugins = warmed, "installed plugins loaded");
    Ok((AppState { db, config: Arc::new(config), batcher, plugins: Some(plugins) }, generated))
}

/// First start on an empty database: tenant `default` and its admin, who is also the
/// platform admin.
async fn bootstrap(db: &Db, config: &Config) -> anyhow::Result<Option<String>> {
    if tenants::count_tenants(db).await.map_err(|e| anyhow::anyhow!("{e}"))? > 0 {
        return Ok(None);
    }
    let (password, generated) = match &config.admin_password {
        Some(p) => (p.clone(), None),
        None => {
            let p = tenants::auth::generate_password();
            (p.clone(), Some(p))
        }
    };
    let new = tenants::NewTenant {
        slug: "default",
        name: "Default",
        admin_email: &config.admin_email,
        admin_password: &password,
        admin_name: Some("Administrator"),
    };
    tenants::create_tenant(db, new, true).await.map_err(|e| anyhow::anyhow!("creating the first tenant: {e:?}"))?;
    Ok(generated)
}

/// Serves `state` on `listener` until `shutdown` resolves, then drains open requests.
pub async fn run(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let db = state.db.clone();
    axum::serve(listener, app(state)).with_graceful_shutdown(shutdown).await.context("serving HTTP")?;
    db.close().await;
    Ok(())
}
