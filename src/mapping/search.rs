//! The genetic search over replica counts (`--replicate=strategy=ga`).
//!
//! A chromosome is every crossbar layer's replica count; it is decoded by the first-fit
//! placement `--map-cores` uses (so whatever the search returns fits) and scored by the
//! estimated steady-state period ([`super::period`]: the busiest core or the global-memory
//! server), ties to fewer crossbars. The population starts from every other strategy's
//! answer, so the search never returns worse than the best of them under the estimate.
//! Children come from uniform crossover of two tournament winners and mutations that scale
//! one layer's replicas, add or remove one, or aim at what limits the period (more replicas
//! for a layer of the busiest core, fewer for the layer that loads most from global memory
//! when that server limits).
//!
//! Reproducible: child `k` of generation `n` draws from its own generator, seeded from
//! (`seed`, `n`, `k`), and children are scored in parallel (rayon) but selected in index
//! order, so the result depends on the seed and the generation count, not on the thread
//! count. A search that stops at its time budget says after how many generations, which is
//! what to pass to reproduce it elsewhere.

use super::place::{FirstFit, Placer};
use super::replicate::{ReplicateOptions, Replicator};
use super::{period, MapError, Mapping};
use crate::arch::Arch;
use crate::graph::{Graph, NodeId};
use rayon::prelude::*;
use std::time::{Duration, Instant};

/// How long and from where the search runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchOptions {
    pub seed: u64,
    /// Generations at most.
    pub generations: u32,
    /// Wall time at most (the best found so far is returned).
    pub time_budget: Duration,
    /// A progress bar on stderr when the search is expected to take over a second.
    pub progress: bool,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions { seed: 1, generations: 100, time_budget: Duration::from_secs(5), progress: true }
    }
}

/// What a search did, for the user.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchReport {
    pub generations: u32,
    pub evaluations: u64,
    /// Estimated period of the best seed strategy, and its name.
    pub seed_ns: f64,
    pub seed_strategy: &'static str,
    /// Estimated period of the result.
    pub best_ns: f64,
    /// Layers the result unfolds in another format than `--partition` chose.
    pub formats_changed: usize,
    pub seconds: f64,
    /// Whether the time budget stopped it before `generations`.
    pub out_of_time: bool,
}

impl SearchReport {
    pub fn summary(&self) -> String {
        format!(
            "ga: {} generations, {} mappings scored in {:.2} s{}; estimated period {:.3} ms ({:.1} samples/s), best seed '{}' {:.3} ms; {} layer(s) in another unfolding format",
            self.generations,
            self.evaluations,
            self.seconds,
            if self.out_of_time { format!(" (stopped by the time budget: generations={} reproduces it)", self.generations) } else { String::new() },
            self.best_ns / 1e6,
            if self.best_ns > 0.0 { 1e9 / self.best_ns } else { f64::INFINITY },
            self.seed_strategy,
            self.seed_ns / 1e6,
            self.formats_changed
        )
    }
}

/// The genetic search as a replication strategy.
pub struct Genetic;

impl Replicator for Genetic {
    fn name(&self) -> &'static str {
        "ga"
    }
    fn summary(&self) -> &'static str {
        "genetic search for the least estimated period"
    }
    fn replicate(&self, g: &Graph, m: &mut Mapping, arch: &Arch, opts: &ReplicateOptions) -> Result<(), MapError> {
        let report = search(g, m, arch, opts)?;
        eprintln!("note: replicate: {}", report.summary());
        Ok(())
    }
}

/// A scored chromosome: estimated period (ns) and crossbars, lower is better.
#[derive(Debug, Clone, PartialEq)]
struct Scored {
    replicas: Vec<u32>,
    /// Each layer's unfolding, an index into [`Problem::options`] (0: `--partition`'s).
    formats: Vec<u8>,
    score: (f64, u64),
    /// What limits it: the layer index to grow (a layer of the busiest core) or to shrink
    /// (the layer with the most global traffic), when the server limits.
    grow: Option<usize>,
    shrink: Option<usize>,
}

/// The problem in plain data.
struct Problem<'a> {
    g: &'a Graph,
    base: &'a Mapping,
    arch: &'a Arch,
    layers: Vec<NodeId>,
    /// Upper bound of each layer's replicas (its windows, `max-replicas`).
    max: Vec<u32>,
    /// Each layer's unfoldings to choose from: `--partition`'s first, then the other formats
    /// it could have chosen ([`super::format::candidates`]) unless the format was forced.
    options: Vec<Vec<super::LayerMap>>,
}

impl Problem<'_> {
    fn mapping(&self, replicas: &[u32], formats: &[u8]) -> Mapping {
        let mut m = self.base.clone();
        for (k, &i) in self.layers.iter().enumerate() {
            if let Some(l) = m.layers.get_mut(&i) {
                // Format 0 is the base's own.
                if formats[k] > 0 {
                    if let Some(o) = self.options[k].get(usize::from(formats[k])) {
                        *l = o.clone();
                    }
                }
                l.replicas = replicas[k];
            }
        }
        m
    }

    /// Places and scores a chromosome; None when first-fit cannot place it.
    fn score(&self, replicas: Vec<u32>, formats: Vec<u8>) -> Option<Scored> {
        let mut m = self.mapping(&replicas, &formats);
        FirstFit.place(self.g, &mut m, self.arch).ok()?;
        let est = period::estimate(self.g, &m, self.arch);
        let xbars: u64 = m.layers.values().map(|l| l.xbars_per_replica() * u64::from(l.replicas)).sum();
        let index = |i: NodeId| self.layers.iter().position(|&j| j == i);
        let global_bound = est.busiest().is_none_or(|(_, t)| t < est.global_ns);
        let shrink = global_bound
            .then(|| {
                est.global_by_node
                    .iter()
                    .filter(|(i, _)| m.layers.contains_key(i))
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .and_then(|(&i, _)| index(i))
            })
            .flatten();
        let grow = est.busiest().and_then(|(core, _)| {
            m.layers
                .iter()
                .find(|(_, l)| l.ag_cores.as_ref().is_some_and(|c| c.contains(&core)))
                .and_then(|(&i, _)| index(i))
        });
        Some(Scored { replicas, formats, score: (est.ns(), xbars), grow, shrink })
    }
}

/// SplitMix64: a small, well-known generator; a child's stream is a pure function of its
/// seed, which is all the reproducibility argument needs.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, generation: u64, child: u64) -> Rng {
        let mut r =
            Rng(seed ^ generation.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ child.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.next();
        r
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

const POPULATION: usize = 24;

/// Runs the search on `m` (partitioned) and leaves the best replicas in it.
pub fn search(g: &Graph, m: &mut Mapping, arch: &Arch, opts: &ReplicateOptions) -> Result<SearchReport, MapError> {
    let started = Instant::now();
    let so = opts.search;
    let layers: Vec<NodeId> = m.layers.keys().copied().collect();
    let max: Vec<u32> = layers
        .iter()
        .map(|&i| {
            let w = super::windows(g, &g.nodes[i]).clamp(1, u64::from(u32::MAX)) as u32;
            opts.max_replicas.map_or(w, |mx| w.min(mx))
        })
        .collect();
    // Nothing to search (a model of vector ops only).
    if layers.is_empty() {
        return Ok(SearchReport {
            generations: 0,
            evaluations: 0,
            seed_ns: 0.0,
            seed_strategy: "none",
            best_ns: 0.0,
            formats_changed: 0,
            seconds: 0.0,
            out_of_time: false,
        });
    }
    // The seeds: every other strategy's answer (those that fail are skipped; when all do,
    // the first one's error says what does not fit).
    let mut seeds: Vec<(&'static str, Vec<u32>)> = vec![];
    let mut failed = None;
    for s in super::replicate::STRATEGIES.iter().filter(|s| s.name() != "ga") {
        let mut mm = m.clone();
        match s.replicate(g, &mut mm, arch, opts) {
            Ok(()) => seeds.push((s.name(), mm.layers.values().map(|l| l.replicas).collect())),
            Err(e) => failed = failed.or(Some(e)),
        }
    }
    // The formats a layer may change to: a convolution whose format `--partition` chose
    // (not forced), cut into whole-width array groups.
    let options: Vec<Vec<super::LayerMap>> = layers
        .iter()
        .map(|&i| {
            let l = &m.layers[&i];
            let node = &g.nodes[i];
            let mut v = vec![l.clone()];
            // (A 1x1 kernel unfolds the same in every format.)
            let kernel = match &node.op {
                crate::graph::Op::Conv2d(c) => c.kernel[0] * c.kernel[1],
                _ => 1,
            };
            if kernel > 1 && !l.format_fixed && l.ag_cols == 0 {
                for u in super::format::candidates(g, node, l.ag_rows, arch, None).unwrap_or_default() {
                    if u.format != l.unfolding.format && v.len() < usize::from(u8::MAX) {
                        v.push(super::LayerMap::new(u, l.ag_rows, arch));
                    }
                }
            }
            v
        })
        .collect();
    let p = Problem { g, base: m, arch, layers, max, options };
    let zeros = vec![0u8; p.layers.len()];
    let scored: Vec<(&'static str, Option<Scored>)> =
        seeds.into_par_iter().map(|(name, r)| (name, p.score(r, zeros.clone()))).collect();
    let mut evaluations = scored.len() as u64;
    let mut pop: Vec<Scored> = vec![];
    let (mut seed_ns, mut seed_strategy) = (f64::INFINITY, "none");
    for (name, s) in scored {
        if let Some(s) = s {
            if s.score.0 < seed_ns {
                (seed_ns, seed_strategy) = (s.score.0, name);
            }
            pop.push(s);
        }
    }
    if pop.is_empty() {
        // Nothing fits even once: the strategies' error says what is needed and available.
        return Err(failed.unwrap_or_else(|| MapError::global("ga: no strategy's replicas could be placed")));
    }
    pop.sort_by(|a, b| a.score.partial_cmp(&b.score).unwrap_or(std::cmp::Ordering::Equal));
    let bar = (so.progress && p.layers.len() * POPULATION > 2000).then(|| {
        let bar = indicatif::ProgressBar::new(u64::from(so.generations));
        bar.set_style(
            indicatif::ProgressStyle::with_template("ga {bar:40} {pos}/{len} generations ({eta}) {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let mut generations = 0;
    let mut out_of_time = false;
    for n in 0..so.generations {
        if started.elapsed() >= so.time_budget {
            out_of_time = true;
            break;
        }
        let parents = pop.clone();
        let children: Vec<Option<Scored>> = (0..POPULATION)
            .into_par_iter()
            .map(|k| {
                let mut rng = Rng::new(so.seed, u64::from(n), k as u64);
                let (r, f) = child(&p, &parents, &mut rng);
                p.score(r, f)
            })
            .collect();
        evaluations += children.len() as u64;
        pop.extend(children.into_iter().flatten());
        pop.sort_by(|a, b| a.score.partial_cmp(&b.score).unwrap_or(std::cmp::Ordering::Equal));
        pop.dedup_by(|a, b| a.replicas == b.replicas && a.formats == b.formats);
        pop.truncate(POPULATION);
        generations = n + 1;
        if let Some(b) = &bar {
            b.set_position(u64::from(generations));
            b.set_message(format!("{:.3} ms", pop[0].score.0 / 1e6));
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let best = &pop[0];
    let best_mapping = p.mapping(&best.replicas, &best.formats);
    let formats_changed = best.formats.iter().filter(|&&f| f > 0).count();
    for (&i, l) in best_mapping.layers.iter() {
        m.layers.insert(i, l.clone());
    }
    Ok(SearchReport {
        formats_changed,
        generations,
        evaluations,
        seed_ns,
        seed_strategy,
        best_ns: best.score.0,
        seconds: started.elapsed().as_secs_f64(),
        out_of_time,
    })
}

/// One child: crossover of two tournament winners (or a copy of one), then mutations.
fn child(p: &Problem, pop: &[Scored], rng: &mut Rng) -> (Vec<u32>, Vec<u8>) {
    let pick = |rng: &mut Rng| {
        let (a, b) = (rng.below(pop.len()), rng.below(pop.len()));
        &pop[a.min(b)] // sorted: the lower index is the better
    };
    let a = pick(rng);
    // A layer's format and replicas go together (replicas suit the format's crossbars).
    let (mut r, mut f): (Vec<u32>, Vec<u8>) = if rng.chance(0.6) {
        let b = pick(rng);
        (0..a.replicas.len())
            .map(|k| if rng.chance(0.5) { (a.replicas[k], a.formats[k]) } else { (b.replicas[k], b.formats[k]) })
            .unzip()
    } else {
        (a.replicas.clone(), a.formats.clone())
    };
    let n = r.len();
    // Another format for one layer, its replicas scaled to the same crossbars.
    let open: Vec<usize> = (0..n).filter(|&k| p.options[k].len() > 1).collect();
    if !open.is_empty() && rng.chance(0.3) {
        let k = open[rng.below(open.len())];
        let now = usize::from(f[k]);
        let next = (now + 1 + rng.below(p.options[k].len() - 1)) % p.options[k].len();
        let (x0, x1) = (p.options[k][now].xbars_per_replica().max(1), p.options[k][next].xbars_per_replica().max(1));
        r[k] = ((u64::from(r[k]) * x0 / x1) as u32).clamp(1, p.max[k]);
        f[k] = next as u8;
    }
    let mutations = 1 + rng.below(3);
    for _ in 0..mutations {
        let k = match (rng.below(4), a.grow, a.shrink) {
            (0, Some(k), _) => {
                r[k] = (r[k] + 1 + r[k] / 4).min(p.max[k]);
                continue;
            }
            (1, _, Some(k)) => {
                r[k] = (r[k] - r[k] / 4).max(1).min(r[k].saturating_sub(1).max(1));
                continue;
            }
            _ => rng.below(n),
        };
        r[k] = match rng.below(4) {
            0 => r[k] + 1,
            1 => r[k].saturating_sub(1),
            2 => r[k].saturating_mul(2),
            _ => r[k] / 2,
        }
        .clamp(1, p.max[k]);
    }
    (r, f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Conv2d, Node, Op, SrcId};
    use crate::mapping::LayerMap;
    use crate::unfold::Format;

    /// Three 3x3 convolutions on 16x16 maps, partitioned for pimcomp-default.
    fn chain() -> (Graph, Mapping, Arch) {
        let arch = Arch::preset("pimcomp-default").unwrap();
        let mut g = Graph::new("main");
        let mut x = g.add_value(vec![1, 16, 16, 16]);
        g.inputs.push(x);
        for k in 0..3 {
            let c = if k == 1 { 64 } else { 16 };
            let y = g.add_value(vec![1, c, 16, 16]);
            let conv = Conv2d {
                name: format!("c{k}"),
                weight: format!("c{k}.w"),
                bias: None,
                kernel: [3, 3],
                strides: [1, 1],
                pads: [1; 4],
                dilations: [1, 1],
                group: 1,
                bn: None,
                act: None,
            };
            g.nodes.push(Node { op: Op::Conv2d(conv), inputs: vec![x], output: y, src: SrcId::NONE });
            x = y;
        }
        g.outputs.push(x);
        let mut m = Mapping::default();
        for (i, n) in g.crossbar_layers() {
            let u = super::super::format::unfolding_in(&g, n, Format::IK2_O_1, 128, &arch, None).unwrap();
            m.layers.insert(i, LayerMap::new(u, 128, &arch));
        }
        (g, m, arch)
    }

    fn run(seed: u64, threads: usize) -> (Mapping, SearchReport) {
        let (g, mut m, arch) = chain();
        let search = SearchOptions { seed, generations: 6, time_budget: Duration::from_secs(600), progress: false };
        let opts = ReplicateOptions { max_replicas: None, search };
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let report = pool.install(|| super::search(&g, &mut m, &arch, &opts)).unwrap();
        (m, report)
    }

    #[test]
    fn the_same_seed_gives_the_same_replicas_on_any_thread_count() {
        let (a, ra) = run(7, 1);
        let (b, rb) = run(7, 2);
        assert_eq!(a, b);
        assert_eq!((ra.best_ns, ra.generations, ra.evaluations), (rb.best_ns, rb.generations, rb.evaluations));
        assert!(!ra.out_of_time);
    }

    #[test]
    fn the_search_never_returns_worse_than_its_seeds() {
        let (mut m, report) = run(3, 2);
        assert!(report.best_ns <= report.seed_ns, "{report:?}");
        // And what it returns is what it scored: placed, the estimate agrees.
        let (g, _, arch) = chain();
        FirstFit.place(&g, &mut m, &arch).unwrap();
        assert_eq!(period::estimate(&g, &m, &arch).ns(), report.best_ns);
        assert!(report.summary().contains("estimated period"), "{}", report.summary());
    }

    /// The search may give a 3x3 layer another unfolding format, but never one whose format
    /// was forced.
    #[test]
    fn forced_formats_stay() {
        let (g, mut m, arch) = chain();
        for l in m.layers.values_mut() {
            l.format_fixed = true;
        }
        let search = SearchOptions { seed: 2, generations: 10, time_budget: Duration::from_secs(600), progress: false };
        let report = super::search(&g, &mut m, &arch, &ReplicateOptions { max_replicas: None, search }).unwrap();
        assert_eq!(report.formats_changed, 0);
        assert!(m.layers.values().all(|l| l.unfolding.format == Format::IK2_O_1 && l.format_fixed));
        // Unforced, the formats are open: each layer has the other candidates.
        let (g, base, arch) = chain();
        let opts = ReplicateOptions { max_replicas: None, search };
        let mut free = base.clone();
        let report = super::search(&g, &mut free, &arch, &opts).unwrap();
        let changed = free.layers.values().filter(|l| l.unfolding.format != Format::IK2_O_1).count();
        assert_eq!(changed, report.formats_changed);
    }

    proptest::proptest! {
        /// Whatever replica counts a search tries: when first-fit places them, the mapping
        /// keeps the pim_core invariants (every array group on a core once, capacities,
        /// every window allocated once), and the estimate is a finite period at least the
        /// server's and every core's own time.
        #[test]
        fn every_placed_chromosome_is_a_valid_mapping(r in proptest::collection::vec(1u32..=256, 3)) {
            let (g, base, arch) = chain();
            let options = base.layers.values().map(|l| vec![l.clone()]).collect();
            let p = Problem { g: &g, base: &base, arch: &arch, layers: base.layers.keys().copied().collect(), max: vec![256; 3], options };
            let mut m = p.mapping(&r, &[0; 3]);
            if FirstFit.place(&g, &mut m, &arch).is_ok() {
                let errors = crate::mapping::check(&g, &m, &arch, true);
                proptest::prop_assert!(errors.is_empty(), "{:?}", errors.iter().map(|e| &e.message).collect::<Vec<_>>());
                let est = period::estimate(&g, &m, &arch);
                let t = est.ns();
                proptest::prop_assert!(t.is_finite() && t >= est.global_ns && est.per_core.iter().all(|&c| t >= c));
                proptest::prop_assert_eq!(p.score(r.clone(), vec![0; 3]).map(|s| s.score.0), Some(t));
            }
        }
    }
}
