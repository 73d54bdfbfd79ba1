//! Reading and writing the dataflow-graph levels (`graph`, `pim_partition`, `pim_core`).
//!
//! A module at these levels holds one `func.func` whose body is the graph. Reading turns it
//! into a [`Graph`]; writing replaces the function with the graph's ops, choosing each op's
//! dialect by the [`Level`] asked for.

use super::{attrs, emit_error, AttrBuilder};
use crate::graph::*;
use melior::dialect::func;
use melior::ir::attribute::{ArrayAttribute, DictionaryAttribute, StringAttribute, TypeAttribute};
use melior::ir::block::BlockLike;
use melior::ir::operation::{OperationBuilder, OperationLike};
use melior::ir::r#type::{FunctionType, RankedTensorType};
use melior::ir::{
    Attribute, AttributeLike, Block, Identifier, Location, Module, Region, RegionLike, ShapedTypeLike, Type, TypeLike,
    Value, ValueLike,
};
use melior::Context;
use std::collections::HashMap;

/// Errors were reported as MLIR diagnostics (collected by the context's handler).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failed;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Everything in `graph`.
    Graph,
    /// Crossbar layers in `pim_partition`, other ops in `graph`.
    Partition,
    /// Everything in `pim_core`.
    Core,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Graph => "graph",
            Level::Partition => "pim_partition",
            Level::Core => "pim_core",
        }
    }
}

fn value_key(v: Value) -> usize {
    v.to_raw().ptr as usize
}

fn tensor_shape(t: Type) -> Result<Vec<i64>, String> {
    let rt = RankedTensorType::try_from(t).map_err(|_| format!("expected a ranked tensor, got {t}"))?;
    if !rt.element().is_f32() {
        return Err(format!("expected an f32 tensor, got {t}"));
    }
    (0..rt.rank())
        .map(|i| match rt.dim_size(i) {
            Ok(melior::ir::r#type::DimSize::Static(d)) => Ok(d as i64),
            _ => Err(format!("tensor {t} has a dynamic dimension; pimlir needs static shapes")),
        })
        .collect()
}

fn tensor_type<'c>(ctx: &'c Context, shape: &[i64]) -> Type<'c> {
    let dims: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    RankedTensorType::new(&dims, Type::float32(ctx), None).into()
}

/// Finds the graph function: the module must hold exactly one `func.func` and nothing else.
fn graph_function<'c, 'a>(module: &'a Module<'c>) -> Result<melior::ir::operation::OperationRef<'c, 'a>, Failed> {
    let body = module.body();
    let mut found = None;
    let mut cur = body.first_operation();
    while let Some(op) = cur {
        let name = op.name();
        let name = name.as_string_ref().as_str().unwrap_or("");
        if name == "func.func" && found.is_none() && op.attribute("pim.core").is_err() {
            found = Some(op);
        } else if name == "func.func" && op.attribute("pim.core").is_err() {
            emit_error(op.location(), "a second function: a dataflow-graph module holds exactly one func.func");
            return Err(Failed);
        } else if name.starts_with("pim_isa.") || name == "func.func" {
            emit_error(
                op.location(),
                "expected a dataflow graph (one func.func of graph/pim_partition/pim_core ops); this module is at the pim_isa level",
            );
            return Err(Failed);
        } else {
            emit_error(op.location(), &format!("unexpected top-level op '{name}' in a dataflow-graph module"));
            return Err(Failed);
        }
        cur = op.next_in_block();
    }
    found.ok_or_else(|| {
        emit_error(module.as_operation().location(), "module has no func.func to compile");
        Failed
    })
}

fn arg_names(f: &melior::ir::operation::OperationRef, attr: &str, n: usize, default: &str) -> Vec<String> {
    let mut names: Vec<String> =
        (0..n).map(|i| if n == 1 { default.to_string() } else { format!("{default}{i}") }).collect();
    if let Ok(a) = f.attribute(attr) {
        if let Ok(arr) = ArrayAttribute::try_from(a) {
            for (i, name) in names.iter_mut().enumerate() {
                let dict = arr.element(i).ok().and_then(|d| DictionaryAttribute::try_from(d).ok());
                if let Some(s) = dict.and_then(|d| d.element_by_name("pim.name")).filter(|s| s.is_string()) {
                    // SAFETY: checked to be a string attribute.
                    *name = super::string_of(unsafe { mlir_sys::mlirStringAttrGetValue(s.to_raw()) });
                }
            }
        }
    }
    names
}

/// Reads the dataflow graph of `module` and the level it is at.
pub fn read_graph<'c>(module: &Module<'c>) -> Result<(Graph<'c>, Level), Failed> {
    let f = graph_function(module)?;
    let fname = attrs(&f, "func.func").str("sym_name").unwrap_or_else(|_| "main".into());
    let mut g = Graph::new(&fname);
    g.loc = Some(f.location());
    let region = f.region(0).map_err(|_| Failed)?;
    let Some(block) = region.first_block() else {
        emit_error(f.location(), "the graph function has no body");
        return Err(Failed);
    };
    let mut ids: HashMap<usize, ValueId> = HashMap::new();
    for i in 0..block.argument_count() {
        let arg = block.argument(i).map_err(|_| Failed)?;
        let shape = tensor_shape(arg.r#type()).map_err(|m| {
            emit_error(f.location(), &format!("graph input {i}: {m}"));
            Failed
        })?;
        let v = g.add_value(shape);
        g.inputs.push(v);
        ids.insert(value_key(arg.into()), v);
    }
    g.input_names = arg_names(&f, "arg_attrs", g.inputs.len(), "input");
    let mut levels = vec![];
    let mut failed = false;
    let mut cur = block.first_operation();
    while let Some(op) = cur {
        cur = op.next_in_block();
        let name = op.name();
        let name = name.as_string_ref().as_str().unwrap_or("").to_string();
        if name == "func.return" {
            for i in 0..op.operand_count() {
                let v = op.operand(i).map_err(|_| Failed)?;
                match ids.get(&value_key(v)) {
                    Some(&id) => g.outputs.push(id),
                    None => {
                        emit_error(op.location(), "returned value is not a graph value");
                        return Err(Failed);
                    }
                }
            }
            continue;
        }
        match read_node(&op, &name, &ids) {
            Ok((node, level, shape)) => {
                levels.push((level, op.location(), name.clone()));
                let out = g.add_value(shape);
                let result = op.result(0).map_err(|_| Failed)?;
                ids.insert(value_key(result.into()), out);
                g.nodes.push(Node { output: out, ..node });
            }
            Err(msg) => {
                emit_error(op.location(), &msg);
                failed = true;
                // Keep later uses of the result from reporting errors of their own.
                if let Ok(result) = op.result(0) {
                    let v = g.add_value(vec![]);
                    ids.insert(value_key(result.into()), v);
                }
            }
        }
    }
    if failed {
        return Err(Failed);
    }
    let n_out = g.outputs.len();
    g.output_names = arg_names(&f, "res_attrs", n_out, "output");
    // All ops must agree on one level.
    let level = level_of(&levels)?;
    merge_concat_chains(&mut g);
    Ok((g, level))
}

/// Reads a chain of binary concats (how an n-ary concat is written) back as one op.
fn merge_concat_chains(g: &mut Graph) {
    let consumers = g.consumers();
    let producers = g.producers();
    let mut removed = vec![false; g.nodes.len()];
    for i in 0..g.nodes.len() {
        let Op::Concat { axis } = g.nodes[i].op else { continue };
        let first = g.nodes[i].inputs[0];
        let Some(p) = producers[first] else { continue };
        let same_axis = matches!(g.nodes[p].op, Op::Concat { axis: a } if a == axis);
        if !same_axis
            || consumers[first].len() != 1
            || g.outputs.contains(&first)
            || g.nodes[p].placement != g.nodes[i].placement
        {
            continue;
        }
        let mut inputs = g.nodes[p].inputs.clone();
        inputs.extend_from_slice(&g.nodes[i].inputs[1..]);
        g.nodes[i].inputs = inputs;
        g.nodes[i].loc = g.nodes[p].loc;
        removed[p] = true;
    }
    let mut k = 0;
    g.nodes.retain(|_| {
        k += 1;
        !removed[k - 1]
    });
}

fn level_of(levels: &[(Option<Level>, Location, String)]) -> Result<Level, Failed> {
    let mut level = None;
    for (l, loc, name) in levels {
        let Some(l) = l else { continue };
        match level {
            None => level = Some((*l, name.clone())),
            Some((prev, ref prev_name)) if prev != *l => {
                emit_error(
                    *loc,
                    &format!("'{name}' is at the {} level but '{prev_name}' is at the {} level; a module must be at one level", l.name(), prev.name()),
                );
                return Err(Failed);
            }
            _ => {}
        }
    }
    Ok(level.map(|l| l.0).unwrap_or(Level::Graph))
}

/// Parses one op. Returns the node (output filled by the caller), the level its dialect
/// implies (None for `graph` vector ops, which are valid at graph and partition level), and
/// its result shape.
fn read_node<'c>(
    op: &melior::ir::operation::OperationRef<'c, '_>,
    name: &str,
    ids: &HashMap<usize, ValueId>,
) -> Result<(Node<'c>, Option<Level>, Vec<i64>), String> {
    let (dialect, mnemonic) = name.split_once('.').ok_or_else(|| format!("unexpected op '{name}'"))?;
    if !matches!(dialect, "graph" | "pim_partition" | "pim_core") {
        return Err(format!("unexpected op '{name}' in a dataflow graph"));
    }
    let a = attrs(op, name);
    let mut inputs = vec![];
    for i in 0..op.operand_count() {
        let v = op.operand(i).map_err(|e| e.to_string())?;
        inputs.push(*ids.get(&value_key(v)).ok_or("operand is not a graph value")?);
    }
    if op.result_count() != 1 {
        return Err(format!("'{name}' must have exactly one result"));
    }
    let shape = tensor_shape(op.result(0).map_err(|e| e.to_string())?.r#type())
        .map_err(|m| format!("result of '{name}': {m}"))?;
    // A fused activation: `act` names it, `act_<param>` give its parameters.
    let act = |a: &super::Attrs<'c, '_>| -> Result<Option<Act>, String> {
        match a.opt_str("act")? {
            None => Ok(None),
            Some(s) => Act::from_parts(&s, |p| a.f32(&format!("act_{p}"))).map(Some),
        }
    };
    let bn = |a: &super::Attrs<'c, '_>, prefix: &str| -> Result<BatchNorm, String> {
        Ok(BatchNorm {
            gamma: a.str(&format!("{prefix}gamma"))?,
            beta: a.str(&format!("{prefix}beta"))?,
            mean: a.str(&format!("{prefix}mean"))?,
            var: a.str(&format!("{prefix}var"))?,
            epsilon: a.f32(&format!("{prefix}epsilon"))?,
        })
    };
    let folded_bn = |a: &super::Attrs<'c, '_>| -> Result<Option<BatchNorm>, String> {
        let keys = ["bn_gamma", "bn_beta", "bn_mean", "bn_var", "bn_epsilon"];
        match keys.iter().filter(|k| a.has(k)).count() {
            0 => Ok(None),
            5 => bn(a, "bn_").map(Some),
            _ => Err(format!("a folded batch normalization needs all of {} or none", keys.join(", "))),
        }
    };
    let pool = |a: &super::Attrs<'c, '_>, avg: bool| -> Result<Pool, String> {
        Ok(Pool {
            kernel: a.i64_array_n("kernel")?,
            strides: a.i64_array_n("strides")?,
            pads: a.i64_array_n("pads")?,
            count_include_pad: if avg { a.bool("count_include_pad")? } else { false },
        })
    };
    let kind = match mnemonic {
        "conv2d" => Op::Conv2d(Conv2d {
            name: a.str("name")?,
            weight: a.str("weight")?,
            bias: a.opt_str("bias")?,
            kernel: a.i64_array_n("kernel")?,
            strides: a.i64_array_n("strides")?,
            pads: a.i64_array_n("pads")?,
            dilations: a.i64_array_n("dilations")?,
            group: a.i64("group")?,
            bn: folded_bn(&a)?,
            act: act(&a)?,
        }),
        "fc" => Op::Fc(Fc {
            name: a.str("name")?,
            weight: a.str("weight")?,
            bias: a.opt_str("bias")?,
            transpose_weight: a.bool("transpose_weight")?,
            bn: folded_bn(&a)?,
            act: act(&a)?,
        }),
        "relu" | "leaky_relu" | "clip" | "sigmoid" | "tanh" | "hard_sigmoid" | "hard_swish" => {
            Op::Act(Act::from_parts(mnemonic, |p| a.f32(p))?)
        }
        "maxpool" => Op::MaxPool(pool(&a, false)?),
        "avgpool" => Op::AvgPool(pool(&a, true)?),
        "global_avgpool" => Op::GlobalAvgPool,
        "add" => Op::Add,
        "mul" => Op::Mul,
        "constant" => Op::Constant { weight: a.str("weight")?, shape: shape.clone() },
        "batchnorm" => Op::BatchNorm(bn(&a, "")?),
        "concat" => Op::Concat { axis: a.i64("axis")? },
        "flatten" => Op::Flatten { axis: a.i64("axis")? },
        "softmax" => Op::Softmax { axis: a.i64("axis")? },
        "channel_shuffle" => Op::ChannelShuffle { groups: a.i64("groups")? },
        "pad" => Op::Pad { pads: a.i64_array_n("pads")?, value: a.f32("value")? },
        "lrn" => {
            Op::Lrn(Lrn { size: a.i64("size")?, alpha: a.f32("alpha")?, beta: a.f32("beta")?, bias: a.f32("bias")? })
        }
        other => return Err(format!("unknown op '{dialect}.{other}'")),
    };
    let crossbar = kind.is_crossbar_layer();
    let (level, partition, placement) = match dialect {
        "graph" => {
            if crossbar {
                (Some(Level::Graph), None, None)
            } else {
                (None, None, None)
            }
        }
        "pim_partition" => {
            if !crossbar {
                return Err(format!("'{name}' does not exist; only crossbar layers are in pim_partition"));
            }
            (Some(Level::Partition), Some(read_partition(&a)?), None)
        }
        _ => {
            if crossbar {
                let p = read_partition(&a)?;
                (Some(Level::Core), Some(p), Some(Placement::ArrayGroups(a.i64_array("ag_cores")?)))
            } else {
                (Some(Level::Core), None, Some(Placement::Cores(a.i64_array("cores")?)))
            }
        }
    };
    let node = Node { op: kind, inputs, output: usize::MAX, loc: op.location(), partition, placement };
    Ok((node, level, shape))
}

fn read_partition(a: &super::Attrs) -> Result<Partition, String> {
    Ok(Partition {
        rows: a.i64("rows")?,
        cols: a.i64("cols")?,
        ag_rows: a.i64("ag_rows")?,
        ag_count: a.i64("ag_count")?,
        xbars_per_ag: a.i64("xbars_per_ag")?,
        replicas: a.i64("replicas")?,
    })
}

fn name_attrs<'c>(ctx: &'c Context, names: &[String]) -> Attribute<'c> {
    let dicts: Vec<Attribute> = names
        .iter()
        .map(|n| {
            DictionaryAttribute::new(ctx, &[(Identifier::new(ctx, "pim.name"), StringAttribute::new(ctx, n).into())])
                .into()
        })
        .collect();
    ArrayAttribute::new(ctx, &dicts).into()
}

/// Replaces the module's body with the graph, its ops in the dialects of `level`.
pub fn write_graph<'c>(ctx: &'c Context, module: &Module<'c>, g: &Graph<'c>, level: Level) {
    super::clear_module_body(module);
    let loc = g.loc.unwrap_or_else(|| Location::unknown(ctx));
    let in_types: Vec<Type> = g.inputs.iter().map(|&v| tensor_type(ctx, g.shape(v))).collect();
    let out_types: Vec<Type> = g.outputs.iter().map(|&v| tensor_type(ctx, g.shape(v))).collect();
    let region = Region::new();
    let block = region.append_block(Block::new(&in_types.iter().map(|&t| (t, loc)).collect::<Vec<_>>()));
    let mut values: Vec<Option<Value>> = vec![None; g.values.len()];
    for (i, &v) in g.inputs.iter().enumerate() {
        values[v] = Some(block.argument(i).expect("argument exists").into());
    }
    for n in &g.nodes {
        // An n-ary concat is written as a chain of binary ones (see graph.irdl.mlir).
        let mut inputs = n.inputs.clone();
        if let Op::Concat { axis } = n.op {
            // The running prefix is an MLIR value beyond the graph's values.
            let mut prefix_shape: Option<Vec<i64>> = None;
            while inputs.len() > 2 {
                let (a, b) = (inputs[0], inputs[1]);
                let sa = prefix_shape.clone().unwrap_or_else(|| g.shape(a).to_vec());
                let shape = crate::graph::shape::infer(&n.op, &[&sa, g.shape(b)], None)
                    .expect("the n-ary concat verified, so its prefixes do");
                prefix_shape = Some(shape.clone());
                let dialect = if level == Level::Core { "pim_core" } else { "graph" };
                let mut attrs = AttrBuilder::new(ctx).i64("axis", axis);
                if level == Level::Core {
                    if let Some(Placement::Cores(c)) = &n.placement {
                        attrs = attrs.i64_array("cores", c);
                    }
                }
                let op = OperationBuilder::new(&format!("{dialect}.concat"), n.loc)
                    .add_operands(&[values[a].expect("defined"), values[b].expect("defined")])
                    .add_results(&[tensor_type(ctx, &shape)])
                    .add_attributes(&attrs.list)
                    .build()
                    .expect("no result type inference");
                let op = block.append_operation(op);
                let partial = values.len();
                values.push(Some(op.result(0).expect("one result").into()));
                inputs.splice(0..2, [partial]);
            }
        }
        let dialect = match (level, n.op.is_crossbar_layer()) {
            (Level::Graph, _) | (Level::Partition, false) => "graph",
            (Level::Partition, true) => "pim_partition",
            (Level::Core, _) => "pim_core",
        };
        let operands: Vec<Value> = inputs.iter().map(|&v| values[v].expect("graph is in topological order")).collect();
        let op = OperationBuilder::new(&format!("{dialect}.{}", n.op.mnemonic()), n.loc)
            .add_operands(&operands)
            .add_results(&[tensor_type(ctx, g.shape(n.output))])
            .add_attributes(&node_attrs(ctx, n, level).list)
            .build()
            .expect("no result type inference");
        let op = block.append_operation(op);
        values[n.output] = Some(op.result(0).expect("one result").into());
    }
    let outs: Vec<Value> = g.outputs.iter().map(|&v| values[v].expect("output defined")).collect();
    block.append_operation(func::r#return(&outs, loc));
    let fty = FunctionType::new(ctx, &in_types, &out_types);
    let f = func::func(
        ctx,
        StringAttribute::new(ctx, &g.func_name),
        TypeAttribute::new(fty.into()),
        region,
        &[
            (Identifier::new(ctx, "arg_attrs"), name_attrs(ctx, &g.input_names)),
            (Identifier::new(ctx, "res_attrs"), name_attrs(ctx, &g.output_names)),
        ],
        loc,
    );
    module.body().append_operation(f);
}

fn act_attrs<'c>(mut b: AttrBuilder<'c>, act: Option<Act>) -> AttrBuilder<'c> {
    if let Some(a) = act {
        b = b.str("act", a.name());
        for (p, v) in a.params() {
            b = b.f32(&format!("act_{p}"), v);
        }
    }
    b
}

fn bn_attrs<'c>(b: AttrBuilder<'c>, bn: &BatchNorm, prefix: &str) -> AttrBuilder<'c> {
    b.str(&format!("{prefix}gamma"), &bn.gamma)
        .str(&format!("{prefix}beta"), &bn.beta)
        .str(&format!("{prefix}mean"), &bn.mean)
        .str(&format!("{prefix}var"), &bn.var)
        .f32(&format!("{prefix}epsilon"), bn.epsilon)
}

fn node_attrs<'c>(ctx: &'c Context, n: &Node<'c>, level: Level) -> AttrBuilder<'c> {
    let mut b = AttrBuilder::new(ctx);
    match &n.op {
        Op::Conv2d(c) => {
            b = b
                .str("name", &c.name)
                .str("weight", &c.weight)
                .opt_str("bias", c.bias.as_deref())
                .i64_array("kernel", &c.kernel)
                .i64_array("strides", &c.strides)
                .i64_array("pads", &c.pads)
                .i64_array("dilations", &c.dilations)
                .i64("group", c.group);
            if let Some(bn) = &c.bn {
                b = bn_attrs(b, bn, "bn_");
            }
            b = act_attrs(b, c.act);
        }
        Op::Fc(f) => {
            b = b
                .str("name", &f.name)
                .str("weight", &f.weight)
                .opt_str("bias", f.bias.as_deref())
                .bool("transpose_weight", f.transpose_weight);
            if let Some(bn) = &f.bn {
                b = bn_attrs(b, bn, "bn_");
            }
            b = act_attrs(b, f.act);
        }
        Op::Act(a) => {
            for (p, v) in a.params() {
                b = b.f32(p, v);
            }
        }
        Op::MaxPool(p) => {
            b = b.i64_array("kernel", &p.kernel).i64_array("strides", &p.strides).i64_array("pads", &p.pads);
        }
        Op::AvgPool(p) => {
            b = b
                .i64_array("kernel", &p.kernel)
                .i64_array("strides", &p.strides)
                .i64_array("pads", &p.pads)
                .bool("count_include_pad", p.count_include_pad);
        }
        Op::Concat { axis } | Op::Flatten { axis } | Op::Softmax { axis } => b = b.i64("axis", *axis),
        Op::Constant { weight, .. } => b = b.str("weight", weight),
        Op::BatchNorm(bn) => b = bn_attrs(b, bn, ""),
        Op::ChannelShuffle { groups } => b = b.i64("groups", *groups),
        Op::Pad { pads, value } => b = b.i64_array("pads", pads).f32("value", *value),
        Op::Lrn(l) => b = b.i64("size", l.size).f32("alpha", l.alpha).f32("beta", l.beta).f32("bias", l.bias),
        Op::GlobalAvgPool | Op::Add | Op::Mul => {}
    }
    if level >= Level::Partition {
        if let Some(p) = &n.partition {
            b = b
                .i64("rows", p.rows)
                .i64("cols", p.cols)
                .i64("ag_rows", p.ag_rows)
                .i64("ag_count", p.ag_count)
                .i64("xbars_per_ag", p.xbars_per_ag)
                .i64("replicas", p.replicas);
        }
    }
    if level == Level::Core {
        match &n.placement {
            Some(Placement::ArrayGroups(c)) => b = b.i64_array("ag_cores", c),
            Some(Placement::Cores(c)) => b = b.i64_array("cores", c),
            None => {}
        }
    }
    b
}
