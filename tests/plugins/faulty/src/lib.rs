//! `faulty` (test plugin): a widget that misbehaves on request, to test the host's limits.
//!
//! Config `{"mode": "ok" | "loop" | "memory" | "panic" | "big"}`:
//! - `ok` — a tiny SVG;
//! - `loop` — spins forever (the host's fuel or deadline must stop it);
//! - `memory` — keeps allocating and touching 1 MiB blocks (the memory limit must stop it);
//! - `panic` — panics (a trap; stderr carries the message);
//! - `big` — returns an SVG of about 20 MB (the host's output cap must refuse it).

use std::hint::black_box;

use plugin_sdk::{Dataset, Output, PluginError, Widget};
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Ok,
    Loop,
    Memory,
    Panic,
    Big,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub mode: Mode,
}

/// The size of the `big` answer.
pub const BIG: usize = 20_000_000;

pub struct Faulty;

impl Widget for Faulty {
    type Config = Config;

    fn render(config: Config, dataset: Dataset) -> Result<Output, PluginError> {
        match config.mode {
            Mode::Ok => Ok(Output::Svg(format!(
                r#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><!-- {} rows --></svg>"#,
                dataset.rows.len()
            ))),
            Mode::Loop => spin(),
            Mode::Memory => hoard(),
            Mode::Panic => panic!("faulty: panicking on purpose"),
            Mode::Big => Ok(Output::Svg(big())),
        }
    }
}

plugin_sdk::export_widget!(Faulty);

/// Never returns; `black_box` keeps the compiler from proving the loop does nothing.
fn spin() -> ! {
    let mut counter: u64 = 0;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

/// Never returns: allocates 1 MiB blocks, writes to every page, and keeps them.
fn hoard() -> ! {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut block = vec![0u8; 1 << 20];
        for i in (0..block.len()).step_by(4096) {
            block[i] = black_box(i as u8 | 1);
        }
        blocks.push(black_box(block));
        black_box(&blocks);
    }
}

/// A valid SVG of about [`BIG`] bytes.
pub fn big() -> String {
    let head = r#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><!-- "#;
    let tail = " --></svg>";
    let mut svg = String::with_capacity(BIG + head.len() + tail.len());
    svg.push_str(head);
    svg.extend(std::iter::repeat_n('x', BIG));
    svg.push_str(tail);
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        let ok = plugin_sdk::run_widget::<Faulty>(r#"{"mode": "ok"}"#, Dataset::default()).expect("ok");
        assert!(matches!(ok, Output::Svg(s) if s.starts_with("<svg")));
        assert!(big().len() > BIG);
        let err = plugin_sdk::run_widget::<Faulty>(r#"{"mode": "nap"}"#, Dataset::default()).expect_err("unknown");
        assert_eq!(err.code, "invalid");
    }
}
