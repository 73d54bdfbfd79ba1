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
        OptionDef { name: "strategy", help: "placement strategy: first-fit", default: "first-fit" },
        OptionDef {
            name: "report",
            help:
                "print the crossbar-work bound of the mapping and the busiest core's gap to it on stderr: true or false",
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
    match pc.options.get("report") {
        "true" => {
            eprintln!(
                "note: map-cores: {}",
                crate::mapping::estimate::crossbar_work(&gm.graph, &gm.mapping, pc.arch).summary()
            )
        }
        "false" => {}
        other => return Err(module_error(module, &format!("map-cores report={other}: expected true or false"))),
    }
    write_graph(pc.ctx, module, &gm.graph, &gm.mapping, Level::Core, &gm.side);
    Ok(())
}
