//! `tessera-plugin.toml`: what a plugin is, in the author's words. Read at publish (and by
//! `tessera plugin package`), stored as JSON beside the component.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Kind;
use super::schema;
use crate::error::FieldError;

/// The manifest of one plugin version.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// `[a-z][a-z0-9-]{1,62}`, unique on the platform.
    pub id: String,
    /// Semantic version, e.g. `1.2.0`.
    pub version: String,
    pub kind: Kind,
    /// Display name per language (`en`, `zh`).
    pub name: BTreeMap<String, String>,
    #[serde(default)]
    pub description: BTreeMap<String, String>,
    /// JSON Schema of the install's configuration (the supported subset is in `schema`).
    #[serde(default = "empty_object_schema")]
    #[schemars(with = "Value")]
    pub config_schema: Value,
    #[serde(default)]
    pub capabilities: Capabilities,
}

fn empty_object_schema() -> Value {
    serde_json::json!({"type": "object"})
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// `records:read`, `records:write`, `http:<host>`.
    #[serde(default)]
    pub requested: Vec<String>,
}

/// Whether `c` names a capability the platform knows.
pub fn is_capability(c: &str) -> bool {
    matches!(c, "records:read" | "records:write") || c.strip_prefix("http:").is_some_and(is_host_name)
}

fn is_host_name(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '*')
        })
}

/// Whether `id` is a valid plugin id.
pub fn is_plugin_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && (2..=63).contains(&id.len())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

impl Manifest {
    /// Parses and checks a manifest; every problem is reported with its key.
    pub fn parse(text: &str) -> Result<Manifest, Vec<FieldError>> {
        let m: Manifest = toml::from_str(text).map_err(|e| {
            let at = e.span().map(|s| format!(" (at byte {})", s.start)).unwrap_or_default();
            vec![FieldError::new("manifest", format!("{}{at}", e.message()))]
        })?;
        let mut errors = Vec::new();
        if !is_plugin_id(&m.id) {
            errors.push(FieldError::new(
                "manifest.id",
                "must be 2–63 characters: lower-case letters, digits and `-`, starting with a letter",
            ));
        }
        if let Err(e) = semver::Version::parse(&m.version) {
            errors.push(FieldError::new("manifest.version", format!("not a semantic version: {e}")));
        }
        if !m.name.contains_key("en") && !m.name.contains_key("zh") {
            errors.push(FieldError::new("manifest.name", "needs `en` or `zh` (both preferred)"));
        }
        for key in m.name.keys().chain(m.description.keys()) {
            if !matches!(key.as_str(), "en" | "zh") {
                errors.push(FieldError::new(format!("manifest.name.{key}"), "languages are `en` and `zh`"));
            }
        }
        errors.extend(schema::check_schema(&m.config_schema, "manifest.config_schema"));
        for (i, c) in m.capabilities.requested.iter().enumerate() {
            if !is_capability(c) {
                errors.push(FieldError::new(
                    format!("manifest.capabilities.requested[{i}]"),
                    format!("unknown capability `{c}`: use records:read, records:write or http:<host>"),
                ));
            } else if m.kind != Kind::Action {
                errors.push(FieldError::new(
                    format!("manifest.capabilities.requested[{i}]"),
                    format!("a {} has no host access beyond its log; only actions request capabilities", m.kind),
                ));
            }
        }
        if errors.is_empty() { Ok(m) } else { Err(errors) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_complete_manifest() {
        let m = Manifest::parse(
            r#"
            id = "cn-id"
            version = "0.1.0"
            kind = "validator"
            [name]
            en = "Chinese identifiers"
            zh = "中国证件号码"
            [config_schema]
            type = "object"
            required = ["kind"]
            additionalProperties = false
            [config_schema.properties.kind]
            enum = ["uscc", "resident_id", "mobile"]
            "#,
        )
        .expect("valid");
        assert_eq!(m.kind, Kind::Validator);
        assert_eq!(m.config_schema["properties"]["kind"]["enum"][1], "resident_id");
    }

    #[test]
    fn names_every_problem() {
        let errors = Manifest::parse(
            r#"
            id = "Bad_Id"
            version = "one"
            kind = "widget"
            [name]
            fr = "x"
            [config_schema]
            type = "thing"
            [capabilities]
            requested = ["records:read", "disk:write"]
            "#,
        )
        .expect_err("invalid");
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        for f in [
            "manifest.id",
            "manifest.version",
            "manifest.name",
            "manifest.name.fr",
            "manifest.config_schema.type",
            "manifest.capabilities.requested[0]",
            "manifest.capabilities.requested[1]",
        ] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
        let unknown = Manifest::parse("id = \"x1\"\nversion = \"1.0.0\"\nkind = \"gadget\"\n[name]\nen = \"x\"\n")
            .expect_err("unknown kind");
        assert!(unknown[0].message.contains("gadget"), "{unknown:?}");
    }
}
