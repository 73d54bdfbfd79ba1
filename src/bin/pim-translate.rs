//! pim-translate: converts between pimlir's formats, like mlir-translate.
//!
//!   pim-translate --import-onnx model.onnx -o model.mlir
//!   pim-translate --import-pimcomp-json resnet18.json -o resnet18.mlir
//!   pim-translate --mlir-to-pim prog.mlir -o prog.pim
//!   pim-translate --pim-to-mlir prog.pim -o prog.mlir

use clap::{ArgGroup, Parser};
use pimlir::diag::{Error, SourceMap};
use pimlir::dialect::{new_context, DiagnosticCapture};
use pimlir::driver;
use std::path::Path;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "pim-translate", about = "Translate between ONNX, MLIR (pimlir dialects) and .pim text")]
#[command(group(ArgGroup::new("translation").required(true).args(["import_onnx", "import_pimcomp_json", "mlir_to_pim", "pim_to_mlir"])))]
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
    /// Seed of the generated weights of a PIMCOMP-NN import
    #[arg(long, default_value_t = pimlir::frontend::pimcomp_json::DEFAULT_SEED)]
    seed: u64,
    /// pim_isa MLIR -> .pim text
    #[arg(long)]
    mlir_to_pim: bool,
    /// .pim text -> pim_isa MLIR
    #[arg(long)]
    pim_to_mlir: bool,
    /// Print locations in MLIR output
    #[arg(long)]
    mlir_print_debuginfo: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let ctx = new_context();
    let capture = DiagnosticCapture::attach(&ctx);
    let mut sources = SourceMap::default();
    let result = translate(&args, &ctx, &mut sources);
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

fn translate(args: &Args, ctx: &melior::Context, sources: &mut SourceMap) -> Result<(), Error> {
    let text = if args.import_onnx {
        if args.input == "-" {
            return Err(Error::new("--import-onnx needs an input file"));
        }
        let module = pimlir::frontend::import_onnx(ctx, Path::new(&args.input))?;
        driver::module_to_mlir(&module, args.mlir_print_debuginfo)
    } else if args.import_pimcomp_json {
        let src = driver::read_text(&args.input)?;
        let module = pimlir::frontend::import_pimcomp_json(ctx, &src, &args.input, args.seed)?;
        driver::module_to_mlir(&module, args.mlir_print_debuginfo)
    } else if args.mlir_to_pim {
        let src = driver::read_text(&args.input)?;
        let name = if args.input == "-" { "<stdin>" } else { args.input.as_str() };
        sources.add(name, src.as_str());
        let module = pimlir::dialect::parse_module(ctx, &src, name).ok_or_else(|| Error::many(vec![]))?;
        driver::module_to_pim(&module, Some(&args.output)).map_err(|_| Error::many(vec![]))?
    } else {
        let src = driver::read_text(&args.input)?;
        sources.add(args.input.as_str(), src.as_str());
        let module = driver::pim_to_module(ctx, &src, &args.input)?;
        driver::module_to_mlir(&module, args.mlir_print_debuginfo)
    };
    driver::write_output(&args.output, &text)
}
