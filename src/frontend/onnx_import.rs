//! ONNX -> [`Graph`]: structure only. Weights stay in the model file; graph ops name them.
//!
//! Nodes are translated in order by [`Importer::node`]; every failure names the node, its op
//! type and the cause. Small integer subgraphs that only compute shapes (PyTorch's
//! `x.view(x.size(0), -1)`: Shape, Gather, Unsqueeze, Concat, Reshape) are evaluated here
//! (`onnx_shapes.rs`). Batch normalization and bias additions fold into the preceding crossbar
//! layer when nothing else reads its output; the channel-shuffle pattern (Reshape to 5-D,
//! Transpose, Reshape back) becomes one op. Graph clean-ups (activation fusion, pad folding)
//! run afterwards (`crate::graph::cleanup`).

use super::onnx_shapes::{self, Ints};
use super::Imported;
use crate::diag::{Error, Result};
use crate::graph::{shape, Act, BatchNorm, Conv2d, Fc, Graph, Lrn, Node, Op, Pool, SrcId, ValueId};
use crate::onnx::proto::{attribute_type as at, data_type, AttributeProto, NodeProto, ValueInfoProto};
use crate::onnx::OnnxModel;
use std::collections::{HashMap, HashSet};

/// Operators the importer understands, for error messages.
pub const SUPPORTED_OPS: &[&str] = &[
    "Add",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Clip",
    "Concat",
    "Constant",
    "Conv",
    "Dropout",
    "Flatten",
    "Gather",
    "Gemm",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "HardSigmoid",
    "HardSwish",
    "Identity",
    "LRN",
    "LeakyRelu",
    "MatMul",
    "MaxPool",
    "Mul",
    "Pad",
    "Relu",
    "Reshape",
    "Shape",
    "Sigmoid",
    "Slice",
    "Softmax",
    "Squeeze",
    "Tanh",
    "Transpose",
    "Unsqueeze",
];

/// What an ONNX tensor name stands for during import.
#[derive(Clone, Debug)]
pub enum Sym {
    /// An activation of the graph.
    Value(ValueId),
    /// A constant float tensor (initializer or Constant node); stays in the file.
    Weight { dims: Vec<i64> },
    /// A small integer constant (shapes, indices), evaluated at import.
    Ints(Ints),
    /// Half of a channel shuffle: a [1, C, H, W] value viewed as [1, groups, C/groups, H, W].
    ShuffleSplit { src: ValueId, groups: i64 },
    /// The split view transposed to [1, C/groups, groups, H, W].
    ShuffleSwapped { src: ValueId, groups: i64 },
}

pub struct Importer<'m> {
    pub(super) model: &'m OnnxModel,
    graph: Graph,
    /// The source (node name) of each graph node, by `SrcId`.
    names: Vec<String>,
    pub(super) syms: HashMap<String, Sym>,
    layer_names: HashSet<String>,
    /// How many nodes (and graph outputs) read each tensor name.
    uses: HashMap<String, usize>,
}

/// Imports `model` as a graph; `file` names it in errors. Each graph node's source is the
/// ONNX node's name (`<op_type>#<index>` for an unnamed one).
pub fn import(model: &OnnxModel, file: &str) -> Result<Imported> {
    let g = model.graph();
    let mut uses: HashMap<String, usize> = HashMap::new();
    for n in &g.node {
        for i in n.input.iter().filter(|i| !i.is_empty()) {
            *uses.entry(i.clone()).or_default() += 1;
        }
    }
    for o in &g.output {
        *uses.entry(o.name.clone()).or_default() += 1;
    }
    let mut imp = Importer {
        model,
        graph: Graph::new("main"),
        names: vec![],
        syms: HashMap::new(),
        layer_names: HashSet::new(),
        uses,
    };
    imp.run().map_err(|e| e.in_file(file))?;
    let mut g = imp.graph;
    crate::graph::cleanup::fold_pads(&mut g);
    crate::graph::cleanup::fuse_activations(&mut g);
    Ok(Imported { graph: g, names: imp.names, file: file.to_string() })
}

pub(super) fn attr<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

impl Importer<'_> {
    fn run(&mut self) -> Result<()> {
        let opset = self.model.opset();
        if opset != 0 && !(7..=22).contains(&opset) {
            return Err(Error::new(format!("model uses opset {opset}; pimlir reads opsets 7-22")));
        }
        let g = self.model.graph();
        for t in &g.initializer {
            let sym = match t.data_type {
                data_type::INT64 | data_type::INT32 => Ints::from_tensor(t)?.into_sym(),
                _ => Sym::Weight { dims: t.dims.clone() },
            };
            self.syms.insert(t.name.clone(), sym);
        }
        for input in &g.input {
            if self.syms.contains_key(&input.name) {
                continue; // an initializer listed as input (IR < 4)
            }
            let shape = self.value_info_shape(input)?;
            let v = self.graph.add_value(shape);
            self.graph.inputs.push(v);
            self.graph.input_names.push(input.name.clone());
            self.syms.insert(input.name.clone(), Sym::Value(v));
        }
        if self.graph.inputs.is_empty() {
            return Err(Error::new("the model has no (non-initializer) input"));
        }
        for (i, node) in g.node.iter().enumerate() {
            self.node(i, node).map_err(|e| {
                let who = if node.name.is_empty() { format!("#{i}") } else { format!("'{}'", node.name) };
                e.prefixed(&format!("node {who} ({}): ", node.op_type))
            })?;
        }
        for out in &g.output {
            match self.syms.get(&out.name) {
                Some(Sym::Value(v)) => {
                    let v = *v;
                    if let Ok(declared) = self.value_info_shape(out) {
                        let got = self.graph.shape(v);
                        if declared != got {
                            return Err(Error::new(format!(
                                "output '{}' is declared with shape {declared:?} but computes to {got:?}",
                                out.name
                            )));
                        }
                    }
                    self.graph.outputs.push(v);
                    self.graph.output_names.push(out.name.clone());
                }
                Some(_) => return Err(Error::new(format!("output '{}' is a constant, not computed", out.name))),
                None => return Err(Error::new(format!("output '{}' is not produced by any node", out.name))),
            }
        }
        Ok(())
    }

    fn value_info_shape(&self, vi: &ValueInfoProto) -> Result<Vec<i64>> {
        let tt = vi
            .r#type
            .as_ref()
            .and_then(|t| t.tensor_type.as_ref())
            .ok_or_else(|| Error::new(format!("'{}' is not a tensor", vi.name)))?;
        if tt.elem_type != data_type::FLOAT {
            return Err(Error::new(format!(
                "'{}' has element type {}; pimlir compiles float32 models",
                vi.name,
                data_type::name(tt.elem_type)
            )));
        }
        let dims = &tt.shape.as_ref().ok_or_else(|| Error::new(format!("'{}' has no shape", vi.name)))?.dim;
        dims.iter()
            .enumerate()
            .map(|(i, d)| match (d.dim_value, &d.dim_param) {
                (Some(v), _) if v > 0 => Ok(v),
                // A symbolic batch dimension: pimlir compiles batch-1 inference.
                (_, Some(_)) if i == 0 => Ok(1),
                (_, Some(p)) => Err(Error::new(format!(
                    "'{}' has dynamic dimension '{p}' at axis {i}; pimlir needs static shapes",
                    vi.name
                ))),
                _ => Err(Error::new(format!("'{}' has an unknown or invalid size at axis {i}", vi.name))),
            })
            .collect()
    }

    // ----- operands --------------------------------------------------------------------------

    pub(super) fn sym(&self, name: &str) -> Result<&Sym> {
        self.syms.get(name).ok_or_else(|| Error::new(format!("input '{name}' is not defined before this node")))
    }

    fn value(&self, name: &str) -> Result<ValueId> {
        match self.sym(name)? {
            Sym::Value(v) => Ok(*v),
            Sym::Weight { .. } | Sym::Ints(_) => {
                Err(Error::new(format!("input '{name}' is a constant where an activation is expected")))
            }
            Sym::ShuffleSplit { .. } | Sym::ShuffleSwapped { .. } => Err(Error::new(format!(
                "input '{name}' is a 5-D view, which pimlir supports only inside a channel shuffle (Reshape, Transpose, Reshape)"
            ))),
        }
    }

    fn weight(&self, name: &str) -> Result<Vec<i64>> {
        match self.sym(name)? {
            Sym::Weight { dims } => {
                let t = self.model.initializer(name);
                if let Some(t) = t {
                    if t.data_type != data_type::FLOAT && t.data_type != data_type::DOUBLE {
                        return Err(Error::new(format!(
                            "weight '{name}' has element type {}; pimlir reads float32 (or float64) weights",
                            data_type::name(t.data_type)
                        )));
                    }
                    self.model.check_payload(t)?;
                }
                Ok(dims.clone())
            }
            Sym::Value(_) => Err(Error::new(format!(
                "weight '{name}' is computed at run time; pimlir needs constant weights (initializers)"
            ))),
            _ => Err(Error::new(format!("'{name}' is not a float weight tensor"))),
        }
    }

    /// A scalar float constant (e.g. Clip bounds).
    fn scalar(&self, name: &str) -> Result<f32> {
        let dims = self.weight(name)?;
        if shape::checked_product(&dims) != Some(1) {
            return Err(Error::new(format!("'{name}' must be a scalar, got shape {dims:?}")));
        }
        let t = self.model.initializer(name).ok_or_else(|| Error::new(format!("'{name}' is missing")))?;
        Ok(self.model.tensor_f32(t)?[0])
    }

    pub(super) fn ints(&self, name: &str) -> Result<Ints> {
        match self.sym(name)? {
            Sym::Ints(v) => Ok(v.clone()),
            _ => Err(Error::new(format!("'{name}' must be an integer constant (it is computed at run time here)"))),
        }
    }

    pub(super) fn input<'n>(&self, node: &'n NodeProto, i: usize) -> Result<&'n str> {
        node.input
            .get(i)
            .map(|s| s.as_str())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::new(format!("missing input {i}")))
    }

    pub(super) fn opt_input<'n>(&self, node: &'n NodeProto, i: usize) -> Option<&'n str> {
        node.input.get(i).map(|s| s.as_str()).filter(|s| !s.is_empty())
    }

    fn only_user(&self, name: &str) -> bool {
        self.uses.get(name).copied().unwrap_or(0) == 1
    }

    // ----- attributes ------------------------------------------------------------------------

    pub(super) fn ints_attr(&self, node: &NodeProto, name: &str) -> Result<Option<Vec<i64>>> {
        match attr(node, name) {
            None => Ok(None),
            Some(a) if a.r#type == at::INTS || (a.r#type == 0 && !a.ints.is_empty()) => Ok(Some(a.ints.clone())),
            Some(_) => Err(Error::new(format!("attribute '{name}' must be a list of integers"))),
        }
    }

    pub(super) fn int_attr(&self, node: &NodeProto, name: &str, default: i64) -> Result<i64> {
        match attr(node, name) {
            None => Ok(default),
            Some(a) if a.r#type == at::INT || a.r#type == 0 => Ok(a.i),
            Some(_) => Err(Error::new(format!("attribute '{name}' must be an integer"))),
        }
    }

    fn float_attr(&self, node: &NodeProto, name: &str, default: f32) -> Result<f32> {
        match attr(node, name) {
            None => Ok(default),
            Some(a) if a.r#type == at::FLOAT || a.r#type == 0 => Ok(a.f),
            Some(_) => Err(Error::new(format!("attribute '{name}' must be a float"))),
        }
    }

    fn string_attr(&self, node: &NodeProto, name: &str) -> Result<Option<String>> {
        match attr(node, name) {
            None => Ok(None),
            Some(a) if a.r#type == at::STRING || a.r#type == 0 => Ok(Some(String::from_utf8_lossy(&a.s).into_owned())),
            Some(_) => Err(Error::new(format!("attribute '{name}' must be a string"))),
        }
    }

    /// Two spatial values (kernel, strides, dilations) from a 2-element list attribute.
    fn pair(&self, node: &NodeProto, name: &str, default: [i64; 2]) -> Result<[i64; 2]> {
        match self.ints_attr(node, name)? {
            None => Ok(default),
            Some(v) if v.len() == 2 => Ok([v[0], v[1]]),
            Some(v) => Err(Error::new(format!("attribute '{name}' must have 2 values (2-D), got {v:?}"))),
        }
    }

    /// Spatial pads (top, left, bottom, right) from `pads` or `auto_pad`.
    fn pads(
        &self,
        node: &NodeProto,
        input: &[i64],
        kernel: [i64; 2],
        strides: [i64; 2],
        dilations: [i64; 2],
    ) -> Result<[i64; 4]> {
        let explicit = match self.ints_attr(node, "pads")? {
            None => [0; 4],
            // ONNX order: x1_begin, x2_begin, x1_end, x2_end = top, left, bottom, right.
            Some(v) if v.len() == 4 => [v[0], v[1], v[2], v[3]],
            Some(v) => return Err(Error::new(format!("attribute 'pads' must have 4 values, got {v:?}"))),
        };
        match self.string_attr(node, "auto_pad")?.as_deref() {
            None | Some("NOTSET") => Ok(explicit),
            Some("VALID") => Ok([0; 4]),
            Some(mode @ ("SAME_UPPER" | "SAME_LOWER")) => {
                if kernel.iter().chain(&strides).chain(&dilations).any(|&x| x <= 0) {
                    return Err(Error::new(format!(
                        "auto_pad needs positive kernel, strides and dilations, got {kernel:?}, {strides:?}, {dilations:?}"
                    )));
                }
                let mut p = [0; 4];
                for d in 0..2 {
                    let size = *input.get(2 + d).ok_or_else(|| Error::new("auto_pad needs a 4-D input"))?;
                    // In i128: the attributes are any i64.
                    let (size, s, k, dl) =
                        (i128::from(size), i128::from(strides[d]), i128::from(kernel[d]), i128::from(dilations[d]));
                    let out = (size + s - 1) / s;
                    let total = ((out - 1) * s + (k - 1) * dl + 1 - size).max(0);
                    let small = total / 2;
                    let (begin, end) =
                        if mode == "SAME_UPPER" { (small, total - small) } else { (total - small, small) };
                    let fit = |x: i128| {
                        i64::try_from(x).map_err(|_| {
                            Error::new(format!(
                                "auto_pad {mode} with kernel {kernel:?}, strides {strides:?} and dilations {dilations:?} needs padding beyond 2^63"
                            ))
                        })
                    };
                    p[d] = fit(begin)?;
                    p[d + 2] = fit(end)?;
                }
                Ok(p)
            }
            Some(other) => Err(Error::new(format!("unknown auto_pad '{other}'"))),
        }
    }

    // ----- building the graph ----------------------------------------------------------------

    /// The source of graph nodes made for ONNX node `index`.
    fn src(&mut self, node: &NodeProto, index: usize) -> SrcId {
        let name = if node.name.is_empty() { format!("{}#{index}", node.op_type) } else { node.name.clone() };
        if self.names.last() != Some(&name) {
            self.names.push(name);
        }
        SrcId(self.names.len() as u32 - 1)
    }

    fn layer_name(&mut self, node: &NodeProto, index: usize) -> String {
        let base =
            if node.name.is_empty() { format!("{}{index}", node.op_type.to_lowercase()) } else { node.name.clone() };
        let mut name = base.clone();
        let mut k = 1;
        while !self.layer_names.insert(name.clone()) {
            name = format!("{base}_{k}");
            k += 1;
        }
        name
    }

    /// Adds a node computing `op` from `inputs` and binds the node's first output to it.
    fn push(
        &mut self,
        node: &NodeProto,
        index: usize,
        op: Op,
        inputs: Vec<ValueId>,
        out_channels: Option<i64>,
    ) -> Result<ValueId> {
        let in_shapes: Vec<&[i64]> = inputs.iter().map(|&v| self.graph.shape(v)).collect();
        let out_shape = shape::infer(&op, &in_shapes, out_channels).map_err(Error::new)?;
        let out = self.graph.add_value(out_shape);
        let src = self.src(node, index);
        self.graph.nodes.push(Node { op, inputs, output: out, src });
        self.bind(node, Sym::Value(out))?;
        Ok(out)
    }

    /// Adds a node without binding an ONNX name (e.g. a constant operand).
    fn push_anonymous(&mut self, node: &NodeProto, index: usize, op: Op, inputs: Vec<ValueId>) -> Result<ValueId> {
        let in_shapes: Vec<&[i64]> = inputs.iter().map(|&v| self.graph.shape(v)).collect();
        let out_shape = shape::infer(&op, &in_shapes, None).map_err(Error::new)?;
        let out = self.graph.add_value(out_shape);
        let src = self.src(node, index);
        self.graph.nodes.push(Node { op, inputs, output: out, src });
        Ok(out)
    }

    pub(super) fn bind(&mut self, node: &NodeProto, sym: Sym) -> Result<()> {
        let name = node.output.first().filter(|s| !s.is_empty()).ok_or_else(|| Error::new("node has no output"))?;
        self.syms.insert(name.clone(), sym);
        Ok(())
    }

    fn producer(&self, v: ValueId) -> Option<crate::graph::NodeId> {
        self.graph.nodes.iter_enumerated().rev().find(|(_, n)| n.output == v).map(|(i, _)| i)
    }

    /// An activation operand, or a constant materialized as a `graph.constant` op.
    fn operand(&mut self, node: &NodeProto, index: usize, name: &str) -> Result<ValueId> {
        match self.sym(name)?.clone() {
            Sym::Weight { dims } => {
                self.weight(name)?;
                self.push_anonymous(node, index, Op::Constant { weight: name.to_string(), shape: dims }, vec![])
            }
            _ => self.value(name),
        }
    }

    fn node(&mut self, index: usize, node: &NodeProto) -> Result<()> {
        if !node.domain.is_empty() && node.domain != "ai.onnx" {
            return Err(Error::new(format!("operator domain '{}' is not supported", node.domain)));
        }
        match node.op_type.as_str() {
            "Conv" => self.conv(index, node),
            "Gemm" => {
                let x = self.value(self.input(node, 0)?)?;
                let (alpha, beta) = (self.float_attr(node, "alpha", 1.0)?, self.float_attr(node, "beta", 1.0)?);
                if self.int_attr(node, "transA", 0)? != 0 {
                    return Err(Error::new("transA = 1 is not supported (the activation must be a row vector)"));
                }
                if alpha != 1.0 || (beta != 1.0 && self.opt_input(node, 2).is_some()) {
                    return Err(Error::new(format!("alpha = {alpha}, beta = {beta} are not supported (only 1)")));
                }
                let transposed = self.int_attr(node, "transB", 0)? != 0;
                self.fc(node, index, x, transposed)
            }
            "MatMul" => {
                let x = self.value(self.input(node, 0)?)?;
                self.fc(node, index, x, false)
            }
            "Relu" => self.activation(node, index, Op::Act(Act::Relu)),
            "LeakyRelu" => {
                let alpha = self.float_attr(node, "alpha", 0.01)?;
                self.activation(node, index, Op::Act(Act::LeakyRelu { alpha }))
            }
            "Sigmoid" => self.activation(node, index, Op::Act(Act::Sigmoid)),
            "Tanh" => self.activation(node, index, Op::Act(Act::Tanh)),
            "HardSigmoid" => {
                let alpha = self.float_attr(node, "alpha", 0.2)?;
                let beta = self.float_attr(node, "beta", 0.5)?;
                self.activation(node, index, Op::Act(Act::HardSigmoid { alpha, beta }))
            }
            "HardSwish" => self.activation(node, index, Op::Act(Act::HardSwish)),
            "Clip" => {
                // Before opset 11 the bounds are attributes, since then optional inputs.
                let (min, max) = if self.model.opset() < 11 && self.model.opset() != 0 {
                    (self.float_attr(node, "min", f32::MIN)?, self.float_attr(node, "max", f32::MAX)?)
                } else {
                    let min = match self.opt_input(node, 1) {
                        Some(n) => self.scalar(n)?,
                        None => f32::MIN,
                    };
                    let max = match self.opt_input(node, 2) {
                        Some(n) => self.scalar(n)?,
                        None => f32::MAX,
                    };
                    (min, max)
                };
                let op = if min == 0.0 && max == f32::MAX { Act::Relu } else { Act::Clip { min, max } };
                self.activation(node, index, Op::Act(op))
            }
            "MaxPool" | "AveragePool" => self.pool(index, node),
            "GlobalAveragePool" => {
                let x = self.value(self.input(node, 0)?)?;
                self.push(node, index, Op::GlobalAvgPool, vec![x], None).map(|_| ())
            }
            "GlobalMaxPool" => {
                let x = self.value(self.input(node, 0)?)?;
                let s = self.graph.shape(x).to_vec();
                if s.len() != 4 {
                    return Err(Error::new(format!("expects a 4-D input, got shape {s:?}")));
                }
                let pool = Pool { kernel: [s[2], s[3]], strides: [1, 1], pads: [0; 4], count_include_pad: false };
                self.push(node, index, Op::MaxPool(pool), vec![x], None).map(|_| ())
            }
            "BatchNormalization" => self.batchnorm(index, node),
            "Add" | "Mul" => self.binary(index, node),
            "Concat" => {
                if let Ok(v) = onnx_shapes::concat_ints(self, node) {
                    return self.bind(node, v.into_sym());
                }
                let inputs = node.input.iter().map(|n| self.value(n)).collect::<Result<Vec<_>>>()?;
                if attr(node, "axis").is_none() {
                    return Err(Error::new("attribute 'axis' is required"));
                }
                let axis = self.int_attr(node, "axis", 0)?;
                let rank = inputs.first().map_or(0, |&v| self.graph.shape(v).len()) as i64;
                if !(-rank..rank).contains(&axis) {
                    return Err(Error::new(format!("axis {axis} is out of range for rank {rank}")));
                }
                if inputs.len() == 1 {
                    return self.bind(node, Sym::Value(inputs[0]));
                }
                self.push(node, index, Op::Concat { axis }, inputs, None).map(|_| ())
            }
            "Flatten" => {
                let x = self.value(self.input(node, 0)?)?;
                let axis = self.int_attr(node, "axis", 1)?;
                self.push(node, index, Op::Flatten { axis }, vec![x], None).map(|_| ())
            }
            "Reshape" => self.reshape(index, node),
            "Transpose" => self.transpose(index, node),
            "Softmax" => {
                let x = self.value(self.input(node, 0)?)?;
                let default = if self.model.opset() >= 13 { -1 } else { 1 };
                let axis = self.int_attr(node, "axis", default)?;
                // Before opset 13, softmax coerces the input to 2-D at `axis`; graph.softmax is
                // along one axis, the same only when every dimension after `axis` is 1.
                let shape = self.value_shape(x);
                let rank = shape.len() as i64;
                let a = if axis < 0 { axis + rank } else { axis };
                if self.model.opset() < 13 && a >= 0 && a < rank && shape[a as usize + 1..].iter().any(|&d| d != 1) {
                    return Err(Error::new(format!(
                        "Softmax before opset 13 over {shape:?} from axis {axis} normalizes several axes at once, which is not supported (only along one axis)"
                    )));
                }
                self.push(node, index, Op::Softmax { axis }, vec![x], None).map(|_| ())
            }
            "Dropout" | "Identity" => {
                if node.output.len() > 1
                    && !node.output[1].is_empty()
                    && self.uses.get(&node.output[1]).copied().unwrap_or(0) > 0
                {
                    return Err(Error::new("the mask output of Dropout is used; pimlir compiles inference only"));
                }
                match self.sym(self.input(node, 0)?)?.clone() {
                    Sym::Value(x) => self.bind(node, Sym::Value(x)),
                    other => self.bind(node, other),
                }
            }
            "Pad" => self.pad(index, node),
            "LRN" => {
                let x = self.value(self.input(node, 0)?)?;
                let size = self.int_attr(node, "size", 0)?;
                if size <= 0 {
                    return Err(Error::new("attribute 'size' is required and must be positive"));
                }
                let lrn = Lrn {
                    size,
                    alpha: self.float_attr(node, "alpha", 1e-4)?,
                    beta: self.float_attr(node, "beta", 0.75)?,
                    bias: self.float_attr(node, "bias", 1.0)?,
                };
                self.push(node, index, Op::Lrn(lrn), vec![x], None).map(|_| ())
            }
            "Constant" => onnx_shapes::constant(self, node),
            "Shape" | "Gather" | "Unsqueeze" | "Squeeze" | "Cast" | "Slice" => onnx_shapes::fold(self, node),
            other => {
                Err(Error::new(format!("unsupported operator '{other}'; supported: {}", SUPPORTED_OPS.join(", "))))
            }
        }
    }

    fn activation(&mut self, node: &NodeProto, index: usize, op: Op) -> Result<()> {
        let x = self.value(self.input(node, 0)?)?;
        self.push(node, index, op, vec![x], None).map(|_| ())
    }

    fn conv(&mut self, index: usize, node: &NodeProto) -> Result<()> {
        let x = self.value(self.input(node, 0)?)?;
        let wname = self.input(node, 1)?.to_string();
        let w = self.weight(&wname)?;
        if w.len() != 4 {
            return Err(Error::new(format!("weight '{wname}' must be 4-D (OIHW), got shape {w:?}")));
        }
        let bias = match self.opt_input(node, 2) {
            Some(b) => {
                let bd = self.weight(b)?;
                if shape::checked_product(&bd) != Some(w[0]) {
                    return Err(Error::new(format!("bias '{b}' has shape {bd:?}, expected [{}]", w[0])));
                }
                Some(b.to_string())
            }
            None => None,
        };
        let group = self.int_attr(node, "group", 1)?;
        let kernel = self.pair(node, "kernel_shape", [w[2], w[3]])?;
        if kernel != [w[2], w[3]] {
            return Err(Error::new(format!("kernel_shape {kernel:?} does not match weight '{wname}' of shape {w:?}")));
        }
        let in_shape = self.graph.shape(x).to_vec();
        if in_shape.len() != 4 {
            return Err(Error::new(format!("input must be a 4-D NCHW tensor, got shape {in_shape:?}")));
        }
        if group <= 0 {
            return Err(Error::new(format!("group must be positive, got {group}")));
        }
        let in_ch = in_shape[1];
        if w[1].checked_mul(group) != Some(in_ch) {
            return Err(Error::new(format!(
                "weight '{wname}' expects {} input channels x group {group}, the input has {in_ch}",
                w[1]
            )));
        }
        let strides = self.pair(node, "strides", [1, 1])?;
        let dilations = self.pair(node, "dilations", [1, 1])?;
        let pads = self.pads(node, &in_shape, kernel, strides, dilations)?;
        let name = self.layer_name(node, index);
        let op = Op::Conv2d(Conv2d {
            name,
            weight: wname,
            bias,
            kernel,
            strides,
            pads,
            dilations,
            group,
            bn: None,
            act: None,
        });
        self.push(node, index, op, vec![x], Some(w[0])).map(|_| ())
    }

    /// Gemm / MatMul with a constant right-hand side: a fully connected layer.
    fn fc(&mut self, node: &NodeProto, index: usize, x: ValueId, transposed: bool) -> Result<()> {
        let wname = self.input(node, 1)?.to_string();
        let w = self.weight(&wname)?;
        if w.len() != 2 {
            return Err(Error::new(format!("weight '{wname}' must be 2-D, got shape {w:?}")));
        }
        let (k, n) = if transposed { (w[1], w[0]) } else { (w[0], w[1]) };
        let xs = self.graph.shape(x).to_vec();
        if xs.len() != 2 || xs[1] != k {
            return Err(Error::new(format!(
                "input of shape {xs:?} does not match weight '{wname}' of shape {w:?} (needs [1, {k}])"
            )));
        }
        let bias = match self.opt_input(node, 2) {
            Some(b) => {
                let bd = self.weight(b)?;
                if shape::checked_product(&bd) != Some(n) {
                    return Err(Error::new(format!("bias '{b}' has shape {bd:?}, expected [{n}]")));
                }
                Some(b.to_string())
            }
            None => None,
        };
        let name = self.layer_name(node, index);
        let op = Op::Fc(Fc { name, weight: wname, bias, transpose_weight: transposed, bn: None, act: None });
        self.push(node, index, op, vec![x], Some(n)).map(|_| ())
    }

    fn pool(&mut self, index: usize, node: &NodeProto) -> Result<()> {
        let x = self.value(self.input(node, 0)?)?;
        if self.pair(node, "dilations", [1, 1])? != [1, 1] {
            return Err(Error::new("dilated pooling is not supported"));
        }
        if attr(node, "kernel_shape").is_none() {
            return Err(Error::new("attribute 'kernel_shape' is required"));
        }
        let kernel = self.pair(node, "kernel_shape", [0, 0])?;
        if kernel[0] <= 0 || kernel[1] <= 0 {
            return Err(Error::new(format!("kernel_shape {kernel:?} must be positive")));
        }
        let strides = self.pair(node, "strides", [1, 1])?;
        let in_shape = self.graph.shape(x).to_vec();
        let mut pads = self.pads(node, &in_shape, kernel, strides, [1, 1])?;
        let avg = node.op_type == "AveragePool";
        let count_include_pad = self.int_attr(node, "count_include_pad", 0)? != 0;
        if self.int_attr(node, "ceil_mode", 0)? != 0 {
            if in_shape.len() != 4 {
                return Err(Error::new(format!("expects a 4-D input, got shape {in_shape:?}")));
            }
            if avg && count_include_pad {
                return Err(Error::new("ceil_mode = 1 with count_include_pad = 1 is not supported"));
            }
            // Rounding the output size up adds windows at the end; they see extra padding,
            // which max pooling and padding-excluding averages ignore.
            if kernel.iter().chain(&strides).any(|&x| x <= 0) || pads.iter().any(|&x| x < 0) {
                return Err(Error::new(format!(
                    "ceil_mode needs positive kernel and strides and non-negative pads, got {kernel:?}, {strides:?}, {pads:?}"
                )));
            }
            for d in 0..2 {
                // In i128: the attributes are any i64.
                let (size, s, k) = (i128::from(in_shape[2 + d]), i128::from(strides[d]), i128::from(kernel[d]));
                let padded = size + i128::from(pads[d]) + i128::from(pads[d + 2]);
                let floor = (padded - k).div_euclid(s) + 1;
                let mut ceil = (padded - k + s - 1).div_euclid(s) + 1;
                // The last window must start inside the input or the leading padding.
                if (ceil - 1) * s >= size + i128::from(pads[d]) {
                    ceil -= 1;
                }
                let end = i128::from(pads[d + 2]) + (ceil - floor) * s;
                pads[d + 2] = i64::try_from(end)
                    .map_err(|_| Error::new(format!("ceil_mode with strides {strides:?} needs padding beyond 2^63")))?;
            }
        }
        if node.output.len() > 1 && !node.output[1].is_empty() {
            return Err(Error::new("the Indices output of MaxPool is not supported"));
        }
        let pool = Pool { kernel, strides, pads, count_include_pad };
        let op = if avg { Op::AvgPool(pool) } else { Op::MaxPool(pool) };
        self.push(node, index, op, vec![x], None).map(|_| ())
    }

    /// BatchNormalization folds into the conv/fc before it when that layer's output has no
    /// other reader and no normalization or activation yet; otherwise it is an op of its own.
    fn batchnorm(&mut self, index: usize, node: &NodeProto) -> Result<()> {
        let xname = self.input(node, 0)?;
        let x = self.value(xname)?;
        if self.int_attr(node, "training_mode", 0)? != 0 {
            return Err(Error::new("training_mode = 1 is not supported (inference only)"));
        }
        let channels = *self.graph.shape(x).get(1).ok_or_else(|| Error::new("input has no channel axis"))?;
        let mut names = vec![];
        for (i, what) in ["scale", "B", "mean", "var"].iter().enumerate() {
            let n = self.input(node, 1 + i)?;
            let d = self.weight(n)?;
            if shape::checked_product(&d) != Some(channels) {
                return Err(Error::new(format!("{what} '{n}' has shape {d:?}, expected [{channels}]")));
            }
            names.push(n.to_string());
        }
        let bn = BatchNorm {
            gamma: names[0].clone(),
            beta: names[1].clone(),
            mean: names[2].clone(),
            var: names[3].clone(),
            epsilon: self.float_attr(node, "epsilon", 1e-5)?,
        };
        if let Some(p) = self.producer(x).filter(|_| self.only_user(xname)) {
            let slot = match &mut self.graph.nodes[p].op {
                Op::Conv2d(c) if c.bn.is_none() && c.act.is_none() => Some(&mut c.bn),
                Op::Fc(f) if f.bn.is_none() && f.act.is_none() => Some(&mut f.bn),
                _ => None,
            };
            if let Some(slot) = slot {
                *slot = Some(bn);
                return self.bind(node, Sym::Value(x));
            }
        }
        self.push(node, index, Op::BatchNorm(bn), vec![x], None).map(|_| ())
    }

    /// Add / Mul. A constant added right after a bias-less, unnormalized crossbar layer is its
    /// bias; other constants become `graph.constant` operands (broadcast per numpy rules).
    fn binary(&mut self, index: usize, node: &NodeProto) -> Result<()> {
        if let Ok(v) = onnx_shapes::arith_ints(self, node) {
            return self.bind(node, v.into_sym());
        }
        let (a, b) = (self.input(node, 0)?, self.input(node, 1)?);
        let is_add = node.op_type == "Add";
        if is_add {
            let (sa, sb) = (self.sym(a)?.clone(), self.sym(b)?.clone());
            let folded = match (sa, sb) {
                (Sym::Value(x), Sym::Weight { .. }) => self.try_bias(node, x, a, b)?,
                (Sym::Weight { .. }, Sym::Value(y)) => self.try_bias(node, y, b, a)?,
                _ => false,
            };
            if folded {
                return Ok(());
            }
        }
        if matches!(self.sym(a)?, Sym::Weight { .. }) && matches!(self.sym(b)?, Sym::Weight { .. }) {
            return Err(Error::new("both operands are constants; fold them before import"));
        }
        let x = self.operand(node, index, a)?;
        let y = self.operand(node, index, b)?;
        self.push(node, index, if is_add { Op::Add } else { Op::Mul }, vec![x, y], None).map(|_| ())
    }

    fn try_bias(&mut self, node: &NodeProto, x: ValueId, x_name: &str, b: &str) -> Result<bool> {
        let dims = self.weight(b)?;
        let Some(p) = self.producer(x) else { return Ok(false) };
        if !self.only_user(x_name) {
            return Ok(false);
        }
        let out = self.graph.shape(x).to_vec();
        let Some(&ch) = out.get(1) else { return Ok(false) };
        // [C], [1, C], [C, 1, 1] or [1, C, 1, 1]: one value per output channel.
        let per_channel = shape::checked_product(&dims) == Some(ch)
            && match (out.len(), dims.as_slice()) {
                (2, [c]) | (2, [1, c]) => *c == ch,
                (4, [c, 1, 1]) | (4, [1, c, 1, 1]) => *c == ch,
                _ => false,
            };
        let slot = match &mut self.graph.nodes[p].op {
            Op::Fc(f) if f.bias.is_none() && f.bn.is_none() && f.act.is_none() => Some(&mut f.bias),
            Op::Conv2d(c) if c.bias.is_none() && c.bn.is_none() && c.act.is_none() => Some(&mut c.bias),
            _ => None,
        };
        match slot {
            Some(slot) if per_channel => {
                *slot = Some(b.to_string());
                self.bind(node, Sym::Value(x))?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn reshape(&mut self, index: usize, node: &NodeProto) -> Result<()> {
        let data = self.input(node, 0)?;
        let target = self.ints(self.input(node, 1)?)?.values;
        match self.sym(data)?.clone() {
            Sym::ShuffleSwapped { src, groups } => {
                let s = self.graph.shape(src).to_vec();
                if target.len() == 4 && target.iter().zip(&s).all(|(&t, &d)| t == d || t == -1 || t == 0) {
                    return self.push(node, index, Op::ChannelShuffle { groups }, vec![src], None).map(|_| ());
                }
                return Err(Error::new(format!(
                    "a transposed 5-D view reshaped to {target:?}: only a channel shuffle back to {s:?} is supported"
                )));
            }
            Sym::Ints(v) => {
                // Reshaping a shape constant (rare): keep the values.
                return self.bind(node, Sym::Ints(v));
            }
            _ => {}
        }
        let x = self.value(data)?;
        let s = self.graph.shape(x).to_vec();
        let total: i64 = shape::elements(&s).map_err(Error::new)?;
        // Resolve 0 (copy) and -1 (infer) as ONNX defines them.
        let allowzero = self.int_attr(node, "allowzero", 0)? != 0;
        let mut dims: Vec<i64> = target
            .iter()
            .enumerate()
            .map(|(i, &d)| if d == 0 && !allowzero { s.get(i).copied().unwrap_or(0) } else { d })
            .collect();
        if let Some(p) = dims.iter().position(|&d| d == -1) {
            let known: i64 = dims.iter().filter(|&&d| d != -1).try_fold(1i64, |a, &d| a.checked_mul(d)).unwrap_or(0);
            if known == 0 || total % known != 0 {
                return Err(Error::new(format!("cannot reshape {s:?} to {target:?}")));
            }
            dims[p] = total / known;
        }
        if shape::checked_product(&dims) != Some(total) || dims.iter().any(|&d| d <= 0) {
            return Err(Error::new(format!("cannot reshape {s:?} to {target:?}")));
        }
        if dims == s {
            return self.bind(node, Sym::Value(x));
        }
        if dims.len() == 2 && dims[0] == s.first().copied().unwrap_or(1) {
            return self.push(node, index, Op::Flatten { axis: 1 }, vec![x], None).map(|_| ());
        }
        // [1, C, H, W] -> [1, g, C/g, H, W]: the first step of a channel shuffle.
        if let ([1, c, h, w], [1, g, cg, h2, w2]) = (s.as_slice(), dims.as_slice()) {
            if g * cg == *c && h == h2 && w == w2 {
                return self.bind(node, Sym::ShuffleSplit { src: x, groups: *g });
            }
        }
        Err(Error::new(format!(
            "reshape of {s:?} to {dims:?} is not supported (only flattening, or a channel shuffle)"
        )))
    }

    fn transpose(&mut self, _index: usize, node: &NodeProto) -> Result<()> {
        let data = self.input(node, 0)?;
        let perm = self.ints_attr(node, "perm")?;
        match self.sym(data)?.clone() {
            Sym::ShuffleSplit { src, groups } if perm.as_deref() == Some(&[0, 2, 1, 3, 4]) => {
                self.bind(node, Sym::ShuffleSwapped { src, groups })
            }
            Sym::Value(x) => {
                let s = self.graph.shape(x).to_vec();
                let identity: Vec<i64> = (0..s.len() as i64).collect();
                if perm.as_ref().is_some_and(|p| *p == identity) {
                    return self.bind(node, Sym::Value(x));
                }
                Err(Error::new(format!(
                    "transpose with perm {:?} of a {s:?} tensor is not supported (only the channel-shuffle pattern)",
                    perm.unwrap_or_default()
                )))
            }
            _ => Err(Error::new(format!(
                "transpose with perm {:?} is not supported (only the channel-shuffle pattern)",
                perm.unwrap_or_default()
            ))),
        }
    }

    fn pad(&mut self, index: usize, node: &NodeProto) -> Result<()> {
        let x = self.value(self.input(node, 0)?)?;
        let mode = self.string_attr(node, "mode")?.unwrap_or_else(|| "constant".into());
        if mode != "constant" {
            return Err(Error::new(format!("pad mode '{mode}' is not supported (only 'constant')")));
        }
        let (pads, value) = if self.model.opset() < 11 && self.model.opset() != 0 {
            let p = self.ints_attr(node, "pads")?.ok_or_else(|| Error::new("attribute 'pads' is required"))?;
            (p, self.float_attr(node, "value", 0.0)?)
        } else {
            let p = self.ints(self.input(node, 1)?)?.values;
            let value = match self.opt_input(node, 2) {
                Some(v) => self.scalar(v)?,
                None => 0.0,
            };
            if self.opt_input(node, 3).is_some() {
                return Err(Error::new("the axes input of Pad is not supported"));
            }
            (p, value)
        };
        let s = self.graph.shape(x).to_vec();
        if s.len() != 4 || pads.len() != 8 {
            return Err(Error::new(format!("only 4-D spatial padding is supported (input {s:?}, pads {pads:?})")));
        }
        // [n_begin, c_begin, h_begin, w_begin, n_end, c_end, h_end, w_end]
        if pads[0] != 0 || pads[1] != 0 || pads[4] != 0 || pads[5] != 0 {
            return Err(Error::new(format!("padding of the batch or channel axis is not supported (pads {pads:?})")));
        }
        let op = Op::Pad { pads: [pads[2], pads[3], pads[6], pads[7]], value };
        self.push(node, index, op, vec![x], None).map(|_| ())
    }

    pub(super) fn value_shape(&self, v: ValueId) -> Vec<i64> {
        self.graph.shape(v).to_vec()
    }
}
