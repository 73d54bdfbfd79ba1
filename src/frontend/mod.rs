//! Model importers: ONNX and PIMCOMP-NN structure JSON into a [`Graph`]. Plain Rust: the
//! MLIR bridge (`crate::dialect::graph_ir`) writes the result as a `graph`-level module.

pub mod onnx_import;
mod onnx_shapes;
pub mod pimcomp_json;

use crate::graph::Graph;

/// An imported model: its graph and, for each node's `SrcId`, the name of the node of the
/// source model it comes from (diagnostics and MLIR locations name it).
#[derive(Debug, Clone)]
pub struct Imported {
    pub graph: Graph,
    pub names: Vec<String>,
    /// The model file, as given.
    pub file: String,
}

/// Imports an ONNX file.
pub fn import_onnx(path: &std::path::Path) -> crate::diag::Result<Imported> {
    let shown = path.display().to_string();
    let model = crate::onnx::OnnxModel::open(path)?;
    let imported = onnx_import::import(&model, &shown)?;
    imported.graph.check_layer_names().map_err(|e| e.in_file(&shown))?;
    Ok(imported)
}

/// Imports a PIMCOMP-NN structure file.
pub fn import_pimcomp_json(text: &str, file: &str) -> crate::diag::Result<Imported> {
    let imported = pimcomp_json::import(text, file)?;
    imported.graph.check_layer_names().map_err(|e| e.in_file(file))?;
    Ok(imported)
}
