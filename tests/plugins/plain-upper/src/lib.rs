//! `plain-upper` (test plugin): a validator written without the SDK, on wit-bindgen directly,
//! to show that any component of the `validator` world works.
//!
//! Config `{"case": "upper"}`; the value must be a string without lower-case letters (null and
//! other JSON types included: anything else is one violation with field `""` and message
//! `must be upper case / 须为大写`).

/// The bindings of the contract's `validator` world, and the export of [`PlainUpper`]. The
/// generated glue is `unsafe` (raw exports and the canonical ABI), hence the local allowance.
#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../../plugin-sdk/wit",
        world: "validator",
    });

    use super::PlainUpper;
    export!(PlainUpper);
}

use bindings::{Guest, Json, Violation};
use serde_json::Value;

/// The one message.
pub const MESSAGE: &str = "must be upper case / 须为大写";

/// Checks `value` (JSON text) with `config` (JSON text); `Err` holds the violation's message.
pub fn check(config: &str, value: &str) -> Result<(), String> {
    let config: Value =
        serde_json::from_str(config).map_err(|e| format!("the plugin's configuration is not valid: {e}"))?;
    if config != serde_json::json!({"case": "upper"}) {
        return Err(format!(r#"the plugin's configuration is not valid: expected {{"case": "upper"}}, got {config}"#));
    }
    match serde_json::from_str::<Value>(value) {
        Ok(Value::String(s)) if !s.chars().any(char::is_lowercase) => Ok(()),
        _ => Err(MESSAGE.to_owned()),
    }
}

pub struct PlainUpper;

impl Guest for PlainUpper {
    fn validate(config: Json, value: Json, _record: Json) -> Result<(), Vec<Violation>> {
        check(&config, &value).map_err(|message| vec![Violation { field: String::new(), message }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPPER: &str = r#"{"case": "upper"}"#;

    #[test]
    fn upper_case_only() {
        assert_eq!(check(UPPER, r#""ABC 123 中文""#), Ok(()));
        assert_eq!(check(UPPER, r#""""#), Ok(()));
        assert_eq!(check(UPPER, r#""AbC""#), Err(MESSAGE.to_owned()));
        assert_eq!(check(UPPER, "42"), Err(MESSAGE.to_owned()));
        assert_eq!(check(UPPER, "null"), Err(MESSAGE.to_owned()));
        assert!(check(r#"{"case": "lower"}"#, r#""ABC""#).expect_err("config").contains("configuration"));
        assert!(check("", r#""ABC""#).is_err());
    }

    #[test]
    fn through_the_guest_trait() {
        assert!(PlainUpper::validate(UPPER.into(), r#""OK""#.into(), "{}".into()).is_ok());
        let violations = PlainUpper::validate(UPPER.into(), r#""no""#.into(), "{}".into()).expect_err("lower case");
        assert_eq!(violations.len(), 1);
        assert_eq!((violations[0].field.as_str(), violations[0].message.as_str()), ("", MESSAGE));
    }
}
