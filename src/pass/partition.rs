//! `--partition`: graph -> pim_partition. Unfolds each crossbar layer's weights into a matrix
//! and cuts it into array groups (AGs).
//!
//! A conv's OIHW weight becomes one (K_h*K_w*C_in) x C_out matrix, rows ordered
//! (kernel row, kernel column, input channel) so a window's input patch, gathered row by row
//! from a height-width-channel feature map, is the matrix's input vector (format (IK^2, O, 1)
//! of PIMCOMP's Table IV). A fully connected layer is its weight matrix as is. The matrix is
//! cut along its rows into AGs of `ag-rows` rows (default: the crossbar height); an AG spans
//! ceil(columns / crossbar columns) crossbars side by side and is the unit of mapping.

use super::{module_error, record_arch, OptionDef, PassContext, PassDef};
use crate::dialect::emit_error;
use crate::dialect::graph_ir::{read_graph, write_graph, Failed, Level};
use crate::graph::{Graph, Op, Partition};
use melior::ir::Module;

pub static PASS: PassDef = PassDef {
    name: "partition",
    summary: "Unfold crossbar-layer weights into matrices and cut them into array groups (graph -> pim_partition)",
    options: &[OptionDef {
        name: "ag-rows",
        help: "weight rows per array group (default: the crossbar height)",
        default: "",
    }],
    run,
};

/// The unfolded weight matrix (rows, columns) of a crossbar layer.
pub fn matrix_shape(g: &Graph, node: &crate::graph::Node) -> (i64, i64) {
    let out = g.shape(node.output);
    match &node.op {
        Op::Conv2d(c) => {
            let cin = g.shape(node.inputs[0])[1] / c.group;
            (c.kernel[0] * c.kernel[1] * cin, out[1] / c.group)
        }
        Op::Fc(_) => (g.shape(node.inputs[0])[1], out[1]),
        _ => unreachable!("only crossbar layers have a matrix"),
    }
}

fn run(pc: &PassContext, module: &mut Module) -> Result<(), Failed> {
    let (mut g, level) = read_graph(module)?;
    super::expect_level(module, &g, level, Level::Graph, "partition")?;
    let xbar_rows = pc.arch.xbar_rows() as i64;
    let xbar_cols = pc.arch.xbar_cols() as i64;
    let ag_rows = match pc.options.int("ag-rows") {
        Ok(0) => xbar_rows,
        Ok(r) if r > 0 && r <= xbar_rows => r,
        Ok(r) => {
            return Err(module_error(
                module,
                &format!("ag-rows = {r} must be in 1..={xbar_rows} (the crossbar height)"),
            ))
        }
        Err(e) => return Err(module_error(module, &e)),
    };
    record_arch(pc, module)?;
    let mut failed = false;
    for i in 0..g.nodes.len() {
        if !g.nodes[i].op.is_crossbar_layer() {
            continue;
        }
        if let Op::Conv2d(c) = &g.nodes[i].op {
            if c.group != 1 {
                emit_error(g.nodes[i].loc, &format!("layer '{}': grouped convolution is not supported yet", c.name));
                failed = true;
                continue;
            }
        }
        let (rows, cols) = matrix_shape(&g, &g.nodes[i]);
        g.nodes[i].partition = Some(Partition {
            rows,
            cols,
            ag_rows,
            ag_count: (rows + ag_rows - 1) / ag_rows,
            xbars_per_ag: (cols + xbar_cols - 1) / xbar_cols,
            replicas: 1,
        });
    }
    if failed {
        return Err(Failed);
    }
    write_graph(pc.ctx, module, &g, Level::Partition);
    Ok(())
}
