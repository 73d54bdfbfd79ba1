//! Placement strategies: which core holds each array group, which replica computes which
//! windows, and where vector ops run.

use super::{even_windows, windows, MapError, Mapping};
use crate::arch::{Arch, CoreId};
use crate::graph::{Graph, NodeId, Op};

/// A placement strategy.
pub trait Placer: Sync {
    fn name(&self) -> &'static str;
    fn summary(&self) -> &'static str;
    /// Fills `ag_cores` and `windows` of every layer and `vector_cores` of every other op.
    fn place(&self, g: &Graph, m: &mut Mapping, arch: &Arch) -> Result<(), MapError>;
}

/// Every strategy, by name.
pub static STRATEGIES: &[&dyn Placer] = &[&FirstFit];

pub fn find(name: &str) -> Option<&'static dyn Placer> {
    STRATEGIES.iter().copied().find(|s| s.name() == name)
}

pub fn names() -> String {
    STRATEGIES.iter().map(|s| s.name()).collect::<Vec<_>>().join(", ")
}

/// What one layer asks of the chip: its array groups' crossbar counts, times its replicas.
#[derive(Debug, Clone)]
pub struct Demand {
    pub node: NodeId,
    /// Crossbars of each array group of one replica.
    pub xbars: Vec<u32>,
    pub replicas: u32,
}

impl Demand {
    /// The demands of every layer of `m`, in graph order.
    pub fn of(m: &Mapping) -> Vec<Demand> {
        m.layers
            .iter()
            .map(|(&node, l)| Demand {
                node,
                xbars: l.groups().iter().map(|g| g.xbars).collect(),
                replicas: l.replicas,
            })
            .collect()
    }
}

/// Why a placement failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaceError {
    /// One array group is wider than a whole core.
    GroupTooWide { layer: NodeId, xbars: u32 },
    /// First-fit ran out of cores at `layer`. `needed` is the sum of all groups' crossbars;
    /// it can be below `available` when groups do not pack into cores.
    DoesNotFit { layer: NodeId, needed: u64, available: u64 },
}

/// First-fit placement of each layer's array groups in order (replica by replica): groups go
/// to the current core while it has crossbars left, then to the next. Returns the core of
/// every group, per layer.
pub fn first_fit(demands: &[Demand], arch: &Arch) -> Result<Vec<Vec<CoreId>>, PlaceError> {
    let cores = u64::from(arch.core_count());
    let per_core = u64::from(arch.xbars_per_core());
    let needed: u64 = demands
        .iter()
        .map(|d| d.xbars.iter().map(|&x| u64::from(x)).sum::<u64>().saturating_mul(u64::from(d.replicas)))
        .fold(0u64, |a, b| a.saturating_add(b));
    let (mut core, mut free) = (0u64, per_core);
    let mut out = Vec::with_capacity(demands.len());
    for d in demands {
        if let Some(&x) = d.xbars.iter().find(|&&x| u64::from(x) > per_core) {
            return Err(PlaceError::GroupTooWide { layer: d.node, xbars: x });
        }
        // More groups than the chip has crossbars cannot fit: stop before allocating.
        let count = (d.xbars.len() as u64).saturating_mul(u64::from(d.replicas));
        if count > cores.saturating_mul(per_core) {
            return Err(PlaceError::DoesNotFit { layer: d.node, needed, available: cores * per_core });
        }
        let mut cores_of = Vec::with_capacity(count as usize);
        for _ in 0..d.replicas {
            for &x in &d.xbars {
                let x = u64::from(x);
                if free < x {
                    core += 1;
                    free = per_core;
                }
                if core >= cores {
                    return Err(PlaceError::DoesNotFit { layer: d.node, needed, available: cores * per_core });
                }
                cores_of.push(CoreId(core as u32));
                free -= x;
            }
        }
        out.push(cores_of);
    }
    Ok(out)
}

/// First-fit: a layer's groups sit together (partial sums stay local) and consecutive layers
/// on neighbouring cores; replicas split windows evenly; a vector op runs on the core that
/// produces its first computed input (core 0 when that is a model input).
pub struct FirstFit;

impl Placer for FirstFit {
    fn name(&self) -> &'static str {
        "first-fit"
    }
    fn summary(&self) -> &'static str {
        "fill cores in layer order"
    }
    fn place(&self, g: &Graph, m: &mut Mapping, arch: &Arch) -> Result<(), MapError> {
        let demands = Demand::of(m);
        let placed = first_fit(&demands, arch).map_err(|e| place_error(g, arch, e))?;
        for (d, cores) in demands.iter().zip(placed) {
            let total = windows(g, &g.nodes[d.node]);
            let l = m.layers.get_mut(&d.node).expect("a layer of the mapping");
            l.windows = Some(even_windows(total, l.replicas));
            l.ag_cores = Some(cores);
        }
        place_vector_ops_near_producers(g, m);
        Ok(())
    }
}

/// The message for a failed placement.
pub fn place_error(g: &Graph, arch: &Arch, e: PlaceError) -> MapError {
    match e {
        PlaceError::GroupTooWide { layer, xbars } => MapError::at(
            layer,
            format!(
                "layer '{}': one array group needs {xbars} crossbars but a core has only {}",
                g.nodes[layer].op.layer_name().unwrap_or("?"),
                arch.xbars_per_core()
            ),
        ),
        PlaceError::DoesNotFit { layer, needed, available } => {
            let why = if needed > available {
                format!("it needs {needed} crossbars, the architecture has {available}")
            } else {
                format!("its array groups ({needed} crossbars in all) do not pack into the {available} crossbars of the architecture")
            };
            MapError::at(
                layer,
                format!(
                    "model does not fit on '{}': {why} ({} cores x {} crossbars); out of cores at layer '{}'",
                    arch.name,
                    arch.core_count(),
                    arch.xbars_per_core(),
                    g.nodes[layer].op.layer_name().unwrap_or("?")
                ),
            )
        }
    }
}

/// Vector ops run where their first computed input is produced (core 0 for graph inputs);
/// views (flatten) and constants run nowhere.
pub fn place_vector_ops_near_producers(g: &Graph, m: &mut Mapping) {
    let producers = g.producers();
    for (i, n) in g.nodes.iter_enumerated() {
        if n.op.is_crossbar_layer() {
            continue;
        }
        let cores = if n.op.is_view() || matches!(n.op, Op::Constant { .. }) {
            vec![]
        } else {
            let computed = n
                .inputs
                .iter()
                .copied()
                .find(|&v| !producers[v].is_some_and(|p| matches!(g.nodes[p].op, Op::Constant { .. })));
            let core = computed
                .and_then(|v| g.data_producer(&producers, v))
                .and_then(|p| m.output_cores(p).first().copied())
                .unwrap_or(CoreId(0));
            vec![core]
        };
        m.vector_cores.insert(i, cores);
    }
}
