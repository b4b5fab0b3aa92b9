//! Listing records: `filter` (an expression compiled to SQL), `sort`, `q` text search,
//! `fields`, `expand` and keyset (cursor) pagination. Everything runs in the database.

use base64::Engine as _;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::store::{Target, record_from_row};
use super::{Record, sort_sql};
use crate::error::{Error, FieldError, Result};
use crate::forms::FieldType;
use crate::store::{Dialect, Scoped};
use crate::tenants::{Actor, FieldAccess, Scope};

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 1000;
const MAX_SORT_KEYS: usize = 3;

/// The query string of a list request.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
pub struct ListQuery {
    /// An expression, e.g. `status = "open" and amount > 100`.
    pub filter: Option<String>,
    /// Comma-separated field keys; `-` before a key sorts descending. Default: `id`.
    pub sort: Option<String>,
    /// Comma-separated field keys to return (default: all).
    pub fields: Option<String>,
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Text to look for in the text fields.
    pub q: Option<String>,
    /// Comma-separated relation fields whose records to include under `expanded`.
    pub expand: Option<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ListPage {
    pub items: Vec<Record>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

struct SortKey {
    key: String,
    ty: expr::Type,
    desc: bool,
    sql: String,
}

/// A bindable value.
enum Param {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

impl From<expr::SqlValue> for Param {
    fn from(v: expr::SqlValue) -> Param {
        match v {
            expr::SqlValue::Null => Param::Null,
            expr::SqlValue::Bool(b) => Param::Bool(b),
            expr::SqlValue::Int(i) => Param::Int(i),
            expr::SqlValue::Float(f) => Param::Float(f),
            expr::SqlValue::Text(t) => Param::Text(t),
        }
    }
}

fn placeholder(d: Dialect, n: usize) -> String {
    match d {
        Dialect::Sqlite => format!("?{n}"),
        Dialect::Postgres => format!("${n}"),
    }
}

pub async fn list_records(s: &Scoped, actor: &Actor, ident: &str, q: &ListQuery) -> Result<ListPage> {
    let t = Target::load(s, actor, ident).await?;
    if t.perm.read == Scope::None {
        return Err(Error::Forbidden(format!("your role may not read records of `{}`", t.form.key)));
    }
    let dialect = s.db().dialect();
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(Error::invalid("limit", format!("must be 1 to {MAX_LIMIT}")));
    }
    let hidden = |k: &str| t.perm.fields.get(k) == Some(&FieldAccess::Hidden);
    let mut params: Vec<Param> = Vec::new();
    let mut conditions = Vec::new();

    let now = Utc::now();
    let ctx = expr::Context { now, today: now.date_naive() };
    if let Some(src) = q.filter.as_deref().filter(|f| !f.trim().is_empty()) {
        let parsed = expr::parse(src).map_err(|e| Error::invalid("filter", e.to_string()))?;
        let typed = expr::check(&parsed, &t.set, t.form.id).map_err(|e| Error::invalid("filter", e.to_string()))?;
        if let Some(p) = typed.field_paths().iter().find(|p| p.first().is_some_and(|k| hidden(k))) {
            return Err(Error::invalid("filter", format!("unknown field `{}`", p.join("."))));
        }
        let mut sql_params = expr::SqlParams::new(params.len() + 2);
        let sql = expr::to_sql(&typed, dialect, "r", &ctx, &mut sql_params);
        params.extend(sql_params.into_values().into_iter().map(Param::from));
        conditions.push(format!("({sql})"));
    }

    if let Some(text) = q.q.as_deref().map(str::trim).filter(|x| !x.is_empty()) {
        let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        params.push(Param::Text(format!("%{escaped}%")));
        let p = placeholder(dialect, params.len() + 1);
        let searchable: Vec<String> = t
            .form
            .active_fields()
            .filter(|f| {
                matches!(f.ty, FieldType::Text | FieldType::LongText | FieldType::SingleSelect | FieldType::AutoNumber)
            })
            .filter(|f| !hidden(&f.key))
            .map(|f| {
                let col = expr::field_sql(dialect, Some("r"), &f.key, &expr::Type::Text, &expr::Storage::Json);
                match dialect {
                    Dialect::Sqlite => format!("{col} LIKE {p} ESCAPE '\\'"),
                    Dialect::Postgres => format!("{col} ILIKE {p} ESCAPE '\\'"),
                }
            })
            .collect();
        conditions.push(if searchable.is_empty() { "1 = 0".into() } else { format!("({})", searchable.join(" OR ")) });
    }

    match t.perm.read {
        Scope::All | Scope::None => {}
        Scope::Own => conditions.push(format!("r.created_by = {}", actor.user_id.0)),
        Scope::Department => match actor.department_id {
            Some(d) => conditions.push(format!(
                "(r.created_by = {} OR r.created_by IN (SELECT m.user_id FROM memberships m WHERE m.tenant_id = r.tenant_id AND m.department_id = {d}))",
                actor.user_id.0
            )),
            None => conditions.push(format!("r.created_by = {}", actor.user_id.0)),
        },
    }

    // Sorting.
    let mut keys = Vec::new();
    let sort_spec = q.sort.clone().unwrap_or_default();
    for part in sort_spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (desc, key) = match part.strip_prefix('-') {
            Some(k) => (true, k),
            None => (false, part.strip_prefix('+').unwrap_or(part)),
        };
        let field = expr::Schema::field(&t.set, t.form.id, key).filter(|_| !hidden(key));
        let Some(field) = field else { return Err(Error::invalid("sort", format!("unknown field `{key}`"))) };
        if matches!(field.ty, expr::Type::List(_)) {
            return Err(Error::invalid("sort", format!("cannot sort by `{key}`")));
        }
        if key == "id" {
            keys.push(SortKey { key: "id".into(), ty: expr::Type::Number, desc, sql: "r.id".into() });
            break;
        }
        keys.push(SortKey {
            key: key.to_owned(),
            sql: sort_sql(dialect, Some("r"), key, &field.ty),
            ty: field.ty,
            desc,
        });
    }
    if keys.len() > MAX_SORT_KEYS + 1 {
        return Err(Error::invalid("sort", format!("at most {MAX_SORT_KEYS} sort keys")));
    }
    if keys.last().is_none_or(|k| k.key != "id") {
        // Ties go by id in the direction of the last key, so one index scan serves the order.
        let desc = keys.last().is_some_and(|k| k.desc);
        keys.push(SortKey { key: "id".into(), ty: expr::Type::Number, desc, sql: "r.id".into() });
    }

    // Keyset pagination: continue after the cursor's row.
    if let Some(cursor) = &q.cursor {
        let values = decode_cursor(cursor, &sort_spec, keys.len())?;
        let cond = after(dialect, &keys, &values, 0, &mut params)?;
        conditions.push(cond);
    }

    let order: Vec<String> = keys
        .iter()
        .map(|k| {
            let dir = if k.desc { "DESC" } else { "ASC" };
            // NULL sorts lowest on both databases (SQLite's rule; PostgreSQL is told).
            match (dialect, k.key.as_str(), k.desc) {
                (_, "id", _) | (Dialect::Sqlite, _, _) => format!("{} {dir}", k.sql),
                (Dialect::Postgres, _, false) => format!("{} ASC NULLS FIRST", k.sql),
                (Dialect::Postgres, _, true) => format!("{} DESC NULLS LAST", k.sql),
            }
        })
        .collect();
    let where_extra: String = conditions.iter().map(|c| format!(" AND {c}")).collect();
    let sql = format!(
        "SELECT r.id, r.version, {data} AS data, r.created_by, r.created_at, r.updated_at, r.deleted_at FROM records r \
         WHERE r.tenant_id = {p1} AND r.form_id = {form} AND r.deleted_at IS NULL{where_extra} ORDER BY {order} LIMIT {limit}",
        data = if dialect == Dialect::Postgres { "r.data::text" } else { "r.data" },
        p1 = placeholder(dialect, 1),
        form = t.form.id,
        order = order.join(", "),
        limit = limit + 1,
    );
    let mut query = s.query_dynamic(&sql);
    for p in params {
        query = match p {
            Param::Null => query.bind(None::<String>),
            Param::Bool(b) if dialect == Dialect::Sqlite => query.bind(i64::from(b)),
            Param::Bool(b) => query.bind(b),
            Param::Int(i) => query.bind(i),
            Param::Float(f) => query.bind(f),
            Param::Text(t) => query.bind(t),
        };
    }
    let rows = query.fetch_all(s.db().reader()).await?;
    let mut items: Vec<Record> = rows.iter().map(|r| record_from_row(r, &t.form.key)).collect::<Result<_>>()?;
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|last| encode_cursor(&sort_spec, &keys, last))
    } else {
        None
    };
    let mut items: Vec<Record> = items.into_iter().map(|r| t.present(r)).collect();
    if let Some(expand) = q.expand.as_deref().filter(|e| !e.trim().is_empty()) {
        expand_relations(s, actor, &t, expand, &mut items).await?;
    }
    if let Some(fields) = q.fields.as_deref().filter(|f| !f.trim().is_empty()) {
        let wanted: Vec<&str> = fields.split(',').map(str::trim).filter(|f| !f.is_empty()).collect();
        if let Some(bad) = wanted.iter().find(|k| t.form.field(k).is_none_or(|f| f.retired) || hidden(k)) {
            return Err(Error::invalid("fields", format!("unknown field `{bad}`")));
        }
        for r in &mut items {
            r.data.retain(|k, _| wanted.contains(&k.as_str()));
        }
    }
    Ok(ListPage { items, next_cursor })
}

/// The value of sort key `k` in record `r`, as the database compares it.
fn sort_value(k: &SortKey, r: &Record) -> Value {
    match k.key.as_str() {
        "id" => json!(r.id),
        "version" => json!(r.version),
        "created_by" => json!(r.created_by),
        "created_at" => json!(r.created_at),
        "updated_at" => json!(r.updated_at),
        key => r.data.get(key).cloned().unwrap_or(Value::Null),
    }
}

fn encode_cursor(spec: &str, keys: &[SortKey], last: &Record) -> String {
    let values: Vec<Value> = keys.iter().map(|k| sort_value(k, last)).collect();
    let doc = json!({"s": spec, "v": values});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(doc.to_string())
}

fn decode_cursor(cursor: &str, spec: &str, n: usize) -> Result<Vec<Value>> {
    let bad = || Error::invalid("cursor", "not a cursor of this list; start again without it");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let doc: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if doc.get("s").and_then(Value::as_str) != Some(spec) {
        return Err(Error::invalid("cursor", "was made for a different sort; start again without it"));
    }
    let values = doc.get("v").and_then(Value::as_array).cloned().ok_or_else(bad)?;
    if values.len() != n {
        return Err(bad());
    }
    Ok(values)
}

fn bind_value(k: &SortKey, v: &Value, params: &mut Vec<Param>) -> Result<()> {
    let bad = || Error::invalid("cursor", "not a cursor of this list; start again without it");
    params.push(match (&k.ty, v) {
        (expr::Type::Number, Value::Number(n)) if k.key == "id" || k.key == "version" || k.key == "created_by" => {
            Param::Int(n.as_i64().ok_or_else(bad)?)
        }
        (expr::Type::Number, Value::Number(n)) => Param::Float(n.as_f64().ok_or_else(bad)?),
        (expr::Type::Bool, Value::Bool(b)) => Param::Bool(*b),
        (_, Value::String(s)) => Param::Text(s.clone()),
        _ => return Err(bad()),
    });
    Ok(())
}

/// The condition "comes after `values` in the order of `keys`", with NULL lowest.
fn after(d: Dialect, keys: &[SortKey], values: &[Value], i: usize, params: &mut Vec<Param>) -> Result<String> {
    let k = &keys[i];
    let v = &values[i];
    let last = i + 1 == keys.len();
    let rest = if last { None } else { Some(after(d, keys, values, i + 1, params)?) };
    if v.is_null() {
        // Everything non-null is greater than NULL.
        let null_tail = rest.map(|r| format!(" OR ({} IS NULL AND {r})", k.sql)).unwrap_or_default();
        return Ok(if k.desc {
            format!("({} IS NULL AND {})", k.sql, rest_or_false(&null_tail))
        } else {
            format!("({} IS NOT NULL{null_tail})", k.sql)
        });
    }
    bind_value(k, v, params)?;
    let p = placeholder(d, params.len() + 1);
    let (beyond, bound) = if k.desc {
        (format!("({} < {p} OR {} IS NULL)", k.sql, k.sql), None)
    } else {
        (format!("{} > {p}", k.sql), Some(format!("{} >= {p}", k.sql)))
    };
    let body = match rest {
        Some(r) => format!("({beyond} OR ({} = {p} AND {r}))", k.sql),
        None => beyond,
    };
    Ok(match bound {
        Some(b) if i == 0 => format!("({b} AND {body})"),
        _ => body,
    })
}

fn rest_or_false(null_tail: &str) -> String {
    // null_tail is " OR (x IS NULL AND rest)"; under DESC only the tail can follow.
    match null_tail.strip_prefix(" OR ") {
        Some(t) => t.to_owned(),
        None => "1 = 0".into(),
    }
}

/// Puts the records that relation fields point to under `expanded`.
async fn expand_relations(s: &Scoped, actor: &Actor, t: &Target, expand: &str, items: &mut [Record]) -> Result<()> {
    for key in expand.split(',').map(str::trim).filter(|k| !k.is_empty()) {
        let field = t.form.field(key).filter(|f| f.ty == FieldType::Relation && !f.retired);
        let Some(field) = field.filter(|_| t.perm.fields.get(key) != Some(&FieldAccess::Hidden)) else {
            return Err(Error::Invalid(vec![FieldError::new("expand", format!("`{key}` is not a relation field"))]));
        };
        let Some(target) = field.target.as_deref().and_then(|k| t.set.by_key(k)) else { continue };
        let perm = actor.role.on_form(&target.key);
        if perm.read == Scope::None {
            continue;
        }
        let mut ids: Vec<i64> = items
            .iter()
            .flat_map(|r| match r.data.get(key) {
                Some(Value::Array(a)) => a.iter().filter_map(Value::as_i64).collect(),
                Some(v) => v.as_i64().into_iter().collect(),
                None => Vec::new(),
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let mut found: std::collections::HashMap<i64, Value> = std::collections::HashMap::new();
        for chunk in ids.chunks(500) {
            let placeholders: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 3)).collect();
            let sql = format!(
                "SELECT id, version, data::text AS data, created_by, created_at, updated_at, deleted_at FROM records \
                 WHERE tenant_id = $1 AND form_id = $2 AND deleted_at IS NULL AND id IN ({})",
                placeholders.join(", ")
            );
            let sql = s.db().sql(&sql).into_owned();
            let mut q = s.query_dynamic(&sql).bind(target.id);
            for id in chunk {
                q = q.bind(*id);
            }
            for row in q.fetch_all(s.db().reader()).await? {
                let mut r = record_from_row(&row, &target.key)?;
                let visible = match perm.read {
                    Scope::All => true,
                    Scope::Own | Scope::Department | Scope::None => r.created_by == Some(actor.user_id.0),
                };
                if !visible {
                    continue;
                }
                r.data.retain(|k, _| {
                    target.field(k).is_some_and(|f| !f.retired) && perm.fields.get(k) != Some(&FieldAccess::Hidden)
                });
                found.insert(r.id, serde_json::to_value(&r).map_err(anyhow::Error::from)?);
            }
        }
        for r in items.iter_mut() {
            let value = match r.data.get(key) {
                Some(Value::Array(a)) => {
                    Value::Array(a.iter().filter_map(|id| id.as_i64().and_then(|id| found.get(&id)).cloned()).collect())
                }
                Some(v) => v.as_i64().and_then(|id| found.get(&id)).cloned().unwrap_or(Value::Null),
                None => continue,
            };
            r.expanded.insert(key.to_owned(), value);
        }
    }
    let _: Map<String, Value> = Map::new();
    Ok(())
}
