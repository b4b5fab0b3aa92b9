//! Tenants, users, the org chart, roles and permissions, sessions, API keys.
//!
//! A *tenant* is the isolation unit. Users are platform-wide (one login) and belong to
//! tenants through *memberships*, which carry their role, department and manager — the org
//! chart that approvals route by. Roles hold per-form permissions (create / read / update /
//! delete on own, own department's or all records) and per-field access (hidden, read-only).

pub mod api;
pub mod auth;
mod store;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::store::TenantId;
pub use store::*;

/// A user's id (platform-wide).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct UserId(pub i64);

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Tenant {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub created_at: String,
}

/// How far a permission reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    #[default]
    None,
    /// Records the user created.
    Own,
    /// Records created by anyone in the user's department.
    Department,
    All,
}

/// Access to one field for a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldAccess {
    Hidden,
    ReadOnly,
}

/// A role's permissions on one form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FormPermission {
    #[serde(default)]
    pub create: bool,
    #[serde(default)]
    pub read: Scope,
    #[serde(default)]
    pub update: Scope,
    #[serde(default)]
    pub delete: Scope,
    /// Field key → access; fields not named are read-write.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, FieldAccess>,
}

impl FormPermission {
    pub fn full() -> FormPermission {
        FormPermission {
            create: true,
            read: Scope::All,
            update: Scope::All,
            delete: Scope::All,
            fields: BTreeMap::new(),
        }
    }

    pub fn none() -> FormPermission {
        FormPermission {
            create: false,
            read: Scope::None,
            update: Scope::None,
            delete: Scope::None,
            fields: BTreeMap::new(),
        }
    }

    /// What a new tenant's `member` role gets on every form: create, read all, change and
    /// delete one's own.
    pub fn member_default() -> FormPermission {
        FormPermission {
            create: true,
            read: Scope::All,
            update: Scope::Own,
            delete: Scope::Own,
            fields: BTreeMap::new(),
        }
    }
}

/// Per-form permissions of a role: `forms` names forms by key; the rest get `default`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Permissions {
    pub default: FormPermission,
    #[serde(default)]
    pub forms: BTreeMap<String, FormPermission>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Role {
    pub id: i64,
    pub name: String,
    /// Admins manage users, roles, forms and everything else in the tenant.
    pub is_admin: bool,
    pub permissions: Permissions,
}

impl Role {
    /// The effective permission of this role on the form with `form_key`.
    pub fn on_form(&self, form_key: &str) -> FormPermission {
        if self.is_admin {
            return FormPermission::full();
        }
        self.permissions.forms.get(form_key).unwrap_or(&self.permissions.default).clone()
    }
}

/// Who is acting inside a tenant, and with what rights.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: UserId,
    pub role: Role,
    pub department_id: Option<i64>,
    /// Set when the request came with an API key rather than a user session.
    pub api_key_id: Option<i64>,
}

impl Actor {
    pub fn is_admin(&self) -> bool {
        self.role.is_admin
    }

    /// A stable name for idempotency keys and audit: `user:7` or `key:3`.
    pub fn principal(&self) -> String {
        match self.api_key_id {
            Some(k) => format!("key:{k}"),
            None => format!("user:{}", self.user_id.0),
        }
    }

    pub fn require_admin(&self) -> crate::error::Result<()> {
        if self.is_admin() { Ok(()) } else { Err(crate::error::Error::Forbidden("tenant admin role required".into())) }
    }
}

/// Validates a tenant slug, app key, form key or field key: lower-case ASCII letters,
/// digits, `_` and (for slugs) `-`, starting with a letter, at most 63 characters.
pub fn check_key(value: &str, allow_dash: bool) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || (allow_dash && c == '-');
    if value.is_empty() || value.len() > 63 {
        return Err("must be 1 to 63 characters".into());
    }
    if !value.starts_with(|c: char| c.is_ascii_lowercase()) || !value.chars().all(ok_char) {
        return Err(if allow_dash {
            "must start with a-z and contain only a-z, 0-9, '_' and '-'".into()
        } else {
            "must start with a-z and contain only a-z, 0-9 and '_'".into()
        });
    }
    Ok(())
}
