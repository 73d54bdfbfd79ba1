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

pub fn print(p: &Program) -> String {
    let mut out = String::with_capacity(64 * p.static_count() as usize + 1024);
    let _ = writeln!(out, "// pimlir ISA program");
    if !p.arch.is_empty() {
        let _ = writeln!(out, "arch {}", quote_str(&p.arch));
    }
    if let Some(w) = &p.weights {
        let _ = writeln!(out, "weights {}", quote_str(w));
    }
    if !p.layers.is_empty() {
        out.push('\n');
    }
    for l in &p.layers {
        let _ = write!(out, "layer {} ", quote_name(&l.name));
        match &l.source {
            MatrixSource::Conv { weight, kernel, in_channels } => {
                let _ = write!(out, "conv weight={} kernel={} channels={in_channels}", quote_str(weight), dims(kernel));
            }
            MatrixSource::Fc { weight, transposed, hwc } => {
                let _ = write!(out, "fc weight={}", quote_str(weight));
                if *transposed {
                    out.push_str(" transposed");
                }
                if let Some(hwc) = hwc {
                    let _ = write!(out, " hwc={}", dims(hwc));
                }
            }
        }
        let _ = write!(out, " rows={} cols={}", l.rows, l.cols);
        if let Some(bn) = &l.scale {
            print_bn(&mut out, bn);
        }
        out.push('\n');
    }
    if !p.globals.is_empty() {
        out.push('\n');
    }
    for g in &p.globals {
        let _ = write!(out, "global ${} size={}", quote_name(&g.name), g.size);
        if let Some(a) = g.addr {
            let _ = write!(out, " addr={a}");
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
    }
    for c in &p.cores {
        print_core(&mut out, p, c);
    }
    out
}

fn print_core(out: &mut String, p: &Program, c: &CoreProgram) {
    let _ = writeln!(out, "\ncore {} {{", c.id);
    for (i, ag) in c.ags.iter().enumerate() {
        let _ = writeln!(
            out,
            "  ag {i} {} replica={} rows={}..{} xbars={}",
            quote_name(&ag.layer),
            ag.replica,
            ag.row_begin,
            ag.row_begin + ag.rows,
            ag.xbars
        );
    }
    for b in &c.buffers {
        let _ = write!(out, "  buffer @{} size={}", quote_name(&b.name), b.size);
        if let Some(a) = b.addr {
            let _ = write!(out, " addr={a}");
        }
        out.push('\n');
    }
    let mut printer = Printer { out, p, c };
    printer.stmts(&c.body, 1);
    let _ = writeln!(printer.out, "}}");
}

struct Printer<'a> {
    out: &'a mut String,
    p: &'a Program,
    c: &'a CoreProgram,
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
            }
        }
    }

    /// `base+terms+offset` (`@buf+8*i+4`); an absolute address starts with its offset.
    fn addr(&mut self, a: &Addr) {
        let mut offset = a.offset;
        match a.base {
            Base::Abs => {
                let _ = write!(self.out, "{}", a.offset);
                offset = 0;
            }
            Base::Local(b) => {
                let name = self.c.buffers.get(b as usize).map(|b| b.name.as_str()).unwrap_or("?");
                let _ = write!(self.out, "@{}", quote_name(name));
            }
            Base::Global(g) => {
                let name = self.p.globals.get(g as usize).map(|g| g.name.as_str()).unwrap_or("?");
                let _ = write!(self.out, "${}", quote_name(name));
            }
        }
        for &(level, coeff) in &a.terms {
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
        if offset != 0 {
            let _ = write!(self.out, "{offset:+}");
        }
    }

    fn inst(&mut self, i: &Inst) {
        self.out.push_str(i.mnemonic());
        match i {
            Inst::Nop => {}
            Inst::Scalar { rd, rs1, rs2, imm, .. } => {
                let _ = write!(self.out, " rd={rd}, rs1={rs1}, rs2={rs2}, imm={imm}");
            }
            Inst::SetBw { ibiw, obiw } => {
                let _ = write!(self.out, " ibiw={ibiw}, obiw={obiw}");
            }
            Inst::Mvmul { rd, rs1, group, relu, mbiw } => {
                self.out.push(' ');
                self.addr(rd);
                self.out.push_str(", ");
                self.addr(rs1);
                let _ = write!(self.out, ", group={group}");
                if *relu {
                    self.out.push_str(", relu");
                }
                if *mbiw != 0 {
                    let _ = write!(self.out, ", mbiw={mbiw}");
                }
            }
            Inst::Vec { rd, rs1, rs2, len, .. } => {
                self.out.push(' ');
                self.addr(rd);
                self.out.push_str(", ");
                self.addr(rs1);
                if let Some(rs2) = rs2 {
                    self.out.push_str(", ");
                    self.addr(rs2);
                }
                let _ = write!(self.out, ", len={len}");
            }
            Inst::Vmv { rd, rs1, len, stride } => {
                self.out.push(' ');
                self.addr(rd);
                self.out.push_str(", ");
                self.addr(rs1);
                let _ = write!(self.out, ", len={len}, stride={stride}");
            }
            Inst::Ld { rd, rs1, size } | Inst::St { rd, rs1, size } | Inst::Lmv { rd, rs1, size } => {
                self.out.push(' ');
                self.addr(rd);
                self.out.push_str(", ");
                self.addr(rs1);
                let _ = write!(self.out, ", size={size}");
            }
            Inst::Lldi { rd, size, value } => {
                self.out.push(' ');
                self.addr(rd);
                let _ = write!(self.out, ", size={size}, value={}", float(*value));
            }
            Inst::Send { rs1: a, core, size } | Inst::Recv { rd: a, core, size } => {
                self.out.push(' ');
                self.addr(a);
                let _ = write!(self.out, ", core={core}, size={size}");
            }
            Inst::Wait { event, value } => {
                let _ = write!(self.out, " event={event}, value={value}");
            }
            Inst::Sync { event, core } => {
                let _ = write!(self.out, " event={event}, core={core}");
            }
        }
    }
}
