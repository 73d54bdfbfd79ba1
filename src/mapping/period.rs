//! The steady-state period of a placed mapping, estimated without scheduling it: what the
//! replication and placement searches minimize, and what `--map-cores` reports.
//!
//! In the batch pipeline every core runs its program once per sample, and so does the one
//! global-memory server, which serves every `ld` and `st` of every core one at a time. The
//! period is at least the busiest of them (waits for partners come on top, and are what
//! the estimate leaves out). Under the `pimlir` timing model, per sample:
//! - a core holding array groups: their products (input read, crossbar passes, output
//!   write), the partial-sum adds and sends of the replicas it serves, bias, activation
//!   and store of the windows it owns, and the loads of its input (a band of rows when the
//!   scheduler takes one, else each window's patch; in the column formats each product's);
//! - a core running vector ops: its share of their elements, loaded and stored;
//! - the global-memory server: every load and store of every core.
//!
//! The input loads mirror `sched::emit::crossbar`'s band rule (a band of the rows, and, for
//! a task inside one row of windows, the columns its windows read, when it fits a quarter
//! of local memory and is at most 4x the patches).

use super::Mapping;
use crate::arch::{Arch, CoreId};
use crate::cost::{CostModel, Model};
use crate::graph::{shape::elements, Graph, NodeId, Op};
use crate::isa::VecOp;
use std::collections::BTreeMap;

/// The share of the other cores' requests at the server that a request waits for
/// ([`Period::ns`]): 1 when each is still to be served in full.
const QUEUE_WAIT: f64 = 1.0;

/// Elements per vector instruction of an element-wise op (`sched::emit::vector::CHUNK`).
const VECTOR_CHUNK: u64 = 2048;

/// What one sample costs each core and the global-memory server, ns.
#[derive(Debug, Clone, PartialEq)]
pub struct Period {
    /// Busy time per core, indexed by core id.
    pub per_core: Vec<f64>,
    /// The global-memory server's busy time.
    pub global_ns: f64,
    /// Of that, each core's requests, indexed by core id.
    pub global_by_core: Vec<f64>,
    /// Requests each core sends the server per sample, indexed by core id.
    pub requests_by_core: Vec<f64>,
    /// Of that, each op's (its loads and stores).
    pub global_by_node: BTreeMap<NodeId, f64>,
}

impl Period {
    /// A core's `count` requests of `service` ns each.
    fn request(&mut self, core: CoreId, service: f64, count: f64) {
        self.global_ns += service * count;
        let c = core.0 as usize;
        if let (Some(g), Some(n)) = (self.global_by_core.get_mut(c), self.requests_by_core.get_mut(c)) {
            *g += service * count;
            *n += count;
        }
    }

    /// The estimated period: the global-memory server, or the busiest core with its waits
    /// in the server's queue. A core's loads and stores block it, so it has at most one
    /// request at the server at a time, and a request waits for at most one of each other
    /// core (a closed queue: it cannot grow without bound as an open M/G/1 queue does near
    /// full load). With core j's share of the period spent at the server
    /// `o_j = n_j (s_j + w_j) / P` (its `n_j` requests of mean service `s_j`, each waiting
    /// `w_j`), a request of core c waits `w_c = QUEUE_WAIT * sum_{j != c} o_j s_j`, and
    /// `P = max(G, max_c C_c + n_c w_c)` (`C_c` the core's busy time, its own service
    /// included), solved by damped fixed-point iteration.
    pub fn ns(&self) -> f64 {
        let g = self.global_ns;
        let n = &self.requests_by_core;
        let cores = self.per_core.len().min(n.len()).min(self.global_by_core.len());
        let service: Vec<f64> =
            (0..cores).map(|c| if n[c] > 0.0 { self.global_by_core[c] / n[c] } else { 0.0 }).collect();
        let mut p = self.per_core.iter().copied().fold(g, f64::max);
        if p.is_nan() || p <= 0.0 {
            return p;
        }
        let (mut wait, mut at_server) = (vec![0.0; cores], vec![0.0; cores]);
        for _ in 0..200 {
            for j in 0..cores {
                at_server[j] = (n[j] * (service[j] + wait[j]) / p).min(1.0);
            }
            let total: f64 = (0..cores).map(|j| at_server[j] * service[j]).sum();
            for c in 0..cores {
                wait[c] = QUEUE_WAIT * (total - at_server[c] * service[c]).max(0.0);
            }
            let next = (0..cores).map(|c| self.per_core[c] + n[c] * wait[c]).fold(g, f64::max);
            if (next - p).abs() <= 1e-9 * p {
                return next;
            }
            p = 0.5 * (p + next);
        }
        p
    }

    /// The busiest core and its time.
    pub fn busiest(&self) -> Option<(CoreId, f64)> {
        self.per_core
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
            .map(|(c, &t)| (CoreId(c as u32), t))
    }
}

/// The estimated steady state of `m` (placed) for `g` on `arch`.
pub fn estimate(g: &Graph, m: &Mapping, arch: &Arch) -> Period {
    estimate_with(g, m, arch, None)
}

/// Each op's share of every core's busy time per sample (ns; cores it keeps busy only):
/// [`estimate`]'s per-core figures, by op.
pub fn busy_by_node(g: &Graph, m: &Mapping, arch: &Arch) -> BTreeMap<NodeId, Vec<(CoreId, f64)>> {
    let mut out = BTreeMap::new();
    estimate_with(g, m, arch, Some(&mut out));
    out
}

fn estimate_with(
    g: &Graph,
    m: &Mapping,
    arch: &Arch,
    mut by_node: Option<&mut BTreeMap<NodeId, Vec<(CoreId, f64)>>>,
) -> Period {
    let cost = CostModel::new(arch, Model::Pimlir);
    let mut p = Period {
        per_core: vec![0.0; arch.core_count() as usize],
        global_ns: 0.0,
        global_by_core: vec![0.0; arch.core_count() as usize],
        requests_by_core: vec![0.0; arch.core_count() as usize],
        global_by_node: Default::default(),
    };
    let eb = u64::from(arch.activation_bytes());
    let ibiw = arch.activation_bits;
    let local = &cost.local;
    let global = &cost.global;
    let vec_ns = |op: VecOp, len: u64| {
        let len = len.min(u64::from(u32::MAX)) as u32;
        let (rb, wb) = cost.vector_bytes(op, len, ibiw, ibiw);
        local.read_ns(rb) + cost.vector_ns(len) + local.write_ns(wb)
    };
    // A load of `bytes` by core `c`: the server's read, then the core's local write (the
    // core's transfer unit waits for the server meanwhile).
    let load = |p: &mut Period, c: CoreId, bytes: u64, times: f64| {
        let service = global.read_ns(bytes);
        p.request(c, service, times);
        if let Some(t) = p.per_core.get_mut(c.0 as usize) {
            *t += (service + local.write_ns(bytes)) * times;
        }
    };
    let add = |p: &mut Period, c: CoreId, ns: f64| {
        if let Some(t) = p.per_core.get_mut(c.0 as usize) {
            *t += ns;
        }
    };
    let budget = arch.local_memory_bytes() / 4;
    // Residual adds run inside their convolution (the scheduler's default, `fuse-adds`).
    let residuals = super::fused_residuals(g, m);
    // Each op's share of the server: what it added since the op before.
    let (mut last, mut prev) = (0.0, None);
    // The per-core times when the op before began (only when asked by op).
    let mut snap: Vec<f64> = if by_node.is_some() { p.per_core.clone() } else { vec![] };
    let mut record = |p: &mut Period, i: Option<NodeId>| {
        if let Some(j) = prev {
            *p.global_by_node.entry(j).or_default() += p.global_ns - last;
            if let Some(out) = by_node.as_deref_mut() {
                let e = out.entry(j).or_default();
                for (c, (&now, was)) in p.per_core.iter().zip(snap.iter_mut()).enumerate() {
                    if now > *was {
                        e.push((CoreId(c as u32), now - *was));
                    }
                    *was = now;
                }
            }
        }
        (last, prev) = (p.global_ns, i);
    };
    for (&i, l) in &m.layers {
        record(&mut p, Some(i));
        let (Some(node), Some(cores), Some(bounds)) = (g.nodes.get(i), &l.ag_cores, &l.windows) else { continue };
        let u = l.unfolding;
        let specs = l.groups();
        // The groups of each unit, once per layer (a depthwise layer has a unit per pack).
        let mut by_unit: Vec<Vec<usize>> = vec![vec![]; u.units() as usize];
        for (k, a) in specs.iter().enumerate() {
            if let Some(v) = by_unit.get_mut(u.unit_of(a.matrix) as usize) {
                v.push(k);
            }
        }
        let conv = match &node.op {
            Op::Conv2d(c) => Some(c),
            _ => None,
        };
        let ins = g.shape(node.inputs[0]);
        let outs = g.shape(node.output);
        let dim = |s: &[i64], k: usize| s.get(k).copied().unwrap_or(1).max(1) as u64;
        let (in_c, in_h, in_w) = (dim(ins, 1), dim(ins, 2), dim(ins, 3));
        let ow = if conv.is_some() { dim(outs, 3) } else { 1 };
        let residual = residuals.contains_key(&i);
        for r in 0..l.replicas {
            let (Some(&w0), Some(&w1)) = (bounds.get(r as usize), bounds.get(r as usize + 1)) else { continue };
            if w1 <= w0 {
                continue;
            }
            let n = (w1 - w0) as f64;
            let rp = super::format::replica_products(g, node, u.format, w0, w1) as f64;
            let core = |k: usize| cores.get(r as usize * specs.len() + k).copied();
            // Products on every group's core; the partial sums of a unit go to its first
            // group's core (added there, sent first when on another core).
            for (unit, in_unit) in by_unit.iter().enumerate() {
                let unit = unit as u32;
                let Some(owner) = in_unit.first().and_then(|&k| core(k)) else { continue };
                let unit_cols = u.unit_shape(unit).1;
                for &k in in_unit {
                    let a = specs[k];
                    let Some(c) = core(k) else { continue };
                    add(&mut p, c, rp * cost.mvmul_ns(a.rows, a.cols, a.xbars, ibiw, ibiw, arch.weight_bits));
                    if k != in_unit[0] {
                        add(&mut p, owner, rp * vec_ns(VecOp::Vvadd, u64::from(a.cols)));
                        if c != owner {
                            let bytes = u64::from(a.cols) * eb;
                            let send = cost.flits(bytes) as f64 * cost.period;
                            add(&mut p, c, rp * send);
                            add(&mut p, owner, rp * send);
                        }
                    }
                }
                // The owner's windows: the column formats' adds of every kernel position,
                // bias or activation, and the store.
                let taps = match u.format {
                    crate::unfold::Format::I_OK2_1 => u.kernel_area() as f64,
                    crate::unfold::Format::IK_OK_1 => f64::from(u.kernel[0]),
                    _ => 0.0,
                };
                // (The columns of a column format hold every kernel position; a window gets
                // the unit's output channels.)
                let cols = u64::from(u.output_channels_of(u.first_matrix(unit)).1.min(unit_cols));
                let out_bytes = cols * eb;
                add(&mut p, owner, n * (taps + 1.0) * vec_ns(VecOp::Vvadd, cols));
                p.request(owner, global.write_ns(out_bytes), n);
                add(&mut p, owner, n * (global.write_ns(out_bytes) + local.read_ns(out_bytes)));
                if residual {
                    // The shortcut's slice of each window, loaded and added before the
                    // activation (the add itself has no code).
                    load(&mut p, owner, out_bytes, n);
                    add(&mut p, owner, n * vec_ns(VecOp::Vvadd, cols));
                }
                // The input, by every core of the unit.
                let mut unit_cores: Vec<CoreId> = in_unit.iter().filter_map(|&k| core(k)).collect();
                unit_cores.sort_unstable();
                unit_cores.dedup();
                for &c in &unit_cores {
                    // A core's patch holds the rows of its own groups.
                    let rows: u64 =
                        in_unit.iter().filter(|&&k| core(k) == Some(c)).map(|&k| u64::from(specs[k].rows)).sum();
                    let patch_bytes = rows * eb;
                    if !u.format.sums_matrices() {
                        load(&mut p, c, patch_bytes, rp);
                        continue;
                    }
                    let all = u64::from(u.input_channels_of(u.first_matrix(unit)).1) == in_c;
                    let band = conv.and_then(|cv| {
                        // Rows and columns of the input the windows read (as the band rule).
                        let (oh0, oh1) = (w0 / ow, (w1 - 1) / ow);
                        let reach =
                            |k: usize| ((cv.kernel[k] - 1).max(0).saturating_mul(cv.dilations[k].max(1))) as u64;
                        // Shapes come from files: saturate rather than overflow.
                        let rows = ((oh1 - oh0).saturating_mul(cv.strides[0].max(1) as u64))
                            .saturating_add(reach(0) + 1)
                            .min(in_h);
                        // A band is taken when at most 4x the bytes of the windows' patches.
                        let band_limit = (w1 - w0).saturating_mul(patch_bytes).saturating_mul(4);
                        let taps = cv.kernel[0].saturating_mul(cv.kernel[1]).max(1) as u64;
                        if all {
                            let width = if oh0 == oh1 {
                                ((w1 - w0 - 1).saturating_mul(cv.strides[1].max(1) as u64))
                                    .saturating_add(reach(1) + 1)
                                    .min(in_w)
                            } else {
                                in_w
                            };
                            let bytes = rows.saturating_mul(width).saturating_mul(in_c).saturating_mul(eb);
                            (bytes <= budget && bytes <= band_limit)
                                .then_some((bytes, if width == in_w { 1 } else { rows }))
                        } else {
                            // A packed matrix's few channels: a load per pixel of whole rows.
                            let loads = rows.saturating_mul(in_w);
                            let bytes = loads.saturating_mul((patch_bytes / taps.max(1)).max(1));
                            (bytes <= budget
                                && bytes <= band_limit
                                && loads <= (w1 - w0).saturating_mul(taps)
                                && taps >= 9)
                                .then_some((bytes, loads))
                        }
                    });
                    match band {
                        Some((bytes, pieces)) => {
                            load(&mut p, c, bytes / pieces, pieces as f64);
                            // Each window's patch copied out of the band.
                            add(&mut p, c, n * (local.read_ns(patch_bytes) + local.write_ns(patch_bytes)));
                        }
                        None => {
                            // A kernel row of every channel is contiguous; of a few, each tap.
                            let segs =
                                conv.map_or(1, |cv| (cv.kernel[0] * if all { 1 } else { cv.kernel[1] }).max(1) as u64);
                            load(&mut p, c, patch_bytes / segs, n * segs as f64);
                        }
                    }
                }
            }
        }
    }
    // Vector ops: each core its share of the elements, its inputs loaded and output stored
    // (a ReLU run inside the op before it, and a residual add run inside its convolution,
    // nothing of their own).
    let fused = super::fused_activations(g, m);
    let mut no_code: std::collections::BTreeSet<_> = fused.values().copied().collect();
    no_code.extend(residuals.values().flat_map(|r| std::iter::once(r.add).chain(r.relu)));
    for (&i, cores) in &m.vector_cores {
        record(&mut p, Some(i));
        let Some(node) = g.nodes.get(i) else { continue };
        if cores.is_empty() || node.op.is_crossbar_layer() || no_code.contains(&i) {
            continue;
        }
        let out = elements(g.shape(node.output)).unwrap_or(0).max(0) as u64;
        let inputs: u64 = node.inputs.iter().map(|&v| elements(g.shape(v)).unwrap_or(0).max(0) as u64).sum();
        // Pooling reads each input row once per output row that covers it.
        let (read, ops) = match &node.op {
            Op::MaxPool(pl) | Op::AvgPool(pl) => {
                let rows = (pl.kernel[0].max(1) as f64 / pl.strides[0].max(1) as f64).max(1.0);
                (inputs as f64 * rows, out as f64 * (pl.kernel[0] * pl.kernel[1]).max(1) as f64)
            }
            _ => (inputs as f64, out as f64 * (node.inputs.len().max(1) + usize::from(fused.contains_key(&i))) as f64),
        };
        let k = cores.len() as f64;
        let chunk = VECTOR_CHUNK as f64;
        for &c in cores {
            let (rb, wb) = (read * eb as f64 / k, out as f64 * eb as f64 / k);
            let server = global.read_ns(rb as u64) + global.write_ns(wb as u64);
            // In chunks (a row, for pooling: about as large).
            let chunk_bytes = chunk * eb as f64;
            for (bytes, write) in [(rb, false), (wb, true)] {
                let n = (bytes / chunk_bytes).ceil();
                let one = (bytes / n.max(1.0)) as u64;
                p.request(c, if write { global.write_ns(one) } else { global.read_ns(one) }, n);
            }
            let vectors = (ops / k / chunk).ceil().max(1.0);
            add(
                &mut p,
                c,
                server
                    + local.write_ns(rb as u64)
                    + local.read_ns(wb as u64)
                    + vectors * vec_ns(VecOp::Vvadd, chunk as u64),
            );
        }
    }
    record(&mut p, None);
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::LayerMap;
    use crate::unfold::Format;

    #[test]
    fn the_period_is_the_server_or_a_core_with_its_queueing() {
        let idle = |per_core: Vec<f64>, global_ns: f64| Period {
            requests_by_core: vec![0.0; per_core.len()],
            global_by_core: vec![0.0; per_core.len()],
            per_core,
            global_ns,
            global_by_node: Default::default(),
        };
        assert_eq!(idle(vec![3.0, 5.0], 4.0).ns(), 5.0);
        assert_eq!(idle(vec![3.0, 1.0], 4.0).ns(), 4.0);
        // A core alone at the server never waits: the period is its time or the server's.
        let mut alone = idle(vec![3.0, 1.0], 2.5);
        (alone.requests_by_core[0], alone.global_by_core[0]) = (10.0, 2.5);
        assert_eq!(alone.ns(), 3.0);
        // Two cores at the server: each request of core 0 waits for core 1's share of the
        // period there times its service; P solves P = C_0 + n_0 w_0, above both C and G.
        let mut p = idle(vec![3.0, 2.0], 4.0);
        (p.requests_by_core, p.global_by_core) = (vec![10.0, 4.0], vec![2.0, 2.0]);
        let period = p.ns();
        // Core 0's requests take 0.2 ns each, core 1's 0.5 ns; at the fixed point each waits
        // for the other's share at the server: w_0 = o_1 s_1, w_1 = o_0 s_0, with
        // o_j = n_j (s_j + w_j) / P.
        let s1 = 2.0 / 4.0;
        let (mut w0, mut w1) = (0.0, 0.0);
        for _ in 0..1000 {
            let (o0, o1) = (10.0 * (0.2 + w0) / period, 4.0 * (s1 + w1) / period);
            (w0, w1) = (QUEUE_WAIT * o1 * s1, QUEUE_WAIT * o0 * 0.2);
        }
        assert!(period > 4.0, "{period}");
        assert!((period - (3.0 + 10.0 * w0)).abs() < 1e-6, "{period} vs {}", 3.0 + 10.0 * w0);
        // However many other cores: a request never waits more than one request of each.
        let mut crowd = idle(vec![1.0; 64], 32.0);
        crowd.requests_by_core = vec![1.0; 64];
        crowd.global_by_core = vec![0.5; 64];
        assert!(crowd.ns() <= 1.0 + 63.0 * 0.5 * QUEUE_WAIT + 1e-9 && crowd.ns() >= 32.0);
    }

    /// One 3x3 convolution over 16 channels of an 8x8 map, on one core: the band of the whole
    /// input is one load and every window one store, as the scheduler emits them.
    #[test]
    fn a_layer_loads_its_band_once_and_stores_each_window() {
        let arch = Arch::preset("pimcomp-default").unwrap();
        let g = crate::mapping::format::tests::conv(16, 16, 3, 1);
        let i = crate::graph::NodeId(0);
        let u = super::super::format::unfolding_in(&g, &g.nodes[i], Format::IK2_O_1, 128, &arch, None).unwrap();
        let mut l = LayerMap::new(u, 128, &arch);
        l.ag_cores = Some(vec![CoreId(0); l.groups().len()]);
        l.windows = Some(vec![0, 64]);
        let mut m = Mapping::default();
        m.layers.insert(i, l);
        let p = estimate(&g, &m, &arch);
        let cost = CostModel::new(&arch, Model::Pimlir);
        let eb = u64::from(arch.activation_bytes());
        let want = cost.global.read_ns(8 * 8 * 16 * eb) + 64.0 * cost.global.write_ns(16 * eb);
        assert!((p.global_ns - want).abs() < 1e-6, "{} vs {want}", p.global_ns);
        assert_eq!(p.requests_by_core[0], 65.0);
        assert_eq!(p.global_by_node[&i], p.global_ns);
        assert!(p.per_core[0] > p.global_ns && p.ns() >= p.per_core[0]);
    }
}
