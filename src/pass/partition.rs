//! `--partition`: graph -> pim_partition. Unfolds each crossbar layer's weights into matrices
//! (`crate::unfold`) and cuts them into array groups (AGs) of `ag-rows` rows (default: the
//! crossbar height); an AG spans ceil(columns / crossbar columns) crossbars side by side and
//! is the unit of mapping. The format is chosen per layer for the `mode`
//! (`crate::mapping::format`); a convolution's `format` attribute, or the `format` option for
//! every convolution, forces one.

use super::{module_error, record_arch, OptionDef, PassContext, PassDef};
use crate::dialect::emit_error;
use crate::dialect::graph_ir::{write_graph, Failed, Level};
use crate::graph::Op;
use crate::mapping::format::{choose, Mode};
use crate::mapping::{flattened_map, LayerMap};
use crate::unfold::Format;
use melior::ir::Module;

pub static PASS: PassDef = PassDef {
    name: "partition",
    summary: "Unfold crossbar-layer weights into matrices and cut them into array groups (graph -> pim_partition)",
    options: &[
        OptionDef { name: "ag-rows", help: "weight rows per array group (default: the crossbar height)", default: "" },
        OptionDef {
            name: "mode",
            help: "what the format of each layer is chosen for: ht (fewest crossbar cycles, then least input loaded) or ll (least local memory per window)",
            default: "ht",
        },
        OptionDef {
            name: "format",
            help: "unfold every convolution in this format (ik2_o_1, ik_o_k, ik_ok_1, i_o_k2, i_ok2_1) instead of choosing; a layer's own `format` attribute wins",
            default: "",
        },
    ],
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
    let mode = match Mode::from_name(pc.options.get("mode")) {
        Some(m) => m,
        None => {
            return Err(module_error(module, &format!("mode = {} must be ht or ll", pc.options.get("mode"))));
        }
    };
    let all = match pc.options.get("format") {
        "" => None,
        f => match Format::from_name(f) {
            Some(f) => Some(f),
            None => {
                return Err(module_error(
                    module,
                    &format!("format = {f} is not an unfolding format; expected one of {}", Format::names()),
                ))
            }
        },
    };
    let mut gm = super::read_graph_checked(module, pc.arch)?;
    super::expect_level(module, &gm.graph, gm.level, Level::Graph, "partition")?;
    let g = &gm.graph;
    let mut failed = false;
    for (i, node) in g.crossbar_layers() {
        let hwc = matches!(node.op, Op::Fc(_)).then(|| flattened_map(g, node.inputs[0])).flatten();
        let name = node.op.layer_name().unwrap_or("?");
        // The layer's own attribute, then the option (convolutions only).
        let forced = match gm.side.extra_str(node.src, "format") {
            Some(Ok(f)) => match Format::from_name(&f) {
                Some(f) => Some(f),
                None => {
                    let m =
                        format!("layer '{name}': unknown unfolding format '{f}'; expected one of {}", Format::names());
                    emit_error(gm.side.loc(node.src), &m);
                    failed = true;
                    continue;
                }
            },
            Some(Err(m)) => {
                emit_error(gm.side.loc(node.src), &format!("layer '{name}': {m}"));
                failed = true;
                continue;
            }
            None => all.filter(|_| matches!(node.op, Op::Conv2d(_))),
        };
        // Grouped convolutions pack several groups block-diagonally into one crossbar.
        match choose(g, node, ag_rows, pc.arch, hwc, mode, forced) {
            Ok(u) => {
                let mut l = LayerMap::new(u, ag_rows, pc.arch);
                l.format_fixed = forced.is_some();
                gm.mapping.layers.insert(i, l);
            }
            Err(m) => {
                emit_error(gm.side.loc(node.src), &format!("layer '{name}': {m}"));
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
