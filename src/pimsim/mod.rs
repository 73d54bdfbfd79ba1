//! Interop with pimsim-nn, the simulator PIMCOMP-NN targets: its instruction files.
//!
//! A pimsim-nn instruction file is one JSON object (usually gzipped): a `config` block and an
//! array of instruction records per core, `{"config": {...}, "core0": [...], ...}`. Records
//! address memory through registers that `sldi` sets just before each use; pimlir's ISA level
//! writes addresses as operands. So the importer evaluates the register file along each core's
//! straight-line program (every register value is known statically) and replaces register
//! operands by the addresses they hold; the exporter does the reverse with `sldi`. The format
//! is described in `docs/pimsim-interop.md`.

mod export;
mod import;
mod scan;

pub use export::{write, write_to, ExportStats};
pub use import::{read, read_from, ImportOptions};

/// Synthetic layer the importer assigns to array groups of `xbars` crossbars: pimsim-nn files
/// know only each group's crossbar count, not which layer's weights it holds.
pub fn synthetic_layer_name(xbars: u32) -> String {
    format!("pimsim.xbars{xbars}")
}

/// Registers the exporter loads with `sldi` for an instruction's `rd`, `rs1` and `rs2`.
const REG_RD: u8 = 0;
const REG_RS1: u8 = 1;
const REG_RS2: u8 = 2;
