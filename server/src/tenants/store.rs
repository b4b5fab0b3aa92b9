//! SQL of the tenants domain. Platform-wide tables (tenants, users) go through
//! [`Db::global`]; tenant-owned ones through [`Scoped`].

use sqlx::Row;
use sqlx::any::AnyRow;

use super::auth::{self, API_KEY_PREFIX};
use super::{Actor, FormPermission, Permissions, Role, Tenant, UserId, check_key};
use crate::error::{Error, FieldError, Result};
use crate::store::{Db, DbError, Scoped, TenantId, now_text};

fn tenant_from_row(row: &AnyRow) -> Result<Tenant> {
    Ok(Tenant { id: row.try_get(0)?, slug: row.try_get(1)?, name: row.try_get(2)?, created_at: row.try_get(3)? })
}

pub async fn tenant_by_slug(db: &Db, slug: &str) -> Result<Option<Tenant>> {
    let row = db
        .global("SELECT id, slug, name, created_at FROM tenants WHERE slug = $1")
        .bind(slug)
        .fetch_optional(db.reader())
        .await?;
    row.as_ref().map(tenant_from_row).transpose()
}

pub async fn list_tenants(db: &Db) -> Result<Vec<Tenant>> {
    let rows = db.global("SELECT id, slug, name, created_at FROM tenants ORDER BY id").fetch_all(db.reader()).await?;
    rows.iter().map(tenant_from_row).collect()
}

/// Input for a new tenant and its first admin.
pub struct NewTenant<'a> {
    pub slug: &'a str,
    pub name: &'a str,
    pub admin_email: &'a str,
    pub admin_password: &'a str,
    pub admin_name: Option<&'a str>,
}

/// Checks a new tenant's input, collecting every problem.
pub fn validate_new_tenant(t: &NewTenant<'_>) -> Result<()> {
    let mut errors = Vec::new();
    if let Err(m) = check_key(t.slug, true) {
        errors.push(FieldError::new("slug", m));
    }
    if t.name.trim().is_empty() || t.name.len() > 200 {
        errors.push(FieldError::new("name", "must be 1 to 200 characters"));
    }
    if let Err(m) = check_email(t.admin_email) {
        errors.push(FieldError::new("admin.email", m));
    }
    if let Err(m) = auth::check_password_strength(t.admin_password) {
        errors.push(FieldError::new("admin.password", m));
    }
    if errors.is_empty() { Ok(()) } else { Err(Error::Invalid(errors)) }
}

pub fn check_email(email: &str) -> Result<(), String> {
    let email = email.trim();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
        })
        && !email.contains(char::is_whitespace);
    if valid { Ok(()) } else { Err("must be an e-mail address".into()) }
}

/// Creates a tenant with the built-in roles `admin` and `member` and its first admin user
/// (an existing user with that e-mail becomes its admin; the password is then ignored).
pub async fn create_tenant(db: &Db, new: NewTenant<'_>, platform_admin: bool) -> Result<(Tenant, UserId)> {
    validate_new_tenant(&new)?;
    let password_hash = {
        let p = new.admin_password.to_owned();
        tokio::task::spawn_blocking(move || auth::hash_password(&p))
            .await
            .map_err(|e| anyhow::anyhow!("hashing panicked: {e}"))??
    };
    let now = now_text();
    let mut tx = db.begin().await?;
    let id: i64 = db
        .global("INSERT INTO tenants (slug, name, created_at) VALUES ($1, $2, $3) RETURNING id")
        .bind(new.slug)
        .bind(new.name.trim())
        .bind(&now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match DbError::from_sqlx(e) {
            DbError::Unique(_) => {
                Error::Conflict(vec![FieldError::new("slug", "a tenant with this slug already exists")])
            }
            other => other.into(),
        })?
        .try_get(0)?;
    let email = new.admin_email.trim().to_lowercase();
    let existing = db.global("SELECT id FROM users WHERE email = $1").bind(&email).fetch_optional(&mut *tx).await?;
    let user_id: i64 = match existing {
        Some(row) => {
            if platform_admin {
                db.global("UPDATE users SET is_platform_admin = 1 WHERE id = $1")
                    .bind(row.try_get::<i64, _>(0)?)
                    .execute(&mut *tx)
                    .await?;
            }
            row.try_get(0)?
        }
        None => db
            .global(
                "INSERT INTO users (email, name, password_hash, is_platform_admin, created_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(&email)
            .bind(new.admin_name.unwrap_or(&email))
            .bind(&password_hash)
            .bind(i64::from(platform_admin))
            .bind(&now)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?,
    };
    let tenant = TenantId(id);
    let admin_perm = Permissions { default: FormPermission::full(), forms: Default::default() };
    let member_perm = Permissions { default: FormPermission::member_default(), forms: Default::default() };
    let mut admin_role = 0;
    for (name, is_admin, perm) in [("admin", 1i64, &admin_perm), ("member", 0, &member_perm)] {
        let role_id: i64 = sqlx::query(
            &db.sql("INSERT INTO roles (tenant_id, name, is_admin, permissions) VALUES ($1, $2, $3, $4) RETURNING id"),
        )
        .bind(tenant.0)
        .bind(name)
        .bind(is_admin)
        .bind(serde_json::to_string(perm).map_err(anyhow::Error::from)?)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        if is_admin == 1 {
            admin_role = role_id;
        }
    }
    sqlx::query(&db.sql("INSERT INTO memberships (tenant_id, user_id, role_id, created_at) VALUES ($1, $2, $3, $4)"))
        .bind(tenant.0)
        .bind(user_id)
        .bind(admin_role)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((Tenant { id, slug: new.slug.to_owned(), name: new.name.trim().to_owned(), created_at: now }, UserId(user_id)))
}

pub async fn count_tenants(db: &Db) -> Result<i64> {
    Ok(db.global("SELECT COUNT(*) FROM tenants").fetch_one(db.reader()).await?.try_get(0)?)
}

fn role_from_row(row: &AnyRow) -> Result<Role> {
    let permissions: String = row.try_get("permissions")?;
    Ok(Role {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        is_admin: row.try_get::<i64, _>("is_admin")? != 0,
        permissions: serde_json::from_str(&permissions).map_err(anyhow::Error::from)?,
    })
}

/// The actor for a user session in `tenant`, or None when the user is not a member.
pub async fn member_actor(s: &Scoped, user: UserId) -> Result<Option<Actor>> {
    let row = s
        .query(
            "SELECT r.id, r.name, r.is_admin, r.permissions, m.department_id FROM memberships m \
             JOIN roles r ON r.id = m.role_id WHERE m.tenant_id = $1 AND m.user_id = $2",
        )
        .bind(user.0)
        .fetch_optional(s.db().reader())
        .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(Actor {
        user_id: user,
        role: role_from_row(&row)?,
        department_id: row.try_get("department_id")?,
        api_key_id: None,
    }))
}

/// The actor for an API key of `tenant`.
pub async fn api_key_actor(s: &Scoped, key_id: i64, role_id: i64, user: UserId) -> Result<Option<Actor>> {
    let role = role_by_id(s, role_id).await?;
    Ok(role.map(|role| Actor { user_id: user, role, department_id: None, api_key_id: Some(key_id) }))
}

pub async fn role_by_id(s: &Scoped, role_id: i64) -> Result<Option<Role>> {
    let row = s
        .query("SELECT id, name, is_admin, permissions FROM roles WHERE tenant_id = $1 AND id = $2")
        .bind(role_id)
        .fetch_optional(s.db().reader())
        .await?;
    row.as_ref().map(role_from_row).transpose()
}

pub async fn role_by_name(s: &Scoped, name: &str) -> Result<Option<Role>> {
    let row = s
        .query("SELECT id, name, is_admin, permissions FROM roles WHERE tenant_id = $1 AND name = $2")
        .bind(name.to_owned())
        .fetch_optional(s.db().reader())
        .await?;
    row.as_ref().map(role_from_row).transpose()
}

pub async fn list_roles(s: &Scoped) -> Result<Vec<Role>> {
    let rows = s
        .query("SELECT id, name, is_admin, permissions FROM roles WHERE tenant_id = $1 ORDER BY id")
        .fetch_all(s.db().reader())
        .await?;
    rows.iter().map(role_from_row).collect()
}

pub async fn create_role(s: &Scoped, name: &str, is_admin: bool, permissions: &Permissions) -> Result<Role> {
    if name.trim().is_empty() || name.len() > 100 {
        return Err(Error::invalid("name", "must be 1 to 100 characters"));
    }
    let id: i64 = s
        .query("INSERT INTO roles (tenant_id, name, is_admin, permissions) VALUES ($1, $2, $3, $4) RETURNING id")
        .bind(name.trim().to_owned())
        .bind(i64::from(is_admin))
        .bind(serde_json::to_string(permissions).map_err(anyhow::Error::from)?)
        .fetch_one(s.db().writer())
        .await
        .map_err(|e| unique_as(e, "name", "a role with this name already exists"))?
        .try_get(0)?;
    Ok(Role { id, name: name.trim().to_owned(), is_admin, permissions: permissions.clone() })
}

pub async fn update_role(s: &Scoped, id: i64, permissions: &Permissions) -> Result<Role> {
    let done = s
        .query("UPDATE roles SET permissions = $3 WHERE tenant_id = $1 AND id = $2")
        .bind(id)
        .bind(serde_json::to_string(permissions).map_err(anyhow::Error::from)?)
        .execute(s.db().writer())
        .await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound("role"));
    }
    role_by_id(s, id).await?.ok_or(Error::NotFound("role"))
}

/// Maps a unique violation to a 409 naming `field`.
pub fn unique_as(e: sqlx::Error, field: &str, message: &str) -> Error {
    match DbError::from_sqlx(e) {
        DbError::Unique(_) => Error::Conflict(vec![FieldError::new(field, message)]),
        other => other.into(),
    }
}

/// A member of a tenant as the admin API shows it.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct Member {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: String,
    pub department_id: Option<i64>,
    pub manager_id: Option<i64>,
}

pub async fn list_members(s: &Scoped) -> Result<Vec<Member>> {
    let rows = s
        .query(
            "SELECT u.id, u.email, u.name, r.name, m.department_id, m.manager_id FROM memberships m \
             JOIN users u ON u.id = m.user_id JOIN roles r ON r.id = m.role_id \
             WHERE m.tenant_id = $1 ORDER BY u.id",
        )
        .fetch_all(s.db().reader())
        .await?;
    rows.iter().map(member_from_row).collect()
}

fn member_from_row(r: &AnyRow) -> Result<Member> {
    Ok(Member {
        id: r.try_get(0)?,
        email: r.try_get(1)?,
        name: r.try_get(2)?,
        role: r.try_get(3)?,
        department_id: r.try_get(4)?,
        manager_id: r.try_get(5)?,
    })
}

pub async fn get_member(s: &Scoped, user: i64) -> Result<Member> {
    let row = s
        .query(
            "SELECT u.id, u.email, u.name, r.name, m.department_id, m.manager_id FROM memberships m \
             JOIN users u ON u.id = m.user_id JOIN roles r ON r.id = m.role_id \
             WHERE m.tenant_id = $1 AND m.user_id = $2",
        )
        .bind(user)
        .fetch_optional(s.db().reader())
        .await?
        .ok_or(Error::NotFound("user"))?;
    member_from_row(&row)
}

pub async fn is_member(s: &Scoped, user: i64) -> Result<bool> {
    Ok(s.query("SELECT 1 FROM memberships WHERE tenant_id = $1 AND user_id = $2")
        .bind(user)
        .fetch_optional(s.db().reader())
        .await?
        .is_some())
}

pub async fn department_exists(s: &Scoped, id: i64) -> Result<bool> {
    Ok(s.query("SELECT 1 FROM departments WHERE tenant_id = $1 AND id = $2")
        .bind(id)
        .fetch_optional(s.db().reader())
        .await?
        .is_some())
}

/// Input for adding a user to a tenant.
pub struct NewMember {
    pub email: String,
    pub name: Option<String>,
    pub password: Option<String>,
    pub role: String,
    pub department_id: Option<i64>,
    pub manager_id: Option<i64>,
}

/// Adds a user to the tenant, creating the platform user when the e-mail is new.
pub async fn add_member(s: &Scoped, new: NewMember) -> Result<Member> {
    let mut errors = Vec::new();
    if let Err(m) = check_email(&new.email) {
        errors.push(FieldError::new("email", m));
    }
    let role = role_by_name(s, &new.role).await?;
    if role.is_none() {
        errors.push(FieldError::new("role", format!("no role named `{}`", new.role)));
    }
    check_org(s, new.department_id, new.manager_id, &mut errors).await?;
    let email = new.email.trim().to_lowercase();
    let db = s.db();
    let existing: Option<i64> = db
        .global("SELECT id FROM users WHERE email = $1")
        .bind(&email)
        .fetch_optional(db.reader())
        .await?
        .map(|r| r.try_get(0))
        .transpose()?;
    let password_hash = match (&existing, &new.password) {
        (None, Some(p)) => match auth::check_password_strength(p) {
            Ok(()) => Some(p.clone()),
            Err(m) => {
                errors.push(FieldError::new("password", m));
                None
            }
        },
        (None, None) => {
            errors.push(FieldError::new("password", "required for a new user"));
            None
        }
        (Some(_), _) => None,
    };
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let password_hash = match password_hash {
        Some(p) => Some(
            tokio::task::spawn_blocking(move || auth::hash_password(&p))
                .await
                .map_err(|e| anyhow::anyhow!("hashing panicked: {e}"))??,
        ),
        None => None,
    };
    let role = role.ok_or(Error::NotFound("role"))?;
    let now = now_text();
    let mut tx = db.begin().await?;
    let user_id = match existing {
        Some(id) => id,
        None => db
            .global("INSERT INTO users (email, name, password_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id")
            .bind(&email)
            .bind(new.name.clone().unwrap_or_else(|| email.clone()))
            .bind(password_hash.unwrap_or_default())
            .bind(&now)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| unique_as(e, "email", "a user with this e-mail already exists"))?
            .try_get(0)?,
    };
    s.query(
        "INSERT INTO memberships (tenant_id, user_id, role_id, department_id, manager_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(user_id)
    .bind(role.id)
    .bind(new.department_id)
    .bind(new.manager_id)
    .bind(&now)
    .execute(&mut *tx)
    .await
    .map_err(|e| unique_as(e, "email", "this user is already a member of the tenant"))?;
    tx.commit().await?;
    get_member(s, user_id).await
}

async fn check_org(
    s: &Scoped,
    department_id: Option<i64>,
    manager_id: Option<i64>,
    errors: &mut Vec<FieldError>,
) -> Result<()> {
    if let Some(d) = department_id
        && !department_exists(s, d).await?
    {
        errors.push(FieldError::new("department_id", "no such department in this tenant"));
    }
    if let Some(m) = manager_id
        && !is_member(s, m).await?
    {
        errors.push(FieldError::new("manager_id", "no such user in this tenant"));
    }
    Ok(())
}

/// Changes a member's role and place in the org chart. `None` leaves a value alone;
/// `Some(None)` clears it.
pub async fn update_member(
    s: &Scoped,
    user: i64,
    role: Option<String>,
    department_id: Option<Option<i64>>,
    manager_id: Option<Option<i64>>,
) -> Result<Member> {
    let current = get_member(s, user).await?;
    let mut errors = Vec::new();
    let role_id = match &role {
        Some(name) => match role_by_name(s, name).await? {
            Some(r) => Some(r.id),
            None => {
                errors.push(FieldError::new("role", format!("no role named `{name}`")));
                None
            }
        },
        None => None,
    };
    let department = department_id.unwrap_or(current.department_id);
    let manager = manager_id.unwrap_or(current.manager_id);
    if manager == Some(user) {
        errors.push(FieldError::new("manager_id", "a user cannot be their own manager"));
    }
    check_org(s, department, manager, &mut errors).await?;
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    s.query(
        "UPDATE memberships SET role_id = COALESCE($3, role_id), department_id = $4, manager_id = $5 \
         WHERE tenant_id = $1 AND user_id = $2",
    )
    .bind(user)
    .bind(role_id)
    .bind(department)
    .bind(manager)
    .execute(s.db().writer())
    .await?;
    get_member(s, user).await
}

#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct Department {
    pub id: i64,
    pub name: String,
    pub parent_id: Option<i64>,
    pub head_user_id: Option<i64>,
}

pub async fn list_departments(s: &Scoped) -> Result<Vec<Department>> {
    let rows = s
        .query("SELECT id, name, parent_id, head_user_id FROM departments WHERE tenant_id = $1 ORDER BY id")
        .fetch_all(s.db().reader())
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Department {
                id: r.try_get(0)?,
                name: r.try_get(1)?,
                parent_id: r.try_get(2)?,
                head_user_id: r.try_get(3)?,
            })
        })
        .collect()
}

pub async fn create_department(
    s: &Scoped,
    name: &str,
    parent_id: Option<i64>,
    head: Option<i64>,
) -> Result<Department> {
    let mut errors = Vec::new();
    if name.trim().is_empty() || name.len() > 200 {
        errors.push(FieldError::new("name", "must be 1 to 200 characters"));
    }
    if let Some(p) = parent_id
        && !department_exists(s, p).await?
    {
        errors.push(FieldError::new("parent_id", "no such department in this tenant"));
    }
    if let Some(h) = head
        && !is_member(s, h).await?
    {
        errors.push(FieldError::new("head_user_id", "no such user in this tenant"));
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let id: i64 = s
        .query(
            "INSERT INTO departments (tenant_id, name, parent_id, head_user_id) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(name.trim().to_owned())
        .bind(parent_id)
        .bind(head)
        .fetch_one(s.db().writer())
        .await
        .map_err(|e| unique_as(e, "name", "a department with this name already exists"))?
        .try_get(0)?;
    Ok(Department { id, name: name.trim().to_owned(), parent_id, head_user_id: head })
}

#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct ApiKey {
    pub id: i64,
    pub name: String,
    /// The first characters of the key, to recognise it in lists.
    pub prefix: String,
    pub role: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// Creates an API key; returns it with the secret, which is never shown again.
pub async fn create_api_key(s: &Scoped, name: &str, role: &str, created_by: UserId) -> Result<(ApiKey, String)> {
    let mut errors = Vec::new();
    if name.trim().is_empty() || name.len() > 200 {
        errors.push(FieldError::new("name", "must be 1 to 200 characters"));
    }
    let role_row = role_by_name(s, role).await?;
    if role_row.is_none() {
        errors.push(FieldError::new("role", format!("no role named `{role}`")));
    }
    let Some(role_row) = role_row.filter(|_| errors.is_empty()) else { return Err(Error::Invalid(errors)) };
    let secret = auth::new_secret(API_KEY_PREFIX);
    let prefix: String = secret.chars().take(12).collect();
    let now = now_text();
    let id: i64 = s
        .query(
            "INSERT INTO api_keys (tenant_id, name, prefix, key_hash, role_id, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(name.trim().to_owned())
        .bind(prefix.clone())
        .bind(auth::secret_hash(&secret))
        .bind(role_row.id)
        .bind(created_by.0)
        .bind(now.clone())
        .fetch_one(s.db().writer())
        .await?
        .try_get(0)?;
    Ok((
        ApiKey { id, name: name.trim().to_owned(), prefix, role: role_row.name, created_at: now, revoked_at: None },
        secret,
    ))
}

pub async fn list_api_keys(s: &Scoped) -> Result<Vec<ApiKey>> {
    let rows = s
        .query(
            "SELECT k.id, k.name, k.prefix, r.name, k.created_at, k.revoked_at FROM api_keys k \
             JOIN roles r ON r.id = k.role_id WHERE k.tenant_id = $1 ORDER BY k.id",
        )
        .fetch_all(s.db().reader())
        .await?;
    rows.iter()
        .map(|r| {
            Ok(ApiKey {
                id: r.try_get(0)?,
                name: r.try_get(1)?,
                prefix: r.try_get(2)?,
                role: r.try_get(3)?,
                created_at: r.try_get(4)?,
                revoked_at: r.try_get(5)?,
            })
        })
        .collect()
}

pub async fn revoke_api_key(s: &Scoped, id: i64) -> Result<()> {
    let done = s
        .query("UPDATE api_keys SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL")
        .bind(id)
        .bind(now_text())
        .execute(s.db().writer())
        .await?;
    if done.rows_affected() == 0 { Err(Error::NotFound("API key")) } else { Ok(()) }
}

/// A platform user as `GET /auth/me` shows it.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct Me {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub is_platform_admin: bool,
    pub tenants: Vec<MyTenant>,
}

#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct MyTenant {
    pub slug: String,
    pub name: String,
    pub role: String,
}

pub async fn me(db: &Db, user: UserId) -> Result<Me> {
    let row = db
        .global("SELECT id, email, name, is_platform_admin FROM users WHERE id = $1")
        .bind(user.0)
        .fetch_optional(db.reader())
        .await?
        .ok_or(Error::Unauthenticated)?;
    // A user's own memberships across tenants: keyed by the user, not by one tenant.
    let tenants = db
        .global(
            "SELECT t.slug, t.name, r.name FROM memberships m JOIN tenants t ON t.id = m.tenant_id \
             JOIN roles r ON r.id = m.role_id WHERE m.user_id = $1 ORDER BY t.id",
        )
        .bind(user.0)
        .fetch_all(db.reader())
        .await?
        .iter()
        .map(|r| Ok(MyTenant { slug: r.try_get(0)?, name: r.try_get(1)?, role: r.try_get(2)? }))
        .collect::<Result<Vec<_>>>()?;
    Ok(Me {
        id: row.try_get(0)?,
        email: row.try_get(1)?,
        name: row.try_get(2)?,
        is_platform_admin: row.try_get::<i64, _>(3)? != 0,
        tenants,
    })
}

/// Users of a department (for `department` read scopes).
pub async fn department_members(s: &Scoped, department_id: i64) -> Result<Vec<i64>> {
    let rows = s
        .query("SELECT user_id FROM memberships WHERE tenant_id = $1 AND department_id = $2")
        .bind(department_id)
        .fetch_all(s.db().reader())
        .await?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}
