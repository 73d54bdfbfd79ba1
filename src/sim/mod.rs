//! The simulator: runs every core's program and returns the model's outputs, so a compiled
//! program can be checked against onnxruntime.
//!
//! Three parts: [`semantics`] (what an instruction reads, writes and computes, from the
//! instruction table), an engine ([`engine::Functional`]: cores interleaved at their
//! synchronous communication, on f32 data) and observers ([`observe`]: statistics; timing,
//! energy and traces observe the same runs). Memory is byte-addressed as in the ISA; every
//! element occupies the program's element size (its `setbw`, else the architecture's
//! activation width) and is held as an f32 (values are not quantized). Crossbars hold their
//! slice of the layer matrices, read from the weight store through each layer's unfolding.

pub mod crossbar;
pub mod engine;
#[cfg(feature = "jit")]
pub mod jit;
pub mod observe;
pub mod semantics;
pub mod timing;
pub mod weights;

use crate::arch::Arch;
use crate::diag::{Error, Result};
use crate::isa::{GlobalInit, Program};
pub use observe::{At, CoreStats, Observer, Stats};
pub use weights::{Tensor, WeightStore};

#[derive(Debug, Clone)]
pub struct SimResult {
    pub outputs: Vec<Tensor>,
    pub cores: Vec<CoreStats>,
}

impl SimResult {
    pub fn instructions(&self) -> u64 {
        self.cores.iter().map(|c| c.instructions).sum()
    }
}

/// How the functional model computes an `mvmul`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Numerics {
    /// In f32 with the weights as trained.
    F32,
    /// Through quantized cells, DACs and ADCs ([`crossbar`]), interpreted or with kernels
    /// compiled for the precisions (`jit`).
    BitAccurate(crossbar::Precision, Engine),
}

/// What computes a bit-accurate crossbar step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Interp,
    Jit,
}

/// Simulates `p` on `arch` with crossbars programmed from `weights`, for one input set.
pub fn run(p: &Program, arch: &Arch, weights: &dyn WeightStore, inputs: &[Tensor]) -> Result<SimResult> {
    run_numerics(p, arch, weights, inputs, Numerics::F32)
}

/// [`run`] with the given numerics.
pub fn run_numerics(
    p: &Program,
    arch: &Arch,
    weights: &dyn WeightStore,
    inputs: &[Tensor],
    numerics: Numerics,
) -> Result<SimResult> {
    let mut stats = Stats::new(&p.cores.iter().map(|c| c.id).collect::<Vec<_>>());
    let outputs = run_full(p, arch, weights, inputs, &mut stats, numerics)?;
    Ok(SimResult { outputs, cores: stats.cores })
}

/// Simulates `p` and reports every instruction and transfer to `obs`; returns the outputs.
pub fn run_with(
    p: &Program,
    arch: &Arch,
    weights: &dyn WeightStore,
    inputs: &[Tensor],
    obs: &mut dyn Observer,
) -> Result<Vec<Tensor>> {
    run_full(p, arch, weights, inputs, obs, Numerics::F32)
}

fn run_full(
    p: &Program,
    arch: &Arch,
    weights: &dyn WeightStore,
    inputs: &[Tensor],
    obs: &mut dyn Observer,
    numerics: Numerics,
) -> Result<Vec<Tensor>> {
    let (bits, engine) = match numerics {
        Numerics::F32 => (None, Engine::Interp),
        Numerics::BitAccurate(b, e) => {
            b.check()?;
            let rows = p.cores.iter().flat_map(|c| &c.ags).map(|g| g.rows.max(0) as u64).max().unwrap_or(0);
            b.check_rows(rows)?;
            (Some(b), e)
        }
    };
    p.check_allocated()?;
    let (findings, footprint) = crate::isa::verify::check_all(p, arch);
    if !findings.is_empty() {
        return Err(Error::many(findings));
    }
    crate::limits::check_instructions("simulating the program", p.dynamic_count())?;
    let eb = crate::isa::verify::element_bytes(p, arch) as u64;
    // The simulated memories hold what the program touches, one f32 per element.
    let elems = |bytes: u64| bytes.div_ceil(eb);
    let host =
        footprint.local.iter().chain([&footprint.global]).map(|&b| elems(b)).fold(0u64, |a, b| a.saturating_add(b));
    crate::limits::check_memory("simulating the program", host.saturating_mul(4))?;
    let mem =
        semantics::Memories { eb, local_bytes: arch.local_memory_bytes(), global_bytes: arch.global_memory_bytes() };
    let mut global = init_globals(p, eb, weights, inputs)?;
    global.resize(global.len().max(elems(footprint.global) as usize), 0.0);
    let kernels = match (bits, engine) {
        (Some(b), Engine::Jit) => compile_kernels(p, b)?,
        _ => weights::Kernels::new(),
    };
    let crossbars = weights::crossbars_with(p, weights, bits.as_ref(), &kernels)?;
    let local: Vec<usize> = footprint.local.iter().map(|&b| elems(b) as usize).collect();
    let mut engine = engine::Functional::new(p, mem, &local, crossbars, global);
    engine.run(obs)?;
    read_outputs(p, eb, &engine.global)
}

/// A compiled step for every (columns, planes) among the program's array groups.
#[cfg(feature = "jit")]
fn compile_kernels(p: &Program, b: crossbar::Precision) -> Result<weights::Kernels> {
    thread_local! {
        // Kernels compiled in this thread, by precision: later runs (samples) reuse them.
        static JITS: std::cell::RefCell<std::collections::HashMap<crossbar::Precision, jit::Jit>> =
            std::cell::RefCell::new(std::collections::HashMap::new());
    }
    JITS.with(|jits| {
        let mut jits = jits.borrow_mut();
        let jit = match jits.entry(b) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(jit::Jit::new(b)?),
        };
        let planes = b.weight_slices() * 2;
        let mut out = weights::Kernels::new();
        for ag in p.cores.iter().flat_map(|c| &c.ags) {
            let cols = ag.cols.max(0) as usize;
            if let std::collections::hash_map::Entry::Vacant(e) = out.entry((cols, planes)) {
                e.insert(jit.kernel(cols, planes)?);
            }
        }
        Ok(out)
    })
}

#[cfg(not(feature = "jit"))]
fn compile_kernels(_: &Program, _: crossbar::Precision) -> Result<weights::Kernels> {
    Err(Error::new("--engine=jit: this build has no JIT (built without the `jit` feature)"))
}

/// Converts between NCHW tensors and the height-width-channel order of memory: NCHW to
/// HWC, or back with `to_nchw`. Tensors of other ranks are stored as they are.
fn reorder(shape: &[i64], data: &[f32], to_nchw: bool) -> Vec<f32> {
    let [1, c, h, w] = *shape else { return data.to_vec() };
    let (c, h, w) = (c as usize, h as usize, w as usize);
    let mut out = vec![0.0; data.len()];
    for ci in 0..c {
        for y in 0..h {
            for x in 0..w {
                let (nchw, hwc) = ((ci * h + y) * w + x, (y * w + x) * c + ci);
                if to_nchw {
                    out[nchw] = data[hwc];
                } else {
                    out[hwc] = data[nchw];
                }
            }
        }
    }
    out
}

/// The element range `[at, at + n)` of global buffer `g`, with its elements' count checked
/// against `shape` (when it has one).
fn span(g: &crate::isa::GlobalBuf, eb: u64, shape: Option<&[i64]>) -> Result<(usize, usize)> {
    let addr = g.addr.ok_or_else(|| Error::new(format!("global buffer '{}' has no address", g.name)))?;
    if !addr.is_multiple_of(eb) || !g.size.is_multiple_of(eb) {
        return Err(Error::new(format!("global buffer '{}' is not aligned to the element size {eb}", g.name)));
    }
    let n = (g.size / eb) as usize;
    if let Some(shape) = shape {
        let want = shape.iter().try_fold(1usize, |a, &d| usize::try_from(d).ok().and_then(|d| a.checked_mul(d)));
        if want != Some(n) {
            return Err(Error::new(format!(
                "global buffer '{}' holds {n} elements but its shape {shape:?} needs {}",
                g.name,
                want.map_or("more".to_string(), |w| w.to_string())
            )));
        }
    }
    Ok(((addr / eb) as usize, n))
}

/// Global memory with inputs (NCHW -> HWC), weights, fills and folded-normalization vectors.
fn init_globals(p: &Program, eb: u64, weights: &dyn WeightStore, inputs: &[Tensor]) -> Result<Vec<f32>> {
    let end = p.globals.iter().map(|g| g.addr.unwrap_or(0).saturating_add(g.footprint())).max().unwrap_or(0);
    let mut global = vec![0.0f32; end.div_ceil(eb) as usize];
    let wanted = p
        .globals
        .iter()
        .filter_map(|g| match g.init {
            GlobalInit::Input { index, .. } => Some(index as usize + 1),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    if inputs.len() != wanted {
        return Err(Error::new(format!("the program takes {wanted} input(s), {} given", inputs.len())));
    }
    for g in &p.globals {
        let shape = match &g.init {
            GlobalInit::Input { shape, .. } | GlobalInit::Output { shape, .. } => Some(shape.as_slice()),
            _ => None,
        };
        let (at, n) = span(g, eb, shape)?;
        let dst = &mut global[at..at + n];
        match &g.init {
            GlobalInit::None | GlobalInit::Output { .. } => {}
            GlobalInit::Input { index, shape } => {
                let t = &inputs[*index as usize];
                if &t.shape != shape {
                    return Err(Error::new(format!(
                        "input {index} ('{}') must have shape {shape:?}, got {:?}",
                        g.name, t.shape
                    )));
                }
                dst.copy_from_slice(&reorder(shape, &t.data, false));
            }
            GlobalInit::Weight { name } => {
                let t = weights.tensor(name, &[n as i64])?;
                if t.data.len() != n {
                    return Err(Error::new(format!(
                        "global buffer '{}' holds {n} elements but weight '{name}' has {}",
                        g.name,
                        t.data.len()
                    )));
                }
                dst.copy_from_slice(&t.data);
            }
            GlobalInit::Fill { value } => dst.fill(*value),
            GlobalInit::Bias { bias, bn } => {
                let (scale, shift) = weights::bn_scale_shift(weights, bn, n)?;
                let b = match bias {
                    Some(b) => weights::vector(weights, b, n)?,
                    None => vec![0.0; n],
                };
                for k in 0..n {
                    dst[k] = b[k] * scale[k] + shift[k];
                }
            }
            GlobalInit::BnScale { bn } => dst.copy_from_slice(&weights::bn_scale_shift(weights, bn, n)?.0),
            GlobalInit::BnShift { bn } => dst.copy_from_slice(&weights::bn_scale_shift(weights, bn, n)?.1),
        }
    }
    Ok(global)
}

fn read_outputs(p: &Program, eb: u64, global: &[f32]) -> Result<Vec<Tensor>> {
    let mut outs: Vec<(u32, Tensor)> = vec![];
    for g in &p.globals {
        if let GlobalInit::Output { index, shape } = &g.init {
            let (at, n) = span(g, eb, Some(shape))?;
            let data = reorder(shape, &global[at..at + n], true);
            outs.push((*index, Tensor { shape: shape.clone(), data }));
        }
    }
    outs.sort_by_key(|o| o.0);
    Ok(outs.into_iter().map(|o| o.1).collect())
}
