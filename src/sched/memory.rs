//! The memory plan: where every value lives.
//!
//! Global memory: every value gets its own buffer (buffers are never reused, so no layer can
//! overwrite what another still reads), intermediate values one copy per sample in flight
//! (as many as the schedule needs); `[1, C, H, W]` feature maps are stored
//! height-width-channel, `[1, N]` vectors flat; `flatten` is a view sharing its input's buffer
//! (a flattened feature map stays height-width-channel, which the reading layer's unfolding
//! follows: see `mapping::flattened_map`). Local memory: each core's buffers by name, sized
//! to the largest use; `--alloc-memory` gives them addresses later.

use super::SchedError;
use crate::arch::{Arch, CoreId};
use crate::graph::{Graph, NodeId, Op, ValueId};
use crate::ids::IdVec;
use crate::isa::{ArrayGroup, CoreProgram, GlobalBuf, GlobalInit, Line, LocalBuf, Stmt};
use crate::mapping::Mapping;
use std::collections::HashMap;

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

    /// Elements per output row: a feature map's pixels of a row, else the whole value (one
    /// row).
    pub fn row_elements(self) -> i64 {
        match self {
            Layout::Hwc { c, w, .. } => c * w,
            l => l.elements(),
        }
    }

    /// Rows: a feature map's height, else one.
    pub fn rows(self) -> i64 {
        match self {
            Layout::Hwc { h, .. } => h,
            _ => 1,
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

/// The model output index of view `i` when it must be copied into channel-major order: a
/// flatten (of a map larger than 1 x 1, which is stored height-width-channel) whose result is
/// a model output that no op reads. Its copy runs as a task of its own, on a core that
/// produces the map.
pub fn reordered_output(g: &Graph, i: NodeId) -> Option<usize> {
    let n = &g.nodes[i];
    let &[x] = n.inputs.as_slice() else { return None };
    let map = matches!(g.shape(x), [1, _, h, w] if h * w > 1);
    if !n.op.is_view() || !map || g.nodes.iter().any(|m| m.inputs.contains(&n.output)) {
        return None;
    }
    // A model input has no producer to run the copy.
    g.data_producer(&g.producers(), x)?;
    g.outputs.iter().position(|&o| o == n.output)
}

/// Name of the global buffer holding node `i`'s output.
pub fn value_name(g: &Graph, i: NodeId) -> String {
    let n = &g.nodes[i];
    match n.op.layer_name() {
        Some(name) => name.to_string(),
        None => format!("{}{}", n.op.mnemonic(), i.0),
    }
}

/// The global buffers of a program and the buffer and layout of every graph value.
pub struct GlobalPlan {
    /// Bytes per activation element.
    pub eb: i64,
    pub globals: Vec<GlobalBuf>,
    names: HashMap<String, u32>,
    /// Global buffer holding each value (views share their source's).
    value_global: IdVec<ValueId, Option<u32>>,
    layout: IdVec<ValueId, Option<Layout>>,
}

impl GlobalPlan {
    /// Buffers for inputs, outputs and every computed value; layouts of all values.
    pub fn new(g: &Graph, _m: &Mapping, arch: &Arch) -> Result<GlobalPlan, SchedError> {
        let mut s = GlobalPlan {
            eb: i64::from(arch.activation_bytes()),
            globals: vec![],
            names: HashMap::new(),
            value_global: IdVec::filled(None, g.values.len()),
            layout: IdVec::filled(None, g.values.len()),
        };
        for (k, &v) in g.inputs.iter().enumerate() {
            let layout = natural_layout(g.shape(v)).ok_or_else(|| {
                SchedError::global(format!(
                    "model input {k} has shape {:?}; expected [1, C, H, W] or [1, N]",
                    g.shape(v)
                ))
            })?;
            let name = g.input_names.get(k).cloned().unwrap_or_else(|| format!("input{k}"));
            let init = GlobalInit::Input { index: k as u32, shape: g.shape(v).to_vec() };
            let gi = s.add_global(&name, layout.elements(), init)?;
            s.value_global[v] = Some(gi);
            s.layout[v] = Some(layout);
        }
        for (i, n) in g.nodes.iter_enumerated() {
            let out = n.output;
            if n.op.is_view() {
                let src = n.inputs[0];
                let layout = match s.layout_of(src) {
                    // A 1 x 1 map is already a vector in channel order.
                    Layout::Hwc { c, h: 1, w: 1 } if g.shape(out) == [1, c] => Layout::Flat(c),
                    Layout::Hwc { c, h, w } if g.shape(out) == [1, c * h * w] => Layout::FlatHwc { c, h, w },
                    l @ (Layout::Flat(_) | Layout::FlatHwc { .. }) if g.shape(out) == [1, l.elements()] => l,
                    l => {
                        return Err(SchedError::at(
                            i,
                            format!("cannot flatten a value laid out as {l:?} to {:?}", g.shape(out)),
                        ))
                    }
                };
                if let (Layout::FlatHwc { .. }, Some(k)) = (layout, reordered_output(g, i)) {
                    // Its own buffer, written in channel-major order by a copy (see there).
                    let name = g.output_names.get(k).cloned().unwrap_or_else(|| value_name(g, i));
                    let init = GlobalInit::Output { index: k as u32, shape: g.shape(out).to_vec() };
                    let gi = s.add_global(&name, layout.elements(), init)?;
                    s.value_global[out] = Some(gi);
                    s.layout[out] = Some(Layout::Flat(layout.elements()));
                    continue;
                }
                s.layout[out] = Some(layout);
                s.value_global[out] = s.value_global[src];
                continue;
            }
            if let Op::Constant { weight, shape } = &n.op {
                // A per-channel (or flat) constant: the same elements in any layout.
                let elements = crate::graph::shape::elements(shape).map_err(|m| SchedError::at(i, m))?;
                let flat = shape.iter().filter(|&&d| d != 1).count() <= 1;
                if !flat {
                    return Err(SchedError::at(
                        i,
                        format!("a constant of shape {shape:?} (not per-channel) is not supported yet"),
                    ));
                }
                let gi = s.add_global(weight, elements, GlobalInit::Weight { name: weight.clone() })?;
                s.value_global[out] = Some(gi);
                s.layout[out] = Some(Layout::Flat(elements));
                continue;
            }
            if matches!(n.op, Op::Concat { .. })
                && n.inputs.iter().any(|&v| matches!(s.layout_of(v), Layout::FlatHwc { .. }))
            {
                // The concatenation would mix height-width-channel order into a flat vector that
                // consumers read in ONNX (channel-major) order.
                return Err(SchedError::at(i, "concatenating flattened feature maps larger than 1 x 1 is not supported yet (they are stored height-width-channel)"));
            }
            let mut layout = natural_layout(g.shape(out)).ok_or_else(|| {
                SchedError::at(i, format!("result shape {:?} is not [1, C, H, W] or [1, N]", g.shape(out)))
            })?;
            // Element-wise ops keep a flattened feature map's order.
            if matches!(n.op, Op::Act(_) | Op::Add | Op::Mul | Op::BatchNorm(_) | Op::Softmax { .. }) {
                if let Layout::FlatHwc { .. } = s.layout_of(n.inputs[0]) {
                    layout = s.layout_of(n.inputs[0]);
                }
            }
            let output_index = g.outputs.iter().position(|&o| o == out);
            let init = match output_index {
                Some(k) => {
                    if let Layout::FlatHwc { .. } = layout {
                        return Err(SchedError::at(i, "a flattened feature map larger than 1 x 1 as model output is not supported yet (it is stored height-width-channel)"));
                    }
                    GlobalInit::Output { index: k as u32, shape: g.shape(out).to_vec() }
                }
                None => GlobalInit::None,
            };
            let name = match output_index {
                Some(k) => g.output_names.get(k).cloned().unwrap_or_else(|| value_name(g, i)),
                None => value_name(g, i),
            };
            let gi = s.add_global(&name, layout.elements(), init)?;
            s.value_global[out] = Some(gi);
            s.layout[out] = Some(layout);
        }
        let producers = g.producers();
        for (k, &o) in g.outputs.iter().enumerate() {
            if g.inputs.contains(&o) || g.outputs[..k].contains(&o) {
                return Err(SchedError::global(format!("model output {k} is a model input or repeats another output")));
            }
            if let Some(p) = producers[o] {
                if g.nodes[p].op.is_view() && !s.reordered(g, p) {
                    // The view's buffer (its source's) becomes the output, when its order is
                    // the output's and nothing else claims that buffer.
                    let gi = s.global_of(o) as usize;
                    if !matches!(s.layout_of(o), Layout::Flat(_)) {
                        return Err(SchedError::at(p, "a flattened feature map larger than 1 x 1 as model output is not supported yet (it is stored height-width-channel)"));
                    }
                    if s.globals[gi].init != GlobalInit::None {
                        return Err(SchedError::at(
                            p,
                            "a model output that is a view of a model input or of another output is not supported",
                        ));
                    }
                    s.globals[gi].init = GlobalInit::Output { index: k as u32, shape: g.shape(o).to_vec() };
                }
            }
        }
        Ok(s)
    }

    /// Gives the buffer of node `i`'s output `copies` copies, one per sample in flight (see
    /// `ht`); the model's outputs keep one (the host reads them after each sample).
    pub fn set_copies(&mut self, g: &Graph, i: NodeId, copies: u32) {
        if let Some(gi) = self.value_global[g.nodes[i].output] {
            let b = &mut self.globals[gi as usize];
            if b.init == GlobalInit::None {
                b.slots = copies.max(1);
            }
        }
    }

    /// Whether view `i` is copied into an output buffer of its own (see [`reordered_output`]).
    pub fn reordered(&self, g: &Graph, i: NodeId) -> bool {
        let n = &g.nodes[i];
        n.op.is_view() && self.value_global[n.output] != self.value_global[n.inputs[0]]
    }

    /// The layout of a value (every value has one once the plan is made).
    pub fn layout_of(&self, v: ValueId) -> Layout {
        self.layout[v].expect("a layout is assigned to every value, in graph order")
    }

    /// The global buffer holding a value.
    pub fn global_of(&self, v: ValueId) -> u32 {
        self.value_global[v].expect("a buffer is assigned to every value, in graph order")
    }

    /// A new global buffer of `elements` activation elements (name made unique).
    pub fn add_global(&mut self, name: &str, elements: i64, init: GlobalInit) -> Result<u32, SchedError> {
        let size = elements
            .checked_mul(self.eb)
            .and_then(|b| u64::try_from(b).ok())
            .ok_or_else(|| SchedError::global(format!("buffer '{name}' of {elements} elements is too large")))?;
        let mut unique = name.to_string();
        let mut k = 1;
        while self.names.contains_key(&unique) {
            unique = format!("{name}.{k}");
            k += 1;
        }
        let i = self.globals.len() as u32;
        self.globals.push(GlobalBuf { name: unique.clone(), line: Line::NONE, size, addr: None, init, slots: 1 });
        self.names.insert(unique, i);
        Ok(i)
    }

    /// A global filled with `value` (e.g. 1/count for average pooling), shared by size and value.
    pub fn fill_global(&mut self, elements: i64, value: f32) -> Result<u32, SchedError> {
        let name = format!("fill.{elements}.{value}");
        if let Some(&i) = self.names.get(&name) {
            return Ok(i);
        }
        self.add_global(&name, elements, GlobalInit::Fill { value })
    }
}

/// A program under construction for one core: its array-group table, its local buffers (by
/// name) and its body.
pub struct CoreBuilder {
    pub prog: CoreProgram,
    bufs: HashMap<String, u32>,
    /// Array groups by (layer, replica, matrix, first row, first column).
    ag_ids: HashMap<(String, u32, u32, i64, i64), u32>,
    /// Buffers asked for from here on are this scope's own (`name.scope`): the element
    /// pipeline gives every band its buffers, which then live for the band only, and the
    /// allocator lets the bands of the ops a core interleaves share memory.
    pub scope: Option<String>,
}

impl CoreBuilder {
    pub fn new(id: CoreId) -> Self {
        CoreBuilder {
            prog: CoreProgram { id, line: Line::NONE, ags: vec![], buffers: vec![], body: vec![] },
            bufs: HashMap::new(),
            ag_ids: HashMap::new(),
            scope: None,
        }
    }

    /// A local buffer by name, created (or grown) to hold `size` bytes; within a
    /// [`CoreBuilder::scope`], the scope's own buffer of that name.
    pub fn buf(&mut self, name: &str, size: i64) -> u32 {
        let size = size.max(0) as u64;
        let scoped;
        let name = match &self.scope {
            Some(s) => {
                scoped = format!("{name}.{s}");
                scoped.as_str()
            }
            None => name,
        };
        if let Some(&i) = self.bufs.get(name) {
            let b = &mut self.prog.buffers[i as usize];
            b.size = b.size.max(size);
            return i;
        }
        let i = self.prog.buffers.len() as u32;
        self.prog.buffers.push(LocalBuf { name: name.to_string(), line: Line::NONE, size, addr: None });
        self.bufs.insert(name.to_string(), i);
        i
    }

    /// The id of array group `ag` on this core, added on first use (the element pipeline
    /// runs a replica's groups in several tasks).
    pub fn add_ag(&mut self, ag: ArrayGroup) -> u32 {
        let key = (ag.layer.clone(), ag.replica, ag.matrix, ag.row_begin, ag.col_begin);
        if let Some(&i) = self.ag_ids.get(&key) {
            return i;
        }
        self.prog.ags.push(ag);
        let i = (self.prog.ags.len() - 1) as u32;
        self.ag_ids.insert(key, i);
        i
    }

    pub fn emit(&mut self, stmts: impl IntoIterator<Item = Stmt>) {
        self.prog.body.extend(stmts);
    }
}
