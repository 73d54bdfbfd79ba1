//! The dataflow graph as plain Rust data: what the `graph`, `pim_partition` and `pim_core`
//! dialects hold, extracted from MLIR for analysis and written back after a pass decided.
//!
//! One graph serves the three levels; what `--partition`, `--replicate` and `--map-cores`
//! decide about it lives beside it, in a [`crate::mapping::Mapping`]. The graph has no tie
//! to MLIR: locations are kept in a side table by whoever built it (see [`SrcId`]).

pub mod cleanup;
pub mod shape;

use crate::diag::{Error, Result};
use crate::ids::IdVec;

/// An element-wise activation: a graph op of its own, or fused into a crossbar layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Act {
    Relu,
    /// x if x >= 0, else alpha * x
    LeakyRelu {
        alpha: f32,
    },
    /// min(max(x, min), max); ReLU6 is Clip { 0, 6 }
    Clip {
        min: f32,
        max: f32,
    },
    Sigmoid,
    Tanh,
    /// max(0, min(1, alpha * x + beta))
    HardSigmoid {
        alpha: f32,
        beta: f32,
    },
    /// x * HardSigmoid(x) with alpha 1/6, beta 1/2
    HardSwish,
}

impl Act {
    /// The op's (and the fused `act` attribute's) name.
    pub fn name(self) -> &'static str {
        match self {
            Act::Relu => "relu",
            Act::LeakyRelu { .. } => "leaky_relu",
            Act::Clip { .. } => "clip",
            Act::Sigmoid => "sigmoid",
            Act::Tanh => "tanh",
            Act::HardSigmoid { .. } => "hard_sigmoid",
            Act::HardSwish => "hard_swish",
        }
    }

    /// The activation named `name`, its parameters read by `param` (e.g. "alpha").
    pub fn from_parts(name: &str, mut param: impl FnMut(&str) -> Result<f32, String>) -> Result<Act, String> {
        Ok(match name {
            "relu" => Act::Relu,
            "leaky_relu" => Act::LeakyRelu { alpha: param("alpha")? },
            "clip" => Act::Clip { min: param("min")?, max: param("max")? },
            "sigmoid" => Act::Sigmoid,
            "tanh" => Act::Tanh,
            "hard_sigmoid" => Act::HardSigmoid { alpha: param("alpha")?, beta: param("beta")? },
            "hard_swish" => Act::HardSwish,
            other => {
                return Err(format!(
                    "unknown activation '{other}' (expected relu, leaky_relu, clip, sigmoid, tanh, hard_sigmoid, hard_swish)"
                ))
            }
        })
    }

    /// Named parameters, in a fixed order.
    pub fn params(self) -> Vec<(&'static str, f32)> {
        match self {
            Act::LeakyRelu { alpha } => vec![("alpha", alpha)],
            Act::Clip { min, max } => vec![("min", min), ("max", max)],
            Act::HardSigmoid { alpha, beta } => vec![("alpha", alpha), ("beta", beta)],
            _ => vec![],
        }
    }

    /// The function itself (reference semantics, used by the simulator and tests).
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Act::Relu => x.max(0.0),
            Act::LeakyRelu { alpha } => {
                if x >= 0.0 {
                    x
                } else {
                    alpha * x
                }
            }
            Act::Clip { min, max } => x.max(min).min(max),
            Act::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Act::Tanh => x.tanh(),
            Act::HardSigmoid { alpha, beta } => (alpha * x + beta).clamp(0.0, 1.0),
            Act::HardSwish => x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
        }
    }
}

/// Batch normalization by name of its four parameter tensors: y = (x - mean) *
/// gamma / sqrt(var + epsilon) + beta, per channel.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNorm {
    pub gamma: String,
    pub beta: String,
    pub mean: String,
    pub var: String,
    pub epsilon: f32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Conv2d {
    /// Layer name, unique in the graph; array groups and programs refer to it.
    pub name: String,
    /// Weight tensor name in the weight store (OIHW layout).
    pub weight: String,
    pub bias: Option<String>,
    pub kernel: [i64; 2],
    pub strides: [i64; 2],
    /// top, left, bottom, right
    pub pads: [i64; 4],
    pub dilations: [i64; 2],
    pub group: i64,
    /// A batch normalization folded into the layer (applied after weight and bias).
    pub bn: Option<BatchNorm>,
    pub act: Option<Act>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Fc {
    pub name: String,
    /// Weight tensor name; `(in, out)` layout, or `(out, in)` when `transpose_weight`.
    pub weight: String,
    pub bias: Option<String>,
    pub transpose_weight: bool,
    pub bn: Option<BatchNorm>,
    pub act: Option<Act>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    pub kernel: [i64; 2],
    pub strides: [i64; 2],
    pub pads: [i64; 4],
    /// Average pooling only: whether padded positions count in the divisor.
    pub count_include_pad: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Lrn {
    pub size: i64,
    pub alpha: f32,
    pub beta: f32,
    pub bias: f32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Conv2d(Conv2d),
    Fc(Fc),
    Act(Act),
    MaxPool(Pool),
    AvgPool(Pool),
    GlobalAvgPool,
    /// Element-wise sum, with numpy broadcasting.
    Add,
    /// Element-wise product, with numpy broadcasting (e.g. squeeze-and-excitation).
    Mul,
    /// A tensor from the weight store, e.g. a per-channel bias added after an activation.
    Constant {
        weight: String,
        shape: Vec<i64>,
    },
    /// Batch normalization that could not be folded into a preceding layer.
    BatchNorm(BatchNorm),
    Concat {
        axis: i64,
    },
    Flatten {
        axis: i64,
    },
    Softmax {
        axis: i64,
    },
    /// ShuffleNet's channel shuffle: channels viewed as [groups, C/groups], transposed.
    ChannelShuffle {
        groups: i64,
    },
    /// Constant padding of the spatial dimensions (top, left, bottom, right).
    Pad {
        pads: [i64; 4],
        value: f32,
    },
    /// Local response normalization across channels.
    Lrn(Lrn),
}

impl Op {
    /// The op's name inside its dialect (`graph.<name>`).
    pub fn mnemonic(&self) -> &'static str {
        match self {
            Op::Conv2d(_) => "conv2d",
            Op::Fc(_) => "fc",
            Op::Act(a) => a.name(),
            Op::MaxPool(_) => "maxpool",
            Op::AvgPool(_) => "avgpool",
            Op::GlobalAvgPool => "global_avgpool",
            Op::Add => "add",
            Op::Mul => "mul",
            Op::Constant { .. } => "constant",
            Op::BatchNorm(_) => "batchnorm",
            Op::Concat { .. } => "concat",
            Op::Flatten { .. } => "flatten",
            Op::Softmax { .. } => "softmax",
            Op::ChannelShuffle { .. } => "channel_shuffle",
            Op::Pad { .. } => "pad",
            Op::Lrn(_) => "lrn",
        }
    }

    /// Crossbar layers hold weights in array groups; everything else runs on vector units.
    pub fn is_crossbar_layer(&self) -> bool {
        matches!(self, Op::Conv2d(_) | Op::Fc(_))
    }

    /// Views only reinterpret their input's memory (no code runs for them).
    pub fn is_view(&self) -> bool {
        matches!(self, Op::Flatten { .. })
    }

    pub fn layer_name(&self) -> Option<&str> {
        match self {
            Op::Conv2d(c) => Some(&c.name),
            Op::Fc(f) => Some(&f.name),
            _ => None,
        }
    }
}

crate::id_type!(
    /// A node (op) of a [`Graph`].
    NodeId
);
crate::id_type!(
    /// A value (tensor) of a [`Graph`]: a graph input or a node's result.
    ValueId
);

/// Where a node came from, for diagnostics: an index into a table kept beside the graph by
/// whoever built it (the MLIR bridge keeps MLIR locations there, an importer the node's name
/// in the source model). Passes that create a node give it the `src` of the node it derives
/// from.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct SrcId(pub u32);

impl SrcId {
    pub const NONE: SrcId = SrcId(u32::MAX);
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub op: Op,
    pub inputs: Vec<ValueId>,
    pub output: ValueId,
    pub src: SrcId,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    pub shape: Vec<i64>,
}

/// The dataflow graph: plain data, `Send + Sync`, with no tie to MLIR.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Graph {
    /// Name of the entry function (`main` unless the model says otherwise).
    pub func_name: String,
    pub values: IdVec<ValueId, Value>,
    pub inputs: Vec<ValueId>,
    pub outputs: Vec<ValueId>,
    /// Names of the model inputs/outputs, as in the source model.
    pub input_names: Vec<String>,
    pub output_names: Vec<String>,
    /// In topological order: a node's inputs are graph inputs or results of earlier nodes.
    pub nodes: IdVec<NodeId, Node>,
}

impl Graph {
    pub fn new(func_name: &str) -> Self {
        Graph { func_name: func_name.to_string(), ..Default::default() }
    }

    pub fn add_value(&mut self, shape: Vec<i64>) -> ValueId {
        self.values.push(Value { shape })
    }

    pub fn shape(&self, v: ValueId) -> &[i64] {
        &self.values[v].shape
    }

    /// The node producing each value (None for graph inputs).
    pub fn producers(&self) -> IdVec<ValueId, Option<NodeId>> {
        let mut p = IdVec::filled(None, self.values.len());
        for (i, n) in self.nodes.iter_enumerated() {
            p[n.output] = Some(i);
        }
        p
    }

    /// Consumers of each value.
    pub fn consumers(&self) -> IdVec<ValueId, Vec<NodeId>> {
        let mut c = IdVec::filled(vec![], self.values.len());
        for (i, n) in self.nodes.iter_enumerated() {
            for &v in &n.inputs {
                c[v].push(i);
            }
        }
        c
    }

    /// The crossbar layers, in graph order.
    pub fn crossbar_layers(&self) -> impl Iterator<Item = (NodeId, &Node)> {
        self.nodes.iter_enumerated().filter(|(_, n)| n.op.is_crossbar_layer())
    }

    /// Checks that layer names are unique (array groups and programs refer to layers by name).
    pub fn check_layer_names(&self) -> Result<()> {
        let mut seen = std::collections::HashSet::new();
        for n in &self.nodes {
            if let Some(name) = n.op.layer_name() {
                if !seen.insert(name) {
                    return Err(Error::new(format!("two layers are named '{name}'; layer names must be unique")));
                }
            }
        }
        Ok(())
    }

    /// Checks every op's shapes: the declared result shape must be the inferred one (which
    /// checks ranks, kernels, strides, pads and sizes with checked arithmetic). Returns each
    /// offending node with the message. Passes run this even under `--no-verify`: everything
    /// after the importer indexes shapes and multiplies sizes on the strength of it.
    pub fn check_shapes(&self) -> Vec<(NodeId, String)> {
        let mut out = vec![];
        for (i, n) in self.nodes.iter_enumerated() {
            let ins: Vec<&[i64]> = n.inputs.iter().map(|&v| self.shape(v)).collect();
            let declared = self.shape(n.output);
            if let Op::Conv2d(c) = &n.op {
                if c.kernel.iter().chain(&c.strides).chain(&c.dilations).any(|&x| x <= 0)
                    || c.pads.iter().any(|&x| x < 0)
                {
                    out.push((
                        i,
                        format!(
                            "layer '{}': kernel, strides and dilations must be positive and pads non-negative",
                            c.name
                        ),
                    ));
                    continue;
                }
            }
            let out_ch = if n.op.is_crossbar_layer() { declared.get(1).copied() } else { None };
            match shape::infer(&n.op, &ins, out_ch) {
                Ok(s) if s == declared => {}
                Ok(s) => out.push((i, format!("result shape {declared:?} does not match the inferred shape {s:?}"))),
                Err(m) => out.push((i, m)),
            }
        }
        out
    }

    /// Checks the graph's structure: every operand is defined before it is used, every value
    /// is produced once, outputs exist. (Importers and the MLIR bridge build graphs that pass;
    /// this guards hand-made ones and states the invariant.)
    pub fn check_structure(&self) -> Result<()> {
        let mut defined = IdVec::<ValueId, bool>::filled(false, self.values.len());
        for &v in &self.inputs {
            match defined.get(v) {
                Some(_) => defined[v] = true,
                None => return Err(Error::new(format!("graph input {v} is not a value of the graph"))),
            }
        }
        for (i, n) in self.nodes.iter_enumerated() {
            for &v in &n.inputs {
                if !defined.get(v).copied().unwrap_or(false) {
                    return Err(Error::new(format!(
                        "node {i} ('{}') reads value {v} before it is defined",
                        n.op.mnemonic()
                    )));
                }
            }
            match defined.get(n.output) {
                Some(false) => defined[n.output] = true,
                Some(true) => return Err(Error::new(format!("value {} is defined twice", n.output))),
                None => return Err(Error::new(format!("node {i} defines value {}, which does not exist", n.output))),
            }
        }
        for &v in &self.outputs {
            if !defined.get(v).copied().unwrap_or(false) {
                return Err(Error::new(format!("graph output {v} is never defined")));
            }
        }
        Ok(())
    }

    /// The node that really computes value `v`'s data, looking through views (`flatten`);
    /// None for graph inputs.
    pub fn data_producer(&self, producers: &IdVec<ValueId, Option<NodeId>>, mut v: ValueId) -> Option<NodeId> {
        loop {
            let p = producers[v]?;
            if self.nodes[p].op.is_view() {
                v = self.nodes[p].inputs[0];
            } else {
                return Some(p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn the_graph_is_plain_data() {
        assert_send_sync::<Graph>();
        let mut g = Graph::new("main");
        let x = g.add_value(vec![1, 4]);
        g.inputs.push(x);
        let y = g.add_value(vec![1, 4]);
        g.nodes.push(Node { op: Op::Act(Act::Relu), inputs: vec![x], output: y, src: SrcId::NONE });
        g.outputs.push(y);
        g.check_structure().unwrap();
        assert_eq!(g.producers()[y], Some(NodeId(0)));
        assert_eq!(g.consumers()[x], vec![NodeId(0)]);
        g.nodes[NodeId(0)].inputs = vec![y];
        assert!(g.check_structure().unwrap_err().to_string().contains("before it is defined"));
    }
}
