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
pub static STRATEGIES: &[&dyn Placer] = &[&FirstFit, &Balanced];

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

/// How first-fit packs layers into cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packing {
    /// A layer that does not fit in what is left of the current core starts on the next. A
    /// core then holds the tail of one layer and at most the heads of small ones after it,
    /// so its program spans few pipeline stages: a core with the tail of one layer and the
    /// head of a layer two ops later waits, every sample, for the whole stage between.
    /// (ResNet-18 on latency_config.json, balance: 30.1 samples/s dense, 54.9 aligned.)
    Aligned,
    /// Groups fill every core to the last crossbar.
    Dense,
}

/// The packing a model gets: aligned when it fits so (with the given replicas), else dense.
pub fn packing_for(demands: &[Demand], arch: &Arch) -> Packing {
    if first_fit_with(demands, arch, Packing::Aligned).is_ok() {
        Packing::Aligned
    } else {
        Packing::Dense
    }
}

/// First-fit with the packing the model gets ([`packing_for`]).
pub fn first_fit(demands: &[Demand], arch: &Arch) -> Result<Vec<Vec<CoreId>>, PlaceError> {
    first_fit_with(demands, arch, Packing::Aligned).or_else(|_| first_fit_with(demands, arch, Packing::Dense))
}

/// First-fit placement of each layer's array groups in order (replica by replica): groups go
/// to the current core while it has crossbars left, then to the next. Returns the core of
/// every group, per layer.
pub fn first_fit_with(demands: &[Demand], arch: &Arch, packing: Packing) -> Result<Vec<Vec<CoreId>>, PlaceError> {
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
        let total = d.xbars.iter().map(|&x| u64::from(x)).sum::<u64>().saturating_mul(u64::from(d.replicas));
        if packing == Packing::Aligned && free < per_core && free < total {
            core += 1;
            free = per_core;
        }
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
/// on neighbouring cores, each layer from a fresh core unless it fits in what is left
/// ([`Packing`]); replicas split windows evenly; a vector op runs on the core that
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

/// Balanced: the crossbar work spread evenly over the cores. First-fit keeps a layer on
/// neighbouring cores, so a core of an early layer (many windows per crossbar) carries several
/// times the work of one of a late layer (few): ResNet-18 on latency_config.json, `work`
/// replicas, busiest core 1.96x the mean. Here the unit of placement is a replica's unit (its
/// groups that sum into one output, kept on one core so partial sums stay local), or each of
/// its groups when the unit is wider than a core; items go widest first (so wide groups still
/// find a core with room), most work first among equals, each to the core with the least work
/// that has room. Cores then mix layers, which the element pipeline interleaves band by band
/// (the batch pipeline runs a core's layers in order each sample, so it keeps first-fit). When
/// the items do not pack this way, first-fit places them.
pub struct Balanced;

impl Placer for Balanced {
    fn name(&self) -> &'static str {
        "balanced"
    }
    fn summary(&self) -> &'static str {
        "spread crossbar work evenly over the cores (for the element pipeline)"
    }
    fn place(&self, g: &Graph, m: &mut Mapping, arch: &Arch) -> Result<(), MapError> {
        match balanced(g, m, arch) {
            Some(placed) => {
                for (node, cores) in placed {
                    let total = windows(g, &g.nodes[node]);
                    let l = m.layers.get_mut(&node).expect("a layer of the mapping");
                    l.windows = Some(even_windows(total, l.replicas));
                    l.ag_cores = Some(cores);
                }
                place_vector_ops_near_producers(g, m);
                Ok(())
            }
            None => FirstFit.place(g, m, arch),
        }
    }
}

/// The cores of every group, per layer, of a balanced placement (None: the items do not
/// pack, or a group is wider than a core).
fn balanced(g: &Graph, m: &Mapping, arch: &Arch) -> Option<Vec<(NodeId, Vec<CoreId>)>> {
    struct Item {
        layer: usize,
        /// Indices into the layer's `ag_cores`.
        slots: Vec<usize>,
        xbars: u64,
        work: f64,
    }
    let cost = crate::cost::CostModel::new(arch, crate::cost::Model::Pimlir);
    let (ibiw, mbiw) = (arch.activation_bits, arch.weight_bits);
    let per_core = u64::from(arch.xbars_per_core());
    let mut items = vec![];
    let mut out = vec![];
    for (layer, (&node, l)) in m.layers.iter().enumerate() {
        let n = g.nodes.get(node)?;
        let specs = l.groups();
        let bounds = even_windows(windows(g, n), l.replicas);
        let mut units: std::collections::BTreeMap<u32, Vec<usize>> = Default::default();
        for (k, a) in specs.iter().enumerate() {
            units.entry(l.unfolding.unit_of(a.matrix)).or_default().push(k);
        }
        for r in 0..l.replicas as usize {
            let products = super::format::replica_products(g, n, l.unfolding.format, bounds[r], bounds[r + 1]) as f64;
            let work =
                |k: usize| products * cost.mvmul_ns(specs[k].rows, specs[k].cols, specs[k].xbars, ibiw, ibiw, mbiw);
            for groups in units.values() {
                let xbars: u64 = groups.iter().map(|&k| u64::from(specs[k].xbars)).sum();
                let slot = |k: usize| r * specs.len() + k;
                if xbars <= per_core {
                    let work = groups.iter().map(|&k| work(k)).sum();
                    items.push(Item { layer, slots: groups.iter().map(|&k| slot(k)).collect(), xbars, work });
                } else {
                    for &k in groups {
                        let xbars = u64::from(specs[k].xbars);
                        (xbars <= per_core).then_some(())?;
                        items.push(Item { layer, slots: vec![slot(k)], xbars, work: work(k) });
                    }
                }
            }
        }
        out.push((node, vec![CoreId(0); specs.len() * l.replicas as usize]));
    }
    items.sort_by(|a, b| b.xbars.cmp(&a.xbars).then(b.work.total_cmp(&a.work)));
    let cores = arch.core_count() as usize;
    let (mut free, mut load) = (vec![per_core; cores], vec![0.0f64; cores]);
    for it in &items {
        let c = (0..cores).filter(|&c| free[c] >= it.xbars).min_by(|&a, &b| load[a].total_cmp(&load[b]))?;
        free[c] -= it.xbars;
        load[c] += it.work;
        for &s in &it.slots {
            out[it.layer].1[s] = CoreId(c as u32);
        }
    }
    Some(out)
}

/// The message for a failed placement.
pub fn place_error(g: &Graph, arch: &Arch, e: PlaceError) -> MapError {
    match e {
        PlaceError::GroupTooWide { layer, xbars } => MapError::at(
            layer,
            format!(
                "layer '{}': one array group needs {xbars} {} but a core has only {}",
                g.nodes[layer].op.layer_name().unwrap_or("?"),
                arch.crossbar_noun(),
                arch.xbars_per_core()
            ),
        ),
        PlaceError::DoesNotFit { layer, needed, available } => {
            let noun = arch.crossbar_noun();
            let why = if needed > available {
                format!("it needs {needed} {noun}, the architecture has {available}")
            } else {
                format!("its array groups ({needed} {noun} in all) do not pack into the {available} {noun} of the architecture")
            };
            MapError::at(
                layer,
                format!(
                    "model does not fit on '{}': {why} ({} cores x {} {noun}); out of cores at layer '{}'",
                    arch.name,
                    arch.core_count(),
                    arch.xbars_per_core(),
                    g.nodes[layer].op.layer_name().unwrap_or("?")
                ),
            )
        }
    }
}

/// A vector op with at least this many output elements is split over up to
/// [`SPLIT_CORES`] cores that produce its latest input (each takes a share of the rows).
/// pimcomp-default, work, 6 samples: ResNet-50 23.3 -> 33.8 samples/s; ResNet-18/34,
/// MobileNetV2, AlexNet, VGG-8 within -4..+3% (2 and 8 cores measure the same).
pub const SPLIT_ELEMENTS: i64 = 4096;
pub const SPLIT_CORES: usize = 4;

/// Vector ops run where their latest computed input is produced (the one whose producer
/// comes last in graph order; core 0 for graph inputs), large ones split (see
/// [`SPLIT_ELEMENTS`]); views (flatten) and constants run nowhere. Latest, not first: a residual add whose first operand is the block's input would
/// otherwise sit with the block before, and every add of a stage on one core would tie the
/// whole stage to that core's program, sample after sample.
pub fn place_vector_ops_near_producers(g: &Graph, m: &mut Mapping) {
    let producers = g.producers();
    for (i, n) in g.nodes.iter_enumerated() {
        if n.op.is_crossbar_layer() {
            continue;
        }
        let cores = if n.op.is_view() || matches!(n.op, Op::Constant { .. }) {
            vec![]
        } else {
            let latest = n
                .inputs
                .iter()
                .filter(|&&v| !producers[v].is_some_and(|p| matches!(g.nodes[p].op, Op::Constant { .. })))
                .filter_map(|&v| g.data_producer(&producers, v))
                .max();
            let owners = latest.map(|p| m.output_cores(p)).unwrap_or_default();
            let big = crate::graph::shape::elements(g.shape(n.output)).unwrap_or(0) >= SPLIT_ELEMENTS;
            match owners.first() {
                None => vec![CoreId(0)],
                Some(_) if big => owners.iter().copied().take(SPLIT_CORES).collect(),
                Some(&c) => vec![c],
            }
        };
        m.vector_cores.insert(i, cores);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layers(n: usize, groups: usize) -> Vec<Demand> {
        (0..n).map(|k| Demand { node: NodeId(k as u32), xbars: vec![1; groups], replicas: 1 }).collect()
    }

    #[test]
    fn a_layer_that_does_not_fit_the_rest_of_a_core_starts_on_the_next() {
        let arch = Arch::preset("pimcomp-default").unwrap(); // 64 crossbars per core
        let d = layers(2, 40);
        let aligned = first_fit_with(&d, &arch, Packing::Aligned).unwrap();
        assert!(aligned[1].iter().all(|&c| c == CoreId(1)), "{:?}", aligned[1]);
        let dense = first_fit_with(&d, &arch, Packing::Dense).unwrap();
        assert_eq!(dense[1].iter().filter(|&&c| c == CoreId(0)).count(), 24);
        assert_eq!(first_fit(&d, &arch).unwrap(), aligned);
        assert_eq!(packing_for(&d, &arch), Packing::Aligned);
        // A layer that fits in the rest stays: 40 + 20 on core 0.
        let d = vec![d[0].clone(), Demand { node: NodeId(1), xbars: vec![1; 20], replicas: 1 }];
        assert!(first_fit(&d, &arch).unwrap()[1].iter().all(|&c| c == CoreId(0)));
    }

    proptest::proptest! {
        /// Whatever the demands: every array group is placed exactly once, on a core of the
        /// architecture, no core holds more crossbars than it has, and aligned packing starts
        /// a layer on a used core only when the whole layer fits in what is left.
        #[test]
        fn placement_keeps_its_invariants(
            layers in proptest::collection::vec((proptest::collection::vec(1u32..=6, 1..12), 1u32..6), 1..40),
            aligned in proptest::bool::ANY,
        ) {
            let arch = Arch::preset("pimcomp-default").unwrap();
            let per_core = u64::from(arch.xbars_per_core());
            let d: Vec<Demand> = layers
                .iter()
                .enumerate()
                .map(|(k, (xbars, r))| Demand { node: NodeId(k as u32), xbars: xbars.clone(), replicas: *r })
                .collect();
            let packing = if aligned { Packing::Aligned } else { Packing::Dense };
            if let Ok(placed) = first_fit_with(&d, &arch, packing) {
                let mut used = vec![0u64; arch.core_count() as usize];
                for (dem, cores) in d.iter().zip(&placed) {
                    proptest::prop_assert_eq!(cores.len(), dem.xbars.len() * dem.replicas as usize);
                    let before = used.clone();
                    for (k, c) in cores.iter().enumerate() {
                        proptest::prop_assert!(c.0 < arch.core_count());
                        used[c.0 as usize] += u64::from(dem.xbars[k % dem.xbars.len()]);
                    }
                    if aligned {
                        let first = cores[0].0 as usize;
                        let total: u64 = dem.xbars.iter().map(|&x| u64::from(x)).sum::<u64>() * u64::from(dem.replicas);
                        proptest::prop_assert!(before[first] == 0 || per_core - before[first] >= total);
                    }
                }
                proptest::prop_assert!(used.iter().all(|&u| u <= per_core));
            }
            // Dense never fails where aligned succeeds.
            if first_fit_with(&d, &arch, Packing::Aligned).is_ok() {
                proptest::prop_assert!(first_fit_with(&d, &arch, Packing::Dense).is_ok());
            }
        }

        /// Replicas split a layer's windows into adjacent ranges covering each window once.
        #[test]
        fn even_windows_cover_every_window_once(total in 0u64..100_000, replicas in 1u32..5000) {
            let w = crate::mapping::even_windows(total, replicas);
            proptest::prop_assert_eq!(w.len(), replicas as usize + 1);
            proptest::prop_assert_eq!((w[0], w[replicas as usize]), (0, total));
            proptest::prop_assert!(w.windows(2).all(|p| p[0] <= p[1] && p[1] - p[0] <= total.div_ceil(u64::from(replicas))));
        }
    }

    /// 64 replicas of a 3x3 convolution (two one-crossbar groups each): first-fit packs them
    /// into the first two cores, balanced gives each replica a core of its own, its groups
    /// together, and every group is placed once within the cores' crossbars.
    #[test]
    fn balanced_spreads_the_work_that_first_fit_piles_up() {
        let arch = Arch::preset("pimcomp-default").unwrap();
        let g = crate::mapping::format::tests::conv(16, 16, 3, 1);
        let i = NodeId(0);
        let u = crate::mapping::format::unfolding_in(&g, &g.nodes[i], crate::unfold::Format::IK2_O_1, 128, &arch, None)
            .unwrap();
        let mut l = crate::mapping::LayerMap::new(u, 128, &arch);
        l.replicas = 64;
        let mut m = Mapping::default();
        m.layers.insert(i, l);
        let (mut ff, mut bal) = (m.clone(), m);
        FirstFit.place(&g, &mut ff, &arch).unwrap();
        Balanced.place(&g, &mut bal, &arch).unwrap();
        let work = |m: &Mapping| crate::mapping::estimate::crossbar_work(&g, m, &arch);
        let (w_ff, w_bal) = (work(&ff), work(&bal));
        assert!((w_ff.total_ns - w_bal.total_ns).abs() < 1e-6);
        assert_eq!(w_ff.per_core.len(), 2);
        assert_eq!(w_bal.per_core.len(), 64);
        assert!(w_bal.gap() * 30.0 < w_ff.gap(), "{} vs {}", w_bal.gap(), w_ff.gap());
        let cores = bal.layers[&i].ag_cores.clone().unwrap();
        assert_eq!(cores.len(), 128);
        for r in 0..64 {
            assert_eq!(cores[2 * r], cores[2 * r + 1], "replica {r}'s groups sum on one core");
        }
        assert_eq!(bal.layers[&i].windows.as_deref(), Some(crate::mapping::even_windows(64, 64).as_slice()));
    }

    #[test]
    fn a_model_that_fits_only_densely_is_packed_densely() {
        let arch = Arch::preset("pimcomp-default").unwrap(); // 144 cores x 64 crossbars
                                                             // 200 layers of 40: aligned needs a core each, dense packs 8000 of 9216 crossbars.
        let d = layers(200, 40);
        assert!(first_fit_with(&d, &arch, Packing::Aligned).is_err());
        assert_eq!(packing_for(&d, &arch), Packing::Dense);
        assert_eq!(first_fit(&d, &arch).unwrap(), first_fit_with(&d, &arch, Packing::Dense).unwrap());
    }
}
