//! The plugin host: runs WebAssembly components that implement the `tessera:plugin` WIT
//! contract (`plugin-sdk/wit`). Only this module imports wasmtime; the rest of the server
//! asks it to run a plugin and gets plain Rust values back.
//!
//! What is here so far: compiling a component, and calling a validator in a fresh store with a
//! fuel budget and a memory cap, WASI linked with nothing granted (Rust's std on wasip2 imports
//! WASI interfaces even when unused), and the `log` interface collected per call. Still to come
//! with the plugin-platform issue: the compiled-code cache, `InstancePre` with the pooling
//! allocator, epoch deadlines, actions and widgets, the registry and installs.

use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

mod validator {
    wasmtime::component::bindgen!({
        path: "../plugin-sdk/wit",
        world: "validator",
    });
}

use validator::tessera::plugin::{log, types};

/// Limits of one call.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Instructions (wasmtime fuel units) a call may spend.
    pub fuel: u64,
    /// Linear memory a call may grow to, in bytes.
    pub memory_bytes: usize,
    /// Log lines kept per call.
    pub log_lines: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { fuel: 50_000_000, memory_bytes: 64 << 20, log_lines: 100 }
    }
}

/// Why a plugin call failed (the plugin's own answer, such as violations, is not a failure).
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("the component is not valid: {0}")]
    Invalid(String),
    #[error("the plugin ran out of its time budget")]
    OutOfFuel,
    #[error("the plugin used more memory than allowed")]
    OutOfMemory,
    #[error("the plugin failed: {0}")]
    Trap(String),
}

/// A violation a validator reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub field: String,
    pub message: String,
}

/// One call's state: WASI with nothing granted, the memory limiter, the log.
struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    log: Vec<(log::Level, String)>,
    log_lines: usize,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl log::Host for CallState {
    fn write(&mut self, level: log::Level, message: String) {
        if self.log.len() < self.log_lines {
            self.log.push((level, message.chars().take(2000).collect()));
        }
    }
}

impl types::Host for CallState {}

/// Compiles and runs plugin components.
pub struct PluginHost {
    engine: Engine,
    linker: Linker<CallState>,
    limits: Limits,
}

impl PluginHost {
    pub fn new(limits: Limits) -> anyhow::Result<PluginHost> {
        let mut config = Config::new();
        config.wasm_component_model(true).consume_fuel(true);
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        validator::Validator::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |s| s)?;
        Ok(PluginHost { engine, linker, limits })
    }

    /// Compiles a component (checks that it is one).
    pub fn compile(&self, bytes: &[u8]) -> Result<Component, PluginError> {
        Component::new(&self.engine, bytes).map_err(|e| PluginError::Invalid(format!("{}", e.root_cause())))
    }

    /// Calls a validator's `validate` in a fresh store. `Ok(Err(violations))` is the plugin
    /// saying the value is invalid.
    pub fn validate(
        &self,
        component: &Component,
        config: &str,
        value: &str,
        record: &str,
    ) -> Result<Result<(), Vec<Violation>>, PluginError> {
        let state = CallState {
            wasi: WasiCtxBuilder::new().build(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new().memory_size(self.limits.memory_bytes).trap_on_grow_failure(true).build(),
            log: Vec::new(),
            log_lines: self.limits.log_lines,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.set_fuel(self.limits.fuel).map_err(|e| PluginError::Trap(e.to_string()))?;
        let plugin = validator::Validator::instantiate(&mut store, component, &self.linker).map_err(classify)?;
        let (config, value, record) = (config.to_owned(), value.to_owned(), record.to_owned());
        let answer = plugin.call_validate(&mut store, &config, &value, &record).map_err(classify)?;
        Ok(answer.map_err(|violations| {
            violations.into_iter().map(|v| Violation { field: v.field, message: v.message }).collect()
        }))
    }
}

fn classify(e: wasmtime::Error) -> PluginError {
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::OutOfFuel) => PluginError::OutOfFuel,
        Some(wasmtime::Trap::MemoryOutOfBounds) | Some(wasmtime::Trap::AllocationTooLarge) => PluginError::OutOfMemory,
        _ => PluginError::Trap(format!("{}", e.root_cause())),
    }
}
