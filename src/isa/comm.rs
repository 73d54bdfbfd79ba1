//! Static check of a program's communication: send/recv pairing and deadlock.
//!
//! Transfers are synchronous and programs have no branches, so the order in which every core
//! meets its partners is fixed. The check runs the communication instructions alone through
//! the [`Rendezvous`] the simulators use: each core advances until it blocks in a `send`/`recv`
//! whose partner is not there, or in a `wait` whose event count is short. When no core can
//! advance and some have not finished, the program deadlocks on every run; each blocked core
//! is reported with its line and what it waits for. Message counts and sizes per pair of cores
//! are compared too. Cost is linear in the number of communication instructions executed,
//! independent of the rest.

use super::cursor::Cursor;
use super::rendezvous::{comm_line, comm_of, Arrival, Rendezvous};
use super::*;
use crate::arch::CoreId;
use crate::diag::{Diagnostic, Loc};
use std::collections::BTreeMap;

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

    // The rendezvous, run abstractly (the same semantics the simulators run), unless that
    // would take too long.
    let dynamic = p.cores.iter().zip(&bodies).map(|(c, b)| {
        let mut n = 0u64;
        count(b, 1, &mut |_, _, k| n = n.saturating_add(k));
        let _ = c;
        n
    });
    let dynamic = dynamic.fold(0u64, |a, b| a.saturating_add(b));
    if let Err(e) = crate::limits::check_instructions("the static check of send/recv pairing and deadlock", dynamic) {
        out.extend(e.diagnostics);
        return out;
    }
    let ids: Vec<CoreId> = p.cores.iter().map(|c| c.id).collect();
    let mut rv: Rendezvous<()> = Rendezvous::new(&ids);
    let mut cursors: Vec<Cursor> = bodies.iter().map(|b| Cursor::new(b)).collect();
    let mut done = vec![false; p.cores.len()];
    loop {
        let mut progress = false;
        for k in 0..p.cores.len() {
            if done[k] || rv.pending(k).is_some() {
                continue;
            }
            loop {
                let Some((inst, line)) = cursors[k].next() else {
                    done[k] = true;
                    progress = true;
                    break;
                };
                progress = true;
                let Some(c) = comm_of(inst, line, ()) else { continue };
                match rv.arrive(k, c) {
                    Arrival::Done => {}
                    Arrival::Transfer(t) => {
                        if t.send_size != t.recv_size {
                            let (from, to) = (ids[t.sender], ids[t.receiver]);
                            out.push(
                                Diagnostic::error(format!(
                                    "core {from}: send of {} bytes to core {to} is received by core {to} (line {}) as {} bytes",
                                    t.send_size, t.recv_line, t.recv_size
                                ))
                                .at_opt(loc(t.send_line)),
                            );
                        }
                    }
                    Arrival::Blocked => break,
                }
            }
        }
        // Without progress in a whole round, nothing will change any more.
        if !progress {
            break;
        }
    }
    for (k, id) in ids.iter().enumerate() {
        if let Some(c) = rv.pending(k) {
            let why = rv.blocked_message(k, at_line);
            out.push(Diagnostic::error(format!("deadlock: core {id}: {why}")).at_opt(loc(comm_line(c))));
        }
    }
    out
}

/// Calls `f` for each instruction with the number of times it runs.
fn count(stmts: &[Stmt], times: u64, f: &mut impl FnMut(&Inst, u32, u64)) {
    for s in stmts {
        match s {
            Stmt::Inst(i, line) => f(i, line.0, times),
            Stmt::Repeat { count: n, body, .. } => count(body, times.saturating_mul((*n).max(0) as u64), f),
            Stmt::Comment(_) | Stmt::Task(_) => {}
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
