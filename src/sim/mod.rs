//! The functional simulator: runs every core's program on f32 data and returns the model's
//! outputs, so a compiled program can be checked against onnxruntime.
//!
//! Memory is byte-addressed as in the ISA; every activation element occupies
//! `arch.activation_bytes()` bytes and is held as an f32 (values are not quantized). Crossbars
//! hold their slice of the layer matrix read from the weight store. Cores run until they block
//! on a synchronous `send`/`recv` (which completes when both sides have arrived) or finish; if
//! every unfinished core is blocked, the program deadlocks and the error names each core, the
//! instruction it waits in, and the partner it waits for.

pub mod weights;

use crate::arch::{Arch, CoreId};
use crate::diag::{Error, Result};
use crate::isa::cursor::Cursor;
use crate::isa::{CoreProgram, GlobalInit, Inst, Program, VecOp};
pub use weights::{Tensor, WeightStore};

/// Per-core statistics of a run.
#[derive(Debug, Clone, Default)]
pub struct CoreStats {
    pub id: CoreId,
    pub instructions: u64,
    pub mvmuls: u64,
    pub vector: u64,
    pub transfers: u64,
    pub messages: u64,
}

#[derive(Debug, Clone)]
pub struct SimResult {
    pub outputs: Vec<Tensor>,
    pub cores: Vec<CoreStats>,
}

impl SimResult {
    pub fn instructions(&self) -> u64 {
        self.cores.iter().map(|c| c.instructions).sum()
    }
}

/// Why a core cannot proceed.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Block {
    /// Waiting in `send` (to core) or `recv` (from core).
    Send {
        to: CoreId,
        size: u32,
        src: u64,
        line: u32,
    },
    Recv {
        from: CoreId,
        size: u32,
        dst: u64,
        line: u32,
    },
    Wait {
        event: u8,
        value: i64,
        line: u32,
    },
}

struct CoreState<'p> {
    id: CoreId,
    prog: &'p CoreProgram,
    cursor: Cursor<'p>,
    local: Vec<f32>,
    ags: Vec<std::sync::Arc<weights::Block>>,
    regs: [i64; 32],
    events: [i64; 32],
    ibiw: u32,
    blocked: Option<Block>,
    done: bool,
    stats: CoreStats,
}

struct Machine<'p> {
    p: &'p Program,
    eb: u64,
    global: Vec<f32>,
    gmem_bytes: u64,
    cores: Vec<CoreState<'p>>,
    /// Core id -> index in `cores`.
    index: std::collections::HashMap<CoreId, usize>,
}

/// Simulates `p` on `arch` with crossbars programmed from `weights`, for one input set.
pub fn run(p: &Program, arch: &Arch, weights: &dyn WeightStore, inputs: &[Tensor]) -> Result<SimResult> {
    p.check_allocated()?;
    let findings = crate::isa::verify::check(p, arch);
    if !findings.is_empty() {
        return Err(Error::many(findings));
    }
    let eb = crate::isa::verify::element_bytes(p, arch) as u64;
    let gbytes = p.globals.iter().map(|g| g.addr.unwrap_or(0) + g.size).max().unwrap_or(0);
    let mut m = Machine {
        p,
        eb,
        global: vec![0.0; gbytes.div_ceil(eb) as usize],
        gmem_bytes: arch.global_memory_bytes(),
        cores: vec![],
        index: Default::default(),
    };
    m.init_globals(weights, inputs)?;
    let crossbars = weights::crossbars(p, weights)?;
    for (c, ags) in p.cores.iter().zip(crossbars) {
        m.index.insert(c.id, m.cores.len());
        m.cores.push(CoreState {
            id: c.id,
            prog: c,
            cursor: Cursor::new(&c.body),
            local: vec![0.0; (arch.local_memory_bytes() / eb) as usize],
            ags,
            regs: [0; 32],
            events: [0; 32],
            ibiw: 0,
            blocked: None,
            done: false,
            stats: CoreStats { id: c.id, ..Default::default() },
        });
    }
    m.run()?;
    let outputs = m.read_outputs()?;
    Ok(SimResult { outputs, cores: m.cores.into_iter().map(|c| c.stats).collect() })
}

/// Index of the element at byte address `a` (must be element-aligned).
fn elem(a: u64, eb: u64, what: &str) -> Result<usize> {
    if !a.is_multiple_of(eb) {
        return Err(Error::new(format!("{what} address {a} is not a multiple of the element size {eb}")));
    }
    Ok((a / eb) as usize)
}

/// Converts between NCHW tensors and the height-width-channel order of memory: NCHW to
/// HWC, or back with `to_nchw`. Tensors of other ranks are stored as they are.
fn reorder(shape: &[i64], data: &[f32], to_nchw: bool) -> Vec<f32> {
    let [1, c, h, w] = *shape else { return data.to_vec() };
    let (c, h, w) = (c as usize, h as usize, w as usize);
    let mut out = vec![0.0; data.len()];
    for ci in 0..c {
        for y in 0..h {
            for x in 0..w {
                let (nchw, hwc) = ((ci * h + y) * w + x, (y * w + x) * c + ci);
                if to_nchw {
                    out[nchw] = data[hwc];
                } else {
                    out[hwc] = data[nchw];
                }
            }
        }
    }
    out
}

impl<'p> Machine<'p> {
    fn init_globals(&mut self, weights: &dyn WeightStore, inputs: &[Tensor]) -> Result<()> {
        let eb = self.eb;
        let n_inputs = self.p.globals.iter().filter(|g| matches!(g.init, GlobalInit::Input { .. })).count();
        if inputs.len() != n_inputs {
            return Err(Error::new(format!("the program takes {n_inputs} input(s), {} given", inputs.len())));
        }
        for g in &self.p.globals {
            let at = elem(g.addr.expect("allocated"), eb, "global buffer")?;
            let n = (g.size / eb) as usize;
            match &g.init {
                GlobalInit::None | GlobalInit::Output { .. } => {}
                GlobalInit::Input { index, shape } => {
                    let t = &inputs[*index as usize];
                    if &t.shape != shape {
                        return Err(Error::new(format!(
                            "input {index} ('{}') must have shape {shape:?}, got {:?}",
                            g.name, t.shape
                        )));
                    }
                    let v = reorder(shape, &t.data, false);
                    self.global[at..at + v.len().min(n)].copy_from_slice(&v[..v.len().min(n)]);
                }
                GlobalInit::Weight { name } => {
                    let t = weights.tensor(name, &[n as i64])?;
                    if t.data.len() != n {
                        return Err(Error::new(format!(
                            "global buffer '{}' holds {n} elements but weight '{name}' has {}",
                            g.name,
                            t.data.len()
                        )));
                    }
                    self.global[at..at + n].copy_from_slice(&t.data);
                }
                GlobalInit::Fill { value } => self.global[at..at + n].fill(*value),
                GlobalInit::Bias { bias, bn } => {
                    let (scale, shift) = weights::bn_scale_shift(weights, bn, n)?;
                    let b = match bias {
                        Some(b) => weights::vector(weights, b, n)?,
                        None => vec![0.0; n],
                    };
                    for k in 0..n {
                        self.global[at + k] = b[k] * scale[k] + shift[k];
                    }
                }
                GlobalInit::BnScale { bn } => {
                    let (scale, _) = weights::bn_scale_shift(weights, bn, n)?;
                    self.global[at..at + n].copy_from_slice(&scale);
                }
                GlobalInit::BnShift { bn } => {
                    let (_, shift) = weights::bn_scale_shift(weights, bn, n)?;
                    self.global[at..at + n].copy_from_slice(&shift);
                }
            }
        }
        Ok(())
    }

    fn read_outputs(&self) -> Result<Vec<Tensor>> {
        let mut outs: Vec<(u32, Tensor)> = vec![];
        for g in &self.p.globals {
            if let GlobalInit::Output { index, shape } = &g.init {
                let at = elem(g.addr.expect("allocated"), self.eb, "global buffer")?;
                let n = (g.size / self.eb) as usize;
                let data = reorder(shape, &self.global[at..at + n], true);
                outs.push((*index, Tensor { shape: shape.clone(), data }));
            }
        }
        outs.sort_by_key(|o| o.0);
        Ok(outs.into_iter().map(|o| o.1).collect())
    }

    /// Runs cores in turn until all finish, or reports a deadlock.
    fn run(&mut self) -> Result<()> {
        loop {
            let mut progress = false;
            for k in 0..self.cores.len() {
                progress |= self.step_core(k)?;
            }
            if self.cores.iter().all(|c| c.done) {
                return Ok(());
            }
            if !progress {
                return Err(self.deadlock());
            }
        }
    }

    fn deadlock(&self) -> Error {
        let src = if self.p.source.is_empty() { String::new() } else { format!("{}:", self.p.source) };
        let mut lines = vec![];
        for c in &self.cores {
            if c.done {
                continue;
            }
            let what = match c.blocked {
                Some(Block::Send { to, size, line, .. }) => {
                    format!("core {} waits in 'send' ({size} bytes) at {src}{line} for core {to} to receive", c.id)
                }
                Some(Block::Recv { from, size, line, .. }) => {
                    format!("core {} waits in 'recv' ({size} bytes) at {src}{line} for core {from} to send", c.id)
                }
                Some(Block::Wait { event, value, line }) => {
                    format!("core {} waits at {src}{line} for event {event} to reach {value}", c.id)
                }
                None => format!("core {} is stuck", c.id),
            };
            lines.push(what);
        }
        let mut e = crate::diag::Diagnostic::error(format!("deadlock: {} core(s) blocked forever", lines.len()));
        for l in lines {
            e = e.with_note(crate::diag::Diagnostic::note(l));
        }
        e.into()
    }

    /// Runs core `k` until it blocks or finishes. Returns whether it made progress.
    fn step_core(&mut self, k: usize) -> Result<bool> {
        if self.cores[k].done {
            return Ok(false);
        }
        // Resume a blocked transfer if its partner is now ready.
        if let Some(b) = self.cores[k].blocked {
            if !self.try_complete(k, b)? {
                return Ok(false);
            }
        }
        let mut counters = Vec::with_capacity(8);
        loop {
            let c = &mut self.cores[k];
            let Some((inst, line)) = c.cursor.next() else {
                c.done = true;
                return Ok(true);
            };
            counters.clear();
            counters.extend_from_slice(c.cursor.counters());
            c.stats.instructions += 1;
            match self.exec(k, inst, line, &counters) {
                Ok(None) => {}
                Ok(Some(b)) => {
                    self.cores[k].blocked = Some(b);
                    if !self.try_complete(k, b)? {
                        return Ok(true);
                    }
                }
                Err(e) => {
                    let src =
                        if self.p.source.is_empty() { String::new() } else { format!(" ({}:{line})", self.p.source) };
                    let c = &self.cores[k];
                    return Err(Error::new(format!("core {}: '{}'{src}: {}", c.id, inst.mnemonic(), e)));
                }
            }
        }
    }

    /// Completes a pending send/recv/wait if the partner is ready; returns whether it did.
    fn try_complete(&mut self, k: usize, b: Block) -> Result<bool> {
        match b {
            Block::Send { to, size, src, line } => {
                let Some(&j) = self.index.get(&to) else {
                    return Err(Error::new(format!(
                        "core {}: send to core {to}, which has no program",
                        self.cores[k].id
                    )));
                };
                let from = self.cores[k].id;
                match self.cores[j].blocked {
                    Some(Block::Recv { from: f, size: rsize, dst, line: rline }) if f == from => {
                        if rsize != size {
                            return Err(Error::new(format!(
                                "core {from} sends {size} bytes (line {line}) but core {to} receives {rsize} bytes (line {rline})"
                            )));
                        }
                        self.transfer(k, j, src, dst, size)?;
                        Ok(true)
                    }
                    _ => Ok(false),
                }
            }
            Block::Recv { from, .. } => {
                let Some(&j) = self.index.get(&from) else {
                    return Err(Error::new(format!(
                        "core {}: recv from core {from}, which has no program",
                        self.cores[k].id
                    )));
                };
                let me = self.cores[k].id;
                match self.cores[j].blocked {
                    Some(Block::Send { to, .. }) if to == me => {
                        self.try_complete(j, self.cores[j].blocked.expect("checked"))
                    }
                    _ => Ok(false),
                }
            }
            Block::Wait { event, value, .. } => {
                if self.cores[k].events[event as usize] >= value {
                    self.cores[k].blocked = None;
                    Ok(true)
                } else {
                    Ok(false)
                }
            }
        }
    }

    /// Makes global memory hold `elems` elements. Buffers are allocated up front; absolute
    /// addresses (programs imported from pimsim-nn) extend it on first use, up to its size.
    fn grow_global(&mut self, elems: usize) -> Result<()> {
        if elems > self.global.len() {
            if elems as u64 * self.eb > self.gmem_bytes {
                return Err(Error::new(format!(
                    "global access up to byte {} is outside global memory of {} bytes",
                    elems as u64 * self.eb,
                    self.gmem_bytes
                )));
            }
            self.global.resize(elems, 0.0);
        }
        Ok(())
    }

    fn transfer(&mut self, from: usize, to: usize, src: u64, dst: u64, size: u32) -> Result<()> {
        let eb = self.eb;
        let n = (size as u64 / eb) as usize;
        let s = elem(src, eb, "send source")?;
        let d = elem(dst, eb, "recv destination")?;
        let data: Vec<f32> = self.cores[from].local[s..s + n].to_vec();
        self.cores[to].local[d..d + n].copy_from_slice(&data);
        for c in [from, to] {
            self.cores[c].blocked = None;
            self.cores[c].stats.messages += 1;
        }
        Ok(())
    }

    /// Executes one instruction; returns a blocking condition for transfers.
    fn exec(&mut self, k: usize, inst: &Inst, line: u32, counters: &[i64]) -> Result<Option<Block>> {
        let eb = self.eb;
        let p = self.p;
        let prog = self.cores[k].prog;
        let addr = |a: &crate::isa::Addr| -> Result<u64> {
            let v = p.resolve(prog, a, counters).ok_or_else(|| Error::new("address of an unallocated buffer"))?;
            u64::try_from(v).map_err(|_| Error::new(format!("negative address {v}")))
        };
        let bytes_to_elems = |size: u32| -> Result<usize> {
            if !(size as u64).is_multiple_of(eb) {
                return Err(Error::new(format!("size {size} is not a multiple of the element size {eb}")));
            }
            Ok((size as u64 / eb) as usize)
        };
        let lmem = self.cores[k].local.len();
        let check = |at: usize, n: usize, len: usize, what: &str| -> Result<()> {
            if at + n > len {
                Err(Error::new(format!(
                    "{what} [{}, {}) is outside memory of {} bytes",
                    at as u64 * eb,
                    (at + n) as u64 * eb,
                    len as u64 * eb
                )))
            } else {
                Ok(())
            }
        };
        match inst {
            Inst::Nop => {}
            Inst::Scalar { op, rd, rs1, rs2, imm } => {
                let r = &mut self.cores[k].regs;
                r[*rd as usize] = op.apply(r[*rd as usize], r[*rs1 as usize], r[*rs2 as usize], *imm);
            }
            Inst::SetBw { ibiw, .. } => self.cores[k].ibiw = *ibiw,
            Inst::Mvmul { rd, rs1, group, relu, .. } => {
                let c = &mut self.cores[k];
                let ag = c.ags.get(*group as usize).ok_or_else(|| Error::new(format!("no array group {group}")))?;
                let (i, o) = (elem(addr(rs1)?, eb, "input")?, elem(addr(rd)?, eb, "output")?);
                check(i, ag.rows, lmem, "input")?;
                check(o, ag.cols, lmem, "output")?;
                let mut out = vec![0.0f32; ag.cols];
                for r in 0..ag.rows {
                    let x = c.local[i + r];
                    if x != 0.0 {
                        let row = &ag.w[r * ag.cols..(r + 1) * ag.cols];
                        for (acc, w) in out.iter_mut().zip(row) {
                            *acc += x * w;
                        }
                    }
                }
                if *relu {
                    out.iter_mut().for_each(|v| *v = v.max(0.0));
                }
                c.local[o..o + ag.cols].copy_from_slice(&out);
                c.stats.mvmuls += 1;
            }
            Inst::Vec { op, rd, rs1, rs2, len } => {
                let n = *len as usize;
                let d = elem(addr(rd)?, eb, "destination")?;
                let a = elem(addr(rs1)?, eb, "source")?;
                let b = match rs2 {
                    Some(r) => Some(elem(addr(r)?, eb, "second source")?),
                    None => None,
                };
                check(a, n, lmem, "source")?;
                check(d, op.out_len(n as u32) as usize, lmem, "destination")?;
                if let Some(b) = b {
                    check(b, n, lmem, "second source")?;
                }
                let c = &mut self.cores[k];
                let x: Vec<f32> = c.local[a..a + n].to_vec();
                let y: Vec<f32> = b.map(|b| c.local[b..b + n].to_vec()).unwrap_or_default();
                let out = &mut c.local;
                match op {
                    VecOp::Vvadd => (0..n).for_each(|i| out[d + i] = x[i] + y[i]),
                    VecOp::Vvsub => (0..n).for_each(|i| out[d + i] = x[i] - y[i]),
                    VecOp::Vvmul => (0..n).for_each(|i| out[d + i] = x[i] * y[i]),
                    VecOp::Vvmax => (0..n).for_each(|i| out[d + i] = x[i].max(y[i])),
                    VecOp::Vvsll => (0..n).for_each(|i| out[d + i] = x[i] * 2f32.powf(y[i].round())),
                    VecOp::Vvsra => (0..n).for_each(|i| out[d + i] = x[i] / 2f32.powf(y[i].round())),
                    VecOp::Vvdmul => out[d] = x.iter().zip(&y).map(|(a, b)| a * b).sum(),
                    VecOp::Vavg => out[d] = if n == 0 { 0.0 } else { x.iter().sum::<f32>() / n as f32 },
                    VecOp::Vrelu => (0..n).for_each(|i| out[d + i] = x[i].max(0.0)),
                    VecOp::Vtanh => (0..n).for_each(|i| out[d + i] = x[i].tanh()),
                    VecOp::Vsigm => (0..n).for_each(|i| out[d + i] = 1.0 / (1.0 + (-x[i]).exp())),
                    VecOp::Vrsu | VecOp::Vrsl => (0..n).for_each(|i| out[d + i] = x[i]),
                }
                c.stats.vector += 1;
            }
            Inst::Vmv { rd, rs1, len, stride } => {
                let (n, st) = (*len as usize, *stride as usize);
                let d = elem(addr(rd)?, eb, "destination")?;
                let a = elem(addr(rs1)?, eb, "source")?;
                check(d, n, lmem, "destination")?;
                check(a, if n == 0 { 0 } else { (n - 1) * st + 1 }, lmem, "source")?;
                let c = &mut self.cores[k];
                let x: Vec<f32> = (0..n).map(|i| c.local[a + i * st]).collect();
                c.local[d..d + n].copy_from_slice(&x);
                c.stats.vector += 1;
            }
            Inst::Ld { rd, rs1, size } => {
                let n = bytes_to_elems(*size)?;
                let d = elem(addr(rd)?, eb, "destination")?;
                let s = elem(addr(rs1)?, eb, "source")?;
                check(d, n, lmem, "destination")?;
                self.grow_global(s + n)?;
                let c = &mut self.cores[k];
                c.local[d..d + n].copy_from_slice(&self.global[s..s + n]);
                c.stats.transfers += 1;
            }
            Inst::St { rd, rs1, size } => {
                let n = bytes_to_elems(*size)?;
                let d = elem(addr(rd)?, eb, "destination")?;
                let s = elem(addr(rs1)?, eb, "source")?;
                check(s, n, lmem, "source")?;
                self.grow_global(d + n)?;
                let c = &mut self.cores[k];
                self.global[d..d + n].copy_from_slice(&c.local[s..s + n]);
                c.stats.transfers += 1;
            }
            Inst::Lldi { rd, size, value } => {
                let n = bytes_to_elems(*size)?;
                let d = elem(addr(rd)?, eb, "destination")?;
                check(d, n, lmem, "destination")?;
                let c = &mut self.cores[k];
                c.local[d..d + n].fill(*value);
                c.stats.transfers += 1;
            }
            Inst::Lmv { rd, rs1, size } => {
                let n = bytes_to_elems(*size)?;
                let d = elem(addr(rd)?, eb, "destination")?;
                let s = elem(addr(rs1)?, eb, "source")?;
                check(d, n, lmem, "destination")?;
                check(s, n, lmem, "source")?;
                let c = &mut self.cores[k];
                c.local.copy_within(s..s + n, d);
                c.stats.transfers += 1;
            }
            Inst::Send { rs1, core, size } => {
                let n = bytes_to_elems(*size)?;
                let s = addr(rs1)?;
                check(elem(s, eb, "source")?, n, lmem, "source")?;
                return Ok(Some(Block::Send { to: *core, size: *size, src: s, line }));
            }
            Inst::Recv { rd, core, size } => {
                let n = bytes_to_elems(*size)?;
                let d = addr(rd)?;
                check(elem(d, eb, "destination")?, n, lmem, "destination")?;
                return Ok(Some(Block::Recv { from: *core, size: *size, dst: d, line }));
            }
            Inst::Sync { event, core } => {
                let j = *self
                    .index
                    .get(core)
                    .ok_or_else(|| Error::new(format!("sync with core {core}, which has no program")))?;
                self.cores[j].events[*event as usize] += 1;
            }
            Inst::Wait { event, value } => {
                return Ok(Some(Block::Wait { event: *event, value: *value, line }));
            }
        }
        Ok(None)
    }
}
