//! Observers of a run: the engine tells them every executed instruction (with its effects)
//! and every completed transfer. Statistics are one observer; timing, energy and traces are
//! others.

use super::semantics::Effects;
use crate::arch::CoreId;
use crate::isa::{Inst, Task, Unit};

/// Where an executed instruction is: its core (an index into the program's core list), its
/// number in that core's dynamic stream, its source line (0 if none) and the task marker the
/// core passed last (what the instruction is attributed to).
#[derive(Debug, Clone, Copy)]
pub struct At<'a> {
    pub core: usize,
    pub pc: u64,
    pub line: u32,
    pub task: Option<&'a Task>,
}

/// What an engine reports as it runs.
pub trait Observer {
    /// An instruction executed.
    fn instruction(&mut self, at: &At, inst: &Inst, fx: &Effects) {
        let _ = (at, inst, fx);
    }
    /// A transfer of `bytes` completed from core `from` to core `to`.
    fn transfer(&mut self, from: usize, to: usize, bytes: u32) {
        let _ = (from, to, bytes);
    }
}

/// Observes nothing.
pub struct NoObserver;
impl Observer for NoObserver {}

/// Per-core statistics of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoreStats {
    pub id: CoreId,
    pub instructions: u64,
    pub mvmuls: u64,
    pub vector: u64,
    /// Memory instructions (`ld st lldi lmv`).
    pub transfers: u64,
    /// Messages sent or received (`send`, `recv` completed).
    pub messages: u64,
    /// Bytes read and written, local and global memory.
    pub bytes: u64,
}

/// Counts instructions by unit, per core.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub cores: Vec<CoreStats>,
}

impl Stats {
    pub fn new(ids: &[CoreId]) -> Stats {
        Stats { cores: ids.iter().map(|&id| CoreStats { id, ..Default::default() }).collect() }
    }
}

impl Observer for Stats {
    fn instruction(&mut self, at: &At, inst: &Inst, fx: &Effects) {
        let c = &mut self.cores[at.core];
        c.instructions += 1;
        c.bytes += fx.reads.iter().chain(&fx.writes).map(|r| r.bytes).sum::<u64>();
        match inst.info().unit {
            Unit::Matrix => c.mvmuls += 1,
            Unit::Vector => c.vector += 1,
            Unit::Transfer if !matches!(inst, Inst::Send { .. } | Inst::Recv { .. }) => c.transfers += 1,
            _ => {}
        }
    }
    fn transfer(&mut self, from: usize, to: usize, _: u32) {
        self.cores[from].messages += 1;
        self.cores[to].messages += 1;
    }
}

/// Two observers at once.
pub struct Both<'a, A: Observer, B: Observer>(pub &'a mut A, pub &'a mut B);

impl<A: Observer, B: Observer> Observer for Both<'_, A, B> {
    fn instruction(&mut self, at: &At, inst: &Inst, fx: &Effects) {
        self.0.instruction(at, inst, fx);
        self.1.instruction(at, inst, fx);
    }
    fn transfer(&mut self, from: usize, to: usize, bytes: u32) {
        self.0.transfer(from, to, bytes);
        self.1.transfer(from, to, bytes);
    }
}
