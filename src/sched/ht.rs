//! The high-throughput (batch pipeline) policy: every core works through the ops it takes
//! part in, in graph order, each op preceded by the tokens it needs.
//!
//! No deadlock: every core runs its part in (op, unit, window) order (the units of a layer
//! in one order for all cores, see `tasks`), and every message
//! pairs two cores at the same point of that order (the tokens of one op in a fixed order; partial sums of one window from helpers to the owner, in core
//! order). All cores thus perform their synchronous rendezvous in one global order, so the
//! `send`/`recv` of the ISA cannot deadlock; repeating that order once per sample is again
//! one global order, so pipelined samples cannot deadlock either.
//!
//! Which tokens: a reader must load a value only after its writers stored it (read after
//! write). A token from writer to reader guarantees that, and so does any chain of
//! rendezvous from the writer's task to the reader's op: the policy follows what every core
//! knows of every other with vector clocks along the order and drops the tokens the order
//! already implies. A residual add, for one, learns that the block's input is stored through
//! the two convolutions between, so the core that wrote the input is not tied to the add.
//!
//! How many copies of each value: with samples pipelined, a core starts sample k+1 while
//! others still work on sample k, and the writer's stores of sample k+1 must not reach a
//! copy of the buffer a reader still loads. A rendezvous is a lockstep: when core x has
//! passed its rendezvous with y in sample k, y has passed it too, so y finished sample k-1.
//! Along a path of d cores that rendezvous every sample (tokens and partial sums), when the
//! writer is in sample k+1 the reader finished sample k-d; with `d + 1` copies (sample k
//! uses copy k mod (d + 1)) the writer's next stores go to the copy nobody reads any more.
//! [`Schedule::copies`] is that number per value: 2 for a direct token, more for a value
//! whose readers learn of it through a chain.

use super::tasks::{OpTasks, Task, TaskGraph};
use super::SchedError;
use crate::arch::CoreId;
use crate::graph::NodeId;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

/// One step of the schedule; the emitter appends it to the programs of the cores involved.
#[derive(Debug, Clone, Copy)]
pub enum Step<'t> {
    /// Before `op` starts, `from` hands a token to `to` (a `send` on one, a `recv` on the
    /// other).
    Token {
        op: &'t OpTasks,
        from: CoreId,
        to: CoreId,
    },
    Task {
        op: &'t OpTasks,
        task: &'t Task,
    },
}

/// The order of the batch pipeline and what it needs of global memory.
pub struct Schedule<'t> {
    pub steps: Vec<Step<'t>>,
    /// Copies of each op's output buffer (one per sample in flight), for the ops whose
    /// output other cores read.
    pub copies: BTreeMap<NodeId, u32>,
    /// Tokens the order implied and the policy dropped.
    pub implied: usize,
}

/// Vector clocks: `known[c][x]` is the last event of core `x` that core `c`'s current point
/// comes after (events count each core's tasks and rendezvous, in program order).
struct Clocks {
    index: HashMap<CoreId, usize>,
    known: Vec<Vec<u32>>,
}

impl Clocks {
    fn new(tg: &TaskGraph) -> Clocks {
        let mut cores = BTreeSet::new();
        for op in &tg.ops {
            cores.extend(op.tasks.iter().map(Task::core));
            cores.extend(op.tokens.iter().flat_map(|t| [t.from, t.to]));
        }
        let index: HashMap<CoreId, usize> = cores.into_iter().enumerate().map(|(k, c)| (c, k)).collect();
        let n = index.len();
        Clocks { index, known: vec![vec![0; n]; n] }
    }

    fn at(&self, c: CoreId) -> usize {
        self.index[&c]
    }

    /// Core `c` does something; returns its new event number.
    fn tick(&mut self, c: usize) -> u32 {
        self.known[c][c] += 1;
        self.known[c][c]
    }

    /// `to` learns everything `from` knows.
    fn learn(&mut self, to: usize, from: usize) {
        let from = self.known[from].clone();
        merge(&mut self.known[to], &from);
    }
}

/// `a` becomes the element-wise maximum of `a` and `b`.
fn merge(a: &mut [u32], b: &[u32]) {
    for (x, &y) in a.iter_mut().zip(b) {
        *x = (*x).max(y);
    }
}

/// The global order of the batch pipeline, without the tokens it implies, and the copies
/// every value needs.
pub fn order(tg: &TaskGraph) -> Result<Schedule<'_>, SchedError> {
    let mut clocks = Clocks::new(tg);
    let n = clocks.index.len();
    // The event after which each core has written its part of each op's output (by index).
    let mut written: HashMap<(usize, usize), u32> = HashMap::new();
    // Pairs of cores that rendezvous in every sample.
    let mut lockstep: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    let mut steps = vec![];
    let mut implied = 0;
    for (index, op) in tg.ops.iter().enumerate() {
        // Tokens for the latest inputs first: their writers tend to know of the earlier
        // ones (a residual add hears of the block's input from the convolution before it).
        let mut tokens: Vec<&super::tasks::Token> = op.tokens.iter().collect();
        tokens.sort_by_key(|t| (std::cmp::Reverse(t.writes.iter().max().copied()), t.from, t.to));
        for t in tokens {
            let (w, r) = (clocks.at(t.from), clocks.at(t.to));
            let needed = t.writes.iter().filter_map(|&o| written.get(&(o, w))).copied().max().unwrap_or(0);
            if clocks.known[r][w] >= needed {
                implied += 1;
                continue;
            }
            steps.push(Step::Token { op, from: t.from, to: t.to });
            clocks.tick(w);
            clocks.tick(r);
            // A rendezvous: each side knows what the other knew.
            clocks.learn(r, w);
            clocks.learn(w, r);
            lockstep[w].insert(r);
            lockstep[r].insert(w);
        }
        // Helpers send their partial sums to the owner, the last one at the end of their
        // task: once done, the owner knows all a helper knew then. (A helper learns only the
        // owner's state before its last stores, which the clocks leave out.)
        let mut sent = vec![];
        for task in &op.tasks {
            steps.push(Step::Task { op, task });
            let c = clocks.at(task.core());
            let e = clocks.tick(c);
            written.insert((index, c), e);
            if let Task::Layer { owner, .. } = *task {
                let o = clocks.at(owner);
                if o != c {
                    sent.push((o, clocks.known[c].clone()));
                    lockstep[c].insert(o);
                    lockstep[o].insert(c);
                }
            }
        }
        for (o, helper) in sent {
            merge(&mut clocks.known[o], &helper);
        }
    }
    let copies = copies(tg, &clocks, &lockstep)?;
    Ok(Schedule { steps, copies, implied })
}

/// Copies of each read value: 1 + the longest lockstep distance from one of its writers to
/// one of its readers on another core.
fn copies(tg: &TaskGraph, clocks: &Clocks, lockstep: &[BTreeSet<usize>]) -> Result<BTreeMap<NodeId, u32>, SchedError> {
    // The cores that store each op's output: a layer's owners, a vector op's cores.
    let writes = |t: &Task| match *t {
        Task::Layer { core, owner, .. } => core == owner,
        Task::Vector { .. } => true,
    };
    let writers: HashMap<NodeId, BTreeSet<usize>> = tg
        .ops
        .iter()
        .map(|op| (op.node, op.tasks.iter().filter(|t| writes(t)).map(|t| clocks.at(t.core())).collect()))
        .collect();
    let mut readers: BTreeMap<NodeId, BTreeSet<usize>> = BTreeMap::new();
    for op in &tg.ops {
        for &v in &op.reads {
            readers.entry(v).or_default().extend(op.tasks.iter().map(|t| clocks.at(t.core())));
        }
    }
    let mut distance: HashMap<usize, Vec<u32>> = HashMap::new();
    let mut out = BTreeMap::new();
    for (v, rs) in readers {
        let Some(ws) = writers.get(&v) else { continue };
        let mut d_max = 0u32;
        for &w in ws {
            let dist = distance.entry(w).or_insert_with(|| bfs(lockstep, w));
            for &r in rs.iter().filter(|&&r| r != w) {
                match dist[r] {
                    u32::MAX => {
                        return Err(SchedError::at(
                            v,
                            "internal: a reader of this value is not synchronized with its writer",
                        ))
                    }
                    d => d_max = d_max.max(d),
                }
            }
        }
        if d_max > 0 {
            let copies = d_max.saturating_add(1);
            if copies > 64 {
                return Err(SchedError::at(
                    v,
                    format!("this value would need {copies} copies in global memory (at most 64)"),
                ));
            }
            out.insert(v, copies);
        }
    }
    Ok(out)
}

fn bfs(adj: &[BTreeSet<usize>], from: usize) -> Vec<u32> {
    let mut d = vec![u32::MAX; adj.len()];
    d[from] = 0;
    let mut q = VecDeque::from([from]);
    while let Some(x) = q.pop_front() {
        for &y in &adj[x] {
            if d[y] == u32::MAX {
                d[y] = d[x] + 1;
                q.push_back(y);
            }
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::tasks::Token;

    /// An op of one vector task; the tests' ops are nodes 0, 1, ... in order, so a token's
    /// writes (op indices) are node numbers.
    fn vector(node: u32, core: u32, reads: &[u32], tokens: &[(u32, u32, &[u32])]) -> OpTasks {
        OpTasks {
            node: NodeId(node),
            tokens: tokens
                .iter()
                .map(|&(from, to, writes)| Token {
                    from: CoreId(from),
                    to: CoreId(to),
                    writes: writes.iter().map(|&o| o as usize).collect(),
                })
                .collect(),
            reads: reads.iter().map(|&v| NodeId(v)).collect(),
            tasks: vec![Task::Vector { core: CoreId(core), index: 0, of: 1, rows: None }],
        }
    }

    fn tokens(s: &Schedule<'_>) -> Vec<(u32, u32)> {
        s.steps
            .iter()
            .filter_map(|s| match *s {
                Step::Token { from, to, .. } => Some((from.0, to.0)),
                Step::Task { .. } => None,
            })
            .collect()
    }

    /// A residual block, one op per core: a (core 0) -> b (1) -> c (2) -> d (3), and d also
    /// reads a.
    fn residual() -> TaskGraph {
        TaskGraph {
            ops: vec![
                vector(0, 0, &[], &[]),
                vector(1, 1, &[0], &[(0, 1, &[0])]),
                vector(2, 2, &[1], &[(1, 2, &[1])]),
                vector(3, 3, &[2, 0], &[(0, 3, &[0]), (2, 3, &[2])]),
            ],
        }
    }

    #[test]
    fn a_token_the_chain_implies_is_dropped_and_its_value_gets_a_copy_per_hop() {
        let tg = residual();
        let s = order(&tg).unwrap();
        // d learns that a is stored through b and c: core 0 hands no token to core 3.
        assert_eq!(tokens(&s), vec![(0, 1), (1, 2), (2, 3)]);
        assert_eq!(s.implied, 1);
        // a's readers: core 1 one hop away, core 3 three: four copies. b, c: two.
        let want: BTreeMap<NodeId, u32> = [(NodeId(0), 4), (NodeId(1), 2), (NodeId(2), 2)].into();
        assert_eq!(s.copies, want);
    }

    #[test]
    fn a_band_is_implied_by_a_chain_that_started_after_it_not_after_the_writers_latest() {
        // The element pipeline: a's band 0 (op 0, core 0) is read by b (op 1, core 1), then
        // core 0 stores a's band 1 (op 2), and c (op 3, core 2) reads b and a's band 0. c
        // hears of band 0 through b, though not of band 1 (stored after the rendezvous with
        // b's core): band 0 is all it reads, so core 0 hands it no token.
        let tg = TaskGraph {
            ops: vec![
                vector(0, 0, &[], &[]),
                vector(1, 1, &[0], &[(0, 1, &[0])]),
                vector(0, 0, &[], &[]),
                vector(2, 2, &[1, 0], &[(1, 2, &[1]), (0, 2, &[0])]),
            ],
        };
        let s = order(&tg).unwrap();
        assert_eq!(tokens(&s), vec![(0, 1), (1, 2)]);
        assert_eq!(s.implied, 1);
        // Reading band 1 as well, c needs core 0's token.
        let mut tg = tg;
        tg.ops[3].tokens[1].writes = vec![0, 2];
        assert_eq!(tokens(&order(&tg).unwrap()), vec![(0, 1), (0, 2), (1, 2)]);
    }

    #[test]
    fn a_token_nothing_implies_is_kept() {
        // d reads a and c, but c never heard of a: c's chain starts at a core-2 op of its own.
        let tg = TaskGraph {
            ops: vec![
                vector(0, 0, &[], &[]),
                vector(1, 2, &[], &[]),
                vector(2, 3, &[1, 0], &[(0, 3, &[0]), (2, 3, &[1])]),
            ],
        };
        let s = order(&tg).unwrap();
        assert_eq!(tokens(&s), vec![(2, 3), (0, 3)]);
        assert_eq!(s.implied, 0);
        let want: BTreeMap<NodeId, u32> = [(NodeId(0), 2), (NodeId(1), 2)].into();
        assert_eq!(s.copies, want);
    }

    #[test]
    fn a_helper_learns_nothing_from_its_owner() {
        // A layer on cores 0 (owner) and 1 (helper), read by core 2 (op 1) and then by core 1
        // (op 2): the helper never saw the owner's stores, so the owner's token to core 1
        // stays, while core 2's knowledge does not reach core 1 either.
        let layer = |core: u32| Task::Layer {
            core: CoreId(core),
            replica: 0,
            unit: 0,
            groups: vec![0],
            windows: (0, 4),
            owner: CoreId(0),
            helpers: vec![CoreId(1)],
            stream: None,
        };
        let tg = TaskGraph {
            ops: vec![
                OpTasks { node: NodeId(0), tokens: vec![], reads: vec![], tasks: vec![layer(0), layer(1)] },
                vector(1, 2, &[0], &[(0, 2, &[0])]),
                vector(2, 1, &[0], &[(0, 1, &[0])]),
            ],
        };
        let s = order(&tg).unwrap();
        assert_eq!(tokens(&s), vec![(0, 2), (0, 1)]);
    }
}
