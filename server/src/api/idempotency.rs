//! `Idempotency-Key` on tenant-scoped POSTs: a retried request gets the first answer again
//! instead of doing the work twice.
//!
//! The key is claimed (an "in progress" row) before the handler runs, so two concurrent
//! requests with one key cannot both run; the second gets 409 until the first has finished,
//! then the stored answer. A key reused with a different request is refused with 422. Keys
//! are per tenant and per credential. Answers of 5xx are not kept, so a retry after a
//! server error runs again.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::AppState;
use super::extract::token_of;
use crate::error::{Error, FieldError};
use crate::store::{DbError, now_text};
use crate::tenants;

pub const HEADER: &str = "idempotency-key";
const MAX_STORED_BODY: usize = 4 << 20;

pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST || !req.uri().path().starts_with("/api/v1/t/") {
        return next.run(req).await;
    }
    let Some(key) = req.headers().get(HEADER).map(|v| v.to_str().map(str::to_owned)) else {
        return next.run(req).await;
    };
    match run(state, key, req, next).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn run(
    state: AppState,
    key: Result<String, axum::http::header::ToStrError>,
    req: Request,
    next: Next,
) -> Result<Response, Error> {
    let key = key.ok().filter(|k| !k.is_empty() && k.len() <= 255).ok_or_else(|| {
        Error::Invalid(vec![FieldError::new("Idempotency-Key", "must be 1 to 255 visible ASCII characters")])
    })?;
    let (parts, body) = req.into_parts();
    let Some(token) = token_of(&parts.headers) else {
        return Ok(next.run(Request::from_parts(parts, body)).await);
    };
    let slug = parts.uri.path().trim_start_matches("/api/v1/t/").split('/').next().unwrap_or("").to_owned();
    let Some(tenant) = tenants::tenant_by_slug(&state.db, &slug).await? else {
        return Ok(next.run(Request::from_parts(parts, body)).await);
    };
    let bytes = body.collect().await.map_err(|_| Error::TooLarge)?.to_bytes();
    let principal = tenants::auth::secret_hash(&token);
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str());
    hasher.update(b" ");
    hasher.update(parts.uri.to_string());
    hasher.update(b"\n");
    hasher.update(&bytes);
    let request_hash: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();

    let db = state.db.scoped(tenants::TenantId(tenant.id));
    let claimed = db
        .query(
            "INSERT INTO idempotency_keys (tenant_id, key, principal, request_hash, status, body, created_at) \
             VALUES ($1, $2, $3, $4, 0, '', $5)",
        )
        .bind(key.clone())
        .bind(principal.clone())
        .bind(request_hash.clone())
        .bind(now_text())
        .execute(state.db.writer())
        .await;
    if let Err(e) = claimed {
        match DbError::from_sqlx(e) {
            DbError::Unique(_) => return replay(&db, &key, &principal, &request_hash).await,
            other => return Err(other.into()),
        }
    }

    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    let status = response.status();
    let keep = !status.is_server_error()
        && !matches!(
            status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND | StatusCode::TOO_MANY_REQUESTS
        );
    let (resp_parts, resp_body) = response.into_parts();
    let resp_bytes = resp_body.collect().await.map_err(|e| anyhow::anyhow!("reading response body: {e}"))?.to_bytes();
    if keep && resp_bytes.len() <= MAX_STORED_BODY {
        db.query(
            "UPDATE idempotency_keys SET status = $4, body = $5 WHERE tenant_id = $1 AND key = $2 AND principal = $3",
        )
        .bind(key)
        .bind(principal)
        .bind(i64::from(status.as_u16()))
        .bind(String::from_utf8_lossy(&resp_bytes).into_owned())
        .execute(state.db.writer())
        .await?;
    } else {
        db.query("DELETE FROM idempotency_keys WHERE tenant_id = $1 AND key = $2 AND principal = $3")
            .bind(key)
            .bind(principal)
            .execute(state.db.writer())
            .await?;
    }
    Ok(Response::from_parts(resp_parts, Body::from(resp_bytes)))
}

async fn replay(db: &crate::store::Scoped, key: &str, principal: &str, request_hash: &str) -> Result<Response, Error> {
    let row = db
        .query("SELECT request_hash, status, body FROM idempotency_keys WHERE tenant_id = $1 AND key = $2 AND principal = $3")
        .bind(key.to_owned())
        .bind(principal.to_owned())
        .fetch_optional(db.db().writer())
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("idempotency key vanished")))?;
    let stored_hash: String = row.try_get(0)?;
    let status: i64 = row.try_get(1)?;
    let body: String = row.try_get(2)?;
    if stored_hash != request_hash {
        return Err(Error::Invalid(vec![FieldError::new(
            "Idempotency-Key",
            "was already used with a different request",
        )]));
    }
    if status == 0 {
        return Err(Error::Conflict(vec![FieldError::new(
            "Idempotency-Key",
            "a request with this key is still in progress; retry later",
        )]));
    }
    let status = StatusCode::from_u16(u16::try_from(status).unwrap_or(500)).unwrap_or(StatusCode::OK);
    let content_type = if status.is_success() { "application/json" } else { "application/problem+json" };
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(response)
}
