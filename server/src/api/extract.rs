//! Extractors: our JSON body reader (so that rejections share the problem shape), the
//! caller's credential, and the tenant context every tenant-scoped handler takes.

use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::header;
use axum::http::request::Parts;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::AppState;
use crate::error::{Error, FieldError};
use crate::store::Scoped;
use crate::tenants::auth::{self, Credential};
use crate::tenants::{self, Actor, Tenant};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "tessera_session";

/// A JSON body. Malformed JSON or text that is not UTF-8 is a 400; well-formed JSON of the
/// wrong shape (a wrong type, an unknown or missing field) is a 422 naming the field.
pub struct AppJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AppJson<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
            let mime = v.split(';').next().unwrap_or("").trim();
            mime == "application/json" || mime.ends_with("+json")
        });
        if !is_json {
            return Err(Error::BadRequest("expected a JSON body with Content-Type: application/json".into()));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                Error::TooLarge
            } else {
                Error::BadRequest(rejection.body_text())
            }
        })?;
        parse_json(&bytes).map(AppJson)
    }
}

/// Parses a JSON body with the rules of [`AppJson`].
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let text = std::str::from_utf8(bytes).map_err(|e| Error::BadRequest(format!("body is not valid UTF-8: {e}")))?;
    // Most bodies are fine: parse them at full speed, and parse again tracking the path only
    // to explain an error.
    if let Ok(value) = serde_json::from_str(text) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let message = strip_position(&inner.to_string());
                let mut field = if path == "." { String::new() } else { path };
                // serde names an unknown field only in its message; point at it.
                if let Some(name) = message.strip_prefix("unknown field `").and_then(|m| m.split('`').next()) {
                    if field.is_empty() {
                        field = name.to_owned();
                    } else if !field.ends_with(name) {
                        field = format!("{field}.{name}");
                    }
                }
                Error::Invalid(vec![FieldError::new(field, message)])
            }
            _ => Error::BadRequest(format!("malformed JSON: {inner}")),
        }
    })?;
    de.end().map_err(|e| Error::BadRequest(format!("malformed JSON: {e}")))?;
    Ok(value)
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// The bearer token or session cookie of a request, if any.
pub fn token_of(headers: &axum::http::HeaderMap) -> Option<String> {
    if let Some(v) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())
        && let Some(t) = v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer "))
    {
        return Some(t.trim().to_owned());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// A signed-in caller (session or API key).
pub struct Authed(pub Credential);

impl FromRequestParts<AppState> for Authed {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(c) = parts.extensions.get::<Credential>() {
            return Ok(Authed(c.clone()));
        }
        let token = token_of(&parts.headers).ok_or(Error::Unauthenticated)?;
        let credential = auth::authenticate(&state.db, &token, state.config.session_policy()).await?;
        parts.extensions.insert(credential.clone());
        Ok(Authed(credential))
    }
}

/// A platform administrator (signed in with a session, not an API key).
pub struct PlatformAdmin(pub tenants::UserId);

impl FromRequestParts<AppState> for PlatformAdmin {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Authed(c) = Authed::from_request_parts(parts, state).await?;
        match c {
            Credential::Session { user_id, is_platform_admin: true } => Ok(PlatformAdmin(user_id)),
            _ => Err(Error::Forbidden("platform administrator required".into())),
        }
    }
}

/// The tenant named in the path, the acting member, and the tenant-scoped database handle.
/// A caller who is not a member of that tenant gets 404, as if it did not exist.
pub struct TenantCtx {
    pub tenant: Tenant,
    pub actor: Actor,
    pub db: Scoped,
}

impl FromRequestParts<AppState> for TenantCtx {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let params = RawPathParams::from_request_parts(parts, state).await.map_err(|_| Error::NotFound("tenant"))?;
        let slug = params
            .iter()
            .find(|(name, _)| *name == "tenant")
            .map(|(_, v)| v.to_owned())
            .ok_or(Error::NotFound("tenant"))?;
        let token = token_of(&parts.headers).ok_or(Error::Unauthenticated)?;
        let (credential, place) =
            auth::authenticate_in(&state.db, &token, Some(&slug), state.config.session_policy()).await?;
        parts.extensions.insert(credential);
        let (tenant, actor) = place.ok_or(Error::NotFound("tenant"))?;
        let db = state.db.scoped(tenants::TenantId(tenant.id)).with_plugins(state.plugins.clone());
        Ok(TenantCtx { tenant, actor, db })
    }
}

/// A [`TenantCtx`] whose actor is an admin of the tenant; others get 403 before the body
/// is even read.
pub struct AdminCtx(pub TenantCtx);

impl FromRequestParts<AppState> for AdminCtx {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ctx = TenantCtx::from_request_parts(parts, state).await?;
        ctx.actor.require_admin()?;
        Ok(AdminCtx(ctx))
    }
}
