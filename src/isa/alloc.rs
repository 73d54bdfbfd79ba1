//! Memory allocation at the ISA level: every local buffer gets an address in its core's
//! scratchpad and every global buffer an address in global memory, both capacities enforced.
//!
//! Local buffers whose lifetimes do not overlap share memory. A buffer lives from the first to
//! the last instruction that uses it, in program order with loops as written; a use inside a
//! loop keeps the buffer alive for the whole loop unless its value provably does not outlive
//! an iteration (see [`iteration_local`]). The analysis is sound for any program, hand-written
//! ones included. Global buffers are laid out one after another, 64-byte aligned.

use crate::arch::Arch;
use crate::isa::inst::Access;
use crate::isa::{Base, CoreProgram, Program, Stmt};

fn align(x: u64, a: u64) -> u64 {
    x.div_ceil(a).saturating_mul(a)
}

/// Allocates every buffer of the program; an error names the core and what did not fit.
pub fn allocate(p: &mut Program, arch: &Arch) -> Result<(), String> {
    let mut next = 0u64;
    for g in &mut p.globals {
        g.addr = Some(next);
        next = next
            .checked_add(g.footprint())
            .and_then(|e| e.checked_next_multiple_of(64))
            .ok_or_else(|| format!("global buffers need more than 2^64 bytes (at '{}')", g.name))?;
    }
    if next > arch.global_memory_bytes() {
        return Err(format!(
            "global buffers need {next} bytes, global memory has {} bytes",
            arch.global_memory_bytes()
        ));
    }
    let eb = crate::isa::verify::element_bytes(p, arch) as u64;
    for c in &mut p.cores {
        allocate_core(c, arch.local_memory_bytes(), eb)?;
    }
    Ok(())
}

/// One use of a local buffer.
struct Use {
    /// Position of the instruction in program order (loops as written).
    pos: usize,
    write: bool,
    /// The loops around it, outermost first (indices into `Walk::loops`).
    loops: Vec<usize>,
    offset: i64,
    terms: Vec<(u8, i64)>,
    bytes: i64,
}

/// A loop: the positions of its body, and its counter's level.
struct Loop {
    first: usize,
    last: usize,
    level: u8,
}

/// Uses of every buffer and the loops of a core, in program order.
struct Walk {
    uses: Vec<Vec<Use>>,
    loops: Vec<Loop>,
    pos: usize,
}

impl Walk {
    fn new(c: &CoreProgram, eb: u64) -> Walk {
        let mut w = Walk { uses: (0..c.buffers.len()).map(|_| vec![]).collect(), loops: vec![], pos: 0 };
        w.stmts(c, &c.body, &mut vec![], eb);
        w
    }

    fn stmts(&mut self, c: &CoreProgram, stmts: &[Stmt], path: &mut Vec<usize>, eb: u64) {
        for s in stmts {
            match s {
                Stmt::Inst(i, _) => {
                    let info = i.info();
                    let ag = match i {
                        crate::isa::Inst::Mvmul { group, .. } => c.ags.get(*group as usize),
                        _ => None,
                    };
                    for (k, (o, a)) in info.operands.iter().zip(i.addrs()).enumerate() {
                        if let Base::Local(b) = a.base {
                            if let Some(list) = self.uses.get_mut(b as usize) {
                                list.push(Use {
                                    pos: self.pos,
                                    write: o.access == Access::Write,
                                    loops: path.clone(),
                                    offset: a.offset,
                                    terms: a.terms.clone(),
                                    bytes: i.operand_bytes(k, eb as i64, ag),
                                });
                            }
                        }
                    }
                    self.pos += 1;
                }
                Stmt::Repeat { count, body, .. } => {
                    let id = self.loops.len();
                    self.loops.push(Loop { first: self.pos, last: self.pos, level: path.len() as u8 });
                    path.push(id);
                    if *count > 0 {
                        self.stmts(c, body, path, eb);
                    }
                    path.pop();
                    self.loops[id].last = self.pos.saturating_sub(1).max(self.loops[id].first);
                }
                Stmt::Comment(_) | Stmt::Task(_) => {}
            }
        }
    }
}

/// Whether buffer `uses` (all inside loop `l`) hold nothing from one iteration of `l` to the
/// next: every read is of bytes that writes earlier in the same iteration cover. Only writes
/// directly in the loop's body (not in an inner loop, which might run zero times) and with no
/// inner-loop terms count as covering (their bytes are exact); a read's bytes are the hull over
/// its inner loops. Reads and writes must address the buffer with the same terms of `l` and
/// the loops around it, so their offsets compare.
fn iteration_local(uses: &[&Use], l: usize, loops: &[Loop]) -> bool {
    let level = loops[l].level;
    let fixed = |u: &Use| -> Vec<(u8, i64)> { u.terms.iter().copied().filter(|t| t.0 <= level).collect() };
    let mut covered: Vec<(i64, i64)> = vec![];
    let mut key: Option<Vec<(u8, i64)>> = None;
    for u in uses {
        let k = fixed(u);
        if key.as_ref().is_some_and(|k0| *k0 != k) {
            return false;
        }
        key = Some(k);
        let direct = u.loops.last() == Some(&l);
        let inner: Vec<(u8, i64)> = u.terms.iter().copied().filter(|t| t.0 > level).collect();
        if u.write {
            if direct && inner.is_empty() {
                covered.push((u.offset, u.offset.saturating_add(u.bytes)));
            }
            continue;
        }
        // The read's hull over its inner loops (whose ranges are unknown here: any term makes
        // it unbounded, so only reads without inner terms can be covered).
        if !inner.is_empty() {
            return false;
        }
        let (lo, hi) = (u.offset, u.offset.saturating_add(u.bytes));
        covered.sort_unstable();
        let mut at = lo;
        for &(a, b) in &covered {
            if a <= at && at < b {
                at = b;
            }
            if at >= hi {
                break;
            }
        }
        if at < hi {
            return false;
        }
    }
    true
}

/// [first, last] position during which each buffer holds a value (None: never used).
fn live_ranges(c: &CoreProgram, eb: u64) -> Vec<Option<(usize, usize)>> {
    let w = Walk::new(c, eb);
    let mut ranges: Vec<Option<(usize, usize)>> =
        w.uses.iter().map(|u| Some((u.first()?.pos, u.iter().map(|x| x.pos).max()?))).collect();
    // A buffer used in a loop and outside it, or whose value may outlive an iteration, lives
    // for the whole loop. Each buffer visits the loops its uses are in (not every loop of the
    // core: an element-pipeline program has tens of thousands of loops and of buffers).
    for (b, uses) in w.uses.iter().enumerate() {
        // The uses inside each loop, in program order, gathered in one pass over the uses (a
        // ring buffer of the element pipeline has thousands of uses in hundreds of loops).
        let mut inside_loop: std::collections::BTreeMap<usize, Vec<&Use>> = Default::default();
        for u in uses {
            for &l in &u.loops {
                inside_loop.entry(l).or_default().push(u);
            }
        }
        for (l, inside) in inside_loop {
            if inside.len() < uses.len() || !iteration_local(&inside, l, &w.loops) {
                let lp = &w.loops[l];
                let r = ranges[b].as_mut().expect("a used buffer has a range");
                *r = (r.0.min(lp.first), r.1.max(lp.last));
            }
        }
    }
    ranges
}

fn allocate_core(c: &mut CoreProgram, capacity: u64, eb: u64) -> Result<(), String> {
    let ranges = live_ranges(c, eb);
    // Larger and earlier buffers first; each goes to the lowest address free during its life.
    let mut order: Vec<usize> = (0..c.buffers.len()).collect();
    order.sort_by_key(|&b| (ranges[b].map(|r| r.0).unwrap_or(usize::MAX), std::cmp::Reverse(c.buffers[b].size)));
    // Addresses in u128: buffer sizes come from files and may sum past 2^64.
    let mut placed: Vec<(u128, u128, (usize, usize))> = vec![]; // (addr, end, live range)
                                                                // The placed buffers still live when the next buffer's life starts (buffers come in order
                                                                // of their start, so one that ended before it never conflicts with a later one).
    let mut active: Vec<usize> = vec![];
    let mut peak = 0u128;
    for b in order {
        let size = u128::from(align(c.buffers[b].size, eb));
        let live = ranges[b].unwrap_or((usize::MAX, usize::MAX));
        let mut conflicts: Vec<(u128, u128)> = if live.0 == usize::MAX {
            // Never used: it still needs its own bytes.
            placed.iter().map(|&(a, e, _)| (a, e)).collect()
        } else {
            active.retain(|&i| placed[i].2 .1 >= live.0);
            active.iter().map(|&i| (placed[i].0, placed[i].1)).collect()
        };
        conflicts.sort_unstable();
        let mut addr = 0u128;
        for (a, e) in conflicts {
            if addr + size <= a {
                break;
            }
            addr = addr.max(e);
        }
        c.buffers[b].addr = u64::try_from(addr).ok();
        active.push(placed.len());
        placed.push((addr, addr + size, live));
        peak = peak.max(addr + size);
    }
    if peak > u128::from(capacity) {
        let mut sizes: Vec<(u64, &str)> = c.buffers.iter().map(|b| (b.size, b.name.as_str())).collect();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        let largest: Vec<String> = sizes.iter().take(3).map(|(s, n)| format!("'{n}' {s} B")).collect();
        return Err(format!(
            "core {} needs {peak} bytes of local memory but has {capacity} (largest buffers: {})",
            c.id,
            largest.join(", ")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isa::{Addr, Inst, LocalBuf};

    fn lldi(b: u32) -> Stmt {
        Stmt::Inst(Inst::Lldi { rd: Addr::local(b, 0), size: 4, value: 0.0 }, crate::isa::Line::NONE)
    }

    #[test]
    fn buffers_with_disjoint_lifetimes_share_memory() {
        let mut c = CoreProgram {
            id: crate::arch::CoreId(0),
            line: Default::default(),
            ags: vec![],
            buffers: (0..3)
                .map(|i| LocalBuf { name: format!("b{i}"), line: Default::default(), size: 100, addr: None })
                .collect(),
            body: vec![lldi(0), lldi(1), lldi(0), lldi(2)],
        };
        allocate_core(&mut c, 1000, 2).unwrap();
        let a: Vec<u64> = c.buffers.iter().map(|b| b.addr.unwrap()).collect();
        assert_ne!(a[0], a[1], "b0 and b1 are live together");
        assert_eq!(a[2], 0, "b2 starts after b0 and b1 died: {a:?}");
        let err = allocate_core(&mut c, 150, 2).unwrap_err();
        assert!(err.contains("core 0 needs 200 bytes of local memory but has 150"), "{err}");
    }

    fn core(bufs: usize, size: u64, body: Vec<Stmt>) -> CoreProgram {
        CoreProgram {
            id: crate::arch::CoreId(0),
            line: Default::default(),
            ags: vec![],
            buffers: (0..bufs)
                .map(|i| LocalBuf { name: format!("b{i}"), line: Default::default(), size, addr: None })
                .collect(),
            body,
        }
    }

    fn fill(b: u32, bytes: u32) -> Stmt {
        Stmt::Inst(Inst::Lldi { rd: Addr::local(b, 0), size: bytes, value: 0.0 }, crate::isa::Line::NONE)
    }

    /// `dst = relu(src)` over `len` 2-byte elements.
    fn relu(dst: u32, src: u32, len: u32) -> Stmt {
        Stmt::Inst(
            Inst::Vec {
                op: crate::isa::VecOp::Vrelu,
                rd: Addr::local(dst, 0),
                rs1: Addr::local(src, 0),
                rs2: None,
                len,
            },
            crate::isa::Line::NONE,
        )
    }

    fn add(dst: u32, a: u32, b: u32, len: u32) -> Stmt {
        Stmt::Inst(
            Inst::Vec {
                op: crate::isa::VecOp::Vvadd,
                rd: Addr::local(dst, 0),
                rs1: Addr::local(a, 0),
                rs2: Some(Addr::local(b, 0)),
                len,
            },
            crate::isa::Line::NONE,
        )
    }

    #[test]
    fn phases_of_one_loop_iteration_share_memory() {
        // Each iteration fills b0 and uses it, then fills b1 and uses it: neither value
        // outlives its phase, so both fit in the same 8 bytes.
        let body =
            vec![Stmt::Repeat { start: 0, count: 3, body: vec![fill(0, 8), relu(0, 0, 4), fill(1, 8), relu(1, 1, 4)] }];
        let mut c = core(2, 8, body);
        allocate_core(&mut c, 8, 2).unwrap();
        assert_eq!(c.buffers[0].addr, c.buffers[1].addr);
    }

    #[test]
    fn a_value_carried_across_iterations_lives_for_the_whole_loop() {
        // b0 accumulates over iterations (read before it is written in each), so b1, used in
        // the middle of an iteration, must not share its memory.
        let body = vec![
            fill(0, 8),
            Stmt::Repeat { start: 0, count: 3, body: vec![add(0, 0, 2, 4), fill(1, 8), relu(1, 1, 4)] },
        ];
        let mut c = core(3, 8, body);
        c.buffers[2].size = 8;
        allocate_core(&mut c, 64, 2).unwrap();
        assert_ne!(c.buffers[0].addr, c.buffers[1].addr);
    }

    #[test]
    fn a_partly_written_buffer_is_not_iteration_local() {
        // Only 4 of the 8 bytes read are written in the iteration: the rest come from before.
        let body =
            vec![Stmt::Repeat { start: 0, count: 2, body: vec![fill(0, 4), relu(1, 0, 4), fill(2, 8), relu(2, 2, 4)] }];
        let mut c = core(3, 8, body);
        allocate_core(&mut c, 64, 2).unwrap();
        assert_ne!(c.buffers[0].addr, c.buffers[2].addr);
    }
}
