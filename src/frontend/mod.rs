//! Model importers: ONNX (and, later, PIMCOMP-NN structure JSON) into the `graph` dialect.

pub mod onnx_import;
mod onnx_shapes;
pub mod pimcomp_json;

use crate::diag::Result;
use crate::dialect::graph_ir::{write_graph, Level};
use melior::ir::{Location, Module};
use melior::Context;
use std::path::Path;

/// Imports an ONNX file as a `graph`-level module that names the file as its weight store.
pub fn import_onnx<'c>(ctx: &'c Context, path: &Path) -> Result<Module<'c>> {
    let shown = path.display().to_string();
    let model = crate::onnx::OnnxModel::open(path)?;
    let graph = onnx_import::import(ctx, &model, &shown)?;
    graph.check_layer_names()?;
    let mut module = Module::new(Location::new(ctx, &shown, 0, 0));
    write_graph(ctx, &module, &graph, Level::Graph);
    crate::dialect::set_module_str(&mut module, "pim.weights", &shown);
    Ok(module)
}

/// Imports a PIMCOMP-NN structure file as a `graph`-level module whose weights are generated
/// from `seed`.
pub fn import_pimcomp_json<'c>(ctx: &'c Context, text: &str, file: &str, seed: u64) -> Result<Module<'c>> {
    let graph = pimcomp_json::import(ctx, text, file)?;
    graph.check_layer_names()?;
    let mut module = Module::new(Location::new(ctx, file, 0, 0));
    write_graph(ctx, &module, &graph, Level::Graph);
    crate::dialect::set_module_str(&mut module, "pim.weights", &format!("seed:{seed}"));
    Ok(module)
}
