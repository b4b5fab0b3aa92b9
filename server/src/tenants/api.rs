//! HTTP handlers of the tenants domain: login, tenants, members, org chart, roles, API keys.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use serde::{Deserialize, Serialize};

use super::auth::{self, Credential};
use super::{ApiKey, Department, Me, Member, Permissions, Role, Tenant};
use crate::api::extract::{AdminCtx, AppJson, Authed, PlatformAdmin, SESSION_COOKIE, TenantCtx, token_of};
use crate::api::{Access, AppState, Route, created, parse_id};
use crate::error::{Error, Result};

pub fn routes() -> Vec<Route> {
    vec![
        Route::new(
            Method::POST,
            "/api/v1/auth/login",
            "Sign in; returns a session token and sets the session cookie",
            post(login),
        )
        .tag("auth")
        .access(Access::Public)
        .body::<LoginRequest>()
        .returns::<LoginResponse>(200),
        Route::new(Method::POST, "/api/v1/auth/logout", "End the current session", post(logout))
            .tag("auth")
            .status(204),
        Route::new(Method::GET, "/api/v1/auth/me", "The signed-in user and their tenants", get(me))
            .tag("auth")
            .returns::<Me>(200),
        Route::new(
            Method::POST,
            "/api/v1/tenants",
            "Create a tenant with its first admin (platform admins)",
            post(create_tenant),
        )
        .tag("tenants")
        .access(Access::PlatformAdmin)
        .body::<CreateTenant>()
        .returns::<Tenant>(201),
        Route::new(Method::GET, "/api/v1/tenants", "List tenants (platform admins)", get(list_tenants))
            .tag("tenants")
            .access(Access::PlatformAdmin)
            .returns::<Vec<Tenant>>(200),
        Route::new(Method::GET, "/api/v1/t/{tenant}", "The tenant and the caller's role in it", get(get_tenant))
            .tag("tenants")
            .returns::<TenantView>(200),
        Route::new(Method::GET, "/api/v1/t/{tenant}/users", "Members of the tenant", get(list_members))
            .tag("users")
            .returns::<Vec<Member>>(200),
        Route::new(Method::POST, "/api/v1/t/{tenant}/users", "Add a user to the tenant (admins)", post(add_member))
            .tag("users")
            .access(Access::TenantAdmin)
            .body::<AddMember>()
            .returns::<Member>(201),
        Route::new(Method::GET, "/api/v1/t/{tenant}/users/{user}", "One member", get(get_member))
            .tag("users")
            .returns::<Member>(200),
        Route::new(
            Method::PATCH,
            "/api/v1/t/{tenant}/users/{user}",
            "Change a member's role, department or manager (admins)",
            patch(update_member),
        )
        .tag("users")
        .access(Access::TenantAdmin)
        .body::<UpdateMember>()
        .returns::<Member>(200),
        Route::new(Method::GET, "/api/v1/t/{tenant}/departments", "The org chart's departments", get(list_departments))
            .tag("users")
            .returns::<Vec<Department>>(200),
        Route::new(
            Method::POST,
            "/api/v1/t/{tenant}/departments",
            "Create a department (admins)",
            post(create_department),
        )
        .tag("users")
        .access(Access::TenantAdmin)
        .body::<CreateDepartment>()
        .returns::<Department>(201),
        Route::new(Method::GET, "/api/v1/t/{tenant}/roles", "Roles and their permissions", get(list_roles))
            .tag("users")
            .returns::<Vec<Role>>(200),
        Route::new(Method::POST, "/api/v1/t/{tenant}/roles", "Create a role (admins)", post(create_role))
            .tag("users")
            .access(Access::TenantAdmin)
            .body::<CreateRole>()
            .returns::<Role>(201),
        Route::new(
            Method::PATCH,
            "/api/v1/t/{tenant}/roles/{role}",
            "Change a role's permissions (admins)",
            patch(update_role),
        )
        .tag("users")
        .access(Access::TenantAdmin)
        .body::<UpdateRole>()
        .returns::<Role>(200),
        Route::new(Method::GET, "/api/v1/t/{tenant}/api-keys", "API keys (admins)", get(list_api_keys))
            .tag("users")
            .access(Access::TenantAdmin)
            .returns::<Vec<ApiKey>>(200),
        Route::new(
            Method::POST,
            "/api/v1/t/{tenant}/api-keys",
            "Create an API key; the key is shown only in this answer (admins)",
            post(create_api_key),
        )
        .tag("users")
        .access(Access::TenantAdmin)
        .body::<CreateApiKey>()
        .returns::<CreatedApiKey>(201),
        Route::new(
            Method::DELETE,
            "/api/v1/t/{tenant}/api-keys/{key}",
            "Revoke an API key (admins)",
            delete(revoke_api_key),
        )
        .tag("users")
        .access(Access::TenantAdmin)
        .status(204),
    ]
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    pub expires_at: String,
    pub user: Me,
}

async fn login(State(state): State<AppState>, AppJson(req): AppJson<LoginRequest>) -> Result<Response> {
    let login = auth::login(&state.db, &req.email, &req.password, state.config.session_policy()).await?;
    let user = super::me(&state.db, login.user_id).await?;
    let cookie = format!(
        "{SESSION_COOKIE}={}; HttpOnly; SameSite=Lax; Path=/; Max-Age={}",
        login.token,
        state.config.session_max_hours * 3600
    );
    let mut response = Json(LoginResponse { token: login.token, expires_at: login.expires_at, user }).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(response)
}

async fn logout(State(state): State<AppState>, Authed(c): Authed, headers: axum::http::HeaderMap) -> Result<Response> {
    if let (Credential::Session { .. }, Some(token)) = (&c, token_of(&headers)) {
        auth::logout(&state.db, &token).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("tessera_session=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0"),
    );
    Ok(response)
}

async fn me(State(state): State<AppState>, Authed(c): Authed) -> Result<Json<Me>> {
    let user = match c {
        Credential::Session { user_id, .. } | Credential::ApiKey { user_id, .. } => user_id,
    };
    Ok(Json(super::me(&state.db, user).await?))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    pub slug: String,
    pub name: String,
    pub admin: NewAdmin,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAdmin {
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub name: Option<String>,
}

async fn create_tenant(
    State(state): State<AppState>,
    _admin: PlatformAdmin,
    AppJson(req): AppJson<CreateTenant>,
) -> Result<(StatusCode, Json<Tenant>)> {
    let new = super::NewTenant {
        slug: &req.slug,
        name: &req.name,
        admin_email: &req.admin.email,
        admin_password: &req.admin.password,
        admin_name: req.admin.name.as_deref(),
    };
    let (tenant, _) = super::create_tenant(&state.db, new, false).await?;
    Ok(created(tenant))
}

async fn list_tenants(State(state): State<AppState>, _admin: PlatformAdmin) -> Result<Json<Vec<Tenant>>> {
    Ok(Json(super::list_tenants(&state.db).await?))
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct TenantView {
    #[serde(flatten)]
    pub tenant: Tenant,
    pub role: String,
    pub is_admin: bool,
}

async fn get_tenant(ctx: TenantCtx) -> Json<TenantView> {
    Json(TenantView { role: ctx.actor.role.name.clone(), is_admin: ctx.actor.is_admin(), tenant: ctx.tenant })
}

async fn list_members(ctx: TenantCtx) -> Result<Json<Vec<Member>>> {
    Ok(Json(super::list_members(&ctx.db).await?))
}

async fn get_member(ctx: TenantCtx, Path((_, user)): Path<(String, String)>) -> Result<Json<Member>> {
    Ok(Json(super::get_member(&ctx.db, parse_id(&user, "user")?).await?))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    pub email: String,
    #[serde(default)]
    pub name: Option<String>,
    /// Required when the e-mail is new to the platform.
    #[serde(default)]
    pub password: Option<String>,
    /// Role name; default `member`.
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub department_id: Option<i64>,
    #[serde(default)]
    pub manager_id: Option<i64>,
}

async fn add_member(AdminCtx(ctx): AdminCtx, AppJson(req): AppJson<AddMember>) -> Result<(StatusCode, Json<Member>)> {
    let m = super::add_member(
        &ctx.db,
        super::NewMember {
            email: req.email,
            name: req.name,
            password: req.password,
            role: req.role.unwrap_or_else(|| "member".into()),
            department_id: req.department_id,
            manager_id: req.manager_id,
        },
    )
    .await?;
    Ok(created(m))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMember {
    #[serde(default)]
    pub role: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "double_option::deserialize")]
    #[schemars(with = "Option<i64>")]
    pub department_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option::deserialize")]
    #[schemars(with = "Option<i64>")]
    pub manager_id: Option<Option<i64>>,
}

/// Tells a missing field (`None`) from an explicit `null` (`Some(None)`).
pub mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

async fn update_member(
    AdminCtx(ctx): AdminCtx,
    Path((_, user)): Path<(String, String)>,
    AppJson(req): AppJson<UpdateMember>,
) -> Result<Json<Member>> {
    let user = parse_id(&user, "user")?;
    Ok(Json(super::update_member(&ctx.db, user, req.role, req.department_id, req.manager_id).await?))
}

async fn list_departments(ctx: TenantCtx) -> Result<Json<Vec<Department>>> {
    Ok(Json(super::list_departments(&ctx.db).await?))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDepartment {
    pub name: String,
    #[serde(default)]
    pub parent_id: Option<i64>,
    #[serde(default)]
    pub head_user_id: Option<i64>,
}

async fn create_department(
    AdminCtx(ctx): AdminCtx,
    AppJson(req): AppJson<CreateDepartment>,
) -> Result<(StatusCode, Json<Department>)> {
    Ok(created(super::create_department(&ctx.db, &req.name, req.parent_id, req.head_user_id).await?))
}

async fn list_roles(ctx: TenantCtx) -> Result<Json<Vec<Role>>> {
    Ok(Json(super::list_roles(&ctx.db).await?))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRole {
    pub name: String,
    #[serde(default)]
    pub is_admin: bool,
    pub permissions: Permissions,
}

async fn create_role(AdminCtx(ctx): AdminCtx, AppJson(req): AppJson<CreateRole>) -> Result<(StatusCode, Json<Role>)> {
    Ok(created(super::create_role(&ctx.db, &req.name, req.is_admin, &req.permissions).await?))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRole {
    pub permissions: Permissions,
}

async fn update_role(
    AdminCtx(ctx): AdminCtx,
    Path((_, role)): Path<(String, String)>,
    AppJson(req): AppJson<UpdateRole>,
) -> Result<Json<Role>> {
    Ok(Json(super::update_role(&ctx.db, parse_id(&role, "role")?, &req.permissions).await?))
}

async fn list_api_keys(AdminCtx(ctx): AdminCtx) -> Result<Json<Vec<ApiKey>>> {
    Ok(Json(super::list_api_keys(&ctx.db).await?))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    pub name: String,
    /// Role name; default `member`.
    #[serde(default)]
    pub role: Option<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key: ApiKey,
    /// The key itself; it is not stored and cannot be shown again.
    pub secret: String,
}

async fn create_api_key(
    AdminCtx(ctx): AdminCtx,
    AppJson(req): AppJson<CreateApiKey>,
) -> Result<(StatusCode, Json<CreatedApiKey>)> {
    if ctx.actor.api_key_id.is_some() {
        return Err(Error::Forbidden("API keys cannot create API keys".into()));
    }
    let role = req.role.unwrap_or_else(|| "member".into());
    let (key, secret) = super::create_api_key(&ctx.db, &req.name, &role, ctx.actor.user_id).await?;
    Ok(created(CreatedApiKey { key, secret }))
}

async fn revoke_api_key(AdminCtx(ctx): AdminCtx, Path((_, key)): Path<(String, String)>) -> Result<StatusCode> {
    super::revoke_api_key(&ctx.db, parse_id(&key, "API key")?).await?;
    Ok(StatusCode::NO_CONTENT)
}
