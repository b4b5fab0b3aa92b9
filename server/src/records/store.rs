//! The write and read paths of records. Every write — single, bulk, upsert, and later
//! imports and automations — goes through [`Writer`], so all of them apply the same
//! validation and append the same revision and event in the write's own transaction.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::Utc;
use serde_json::{Map, Value, json};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::insert::{Batcher, assign_auto_numbers, insert_rows, unique_entries};
use super::validate::{self, Checked, Ref, RefKind};
use super::{Record, Revision};
use crate::error::{Error, FieldError, Result};
use crate::forms::{Form, FormSet};
use crate::store::{DbError, Scoped, now_text};
use crate::tenants::{Actor, FieldAccess, FormPermission, Scope};

type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// A form ready for writing: the form, the forms its relations reach, and the caller's
/// permission on it.
pub struct Target {
    pub form: Arc<Form>,
    pub set: FormSet,
    pub perm: FormPermission,
}

impl Target {
    pub async fn load(s: &Scoped, actor: &Actor, ident: &str) -> Result<Target> {
        let (id, set) = crate::forms::form_set(s, ident).await?;
        let form = set.get(id).cloned().ok_or(Error::NotFound("form"))?;
        let perm = actor.role.on_form(&form.key);
        if perm.read == Scope::None && !perm.create {
            // Nothing may be done with it: do not even reveal it exists.
            return Err(Error::NotFound("form"));
        }
        Ok(Target { form, set, perm })
    }

    /// The record as this caller may see it: retired and hidden fields left out.
    pub fn present(&self, mut r: Record) -> Record {
        r.data.retain(|k, _| {
            self.form.field(k).is_some_and(|f| !f.retired) && self.perm.fields.get(k) != Some(&FieldAccess::Hidden)
        });
        r
    }
}

pub(crate) fn record_from_row(row: &AnyRow, form_key: &str) -> Result<Record> {
    let data: String = row.try_get("data")?;
    let data: Value = serde_json::from_str(&data).map_err(anyhow::Error::from)?;
    Ok(Record {
        id: row.try_get("id")?,
        form: form_key.to_owned(),
        version: row.try_get("version")?,
        data: match data {
            Value::Object(m) => m,
            _ => Map::new(),
        },
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        deleted_at: row.try_get("deleted_at")?,
        expanded: Map::new(),
    })
}

/// Loads a record of `form` (deleted ones too).
async fn load(s: &Scoped, form: &Form, id: i64) -> Result<Record> {
    let row = s
        .query(
            "SELECT id, version, data::text AS data, created_by, created_at, updated_at, deleted_at FROM records \
             WHERE tenant_id = $1 AND form_id = $2 AND id = $3",
        )
        .bind(form.id)
        .bind(id)
        .fetch_optional(s.db().reader())
        .await?
        .ok_or(Error::NotFound("record"))?;
    record_from_row(&row, &form.key)
}

/// Whether `actor` reaches a record created by `created_by` with `scope`.
async fn in_scope(s: &Scoped, actor: &Actor, scope: Scope, created_by: Option<i64>) -> Result<bool> {
    Ok(match scope {
        Scope::All => true,
        Scope::None => false,
        Scope::Own => created_by == Some(actor.user_id.0),
        Scope::Department => {
            if created_by == Some(actor.user_id.0) {
                return Ok(true);
            }
            let (Some(dept), Some(creator)) = (actor.department_id, created_by) else { return Ok(false) };
            crate::tenants::department_members(s, dept).await?.contains(&creator)
        }
    })
}

pub async fn get_record(s: &Scoped, actor: &Actor, ident: &str, id: i64) -> Result<(Target, Record)> {
    let t = Target::load(s, actor, ident).await?;
    let r = load(s, &t.form, id).await?;
    if r.deleted_at.is_some() || !in_scope(s, actor, t.perm.read, r.created_by).await? {
        return Err(Error::NotFound("record"));
    }
    let r = t.present(r);
    Ok((t, r))
}

/// Checks references in the database: relation targets exist in this tenant (and form),
/// users are members, departments and attachments exist.
async fn check_refs(s: &Scoped, set: &FormSet, refs: &[Ref]) -> Result<Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut groups: BTreeMap<String, (RefKind, Vec<&Ref>)> = BTreeMap::new();
    for r in refs {
        let k = format!("{:?}", r.kind);
        groups.entry(k).or_insert_with(|| (r.kind.clone(), Vec::new())).1.push(r);
    }
    for (_, (kind, items)) in groups {
        let ids: Vec<i64> = items.iter().map(|r| r.id).collect::<HashSet<_>>().into_iter().collect();
        let found: HashSet<i64> = match &kind {
            RefKind::Record(target) => match set.by_key(target) {
                Some(form) => {
                    existing(s, "records", "AND form_id = $2 AND deleted_at IS NULL", Some(form.id), &ids).await?
                }
                None => HashSet::new(),
            },
            RefKind::User => existing(s, "memberships", "", None, &ids).await?,
            RefKind::Department => existing(s, "departments", "", None, &ids).await?,
            RefKind::Attachment => existing(s, "attachments", "", None, &ids).await?,
        };
        for r in items {
            if !found.contains(&r.id) {
                let what = match &kind {
                    RefKind::Record(t) => format!("no record {} in form `{t}`", r.id),
                    RefKind::User => format!("no user {} in this tenant", r.id),
                    RefKind::Department => format!("no department {} in this tenant", r.id),
                    RefKind::Attachment => format!("no attachment {}", r.id),
                };
                errors.push(FieldError::new(&r.path, what));
            }
        }
    }
    Ok(errors)
}

/// The ids among `ids` that exist in `table` for this tenant.
async fn existing(s: &Scoped, table: &str, extra: &str, form: Option<i64>, ids: &[i64]) -> Result<HashSet<i64>> {
    let mut found = HashSet::new();
    let id_col = if table == "memberships" { "user_id" } else { "id" };
    for chunk in ids.chunks(500) {
        let first = if form.is_some() { 3 } else { 2 };
        let placeholders: Vec<String> = (0..chunk.len()).map(|i| format!("${}", first + i)).collect();
        let sql = format!(
            "SELECT {id_col} FROM {table} WHERE tenant_id = $1 {extra} AND {id_col} IN ({})",
            placeholders.join(", ")
        );
        let sql = s.db().sql(&sql).into_owned();
        let mut q = s.query_dynamic(&sql);
        if let Some(f) = form {
            q = q.bind(f);
        }
        for id in chunk {
            q = q.bind(*id);
        }
        for row in q.fetch_all(s.db().reader()).await? {
            found.insert(row.try_get(0)?);
        }
    }
    Ok(found)
}

/// Values of fields reached through relations, for formulas.
struct Env<'a> {
    data: &'a Map<String, Value>,
    system: &'a Map<String, Value>,
    resolved: HashMap<Vec<String>, Value>,
}

impl expr::Env for Env<'_> {
    fn get(&self, path: &[String]) -> Value {
        match path {
            [key] => self.data.get(key).or_else(|| self.system.get(key)).cloned().unwrap_or(Value::Null),
            _ => self.resolved.get(path).cloned().unwrap_or(Value::Null),
        }
    }
}

/// Follows relation paths (`customer.name`) from `data`, loading related records.
async fn resolve_paths(
    s: &Scoped,
    set: &FormSet,
    form: &Form,
    data: &Map<String, Value>,
    paths: &[Vec<String>],
) -> Result<HashMap<Vec<String>, Value>> {
    let mut out = HashMap::new();
    let mut cache: HashMap<i64, Map<String, Value>> = HashMap::new();
    for path in paths.iter().filter(|p| p.len() > 1) {
        let mut current_form = form.clone();
        let mut current = data.clone();
        let mut value = Value::Null;
        for (i, key) in path.iter().enumerate() {
            let v = current.get(key).cloned().unwrap_or(Value::Null);
            if i + 1 == path.len() {
                value = v;
                break;
            }
            let Some(target) = current_form.field(key).and_then(|f| f.target.clone()) else { break };
            let Some(target_form) = set.by_key(&target) else { break };
            let Some(id) = v.as_i64() else { break };
            if let std::collections::hash_map::Entry::Vacant(e) = cache.entry(id) {
                let row = s
                    .query("SELECT data::text FROM records WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL")
                    .bind(id)
                    .fetch_optional(s.db().reader())
                    .await?;
                let m = match row {
                    Some(r) => {
                        serde_json::from_str::<Map<String, Value>>(&r.try_get::<String, _>(0)?).unwrap_or_default()
                    }
                    None => Map::new(),
                };
                e.insert(m);
            }
            current = cache.get(&id).cloned().unwrap_or_default();
            current_form = (**target_form).clone();
        }
        out.insert(path.clone(), value);
    }
    Ok(out)
}

/// Computes the form's formula fields into `data`.
async fn compute_formulas(
    s: &Scoped,
    t: &Target,
    data: &mut Map<String, Value>,
    system: &Map<String, Value>,
) -> Result<()> {
    let order = t.set.formula_order(t.form.id);
    if order.is_empty() {
        return Ok(());
    }
    let now = Utc::now();
    let ctx = expr::Context { now, today: now.date_naive() };
    let paths: Vec<Vec<String>> = order.iter().flat_map(|(_, typed)| typed.field_paths()).collect();
    let resolved = resolve_paths(s, &t.set, &t.form, data, &paths).await?;
    for (key, typed) in &order {
        let value = {
            let env = Env { data, system, resolved: resolved.clone() };
            match expr::eval(typed, &env, &ctx).to_json() {
                Value::Number(n) => n.as_f64().map(validate::number).unwrap_or(Value::Null),
                other => other,
            }
        };
        if value.is_null() {
            data.remove(key);
        } else {
            data.insert(key.clone(), value);
        }
    }
    Ok(())
}

async fn insert_unique(
    s: &Scoped,
    tx: &mut Tx,
    form: &Form,
    record_id: i64,
    entries: &[(String, String)],
    path_prefix: &str,
) -> Result<()> {
    for (field, value) in entries {
        s.query("INSERT INTO record_unique (tenant_id, form_id, field, value, record_id) VALUES ($1, $2, $3, $4, $5)")
            .bind(form.id)
            .bind(field.clone())
            .bind(value.clone())
            .bind(record_id)
            .execute(&mut **tx)
            .await
            .map_err(|e| match DbError::from_sqlx(e) {
                DbError::Unique(_) => Error::Conflict(vec![FieldError::new(
                    format!("{path_prefix}data.{field}"),
                    "must be unique: another record already has this value",
                )]),
                other => other.into(),
            })?;
    }
    Ok(())
}

/// One change of a record, as history and the outbox record it.
struct Change<'a> {
    record_id: i64,
    version: i64,
    /// `create`, `update`, `delete` or `restore`; the event is `record.<op>d`.
    op: &'static str,
    actor: &'a Actor,
    at: &'a str,
}

/// Appends the revision of a write and its event to the outbox, in the write's transaction.
async fn record_change(s: &Scoped, tx: &mut Tx, form: &Form, c: Change<'_>, changes: Value) -> Result<()> {
    // The event points at (record, version); the change is the revision's, stored once.
    s.query(
        "INSERT INTO revisions (tenant_id, record_id, version, op, actor_id, at, changes) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(c.record_id)
    .bind(c.version)
    .bind(c.op)
    .bind(c.actor.user_id.0)
    .bind(c.at)
    .bind(changes.to_string())
    .execute(&mut **tx)
    .await?;
    let kind = format!("record.{}d", c.op.trim_end_matches('e'));
    s.query(
        "INSERT INTO events (tenant_id, kind, form_id, record_id, version, actor_id, payload, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(kind)
    .bind(form.id)
    .bind(c.record_id)
    .bind(c.version)
    .bind(c.actor.user_id.0)
    .bind(json!({"form": form.key}).to_string())
    .bind(c.at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn prefixed(errors: Vec<FieldError>, prefix: &str) -> Vec<FieldError> {
    errors.into_iter().map(|e| FieldError::new(format!("{prefix}{}", e.field), e.message)).collect()
}

/// Validation, reference checks and formulas for new data; errors are prefixed with
/// `prefix` (for bulk: `records[3].`).
async fn prepare_new(
    s: &Scoped,
    t: &Target,
    input: &Map<String, Value>,
    prefix: &str,
) -> Result<Result<Map<String, Value>, Vec<FieldError>>> {
    let Checked { mut data, mut errors, refs } = validate::check_create(&t.form, input, &t.perm);
    errors.extend(check_refs(s, &t.set, &refs).await?);
    errors.extend(plugin_violations(s, &t.form, &data, None).await?);
    if !errors.is_empty() {
        return Ok(Err(prefixed(errors, prefix)));
    }
    compute_formulas(s, t, &mut data, &Map::new()).await?;
    Ok(Ok(data))
}

/// Violations the form's plugin validators find in `data` (with `only`, in the fields it
/// holds). Empty values are left to the built-in `required`.
async fn plugin_violations(
    s: &Scoped,
    form: &Form,
    data: &Map<String, Value>,
    only: Option<&Map<String, Value>>,
) -> Result<Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut checked: Vec<&crate::forms::Field> = Vec::new();
    for f in &form.fields {
        if !f.retired && !f.validators.is_empty() {
            checked.push(f);
        }
    }
    if checked.is_empty() {
        return Ok(errors);
    }
    let plugins = s.plugins().ok_or_else(|| Error::Internal(anyhow::anyhow!("the plugin runtime is not running")))?;
    let record = Value::Object(data.clone());
    for f in checked {
        if only.is_some_and(|o| !o.contains_key(&f.key)) {
            continue;
        }
        let Some(value) = data.get(&f.key).filter(|v| !v.is_null()) else { continue };
        for v in &f.validators {
            if let Err(violations) = plugins.validate(s, &v.plugin, &v.config, value, &record).await? {
                for x in violations {
                    let path = match x.field.as_str() {
                        "" => format!("data.{}", f.key),
                        p if p.starts_with("data.") => p.to_owned(),
                        p => format!("data.{p}"),
                    };
                    errors.push(FieldError::new(path, x.message));
                }
            }
        }
    }
    Ok(errors)
}

/// Creates a record. With a `batcher` (SQLite), the write joins concurrent ones.
pub async fn create_record(
    s: &Scoped,
    actor: &Actor,
    ident: &str,
    input: Map<String, Value>,
    batcher: Option<&Batcher>,
) -> Result<(Target, Record)> {
    let t = Target::load(s, actor, ident).await?;
    if !t.perm.create {
        return Err(Error::Forbidden(format!("your role may not create records in `{}`", t.form.key)));
    }
    let data = prepare_new(s, &t, &input, "").await?.map_err(Error::Invalid)?;
    let mut rows = vec![data];
    assign_auto_numbers(s, &t.form, &mut rows).await?;
    let data = rows.pop().unwrap_or_default();
    let (id, now) = match batcher {
        Some(b) => b.insert(s, &t.form, actor, data.clone()).await?,
        None => {
            let now = now_text();
            (insert_rows(s, &t.form, actor, &now, std::slice::from_ref(&data), |_| String::new()).await?[0], now)
        }
    };
    let record = t.present(Record::created(id, &t.form.key, data, actor.user_id.0, &now));
    Ok((t, record))
}

/// Creates many records in one transaction: all of them, or none with every row's problems.
/// What a bulk write does with rows that break the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkMode {
    /// Store nothing and report every problem (422).
    AllOrNothing,
    /// Store the valid rows and report the others.
    SkipInvalid,
}

/// The result of a bulk write: the new records (with the index of the input row each came
/// from) and, with [`BulkMode::SkipInvalid`], the problems of the rows left out.
pub struct BulkOutcome {
    pub records: Vec<Record>,
    pub rows: Vec<usize>,
    pub rejected: Vec<FieldError>,
}

/// The input row a `records[i].…` path names.
pub fn row_of(path: &str) -> Option<usize> {
    path.strip_prefix("records[")?.split(']').next()?.parse().ok()
}

/// Creates many records in one transaction (see [`BulkMode`]).
pub async fn bulk_create(
    s: &Scoped,
    actor: &Actor,
    ident: &str,
    inputs: Vec<Map<String, Value>>,
    mode: BulkMode,
) -> Result<BulkOutcome> {
    let t = Target::load(s, actor, ident).await?;
    if !t.perm.create {
        return Err(Error::Forbidden(format!("your role may not create records in `{}`", t.form.key)));
    }
    let mut rows = Vec::with_capacity(inputs.len());
    let mut errors = Vec::new();
    let mut all_refs = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let Checked { data, errors: mut e, refs } = validate::check_create(&t.form, input, &t.perm);
        e.extend(plugin_violations(s, &t.form, &data, None).await?);
        errors.extend(prefixed(e, &format!("records[{i}].")));
        all_refs.extend(refs.into_iter().map(|mut r| {
            r.path = format!("records[{i}].{}", r.path);
            r
        }));
        rows.push(data);
    }
    errors.extend(check_refs(s, &t.set, &all_refs).await?);
    // Uniqueness within the batch and against stored records, reported per row. The
    // database still enforces it on insert; this is for the report.
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    let mut by_field: BTreeMap<String, Vec<(usize, String)>> = BTreeMap::new();
    for (i, data) in rows.iter().enumerate() {
        for (field, value) in unique_entries(&t.form, data) {
            if let Some(first) = seen.insert((field.clone(), value.clone()), i) {
                errors.push(FieldError::new(
                    format!("records[{i}].data.{field}"),
                    format!("must be unique: records[{first}] has the same value"),
                ));
            }
            by_field.entry(field).or_default().push((i, value));
        }
    }
    // Values taken by stored records: when the batch is otherwise valid, the insert itself
    // finds them (and `insert_rows` names every row that clashes, as a 409); when it is not,
    // look them up so that the one 422 lists every problem of every row.
    let complete_report = !errors.is_empty() || mode == BulkMode::SkipInvalid;
    let lookups = if complete_report { &by_field } else { &BTreeMap::new() };
    for (field, values) in lookups {
        for chunk in values.chunks(500) {
            // PostgreSQL plans a long IN list of parameters as a linear scan per row when its
            // statistics are stale (a table that just grew); a join against VALUES is hashed.
            let sql = if s.db().dialect() == crate::store::Dialect::Postgres {
                let values: Vec<String> = (0..chunk.len()).map(|i| format!("(${}::text)", i + 4)).collect();
                format!(
                    "SELECT u.value FROM record_unique u JOIN (VALUES {}) AS x(v) ON u.value = x.v \
                     WHERE u.tenant_id = $1 AND u.form_id = $2 AND u.field = $3",
                    values.join(", ")
                )
            } else {
                let placeholders: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 4)).collect();
                format!(
                    "SELECT value FROM record_unique WHERE tenant_id = $1 AND form_id = $2 AND field = $3 AND value IN ({})",
                    placeholders.join(", ")
                )
            };
            let sql = s.db().sql(&sql).into_owned();
            let mut q = s.query_dynamic(&sql).bind(t.form.id).bind(field.clone());
            for (_, v) in chunk {
                q = q.bind(v.clone());
            }
            let taken: HashSet<String> =
                q.fetch_all(s.db().reader()).await?.iter().filter_map(|r| r.try_get::<String, _>(0).ok()).collect();
            for (i, v) in chunk {
                if taken.contains(v) {
                    errors.push(FieldError::new(
                        format!("records[{i}].data.{field}"),
                        "must be unique: another record already has this value",
                    ));
                }
            }
        }
    }
    if !errors.is_empty() && mode == BulkMode::AllOrNothing {
        return Err(Error::Invalid(errors));
    }
    let bad: HashSet<usize> = errors.iter().filter_map(|e| row_of(&e.field)).collect();
    let kept: Vec<usize> = (0..rows.len()).filter(|i| !bad.contains(i)).collect();
    let mut rows: Vec<Map<String, Value>> =
        rows.into_iter().enumerate().filter(|(i, _)| !bad.contains(i)).map(|(_, r)| r).collect();
    if rows.is_empty() {
        return Ok(BulkOutcome { records: Vec::new(), rows: Vec::new(), rejected: errors });
    }
    for data in &mut rows {
        compute_formulas(s, &t, data, &Map::new()).await?;
    }
    assign_auto_numbers(s, &t.form, &mut rows).await?;
    let now = now_text();
    let ids = insert_rows(s, &t.form, actor, &now, &rows, |k| format!("records[{}].", kept[k])).await?;
    let records = rows
        .into_iter()
        .zip(ids)
        .map(|(data, id)| t.present(Record::created(id, &t.form.key, data, actor.user_id.0, &now)))
        .collect();
    Ok(BulkOutcome { records, rows: kept, rejected: errors })
}

/// Field → `[before, after]` for every field that differs.
fn diff(before: &Map<String, Value>, after: &Map<String, Value>) -> Map<String, Value> {
    let mut changes = Map::new();
    for key in before.keys().chain(after.keys()) {
        let (b, a) = (before.get(key).unwrap_or(&Value::Null), after.get(key).unwrap_or(&Value::Null));
        if a != b && !changes.contains_key(key) {
            changes.insert(key.clone(), json!([b, a]));
        }
    }
    changes
}

/// How many times an update without `If-Match` re-reads and retries after losing a race.
const UPDATE_RETRIES: usize = 5;

/// Applies `input` to a record. With `if_match`, the update applies only to that version
/// (412 otherwise); without, to whatever version is current.
pub async fn update_record(
    s: &Scoped,
    actor: &Actor,
    ident: &str,
    id: i64,
    input: Map<String, Value>,
    if_match: Option<i64>,
) -> Result<(Target, Record)> {
    let t = Target::load(s, actor, ident).await?;
    for _ in 0..UPDATE_RETRIES {
        let current = load(s, &t.form, id).await?;
        if current.deleted_at.is_some() || !in_scope(s, actor, t.perm.read, current.created_by).await? {
            return Err(Error::NotFound("record"));
        }
        if !in_scope(s, actor, t.perm.update, current.created_by).await? {
            return Err(Error::Forbidden("your role may not change this record".into()));
        }
        if let Some(v) = if_match.filter(|v| *v != current.version) {
            let _ = v;
            return Err(Error::VersionConflict { current: current.version });
        }
        let Checked { mut data, mut errors, refs } = validate::check_update(&t.form, &current.data, &input, &t.perm);
        errors.extend(check_refs(s, &t.set, &refs).await?);
        errors.extend(plugin_violations(s, &t.form, &data, Some(&input)).await?);
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        let system = system_values(&current);
        compute_formulas(s, &t, &mut data, &system).await?;
        let changes = diff(&current.data, &data);
        if changes.is_empty() {
            return Ok(t.present_owned(current));
        }
        let now = now_text();
        let version = current.version + 1;
        let mut tx = s.db().begin().await?;
        let done = s
            .query(
                "UPDATE records SET data = $4::jsonb, version = $5, updated_at = $6 \
                 WHERE tenant_id = $1 AND id = $2 AND version = $3 AND deleted_at IS NULL",
            )
            .bind(id)
            .bind(current.version)
            .bind(Value::Object(data.clone()).to_string())
            .bind(version)
            .bind(now.clone())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            tx.rollback().await?;
            if if_match.is_some() {
                let latest = load(s, &t.form, id).await?;
                return Err(Error::VersionConflict { current: latest.version });
            }
            continue;
        }
        let old_unique: HashMap<String, String> = unique_entries(&t.form, &current.data).into_iter().collect();
        let new_unique: Vec<(String, String)> = unique_entries(&t.form, &data);
        for (field, old_value) in &old_unique {
            if new_unique.iter().all(|(f, v)| f != field || v != old_value) {
                release_unique(s, &mut tx, t.form.id, id, field, old_value).await?;
            }
        }
        let added: Vec<(String, String)> =
            new_unique.into_iter().filter(|(f, v)| old_unique.get(f) != Some(v)).collect();
        insert_unique(s, &mut tx, &t.form, id, &added, "").await?;
        let change = Change { record_id: id, version, op: "update", actor, at: &now };
        record_change(s, &mut tx, &t.form, change, Value::Object(changes)).await?;
        tx.commit().await?;
        let record = Record { version, data, updated_at: now, ..current };
        let record = t.present(record);
        return Ok((t, record));
    }
    Err(Error::Conflict(vec![FieldError::new("", "the record is being changed by others; retry")]))
}

impl Target {
    fn present_owned(&self, r: Record) -> (Target, Record) {
        let r = self.present(r);
        (Target { form: self.form.clone(), set: self.set.clone(), perm: self.perm.clone() }, r)
    }
}

fn system_values(r: &Record) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), Value::from(r.id));
    m.insert("version".into(), Value::from(r.version));
    m.insert("created_by".into(), r.created_by.map(Value::from).unwrap_or(Value::Null));
    m.insert("created_at".into(), Value::from(r.created_at.clone()));
    m.insert("updated_at".into(), Value::from(r.updated_at.clone()));
    m
}

/// Soft-deletes a record: it leaves lists and frees its unique values, and can be restored.
pub async fn delete_record(s: &Scoped, actor: &Actor, ident: &str, id: i64, if_match: Option<i64>) -> Result<()> {
    let t = Target::load(s, actor, ident).await?;
    let current = load(s, &t.form, id).await?;
    if current.deleted_at.is_some() || !in_scope(s, actor, t.perm.read, current.created_by).await? {
        return Err(Error::NotFound("record"));
    }
    if !in_scope(s, actor, t.perm.delete, current.created_by).await? {
        return Err(Error::Forbidden("your role may not delete this record".into()));
    }
    let expected = if_match.unwrap_or(current.version);
    let now = now_text();
    let version = expected + 1;
    let mut tx = s.db().begin().await?;
    let done = s
        .query(
            "UPDATE records SET deleted_at = $4, version = $5, updated_at = $4 \
             WHERE tenant_id = $1 AND id = $2 AND version = $3 AND deleted_at IS NULL",
        )
        .bind(id)
        .bind(expected)
        .bind(now.clone())
        .bind(version)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        tx.rollback().await?;
        let latest = load(s, &t.form, id).await?;
        return Err(Error::VersionConflict { current: latest.version });
    }
    for (field, value) in unique_entries(&t.form, &current.data) {
        release_unique(s, &mut tx, t.form.id, id, &field, &value).await?;
    }
    let change = Change { record_id: id, version, op: "delete", actor, at: &now };
    record_change(s, &mut tx, &t.form, change, json!({})).await?;
    tx.commit().await?;
    Ok(())
}

/// Brings back a deleted record, if its unique values are still free.
pub async fn restore_record(s: &Scoped, actor: &Actor, ident: &str, id: i64) -> Result<(Target, Record)> {
    let t = Target::load(s, actor, ident).await?;
    let current = load(s, &t.form, id).await?;
    if !in_scope(s, actor, t.perm.read, current.created_by).await? {
        return Err(Error::NotFound("record"));
    }
    if current.deleted_at.is_none() {
        return Ok(t.present_owned(current));
    }
    if !in_scope(s, actor, t.perm.delete, current.created_by).await? {
        return Err(Error::Forbidden("your role may not restore this record".into()));
    }
    let now = now_text();
    let version = current.version + 1;
    let mut tx = s.db().begin().await?;
    let done = s
        .query(
            "UPDATE records SET deleted_at = NULL, version = $4, updated_at = $5 \
             WHERE tenant_id = $1 AND id = $2 AND version = $3 AND deleted_at IS NOT NULL",
        )
        .bind(id)
        .bind(current.version)
        .bind(version)
        .bind(now.clone())
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(Error::VersionConflict { current: current.version });
    }
    insert_unique(s, &mut tx, &t.form, id, &unique_entries(&t.form, &current.data), "").await?;
    let change = Change { record_id: id, version, op: "restore", actor, at: &now };
    record_change(s, &mut tx, &t.form, change, json!({})).await?;
    tx.commit().await?;
    let record = Record { version, updated_at: now, deleted_at: None, ..current };
    Ok(t.present_owned(record))
}

/// Every change of a record, oldest first; hidden fields are left out.
pub async fn history(s: &Scoped, actor: &Actor, ident: &str, id: i64) -> Result<Vec<Revision>> {
    let t = Target::load(s, actor, ident).await?;
    let current = load(s, &t.form, id).await?;
    if !in_scope(s, actor, t.perm.read, current.created_by).await? {
        return Err(Error::NotFound("record"));
    }
    let rows = s
        .query(
            "SELECT version, op, actor_id, at, changes FROM revisions WHERE tenant_id = $1 AND record_id = $2 ORDER BY version",
        )
        .bind(id)
        .fetch_all(s.db().reader())
        .await?;
    rows.iter()
        .map(|r| {
            let changes: String = r.try_get(4)?;
            let mut changes: Value = serde_json::from_str(&changes).map_err(anyhow::Error::from)?;
            if let Value::Object(m) = &mut changes {
                m.retain(|k, _| t.perm.fields.get(k) != Some(&FieldAccess::Hidden));
            }
            Ok(Revision {
                version: r.try_get(0)?,
                op: r.try_get(1)?,
                actor_id: r.try_get(2)?,
                at: r.try_get(3)?,
                changes,
            })
        })
        .collect()
}

/// Creates a record, or updates the one whose unique field `match_field` has the input's
/// value. Returns the record and whether it was created.
pub async fn upsert_record(
    s: &Scoped,
    actor: &Actor,
    ident: &str,
    match_field: &str,
    input: Map<String, Value>,
) -> Result<(Target, Record, bool)> {
    let t = Target::load(s, actor, ident).await?;
    let Some(field) = t.form.field(match_field).filter(|f| f.unique && !f.retired) else {
        return Err(Error::invalid("match", format!("`{match_field}` is not a unique field of this form")));
    };
    let Some(raw) = input.get(match_field).filter(|v| !v.is_null()) else {
        return Err(Error::invalid(format!("data.{match_field}"), "is required to match an existing record"));
    };
    // Normalise the value the way a write would, then look it up.
    let probe = validate::check_update(
        &t.form,
        &Map::new(),
        &Map::from_iter([(match_field.to_owned(), raw.clone())]),
        &FormPermission::full(),
    );
    if !probe.errors.is_empty() {
        return Err(Error::Invalid(probe.errors));
    }
    let key = probe.data.get(match_field).and_then(|v| validate::unique_value(v, field.unique_normalized));
    let existing: Option<i64> = match key {
        Some(k) => s
            .query("SELECT record_id FROM record_unique WHERE tenant_id = $1 AND form_id = $2 AND field = $3 AND value = $4")
            .bind(t.form.id)
            .bind(match_field.to_owned())
            .bind(k)
            .fetch_optional(s.db().reader())
            .await?
            .map(|r| r.try_get(0))
            .transpose()?,
        None => None,
    };
    match existing {
        Some(id) => {
            let (t, r) = update_record(s, actor, ident, id, input, None).await?;
            Ok((t, r, false))
        }
        None => {
            let (t, r) = create_record(s, actor, ident, input, None).await?;
            Ok((t, r, true))
        }
    }
}

/// Frees a unique value held by a record (a primary-key lookup: the table keeps no index by
/// record, which every create would pay for).
async fn release_unique(s: &Scoped, tx: &mut Tx, form_id: i64, record_id: i64, field: &str, value: &str) -> Result<()> {
    s.query(
        "DELETE FROM record_unique WHERE tenant_id = $1 AND form_id = $2 AND field = $3 AND value = $4 AND record_id = $5",
    )
    .bind(form_id)
    .bind(field.to_owned())
    .bind(value.to_owned())
    .bind(record_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
