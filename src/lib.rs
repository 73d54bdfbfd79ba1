//! pimlir: a compiler and simulator deploying DNNs onto processing-in-memory crossbar
//! accelerators. See README.md for the pipeline and `docs/` for the design.

pub mod arch;
pub mod diag;
#[cfg(feature = "mlir")]
pub mod dialect;
#[cfg(feature = "mlir")]
pub mod driver;
#[cfg(feature = "mlir")]
pub mod frontend;
#[cfg(feature = "mlir")]
pub mod graph;
pub mod isa;
pub mod onnx;
#[cfg(feature = "mlir")]
pub mod pass;
pub mod pimsim;
#[cfg(feature = "mlir")]
pub mod sched;
pub mod sim;
