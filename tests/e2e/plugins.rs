//! Plugins end to end: publish the first-party plugins, install them in a tenant, use the
//! `cn-id` validator on a form field (its violations in the same 422 as built-in rules),
//! invoke the `bom-explode` action and the `gantt` widget; upgrade, roll back, yank, audit,
//! refuse to uninstall what is in use.

use serde_json::{Value, json};
use tests::{TestServer, both, built_plugin};

/// Publishes a plugin as the platform admin; returns the answer's body.
async fn publish(s: &TestServer, crate_dir: &str, file: &str) -> Option<Value> {
    let (manifest, component) = built_plugin(crate_dir, file)?;
    Some(s.publish(&s.admin, &manifest, &component).await.expect(201).body)
}

fn errors(body: &Value) -> Vec<(String, String)> {
    body["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| (e["field"].as_str().unwrap_or("").to_owned(), e["message"].as_str().unwrap_or("").to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

async fn validators_in_the_write_path(s: &TestServer) {
    let Some(published) = publish(s, "plugins/cn-id", "cn_id").await else { return };
    assert_eq!(published["id"], "cn-id");
    assert_eq!(published["kind"], "validator");
    assert_eq!(published["sha256"].as_str().map(str::len), Some(64));
    // Versions are immutable.
    let (manifest, component) = built_plugin("plugins/cn-id", "cn_id").expect("built");
    let again = s.publish(&s.admin, &manifest, &component).await.expect(409);
    assert_eq!(errors(&again.body)[0].0, "manifest.version");
    // Only platform admins publish.
    let a = s.tenant("alpha").await;
    s.publish(&a, &manifest, &component).await.expect(403);
    // The component must be of the manifest's kind.
    let as_widget = manifest.replace("kind = \"validator\"", "kind = \"widget\"").replace("0.1.0", "9.0.0");
    let wrong = s.publish(&s.admin, &as_widget, &component).await.expect(422);
    assert_eq!(errors(&wrong.body)[0].0, "component", "{}", wrong.body);
    let listed = s.get("/api/v1/plugins", &a).await.expect(200).body;
    assert_eq!(listed[0]["latest"], "0.1.0", "{listed}");

    // A form cannot use a validator the tenant has not installed.
    let form = json!({
        "key": "suppliers",
        "name": {"en": "Suppliers", "zh": "供应商"},
        "fields": [
            {"key": "name", "label": "Name", "type": "text", "required": true},
            {"key": "uscc", "label": {"en": "USCC", "zh": "统一社会信用代码"}, "type": "text",
             "validators": [{"plugin": "cn-id", "config": {"kind": "uscc"}}]}
        ]
    });
    let refused = s.post("/api/v1/t/alpha/forms", &a, form.clone()).await.expect(422);
    assert_eq!(errors(&refused.body)[0].0, "fields[1].validators[0].plugin");

    let installed =
        s.post("/api/v1/t/alpha/plugins", &a, json!({"plugin": "cn-id", "config": {}})).await.expect(201).body;
    assert_eq!(installed["version"], "0.1.0");
    assert_eq!(installed["deadline_ms"], 50);
    s.post("/api/v1/t/alpha/plugins", &a, json!({"plugin": "cn-id"})).await.expect(409);
    // The field's configuration is checked against the plugin's schema.
    let mut bad = form.clone();
    bad["fields"][1]["validators"][0]["config"] = json!({"kind": "passport"});
    let refused = s.post("/api/v1/t/alpha/forms", &a, bad).await.expect(422);
    assert_eq!(errors(&refused.body)[0].0, "fields[1].validators[0].config.kind", "{}", refused.body);
    s.post("/api/v1/t/alpha/forms", &a, form).await.expect(201);

    let records = "/api/v1/t/alpha/forms/suppliers/records";
    let invalid =
        s.post(records, &a, json!({"data": {"name": "Acme", "uscc": "914403001922038217"}})).await.expect(422);
    let e = errors(&invalid.body);
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].0, "data.uscc");
    assert!(e[0].1.contains("USCC") || e[0].1.contains("统一社会信用代码"), "{e:?}");
    // Built-in and plugin problems come together.
    let both = s.post(records, &a, json!({"data": {"uscc": "12345"}})).await.expect(422);
    let fields: Vec<String> = errors(&both.body).into_iter().map(|(f, _)| f).collect();
    assert!(fields.contains(&"data.name".to_owned()) && fields.contains(&"data.uscc".to_owned()), "{fields:?}");
    let stored = s.post(records, &a, json!({"data": {"name": "Acme", "uscc": "914403001922038216"}})).await.expect(201);
    let id = stored.body["id"].as_i64().expect("id");
    // Updates and bulk writes run it too; nothing is stored when it refuses.
    let update = s.patch(&format!("{records}/{id}"), &a, json!({"data": {"uscc": "91440300192203821X"}})).await;
    assert_eq!(update.status, 422, "{}", update.body);
    let bulk = s
        .post(
            &format!("{records}/bulk"),
            &a,
            json!({"records": [{"data": {"name": "B1", "uscc": "914403001922038216"}}, {"data": {"name": "B2", "uscc": "bad"}}]}),
        )
        .await
        .expect(422);
    assert_eq!(errors(&bulk.body)[0].0, "records[1].data.uscc", "{}", bulk.body);
    let list = s.get(records, &a).await.expect(200).body;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));

    // Invoke the validator directly.
    let tried = s
        .post(
            "/api/v1/t/alpha/plugins/cn-id/invoke",
            &a,
            json!({"input": {"config": {"kind": "mobile"}, "value": "12345"}}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(tried["result"]["valid"], false, "{tried}");
    let tried = s
        .post(
            "/api/v1/t/alpha/plugins/cn-id/invoke",
            &a,
            json!({"input": {"config": {"kind": "mobile"}, "value": "13800138000"}}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(tried["result"]["valid"], true, "{tried}");
    let metrics = s.get("/api/v1/t/alpha/plugins/cn-id", &a).await.expect(200).body["metrics"].clone();
    assert!(metrics["calls"].as_u64().unwrap_or(0) >= 6, "{metrics}");

    // Upgrade to a new version, roll back, yank.
    let v2 = manifest.replace("version = \"0.1.0\"", "version = \"0.2.0\"");
    s.publish(&s.admin, &v2, &component).await.expect(201);
    let up = s.patch("/api/v1/t/alpha/plugins/cn-id", &a, json!({"version": "0.2.0"})).await.expect(200).body;
    assert_eq!((up["version"].as_str(), up["previous_version"].as_str()), (Some("0.2.0"), Some("0.1.0")));
    s.post(records, &a, json!({"data": {"name": "After upgrade", "uscc": "bad"}})).await.expect(422);
    // A version whose schema no longer accepts a form's configuration is refused, naming it.
    let narrower = manifest
        .replace("version = \"0.1.0\"", "version = \"0.3.0\"")
        .replace("enum = [\"uscc\", \"resident_id\", \"mobile\"]", "enum = [\"resident_id\", \"mobile\"]");
    s.publish(&s.admin, &narrower, &component).await.expect(201);
    let breaks = s.patch("/api/v1/t/alpha/plugins/cn-id", &a, json!({"version": "0.3.0"})).await.expect(409);
    assert_eq!(errors(&breaks.body)[0].0, "forms.suppliers.fields.uscc.config.kind", "{}", breaks.body);
    let back = s.post("/api/v1/t/alpha/plugins/cn-id/rollback", &a, json!({})).await.expect(200).body;
    assert_eq!(back["version"], "0.1.0");
    s.patch("/api/v1/plugins/cn-id/versions/0.2.0", &s.admin, json!({"yanked": true})).await.expect(200);
    let yanked = s.patch("/api/v1/t/alpha/plugins/cn-id", &a, json!({"version": "0.2.0"})).await.expect(422);
    assert_eq!(errors(&yanked.body)[0].0, "version");
    // Grants beyond what the plugin requests, and unknown settings, are refused.
    let grants = s.patch("/api/v1/t/alpha/plugins/cn-id", &a, json!({"grants": ["records:read"]})).await.expect(422);
    assert_eq!(errors(&grants.body)[0].0, "grants[0]");
    let config = s.patch("/api/v1/t/alpha/plugins/cn-id", &a, json!({"config": {"colour": 1}})).await.expect(422);
    assert_eq!(errors(&config.body)[0].0, "config.colour");

    // In use: uninstalling is refused with the list of its users.
    let in_use = s.delete("/api/v1/t/alpha/plugins/cn-id", &a).await.expect(409);
    assert_eq!(errors(&in_use.body)[0].0, "forms.suppliers.fields.uscc");
    let log = s.get("/api/v1/t/alpha/plugins/cn-id/audit", &a).await.expect(200).body;
    let actions: Vec<&str> = log.as_array().expect("log").iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, ["install", "upgrade", "rollback"]);
    // Once no form uses it, it goes (and the audit log keeps the story).
    s.patch(
        "/api/v1/t/alpha/forms/suppliers",
        &a,
        json!({"fields": [
            {"key": "name", "label": "Name", "type": "text", "required": true},
            {"key": "uscc", "label": "USCC", "type": "text"}
        ]}),
    )
    .await
    .expect(200);
    s.delete("/api/v1/t/alpha/plugins/cn-id", &a).await.expect(204);
    s.get("/api/v1/t/alpha/plugins/cn-id", &a).await.expect(404);
    let log = s.get("/api/v1/t/alpha/plugins/cn-id/audit", &a).await.expect(200).body;
    assert_eq!(log.as_array().map(Vec::len), Some(4));
}
both!(validators_in_the_write_path_case, validators_in_the_write_path);

async fn actions_and_widgets(s: &TestServer) {
    let Some(_) = publish(s, "plugins/bom-explode", "bom_explode").await else { return };
    publish(s, "plugins/gantt", "gantt").await.expect("built");
    let a = s.tenant("alpha").await;
    let text = |key: &str| json!({"key": key, "label": key, "type": "text"});
    let number = |key: &str| json!({"key": key, "label": key, "type": "number"});
    for (key, fields) in [
        ("bom", json!([text("product"), text("component"), number("qty")])),
        ("purchase_request", json!([text("component"), number("qty"), number("order")])),
        (
            "orders",
            json!([{"key": "lines", "label": "Lines", "type": "subtable", "fields": [text("product"), number("qty")]}]),
        ),
    ] {
        s.post("/api/v1/t/alpha/forms", &a, json!({"key": key, "name": key, "fields": fields})).await.expect(201);
    }
    for (product, component, qty) in [("P1", "C1", 2), ("P1", "C2", 3), ("P2", "C1", 1)] {
        s.post(
            "/api/v1/t/alpha/forms/bom/records",
            &a,
            json!({"data": {"product": product, "component": component, "qty": qty}}),
        )
        .await
        .expect(201);
    }
    let order = s
        .post(
            "/api/v1/t/alpha/forms/orders/records",
            &a,
            json!({"data": {"lines": [{"product": "P1", "qty": 2}, {"product": "P2", "qty": 5}]}}),
        )
        .await
        .expect(201)
        .body;
    let event =
        json!({"kind": "record.created", "record": {"form": "orders", "id": order["id"], "data": order["data"]}});

    // Installed without the grants it needs: the host refuses its record calls.
    s.post("/api/v1/t/alpha/plugins", &a, json!({"plugin": "bom-explode"})).await.expect(201);
    let refused = s.post("/api/v1/t/alpha/plugins/bom-explode/invoke", &a, json!({"input": {"event": event}})).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(refused.body["code"], "forbidden", "{}", refused.body);
    s.patch("/api/v1/t/alpha/plugins/bom-explode", &a, json!({"grants": ["records:read", "records:write"]}))
        .await
        .expect(200);
    let ran = s
        .post("/api/v1/t/alpha/plugins/bom-explode/invoke", &a, json!({"input": {"event": event}}))
        .await
        .expect(200)
        .body;
    assert_eq!(ran["result"]["data"]["created"].as_array().map(Vec::len), Some(3), "{ran}");
    let made = s.get("/api/v1/t/alpha/forms/purchase_request/records?sort=id", &a).await.expect(200).body;
    let got: Vec<(String, f64)> = made["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| (r["data"]["component"].as_str().unwrap_or("").to_owned(), r["data"]["qty"].as_f64().unwrap_or(0.0)))
        .collect();
    assert_eq!(got, [("C1".to_owned(), 4.0), ("C2".to_owned(), 6.0), ("C1".to_owned(), 5.0)]);
    assert_eq!(made["items"][0]["data"]["order"], order["id"]);
    // A bad event is the plugin's own error, with its code.
    let no_record = s
        .post("/api/v1/t/alpha/plugins/bom-explode/invoke", &a, json!({"input": {"event": {"kind": "manual"}}}))
        .await
        .expect(422);
    assert_eq!(no_record.body["plugin"], "bom-explode");

    s.post("/api/v1/t/alpha/plugins", &a, json!({"plugin": "gantt", "config": {"title": "Plan <A&B>"}}))
        .await
        .expect(201);
    let drawn = s
        .post(
            "/api/v1/t/alpha/plugins/gantt/invoke",
            &a,
            json!({"input": {"dataset": {
                "columns": ["name", "start", "end", "progress"],
                "rows": [["Design", "2026-01-05", "2026-01-20", 1.0], ["Build <core>", "2026-01-15", "2026-02-28", 0.4]]
            }}}),
        )
        .await
        .expect(200)
        .body;
    let svg = drawn["result"]["svg"].as_str().expect("an SVG");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{svg}");
    assert!(svg.contains("Design") && svg.contains("Build &lt;core&gt;") && svg.contains("Plan &lt;A&amp;B&gt;"));
    let missing = s
        .post(
            "/api/v1/t/alpha/plugins/gantt/invoke",
            &a,
            json!({"input": {"dataset": {"columns": ["name"], "rows": [["x"]]}}}),
        )
        .await
        .expect(422);
    assert_eq!(missing.body["plugin"], "gantt");
    // Input that is not a dataset never reaches the plugin.
    let bad = s
        .post(
            "/api/v1/t/alpha/plugins/gantt/invoke",
            &a,
            json!({"input": {"dataset": {"columns": ["a"], "rows": [[1, 2]]}}}),
        )
        .await
        .expect(422);
    assert_eq!(errors(&bad.body)[0].0, "input.dataset.rows[0]");
}
both!(actions_and_widgets_case, actions_and_widgets);
