//! The wasmtime side: one engine with the pooling allocator and epoch deadlines, a linker per
//! world that holds exactly what that world may import, compiled components cached in memory
//! and on disk, and one call = one fresh instance from an `InstancePre`, dropped afterwards.
//!
//! Calls are async: a plugin runs on the calling task (on a fiber stack from the pool) and
//! yields to the runtime at every epoch tick, so a busy or looping plugin never holds a runtime
//! thread for more than a tick and a call costs no thread hand-off; the wall-clock deadline is
//! checked at each tick. Host functions (`records`, `http`) are async and simply await.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, StoreLimits, StoreLimitsBuilder,
    UpdateDeadline,
};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::{Kind, PluginError, Violation};

pub mod action {
    wasmtime::component::bindgen!({
        path: "../plugin-sdk/wit",
        world: "action",
        imports: {
            "tessera:plugin/records": async,
            "tessera:plugin/http": async,
        },
        exports: { default: async },
    });
}

pub mod validator {
    wasmtime::component::bindgen!({
        path: "../plugin-sdk/wit",
        world: "validator",
        exports: { default: async },
        with: {
            "tessera:plugin/types": super::action::tessera::plugin::types,
            "tessera:plugin/log": super::action::tessera::plugin::log,
        },
    });
}

pub mod widget {
    wasmtime::component::bindgen!({
        path: "../plugin-sdk/wit",
        world: "widget",
        exports: { default: async },
        with: {
            "tessera:plugin/types": super::action::tessera::plugin::types,
            "tessera:plugin/log": super::action::tessera::plugin::log,
        },
    });
}

pub use action::tessera::plugin::{http, log, records, types};

/// Platform limits: what any install may use at most, and the defaults.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest component accepted at publish, in bytes.
    pub component_bytes: usize,
    /// Linear memory one call may grow to, in bytes.
    pub memory_bytes: usize,
    /// Default deadlines per kind.
    pub validator_deadline: Duration,
    pub action_deadline: Duration,
    pub widget_deadline: Duration,
    /// The longest deadline an install may ask for.
    pub max_deadline: Duration,
    /// Largest input (config + arguments) and output of one call, in bytes.
    pub input_bytes: usize,
    pub output_bytes: usize,
    /// Host calls (`records`, `http`) one invocation may make.
    pub host_calls: u32,
    /// Log lines kept per call.
    pub log_lines: usize,
    /// Instances that may run at once (pool slots).
    pub concurrent_calls: u32,
    /// Where compiled code is kept between starts; none keeps it in memory only.
    pub cache_dir: Option<PathBuf>,
    /// Extra certificate authorities (PEM) for plugins' outbound HTTPS, beside the system's.
    pub http_ca_pem: Option<Vec<u8>>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            component_bytes: 10 << 20,
            memory_bytes: 64 << 20,
            validator_deadline: Duration::from_millis(50),
            action_deadline: Duration::from_secs(5),
            widget_deadline: Duration::from_millis(500),
            max_deadline: Duration::from_secs(30),
            input_bytes: 4 << 20,
            output_bytes: 4 << 20,
            host_calls: 1000,
            log_lines: 100,
            concurrent_calls: 32,
            cache_dir: None,
            http_ca_pem: None,
        }
    }
}

impl Limits {
    pub fn default_deadline(&self, kind: Kind) -> Duration {
        match kind {
            Kind::Validator => self.validator_deadline,
            Kind::Action => self.action_deadline,
            Kind::Widget => self.widget_deadline,
        }
    }
}

/// How often the epoch advances: a running plugin yields to the runtime (and has its deadline
/// checked) this often.
const TICK: Duration = Duration::from_millis(2);

/// What host functions of one call may reach: given by the caller, used by `records` and
/// `http`. The host module knows nothing of tenants; `Plugins` implements this.
#[async_trait::async_trait]
pub trait HostApi: Send {
    async fn records_get(&mut self, form: &str, id: i64) -> Result<Option<types::StoredRecord>, types::PluginError>;
    async fn records_query(
        &mut self,
        form: &str,
        filter: &str,
        limit: u32,
    ) -> Result<Vec<types::StoredRecord>, types::PluginError>;
    async fn records_create(&mut self, form: &str, data: &str) -> Result<types::StoredRecord, types::PluginError>;
    async fn records_update(
        &mut self,
        form: &str,
        id: i64,
        data: &str,
        if_version: Option<i64>,
    ) -> Result<types::StoredRecord, types::PluginError>;
    async fn http_send(&mut self, request: http::Request) -> Result<http::Response, types::PluginError>;
}

/// The state of one call's store.
pub struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    pub log: Vec<LogLine>,
    log_lines: usize,
    host_calls: u32,
    max_host_calls: u32,
    api: Option<Box<dyn HostApi>>,
}

/// One line a plugin wrote to its log.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct LogLine {
    pub level: &'static str,
    pub message: String,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl log::Host for CallState {
    fn write(&mut self, level: log::Level, message: String) {
        if self.log.len() < self.log_lines {
            let level = match level {
                log::Level::Debug => "debug",
                log::Level::Info => "info",
                log::Level::Warn => "warn",
                log::Level::Error => "error",
            };
            self.log.push(LogLine { level, message: message.chars().take(2000).collect() });
        }
    }
}

impl types::Host for CallState {}

fn host_error(code: &str, message: impl Into<String>) -> types::PluginError {
    types::PluginError { code: code.into(), message: message.into() }
}

impl CallState {
    /// The call's host API, counting the call against the per-invocation cap.
    fn api(&mut self) -> Result<&mut Box<dyn HostApi>, types::PluginError> {
        self.host_calls += 1;
        if self.host_calls > self.max_host_calls {
            return Err(host_error("limit", format!("more than {} host calls in one invocation", self.max_host_calls)));
        }
        self.api.as_mut().ok_or_else(|| host_error("unavailable", "no host API in this call"))
    }
}

impl records::Host for CallState {
    async fn get(&mut self, form: String, id: i64) -> Result<Option<types::StoredRecord>, types::PluginError> {
        self.api()?.records_get(&form, id).await
    }

    async fn query(
        &mut self,
        form: String,
        filter: String,
        limit: u32,
    ) -> Result<Vec<types::StoredRecord>, types::PluginError> {
        self.api()?.records_query(&form, &filter, limit).await
    }

    async fn create(&mut self, form: String, data: String) -> Result<types::StoredRecord, types::PluginError> {
        self.api()?.records_create(&form, &data).await
    }

    async fn update(
        &mut self,
        form: String,
        id: i64,
        data: String,
        if_version: Option<i64>,
    ) -> Result<types::StoredRecord, types::PluginError> {
        self.api()?.records_update(&form, id, &data, if_version).await
    }
}

impl http::Host for CallState {
    async fn send(&mut self, request: http::Request) -> Result<http::Response, types::PluginError> {
        self.api()?.http_send(request).await
    }
}

/// A component compiled and linked against its world, ready to instantiate.
pub enum Pre {
    Validator(validator::ValidatorPre<CallState>),
    Action(action::ActionPre<CallState>),
    Widget(widget::WidgetPre<CallState>),
}

/// What a widget drew.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Drawing {
    Svg(String),
    Chart(serde_json::Value),
}

/// The outcome of an action.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub summary: String,
    pub data: String,
}

/// What a call returned, by kind; `Err` inside is the plugin's own answer (violations, or
/// its error), not a failure of the call.
pub enum Answer {
    Validated(Result<(), Vec<Violation>>),
    Ran(Result<Outcome, (String, String)>),
    Rendered(Result<Drawing, (String, String)>),
}

/// The arguments of one call.
pub enum Call<'a> {
    Validate { config: &'a str, value: &'a str, record: &'a str },
    Run { config: &'a str, event: types::Event },
    Render { config: &'a str, dataset: types::Dataset },
}

/// Compiles and runs components.
pub struct Host {
    engine: Engine,
    linkers: [Linker<CallState>; 3],
    limits: Limits,
    compat: String,
    cache: Mutex<HashMap<String, Arc<Pre>>>,
}

impl Host {
    pub fn new(limits: Limits) -> anyhow::Result<Host> {
        let mut pool = PoolingAllocationConfig::default();
        let slots = limits.concurrent_calls.max(1);
        pool.total_component_instances(slots)
            .total_core_instances(slots * 8)
            .total_memories(slots * 2)
            .total_tables(slots * 8)
            .max_core_instances_per_component(16)
            .max_memories_per_component(4)
            .max_tables_per_component(8)
            .max_tables_per_module(4)
            .total_stacks(slots)
            .max_memory_size(limits.memory_bytes);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .max_wasm_stack(1 << 20)
            .memory_reservation(limits.memory_bytes as u64)
            .memory_guard_size(64 << 10)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config)?;
        let weak = engine.weak();
        std::thread::Builder::new().name("plugin-epoch".into()).spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(TICK);
            }
        })?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let compat = format!("{:016x}", hasher.finish());
        let linkers = [Kind::Validator, Kind::Action, Kind::Widget].map(|kind| {
            let mut linker = Linker::new(&engine);
            // Rust's std on wasip2 imports WASI interfaces even when unused: link them with
            // nothing granted (no files, no environment, no sockets, no clock beyond time).
            wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
            match kind {
                Kind::Validator => validator::Validator::add_to_linker::<_, HasSelf<CallState>>(&mut linker, |s| s)?,
                Kind::Action => action::Action::add_to_linker::<_, HasSelf<CallState>>(&mut linker, |s| s)?,
                Kind::Widget => widget::Widget::add_to_linker::<_, HasSelf<CallState>>(&mut linker, |s| s)?,
            }
            anyhow::Ok(linker)
        });
        let [v, a, w] = linkers;
        if let Some(dir) = &limits.cache_dir {
            std::fs::create_dir_all(dir)?;
        }
        Ok(Host { engine, linkers: [v?, a?, w?], limits, compat, cache: Mutex::new(HashMap::new()) })
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn linker(&self, kind: Kind) -> &Linker<CallState> {
        &self.linkers[kind as usize]
    }

    /// Compiles `bytes` and checks that it is a component of `kind`'s world: it imports
    /// nothing beyond that world and exports its function. Returns the compiled code.
    pub fn check(&self, kind: Kind, bytes: &[u8]) -> Result<Vec<u8>, PluginError> {
        if bytes.len() > self.limits.component_bytes {
            return Err(PluginError::Invalid(format!(
                "the component has {} bytes; the limit is {}",
                bytes.len(),
                self.limits.component_bytes
            )));
        }
        let component = Component::new(&self.engine, bytes)
            .map_err(|e| PluginError::Invalid(format!("not a valid component: {}", e.root_cause())))?;
        self.link(kind, &component)?;
        component.serialize().map_err(|e| PluginError::Invalid(format!("{}", e.root_cause())))
    }

    fn link(&self, kind: Kind, component: &Component) -> Result<Pre, PluginError> {
        let pre = self
            .linker(kind)
            .instantiate_pre(component)
            .map_err(|e| PluginError::Invalid(format!("the component asks for more than a {kind} may use: {e:#}")))?;
        let wrong = |e: wasmtime::Error| {
            PluginError::Invalid(format!("the component does not implement the {kind} world: {}", e.root_cause()))
        };
        Ok(match kind {
            Kind::Validator => Pre::Validator(validator::ValidatorPre::new(pre).map_err(wrong)?),
            Kind::Action => Pre::Action(action::ActionPre::new(pre).map_err(wrong)?),
            Kind::Widget => Pre::Widget(widget::WidgetPre::new(pre).map_err(wrong)?),
        })
    }

    fn cache_file(&self, sha256: &str) -> Option<PathBuf> {
        self.limits.cache_dir.as_ref().map(|d| d.join(format!("{sha256}-{}.cwasm", self.compat)))
    }

    /// Whether `sha256` is ready in memory.
    pub fn is_loaded(&self, sha256: &str) -> bool {
        self.cache.lock().expect("plugin cache").contains_key(sha256)
    }

    /// The linked component for `sha256`: from memory, else from the disk cache, else compiled
    /// from `source()` (the component's bytes) and written to the disk cache.
    pub fn load(
        &self,
        kind: Kind,
        sha256: &str,
        source: impl FnOnce() -> anyhow::Result<Vec<u8>>,
    ) -> Result<Arc<Pre>, PluginError> {
        if let Some(pre) = self.cache.lock().expect("plugin cache").get(sha256) {
            return Ok(pre.clone());
        }
        let file = self.cache_file(sha256);
        let cached = file.as_ref().filter(|f| f.exists()).and_then(|f| {
            // SAFETY: the file is compiled code this server wrote itself (`serialize` below) in
            // its own cache folder, named by the component's hash and this engine's
            // compatibility hash; wasmtime checks its header and version on load.
            #[allow(unsafe_code)]
            let c = unsafe { Component::deserialize_file(&self.engine, f) };
            c.ok()
        });
        let component = match cached {
            Some(c) => c,
            None => {
                let bytes = source().map_err(|e| PluginError::Invalid(format!("{e:#}")))?;
                let c = Component::new(&self.engine, &bytes)
                    .map_err(|e| PluginError::Invalid(format!("not a valid component: {}", e.root_cause())))?;
                if let Ok(code) = c.serialize() {
                    self.store_compiled(sha256, &code);
                }
                c
            }
        };
        let pre = Arc::new(self.link(kind, &component)?);
        self.cache.lock().expect("plugin cache").insert(sha256.to_owned(), pre.clone());
        Ok(pre)
    }

    /// Stores compiled code (from [`Host::check`] or a compile) in the disk cache, atomically
    /// (a temporary file renamed into place).
    pub fn store_compiled(&self, sha256: &str, code: &[u8]) {
        if let Some(file) = self.cache_file(sha256) {
            let tmp = file.with_extension(format!("tmp{}", std::process::id()));
            if std::fs::write(&tmp, code).is_ok() {
                let _ = std::fs::rename(&tmp, file);
            }
        }
    }

    /// Runs one call in a fresh instance. `deadline` is wall-clock time for instantiation and
    /// the call together, host calls included (checked at every epoch tick, when the plugin
    /// also yields to the runtime).
    pub async fn call(
        &self,
        pre: &Pre,
        call: Call<'_>,
        deadline: Duration,
        api: Option<Box<dyn HostApi>>,
    ) -> (Result<Answer, PluginError>, Vec<LogLine>) {
        let state = CallState {
            wasi: WasiCtxBuilder::new().build(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new().memory_size(self.limits.memory_bytes).trap_on_grow_failure(true).build(),
            log: Vec::new(),
            log_lines: self.limits.log_lines,
            host_calls: 0,
            max_host_calls: self.limits.host_calls,
            api,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        let until = Instant::now() + deadline;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= until {
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now())))
            }
        });
        let answer = self.run(&mut store, pre, call, deadline).await;
        let log = std::mem::take(&mut store.data_mut().log);
        (answer, log)
    }

    async fn run(
        &self,
        store: &mut Store<CallState>,
        pre: &Pre,
        call: Call<'_>,
        deadline: Duration,
    ) -> Result<Answer, PluginError> {
        let classify = |e: wasmtime::Error| classify(e, deadline);
        let out = self.limits.output_bytes;
        let too_big = |n: usize| PluginError::BadOutput(format!("the plugin returned {n} bytes; the limit is {out}"));
        match (pre, call) {
            (Pre::Validator(pre), Call::Validate { config, value, record }) => {
                self.check_input(config.len() + value.len() + record.len())?;
                let plugin = pre.instantiate_async(&mut *store).await.map_err(classify)?;
                let (config, value, record) = (config.to_owned(), value.to_owned(), record.to_owned());
                let answer = plugin.call_validate(&mut *store, &config, &value, &record).await.map_err(classify)?;
                if let Err(violations) = &answer {
                    let size: usize = violations.iter().map(|v| v.field.len() + v.message.len()).sum();
                    if size > out || violations.len() > 1000 {
                        return Err(too_big(size));
                    }
                }
                Ok(Answer::Validated(
                    answer.map_err(|vs| {
                        vs.into_iter().map(|v| Violation { field: v.field, message: v.message }).collect()
                    }),
                ))
            }
            (Pre::Action(pre), Call::Run { config, event }) => {
                let size = config.len()
                    + event.payload.len()
                    + event.record.as_ref().map(|r| r.data.len() + r.form.len()).unwrap_or(0);
                self.check_input(size)?;
                let plugin = pre.instantiate_async(&mut *store).await.map_err(classify)?;
                let config = config.to_owned();
                let answer = plugin.call_run(&mut *store, &config, &event).await.map_err(classify)?;
                let size = match &answer {
                    Ok(o) => o.summary.len() + o.data.len(),
                    Err(e) => e.code.len() + e.message.len(),
                };
                if size > out {
                    return Err(too_big(size));
                }
                Ok(Answer::Ran(
                    answer.map(|o| Outcome { summary: o.summary, data: o.data }).map_err(|e| (e.code, e.message)),
                ))
            }
            (Pre::Widget(pre), Call::Render { config, dataset }) => {
                let size = config.len() + dataset.rows.iter().map(String::len).sum::<usize>();
                self.check_input(size)?;
                let plugin = pre.instantiate_async(&mut *store).await.map_err(classify)?;
                let config = config.to_owned();
                let answer = plugin.call_render(&mut *store, &config, &dataset).await.map_err(classify)?;
                let size = match &answer {
                    Ok(types::Output::Svg(s)) | Ok(types::Output::Chart(s)) => s.len(),
                    Err(e) => e.code.len() + e.message.len(),
                };
                if size > out {
                    return Err(too_big(size));
                }
                Ok(Answer::Rendered(match answer {
                    Ok(types::Output::Svg(s)) => Ok(Drawing::Svg(s)),
                    Ok(types::Output::Chart(c)) => match serde_json::from_str(&c) {
                        Ok(v) => Ok(Drawing::Chart(v)),
                        Err(e) => return Err(PluginError::BadOutput(format!("the chart is not JSON: {e}"))),
                    },
                    Err(e) => Err((e.code, e.message)),
                }))
            }
            _ => Err(PluginError::Invalid("this plugin is of another kind".into())),
        }
    }

    fn check_input(&self, size: usize) -> Result<(), PluginError> {
        if size > self.limits.input_bytes {
            return Err(PluginError::TooLarge(format!(
                "the input has {size} bytes; the limit is {}",
                self.limits.input_bytes
            )));
        }
        Ok(())
    }
}

fn classify(e: wasmtime::Error, deadline: Duration) -> PluginError {
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) | Some(wasmtime::Trap::OutOfFuel) => PluginError::Timeout(deadline),
        Some(wasmtime::Trap::MemoryOutOfBounds) | Some(wasmtime::Trap::AllocationTooLarge) => PluginError::OutOfMemory,
        Some(wasmtime::Trap::StackOverflow) => PluginError::Trap("stack overflow".into()),
        _ => {
            let text = format!("{}", e.root_cause());
            // The memory limiter's refusal surfaces as a plain error, not a trap code.
            if text.contains("memory") && (text.contains("limit") || text.contains("grow")) {
                PluginError::OutOfMemory
            } else {
                PluginError::Trap(text)
            }
        }
    }
}
