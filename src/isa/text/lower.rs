//! From the `.pim` syntax tree to a [`Program`]: names resolved, operands counted, attribute
//! keys checked, address spaces checked. Every problem is reported with its line and column.

use super::ast::{Attr, CoreItem, Expr, Item, Operand, Span, Term, Value};
use crate::diag::{Diagnostic, Error, Loc, Result};
use crate::isa::*;
use std::collections::HashMap;

struct Lower<'l> {
    loc: &'l dyn Fn(usize) -> Loc,
    diags: Vec<Diagnostic>,
}

pub fn lower(items: &[Item], loc: &dyn Fn(usize) -> Loc) -> Result<Program> {
    let mut l = Lower { loc, diags: vec![] };
    let prog = l.program(items);
    if l.diags.is_empty() {
        Ok(prog)
    } else {
        Err(Error::many(l.diags))
    }
}

/// Attribute list of one declaration or instruction, consumed key by key.
struct Attrs<'a> {
    attrs: Vec<&'a Attr>,
    used: Vec<bool>,
    what: String,
    span: Span,
}

/// Which memory an address operand must point into.
#[derive(Clone, Copy, PartialEq)]
enum Space {
    Local,
    Global,
}

impl<'l> Lower<'l> {
    fn line(&self, span: Span) -> Line {
        Line((self.loc)(span.0).line)
    }

    fn err(&mut self, span: Span, msg: impl Into<String>) {
        self.diags.push(Diagnostic::error(msg).at((self.loc)(span.0)));
    }

    fn attrs<'a>(&self, attrs: impl IntoIterator<Item = &'a Attr>, what: impl Into<String>, span: Span) -> Attrs<'a> {
        let attrs: Vec<&Attr> = attrs.into_iter().collect();
        let used = vec![false; attrs.len()];
        Attrs { attrs, used, what: what.into(), span }
    }

    fn take<'a>(&mut self, a: &mut Attrs<'a>, key: &str) -> Option<&'a Attr> {
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
            Some(Attr { value: Some(Value::Str(s)), .. }) => Some(s.clone()),
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
            Some(Attr { value: Some(Value::Float(f)), .. }) => Some(*f as f32),
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

    fn program(&mut self, items: &[Item]) -> Program {
        let mut prog = Program::default();
        let mut seen_arch = None;
        // Globals and layers first: cores refer to them whatever the order in the file.
        for item in items {
            match item {
                Item::Arch(a, span) => {
                    if seen_arch.replace(*span).is_some() {
                        self.err(*span, "'arch' given twice");
                    }
                    prog.arch = a.clone();
                }
                Item::Weights(w, span) => {
                    if prog.weights.replace(w.clone()).is_some() {
                        self.err(*span, "'weights' given twice");
                    }
                }
                Item::Layer { name, kind, attrs, span } => {
                    if prog.layers.iter().any(|l| &l.name == name) {
                        self.err(*span, format!("layer '{name}' is defined twice"));
                    }
                    if let Some(l) = self.layer(name, kind, attrs, *span) {
                        prog.layers.push(l);
                    }
                }
                Item::Global { name, attrs, span } => {
                    if prog.globals.iter().any(|g| &g.name == name) {
                        self.err(*span, format!("global buffer '${name}' is defined twice"));
                    }
                    if let Some(g) = self.global(name, attrs, *span) {
                        prog.globals.push(g);
                    }
                }
                Item::Core { .. } | Item::Error => {}
            }
        }
        let globals: HashMap<&str, u32> =
            prog.globals.iter().enumerate().map(|(i, g)| (g.name.as_str(), i as u32)).collect();
        let mut cores = vec![];
        for item in items {
            if let Item::Core { id, items, span } = item {
                if *id < 0 || *id > u32::MAX as i64 {
                    self.err(*span, format!("core id {id} is out of range"));
                    continue;
                }
                if cores.iter().any(|c: &CoreProgram| c.id == *id as u32) {
                    self.err(*span, format!("core {id} is defined twice"));
                    continue;
                }
                cores.push(self.core(*id as u32, *span, items, &prog, &globals));
            }
        }
        prog.cores = cores;
        prog
    }

    fn layer(&mut self, name: &str, kind: &str, attrs: &[Attr], span: Span) -> Option<Layer> {
        let mut a = self.attrs(attrs, format!("layer '{name}'"), span);
        let rows = self.take_int(&mut a, "rows", true);
        let cols = self.take_int(&mut a, "cols", true);
        let weight = self.take_str(&mut a, "weight", true);
        let scale = self.take_bn(&mut a);
        let source = match kind {
            "conv" => {
                let kernel = self.take_dims(&mut a, "kernel", Some(2), true);
                let channels = self.take_int(&mut a, "channels", true);
                self.finish(a, &with_bn(&["rows", "cols", "weight", "kernel", "channels"]));
                let (kernel, channels, rows) = (kernel?, channels?, rows?);
                if kernel[0] * kernel[1] * channels != rows {
                    self.err(
                        span,
                        format!(
                            "conv layer '{name}' has rows={rows}, but kernel {}x{} with {channels} channels makes {}",
                            kernel[0],
                            kernel[1],
                            kernel[0] * kernel[1] * channels
                        ),
                    );
                }
                MatrixSource::Conv { weight: weight?, kernel: [kernel[0], kernel[1]], in_channels: channels }
            }
            "fc" => {
                let transposed = self.take_flag(&mut a, "transposed");
                let hwc = self.take_dims(&mut a, "hwc", Some(3), false);
                self.finish(a, &with_bn(&["rows", "cols", "weight", "transposed", "hwc"]));
                let hwc = hwc.map(|d| [d[0], d[1], d[2]]);
                if let (Some([c, h, w]), Some(r)) = (hwc, rows) {
                    if c * h * w != r {
                        self.err(
                            span,
                            format!("fc layer '{name}' has rows={r}, but hwc={c}x{h}x{w} makes {}", c * h * w),
                        );
                    }
                }
                MatrixSource::Fc { weight: weight?, transposed, hwc }
            }
            other => {
                self.err(span, format!("unknown layer kind '{other}'; expected 'conv' or 'fc'"));
                return None;
            }
        };
        let (rows, cols) = (rows?, cols?);
        if rows <= 0 || cols <= 0 {
            self.err(span, format!("layer '{name}' must have positive rows and cols"));
        }
        Some(Layer { name: name.to_string(), line: self.line(span), rows, cols, source, scale: scale? })
    }

    fn global(&mut self, name: &str, attrs: &[Attr], span: Span) -> Option<GlobalBuf> {
        let mut a = self.attrs(attrs, format!("global buffer '${name}'"), span);
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
            Some(Attr { value: Some(Value::Str(s)), .. }) => Some(Some(s.clone())),
            Some(attr) => {
                self.err(attr.span, "'bias' must be a quoted tensor name, or a bare flag");
                None
            }
        };
        let bn_scale = self.take_flag(&mut a, "bn_scale");
        let bn_shift = self.take_flag(&mut a, "bn_shift");
        let bn = self.take_bn(&mut a);
        self.finish(
            a,
            &with_bn(&["size", "addr", "input", "output", "shape", "weight", "fill", "bias", "bn_scale", "bn_shift"]),
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
        Some(GlobalBuf {
            name: name.to_string(),
            line: self.line(span),
            size: size as u64,
            addr: addr.map(|a| a as u64),
            init,
        })
    }

    fn core(
        &mut self,
        id: u32,
        span: Span,
        items: &[CoreItem],
        prog: &Program,
        globals: &HashMap<&str, u32>,
    ) -> CoreProgram {
        let mut core = CoreProgram { id, line: self.line(span), ags: vec![], buffers: vec![], body: vec![] };
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
                    if let Some(ag) = self.array_group(layer, attrs, *span, prog) {
                        core.ags.push(ag);
                    }
                }
                CoreItem::Buffer { name, attrs, span } => {
                    if core.buffers.iter().any(|b| &b.name == name) {
                        self.err(*span, format!("buffer '@{name}' is defined twice in core {id}"));
                    }
                    let mut a = self.attrs(attrs, format!("buffer '@{name}'"), *span);
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
                            name: name.clone(),
                            line: self.line(*span),
                            size: size.max(0) as u64,
                            addr: addr.map(|a| a.max(0) as u64),
                        });
                    }
                }
                _ => {}
            }
        }
        let locals: HashMap<String, u32> =
            core.buffers.iter().enumerate().map(|(i, b)| (b.name.clone(), i as u32)).collect();
        let scope = Scope { locals: &locals, globals, ag_count: core.ags.len() };
        let mut vars = Vec::new();
        core.body = self.body(items, &scope, &mut vars, true);
        core
    }

    fn array_group(&mut self, layer: &str, attrs: &[Attr], span: Span, prog: &Program) -> Option<ArrayGroup> {
        let mut a = self.attrs(attrs, "array group".to_string(), span);
        let replica = self.take_u32(&mut a, "replica", true);
        let rows = match self.take(&mut a, "rows") {
            Some(Attr { value: Some(Value::Range(b, e)), .. }) => Some((*b, *e)),
            Some(attr) => {
                self.err(attr.span, "'rows' must be a range like 0..128");
                None
            }
            None => {
                self.err(span, "array group needs 'rows=<begin>..<end>'");
                None
            }
        };
        let xbars = self.take_u32(&mut a, "xbars", true);
        self.finish(a, &["replica", "rows", "xbars"]);
        let Some(l) = prog.layer(layer) else {
            self.err(span, format!("array group refers to unknown layer '{layer}'"));
            return None;
        };
        let (b, e) = rows?;
        if b < 0 || e <= b || e > l.rows {
            self.err(span, format!("rows {b}..{e} are not inside layer '{layer}' (rows 0..{})", l.rows));
            return None;
        }
        Some(ArrayGroup {
            layer: layer.to_string(),
            line: self.line(span),
            replica: replica?,
            row_begin: b,
            rows: e - b,
            xbars: xbars?,
        })
    }

    fn body(&mut self, items: &[CoreItem], scope: &Scope<'_>, vars: &mut Vec<String>, top: bool) -> Vec<Stmt> {
        let mut out = vec![];
        for item in items {
            match item {
                CoreItem::Ag { span, .. } | CoreItem::Buffer { span, .. } if !top => {
                    self.err(
                        *span,
                        "array groups and buffers must be declared at the top of the core, not inside 'repeat'",
                    );
                }
                CoreItem::Ag { .. } | CoreItem::Buffer { .. } | CoreItem::Error => {}
                CoreItem::Repeat { var, start, end, body, span } => {
                    if vars.contains(var) {
                        self.err(*span, format!("loop variable '{var}' shadows an enclosing loop's"));
                    }
                    if end < start {
                        self.err(*span, format!("empty or reversed range {start}..{end}"));
                    }
                    if vars.len() >= u8::MAX as usize {
                        self.err(*span, "loops nested too deeply");
                        continue;
                    }
                    vars.push(var.clone());
                    let body = self.body(body, scope, vars, false);
                    vars.pop();
                    out.push(Stmt::Repeat { start: *start, count: (end - start).max(0), body });
                }
                CoreItem::Inst { mnemonic, operands, span } => {
                    if let Some(i) = self.inst(mnemonic, operands, *span, scope, vars) {
                        out.push(Stmt::Inst(i, self.line(*span)));
                    }
                }
            }
        }
        out
    }

    fn addr(&mut self, e: &Expr, space: Space, scope: &Scope<'_>, vars: &[String]) -> Option<Addr> {
        let mut addr = Addr::abs(0);
        let mut base_set = false;
        let mut ok = true;
        for (t, span) in &e.terms {
            // A buffer term sets the base: (base, its memory, its printed name).
            let based = match t {
                Term::Int(i) => {
                    addr.offset += i;
                    None
                }
                Term::Local(n) => match scope.locals.get(n) {
                    Some(&b) => Some((Base::Local(b), Space::Local, format!("@{n}"))),
                    None => {
                        self.err(*span, format!("unknown buffer '@{n}'"));
                        ok = false;
                        None
                    }
                },
                Term::Global(n) => match scope.globals.get(n.as_str()) {
                    Some(&g) => Some((Base::Global(g), Space::Global, format!("${n}"))),
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
                        Some(level) => addr.add_term(level as u8, *c),
                        None => {
                            self.err(*span, format!("unknown loop variable '{v}'"));
                            ok = false;
                        }
                    }
                    None
                }
            };
            if let Some((b, s, name)) = based {
                if base_set {
                    self.err(*span, format!("address has two buffers; '{name}' is the second"));
                    ok = false;
                } else if s != space {
                    let want = if space == Space::Local { "local (@name)" } else { "global ($name)" };
                    self.err(*span, format!("'{name}' is in the wrong memory; this operand needs a {want} address"));
                    ok = false;
                }
                base_set = true;
                addr.base = b;
            }
        }
        ok.then_some(addr)
    }

    fn inst(&mut self, m: &str, operands: &[Operand], span: Span, scope: &Scope<'_>, vars: &[String]) -> Option<Inst> {
        let exprs: Vec<&Expr> =
            operands.iter().filter_map(|o| if let Operand::Addr(e) = o { Some(e) } else { None }).collect();
        let attrs = operands.iter().filter_map(|o| if let Operand::Attr(a) = o { Some(a) } else { None });
        let mut a = self.attrs(attrs, format!("'{m}'"), span);
        let spaces: &[Space] = match m {
            "mvmul" | "vmv" | "lmv" => &[Space::Local, Space::Local],
            "ld" => &[Space::Local, Space::Global],
            "st" => &[Space::Global, Space::Local],
            "lldi" | "send" | "recv" => &[Space::Local],
            _ => match vec_op(m) {
                Some(op) if op.binary() => &[Space::Local, Space::Local, Space::Local],
                Some(_) => &[Space::Local, Space::Local],
                None => &[],
            },
        };
        let known = matches!(
            m,
            "nop" | "setbw" | "mvmul" | "vmv" | "ld" | "st" | "lldi" | "lmv" | "send" | "recv" | "wait" | "sync"
        ) || vec_op(m).is_some()
            || scalar_op(m).is_some();
        if !known {
            self.err(span, format!("unknown instruction '{m}'"));
            return None;
        }
        if exprs.len() != spaces.len() {
            let names = operand_names(m);
            self.err(span, format!("'{m}' takes {} address operand(s) ({}), got {}", spaces.len(), names, exprs.len()));
            return None;
        }
        let mut addrs = vec![];
        for (e, s) in exprs.iter().zip(spaces) {
            addrs.push(self.addr(e, *s, scope, vars));
        }
        let addrs: Option<Vec<Addr>> = addrs.into_iter().collect();
        let check_group = |this: &mut Self, g: u32| {
            if g as usize >= scope.ag_count {
                this.err(span, format!("array group {g} is not in this core's table ({} groups)", scope.ag_count));
            }
        };
        let inst = match m {
            "nop" => {
                self.finish(a, &[]);
                Inst::Nop
            }
            "setbw" => {
                let ibiw = self.take_u32(&mut a, "ibiw", true);
                let obiw = self.take_u32(&mut a, "obiw", true);
                self.finish(a, &["ibiw", "obiw"]);
                Inst::SetBw { ibiw: ibiw?, obiw: obiw? }
            }
            "mvmul" => {
                let group = self.take_u32(&mut a, "group", true);
                let relu = self.take_flag(&mut a, "relu");
                let mbiw = self.take_u32(&mut a, "mbiw", false).unwrap_or(0);
                self.finish(a, &["group", "relu", "mbiw"]);
                let group = group?;
                check_group(self, group);
                let [rd, rs1]: [Addr; 2] = addrs?.try_into().ok()?;
                Inst::Mvmul { rd, rs1, group, relu, mbiw }
            }
            "vmv" => {
                let len = self.take_u32(&mut a, "len", true);
                let stride = self.take_u32(&mut a, "stride", true);
                self.finish(a, &["len", "stride"]);
                let [rd, rs1]: [Addr; 2] = addrs?.try_into().ok()?;
                Inst::Vmv { rd, rs1, len: len?, stride: stride? }
            }
            "ld" | "st" | "lmv" => {
                let size = self.take_u32(&mut a, "size", true);
                self.finish(a, &["size"]);
                let [rd, rs1]: [Addr; 2] = addrs?.try_into().ok()?;
                let size = size?;
                match m {
                    "ld" => Inst::Ld { rd, rs1, size },
                    "st" => Inst::St { rd, rs1, size },
                    _ => Inst::Lmv { rd, rs1, size },
                }
            }
            "lldi" => {
                let size = self.take_u32(&mut a, "size", true);
                let value = self.take_float(&mut a, "value", true);
                self.finish(a, &["size", "value"]);
                let [rd]: [Addr; 1] = addrs?.try_into().ok()?;
                Inst::Lldi { rd, size: size?, value: value? }
            }
            "send" | "recv" => {
                let core = self.take_u32(&mut a, "core", true);
                let size = self.take_u32(&mut a, "size", true);
                self.finish(a, &["core", "size"]);
                let [x]: [Addr; 1] = addrs?.try_into().ok()?;
                if m == "send" {
                    Inst::Send { rs1: x, core: core?, size: size? }
                } else {
                    Inst::Recv { rd: x, core: core?, size: size? }
                }
            }
            "wait" => {
                let event = self.take_u32(&mut a, "event", true);
                let value = self.take_int(&mut a, "value", true);
                self.finish(a, &["event", "value"]);
                Inst::Wait { event: reg(self, span, event?)?, value: value? }
            }
            "sync" => {
                let event = self.take_u32(&mut a, "event", true);
                let core = self.take_u32(&mut a, "core", true);
                self.finish(a, &["event", "core"]);
                Inst::Sync { event: reg(self, span, event?)?, core: core? }
            }
            _ => {
                if let Some(op) = vec_op(m) {
                    let len = self.take_u32(&mut a, "len", true);
                    self.finish(a, &["len"]);
                    let mut it = addrs?.into_iter();
                    let rd = it.next()?;
                    let rs1 = it.next()?;
                    Inst::Vec { op, rd, rs1, rs2: it.next(), len: len? }
                } else {
                    let op = scalar_op(m)?;
                    let rd = self.take_u32(&mut a, "rd", true);
                    let rs1 = self.take_u32(&mut a, "rs1", false).unwrap_or(0);
                    let rs2 = self.take_u32(&mut a, "rs2", false).unwrap_or(0);
                    let imm = self.take_int(&mut a, "imm", false).unwrap_or(0);
                    self.finish(a, &["rd", "rs1", "rs2", "imm"]);
                    Inst::Scalar {
                        op,
                        rd: reg(self, span, rd?)?,
                        rs1: reg(self, span, rs1)?,
                        rs2: reg(self, span, rs2)?,
                        imm,
                    }
                }
            }
        };
        Some(inst)
    }
}

const BN_KEYS: [&str; 5] = ["bn_gamma", "bn_beta", "bn_mean", "bn_var", "bn_eps"];

/// Allowed keys plus the batch-normalization ones.
fn with_bn<'a>(keys: &[&'a str]) -> Vec<&'a str> {
    keys.iter().copied().chain(BN_KEYS).collect()
}

struct Scope<'a> {
    locals: &'a HashMap<String, u32>,
    globals: &'a HashMap<&'a str, u32>,
    ag_count: usize,
}

fn reg(l: &mut Lower<'_>, span: Span, r: u32) -> Option<u8> {
    if r < 32 {
        Some(r as u8)
    } else {
        l.err(span, format!("register {r} does not exist (registers are 0..31)"));
        None
    }
}

pub(super) fn vec_op(m: &str) -> Option<VecOp> {
    VecOp::ALL.into_iter().find(|o| o.name() == m)
}

pub(super) fn scalar_op(m: &str) -> Option<ScalarOp> {
    ScalarOp::ALL.into_iter().find(|o| o.name() == m)
}

fn operand_names(m: &str) -> &'static str {
    match m {
        "mvmul" => "destination, input vector",
        "vmv" | "lmv" => "destination, source",
        "ld" => "local destination, global source",
        "st" => "global destination, local source",
        "lldi" => "destination",
        "send" => "source",
        "recv" => "destination",
        _ => match vec_op(m) {
            Some(op) if op.binary() => "destination, source 1, source 2",
            Some(_) => "destination, source",
            None => "none",
        },
    }
}

fn list(items: &[&str]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ")
    }
}
