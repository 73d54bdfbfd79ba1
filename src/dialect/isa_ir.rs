//! Reading and writing the `pim_isa` level: [`Program`] <-> MLIR.
//!
//! Each core is a `func.func @coreN` (attribute `pim.core = N`). Its body declares array groups
//! and buffers, then the instructions; a `Repeat` is an `affine.for`, and an address is an
//! `index` value: a buffer base, an `arith.constant`, or an `affine.apply` whose dimensions
//! are loop counters and whose symbol is a buffer base. IR size therefore follows the static
//! program, not the million dynamic instructions it executes.

use super::graph_ir::Failed;
use super::{attrs, emit_error, AttrBuilder};
use crate::isa::*;
use melior::dialect::func;
use melior::ir::attribute::{
    BoolAttribute, DenseI32ArrayAttribute, FloatAttribute, IntegerAttribute, StringAttribute, TypeAttribute,
};
use melior::ir::block::BlockLike;
use melior::ir::operation::{OperationBuilder, OperationLike, OperationRef};
use melior::ir::r#type::{FunctionType, IntegerType};
use melior::ir::{
    AffineExpr, AffineMap, Attribute, AttributeLike, Block, Identifier, Location, Module, Region, RegionLike, Type,
    Value, ValueLike,
};
use melior::Context;
use rustc_hash::FxHashMap;
use smallvec::SmallVec;
use std::collections::HashMap;

fn map_attr<'c>(m: AffineMap<'c>) -> Attribute<'c> {
    // SAFETY: wraps a live affine map of the same context.
    unsafe { Attribute::from_raw(mlir_sys::mlirAffineMapAttrGet(m.to_raw())) }
}

fn raw(v: Value) -> usize {
    v.to_raw().ptr as usize
}

/// Comments of a declaration as attributes: `pim.comments` (the lines before it) and
/// `pim.trailing_comment` (the end of its line).
fn comment_attrs<'c>(mut b: AttrBuilder<'c>, p: &Program, anchor: &Anchor) -> AttrBuilder<'c> {
    let Some(list) = p.comments.get(anchor) else { return b };
    let leading: Vec<&str> = list.iter().filter(|c| !c.trailing).map(|c| c.text.as_str()).collect();
    if !leading.is_empty() {
        b = b.str_array("pim.comments", &leading);
    }
    if let Some(t) = list.iter().find(|c| c.trailing) {
        b = b.str("pim.trailing_comment", &t.text);
    }
    b
}

/// The inverse of [`comment_attrs`].
fn read_comments(a: &super::Attrs) -> Result<Vec<Comment>, String> {
    let mut out: Vec<Comment> = a.str_array("pim.comments")?.into_iter().map(Comment::line).collect();
    if let Some(t) = a.opt_str("pim.trailing_comment")? {
        out.push(Comment { text: t, trailing: true });
    }
    Ok(out)
}

// ----- writing ---------------------------------------------------------------------------------

/// Replaces the module's body with the program.
pub fn write_program<'c>(ctx: &'c Context, module: &Module<'c>, p: &Program) {
    super::clear_module_body(module);
    let unknown = Location::unknown(ctx);
    let file_loc = |line: u32| {
        if line > 0 && !p.source.is_empty() && !p.record_lines {
            Location::new(ctx, &p.source, line as usize, 1)
        } else {
            unknown
        }
    };
    let body = module.body();
    for l in &p.layers {
        let u = &l.unfolding;
        let mut b = AttrBuilder::new(ctx)
            .str("name", &l.name)
            .str("weight", &l.weight)
            .i64("rows", l.rows())
            .i64("cols", l.cols());
        b = if l.is_conv() {
            let mut b = b
                .str("kind", "conv")
                .i64_array("kernel", &[i64::from(u.kernel[0]), i64::from(u.kernel[1])])
                .i64("channels", i64::from(u.in_channels));
            if u.groups != 1 {
                b = b.i64("groups", i64::from(u.groups));
            }
            if u.pack != 1 {
                b = b.i64("pack", i64::from(u.pack));
            }
            if u.format != Format::IK2_O_1 {
                b = b.str("format", u.format.name());
            }
            b
        } else {
            let b = b.str("kind", "fc").bool("transposed", l.layout == (WeightLayout::Fc { transposed: true }));
            match l.hwc() {
                Some(h) => b.i64_array("hwc", &h),
                None => b,
            }
        };
        if let Some(bn) = &l.scale {
            b = bn_attrs(b, bn);
        }
        b = comment_attrs(b, p, &Anchor::Layer(l.name.clone()));
        body.append_operation(
            OperationBuilder::new("pim_isa.layer", file_loc(l.line.0)).add_attributes(&b.list).build().expect("op"),
        );
    }
    for g in &p.globals {
        let mut b = AttrBuilder::new(ctx).str("name", &g.name).i64("size", g.size as i64);
        if let Some(a) = g.addr {
            b = b.i64("addr", a as i64);
        }
        if g.slots > 1 {
            b = b.i64("slots", i64::from(g.slots));
        }
        b = match &g.init {
            GlobalInit::None => b,
            GlobalInit::Input { index, shape } => b.i64("input", *index as i64).i64_array("shape", shape),
            GlobalInit::Output { index, shape } => b.i64("output", *index as i64).i64_array("shape", shape),
            GlobalInit::Weight { name } => b.str("weight", name),
            GlobalInit::Fill { value } => b.f32("fill", *value),
            GlobalInit::Bias { bias, bn } => bn_attrs(b.str("bias", bias.as_deref().unwrap_or("")), bn),
            GlobalInit::BnScale { bn } => bn_attrs(b.bool("bn_scale", true), bn),
            GlobalInit::BnShift { bn } => bn_attrs(b.bool("bn_shift", true), bn),
        };
        b = comment_attrs(b, p, &Anchor::Global(g.name.clone()));
        body.append_operation(
            OperationBuilder::new("pim_isa.global", file_loc(g.line.0)).add_attributes(&b.list).build().expect("op"),
        );
    }
    let mut uniq = Uniqued::new(ctx);
    for c in &p.cores {
        let region = Region::new();
        let block = region.append_block(Block::new(&[]));
        let mut w =
            CoreWriter { bases: HashMap::new(), memo: vec![FxHashMap::default()], file_loc: &file_loc, u: &mut uniq };
        for (i, ag) in c.ags.iter().enumerate() {
            let mut b = AttrBuilder::new(ctx)
                .i64("index", i as i64)
                .str("layer", &ag.layer)
                .i64("replica", ag.replica as i64)
                .i64("row_begin", ag.row_begin)
                .i64("rows", ag.rows)
                .i64("xbars", ag.xbars as i64);
            // Optional (not in the IRDL): the matrix and the columns, when not the defaults.
            if ag.matrix != 0 {
                b = b.i64("matrix", i64::from(ag.matrix));
            }
            if ag.col_begin != 0 || Some(ag.cols) != p.layer(&ag.layer).map(|l| l.shape(ag.matrix).1) {
                b = b.i64("col_begin", ag.col_begin).i64("cols", ag.cols);
            }
            let b = comment_attrs(b, p, &Anchor::Ag { core: c.id, index: i as u32 });
            block.append_operation(
                OperationBuilder::new("pim_isa.ag", file_loc(ag.line.0)).add_attributes(&b.list).build().expect("op"),
            );
        }
        for (i, buf) in c.buffers.iter().enumerate() {
            let mut b = AttrBuilder::new(ctx).str("name", &buf.name).i64("size", buf.size as i64);
            if let Some(a) = buf.addr {
                b = b.i64("addr", a as i64);
            }
            b = comment_attrs(b, p, &Anchor::Buffer { core: c.id, name: buf.name.clone() });
            let op = OperationBuilder::new("pim_isa.buffer", file_loc(buf.line.0))
                .add_attributes(&b.list)
                .add_results(&[Type::index(ctx)])
                .build()
                .expect("op");
            let op = block.append_operation(op);
            w.bases.insert(Base::Local(i as u32), op.result(0).expect("result").to_raw());
        }
        // Global bases this core uses, in global order.
        let mut used = std::collections::BTreeSet::new();
        crate::isa::visit_addrs(&c.body, &mut |a| {
            if let Base::Global(g) = a.base {
                used.insert(g);
            }
        });
        for g in used {
            let name = p.globals.get(g as usize).map(|g| g.name.as_str()).unwrap_or("?");
            let op = OperationBuilder::new("pim_isa.global_addr", unknown)
                .add_attributes(&AttrBuilder::new(ctx).str("name", name).list)
                .add_results(&[Type::index(ctx)])
                .build()
                .expect("op");
            let op = block.append_operation(op);
            w.bases.insert(Base::Global(g), op.result(0).expect("result").to_raw());
        }
        w.stmts(&block, &c.body, &mut vec![]);
        block.append_operation(func::r#return(&[], unknown));
        let f = func::func(
            ctx,
            StringAttribute::new(ctx, &format!("core{}", c.id)),
            TypeAttribute::new(FunctionType::new(ctx, &[], &[]).into()),
            region,
            &comment_attrs(AttrBuilder::new(ctx).i64("pim.core", i64::from(c.id.0)), p, &Anchor::Core(c.id)).list,
            file_loc(c.line.0),
        );
        body.append_operation(f);
    }
    let mut module_op = unsafe { melior::ir::operation::OperationRefMut::from_raw(module.as_operation().to_raw()) };
    use melior::ir::operation::OperationMutLike;
    if !p.arch.is_empty() {
        module_op.set_attribute("pim.arch", StringAttribute::new(ctx, &p.arch).into());
    }
    if let Some(w) = &p.weights {
        module_op.set_attribute("pim.weights", StringAttribute::new(ctx, w).into());
    }
    for (anchor, key) in [(Anchor::Header, "pim.header_comments"), (Anchor::End, "pim.end_comments")] {
        if let Some(list) = p.comments.get(&anchor).filter(|l| !l.is_empty()) {
            let texts: Vec<&str> = list.iter().map(|c| c.text.as_str()).collect();
            for (k, v) in AttrBuilder::new(ctx).str_array(key, &texts).list {
                module_op.set_attribute(k.as_string_ref().as_str().unwrap_or(key), v);
            }
        }
    }
}

/// Batch-normalization recipe attributes (`bn_gamma`, ..., `bn_eps`).
fn bn_attrs<'c>(b: AttrBuilder<'c>, bn: &BnRef) -> AttrBuilder<'c> {
    b.str("bn_gamma", &bn.gamma)
        .str("bn_beta", &bn.beta)
        .str("bn_mean", &bn.mean)
        .str("bn_var", &bn.var)
        .f32("bn_eps", bn.eps)
}

/// A batch-normalization recipe: all five `bn_*` attributes, or none.
fn read_bn(a: &super::Attrs) -> Result<Option<BnRef>, String> {
    let keys = ["bn_gamma", "bn_beta", "bn_mean", "bn_var", "bn_eps"];
    match keys.iter().filter(|k| a.has(k)).count() {
        0 => return Ok(None),
        5 => {}
        _ => return Err(format!("'{}' needs all of {} or none", a.what, keys.join(", "))),
    }
    Ok(Some(BnRef {
        gamma: a.str("bn_gamma")?,
        beta: a.str("bn_beta")?,
        mean: a.str("bn_mean")?,
        var: a.str("bn_var")?,
        eps: a.f32("bn_eps")?,
    }))
}

/// What every instruction op needs, made once per program instead of once per op: MLIR
/// uniques names, types and affine maps behind a hash lookup each, and a large core makes
/// a hundred thousand ops (an address map is shared by ~20 of them on ResNet-18).
struct Uniqued<'c> {
    ctx: &'c Context,
    index: Type<'c>,
    i64: Type<'c>,
    map: Identifier<'c>,
    /// Attribute names of the instruction table.
    names: FxHashMap<&'static str, Identifier<'c>>,
    /// `pim_isa.<mnemonic>` by mnemonic.
    op_names: FxHashMap<&'static str, String>,
    /// `affine.apply` maps by (term coefficients, offset, whether a base symbol is added).
    maps: FxHashMap<(Vec<i64>, i64, bool), Attribute<'c>>,
}

impl<'c> Uniqued<'c> {
    fn new(ctx: &'c Context) -> Self {
        Uniqued {
            ctx,
            index: Type::index(ctx),
            i64: IntegerType::new(ctx, 64).into(),
            map: Identifier::new(ctx, "map"),
            names: FxHashMap::default(),
            op_names: FxHashMap::default(),
            maps: FxHashMap::default(),
        }
    }

    fn name(&mut self, n: &'static str) -> Identifier<'c> {
        let ctx = self.ctx;
        *self.names.entry(n).or_insert_with(|| Identifier::new(ctx, n))
    }

    fn op_name(&mut self, mnemonic: &'static str) -> &str {
        self.op_names.entry(mnemonic).or_insert_with(|| format!("pim_isa.{mnemonic}"))
    }

    /// (d_0 .. d_k)[s0] -> (s0 + sum c_i * d_i + offset), s0 only when `base`.
    fn map(&mut self, a: &Addr, base: bool) -> Attribute<'c> {
        let key = (a.terms.iter().map(|&(_, c)| c).collect::<Vec<i64>>(), a.offset, base);
        let ctx = self.ctx;
        *self.maps.entry(key).or_insert_with(|| {
            let mut expr = AffineExpr::constant(ctx, a.offset);
            for (i, &(_, coeff)) in a.terms.iter().enumerate() {
                expr = expr + AffineExpr::dim(ctx, i) * AffineExpr::constant(ctx, coeff);
            }
            if base {
                expr = expr + AffineExpr::symbol(ctx, 0);
            }
            map_attr(AffineMap::new(ctx, a.terms.len(), usize::from(base), &[expr]))
        })
    }
}

struct CoreWriter<'a, 'c> {
    /// Raw values of buffer and global bases.
    bases: HashMap<Base, mlir_sys::MlirValue>,
    /// Address values already materialized, per enclosing block (outermost first): a value
    /// defined in an outer block is reused inside loops, so each address is computed once.
    memo: Vec<FxHashMap<Addr, mlir_sys::MlirValue>>,
    file_loc: &'a dyn Fn(u32) -> Location<'c>,
    u: &'a mut Uniqued<'c>,
}

impl<'a, 'c> CoreWriter<'a, 'c> {
    fn value(&self, raw: mlir_sys::MlirValue) -> Value<'c, 'a> {
        // SAFETY: `raw` is a live value defined in this core function.
        unsafe { Value::from_raw(raw) }
    }

    /// The index value of an address, materialized before the instruction that uses it.
    fn addr(
        &mut self,
        block: &Block<'c>,
        a: &Addr,
        ivs: &[mlir_sys::MlirValue],
        loc: Location<'c>,
    ) -> mlir_sys::MlirValue {
        if let Some(v) = self.memo.iter().rev().find_map(|m| m.get(a)) {
            return *v;
        }
        let v = self.materialize(block, a, ivs, loc);
        self.memo.last_mut().expect("a scope is open").insert(a.clone(), v);
        v
    }

    fn materialize(
        &mut self,
        block: &Block<'c>,
        a: &Addr,
        ivs: &[mlir_sys::MlirValue],
        loc: Location<'c>,
    ) -> mlir_sys::MlirValue {
        let idx = self.u.index;
        let base = match a.base {
            Base::Abs => None,
            b => Some(self.bases[&b]),
        };
        if a.terms.is_empty() {
            if let Some(b) = base {
                if a.offset == 0 {
                    return b;
                }
            } else {
                let op = OperationBuilder::new("arith.constant", loc)
                    .add_attributes(&[(self.u.name("value"), IntegerAttribute::new(idx, a.offset).into())])
                    .add_results(&[idx])
                    .build()
                    .expect("op");
                return block.append_operation(op).result(0).expect("result").to_raw();
            }
        }
        // affine.apply (d_0 .. d_k)[s0] -> (s0 + sum c_i * d_i + offset)
        let mut operands: SmallVec<[Value; 4]> =
            a.terms.iter().map(|&(level, _)| self.value(ivs[level as usize])).collect();
        operands.extend(base.map(|b| self.value(b)));
        let map = self.u.map(a, base.is_some());
        let op = OperationBuilder::new("affine.apply", loc)
            .add_attributes(&[(self.u.map, map)])
            .add_operands(&operands)
            .add_results(&[idx])
            .build()
            .expect("op");
        block.append_operation(op).result(0).expect("result").to_raw()
    }

    fn stmts(&mut self, block: &Block<'c>, stmts: &[Stmt], ivs: &mut Vec<mlir_sys::MlirValue>) {
        for s in stmts {
            match s {
                Stmt::Inst(i, line) => self.inst(block, i, line.0, ivs),
                Stmt::Task(t) => {
                    let mut b = AttrBuilder::new(self.u.ctx).str("op", &t.op);
                    if let Some(r) = t.replica {
                        b = b.i64("replica", i64::from(r));
                    }
                    if let Some((lo, hi)) = t.windows {
                        b = b.i64_array("windows", &[lo as i64, hi as i64]);
                    }
                    if t.sync {
                        b = b.bool("sync", true);
                    }
                    let op = OperationBuilder::new("pim_isa.task", Location::unknown(self.u.ctx))
                        .add_attributes(&b.list)
                        .build()
                        .expect("op");
                    block.append_operation(op);
                }
                Stmt::Comment(c) => {
                    let b = AttrBuilder::new(self.u.ctx).str("text", &c.text).bool("trailing", c.trailing);
                    let op = OperationBuilder::new("pim_isa.comment", Location::unknown(self.u.ctx))
                        .add_attributes(&b.list)
                        .build()
                        .expect("op");
                    block.append_operation(op);
                }
                Stmt::Repeat { start, count, body } => {
                    let loc = Location::unknown(self.u.ctx);
                    let idx = self.u.index;
                    let inner = Block::new(&[(idx, loc)]);
                    ivs.push(inner.argument(0).expect("iv").to_raw());
                    self.memo.push(FxHashMap::default());
                    self.stmts(&inner, body, ivs);
                    self.memo.pop();
                    ivs.pop();
                    inner.append_operation(OperationBuilder::new("affine.yield", loc).build().expect("op"));
                    let region = Region::new();
                    region.append_block(inner);
                    let op = OperationBuilder::new("affine.for", loc)
                        .add_attributes(&[
                            (self.u.name("lowerBoundMap"), map_attr(AffineMap::constant(self.u.ctx, *start))),
                            (self.u.name("upperBoundMap"), map_attr(AffineMap::constant(self.u.ctx, start + count))),
                            (self.u.name("step"), IntegerAttribute::new(idx, 1).into()),
                            (
                                self.u.name("operandSegmentSizes"),
                                DenseI32ArrayAttribute::new(self.u.ctx, &[0, 0, 0]).into(),
                            ),
                        ])
                        .add_regions([region])
                        .build()
                        .expect("op");
                    block.append_operation(op);
                }
            }
        }
    }

    fn inst(&mut self, block: &Block<'c>, i: &Inst, line: u32, ivs: &[mlir_sys::MlirValue]) {
        let loc = (self.file_loc)(line);
        let operands: SmallVec<[mlir_sys::MlirValue; 3]> =
            i.addrs().into_iter().map(|a| self.addr(block, a, ivs, loc)).collect();
        let operands: SmallVec<[Value; 3]> = operands.into_iter().map(|r| self.value(r)).collect();
        let ctx = self.u.ctx;
        let mut attrs: SmallVec<[(Identifier, Attribute); 4]> = SmallVec::new();
        for (info, v) in i.info().attrs.iter().zip(i.attrs()) {
            let value = match v {
                AttrValue::Flag(f) => BoolAttribute::new(ctx, f).into(),
                AttrValue::Float(f) => FloatAttribute::new(ctx, Type::float32(ctx), f64::from(f)).into(),
                AttrValue::Int(x) => IntegerAttribute::new(self.u.i64, x).into(),
            };
            attrs.push((self.u.name(info.name), value));
        }
        let op = OperationBuilder::new(self.u.op_name(i.mnemonic()), loc)
            .add_operands(&operands)
            .add_attributes(&attrs)
            .build()
            .expect("op");
        block.append_operation(op);
    }
}

// ----- reading ---------------------------------------------------------------------------------

/// What an index value stands for while reading a core.
#[derive(Clone)]
enum Sym {
    Addr(Addr),
    Counter(u8),
}

/// Writes the buffer addresses of `p` into `module`, which holds the same program (as read by
/// [`read_program`]): sets `addr` on every `pim_isa.global` and `pim_isa.buffer` op in place
/// and touches nothing else. What `--alloc-memory` applies; rewriting the whole module would
/// cost as much as scheduling it.
pub fn write_addresses<'c>(ctx: &'c Context, module: &Module<'c>, p: &Program) -> Result<(), String> {
    use melior::ir::operation::{OperationMutLike, OperationRefMut};
    let idx = IntegerType::new(ctx, 64).into();
    let set = |op: &OperationRef, addr: Option<u64>| -> Result<(), String> {
        let Some(a) = addr else { return Ok(()) };
        let a = i64::try_from(a).map_err(|_| format!("address {a} does not fit in i64"))?;
        // SAFETY: `op` is a live op of `module`, which the caller holds mutably through the
        // pass; only its attribute dictionary changes.
        let mut op = unsafe { OperationRefMut::from_raw(op.to_raw()) };
        op.set_attribute("addr", IntegerAttribute::new(idx, a).into());
        Ok(())
    };
    let globals: HashMap<&str, Option<u64>> = p.globals.iter().map(|g| (g.name.as_str(), g.addr)).collect();
    let mut cur = module.body().first_operation();
    while let Some(op) = cur {
        cur = op.next_in_block();
        let name = op.name();
        match name.as_string_ref().as_str().unwrap_or("") {
            "pim_isa.global" => {
                let g = attrs(&op, "pim_isa.global").str("name")?;
                set(
                    &op,
                    *globals.get(g.as_str()).ok_or_else(|| format!("global buffer '{g}' is not in the program"))?,
                )?;
            }
            "func.func" => {
                let id = attrs(&op, "func.func").i64("pim.core")?;
                let core = p
                    .cores
                    .iter()
                    .find(|c| i64::from(c.id.0) == id)
                    .ok_or_else(|| format!("core {id} is not in the program"))?;
                let bufs: HashMap<&str, Option<u64>> = core.buffers.iter().map(|b| (b.name.as_str(), b.addr)).collect();
                let Some(block) = op.region(0).ok().and_then(|r| r.first_block()) else { continue };
                let mut inner = block.first_operation();
                while let Some(b) = inner {
                    inner = b.next_in_block();
                    if b.name().as_string_ref().as_str() == Ok("pim_isa.buffer") {
                        let n = attrs(&b, "pim_isa.buffer").str("name")?;
                        set(
                            &b,
                            *bufs
                                .get(n.as_str())
                                .ok_or_else(|| format!("buffer '{n}' of core {id} is not in the program"))?,
                        )?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The file a module's location names (an imported model's, or a parsed file's): what
/// [`read_program`] gives as the program's `source`.
pub fn module_source(module: &Module) -> Option<String> {
    super::location_to_loc(module.as_operation().location()).map(|l| l.file.to_string())
}

/// Reads a `pim_isa` module into a program.
pub fn read_program(module: &Module) -> Result<Program, Failed> {
    let mut p = Program {
        arch: super::module_str(module, "pim.arch").unwrap_or_default(),
        weights: super::module_str(module, "pim.weights"),
        ..Program::default()
    };
    let failed = std::cell::Cell::new(false);
    let fail = |loc: Location, msg: &str| {
        emit_error(loc, msg);
        failed.set(true);
    };
    let module_op = module.as_operation();
    let module_attrs = attrs(&module_op, "builtin.module");
    for (anchor, key) in [(Anchor::Header, "pim.header_comments"), (Anchor::End, "pim.end_comments")] {
        match module_attrs.str_array(key) {
            Ok(texts) => put_comments(&mut p, anchor, texts.into_iter().map(Comment::line).collect()),
            Err(m) => fail(module_op.location(), &m),
        }
    }
    let mut funcs = vec![];
    let mut cur = module.body().first_operation();
    while let Some(op) = cur {
        cur = op.next_in_block();
        let name = op.name();
        let name = name.as_string_ref().as_str().unwrap_or("").to_string();
        let a = attrs(&op, &name);
        // The file the program's positions refer to: the module's, else its first op's.
        if p.source.is_empty() {
            if let Some(l) = super::location_to_loc(op.location()).filter(|l| l.line > 0) {
                p.source = l.file.to_string();
            }
        }
        match name.as_str() {
            "pim_isa.layer" => match read_layer(&a).and_then(|l| Ok((read_comments(&a)?, l))) {
                Ok((c, l)) => {
                    put_comments(&mut p, Anchor::Layer(l.name.clone()), c);
                    p.layers.push(l)
                }
                Err(m) => fail(op.location(), &m),
            },
            "pim_isa.global" => match read_global(&a).and_then(|g| Ok((read_comments(&a)?, g))) {
                Ok((c, g)) => {
                    put_comments(&mut p, Anchor::Global(g.name.clone()), c);
                    p.globals.push(g)
                }
                Err(m) => fail(op.location(), &m),
            },
            "func.func" => funcs.push(op),
            other => fail(op.location(), &format!("unexpected top-level op '{other}' in a pim_isa module")),
        }
    }
    if let Some(s) = module_source(module) {
        p.source = s;
    }
    let mut globals = HashMap::new();
    for (i, g) in p.globals.iter().enumerate() {
        if globals.insert(g.name.clone(), i as u32).is_some() {
            emit_error(module.as_operation().location(), &format!("global buffer '{}' is defined twice", g.name));
            return Err(Failed);
        }
    }
    let mut core_ids = std::collections::HashSet::new();
    for f in funcs {
        match read_core(&f, &p, &globals) {
            Ok((c, comments)) => {
                if !core_ids.insert(c.id) {
                    fail(f.location(), &format!("core {} is defined twice", c.id));
                } else {
                    p.cores.push(c);
                    for (anchor, list) in comments {
                        put_comments(&mut p, anchor, list);
                    }
                }
            }
            Err(()) => failed.set(true),
        }
    }
    if failed.get() {
        Err(Failed)
    } else {
        Ok(p)
    }
}

fn read_layer(a: &super::Attrs) -> Result<Layer, String> {
    let (name, weight) = (a.str("name")?, a.str("weight")?);
    let shape = (a.i64("rows")?, a.i64("cols")?);
    let mut l = match a.str("kind")?.as_str() {
        "conv" => {
            let format = match a.opt_str("format")? {
                None => Format::IK2_O_1,
                Some(f) => Format::from_name(&f)
                    .ok_or_else(|| format!("unknown unfolding format '{f}'; expected one of {}", Format::names()))?,
            };
            let groups = a.opt_i64("groups")?.unwrap_or(1);
            let pack = a.opt_i64("pack")?.unwrap_or(1);
            Layer::conv(&name, &weight, a.i64_array_n("kernel")?, a.i64("channels")?, shape, groups, pack, format)?
        }
        "fc" => {
            let hwc = if a.has("hwc") { Some(a.i64_array_n("hwc")?) } else { None };
            Layer::fc(&name, &weight, a.bool("transposed")?, hwc, shape)?
        }
        k => return Err(format!("unknown layer kind '{k}' (expected 'conv' or 'fc')")),
    };
    l.line = Line(line_of(a.op.location()));
    l.scale = read_bn(a)?;
    Ok(l)
}

fn read_global(a: &super::Attrs) -> Result<GlobalBuf, String> {
    let size = a.i64("size")?;
    if size <= 0 {
        return Err(format!("global buffer size must be positive, got {size}"));
    }
    let addr = a.opt_i64("addr")?;
    if addr.is_some_and(|x| x < 0) {
        return Err("global buffer address must not be negative".into());
    }
    if ["input", "output", "weight", "fill", "bias", "bn_scale", "bn_shift"].iter().filter(|k| a.has(k)).count() > 1 {
        return Err("a global buffer can have only one of input, output, weight, fill, bias, bn_scale, bn_shift".into());
    }
    let bn = read_bn(a)?;
    let need_bn = |what: &str| {
        bn.clone().ok_or_else(|| format!("a '{what}' global buffer needs bn_gamma, bn_beta, bn_mean, bn_var, bn_eps"))
    };
    let init = if a.has("input") {
        GlobalInit::Input { index: a.i64("input")? as u32, shape: a.i64_array("shape")? }
    } else if a.has("output") {
        GlobalInit::Output { index: a.i64("output")? as u32, shape: a.i64_array("shape")? }
    } else if a.has("weight") {
        GlobalInit::Weight { name: a.str("weight")? }
    } else if a.has("bias") {
        let bias = a.str("bias")?;
        GlobalInit::Bias { bias: (!bias.is_empty()).then_some(bias), bn: need_bn("bias")? }
    } else if a.has("bn_scale") {
        GlobalInit::BnScale { bn: need_bn("bn_scale")? }
    } else if a.has("bn_shift") {
        GlobalInit::BnShift { bn: need_bn("bn_shift")? }
    } else if a.has("fill") {
        GlobalInit::Fill { value: a.f32("fill")? }
    } else {
        GlobalInit::None
    };
    let slots = match a.opt_i64("slots")? {
        None => 1,
        Some(s) => u32::try_from(s).map_err(|_| format!("'slots' must be in 1..64, got {s}"))?,
    };
    crate::isa::check_slots(slots, &init)?;
    Ok(GlobalBuf {
        name: a.str("name")?,
        line: Line(line_of(a.op.location())),
        size: size as u64,
        addr: addr.map(|x| x as u64),
        init,
        slots,
    })
}

fn put_comments(p: &mut Program, anchor: Anchor, list: Vec<Comment>) {
    if !list.is_empty() {
        p.comments.entry(anchor).or_default().extend(list);
    }
}

fn line_of(loc: Location) -> u32 {
    super::location_to_loc(loc).map(|l| l.line).unwrap_or(0)
}

/// A core and the comments of its declarations.
type CoreAndComments = (CoreProgram, Vec<(Anchor, Vec<Comment>)>);

fn read_core(f: &OperationRef, p: &Program, globals: &HashMap<String, u32>) -> Result<CoreAndComments, ()> {
    let a = attrs(f, "func.func");
    let id = match a.i64("pim.core") {
        Ok(id) if id >= 0 && id <= u32::MAX as i64 => crate::arch::CoreId(id as u32),
        Ok(id) => {
            emit_error(f.location(), &format!("core id {id} is out of range"));
            return Err(());
        }
        Err(_) => {
            emit_error(f.location(), "a function in a pim_isa module must be a core (attribute 'pim.core = N')");
            return Err(());
        }
    };
    let mut core = CoreProgram { id, line: Line(line_of(f.location())), ags: vec![], buffers: vec![], body: vec![] };
    let Some(block) = f.region(0).ok().and_then(|r| r.first_block()) else {
        emit_error(f.location(), "core function has no body");
        return Err(());
    };
    // A core program takes and returns nothing: its data is in memory.
    let typed = f
        .attribute("function_type")
        .ok()
        .and_then(|t| FunctionType::try_from(TypeAttribute::try_from(t).ok()?.value()).ok());
    if typed.is_some_and(|t| t.input_count() != 0 || t.result_count() != 0) || block.argument_count() != 0 {
        emit_error(f.location(), &format!("core {id}: a core function takes no arguments and returns nothing"));
        return Err(());
    }
    let mut r = CoreReader { p, globals, syms: HashMap::new(), failed: false, comments: vec![] };
    match read_comments(&a) {
        Ok(c) => r.comments.push((Anchor::Core(id), c)),
        Err(m) => r.fail(f.location(), &m),
    }
    core.body = r.block(&block, &mut core, 0, true);
    if r.failed {
        Err(())
    } else {
        Ok((core, r.comments))
    }
}

struct CoreReader<'p> {
    p: &'p Program,
    /// Global buffers by name (index in `p.globals`).
    globals: &'p HashMap<String, u32>,
    syms: HashMap<usize, Sym>,
    failed: bool,
    comments: Vec<(Anchor, Vec<Comment>)>,
}

impl CoreReader<'_> {
    fn fail(&mut self, loc: Location, msg: &str) {
        emit_error(loc, msg);
        self.failed = true;
    }

    fn block(&mut self, block: &melior::ir::BlockRef, core: &mut CoreProgram, depth: u8, top: bool) -> Vec<Stmt> {
        let mut out = vec![];
        let mut cur = block.first_operation();
        while let Some(op) = cur {
            cur = op.next_in_block();
            let name = op.name();
            let name = name.as_string_ref().as_str().unwrap_or("").to_string();
            let loc = op.location();
            let a = attrs(&op, &name);
            match name.as_str() {
                "func.return" | "affine.yield" => {}
                "pim_isa.task" => match read_task(&a) {
                    Ok(t) => out.push(Stmt::Task(t)),
                    Err(m) => self.fail(loc, &m),
                },
                "pim_isa.comment" => match (a.str("text"), a.bool("trailing")) {
                    (Ok(text), Ok(trailing)) => out.push(Stmt::Comment(Comment { text, trailing })),
                    (Err(m), _) | (_, Err(m)) => self.fail(loc, &m),
                },
                "pim_isa.ag" if top => {
                    let r = (|| -> Result<ArrayGroup, String> {
                        let index = a.i64("index")?;
                        if index != core.ags.len() as i64 {
                            return Err(format!("array group {index} is out of order; expected {}", core.ags.len()));
                        }
                        let layer = a.str("layer")?;
                        let matrix = u32::try_from(a.opt_i64("matrix")?.unwrap_or(0))
                            .map_err(|_| "'matrix' is out of range".to_string())?;
                        let width = self.p.layer(&layer).map_or(0, |l| l.shape(matrix).1);
                        let small = |k: &str| -> Result<u32, String> {
                            u32::try_from(a.i64(k)?).map_err(|_| format!("'{k}' is out of range"))
                        };
                        Ok(ArrayGroup {
                            line: Line(line_of(loc)),
                            replica: small("replica")?,
                            matrix,
                            row_begin: a.i64("row_begin")?,
                            rows: a.i64("rows")?,
                            col_begin: a.opt_i64("col_begin")?.unwrap_or(0),
                            cols: a.opt_i64("cols")?.unwrap_or(width),
                            xbars: small("xbars")?,
                            layer,
                        })
                    })();
                    match r.and_then(|ag| Ok((read_comments(&a)?, ag))) {
                        Ok((c, ag)) => {
                            self.comments.push((Anchor::Ag { core: core.id, index: core.ags.len() as u32 }, c));
                            core.ags.push(ag)
                        }
                        Err(m) => self.fail(loc, &m),
                    }
                }
                "pim_isa.buffer" if top => {
                    let r = (|| -> Result<LocalBuf, String> {
                        let size = a.i64("size")?;
                        let addr = a.opt_i64("addr")?;
                        if size <= 0 || addr.is_some_and(|x| x < 0) {
                            return Err("buffer needs a positive size and a non-negative address".into());
                        }
                        Ok(LocalBuf {
                            name: a.str("name")?,
                            line: Line(line_of(loc)),
                            size: size as u64,
                            addr: addr.map(|x| x as u64),
                        })
                    })();
                    match r.and_then(|b| Ok((read_comments(&a)?, b))) {
                        Ok((c, b)) => {
                            self.comments.push((Anchor::Buffer { core: core.id, name: b.name.clone() }, c));
                            let i = core.buffers.len() as u32;
                            core.buffers.push(b);
                            if let Ok(res) = op.result(0) {
                                self.syms.insert(raw(res.into()), Sym::Addr(Addr::local(i, 0)));
                            }
                        }
                        Err(m) => self.fail(loc, &m),
                    }
                }
                "pim_isa.global_addr" => match a.str("name") {
                    Ok(n) => match self.globals.get(&n).copied() {
                        Some(g) => {
                            if let Ok(res) = op.result(0) {
                                self.syms.insert(raw(res.into()), Sym::Addr(Addr::global(g, 0)));
                            }
                        }
                        None => self.fail(loc, &format!("unknown global buffer '{n}'")),
                    },
                    Err(m) => self.fail(loc, &m),
                },
                "arith.constant" => match op.attribute("value").ok().and_then(|v| IntegerAttribute::try_from(v).ok()) {
                    Some(v) => {
                        if let Ok(res) = op.result(0) {
                            self.syms.insert(raw(res.into()), Sym::Addr(Addr::abs(v.value())));
                        }
                    }
                    None => self.fail(loc, "only integer (index) constants can be addresses"),
                },
                "affine.apply" => {
                    let addr = self.apply(&op).unwrap_or_else(|m| {
                        self.fail(loc, &m);
                        // Stand-in so uses of the result do not report errors of their own.
                        Addr::abs(0)
                    });
                    if let Ok(res) = op.result(0) {
                        self.syms.insert(raw(res.into()), Sym::Addr(addr));
                    }
                }
                "affine.for" if depth as usize >= crate::isa::MAX_LOOP_DEPTH => {
                    self.fail(loc, &format!("loops nested more than {} deep", crate::isa::MAX_LOOP_DEPTH))
                }
                "affine.for" => match self.for_bounds(&op) {
                    Ok((start, count)) => {
                        let Some(inner) = op.region(0).ok().and_then(|r| r.first_block()) else {
                            self.fail(loc, "affine.for has no body");
                            continue;
                        };
                        if let Ok(iv) = inner.argument(0) {
                            self.syms.insert(raw(iv.into()), Sym::Counter(depth));
                        }
                        let body = self.block(&inner, core, depth + 1, false);
                        out.push(Stmt::Repeat { start, count, body });
                    }
                    Err(m) => self.fail(loc, &m),
                },
                n if n.starts_with("pim_isa.") => match self.inst(&op, &n["pim_isa.".len()..], core) {
                    Ok(Some(i)) => out.push(Stmt::Inst(i, Line(line_of(loc)))),
                    Ok(None) => {
                        self.fail(loc, &format!("'{n}' must be at the top of the core function, not inside a loop"))
                    }
                    Err(m) => self.fail(loc, &m),
                },
                other => self.fail(loc, &format!("unexpected op '{other}' in a core program")),
            }
        }
        out
    }

    fn for_bounds(&self, op: &OperationRef) -> Result<(i64, i64), String> {
        let bound = |name: &str| -> Result<i64, String> {
            let a = op.attribute(name).map_err(|_| format!("affine.for needs '{name}'"))?;
            // SAFETY: checked to be an affine map attribute first.
            if unsafe { !mlir_sys::mlirAttributeIsAAffineMap(a.to_raw()) } {
                return Err(format!("'{name}' must be an affine map"));
            }
            let m = unsafe { AffineMap::from_raw(mlir_sys::mlirAffineMapAttrGetValue(a.to_raw())) };
            if m.is_single_constant() {
                Ok(m.single_constant_result())
            } else {
                Err("loop bounds must be constants (a program's repeat counts are static)".into())
            }
        };
        if op.operand_count() != 0 {
            return Err("loop bounds must be constants (a program's repeat counts are static)".into());
        }
        let step = attrs(op, "affine.for").i64("step").unwrap_or(1);
        if step != 1 {
            return Err(format!("loop step must be 1, got {step}"));
        }
        let (lo, hi) = (bound("lowerBoundMap")?, bound("upperBoundMap")?);
        let count = hi.checked_sub(lo).ok_or_else(|| format!("loop range {lo}..{hi} has more iterations than 2^63"))?;
        Ok((lo, count.max(0)))
    }

    /// An `affine.apply` as an address: dims must be loop counters, the symbol a buffer base.
    fn apply(&self, op: &OperationRef) -> Result<Addr, String> {
        let a = op.attribute("map").map_err(|_| "affine.apply needs a map")?;
        // SAFETY: attribute kind checked before conversion.
        if unsafe { !mlir_sys::mlirAttributeIsAAffineMap(a.to_raw()) } {
            return Err("affine.apply map is not an affine map".into());
        }
        let m = unsafe { AffineMap::from_raw(mlir_sys::mlirAffineMapAttrGetValue(a.to_raw())) };
        if m.result_count() != 1 {
            return Err("an address affine.apply must have one result".into());
        }
        let (nd, ns) = (m.dim_count(), m.symbol_count());
        let (coeffs, constant) = linearize(m.result(0).map_err(|e| e.to_string())?, nd, ns)
            .ok_or("address must be a linear function of loop counters (no mod/div/products)")?;
        let mut addr = Addr::abs(constant);
        for (i, &c) in coeffs.iter().enumerate() {
            let v = op.operand(i).map_err(|e| e.to_string())?;
            match self.syms.get(&raw(v)) {
                Some(Sym::Counter(level)) => addr.add_term(*level, c).ok_or(OVERFLOW)?,
                Some(Sym::Addr(x)) => {
                    if c == 0 {
                        continue;
                    }
                    if x.base != Base::Abs {
                        if c != 1 || addr.base != Base::Abs {
                            return Err("an address can add one buffer base, once".into());
                        }
                        addr.base = x.base;
                    }
                    addr.add_offset(c.checked_mul(x.offset).ok_or(OVERFLOW)?).ok_or(OVERFLOW)?;
                    for &(l, k) in &x.terms {
                        addr.add_term(l, c.checked_mul(k).ok_or(OVERFLOW)?).ok_or(OVERFLOW)?;
                    }
                }
                None => return Err("address operands must be loop counters, buffers or constants".into()),
            }
        }
        Ok(addr)
    }

    fn addr(&self, op: &OperationRef, i: usize) -> Result<Addr, String> {
        let v = op.operand(i).map_err(|_| "missing address operand".to_string())?;
        match self.syms.get(&raw(v)) {
            Some(Sym::Addr(a)) => Ok(a.clone()),
            Some(Sym::Counter(l)) => {
                let mut a = Addr::abs(0);
                a.add_term(*l, 1).ok_or(OVERFLOW)?;
                Ok(a)
            }
            None => Err("address operand must come from a buffer, constant or affine.apply".into()),
        }
    }

    /// An instruction op, read as the instruction table describes it. Returns Ok(None) for
    /// declarations in the wrong place.
    fn inst(&self, op: &OperationRef, m: &str, core: &CoreProgram) -> Result<Option<Inst>, String> {
        if matches!(m, "ag" | "buffer") {
            return Ok(None);
        }
        let name = format!("pim_isa.{m}");
        let opcode = Opcode::from_mnemonic(m).ok_or_else(|| format!("'{name}' is not an instruction"))?;
        let info = opcode.info();
        let a = attrs(op, &name);
        if op.operand_count() != info.operands.len() {
            return Err(format!(
                "'{name}' takes {} address operand(s), got {}",
                info.operands.len(),
                op.operand_count()
            ));
        }
        let mut addrs = smallvec::SmallVec::new();
        for (k, o) in info.operands.iter().enumerate() {
            let a = self.addr(op, k)?;
            // The memory an operand is in follows from its buffer, as in the .pim reader;
            // an absolute address is taken in the operand's memory.
            let wrong = match a.base {
                Base::Local(_) => o.space != Space::Local,
                Base::Global(_) => o.space != Space::Global,
                Base::Abs => false,
            };
            if wrong {
                let (want, got) = match o.space {
                    Space::Local => ("a local buffer (pim_isa.buffer)", "global"),
                    Space::Global => ("a global buffer (pim_isa.global_addr)", "local"),
                };
                return Err(format!("the {} of '{name}' must be in {want}, not in a {got} one", o.role));
            }
            addrs.push(a);
        }
        let mut values: smallvec::SmallVec<[AttrValue; 4]> = smallvec::SmallVec::new();
        for ai in info.attrs {
            let v = match ai.kind {
                AttrKind::Flag => AttrValue::Flag(a.bool(ai.name)?),
                AttrKind::F32 => AttrValue::Float(a.f32(ai.name)?),
                _ => AttrValue::Int(a.i64(ai.name)?),
            };
            crate::isa::inst::check_attr(ai, v)?;
            if ai.kind == AttrKind::Group && v.int() as usize >= core.ags.len() {
                return Err(format!("array group {} is not in this core's table ({} groups)", v.int(), core.ags.len()));
            }
            values.push(v);
        }
        Inst::from_parts(opcode, addrs, &values).map(Some)
    }
}

/// A task marker from its attributes (`op`; `replica`, `windows`, `sync` when given).
fn read_task(a: &super::Attrs) -> Result<Task, String> {
    let replica = match a.opt_i64("replica")? {
        Some(r) => Some(u32::try_from(r).map_err(|_| format!("task replica {r} is out of range"))?),
        None => None,
    };
    let windows = if a.has("windows") {
        match a.i64_array("windows")?.as_slice() {
            &[lo, hi] if 0 <= lo && lo <= hi => Some((lo as u64, hi as u64)),
            w => return Err(format!("task windows {w:?} must be [first, end] with 0 <= first <= end")),
        }
    } else {
        None
    };
    let sync = if a.has("sync") { a.bool("sync")? } else { false };
    Ok(Task { op: a.str("op")?, replica, windows, sync })
}

/// An address term or offset that does not fit in 64 bits.
const OVERFLOW: &str = "address coefficient or offset overflows 64 bits";

/// Linear form of an affine expression: coefficients of dims then symbols, and a constant.
/// `None` for a non-linear expression, one nested deeper than any address needs, or one whose
/// coefficients overflow.
fn linearize(e: AffineExpr, nd: usize, ns: usize) -> Option<(Vec<i64>, i64)> {
    fn go(e: AffineExpr, s: i64, depth: u32, nd: usize, c: &mut [i64], k: &mut i64) -> Option<()> {
        if depth > 256 {
            return None;
        }
        if e.is_constant() {
            *k = k.checked_add(s.checked_mul(e.constant_value())?)?;
        } else if e.is_dim() {
            let x = c.get_mut(e.dim_position())?;
            *x = x.checked_add(s)?;
        } else if e.is_symbol() {
            let x = c.get_mut(nd + e.symbol_position())?;
            *x = x.checked_add(s)?;
        } else if e.is_add() {
            go(e.lhs(), s, depth + 1, nd, c, k)?;
            go(e.rhs(), s, depth + 1, nd, c, k)?;
        } else if e.is_mul() {
            let (l, r) = (e.lhs(), e.rhs());
            if r.is_constant() {
                go(l, s.checked_mul(r.constant_value())?, depth + 1, nd, c, k)?;
            } else if l.is_constant() {
                go(r, s.checked_mul(l.constant_value())?, depth + 1, nd, c, k)?;
            } else {
                return None;
            }
        } else {
            return None;
        }
        Some(())
    }
    let (mut c, mut k) = (vec![0; nd + ns], 0);
    go(e, 1, 0, nd, &mut c, &mut k)?;
    Some((c, k))
}
