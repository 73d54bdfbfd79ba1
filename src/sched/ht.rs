//! The high-throughput (batch pipeline) schedule. See the module comment of `sched`.

use super::{is_view, natural_layout, value_name, Layout, Sched, SchedError};
use crate::graph::{Act, Op, Placement, Pool};
use crate::isa::reroll::fold_blocks;
use crate::isa::{Addr, ArrayGroup, BnRef, GlobalInit, Inst, Layer, Line, MatrixSource, Stmt, VecOp};
use crate::pass::map_cores::output_cores;
use std::collections::{BTreeMap, BTreeSet};

/// Largest vector (elements) an element-wise op handles at once.
const CHUNK: i64 = 2048;

fn inst(i: Inst) -> Stmt {
    Stmt::Inst(i, crate::isa::Line::NONE)
}

pub fn schedule(s: &mut Sched) -> Result<(), SchedError> {
    assign_globals(s)?;
    let g = s.g;
    for i in 0..g.nodes.len() {
        let n = &g.nodes[i];
        if is_view(&n.op) || matches!(n.op, Op::Constant { .. }) {
            continue;
        }
        sync_phase(s, i);
        match &n.op {
            Op::Conv2d(_) | Op::Fc(_) => crossbar_layer(s, i)?,
            Op::Act(a) => elementwise(s, i, act_op(i, *a)?)?,
            Op::Add => elementwise(s, i, VecOp::Vvadd)?,
            Op::Mul => elementwise(s, i, VecOp::Vvmul)?,
            Op::MaxPool(p) => pool(s, i, p, false)?,
            Op::AvgPool(p) => pool(s, i, p, true)?,
            Op::GlobalAvgPool => global_avgpool(s, i)?,
            Op::Concat { axis } => concat(s, i, *axis)?,
            Op::BatchNorm(bn) => batchnorm(s, i, bn)?,
            Op::ChannelShuffle { groups } => channel_shuffle(s, i, *groups)?,
            Op::Softmax { .. } => {
                return Err(SchedError::at(
                    i,
                    "softmax needs exp, which the PIM ISA does not have; compile the model without its final softmax (apply it on the host)",
                ))
            }
            Op::Lrn(_) => {
                return Err(SchedError::at(i, "local response normalization needs a power function, which the PIM ISA does not have"))
            }
            Op::Pad { .. } => {
                return Err(SchedError::at(i, "padding that does not fold into a convolution is not supported by the schedule yet"))
            }
            Op::Flatten { .. } | Op::Constant { .. } => unreachable!("views and constants need no work"),
        }
    }
    // Every core sets its data widths once, first.
    let (ibiw, obiw) = (s.arch.activation_bits, s.arch.activation_bits);
    for c in s.cores.values_mut() {
        c.prog.body.insert(0, inst(Inst::SetBw { ibiw, obiw }));
    }
    Ok(())
}

/// The vector instruction computing an activation.
fn act_op(i: usize, a: Act) -> Result<VecOp, SchedError> {
    match a {
        Act::Relu => Ok(VecOp::Vrelu),
        Act::Sigmoid => Ok(VecOp::Vsigm),
        Act::Tanh => Ok(VecOp::Vtanh),
        other => Err(SchedError::at(i, format!("activation '{}' is not supported by the schedule yet", other.name()))),
    }
}

/// Global buffers for inputs, outputs and every computed value; layouts of all values.
fn assign_globals(s: &mut Sched) -> Result<(), SchedError> {
    let g = s.g;
    for (k, &v) in g.inputs.iter().enumerate() {
        let layout = natural_layout(g.shape(v)).ok_or_else(|| SchedError {
            node: None,
            message: format!("model input {k} has shape {:?}; expected [1, C, H, W] or [1, N]", g.shape(v)),
        })?;
        let name = g.input_names.get(k).cloned().unwrap_or_else(|| format!("input{k}"));
        let gi =
            s.add_global(&name, layout.elements(), GlobalInit::Input { index: k as u32, shape: g.shape(v).to_vec() });
        s.value_global[v] = Some(gi);
        s.layout[v] = Some(layout);
    }
    for (i, n) in g.nodes.iter().enumerate() {
        let out = n.output;
        if is_view(&n.op) {
            let src = n.inputs[0];
            let layout = match s.layout_of(src) {
                Layout::Hwc { c, h, w } if g.shape(out) == [1, c * h * w] => Layout::FlatHwc { c, h, w },
                l @ (Layout::Flat(_) | Layout::FlatHwc { .. }) if g.shape(out) == [1, l.elements()] => l,
                l => {
                    return Err(SchedError::at(
                        i,
                        format!("cannot flatten a value laid out as {l:?} to {:?}", g.shape(out)),
                    ))
                }
            };
            s.layout[out] = Some(layout);
            s.value_global[out] = s.value_global[src];
            continue;
        }
        if let Op::Constant { weight, shape } = &n.op {
            // A per-channel (or flat) constant: the same elements in any layout.
            let elements: i64 = shape.iter().product();
            let flat = shape.iter().filter(|&&d| d != 1).count() <= 1;
            if !flat {
                return Err(SchedError::at(
                    i,
                    format!("a constant of shape {shape:?} (not per-channel) is not supported yet"),
                ));
            }
            let gi = s.add_global(weight, elements, GlobalInit::Weight { name: weight.clone() });
            s.value_global[out] = Some(gi);
            s.layout[out] = Some(Layout::Flat(elements));
            continue;
        }
        if matches!(n.op, Op::Concat { .. })
            && n.inputs.iter().any(|&v| matches!(s.layout_of(v), Layout::FlatHwc { .. }))
        {
            // The concatenation would mix height-width-channel order into a flat vector that
            // consumers read in ONNX (channel-major) order.
            return Err(SchedError::at(i, "concatenating flattened feature maps is not supported yet"));
        }
        let mut layout = natural_layout(g.shape(out)).ok_or_else(|| {
            SchedError::at(i, format!("result shape {:?} is not [1, C, H, W] or [1, N]", g.shape(out)))
        })?;
        // Element-wise ops keep a flattened feature map's order.
        if matches!(n.op, Op::Act(_) | Op::Add | Op::Mul | Op::BatchNorm(_)) {
            if let Layout::FlatHwc { .. } = s.layout_of(n.inputs[0]) {
                layout = s.layout_of(n.inputs[0]);
            }
        }
        let output_index = g.outputs.iter().position(|&o| o == out);
        let init = match output_index {
            Some(k) => {
                if let Layout::FlatHwc { .. } = layout {
                    return Err(SchedError::at(i, "a flattened feature map as model output is not supported yet"));
                }
                GlobalInit::Output { index: k as u32, shape: g.shape(out).to_vec() }
            }
            None => GlobalInit::None,
        };
        let name = match output_index {
            Some(k) => g.output_names.get(k).cloned().unwrap_or_else(|| value_name(g, i)),
            None => value_name(g, i),
        };
        let gi = s.add_global(&name, layout.elements(), init);
        s.value_global[out] = Some(gi);
        s.layout[out] = Some(layout);
    }
    for (k, &o) in g.outputs.iter().enumerate() {
        if g.inputs.contains(&o) || g.outputs[..k].contains(&o) {
            return Err(SchedError {
                node: None,
                message: format!("model output {k} is a model input or repeats another output"),
            });
        }
        if let Some(p) = g.producers()[o] {
            if is_view(&g.nodes[p].op) {
                return Err(SchedError::at(p, "a flattened feature map as model output is not supported yet"));
            }
        }
    }
    Ok(())
}

/// Cores that write the data of value `v` (looking through views); empty for model inputs.
fn writers(s: &Sched, v: usize) -> Vec<i64> {
    let producers = s.g.producers();
    let mut v = v;
    loop {
        match producers[v] {
            None => return vec![],
            Some(p) if matches!(s.g.nodes[p].op, Op::Constant { .. }) => return vec![],
            Some(p) if is_view(&s.g.nodes[p].op) => v = s.g.nodes[p].inputs[0],
            Some(p) => return output_cores(s.g, p),
        }
    }
}

/// Cores that read the inputs of node `i`.
fn readers(s: &Sched, i: usize) -> Vec<i64> {
    let mut c = match &s.g.nodes[i].placement {
        Some(Placement::ArrayGroups(c)) | Some(Placement::Cores(c)) => c.clone(),
        None => vec![],
    };
    c.sort_unstable();
    c.dedup();
    c
}

/// Before node `i` runs, every core that wrote one of its inputs hands a token to every core
/// that reads them. Transfers go in (sender, receiver) order on both sides.
fn sync_phase(s: &mut Sched, i: usize) {
    let mut pairs = BTreeSet::new();
    let readers = readers(s, i);
    for &v in &s.g.nodes[i].inputs {
        for w in writers(s, v) {
            for &r in &readers {
                if w != r {
                    pairs.insert((w, r));
                }
            }
        }
    }
    let eb = s.eb;
    for (w, r) in pairs {
        let c = s.core(w);
        let tok = c.buf("token", eb);
        c.emit([inst(Inst::Send { rs1: Addr::local(tok, 0), core: r as u32, size: eb as u32 })]);
        let c = s.core(r);
        let tok = c.buf("token", eb);
        c.emit([inst(Inst::Recv { rd: Addr::local(tok, 0), core: w as u32, size: eb as u32 })]);
    }
}

/// A piece of an input patch: `len` rows at patch row `at`, loaded from input element `src`
/// (None: zero padding).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Segment {
    at: i64,
    len: i64,
    src: Option<i64>,
}

fn push_segment(v: &mut Vec<Segment>, s: Segment) {
    if s.len <= 0 {
        return;
    }
    if let Some(last) = v.last_mut() {
        let contiguous = last.at + last.len == s.at;
        match (last.src, s.src) {
            (None, None) if contiguous => {
                last.len += s.len;
                return;
            }
            (Some(a), Some(b)) if contiguous && a + last.len == b => {
                last.len += s.len;
                return;
            }
            _ => {}
        }
    }
    v.push(s);
}

/// The patch of conv window (oh, ow) over an HWC input, as load/zero segments in patch order
/// (kernel row, kernel column, channel).
fn conv_patch(c: &crate::graph::Conv2d, input: (i64, i64, i64), oh: i64, ow: i64) -> Vec<Segment> {
    let (ch, h, w) = input;
    let [kh_n, kw_n] = c.kernel;
    let mut out = vec![];
    for kh in 0..kh_n {
        let ih = oh * c.strides[0] - c.pads[0] + kh * c.dilations[0];
        let base = kh * kw_n * ch;
        if ih < 0 || ih >= h {
            push_segment(&mut out, Segment { at: base, len: kw_n * ch, src: None });
            continue;
        }
        let iw0 = ow * c.strides[1] - c.pads[1];
        if c.dilations[1] == 1 {
            let lo = (-iw0).clamp(0, kw_n);
            let hi = (w - iw0).clamp(lo, kw_n);
            push_segment(&mut out, Segment { at: base, len: lo * ch, src: None });
            push_segment(
                &mut out,
                Segment { at: base + lo * ch, len: (hi - lo) * ch, src: Some((ih * w + iw0 + lo) * ch) },
            );
            push_segment(&mut out, Segment { at: base + hi * ch, len: (kw_n - hi) * ch, src: None });
        } else {
            for kw in 0..kw_n {
                let iw = iw0 + kw * c.dilations[1];
                let src = (iw >= 0 && iw < w).then_some((ih * w + iw) * ch);
                push_segment(&mut out, Segment { at: base + kw * ch, len: ch, src });
            }
        }
    }
    out
}

/// Restricts segments to patch rows [lo, hi).
fn clip(segs: &[Segment], lo: i64, hi: i64) -> Vec<Segment> {
    let mut out = vec![];
    for s in segs {
        let a = s.at.max(lo);
        let b = (s.at + s.len).min(hi);
        if a < b {
            out.push(Segment { at: a, len: b - a, src: s.src.map(|x| x + (a - s.at)) });
        }
    }
    out
}

fn crossbar_layer(s: &mut Sched, i: usize) -> Result<(), SchedError> {
    let g = s.g;
    let n = &g.nodes[i];
    let p = n.partition.clone().ok_or_else(|| SchedError::at(i, "layer is not partitioned"))?;
    let Some(Placement::ArrayGroups(ag_cores)) = n.placement.clone() else {
        return Err(SchedError::at(i, "layer is not placed on cores"));
    };
    if ag_cores.len() as i64 != p.total_ags() {
        return Err(SchedError::at(
            i,
            format!("{} array groups but {} core assignments", p.total_ags(), ag_cores.len()),
        ));
    }
    let name = n.op.layer_name().expect("crossbar layer").to_string();
    let eb = s.eb;
    let input = n.inputs[0];
    let in_layout = s.layout_of(input);
    let in_g = s.value_global[input].expect("input has a buffer");
    let out_g = s.value_global[n.output].expect("output has a buffer");
    let cols = p.cols;
    let (bias, bn, act) = match &n.op {
        Op::Conv2d(c) => (c.bias.clone(), c.bn.clone(), c.act),
        Op::Fc(f) => (f.bias.clone(), f.bn.clone(), f.act),
        _ => unreachable!(),
    };
    // The activation applied on the way out (ReLU may also ride on the crossbar, below).
    let act_vec = act.map(|a| act_op(i, a)).transpose()?;
    // Layer matrix and the windows it computes.
    let (source, windows_hw) = match (&n.op, in_layout) {
        (Op::Conv2d(c), Layout::Hwc { c: ch, .. }) => {
            let o = g.shape(n.output);
            (MatrixSource::Conv { weight: c.weight.clone(), kernel: c.kernel, in_channels: ch }, (o[2], o[3]))
        }
        (Op::Fc(f), Layout::Flat(_)) => {
            (MatrixSource::Fc { weight: f.weight.clone(), transposed: f.transpose_weight, hwc: None }, (1, 1))
        }
        (Op::Fc(f), Layout::FlatHwc { c, h, w }) => (
            MatrixSource::Fc { weight: f.weight.clone(), transposed: f.transpose_weight, hwc: Some([c, h, w]) },
            (1, 1),
        ),
        (_, l) => return Err(SchedError::at(i, format!("layer input laid out as {l:?} is not supported"))),
    };
    let bn = bn.map(|b| BnRef { gamma: b.gamma, beta: b.beta, mean: b.mean, var: b.var, eps: b.epsilon });
    s.layers.push(Layer { name: name.clone(), line: Line::NONE, rows: p.rows, cols, source, scale: bn.clone() });
    // The bias vector: the layer's own, or the folded normalization's combined shift.
    let bias_init = match (&bias, &bn) {
        (b, Some(bn)) => Some(GlobalInit::Bias { bias: b.clone(), bn: bn.clone() }),
        (Some(b), None) => Some(GlobalInit::Weight { name: b.clone() }),
        (None, None) => None,
    };
    let bias_g = bias_init.map(|init| s.add_global(&format!("{name}.bias"), cols, init));
    let n_windows = windows_hw.0 * windows_hw.1;

    // Which groups of which replica each core holds.
    let mut holders: BTreeMap<i64, BTreeMap<i64, Vec<i64>>> = BTreeMap::new(); // core -> replica -> groups
    for r in 0..p.replicas {
        for gi in 0..p.ag_count {
            let c = ag_cores[(r * p.ag_count + gi) as usize];
            holders.entry(c).or_default().entry(r).or_default().push(gi);
        }
    }
    for (&core, reps) in &holders {
        for (&r, groups) in reps {
            let owner = ag_cores[(r * p.ag_count) as usize];
            let helpers: Vec<i64> =
                holders.iter().filter(|(&c, reps)| c != owner && reps.contains_key(&r)).map(|(&c, _)| c).collect();
            let is_owner = core == owner;
            let cb = s.core(core);
            // Array-group table entries of this core.
            let ag_ids: Vec<u32> = groups
                .iter()
                .map(|&gi| {
                    let (b, e) = p.ag_row_range(gi);
                    cb.add_ag(ArrayGroup {
                        layer: name.clone(),
                        line: Line::NONE,
                        replica: r as u32,
                        row_begin: b,
                        rows: e - b,
                        xbars: p.xbars_per_ag as u32,
                    })
                })
                .collect();
            let lo = p.ag_row_range(groups[0]).0;
            let hi = p.ag_row_range(*groups.last().expect("nonempty")).1;
            let patch = cb.buf(&format!("{name}.patch"), p.rows * eb);
            let acc = cb.buf(&format!("{name}.acc"), cols * eb);
            let partials: Vec<u32> = (1..groups.len()).map(|k| cb.buf(&format!("{name}.psum{k}"), cols * eb)).collect();
            let recv = (is_owner && !helpers.is_empty()).then(|| cb.buf(&format!("{name}.recv"), cols * eb));
            let bias_buf = if is_owner { bias_g.map(|_| cb.buf(&format!("{name}.bias"), cols * eb)) } else { None };
            if let (Some(bb), Some(bg)) = (bias_buf, bias_g) {
                cb.emit([inst(Inst::Ld {
                    rd: Addr::local(bb, 0),
                    rs1: Addr::global(bg, 0),
                    size: (cols * eb) as u32,
                })]);
            }
            // ReLU rides on the crossbar when nothing has to be added after the product.
            let relu_on_mvmul = act == Some(Act::Relu) && groups.len() == 1 && helpers.is_empty() && bias_buf.is_none();
            let (w0, w1) = (r * n_windows / p.replicas, (r + 1) * n_windows / p.replicas);
            let mut rows: Vec<Vec<Vec<Stmt>>> = vec![];
            let mut last_oh = -1;
            for w in w0..w1 {
                let (oh, ow) = (w / windows_hw.1, w % windows_hw.1);
                let segs = match (&n.op, in_layout) {
                    (Op::Conv2d(c), Layout::Hwc { c: ch, h, w: iw }) => conv_patch(c, (ch, h, iw), oh, ow),
                    _ => vec![Segment { at: 0, len: p.rows, src: Some(0) }],
                };
                let mut b = vec![];
                for sg in clip(&segs, lo, hi) {
                    let rd = Addr::local(patch, sg.at * eb);
                    let size = (sg.len * eb) as u32;
                    b.push(inst(match sg.src {
                        Some(src) => Inst::Ld { rd, rs1: Addr::global(in_g, src * eb), size },
                        None => Inst::Lldi { rd, size, value: 0.0 },
                    }));
                }
                for (k, (&gi, &ag)) in groups.iter().zip(&ag_ids).enumerate() {
                    let dst = if k == 0 { acc } else { partials[k - 1] };
                    let row0 = p.ag_row_range(gi).0;
                    b.push(inst(Inst::Mvmul {
                        rd: Addr::local(dst, 0),
                        rs1: Addr::local(patch, row0 * eb),
                        group: ag,
                        relu: relu_on_mvmul,
                        mbiw: s.arch.weight_bits,
                    }));
                }
                let vadd = |dst: u32, other: u32| {
                    inst(Inst::Vec {
                        op: VecOp::Vvadd,
                        rd: Addr::local(dst, 0),
                        rs1: Addr::local(dst, 0),
                        rs2: Some(Addr::local(other, 0)),
                        len: cols as u32,
                    })
                };
                for &ps in &partials {
                    b.push(vadd(acc, ps));
                }
                if !is_owner {
                    b.push(inst(Inst::Send { rs1: Addr::local(acc, 0), core: owner as u32, size: (cols * eb) as u32 }));
                } else {
                    for &h in &helpers {
                        let rb = recv.expect("owner with helpers has a receive buffer");
                        b.push(inst(Inst::Recv { rd: Addr::local(rb, 0), core: h as u32, size: (cols * eb) as u32 }));
                        b.push(vadd(acc, rb));
                    }
                    if let Some(bb) = bias_buf {
                        b.push(vadd(acc, bb));
                    }
                    if let (Some(op), false) = (act_vec, relu_on_mvmul) {
                        b.push(inst(Inst::Vec {
                            op,
                            rd: Addr::local(acc, 0),
                            rs1: Addr::local(acc, 0),
                            rs2: None,
                            len: cols as u32,
                        }));
                    }
                    b.push(inst(Inst::St {
                        rd: Addr::global(out_g, w * cols * eb),
                        rs1: Addr::local(acc, 0),
                        size: (cols * eb) as u32,
                    }));
                }
                if oh != last_oh {
                    rows.push(vec![]);
                    last_oh = oh;
                }
                rows.last_mut().expect("row started").push(b);
            }
            let folded_rows: Vec<Vec<Stmt>> = rows.into_iter().map(|r| fold_blocks(r, 1)).collect();
            s.core(core).emit(fold_blocks(folded_rows, 0));
        }
    }
    Ok(())
}

/// The cores of a vector op and the share of `units` work units each one takes.
fn shares(s: &Sched, i: usize, units: i64) -> Result<Vec<(i64, i64, i64)>, SchedError> {
    let Some(Placement::Cores(cores)) = &s.g.nodes[i].placement else {
        return Err(SchedError::at(i, "op is not placed on cores"));
    };
    if cores.is_empty() {
        return Err(SchedError::at(i, "op is placed on no core"));
    }
    let k = cores.len() as i64;
    Ok(cores
        .iter()
        .enumerate()
        .map(|(j, &c)| (c, j as i64 * units / k, (j as i64 + 1) * units / k))
        .filter(|t| t.1 < t.2)
        .collect())
}

/// Relu / Add over equal layouts: chunks of at most CHUNK elements.
fn elementwise(s: &mut Sched, i: usize, op: VecOp) -> Result<(), SchedError> {
    let g = s.g;
    let n = &g.nodes[i];
    let layouts: Vec<Layout> = n.inputs.iter().map(|&v| s.layout_of(v)).collect();
    if layouts.len() == 2 && layouts[0] != layouts[1] {
        // One operand may be a per-channel vector broadcast over the other's pixels.
        let channels = |l: Layout| match l {
            Layout::Hwc { c, .. } => Some(c),
            _ => None,
        };
        // A [1, C, 1, 1] map and a [C] vector hold the same C values in memory.
        // Broadcasting gives one value per channel only to a vector whose shape, aligned to the
        // right, is [1, C, 1, 1] (numpy rules: a plain [C] would run along the width).
        let per_channel = |v: usize, c: i64| {
            let s = g.shape(v);
            let padded: Vec<i64> =
                std::iter::repeat_n(1, 4usize.saturating_sub(s.len())).chain(s.iter().copied()).collect();
            padded == [1, c, 1, 1]
        };
        for (full, vec) in [(0, 1), (1, 0)] {
            if let Some(c) = channels(layouts[full]) {
                if layouts[full] != layouts[vec] && per_channel(n.inputs[vec], c) {
                    let v = s.value_global[n.inputs[vec]].expect("buffer");
                    return channelwise(s, i, n.inputs[full], &[(op, v)]);
                }
            }
        }
        let shapes: Vec<&[i64]> = n.inputs.iter().map(|&v| g.shape(v)).collect();
        return Err(SchedError::at(
            i,
            format!(
                "broadcasting {:?} with {:?} is supported only per channel (one operand [1, C, 1, 1])",
                shapes[0], shapes[1]
            ),
        ));
    }
    let total = layouts[0].elements();
    let ins: Vec<u32> = n.inputs.iter().map(|&v| s.value_global[v].expect("buffer")).collect();
    let out = s.value_global[n.output].expect("buffer");
    let eb = s.eb;
    let units = (total + CHUNK - 1) / CHUNK;
    let mnemonic = n.op.mnemonic();
    for (core, u0, u1) in shares(s, i, units)? {
        let cb = s.core(core);
        let bufs: Vec<u32> =
            (0..ins.len()).map(|k| cb.buf(&format!("{mnemonic}{i}.in{k}"), CHUNK.min(total) * eb)).collect();
        let mut blocks = vec![];
        for u in u0..u1 {
            let start = u * CHUNK;
            let len = CHUNK.min(total - start);
            let mut b = vec![];
            for (k, &gi) in ins.iter().enumerate() {
                b.push(inst(Inst::Ld {
                    rd: Addr::local(bufs[k], 0),
                    rs1: Addr::global(gi, start * eb),
                    size: (len * eb) as u32,
                }));
            }
            b.push(inst(Inst::Vec {
                op,
                rd: Addr::local(bufs[0], 0),
                rs1: Addr::local(bufs[0], 0),
                rs2: bufs.get(1).map(|&b2| Addr::local(b2, 0)),
                len: len as u32,
            }));
            b.push(inst(Inst::St {
                rd: Addr::global(out, start * eb),
                rs1: Addr::local(bufs[0], 0),
                size: (len * eb) as u32,
            }));
            blocks.push(b);
        }
        cb.emit(fold_blocks(blocks, 0));
    }
    Ok(())
}

/// Per-channel operations on a feature map (or vector): for every pixel, `x = op(x, vec)`
/// for each `(op, global holding a C-vector)` in turn, one output row per work unit.
fn channelwise(s: &mut Sched, i: usize, x: usize, ops: &[(VecOp, u32)]) -> Result<(), SchedError> {
    let (c, h, w) = match s.layout_of(x) {
        Layout::Hwc { c, h, w } => (c, h, w),
        Layout::Flat(n) | Layout::FlatHwc { c: n, h: 1, w: 1 } => (n, 1, 1),
        l => {
            return Err(SchedError::at(
                i,
                format!("per-channel operation on a value laid out as {l:?} is not supported"),
            ))
        }
    };
    let g = s.g;
    let (in_g, out_g) = (s.value_global[x].expect("buffer"), s.value_global[g.nodes[i].output].expect("buffer"));
    let eb = s.eb;
    for (core, r0, r1) in shares(s, i, h)? {
        let cb = s.core(core);
        let row = cb.buf(&format!("chan{i}.row"), w * c * eb);
        let vecs: Vec<u32> = ops
            .iter()
            .enumerate()
            .map(|(k, &(_, gv))| {
                let b = cb.buf(&format!("chan{i}.vec{k}"), c * eb);
                cb.emit([inst(Inst::Ld { rd: Addr::local(b, 0), rs1: Addr::global(gv, 0), size: (c * eb) as u32 })]);
                b
            })
            .collect();
        let mut rows = vec![];
        for y in r0..r1 {
            let mut b = vec![inst(Inst::Ld {
                rd: Addr::local(row, 0),
                rs1: Addr::global(in_g, y * w * c * eb),
                size: (w * c * eb) as u32,
            })];
            let px: Vec<Vec<Stmt>> = (0..w)
                .map(|px| {
                    ops.iter()
                        .zip(&vecs)
                        .map(|(&(op, _), &v)| {
                            let at = Addr::local(row, px * c * eb);
                            inst(Inst::Vec { op, rd: at.clone(), rs1: at, rs2: Some(Addr::local(v, 0)), len: c as u32 })
                        })
                        .collect()
                })
                .collect();
            b.extend(fold_blocks(px, 1));
            b.push(inst(Inst::St {
                rd: Addr::global(out_g, y * w * c * eb),
                rs1: Addr::local(row, 0),
                size: (w * c * eb) as u32,
            }));
            rows.push(b);
        }
        s.core(core).emit(fold_blocks(rows, 0));
    }
    Ok(())
}

/// A batch normalization on its own: per channel, x * scale + shift.
fn batchnorm(s: &mut Sched, i: usize, bn: &crate::graph::BatchNorm) -> Result<(), SchedError> {
    let r = BnRef {
        gamma: bn.gamma.clone(),
        beta: bn.beta.clone(),
        mean: bn.mean.clone(),
        var: bn.var.clone(),
        eps: bn.epsilon,
    };
    let x = s.g.nodes[i].inputs[0];
    let c = s.g.shape(x)[1];
    let name = value_name(s.g, i);
    let scale = s.add_global(&format!("{name}.scale"), c, GlobalInit::BnScale { bn: r.clone() });
    let shift = s.add_global(&format!("{name}.shift"), c, GlobalInit::BnShift { bn: r });
    channelwise(s, i, x, &[(VecOp::Vvmul, scale), (VecOp::Vvadd, shift)])
}

/// Channel shuffle: output channel j*g + k of a pixel is input channel k*(C/g) + j, so each
/// run of g output channels gathers input channels C/g apart (one `vmv` each).
fn channel_shuffle(s: &mut Sched, i: usize, groups: i64) -> Result<(), SchedError> {
    let g = s.g;
    let x = g.nodes[i].inputs[0];
    let (c, h, w) = hwc(s, i, x)?;
    let (in_g, out_g) = (s.value_global[x].expect("buffer"), s.value_global[g.nodes[i].output].expect("buffer"));
    let eb = s.eb;
    let per = c / groups;
    for (core, r0, r1) in shares(s, i, h)? {
        let cb = s.core(core);
        let inrow = cb.buf(&format!("shuffle{i}.in"), w * c * eb);
        let outrow = cb.buf(&format!("shuffle{i}.out"), w * c * eb);
        let mut rows = vec![];
        for y in r0..r1 {
            let mut b = vec![inst(Inst::Ld {
                rd: Addr::local(inrow, 0),
                rs1: Addr::global(in_g, y * w * c * eb),
                size: (w * c * eb) as u32,
            })];
            let px: Vec<Vec<Stmt>> = (0..w)
                .map(|px| {
                    let runs: Vec<Vec<Stmt>> = (0..per)
                        .map(|j| {
                            vec![inst(Inst::Vmv {
                                rd: Addr::local(outrow, (px * c + j * groups) * eb),
                                rs1: Addr::local(inrow, (px * c + j) * eb),
                                len: groups as u32,
                                stride: per as u32,
                            })]
                        })
                        .collect();
                    fold_blocks(runs, 2)
                })
                .collect();
            b.extend(fold_blocks(px, 1));
            b.push(inst(Inst::St {
                rd: Addr::global(out_g, y * w * c * eb),
                rs1: Addr::local(outrow, 0),
                size: (w * c * eb) as u32,
            }));
            rows.push(b);
        }
        s.core(core).emit(fold_blocks(rows, 0));
    }
    Ok(())
}

fn hwc(s: &Sched, i: usize, v: usize) -> Result<(i64, i64, i64), SchedError> {
    match s.layout_of(v) {
        Layout::Hwc { c, h, w } => Ok((c, h, w)),
        l => Err(SchedError::at(i, format!("expected a feature map, got a value laid out as {l:?}"))),
    }
}

/// Max / average pooling, one output row per work unit: the input rows it needs are loaded,
/// then every output pixel is reduced from the valid positions of its window.
fn pool(s: &mut Sched, i: usize, p: &Pool, avg: bool) -> Result<(), SchedError> {
    let g = s.g;
    let n = &g.nodes[i];
    let (c, h, w) = hwc(s, i, n.inputs[0])?;
    let o = g.shape(n.output).to_vec();
    let (oh_n, ow_n) = (o[2], o[3]);
    let (in_g, out_g) = (s.value_global[n.inputs[0]].expect("buffer"), s.value_global[n.output].expect("buffer"));
    let eb = s.eb;
    let [kh_n, kw_n] = p.kernel;
    for (core, r0, r1) in shares(s, i, oh_n)? {
        // Averaging constants 1/count, loaded once.
        let mut scales: BTreeMap<i64, u32> = BTreeMap::new();
        let mut rows = vec![];
        for oh in r0..r1 {
            let ih0 = oh * p.strides[0] - p.pads[0];
            let valid_kh: Vec<i64> = (0..kh_n).filter(|kh| (0..h).contains(&(ih0 + kh))).collect();
            let mut b = vec![];
            let cb = s.core(core);
            let inrows = cb.buf(&format!("pool{i}.in"), kh_n * w * c * eb);
            let orow = cb.buf(&format!("pool{i}.out"), ow_n * c * eb);
            for &kh in &valid_kh {
                b.push(inst(Inst::Ld {
                    rd: Addr::local(inrows, kh * w * c * eb),
                    rs1: Addr::global(in_g, (ih0 + kh) * w * c * eb),
                    size: (w * c * eb) as u32,
                }));
            }
            let mut pixels = vec![];
            for ow in 0..ow_n {
                let iw0 = ow * p.strides[1] - p.pads[1];
                let mut pb = vec![];
                let dst = Addr::local(orow, ow * c * eb);
                let mut count = 0;
                for &kh in &valid_kh {
                    for kw in 0..kw_n {
                        let iw = iw0 + kw;
                        if !(0..w).contains(&iw) {
                            continue;
                        }
                        let src = Addr::local(inrows, (kh * w + iw) * c * eb);
                        pb.push(inst(if count == 0 {
                            Inst::Lmv { rd: dst.clone(), rs1: src, size: (c * eb) as u32 }
                        } else {
                            Inst::Vec {
                                op: if avg { VecOp::Vvadd } else { VecOp::Vvmax },
                                rd: dst.clone(),
                                rs1: dst.clone(),
                                rs2: Some(src),
                                len: c as u32,
                            }
                        }));
                        count += 1;
                    }
                }
                if count == 0 {
                    return Err(SchedError::at(i, format!("pooling window at ({oh}, {ow}) covers only padding")));
                }
                if avg {
                    let divisor = if p.count_include_pad { kh_n * kw_n } else { count };
                    pb.push(inst(Inst::Vec {
                        op: VecOp::Vvmul,
                        rd: dst.clone(),
                        rs1: dst.clone(),
                        rs2: Some(Addr::local(scale_buf(s, core, i, c, divisor, &mut scales), 0)),
                        len: c as u32,
                    }));
                }
                pixels.push(pb);
            }
            b.extend(fold_blocks(pixels, 1));
            b.push(inst(Inst::St {
                rd: Addr::global(out_g, oh * ow_n * c * eb),
                rs1: Addr::local(orow, 0),
                size: (ow_n * c * eb) as u32,
            }));
            rows.push(b);
        }
        s.core(core).emit(fold_blocks(rows, 0));
    }
    Ok(())
}

/// A local buffer of `c` copies of 1/divisor on `core`, loaded from a fill global on first use.
fn scale_buf(s: &mut Sched, core: i64, i: usize, c: i64, divisor: i64, cache: &mut BTreeMap<i64, u32>) -> u32 {
    if let Some(&b) = cache.get(&divisor) {
        return b;
    }
    let g = s.fill_global(c, 1.0 / divisor as f32);
    let eb = s.eb;
    let cb = s.core(core);
    let b = cb.buf(&format!("pool{i}.scale{divisor}"), c * eb);
    cb.emit([inst(Inst::Ld { rd: Addr::local(b, 0), rs1: Addr::global(g, 0), size: (c * eb) as u32 })]);
    cache.insert(divisor, b);
    b
}

fn global_avgpool(s: &mut Sched, i: usize) -> Result<(), SchedError> {
    let g = s.g;
    let n = &g.nodes[i];
    let (c, h, w) = hwc(s, i, n.inputs[0])?;
    let (in_g, out_g) = (s.value_global[n.inputs[0]].expect("buffer"), s.value_global[n.output].expect("buffer"));
    let eb = s.eb;
    let Some(&(core, _, _)) = shares(s, i, 1)?.first() else {
        return Ok(());
    };
    let mut scales = BTreeMap::new();
    let scale = scale_buf(s, core, i, c, h * w, &mut scales);
    let cb = s.core(core);
    let row = cb.buf(&format!("gap{i}.row"), w * c * eb);
    let acc = cb.buf(&format!("gap{i}.acc"), c * eb);
    cb.emit([inst(Inst::Lldi { rd: Addr::local(acc, 0), size: (c * eb) as u32, value: 0.0 })]);
    let mut rows = vec![];
    for y in 0..h {
        let mut b = vec![inst(Inst::Ld {
            rd: Addr::local(row, 0),
            rs1: Addr::global(in_g, y * w * c * eb),
            size: (w * c * eb) as u32,
        })];
        let px: Vec<Vec<Stmt>> = (0..w)
            .map(|x| {
                vec![inst(Inst::Vec {
                    op: VecOp::Vvadd,
                    rd: Addr::local(acc, 0),
                    rs1: Addr::local(acc, 0),
                    rs2: Some(Addr::local(row, x * c * eb)),
                    len: c as u32,
                })]
            })
            .collect();
        b.extend(fold_blocks(px, 1));
        rows.push(b);
    }
    cb.emit(fold_blocks(rows, 0));
    cb.emit([
        inst(Inst::Vec {
            op: VecOp::Vvmul,
            rd: Addr::local(acc, 0),
            rs1: Addr::local(acc, 0),
            rs2: Some(Addr::local(scale, 0)),
            len: c as u32,
        }),
        inst(Inst::St { rd: Addr::global(out_g, 0), rs1: Addr::local(acc, 0), size: (c * eb) as u32 }),
    ]);
    Ok(())
}

/// Channel concatenation of feature maps (each output pixel gathers its inputs' pixels), or
/// concatenation of vectors.
fn concat(s: &mut Sched, i: usize, axis: i64) -> Result<(), SchedError> {
    let g = s.g;
    let n = &g.nodes[i];
    let eb = s.eb;
    let out_g = s.value_global[n.output].expect("buffer");
    let ins: Vec<(u32, Layout)> =
        n.inputs.iter().map(|&v| (s.value_global[v].expect("buffer"), s.layout_of(v))).collect();
    match s.layout_of(n.output) {
        Layout::Hwc { c, h, w } if axis == 1 || axis == -3 => {
            for (core, r0, r1) in shares(s, i, h)? {
                let cb = s.core(core);
                let orow = cb.buf(&format!("concat{i}.row"), w * c * eb);
                let mut rows = vec![];
                for y in r0..r1 {
                    let mut b = vec![];
                    let mut off = 0;
                    for &(gi, l) in &ins {
                        let Layout::Hwc { c: ci, .. } = l else { unreachable!("shapes verified") };
                        let px: Vec<Vec<Stmt>> = (0..w)
                            .map(|x| {
                                vec![inst(Inst::Ld {
                                    rd: Addr::local(orow, (x * c + off) * eb),
                                    rs1: Addr::global(gi, (y * w + x) * ci * eb),
                                    size: (ci * eb) as u32,
                                })]
                            })
                            .collect();
                        b.extend(fold_blocks(px, 1));
                        off += ci;
                    }
                    b.push(inst(Inst::St {
                        rd: Addr::global(out_g, y * w * c * eb),
                        rs1: Addr::local(orow, 0),
                        size: (w * c * eb) as u32,
                    }));
                    rows.push(b);
                }
                s.core(core).emit(fold_blocks(rows, 0));
            }
            Ok(())
        }
        Layout::Flat(total) if axis == 1 || axis == -1 => {
            let Some(&(core, _, _)) = shares(s, i, 1)?.first() else {
                return Ok(());
            };
            let cb = s.core(core);
            let buf = cb.buf(&format!("concat{i}.buf"), total * eb);
            let mut off = 0;
            for &(gi, l) in &ins {
                let len = l.elements();
                cb.emit([inst(Inst::Ld {
                    rd: Addr::local(buf, off * eb),
                    rs1: Addr::global(gi, 0),
                    size: (len * eb) as u32,
                })]);
                off += len;
            }
            cb.emit([inst(Inst::St {
                rd: Addr::global(out_g, 0),
                rs1: Addr::local(buf, 0),
                size: (total * eb) as u32,
            })]);
            Ok(())
        }
        l => Err(SchedError::at(
            i,
            format!("concat along axis {axis} of a value laid out as {l:?} is not supported yet"),
        )),
    }
}
