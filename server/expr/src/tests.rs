//! Data-driven unit tests: parse errors, type errors, evaluation results and SQL text for both
//! dialects. Each table lists `input => expected`; a failing row prints every mismatch at once.

use std::collections::HashMap;

use chrono::{NaiveDate, TimeZone, Utc};
use serde_json::{Value as Json, json};

use crate::{Context, Dialect, Env, Field, Schema, SqlParams, SqlValue, Type};

const ORDERS: i64 = 1;
const CUSTOMERS: i64 = 2;
const LINES: i64 = 3;

struct TestSchema;

impl Schema for TestSchema {
    fn field(&self, form: i64, key: &str) -> Option<Field> {
        Some(match (form, key) {
            (_, "id") => Field::column(Type::Number, "id"),
            (_, "version") => Field::column(Type::Number, "version"),
            (_, "created_at") => Field::column(Type::DateTime, "created_at"),
            (ORDERS, "name") => Field::json(Type::Text),
            (ORDERS, "status") => Field::json(Type::Text),
            (ORDERS, "amount") => Field::json(Type::Number),
            (ORDERS, "paid") => Field::json(Type::Bool),
            (ORDERS, "due") => Field::json(Type::Date),
            (ORDERS, "shipped_at") => Field::json(Type::DateTime),
            (ORDERS, "tags") => Field::json(Type::List(Box::new(Type::Text))),
            (ORDERS, "customer") => Field::relation(CUSTOMERS, false),
            (ORDERS, "lines") => Field::relation(LINES, true),
            (ORDERS, "in") => Field::json(Type::Text),
            (CUSTOMERS, "name") => Field::json(Type::Text),
            (CUSTOMERS, "credit") => Field::json(Type::Number),
            (CUSTOMERS, "parent") => Field::relation(CUSTOMERS, false),
            (CUSTOMERS, "tags") => Field::json(Type::List(Box::new(Type::Text))),
            _ => return None,
        })
    }

    fn field_keys(&self, form: i64) -> Vec<String> {
        let keys: &[&str] = match form {
            ORDERS => &[
                "id",
                "version",
                "created_at",
                "name",
                "status",
                "amount",
                "paid",
                "due",
                "shipped_at",
                "tags",
                "customer",
                "lines",
                "in",
            ],
            CUSTOMERS => &["id", "version", "created_at", "name", "credit", "parent", "tags"],
            _ => &[],
        };
        keys.iter().map(|k| k.to_string()).collect()
    }
}

/// A record plus the customers its relations point at.
struct TestEnv {
    record: Json,
    related: HashMap<i64, Json>,
}

impl Env for TestEnv {
    fn get(&self, path: &[String]) -> Json {
        let mut current = &self.record;
        for (i, key) in path.iter().enumerate() {
            let v = current.get(key).unwrap_or(&Json::Null);
            if i + 1 == path.len() {
                return v.clone();
            }
            match v.as_i64().and_then(|id| self.related.get(&id)) {
                Some(next) => current = next,
                None => return Json::Null,
            }
        }
        Json::Null
    }
}

fn ctx() -> Context {
    Context {
        now: Utc.with_ymd_and_hms(2026, 3, 15, 10, 30, 0).single().expect("valid time"),
        today: NaiveDate::from_ymd_opt(2026, 3, 15).expect("valid date"),
    }
}

/// Runs `f` on every case and fails once with all mismatches, so one run shows them all.
fn table(cases: &[(&str, &str)], f: impl Fn(&str) -> String) {
    let mut failures = Vec::new();
    for (input, expected) in cases {
        let got = f(input);
        if got != *expected {
            failures.push(format!("  {input}\n    expected: {expected}\n    got:      {got}"));
        }
    }
    assert!(failures.is_empty(), "mismatches:\n{}", failures.join("\n"));
}

fn parse_result(src: &str) -> String {
    match crate::parse(src) {
        Ok(_) => "ok".to_string(),
        Err(e) => format!("{} @{}", e, e.position()),
    }
}

fn check_result(src: &str) -> String {
    let expr = match crate::parse(src) {
        Ok(e) => e,
        Err(e) => return format!("parse error: {e}"),
    };
    match crate::check(&expr, &TestSchema, ORDERS) {
        Ok(t) => format!("ok: {}", t.ty()),
        Err(e) => e.to_string(),
    }
}

fn record() -> TestEnv {
    TestEnv {
        record: json!({
            "id": 7, "version": 3, "created_at": "2026-01-02T03:04:05.678Z",
            "name": "ACME Corp", "status": "confirmed", "amount": 1250.5, "paid": false,
            "due": "2026-03-01", "shipped_at": "2026-02-28T23:30:00.000Z",
            "tags": ["urgent", "b2b"], "customer": 42, "lines": [1, 2],
            "empty": "",
        }),
        related: HashMap::from([
            (42, json!({"name": "Ünïcode Ltd", "credit": -3.25, "parent": 43})),
            (43, json!({"name": "Parent Co", "credit": 10})),
        ]),
    }
}

fn eval_result(src: &str) -> String {
    let typed = match crate::parse(src)
        .map_err(|e| e.to_string())
        .and_then(|e| crate::check(&e, &TestSchema, ORDERS).map_err(|e| e.to_string()))
    {
        Ok(t) => t,
        Err(e) => return format!("error: {e}"),
    };
    crate::eval(&typed, &record(), &ctx()).to_json().to_string()
}

fn sql_result(d: Dialect, src: &str) -> String {
    let typed = match crate::parse(src)
        .map_err(|e| e.to_string())
        .and_then(|e| crate::check(&e, &TestSchema, ORDERS).map_err(|e| e.to_string()))
    {
        Ok(t) => t,
        Err(e) => return format!("error: {e}"),
    };
    let mut params = SqlParams::new(3);
    let sql = crate::to_sql(&typed, d, "r", &ctx(), &mut params);
    let shown: Vec<String> = params
        .values()
        .iter()
        .map(|v| match v {
            SqlValue::Null => "NULL".to_string(),
            SqlValue::Bool(b) => b.to_string(),
            SqlValue::Int(i) => i.to_string(),
            SqlValue::Float(f) => format!("{f:?}"),
            SqlValue::Text(s) => format!("{s:?}"),
        })
        .collect();
    format!("{sql} [{}]", shown.join(", "))
}

#[test]
fn parses_valid_syntax() {
    table(
        &[
            (r#"status = "confirmed" and amount > 1000 and customer.name ~ "ACME""#, "ok"),
            ("a AND b Or NOT c", "ok"),
            ("x in [1, -2, 3,]", "ok"),
            ("x not in []", "ok"),
            ("x is not null", "ok"),
            ("-(-3) * 2 % 5", "ok"),
            (r#""a\"b\\c\n\t\u{1F600}""#, "ok"),
            ("'single'", "ok"),
            ("`in` = 1", "ok"),
            ("f(1, g(2), (3))", "ok"),
            ("a <> b", "ok"),
        ],
        parse_result,
    );
}

#[test]
fn reports_parse_errors_with_position() {
    table(
        &[
            ("(amount > 1", "expected ')', found end of input at column 12 @11"),
            ("amount >", "unexpected end of input at column 9 @8"),
            ("amount > 1)", "unmatched ')' at column 11 @10"),
            ("a < b < c", "comparisons cannot be chained; combine them with `and` at column 7 @6"),
            ("amount = 1 2", "unexpected number 2; expected an operator at column 12 @11"),
            ("\"abc", "unterminated string at column 1 @0"),
            (r#""a\qb""#, "unknown escape \\q at column 3 @2"),
            (r#""\u{110000}""#, "invalid unicode escape \\u{110000} at column 2 @1"),
            ("amount # 2", "unexpected character '#' at column 8 @7"),
            ("12abc", "invalid number at column 1 @0"),
            ("[1, 2]", "a list [..] is only allowed after `in` or `not in` at column 1 @0"),
            ("x is 3", "expected `null` after `is`, found number 3 at column 6 @5"),
            ("f(1 2)", "expected ',' or ')', found number 2 at column 5 @4"),
            ("customer.", "expected a field key after '.', found end of input at column 10 @9"),
            ("é = 1", "unexpected character 'é' at column 1 @0"),
            ("\"é\" = (1", "expected ')', found end of input at column 9 @9"),
            ("a = 1\n  and (b", "expected ')', found end of input at line 2, column 9 @14"),
            ("`a b` = 1", "a field key may only contain letters, digits and '_' at column 1 @0"),
        ],
        parse_result,
    );
}

#[test]
fn nesting_depth_is_bounded() {
    let deep = format!("{}1{}", "(".repeat(500), ")".repeat(500));
    assert!(parse_result(&deep).starts_with("expression is nested too deeply"));
    let nots = format!("{}true", "not ".repeat(500));
    assert!(parse_result(&nots).starts_with("expression is nested too deeply"));
}

#[test]
fn checks_types() {
    table(
        &[
            ("amount > 1000", "ok: boolean"),
            ("amount + 1", "ok: number"),
            ("name + \"!\"", "ok: text"),
            ("due + 3", "ok: date"),
            ("3 + due", "ok: date"),
            ("due - \"2026-01-01\"", "ok: number"),
            ("shipped_at - 1", "ok: datetime"),
            ("due < \"2026-12-01\"", "ok: boolean"),
            ("shipped_at >= due", "ok: boolean"),
            ("created_at > \"2026-01-01T10:00:00+02:00\"", "ok: boolean"),
            ("\"urgent\" in tags", "ok: boolean"),
            ("5 in lines", "ok: boolean"),
            ("status in [\"a\", \"b\"]", "ok: boolean"),
            ("due in [\"2026-01-01\"]", "ok: boolean"),
            ("customer.parent.name", "ok: text"),
            ("`in` = \"x\"", "ok: boolean"),
            ("if(paid, amount, null)", "ok: number"),
            ("coalesce(null, name)", "ok: text"),
            ("coalesce(null, null)", "ok: null"),
            ("if(paid, due, shipped_at)", "ok: datetime"),
            ("min(due, \"2026-01-01\")", "ok: date"),
            ("round(amount, 2)", "ok: number"),
            ("date(\"2026-02-28\")", "ok: date"),
            ("year(\"2026-02-28\")", "ok: number"),
            ("tags", "ok: list of text"),
            ("tags is null", "ok: boolean"),
            ("NULL", "ok: null"),
            ("not null", "ok: boolean"),
            ("null + 1", "ok: number"),
        ],
        check_result,
    );
}

#[test]
fn reports_type_errors_with_span() {
    table(
        &[
            ("amout > 1", "unknown field `amout` (did you mean `amount`?) at column 1"),
            ("customer.nmae = \"x\"", "unknown field `customer.nmae` (did you mean `name`?) at column 1"),
            ("zzz = 1", "unknown field `zzz` at column 1"),
            ("amount > \"x\"", "cannot compare number with text at column 1"),
            ("name = 1 and paid", "cannot compare text with number at column 1"),
            ("amount = null", "comparing with null is always false; use `is null` at column 1"),
            ("amount != null", "comparing with null is always false; use `is not null` at column 1"),
            ("due < \"2026-13-01\"", "\"2026-13-01\" is not a valid date (expected YYYY-MM-DD) at column 7"),
            (
                "lines.name = \"x\"",
                "`lines` is a to-many relation, so `.name` cannot follow it; only to-one relations can be followed with '.' at column 1",
            ),
            ("amount.x = 1", "`amount` is not a relation, so `.x` cannot follow it at column 1"),
            ("paid < true", "booleans cannot be compared with '<' at column 1"),
            ("tags = \"x\"", "a list cannot be compared; use `x in list` to test membership at column 1"),
            (
                "1 in amount",
                "`in` needs a list [..] or a multi-select or to-many field on its right, found number at column 6",
            ),
            ("1 in tags", "`in` looks for a text in this list, found number at column 1"),
            ("amount in [1, \"a\"]", "list item is a text, but the value is a number at column 15"),
            ("amount in [1, null]", "null cannot be in a list; use `is null` at column 15"),
            ("amount in [1, amount]", "list items must be literals at column 15"),
            ("not amount", "`not` needs a boolean, found number at column 5"),
            ("amount and paid", "`and` needs a boolean, found number at column 1"),
            ("-name", "unary '-' needs a number, found text at column 2"),
            ("name * 2", "'*' needs a number, found text at column 1"),
            ("name + 1", "'+' on text needs a text, found number at column 8"),
            (
                "shipped_at - created_at",
                "only dates can be subtracted; use days_between(a, b) for date-times at column 1",
            ),
            ("frobnicate(1)", "unknown function `frobnicate` at column 1"),
            ("lowr(name)", "unknown function `lowr` (did you mean `lower`?) at column 1"),
            ("round(amount, 1.5)", "the digits of round() must be a whole number from 0 to 10 at column 15"),
            ("round(amount, 1, 2)", "round() takes 1 or 2 arguments, found 3 at column 1"),
            ("today(1)", "today() takes 0 arguments, found 1 at column 1"),
            ("coalesce(name, status, name)", "coalesce() takes 2 arguments, found 3 at column 1"),
            ("if(paid, 1, \"a\")", "both branches of if() must have one type, found number and text at column 1"),
            ("min(paid, paid)", "min() cannot compare boolean values at column 1"),
            ("date(name)", "date() takes a string literal, like date(\"2026-12-01\") at column 6"),
            ("name ~ null", "`~` with null is always false; use `is null` at column 1"),
            // Several errors are reported at once.
            (
                "amout > 1 and stauts = \"x\"",
                "unknown field `amout` (did you mean `amount`?) at column 1; unknown field `stauts` (did you mean `status`?) at column 15",
            ),
        ],
        check_result,
    );
}

#[test]
fn reports_field_paths() {
    let expr =
        crate::parse("customer.name ~ \"a\" and amount > 1 and customer.name != \"b\" and customer.parent.credit > 0")
            .expect("parses");
    let typed = crate::check(&expr, &TestSchema, ORDERS).expect("checks");
    let paths: Vec<String> = typed.field_paths().iter().map(|p| p.join(".")).collect();
    assert_eq!(paths, ["customer.name", "amount", "customer.parent.credit"]);
}

#[test]
fn evaluates() {
    table(
        &[
            ("amount > 1000", "true"),
            ("amount + 1", "1251.5"),
            ("7 / 2", "3.5"),
            ("7 / 0", "null"),
            ("7 % 0", "null"),
            ("7 % 3", "1.0"),
            ("-7 % 3", "-1.0"),
            ("7.5 % -2", "1.5"),
            ("name ~ \"acme\"", "true"),
            ("name ~ \"\"", "true"),
            // Only ASCII letters fold.
            ("customer.name ~ \"ÜNÏ\"", "false"),
            ("customer.name ~ \"ünï\"", "false"),
            ("customer.name ~ \"ÜnïCODE\"", "true"),
            ("lower(customer.name)", "\"Ünïcode ltd\""),
            ("upper(\"straße\")", "\"STRAßE\""),
            ("len(customer.name)", "11.0"),
            ("name + \"!\"", "\"ACME Corp!\""),
            ("name + missing_is_error", "error: unknown field `missing_is_error` at column 8"),
            ("customer.parent.name", "\"Parent Co\""),
            ("customer.parent.parent.name", "null"),
            ("customer.credit < 0", "true"),
            ("\"urgent\" in tags", "true"),
            ("\"URGENT\" in tags", "false"),
            ("\"x\" not in tags", "true"),
            ("\"x\" not in customer.tags", "false"),
            ("\"x\" in customer.tags", "false"),
            ("customer.tags is null", "true"),
            ("tags is not null", "true"),
            ("2 in lines", "true"),
            ("status in [\"a\", \"confirmed\"]", "true"),
            ("status not in [\"a\", \"confirmed\"]", "false"),
            ("customer.parent.name not in [\"a\"]", "true"),
            ("customer.parent.parent.name not in [\"a\"]", "false"),
            ("customer.parent.parent.name not in []", "false"),
            ("name not in []", "true"),
            ("name in []", "false"),
            // Two-valued logic: comparisons with null are false, and so stay under `not`.
            ("customer.parent.credit > 100", "false"),
            ("not (customer.parent.parent.credit > 1)", "true"),
            ("not (customer.parent.parent.credit <= 1)", "true"),
            ("(customer.parent.parent.credit > 1) is null", "false"),
            ("customer.parent.parent.credit is null", "true"),
            ("customer.parent.parent.credit + 1", "null"),
            ("not paid", "true"),
            ("paid = false", "true"),
            ("null or true", "true"),
            ("not null", "true"),
            ("due < \"2026-12-01\"", "true"),
            ("due = date(\"2026-03-01\")", "true"),
            ("due + 1", "\"2026-03-02\""),
            ("due - 1.9", "\"2026-02-28\""),
            ("due + 1.9", "\"2026-03-02\""),
            ("add_days(shipped_at, 1)", "\"2026-03-01T23:30:00.000Z\""),
            ("due - \"2026-01-01\"", "59.0"),
            ("days_between(shipped_at, due)", "1.0"),
            ("due + 1e9", "error: invalid number at column 7"),
            ("add_days(due, 10000000)", "null"),
            ("add_days(date(\"9999-12-31\"), 1)", "null"),
            ("add_days(date(\"0001-01-01\"), -1)", "null"),
            ("year(due) * 100 + month(due)", "202603.0"),
            ("day(shipped_at)", "28.0"),
            ("shipped_at < due", "true"),
            ("shipped_at > \"2026-02-28T23:29:59.999Z\"", "true"),
            ("created_at = \"2026-01-02T05:04:05.678+02:00\"", "true"),
            ("today()", "\"2026-03-15\""),
            ("now()", "\"2026-03-15T10:30:00.000Z\""),
            ("now() - 1 < shipped_at", "false"),
            ("round(2.5)", "3.0"),
            ("round(-2.5)", "-3.0"),
            ("round(1.005, 2)", "1.0"),
            ("round(amount / 3, 2)", "416.83"),
            ("abs(customer.credit)", "3.25"),
            ("min(amount, 3)", "3.0"),
            ("max(name, \"B\")", "\"B\""),
            ("min(amount, customer.parent.parent.credit)", "null"),
            ("coalesce(customer.parent.parent.name, name)", "\"ACME Corp\""),
            ("if(paid, \"yes\", \"no\")", "\"no\""),
            ("if(null, 1, 2)", "2.0"),
            ("if(paid, shipped_at, due)", "\"2026-03-01T00:00:00.000Z\""),
            ("id = 7 and version < 4", "true"),
            ("tags", "[\"urgent\",\"b2b\"]"),
        ],
        eval_result,
    );
}

#[test]
fn compiles_sqlite() {
    table(
        &[
            ("amount > 1000", "json_extract(r.data, '$.amount') > ?3 [1000.0]"),
            (
                "status = \"confirmed\" and amount > 1000",
                "(json_extract(r.data, '$.status') = ?3 AND json_extract(r.data, '$.amount') > ?4) [\"confirmed\", 1000.0]",
            ),
            ("id = 7", "r.id = ?3 [7.0]"),
            ("not (amount > 1)", "((json_extract(r.data, '$.amount') > ?3) IS NOT TRUE) [1.0]"),
            ("paid", "json_extract(r.data, '$.paid') []"),
            (
                "(amount > 1) = paid",
                "((json_extract(r.data, '$.amount') > ?3) IS TRUE) = json_extract(r.data, '$.paid') [1.0]",
            ),
            ("name ~ \"ac\"", "(instr(lower(json_extract(r.data, '$.name')), lower(?3)) > 0) [\"ac\"]"),
            ("amount / 2", "(CAST(json_extract(r.data, '$.amount') AS REAL) / ?3) [2.0]"),
            (
                "amount % 2",
                "(CAST(json_extract(r.data, '$.amount') AS REAL) - ?3 * CAST(CAST(json_extract(r.data, '$.amount') AS REAL) / ?3 AS INTEGER)) [2.0]",
            ),
            ("status in [\"a\", \"b\"]", "json_extract(r.data, '$.status') IN (?3, ?4) [\"a\", \"b\"]"),
            ("status not in []", "(json_extract(r.data, '$.status') IS NOT NULL) []"),
            ("\"x\" in tags", "EXISTS (SELECT 1 FROM json_each(r.data, '$.tags') AS j1 WHERE j1.value = ?3) [\"x\"]"),
            (
                "\"x\" not in tags",
                "(json_type(r.data, '$.tags') IS 'array' AND ?3 IS NOT NULL AND NOT EXISTS (SELECT 1 FROM json_each(r.data, '$.tags') AS j1 WHERE j1.value = ?3)) [\"x\"]",
            ),
            ("tags is null", "(json_type(r.data, '$.tags') IS NOT 'array') []"),
            ("amount is not null", "(json_extract(r.data, '$.amount') IS NOT NULL) []"),
            (
                "customer.name = \"x\"",
                "(SELECT json_extract(r1.data, '$.name') FROM records r1 WHERE r1.tenant_id = r.tenant_id AND r1.form_id = 2 AND r1.id = json_extract(r.data, '$.customer') AND r1.deleted_at IS NULL) = ?3 [\"x\"]",
            ),
            (
                "customer.parent.credit > 0",
                "(SELECT (SELECT json_extract(r2.data, '$.credit') FROM records r2 WHERE r2.tenant_id = r1.tenant_id AND r2.form_id = 2 AND r2.id = json_extract(r1.data, '$.parent') AND r2.deleted_at IS NULL) FROM records r1 WHERE r1.tenant_id = r.tenant_id AND r1.form_id = 2 AND r1.id = json_extract(r.data, '$.customer') AND r1.deleted_at IS NULL) > ?3 [0.0]",
            ),
            ("due < \"2026-12-01\"", "json_extract(r.data, '$.due') < ?3 [\"2026-12-01\"]"),
            (
                "shipped_at > due",
                "json_extract(r.data, '$.shipped_at') > (json_extract(r.data, '$.due') || 'T00:00:00.000Z') []",
            ),
            ("created_at < now()", "r.created_at < ?3 [\"2026-03-15T10:30:00.000Z\"]"),
            (
                "due + 2",
                "(CASE WHEN abs(?3) >= 3652060.0 THEN NULL WHEN julianday(json_extract(r.data, '$.due')) + CAST(?3 AS INTEGER) BETWEEN 1721425.5 AND 5373483.5 THEN date(julianday(json_extract(r.data, '$.due')) + CAST(?3 AS INTEGER)) END) [2.0]",
            ),
            (
                "days_between(due, today())",
                "(julianday(?3) - julianday(json_extract(r.data, '$.due'))) [\"2026-03-15\"]",
            ),
            ("year(created_at)", "CAST(substr(r.created_at, 1, 4) AS REAL) []"),
            (
                "round(amount, 2)",
                "(CASE WHEN abs(CAST(json_extract(r.data, '$.amount') AS REAL)) * ?3 >= 4503599627370496.0 THEN CAST(json_extract(r.data, '$.amount') AS REAL) WHEN CAST(json_extract(r.data, '$.amount') AS REAL) < 0 THEN -(CAST(-CAST(json_extract(r.data, '$.amount') AS REAL) * ?3 + 0.5 AS INTEGER) / ?3) ELSE CAST(CAST(json_extract(r.data, '$.amount') AS REAL) * ?3 + 0.5 AS INTEGER) / ?3 END) [100.0]",
            ),
            ("min(name, \"b\")", "min(json_extract(r.data, '$.name'), ?3) [\"b\"]"),
            ("if(paid, 1, null)", "(CASE WHEN json_extract(r.data, '$.paid') THEN ?3 ELSE NULL END) [1.0]"),
            ("true", "?3 [true]"),
        ],
        |src| sql_result(Dialect::Sqlite, src),
    );
}

#[test]
fn compiles_postgres() {
    table(
        &[
            ("amount > 1000", "((r.data->>'amount')::float8) > $3::float8 [1000.0]"),
            (
                "status = \"confirmed\" and amount > 1000",
                "(((r.data->>'status') COLLATE \"C\") = $3::text AND ((r.data->>'amount')::float8) > $4::float8) [\"confirmed\", 1000.0]",
            ),
            ("name < \"b\"", "((r.data->>'name') COLLATE \"C\") < ($3::text COLLATE \"C\") [\"b\"]"),
            ("id = 7", "r.id = $3::bigint [7]"),
            ("id = 7.5", "r.id = $3::float8 [7.5]"),
            ("id + 1 > 7", "(CAST(r.id AS float8) + $3::float8) > $4::float8 [1.0, 7.0]"),
            ("paid", "((r.data->>'paid')::boolean) []"),
            ("not paid", "((((r.data->>'paid')::boolean)) IS NOT TRUE) []"),
            (
                "name ~ \"ac\"",
                "(strpos(translate(((r.data->>'name') COLLATE \"C\"), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'), translate($3::text, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')) > 0) [\"ac\"]",
            ),
            ("amount / 2", "(((r.data->>'amount')::float8) / NULLIF($3::float8, 0)) [2.0]"),
            ("\"x\" in tags", "((r.data->'tags') @> jsonb_build_array($3::text)) [\"x\"]"),
            (
                "\"x\" not in tags",
                "(jsonb_typeof((r.data->'tags')) IS NOT DISTINCT FROM 'array' AND $3::text IS NOT NULL AND NOT ((r.data->'tags') @> jsonb_build_array($3::text))) [\"x\"]",
            ),
            ("tags is null", "(jsonb_typeof(r.data->'tags') IS DISTINCT FROM 'array') []"),
            (
                "customer.name = \"x\"",
                "(SELECT ((r1.data->>'name') COLLATE \"C\") FROM records r1 WHERE r1.tenant_id = r.tenant_id AND r1.form_id = 2 AND r1.id = ((r.data->>'customer')::bigint) AND r1.deleted_at IS NULL) = $3::text [\"x\"]",
            ),
            ("due < \"2026-12-01\"", "(r.data->>'due') < $3::text [\"2026-12-01\"]"),
            (
                "due + 2",
                "(CASE WHEN abs($3::float8) >= 3652060.0 THEN NULL WHEN CAST((r.data->>'due') AS date) - DATE '0001-01-01' + CAST(trunc($3::float8) AS integer) BETWEEN 0 AND 3652058 THEN to_char(CAST((r.data->>'due') AS date) + CAST(trunc($3::float8) AS integer), 'YYYY-MM-DD') END) [2.0]",
            ),
            (
                "days_between(due, today())",
                "CAST(CAST($3::text AS date) - CAST((r.data->>'due') AS date) AS float8) [\"2026-03-15\"]",
            ),
            (
                "lower(name)",
                "translate(((r.data->>'name') COLLATE \"C\"), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') []",
            ),
            (
                "min(amount, 1)",
                "(CASE WHEN ((r.data->>'amount')::float8) IS NULL OR $3::float8 IS NULL THEN NULL ELSE LEAST(((r.data->>'amount')::float8), $3::float8) END) [1.0]",
            ),
            ("coalesce(null, amount)", "COALESCE(CAST(NULL AS float8), ((r.data->>'amount')::float8)) []"),
        ],
        |src| sql_result(Dialect::Postgres, src),
    );
}

#[test]
fn field_sql_is_canonical() {
    use crate::{Storage, field_sql};
    let cases = [
        (Dialect::Sqlite, None, "amount", Type::Number, Storage::Json, "json_extract(data, '$.amount')"),
        (Dialect::Postgres, None, "amount", Type::Number, Storage::Json, "((data->>'amount')::float8)"),
        (Dialect::Postgres, Some("r"), "name", Type::Text, Storage::Json, "((r.data->>'name') COLLATE \"C\")"),
        (Dialect::Postgres, Some("r"), "due", Type::Date, Storage::Json, "(r.data->>'due')"),
        (Dialect::Postgres, Some("r"), "created_at", Type::DateTime, Storage::Column("created_at"), "r.created_at"),
        (Dialect::Sqlite, Some("r"), "odd'key", Type::Text, Storage::Json, "json_extract(r.data, '$.\"odd''key\"')"),
        (Dialect::Postgres, Some("r"), "odd'key", Type::Text, Storage::Json, "((r.data->>'odd''key') COLLATE \"C\")"),
    ];
    for (d, alias, key, ty, storage, expected) in cases {
        assert_eq!(field_sql(d, alias, key, &ty, &storage), expected);
    }
}

#[test]
fn placeholders_start_where_the_caller_says() {
    let typed = crate::check(&crate::parse("amount > 1 and name = \"x\"").expect("parses"), &TestSchema, ORDERS)
        .expect("checks");
    let mut params = SqlParams::new(10);
    let sql = crate::to_sql(&typed, Dialect::Postgres, "t", &ctx(), &mut params);
    assert_eq!(sql, "(((t.data->>'amount')::float8) > $10::float8 AND ((t.data->>'name') COLLATE \"C\") = $11::text)");
    assert_eq!(params.next_index(), 12);
    assert_eq!(params.into_values(), vec![SqlValue::Float(1.0), SqlValue::Text("x".into())]);
}

#[test]
fn errors_implement_std_error() {
    fn is_error<E: std::error::Error>(_: &E) {}
    let Err(e) = crate::parse("(") else {
        panic!("expected a parse error");
    };
    is_error(&e);
    let Err(e) = crate::check(&crate::parse("nope").expect("parses"), &TestSchema, ORDERS) else {
        panic!("expected a type error");
    };
    is_error(&e);
    is_error(&e.0[0]);
    assert_eq!(e.0[0].span.start, 0);
    assert_eq!(e.0[0].span.end, 4);
}
