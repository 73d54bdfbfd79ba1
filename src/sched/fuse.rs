//! Residual adds fused into the convolution before them, for scheduling.
//!
//! A residual block ends in `add(conv(h), s)` (often with a ReLU after): the convolution
//! stores its map, and the add loads it back with the shortcut `s` and stores the sum, so the
//! map crosses global memory three times more than it needs. Fused, the convolution's owner
//! loads each window's slice of `s`, adds it after the bias and before the activation, and
//! stores the block's output: one load and one store of the map less per block, and one op
//! less in the element pipeline's chain of bands.
//!
//! The scheduler works on a rewritten graph: the convolution takes `s` as a second input
//! (what `sched::emit` adds before the activation) and produces the add's result (or the
//! ReLU's, which it then applies); the add and the ReLU are gone. The convolution fused is
//! the producer of the add's later operand (in graph order), so the other one is computed
//! before it and the graph stays in topological order. Only where that operand has no other
//! reader, is no model output and the convolution has no activation of its own.

use crate::graph::{Act, Graph, NodeId, Op};
use crate::ids::IdVec;
use crate::mapping::Mapping;

/// The graph and mapping with every fusable residual add folded into its convolution, or
/// None when there is none.
pub fn residual_adds(g: &Graph, m: &Mapping) -> Option<(Graph, Mapping)> {
    let fused = crate::mapping::fused_residuals(g, m);
    if fused.is_empty() {
        return None;
    }
    let mut g2 = g.clone();
    let mut removed = vec![false; g.nodes.len()];
    for (&conv, f) in &fused {
        let (a, s, relu) = (f.add, f.shortcut, f.relu);
        let n = &g.nodes[a];
        let node = &mut g2.nodes[conv];
        node.inputs.push(s);
        node.output = relu.map_or(n.output, |j| g.nodes[j].output);
        if let Op::Conv2d(c) = &mut node.op {
            c.act = relu.map(|_| Act::Relu);
        }
        removed[a.0 as usize] = true;
        if let Some(j) = relu {
            removed[j.0 as usize] = true;
        }
    }
    // Drop the fused nodes; the mapping follows the new node ids.
    let mut new_id: Vec<Option<NodeId>> = vec![None; g.nodes.len()];
    let mut nodes = IdVec::default();
    for (i, n) in g2.nodes.iter_enumerated() {
        if !removed[i.0 as usize] {
            new_id[i.0 as usize] = Some(nodes.push(n.clone()));
        }
    }
    g2.nodes = nodes;
    let remap = |i: &NodeId| new_id.get(i.0 as usize).copied().flatten();
    let m2 = Mapping {
        layers: m.layers.iter().filter_map(|(i, l)| Some((remap(i)?, l.clone()))).collect(),
        vector_cores: m.vector_cores.iter().filter_map(|(i, c)| Some((remap(i)?, c.clone()))).collect(),
    };
    Some((g2, m2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Conv2d, Node, SrcId};

    fn conv(name: &str) -> Op {
        Op::Conv2d(Conv2d {
            name: name.into(),
            weight: format!("{name}.w"),
            bias: None,
            kernel: [3, 3],
            strides: [1, 1],
            pads: [1; 4],
            dilations: [1, 1],
            group: 1,
            bn: None,
            act: None,
        })
    }

    /// x -> a -> b; relu(add(b, x)): b takes x and the ReLU, the add and the ReLU go.
    fn block(extra_reader: bool) -> (Graph, Mapping) {
        let mut g = Graph::new("main");
        let x = g.add_value(vec![1, 4, 8, 8]);
        g.inputs.push(x);
        let node = |g: &mut Graph, op: Op, inputs: Vec<crate::graph::ValueId>| {
            let out = g.add_value(vec![1, 4, 8, 8]);
            g.nodes.push(Node { op, inputs, output: out, src: SrcId::NONE });
            out
        };
        let a = node(&mut g, conv("a"), vec![x]);
        let b = node(&mut g, conv("b"), vec![a]);
        let s = node(&mut g, Op::Add, vec![b, x]);
        let y = node(&mut g, Op::Act(Act::Relu), vec![s]);
        g.outputs.push(y);
        if extra_reader {
            let z = node(&mut g, Op::Act(Act::Relu), vec![b]);
            g.outputs.push(z);
        }
        let arch = crate::arch::Arch::preset("pimcomp-default").unwrap();
        let mut m = Mapping::default();
        for i in [NodeId(0), NodeId(1)] {
            let u =
                crate::mapping::format::unfolding_in(&g, &g.nodes[i], crate::unfold::Format::IK2_O_1, 128, &arch, None)
                    .unwrap();
            m.layers.insert(i, crate::mapping::LayerMap::new(u, 128, &arch));
        }
        for k in 2..g.nodes.len() as u32 {
            m.vector_cores.insert(NodeId(k), vec![crate::arch::CoreId(0)]);
        }
        (g, m)
    }

    #[test]
    fn a_residual_add_and_its_relu_fold_into_the_later_convolution() {
        let (g, m) = block(false);
        let (g2, m2) = residual_adds(&g, &m).expect("the block fuses");
        assert_eq!(g2.nodes.len(), 2);
        let b = &g2.nodes[NodeId(1)];
        assert_eq!(b.inputs, vec![g.nodes[NodeId(1)].inputs[0], g.inputs[0]]);
        assert_eq!(b.output, g.outputs[0]);
        assert!(matches!(&b.op, Op::Conv2d(c) if c.act == Some(Act::Relu)));
        assert_eq!(m2.layers.len(), 2);
        assert!(m2.vector_cores.is_empty());
    }

    #[test]
    fn a_convolution_whose_map_is_read_elsewhere_is_not_fused() {
        let (g, m) = block(true);
        assert!(residual_adds(&g, &m).is_none());
    }
}
