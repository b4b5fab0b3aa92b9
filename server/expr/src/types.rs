//! Types of expressions and the schema interface the server implements.
//!
//! The crate knows nothing about forms beyond this: a field has a type, a place where it is
//! stored and maybe a relation to follow. Keeping the interface this small lets the server change
//! how forms are stored without touching the language.

use std::fmt;

/// The type of an expression or a field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Type {
    Text,
    Number,
    Bool,
    /// A calendar day, stored as `YYYY-MM-DD`.
    Date,
    /// A UTC instant with millisecond precision, stored as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    DateTime,
    /// Multi-select (`List(Text)`) and to-many relations (`List(Number)`).
    List(Box<Type>),
    /// The type of the literal `null`; it fits wherever any other type is expected.
    Null,
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Text => f.write_str("text"),
            Type::Number => f.write_str("number"),
            Type::Bool => f.write_str("boolean"),
            Type::Date => f.write_str("date"),
            Type::DateTime => f.write_str("datetime"),
            Type::List(inner) => write!(f, "list of {inner}"),
            Type::Null => f.write_str("null"),
        }
    }
}

/// Where a field's value lives in the `records` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Storage {
    /// In the `data` JSON column, under the field's key.
    Json,
    /// A real column of `records`, e.g. `id`, `created_at`, `updated_at`, `created_by`,
    /// `version`. Date-times in these columns use the same canonical text as JSON fields.
    Column(&'static str),
}

/// A relation field points at records of another form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Relation {
    pub target_form: i64,
    /// To-many relations hold a list of ids and cannot be followed with `.`.
    pub many: bool,
}

/// What the checker needs to know about one field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Field {
    pub ty: Type,
    pub storage: Storage,
    pub relation: Option<Relation>,
}

impl Field {
    /// A plain field stored in `data`.
    pub fn json(ty: Type) -> Field {
        Field { ty, storage: Storage::Json, relation: None }
    }

    /// A field stored in a real column of `records`.
    pub fn column(ty: Type, column: &'static str) -> Field {
        Field { ty, storage: Storage::Column(column), relation: None }
    }

    /// A relation stored in `data`: an id (to-one) or a list of ids (to-many).
    pub fn relation(target_form: i64, many: bool) -> Field {
        Field {
            ty: if many { Type::List(Box::new(Type::Number)) } else { Type::Number },
            storage: Storage::Json,
            relation: Some(Relation { target_form, many }),
        }
    }
}

/// The server's view of forms, as the checker sees it.
pub trait Schema {
    /// Looks up a field of form `form` (a form id), system columns included. `None` if unknown.
    fn field(&self, form: i64, key: &str) -> Option<Field>;
    /// Keys of the fields of `form`, for "did you mean" suggestions.
    fn field_keys(&self, form: i64) -> Vec<String>;
}
