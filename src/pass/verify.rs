//! `--verify`: pimlir's checks beyond IRDL (shapes, array-group capacity, placements, address
//! ranges). `pim-opt` runs them on its input and after every pass.

use super::{PassContext, PassDef};
use crate::arch::Arch;
use crate::dialect::emit_error;
use crate::dialect::graph_ir::{read_graph, Failed, Level};
use crate::dialect::isa_ir::read_program;
use crate::graph::{shape, Graph, Op, Placement};
use melior::ir::block::BlockLike;
use melior::ir::operation::OperationLike;
use melior::ir::Module;

pub static PASS: PassDef = PassDef {
    name: "verify",
    summary: "Check shapes, partitions, placements and address ranges (any level)",
    options: &[],
    run,
};

fn run(pc: &PassContext, module: &mut Module) -> Result<(), Failed> {
    verify_module(module, pc.arch)
}

/// True when the module holds ISA programs rather than a dataflow graph.
pub fn is_isa_module(module: &Module) -> bool {
    let mut cur = module.body().first_operation();
    while let Some(op) = cur {
        let name = op.name();
        let name = name.as_string_ref().as_str().unwrap_or("");
        if name.starts_with("pim_isa.") || op.attribute("pim.core").is_ok() {
            return true;
        }
        cur = op.next_in_block();
    }
    false
}

/// Runs the checks of the module's level; findings are reported as MLIR diagnostics.
pub fn verify_module(module: &Module, arch: &Arch) -> Result<(), Failed> {
    if is_isa_module(module) {
        let p = read_program(module)?;
        let findings = crate::isa::verify::check(&p, arch);
        if findings.is_empty() {
            return Ok(());
        }
        let module_loc = module.as_operation().location();
        let ctx = module.context();
        // SAFETY: the module's context outlives this call.
        let ctx = unsafe { ctx.to_ref() };
        for f in findings {
            // Findings carry file:line when the program came from text or parsed MLIR.
            let loc = match &f.loc {
                Some(l) if l.line > 0 => {
                    melior::ir::Location::new(ctx, &l.file, l.line as usize, l.col.max(1) as usize)
                }
                _ => module_loc,
            };
            emit_error(loc, &f.message);
        }
        return Err(Failed);
    }
    let (g, level) = read_graph(module)?;
    verify_graph(&g, level, arch)
}

/// Checks one dataflow graph at the given level.
pub fn verify_graph(g: &Graph, level: Level, arch: &Arch) -> Result<(), Failed> {
    let mut failed = false;
    let mut fail = |loc, msg: String| {
        emit_error(loc, &msg);
        failed = true;
    };
    if let Err(e) = g.check_layer_names() {
        fail(g.loc.unwrap_or_else(|| g.nodes[0].loc), e.to_string().trim_start_matches("error: ").to_string());
    }
    let mut used = vec![0i64; arch.core_count() as usize];
    for n in &g.nodes {
        let ins: Vec<&[i64]> = n.inputs.iter().map(|&v| g.shape(v)).collect();
        let declared = g.shape(n.output);
        if let Op::Conv2d(c) = &n.op {
            if c.kernel.iter().chain(&c.strides).chain(&c.dilations).any(|&x| x <= 0) || c.pads.iter().any(|&x| x < 0) {
                fail(
                    n.loc,
                    format!("layer '{}': kernel, strides and dilations must be positive and pads non-negative", c.name),
                );
                continue;
            }
        }
        let out_ch = if n.op.is_crossbar_layer() { declared.get(1).copied() } else { None };
        match shape::infer(&n.op, &ins, out_ch) {
            Ok(s) if s == declared => {}
            Ok(s) => fail(n.loc, format!("result shape {declared:?} does not match the inferred shape {s:?}")),
            Err(m) => fail(n.loc, m),
        }
        let name = n.op.layer_name().unwrap_or(n.op.mnemonic()).to_string();
        if level >= Level::Partition && n.op.is_crossbar_layer() {
            let Some(p) = &n.partition else {
                fail(n.loc, format!("layer '{name}' has no partition"));
                continue;
            };
            if let Op::Conv2d(c) = &n.op {
                if c.group != 1 {
                    fail(
                        n.loc,
                        format!("layer '{name}': grouped convolution (group = {}) cannot be partitioned yet", c.group),
                    );
                    continue;
                }
            }
            let (rows, cols) = super::partition::matrix_shape(g, n);
            let xr = arch.xbar_rows() as i64;
            let xc = arch.xbar_cols() as i64;
            if p.rows != rows || p.cols != cols {
                fail(n.loc, format!("layer '{name}': matrix is {rows}x{cols}, not {}x{}", p.rows, p.cols));
            } else if p.ag_rows < 1 || p.ag_rows > xr {
                fail(
                    n.loc,
                    format!("layer '{name}': ag_rows = {} must be in 1..={xr} (the crossbar height)", p.ag_rows),
                );
            } else if p.ag_count != (rows + p.ag_rows - 1) / p.ag_rows {
                fail(
                    n.loc,
                    format!(
                        "layer '{name}': {rows} rows in groups of {} make {} array groups, not {}",
                        p.ag_rows,
                        (rows + p.ag_rows - 1) / p.ag_rows,
                        p.ag_count
                    ),
                );
            } else if p.xbars_per_ag != (cols + xc - 1) / xc {
                fail(
                    n.loc,
                    format!(
                        "layer '{name}': {cols} columns need {} crossbars of {xc} columns per group, not {}",
                        (cols + xc - 1) / xc,
                        p.xbars_per_ag
                    ),
                );
            } else if p.replicas < 1 {
                fail(n.loc, format!("layer '{name}': replicas = {} must be at least 1", p.replicas));
            }
        }
        if level == Level::Core {
            match (&n.placement, &n.partition) {
                (Some(Placement::ArrayGroups(cores)), Some(p)) => {
                    if cores.len() as i64 != p.total_ags() {
                        fail(
                            n.loc,
                            format!(
                                "layer '{name}': {} array groups but {} cores in ag_cores",
                                p.total_ags(),
                                cores.len()
                            ),
                        );
                        continue;
                    }
                    for &c in cores {
                        if c < 0 || c >= arch.core_count() as i64 {
                            fail(
                                n.loc,
                                format!(
                                    "layer '{name}': core {c} does not exist (the architecture has {})",
                                    arch.core_count()
                                ),
                            );
                        } else {
                            used[c as usize] += p.xbars_per_ag;
                        }
                    }
                }
                (Some(Placement::Cores(cores)), None) => {
                    if cores.is_empty() && !matches!(n.op, Op::Flatten { .. } | Op::Constant { .. }) {
                        fail(n.loc, format!("'{name}' is placed on no core"));
                    }
                    for &c in cores {
                        if c < 0 || c >= arch.core_count() as i64 {
                            fail(
                                n.loc,
                                format!(
                                    "'{name}': core {c} does not exist (the architecture has {})",
                                    arch.core_count()
                                ),
                            );
                        }
                    }
                }
                _ => fail(n.loc, format!("'{name}' has no valid placement")),
            }
        }
    }
    for (c, &x) in used.iter().enumerate() {
        if x > arch.xbars_per_core() as i64 {
            let loc = g.loc.unwrap_or_else(|| g.nodes[0].loc);
            fail(loc, format!("core {c} holds array groups of {x} crossbars but has {}", arch.xbars_per_core()));
        }
    }
    if failed {
        Err(Failed)
    } else {
        Ok(())
    }
}
