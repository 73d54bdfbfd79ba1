//! pim-sim: simulates a compiled program (.pim, pim_isa MLIR, pimsim-nn files): its timing
//! and energy, and with inputs its outputs.
//!
//!   pim-sim lenet5.pim --input x.npy --output y.npy
//!   pim-sim --timing=pimsim-compat --arch latency_config.json resnet18_batch.gz

use clap::Parser;
use pimlir::diag::{Error, SourceMap};
use pimlir::dialect::{new_context, DiagnosticCapture};
use pimlir::driver;
use pimlir::sim::{self, timing, Tensor};
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc: parsing and lowering a million-instruction program makes millions of small
/// allocations from two threads; glibc's allocator spends much of that time in page faults
/// and arena locks.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum TimingFlag {
    /// No timing: values only
    Off,
    /// pimlir's model (pimsim-nn's structure, its defects fixed)
    Pimlir,
    /// pimsim-nn's model, reproduced exactly (to compare with its results)
    PimsimCompat,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum EngineFlag {
    /// The crossbar step interpreted
    Interp,
    /// The crossbar step compiled by LLVM for the configured precisions and the host CPU
    /// (bit-identical to the interpreter)
    Jit,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Numerics {
    /// Every value an f32; weights as trained
    F32,
    /// Crossbars as the converters compute: weights quantized to the weight width and sliced
    /// into cells, inputs bit-serial through the DACs, ADC outputs clipped, shift-add (the
    /// error against f32 is reported)
    BitAccurate,
}

#[derive(Parser)]
#[command(
    name = "pim-sim",
    about = "Simulate a compiled PIM program: its timing and energy, and its outputs",
    long_about = "Simulate a compiled PIM program (.pim text, pim_isa MLIR after --alloc-memory, or a \
                  pimsim-nn instruction file) on pimlir's simulator.\n\n\
                  Timing (on unless --timing=off): when every instruction runs on its core's units, \
                  under pimlir's model or pimsim-nn's (--timing=pimsim-compat), and the energy it takes; \
                  a timing run without --input computes no values and reads no weights.\n\n\
                  Values (with --input, or --timing=off): crossbars are programmed from the program's \
                  weight file (an ONNX model, or weights generated from a seed); inputs and outputs are \
                  numpy .npy files in the model's NCHW layout.\n\n\
                  --samples N runs every core's program N times back to back, as a batch pipeline does, \
                  and reports the steady-state throughput and its bottleneck."
)]
struct Args {
    /// Program to simulate: .pim, pim_isa .mlir, or a pimsim-nn instruction file (.gz, .json)
    program: String,
    /// Input tensor(s) as .npy, in the model's input order; a comma-separated list gives one
    /// file per sample (with --samples)
    #[arg(long = "input", short = 'i', value_name = "NPY")]
    inputs: Vec<String>,
    /// Where to write the output tensor(s) as .npy, in the model's output order; a
    /// comma-separated list names one file per sample
    #[arg(long = "output", short = 'o', value_name = "NPY")]
    outputs: Vec<String>,
    /// Architecture to simulate [default: the one the program names]
    #[arg(long, alias = "config", value_name = "PRESET|FILE")]
    arch: Option<String>,
    /// Weight file [default: the one the program names]
    #[arg(long, value_name = "ONNX")]
    weights: Option<PathBuf>,
    /// Timing model
    #[arg(long, value_enum, default_value_t = TimingFlag::Pimlir)]
    timing: TimingFlag,
    /// Runs of the program back to back (a pipelined batch)
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    samples: u32,
    /// Write the timing report as JSON to this file
    #[arg(long, value_name = "FILE")]
    report_json: Option<PathBuf>,
    /// Write a Chrome/Perfetto trace (open in ui.perfetto.dev) to this file
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Trace only this time window, in ns (e.g. 0..50000)
    #[arg(long, value_name = "FROM..TO")]
    trace_window: Option<String>,
    /// Trace only these cores (e.g. 0,3,7)
    #[arg(long, value_name = "CORES", value_delimiter = ',')]
    trace_cores: Vec<u32>,
    /// At most this many trace events
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    trace_max_events: usize,
    /// Number representation of the functional model
    #[arg(long, value_enum, default_value_t = Numerics::F32)]
    numerics: Numerics,
    /// What computes bit-accurate crossbars
    #[arg(long, value_enum, default_value_t = EngineFlag::Interp)]
    engine: EngineFlag,
    /// Weight width for --numerics=bit-accurate [default: the architecture's]
    #[arg(long, value_name = "BITS")]
    weight_bits: Option<u32>,
    /// Input width for --numerics=bit-accurate, whatever the program's setbw says [default:
    /// its setbw width]
    #[arg(long, value_name = "BITS")]
    input_bits: Option<u32>,
    /// ADC resolution for --numerics=bit-accurate [default: the architecture's]
    #[arg(long, value_name = "BITS")]
    adc_bits: Option<u32>,
    /// Print only errors
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Most dynamic instructions to simulate (and for the static checks)
    #[arg(long, value_name = "N", default_value_t = pimlir::limits::DEFAULT_INSTRUCTIONS)]
    max_instructions: u64,
    /// Most host memory for the simulated memories (and an imported program), e.g. 512M, 8G
    #[arg(long, value_name = "SIZE", default_value = "4G", value_parser = pimlir::limits::parse_size)]
    max_memory: u64,
}

fn main() -> ExitCode {
    pimlir::limits::tune_host_memory();
    let args = Args::parse();
    pimlir::limits::set_instructions(args.max_instructions);
    pimlir::limits::set_memory(args.max_memory);
    let mut sources = SourceMap::default();
    match pimlir::diag::catch_panic(|| run(&args, &mut sources)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprint!("{}", e.render(&sources));
            ExitCode::FAILURE
        }
        Err(why) => driver::internal_error(&why),
    }
}

/// `a.npy,b.npy` -> per-sample paths.
fn per_sample(list: &str) -> Vec<PathBuf> {
    list.split(',').filter(|s| !s.is_empty()).map(PathBuf::from).collect()
}

fn run(args: &Args, sources: &mut SourceMap) -> Result<(), Error> {
    use std::fmt::Write as _;
    let inputs: Vec<Vec<PathBuf>> = args.inputs.iter().map(|l| per_sample(l)).collect();
    let outputs: Vec<Vec<PathBuf>> = args.outputs.iter().map(|l| per_sample(l)).collect();
    // Two outputs to one file: the second would silently replace the first.
    let all_out: Vec<&PathBuf> = outputs.iter().flatten().collect();
    for (i, p) in all_out.iter().enumerate() {
        if all_out[..i].contains(p) {
            return Err(Error::new(format!("--output {} is given twice", p.display())));
        }
    }
    let timing = match args.timing {
        TimingFlag::Off => None,
        TimingFlag::Pimlir => Some(timing::Model::Pimlir),
        TimingFlag::PimsimCompat => Some(timing::Model::PimsimCompat),
    };
    let functional = timing.is_none() || !inputs.is_empty();
    let program = load_program(&args.program, args.arch.as_deref(), timing.is_some(), sources)?;
    let arch_spec = args.arch.clone().unwrap_or_else(|| {
        if program.arch.is_empty() {
            "pimcomp-default".into()
        } else {
            program.arch.clone()
        }
    });
    let arch = pimlir::arch::Arch::load(&arch_spec)?;
    let samples = args.samples as usize;
    // Each input lists one file per sample, or one for all.
    for (k, l) in inputs.iter().enumerate() {
        if l.len() != 1 && l.len() != samples {
            return Err(Error::new(format!(
                "--input {} names {} files; give one, or one per sample ({samples})",
                k,
                l.len()
            )));
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "program: {} ({} cores, {} static / {} dynamic instructions)",
        args.program,
        program.cores.len(),
        program.static_count(),
        program.dynamic_count()
    );
    let _ = writeln!(out, "arch:    {}", arch.summary());
    if !arch.defaulted.is_empty() {
        // pimsim-nn defaults missing keys silently; here the user learns that some did.
        let _ = writeln!(
            out,
            "defaults: {} config key(s) not given took pimlir's defaults (listed in --report-json), e.g. {}",
            arch.defaulted.len(),
            arch.defaulted[0]
        );
    }
    if !functional && (args.numerics != Numerics::F32 || args.engine != EngineFlag::Interp) {
        eprintln!(
            "note: --numerics and --engine choose how values are computed; a timing run without --input computes none"
        );
    }
    // A timing run made before the values (to check a pipelined schedule), reported below.
    let mut early = None;
    if functional {
        let weights_spec = match (&args.weights, &program.weights) {
            (Some(w), _) => Some(w.display().to_string()),
            (None, Some(w)) => Some(w.clone()),
            (None, None) => None,
        };
        let weights: Box<dyn sim::WeightStore> = match &weights_spec {
            Some(spec) => sim::weights::open_store(spec)?,
            None => Box::new(sim::weights::NoWeights),
        };
        if let Some(w) = &weights_spec {
            let _ = writeln!(out, "weights: {w}");
        }
        let runs = if inputs.is_empty() { 1 } else { samples };
        let numerics = match args.numerics {
            Numerics::F32 => sim::Numerics::F32,
            Numerics::BitAccurate => {
                let mut b = sim::crossbar::Precision::of(&arch);
                b.weight_bits = args.weight_bits.unwrap_or(b.weight_bits);
                b.input_override = args.input_bits;
                b.adc_bits = args.adc_bits.unwrap_or(b.adc_bits);
                b.check()?;
                let input = args.input_bits.map_or_else(|| "setbw".to_string(), |b| b.to_string());
                let _ = writeln!(
                    out,
                    "numerics: bit-accurate: weights {} bits in {}-bit cells, inputs {input} bits through {}-bit DACs, {}-bit ADCs on {}-row crossbars",
                    b.weight_bits, b.cell_bits, b.dac_bits, b.adc_bits, b.xbar_rows
                );
                let engine = match args.engine {
                    EngineFlag::Interp => sim::Engine::Interp,
                    EngineFlag::Jit => sim::Engine::Jit,
                };
                sim::Numerics::BitAccurate(b, engine)
            }
        };
        if numerics == sim::Numerics::F32
            && (args.weight_bits.is_some() || args.input_bits.is_some() || args.adc_bits.is_some())
        {
            return Err(Error::new("--weight-bits, --input-bits and --adc-bits need --numerics=bit-accurate"));
        }
        if numerics == sim::Numerics::F32 && args.engine == EngineFlag::Jit {
            return Err(Error::new("--engine=jit compiles bit-accurate crossbars: it needs --numerics=bit-accurate"));
        }
        // Samples run one after another here; that is what a pipelined chip computes only if
        // no sample overwrites global memory another still needs, which the timing engine
        // (which runs them overlapped) checks.
        if runs > 1 {
            if let Some(model) = timing {
                verified(&program, &arch)?;
                let timed = run_timing(args, &program, &arch, &arch_spec, model)?;
                let report = &timed.0;
                if let Some(o) = report.overwrites.first() {
                    return Err(Error::new(format!(
                        "--samples {runs}: the schedule is not safe to pipeline; {} load(s) find another sample's data, first: {}. A pipelined chip would compute other values than one sample at a time (give --samples 1, or a schedule with one copy of that buffer per sample in flight)",
                        report.overwrite_count,
                        o.describe()
                    )));
                }
                early = Some(timed);
            }
        }
        let mut results = vec![];
        let t0 = std::time::Instant::now();
        for s in 0..runs {
            let tensors = inputs
                .iter()
                .map(|l| Tensor::read_npy(if l.len() == 1 { &l[0] } else { &l[s] }))
                .collect::<Result<Vec<_>, _>>()?;
            match numerics {
                sim::Numerics::F32 => results.push(sim::run(&program, &arch, weights.as_ref(), &tensors)?),
                bits => {
                    let got = sim::run_numerics(&program, &arch, weights.as_ref(), &tensors, bits)?;
                    let f32 = sim::run(&program, &arch, weights.as_ref(), &tensors)?;
                    for (k, (a, b)) in got.outputs.iter().zip(&f32.outputs).enumerate() {
                        let e = sim::crossbar::Deviation::between(&a.data, &b.data);
                        let which = if runs > 1 { format!("sample {s} ") } else { String::new() };
                        let _ = writeln!(out, "{which}output {k}: bit-accurate against f32: {e}");
                    }
                    results.push(got);
                }
            }
        }
        let elapsed = t0.elapsed();
        let n_out = results[0].outputs.len();
        if outputs.len() > n_out {
            return Err(Error::new(format!("{} --output lists given, the program has {n_out} outputs", outputs.len())));
        }
        // Output k of sample s goes to the s-th file of the k-th list.
        let mut paths = vec![];
        let mut tensors = vec![];
        for (k, l) in outputs.iter().enumerate() {
            if l.len() != 1 && l.len() != runs {
                return Err(Error::new(format!("--output {k} names {} files; give one per sample ({runs})", l.len())));
            }
            for (s, path) in l.iter().enumerate() {
                paths.push(path.clone());
                tensors.push(results[s].outputs[k].clone());
            }
        }
        write_outputs(&paths, &tensors)?;
        if !outputs.is_empty() && outputs.len() < n_out {
            eprintln!(
                "note: {} of the program's {n_out} outputs written (one --output per output, in order)",
                outputs.len()
            );
        }
        for (s, r) in results.iter().enumerate() {
            for (k, t) in r.outputs.iter().enumerate() {
                let shown: Vec<String> = t.data.iter().take(16).map(|v| format!("{v:.5}")).collect();
                let more = if t.data.len() > 16 { ", ..." } else { "" };
                let which = if runs > 1 { format!("sample {s} ") } else { String::new() };
                let _ = writeln!(out, "{which}output {k} {:?}: [{}{more}]", t.shape, shown.join(", "));
            }
        }
        let r = &results[0];
        let _ = writeln!(
            out,
            "{:>6} {:>12} {:>8} {:>8} {:>10} {:>9}",
            "core", "instructions", "mvmul", "vector", "ld/st/mem", "messages"
        );
        for c in &r.cores {
            let _ = writeln!(
                out,
                "{:>6} {:>12} {:>8} {:>8} {:>10} {:>9}",
                c.id, c.instructions, c.mvmuls, c.vector, c.transfers, c.messages
            );
        }
        let n: u64 = results.iter().map(|r| r.instructions()).sum();
        let _ = writeln!(out, "simulated {n} instructions in {:.3} s", elapsed.as_secs_f64());
    }
    if let Some(model) = timing {
        let (report, trace, elapsed) = match early.take() {
            Some(timed) => timed,
            None => {
                if !functional {
                    // The checks a functional run makes first (addresses, groups, pairing).
                    verified(&program, &arch)?;
                }
                run_timing(args, &program, &arch, &arch_spec, model)?
            }
        };
        out.push_str(&report.summary());
        let _ = writeln!(
            out,
            "{:>6} {:>12} {:>14} {:>8} {:>8} {:>9}",
            "core", "instructions", "finish", "matrix%", "vector%", "transfer%"
        );
        for c in &report.cores {
            let pct = |b: f64| if c.finish_ns > 0.0 { 100.0 * b / c.finish_ns } else { 0.0 };
            let _ = writeln!(
                out,
                "{:>6} {:>12} {:>14} {:>8.1} {:>8.1} {:>9.1}",
                c.core,
                c.instructions,
                timing::ns(c.finish_ns),
                pct(c.busy_ns.matrix),
                pct(c.busy_ns.vector),
                pct(c.busy_ns.transfer)
            );
        }
        let _ = writeln!(
            out,
            "timed {} instructions in {:.3} s (event loop {:.3} s, {:.1} M instructions/s)",
            report.instructions,
            elapsed.as_secs_f64(),
            report.loop_seconds,
            report.instructions as f64 / report.loop_seconds.max(1e-9) / 1e6
        );
        if let Some(path) = &args.report_json {
            let json = serde_json::to_string_pretty(&report).map_err(|e| Error::new(e.to_string()))?;
            driver::write_output(&path.display().to_string(), &json)?;
        }
        if let Some(path) = &args.trace {
            let staged = pimlir::output::staging(path);
            let shown = path.display().to_string();
            let io = |e: std::io::Error| Error::new(format!("cannot write the trace: {e}")).in_file(&shown);
            let f = std::fs::File::create(&staged).map_err(io)?;
            let mut w = std::io::BufWriter::new(f);
            if let Err(e) = trace.write(&mut w) {
                pimlir::output::discard(&staged, path);
                return Err(io(e));
            }
            drop(w);
            pimlir::output::commit(&staged, path).map_err(io)?;
            if trace.dropped > 0 {
                eprintln!(
                    "note: the trace holds the first {} events; {} more were left out (--trace-max-events, --trace-window, --trace-cores)",
                    args.trace_max_events, trace.dropped
                );
            }
        }
    }
    if !args.quiet {
        // The report is written at once; a reader that stops early (`| head`) is no error.
        if let Err(e) = std::io::Write::write_all(&mut std::io::stdout().lock(), out.as_bytes()) {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                return Err(Error::new(format!("cannot write the report: {e}")));
            }
        }
    }
    Ok(())
}

/// The checks a functional run makes before it runs (addresses, groups, pairing).
fn verified(program: &pimlir::isa::Program, arch: &pimlir::arch::Arch) -> Result<(), Error> {
    program.check_allocated()?;
    let (findings, _) = pimlir::isa::verify::check_all(program, arch);
    if findings.is_empty() {
        Ok(())
    } else {
        Err(Error::many(findings))
    }
}

/// Times `program` as the flags ask (model, samples, trace, progress bar); the report, the
/// trace and the host time the timing took.
fn run_timing(
    args: &Args,
    program: &pimlir::isa::Program,
    arch: &pimlir::arch::Arch,
    arch_spec: &str,
    model: timing::Model,
) -> Result<(timing::Report, timing::Trace, std::time::Duration), Error> {
    let noc = noc_of(arch, arch_spec, model)?;
    let mut trace = match &args.trace {
        Some(_) => timing::Trace::new(timing::TraceOptions {
            window: args.trace_window.as_deref().map(parse_window).transpose()?,
            cores: args.trace_cores.iter().map(|&c| pimlir::arch::CoreId(c)).collect(),
            max_events: args.trace_max_events,
        }),
        None => timing::Trace::off(),
    };
    let total = program.dynamic_count().saturating_mul(u64::from(args.samples.max(1)));
    let progress = Progress::start(total);
    let opts = timing::Options { model, samples: args.samples, progress: progress.as_ref().map(|p| p.done.clone()) };
    let t0 = std::time::Instant::now();
    let report = timing::simulate(program, arch, &noc, &opts, &mut trace);
    drop(progress);
    Ok((report?, trace, t0.elapsed()))
}

/// A progress bar on stderr for a timing run that takes more than a second, when stderr is a
/// terminal; it goes away when dropped. `PIMLIR_PROGRESS_AFTER_MS` sets the delay (tests).
struct Progress {
    done: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    drawer: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    fn start(total: u64) -> Option<Progress> {
        use std::io::IsTerminal;
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        use std::sync::Arc;
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let done = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (d, s) = (done.clone(), stop.clone());
        let after = std::env::var("PIMLIR_PROGRESS_AFTER_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
        let drawer = std::thread::spawn(move || {
            let started = std::time::Instant::now();
            while started.elapsed() < std::time::Duration::from_millis(after) {
                if s.load(Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template("timing {bar:40} {human_pos}/{human_len} instructions ({eta})")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            loop {
                bar.set_position(d.load(Ordering::Relaxed));
                if s.load(Ordering::Relaxed) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            bar.finish_and_clear();
        });
        Some(Progress { done, stop, drawer: Some(drawer) })
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(h) = self.drawer.take() {
            let _ = h.join();
        }
    }
}

/// The NoC a timing model sees: pimsim-compat the table a pimsim-nn config names (relative
/// to the config file), pimlir a mesh from the core layout.
fn noc_of(arch: &pimlir::arch::Arch, arch_spec: &str, model: timing::Model) -> Result<timing::Noc, Error> {
    let config_path = std::path::Path::new(arch_spec);
    let config_path = (!pimlir::arch::Arch::is_preset(arch_spec)).then_some(config_path);
    Ok(match model {
        timing::Model::PimsimCompat => timing::Noc::for_arch(arch, config_path)?,
        timing::Model::Pimlir => timing::Noc::Mesh(timing::noc::Mesh::of(arch)),
    })
}

/// `0..50000` (ns) -> (0, 50000).
fn parse_window(s: &str) -> Result<(f64, f64), Error> {
    let bad = || Error::new(format!("--trace-window '{s}' must be FROM..TO in ns, e.g. 0..50000"));
    let (a, b) = s.split_once("..").ok_or_else(bad)?;
    let (a, b): (f64, f64) = (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?);
    if a.partial_cmp(&b) != Some(std::cmp::Ordering::Less) {
        return Err(bad());
    }
    Ok((a, b))
}

/// Writes every output or none: each under a temporary name beside it, renamed into place
/// once all are written (`pimlir::output`).
fn write_outputs(paths: &[PathBuf], tensors: &[Tensor]) -> Result<(), Error> {
    let staged: Vec<PathBuf> = paths.iter().map(|p| pimlir::output::staging(p)).collect();
    let result = staged.iter().zip(tensors).try_for_each(|(tmp, t)| t.write_npy(tmp)).and_then(|()| {
        paths.iter().zip(&staged).try_for_each(|(path, tmp)| {
            pimlir::output::commit(tmp, path)
                .map_err(|e| Error::new(format!("cannot write output: {e}")).in_file(&path.display().to_string()))
        })
    });
    if result.is_err() {
        for (tmp, path) in staged.iter().zip(paths) {
            pimlir::output::discard(tmp, path);
        }
    }
    result
}

/// Reads a program from .pim text, pim_isa MLIR or a pimsim-nn instruction file (.gz or
/// .json); weight paths become relative to the cwd.
fn load_program(
    path: &str,
    arch: Option<&str>,
    keep_scalar: bool,
    sources: &mut SourceMap,
) -> Result<pimlir::isa::Program, Error> {
    if path.ends_with(".gz") || path.ends_with(".json") {
        return driver::read_pimsim(path, arch, keep_scalar);
    }
    let text = driver::read_text(path)?;
    sources.add(path, text.as_str());
    if driver::input_kind(path) == driver::InputKind::Pim {
        let mut p = pimlir::isa::text::parse(&text, path)?;
        driver::paths_from_file(&mut p, path);
        return Ok(p);
    }
    let ctx = new_context();
    let capture = DiagnosticCapture::attach(&ctx);
    let module = pimlir::dialect::parse_module(&ctx, &text, path);
    let program = module.as_ref().ok_or(()).and_then(|m| pimlir::dialect::isa_ir::read_program(m).map_err(|_| ()));
    match program {
        Ok(p) => Ok(p),
        Err(()) => {
            let mut d = capture.take();
            if d.is_empty() {
                d.push(pimlir::diag::Diagnostic::error("not a pim_isa program"));
            }
            Err(Error::many(d))
        }
    }
}
