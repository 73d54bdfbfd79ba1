//! The whole compilation in plain Rust: the same steps as the pass pipeline
//! (`partition, replicate, map-cores, schedule, alloc-memory`), on the models directly.
//!
//! `pim-opt` runs the steps as MLIR passes, each reading the module, deciding and writing it
//! back; this runs the same decisions without MLIR (for tests and tools that build without
//! LLVM, benchmarks, and searches that compile many candidates). A test checks that both give
//! the same program.

use crate::arch::Arch;
use crate::diag::{Error, Result};
use crate::frontend::Imported;
use crate::graph::Op;
use crate::isa::Program;
use crate::mapping::{flattened_map, place, replicate, LayerMap, Mapping};
use crate::sched::{schedule, Mode};

/// What to decide how (the pass options, with the same defaults).
#[derive(Debug, Clone)]
pub struct Options {
    pub replicate: String,
    pub max_replicas: Option<u32>,
    pub place: String,
    pub mode: Mode,
}

impl Default for Options {
    fn default() -> Self {
        Options { replicate: "ga".into(), max_replicas: None, place: "first-fit".into(), mode: Mode::Ht }
    }
}

/// Compiles an imported model for `arch` (named `arch_spec` in the program) with weights from
/// `weights` (a path or `seed:N`).
pub fn compile(imported: &Imported, weights: &str, arch: &Arch, arch_spec: &str, opts: &Options) -> Result<Program> {
    let g = &imported.graph;
    let at = |node: Option<crate::graph::NodeId>, msg: String| -> Error {
        let name = node.and_then(|i| g.nodes.get(i)).and_then(|n| imported.names.get(n.src.0 as usize));
        match name {
            Some(n) => Error::new(format!("'{n}': {msg}")).in_file(&imported.file),
            None => Error::new(msg).in_file(&imported.file),
        }
    };
    let mut m = Mapping::default();
    for (i, node) in g.crossbar_layers() {
        let name = node.op.layer_name().unwrap_or("?");
        let hwc = matches!(node.op, Op::Fc(_)).then(|| flattened_map(g, node.inputs[0])).flatten();
        let u = crate::mapping::format::choose(
            g,
            node,
            arch.xbar_rows(),
            arch,
            hwc,
            crate::mapping::format::Mode::Ht,
            None,
        )
        .map_err(|e| at(Some(i), format!("layer '{name}': {e}")))?;
        m.layers.insert(i, LayerMap::new(u, arch.xbar_rows(), arch));
    }
    let rep = replicate::find(&opts.replicate).ok_or_else(|| {
        Error::new(format!("unknown replicate strategy '{}'; available: {}", opts.replicate, replicate::names()))
    })?;
    rep.replicate(
        g,
        &mut m,
        arch,
        &replicate::ReplicateOptions { max_replicas: opts.max_replicas, ..Default::default() },
    )
    .map_err(|e| at(e.node, e.message))?;
    let placer = place::find(&opts.place).ok_or_else(|| {
        Error::new(format!("unknown map-cores strategy '{}'; available: {}", opts.place, place::names()))
    })?;
    placer.place(g, &mut m, arch).map_err(|e| at(e.node, e.message))?;
    let mut p = schedule(g, &m, arch, arch_spec, Some(weights.to_string()), opts.mode, true)
        .map_err(|e| at(e.node, e.message))?
        .program;
    crate::isa::alloc::allocate(&mut p, arch).map_err(Error::new)?;
    Ok(p)
}
