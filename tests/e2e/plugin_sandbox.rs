//! The sandbox from outside: a tenant cannot use another tenant's install, an action running
//! for tenant A can neither read nor write B's records through `records`, `http` reaches only
//! granted hosts, and deliberately bad plugins (endless loop, memory bomb, panic, oversized
//! output) each fail with a clear error while the server keeps answering; a plugin written
//! from the WIT alone (plain wit-bindgen) works like any other, and one that imports what its
//! kind may not have is refused at publish.

use serde_json::{Value, json};
use tests::{TestServer, both, built_plugin};

use crate::common::{customer, customers};

async fn publish(s: &TestServer, crate_dir: &str, file: &str) -> bool {
    let Some((manifest, component)) = built_plugin(crate_dir, file) else { return false };
    s.publish(&s.admin, &manifest, &component).await.expect(201);
    true
}

async fn probe(s: &TestServer, tenant: &str, token: &str, payload: Value) -> tests::Answer {
    s.post(
        &format!("/api/v1/t/{tenant}/plugins/probe/invoke"),
        token,
        json!({"input": {"event": {"kind": "manual", "payload": payload}}}),
    )
    .await
}

/// A one-shot HTTP server on 127.0.0.1; returns its port.
async fn local_http() -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf).await;
            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello").await;
        }
    });
    port
}

async fn tenants_are_isolated_inside_plugins(s: &TestServer) {
    if !publish(s, "tests/plugins/probe", "probe").await {
        return;
    }
    publish(s, "plugins/cn-id", "cn_id").await;
    let a = s.tenant("alpha").await;
    let b = s.tenant("beta").await;
    customers(s, "alpha", &a).await;
    customers(s, "beta", &b).await;
    customer(s, "alpha", &a, "Alpha customer").await;
    let secret = customer(s, "beta", &b, "Beta's secret customer").await;
    s.post(
        "/api/v1/t/beta/forms",
        &b,
        json!({"key": "beta_only", "name": "B", "fields": [{"key": "x", "label": "x", "type": "text"}]}),
    )
    .await
    .expect(201);
    s.post("/api/v1/t/alpha/plugins", &a, json!({"plugin": "probe", "grants": ["records:read", "records:write"]}))
        .await
        .expect(201);
    s.post("/api/v1/t/alpha/plugins", &a, json!({"plugin": "cn-id"})).await.expect(201);

    // B cannot use A's installs: not to invoke, not in a form.
    probe(s, "beta", &b, json!({"op": "query", "form": "customers", "filter": ""})).await.expect(404);
    let form = json!({"key": "ids", "name": "ids", "fields": [
        {"key": "code", "label": "code", "type": "text", "validators": [{"plugin": "cn-id", "config": {"kind": "uscc"}}]}
    ]});
    let refused = s.post("/api/v1/t/beta/forms", &b, form).await.expect(422);
    assert_eq!(refused.body["errors"][0]["field"], "fields[0].validators[0].plugin");

    // Inside A's action, B's records do not exist.
    let got = probe(s, "alpha", &a, json!({"op": "get", "form": "customers", "id": secret})).await.expect(200);
    assert_eq!(got.body["result"]["data"]["record"], Value::Null, "{}", got.body);
    let all = probe(s, "alpha", &a, json!({"op": "query", "form": "customers", "filter": ""})).await.expect(200);
    let names: Vec<&str> = all.body["result"]["data"]["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|r| r["data"]["name"].as_str())
        .collect();
    assert_eq!(names, ["Alpha customer"]);
    let update =
        probe(s, "alpha", &a, json!({"op": "update", "form": "customers", "id": secret, "data": {"name": "pwned"}}))
            .await
            .expect(422);
    assert_eq!(update.body["code"], "not-found", "{}", update.body);
    let create =
        probe(s, "alpha", &a, json!({"op": "create", "form": "beta_only", "data": {"x": "1"}})).await.expect(422);
    assert_eq!(create.body["code"], "not-found", "{}", create.body);
    let theirs = s.get(&format!("/api/v1/t/beta/forms/customers/records/{secret}"), &b).await.expect(200);
    assert_eq!(
        (theirs.body["data"]["name"].as_str(), theirs.body["version"].as_i64()),
        (Some("Beta's secret customer"), Some(1))
    );
    s.get("/api/v1/t/beta/forms/beta_only/records", &b).await.expect(200);
    // Writes through `records` are validated like any other.
    let invalid = probe(s, "alpha", &a, json!({"op": "create", "form": "customers", "data": {"credit": "lots"}}))
        .await
        .expect(422);
    assert_eq!(invalid.body["code"], "invalid", "{}", invalid.body);

    // `http` reaches only hosts granted by name.
    let port = local_http().await;
    let url = format!("http://127.0.0.1:{port}/");
    let denied = probe(s, "alpha", &a, json!({"op": "http", "url": url})).await.expect(422);
    assert_eq!(denied.body["code"], "forbidden", "{}", denied.body);
    let elsewhere = probe(s, "alpha", &a, json!({"op": "http", "url": "http://example.invalid/"})).await.expect(422);
    assert_eq!(elsewhere.body["code"], "forbidden", "{}", elsewhere.body);
    s.patch(
        "/api/v1/t/alpha/plugins/probe",
        &a,
        json!({"grants": ["records:read", "records:write", "http:127.0.0.1"]}),
    )
    .await
    .expect(200);
    let fetched = probe(s, "alpha", &a, json!({"op": "http", "url": url})).await.expect(200);
    assert_eq!(fetched.body["result"]["data"]["status"], 200, "{}", fetched.body);
}
both!(tenants_are_isolated_inside_plugins_case, tenants_are_isolated_inside_plugins);

async fn bad_plugins_fail_alone(s: &TestServer) {
    if !publish(s, "tests/plugins/faulty", "faulty").await {
        return;
    }
    let a = s.tenant("alpha").await;
    customers(s, "alpha", &a).await;
    s.post("/api/v1/t/alpha/plugins", &a, json!({"plugin": "faulty", "deadline_ms": 1500})).await.expect(201);
    let invoke = |mode: &str| {
        let body = json!({"input": {"config": {"mode": mode}, "dataset": {"columns": ["x"], "rows": [[1]]}}});
        let (base, http, token) = (s.base.clone(), s.http.clone(), a.clone());
        async move {
            let r = http
                .post(format!("{base}/api/v1/t/alpha/plugins/faulty/invoke"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("sent");
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // While an endless loop runs, the server answers everything else.
    let looping = tokio::spawn(invoke("loop"));
    for _ in 0..5 {
        s.get("/api/v1/t/alpha/forms", &a).await.expect(200);
        s.get("/healthz", &a).await.expect(200);
    }
    customer(s, "alpha", &a, "Written during the loop").await;
    assert!(!looping.is_finished(), "the loop must still be running while the others were answered");
    let (status, body) = looping.await.expect("joined");
    assert_eq!((status, body["code"].as_str()), (504, Some("timeout")), "{body}");
    assert!(body["detail"].as_str().unwrap_or("").contains("1.5"), "{body}");

    for (mode, status, code) in
        [("memory", 502, "out-of-memory"), ("panic", 502, "crashed"), ("big", 502, "bad-output")]
    {
        let (got, body) = invoke(mode).await;
        assert_eq!((got, body["code"].as_str()), (status, Some(code)), "{mode}: {body}");
        assert_eq!(body["plugin"], "faulty");
        assert!(body["type"].as_str().unwrap_or("").ends_with("/plugin"), "{body}");
    }
    // Several bad calls at once do not disturb a good one.
    let bad: Vec<_> = ["memory", "panic", "memory"].into_iter().map(|m| tokio::spawn(invoke(m))).collect();
    let (ok, body) = invoke("ok").await;
    assert_eq!(ok, 200, "{body}");
    assert!(body["result"]["svg"].as_str().unwrap_or("").starts_with("<svg"));
    for b in bad {
        assert_eq!(b.await.expect("joined").0, 502);
    }
    let metrics = s.get("/api/v1/t/alpha/plugins/faulty", &a).await.expect(200).body["metrics"].clone();
    assert_eq!(
        (metrics["calls"].as_u64(), metrics["failures"].as_u64(), metrics["timeouts"].as_u64()),
        (Some(8), Some(7), Some(1)),
        "{metrics}"
    );
}
both!(bad_plugins_fail_alone_case, bad_plugins_fail_alone);

async fn the_wit_is_the_contract(s: &TestServer) {
    // A validator written with plain wit-bindgen (no SDK) publishes, installs and guards a field.
    if !publish(s, "tests/plugins/plain-upper", "plain_upper").await {
        return;
    }
    let a = s.tenant("alpha").await;
    s.post("/api/v1/t/alpha/plugins", &a, json!({"plugin": "plain-upper"})).await.expect(201);
    let form = json!({"key": "codes", "name": "Codes", "fields": [
        {"key": "code", "label": "Code", "type": "text", "validators": [{"plugin": "plain-upper", "config": {"case": "upper"}}]}
    ]});
    s.post("/api/v1/t/alpha/forms", &a, form).await.expect(201);
    let refused = s.post("/api/v1/t/alpha/forms/codes/records", &a, json!({"data": {"code": "abc"}})).await.expect(422);
    assert_eq!(refused.body["errors"][0]["field"], "data.code");
    assert_eq!(refused.body["errors"][0]["message"], "must be upper case / 须为大写");
    s.post("/api/v1/t/alpha/forms/codes/records", &a, json!({"data": {"code": "ABC"}})).await.expect(201);

    // A component that imports a capability its kind may not have is refused at publish.
    let (manifest, component) = built_plugin("tests/plugins/rogue", "rogue").expect("built");
    let rogue = s.publish(&s.admin, &manifest, &component).await.expect(422);
    assert_eq!(rogue.body["errors"][0]["field"], "component");
    let message = rogue.body["errors"][0]["message"].as_str().unwrap_or("");
    assert!(message.contains("more than a validator may use") && message.contains("http"), "{message}");
    s.get("/api/v1/plugins/rogue", &s.admin).await.expect(404);
}
both!(the_wit_is_the_contract_case, the_wit_is_the_contract);

/// An HTTPS server on 127.0.0.1 for `localhost`, with a certificate from a throw-away CA;
/// returns its port and the CA's PEM.
async fn local_https() -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "Tessera test CA");
    let ca_key = rcgen::KeyPair::generate().expect("ca key");
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .expect("leaf params")
        .signed_by(&leaf_key, &ca, &ca_key)
        .expect("leaf");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let tls =
        rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("protocols")
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone()], key)
            .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(tls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(conn).await {
                    let mut buf = [0u8; 4096];
                    let _ = tls.read(&mut buf).await;
                    let _ =
                        tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\nconnection: close\r\n\r\nsecure").await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    (port, ca.pem())
}

/// `http` speaks HTTPS, trusting the system's authorities and those the operator adds
/// (`--plugin-http-ca`), and refuses a certificate that does not match the host.
async fn https_with_an_operator_ca(backend: tests::Backend) {
    let (port, ca_pem) = local_https().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).expect("write CA");
    let Some(s) = TestServer::start_with(backend, |c| c.plugin_http_ca = Some(ca_file.clone())).await else { return };
    if publish(&s, "tests/plugins/probe", "probe").await {
        let a = s.tenant("alpha").await;
        s.post(
            "/api/v1/t/alpha/plugins",
            &a,
            json!({"plugin": "probe", "grants": ["http:localhost", "http:127.0.0.1"]}),
        )
        .await
        .expect(201);
        let ok = probe(&s, "alpha", &a, json!({"op": "http", "url": format!("https://localhost:{port}/")}))
            .await
            .expect(200);
        assert_eq!(ok.body["result"]["data"]["status"], 200, "{}", ok.body);
        // The certificate names `localhost`, not the address: verification refuses it.
        let wrong = probe(&s, "alpha", &a, json!({"op": "http", "url": format!("https://127.0.0.1:{port}/")}))
            .await
            .expect(422);
        assert_eq!(wrong.body["code"], "unavailable", "{}", wrong.body);
        assert!(wrong.body["detail"].as_str().unwrap_or("").contains("certificate"), "{}", wrong.body);
    }
    s.stop().await;
}

mod https_with_an_operator_ca_case {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::https_with_an_operator_ca(tests::Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::https_with_an_operator_ca(tests::Backend::Postgres).await;
    }
}
