//! pim-translate: converts between pimlir's formats, like mlir-translate.
//!
//!   pim-translate --import-onnx model.onnx -o model.mlir
//!   pim-translate --import-pimcomp-json resnet18.json -o resnet18.mlir
//!   pim-translate --mlir-to-pim prog.mlir -o prog.pim
//!   pim-translate --pim-to-mlir prog.pim -o prog.mlir
//!   pim-translate --import-pimsim resnet18_batch.gz --reroll -o resnet18.pim
//!   pim-translate --export-pimsim prog.pim -o prog.gz

use clap::{ArgGroup, Parser, ValueEnum};
use pimlir::arch::Arch;
use pimlir::diag::{Error, SourceMap};
use pimlir::dialect::{isa_ir, new_context, DiagnosticCapture};
use pimlir::driver;
use pimlir::isa::Program;
use std::path::Path;
use std::process::ExitCode;

/// mimalloc: parsing and lowering a million-instruction program makes millions of small
/// allocations from two threads; glibc's allocator spends much of that time in page faults
/// and arena locks.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "pim-translate",
    about = "Translate between ONNX, MLIR (pimlir dialects), .pim text and pimsim-nn instruction files",
    after_help = "Program options (--reroll, --flatten) apply to translations that produce a program: \
                  --import-pimsim, --mlir-to-pim, --pim-to-mlir, --pim-to-pim and --export-pimsim (which always \
                  expands loops)."
)]
#[command(group(ArgGroup::new("translation").required(true).args([
    "import_onnx", "import_pimcomp_json", "import_pimsim", "export_pimsim", "mlir_to_pim", "pim_to_mlir", "pim_to_pim"
])))]
struct Args {
    /// Input file (- for standard input, text formats only)
    #[arg(default_value = "-")]
    input: String,
    /// Output file
    #[arg(short = 'o', default_value = "-", value_name = "FILE")]
    output: String,
    /// ONNX model -> graph dialect (weights stay in the ONNX file, referenced by name)
    #[arg(long)]
    import_onnx: bool,
    /// PIMCOMP-NN structure JSON -> graph dialect (weights generated from --seed when simulated)
    #[arg(long)]
    import_pimcomp_json: bool,
    /// pimsim-nn instruction file (.gz or plain JSON) -> .pim (or pim_isa MLIR with --emit=mlir);
    /// registers are resolved into addresses, config.array_group_map becomes the AG tables
    #[arg(long)]
    import_pimsim: bool,
    /// .pim or pim_isa MLIR -> pimsim-nn instruction file (gzipped when -o ends in .gz):
    /// loops expanded, addresses loaded with sldi
    #[arg(long)]
    export_pimsim: bool,
    /// Seed of generated weights (PIMCOMP-NN and pimsim-nn imports carry no weights)
    #[arg(long, default_value_t = pimlir::frontend::pimcomp_json::DEFAULT_SEED)]
    seed: u64,
    /// pim_isa MLIR -> .pim text
    #[arg(long)]
    mlir_to_pim: bool,
    /// .pim text -> pim_isa MLIR
    #[arg(long)]
    pim_to_mlir: bool,
    /// .pim text -> .pim text: checked and re-printed in canonical form (with --reroll or
    /// --flatten, restructured), without going through MLIR
    #[arg(long)]
    pim_to_pim: bool,
    /// Fold repeated strided instruction runs into repeat loops (for flat programs, e.g. imported)
    #[arg(long)]
    reroll: bool,
    /// Expand every repeat loop (the strict ISA has no loops)
    #[arg(long, conflicts_with = "reroll")]
    flatten: bool,
    /// Architecture: recorded by --import-pimsim [default: pimcomp-default]; gives the crossbar
    /// size for --export-pimsim [default: the program's]
    #[arg(long, value_name = "PRESET|FILE")]
    arch: Option<String>,
    /// Output form of a program [default: mlir when -o ends in .mlir, else pim]
    #[arg(long, value_enum)]
    emit: Option<Emit>,
    /// Print locations in MLIR output
    #[arg(long)]
    mlir_print_debuginfo: bool,
    /// Report the time of each step (read, parse, reroll, print, write) on stderr
    #[arg(long)]
    timing: bool,
    /// Most dynamic instructions --flatten, --export-pimsim and the static checks may process
    #[arg(long, value_name = "N", default_value_t = pimlir::limits::DEFAULT_INSTRUCTIONS)]
    max_instructions: u64,
    /// Most host memory for a flattened or imported program, e.g. 512M, 8G
    #[arg(long, value_name = "SIZE", default_value = "4G", value_parser = pimlir::limits::parse_size)]
    max_memory: u64,
}

/// Wall-clock time of each step, printed on stderr with `--timing`.
struct Timing {
    enabled: bool,
    last: std::time::Instant,
}

impl Timing {
    fn new(enabled: bool) -> Self {
        Timing { enabled, last: std::time::Instant::now() }
    }
    /// Ends a step; `instructions` gives a rate for steps that handle a program (counted
    /// after the clock stops).
    fn step(&mut self, what: &str, instructions: Option<&dyn Fn() -> u64>) {
        let now = std::time::Instant::now();
        let secs = (now - self.last).as_secs_f64();
        if self.enabled {
            let instructions = instructions.map(|f| f());
            match instructions {
                Some(n) => {
                    eprintln!("timing: {what:<8} {secs:8.3} s  {n} instructions, {:.2} M/s", n as f64 / secs / 1e6)
                }
                None => eprintln!("timing: {what:<8} {secs:8.3} s"),
            }
        }
        self.last = std::time::Instant::now();
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Emit {
    Pim,
    Mlir,
}

fn main() -> ExitCode {
    pimlir::limits::tune_host_memory();
    let args = Args::parse();
    pimlir::limits::set_instructions(args.max_instructions);
    pimlir::limits::set_memory(args.max_memory);

    let ctx = new_context();
    let capture = DiagnosticCapture::attach(&ctx);
    let mut sources = SourceMap::default();
    let mut timing = Timing::new(args.timing);
    let result = match pimlir::diag::catch_panic(|| translate(&args, &ctx, &mut sources, &mut timing)) {
        Ok(r) => r,
        Err(why) => return driver::internal_error(&why),
    };
    let mut diags = capture.take();
    if let Err(e) = result {
        diags.extend(e.diagnostics);
    }
    if driver::report(&diags, &sources) || diags.iter().any(|d| d.severity == pimlir::diag::Severity::Error) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn translate(args: &Args, ctx: &melior::Context, sources: &mut SourceMap, t: &mut Timing) -> Result<(), Error> {
    if (args.reroll || args.flatten) && (args.import_onnx || args.import_pimcomp_json) {
        return Err(Error::new("--reroll and --flatten apply to programs, not to graph imports"));
    }
    let text = if args.import_onnx {
        if args.input == "-" {
            return Err(Error::new("--import-onnx needs an input file"));
        }
        let module = pimlir::driver::import_onnx(ctx, Path::new(&args.input))?;
        driver::module_to_mlir(&module, args.mlir_print_debuginfo)
    } else if args.import_pimcomp_json {
        let src = driver::read_text(&args.input)?;
        let module = pimlir::driver::import_pimcomp_json(ctx, &src, &args.input, args.seed)?;
        driver::module_to_mlir(&module, args.mlir_print_debuginfo)
    } else if args.import_pimsim {
        if args.input == "-" {
            return Err(Error::new("--import-pimsim needs an input file"));
        }
        let spec = args.arch.clone().unwrap_or_else(|| "pimcomp-default".to_string());
        let arch = Arch::load(&spec)?;
        let opts = pimlir::pimsim::ImportOptions {
            arch: spec,
            xbar_size: [arch.xbar_rows(), arch.xbar_cols()],
            seed: args.seed,
            keep_scalar: false,
        };
        let mut p = pimlir::pimsim::read(Path::new(&args.input), &opts)?;
        t.step("import", Some(&|| p.dynamic_count()));
        reshape(args, &mut p, t)?;
        let findings = pimlir::isa::verify::check(&p, &arch);
        t.step("verify", None);
        if !findings.is_empty() {
            return Err(
                Error::many(findings).prefixed(&format!("{}: the imported program does not verify: ", args.input))
            );
        }
        emit_program(args, ctx, p, t)?
    } else {
        // The remaining translations read a program (.pim or pim_isa MLIR), verified against
        // its architecture (or --arch): what they write is meant to be simulated.
        let mut p = read_program(args, ctx, sources, t)?;
        let spec =
            args.arch
                .clone()
                .unwrap_or_else(|| if p.arch.is_empty() { "pimcomp-default".into() } else { p.arch.clone() });
        let arch = Arch::load(&spec)?;
        let findings = pimlir::isa::verify::check(&p, &arch);
        if !findings.is_empty() {
            return Err(Error::many(findings));
        }
        t.step("verify", None);
        reshape(args, &mut p, t)?;
        if args.export_pimsim {
            let xbar = [arch.xbar_rows(), arch.xbar_cols()];
            if args.output == "-" {
                // Written whole or not at all, like a file.
                let mut out = vec![];
                pimlir::pimsim::write_to(&p, xbar, &mut out)?;
                use std::io::Write;
                std::io::stdout()
                    .lock()
                    .write_all(&out)
                    .map_err(|e| Error::new(format!("cannot write output: {e}")))?;
            } else {
                pimlir::pimsim::write(&p, xbar, Path::new(&args.output))?;
            }
            t.step("export", Some(&|| p.dynamic_count()));
            return Ok(());
        }
        emit_program(args, ctx, p, t)?
    };
    driver::write_output(&args.output, &text)?;
    t.step("write", None);
    Ok(())
}

/// Applies `--reroll` / `--flatten`.
fn reshape(args: &Args, p: &mut Program, t: &mut Timing) -> Result<(), Error> {
    if args.reroll {
        p.reroll();
        t.step("reroll", Some(&|| p.dynamic_count()));
    }
    if args.flatten {
        p.flatten()?;
        t.step("flatten", Some(&|| p.dynamic_count()));
    }
    Ok(())
}

/// Reads the input program: `.pim` text, else pim_isa MLIR. Paths in it become relative to
/// the working directory.
fn read_program(args: &Args, ctx: &melior::Context, sources: &mut SourceMap, t: &mut Timing) -> Result<Program, Error> {
    let src = driver::read_text(&args.input)?;
    t.step("read", None);
    let name = if args.input == "-" { "<stdin>" } else { args.input.as_str() };
    sources.add(name, src.as_str());
    let pim_input = args.pim_to_mlir
        || args.pim_to_pim
        || (args.export_pimsim && driver::input_kind(&args.input) == driver::InputKind::Pim);
    if pim_input {
        let mut p = pimlir::isa::text::parse(&src, name)?;
        if args.input != "-" {
            driver::paths_from_file(&mut p, name);
        }
        t.step("parse", Some(&|| p.static_count()));
        return Ok(p);
    }
    let module = pimlir::dialect::parse_module(ctx, &src, name).ok_or_else(|| Error::many(vec![]))?;
    let p = isa_ir::read_program(&module).map_err(|_| Error::many(vec![]))?;
    t.step("parse", Some(&|| p.static_count()));
    Ok(p)
}

/// The program as `.pim` text or pim_isa MLIR, by `--emit`, `--pim-to-mlir` or the output name.
fn emit_program(args: &Args, ctx: &melior::Context, mut p: Program, t: &mut Timing) -> Result<String, Error> {
    let mlir = match args.emit {
        Some(e) => e == Emit::Mlir,
        None => args.pim_to_mlir || args.output.ends_with(".mlir"),
    };
    if mlir {
        let loc = match args.input.as_str() {
            "-" => melior::ir::Location::unknown(ctx),
            name => melior::ir::Location::new(ctx, name, 1, 1),
        };
        let module = melior::ir::Module::new(loc);
        isa_ir::write_program(ctx, &module, &p);
        let text = driver::module_to_mlir(&module, args.mlir_print_debuginfo);
        t.step("print", Some(&|| p.static_count()));
        Ok(text)
    } else {
        if args.output != "-" {
            driver::paths_for_file(&mut p, &args.output);
        }
        let text = pimlir::isa::text::print(&p);
        t.step("print", Some(&|| p.static_count()));
        Ok(text)
    }
}
