//! Removing what has outlived its use: idempotency keys past their replay window, expired
//! sessions, old login failures. Runs on every node; the deletes are idempotent, so nodes
//! sharing one PostgreSQL need no coordination.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Db, format_time};

/// How long a retried request with the same `Idempotency-Key` gets the first answer.
pub const IDEMPOTENCY_WINDOW_HOURS: i64 = 24;
/// How often housekeeping runs.
pub const INTERVAL: Duration = Duration::from_secs(600);

/// What one pass removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub idempotency_keys: u64,
    pub sessions: u64,
    pub login_failures: u64,
}

/// One pass, as of `now`.
pub async fn sweep(db: &Db, now: DateTime<Utc>) -> Result<Swept, sqlx::Error> {
    let keys_before = format_time(now - chrono::Duration::hours(IDEMPOTENCY_WINDOW_HOURS));
    // Maintenance across tenants by design: the statement reads no tenant's data.
    let idempotency_keys = db
        .global("DELETE FROM idempotency_keys WHERE created_at < $1")
        .bind(keys_before)
        .execute(db.writer())
        .await?
        .rows_affected();
    let sessions = db
        .global("DELETE FROM sessions WHERE expires_at < $1")
        .bind(format_time(now))
        .execute(db.writer())
        .await?
        .rows_affected();
    let login_failures = db
        .global("DELETE FROM login_failures WHERE at < $1")
        .bind(format_time(now - chrono::Duration::days(1)))
        .execute(db.writer())
        .await?
        .rows_affected();
    Ok(Swept { idempotency_keys, sessions, login_failures })
}

/// Runs [`sweep`] every [`INTERVAL`] until the database is closed.
pub fn spawn(db: Db) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if db.writer().is_closed() {
                break;
            }
            match sweep(&db, Utc::now()).await {
                Ok(swept) if swept != Swept::default() => tracing::info!(?swept, "housekeeping"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "housekeeping failed"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sweeps_only_what_has_expired() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Db::connect(&Db::sqlite_url_in(dir.path()).expect("url")).await.expect("db");
        let now = Utc::now();
        let old = format_time(now - chrono::Duration::hours(IDEMPOTENCY_WINDOW_HOURS + 1));
        let fresh = format_time(now - chrono::Duration::hours(1));
        for (key, at) in [("old", &old), ("fresh", &fresh)] {
            db.global(
                "INSERT INTO idempotency_keys (tenant_id, key, principal, request_hash, status, body, created_at) \
                 VALUES (1, $1, 'p', 'h', 201, '{}', $2)",
            )
            .bind(key)
            .bind(at.as_str())
            .execute(db.writer())
            .await
            .expect("insert");
        }
        let swept = sweep(&db, now).await.expect("sweep");
        assert_eq!(swept.idempotency_keys, 1);
        let left: Vec<String> = sqlx::query_scalar::<_, String>("SELECT key FROM idempotency_keys")
            .fetch_all(db.reader())
            .await
            .expect("select");
        assert_eq!(left, ["fresh"]);
        assert_eq!(sweep(&db, now).await.expect("again"), Swept::default(), "a second pass finds nothing");
        db.close().await;
    }
}
