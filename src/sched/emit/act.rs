//! Activations as short programs of vector ops. The ISA has `vrelu`, `vsigm` and `vtanh`;
//! the others are composed from `vvmax`, `vvsub`, `vvmul` and `vvadd` against constant
//! vectors (set once per task by `lldi`), exactly where the composition allows:
//! - clip(x, lo, hi) = min(max(x, lo), hi), with min(y, hi) = -max(-y, -hi) (negation as a
//!   subtraction from zero; the ISA has no vector minimum);
//! - leaky_relu(x) = r + alpha * (x - r), r = relu(x) (x - r is x itself below zero);
//! - hard_sigmoid(x) = clip(alpha * x + beta, 0, 1);
//! - hard_swish(x) = x * hard_sigmoid(x) with alpha 1/6, beta 1/2.

use super::inst;
use crate::graph::Act;
use crate::isa::{Addr, Inst, Stmt, VecOp};
use crate::sched::memory::CoreBuilder;

/// A vector an activation step reads or writes: the value itself, two temporaries, or
/// constant `k`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Reg {
    X,
    T,
    U,
    K(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Step {
    op: VecOp,
    dst: Reg,
    a: Reg,
    b: Option<Reg>,
}

/// An activation's steps and the constants they use.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ActProgram {
    consts: Vec<f32>,
    steps: Vec<Step>,
}

/// Local buffers of a program on one core: temporaries and constants.
pub(crate) struct ActBufs {
    t: u32,
    u: u32,
    k: Vec<u32>,
}

fn step(op: VecOp, dst: Reg, a: Reg, b: Option<Reg>) -> Step {
    Step { op, dst, a, b }
}

/// `r = clip(r, lo, hi)` with constants `lo`, `-hi` and `0` at `k`, `k + 1`, `k + 2`.
fn clip_steps(r: Reg, k: usize) -> Vec<Step> {
    vec![
        step(VecOp::Vvmax, r, r, Some(Reg::K(k))),
        step(VecOp::Vvsub, r, Reg::K(k + 2), Some(r)),
        step(VecOp::Vvmax, r, r, Some(Reg::K(k + 1))),
        step(VecOp::Vvsub, r, Reg::K(k + 2), Some(r)),
    ]
}

impl ActProgram {
    pub(crate) fn of(a: Act) -> ActProgram {
        use Reg::*;
        let one = |op| ActProgram { consts: vec![], steps: vec![step(op, X, X, None)] };
        match a {
            Act::Relu => one(VecOp::Vrelu),
            Act::Sigmoid => one(VecOp::Vsigm),
            Act::Tanh => one(VecOp::Vtanh),
            Act::Clip { min, max } => ActProgram { consts: vec![min, -max, 0.0], steps: clip_steps(X, 0) },
            Act::LeakyRelu { alpha } => ActProgram {
                consts: vec![alpha],
                steps: vec![
                    step(VecOp::Vrelu, T, X, None),
                    step(VecOp::Vvsub, U, X, Some(T)),
                    step(VecOp::Vvmul, U, U, Some(K(0))),
                    step(VecOp::Vvadd, X, T, Some(U)),
                ],
            },
            Act::HardSigmoid { alpha, beta } => {
                let mut steps = vec![step(VecOp::Vvmul, X, X, Some(K(0))), step(VecOp::Vvadd, X, X, Some(K(1)))];
                steps.extend(clip_steps(X, 2));
                ActProgram { consts: vec![alpha, beta, 0.0, -1.0, 0.0], steps }
            }
            Act::HardSwish => {
                let mut steps = vec![step(VecOp::Vvmul, T, X, Some(K(0))), step(VecOp::Vvadd, T, T, Some(K(1)))];
                steps.extend(clip_steps(T, 2));
                steps.push(step(VecOp::Vvmul, X, X, Some(T)));
                ActProgram { consts: vec![1.0 / 6.0, 0.5, 0.0, -1.0, 0.0], steps }
            }
        }
    }

    /// The single op of a one-step program without constants (ReLU, sigmoid, tanh).
    pub(crate) fn single(&self) -> Option<VecOp> {
        match self.steps.as_slice() {
            [s] if self.consts.is_empty() && s.dst == Reg::X && s.a == Reg::X && s.b.is_none() => Some(s.op),
            _ => None,
        }
    }

    /// Buffers for vectors of `bytes` on `cb` (named after `name`), and the `lldi` that set
    /// the constants (to run once, before the program).
    pub(crate) fn alloc(&self, cb: &mut CoreBuilder, name: &str, bytes: i64) -> (ActBufs, Vec<Stmt>) {
        let uses = |r: Reg| self.steps.iter().any(|s| s.dst == r || s.a == r || s.b == Some(r));
        let t = if uses(Reg::T) { cb.buf(&format!("{name}.act_t"), bytes) } else { 0 };
        let u = if uses(Reg::U) { cb.buf(&format!("{name}.act_u"), bytes) } else { 0 };
        let mut set = vec![];
        let k = self
            .consts
            .iter()
            .enumerate()
            .map(|(j, &value)| {
                let b = cb.buf(&format!("{name}.act_k{j}"), bytes);
                set.push(inst(Inst::Lldi { rd: Addr::local(b, 0), size: bytes as u32, value }));
                b
            })
            .collect();
        (ActBufs { t, u, k }, set)
    }

    /// The program on the `len` elements of local buffer `x`, in place.
    pub(crate) fn apply(&self, bufs: &ActBufs, x: u32, len: u32) -> Vec<Stmt> {
        self.apply_at(bufs, x, 0, len)
    }

    /// The program on the `len` elements of local buffer `x` from byte `offset`, in place.
    pub(crate) fn apply_at(&self, bufs: &ActBufs, x: u32, offset: i64, len: u32) -> Vec<Stmt> {
        let at = |r: Reg| match r {
            Reg::X => Addr::local(x, offset),
            Reg::T => Addr::local(bufs.t, 0),
            Reg::U => Addr::local(bufs.u, 0),
            Reg::K(j) => Addr::local(bufs.k[j], 0),
        };
        self.steps
            .iter()
            .map(|s| inst(Inst::Vec { op: s.op, rd: at(s.dst), rs1: at(s.a), rs2: s.b.map(at), len }))
            .collect()
    }
}
