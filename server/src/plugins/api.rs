//! HTTP handlers: the registry (platform operators publish, everyone signed in reads) and
//! tenants' installs (tenant admins), and `invoke` to try an installed plugin.

use axum::Json;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{Method, StatusCode};
use axum::routing::{get, patch, post};
use serde::Deserialize;
use serde_json::Value;

use super::Plugins;
use super::registry::{self, AuditEntry, InstallPatch, InstallRequest, InstallView, PluginEntry, Published};
use crate::api::extract::{AdminCtx, AppJson, Authed, PlatformAdmin};
use crate::api::{Access, AppState, Route, created};
use crate::error::{Error, Result};

pub fn routes() -> Vec<Route> {
    vec![
        Route::new(
            Method::POST,
            "/api/v1/plugins",
            "Publish a plugin version: multipart/form-data with parts `manifest` (tessera-plugin.toml) and `component` (the .wasm) (platform admins)",
            post(publish).layer(DefaultBodyLimit::max(16 << 20)),
        )
        .tag("plugins")
        .access(Access::PlatformAdmin)
        .returns::<Published>(201),
        Route::new(Method::GET, "/api/v1/plugins", "Published plugins with their versions", get(list))
            .tag("plugins")
            .returns::<Vec<PluginEntry>>(200),
        Route::new(Method::GET, "/api/v1/plugins/{plugin}", "One published plugin with its versions", get(show))
            .tag("plugins")
            .returns::<PluginEntry>(200),
        Route::new(
            Method::PATCH,
            "/api/v1/plugins/{plugin}/versions/{version}",
            "Yank a version (no new installs or upgrades to it; tenants using it keep it), or restore it (platform admins)",
            patch(yank),
        )
        .tag("plugins")
        .access(Access::PlatformAdmin)
        .body::<YankRequest>()
        .returns::<Published>(200),
        Route::new(Method::GET, "/api/v1/t/{tenant}/plugins", "Plugins installed in the tenant (admins)", get(list_installs))
            .tag("plugins")
            .access(Access::TenantAdmin)
            .returns::<Vec<InstallView>>(200),
        Route::new(
            Method::POST,
            "/api/v1/t/{tenant}/plugins",
            "Install a published plugin version with its configuration and granted capabilities (admins)",
            post(install),
        )
        .tag("plugins")
        .access(Access::TenantAdmin)
        .body::<InstallRequest>()
        .returns::<InstallView>(201),
        Route::new(Method::GET, "/api/v1/t/{tenant}/plugins/{plugin}", "One install with its metrics (admins)", get(get_install))
            .tag("plugins")
            .access(Access::TenantAdmin)
            .returns::<InstallView>(200),
        Route::new(
            Method::PATCH,
            "/api/v1/t/{tenant}/plugins/{plugin}",
            "Upgrade, downgrade or reconfigure an install (admins)",
            patch(change),
        )
        .tag("plugins")
        .access(Access::TenantAdmin)
        .body::<InstallPatch>()
        .returns::<InstallView>(200),
        Route::new(
            Method::DELETE,
            "/api/v1/t/{tenant}/plugins/{plugin}",
            "Uninstall a plugin no form uses (admins)",
            axum::routing::delete(uninstall),
        )
        .tag("plugins")
        .access(Access::TenantAdmin)
        .status(204),
        Route::new(
            Method::POST,
            "/api/v1/t/{tenant}/plugins/{plugin}/rollback",
            "Return an install to its state before the last change (admins)",
            post(rollback),
        )
        .tag("plugins")
        .access(Access::TenantAdmin)
        .returns::<InstallView>(200),
        Route::new(
            Method::GET,
            "/api/v1/t/{tenant}/plugins/{plugin}/audit",
            "Every install, upgrade, change, rollback and uninstall of a plugin in the tenant (admins)",
            get(audit),
        )
        .tag("plugins")
        .access(Access::TenantAdmin)
        .returns::<Vec<AuditEntry>>(200),
        Route::new(
            Method::POST,
            "/api/v1/t/{tenant}/plugins/{plugin}/invoke",
            "Run an installed plugin on a sample input: validator {config, value, record}, action {config, event}, widget {config, dataset} (admins)",
            post(invoke),
        )
        .tag("plugins")
        .access(Access::TenantAdmin)
        .body::<InvokeRequest>()
        .returns::<Value>(200),
    ]
}

fn runtime(state: &AppState) -> Result<&Plugins> {
    state.plugins.as_ref().ok_or_else(|| Error::Internal(anyhow::anyhow!("the plugin runtime is not running")))
}

async fn publish(
    State(state): State<AppState>,
    PlatformAdmin(user): PlatformAdmin,
    mut form: Multipart,
) -> Result<(StatusCode, Json<Published>)> {
    let plugins = runtime(&state)?;
    let (mut manifest, mut component) = (None, None);
    while let Some(part) =
        form.next_field().await.map_err(|e| Error::BadRequest(format!("reading the multipart body: {e}")))?
    {
        let name = part.name().unwrap_or_default().to_owned();
        let bytes = part.bytes().await.map_err(|e| Error::BadRequest(format!("reading part `{name}`: {e}")))?;
        match name.as_str() {
            "manifest" => {
                manifest = Some(
                    String::from_utf8(bytes.to_vec()).map_err(|_| Error::invalid("manifest", "is not UTF-8 text"))?,
                )
            }
            "component" => component = Some(bytes.to_vec()),
            other => return Err(Error::invalid(other, "unknown part; send `manifest` and `component`")),
        }
    }
    let mut missing = Vec::new();
    if manifest.is_none() {
        missing.push(crate::error::FieldError::new("manifest", "is required (the tessera-plugin.toml)"));
    }
    if component.is_none() {
        missing.push(crate::error::FieldError::new("component", "is required (the .wasm component)"));
    }
    let (Some(manifest), Some(component)) = (manifest, component) else {
        return Err(Error::Invalid(missing));
    };
    Ok(created(registry::publish(&state.db, plugins, user.0, &manifest, component).await?))
}

async fn list(State(state): State<AppState>, _: Authed) -> Result<Json<Vec<PluginEntry>>> {
    Ok(Json(registry::list(&state.db).await?))
}

async fn show(State(state): State<AppState>, _: Authed, Path(plugin): Path<String>) -> Result<Json<PluginEntry>> {
    Ok(Json(registry::show(&state.db, &plugin).await?))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct YankRequest {
    pub yanked: bool,
}

async fn yank(
    State(state): State<AppState>,
    _: PlatformAdmin,
    Path((plugin, version)): Path<(String, String)>,
    AppJson(req): AppJson<YankRequest>,
) -> Result<Json<Published>> {
    Ok(Json(registry::set_yanked(&state.db, &plugin, &version, req.yanked).await?))
}

async fn list_installs(State(state): State<AppState>, AdminCtx(ctx): AdminCtx) -> Result<Json<Vec<InstallView>>> {
    Ok(Json(registry::list_installs(runtime(&state)?, &ctx.db).await?))
}

async fn install(
    State(state): State<AppState>,
    AdminCtx(ctx): AdminCtx,
    AppJson(req): AppJson<InstallRequest>,
) -> Result<(StatusCode, Json<InstallView>)> {
    Ok(created(registry::install(runtime(&state)?, &ctx.db, &ctx.actor, req).await?))
}

async fn get_install(
    State(state): State<AppState>,
    AdminCtx(ctx): AdminCtx,
    Path((_, plugin)): Path<(String, String)>,
) -> Result<Json<InstallView>> {
    Ok(Json(registry::get_install(runtime(&state)?, &ctx.db, &plugin).await?))
}

async fn change(
    State(state): State<AppState>,
    AdminCtx(ctx): AdminCtx,
    Path((_, plugin)): Path<(String, String)>,
    AppJson(req): AppJson<InstallPatch>,
) -> Result<Json<InstallView>> {
    Ok(Json(registry::change(runtime(&state)?, &ctx.db, &ctx.actor, &plugin, req).await?))
}

async fn uninstall(
    State(state): State<AppState>,
    AdminCtx(ctx): AdminCtx,
    Path((_, plugin)): Path<(String, String)>,
) -> Result<StatusCode> {
    registry::uninstall(runtime(&state)?, &ctx.db, &ctx.actor, &plugin).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn rollback(
    State(state): State<AppState>,
    AdminCtx(ctx): AdminCtx,
    Path((_, plugin)): Path<(String, String)>,
) -> Result<Json<InstallView>> {
    Ok(Json(registry::rollback(runtime(&state)?, &ctx.db, &ctx.actor, &plugin).await?))
}

async fn audit(AdminCtx(ctx): AdminCtx, Path((_, plugin)): Path<(String, String)>) -> Result<Json<Vec<AuditEntry>>> {
    Ok(Json(registry::audit_log(&ctx.db, &plugin).await?))
}

/// A sample input for `invoke`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InvokeRequest {
    /// Validator: `{config?, value, record?}`; action: `{config?, event: {kind, record?, payload?}}`;
    /// widget: `{config?, dataset: {columns, rows}}`. `config` goes over the install's.
    pub input: Value,
}

async fn invoke(
    State(state): State<AppState>,
    AdminCtx(ctx): AdminCtx,
    Path((_, plugin)): Path<(String, String)>,
    AppJson(req): AppJson<InvokeRequest>,
) -> Result<Json<Value>> {
    Ok(Json(runtime(&state)?.invoke(&ctx.db, &ctx.actor, &plugin, req.input).await?))
}
