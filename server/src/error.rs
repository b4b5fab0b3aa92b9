//! The error every domain returns, and its one rendering as RFC 9457 problem+json.
//!
//! Domains speak in these variants; only [`Error::into_response`] knows HTTP. A 5xx body
//! never carries the underlying error text: it is logged inside the request's span instead.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::store::DbError;

/// One problem with one field of the input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct FieldError {
    /// The field's path in the input, e.g. `data.amount` or `fields[2].key`.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError { field: field.into(), message: message.into() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("authentication required")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The input is well-formed but breaks one or more rules (422).
    #[error("validation failed")]
    Invalid(Vec<FieldError>),
    /// The input cannot be read at all (400).
    #[error("{0}")]
    BadRequest(String),
    /// A uniqueness rule (409).
    #[error("conflict")]
    Conflict(Vec<FieldError>),
    /// `If-Match` named a version that is no longer current (412).
    #[error("record was changed: current version is {current}")]
    VersionConflict { current: i64 },
    #[error("request body too large")]
    TooLarge,
    #[error("too many attempts")]
    RateLimited { retry_after_secs: u64 },
    /// A plugin answered with its own error (422), or failed: `timeout` (504), `busy` (503),
    /// `crashed`, `out-of-memory`, `bad-output`, `invalid-component` (502).
    #[error("plugin `{plugin}`: {message}")]
    Plugin { plugin: String, code: String, message: String },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Internal(anyhow::Error::new(e))
    }
}

impl From<DbError> for Error {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unique(c) => Error::Conflict(vec![FieldError::new(
                "",
                format!("already exists{}", c.map(|c| format!(" ({c})")).unwrap_or_default()),
            )]),
            DbError::Other(e) => e.into(),
        }
    }
}

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Invalid(vec![FieldError::new(field, message)])
    }

    pub fn status_code(&self) -> StatusCode {
        match self {
            Error::Unauthenticated => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::VersionConflict { .. } => StatusCode::PRECONDITION_FAILED,
            Error::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Plugin { code, .. } => match code.as_str() {
                "timeout" => StatusCode::GATEWAY_TIMEOUT,
                "busy" => StatusCode::SERVICE_UNAVAILABLE,
                "crashed" | "out-of-memory" | "bad-output" | "invalid-component" => StatusCode::BAD_GATEWAY,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            },
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable `type` of the problem document.
    fn kind(&self) -> &'static str {
        match self {
            Error::Unauthenticated => "unauthenticated",
            Error::Forbidden(_) => "forbidden",
            Error::NotFound(_) => "not-found",
            Error::Invalid(_) => "validation",
            Error::BadRequest(_) => "bad-request",
            Error::Conflict(_) => "conflict",
            Error::VersionConflict { .. } => "version-conflict",
            Error::TooLarge => "too-large",
            Error::RateLimited { .. } => "rate-limited",
            Error::Plugin { .. } => "plugin",
            Error::Internal(_) => "internal",
        }
    }

    fn detail(&self) -> String {
        match self {
            Error::Invalid(errors) | Error::Conflict(errors) => {
                let fields: Vec<String> = errors
                    .iter()
                    .map(|e| if e.field.is_empty() { e.message.clone() } else { format!("{}: {}", e.field, e.message) })
                    .collect();
                fields.join("; ")
            }
            Error::Internal(_) => "internal error; it has been logged".into(),
            other => other.to_string(),
        }
    }
}

/// The problem+json body (RFC 9457).
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<i64>,
    /// For plugin problems: the plugin's id and the error's code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status_code();
        if let Error::Internal(e) = &self {
            tracing::error!(error = ?e, "internal error");
        }
        let problem = Problem {
            kind: format!("https://tessera.dev/problems/{}", self.kind()),
            title: status.canonical_reason().unwrap_or("error").to_owned(),
            status: status.as_u16(),
            detail: self.detail(),
            errors: match &self {
                Error::Invalid(e) | Error::Conflict(e) => e.clone(),
                _ => Vec::new(),
            },
            current_version: match &self {
                Error::VersionConflict { current } => Some(*current),
                _ => None,
            },
            plugin: match &self {
                Error::Plugin { plugin, .. } => Some(plugin.clone()),
                _ => None,
            },
            code: match &self {
                Error::Plugin { code, .. } => Some(code.clone()),
                _ => None,
            },
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Error::RateLimited { retry_after_secs } = self
            && let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string())
        {
            headers.insert(header::RETRY_AFTER, v);
        }
        if let Error::VersionConflict { current } = self
            && let Ok(v) = HeaderValue::from_str(&format!("\"{current}\""))
        {
            headers.insert(header::ETAG, v);
        }
        response
    }
}
