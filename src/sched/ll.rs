//! The low-latency (element pipeline) policy: every op's output rows are cut into bands,
//! and a band starts as soon as the rows of its inputs it reads are stored, so the layers of
//! one sample run at the same time on their cores, band after band, instead of one after
//! another as in the batch pipeline.
//!
//! Bands follow the graph ([`band_ends`]): each input's band ends give the rows the op can
//! compute from them, so a band waits for no later band of its producer than it must; the
//! rows that wait for an input's last band are a band each, so that the receptive field's
//! growth does not pile up in one last band. Source ops (reading only model inputs) split
//! evenly. An op that needs whole inputs (fully connected, global pooling, softmax, anything
//! read through a view) is one band, after its inputs' last.
//!
//! Within a band, a layer's windows go to the sets of cores holding its replicas in the
//! mapping's proportions, a run per set for one of its replicas in turn ([`ReplicaShares`]);
//! a vector op's rows are shared among its cores. A layer in a column format (a product per
//! input pixel or kernel row, added into every window it reaches) instead gives each set a
//! stripe of output columns, which the set streams down the rows band by band
//! ([`Task::Layer::stream`]): runs inside a band would multiply each input row once per band
//! that reads it (3x for a 3x3 kernel in one-row bands: ResNet-18's layer-1 cores spent
//! 11 ms of 12 on it), and strips of rows would wait, layer after layer, for the last row
//! of the strip above (ResNet-18 LL anchor: 25.4 ms in runs, 28.6 in strips, 15.0 in
//! stripes). A band's tokens come from the cores that
//! stored the rows each of its cores reads (row by row, not band to band).
//!
//! The order is a list schedule on estimated times (`mapping::period`'s busy time of each
//! op on each core, in proportion to the band's products on it): the next band is the one
//! that can start earliest. A band follows the op's earlier bands on its own cores only, so
//! stripes go side by side. The result is again one global order of tasks, each preceded by its
//! tokens, so [`super::ht::order`] drops the implied tokens, counts copies for samples in
//! flight, and its deadlock argument holds unchanged. A token names the bands it waits for,
//! so a chain of rendezvous that started after them implies it even when the writer has
//! stored later bands since (a fused residual hears of its rows through the block's two
//! convolutions).

use super::memory::{GlobalPlan, Layout};
use super::tasks::{OpTasks, Task, TaskGraph, Token};
use super::SchedError;
use crate::arch::{Arch, CoreId};
use crate::graph::{Graph, NodeId, Op, ValueId};
use crate::ids::IdVec;
use crate::mapping::Mapping;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The fewest windows a core takes of a dense layer's band (unless the band is smaller).
const MIN_RUN: u64 = 4;

/// Which rows of an input the output rows `[y0, y1)` read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// The same rows (element-wise ops, concatenation along channels).
    Same,
    /// A sliding window along the height: kernel, stride, leading padding, dilation.
    Window { k: i64, s: i64, pad: i64, d: i64 },
    /// Rows shifted by the leading padding (a standalone pad).
    Shift { top: i64 },
    /// Every row.
    All,
}

impl Need {
    /// The input rows `[lo, hi)` of `h_in` that output rows `[y0, y1)` read.
    fn range(self, y0: i64, y1: i64, h_in: i64) -> (i64, i64) {
        if y1 <= y0 {
            return (0, 0);
        }
        let (lo, hi) = match self {
            Need::Same => (y0, y1),
            // Kernel, stride and padding come from model files: saturate, never overflow.
            Need::Window { k, s, pad, d } => (
                y0.saturating_mul(s).saturating_sub(pad),
                (y1 - 1)
                    .saturating_mul(s)
                    .saturating_sub(pad)
                    .saturating_add(k.saturating_sub(1).saturating_mul(d))
                    .saturating_add(1),
            ),
            Need::Shift { top } => (y0.saturating_sub(top), y1.saturating_sub(top)),
            Need::All => (0, h_in),
        };
        let lo = lo.clamp(0, h_in);
        (lo, hi.clamp(lo, h_in))
    }
}

/// An op's rows and what it reads of each input.
struct RowOp {
    /// Output rows (1 for a vector).
    h: i64,
    /// Whether its rows can be computed band by band.
    banded: bool,
    /// (producer, rows it has, need) per input read.
    inputs: Vec<(NodeId, i64, Need, bool)>,
}

fn row_op(g: &Graph, producers: &IdVec<ValueId, Option<NodeId>>, plan: &GlobalPlan, op: &OpTasks) -> RowOp {
    let n = &g.nodes[op.node];
    let out = plan.layout_of(n.output);
    let h = out.rows();
    // A reordered output (a flattened map copied out in channel-major order) is a view's
    // task: whole.
    let kind_banded = matches!(out, Layout::Hwc { .. })
        && !n.op.is_view()
        && match &n.op {
            Op::Conv2d(_)
            | Op::MaxPool(_)
            | Op::AvgPool(_)
            | Op::Add
            | Op::Mul
            | Op::Act(_)
            | Op::BatchNorm(_)
            | Op::ChannelShuffle { .. }
            | Op::Lrn(_)
            | Op::Pad { .. } => true,
            Op::Concat { axis } => *axis == 1 || *axis == -3,
            _ => false,
        };
    let mut inputs = vec![];
    for (k, &v) in n.inputs.iter().enumerate() {
        let Some(p) = g.data_producer(producers, v) else { continue };
        if !op.reads.contains(&p) {
            continue;
        }
        let h_in = plan.layout_of(g.nodes[p].output).rows();
        let direct = producers[v] == Some(p);
        let need = match (&n.op, plan.layout_of(v)) {
            _ if !kind_banded || !direct => Need::All,
            // A fused residual (`sched::fuse`): the rows of the output.
            (Op::Conv2d(_), Layout::Hwc { h: hv, .. }) if k > 0 && hv == h => Need::Same,
            (Op::Conv2d(c), _) => Need::Window { k: c.kernel[0], s: c.strides[0], pad: c.pads[0], d: c.dilations[0] },
            (Op::MaxPool(p) | Op::AvgPool(p), _) => {
                Need::Window { k: p.kernel[0], s: p.strides[0], pad: p.pads[0], d: 1 }
            }
            (Op::Pad { pads, .. }, _) => Need::Shift { top: pads[0] },
            (_, Layout::Hwc { h: hv, .. }) if hv == h => Need::Same,
            _ => Need::All,
        };
        // A fused residual is read by the replicas' owners only.
        let owners_only = k > 0 && matches!(n.op, Op::Conv2d(_));
        inputs.push((p, h_in, need, owners_only));
    }
    RowOp { h, banded: kind_banded, inputs }
}

/// The largest `y` in `[lo, hi]` with `fits(y)`, for `fits` monotone (true, then false);
/// `lo` when none.
fn last_fitting(lo: i64, hi: i64, fits: impl Fn(i64) -> bool) -> i64 {
    let (mut a, mut b) = (lo, hi);
    while a < b {
        let mid = a + (b - a + 1) / 2;
        if fits(mid) {
            a = mid;
        } else {
            b = mid - 1;
        }
    }
    a
}

/// One band of one op, a unit of the list schedule.
struct Item {
    op: usize,
    band: u32,
    rows: (i64, i64),
    tasks: Vec<Task>,
    deps: Vec<usize>,
}

/// The task graph of the element pipeline: `tg`'s ops cut into `bands` bands each, in the
/// order of the list schedule; and an estimate of one sample's latency (ns): when the list
/// schedule's last band ends (`mapping::period`'s busy times, no waits for partners), or the
/// global-memory server's work for the sample if that is longer (the list schedule gives
/// each core its loads' service time but not the queue at the one server).
pub fn bands(
    g: &Graph,
    m: &Mapping,
    arch: &Arch,
    plan: &GlobalPlan,
    tg: &TaskGraph,
    bands: u32,
) -> Result<(TaskGraph, f64), SchedError> {
    let nb = bands.max(1);
    let op_index: HashMap<NodeId, usize> = tg.ops.iter().enumerate().map(|(k, o)| (o.node, k)).collect();
    let producers = g.producers();
    // ends[op]: the op's band ends (rows stored once each band is done), the last its rows.
    let mut ends: Vec<Vec<i64>> = Vec::with_capacity(tg.ops.len());
    // tails[op]: the first row of its tail, from which every row is a band.
    let mut tails: Vec<i64> = Vec::with_capacity(tg.ops.len());
    let mut rows_of: Vec<RowOp> = Vec::with_capacity(tg.ops.len());
    for op in &tg.ops {
        let r = row_op(g, &producers, plan, op);
        let inputs: Vec<(&[i64], i64, i64, Need)> = r
            .inputs
            .iter()
            .filter_map(|&(p, h_in, need, _)| op_index.get(&p).map(|&k| (ends[k].as_slice(), tails[k], h_in, need)))
            .collect();
        let (e, tail) = band_ends(&r, &inputs, nb);
        ends.push(e);
        tails.push(tail);
        rows_of.push(r);
    }

    // The items: every op's bands, with the tasks of their rows.
    let mut items: Vec<Item> = vec![];
    let mut item_of: HashMap<(usize, u32), usize> = HashMap::new();
    for (k, op) in tg.ops.iter().enumerate() {
        let r = &rows_of[k];
        let mut shares = ReplicaShares::new(op);
        // The op's latest band on each core: a band follows the op's earlier bands on its
        // cores (not on others: sets of cores streaming stripes of a layer go side by side).
        let mut last_on: HashMap<CoreId, usize> = HashMap::new();
        let column = is_column(m, op.node);
        for (b, &y1) in ends[k].iter().enumerate() {
            let b = b as u32;
            let y0 = if b == 0 { 0 } else { ends[k][b as usize - 1] };
            if y1 <= y0 {
                continue;
            }
            let tasks = band_tasks(g, op, r, &mut shares, column, (y0, y1));
            if tasks.is_empty() {
                continue;
            }
            let mut deps: BTreeSet<usize> = tasks.iter().filter_map(|t| last_on.get(&t.core()).copied()).collect();
            for &(p, h_in, need, _) in &r.inputs {
                let Some(&pk) = op_index.get(&p) else { continue };
                let (lo, hi) = need.range(y0, y1, h_in);
                for (pb, &p1) in ends[pk].iter().enumerate() {
                    let p0 = if pb == 0 { 0 } else { ends[pk][pb - 1] };
                    if p0 < hi && lo < p1 {
                        if let Some(&it) = item_of.get(&(pk, pb as u32)) {
                            deps.insert(it);
                        }
                    }
                }
            }
            item_of.insert((k, b), items.len());
            for t in &tasks {
                last_on.insert(t.core(), items.len());
            }
            items.push(Item { op: k, band: b, rows: (y0, y1), tasks, deps: deps.into_iter().collect() });
        }
    }

    let (order, makespan) = list_schedule(g, m, arch, tg, &rows_of, &items);
    let latency_ns = makespan.max(crate::mapping::period::estimate(g, m, arch).global_ns);

    // The task graph in that order, each band with a token from every core that stored
    // rows a core of the band reads (row by row, not band to band: a core of a pooling
    // reads the few rows of its share, stored by a few of the convolution's cores).
    let rows_done: Vec<Vec<(CoreId, (i64, i64))>> = items
        .iter()
        .map(|it| {
            it.tasks
                .iter()
                .filter(|t| match t {
                    Task::Layer { core, owner, .. } => core == owner,
                    Task::Vector { .. } => true,
                })
                .map(|t| (t.core(), task_rows(g, &rows_of[it.op], &tg.ops[it.op], t)))
                .collect()
        })
        .collect();
    // Each item's index in the new task graph, which tokens name.
    let mut position = vec![usize::MAX; items.len()];
    for (k, &it) in order.iter().enumerate() {
        position[it] = k;
    }
    let mut ops = Vec::with_capacity(items.len());
    for &it in &order {
        let item = &items[it];
        let op = &tg.ops[item.op];
        let r = &rows_of[item.op];
        let mut pairs: BTreeMap<(CoreId, CoreId), BTreeSet<usize>> = BTreeMap::new();
        for t in &item.tasks {
            let reader = t.core();
            let rows = task_rows(g, r, op, t);
            let helper = matches!(t, Task::Layer { core, owner, .. } if core != owner);
            for &d in item.deps.iter().filter(|&&d| items[d].op != item.op) {
                let value = tg.ops[items[d].op].node;
                for &(_, h_in, need, _) in r.inputs.iter().filter(|i| i.0 == value && !(i.3 && helper)) {
                    let (lo, hi) = need.range(rows.0, rows.1, h_in);
                    for &(w, (a, b)) in &rows_done[d] {
                        if w != reader && a < hi && lo < b {
                            pairs.entry((w, reader)).or_default().insert(position[d]);
                        }
                    }
                }
            }
        }
        let tokens = pairs
            .into_iter()
            .map(|((from, to), writes)| Token { from, to, writes: writes.into_iter().collect() })
            .collect();
        ops.push(OpTasks { node: op.node, tokens, reads: op.reads.clone(), tasks: item.tasks.clone() });
    }
    Ok((TaskGraph { ops }, latency_ns))
}

/// The band ends of an op and its tail (`inputs`: each input's band ends, tail, rows and
/// need). The ends: every point at which one input's bands let the op go further, and an
/// even split into `nb` bands, merged where closer than half a band (a row at least); the
/// last end is the op's rows. Taking the inputs' points keeps bands aligned (a band waits for
/// no later band of its producer than it must). The tail is the rows that wait for some
/// input's tail (a source's tail is its last band): each is a band of its own, so that these
/// rows, more at every layer as the receptive field grows, flow from layer to layer instead
/// of piling up in one last band.
fn band_ends(r: &RowOp, inputs: &[(&[i64], i64, i64, Need)], nb: u32) -> (Vec<i64>, i64) {
    let h = r.h;
    if h <= 0 {
        return (vec![0], 0);
    }
    if !r.banded {
        return (vec![h], 0);
    }
    let nb = i64::from(nb.max(1));
    let mut points: Vec<i64> = (1..=nb).map(|j| (j.saturating_mul(h) + nb - 1) / nb).collect();
    // The rows that wait for some input's last band: from there on every row is a band.
    let mut tail = h;
    for &(ends, in_tail, h_in, need) in inputs {
        let reach = |e: i64| {
            // The rows this input's first bands up to `e` let the op compute.
            last_fitting(0, h, |y| {
                let (lo, hi) = need.range(0, y, h_in);
                lo >= hi || hi <= e
            })
        };
        for &e in ends {
            points.push(reach(e));
        }
        tail = tail.min(reach(in_tail));
    }
    points.retain(|&y| y > 0 && y < h);
    points.sort_unstable();
    points.dedup();
    let gap = (h / (2 * nb)).max(1);
    let mut out = vec![];
    let mut last = 0;
    for y in points {
        if y < tail && y - last >= gap {
            out.push(y);
            last = y;
        }
    }
    if tail < h {
        if tail > last {
            out.push(tail);
        }
        out.extend(tail.max(last) + 1..h);
    }
    out.push(h);
    // A source's tail, for its consumers, is its last band.
    let tail = if inputs.is_empty() { out.len().checked_sub(2).map_or(0, |k| out[k]) } else { tail.max(last) };
    (out, tail)
}

/// A band's part for each replica that takes some: its windows and, when it streams, its
/// stripe's columns ([`Task::Layer::stream`]).
type Parts = BTreeMap<u32, ((u64, u64), Option<(u64, u64)>)>;

/// How a layer's windows are shared among its replicas, band after band. Replicas on the
/// same cores run one after another anyway, so a band is shared among the sets of cores
/// that hold replicas, each set in proportion to the windows the mapping gives its replicas
/// (busier cores fewer; largest remainder, so that over all bands the counts add up and
/// small bands fall to different sets in turn), and a set's part is one contiguous run of
/// windows for one of its replicas in turn: long runs keep each window's work as in the
/// batch pipeline (a column format multiplies each input pixel once for all the windows of
/// a run that read it).
struct ReplicaShares {
    /// Per set of cores: its replicas and their windows in the mapping.
    sets: Vec<(Vec<u32>, u64)>,
    total: u64,
    /// Windows each set is owed and has not received yet.
    owed: Vec<f64>,
    /// The replica of each set whose turn is next.
    turn: Vec<usize>,
}

impl ReplicaShares {
    fn new(op: &OpTasks) -> ReplicaShares {
        let mut windows: BTreeMap<u32, u64> = BTreeMap::new();
        let mut cores: BTreeMap<u32, BTreeSet<CoreId>> = BTreeMap::new();
        for t in &op.tasks {
            if let Task::Layer { replica, windows: w, core, .. } = t {
                windows.insert(*replica, w.1.saturating_sub(w.0));
                cores.entry(*replica).or_default().insert(*core);
            }
        }
        let mut by_cores: BTreeMap<Vec<CoreId>, (Vec<u32>, u64)> = BTreeMap::new();
        for (r, w) in windows {
            let key: Vec<CoreId> = cores.get(&r).map(|c| c.iter().copied().collect()).unwrap_or_default();
            let e = by_cores.entry(key).or_default();
            e.0.push(r);
            e.1 += w;
        }
        let sets: Vec<(Vec<u32>, u64)> = by_cores.into_values().collect();
        let total = sets.iter().map(|s| s.1).sum();
        let n = sets.len();
        ReplicaShares { sets, total, owed: vec![0.0; n], turn: vec![0; n] }
    }

    /// The stripe of each set: contiguous output columns of the `ow`, from the first, in
    /// proportion to the set's windows in the mapping (a set may get none). Stripes, not
    /// strips of rows: every set then works down the rows at once, and the halo a stripe
    /// reads of its neighbour's is in the same rows (strips of rows wait, layer after
    /// layer, for the last row of the strip above).
    fn stripes(&self, ow: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::with_capacity(self.sets.len());
        let (mut at, mut sum) = (0u64, 0u128);
        for (k, &(_, w)) in self.sets.iter().enumerate() {
            sum += u128::from(w);
            let end = if k + 1 == self.sets.len() || self.total == 0 {
                ow
            } else {
                ((sum * u128::from(ow) + u128::from(self.total) / 2) / u128::from(self.total)) as u64
            };
            let end = end.clamp(at, ow);
            out.push((at, end));
            at = end;
        }
        out
    }

    /// A column format's band `[w0, w1)` (whole rows of `ow` windows): for each set's first
    /// replica, the band with the set's stripe, which the set streams (see
    /// [`Task::Layer::stream`]).
    fn stripe_parts(&self, w0: u64, w1: u64, ow: u64) -> Parts {
        let mut out = BTreeMap::new();
        for ((replicas, _), (x0, x1)) in self.sets.iter().zip(self.stripes(ow)) {
            if let (Some(&r), true) = (replicas.first(), x0 < x1 && w0 < w1) {
                out.insert(r, ((w0, w1), Some((x0, x1))));
            }
        }
        out
    }

    /// The windows of each replica in band `[w0, w1)` (replicas without any left out), in
    /// runs of `quantum` windows (the last run of the band may be shorter).
    fn split(&mut self, w0: u64, w1: u64, quantum: u64) -> BTreeMap<u32, (u64, u64)> {
        let len = w1.saturating_sub(w0);
        let q = quantum.clamp(1, len.max(1));
        let runs = len.div_ceil(q);
        let n = self.sets.len();
        let mut give = vec![0u64; n];
        if self.total > 0 {
            for (k, &(_, wk)) in self.sets.iter().enumerate() {
                self.owed[k] += len as f64 * wk as f64 / self.total as f64;
                give[k] = (self.owed[k].max(0.0) / q as f64).floor() as u64;
            }
        } else if n > 0 {
            give[0] = runs;
        }
        let mut given: u64 = give.iter().sum();
        let left = |owed: &[f64], give: &[u64], k: usize| owed[k] - (give[k] * q) as f64;
        // The rest one by one to the most owed; too many taken back from the least owed.
        while given < runs && n > 0 {
            let k = (0..n)
                .max_by(|&a, &b| left(&self.owed, &give, a).total_cmp(&left(&self.owed, &give, b)).then(b.cmp(&a)));
            let Some(k) = k else { break };
            give[k] += 1;
            given += 1;
        }
        while given > runs {
            let k = (0..n)
                .filter(|&k| give[k] > 0)
                .min_by(|&a, &b| left(&self.owed, &give, a).total_cmp(&left(&self.owed, &give, b)));
            let Some(k) = k else { break };
            give[k] -= 1;
            given -= 1;
        }
        let mut out = BTreeMap::new();
        let mut at = w0;
        for k in 0..n {
            if give[k] == 0 {
                continue;
            }
            let end = (at + give[k] * q).min(w1);
            self.owed[k] -= (end - at) as f64;
            let replicas = &self.sets[k].0;
            let r = replicas[self.turn[k] % replicas.len()];
            self.turn[k] = (self.turn[k] + 1) % replicas.len();
            out.insert(r, (at, end));
            at = end;
        }
        out
    }
}

/// Whether `node` is a crossbar layer in a format that puts kernel positions into columns
/// (its bands stream stripes: [`Task::Layer::stream`]).
fn is_column(m: &Mapping, node: NodeId) -> bool {
    m.layers.get(&node).is_some_and(|l| !l.unfolding.format.sums_matrices())
}

/// Windows per output row (a convolution's output width; 1 for a vector).
fn row_width(g: &Graph, node: NodeId) -> i64 {
    g.shape(g.nodes[node].output).get(3).copied().unwrap_or(1).max(1)
}

/// The output rows a task computes (a vector op's whole output unless banded).
fn task_rows(g: &Graph, r: &RowOp, op: &OpTasks, t: &Task) -> (i64, i64) {
    if !r.banded {
        return (0, r.h);
    }
    match t {
        Task::Layer { windows, .. } => {
            let ow = row_width(g, op.node);
            let (a, b) = (windows.0 as i64, windows.1 as i64);
            if a >= b {
                return (0, 0);
            }
            (a / ow, (b - 1) / ow + 1)
        }
        Task::Vector { index, of, rows, .. } => super::emit::Part { index: *index, of: *of, rows: *rows }.rows(r.h),
    }
}

/// The tasks of `op` for its output rows `[y0, y1)` (`shares`: a layer's replica shares).
fn band_tasks(
    g: &Graph,
    op: &OpTasks,
    r: &RowOp,
    shares: &mut ReplicaShares,
    column: bool,
    (y0, y1): (i64, i64),
) -> Vec<Task> {
    if !r.banded {
        return op.tasks.clone();
    }
    let ow = row_width(g, op.node);
    let split = if op.tasks.iter().any(|t| matches!(t, Task::Layer { .. })) {
        // Runs of a few windows at least: a run is a loop nest per region of the window
        // grid, and lone windows near the padding unroll (ResNet-18's latency: 31.9 ms in
        // runs of 4, 35.5 ms in runs of 8, 40.2 ms in runs of 16). A packed grouped
        // convolution (several units) takes whole rows: its matrices read a few channels
        // of every pixel, which a run loads as whole input rows only when it spans the row
        // (shorter runs load each window's taps one by one: ResNeXt-50 2.4x the loads).
        let packed = op.tasks.iter().any(|t| matches!(t, Task::Layer { unit, .. } if *unit > 0));
        let quantum = if packed { ow as u64 } else { MIN_RUN };
        if column && !packed {
            shares.stripe_parts((y0 * ow) as u64, (y1 * ow) as u64, ow as u64)
        } else {
            shares.split((y0 * ow) as u64, (y1 * ow) as u64, quantum).into_iter().map(|(r, w)| (r, (w, None))).collect()
        }
    } else {
        BTreeMap::new()
    };
    let mut out = vec![];
    for t in &op.tasks {
        match t {
            Task::Layer { replica, .. } => {
                if let Some(&((a, b), stripe)) = split.get(replica).filter(|w| w.0 .0 < w.0 .1) {
                    let mut t = t.clone();
                    if let Task::Layer { windows, stream, .. } = &mut t {
                        *windows = (a, b);
                        *stream = stripe;
                    }
                    out.push(t);
                }
            }
            Task::Vector { core, index, of, .. } => {
                let part = super::emit::Part { index: *index, of: *of, rows: Some((y0, y1)) };
                let (a, b) = part.rows(r.h);
                if a < b {
                    out.push(Task::Vector { core: *core, index: *index, of: *of, rows: Some((y0, y1)) });
                }
            }
        }
    }
    out
}

/// The order of `items` from a list schedule on estimated busy times: repeatedly the item
/// whose dependencies are placed and which can start earliest (ties: lower band, earlier
/// op).
/// The items in list-schedule order, and when the last one finishes (ns).
fn list_schedule(
    g: &Graph,
    m: &Mapping,
    arch: &Arch,
    tg: &TaskGraph,
    rows_of: &[RowOp],
    items: &[Item],
) -> (Vec<usize>, f64) {
    let mut busy: HashMap<(NodeId, CoreId), f64> = HashMap::new();
    for (node, cores) in crate::mapping::period::busy_by_node(g, m, arch) {
        for (core, t) in cores {
            *busy.entry((node, core)).or_default() += t;
        }
    }
    // A layer's products (`mapping::format::replica_products`) of windows `[w0, w1)`.
    let products = |op: usize, (w0, w1): (u64, u64)| -> f64 {
        let node = tg.ops[op].node;
        match m.layers.get(&node) {
            Some(l) => crate::mapping::format::replica_products(g, &g.nodes[node], l.unfolding.format, w0, w1) as f64,
            None => w1.saturating_sub(w0) as f64,
        }
    };
    // The products each core runs in the mapping, which its busy time is for.
    let mut mapped: HashMap<(usize, CoreId), f64> = HashMap::new();
    for (k, op) in tg.ops.iter().enumerate() {
        for t in &op.tasks {
            if let Task::Layer { core, windows, .. } = t {
                *mapped.entry((k, *core)).or_default() += products(k, *windows);
            }
        }
    }
    // A band's task takes the core's busy time in proportion to its products: a streamed
    // band's are its stripe's share of the input rows its windows read that the earlier
    // bands did not.
    let duration = |it: &Item, t: &Task| -> f64 {
        let core = t.core();
        let total = busy.get(&(tg.ops[it.op].node, core)).copied().unwrap_or(0.0);
        let share = match t {
            Task::Layer { windows, stream, .. } => {
                let own = match stream {
                    Some((x0, x1)) => {
                        let ow = row_width(g, tg.ops[it.op].node) as u64;
                        let whole = |w: u64| products(it.op, (0, w));
                        (whole(windows.1) - whole(windows.0)) * x1.saturating_sub(*x0) as f64 / ow as f64
                    }
                    None => products(it.op, *windows),
                };
                own / mapped.get(&(it.op, core)).copied().unwrap_or(1.0).max(1.0)
            }
            Task::Vector { .. } => (it.rows.1 - it.rows.0) as f64 / rows_of[it.op].h.max(1) as f64,
        };
        (total * share).max(1.0)
    };
    let mut users: Vec<Vec<usize>> = vec![vec![]; items.len()];
    let mut missing: Vec<usize> = items.iter().map(|it| it.deps.len()).collect();
    for (k, it) in items.iter().enumerate() {
        for &d in &it.deps {
            users[d].push(k);
        }
    }
    let mut ready: BTreeSet<usize> = (0..items.len()).filter(|&k| missing[k] == 0).collect();
    let mut finish = vec![0.0f64; items.len()];
    let mut free: HashMap<CoreId, f64> = HashMap::new();
    let mut order = Vec::with_capacity(items.len());
    let mut makespan = 0.0f64;
    while !ready.is_empty() {
        let start_of = |k: usize| -> f64 {
            let it = &items[k];
            let deps = it.deps.iter().map(|&d| finish[d]).fold(0.0, f64::max);
            it.tasks.iter().map(|t| free.get(&t.core()).copied().unwrap_or(0.0)).fold(deps, f64::max)
        };
        let Some(best) = ready
            .iter()
            .map(|&k| (start_of(k), items[k].band, items[k].op, k))
            .min_by(|a, b| a.0.total_cmp(&b.0).then((a.1, a.2).cmp(&(b.1, b.2))))
            .map(|x| x.3)
        else {
            break;
        };
        ready.remove(&best);
        let start = start_of(best);
        let it = &items[best];
        let mut end = start;
        for t in &it.tasks {
            let e = start + duration(it, t);
            let f = free.entry(t.core()).or_insert(0.0);
            *f = f.max(e);
            end = end.max(e);
        }
        finish[best] = end;
        makespan = makespan.max(end);
        order.push(best);
        for &u in &users[best] {
            missing[u] -= 1;
            if missing[u] == 0 {
                ready.insert(u);
            }
        }
    }
    (order, makespan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_reads_the_rows_under_its_kernel() {
        let w = Need::Window { k: 3, s: 1, pad: 1, d: 1 };
        assert_eq!(w.range(0, 4, 8), (0, 5));
        assert_eq!(w.range(4, 8, 8), (3, 8));
        let s2 = Need::Window { k: 3, s: 2, pad: 1, d: 1 };
        assert_eq!(s2.range(1, 2, 8), (1, 4));
        assert_eq!(Need::Shift { top: 2 }.range(0, 3, 8), (0, 1));
        assert_eq!(Need::All.range(2, 3, 8), (0, 8));
        assert_eq!(Need::Same.range(3, 3, 8), (0, 0));
    }

    fn row_op(h: i64, banded: bool) -> RowOp {
        RowOp { h, banded, inputs: vec![] }
    }

    #[test]
    fn a_source_splits_evenly_and_a_consumer_follows_its_producer_row_for_row() {
        let (src, src_tail) = band_ends(&row_op(56, true), &[], 8);
        assert_eq!((src.as_slice(), src_tail), (&[7, 14, 21, 28, 35, 42, 49, 56][..], 49));
        // A 3x3 convolution (pad 1) after it: each band ends a row before its producer's,
        // so it waits for no later band; the end stays as fine as the producer's.
        let w = Need::Window { k: 3, s: 1, pad: 1, d: 1 };
        // The rows after 48 all wait for the source's last band: each its own band, so that
        // the next layer's last rows follow row by row instead of piling up.
        let (c1, t1) = band_ends(&row_op(56, true), &[(&src, src_tail, 56, w)], 8);
        assert_eq!((c1, t1), ((6..=48).step_by(7).chain(49..=56).collect::<Vec<_>>(), 48));
        let (c1, _) = band_ends(&row_op(56, true), &[(&src, src_tail, 56, w)], 8);
        let (c2, _) = band_ends(&row_op(56, true), &[(&c1, t1, 56, w)], 8);
        assert_eq!(c2, (5..=40).step_by(7).chain(47..=56).collect::<Vec<_>>());
        // A stride-2 layer halves the rows; a whole op is one band.
        let s2 = Need::Window { k: 3, s: 2, pad: 1, d: 1 };
        let (half, _) = band_ends(&row_op(28, true), &[(&src, src_tail, 56, s2)], 8);
        assert_eq!(half.last(), Some(&28));
        assert!(half.iter().all(|&y| y <= 28) && half.windows(2).all(|p| p[0] < p[1]), "{half:?}");
        assert_eq!(band_ends(&row_op(1, false), &[(&src, src_tail, 56, Need::All)], 8).0, vec![1]);
    }

    fn layer_op(replicas: &[(u32, u32, u64)]) -> OpTasks {
        OpTasks {
            node: NodeId(0),
            tokens: vec![],
            reads: vec![],
            tasks: replicas
                .iter()
                .map(|&(replica, core, n)| Task::Layer {
                    core: CoreId(core),
                    replica,
                    unit: 0,
                    groups: vec![0],
                    windows: (0, n),
                    owner: CoreId(core),
                    helpers: vec![],
                    stream: None,
                })
                .collect(),
        }
    }

    #[test]
    fn replicas_on_one_core_take_turns_and_cores_share_in_proportion() {
        // Replicas 0 and 1 on core 0 (20 windows in the mapping), replica 2 on core 1 (60).
        let mut s = ReplicaShares::new(&layer_op(&[(0, 0, 10), (1, 0, 10), (2, 1, 60)]));
        let a = s.split(0, 40, 1);
        assert_eq!(a, [(0, (0, 10)), (2, (10, 40))].into());
        let b = s.split(40, 80, 1);
        assert_eq!(b, [(1, (40, 50)), (2, (50, 80))].into());
    }

    #[test]
    fn a_column_format_band_goes_to_each_set_as_its_stripe() {
        // Core 0 holds replicas 0 and 1 (20 windows in the mapping), core 1 replica 2 (60):
        // of 8 columns, core 0 streams the first 2 with its first replica, core 1 the rest;
        // each band is whole rows for both.
        let s = ReplicaShares::new(&layer_op(&[(0, 0, 10), (1, 0, 10), (2, 1, 60)]));
        assert_eq!(s.stripes(8), vec![(0, 2), (2, 8)]);
        let band = s.stripe_parts(16, 32, 8);
        assert_eq!(band, [(0, ((16, 32), Some((0, 2)))), (2, ((16, 32), Some((2, 8))))].into());
        // A set too small for a column of its own gets none; the stripes still tile the row.
        let s = ReplicaShares::new(&layer_op(&[(0, 0, 1), (1, 1, 99)]));
        assert_eq!(s.stripes(4), vec![(0, 0), (0, 4)]);
        assert_eq!(s.stripe_parts(0, 4, 4).keys().copied().collect::<Vec<_>>(), vec![1]);
    }

    proptest::proptest! {
        /// Every band's windows go to the replicas exactly once, and over all bands each set
        /// of cores gets its mapping's share to within two runs.
        #[test]
        fn shares_cover_every_window_once(
            weights in proptest::collection::vec(0u64..50, 1..6),
            cuts in proptest::collection::vec(0u64..40, 1..12),
            quantum in 1u64..9,
        ) {
            let reps: Vec<(u32, u32, u64)> = weights.iter().enumerate().map(|(k, &w)| (k as u32, k as u32, w)).collect();
            let mut s = ReplicaShares::new(&layer_op(&reps));
            let mut at = 0;
            let mut got = vec![0u64; weights.len()];
            for len in cuts {
                let split = s.split(at, at + len, quantum);
                let mut ranges: Vec<(u64, u64)> = split.values().copied().collect();
                ranges.sort_unstable();
                let mut next = at;
                for (a, b) in ranges {
                    proptest::prop_assert_eq!(a, next);
                    next = b;
                }
                proptest::prop_assert_eq!(next, at + len);
                for (r, (a, b)) in split {
                    got[r as usize] += b - a;
                }
                at += len;
            }
            let total: u64 = weights.iter().sum();
            if total > 0 {
                for (k, &w) in weights.iter().enumerate() {
                    let want = at as f64 * w as f64 / total as f64;
                    // Runs are whole quanta but a band's last may be short: two runs' slack.
                    let slack = 2.0 * quantum as f64;
                    proptest::prop_assert!((got[k] as f64 - want).abs() <= slack + 1e-9, "{got:?} {weights:?}");
                }
            }
        }
    }

    #[test]
    fn last_fitting_finds_the_boundary() {
        assert_eq!(last_fitting(0, 10, |y| y <= 6), 6);
        assert_eq!(last_fitting(3, 10, |_| false), 3);
        assert_eq!(last_fitting(0, 10, |_| true), 10);
    }
}
