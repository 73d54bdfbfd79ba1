//! The dataflow graph as plain Rust data: what the `graph`, `pim_partition` and `pim_core`
//! dialects hold, extracted from MLIR for analysis and written back after a pass decided.
//!
//! One model serves the three levels: a node's `partition` is filled by `--partition` (and
//! `--replicate`), its `placement` by `--map-cores`; which dialect an op is printed in follows
//! from what is filled (see `crate::dialect::graph_ir`).

pub mod cleanup;
pub mod shape;

use crate::diag::{Error, Result};
use melior::ir::Location;

pub type ValueId = usize;

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

    pub fn layer_name(&self) -> Option<&str> {
        match self {
            Op::Conv2d(c) => Some(&c.name),
            Op::Fc(f) => Some(&f.name),
            _ => None,
        }
    }
}

/// How a crossbar layer's weight matrix is cut into array groups (set by `--partition`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// Unfolded weight matrix: `rows` = K_h*K_w*C_in (conv) or in-features (fc), `cols` = out.
    pub rows: i64,
    pub cols: i64,
    /// Weight rows per array group (the crossbar height).
    pub ag_rows: i64,
    /// Array groups per replica: ceil(rows / ag_rows).
    pub ag_count: i64,
    /// Crossbars per array group: ceil(cols / crossbar columns).
    pub xbars_per_ag: i64,
    /// Copies of the whole layer (set by `--replicate`).
    pub replicas: i64,
}

impl Partition {
    pub fn total_ags(&self) -> i64 {
        self.ag_count * self.replicas
    }
    pub fn total_xbars(&self) -> i64 {
        self.total_ags() * self.xbars_per_ag
    }
    /// Weight rows `[begin, end)` held by array group `g` of a replica.
    pub fn ag_row_range(&self, g: i64) -> (i64, i64) {
        let b = g * self.ag_rows;
        (b, (b + self.ag_rows).min(self.rows))
    }
}

/// Where a node runs (set by `--map-cores`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Crossbar layer: the core of every array group, replica-major (`replica * ag_count + g`).
    ArrayGroups(Vec<i64>),
    /// Vector op: the cores that share its work (the scheduler splits it into row or chunk
    /// ranges between them).
    Cores(Vec<i64>),
}

#[derive(Debug, Clone)]
pub struct Node<'c> {
    pub op: Op,
    pub inputs: Vec<ValueId>,
    pub output: ValueId,
    pub loc: Location<'c>,
    pub partition: Option<Partition>,
    pub placement: Option<Placement>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    pub shape: Vec<i64>,
}

#[derive(Debug, Clone)]
pub struct Graph<'c> {
    /// Name of the entry function (`main` unless the model says otherwise).
    pub func_name: String,
    pub values: Vec<Value>,
    pub inputs: Vec<ValueId>,
    pub outputs: Vec<ValueId>,
    /// Names of the model inputs/outputs, as in the source model.
    pub input_names: Vec<String>,
    pub output_names: Vec<String>,
    pub nodes: Vec<Node<'c>>,
    /// Location of the graph function.
    pub loc: Option<Location<'c>>,
}

impl<'c> Graph<'c> {
    pub fn new(func_name: &str) -> Self {
        Graph {
            func_name: func_name.to_string(),
            values: vec![],
            inputs: vec![],
            outputs: vec![],
            input_names: vec![],
            output_names: vec![],
            nodes: vec![],
            loc: None,
        }
    }

    pub fn add_value(&mut self, shape: Vec<i64>) -> ValueId {
        self.values.push(Value { shape });
        self.values.len() - 1
    }

    pub fn shape(&self, v: ValueId) -> &[i64] {
        &self.values[v].shape
    }

    /// Index of the node producing each value (None for graph inputs).
    pub fn producers(&self) -> Vec<Option<usize>> {
        let mut p = vec![None; self.values.len()];
        for (i, n) in self.nodes.iter().enumerate() {
            p[n.output] = Some(i);
        }
        p
    }

    /// Consumers of each value, by node index.
    pub fn consumers(&self) -> Vec<Vec<usize>> {
        let mut c = vec![vec![]; self.values.len()];
        for (i, n) in self.nodes.iter().enumerate() {
            for &v in &n.inputs {
                c[v].push(i);
            }
        }
        c
    }

    pub fn crossbar_layers(&self) -> impl Iterator<Item = &Node<'c>> {
        self.nodes.iter().filter(|n| n.op.is_crossbar_layer())
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
}
