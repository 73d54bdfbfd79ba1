//! The semantics of the ISA's communication, in one place: the simulators and the static
//! check both run cores through a [`Rendezvous`].
//!
//! Transfers are synchronous: a `send` to core R and R's `recv` from the sender complete
//! together, when both cores have arrived at them (whichever came first waits). A `sync` adds
//! one to an event register of another core; a `wait` completes once its own event register
//! has reached its value. A core waiting in one of these is *pending*; it runs again once its
//! partner arrives (or the event is reached). When every unfinished core is pending, the
//! program deadlocks; [`Rendezvous::blocked_message`] says why for each.
//!
//! `T` is what a side contributes to a transfer (the simulator's resolved address; nothing for
//! the static check).

use crate::arch::CoreId;
use std::collections::HashMap;

/// A communication instruction as a core executes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Comm<T> {
    Send { to: CoreId, size: u32, line: u32, data: T },
    Recv { from: CoreId, size: u32, line: u32, data: T },
    Wait { event: u8, value: i64, line: u32 },
    Sync { event: u8, core: CoreId },
}

/// A completed transfer: core index `sender` to core index `receiver`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transfer<T> {
    pub sender: usize,
    pub receiver: usize,
    pub send_size: u32,
    pub recv_size: u32,
    pub send_line: u32,
    pub recv_line: u32,
    pub src: T,
    pub dst: T,
}

/// What arriving at a communication instruction does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arrival<T> {
    /// Done at once (a `sync`, a `wait` already satisfied, a partner that does not exist:
    /// the structural checks report those).
    Done,
    /// The partner was waiting: both sides complete.
    Transfer(Transfer<T>),
    /// The core waits for its partner (or event).
    Blocked,
}

/// The cores' communication state.
pub struct Rendezvous<T> {
    ids: Vec<CoreId>,
    index: HashMap<CoreId, usize>,
    pending: Vec<Option<Comm<T>>>,
    events: Vec<[i64; 32]>,
}

impl<T: Copy> Rendezvous<T> {
    /// Cores by index (`ids[k]` is core index `k`).
    pub fn new(ids: &[CoreId]) -> Self {
        Rendezvous {
            ids: ids.to_vec(),
            index: ids.iter().enumerate().map(|(k, &id)| (id, k)).collect(),
            pending: vec![None; ids.len()],
            events: vec![[0; 32]; ids.len()],
        }
    }

    pub fn index_of(&self, id: CoreId) -> Option<usize> {
        self.index.get(&id).copied()
    }

    pub fn id(&self, k: usize) -> CoreId {
        self.ids[k]
    }

    /// What core `k` waits in, if anything.
    pub fn pending(&self, k: usize) -> Option<&Comm<T>> {
        self.pending[k].as_ref()
    }

    pub fn event(&self, k: usize, event: u8) -> i64 {
        self.events[k][event as usize % 32]
    }

    /// Core `k` executes `c`.
    pub fn arrive(&mut self, k: usize, c: Comm<T>) -> Arrival<T> {
        let me = self.ids[k];
        match c {
            Comm::Send { to, size, line, data } => {
                let Some(j) = self.index_of(to).filter(|&j| j != k) else { return Arrival::Done };
                match self.pending[j] {
                    Some(Comm::Recv { from, size: rs, line: rl, data: dst }) if from == me => {
                        self.pending[j] = None;
                        Arrival::Transfer(Transfer {
                            sender: k,
                            receiver: j,
                            send_size: size,
                            recv_size: rs,
                            send_line: line,
                            recv_line: rl,
                            src: data,
                            dst,
                        })
                    }
                    _ => {
                        self.pending[k] = Some(c);
                        Arrival::Blocked
                    }
                }
            }
            Comm::Recv { from, size, line, data } => {
                let Some(j) = self.index_of(from).filter(|&j| j != k) else { return Arrival::Done };
                match self.pending[j] {
                    Some(Comm::Send { to, size: ss, line: sl, data: src }) if to == me => {
                        self.pending[j] = None;
                        Arrival::Transfer(Transfer {
                            sender: j,
                            receiver: k,
                            send_size: ss,
                            recv_size: size,
                            send_line: sl,
                            recv_line: line,
                            src,
                            dst: data,
                        })
                    }
                    _ => {
                        self.pending[k] = Some(c);
                        Arrival::Blocked
                    }
                }
            }
            Comm::Wait { event, value, .. } => {
                if self.event(k, event) >= value {
                    Arrival::Done
                } else {
                    self.pending[k] = Some(c);
                    Arrival::Blocked
                }
            }
            Comm::Sync { event, core } => {
                if let Some(j) = self.index_of(core) {
                    self.events[j][event as usize % 32] += 1;
                    if let Some(Comm::Wait { event: e, value, .. }) = self.pending[j] {
                        if e == event && self.events[j][e as usize % 32] >= value {
                            self.pending[j] = None;
                        }
                    }
                }
                Arrival::Done
            }
        }
    }

    /// Why pending core `k` never completes, in a deadlock: what it waits in and what its
    /// partner does (`line` prints a partner's line, e.g. " (line 12)").
    pub fn blocked_message(&self, k: usize, line: impl Fn(u32) -> String) -> String {
        let partner = |id: CoreId| match self.index_of(id).and_then(|j| self.pending[j].as_ref()) {
            None => format!("core {id} has finished"),
            Some(c) => format!("core {id} is blocked in '{}'{}", mnemonic(c), line(comm_line(c))),
        };
        match self.pending[k] {
            Some(Comm::Send { to, size, .. }) => {
                format!("'send' of {size} bytes to core {to} never completes: {}", partner(to))
            }
            Some(Comm::Recv { from, size, .. }) => {
                format!("'recv' of {size} bytes from core {from} never completes: {}", partner(from))
            }
            Some(Comm::Wait { event, value, .. }) => {
                format!(
                    "'wait' for event {event} to reach {value} never completes: it reaches {}",
                    self.event(k, event)
                )
            }
            Some(Comm::Sync { .. }) | None => "it is not blocked".to_string(),
        }
    }
}

pub fn mnemonic<T>(c: &Comm<T>) -> &'static str {
    match c {
        Comm::Send { .. } => "send",
        Comm::Recv { .. } => "recv",
        Comm::Wait { .. } => "wait",
        Comm::Sync { .. } => "sync",
    }
}

/// The line a pending instruction came from.
pub fn comm_line<T>(c: &Comm<T>) -> u32 {
    match c {
        Comm::Send { line, .. } | Comm::Recv { line, .. } | Comm::Wait { line, .. } => *line,
        Comm::Sync { .. } => 0,
    }
}

/// The communication instruction `inst` is, with `data` for a transfer.
pub fn comm_of<T>(inst: &super::Inst, line: u32, data: T) -> Option<Comm<T>> {
    use super::Inst;
    match *inst {
        Inst::Send { core, size, .. } => Some(Comm::Send { to: core, size, line, data }),
        Inst::Recv { core, size, .. } => Some(Comm::Recv { from: core, size, line, data }),
        Inst::Wait { event, value } => Some(Comm::Wait { event, value, line }),
        Inst::Sync { event, core } => Some(Comm::Sync { event, core }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_second_to_arrive_completes_both() {
        let mut r: Rendezvous<u64> = Rendezvous::new(&[CoreId(0), CoreId(5)]);
        assert_eq!(r.arrive(0, Comm::Send { to: CoreId(5), size: 8, line: 1, data: 100 }), Arrival::Blocked);
        assert!(r.pending(0).is_some());
        let Arrival::Transfer(t) = r.arrive(1, Comm::Recv { from: CoreId(0), size: 8, line: 2, data: 200 }) else {
            panic!()
        };
        assert_eq!((t.sender, t.receiver, t.src, t.dst), (0, 1, 100, 200));
        assert!(r.pending(0).is_none());
    }

    #[test]
    fn a_sync_releases_a_waiting_core() {
        let mut r: Rendezvous<()> = Rendezvous::new(&[CoreId(0), CoreId(1)]);
        assert_eq!(r.arrive(0, Comm::Wait { event: 3, value: 2, line: 4 }), Arrival::Blocked);
        r.arrive(1, Comm::Sync { event: 3, core: CoreId(0) });
        assert!(r.pending(0).is_some());
        assert_eq!(
            r.blocked_message(0, |_| String::new()),
            "'wait' for event 3 to reach 2 never completes: it reaches 1"
        );
        r.arrive(1, Comm::Sync { event: 3, core: CoreId(0) });
        assert!(r.pending(0).is_none());
    }

    #[test]
    fn two_receivers_deadlock() {
        let mut r: Rendezvous<()> = Rendezvous::new(&[CoreId(0), CoreId(1)]);
        r.arrive(0, Comm::Recv { from: CoreId(1), size: 4, line: 12, data: () });
        r.arrive(1, Comm::Recv { from: CoreId(0), size: 4, line: 18, data: () });
        let m = r.blocked_message(0, |l| format!(" (line {l})"));
        assert_eq!(m, "'recv' of 4 bytes from core 1 never completes: core 1 is blocked in 'recv' (line 18)");
    }
}
