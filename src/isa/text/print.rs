//! Printing a [`Program`] as `.pim` text: stable, one instruction per line, diff-friendly.

use super::lexer::{quote_name, quote_str};
use crate::isa::*;
use std::fmt::Write;

/// Name of the loop counter at nesting `level`: i, j, k, l, m, n, then i6, i7, ...
pub fn loop_var(level: usize) -> String {
    const NAMES: [&str; 6] = ["i", "j", "k", "l", "m", "n"];
    NAMES.get(level).map(|s| s.to_string()).unwrap_or_else(|| format!("i{level}"))
}

fn dims(d: &[i64]) -> String {
    d.iter().map(|x| x.to_string()).collect::<Vec<_>>().join("x")
}

/// Prints a float so that it parses back to the same f32 (always with a '.' or exponent).
fn float(v: f32) -> String {
    let s = format!("{v:?}");
    if s.contains('.') || s.contains('e') || s.contains("inf") || s.contains("NaN") {
        s
    } else {
        format!("{s}.0")
    }
}

fn print_bn(out: &mut String, bn: &BnRef) {
    let _ = write!(
        out,
        " bn_gamma={} bn_beta={} bn_mean={} bn_var={} bn_eps={}",
        quote_str(&bn.gamma),
        quote_str(&bn.beta),
        quote_str(&bn.mean),
        quote_str(&bn.var),
        float(bn.eps)
    );
}

/// First line of every printed program (dropped again when parsed, so it never doubles).
pub const HEADER: &str = " pimlir ISA program";

/// Prints a comment: appended to the line just printed when trailing (and that line has no
/// comment yet), else on a line of its own at `depth`.
fn comment(out: &mut String, c: &Comment, depth: usize) {
    let last_line = out.strip_suffix('\n').map(|b| b.rsplit('\n').next().unwrap_or(b));
    if c.trailing && last_line.is_some_and(|l| !l.trim().is_empty() && !ends_in_comment(l)) {
        out.pop();
        out.push_str(" //");
    } else {
        for _ in 0..depth {
            out.push_str("  ");
        }
        out.push_str("//");
    }
    out.push_str(&c.text);
    out.push('\n');
}

/// Whether a printed line ends with a comment (a `//` outside quoted names and strings).
fn ends_in_comment(line: &str) -> bool {
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted => {
                chars.next();
            }
            '"' => quoted = !quoted,
            '/' if !quoted && chars.peek() == Some(&'/') => return true,
            _ => {}
        }
    }
    false
}

/// The comments on their own lines before a declaration.
fn leading(out: &mut String, p: &Program, anchor: &Anchor, depth: usize) {
    for c in p.comments.get(anchor).into_iter().flatten().filter(|c| !c.trailing) {
        comment(out, c, depth);
    }
}

/// The comment ending a declaration's line.
fn trailing(out: &mut String, p: &Program, anchor: &Anchor) {
    for c in p.comments.get(anchor).into_iter().flatten().filter(|c| c.trailing) {
        comment(out, c, 0);
    }
}

pub fn print(p: &Program) -> String {
    let mut out = String::with_capacity(64 * p.static_count() as usize + 1024);
    let _ = writeln!(out, "//{HEADER}");
    for c in p.comments.get(&Anchor::Header).into_iter().flatten() {
        comment(&mut out, &Comment::line(c.text.clone()), 0);
    }
    // Header comments are read as those of the `arch` (or `weights`) line, so one is printed
    // for them to belong to, even when the architecture is unnamed.
    let header_comments = p.comments.get(&Anchor::Header).is_some_and(|c| !c.is_empty());
    if !p.arch.is_empty() || (header_comments && p.weights.is_none()) {
        let _ = writeln!(out, "arch {}", quote_str(&p.arch));
    }
    if let Some(w) = &p.weights {
        let _ = writeln!(out, "weights {}", quote_str(w));
    }
    if !p.layers.is_empty() {
        out.push('\n');
    }
    for l in &p.layers {
        let anchor = Anchor::Layer(l.name.clone());
        leading(&mut out, p, &anchor, 0);
        let _ = write!(out, "layer {} ", quote_name(&l.name));
        let u = &l.unfolding;
        if l.is_conv() {
            let kernel = [i64::from(u.kernel[0]), i64::from(u.kernel[1])];
            let _ =
                write!(out, "conv weight={} kernel={} channels={}", quote_str(&l.weight), dims(&kernel), u.in_channels);
            if u.groups != 1 {
                let _ = write!(out, " groups={}", u.groups);
            }
            if u.pack != 1 {
                let _ = write!(out, " pack={}", u.pack);
            }
            if u.format != Format::IK2_O_1 {
                let _ = write!(out, " format={}", u.format);
            }
        } else {
            let _ = write!(out, "fc weight={}", quote_str(&l.weight));
            if l.layout == (WeightLayout::Fc { transposed: true }) {
                out.push_str(" transposed");
            }
            if let Some(hwc) = l.hwc() {
                let _ = write!(out, " hwc={}", dims(&hwc));
            }
        }
        let _ = write!(out, " rows={} cols={}", l.rows(), l.cols());
        if let Some(bn) = &l.scale {
            print_bn(&mut out, bn);
        }
        out.push('\n');
        trailing(&mut out, p, &anchor);
    }
    if !p.globals.is_empty() {
        out.push('\n');
    }
    for g in &p.globals {
        let anchor = Anchor::Global(g.name.clone());
        leading(&mut out, p, &anchor, 0);
        let _ = write!(out, "global ${} size={}", quote_name(&g.name), g.size);
        if let Some(a) = g.addr {
            let _ = write!(out, " addr={a}");
        }
        if g.slots > 1 {
            let _ = write!(out, " slots={}", g.slots);
        }
        match &g.init {
            GlobalInit::None => {}
            GlobalInit::Input { index, shape } => {
                let _ = write!(out, " input={index} shape={}", dims(shape));
            }
            GlobalInit::Output { index, shape } => {
                let _ = write!(out, " output={index} shape={}", dims(shape));
            }
            GlobalInit::Weight { name } => {
                let _ = write!(out, " weight={}", quote_str(name));
            }
            GlobalInit::Fill { value } => {
                let _ = write!(out, " fill={}", float(*value));
            }
            GlobalInit::Bias { bias, bn } => {
                match bias {
                    Some(b) => {
                        let _ = write!(out, " bias={}", quote_str(b));
                    }
                    None => out.push_str(" bias"),
                }
                print_bn(&mut out, bn);
            }
            GlobalInit::BnScale { bn } => {
                out.push_str(" bn_scale");
                print_bn(&mut out, bn);
            }
            GlobalInit::BnShift { bn } => {
                out.push_str(" bn_shift");
                print_bn(&mut out, bn);
            }
        }
        out.push('\n');
        trailing(&mut out, p, &anchor);
    }
    let globals: Vec<String> = p.globals.iter().map(|g| quote_name(&g.name)).collect();
    for c in &p.cores {
        print_core(&mut out, p, c, &globals);
    }
    if let Some(end) = p.comments.get(&Anchor::End).filter(|e| !e.is_empty()) {
        out.push('\n');
        for c in end {
            comment(&mut out, &Comment::line(c.text.clone()), 0);
        }
    }
    out
}

/// `globals`: the printed (quoted when needed) name of each global buffer.
fn print_core(out: &mut String, p: &Program, c: &CoreProgram, globals: &[String]) {
    out.push('\n');
    let anchor = Anchor::Core(c.id);
    leading(out, p, &anchor, 0);
    let _ = writeln!(out, "core {} {{", c.id);
    trailing(out, p, &anchor);
    for (i, ag) in c.ags.iter().enumerate() {
        let anchor = Anchor::Ag { core: c.id, index: i as u32 };
        leading(out, p, &anchor, 1);
        let _ = write!(out, "  ag {i} {} replica={}", quote_name(&ag.layer), ag.replica);
        if ag.matrix != 0 {
            let _ = write!(out, " matrix={}", ag.matrix);
        }
        let _ = write!(out, " rows={}..{}", ag.row_begin, ag.row_begin + ag.rows);
        // Columns only when the group does not span its matrix's width.
        let width = p.layer(&ag.layer).map(|l| l.shape(ag.matrix).1);
        if ag.col_begin != 0 || Some(ag.cols) != width {
            let _ = write!(out, " cols={}..{}", ag.col_begin, ag.col_begin + ag.cols);
        }
        let _ = writeln!(out, " xbars={}", ag.xbars);
        trailing(out, p, &anchor);
    }
    for b in &c.buffers {
        let anchor = Anchor::Buffer { core: c.id, name: b.name.clone() };
        leading(out, p, &anchor, 1);
        let _ = write!(out, "  buffer @{} size={}", quote_name(&b.name), b.size);
        if let Some(a) = b.addr {
            let _ = write!(out, " addr={a}");
        }
        out.push('\n');
        trailing(out, p, &anchor);
    }
    let buffers: Vec<String> = c.buffers.iter().map(|b| quote_name(&b.name)).collect();
    let mut printer = Printer { out, buffers: &buffers, globals };
    printer.stmts(&c.body, 1);
    let _ = writeln!(printer.out, "}}");
}

struct Printer<'a> {
    out: &'a mut String,
    /// The printed names of the core's buffers and of the global buffers, made once (an
    /// address names one at nearly every instruction).
    buffers: &'a [String],
    globals: &'a [String],
}

impl Printer<'_> {
    fn indent(&mut self, depth: usize) {
        for _ in 0..depth {
            self.out.push_str("  ");
        }
    }

    fn stmts(&mut self, stmts: &[Stmt], depth: usize) {
        for s in stmts {
            match s {
                Stmt::Inst(i, _) => {
                    self.indent(depth);
                    self.inst(i);
                    self.out.push('\n');
                }
                Stmt::Repeat { start, count, body } => {
                    self.indent(depth);
                    let _ = writeln!(self.out, "repeat {} in {start}..{} {{", loop_var(depth - 1), start + count);
                    self.stmts(body, depth + 1);
                    self.indent(depth);
                    self.out.push_str("}\n");
                }
                Stmt::Comment(c) => comment(self.out, c, depth),
                Stmt::Task(t) => {
                    self.indent(depth);
                    let _ = write!(self.out, "task {}", quote_name(&t.op));
                    if let Some(r) = t.replica {
                        let _ = write!(self.out, " replica={r}");
                    }
                    if let Some((a, b)) = t.windows {
                        let _ = write!(self.out, " windows={a}..{b}");
                    }
                    if t.sync {
                        self.out.push_str(" sync");
                    }
                    self.out.push('\n');
                }
            }
        }
    }

    /// `base+terms+offset` (`@buf+8*i+4`); an absolute address starts with its offset.
    fn addr(&mut self, a: &Addr) {
        let mut offset = a.offset;
        match a.base {
            // An absolute address starts with its offset, or with its first loop term when
            // the offset is 0 and the term positive (`56*i+2*j`, not `0+56*i+2*j`).
            Base::Abs if a.offset == 0 && a.terms.first().is_some_and(|t| t.1 > 0) => {
                let (level, coeff) = a.terms[0];
                let _ = write!(self.out, "{coeff}*{}", loop_var(level as usize));
                for &(level, coeff) in &a.terms[1..] {
                    self.term(level, coeff);
                }
                return;
            }
            Base::Abs => {
                let _ = write!(self.out, "{}", a.offset);
                offset = 0;
            }
            Base::Local(b) => {
                self.out.push('@');
                self.out.push_str(self.buffers.get(b as usize).map(|s| s.as_str()).unwrap_or("?"));
            }
            Base::Global(g) => {
                self.out.push('$');
                self.out.push_str(self.globals.get(g as usize).map(|s| s.as_str()).unwrap_or("?"));
            }
        }
        for &(level, coeff) in &a.terms {
            self.term(level, coeff);
        }
        if offset != 0 {
            let _ = write!(self.out, "{offset:+}");
        }
    }

    /// `+4*i`, `-j`, ...: a loop term after the first part of an address.
    fn term(&mut self, level: u8, coeff: i64) {
        let v = loop_var(level as usize);
        match coeff {
            1 => {
                let _ = write!(self.out, "+{v}");
            }
            -1 => {
                let _ = write!(self.out, "-{v}");
            }
            c => {
                let _ = write!(self.out, "{}{}*{v}", if c < 0 { "-" } else { "+" }, c.abs());
            }
        }
    }

    /// `mnemonic addr, addr, key=value, flag`: attributes at their default are left out.
    fn inst(&mut self, i: &Inst) {
        self.out.push_str(i.mnemonic());
        let mut first = true;
        let mut sep = |out: &mut String| {
            out.push_str(if first { " " } else { ", " });
            first = false;
        };
        for a in i.addrs() {
            sep(self.out);
            self.addr(a);
        }
        for (info, v) in i.info().attrs.iter().zip(i.attrs()) {
            if info.default.is_some_and(|d| d.same(v)) {
                continue;
            }
            sep(self.out);
            let name = info.name;
            let _ = match v {
                AttrValue::Flag(_) => write!(self.out, "{name}"),
                AttrValue::Int(x) => write!(self.out, "{name}={x}"),
                AttrValue::Float(f) => write!(self.out, "{name}={}", float(f)),
            };
        }
    }
}
