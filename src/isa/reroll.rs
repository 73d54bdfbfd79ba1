//! Folding repeated, address-shifted blocks into `Repeat` loops.
//!
//! The scheduler produces one block of instructions per task (one conv window, one pooling
//! row, ...). Neighbouring tasks usually differ only by constant address strides, so a run of
//! blocks `B, B+d, B+2d, ...` becomes `repeat n { B + d*i }`. Applying this per output row and
//! then across rows yields the nested loops of a regular schedule, while border windows (with
//! padding) simply stay outside the loops. Cost is linear in the number of instructions.

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
        }
    }
}

/// Shifts the loop level of every address term by `by` (after wrapping or unwrapping a loop).
pub fn shift_levels(stmts: &mut [Stmt], by: i32) {
    visit_addrs_mut(stmts, &mut |a| {
        for t in &mut a.terms {
            t.0 = (t.0 as i32 + by) as u8;
        }
    });
}

/// Same instruction apart from address offsets?
fn same_shape_inst(a: &Inst, b: &Inst) -> bool {
    use Inst::*;
    match (a, b) {
        (Mvmul { group: g1, relu: r1, mbiw: m1, .. }, Mvmul { group: g2, relu: r2, mbiw: m2, .. }) => {
            g1 == g2 && r1 == r2 && m1 == m2
        }
        (Vec { op: o1, len: l1, rs2: s1, .. }, Vec { op: o2, len: l2, rs2: s2, .. }) => {
            o1 == o2 && l1 == l2 && s1.is_some() == s2.is_some()
        }
        (Vmv { len: l1, stride: s1, .. }, Vmv { len: l2, stride: s2, .. }) => l1 == l2 && s1 == s2,
        (Ld { size: a, .. }, Ld { size: b, .. })
        | (St { size: a, .. }, St { size: b, .. })
        | (Lmv { size: a, .. }, Lmv { size: b, .. }) => a == b,
        (Lldi { size: a, value: v1, .. }, Lldi { size: b, value: v2, .. }) => a == b && v1.to_bits() == v2.to_bits(),
        (Send { core: c1, size: s1, .. }, Send { core: c2, size: s2, .. })
        | (Recv { core: c1, size: s1, .. }, Recv { core: c2, size: s2, .. }) => c1 == c2 && s1 == s2,
        _ => a == b,
    }
}

/// If `b` equals `a` with every address offset shifted, appends the shifts to `delta`.
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
                    delta.push(q.offset - p.offset);
                }
            }
            (Stmt::Repeat { start: s1, count: c1, body: b1 }, Stmt::Repeat { start: s2, count: c2, body: b2 }) => {
                if s1 != s2 || c1 != c2 || !diff(b1, b2, delta) {
                    return false;
                }
            }
            _ => return false,
        }
    }
    true
}

/// Folds runs of shift-equal consecutive blocks into `Repeat`s whose counter is loop `level`.
///
/// Blocks are written as if already inside that loop: their own loops use levels above
/// `level`. Blocks left outside any run are moved one level out again.
pub fn fold_blocks(blocks: Vec<Vec<Stmt>>, level: u8) -> Vec<Stmt> {
    let mut out = Vec::new();
    let mut i = 0;
    let n = blocks.len();
    let mut delta = Vec::new();
    let mut next = Vec::new();
    while i < n {
        // Extend a run from block i while the step stays the same.
        let mut j = i + 1;
        delta.clear();
        if j < n && diff(&blocks[i], &blocks[j], &mut delta) {
            j += 1;
            while j < n {
                next.clear();
                if diff(&blocks[j - 1], &blocks[j], &mut next) && next == delta {
                    j += 1;
                } else {
                    break;
                }
            }
        }
        if j - i >= 2 {
            let mut body = blocks[i].clone();
            let mut k = 0;
            visit_addrs_mut(&mut body, &mut |a| {
                a.add_term(level, delta[k]);
                k += 1;
            });
            out.push(Stmt::Repeat { start: 0, count: (j - i) as i64, body });
        } else {
            let mut b = blocks[i].clone();
            shift_levels(&mut b, -1);
            out.extend(b);
        }
        i = j;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isa::Addr;

    fn ld(dst: i64, src: i64) -> Stmt {
        Stmt::Inst(Inst::Ld { rd: Addr::local(0, dst), rs1: Addr::global(0, src), size: 8 }, crate::isa::Line::NONE)
    }

    #[test]
    fn folds_a_strided_run_and_keeps_the_odd_block() {
        let blocks = vec![vec![ld(0, 0)], vec![ld(0, 16)], vec![ld(0, 32)], vec![ld(4, 100)]];
        let out = fold_blocks(blocks, 0);
        assert_eq!(out.len(), 2);
        match &out[0] {
            Stmt::Repeat { count: 3, body, .. } => match &body[0] {
                Stmt::Inst(Inst::Ld { rd, rs1, .. }, _) => {
                    assert!(rd.terms.is_empty());
                    assert_eq!(rs1.terms, vec![(0, 16)]);
                }
                s => panic!("{s:?}"),
            },
            s => panic!("{s:?}"),
        }
        assert_eq!(out[1], ld(4, 100));
    }

    #[test]
    fn nested_folding_of_rows() {
        // A 3x4 grid of windows: src = 100*row + 8*col.
        let rows: Vec<Vec<Stmt>> =
            (0..3).map(|r| fold_blocks((0..4).map(|c| vec![ld(0, 100 * r + 8 * c)]).collect(), 1)).collect();
        let out = fold_blocks(rows, 0);
        assert_eq!(out.len(), 1);
        let Stmt::Repeat { count: 3, body, .. } = &out[0] else { panic!("{out:?}") };
        let Stmt::Repeat { count: 4, body, .. } = &body[0] else { panic!("{body:?}") };
        let Stmt::Inst(Inst::Ld { rs1, .. }, _) = &body[0] else { panic!() };
        assert_eq!(rs1.terms, vec![(0, 100), (1, 8)]);
    }

    #[test]
    fn unfolded_inner_loops_move_back_out() {
        // One row only: the row's loop was built at level 1 and must end up at level 0.
        let rows = vec![fold_blocks((0..4).map(|c| vec![ld(0, 8 * c)]).collect(), 1)];
        let out = fold_blocks(rows, 0);
        let Stmt::Repeat { count: 4, body, .. } = &out[0] else { panic!("{out:?}") };
        let Stmt::Inst(Inst::Ld { rs1, .. }, _) = &body[0] else { panic!() };
        assert_eq!(rs1.terms, vec![(0, 8)]);
    }
}
