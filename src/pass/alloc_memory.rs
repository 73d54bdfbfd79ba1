//! `--alloc-memory` (pim_isa): gives every local buffer an address in its core's scratchpad
//! and every global buffer an address in global memory, enforcing both capacities (see
//! `crate::isa::alloc`).

use super::{module_error, PassContext, PassDef};
use crate::dialect::graph_ir::Failed;
use crate::dialect::isa_ir::write_addresses;
use melior::ir::Module;

pub static PASS: PassDef = PassDef {
    name: "alloc-memory",
    summary: "Assign local and global memory addresses to buffers, enforcing capacities (pim_isa)",
    options: &[],
    run,
    checks_output: true,
};

fn run(pc: &PassContext, module: &mut Module) -> Result<(), Failed> {
    if !super::verify::is_isa_module(module) {
        let gm = crate::dialect::graph_ir::read_graph(module, pc.arch)?;
        return Err(module_error(
            module,
            &format!(
                "--alloc-memory expects pim_isa-level IR (run --schedule first), got {}-level IR",
                gm.level.name()
            ),
        ));
    }
    let mut p = pc.program(module)?;
    if let Err(msg) = crate::isa::alloc::allocate(&mut p, pc.arch) {
        return Err(module_error(module, &msg));
    }
    if pc.verify {
        super::verify::report_program(module, &p, pc.arch)?;
    }
    // Only the addresses changed: set them in place instead of rewriting the module.
    write_addresses(pc.ctx, module, &p)
        .map_err(|m| module_error(module, &format!("internal error in alloc-memory: {m}")))?;
    pc.hand_off(module, p);
    Ok(())
}
