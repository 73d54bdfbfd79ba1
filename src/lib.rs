//! pimlir: a compiler and simulator deploying DNNs onto processing-in-memory crossbar
//! accelerators. See README.md for the pipeline and `docs/` for the design.

pub mod arch;
pub mod diag;
pub mod dialect;
pub mod driver;
pub mod frontend;
pub mod graph;
pub mod isa;
pub mod onnx;
pub mod pass;
pub mod pimsim;
pub mod sched;
pub mod sim;
