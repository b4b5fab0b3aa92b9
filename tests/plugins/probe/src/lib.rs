//! `probe` (test plugin): an action that makes whichever host call its event payload asks for,
//! to test capabilities and tenant isolation from inside a plugin.
//!
//! Payload → outcome data:
//! - `{"op": "get", "form": "f", "id": 1}` → `{"record": {...} | null}`
//! - `{"op": "query", "form": "f", "filter": "x = 1", "limit": 100}` → `{"records": [...]}`
//!   (`filter` defaults to `""`, `limit` to 100)
//! - `{"op": "create", "form": "f", "data": {...}}` → `{"record": {...}}`
//! - `{"op": "update", "form": "f", "id": 1, "data": {...}, "if_version": 2}` → `{"record": {...}}`
//!   (`if_version` optional)
//! - `{"op": "http", "url": "https://…"}` → a GET; `{"status": 200}`
//!
//! A record is `{"id", "form", "version", "data"}`. A host error is returned as the plugin's
//! error, code and message unchanged. The config is ignored (`{}`).

use plugin_sdk::{Action, Event, HostHttp, HostRecords, HttpApi, Outcome, PluginError, RecordsApi, Request, Value};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    Get {
        form: String,
        id: i64,
    },
    Query {
        form: String,
        #[serde(default)]
        filter: String,
        #[serde(default = "default_limit")]
        limit: u32,
    },
    Create {
        form: String,
        data: Value,
    },
    Update {
        form: String,
        id: i64,
        data: Value,
        #[serde(default)]
        if_version: Option<i64>,
    },
    Http {
        url: String,
    },
}

fn default_limit() -> u32 {
    100
}

pub struct Probe;

impl Action for Probe {
    type Config = Value;

    fn run(_config: Value, event: Event) -> Result<Outcome, PluginError> {
        probe(&event.payload, &HostRecords, &HostHttp)
    }
}

plugin_sdk::export_action!(Probe);

/// Performs the payload's operation.
pub fn probe(payload: &Value, records: &impl RecordsApi, http: &impl HttpApi) -> Result<Outcome, PluginError> {
    let op: Op = serde_json::from_value(payload.clone())
        .map_err(|e| PluginError::invalid(format!("the payload is not a probe operation: {e}")))?;
    let record = |r| serde_json::to_value(r).map_err(|e| PluginError::internal(e.to_string()));
    Ok(match op {
        Op::Get { form, id } => {
            let found = records.get(&form, id)?;
            Outcome::new(format!("get {form} {id}"), json!({ "record": found.map(record).transpose()? }))
        }
        Op::Query { form, filter, limit } => {
            let found = records.query(&form, &filter, limit)?;
            let n = found.len();
            let found = found.into_iter().map(record).collect::<Result<Vec<_>, _>>()?;
            Outcome::new(format!("query {form}: {n}"), json!({ "records": found }))
        }
        Op::Create { form, data } => {
            let created = records.create(&form, &data)?;
            Outcome::new(format!("create {form}"), json!({ "record": record(created)? }))
        }
        Op::Update { form, id, data, if_version } => {
            let updated = records.update(&form, id, &data, if_version)?;
            Outcome::new(format!("update {form} {id}"), json!({ "record": record(updated)? }))
        }
        Op::Http { url } => {
            let response = http.send(Request::get(url.clone()))?;
            Outcome::new(format!("GET {url}: {}", response.status), json!({ "status": response.status }))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_errors_pass_through() {
        // Natively the host is unavailable: the probe hands that error on unchanged.
        let err = probe(&json!({"op": "get", "form": "f", "id": 1}), &HostRecords, &HostHttp).expect_err("native");
        assert_eq!(err.code, "unavailable");
        let err = probe(&json!({"op": "http", "url": "http://x"}), &HostRecords, &HostHttp).expect_err("native");
        assert_eq!(err.code, "unavailable");
        let err = probe(&json!({"op": "fly"}), &HostRecords, &HostHttp).expect_err("unknown op");
        assert_eq!(err.code, "invalid");
    }
}
