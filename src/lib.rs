//! pimlir: a compiler and simulator deploying DNNs onto processing-in-memory crossbar
//! accelerators. See README.md for the pipeline and `docs/` for the design.
//!
//! Layering (`docs/design.md`): everything but `dialect`, `pass`, `driver` and the binaries
//! is plain Rust and builds without MLIR (`--no-default-features`).

pub mod ids;

pub mod arch;
pub mod diag;
pub mod limits;
pub mod output;
pub mod unfold;

pub mod frontend;
pub mod graph;
pub mod mapping;
pub mod onnx;

pub mod isa;
pub mod pimsim;
pub mod sched;
pub mod sim;

pub mod compile;
pub mod cost;

#[cfg(feature = "mlir")]
pub mod dialect;
#[cfg(feature = "mlir")]
pub mod driver;
#[cfg(feature = "mlir")]
pub mod pass;
