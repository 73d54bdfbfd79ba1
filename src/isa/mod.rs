//! The ISA level as plain Rust data: per-core programs in structured form.
//!
//! A program keeps the regularity of a schedule: `Repeat` blocks whose instructions address
//! memory with affine expressions of the enclosing loop counters. This is what the `pim_isa`
//! dialect and the `.pim` text hold; the flat dynamic stream (one entry per executed
//! instruction) is produced only where it is consumed, by [`CoreProgram::for_each`].

pub mod alloc;
pub mod comm;
pub mod cursor;
pub mod inst;
pub mod rendezvous;
pub mod reroll;
pub mod text;
pub mod verify;

use crate::arch::CoreId;
use crate::diag::{Error, Result};
use std::fmt;

pub use crate::unfold::{Format, Unfolding, WeightLayout};

/// How deep a core's loops may nest (in `.pim`, MLIR and programs built in memory): far more
/// than any schedule needs, and few enough that every recursive walk stays within its stack.
pub const MAX_LOOP_DEPTH: usize = 64;
pub use inst::{AttrKind, AttrValue, Extent, Inst, Opcode, ScalarOp, Space, Unit, VecOp, TABLE};

/// Which memory an address points into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Base {
    /// A plain byte address.
    Abs,
    /// Start of local buffer `n` of the core (see [`CoreProgram::buffers`]).
    Local(u32),
    /// Start of global buffer `n` of the program (see [`Program::globals`]).
    Global(u32),
}

/// `base + offset + sum(coeff * counter[level])`, in bytes. Levels count from the outermost
/// loop of the core's body (0) inwards.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Addr {
    pub base: Base,
    pub offset: i64,
    pub terms: Vec<(u8, i64)>,
}

impl Addr {
    pub fn abs(offset: i64) -> Addr {
        Addr { base: Base::Abs, offset, terms: vec![] }
    }
    pub fn local(buf: u32, offset: i64) -> Addr {
        Addr { base: Base::Local(buf), offset, terms: vec![] }
    }
    pub fn global(buf: u32, offset: i64) -> Addr {
        Addr { base: Base::Global(buf), offset, terms: vec![] }
    }
    /// Adds `coeff * counter[level]`, keeping terms sorted by level and free of zeros.
    /// `None` when the coefficient would overflow 64 bits (the address is left unchanged).
    #[must_use]
    pub fn add_term(&mut self, level: u8, coeff: i64) -> Option<()> {
        if coeff == 0 {
            return Some(());
        }
        match self.terms.binary_search_by_key(&level, |t| t.0) {
            Ok(i) => {
                self.terms[i].1 = self.terms[i].1.checked_add(coeff)?;
                if self.terms[i].1 == 0 {
                    self.terms.remove(i);
                }
            }
            Err(i) => self.terms.insert(i, (level, coeff)),
        }
        Some(())
    }
    /// Adds a constant; `None` on overflow.
    #[must_use]
    pub fn add_offset(&mut self, k: i64) -> Option<()> {
        self.offset = self.offset.checked_add(k)?;
        Some(())
    }
    /// Evaluates the loop-dependent part for the given counters (`counters[level]`).
    #[inline]
    pub fn offset_at(&self, counters: &[i64]) -> i64 {
        // Saturating: an address beyond 64 bits is outside every memory, which the checks
        // that follow report (the verifier shows the true range).
        self.terms.iter().fold(self.offset, |acc, &(l, c)| {
            acc.saturating_add(c.saturating_mul(counters.get(l as usize).copied().unwrap_or(0)))
        })
    }
}

/// A source line (0: none), kept for diagnostics. Lines compare like numbers, so a round
/// trip that loses one is seen; compare programs from different texts with
/// [`Program::strip_lines`] first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Line(pub u32);

impl Line {
    pub const NONE: Line = Line(0);
}

/// Visits every instruction in `stmts` as written (loop bodies once), with its line.
pub fn visit_insts(stmts: &[Stmt], f: &mut impl FnMut(&Inst, u32)) {
    for s in stmts {
        match s {
            Stmt::Inst(i, line) => f(i, line.0),
            Stmt::Repeat { body, .. } => visit_insts(body, f),
            Stmt::Comment(_) | Stmt::Task(_) => {}
        }
    }
}

/// Visits every address in `stmts` in program order.
pub fn visit_addrs(stmts: &[Stmt], f: &mut impl FnMut(&Addr)) {
    for s in stmts {
        match s {
            Stmt::Inst(i, _) => i.addrs().into_iter().for_each(&mut *f),
            Stmt::Repeat { body, .. } => visit_addrs(body, f),
            Stmt::Comment(_) | Stmt::Task(_) => {}
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    /// An instruction and the source line it came from.
    Inst(Inst, Line),
    /// Runs `body` for counter = `start`, `start+1`, ..., `start+count-1`.
    Repeat { start: i64, count: i64, body: Vec<Stmt> },
    /// A comment among the instructions (no effect on execution).
    Comment(Comment),
    /// From here on the core works on this task (no effect on execution): what reports
    /// attribute the following instructions to.
    Task(Task),
}

/// What a run of instructions is for: provenance the scheduler writes (and a person editing
/// a program may too), so that timing and energy can be attributed to layers and replicas.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Task {
    /// The graph op: a layer's name, or an op's (e.g. `maxpool3`).
    pub op: String,
    /// The replica of a crossbar layer.
    pub replica: Option<u32>,
    /// The output windows a layer's replica computes.
    pub windows: Option<(u64, u64)>,
    /// The tokens exchanged before the op may start (not the op's own work).
    pub sync: bool,
}

impl Task {
    pub fn compute(op: &str) -> Task {
        Task { op: op.to_string(), replica: None, windows: None, sync: false }
    }
}

/// A `//` comment of the `.pim` text, kept so that re-printing an edited program keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// The text after `//`, verbatim.
    pub text: String,
    /// Ends the line of what precedes it, rather than standing on a line of its own.
    pub trailing: bool,
}

impl Comment {
    pub fn line(text: impl Into<String>) -> Comment {
        Comment { text: text.into(), trailing: false }
    }
}

/// The declaration a comment belongs to (comments among instructions are [`Stmt::Comment`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Anchor {
    /// The top of the file, around `arch` and `weights`.
    Header,
    Layer(String),
    Global(String),
    Core(CoreId),
    /// Array group `index` of core `core`.
    Ag {
        core: CoreId,
        index: u32,
    },
    Buffer {
        core: CoreId,
        name: String,
    },
    /// After the last declaration.
    End,
}

/// Batch-normalization parameters, by tensor name: per channel,
/// y = (x - mean) * gamma / sqrt(var + eps) + beta. Folded transformations are kept as these recipes and applied when
/// weights are read, so no derived tensor is ever written.
#[derive(Debug, Clone, PartialEq)]
pub struct BnRef {
    pub gamma: String,
    pub beta: String,
    pub mean: String,
    pub var: String,
    pub eps: f32,
}

/// A crossbar layer: the weights its array groups hold and how they unfold into matrices
/// (the mapping's [`Unfolding`]); the simulator programs crossbars from these, the verifier
/// checks array groups against them.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    pub name: String,
    pub line: Line,
    /// Weight tensor in the weight store.
    pub weight: String,
    pub layout: WeightLayout,
    pub unfolding: Unfolding,
    /// Columns scaled by a folded batch normalization's gamma / sqrt(var + eps).
    pub scale: Option<BnRef>,
}

impl Layer {
    /// A convolution as the `.pim` text and the MLIR describe it: kernel, input channels per
    /// group, the first matrix's rows and columns (checked), groups, pack and format.
    #[allow(clippy::too_many_arguments)]
    pub fn conv(
        name: &str,
        weight: &str,
        kernel: [i64; 2],
        channels: i64,
        (rows, cols): (i64, i64),
        groups: i64,
        pack: i64,
        format: Format,
    ) -> Result<Layer, String> {
        if rows <= 0 || cols <= 0 {
            return Err(format!("layer '{name}' must have positive rows and cols"));
        }
        let small =
            |what: &str, v: i64| u32::try_from(v).map_err(|_| format!("layer '{name}': {what} = {v} is out of range"));
        let (kh, kw) = (small("kernel height", kernel[0])?, small("kernel width", kernel[1])?);
        let (c, g, p) = (small("channels", channels)?, small("groups", groups)?, small("pack", pack)?);
        // The columns of the first matrix hold `pack` groups' outputs, times the kernel
        // positions the format puts in columns.
        let per_col = u64::from(p.max(1))
            * match format {
                Format::IK_OK_1 => u64::from(kh),
                Format::I_OK2_1 => u64::from(kh) * u64::from(kw),
                _ => 1,
            };
        if per_col == 0 || !(cols as u64).is_multiple_of(per_col) {
            return Err(format!(
                "conv layer '{name}' has cols={cols}, which {per_col} does not divide (pack {p}, format {format})"
            ));
        }
        let out = small("output channels", cols / per_col as i64)?;
        let u = Unfolding::new(format, [kh, kw], c, out, g, p).map_err(|e| format!("layer '{name}': {e}"))?;
        let want = i64::from(u.shape(0).0);
        if want != rows {
            return Err(format!(
                "conv layer '{name}' has rows={rows}, but kernel {}x{} with {channels} channels makes {want}",
                kernel[0], kernel[1]
            ));
        }
        Ok(Layer {
            name: name.into(),
            line: Line::NONE,
            weight: weight.into(),
            layout: WeightLayout::Oihw,
            unfolding: u,
            scale: None,
        })
    }

    /// A fully connected layer: `[in, out]` (or `[out, in]` when transposed) weights; with
    /// `hwc`, its input is a flattened `[C, H, W]` map stored height-width-channel.
    pub fn fc(
        name: &str,
        weight: &str,
        transposed: bool,
        hwc: Option<[i64; 3]>,
        (rows, cols): (i64, i64),
    ) -> Result<Layer, String> {
        if rows <= 0 || cols <= 0 {
            return Err(format!("layer '{name}' must have positive rows and cols"));
        }
        let small =
            |what: &str, v: i64| u32::try_from(v).map_err(|_| format!("layer '{name}': {what} = {v} is out of range"));
        let (kernel, channels) = match hwc {
            Some([c, h, w]) => {
                let made = c.checked_mul(h).and_then(|x| x.checked_mul(w));
                if made != Some(rows) {
                    let made = made.map_or("too many".to_string(), |m| m.to_string());
                    return Err(format!("fc layer '{name}' has rows={rows}, but hwc={c}x{h}x{w} makes {made}"));
                }
                ([small("height", h)?, small("width", w)?], small("channels", c)?)
            }
            None => ([1, 1], small("rows", rows)?),
        };
        let u = Unfolding::dense(kernel, channels, small("cols", cols)?).map_err(|e| format!("layer '{name}': {e}"))?;
        Ok(Layer {
            name: name.into(),
            line: Line::NONE,
            weight: weight.into(),
            layout: WeightLayout::Fc { transposed },
            unfolding: u,
            scale: None,
        })
    }

    pub fn is_conv(&self) -> bool {
        self.layout == WeightLayout::Oihw
    }

    /// Rows and columns of matrix `m`.
    pub fn shape(&self, m: u32) -> (i64, i64) {
        let (r, c) = self.unfolding.shape(m);
        (i64::from(r), i64::from(c))
    }

    /// Rows of the first (largest) matrix.
    pub fn rows(&self) -> i64 {
        self.shape(0).0
    }

    /// Columns of the first (largest) matrix.
    pub fn cols(&self) -> i64 {
        self.shape(0).1
    }

    /// For a fully connected layer over a flattened map, its `[C, H, W]`.
    pub fn hwc(&self) -> Option<[i64; 3]> {
        let u = &self.unfolding;
        (!self.is_conv() && u.kernel != [1, 1])
            .then(|| [i64::from(u.in_channels), i64::from(u.kernel[0]), i64::from(u.kernel[1])])
    }
}

/// Initial content / role of a global buffer.
#[derive(Debug, Clone, PartialEq)]
pub enum GlobalInit {
    /// Scratch (an intermediate activation).
    None,
    /// Model input `index` (shape NCHW or [1, F]); stored height-width-channel when 4-D.
    Input { index: u32, shape: Vec<i64> },
    /// Model output `index`, read back after the run; stored like inputs.
    Output { index: u32, shape: Vec<i64> },
    /// A tensor from the weight store (e.g. a bias vector), flat.
    Weight { name: String },
    /// The bias of a layer with a folded batch normalization:
    /// (bias - mean) * gamma / sqrt(var + eps) + beta, bias 0 when absent.
    Bias { bias: Option<String>, bn: BnRef },
    /// Per-channel scale of a batch normalization: gamma / sqrt(var + eps).
    BnScale { bn: BnRef },
    /// Per-channel shift of a batch normalization: beta - mean * gamma / sqrt(var + eps).
    BnShift { bn: BnRef },
    /// Every element equal to `value`.
    Fill { value: f32 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct GlobalBuf {
    pub name: String,
    pub line: Line,
    pub size: u64,
    pub addr: Option<u64>,
    pub init: GlobalInit,
    /// Copies of a scratch buffer, one per sample in flight: sample `k` of a pipelined run
    /// addresses copy `k mod slots` (the hardware adds the copy's offset from a per-sample
    /// base register). 1 for every other buffer.
    pub slots: u32,
}

/// Copies (`slots=`) are for scratch buffers: the host writes inputs and reads outputs at
/// one place, and constants are the same in every sample.
pub fn check_slots(slots: u32, init: &GlobalInit) -> Result<(), String> {
    if !(1..=64).contains(&slots) {
        return Err(format!("'slots' must be in 1..64, got {slots}"));
    }
    if slots > 1 && *init != GlobalInit::None {
        return Err(
            "'slots' is only meaningful for a scratch buffer (no input, output, weight, fill, bias or bn role)".into(),
        );
    }
    Ok(())
}

impl GlobalBuf {
    /// Bytes from one copy to the next (the size, 64-byte aligned).
    pub fn slot_stride(&self) -> u64 {
        self.size.checked_next_multiple_of(64).unwrap_or(self.size)
    }

    /// Bytes the buffer spans with all its copies.
    pub fn footprint(&self) -> u64 {
        self.slot_stride().saturating_mul(u64::from(self.slots.max(1)) - 1).saturating_add(self.size)
    }

    /// Offset of the copy that sample `sample` addresses.
    pub fn slot_offset(&self, sample: u32) -> u64 {
        if self.slots <= 1 {
            0
        } else {
            self.slot_stride().saturating_mul(u64::from(sample % self.slots))
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LocalBuf {
    pub name: String,
    pub line: Line,
    pub size: u64,
    pub addr: Option<u64>,
}

/// One entry of a core's array-group table; `mvmul ... group=N` names entry N. The group
/// holds rows `row_begin..row_begin + rows` and columns `col_begin..col_begin + cols` of
/// matrix `matrix` of its layer.
#[derive(Debug, Clone, PartialEq)]
pub struct ArrayGroup {
    pub layer: String,
    pub line: Line,
    pub replica: u32,
    pub matrix: u32,
    pub row_begin: i64,
    pub rows: i64,
    pub col_begin: i64,
    pub cols: i64,
    /// Crossbars the group occupies (ceil(cols / crossbar cols)).
    pub xbars: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CoreProgram {
    pub id: CoreId,
    pub line: Line,
    pub ags: Vec<ArrayGroup>,
    pub buffers: Vec<LocalBuf>,
    pub body: Vec<Stmt>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Program {
    /// File the program was read from, for diagnostics (empty when built in memory).
    pub source: String,
    /// Architecture the program was compiled for: a preset name or a config path.
    pub arch: String,
    /// Weight store (ONNX file), relative to the program file.
    pub weights: Option<String>,
    pub layers: Vec<Layer>,
    pub globals: Vec<GlobalBuf>,
    pub cores: Vec<CoreProgram>,
    /// Comments on declarations (leading ones first, then at most one trailing).
    pub comments: std::collections::BTreeMap<Anchor, Vec<Comment>>,
    /// The lines of instructions are record numbers (index + 1 in the core's array of an
    /// imported pimsim-nn file), not lines of `source`.
    pub record_lines: bool,
}

/// An instruction with every address resolved to a byte address.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resolved {
    pub rd: u64,
    pub rs1: u64,
    pub rs2: u64,
}

impl CoreProgram {
    /// Number of instructions one run executes (repeats expanded).
    pub fn dynamic_count(&self) -> u64 {
        fn count(stmts: &[Stmt]) -> u64 {
            stmts
                .iter()
                .map(|s| match s {
                    Stmt::Inst(..) => 1,
                    Stmt::Repeat { count, body, .. } => ((*count).max(0) as u64).saturating_mul(count_body(body)),
                    Stmt::Comment(_) | Stmt::Task(_) => 0,
                })
                .sum()
        }
        fn count_body(b: &[Stmt]) -> u64 {
            count(b)
        }
        count(&self.body)
    }

    /// Instructions one run executes by mnemonic, added into `mix` (repeats expanded).
    pub fn add_dynamic_mix(&self, mix: &mut std::collections::BTreeMap<&'static str, u64>) {
        fn add(stmts: &[Stmt], times: u64, mix: &mut std::collections::BTreeMap<&'static str, u64>) {
            for s in stmts {
                match s {
                    Stmt::Inst(i, _) => *mix.entry(i.mnemonic()).or_default() += times,
                    Stmt::Repeat { count, body, .. } => add(body, times.saturating_mul((*count).max(0) as u64), mix),
                    Stmt::Comment(_) | Stmt::Task(_) => {}
                }
            }
        }
        add(&self.body, 1, mix)
    }

    /// Number of instructions as written (repeats not expanded).
    pub fn static_count(&self) -> u64 {
        fn count(stmts: &[Stmt]) -> u64 {
            stmts
                .iter()
                .map(|s| match s {
                    Stmt::Inst(..) => 1,
                    Stmt::Repeat { body, .. } => count(body),
                    Stmt::Comment(_) | Stmt::Task(_) => 0,
                })
                .sum()
        }
        count(&self.body)
    }

    /// Deepest loop nesting in the body.
    pub fn max_depth(&self) -> usize {
        fn depth(stmts: &[Stmt]) -> usize {
            stmts
                .iter()
                .map(|s| match s {
                    Stmt::Inst(..) | Stmt::Comment(_) | Stmt::Task(_) => 0,
                    Stmt::Repeat { body, .. } => 1 + depth(body),
                })
                .max()
                .unwrap_or(0)
        }
        depth(&self.body)
    }

    /// Calls `f` for every dynamic instruction in execution order, with its source line and
    /// the loop counters. Stops at the first error `f` returns.
    pub fn for_each<E>(&self, mut f: impl FnMut(&Inst, u32, &[i64]) -> Result<(), E>) -> Result<(), E> {
        fn walk<E>(
            stmts: &[Stmt],
            counters: &mut Vec<i64>,
            f: &mut impl FnMut(&Inst, u32, &[i64]) -> Result<(), E>,
        ) -> Result<(), E> {
            for s in stmts {
                match s {
                    Stmt::Inst(i, line) => f(i, line.0, counters)?,
                    Stmt::Repeat { start, count, body } => {
                        counters.push(*start);
                        for k in 0..*count {
                            *counters.last_mut().expect("pushed above") = start + k;
                            walk(body, counters, f)?;
                        }
                        counters.pop();
                    }
                    Stmt::Comment(_) | Stmt::Task(_) => {}
                }
            }
            Ok(())
        }
        walk(&self.body, &mut Vec::with_capacity(8), &mut f)
    }
}

impl Program {
    /// The activation bit width the program's `setbw` instructions declare (the `ibiw` of the
    /// first), `None` when it has none, and every `setbw` that disagrees (its line and why).
    /// Programs from pimsim-nn set 8 bits where pimlir's presets use 16, so the element size
    /// comes from here before the architecture; the functional model keeps one element size
    /// per program, so all must agree.
    pub fn declared_bit_width(&self) -> (Option<u32>, Vec<(u32, String)>) {
        fn walk(stmts: &[Stmt], first: &mut Option<u32>, bad: &mut Vec<(u32, String)>, core: CoreId) {
            for s in stmts {
                match s {
                    Stmt::Inst(Inst::SetBw { ibiw, obiw }, line) => {
                        if ibiw != obiw {
                            bad.push((line.0, format!("core {core}: setbw ibiw={ibiw}, obiw={obiw}: pimlir models one element size, so ibiw and obiw must agree")));
                        }
                        match first {
                            Some(bits) if *bits != *ibiw => bad.push((
                                line.0,
                                format!("core {core}: setbw ibiw={ibiw} disagrees with ibiw={bits} set before; pimlir models one element size per program"),
                            )),
                            Some(_) => {}
                            None => *first = Some(*ibiw),
                        }
                    }
                    Stmt::Repeat { body, .. } => walk(body, first, bad, core),
                    Stmt::Inst(..) | Stmt::Comment(_) | Stmt::Task(_) => {}
                }
            }
        }
        let (mut first, mut bad) = (None, vec![]);
        for c in &self.cores {
            walk(&c.body, &mut first, &mut bad, c.id);
        }
        (first.filter(|&b| b > 0), bad)
    }

    /// Folds repeated strided runs of every core into loops ([`reroll::reroll`]).
    pub fn reroll(&mut self) {
        for c in &mut self.cores {
            c.body = reroll::reroll(std::mem::take(&mut c.body));
        }
    }

    /// Expands every loop: each core's body becomes the flat instruction stream it executes,
    /// addresses keeping their buffers (the strict ISA has no loops). Comments outside loops
    /// stay; those inside go; task markers stay everywhere. Refused when the stream would be
    /// longer than the instruction limit ([`crate::limits`]).
    pub fn flatten(&mut self) -> Result<()> {
        let n = self.dynamic_count();
        crate::limits::check_instructions("flattening the program", n)?;
        crate::limits::check_memory("flattening the program", n.saturating_mul(std::mem::size_of::<Stmt>() as u64))?;
        fn expand(stmts: &[Stmt], counters: &mut Vec<i64>, out: &mut Vec<Stmt>) {
            for s in stmts {
                match s {
                    Stmt::Inst(i, line) => {
                        let mut i = i.clone();
                        for a in i.addrs_mut() {
                            a.offset = a.offset_at(counters);
                            a.terms.clear();
                        }
                        out.push(Stmt::Inst(i, *line));
                    }
                    Stmt::Repeat { start, count, body } => {
                        for k in 0..*count {
                            counters.push(start + k);
                            expand(body, counters, out);
                            counters.pop();
                        }
                    }
                    Stmt::Comment(c) if counters.is_empty() => out.push(Stmt::Comment(c.clone())),
                    Stmt::Comment(_) => {}
                    // Tasks mark where work begins, in loops too: every iteration keeps its own.
                    Stmt::Task(t) => out.push(Stmt::Task(t.clone())),
                }
            }
        }
        for c in &mut self.cores {
            let mut flat = Vec::with_capacity(c.dynamic_count() as usize);
            expand(&c.body, &mut Vec::new(), &mut flat);
            c.body = flat;
        }
        Ok(())
    }

    /// Byte address of an address expression at the given loop counters; `None` when the
    /// buffer it is based on has no address yet (before `--alloc-memory`).
    #[inline]
    pub fn resolve(&self, core: &CoreProgram, a: &Addr, counters: &[i64]) -> Option<i64> {
        let base = match a.base {
            Base::Abs => 0,
            Base::Local(b) => core.buffers.get(b as usize)?.addr? as i64,
            Base::Global(g) => self.globals.get(g as usize)?.addr? as i64,
        };
        Some(base + a.offset_at(counters))
    }

    /// Where a finding at `line` points: `file:line:col` in a text source, the file for an
    /// imported pimsim-nn file (whose "lines" are records: see [`Program::place`]), nothing
    /// for a program built in memory.
    pub fn loc(&self, line: u32) -> Option<crate::diag::Loc> {
        use crate::diag::Loc;
        if self.source.is_empty() {
            None
        } else if self.record_lines || line == 0 {
            Some(Loc::file(self.source.as_str()))
        } else {
            Some(Loc::new(self.source.as_str(), line, 1))
        }
    }

    /// What a finding about `core`'s instruction at `line` says first when the location
    /// cannot: `"core0, instruction 12: "` for a record of an imported file, else nothing.
    pub fn place(&self, core: crate::arch::CoreId, line: u32) -> String {
        if self.record_lines && line > 0 {
            format!("core{core}, instruction {}: ", line - 1)
        } else {
            String::new()
        }
    }

    /// A finding about `core`'s instruction at `line`: at [`Program::loc`], the message led
    /// by [`Program::place`] (which then says the core, so a leading "core N: " goes).
    pub fn finding(&self, core: crate::arch::CoreId, line: u32, msg: &str) -> crate::diag::Diagnostic {
        let place = self.place(core, line);
        let own = format!("core {core}: ");
        let msg = if place.is_empty() { msg } else { msg.strip_prefix(own.as_str()).unwrap_or(msg) };
        crate::diag::Diagnostic::error(format!("{place}{msg}")).at_opt(self.loc(line))
    }

    /// Another instruction's position in a message: `" (line 12)"`, `" (instruction 11)"`
    /// for a record, or nothing when unknown.
    pub fn at_line(&self, line: u32) -> String {
        match (line, self.record_lines) {
            (0, _) => String::new(),
            (l, true) => format!(" (instruction {})", l - 1),
            (l, false) => format!(" (line {l})"),
        }
    }

    pub fn layer(&self, name: &str) -> Option<&Layer> {
        self.layers.iter().find(|l| l.name == name)
    }

    pub fn core(&self, id: CoreId) -> Option<&CoreProgram> {
        self.cores.iter().find(|c| c.id == id)
    }

    pub fn dynamic_count(&self) -> u64 {
        self.cores.iter().map(|c| c.dynamic_count()).sum()
    }

    pub fn static_count(&self) -> u64 {
        self.cores.iter().map(|c| c.static_count()).sum()
    }

    /// Instructions one run of every core executes, by mnemonic.
    pub fn dynamic_mix(&self) -> std::collections::BTreeMap<&'static str, u64> {
        let mut mix = std::collections::BTreeMap::new();
        for c in &self.cores {
            c.add_dynamic_mix(&mut mix);
        }
        mix
    }

    /// Forgets every source position (lines and the file name): what is left is the program's
    /// meaning, so two programs read from differently laid-out texts compare equal.
    pub fn strip_lines(&mut self) {
        fn strip(stmts: &mut [Stmt]) {
            for s in stmts {
                match s {
                    Stmt::Inst(_, line) => *line = Line::NONE,
                    Stmt::Repeat { body, .. } => strip(body),
                    Stmt::Comment(_) | Stmt::Task(_) => {}
                }
            }
        }
        self.source.clear();
        for l in &mut self.layers {
            l.line = Line::NONE;
        }
        for g in &mut self.globals {
            g.line = Line::NONE;
        }
        for c in &mut self.cores {
            c.line = Line::NONE;
            for a in &mut c.ags {
                a.line = Line::NONE;
            }
            for b in &mut c.buffers {
                b.line = Line::NONE;
            }
            strip(&mut c.body);
        }
    }

    /// Checks that every buffer has an address (what the simulator and exporters need).
    pub fn check_allocated(&self) -> Result<()> {
        for g in &self.globals {
            if g.addr.is_none() {
                return Err(Error::new(format!("global buffer '{}' has no address; run --alloc-memory first", g.name)));
            }
        }
        for c in &self.cores {
            for b in &c.buffers {
                if b.addr.is_none() {
                    return Err(Error::new(format!(
                        "local buffer '{}' of core {} has no address; run --alloc-memory first",
                        b.name, c.id
                    )));
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&text::print(self))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_dynamic_mix_expands_repeats() {
        let src = "arch \"pimcomp-default\"\nglobal $x size=64 addr=0\ncore 0 {\n  buffer @a size=64 addr=0\n  ld @a, $x, size=64\n  repeat i in 0..3 {\n    vrelu @a+16*i, @a+16*i, len=8\n    repeat j in 0..2 {\n      vvadd @a, @a, @a, len=4\n    }\n  }\n}\n";
        let p = super::text::parse(src, "mix.pim").unwrap();
        let mix = p.dynamic_mix();
        assert_eq!(mix.get("ld"), Some(&1));
        assert_eq!(mix.get("vrelu"), Some(&3));
        assert_eq!(mix.get("vvadd"), Some(&6));
        assert_eq!(mix.values().sum::<u64>(), p.dynamic_count());
    }
}
