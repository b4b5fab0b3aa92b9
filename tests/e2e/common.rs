//! Forms shared by several tests.

use serde_json::{Value, json};
use tests::TestServer;

/// A `customers` form: a unique (case- and space-insensitive) name, a tier option.
pub async fn customers(s: &TestServer, tenant: &str, token: &str) -> Value {
    s.post(
        &format!("/api/v1/t/{tenant}/forms"),
        token,
        json!({
            "key": "customers",
            "name": {"en": "Customers", "zh": "客户"},
            "fields": [
                {"key": "name", "label": {"en": "Name", "zh": "名称"}, "type": "text", "required": true, "unique": true, "unique_normalized": true},
                {"key": "tier", "label": "Tier", "type": "single_select", "options": ["gold", {"value": "silver", "label": {"en": "Silver", "zh": "银"}}]},
                {"key": "credit", "label": "Credit", "type": "number", "indexed": true}
            ]
        }),
    )
    .await
    .expect(201)
    .body
}

/// Creates a customer; returns its id.
pub async fn customer(s: &TestServer, tenant: &str, token: &str, name: &str) -> i64 {
    s.post(
        &format!("/api/v1/t/{tenant}/forms/customers/records"),
        token,
        json!({"data": {"name": name, "tier": "gold"}}),
    )
    .await
    .expect(201)
    .body["id"]
        .as_i64()
        .expect("id")
}

/// Number of records in a form, as the list shows them.
pub async fn count(s: &TestServer, tenant: &str, token: &str, form: &str) -> usize {
    s.get(&format!("/api/v1/t/{tenant}/forms/{form}/records?limit=1000"), token).await.expect(200).body["items"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0)
}
