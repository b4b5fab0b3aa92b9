//! The Tessera plugin SDK: write a validator, an action or a widget as one plain Rust
//! function over your own serde types, and build it with
//! `cargo build --target wasm32-wasip2 --release` — the result is a WebAssembly component
//! that speaks the `tessera:plugin@0.1.0` contract (`wit/` beside this crate).
//!
//! ```ignore
//! use plugin_sdk::{Validator, Violation, Value};
//!
//! #[derive(serde::Deserialize)]
//! struct Config { min_len: usize }
//!
//! struct LongEnough;
//!
//! impl Validator for LongEnough {
//!     type Config = Config;
//!     fn validate(config: Config, value: &Value, _record: &Value) -> Result<(), Vec<Violation>> {
//!         match value.as_str() {
//!             Some(s) if s.chars().count() >= config.min_len => Ok(()),
//!             _ => Err(vec![Violation::new("", format!("needs at least {} characters", config.min_len))]),
//!         }
//!     }
//! }
//!
//! plugin_sdk::export_validator!(LongEnough);
//! ```
//!
//! - Validators: [`Validator`] + [`export_validator!`].
//! - Actions: [`Action`] + [`export_action!`], with the host calls in [`records`] and [`http`]
//!   (behind the [`RecordsApi`] and [`HttpApi`] traits, so the logic can be tested with fakes).
//! - Widgets: [`Widget`] + [`export_widget!`].
//! - [`log`] works in every kind of plugin.
//!
//! Each export macro brings exactly its own world into the component. wit-bindgen embeds the
//! world of every `generate!` in a custom section and `wit-component` merges them all, keeping
//! every export and every world-level type. So the SDK itself generates only a world of
//! *imports* (`log`, `records`, `http`, no exports, no world-level types), whose unused imports
//! `wit-component` drops, and each export macro generates its own world's bindings in the
//! plugin crate. A validator therefore exports only `validate` and imports only `log` and
//! `types` (plus the WASI interfaces Rust's std pulls in); calling [`records`] or [`http`] from
//! a validator or a widget adds those imports, and the host refuses such a component at
//! publish.
//!
//! The generated bindings stay private to this crate (`bindings` is `#[doc(hidden)]`); what an
//! author needs is re-exported here.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
pub use serde_json::Value;

pub mod http;
pub mod log;
pub mod records;

pub use http::{HostHttp, HttpApi, Request, Response};
pub use records::{HostRecords, RecordsApi};

#[doc(hidden)]
pub mod bindings {
    //! Generated from the WIT package. Only *imports* live here, in a world without exports
    //! and without world-level `use`s: `wit-component` drops every import a plugin never calls,
    //! so this metadata adds nothing to a component by itself. Each world's exports are
    //! generated in the plugin crate by its export macro (`__generate_world!`), which takes the
    //! types and host interfaces from here (`with`).

    pub mod host {
        wit_bindgen::generate!({
            path: "wit",
            inline: "
                package tessera:plugin-sdk;

                world host {
                    import tessera:plugin/log@0.1.0;
                    import tessera:plugin/records@0.1.0;
                    import tessera:plugin/http@0.1.0;
                }
            ",
            world: "host",
            generate_all,
            generate_unused_types: true,
        });
    }
}

#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;
}

include!(concat!(env!("OUT_DIR"), "/generate_world.rs"));

// ---------------------------------------------------------------------------------------------
// Shared types
// ---------------------------------------------------------------------------------------------

/// One problem with one field, shown to the user next to that field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The field's path in the record (`data.tax_id`); empty for the value being checked.
    pub field: String,
    /// The message for the user.
    pub message: String,
}

impl Violation {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Violation {
        Violation { field: field.into(), message: message.into() }
    }
}

/// What a failed action or widget (or a failed host call) reports. `code` is stable and
/// machine-readable (`not-found`, `invalid`, `forbidden`, `conflict`, `unavailable`,
/// `internal`, or the plugin's own); `message` is for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginError {
    pub code: String,
    pub message: String,
}

impl PluginError {
    /// An error with any code.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> PluginError {
        PluginError { code: code.into(), message: message.into() }
    }
    /// `invalid`: bad configuration or input.
    pub fn invalid(message: impl Into<String>) -> PluginError {
        PluginError::new("invalid", message)
    }
    /// `not-found`: something the plugin needs does not exist.
    pub fn not_found(message: impl Into<String>) -> PluginError {
        PluginError::new("not-found", message)
    }
    /// `forbidden`: a capability is missing.
    pub fn forbidden(message: impl Into<String>) -> PluginError {
        PluginError::new("forbidden", message)
    }
    /// `conflict`: e.g. a record changed under an `if_version` update.
    pub fn conflict(message: impl Into<String>) -> PluginError {
        PluginError::new("conflict", message)
    }
    /// `unavailable`: a host service or remote system cannot be reached (natively: host calls).
    pub fn unavailable(message: impl Into<String>) -> PluginError {
        PluginError::new("unavailable", message)
    }
    /// `internal`: a bug.
    pub fn internal(message: impl Into<String>) -> PluginError {
        PluginError::new("internal", message)
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for PluginError {}

/// A record of a form, as the host hands it to a plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The record's id; `None` for a record not yet stored.
    pub id: Option<i64>,
    /// The key of the record's form.
    pub form: String,
    /// The record's version (0 for a record not yet stored).
    pub version: i64,
    /// The record's fields, a JSON object.
    pub data: Value,
}

impl Record {
    /// The value of field `key` in [`Record::data`] (`Value::Null` when absent).
    pub fn field(&self, key: &str) -> &Value {
        self.data.get(key).unwrap_or(&Value::Null)
    }
}

/// What happened that an action runs for.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// E.g. `record.created`, `record.updated`, `schedule`, `manual`.
    pub kind: String,
    /// The record concerned, when there is one.
    pub record: Option<Record>,
    /// Anything else the trigger carries (parsed JSON; `Value::Null` when empty).
    pub payload: Value,
}

impl Event {
    /// An event without a record or payload.
    pub fn new(kind: impl Into<String>) -> Event {
        Event { kind: kind.into(), record: None, payload: Value::Null }
    }
    /// With the record concerned.
    pub fn with_record(mut self, record: Record) -> Event {
        self.record = Some(record);
        self
    }
    /// With a payload.
    pub fn with_payload(mut self, payload: Value) -> Event {
        self.payload = payload;
        self
    }
}

/// What an action reports when it succeeds.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// A short human-readable summary for the run log.
    pub summary: String,
    /// Data for the steps after this one, a JSON object.
    pub data: Value,
}

impl Outcome {
    pub fn new(summary: impl Into<String>, data: Value) -> Outcome {
        Outcome { summary: summary.into(), data }
    }
}

/// The data a widget draws: named columns and rows of values (one per column).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dataset {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl Dataset {
    /// Builds a dataset from rows as the host sends them: each a JSON array text.
    /// A row that is not a JSON array is an `invalid` error naming the row (1-based).
    pub fn from_json_rows(columns: Vec<String>, rows: &[String]) -> Result<Dataset, PluginError> {
        let rows = rows
            .iter()
            .enumerate()
            .map(|(i, text)| match serde_json::from_str::<Value>(text) {
                Ok(Value::Array(values)) => Ok(values),
                Ok(_) => Err(PluginError::invalid(format!("row {} of the dataset is not a JSON array", i + 1))),
                Err(e) => Err(PluginError::invalid(format!("row {} of the dataset is not valid JSON: {e}", i + 1))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Dataset { columns, rows })
    }

    /// The index of column `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The value in `row` at column index `column` (`Value::Null` for a short row).
    pub fn cell(&self, row: usize, column: usize) -> &Value {
        self.rows.get(row).and_then(|r| r.get(column)).unwrap_or(&Value::Null)
    }
}

/// What a widget draws.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A self-contained SVG document.
    Svg(String),
    /// A chart specification (JSON) that the web UI renders with its own chart library.
    Chart(Value),
}

// ---------------------------------------------------------------------------------------------
// The three kinds of plugin
// ---------------------------------------------------------------------------------------------

/// A field validator: checks one value of a record when it is written.
pub trait Validator {
    /// The install's configuration, parsed from JSON.
    type Config: DeserializeOwned;

    /// Checks `value` (the field's value) in the context of `record` (the record's data).
    fn validate(config: Self::Config, value: &Value, record: &Value) -> Result<(), Vec<Violation>>;
}

/// An automation action: a step of a flow, run after a record changed, on a schedule or by
/// hand. It may read and write records ([`records`]) and call out ([`http`]) within the
/// capabilities the tenant admin granted.
pub trait Action {
    /// The install's configuration, parsed from JSON.
    type Config: DeserializeOwned;

    /// Runs the step for `event`.
    fn run(config: Self::Config, event: Event) -> Result<Outcome, PluginError>;
}

/// A report widget: turns a dataset into an SVG or a chart specification.
pub trait Widget {
    /// The widget's configuration, parsed from JSON.
    type Config: DeserializeOwned;

    /// Draws `dataset`.
    fn render(config: Self::Config, dataset: Dataset) -> Result<Output, PluginError>;
}

fn parse_config<C: DeserializeOwned>(config: &str) -> Result<C, String> {
    // An empty configuration is `{}`, so that all-default configs need nothing.
    let config = if config.trim().is_empty() { "{}" } else { config };
    serde_json::from_str(config).map_err(|e| format!("the plugin's configuration is not valid: {e}"))
}

/// Runs a [`Validator`] on the JSON the host sends (what [`export_validator!`] does); call it
/// from native unit tests.
pub fn run_validator<V: Validator>(config: &str, value: &str, record: &str) -> Result<(), Vec<Violation>> {
    let config: V::Config = parse_config(config).map_err(|m| vec![Violation::new("", m)])?;
    let value: Value = serde_json::from_str(value).unwrap_or(Value::Null);
    let record: Value = serde_json::from_str(record).unwrap_or(Value::Null);
    V::validate(config, &value, &record)
}

/// Runs an [`Action`] with the configuration as JSON text (what [`export_action!`] does after
/// converting the event); call it from native unit tests. A configuration that does not parse
/// is an `invalid` error.
pub fn run_action<A: Action>(config: &str, event: Event) -> Result<Outcome, PluginError> {
    let config: A::Config = parse_config(config).map_err(PluginError::invalid)?;
    A::run(config, event)
}

/// Runs a [`Widget`] with the configuration as JSON text (what [`export_widget!`] does after
/// parsing the rows with [`Dataset::from_json_rows`]); call it from native unit tests.
pub fn run_widget<W: Widget>(config: &str, dataset: Dataset) -> Result<Output, PluginError> {
    let config: W::Config = parse_config(config).map_err(PluginError::invalid)?;
    W::render(config, dataset)
}

// ---------------------------------------------------------------------------------------------
// Glue between the generated bindings and the SDK's types (used by the export macros)
// ---------------------------------------------------------------------------------------------

#[doc(hidden)]
pub mod glue {
    use super::*;
    use crate::bindings::host::tessera::plugin::types as wit;

    fn parse_json(what: &str, text: &str) -> Result<Value, PluginError> {
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(text).map_err(|e| PluginError::invalid(format!("{what} is not valid JSON: {e}")))
    }

    pub fn record_from_wit(r: wit::StoredRecord) -> Result<Record, PluginError> {
        let data = parse_json("the record's data", &r.data)?;
        Ok(Record { id: r.id, form: r.form, version: r.version, data })
    }

    pub fn error_from_wit(e: wit::PluginError) -> PluginError {
        PluginError { code: e.code, message: e.message }
    }

    fn error_to_wit(e: PluginError) -> wit::PluginError {
        wit::PluginError { code: e.code, message: e.message }
    }

    pub fn validate<V: Validator>(config: &str, value: &str, record: &str) -> Result<(), Vec<wit::Violation>> {
        run_validator::<V>(config, value, record).map_err(|violations| {
            violations.into_iter().map(|x| wit::Violation { field: x.field, message: x.message }).collect()
        })
    }

    pub fn run<A: Action>(config: &str, event: wit::Event) -> Result<wit::Outcome, wit::PluginError> {
        let record = event.record.map(record_from_wit).transpose().map_err(error_to_wit)?;
        let payload = parse_json("the event's payload", &event.payload).map_err(error_to_wit)?;
        let outcome = run_action::<A>(config, Event { kind: event.kind, record, payload }).map_err(error_to_wit)?;
        Ok(wit::Outcome { summary: outcome.summary, data: outcome.data.to_string() })
    }

    pub fn render<W: Widget>(config: &str, dataset: wit::Dataset) -> Result<wit::Output, wit::PluginError> {
        let dataset = Dataset::from_json_rows(dataset.columns, &dataset.rows).map_err(error_to_wit)?;
        Ok(match run_widget::<W>(config, dataset).map_err(error_to_wit)? {
            Output::Svg(svg) => wit::Output::Svg(svg),
            Output::Chart(spec) => wit::Output::Chart(spec.to_string()),
        })
    }
}

/// Exports a [`Validator`] as the component's `validate` function: the component is of the
/// `validator` world. Use it once per crate, at its root; the crate must depend on this SDK
/// under the name `plugin_sdk`.
#[macro_export]
macro_rules! export_validator {
    ($ty:ty) => {
        #[doc(hidden)]
        #[allow(clippy::too_many_arguments)] // the flattened core signature of `run`
        mod __tessera_world {
            $crate::__generate_world!(validator);
        }
        const _: () = {
            struct Export;
            impl __tessera_world::Guest for Export {
                fn validate(
                    config: ::std::string::String,
                    value: ::std::string::String,
                    record: ::std::string::String,
                ) -> ::std::result::Result<(), ::std::vec::Vec<__tessera_world::Violation>> {
                    $crate::glue::validate::<$ty>(&config, &value, &record)
                }
            }
    __tessera_world::export!(Export with_types_in __tessera_world);
        };
    };
}

/// Exports an [`Action`] as the component's `run` function: the component is of the `action`
/// world. Use it once per crate, at its root; the crate must depend on this SDK under the
/// name `plugin_sdk`.
#[macro_export]
macro_rules! export_action {
    ($ty:ty) => {
        #[doc(hidden)]
        #[allow(clippy::too_many_arguments)] // the flattened core signature of `run`
        mod __tessera_world {
            $crate::__generate_world!(action);
        }
        const _: () = {
            struct Export;
            impl __tessera_world::Guest for Export {
                fn run(
                    config: ::std::string::String,
                    event: __tessera_world::Event,
                ) -> ::std::result::Result<__tessera_world::Outcome, __tessera_world::PluginError> {
                    $crate::glue::run::<$ty>(&config, event)
                }
            }
    __tessera_world::export!(Export with_types_in __tessera_world);
        };
    };
}

/// Exports a [`Widget`] as the component's `render` function: the component is of the
/// `widget` world. Use it once per crate, at its root; the crate must depend on this SDK under
/// the name `plugin_sdk`.
#[macro_export]
macro_rules! export_widget {
    ($ty:ty) => {
        #[doc(hidden)]
        #[allow(clippy::too_many_arguments)] // the flattened core signature of `run`
        mod __tessera_world {
            $crate::__generate_world!(widget);
        }
        const _: () = {
            struct Export;
            impl __tessera_world::Guest for Export {
                fn render(
                    config: ::std::string::String,
                    dataset: __tessera_world::Dataset,
                ) -> ::std::result::Result<__tessera_world::Output, __tessera_world::PluginError> {
                    $crate::glue::render::<$ty>(&config, dataset)
                }
            }
    __tessera_world::export!(Export with_types_in __tessera_world);
        };
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Deserialize)]
    struct Cfg {
        #[serde(default)]
        prefix: String,
    }

    struct Echo;
    impl Action for Echo {
        type Config = Cfg;
        fn run(config: Cfg, event: Event) -> Result<Outcome, PluginError> {
            Ok(Outcome::new(format!("{}{}", config.prefix, event.kind), event.payload))
        }
    }

    struct Count;
    impl Widget for Count {
        type Config = Cfg;
        fn render(config: Cfg, dataset: Dataset) -> Result<Output, PluginError> {
            Ok(Output::Svg(format!("<svg>{}{}</svg>", config.prefix, dataset.rows.len())))
        }
    }

    #[test]
    fn actions_parse_config() {
        let out =
            run_action::<Echo>(r#"{"prefix":"> "}"#, Event::new("manual").with_payload(json!({"a": 1}))).expect("runs");
        assert_eq!(out, Outcome::new("> manual", json!({"a": 1})));
        assert_eq!(run_action::<Echo>("", Event::new("x")).expect("empty config is {}").summary, "x");
        let err = run_action::<Echo>(r#"{"prefix": 1}"#, Event::new("x")).expect_err("bad config");
        assert_eq!(err.code, "invalid");
        assert!(err.message.contains("configuration"), "{err}");
    }

    #[test]
    fn widgets_parse_rows() {
        let ds = Dataset::from_json_rows(vec!["a".into(), "b".into()], &[r#"[1, "x"]"#.into(), "[2]".into()])
            .expect("arrays");
        assert_eq!(ds.rows, vec![vec![json!(1), json!("x")], vec![json!(2)]]);
        assert_eq!(ds.column("b"), Some(1));
        assert_eq!(ds.cell(1, 1), &Value::Null);
        let err = Dataset::from_json_rows(vec!["a".into()], &["[1]".into(), r#"{"a":1}"#.into()]).expect_err("object");
        assert_eq!(err, PluginError::invalid("row 2 of the dataset is not a JSON array"));
        let err = Dataset::from_json_rows(vec![], &["[1".into()]).expect_err("broken");
        assert!(err.code == "invalid" && err.message.starts_with("row 1 "), "{err}");
        assert_eq!(run_widget::<Count>("{}", ds).expect("renders"), Output::Svg("<svg>2</svg>".into()));
    }

    #[test]
    fn host_calls_are_unavailable_natively() {
        let err = records::get("orders", 1).expect_err("no host");
        assert_eq!(err.code, "unavailable");
        assert_eq!(http::send(Request::get("https://example.com")).expect_err("no host").code, "unavailable");
        log::info("log lines go to stderr natively");
    }

    #[test]
    fn errors_display() {
        assert_eq!(PluginError::not_found("no such form").to_string(), "not-found: no such form");
        assert_eq!(PluginError::new("mine", "x").code, "mine");
    }
}
