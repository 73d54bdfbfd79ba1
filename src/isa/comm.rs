//! Static check of a program's communication: send/recv pairing and deadlock.
//!
//! Transfers are synchronous (a `send` completes when its partner's `recv` runs) and programs
//! have no branches, so the order in which every core meets its partners is fixed. The check
//! runs that order abstractly, over the communication instructions alone: each core advances
//! until it blocks in a `send`/`recv` whose partner is not at the matching instruction, or in
//! a `wait` whose event count is short. When no core can advance and some have not finished,
//! the program deadlocks on every run; each blocked core is reported with its line and what it
//! waits for. Message counts and sizes per pair of cores are compared too. Cost is linear in
//! the number of communication instructions executed, independent of the rest.

use super::cursor::Cursor;
use super::*;
use crate::arch::CoreId;
use crate::diag::{Diagnostic, Loc};
use std::collections::{BTreeMap, HashMap};

/// Findings about `p`'s communication (empty when it is sound).
pub fn check(p: &Program) -> Vec<Diagnostic> {
    let loc = |line: u32| (!p.source.is_empty() && line > 0).then(|| Loc::new(p.source.as_str(), line, 1));
    let mut out = vec![];
    let bodies: Vec<Vec<Stmt>> = p.cores.iter().map(|c| comm_only(&c.body)).collect();
    let exists = |id: CoreId| p.core(id).is_some();

    // Message counts per (sender, receiver), with the first line on each side.
    let mut sent: BTreeMap<(CoreId, CoreId), (u64, u32)> = BTreeMap::new();
    let mut received: BTreeMap<(CoreId, CoreId), (u64, u32)> = BTreeMap::new();
    for (c, body) in p.cores.iter().zip(&bodies) {
        count(body, 1, &mut |inst, line, n| match inst {
            Inst::Send { core, .. } if exists(*core) && *core != c.id => {
                sent.entry((c.id, *core)).or_insert((0, line)).0 += n;
            }
            Inst::Recv { core, .. } if exists(*core) && *core != c.id => {
                received.entry((*core, c.id)).or_insert((0, line)).0 += n;
            }
            _ => {}
        });
    }
    for (&(from, to), &(n, line)) in &sent {
        let m = received.get(&(from, to)).map_or(0, |r| r.0);
        if n != m {
            out.push(
                Diagnostic::error(format!(
                    "core {from} sends {n} message(s) to core {to}, but core {to} receives {m} from core {from}"
                ))
                .at_opt(loc(line)),
            );
        }
    }
    for (&(from, to), &(m, line)) in &received {
        if !sent.contains_key(&(from, to)) {
            out.push(
                Diagnostic::error(format!(
                    "core {to} receives {m} message(s) from core {from}, but core {from} sends none to core {to}"
                ))
                .at_opt(loc(line)),
            );
        }
    }

    // The rendezvous, run abstractly.
    let index: HashMap<CoreId, usize> = p.cores.iter().enumerate().map(|(k, c)| (c.id, k)).collect();
    let mut cursors: Vec<Cursor> = bodies.iter().map(|b| Cursor::new(b)).collect();
    let mut current: Vec<Option<(&Inst, u32)>> = cursors.iter_mut().map(|c| c.next()).collect();
    let mut events = vec![[0i64; 32]; p.cores.len()];
    loop {
        let mut progress = false;
        for k in 0..p.cores.len() {
            while let Some((inst, line)) = current[k] {
                let advance = match *inst {
                    // To a core without a program or to itself: reported by the structural checks.
                    Inst::Send { core: to, .. } if !index.contains_key(&to) || to == p.cores[k].id => true,
                    Inst::Recv { core: from, .. } if !index.contains_key(&from) || from == p.cores[k].id => true,
                    Inst::Send { core: to, size, .. } => match index.get(&to) {
                        None => true,
                        Some(&j) => match current[j] {
                            Some((Inst::Recv { core: from, size: rsize, .. }, rline)) if *from == p.cores[k].id => {
                                if *rsize != size {
                                    out.push(
                                        Diagnostic::error(format!(
                                            "core {}: send of {size} bytes to core {to} is received by core {to} (line {rline}) as {rsize} bytes",
                                            p.cores[k].id
                                        ))
                                        .at_opt(loc(line)),
                                    );
                                }
                                current[j] = cursors[j].next();
                                true
                            }
                            _ => false,
                        },
                    },
                    // Completed from the sender's side when it gets there.
                    Inst::Recv { .. } => false,
                    Inst::Sync { event, core } => {
                        if let Some(&j) = index.get(&core) {
                            events[j][event as usize] += 1;
                        }
                        true
                    }
                    Inst::Wait { event, value } => events[k][event as usize] >= value,
                    _ => true,
                };
                if !advance {
                    break;
                }
                current[k] = cursors[k].next();
                progress = true;
            }
        }
        // A receiver whose sender is ready is completed by the sender's turn above; without
        // progress in a whole round, nothing will change any more.
        if !progress {
            break;
        }
    }
    let blocked: Vec<usize> = (0..p.cores.len()).filter(|&k| current[k].is_some()).collect();
    for &k in &blocked {
        let (inst, line) = current[k].expect("blocked");
        let partner = |id: CoreId| match index.get(&id).and_then(|&j| current[j]) {
            None => format!("core {id} has finished"),
            Some((i, l)) => format!("core {id} is blocked in '{}'{}", i.mnemonic(), at_line(l)),
        };
        let why = match *inst {
            Inst::Send { core, size, .. } => {
                format!("'send' of {size} bytes to core {core} never completes: {}", partner(core))
            }
            Inst::Recv { core, size, .. } => {
                format!("'recv' of {size} bytes from core {core} never completes: {}", partner(core))
            }
            Inst::Wait { event, value } => {
                format!(
                    "'wait' for event {event} to reach {value} never completes: it reaches {}",
                    events[k][event as usize]
                )
            }
            _ => "stuck".to_string(),
        };
        out.push(Diagnostic::error(format!("deadlock: core {}: {why}", p.cores[k].id)).at_opt(loc(line)));
    }
    out
}

/// Calls `f` for each instruction with the number of times it runs.
fn count(stmts: &[Stmt], times: u64, f: &mut impl FnMut(&Inst, u32, u64)) {
    for s in stmts {
        match s {
            Stmt::Inst(i, line) => f(i, line.0, times),
            Stmt::Repeat { count: n, body, .. } => count(body, times * (*n).max(0) as u64, f),
            Stmt::Comment(_) => {}
        }
    }
}

fn at_line(line: u32) -> String {
    if line > 0 {
        format!(" (line {line})")
    } else {
        String::new()
    }
}

/// The statements that communicate, with the loops around them.
fn comm_only(stmts: &[Stmt]) -> Vec<Stmt> {
    let mut out = vec![];
    for s in stmts {
        match s {
            Stmt::Inst(Inst::Send { .. } | Inst::Recv { .. } | Inst::Wait { .. } | Inst::Sync { .. }, _) => {
                out.push(s.clone())
            }
            Stmt::Repeat { start, count, body } => {
                let body = comm_only(body);
                if !body.is_empty() && *count > 0 {
                    out.push(Stmt::Repeat { start: *start, count: *count, body });
                }
            }
            _ => {}
        }
    }
    out
}
