//! Is a program safe to pipeline? With `--samples N` sample k+1 enters a core while later
//! cores still work on sample k. Cores exchange data through send/recv (matched in order,
//! so samples never mix) and through global memory, which the program addresses the same
//! way in every sample: if a load of sample k finds the bytes last written by another
//! sample's store, the schedule needs a copy of that buffer per sample in flight, and the
//! values a pipelined chip computes differ from those of one sample at a time.
//!
//! The engine serves global memory in time order, so replaying its loads and stores against
//! a map of who last wrote each byte finds every such overwrite exactly.

use serde::Serialize;
use std::collections::BTreeMap;

/// One access: which sample, core and instruction (its line) at what time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Access {
    pub sample: u32,
    pub core: u32,
    pub line: u32,
    pub at_ns: f64,
}

/// A load that found another sample's data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overwrite {
    /// The global buffer (or `global[start..end)` without names).
    pub buffer: String,
    /// Bytes of the load the other sample wrote, `[start, end)`.
    pub start: u64,
    pub end: u64,
    pub load: Access,
    pub store: Access,
    /// The lines are records of an imported pimsim-nn file ([`crate::isa::Program::record_lines`]).
    #[serde(skip)]
    pub record_lines: bool,
}

impl Overwrite {
    pub fn describe(&self) -> String {
        let (l, s) = (&self.load, &self.store);
        let line = |n: u32| match (n, self.record_lines) {
            (0, _) => String::new(),
            (n, true) => format!(" (instruction {})", n - 1),
            (n, false) => format!(" (line {n})"),
        };
        let what = if s.sample > l.sample { "overwrote it first" } else { "had not yet stored its own" };
        format!(
            "sample {}: core {}'s ld{} reads {} [{}, {}) at {}, where sample {}'s st of core {}{} wrote at {}: sample {} {what}",
            l.sample,
            l.core,
            line(l.line),
            self.buffer,
            self.start,
            self.end,
            super::ns(l.at_ns),
            s.sample,
            s.core,
            line(s.line),
            super::ns(s.at_ns),
            if s.sample > l.sample { s.sample } else { l.sample },
        )
    }
}

/// Who last wrote each byte of global memory: disjoint `[start, end)` segments by start.
#[derive(Default)]
pub struct Writers {
    segments: BTreeMap<u64, (u64, Access)>,
    /// The first overwrites found (at most [`Writers::KEEP`]) and how many loads found one.
    pub found: Vec<(u64, u64, Access, Access)>,
    pub count: u64,
}

impl Writers {
    const KEEP: usize = 16;

    /// Splits the segment that contains `at` (if any) so that a segment starts there.
    fn split(&mut self, at: u64) {
        let Some((&s, &(e, who))) = self.segments.range(..at).next_back() else { return };
        if e > at {
            self.segments.insert(s, (at, who));
            self.segments.insert(at, (e, who));
        }
    }

    /// A store of `[start, end)`.
    pub fn store(&mut self, start: u64, end: u64, who: Access) {
        if start >= end {
            return;
        }
        self.split(start);
        self.split(end);
        let inside: Vec<u64> = self.segments.range(start..end).map(|(&s, _)| s).collect();
        for s in inside {
            self.segments.remove(&s);
        }
        self.segments.insert(start, (end, who));
    }

    /// A load of `[start, end)`: records the bytes another sample wrote last.
    pub fn load(&mut self, start: u64, end: u64, who: Access) {
        if start >= end {
            return;
        }
        let first = self.segments.range(..=start).next_back().map_or(start, |(&s, _)| s);
        let mut hit = false;
        for (&s, &(e, w)) in self.segments.range(first..end) {
            if e <= start || w.sample == who.sample {
                continue;
            }
            if !hit && self.found.len() < Self::KEEP {
                self.found.push((s.max(start), e.min(end), who, w));
            }
            hit = true;
        }
        self.count += u64::from(hit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(sample: u32, core: u32, t: f64) -> Access {
        Access { sample, core, line: 0, at_ns: t }
    }

    #[test]
    fn a_later_samples_store_before_the_load_is_found() {
        let mut w = Writers::default();
        w.store(0, 64, at(0, 1, 1.0));
        w.load(0, 64, at(0, 2, 2.0)); // its own sample: fine
        w.store(16, 32, at(1, 1, 3.0));
        w.load(0, 16, at(0, 2, 4.0)); // untouched bytes: fine
        assert_eq!(w.count, 0);
        w.load(8, 24, at(0, 2, 5.0));
        assert_eq!(w.count, 1);
        assert_eq!((w.found[0].0, w.found[0].1), (16, 24));
        assert_eq!(w.found[0].3.sample, 1);
    }

    #[test]
    fn stores_replace_and_split_segments() {
        let mut w = Writers::default();
        w.store(0, 100, at(0, 0, 0.0));
        w.store(40, 60, at(1, 0, 1.0));
        w.store(0, 100, at(1, 0, 2.0));
        assert_eq!(w.segments.len(), 1);
        w.load(0, 100, at(1, 3, 3.0));
        assert_eq!(w.count, 0);
        // A load of sample 2 before sample 2's store reads sample 1's data: stale.
        w.load(50, 51, at(2, 3, 4.0));
        assert_eq!(w.count, 1);
        assert!(w.found[0].3.sample < w.found[0].2.sample);
    }

    /// A load over several other samples' stores counts once.
    #[test]
    fn a_load_counts_once() {
        let mut w = Writers::default();
        w.store(0, 10, at(1, 0, 0.0));
        w.store(10, 20, at(2, 0, 1.0));
        w.load(0, 20, at(0, 1, 2.0));
        assert_eq!((w.count, w.found.len()), (1, 1));
    }
}
