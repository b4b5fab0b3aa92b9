//! Tenant isolation over the router's own route list: a user or API key of tenant B gets
//! 404 (or 403) on every tenant-A resource. Every route must have an entry in `TABLE`, so a
//! new route without one fails this test.

use reqwest::Method;
use serde_json::json;
use server::api::Access;
use tests::{TestServer, both};

use crate::common::{count, customer, customers};

/// Every route: (method, path, what B may get). Tenant routes are called with A's
/// resources in the path.
const TABLE: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/api/v1/openapi.json"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/api/v1/auth/me"),
    ("POST", "/api/v1/tenants"),
    ("GET", "/api/v1/tenants"),
    ("GET", "/api/v1/t/{tenant}"),
    ("GET", "/api/v1/t/{tenant}/users"),
    ("POST", "/api/v1/t/{tenant}/users"),
    ("GET", "/api/v1/t/{tenant}/users/{user}"),
    ("PATCH", "/api/v1/t/{tenant}/users/{user}"),
    ("GET", "/api/v1/t/{tenant}/departments"),
    ("POST", "/api/v1/t/{tenant}/departments"),
    ("GET", "/api/v1/t/{tenant}/roles"),
    ("POST", "/api/v1/t/{tenant}/roles"),
    ("PATCH", "/api/v1/t/{tenant}/roles/{role}"),
    ("GET", "/api/v1/t/{tenant}/api-keys"),
    ("POST", "/api/v1/t/{tenant}/api-keys"),
    ("DELETE", "/api/v1/t/{tenant}/api-keys/{key}"),
    ("GET", "/api/v1/t/{tenant}/apps"),
    ("POST", "/api/v1/t/{tenant}/apps"),
    ("GET", "/api/v1/t/{tenant}/apps/{app}"),
    ("PATCH", "/api/v1/t/{tenant}/apps/{app}"),
    ("DELETE", "/api/v1/t/{tenant}/apps/{app}"),
    ("GET", "/api/v1/t/{tenant}/forms"),
    ("POST", "/api/v1/t/{tenant}/forms"),
    ("GET", "/api/v1/t/{tenant}/forms/{form}"),
    ("PATCH", "/api/v1/t/{tenant}/forms/{form}"),
    ("DELETE", "/api/v1/t/{tenant}/forms/{form}"),
    ("GET", "/api/v1/t/{tenant}/forms/{form}/records"),
    ("POST", "/api/v1/t/{tenant}/forms/{form}/records"),
    ("POST", "/api/v1/t/{tenant}/forms/{form}/records/bulk"),
    ("POST", "/api/v1/t/{tenant}/forms/{form}/records/upsert"),
    ("POST", "/api/v1/t/{tenant}/forms/{form}/records/import"),
    ("GET", "/api/v1/t/{tenant}/forms/{form}/records/{id}"),
    ("PATCH", "/api/v1/t/{tenant}/forms/{form}/records/{id}"),
    ("DELETE", "/api/v1/t/{tenant}/forms/{form}/records/{id}"),
    ("POST", "/api/v1/t/{tenant}/forms/{form}/records/{id}/restore"),
    ("GET", "/api/v1/t/{tenant}/forms/{form}/records/{id}/history"),
    ("POST", "/api/v1/t/{tenant}/attachments"),
    ("GET", "/api/v1/t/{tenant}/attachments/{id}"),
    ("POST", "/api/v1/plugins"),
    ("GET", "/api/v1/plugins"),
    ("GET", "/api/v1/plugins/{plugin}"),
    ("PATCH", "/api/v1/plugins/{plugin}/versions/{version}"),
    ("GET", "/api/v1/t/{tenant}/plugins"),
    ("POST", "/api/v1/t/{tenant}/plugins"),
    ("GET", "/api/v1/t/{tenant}/plugins/{plugin}"),
    ("PATCH", "/api/v1/t/{tenant}/plugins/{plugin}"),
    ("DELETE", "/api/v1/t/{tenant}/plugins/{plugin}"),
    ("POST", "/api/v1/t/{tenant}/plugins/{plugin}/rollback"),
    ("GET", "/api/v1/t/{tenant}/plugins/{plugin}/audit"),
    ("POST", "/api/v1/t/{tenant}/plugins/{plugin}/invoke"),
];

#[test]
fn every_route_is_in_the_table() {
    let routes: Vec<(String, String)> =
        server::api::routes().iter().map(|r| (r.method.as_str().to_owned(), r.path.to_owned())).collect();
    for (m, p) in &routes {
        assert!(
            TABLE.iter().any(|(tm, tp)| tm == m && tp == p),
            "route {m} {p} has no entry in the isolation table: add one (and make sure tenant B cannot reach A through it)"
        );
    }
    for (m, p) in TABLE {
        assert!(routes.iter().any(|(rm, rp)| rm == m && rp == p), "table entry {m} {p} names no route");
    }
}

async fn tenant_b_cannot_reach_tenant_a(s: &TestServer) {
    let a = s.tenant("alpha").await;
    let b = s.tenant("beta").await;
    customers(s, "alpha", &a).await;
    customers(s, "beta", &b).await;
    s.post("/api/v1/t/alpha/apps", &a, json!({"key": "crm", "name": "CRM"})).await.expect(201);
    let record = customer(s, "alpha", &a, "Alpha's secret customer").await;
    let (user, member_a) = s.member("alpha", &a, "member@alpha.io", "member").await;
    let role = s.get("/api/v1/t/alpha/roles", &a).await.expect(200).body[0]["id"].as_i64().expect("role");
    let key = s.post("/api/v1/t/alpha/api-keys", &a, json!({"name": "k"})).await.expect(201).body["id"]
        .as_i64()
        .expect("key");
    let attachment = s
        .call_raw(Method::POST, "/api/v1/t/alpha/attachments?name=a.txt", Some(&a), "text/plain", b"alpha".to_vec())
        .await
        .expect(201)
        .body["id"]
        .as_i64()
        .expect("attachment");
    let b_key =
        s.post("/api/v1/t/beta/api-keys", &b, json!({"name": "bk", "role": "admin"})).await.expect(201).body["secret"]
            .as_str()
            .expect("secret")
            .to_owned();

    let routes = server::api::routes();
    let mut checked = 0;
    for route in routes.iter() {
        let path = route
            .path
            .replace("{tenant}", "alpha")
            .replace("{form}", "customers")
            .replace("{app}", "crm")
            .replace("{user}", &user.to_string())
            .replace("{role}", &role.to_string())
            .replace("{key}", &key.to_string())
            .replace("{plugin}", "cn-id")
            .replace("{version}", "0.1.0")
            .replace(
                "{id}",
                &if route.path.contains("attachments") { attachment.to_string() } else { record.to_string() },
            );
        let method = Method::from_bytes(route.method.as_str().as_bytes()).expect("method");
        let body = (method != Method::GET && method != Method::DELETE).then(|| json!({"data": {"name": "intruder"}}));
        match route.access {
            Access::Tenant | Access::TenantAdmin => {
                for (who, token) in [("B's admin", b.as_str()), ("B's API key", b_key.as_str())] {
                    let got = s.call(method.clone(), &path, Some(token), body.clone()).await;
                    assert!(
                        got.status == 404 || got.status == 403,
                        "{who} got {} on {} {path}: {}",
                        got.status,
                        route.method,
                        got.body
                    );
                    assert!(got.is_problem(), "{} {path}", route.method);
                    assert!(!got.body.to_string().contains("secret customer"), "{} {path} leaked data", route.method);
                }
                let anonymous = s.call(method.clone(), &path, None, body.clone()).await;
                assert_eq!(anonymous.status, 401, "anonymous on {} {path}", route.method);
                if route.access == Access::TenantAdmin {
                    let got = s.call(method.clone(), &path, Some(&member_a), body.clone()).await;
                    assert!(
                        got.status == 403 || got.status == 404,
                        "A's plain member got {} on admin route {} {path}",
                        got.status,
                        route.method
                    );
                }
                checked += 1;
            }
            Access::PlatformAdmin => {
                let got = s.call(method.clone(), &path, Some(&b), body.clone()).await;
                assert_eq!(got.status, 403, "B's tenant admin on platform route {} {path}", route.method);
            }
            Access::User | Access::Public => {}
        }
    }
    assert!(checked >= 25, "only {checked} tenant routes checked");
    // A's data is untouched and still there.
    let r = s.get(&format!("/api/v1/t/alpha/forms/customers/records/{record}"), &a).await.expect(200);
    assert_eq!(r.body["data"]["name"], "Alpha's secret customer");
    assert_eq!(r.body["version"], 1);
    assert_eq!(count(s, "alpha", &a, "customers").await, 1);
    assert_eq!(count(s, "beta", &b, "customers").await, 0);
    s.get("/api/v1/t/alpha/forms/customers", &a).await.expect(200);
    s.get("/api/v1/t/alpha/api-keys", &a).await.expect(200);
    // B's own id spaces do not open A's rows either: B asking for A's record id under B's tenant.
    s.get(&format!("/api/v1/t/beta/forms/customers/records/{record}"), &b).await.expect(404);
    s.get(&format!("/api/v1/t/beta/attachments/{attachment}"), &b).await.expect(404);
    s.get(&format!("/api/v1/t/beta/users/{user}"), &b).await.expect(404);
}
both!(tenant_b_cannot_reach_tenant_a_case, tenant_b_cannot_reach_tenant_a);
