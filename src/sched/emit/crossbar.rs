//! Crossbar layers: per window, gather the input patch rows of the core's array groups
//! (`lmv` from a band of input rows loaded once per task when it fits a quarter of local
//! memory, else `ld` from global memory; `lldi` zeros for padding, or zeros laid into the
//! band of a packed matrix), `mvmul` per group, add locally, and `send`
//! the sum to the replica's owner; the owner `recv`s from each helper and adds, adds the bias,
//! applies the activation (ReLU rides on `mvmul` when nothing is added after the product) and
//! stores the result. A folded batch normalization costs no instruction: the layer's columns
//! are scaled when the weights are read, and its bias buffer holds the combined shift.

use super::act::ActProgram;
use super::{inst, over_regions, repeat, tap_runs, Emitter};
use crate::graph::{Act, NodeId, Op};
use crate::isa::{Addr, ArrayGroup, BnRef, GlobalInit, Inst, Layer, Line, Stmt, VecOp, WeightLayout};
use crate::sched::memory::Layout;
use crate::sched::tasks::Task;
use crate::sched::SchedError;
use crate::unfold::{clip, Segment, Unfolding, Window};

/// What every task of a layer shares.
pub(crate) struct LayerSetup {
    pub(super) name: String,
    pub(super) unfolding: Unfolding,
    /// The input window walk (None for a fully connected layer: one window, the whole input).
    pub(super) window: Option<Window>,
    /// Output rows and windows per row.
    pub(super) out_hw: (i64, i64),
    pub(super) in_g: u32,
    pub(super) out_g: u32,
    pub(super) bias_g: Option<u32>,
    pub(super) act: Option<Act>,
    /// The activation applied on the way out (ReLU may instead ride on the crossbar).
    pub(super) act_prog: Option<ActProgram>,
    /// A residual map added after the bias and before the activation (`sched::fuse`): its
    /// global buffer, laid out as the output.
    pub(super) residual: Option<u32>,
}

/// What the owner of a unit sets up once per task: the bias (loaded) and the activation's
/// constants; `cols` outputs from layer column `col0`.
pub(super) struct OwnerSetup<'p> {
    pub bias: Option<u32>,
    pub act: Option<(&'p ActProgram, super::act::ActBufs)>,
    /// A fused residual: its global buffer and the local buffer a window's slice goes to.
    pub residual: Option<(u32, u32)>,
}

impl OwnerSetup<'_> {
    /// Adds the residual's `len` outputs at output element `at` into `dst` (nothing without
    /// a residual).
    pub fn add_residual(&self, dst: Addr, at: i64, len: i64, eb: i64) -> Vec<Stmt> {
        let Some((rg, rb)) = self.residual else { return vec![] };
        vec![
            inst(Inst::Ld { rd: Addr::local(rb, 0), rs1: Addr::global(rg, at * eb), size: (len * eb) as u32 }),
            inst(Inst::Vec {
                op: VecOp::Vvadd,
                rd: dst.clone(),
                rs1: dst,
                rs2: Some(Addr::local(rb, 0)),
                len: len as u32,
            }),
        ]
    }
}

impl Emitter<'_> {
    pub(crate) fn prepare_layer(&mut self, i: NodeId) -> Result<LayerSetup, SchedError> {
        let g = self.g;
        let n = &g.nodes[i];
        let l = self.m.layers.get(&i).ok_or_else(|| SchedError::at(i, "layer is not partitioned"))?;
        let name = n.op.layer_name().unwrap_or("?").to_string();
        let input = n.inputs[0];
        let in_layout = self.plan.layout_of(input);
        let (in_g, out_g) = (self.plan.global_of(input), self.plan.global_of(n.output));
        let (bias, bn, act) = match &n.op {
            Op::Conv2d(c) => (c.bias.clone(), c.bn.clone(), c.act),
            Op::Fc(f) => (f.bias.clone(), f.bn.clone(), f.act),
            _ => return Err(SchedError::at(i, "not a crossbar layer")),
        };
        // The activation applied on the way out (ReLU may also ride on the crossbar).
        let act_prog = act.map(ActProgram::of);
        let u = l.unfolding;
        let (weight, layout, window, out_hw) = match (&n.op, in_layout) {
            (Op::Conv2d(c), Layout::Hwc { c: ch, h, w }) => {
                let o = g.shape(n.output);
                let window = Window {
                    channels: ch,
                    height: h,
                    width: w,
                    strides: c.strides,
                    pads: [c.pads[0], c.pads[1]],
                    dilations: c.dilations,
                };
                (c.weight.clone(), WeightLayout::Oihw, Some(window), (o[2], o[3]))
            }
            (Op::Fc(f), Layout::Flat(_) | Layout::FlatHwc { .. }) => {
                (f.weight.clone(), WeightLayout::Fc { transposed: f.transpose_weight }, None, (1, 1))
            }
            (_, l) => return Err(SchedError::at(i, format!("layer input laid out as {l:?} is not supported"))),
        };
        // Every output channel of the layer (all its matrices).
        let cols = u.groups * u.out_channels;
        let bn = bn.map(|b| BnRef { gamma: b.gamma, beta: b.beta, mean: b.mean, var: b.var, eps: b.epsilon });
        self.layers.push(Layer {
            name: name.clone(),
            line: Line::NONE,
            weight,
            layout,
            unfolding: u,
            scale: bn.clone(),
        });
        // The bias vector: the layer's own, or the folded normalization's combined shift.
        let bias_init = match (&bias, &bn) {
            (b, Some(bn)) => Some(GlobalInit::Bias { bias: b.clone(), bn: bn.clone() }),
            (Some(b), None) => Some(GlobalInit::Weight { name: b.clone() }),
            (None, None) => None,
        };
        let bias_g = match bias_init {
            Some(init) => Some(self.plan.add_global(&format!("{name}.bias"), i64::from(cols), init)?),
            None => None,
        };
        // A fused residual add's other operand (`sched::fuse`), laid out as the output.
        let residual = match n.inputs.get(1) {
            Some(&r) if self.plan.layout_of(r) == self.plan.layout_of(n.output) => Some(self.plan.global_of(r)),
            Some(_) => return Err(SchedError::at(i, "a residual operand must be laid out as the layer's output")),
            None => None,
        };
        Ok(LayerSetup { name, unfolding: u, window, out_hw, in_g, out_g, bias_g, act, act_prog, residual })
    }

    pub(crate) fn layer_task(&mut self, i: NodeId, s: &LayerSetup, task: &Task) -> Result<(), SchedError> {
        let Task::Layer { core, replica, unit, groups, windows, owner, helpers, .. } = task else {
            return Err(SchedError::at(i, "not a layer task"));
        };
        if !s.unfolding.format.sums_matrices() {
            return self.scatter_task(i, s, task);
        }
        let l = &self.m.layers[&i];
        let specs = l.groups();
        let eb = self.eb;
        // This unit's rows and columns (its matrices stacked), and where its columns go among
        // the layer's outputs; `matrix` is its first, whose channels are the unit's.
        let u = &s.unfolding;
        let matrix = u.first_matrix(*unit);
        let (rows, cols) = u.unit_shape(*unit);
        let (rows, cols) = (i64::from(rows), i64::from(cols));
        let col0 = i64::from(u.output_channels_of(matrix).0);
        let out_cols = i64::from(s.unfolding.groups) * i64::from(s.unfolding.out_channels);
        let is_owner = core == owner;
        let cb = self.core(*core);
        let ag_ids = add_groups(cb, s, *replica, &specs, groups);
        let first = specs[groups[0]];
        let last = specs[*groups.last().expect("a task holds a group")];
        // The unit rows the groups hold (a group of matrix m starts at unit row
        // `unit_row(m, row_begin)`; groups are in row order).
        let (lo, hi) = (
            i64::from(u.unit_row(first.matrix, first.row_begin)),
            i64::from(u.unit_row(last.matrix, last.row_begin) + last.rows),
        );
        let name = &s.name;
        let patch = cb.buf(&format!("{name}.patch"), rows * eb);
        let acc = cb.buf(&format!("{name}.acc"), cols * eb);
        let partials: Vec<u32> = (1..groups.len()).map(|k| cb.buf(&format!("{name}.psum{k}"), cols * eb)).collect();
        let recv = (is_owner && !helpers.is_empty()).then(|| cb.buf(&format!("{name}.recv"), cols * eb));
        let setup = if is_owner {
            owner_setup(cb, s, col0, cols, eb)
        } else {
            OwnerSetup { bias: None, act: None, residual: None }
        };
        let (bias_buf, act) = (setup.bias, &setup.act);
        // ReLU rides on the crossbar when nothing has to be added after the product.
        let relu_on_mvmul = s.act == Some(Act::Relu)
            && groups.len() == 1
            && helpers.is_empty()
            && bias_buf.is_none()
            && s.residual.is_none();
        let mbiw = self.arch.weight_bits;
        let ow_n = s.out_hw.1;
        // Input reuse: the input rows the task's windows read, loaded once into a band with
        // the padding laid out as zeros (adjacent windows share most of their patches: a 3x3
        // convolution would load each element 9 times; and with the padding in the band every
        // window's patch has one shape, so the windows are one loop). The band holds the
        // matrix's channels only (a packed grouped convolution reads a few of them: then each
        // pixel is its own load). Taken when it fits a quarter of local memory, is at most
        // `BAND_FACTOR` times the patches' bytes and needs no more loads than the patches.
        let (c_first, c_count) = s.unfolding.input_channels_of(matrix);
        let (c_first, c_count) = (i64::from(c_first), i64::from(c_count));
        let band = match (&s.window, &self.g.nodes[i].op) {
            (Some(win), Op::Conv2d(c)) if windows.1 > windows.0 => {
                let (oh0, oh1) = (windows.0 as i64 / ow_n, (windows.1 as i64 - 1) / ow_n);
                let reach = |k: usize| (c.kernel[k] - 1) * win.dilations[k];
                // Band rows: padded rows oh0 * stride .. the last window's last tap.
                let rows_n = (oh1 - oh0) * win.strides[0] + reach(0) + 1;
                let top = oh0 * win.strides[0] - win.pads[0];
                let width = win.width;
                let all = c_count == win.channels;
                // A matrix of every channel takes the input rows as they are (one load; the
                // padding stays in the patches): measured, zeros in its band cost ResNet-18
                // 5% on pimcomp-default. A packed matrix's band has the padding (its windows
                // become one loop: EfficientNet-B0's program 5.9x smaller).
                // A task inside one row of windows takes only the input columns its windows
                // read (ResNet-18's first layer has ~10 windows per replica on
                // pimcomp-default: whole rows loaded 11x its input per sample).
                let (x_lo, x_hi) = if oh0 == oh1 {
                    let (ow0, ow1) = (windows.0 as i64 % ow_n, (windows.1 as i64 - 1) % ow_n);
                    let lo = (ow0 * win.strides[1] - win.pads[1]).clamp(0, width);
                    (lo, (ow1 * win.strides[1] - win.pads[1] + reach(1) + 1).clamp(lo, width))
                } else {
                    (0, width)
                };
                let (top, rows_n, left, band_w, x_lo) = if all {
                    let (a, b) = (top.clamp(0, win.height), (top + rows_n).clamp(0, win.height));
                    (a, b - a, 0, x_hi - x_lo, x_lo)
                } else {
                    (top, rows_n, win.pads[1], (width + win.pads[1]).max((ow_n - 1) * win.strides[1] + reach(1) + 1), 0)
                };
                let padded = top < 0 || top + rows_n > win.height || left > 0 || band_w > width + left;
                let elems = rows_n.saturating_mul(band_w).saturating_mul(c_count);
                let bytes = elems.saturating_mul(eb);
                let budget = i64::try_from(self.arch.local_memory_bytes() / 4).unwrap_or(i64::MAX);
                let n_win = (windows.1 - windows.0) as i64;
                let patches = n_win.saturating_mul(hi - lo).saturating_mul(eb);
                let in_rows: Vec<i64> = (0..rows_n).filter(|y| (0..win.height).contains(&(top + y))).collect();
                // Loads the band takes against those the patches would.
                let loads = if all { in_rows.len() as i64 } else { in_rows.len() as i64 * width };
                let patch_loads = n_win.saturating_mul(c.kernel[0] * if all { 1 } else { c.kernel[1] });
                (!in_rows.is_empty()
                    && bytes <= budget
                    && bytes <= BAND_FACTOR.saturating_mul(patches)
                    && bytes <= i64::from(u32::MAX)
                    && (all || (loads <= patch_loads && c.kernel[0] * c.kernel[1] >= PACKED_BAND_TAPS)))
                    .then(|| {
                        let cb = self.core(*core);
                        let buf = cb.buf(&format!("{name}.in"), bytes);
                        let mut fill = vec![];
                        let (y0, y1) = (in_rows[0], in_rows[in_rows.len() - 1] + 1);
                        let row_in = width * win.channels;
                        let row_band = band_w * c_count;
                        let zero = |at: i64, n: i64| {
                            inst(Inst::Lldi { rd: Addr::local(buf, at * eb), size: (n * eb) as u32, value: 0.0 })
                        };
                        // Only the padding is zeroed: rows above and below the input, and the
                        // columns left and right of it.
                        if y0 > 0 {
                            fill.push(zero(0, y0 * row_band));
                        }
                        if all && !padded && band_w == width {
                            // Whole rows, contiguous in the input and in the band: one load.
                            fill.push(inst(Inst::Ld {
                                rd: Addr::local(buf, 0),
                                rs1: Addr::global(s.in_g, (top + y0) * row_in * eb),
                                size: ((y1 - y0) * row_in * eb) as u32,
                            }));
                        } else {
                            let in_g = s.in_g;
                            let right = band_w - left - width;
                            fill.extend(repeat(0, y1 - y0, &|k, d| {
                                let y = y0 + k;
                                let dst = |x: i64| (y * band_w + left + x) * c_count;
                                let src = |x: i64| ((top + y) * row_in + (x_lo + x) * win.channels + c_first) * eb;
                                let mut b = vec![];
                                if left > 0 {
                                    b.push(zero(y * row_band, left * c_count));
                                }
                                if all {
                                    b.push(inst(Inst::Ld {
                                        rd: Addr::local(buf, dst(0) * eb),
                                        rs1: Addr::global(in_g, src(0)),
                                        size: (row_band * eb) as u32,
                                    }));
                                } else {
                                    b.extend(repeat(d, width, &|x, _| {
                                        vec![inst(Inst::Ld {
                                            rd: Addr::local(buf, dst(x) * eb),
                                            rs1: Addr::global(in_g, src(x)),
                                            size: (c_count * eb) as u32,
                                        })]
                                    }));
                                }
                                if right > 0 {
                                    b.push(zero(dst(width), right * c_count));
                                }
                                b
                            }));
                        }
                        if y1 < rows_n {
                            fill.push(zero(y1 * row_band, (rows_n - y1) * row_band));
                        }
                        cb.emit(fill);
                        let virt = crate::unfold::Window {
                            channels: c_count,
                            height: rows_n,
                            width: band_w,
                            strides: win.strides,
                            pads: [0, 0],
                            dilations: win.dilations,
                        };
                        Band { buf, virt, oh0, c_first, padded, top, x_lo, row_in, row_band, channels: win.channels }
                    })
            }
            _ => None,
        };
        let group_rows: Vec<i64> =
            groups.iter().map(|&gi| i64::from(u.unit_row(specs[gi].matrix, specs[gi].row_begin))).collect();
        let window_body = |w: i64| -> Vec<Stmt> {
            let (oh, ow) = (w / ow_n, w % ow_n);
            // The patch from the band (in its own coordinates, without padding), or from the input.
            let segs = match (&s.window, &band) {
                (_, Some(bd)) if bd.padded => s.unfolding.patch(*unit, &bd.virt, oh - bd.oh0, ow).unwrap_or_default(),
                (Some(win), _) => s.unfolding.patch(*unit, win, oh, ow).unwrap_or_default(),
                (None, _) => vec![Segment { at: 0, len: rows, src: Some(0) }],
            };
            let mut b = vec![];
            for sg in clip(&segs, lo, hi) {
                let rd = Addr::local(patch, sg.at * eb);
                let size = (sg.len * eb) as u32;
                b.push(inst(match (sg.src, &band) {
                    (Some(src), Some(bd)) => {
                        let at = if bd.padded { src - bd.c_first } else { bd.at(src) };
                        Inst::Lmv { rd, rs1: Addr::local(bd.buf, at * eb), size }
                    }
                    (Some(src), None) => Inst::Ld { rd, rs1: Addr::global(s.in_g, src * eb), size },
                    (None, _) => Inst::Lldi { rd, size, value: 0.0 },
                }));
            }
            let groups = Products { patch, group_rows: &group_rows, ag_ids: &ag_ids, sum: acc, partials: &partials };
            b.extend(groups.emit(cols, eb, relu_on_mvmul, mbiw));
            let vadd = |dst: u32, other: u32| {
                inst(Inst::Vec {
                    op: VecOp::Vvadd,
                    rd: Addr::local(dst, 0),
                    rs1: Addr::local(dst, 0),
                    rs2: Some(Addr::local(other, 0)),
                    len: cols as u32,
                })
            };
            if !is_owner {
                b.push(inst(Inst::Send { rs1: Addr::local(acc, 0), core: *owner, size: (cols * eb) as u32 }));
            } else {
                for h in helpers {
                    let rb = recv.expect("an owner with helpers has a receive buffer");
                    b.push(inst(Inst::Recv { rd: Addr::local(rb, 0), core: *h, size: (cols * eb) as u32 }));
                    b.push(vadd(acc, rb));
                }
                if let Some(bb) = bias_buf {
                    b.push(vadd(acc, bb));
                }
                b.extend(setup.add_residual(Addr::local(acc, 0), w * out_cols + col0, cols, eb));
                if let Some((prog, bufs)) = act {
                    b.extend(prog.apply(bufs, acc, cols as u32));
                }
                if let (Some(op), false) = (s.act_prog.as_ref().and_then(|p| p.single()), relu_on_mvmul) {
                    b.push(inst(Inst::Vec {
                        op,
                        rd: Addr::local(acc, 0),
                        rs1: Addr::local(acc, 0),
                        rs2: None,
                        len: cols as u32,
                    }));
                }
                b.push(inst(Inst::St {
                    rd: Addr::global(s.out_g, (w * out_cols + col0) * eb),
                    rs1: Addr::local(acc, 0),
                    size: (cols * eb) as u32,
                }));
            }
            b
        };
        // Only the kernel taps this core's rows touch decide where the patch has padding: in a
        // row of windows, the taps of kernel rows inside the input (those outside are zeros
        // whatever the column).
        let taps = touched_taps(&s.unfolding, matrix, lo, hi);
        let conv = match (&s.window, &self.g.nodes[i].op) {
            (Some(win), Op::Conv2d(c)) => Some((*win, c.kernel)),
            _ => None,
        };
        let row_runs = |r: (i64, i64)| match conv {
            Some((win, _)) => tap_runs(
                r,
                s.out_hw.0,
                win.height,
                taps.iter().map(|t| t.0),
                win.strides[0],
                win.pads[0],
                win.dilations[0],
            ),
            None => vec![r],
        };
        // The column runs of row `oh`: those of the taps in kernel rows inside the input.
        let col_runs = |oh: i64, c: (i64, i64)| {
            let Some((win, _)) = conv else { return vec![c] };
            let inside =
                |kh: i64| (0..win.height).contains(&(oh * win.strides[0] - win.pads[0] + kh * win.dilations[0]));
            let kws = taps.iter().filter(|t| inside(t.0)).flat_map(|t| t.1..=t.2);
            tap_runs(c, ow_n, win.width, kws, win.strides[1], win.pads[1], win.dilations[1])
        };
        // The windows row by row (partial first and last rows), each rectangle of rows cut into
        // the regions where the patch has one shape.
        let (w0, w1) = (windows.0 as i64, windows.1 as i64);
        let mut out = vec![];
        // With the padding in the band every window's patch has one shape: a rectangle is a loop.
        let uniform = band.as_ref().is_some_and(|b| b.padded);
        for (r0, r1, c0, c1) in rectangles(w0, w1, ow_n) {
            if uniform {
                out.extend(repeat(0, r1 - r0, &|k, d| {
                    over_regions(d, &[(c0, c1)], &|ow, _| window_body((r0 + k) * ow_n + ow))
                }));
                continue;
            }
            for (a, b) in row_runs((r0, r1)) {
                let cols = col_runs(a, (c0, c1));
                out.extend(repeat(0, b - a, &|k, d| over_regions(d, &cols, &|ow, _| window_body((a + k) * ow_n + ow))));
            }
        }
        self.core(*core).emit(out);
        Ok(())
    }
}

/// One product of a core's array groups: each group multiplies its rows of `patch` (from
/// unit row `group_rows[k]`) into `sum` (the first) or its partial, and the partials are
/// added into `sum`.
pub(super) struct Products<'a> {
    pub patch: u32,
    pub group_rows: &'a [i64],
    pub ag_ids: &'a [u32],
    pub sum: u32,
    pub partials: &'a [u32],
}

impl Products<'_> {
    /// The `mvmul`s and adds, for `cols` outputs of `eb` bytes.
    pub fn emit(&self, cols: i64, eb: i64, relu: bool, mbiw: u32) -> Vec<Stmt> {
        let mut b = vec![];
        for (k, (&row0, &ag)) in self.group_rows.iter().zip(self.ag_ids).enumerate() {
            let dst = if k == 0 { self.sum } else { self.partials[k - 1] };
            b.push(inst(Inst::Mvmul {
                rd: Addr::local(dst, 0),
                rs1: Addr::local(self.patch, row0 * eb),
                group: ag,
                relu,
                mbiw,
            }));
        }
        for &ps in self.partials {
            b.push(inst(Inst::Vec {
                op: VecOp::Vvadd,
                rd: Addr::local(self.sum, 0),
                rs1: Addr::local(self.sum, 0),
                rs2: Some(Addr::local(ps, 0)),
                len: cols as u32,
            }));
        }
        b
    }
}

/// Adds `groups` (of `specs`, replica `replica`) to the core's array-group table; their ids.
pub(super) fn add_groups(
    cb: &mut crate::sched::memory::CoreBuilder,
    s: &LayerSetup,
    replica: u32,
    specs: &[crate::mapping::AgSpec],
    groups: &[usize],
) -> Vec<u32> {
    groups
        .iter()
        .map(|&gi| {
            let a = specs[gi];
            cb.add_ag(ArrayGroup {
                layer: s.name.clone(),
                line: Line::NONE,
                replica,
                matrix: a.matrix,
                row_begin: i64::from(a.row_begin),
                rows: i64::from(a.rows),
                col_begin: i64::from(a.col_begin),
                cols: i64::from(a.cols),
                xbars: a.xbars,
            })
        })
        .collect()
}

/// The owner's bias (loaded from the layer's bias global, columns `col0 ..`) and the
/// activation's constants and temporaries (super::act), for vectors of `cols`, set once per
/// task.
pub(super) fn owner_setup<'p>(
    cb: &mut crate::sched::memory::CoreBuilder,
    s: &'p LayerSetup,
    col0: i64,
    cols: i64,
    eb: i64,
) -> OwnerSetup<'p> {
    let bias = s.bias_g.map(|bg| {
        let bb = cb.buf(&format!("{}.bias", s.name), cols * eb);
        cb.emit([inst(Inst::Ld {
            rd: Addr::local(bb, 0),
            rs1: Addr::global(bg, col0 * eb),
            size: (cols * eb) as u32,
        })]);
        bb
    });
    let act = match &s.act_prog {
        Some(prog) if prog.single().is_none() => {
            let (bufs, set) = prog.alloc(cb, &s.name, cols * eb);
            cb.emit(set);
            Some((prog, bufs))
        }
        _ => None,
    };
    let residual = s.residual.map(|rg| (rg, cb.buf(&format!("{}.res", s.name), cols * eb)));
    OwnerSetup { bias, act, residual }
}

/// A task's input band in local memory: rows `oh0 * stride ..` of the padded input, the
/// matrix's channels from `c_first`, padding as zeros; `virt` is its geometry as a window
/// walk without padding.
struct Band {
    buf: u32,
    virt: crate::unfold::Window,
    oh0: i64,
    c_first: i64,
    /// Whether the band has padding in it (then every window's patch has one shape, read in
    /// `virt`'s coordinates); otherwise patches read input element `e` at [`Band::at`].
    padded: bool,
    /// Without padding: the band holds input rows `top..` and columns `x_lo..`, `row_band`
    /// elements per row (`row_in` in the input), of `channels` channels.
    top: i64,
    x_lo: i64,
    row_in: i64,
    row_band: i64,
    channels: i64,
}

impl Band {
    /// Where input element `e` sits in a band without padding (a patch segment never
    /// crosses an input row, so its elements stay contiguous in the band).
    fn at(&self, e: i64) -> i64 {
        (e / self.row_in.max(1) - self.top) * self.row_band + e % self.row_in.max(1) - self.x_lo * self.channels
    }
}

/// The kernel taps with patch rows in `[lo, hi)` of the unit of matrix `m`, in its (kh, kw,
/// channel) row order: `(kh, first kw, last kw)` for each kernel row touched, in order.
fn touched_taps(u: &Unfolding, m: u32, lo: i64, hi: i64) -> Vec<(i64, i64, i64)> {
    let ch = i64::from(u.input_channels_of(m).1);
    let kw_n = i64::from(u.kernel[1]);
    let row = kw_n * ch;
    (0..i64::from(u.kernel[0]))
        .filter_map(|kh| {
            let (a, b) = (lo.max(kh * row), hi.min((kh + 1) * row));
            (a < b).then(|| (kh, (a - kh * row) / ch, (b - 1 - kh * row) / ch))
        })
        .collect()
}

/// Windows `[w0, w1)` of a grid `width` wide, as row-major rectangles `(rows, cols)`: a
/// partial first row, the full rows, a partial last row.
pub fn rectangles(w0: i64, w1: i64, width: i64) -> Vec<(i64, i64, i64, i64)> {
    let mut out = vec![];
    if w0 >= w1 || width <= 0 {
        return out;
    }
    let (mut r, c) = (w0 / width, w0 % width);
    let mut w = w0;
    if c != 0 {
        let end = (r * width + width).min(w1);
        out.push((r, r + 1, c, end - r * width));
        w = end;
        r += 1;
    }
    let full = (w1 - w) / width;
    if full > 0 {
        out.push((r, r + full, 0, width));
        r += full;
        w += full * width;
    }
    if w < w1 {
        out.push((r, r + 1, 0, w1 - w));
    }
    out
}

/// A band of input rows is loaded when it is at most this many times the bytes of the
/// task's patches: one load instead of one per kernel row and window is worth some volume.
/// Measured on pimcomp-default (16-bit, global memory the bottleneck), throughput with 6
/// samples against no band: ResNet-18 38.0 -> 78.1, ResNet-34 23.0 -> 71.1, ResNet-50
/// 22.3 -> 23.3, AlexNet 90.9 -> 88.1, MobileNetV2 94.1 -> 88.7, VGG-8 816 -> 544, LeNet-5
/// 4814 -> 3980 (a factor of 1 or 2 keeps the small ones and loses the ResNets' gain).
const BAND_FACTOR: i64 = 4;

/// A packed matrix (a few channels of a grouped convolution) gets a band only for kernels
/// of at least this many taps (every 3x3 or larger one). Its band costs a load per pixel and
/// an `lmv` per tap; without it each window loads every tap from global memory, the
/// model's bottleneck on pimcomp-default. Simulated period (ga, 8 samples, throughput capped
/// by global memory) with a threshold of 16 -> 9: MobileNetV2 94.4 -> 73.3 ms, ShuffleNet
/// 50.6 -> 48.2, EfficientNet-B0 206.2 -> 192.6, MobileNetV3-Small 30.1 -> 30.0. (16 was
/// chosen on 4-sample runs whose throughput was not capped and read the pipeline fill.)
const PACKED_BAND_TAPS: i64 = 9;

#[cfg(test)]
mod tests {
    use super::rectangles;

    #[test]
    fn windows_cut_into_row_rectangles() {
        assert_eq!(rectangles(0, 12, 4), vec![(0, 3, 0, 4)]);
        assert_eq!(rectangles(2, 11, 4), vec![(0, 1, 2, 4), (1, 2, 0, 4), (2, 3, 0, 3)]);
        assert_eq!(rectangles(5, 7, 4), vec![(1, 2, 1, 3)]);
        assert_eq!(rectangles(3, 3, 4), vec![]);
    }
}
