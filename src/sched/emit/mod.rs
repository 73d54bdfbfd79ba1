//! The emitter: writes every task's instructions into its core's program.
//!
//! Loops are written directly: a task's work (windows, rows, chunks) is split into regions
//! within which the instructions of consecutive items differ only by constant address
//! strides, and [`repeat`] turns a region into one loop after checking that on its first,
//! second and last item. A region's body is generated a constant number of times, whatever
//! its length, so compile time follows the static program.

mod act;
mod crossbar;
mod extension;
mod scatter;
mod vector;

use super::ht::Step;
use super::memory::{value_name, CoreBuilder, GlobalPlan};
use super::tasks::{OpTasks, Task, TaskGraph};
use super::SchedError;
use crate::arch::{Arch, CoreId};
use crate::graph::{Graph, NodeId, Op};
use crate::isa::{Addr, Inst, Layer, Line, Program, Stmt, VecOp};
use crate::mapping::Mapping;
use std::collections::BTreeMap;

pub(crate) fn inst(i: Inst) -> Stmt {
    Stmt::Inst(i, Line::NONE)
}

/// `count` iterations of `body(k, depth)` for k = 0..count. When consecutive iterations
/// differ only by constant address strides (checked on the first, second and last), this is
/// one `Repeat` whose counter is loop level `depth`, and the body is generated for nesting
/// depth `depth + 1`. Otherwise the range is split in halves (iterations alone when few) and
/// each part tried again, so a stray irregular item costs a few loops, not an unrolling.
pub fn repeat(depth: u8, count: i64, body: &dyn Fn(i64, u8) -> Vec<Stmt>) -> Vec<Stmt> {
    if count <= 0 {
        return vec![];
    }
    if count == 1 {
        return body(0, depth);
    }
    let b0 = body(0, depth + 1);
    let b1 = body(1, depth + 1);
    let mut delta = vec![];
    // An empty first item says nothing about the others (they may not be empty): no loop.
    if !b0.is_empty() && crate::isa::reroll::shift_diff(&b0, &b1, &mut delta) {
        let last_ok = count == 2 || {
            let bl = body(count - 1, depth + 1);
            let mut dl = vec![];
            crate::isa::reroll::shift_diff(&b0, &bl, &mut dl)
                && dl.len() == delta.len()
                && dl.iter().zip(&delta).all(|(&l, &d)| d.checked_mul(count - 1) == Some(l))
        };
        if last_ok {
            #[cfg(debug_assertions)]
            check_affine(depth, count, body, &b0, &delta);
            let mut b = b0;
            let mut k = 0;
            crate::isa::reroll::visit_addrs_mut(&mut b, &mut |a| {
                a.add_term(depth, delta[k]).expect("the new loop level has no term yet");
                k += 1;
            });
            return vec![Stmt::Repeat { start: 0, count, body: b }];
        }
    }
    if count <= 4 {
        return (0..count).flat_map(|k| body(k, depth)).collect();
    }
    let half = count / 2;
    let mut out = repeat(depth, half, body);
    out.extend(repeat(depth, count - half, &|k, d| body(half + k, d)));
    out
}

/// Checks (in debug builds, so every test does) that the items the loop stands for really are
/// its first item shifted: all of them for short loops, a spread of samples for long ones.
/// Regions are built so this holds; a failure is an emitter bug.
#[cfg(debug_assertions)]
fn check_affine(depth: u8, count: i64, body: &dyn Fn(i64, u8) -> Vec<Stmt>, b0: &[Stmt], delta: &[i64]) {
    let samples: Vec<i64> =
        if count <= 4096 { (2..count - 1).collect() } else { (1..64).map(|s| s * (count - 1) / 64).collect() };
    for k in samples {
        let mut dk = vec![];
        let ok = crate::isa::reroll::shift_diff(b0, &body(k, depth + 1), &mut dk)
            && dk.iter().zip(delta).all(|(&x, &d)| x == d * k);
        assert!(ok, "emitter: item {k} of a loop of {count} is not the first item shifted");
    }
}

/// `[lo, hi)` cut at the interior range `[a, b)`: each index outside it alone, the interior
/// as one range (regions of items with the same instruction shape).
pub fn regions(lo: i64, hi: i64, (a, b): (i64, i64)) -> Vec<(i64, i64)> {
    let mut out = vec![];
    let (a, b) = (a.clamp(lo, hi), b.clamp(lo, hi));
    if a >= b {
        return (lo..hi).map(|x| (x, x + 1)).collect();
    }
    out.extend((lo..a).map(|x| (x, x + 1)));
    out.push((a, b));
    out.extend((b..hi).map(|x| (x, x + 1)));
    out
}

/// `[lo, hi)` cut into runs of output positions at which the same kernel taps (offsets
/// `taps`, in kernel units) lie inside the input: within a run the patch has one shape (the
/// same taps loaded, the same zero-filled), so each run is one loop. A run changes only where
/// some tap enters or leaves the input, so there are at most two cuts per tap, however wide
/// the padding (the old cut, one region per position outside the interior, made the program
/// grow with the padding).
pub fn tap_runs(
    (lo, hi): (i64, i64),
    outputs: i64,
    input: i64,
    taps: impl IntoIterator<Item = i64>,
    stride: i64,
    pad: i64,
    dilation: i64,
) -> Vec<(i64, i64)> {
    let mut cuts = vec![lo, hi];
    for k in taps {
        let (a, b) = interior(outputs, input, (k, k), stride, pad, dilation);
        cuts.extend([a, b]);
    }
    cuts.retain(|&c| (lo..=hi).contains(&c));
    cuts.sort_unstable();
    cuts.dedup();
    cuts.windows(2).map(|w| (w[0], w[1])).collect()
}

/// The statements of `regions`, each region one [`repeat`] of `body(index, depth)`.
pub fn over_regions(depth: u8, regions: &[(i64, i64)], body: &dyn Fn(i64, u8) -> Vec<Stmt>) -> Vec<Stmt> {
    regions.iter().flat_map(|&(a, b)| repeat(depth, b - a, &|k, d| body(a + k, d))).collect()
}

/// The output positions `o` of a sliding window at which kernel taps `k_first..=k_last` all
/// lie inside the input: `o * stride - pad + k * dilation` within `[0, input)`.
pub fn interior(
    outputs: i64,
    input: i64,
    (k_first, k_last): (i64, i64),
    stride: i64,
    pad: i64,
    dilation: i64,
) -> (i64, i64) {
    let stride = stride.max(1);
    let need = pad - k_first * dilation;
    let first = if need <= 0 { 0 } else { (need + stride - 1).div_euclid(stride) };
    let reach = input - 1 + pad - k_last * dilation;
    let last = if reach < 0 { -1 } else { reach.div_euclid(stride) };
    (first.clamp(0, outputs), (last + 1).clamp(0, outputs))
}

/// The shares of `units` work units: share `index` of `of` takes `[index*units/of, (index+1)*units/of)`.
pub fn share(units: i64, index: usize, of: usize) -> (i64, i64) {
    let (k, n) = (index as i128, of.max(1) as i128);
    let u = units as i128;
    ((k * u / n) as i64, ((k + 1) * u / n) as i64)
}

/// A core's part of a vector op: share `index` of `of` of its work, or, with `rows`, of
/// those output rows only (a band of the element pipeline, `crate::sched::ll`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    pub index: usize,
    pub of: usize,
    pub rows: Option<(i64, i64)>,
}

impl Part {
    /// The part's units of `units` (output rows, or whatever else the op shares): its share
    /// of the band's rows, or of all.
    pub fn rows(&self, units: i64) -> (i64, i64) {
        match self.rows {
            Some((a, b)) => {
                let a = a.clamp(0, units);
                let b = b.clamp(a, units);
                // The shares turn with the band's first row, so that bands of fewer rows
                // than cores do not all fall to the same few.
                let of = self.of.max(1);
                let turn = (self.index + a as usize % of) % of;
                let (x, y) = share(b - a, turn, of);
                (a + x, a + y)
            }
            None => share(units, self.index, self.of),
        }
    }

    /// The part's elements `[e0, e1)` of `total`, `row` per output row: whole rows of the
    /// band, or without one, whole chunks of `vector::CHUNK` elements.
    pub fn elements(&self, total: i64, row: i64) -> (i64, i64) {
        let chunk = vector::CHUNK;
        match self.rows {
            Some(_) if row > 0 => {
                let (a, b) = self.rows(total / row);
                (a * row, b * row)
            }
            _ => {
                let (u0, u1) = share((total + chunk - 1) / chunk, self.index, self.of);
                (u0 * chunk, (u1 * chunk).min(total))
            }
        }
    }
}

/// Writes tasks into core programs.
pub struct Emitter<'a> {
    pub g: &'a Graph,
    pub m: &'a Mapping,
    pub arch: &'a Arch,
    pub plan: GlobalPlan,
    pub cores: BTreeMap<CoreId, CoreBuilder>,
    pub layers: Vec<Layer>,
    /// Bytes per activation element.
    pub eb: i64,
    /// The task each core works on, as last marked.
    marked: BTreeMap<CoreId, crate::isa::Task>,
    /// ReLUs run by the element-wise op before them ([`crate::mapping::fused_activations`]):
    /// by op, the ReLU; and the ReLUs whose work was emitted so.
    pub(crate) fused: BTreeMap<NodeId, NodeId>,
    pub(crate) fused_done: std::collections::BTreeSet<NodeId>,
    /// Whether each task gets local buffers of its own (the element pipeline's bands; see
    /// [`CoreBuilder::scope`]).
    pub band_buffers: bool,
    /// The strips cores stream, by (core, layer, replica, unit).
    pub(crate) streams: std::collections::HashMap<(CoreId, NodeId, u32, u32), scatter::Stream>,
}

/// What an op needs once, before its first task is written.
pub(crate) enum Prepared {
    Layer(Box<crossbar::LayerSetup>),
    /// Globals holding per-channel vectors, for a standalone batch normalization.
    Channelwise(Vec<(VecOp, u32)>),
    None,
}

impl<'a> Emitter<'a> {
    pub fn new(g: &'a Graph, m: &'a Mapping, arch: &'a Arch, plan: GlobalPlan) -> Self {
        let eb = plan.eb;
        let fused = crate::mapping::fused_activations(g, m);
        Emitter {
            g,
            m,
            arch,
            plan,
            cores: BTreeMap::new(),
            layers: vec![],
            eb,
            marked: BTreeMap::new(),
            fused,
            fused_done: Default::default(),
            band_buffers: false,
            streams: Default::default(),
        }
    }

    pub fn core(&mut self, id: CoreId) -> &mut CoreBuilder {
        self.cores.entry(id).or_insert_with(|| CoreBuilder::new(id))
    }

    /// Marks what `core` works on from here (unless it already does).
    fn mark(&mut self, core: CoreId, t: crate::isa::Task) {
        if self.marked.get(&core) != Some(&t) {
            self.core(core).emit([Stmt::Task(t.clone())]);
            self.marked.insert(core, t);
        }
    }

    /// Writes the steps in order.
    pub fn run(&mut self, tg: &TaskGraph, steps: &[Step<'_>]) -> Result<(), SchedError> {
        let _ = tg;
        // Once per op, at its first task (the element pipeline interleaves ops' tasks).
        let mut prepared: BTreeMap<NodeId, Prepared> = BTreeMap::new();
        for step in steps {
            match *step {
                Step::Token { op, from, to } => {
                    let eb = self.eb;
                    let name = value_name(self.g, op.node);
                    for c in [from, to] {
                        self.mark(c, crate::isa::Task { sync: true, ..crate::isa::Task::compute(&name) });
                    }
                    let c = self.core(from);
                    let tok = c.buf("token", eb);
                    c.emit([inst(Inst::Send { rs1: Addr::local(tok, 0), core: to, size: eb as u32 })]);
                    let c = self.core(to);
                    let tok = c.buf("token", eb);
                    c.emit([inst(Inst::Recv { rd: Addr::local(tok, 0), core: from, size: eb as u32 })]);
                }
                Step::Task { op, task } => {
                    if let std::collections::btree_map::Entry::Vacant(e) = prepared.entry(op.node) {
                        e.insert(self.prepare(op)?);
                    }
                    let prepared = &prepared[&op.node];
                    let name = value_name(self.g, op.node);
                    let marker = match *task {
                        Task::Layer { replica, windows, .. } => crate::isa::Task {
                            replica: Some(replica),
                            windows: Some(windows),
                            ..crate::isa::Task::compute(&name)
                        },
                        Task::Vector { .. } => crate::isa::Task::compute(&name),
                    };
                    self.mark(task.core(), marker);
                    let core = task.core();
                    let scope = match *task {
                        Task::Layer { windows, .. } => windows.0,
                        Task::Vector { rows, .. } => rows.map_or(0, |r| r.0.max(0) as u64),
                    };
                    if self.band_buffers {
                        self.core(core).scope = Some(format!("b{scope}"));
                    }
                    self.task(op, task, prepared)?;
                    self.core(core).scope = None;
                }
            }
        }
        // Every core sets its data widths once, first.
        let (ibiw, obiw) = (self.arch.activation_bits, self.arch.activation_bits);
        for c in self.cores.values_mut() {
            c.prog.body.insert(0, inst(Inst::SetBw { ibiw, obiw }));
        }
        Ok(())
    }

    fn prepare(&mut self, op: &OpTasks) -> Result<Prepared, SchedError> {
        let i = op.node;
        match &self.g.nodes[i].op {
            Op::Conv2d(_) | Op::Fc(_) => Ok(Prepared::Layer(Box::new(self.prepare_layer(i)?))),
            Op::BatchNorm(bn) => Ok(Prepared::Channelwise(self.prepare_batchnorm(i, bn)?)),
            Op::Softmax { .. } => self.need_extensions(i, "softmax").map(|()| Prepared::None),
            Op::Lrn(_) => self.need_extensions(i, "local response normalization").map(|()| Prepared::None),
            _ => Ok(Prepared::None),
        }
    }

    fn task(&mut self, op: &OpTasks, task: &Task, prepared: &Prepared) -> Result<(), SchedError> {
        let i = op.node;
        match (task, prepared) {
            (Task::Layer { .. }, Prepared::Layer(setup)) => self.layer_task(i, setup, task),
            (Task::Vector { core, index, of, rows }, _) => {
                let (core, part) = (*core, Part { index: *index, of: *of, rows: *rows });
                match &self.g.nodes[i].op {
                    // Already stored by the op before it, on this core.
                    Op::Act(_) if self.fused_done.contains(&i) => Ok(()),
                    Op::Act(a) => self.activation(i, &act::ActProgram::of(*a), core, part),
                    Op::Add => self.elementwise(i, VecOp::Vvadd, core, part),
                    Op::Mul => self.elementwise(i, VecOp::Vvmul, core, part),
                    Op::MaxPool(p) => self.pool(i, &p.clone(), false, core, part),
                    Op::AvgPool(p) => self.pool(i, &p.clone(), true, core, part),
                    Op::GlobalAvgPool => self.global_avgpool(i, core, part),
                    Op::Concat { axis } => self.concat(i, *axis, core, part),
                    Op::BatchNorm(_) => match prepared {
                        Prepared::Channelwise(ops) => {
                            let x = self.g.nodes[i].inputs[0];
                            self.channelwise(i, x, &ops.clone(), core, part)
                        }
                        _ => Err(SchedError::at(i, "batch normalization was not prepared")),
                    },
                    Op::ChannelShuffle { groups } => self.channel_shuffle(i, *groups, core, part),
                    Op::Flatten { .. } => self.flatten_output(i, core),
                    Op::Pad { pads, value } => self.pad(i, *pads, *value, core, part),
                    Op::Softmax { axis } => self.softmax(i, *axis, core, part),
                    Op::Lrn(l) => self.lrn(i, &l.clone(), core, part),
                    other => Err(SchedError::at(i, format!("'{}' cannot be scheduled", other.mnemonic()))),
                }
            }
            (Task::Layer { .. }, _) => Err(SchedError::at(i, "a crossbar task of an op that is not a layer")),
        }
    }

    pub fn finish(self, arch_spec: &str, weights: Option<String>) -> Program {
        Program {
            source: String::new(),
            arch: arch_spec.to_string(),
            weights,
            layers: self.layers,
            globals: self.plan.globals,
            cores: self.cores.into_values().map(|c| c.prog).collect(),
            comments: Default::default(),
            record_lines: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ld(dst: i64, src: i64) -> Stmt {
        inst(Inst::Ld { rd: Addr::local(0, dst), rs1: Addr::global(0, src), size: 8 })
    }

    #[test]
    fn an_affine_range_is_one_loop_built_from_three_samples() {
        let calls = std::cell::Cell::new(0);
        let out = repeat(0, 1000, &|k, _| {
            calls.set(calls.get() + 1);
            vec![ld(0, 16 * k + 4)]
        });
        // Debug builds check a spread of further items (check_affine).
        assert!(calls.get() == 3 || cfg!(debug_assertions), "{}", calls.get());
        let [Stmt::Repeat { count: 1000, body, .. }] = out.as_slice() else { panic!("{out:?}") };
        let Stmt::Inst(Inst::Ld { rs1, .. }, _) = &body[0] else { panic!() };
        assert_eq!((rs1.offset, rs1.terms.as_slice()), (4, &[(0u8, 16i64)][..]));
    }

    #[test]
    fn an_irregular_item_splits_the_range() {
        // The last item breaks the stride: the range becomes a few loops, same stream.
        let body = |k: i64, _| vec![ld(0, if k == 11 { 999 } else { 16 * k })];
        let out = repeat(0, 12, &body);
        let mut p = crate::isa::Program::default();
        p.cores.push(crate::isa::CoreProgram {
            id: crate::arch::CoreId(0),
            line: Line::NONE,
            ags: vec![],
            buffers: vec![],
            body: out,
        });
        let mut srcs = vec![];
        p.cores[0]
            .for_each(|i, _, c| {
                if let Inst::Ld { rs1, .. } = i {
                    srcs.push(rs1.offset_at(c));
                }
                Ok::<(), ()>(())
            })
            .unwrap();
        let want: Vec<i64> = (0..12).map(|k| if k == 11 { 999 } else { 16 * k }).collect();
        assert_eq!(srcs, want);
        assert!(p.cores[0].static_count() <= 6, "{}", p.cores[0].static_count());
    }

    #[test]
    fn empty_first_items_make_no_loop() {
        // Items 0, 1 and 5 are empty, 2..=4 are not: a loop built from the samples would
        // drop them.
        let out = repeat(0, 6, &|k, _| if (2..5).contains(&k) { vec![ld(0, k)] } else { vec![] });
        let lds = out.iter().filter(|s| matches!(s, Stmt::Inst(Inst::Ld { .. }, _))).count();
        assert_eq!(lds, 3, "{out:?}");
    }

    #[test]
    fn interior_and_regions_of_a_padded_window() {
        // 3x3, pad 1, stride 1 over 8: outputs 1..7 see no padding.
        assert_eq!(interior(8, 8, (0, 2), 1, 1, 1), (1, 7));
        // Stride 2, pad 3, 7x7 over 224 (ResNet's first conv): outputs 2..=110.
        assert_eq!(interior(112, 224, (0, 6), 2, 3, 1), (2, 111));
        // A kernel wider than the input has no interior.
        assert_eq!(interior(3, 2, (0, 2), 1, 1, 1), (1, 1));
        // Only the middle tap of a 3-tap kernel: every position.
        assert_eq!(interior(8, 8, (1, 1), 1, 1, 1), (0, 8));
        assert_eq!(regions(0, 8, (1, 7)), vec![(0, 1), (1, 7), (7, 8)]);
        assert_eq!(regions(3, 5, (1, 7)), vec![(3, 5)]);
        assert_eq!(regions(0, 3, (2, 1)), vec![(0, 1), (1, 2), (2, 3)]);
        assert_eq!(share(10, 2, 3), (6, 10));
        // 3 taps, pad 1, over 8: the two edge positions each see a different tap missing.
        assert_eq!(tap_runs((0, 8), 8, 8, 0..3, 1, 1, 1), vec![(0, 1), (1, 7), (7, 8)]);
        // Pad 100 around 6: all-padding runs are one run each side, not 98 positions.
        let runs = tap_runs((0, 204), 204, 6, 0..3, 1, 100, 1);
        assert_eq!(runs.first(), Some(&(0, 98)));
        assert_eq!(runs.last(), Some(&(106, 204)));
        assert!(runs.len() <= 7, "{runs:?}");
    }
}
