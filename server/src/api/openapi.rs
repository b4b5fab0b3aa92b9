//! The OpenAPI 3.1 document, generated from the route table and the request and response
//! types (their JSON Schemas come from `schemars`), so it cannot drift from the code.

use std::sync::OnceLock;

use axum::Json;
use serde_json::{Map, Value, json};

use super::{Access, routes};

/// The document (built once per process).
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(build)
}

pub async fn serve() -> Json<Value> {
    Json(document().clone())
}

fn build() -> Value {
    let mut generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| s.definitions_path = "/components/schemas".into())
        .into_generator();
    let problem = generator.subschema_for::<crate::error::Problem>();
    let mut paths: Map<String, Value> = Map::new();
    for route in routes() {
        let mut op = Map::new();
        op.insert("summary".into(), json!(route.summary));
        if !route.tag.is_empty() {
            op.insert("tags".into(), json!([route.tag]));
        }
        op.insert("operationId".into(), json!(operation_id(&route.method, route.path)));
        let mut parameters: Vec<Value> = path_params(route.path)
            .into_iter()
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        for (name, description) in route.query {
            parameters.push(json!({"name": name, "in": "query", "required": false, "description": description, "schema": {"type": "string"}}));
        }
        if route.method == axum::http::Method::POST && route.path.starts_with("/api/v1/t/") {
            parameters.push(json!({"name": "Idempotency-Key", "in": "header", "required": false,
                "description": "Retrying with the same key returns the first answer instead of repeating the work",
                "schema": {"type": "string", "maxLength": 255}}));
        }
        if !parameters.is_empty() {
            op.insert("parameters".into(), Value::Array(parameters));
        }
        if let Some(request) = route.request {
            let schema = request(&mut generator);
            op.insert(
                "requestBody".into(),
                json!({"required": true, "content": {"application/json": {"schema": schema}}}),
            );
        }
        let mut responses = Map::new();
        let ok = match route.response {
            Some(response) => {
                json!({"description": "success", "content": {"application/json": {"schema": response(&mut generator)}}})
            }
            None => json!({"description": "success"}),
        };
        responses.insert(route.status.to_string(), ok);
        let problem_response =
            json!({"description": "problem", "content": {"application/problem+json": {"schema": problem}}});
        responses.insert("default".into(), problem_response);
        op.insert("responses".into(), Value::Object(responses));
        if route.access != Access::Public {
            op.insert("security".into(), json!([{"bearer": []}, {"cookie": []}]));
        }
        let entry = paths.entry(route.path.to_owned()).or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = entry {
            m.insert(route.method.as_str().to_lowercase(), Value::Object(op));
        }
    }
    let schemas = generator.take_definitions(true);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Tessera API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Tessera: forms, records, flows, reports and plugins for your business. Errors are application/problem+json (RFC 9457)."
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "A session token from POST /api/v1/auth/login, or an API key"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": super::extract::SESSION_COOKIE}
            }
        }
    })
}

fn path_params(path: &str) -> Vec<&str> {
    path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')).collect()
}

fn operation_id(method: &axum::http::Method, path: &str) -> String {
    let mut id = method.as_str().to_lowercase();
    for seg in path.trim_start_matches("/api/v1").split('/').filter(|s| !s.is_empty()) {
        id.push('_');
        id.push_str(&seg.replace(['{', '}'], "").replace(['-', '.'], "_"));
    }
    id
}
