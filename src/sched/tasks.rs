//! The task graph: what every core does for every op, and who must wait for whom.
//!
//! A crossbar layer becomes one task per (core, replica, unit) holding array groups of that
//! replica's unit: the core multiplies its groups' rows of every window the replica
//! computes, and either sends its partial sums to the owner (the core of the unit's first
//! group in the replica) or, as the owner, receives and adds the others' sums and writes the
//! unit's output channels. A unit is the matrices whose products add up to one output
//! vector (`Unfolding::units`): one matrix in `IK2_O_1`, a kernel row's or a kernel
//! position's matrices in `IK_O_K` and `I_O_K2`, whose groups are then row groups of one
//! stacked matrix. (A layer has several units when a grouped convolution is packed: each holds
//! some groups, with their own inputs and outputs.) A vector op becomes
//! one task per core it is placed on, each taking its share of the op's work. Before an op
//! starts, every core that wrote one of its inputs hands a token to every other core that
//! reads them (the dependency edges). Policies order these tasks; the emitter writes them.

use super::SchedError;
use crate::arch::CoreId;
use crate::graph::{Graph, NodeId, Op};
use crate::mapping::Mapping;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One core's part of one op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    /// A crossbar layer's array groups `groups` (indices within a replica, ascending, all of
    /// unit `unit`) of replica `replica`, on `core`, for windows `windows`.
    Layer {
        core: CoreId,
        replica: u32,
        unit: u32,
        groups: Vec<usize>,
        windows: (u64, u64),
        /// The core that collects the replica's results.
        owner: CoreId,
        /// The other cores holding groups of the replica (they send to the owner), ascending.
        helpers: Vec<CoreId>,
        /// In a column format (`i_ok2_1`, `ik_ok_1`), the output columns of the stripe this
        /// task is a band of (its windows are then whole rows, of which it computes these
        /// columns): the element pipeline gives each set of cores one stripe of a layer, and
        /// the cores stream it band by band: every input row is multiplied once, into all the
        /// rows it reaches, and the next band goes on from there. None: the task stands alone.
        stream: Option<(u64, u64)>,
    },
    /// Share `index` of `of` of a vector op, on `core`; with `rows`, of those output rows
    /// only (a band of the element pipeline).
    Vector { core: CoreId, index: usize, of: usize, rows: Option<(i64, i64)> },
}

impl Task {
    pub fn core(&self) -> CoreId {
        match self {
            Task::Layer { core, .. } | Task::Vector { core, .. } => *core,
        }
    }
}

/// A dependency edge: core `from` wrote (part of) the outputs of the earlier ops `writes`
/// (indices into [`TaskGraph::ops`]), which core `to` reads in this op. Indices, not nodes:
/// in the element pipeline one node is many ops (bands), and a reader needs the stores of
/// the bands it reads, not of the writer's latest one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub from: CoreId,
    pub to: CoreId,
    pub writes: Vec<usize>,
}

/// The tasks of one op and the tokens that must arrive before it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpTasks {
    pub node: NodeId,
    /// The dependency edges, by (writer, reader): the writer of an input sends a token to
    /// the reader before the op runs (the policy drops the ones other tokens imply).
    pub tokens: Vec<Token>,
    /// The ops whose outputs this op reads (through views; no constants), in input order.
    pub reads: Vec<NodeId>,
    pub tasks: Vec<Task>,
}

/// Every op that runs code, in graph order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskGraph {
    pub ops: Vec<OpTasks>,
}

impl TaskGraph {
    pub fn new(g: &Graph, m: &Mapping) -> Result<TaskGraph, SchedError> {
        let producers = g.producers();
        let mut ops: Vec<OpTasks> = vec![];
        // Each node's op, for the tokens of its readers.
        let mut op_of: HashMap<NodeId, usize> = HashMap::new();
        for (i, n) in g.nodes.iter_enumerated() {
            // A view runs nowhere, unless it is a model output copied into channel-major
            // order: then on the first core that produces its map.
            let reorder_core = match super::memory::reordered_output(g, i) {
                Some(_) => g.data_producer(&producers, n.inputs[0]).and_then(|p| m.output_cores(p).first().copied()),
                None => None,
            };
            if (n.op.is_view() && reorder_core.is_none()) || matches!(n.op, Op::Constant { .. }) {
                continue;
            }
            // Tokens: writers of the inputs (through views; constants and model inputs have
            // none) to the cores that run this op.
            let readers = match reorder_core {
                Some(core) => vec![core],
                None => m.cores_of(i),
            };
            let mut pairs: BTreeMap<(CoreId, CoreId), BTreeSet<usize>> = BTreeMap::new();
            let mut reads = vec![];
            // A fused residual (a convolution's second input, `sched::fuse`) is read by the
            // replicas' owners only.
            let owners = m.output_cores(i);
            for (k, &v) in n.inputs.iter().enumerate() {
                let Some(p) = g.data_producer(&producers, v) else { continue };
                if matches!(g.nodes[p].op, Op::Constant { .. }) {
                    continue;
                }
                if !reads.contains(&p) {
                    reads.push(p);
                }
                let readers = if k > 0 && matches!(n.op, Op::Conv2d(_)) { &owners } else { &readers };
                let Some(&written) = op_of.get(&p) else { continue };
                for w in m.output_cores(p) {
                    for &r in readers {
                        if w != r {
                            pairs.entry((w, r)).or_default().insert(written);
                        }
                    }
                }
            }
            let tasks = match reorder_core {
                Some(core) => vec![Task::Vector { core, index: 0, of: 1, rows: None }],
                None if n.op.is_crossbar_layer() => layer_tasks(g, m, i)?,
                None => vector_tasks(m, i)?,
            };
            let tokens = pairs
                .into_iter()
                .map(|((from, to), writes)| Token { from, to, writes: writes.into_iter().collect() })
                .collect();
            op_of.insert(i, ops.len());
            ops.push(OpTasks { node: i, tokens, reads, tasks });
        }
        Ok(TaskGraph { ops })
    }
}

fn layer_tasks(g: &Graph, m: &Mapping, i: NodeId) -> Result<Vec<Task>, SchedError> {
    let l = m.layers.get(&i).ok_or_else(|| SchedError::at(i, "layer is not partitioned"))?;
    let ag_cores = l.ag_cores.as_ref().ok_or_else(|| SchedError::at(i, "layer is not placed on cores"))?;
    let n_ag = l.ag_count() as usize;
    if ag_cores.len() != n_ag * l.replicas as usize {
        return Err(SchedError::at(
            i,
            format!("{} array groups but {} core assignments", n_ag * l.replicas as usize, ag_cores.len()),
        ));
    }
    if l.ag_cols != 0 && l.groups().iter().any(|a| a.cols != l.unfolding.shape(a.matrix).1) {
        return Err(SchedError::at(i, "array groups split along columns are not scheduled yet"));
    }
    let total = crate::mapping::windows(g, &g.nodes[i]);
    let specs = l.groups();
    // core -> (replica, unit) -> groups
    let mut holders: BTreeMap<CoreId, BTreeMap<(u32, u32), Vec<usize>>> = BTreeMap::new();
    // (replica, unit) -> the core of its first group
    let mut owners: BTreeMap<(u32, u32), CoreId> = BTreeMap::new();
    for r in 0..l.replicas {
        for (gi, a) in specs.iter().enumerate() {
            let c = ag_cores[r as usize * n_ag + gi];
            let unit = l.unfolding.unit_of(a.matrix);
            holders.entry(c).or_default().entry((r, unit)).or_default().push(gi);
            owners.entry((r, unit)).or_insert(c);
        }
    }
    let mut tasks = vec![];
    for (&core, parts) in &holders {
        for (&(r, unit), groups) in parts {
            let owner = owners[&(r, unit)];
            let helpers = holders
                .iter()
                .filter(|(&c, parts)| c != owner && parts.contains_key(&(r, unit)))
                .map(|(&c, _)| c)
                .collect();
            let windows = l.window_range(r).unwrap_or((0, total));
            tasks.push(Task::Layer {
                core,
                replica: r,
                unit,
                groups: groups.clone(),
                windows,
                owner,
                helpers,
                stream: None,
            });
        }
    }
    // Every core works through its parts in one order of the (replica, unit) pairs. The
    // cores of a unit meet window by window (partial sums), so a unit runs only when all its
    // cores reach it: in replica order, a row of units that each straddle two cores would run
    // one after another. Units that share no core run together instead: the order is by
    // colour (greedy, no two units of a colour on one core), then unit.
    let mut cores_of: BTreeMap<(u32, u32), Vec<CoreId>> = BTreeMap::new();
    for (&core, parts) in &holders {
        for &unit in parts.keys() {
            cores_of.entry(unit).or_default().push(core);
        }
    }
    let colour = colours(&cores_of);
    tasks.sort_by_key(|t| match *t {
        Task::Layer { core, replica, unit, .. } => (colour[&(replica, unit)], replica, unit, core),
        Task::Vector { core, .. } => (0, 0, 0, core),
    });
    Ok(tasks)
}

/// A greedy colouring of units (in order) such that no two units of one colour share a core.
fn colours<U: Ord + Copy>(cores_of: &BTreeMap<U, Vec<CoreId>>) -> BTreeMap<U, u32> {
    let mut colour = BTreeMap::new();
    let mut used: BTreeMap<CoreId, BTreeSet<u32>> = BTreeMap::new();
    for (&unit, cores) in cores_of {
        let c = (0..).find(|c| cores.iter().all(|k| !used.get(k).is_some_and(|u| u.contains(c)))).unwrap_or(0);
        colour.insert(unit, c);
        for &k in cores {
            used.entry(k).or_default().insert(c);
        }
    }
    colour
}

fn vector_tasks(m: &Mapping, i: NodeId) -> Result<Vec<Task>, SchedError> {
    let cores = m.vector_cores.get(&i).ok_or_else(|| SchedError::at(i, "op is not placed on cores"))?;
    if cores.is_empty() {
        return Err(SchedError::at(i, "op is placed on no core"));
    }
    Ok(cores
        .iter()
        .enumerate()
        .map(|(k, &core)| Task::Vector { core, index: k, of: cores.len(), rows: None })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_that_straddle_cores_alternate_colours() {
        // Replica k on cores k and k+1: even replicas run together, then odd ones.
        let cores_of: BTreeMap<u32, Vec<CoreId>> = (0..5).map(|k| (k, vec![CoreId(k), CoreId(k + 1)])).collect();
        let c = colours(&cores_of);
        assert_eq!(c.values().copied().collect::<Vec<_>>(), vec![0, 1, 0, 1, 0]);
        // Units on cores of their own all share colour 0.
        let apart: BTreeMap<u32, Vec<CoreId>> = (0..3).map(|k| (k, vec![CoreId(k)])).collect();
        assert!(colours(&apart).values().all(|&c| c == 0));
    }
}
