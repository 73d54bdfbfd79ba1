//! What an instruction does, apart from when: the memory regions it reads and writes
//! ([`effects`], from the instruction table's operand rules) and what it computes
//! ([`execute`], on f32 data). The functional engine runs both; a timing engine needs only
//! the effects (regions and bytes) and the table's unit.

use super::weights::Block;
use crate::arch::CoreId;
use crate::isa::{Addr, CoreProgram, Inst, Program, ScalarOp, Space, VecOp};
use smallvec::SmallVec;
use std::sync::Arc;

/// A byte range of local or global memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub space: Space,
    pub addr: u64,
    pub bytes: u64,
}

impl Region {
    /// First element index, for element size `eb`.
    pub fn elem(&self, eb: u64) -> usize {
        (self.addr / eb) as usize
    }
    /// Elements covered.
    pub fn elems(&self, eb: u64) -> usize {
        (self.bytes / eb) as usize
    }
    pub fn end(&self) -> u64 {
        self.addr + self.bytes
    }
}

/// The regions one dynamic instruction reads and writes, in operand order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Effects {
    pub reads: SmallVec<[Region; 3]>,
    pub writes: SmallVec<[Region; 2]>,
}

/// Memory sizes the regions are checked against.
#[derive(Debug, Clone, Copy)]
pub struct Memories {
    /// Element size in bytes (addresses and sizes must be multiples of it).
    pub eb: u64,
    pub local_bytes: u64,
    pub global_bytes: u64,
}

/// The regions `inst` of core `core` touches with loop counters `counters`, each checked:
/// element-aligned and inside its memory. Errors say which operand and why.
pub fn effects(
    p: &Program,
    core: &CoreProgram,
    inst: &Inst,
    counters: &[i64],
    mem: &Memories,
) -> Result<Effects, String> {
    let info = inst.info();
    let eb = mem.eb;
    let ag = match inst {
        Inst::Mvmul { group, .. } => {
            Some(core.ags.get(*group as usize).ok_or_else(|| format!("array group {group} does not exist"))?)
        }
        _ => None,
    };
    let mut fx = Effects::default();
    for (k, (o, a)) in info.operands.iter().zip(inst.addrs()).enumerate() {
        let addr = resolve(p, core, a, counters)?;
        let bytes = inst.operand_bytes(k, eb as i64, ag);
        let bytes = u64::try_from(bytes).map_err(|_| format!("{} of {bytes} bytes", o.role))?;
        if !addr.is_multiple_of(eb) {
            return Err(format!("{} address {addr} is not a multiple of the element size {eb}", o.role));
        }
        if !bytes.is_multiple_of(eb) {
            return Err(format!("size {bytes} is not a multiple of the element size {eb}"));
        }
        let limit = match o.space {
            Space::Local => mem.local_bytes,
            Space::Global => mem.global_bytes,
        };
        if addr.saturating_add(bytes) > limit {
            let what = if o.space == Space::Local { "memory" } else { "global memory" };
            return Err(format!(
                "{} [{addr}, {}) is outside {what} of {limit} bytes",
                o.role,
                addr.saturating_add(bytes)
            ));
        }
        let r = Region { space: o.space, addr, bytes };
        match o.access {
            crate::isa::inst::Access::Read => fx.reads.push(r),
            crate::isa::inst::Access::Write => fx.writes.push(r),
        }
    }
    Ok(fx)
}

/// The byte address of `a` at these counters.
pub fn resolve(p: &Program, core: &CoreProgram, a: &Addr, counters: &[i64]) -> Result<u64, String> {
    let v = p.resolve(core, a, counters).ok_or("address of an unallocated buffer")?;
    u64::try_from(v).map_err(|_| format!("negative address {v}"))
}

/// A core's architectural state for the functional model.
pub struct CoreState {
    pub id: CoreId,
    /// Local memory, one f32 per element.
    pub local: Vec<f32>,
    /// The crossbar contents of each array group.
    pub ags: Vec<Arc<Block>>,
    pub regs: [i64; 32],
    pub ibiw: u32,
    /// Reused space for results that may overlap their operands.
    scratch: Vec<f32>,
}

impl CoreState {
    pub fn new(id: CoreId, local_elems: usize, ags: Vec<Arc<Block>>) -> Self {
        CoreState { id, local: vec![0.0; local_elems], ags, regs: [0; 32], ibiw: 0, scratch: vec![] }
    }
}

/// Computes `inst` on f32 data: local memory of `core`, `global` memory (element-indexed).
/// The regions come from [`effects`] (checked); communication is the engine's.
pub fn execute(core: &mut CoreState, global: &mut [f32], inst: &Inst, fx: &Effects, eb: u64) {
    let r = |k: usize| fx.reads[k].elem(eb);
    let w = |k: usize| fx.writes[k].elem(eb);
    match *inst {
        Inst::Nop | Inst::Send { .. } | Inst::Recv { .. } | Inst::Wait { .. } | Inst::Sync { .. } => {}
        Inst::Scalar { op, rd, rs1, rs2, imm } => {
            let regs = &mut core.regs;
            regs[rd as usize] = op.apply(regs[rd as usize], regs[rs1 as usize], regs[rs2 as usize], imm);
            let _ = ScalarOp::Sld; // sld leaves the register as it is (ScalarOp::apply)
        }
        Inst::SetBw { ibiw, .. } => core.ibiw = ibiw,
        Inst::Mvmul { group, relu, .. } => {
            let ag = core.ags[group as usize].clone();
            let (i, o) = (r(0), w(0));
            let out = &mut core.scratch;
            out.clear();
            out.resize(ag.cols, 0.0);
            if let Some(q) = &ag.quant {
                let set = if core.ibiw > 0 { core.ibiw } else { q.precision.input_bits };
                let bits = q.precision.input_override.unwrap_or(set);
                super::crossbar::mvmul(q, &core.local[i..i + ag.rows], bits.clamp(2, 24), &q.precision, out, q.jit);
            } else {
                for (row, &x) in core.local[i..i + ag.rows].iter().enumerate() {
                    // A zero input adds nothing (unless a weight is NaN or infinite: 0 * inf is NaN,
                    // as in onnxruntime); NaN and infinite inputs propagate.
                    if x != 0.0 || !ag.finite {
                        let ws = &ag.w[row * ag.cols..(row + 1) * ag.cols];
                        for (acc, wv) in out.iter_mut().zip(ws) {
                            *acc += x * wv;
                        }
                    }
                }
            }
            if relu {
                out.iter_mut().for_each(|v| *v = relu_f(*v));
            }
            core.local[o..o + ag.cols].copy_from_slice(out);
        }
        Inst::Vec { op, len, .. } => {
            let n = len as usize;
            let (a, d) = (r(0), w(0));
            let b = if op.binary() { r(1) } else { a };
            // In place when the destination is one of the sources (or apart from them);
            // through scratch when it overlaps them partly.
            let overlaps = |s: usize| d != s && d < s + n && s < d + n;
            let local = &mut core.local;
            if overlaps(a) || (op.binary() && overlaps(b)) {
                let scratch = &mut core.scratch;
                scratch.clear();
                scratch.extend_from_slice(&local[a..a + n]);
                scratch.extend_from_slice(&local[b..b + n]);
                let (x, y) = scratch.split_at(n);
                vector(op, x, y, &mut local[d..d + op.out_len(len) as usize]);
            } else {
                // Element i of the result depends on element i of the sources only (a
                // reduction is written after all are read): in place is exact.
                match op {
                    VecOp::Vvdmul => local[d] = (0..n).map(|i| local[a + i] * local[b + i]).sum(),
                    VecOp::Vavg => {
                        let s: f32 = local[a..a + n].iter().sum();
                        local[d] = if n == 0 { 0.0 } else { s / n as f32 };
                    }
                    _ => {
                        for i in 0..n {
                            local[d + i] = elementwise(op, local[a + i], local[b + i]);
                        }
                    }
                }
            }
        }
        Inst::Vmv { len, stride, .. } => {
            let (d, a, n, st) = (w(0), r(0), len as usize, stride as usize);
            let scratch = &mut core.scratch;
            scratch.clear();
            scratch.extend((0..n).map(|i| core.local[a + i * st]));
            core.local[d..d + n].copy_from_slice(scratch);
        }
        Inst::Ld { .. } => {
            let (d, s, n) = (w(0), r(0), fx.writes[0].elems(eb));
            core.local[d..d + n].copy_from_slice(&global[s..s + n]);
        }
        Inst::St { .. } => {
            let (d, s, n) = (w(0), r(0), fx.reads[0].elems(eb));
            global[d..d + n].copy_from_slice(&core.local[s..s + n]);
        }
        Inst::Lldi { value, .. } => {
            let (d, n) = (w(0), fx.writes[0].elems(eb));
            core.local[d..d + n].fill(value);
        }
        Inst::Lmv { .. } => {
            let (d, s, n) = (w(0), r(0), fx.writes[0].elems(eb));
            core.local.copy_within(s..s + n, d);
        }
    }
}

/// max(x, 0) that keeps NaN (as onnxruntime's Relu does).
fn relu_f(x: f32) -> f32 {
    if x < 0.0 {
        0.0
    } else {
        x
    }
}

/// max(x, y) that propagates NaN (as onnxruntime's MaxPool does).
fn max_f(x: f32, y: f32) -> f32 {
    if x.is_nan() || y.is_nan() {
        f32::NAN
    } else {
        x.max(y)
    }
}

fn elementwise(op: VecOp, x: f32, y: f32) -> f32 {
    match op {
        VecOp::Vvadd => x + y,
        VecOp::Vvsub => x - y,
        VecOp::Vvmul => x * y,
        VecOp::Vvmax => max_f(x, y),
        VecOp::Vvsll => x * 2f32.powf(y.round()),
        VecOp::Vvsra => x / 2f32.powf(y.round()),
        VecOp::Vrelu => relu_f(x),
        VecOp::Vtanh => x.tanh(),
        VecOp::Vsigm => 1.0 / (1.0 + (-x).exp()),
        VecOp::Vrsu | VecOp::Vrsl => x,
        VecOp::Vvdiv => x / y,
        VecOp::Vexp => x.exp(),
        VecOp::Vlog => x.ln(),
        VecOp::Vvdmul | VecOp::Vavg => unreachable!("reductions are computed whole"),
    }
}

/// A vector op over separate source and destination slices.
fn vector(op: VecOp, x: &[f32], y: &[f32], out: &mut [f32]) {
    match op {
        VecOp::Vvdmul => out[0] = x.iter().zip(y).map(|(a, b)| a * b).sum(),
        VecOp::Vavg => out[0] = if x.is_empty() { 0.0 } else { x.iter().sum::<f32>() / x.len() as f32 },
        _ => {
            for i in 0..x.len() {
                out[i] = elementwise(op, x[i], y[i]);
            }
        }
    }
}
