//! `--replicate`: decides how many copies of each crossbar layer to store (pim_partition).
//! The strategies live in `crate::mapping::replicate`; this pass picks one by name.

use super::{module_error, record_arch, OptionDef, PassContext, PassDef};
use crate::dialect::graph_ir::{write_graph, Failed, Level};
use crate::mapping::replicate::{self, ReplicateOptions};
use melior::ir::Module;

pub static PASS: PassDef = PassDef {
    name: "replicate",
    summary: "Choose the number of replicas of each crossbar layer (pim_partition)",
    options: &[
        OptionDef {
            name: "strategy",
            help: "none (every layer once), balance (even out windows per replica), work (even out crossbar work per core), uniform (the same replicas for every layer, as many as fit) or proportional (replicas in proportion to each layer's windows) or ga (genetic search for the least estimated steady-state period, seeded with the others' answers; the default: about half a second on a resnet-class model)",
            default: "ga",
        },
        OptionDef { name: "seed", help: "ga: the search's seed (same seed and generations, same result)", default: "1" },
        OptionDef { name: "generations", help: "ga: generations at most", default: "100" },
        OptionDef {
            name: "time-budget",
            help: "ga: seconds at most; the best found so far is kept (the note says after how many generations)",
            default: "5",
        },
        OptionDef {
            name: "max-replicas",
            help: "upper bound on replicas of one layer (default: no bound)",
            default: "",
        },
    ],
    run,
    checks_output: false,
};

fn run(pc: &PassContext, module: &mut Module) -> Result<(), Failed> {
    let strategy = pc.options.get("strategy");
    let Some(strategy) = replicate::find(strategy) else {
        return Err(module_error(
            module,
            &format!("unknown replicate strategy '{strategy}'; available: {}", replicate::names()),
        ));
    };
    let max_replicas = match pc.options.get("max-replicas") {
        "" => None,
        text => match text.parse::<u32>() {
            Ok(m) if m > 0 => Some(m),
            _ => return Err(module_error(module, &format!("max-replicas = {text} must be a positive integer"))),
        },
    };
    let seed = pc.options.get("seed");
    let Ok(seed) = seed.parse::<u64>() else {
        return Err(module_error(module, &format!("replicate seed={seed}: expected a non-negative integer")));
    };
    let generations = pc.options.get("generations");
    let Ok(generations) = generations.parse::<u32>() else {
        return Err(module_error(module, &format!("replicate generations={generations}: expected an integer")));
    };
    let budget = pc.options.get("time-budget");
    let budget = match budget.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => v.min(1e6),
        _ => {
            let m = format!("replicate time-budget={budget}: expected a non-negative number");
            return Err(module_error(module, &m));
        }
    };
    let search = crate::mapping::search::SearchOptions {
        seed,
        generations,
        time_budget: std::time::Duration::from_secs_f64(budget),
        progress: true,
    };
    // The architecture first: a graph read for another one reports confusing shapes.
    record_arch(pc, module)?;
    let mut gm = super::read_graph_checked(module, pc.arch)?;
    super::expect_level(module, &gm.graph, gm.level, Level::Partition, "replicate")?;
    if let Err(e) = strategy.replicate(&gm.graph, &mut gm.mapping, pc.arch, &ReplicateOptions { max_replicas, search })
    {
        return Err(super::map_error(module, &gm, e));
    }
    write_graph(pc.ctx, module, &gm.graph, &gm.mapping, Level::Partition, &gm.side);
    Ok(())
}
