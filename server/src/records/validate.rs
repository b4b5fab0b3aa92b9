//! Checking and normalising record input against a form's fields. No IO: references to
//! other rows (relations, users, departments, attachments) are collected for the caller to
//! check in the database.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Number, Value};

use crate::error::FieldError;
use crate::forms::{Field, FieldType, Form};
use crate::tenants::{FieldAccess, FormPermission};

/// Default longest text, in characters.
pub const TEXT_MAX: u32 = 1_000;
pub const LONG_TEXT_MAX: u32 = 100_000;
/// Most lines in a sub-table.
pub const SUBTABLE_MAX: u32 = 1_000;
/// Integers beyond this lose precision as JSON numbers in browsers.
const SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// A row in another table that a value points to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ref {
    /// Where the value sits in the input, e.g. `data.customer` or `data.lines[2].product`.
    pub path: String,
    pub kind: RefKind,
    pub id: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefKind {
    /// A record of the form with this key.
    Record(String),
    User,
    Department,
    Attachment,
}

/// The outcome of checking input.
#[derive(Debug, Default)]
pub struct Checked {
    pub data: Map<String, Value>,
    pub errors: Vec<FieldError>,
    pub refs: Vec<Ref>,
}

/// Checks `input` for a new record: every key must be a writable field; defaults fill in
/// what is missing; required fields must have a value.
pub fn check_create(form: &Form, input: &Map<String, Value>, perm: &FormPermission) -> Checked {
    let mut out = Checked::default();
    check_keys(form, input, perm, &mut out.errors);
    // One buffer for the field paths: they are needed only when something is wrong, and this
    // runs for every row of a bulk write.
    let mut path = String::with_capacity(64);
    for f in form.active_fields() {
        if f.ty.is_computed() {
            continue;
        }
        path.clear();
        path.push_str("data.");
        path.push_str(&f.key);
        let given = input.get(&f.key).filter(|v| !v.is_null());
        let value = match given {
            Some(v) if writable(f, perm) => Some(v),
            Some(_) => None,
            None => f.default.as_ref(),
        };
        if let Some(v) = value
            && let Some(n) = normalize(f, v, &path, &mut out.errors, &mut out.refs)
        {
            out.data.insert(f.key.clone(), n);
        }
        if f.required && !out.data.contains_key(&f.key) && !out.errors.iter().any(|e| e.field == path) {
            out.errors.push(FieldError::new(path.as_str(), "is required"));
        }
    }
    out
}

/// Checks a change to `current`: keys with `null` clear a field; a required field cannot be
/// cleared. Returns the new data.
pub fn check_update(
    form: &Form,
    current: &Map<String, Value>,
    input: &Map<String, Value>,
    perm: &FormPermission,
) -> Checked {
    let mut out = Checked { data: current.clone(), ..Default::default() };
    check_keys(form, input, perm, &mut out.errors);
    for (key, value) in input {
        let Some(f) = form.field(key).filter(|f| !f.retired && !f.ty.is_computed() && writable(f, perm)) else {
            continue;
        };
        let path = format!("data.{key}");
        if value.is_null() {
            out.data.remove(key);
        } else if let Some(n) = normalize(f, value, &path, &mut out.errors, &mut out.refs) {
            out.data.insert(key.clone(), n);
        } else {
            continue;
        }
        if f.required && !out.data.contains_key(key) && !out.errors.iter().any(|e| e.field == path) {
            out.errors.push(FieldError::new(path, "is required"));
        }
    }
    out
}

fn writable(f: &Field, perm: &FormPermission) -> bool {
    !perm.fields.contains_key(&f.key)
}

fn check_keys(form: &Form, input: &Map<String, Value>, perm: &FormPermission, errors: &mut Vec<FieldError>) {
    for key in input.keys() {
        let problem = match form.field(key) {
            None => Some("unknown field".to_owned()),
            Some(f) if f.retired => Some("this field is retired and takes no input".to_owned()),
            Some(f) if f.ty.is_computed() => Some(format!("is computed ({}) and cannot be set", f.ty.name())),
            Some(f) => match perm.fields.get(&f.key) {
                Some(FieldAccess::ReadOnly) => Some("is read-only for your role".to_owned()),
                Some(FieldAccess::Hidden) => Some("unknown field".to_owned()),
                None => None,
            },
        };
        if let Some(message) = problem {
            errors.push(FieldError::new(format!("data.{key}"), message));
        }
    }
}

/// Compiled patterns, by source: a form's patterns are few and checked on every write.
fn pattern(p: &str) -> Option<regex::Regex> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<String, Option<regex::Regex>>>> = OnceLock::new();
    let mut cache = CACHE.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() > 10_000 {
        cache.clear();
    }
    cache
        .entry(p.to_owned())
        .or_insert_with(|| regex::RegexBuilder::new(&format!("^(?:{p})$")).size_limit(1 << 20).build().ok())
        .clone()
}

/// Checks one value and returns it in its stored form (see the `expr` crate for the shapes).
fn normalize(f: &Field, v: &Value, path: &str, errors: &mut Vec<FieldError>, refs: &mut Vec<Ref>) -> Option<Value> {
    let mut fail = |m: String| {
        errors.push(FieldError::new(path, m));
        None
    };
    match f.ty {
        FieldType::Text | FieldType::LongText => {
            let Value::String(s) = v else { return fail(format!("expected text, got {}", kind(v))) };
            let s = if f.ty == FieldType::Text { s.trim().to_owned() } else { s.clone() };
            if s.is_empty() {
                return None;
            }
            let n = s.chars().count() as u32;
            let max = f.max_length.unwrap_or(if f.ty == FieldType::Text { TEXT_MAX } else { LONG_TEXT_MAX });
            if n > max {
                return fail(format!("must be at most {max} characters (got {n})"));
            }
            if let Some(min) = f.min_length.filter(|m| n < *m) {
                return fail(format!("must be at least {min} characters"));
            }
            if let Some(p) = &f.pattern
                && pattern(p).is_some_and(|re| !re.is_match(&s))
            {
                return fail(f.pattern_message.clone().unwrap_or_else(|| format!("must match the pattern {p}")));
            }
            Some(Value::String(s))
        }
        FieldType::Number | FieldType::Decimal | FieldType::Integer => {
            let x = match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) if f.ty == FieldType::Decimal => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            let Some(x) = x.filter(|x| x.is_finite()) else {
                return fail(format!("expected a number, got {}", kind(v)));
            };
            if f.ty == FieldType::Integer && (x.fract() != 0.0 || x.abs() > SAFE_INTEGER) {
                return fail("must be a whole number".into());
            }
            let x = if f.ty == FieldType::Decimal {
                let scale = i32::from(f.scale.unwrap_or(2));
                let factor = 10f64.powi(scale);
                let scaled = x * factor;
                if (scaled - scaled.round()).abs() > 1e-6 * scaled.abs().max(1.0) {
                    return fail(format!("must have at most {scale} decimal places"));
                }
                scaled.round() / factor
            } else {
                x
            };
            if let Some(min) = f.min.as_ref().and_then(Value::as_f64).filter(|m| x < *m) {
                return fail(format!("must be at least {min}"));
            }
            if let Some(max) = f.max.as_ref().and_then(Value::as_f64).filter(|m| x > *m) {
                return fail(format!("must be at most {max}"));
            }
            Some(number(x))
        }
        FieldType::Boolean => match v {
            Value::Bool(_) => Some(v.clone()),
            _ => fail(format!("expected true or false, got {}", kind(v))),
        },
        FieldType::Date => {
            let d = v.as_str().and_then(|s| NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok());
            let Some(d) = d else { return fail("expected a date as YYYY-MM-DD".into()) };
            let text = d.format("%Y-%m-%d").to_string();
            if let Some(min) = f.min.as_ref().and_then(Value::as_str).filter(|m| text.as_str() < *m) {
                return fail(format!("must be on or after {min}"));
            }
            if let Some(max) = f.max.as_ref().and_then(Value::as_str).filter(|m| text.as_str() > *m) {
                return fail(format!("must be on or before {max}"));
            }
            Some(Value::String(text))
        }
        FieldType::Datetime => {
            let t = v.as_str().and_then(|s| DateTime::parse_from_rfc3339(s.trim()).ok());
            let Some(t) = t else {
                return fail("expected a date and time in RFC 3339, e.g. 2026-11-27T09:30:00+08:00".into());
            };
            Some(Value::String(crate::store::format_time(t.with_timezone(&Utc))))
        }
        FieldType::SingleSelect => {
            let Value::String(s) = v else { return fail(format!("expected one of the options, got {}", kind(v))) };
            if !f.options.iter().any(|o| &o.value == s) {
                return fail(format!("`{s}` is not one of the options: {}", options_list(f)));
            }
            Some(v.clone())
        }
        FieldType::MultiSelect => {
            let Value::Array(items) = v else { return fail(format!("expected a list of options, got {}", kind(v))) };
            let mut out: Vec<Value> = Vec::new();
            for item in items {
                match item {
                    Value::String(s) if f.options.iter().any(|o| &o.value == s) => {
                        if !out.contains(item) {
                            out.push(item.clone());
                        }
                    }
                    Value::String(s) => return fail(format!("`{s}` is not one of the options: {}", options_list(f))),
                    other => return fail(format!("expected option values (text), got {}", kind(other))),
                }
            }
            check_count(f, out.len(), path, errors)?;
            if out.is_empty() { None } else { Some(Value::Array(out)) }
        }
        FieldType::User | FieldType::Department | FieldType::Relation | FieldType::Attachment => {
            let ref_kind = match f.ty {
                FieldType::User => RefKind::User,
                FieldType::Department => RefKind::Department,
                FieldType::Attachment => RefKind::Attachment,
                _ => RefKind::Record(f.target.clone().unwrap_or_default()),
            };
            let ids: Vec<&Value> = match (v, f.many) {
                (Value::Array(items), true) => items.iter().collect(),
                (Value::Array(_), false) => return fail("expected one id, got a list".into()),
                (one, _) => vec![one],
            };
            let mut out = Vec::new();
            for (i, id) in ids.into_iter().enumerate() {
                let Some(n) = id.as_i64().filter(|n| *n > 0) else {
                    return fail(format!("expected an id (a positive whole number), got {}", kind(id)));
                };
                if !out.contains(&n) {
                    let p = if f.many { format!("{path}[{i}]") } else { path.to_owned() };
                    refs.push(Ref { path: p, kind: ref_kind.clone(), id: n });
                    out.push(n);
                }
            }
            if f.many {
                check_count(f, out.len(), path, errors)?;
                if out.is_empty() { None } else { Some(Value::Array(out.into_iter().map(Value::from).collect())) }
            } else {
                out.first().map(|n| Value::from(*n))
            }
        }
        FieldType::Subtable => {
            let Value::Array(lines) = v else { return fail(format!("expected a list of lines, got {}", kind(v))) };
            let max = f.max_length.unwrap_or(SUBTABLE_MAX) as usize;
            if lines.len() > max {
                return fail(format!("at most {max} lines"));
            }
            check_count(f, lines.len(), path, errors)?;
            let mut out = Vec::new();
            for (i, line) in lines.iter().enumerate() {
                let line_path = format!("{path}[{i}]");
                let Value::Object(obj) = line else {
                    errors.push(FieldError::new(&line_path, format!("expected an object, got {}", kind(line))));
                    continue;
                };
                for key in obj.keys() {
                    if f.fields.iter().all(|s| &s.key != key || s.retired) {
                        errors.push(FieldError::new(format!("{line_path}.{key}"), "unknown field"));
                    }
                }
                let mut normalized = Map::new();
                for sub in f.fields.iter().filter(|s| !s.retired) {
                    let sub_path = format!("{line_path}.{}", sub.key);
                    let value = obj.get(&sub.key).filter(|v| !v.is_null()).or(sub.default.as_ref());
                    if let Some(x) = value.and_then(|x| normalize(sub, x, &sub_path, errors, refs)) {
                        normalized.insert(sub.key.clone(), x);
                    } else if sub.required && !errors.iter().any(|e| e.field == sub_path) {
                        errors.push(FieldError::new(sub_path, "is required"));
                    }
                }
                out.push(Value::Object(normalized));
            }
            if out.is_empty() { None } else { Some(Value::Array(out)) }
        }
        FieldType::AutoNumber | FieldType::Formula => fail("is computed and cannot be set".into()),
    }
}

fn check_count(f: &Field, n: usize, path: &str, errors: &mut Vec<FieldError>) -> Option<()> {
    if let Some(min) = f.min_length.filter(|m| (n as u32) < *m) {
        errors.push(FieldError::new(path, format!("needs at least {min} items")));
        return None;
    }
    if let Some(max) = f.max_length.filter(|m| (n as u32) > *m) {
        errors.push(FieldError::new(path, format!("takes at most {max} items")));
        return None;
    }
    Some(())
}

fn options_list(f: &Field) -> String {
    f.options.iter().map(|o| o.value.as_str()).collect::<Vec<_>>().join(", ")
}

/// A number as JSON, whole numbers without a fraction.
pub fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() <= SAFE_INTEGER {
        Value::from(x as i64)
    } else {
        Number::from_f64(x).map(Value::Number).unwrap_or(Value::Null)
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "true/false",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The text under which a value is kept in the uniqueness table. With `normalized`, text is
/// compared case-insensitively (Unicode NFKC, lower case) with runs of white space folded.
pub fn unique_value(v: &Value, normalized: bool) -> Option<String> {
    use unicode_normalization::UnicodeNormalization;
    match v {
        Value::Null => None,
        Value::String(s) if normalized => {
            let folded: String = s.nfkc().collect::<String>().to_lowercase();
            Some(folded.split_whitespace().collect::<Vec<_>>().join(" "))
        }
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.as_f64().map(|x| number(x).to_string()).unwrap_or_else(|| n.to_string())),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form(fields: Value) -> Form {
        Form {
            id: 1,
            key: "f".into(),
            name: crate::forms::Label::Plain("F".into()),
            app: None,
            fields: serde_json::from_value(fields).expect("fields"),
            version: 1,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    fn check(fields: Value, input: Value, expect: Value) {
        let f = form(fields);
        let input = input.as_object().cloned().expect("object");
        let out = check_create(&f, &input, &FormPermission::full());
        let got = if out.errors.is_empty() {
            Value::Object(out.data)
        } else {
            json!({"errors": out.errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>()})
        };
        assert_eq!(got, expect);
    }

    #[test]
    fn normalizes_and_rejects_values() {
        let fields = json!([
            {"key": "name", "label": "Name", "type": "text", "required": true, "max_length": 5},
            {"key": "qty", "label": "Qty", "type": "integer", "min": 1},
            {"key": "price", "label": "Price", "type": "decimal", "scale": 2},
            {"key": "due", "label": "Due", "type": "date"},
            {"key": "at", "label": "At", "type": "datetime"},
            {"key": "status", "label": "Status", "type": "single_select", "options": ["open", "done"], "default": "open"},
            {"key": "tags", "label": "Tags", "type": "multi_select", "options": ["a", "b"]}
        ]);
        check(
            fields.clone(),
            json!({"name": " abc ", "qty": 3, "price": "12.50", "due": "2026-01-02", "at": "2026-01-02T10:00:00+08:00", "tags": ["a", "a", "b"]}),
            json!({"name": "abc", "qty": 3, "price": 12.5, "due": "2026-01-02", "at": "2026-01-02T02:00:00.000Z", "status": "open", "tags": ["a", "b"]}),
        );
        check(
            fields.clone(),
            json!({"qty": 0.5, "price": 1.234, "due": "2026-13-01", "status": "x", "tags": "a", "nope": 1}),
            json!({"errors": [
                "data.nope: unknown field",
                "data.name: is required",
                "data.qty: must be a whole number",
                "data.price: must have at most 2 decimal places",
                "data.due: expected a date as YYYY-MM-DD",
                "data.status: `x` is not one of the options: open, done",
                "data.tags: expected a list of options, got text"
            ]}),
        );
        check(
            fields,
            json!({"name": "toolong", "qty": "3"}),
            json!({"errors": [
                "data.name: must be at most 5 characters (got 7)",
                "data.qty: expected a number, got text"
            ]}),
        );
    }

    #[test]
    fn patterns_match_the_whole_text() {
        let fields = json!([{"key": "code", "label": "Code", "type": "text", "pattern": "[A-Z]{2}\\d+", "pattern_message": "two capitals, then digits"}]);
        check(fields.clone(), json!({"code": "AB12"}), json!({"code": "AB12"}));
        check(fields.clone(), json!({"code": "xAB12"}), json!({"errors": ["data.code: two capitals, then digits"]}));
        check(fields, json!({"code": "AB12x"}), json!({"errors": ["data.code: two capitals, then digits"]}));
    }

    #[test]
    fn unique_values_fold_case_and_space() {
        assert_eq!(unique_value(&json!("  ACME   Ltd "), true).as_deref(), Some("acme ltd"));
        assert_eq!(unique_value(&json!("ＡＣＭＥ"), true).as_deref(), Some("acme"));
        assert_eq!(unique_value(&json!("ACME"), false).as_deref(), Some("ACME"));
        assert_eq!(unique_value(&json!(12.0), false).as_deref(), Some("12"));
    }
}
