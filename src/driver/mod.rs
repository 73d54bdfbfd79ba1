//! Plumbing shared by the command-line tools: reading inputs by extension, pass pipelines,
//! writing outputs, and reporting diagnostics (or checking them, for `--verify-diagnostics`).

pub mod expected;
pub mod pipeline;

use crate::arch::Arch;
use crate::diag::{Diagnostic, Error, Result, SourceMap};
use crate::dialect::graph_ir::Failed;
use crate::dialect::{isa_ir, DiagnosticCapture};
use crate::pass::handoff::Handoff;
use melior::ir::operation::{OperationLike, OperationPrintingFlags};
use melior::ir::{Location, Module};
use melior::Context;
use std::path::{Path, PathBuf};

/// What kind of file an input is, by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    Onnx,
    /// PIMCOMP-NN structure JSON.
    PimcompJson,
    /// A gzipped pimsim-nn instruction file (imported for the default architecture).
    Pimsim,
    Pim,
    Mlir,
}

pub fn input_kind(path: &str) -> InputKind {
    match Path::new(path).extension().and_then(|e| e.to_str()) {
        Some("onnx") => InputKind::Onnx,
        Some("json") => InputKind::PimcompJson,
        Some("gz") => InputKind::Pimsim,
        Some("pim") => InputKind::Pim,
        _ => InputKind::Mlir,
    }
}

/// Reads a text input (`-` is standard input).
pub fn read_text(path: &str) -> Result<String> {
    let cap = crate::limits::text_cap();
    if path == "-" {
        return crate::limits::read_text(std::io::stdin().lock(), cap).map_err(|e| Error::new(e).in_file("<stdin>"));
    }
    let f = std::fs::File::open(path).map_err(|e| Error::new(format!("cannot read input: {e}")).in_file(path))?;
    crate::limits::read_text(f, cap).map_err(|e| Error::new(e).in_file(path))
}

/// `path` made relative to directory `dir` when both are relative or both absolute.
pub fn relative_to(path: &Path, dir: &Path) -> PathBuf {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let (p, d) = (abs(path), abs(dir));
    let pc: Vec<_> = p.components().collect();
    let dc: Vec<_> = d.components().collect();
    let common = pc.iter().zip(&dc).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return normalize(&p);
    }
    let mut out = PathBuf::new();
    for _ in common..dc.len() {
        out.push("..");
    }
    for c in &pc[common..] {
        out.push(c);
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// Removes `.` and resolves `a/..` without touching the file system.
pub fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component> = vec![];
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    if out.is_empty() {
        return PathBuf::from(".");
    }
    out.iter().collect()
}

/// `file` (relative to directory `dir`) as a path usable from the working directory.
pub fn resolve_relative(dir: &Path, file: &str) -> String {
    if Path::new(file).is_relative() {
        normalize(&dir.join(file)).to_string_lossy().into_owned()
    } else {
        file.to_string()
    }
}

/// Makes the weight and architecture paths of a program read from `file` (relative to that
/// file) usable from the working directory.
pub fn paths_from_file(p: &mut crate::isa::Program, file: &str) {
    let dir = dir_of(file);
    if let Some(w) = p.weights.as_ref().filter(|w| !w.starts_with("seed:")) {
        p.weights = Some(resolve_relative(&dir, w));
    }
    if !p.arch.is_empty() && !Arch::is_preset(&p.arch) {
        p.arch = resolve_relative(&dir, &p.arch);
    }
}

/// The inverse of [`paths_from_file`], for a program about to be written to `file`.
pub fn paths_for_file(p: &mut crate::isa::Program, file: &str) {
    let dir = dir_of(file);
    if let Some(w) = p.weights.as_ref().filter(|w| !w.starts_with("seed:")) {
        p.weights = Some(relative_to(Path::new(w), &dir).to_string_lossy().into_owned());
    }
    if !p.arch.is_empty() && !Arch::is_preset(&p.arch) {
        p.arch = relative_to(Path::new(&p.arch), &dir).to_string_lossy().into_owned();
    }
}

/// The directory a file lives in ("." for a bare name).
pub fn dir_of(path: &str) -> PathBuf {
    match Path::new(path).parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Parses a `.pim` text into a `pim_isa` module. The weight path, relative to the `.pim`
/// file in the text, becomes relative to the working directory in the module.
pub fn pim_to_module<'c>(ctx: &'c Context, src: &str, name: &str) -> Result<Module<'c>> {
    let mut p = crate::isa::text::parse(src, name)?;
    if name != "-" {
        paths_from_file(&mut p, name);
    }
    let module = Module::new(Location::new(ctx, name, 1, 1));
    isa_ir::write_program(ctx, &module, &p);
    Ok(module)
}

/// Loads an input of any kind into a module. MLIR parse errors arrive through `capture`.
pub fn load_module<'c>(
    ctx: &'c Context,
    path: &str,
    text: Option<&str>,
    sources: &mut SourceMap,
) -> Result<Module<'c>> {
    // The text of a text input: given (a chunk of --split-input-file), or read now.
    let text = || -> Result<std::borrow::Cow<str>> {
        Ok(match text {
            Some(t) => t.into(),
            None => read_text(path)?.into(),
        })
    };
    match input_kind(path) {
        InputKind::Onnx => import_onnx(ctx, Path::new(path)),
        InputKind::PimcompJson => import_pimcomp_json(ctx, &text()?, path, crate::frontend::pimcomp_json::DEFAULT_SEED),
        InputKind::Pimsim => {
            let p = read_pimsim(path, None, false)?;
            let module = Module::new(Location::new(ctx, path, 1, 1));
            isa_ir::write_program(ctx, &module, &p);
            Ok(module)
        }
        InputKind::Pim => {
            let src = text()?;
            sources.add(path, &*src);
            pim_to_module(ctx, &src, path)
        }
        InputKind::Mlir => {
            let src = text()?;
            let name = if path == "-" { "<stdin>" } else { path };
            sources.add(name, &*src);
            crate::dialect::parse_module(ctx, &src, name).ok_or_else(|| Error::many(vec![]))
        }
    }
}

/// An imported model as a `graph`-level module naming its weight store (`weights`).
pub fn imported_module<'c>(ctx: &'c Context, imported: &crate::frontend::Imported, weights: &str) -> Module<'c> {
    use crate::dialect::graph_ir::{write_graph, Level, Side};
    let mut module = Module::new(Location::new(ctx, &imported.file, 0, 0));
    let side = Side::from_names(ctx, &imported.file, &imported.names);
    write_graph(ctx, &module, &imported.graph, &Default::default(), Level::Graph, &side);
    crate::dialect::set_module_str(&mut module, "pim.weights", weights);
    module
}

/// Imports an ONNX file as a `graph`-level module that names the file as its weight store.
pub fn import_onnx<'c>(ctx: &'c Context, path: &Path) -> Result<Module<'c>> {
    let imported = crate::frontend::import_onnx(path)?;
    Ok(imported_module(ctx, &imported, &path.display().to_string()))
}

/// Imports a PIMCOMP-NN structure file as a `graph`-level module whose weights are generated
/// from `seed`.
pub fn import_pimcomp_json<'c>(ctx: &'c Context, text: &str, file: &str, seed: u64) -> Result<Module<'c>> {
    let imported = crate::frontend::import_pimcomp_json(text, file)?;
    Ok(imported_module(ctx, &imported, &format!("seed:{seed}")))
}

/// Imports a pimsim-nn instruction file for architecture `arch` (default `pimcomp-default`);
/// `keep_scalar` keeps its scalar records (for timing).
pub fn read_pimsim(path: &str, arch: Option<&str>, keep_scalar: bool) -> Result<crate::isa::Program> {
    let spec = arch.unwrap_or("pimcomp-default");
    let a = Arch::load(spec)?;
    let opts = crate::pimsim::ImportOptions {
        arch: spec.to_string(),
        xbar_size: [a.xbar_rows(), a.xbar_cols()],
        seed: crate::frontend::pimcomp_json::DEFAULT_SEED,
        keep_scalar,
    };
    let mut p = crate::pimsim::read(Path::new(path), &opts)?;
    // Records have no lines: findings name the file (and core and instruction themselves).
    p.source = path.to_string();
    Ok(p)
}

/// The architecture to compile for: `--arch`, else the module's `pim.arch`, else the default.
pub fn resolve_arch(flag: Option<&str>, module: Option<&Module>) -> Result<(Arch, String)> {
    if let Some(s) = flag {
        return Ok((Arch::load(s)?, s.to_string()));
    }
    match module.and_then(|m| crate::dialect::module_str(m, "pim.arch")) {
        Some(spec) => match Arch::load(&spec) {
            Ok(a) => Ok((a, spec)),
            Err(e) => {
                Err(e.prefixed("the module was compiled for an architecture pimlir cannot load here (give --arch): "))
            }
        },
        None => Ok((Arch::load("pimcomp-default")?, "pimcomp-default".to_string())),
    }
}

/// Prints a module as MLIR.
pub fn module_to_mlir(module: &Module, debug_info: bool) -> String {
    if debug_info {
        module
            .as_operation()
            .to_string_with_flags(OperationPrintingFlags::new().enable_debug_info(true, false))
            .unwrap_or_else(|_| module.as_operation().to_string())
    } else {
        module.as_operation().to_string()
    }
}

/// Prints a `pim_isa` module as `.pim` text written to `out_path` (weights made relative).
pub fn module_to_pim(
    module: &Module,
    out_path: Option<&str>,
    handoff: &Handoff,
) -> std::result::Result<String, Failed> {
    let mut p = match handoff.take(module) {
        Some(p) => p,
        None => isa_ir::read_program(module)?,
    };
    if let Some(out) = out_path.filter(|o| *o != "-") {
        paths_for_file(&mut p, out);
    }
    Ok(crate::isa::text::print(&p))
}

/// Writes output to a file or standard output.
pub fn write_output(path: &str, text: &str) -> Result<()> {
    if path == "-" {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes()).map_err(|e| Error::new(format!("cannot write output: {e}")))?;
        if !text.ends_with('\n') {
            let _ = out.write_all(b"\n");
        }
        Ok(())
    } else {
        let p = std::path::Path::new(path);
        let staged = crate::output::staging(p);
        let r = std::fs::write(&staged, text).and_then(|()| crate::output::commit(&staged, p));
        if r.is_err() {
            crate::output::discard(&staged, p);
        }
        r.map_err(|e| Error::new(format!("cannot write output: {e}")).in_file(path))
    }
}

/// Reports a panic caught in a tool (a bug) and the exit code for it (70, EX_SOFTWARE).
pub fn internal_error(why: &str) -> std::process::ExitCode {
    eprintln!("error: internal error: {why}; this is a bug in pimlir, please report it with the input");
    std::process::ExitCode::from(70)
}

/// Prints diagnostics to stderr with source snippets (at most `diag::MAX_SHOWN` errors, then
/// how many more); returns whether any was an error.
pub fn report(diags: &[Diagnostic], sources: &SourceMap) -> bool {
    let any = diags.iter().any(|d| d.severity == crate::diag::Severity::Error);
    eprint!("{}", Error::many(diags.to_vec()).render(sources));
    any
}

/// Diagnostics gathered from MLIR plus an error of our own, in order.
pub fn collect(capture: &DiagnosticCapture, err: Option<Error>) -> Vec<Diagnostic> {
    let mut d = capture.take();
    if let Some(e) = err {
        d.extend(e.diagnostics);
    }
    d
}

/// The whole compilation as a pass pipeline (what `pim-opt --compile` runs).
pub const COMPILE_PIPELINE: &str = "partition,replicate,map-cores,schedule,alloc-memory";

/// The whole compilation for low latency (`pim-opt --compile --mode=ll`): the element
/// pipeline, on replicas that even out each core's crossbar work (`work`): measured on
/// ResNet-18 for pimsim-nn's 64-core config, `work` gives a 20-25% lower latency than the
/// search's mapping, which stacks layers on cores for the batch pipeline's period.
pub const COMPILE_PIPELINE_LL: &str = "partition,replicate{strategy=work},map-cores,schedule{mode=ll},alloc-memory";

/// Runs a pass pipeline (text, e.g. [`COMPILE_PIPELINE`]) on a module, verifying after each
/// pass. Errors are the diagnostics the passes reported; on success, the ISA program the last
/// pass handed over, if it wrote one (see [`Handoff`]).
pub fn run_pipeline(
    ctx: &Context,
    module: &mut Module,
    pipeline_text: &str,
    arch: &Arch,
    arch_spec: &str,
) -> Result<Handoff> {
    let capture = DiagnosticCapture::attach(ctx);
    let steps = pipeline::parse_pipeline(pipeline_text).map_err(Error::new)?;
    let (pm, handoff) = pipeline::build(ctx, &steps, arch, arch_spec, true, false);
    if pm.run(module).is_err() {
        let d = capture.take();
        return Err(if d.is_empty() { Error::new("a pass failed") } else { Error::many(d) });
    }
    Ok(handoff)
}

/// Compiles an ONNX model into an ISA program with the given pipeline (library entry point
/// for tests, benchmarks and tools).
pub fn compile_onnx(path: &Path, arch_spec: &str, pipeline_text: &str) -> Result<crate::isa::Program> {
    let ctx = crate::dialect::new_context();
    let capture = DiagnosticCapture::attach(&ctx);
    let arch = Arch::load(arch_spec)?;
    let mut module = import_onnx(&ctx, path)?;
    let handoff = run_pipeline(&ctx, &mut module, pipeline_text, &arch, arch_spec)?;
    match handoff.take(&module) {
        Some(p) => Ok(p),
        None => isa_ir::read_program(&module).map_err(|_| Error::many(capture.take())),
    }
}
