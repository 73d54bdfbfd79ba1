//! pim-sim: runs a compiled program (.pim, or pim_isa MLIR) on the functional simulator.
//!
//!   pim-sim lenet5.pim --input x.npy --output y.npy

use clap::Parser;
use pimlir::diag::{Error, SourceMap};
use pimlir::dialect::{new_context, DiagnosticCapture};
use pimlir::driver;
use pimlir::sim::{self, Tensor};
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc: parsing and lowering a million-instruction program makes millions of small
/// allocations from two threads; glibc's allocator spends much of that time in page faults
/// and arena locks.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "pim-sim",
    about = "Simulate a compiled PIM program and report its outputs and instruction counts",
    long_about = "Simulate a compiled PIM program (.pim text, pim_isa MLIR after --alloc-memory, or a \
                  pimsim-nn instruction file) on pimlir's functional simulator. Crossbars are programmed \
                  from the program's weight file (an ONNX model, or weights generated from a seed); \
                  inputs and outputs are numpy .npy files in the model's NCHW layout."
)]
struct Args {
    /// Program to simulate: .pim, pim_isa .mlir, or a pimsim-nn instruction file (.gz, .json)
    program: String,
    /// Input tensor(s) as .npy, in the model's input order
    #[arg(long = "input", short = 'i', value_name = "NPY")]
    inputs: Vec<PathBuf>,
    /// Where to write the output tensor(s) as .npy, in the model's output order
    #[arg(long = "output", short = 'o', value_name = "NPY")]
    outputs: Vec<PathBuf>,
    /// Architecture to simulate [default: the one the program names]
    #[arg(long, alias = "config", value_name = "PRESET|FILE")]
    arch: Option<String>,
    /// Weight file [default: the one the program names]
    #[arg(long, value_name = "ONNX")]
    weights: Option<PathBuf>,
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

fn run(args: &Args, sources: &mut SourceMap) -> Result<(), Error> {
    // Two outputs to one file: the second would silently replace the first.
    for (i, p) in args.outputs.iter().enumerate() {
        if args.outputs[..i].contains(p) {
            return Err(Error::new(format!("--output {} is given twice", p.display())));
        }
    }
    let program = load_program(&args.program, args.arch.as_deref(), sources)?;
    let arch_spec = args.arch.clone().unwrap_or_else(|| {
        if program.arch.is_empty() {
            "pimcomp-default".into()
        } else {
            program.arch.clone()
        }
    });
    let arch = pimlir::arch::Arch::load(&arch_spec)?;
    let weights_spec = match (&args.weights, &program.weights) {
        (Some(w), _) => Some(w.display().to_string()),
        (None, Some(w)) => Some(w.clone()),
        (None, None) => None,
    };
    let weights: Box<dyn sim::WeightStore> = match &weights_spec {
        Some(spec) => sim::weights::open_store(spec)?,
        None => Box::new(sim::weights::NoWeights),
    };
    let inputs = args.inputs.iter().map(|p| Tensor::read_npy(p)).collect::<Result<Vec<_>, _>>()?;
    let t0 = std::time::Instant::now();
    let result = sim::run(&program, &arch, weights.as_ref(), &inputs)?;
    let elapsed = t0.elapsed();
    if args.outputs.len() > result.outputs.len() {
        return Err(Error::new(format!(
            "{} --output files given, the program has {} outputs",
            args.outputs.len(),
            result.outputs.len()
        )));
    }
    write_outputs(&args.outputs, &result.outputs)?;
    if !args.outputs.is_empty() && args.outputs.len() < result.outputs.len() {
        eprintln!(
            "note: {} of the program's {} outputs written (one --output per output, in order)",
            args.outputs.len(),
            result.outputs.len()
        );
    }
    if !args.quiet {
        // The report is written at once; a reader that stops early (`| head`) is no error.
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "program: {} ({} cores, {} static / {} dynamic instructions)",
            args.program,
            program.cores.len(),
            program.static_count(),
            result.instructions()
        );
        let _ = writeln!(out, "arch:    {}", arch.summary());
        if let Some(w) = &weights_spec {
            let _ = writeln!(out, "weights: {w}");
        }
        for (k, t) in result.outputs.iter().enumerate() {
            let shown: Vec<String> = t.data.iter().take(16).map(|v| format!("{v:.5}")).collect();
            let more = if t.data.len() > 16 { ", ..." } else { "" };
            let _ = writeln!(out, "output {k} {:?}: [{}{more}]", t.shape, shown.join(", "));
        }
        let _ = writeln!(
            out,
            "{:>6} {:>12} {:>8} {:>8} {:>10} {:>9}",
            "core", "instructions", "mvmul", "vector", "ld/st/mem", "messages"
        );
        for c in &result.cores {
            let _ = writeln!(
                out,
                "{:>6} {:>12} {:>8} {:>8} {:>10} {:>9}",
                c.id, c.instructions, c.mvmuls, c.vector, c.transfers, c.messages
            );
        }
        let _ = writeln!(out, "simulated {} instructions in {:.3} s", result.instructions(), elapsed.as_secs_f64());
        if let Err(e) = std::io::Write::write_all(&mut std::io::stdout().lock(), out.as_bytes()) {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                return Err(Error::new(format!("cannot write the report: {e}")));
            }
        }
    }
    Ok(())
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
fn load_program(path: &str, arch: Option<&str>, sources: &mut SourceMap) -> Result<pimlir::isa::Program, Error> {
    if path.ends_with(".gz") || path.ends_with(".json") {
        return driver::read_pimsim(path, arch);
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
