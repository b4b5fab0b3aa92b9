//! The JSON Schema subset plugin configurations are described in (draft 2020-12 keywords):
//! `type`, `properties`, `required`, `additionalProperties`, `enum`, `const`, `items`,
//! `minItems`, `maxItems`, `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`,
//! `minLength`, `maxLength`, `pattern`, and the annotations `title`, `description`,
//! `default`, `examples`, `format`, `$schema`. A schema using anything else is refused at
//! publish, so that no constraint an author wrote is silently ignored.

use serde_json::{Map, Value};

use crate::error::FieldError;

const KEYWORDS: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "enum",
    "const",
    "items",
    "minItems",
    "maxItems",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "title",
    "description",
    "default",
    "examples",
    "format",
    "$schema",
];

const TYPES: &[&str] = &["object", "array", "string", "number", "integer", "boolean", "null"];

/// Problems with a schema itself.
pub fn check_schema(schema: &Value, at: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    check_node(schema, at, &mut errors);
    errors
}

fn check_node(schema: &Value, at: &str, errors: &mut Vec<FieldError>) {
    let Value::Object(s) = schema else {
        if !schema.is_boolean() {
            errors.push(FieldError::new(at, "a schema is an object (or true/false)"));
        }
        return;
    };
    for (k, v) in s {
        let here = format!("{at}.{k}");
        if !KEYWORDS.contains(&k.as_str()) {
            errors
                .push(FieldError::new(here, format!("unsupported keyword `{k}`; supported: {}", KEYWORDS.join(", "))));
            continue;
        }
        match k.as_str() {
            "type" => {
                let names: Vec<&Value> = match v {
                    Value::Array(a) => a.iter().collect(),
                    other => vec![other],
                };
                if names.iter().any(|n| !n.as_str().is_some_and(|n| TYPES.contains(&n))) {
                    errors.push(FieldError::new(here, format!("a type is one of {}", TYPES.join(", "))));
                }
            }
            "properties" => match v {
                Value::Object(props) => {
                    for (name, p) in props {
                        check_node(p, &format!("{here}.{name}"), errors);
                    }
                }
                _ => errors.push(FieldError::new(here, "must be an object of schemas")),
            },
            "additionalProperties" | "items" => check_node(v, &here, errors),
            "required" if !v.as_array().is_some_and(|a| a.iter().all(Value::is_string)) => {
                errors.push(FieldError::new(here, "must be a list of property names"));
            }
            "enum" if !v.is_array() => errors.push(FieldError::new(here, "must be a list")),
            "minItems" | "maxItems" | "minLength" | "maxLength" if !v.is_u64() => {
                errors.push(FieldError::new(here, "must be a whole number ≥ 0"));
            }
            "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" if !v.is_number() => {
                errors.push(FieldError::new(here, "must be a number"));
            }
            "pattern" => match v.as_str().map(regex::Regex::new) {
                Some(Ok(_)) => {}
                _ => errors.push(FieldError::new(here, "must be a valid regular expression")),
            },
            _ => {}
        }
    }
}

/// Checks `value` against `schema` (already checked with [`check_schema`]). With `partial`,
/// `required` is not enforced at the top level: an install's configuration may leave keys to
/// each use (a form field's own configuration).
pub fn validate(schema: &Value, value: &Value, at: &str, partial: bool) -> Vec<FieldError> {
    let mut errors = Vec::new();
    validate_node(schema, value, at, partial, &mut errors);
    errors
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn has_type(v: &Value, t: &str) -> bool {
    match t {
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        other => type_name(v) == other,
    }
}

fn validate_node(schema: &Value, value: &Value, at: &str, partial: bool, errors: &mut Vec<FieldError>) {
    let s: &Map<String, Value> = match schema {
        Value::Bool(false) => {
            errors.push(FieldError::new(at, "is not allowed"));
            return;
        }
        Value::Object(s) => s,
        _ => return,
    };
    if let Some(t) = s.get("type") {
        let allowed: Vec<&str> = match t {
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            other => other.as_str().into_iter().collect(),
        };
        if !allowed.iter().any(|t| has_type(value, t)) {
            errors.push(FieldError::new(at, format!("must be {}, not {}", allowed.join(" or "), type_name(value))));
            return;
        }
    }
    if let Some(Value::Array(options)) = s.get("enum")
        && !options.contains(value)
    {
        let list: Vec<String> = options.iter().map(Value::to_string).collect();
        errors.push(FieldError::new(at, format!("must be one of {}", list.join(", "))));
    }
    if let Some(c) = s.get("const")
        && c != value
    {
        errors.push(FieldError::new(at, format!("must be {c}")));
    }
    let num = |k: &str| s.get(k).and_then(Value::as_f64);
    if let Some(x) = value.as_f64() {
        if let Some(m) = num("minimum").filter(|m| x < *m) {
            errors.push(FieldError::new(at, format!("must be at least {m}")));
        }
        if let Some(m) = num("maximum").filter(|m| x > *m) {
            errors.push(FieldError::new(at, format!("must be at most {m}")));
        }
        if let Some(m) = num("exclusiveMinimum").filter(|m| x <= *m) {
            errors.push(FieldError::new(at, format!("must be more than {m}")));
        }
        if let Some(m) = num("exclusiveMaximum").filter(|m| x >= *m) {
            errors.push(FieldError::new(at, format!("must be less than {m}")));
        }
    }
    let count = |k: &str| s.get(k).and_then(Value::as_u64).map(|n| n as usize);
    if let Some(text) = value.as_str() {
        let n = text.chars().count();
        if let Some(m) = count("minLength").filter(|m| n < *m) {
            errors.push(FieldError::new(at, format!("must have at least {m} characters")));
        }
        if let Some(m) = count("maxLength").filter(|m| n > *m) {
            errors.push(FieldError::new(at, format!("must have at most {m} characters")));
        }
        if let Some(Ok(re)) = s.get("pattern").and_then(Value::as_str).map(regex::Regex::new)
            && !re.is_match(text)
        {
            errors.push(FieldError::new(at, format!("must match {}", re.as_str())));
        }
    }
    if let Some(items) = value.as_array() {
        if let Some(m) = count("minItems").filter(|m| items.len() < *m) {
            errors.push(FieldError::new(at, format!("must have at least {m} items")));
        }
        if let Some(m) = count("maxItems").filter(|m| items.len() > *m) {
            errors.push(FieldError::new(at, format!("must have at most {m} items")));
        }
        if let Some(item_schema) = s.get("items") {
            for (i, item) in items.iter().enumerate() {
                validate_node(item_schema, item, &format!("{at}[{i}]"), false, errors);
            }
        }
    }
    if let Some(obj) = value.as_object() {
        let props = s.get("properties").and_then(Value::as_object);
        if !partial && let Some(Value::Array(required)) = s.get("required") {
            for r in required.iter().filter_map(Value::as_str) {
                if !obj.contains_key(r) {
                    errors.push(FieldError::new(format!("{at}.{r}"), "is required"));
                }
            }
        }
        for (k, v) in obj {
            let here = format!("{at}.{k}");
            match props.and_then(|p| p.get(k)) {
                Some(p) => validate_node(p, v, &here, false, errors),
                None => match s.get("additionalProperties") {
                    Some(Value::Bool(false)) => errors.push(FieldError::new(here, "is not a known setting")),
                    Some(extra) => validate_node(extra, v, &here, false, errors),
                    None => {}
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn validates_the_subset() {
        let schema = json!({
            "type": "object",
            "required": ["kind"],
            "additionalProperties": false,
            "properties": {
                "kind": {"enum": ["uscc", "mobile"]},
                "width": {"type": "integer", "minimum": 100, "maximum": 4000},
                "title": {"type": "string", "maxLength": 5},
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2}
            }
        });
        assert!(check_schema(&schema, "s").is_empty());
        assert!(validate(&schema, &json!({"kind": "uscc", "width": 800}), "config", false).is_empty());
        let e = validate(&schema, &json!({"width": 50.5, "title": "too long", "tags": [1], "x": 1}), "config", false);
        assert_eq!(fields(&e), ["config.kind", "config.width", "config.title", "config.tags[0]", "config.x"], "{e:?}");
        // Partial: required keys may come later.
        assert!(validate(&schema, &json!({}), "config", true).is_empty());
        assert_eq!(fields(&validate(&schema, &json!("x"), "config", true)), ["config"]);
    }

    #[test]
    fn refuses_unsupported_keywords() {
        let e = check_schema(&json!({"type": "object", "properties": {"a": {"oneOf": []}}}), "s");
        assert_eq!(fields(&e), ["s.properties.a.oneOf"]);
        assert_eq!(fields(&check_schema(&json!({"pattern": "("}), "s")), ["s.pattern"]);
    }
}
