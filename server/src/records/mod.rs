//! Records: the JSON documents of a form, with validation on every write, uniqueness kept
//! by the database, optimistic concurrency, a revision for every change, soft delete, and
//! an event in the same transaction as the write (the outbox that flows consume).

pub mod api;
pub mod import;
mod insert;
mod query;
mod store;
pub mod validate;

use serde::Serialize;
use serde_json::{Map, Value};

pub use insert::Batcher;
pub use query::{ListPage, ListQuery, list_records};
pub use store::*;
pub use validate::unique_value;

use crate::store::Dialect;

/// A record as the API shows it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Record {
    pub id: i64,
    /// Key of the record's form.
    pub form: String,
    /// Increases with every change; send it back in `If-Match` to update safely.
    pub version: i64,
    pub data: Map<String, Value>,
    pub created_by: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    /// Related records asked for with `expand`, by relation field.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub expanded: Map<String, Value>,
}

impl Record {
    /// A record just created by `created_by` at `now`.
    pub fn created(id: i64, form: &str, data: Map<String, Value>, created_by: i64, now: &str) -> Record {
        Record {
            id,
            form: form.to_owned(),
            version: 1,
            data,
            created_by: Some(created_by),
            created_at: now.to_owned(),
            updated_at: now.to_owned(),
            deleted_at: None,
            expanded: Map::new(),
        }
    }
}

/// One entry of a record's history.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Revision {
    pub version: i64,
    /// `create`, `update`, `delete` or `restore`.
    pub op: String,
    pub actor_id: Option<i64>,
    pub at: String,
    /// For `create`: the data; otherwise field → `[before, after]`.
    pub changes: Value,
}

/// The SQL that reads a field for sorting, keyset paging and indexes: exactly the
/// expression language's canonical field access (which already compares text by bytes on
/// PostgreSQL), so that an index built from it serves filters and sorts alike.
pub fn sort_sql(dialect: Dialect, alias: Option<&str>, key: &str, ty: &expr::Type) -> String {
    let storage = match crate::forms::system_field(key) {
        Some(f) => f.storage,
        None => expr::Storage::Json,
    };
    expr::field_sql(dialect, alias, key, ty, &storage)
}
