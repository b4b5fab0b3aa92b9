//! Apps and forms: user-defined record types with typed, constrained fields.
//!
//! A form's definition is a list of [`Field`]s stored as one JSON document. Forms evolve:
//! fields are added, renamed (`rename_from`) and retired — a retired field keeps its data
//! and can come back — so changing a form never loses a record's data.

pub mod api;
pub mod model;
mod store;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;

pub use model::{Definition, Field, FieldType, FieldValidator, Label};
pub use store::*;

/// A form as stored and shown.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Form {
    pub id: i64,
    pub key: String,
    pub name: Label,
    /// Key of the app the form belongs to.
    pub app: Option<String>,
    pub fields: Vec<Field>,
    /// Increases with every change of the definition.
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl Form {
    pub fn field(&self, key: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.key == key)
    }

    pub fn active_fields(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter().filter(|f| !f.retired)
    }
}

/// The expression language's view of a field's values.
pub fn expr_type(f: &Field, formula_types: &HashMap<String, expr::Type>) -> Option<expr::Type> {
    use expr::Type;
    Some(match f.ty {
        FieldType::Text | FieldType::LongText | FieldType::SingleSelect | FieldType::AutoNumber => Type::Text,
        FieldType::Number | FieldType::Decimal | FieldType::Integer => Type::Number,
        FieldType::Boolean => Type::Bool,
        FieldType::Date => Type::Date,
        FieldType::Datetime => Type::DateTime,
        FieldType::MultiSelect => Type::List(Box::new(Type::Text)),
        FieldType::User | FieldType::Department | FieldType::Relation | FieldType::Attachment => {
            if f.many {
                Type::List(Box::new(Type::Number))
            } else {
                Type::Number
            }
        }
        FieldType::Formula => formula_types.get(&f.key)?.clone(),
        FieldType::Subtable => return None,
    })
}

/// The system columns every record has, as the expression language sees them.
pub fn system_field(key: &str) -> Option<expr::Field> {
    use expr::{Storage, Type};
    let (ty, column) = match key {
        "id" => (Type::Number, "id"),
        "version" => (Type::Number, "version"),
        "created_by" => (Type::Number, "created_by"),
        "created_at" => (Type::DateTime, "created_at"),
        "updated_at" => (Type::DateTime, "updated_at"),
        _ => return None,
    };
    Some(expr::Field { ty, storage: Storage::Column(column), relation: None })
}

/// A set of a tenant's forms (one and the targets of its relations), ready to type-check
/// expressions against.
#[derive(Debug, Clone, Default)]
pub struct FormSet {
    pub forms: HashMap<i64, Arc<Form>>,
    by_key: HashMap<String, i64>,
    formula_types: HashMap<i64, HashMap<String, expr::Type>>,
}

impl FormSet {
    pub fn new(forms: Vec<Form>) -> FormSet {
        let mut set = FormSet::default();
        for f in forms {
            set.by_key.insert(f.key.clone(), f.id);
            set.forms.insert(f.id, Arc::new(f));
        }
        let ids: Vec<i64> = set.forms.keys().copied().collect();
        for id in ids {
            let types = set.infer_formulas(id);
            set.formula_types.insert(id, types);
        }
        set
    }

    pub fn get(&self, id: i64) -> Option<&Arc<Form>> {
        self.forms.get(&id)
    }

    pub fn by_key(&self, key: &str) -> Option<&Arc<Form>> {
        self.by_key.get(key).and_then(|id| self.forms.get(id))
    }

    /// Types of a form's formula fields, worked out in dependency order; formulas that do
    /// not check (or form a cycle) are left out, and report their error when checked.
    fn infer_formulas(&mut self, form_id: i64) -> HashMap<String, expr::Type> {
        let Some(form) = self.forms.get(&form_id).cloned() else { return HashMap::new() };
        let mut types: HashMap<String, expr::Type> = HashMap::new();
        self.formula_types.insert(form_id, HashMap::new());
        let formulas: Vec<&Field> = form.active_fields().filter(|f| f.ty == FieldType::Formula).collect();
        // Each pass adds the formulas whose inputs are known; at most one pass per formula.
        for _ in 0..=formulas.len() {
            let mut progressed = false;
            for f in &formulas {
                if types.contains_key(&f.key) {
                    continue;
                }
                let Some(src) = &f.formula else { continue };
                let Ok(parsed) = expr::parse(src) else { continue };
                if let Ok(typed) = expr::check(&parsed, self, form_id) {
                    types.insert(f.key.clone(), typed.ty());
                    self.formula_types.insert(form_id, types.clone());
                    progressed = true;
                }
            }
            if !progressed {
                break;
            }
        }
        types
    }

    /// Checks every formula of `form_id`; errors name the field.
    pub fn check_formulas(&self, form_id: i64) -> Vec<crate::error::FieldError> {
        let mut errors = Vec::new();
        let Some(form) = self.forms.get(&form_id) else { return errors };
        let known = self.formula_types.get(&form_id);
        for (i, f) in form.fields.iter().enumerate() {
            if f.retired || f.ty != FieldType::Formula {
                continue;
            }
            let Some(src) = &f.formula else { continue };
            let at = format!("fields[{i}].formula");
            match expr::parse(src) {
                Err(e) => errors.push(crate::error::FieldError::new(at, e.to_string())),
                Ok(parsed) => match expr::check(&parsed, self, form_id) {
                    Err(e) => errors.push(crate::error::FieldError::new(at, e.to_string())),
                    Ok(_) if known.is_none_or(|k| !k.contains_key(&f.key)) => {
                        errors.push(crate::error::FieldError::new(at, "formulas refer to each other in a cycle"))
                    }
                    Ok(_) => {}
                },
            }
        }
        errors
    }

    /// Formula fields of a form in an order where each comes after the formulas it reads.
    pub fn formula_order(&self, form_id: i64) -> Vec<(String, expr::Typed)> {
        let Some(form) = self.forms.get(&form_id) else { return Vec::new() };
        let mut pending: BTreeMap<String, expr::Typed> = BTreeMap::new();
        for f in form.active_fields().filter(|f| f.ty == FieldType::Formula) {
            let Some(src) = &f.formula else { continue };
            if let Ok(t) = expr::parse(src).map_err(|_| ()).and_then(|p| expr::check(&p, self, form_id).map_err(|_| ()))
            {
                pending.insert(f.key.clone(), t);
            }
        }
        let formula_keys: HashSet<String> = pending.keys().cloned().collect();
        let mut done: HashSet<String> = HashSet::new();
        let mut order = Vec::new();
        while !pending.is_empty() {
            let ready: Vec<String> = pending
                .iter()
                .filter(|(_, t)| {
                    t.field_paths()
                        .iter()
                        .all(|p| p.first().is_none_or(|k| !formula_keys.contains(k) || done.contains(k)))
                })
                .map(|(k, _)| k.clone())
                .collect();
            if ready.is_empty() {
                break;
            }
            for k in ready {
                if let Some(t) = pending.remove(&k) {
                    done.insert(k.clone());
                    order.push((k, t));
                }
            }
        }
        order
    }
}

impl expr::Schema for FormSet {
    fn field(&self, form: i64, key: &str) -> Option<expr::Field> {
        if let Some(sys) = system_field(key) {
            return Some(sys);
        }
        let f = self.forms.get(&form)?.field(key).filter(|f| !f.retired)?;
        let empty = HashMap::new();
        let ty = expr_type(f, self.formula_types.get(&form).unwrap_or(&empty))?;
        let relation = match (f.ty, &f.target) {
            (FieldType::Relation, Some(target)) => {
                Some(expr::Relation { target_form: self.by_key.get(target).copied().unwrap_or(-1), many: f.many })
            }
            _ => None,
        };
        Some(expr::Field { ty, storage: expr::Storage::Json, relation })
    }

    fn field_keys(&self, form: i64) -> Vec<String> {
        self.forms.get(&form).map(|f| f.active_fields().map(|f| f.key.clone()).collect()).unwrap_or_default()
    }
}
