//! Timing: when every instruction of a program runs, and what the run costs in time and
//! energy, under one of two models ([`Model`]): `pimsim-compat` reproduces pimsim-nn's
//! results (its formulas and its defects), `pimlir` is the same structure with the defects
//! fixed (`docs/timing.md`). The engine ([`engine`]) is event-driven and needs no data: a
//! timing run reads no weights and computes nothing.
//!
//! With `samples` > 1 every core runs its program that many times back to back, as a
//! batch pipeline runs: sample k+1 enters a core as soon as it finished sample k, while
//! later cores still work on k. The report gives the first sample's latency, the steady-state
//! throughput (from the last samples, set by the slowest stage) and the bottleneck.

pub mod engine;
pub mod noc;
pub mod pipeline;
pub mod trace;

pub use crate::cost::Model;
pub use noc::{Noc, Node};
pub use trace::{Trace, TraceOptions};

use crate::arch::Arch;
use crate::cost::CostModel;
use crate::diag::{Error, Result};
use crate::isa::Program;
use serde::Serialize;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Options {
    pub model: Model,
    /// Runs of every core's program back to back (at least 1).
    pub samples: u32,
    /// Instructions timed so far, updated now and then (for a progress bar).
    pub progress: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
}

impl Model {
    pub fn name(self) -> &'static str {
        match self {
            Model::PimsimCompat => "pimsim-compat",
            Model::Pimlir => "pimlir",
        }
    }
}

/// Busy time of each unit, ns.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UnitBusy {
    pub matrix: f64,
    pub vector: f64,
    pub transfer: f64,
    pub scalar: f64,
}

/// Bytes each path moved.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Bytes {
    pub local_read: u64,
    pub local_write: u64,
    pub global_read: u64,
    pub global_write: u64,
    pub noc_sent: u64,
    pub noc_received: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CoreReport {
    pub core: u32,
    pub finish_ns: f64,
    /// Time each unit was occupied (a transfer also while it waits).
    pub busy_ns: UnitBusy,
    /// Of the transfer unit's busy time, the waits for partners and for global memory.
    pub wait_ns: f64,
    pub instructions: u64,
    pub bytes: Bytes,
    pub energy_nj: f64,
}

/// Energy by where it is spent, nJ.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct EnergyBreakdown {
    /// Leakage of every core, its units and local memory, and of global memory, over the run.
    #[serde(rename = "static")]
    pub static_: f64,
    /// Fetch, decode and scalar ops.
    pub control: f64,
    pub matrix: f64,
    pub vector: f64,
    pub local_memory: f64,
    pub global_memory: f64,
    pub noc: f64,
}

/// The slowest stage of a pipelined run: the core with the most work per sample and its
/// busiest unit (busy time without the transfer unit's waits for partners and for global
/// memory, which a faster partner would remove).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Bottleneck {
    pub core: u32,
    pub unit: &'static str,
    pub work_ns_per_sample: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub model: &'static str,
    pub noc: String,
    pub samples: u32,
    /// The first sample: when the last core finished it.
    pub latency_ns: f64,
    /// Samples per second in the steady state (with 2 samples or more): the rate the second
    /// half of the samples left at, at most what the global-memory server allows.
    pub throughput_per_s: Option<f64>,
    /// The rate the second half of the samples left at, uncapped.
    pub measured_throughput_per_s: Option<f64>,
    /// Time the global-memory server is busy per sample (its requests, one at a time).
    pub global_busy_ns_per_sample: f64,
    pub bottleneck: Bottleneck,
    pub energy_nj: f64,
    pub energy_breakdown: EnergyBreakdown,
    pub instructions: u64,
    pub cores: Vec<CoreReport>,
    /// pimsim-nn's own figures (pimsim-compat only): sim_mode 1 latency, and sim_mode 0
    /// throughput as it computes it (a mean over cores of program rounds per second).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pimsim_latency_ns: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pimsim_throughput: Option<f64>,
    /// With samples > 1: global-memory bytes a load found written by another sample (the
    /// first few), and how many such loads there were. Empty when the schedule is safe to
    /// pipeline.
    pub overwrites: Vec<pipeline::Overwrite>,
    pub overwrite_count: u64,
    /// Config keys the architecture did not give, with the value they took (`path = value`).
    pub config_defaults: Vec<String>,
    /// Instructions one run of the program executes, by mnemonic.
    pub instruction_mix: std::collections::BTreeMap<&'static str, u64>,
    /// Host time the event loop took (not in the JSON: it differs run to run).
    #[serde(skip)]
    pub loop_seconds: f64,
}

/// Simulates the timing of `p` on `arch` with `noc`; `trace` collects what it is asked to.
pub fn simulate(p: &Program, arch: &Arch, noc: &Noc, opts: &Options, trace: &mut Trace) -> Result<Report> {
    crate::limits::check_instructions(
        "timing the program",
        p.dynamic_count().saturating_mul(u64::from(opts.samples.max(1))),
    )?;
    if let Noc::Table(t) = noc {
        t.check_program(p, opts.model == Model::Pimlir)?;
    }
    let cost = CostModel::new(arch, opts.model);
    let (fetch_pj, scalar_pj) = engine::control_energy(arch);
    let m = engine::Machine {
        period: arch.core.period,
        rob_size: arch.core.rob_size.max(1) as usize,
        eb: u64::from(crate::isa::verify::element_bytes(p, arch).max(1)),
        model: opts.model,
        noc,
        fetch_pj,
        scalar_pj,
        cost,
    };
    let started = std::time::Instant::now();
    let run = engine::run(p, &m, opts, trace).map_err(|s| Error::new(s.message))?;
    let loop_seconds = started.elapsed().as_secs_f64();
    let totals = run.cores;
    let overwrites: Vec<pipeline::Overwrite> = run
        .overwrites
        .iter()
        .map(|&(start, end, load, store)| pipeline::Overwrite {
            buffer: global_name(p, start),
            start,
            end,
            load,
            store,
            record_lines: p.record_lines,
        })
        .collect();
    let samples = opts.samples.max(1);
    let latency_ns = totals.iter().filter_map(|t| t.sample_finish.first().copied()).fold(0.0, f64::max);
    let end = totals.iter().map(|t| t.finish_ns).fold(0.0, f64::max);
    // Steady state: the time between the last two samples leaving the pipeline (every
    // core's finish of a sample; the last core's sets it), over the second half of the run.
    let measured_throughput_per_s = (samples >= 2).then(|| {
        let done = |k: usize| totals.iter().filter_map(|t| t.sample_finish.get(k).copied()).fold(0.0, f64::max);
        let from = (samples as usize - 1) / 2;
        let n = samples as usize - 1 - from;
        let span = done(samples as usize - 1) - done(from);
        if span > 0.0 {
            n.max(1) as f64 / span * 1e9
        } else {
            0.0
        }
    });
    // The global-memory server serves one request at a time, the same requests every
    // sample: no steady state has a shorter period than its busy time per sample. A short
    // run has not reached it when that server saturates (its queue still grows, the first
    // samples wait behind the later ones' requests and then leave bunched), so the measured
    // rate is capped there.
    let global_busy_ns_per_sample = run.global_busy_ns / f64::from(samples);
    let global_bound = (global_busy_ns_per_sample > 0.0).then(|| 1e9 / global_busy_ns_per_sample);
    let throughput_per_s = measured_throughput_per_s.map(|t| global_bound.map_or(t, |b| t.min(b)));
    let work = |t: &engine::CoreTotals| {
        let mut w = t.busy_ns;
        w[engine::TRANSFER] = (w[engine::TRANSFER] - t.wait_ns).max(0.0);
        w
    };
    let busiest = |t: &engine::CoreTotals| work(t).iter().copied().fold(0.0, f64::max);
    let (bk, bt) = totals
        .iter()
        .enumerate()
        .max_by(|a, b| busiest(a.1).total_cmp(&busiest(b.1)))
        .map(|(k, t)| (k, t.clone()))
        .unwrap_or((0, engine::CoreTotals::default()));
    let bw = work(&bt);
    let unit = (0..4).max_by(|&a, &b| bw[a].total_cmp(&bw[b])).unwrap_or(0);
    let bottleneck = Bottleneck {
        core: p.cores.get(bk).map_or(0, |c| c.id.0),
        unit: engine::UNITS[unit],
        work_ns_per_sample: bw[unit] / f64::from(samples),
    };
    let core_static = m.cost.core_static_power;
    let mut e = EnergyBreakdown::default();
    let mut cores = vec![];
    for (k, t) in totals.iter().enumerate() {
        let stat = core_static * end;
        let dynamic: f64 = t.energy_pj.iter().sum();
        e.control += t.energy_pj[engine::E_CONTROL];
        e.matrix += t.energy_pj[engine::E_MATRIX];
        e.vector += t.energy_pj[engine::E_VECTOR];
        e.local_memory += t.energy_pj[engine::E_LOCAL];
        e.global_memory += t.energy_pj[engine::E_GLOBAL];
        e.noc += t.energy_pj[engine::E_NOC];
        e.static_ += stat;
        cores.push(CoreReport {
            core: p.cores[k].id.0,
            finish_ns: t.finish_ns,
            busy_ns: UnitBusy {
                matrix: t.busy_ns[0],
                vector: t.busy_ns[1],
                transfer: t.busy_ns[2],
                scalar: t.busy_ns[3],
            },
            wait_ns: t.wait_ns,
            instructions: t.instructions,
            bytes: Bytes {
                local_read: t.local_read_bytes,
                local_write: t.local_write_bytes,
                global_read: t.global_read_bytes,
                global_write: t.global_write_bytes,
                noc_sent: t.noc_sent_bytes,
                noc_received: t.noc_received_bytes,
            },
            energy_nj: (stat + dynamic) / 1000.0,
        });
    }
    e.static_ += m.cost.global.static_power * end;
    // pJ -> nJ.
    for v in [
        &mut e.static_,
        &mut e.control,
        &mut e.matrix,
        &mut e.vector,
        &mut e.local_memory,
        &mut e.global_memory,
        &mut e.noc,
    ] {
        *v /= 1000.0;
    }
    let energy_nj = e.static_ + e.control + e.matrix + e.vector + e.local_memory + e.global_memory + e.noc;
    let compat = opts.model == Model::PimsimCompat;
    let pimsim_throughput = compat.then(|| {
        let n = totals.len().max(1) as f64;
        totals.iter().map(|t| if t.finish_ns > 0.0 { f64::from(samples) / t.finish_ns * 1e9 } else { 0.0 }).sum::<f64>()
            / n
    });
    Ok(Report {
        model: opts.model.name(),
        noc: noc.describe(),
        samples,
        latency_ns,
        throughput_per_s,
        measured_throughput_per_s,
        global_busy_ns_per_sample,
        bottleneck,
        energy_nj,
        energy_breakdown: e,
        instructions: totals.iter().map(|t| t.instructions).sum(),
        cores,
        pimsim_latency_ns: compat.then_some(latency_ns),
        pimsim_throughput,
        overwrites,
        overwrite_count: run.overwrite_count,
        config_defaults: arch.defaulted.clone(),
        instruction_mix: p.dynamic_mix(),
        loop_seconds,
    })
}

/// The global buffer that holds byte `addr` (`global` when the program names none).
fn global_name(p: &Program, addr: u64) -> String {
    p.globals
        .iter()
        .find(|g| g.addr.is_some_and(|a| a <= addr && addr < a.saturating_add(g.footprint())))
        .map_or_else(|| "global memory".to_string(), |g| format!("global buffer '{}'", g.name))
}

impl Report {
    /// The human summary.
    pub fn summary(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "timing:  {} model, {}, {} sample(s)", self.model, self.noc, self.samples);
        let _ = writeln!(s, "latency: {}", ns(self.latency_ns));
        if let Some(t) = self.throughput_per_s {
            let _ = writeln!(
                s,
                "throughput: {t:.1} samples/s (bottleneck: core {} {}, {} of work per sample)",
                self.bottleneck.core,
                self.bottleneck.unit,
                ns(self.bottleneck.work_ns_per_sample)
            );
            if self.measured_throughput_per_s.is_some_and(|m| m > t) {
                let _ = writeln!(
                    s,
                    "  limited by global memory: its server is busy {} per sample; the last samples left at {:.1} samples/s, before its queue reached the steady state",
                    ns(self.global_busy_ns_per_sample),
                    self.measured_throughput_per_s.unwrap_or(t)
                );
            }
        }
        let e = &self.energy_breakdown;
        let _ = writeln!(
            s,
            "energy:  {:.3} uJ (static {:.3}, control {:.3}, matrix {:.3}, vector {:.3}, local {:.3}, global {:.3}, noc {:.3})",
            self.energy_nj / 1000.0,
            e.static_ / 1000.0,
            e.control / 1000.0,
            e.matrix / 1000.0,
            e.vector / 1000.0,
            e.local_memory / 1000.0,
            e.global_memory / 1000.0,
            e.noc / 1000.0
        );
        if let Some(o) = self.overwrites.first() {
            let _ = writeln!(
                s,
                "warning: the schedule is not safe to pipeline ({} load(s) found another sample's data); first: {}",
                self.overwrite_count,
                o.describe()
            );
        }
        s
    }
}

/// `1234567.0` ns -> `1.234567 ms`.
pub fn ns(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.6} ms", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.3} us", v / 1e3)
    } else {
        format!("{v:.0} ns")
    }
}
