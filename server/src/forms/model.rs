//! Form definitions: field types, constraints, and the checks a definition must pass.
//! No IO here.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::FieldError;
use crate::tenants::check_key;

/// A text in Chinese and English, or one plain string for both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Label {
    Plain(String),
    Localized {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        en: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        zh: Option<String>,
    },
}

impl Label {
    pub fn is_blank(&self) -> bool {
        match self {
            Label::Plain(s) => s.trim().is_empty(),
            Label::Localized { en, zh } => {
                en.as_deref().is_none_or(|s| s.trim().is_empty()) && zh.as_deref().is_none_or(|s| s.trim().is_empty())
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Text,
    LongText,
    Number,
    Decimal,
    Integer,
    Date,
    Datetime,
    Boolean,
    SingleSelect,
    MultiSelect,
    User,
    Department,
    Relation,
    Subtable,
    AutoNumber,
    Formula,
    Attachment,
}

impl FieldType {
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::LongText => "long_text",
            FieldType::Number => "number",
            FieldType::Decimal => "decimal",
            FieldType::Integer => "integer",
            FieldType::Date => "date",
            FieldType::Datetime => "datetime",
            FieldType::Boolean => "boolean",
            FieldType::SingleSelect => "single_select",
            FieldType::MultiSelect => "multi_select",
            FieldType::User => "user",
            FieldType::Department => "department",
            FieldType::Relation => "relation",
            FieldType::Subtable => "subtable",
            FieldType::AutoNumber => "auto_number",
            FieldType::Formula => "formula",
            FieldType::Attachment => "attachment",
        }
    }

    /// Values the system computes; input for them is refused.
    pub fn is_computed(self) -> bool {
        matches!(self, FieldType::AutoNumber | FieldType::Formula)
    }

    /// Types whose value can be unique.
    pub fn can_be_unique(self) -> bool {
        matches!(
            self,
            FieldType::Text
                | FieldType::Number
                | FieldType::Decimal
                | FieldType::Integer
                | FieldType::Date
                | FieldType::Datetime
                | FieldType::SingleSelect
                | FieldType::User
                | FieldType::Relation
                | FieldType::AutoNumber
        )
    }

    /// Types that can get an expression index for filtering and sorting.
    pub fn can_be_indexed(self) -> bool {
        self.can_be_unique() || matches!(self, FieldType::Boolean | FieldType::Department | FieldType::Formula)
    }
}

/// A preset option: a plain string, or a value with a label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum OptionInput {
    Plain(String),
    Full { value: String, label: Option<Label> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SelectOption {
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<Label>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One field of a form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// Stable identifier used in record data, filters and the API.
    pub key: String,
    pub label: Label,
    #[serde(rename = "type")]
    pub ty: FieldType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub required: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub unique: bool,
    /// With `unique`: compare text case-insensitively, with runs of white space folded.
    #[serde(default, skip_serializing_if = "is_false")]
    pub unique_normalized: bool,
    /// Keep an index on this field, for fast filters and sorts.
    #[serde(default, skip_serializing_if = "is_false")]
    pub indexed: bool,
    /// Lowest value (numbers; dates as `YYYY-MM-DD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Value>,
    /// Text length in characters, or number of items for multi-valued fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
    /// A regular expression the whole text must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Message shown when `pattern` does not match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern_message: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "deserialize_options")]
    #[schemars(with = "Vec<OptionInput>")]
    pub options: Vec<SelectOption>,
    /// Value used on create when the input has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// Decimal places kept by `decimal` fields (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<u8>,
    /// For `relation`: the key of the target form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// For `relation`, `user`, `department`, `attachment`: hold several values.
    #[serde(default, skip_serializing_if = "is_false")]
    pub many: bool,
    /// For `subtable`: the fields of each line.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<Field>,
    /// For `auto_number`: e.g. `SO-{yyyy}-{0000}`; tokens `{yyyy}`, `{yy}`, `{mm}`, `{dd}` and a
    /// run of zeros for the padded counter, which restarts whenever the date part changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// For `formula`: an expression over the other fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formula: Option<String>,
    /// When renaming a field in a form update: the key it had before.
    #[serde(default, skip_serializing)]
    pub rename_from: Option<String>,
    /// Retired fields keep their data but no longer take input or show in records.
    #[serde(default, skip_serializing_if = "is_false")]
    pub retired: bool,
    /// Plugin validators (installed in the tenant) that check this field's value on every
    /// write, after the built-in constraints; their violations join the same 422.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validators: Vec<FieldValidator>,
}

/// A plugin validator on a field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldValidator {
    /// The installed plugin's id.
    pub plugin: String,
    /// This field's configuration, over the install's.
    #[serde(default)]
    pub config: Value,
}

fn deserialize_options<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<SelectOption>, D::Error> {
    let raw: Vec<OptionInput> = Vec::deserialize(d)?;
    Ok(raw
        .into_iter()
        .map(|o| match o {
            OptionInput::Plain(value) => SelectOption { value, label: None },
            OptionInput::Full { value, label } => SelectOption { value, label },
        })
        .collect())
}

/// A form definition as stored (the `definition` column) and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Definition {
    pub fields: Vec<Field>,
}

/// Fields every record has, stored as columns; their keys cannot be used for fields.
pub const SYSTEM_KEYS: [&str; 6] = ["id", "version", "created_by", "created_at", "updated_at", "deleted_at"];

pub const MAX_FIELDS: usize = 300;

impl Definition {
    pub fn field(&self, key: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.key == key)
    }

    pub fn active(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter().filter(|f| !f.retired)
    }
}

/// Checks a list of fields (a form's, or a sub-table's with `prefix`), collecting every
/// problem. `forms` are the keys of the tenant's forms, for relation targets.
pub fn check_fields(fields: &[Field], prefix: &str, forms: &BTreeSet<String>, errors: &mut Vec<FieldError>) {
    if fields.len() > MAX_FIELDS {
        errors.push(FieldError::new(prefix_or(prefix, "fields"), format!("at most {MAX_FIELDS} fields")));
    }
    let mut seen = HashMap::new();
    for (i, f) in fields.iter().enumerate() {
        let at = |name: &str| format!("{}fields[{i}].{name}", prefix);
        if let Err(m) = check_key(&f.key, false) {
            errors.push(FieldError::new(at("key"), m));
        } else if SYSTEM_KEYS.contains(&f.key.as_str()) {
            errors.push(FieldError::new(at("key"), format!("`{}` is reserved for a system field", f.key)));
        } else if seen.insert(f.key.clone(), i).is_some() {
            errors.push(FieldError::new(at("key"), format!("duplicate key `{}`", f.key)));
        }
        if f.label.is_blank() {
            errors.push(FieldError::new(at("label"), "must not be empty"));
        }
        let ty = f.ty;
        if f.unique && !ty.can_be_unique() {
            errors.push(FieldError::new(at("unique"), format!("a {} field cannot be unique", ty.name())));
        }
        if f.unique && f.many {
            errors.push(FieldError::new(at("unique"), "a field with several values cannot be unique"));
        }
        if f.unique_normalized && !(f.unique && ty == FieldType::Text) {
            errors.push(FieldError::new(at("unique_normalized"), "applies to unique text fields only"));
        }
        if f.indexed && (!ty.can_be_indexed() || f.many) {
            errors.push(FieldError::new(at("indexed"), format!("a {} field cannot be indexed", ty.name())));
        }
        if f.required && ty.is_computed() {
            errors.push(FieldError::new(at("required"), "computed fields cannot be required"));
        }
        let is_select = matches!(ty, FieldType::SingleSelect | FieldType::MultiSelect);
        if is_select {
            if f.options.is_empty() {
                errors.push(FieldError::new(at("options"), "a select field needs at least one option"));
            }
            let mut values = BTreeSet::new();
            for (j, o) in f.options.iter().enumerate() {
                if o.value.trim().is_empty() {
                    errors.push(FieldError::new(at(&format!("options[{j}]")), "must not be empty"));
                } else if !values.insert(o.value.as_str()) {
                    errors
                        .push(FieldError::new(at(&format!("options[{j}]")), format!("duplicate option `{}`", o.value)));
                }
            }
        } else if !f.options.is_empty() {
            errors.push(FieldError::new(at("options"), "only select fields have options"));
        }
        let numeric = matches!(ty, FieldType::Number | FieldType::Decimal | FieldType::Integer);
        for (name, bound) in [("min", &f.min), ("max", &f.max)] {
            match bound {
                None => {}
                Some(Value::Number(_)) if numeric => {}
                Some(Value::String(s))
                    if ty == FieldType::Date && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() => {}
                Some(_) if numeric => errors.push(FieldError::new(at(name), "must be a number")),
                Some(_) if ty == FieldType::Date => errors.push(FieldError::new(at(name), "must be a date YYYY-MM-DD")),
                Some(_) => errors.push(FieldError::new(at(name), format!("a {} field has no {name}", ty.name()))),
            }
        }
        if let (Some(Value::Number(a)), Some(Value::Number(b))) = (&f.min, &f.max)
            && a.as_f64() > b.as_f64()
        {
            errors.push(FieldError::new(at("min"), "must not be greater than max"));
        }
        let texty = matches!(ty, FieldType::Text | FieldType::LongText);
        let lengthy = texty || f.many || matches!(ty, FieldType::MultiSelect | FieldType::Subtable);
        if (f.min_length.is_some() || f.max_length.is_some()) && !lengthy {
            errors.push(FieldError::new(at("max_length"), format!("a {} field has no length", ty.name())));
        }
        if let (Some(a), Some(b)) = (f.min_length, f.max_length)
            && a > b
        {
            errors.push(FieldError::new(at("min_length"), "must not be greater than max_length"));
        }
        if let Some(p) = &f.pattern {
            if !texty {
                errors.push(FieldError::new(at("pattern"), "only text fields have a pattern"));
            } else if let Err(e) = regex::RegexBuilder::new(&format!("^(?:{p})$")).size_limit(1 << 20).build() {
                errors.push(FieldError::new(at("pattern"), format!("not a valid regular expression: {e}")));
            }
        }
        if f.scale.is_some() && ty != FieldType::Decimal {
            errors.push(FieldError::new(at("scale"), "only decimal fields have a scale"));
        }
        if f.scale.is_some_and(|s| s > 8) {
            errors.push(FieldError::new(at("scale"), "at most 8 decimal places"));
        }
        match (ty, &f.target) {
            (FieldType::Relation, None) => errors.push(FieldError::new(at("target"), "a relation needs a target form")),
            (FieldType::Relation, Some(t)) if !forms.contains(t) => {
                errors.push(FieldError::new(at("target"), format!("no form with key `{t}`")))
            }
            (FieldType::Relation, Some(_)) => {}
            (_, Some(_)) => errors.push(FieldError::new(at("target"), "only relation fields have a target")),
            (_, None) => {}
        }
        if f.many
            && !matches!(ty, FieldType::Relation | FieldType::User | FieldType::Department | FieldType::Attachment)
        {
            errors.push(FieldError::new(at("many"), format!("a {} field cannot hold several values", ty.name())));
        }
        match ty {
            FieldType::Subtable => {
                if f.fields.is_empty() {
                    errors.push(FieldError::new(at("fields"), "a sub-table needs at least one field"));
                }
                if !prefix.is_empty() {
                    errors.push(FieldError::new(at("type"), "sub-tables cannot be nested"));
                }
                for sub in &f.fields {
                    if matches!(sub.ty, FieldType::AutoNumber | FieldType::Formula) || sub.unique || sub.indexed {
                        errors.push(FieldError::new(
                            at("fields"),
                            format!("sub-table field `{}`: auto-numbers, formulas, unique and indexed are not available in sub-tables", sub.key),
                        ));
                    }
                }
                check_fields(&f.fields, &format!("{}fields[{i}].", prefix), forms, errors);
            }
            _ if !f.fields.is_empty() => errors.push(FieldError::new(at("fields"), "only sub-tables have fields")),
            _ => {}
        }
        match (ty, &f.format) {
            (FieldType::AutoNumber, None) => {
                errors.push(FieldError::new(at("format"), "an auto-number needs a format"))
            }
            (FieldType::AutoNumber, Some(fmt)) => {
                if let Err(m) = parse_auto_format(fmt) {
                    errors.push(FieldError::new(at("format"), m));
                }
            }
            (_, Some(_)) => errors.push(FieldError::new(at("format"), "only auto-numbers have a format")),
            _ => {}
        }
        match (ty, &f.formula) {
            (FieldType::Formula, None) => {
                errors.push(FieldError::new(at("formula"), "a formula field needs a formula"))
            }
            (FieldType::Formula, Some(_)) => {} // checked against the schema by the caller
            (_, Some(_)) => errors.push(FieldError::new(at("formula"), "only formula fields have a formula")),
            _ => {}
        }
        if f.default.is_some() && (ty.is_computed() || ty == FieldType::Subtable || ty == FieldType::Attachment) {
            errors.push(FieldError::new(at("default"), format!("a {} field has no default", ty.name())));
        }
        if !f.validators.is_empty() && (ty.is_computed() || !prefix.is_empty()) {
            errors.push(FieldError::new(
                at("validators"),
                "plugin validators check fields people fill in, at the top level of a form",
            ));
        }
    }
}

fn prefix_or(prefix: &str, name: &str) -> String {
    format!("{prefix}{name}")
}

/// A piece of an auto-number format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutoPart {
    Literal(String),
    Year4,
    Year2,
    Month,
    Day,
    Counter(usize),
}

pub fn parse_auto_format(fmt: &str) -> Result<Vec<AutoPart>, String> {
    let mut parts = Vec::new();
    let mut rest = fmt;
    let mut counters = 0;
    while !rest.is_empty() {
        if let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(AutoPart::Literal(rest[..open].to_owned()));
            }
            let close = rest[open..].find('}').ok_or("unclosed `{`")? + open;
            let token = &rest[open + 1..close];
            parts.push(match token {
                "yyyy" => AutoPart::Year4,
                "yy" => AutoPart::Year2,
                "mm" => AutoPart::Month,
                "dd" => AutoPart::Day,
                t if !t.is_empty() && t.len() <= 12 && t.chars().all(|c| c == '0') => {
                    counters += 1;
                    AutoPart::Counter(t.len())
                }
                t => return Err(format!("unknown token `{{{t}}}` (use yyyy, yy, mm, dd or zeros like 0000)")),
            });
            rest = &rest[close + 1..];
        } else {
            parts.push(AutoPart::Literal(rest.to_owned()));
            rest = "";
        }
    }
    if counters != 1 {
        return Err("needs exactly one counter such as {0000}".into());
    }
    Ok(parts)
}

/// The key under which a counter is kept (the date part of the format) and the rendering of
/// the value for `n`.
pub fn render_auto(parts: &[AutoPart], date: chrono::NaiveDate, n: i64) -> (String, String) {
    use chrono::Datelike;
    let mut period = String::new();
    let mut out = String::new();
    for p in parts {
        let piece = match p {
            AutoPart::Literal(s) => s.clone(),
            AutoPart::Year4 => format!("{:04}", date.year()),
            AutoPart::Year2 => format!("{:02}", date.year() % 100),
            AutoPart::Month => format!("{:02}", date.month()),
            AutoPart::Day => format!("{:02}", date.day()),
            AutoPart::Counter(w) => format!("{n:0w$}"),
        };
        if matches!(p, AutoPart::Year4 | AutoPart::Year2 | AutoPart::Month | AutoPart::Day) {
            period.push_str(&piece);
            period.push('-');
        }
        out.push_str(&piece);
    }
    (period, out)
}

/// How a form update changes the fields, worked out against the stored definition.
#[derive(Debug, Default)]
pub struct Evolution {
    /// (old key, new key)
    pub renames: Vec<(String, String)>,
    /// The definition to store: the new list, plus fields left out of it kept as retired.
    pub definition: Vec<Field>,
}

/// Merges an updated field list into the stored one. Fields are matched by key (or by
/// `rename_from`); a stored field missing from the update is retired, not dropped, so no
/// record loses data; a type may not change.
pub fn evolve(old: &[Field], new: Vec<Field>, errors: &mut Vec<FieldError>) -> Evolution {
    let mut evo = Evolution::default();
    let old_by_key: BTreeMap<&str, &Field> = old.iter().map(|f| (f.key.as_str(), f)).collect();
    let mut matched = BTreeSet::new();
    for (i, mut f) in new.into_iter().enumerate() {
        let from = f.rename_from.take();
        let source = from.as_deref().unwrap_or(&f.key).to_owned();
        if let Some(prev) = old_by_key.get(source.as_str()) {
            matched.insert(prev.key.clone());
            if prev.ty != f.ty {
                errors.push(FieldError::new(
                    format!("fields[{i}].type"),
                    format!(
                        "changing the type of `{}` from {} to {} is not supported; add a new field instead",
                        prev.key,
                        prev.ty.name(),
                        f.ty.name()
                    ),
                ));
            }
            if source != f.key {
                if old_by_key.contains_key(f.key.as_str()) {
                    errors.push(FieldError::new(format!("fields[{i}].key"), format!("`{}` is already taken", f.key)));
                }
                evo.renames.push((source, f.key.clone()));
            }
        } else if from.is_some() {
            errors.push(FieldError::new(format!("fields[{i}].rename_from"), format!("no field `{source}` to rename")));
        }
        evo.definition.push(f);
    }
    for f in old {
        if !matched.contains(&f.key) {
            let mut kept = f.clone();
            kept.retired = true;
            evo.definition.push(kept);
        }
    }
    evo
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_number_formats() {
        let parts = parse_auto_format("SO-{yyyy}-{0000}").expect("valid");
        let d = chrono::NaiveDate::from_ymd_opt(2026, 11, 27).expect("date");
        assert_eq!(render_auto(&parts, d, 7), ("2026-".to_owned(), "SO-2026-0007".to_owned()));
        assert_eq!(render_auto(&parts, d, 12345).1, "SO-2026-12345");
        assert!(parse_auto_format("SO-{yyyy}").is_err());
        assert!(parse_auto_format("{x}{00}").is_err());
        assert!(parse_auto_format("{00}{00}").is_err());
        assert!(parse_auto_format("A{000").is_err());
    }

    #[test]
    fn options_accept_strings_and_objects() {
        let f: Field = serde_json::from_value(serde_json::json!({
            "key": "s", "label": "S", "type": "single_select",
            "options": ["a", {"value": "b", "label": {"en": "Bee", "zh": "蜜蜂"}}]
        }))
        .expect("parses");
        assert_eq!(f.options.len(), 2);
        assert_eq!(f.options[1].value, "b");
    }
}
