//! Replication strategies: how many copies of each crossbar layer's weights to store.
//!
//! In the batch pipeline every layer works on a different sample at once, so the slowest
//! layer sets the throughput; a layer with R replicas computes R windows at a time. Every
//! replica counts against the chip, the first included: a strategy never asks for more
//! crossbars than the placement can give.

use super::place::{first_fit, Demand};
use super::{MapError, Mapping};
use crate::arch::Arch;
use crate::graph::{Graph, NodeId};

/// Options every strategy takes.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReplicateOptions {
    /// Upper bound on the replicas of one layer (None: no bound).
    pub max_replicas: Option<u32>,
}

/// A replication strategy.
pub trait Replicator: Sync {
    fn name(&self) -> &'static str;
    fn summary(&self) -> &'static str;
    /// Sets `replicas` of every layer of `m` (all partitioned).
    fn replicate(&self, g: &Graph, m: &mut Mapping, arch: &Arch, opts: &ReplicateOptions) -> Result<(), MapError>;
}

/// Every strategy, by name.
pub static STRATEGIES: &[&dyn Replicator] = &[&NoReplication, &Balance];

pub fn find(name: &str) -> Option<&'static dyn Replicator> {
    STRATEGIES.iter().copied().find(|s| s.name() == name)
}

pub fn names() -> String {
    STRATEGIES.iter().map(|s| s.name()).collect::<Vec<_>>().join(", ")
}

/// Every layer once.
pub struct NoReplication;

impl Replicator for NoReplication {
    fn name(&self) -> &'static str {
        "none"
    }
    fn summary(&self) -> &'static str {
        "every layer once"
    }
    fn replicate(&self, _: &Graph, m: &mut Mapping, _: &Arch, _: &ReplicateOptions) -> Result<(), MapError> {
        for l in m.layers.values_mut() {
            l.replicas = 1;
        }
        Ok(())
    }
}

/// Repeatedly gives one more replica to the layer with the most windows per replica, as long
/// as the whole model still fits (checked with the first-fit placement `--map-cores` uses).
pub struct Balance;

impl Replicator for Balance {
    fn name(&self) -> &'static str {
        "balance"
    }
    fn summary(&self) -> &'static str {
        "even out windows per replica"
    }
    fn replicate(&self, g: &Graph, m: &mut Mapping, arch: &Arch, opts: &ReplicateOptions) -> Result<(), MapError> {
        let layers: Vec<NodeId> = m.layers.keys().copied().collect();
        let win: Vec<u64> = layers.iter().map(|&i| super::windows(g, &g.nodes[i])).collect();
        for l in m.layers.values_mut() {
            l.replicas = 1;
        }
        let mut demands = Demand::of(m);
        let mut full = vec![false; layers.len()];
        loop {
            // The bottleneck: most windows per replica among layers that can still grow.
            let pick = (0..layers.len()).filter(|&k| !full[k]).max_by(|&a, &b| {
                let ra = u128::from(m.layers[&layers[a]].replicas);
                let rb = u128::from(m.layers[&layers[b]].replicas);
                (u128::from(win[a]) * rb).cmp(&(u128::from(win[b]) * ra)).then(b.cmp(&a))
            });
            let Some(k) = pick else { break };
            let l = m.layers.get_mut(&layers[k]).expect("a layer of the mapping");
            if u64::from(l.replicas) >= win[k] || opts.max_replicas.is_some_and(|mx| l.replicas >= mx) {
                full[k] = true;
                continue;
            }
            l.replicas += 1;
            demands[k].replicas = l.replicas;
            if first_fit(&demands, arch).is_err() {
                l.replicas -= 1;
                demands[k].replicas = l.replicas;
                // Nothing bigger than this layer's next copy fits either; stop growing it.
                full[k] = true;
            }
        }
        Ok(())
    }
}
