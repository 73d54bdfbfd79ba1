//! Which unfolding format (`crate::unfold`) `--partition` gives a crossbar layer.
//!
//! Per layer, by mode (design brief): `ht` takes the least compute time per sample (the
//! products with their local-memory traffic, and the vector adds of partial sums and, in the
//! column formats, of each kernel position into its window; pimlir's timing model) times
//! the crossbars of one replica, then the least input loaded, then the fewest crossbars.
//! Time times crossbars, because replication spends the chip's crossbars: a layer given X
//! of them runs X / xbars replicas, so its time per sample is time x xbars / X (a format
//! twice as fast on twice the crossbars gains nothing once the chip is full; VGG-16's
//! column formats over 64 channels take 9 crossbars where `ik2_o_1` takes 5). `ll` takes
//! the least local memory a window needs beyond its input and output (the patch, the
//! partial sums, the ring), then the least time.
//! Ties go to the earlier format in [`Format::ALL`]. A format whose array group would not
//! fit one core does not compete, nor a column format whose ring of output rows takes more
//! than a quarter of local memory, nor any but `ik2_o_1` for a grouped convolution
//! (measured slower). A user forces one with the layer's `format` attribute or the pass
//! option.
//!
//! In the formats that sum matrices (`ik2_o_1`, `ik_o_k`, `i_o_k2`) a window is one product
//! per array group, and the formats differ in where the kernel's rows are cut into groups.
//! The column formats (`ik_ok_1`, `i_ok2_1`) take one product per input row and output
//! column, or per input pixel: K (or K^2) fewer products over few channels, many crossbars
//! wide, and K (or K^2) vector adds per window. They win where a layer has many input
//! channels and lose badly where it has few (a first layer over 3 channels writes K^2
//! outputs per product for 3 rows of input).

use super::{grouped_pack, unfolding_of, windows, LayerMap};
use crate::arch::Arch;
use crate::cost::{CostModel, Model};
use crate::graph::{Graph, Node, Op};
use crate::isa::VecOp;
use crate::unfold::{Format, Unfolding};

/// What the choice optimizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// High throughput: compute time, then load volume.
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
/// `time_ns` counts the products (input read, crossbars, output write), the vector adds and
/// the input's movement: from global memory per product in the column formats, else once
/// into a band and per window from the band into the patch.
#[derive(Debug, Clone, PartialEq)]
pub struct FormatCost {
    pub unfolding: Unfolding,
    /// Compute time, ns: products (input read, crossbars, output write) and vector adds.
    pub time_ns: f64,
    /// Input elements loaded into patches.
    pub loads: u64,
    /// Elements of local memory a window needs: the patch, a partial sum per group and, in the
    /// column formats, the ring of output rows.
    pub memory: u64,
    /// Bytes of the column formats' ring of output rows (0 in the others).
    pub ring_bytes: u64,
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

/// Products per sample of `node` in `format`: a window's in the formats that sum matrices;
/// in the column formats, the input rows (times output columns, `ik_ok_1`) or pixels
/// (`i_ok2_1`) that some window reads.
pub fn products(g: &Graph, node: &Node, format: Format) -> u64 {
    let out = windows(g, node);
    let Op::Conv2d(c) = &node.op else { return out };
    if format.sums_matrices() {
        return out;
    }
    let (ins, outs) = (g.shape(node.inputs[0]), g.shape(node.output));
    // Input positions along axis `a` that some output position reads.
    let reached = |a: usize| -> u64 {
        let (n, o) = (ins.get(2 + a).copied().unwrap_or(1), outs.get(2 + a).copied().unwrap_or(1));
        (0..n)
            .filter(|&x| {
                (0..c.kernel[a]).any(|k| {
                    let m = x + c.pads[a] - k * c.dilations[a];
                    m >= 0 && m % c.strides[a].max(1) == 0 && m / c.strides[a].max(1) < o
                })
            })
            .count() as u64
    };
    match format {
        Format::I_OK2_1 => reached(0).saturating_mul(reached(1)),
        _ => reached(0).saturating_mul(outs.get(3).copied().unwrap_or(1).max(0) as u64),
    }
}

/// Products a replica computing windows `[w0, w1)` (row-major) of `node` runs in `format`:
/// its windows in the formats that sum matrices; in the column formats the input rows (by
/// output column, `ik_ok_1`) or pixels (`i_ok2_1`) its windows read, so a replica of few
/// windows pays the kernel's overlap (a 3x3 window alone takes 3 or 9 products).
pub fn replica_products(g: &Graph, node: &Node, format: Format, w0: u64, w1: u64) -> u64 {
    let Op::Conv2d(c) = &node.op else { return w1.saturating_sub(w0) };
    if format.sums_matrices() || w1 <= w0 {
        return w1.saturating_sub(w0);
    }
    let (ins, outs) = (g.shape(node.inputs[0]), g.shape(node.output));
    let dim = |s: &[i64], k: usize| s.get(k).copied().unwrap_or(1).max(1);
    let ow_n = dim(outs, 3) as u64;
    // Input positions along axis `a` some output position in `[o0, o1]` reads.
    let reached = |a: usize, o0: i64, o1: i64| -> u64 {
        let (s, d, p) = (c.strides[a].max(1), c.dilations[a].max(1), c.pads[a]);
        let (lo, hi) = ((o0 * s - p).max(0), (o1 * s - p + (c.kernel[a] - 1).max(0) * d).min(dim(ins, 2 + a) - 1));
        (lo..=hi)
            .filter(|&x| {
                (0..c.kernel[a]).any(|k| {
                    let m = x + p - k * d;
                    m >= 0 && m % s == 0 && (o0..=o1).contains(&(m / s))
                })
            })
            .count() as u64
    };
    let (oh0, ow0) = ((w0 / ow_n) as i64, (w0 % ow_n) as i64);
    let (oh1, ow1) = (((w1 - 1) / ow_n) as i64, ((w1 - 1) % ow_n) as i64);
    let last_col = ow_n as i64 - 1;
    match format {
        Format::I_OK2_1 if oh0 == oh1 => reached(0, oh0, oh0).saturating_mul(reached(1, ow0, ow1)),
        Format::I_OK2_1 => {
            // The union of three blocks of windows: the rest of the first row, the full rows
            // between, the start of the last row. Per input row, the columns the blocks
            // reaching it read (an interval each: a kernel at least as wide as its stride).
            let blocks = [(oh0, oh0, ow0, last_col), (oh0 + 1, oh1 - 1, 0, last_col), (oh1, oh1, 0, ow1)];
            let (s, d, p) = (c.strides[0].max(1), c.dilations[0].max(1), c.pads[0]);
            let reaches = |y: i64, a: i64, b: i64| {
                b >= a
                    && (0..c.kernel[0]).any(|k| {
                        let m = y + p - k * d;
                        m >= 0 && m % s == 0 && (a..=b).contains(&(m / s))
                    })
            };
            let (sx, dx, px) = (c.strides[1].max(1), c.dilations[1].max(1), c.pads[1]);
            let width = dim(ins, 3);
            let cols = |c0: i64, c1: i64| {
                ((c0 * sx - px).max(0), (c1 * sx - px + (c.kernel[1] - 1).max(0) * dx).min(width - 1))
            };
            let (lo, hi) = ((oh0 * s - p).max(0), (oh1 * s - p + (c.kernel[0] - 1).max(0) * d).min(dim(ins, 2) - 1));
            let mut total = 0u64;
            for y in lo..=hi {
                let mut spans: Vec<(i64, i64)> =
                    blocks.iter().filter(|b| reaches(y, b.0, b.1)).map(|b| cols(b.2, b.3)).collect();
                spans.sort_unstable();
                let mut end = -1;
                for (a, b) in spans {
                    let a = a.max(end + 1);
                    if b >= a {
                        total = total.saturating_add((b - a + 1) as u64);
                        end = b;
                    }
                }
            }
            total
        }
        // By output column: the rows of the windows of that column in the range.
        _ if oh0 == oh1 => reached(0, oh0, oh0).saturating_mul((ow1 - ow0 + 1) as u64),
        _ => {
            // Columns ow0.. start at row oh0, the others at oh0 + 1; columns ..=ow1 end at
            // row oh1, the others at oh1 - 1: four classes of columns.
            let mut total = 0u64;
            for (starts, ends) in [(true, true), (true, false), (false, true), (false, false)] {
                let n = (0..=last_col).filter(|&x| (x >= ow0) == starts && (x <= ow1) == ends).count() as u64;
                let (top, bottom) = (if starts { oh0 } else { oh0 + 1 }, if ends { oh1 } else { oh1 - 1 });
                if n > 0 && bottom >= top {
                    total = total.saturating_add(n.saturating_mul(reached(0, top, bottom)));
                }
            }
            total
        }
    }
}

/// What `u` costs `node` per sample.
pub fn cost(g: &Graph, node: &Node, u: Unfolding, ag_rows: u32, arch: &Arch) -> FormatCost {
    let model = CostModel::new(arch, Model::Pimlir);
    let l = LayerMap::new(u, ag_rows, arch);
    let groups = l.groups();
    let products = products(g, node, u.format);
    let (ibiw, eb) = (arch.activation_bits, u64::from(arch.activation_bytes()));
    let local = &model.local;
    let vadd = |len: u32| {
        let (rb, wb) = model.vector_bytes(VecOp::Vvadd, len, ibiw, ibiw);
        2.0 * local.read_ns(rb / 2) + model.vector_ns(len) + local.write_ns(wb)
    };
    let mut per_product = 0.0;
    for a in &groups {
        per_product += model.mvmul_ns(a.rows, a.cols, a.xbars, ibiw, ibiw, arch.weight_bits);
    }
    // Partial sums: every group of a unit but its first adds into the first.
    for k in 0..u.units() {
        let (_, cols) = u.unit_shape(k);
        let n = groups.iter().filter(|a| u.unit_of(a.matrix) == k).count().saturating_sub(1);
        per_product += n as f64 * vadd(cols);
    }
    // Column formats: each window adds one vector per kernel position (per kernel row).
    let taps = match u.format {
        Format::I_OK2_1 => u.kernel_area(),
        Format::IK_OK_1 => u64::from(u.kernel[0]),
        _ => 0,
    };
    let scatter: f64 = (0..u.units()).map(|k| vadd(u.output_channels_of(u.first_matrix(k)).1)).sum::<f64>()
        * (taps * windows(g, node)) as f64;
    let unit_rows: u64 = (0..u.units()).map(|k| u64::from(u.unit_shape(k).0)).sum();
    let psums: u64 = groups.iter().map(|a| u64::from(a.cols)).sum();
    // Input: the column formats load each product's rows from global memory; the others
    // load the input once into a band and copy each window's patch out of it.
    let global = &model.global;
    let patch_bytes = unit_rows * eb;
    let input_ns = if u.format.sums_matrices() {
        let input_bytes = g.shape(node.inputs[0]).iter().map(|&d| d.max(1) as u64).product::<u64>() * eb;
        products as f64 * (local.read_ns(patch_bytes) + local.write_ns(patch_bytes))
            + global.read_ns(input_bytes)
            + local.write_ns(input_bytes)
    } else {
        products as f64 * (global.read_ns(patch_bytes) + local.write_ns(patch_bytes))
    };
    // The ring: the output rows one input row reaches, a row of the unit's outputs each
    // (sched::emit::scatter).
    let ring = match &node.op {
        Op::Conv2d(c) if !u.format.sums_matrices() => {
            let reach = (c.kernel[0] - 1).max(0) * c.dilations[0] + 1;
            let rows = (reach + c.strides[0].max(1) - 1) / c.strides[0].max(1);
            let width = g.shape(node.output).get(3).copied().unwrap_or(1);
            // Shapes come from files: saturate rather than overflow.
            (rows.saturating_mul(width).max(0) as u64).saturating_mul(u64::from(u.output_channels_of(0).1))
        }
        _ => 0,
    };
    FormatCost {
        unfolding: u,
        time_ns: products as f64 * per_product + scatter + input_ns,
        loads: products.saturating_mul(unit_rows).saturating_mul(eb),
        memory: unit_rows + psums + ring,
        ring_bytes: ring.saturating_mul(eb),
        xbars: groups.iter().map(|a| u64::from(a.xbars)).sum(),
    }
}

/// The unfoldings of a convolution the choice (and the replication search) may take, in
/// [`Format::ALL`] order: every format whose array group fits one core and, in the column
/// formats, whose ring of output rows takes at most a quarter of local memory; for a grouped
/// convolution `ik2_o_1` only, whose packing and bands were tuned on them (the model prefers
/// other formats for their fewer crossbars, and the pipeline loses: pimcomp-default, balance,
/// 4 samples, samples/s: column formats allowed, MobileNetV2 101.8 -> 59.4, EfficientNet-B0
/// 53.3 -> 25.5, ResNeXt-50 31.4 -> 24.6; ik_o_k allowed, ResNeXt-50 -> 25.8).
pub fn candidates(
    g: &Graph,
    node: &Node,
    ag_rows: u32,
    arch: &Arch,
    hwc: Option<[i64; 3]>,
) -> Result<Vec<Unfolding>, String> {
    let mut out = vec![];
    for f in Format::ALL {
        let u = unfolding_in(g, node, f, ag_rows, arch, hwc)?;
        if u.groups > 1 && f != Format::IK2_O_1 {
            continue;
        }
        let c = cost(g, node, u, ag_rows, arch);
        if LayerMap::new(u, ag_rows, arch).xbars_per_ag() > arch.xbars_per_core()
            || c.ring_bytes > arch.local_memory_bytes() / 4
        {
            continue;
        }
        out.push(u);
    }
    Ok(out)
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
    let mut best: Option<(FormatCost, (f64, f64, u64))> = None;
    for u in candidates(g, node, ag_rows, arch, hwc)? {
        let c = cost(g, node, u, ag_rows, arch);
        let key = match mode {
            // Replication spends the chip's crossbars: a layer given X of them runs X / xbars
            // replicas, so its time per sample is time x xbars / X.
            Mode::Ht => (c.time_ns * c.xbars as f64, c.loads as f64, c.xbars),
            Mode::Ll => (c.memory as f64, c.time_ns, c.xbars),
        };
        if best.as_ref().is_none_or(|(_, k)| key < *k) {
            best = Some((c, key));
        }
    }
    best.map(|(c, _)| c.unfolding).ok_or_else(|| "no unfolding format applies".to_string())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::graph::{Conv2d, Graph, Node, NodeId, Op, SrcId};

    /// A graph of one convolution: `cin` -> `cout` channels, `k x k`, `groups`, on 8x8.
    pub(crate) fn conv(cin: i64, cout: i64, k: i64, groups: i64) -> Graph {
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

    /// A graph of one convolution `cin` -> `cout`, `k x k` at stride 1 on `hw x hw`.
    fn conv_on(cin: i64, cout: i64, k: i64, hw: i64) -> Graph {
        let mut g = conv(cin, cout, k, 1);
        g.values[g.inputs[0]].shape = vec![1, cin, hw, hw];
        let out = g.outputs[0];
        g.values[out].shape = vec![1, cout, hw, hw];
        g
    }

    #[test]
    fn ht_takes_the_least_time_times_crossbars_that_fits() {
        let arch = Arch::preset("pimcomp-default").unwrap();
        for (cin, cout, k, hw) in [(3, 64, 7, 32), (64, 64, 3, 28), (256, 256, 3, 14), (100, 64, 3, 8)] {
            let g = conv_on(cin, cout, k, hw);
            let n = layer(&g);
            let chosen = choose(&g, n, 128, &arch, None, Mode::Ht, None).unwrap();
            let area_time = |c: &FormatCost| c.time_ns * c.xbars as f64;
            let t = area_time(&cost(&g, n, chosen, 128, &arch));
            for f in Format::ALL {
                let c = cost(&g, n, unfolding_in(&g, n, f, 128, &arch, None).unwrap(), 128, &arch);
                let fits = LayerMap::new(c.unfolding, 128, &arch).xbars_per_ag() <= arch.xbars_per_core()
                    && c.ring_bytes <= arch.local_memory_bytes() / 4;
                assert!(!fits || t <= area_time(&c), "{cin}->{cout} {k}x{k}: {} beats {}", f, chosen.format);
            }
        }
        // Three input channels: a product per pixel writes 49 x 64 outputs for 3 rows of input;
        // 256 channels: a 3x3 window is 18 products as one patch, 2 per pixel.
        let first = conv_on(3, 64, 7, 32);
        assert_eq!(choose(&first, layer(&first), 128, &arch, None, Mode::Ht, None).unwrap().format, Format::IK2_O_1);
        let deep = conv_on(256, 256, 3, 14);
        let f = choose(&deep, layer(&deep), 128, &arch, None, Mode::Ht, None).unwrap().format;
        assert!(!f.sums_matrices(), "{f}");
    }

    #[test]
    fn a_forced_format_is_taken_and_packs_its_own_way() {
        let arch = Arch::preset("pimcomp-default").unwrap();
        // Depthwise 3x3 over 32 channels: ik2_o_1 packs 14 groups (126 rows) into 3 matrices;
        // i_o_k2 has one row per group and packs all 32 in each of its 9 matrices; ik_ok_1
        // (3 rows, 3 columns per group) packs all 32 into one 96 x 96 crossbar.
        let g = conv(32, 32, 3, 32);
        let n = layer(&g);
        let u = choose(&g, n, 128, &arch, None, Mode::Ht, Some(Format::I_O_K2)).unwrap();
        assert_eq!((u.format, u.pack, u.matrices(), u.shape(0)), (Format::I_O_K2, 32, 9, (32, 32)));
        let u = choose(&g, n, 128, &arch, None, Mode::Ht, Some(Format::IK2_O_1)).unwrap();
        assert_eq!((u.pack, u.matrices()), (14, 3));
        let u = choose(&g, n, 128, &arch, None, Mode::Ht, Some(Format::IK_OK_1)).unwrap();
        assert_eq!((u.format, u.pack, u.matrices(), u.shape(0)), (Format::IK_OK_1, 32, 1, (96, 96)));
        // Unforced, a grouped convolution keeps ik2_o_1.
        assert_eq!(choose(&g, n, 128, &arch, None, Mode::Ht, None).unwrap().format, Format::IK2_O_1);
    }

    #[test]
    fn column_formats_count_products_per_input_row_or_pixel() {
        // 3x3, stride 2, pad 1 on 8x8: 16 windows; every input row and pixel is read.
        let mut g = conv(4, 4, 3, 1);
        let out = g.outputs[0];
        g.values[out].shape = vec![1, 4, 4, 4];
        if let Op::Conv2d(c) = &mut g.nodes[NodeId(0)].op {
            c.strides = [2, 2];
        }
        let n = layer(&g);
        assert_eq!(products(&g, n, Format::IK2_O_1), 16);
        assert_eq!(products(&g, n, Format::I_O_K2), 16);
        assert_eq!(products(&g, n, Format::IK_OK_1), 8 * 4);
        assert_eq!(products(&g, n, Format::I_OK2_1), 8 * 8);
        // A 1x1 kernel at stride 2 reads every other row and column.
        let mut g = conv(4, 4, 1, 1);
        g.values[out].shape = vec![1, 4, 4, 4];
        if let Op::Conv2d(c) = &mut g.nodes[NodeId(0)].op {
            c.strides = [2, 2];
        }
        assert_eq!(products(&g, layer(&g), Format::I_OK2_1), 16);
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

    /// A replica's products in the column formats are the input rows (by output column) or
    /// pixels its windows read: checked against the sets themselves for every range of
    /// windows of a 3x3 convolution on 8x8 (padding 1); the whole range is the layer's.
    #[test]
    fn replica_products_count_what_the_windows_read() {
        let g = conv(16, 16, 3, 1);
        let n = layer(&g);
        for f in Format::ALL {
            assert_eq!(replica_products(&g, n, f, 0, 64), products(&g, n, f), "{f:?}");
        }
        for w0 in 0..64u64 {
            for w1 in w0 + 1..=64 {
                let (mut rows, mut pixels) = (std::collections::BTreeSet::new(), std::collections::BTreeSet::new());
                for w in w0..w1 {
                    let (oh, ow) = ((w / 8) as i64, (w % 8) as i64);
                    for y in (oh - 1..=oh + 1).filter(|y| (0..8).contains(y)) {
                        rows.insert((y, ow));
                        pixels.extend((ow - 1..=ow + 1).filter(|x| (0..8).contains(x)).map(|x| (y, x)));
                    }
                }
                assert_eq!(replica_products(&g, n, Format::IK_OK_1, w0, w1), rows.len() as u64, "[{w0}, {w1})");
                assert_eq!(replica_products(&g, n, Format::I_OK2_1, w0, w1), pixels.len() as u64, "[{w0}, {w1})");
                assert_eq!(replica_products(&g, n, Format::IK2_O_1, w0, w1), w1 - w0);
            }
        }
        // A lone interior window: 3 rows, 9 pixels.
        assert_eq!(replica_products(&g, n, Format::IK_OK_1, 9, 10), 3);
        assert_eq!(replica_products(&g, n, Format::I_OK2_1, 9, 10), 9);
    }
}
