//! Bad input gets a clear 4xx problem document, never a 500, and nothing is stored.

use reqwest::Method;
use serde_json::json;
use tests::{TestServer, both};

use crate::common::{count, customers};

const RECORDS: &str = "/api/v1/t/default/forms/customers/records";

async fn bad_input_is_refused_cleanly(s: &TestServer) {
    let admin = &s.admin;
    customers(s, "default", admin).await;
    let raw = |body: &[u8], ct: &'static str| s.call_raw(Method::POST, RECORDS, Some(admin), ct, body.to_vec());

    let malformed = raw(br#"{"data": {"name": "x""#, "application/json").await;
    assert_eq!(malformed.status, 400, "{}", malformed.body);
    assert!(malformed.is_problem());
    assert!(malformed.body["detail"].as_str().unwrap_or("").contains("malformed JSON"));

    let not_utf8 = raw(b"{\"data\": {\"name\": \"\xff\xfe\"}}", "application/json").await;
    assert_eq!(not_utf8.status, 400);
    assert!(not_utf8.body["detail"].as_str().unwrap_or("").contains("UTF-8"));

    let wrong_ct = raw(br#"{"data": {"name": "x"}}"#, "text/plain").await;
    assert_eq!(wrong_ct.status, 400);
    assert!(wrong_ct.is_problem());

    let wrong_shape = s.post(RECORDS, admin, json!({"data": "x"})).await.expect(422);
    assert_eq!(wrong_shape.error_fields(), ["data"]);
    let unknown_top = s.post(RECORDS, admin, json!({"data": {"name": "x"}, "extra": 1})).await.expect(422);
    assert_eq!(unknown_top.error_fields(), ["extra"]);
    let unknown_field = s.post(RECORDS, admin, json!({"data": {"name": "x", "nope": 1}})).await.expect(422);
    assert_eq!(unknown_field.error_fields(), ["data.nope"]);
    let wrong_types =
        s.post(RECORDS, admin, json!({"data": {"name": 12, "credit": "12", "tier": ["gold"]}})).await.expect(422);
    assert_eq!(wrong_types.error_fields(), ["data.name", "data.tier", "data.credit"]);

    let huge = "x".repeat(9 << 20);
    let body = format!(r#"{{"data": {{"name": "{huge}"}}}}"#).into_bytes();
    let (status, text) = tests::raw_post(&s.base, RECORDS, admin, "application/json", body).await;
    assert_eq!(status, 413, "{text:.300}");
    assert!(text.contains("application/problem+json"), "{text:.300}");
    let long_name = s.post(RECORDS, admin, json!({"data": {"name": "y".repeat(5000)}})).await.expect(422);
    assert_eq!(long_name.error_fields(), ["data.name"]);

    for filter in ["name = ", "credit > \"a\"", "nosuch = 1", "(((", "name ~ 5", "credit in tier"] {
        let url = format!("{RECORDS}?filter={}", tests::urlencode(filter));
        let a = s.get(&url, admin).await;
        assert_eq!(a.status, 422, "filter {filter:?}: {}", a.body);
        assert_eq!(a.error_fields(), ["filter"]);
    }
    for (query, field) in
        [("sort=nosuch", "sort"), ("limit=0", "limit"), ("limit=100000", "limit"), ("cursor=%%%", "cursor")]
    {
        let a = s.get(&format!("{RECORDS}?{query}"), admin).await;
        assert!(a.status == 422 || a.status == 400, "{query}: {} {}", a.status, a.body);
        assert!(a.is_problem());
        if a.status == 422 {
            assert_eq!(a.error_fields(), [field]);
        }
    }
    let a = s.get(&format!("{RECORDS}?limit=abc"), admin).await;
    assert_eq!(a.status, 400);
    assert!(a.is_problem());

    // Unknown things are 404s, not 500s.
    for path in [
        format!("{RECORDS}/abc"),
        format!("{RECORDS}/999999"),
        format!("{RECORDS}/-1"),
        "/api/v1/t/default/forms/nosuch/records".to_owned(),
        "/api/v1/t/nosuch/forms".to_owned(),
        "/api/v1/nothing-here".to_owned(),
    ] {
        let a = s.get(&path, admin).await;
        assert_eq!(a.status, 404, "{path}: {}", a.body);
        assert!(a.is_problem());
    }
    let a = s.patch(&format!("{RECORDS}/999999"), admin, json!({"data": {"name": "x"}})).await;
    assert_eq!(a.status, 404);
    let a = s
        .call_with(
            Method::PATCH,
            &format!("{RECORDS}/1"),
            Some(admin),
            Some(json!({"data": {}})),
            &[("if-match", "abc")],
        )
        .await;
    assert!(a.status == 422 || a.status == 404, "{}", a.status);
    let a = s.call(Method::PUT, RECORDS, Some(admin), Some(json!({}))).await;
    assert_eq!(a.status, 405);
    assert!(a.is_problem());

    assert_eq!(count(s, "default", admin, "customers").await, 0, "nothing was stored");
}
both!(bad_input_is_refused_cleanly_case, bad_input_is_refused_cleanly);
