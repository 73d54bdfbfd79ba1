//! Reading and writing the dataflow-graph levels (`graph`, `pim_partition`, `pim_core`).
//!
//! A module at these levels holds one `func.func` whose body is the graph. Reading turns it
//! into a [`Graph`] and a [`Mapping`] (what the partition and placement attributes say), plus a
//! [`Side`] table with what the plain-Rust models do not hold: every op's MLIR location and
//! the attributes pimlir does not model (a user's `my.note = "..."` on an op, say). Writing
//! replaces the function with the graph's ops, choosing each op's dialect by the [`Level`]
//! asked for, and puts locations and unmodelled attributes back. What is dropped on the way:
//! argument and result attributes other than `pim.name`, and the locations and unmodelled
//! attributes of the inner ops of a chain of binary concats (the chain is one n-ary concat in
//! the graph; it keeps the first op's). `docs/design.md` says the same.

use super::{attrs, emit_error, AttrBuilder, Attrs};
use crate::arch::{Arch, CoreId};
use crate::graph::*;
use crate::ids::IdVec;
use crate::mapping::{self, LayerMap, Mapping};
use crate::unfold::Format;
use melior::dialect::func;
use melior::ir::attribute::{ArrayAttribute, DictionaryAttribute, StringAttribute, TypeAttribute};
use melior::ir::block::BlockLike;
use melior::ir::operation::{OperationBuilder, OperationLike, OperationRef};
use melior::ir::r#type::{FunctionType, RankedTensorType};
use melior::ir::{
    Attribute, AttributeLike, Block, Identifier, Location, Module, Region, RegionLike, ShapedTypeLike, Type, TypeLike,
    Value, ValueLike,
};
use melior::Context;
use std::collections::{BTreeMap, HashMap, HashSet};

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

/// What an op carries that the models do not: its location and unmodelled attributes.
#[derive(Clone)]
pub struct Origin<'c> {
    pub loc: Location<'c>,
    pub extra: Vec<(String, Attribute<'c>)>,
}

/// The side table of a graph read from (or going to) MLIR; nodes index it by [`SrcId`].
#[derive(Clone)]
pub struct Side<'c> {
    pub func_loc: Location<'c>,
    pub origins: Vec<Origin<'c>>,
    /// Discardable attributes of the graph function (not `sym_name`, `function_type`, ...).
    pub func_extra: Vec<(String, Attribute<'c>)>,
}

impl<'c> Side<'c> {
    /// A table for a graph built outside MLIR: node `k` (by `SrcId(k)`) is named `names[k]`
    /// in file `file` (MLIR's `loc("name"("file":0:0))`).
    pub fn from_names(ctx: &'c Context, file: &str, names: &[String]) -> Side<'c> {
        let file_loc = Location::new(ctx, file, 0, 0);
        Side {
            func_loc: file_loc,
            origins: names.iter().map(|n| Origin { loc: Location::name(ctx, n, file_loc), extra: vec![] }).collect(),
            func_extra: vec![],
        }
    }

    /// The location of a node's source (unknown for [`SrcId::NONE`]).
    /// The string value of attribute `name` that the op of `src` carries beyond those pimlir
    /// models (a user's annotation, like a layer's forced `format`): None when absent, an
    /// error when it is not a string.
    pub fn extra_str(&self, src: SrcId, name: &str) -> Option<Result<String, String>> {
        let (_, a) = self.extra(src).iter().find(|(k, _)| k == name)?;
        if !a.is_string() {
            return Some(Err(format!("attribute '{name}' must be a string")));
        }
        // SAFETY: checked to be a string attribute.
        Some(Ok(super::string_of(unsafe { mlir_sys::mlirStringAttrGetValue(a.to_raw()) })))
    }

    pub fn loc(&self, src: SrcId) -> Location<'c> {
        self.origins.get(src.0 as usize).map(|o| o.loc).unwrap_or(self.func_loc)
    }

    fn extra(&self, src: SrcId) -> &[(String, Attribute<'c>)] {
        self.origins.get(src.0 as usize).map(|o| o.extra.as_slice()).unwrap_or(&[])
    }
}

/// A graph-level module, read.
pub struct GraphModule<'c> {
    pub graph: Graph,
    pub mapping: Mapping,
    pub level: Level,
    pub side: Side<'c>,
}

fn value_key(v: Value) -> usize {
    v.to_raw().ptr as usize
}

fn tensor_shape(t: Type) -> Result<Vec<i64>, String> {
    let rt = RankedTensorType::try_from(t).map_err(|_| format!("expected a ranked tensor, got {t}"))?;
    if !rt.element().is_f32() {
        return Err(format!("expected an f32 tensor, got {t}"));
    }
    let dims = (0..rt.rank())
        .map(|i| match rt.dim_size(i) {
            Ok(melior::ir::r#type::DimSize::Static(d)) => Ok(d as i64),
            _ => Err(format!("tensor {t} has a dynamic dimension; pimlir needs static shapes")),
        })
        .collect::<Result<Vec<i64>, String>>()?;
    crate::graph::shape::elements(&dims)?;
    Ok(dims)
}

fn tensor_type<'c>(ctx: &'c Context, shape: &[i64]) -> Type<'c> {
    let dims: Vec<u64> = shape.iter().map(|&d| d.max(0) as u64).collect();
    RankedTensorType::new(&dims, Type::float32(ctx), None).into()
}

/// Finds the graph function: the module must hold exactly one `func.func` and nothing else.
fn graph_function<'c, 'a>(module: &'a Module<'c>) -> Result<OperationRef<'c, 'a>, Failed> {
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

fn arg_names(f: &OperationRef, attr: &str, n: usize, default: &str) -> Vec<String> {
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

/// Every attribute of an op, by name.
fn all_attributes<'c>(op: &OperationRef<'c, '_>) -> Vec<(String, Attribute<'c>)> {
    (0..op.attribute_count())
        .filter_map(|i| op.attribute_at(i).ok())
        .map(|(id, a)| (super::string_of(id.as_string_ref().to_raw()), a))
        .collect()
}

/// The attributes of a function that `func.func` itself defines (not discardable).
const FUNC_ATTRS: &[&str] = &["sym_name", "function_type", "arg_attrs", "res_attrs", "sym_visibility"];

/// What a crossbar layer's partition and placement attributes say, before the graph is
/// complete enough to check them.
struct RawLayer<'c> {
    node: NodeId,
    loc: Location<'c>,
    rows: i64,
    cols: i64,
    ag_rows: i64,
    ag_count: i64,
    xbars_per_ag: i64,
    replicas: i64,
    format: Format,
    pack: i64,
    ag_cols: i64,
    format_fixed: bool,
    ag_cores: Option<Vec<i64>>,
    windows: Option<Vec<i64>>,
}

/// Reads the dataflow graph of `module`, its mapping and the level it is at. Partition
/// attributes that contradict the layer (a wrong matrix size or array-group count for the
/// crossbars of `arch`) are reported here, at the op.
pub fn read_graph<'c>(module: &Module<'c>, arch: &Arch) -> Result<GraphModule<'c>, Failed> {
    let f = graph_function(module)?;
    let fname = attrs(&f, "func.func").str("sym_name").unwrap_or_else(|_| "main".into());
    let mut g = Graph::new(&fname);
    let mut side = Side {
        func_loc: f.location(),
        origins: vec![],
        func_extra: all_attributes(&f).into_iter().filter(|(k, _)| !FUNC_ATTRS.contains(&k.as_str())).collect(),
    };
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
    let mut raw_layers = vec![];
    let mut vector_cores = BTreeMap::new();
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
            Ok(read) => {
                levels.push((read.level, op.location(), name.clone()));
                let out = g.add_value(read.shape);
                let result = op.result(0).map_err(|_| Failed)?;
                ids.insert(value_key(result.into()), out);
                let src = SrcId(side.origins.len() as u32);
                let id = g.nodes.push(Node { op: read.op, inputs: read.inputs, output: out, src });
                let modelled = modelled_names(module.context(), &g.nodes[id], read.level);
                let extra = all_attributes(&op).into_iter().filter(|(k, _)| !modelled.contains(k)).collect();
                side.origins.push(Origin { loc: op.location(), extra });
                if let Some(mut raw) = read.layer {
                    raw.node = id;
                    raw_layers.push(raw);
                }
                if let Some(cores) = read.cores {
                    vector_cores.insert(id, cores);
                }
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
    let mut mapping = Mapping::default();
    for raw in raw_layers {
        match layer_map(&g, &raw, arch, level) {
            Ok(l) => {
                mapping.layers.insert(raw.node, l);
            }
            Err(msg) => {
                emit_error(raw.loc, &msg);
                failed = true;
            }
        }
    }
    for (id, cores) in vector_cores {
        let cores = cores.into_iter().map(|c| core_id(c).map_err(|m| (id, m))).collect::<Result<Vec<_>, _>>();
        match cores {
            Ok(c) => {
                mapping.vector_cores.insert(id, c);
            }
            Err((id, m)) => {
                emit_error(side.loc(g.nodes[id].src), &m);
                failed = true;
            }
        }
    }
    if failed {
        return Err(Failed);
    }
    merge_concat_chains(&mut g, &mut mapping);
    Ok(GraphModule { graph: g, mapping, level, side })
}

fn core_id(c: i64) -> Result<CoreId, String> {
    u32::try_from(c).map(CoreId).map_err(|_| format!("core {c} does not exist"))
}

/// A layer's mapping from its attributes, checked against the layer and the crossbars.
fn layer_map(g: &Graph, raw: &RawLayer<'_>, arch: &Arch, level: Level) -> Result<LayerMap, String> {
    let node = &g.nodes[raw.node];
    let name = node.op.layer_name().unwrap_or("?");
    let small = |what: &str, v: i64| -> Result<u32, String> {
        u32::try_from(v).map_err(|_| format!("layer '{name}': {what} = {v} is out of range"))
    };
    let pack = small("pack", raw.pack)?;
    let hwc = mapping::flattened_map(g, node.inputs[0]);
    let unfolding =
        mapping::unfolding_of(g, node, raw.format, pack, hwc).map_err(|m| format!("layer '{name}': {m}"))?;
    let (rows, cols) = unfolding.max_shape();
    let (rows, cols) = (i64::from(rows), i64::from(cols));
    if raw.rows != rows || raw.cols != cols {
        return Err(format!("layer '{name}': matrix is {rows}x{cols}, not {}x{}", raw.rows, raw.cols));
    }
    let mut l = LayerMap::new(unfolding, small("ag_rows", raw.ag_rows)?, arch);
    l.ag_cols = small("ag_cols", raw.ag_cols)?;
    l.format_fixed = raw.format_fixed;
    if l.ag_rows == 0 || l.ag_rows > arch.xbar_rows() {
        // Reported with the other mapping checks (needs no more than this).
        l.replicas = small("replicas", raw.replicas)?;
        return Ok(l);
    }
    let want = l.ag_count();
    if raw.ag_count != want as i64 {
        return Err(format!(
            "layer '{name}': {rows} rows in groups of {} make {want} array groups, not {}",
            raw.ag_rows, raw.ag_count
        ));
    }
    let need = i64::from(l.xbars_per_ag());
    if raw.xbars_per_ag != need {
        let per_group = if l.ag_cols == 0 { cols } else { i64::from(l.ag_cols).min(cols) };
        return Err(format!(
            "layer '{name}': {per_group} columns per group need {need} {} of {} columns, not {}",
            arch.crossbar_noun(),
            arch.xbar_cols(),
            raw.xbars_per_ag
        ));
    }
    if raw.replicas < 1 {
        return Err(format!("layer '{name}': replicas = {} must be at least 1", raw.replicas));
    }
    l.replicas = small("replicas", raw.replicas)?;
    if level == Level::Core {
        let cores = raw.ag_cores.clone().unwrap_or_default();
        let cores = cores
            .into_iter()
            .map(core_id)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|m| format!("layer '{name}': {m}"))?;
        l.ag_cores = Some(cores);
        let total = mapping::windows(g, node);
        l.windows = Some(match &raw.windows {
            Some(w) => w.iter().map(|&x| u64::try_from(x).unwrap_or(u64::MAX)).collect(),
            None => mapping::even_windows(total, l.replicas),
        });
    }
    Ok(l)
}

/// Reads a chain of binary concats (how an n-ary concat is written) back as one op.
fn merge_concat_chains(g: &mut Graph, m: &mut Mapping) {
    let consumers = g.consumers();
    let producers = g.producers();
    let mut removed = IdVec::<NodeId, bool>::filled(false, g.nodes.len());
    for i in g.nodes.ids() {
        let Op::Concat { axis } = g.nodes[i].op else { continue };
        let first = g.nodes[i].inputs[0];
        let Some(p) = producers[first] else { continue };
        let same_axis = matches!(g.nodes[p].op, Op::Concat { axis: a } if a == axis);
        if !same_axis
            || consumers[first].len() != 1
            || g.outputs.contains(&first)
            || m.vector_cores.get(&p) != m.vector_cores.get(&i)
        {
            continue;
        }
        let mut inputs = g.nodes[p].inputs.clone();
        inputs.extend_from_slice(&g.nodes[i].inputs[1..]);
        g.nodes[i].inputs = inputs;
        g.nodes[i].src = g.nodes[p].src;
        removed[p] = true;
    }
    if !removed.iter().any(|&r| r) {
        return;
    }
    // Node ids shift: renumber the mapping's keys.
    let mut new_id = IdVec::<NodeId, Option<NodeId>>::filled(None, g.nodes.len());
    let mut k = 0;
    for i in g.nodes.ids() {
        if !removed[i] {
            new_id[i] = Some(NodeId(k));
            k += 1;
        }
    }
    fn renumber<T>(old: BTreeMap<NodeId, T>, new_id: &IdVec<NodeId, Option<NodeId>>) -> BTreeMap<NodeId, T> {
        old.into_iter().filter_map(|(i, v)| new_id[i].map(|n| (n, v))).collect()
    }
    m.layers = renumber(std::mem::take(&mut m.layers), &new_id);
    m.vector_cores = renumber(std::mem::take(&mut m.vector_cores), &new_id);
    g.nodes.retain(|i, _| !removed[i]);
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

/// One op, read.
struct ReadNode<'c> {
    op: Op,
    inputs: Vec<ValueId>,
    shape: Vec<i64>,
    /// The level its dialect implies (None for `graph` vector ops, valid at graph and
    /// partition level).
    level: Option<Level>,
    layer: Option<RawLayer<'c>>,
    cores: Option<Vec<i64>>,
}

fn read_node<'c>(op: &OperationRef<'c, '_>, name: &str, ids: &HashMap<usize, ValueId>) -> Result<ReadNode<'c>, String> {
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
    let act = |a: &super::Attrs| -> Result<Option<Act>, String> {
        match a.opt_str("act")? {
            None => Ok(None),
            Some(s) => Act::from_parts(&s, |p| a.f32(&format!("act_{p}"))).map(Some),
        }
    };
    let bn = |a: &super::Attrs, prefix: &str| -> Result<BatchNorm, String> {
        Ok(BatchNorm {
            gamma: a.str(&format!("{prefix}gamma"))?,
            beta: a.str(&format!("{prefix}beta"))?,
            mean: a.str(&format!("{prefix}mean"))?,
            var: a.str(&format!("{prefix}var"))?,
            epsilon: a.f32(&format!("{prefix}epsilon"))?,
        })
    };
    let folded_bn = |a: &super::Attrs| -> Result<Option<BatchNorm>, String> {
        let keys = ["bn_gamma", "bn_beta", "bn_mean", "bn_var", "bn_epsilon"];
        match keys.iter().filter(|k| a.has(k)).count() {
            0 => Ok(None),
            5 => bn(a, "bn_").map(Some),
            _ => Err(format!("a folded batch normalization needs all of {} or none", keys.join(", "))),
        }
    };
    let pool = |a: &super::Attrs, avg: bool| -> Result<Pool, String> {
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
    let (level, layer, cores) = match dialect {
        "graph" => (crossbar.then_some(Level::Graph), None, None),
        "pim_partition" => {
            if !crossbar {
                return Err(format!("'{name}' does not exist; only crossbar layers are in pim_partition"));
            }
            (Some(Level::Partition), Some(read_partition(&a, false)?), None)
        }
        _ => {
            if crossbar {
                (Some(Level::Core), Some(read_partition(&a, true)?), None)
            } else {
                (Some(Level::Core), None, Some(a.i64_array("cores")?))
            }
        }
    };
    Ok(ReadNode { op: kind, inputs, shape, level, layer, cores })
}

fn read_partition<'c>(a: &super::Attrs<'c, '_>, placed: bool) -> Result<RawLayer<'c>, String> {
    let format = match a.opt_str("format")? {
        None => Format::IK2_O_1,
        Some(f) => Format::from_name(&f)
            .ok_or_else(|| format!("unknown unfolding format '{f}'; expected one of {}", Format::names()))?,
    };
    Ok(RawLayer {
        node: NodeId(0),
        loc: a.op.location(),
        rows: a.i64("rows")?,
        cols: a.i64("cols")?,
        ag_rows: a.i64("ag_rows")?,
        ag_count: a.i64("ag_count")?,
        xbars_per_ag: a.i64("xbars_per_ag")?,
        replicas: a.i64("replicas")?,
        format,
        pack: a.opt_i64("pack")?.unwrap_or(1),
        ag_cols: a.opt_i64("ag_cols")?.unwrap_or(0),
        format_fixed: if a.has("format_fixed") { a.bool("format_fixed")? } else { false },
        ag_cores: if placed { Some(ag_cores(a)?) } else { None },
        windows: if placed && a.has("replica_windows") { Some(a.i64_array("replica_windows")?) } else { None },
    })
}

/// `ag_cores`: runs of one core as a string (`"0*64 1*64"`, what pim-opt prints), or a dense
/// array with one entry per array group.
fn ag_cores(a: &Attrs) -> Result<Vec<i64>, String> {
    match a.opt_str("ag_cores") {
        // 16 M array groups (far beyond any chip) bound what a file can make us allocate.
        Ok(Some(text)) => mapping::parse_core_runs(&text, 1 << 24).map_err(|m| format!("attribute 'ag_cores': {m}")),
        _ => a.i64_array("ag_cores"),
    }
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

/// Replaces the module's body with the graph, its ops in the dialects of `level`, with the
/// locations and unmodelled attributes of `side`.
pub fn write_graph<'c>(ctx: &'c Context, module: &Module<'c>, g: &Graph, m: &Mapping, level: Level, side: &Side<'c>) {
    super::clear_module_body(module);
    let loc = side.func_loc;
    let in_types: Vec<Type> = g.inputs.iter().map(|&v| tensor_type(ctx, g.shape(v))).collect();
    let out_types: Vec<Type> = g.outputs.iter().map(|&v| tensor_type(ctx, g.shape(v))).collect();
    let region = Region::new();
    let block = region.append_block(Block::new(&in_types.iter().map(|&t| (t, loc)).collect::<Vec<_>>()));
    let mut values: Vec<Option<Value>> = vec![None; g.values.len()];
    for (i, &v) in g.inputs.iter().enumerate() {
        values[v.0 as usize] = Some(block.argument(i).expect("argument exists").into());
    }
    for (id, n) in g.nodes.iter_enumerated() {
        let node_loc = side.loc(n.src);
        // An n-ary concat is written as a chain of binary ones (see graph.irdl.mlir).
        let mut inputs: Vec<usize> = n.inputs.iter().map(|v| v.0 as usize).collect();
        if let Op::Concat { axis } = n.op {
            // The running prefix is an MLIR value beyond the graph's values.
            let mut prefix_shape: Option<Vec<i64>> = None;
            while inputs.len() > 2 {
                let (a, b) = (inputs[0], inputs[1]);
                let sa = prefix_shape.clone().unwrap_or_else(|| g.values.as_slice()[a].shape.clone());
                let sb = &g.values.as_slice()[b].shape;
                let shape = crate::graph::shape::infer(&n.op, &[&sa, sb], None).unwrap_or_else(|_| sa.clone());
                prefix_shape = Some(shape.clone());
                let dialect = if level == Level::Core { "pim_core" } else { "graph" };
                let mut attrs = AttrBuilder::new(ctx).i64("axis", axis);
                if level == Level::Core {
                    let c: Vec<i64> =
                        m.vector_cores.get(&id).map(|c| c.iter().map(|x| x.0 as i64).collect()).unwrap_or_default();
                    attrs = attrs.i64_array("cores", &c);
                }
                let op = OperationBuilder::new(&format!("{dialect}.concat"), node_loc)
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
        let mut attrs = node_attrs(ctx, id, n, m, level);
        let written: HashSet<String> =
            attrs.list.iter().map(|(k, _)| super::string_of(k.as_string_ref().to_raw())).collect();
        for (k, a) in side.extra(n.src) {
            if !written.contains(k) {
                attrs.list.push((Identifier::new(ctx, k), *a));
            }
        }
        let op = OperationBuilder::new(&format!("{dialect}.{}", n.op.mnemonic()), node_loc)
            .add_operands(&operands)
            .add_results(&[tensor_type(ctx, g.shape(n.output))])
            .add_attributes(&attrs.list)
            .build()
            .expect("no result type inference");
        let op = block.append_operation(op);
        values[n.output.0 as usize] = Some(op.result(0).expect("one result").into());
    }
    let outs: Vec<Value> = g.outputs.iter().map(|&v| values[v.0 as usize].expect("output defined")).collect();
    block.append_operation(func::r#return(&outs, loc));
    let fty = FunctionType::new(ctx, &in_types, &out_types);
    let mut fattrs = vec![
        (Identifier::new(ctx, "arg_attrs"), name_attrs(ctx, &g.input_names)),
        (Identifier::new(ctx, "res_attrs"), name_attrs(ctx, &g.output_names)),
    ];
    for (k, a) in &side.func_extra {
        fattrs.push((Identifier::new(ctx, k), *a));
    }
    let f =
        func::func(ctx, StringAttribute::new(ctx, &g.func_name), TypeAttribute::new(fty.into()), region, &fattrs, loc);
    module.body().append_operation(f);
}

/// The attribute names `node_attrs` writes for a node at `level` (what reading models).
fn modelled_names(ctx: melior::ContextRef, n: &Node, level: Option<Level>) -> HashSet<String> {
    // SAFETY: the context outlives this call.
    let ctx = unsafe { ctx.to_ref() };
    let mut names: HashSet<String> = node_attrs(ctx, NodeId(0), n, &Mapping::default(), Level::Graph)
        .list
        .iter()
        .map(|(k, _)| super::string_of(k.as_string_ref().to_raw()))
        .collect();
    let mapped: &[&str] = match (level, n.op.is_crossbar_layer()) {
        (Some(Level::Partition), true) => &PARTITION_KEYS,
        (Some(Level::Core), true) => &CORE_LAYER_KEYS,
        (Some(Level::Core), false) => &["cores"],
        _ => &[],
    };
    names.extend(mapped.iter().map(|s| s.to_string()));
    names
}

const PARTITION_KEYS: [&str; 10] =
    ["rows", "cols", "ag_rows", "ag_count", "xbars_per_ag", "replicas", "format", "format_fixed", "pack", "ag_cols"];
const CORE_LAYER_KEYS: [&str; 12] = [
    "rows",
    "cols",
    "ag_rows",
    "ag_count",
    "xbars_per_ag",
    "replicas",
    "format",
    "format_fixed",
    "pack",
    "ag_cols",
    "ag_cores",
    "replica_windows",
];

fn act_attrs(mut b: AttrBuilder, act: Option<Act>) -> AttrBuilder {
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

fn node_attrs<'c>(ctx: &'c Context, id: NodeId, n: &Node, m: &Mapping, level: Level) -> AttrBuilder<'c> {
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
        if let Some(l) = m.layers.get(&id) {
            let (rows, cols) = l.unfolding.max_shape();
            let xbars = l.xbars_per_ag();
            b = b
                .i64("rows", i64::from(rows))
                .i64("cols", i64::from(cols))
                .i64("ag_rows", i64::from(l.ag_rows))
                .i64("ag_count", l.ag_count() as i64)
                .i64("xbars_per_ag", i64::from(xbars))
                .i64("replicas", i64::from(l.replicas));
            if l.unfolding.format != Format::IK2_O_1 {
                b = b.str("format", l.unfolding.format.name());
            }
            if l.format_fixed {
                b = b.bool("format_fixed", true);
            }
            if l.unfolding.pack != 1 {
                b = b.i64("pack", i64::from(l.unfolding.pack));
            }
            if l.ag_cols != 0 {
                b = b.i64("ag_cols", i64::from(l.ag_cols));
            }
        }
    }
    if level == Level::Core {
        if let Some(l) = m.layers.get(&id) {
            // Runs of one core (`0*64 1*64 ...`): short and editable at any replica count.
            let cores: Vec<i64> = l.ag_cores.iter().flatten().map(|c| i64::from(c.0)).collect();
            b = b.str("ag_cores", &mapping::format_core_runs(&cores));
            if let Some(w) = &l.windows {
                // The even split is the default; only another one is written.
                if *w != mapping::even_windows(*w.last().unwrap_or(&0), l.replicas) {
                    let w: Vec<i64> = w.iter().map(|&x| x as i64).collect();
                    b = b.i64_array("replica_windows", &w);
                }
            }
        } else if let Some(c) = m.vector_cores.get(&id) {
            let c: Vec<i64> = c.iter().map(|x| i64::from(x.0)).collect();
            b = b.i64_array("cores", &c);
        }
    }
    b
}
