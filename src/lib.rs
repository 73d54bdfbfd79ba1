//! pimlir: a compiler and simulator deploying DNNs onto processing-in-memory crossbar
//! accelerators. See README.md for the pipeline and `docs/` for the design.

pub mod arch;
pub mod diag;
pub mod graph;
pub mod isa;
pub mod onnx;
