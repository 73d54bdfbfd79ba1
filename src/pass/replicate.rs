//! `--replicate`: decides how many copies of each crossbar layer to store (pim_partition).
//!
//! In the batch pipeline every layer works on a different sample at once, so the slowest
//! layer sets the throughput. A layer with R replicas computes R windows at a time.
//! Strategies: `none` stores every layer once; `balance` repeatedly gives one more replica
//! to the layer with the most windows per replica, as long as the whole model still fits
//! (checked with the same first-fit placement `--map-cores` uses).

use super::map_cores::{first_fit, layer_demands};
use super::{module_error, record_arch, OptionDef, PassContext, PassDef};
use crate::dialect::graph_ir::{read_graph, write_graph, Failed, Level};
use crate::graph::{Graph, Op};
use melior::ir::Module;

pub static PASS: PassDef = PassDef {
    name: "replicate",
    summary: "Choose the number of replicas of each crossbar layer (pim_partition)",
    options: &[
        OptionDef {
            name: "strategy",
            help: "none (every layer once) or balance (even out windows per replica)",
            default: "none",
        },
        OptionDef {
            name: "max-replicas",
            help: "upper bound on replicas of one layer for 'balance' (0: no bound)",
            default: "0",
        },
    ],
    run,
};

/// Sliding windows (matrix-vector products) a layer computes per sample.
pub fn windows(g: &Graph, i: usize) -> i64 {
    let n = &g.nodes[i];
    match n.op {
        Op::Conv2d(_) => {
            let s = g.shape(n.output);
            s[2] * s[3]
        }
        _ => 1,
    }
}

fn run(pc: &PassContext, module: &mut Module) -> Result<(), Failed> {
    let (mut g, level) = read_graph(module)?;
    super::expect_level(module, &g, level, Level::Partition, "replicate")?;
    record_arch(pc, module)?;
    let max = match pc.options.int("max-replicas") {
        Ok(m) if m >= 0 => m,
        Ok(m) => return Err(module_error(module, &format!("max-replicas = {m} must not be negative"))),
        Err(e) => return Err(module_error(module, &e)),
    };
    let layers: Vec<usize> = (0..g.nodes.len()).filter(|&i| g.nodes[i].op.is_crossbar_layer()).collect();
    for &i in &layers {
        g.nodes[i].partition.as_mut().expect("partitioned").replicas = 1;
    }
    match pc.options.get("strategy") {
        "none" => {}
        "balance" => {
            let win: Vec<i64> = layers.iter().map(|&i| windows(&g, i)).collect();
            let mut full = vec![false; layers.len()];
            loop {
                // The bottleneck: most windows per replica among layers that can still grow.
                let pick = (0..layers.len()).filter(|&k| !full[k]).max_by(|&a, &b| {
                    let ra = g.nodes[layers[a]].partition.as_ref().expect("p").replicas;
                    let rb = g.nodes[layers[b]].partition.as_ref().expect("p").replicas;
                    (win[a] * rb).cmp(&(win[b] * ra)).then(b.cmp(&a))
                });
                let Some(k) = pick else { break };
                let p = g.nodes[layers[k]].partition.as_mut().expect("p");
                if p.replicas >= win[k] || (max > 0 && p.replicas >= max) {
                    full[k] = true;
                    continue;
                }
                p.replicas += 1;
                if first_fit(&layer_demands(&g), pc.arch).is_err() {
                    g.nodes[layers[k]].partition.as_mut().expect("p").replicas -= 1;
                    // Nothing bigger than this layer's next copy fits either; stop growing it.
                    full[k] = true;
                }
            }
        }
        other => {
            return Err(module_error(
                module,
                &format!("unknown replicate strategy '{other}'; available: none, balance"),
            ))
        }
    }
    write_graph(pc.ctx, module, &g, Level::Partition);
    Ok(())
}
