//! Replication strategies: how many copies of each crossbar layer's weights to store.
//!
//! In the batch pipeline every layer works on a different sample at once, so the slowest
//! layer sets the throughput; a layer with R replicas computes R windows at a time. Every
//! replica counts against the chip, the first included: a strategy never asks for more
//! crossbars than the placement can give.

use super::place::{first_fit_with, packing_for, place_error, Demand, Packing};
use super::{MapError, Mapping};
use crate::arch::Arch;
use crate::graph::{Graph, NodeId};

/// Options every strategy takes.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReplicateOptions {
    /// Upper bound on the replicas of one layer (None: no bound).
    pub max_replicas: Option<u32>,
    /// The genetic search's seed and budget (`ga` only).
    pub search: super::search::SearchOptions,
}

/// A replication strategy.
pub trait Replicator: Sync {
    fn name(&self) -> &'static str;
    fn summary(&self) -> &'static str;
    /// Sets `replicas` of every layer of `m` (all partitioned).
    fn replicate(&self, g: &Graph, m: &mut Mapping, arch: &Arch, opts: &ReplicateOptions) -> Result<(), MapError>;
}

/// Every strategy, by name.
pub static STRATEGIES: &[&dyn Replicator] =
    &[&NoReplication, &Balance, &Work, &Uniform, &Proportional, &super::search::Genetic];

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
        grow(g, m, arch, opts, |w, _| (u128::from(w), 1))
    }
}

/// Repeatedly gives one more replica to the layer whose cores have the most crossbar work
/// per sample, as long as the whole model still fits. A layer over `x` crossbars with `p`
/// products per sample (windows; input pixels or rows in the column formats), `r` replicas
/// and `t` ns of `mvmul` per product (all its groups, with their local-memory traffic)
/// fills `r x / X` cores of `X` crossbars: `p t X / (r x)` per core. Unlike `balance`, a
/// layer of wide or slow groups (few per core) counts for more than one of narrow ones.
pub struct Work;

impl Replicator for Work {
    fn name(&self) -> &'static str {
        "work"
    }
    fn summary(&self) -> &'static str {
        "even out crossbar work per core"
    }
    fn replicate(&self, g: &Graph, m: &mut Mapping, arch: &Arch, opts: &ReplicateOptions) -> Result<(), MapError> {
        let cost = crate::cost::CostModel::new(arch, crate::cost::Model::Pimlir);
        let (ibiw, mbiw) = (arch.activation_bits, arch.weight_bits);
        // ns of every group's product, per layer, in the layers' order.
        let per_product: Vec<u128> = m
            .layers
            .values()
            .map(|l| {
                let ns: f64 = l.groups().iter().map(|a| cost.mvmul_ns(a.rows, a.cols, a.xbars, ibiw, ibiw, mbiw)).sum();
                ns.max(1.0).round() as u128
            })
            .collect();
        let products: Vec<u64> =
            m.layers.iter().map(|(&i, l)| super::format::products(g, &g.nodes[i], l.unfolding.format)).collect();
        let mut k = 0;
        grow(g, m, arch, opts, |_, d| {
            let xbars: u128 = d.xbars.iter().map(|&x| u128::from(x)).sum();
            let load = u128::from(products[k]).saturating_mul(per_product[k]);
            k += 1;
            (load, xbars.max(1))
        })
    }
}

/// The greedy of `balance` and `work`: one more replica for the layer with the highest
/// `load / replicas` (`load(windows, demand)` = numerator, denominator) that can still grow,
/// until none can. Growing stops at a layer's windows, `max-replicas`, or when the model
/// would not fit.
fn grow(
    g: &Graph,
    m: &mut Mapping,
    arch: &Arch,
    opts: &ReplicateOptions,
    mut load: impl FnMut(u64, &Demand) -> (u128, u128),
) -> Result<(), MapError> {
    let (win, mut demands, packing) = start(g, m, arch)?;
    let load: Vec<(u128, u128)> = win.iter().zip(&demands).map(|(&w, d)| load(w, d)).collect();
    let layers: Vec<NodeId> = m.layers.keys().copied().collect();
    let mut full = vec![false; layers.len()];
    loop {
        let pick = (0..layers.len()).filter(|&k| !full[k]).max_by(|&a, &b| {
            let ra = u128::from(m.layers[&layers[a]].replicas);
            let rb = u128::from(m.layers[&layers[b]].replicas);
            let (na, da) = load[a];
            let (nb, db) = load[b];
            na.saturating_mul(db).saturating_mul(rb).cmp(&nb.saturating_mul(da).saturating_mul(ra)).then(b.cmp(&a))
        });
        let Some(k) = pick else { break };
        let l = m.layers.get_mut(&layers[k]).expect("a layer of the mapping");
        if u64::from(l.replicas) >= win[k] || opts.max_replicas.is_some_and(|mx| l.replicas >= mx) {
            full[k] = true;
            continue;
        }
        l.replicas += 1;
        demands[k].replicas = l.replicas;
        if first_fit_with(&demands, arch, packing).is_err() {
            l.replicas -= 1;
            demands[k].replicas = l.replicas;
            // Nothing bigger than this layer's next copy fits either; stop growing it.
            full[k] = true;
        }
    }
    Ok(())
}

/// Every layer once: the windows of each layer, the demands, and the packing the replicas
/// must keep (aligned when one replica of everything fits so: see [`Packing`]); an error
/// when even that does not fit (crossbars needed and available).
fn start(g: &Graph, m: &mut Mapping, arch: &Arch) -> Result<(Vec<u64>, Vec<Demand>, Packing), MapError> {
    for l in m.layers.values_mut() {
        l.replicas = 1;
    }
    let win: Vec<u64> = m.layers.keys().map(|&i| super::windows(g, &g.nodes[i]).max(1)).collect();
    let demands = Demand::of(m);
    let packing = packing_for(&demands, arch);
    first_fit_with(&demands, arch, packing).map_err(|e| place_error(g, arch, e))?;
    Ok((win, demands, packing))
}

/// The largest `k` in `1..=hi` for which `fits(k)` holds (`fits` monotone, `fits(1)` true).
fn largest(hi: u64, mut fits: impl FnMut(u64) -> bool) -> u64 {
    let (mut lo, mut hi) = (1u64, hi.max(1));
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if fits(mid) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

/// Sets the replicas of `m` and `demands` to `r[k]` for layer `k`.
fn set(m: &mut Mapping, demands: &mut [Demand], r: &[u32]) {
    for ((l, d), &r) in m.layers.values_mut().zip(demands.iter_mut()).zip(r) {
        l.replicas = r;
        d.replicas = r;
    }
}

/// Gives `m` the replicas `of(n)` for the largest `n` in `1..=hi` that first-fit places
/// (`of` growing with `n`, `of(1)` placeable).
fn largest_that_fits(
    m: &mut Mapping,
    demands: &mut [Demand],
    arch: &Arch,
    packing: Packing,
    hi: u64,
    of: impl Fn(u64) -> Vec<u32>,
) {
    let n = largest(hi, |n| {
        set(m, demands, &of(n));
        first_fit_with(demands, arch, packing).is_ok()
    });
    set(m, demands, &of(n));
}

/// The same number of replicas for every layer (at most its windows), as many as fit.
pub struct Uniform;

impl Replicator for Uniform {
    fn name(&self) -> &'static str {
        "uniform"
    }
    fn summary(&self) -> &'static str {
        "the same replicas for every layer, as many as fit"
    }
    fn replicate(&self, g: &Graph, m: &mut Mapping, arch: &Arch, opts: &ReplicateOptions) -> Result<(), MapError> {
        let (win, mut demands, packing) = start(g, m, arch)?;
        let cap = opts.max_replicas.map_or(u64::MAX, u64::from);
        let of =
            |n: u64| -> Vec<u32> { win.iter().map(|&w| n.min(w).min(cap).min(u64::from(u32::MAX)) as u32).collect() };
        let hi = win.iter().copied().max().unwrap_or(1).min(cap);
        largest_that_fits(m, &mut demands, arch, packing, hi, of);
        Ok(())
    }
}

/// Replicas in proportion to each layer's windows (the layer with the most gets `n`, the
/// others `ceil(n * windows / most)`, at least one), the largest `n` that fits.
pub struct Proportional;

impl Replicator for Proportional {
    fn name(&self) -> &'static str {
        "proportional"
    }
    fn summary(&self) -> &'static str {
        "replicas in proportion to each layer's windows"
    }
    fn replicate(&self, g: &Graph, m: &mut Mapping, arch: &Arch, opts: &ReplicateOptions) -> Result<(), MapError> {
        let (win, mut demands, packing) = start(g, m, arch)?;
        let cap = opts.max_replicas.map_or(u64::MAX, u64::from);
        let most = win.iter().copied().max().unwrap_or(1);
        let of = |n: u64| -> Vec<u32> {
            win.iter()
                .map(|&w| {
                    let r = (u128::from(n) * u128::from(w)).div_ceil(u128::from(most)) as u64;
                    r.clamp(1, w).min(cap).min(u64::from(u32::MAX)) as u32
                })
                .collect()
        };
        largest_that_fits(m, &mut demands, arch, packing, most.min(cap), of);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::largest;

    #[test]
    fn largest_finds_the_edge() {
        assert_eq!(largest(100, |k| k <= 37), 37);
        assert_eq!(largest(100, |k| k <= 100), 100);
        assert_eq!(largest(1, |_| true), 1);
        assert_eq!(largest(0, |_| true), 1);
    }
}
