//! CSV import: a spreadsheet export becomes a bulk write, so every row goes through the
//! same validation as any other write, with a report per line.
//!
//! The first line names the columns, by field key or by label (English or Chinese, case
//! does not matter). Cells are read by the field's type: numbers and booleans are parsed,
//! lists (multi-select, several users or relations) split on `;`, ids are numbers. Empty
//! cells are absent values.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::error::{Error, FieldError, Result};
use crate::forms::{Field, FieldType, Form, Label};

/// Most data lines in one import.
pub const MAX_ROWS: usize = 50_000;

/// Reads `text` into record inputs for `form`. Lines are numbered as in the file (the
/// header is line 1), for reports.
pub fn parse_csv(form: &Form, text: &str) -> Result<Vec<Map<String, Value>>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(text.as_bytes());
    let headers =
        reader.headers().map_err(|e| Error::invalid("header", format!("cannot read the header line: {e}")))?.clone();
    let mut columns: Vec<&Field> = Vec::new();
    let mut errors = Vec::new();
    let lookup = names(form);
    for (i, h) in headers.iter().enumerate() {
        match lookup.get(&h.trim().to_lowercase()) {
            Some(f) if f.ty.is_computed() => errors
                .push(FieldError::new(format!("header[{i}]"), format!("`{h}` is computed and cannot be imported"))),
            Some(f) if f.ty == FieldType::Subtable => errors.push(FieldError::new(
                format!("header[{i}]"),
                format!("`{h}` is a sub-table; import its lines with the API"),
            )),
            Some(f) if columns.iter().any(|c| c.key == f.key) => {
                errors.push(FieldError::new(format!("header[{i}]"), format!("`{h}` names `{}` a second time", f.key)))
            }
            Some(f) => columns.push(f),
            None => errors.push(FieldError::new(format!("header[{i}]"), format!("no field is called `{h}`"))),
        }
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let mut rows = Vec::new();
    for (n, record) in reader.records().enumerate() {
        let line = n + 2;
        let record =
            record.map_err(|e| Error::invalid(format!("line {line}"), format!("cannot read the line: {e}")))?;
        if rows.len() == MAX_ROWS {
            return Err(Error::invalid("body", format!("at most {MAX_ROWS} lines per import")));
        }
        let mut data = Map::new();
        for (f, cell) in columns.iter().zip(record.iter()) {
            let cell = cell.trim();
            if !cell.is_empty() {
                data.insert(f.key.clone(), cell_value(f, cell));
            }
        }
        rows.push(data);
    }
    if rows.is_empty() {
        return Err(Error::invalid("body", "the file has no data lines"));
    }
    Ok(rows)
}

/// Column names a field answers to: its key and its labels, lower-cased.
fn names(form: &Form) -> HashMap<String, &Field> {
    let mut map = HashMap::new();
    for f in form.active_fields() {
        let labels = match &f.label {
            Label::Plain(s) => vec![s.clone()],
            Label::Localized { en, zh } => en.iter().chain(zh.iter()).cloned().collect(),
        };
        for l in labels {
            map.entry(l.trim().to_lowercase()).or_insert(f);
        }
    }
    // Keys win over labels that happen to spell another field's key.
    for f in form.active_fields() {
        map.insert(f.key.to_lowercase(), f);
    }
    map
}

/// A cell as the JSON the write path expects; what cannot be read stays text, so that
/// validation reports it with the field's own message.
fn cell_value(f: &Field, cell: &str) -> Value {
    let number =
        |s: &str| s.replace(',', "").parse::<f64>().ok().filter(|x| x.is_finite()).map(super::validate::number);
    let id = |s: &str| s.trim().parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::String(s.trim().to_owned()));
    match f.ty {
        FieldType::Number | FieldType::Integer => number(cell).unwrap_or_else(|| Value::String(cell.to_owned())),
        FieldType::Decimal => Value::String(cell.replace(',', "")),
        FieldType::Boolean => match cell.to_lowercase().as_str() {
            "true" | "yes" | "y" | "1" | "是" | "对" => Value::Bool(true),
            "false" | "no" | "n" | "0" | "否" | "错" => Value::Bool(false),
            _ => Value::String(cell.to_owned()),
        },
        FieldType::MultiSelect => Value::Array(
            cell.split(';').map(str::trim).filter(|s| !s.is_empty()).map(|s| Value::String(s.to_owned())).collect(),
        ),
        FieldType::User | FieldType::Department | FieldType::Relation | FieldType::Attachment if f.many => {
            Value::Array(cell.split(';').map(str::trim).filter(|s| !s.is_empty()).map(id).collect())
        }
        FieldType::User | FieldType::Department | FieldType::Relation | FieldType::Attachment => id(cell),
        _ => Value::String(cell.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form() -> Form {
        Form {
            id: 1,
            key: "f".into(),
            name: Label::Plain("F".into()),
            app: None,
            fields: serde_json::from_value(json!([
                {"key": "name", "label": {"en": "Name", "zh": "名称"}, "type": "text"},
                {"key": "qty", "label": "Qty", "type": "integer"},
                {"key": "ok", "label": "OK", "type": "boolean"},
                {"key": "tags", "label": "Tags", "type": "multi_select", "options": ["a", "b"]},
                {"key": "no", "label": "No", "type": "auto_number", "format": "X{000}"}
            ]))
            .expect("fields"),
            version: 1,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn reads_columns_by_key_or_label() {
        let rows = parse_csv(&form(), "\u{feff}名称,QTY,ok,tags\n\"Acme, Ltd\",\"1,200\",是,a; b\nBeta,,no,\n")
            .expect("parses");
        assert_eq!(
            rows[0],
            json!({"name": "Acme, Ltd", "qty": 1200, "ok": true, "tags": ["a", "b"]}).as_object().cloned().expect("o")
        );
        assert_eq!(rows[1], json!({"name": "Beta", "ok": false}).as_object().cloned().expect("o"));
    }

    #[test]
    fn refuses_unknown_and_computed_columns() {
        let Err(Error::Invalid(e)) = parse_csv(&form(), "name,nope,no\nx,y,z\n") else { panic!("should fail") };
        let fields: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["header[1]", "header[2]"]);
        assert!(parse_csv(&form(), "name\n").is_err(), "no data lines");
        assert!(parse_csv(&form(), "name,qty\nx\n").is_err(), "ragged line");
    }
}
