//! The tenant-scoped handle: the one way to run a statement on tenant-owned tables.
//!
//! A [`Scoped`] carries the tenant it was made for and binds that tenant's id as `$1` of
//! every statement it runs. It refuses (panics, a programming error caught by the request's
//! panic guard and by every test) a statement that does not filter on `tenant_id = $1`, so a
//! query that forgets the tenant cannot be written through it.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use sqlx::any::AnyArguments;
use sqlx::query::{Query, QueryAs};
use sqlx::{Any, FromRow};

use super::{Db, Dialect, to_sqlite};

/// A tenant's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct TenantId(pub i64);

/// A database handle bound to one tenant.
#[derive(Clone, Debug)]
pub struct Scoped {
    db: Db,
    tenant: TenantId,
    /// The plugin runtime, for writes that run plugin validators (absent in tools that
    /// run no plugins; a form that needs one then refuses the write).
    plugins: Option<crate::plugins::Plugins>,
}

impl Scoped {
    pub fn new(db: Db, tenant: TenantId) -> Scoped {
        Scoped { db, tenant, plugins: None }
    }

    /// The same handle with the plugin runtime.
    pub fn with_plugins(mut self, plugins: Option<crate::plugins::Plugins>) -> Scoped {
        self.plugins = plugins;
        self
    }

    pub fn plugins(&self) -> Option<&crate::plugins::Plugins> {
        self.plugins.as_ref()
    }

    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// A statement on tenant-owned tables with the tenant bound as `$1`; bind the rest
    /// from `$2` on.
    pub fn query<'q>(&self, sql: &'static str) -> Query<'q, Any, AnyArguments<'q>> {
        sqlx::query(self.prepare(sql)).bind(self.tenant.0)
    }

    /// Like [`Scoped::query`], mapping rows into `T`.
    pub fn query_as<'q, T>(&self, sql: &'static str) -> QueryAs<'q, Any, T, AnyArguments<'q>>
    where
        T: for<'r> FromRow<'r, sqlx::any::AnyRow>,
    {
        sqlx::query_as(self.prepare(sql)).bind(self.tenant.0)
    }

    /// A statement built at run time (already in this database's dialect, see [`Db::sql`]),
    /// with the tenant bound as its first parameter.
    pub fn query_dynamic<'q>(&self, sql: &'q str) -> Query<'q, Any, AnyArguments<'q>> {
        assert_scoped(sql);
        sqlx::query(sql).bind(self.tenant.0)
    }

    /// A statement (or SQLite script) that writes this tenant's id as a literal instead of
    /// binding it: every INSERT in it must start its values with that literal. For the few
    /// generated hot-path statements where binding the tenant in every row would cost.
    pub fn script<'q>(&self, sql: &'q str) -> Query<'q, Any, AnyArguments<'q>> {
        let literal = self.tenant.0.to_string();
        let inserts: Vec<&str> = sql.split("INSERT INTO ").skip(1).collect();
        let scoped = !inserts.is_empty()
            && inserts.iter().all(|ins| {
                let columns_ok = ins.split('(').nth(1).is_some_and(|cols| cols.trim_start().starts_with("tenant_id,"));
                let values_ok = match (ins.split_once(") VALUES ("), ins.split_once(") SELECT ")) {
                    (Some((_, v)), _) => v.starts_with(&format!("{literal},")),
                    (None, Some((_, v))) => v.starts_with(&format!("{literal},")),
                    _ => false,
                };
                columns_ok && values_ok
            });
        assert!(scoped, "every INSERT of a tenant script must write tenant_id {literal} first: {sql}");
        sqlx::query(sql)
    }

    fn prepare(&self, sql: &'static str) -> &'static str {
        assert_scoped(sql);
        self.db.stmt(sql)
    }
}

/// A statement is scoped when it filters on `tenant_id = $1`, or when every INSERT in it
/// (a script or CTEs may hold several) has `tenant_id` as its first column and `$1` as the
/// first value.
fn assert_scoped(sql: &str) {
    let filters = sql.contains("tenant_id = $1") || sql.contains("tenant_id = ?1");
    let inserts: Vec<&str> = sql.split("INSERT INTO ").skip(1).collect();
    let all_inserts_scoped = !inserts.is_empty()
        && inserts.iter().all(|ins| {
            let columns_ok = ins.split('(').nth(1).is_some_and(|cols| cols.trim_start().starts_with("tenant_id,"));
            let values_ok =
                ins.split_once("VALUES ").is_some_and(|(_, v)| v.starts_with("($1") || v.starts_with("(?1"));
            columns_ok && values_ok
        });
    assert!(
        filters || all_inserts_scoped,
        "a tenant-scoped statement must filter on or insert `tenant_id = $1`: {sql}"
    );
}

impl Db {
    /// A static statement in this database's dialect. SQLite's rewrite is made once per
    /// statement and kept for the life of the process (the set of static statements is
    /// fixed, so this is bounded).
    pub fn stmt(&self, sql: &'static str) -> &'static str {
        if self.dialect == Dialect::Postgres {
            return sql;
        }
        static CACHE: OnceLock<Mutex<HashMap<(usize, usize), &'static str>>> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        let mut map = cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        map.entry((sql.as_ptr() as usize, sql.len())).or_insert_with(|| Box::leak(to_sqlite(sql).into_boxed_str()))
    }

    /// A static statement on platform-wide tables (tenants, users, sessions, the plugin
    /// registry), which carry no tenant.
    pub fn global<'q>(&self, sql: &'static str) -> Query<'q, Any, AnyArguments<'q>> {
        sqlx::query(self.stmt(sql))
    }

    /// Like [`Db::global`], mapping rows into `T`.
    pub fn global_as<'q, T>(&self, sql: &'static str) -> QueryAs<'q, Any, T, AnyArguments<'q>>
    where
        T: for<'r> FromRow<'r, sqlx::any::AnyRow>,
    {
        sqlx::query_as(self.stmt(sql))
    }

    /// A handle scoped to `tenant`.
    pub fn scoped(&self, tenant: TenantId) -> Scoped {
        Scoped::new(self.clone(), tenant)
    }
}
