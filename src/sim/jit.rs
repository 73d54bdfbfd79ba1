//! `pim-sim --engine=jit`: the bit-accurate crossbar step ([`crossbar::StepFn`]) compiled by
//! LLVM (inkwell) for one array group's shape and the configured precisions.
//!
//! What the interpreter ([`crossbar`]) takes as run-time values are constants here: the
//! planes and columns (trip counts, so the loops vectorize without remainders), the ADC's
//! clip, each plane's shift and sign, and the narrowest integer that holds a column current
//! (16 bits when `rows * (2^dac - 1) * (2^cell - 1)` fits, which doubles the vector lanes).
//! The result is the same integers, so the same floats, to the bit. Code is generated for
//! the host CPU (its vector extensions). Kernels are compiled once per distinct (columns,
//! planes) and live until the process ends.

use super::crossbar::{adc_max, Precision, StepFn};
use crate::diag::{Error, Result};
use inkwell::builder::Builder;
use inkwell::context::Context;
use inkwell::execution_engine::ExecutionEngine;
use inkwell::module::Module;
use inkwell::passes::PassBuilderOptions;
use inkwell::targets::{CodeModel, InitializationConfig, RelocMode, Target, TargetMachine};
use inkwell::values::{FunctionValue, IntValue, PointerValue};
use inkwell::{AddressSpace, IntPredicate, OptimizationLevel};
use std::collections::HashMap;

/// Compiles kernels for one precision setting.
pub struct Jit {
    precision: Precision,
    kernels: HashMap<(usize, usize), StepFn>,
    /// The LLVM context every kernel lives in (leaked: kernels are called until exit).
    context: &'static Context,
}

impl Jit {
    pub fn new(precision: Precision) -> Result<Jit> {
        Target::initialize_native(&InitializationConfig::default())
            .map_err(|e| Error::new(format!("--engine=jit: cannot initialize LLVM for this machine: {e}")))?;
        Ok(Jit { precision, kernels: HashMap::new(), context: Box::leak(Box::new(Context::create())) })
    }

    /// The kernel for groups of `cols` columns and `planes` planes.
    pub fn kernel(&mut self, cols: usize, planes: usize) -> Result<StepFn> {
        if let Some(&k) = self.kernels.get(&(cols, planes)) {
            return Ok(k);
        }
        let k = compile(self.context, &self.precision, cols, planes)?;
        self.kernels.insert((cols, planes), k);
        Ok(k)
    }
}

fn llvm_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(format!("--engine=jit: {what}: {e}"))
}

fn compile(ctx: &'static Context, p: &Precision, cols: usize, planes: usize) -> Result<StepFn> {
    let name = format!("crossbar_step_{cols}x{planes}");
    let module = ctx.create_module(&name);
    let triple = TargetMachine::get_default_triple();
    let target = Target::from_triple(&triple).map_err(|e| llvm_error("no target for this machine", e))?;
    let cpu = TargetMachine::get_host_cpu_name().to_string();
    let features = TargetMachine::get_host_cpu_features().to_string();
    let machine = target
        .create_target_machine(
            &triple,
            &cpu,
            &features,
            OptimizationLevel::Aggressive,
            RelocMode::Default,
            CodeModel::JITDefault,
        )
        .ok_or_else(|| llvm_error("no target machine", "LLVM gave none"))?;
    module.set_triple(&triple);
    module.set_data_layout(&machine.get_target_data().get_data_layout());
    let f = build(ctx, &module, p, cols, planes, &name).map_err(|e| llvm_error("building the kernel", e))?;
    // Code for this CPU (MCJIT takes the subtarget from the function's attributes).
    f.add_attribute(inkwell::attributes::AttributeLoc::Function, ctx.create_string_attribute("target-cpu", &cpu));
    f.add_attribute(
        inkwell::attributes::AttributeLoc::Function,
        ctx.create_string_attribute("target-features", &features),
    );
    module.verify().map_err(|e| llvm_error("the generated kernel does not verify", e))?;
    module
        .run_passes("default<O3>", &machine, PassBuilderOptions::create())
        .map_err(|e| llvm_error("optimizing the kernel", e))?;
    let engine: ExecutionEngine<'static> = module
        .create_jit_execution_engine(OptimizationLevel::Aggressive)
        .map_err(|e| llvm_error("creating the JIT", e))?;
    // SAFETY: the function was built with exactly the signature of `StepFn`.
    let k = unsafe { engine.get_function::<StepFn>(&name) }.map_err(|e| llvm_error("finding the kernel", e))?;
    // SAFETY: the engine (and so the code) is kept alive for the rest of the process below.
    let raw = unsafe { k.into_raw() };
    std::mem::forget(engine);
    Ok(raw)
}

/// `void step(u8* cells, u32* digits, u32 n, i64* acc, u32 shift, i64 sign, u8* scratch)`:
/// see [`StepFn`]. The currents live in the caller's scratch (a group may have more than a
/// stack holds).
fn build(
    ctx: &'static Context,
    module: &Module<'static>,
    p: &Precision,
    cols: usize,
    planes: usize,
    name: &str,
) -> std::result::Result<FunctionValue<'static>, inkwell::builder::BuilderError> {
    let (i8t, i32t, i64t) = (ctx.i8_type(), ctx.i32_type(), ctx.i64_type());
    let ptr = ctx.ptr_type(AddressSpace::default());
    let fn_type = ctx
        .void_type()
        .fn_type(&[ptr.into(), ptr.into(), i32t.into(), ptr.into(), i32t.into(), i64t.into(), ptr.into()], false);
    let f = module.add_function(name, fn_type, None);
    let param = |k: u32| f.get_nth_param(k).expect("declared above");
    let (cells, digits) = (param(0).into_pointer_value(), param(1).into_pointer_value());
    let n = param(2).into_int_value();
    let acc = param(3).into_pointer_value();
    let shift = param(4).into_int_value();
    let sign = param(5).into_int_value();
    let current = param(6).into_pointer_value();

    // The narrowest current that cannot overflow.
    let max_current = (p.xbar_rows as u64) * ((1u64 << p.dac_bits) - 1) * ((1u64 << p.cell_bits) - 1);
    let cur_t = if max_current <= u64::from(u16::MAX) { ctx.i16_type() } else { i32t };
    let pc = (planes * cols) as u64;

    let b = ctx.create_builder();
    let entry = ctx.append_basic_block(f, "entry");
    let rows = ctx.append_basic_block(f, "rows");
    let row = ctx.append_basic_block(f, "row");
    let add = ctx.append_basic_block(f, "add");
    let next = ctx.append_basic_block(f, "next");
    let read = ctx.append_basic_block(f, "read");

    b.position_at_end(entry);
    let width = cur_t.get_bit_width() / 8;
    let bytes = i64t.const_int(pc * u64::from(width), false);
    b.build_memset(current, width, i8t.const_zero(), bytes)?;
    b.build_unconditional_branch(rows)?;

    // for r in 0..n: if digits[r] != 0: current[i] += digits[r] * cells[r * pc + i]
    b.position_at_end(rows);
    let r = b.build_phi(i32t, "r")?;
    r.add_incoming(&[(&i32t.const_zero(), entry)]);
    let rv = r.as_basic_value().into_int_value();
    let more = b.build_int_compare(IntPredicate::ULT, rv, n, "more")?;
    b.build_conditional_branch(more, row, read)?;

    b.position_at_end(row);
    let d_ptr = gep(&b, i32t.into(), digits, b.build_int_z_extend(rv, i64t, "r64")?)?;
    let d = b.build_load(i32t, d_ptr, "d")?.into_int_value();
    let zero = b.build_int_compare(IntPredicate::EQ, d, i32t.const_zero(), "zero")?;
    b.build_conditional_branch(zero, next, add)?;

    b.position_at_end(add);
    let d_cur = b.build_int_truncate_or_bit_cast(d, cur_t, "dc")?;
    let base = b.build_int_mul(b.build_int_z_extend(rv, i64t, "r64")?, i64t.const_int(pc, false), "base")?;
    let row_ptr = gep(&b, i8t.into(), cells, base)?;
    counted_loop(ctx, &b, f, pc, "cell", |b, i| {
        let c = b.build_load(i8t, gep(b, i8t.into(), row_ptr, i)?, "c")?.into_int_value();
        let c = b.build_int_z_extend(c, cur_t, "cz")?;
        let slot = gep(b, cur_t.into(), current, i)?;
        let old = b.build_load(cur_t, slot, "old")?.into_int_value();
        let new = b.build_int_add(old, b.build_int_mul(c, d_cur, "dc")?, "new")?;
        b.build_store(slot, new)?;
        Ok(())
    })?;
    b.build_unconditional_branch(next)?;

    b.position_at_end(next);
    let r1 = b.build_int_add(rv, i32t.const_int(1, false), "r1")?;
    r.add_incoming(&[(&r1, next)]);
    b.build_unconditional_branch(rows)?;

    // acc[c] += sign_plane * (min(current[plane][c], adc_max) << (shift + slice * cell_bits))
    b.position_at_end(read);
    let clip = i64t.const_int(u64::from(adc_max(p)), false);
    let shift64 = b.build_int_z_extend(shift, i64t, "shift64")?;
    let neg = b.build_int_neg(sign, "neg")?;
    for plane in 0..planes {
        let (slice, array) = (plane / 2, plane % 2);
        let sh = b.build_int_add(shift64, i64t.const_int((slice as u64) * u64::from(p.cell_bits), false), "sh")?;
        let s = if array == 0 { sign } else { neg };
        let offset = (plane * cols) as u64;
        counted_loop(ctx, &b, f, cols as u64, "col", |b, c| {
            let at = b.build_int_add(c, i64t.const_int(offset, false), "at")?;
            let i = b.build_load(cur_t, gep(b, cur_t.into(), current, at)?, "i")?.into_int_value();
            let i = b.build_int_z_extend(i, i64t, "i64")?;
            let over = b.build_int_compare(IntPredicate::UGT, i, clip, "over")?;
            let i = b.build_select(over, clip, i, "clipped")?.into_int_value();
            let v = b.build_int_mul(b.build_left_shift(i, sh, "shifted")?, s, "signed")?;
            let slot = gep(b, i64t.into(), acc, c)?;
            let old = b.build_load(i64t, slot, "acc")?.into_int_value();
            b.build_store(slot, b.build_int_add(old, v, "sum")?)?;
            Ok(())
        })?;
    }
    b.build_return(None)?;
    Ok(f)
}

fn gep(
    b: &Builder<'static>,
    ty: inkwell::types::BasicTypeEnum<'static>,
    ptr: PointerValue<'static>,
    i: IntValue<'static>,
) -> std::result::Result<PointerValue<'static>, inkwell::builder::BuilderError> {
    // SAFETY (of the generated code): every index the kernel forms is below the length of the
    // buffer it indexes, by the kernel's contract.
    unsafe { b.build_in_bounds_gep(ty, ptr, &[i], "p") }
}

/// `for i in 0..count { body(i) }` with a constant trip count (at least 1 iteration is not
/// assumed: a zero count skips the body), continuing in a fresh block.
fn counted_loop(
    ctx: &'static Context,
    b: &Builder<'static>,
    f: FunctionValue<'static>,
    count: u64,
    name: &str,
    body: impl Fn(&Builder<'static>, IntValue<'static>) -> std::result::Result<(), inkwell::builder::BuilderError>,
) -> std::result::Result<(), inkwell::builder::BuilderError> {
    let i64t = ctx.i64_type();
    if count == 0 {
        return Ok(());
    }
    let before = b.get_insert_block().expect("positioned");
    let head = ctx.append_basic_block(f, name);
    let after = ctx.append_basic_block(f, &format!("{name}.end"));
    b.build_unconditional_branch(head)?;
    b.position_at_end(head);
    let i = b.build_phi(i64t, name)?;
    i.add_incoming(&[(&i64t.const_zero(), before)]);
    let iv = i.as_basic_value().into_int_value();
    body(b, iv)?;
    let i1 = b.build_int_add(iv, i64t.const_int(1, false), "next")?;
    let end = b.get_insert_block().expect("positioned");
    i.add_incoming(&[(&i1, end)]);
    let more = b.build_int_compare(IntPredicate::ULT, i1, i64t.const_int(count, false), "more")?;
    b.build_conditional_branch(more, head, after)?;
    b.position_at_end(after);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::crossbar::{mvmul, quantize, step};

    /// The compiled step computes what the interpreter computes, to the bit: narrow and wide
    /// currents, clipping ADCs, several crossbars, negative weights and inputs.
    #[test]
    fn compiled_steps_equal_the_interpreter() {
        let cases = [
            Precision {
                weight_bits: 8,
                input_bits: 8,
                input_override: None,
                cell_bits: 2,
                dac_bits: 1,
                adc_bits: 8,
                xbar_rows: 16,
            },
            Precision {
                weight_bits: 16,
                input_bits: 12,
                input_override: None,
                cell_bits: 4,
                dac_bits: 2,
                adc_bits: 5,
                xbar_rows: 40,
            },
            Precision {
                weight_bits: 12,
                input_bits: 16,
                input_override: None,
                cell_bits: 8,
                dac_bits: 4,
                adc_bits: 20,
                xbar_rows: 64,
            },
        ];
        for p in cases {
            let mut jit = Jit::new(p).unwrap();
            for (rows, cols) in [(37, 5), (100, 16), (1, 1)] {
                let w: Vec<f32> = (0..rows * cols).map(|i| ((i * 7919 % 201) as f32 - 100.0) / 37.0).collect();
                let x: Vec<f32> = (0..rows).map(|i| ((i * 104_729 % 97) as f32 - 40.0) / 9.0).collect();
                let wmax = w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                let q = quantize(&w, rows, cols, step(wmax, p.weight_bits), &p);
                let k = jit.kernel(cols, q.planes()).unwrap();
                let (mut a, mut b) = (vec![0.0; cols], vec![0.0; cols]);
                mvmul(&q, &x, p.input_bits, &p, &mut a, None);
                mvmul(&q, &x, p.input_bits, &p, &mut b, Some(k));
                assert_eq!(
                    a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    b.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    "{p:?} {rows}x{cols}"
                );
                assert!(a.iter().any(|&v| v != 0.0));
            }
        }
    }
}
