//! The mapping of a graph onto the accelerator, as plain data: what `--partition`,
//! `--replicate` and `--map-cores` decide, and what the scheduler and the estimators read.
//!
//! For every crossbar layer a [`LayerMap`]: how its weights unfold into matrices
//! ([`Unfolding`]), how the matrices are cut into array groups (AGs, the unit of placement:
//! one `mvmul`), how many replicas it has, which core holds each AG, and which output windows
//! each replica computes. For every vector op, the cores that share its work. The mapping
//! refers to graph nodes by [`NodeId`]; it is kept apart from the [`Graph`] so the graph stays
//! the model and the mapping the decision about it.
//!
//! Strategies (how many replicas, where AGs go) are behind the [`replicate::Replicator`] and
//! [`place::Placer`] traits; the passes only pick one by name and run it.

pub mod estimate;
pub mod format;
pub mod period;
pub mod place;
pub mod replicate;
pub mod search;

use crate::arch::{Arch, CoreId};
use crate::graph::{Graph, Node, NodeId, Op};

use crate::unfold::{Format, Unfolding};
use std::collections::BTreeMap;

/// A mapping failure at a node (None: the graph as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapError {
    pub node: Option<NodeId>,
    pub message: String,
}

impl MapError {
    pub fn at(node: NodeId, message: impl Into<String>) -> Self {
        MapError { node: Some(node), message: message.into() }
    }
    pub fn global(message: impl Into<String>) -> Self {
        MapError { node: None, message: message.into() }
    }
}

/// One array group of a replica: a slice of rows and columns of one matrix of the layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgSpec {
    pub matrix: u32,
    pub row_begin: u32,
    pub rows: u32,
    pub col_begin: u32,
    pub cols: u32,
    /// Crossbars side by side, as the architecture counts them ([`Arch::xbars_for_cols`]).
    pub xbars: u32,
}

/// How one crossbar layer is mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerMap {
    pub unfolding: Unfolding,
    /// Matrix rows per array group (at most the crossbar height).
    pub ag_rows: u32,
    /// Matrix columns per array group; 0 for the whole matrix width.
    pub ag_cols: u32,
    /// Columns of one crossbar of the architecture the mapping is for.
    pub xbar_cols: u32,
    /// Counted crossbars per logical one on that architecture ([`Arch::xbars_per_logical`]).
    pub xbars_per_logical: u32,
    /// Copies of the layer's weights (at least 1).
    pub replicas: u32,
    /// The unfolding format was forced (a layer attribute or the `--partition` option): a
    /// search that revisits formats leaves it.
    pub format_fixed: bool,
    /// After `--map-cores`: the core of every array group, replica by replica.
    pub ag_cores: Option<Vec<CoreId>>,
    /// After `--map-cores`: replica `r` computes output windows
    /// `[windows[r], windows[r + 1])` (`replicas + 1` boundaries, from 0 to every window).
    pub windows: Option<Vec<u64>>,
}

impl LayerMap {
    /// One replica, unplaced, for crossbars of `arch`.
    pub fn new(unfolding: Unfolding, ag_rows: u32, arch: &Arch) -> LayerMap {
        LayerMap {
            unfolding,
            ag_rows,
            ag_cols: 0,
            xbar_cols: arch.xbar_cols(),
            xbars_per_logical: arch.xbars_per_logical(),
            replicas: 1,
            format_fixed: false,
            ag_cores: None,
            windows: None,
        }
    }

    /// Counted crossbars of a group of `cols` columns.
    fn xbars_for_cols(&self, cols: u32) -> u32 {
        crate::arch::xbars_for_cols(cols, self.xbar_cols, self.xbars_per_logical)
    }

    /// Columns a group of matrix `m` holds at most.
    fn cols_per_group(&self, m: u32) -> u32 {
        let cols = self.unfolding.shape(m).1;
        if self.ag_cols == 0 {
            cols
        } else {
            self.ag_cols.min(cols)
        }
    }

    /// Crossbars of the widest array group (those of the first matrix).
    pub fn xbars_per_ag(&self) -> u32 {
        self.xbars_for_cols(self.cols_per_group(0))
    }

    /// The array groups of one replica, matrix by matrix, each matrix cut into row slices of
    /// `ag_rows` (and column slices of `ag_cols`).
    pub fn groups(&self) -> Vec<AgSpec> {
        let mut out = vec![];
        for m in 0..self.unfolding.matrices() {
            let (rows, cols) = self.unfolding.shape(m);
            let step_c = self.cols_per_group(m);
            let mut c0 = 0;
            while c0 < cols {
                let nc = step_c.min(cols - c0);
                let mut r0 = 0;
                while r0 < rows {
                    let nr = self.ag_rows.min(rows - r0);
                    out.push(AgSpec {
                        matrix: m,
                        row_begin: r0,
                        rows: nr,
                        col_begin: c0,
                        cols: nc,
                        xbars: self.xbars_for_cols(nc),
                    });
                    r0 += nr.max(1);
                }
                c0 += nc.max(1);
            }
        }
        out
    }

    /// Array groups per replica (without building them).
    pub fn ag_count(&self) -> u64 {
        (0..self.unfolding.matrices())
            .map(|m| {
                let (rows, cols) = self.unfolding.shape(m);
                let step_c = self.cols_per_group(m);
                u64::from(rows.div_ceil(self.ag_rows.max(1))) * u64::from(cols.div_ceil(step_c.max(1)))
            })
            .sum()
    }

    /// Crossbars of one replica.
    pub fn xbars_per_replica(&self) -> u64 {
        self.groups().iter().map(|g| u64::from(g.xbars)).sum()
    }

    /// The core of array group `g` of replica `r`, once placed.
    pub fn core_of(&self, r: u32, g: usize) -> Option<CoreId> {
        let n = self.ag_count() as usize;
        self.ag_cores.as_ref()?.get(r as usize * n + g).copied()
    }

    /// The core that collects replica `r`'s results (the core of its first array group).
    pub fn owner(&self, r: u32) -> Option<CoreId> {
        self.core_of(r, 0)
    }

    /// The cores that collect replica `r`'s results: for each matrix (its own output
    /// channels), the core of its first array group.
    pub fn owners(&self, r: u32) -> Vec<CoreId> {
        let (first, n) = (self.first_group_of_each_matrix(), self.ag_count() as usize);
        self.owners_of(r, &first, n)
    }

    /// The index in a replica of each matrix's first array group.
    fn first_group_of_each_matrix(&self) -> Vec<usize> {
        let mut seen = std::collections::BTreeSet::new();
        self.groups().iter().enumerate().filter(|(_, a)| seen.insert(a.matrix)).map(|(k, _)| k).collect()
    }

    /// [`Self::owners`] with the first groups and the groups per replica computed once (a
    /// search asks for every replica of every layer, many times).
    fn owners_of(&self, r: u32, first: &[usize], n: usize) -> Vec<CoreId> {
        let Some(cores) = self.ag_cores.as_ref() else { return vec![] };
        first.iter().filter_map(|&k| cores.get(r as usize * n + k).copied()).collect()
    }

    /// The windows replica `r` computes.
    pub fn window_range(&self, r: u32) -> Option<(u64, u64)> {
        let w = self.windows.as_ref()?;
        Some((*w.get(r as usize)?, *w.get(r as usize + 1)?))
    }
}

/// The mapping of a whole graph.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mapping {
    /// Crossbar layers (after `--partition`).
    pub layers: BTreeMap<NodeId, LayerMap>,
    /// Vector ops (after `--map-cores`): the cores sharing the op's work, in order. Views
    /// and constants run nowhere (empty).
    pub vector_cores: BTreeMap<NodeId, Vec<CoreId>>,
}

impl Mapping {
    /// The cores that hold node `i`'s finished values: replica owners of a crossbar layer,
    /// or a vector op's cores.
    pub fn output_cores(&self, i: NodeId) -> Vec<CoreId> {
        if let Some(l) = self.layers.get(&i) {
            let (first, n) = (l.first_group_of_each_matrix(), l.ag_count() as usize);
            let mut v: Vec<CoreId> = (0..l.replicas).flat_map(|r| l.owners_of(r, &first, n)).collect();
            v.sort_unstable();
            v.dedup();
            return v;
        }
        self.vector_cores.get(&i).cloned().unwrap_or_default()
    }

    /// The cores that take part in node `i` (every core holding one of its AGs, or its
    /// vector cores), sorted.
    pub fn cores_of(&self, i: NodeId) -> Vec<CoreId> {
        let mut c = match self.layers.get(&i) {
            Some(l) => l.ag_cores.clone().unwrap_or_default(),
            None => self.vector_cores.get(&i).cloned().unwrap_or_default(),
        };
        c.sort_unstable();
        c.dedup();
        c
    }
}

/// A residual add the scheduler runs inside the convolution before it (`sched::fuse`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FusedResidual {
    /// The `Add`, which then has no code of its own.
    pub add: NodeId,
    /// Its other operand, which the convolution loads window by window.
    pub shortcut: crate::graph::ValueId,
    /// A ReLU that only the add feeds: the convolution applies it, and it goes too.
    pub relu: Option<NodeId>,
}

/// The residual adds that fold into the convolution before them, by convolution: an add of
/// two maps of one shape whose later operand (in graph order) a mapped convolution without
/// an activation of its own produces, read by nothing else and no model output. Shared by
/// the scheduler (which rewrites the graph) and the period estimate (which must price what
/// the scheduler emits: a load of the shortcut per window, not the add's three maps).
pub fn fused_residuals(g: &Graph, m: &Mapping) -> BTreeMap<NodeId, FusedResidual> {
    use crate::graph::Act;
    let producers = g.producers();
    let consumers = g.consumers();
    let mut out = BTreeMap::new();
    for (a, n) in g.nodes.iter_enumerated() {
        let (Op::Add, &[x, y]) = (&n.op, n.inputs.as_slice()) else { continue };
        let shape = g.shape(n.output);
        if !matches!(shape, [1, _, _, _]) || g.shape(x) != shape || g.shape(y) != shape || x == y {
            continue;
        }
        // The later operand's producer is the convolution; the other operand comes first.
        let (Some(px), py) = (producers[x], producers[y]) else { continue };
        let (conv, v, s) = match py {
            Some(py) if py > px => (py, y, x),
            _ => (px, x, y),
        };
        let fusable = matches!(&g.nodes[conv].op, Op::Conv2d(c) if c.act.is_none())
            && g.nodes[conv].inputs.len() == 1
            && m.layers.contains_key(&conv)
            && consumers[v].as_slice() == [a]
            && !g.outputs.contains(&v);
        if !fusable {
            continue;
        }
        let relu = match consumers[n.output].as_slice() {
            &[j] if matches!(g.nodes[j].op, Op::Act(Act::Relu))
                && !g.outputs.contains(&n.output)
                && g.shape(g.nodes[j].output) == shape =>
            {
                Some(j)
            }
            _ => None,
        };
        out.insert(conv, FusedResidual { add: a, shortcut: s, relu });
    }
    out
}

/// ReLUs that run inside the element-wise op before them (`Add` or `Mul` of two operands of
/// the output's shape, on the same cores): the op applies it to each chunk before storing
/// it as the ReLU's output, and the ReLU's own pass (a load and a store of the whole map)
/// disappears. Only where the op's result has no other reader and is not a model output.
/// By the element-wise op, the ReLU it runs.
pub fn fused_activations(g: &Graph, m: &Mapping) -> BTreeMap<NodeId, NodeId> {
    let producers = g.producers();
    let consumers = g.consumers();
    let mut out = BTreeMap::new();
    for (j, n) in g.nodes.iter_enumerated() {
        if !matches!(n.op, crate::graph::Op::Act(crate::graph::Act::Relu)) {
            continue;
        }
        let v = n.inputs[0];
        let Some(i) = producers[v] else { continue };
        let p = &g.nodes[i];
        let shape = g.shape(v);
        let fusable = matches!(p.op, crate::graph::Op::Add | crate::graph::Op::Mul)
            && p.inputs.len() == 2
            && p.inputs.iter().all(|&x| g.shape(x) == shape)
            && g.shape(n.output) == shape
            && consumers[v].as_slice() == [j]
            && !g.outputs.contains(&v)
            && m.vector_cores.get(&i).is_some_and(|c| !c.is_empty() && m.vector_cores.get(&j) == Some(c));
        if fusable {
            out.insert(i, j);
        }
    }
    out
}

/// Groups of a grouped convolution packed into one matrix: as many as fit a crossbar in
/// rows and in columns, given the `rows` and `cols` one group's matrix has, at least one.
/// The matrix is block-diagonal: a group's rows meet only its own columns, so packing never
/// pads a group to the whole layer's channels.
pub fn grouped_pack(rows: u32, cols: u32, groups: u32, xbar_rows: u32, xbar_cols: u32) -> u32 {
    let by_rows = xbar_rows / rows.max(1);
    let by_cols = xbar_cols / cols.max(1);
    by_rows.min(by_cols).clamp(1, groups.max(1))
}

/// Output windows (matrix-vector products per sample) of a crossbar layer.
pub fn windows(g: &Graph, node: &Node) -> u64 {
    match node.op {
        Op::Conv2d(_) => {
            let s = g.shape(node.output);
            (s[2].max(0) as u64) * (s[3].max(0) as u64)
        }
        _ => 1,
    }
}

/// The default unfolding of a crossbar layer: `IK2_O_1`; a fully connected layer reading a
/// flattened feature map gets the map's `H x W` as its kernel when `hwc` (the map is stored
/// height-width-channel and the layer's rows follow that order).
pub fn unfolding_of(
    g: &Graph,
    node: &Node,
    format: Format,
    pack: u32,
    hwc: Option<[i64; 3]>,
) -> Result<Unfolding, String> {
    let small = |what: &str, v: i64| u32::try_from(v).map_err(|_| format!("{what} = {v} is out of range"));
    match &node.op {
        Op::Conv2d(c) => {
            let cin = g.shape(node.inputs[0]).get(1).copied().unwrap_or(0);
            let cout = g.shape(node.output).get(1).copied().unwrap_or(0);
            if c.group <= 0 || cin % c.group != 0 || cout % c.group != 0 {
                return Err(format!("group {} must divide {cin} input and {cout} output channels", c.group));
            }
            Unfolding::new(
                format,
                [small("kernel height", c.kernel[0])?, small("kernel width", c.kernel[1])?],
                small("input channels", cin / c.group)?,
                small("output channels", cout / c.group)?,
                small("group", c.group)?,
                pack,
            )
        }
        Op::Fc(_) => {
            let features = g.shape(node.inputs[0]).get(1).copied().unwrap_or(0);
            let out = g.shape(node.output).get(1).copied().unwrap_or(0);
            let (kernel, channels) = match hwc {
                Some([c, h, w]) if c.checked_mul(h).and_then(|x| x.checked_mul(w)) == Some(features) => {
                    ([small("height", h)?, small("width", w)?], c)
                }
                Some(chw) => return Err(format!("a flattened map of {chw:?} does not make {features} features")),
                None => ([1, 1], features),
            };
            if format != Format::IK2_O_1 || pack != 1 {
                return Err(format!("a fully connected layer is unfolded as {} only", Format::IK2_O_1));
            }
            Unfolding::new(format, kernel, small("input features", channels)?, small("output features", out)?, 1, 1)
        }
        other => Err(format!("'{}' is not a crossbar layer", other.mnemonic())),
    }
}

/// When value `v` (a `[1, N]` vector) is a flattened `[1, C, H, W]` feature map, `[C, H, W]`.
/// Feature maps are stored height-width-channel, and flattening is a view, so such a vector
/// keeps that order (also through element-wise ops on it); a fully connected layer reading it
/// takes its rows in that order (see [`unfolding_of`]).
pub fn flattened_map(g: &Graph, v: crate::graph::ValueId) -> Option<[i64; 3]> {
    let producers = g.producers();
    let mut v = v;
    loop {
        let n = &g.nodes[producers[v]?];
        match n.op {
            Op::Flatten { .. } => {
                if let [1, c, h, w] = *g.shape(n.inputs[0]) {
                    return Some([c, h, w]);
                }
                v = n.inputs[0];
            }
            Op::Act(_) | Op::Add | Op::Mul | Op::BatchNorm(_) => v = n.inputs[0],
            _ => return None,
        }
    }
}

/// Checks a mapping against its graph and architecture: every AG placed exactly once on an
/// existing core, per-core crossbar capacity, every window of a layer allocated to exactly one
/// replica. Returns every finding.
pub fn check(g: &Graph, m: &Mapping, arch: &Arch, placed: bool) -> Vec<MapError> {
    let mut out = vec![];
    let cores = arch.core_count();
    let mut used = vec![0u64; cores as usize];
    let mut overfull: BTreeMap<u32, NodeId> = BTreeMap::new();
    for (&i, l) in &m.layers {
        let Some(node) = g.nodes.get(i) else {
            out.push(MapError::global(format!("the mapping names node {i}, which the graph does not have")));
            continue;
        };
        let name = node.op.layer_name().unwrap_or("?");
        if l.replicas == 0 {
            out.push(MapError::at(i, format!("layer '{name}': replicas = 0 must be at least 1")));
            continue;
        }
        if l.ag_rows == 0 || l.ag_rows > arch.xbar_rows() {
            out.push(MapError::at(
                i,
                format!(
                    "layer '{name}': ag_rows = {} must be in 1..={} (the crossbar height)",
                    l.ag_rows,
                    arch.xbar_rows()
                ),
            ));
            continue;
        }
        if !placed {
            continue;
        }
        let n_ag = l.ag_count();
        let Some(ag_cores) = &l.ag_cores else {
            out.push(MapError::at(i, format!("layer '{name}' is not placed on cores")));
            continue;
        };
        let want = n_ag.saturating_mul(u64::from(l.replicas));
        if ag_cores.len() as u64 != want {
            out.push(MapError::at(
                i,
                format!("layer '{name}': {want} array groups but {} cores in ag_cores", ag_cores.len()),
            ));
            continue;
        }
        let groups = l.groups();
        for (k, c) in ag_cores.iter().enumerate() {
            match used.get_mut(c.0 as usize) {
                Some(u) => {
                    *u += u64::from(groups[k % groups.len()].xbars);
                    // The layer that fills a core beyond its crossbars is where the error is.
                    if *u > u64::from(arch.xbars_per_core()) {
                        overfull.entry(c.0).or_insert(i);
                    }
                }
                None => out.push(MapError::at(
                    i,
                    format!("layer '{name}': core {c} does not exist (the architecture has {cores})"),
                )),
            }
        }
        let total = windows(g, node);
        match &l.windows {
            None => out.push(MapError::at(i, format!("layer '{name}' has no window allocation"))),
            Some(w) => {
                let ok = w.len() == l.replicas as usize + 1
                    && w.first() == Some(&0)
                    && w.last() == Some(&total)
                    && w.windows(2).all(|p| p[0] <= p[1]);
                if !ok {
                    out.push(MapError::at(
                        i,
                        format!(
                            "layer '{name}': replica windows {w:?} must rise from 0 to its {total} windows in {} steps (one per replica)",
                            l.replicas
                        ),
                    ));
                }
            }
        }
    }
    if placed {
        for (i, node) in g.nodes.iter_enumerated() {
            if node.op.is_crossbar_layer() {
                if !m.layers.contains_key(&i) {
                    out.push(MapError::at(
                        i,
                        format!("layer '{}' has no partition", node.op.layer_name().unwrap_or("?")),
                    ));
                }
                continue;
            }
            let runs_nowhere = node.op.is_view() || matches!(node.op, Op::Constant { .. });
            match m.vector_cores.get(&i) {
                None => out.push(MapError::at(i, format!("'{}' is not placed on cores", node.op.mnemonic()))),
                Some(c) if c.is_empty() && !runs_nowhere => {
                    out.push(MapError::at(i, format!("'{}' is placed on no core", node.op.mnemonic())))
                }
                Some(c) => {
                    for core in c {
                        if core.0 >= cores {
                            out.push(MapError::at(
                                i,
                                format!(
                                    "'{}': core {core} does not exist (the architecture has {cores})",
                                    node.op.mnemonic()
                                ),
                            ));
                        }
                    }
                }
            }
        }
        for (c, &x) in used.iter().enumerate() {
            if x > u64::from(arch.xbars_per_core()) {
                let message = format!(
                    "core {c} holds array groups of {x} {} but has {}",
                    arch.crossbar_noun(),
                    arch.xbars_per_core()
                );
                out.push(match overfull.get(&(c as u32)) {
                    Some(&i) => MapError::at(i, message),
                    None => MapError::global(message),
                });
            }
        }
    }
    out
}

/// Splits `total` windows among `replicas` in proportion, adjacent windows to the same replica.
pub fn even_windows(total: u64, replicas: u32) -> Vec<u64> {
    let r = u128::from(replicas.max(1));
    (0..=r).map(|k| (u128::from(total) * k / r) as u64).collect()
}

/// A list of cores as text a person reads and edits: runs of one core, `core*count`
/// (`core` alone for a run of one), separated by spaces. `0*64 1*64 2` is 64 entries of
/// core 0, 64 of core 1, one of core 2.
pub fn format_core_runs(cores: &[i64]) -> String {
    let mut out = String::new();
    let mut k = 0;
    while k < cores.len() {
        let run = cores[k..].iter().take_while(|&&c| c == cores[k]).count();
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&cores[k].to_string());
        if run > 1 {
            out.push_str(&format!("*{run}"));
        }
        k += run;
    }
    out
}

/// Reads [`format_core_runs`]' form back; at most `limit` entries (a count from a file is
/// not trusted to size an allocation).
pub fn parse_core_runs(text: &str, limit: usize) -> Result<Vec<i64>, String> {
    let mut out = vec![];
    for token in text.split_whitespace() {
        let (core, count) = match token.split_once('*') {
            Some((c, n)) => (c, n),
            None => (token, "1"),
        };
        let bad = || format!("'{token}' is not a core or core*count (e.g. 3 or 3*64)");
        let core: i64 = core.parse().map_err(|_| bad())?;
        let count: usize = count.parse().map_err(|_| bad())?;
        if count == 0 {
            return Err(format!("'{token}': a run of no cores"));
        }
        if out.len().saturating_add(count) > limit {
            return Err(format!("more than {limit} entries"));
        }
        out.extend(std::iter::repeat_n(core, count));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_runs_read_back_what_they_print() {
        let cores = [0, 0, 0, 1, 2, 2, 0];
        assert_eq!(format_core_runs(&cores), "0*3 1 2*2 0");
        assert_eq!(parse_core_runs("0*3 1 2*2 0", 100).unwrap(), cores);
        assert_eq!(parse_core_runs(" 5*2\n 6 ", 100).unwrap(), [5, 5, 6]);
        assert!(parse_core_runs("1*x", 100).unwrap_err().contains("'1*x'"));
        assert!(parse_core_runs("1*0", 100).is_err());
        assert!(parse_core_runs("1*1000000000000", 100).unwrap_err().contains("more than 100"));
    }

    proptest::proptest! {
        #[test]
        fn core_runs_round_trip(cores in proptest::collection::vec(0i64..6, 0..60)) {
            proptest::prop_assert_eq!(parse_core_runs(&format_core_runs(&cores), 1000).unwrap(), cores);
        }
    }

    #[test]
    fn groups_cut_rows_then_columns() {
        let u = Unfolding::dense([3, 3], 64, 300).unwrap();
        let arch = Arch::preset("pimcomp-default").unwrap();
        let mut l = LayerMap::new(u, 128, &arch);
        let g = l.groups();
        // 576 rows: 4 full groups and one of 64; 300 columns on 3 crossbars.
        assert_eq!(g.len(), 5);
        assert_eq!((g[4].row_begin, g[4].rows, g[4].xbars), (512, 64, 3));
        assert_eq!(l.ag_count(), 5);
        l.ag_cols = 128;
        let g = l.groups();
        assert_eq!(g.len(), 15);
        assert_eq!((g[14].col_begin, g[14].cols, g[14].xbars), (256, 44, 1));
        assert_eq!(l.ag_count(), 15);
    }

    #[test]
    fn physical_crossbars_multiply_every_group() {
        // puma: 16-bit weights in 2-bit cells, 8 physical crossbars per logical one.
        let arch = Arch::preset("puma").unwrap();
        let l = LayerMap::new(Unfolding::dense([3, 3], 64, 300).unwrap(), 128, &arch);
        assert!(l.groups().iter().all(|g| g.xbars == 3 * 8));
        assert_eq!(l.xbars_per_ag(), 24);
    }

    #[test]
    fn windows_split_evenly() {
        assert_eq!(even_windows(10, 3), vec![0, 3, 6, 10]);
        assert_eq!(even_windows(1, 2), vec![0, 0, 1]);
    }
}
