//! The SQL compiler and the in-memory evaluator must agree on every input.
//!
//! A property test generates random well-typed expressions over a fixed schema and random
//! records (nulls, missing keys, negative and fractional numbers, unicode and mixed-case text,
//! empty strings, dangling and cross-tenant relations), stores the records in a real database,
//! and checks that `WHERE <to_sql>` returns exactly the records for which `eval` is `true`.
//!
//! SQLite runs in memory. PostgreSQL runs when `TESSERA_TEST_POSTGRES_URL` names a server (a
//! superuser URL; the test creates and drops its own database); without it the PostgreSQL half
//! is skipped loudly, or fails when `TESSERA_REQUIRE_POSTGRES=1`.
//! `PROPTEST_CASES` overrides the number of data sets (each checked against several expressions).

use std::collections::BTreeSet;
use std::str::FromStr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use chrono::{NaiveDate, TimeZone, Utc};
use expr::{Context, Dialect, Env, Field, Schema, SqlParams, SqlValue, Type};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use serde_json::{Map, Value as Json, json};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqlitePool, SqlitePoolOptions};
use sqlx::{Executor, Row as _};

const TENANT: i64 = 1;
const ORDERS: i64 = 1;
const CUSTOMERS: i64 = 2;
/// Data sets per run; each is checked against `EXPRS_PER_CASE` expressions.
const DEFAULT_CASES: u32 = 512;
const EXPRS_PER_CASE: usize = 4;

// ---------------------------------------------------------------------------------------------
// Schema and records

struct TestSchema;

impl Schema for TestSchema {
    fn field(&self, form: i64, key: &str) -> Option<Field> {
        Some(match (form, key) {
            (_, "id") => Field::column(Type::Number, "id"),
            (_, "created_at") => Field::column(Type::DateTime, "created_at"),
            (ORDERS, "name") => Field::json(Type::Text),
            (ORDERS, "status") => Field::json(Type::Text),
            (ORDERS, "amount") => Field::json(Type::Number),
            (ORDERS, "paid") => Field::json(Type::Bool),
            (ORDERS, "due") => Field::json(Type::Date),
            (ORDERS, "shipped_at") => Field::json(Type::DateTime),
            (ORDERS, "tags") => Field::json(Type::List(Box::new(Type::Text))),
            (ORDERS, "customer") => Field::relation(CUSTOMERS, false),
            (CUSTOMERS, "name") => Field::json(Type::Text),
            (CUSTOMERS, "credit") => Field::json(Type::Number),
            (CUSTOMERS, "parent") => Field::relation(CUSTOMERS, false),
            (CUSTOMERS, "tags") => Field::json(Type::List(Box::new(Type::Text))),
            _ => return None,
        })
    }

    fn field_keys(&self, _form: i64) -> Vec<String> {
        Vec::new()
    }
}

#[derive(Debug, Clone)]
struct Row {
    id: i64,
    tenant: i64,
    form: i64,
    data: Json,
    created_at: String,
    deleted: bool,
}

/// Resolves paths the way the server must: through live records of the same tenant and the
/// relation's target form.
struct RowEnv<'a> {
    row: &'a Row,
    rows: &'a [Row],
}

impl Env for RowEnv<'_> {
    fn get(&self, path: &[String]) -> Json {
        let mut row = self.row;
        for (i, key) in path.iter().enumerate() {
            let value = match key.as_str() {
                "id" => json!(row.id),
                "created_at" => json!(row.created_at),
                _ => row.data.get(key).cloned().unwrap_or(Json::Null),
            };
            if i + 1 == path.len() {
                return value;
            }
            let target = value.as_i64().and_then(|id| {
                self.rows.iter().find(|r| r.id == id && r.tenant == row.tenant && r.form == CUSTOMERS && !r.deleted)
            });
            match target {
                Some(t) => row = t,
                None => return Json::Null,
            }
        }
        Json::Null
    }
}

fn ctx() -> Context {
    Context {
        now: Utc.with_ymd_and_hms(2026, 1, 3, 10, 30, 0).single().expect("valid time"),
        today: NaiveDate::from_ymd_opt(2026, 1, 3).expect("valid date"),
    }
}

// ---------------------------------------------------------------------------------------------
// Generators: values

const WORDS: &[&str] = &[
    "",
    "acme",
    "ACME",
    "Acme Corp",
    "acme corp",
    "äcme",
    "ÄCME",
    "b",
    "B",
    "zeta",
    "Zeta",
    "日本",
    "a\"b",
    "x y",
    "Ωmega",
    "ß",
    "ss",
    "İ",
    "i",
    "🎉",
    "a%b",
    "_",
    "2026-01-01",
    "confirmed",
    "Confirmed",
    "draft",
    "urgent",
    "b2b",
];

fn text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => select(WORDS).prop_map(String::from),
        1 => "[aAbBäÄ _%🎉]{0,4}",
    ]
    .boxed()
}

fn number() -> BoxedStrategy<f64> {
    prop_oneof![
        (-5i32..=5).prop_map(f64::from),
        (-1000i32..=1000).prop_map(f64::from),
        (-40i32..=40).prop_map(|k| f64::from(k) / 4.0),
        (-30i32..=30).prop_map(|k| f64::from(k) / 10.0),
    ]
    .boxed()
}

fn date() -> BoxedStrategy<String> {
    prop_oneof![
        8 => (-12i64..=12).prop_map(|k| {
            let base = NaiveDate::from_ymd_opt(2026, 1, 1).expect("valid date");
            expr::format_date(base + chrono::TimeDelta::days(k))
        }),
        1 => select(&["0001-01-03", "9999-12-29", "2024-02-29"][..]).prop_map(String::from),
    ]
    .boxed()
}

fn datetime() -> BoxedStrategy<String> {
    (date(), select(&["00:00:00.000", "10:30:00.000", "12:00:00.000", "23:59:59.999"][..]))
        .prop_map(|(d, t)| format!("{d}T{t}Z"))
        .boxed()
}

fn tags() -> BoxedStrategy<Json> {
    prop::collection::vec(select(&["urgent", "b2b", "Urgent", "", "ä"][..]), 0..3).prop_map(|v| json!(v)).boxed()
}

#[derive(Debug, Clone)]
enum Slot {
    Missing,
    Null,
    Value(Json),
}

fn slot<S: Strategy<Value = Json> + 'static>(s: S) -> BoxedStrategy<Slot> {
    prop_oneof![1 => Just(Slot::Missing), 1 => Just(Slot::Null), 5 => s.prop_map(Slot::Value)].boxed()
}

fn object(fields: Vec<(&str, Slot)>) -> Json {
    let mut map = Map::new();
    for (key, s) in fields {
        match s {
            Slot::Missing => {}
            Slot::Null => {
                map.insert(key.to_string(), Json::Null);
            }
            Slot::Value(v) => {
                map.insert(key.to_string(), v);
            }
        }
    }
    Json::Object(map)
}

fn order_data() -> BoxedStrategy<Json> {
    (
        slot(text().prop_map(Json::from)),
        slot(select(&["confirmed", "Confirmed", "draft", ""][..]).prop_map(Json::from)),
        slot(number().prop_map(Json::from)),
        slot(any::<bool>().prop_map(Json::from)),
        slot(date().prop_map(Json::from)),
        slot(datetime().prop_map(Json::from)),
        slot(tags()),
        // 101..=106 exist (maybe deleted or in another tenant), 107 and 108 do not.
        slot((101i64..=108).prop_map(Json::from)),
    )
        .prop_map(|(name, status, amount, paid, due, shipped, tags, customer)| {
            object(vec![
                ("name", name),
                ("status", status),
                ("amount", amount),
                ("paid", paid),
                ("due", due),
                ("shipped_at", shipped),
                ("tags", tags),
                ("customer", customer),
            ])
        })
        .boxed()
}

fn customer_data() -> BoxedStrategy<Json> {
    (
        slot(text().prop_map(Json::from)),
        slot(number().prop_map(Json::from)),
        slot((101i64..=107).prop_map(Json::from)),
        slot(tags()),
    )
        .prop_map(|(name, credit, parent, tags)| {
            object(vec![("name", name), ("credit", credit), ("parent", parent), ("tags", tags)])
        })
        .boxed()
}

fn dataset() -> BoxedStrategy<Vec<Row>> {
    // Mostly rows of the queried tenant and form, some that the query must never return.
    let order = (
        order_data(),
        datetime(),
        prop_oneof![12 => Just((TENANT, ORDERS)), 1 => Just((2, ORDERS)), 1 => Just((TENANT, 3))],
    );
    let customer = (
        customer_data(),
        datetime(),
        prop_oneof![6 => Just(TENANT), 1 => Just(2)],
        prop_oneof![6 => Just(false), 1 => Just(true)],
    );
    (prop::collection::vec(order, 10..=30), prop::collection::vec(customer, 6))
        .prop_map(|(orders, customers)| {
            let mut rows = Vec::new();
            for (i, (data, created_at, (tenant, form))) in orders.into_iter().enumerate() {
                rows.push(Row { id: i as i64 + 1, tenant, form, data, created_at, deleted: false });
            }
            for (i, (data, created_at, tenant, deleted)) in customers.into_iter().enumerate() {
                rows.push(Row { id: i as i64 + 101, tenant, form: CUSTOMERS, data, created_at, deleted });
            }
            rows
        })
        .boxed()
}

// ---------------------------------------------------------------------------------------------
// Generators: expressions, by type, as source text (so the parser is exercised too)

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum T {
    Bool,
    Num,
    Text,
    Date,
    Time,
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn num_lit() -> BoxedStrategy<String> {
    number().prop_map(|n| if n < 0.0 { format!("({n})") } else { format!("{n}") }).boxed()
}

fn names(list: &'static [&'static str]) -> BoxedStrategy<String> {
    select(list).prop_map(String::from).boxed()
}

fn leaf(t: T) -> BoxedStrategy<String> {
    match t {
        T::Num => prop_oneof![
            3 => names(&["amount", "customer.credit", "customer.parent.credit", "id"]),
            2 => num_lit(),
        ]
        .boxed(),
        T::Text => prop_oneof![
            3 => names(&["name", "status", "customer.name", "customer.parent.name"]),
            2 => text().prop_map(|s| quote(&s)),
        ]
        .boxed(),
        T::Date => prop_oneof![
            3 => names(&["due", "today()"]),
            1 => date().prop_map(|d| format!("date(\"{d}\")")),
        ]
        .boxed(),
        T::Time => prop_oneof![
            3 => names(&["shipped_at", "created_at", "now()"]),
            1 => datetime().prop_map(|d| format!("datetime(\"{d}\")")),
        ]
        .boxed(),
        T::Bool => names(&["paid", "true", "false"]),
    }
}

/// Expressions of type `t` whose children come from the previous level `p`.
fn level(p: &dyn Fn(T) -> BoxedStrategy<String>, t: T) -> BoxedStrategy<String> {
    let temporal = || prop_oneof![p(T::Date), p(T::Time)];
    match t {
        T::Num => prop_oneof![
            4 => p(T::Num),
            4 => (p(T::Num), select(&["+", "-", "*", "/", "%"][..]), p(T::Num))
                .prop_map(|(a, o, b)| format!("({a} {o} {b})")),
            1 => p(T::Num).prop_map(|a| format!("(-{a})")),
            1 => p(T::Num).prop_map(|a| format!("abs({a})")),
            1 => (p(T::Num), 0u32..=3).prop_map(|(a, d)| format!("round({a}, {d})")),
            1 => p(T::Num).prop_map(|a| format!("round({a})")),
            2 => (select(&["min", "max", "coalesce"][..]), p(T::Num), p(T::Num))
                .prop_map(|(f, a, b)| format!("{f}({a}, {b})")),
            1 => (p(T::Bool), p(T::Num), p(T::Num)).prop_map(|(c, a, b)| format!("if({c}, {a}, {b})")),
            1 => (p(T::Bool), p(T::Num)).prop_map(|(c, a)| format!("if({c}, {a}, null)")),
            1 => p(T::Text).prop_map(|a| format!("len({a})")),
            1 => (select(&["year", "month", "day"][..]), temporal())
                .prop_map(|(f, a)| format!("{f}({a})")),
            1 => (temporal(), temporal()).prop_map(|(a, b)| format!("days_between({a}, {b})")),
            1 => (p(T::Date), p(T::Date)).prop_map(|(a, b)| format!("({a} - {b})")),
        ]
        .boxed(),
        T::Text => prop_oneof![
            4 => p(T::Text),
            1 => (select(&["lower", "upper"][..]), p(T::Text)).prop_map(|(f, a)| format!("{f}({a})")),
            1 => (p(T::Text), p(T::Text)).prop_map(|(a, b)| format!("({a} + {b})")),
            1 => (p(T::Bool), p(T::Text), p(T::Text)).prop_map(|(c, a, b)| format!("if({c}, {a}, {b})")),
            1 => (select(&["min", "max", "coalesce"][..]), p(T::Text), p(T::Text))
                .prop_map(|(f, a, b)| format!("{f}({a}, {b})")),
        ]
        .boxed(),
        T::Date | T::Time => {
            let same = p(t);
            prop_oneof![
                4 => same.clone(),
                2 => (same.clone(), select(&["+", "-"][..]), p(T::Num))
                    .prop_map(|(d, o, n)| format!("({d} {o} {n})")),
                1 => (same.clone(), p(T::Num)).prop_map(|(d, n)| format!("add_days({d}, {n})")),
                1 => (p(T::Bool), same.clone(), same.clone())
                    .prop_map(|(c, a, b)| format!("if({c}, {a}, {b})")),
                1 => (select(&["min", "max", "coalesce"][..]), same.clone(), same.clone())
                    .prop_map(|(f, a, b)| format!("{f}({a}, {b})")),
                // A date meeting a date-time is widened to midnight UTC.
                1 => (select(&["min", "coalesce"][..]), p(T::Date), p(T::Time))
                    .prop_map(move |(f, a, b)| if t == T::Time { format!("{f}({a}, {b})") } else { a }),
            ]
            .boxed()
        }
        T::Bool => {
            let cmp = || select(&["=", "!=", "<", "<=", ">", ">="][..]);
            prop_oneof![
                2 => p(T::Bool),
                2 => (p(T::Bool), select(&["and", "or", "AND", "Or"][..]), p(T::Bool))
                    .prop_map(|(a, o, b)| format!("({a} {o} {b})")),
                2 => p(T::Bool).prop_map(|a| format!("(not {a})")),
                4 => (p(T::Num), cmp(), p(T::Num)).prop_map(|(a, o, b)| format!("({a} {o} {b})")),
                3 => (p(T::Text), prop_oneof![cmp(), Just("~")], p(T::Text))
                    .prop_map(|(a, o, b)| format!("({a} {o} {b})")),
                1 => (p(T::Date), cmp(), p(T::Date)).prop_map(|(a, o, b)| format!("({a} {o} {b})")),
                1 => (p(T::Time), cmp(), p(T::Time)).prop_map(|(a, o, b)| format!("({a} {o} {b})")),
                1 => (p(T::Date), cmp(), p(T::Time)).prop_map(|(a, o, b)| format!("({a} {o} {b})")),
                1 => (p(T::Date), cmp(), date()).prop_map(|(a, o, b)| format!("({a} {o} \"{b}\")")),
                1 => (p(T::Time), cmp(), prop_oneof![date(), datetime()])
                    .prop_map(|(a, o, b)| format!("({a} {o} \"{b}\")")),
                1 => (p(T::Bool), select(&["=", "!="][..]), p(T::Bool))
                    .prop_map(|(a, o, b)| format!("({a} {o} {b})")),
                1 => (p(T::Num), in_op(), prop::collection::vec(num_lit(), 0..4))
                    .prop_map(|(a, o, l)| format!("({a} {o} [{}])", l.join(", "))),
                1 => (p(T::Text), in_op(), prop::collection::vec(text().prop_map(|s| quote(&s)), 0..4))
                    .prop_map(|(a, o, l)| format!("({a} {o} [{}])", l.join(", "))),
                1 => (p(T::Date), in_op(), prop::collection::vec(date().prop_map(|s| quote(&s)), 0..3))
                    .prop_map(|(a, o, l)| format!("({a} {o} [{}])", l.join(", "))),
                2 => (p(T::Text), in_op(), select(&["tags", "customer.tags"][..]))
                    .prop_map(|(a, o, l)| format!("({a} {o} {l})")),
                2 => (
                    prop_oneof![p(T::Num), p(T::Text), p(T::Date), p(T::Time), p(T::Bool), names(&["tags", "customer.tags"])],
                    select(&["is null", "is not null"][..]),
                )
                    .prop_map(|(a, o)| format!("({a} {o})")),
                1 => (p(T::Bool), p(T::Bool), p(T::Bool)).prop_map(|(c, a, b)| format!("if({c}, {a}, {b})")),
                1 => (p(T::Bool), p(T::Bool)).prop_map(|(a, b)| format!("coalesce({a}, {b})")),
            ]
            .boxed()
        }
    }
}

fn in_op() -> BoxedStrategy<&'static str> {
    select(&["in", "not in"][..]).boxed()
}

/// Boolean expressions nested up to `depth` levels above the leaves.
fn condition(depth: usize) -> BoxedStrategy<String> {
    let types = [T::Bool, T::Num, T::Text, T::Date, T::Time];
    let mut current: Vec<(T, BoxedStrategy<String>)> = types.iter().map(|&t| (t, leaf(t))).collect();
    for _ in 0..depth {
        let prev = current.clone();
        let p =
            move |t: T| prev.iter().find(|(u, _)| *u == t).map(|(_, s)| s.clone()).expect("every type has a strategy");
        current = types.iter().map(|&t| (t, level(&p, t))).collect();
    }
    current.into_iter().find(|(t, _)| *t == T::Bool).map(|(_, s)| s).expect("bool strategy")
}

// ---------------------------------------------------------------------------------------------
// Databases

const CREATE_SQLITE: &str = "CREATE TABLE records (id BIGINT PRIMARY KEY, tenant_id BIGINT NOT NULL, \
    form_id BIGINT NOT NULL, data JSON NOT NULL, version BIGINT NOT NULL, created_by BIGINT, \
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, deleted_at TEXT)";
const CREATE_POSTGRES: &str = "CREATE TABLE records (id BIGINT PRIMARY KEY, tenant_id BIGINT NOT NULL, \
    form_id BIGINT NOT NULL, data JSONB NOT NULL, version BIGINT NOT NULL, created_by BIGINT, \
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, deleted_at TEXT)";

enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Db {
    fn dialect(&self) -> Dialect {
        match self {
            Db::Sqlite(_) => Dialect::Sqlite,
            Db::Postgres(_) => Dialect::Postgres,
        }
    }

    fn placeholder(&self, n: usize) -> String {
        match self {
            Db::Sqlite(_) => format!("?{n}"),
            Db::Postgres(_) => format!("${n}"),
        }
    }

    async fn load(&self, rows: &[Row]) -> Result<(), sqlx::Error> {
        let mut sql = String::from(
            "INSERT INTO records (id, tenant_id, form_id, data, version, created_by, created_at, \
             updated_at, deleted_at) VALUES ",
        );
        for (i, row) in rows.iter().enumerate() {
            let b = i * 5;
            let data = match self {
                Db::Sqlite(_) => self.placeholder(b + 4),
                Db::Postgres(_) => format!("{}::jsonb", self.placeholder(b + 4)),
            };
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "({}, {}, {}, {data}, 1, NULL, {}, {}, {})",
                self.placeholder(b + 1),
                self.placeholder(b + 2),
                self.placeholder(b + 3),
                self.placeholder(b + 5),
                self.placeholder(b + 5),
                if row.deleted { "'2026-01-01T00:00:00.000Z'" } else { "NULL" },
            ));
        }
        // TRUNCATE, not DELETE, in PostgreSQL: it would otherwise scan ever more dead rows.
        let clear = match self {
            Db::Sqlite(_) => "DELETE FROM records",
            Db::Postgres(_) => "TRUNCATE records",
        };
        macro_rules! run {
            ($pool:expr) => {{
                $pool.execute(clear).await?;
                let mut q = sqlx::query(&sql);
                for r in rows {
                    q = q.bind(r.id).bind(r.tenant).bind(r.form).bind(r.data.to_string()).bind(r.created_at.clone());
                }
                q.execute($pool).await?;
            }};
        }
        match self {
            Db::Sqlite(pool) => run!(pool),
            Db::Postgres(pool) => run!(pool),
        }
        Ok(())
    }

    async fn ids(&self, condition: &str, params: &[SqlValue]) -> Result<BTreeSet<i64>, sqlx::Error> {
        let sql = format!(
            "SELECT id FROM records r WHERE tenant_id = {} AND form_id = {} AND ({condition})",
            self.placeholder(1),
            self.placeholder(2)
        );
        macro_rules! run {
            ($pool:expr) => {{
                let mut q = sqlx::query(&sql).bind(TENANT).bind(ORDERS);
                for p in params {
                    q = match p {
                        SqlValue::Null => q.bind(None::<String>),
                        SqlValue::Bool(b) => q.bind(*b),
                        SqlValue::Int(i) => q.bind(*i),
                        SqlValue::Float(f) => q.bind(*f),
                        SqlValue::Text(s) => q.bind(s.clone()),
                    };
                }
                let rows = q.fetch_all($pool).await?;
                rows.iter().map(|r| r.try_get::<i64, _>(0)).collect()
            }};
        }
        match self {
            Db::Sqlite(pool) => run!(pool),
            Db::Postgres(pool) => run!(pool),
        }
    }
}

/// How many checked expressions selected some but not all records: a generator that mostly
/// makes constant conditions would prove little.
#[derive(Default)]
struct Stats {
    exprs: std::cell::Cell<usize>,
    selective: std::cell::Cell<usize>,
}

async fn check_case(db: &Db, rows: &[Row], exprs: &[String], stats: &Stats) -> Result<(), TestCaseError> {
    db.load(rows).await.map_err(|e| TestCaseError::fail(format!("loading records failed: {e}")))?;
    let ctx = ctx();
    for src in exprs {
        let parsed =
            expr::parse(src).map_err(|e| TestCaseError::fail(format!("generator made unparsable `{src}`: {e}")))?;
        let typed = expr::check(&parsed, &TestSchema, ORDERS)
            .map_err(|e| TestCaseError::fail(format!("generator made ill-typed `{src}`: {e}")))?;
        let mut params = SqlParams::new(3);
        let sql = expr::to_sql(&typed, db.dialect(), "r", &ctx, &mut params);
        let got = db.ids(&sql, params.values()).await.map_err(|e| {
            TestCaseError::fail(format!("query failed for `{src}`: {e}\nSQL: {sql}\nparams: {:?}", params.values()))
        })?;
        let expected: BTreeSet<i64> = rows
            .iter()
            .filter(|r| r.tenant == TENANT && r.form == ORDERS)
            .filter(|r| expr::eval(&typed, &RowEnv { row: r, rows }, &ctx).is_true())
            .map(|r| r.id)
            .collect();
        let candidates = rows.iter().filter(|r| r.tenant == TENANT && r.form == ORDERS).count();
        stats.exprs.set(stats.exprs.get() + 1);
        if !expected.is_empty() && expected.len() < candidates {
            stats.selective.set(stats.selective.get() + 1);
        }
        if got != expected {
            let differing: Vec<String> = got
                .symmetric_difference(&expected)
                .filter_map(|id| rows.iter().find(|r| r.id == *id))
                .map(|r| {
                    format!(
                        "  id {} ({}): {}",
                        r.id,
                        if expected.contains(&r.id) { "eval only" } else { "SQL only" },
                        r.data
                    )
                })
                .collect();
            return Err(TestCaseError::fail(format!(
                "disagreement on `{src}`\nSQL: {sql}\nparams: {:?}\neval: {expected:?}\nsql:  {got:?}\n{}",
                params.values(),
                differing.join("\n")
            )));
        }
    }
    Ok(())
}

fn run_agreement(db: &Db, rt: &tokio::runtime::Runtime) {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_CASES);
    let config = Config {
        cases,
        // Failures are reported with the shrunk input; no regression files in the source tree.
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let strategy = (dataset(), prop::collection::vec(condition(3), EXPRS_PER_CASE));
    let started = Instant::now();
    let stats = Stats::default();
    let first_failure = std::cell::Cell::new(true);
    let result = runner.run(&strategy, |(rows, exprs)| {
        let outcome = rt.block_on(check_case(db, &rows, &exprs, &stats));
        // Shrinking can end on a different symptom; the first one is often the clearer.
        if let Err(e) = &outcome
            && first_failure.replace(false)
        {
            eprintln!("first failure, before shrinking: {e}");
        }
        outcome
    });
    match result {
        Ok(()) => eprintln!(
            "{:?}: {} expressions over {cases} data sets agree, {} of them selective ({:.1?})",
            db.dialect(),
            stats.exprs.get(),
            stats.selective.get(),
            started.elapsed()
        ),
        Err(TestError::Fail(reason, (rows, exprs))) => panic!(
            "{:?} disagrees with eval: {reason}\nminimal expressions: {exprs:#?}\nrecords: {}",
            db.dialect(),
            rows.iter()
                .map(|r| format!("{} t{} f{} del={} {} {}", r.id, r.tenant, r.form, r.deleted, r.created_at, r.data))
                .collect::<Vec<_>>()
                .join("\n")
        ),
        Err(e) => panic!("{:?}: {e}", db.dialect()),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

#[test]
fn sqlite_agrees_with_eval() {
    let rt = runtime();
    let pool = rt.block_on(async {
        // One connection: every connection to `sqlite::memory:` is a different database.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect("sqlite::memory:")
            .await
            .expect("open SQLite");
        pool.execute(CREATE_SQLITE).await.expect("create records");
        pool
    });
    run_agreement(&Db::Sqlite(pool), &rt);
}

#[test]
fn postgres_agrees_with_eval() {
    let Ok(url) = std::env::var("TESSERA_TEST_POSTGRES_URL") else {
        if std::env::var("TESSERA_REQUIRE_POSTGRES").as_deref() == Ok("1") {
            panic!("TESSERA_REQUIRE_POSTGRES=1 but TESSERA_TEST_POSTGRES_URL is not set");
        }
        eprintln!(
            "\n!!!!!!!! skipping PostgreSQL: TESSERA_TEST_POSTGRES_URL is not set \
             (run under scripts/with-postgres) !!!!!!!!\n"
        );
        return;
    };
    let rt = runtime();
    let admin_options = PgConnectOptions::from_str(&url).expect("valid TESSERA_TEST_POSTGRES_URL");
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or_default();
    let name = format!("expr_{}_{nanos}", std::process::id());
    let admin = rt.block_on(async {
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(admin_options.clone())
            .await
            .expect("connect to PostgreSQL");
        // A non-C default collation makes sure byte order comes from the SQL, not the setup.
        let icu = format!(
            "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
        );
        if let Err(e) = admin.execute(icu.as_str()).await {
            eprintln!("no ICU collation ({e}); using the server default");
            admin
                .execute(format!("CREATE DATABASE {name}").as_str())
                .await
                .expect("create test database");
        }
        admin
    });
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let pool = rt.block_on(async {
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(admin_options.clone().database(&name))
                .await
                .expect("connect to the test database");
            pool.execute(CREATE_POSTGRES).await.expect("create records");
            pool
        });
        run_agreement(&Db::Postgres(pool.clone()), &rt);
        rt.block_on(pool.close());
    }));
    rt.block_on(async {
        if let Err(e) = admin.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await {
            eprintln!("could not drop {name}: {e}");
        }
    });
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
