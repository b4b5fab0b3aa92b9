//! SQL of the forms domain: apps, forms, their evolution and the indexes they ask for.

use std::collections::BTreeSet;

use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::model::{self, Definition, Field, FieldType, Label};
use super::{Form, FormSet};
use crate::error::{Error, FieldError, Result};
use crate::store::{Dialect, Scoped, now_text};
use crate::tenants::check_key;
use crate::tenants::unique_as;

const FORM_COLUMNS: &str = "f.id, f.key, f.name, a.key AS app_key, f.definition, f.version, f.created_at, f.updated_at";

fn form_from_row(row: &AnyRow) -> Result<Form> {
    let name: String = row.try_get("name")?;
    let definition: String = row.try_get("definition")?;
    let definition: Definition = serde_json::from_str(&definition).map_err(anyhow::Error::from)?;
    Ok(Form {
        id: row.try_get("id")?,
        key: row.try_get("key")?,
        name: serde_json::from_str(&name).map_err(anyhow::Error::from)?,
        app: row.try_get("app_key")?,
        fields: definition.fields,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub async fn list_forms(s: &Scoped) -> Result<Vec<Form>> {
    let rows = s
        .query(
            "SELECT f.id, f.key, f.name, a.key AS app_key, f.definition, f.version, f.created_at, f.updated_at \
             FROM forms f LEFT JOIN apps a ON a.id = f.app_id AND a.tenant_id = f.tenant_id \
             WHERE f.tenant_id = $1 AND f.deleted_at IS NULL ORDER BY f.id",
        )
        .fetch_all(s.db().reader())
        .await?;
    rows.iter().map(form_from_row).collect()
}

/// A form by key, or by id when `ident` is a number.
pub async fn get_form(s: &Scoped, ident: &str) -> Result<Form> {
    let _ = FORM_COLUMNS;
    let row = match ident.parse::<i64>() {
        Ok(id) => {
            s.query(
                "SELECT f.id, f.key, f.name, a.key AS app_key, f.definition, f.version, f.created_at, f.updated_at \
                 FROM forms f LEFT JOIN apps a ON a.id = f.app_id AND a.tenant_id = f.tenant_id \
                 WHERE f.tenant_id = $1 AND f.id = $2 AND f.deleted_at IS NULL",
            )
            .bind(id)
            .fetch_optional(s.db().reader())
            .await?
        }
        Err(_) => {
            s.query(
                "SELECT f.id, f.key, f.name, a.key AS app_key, f.definition, f.version, f.created_at, f.updated_at \
                 FROM forms f LEFT JOIN apps a ON a.id = f.app_id AND a.tenant_id = f.tenant_id \
                 WHERE f.tenant_id = $1 AND f.key = $2 AND f.deleted_at IS NULL",
            )
            .bind(ident.to_owned())
            .fetch_optional(s.db().reader())
            .await?
        }
    };
    row.as_ref().map(form_from_row).transpose()?.ok_or(Error::NotFound("form"))
}

/// A form with every form its relations reach (transitively), for type-checking
/// expressions and validating relation values.
pub async fn form_set(s: &Scoped, ident: &str) -> Result<(i64, FormSet)> {
    let root = get_form(s, ident).await?;
    let root_id = root.id;
    let mut forms = vec![root];
    let mut seen: BTreeSet<String> = forms.iter().map(|f| f.key.clone()).collect();
    let mut i = 0;
    while i < forms.len() {
        let targets: Vec<String> =
            forms[i].fields.iter().filter(|f| f.ty == FieldType::Relation).filter_map(|f| f.target.clone()).collect();
        for t in targets {
            if seen.insert(t.clone()) {
                match get_form(s, &t).await {
                    Ok(f) => forms.push(f),
                    Err(Error::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        i += 1;
    }
    Ok((root_id, FormSet::new(forms)))
}

async fn form_keys(s: &Scoped) -> Result<BTreeSet<String>> {
    let rows =
        s.query("SELECT key FROM forms WHERE tenant_id = $1 AND deleted_at IS NULL").fetch_all(s.db().reader()).await?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

async fn app_id(s: &Scoped, key: &str) -> Result<Option<i64>> {
    Ok(s.query("SELECT id FROM apps WHERE tenant_id = $1 AND key = $2")
        .bind(key.to_owned())
        .fetch_optional(s.db().reader())
        .await?
        .map(|r| r.try_get(0))
        .transpose()?)
}

/// Input for a new form.
pub struct NewForm {
    pub key: String,
    pub name: Label,
    pub app: Option<String>,
    pub fields: Vec<Field>,
}

/// Checks a definition against the tenant's forms and its own formulas.
async fn check_definition(
    s: &Scoped,
    form_key: &str,
    form_id: i64,
    fields: &[Field],
    errors: &mut Vec<FieldError>,
) -> Result<()> {
    let mut keys = form_keys(s).await?;
    keys.insert(form_key.to_owned());
    model::check_fields(fields, "", &keys, errors);
    for (i, f) in fields.iter().enumerate().filter(|(_, f)| !f.validators.is_empty() && !f.retired) {
        errors.extend(crate::plugins::check_field_validators(s, &format!("fields[{i}]"), &f.validators).await?);
    }
    if errors.is_empty() {
        // Formulas are checked against the form as it will be.
        let probe = Form {
            id: form_id,
            key: form_key.to_owned(),
            name: Label::Plain(String::new()),
            app: None,
            fields: fields.to_vec(),
            version: 0,
            created_at: String::new(),
            updated_at: String::new(),
        };
        let mut forms = vec![probe];
        for f in fields.iter().filter(|f| f.ty == FieldType::Relation) {
            if let Some(t) = &f.target
                && t != form_key
                && let Ok(target) = get_form(s, t).await
            {
                forms.push(target);
            }
        }
        errors.extend(FormSet::new(forms).check_formulas(form_id));
    }
    Ok(())
}

pub async fn create_form(s: &Scoped, new: NewForm) -> Result<Form> {
    let mut errors = Vec::new();
    if let Err(m) = check_key(&new.key, false) {
        errors.push(FieldError::new("key", m));
    }
    if new.name.is_blank() {
        errors.push(FieldError::new("name", "must not be empty"));
    }
    let app_id = match &new.app {
        Some(app) => {
            let id = app_id(s, app).await?;
            if id.is_none() {
                errors.push(FieldError::new("app", format!("no app with key `{app}`")));
            }
            id
        }
        None => None,
    };
    let mut fields = new.fields;
    for f in &mut fields {
        f.rename_from = None;
    }
    check_definition(s, &new.key, 0, &fields, &mut errors).await?;
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let now = now_text();
    let definition = serde_json::to_string(&Definition { fields: fields.clone() }).map_err(anyhow::Error::from)?;
    let mut tx = s.db().begin().await?;
    let id: i64 = s
        .query(
            "INSERT INTO forms (tenant_id, app_id, key, name, definition, version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 1, $6, $6) RETURNING id",
        )
        .bind(app_id)
        .bind(new.key.clone())
        .bind(serde_json::to_string(&new.name).map_err(anyhow::Error::from)?)
        .bind(definition)
        .bind(now.clone())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| unique_as(e, "key", "a form with this key already exists"))?
        .try_get(0)?;
    sync_indexes(s, &mut tx, id, &[], &fields).await?;
    tx.commit().await?;
    get_form(s, &id.to_string()).await
}

/// Changes to a form. `fields`, when given, is the complete new list (see
/// [`model::evolve`]).
pub struct FormPatch {
    pub name: Option<Label>,
    pub fields: Option<Vec<Field>>,
}

pub async fn update_form(s: &Scoped, ident: &str, patch: FormPatch) -> Result<Form> {
    let form = get_form(s, ident).await?;
    let mut errors = Vec::new();
    if patch.name.as_ref().is_some_and(Label::is_blank) {
        errors.push(FieldError::new("name", "must not be empty"));
    }
    let evolution = match patch.fields {
        Some(new_fields) => Some(model::evolve(&form.fields, new_fields, &mut errors)),
        None => None,
    };
    let fields = evolution.as_ref().map(|e| e.definition.clone()).unwrap_or_else(|| form.fields.clone());
    check_definition(s, &form.key, form.id, &fields, &mut errors).await?;
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let now = now_text();
    let mut tx = s.db().begin().await?;
    let done = s
        .query(
            "UPDATE forms SET name = $3, definition = $4, version = version + 1, updated_at = $5 \
             WHERE tenant_id = $1 AND id = $2 AND version = $6",
        )
        .bind(form.id)
        .bind(serde_json::to_string(patch.name.as_ref().unwrap_or(&form.name)).map_err(anyhow::Error::from)?)
        .bind(serde_json::to_string(&Definition { fields: fields.clone() }).map_err(anyhow::Error::from)?)
        .bind(now)
        .bind(form.version)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(Error::VersionConflict { current: form.version + 1 });
    }
    if let Some(evo) = &evolution {
        for (old, new) in &evo.renames {
            rename_data_key(s, &mut tx, form.id, old, new).await?;
        }
    }
    // Renamed fields are dropped under their old key and rebuilt under the new one.
    let before: Vec<Field> = form.fields.clone();
    sync_indexes(s, &mut tx, form.id, &before, &fields).await?;
    sync_unique(s, &mut tx, form.id, &before, &fields, evolution.as_ref().map(|e| e.renames.as_slice()).unwrap_or(&[]))
        .await?;
    tx.commit().await?;
    get_form(s, &form.id.to_string()).await
}

/// Soft-deletes a form; its records stay in the database.
pub async fn delete_form(s: &Scoped, ident: &str) -> Result<()> {
    let form = get_form(s, ident).await?;
    let others = list_forms(s).await?;
    let users: Vec<String> = others
        .iter()
        .filter(|f| f.id != form.id)
        .filter(|f| f.active_fields().any(|x| x.target.as_deref() == Some(form.key.as_str())))
        .map(|f| f.key.clone())
        .collect();
    if !users.is_empty() {
        return Err(Error::Conflict(vec![FieldError::new(
            "form",
            format!("relations of these forms point to it: {}", users.join(", ")),
        )]));
    }
    // The key is freed for reuse by renaming the deleted row's key.
    s.query("UPDATE forms SET deleted_at = $3, key = $4 WHERE tenant_id = $1 AND id = $2")
        .bind(form.id)
        .bind(now_text())
        .bind(format!("{}~deleted~{}", form.key, form.id))
        .execute(s.db().writer())
        .await?;
    Ok(())
}

async fn rename_data_key(
    s: &Scoped,
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    form_id: i64,
    old: &str,
    new: &str,
) -> Result<()> {
    // Keys are validated identifiers ([a-z][a-z0-9_]*), safe to place in the statement.
    let sql = match s.db().dialect() {
        Dialect::Sqlite => format!(
            "UPDATE records SET data = json_set(json_remove(data, '$.{old}'), '$.{new}', json(data -> '$.{old}')) \
             WHERE tenant_id = ?1 AND form_id = ?2 AND json_type(data, '$.{old}') IS NOT NULL"
        ),
        Dialect::Postgres => format!(
            "UPDATE records SET data = (data - '{old}') || jsonb_build_object('{new}', data -> '{old}') \
             WHERE tenant_id = $1 AND form_id = $2 AND jsonb_exists(data, '{old}')"
        ),
    };
    s.query_dynamic(&sql).bind(form_id).execute(&mut **tx).await?;
    s.query("UPDATE record_unique SET field = $4 WHERE tenant_id = $1 AND form_id = $2 AND field = $3")
        .bind(form_id)
        .bind(old.to_owned())
        .bind(new.to_owned())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The name of the expression index of a field.
fn index_name(form_id: i64, key: &str) -> String {
    format!("rx_{form_id}_{key}")
}

/// Creates indexes for fields newly marked `indexed` and drops those no longer wanted.
async fn sync_indexes(
    s: &Scoped,
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    form_id: i64,
    before: &[Field],
    after: &[Field],
) -> Result<()> {
    let wanted = |fields: &[Field]| -> BTreeSet<(String, FieldType)> {
        fields.iter().filter(|f| f.indexed && !f.retired).map(|f| (f.key.clone(), f.ty)).collect()
    };
    let old = wanted(before);
    let new = wanted(after);
    let dialect = s.db().dialect();
    for (key, _) in old.difference(&new) {
        let sql = format!("DROP INDEX IF EXISTS {}", index_name(form_id, key));
        sqlx::query(&sql).execute(&mut **tx).await?;
    }
    for (key, ty) in new.difference(&old) {
        let Some(field) = after.iter().find(|f| &f.key == key) else { continue };
        let Some(ety) = super::expr_type(field, &Default::default()).or(Some(expr::Type::Text)) else { continue };
        let _ = ty;
        let expression = crate::records::sort_sql(dialect, None, key, &ety);
        // NULLs sort lowest on both databases (see records::query); PostgreSQL's index must
        // be told so, or it cannot hand out rows in list order.
        let nulls = if dialect == Dialect::Postgres { " NULLS FIRST" } else { "" };
        let sql = format!(
            "CREATE INDEX IF NOT EXISTS {} ON records (tenant_id, ({expression}){nulls}, id) \
             WHERE form_id = {form_id} AND deleted_at IS NULL",
            index_name(form_id, key)
        );
        sqlx::query(&sql).execute(&mut **tx).await?;
    }
    Ok(())
}

/// Fills `record_unique` for fields that became unique (refusing existing duplicates) and
/// empties it for fields that are no longer unique.
async fn sync_unique(
    s: &Scoped,
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    form_id: i64,
    before: &[Field],
    after: &[Field],
    renames: &[(String, String)],
) -> Result<()> {
    let renamed =
        |k: &str| renames.iter().find(|(o, _)| o == k).map(|(_, n)| n.clone()).unwrap_or_else(|| k.to_owned());
    let old: BTreeSet<(String, bool)> =
        before.iter().filter(|f| f.unique && !f.retired).map(|f| (renamed(&f.key), f.unique_normalized)).collect();
    let new: BTreeSet<(String, bool)> =
        after.iter().filter(|f| f.unique && !f.retired).map(|f| (f.key.clone(), f.unique_normalized)).collect();
    // Entries of fields that stop being unique, or change how they compare, go; the latter
    // are filled again below.
    for (key, _) in old.symmetric_difference(&new) {
        s.query("DELETE FROM record_unique WHERE tenant_id = $1 AND form_id = $2 AND field = $3")
            .bind(form_id)
            .bind(key.clone())
            .execute(&mut **tx)
            .await?;
    }
    for (key, normalized) in new.difference(&old) {
        let rows = s
            .query("SELECT id, data::text FROM records WHERE tenant_id = $1 AND form_id = $2 AND deleted_at IS NULL")
            .bind(form_id)
            .fetch_all(&mut **tx)
            .await?;
        for row in rows {
            let id: i64 = row.try_get(0)?;
            let data: String = row.try_get(1)?;
            let data: Value = serde_json::from_str(&data).map_err(anyhow::Error::from)?;
            let Some(value) = data.get(key).and_then(|v| crate::records::unique_value(v, *normalized)) else {
                continue;
            };
            s.query(
                "INSERT INTO record_unique (tenant_id, form_id, field, value, record_id) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(form_id)
            .bind(key.clone())
            .bind(value.clone())
            .bind(id)
            .execute(&mut **tx)
            .await
            .map_err(|e| {
                unique_as(e, key, &format!("existing records share the value {value}; make them unique first"))
            })?;
        }
    }
    Ok(())
}

/// An app: a named bundle of forms.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct App {
    pub id: i64,
    pub key: String,
    pub name: String,
    pub description: String,
    pub created_at: String,
}

pub async fn list_apps(s: &Scoped) -> Result<Vec<App>> {
    let rows = s
        .query("SELECT id, key, name, description, created_at FROM apps WHERE tenant_id = $1 ORDER BY id")
        .fetch_all(s.db().reader())
        .await?;
    rows.iter().map(app_from_row).collect()
}

fn app_from_row(r: &AnyRow) -> Result<App> {
    Ok(App {
        id: r.try_get(0)?,
        key: r.try_get(1)?,
        name: r.try_get(2)?,
        description: r.try_get(3)?,
        created_at: r.try_get(4)?,
    })
}

pub async fn create_app(s: &Scoped, key: &str, name: &str, description: &str) -> Result<App> {
    let mut errors = Vec::new();
    if let Err(m) = check_key(key, false) {
        errors.push(FieldError::new("key", m));
    }
    if name.trim().is_empty() || name.len() > 200 {
        errors.push(FieldError::new("name", "must be 1 to 200 characters"));
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let now = now_text();
    let id: i64 = s
        .query(
            "INSERT INTO apps (tenant_id, key, name, description, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(key.to_owned())
        .bind(name.trim().to_owned())
        .bind(description.to_owned())
        .bind(now.clone())
        .fetch_one(s.db().writer())
        .await
        .map_err(|e| unique_as(e, "key", "an app with this key already exists"))?
        .try_get(0)?;
    Ok(App {
        id,
        key: key.to_owned(),
        name: name.trim().to_owned(),
        description: description.to_owned(),
        created_at: now,
    })
}

pub async fn get_app(s: &Scoped, key: &str) -> Result<App> {
    let r = s
        .query("SELECT id, key, name, description, created_at FROM apps WHERE tenant_id = $1 AND key = $2")
        .bind(key.to_owned())
        .fetch_optional(s.db().reader())
        .await?
        .ok_or(Error::NotFound("app"))?;
    app_from_row(&r)
}

pub async fn update_app(s: &Scoped, key: &str, name: Option<&str>, description: Option<&str>) -> Result<App> {
    let app = get_app(s, key).await?;
    if name.is_some_and(|n| n.trim().is_empty() || n.len() > 200) {
        return Err(Error::invalid("name", "must be 1 to 200 characters"));
    }
    s.query("UPDATE apps SET name = $3, description = $4 WHERE tenant_id = $1 AND id = $2")
        .bind(app.id)
        .bind(name.map(str::trim).unwrap_or(&app.name).to_owned())
        .bind(description.unwrap_or(&app.description).to_owned())
        .execute(s.db().writer())
        .await?;
    get_app(s, key).await
}

/// Deletes an app that holds no forms.
pub async fn delete_app(s: &Scoped, key: &str) -> Result<()> {
    let app = get_app(s, key).await?;
    let forms: Vec<String> =
        list_forms(s).await?.into_iter().filter(|f| f.app.as_deref() == Some(key)).map(|f| f.key).collect();
    if !forms.is_empty() {
        return Err(Error::Conflict(vec![FieldError::new(
            "app",
            format!("it still holds these forms: {}", forms.join(", ")),
        )]));
    }
    s.query("DELETE FROM apps WHERE tenant_id = $1 AND id = $2").bind(app.id).execute(s.db().writer()).await?;
    Ok(())
}
