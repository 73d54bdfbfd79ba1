//! From the `.pim` syntax tree to a [`Program`]: names resolved, operands counted, attribute
//! keys checked, address spaces checked. Every problem is reported with its line and column.
//!
//! Declarations outside cores are lowered first (cores refer to them wherever they stand);
//! then the cores, in parallel: a core's body needs only the shared declarations, its own
//! syntax tree (dropped as soon as it is lowered) and the comments inside it.

use super::ast::{Attr, CoreItem, Expr, Item, Operand, Span, Term, Value};
use super::lexer::RawComment;
use super::{LineCursor, LineIndex};
use crate::arch::CoreId;
use crate::diag::{Diagnostic, Error, Loc, Result};
use crate::isa::inst::{self, AttrValue};
use crate::isa::*;
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};
use smallvec::SmallVec;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// Errors reported for one line (the rest are counted in a note).
const MAX_ERRORS_PER_LINE: u32 = 10;

struct Lower<'l> {
    lines: LineCursor<'l>,
    file: Arc<str>,
    diags: Vec<Diagnostic>,
    /// Errors seen per line.
    per_line: FxHashMap<u32, u32>,
    /// The file's comments in order; `None` once attached somewhere.
    comments: Vec<Option<RawComment<'l>>>,
    /// Where each comment starts (sorted).
    comment_at: Vec<usize>,
    anchored: BTreeMap<Anchor, Vec<Comment>>,
}

/// A lowered part of a file: its declarations and cores, with what cannot be settled inside
/// the part.
pub struct Part {
    /// Declarations of the part and its cores, in file order.
    pub prog: Program,
    /// `(id, span)` of each core header, to find cores defined twice across parts.
    pub core_spans: Vec<(CoreId, Span)>,
    pub diags: Vec<Diagnostic>,
    /// Comments after the part's last item: they lead whatever comes next in the file.
    pub tail: Vec<Comment>,
}

/// The program's global buffers and layers by name (index in `globals` / `layers`), for
/// lowering cores: looked up once per use, so they must not be linear searches.
pub struct Names<'a> {
    pub globals: FxHashMap<&'a str, u32>,
    pub layers: FxHashMap<&'a str, u32>,
}

impl<'a> Names<'a> {
    pub fn of(p: &'a Program) -> Names<'a> {
        let index = |it: &mut dyn Iterator<Item = &'a str>| {
            let mut m = FxHashMap::default();
            for (i, n) in it.enumerate() {
                m.entry(n).or_insert(i as u32);
            }
            m
        };
        Names {
            globals: index(&mut p.globals.iter().map(|g| g.name.as_str())),
            layers: index(&mut p.layers.iter().map(|l| l.name.as_str())),
        }
    }
}

/// Lowers the items of a file (or of a piece of it). Cores are lowered against `decls` (the
/// declarations of an earlier piece) when given, else against the part's own declarations,
/// and then in parallel.
pub fn lower_part<'l>(
    items: Vec<Item<'_>>,
    comments: Vec<RawComment<'l>>,
    index: &'l LineIndex,
    file: &Arc<str>,
    decls: Option<(&Program, &Names<'_>)>,
) -> Part {
    let mut top = Lower::new(index, file.clone(), comments.into_iter().map(Some).collect());
    // The printer's header line is not a comment of the program.
    if let Some(Some(c)) = top.comments.first() {
        if c.at == 0 && c.text == super::print::HEADER {
            top.comments[0] = None;
        }
    }
    let (mut prog, tail) = top.declarations(&items);
    // Each core takes the syntax tree and the comments inside its braces.
    let mut cores = vec![];
    for item in items {
        if let Item::Core { id, items, span, end_at } = item {
            let lo = top.comment_at.partition_point(|&a| a < span.0);
            let hi = top.comment_at.partition_point(|&a| a <= end_at);
            let comments = top.comments[lo..hi].iter_mut().map(Option::take).collect();
            if let Ok(id) = u32::try_from(id) {
                cores.push((CoreId(id), items, span, end_at, comments));
            }
        }
    }
    let core_spans = cores.iter().map(|c| (c.0, c.2)).collect();
    let own_names: Names;
    let (decl_prog, globals) = match decls {
        Some(d) => d,
        None => {
            own_names = Names::of(&prog);
            (&prog, &own_names)
        }
    };
    let lower_one = |(id, items, span, end_at, comments): (CoreId, Vec<CoreItem>, Span, usize, Vec<_>)| {
        let mut l = Lower::new(index, file.clone(), comments);
        let core = l.core(id, span, end_at, &items, decl_prog, globals);
        drop(items);
        (core, l)
    };
    // A part of a bigger file is already one of several lowered in parallel.
    let lowered: Vec<(CoreProgram, Lower)> = if decls.is_some() {
        cores.into_iter().map(lower_one).collect()
    } else {
        cores.into_par_iter().map(lower_one).collect()
    };
    let mut diags = top.take_diags();
    let mut anchored = std::mem::take(&mut top.anchored);
    let mut lowered_cores = vec![];
    for (core, mut l) in lowered {
        diags.extend(l.take_diags());
        for (anchor, list) in l.anchored {
            anchored.entry(anchor).or_default().extend(list);
        }
        lowered_cores.push(core);
    }
    prog.cores = lowered_cores;
    prog.comments = anchored;
    Part { prog, core_spans, diags, tail }
}

/// Lowers a whole file's items.
pub fn lower<'l>(
    items: Vec<Item<'_>>,
    comments: Vec<RawComment<'l>>,
    index: &'l LineIndex,
    file: &str,
) -> Result<Program> {
    let file: Arc<str> = file.into();
    let mut parts = vec![lower_part(items, comments, index, &file, None)];
    join(&mut parts, index, &file).map(|_| parts.pop().expect("one part").prog)
}

/// Joins lowered parts, in file order, into the first: cores defined twice are errors, and
/// the comments after each part lead the first core of the next (or end the file).
pub fn join(parts: &mut Vec<Part>, index: &LineIndex, file: &Arc<str>) -> Result<()> {
    let mut rest = parts.split_off(1);
    let first = &mut parts[0];
    let mut diags = std::mem::take(&mut first.diags);
    let mut seen: std::collections::HashSet<CoreId> = std::collections::HashSet::new();
    // (A program with errors is not returned, so duplicates need not be removed.)
    let mut twice = |spans: &[(CoreId, Span)], diags: &mut Vec<Diagnostic>| {
        for &(id, span) in spans {
            if !seen.insert(id) {
                let (line, col) = index.line_col(span.0);
                diags.push(Diagnostic::error(format!("core {id} is defined twice")).at(Loc::new(
                    file.clone(),
                    line,
                    col,
                )));
            }
        }
    };
    twice(&first.core_spans, &mut diags);
    let mut tail = std::mem::take(&mut first.tail);
    for part in &mut rest {
        diags.append(&mut part.diags);
        twice(&part.core_spans, &mut diags);
        if let Some(c) = part.prog.cores.first().filter(|_| !tail.is_empty()) {
            let list = part.prog.comments.entry(Anchor::Core(c.id)).or_default();
            list.splice(0..0, std::mem::take(&mut tail));
        }
        tail.append(&mut part.tail);
        first.prog.cores.append(&mut part.prog.cores);
        for (anchor, list) in std::mem::take(&mut part.prog.comments) {
            first.prog.comments.entry(anchor).or_default().extend(list);
        }
    }
    if !tail.is_empty() {
        first.prog.comments.entry(Anchor::End).or_default().extend(tail);
    }
    if diags.is_empty() {
        Ok(())
    } else {
        Err(Error::many(diags))
    }
}

/// What an attribute list belongs to, for messages (formatted only when one is needed).
#[derive(Clone, Copy)]
enum What<'a> {
    Layer(&'a str),
    Global(&'a str),
    Buffer(&'a str),
    ArrayGroup,
    Inst(&'a str),
    Task(&'a str),
}

impl fmt::Display for What<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            What::Layer(n) => write!(f, "layer '{n}'"),
            What::Global(n) => write!(f, "global buffer '${n}'"),
            What::Buffer(n) => write!(f, "buffer '@{n}'"),
            What::ArrayGroup => write!(f, "array group"),
            What::Inst(m) => write!(f, "'{m}'"),
            What::Task(n) => write!(f, "task '{n}'"),
        }
    }
}

/// Attribute list of one declaration or instruction, consumed key by key.
struct Attrs<'a> {
    attrs: SmallVec<[&'a Attr<'a>; 4]>,
    used: SmallVec<[bool; 4]>,
    what: What<'a>,
    span: Span,
}

/// Which memory an address operand must point into.
#[derive(Clone, Copy, PartialEq)]
enum Space {
    Local,
    Global,
}

impl<'l> Lower<'l> {
    fn new(index: &'l LineIndex, file: Arc<str>, comments: Vec<Option<RawComment<'l>>>) -> Self {
        Lower {
            lines: LineCursor::new(index),
            file,
            diags: vec![],
            per_line: FxHashMap::default(),
            // Taken slots keep their neighbour's offset, so the list stays sorted.
            comment_at: comments
                .iter()
                .scan(0, |last, c| {
                    *last = c.as_ref().map_or(*last, |c| c.at);
                    Some(*last)
                })
                .collect(),
            comments,
            anchored: BTreeMap::new(),
        }
    }

    fn line(&mut self, span: Span) -> Line {
        Line(self.lines.line_col(span.0).0)
    }

    fn err(&mut self, span: Span, msg: impl Into<String>) {
        let (line, col) = self.lines.line_col(span.0);
        // A line reports at most a few errors; the rest are counted.
        let n = self.per_line.entry(line).or_default();
        *n += 1;
        if *n > MAX_ERRORS_PER_LINE {
            return;
        }
        self.diags.push(Diagnostic::error(msg).at(Loc::new(self.file.clone(), line, col)));
    }

    /// The diagnostics, with a note for each line that had more than were reported.
    fn take_diags(&mut self) -> Vec<Diagnostic> {
        let mut out = std::mem::take(&mut self.diags);
        let mut over: Vec<(u32, u32)> =
            self.per_line.iter().filter(|(_, &n)| n > MAX_ERRORS_PER_LINE).map(|(&l, &n)| (l, n)).collect();
        over.sort_unstable();
        for (line, n) in over {
            out.push(
                Diagnostic::note(format!("{} more errors on this line not shown", n - MAX_ERRORS_PER_LINE))
                    .at(Loc::new(self.file.clone(), line, 1)),
            );
        }
        out
    }

    /// Comments not attached yet that start in `lo..hi`, each on a line of its own.
    fn comments_in(&mut self, lo: usize, hi: usize) -> Vec<Comment> {
        let first = self.comment_at.partition_point(|&at| at < lo);
        let last = self.comment_at.partition_point(|&at| at < hi);
        self.comments[first..last.max(first)]
            .iter_mut()
            .filter_map(|slot| slot.take())
            .map(|c| Comment::line(c.text))
            .collect()
    }

    /// The comment ending the line on which offset `after` lies, if it follows `after`.
    /// (Items are found by where they start: a span's end may lie past a trailing comment.)
    fn trailing_at(&mut self, after: usize) -> Option<Comment> {
        let line = self.lines.line_col(after).0;
        let k = self.comment_at.partition_point(|&at| at < after);
        let c = self.comments.get(k)?.as_ref()?;
        if !c.trailing || self.lines.line_col(c.at).0 != line {
            return None;
        }
        let text = c.text.to_string();
        self.comments[k] = None;
        Some(Comment { text, trailing: true })
    }

    fn anchor(&mut self, anchor: Anchor, comments: impl IntoIterator<Item = Comment>) {
        let list: Vec<Comment> = comments.into_iter().collect();
        if !list.is_empty() {
            self.anchored.entry(anchor).or_default().extend(list);
        }
    }

    fn attrs<'a>(&self, attrs: impl IntoIterator<Item = &'a Attr<'a>>, what: What<'a>, span: Span) -> Attrs<'a> {
        let attrs: SmallVec<[&Attr; 4]> = attrs.into_iter().collect();
        let used = smallvec::smallvec![false; attrs.len()];
        Attrs { attrs, used, what, span }
    }

    fn take<'a>(&mut self, a: &mut Attrs<'a>, key: &str) -> Option<&'a Attr<'a>> {
        let mut found = None;
        for (i, attr) in a.attrs.iter().enumerate() {
            if attr.key == key {
                if found.is_some() {
                    self.err(attr.span, format!("'{key}' given twice"));
                }
                a.used[i] = true;
                found = Some(*attr);
            }
        }
        found
    }

    fn take_int(&mut self, a: &mut Attrs<'_>, key: &str, required: bool) -> Option<i64> {
        match self.take(a, key) {
            None => {
                if required {
                    self.err(a.span, format!("{} needs '{key}=<integer>'", a.what));
                }
                None
            }
            Some(Attr { value: Some(Value::Int(i)), .. }) => Some(*i),
            Some(attr) => {
                self.err(attr.span, format!("'{key}' must be an integer"));
                None
            }
        }
    }

    fn take_u32(&mut self, a: &mut Attrs<'_>, key: &str, required: bool) -> Option<u32> {
        let span = a.span;
        let v = self.take_int(a, key, required)?;
        if v < 0 || v > u32::MAX as i64 {
            self.err(span, format!("'{key}' = {v} is out of range"));
            return None;
        }
        Some(v as u32)
    }

    fn take_str(&mut self, a: &mut Attrs<'_>, key: &str, required: bool) -> Option<String> {
        match self.take(a, key) {
            None => {
                if required {
                    self.err(a.span, format!("{} needs '{key}=\"...\"'", a.what));
                }
                None
            }
            Some(Attr { value: Some(Value::Str(s)), .. }) => Some(s.to_string()),
            Some(attr) => {
                self.err(attr.span, format!("'{key}' must be a quoted string"));
                None
            }
        }
    }

    fn take_flag(&mut self, a: &mut Attrs<'_>, key: &str) -> bool {
        match self.take(a, key) {
            None => false,
            Some(Attr { value: None, .. }) => true,
            Some(attr) => {
                self.err(attr.span, format!("'{key}' is a flag and takes no value"));
                true
            }
        }
    }

    fn take_dims(&mut self, a: &mut Attrs<'_>, key: &str, rank: Option<usize>, required: bool) -> Option<Vec<i64>> {
        let dims = match self.take(a, key) {
            None => {
                if required {
                    self.err(a.span, format!("{} needs '{key}=<dims>' (like 3x3)", a.what));
                }
                return None;
            }
            Some(Attr { value: Some(Value::Dims(d)), .. }) => (d.clone(), a.span),
            Some(Attr { value: Some(Value::Int(i)), span, .. }) => (vec![*i], *span),
            Some(attr) => {
                self.err(attr.span, format!("'{key}' must be dimensions like 3x3"));
                return None;
            }
        };
        if let Some(r) = rank {
            if dims.0.len() != r {
                self.err(dims.1, format!("'{key}' needs {r} dimensions, got {}", dims.0.len()));
                return None;
            }
        }
        Some(dims.0)
    }

    fn take_float(&mut self, a: &mut Attrs<'_>, key: &str, required: bool) -> Option<f32> {
        match self.take(a, key) {
            None => {
                if required {
                    self.err(a.span, format!("{} needs '{key}=<number>'", a.what));
                }
                None
            }
            Some(Attr { value: Some(Value::Int(i)), .. }) => Some(*i as f32),
            Some(Attr { value: Some(Value::Float(f)), span, .. }) => {
                if f.abs() > f64::from(f32::MAX) {
                    self.err(*span, format!("'{key}' = {f:e} is beyond the range of a 32-bit float"));
                    return None;
                }
                Some(*f as f32)
            }
            Some(attr) => {
                self.err(attr.span, format!("'{key}' must be a number"));
                None
            }
        }
    }

    /// The five `bn_*` keys of a batch-normalization recipe: all or none.
    /// `Some(None)` when absent, `None` after an error.
    fn take_bn(&mut self, a: &mut Attrs<'_>) -> Option<Option<BnRef>> {
        let present = BN_KEYS.iter().filter(|k| a.attrs.iter().any(|x| x.key == **k)).count();
        if present == 0 {
            return Some(None);
        }
        let gamma = self.take_str(a, "bn_gamma", true);
        let beta = self.take_str(a, "bn_beta", true);
        let mean = self.take_str(a, "bn_mean", true);
        let var = self.take_str(a, "bn_var", true);
        let eps = self.take_float(a, "bn_eps", true);
        Some(Some(BnRef { gamma: gamma?, beta: beta?, mean: mean?, var: var?, eps: eps? }))
    }

    /// Reports attributes nobody asked for.
    fn finish(&mut self, a: Attrs<'_>, allowed: &[&str]) {
        for (attr, used) in a.attrs.iter().zip(&a.used) {
            if !used {
                self.err(
                    attr.span,
                    format!("unknown attribute '{}' for {}; expected {}", attr.key, a.what, list(allowed)),
                );
            }
        }
    }

    /// Everything outside the cores, and the comments around them; returns the comments
    /// after the last item too.
    fn declarations(&mut self, items: &[Item<'_>]) -> (Program, Vec<Comment>) {
        let mut prog = Program::default();
        let mut seen_arch = None;
        let (mut layer_names, mut global_names) = (FxHashSet::default(), FxHashSet::default());
        // Globals and layers first: cores refer to them whatever the order in the file.
        // Comments of top-level lines are attached here, in source order; those inside a
        // core when the core is lowered.
        let mut prev_end = 0;
        for item in items {
            let (start, end) = match item {
                Item::Arch(_, span) | Item::Weights(_, span) => (span.0, span.0 + 1),
                Item::Layer { span, .. } | Item::Global { span, .. } => (span.0, span.0 + 1),
                Item::Core { span, end_at, .. } => (span.0, *end_at + 1),
                Item::Error => continue,
            };
            let lead = self.comments_in(prev_end, start);
            prev_end = end;
            match item {
                Item::Arch(a, span) => {
                    if seen_arch.replace(*span).is_some() {
                        self.err(*span, "'arch' given twice");
                    }
                    prog.arch = a.to_string();
                    // Printed on a line of its own (the header's comments all are).
                    let tail = self.trailing_at(span.0).map(|c| Comment::line(c.text));
                    self.anchor(Anchor::Header, lead.into_iter().chain(tail));
                }
                Item::Weights(w, span) => {
                    if prog.weights.replace(w.to_string()).is_some() {
                        self.err(*span, "'weights' given twice");
                    }
                    let tail = self.trailing_at(span.0).map(|c| Comment::line(c.text));
                    self.anchor(Anchor::Header, lead.into_iter().chain(tail));
                }
                Item::Layer { name, kind, attrs, span } => {
                    if !layer_names.insert(name.as_ref()) {
                        self.err(*span, format!("layer '{name}' is defined twice"));
                    }
                    if let Some(l) = self.layer(name, kind, attrs, *span) {
                        prog.layers.push(l);
                    }
                    let tail = self.trailing_at(span.0);
                    self.anchor(Anchor::Layer(name.to_string()), lead.into_iter().chain(tail));
                }
                Item::Global { name, attrs, span } => {
                    if !global_names.insert(name.as_ref()) {
                        self.err(*span, format!("global buffer '${name}' is defined twice"));
                    }
                    if let Some(g) = self.global(name, attrs, *span) {
                        prog.globals.push(g);
                    }
                    let tail = self.trailing_at(span.0);
                    self.anchor(Anchor::Global(name.to_string()), lead.into_iter().chain(tail));
                }
                Item::Core { id, span, .. } => {
                    let tail = self.trailing_at(span.0);
                    if let Ok(id) = u32::try_from(*id) {
                        self.anchor(Anchor::Core(CoreId(id)), lead.into_iter().chain(tail));
                    }
                }
                Item::Error => {}
            }
        }
        let end_comments = self.comments_in(prev_end, usize::MAX);
        for item in items {
            if let Item::Core { id, span, .. } = item {
                if u32::try_from(*id).is_err() {
                    self.err(*span, format!("core id {id} is out of range"));
                }
            }
        }
        (prog, end_comments)
    }

    fn layer(&mut self, name: &str, kind: &str, attrs: &[Attr], span: Span) -> Option<Layer> {
        let mut a = self.attrs(attrs, What::Layer(name), span);
        let rows = self.take_int(&mut a, "rows", true);
        let cols = self.take_int(&mut a, "cols", true);
        let weight = self.take_str(&mut a, "weight", true);
        let scale = self.take_bn(&mut a);
        let layer = match kind {
            "conv" => {
                let kernel = self.take_dims(&mut a, "kernel", Some(2), true);
                let channels = self.take_int(&mut a, "channels", true);
                let groups = self.take_int(&mut a, "groups", false).unwrap_or(1);
                let pack = self.take_int(&mut a, "pack", false).unwrap_or(1);
                let format = match self.take(&mut a, "format") {
                    None => Some(Format::IK2_O_1),
                    Some(Attr { value: Some(Value::Ident(f)), span, .. }) => match Format::from_name(f) {
                        Some(f) => Some(f),
                        None => {
                            self.err(
                                *span,
                                format!("unknown unfolding format '{f}'; expected one of {}", Format::names()),
                            );
                            None
                        }
                    },
                    Some(attr) => {
                        self.err(attr.span, format!("'format' must be one of {}", Format::names()));
                        None
                    }
                };
                self.finish(a, &with_bn(&["rows", "cols", "weight", "kernel", "channels", "groups", "pack", "format"]));
                let (kernel, channels, format) = (kernel?, channels?, format?);
                Layer::conv(name, &weight?, [kernel[0], kernel[1]], channels, (rows?, cols?), groups, pack, format)
            }
            "fc" => {
                let transposed = self.take_flag(&mut a, "transposed");
                let hwc = self.take_dims(&mut a, "hwc", Some(3), false);
                self.finish(a, &with_bn(&["rows", "cols", "weight", "transposed", "hwc"]));
                let hwc = hwc.map(|d| [d[0], d[1], d[2]]);
                Layer::fc(name, &weight?, transposed, hwc, (rows?, cols?))
            }
            other => {
                self.err(span, format!("unknown layer kind '{other}'; expected 'conv' or 'fc'"));
                return None;
            }
        };
        match layer {
            Ok(mut l) => {
                l.line = self.line(span);
                l.scale = scale?;
                Some(l)
            }
            Err(msg) => {
                self.err(span, msg);
                None
            }
        }
    }

    fn global(&mut self, name: &str, attrs: &[Attr], span: Span) -> Option<GlobalBuf> {
        let mut a = self.attrs(attrs, What::Global(name), span);
        let size = self.take_int(&mut a, "size", true);
        let addr = self.take_int(&mut a, "addr", false);
        let input = self.take_u32(&mut a, "input", false);
        let output = self.take_u32(&mut a, "output", false);
        let shape = self.take_dims(&mut a, "shape", None, false);
        let weight = self.take_str(&mut a, "weight", false);
        let fill = self.take_float(&mut a, "fill", false);
        // `bias="name"`, or a bare `bias` for a folded normalization without a bias tensor.
        let bias = match self.take(&mut a, "bias") {
            None => None,
            Some(Attr { value: None, .. }) => Some(None),
            Some(Attr { value: Some(Value::Str(s)), .. }) => Some(Some(s.to_string())),
            Some(attr) => {
                self.err(attr.span, "'bias' must be a quoted tensor name, or a bare flag");
                None
            }
        };
        let bn_scale = self.take_flag(&mut a, "bn_scale");
        let bn_shift = self.take_flag(&mut a, "bn_shift");
        let bn = self.take_bn(&mut a);
        let slots = self.take_u32(&mut a, "slots", false);
        self.finish(
            a,
            &with_bn(&[
                "size", "addr", "input", "output", "shape", "weight", "fill", "bias", "bn_scale", "bn_shift", "slots",
            ]),
        );
        let bn = bn?;
        let roles = input.is_some() as u8
            + output.is_some() as u8
            + weight.is_some() as u8
            + fill.is_some() as u8
            + bias.is_some() as u8
            + bn_scale as u8
            + bn_shift as u8;
        if roles > 1 {
            self.err(
                span,
                format!("global buffer '${name}' can have only one of input, output, weight, fill, bias, bn_scale, bn_shift"),
            );
            return None;
        }
        let needs_bn = bias.is_some() || bn_scale || bn_shift;
        if needs_bn != bn.is_some() {
            self.err(
                span,
                if needs_bn {
                    format!("global buffer '${name}' needs the batch normalization (bn_gamma, bn_beta, bn_mean, bn_var, bn_eps)")
                } else {
                    format!("batch normalization keys of global buffer '${name}' are only meaningful with bias, bn_scale or bn_shift")
                },
            );
            return None;
        }
        let needs_shape = input.is_some() || output.is_some();
        if needs_shape != shape.is_some() {
            self.err(
                span,
                if needs_shape {
                    format!("global buffer '${name}' needs 'shape=' with input/output")
                } else {
                    format!("'shape' of global buffer '${name}' is only meaningful with input/output")
                },
            );
            return None;
        }
        let init = if let Some(index) = input {
            GlobalInit::Input { index, shape: shape.unwrap_or_default() }
        } else if let Some(index) = output {
            GlobalInit::Output { index, shape: shape.unwrap_or_default() }
        } else if let Some(name) = weight {
            GlobalInit::Weight { name }
        } else if let Some(value) = fill {
            GlobalInit::Fill { value }
        } else if let (Some(bias), Some(bn)) = (bias, bn.clone()) {
            GlobalInit::Bias { bias, bn }
        } else if let (true, Some(bn)) = (bn_scale, bn.clone()) {
            GlobalInit::BnScale { bn }
        } else if let (true, Some(bn)) = (bn_shift, bn) {
            GlobalInit::BnShift { bn }
        } else {
            GlobalInit::None
        };
        let size = size?;
        if size <= 0 {
            self.err(span, format!("global buffer '${name}' must have a positive size"));
            return None;
        }
        if addr.is_some_and(|a| a < 0) {
            self.err(span, format!("global buffer '${name}' has a negative address"));
            return None;
        }
        if let Some(s) = slots {
            if let Err(why) = crate::isa::check_slots(s, &init) {
                self.err(span, format!("global buffer '${name}': {why}"));
                return None;
            }
        }
        Some(GlobalBuf {
            name: name.to_string(),
            line: self.line(span),
            size: size as u64,
            addr: addr.map(|a| a as u64),
            init,
            slots: slots.unwrap_or(1),
        })
    }

    fn core(
        &mut self,
        id: CoreId,
        span: Span,
        end_at: usize,
        items: &[CoreItem<'_>],
        prog: &Program,
        names: &Names<'_>,
    ) -> CoreProgram {
        let mut core = CoreProgram { id, line: self.line(span), ags: vec![], buffers: vec![], body: vec![] };
        let mut buffer_names = FxHashSet::default();
        // Tables first (they may be used before they are declared).
        for item in items {
            match item {
                CoreItem::Ag { index, layer, attrs, span } => {
                    if *index != core.ags.len() as i64 {
                        self.err(
                            *span,
                            format!("array group {index} of core {id} is out of order; expected {}", core.ags.len()),
                        );
                    }
                    if let Some(ag) = self.array_group(layer, attrs, *span, prog, names) {
                        core.ags.push(ag);
                    }
                }
                CoreItem::Buffer { name, attrs, span } => {
                    if !buffer_names.insert(name.as_ref()) {
                        self.err(*span, format!("buffer '@{name}' is defined twice in core {id}"));
                    }
                    let mut a = self.attrs(attrs, What::Buffer(name), *span);
                    let size = self.take_int(&mut a, "size", true);
                    let addr = self.take_int(&mut a, "addr", false);
                    self.finish(a, &["size", "addr"]);
                    if let Some(size) = size {
                        if size <= 0 || addr.is_some_and(|a| a < 0) {
                            self.err(
                                *span,
                                format!("buffer '@{name}' needs a positive size and a non-negative address"),
                            );
                        }
                        core.buffers.push(LocalBuf {
                            name: name.to_string(),
                            line: self.line(*span),
                            size: size.max(0) as u64,
                            addr: addr.map(|a| a.max(0) as u64),
                        });
                    }
                }
                _ => {}
            }
        }
        let locals: FxHashMap<&str, u32> =
            core.buffers.iter().enumerate().map(|(i, b)| (b.name.as_str(), i as u32)).collect();
        let scope = Scope { core: id, locals: &locals, globals: &names.globals, ag_count: core.ags.len() };
        let mut vars = Vec::new();
        let mut ags_seen = 0;
        let (mut body, last) = self.body(items, &scope, &mut vars, true, span.0 + 1, &mut ags_seen);
        body.extend(self.comments_in(last, end_at).into_iter().map(Stmt::Comment));
        core.body = body;
        core
    }

    fn array_group(
        &mut self,
        layer: &str,
        attrs: &[Attr<'_>],
        span: Span,
        prog: &Program,
        names: &Names<'_>,
    ) -> Option<ArrayGroup> {
        let mut a = self.attrs(attrs, What::ArrayGroup, span);
        let replica = self.take_u32(&mut a, "replica", true);
        let matrix = self.take_u32(&mut a, "matrix", false).unwrap_or(0);
        let mut range = |this: &mut Self, key: &str, required: bool| match this.take(&mut a, key) {
            Some(Attr { value: Some(Value::Range(b, e)), .. }) => Some(Some((*b, *e))),
            Some(attr) => {
                this.err(attr.span, format!("'{key}' must be a range like 0..128"));
                None
            }
            None if required => {
                this.err(span, format!("array group needs '{key}=<begin>..<end>'"));
                None
            }
            None => Some(None),
        };
        let rows = range(self, "rows", true);
        let cols = range(self, "cols", false);
        let xbars = self.take_u32(&mut a, "xbars", true);
        self.finish(a, &["replica", "matrix", "rows", "cols", "xbars"]);
        let Some(l) = names.layers.get(layer).map(|&i| &prog.layers[i as usize]) else {
            self.err(span, format!("array group refers to unknown layer '{layer}'"));
            return None;
        };
        if matrix >= l.unfolding.matrices() {
            self.err(
                span,
                format!("layer '{layer}' has {} matrices; there is no matrix {matrix}", l.unfolding.matrices()),
            );
            return None;
        }
        let (mr, mc) = l.shape(matrix);
        let (b, e) = rows??;
        if b < 0 || e <= b || e > mr {
            self.err(span, format!("rows {b}..{e} are not inside layer '{layer}' (rows 0..{mr})"));
            return None;
        }
        let (cb, ce) = cols?.unwrap_or((0, mc));
        if cb < 0 || ce <= cb || ce > mc {
            self.err(span, format!("columns {cb}..{ce} are not inside layer '{layer}' (columns 0..{mc})"));
            return None;
        }
        Some(ArrayGroup {
            layer: layer.to_string(),
            line: self.line(span),
            replica: replica?,
            matrix,
            row_begin: b,
            rows: e - b,
            col_begin: cb,
            cols: ce - cb,
            xbars: xbars?,
        })
    }

    /// Lowers the statements of a core or loop body that starts after offset `start`, with
    /// their comments. Returns them and the offset after which the next comments are free.
    fn body<'a>(
        &mut self,
        items: &'a [CoreItem<'a>],
        scope: &Scope<'_>,
        vars: &mut Vec<&'a str>,
        top: bool,
        start: usize,
        ags_seen: &mut u32,
    ) -> (Vec<Stmt>, usize) {
        let mut out = Vec::with_capacity(items.len());
        let mut prev_end = start;
        for item in items {
            let (span, end) = match item {
                CoreItem::Ag { span, .. }
                | CoreItem::Buffer { span, .. }
                | CoreItem::Inst { span, .. }
                | CoreItem::Task { span, .. } => (*span, span.0 + 1),
                CoreItem::Repeat { span, end_at, .. } => (*span, *end_at + 1),
                CoreItem::Error => continue,
            };
            let lead = self.comments_in(prev_end, span.0);
            prev_end = end;
            match item {
                CoreItem::Ag { span, .. } | CoreItem::Buffer { span, .. } if !top => {
                    out.extend(lead.into_iter().map(Stmt::Comment));
                    self.err(
                        *span,
                        "array groups and buffers must be declared at the top of the core, not inside 'repeat'",
                    );
                }
                CoreItem::Ag { span, .. } => {
                    let tail = self.trailing_at(span.0);
                    self.anchor(Anchor::Ag { core: scope.core, index: *ags_seen }, lead.into_iter().chain(tail));
                    *ags_seen += 1;
                }
                CoreItem::Buffer { name, span, .. } => {
                    let tail = self.trailing_at(span.0);
                    self.anchor(
                        Anchor::Buffer { core: scope.core, name: name.to_string() },
                        lead.into_iter().chain(tail),
                    );
                }
                CoreItem::Error => {}
                CoreItem::Repeat { var, start, end, body, span, end_at } => {
                    out.extend(lead.into_iter().map(Stmt::Comment));
                    if vars.contains(var) {
                        self.err(*span, format!("loop variable '{var}' shadows an enclosing loop's"));
                    }
                    if end < start {
                        self.err(*span, format!("empty or reversed range {start}..{end}"));
                    }
                    let Some(count) = end.checked_sub(*start) else {
                        self.err(*span, format!("range {start}..{end} has more iterations than 2^63"));
                        continue;
                    };
                    if vars.len() >= MAX_LOOP_DEPTH {
                        self.err(*span, format!("loops nested more than {MAX_LOOP_DEPTH} deep"));
                        continue;
                    }
                    let mut stmts: Vec<Stmt> = self.trailing_at(span.0).into_iter().map(Stmt::Comment).collect();
                    vars.push(var);
                    let (inner, last) = self.body(body, scope, vars, false, span.0 + 1, ags_seen);
                    vars.pop();
                    stmts.extend(inner);
                    stmts.extend(self.comments_in(last, *end_at).into_iter().map(Stmt::Comment));
                    out.push(Stmt::Repeat { start: *start, count: count.max(0), body: stmts });
                    out.extend(self.trailing_at(*end_at + 1).map(Stmt::Comment));
                }
                CoreItem::Inst { mnemonic, operands, span } => {
                    out.extend(lead.into_iter().map(Stmt::Comment));
                    if let Some(i) = self.inst(mnemonic, operands, *span, scope, vars) {
                        out.push(Stmt::Inst(i, self.line(*span)));
                    }
                    out.extend(self.trailing_at(span.0).map(Stmt::Comment));
                }
                CoreItem::Task { name, attrs, span } => {
                    out.extend(lead.into_iter().map(Stmt::Comment));
                    let mut a = self.attrs(attrs, What::Task(name), *span);
                    let replica = self.take_u32(&mut a, "replica", false);
                    let windows = match self.take(&mut a, "windows") {
                        None => None,
                        Some(Attr { value: Some(Value::Range(lo, hi)), .. }) if 0 <= *lo && lo <= hi => {
                            Some((*lo as u64, *hi as u64))
                        }
                        Some(attr) => {
                            self.err(attr.span, "'windows' must be a range like 0..56");
                            None
                        }
                    };
                    let sync = self.take_flag(&mut a, "sync");
                    self.finish(a, &["replica", "windows", "sync"]);
                    out.push(Stmt::Task(Task { op: name.to_string(), replica, windows, sync }));
                    out.extend(self.trailing_at(span.0).map(Stmt::Comment));
                }
            }
        }
        (out, prev_end)
    }

    fn addr(&mut self, e: &Expr<'_>, space: Space, scope: &Scope<'_>, vars: &[&str]) -> Option<Addr> {
        let mut addr = Addr::abs(0);
        let mut base_set = false;
        let mut ok = true;
        for (t, span) in e.terms() {
            // A buffer term sets the base: (base, its memory, its sigil and name).
            let based = match t {
                Term::Int(i) => {
                    if addr.add_offset(*i).is_none() {
                        self.err(*span, "address offset overflows 64 bits");
                        ok = false;
                    }
                    None
                }
                Term::Local(n) => match scope.locals.get(n.as_ref()) {
                    Some(&b) => Some((Base::Local(b), Space::Local, ('@', n))),
                    None => {
                        self.err(*span, format!("unknown buffer '@{n}'"));
                        ok = false;
                        None
                    }
                },
                Term::Global(n) => match scope.globals.get(n.as_ref()) {
                    Some(&g) => Some((Base::Global(g), Space::Global, ('$', n))),
                    None => {
                        self.err(*span, format!("unknown global buffer '${n}'"));
                        ok = false;
                        None
                    }
                },
                Term::NegatedBase(n) => {
                    self.err(*span, format!("a buffer ('{n}') cannot be subtracted"));
                    ok = false;
                    None
                }
                Term::Var(c, v) => {
                    match vars.iter().position(|x| x == v) {
                        Some(level) => {
                            if addr.add_term(level as u8, *c).is_none() {
                                self.err(*span, format!("coefficient of '{v}' overflows 64 bits"));
                                ok = false;
                            }
                        }
                        None => {
                            self.err(*span, format!("unknown loop variable '{v}'"));
                            ok = false;
                        }
                    }
                    None
                }
            };
            if let Some((b, s, (sigil, name))) = based {
                if base_set {
                    self.err(*span, format!("address has two buffers; '{sigil}{name}' is the second"));
                    ok = false;
                } else if s != space {
                    let want = if space == Space::Local { "local (@name)" } else { "global ($name)" };
                    self.err(
                        *span,
                        format!("'{sigil}{name}' is in the wrong memory; this operand needs a {want} address"),
                    );
                    ok = false;
                }
                base_set = true;
                addr.base = b;
            }
        }
        ok.then_some(addr)
    }

    /// An instruction, read as the instruction table describes it: address operands in
    /// their memory spaces, attributes of their kinds (defaults filled in).
    fn inst<'a>(
        &mut self,
        m: &'a str,
        operands: &'a [Operand<'a>],
        span: Span,
        scope: &Scope<'_>,
        vars: &[&str],
    ) -> Option<Inst> {
        let Some(op) = Opcode::from_mnemonic(m) else {
            self.err(span, format!("unknown instruction '{m}'"));
            return None;
        };
        let info = op.info();
        let exprs: SmallVec<[&Expr; 4]> =
            operands.iter().filter_map(|o| if let Operand::Addr(e) = o { Some(e) } else { None }).collect();
        let attrs = operands.iter().filter_map(|o| if let Operand::Attr(a) = o { Some(a) } else { None });
        let mut a = self.attrs(attrs, What::Inst(m), span);
        if exprs.len() != info.operands.len() {
            let names: Vec<&str> = info.operands.iter().map(|o| o.role).collect();
            let names = if names.is_empty() { "none".to_string() } else { names.join(", ") };
            self.err(
                span,
                format!("'{m}' takes {} address operand(s) ({names}), got {}", info.operands.len(), exprs.len()),
            );
            return None;
        }
        let mut addrs: SmallVec<[Addr; 3]> = SmallVec::new();
        let mut ok = true;
        for (e, o) in exprs.iter().zip(info.operands) {
            let space = match o.space {
                inst::Space::Local => Space::Local,
                inst::Space::Global => Space::Global,
            };
            match self.addr(e, space, scope, vars) {
                Some(a) => addrs.push(a),
                None => ok = false,
            }
        }
        let mut values: SmallVec<[AttrValue; 4]> = SmallVec::new();
        for ai in info.attrs {
            let required = ai.default.is_none();
            let v = match ai.kind {
                AttrKind::Flag => Some(AttrValue::Flag(self.take_flag(&mut a, ai.name))),
                AttrKind::F32 => self.take_float(&mut a, ai.name, required).map(AttrValue::Float),
                _ => self.take_int(&mut a, ai.name, required).map(AttrValue::Int),
            };
            match v.or(ai.default) {
                Some(v) => match inst::check_attr(ai, v) {
                    Ok(()) => values.push(v),
                    Err(msg) => {
                        self.err(span, msg);
                        ok = false;
                    }
                },
                None => ok = false,
            }
        }
        let names: Vec<&str> = info.attrs.iter().map(|x| x.name).collect();
        self.finish(a, &names);
        if !ok {
            return None;
        }
        for (ai, v) in info.attrs.iter().zip(&values) {
            if ai.kind == AttrKind::Group && v.int() as usize >= scope.ag_count {
                self.err(
                    span,
                    format!("array group {} is not in this core's table ({} groups)", v.int(), scope.ag_count),
                );
                return None;
            }
        }
        match Inst::from_parts(op, addrs, &values) {
            Ok(i) => Some(i),
            Err(msg) => {
                self.err(span, msg);
                None
            }
        }
    }
}

const BN_KEYS: [&str; 5] = ["bn_gamma", "bn_beta", "bn_mean", "bn_var", "bn_eps"];

/// Allowed keys plus the batch-normalization ones.
fn with_bn<'a>(keys: &[&'a str]) -> Vec<&'a str> {
    keys.iter().copied().chain(BN_KEYS).collect()
}

struct Scope<'a> {
    core: CoreId,
    locals: &'a FxHashMap<&'a str, u32>,
    globals: &'a FxHashMap<&'a str, u32>,
    ag_count: usize,
}

fn list(items: &[&str]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ")
    }
}
