//! `--map-cores`: pim_partition -> pim_core. Places every array group on a core, splits each
//! layer's windows among its replicas, and places every vector op. The strategies live in
//! `crate::mapping::place`; this pass picks one by name. A model that does not fit is an error
//! that says how many crossbars it needs.

use super::{module_error, record_arch, OptionDef, PassContext, PassDef};
use crate::dialect::graph_ir::{write_graph, Failed, Level};
use crate::mapping::place;
use melior::ir::Module;

pub static PASS: PassDef = PassDef {
    name: "map-cores",
    summary: "Place array groups and vector ops on cores (pim_partition -> pim_core)",
    options: &[
        OptionDef {
            name: "strategy",
            help: "placement strategy: first-fit (fill cores in layer order, for the batch pipeline) or balanced (spread crossbar work evenly; the element pipeline's default)",
            default: "first-fit",
        },
        OptionDef {
            name: "report",
            help: "on stderr: true (the crossbar-work bound, the busiest core's gap to it and the estimated period), layers (also each op's estimated global-memory time) or false",
            default: "true",
        },
    ],
    run,
    checks_output: false,
};

fn run(pc: &PassContext, module: &mut Module) -> Result<(), Failed> {
    let name = pc.options.get("strategy");
    let Some(strategy) = place::find(name) else {
        return Err(module_error(
            module,
            &format!("unknown map-cores strategy '{name}'; available: {}", place::names()),
        ));
    };
    // The architecture first: a graph read for another one reports confusing shapes.
    record_arch(pc, module)?;
    let mut gm = super::read_graph_checked(module, pc.arch)?;
    super::expect_level(module, &gm.graph, gm.level, Level::Partition, "map-cores")?;
    if let Err(e) = strategy.place(&gm.graph, &mut gm.mapping, pc.arch) {
        return Err(super::map_error(module, &gm, e));
    }
    let report = pc.options.get("report");
    if !matches!(report, "true" | "false" | "layers") {
        return Err(module_error(module, &format!("map-cores report={report}: expected true, layers or false")));
    }
    if report != "false" {
        let est = crate::mapping::period::estimate(&gm.graph, &gm.mapping, pc.arch);
        eprintln!(
            "note: map-cores: {}; estimated period {:.3} ms (global memory {:.3} ms, busiest core {}), {:.1} samples/s",
            crate::mapping::estimate::crossbar_work(&gm.graph, &gm.mapping, pc.arch).summary(),
            est.ns() / 1e6,
            est.global_ns / 1e6,
            est.busiest().map_or_else(|| "none".to_string(), |(c, t)| format!("{c} {:.3} ms", t / 1e6)),
            if est.ns() > 0.0 { 1e9 / est.ns() } else { f64::INFINITY }
        );
        if report == "layers" {
            // The estimate op by op: what each loads and stores through global memory.
            for (i, ns) in &est.global_by_node {
                let op = &gm.graph.nodes[*i].op;
                eprintln!(
                    "note: map-cores: global memory {:.3} ms per sample: {}",
                    ns / 1e6,
                    op.layer_name().unwrap_or(op.mnemonic())
                );
            }
        }
    }
    write_graph(pc.ctx, module, &gm.graph, &gm.mapping, Level::Core, &gm.side);
    Ok(())
}
