//! HTTP handlers for records and attachments.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{ListPage, ListQuery, Record, Revision};
use crate::api::extract::{AppJson, TenantCtx};
use crate::api::{AppState, Route, parse_id};
use crate::error::{Error, FieldError, Result};
use crate::store::now_text;

const LIST_PARAMS: &[(&str, &str)] = &[
    ("filter", "An expression, e.g. status = \"open\" and amount > 100"),
    ("sort", "Comma-separated field keys; prefix - for descending"),
    ("fields", "Comma-separated field keys to return"),
    ("limit", "Page size, 1 to 1000 (default 50)"),
    ("cursor", "next_cursor of the previous page"),
    ("q", "Text to search for in text fields"),
    ("expand", "Comma-separated relation fields to include under `expanded`"),
];

pub fn routes() -> Vec<Route> {
    const RECORDS: &str = "/api/v1/t/{tenant}/forms/{form}/records";
    const RECORD: &str = "/api/v1/t/{tenant}/forms/{form}/records/{id}";
    vec![
        Route::new(Method::GET, RECORDS, "List records with filter, sort, search and cursor paging", get(list_records))
            .tag("records")
            .query(LIST_PARAMS)
            .returns::<ListPage>(200),
        Route::new(Method::POST, RECORDS, "Create a record", post(create_record))
            .tag("records")
            .body::<RecordInput>()
            .returns::<Record>(201),
        Route::new(
            Method::POST,
            "/api/v1/t/{tenant}/forms/{form}/records/bulk",
            "Create many records: all or none, with every row's problems; `Prefer: return=minimal` answers with the ids only",
            post(bulk_create),
        )
        .tag("records")
        .body::<BulkInput>()
        .returns::<BulkOutput>(201),
        Route::new(
            Method::POST,
            "/api/v1/t/{tenant}/forms/{form}/records/upsert",
            "Create or update the record matched by a unique field (for syncing from other systems)",
            post(upsert_record),
        )
        .tag("records")
        .body::<UpsertInput>()
        .returns::<Record>(200),
        Route::new(
            Method::POST,
            "/api/v1/t/{tenant}/forms/{form}/records/import",
            "Import a CSV file (first line: field keys or labels); ?mode=valid stores the valid lines and reports the others, the default stores all or nothing",
            post(import_csv),
        )
        .tag("records")
        .query(&[("mode", "`all` (default): all lines or none; `valid`: the valid lines")])
        .returns::<ImportReport>(200),
        Route::new(Method::GET, RECORD, "One record; its ETag is its version", get(get_record))
            .tag("records")
            .returns::<Record>(200),
        Route::new(
            Method::PATCH,
            RECORD,
            "Change fields of a record; If-Match with the ETag refuses to overwrite a newer version (412)",
            axum::routing::patch(update_record),
        )
        .tag("records")
        .body::<RecordInput>()
        .returns::<Record>(200),
        Route::new(
            Method::DELETE,
            RECORD,
            "Delete a record (it can be restored)",
            axum::routing::delete(delete_record),
        )
        .tag("records")
        .status(204),
        Route::new(
            Method::POST,
            "/api/v1/t/{tenant}/forms/{form}/records/{id}/restore",
            "Restore a deleted record",
            post(restore_record),
        )
        .tag("records")
        .returns::<Record>(200),
        Route::new(
            Method::GET,
            "/api/v1/t/{tenant}/forms/{form}/records/{id}/history",
            "Every change of a record: who, when, what",
            get(history),
        )
        .tag("records")
        .returns::<Vec<Revision>>(200),
        Route::new(
            Method::POST,
            "/api/v1/t/{tenant}/attachments",
            "Upload a file (the raw body; ?name= gives its file name); use the id in attachment fields",
            post(upload_attachment),
        )
        .tag("records")
        .query(&[("name", "File name")])
        .returns::<Attachment>(201),
        Route::new(Method::GET, "/api/v1/t/{tenant}/attachments/{id}", "Download a file", get(download_attachment))
            .tag("records"),
    ]
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordInput {
    /// Field key → value.
    pub data: Map<String, Value>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkInput {
    pub records: Vec<RecordInput>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct BulkOutput {
    pub items: Vec<Record>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpsertInput {
    /// Key of the unique field that identifies the record.
    #[serde(rename = "match")]
    pub match_field: String,
    pub data: Map<String, Value>,
}

/// Most rows in one bulk request.
pub const BULK_MAX: usize = 10_000;

fn with_etag(status: StatusCode, r: Record) -> Response {
    let etag = HeaderValue::from_str(&format!("\"{}\"", r.version)).ok();
    let mut response = (status, Json(r)).into_response();
    if let Some(etag) = etag {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

/// Reads `If-Match`: `"3"`, `W/"3"` or a bare `3`; `*` means any version.
fn if_match(headers: &HeaderMap) -> Result<Option<i64>> {
    let Some(raw) = headers.get(header::IF_MATCH) else { return Ok(None) };
    let text = raw.to_str().unwrap_or("").trim();
    if text == "*" {
        return Ok(None);
    }
    let unquoted = text.trim_start_matches("W/").trim_matches('"');
    unquoted.parse::<i64>().map(Some).map_err(|_| {
        Error::Invalid(vec![FieldError::new("If-Match", "must be a record version as the ETag gives it, e.g. \"3\"")])
    })
}

async fn list_records(
    ctx: TenantCtx,
    Path((_, form)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
) -> Result<Json<ListPage>> {
    Ok(Json(super::query::list_records(&ctx.db, &ctx.actor, &form, &q).await?))
}

async fn create_record(
    State(state): State<AppState>,
    ctx: TenantCtx,
    Path((_, form)): Path<(String, String)>,
    AppJson(input): AppJson<RecordInput>,
) -> Result<Response> {
    let (_, r) = super::create_record(&ctx.db, &ctx.actor, &form, input.data, state.batcher.as_ref()).await?;
    Ok(with_etag(StatusCode::CREATED, r))
}

async fn bulk_create(
    ctx: TenantCtx,
    Path((_, form)): Path<(String, String)>,
    headers: HeaderMap,
    AppJson(input): AppJson<BulkInput>,
) -> Result<Response> {
    if input.records.is_empty() || input.records.len() > BULK_MAX {
        return Err(Error::invalid("records", format!("must hold 1 to {BULK_MAX} records")));
    }
    let rows = input.records.into_iter().map(|r| r.data).collect();
    let items = super::bulk_create(&ctx.db, &ctx.actor, &form, rows, super::BulkMode::AllOrNothing).await?.records;
    // RFC 7240: an importer that does not need the records echoed asks for the ids only.
    if prefers_minimal(&headers) {
        let ids: Vec<i64> = items.iter().map(|r| r.id).collect();
        let mut response = (StatusCode::CREATED, Json(BulkIds { ids })).into_response();
        response.headers_mut().insert("preference-applied", HeaderValue::from_static("return=minimal"));
        return Ok(response);
    }
    Ok((StatusCode::CREATED, Json(BulkOutput { items })).into_response())
}

/// Whether the request says `Prefer: return=minimal`.
fn prefers_minimal(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("return=minimal"))
}

/// The answer to a bulk create with `Prefer: return=minimal`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct BulkIds {
    /// Ids of the new records, in the order of the input.
    pub ids: Vec<i64>,
}

async fn upsert_record(
    ctx: TenantCtx,
    Path((_, form)): Path<(String, String)>,
    AppJson(input): AppJson<UpsertInput>,
) -> Result<Response> {
    let (_, r, created) = super::upsert_record(&ctx.db, &ctx.actor, &form, &input.match_field, input.data).await?;
    Ok(with_etag(if created { StatusCode::CREATED } else { StatusCode::OK }, r))
}

async fn get_record(ctx: TenantCtx, Path((_, form, id)): Path<(String, String, String)>) -> Result<Response> {
    let (_, r) = super::get_record(&ctx.db, &ctx.actor, &form, parse_id(&id, "record")?).await?;
    Ok(with_etag(StatusCode::OK, r))
}

async fn update_record(
    ctx: TenantCtx,
    Path((_, form, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    AppJson(input): AppJson<RecordInput>,
) -> Result<Response> {
    let id = parse_id(&id, "record")?;
    let expected = if_match(&headers)?;
    let (_, r) = super::update_record(&ctx.db, &ctx.actor, &form, id, input.data, expected).await?;
    Ok(with_etag(StatusCode::OK, r))
}

async fn delete_record(
    ctx: TenantCtx,
    Path((_, form, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode> {
    let id = parse_id(&id, "record")?;
    super::delete_record(&ctx.db, &ctx.actor, &form, id, if_match(&headers)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn restore_record(ctx: TenantCtx, Path((_, form, id)): Path<(String, String, String)>) -> Result<Response> {
    let (_, r) = super::restore_record(&ctx.db, &ctx.actor, &form, parse_id(&id, "record")?).await?;
    Ok(with_etag(StatusCode::OK, r))
}

async fn history(ctx: TenantCtx, Path((_, form, id)): Path<(String, String, String)>) -> Result<Json<Vec<Revision>>> {
    Ok(Json(super::history(&ctx.db, &ctx.actor, &form, parse_id(&id, "record")?).await?))
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Attachment {
    pub id: i64,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub created_at: String,
}

#[derive(Debug, Deserialize)]
struct UploadQuery {
    name: Option<String>,
}

async fn upload_attachment(
    ctx: TenantCtx,
    Query(q): Query<UploadQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Attachment>)> {
    if body.is_empty() {
        return Err(Error::invalid("body", "the file is empty"));
    }
    let name = q.name.unwrap_or_else(|| "file".into());
    if name.len() > 255 || name.contains(['/', '\\', '\0']) {
        return Err(Error::invalid("name", "must be a plain file name of at most 255 bytes"));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let sha: String = Sha256::digest(&body).iter().map(|b| format!("{b:02x}")).collect();
    let now = now_text();
    let id: i64 = ctx
        .db
        .query(
            "INSERT INTO attachments (tenant_id, name, content_type, size, sha256, bytes, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(name.clone())
        .bind(content_type.clone())
        .bind(body.len() as i64)
        .bind(sha.clone())
        .bind(body.to_vec())
        .bind(ctx.actor.user_id.0)
        .bind(now.clone())
        .fetch_one(ctx.db.db().writer())
        .await?
        .try_get(0)?;
    Ok((
        StatusCode::CREATED,
        Json(Attachment { id, name, content_type, size: body.len() as i64, sha256: sha, created_at: now }),
    ))
}

async fn download_attachment(ctx: TenantCtx, Path((_, id)): Path<(String, String)>) -> Result<Response> {
    let id = parse_id(&id, "attachment")?;
    let row = ctx
        .db
        .query("SELECT name, content_type, bytes FROM attachments WHERE tenant_id = $1 AND id = $2")
        .bind(id)
        .fetch_optional(ctx.db.db().reader())
        .await?
        .ok_or(Error::NotFound("attachment"))?;
    let name: String = row.try_get(0)?;
    let content_type: String = row.try_get(1)?;
    let bytes: Vec<u8> = row.try_get(2)?;
    let mut response = bytes.into_response();
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    let safe: String = name.chars().filter(|c| c.is_ascii_graphic() && *c != '"').collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok(response)
}

#[derive(Debug, Deserialize)]
struct ImportQuery {
    mode: Option<String>,
}

/// What an import did.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ImportReport {
    /// Lines stored.
    pub created: usize,
    /// Ids of the new records, in file order.
    pub ids: Vec<i64>,
    /// Lines left out (with `mode=valid`) and why; `field` is `line N: key`.
    pub errors: Vec<FieldError>,
}

/// `records[i].data.key` → `line N: key`, N counting the header as line 1.
fn line_path(path: &str) -> String {
    match super::row_of(path) {
        Some(i) => {
            let rest = path.split_once("].").map(|(_, r)| r.trim_start_matches("data.")).unwrap_or("");
            format!("line {}: {rest}", i + 2)
        }
        None => path.to_owned(),
    }
}

async fn import_csv(
    ctx: TenantCtx,
    Path((_, form)): Path<(String, String)>,
    Query(q): Query<ImportQuery>,
    body: Bytes,
) -> Result<(StatusCode, Json<ImportReport>)> {
    let mode = match q.mode.as_deref() {
        None | Some("all") => super::BulkMode::AllOrNothing,
        Some("valid") => super::BulkMode::SkipInvalid,
        Some(other) => return Err(Error::invalid("mode", format!("`{other}` is not `all` or `valid`"))),
    };
    let text = std::str::from_utf8(&body).map_err(|e| Error::BadRequest(format!("the file is not UTF-8: {e}")))?;
    let target = super::Target::load(&ctx.db, &ctx.actor, &form).await?;
    let rows = super::import::parse_csv(&target.form, text)?;
    let outcome = super::bulk_create(&ctx.db, &ctx.actor, &form, rows, mode).await.map_err(|e| match e {
        Error::Invalid(errors) => {
            Error::Invalid(errors.into_iter().map(|e| FieldError::new(line_path(&e.field), e.message)).collect())
        }
        Error::Conflict(errors) => {
            Error::Conflict(errors.into_iter().map(|e| FieldError::new(line_path(&e.field), e.message)).collect())
        }
        other => other,
    })?;
    let report = ImportReport {
        created: outcome.records.len(),
        ids: outcome.records.iter().map(|r| r.id).collect(),
        errors: outcome.rejected.into_iter().map(|e| FieldError::new(line_path(&e.field), e.message)).collect(),
    };
    Ok((StatusCode::OK, Json(report)))
}
