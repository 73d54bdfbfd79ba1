//! Chrome / Perfetto traces of a timing run: one process per core, one track per unit, each
//! instruction a slice, each message a flow from sender to receiver. The JSON opens in
//! ui.perfetto.dev or chrome://tracing. A time window, a core subset and an event budget keep
//! traces of big programs small.

use crate::arch::CoreId;
use serde::Serialize;
use std::io::Write;

#[derive(Debug, Clone, Default)]
pub struct TraceOptions {
    /// Only events that overlap [from, to) ns.
    pub window: Option<(f64, f64)>,
    /// Only these cores (all when empty).
    pub cores: Vec<CoreId>,
    /// At most this many events (then the trace is cut and says so).
    pub max_events: usize,
}

#[derive(Serialize)]
struct Event<'a> {
    name: &'a str,
    ph: &'static str,
    /// Microseconds, as the format wants.
    ts: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    dur: Option<f64>,
    pid: u32,
    tid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bp: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    args: Option<serde_json::Value>,
}

/// Collects trace events (or nothing, when off).
#[derive(Default)]
pub struct Trace {
    opts: Option<TraceOptions>,
    slices: Vec<(u32, &'static str, String, f64, f64, u32)>,
    flows: Vec<(u32, u32, u64, f64, f64)>,
    pub dropped: u64,
}

const UNITS: [&str; 4] = ["matrix", "vector", "transfer", "scalar"];

fn tid(unit: &str) -> u32 {
    UNITS.iter().position(|u| *u == unit).unwrap_or(UNITS.len()) as u32
}

impl Trace {
    pub fn off() -> Trace {
        Trace::default()
    }

    pub fn new(opts: TraceOptions) -> Trace {
        Trace { opts: Some(opts), ..Default::default() }
    }

    pub fn enabled(&self) -> bool {
        self.opts.is_some()
    }

    fn wants(&mut self, core: CoreId, start: f64, end: f64) -> bool {
        let Some(o) = &self.opts else { return false };
        if !o.cores.is_empty() && !o.cores.contains(&core) {
            return false;
        }
        if let Some((a, b)) = o.window {
            if end < a || start >= b {
                return false;
            }
        }
        if o.max_events > 0 && self.slices.len() + self.flows.len() >= o.max_events {
            self.dropped += 1;
            return false;
        }
        true
    }

    /// An instruction on a unit of a core, from `start` to `end` ns.
    pub fn slice(&mut self, core: CoreId, unit: &'static str, name: &str, start: f64, end: f64, line: u32) {
        if self.opts.is_some() && self.wants(core, start, end) {
            self.slices.push((core.0, unit, name.to_string(), start, end, line));
        }
    }

    /// A message of `bytes` leaving `from` at `start` and arriving at `to` at `end`.
    pub fn flow(&mut self, from: CoreId, to: CoreId, bytes: u64, start: f64, end: f64) {
        if self.opts.is_some() && self.wants(from, start, end) {
            self.flows.push((from.0, to.0, bytes, start, end));
        }
    }

    /// Writes the trace as Chrome trace-event JSON.
    pub fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        let mut events = vec![];
        let mut cores: Vec<u32> =
            self.slices.iter().map(|s| s.0).chain(self.flows.iter().flat_map(|f| [f.0, f.1])).collect();
        cores.sort_unstable();
        cores.dedup();
        let names: Vec<String> = cores.iter().map(|c| format!("core {c}")).collect();
        for (c, name) in cores.iter().zip(&names) {
            events.push(Event {
                name: "process_name",
                ph: "M",
                ts: 0.0,
                dur: None,
                pid: *c,
                tid: 0,
                id: None,
                bp: None,
                args: Some(serde_json::json!({ "name": name })),
            });
            for (t, u) in UNITS.iter().enumerate() {
                events.push(Event {
                    name: "thread_name",
                    ph: "M",
                    ts: 0.0,
                    dur: None,
                    pid: *c,
                    tid: t as u32,
                    id: None,
                    bp: None,
                    args: Some(serde_json::json!({ "name": u })),
                });
            }
        }
        for (c, unit, name, a, b, line) in &self.slices {
            events.push(Event {
                name,
                ph: "X",
                ts: a / 1000.0,
                dur: Some((b - a) / 1000.0),
                pid: *c,
                tid: tid(unit),
                id: None,
                bp: None,
                args: (*line > 0).then(|| serde_json::json!({ "line": line })),
            });
        }
        for (k, (s, d, bytes, a, b)) in self.flows.iter().enumerate() {
            let args = Some(serde_json::json!({ "bytes": bytes }));
            let transfer = tid("transfer");
            events.push(Event {
                name: "message",
                ph: "s",
                ts: a / 1000.0,
                dur: None,
                pid: *s,
                tid: transfer,
                id: Some(k as u64),
                bp: None,
                args: args.clone(),
            });
            events.push(Event {
                name: "message",
                ph: "f",
                ts: b / 1000.0,
                dur: None,
                pid: *d,
                tid: transfer,
                id: Some(k as u64),
                bp: Some("e"),
                args,
            });
        }
        let doc = serde_json::json!({
            "traceEvents": events,
            "displayTimeUnit": "ns",
            "otherData": { "dropped_events": self.dropped },
        });
        serde_json::to_writer(&mut *out, &doc)?;
        out.flush()
    }
}
