//! The OpenAPI document describes every route, and the system endpoints answer.

use tests::{TestServer, both};

async fn openapi_documents_every_route(s: &TestServer) {
    let doc = s.call(reqwest::Method::GET, "/api/v1/openapi.json", None, None).await.expect(200).body;
    assert_eq!(doc["openapi"], "3.1.0");
    for route in server::api::routes() {
        let op = &doc["paths"][route.path][route.method.as_str().to_lowercase()];
        assert!(op.is_object(), "{} {} is not documented", route.method, route.path);
        assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()));
        assert!(op["responses"]["default"]["content"]["application/problem+json"].is_object());
    }
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for name in ["Record", "Problem", "Field", "Form", "ListPage"] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
    // Every $ref points at a schema that exists.
    let text = doc.to_string();
    for part in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = part.split('"').next().unwrap_or("");
        assert!(schemas.contains_key(name), "dangling $ref to {name}");
    }
    assert_eq!(s.call(reqwest::Method::GET, "/healthz", None, None).await.status, 200);
    assert_eq!(s.call(reqwest::Method::GET, "/readyz", None, None).await.status, 200);
    let landing = s.http.get(format!("{}/", s.base)).send().await.expect("landing");
    assert_eq!(landing.status(), 200);
    let html = landing.text().await.unwrap_or_default();
    assert!(html.contains("Tessera") && html.contains("openapi.json"));
}
both!(openapi_documents_every_route_case, openapi_documents_every_route);
