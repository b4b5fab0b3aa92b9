//! Lines for the plugin's log, shown to tenant admins with each call; usable from every kind
//! of plugin. Lines beyond the host's per-call limit are dropped. Outside wasm32 they go to
//! stderr (visible in `cargo test -- --nocapture`).

/// The level of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

/// Writes one line at `level`.
pub fn write(level: Level, message: &str) {
    imp::write(level, message)
}

/// Writes one `debug` line.
pub fn debug(message: &str) {
    write(Level::Debug, message)
}

/// Writes one `info` line.
pub fn info(message: &str) {
    write(Level::Info, message)
}

/// Writes one `warn` line.
pub fn warn(message: &str) {
    write(Level::Warn, message)
}

/// Writes one `error` line.
pub fn error(message: &str) {
    write(Level::Error, message)
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use crate::bindings::host::tessera::plugin::log as wit;

    pub fn write(level: super::Level, message: &str) {
        let level = match level {
            super::Level::Debug => wit::Level::Debug,
            super::Level::Info => wit::Level::Info,
            super::Level::Warn => wit::Level::Warn,
            super::Level::Error => wit::Level::Error,
        };
        wit::write(level, message);
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    pub fn write(level: super::Level, message: &str) {
        eprintln!("[plugin {}] {message}", format!("{level:?}").to_lowercase());
    }
}
