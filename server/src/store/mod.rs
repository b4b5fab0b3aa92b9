//! Database pools and the differences between SQLite and PostgreSQL.
//!
//! Every statement in the code base is written once, in PostgreSQL's dialect (`$1`
//! placeholders, `::jsonb` / `::text` casts on JSON columns). [`Db::sql`] rewrites it for
//! SQLite, which has no `::` syntax at all: `$N` becomes `?N` (SQLite binds `?N` to slot N
//! exactly) and the casts are dropped. Both databases are driven through sqlx's `Any`
//! driver, so one code path serves both and every test runs on both.
//!
//! SQLite allows one writer at a time. Rather than letting several connections fight over
//! the write lock (busy-waiting with sleeps), writes go through a pool of exactly one
//! connection and reads through a pool of many; on PostgreSQL both are the same pool.

pub mod housekeeping;
mod scoped;

use std::borrow::Cow;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub use expr::Dialect;
pub use scoped::{Scoped, TenantId};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// The database: a read pool, a write pool and the dialect they speak.
#[derive(Clone)]
pub struct Db {
    read: AnyPool,
    write: AnyPool,
    dialect: Dialect,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("dialect", &self.dialect).finish_non_exhaustive()
    }
}

/// Errors from the database layer that callers need to tell apart.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A uniqueness constraint was violated; carries the constraint's name where the
    /// database reports it.
    #[error("unique constraint violated")]
    Unique(Option<String>),
    #[error(transparent)]
    Other(#[from] sqlx::Error),
}

impl DbError {
    pub fn from_sqlx(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(d) = &e {
            if d.is_unique_violation() {
                return DbError::Unique(d.constraint().map(str::to_owned));
            }
            // SQLite reports constraint names only in the message.
            let msg = d.message();
            if msg.starts_with("UNIQUE constraint failed") {
                return DbError::Unique(Some(msg.to_owned()));
            }
        }
        DbError::Other(e)
    }
}

impl Db {
    /// Connects to `url` (`sqlite://…` or `postgres://…`) and applies pending migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Dialect::Postgres
        } else {
            anyhow::bail!("unsupported database URL (expected sqlite:// or postgres://)");
        };
        let options = AnyConnectOptions::from_str(url).context("parsing the database URL")?;
        let db = match dialect {
            Dialect::Sqlite => {
                let write = AnyPoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .after_connect(sqlite_pragmas)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options.clone())
                    .await
                    .context("opening the SQLite database")?;
                let read = AnyPoolOptions::new()
                    .max_connections(8)
                    .after_connect(sqlite_pragmas)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options)
                    .await
                    .context("opening the SQLite database for reading")?;
                spawn_checkpointer(read.clone());
                Db { read, write, dialect }
            }
            Dialect::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(32)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options)
                    .await
                    .context("connecting to PostgreSQL")?;
                Db { read: pool.clone(), write: pool, dialect }
            }
        };
        db.migrate().await?;
        Ok(db)
    }

    /// The URL of an SQLite file inside `dir`, created when missing.
    pub fn sqlite_url_in(dir: &Path) -> anyhow::Result<String> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join("tessera.db");
        Ok(format!("sqlite://{}?mode=rwc", path.display()))
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.dialect {
            Dialect::Sqlite => &SQLITE_MIGRATIONS,
            Dialect::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.write).await.context("applying database migrations")?;
        Ok(())
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The pool for reads.
    pub fn reader(&self) -> &AnyPool {
        &self.read
    }

    /// The pool for writes (on SQLite, the single writer connection).
    pub fn writer(&self) -> &AnyPool {
        &self.write
    }

    /// Starts a write transaction.
    pub async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        self.write.begin().await
    }

    /// Rewrites a statement written in PostgreSQL's dialect for this database.
    pub fn sql<'a>(&self, sql: &'a str) -> Cow<'a, str> {
        match self.dialect {
            Dialect::Postgres => Cow::Borrowed(sql),
            Dialect::Sqlite => Cow::Owned(to_sqlite(sql)),
        }
    }

    /// Closes both pools.
    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

/// Settings of every SQLite connection: WAL, so readers never wait for the writer; NORMAL
/// sync, which in WAL mode loses no committed transaction on a process crash; foreign keys.
fn sqlite_pragmas<'c>(
    conn: &'c mut sqlx::AnyConnection,
    _meta: sqlx::pool::PoolConnectionMetadata,
) -> futures::future::BoxFuture<'c, Result<(), sqlx::Error>> {
    Box::pin(async move {
        conn.execute(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000; \
             PRAGMA foreign_keys = ON; PRAGMA cache_size = -32000; PRAGMA temp_store = MEMORY; \
             PRAGMA wal_autocheckpoint = 10000;",
        )
        .await
        .map(|_| ())
    })
}

/// Moves the WAL into the database file in the background, so that the writer does not stop
/// for it (SQLite's own automatic checkpoint runs inside a committing write, fsync included;
/// it stays on, at a larger size, as the safety net). PASSIVE never blocks the writer.
fn spawn_checkpointer(pool: AnyPool) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !pool.is_closed() {
            tick.tick().await;
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await {
                if pool.is_closed() {
                    break;
                }
                tracing::debug!(error = %e, "background checkpoint failed");
            }
        }
    });
}

/// `$N` → `?N`; `::jsonb`, `::text`, `::bigint`, `::float8` dropped. String literals are
/// copied untouched.
fn to_sqlite(sql: &str) -> String {
    const CASTS: [&str; 4] = ["::jsonb", "::text", "::bigint", "::float8"];
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    let mut in_string = false;
    while let Some(c) = rest.chars().next() {
        if c == '\'' {
            in_string = !in_string;
        }
        if !in_string {
            if c == '$' && rest[1..].starts_with(|d: char| d.is_ascii_digit()) {
                out.push('?');
                rest = &rest[1..];
                continue;
            }
            if let Some(cast) = CASTS.iter().find(|cast| rest.starts_with(**cast)) {
                rest = &rest[cast.len()..];
                continue;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The current time in the canonical text form stored in every timestamp column:
/// RFC 3339, UTC, exactly three fraction digits, so that text order is time order.
pub fn now_text() -> String {
    format_time(chrono::Utc::now())
}

pub fn format_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::to_sqlite;

    #[test]
    fn rewrites_postgres_dialect_for_sqlite() {
        let check = |pg: &str, lite: &str| assert_eq!(to_sqlite(pg), lite, "{pg}");
        check("SELECT $1, $12", "SELECT ?1, ?12");
        check("INSERT INTO t (d) VALUES ($1::jsonb)", "INSERT INTO t (d) VALUES (?1)");
        check("SELECT data::text FROM t", "SELECT data FROM t");
        check("SELECT '$1::text' || $2", "SELECT '$1::text' || ?2");
        check("SELECT price$", "SELECT price$");
    }
}
