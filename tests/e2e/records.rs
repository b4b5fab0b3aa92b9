//! Records through the API: every field type, data standards, concurrency, history,
//! relations, lists, bulk, upsert, idempotency, permissions.

use chrono::Datelike;
use reqwest::Method;
use serde_json::{Value, json};
use tests::{TestServer, both};

use crate::common::{count, customer, customers};

async fn orders_form(s: &TestServer, token: &str) -> Value {
    s.post(
        "/api/v1/t/default/forms",
        token,
        json!({
            "key": "orders",
            "name": "Orders",
            "fields": [
                {"key": "no", "label": "No.", "type": "auto_number", "format": "SO-{yyyy}-{0000}"},
                {"key": "title", "label": "Title", "type": "text", "required": true},
                {"key": "notes", "label": "Notes", "type": "long_text"},
                {"key": "qty", "label": "Qty", "type": "integer", "min": 1},
                {"key": "price", "label": "Price", "type": "decimal", "scale": 2},
                {"key": "weight", "label": "Weight", "type": "number"},
                {"key": "due", "label": "Due", "type": "date"},
                {"key": "at", "label": "At", "type": "datetime"},
                {"key": "urgent", "label": "Urgent", "type": "boolean"},
                {"key": "status", "label": "Status", "type": "single_select", "options": ["draft", "confirmed"], "default": "draft"},
                {"key": "tags", "label": "Tags", "type": "multi_select", "options": ["a", "b", "c"]},
                {"key": "owner", "label": "Owner", "type": "user"},
                {"key": "dept", "label": "Department", "type": "department"},
                {"key": "customer", "label": "Customer", "type": "relation", "target": "customers"},
                {"key": "lines", "label": "Lines", "type": "subtable", "fields": [
                    {"key": "product", "label": "Product", "type": "text", "required": true},
                    {"key": "qty", "label": "Qty", "type": "integer", "min": 1}
                ]},
                {"key": "total", "label": "Total", "type": "formula", "formula": "qty * price"},
                {"key": "big", "label": "Big order", "type": "formula", "formula": "total > 1000 and customer.tier = \"gold\""},
                {"key": "file", "label": "File", "type": "attachment"}
            ]
        }),
    )
    .await
    .expect(201)
    .body
}

async fn stores_every_field_type(s: &TestServer) {
    let admin = &s.admin;
    customers(s, "default", admin).await;
    let form = orders_form(s, admin).await;
    assert_eq!(form["fields"].as_array().map(Vec::len), Some(18));
    let acme = customer(s, "default", admin, "ACME Ltd").await;
    let dept =
        s.post("/api/v1/t/default/departments", admin, json!({"name": "Sales"})).await.expect(201).body["id"].clone();
    let me = s.get("/api/v1/auth/me", admin).await.expect(200).body["id"].clone();
    let file = s
        .call_raw(
            Method::POST,
            "/api/v1/t/default/attachments?name=spec.txt",
            Some(admin),
            "text/plain",
            b"hello".to_vec(),
        )
        .await
        .expect(201)
        .body["id"]
        .clone();
    let created = s
        .post(
            "/api/v1/t/default/forms/orders/records",
            admin,
            json!({"data": {
                "title": "  First order ", "notes": "line 1\nline 2", "qty": 4, "price": "300.50", "weight": 2.5,
                "due": "2026-12-01", "at": "2026-12-01T08:00:00+08:00", "urgent": true, "tags": ["b", "a", "b"],
                "owner": me, "dept": dept, "customer": acme, "file": file,
                "lines": [{"product": "bolt", "qty": 10}, {"product": "nut"}]
            }}),
        )
        .await
        .expect(201);
    let data = &created.body["data"];
    let year = chrono::Utc::now().year();
    assert_eq!(data["no"], json!(format!("SO-{year}-0001")));
    assert_eq!(data["title"], "First order");
    assert_eq!(data["price"], json!(300.5));
    assert_eq!(data["at"], "2026-12-01T00:00:00.000Z");
    assert_eq!(data["status"], "draft", "default applies");
    assert_eq!(data["tags"], json!(["b", "a"]));
    assert_eq!(data["total"], json!(1202));
    assert_eq!(data["big"], json!(true), "formula reads through the relation");
    assert_eq!(data["lines"], json!([{"product": "bolt", "qty": 10}, {"product": "nut"}]));
    assert_eq!(created.headers["etag"], "\"1\"");
    let id = created.body["id"].as_i64().expect("id");
    let fetched = s.get(&format!("/api/v1/t/default/forms/orders/records/{id}"), admin).await.expect(200);
    assert_eq!(fetched.body["data"], *data);
    // The second order gets the next number.
    let second =
        s.post("/api/v1/t/default/forms/orders/records", admin, json!({"data": {"title": "Second"}})).await.expect(201);
    assert_eq!(second.body["data"]["no"], json!(format!("SO-{year}-0002")));
    // Expanding the relation.
    let list = s.get("/api/v1/t/default/forms/orders/records?expand=customer&sort=id", admin).await.expect(200);
    assert_eq!(list.body["items"][0]["expanded"]["customer"]["data"]["name"], "ACME Ltd");
    // Computed fields take no input; sub-table lines are checked.
    let bad = s
        .post(
            "/api/v1/t/default/forms/orders/records",
            admin,
            json!({"data": {"title": "x", "total": 5, "lines": [{"qty": 0}]}}),
        )
        .await
        .expect(422);
    let fields = bad.error_fields();
    assert!(fields.contains(&"data.total".to_owned()), "{fields:?}");
    assert!(fields.contains(&"data.lines[0].product".to_owned()), "{fields:?}");
    assert!(fields.contains(&"data.lines[0].qty".to_owned()), "{fields:?}");
}
both!(stores_every_field_type_case, stores_every_field_type);

async fn data_standards_hold(s: &TestServer) {
    let admin = &s.admin;
    customers(s, "default", admin).await;
    customer(s, "default", admin, "ACME Ltd").await;
    let dup = s
        .post("/api/v1/t/default/forms/customers/records", admin, json!({"data": {"name": "  acme   LTD "}}))
        .await
        .expect(409);
    assert!(dup.is_problem());
    assert_eq!(dup.error_fields(), vec!["data.name"]);
    let bad_option = s
        .post("/api/v1/t/default/forms/customers/records", admin, json!({"data": {"name": "Beta", "tier": "platinum"}}))
        .await
        .expect(422);
    assert_eq!(bad_option.error_fields(), vec!["data.tier"]);
    assert!(bad_option.body["errors"][0]["message"].as_str().unwrap_or("").contains("platinum"));
    let missing =
        s.post("/api/v1/t/default/forms/customers/records", admin, json!({"data": {"tier": "gold"}})).await.expect(422);
    assert_eq!(missing.error_fields(), vec!["data.name"]);
    assert_eq!(count(s, "default", admin, "customers").await, 1, "nothing half-written");
    // A deleted record frees its unique value; restoring it while the value is taken is refused.
    let id =
        s.get("/api/v1/t/default/forms/customers/records", admin).await.body["items"][0]["id"].as_i64().expect("id");
    s.delete(&format!("/api/v1/t/default/forms/customers/records/{id}"), admin).await.expect(204);
    customer(s, "default", admin, "Acme ltd").await;
    let restore =
        s.post(&format!("/api/v1/t/default/forms/customers/records/{id}/restore"), admin, json!({})).await.expect(409);
    assert_eq!(restore.error_fields(), vec!["data.name"]);
}
both!(data_standards_hold_case, data_standards_hold);

async fn concurrent_patches_one_wins(s: &TestServer) {
    let admin = &s.admin;
    customers(s, "default", admin).await;
    let id = customer(s, "default", admin, "Racer").await;
    let path = format!("/api/v1/t/default/forms/customers/records/{id}");
    for round in 0..5 {
        let version = s.get(&path, admin).await.expect(200).body["version"].as_i64().expect("version");
        let etag = format!("\"{version}\"");
        let headers = [("if-match", etag.as_str())];
        let a =
            s.call_with(Method::PATCH, &path, Some(admin), Some(json!({"data": {"credit": round * 10 + 1}})), &headers);
        let b =
            s.call_with(Method::PATCH, &path, Some(admin), Some(json!({"data": {"credit": round * 10 + 2}})), &headers);
        let (a, b) = tokio::join!(a, b);
        let mut statuses = [a.status.as_u16(), b.status.as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 412], "round {round}: {} / {}", a.body, b.body);
        let (winner, loser) = if a.status == 200 { (a, b) } else { (b, a) };
        assert!(loser.is_problem());
        assert_eq!(loser.body["current_version"], json!(version + 1));
        let now = s.get(&path, admin).await.expect(200);
        assert_eq!(now.body["data"]["credit"], winner.body["data"]["credit"], "the winner's change is what is stored");
        assert_eq!(now.body["version"], json!(version + 1));
    }
    // A stale If-Match is refused; a bare number is accepted too; no If-Match applies to the current version.
    s.call_with(Method::PATCH, &path, Some(admin), Some(json!({"data": {"credit": 1}})), &[("if-match", "\"1\"")])
        .await
        .expect(412);
    let current = s.get(&path, admin).await.body["version"].as_i64().expect("v");
    s.call_with(
        Method::PATCH,
        &path,
        Some(admin),
        Some(json!({"data": {"credit": 7}})),
        &[("if-match", &current.to_string())],
    )
    .await
    .expect(200);
    s.patch(&path, admin, json!({"data": {"credit": 8}})).await.expect(200);
    // Without If-Match, concurrent changes to different fields all land: nothing is lost.
    let c1 = s.patch(&path, admin, json!({"data": {"tier": "silver"}}));
    let c2 = s.patch(&path, admin, json!({"data": {"credit": 99}}));
    let (c1, c2) = tokio::join!(c1, c2);
    c1.expect(200);
    c2.expect(200);
    let last = s.get(&path, admin).await.expect(200);
    assert_eq!(last.body["data"]["tier"], "silver");
    assert_eq!(last.body["data"]["credit"], 99);
}
both!(concurrent_patches_one_wins_case, concurrent_patches_one_wins);

async fn history_shows_every_change(s: &TestServer) {
    let admin = &s.admin;
    customers(s, "default", admin).await;
    let id = customer(s, "default", admin, "Historic").await;
    let path = format!("/api/v1/t/default/forms/customers/records/{id}");
    s.patch(&path, admin, json!({"data": {"credit": 5}})).await.expect(200);
    s.patch(&path, admin, json!({"data": {"credit": 6, "tier": null}})).await.expect(200);
    s.patch(&path, admin, json!({"data": {"credit": 6}})).await.expect(200); // no change, no revision
    s.delete(&path, admin).await.expect(204);
    s.get(&path, admin).await.expect(404);
    s.post(&format!("{path}/restore"), admin, json!({})).await.expect(200);
    let h = s.get(&format!("{path}/history"), admin).await.expect(200).body;
    let ops: Vec<&str> = h.as_array().expect("list").iter().filter_map(|r| r["op"].as_str()).collect();
    assert_eq!(ops, ["create", "update", "update", "delete", "restore"]);
    assert_eq!(h[0]["changes"]["name"], "Historic");
    assert_eq!(h[1]["changes"]["credit"], json!([null, 5]));
    assert_eq!(h[2]["changes"], json!({"credit": [5, 6], "tier": ["gold", null]}));
    let me = s.get("/api/v1/auth/me", admin).await.body["id"].clone();
    assert!(h.as_array().expect("list").iter().all(|r| r["actor_id"] == me && r["at"].is_string()));
    assert_eq!(s.get(&path, admin).await.expect(200).body["version"], 5);
}
both!(history_shows_every_change_case, history_shows_every_change);

async fn relation_to_other_tenant_is_refused(s: &TestServer) {
    let a = s.tenant("alpha").await;
    let b = s.tenant("beta").await;
    customers(s, "alpha", &a).await;
    customers(s, "beta", &b).await;
    let theirs = customer(s, "beta", &b, "Their customer").await;
    let ours = customer(s, "alpha", &a, "Our customer").await;
    s.post(
        "/api/v1/t/alpha/forms",
        &a,
        json!({"key": "deals", "name": "Deals", "fields": [{"key": "customer", "label": "Customer", "type": "relation", "target": "customers"}]}),
    )
    .await
    .expect(201);
    let refused =
        s.post("/api/v1/t/alpha/forms/deals/records", &a, json!({"data": {"customer": theirs}})).await.expect(422);
    assert_eq!(refused.error_fields(), vec!["data.customer"]);
    s.post("/api/v1/t/alpha/forms/deals/records", &a, json!({"data": {"customer": ours}})).await.expect(201);
    assert_eq!(count(s, "alpha", &a, "deals").await, 1);
}
both!(relation_to_other_tenant_is_refused_case, relation_to_other_tenant_is_refused);

async fn lists_filter_sort_and_page(s: &TestServer) {
    let admin = &s.admin;
    customers(s, "default", admin).await;
    let rows: Vec<Value> = (0..40)
        .map(|i| {
            let mut d = json!({"name": format!("Customer {i:02}"), "tier": if i % 3 == 0 { "gold" } else { "silver" }});
            if i % 7 != 0 {
                d["credit"] = json!((i * 37) % 23);
            }
            json!({"data": d})
        })
        .collect();
    s.post("/api/v1/t/default/forms/customers/records/bulk", admin, json!({"records": rows})).await.expect(201);
    // Expected order computed here: credit descending (missing last), then id.
    let all =
        s.get("/api/v1/t/default/forms/customers/records?limit=1000&sort=id", admin).await.expect(200).body["items"]
            .clone();
    let mut expected: Vec<(Option<i64>, i64, String)> = all
        .as_array()
        .expect("items")
        .iter()
        .filter(|r| r["data"]["tier"] == "silver")
        .map(|r| {
            (
                r["data"]["credit"].as_i64(),
                r["id"].as_i64().expect("id"),
                r["data"]["name"].as_str().expect("name").to_owned(),
            )
        })
        .collect();
    // Without an explicit tie-break, ties go by id in the direction of the last key.
    for (sort, ids_desc) in [("-credit", true), ("-credit,id", false), ("-credit,-id", true)] {
        expected.sort_by(|a, b| {
            let by_id = if ids_desc { b.1.cmp(&a.1) } else { a.1.cmp(&b.1) };
            match (a.0, b.0) {
                (Some(x), Some(y)) => y.cmp(&x).then(by_id),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => by_id,
            }
        });
        let mut got = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!(
                "/api/v1/t/default/forms/customers/records?filter=tier%20%3D%20%22silver%22&sort={sort}&limit=4"
            );
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let page = s.get(&url, admin).await.expect(200).body;
            for r in page["items"].as_array().expect("items") {
                got.push(r["data"]["name"].as_str().expect("name").to_owned());
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        let want: Vec<String> = expected.iter().map(|e| e.2.clone()).collect();
        assert_eq!(got, want, "sort {sort}");
    }
    // Ascending with missing values first, text search, field selection.
    let asc = s.get("/api/v1/t/default/forms/customers/records?sort=credit&limit=1", admin).await.expect(200).body;
    assert!(asc["items"][0]["data"].get("credit").is_none());
    let found = s.get("/api/v1/t/default/forms/customers/records?q=customer%2007", admin).await.expect(200).body;
    assert_eq!(found["items"].as_array().map(Vec::len), Some(1));
    let slim = s.get("/api/v1/t/default/forms/customers/records?fields=name&limit=1", admin).await.expect(200).body;
    assert_eq!(slim["items"][0]["data"].as_object().map(|m| m.len()), Some(1));
    let filtered = s
        .get("/api/v1/t/default/forms/customers/records?filter=credit%20%3E%3D%2020%20or%20credit%20is%20null&limit=1000", admin)
        .await
        .expect(200)
        .body;
    let n =
        all.as_array().expect("items").iter().filter(|r| r["data"]["credit"].as_i64().is_none_or(|c| c >= 20)).count();
    assert_eq!(filtered["items"].as_array().map(Vec::len), Some(n));
    // A cursor for another sort is refused.
    let page = s.get("/api/v1/t/default/forms/customers/records?sort=name&limit=2", admin).await.body;
    let c = page["next_cursor"].as_str().expect("cursor");
    s.get(&format!("/api/v1/t/default/forms/customers/records?sort=credit&cursor={c}"), admin).await.expect(422);
}
both!(lists_filter_sort_and_page_case, lists_filter_sort_and_page);

async fn bulk_is_all_or_nothing(s: &TestServer) {
    let admin = &s.admin;
    customers(s, "default", admin).await;
    customer(s, "default", admin, "Existing").await;
    let bad = s
        .post(
            "/api/v1/t/default/forms/customers/records/bulk",
            admin,
            json!({"records": [
                {"data": {"name": "One"}},
                {"data": {"name": "existing"}},
                {"data": {"tier": "gold"}},
                {"data": {"name": "one"}},
                {"data": {"name": "Five", "credit": "lots"}}
            ]}),
        )
        .await
        .expect(422);
    let mut fields = bad.error_fields();
    fields.sort();
    assert_eq!(
        fields,
        ["records[1].data.name", "records[2].data.name", "records[3].data.name", "records[4].data.credit"]
    );
    assert_eq!(count(s, "default", admin, "customers").await, 1);
    let rows: Vec<Value> = (0..500).map(|i| json!({"data": {"name": format!("Bulk {i}"), "credit": i}})).collect();
    let ok =
        s.post("/api/v1/t/default/forms/customers/records/bulk", admin, json!({"records": rows})).await.expect(201);
    let items = ok.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 500);
    // Ids map to the right rows.
    let probe = &items[321];
    let fetched = s.get(&format!("/api/v1/t/default/forms/customers/records/{}", probe["id"]), admin).await.expect(200);
    assert_eq!(fetched.body["data"]["name"], "Bulk 321");
    assert_eq!(count(s, "default", admin, "customers").await, 501);

    // An importer can ask for the ids only.
    let rows: Vec<Value> = (0..3).map(|i| json!({"data": {"name": format!("Minimal {i}")}})).collect();
    let minimal = s
        .call_with(
            Method::POST,
            "/api/v1/t/default/forms/customers/records/bulk",
            Some(admin),
            Some(json!({"records": rows})),
            &[("prefer", "return=minimal")],
        )
        .await
        .expect(201);
    assert_eq!(minimal.headers["preference-applied"], "return=minimal");
    let ids = minimal.body["ids"].as_array().expect("ids");
    assert_eq!(ids.len(), 3);
    let third = s.get(&format!("/api/v1/t/default/forms/customers/records/{}", ids[2]), admin).await.expect(200);
    assert_eq!(third.body["data"]["name"], "Minimal 2");
    // Uniqueness holds for bulk-created values too.
    s.post("/api/v1/t/default/forms/customers/records", admin, json!({"data": {"name": "bulk 7"}})).await.expect(409);
}
both!(bulk_is_all_or_nothing_case, bulk_is_all_or_nothing);

async fn upsert_and_idempotency(s: &TestServer) {
    let admin = &s.admin;
    customers(s, "default", admin).await;
    let url = "/api/v1/t/default/forms/customers/records/upsert";
    let first =
        s.post(url, admin, json!({"match": "name", "data": {"name": "Synced Co", "credit": 1}})).await.expect(201);
    let second =
        s.post(url, admin, json!({"match": "name", "data": {"name": "SYNCED  co", "credit": 2}})).await.expect(200);
    assert_eq!(first.body["id"], second.body["id"]);
    assert_eq!(second.body["data"]["credit"], 2);
    s.post(url, admin, json!({"match": "tier", "data": {"tier": "gold"}})).await.expect(422);
    // Idempotency-Key: the retry gets the first answer, and only one record exists.
    let body = json!({"data": {"name": "Once"}});
    let create = "/api/v1/t/default/forms/customers/records";
    let a = s
        .call_with(Method::POST, create, Some(admin), Some(body.clone()), &[("idempotency-key", "k-1")])
        .await
        .expect(201);
    let b = s.call_with(Method::POST, create, Some(admin), Some(body), &[("idempotency-key", "k-1")]).await.expect(201);
    assert_eq!(a.body["id"], b.body["id"]);
    assert_eq!(b.headers.get("idempotent-replayed").map(|v| v.to_str().unwrap_or("")), Some("true"));
    s.call_with(
        Method::POST,
        create,
        Some(admin),
        Some(json!({"data": {"name": "Other"}})),
        &[("idempotency-key", "k-1")],
    )
    .await
    .expect(422);
    assert_eq!(count(s, "default", admin, "customers").await, 2);
}
both!(upsert_and_idempotency_case, upsert_and_idempotency);

async fn roles_limit_records_and_fields(s: &TestServer) {
    let admin = &s.admin;
    customers(s, "default", admin).await;
    let admins_record = customer(s, "default", admin, "Admin's").await;
    // A role that reads everything, changes only its own records, and cannot see `credit`.
    let perms = json!({"default": {"create": true, "read": "all", "update": "own", "delete": "own", "fields": {"credit": "hidden", "tier": "read_only"}}});
    s.post("/api/v1/t/default/roles", admin, json!({"name": "clerk", "permissions": perms})).await.expect(201);
    let (_, clerk) = s.member("default", admin, "clerk@example.com", "clerk").await;
    let path = format!("/api/v1/t/default/forms/customers/records/{admins_record}");
    s.patch(&path, admin, json!({"data": {"credit": 5}})).await.expect(200);
    let seen = s.get(&path, &clerk).await.expect(200);
    assert!(seen.body["data"].get("credit").is_none(), "hidden field is not shown: {}", seen.body);
    s.patch(&path, &clerk, json!({"data": {"name": "Mine now"}})).await.expect(403);
    s.delete(&path, &clerk).await.expect(403);
    let own = s
        .post("/api/v1/t/default/forms/customers/records", &clerk, json!({"data": {"name": "Clerk's"}}))
        .await
        .expect(201);
    let own_path = format!("/api/v1/t/default/forms/customers/records/{}", own.body["id"]);
    s.patch(&own_path, &clerk, json!({"data": {"name": "Clerk's renamed"}})).await.expect(200);
    let ro = s.patch(&own_path, &clerk, json!({"data": {"tier": "silver"}})).await.expect(422);
    assert_eq!(ro.error_fields(), vec!["data.tier"]);
    s.get("/api/v1/t/default/forms/customers/records?filter=credit%20%3E%201", &clerk).await.expect(422);
    // Members cannot change forms.
    s.post("/api/v1/t/default/forms", &clerk, json!({"key": "x", "name": "X", "fields": []})).await.expect(403);
}
both!(roles_limit_records_and_fields_case, roles_limit_records_and_fields);

async fn concurrent_creates_keep_their_own_outcome(s: &TestServer) {
    let admin = &s.admin;
    customers(s, "default", admin).await;
    customer(s, "default", admin, "Taken").await;
    // 40 creates at once: most distinct, some clashing with a stored name or with each other.
    let names: Vec<String> = (0..40)
        .map(|i| match i % 10 {
            3 => "taken".to_owned(),
            7 => "Twin".to_owned(),
            _ => format!("Distinct {i}"),
        })
        .collect();
    let answers = futures::future::join_all(
        names.iter().map(|n| s.post("/api/v1/t/default/forms/customers/records", admin, json!({"data": {"name": n}}))),
    )
    .await;
    let mut twins = 0;
    for (name, a) in names.iter().zip(&answers) {
        match name.as_str() {
            "taken" => {
                assert_eq!(a.status, 409, "{name}: {}", a.body);
                assert_eq!(a.error_fields(), ["data.name"]);
            }
            "Twin" if a.status == 201 => twins += 1,
            "Twin" => assert_eq!(a.status, 409, "{}", a.body),
            _ => {
                assert_eq!(a.status, 201, "{name}: {}", a.body);
                let id = a.body["id"].as_i64().expect("id");
                let got = s.get(&format!("/api/v1/t/default/forms/customers/records/{id}"), admin).await.expect(200);
                assert_eq!(got.body["data"]["name"], name.as_str(), "the id answered belongs to this record");
            }
        }
    }
    assert_eq!(twins, 1, "exactly one of the clashing creates wins");
    assert_eq!(count(s, "default", admin, "customers").await, 1 + 32 + 1);
    let history = s.get("/api/v1/t/default/forms/customers/records?limit=1000", admin).await.expect(200);
    for r in history.body["items"].as_array().expect("items") {
        let h =
            s.get(&format!("/api/v1/t/default/forms/customers/records/{}/history", r["id"]), admin).await.expect(200);
        assert_eq!(h.body[0]["changes"]["name"], r["data"]["name"], "each revision belongs to its record");
    }
}
both!(concurrent_creates_keep_their_own_outcome_case, concurrent_creates_keep_their_own_outcome);

async fn bulk_clash_with_stored_values_names_every_row(s: &TestServer) {
    let admin = &s.admin;
    customers(s, "default", admin).await;
    customer(s, "default", admin, "Stored One").await;
    customer(s, "default", admin, "Stored Two").await;
    let rows: Vec<Value> =
        ["Fresh A", "stored one", "Fresh B", "STORED TWO"].iter().map(|n| json!({"data": {"name": n}})).collect();
    let clash =
        s.post("/api/v1/t/default/forms/customers/records/bulk", admin, json!({"records": rows})).await.expect(409);
    assert_eq!(clash.error_fields(), ["records[1].data.name", "records[3].data.name"]);
    assert_eq!(count(s, "default", admin, "customers").await, 2, "nothing of the batch was stored");
}
both!(bulk_clash_with_stored_values_names_every_row_case, bulk_clash_with_stored_values_names_every_row);

async fn csv_import_reports_each_line(s: &TestServer) {
    let admin = &s.admin;
    customers(s, "default", admin).await;
    customer(s, "default", admin, "Existing Co").await;
    let csv = "名称,Tier,credit\nNorth Ltd,gold,\"1,500\"\nSouth Ltd,platinum,3\nexisting co,silver,\nEast Ltd,,7\n";
    let url = "/api/v1/t/default/forms/customers/records/import";
    let all = s.call_raw(Method::POST, url, Some(admin), "text/csv", csv.as_bytes().to_vec()).await.expect(422);
    assert_eq!(all.error_fields(), ["line 3: tier", "line 4: name"]);
    assert_eq!(count(s, "default", admin, "customers").await, 1, "all or nothing");
    let valid = s
        .call_raw(Method::POST, &format!("{url}?mode=valid"), Some(admin), "text/csv", csv.as_bytes().to_vec())
        .await
        .expect(200);
    assert_eq!(valid.body["created"], 2);
    let lines: Vec<&str> =
        valid.body["errors"].as_array().expect("errors").iter().filter_map(|e| e["field"].as_str()).collect();
    assert_eq!(lines, ["line 3: tier", "line 4: name"]);
    let id = valid.body["ids"][0].as_i64().expect("id");
    let north = s.get(&format!("/api/v1/t/default/forms/customers/records/{id}"), admin).await.expect(200);
    assert_eq!(north.body["data"], json!({"name": "North Ltd", "tier": "gold", "credit": 1500}));
    assert_eq!(count(s, "default", admin, "customers").await, 3);
    let bad_header =
        s.call_raw(Method::POST, url, Some(admin), "text/csv", b"name,colour\nx,red\n".to_vec()).await.expect(422);
    assert_eq!(bad_header.error_fields(), ["header[1]"]);
}
both!(csv_import_reports_each_line_case, csv_import_reports_each_line);
