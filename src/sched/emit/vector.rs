//! Vector ops: load chunks or rows from global memory, compute with vector instructions,
//! store back. Activations and `add`/`mul` of equal shapes work in chunks of [`CHUNK`]
//! elements; a per-channel operand row by row (one instruction per pixel with the C-vector);
//! pooling row by row; channel shuffle with one strided `vmv` per run of output channels.

use super::{inst, over_regions, regions, repeat, tap_runs, Emitter, Part};
use crate::arch::CoreId;
use crate::graph::{BatchNorm, NodeId, Pool, ValueId};
use crate::isa::{Addr, BnRef, GlobalInit, Inst, Stmt, VecOp};
use crate::sched::memory::{value_name, Layout};
use crate::sched::SchedError;
use std::collections::BTreeMap;

/// Largest vector (elements) an element-wise op handles at once.
pub const CHUNK: i64 = 2048;

/// The chunks of elements `[e0, e1)` (chunk `k` starts at `e0 + k * CHUNK`) as regions of
/// one instruction shape: the full chunks, then a short last one.
fn chunk_regions(e0: i64, e1: i64) -> Vec<(i64, i64)> {
    let n = (e1 - e0 + CHUNK - 1) / CHUNK;
    regions(0, n, (0, (e1 - e0) / CHUNK))
}

impl Emitter<'_> {
    pub(crate) fn hwc(&self, i: NodeId, v: ValueId) -> Result<(i64, i64, i64), SchedError> {
        match self.plan.layout_of(v) {
            Layout::Hwc { c, h, w } => Ok((c, h, w)),
            l => Err(SchedError::at(i, format!("expected a feature map, got a value laid out as {l:?}"))),
        }
    }

    /// Element-wise ops over equal layouts in chunks; a per-channel operand broadcast row by row.
    pub(crate) fn elementwise(&mut self, i: NodeId, op: VecOp, core: CoreId, part: Part) -> Result<(), SchedError> {
        let g = self.g;
        let n = &g.nodes[i];
        let layouts: Vec<Layout> = n.inputs.iter().map(|&v| self.plan.layout_of(v)).collect();
        if layouts.len() == 2 && layouts[0] != layouts[1] {
            // One operand may be a per-channel vector broadcast over the other's pixels.
            let channels = |l: Layout| match l {
                Layout::Hwc { c, .. } => Some(c),
                _ => None,
            };
            // A [1, C, 1, 1] map and a [C] vector hold the same C values in memory.
            // Broadcasting gives one value per channel only to a vector whose shape, aligned to the
            // right, is [1, C, 1, 1] (numpy rules: a plain [C] would run along the width).
            let per_channel = |v: ValueId, c: i64| {
                let s = g.shape(v);
                let padded: Vec<i64> =
                    std::iter::repeat_n(1, 4usize.saturating_sub(s.len())).chain(s.iter().copied()).collect();
                padded == [1, c, 1, 1]
            };
            for (full, vec) in [(0, 1), (1, 0)] {
                if let Some(c) = channels(layouts[full]) {
                    if layouts[full] != layouts[vec] && per_channel(n.inputs[vec], c) {
                        let v = self.plan.global_of(n.inputs[vec]);
                        return self.channelwise(i, n.inputs[full], &[(op, v)], core, part);
                    }
                }
            }
            let shapes: Vec<&[i64]> = n.inputs.iter().map(|&v| g.shape(v)).collect();
            return Err(SchedError::at(
                i,
                format!(
                    "broadcasting {:?} with {:?} is supported only per channel (one operand [1, C, 1, 1])",
                    shapes[0], shapes[1]
                ),
            ));
        }
        let total = layouts[0].elements();
        let ins: Vec<u32> = n.inputs.iter().map(|&v| self.plan.global_of(v)).collect();
        // A ReLU after this op runs here: applied to each chunk, stored as its output.
        let relu = self.fused.get(&i).copied().filter(|_| layouts.len() == 2 && layouts[0] == layouts[1]);
        let out = self.plan.global_of(relu.map_or(n.output, |j| g.nodes[j].output));
        if let Some(j) = relu {
            self.fused_done.insert(j);
        }
        let eb = self.eb;
        let (e0, e1) = part.elements(total, layouts[0].row_elements());
        if e0 >= e1 {
            return Ok(());
        }
        let mnemonic = n.op.mnemonic();
        let cb = self.core(core);
        let bufs: Vec<u32> =
            (0..ins.len()).map(|k| cb.buf(&format!("{mnemonic}{}.in{k}", i.0), CHUNK.min(total) * eb)).collect();
        let chunk = |u: i64| -> Vec<Stmt> {
            let start = e0 + u * CHUNK;
            let len = CHUNK.min(e1 - start);
            let mut b = vec![];
            for (k, &gi) in ins.iter().enumerate() {
                b.push(inst(Inst::Ld {
                    rd: Addr::local(bufs[k], 0),
                    rs1: Addr::global(gi, start * eb),
                    size: (len * eb) as u32,
                }));
            }
            b.push(inst(Inst::Vec {
                op,
                rd: Addr::local(bufs[0], 0),
                rs1: Addr::local(bufs[0], 0),
                rs2: bufs.get(1).map(|&b2| Addr::local(b2, 0)),
                len: len as u32,
            }));
            if relu.is_some() {
                b.push(inst(Inst::Vec {
                    op: VecOp::Vrelu,
                    rd: Addr::local(bufs[0], 0),
                    rs1: Addr::local(bufs[0], 0),
                    rs2: None,
                    len: len as u32,
                }));
            }
            b.push(inst(Inst::St {
                rd: Addr::global(out, start * eb),
                rs1: Addr::local(bufs[0], 0),
                size: (len * eb) as u32,
            }));
            b
        };
        // Full chunks are one region, a short last chunk another.
        let stmts = over_regions(0, &chunk_regions(e0, e1), &|u, _| chunk(u));
        self.core(core).emit(stmts);
        Ok(())
    }

    /// A standalone activation, chunk by chunk: load, its program ([`super::act`]), store.
    pub(crate) fn activation(
        &mut self,
        i: NodeId,
        prog: &super::act::ActProgram,
        core: CoreId,
        part: Part,
    ) -> Result<(), SchedError> {
        if let Some(op) = prog.single() {
            return self.elementwise(i, op, core, part);
        }
        let n = &self.g.nodes[i];
        let total = self.plan.layout_of(n.inputs[0]).elements();
        let (input, out) = (self.plan.global_of(n.inputs[0]), self.plan.global_of(n.output));
        let eb = self.eb;
        let (e0, e1) = part.elements(total, self.plan.layout_of(n.inputs[0]).row_elements());
        if e0 >= e1 {
            return Ok(());
        }
        let name = format!("{}{}", n.op.mnemonic(), i.0);
        let bytes = CHUNK.min(total) * eb;
        let cb = self.core(core);
        let x = cb.buf(&format!("{name}.in0"), bytes);
        let (bufs, set) = prog.alloc(cb, &name, bytes);
        cb.emit(set);
        let chunk = |u: i64| -> Vec<Stmt> {
            let start = e0 + u * CHUNK;
            let len = CHUNK.min(e1 - start);
            let mut b = vec![inst(Inst::Ld {
                rd: Addr::local(x, 0),
                rs1: Addr::global(input, start * eb),
                size: (len * eb) as u32,
            })];
            b.extend(prog.apply(&bufs, x, len as u32));
            b.push(inst(Inst::St {
                rd: Addr::global(out, start * eb),
                rs1: Addr::local(x, 0),
                size: (len * eb) as u32,
            }));
            b
        };
        let stmts = over_regions(0, &chunk_regions(e0, e1), &|u, _| chunk(u));
        self.core(core).emit(stmts);
        Ok(())
    }

    /// A standalone batch normalization's per-channel scale and shift, as globals.
    pub(crate) fn prepare_batchnorm(&mut self, i: NodeId, bn: &BatchNorm) -> Result<Vec<(VecOp, u32)>, SchedError> {
        let r = BnRef {
            gamma: bn.gamma.clone(),
            beta: bn.beta.clone(),
            mean: bn.mean.clone(),
            var: bn.var.clone(),
            eps: bn.epsilon,
        };
        let x = self.g.nodes[i].inputs[0];
        let c = self.g.shape(x)[1];
        let name = value_name(self.g, i);
        let scale = self.plan.add_global(&format!("{name}.scale"), c, GlobalInit::BnScale { bn: r.clone() })?;
        let shift = self.plan.add_global(&format!("{name}.shift"), c, GlobalInit::BnShift { bn: r })?;
        Ok(vec![(VecOp::Vvmul, scale), (VecOp::Vvadd, shift)])
    }

    /// Per-channel operations on a feature map (or vector): for every pixel, `x = op(x, vec)`
    /// for each `(op, global holding a C-vector)` in turn, one output row per work unit.
    pub(crate) fn channelwise(
        &mut self,
        i: NodeId,
        x: ValueId,
        ops: &[(VecOp, u32)],
        core: CoreId,
        part: Part,
    ) -> Result<(), SchedError> {
        let (c, h, w) = match self.plan.layout_of(x) {
            Layout::Hwc { c, h, w } => (c, h, w),
            Layout::Flat(n) | Layout::FlatHwc { c: n, h: 1, w: 1 } => (n, 1, 1),
            l => {
                return Err(SchedError::at(
                    i,
                    format!("per-channel operation on a value laid out as {l:?} is not supported"),
                ))
            }
        };
        let (in_g, out_g) = (self.plan.global_of(x), self.plan.global_of(self.g.nodes[i].output));
        let eb = self.eb;
        let (r0, r1) = part.rows(h);
        if r0 >= r1 {
            return Ok(());
        }
        let cb = self.core(core);
        let row = cb.buf(&format!("chan{}.row", i.0), w * c * eb);
        let vecs: Vec<u32> = ops
            .iter()
            .enumerate()
            .map(|(k, &(_, gv))| {
                let b = cb.buf(&format!("chan{}.vec{k}", i.0), c * eb);
                cb.emit([inst(Inst::Ld { rd: Addr::local(b, 0), rs1: Addr::global(gv, 0), size: (c * eb) as u32 })]);
                b
            })
            .collect();
        let row_body = |y: i64, d: u8| -> Vec<Stmt> {
            let mut b = vec![inst(Inst::Ld {
                rd: Addr::local(row, 0),
                rs1: Addr::global(in_g, y * w * c * eb),
                size: (w * c * eb) as u32,
            })];
            b.extend(repeat(d, w, &|px, _| {
                ops.iter()
                    .zip(&vecs)
                    .map(|(&(op, _), &v)| {
                        let at = Addr::local(row, px * c * eb);
                        inst(Inst::Vec { op, rd: at.clone(), rs1: at, rs2: Some(Addr::local(v, 0)), len: c as u32 })
                    })
                    .collect()
            }));
            b.push(inst(Inst::St {
                rd: Addr::global(out_g, y * w * c * eb),
                rs1: Addr::local(row, 0),
                size: (w * c * eb) as u32,
            }));
            b
        };
        let stmts = repeat(0, r1 - r0, &|k, d| row_body(r0 + k, d));
        self.core(core).emit(stmts);
        Ok(())
    }

    /// Channel shuffle: output channel j*g + k of a pixel is input channel k*(C/g) + j, so each
    /// run of g output channels gathers input channels C/g apart (one `vmv` each).
    pub(crate) fn channel_shuffle(
        &mut self,
        i: NodeId,
        groups: i64,
        core: CoreId,
        part: Part,
    ) -> Result<(), SchedError> {
        let x = self.g.nodes[i].inputs[0];
        let (c, h, w) = self.hwc(i, x)?;
        let (in_g, out_g) = (self.plan.global_of(x), self.plan.global_of(self.g.nodes[i].output));
        let eb = self.eb;
        let per = c / groups.max(1);
        let (r0, r1) = part.rows(h);
        if r0 >= r1 {
            return Ok(());
        }
        let cb = self.core(core);
        let inrow = cb.buf(&format!("shuffle{}.in", i.0), w * c * eb);
        let outrow = cb.buf(&format!("shuffle{}.out", i.0), w * c * eb);
        let row_body = |y: i64, d: u8| -> Vec<Stmt> {
            let mut b = vec![inst(Inst::Ld {
                rd: Addr::local(inrow, 0),
                rs1: Addr::global(in_g, y * w * c * eb),
                size: (w * c * eb) as u32,
            })];
            b.extend(repeat(d, w, &|px, d| {
                repeat(d, per, &|j, _| {
                    vec![inst(Inst::Vmv {
                        rd: Addr::local(outrow, (px * c + j * groups) * eb),
                        rs1: Addr::local(inrow, (px * c + j) * eb),
                        len: groups as u32,
                        stride: per as u32,
                    })]
                })
            }));
            b.push(inst(Inst::St {
                rd: Addr::global(out_g, y * w * c * eb),
                rs1: Addr::local(outrow, 0),
                size: (w * c * eb) as u32,
            }));
            b
        };
        let stmts = repeat(0, r1 - r0, &|k, d| row_body(r0 + k, d));
        self.core(core).emit(stmts);
        Ok(())
    }

    /// Max / average pooling, one output row per work unit: the input rows it needs are loaded,
    /// then every output pixel is reduced from the valid positions of its window.
    pub(crate) fn pool(&mut self, i: NodeId, p: &Pool, avg: bool, core: CoreId, part: Part) -> Result<(), SchedError> {
        let g = self.g;
        let n = &g.nodes[i];
        let (c, h, w) = self.hwc(i, n.inputs[0])?;
        let o = g.shape(n.output).to_vec();
        let (oh_n, ow_n) = (o[2], o[3]);
        let (in_g, out_g) = (self.plan.global_of(n.inputs[0]), self.plan.global_of(n.output));
        let eb = self.eb;
        let [kh_n, kw_n] = p.kernel;
        let (r0, r1) = part.rows(oh_n);
        if r0 >= r1 {
            return Ok(());
        }
        let valid_kh = |oh: i64| -> Vec<i64> {
            let ih0 = oh * p.strides[0] - p.pads[0];
            (0..kh_n).filter(|kh| (0..h).contains(&(ih0 + kh))).collect()
        };
        let valid_kw = |ow: i64| -> Vec<i64> {
            let iw0 = ow * p.strides[1] - p.pads[1];
            (0..kw_n).filter(|kw| (0..w).contains(&(iw0 + kw))).collect()
        };
        let rows = tap_runs((r0, r1), oh_n, h, 0..kh_n, p.strides[0], p.pads[0], 1);
        // Output columns in tiles whose input band (kernel rows x the tile's input columns)
        // fits a quarter of local memory; one tile of whole rows when they fit.
        let (sw, pw) = (p.strides[1], p.pads[1]);
        let budget = (self.arch.local_memory_bytes() / 4) as i64;
        let band = |tw: i64| kh_n * ((tw - 1) * sw + kw_n) * c * eb;
        let tile = if kh_n * w * c * eb <= budget {
            ow_n
        } else {
            let mut tw = ow_n;
            while tw > 1 && band(tw) > budget {
                tw = (tw + 1) / 2;
            }
            tw
        };
        let tiles = (ow_n + tile - 1) / tile;
        // Input columns of tile `t`: first column (may be in the padding) and band width.
        let tin = if tiles == 1 { w } else { (tile - 1) * sw + kw_n };
        let in_first = |t: i64| if tiles == 1 { 0 } else { t * tile * sw - pw };
        // When even one output column's kernel rows do not fit, they stream through one row.
        let stream = band(tile) > budget && kh_n > 1;
        let slots = if stream { 1 } else { kh_n };
        let cb = self.core(core);
        let inrows = cb.buf(&format!("pool{}.in", i.0), slots * tin * c * eb);
        let orow = cb.buf(&format!("pool{}.out", i.0), tile * c * eb);
        let cols = tap_runs((0, ow_n), ow_n, w, 0..kw_n, sw, pw, 1);
        // Averaging constants 1/count, loaded once per core, in the order the windows need them
        // (the count is the same over a region).
        let mut scales: BTreeMap<i64, u32> = BTreeMap::new();
        for &(oh, _) in &rows {
            for &(ow, _) in &cols {
                let count = (valid_kh(oh).len() * valid_kw(ow).len()) as i64;
                if count == 0 {
                    return Err(SchedError::at(i, format!("pooling window at ({oh}, {ow}) covers only padding")));
                }
                if avg {
                    let divisor = if p.count_include_pad { kh_n * kw_n } else { count };
                    self.scale_buf(core, i, c, divisor, &mut scales)?;
                }
            }
        }
        // Kernel rows `khs` (in the buffer's slots) accumulated into pixel `ow`; the first row
        // of the window starts it, the last one scales it (average).
        let pixel = |oh: i64, ow: i64, t: i64, khs: &[i64]| -> Vec<Stmt> {
            let iw0 = ow * sw - pw - in_first(t);
            let dst = Addr::local(orow, (ow - t * tile) * c * eb);
            let mut pb = vec![];
            let all = valid_kh(oh);
            let before = all.iter().take_while(|&&k| Some(&k) != khs.first()).count();
            let mut count = (before * valid_kw(ow).len()) as i64;
            for &kh in khs {
                let slot = if stream { 0 } else { kh };
                for kw in valid_kw(ow) {
                    let src = Addr::local(inrows, (slot * tin + iw0 + kw) * c * eb);
                    pb.push(inst(if count == 0 {
                        Inst::Lmv { rd: dst.clone(), rs1: src, size: (c * eb) as u32 }
                    } else {
                        Inst::Vec {
                            op: if avg { VecOp::Vvadd } else { VecOp::Vvmax },
                            rd: dst.clone(),
                            rs1: dst.clone(),
                            rs2: Some(src),
                            len: c as u32,
                        }
                    }));
                    count += 1;
                }
            }
            if avg && khs.last() == all.last() {
                let divisor = if p.count_include_pad { kh_n * kw_n } else { count };
                pb.push(inst(Inst::Vec {
                    op: VecOp::Vvmul,
                    rd: dst.clone(),
                    rs1: dst,
                    rs2: Some(Addr::local(scales[&divisor], 0)),
                    len: c as u32,
                }));
            }
            pb
        };
        let tile_body = |oh: i64, t: i64, d: u8| -> Vec<Stmt> {
            let ih0 = oh * p.strides[0] - p.pads[0];
            let (ow_a, ow_b) = (t * tile, ((t + 1) * tile).min(ow_n));
            // The band's columns inside the input.
            let first = in_first(t);
            let (lo, hi) = (first.max(0), (first + tin).min(w));
            let runs = tap_runs((ow_a, ow_b), ow_n, w, 0..kw_n, sw, pw, 1);
            let load = |kh: i64| {
                let slot = if stream { 0 } else { kh };
                inst(Inst::Ld {
                    rd: Addr::local(inrows, (slot * tin + lo - first) * c * eb),
                    rs1: Addr::global(in_g, ((ih0 + kh) * w + lo) * c * eb),
                    size: ((hi - lo) * c * eb) as u32,
                })
            };
            let khs = valid_kh(oh);
            let groups: Vec<Vec<i64>> = if stream { khs.iter().map(|&k| vec![k]).collect() } else { vec![khs] };
            let mut b = vec![];
            for group in &groups {
                b.extend(group.iter().map(|&kh| load(kh)));
                b.extend(over_regions(d, &runs, &|ow, _| pixel(oh, ow, t, group)));
            }
            b.push(inst(Inst::St {
                rd: Addr::global(out_g, (oh * ow_n + ow_a) * c * eb),
                rs1: Addr::local(orow, 0),
                size: ((ow_b - ow_a) * c * eb) as u32,
            }));
            b
        };
        let row_body = |oh: i64, d: u8| -> Vec<Stmt> { repeat(d, tiles, &|t, d2| tile_body(oh, t, d2)) };
        let stmts = over_regions(0, &rows, &row_body);
        self.core(core).emit(stmts);
        Ok(())
    }

    /// A standalone constant padding (one that does not fold into the next convolution), row
    /// by row: a row buffer filled with the value once, each input row loaded into its middle
    /// and the whole row stored; padding rows store a filled row.
    pub(crate) fn pad(
        &mut self,
        i: NodeId,
        [top, left, _, _]: [i64; 4],
        value: f32,
        core: CoreId,
        part: Part,
    ) -> Result<(), SchedError> {
        let n = &self.g.nodes[i];
        let (c, h, w) = self.hwc(i, n.inputs[0])?;
        let o = self.g.shape(n.output);
        let (oh, ow) = (o[2], o[3]);
        let (r0, r1) = part.rows(oh);
        if r0 >= r1 {
            return Ok(());
        }
        let (in_g, out_g) = (self.plan.global_of(n.inputs[0]), self.plan.global_of(n.output));
        let eb = self.eb;
        let bytes = ow * c * eb;
        let cb = self.core(core);
        let row = cb.buf(&format!("pad{}.row", i.0), bytes);
        let fill = cb.buf(&format!("pad{}.fill", i.0), bytes);
        cb.emit([
            inst(Inst::Lldi { rd: Addr::local(row, 0), size: bytes as u32, value }),
            inst(Inst::Lldi { rd: Addr::local(fill, 0), size: bytes as u32, value }),
        ]);
        let body = |y: i64, _: u8| -> Vec<Stmt> {
            let store = |src: u32| {
                inst(Inst::St { rd: Addr::global(out_g, y * bytes), rs1: Addr::local(src, 0), size: bytes as u32 })
            };
            if !(top..top + h).contains(&y) {
                return vec![store(fill)];
            }
            vec![
                inst(Inst::Ld {
                    rd: Addr::local(row, left * c * eb),
                    rs1: Addr::global(in_g, (y - top) * w * c * eb),
                    size: (w * c * eb) as u32,
                }),
                store(row),
            ]
        };
        let cuts =
            [(r0, top.clamp(r0, r1)), (top.clamp(r0, r1), (top + h).clamp(r0, r1)), ((top + h).clamp(r0, r1), r1)];
        let parts: Vec<(i64, i64)> = cuts.into_iter().filter(|(a, b)| a < b).collect();
        let stmts = over_regions(0, &parts, &body);
        self.core(core).emit(stmts);
        Ok(())
    }

    /// A flattened feature map as a model output (see `memory::reordered_output`): blocks of
    /// whole pixels loaded, each channel gathered with a strided `vmv` and stored at its
    /// place in channel-major order.
    pub(crate) fn flatten_output(&mut self, i: NodeId, core: CoreId) -> Result<(), SchedError> {
        let n = &self.g.nodes[i];
        let (c, h, w) = self.hwc(i, n.inputs[0])?;
        let (in_g, out_g) = (self.plan.global_of(n.inputs[0]), self.plan.global_of(n.output));
        let eb = self.eb;
        let pixels = h * w;
        // Two block buffers within a quarter of local memory.
        let per_block = (self.arch.local_memory_bytes() as i64 / (8 * c * eb)).clamp(1, pixels);
        let cb = self.core(core);
        let x = cb.buf(&format!("flatten{}.in", i.0), per_block * c * eb);
        let t = cb.buf(&format!("flatten{}.t", i.0), per_block * c * eb);
        let block = |u: i64, d: u8| -> Vec<Stmt> {
            let p0 = u * per_block;
            let np = per_block.min(pixels - p0);
            let mut b = vec![inst(Inst::Ld {
                rd: Addr::local(x, 0),
                rs1: Addr::global(in_g, p0 * c * eb),
                size: (np * c * eb) as u32,
            })];
            b.extend(repeat(d, c, &|ch, _| {
                vec![inst(Inst::Vmv {
                    rd: Addr::local(t, ch * np * eb),
                    rs1: Addr::local(x, ch * eb),
                    len: np as u32,
                    stride: c as u32,
                })]
            }));
            b.extend(repeat(d, c, &|ch, _| {
                vec![inst(Inst::St {
                    rd: Addr::global(out_g, (ch * pixels + p0) * eb),
                    rs1: Addr::local(t, ch * np * eb),
                    size: (np * eb) as u32,
                })]
            }));
            b
        };
        let blocks = (pixels + per_block - 1) / per_block;
        let stmts = over_regions(0, &regions(0, blocks, (0, pixels / per_block)), &block);
        self.core(core).emit(stmts);
        Ok(())
    }

    /// A local buffer of `c` copies of 1/divisor on `core`, loaded from a fill global on first use.
    fn scale_buf(
        &mut self,
        core: CoreId,
        i: NodeId,
        c: i64,
        divisor: i64,
        cache: &mut BTreeMap<i64, u32>,
    ) -> Result<u32, SchedError> {
        if let Some(&b) = cache.get(&divisor) {
            return Ok(b);
        }
        let g = self.plan.fill_global(c, 1.0 / divisor as f32)?;
        let eb = self.eb;
        let cb = self.core(core);
        let b = cb.buf(&format!("pool{}.scale{divisor}", i.0), c * eb);
        cb.emit([inst(Inst::Ld { rd: Addr::local(b, 0), rs1: Addr::global(g, 0), size: (c * eb) as u32 })]);
        cache.insert(divisor, b);
        Ok(b)
    }

    /// Global average pooling, on one core (the one whose share of one unit of work is not
    /// empty: the last): rows accumulated, then scaled.
    pub(crate) fn global_avgpool(&mut self, i: NodeId, core: CoreId, part: Part) -> Result<(), SchedError> {
        if part.rows(1) != (0, 1) {
            return Ok(());
        }
        let g = self.g;
        let n = &g.nodes[i];
        let (c, h, w) = self.hwc(i, n.inputs[0])?;
        let (in_g, out_g) = (self.plan.global_of(n.inputs[0]), self.plan.global_of(n.output));
        let eb = self.eb;
        let mut scales = BTreeMap::new();
        let scale = self.scale_buf(core, i, c, h * w, &mut scales)?;
        let cb = self.core(core);
        let row = cb.buf(&format!("gap{}.row", i.0), w * c * eb);
        let acc = cb.buf(&format!("gap{}.acc", i.0), c * eb);
        cb.emit([inst(Inst::Lldi { rd: Addr::local(acc, 0), size: (c * eb) as u32, value: 0.0 })]);
        let row_body = |y: i64, d: u8| -> Vec<Stmt> {
            let mut b = vec![inst(Inst::Ld {
                rd: Addr::local(row, 0),
                rs1: Addr::global(in_g, y * w * c * eb),
                size: (w * c * eb) as u32,
            })];
            b.extend(repeat(d, w, &|x, _| {
                vec![inst(Inst::Vec {
                    op: VecOp::Vvadd,
                    rd: Addr::local(acc, 0),
                    rs1: Addr::local(acc, 0),
                    rs2: Some(Addr::local(row, x * c * eb)),
                    len: c as u32,
                })]
            }));
            b
        };
        let mut stmts = repeat(0, h, &row_body);
        stmts.push(inst(Inst::Vec {
            op: VecOp::Vvmul,
            rd: Addr::local(acc, 0),
            rs1: Addr::local(acc, 0),
            rs2: Some(Addr::local(scale, 0)),
            len: c as u32,
        }));
        stmts.push(inst(Inst::St { rd: Addr::global(out_g, 0), rs1: Addr::local(acc, 0), size: (c * eb) as u32 }));
        self.core(core).emit(stmts);
        Ok(())
    }

    /// Channel concatenation of feature maps (each output pixel gathers its inputs' pixels), or
    /// concatenation of vectors (on one core, as global average pooling).
    pub(crate) fn concat(&mut self, i: NodeId, axis: i64, core: CoreId, part: Part) -> Result<(), SchedError> {
        let g = self.g;
        let n = &g.nodes[i];
        let eb = self.eb;
        let out_g = self.plan.global_of(n.output);
        let ins: Vec<(u32, Layout)> =
            n.inputs.iter().map(|&v| (self.plan.global_of(v), self.plan.layout_of(v))).collect();
        match self.plan.layout_of(n.output) {
            Layout::Hwc { c, h, w } if axis == 1 || axis == -3 => {
                let (r0, r1) = part.rows(h);
                if r0 >= r1 {
                    return Ok(());
                }
                let mut channels = vec![];
                for &(_, l) in &ins {
                    let Layout::Hwc { c: ci, .. } = l else {
                        return Err(SchedError::at(i, format!("concat of a value laid out as {l:?}")));
                    };
                    channels.push(ci);
                }
                let cb = self.core(core);
                let orow = cb.buf(&format!("concat{}.row", i.0), w * c * eb);
                let row_body = |y: i64, d: u8| -> Vec<Stmt> {
                    let mut b = vec![];
                    let mut off = 0;
                    for (&(gi, _), &ci) in ins.iter().zip(&channels) {
                        b.extend(repeat(d, w, &|x, _| {
                            vec![inst(Inst::Ld {
                                rd: Addr::local(orow, (x * c + off) * eb),
                                rs1: Addr::global(gi, (y * w + x) * ci * eb),
                                size: (ci * eb) as u32,
                            })]
                        }));
                        off += ci;
                    }
                    b.push(inst(Inst::St {
                        rd: Addr::global(out_g, y * w * c * eb),
                        rs1: Addr::local(orow, 0),
                        size: (w * c * eb) as u32,
                    }));
                    b
                };
                let stmts = repeat(0, r1 - r0, &|k, d| row_body(r0 + k, d));
                self.core(core).emit(stmts);
                Ok(())
            }
            Layout::Flat(total) if axis == 1 || axis == -1 => {
                if part.rows(1) != (0, 1) {
                    return Ok(());
                }
                let cb = self.core(core);
                let buf = cb.buf(&format!("concat{}.buf", i.0), total * eb);
                let mut off = 0;
                for &(gi, l) in &ins {
                    let len = l.elements();
                    cb.emit([inst(Inst::Ld {
                        rd: Addr::local(buf, off * eb),
                        rs1: Addr::global(gi, 0),
                        size: (len * eb) as u32,
                    })]);
                    off += len;
                }
                cb.emit([inst(Inst::St {
                    rd: Addr::global(out_g, 0),
                    rs1: Addr::local(buf, 0),
                    size: (total * eb) as u32,
                })]);
                Ok(())
            }
            l => Err(SchedError::at(
                i,
                format!("concat along axis {axis} of a value laid out as {l:?} is not supported yet"),
            )),
        }
    }
}
