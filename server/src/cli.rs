//! The `tessera` command line: `serve`, `migrate`, and `admin` tasks.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::store::Db;
use crate::tenants;

#[derive(Parser)]
#[command(name = "tessera", version, about = "Tessera: no-code business operations platform")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the server (creates the database and first admin on first run).
    Serve(Config),
    /// Apply database migrations and exit.
    Migrate(Config),
    /// Administrative tasks on the database.
    Admin {
        #[command(flatten)]
        config: Config,
        #[command(subcommand)]
        task: AdminTask,
    },
    /// Package and publish plugins (for plugin authors and platform operators).
    Plugin {
        #[command(subcommand)]
        task: crate::plugins::cli::PluginTask,
    },
}

// The variants are the command names (`create-tenant`, …), hence the shared prefix.
#[allow(clippy::enum_variant_names)]
#[derive(Subcommand)]
enum AdminTask {
    /// Create a tenant and its admin user.
    CreateTenant {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        admin_email: String,
        #[arg(long, env = "TESSERA_NEW_ADMIN_PASSWORD", hide_env_values = true)]
        admin_password: String,
    },
    /// Add a user to a tenant.
    CreateUser {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        #[arg(long, env = "TESSERA_NEW_USER_PASSWORD", hide_env_values = true)]
        password: String,
        #[arg(long, default_value = "member")]
        role: String,
        #[arg(long)]
        name: Option<String>,
    },
    /// Create an API key for a tenant; prints the key once.
    CreateApiKey {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "member")]
        role: String,
        /// E-mail of the tenant member the key acts for.
        #[arg(long)]
        owner: String,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let json = std::env::var("TESSERA_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(config) => serve(config).await,
        Command::Migrate(config) => {
            Db::connect(&config.database_url()?).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Admin { config, task } => admin(config, task).await,
        Command::Plugin { task } => crate::plugins::cli::run(task).await,
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let bind = config.bind;
    let admin_email = config.admin_email.clone();
    tracing::info!(config = ?config, "starting");
    let (state, generated) = crate::prepare(config).await?;
    if let Some(password) = generated {
        println!("Created tenant `default` and its admin {admin_email}");
        println!("Generated admin password (shown once): {password}");
    }
    let listener = tokio::net::TcpListener::bind(bind).await.with_context(|| format!("binding {bind}"))?;
    tracing::info!(address = %listener.local_addr()?, "listening");
    println!("Tessera is listening on http://{}", listener.local_addr()?);
    crate::run(state, listener, shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

async fn admin(config: Config, task: AdminTask) -> anyhow::Result<()> {
    let db = Db::connect(&config.database_url()?).await?;
    let fail = |e: crate::error::Error| anyhow::anyhow!("{}", describe(&e));
    match task {
        AdminTask::CreateTenant { slug, name, admin_email, admin_password } => {
            let new = tenants::NewTenant {
                slug: &slug,
                name: &name,
                admin_email: &admin_email,
                admin_password: &admin_password,
                admin_name: None,
            };
            let (t, _) = tenants::create_tenant(&db, new, false).await.map_err(fail)?;
            println!("created tenant {} (id {})", t.slug, t.id);
        }
        AdminTask::CreateUser { tenant, email, password, role, name } => {
            let t = tenants::tenant_by_slug(&db, &tenant).await.map_err(fail)?.context("no such tenant")?;
            let s = db.scoped(tenants::TenantId(t.id));
            let m = tenants::add_member(
                &s,
                tenants::NewMember {
                    email,
                    name,
                    password: Some(password),
                    role,
                    department_id: None,
                    manager_id: None,
                },
            )
            .await
            .map_err(fail)?;
            println!("added user {} (id {}) to {} as {}", m.email, m.id, t.slug, m.role);
        }
        AdminTask::CreateApiKey { tenant, name, role, owner } => {
            let t = tenants::tenant_by_slug(&db, &tenant).await.map_err(fail)?.context("no such tenant")?;
            let s = db.scoped(tenants::TenantId(t.id));
            let owner_id = tenants::list_members(&s)
                .await
                .map_err(fail)?
                .into_iter()
                .find(|m| m.email.eq_ignore_ascii_case(owner.trim()))
                .context("the owner is not a member of that tenant")?
                .id;
            let (key, secret) =
                tenants::create_api_key(&s, &name, &role, tenants::UserId(owner_id)).await.map_err(fail)?;
            println!("created API key {} (id {}); it is shown only now:\n{secret}", key.name, key.id);
        }
    }
    db.close().await;
    Ok(())
}

fn describe(e: &crate::error::Error) -> String {
    match e {
        crate::error::Error::Invalid(errors) | crate::error::Error::Conflict(errors) => {
            errors.iter().map(|f| format!("{}: {}", f.field, f.message)).collect::<Vec<_>>().join("; ")
        }
        other => other.to_string(),
    }
}
