//! HTTP handlers for apps and forms.

use axum::Json;
use axum::extract::Path;
use axum::http::{Method, StatusCode};
use axum::routing::{delete, get, patch, post};
use serde::Deserialize;

use super::{App, Field, Form, FormPatch, Label, NewForm};
use crate::api::extract::{AdminCtx, AppJson, TenantCtx};
use crate::api::{Access, Route, created};
use crate::error::Result;

pub fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::GET, "/api/v1/t/{tenant}/apps", "Apps of the tenant", get(list_apps))
            .tag("forms")
            .returns::<Vec<App>>(200),
        Route::new(Method::POST, "/api/v1/t/{tenant}/apps", "Create an app (admins)", post(create_app))
            .tag("forms")
            .access(Access::TenantAdmin)
            .body::<CreateApp>()
            .returns::<App>(201),
        Route::new(Method::GET, "/api/v1/t/{tenant}/apps/{app}", "One app", get(get_app)).tag("forms").returns::<App>(200),
        Route::new(Method::PATCH, "/api/v1/t/{tenant}/apps/{app}", "Rename or describe an app (admins)", patch(update_app))
            .tag("forms")
            .access(Access::TenantAdmin)
            .body::<UpdateApp>()
            .returns::<App>(200),
        Route::new(Method::DELETE, "/api/v1/t/{tenant}/apps/{app}", "Delete an app that holds no forms (admins)", delete(delete_app))
            .tag("forms")
            .access(Access::TenantAdmin)
            .status(204),
        Route::new(Method::GET, "/api/v1/t/{tenant}/forms", "Forms of the tenant", get(list_forms))
            .tag("forms")
            .returns::<Vec<Form>>(200),
        Route::new(Method::POST, "/api/v1/t/{tenant}/forms", "Create a form (admins)", post(create_form))
            .tag("forms")
            .access(Access::TenantAdmin)
            .body::<CreateForm>()
            .returns::<Form>(201),
        Route::new(Method::GET, "/api/v1/t/{tenant}/forms/{form}", "One form, by key or id", get(get_form))
            .tag("forms")
            .returns::<Form>(200),
        Route::new(
            Method::PATCH,
            "/api/v1/t/{tenant}/forms/{form}",
            "Change a form: name, and the complete field list (fields left out are retired, `rename_from` renames) (admins)",
            patch(update_form),
        )
        .tag("forms")
        .access(Access::TenantAdmin)
        .body::<UpdateForm>()
        .returns::<Form>(200),
        Route::new(Method::DELETE, "/api/v1/t/{tenant}/forms/{form}", "Delete a form; its records are kept (admins)", delete(delete_form))
            .tag("forms")
            .access(Access::TenantAdmin)
            .status(204),
    ]
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApp {
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
}

async fn list_apps(ctx: TenantCtx) -> Result<Json<Vec<App>>> {
    Ok(Json(super::list_apps(&ctx.db).await?))
}

async fn create_app(AdminCtx(ctx): AdminCtx, AppJson(req): AppJson<CreateApp>) -> Result<(StatusCode, Json<App>)> {
    Ok(created(super::create_app(&ctx.db, &req.key, &req.name, &req.description).await?))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateForm {
    pub key: String,
    pub name: Label,
    /// Key of an app to file the form under.
    #[serde(default)]
    pub app: Option<String>,
    pub fields: Vec<Field>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateForm {
    #[serde(default)]
    pub name: Option<Label>,
    #[serde(default)]
    pub fields: Option<Vec<Field>>,
}

async fn list_forms(ctx: TenantCtx) -> Result<Json<Vec<Form>>> {
    Ok(Json(super::list_forms(&ctx.db).await?))
}

async fn create_form(AdminCtx(ctx): AdminCtx, AppJson(req): AppJson<CreateForm>) -> Result<(StatusCode, Json<Form>)> {
    let form =
        super::create_form(&ctx.db, NewForm { key: req.key, name: req.name, app: req.app, fields: req.fields }).await?;
    Ok(created(form))
}

async fn get_form(ctx: TenantCtx, Path((_, form)): Path<(String, String)>) -> Result<Json<Form>> {
    Ok(Json(super::get_form(&ctx.db, &form).await?))
}

async fn update_form(
    AdminCtx(ctx): AdminCtx,
    Path((_, form)): Path<(String, String)>,
    AppJson(req): AppJson<UpdateForm>,
) -> Result<Json<Form>> {
    Ok(Json(super::update_form(&ctx.db, &form, FormPatch { name: req.name, fields: req.fields }).await?))
}

async fn delete_form(AdminCtx(ctx): AdminCtx, Path((_, form)): Path<(String, String)>) -> Result<StatusCode> {
    super::delete_form(&ctx.db, &form).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateApp {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

async fn get_app(ctx: TenantCtx, Path((_, app)): Path<(String, String)>) -> Result<Json<App>> {
    Ok(Json(super::get_app(&ctx.db, &app).await?))
}

async fn update_app(
    AdminCtx(ctx): AdminCtx,
    Path((_, app)): Path<(String, String)>,
    AppJson(req): AppJson<UpdateApp>,
) -> Result<Json<App>> {
    Ok(Json(super::update_app(&ctx.db, &app, req.name.as_deref(), req.description.as_deref()).await?))
}

async fn delete_app(AdminCtx(ctx): AdminCtx, Path((_, app)): Path<(String, String)>) -> Result<StatusCode> {
    super::delete_app(&ctx.db, &app).await?;
    Ok(StatusCode::NO_CONTENT)
}
