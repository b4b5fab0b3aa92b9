//! Passwords, sessions, API keys and login throttling.
//!
//! Passwords are hashed with argon2id. Session tokens and API keys are 256-bit random
//! secrets; only their SHA-256 is stored (they are not guessable, so a slow hash buys
//! nothing and would cost every request). A session has an idle and an absolute timeout and
//! a fresh token is issued at every login.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use chrono::{Duration, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{Actor, Role, Tenant, UserId};
use crate::error::{Error, Result};
use crate::store::{Db, TenantId, format_time, now_text};

/// Session lifetimes.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    pub idle: Duration,
    pub absolute: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy { idle: Duration::hours(12), absolute: Duration::days(7) }
    }
}

/// Failed logins per e-mail address within [`LOGIN_WINDOW_MINUTES`] before further
/// attempts are refused with 429.
pub const MAX_LOGIN_FAILURES: i64 = 5;
pub const LOGIN_WINDOW_MINUTES: i64 = 15;

pub const SESSION_PREFIX: &str = "tss_";
pub const API_KEY_PREFIX: &str = "tsk_";

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// Checks the platform's password rule; the message is shown to the user.
pub fn check_password_strength(password: &str) -> Result<(), String> {
    if password.chars().count() < 10 {
        return Err("must be at least 10 characters".into());
    }
    if password.len() > 1024 {
        return Err("must be at most 1024 bytes".into());
    }
    Ok(())
}

/// A new random secret with `prefix`.
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

pub fn secret_hash(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A password suitable to print once at first start.
pub fn generate_password() -> String {
    let mut bytes = [0u8; 15];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Who a request's credentials belong to.
#[derive(Debug, Clone)]
pub enum Credential {
    Session { user_id: UserId, is_platform_admin: bool },
    ApiKey { key_id: i64, tenant_id: TenantId, role_id: i64, user_id: UserId },
}

impl Credential {
    pub fn is_platform_admin(&self) -> bool {
        matches!(self, Credential::Session { is_platform_admin: true, .. })
    }
}

/// Resolves a bearer token or session cookie value.
pub async fn authenticate(db: &Db, token: &str, policy: SessionPolicy) -> Result<Credential> {
    Ok(authenticate_in(db, token, None, policy).await?.0)
}

/// Resolves a credential and, with `tenant`, the caller's place in that tenant — in one
/// query, since every tenant-scoped request needs both. The tenant part is None when the
/// tenant does not exist or the caller is not in it.
pub async fn authenticate_in(
    db: &Db,
    token: &str,
    tenant: Option<&str>,
    policy: SessionPolicy,
) -> Result<(Credential, Option<(Tenant, Actor)>)> {
    let hash = secret_hash(token);
    let slug = tenant.unwrap_or("").to_owned();
    if token.starts_with(API_KEY_PREFIX) {
        let row = db
            .global(
                "SELECT k.id, k.tenant_id, k.role_id, k.created_by, \
                 t.id AS t_id, t.slug, t.name AS t_name, t.created_at, \
                 r.id AS r_id, r.name AS r_name, r.is_admin, r.permissions, NULL AS department_id \
                 FROM api_keys k LEFT JOIN tenants t ON t.slug = $2 AND t.id = k.tenant_id \
                 LEFT JOIN roles r ON r.id = k.role_id AND r.tenant_id = k.tenant_id \
                 WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
            )
            .bind(hash)
            .bind(slug)
            .fetch_optional(db.reader())
            .await?
            .ok_or(Error::Unauthenticated)?;
        let key_id: i64 = row.try_get(0)?;
        let user_id = UserId(row.try_get(3)?);
        let credential =
            Credential::ApiKey { key_id, tenant_id: TenantId(row.try_get(1)?), role_id: row.try_get(2)?, user_id };
        let place = place_from_row(&row, user_id, Some(key_id))?;
        return Ok((credential, place));
    }
    if !token.starts_with(SESSION_PREFIX) {
        return Err(Error::Unauthenticated);
    }
    let row = db
        .global(
            "SELECT s.user_id, s.last_seen_at, s.expires_at, u.is_platform_admin, \
             t.id AS t_id, t.slug, t.name AS t_name, t.created_at, \
             r.id AS r_id, r.name AS r_name, r.is_admin, r.permissions, m.department_id \
             FROM sessions s JOIN users u ON u.id = s.user_id AND u.disabled_at IS NULL \
             LEFT JOIN tenants t ON t.slug = $2 \
             LEFT JOIN memberships m ON m.tenant_id = t.id AND m.user_id = s.user_id \
             LEFT JOIN roles r ON r.id = m.role_id AND r.tenant_id = m.tenant_id \
             WHERE s.token_hash = $1",
        )
        .bind(&hash)
        .bind(slug)
        .fetch_optional(db.reader())
        .await?
        .ok_or(Error::Unauthenticated)?;
    let user_id: i64 = row.try_get(0)?;
    let last_seen: String = row.try_get(1)?;
    let expires: String = row.try_get(2)?;
    let is_platform_admin: i64 = row.try_get(3)?;
    let now = Utc::now();
    let idle_cutoff = format_time(now - policy.idle);
    let now_s = format_time(now);
    if expires <= now_s || last_seen <= idle_cutoff {
        db.global("DELETE FROM sessions WHERE token_hash = $1").bind(&hash).execute(db.writer()).await?;
        return Err(Error::Unauthenticated);
    }
    // Refresh the idle clock at most once a minute, so that reads stay reads.
    if last_seen < format_time(now - Duration::minutes(1)) {
        db.global("UPDATE sessions SET last_seen_at = $2 WHERE token_hash = $1")
            .bind(&hash)
            .bind(now_s)
            .execute(db.writer())
            .await?;
    }
    let place = place_from_row(&row, UserId(user_id), None)?;
    Ok((Credential::Session { user_id: UserId(user_id), is_platform_admin: is_platform_admin != 0 }, place))
}

/// The tenant and actor columns of an [`authenticate_in`] row, when both are there.
fn place_from_row(
    row: &sqlx::any::AnyRow,
    user_id: UserId,
    api_key_id: Option<i64>,
) -> Result<Option<(Tenant, Actor)>> {
    let (Some(tenant_id), Some(role_id)) =
        (row.try_get::<Option<i64>, _>("t_id")?, row.try_get::<Option<i64>, _>("r_id")?)
    else {
        return Ok(None);
    };
    let permissions: String = row.try_get("permissions")?;
    let tenant = Tenant {
        id: tenant_id,
        slug: row.try_get("slug")?,
        name: row.try_get("t_name")?,
        created_at: row.try_get("created_at")?,
    };
    let actor = Actor {
        user_id,
        role: Role {
            id: role_id,
            name: row.try_get("r_name")?,
            is_admin: row.try_get::<i64, _>("is_admin")? != 0,
            permissions: serde_json::from_str(&permissions).map_err(anyhow::Error::from)?,
        },
        department_id: row.try_get("department_id")?,
        api_key_id,
    };
    Ok(Some((tenant, actor)))
}

/// A successful login.
pub struct Login {
    pub token: String,
    pub user_id: UserId,
    pub expires_at: String,
}

/// Checks e-mail and password, throttles repeated failures, and opens a new session.
pub async fn login(db: &Db, email: &str, password: &str, policy: SessionPolicy) -> Result<Login> {
    let email = email.trim().to_lowercase();
    let window_start = format_time(Utc::now() - Duration::minutes(LOGIN_WINDOW_MINUTES));
    let failures: i64 = db
        .global("SELECT COUNT(*) FROM login_failures WHERE email = $1 AND at > $2")
        .bind(&email)
        .bind(&window_start)
        .fetch_one(db.reader())
        .await?
        .try_get(0)?;
    if failures >= MAX_LOGIN_FAILURES {
        return Err(Error::RateLimited { retry_after_secs: (LOGIN_WINDOW_MINUTES * 60) as u64 });
    }
    let row = db
        .global("SELECT id, password_hash FROM users WHERE email = $1 AND disabled_at IS NULL")
        .bind(&email)
        .fetch_optional(db.reader())
        .await?;
    let (user_id, hash): (Option<i64>, String) = match row {
        Some(r) => (Some(r.try_get(0)?), r.try_get(1)?),
        // Verify against a fixed hash anyway so that unknown e-mails take as long as known ones.
        None => (None, DUMMY_HASH.to_owned()),
    };
    let password = password.to_owned();
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .map_err(|e| anyhow::anyhow!("password check panicked: {e}"))?;
    let Some(user_id) = user_id.filter(|_| ok) else {
        db.global("INSERT INTO login_failures (email, at) VALUES ($1, $2)")
            .bind(&email)
            .bind(now_text())
            .execute(db.writer())
            .await?;
        db.global("DELETE FROM login_failures WHERE at < $1")
            .bind(format_time(Utc::now() - Duration::days(1)))
            .execute(db.writer())
            .await?;
        return Err(Error::Unauthenticated);
    };
    db.global("DELETE FROM login_failures WHERE email = $1").bind(&email).execute(db.writer()).await?;
    let token = new_secret(SESSION_PREFIX);
    let now = Utc::now();
    let expires_at = format_time(now + policy.absolute);
    db.global(
        "INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $3, $4)",
    )
    .bind(secret_hash(&token))
    .bind(user_id)
    .bind(format_time(now))
    .bind(&expires_at)
    .execute(db.writer())
    .await?;
    Ok(Login { token, user_id: UserId(user_id), expires_at })
}

/// Ends the session of `token` (unknown tokens are ignored).
pub async fn logout(db: &Db, token: &str) -> Result<()> {
    db.global("DELETE FROM sessions WHERE token_hash = $1").bind(secret_hash(token)).execute(db.writer()).await?;
    Ok(())
}

/// argon2id hash of a random string nobody knows; used to keep timing uniform.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3o/4iZB3rRWJXOU5FSVH3pPbdWGtNi+uqJN8Wsm/n5U";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_round_trip() {
        let h = hash_password("correct horse battery").expect("hash");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("wrong horse battery", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn secrets_are_prefixed_and_distinct() {
        let a = new_secret(SESSION_PREFIX);
        let b = new_secret(SESSION_PREFIX);
        assert!(a.starts_with("tss_") && a.len() > 40);
        assert_ne!(a, b);
        assert_eq!(secret_hash(&a).len(), 64);
    }
}
