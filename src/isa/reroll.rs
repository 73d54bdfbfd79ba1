//! Folding repeated, address-shifted runs of statements into `Repeat` loops (`--reroll`), and
//! the shift comparison the scheduler's loop emitter uses.
//!
//! A run of blocks `B, B+d, B+2d, ...` that differ only by constant address strides becomes
//! `repeat n { B + d*i }`; folding rows of windows and then the rows yields the nested loops of
//! a regular schedule. Cost is linear in the number of instructions.

use super::{Addr, Inst, Stmt};

/// Visits every address in `stmts` in a fixed traversal order.
pub fn visit_addrs_mut(stmts: &mut [Stmt], f: &mut impl FnMut(&mut Addr)) {
    for s in stmts {
        match s {
            Stmt::Inst(i, _) => {
                for a in i.addrs_mut() {
                    f(a);
                }
            }
            Stmt::Repeat { body, .. } => visit_addrs_mut(body, f),
            Stmt::Comment(_) | Stmt::Task(_) => {}
        }
    }
}

/// Same instruction apart from address offsets: the same opcode and attribute values.
fn same_shape_inst(a: &Inst, b: &Inst) -> bool {
    a.opcode() == b.opcode() && a.attrs().iter().zip(b.attrs().iter()).all(|(x, y)| x.same(*y))
}

/// If `b` equals `a` with every address offset shifted, appends the shifts to `delta`.
pub fn shift_diff(a: &[Stmt], b: &[Stmt], delta: &mut Vec<i64>) -> bool {
    diff(a, b, delta)
}

fn diff(a: &[Stmt], b: &[Stmt], delta: &mut Vec<i64>) -> bool {
    if a.len() != b.len() {
        return false;
    }
    for (x, y) in a.iter().zip(b) {
        match (x, y) {
            (Stmt::Inst(i, _), Stmt::Inst(j, _)) => {
                if !same_shape_inst(i, j) {
                    return false;
                }
                for (p, q) in i.addrs().into_iter().zip(j.addrs()) {
                    if p.base != q.base || p.terms != q.terms {
                        return false;
                    }
                    match q.offset.checked_sub(p.offset) {
                        Some(d) => delta.push(d),
                        None => return false,
                    }
                }
            }
            (Stmt::Repeat { start: s1, count: c1, body: b1 }, Stmt::Repeat { start: s2, count: c2, body: b2 }) => {
                if s1 != s2 || c1 != c2 || !diff(b1, b2, delta) {
                    return false;
                }
            }
            (Stmt::Comment(a), Stmt::Comment(b)) if a == b => {}
            (Stmt::Task(a), Stmt::Task(b)) if a == b => {}
            _ => return false,
        }
    }
    true
}

/// Longest loop body (in statements of the level being folded) [`reroll`] looks for in one
/// pass. Longer periods are found in later passes, once inner runs have been folded.
const MAX_PERIOD: usize = 64;

/// Finds repeated, address-strided runs in a flat (or partly structured) body and folds them
/// into nested `Repeat` loops: the inverse of expanding a program. The result executes exactly
/// the same instruction stream.
///
/// Each pass scans the statements once; at each position it tries the periods `p` at which the
/// same statement shape recurs (up to [`MAX_PERIOD`]) and keeps the one whose run `B, B+d,
/// B+2d, ...` (`k` copies) saves most statements, `p * (k - 1)`; a folded body is rerolled in
/// turn. Passes repeat until nothing changes, so rows of windows become loops of loops.
pub fn reroll(body: Vec<Stmt>) -> Vec<Stmt> {
    reroll_at(body, 0)
}

fn reroll_at(mut items: Vec<Stmt>, level: u8) -> Vec<Stmt> {
    loop {
        let (next, changed) = fold_pass(items, level);
        items = next;
        if !changed {
            return items;
        }
    }
}

/// One scan over `items`, which sit at loop depth `level` (a loop made here counts at `level`).
fn fold_pass(items: Vec<Stmt>, level: u8) -> (Vec<Stmt>, bool) {
    let n = items.len();
    let sigs: Vec<u64> = items.iter().map(shape_hash).collect();
    // next_same[i]: the next position with the same shape as i.
    let mut next_same = vec![usize::MAX; n];
    let mut last: std::collections::HashMap<u64, usize> = std::collections::HashMap::with_capacity(n.min(1 << 16));
    for i in (0..n).rev() {
        if let Some(&j) = last.get(&sigs[i]) {
            next_same[i] = j;
        }
        last.insert(sigs[i], i);
    }
    let mut out = Vec::with_capacity(n);
    let mut items: Vec<Option<Stmt>> = items.into_iter().map(Some).collect();
    let get = |items: &[Option<Stmt>], a: usize, b: usize| -> Vec<Stmt> {
        items[a..b].iter().map(|s| s.clone().expect("not taken yet")).collect()
    };
    let mut changed = false;
    let (mut delta, mut step) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < n {
        // (covered statements, period, count, deltas)
        let mut best: Option<(usize, usize, usize, Vec<i64>)> = None;
        let mut j = next_same[i];
        while j != usize::MAX && j - i <= MAX_PERIOD && i + 2 * (j - i) <= n {
            let p = j - i;
            j = next_same[j];
            if sigs[i..i + p] != sigs[i + p..i + 2 * p] {
                continue;
            }
            delta.clear();
            if !diff_opt(&items[i..i + p], &items[i + p..i + 2 * p], &mut delta) {
                continue;
            }
            let mut k = 2;
            while i + (k + 1) * p <= n && sigs[i + (k - 1) * p..i + k * p] == sigs[i + k * p..i + (k + 1) * p] {
                step.clear();
                if !diff_opt(&items[i + (k - 1) * p..i + k * p], &items[i + k * p..i + (k + 1) * p], &mut step)
                    || step != delta
                {
                    break;
                }
                k += 1;
            }
            // Keep the run that removes most statements, p * (k - 1): a long run of a short
            // body beats two copies of a long one that happen to be shift-equal too.
            if best.as_ref().is_none_or(|b| p * (k - 1) > b.1 * (b.2 - 1)) {
                best = Some((p * k, p, k, delta.clone()));
            }
        }
        match best {
            Some((covered, p, k, delta)) => {
                let mut body = get(&items, i, i + p);
                shift_levels_from(&mut body, level, 1);
                let mut d = 0;
                visit_addrs_mut(&mut body, &mut |a| {
                    a.add_term(level, delta[d]).expect("the new loop level has no term yet");
                    d += 1;
                });
                let body = reroll_at(body, level + 1);
                out.push(Stmt::Repeat { start: 0, count: k as i64, body });
                for s in &mut items[i..i + covered] {
                    *s = None;
                }
                i += covered;
                changed = true;
            }
            None => {
                out.push(items[i].take().expect("not taken yet"));
                i += 1;
            }
        }
    }
    (out, changed)
}

fn diff_opt(a: &[Option<Stmt>], b: &[Option<Stmt>], delta: &mut Vec<i64>) -> bool {
    a.iter().zip(b).all(|(x, y)| match (x, y) {
        (Some(x), Some(y)) => diff(std::slice::from_ref(x), std::slice::from_ref(y), delta),
        _ => false,
    })
}

/// Shifts loop levels `>= from` by `by` (the statements moved into a new loop at `from`).
fn shift_levels_from(stmts: &mut [Stmt], from: u8, by: i32) {
    visit_addrs_mut(stmts, &mut |a| {
        for t in &mut a.terms {
            if t.0 >= from {
                t.0 = (t.0 as i32 + by) as u8;
            }
        }
    });
}

/// A hash equal for statements that differ only by address offsets (see [`diff`]).
fn shape_hash(s: &Stmt) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    fn walk(s: &Stmt, h: &mut impl Hasher) {
        match s {
            Stmt::Inst(i, _) => {
                i.opcode().hash(h);
                for v in i.attrs() {
                    match v {
                        crate::isa::AttrValue::Int(x) => x.hash(h),
                        crate::isa::AttrValue::Flag(f) => f.hash(h),
                        crate::isa::AttrValue::Float(f) => f.to_bits().hash(h),
                    }
                }
                for a in i.addrs() {
                    (a.base, &a.terms).hash(h);
                }
            }
            Stmt::Repeat { start, count, body } => {
                (start, count, body.len()).hash(h);
                for b in body {
                    walk(b, h);
                }
            }
            Stmt::Comment(c) => (&c.text, c.trailing).hash(h),
            Stmt::Task(t) => t.hash(h),
        }
    }
    walk(s, &mut h);
    h.finish()
}

#[cfg(test)]
mod reroll_tests {
    use super::*;
    use crate::isa::{Addr, Line, VecOp};

    fn inst(i: Inst) -> Stmt {
        Stmt::Inst(i, Line::NONE)
    }

    /// An 8x8 grid of conv windows (5 strided loads, fixed-address compute, a store) rolls
    /// into rows of windows of loads, not into shift-equal but irregular groups of windows.
    #[test]
    fn conv_windows_roll_into_a_loop_nest() {
        let mut flat = vec![];
        for r in 0..8 {
            for c in 0..8 {
                for k in 0..5 {
                    flat.push(inst(Inst::Ld {
                        rd: Addr::local(0, 60 * k),
                        rs1: Addr::global(0, 144 * r + 12 * c + 144 * k),
                        size: 60,
                    }));
                }
                flat.push(inst(Inst::Mvmul {
                    rd: Addr::local(1, 0),
                    rs1: Addr::local(0, 0),
                    group: 1,
                    relu: false,
                    mbiw: 8,
                }));
                flat.push(inst(Inst::Vec {
                    op: VecOp::Vrelu,
                    rd: Addr::local(1, 0),
                    rs1: Addr::local(1, 0),
                    rs2: None,
                    len: 16,
                }));
                flat.push(inst(Inst::St { rd: Addr::global(1, 256 * r + 32 * c), rs1: Addr::local(1, 0), size: 32 }));
            }
        }
        let out = reroll(flat);
        let [Stmt::Repeat { count: 8, body: rows, .. }] = out.as_slice() else { panic!("{out:#?}") };
        let [Stmt::Repeat { count: 8, body: window, .. }] = rows.as_slice() else { panic!("{rows:#?}") };
        let Stmt::Repeat { count: 5, body: loads, .. } = &window[0] else { panic!("{window:#?}") };
        let Stmt::Inst(Inst::Ld { rs1, .. }, _) = &loads[0] else { panic!() };
        assert_eq!(rs1.terms, vec![(0, 144), (1, 12), (2, 144)]);
        assert_eq!(window.len(), 4);
    }
}
