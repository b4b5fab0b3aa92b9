//! Inserting new records with their uniqueness entries, revisions and outbox events in as
//! few round trips as possible — the hot path of single and bulk creates.
//!
//! Each statement through sqlx costs a hand-off to the driver (a worker thread per SQLite
//! connection, a network round trip to PostgreSQL). So a batch of rows is written as one
//! statement per chunk:
//! - SQLite: a multi-statement script on the single writer connection, inside
//!   `BEGIN IMMEDIATE … COMMIT`. New ids are not returned by the INSERT but known: SQLite gives
//!   an `INTEGER PRIMARY KEY` row the largest id plus one, and the writer holds the write lock,
//!   so the rows of a chunk get `MAX(id) - n + 1 ..= MAX(id)` in order.
//! - PostgreSQL: ids are drawn from the identity sequence first, then one statement with
//!   data-modifying CTEs writes everything; several chunks share one transaction.
//!
//! A failure rolls everything back; a unique violation is then traced to its field.

use serde_json::{Map, Value};
use sqlx::{Executor, Row};

use super::validate;
use crate::error::{Error, FieldError, Result};
use crate::forms::model::{parse_auto_format, render_auto};
use crate::forms::{FieldType, Form};
use crate::store::{DbError, Dialect, Scoped};
use crate::tenants::Actor;

/// Rows per statement (at most ~8 parameters a row: well under SQLite's 32,766).
const CHUNK: usize = 1000;

/// Fills auto-number fields, reserving a block of numbers per field in a short transaction
/// of its own. Numbers are unique and increasing; a write that fails afterwards leaves a gap,
/// as database sequences do.
pub async fn assign_auto_numbers(s: &Scoped, form: &Form, rows: &mut [Map<String, Value>]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    for f in form.active_fields().filter(|f| f.ty == FieldType::AutoNumber) {
        let Some(parts) = f.format.as_deref().and_then(|fmt| parse_auto_format(fmt).ok()) else { continue };
        let today = chrono::Utc::now().date_naive();
        let (period, _) = render_auto(&parts, today, 0);
        let counter = format!("auto:{}:{}:{period}", form.id, f.key);
        let n = rows.len() as i64;
        let last: i64 = s
            .query(
                "INSERT INTO counters (tenant_id, name, value) VALUES ($1, $2, $3) \
                 ON CONFLICT (tenant_id, name) DO UPDATE SET value = counters.value + $3 RETURNING value",
            )
            .bind(counter)
            .bind(n)
            .fetch_one(s.db().writer())
            .await?
            .try_get(0)?;
        for (i, row) in rows.iter_mut().enumerate() {
            row.insert(f.key.clone(), Value::String(render_auto(&parts, today, last - n + 1 + i as i64).1));
        }
    }
    Ok(())
}

/// (field, value) pairs the uniqueness table must hold for `data`.
pub fn unique_entries(form: &Form, data: &Map<String, Value>) -> Vec<(String, String)> {
    form.active_fields()
        .filter(|f| f.unique)
        .filter_map(|f| Some((f.key.clone(), validate::unique_value(data.get(&f.key)?, f.unique_normalized)?)))
        .collect()
}

/// Writes `rows` as new records of `form`, all or none. `path` names row k in errors
/// (`""` for a single record, `records[k].` for bulk). Returns the ids in row order.
pub async fn insert_rows(
    s: &Scoped,
    form: &Form,
    actor: &Actor,
    now: &str,
    rows: &[Map<String, Value>],
    path: impl Fn(usize) -> String,
) -> Result<Vec<i64>> {
    let texts: Vec<String> = rows.iter().map(|d| serde_json::to_string(d).unwrap_or_default()).collect();
    // The event names the record and version (its own columns); the change itself is in the
    // revision of that version, written in the same transaction, so it is stored once.
    let payload = format!(r#"{{"form":{}}}"#, Value::from(form.key.as_str()));
    let payloads: Vec<String> = vec![payload; texts.len()];
    let uniques: Vec<Vec<(String, String)>> = rows.iter().map(|d| unique_entries(form, d)).collect();
    let dialect = s.db().dialect();
    let mut conn = s.db().writer().acquire().await?;
    let result = match dialect {
        Dialect::Sqlite => sqlite_insert(s, &mut conn, form, actor, now, (&texts, &payloads), &uniques).await,
        Dialect::Postgres => postgres_insert(s, &mut conn, form, actor, now, (&texts, &payloads), &uniques).await,
    };
    match result {
        Ok(ids) => Ok(ids),
        Err(e) => {
            // Leave no transaction open on the pooled connection; if even that fails, drop it.
            if conn.execute("ROLLBACK").await.is_err() && dialect == Dialect::Sqlite {
                let _ = conn.detach();
            }
            match DbError::from_sqlx(e) {
                DbError::Unique(_) => Err(trace_unique(s, form, &uniques, path).await),
                other => Err(other.into()),
            }
        }
    }
}

/// After a unique violation: which row and field hold a value that is taken.
async fn trace_unique(
    s: &Scoped,
    form: &Form,
    uniques: &[Vec<(String, String)>],
    path: impl Fn(usize) -> String,
) -> Error {
    let mut errors = Vec::new();
    for (k, entries) in uniques.iter().enumerate() {
        for (field, value) in entries {
            let taken = s
                .query(
                    "SELECT 1 FROM record_unique WHERE tenant_id = $1 AND form_id = $2 AND field = $3 AND value = $4",
                )
                .bind(form.id)
                .bind(field.clone())
                .bind(value.clone())
                .fetch_optional(s.db().reader())
                .await;
            if matches!(taken, Ok(Some(_))) {
                errors.push(FieldError::new(
                    format!("{}data.{field}", path(k)),
                    "must be unique: another record already has this value",
                ));
            }
        }
    }
    if errors.is_empty() {
        errors.push(FieldError::new("", "a unique value was taken by a concurrent write; retry"));
    }
    Error::Conflict(errors)
}

type Conn = sqlx::pool::PoolConnection<sqlx::Any>;

async fn sqlite_insert(
    s: &Scoped,
    conn: &mut Conn,
    form: &Form,
    actor: &Actor,
    now: &str,
    (texts, payloads): (&[String], &[String]),
    uniques: &[Vec<(String, String)>],
) -> Result<Vec<i64>, sqlx::Error> {
    // Ids of our own rows go in as literals (the statement text then depends only on the
    // tenant, form, actor and row count, so SQLite's prepared statements are reused); values
    // are bound by position, in the order they appear: SQLite looks numbered parameters up by
    // a linear scan, which made a 500-row statement quadratic. New ids come from one MAX(id)
    // per statement.
    let (tenant, form_id, actor_id) = (s.tenant().0, form.id, actor.user_id.0);
    let mut ids = Vec::with_capacity(texts.len());
    let chunks = texts.len().div_ceil(CHUNK);
    for c in 0..chunks {
        let range = c * CHUNK..((c + 1) * CHUNK).min(texts.len());
        let n = range.len();
        let id = format!("m.mx - {} + v.column1", n - 1);
        let mut sql = String::new();
        if c == 0 {
            sql.push_str("BEGIN IMMEDIATE;\n");
        }
        let values = vec![format!("({tenant}, {form_id}, ?, 1, {actor_id}, ?, ?)"); n];
        sql.push_str(&format!(
            "INSERT INTO records (tenant_id, form_id, data, version, created_by, created_at, updated_at) VALUES {};\n",
            values.join(", ")
        ));
        let mut pairs = Vec::new();
        for (k, entries) in uniques[range.clone()].iter().enumerate() {
            for (field, value) in entries {
                pairs.push((k, field.as_str(), value.as_str()));
            }
        }
        if !pairs.is_empty() {
            let values: Vec<String> = pairs.iter().map(|(k, _, _)| format!("({k}, ?, ?)")).collect();
            sql.push_str(&format!(
                "INSERT INTO record_unique (tenant_id, form_id, field, value, record_id) \
                 SELECT {tenant}, {form_id}, v.column2, v.column3, {id} FROM (VALUES {}) AS v, \
                 (SELECT MAX(id) AS mx FROM records) AS m;\n",
                values.join(", ")
            ));
        }
        // Revisions and events read the rows just written (the chunk's ids are the top n)
        // instead of taking every record's JSON as parameters a second time.
        let fresh = format!("FROM records r WHERE r.id > (SELECT MAX(id) FROM records) - {n}");
        sql.push_str(&format!(
            "INSERT INTO revisions (tenant_id, record_id, version, op, actor_id, at, changes) \
             SELECT {tenant}, r.id, 1, 'create', {actor_id}, r.created_at, r.data {fresh};\n"
        ));
        sql.push_str(&format!(
            "INSERT INTO events (tenant_id, kind, form_id, record_id, version, actor_id, payload, created_at) \
             SELECT {tenant}, 'record.created', {form_id}, r.id, 1, {actor_id}, ?, r.created_at {fresh};\n"
        ));
        sql.push_str("SELECT MAX(id) FROM records;\n");
        if c + 1 == chunks {
            sql.push_str("COMMIT;");
        }
        let mut q = s.script(&sql);
        for t in &texts[range.clone()] {
            q = q.bind(t.as_str()).bind(now).bind(now);
        }
        for (_, field, value) in &pairs {
            q = q.bind(*field).bind(*value);
        }
        q = q.bind(payloads[range.start].as_str());
        let rows = q.fetch_all(&mut **conn).await?;
        let last: i64 = rows.last().ok_or_else(|| sqlx::Error::RowNotFound)?.try_get(0)?;
        ids.extend((0..n as i64).map(|k| last - (n as i64 - 1) + k));
    }
    Ok(ids)
}

async fn postgres_insert(
    s: &Scoped,
    conn: &mut Conn,
    form: &Form,
    actor: &Actor,
    now: &str,
    (texts, payloads): (&[String], &[String]),
    uniques: &[Vec<(String, String)>],
) -> Result<Vec<i64>, sqlx::Error> {
    let ids: Vec<i64> =
        sqlx::query("SELECT nextval(pg_get_serial_sequence('records', 'id')) FROM generate_series(1, $1::bigint)")
            .bind(texts.len() as i64)
            .fetch_all(&mut **conn)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
    let chunks = texts.len().div_ceil(CHUNK);
    if chunks > 1 {
        conn.execute("BEGIN").await?;
    }
    for c in 0..chunks {
        let range = c * CHUNK..((c + 1) * CHUNK).min(texts.len());
        let n = range.len();
        // $1 tenant, $2 form, $3 actor, $4 now, then (id, data, payload) per row, then unique pairs.
        let id = |k: usize| format!("${}::bigint", 5 + 3 * k);
        let data = |k: usize| format!("${}::text", 6 + 3 * k);
        let payload = |k: usize| format!("${}::text", 7 + 3 * k);
        let mut next = 5 + 3 * n;
        let records: Vec<String> = (0..n)
            .map(|k| {
                format!("($1::bigint, {}, $2::bigint, {}::jsonb, 1, $3::bigint, $4::text, $4::text)", id(k), data(k))
            })
            .collect();
        let mut sql = format!(
            "WITH r AS (INSERT INTO records (tenant_id, id, form_id, data, version, created_by, created_at, updated_at) VALUES {})",
            records.join(", ")
        );
        let mut pairs = Vec::new();
        let mut unique_values = Vec::new();
        for (k, entries) in uniques[range.clone()].iter().enumerate() {
            for (field, value) in entries {
                unique_values.push(format!(
                    "($1::bigint, $2::bigint, ${}::text, ${}::text, {})",
                    next,
                    next + 1,
                    id(k)
                ));
                pairs.push((field.clone(), value.clone()));
                next += 2;
            }
        }
        if !unique_values.is_empty() {
            sql.push_str(&format!(
                ", u AS (INSERT INTO record_unique (tenant_id, form_id, field, value, record_id) VALUES {})",
                unique_values.join(", ")
            ));
        }
        let revisions: Vec<String> = (0..n)
            .map(|k| format!("($1::bigint, {}, 1, 'create', $3::bigint, $4::text, {})", id(k), data(k)))
            .collect();
        sql.push_str(&format!(
            ", v AS (INSERT INTO revisions (tenant_id, record_id, version, op, actor_id, at, changes) VALUES {})",
            revisions.join(", ")
        ));
        let events: Vec<String> = (0..n)
            .map(|k| {
                format!(
                    "($1::bigint, 'record.created', $2::bigint, {}, 1, $3::bigint, {}, $4::text)",
                    id(k),
                    payload(k)
                )
            })
            .collect();
        sql.push_str(&format!(
            " INSERT INTO events (tenant_id, kind, form_id, record_id, version, actor_id, payload, created_at) VALUES {}",
            events.join(", ")
        ));
        let mut q = s.query_dynamic(&sql).bind(form.id).bind(actor.user_id.0).bind(now);
        for (k, t) in texts[range.clone()].iter().enumerate() {
            q = q.bind(ids[range.start + k]).bind(t.as_str()).bind(payloads[range.start + k].as_str());
        }
        for (field, value) in &pairs {
            q = q.bind(field.clone()).bind(value.clone());
        }
        q.execute(&mut **conn).await?;
    }
    if chunks > 1 {
        conn.execute("COMMIT").await?;
    }
    Ok(ids)
}

/// Group commit for SQLite, where every write goes through one connection: concurrent
/// single-record creates are queued, and whatever has queued while the previous write ran
/// is written together in one transaction. Each request still gets its own outcome: when a
/// shared write fails (a unique value taken, say), its requests are written one by one.
#[derive(Clone)]
pub struct Batcher {
    tx: tokio::sync::mpsc::Sender<Job>,
}

struct Job {
    scoped: Scoped,
    form: std::sync::Arc<Form>,
    actor: Actor,
    row: Map<String, Value>,
    reply: tokio::sync::oneshot::Sender<Result<(i64, String)>>,
}

/// Most creates written together.
const MAX_BATCH: usize = 128;

impl Batcher {
    /// Starts the batching task on the current runtime.
    pub fn start() -> Batcher {
        let (tx, rx) = tokio::sync::mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run_batches(rx));
        Batcher { tx }
    }

    /// Writes one new record; returns its id and the time it was written.
    pub async fn insert(
        &self,
        s: &Scoped,
        form: &std::sync::Arc<Form>,
        actor: &Actor,
        row: Map<String, Value>,
    ) -> Result<(i64, String)> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Job { scoped: s.clone(), form: form.clone(), actor: actor.clone(), row, reply };
        self.tx.send(job).await.map_err(|_| anyhow::anyhow!("the write queue is closed"))?;
        answer.await.map_err(|_| anyhow::anyhow!("the write queue dropped a request"))?
    }
}

async fn run_batches(mut rx: tokio::sync::mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        // Rows of one tenant, form and actor share a statement.
        while !jobs.is_empty() {
            let key = (jobs[0].scoped.tenant(), jobs[0].form.id, jobs[0].actor.user_id);
            let (group, rest): (Vec<Job>, Vec<Job>) =
                jobs.into_iter().partition(|j| (j.scoped.tenant(), j.form.id, j.actor.user_id) == key);
            jobs = rest;
            write_group(group).await;
        }
    }
}

async fn write_group(mut group: Vec<Job>) {
    let now = crate::store::now_text();
    if group.len() > 1 {
        let rows: Vec<Map<String, Value>> = group.iter_mut().map(|j| std::mem::take(&mut j.row)).collect();
        let (s, form, actor) = (&group[0].scoped, &group[0].form, &group[0].actor);
        match insert_rows(s, form, actor, &now, &rows, |_| String::new()).await {
            Ok(ids) => {
                for (job, id) in group.into_iter().zip(ids) {
                    let _ = job.reply.send(Ok((id, now.clone())));
                }
                return;
            }
            Err(_) => {
                // Someone's row broke the shared write: give each its own.
                for (job, row) in group.iter_mut().zip(rows) {
                    job.row = row;
                }
            }
        }
    }
    for job in group {
        let result =
            insert_rows(&job.scoped, &job.form, &job.actor, &now, std::slice::from_ref(&job.row), |_| String::new())
                .await
                .map(|ids| (ids[0], now.clone()));
        let _ = job.reply.send(result);
    }
}
