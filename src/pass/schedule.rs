//! `--schedule`: pim_core -> pim_isa. Turns the placed graph into per-core instruction
//! streams (see `crate::sched` for the dataflow and why it cannot deadlock).

use super::{module_error, record_arch, OptionDef, PassContext, PassDef};
use crate::dialect::emit_error;
use crate::dialect::graph_ir::{Failed, Level};
use crate::dialect::isa_ir::write_program;
use crate::sched::{schedule, Mode};
use melior::ir::Module;

pub static PASS: PassDef = PassDef {
    name: "schedule",
    summary: "Schedule the dataflow into per-core ISA programs (pim_core -> pim_isa)",
    options: &[
        OptionDef {
            name: "mode",
            help: "ht (batch pipeline, high throughput) or ll (element pipeline, low latency)",
            default: "ht",
        },
        OptionDef {
            name: "bands",
            help: "mode=ll: bands of rows each op's output is cut into (more: more overlap, more tokens and code)",
            default: "32",
        },
        OptionDef {
            name: "fuse-adds",
            help: "run a residual add (and a ReLU after it) inside the convolution before it: one load and one store of the map less (true or false)",
            default: "true",
        },
        OptionDef {
            name: "report",
            help: "mode=ll: on stderr, the list schedule's estimate of one sample's latency (true or false)",
            default: "true",
        },
    ],
    run,
    checks_output: true,
};

fn run(pc: &PassContext, module: &mut Module) -> Result<(), Failed> {
    let bands = pc.options.get("bands");
    let bands = match bands.parse::<u32>() {
        Ok(b) if (1..=1024).contains(&b) => b,
        _ => return Err(module_error(module, &format!("schedule bands={bands}: expected an integer in 1..=1024"))),
    };
    let flag = |name: &str| match pc.options.get(name) {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(module_error(module, &format!("schedule {name}={other}: expected true or false"))),
    };
    let (report, fuse_adds) = (flag("report")?, flag("fuse-adds")?);
    let mode = match pc.options.get("mode") {
        "ht" => Mode::Ht,
        "ll" => Mode::Ll { bands },
        other => return Err(module_error(module, &format!("unknown schedule mode '{other}'; expected ht or ll"))),
    };
    // The architecture first: a graph read for another one reports confusing shapes.
    record_arch(pc, module)?;
    let gm = super::read_graph_checked(module, pc.arch)?;
    if gm.graph.nodes.is_empty() {
        return Err(module_error(
            module,
            "the model has no operation to compile: after import its outputs are its inputs (or constants)",
        ));
    }
    super::expect_level(module, &gm.graph, gm.level, Level::Core, "schedule")?;
    let arch_spec = crate::dialect::module_str(module, "pim.arch").unwrap_or_else(|| pc.arch_spec.to_string());
    let weights = crate::dialect::module_str(module, "pim.weights");
    match schedule(&gm.graph, &gm.mapping, pc.arch, &arch_spec, weights, mode, fuse_adds) {
        Ok(crate::sched::Scheduled { program, estimated_latency_ns }) => {
            if let (true, Some(ns)) = (report, estimated_latency_ns) {
                eprintln!(
                    "note: schedule: estimated latency {:.3} ms per sample (the list schedule on pimlir's timing model, or the global-memory server's work if longer; waits for partners left out)",
                    ns / 1e6
                );
            }
            if pc.verify {
                super::verify::report_program(module, &program, pc.arch)?;
            }
            write_program(pc.ctx, module, &program);
            pc.hand_off(module, program);
            Ok(())
        }
        Err(e) => {
            match e.node {
                Some(i) => emit_error(gm.side.loc(gm.graph.nodes[i].src), &e.message),
                None => {
                    module_error(module, &e.message);
                }
            }
            Err(Failed)
        }
    }
}
