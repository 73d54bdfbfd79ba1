//! Which unfolding format (`crate::unfold`) `--partition` gives a crossbar layer.
//!
//! Per layer, by mode (design brief): `ht` takes the fewest crossbar cycles per sample, then
//! the least input loaded, then the fewest crossbars; `ll` the least local memory a window
//! needs beyond its input and output (the patch and the partial sums), then the fewest
//! cycles. Ties go to the earlier format in [`Format::ALL`], so `ik2_o_1` stays the default
//! where nothing beats it. Only the formats the scheduler runs compete
//! ([`Format::sums_matrices`]); a format a user forces (the layer's `format` attribute, or
//! the pass option) may be any, and the scheduler says when it cannot run it.
//!
//! In the formats that sum matrices one window is one product per array group, so the
//! formats differ in how the kernel's rows are cut into groups: `ik2_o_1` cuts the whole
//! patch into crossbar-high slices, `ik_o_k` cuts each kernel row, `i_o_k2` each kernel
//! position (a crossbar then holds fewer rows, but a packed grouped convolution packs more
//! groups per crossbar).

use super::{grouped_pack, unfolding_of, windows, LayerMap};
use crate::arch::Arch;
use crate::cost::{CostModel, Model};
use crate::graph::{Graph, Node};
use crate::unfold::{Format, Unfolding};

/// What the choice optimizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// High throughput: crossbar cycles, then load volume.
    Ht,
    /// Low latency: extra local memory per window.
    Ll,
}

impl Mode {
    pub fn from_name(s: &str) -> Option<Mode> {
        match s {
            "ht" => Some(Mode::Ht),
            "ll" => Some(Mode::Ll),
            _ => None,
        }
    }
}

/// One format's unfolding of a layer and what it costs per sample (one replica).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatCost {
    pub unfolding: Unfolding,
    /// Crossbar cycles of every array group's products (the pimlir timing model).
    pub cycles: u64,
    /// Input elements loaded into patches.
    pub loads: u64,
    /// Elements of local memory a window needs: the patch and a partial sum per group.
    pub memory: u64,
    /// Crossbars of one replica, as the architecture counts them.
    pub xbars: u64,
}

/// The unfolding of `node` in `format`, packed (grouped convolutions) as the format allows:
/// as many groups per matrix as fit a crossbar of `ag_rows` rows.
pub fn unfolding_in(
    g: &Graph,
    node: &Node,
    format: Format,
    ag_rows: u32,
    arch: &Arch,
    hwc: Option<[i64; 3]>,
) -> Result<Unfolding, String> {
    let one = unfolding_of(g, node, format, 1, hwc)?;
    if one.groups <= 1 {
        return Ok(one);
    }
    let (rows, cols) = one.shape(0);
    unfolding_of(g, node, format, grouped_pack(rows, cols, one.groups, ag_rows, arch.xbar_cols()), hwc)
}

/// What `u` costs `node` per sample.
pub fn cost(g: &Graph, node: &Node, u: Unfolding, ag_rows: u32, arch: &Arch) -> FormatCost {
    let model = CostModel::new(arch, Model::Pimlir);
    let l = LayerMap::new(u, ag_rows, arch);
    let groups = l.groups();
    let products = windows(g, node);
    let per_product: u64 =
        groups.iter().map(|a| model.xbar_cycles(a.rows, a.cols.min(arch.xbar_cols()), arch.activation_bits)).sum();
    let unit_rows: u64 = (0..u.units()).map(|k| u64::from(u.unit_shape(k).0)).sum();
    let psums: u64 = groups.iter().map(|a| u64::from(a.cols)).sum();
    FormatCost {
        unfolding: u,
        cycles: products.saturating_mul(per_product),
        loads: products.saturating_mul(unit_rows),
        memory: unit_rows + psums,
        xbars: groups.iter().map(|a| u64::from(a.xbars)).sum(),
    }
}

/// The unfolding `--partition` gives `node`: `forced` if given, else the best format for
/// `mode` among those the scheduler runs. A fully connected layer is always `ik2_o_1` (its
/// kernel, if any, is a flattened map's), and so is a layer forced to it.
pub fn choose(
    g: &Graph,
    node: &Node,
    ag_rows: u32,
    arch: &Arch,
    hwc: Option<[i64; 3]>,
    mode: Mode,
    forced: Option<Format>,
) -> Result<Unfolding, String> {
    if let Some(f) = forced {
        return unfolding_in(g, node, f, ag_rows, arch, hwc);
    }
    if !matches!(node.op, crate::graph::Op::Conv2d(_)) {
        return unfolding_in(g, node, Format::IK2_O_1, ag_rows, arch, hwc);
    }
    let mut best: Option<(FormatCost, (u64, u64, u64))> = None;
    for f in Format::ALL.into_iter().filter(|f| f.sums_matrices()) {
        let c = cost(g, node, unfolding_in(g, node, f, ag_rows, arch, hwc)?, ag_rows, arch);
        let key = match mode {
            Mode::Ht => (c.cycles, c.loads, c.xbars),
            Mode::Ll => (c.memory, c.cycles, c.xbars),
        };
        if best.as_ref().is_none_or(|(_, k)| key < *k) {
            best = Some((c, key));
        }
    }
    best.map(|(c, _)| c.unfolding).ok_or_else(|| "no unfolding format applies".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Conv2d, Graph, Node, Op, SrcId};

    /// A graph of one convolution: `cin` -> `cout` channels, `k x k`, `groups`, on 8x8.
    fn conv(cin: i64, cout: i64, k: i64, groups: i64) -> Graph {
        let mut g = Graph::new("main");
        let x = g.add_value(vec![1, cin, 8, 8]);
        g.inputs.push(x);
        let c = Conv2d {
            name: "c".into(),
            weight: "c.w".into(),
            bias: None,
            kernel: [k, k],
            strides: [1, 1],
            pads: [k / 2; 4],
            dilations: [1, 1],
            group: groups,
            bn: None,
            act: None,
        };
        let y = g.add_value(vec![1, cout, 8, 8]);
        g.nodes.push(Node { op: Op::Conv2d(c), inputs: vec![x], output: y, src: SrcId::NONE });
        g.outputs.push(y);
        g
    }

    fn layer(g: &Graph) -> &Node {
        g.nodes.iter().find(|n| n.op.is_crossbar_layer()).unwrap()
    }

    #[test]
    fn ht_keeps_ik2_o_1_when_it_has_the_fewest_groups() {
        let arch = Arch::preset("pimcomp-default").unwrap();
        // 3x3 over 100 channels: 900 rows are 8 groups as one patch, 9 cut by kernel row or
        // position; over 128 channels all three make 9 groups and the tie keeps ik2_o_1.
        for cin in [100, 128] {
            let g = conv(cin, 64, 3, 1);
            let n = layer(&g);
            let costs: Vec<FormatCost> = [Format::IK2_O_1, Format::IK_O_K, Format::I_O_K2]
                .into_iter()
                .map(|f| cost(&g, n, unfolding_in(&g, n, f, 128, &arch, None).unwrap(), 128, &arch))
                .collect();
            assert!(costs[0].cycles <= costs[1].cycles && costs[0].cycles <= costs[2].cycles, "{costs:?}");
            let u = choose(&g, n, 128, &arch, None, Mode::Ht, None).unwrap();
            assert_eq!(u.format, Format::IK2_O_1);
        }
    }

    #[test]
    fn a_forced_format_is_taken_and_packs_its_own_way() {
        let arch = Arch::preset("pimcomp-default").unwrap();
        // Depthwise 3x3 over 32 channels: ik2_o_1 packs 14 groups (126 rows); i_o_k2 has one
        // row per group and packs all 32 in each of its 9 matrices.
        let g = conv(32, 32, 3, 32);
        let n = layer(&g);
        let u = choose(&g, n, 128, &arch, None, Mode::Ht, Some(Format::I_O_K2)).unwrap();
        assert_eq!((u.format, u.pack, u.matrices(), u.shape(0)), (Format::I_O_K2, 32, 9, (32, 32)));
        assert_eq!(choose(&g, n, 128, &arch, None, Mode::Ht, None).unwrap().pack, 14);
    }

    #[test]
    fn ll_takes_the_least_memory() {
        let arch = Arch::preset("pimcomp-default").unwrap();
        let g = conv(100, 64, 3, 1);
        let n = layer(&g);
        let u = choose(&g, n, 128, &arch, None, Mode::Ll, None).unwrap();
        let best = Format::ALL
            .into_iter()
            .filter(|f| f.sums_matrices())
            .map(|f| cost(&g, n, unfolding_in(&g, n, f, 128, &arch, None).unwrap(), 128, &arch).memory)
            .min()
            .unwrap();
        assert_eq!(cost(&g, n, u, 128, &arch).memory, best);
    }
}
