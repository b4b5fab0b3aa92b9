//! Sign-in, sessions, API keys, tenants.

use reqwest::Method;
use serde_json::json;
use tests::{ADMIN_EMAIL, TestServer, both};

async fn sessions_and_api_keys(s: &TestServer) {
    // Wrong password, then throttling after repeated failures.
    for _ in 0..5 {
        let a = s
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"email": "victim@example.com", "password": "nope-nope-nope"})),
            )
            .await;
        assert_eq!(a.status, 401);
        assert!(a.is_problem());
    }
    let limited = s
        .call(Method::POST, "/api/v1/auth/login", None, Some(json!({"email": "victim@example.com", "password": "x"})))
        .await;
    assert_eq!(limited.status, 429);
    assert!(limited.headers.contains_key("retry-after"));
    // No credential, a bad one.
    assert_eq!(s.call(Method::GET, "/api/v1/auth/me", None, None).await.status, 401);
    assert_eq!(s.call(Method::GET, "/api/v1/auth/me", Some("tss_forged"), None).await.status, 401);
    // Each login gets its own token; logout ends only that session.
    let t1 = s.login(ADMIN_EMAIL, tests::ADMIN_PASSWORD).await;
    let t2 = s.login(ADMIN_EMAIL, tests::ADMIN_PASSWORD).await;
    assert_ne!(t1, t2);
    s.call(Method::POST, "/api/v1/auth/logout", Some(&t1), None).await.expect(204);
    assert_eq!(s.get("/api/v1/auth/me", &t1).await.status, 401);
    s.get("/api/v1/auth/me", &t2).await.expect(200);
    // The session cookie works like the bearer token.
    let login = s
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": ADMIN_EMAIL, "password": tests::ADMIN_PASSWORD})),
        )
        .await;
    let cookie = login.headers["set-cookie"].to_str().expect("cookie").to_owned();
    assert!(cookie.contains("HttpOnly"));
    let pair = cookie.split(';').next().expect("pair");
    let me = s.http.get(format!("{}/api/v1/auth/me", s.base)).header("cookie", pair).send().await.expect("sent");
    assert_eq!(me.status(), 200);
    // API keys: shown once, work as bearer, stop working when revoked.
    let key =
        s.post("/api/v1/t/default/api-keys", &s.admin, json!({"name": "crm sync", "role": "member"})).await.expect(201);
    let secret = key.body["secret"].as_str().expect("secret").to_owned();
    let listed = s.get("/api/v1/t/default/api-keys", &s.admin).await.expect(200);
    assert!(!listed.body.to_string().contains(&secret), "the secret is never shown again");
    s.get("/api/v1/t/default/forms", &secret).await.expect(200);
    s.post("/api/v1/t/default/forms", &secret, json!({"key": "k", "name": "K", "fields": []})).await.expect(403);
    s.delete(&format!("/api/v1/t/default/api-keys/{}", key.body["id"]), &s.admin).await.expect(204);
    assert_eq!(s.get("/api/v1/t/default/forms", &secret).await.status, 401);
}
both!(sessions_and_api_keys_case, sessions_and_api_keys);

async fn platform_admin_creates_tenants(s: &TestServer) {
    let a = s.tenant("acme").await;
    s.get("/api/v1/t/acme", &a).await.expect(200);
    // The tenant's admin is not a platform admin.
    s.post(
        "/api/v1/tenants",
        &a,
        json!({"slug": "evil", "name": "Evil", "admin": {"email": "e@x.io", "password": "long-enough-1"}}),
    )
    .await
    .expect(403);
    let dup = s
        .post(
            "/api/v1/tenants",
            &s.admin,
            json!({"slug": "acme", "name": "Again", "admin": {"email": "b@x.io", "password": "long-enough-1"}}),
        )
        .await
        .expect(409);
    assert_eq!(dup.error_fields(), ["slug"]);
    let bad = s
        .post(
            "/api/v1/tenants",
            &s.admin,
            json!({"slug": "Not OK", "name": "", "admin": {"email": "nope", "password": "short"}}),
        )
        .await
        .expect(422);
    assert_eq!(bad.error_fields(), ["slug", "name", "admin.email", "admin.password"]);
    // Org chart: departments and managers.
    let dept =
        s.post("/api/v1/t/acme/departments", &a, json!({"name": "Engineering"})).await.expect(201).body["id"].clone();
    let (boss, _) = s.member("acme", &a, "boss@acme.io", "member").await;
    let (worker, _) = s.member("acme", &a, "worker@acme.io", "member").await;
    let m = s
        .patch(&format!("/api/v1/t/acme/users/{worker}"), &a, json!({"department_id": dept, "manager_id": boss}))
        .await
        .expect(200);
    assert_eq!(m.body["manager_id"], boss);
    s.patch(&format!("/api/v1/t/acme/users/{worker}"), &a, json!({"manager_id": worker})).await.expect(422);
    s.patch(&format!("/api/v1/t/acme/users/{worker}"), &a, json!({"department_id": 999_999})).await.expect(422);
}
both!(platform_admin_creates_tenants_case, platform_admin_creates_tenants);
