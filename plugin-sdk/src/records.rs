//! Records of the calling tenant, for actions.
//!
//! Every call runs as the tenant and install that invoked the plugin and needs the capability
//! the tenant admin granted: `records:read` for [`get`] and [`query`], `records:write` for
//! [`create`] and [`update`]. Writes go through the same validation, history and events as any
//! other write. Host errors come back as [`PluginError`]s (`not-found`, `invalid`,
//! `forbidden`, `conflict`, …) and are best passed on with `?`.
//!
//! Write the logic over `&impl RecordsApi` and hand it [`HostRecords`] in
//! [`Action::run`](crate::Action::run); native unit tests hand it a fake. Outside wasm32 the
//! host functions return an `unavailable` error.

use crate::{PluginError, Record, Value};

/// The records host interface as a trait, so that action logic can be tested with a fake.
pub trait RecordsApi {
    /// One record of `form` by id; `None` when it does not exist (or is not the tenant's).
    fn get(&self, form: &str, id: i64) -> Result<Option<Record>, PluginError>;
    /// Records of `form` matching `filter` (Tessera's expression language, e.g.
    /// `status = "open" and qty > 10`; empty for all), at most `limit` (the host caps it).
    fn query(&self, form: &str, filter: &str, limit: u32) -> Result<Vec<Record>, PluginError>;
    /// Creates a record of `form` from a JSON object of field values.
    fn create(&self, form: &str, data: &Value) -> Result<Record, PluginError>;
    /// Changes fields of a record (`null` clears a field). With `if_version`, the change
    /// applies only to that version and fails with `conflict` otherwise.
    fn update(&self, form: &str, id: i64, data: &Value, if_version: Option<i64>) -> Result<Record, PluginError>;
}

/// The real host: calls `tessera:plugin/records` (only in the `action` world).
#[derive(Debug, Clone, Copy, Default)]
pub struct HostRecords;

/// See [`RecordsApi::get`].
pub fn get(form: &str, id: i64) -> Result<Option<Record>, PluginError> {
    HostRecords.get(form, id)
}

/// See [`RecordsApi::query`].
pub fn query(form: &str, filter: &str, limit: u32) -> Result<Vec<Record>, PluginError> {
    HostRecords.query(form, filter, limit)
}

/// See [`RecordsApi::create`].
pub fn create(form: &str, data: &Value) -> Result<Record, PluginError> {
    HostRecords.create(form, data)
}

/// See [`RecordsApi::update`].
pub fn update(form: &str, id: i64, data: &Value, if_version: Option<i64>) -> Result<Record, PluginError> {
    HostRecords.update(form, id, data, if_version)
}

#[cfg(target_arch = "wasm32")]
mod host {
    use super::*;
    use crate::bindings::host::tessera::plugin::records as wit;
    use crate::glue::{error_from_wit, record_from_wit};

    impl RecordsApi for HostRecords {
        fn get(&self, form: &str, id: i64) -> Result<Option<Record>, PluginError> {
            wit::get(form, id).map_err(error_from_wit)?.map(record_from_wit).transpose()
        }
        fn query(&self, form: &str, filter: &str, limit: u32) -> Result<Vec<Record>, PluginError> {
            wit::query(form, filter, limit).map_err(error_from_wit)?.into_iter().map(record_from_wit).collect()
        }
        fn create(&self, form: &str, data: &Value) -> Result<Record, PluginError> {
            record_from_wit(wit::create(form, &data.to_string()).map_err(error_from_wit)?)
        }
        fn update(&self, form: &str, id: i64, data: &Value, if_version: Option<i64>) -> Result<Record, PluginError> {
            record_from_wit(wit::update(form, id, &data.to_string(), if_version).map_err(error_from_wit)?)
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod host {
    use super::*;

    fn unavailable() -> PluginError {
        PluginError::unavailable("records are only available inside the Tessera host (use a fake RecordsApi in tests)")
    }

    impl RecordsApi for HostRecords {
        fn get(&self, _form: &str, _id: i64) -> Result<Option<Record>, PluginError> {
            Err(unavailable())
        }
        fn query(&self, _form: &str, _filter: &str, _limit: u32) -> Result<Vec<Record>, PluginError> {
            Err(unavailable())
        }
        fn create(&self, _form: &str, _data: &Value) -> Result<Record, PluginError> {
            Err(unavailable())
        }
        fn update(
            &self,
            _form: &str,
            _id: i64,
            _data: &Value,
            _if_version: Option<i64>,
        ) -> Result<Record, PluginError> {
            Err(unavailable())
        }
    }
}
