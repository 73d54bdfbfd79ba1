//! PIMCOMP-NN structure JSON -> [`Graph`].
//!
//! The format (`node_list` with `operation`, `param`, `provider_index`, `output_dim`, ...)
//! carries structure only. Weights get names (`<layer>.weight`, `<layer>.bias`) in a seeded
//! weight store (`pim.weights = "seed:<n>"`), generated deterministically when a simulation
//! needs them. Every node's `output_dim` is checked against pimlir's shape inference; Caffe
//! models round pooling outputs up, which becomes end padding as for ONNX `ceil_mode`.

use super::Imported;
use crate::diag::{Error, Result};
use crate::graph::{shape, Act, Conv2d, Fc, Graph, Lrn, Node, Op, Pool, SrcId, ValueId};
use serde::Deserialize;
use std::collections::HashMap;

/// The seed used when the user gives none.
pub const DEFAULT_SEED: u64 = 1;

#[derive(Deserialize)]
struct File {
    node_list: Vec<JsonNode>,
}

#[derive(Deserialize)]
struct JsonNode {
    index: i64,
    name: String,
    operation: String,
    #[serde(default)]
    output_dim: Vec<i64>,
    #[serde(default)]
    provider_index: Vec<i64>,
    #[serde(default)]
    param: HashMap<String, serde_json::Value>,
    #[serde(default)]
    with_act: i64,
    #[serde(default)]
    act_type: i64,
    #[serde(default)]
    with_clip: i64,
    #[serde(default)]
    clip_min: f64,
    #[serde(default)]
    clip_max: f64,
}

impl JsonNode {
    fn int(&self, key: &str, default: Option<i64>) -> Result<i64> {
        match self.param.get(key) {
            // An integer, also written as a float without fraction (3.0); never rounded.
            Some(v) => v
                .as_i64()
                .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18).map(|f| f as i64))
                .ok_or_else(|| Error::new(format!("parameter '{key}' must be an integer, got {v}"))),
            None => default.ok_or_else(|| Error::new(format!("parameter '{key}' is missing"))),
        }
    }
    fn float(&self, key: &str) -> Result<f32> {
        self.param
            .get(key)
            .and_then(|v| v.as_f64())
            .map(|f| f as f32)
            .ok_or_else(|| Error::new(format!("parameter '{key}' is missing or not a number")))
    }
}

/// Imports a PIMCOMP-NN structure file; `file` names it in locations and errors. Each
/// graph node's source is the JSON node's name.
pub fn import(text: &str, file: &str) -> Result<Imported> {
    let de = &mut serde_json::Deserializer::from_str(text);
    let parsed: File = serde_path_to_error::deserialize(de).map_err(|e| {
        Error::new(format!("not a PIMCOMP-NN structure file: {} at '{}'", e.inner(), e.path())).in_file(file)
    })?;
    let mut g = Graph::new("main");
    let mut names = vec![];
    let mut values: HashMap<i64, ValueId> = HashMap::new();
    let mut used: HashMap<i64, usize> = HashMap::new();
    for n in &parsed.node_list {
        for p in &n.provider_index {
            *used.entry(*p).or_default() += 1;
        }
    }
    for n in &parsed.node_list {
        names.push(n.name.clone());
        let src = SrcId(names.len() as u32 - 1);
        node(src, &mut g, &mut values, n)
            .map_err(|e| e.prefixed(&format!("node {} '{}' ({}): ", n.index, n.name, n.operation)).in_file(file))?;
    }
    // Nodes nobody reads are the model's outputs.
    for n in &parsed.node_list {
        if used.get(&n.index).copied().unwrap_or(0) == 0 && n.operation != "OP_INPUT" {
            g.outputs.push(values[&n.index]);
            g.output_names.push(n.name.clone());
        }
    }
    if g.outputs.is_empty() {
        return Err(Error::new("the model has no output").in_file(file));
    }
    crate::graph::cleanup::fuse_activations(&mut g);
    Ok(Imported { graph: g, names, file: file.to_string() })
}

fn node(loc: SrcId, g: &mut Graph, values: &mut HashMap<i64, ValueId>, n: &JsonNode) -> Result<()> {
    let mut inputs = vec![];
    for p in &n.provider_index {
        inputs.push(*values.get(p).ok_or_else(|| Error::new(format!("provider {p} is not defined before this node")))?);
    }
    let arity = |k: usize| -> Result<()> {
        if inputs.len() != k {
            return Err(Error::new(format!("expects {k} provider(s), got {}", inputs.len())));
        }
        Ok(())
    };
    let sentinel = |x: f64| x.abs() >= 1e6;
    let act = |n: &JsonNode| -> Result<Option<Act>> {
        if !matches!(n.with_act, 0 | 1) || !matches!(n.with_clip, 0 | 1) {
            return Err(Error::new(format!(
                "with_act = {} and with_clip = {} must each be 0 or 1",
                n.with_act, n.with_clip
            )));
        }
        let crossed = matches!(n.clip_min.partial_cmp(&n.clip_max), Some(std::cmp::Ordering::Greater) | None);
        if n.with_clip == 1 && !(sentinel(n.clip_min) && sentinel(n.clip_max)) && crossed {
            return Err(Error::new(format!("clip_min = {} is above clip_max = {}", n.clip_min, n.clip_max)));
        }
        Ok(match (n.with_act, n.with_clip) {
            (0, 0) => None,
            (_, 1) if !(sentinel(n.clip_min) && sentinel(n.clip_max)) => {
                Some(Act::Clip { min: n.clip_min as f32, max: n.clip_max as f32 })
            }
            (1, _) if n.act_type == 0 => Some(Act::Relu),
            (1, _) => return Err(Error::new(format!("activation type {} is not supported (0 = relu)", n.act_type))),
            _ => None,
        })
    };
    let pads = |n: &JsonNode| -> Result<[i64; 4]> {
        Ok([n.int("pad_h0", Some(0))?, n.int("pad_w0", Some(0))?, n.int("pad_h1", Some(0))?, n.int("pad_w1", Some(0))?])
    };
    let op = match n.operation.as_str() {
        "OP_INPUT" => {
            if n.output_dim.len() < 2 || n.output_dim[0] != 1 {
                return Err(Error::new(format!("input shape {:?} must be [1, ...]", n.output_dim)));
            }
            let v = g.add_value(n.output_dim.clone());
            g.inputs.push(v);
            g.input_names.push(n.name.clone());
            values.insert(n.index, v);
            return Ok(());
        }
        "OP_CONV" => {
            arity(1)?;
            let group = n.int("group", Some(1))?;
            let conv = Conv2d {
                name: n.name.clone(),
                weight: format!("{}.weight", n.name),
                bias: (n.int("with_bias", Some(0))? != 0).then(|| format!("{}.bias", n.name)),
                kernel: [n.int("kernel_h", None)?, n.int("kernel_w", None)?],
                strides: [n.int("stride_h", Some(1))?, n.int("stride_w", Some(1))?],
                pads: pads(n)?,
                dilations: [n.int("dilation_h", Some(1))?, n.int("dilation_w", Some(1))?],
                group,
                bn: None,
                act: act(n)?,
            };
            let cin = g.shape(inputs[0]).get(1).copied().unwrap_or(0);
            if n.int("input_channel", Some(cin))? != cin {
                return Err(Error::new(format!("input_channel {} but the provider has {cin} channels", n.int("input_channel", None)?)));
            }
            let out = n.int("output_channel", None)?;
            return push(g, values, n, Op::Conv2d(conv), inputs, Some(out), loc);
        }
        "OP_FC" => {
            arity(1)?;
            // A feature map feeding an fc directly is flattened first.
            let mut x = inputs[0];
            if g.shape(x).len() != 2 {
                x = push_value(g, Op::Flatten { axis: 1 }, vec![x], None, loc)?;
            }
            let fc = Fc {
                name: n.name.clone(),
                weight: format!("{}.weight", n.name),
                bias: (n.int("with_bias", Some(0))? != 0).then(|| format!("{}.bias", n.name)),
                transpose_weight: true,
                bn: None,
                act: act(n)?,
            };
            let k = n.int("num_input", Some(g.shape(x)[1]))?;
            if k != g.shape(x)[1] {
                return Err(Error::new(format!("num_input {k} but the provider has {} features", g.shape(x)[1])));
            }
            let out = n.int("num_output", None)?;
            return push(g, values, n, Op::Fc(fc), vec![x], Some(out), loc);
        }
        "OP_POOL" => {
            arity(1)?;
            let method = n.int("pool_method", Some(0))?;
            if n.int("global", Some(0))? != 0 {
                if method != 1 {
                    return Err(Error::new("global max pooling is not supported"));
                }
                Op::GlobalAvgPool
            } else {
                let mut pool = Pool {
                    kernel: [n.int("kernel_h", None)?, n.int("kernel_w", None)?],
                    strides: [n.int("stride_h", Some(1))?, n.int("stride_w", Some(1))?],
                    pads: pads(n)?,
                    count_include_pad: true,
                };
                // Caffe rounds pooling outputs up: pad the end until the shapes agree.
                let s = g.shape(inputs[0]).to_vec();
                if n.output_dim.len() == 4 && s.len() == 4 {
                    for d in 0..2 {
                        let floor = shape::window_out(s[2 + d], pool.kernel[d], pool.strides[d], pool.pads[d], pool.pads[d + 2], 1)
                            .map_err(Error::new)?;
                        let want = n.output_dim[2 + d];
                        if want == floor + 1 {
                            pool.pads[d + 2] += pool.strides[d];
                            if method == 1 {
                                pool.count_include_pad = false;
                            }
                        }
                    }
                }
                match method {
                    0 => Op::MaxPool(pool),
                    1 => Op::AvgPool(pool),
                    m => return Err(Error::new(format!("pool_method {m} is not supported (0 = max, 1 = average)"))),
                }
            }
        }
        "OP_RELU" => {
            arity(1)?;
            Op::Act(Act::Relu)
        }
        "OP_CLIP" => {
            arity(1)?;
            Op::Act(Act::Clip { min: n.float("min")?, max: n.float("max")? })
        }
        "OP_TANH" => {
            arity(1)?;
            Op::Act(Act::Tanh)
        }
        "OP_SIGMOID" => {
            arity(1)?;
            Op::Act(Act::Sigmoid)
        }
        "OP_ELTWISE" => {
            arity(2)?;
            match n.int("eletype", None)? {
                2 => Op::Add,
                t => return Err(Error::new(format!("element-wise type {t} is not supported (2 = sum)"))),
            }
        }
        "OP_CONCAT" if inputs.len() == 1 => {
            values.insert(n.index, inputs[0]);
            return Ok(());
        }
        "OP_CONCAT" => Op::Concat { axis: 1 },
        "OP_FLATTEN" | "OP_RESHAPE" => {
            arity(1)?;
            if g.shape(inputs[0]).len() == 2 {
                values.insert(n.index, inputs[0]);
                return Ok(());
            }
            Op::Flatten { axis: 1 }
        }
        "OP_DROPOUT" => {
            arity(1)?;
            values.insert(n.index, inputs[0]);
            return Ok(());
        }
        "OP_SOFTMAX" => {
            arity(1)?;
            Op::Softmax { axis: 1 }
        }
        "OP_LRN" => {
            arity(1)?;
            Op::Lrn(Lrn { size: 5, alpha: 1e-4, beta: 0.75, bias: 1.0 })
        }
        "OP_SHUFFLE" => {
            arity(1)?;
            Op::ChannelShuffle { groups: n.int("split_factor", None)? }
        }
        other => {
            return Err(Error::new(format!(
                "unsupported operation '{other}'; supported: OP_INPUT, OP_CONV, OP_FC, OP_POOL, OP_RELU, OP_CLIP, OP_TANH, OP_SIGMOID, OP_ELTWISE, OP_CONCAT, OP_FLATTEN, OP_RESHAPE, OP_DROPOUT, OP_SOFTMAX, OP_LRN, OP_SHUFFLE"
            )))
        }
    };
    push(g, values, n, op, inputs, None, loc)
}

/// Adds a node, checking the inferred shape against the file's `output_dim`.
fn push(
    g: &mut Graph,
    values: &mut HashMap<i64, ValueId>,
    n: &JsonNode,
    op: Op,
    inputs: Vec<ValueId>,
    out_channels: Option<i64>,
    loc: SrcId,
) -> Result<()> {
    let v = push_value(g, op, inputs, out_channels, loc)?;
    if !n.output_dim.is_empty() && n.output_dim != g.shape(v) {
        return Err(Error::new(format!(
            "output_dim {:?} does not match the computed shape {:?}",
            n.output_dim,
            g.shape(v)
        )));
    }
    values.insert(n.index, v);
    Ok(())
}

fn push_value(g: &mut Graph, op: Op, inputs: Vec<ValueId>, out_channels: Option<i64>, src: SrcId) -> Result<ValueId> {
    let shapes: Vec<&[i64]> = inputs.iter().map(|&v| g.shape(v)).collect();
    let s = shape::infer(&op, &shapes, out_channels).map_err(Error::new)?;
    let v = g.add_value(s);
    g.nodes.push(Node { op, inputs, output: v, src });
    Ok(v)
}
