//! The high-throughput (batch pipeline) policy: every core works through the ops it takes
//! part in, in graph order, each op preceded by its tokens.
//!
//! No deadlock: every core runs its part in (op, replica, window) order, and every message
//! pairs two cores at the same point of that order (the tokens of one op in a fixed
//! (sender, receiver) order; partial sums of one window from helpers to the owner, in core
//! order). All cores thus perform their synchronous rendezvous in one global order, so the
//! `send`/`recv` of the ISA cannot deadlock.

use super::tasks::{OpTasks, Task, TaskGraph};
use crate::arch::CoreId;

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

/// The global order of the batch pipeline.
pub fn order(tg: &TaskGraph) -> Vec<Step<'_>> {
    let mut steps = vec![];
    for op in &tg.ops {
        steps.extend(op.tokens.iter().map(|&(from, to)| Step::Token { op, from, to }));
        steps.extend(op.tasks.iter().map(|task| Step::Task { op, task }));
    }
    steps
}
