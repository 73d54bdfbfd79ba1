//! Dataflow scheduling: from a placed graph (pim_core level) to per-core ISA programs.
//!
//! High-throughput mode (the batch pipeline, [`ht`]): every op's output lives in global memory
//! (height-width-channel order); each core works through the ops it takes part in, in graph
//! order, and cores synchronize through small token messages. Within a crossbar layer, the
//! cores holding array groups of one replica compute partial sums for the same windows; the
//! replica's owner (the core of its first group) receives and adds them, applies bias and
//! activation, and stores the result. Every core runs its part in (op, replica, window)
//! order, and every message pairs two cores at the same point of that order, so the
//! synchronous send/recv of the ISA cannot deadlock.

pub mod ht;

use crate::arch::Arch;
use crate::graph::{Graph, Op};
use crate::isa::{ArrayGroup, CoreProgram, GlobalBuf, GlobalInit, Line, LocalBuf, Program, Stmt};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Batch pipeline: high throughput.
    Ht,
    /// Element pipeline: low latency (not implemented yet).
    Ll,
}

/// A scheduling failure at graph node `node` (None: the graph as a whole).
#[derive(Debug, Clone)]
pub struct SchedError {
    pub node: Option<usize>,
    pub message: String,
}

impl SchedError {
    pub fn at(node: usize, message: impl Into<String>) -> Self {
        SchedError { node: Some(node), message: message.into() }
    }
}

/// How a value is laid out in global memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// A [1, C, H, W] feature map stored height, width, channel.
    Hwc { c: i64, h: i64, w: i64 },
    /// A [1, N] vector.
    Flat(i64),
    /// A [1, C*H*W] view (flatten) of a feature map still stored height, width, channel.
    FlatHwc { c: i64, h: i64, w: i64 },
}

impl Layout {
    pub fn elements(self) -> i64 {
        match self {
            Layout::Hwc { c, h, w } | Layout::FlatHwc { c, h, w } => c * h * w,
            Layout::Flat(n) => n,
        }
    }
}

/// A program under construction for one core.
pub struct CoreBuilder {
    pub prog: CoreProgram,
    bufs: HashMap<String, u32>,
}

impl CoreBuilder {
    fn new(id: u32) -> Self {
        CoreBuilder {
            prog: CoreProgram { id, line: Line::NONE, ags: vec![], buffers: vec![], body: vec![] },
            bufs: HashMap::new(),
        }
    }

    /// A local buffer by name, created (or grown) to hold `size` bytes.
    pub fn buf(&mut self, name: &str, size: i64) -> u32 {
        if let Some(&i) = self.bufs.get(name) {
            let b = &mut self.prog.buffers[i as usize];
            b.size = b.size.max(size as u64);
            return i;
        }
        let i = self.prog.buffers.len() as u32;
        self.prog.buffers.push(LocalBuf { name: name.to_string(), line: Line::NONE, size: size as u64, addr: None });
        self.bufs.insert(name.to_string(), i);
        i
    }

    pub fn add_ag(&mut self, ag: ArrayGroup) -> u32 {
        self.prog.ags.push(ag);
        (self.prog.ags.len() - 1) as u32
    }

    pub fn emit(&mut self, stmts: impl IntoIterator<Item = Stmt>) {
        self.prog.body.extend(stmts);
    }
}

/// Shared state of a schedule: the program being built and where every value lives.
pub struct Sched<'g, 'c> {
    pub g: &'g Graph<'c>,
    pub arch: &'g Arch,
    /// Bytes per activation element.
    pub eb: i64,
    pub globals: Vec<GlobalBuf>,
    global_names: HashMap<String, u32>,
    /// Global buffer holding each graph value (views share their source's).
    pub value_global: Vec<Option<u32>>,
    pub layout: Vec<Option<Layout>>,
    pub cores: BTreeMap<u32, CoreBuilder>,
    pub layers: Vec<crate::isa::Layer>,
}

impl<'g, 'c> Sched<'g, 'c> {
    pub fn new(g: &'g Graph<'c>, arch: &'g Arch) -> Self {
        Sched {
            g,
            arch,
            eb: arch.activation_bytes() as i64,
            globals: vec![],
            global_names: HashMap::new(),
            value_global: vec![None; g.values.len()],
            layout: vec![None; g.values.len()],
            cores: BTreeMap::new(),
            layers: vec![],
        }
    }

    pub fn core(&mut self, id: i64) -> &mut CoreBuilder {
        self.cores.entry(id as u32).or_insert_with(|| CoreBuilder::new(id as u32))
    }

    /// A new global buffer of `elements` activation elements (name made unique).
    pub fn add_global(&mut self, name: &str, elements: i64, init: GlobalInit) -> u32 {
        let mut unique = name.to_string();
        let mut k = 1;
        while self.global_names.contains_key(&unique) {
            unique = format!("{name}.{k}");
            k += 1;
        }
        let i = self.globals.len() as u32;
        self.globals.push(GlobalBuf {
            name: unique.clone(),
            line: Line::NONE,
            size: (elements * self.eb) as u64,
            addr: None,
            init,
        });
        self.global_names.insert(unique, i);
        i
    }

    /// A global filled with `value` (e.g. 1/count for average pooling), shared by size and value.
    pub fn fill_global(&mut self, elements: i64, value: f32) -> u32 {
        let name = format!("fill.{elements}.{value}");
        if let Some(&i) = self.global_names.get(&name) {
            return i;
        }
        self.add_global(&name, elements, GlobalInit::Fill { value })
    }

    pub fn layout_of(&self, v: usize) -> Layout {
        self.layout[v].expect("layout assigned before use")
    }

    pub fn finish(self, arch_spec: &str, weights: Option<String>) -> Program {
        Program {
            source: String::new(),
            arch: arch_spec.to_string(),
            weights,
            layers: self.layers,
            globals: self.globals,
            cores: self.cores.into_values().map(|c| c.prog).collect(),
            comments: Default::default(),
        }
    }
}

/// Layout of a graph value from its shape.
pub fn natural_layout(shape: &[i64]) -> Option<Layout> {
    match shape {
        [1, c, h, w] => Some(Layout::Hwc { c: *c, h: *h, w: *w }),
        [1, n] => Some(Layout::Flat(*n)),
        _ => None,
    }
}

/// Name of the global buffer holding node `i`'s output.
pub fn value_name(g: &Graph, i: usize) -> String {
    let n = &g.nodes[i];
    match n.op.layer_name() {
        Some(name) => name.to_string(),
        None => format!("{}{}", n.op.mnemonic(), i),
    }
}

/// Schedules a placed graph into a program for `arch` (recorded as `arch_spec`).
pub fn schedule(
    g: &Graph,
    arch: &Arch,
    arch_spec: &str,
    weights: Option<String>,
    mode: Mode,
) -> Result<Program, SchedError> {
    match mode {
        Mode::Ht => {
            let mut s = Sched::new(g, arch);
            ht::schedule(&mut s)?;
            Ok(s.finish(arch_spec, weights))
        }
        Mode::Ll => Err(SchedError {
            node: None,
            message: "mode=ll (the low-latency element pipeline) is not implemented yet; use mode=ht".into(),
        }),
    }
}

/// True for ops that only reinterpret their input's memory.
pub fn is_view(op: &Op) -> bool {
    matches!(op, Op::Flatten { .. })
}
