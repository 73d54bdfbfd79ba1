//! Dataflow scheduling: from a mapped graph (pim_core level) to per-core ISA programs.
//!
//! Four parts, each reusable by the modes to come:
//! - [`memory`]: the memory plan: which global buffer holds each value, in which layout
//!   (feature maps height-width-channel), and the local buffers of each core;
//! - [`tasks`]: the task graph: for every op, the part each core takes (its array groups of a
//!   replica and that replica's windows, or its share of a vector op), and which cores must
//!   hand a token to which before the op may start;
//! - a policy that orders the tasks of every core ([`ht`]: the high-throughput batch
//!   pipeline; the low-latency element pipeline is not written yet);
//! - [`emit`]: the emitter, which writes each task's instructions. It writes loops straight
//!   from the window grid: a replica's windows are cut into rectangles of rows, and each
//!   rectangle into the regions where the input patch has the same shape (the interior, and
//!   each border row and column with padding), so a region is one loop nest. Compile time and
//!   memory follow the static program, not the number of windows.

pub mod emit;
pub mod fuse;
pub mod ht;
pub mod ll;
pub mod memory;
pub mod tasks;

use crate::arch::Arch;
use crate::graph::{Graph, NodeId};
use crate::isa::Program;
use crate::mapping::Mapping;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Batch pipeline: high throughput.
    Ht,
    /// Element pipeline: low latency; every op's rows in `bands` bands ([`ll`]).
    Ll { bands: u32 },
}

/// A scheduling failure at graph node `node` (None: the graph as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedError {
    pub node: Option<NodeId>,
    pub message: String,
}

impl SchedError {
    pub fn at(node: NodeId, message: impl Into<String>) -> Self {
        SchedError { node: Some(node), message: message.into() }
    }
    pub fn global(message: impl Into<String>) -> Self {
        SchedError { node: None, message: message.into() }
    }
}

/// A schedule: the program, and what the scheduler estimated of it.
pub struct Scheduled {
    pub program: Program,
    /// `mode=ll`: the estimate of one sample's latency, ns (`ll::bands`).
    pub estimated_latency_ns: Option<f64>,
}

/// Schedules a mapped graph into a program for `arch` (recorded as `arch_spec`); with
/// `fuse_adds`, residual adds run inside the convolutions before them ([`fuse`]).
pub fn schedule(
    g: &Graph,
    m: &Mapping,
    arch: &Arch,
    arch_spec: &str,
    weights: Option<String>,
    mode: Mode,
    fuse_adds: bool,
) -> Result<Scheduled, SchedError> {
    let fused = if fuse_adds { fuse::residual_adds(g, m) } else { None };
    let (g, m) = match &fused {
        Some((g, m)) => (g, m),
        None => (g, m),
    };
    let mut plan = memory::GlobalPlan::new(g, m, arch)?;
    let whole = tasks::TaskGraph::new(g, m)?;
    // The modes differ in the task graph: the element pipeline cuts every op into bands.
    let (tasks, estimated_latency_ns) = match mode {
        Mode::Ht => (whole, None),
        Mode::Ll { bands } => {
            let (t, ns) = ll::bands(g, m, arch, &plan, &whole, bands)?;
            (t, Some(ns))
        }
    };
    let order = ht::order(&tasks)?;
    for (&node, &copies) in &order.copies {
        plan.set_copies(g, node, copies);
    }
    let mut e = emit::Emitter::new(g, m, arch, plan);
    e.band_buffers = matches!(mode, Mode::Ll { .. });
    e.run(&tasks, &order.steps)?;
    Ok(Scheduled { program: e.finish(arch_spec, weights), estimated_latency_ns })
}
