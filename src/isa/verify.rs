//! Static checks of an ISA program against an architecture: what IRDL cannot express.
//!
//! Every address operand is checked over the whole range its loop counters take: it must stay
//! inside the buffer it names (or inside memory, for absolute addresses). Array groups must
//! match their layer and fit their core. Send/recv pairing and deadlock are checked by
//! [`super::comm`]. Findings name the core, the source line when the program came from text,
//! and the cause.

use super::*;
use crate::arch::{Arch, CoreId};
use crate::diag::Diagnostic;
use std::collections::HashMap;

/// At most this many findings are reported (the rest are counted).
const MAX_FINDINGS: usize = 50;

struct Checker<'a> {
    p: &'a Program,
    arch: &'a Arch,
    eb: i64,
    out: Vec<Diagnostic>,
    suppressed: usize,
    footprint: Footprint,
    /// Index of the core being checked.
    core_index: usize,
    /// Layers by name (the first of each name).
    layers: HashMap<&'a str, &'a crate::isa::Layer>,
    /// Ids of the cores that have a program (what a send or recv may name).
    programmed: rustc_hash::FxHashSet<CoreId>,
}

/// How much memory a program touches: per core (in `Program::cores` order) the end of the
/// highest local byte any instruction or buffer reaches, and the same in global memory.
/// A simulator needs no more than this.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Footprint {
    pub local: Vec<u64>,
    pub global: u64,
}

/// Bytes of one activation element: from the program's `setbw` when it has one, else the
/// architecture's activation width.
pub fn element_bytes(p: &Program, arch: &Arch) -> u32 {
    bytes_of(p.declared_bit_width().0, arch)
}

fn bytes_of(declared_bits: Option<u32>, arch: &Arch) -> u32 {
    declared_bits.map_or(arch.activation_bytes(), |bits| bits.div_ceil(8))
}

pub fn check(p: &Program, arch: &Arch) -> Vec<Diagnostic> {
    check_all(p, arch).0
}

/// The findings, and the memory the program touches (meaningful when there are none).
pub fn check_all(p: &Program, arch: &Arch) -> (Vec<Diagnostic>, Footprint) {
    let (bits, disagreements) = p.declared_bit_width();
    let footprint = Footprint { local: vec![0; p.cores.len()], global: 0 };
    let mut c = Checker {
        p,
        arch,
        eb: bytes_of(bits, arch) as i64,
        out: vec![],
        suppressed: 0,
        footprint,
        core_index: 0,
        layers: HashMap::new(),
        programmed: p.cores.iter().map(|c| c.id).collect(),
    };
    for (line, e) in disagreements {
        c.report(line, e);
    }
    c.program();
    for d in super::comm::check(p) {
        c.push(d);
    }
    if c.suppressed > 0 {
        c.out.push(Diagnostic::note(format!("{} more findings not shown", c.suppressed)));
    }
    (c.out, c.footprint)
}

impl Checker<'_> {
    fn push(&mut self, d: Diagnostic) {
        if self.out.len() >= MAX_FINDINGS {
            self.suppressed += 1;
        } else {
            self.out.push(d);
        }
    }

    fn report(&mut self, line: u32, msg: String) {
        if self.out.len() >= MAX_FINDINGS {
            self.suppressed += 1;
            return;
        }
        let d = match self.p.cores.get(self.core_index) {
            Some(c) => self.p.finding(c.id, line, &msg),
            None => Diagnostic::error(msg).at_opt(self.p.loc(line)),
        };
        self.out.push(d);
    }

    fn program(&mut self) {
        let p = self.p;
        for l in &p.layers {
            if self.layers.insert(&l.name, l).is_some() {
                self.report(l.line.0, format!("layer '{}' is defined twice", l.name));
            }
        }
        // Model inputs and outputs are numbered 0, 1, 2, ... each once.
        for (what, index_of) in [
            (
                "input",
                (|g: &GlobalInit| if let GlobalInit::Input { index, .. } = g { Some(*index) } else { None })
                    as fn(&GlobalInit) -> Option<u32>,
            ),
            ("output", |g: &GlobalInit| if let GlobalInit::Output { index, .. } = g { Some(*index) } else { None }),
        ] {
            let mut seen: HashMap<u32, &str> = HashMap::new();
            for g in &p.globals {
                if let Some(k) = index_of(&g.init) {
                    if let Some(other) = seen.insert(k, &g.name) {
                        self.report(g.line.0, format!("{what} {k} is declared twice: by '{other}' and '{}'", g.name));
                    }
                }
            }
            if let Some(missing) = (0..seen.len() as u32).find(|k| !seen.contains_key(k)) {
                let line = p.globals.iter().find(|g| index_of(&g.init).is_some()).map_or(0, |g| g.line.0);
                self.report(
                    line,
                    format!("{what}s are numbered 0..{}, each once; {what} {missing} is missing", seen.len()),
                );
            }
        }
        let gmem = self.arch.global_memory_bytes();
        // Inputs and outputs hold exactly their shape, at the program's element size.
        for g in &p.globals {
            if let GlobalInit::Input { shape, .. } | GlobalInit::Output { shape, .. } = &g.init {
                let want =
                    shape.iter().try_fold(self.eb as u64, |a, &d| u64::try_from(d).ok().and_then(|d| a.checked_mul(d)));
                if want != Some(g.size) {
                    let want = want.map_or("more than 2^64".to_string(), |w| w.to_string());
                    self.report(
                        g.line.0,
                        format!(
                            "global buffer '{}' of shape {} holds {} bytes, but that shape needs {want} at {} bytes per element",
                            g.name,
                            shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x"),
                            g.size,
                            self.eb
                        ),
                    );
                }
            }
        }
        let mut allocated: Vec<(u64, u64, &str, u32)> = vec![];
        for g in &p.globals {
            if let Some(a) = g.addr {
                let span = g.footprint();
                if a.saturating_add(span) > gmem {
                    self.report(
                        g.line.0,
                        format!(
                            "global buffer '{}' ends at byte {} but global memory has {gmem}",
                            g.name,
                            u128::from(a) + u128::from(span)
                        ),
                    );
                }
                allocated.push((a, a.saturating_add(span), &g.name, g.line.0));
            }
        }
        allocated.sort_unstable();
        for w in allocated.windows(2) {
            if w[1].0 < w[0].1 {
                self.report(w[1].3, format!("global buffers '{}' and '{}' overlap", w[0].2, w[1].2));
            }
        }
        for g in &p.globals {
            if let Some(a) = g.addr {
                self.footprint.global = self.footprint.global.max(a.saturating_add(g.footprint()));
            }
        }
        let mut ids = std::collections::HashSet::new();
        for (i, c) in p.cores.iter().enumerate() {
            if !ids.insert(c.id) {
                self.report(c.line.0, format!("core {} is defined twice", c.id));
            }
            self.core_index = i;
            for b in &c.buffers {
                if let Some(a) = b.addr {
                    self.footprint.local[i] = self.footprint.local[i].max(a.saturating_add(b.size));
                }
            }
            self.core(c);
        }
    }

    fn core(&mut self, c: &CoreProgram) {
        let id = c.id;
        if id.0 >= self.arch.core_count() {
            self.report(
                c.line.0,
                format!("core {id} does not exist: the architecture has {} cores", self.arch.core_count()),
            );
        }
        let xbar_cols = self.arch.xbar_cols() as i64;
        let mut xbars = 0u64;
        for (k, ag) in c.ags.iter().enumerate() {
            xbars += ag.xbars as u64;
            let line = ag.line.0;
            let Some(l) = self.layers.get(ag.layer.as_str()).copied() else {
                self.report(line, format!("core {id}: array group {k} refers to unknown layer '{}'", ag.layer));
                continue;
            };
            if ag.matrix >= l.unfolding.matrices() {
                self.report(
                    line,
                    format!(
                        "core {id}: array group {k} names matrix {} of layer '{}', which has {}",
                        ag.matrix,
                        l.name,
                        l.unfolding.matrices()
                    ),
                );
                continue;
            }
            let (mr, mc) = l.shape(ag.matrix);
            if ag.row_begin < 0 || ag.rows <= 0 || ag.row_begin.saturating_add(ag.rows) > mr {
                self.report(
                    line,
                    format!(
                        "core {id}: array group {k} holds rows {}..{} outside layer '{}' (rows 0..{mr})",
                        ag.row_begin,
                        ag.row_begin.saturating_add(ag.rows),
                        l.name,
                    ),
                );
            }
            if ag.col_begin < 0 || ag.cols <= 0 || ag.col_begin.saturating_add(ag.cols) > mc {
                self.report(
                    line,
                    format!(
                        "core {id}: array group {k} holds columns {}..{} outside layer '{}' (columns 0..{mc})",
                        ag.col_begin,
                        ag.col_begin.saturating_add(ag.cols),
                        l.name,
                    ),
                );
            }
            if ag.rows > self.arch.xbar_rows() as i64 {
                self.report(
                    line,
                    format!(
                        "core {id}: array group {k} has {} rows but a crossbar has {}",
                        ag.rows,
                        self.arch.xbar_rows()
                    ),
                );
            }
            let need = i64::from(self.arch.xbars_for_cols(u32::try_from(ag.cols.max(0)).unwrap_or(u32::MAX)));
            if ag.xbars as i64 != need {
                self.report(line, format!(
                    "core {id}: array group {k} of layer '{}' ({} columns) needs {need} {} of {xbar_cols} columns, not {}",
                    l.name, ag.cols, self.arch.crossbar_noun(), ag.xbars
                ));
            }
        }
        if xbars > self.arch.xbars_per_core() as u64 {
            self.report(
                c.line.0,
                format!(
                    "core {id}: array groups use {xbars} {} but a core has {}",
                    self.arch.crossbar_noun(),
                    self.arch.xbars_per_core()
                ),
            );
        }
        let lmem = self.arch.local_memory_bytes();
        for b in &c.buffers {
            if b.addr.is_some_and(|a| a % self.eb as u64 != 0) {
                self.report(
                    b.line.0,
                    format!("core {id}: buffer '{}' is not aligned to the element size {}", b.name, self.eb),
                );
            }
            if let Some(a) = b.addr {
                if a + b.size > lmem {
                    self.report(
                        b.line.0,
                        format!(
                            "core {id}: buffer '{}' ends at byte {} but local memory has {lmem}",
                            b.name,
                            a + b.size
                        ),
                    );
                }
            }
        }
        let mut ranges = vec![];
        self.stmts(c, &c.body, &mut ranges);
    }

    /// `ranges[level]` = (first, last) counter value of each enclosing loop.
    fn stmts(&mut self, c: &CoreProgram, stmts: &[Stmt], ranges: &mut Vec<(i64, i64)>) {
        for s in stmts {
            match s {
                Stmt::Inst(i, line) => self.inst(c, i, line.0, ranges),
                Stmt::Comment(_) | Stmt::Task(_) => {}
                Stmt::Repeat { start, count, body } => {
                    if *count <= 0 {
                        continue;
                    }
                    ranges.push((*start, start + count - 1));
                    self.stmts(c, body, ranges);
                    ranges.pop();
                }
            }
        }
    }

    fn inst(&mut self, c: &CoreProgram, i: &Inst, line: u32, ranges: &[(i64, i64)]) {
        let eb = self.eb;
        let info = i.info();
        let m = info.mnemonic;
        let id = c.id;
        if info.extension && !self.arch.vector_extensions {
            self.report(
                line,
                format!(
                    "core {id}: {m} is a vector-unit extension, which this architecture does not have (set \"vector_extensions\": true in its \"pimlir\" section, or use the puma preset)"
                ),
            );
        }
        let values = i.attrs();
        // Attributes that name an array group or a core.
        let mut group = None;
        for (ai, v) in info.attrs.iter().zip(&values) {
            match ai.kind {
                AttrKind::Group => match c.ags.get(v.int() as usize) {
                    Some(ag) => group = Some(ag),
                    None => {
                        self.report(
                            line,
                            format!("core {id}: {m} uses array group {}, but the core has {}", v.int(), c.ags.len()),
                        );
                        return;
                    }
                },
                AttrKind::Core => {
                    let core = CoreId(v.int() as u32);
                    if core == id {
                        self.report(line, format!("core {id}: {m} names its own core"));
                    } else if core.0 >= self.arch.core_count() && !self.programmed.contains(&core) {
                        self.report(
                            line,
                            format!(
                                "core {id}: {m} names core {core}, which does not exist: the architecture has {} cores",
                                self.arch.core_count()
                            ),
                        );
                    } else if !self.programmed.contains(&core) {
                        self.report(line, format!("core {id}: {m} names core {core}, which has no program"));
                    }
                }
                _ => {}
            }
        }
        if matches!(i, Inst::Send { size: 0, .. } | Inst::Recv { size: 0, .. }) {
            self.report(line, format!("core {id}: {m} of 0 bytes"));
        }
        // (address, bytes accessed, operand role, memory)
        let mut accesses: smallvec::SmallVec<[(&Addr, i64, &str, Space); 3]> = smallvec::SmallVec::new();
        for (k, (o, a)) in info.operands.iter().zip(i.addrs()).enumerate() {
            accesses.push((a, i.operand_bytes(k, eb, group), o.role, o.space));
        }
        let sized = info.operands.first().is_some_and(|o| matches!(o.extent, Extent::Bytes(_)));
        if sized && accesses.first().is_some_and(|a| a.1 % eb != 0) {
            self.report(
                line,
                format!("core {id}: {m} size {} is not a multiple of the element size {eb}", accesses[0].1),
            );
        }
        for (a, bytes, what, space) in accesses {
            if a.offset % eb != 0 || a.terms.iter().any(|t| t.1 % eb != 0) {
                self.report(line, format!("core {id}: {m} {what} address is not a multiple of the element size {eb}"));
                continue;
            }
            // Range of the address over all loop iterations (in i128: no product of two
            // 64-bit numbers from a file overflows it).
            let (mut lo, mut hi) = (i128::from(a.offset), i128::from(a.offset));
            for &(level, coeff) in &a.terms {
                let Some(&(first, last)) = ranges.get(level as usize) else {
                    self.report(line, format!("core {id}: {m} uses loop counter {level} outside its loop"));
                    return;
                };
                let (x, y) = (i128::from(coeff) * i128::from(first), i128::from(coeff) * i128::from(last));
                lo += x.min(y);
                hi += x.max(y);
            }
            let (Ok(lo), Ok(hi)) = (i64::try_from(lo), i64::try_from(hi)) else {
                let span = format!("{lo}..{hi}");
                self.report(line, format!("core {id}: {m} {what} address ranges over {span}, beyond any memory"));
                continue;
            };
            // (The memory's description is only formatted for a finding: this runs for every
            // address of every instruction.)
            let (limit, base_off) = match a.base {
                Base::Local(b) => match c.buffers.get(b as usize) {
                    Some(buf) => (buf.size as i64, 0),
                    None => {
                        self.report(line, format!("core {id}: {m} uses an unknown buffer"));
                        continue;
                    }
                },
                Base::Global(g) => match self.p.globals.get(g as usize) {
                    Some(gb) => (gb.size as i64, 0),
                    None => {
                        self.report(line, format!("core {id}: {m} uses an unknown global buffer"));
                        continue;
                    }
                },
                Base::Abs => match space {
                    Space::Global => (self.arch.global_memory_bytes() as i64, 0),
                    Space::Local => (self.arch.local_memory_bytes() as i64, 0),
                },
            };
            // What this access touches, in absolute bytes.
            let base = match a.base {
                Base::Abs => Some(0),
                Base::Local(b) => c.buffers.get(b as usize).and_then(|b| b.addr),
                Base::Global(g) => self.p.globals.get(g as usize).and_then(|g| g.addr),
            };
            if let Some(base) = base {
                let end = (base as i64).saturating_add(hi).saturating_add(bytes).max(0) as u64;
                match space {
                    Space::Local => {
                        let f = &mut self.footprint.local[self.core_index];
                        *f = (*f).max(end);
                    }
                    Space::Global => self.footprint.global = self.footprint.global.max(end),
                }
            }
            if lo < base_off || hi.saturating_add(bytes) > limit {
                let span = if lo == hi { format!("offset {lo}") } else { format!("offsets {lo}..{hi}") };
                let what_mem = match (a.base, space) {
                    (Base::Local(b), _) => {
                        format!("buffer '@{}'", c.buffers.get(b as usize).map_or("?", |b| b.name.as_str()))
                    }
                    (Base::Global(g), _) => {
                        format!("global buffer '${}'", self.p.globals.get(g as usize).map_or("?", |g| g.name.as_str()))
                    }
                    (Base::Abs, Space::Global) => "global memory".to_string(),
                    (Base::Abs, Space::Local) => "local memory".to_string(),
                };
                self.report(
                    line,
                    format!("core {id}: {m} {what} ({bytes} bytes at {span}) is outside {what_mem} of {limit} bytes"),
                );
            }
        }
    }
}
