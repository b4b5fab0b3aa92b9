//! Tessera's expression language: one small language for list filters, flow conditions,
//! formula fields, assignee rules and alert thresholds.
//!
//! ```text
//! status = "confirmed" and amount > 1000 and customer.name ~ "ACME"
//! ```
//!
//! An expression is [`parse`]d into one syntax tree, [`check`]ed against a form's [`Schema`]
//! into a [`Typed`] tree, and then either evaluated in memory ([`eval`]) or compiled to SQL
//! ([`to_sql`]) for SQLite or PostgreSQL. The two back ends agree on every input; the
//! `sql_agreement` test proves it against real databases.
//!
//! # Grammar
//!
//! Lowest precedence first; keywords (`and or not in is null true false`) are case-insensitive.
//!
//! ```text
//! expr       := or
//! or         := and ("or" and)*
//! and        := not ("and" not)*
//! not        := "not" not | comparison
//! comparison := additive [ ("=" | "!=" | "<>" | "<" | "<=" | ">" | ">=" | "~") additive
//!                        | ["not"] "in" (list | additive)
//!                        | "is" ["not"] "null" ]          -- at most one: no chaining
//! additive   := multiplicative (("+" | "-") multiplicative)*
//! multiplicative := unary (("*" | "/" | "%") unary)*
//! unary      := "-" unary | primary
//! primary    := number | string | "true" | "false" | "null"
//!             | name "(" [expr ("," expr)*] ")"       -- function call
//!             | key ("." key)*                        -- field path
//!             | "(" expr ")"
//! list       := "[" [expr ("," expr)* [","]] "]"      -- only after `in`
//! number     := digits ["." digits]
//! string     := '"' … '"' | "'" … "'"   escapes: \" \' \\ \n \t \r \u{hex}
//! key        := [A-Za-z_][A-Za-z0-9_]* | "`" same "`"   -- backticks allow keyword keys
//! ```
//!
//! # Semantics
//!
//! * Types: text, number (an `f64`), boolean, date, date-time, lists (multi-select and to-many
//!   relations, usable only with `in` and `is null`), and `null`.
//! * Two-valued logic: a comparison, `~` or `in` with a null operand is `false`, so
//!   `not (x > 1)` is `true` when `x` is null; `and`/`or`/`not` treat null as `false`;
//!   arithmetic and functions on null give null (except `coalesce`, `if`, `is null`).
//!   `x not in [a, b]` means `x != a and x != b`: false when `x` is null.
//! * `+` adds numbers, concatenates text, or adds days to a date (time); `date - n` subtracts
//!   days; `date - date` is the number of days between them. Day counts are truncated toward
//!   zero; a date outside the years 0001–9999 becomes null. `x / 0` and `x % 0` are null.
//!   `a % b` is `a - b * trunc(a / b)`.
//! * A string literal compared with a date (time) is read as one (`due < "2026-12-01"`), and so
//!   is the argument of `date("…")` and `datetime("…")`. A date meeting a date-time is midnight
//!   UTC.
//! * Text compares by bytes (code points). `a ~ b` is "a contains b", ignoring ASCII case;
//!   `lower`/`upper` change ASCII letters only.
//! * Functions: `today()`, `now()` (from the caller's [`Context`]), `year(d)`, `month(d)`,
//!   `day(d)`, `add_days(d, n)`, `days_between(a, b)` (= b − a, in whole days of the UTC date),
//!   `lower(s)`, `upper(s)`, `len(s)` (characters), `round(x[, digits])` (half away from zero;
//!   `digits` a literal 0–10), `abs(x)`, `coalesce(a, b)`, `if(cond, a, b)`, `min(a, b)`,
//!   `max(a, b)` (null if either is null), `date("YYYY-MM-DD")`, `datetime("…")`.
//!
//! # Contract with the caller
//!
//! * A filter or condition must have `ty() == Type::Bool`; [`to_sql`] of any other type is a
//!   scalar, not a condition.
//! * Indexes and `ORDER BY` must use [`field_sql`] so they match the compiled filters byte for
//!   byte (`field_sql(d, None, …)` for index DDL). In PostgreSQL a text field reads as
//!   `((data->>'key') COLLATE "C")`, so its index must be built on exactly that expression.
//! * [`Env::get`] must resolve a relation the way the SQL does: to a record with that id, of
//!   the same tenant and of the relation's target form, that is not deleted; otherwise null.
//! * Records must hold the stored shapes listed on [`Type`]: PostgreSQL casts
//!   (`::float8`, `::boolean`, `::bigint` for relation ids, `::date`) raise errors on anything
//!   else. Agreement is promised for numbers within ±2^53 and results that do not overflow an
//!   `f64` (PostgreSQL raises "value out of range" where the evaluator yields infinity).
//!
//! # Example
//!
//! ```
//! use expr::{Context, Dialect, Field, Schema, SqlParams, Type};
//!
//! struct Orders;
//! impl Schema for Orders {
//!     fn field(&self, _form: i64, key: &str) -> Option<Field> {
//!         (key == "amount").then(|| Field::json(Type::Number))
//!     }
//!     fn field_keys(&self, _form: i64) -> Vec<String> {
//!         vec!["amount".into()]
//!     }
//! }
//!
//! let typed = expr::check(&expr::parse("amount > 1000").unwrap(), &Orders, 1).unwrap();
//! let ctx = Context { now: chrono::Utc::now(), today: chrono::Utc::now().date_naive() };
//! let mut params = SqlParams::new(3);
//! let sql = expr::to_sql(&typed, Dialect::Sqlite, "r", &ctx, &mut params);
//! assert_eq!(sql, "json_extract(r.data, '$.amount') > ?3");
//! ```

mod ast;
mod check;
mod eval;
mod parser;
mod sql;
mod types;
mod value;

#[cfg(test)]
mod tests;

pub use ast::{BinaryOp, Expr, ExprKind, Span, UnaryOp};
pub use check::{TypeError, TypeErrors, Typed};
pub use eval::{Context, Env};
pub use parser::ParseError;
pub use sql::{Dialect, SqlParams, SqlValue, field_sql};
pub use types::{Field, Relation, Schema, Storage, Type};
pub use value::{Value, format_date, format_datetime, parse_date, parse_datetime};

/// Parses an expression.
pub fn parse(src: &str) -> Result<Expr, ParseError> {
    parser::parse(src)
}

/// Type-checks an expression against the fields of `root_form`, reporting every error found.
pub fn check(expr: &Expr, schema: &dyn Schema, root_form: i64) -> Result<Typed, TypeErrors> {
    check::check(expr, schema, root_form)
}

/// Evaluates a checked expression in memory. Conditions hold when the result is
/// [`Value::Bool(true)`](Value::Bool).
pub fn eval(t: &Typed, env: &dyn Env, ctx: &Context) -> Value {
    eval::eval(t, env, ctx)
}

/// Compiles a checked expression to SQL over the `records` table aliased `table_alias`. A
/// boolean expression becomes a `WHERE` condition, anything else a scalar. Literals are bound
/// through `params`.
pub fn to_sql(t: &Typed, d: Dialect, table_alias: &str, ctx: &Context, params: &mut SqlParams) -> String {
    sql::to_sql(t, d, table_alias, ctx, params)
}
