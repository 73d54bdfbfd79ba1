//! ONNX -> [`Graph`]: structure only. Weights stay in the model file; graph ops name them.
//!
//! Each node is translated by `import_node`; every failure names the node, its op type and
//! the cause. Constant subgraphs that only compute shapes are evaluated here, and activations
//! are fused into the crossbar layer that produces their input when it has no other user.

use crate::diag::{Error, Result};
use crate::graph::{shape, Conv2d, Fc, Graph, Node, Op, Pool, ValueId};
use crate::onnx::proto::{attribute_type as at, data_type, AttributeProto, NodeProto};
use crate::onnx::{tensor_to_i64, OnnxModel};
use melior::ir::Location;
use melior::Context;
use std::collections::{HashMap, HashSet};

/// Operators the importer understands, for error messages.
pub const SUPPORTED_OPS: &[&str] = &[
    "Add",
    "AveragePool",
    "Concat",
    "Constant",
    "Conv",
    "Dropout",
    "Flatten",
    "Gemm",
    "GlobalAveragePool",
    "Identity",
    "MatMul",
    "MaxPool",
    "Relu",
    "Reshape",
    "Softmax",
];

/// What an ONNX tensor name stands for during import.
#[derive(Clone, Debug)]
enum Sym {
    /// An activation of the graph.
    Value(ValueId),
    /// A weight (initializer); stays in the file.
    Weight { dims: Vec<i64> },
    /// A small integer constant (shapes), evaluated at import.
    Ints(Vec<i64>),
}

pub struct Importer<'c, 'm> {
    ctx: &'c Context,
    model: &'m OnnxModel,
    file: String,
    graph: Graph<'c>,
    syms: HashMap<String, Sym>,
    layer_names: HashSet<String>,
}

/// Imports `model` as a graph; `file` names it in locations and errors.
pub fn import<'c>(ctx: &'c Context, model: &OnnxModel, file: &str) -> Result<Graph<'c>> {
    let mut imp = Importer {
        ctx,
        model,
        file: file.to_string(),
        graph: Graph::new("main"),
        syms: HashMap::new(),
        layer_names: HashSet::new(),
    };
    imp.run().map_err(|e| e.in_file(file))?;
    let mut g = imp.graph;
    g.loc = Some(Location::new(ctx, file, 0, 0));
    crate::graph::fuse_activations(&mut g);
    Ok(g)
}

fn attr<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

impl<'c> Importer<'c, '_> {
    fn run(&mut self) -> Result<()> {
        let opset = self.model.opset();
        if opset != 0 && !(7..=22).contains(&opset) {
            return Err(Error::new(format!(
                "model uses opset {opset}; pimlir reads opsets 7-22"
            )));
        }
        let g = self.model.graph();
        for t in &g.initializer {
            self.syms.insert(
                t.name.clone(),
                Sym::Weight {
                    dims: t.dims.clone(),
                },
            );
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
            self.import_node(i, node).map_err(|e| {
                let who = if node.name.is_empty() {
                    format!("#{i}")
                } else {
                    format!("'{}'", node.name)
                };
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
                Some(_) => {
                    return Err(Error::new(format!(
                        "output '{}' is a constant, not computed",
                        out.name
                    )))
                }
                None => {
                    return Err(Error::new(format!(
                        "output '{}' is not produced by any node",
                        out.name
                    )))
                }
            }
        }
        Ok(())
    }

    fn value_info_shape(&self, vi: &crate::onnx::proto::ValueInfoProto) -> Result<Vec<i64>> {
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
        let dims = &tt
            .shape
            .as_ref()
            .ok_or_else(|| Error::new(format!("'{}' has no shape", vi.name)))?
            .dim;
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
                _ => Err(Error::new(format!(
                    "'{}' has an unknown or invalid size at axis {i}",
                    vi.name
                ))),
            })
            .collect()
    }

    fn value(&self, name: &str) -> Result<ValueId> {
        match self.syms.get(name) {
            Some(Sym::Value(v)) => Ok(*v),
            Some(_) => Err(Error::new(format!(
                "input '{name}' is a constant where an activation is expected"
            ))),
            None => Err(Error::new(format!(
                "input '{name}' is not defined before this node"
            ))),
        }
    }

    fn weight(&self, name: &str) -> Result<Vec<i64>> {
        match self.syms.get(name) {
            Some(Sym::Weight { dims }) => Ok(dims.clone()),
            Some(Sym::Value(_)) => Err(Error::new(format!(
                "weight '{name}' is computed at run time; pimlir needs constant weights (initializers)"
            ))),
            Some(Sym::Ints(_)) => Err(Error::new(format!("'{name}' is not a weight tensor"))),
            None => Err(Error::new(format!("weight '{name}' is not defined"))),
        }
    }

    fn ints(&self, name: &str) -> Result<Vec<i64>> {
        match self.syms.get(name) {
            Some(Sym::Ints(v)) => Ok(v.clone()),
            Some(Sym::Weight { .. }) => {
                let t = self
                    .model
                    .initializer(name)
                    .ok_or_else(|| Error::new(format!("'{name}' is missing")))?;
                tensor_to_i64(t)
            }
            _ => Err(Error::new(format!(
                "'{name}' must be a constant (computed at run time here)"
            ))),
        }
    }

    fn loc(&self, node: &NodeProto, index: usize) -> Location<'c> {
        let name = if node.name.is_empty() {
            format!("{}#{index}", node.op_type)
        } else {
            node.name.clone()
        };
        Location::name(self.ctx, &name, Location::new(self.ctx, &self.file, 0, 0))
    }

    fn layer_name(&mut self, node: &NodeProto, index: usize) -> String {
        let base = if node.name.is_empty() {
            format!("{}{index}", node.op_type.to_lowercase())
        } else {
            node.name.clone()
        };
        let mut name = base.clone();
        let mut k = 1;
        while !self.layer_names.insert(name.clone()) {
            name = format!("{base}_{k}");
            k += 1;
        }
        name
    }

    fn ints_attr(&self, node: &NodeProto, name: &str) -> Result<Option<Vec<i64>>> {
        match attr(node, name) {
            None => Ok(None),
            Some(a) if a.r#type == at::INTS || (a.r#type == 0 && !a.ints.is_empty()) => {
                Ok(Some(a.ints.clone()))
            }
            Some(_) => Err(Error::new(format!(
                "attribute '{name}' must be a list of integers"
            ))),
        }
    }

    fn int_attr(&self, node: &NodeProto, name: &str, default: i64) -> Result<i64> {
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
            Some(a) if a.r#type == at::STRING || a.r#type == 0 => {
                Ok(Some(String::from_utf8_lossy(&a.s).into_owned()))
            }
            Some(_) => Err(Error::new(format!("attribute '{name}' must be a string"))),
        }
    }

    /// Two spatial values (kernel, strides, dilations) from a 2-element list attribute.
    fn pair(&self, node: &NodeProto, name: &str, default: [i64; 2]) -> Result<[i64; 2]> {
        match self.ints_attr(node, name)? {
            None => Ok(default),
            Some(v) if v.len() == 2 => Ok([v[0], v[1]]),
            Some(v) => Err(Error::new(format!(
                "attribute '{name}' must have 2 values (2-D), got {v:?}"
            ))),
        }
    }

    fn pads(&self, node: &NodeProto) -> Result<[i64; 4]> {
        if let Some(p) = self.string_attr(node, "auto_pad")? {
            if p != "NOTSET" && p != "VALID" {
                return Err(Error::new(format!(
                    "auto_pad = {p} is not supported yet; give explicit pads"
                )));
            }
        }
        match self.ints_attr(node, "pads")? {
            None => Ok([0; 4]),
            // ONNX order: x1_begin, x2_begin, x1_end, x2_end = top, left, bottom, right.
            Some(v) if v.len() == 4 => Ok([v[0], v[1], v[2], v[3]]),
            Some(v) => Err(Error::new(format!(
                "attribute 'pads' must have 4 values, got {v:?}"
            ))),
        }
    }

    fn push(
        &mut self,
        node: &NodeProto,
        index: usize,
        op: Op,
        inputs: Vec<ValueId>,
        out_channels: Option<i64>,
    ) -> Result<()> {
        let in_shapes: Vec<&[i64]> = inputs.iter().map(|&v| self.graph.shape(v)).collect();
        let out_shape = shape::infer(&op, &in_shapes, out_channels).map_err(Error::new)?;
        let out = self.graph.add_value(out_shape);
        let loc = self.loc(node, index);
        self.graph.nodes.push(Node {
            op,
            inputs,
            output: out,
            loc,
            partition: None,
            placement: None,
        });
        let name = node
            .output
            .first()
            .ok_or_else(|| Error::new("node has no output"))?;
        self.syms.insert(name.clone(), Sym::Value(out));
        Ok(())
    }

    fn alias(&mut self, node: &NodeProto, v: ValueId) -> Result<()> {
        let name = node
            .output
            .first()
            .ok_or_else(|| Error::new("node has no output"))?;
        self.syms.insert(name.clone(), Sym::Value(v));
        Ok(())
    }

    fn input<'n>(&self, node: &'n NodeProto, i: usize) -> Result<&'n str> {
        node.input
            .get(i)
            .map(|s| s.as_str())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::new(format!("missing input {i}")))
    }

    fn opt_input<'n>(&self, node: &'n NodeProto, i: usize) -> Option<&'n str> {
        node.input
            .get(i)
            .map(|s| s.as_str())
            .filter(|s| !s.is_empty())
    }

    fn import_node(&mut self, index: usize, node: &NodeProto) -> Result<()> {
        if !node.domain.is_empty() && node.domain != "ai.onnx" {
            return Err(Error::new(format!(
                "operator domain '{}' is not supported",
                node.domain
            )));
        }
        match node.op_type.as_str() {
            "Conv" => {
                let x = self.value(self.input(node, 0)?)?;
                let wname = self.input(node, 1)?.to_string();
                let w = self.weight(&wname)?;
                if w.len() != 4 {
                    return Err(Error::new(format!(
                        "weight '{wname}' must be 4-D (OIHW), got shape {w:?}"
                    )));
                }
                let bias = match self.opt_input(node, 2) {
                    Some(b) => {
                        let bd = self.weight(b)?;
                        if bd.iter().product::<i64>() != w[0] {
                            return Err(Error::new(format!(
                                "bias '{b}' has shape {bd:?}, expected [{}]",
                                w[0]
                            )));
                        }
                        Some(b.to_string())
                    }
                    None => None,
                };
                let group = self.int_attr(node, "group", 1)?;
                let kernel = self.pair(node, "kernel_shape", [w[2], w[3]])?;
                if kernel != [w[2], w[3]] {
                    return Err(Error::new(format!(
                        "kernel_shape {kernel:?} does not match weight shape {w:?}"
                    )));
                }
                let in_ch = self.graph.shape(x).get(1).copied().unwrap_or(0);
                if w[1] * group != in_ch {
                    return Err(Error::new(format!(
                        "weight '{wname}' expects {} input channels (x group {group}), the input has {in_ch}",
                        w[1]
                    )));
                }
                if group != 1 {
                    return Err(Error::new(format!(
                        "grouped convolution (group = {group}) is not supported yet"
                    )));
                }
                let name = self.layer_name(node, index);
                let op = Op::Conv2d(Conv2d {
                    name,
                    weight: wname,
                    bias,
                    kernel,
                    strides: self.pair(node, "strides", [1, 1])?,
                    pads: self.pads(node)?,
                    dilations: self.pair(node, "dilations", [1, 1])?,
                    group,
                    act: None,
                });
                self.push(node, index, op, vec![x], Some(w[0]))
            }
            "Gemm" => {
                let x = self.value(self.input(node, 0)?)?;
                let (alpha, beta) = (
                    self.float_attr(node, "alpha", 1.0)?,
                    self.float_attr(node, "beta", 1.0)?,
                );
                if self.int_attr(node, "transA", 0)? != 0 {
                    return Err(Error::new(
                        "transA = 1 is not supported (the activation must be a row vector)",
                    ));
                }
                if alpha != 1.0 || (beta != 1.0 && self.opt_input(node, 2).is_some()) {
                    return Err(Error::new(format!(
                        "alpha = {alpha}, beta = {beta} are not supported (only 1)"
                    )));
                }
                let transposed = self.int_attr(node, "transB", 0)? != 0;
                self.fc(node, index, x, transposed)
            }
            "MatMul" => {
                let x = self.value(self.input(node, 0)?)?;
                self.fc(node, index, x, false)
            }
            "Relu" => {
                let x = self.value(self.input(node, 0)?)?;
                self.push(node, index, Op::Relu, vec![x], None)
            }
            "MaxPool" | "AveragePool" => {
                let x = self.value(self.input(node, 0)?)?;
                if self.int_attr(node, "ceil_mode", 0)? != 0 {
                    return Err(Error::new("ceil_mode = 1 is not supported yet"));
                }
                if self.pair(node, "dilations", [1, 1])? != [1, 1] {
                    return Err(Error::new("dilated pooling is not supported"));
                }
                let kernel = self.pair(node, "kernel_shape", [0, 0])?;
                if kernel[0] <= 0 || kernel[1] <= 0 {
                    return Err(Error::new("attribute 'kernel_shape' is required"));
                }
                let pool = Pool {
                    kernel,
                    strides: self.pair(node, "strides", [1, 1])?,
                    pads: self.pads(node)?,
                    count_include_pad: self.int_attr(node, "count_include_pad", 0)? != 0,
                };
                let op = if node.op_type == "MaxPool" {
                    Op::MaxPool(pool)
                } else {
                    Op::AvgPool(pool)
                };
                if node.output.len() > 1 && !node.output[1].is_empty() {
                    return Err(Error::new("the Indices output of MaxPool is not supported"));
                }
                self.push(node, index, op, vec![x], None)
            }
            "GlobalAveragePool" => {
                let x = self.value(self.input(node, 0)?)?;
                self.push(node, index, Op::GlobalAvgPool, vec![x], None)
            }
            "Add" => {
                let (a, b) = (self.input(node, 0)?, self.input(node, 1)?);
                match (self.syms.get(a).cloned(), self.syms.get(b).cloned()) {
                    (Some(Sym::Value(x)), Some(Sym::Value(y))) => {
                        self.push(node, index, Op::Add, vec![x, y], None)
                    }
                    (Some(Sym::Value(x)), Some(Sym::Weight { .. })) => self.add_bias(node, x, a, b),
                    (Some(Sym::Weight { .. }), Some(Sym::Value(y))) => self.add_bias(node, y, b, a),
                    _ => Err(Error::new(
                        "adding two constants (or undefined inputs) is not supported",
                    )),
                }
            }
            "Concat" => {
                let inputs = node
                    .input
                    .iter()
                    .map(|n| self.value(n))
                    .collect::<Result<Vec<_>>>()?;
                let axis = self.int_attr(node, "axis", i64::MIN)?;
                if axis == i64::MIN {
                    return Err(Error::new("attribute 'axis' is required"));
                }
                self.push(node, index, Op::Concat { axis }, inputs, None)
            }
            "Flatten" => {
                let x = self.value(self.input(node, 0)?)?;
                let axis = self.int_attr(node, "axis", 1)?;
                self.push(node, index, Op::Flatten { axis }, vec![x], None)
            }
            "Reshape" => {
                let x = self.value(self.input(node, 0)?)?;
                let target = self.ints(self.input(node, 1)?)?;
                let s = self.graph.shape(x).to_vec();
                let total: i64 = s.iter().product();
                // Resolve 0 (copy) and -1 (infer) as ONNX defines them.
                let mut dims: Vec<i64> = target
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| {
                        if d == 0 {
                            s.get(i).copied().unwrap_or(0)
                        } else {
                            d
                        }
                    })
                    .collect();
                if let Some(p) = dims.iter().position(|&d| d == -1) {
                    let known: i64 = dims.iter().filter(|&&d| d != -1).product();
                    if known == 0 || total % known != 0 {
                        return Err(Error::new(format!("cannot reshape {s:?} to {target:?}")));
                    }
                    dims[p] = total / known;
                }
                if dims.iter().product::<i64>() != total {
                    return Err(Error::new(format!("cannot reshape {s:?} to {target:?}")));
                }
                if dims.len() == 2 && dims[0] == s.first().copied().unwrap_or(1) {
                    self.push(node, index, Op::Flatten { axis: 1 }, vec![x], None)
                } else if dims == s {
                    self.alias(node, x)
                } else {
                    Err(Error::new(format!("reshape of {s:?} to {dims:?} is not supported yet (only flattening to 2-D)")))
                }
            }
            "Softmax" => {
                let x = self.value(self.input(node, 0)?)?;
                let default = if self.model.opset() >= 13 { -1 } else { 1 };
                let axis = self.int_attr(node, "axis", default)?;
                self.push(node, index, Op::Softmax { axis }, vec![x], None)
            }
            "Dropout" | "Identity" => {
                if node.output.len() > 1 && !node.output[1].is_empty() {
                    return Err(Error::new("the mask output of Dropout is not supported"));
                }
                let x = self.value(self.input(node, 0)?)?;
                self.alias(node, x)
            }
            "Constant" => {
                let a = attr(node, "value")
                    .ok_or_else(|| Error::new("Constant without 'value' is not supported"))?;
                let t =
                    a.t.as_ref()
                        .ok_or_else(|| Error::new("Constant 'value' must be a tensor"))?;
                let out = node
                    .output
                    .first()
                    .ok_or_else(|| Error::new("node has no output"))?
                    .clone();
                match t.data_type {
                    data_type::INT64 | data_type::INT32 => {
                        self.syms.insert(out, Sym::Ints(tensor_to_i64(t)?));
                        Ok(())
                    }
                    _ => Err(Error::new("only integer Constant nodes (shapes) are supported; store weights as initializers")),
                }
            }
            other => Err(Error::new(format!(
                "unsupported operator '{other}'; supported: {}",
                SUPPORTED_OPS.join(", ")
            ))),
        }
    }

    /// Gemm / MatMul with a constant right-hand side: a fully connected layer.
    fn fc(&mut self, node: &NodeProto, index: usize, x: ValueId, transposed: bool) -> Result<()> {
        let wname = self.input(node, 1)?.to_string();
        let w = self.weight(&wname)?;
        if w.len() != 2 {
            return Err(Error::new(format!(
                "weight '{wname}' must be 2-D, got shape {w:?}"
            )));
        }
        let (k, n) = if transposed {
            (w[1], w[0])
        } else {
            (w[0], w[1])
        };
        let xs = self.graph.shape(x).to_vec();
        if xs.len() != 2 || xs[1] != k {
            return Err(Error::new(format!(
                "input of shape {xs:?} does not match weight '{wname}' of shape {w:?} (needs [1, {k}])"
            )));
        }
        let bias = match self.opt_input(node, 2) {
            Some(b) => {
                let bd = self.weight(b)?;
                if bd.iter().product::<i64>() != n {
                    return Err(Error::new(format!(
                        "bias '{b}' has shape {bd:?}, expected [{n}]"
                    )));
                }
                Some(b.to_string())
            }
            None => None,
        };
        let name = self.layer_name(node, index);
        let op = Op::Fc(Fc {
            name,
            weight: wname,
            bias,
            transpose_weight: transposed,
            act: None,
        });
        self.push(node, index, op, vec![x], Some(n))
    }

    /// Number of nodes and graph outputs that read the ONNX tensor `name`.
    fn uses(&self, name: &str) -> usize {
        let g = self.model.graph();
        g.node
            .iter()
            .map(|n| n.input.iter().filter(|i| *i == name).count())
            .sum::<usize>()
            + g.output.iter().filter(|o| o.name == name).count()
    }

    /// `Add(x, constant)` right after a bias-less crossbar layer becomes that layer's bias.
    fn add_bias(&mut self, node: &NodeProto, x: ValueId, x_name: &str, b: &str) -> Result<()> {
        let dims = self.weight(b)?;
        let producer = self.graph.nodes.iter().position(|n| n.output == x);
        if let Some(p) = producer {
            let only_user = self.uses(x_name) == 1;
            let out_ch = self.graph.shape(x)[1];
            let bias_ok = dims.iter().product::<i64>() == out_ch;
            let slot = match &mut self.graph.nodes[p].op {
                Op::Fc(f) if f.bias.is_none() => Some(&mut f.bias),
                Op::Conv2d(c) if c.bias.is_none() && (dims.len() == 1 || dims.len() == 3) => {
                    Some(&mut c.bias)
                }
                _ => None,
            };
            if let (Some(slot), true, true) = (slot, only_user, bias_ok) {
                *slot = Some(b.to_string());
                return self.alias(node, x);
            }
        }
        Err(Error::new(format!(
            "adding constant '{b}' of shape {dims:?} is supported only as the bias of the preceding Conv/Gemm/MatMul"
        )))
    }
}
