//! `--partition`: graph -> pim_partition. Unfolds each crossbar layer's weights into matrices
//! (`crate::unfold`) and cuts them into array groups (AGs) of `ag-rows` rows (default: the
//! crossbar height); an AG spans ceil(columns / crossbar columns) crossbars side by side and
//! is the unit of mapping. Today's format is (IK^2, O, 1) for every layer.

use super::{module_error, record_arch, OptionDef, PassContext, PassDef};
use crate::dialect::emit_error;
use crate::dialect::graph_ir::{write_graph, Failed, Level};
use crate::graph::Op;
use crate::mapping::{flattened_map, LayerMap};
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
    checks_output: false,
};

fn run(pc: &PassContext, module: &mut Module) -> Result<(), Failed> {
    let xbar_rows = pc.arch.xbar_rows();
    let ag_rows = match pc.options.get("ag-rows") {
        "" => xbar_rows,
        text => match text.parse::<u32>() {
            Ok(r) if r > 0 && r <= xbar_rows => r,
            _ => {
                return Err(module_error(
                    module,
                    &format!("ag-rows = {text} must be an integer in 1..={xbar_rows} (the crossbar height)"),
                ))
            }
        },
    };
    // The architecture first: a graph read for another one reports confusing shapes.
    record_arch(pc, module)?;
    let mut gm = super::read_graph_checked(module, pc.arch)?;
    super::expect_level(module, &gm.graph, gm.level, Level::Graph, "partition")?;
    let g = &gm.graph;
    let mut failed = false;
    for (i, node) in g.crossbar_layers() {
        let hwc = matches!(node.op, Op::Fc(_)).then(|| flattened_map(g, node.inputs[0])).flatten();
        // Grouped convolutions pack several groups block-diagonally into one crossbar.
        match crate::mapping::default_unfolding(g, node, ag_rows, pc.arch.xbar_cols(), hwc) {
            Ok(u) => {
                gm.mapping.layers.insert(i, LayerMap::new(u, ag_rows, pc.arch));
            }
            Err(m) => {
                emit_error(gm.side.loc(node.src), &format!("layer '{}': {m}", node.op.layer_name().unwrap_or("?")));
                failed = true;
            }
        }
    }
    if failed {
        return Err(Failed);
    }
    write_graph(pc.ctx, module, &gm.graph, &gm.mapping, Level::Partition, &gm.side);
    Ok(())
}
