//! Run-time values of the in-memory evaluator and their canonical text forms.
//!
//! Dates and date-times are parsed into chrono types for arithmetic, but they are always
//! printed in the one canonical format the server stores, so that what the evaluator produces and
//! what SQL compares (as text) are the same strings.

use chrono::{DateTime, NaiveDate, NaiveDateTime, SubsecRound, Utc};
use serde_json::Value as Json;

use crate::types::Type;

/// A value produced by [`crate::eval`].
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(f64),
    Text(String),
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
    List(Vec<Value>),
}

impl Value {
    /// True only for `Bool(true)`: this is what a filter or a flow condition keeps.
    pub fn is_true(&self) -> bool {
        matches!(self, Value::Bool(true))
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The stored JSON shape of this value (dates and date-times as canonical strings).
    pub fn to_json(&self) -> Json {
        match self {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            // Non-finite numbers have no JSON form; null is the honest answer.
            Value::Number(n) => serde_json::Number::from_f64(*n).map_or(Json::Null, Json::Number),
            Value::Text(s) => Json::String(s.clone()),
            Value::Date(d) => Json::String(format_date(*d)),
            Value::DateTime(t) => Json::String(format_datetime(*t)),
            Value::List(items) => Json::Array(items.iter().map(Value::to_json).collect()),
        }
    }

    /// Reads a stored JSON value as a value of type `ty`. Anything not in the stored shape for
    /// that type reads as null, like a missing key.
    pub fn from_json(json: &Json, ty: &Type) -> Value {
        match (ty, json) {
            (Type::Text, Json::String(s)) => Value::Text(s.clone()),
            (Type::Number, Json::Number(n)) => n.as_f64().map_or(Value::Null, Value::Number),
            (Type::Bool, Json::Bool(b)) => Value::Bool(*b),
            (Type::Date, Json::String(s)) => parse_date(s).map_or(Value::Null, Value::Date),
            (Type::DateTime, Json::String(s)) => parse_datetime(s).map_or(Value::Null, Value::DateTime),
            (Type::List(inner), Json::Array(items)) => {
                Value::List(items.iter().map(|j| Value::from_json(j, inner)).collect())
            }
            _ => Value::Null,
        }
    }
}

/// `YYYY-MM-DD`, the stored form of a date.
pub fn format_date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, the stored form of a date-time: fixed width, so text order is
/// time order.
pub fn format_datetime(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Parses exactly `YYYY-MM-DD` with a year from 0001 to 9999 (the range both databases and the
/// canonical text order support).
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    in_range(d).then_some(d)
}

/// Parses a date-time written by a user or stored by the server: the canonical form, any
/// RFC 3339 form (converted to UTC), `YYYY-MM-DDTHH:MM[:SS[.fff]]` taken as UTC, or a bare date
/// (midnight UTC). Sub-millisecond digits are truncated, as the stored form has milliseconds.
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    if let Some(d) = parse_date(s) {
        return Some(midnight(d));
    }
    let t = if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        t.with_timezone(&Utc)
    } else {
        let naive = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S%.f"]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())?;
        naive.and_utc()
    };
    let t = t.trunc_subsecs(3);
    in_range(t.date_naive()).then_some(t)
}

pub(crate) fn midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_time(chrono::NaiveTime::MIN).and_utc()
}

pub(crate) fn in_range(d: NaiveDate) -> bool {
    use chrono::Datelike;
    (1..=9999).contains(&d.year())
}
