//! How far a mapping is from the best any mapping could do, by crossbar work.
//!
//! Every output window of a layer replica issues one `mvmul` per array group, and an `mvmul`
//! keeps its group busy for what the `pimlir` timing model charges: the input read from
//! local memory, the crossbar passes and the result written back. The sum over a sample is
//! fixed by the model and the partition; spread evenly over every core it gives the
//! issue-bound roofline (no mapping has a shorter period). The busiest core's share is what
//! this mapping's period is at least; its ratio to the bound is the gap placement and
//! replication leave. Waits, vector work and transfers come on top (the simulator sees them).

use super::Mapping;
use crate::arch::{Arch, CoreId};
use crate::cost::{CostModel, Model};
use crate::graph::Graph;
use std::collections::BTreeMap;

/// Crossbar work of one sample.
#[derive(Debug, Clone, PartialEq)]
pub struct CrossbarWork {
    /// Cores of the architecture.
    pub cores: u32,
    /// All `mvmul` time of one sample, ns.
    pub total_ns: f64,
    /// Each core's `mvmul` time per sample, ns (cores without array groups absent).
    pub per_core: BTreeMap<CoreId, f64>,
}

impl CrossbarWork {
    /// The roofline: all crossbar work spread over every core, ns per sample.
    pub fn bound_ns(&self) -> f64 {
        self.total_ns / f64::from(self.cores.max(1))
    }

    /// The core with the most crossbar work, and that work (ns per sample).
    pub fn busiest(&self) -> Option<(CoreId, f64)> {
        self.per_core.iter().map(|(&c, &t)| (c, t)).max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
    }

    /// The busiest core's work over the bound (1 is a perfect spread).
    pub fn gap(&self) -> f64 {
        match self.busiest() {
            Some((_, t)) if self.bound_ns() > 0.0 => t / self.bound_ns(),
            _ => 1.0,
        }
    }

    /// One line for a user: the bound, the busiest core and the gap.
    pub fn summary(&self) -> String {
        let rate = |ns: f64| if ns > 0.0 { 1e9 / ns } else { f64::INFINITY };
        let bound = self.bound_ns();
        match self.busiest() {
            Some((core, t)) => format!(
                "crossbar work per sample {:.3} ms; bound {:.3} ms over {} cores ({:.1} samples/s); busiest core {core} {:.3} ms ({:.1} samples/s), {:.2}x the bound",
                self.total_ns / 1e6,
                bound / 1e6,
                self.cores,
                rate(bound),
                t / 1e6,
                rate(t),
                self.gap()
            ),
            None => "no crossbar work".to_string(),
        }
    }
}

/// The crossbar work of a placed mapping of `g` (layers without placement count nowhere). A
/// replica runs a product per window in most formats, and per input pixel or row its
/// windows read in the column formats (`super::format::replica_products`).
pub fn crossbar_work(g: &Graph, m: &Mapping, arch: &Arch) -> CrossbarWork {
    let cost = CostModel::new(arch, Model::Pimlir);
    let (ibiw, mbiw) = (arch.activation_bits, arch.weight_bits);
    let mut per_core: BTreeMap<CoreId, f64> = BTreeMap::new();
    let mut total_ns = 0.0;
    for (&i, l) in &m.layers {
        let (Some(cores), Some(windows)) = (&l.ag_cores, &l.windows) else { continue };
        let specs = l.groups();
        let Some(node) = g.nodes.get(i) else { continue };
        for r in 0..l.replicas as usize {
            let (Some(&w0), Some(&w1)) = (windows.get(r), windows.get(r + 1)) else { continue };
            let n = super::format::replica_products(g, node, l.unfolding.format, w0, w1) as f64;
            for (k, a) in specs.iter().enumerate() {
                let Some(&core) = cores.get(r * specs.len() + k) else { continue };
                let ns = cost.mvmul_ns(a.rows, a.cols, a.xbars, ibiw, ibiw, mbiw);
                *per_core.entry(core).or_default() += n * ns;
                total_ns += n * ns;
            }
        }
    }
    CrossbarWork { cores: arch.core_count(), total_ns, per_core }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_perfect_spread_has_no_gap_and_a_lopsided_one_says_how_much() {
        let even = CrossbarWork { cores: 4, total_ns: 400.0, per_core: (0..4).map(|c| (CoreId(c), 100.0)).collect() };
        assert_eq!((even.bound_ns(), even.gap()), (100.0, 1.0));
        let lopsided = CrossbarWork {
            cores: 4,
            total_ns: 400.0,
            per_core: [(CoreId(0), 250.0), (CoreId(2), 150.0)].into_iter().collect(),
        };
        assert_eq!(lopsided.busiest(), Some((CoreId(0), 250.0)));
        assert_eq!(lopsided.gap(), 2.5);
        assert!(lopsided.summary().contains("busiest core 0"), "{}", lopsided.summary());
    }
}
