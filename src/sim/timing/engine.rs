//! The timing engine: every core's instruction stream through a reorder buffer and its units,
//! event-driven, in time order where cores share something.
//!
//! A core runs ahead on its own (its fetch, ROB, units, local-memory port and NoC switch are
//! its own) until an instruction needs something shared: the global-memory server (`ld`, `st`)
//! or a partner core (`send`, `recv`). There it yields, keyed by the time of its request; the
//! core with the earliest request goes next, so the shared server is reserved in time order,
//! exactly as a discrete-event simulator would, at a cost per instruction and not per cycle.
//! A send and its receive are resolved when the second of the two arrives (the first waits
//! with its state frozen). Loops run through [`Cursor`]: nothing is unrolled in memory.
//!
//! The micro-architecture, both models (`../shared/docs/pimsim-model.md`):
//! - an instruction dispatches when the front end has fetched it (one per cycle), the ROB has
//!   a free entry (retirement is in order), its unit is free (one FSM per array group for
//!   `mvmul`, one vector unit, one transfer unit) and it has no local-memory conflict with an
//!   instruction in flight (RAW and WAR; WAW too under pimlir's model; ranges are closed
//!   intervals, so adjacent ranges conflict);
//! - it executes a cycle after dispatch: its local-memory reads on the core's one port (a
//!   reservation server), its unit's work, its writes on the port; it retires a cycle after
//!   completing (`mvmul` a cycle later still), so with a one-entry ROB a vector or transfer
//!   op costs E + 2 cycles and a `mvmul` E + 3;
//! - scalar ops execute at dispatch in one cycle, bypassed (no register hazards) and without
//!   a ROB entry, but dispatch is in order, so they wait while the ROB is full; `setbw` and
//!   `nop` are decoded (a fetch cycle).
//!
//! With these rules the reference ResNet-18 program of `../shared/data/pimsim` takes 22.5592
//! ms under pimsim-compat (pimsim-nn: 22.5637), 22.2402 ms with a 2-entry ROB (22.260874) and
//! 22.2214 with 8 (22.197556); the element-pipeline program 217.9961 ms (218.000567).

use super::noc::{Mesh, Noc, Node};
use super::pipeline::{Access, Writers};
use super::{Options, Trace};
use crate::arch::CoreId;
use crate::cost::{CostModel, Model};
use crate::isa::cursor::Cursor;
use crate::isa::{Addr, CoreProgram, Inst, Program, Unit};
use rustc_hash::FxHashMap;
use smallvec::SmallVec;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, VecDeque};

/// Units whose busy time is reported.
pub const UNITS: [&str; 4] = ["matrix", "vector", "transfer", "scalar"];
const MATRIX: usize = 0;
const VECTOR: usize = 1;
pub const TRANSFER: usize = 2;
const SCALAR: usize = 3;

/// A closed byte interval of local memory.
type Range = (u64, u64);

struct Entry {
    complete: f64,
    retire: f64,
    reads: SmallVec<[Range; 3]>,
    writes: SmallVec<[Range; 2]>,
}

/// What one core did.
#[derive(Debug, Clone, Default)]
pub struct CoreTotals {
    pub finish_ns: f64,
    pub busy_ns: [f64; 4],
    /// Of the transfer unit's busy time, how much it waited: for the partner of a send or
    /// recv, or in the global-memory server's queue.
    pub wait_ns: f64,
    pub instructions: u64,
    pub local_read_bytes: u64,
    pub local_write_bytes: u64,
    pub global_read_bytes: u64,
    pub global_write_bytes: u64,
    pub noc_sent_bytes: u64,
    pub noc_received_bytes: u64,
    /// pJ by category: control (fetch, decode, scalar), matrix, vector, local memory, global
    /// memory, NoC.
    pub energy_pj: [f64; 6],
    /// When each sample's last instruction retired.
    pub sample_finish: Vec<f64>,
}

pub const E_CONTROL: usize = 0;
pub const E_MATRIX: usize = 1;
pub const E_VECTOR: usize = 2;
pub const E_LOCAL: usize = 3;
pub const E_GLOBAL: usize = 4;
pub const E_NOC: usize = 5;

/// A request that waits for its turn at a shared resource, and the rest of its instruction.
#[derive(Clone, Copy)]
enum Pending {
    None,
    /// `ld`: the request reaches global memory (at the heap key); then `bytes` are read there
    /// and written locally.
    Load {
        bytes: u64,
        exec: f64,
        /// The global bytes read, `[start, end)`.
        global: (u64, u64),
        /// Whether the request is on its way (else it leaves at the heap key: on a mesh with
        /// contention, messages to global memory take their links in time order).
        sent: bool,
    },
    /// `st`: the data reaches global memory (at the heap key) and is written there.
    Store {
        bytes: u64,
        exec: f64,
        global: (u64, u64),
        sent: bool,
    },
    /// `send` posted (ready message on its way) and waiting for the receiver's answer.
    Send {
        exec: f64,
    },
    /// `recv` waiting for the sender's ready message.
    Recv {
        exec: f64,
    },
}

/// A posted half of a transfer on the channel (sender, receiver).
#[derive(Clone, Copy)]
enum Posted {
    /// The sender's ready message reaches the receiver at `ready_at`.
    Ready { ready_at: f64, size: u64 },
    /// The receiver is running its recv since `exec`.
    Waiting { exec: f64, size: u64 },
}

/// Why a core stopped running ahead.
enum Stop {
    /// At a shared request at this time.
    Shared(f64),
    /// Waiting for its partner.
    Blocked,
    Done,
}

pub struct CoreTimer<'p> {
    pub id: CoreId,
    prog: &'p CoreProgram,
    cursor: Cursor<'p>,
    sample: u32,
    fetch: f64,
    rob: VecDeque<Entry>,
    last_retire: f64,
    vector_free: f64,
    transfer_free: f64,
    ag_free: Vec<f64>,
    lmem: Calendar,
    switch_free: f64,
    ibiw: u32,
    obiw: u32,
    pending: Pending,
    /// The instruction waiting in `pending` (its line, for errors and the trace).
    pending_inst: Option<(&'p Inst, u32)>,
    pub totals: CoreTotals,
    pub done: bool,
}

/// The machine: cost model, NoC, model rules.
pub struct Machine<'a> {
    pub cost: CostModel,
    pub noc: &'a Noc,
    pub model: Model,
    pub eb: u64,
    pub period: f64,
    pub rob_size: usize,
    /// Core static power (mW), control energies per event (pJ).
    pub fetch_pj: f64,
    pub scalar_pj: f64,
}

impl Machine<'_> {
    /// Whether messages contend for links (pimlir's model on a mesh), so that they must take
    /// them in time order.
    fn contended(&self) -> bool {
        self.model == Model::Pimlir && matches!(self.noc, Noc::Mesh(_))
    }
}

/// State shared by the cores.
struct Shared {
    gmem_free: f64,
    /// Time the global-memory server spent serving requests (all samples).
    gmem_busy: f64,
    /// When each mesh link is busy, by link id ([`Mesh::route`]).
    links: Vec<Calendar>,
    /// No core sends anything before this time any more (links forget what ends before it).
    floor: f64,
    channels: FxHashMap<(usize, usize), VecDeque<Posted>>,
    route: Vec<u32>,
    /// Who wrote global memory last, to find what pipelining overwrites (with samples > 1).
    writers: Option<Writers>,
}

/// Heap entry: the core with the earliest shared request first (ties by core order).
#[derive(PartialEq)]
struct Ready(f64, usize);
impl Eq for Ready {}
impl PartialOrd for Ready {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ready {
    fn cmp(&self, o: &Self) -> Ordering {
        o.0.total_cmp(&self.0).then_with(|| o.1.cmp(&self.1))
    }
}

/// A run that could not finish.
#[derive(Debug)]
pub struct Stuck {
    pub message: String,
}

fn overlaps(a: Range, b: Range) -> bool {
    a.0 <= b.1 && b.0 <= a.1
}

/// The closed interval of `bytes` at `addr` (empty accesses touch nothing).
fn range(addr: u64, bytes: u64) -> Option<Range> {
    (bytes > 0).then(|| (addr, addr + bytes))
}

impl<'p> CoreTimer<'p> {
    pub fn new(id: CoreId, prog: &'p CoreProgram, samples: u32) -> Self {
        CoreTimer {
            id,
            prog,
            cursor: Cursor::new(&prog.body),
            sample: 0,
            fetch: 0.0,
            rob: VecDeque::new(),
            last_retire: 0.0,
            vector_free: 0.0,
            transfer_free: 0.0,
            ag_free: vec![0.0; prog.ags.len()],
            lmem: Calendar::default(),
            switch_free: 0.0,
            ibiw: 0,
            obiw: 0,
            pending: Pending::None,
            pending_inst: None,
            totals: CoreTotals { sample_finish: Vec::with_capacity(samples as usize), ..Default::default() },
            done: false,
        }
    }

    fn addr(&self, p: &Program, a: &Addr) -> u64 {
        p.resolve(self.prog, a, self.cursor.counters()).map_or(0, |v| v.max(0) as u64)
    }

    /// Makes room in the ROB; returns when an entry is free.
    fn rob_room(&mut self, m: &Machine) -> f64 {
        let mut t = 0.0f64;
        while self.rob.len() >= m.rob_size {
            let e = self.rob.pop_front().expect("a full ROB has entries");
            t = t.max(e.retire);
        }
        t
    }

    /// The time after which no in-flight instruction conflicts with these accesses.
    fn hazards(&self, m: &Machine, reads: &[Range], writes: &[Range], from: f64) -> f64 {
        let mut t = from;
        for e in &self.rob {
            if e.complete <= t {
                continue;
            }
            let raw = reads.iter().any(|&r| e.writes.iter().any(|&w| overlaps(r, w)));
            let war = writes.iter().any(|&w| e.reads.iter().any(|&r| overlaps(r, w)));
            let waw = m.model == Model::Pimlir && writes.iter().any(|&w| e.writes.iter().any(|&x| overlaps(x, w)));
            if raw || war || waw {
                t = t.max(e.complete);
            }
        }
        t
    }

    /// The local-memory port: `bytes` read (or written) from `at`; returns when done.
    fn port(&mut self, m: &Machine, at: f64, bytes: u64, write: bool) -> f64 {
        if bytes == 0 {
            return at;
        }
        let d = if write { m.cost.local.write_ns(bytes) } else { m.cost.local.read_ns(bytes) };
        // Requests come in issue order, not time order (an mvmul books its write when it
        // issues); the calendar serves an earlier request in a gap before a later one. No
        // request starts before the newest instruction executes.
        self.lmem.prune(self.fetch);
        let start = self.lmem.reserve(at, d);
        if write {
            self.totals.local_write_bytes += bytes;
        } else {
            self.totals.local_read_bytes += bytes;
        }
        self.totals.energy_pj[E_LOCAL] += m.cost.local.energy(bytes, write);
        start + d
    }

    /// Puts an executed instruction in the ROB.
    fn retire(
        &mut self,
        m: &Machine,
        complete: f64,
        extra: f64,
        reads: SmallVec<[Range; 3]>,
        writes: SmallVec<[Range; 2]>,
    ) {
        let retire = (complete + m.period + extra).max(self.last_retire);
        self.last_retire = retire;
        self.rob.push_back(Entry { complete, retire, reads, writes });
    }

    /// Runs ahead until a shared request, a partner, or the end.
    fn run(&mut self, p: &Program, m: &Machine, shared: &mut Shared, samples: u32, trace: &mut Trace) -> Stop {
        loop {
            let Some((inst, line)) = self.cursor.next() else {
                self.totals.sample_finish.push(self.last_retire.max(self.fetch));
                self.sample += 1;
                if self.sample < samples {
                    self.cursor = Cursor::new(&self.prog.body);
                    continue;
                }
                self.totals.finish_ns = self.last_retire.max(self.fetch);
                self.done = true;
                return Stop::Done;
            };
            self.totals.instructions += 1;
            self.totals.energy_pj[E_CONTROL] += m.fetch_pj;
            if let Some(stop) = self.issue(p, m, shared, inst, line, trace) {
                self.pending_inst = Some((inst, line));
                return stop;
            }
        }
    }

    /// Issues one instruction; `Some` when it must wait for something shared.
    fn issue(
        &mut self,
        p: &Program,
        m: &Machine,
        shared: &mut Shared,
        inst: &'p Inst,
        line: u32,
        trace: &mut Trace,
    ) -> Option<Stop> {
        let unit = inst.info().unit;
        match inst {
            Inst::SetBw { ibiw, obiw } => {
                self.ibiw = *ibiw;
                self.obiw = *obiw;
                self.fetch += m.period;
                return None;
            }
            Inst::Nop => {
                self.fetch += m.period;
                return None;
            }
            _ => {}
        }
        if unit == Unit::Scalar {
            // Executed at dispatch, without a ROB entry; but dispatch is in order, so it waits
            // while the ROB is full.
            let d = self.fetch.max(self.rob_room(m));
            let done = d + m.period;
            self.fetch = done;
            self.totals.busy_ns[SCALAR] += m.period;
            self.totals.energy_pj[E_CONTROL] += m.scalar_pj;
            return None;
        }
        let (mut reads, mut writes): (SmallVec<[Range; 3]>, SmallVec<[Range; 2]>) = (SmallVec::new(), SmallVec::new());
        let eb = m.eb as i64;
        let ag = match inst {
            Inst::Mvmul { group, .. } => self.prog.ags.get(*group as usize),
            _ => None,
        };
        for (k, (o, a)) in inst.info().operands.iter().zip(inst.addrs()).enumerate() {
            if o.space != crate::isa::Space::Local {
                continue;
            }
            let bytes = inst.operand_bytes(k, eb, ag).max(0) as u64;
            if let Some(r) = range(self.addr(p, a), bytes) {
                match o.access {
                    crate::isa::inst::Access::Read => reads.push(r),
                    crate::isa::inst::Access::Write => writes.push(r),
                }
            }
        }
        let unit_free = match inst {
            Inst::Mvmul { group, .. } => self.ag_free.get(*group as usize).copied().unwrap_or(0.0),
            _ if unit == Unit::Vector => self.vector_free,
            _ => self.transfer_free,
        };
        let d0 = self.fetch.max(self.rob_room(m)).max(unit_free);
        let d = self.hazards(m, &reads, &writes, d0);
        self.fetch = d + m.period;
        let exec = d + m.period;
        match inst {
            Inst::Mvmul { group, mbiw, .. } => {
                let (rows, cols, xbars) = ag.map_or((0, 0, 1), |g| (g.rows as u32, g.cols as u32, g.xbars));
                let c = m.cost.mvmul(rows, cols, xbars, self.ibiw, self.obiw, *mbiw);
                let t1 = self.port(m, exec, c.read_bytes, false);
                let t2 = t1 + c.xbar_ns;
                let done = self.port(m, t2, c.write_bytes, true);
                if let Some(f) = self.ag_free.get_mut(*group as usize) {
                    *f = done;
                }
                self.totals.busy_ns[MATRIX] += done - exec;
                self.totals.energy_pj[E_MATRIX] += c.energy;
                trace.slice(self.id, "matrix", "mvmul", exec, done, line);
                self.retire(m, done, m.period, reads, writes);
            }
            Inst::Vec { op, len, .. } => {
                let (rb, wb) = m.cost.vector_bytes(*op, *len, self.ibiw, self.obiw);
                let sources = if op.binary() { 2 } else { 1 };
                // Each source is its own read (pimsim-nn rounds each up to a beat).
                let mut t = exec;
                for _ in 0..sources {
                    t = self.port(m, t, rb / sources, false);
                }
                t += m.cost.vector_ns(*len);
                let done = self.port(m, t, wb, true);
                self.vector_free = done;
                self.totals.busy_ns[VECTOR] += done - exec;
                self.totals.energy_pj[E_VECTOR] += m.cost.vector_energy(*len);
                trace.slice(self.id, "vector", op.name(), exec, done, line);
                self.retire(m, done, 0.0, reads, writes);
            }
            Inst::Vmv { len, .. } => {
                let (rb, wb) = (reads.iter().map(|r| r.1 - r.0).sum(), writes.iter().map(|r| r.1 - r.0).sum());
                let t = self.port(m, exec, rb, false) + m.cost.vector_ns(*len);
                let done = self.port(m, t, wb, true);
                self.vector_free = done;
                self.totals.busy_ns[VECTOR] += done - exec;
                self.totals.energy_pj[E_VECTOR] += m.cost.vector_energy(*len);
                trace.slice(self.id, "vector", "vmv", exec, done, line);
                self.retire(m, done, 0.0, reads, writes);
            }
            Inst::Lldi { size, .. } => {
                let done = self.port(m, exec, u64::from(*size), true);
                self.transfer_done(m, exec, done, "lldi", line, trace, reads, writes);
            }
            Inst::Lmv { size, .. } => {
                let t = self.port(m, exec, u64::from(*size), false);
                let done = self.port(m, t, u64::from(*size), true);
                self.transfer_done(m, exec, done, "lmv", line, trace, reads, writes);
            }
            Inst::Ld { size, .. } => {
                // One request flit to global memory.
                let sent = !m.contended();
                let at = if sent { self.message(m, shared, exec, Node::Global, 1) } else { exec };
                let global = self.global_range(p, inst, *size);
                self.pending = Pending::Load { bytes: u64::from(*size), exec, global, sent };
                self.stash(reads, writes);
                return Some(Stop::Shared(at));
            }
            Inst::St { size, .. } => {
                let t = self.port(m, exec, u64::from(*size), false);
                let sent = !m.contended();
                let at = if sent { self.message(m, shared, t, Node::Global, u64::from(*size)) } else { t };
                let global = self.global_range(p, inst, *size);
                self.pending = Pending::Store { bytes: u64::from(*size), exec, global, sent };
                self.stash(reads, writes);
                return Some(Stop::Shared(at));
            }
            Inst::Send { .. } => {
                self.pending = Pending::Send { exec };
                self.stash(reads, writes);
                return Some(Stop::Blocked);
            }
            Inst::Recv { .. } => {
                self.pending = Pending::Recv { exec };
                self.stash(reads, writes);
                return Some(Stop::Blocked);
            }
            // Event registers: modelled as a cycle on the transfer unit (the reference
            // programs use none; the functional engine checks their pairing).
            _ => {
                let done = exec + m.period;
                self.transfer_done(m, exec, done, inst.info().mnemonic, line, trace, reads, writes);
            }
        }
        None
    }

    /// The global-memory bytes `[start, end)` of a `ld` or `st` of `size` bytes, in the copy
    /// of its buffer this core's sample addresses.
    fn global_range(&self, p: &Program, inst: &Inst, size: u32) -> (u64, u64) {
        let info = inst.info();
        let start = info.operands.iter().zip(inst.addrs()).find(|(o, _)| o.space == crate::isa::Space::Global).map_or(
            0,
            |(_, a)| {
                let copy = match a.base {
                    crate::isa::Base::Global(g) => p.globals.get(g as usize).map_or(0, |g| g.slot_offset(self.sample)),
                    _ => 0,
                };
                self.addr(p, a).saturating_add(copy)
            },
        );
        (start, start.saturating_add(u64::from(size)))
    }

    /// The accesses of the instruction waiting in `pending`, kept in a ROB entry whose times
    /// are filled in when it completes.
    fn stash(&mut self, reads: SmallVec<[Range; 3]>, writes: SmallVec<[Range; 2]>) {
        self.rob.push_back(Entry { complete: f64::INFINITY, retire: f64::INFINITY, reads, writes });
    }

    /// Completes the stashed entry.
    fn complete_pending(&mut self, m: &Machine, exec: f64, done: f64, name: &str, line: u32, trace: &mut Trace) {
        let e = self.rob.pop_back().expect("the pending instruction has a ROB entry");
        self.pending = Pending::None;
        self.pending_inst = None;
        self.transfer_done(m, exec, done, name, line, trace, e.reads, e.writes);
    }

    #[allow(clippy::too_many_arguments)]
    fn transfer_done(
        &mut self,
        m: &Machine,
        exec: f64,
        done: f64,
        name: &str,
        line: u32,
        trace: &mut Trace,
        reads: SmallVec<[Range; 3]>,
        writes: SmallVec<[Range; 2]>,
    ) {
        self.transfer_free = done;
        self.totals.busy_ns[TRANSFER] += done - exec;
        trace.slice(self.id, "transfer", name, exec, done, line);
        self.retire(m, done, 0.0, reads, writes);
    }

    /// Sends `bytes` from this core to `to` from `at` through this core's switch (one message
    /// at a time); returns the arrival of the last flit. Under pimsim-compat a message takes
    /// its flits times the per-flit latency (table, or the mesh's stand-in) and nothing else
    /// contends; under pimlir's model the switch injects a flit per cycle and the flits then
    /// cross the mesh's links, which other messages contend for ([`Shared::mesh`]).
    fn message(&mut self, m: &Machine, shared: &mut Shared, at: f64, to: Node, bytes: u64) -> f64 {
        let flits = m.cost.flits(bytes).max(1);
        let me = Node::Core(self.id);
        let start = at.max(self.switch_free);
        self.totals.noc_sent_bytes += bytes;
        self.totals.energy_pj[E_NOC] += flits as f64 * link_energy(m, me, to);
        match (m.model, m.noc) {
            (Model::Pimlir, Noc::Mesh(mesh)) => {
                self.switch_free = start + flits as f64 * mesh.flit_ns;
                shared.mesh(mesh, m, me, to, start, bytes)
            }
            _ => {
                let dur = flits as f64 * link_latency(m, me, to);
                self.switch_free = start + dur;
                start + dur
            }
        }
    }
}

/// Per-flit latency from `s` to `d` without contention (pimsim-nn's view).
fn link_latency(m: &Machine, s: Node, d: Node) -> f64 {
    match m.noc {
        Noc::Table(t) => t.latency(s, d).unwrap_or(0.0),
        Noc::Mesh(mesh) => mesh.compat_latency(s, d),
    }
}

fn link_energy(m: &Machine, s: Node, d: Node) -> f64 {
    match m.noc {
        Noc::Table(t) => t.energy(s, d),
        Noc::Mesh(mesh) => mesh.hop_energy * f64::from(mesh.hops(s, d)),
    }
}

/// The busy stretches of one mesh link: sorted, disjoint, merged where they touch. Cores run
/// ahead on their own, so a link may be asked for an earlier time than one it already gave
/// away; a message then takes the first gap that fits, as it would in a real time order.
#[derive(Default)]
struct Calendar(Vec<(f64, f64)>);

impl Calendar {
    /// Reserves the first free stretch of `d` at `t` or later; returns its start.
    #[inline]
    fn reserve(&mut self, t: f64, d: f64) -> f64 {
        let v = &mut self.0;
        // The common case: after everything booked.
        match v.last_mut() {
            Some(last) if t > last.1 => v.push((t, t + d)),
            Some(last) if t == last.1 => last.1 = t + d,
            None => v.push((t, t + d)),
            Some(_) => return self.reserve_between(t, d),
        }
        t
    }

    fn reserve_between(&mut self, t: f64, d: f64) -> f64 {
        let v = &mut self.0;
        let mut i = v.partition_point(|&(_, e)| e <= t);
        let mut start = t;
        while i < v.len() && v[i].0 < start + d {
            start = start.max(v[i].1);
            i += 1;
        }
        let end = start + d;
        let prev = i > 0 && v[i - 1].1 >= start;
        let next = i < v.len() && v[i].0 <= end;
        match (prev, next) {
            (true, true) => {
                v[i - 1].1 = v[i].1;
                v.remove(i);
            }
            (true, false) => v[i - 1].1 = end,
            (false, true) => v[i].0 = start,
            (false, false) => v.insert(i, (start, end)),
        }
        start
    }

    /// Stretches a link remembers: enough for the run-ahead distance between cores seen in
    /// practice, few enough to keep a reservation cheap.
    const KEEP: usize = 128;

    /// Forgets what ended before `floor`, and the oldest stretches beyond [`Self::KEEP`] (a
    /// request earlier than every stretch kept then finds the link free: the approximation
    /// this bound costs).
    fn prune(&mut self, floor: f64) {
        if self.0.len() > Self::KEEP {
            let k = self.0.partition_point(|&(_, e)| e < floor).max(self.0.len() - Self::KEEP / 2);
            self.0.drain(..k);
        }
    }
}

impl Shared {
    /// Under pimlir's model on a mesh: a message of `bytes` from `s` at `at` over the XY route,
    /// each link carrying one message at a time; returns the arrival of its last flit.
    fn mesh(&mut self, mesh: &Mesh, m: &Machine, s: Node, d: Node, at: f64, bytes: u64) -> f64 {
        let flits = m.cost.flits(bytes).max(1) as f64;
        let mut route = std::mem::take(&mut self.route);
        mesh.route(s, d, &mut route);
        let mut t = at;
        for &l in &route {
            let l = l as usize;
            if l >= self.links.len() {
                self.links.resize_with(l + 1, Calendar::default);
            }
            let link = &mut self.links[l];
            link.prune(self.floor);
            let start = link.reserve(t, flits * mesh.flit_ns);
            t = start + mesh.hop_ns;
        }
        self.route = route;
        t + flits * mesh.flit_ns
    }
}

/// Runs every core of `p` `opts.samples` times; returns each core's totals (in `p.cores`
/// order) or why the run could not finish.
pub fn run(p: &Program, m: &Machine, opts: &Options, trace: &mut Trace) -> Result<Run, Stuck> {
    let samples = opts.samples.max(1);
    let mut cores: Vec<CoreTimer> = p.cores.iter().map(|c| CoreTimer::new(c.id, c, samples)).collect();
    let index: HashMap<CoreId, usize> = cores.iter().enumerate().map(|(i, c)| (c.id, i)).collect();
    let mut shared = Shared {
        gmem_free: 0.0,
        gmem_busy: 0.0,
        links: vec![],
        floor: 0.0,
        channels: FxHashMap::default(),
        route: vec![],
        writers: (samples > 1).then(Writers::default),
    };
    let mut heap = BinaryHeap::new();
    let mut runnable: Vec<usize> = (0..cores.len()).collect();
    let mut pops = 0u64;
    loop {
        // Run the runnable cores ahead to their next stop.
        while let Some(k) = runnable.pop() {
            match cores[k].run(p, m, &mut shared, samples, trace) {
                Stop::Shared(at) => heap.push(Ready(at, k)),
                Stop::Done => {}
                Stop::Blocked => {
                    if let Some(partner) = rendezvous(p, m, &mut cores, &index, &mut shared, k, trace)? {
                        runnable.push(partner);
                        runnable.push(k);
                    }
                }
            }
        }
        let Some(Ready(at, k)) = heap.pop() else { break };
        pops += 1;
        if pops.is_multiple_of(1024) {
            // Every core's next message leaves at its fetch time or later.
            shared.floor = cores.iter().filter(|c| !c.done).map(|c| c.fetch).fold(f64::INFINITY, f64::min);
            if let Some(p) = &opts.progress {
                p.store(cores.iter().map(|c| c.totals.instructions).sum(), std::sync::atomic::Ordering::Relaxed);
            }
        }
        // The earliest shared request: the global-memory server in time order.
        let c = &mut cores[k];
        let (inst, line) = c.pending_inst.expect("a core at a shared request has its instruction");
        match c.pending {
            Pending::Load { bytes, exec, global, sent: false } => {
                let arrive = c.message(m, &mut shared, at, Node::Global, 1);
                c.pending = Pending::Load { bytes, exec, global, sent: true };
                heap.push(Ready(arrive, k));
                continue;
            }
            Pending::Store { bytes, exec, global, sent: false } => {
                let arrive = c.message(m, &mut shared, at, Node::Global, bytes);
                c.pending = Pending::Store { bytes, exec, global, sent: true };
                heap.push(Ready(arrive, k));
                continue;
            }
            Pending::Load { bytes, exec, global, sent: true } => {
                let start = at.max(shared.gmem_free);
                c.totals.wait_ns += start - at;
                if let Some(w) = &mut shared.writers {
                    w.load(global.0, global.1, Access { sample: c.sample, core: c.id.0, line, at_ns: start });
                }
                shared.gmem_free = start + m.cost.global.read_ns(bytes);
                shared.gmem_busy += m.cost.global.read_ns(bytes);
                c.totals.global_read_bytes += bytes;
                c.totals.energy_pj[E_GLOBAL] += m.cost.global.energy(bytes, false);
                // The data comes back: free under pimsim-nn, over the NoC under pimlir.
                let back = match (m.model, m.noc) {
                    (Model::Pimlir, Noc::Mesh(mesh)) => {
                        c.totals.noc_received_bytes += bytes;
                        let from = shared.gmem_free;
                        shared.mesh(mesh, m, Node::Global, Node::Core(c.id), from, bytes)
                    }
                    (Model::Pimlir, Noc::Table(_)) => {
                        c.totals.noc_received_bytes += bytes;
                        shared.gmem_free + m.cost.flits(bytes) as f64 * link_latency(m, Node::Global, Node::Core(c.id))
                    }
                    (Model::PimsimCompat, _) => shared.gmem_free,
                };
                let done = c.port(m, back, bytes, true);
                c.complete_pending(m, exec, done, inst.info().mnemonic, line, trace);
            }
            Pending::Store { bytes, exec, global, sent: true } => {
                let start = at.max(shared.gmem_free);
                c.totals.wait_ns += start - at;
                if let Some(w) = &mut shared.writers {
                    w.store(global.0, global.1, Access { sample: c.sample, core: c.id.0, line, at_ns: start });
                }
                shared.gmem_free = start + m.cost.global.write_ns(bytes);
                shared.gmem_busy += m.cost.global.write_ns(bytes);
                c.totals.global_write_bytes += bytes;
                c.totals.energy_pj[E_GLOBAL] += m.cost.global.energy(bytes, true);
                let done = shared.gmem_free;
                c.complete_pending(m, exec, done, inst.info().mnemonic, line, trace);
            }
            _ => unreachable!("only loads and stores wait for global memory"),
        }
        runnable.push(k);
    }
    let stuck: Vec<usize> = (0..cores.len()).filter(|&k| !cores[k].done).collect();
    if !stuck.is_empty() {
        return Err(Stuck { message: deadlock_report(p, &cores, &index, &stuck) });
    }
    let writers = shared.writers.unwrap_or_default();
    Ok(Run {
        cores: cores.into_iter().map(|c| c.totals).collect(),
        global_busy_ns: shared.gmem_busy,
        overwrites: writers.found,
        overwrite_count: writers.count,
    })
}

/// What a run did: each core's totals (in `p.cores` order) and the global-memory bytes that
/// pipelining overwrote ([`super::pipeline`]).
pub struct Run {
    pub cores: Vec<CoreTotals>,
    /// Time the one global-memory server was busy, over all samples.
    pub global_busy_ns: f64,
    pub overwrites: Vec<(u64, u64, Access, Access)>,
    pub overwrite_count: u64,
}

/// Core `k` stopped at a send or recv: posts its half on the channel, or completes the
/// transfer with the partner's posted half. Returns the partner to run again when both
/// halves met.
fn rendezvous(
    p: &Program,
    m: &Machine,
    cores: &mut [CoreTimer],
    index: &HashMap<CoreId, usize>,
    shared: &mut Shared,
    k: usize,
    trace: &mut Trace,
) -> Result<Option<usize>, Stuck> {
    let (inst, line) = cores[k].pending_inst.expect("a blocked core has its instruction");
    let (partner_id, size, sending) = match *inst {
        Inst::Send { core, size, .. } => (core, u64::from(size), true),
        Inst::Recv { core, size, .. } => (core, u64::from(size), false),
        _ => unreachable!("only send and recv block"),
    };
    let Some(&j) = index.get(&partner_id) else {
        return Err(Stuck {
            message: format!(
                "core {}: {}{} names core {partner_id}, which has no program",
                cores[k].id,
                inst.info().mnemonic,
                p.at_line(line)
            ),
        });
    };
    let (s, r) = if sending { (k, j) } else { (j, k) };
    let queue = shared.channels.entry((s, r)).or_default();
    let exec = match cores[k].pending {
        Pending::Send { exec } | Pending::Recv { exec } => exec,
        _ => unreachable!("a blocked core waits on a transfer"),
    };
    // The partner's half, if it is there first.
    let other = match queue.front() {
        Some(Posted::Waiting { .. }) if sending => queue.pop_front(),
        Some(Posted::Ready { .. }) if !sending => queue.pop_front(),
        _ => None,
    };
    let Some(other) = other else {
        let half = if sending {
            // The ready message (one flit) leaves now.
            let ready_at = cores[k].message(m, shared, exec, Node::Core(partner_id), 1);
            Posted::Ready { ready_at, size }
        } else {
            Posted::Waiting { exec, size }
        };
        shared.channels.entry((s, r)).or_default().push_back(half);
        return Ok(None);
    };
    let (ready_at, send_exec, recv_exec, other_size) = match (other, sending) {
        (Posted::Waiting { exec: rx, size: sz }, true) => {
            let ready_at = cores[k].message(m, shared, exec, Node::Core(partner_id), 1);
            (ready_at, exec, rx, sz)
        }
        (Posted::Ready { ready_at, size: sz }, false) => {
            let sx = match cores[j].pending {
                Pending::Send { exec } => exec,
                _ => unreachable!("a posted ready belongs to a waiting send"),
            };
            (ready_at, sx, exec, sz)
        }
        _ => unreachable!("halves are matched by kind"),
    };
    if other_size != size {
        return Err(Stuck {
            message: format!(
                "core {}: {}{} of {size} bytes meets a transfer of {other_size} bytes on core {}",
                cores[k].id,
                inst.info().mnemonic,
                p.at_line(line),
                cores[j].id
            ),
        });
    }
    let (sid, rid) = (cores[s].id, cores[r].id);
    // The receiver answers once its recv runs and the ready message is in; the sender then
    // reads the data and sends it.
    let answer_from = recv_exec.max(ready_at);
    let answer_at = cores[r].message(m, shared, answer_from, Node::Core(sid), 1);
    let read_done = cores[s].port(m, answer_at, size, false);
    let data_at = cores[s].message(m, shared, read_done, Node::Core(rid), size);
    cores[r].totals.noc_received_bytes += size;
    let recv_done = cores[r].port(m, data_at, size, true);
    let send_done = match m.model {
        Model::PimsimCompat => read_done,
        Model::Pimlir => data_at,
    };
    trace.flow(sid, rid, size, read_done, data_at);
    let (sl, rl) = (cores[s].pending_inst.map_or(0, |x| x.1), cores[r].pending_inst.map_or(0, |x| x.1));
    // The sender waits for the receiver to run its recv; the receiver for the ready message.
    cores[s].totals.wait_ns += (recv_exec - send_exec).max(0.0);
    cores[r].totals.wait_ns += (ready_at - recv_exec).max(0.0);
    cores[s].complete_pending(m, send_exec, send_done, "send", sl, trace);
    cores[r].complete_pending(m, recv_exec, recv_done, "recv", rl, trace);
    let _ = p;
    Ok(Some(j))
}

/// What every unfinished core waits for, following the wait-for chain to a cycle.
fn deadlock_report(p: &Program, cores: &[CoreTimer], index: &HashMap<CoreId, usize>, stuck: &[usize]) -> String {
    let waits = |k: usize| -> Option<(CoreId, &'static str, u32)> {
        let (inst, line) = cores[k].pending_inst?;
        match inst {
            Inst::Send { core, .. } => Some((*core, "send", line)),
            Inst::Recv { core, .. } => Some((*core, "recv", line)),
            _ => None,
        }
    };
    let mut lines = vec![];
    // A cycle from the first stuck core.
    let mut seen = vec![stuck[0]];
    let mut k = stuck[0];
    while let Some((partner, _, _)) = waits(k) {
        match index.get(&partner) {
            Some(&j) if !cores[j].done => {
                if let Some(pos) = seen.iter().position(|&x| x == j) {
                    let cycle: Vec<String> = seen[pos..]
                        .iter()
                        .map(|&x| {
                            let (to, op, line) = waits(x).expect("in the cycle");
                            format!("core {} ({op}{}) waits for core {to}", cores[x].id, p.at_line(line))
                        })
                        .collect();
                    lines.push(format!("deadlock: {}", cycle.join(", ")));
                    break;
                }
                seen.push(j);
                k = j;
            }
            _ => break,
        }
    }
    for &k in stuck {
        match waits(k) {
            Some((partner, op, line)) => {
                let state = match index.get(&partner) {
                    Some(&j) if cores[j].done => "has finished".to_string(),
                    Some(&j) => match waits(j) {
                        Some((x, op2, l2)) => format!("is blocked in {op2} with core {x}{}", p.at_line(l2)),
                        None => "is blocked".to_string(),
                    },
                    None => "has no program".to_string(),
                };
                lines.push(format!(
                    "core {} did not finish: its {op}{} with core {partner} never completes; core {partner} {state}",
                    cores[k].id,
                    p.at_line(line)
                ));
            }
            None => lines.push(format!("core {} did not finish", cores[k].id)),
        }
    }
    lines.join("\n")
}

/// Energy per fetched instruction and per scalar op, pJ.
pub fn control_energy(arch: &crate::arch::Arch) -> (f64, f64) {
    let c = &arch.core.powers;
    let p = arch.core.period;
    ((c.inst_fetch_dynamic_power + c.inst_decode_dynamic_power) * p, c.scalar_dynamic_power * p)
}

#[cfg(test)]
mod calendar_tests {
    use super::Calendar;

    #[test]
    fn a_late_request_for_an_early_time_takes_the_gap() {
        let mut c = Calendar::default();
        assert_eq!(c.reserve(100.0, 10.0), 100.0);
        // Earlier and fitting before: goes first.
        assert_eq!(c.reserve(0.0, 10.0), 0.0);
        // Overlapping the stretch at 100: waits for its end.
        assert_eq!(c.reserve(95.0, 10.0), 110.0);
        // Touching stretches merge.
        assert_eq!(c.0, vec![(0.0, 10.0), (100.0, 120.0)]);
        // A gap too small is skipped.
        assert_eq!(c.reserve(5.0, 95.0), 120.0);
        assert_eq!(c.reserve(10.0, 90.0), 10.0);
        assert_eq!(c.0, vec![(0.0, 215.0)]);
        for i in 0..300 {
            c.reserve(1000.0 + 20.0 * f64::from(i), 10.0);
        }
        c.prune(0.0);
        assert_eq!(c.0.len(), Calendar::KEEP / 2);
        assert_eq!(c.0.last(), Some(&(6980.0, 6990.0)));
    }
}
