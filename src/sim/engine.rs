//! The functional engine: runs every core's program on f32 data, interleaving cores at their
//! communication. A core runs until it blocks in a `send`/`recv`/`wait` (the shared
//! [`Rendezvous`]) or finishes; the others run meanwhile; when no core can make progress
//! the program deadlocks and the error names every blocked core. Programs are walked in
//! structured form (loops are never expanded).

use super::observe::{At, Observer};
use super::semantics::{effects, execute, CoreState, Memories};
use super::weights::Block;
use crate::diag::{Diagnostic, Error, Loc, Result};
use crate::isa::cursor::Cursor;
use crate::isa::rendezvous::{comm_line, comm_of, Arrival, Rendezvous};
use crate::isa::{Program, Space};
use std::sync::Arc;

pub struct Functional<'p> {
    p: &'p Program,
    mem: Memories,
    /// Global memory, one f32 per element.
    pub global: Vec<f32>,
    pub cores: Vec<CoreState>,
    cursors: Vec<Cursor<'p>>,
    rv: Rendezvous<usize>,
    done: Vec<bool>,
    /// Instructions each core has executed (its dynamic program counter).
    pcs: Vec<u64>,
}

impl<'p> Functional<'p> {
    /// An engine for `p` with crossbars programmed with `crossbars` (per core, per group) and
    /// `global` as initial global memory; `local[k]` elements of local memory on core `k` are allocated up front (what it touches:
    /// the verifier's footprint).
    pub fn new(
        p: &'p Program,
        mem: Memories,
        local: &[usize],
        crossbars: Vec<Vec<Arc<Block>>>,
        global: Vec<f32>,
    ) -> Self {
        let cores: Vec<CoreState> =
            p.cores.iter().zip(crossbars).zip(local).map(|((c, ags), &n)| CoreState::new(c.id, n, ags)).collect();
        let ids: Vec<_> = p.cores.iter().map(|c| c.id).collect();
        Functional {
            p,
            mem,
            global,
            cores,
            cursors: p.cores.iter().map(|c| Cursor::new(&c.body)).collect(),
            rv: Rendezvous::new(&ids),
            done: vec![false; p.cores.len()],
            pcs: vec![0; p.cores.len()],
        }
    }

    /// Runs every core to its end.
    pub fn run(&mut self, obs: &mut dyn Observer) -> Result<()> {
        loop {
            let mut progress = false;
            // A core that is neither finished nor waiting runs at least one instruction.
            for k in 0..self.cores.len() {
                if !self.done[k] && self.rv.pending(k).is_none() {
                    self.step(k, obs)?;
                    progress = true;
                }
            }
            if self.done.iter().all(|&d| d) {
                return Ok(());
            }
            if !progress {
                return Err(self.deadlock());
            }
        }
    }

    fn at(&self, line: u32) -> Option<Loc> {
        self.p.loc(line).filter(|_| line > 0)
    }

    /// An error of core `k` at its current instruction.
    fn fail(&self, k: usize, mnemonic: &str, line: u32, msg: &str) -> Error {
        let id = self.cores[k].id;
        let pc = self.pcs[k] - 1;
        Diagnostic::error(format!("core {id}, instruction {pc} ('{mnemonic}'): {msg}")).at_opt(self.at(line)).into()
    }

    /// Runs core `k` until it blocks or finishes.
    fn step(&mut self, k: usize, obs: &mut dyn Observer) -> Result<()> {
        let eb = self.mem.eb;
        loop {
            let Some((inst, line)) = self.cursors[k].next() else {
                self.done[k] = true;
                return Ok(());
            };
            self.pcs[k] += 1;
            let fx = effects(self.p, &self.p.cores[k], inst, self.cursors[k].counters(), &self.mem)
                .map_err(|m| self.fail(k, inst.mnemonic(), line, &m))?;
            // The memories hold what the verifier found the program touches; should an access
            // reach past that, they grow (never past the architecture's sizes, which `effects`
            // checks).
            for r in fx.reads.iter().chain(&fx.writes) {
                let need = r.end().div_ceil(eb) as usize;
                let mem = if r.space == Space::Global { &mut self.global } else { &mut self.cores[k].local };
                if need > mem.len() {
                    mem.resize(need, 0.0);
                }
            }
            let at = At { core: k, pc: self.pcs[k] - 1, line, task: self.cursors[k].task() };
            obs.instruction(&at, inst, &fx);
            let data = fx.reads.first().or(fx.writes.first()).map_or(0, |r| r.elem(eb));
            let Some(c) = comm_of(inst, line, data) else {
                let (core, global) = (&mut self.cores[k], &mut self.global);
                execute(core, global, inst, &fx, eb);
                continue;
            };
            let partner = match *inst {
                crate::isa::Inst::Send { core, .. }
                | crate::isa::Inst::Recv { core, .. }
                | crate::isa::Inst::Sync { core, .. } => Some(core),
                _ => None,
            };
            if let Some(p) = partner {
                if self.rv.index_of(p).is_none()
                    || p == self.cores[k].id && !matches!(inst, crate::isa::Inst::Sync { .. })
                {
                    return Err(self.fail(
                        k,
                        inst.mnemonic(),
                        line,
                        &format!("names core {p}, which has no program or is itself"),
                    ));
                }
            }
            match self.rv.arrive(k, c) {
                Arrival::Done => {}
                Arrival::Blocked => return Ok(()),
                Arrival::Transfer(t) => {
                    if t.send_size != t.recv_size {
                        let (from, to) = (self.cores[t.sender].id, self.cores[t.receiver].id);
                        return Err(Diagnostic::error(format!(
                            "core {from} sends {} bytes (line {}) but core {to} receives {} bytes (line {})",
                            t.send_size, t.send_line, t.recv_size, t.recv_line
                        ))
                        .at_opt(self.at(t.send_line))
                        .into());
                    }
                    let n = (u64::from(t.send_size) / eb) as usize;
                    let (s, d) = (t.src, t.dst);
                    if t.sender == t.receiver {
                        let local = &mut self.cores[t.sender].local;
                        local.copy_within(s..s + n, d);
                    } else {
                        let (a, b) = (t.sender.min(t.receiver), t.sender.max(t.receiver));
                        let (lo, hi) = self.cores.split_at_mut(b);
                        let (src, dst) = if t.sender == a { (&lo[a], &mut hi[0]) } else { (&hi[0], &mut lo[a]) };
                        dst.local[d..d + n].copy_from_slice(&src.local[s..s + n]);
                    }
                    obs.transfer(t.sender, t.receiver, t.send_size);
                }
            }
        }
    }

    fn deadlock(&self) -> Error {
        let mut out = vec![];
        for k in 0..self.cores.len() {
            if let Some(c) = self.rv.pending(k) {
                let why = self.rv.blocked_message(k, |l| if l > 0 { format!(" (line {l})") } else { String::new() });
                out.push(
                    Diagnostic::error(format!("deadlock: core {}: {why}", self.cores[k].id))
                        .at_opt(self.at(comm_line(c))),
                );
            }
        }
        Error::many(out)
    }
}
