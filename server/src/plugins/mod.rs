//! Plugins: WebAssembly components that implement the `tessera:plugin` WIT contract
//! (`plugin-sdk/wit`). Three parts:
//!
//! - `host` — the only code that touches wasmtime: the engine (pooling allocator, epoch
//!   deadlines), a linker per world, the compiled-code cache, one fresh instance per call;
//! - `registry` — published versions (platform-wide) and each tenant's installs, with the
//!   audit log;
//! - [`Plugins`] (here) — what the rest of the server calls: run a validator for a field, invoke
//!   an installed plugin, with limits, metrics and the tenant's host API (`records`, `http`).

pub mod api;
pub mod cli;
pub mod host;
mod hostapi;
pub mod manifest;
pub mod registry;
pub mod schema;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Semaphore;

pub use host::{Drawing, Limits, LogLine};
pub use registry::Installed;

use crate::error::{Error, FieldError, Result};
use crate::store::{Db, Scoped};
use crate::tenants::Actor;

/// What a plugin is for; each kind is one world of the WIT package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Validator = 0,
    Action = 1,
    Widget = 2,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Validator => "validator",
            Kind::Action => "action",
            Kind::Widget => "widget",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "validator" => Some(Kind::Validator),
            "action" => Some(Kind::Action),
            "widget" => Some(Kind::Widget),
            _ => None,
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a plugin call failed (the plugin's own answer, such as violations, is not a failure).
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("{0}")]
    Invalid(String),
    #[error("the plugin did not finish within {0:?}")]
    Timeout(Duration),
    #[error("the plugin used more memory than allowed")]
    OutOfMemory,
    #[error("the plugin crashed: {0}")]
    Trap(String),
    #[error("{0}")]
    BadOutput(String),
    #[error("{0}")]
    TooLarge(String),
}

impl PluginError {
    /// The stable code shown in problem documents and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            PluginError::Invalid(_) => "invalid-component",
            PluginError::Timeout(_) => "timeout",
            PluginError::OutOfMemory => "out-of-memory",
            PluginError::Trap(_) => "crashed",
            PluginError::BadOutput(_) => "bad-output",
            PluginError::TooLarge(_) => "input-too-large",
        }
    }

    fn into_error(self, plugin: &str) -> Error {
        Error::Plugin { plugin: plugin.to_owned(), code: self.code().to_owned(), message: self.to_string() }
    }
}

/// A violation a validator reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Violation {
    pub field: String,
    pub message: String,
}

/// Calls, errors and time of one install since the server started.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct Metrics {
    pub calls: u64,
    /// Calls that failed (timeout, crash, memory, bad output) — not the plugin's own answers.
    pub failures: u64,
    /// Calls the plugin answered with its own error or violations.
    pub rejections: u64,
    pub timeouts: u64,
    pub total_micros: u64,
    pub max_micros: u64,
}

/// The plugin runtime shared by the server: cheap to clone.
#[derive(Clone)]
pub struct Plugins {
    inner: Arc<Inner>,
}

struct Inner {
    host: host::Host,
    /// Validators run inside writes that actions may make: separate permits, so that actions
    /// holding every slot can never starve the validators their writes need.
    validator_slots: Semaphore,
    other_slots: Semaphore,
    metrics: Mutex<HashMap<(i64, String), Metrics>>,
    installs: Mutex<HashMap<(i64, String), Remembered>>,
    /// Extra roots for plugins' HTTPS (from `Limits::http_ca_pem`).
    http_roots: Vec<reqwest::Certificate>,
}

impl std::fmt::Debug for Plugins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugins").finish_non_exhaustive()
    }
}

/// An install (or its absence) as read at a moment.
type Remembered = (Instant, Option<Arc<Installed>>);

/// How long a tenant's install is trusted from memory before it is read again (other server
/// processes may change it; this process forgets it at once when it changes it itself).
const INSTALL_TTL: Duration = Duration::from_secs(2);

impl Plugins {
    pub fn new(limits: Limits) -> anyhow::Result<Plugins> {
        let half = (limits.concurrent_calls / 2).max(1) as usize;
        let http_roots = match &limits.http_ca_pem {
            Some(pem) => reqwest::Certificate::from_pem_bundle(pem).context("reading the plugin HTTPS CA file")?,
            None => Vec::new(),
        };
        let host = host::Host::new(limits)?;
        Ok(Plugins {
            inner: Arc::new(Inner {
                host,
                validator_slots: Semaphore::new(half),
                other_slots: Semaphore::new(half),
                metrics: Mutex::new(HashMap::new()),
                installs: Mutex::new(HashMap::new()),
                http_roots,
            }),
        })
    }

    pub fn limits(&self) -> &Limits {
        self.inner.host.limits()
    }

    pub(crate) fn host(&self) -> &host::Host {
        &self.inner.host
    }

    /// Forgets what is remembered of a tenant's install (after it changed).
    pub(crate) fn forget(&self, tenant: i64, plugin: &str) {
        self.inner.installs.lock().expect("installs").remove(&(tenant, plugin.to_owned()));
    }

    /// The tenant's install of `plugin`, from memory when fresh.
    pub async fn installed(&self, s: &Scoped, plugin: &str) -> Result<Option<Arc<Installed>>> {
        let key = (s.tenant().0, plugin.to_owned());
        if let Some((at, i)) = self.inner.installs.lock().expect("installs").get(&key)
            && at.elapsed() < INSTALL_TTL
        {
            return Ok(i.clone());
        }
        let found = registry::load_install(s, plugin).await?.map(Arc::new);
        self.inner.installs.lock().expect("installs").insert(key, (Instant::now(), found.clone()));
        Ok(found)
    }

    /// Metrics of the tenant's install of `plugin`.
    pub fn metrics(&self, tenant: i64, plugin: &str) -> Metrics {
        self.inner.metrics.lock().expect("metrics").get(&(tenant, plugin.to_owned())).cloned().unwrap_or_default()
    }

    /// Makes sure a version's code is compiled and linked: from memory, else the disk cache,
    /// else compiled from the registry's component (read only when needed). Returns whether it
    /// was already loaded.
    pub(crate) async fn load_code(
        &self,
        db: &Db,
        kind: Kind,
        sha256: &str,
        plugin: &str,
        version: &str,
    ) -> Result<bool> {
        if self.inner.host.is_loaded(sha256) {
            return Ok(true);
        }
        let (this, db, runtime) = (self.clone(), db.clone(), tokio::runtime::Handle::current());
        let (sha, id, version) = (sha256.to_owned(), plugin.to_owned(), version.to_owned());
        tokio::task::spawn_blocking(move || {
            let source =
                || runtime.block_on(registry::component_bytes(&db, &id, &version)).map_err(|e| anyhow::anyhow!("{e}"));
            this.inner.host.load(kind, &sha, source).map(|_| ())
        })
        .await
        .map_err(|e| Error::Internal(e.into()))?
        .map_err(|e| e.into_error(plugin))?;
        Ok(false)
    }

    /// Runs one call of an install within its deadline, and counts it.
    async fn call(
        &self,
        s: &Scoped,
        install: &Installed,
        call: OwnedCall,
        api: Option<Box<dyn host::HostApi>>,
    ) -> Result<(host::Answer, Vec<LogLine>)> {
        self.load_code(s.db(), install.kind, &install.sha256, &install.plugin, &install.version).await?;
        let pre = self
            .inner
            .host
            .load(install.kind, &install.sha256, unreachable_source)
            .map_err(|e| e.into_error(&install.plugin))?;
        let slots = if install.kind == Kind::Validator { &self.inner.validator_slots } else { &self.inner.other_slots };
        let _permit = slots.acquire().await.map_err(|e| Error::Internal(e.into()))?;
        let started = Instant::now();
        let call = match &call {
            OwnedCall::Validate { config, value, record } => host::Call::Validate { config, value, record },
            OwnedCall::Run { config, event } => host::Call::Run { config, event: event.clone() },
            OwnedCall::Render { config, dataset } => host::Call::Render { config, dataset: dataset.clone() },
        };
        let (answer, log) = self.inner.host.call(&pre, call, install.deadline, api).await;
        let micros = started.elapsed().as_micros() as u64;
        {
            let mut metrics = self.inner.metrics.lock().expect("metrics");
            let m = metrics.entry((s.tenant().0, install.plugin.clone())).or_default();
            m.calls += 1;
            m.total_micros += micros;
            m.max_micros = m.max_micros.max(micros);
            match &answer {
                Err(PluginError::Timeout(_)) => {
                    m.failures += 1;
                    m.timeouts += 1;
                }
                Err(_) => m.failures += 1,
                Ok(host::Answer::Validated(Err(_)))
                | Ok(host::Answer::Ran(Err(_)))
                | Ok(host::Answer::Rendered(Err(_))) => m.rejections += 1,
                Ok(_) => {}
            }
        }
        match answer {
            Ok(a) => Ok((a, log)),
            Err(e) => {
                tracing::warn!(plugin = %install.plugin, tenant = s.tenant().0, error = %e, "plugin call failed");
                Err(e.into_error(&install.plugin))
            }
        }
    }

    /// Runs the validator `plugin` (installed in the tenant) on one field value. The
    /// effective configuration is the install's, overlaid with the field's.
    pub async fn validate(
        &self,
        s: &Scoped,
        plugin: &str,
        field_config: &Value,
        value: &Value,
        record: &Value,
    ) -> Result<Result<(), Vec<Violation>>> {
        let install = self.installed(s, plugin).await?.ok_or_else(|| Error::Plugin {
            plugin: plugin.to_owned(),
            code: "not-installed".into(),
            message: format!("the validator `{plugin}` is not installed in this tenant"),
        })?;
        let config = install.effective_config(field_config);
        let call =
            OwnedCall::Validate { config: config.to_string(), value: value.to_string(), record: record.to_string() };
        match self.call(s, &install, call, None).await?.0 {
            host::Answer::Validated(v) => Ok(v),
            _ => Err(PluginError::Invalid("not a validator".into()).into_error(plugin)),
        }
    }

    /// `POST …/plugins/{plugin}/invoke`: runs an installed plugin directly on a sample input.
    pub async fn invoke(&self, s: &Scoped, actor: &Actor, plugin: &str, input: Value) -> Result<Value> {
        let install = self.installed(s, plugin).await?.ok_or(Error::NotFound("plugin"))?;
        let Value::Object(mut input) = input else {
            return Err(Error::invalid("input", "must be an object"));
        };
        let own_config = input.remove("config").unwrap_or(Value::Object(Default::default()));
        let config = install.effective_config(&own_config);
        let schema_errors = schema::validate(&install.config_schema, &config, "input.config", false);
        if !schema_errors.is_empty() {
            return Err(Error::Invalid(schema_errors));
        }
        let text = config.to_string();
        let allowed: &[&str] = match install.kind {
            Kind::Validator => &["value", "record"],
            Kind::Action => &["event"],
            Kind::Widget => &["dataset"],
        };
        if let Some(k) = input.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(Error::invalid(
                format!("input.{k}"),
                format!("a {} takes `config` and {}", install.kind, allowed.join(", ")),
            ));
        }
        let (call, api): (OwnedCall, Option<Box<dyn host::HostApi>>) = match install.kind {
            Kind::Validator => {
                let value = input.remove("value").unwrap_or(Value::Null);
                let record = input.remove("record").unwrap_or(Value::Object(Default::default()));
                (OwnedCall::Validate { config: text, value: value.to_string(), record: record.to_string() }, None)
            }
            Kind::Action => {
                let event = hostapi::event_from_json(input.remove("event").unwrap_or(Value::Null))?;
                let api = hostapi::TenantApi::new(
                    s.clone(),
                    actor.clone(),
                    install.grants.clone(),
                    install.deadline,
                    self.inner.http_roots.clone(),
                );
                (OwnedCall::Run { config: text, event }, Some(Box::new(api)))
            }
            Kind::Widget => {
                let dataset = hostapi::dataset_from_json(input.remove("dataset").unwrap_or(Value::Null))?;
                (OwnedCall::Render { config: text, dataset }, None)
            }
        };
        let (answer, log) = self.call(s, &install, call, api).await?;
        let result = match answer {
            host::Answer::Validated(Ok(())) => serde_json::json!({"valid": true}),
            host::Answer::Validated(Err(v)) => serde_json::json!({"valid": false, "violations": v}),
            host::Answer::Ran(Ok(o)) => {
                let data: Value = serde_json::from_str(&o.data).map_err(|e| {
                    PluginError::BadOutput(format!("the outcome's data is not JSON: {e}")).into_error(plugin)
                })?;
                serde_json::json!({"summary": o.summary, "data": data})
            }
            host::Answer::Rendered(Ok(d)) => serde_json::to_value(d).map_err(anyhow::Error::from)?,
            host::Answer::Ran(Err((code, message))) | host::Answer::Rendered(Err((code, message))) => {
                return Err(Error::Plugin { plugin: plugin.to_owned(), code, message });
            }
        };
        Ok(serde_json::json!({"result": result, "log": log}))
    }
}

fn unreachable_source() -> anyhow::Result<Vec<u8>> {
    anyhow::bail!("the component is not loaded")
}

/// A call's arguments, owned by the call.
enum OwnedCall {
    Validate { config: String, value: String, record: String },
    Run { config: String, event: host::types::Event },
    Render { config: String, dataset: host::types::Dataset },
}

/// Problems of a form field's validator list: each must name an installed validator, and
/// its configuration (over the install's) must satisfy the plugin's schema.
pub async fn check_field_validators(
    s: &Scoped,
    field_path: &str,
    validators: &[crate::forms::FieldValidator],
) -> Result<Vec<FieldError>> {
    let mut errors = Vec::new();
    for (i, v) in validators.iter().enumerate() {
        let at = format!("{field_path}.validators[{i}]");
        let Some(install) = registry::load_install(s, &v.plugin).await? else {
            errors.push(FieldError::new(
                format!("{at}.plugin"),
                format!("`{}` is not installed in this tenant", v.plugin),
            ));
            continue;
        };
        if install.kind != Kind::Validator {
            errors.push(FieldError::new(
                format!("{at}.plugin"),
                format!("`{}` is a {}, not a validator", v.plugin, install.kind),
            ));
            continue;
        }
        let config = install.effective_config(&v.config);
        errors.extend(schema::validate(&install.config_schema, &config, &format!("{at}.config"), false));
    }
    Ok(errors)
}
