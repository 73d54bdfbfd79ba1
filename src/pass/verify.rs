//! `--verify`: pimlir's checks beyond IRDL (shapes, array-group capacity, placements, address
//! ranges). `pim-opt` runs them on its input and after every pass.

use super::{PassContext, PassDef};
use crate::arch::Arch;
use crate::dialect::emit_error;
use crate::dialect::graph_ir::{read_graph, Failed, GraphModule, Level};
use crate::dialect::isa_ir::read_program;
use melior::ir::block::BlockLike;
use melior::ir::operation::OperationLike;
use melior::ir::Module;

pub static PASS: PassDef = PassDef {
    name: "verify",
    summary: "Check shapes, partitions, placements and address ranges (any level)",
    options: &[],
    run,
    checks_output: false,
};

fn run(pc: &PassContext, module: &mut Module) -> Result<(), Failed> {
    verify_module(module, pc.arch, pc.arch_spec)
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
pub fn verify_module(module: &Module, arch: &Arch, arch_spec: &str) -> Result<(), Failed> {
    // An empty module (an empty file or chunk) is valid IR at no level in particular.
    if module.body().first_operation().is_none() {
        return Ok(());
    }
    // IR for another architecture would fail the checks below for no reason of its own.
    super::check_arch(module, arch, arch_spec)?;
    if is_isa_module(module) {
        let p = read_program(module)?;
        return report_program(module, &p, arch);
    }
    let gm = read_graph(module, arch)?;
    verify_graph(&gm, arch)
}

/// Checks an ISA program (read from `module`, or about to be written to it) against `arch`
/// and reports each finding at its line, or at the module.
pub fn report_program(module: &Module, p: &crate::isa::Program, arch: &Arch) -> Result<(), Failed> {
    let findings = crate::isa::verify::check(p, arch);
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
            Some(l) if l.line > 0 => melior::ir::Location::new(ctx, &l.file, l.line as usize, l.col.max(1) as usize),
            _ => module_loc,
        };
        emit_error(loc, &f.message);
    }
    Err(Failed)
}

/// Checks one dataflow graph and its mapping at the level it was read at.
pub fn verify_graph(gm: &GraphModule, arch: &Arch) -> Result<(), Failed> {
    let g = &gm.graph;
    let mut failed = false;
    let mut fail = |loc, msg: String| {
        emit_error(loc, &msg);
        failed = true;
    };
    if let Err(e) = g.check_layer_names() {
        fail(gm.side.func_loc, e.to_string().trim_start_matches("error: ").to_string());
    }
    for (i, m) in g.check_shapes() {
        fail(gm.side.loc(g.nodes[i].src), m);
    }
    if gm.level == Level::Partition {
        for (i, n) in g.crossbar_layers() {
            if !gm.mapping.layers.contains_key(&i) {
                fail(gm.side.loc(n.src), format!("layer '{}' has no partition", n.op.layer_name().unwrap_or("?")));
            }
        }
    }
    for e in crate::mapping::check(g, &gm.mapping, arch, gm.level == Level::Core) {
        let loc = e.node.and_then(|i| g.nodes.get(i)).map(|n| gm.side.loc(n.src)).unwrap_or(gm.side.func_loc);
        fail(loc, e.message);
    }
    if failed {
        Err(Failed)
    } else {
        Ok(())
    }
}
