//! Forms: definitions are checked, and evolving a form with records loses nothing.

use serde_json::json;
use tests::{TestServer, both};

use crate::common::{customer, customers};

async fn rejects_bad_definitions(s: &TestServer) {
    let bad = s
        .post(
            "/api/v1/t/default/forms",
            &s.admin,
            json!({"key": "Bad Key", "name": "", "fields": [
                {"key": "id", "label": "Id", "type": "text"},
                {"key": "s", "label": "S", "type": "single_select"},
                {"key": "r", "label": "R", "type": "relation", "target": "nowhere"},
                {"key": "n", "label": "N", "type": "number", "min": 5, "max": 1},
                {"key": "a", "label": "A", "type": "auto_number", "format": "X-{yyyy}"},
                {"key": "f", "label": "F", "type": "formula", "formula": "n + "},
                {"key": "g", "label": "G", "type": "formula", "formula": "missing * 2"},
                {"key": "p", "label": "P", "type": "text", "pattern": "("}
            ]}),
        )
        .await
        .expect(422);
    let fields = bad.error_fields();
    for want in [
        "key",
        "name",
        "fields[0].key",
        "fields[1].options",
        "fields[2].target",
        "fields[3].min",
        "fields[4].format",
        "fields[7].pattern",
    ] {
        assert!(fields.contains(&want.to_owned()), "missing {want} in {fields:?}");
    }
    let formula = s
        .post(
            "/api/v1/t/default/forms",
            &s.admin,
            json!({"key": "calc", "name": "Calc", "fields": [
                {"key": "n", "label": "N", "type": "number"},
                {"key": "f", "label": "F", "type": "formula", "formula": "n + "},
                {"key": "g", "label": "G", "type": "formula", "formula": "missing * 2"},
                {"key": "h", "label": "H", "type": "formula", "formula": "i + 1"},
                {"key": "i", "label": "I", "type": "formula", "formula": "h + 1"}
            ]}),
        )
        .await
        .expect(422);
    let fields = formula.error_fields();
    assert_eq!(fields, ["fields[1].formula", "fields[2].formula", "fields[3].formula", "fields[4].formula"]);
    assert!(formula.body["errors"][1]["message"].as_str().unwrap_or("").contains("missing"));
    s.get("/api/v1/t/default/forms/calc", &s.admin).await.expect(404);
}
both!(rejects_bad_definitions_case, rejects_bad_definitions);

async fn evolving_a_form_loses_nothing(s: &TestServer) {
    let admin = &s.admin;
    let form = customers(s, "default", admin).await;
    let id = customer(s, "default", admin, "Evolve Inc").await;
    let path = format!("/api/v1/t/default/forms/customers/records/{id}");
    s.patch(&path, admin, json!({"data": {"credit": 42}})).await.expect(200);
    let mut fields = form["fields"].as_array().cloned().expect("fields");
    // Add a field, rename `credit` to `limit`, retire `tier`.
    fields.retain(|f| f["key"] != "tier");
    for f in &mut fields {
        if f["key"] == "credit" {
            f["key"] = json!("credit_limit");
            f["rename_from"] = json!("credit");
        }
    }
    fields.push(json!({"key": "city", "label": {"en": "City", "zh": "城市"}, "type": "text"}));
    let updated = s.patch("/api/v1/t/default/forms/customers", admin, json!({"fields": fields})).await.expect(200);
    assert_eq!(updated.body["version"], 2);
    let retired: Vec<&str> = updated.body["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter(|f| f["retired"] == true)
        .filter_map(|f| f["key"].as_str())
        .collect();
    assert_eq!(retired, ["tier"]);
    let r = s.get(&path, admin).await.expect(200);
    assert_eq!(r.body["data"], json!({"name": "Evolve Inc", "credit_limit": 42}));
    // The renamed field filters and sorts under its new name; its index came along.
    let list = s
        .get("/api/v1/t/default/forms/customers/records?filter=credit_limit%20%3D%2042&sort=-credit_limit", admin)
        .await;
    assert_eq!(list.expect(200).body["items"].as_array().map(Vec::len), Some(1));
    // The retired field takes no input...
    s.patch(&path, admin, json!({"data": {"tier": "gold"}})).await.expect(422);
    // ...and comes back with its data when it returns.
    let mut back = updated.body["fields"].as_array().cloned().expect("fields");
    for f in &mut back {
        if f["key"] == "tier" {
            f.as_object_mut().expect("object").remove("retired");
        }
    }
    s.patch("/api/v1/t/default/forms/customers", admin, json!({"fields": back})).await.expect(200);
    let r = s.get(&path, admin).await.expect(200);
    assert_eq!(r.body["data"]["tier"], "gold");
    // Changing a type is refused; so is making a field unique while records share a value.
    let mut retype = back.clone();
    for f in &mut retype {
        if f["key"] == "city" {
            f["type"] = json!("number");
        }
    }
    s.patch("/api/v1/t/default/forms/customers", admin, json!({"fields": retype})).await.expect(422);
    customer(s, "default", admin, "Second").await;
    let mut uniq = back.clone();
    for f in &mut uniq {
        if f["key"] == "tier" {
            f["unique"] = json!(true);
        }
    }
    s.patch("/api/v1/t/default/forms/customers", admin, json!({"fields": uniq})).await.expect(409);
    // The unique name still holds after all this.
    s.post("/api/v1/t/default/forms/customers/records", admin, json!({"data": {"name": "evolve inc"}}))
        .await
        .expect(409);
}
both!(evolving_a_form_loses_nothing_case, evolving_a_form_loses_nothing);

async fn apps_hold_forms(s: &TestServer) {
    let admin = &s.admin;
    s.post("/api/v1/t/default/apps", admin, json!({"key": "sales", "name": "Sales"})).await.expect(201);
    s.post("/api/v1/t/default/apps", admin, json!({"key": "sales", "name": "Again"})).await.expect(409);
    s.post(
        "/api/v1/t/default/forms",
        admin,
        json!({"key": "leads", "name": "Leads", "app": "sales", "fields": [{"key": "name", "label": "Name", "type": "text"}]}),
    )
    .await
    .expect(201);
    let app = s.patch("/api/v1/t/default/apps/sales", admin, json!({"description": "Pipeline"})).await.expect(200);
    assert_eq!(app.body["description"], "Pipeline");
    assert_eq!(s.get("/api/v1/t/default/forms/leads", admin).await.expect(200).body["app"], "sales");
    let held = s.delete("/api/v1/t/default/apps/sales", admin).await.expect(409);
    assert!(held.body["detail"].as_str().unwrap_or("").contains("leads"));
    s.delete("/api/v1/t/default/forms/leads", admin).await.expect(204);
    s.delete("/api/v1/t/default/apps/sales", admin).await.expect(204);
    s.get("/api/v1/t/default/apps/sales", admin).await.expect(404);
}
both!(apps_hold_forms_case, apps_hold_forms);
