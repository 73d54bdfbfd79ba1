//! Walks a structured program in execution order without expanding it.

use crate::isa::{Inst, Stmt, Task};

struct Frame<'p> {
    stmts: &'p [Stmt],
    pc: usize,
    /// For a loop body: (start, count, current iteration).
    repeat: Option<(i64, i64, i64)>,
}

pub struct Cursor<'p> {
    stack: Vec<Frame<'p>>,
    counters: Vec<i64>,
    task: Option<&'p Task>,
}

impl<'p> Cursor<'p> {
    pub fn new(body: &'p [Stmt]) -> Self {
        Cursor { stack: vec![Frame { stmts: body, pc: 0, repeat: None }], counters: vec![], task: None }
    }

    /// Current loop counters, outermost first.
    pub fn counters(&self) -> &[i64] {
        &self.counters
    }

    /// The task marker passed last: what the instructions since belong to.
    pub fn task(&self) -> Option<&'p Task> {
        self.task
    }
}

/// The instructions in execution order, each with its source line.
impl<'p> Iterator for Cursor<'p> {
    type Item = (&'p Inst, u32);

    /// The next instruction to execute and its source line.
    fn next(&mut self) -> Option<(&'p Inst, u32)> {
        loop {
            let f = self.stack.last_mut()?;
            if f.pc < f.stmts.len() {
                let s = &f.stmts[f.pc];
                f.pc += 1;
                match s {
                    Stmt::Inst(i, line) => return Some((i, line.0)),
                    Stmt::Comment(_) => {}
                    Stmt::Task(t) => self.task = Some(t),
                    Stmt::Repeat { start, count, body } => {
                        if *count > 0 && !body.is_empty() {
                            self.counters.push(*start);
                            self.stack.push(Frame { stmts: body, pc: 0, repeat: Some((*start, *count, 0)) });
                        }
                    }
                }
            } else {
                match f.repeat {
                    Some((start, count, k)) if k + 1 < count => {
                        f.pc = 0;
                        f.repeat = Some((start, count, k + 1));
                        *self.counters.last_mut().expect("loop frame has a counter") = start + k + 1;
                    }
                    Some(_) => {
                        self.stack.pop();
                        self.counters.pop();
                    }
                    None => {
                        self.stack.pop();
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isa::Addr;

    #[test]
    fn walks_nested_loops_in_order() {
        let st = |x: i64| Stmt::Inst(Inst::Lldi { rd: Addr::abs(x), size: 2, value: 0.0 }, crate::isa::Line(x as u32));
        let body = vec![
            st(1),
            Stmt::Repeat {
                start: 2,
                count: 2,
                body: vec![Stmt::Repeat { start: 0, count: 3, body: vec![st(2)] }, st(3)],
            },
            st(4),
        ];
        let mut c = Cursor::new(&body);
        let mut seen = vec![];
        while let Some((_, line)) = c.next() {
            seen.push((line, c.counters().to_vec()));
        }
        let lines: Vec<u32> = seen.iter().map(|s| s.0).collect();
        assert_eq!(lines, [1, 2, 2, 2, 3, 2, 2, 2, 3, 4]);
        assert_eq!(seen[3].1, vec![2, 2]);
        assert_eq!(seen[4].1, vec![2]);
        assert_eq!(seen[8].1, vec![3]);
    }
}
