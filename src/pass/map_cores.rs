//! `--map-cores`: pim_partition -> pim_core. Places every array group on a core and every
//! vector op on the cores that will run it.
//!
//! Strategy `first-fit`: array groups in layer order (replica by replica) go to the current
//! core while it has crossbars left, then to the next core, so a layer's groups sit together
//! (partial sums stay local) and consecutive layers sit on neighbouring cores. A vector op runs
//! on the core that produces its first input (its data is in that core's neighbourhood).
//! A model that does not fit is an error that says how many crossbars it needs.

use super::{module_error, record_arch, OptionDef, PassContext, PassDef};
use crate::arch::Arch;
use crate::dialect::emit_error;
use crate::dialect::graph_ir::{read_graph, write_graph, Failed, Level};
use crate::graph::{Graph, Op, Placement};
use melior::ir::Module;

pub static PASS: PassDef = PassDef {
    name: "map-cores",
    summary: "Place array groups and vector ops on cores (pim_partition -> pim_core)",
    options: &[OptionDef { name: "strategy", help: "placement strategy: first-fit", default: "first-fit" }],
    run,
};

/// Why a placement failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaceError {
    /// One array group is wider than a whole core.
    GroupTooWide { layer: usize, xbars: i64 },
    /// First-fit ran out of cores at `layer`. `needed` is the sum of all groups' crossbars;
    /// it can be below `available` when groups do not pack into cores.
    DoesNotFit { layer: usize, needed: i64, available: i64 },
}

/// First-fit placement of each layer's array groups (`count`, `xbars` per group), in order.
/// Returns the core of every group, per layer.
pub fn first_fit(layers: &[(i64, i64)], arch: &Arch) -> Result<Vec<Vec<i64>>, PlaceError> {
    let cores = arch.core_count() as i64;
    let per_core = arch.xbars_per_core() as i64;
    let needed: i64 = layers.iter().map(|(n, x)| n * x).sum();
    let mut core = 0i64;
    let mut free = per_core;
    let mut out = Vec::with_capacity(layers.len());
    for (li, &(count, xbars)) in layers.iter().enumerate() {
        if xbars > per_core {
            return Err(PlaceError::GroupTooWide { layer: li, xbars });
        }
        let mut cores_of = Vec::with_capacity(count as usize);
        for _ in 0..count {
            if free < xbars {
                core += 1;
                free = per_core;
            }
            if core >= cores {
                return Err(PlaceError::DoesNotFit { layer: li, needed, available: cores * per_core });
            }
            cores_of.push(core);
            free -= xbars;
        }
        out.push(cores_of);
    }
    Ok(out)
}

/// (array groups, crossbars per group) of every crossbar layer, in graph order.
pub fn layer_demands(g: &Graph) -> Vec<(i64, i64)> {
    g.crossbar_layers()
        .map(|n| {
            let p = n.partition.as_ref().expect("partitioned");
            (p.total_ags(), p.xbars_per_ag)
        })
        .collect()
}

fn run(pc: &PassContext, module: &mut Module) -> Result<(), Failed> {
    let (mut g, level) = read_graph(module)?;
    super::expect_level(module, &g, level, Level::Partition, "map-cores")?;
    if pc.options.get("strategy") != "first-fit" {
        return Err(module_error(
            module,
            &format!("unknown map-cores strategy '{}'; available: first-fit", pc.options.get("strategy")),
        ));
    }
    record_arch(pc, module)?;
    let layer_nodes: Vec<usize> = (0..g.nodes.len()).filter(|&i| g.nodes[i].op.is_crossbar_layer()).collect();
    let placed = match first_fit(&layer_demands(&g), pc.arch) {
        Ok(p) => p,
        Err(PlaceError::GroupTooWide { layer, xbars }) => {
            let n = &g.nodes[layer_nodes[layer]];
            emit_error(
                n.loc,
                &format!(
                    "layer '{}': one array group needs {xbars} crossbars but a core has only {}",
                    n.op.layer_name().unwrap_or("?"),
                    pc.arch.xbars_per_core()
                ),
            );
            return Err(Failed);
        }
        Err(PlaceError::DoesNotFit { layer, needed, available }) => {
            let n = &g.nodes[layer_nodes[layer]];
            let why = if needed > available {
                format!("it needs {needed} crossbars, the architecture has {available}")
            } else {
                format!("its array groups ({needed} crossbars in all) do not pack into the {available} crossbars of the architecture")
            };
            emit_error(
                n.loc,
                &format!(
                    "model does not fit on '{}': {why} ({} cores x {} crossbars); out of cores at layer '{}'",
                    pc.arch.name,
                    pc.arch.core_count(),
                    pc.arch.xbars_per_core(),
                    n.op.layer_name().unwrap_or("?")
                ),
            );
            return Err(Failed);
        }
    };
    for (k, &i) in layer_nodes.iter().enumerate() {
        g.nodes[i].placement = Some(Placement::ArrayGroups(placed[k].clone()));
    }
    place_vector_ops(&mut g);
    write_graph(pc.ctx, module, &g, Level::Core);
    Ok(())
}

/// The cores that hold the finished values of node `i` (owners of replicas, or its cores).
pub fn output_cores(g: &Graph, i: usize) -> Vec<i64> {
    let n = &g.nodes[i];
    match (&n.placement, &n.partition) {
        (Some(Placement::ArrayGroups(c)), Some(p)) => {
            let mut v: Vec<i64> = (0..p.replicas).map(|r| c[(r * p.ag_count) as usize]).collect();
            v.sort_unstable();
            v.dedup();
            v
        }
        (Some(Placement::Cores(c)), _) => c.clone(),
        _ => vec![],
    }
}

/// Vector ops run where their first computed input is produced (core 0 for graph inputs);
/// views (flatten) and constants run nowhere.
fn place_vector_ops(g: &mut Graph) {
    let producers = g.producers();
    for i in 0..g.nodes.len() {
        if g.nodes[i].op.is_crossbar_layer() {
            continue;
        }
        let cores = if matches!(g.nodes[i].op, Op::Flatten { .. } | Op::Constant { .. }) {
            vec![]
        } else {
            let computed = g.nodes[i]
                .inputs
                .iter()
                .copied()
                .find(|&v| !producers[v].is_some_and(|p| matches!(g.nodes[p].op, Op::Constant { .. })));
            let mut core = 0;
            if let Some(mut v) = computed {
                // Look through views to the node that really computes the data.
                while let Some(p) = producers[v] {
                    if let Op::Flatten { .. } = g.nodes[p].op {
                        v = g.nodes[p].inputs[0];
                        continue;
                    }
                    core = output_cores(g, p).first().copied().unwrap_or(0);
                    break;
                }
            }
            vec![core]
        };
        g.nodes[i].placement = Some(Placement::Cores(cores));
    }
}
