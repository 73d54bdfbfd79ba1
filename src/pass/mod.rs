//! pimlir's passes: one file each, registered in [`PASSES`], run as MLIR external passes.
//!
//! A pass follows "analyze, plan, apply": it reads the module into plain Rust data
//! (`crate::graph::Graph` or `crate::isa::Program`), decides, and writes the module back.
//! Errors are reported as MLIR diagnostics at the op they concern.

pub mod alloc_memory;
pub mod handoff;
pub mod map_cores;
pub mod partition;
pub mod replicate;
pub mod schedule;
pub mod verify;

use crate::arch::Arch;
use crate::dialect::emit_error;
use crate::dialect::graph_ir::Failed;
use melior::ir::operation::OperationLike;
use melior::ir::r#type::TypeId;
use melior::ir::{Module, OperationRef};
use melior::pass::{ExternalPass, Pass, RunExternalPass};
use melior::{Context, ContextRef};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::mem::ManuallyDrop;
use std::sync::Arc;

/// One option of a pass: `--pass=name=value` or `pass{name=value}` in a pipeline.
pub struct OptionDef {
    pub name: &'static str,
    pub help: &'static str,
    pub default: &'static str,
}

/// Everything a pass gets when it runs.
pub struct PassContext<'a, 'c> {
    pub ctx: &'c Context,
    pub arch: &'a Arch,
    /// The `--arch` argument as given (recorded in the module as `pim.arch`).
    pub arch_spec: &'a str,
    pub options: &'a Options,
    /// Whether the pipeline verifies after each pass (not under `--no-verify`). A pass with
    /// [`PassDef::checks_output`] then checks what it writes itself.
    pub verify: bool,
    /// The ISA program the previous pimlir step wrote into the module, if it handed it over.
    incoming: RefCell<Option<crate::isa::Program>>,
    handoff: &'a handoff::Handoff,
}

impl PassContext<'_, '_> {
    /// The ISA program in `module`: the one the previous pass handed over, else read from it.
    pub fn program(&self, module: &Module) -> Result<crate::isa::Program, Failed> {
        match self.incoming.borrow_mut().take() {
            Some(p) => Ok(p),
            None => crate::dialect::isa_ir::read_program(module),
        }
    }

    /// Hands `p`, just written into `module`, to the next step (see [`handoff`]).
    pub fn hand_off(&self, module: &Module, mut p: crate::isa::Program) {
        // As read back: the program's source is the module's file.
        if let Some(s) = crate::dialect::isa_ir::module_source(module) {
            p.source = s;
        }
        self.handoff.put(module, p);
    }
}

pub type RunFn = for<'a, 'c> fn(&PassContext<'a, 'c>, &mut Module<'c>) -> Result<(), Failed>;

pub struct PassDef {
    /// Command-line name (`--partition`).
    pub name: &'static str,
    pub summary: &'static str,
    pub options: &'static [OptionDef],
    pub run: RunFn,
    /// The pass runs pimlir's verifier on the program it writes, on the plain data before
    /// writing it (when [`PassContext::verify`]), so the pipeline adds no `verify` pass after
    /// it: that would read a large pim_isa module back only to check what was just checked
    /// (and make MLIR verify it once more).
    pub checks_output: bool,
}

pub static PASSES: &[&PassDef] =
    &[&partition::PASS, &replicate::PASS, &map_cores::PASS, &schedule::PASS, &alloc_memory::PASS, &verify::PASS];

pub fn find(name: &str) -> Option<&'static PassDef> {
    PASSES.iter().copied().find(|p| p.name == name)
}

/// Parsed pass options, validated against the pass's [`OptionDef`]s.
#[derive(Debug, Clone, Default)]
pub struct Options {
    values: BTreeMap<String, String>,
}

impl Options {
    /// Parses `k=v k2=v2` (spaces or commas between) for pass `def`.
    pub fn parse(def: &PassDef, text: &str) -> Result<Options, String> {
        let mut values = BTreeMap::new();
        for item in text.split(|c: char| c.is_whitespace() || c == ',').filter(|s| !s.is_empty()) {
            let (k, v) = item
                .split_once('=')
                .ok_or_else(|| format!("option '{item}' of pass '{}' needs a value (name=value)", def.name))?;
            if !def.options.iter().any(|o| o.name == k) {
                let known: Vec<&str> = def.options.iter().map(|o| o.name).collect();
                return Err(format!(
                    "pass '{}' has no option '{k}'; options: {}",
                    def.name,
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                ));
            }
            values.insert(k.to_string(), v.to_string());
        }
        for o in def.options {
            values.entry(o.name.to_string()).or_insert_with(|| o.default.to_string());
        }
        Ok(Options { values })
    }

    pub fn get(&self, name: &str) -> &str {
        self.values.get(name).map(|s| s.as_str()).unwrap_or("")
    }

    /// An integer option; 0 when empty.
    pub fn int(&self, name: &str) -> Result<i64, String> {
        let v = self.get(name);
        if v.is_empty() {
            return Ok(0);
        }
        v.parse().map_err(|_| format!("option '{name}' must be an integer, got '{v}'"))
    }
}

/// Fails unless a graph read at `found` level is at `want`, the level pass `--pass` runs on.
/// Without crossbar layers the graph and pim_partition levels look the same (partitioning
/// changes nothing), so either will do there.
pub fn expect_level(
    module: &Module,
    g: &crate::graph::Graph,
    found: crate::dialect::graph_ir::Level,
    want: crate::dialect::graph_ir::Level,
    pass: &str,
) -> Result<(), Failed> {
    use crate::dialect::graph_ir::Level;
    if found == want || (found == Level::Graph && want == Level::Partition && g.crossbar_layers().next().is_none()) {
        return Ok(());
    }
    let hint = match want {
        Level::Graph => "",
        Level::Partition => " (run --partition first)",
        Level::Core => " (run --map-cores first)",
    };
    Err(module_error(
        module,
        &format!("--{pass} expects {}-level IR{hint}, got {}-level IR", want.name(), found.name()),
    ))
}

/// Reads the dataflow graph for a pass and checks what every pass relies on, also under
/// `--no-verify` (which skips pimlir's verifier, not these): unique layer names and shapes
/// that agree with their ops. A pass never indexes a wrong-rank shape or multiplies sizes that
/// do not fit.
pub fn read_graph_checked<'c>(
    module: &Module<'c>,
    arch: &Arch,
) -> Result<crate::dialect::graph_ir::GraphModule<'c>, Failed> {
    let gm = crate::dialect::graph_ir::read_graph(module, arch)?;
    let mut failed = false;
    if let Err(e) = gm.graph.check_layer_names() {
        emit_error(gm.side.func_loc, e.to_string().trim_start_matches("error: "));
        failed = true;
    }
    for (i, m) in gm.graph.check_shapes() {
        emit_error(gm.side.loc(gm.graph.nodes[i].src), &m);
        failed = true;
    }
    if failed {
        Err(Failed)
    } else {
        Ok(gm)
    }
}

/// Reports a mapping failure at its node (or the module) and fails.
pub fn map_error(module: &Module, gm: &crate::dialect::graph_ir::GraphModule, e: crate::mapping::MapError) -> Failed {
    match e.node.and_then(|i| gm.graph.nodes.get(i)) {
        Some(n) => {
            emit_error(gm.side.loc(n.src), &e.message);
            Failed
        }
        None => module_error(module, &e.message),
    }
}

/// Emits an error at the module and fails (for errors with no better place).
pub fn module_error(module: &Module, msg: &str) -> Failed {
    emit_error(module.as_operation().location(), msg);
    Failed
}

// ----- running our passes inside MLIR's pass manager --------------------------------------

#[repr(align(8))]
struct PassId(#[allow(dead_code)] u8);

/// One type id per registered pass (MLIR identifies passes by address).
static PASS_IDS: [PassId; 8] = [PassId(0), PassId(1), PassId(2), PassId(3), PassId(4), PassId(5), PassId(6), PassId(7)];

#[derive(Clone)]
struct External {
    def: &'static PassDef,
    options: Options,
    verify: bool,
    arch: Arc<Arch>,
    arch_spec: Arc<str>,
    handoff: handoff::Handoff,
}

impl<'c> RunExternalPass<'c> for External {
    fn initialize(&mut self, _context: ContextRef<'c>) {}

    fn run(&mut self, op: OperationRef<'c, '_>, pass: ExternalPass<'_>) {
        // SAFETY: the pass is anchored on builtin.module; the handle does not own the module,
        // so it must never be dropped (ManuallyDrop).
        let mut module = ManuallyDrop::new(unsafe { Module::from_raw(mlir_sys::mlirModuleFromOperation(op.to_raw())) });
        let ctx = op.context();
        // SAFETY: the context outlives the pass run.
        let ctx: &'c Context = unsafe { ctx.to_ref() };
        // What the previous step handed over is for this pass only: any pass may change the
        // module, so the slot is emptied before it runs.
        let incoming = self.handoff.take(&module);
        let pc = PassContext {
            ctx,
            arch: &self.arch,
            arch_spec: &self.arch_spec,
            options: &self.options,
            verify: self.verify,
            incoming: RefCell::new(incoming),
            handoff: &self.handoff,
        };
        // A panic must not unwind into MLIR's C++ (that aborts the process): it becomes an
        // internal-error diagnostic naming the pass.
        match crate::diag::catch_panic(|| (self.def.run)(&pc, &mut module)) {
            Ok(Ok(())) => {}
            Ok(Err(Failed)) => pass.signal_failure(),
            Err(why) => {
                emit_error(
                    module.as_operation().location(),
                    &format!(
                        "internal error in pass '{}': {why}; this is a bug in pimlir, please report it with this input",
                        self.def.name
                    ),
                );
                pass.signal_failure();
            }
        }
    }
}

/// Wraps a pass definition as an MLIR pass. A pass not in [`PASSES`] (a test's) gets the
/// last type id.
pub fn create(
    def: &'static PassDef,
    options: Options,
    arch: Arc<Arch>,
    arch_spec: Arc<str>,
    verify: bool,
    handoff: handoff::Handoff,
) -> Pass {
    let index = PASSES.iter().position(|p| p.name == def.name).unwrap_or(PASS_IDS.len() - 1);
    melior::pass::create_external(
        External { def, options, verify, arch, arch_spec, handoff },
        TypeId::create(&PASS_IDS[index]),
        def.name,
        def.name,
        def.summary,
        "builtin.module",
        &[],
    )
}

/// Records the architecture in the module (`pim.arch`), or checks that the one already
/// recorded is the one we are compiling for: a model partitioned for 128x128 crossbars cannot
/// be mapped onto 512x1024 ones.
pub fn record_arch(pc: &PassContext, module: &mut Module) -> Result<(), Failed> {
    check_arch(module, pc.arch, pc.arch_spec)?;
    if crate::dialect::module_str(module, "pim.arch").is_none() {
        crate::dialect::set_module_str(module, "pim.arch", pc.arch_spec);
    }
    Ok(())
}

/// Checks that the architecture recorded in the module (if any) is `arch` (given as
/// `arch_spec`): the same name, or a config that loads to the same thing.
pub fn check_arch(module: &Module, arch: &Arch, arch_spec: &str) -> Result<(), Failed> {
    match crate::dialect::module_str(module, "pim.arch") {
        // The same architecture under another name: the config's own name, or a path to the
        // same config.
        Some(spec) if spec != arch_spec && spec != arch.name => match Arch::load(&spec) {
            Ok(a) if &a == arch => Ok(()),
            Ok(_) => Err(module_error(
                module,
                &format!(
                    "module was compiled for architecture '{spec}' but this run uses '{arch_spec}'; give --arch {spec}"
                ),
            )),
            Err(_) => Err(module_error(
                module,
                &format!(
                    "module was compiled for architecture '{spec}' (not a preset or a readable config), but this run \
                     uses '{arch_spec}' (named '{}'); give --arch with the config it was compiled for",
                    arch.name
                ),
            )),
        },
        _ => Ok(()),
    }
}
