//! Ops that need the vector-unit extensions (`vexp`, `vlog`, `vvdiv`; an architecture enables
//! them with `pimlir.vector_extensions`): softmax and local response normalization.
//!
//! - softmax over a group of `L` contiguous elements (a `[1, N]` vector, or the channels of one
//!   pixel of a height-width-channel map): `m = max(x)` by halving with `vvmax`, `e = exp(x -
//!   m)`, `s = dot(e, 1)` with `vvdmul`, `y = e / s`. A scalar is spread over a vector by
//!   doubling `lmv` copies (the ISA has no broadcast).
//! - LRN across channels: `y = x * exp(-beta * ln(bias + alpha / size * sum x[c']^2))`, the
//!   sum over the `size` channels around `c` as shifted `vvadd`s of the squares within each
//!   pixel, in blocks of whole pixels.

use super::{inst, over_regions, regions, repeat, Emitter, Part};
use crate::arch::CoreId;
use crate::graph::{Lrn, NodeId};
use crate::isa::{Addr, Inst, Stmt, VecOp};
use crate::sched::memory::Layout;
use crate::sched::SchedError;

fn vec_op(op: VecOp, rd: Addr, rs1: Addr, rs2: Option<Addr>, len: i64) -> Stmt {
    inst(Inst::Vec { op, rd, rs1, rs2, len: len as u32 })
}

/// `buf[0..len] = buf[0]`: copies of the first element, doubling each step.
fn spread(buf: u32, len: i64, eb: i64) -> Vec<Stmt> {
    let mut out = vec![];
    let mut have = 1;
    while have < len {
        let n = have.min(len - have);
        out.push(inst(Inst::Lmv { rd: Addr::local(buf, have * eb), rs1: Addr::local(buf, 0), size: (n * eb) as u32 }));
        have += n;
    }
    out
}

/// `buf[0] = max(buf[0..len])`, halving (the upper half folded onto the lower).
fn max_reduce(buf: u32, len: i64, eb: i64) -> Vec<Stmt> {
    let mut out = vec![];
    let mut n = len;
    while n > 1 {
        let h = n / 2;
        let at = |e: i64| Addr::local(buf, e * eb);
        out.push(vec_op(VecOp::Vvmax, at(0), at(0), Some(at(n - h)), h));
        n -= h;
    }
    out
}

impl Emitter<'_> {
    /// An op of node `i` that needs the extensions, when the architecture does not have them.
    pub(crate) fn need_extensions(&self, i: NodeId, what: &str) -> Result<(), SchedError> {
        if self.arch.vector_extensions {
            return Ok(());
        }
        Err(SchedError::at(
            i,
            format!(
                "{what} needs exp, log and divide, which the published PIM ISA does not have; enable the vector-unit extensions with \"vector_extensions\": true in the architecture's \"pimlir\" section (the puma preset has them)"
            ),
        ))
    }

    /// Softmax: over a `[1, N]` vector (one group), or over the channels of every pixel of a
    /// feature map (`axis` 1); groups are shared among the op's cores.
    pub(crate) fn softmax(&mut self, i: NodeId, axis: i64, core: CoreId, part: Part) -> Result<(), SchedError> {
        let g = self.g;
        let n = &g.nodes[i];
        let rank = g.shape(n.inputs[0]).len() as i64;
        let axis = if axis < 0 { axis + rank } else { axis };
        let (groups, len) = match self.plan.layout_of(n.inputs[0]) {
            // Every element, in any order: a flattened map is fine too.
            l @ (Layout::Flat(_) | Layout::FlatHwc { .. }) if axis == 1 => (1, l.elements()),
            Layout::Hwc { c, h, w } if axis == 1 => (h * w, c),
            Layout::Hwc { c, h: 1, w: 1 } => (1, c),
            l => {
                return Err(SchedError::at(
                    i,
                    format!("softmax along axis {axis} of a value laid out as {l:?} is not supported (only along the channels or a vector)"),
                ))
            }
        };
        let (g0, g1) = part.rows(groups);
        if g0 >= g1 {
            return Ok(());
        }
        let (in_g, out_g) = (self.plan.global_of(n.inputs[0]), self.plan.global_of(n.output));
        let eb = self.eb;
        let bytes = len * eb;
        let cb = self.core(core);
        let x = cb.buf(&format!("softmax{}.x", i.0), bytes);
        let t = cb.buf(&format!("softmax{}.t", i.0), bytes);
        let ones = cb.buf(&format!("softmax{}.ones", i.0), bytes);
        cb.emit([inst(Inst::Lldi { rd: Addr::local(ones, 0), size: bytes as u32, value: 1.0 })]);
        let (lx, lt) = (Addr::local(x, 0), Addr::local(t, 0));
        let group = |k: i64| -> Vec<Stmt> {
            let mut b = vec![
                inst(Inst::Ld { rd: lx.clone(), rs1: Addr::global(in_g, k * bytes), size: bytes as u32 }),
                inst(Inst::Lmv { rd: lt.clone(), rs1: lx.clone(), size: bytes as u32 }),
            ];
            b.extend(max_reduce(t, len, eb));
            b.extend(spread(t, len, eb));
            b.push(vec_op(VecOp::Vvsub, lx.clone(), lx.clone(), Some(lt.clone()), len));
            b.push(vec_op(VecOp::Vexp, lx.clone(), lx.clone(), None, len));
            b.push(vec_op(VecOp::Vvdmul, lt.clone(), lx.clone(), Some(Addr::local(ones, 0)), len));
            b.extend(spread(t, len, eb));
            b.push(vec_op(VecOp::Vvdiv, lx.clone(), lx.clone(), Some(lt.clone()), len));
            b.push(inst(Inst::St { rd: Addr::global(out_g, k * bytes), rs1: lx.clone(), size: bytes as u32 }));
            b
        };
        let stmts = repeat(0, g1 - g0, &|k, _| group(g0 + k));
        self.core(core).emit(stmts);
        Ok(())
    }

    /// Local response normalization of a feature map, in blocks of whole pixels (shared among
    /// the op's cores); the channel window sums stay inside each pixel.
    pub(crate) fn lrn(&mut self, i: NodeId, lrn: &Lrn, core: CoreId, part: Part) -> Result<(), SchedError> {
        let g = self.g;
        let n = &g.nodes[i];
        let (c, h, w) = self.hwc(i, n.inputs[0])?;
        if lrn.size < 1 {
            return Err(SchedError::at(i, format!("LRN size {} is not positive", lrn.size)));
        }
        let eb = self.eb;
        // Six block-sized buffers take at most a quarter of local memory.
        let budget = (self.arch.local_memory_bytes() as i64 / (24 * eb)).clamp(1, super::vector::CHUNK);
        let per_block = (budget / c).max(1);
        let pixels = h * w;
        // The part's pixels: whole rows of its band, or whole blocks of the map.
        let (p0, p1) = match part.rows {
            Some(_) => {
                let (r0, r1) = part.rows(h);
                (r0 * w, r1 * w)
            }
            None => {
                let (u0, u1) = part.rows((pixels + per_block - 1) / per_block);
                (u0 * per_block, (u1 * per_block).min(pixels))
            }
        };
        if p0 >= p1 {
            return Ok(());
        }
        let (in_g, out_g) = (self.plan.global_of(n.inputs[0]), self.plan.global_of(n.output));
        let bytes = per_block.min(pixels) * c * eb;
        let name = format!("lrn{}", i.0);
        let cb = self.core(core);
        let [x, sq, acc] = ["x", "sq", "acc"].map(|b| cb.buf(&format!("{name}.{b}"), bytes));
        let consts = [lrn.alpha / lrn.size as f32, lrn.bias, -lrn.beta];
        let k: Vec<u32> = (0..consts.len()).map(|j| cb.buf(&format!("{name}.k{j}"), bytes)).collect();
        cb.emit(
            k.iter()
                .zip(consts)
                .map(|(&b, value)| inst(Inst::Lldi { rd: Addr::local(b, 0), size: bytes as u32, value })),
        );
        // ONNX: channels c - floor((size-1)/2) ..= c + ceil((size-1)/2).
        let (below, above) = ((lrn.size - 1) / 2, lrn.size - 1 - (lrn.size - 1) / 2);
        let shifts: Vec<i64> = (-below..=above).filter(|&s| s != 0 && s.abs() < c).collect();
        let at = |b: u32, e: i64| Addr::local(b, e * eb);
        let block = |u: i64, d: u8| -> Vec<Stmt> {
            let p0 = p0 + u * per_block;
            let np = per_block.min(p1 - p0);
            let len = np * c;
            let size = (len * eb) as u32;
            let mut b = vec![
                inst(Inst::Ld { rd: at(x, 0), rs1: Addr::global(in_g, p0 * c * eb), size }),
                vec_op(VecOp::Vvmul, at(sq, 0), at(x, 0), Some(at(x, 0)), len),
                inst(Inst::Lmv { rd: at(acc, 0), rs1: at(sq, 0), size }),
            ];
            for &s in &shifts {
                let first = (-s).max(0);
                b.extend(repeat(d, np, &|q, _| {
                    vec![vec_op(
                        VecOp::Vvadd,
                        at(acc, q * c + first),
                        at(acc, q * c + first),
                        Some(at(sq, q * c + first + s)),
                        c - s.abs(),
                    )]
                }));
            }
            b.extend([
                vec_op(VecOp::Vvmul, at(acc, 0), at(acc, 0), Some(at(k[0], 0)), len),
                vec_op(VecOp::Vvadd, at(acc, 0), at(acc, 0), Some(at(k[1], 0)), len),
                vec_op(VecOp::Vlog, at(acc, 0), at(acc, 0), None, len),
                vec_op(VecOp::Vvmul, at(acc, 0), at(acc, 0), Some(at(k[2], 0)), len),
                vec_op(VecOp::Vexp, at(acc, 0), at(acc, 0), None, len),
                vec_op(VecOp::Vvmul, at(x, 0), at(x, 0), Some(at(acc, 0)), len),
                inst(Inst::St { rd: Addr::global(out_g, p0 * c * eb), rs1: at(x, 0), size }),
            ]);
            b
        };
        // Full blocks are one region, a short last block another.
        let blocks = (p1 - p0 + per_block - 1) / per_block;
        let stmts = over_regions(0, &regions(0, blocks, (0, (p1 - p0) / per_block)), &block);
        self.core(core).emit(stmts);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_doubles_to_any_length() {
        for len in 1..40 {
            let mut have = vec![false; len as usize];
            have[0] = true;
            for s in spread(0, len, 2) {
                let Stmt::Inst(Inst::Lmv { rd, rs1, size }, _) = s else { panic!() };
                assert_eq!(rs1.offset, 0);
                let (dst, n) = (rd.offset / 2, i64::from(size) / 2);
                assert!((0..n).all(|e| have[e as usize]), "copies only what is set");
                for e in dst..dst + n {
                    have[e as usize] = true;
                }
            }
            assert!(have.iter().all(|&h| h), "len {len}");
        }
    }

    #[test]
    fn max_reduce_folds_every_element_into_the_first() {
        for len in 1..40i64 {
            // Which original elements each slot has seen.
            let mut seen: Vec<Vec<bool>> = (0..len).map(|e| (0..len).map(|k| k == e).collect()).collect();
            for s in max_reduce(0, len, 4) {
                let Stmt::Inst(Inst::Vec { op: VecOp::Vvmax, rd, rs2: Some(b), len: n, .. }, _) = s else { panic!() };
                assert_eq!(rd.offset, 0);
                for e in 0..i64::from(n) {
                    let other = seen[(b.offset / 4 + e) as usize].clone();
                    for (k, o) in other.into_iter().enumerate() {
                        seen[e as usize][k] |= o;
                    }
                }
            }
            assert!(seen[0].iter().all(|&s| s), "len {len}");
        }
    }
}
