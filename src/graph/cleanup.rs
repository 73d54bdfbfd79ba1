//! Graph clean-ups run after import: they make the graph smaller without changing what it
//! computes.

use super::{Graph, NodeId, Op};
use crate::ids::IdVec;

/// Folds each activation into the crossbar layer producing its input, when that layer has no
/// activation yet and no other user: the crossbar or vector unit applies it on the way out
/// instead of a separate pass over the tensor.
pub fn fuse_activations(g: &mut Graph) {
    let mut removed = IdVec::<NodeId, bool>::filled(false, g.nodes.len());
    let producers = g.producers();
    let consumers = g.consumers();
    for i in g.nodes.ids() {
        let Op::Act(act) = g.nodes[i].op else { continue };
        let input = g.nodes[i].inputs[0];
        let Some(p) = producers[input] else { continue };
        if consumers[input].len() != 1 || g.outputs.contains(&input) || removed[p] {
            continue;
        }
        let slot = match &mut g.nodes[p].op {
            Op::Conv2d(c) if c.act.is_none() => &mut c.act,
            Op::Fc(f) if f.act.is_none() => &mut f.act,
            _ => continue,
        };
        *slot = Some(act);
        // The layer now produces the activation's result value directly.
        g.nodes[p].output = g.nodes[i].output;
        removed[i] = true;
    }
    g.nodes.retain(|i, _| !removed[i]);
}

/// Folds zero padding into the convolution (or padding-counting average pool) that reads it,
/// as exporters of TensorFlow-style models emit it.
pub fn fold_pads(g: &mut Graph) {
    let mut removed = IdVec::<NodeId, bool>::filled(false, g.nodes.len());
    let consumers = g.consumers();
    for i in g.nodes.ids() {
        let Op::Pad { pads, value } = g.nodes[i].op else { continue };
        let out = g.nodes[i].output;
        if value != 0.0 || consumers[out].len() != 1 || g.outputs.contains(&out) {
            continue;
        }
        let c = consumers[out][0];
        let target = match &mut g.nodes[c].op {
            Op::Conv2d(conv) => &mut conv.pads,
            Op::AvgPool(p) if p.count_include_pad => &mut p.pads,
            _ => continue,
        };
        for (t, p) in target.iter_mut().zip(pads) {
            *t = t.saturating_add(p);
        }
        let src = g.nodes[i].inputs[0];
        for v in g.nodes[c].inputs.iter_mut().filter(|v| **v == out) {
            *v = src;
        }
        removed[i] = true;
    }
    g.nodes.retain(|i, _| !removed[i]);
}
