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
use super::rendezvous::{comm_line, comm_of, Arrival, Comm, Rendezvous};
use super::*;
use crate::arch::CoreId;
use crate::diag::Diagnostic;
use std::collections::BTreeMap;

/// Findings about `p`'s communication (empty when it is sound).
pub fn check(p: &Program) -> Vec<Diagnostic> {
    // A finding about `core`'s instruction at `line`, located as the program's source allows.
    let at = |core: CoreId, line: u32, msg: String| p.finding(core, line, &msg);
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
    // Pairs whose counts differ, reported at the end unless a blocked core explains them.
    let mut unpaired: BTreeMap<(CoreId, CoreId), (String, CoreId, u32)> = BTreeMap::new();
    for (&(from, to), &(n, line)) in &sent {
        let m = received.get(&(from, to)).map_or(0, |r| r.0);
        if n != m {
            let why =
                format!("core {from} sends {n} message(s) to core {to}, but core {to} receives {m} from core {from}");
            unpaired.insert((from, to), (why, from, line));
        }
    }
    for (&(from, to), &(m, line)) in &received {
        if !sent.contains_key(&(from, to)) {
            let why =
                format!("core {to} receives {m} message(s) from core {from}, but core {from} sends none to core {to}");
            unpaired.insert((from, to), (why, to, line));
        }
    }
    let report_unpaired = |out: &mut Vec<Diagnostic>, unpaired: BTreeMap<(CoreId, CoreId), (String, CoreId, u32)>| {
        for (why, core, line) in unpaired.into_values() {
            out.push(at(core, line, why));
        }
    };

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
        report_unpaired(&mut out, unpaired);
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
                            out.push(at(
                                from,
                                t.send_line,
                                format!(
                                    "core {from}: send of {} bytes to core {to} is received by core {to}{} as {} bytes",
                                    t.send_size,
                                    p.at_line(t.recv_line),
                                    t.recv_size
                                ),
                            ));
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
    // A core blocked on a partner that has finished waits for a message that is never sent
    // or received (the count mismatch of that pair, said once, here); the others wait in a
    // cycle: a deadlock.
    for (k, id) in ids.iter().enumerate() {
        let Some(c) = rv.pending(k) else { continue };
        let why = rv.blocked_message(k, |l| p.at_line(l));
        let partner_done = |p: CoreId| rv.index_of(p).is_some_and(|j| rv.pending(j).is_none());
        let pair = match *c {
            Comm::Send { to, .. } if partner_done(to) => Some((*id, to)),
            Comm::Recv { from, .. } if partner_done(from) => Some((from, *id)),
            _ => None,
        };
        let message = match (pair, c) {
            (Some(pair), _) => match unpaired.remove(&pair) {
                Some((counts, ..)) => format!("core {id}: {why} ({counts})"),
                None => format!("core {id}: {why}"),
            },
            (None, Comm::Wait { event, .. }) => {
                let (who, cycle) = raisers(p, &bodies, &rv, *id, *event);
                format!("{}core {id}: {why}{who}", if cycle { "deadlock: " } else { "" })
            }
            (None, _) => format!("deadlock: core {id}: {why}"),
        };
        out.push(at(*id, comm_line(c), message));
    }
    report_unpaired(&mut out, unpaired);
    out
}

/// Who could raise `event` of core `id` (its `sync`s of that event) and what each is doing:
/// "; core 1 raises it (line 19) and is blocked in 'wait' (line 18)"; and whether one of
/// them is blocked (a wait-for cycle) rather than finished.
fn raisers(p: &Program, bodies: &[Vec<Stmt>], rv: &Rendezvous<()>, id: CoreId, event: u8) -> (String, bool) {
    let mut cycle = false;
    let mut parts = vec![];
    for (k, (c, body)) in p.cores.iter().zip(bodies).enumerate() {
        let mut first = None;
        count(body, 1, &mut |inst, line, _| {
            if let Inst::Sync { event: e, core } = inst {
                if *core == id && *e == event && first.is_none() {
                    first = Some(line);
                }
            }
        });
        if let Some(line) = first {
            let state = match rv.pending(k) {
                Some(pc) => {
                    cycle = true;
                    format!("is blocked in '{}'{}", super::rendezvous::mnemonic(pc), p.at_line(comm_line(pc)))
                }
                None => "has finished".to_string(),
            };
            parts.push(format!("core {} raises it{} and {state}", c.id, p.at_line(line)));
        }
    }
    let who = if parts.is_empty() { "; no core raises it".to_string() } else { format!("; {}", parts.join("; ")) };
    (who, cycle)
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
