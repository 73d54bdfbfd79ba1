//! Memory allocation at the ISA level: every local buffer gets an address in its core's
//! scratchpad and every global buffer an address in global memory, both capacities enforced.
//!
//! Local buffers whose lifetimes do not overlap share memory. A buffer lives from the first
//! to the last top-level statement of the core that uses it (a buffer used inside a loop lives
//! for the whole loop), so reuse is safe for any program, hand-written ones included.
//! Global buffers are laid out one after another, 64-byte aligned.

use crate::arch::Arch;
use crate::isa::{Base, CoreProgram, Program, Stmt};

fn align(x: u64, a: u64) -> u64 {
    x.div_ceil(a) * a
}

/// Allocates every buffer of the program; an error names the core and what did not fit.
pub fn allocate(p: &mut Program, arch: &Arch) -> Result<(), String> {
    let mut next = 0u64;
    for g in &mut p.globals {
        g.addr = Some(next);
        next = align(next + g.size, 64);
    }
    if next > arch.global_memory_bytes() {
        return Err(format!(
            "global buffers need {next} bytes, global memory has {} bytes",
            arch.global_memory_bytes()
        ));
    }
    let eb = arch.activation_bytes() as u64;
    for c in &mut p.cores {
        allocate_core(c, arch.local_memory_bytes(), eb)?;
    }
    Ok(())
}

/// [first, last] top-level statement using each buffer.
fn live_ranges(c: &CoreProgram) -> Vec<Option<(usize, usize)>> {
    let mut ranges: Vec<Option<(usize, usize)>> = vec![None; c.buffers.len()];
    for (i, s) in c.body.iter().enumerate() {
        crate::isa::visit_addrs(std::slice::from_ref::<Stmt>(s), &mut |a| {
            if let Base::Local(b) = a.base {
                if let Some(r) = ranges.get_mut(b as usize) {
                    *r = Some(match *r {
                        None => (i, i),
                        Some((lo, hi)) => (lo.min(i), hi.max(i)),
                    });
                }
            }
        });
    }
    ranges
}

fn allocate_core(c: &mut CoreProgram, capacity: u64, eb: u64) -> Result<(), String> {
    let ranges = live_ranges(c);
    // Larger and earlier buffers first; each goes to the lowest address free during its life.
    let mut order: Vec<usize> = (0..c.buffers.len()).collect();
    order.sort_by_key(|&b| (ranges[b].map(|r| r.0).unwrap_or(usize::MAX), std::cmp::Reverse(c.buffers[b].size)));
    let mut placed: Vec<(u64, u64, (usize, usize))> = vec![]; // (addr, end, live range)
    let mut peak = 0u64;
    for b in order {
        let size = align(c.buffers[b].size, eb);
        let live = ranges[b].unwrap_or((usize::MAX, usize::MAX));
        let mut conflicts: Vec<(u64, u64)> = placed
            .iter()
            .filter(|(_, _, r)| !(r.1 < live.0 || live.1 < r.0) || live.0 == usize::MAX)
            .map(|&(a, e, _)| (a, e))
            .collect();
        conflicts.sort_unstable();
        let mut addr = 0u64;
        for (a, e) in conflicts {
            if addr + size <= a {
                break;
            }
            addr = addr.max(e);
        }
        c.buffers[b].addr = Some(addr);
        placed.push((addr, addr + size, live));
        peak = peak.max(addr + size);
    }
    if peak > capacity {
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

    #[test]
    fn a_buffer_used_in_a_loop_lives_for_the_whole_loop() {
        let mut c = CoreProgram {
            id: crate::arch::CoreId(0),
            line: Default::default(),
            ags: vec![],
            buffers: (0..2)
                .map(|i| LocalBuf { name: format!("b{i}"), line: Default::default(), size: 8, addr: None })
                .collect(),
            body: vec![Stmt::Repeat { start: 0, count: 3, body: vec![lldi(0), lldi(1)] }],
        };
        allocate_core(&mut c, 100, 2).unwrap();
        assert_ne!(c.buffers[0].addr, c.buffers[1].addr);
    }
}
