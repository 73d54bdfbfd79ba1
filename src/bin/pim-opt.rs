//! pim-opt: runs pimlir passes on a model, like mlir-opt.
//!
//!   pim-opt --partition --replicate --map-cores model.mlir
//!   pim-opt model.onnx --pass-pipeline='builtin.module(partition,replicate,map-cores,schedule,alloc-memory)' -o m.pim

use clap::{Arg, ArgAction, ArgMatches, Command};
use pimlir::diag::{Error, SourceMap};
use pimlir::dialect::{new_context, DiagnosticCapture};
use pimlir::driver::{self, pipeline};
use pimlir::pass::PASSES;
use std::process::ExitCode;

use pimlir::driver::{COMPILE_PIPELINE, COMPILE_PIPELINE_LL};

// The --max-instructions default above is written out; it must be the library's.
const _: () = assert!(pimlir::limits::DEFAULT_INSTRUCTIONS == 100_000_000);

/// mimalloc: parsing and lowering a million-instruction program makes millions of small
/// allocations from two threads; glibc's allocator spends much of that time in page faults
/// and arena locks.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn command() -> Command {
    let mut cmd = Command::new("pim-opt")
        .about("Run pimlir passes on a model (ONNX, MLIR at any pimlir level, or .pim)")
        .long_about(
            "Run pimlir passes on a model, like mlir-opt.\n\n\
             The input kind follows its extension: .onnx is imported into the graph dialect, .pim is \
             parsed into pim_isa, anything else (or -) is MLIR. Passes run in the order given. The \
             output is MLIR, or .pim text when -o names a .pim file (or --emit=pim).\n\n\
             Pipeline: graph --partition--> pim_partition --replicate--> pim_partition --map-cores--> \
             pim_core --schedule--> pim_isa --alloc-memory--> pim_isa (addresses assigned).",
        )
        .arg(Arg::new("input").default_value("-").help("Input file (.onnx, .mlir, .pim, or - for MLIR on stdin)"))
        .arg(Arg::new("output").short('o').value_name("FILE").default_value("-").help("Output file; a .pim name emits .pim text"))
        .arg(Arg::new("arch").long("arch").value_name("PRESET|FILE").help(
            "Architecture: a preset (pimcomp-default, isaac, puma, isscc23) or a PIMCOMP-NN/pimsim-nn config .json [default: the module's pim.arch, else pimcomp-default]",
        ))
        .arg(Arg::new("pass-pipeline").long("pass-pipeline").value_name("PIPELINE").help(
            "Passes as text, e.g. 'builtin.module(partition,replicate{strategy=balance},map-cores)'",
        ))
        .arg(Arg::new("compile").long("compile").action(ArgAction::SetTrue).help(format!(
            "Run the whole compilation: {COMPILE_PIPELINE}"
        )))
        .arg(Arg::new("mode").long("mode").value_parser(["ht", "ll"]).help(format!(
            "With --compile: ht, the batch pipeline for throughput (the default), or ll, the element pipeline for latency: {COMPILE_PIPELINE_LL}"
        )))
        .arg(Arg::new("emit").long("emit").value_parser(["mlir", "pim"]).help("Output format [default: by -o extension]"))
        .arg(Arg::new("print-ir-after-all").long("print-ir-after-all").action(ArgAction::SetTrue).help("Print the IR to stderr after every pass"))
        .arg(Arg::new("split-input-file").long("split-input-file").action(ArgAction::SetTrue).help("Process each '// -----' separated chunk of the input on its own"))
        .arg(Arg::new("verify-diagnostics").long("verify-diagnostics").action(ArgAction::SetTrue).help("Check diagnostics against 'expected-error {{...}}' comments instead of printing them"))
        .arg(Arg::new("no-verify").long("no-verify").action(ArgAction::SetTrue).help("Skip pimlir's verifier on the input and after each pass"))
        .arg(Arg::new("mlir-timing").long("mlir-timing").action(ArgAction::SetTrue).help("Report the time of reading the input, of each pass (MLIR's pass timing) and of writing the output, on stderr"))
        .arg(Arg::new("mlir-print-debuginfo").long("mlir-print-debuginfo").action(ArgAction::SetTrue).help("Print locations in the output"))
        .arg(
            Arg::new("max-instructions")
                .long("max-instructions")
                .value_name("N")
                .value_parser(clap::value_parser!(u64))
                .default_value("100000000")
                .help("Most dynamic instructions the static checks (send/recv pairing) may process"),
        )
        .arg(
            Arg::new("max-memory")
                .long("max-memory")
                .value_name("SIZE")
                .value_parser(pimlir::limits::parse_size)
                .default_value("4G")
                .help("Most host memory for an imported pimsim-nn program, e.g. 512M, 8G"),
        )
        .next_help_heading("Passes");
    for p in PASSES {
        let mut help = p.summary.to_string();
        for o in p.options {
            help.push_str(&format!(
                "\n  {}=<value>: {}{}",
                o.name,
                o.help,
                if o.default.is_empty() { String::new() } else { format!(" [default: {}]", o.default) }
            ));
        }
        cmd = cmd.arg(
            Arg::new(p.name)
                .long(p.name)
                .value_name("OPTIONS")
                .num_args(0..=1)
                .require_equals(true)
                .default_missing_value("")
                .action(ArgAction::Append)
                .help(help),
        );
    }
    cmd
}

/// Pass flags in command-line order.
fn steps_from_flags(m: &ArgMatches) -> Result<Vec<pipeline::Step>, String> {
    let mut found = vec![];
    for p in PASSES {
        if let (Some(idx), Some(vals)) = (m.indices_of(p.name), m.get_many::<String>(p.name)) {
            for (i, v) in idx.zip(vals) {
                found.push((i, p.name, v.clone()));
            }
        }
    }
    found.sort_by_key(|x| x.0);
    found.into_iter().map(|(_, name, opts)| pipeline::step(name, &opts)).collect()
}

fn main() -> ExitCode {
    pimlir::limits::tune_host_memory();
    let m = command().get_matches();
    if let Some(&n) = m.get_one::<u64>("max-instructions") {
        pimlir::limits::set_instructions(n);
    }
    if let Some(&n) = m.get_one::<u64>("max-memory") {
        pimlir::limits::set_memory(n);
    }
    match pimlir::diag::catch_panic(|| run(&m)) {
        Ok(Ok(true)) => ExitCode::SUCCESS,
        Ok(Ok(false)) => ExitCode::FAILURE,
        Ok(Err(e)) => {
            eprint!("{}", e.render(&SourceMap::default()));
            ExitCode::FAILURE
        }
        Err(why) => driver::internal_error(&why),
    }
}

fn run(m: &ArgMatches) -> Result<bool, Error> {
    let input = m.get_one::<String>("input").expect("defaulted").clone();
    let output = m.get_one::<String>("output").expect("defaulted").clone();
    let mut steps = steps_from_flags(m).map_err(Error::new)?;
    if let Some(text) = m.get_one::<String>("pass-pipeline") {
        if !steps.is_empty() {
            return Err(Error::new("give passes either as flags or with --pass-pipeline, not both"));
        }
        steps = pipeline::parse_pipeline(text).map_err(Error::new)?;
    }
    if m.get_flag("compile") {
        if !steps.is_empty() {
            return Err(Error::new("--compile runs the whole pipeline; do not add passes to it"));
        }
        let text = match m.get_one::<String>("mode").map(|s| s.as_str()) {
            Some("ll") => COMPILE_PIPELINE_LL,
            _ => COMPILE_PIPELINE,
        };
        steps = pipeline::parse_pipeline(text).map_err(Error::new)?;
    } else if m.get_one::<String>("mode").is_some() {
        return Err(Error::new(
            "--mode applies to --compile; a pass takes its own, e.g. --pass-pipeline='builtin.module(..., schedule{mode=ll}, ...)'",
        ));
    }
    let emit_pim = match m.get_one::<String>("emit").map(|s| s.as_str()) {
        Some("pim") => true,
        Some(_) => false,
        None => output.ends_with(".pim"),
    };
    let split = m.get_flag("split-input-file");
    let verify_diags = m.get_flag("verify-diagnostics");
    let kind = driver::input_kind(&input);
    // Chunks of the input: (text, line offset); ONNX and pimsim-nn inputs are read by their
    // importers.
    let chunks: Vec<Option<String>> = if matches!(kind, driver::InputKind::Onnx | driver::InputKind::Pimsim) {
        vec![None]
    } else {
        let text = driver::read_text(&input)?;
        if split {
            let mut out = vec![];
            let mut cur = String::new();
            for (i, line) in text.split_inclusive('\n').enumerate() {
                if line.trim_end() == "// -----" {
                    out.push(Some(cur));
                    // Pad the next chunk so its line numbers are those of the whole file.
                    cur = "\n".repeat(i + 1);
                } else {
                    cur.push_str(line);
                }
            }
            out.push(Some(cur));
            out
        } else {
            vec![Some(text)]
        }
    };
    let mut ok = true;
    let mut outputs = vec![];
    // One context for all chunks: creating one (and loading the dialects) per chunk made a
    // file of many small chunks slow and its memory grow with every chunk.
    let ctx = new_context();
    let capture = DiagnosticCapture::attach(&ctx);
    for chunk in &chunks {
        let (chunk_ok, out) =
            run_chunk(m, &ctx, &capture, &input, chunk.as_deref(), &steps, emit_pim, &output, verify_diags)?;
        ok &= chunk_ok;
        if let Some(o) = out {
            outputs.push(o);
        }
    }
    if !outputs.is_empty() {
        driver::write_output(&output, &outputs.join("// -----\n"))?;
    }
    Ok(ok)
}

/// Runs the pipeline on one input chunk. Returns (success, output text).
#[allow(clippy::too_many_arguments)]
fn run_chunk(
    m: &ArgMatches,
    ctx: &melior::Context,
    capture: &DiagnosticCapture,
    input: &str,
    text: Option<&str>,
    steps: &[pipeline::Step],
    emit_pim: bool,
    output: &str,
    verify_diags: bool,
) -> Result<(bool, Option<String>), Error> {
    let mut sources = SourceMap::default();
    let name = if input == "-" { "<stdin>" } else { input };
    let finish = |capture: &DiagnosticCapture, err: Option<Error>, sources: &SourceMap, out: Option<String>| {
        let diags = driver::collect(capture, err);
        if verify_diags {
            let src = sources.get(name).unwrap_or("");
            let problems = driver::expected::check(name, src, &diags);
            for p in &problems {
                eprintln!("{p}");
            }
            (problems.is_empty(), out)
        } else {
            let failed = driver::report(&diags, sources);
            (!failed, out)
        }
    };
    let timing = m.get_flag("mlir-timing");
    let t0 = std::time::Instant::now();
    let mut module = match driver::load_module(ctx, input, text, &mut sources) {
        Ok(mo) => mo,
        Err(e) => return Ok(finish(capture, Some(e), &sources, None)),
    };
    let (arch, spec) = match driver::resolve_arch(m.get_one::<String>("arch").map(|s| s.as_str()), Some(&module)) {
        Ok(a) => a,
        Err(e) => return Ok(finish(capture, Some(e), &sources, None)),
    };
    let verify_each = !m.get_flag("no-verify");
    use melior::ir::operation::OperationLike;
    if !module.as_operation().verify() {
        return Ok(finish(capture, None, &sources, None));
    }
    if verify_each && pimlir::pass::verify::verify_module(&module, &arch, &spec).is_err() {
        return Ok(finish(capture, None, &sources, None));
    }
    if timing {
        eprintln!("timing: read input  {:8.4} s", t0.elapsed().as_secs_f64());
    }
    let mut handoff = pimlir::pass::handoff::Handoff::default();
    if !steps.is_empty() {
        let (pm, h) = pipeline::build(ctx, steps, &arch, &spec, verify_each, m.get_flag("print-ir-after-all"));
        handoff = h;
        if timing {
            pipeline::enable_timing(&pm);
        }
        let t1 = std::time::Instant::now();
        let run = pm.run(&mut module);
        // MLIR prints its pass-timing report when the pass manager goes away.
        drop(pm);
        if timing {
            eprintln!("timing: passes      {:8.4} s", t1.elapsed().as_secs_f64());
        }
        // One structural check of the result (the pass manager verifies after each pass only
        // when upstream passes run). Not when the output is .pim printed from the program the
        // last pass handed over: that program passed pimlir's checks, and the module is not
        // what is written (a tenth of a ResNet-18 element-pipeline compile).
        let printed_from_handoff = emit_pim && handoff.holds(&module);
        if run.is_ok() && !printed_from_handoff && !module.as_operation().verify() {
            return Ok(finish(
                capture,
                Some(Error::new("the pipeline produced invalid IR (a bug in a pass)")),
                &sources,
                None,
            ));
        }
        if run.is_err() {
            if !capture.has_errors() {
                return Ok(finish(capture, Some(Error::new("a pass failed")), &sources, None));
            }
            return Ok(finish(capture, None, &sources, None));
        }
    }
    let t2 = std::time::Instant::now();
    let out = if emit_pim {
        if !pimlir::pass::verify::is_isa_module(&module) {
            let e = Error::new(
                "cannot write .pim: the module is not at the pim_isa level (run --schedule first, or emit MLIR)",
            );
            return Ok(finish(capture, Some(e), &sources, None));
        }
        match driver::module_to_pim(&module, Some(output), &handoff) {
            Ok(t) => t,
            Err(_) => return Ok(finish(capture, None, &sources, None)),
        }
    } else {
        driver::module_to_mlir(&module, m.get_flag("mlir-print-debuginfo"))
    };
    if timing {
        eprintln!("timing: write output {:7.4} s", t2.elapsed().as_secs_f64());
    }
    Ok(finish(capture, None, &sources, Some(out)))
}
