//! Published plugin versions (platform-wide, immutable) and tenants' installs of them, with
//! the audit log of every install change.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Digest;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::manifest::{Manifest, is_capability};
use super::{Kind, Metrics, Plugins, schema};
use crate::error::{Error, FieldError, Result};
use crate::store::{Db, Scoped, now_text};
use crate::tenants::Actor;

/// A published version, as listed.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Published {
    pub id: String,
    pub version: String,
    pub kind: Kind,
    pub sha256: String,
    pub size: i64,
    pub published_at: String,
    pub yanked: bool,
    pub manifest: Manifest,
}

/// A plugin with its versions, newest first.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PluginEntry {
    pub id: String,
    pub kind: Kind,
    /// The newest version that is not yanked.
    pub latest: Option<String>,
    pub name: BTreeMap<String, String>,
    pub description: BTreeMap<String, String>,
    pub versions: Vec<Published>,
}

fn published_from_row(row: &AnyRow) -> Result<Published> {
    let manifest: String = row.try_get("manifest")?;
    let manifest: Manifest = serde_json::from_str(&manifest).map_err(anyhow::Error::from)?;
    Ok(Published {
        id: row.try_get("plugin_id")?,
        version: row.try_get("version")?,
        kind: manifest.kind,
        sha256: row.try_get("sha256")?,
        size: row.try_get("size")?,
        published_at: row.try_get("published_at")?,
        yanked: row.try_get::<Option<String>, _>("yanked_at")?.is_some(),
        manifest,
    })
}

fn semver_key(v: &str) -> semver::Version {
    semver::Version::parse(v).unwrap_or_else(|_| semver::Version::new(0, 0, 0))
}

/// Publishes a version: checks the manifest and the component (that it is a component of the
/// manifest's kind, within the size limit), then stores both with the component's SHA-256.
pub async fn publish(
    db: &Db,
    plugins: &Plugins,
    by: i64,
    manifest_text: &str,
    component: Vec<u8>,
) -> Result<Published> {
    let manifest = Manifest::parse(manifest_text).map_err(Error::Invalid)?;
    let sha256 = hex(&sha2::Sha256::digest(&component));
    let this = plugins.clone();
    let kind = manifest.kind;
    let (bytes, compiled) = tokio::task::spawn_blocking(move || {
        let compiled = this.host().check(kind, &component);
        (component, compiled)
    })
    .await
    .map_err(|e| Error::Internal(e.into()))?;
    let compiled = compiled.map_err(|e| Error::invalid("component", e.to_string()))?;
    let now = now_text();
    let mut tx = db.begin().await?;
    let existing: Option<String> = db
        .global("SELECT kind FROM plugins WHERE id = $1")
        .bind(manifest.id.clone())
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get("kind"))
        .transpose()?;
    match existing {
        Some(k) if k != kind.as_str() => {
            return Err(Error::Conflict(vec![FieldError::new(
                "manifest.kind",
                format!("`{}` is a {k}; a plugin keeps its kind across versions", manifest.id),
            )]));
        }
        Some(_) => {}
        None => {
            db.global("INSERT INTO plugins (id, kind, created_at) VALUES ($1, $2, $3)")
                .bind(manifest.id.clone())
                .bind(kind.as_str())
                .bind(now.clone())
                .execute(&mut *tx)
                .await?;
        }
    }
    let taken = db
        .global("SELECT sha256 FROM plugin_versions WHERE plugin_id = $1 AND version = $2")
        .bind(manifest.id.clone())
        .bind(manifest.version.clone())
        .fetch_optional(&mut *tx)
        .await?;
    if taken.is_some() {
        return Err(Error::Conflict(vec![FieldError::new(
            "manifest.version",
            format!(
                "{} {} is already published; versions are immutable: publish a new version",
                manifest.id, manifest.version
            ),
        )]));
    }
    let size = bytes.len() as i64;
    db.global(
        "INSERT INTO plugin_versions (plugin_id, version, manifest, sha256, size, component, published_by, published_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(manifest.id.clone())
    .bind(manifest.version.clone())
    .bind(serde_json::to_string(&manifest).map_err(anyhow::Error::from)?)
    .bind(sha256.clone())
    .bind(size)
    .bind(bytes)
    .bind(by)
    .bind(now.clone())
    .execute(&mut *tx)
    .await
    .map_err(crate::store::DbError::from_sqlx)?;
    tx.commit().await?;
    plugins.host().store_compiled(&sha256, &compiled);
    Ok(Published {
        id: manifest.id.clone(),
        version: manifest.version.clone(),
        kind,
        sha256,
        size,
        published_at: now,
        yanked: false,
        manifest,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every plugin with its versions.
pub async fn list(db: &Db) -> Result<Vec<PluginEntry>> {
    let rows = db
        .global("SELECT plugin_id, version, manifest, sha256, size, published_at, yanked_at FROM plugin_versions")
        .fetch_all(db.reader())
        .await?;
    let mut by_id: BTreeMap<String, Vec<Published>> = BTreeMap::new();
    for row in &rows {
        let p = published_from_row(row)?;
        by_id.entry(p.id.clone()).or_default().push(p);
    }
    Ok(by_id.into_values().map(entry).collect())
}

fn entry(mut versions: Vec<Published>) -> PluginEntry {
    versions.sort_by_key(|v| std::cmp::Reverse(semver_key(&v.version)));
    let newest = &versions[0];
    PluginEntry {
        id: newest.id.clone(),
        kind: newest.kind,
        latest: versions.iter().find(|v| !v.yanked).map(|v| v.version.clone()),
        name: newest.manifest.name.clone(),
        description: newest.manifest.description.clone(),
        versions,
    }
}

/// One plugin with its versions.
pub async fn show(db: &Db, id: &str) -> Result<PluginEntry> {
    let rows = db
        .global(
            "SELECT plugin_id, version, manifest, sha256, size, published_at, yanked_at FROM plugin_versions \
             WHERE plugin_id = $1",
        )
        .bind(id.to_owned())
        .fetch_all(db.reader())
        .await?;
    let versions = rows.iter().map(published_from_row).collect::<Result<Vec<_>>>()?;
    if versions.is_empty() {
        return Err(Error::NotFound("plugin"));
    }
    Ok(entry(versions))
}

/// One published version, if it exists.
async fn published_version(db: &Db, id: &str, version: &str) -> Result<Option<Published>> {
    let row = db
        .global(
            "SELECT plugin_id, version, manifest, sha256, size, published_at, yanked_at FROM plugin_versions \
             WHERE plugin_id = $1 AND version = $2",
        )
        .bind(id.to_owned())
        .bind(version.to_owned())
        .fetch_optional(db.reader())
        .await?;
    row.as_ref().map(published_from_row).transpose()
}

/// Yanks (or restores) a version: a yanked version cannot be newly installed or upgraded to;
/// tenants that use it keep it.
pub async fn set_yanked(db: &Db, id: &str, version: &str, yanked: bool) -> Result<Published> {
    let at = yanked.then(now_text);
    let done = db
        .global("UPDATE plugin_versions SET yanked_at = $3 WHERE plugin_id = $1 AND version = $2")
        .bind(id.to_owned())
        .bind(version.to_owned())
        .bind(at)
        .execute(db.writer())
        .await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound("plugin version"));
    }
    published_version(db, id, version).await?.ok_or(Error::NotFound("plugin version"))
}

/// The stored component of a version.
pub async fn component_bytes(db: &Db, id: &str, version: &str) -> Result<Vec<u8>> {
    let row = db
        .global("SELECT component FROM plugin_versions WHERE plugin_id = $1 AND version = $2")
        .bind(id.to_owned())
        .bind(version.to_owned())
        .fetch_optional(db.reader())
        .await?
        .ok_or(Error::NotFound("plugin version"))?;
    Ok(row.try_get("component")?)
}

/// A tenant's install of a plugin, with what the registry knows of its version.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Installed {
    pub plugin: String,
    pub version: String,
    pub kind: Kind,
    pub sha256: String,
    pub name: BTreeMap<String, String>,
    /// Defaults for every use; a form field's own configuration goes over it.
    pub config: Value,
    pub grants: Vec<String>,
    /// The deadline of one call, in milliseconds.
    pub deadline_ms: u64,
    #[serde(skip)]
    pub deadline: Duration,
    #[serde(skip)]
    pub config_schema: Value,
    /// The version the last change replaced (what `rollback` returns to).
    pub previous_version: Option<String>,
    pub revision: i64,
    pub installed_at: String,
    pub updated_at: String,
}

impl Installed {
    /// The install's configuration overlaid with a use's own (object keys replaced).
    pub fn effective_config(&self, own: &Value) -> Value {
        merge_config(&self.config, own)
    }
}

/// A use's configuration over an install's: object keys replaced, anything else wins whole.
fn merge_config(base: &Value, own: &Value) -> Value {
    match (base, own) {
        (Value::Object(base), Value::Object(over)) => {
            let mut m = base.clone();
            for (k, v) in over {
                m.insert(k.clone(), v.clone());
            }
            Value::Object(m)
        }
        (base, Value::Null) => base.clone(),
        (_, over) => over.clone(),
    }
}

/// What an install was before a change: enough to go back to it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Snapshot {
    version: String,
    config: Value,
    grants: Vec<String>,
    deadline_ms: Option<u64>,
}

/// The installs query (an install with its version's manifest and hash), with `$tail`.
macro_rules! installs {
    ($tail:literal) => {
        concat!(
            "SELECT tp.plugin_id, tp.version, tp.config, tp.grants, tp.deadline_ms, tp.previous, tp.revision, ",
            "tp.installed_at, tp.updated_at, pv.manifest, pv.sha256 ",
            "FROM tenant_plugins tp JOIN plugin_versions pv ON pv.plugin_id = tp.plugin_id AND pv.version = tp.version ",
            $tail
        )
    };
}

pub(crate) async fn load_install(s: &Scoped, plugin: &str) -> Result<Option<Installed>> {
    let row = s
        .query(installs!("WHERE tp.tenant_id = $1 AND tp.plugin_id = $2"))
        .bind(plugin.to_owned())
        .fetch_optional(s.db().reader())
        .await?;
    row.map(|r| installed_from_row(&r, s)).transpose()
}

fn installed_from_row(row: &AnyRow, s: &Scoped) -> Result<Installed> {
    let manifest: String = row.try_get("manifest")?;
    let manifest: Manifest = serde_json::from_str(&manifest).map_err(anyhow::Error::from)?;
    let config: String = row.try_get("config")?;
    let grants: String = row.try_get("grants")?;
    let previous: Option<String> = row.try_get("previous")?;
    let previous: Option<Snapshot> = previous.and_then(|p| serde_json::from_str(&p).ok());
    let own_deadline: Option<i64> = row.try_get("deadline_ms")?;
    let limits = s.plugins().map(|p| p.limits().clone()).unwrap_or_default();
    let deadline = own_deadline
        .map(|ms| Duration::from_millis(ms as u64))
        .unwrap_or_else(|| limits.default_deadline(manifest.kind));
    Ok(Installed {
        plugin: row.try_get("plugin_id")?,
        version: row.try_get("version")?,
        kind: manifest.kind,
        sha256: row.try_get("sha256")?,
        name: manifest.name,
        config: serde_json::from_str(&config).map_err(anyhow::Error::from)?,
        grants: serde_json::from_str(&grants).map_err(anyhow::Error::from)?,
        deadline_ms: deadline.as_millis() as u64,
        deadline,
        config_schema: manifest.config_schema,
        previous_version: previous.map(|p| p.version),
        revision: row.try_get("revision")?,
        installed_at: row.try_get("installed_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// An install as the API shows it: with its metrics since the server started.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct InstallView {
    #[serde(flatten)]
    pub install: Installed,
    pub metrics: Metrics,
}

fn view(plugins: &Plugins, s: &Scoped, install: Installed) -> InstallView {
    let metrics = plugins.metrics(s.tenant().0, &install.plugin);
    InstallView { install, metrics }
}

/// The tenant's installs.
pub async fn list_installs(plugins: &Plugins, s: &Scoped) -> Result<Vec<InstallView>> {
    let rows = s.query(installs!("WHERE tp.tenant_id = $1 ORDER BY tp.plugin_id")).fetch_all(s.db().reader()).await?;
    rows.iter().map(|r| installed_from_row(r, s).map(|i| view(plugins, s, i))).collect()
}

pub async fn get_install(plugins: &Plugins, s: &Scoped, plugin: &str) -> Result<InstallView> {
    let install = load_install(s, plugin).await?.ok_or(Error::NotFound("plugin install"))?;
    Ok(view(plugins, s, install))
}

/// What a tenant admin asks for when installing.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallRequest {
    pub plugin: String,
    /// Default: the newest version that is not yanked.
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub config: Option<Value>,
    /// Capabilities granted, a subset of those the plugin requests.
    #[serde(default)]
    pub grants: Vec<String>,
    /// The deadline of one call in milliseconds (default per kind; at most the platform's limit).
    #[serde(default)]
    pub deadline_ms: Option<u64>,
}

/// A change to an install: another version (upgrade or downgrade), configuration, grants,
/// deadline. What is left out stays.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallPatch {
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub config: Option<Value>,
    #[serde(default)]
    pub grants: Option<Vec<String>>,
    #[serde(default)]
    pub deadline_ms: Option<u64>,
}

/// Checks a version choice, configuration, grants and deadline against the registry and the
/// platform; returns the version's manifest.
async fn check_choice(
    plugins: &Plugins,
    db: &Db,
    plugin: &str,
    snapshot: &Snapshot,
    current_version: Option<&str>,
) -> Result<Manifest> {
    let Some(published) = published_version(db, plugin, &snapshot.version).await? else {
        return Err(Error::invalid("version", format!("{plugin} has no version {}", snapshot.version)));
    };
    if published.yanked && current_version != Some(snapshot.version.as_str()) {
        return Err(Error::invalid("version", format!("{plugin} {} is yanked", snapshot.version)));
    }
    let manifest = published.manifest;
    let mut errors = schema::validate(&manifest.config_schema, &snapshot.config, "config", true);
    for (i, g) in snapshot.grants.iter().enumerate() {
        if !is_capability(g) {
            errors.push(FieldError::new(format!("grants[{i}]"), format!("unknown capability `{g}`")));
        } else if !manifest.capabilities.requested.contains(g) {
            errors.push(FieldError::new(
                format!("grants[{i}]"),
                format!("{plugin} {} does not request `{g}`", snapshot.version),
            ));
        }
    }
    let max = plugins.limits().max_deadline.as_millis() as u64;
    if let Some(ms) = snapshot.deadline_ms
        && !(1..=max).contains(&ms)
    {
        errors.push(FieldError::new("deadline_ms", format!("must be between 1 and {max}")));
    }
    if errors.is_empty() { Ok(manifest) } else { Err(Error::Invalid(errors)) }
}

#[allow(clippy::too_many_arguments)]
async fn audit(
    s: &Scoped,
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    actor: &Actor,
    plugin: &str,
    action: &str,
    from: Option<&str>,
    to: Option<&str>,
    detail: Value,
) -> Result<()> {
    s.query(
        "INSERT INTO plugin_audit (tenant_id, plugin_id, action, from_version, to_version, detail, actor, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(plugin.to_owned())
    .bind(action.to_owned())
    .bind(from.map(str::to_owned))
    .bind(to.map(str::to_owned))
    .bind(detail.to_string())
    .bind(actor.user_id.0)
    .bind(now_text())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Installs a published version in the tenant.
pub async fn install(plugins: &Plugins, s: &Scoped, actor: &Actor, req: InstallRequest) -> Result<InstallView> {
    let entry = match show(s.db(), &req.plugin).await {
        Err(Error::NotFound(_)) => {
            return Err(Error::invalid("plugin", format!("no plugin `{}` is published", req.plugin)));
        }
        other => other?,
    };
    let version = match req.version {
        Some(v) => v,
        None => entry
            .latest
            .ok_or_else(|| Error::invalid("plugin", format!("every version of {} is yanked", req.plugin)))?,
    };
    let snap = Snapshot {
        version,
        config: req.config.unwrap_or_else(|| json!({})),
        grants: req.grants,
        deadline_ms: req.deadline_ms,
    };
    check_choice(plugins, s.db(), &req.plugin, &snap, None).await?;
    let now = now_text();
    let mut tx = s.db().begin().await?;
    let taken = s
        .query("SELECT version FROM tenant_plugins WHERE tenant_id = $1 AND plugin_id = $2")
        .bind(req.plugin.clone())
        .fetch_optional(&mut *tx)
        .await?;
    if taken.is_some() {
        return Err(Error::Conflict(vec![FieldError::new(
            "plugin",
            format!("`{}` is already installed; change it with PATCH", req.plugin),
        )]));
    }
    s.query(
        "INSERT INTO tenant_plugins (tenant_id, plugin_id, version, config, grants, deadline_ms, previous, revision, \
         installed_by, installed_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, NULL, 1, $7, $8, $8)",
    )
    .bind(req.plugin.clone())
    .bind(snap.version.clone())
    .bind(snap.config.to_string())
    .bind(serde_json::to_string(&snap.grants).map_err(anyhow::Error::from)?)
    .bind(snap.deadline_ms.map(|ms| ms as i64))
    .bind(actor.user_id.0)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(crate::store::DbError::from_sqlx)?;
    let detail = json!({"config": snap.config, "grants": snap.grants, "deadline_ms": snap.deadline_ms});
    audit(s, &mut tx, actor, &req.plugin, "install", None, Some(&snap.version), detail).await?;
    tx.commit().await?;
    plugins.forget(s.tenant().0, &req.plugin);
    get_install(plugins, s, &req.plugin).await
}

async fn current_snapshot(s: &Scoped, plugin: &str) -> Result<(Snapshot, Option<Snapshot>, i64)> {
    let row = s
        .query(
            "SELECT version, config, grants, deadline_ms, previous, revision FROM tenant_plugins \
             WHERE tenant_id = $1 AND plugin_id = $2",
        )
        .bind(plugin.to_owned())
        .fetch_optional(s.db().reader())
        .await?
        .ok_or(Error::NotFound("plugin install"))?;
    let config: String = row.try_get("config")?;
    let grants: String = row.try_get("grants")?;
    let previous: Option<String> = row.try_get("previous")?;
    let deadline: Option<i64> = row.try_get("deadline_ms")?;
    let snap = Snapshot {
        version: row.try_get("version")?,
        config: serde_json::from_str(&config).map_err(anyhow::Error::from)?,
        grants: serde_json::from_str(&grants).map_err(anyhow::Error::from)?,
        deadline_ms: deadline.map(|d| d as u64),
    };
    let previous = previous.and_then(|p| serde_json::from_str(&p).ok());
    Ok((snap, previous, row.try_get("revision")?))
}

/// Applies a change (or a rollback: `to` is then the previous state).
#[allow(clippy::too_many_arguments)]
async fn apply(
    plugins: &Plugins,
    s: &Scoped,
    actor: &Actor,
    plugin: &str,
    current: Snapshot,
    revision: i64,
    to: Snapshot,
    action: &str,
) -> Result<InstallView> {
    let manifest = check_choice(plugins, s.db(), plugin, &to, Some(&current.version)).await?;
    // Forms that use a validator must still be valid with the new version and configuration.
    if manifest.kind == Kind::Validator {
        let mut errors = Vec::new();
        for (form, field, config) in users(s, plugin).await? {
            let effective = merge_config(&to.config, &config);
            errors.extend(schema::validate(
                &manifest.config_schema,
                &effective,
                &format!("forms.{form}.fields.{field}.config"),
                false,
            ));
        }
        if !errors.is_empty() {
            return Err(Error::Conflict(errors));
        }
    }
    let mut tx = s.db().begin().await?;
    let done = s
        .query(
            "UPDATE tenant_plugins SET version = $3, config = $4, grants = $5, deadline_ms = $6, previous = $7, \
             revision = revision + 1, updated_at = $8 WHERE tenant_id = $1 AND plugin_id = $2 AND revision = $9",
        )
        .bind(plugin.to_owned())
        .bind(to.version.clone())
        .bind(to.config.to_string())
        .bind(serde_json::to_string(&to.grants).map_err(anyhow::Error::from)?)
        .bind(to.deadline_ms.map(|d| d as i64))
        .bind(serde_json::to_string(&current).map_err(anyhow::Error::from)?)
        .bind(now_text())
        .bind(revision)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(Error::Conflict(vec![FieldError::new("", "the install was changed meanwhile; retry")]));
    }
    let detail = json!({
        "before": {"config": current.config, "grants": current.grants, "deadline_ms": current.deadline_ms},
        "after": {"config": to.config, "grants": to.grants, "deadline_ms": to.deadline_ms},
    });
    audit(s, &mut tx, actor, plugin, action, Some(&current.version), Some(&to.version), detail).await?;
    tx.commit().await?;
    plugins.forget(s.tenant().0, plugin);
    get_install(plugins, s, plugin).await
}

/// Upgrades, downgrades or reconfigures an install.
pub async fn change(
    plugins: &Plugins,
    s: &Scoped,
    actor: &Actor,
    plugin: &str,
    patch: InstallPatch,
) -> Result<InstallView> {
    let (current, _, revision) = current_snapshot(s, plugin).await?;
    let to = Snapshot {
        version: patch.version.unwrap_or_else(|| current.version.clone()),
        config: patch.config.unwrap_or_else(|| current.config.clone()),
        grants: patch.grants.unwrap_or_else(|| current.grants.clone()),
        deadline_ms: patch.deadline_ms.or(current.deadline_ms),
    };
    let action = match semver_key(&to.version).cmp(&semver_key(&current.version)) {
        std::cmp::Ordering::Greater => "upgrade",
        std::cmp::Ordering::Less => "downgrade",
        std::cmp::Ordering::Equal => "configure",
    };
    apply(plugins, s, actor, plugin, current, revision, to, action).await
}

/// Returns an install to what it was before its last change.
pub async fn rollback(plugins: &Plugins, s: &Scoped, actor: &Actor, plugin: &str) -> Result<InstallView> {
    let (current, previous, revision) = current_snapshot(s, plugin).await?;
    let previous = previous.ok_or_else(|| {
        Error::Conflict(vec![FieldError::new("", format!("`{plugin}` has not been changed since it was installed"))])
    })?;
    apply(plugins, s, actor, plugin, current, revision, previous, "rollback").await
}

/// Where the tenant uses a plugin: (form key, field key, the field's own configuration).
pub async fn users(s: &Scoped, plugin: &str) -> Result<Vec<(String, String, Value)>> {
    let mut found = Vec::new();
    for form in crate::forms::list_forms(s).await? {
        for field in form.fields.iter().filter(|f| !f.retired) {
            for v in field.validators.iter().filter(|v| v.plugin == plugin) {
                found.push((form.key.clone(), field.key.clone(), v.config.clone()));
            }
        }
    }
    Ok(found)
}

/// Uninstalls a plugin the tenant no longer uses.
pub async fn uninstall(plugins: &Plugins, s: &Scoped, actor: &Actor, plugin: &str) -> Result<()> {
    let (current, _, _) = current_snapshot(s, plugin).await?;
    let using = users(s, plugin).await?;
    if !using.is_empty() {
        return Err(Error::Conflict(
            using
                .into_iter()
                .map(|(form, field, _)| {
                    FieldError::new(
                        format!("forms.{form}.fields.{field}"),
                        format!("uses `{plugin}`; remove it there first"),
                    )
                })
                .collect(),
        ));
    }
    let mut tx = s.db().begin().await?;
    s.query("DELETE FROM tenant_plugins WHERE tenant_id = $1 AND plugin_id = $2")
        .bind(plugin.to_owned())
        .execute(&mut *tx)
        .await?;
    let detail = json!({"config": current.config, "grants": current.grants});
    audit(s, &mut tx, actor, plugin, "uninstall", Some(&current.version), None, detail).await?;
    tx.commit().await?;
    plugins.forget(s.tenant().0, plugin);
    Ok(())
}

/// One entry of the audit log.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub plugin: String,
    /// `install`, `upgrade`, `downgrade`, `configure`, `rollback`, `uninstall`.
    pub action: String,
    pub from_version: Option<String>,
    pub to_version: Option<String>,
    pub detail: Value,
    pub actor: Option<i64>,
    pub at: String,
}

/// The audit log of one plugin in the tenant, oldest first.
pub async fn audit_log(s: &Scoped, plugin: &str) -> Result<Vec<AuditEntry>> {
    let rows = s
        .query(
            "SELECT id, plugin_id, action, from_version, to_version, detail, actor, at FROM plugin_audit \
             WHERE tenant_id = $1 AND plugin_id = $2 ORDER BY id",
        )
        .bind(plugin.to_owned())
        .fetch_all(s.db().reader())
        .await?;
    rows.iter()
        .map(|r| {
            let detail: String = r.try_get("detail")?;
            Ok(AuditEntry {
                id: r.try_get("id")?,
                plugin: r.try_get("plugin_id")?,
                action: r.try_get("action")?,
                from_version: r.try_get("from_version")?,
                to_version: r.try_get("to_version")?,
                detail: serde_json::from_str(&detail).unwrap_or(Value::Null),
                actor: r.try_get("actor")?,
                at: r.try_get("at")?,
            })
        })
        .collect()
}

/// Compiles (or loads from the disk cache) every installed plugin of every tenant, so that
/// the first call after a start does not pay for it. Returns how many were loaded.
pub async fn warm_all(plugins: &Plugins, db: &Db) -> Result<usize> {
    let rows = db
        .global(
            "SELECT DISTINCT tp.plugin_id, tp.version, pv.sha256, p.kind FROM tenant_plugins tp \
                 JOIN plugin_versions pv ON pv.plugin_id = tp.plugin_id AND pv.version = tp.version \
                 JOIN plugins p ON p.id = tp.plugin_id",
        )
        .fetch_all(db.reader())
        .await?;
    let mut n = 0;
    for row in &rows {
        let (id, version, sha, kind): (String, String, String, String) =
            (row.try_get("plugin_id")?, row.try_get("version")?, row.try_get("sha256")?, row.try_get("kind")?);
        let Some(kind) = Kind::parse(&kind) else { continue };
        match plugins.load_code(db, kind, &sha, &id, &version).await {
            Ok(true) => {}
            Ok(false) => n += 1,
            Err(e) => tracing::warn!(plugin = %id, error = %e, "an installed plugin could not be loaded"),
        }
    }
    Ok(n)
}
