//! Pass pipelines: from `--<pass>[=options]` flags or an mlir-opt style `--pass-pipeline`
//! string, to a configured MLIR pass manager.

use crate::arch::Arch;
use crate::pass::handoff::Handoff;
use crate::pass::{self, Options, PassDef};
use melior::ir::operation::OperationPrintingFlags;
use melior::pass::{PassIrPrintingOptions, PassManager};
use melior::Context;
use std::sync::Arc;

/// One step of a pipeline.
pub enum Step {
    /// A pimlir pass with its options.
    Ours(&'static PassDef, Options),
    /// An upstream MLIR pass (e.g. `canonicalize`), as pipeline text.
    Upstream(String),
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Step({})", self.name())
    }
}

impl Step {
    pub fn name(&self) -> &str {
        match self {
            Step::Ours(d, _) => d.name,
            Step::Upstream(t) => t,
        }
    }
}

/// Builds a step from a pass name and its option text.
pub fn step(name: &str, options: &str) -> Result<Step, String> {
    match pass::find(name) {
        Some(def) => Ok(Step::Ours(def, Options::parse(def, options)?)),
        None => {
            let text = if options.is_empty() { name.to_string() } else { format!("{name}{{{options}}}") };
            // Check that MLIR knows the pass now, for a clear error.
            let ctx = Context::new();
            let pm = PassManager::new(&ctx);
            match add_upstream(&pm, &text) {
                Ok(()) => Ok(Step::Upstream(text)),
                Err(_) => Err(format!(
                    "unknown pass '{name}'; pimlir passes: {} (upstream MLIR passes such as canonicalize work too)",
                    pass::PASSES.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
                )),
            }
        }
    }
}

/// Appends upstream MLIR pass(es) given as pipeline text (e.g. `canonicalize`) to `pm`.
fn add_upstream(pm: &PassManager, text: &str) -> Result<(), String> {
    melior::utility::register_all_passes();
    unsafe extern "C" fn collect(s: mlir_sys::MlirStringRef, data: *mut std::ffi::c_void) {
        // SAFETY: `data` is the String passed below; `s` is valid for the call.
        let out = unsafe { &mut *(data as *mut String) };
        let bytes = unsafe { std::slice::from_raw_parts(s.data as *const u8, s.length) };
        out.push_str(&String::from_utf8_lossy(bytes));
    }
    let mut err = String::new();
    let t = melior::StringRef::new(text);
    // SAFETY: the pass manager and strings outlive the call.
    let ok = unsafe {
        mlir_sys::mlirOpPassManagerAddPipeline(
            pm.as_operation_pass_manager().to_raw(),
            t.to_raw(),
            Some(collect),
            &mut err as *mut String as *mut std::ffi::c_void,
        )
    };
    if ok.value == 1 {
        Ok(())
    } else {
        Err(err)
    }
}

/// Turns on MLIR's pass timing for `pm`: its report (wall time per pass, pimlir's
/// verifier runs included) goes to stderr when `pm` is dropped.
pub fn enable_timing(pm: &PassManager) {
    // SAFETY: `pm` is a live pass manager; melior has no wrapper for this call.
    unsafe { mlir_sys::mlirPassManagerEnableTiming(pm.to_raw()) }
}

/// Parses `builtin.module(a, b{k=v}, c)` or `a,b{k=v},c`.
pub fn parse_pipeline(text: &str) -> Result<Vec<Step>, String> {
    let mut t = text.trim();
    if let Some(rest) = t.strip_prefix("builtin.module(") {
        t = rest.strip_suffix(')').ok_or("unbalanced parentheses in --pass-pipeline")?;
    }
    let mut steps = vec![];
    let (mut depth, mut start) = (0i32, 0usize);
    let bytes: Vec<char> = t.chars().collect();
    let mut items = vec![];
    for (i, &ch) in bytes.iter().enumerate() {
        match ch {
            '{' | '(' => depth += 1,
            '}' | ')' => depth -= 1,
            ',' if depth == 0 => {
                items.push(bytes[start..i].iter().collect::<String>());
                start = i + 1;
            }
            _ => {}
        }
        if depth < 0 {
            return Err("unbalanced braces in --pass-pipeline".into());
        }
    }
    if depth != 0 {
        return Err("unbalanced braces in --pass-pipeline".into());
    }
    items.push(bytes[start..].iter().collect::<String>());
    for item in items {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let (name, opts) = match item.find('{') {
            Some(i) => {
                let opts = item[i + 1..].strip_suffix('}').ok_or_else(|| format!("bad pass options in '{item}'"))?;
                (&item[..i], opts)
            }
            None => (item, ""),
        };
        steps.push(step(name.trim(), opts)?);
    }
    Ok(steps)
}

/// A pass manager running `steps`; with `verify_each`, pimlir's verifier follows each pass.
/// The handoff holds the ISA program the last pimlir pass wrote, for the driver (see
/// [`pass::handoff`]); it is off when upstream passes run.
pub fn build<'c>(
    ctx: &'c Context,
    steps: &[Step],
    arch: &Arch,
    arch_spec: &str,
    verify_each: bool,
    print_after_all: bool,
) -> (PassManager<'c>, Handoff) {
    let pm = PassManager::new(ctx);
    let upstream = steps.iter().any(|s| matches!(s, Step::Upstream(_)));
    let handoff = Handoff::new(!upstream);
    // MLIR's structural verifier after every pass: needed after upstream passes; after
    // pimlir's it would re-check IR that pimlir's own verifier has just checked (or that a
    // pass built from checked data), at a cost that grows with the module (a third of a
    // ResNet-18 compile). The driver verifies the result once instead (`verify_result`).
    pm.enable_verifier(upstream);
    if print_after_all {
        pm.enable_ir_printing(&PassIrPrintingOptions {
            before_all: false,
            after_all: true,
            module_scope: false,
            on_change: false,
            on_failure: false,
            flags: OperationPrintingFlags::new(),
            tree_printing_path: std::path::PathBuf::new(),
        });
    }
    let arch = Arc::new(arch.clone());
    let spec: Arc<str> = arch_spec.into();
    for s in steps {
        match s {
            Step::Ours(def, opts) => {
                pm.add_pass(pass::create(def, opts.clone(), arch.clone(), spec.clone(), verify_each, handoff.clone()));
                if verify_each && def.name != "verify" && !def.checks_output {
                    let v = &pass::verify::PASS;
                    pm.add_pass(pass::create(v, Options::default(), arch.clone(), spec.clone(), true, handoff.clone()));
                }
            }
            Step::Upstream(text) => add_upstream(&pm, text).expect("checked when the step was built"),
        }
    }
    (pm, handoff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipeline_text_with_options() {
        let s = parse_pipeline("builtin.module(partition, replicate{strategy=none}, map-cores)").unwrap();
        let names: Vec<&str> = s.iter().map(|s| s.name()).collect();
        assert_eq!(names, ["partition", "replicate", "map-cores"]);
        let Step::Ours(_, o) = &s[1] else { panic!() };
        assert_eq!(o.get("strategy"), "none");
        assert!(parse_pipeline("partition{bogus=1}").unwrap_err().contains("has no option 'bogus'"));
        assert!(parse_pipeline("no-such-pass").unwrap_err().contains("unknown pass 'no-such-pass'"));
    }
}
