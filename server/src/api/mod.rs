//! The HTTP surface: routing, extractors, error mapping and the OpenAPI document. Handlers
//! live with their domain (`tenants::api`, `forms::api`, `records::api`); this module only
//! assembles them.
//!
//! Every route is declared once, as a [`Route`] in a domain's `routes()`. The router, the
//! OpenAPI document and the tenant-isolation test are all built from that one list, so a
//! route cannot exist without documentation or without an isolation check.

pub mod extract;
pub mod idempotency;
pub mod openapi;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::{Json, Router};
use schemars::JsonSchema;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::error::Error;
use crate::store::Db;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    /// Group commit of record creates on SQLite (None on PostgreSQL, where writes run in
    /// parallel).
    pub batcher: Option<crate::records::Batcher>,
    /// The plugin runtime (absent only when it could not start; plugin routes then answer 500).
    pub plugins: Option<crate::plugins::Plugins>,
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone.
    Public,
    /// Any signed-in user.
    User,
    /// A platform administrator.
    PlatformAdmin,
    /// A member (or API key) of the tenant in the path.
    Tenant,
    /// An admin of the tenant in the path.
    TenantAdmin,
}

pub type SchemaFn = fn(&mut schemars::SchemaGenerator) -> schemars::Schema;

/// One route: how it is served and how it is documented.
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub summary: &'static str,
    pub tag: &'static str,
    pub access: Access,
    pub request: Option<SchemaFn>,
    pub response: Option<SchemaFn>,
    pub status: u16,
    pub handler: MethodRouter<AppState>,
    /// Query parameters: (name, description).
    pub query: &'static [(&'static str, &'static str)],
}

impl Route {
    pub fn new(method: Method, path: &'static str, summary: &'static str, handler: MethodRouter<AppState>) -> Route {
        let access = if path.starts_with("/api/v1/t/") { Access::Tenant } else { Access::User };
        Route {
            method,
            path,
            summary,
            tag: "",
            access,
            request: None,
            response: None,
            status: 200,
            handler,
            query: &[],
        }
    }

    pub fn tag(mut self, tag: &'static str) -> Route {
        self.tag = tag;
        self
    }

    pub fn access(mut self, access: Access) -> Route {
        self.access = access;
        self
    }

    pub fn body<T: JsonSchema>(mut self) -> Route {
        self.request = Some(|g| g.subschema_for::<T>());
        self
    }

    pub fn returns<T: JsonSchema>(mut self, status: u16) -> Route {
        self.response = Some(|g| g.subschema_for::<T>());
        self.status = status;
        self
    }

    pub fn status(mut self, status: u16) -> Route {
        self.status = status;
        self
    }

    pub fn query(mut self, params: &'static [(&'static str, &'static str)]) -> Route {
        self.query = params;
        self
    }
}

/// Every route of the API.
pub fn routes() -> Vec<Route> {
    let mut all = Vec::new();
    all.extend(system_routes());
    all.extend(crate::tenants::api::routes());
    all.extend(crate::forms::api::routes());
    all.extend(crate::records::api::routes());
    all.extend(crate::plugins::api::routes());
    all
}

fn system_routes() -> Vec<Route> {
    use axum::routing::get;
    vec![
        Route::new(Method::GET, "/healthz", "Liveness: the process answers", get(healthz))
            .tag("system")
            .access(Access::Public),
        Route::new(Method::GET, "/readyz", "Readiness: the database answers", get(readyz))
            .tag("system")
            .access(Access::Public),
        Route::new(Method::GET, "/api/v1/openapi.json", "This API's OpenAPI 3.1 document", get(openapi::serve))
            .tag("system")
            .access(Access::Public),
    ]
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    match sqlx::query("SELECT 1").execute(state.db.reader()).await {
        Ok(_) => "ready".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

/// The whole application router.
pub fn app(state: AppState) -> Router {
    let mut router: Router<AppState> = Router::new();
    let mut by_path: Vec<(&'static str, MethodRouter<AppState>)> = Vec::new();
    for route in routes() {
        match by_path.iter_mut().find(|(p, _)| *p == route.path) {
            Some((_, existing)) => *existing = std::mem::take(existing).merge(route.handler),
            None => by_path.push((route.path, route.handler)),
        }
    }
    for (path, handler) in by_path {
        router = router.route(path, handler);
    }
    let body_limit = state.config.max_body_bytes;
    router
        .route("/", axum::routing::get(ui_index))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), idempotency::layer))
        .layer(middleware::from_fn(problem_for_rejections))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(60),
        ))
        .layer(CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            tracing::error!("handler panicked");
            Error::Internal(anyhow::anyhow!("handler panicked")).into_response()
        }))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn ui_index() -> axum::response::Html<&'static str> {
    axum::response::Html(ui::LANDING_PAGE)
}

async fn not_found() -> Error {
    Error::NotFound("resource")
}

/// Turns responses that axum itself produced without a problem document (unknown method,
/// body over the size limit, a path or query string it could not parse) into problem+json.
async fn problem_for_rejections(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let is_problem = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    let status = response.status();
    if is_problem || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return Error::TooLarge.into_response();
    }
    let body = axum::body::to_bytes(response.into_body(), 64 << 10).await.unwrap_or_default();
    let detail = String::from_utf8_lossy(&body).trim().to_owned();
    let error = if status.is_server_error() {
        Error::Internal(anyhow::anyhow!("{status}: {detail}"))
    } else {
        Error::BadRequest(if detail.is_empty() { status.to_string() } else { detail })
    };
    let mut r = error.into_response();
    *r.status_mut() = status;
    r
}

/// Parses an id from the path; anything that is not one names nothing, so it is a 404.
pub fn parse_id(raw: &str, what: &'static str) -> Result<i64, Error> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or(Error::NotFound(what))
}

/// A JSON response with a status.
pub fn created<T: serde::Serialize>(value: T) -> (StatusCode, Json<T>) {
    (StatusCode::CREATED, Json(value))
}
