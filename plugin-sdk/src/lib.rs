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
//! The generated bindings stay private to this crate (`bindings` is `#[doc(hidden)]`); what an
//! author needs is re-exported here.

use serde::de::DeserializeOwned;
pub use serde_json::Value;

#[doc(hidden)]
pub mod bindings {
    //! Generated from the WIT package; used by the export macros only.

    pub mod validator {
        wit_bindgen::generate!({
            path: "wit",
            world: "validator",
            pub_export_macro: true,
            export_macro_name: "export_validator_world",
            default_bindings_module: "plugin_sdk::bindings::validator",
        });
    }
}

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

/// A field validator: checks one value of a record when it is written.
pub trait Validator {
    /// The install's configuration, parsed from JSON.
    type Config: DeserializeOwned;

    /// Checks `value` (the field's value) in the context of `record` (the record's data).
    fn validate(config: Self::Config, value: &Value, record: &Value) -> Result<(), Vec<Violation>>;
}

/// Runs a [`Validator`] on the JSON the host sends. Used by [`export_validator!`].
#[doc(hidden)]
pub fn run_validator<V: Validator>(config: &str, value: &str, record: &str) -> Result<(), Vec<Violation>> {
    let config: V::Config = serde_json::from_str(config)
        .map_err(|e| vec![Violation::new("", format!("the plugin's configuration is not valid: {e}"))])?;
    let value: Value = serde_json::from_str(value).unwrap_or(Value::Null);
    let record: Value = serde_json::from_str(record).unwrap_or(Value::Null);
    V::validate(config, &value, &record)
}

/// Exports a [`Validator`] as the component's `validate` function.
#[macro_export]
macro_rules! export_validator {
    ($ty:ty) => {
        const _: () = {
            struct Export;
            impl $crate::bindings::validator::Guest for Export {
                fn validate(
                    config: ::std::string::String,
                    value: ::std::string::String,
                    record: ::std::string::String,
                ) -> ::std::result::Result<
                    (),
                    ::std::vec::Vec<$crate::bindings::validator::tessera::plugin::types::Violation>,
                > {
                    $crate::run_validator::<$ty>(&config, &value, &record).map_err(|violations| {
                        violations
                            .into_iter()
                            .map(|v| $crate::bindings::validator::tessera::plugin::types::Violation {
                                field: v.field,
                                message: v.message,
                            })
                            .collect()
                    })
                }
            }
    $crate::bindings::validator::export_validator_world!(Export with_types_in $crate::bindings::validator);
        };
    };
}
