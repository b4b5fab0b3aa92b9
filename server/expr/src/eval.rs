//! The in-memory evaluator, used by flows, formulas and assignee rules.
//!
//! Its semantics are the reference: the SQL compiler must return the records for which this
//! evaluates to `Bool(true)`. Numeric helpers that must match SQL bit for bit (`%`, `round`) are
//! written as the same sequence of IEEE operations that the SQL performs.

use std::cmp::Ordering;

use chrono::{DateTime, Datelike, NaiveDate, SubsecRound, TimeDelta, Utc};

use crate::check::{ArithOp, CmpOp, Func, TExpr, TKind, Typed};
use crate::value::{Value, in_range, midnight};

/// Supplies field values to [`crate::eval()`].
pub trait Env {
    /// The stored JSON value at `path`: `["amount"]` for a field of the record itself (system
    /// columns included), `["customer", "name"]` for a field of the record that the to-one
    /// relation `customer` points at. Return `Null` for a missing key, and for a relation that
    /// points at nothing, at a deleted record, or at a record of another tenant or form; that
    /// is what the SQL subquery sees.
    fn get(&self, path: &[String]) -> serde_json::Value;
}

/// The caller's clock. Both back ends take `today()` and `now()` from here, never from the
/// database, so they agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    pub now: DateTime<Utc>,
    pub today: NaiveDate,
}

impl Context {
    /// `now` truncated to the stored millisecond precision.
    pub(crate) fn now_ms(&self) -> DateTime<Utc> {
        self.now.trunc_subsecs(3)
    }
}

/// Evaluates a checked expression. Never fails: anything undefined (null operands, division by
/// zero, dates out of range) yields `Null` or, for conditions, `false`.
pub fn eval(t: &Typed, env: &dyn Env, ctx: &Context) -> Value {
    Eval { env, ctx }.expr(&t.root)
}

/// Past this many days any shift leaves the years 0001–9999 from any date inside them.
pub(crate) const MAX_DAY_SHIFT: f64 = 3_652_060.0;

/// From 2^52 on every `f64` is a whole number, so `round` returns its input unchanged.
pub(crate) const ROUND_LIMIT: f64 = 4_503_599_627_370_496.0;

struct Eval<'a> {
    env: &'a dyn Env,
    ctx: &'a Context,
}

impl Eval<'_> {
    fn expr(&self, e: &TExpr) -> Value {
        match &e.kind {
            TKind::Lit(v) => v.clone(),
            TKind::Field(f) => Value::from_json(&self.env.get(&f.path), &f.field.ty),
            TKind::Neg(a) => match self.expr(a) {
                Value::Number(n) => Value::Number(-n),
                _ => Value::Null,
            },
            TKind::Not(a) => Value::Bool(!self.expr(a).is_true()),
            TKind::And(a, b) => Value::Bool(self.expr(a).is_true() && self.expr(b).is_true()),
            TKind::Or(a, b) => Value::Bool(self.expr(a).is_true() || self.expr(b).is_true()),
            TKind::Arith(op, a, b) => match (self.expr(a), self.expr(b)) {
                (Value::Number(x), Value::Number(y)) => arith(*op, x, y),
                _ => Value::Null,
            },
            TKind::Concat(a, b) => match (self.expr(a), self.expr(b)) {
                (Value::Text(x), Value::Text(y)) => Value::Text(x + &y),
                _ => Value::Null,
            },
            TKind::AddDays(d, n) => match (self.expr(d), self.expr(n)) {
                (Value::Date(d), Value::Number(n)) => shift(d, n).map_or(Value::Null, Value::Date),
                (Value::DateTime(t), Value::Number(n)) => shift(t.date_naive(), n)
                    .map_or(Value::Null, |d| Value::DateTime(midnight(d) + (t - midnight(t.date_naive())))),
                _ => Value::Null,
            },
            TKind::DayDiff { from, to } => match (day_of(&self.expr(from)), day_of(&self.expr(to))) {
                (Some(a), Some(b)) => Value::Number((b - a).num_days() as f64),
                _ => Value::Null,
            },
            TKind::Compare(op, a, b) => {
                let ord = compare(&self.expr(a), &self.expr(b));
                Value::Bool(ord.is_some_and(|o| match op {
                    CmpOp::Eq => o == Ordering::Equal,
                    CmpOp::Ne => o != Ordering::Equal,
                    CmpOp::Lt => o == Ordering::Less,
                    CmpOp::Le => o != Ordering::Greater,
                    CmpOp::Gt => o == Ordering::Greater,
                    CmpOp::Ge => o != Ordering::Less,
                }))
            }
            TKind::Contains(a, b) => match (self.expr(a), self.expr(b)) {
                (Value::Text(hay), Value::Text(needle)) => {
                    Value::Bool(hay.to_ascii_lowercase().contains(&needle.to_ascii_lowercase()))
                }
                _ => Value::Bool(false),
            },
            TKind::InList { needle, items, negated } => {
                let v = self.expr(needle);
                if v.is_null() {
                    return Value::Bool(false);
                }
                let found = items.iter().any(|i| compare(&v, &self.expr(i)) == Some(Ordering::Equal));
                Value::Bool(found != *negated)
            }
            TKind::InField { needle, list, negated } => {
                let v = self.expr(needle);
                let Value::List(items) = self.expr(list) else {
                    return Value::Bool(false);
                };
                if v.is_null() {
                    return Value::Bool(false);
                }
                let found = items.iter().any(|i| compare(&v, i) == Some(Ordering::Equal));
                Value::Bool(found != *negated)
            }
            TKind::IsNull { expr, negated } => Value::Bool(self.expr(expr).is_null() != *negated),
            TKind::ToDateTime(a) => match self.expr(a) {
                Value::Date(d) => Value::DateTime(midnight(d)),
                _ => Value::Null,
            },
            TKind::Call(f, args) => self.call(*f, args),
        }
    }

    fn call(&self, f: Func, args: &[TExpr]) -> Value {
        let arg = |i: usize| args.get(i).map_or(Value::Null, |a| self.expr(a));
        match f {
            Func::Today => Value::Date(self.ctx.today),
            Func::Now => Value::DateTime(self.ctx.now_ms()),
            Func::Year | Func::Month | Func::Day => match day_of(&arg(0)) {
                Some(d) => Value::Number(match f {
                    Func::Year => f64::from(d.year()),
                    Func::Month => f64::from(d.month()),
                    _ => f64::from(d.day()),
                }),
                None => Value::Null,
            },
            Func::Lower => match arg(0) {
                Value::Text(s) => Value::Text(s.to_ascii_lowercase()),
                _ => Value::Null,
            },
            Func::Upper => match arg(0) {
                Value::Text(s) => Value::Text(s.to_ascii_uppercase()),
                _ => Value::Null,
            },
            Func::Len => match arg(0) {
                Value::Text(s) => Value::Number(s.chars().count() as f64),
                _ => Value::Null,
            },
            Func::Round(scale) => match arg(0) {
                Value::Number(x) => Value::Number(round(x, scale)),
                _ => Value::Null,
            },
            Func::Abs => match arg(0) {
                Value::Number(x) => Value::Number(x.abs()),
                _ => Value::Null,
            },
            Func::Coalesce => args.iter().map(|a| self.expr(a)).find(|v| !v.is_null()).unwrap_or(Value::Null),
            Func::If => {
                if arg(0).is_true() {
                    arg(1)
                } else {
                    arg(2)
                }
            }
            Func::Min | Func::Max => {
                let (a, b) = (arg(0), arg(1));
                match compare(&a, &b) {
                    Some(o) => {
                        let a_first = if f == Func::Min { o != Ordering::Greater } else { o != Ordering::Less };
                        if a_first { a } else { b }
                    }
                    None => Value::Null,
                }
            }
        }
    }
}

fn arith(op: ArithOp, x: f64, y: f64) -> Value {
    Value::Number(match op {
        ArithOp::Add => x + y,
        ArithOp::Sub => x - y,
        ArithOp::Mul => x * y,
        ArithOp::Div if y == 0.0 => return Value::Null,
        ArithOp::Div => x / y,
        ArithOp::Mod if y == 0.0 => return Value::Null,
        // Neither database has a float remainder that matches the other (SQLite's `%` works on
        // integers, PostgreSQL has none for float8), so all three compute this formula.
        ArithOp::Mod => x - y * (x / y).trunc(),
    })
}

/// Rounds half away from zero to the precision `scale` (= 10^digits), as the SQL does.
pub(crate) fn round(x: f64, scale: f64) -> f64 {
    if x.abs() * scale >= ROUND_LIMIT {
        x
    } else if x < 0.0 {
        -(((-x) * scale + 0.5).floor() / scale)
    } else {
        (x * scale + 0.5).floor() / scale
    }
}

/// Adds `n` days (truncated toward zero); `None` outside the years 0001–9999.
fn shift(d: NaiveDate, n: f64) -> Option<NaiveDate> {
    let k = n.trunc();
    if k.abs() >= MAX_DAY_SHIFT {
        return None;
    }
    let out = d.checked_add_signed(TimeDelta::try_days(k as i64)?)?;
    in_range(out).then_some(out)
}

/// The calendar day of a date, or the UTC day of a date-time.
fn day_of(v: &Value) -> Option<NaiveDate> {
    match v {
        Value::Date(d) => Some(*d),
        Value::DateTime(t) => Some(t.date_naive()),
        _ => None,
    }
}

/// Orders two values of one type; `None` when either is null (comparisons with null are false).
/// Text compares by bytes, which is what SQLite's BINARY and PostgreSQL's "C" collation do.
pub(crate) fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.partial_cmp(y),
        (Value::Text(x), Value::Text(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Date(x), Value::Date(y)) => Some(x.cmp(y)),
        (Value::DateTime(x), Value::DateTime(y)) => Some(x.cmp(y)),
        (Value::Date(x), Value::DateTime(y)) => Some(midnight(*x).cmp(y)),
        (Value::DateTime(x), Value::Date(y)) => Some(x.cmp(&midnight(*y))),
        _ => None,
    }
}
