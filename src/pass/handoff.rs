//! The ISA program a pimlir pass has just written into the module, handed to the next pimlir
//! step (the next pass, or the driver writing the output) as plain data.
//!
//! `--schedule` builds a `Program`, writes it into the module and drops it; `--alloc-memory`
//! then read it back, and so did the driver to print `.pim`: two reads of a module with a few
//! hundred thousand ops, a fifth of a ResNet-18 element-pipeline compile. The module stays
//! the truth: a program is handed over only between two pimlir steps of one pipeline, for the
//! module it was written into, and only when no upstream MLIR pass runs in the pipeline (one
//! could change the module in between). Anything else reads the module.

use crate::isa::Program;
use melior::ir::Module;
use std::sync::{Arc, Mutex};

/// A program left in the slot, and the module (its operation's address) it was written into.
struct Left {
    module: usize,
    program: Program,
}

/// A slot shared by the passes of one pipeline and its driver.
#[derive(Clone, Default)]
pub struct Handoff {
    /// `None`: handing over is off (the pipeline runs upstream passes).
    slot: Option<Arc<Mutex<Option<Left>>>>,
}

fn key(module: &Module) -> usize {
    module.as_operation().to_raw().ptr as usize
}

impl Handoff {
    /// A slot for a pipeline; `enabled` is false when upstream passes run in it.
    pub fn new(enabled: bool) -> Self {
        Handoff { slot: enabled.then(|| Arc::new(Mutex::new(None))) }
    }

    /// Leaves `p`, which the caller has just written into `module`, for the next step.
    pub fn put(&self, module: &Module, p: Program) {
        if let Some(s) = &self.slot {
            *s.lock().unwrap_or_else(|e| e.into_inner()) = Some(Left { module: key(module), program: p });
        }
    }

    fn empty(&self) -> Option<Left> {
        self.slot.as_ref().and_then(|s| s.lock().unwrap_or_else(|e| e.into_inner()).take())
    }

    /// Whether a program is left for `module`.
    pub fn holds(&self, module: &Module) -> bool {
        self.slot.as_ref().is_some_and(|s| {
            s.lock().unwrap_or_else(|e| e.into_inner()).as_ref().is_some_and(|l| l.module == key(module))
        })
    }

    /// The program left for `module`, if the previous step left one (and empties the slot).
    pub fn take(&self, module: &Module) -> Option<Program> {
        self.empty().and_then(|l| (l.module == key(module)).then_some(l.program))
    }
}
