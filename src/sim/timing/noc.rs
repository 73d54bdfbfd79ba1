//! The network on chip: how long a message takes from one node (a core, or global memory) to
//! another, and what it costs.
//!
//! Two forms. A **table** is pimsim-nn's NoC file (`network_config.net_config_file_path`): a
//! latency per flit and an energy per flit for every ordered pair of nodes, and nothing else
//! (no contention between messages of different sources). A **mesh** is derived from the
//! architecture's core layout: XY routing over links that carry one flit per cycle each, a
//! router delay per hop, and link contention (a link carries one message at a time), which
//! is what pimlir's own timing model uses. Under the pimsim-compat model a mesh stands in for
//! a missing table with pimsim-nn-like per-flit latencies (no contention).

use crate::arch::{Arch, CoreId};
use crate::diag::{Error, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A NoC endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Node {
    Core(CoreId),
    Global,
}

impl std::fmt::Display for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Node::Core(c) => write!(f, "core {c}"),
            Node::Global => f.write_str("global memory"),
        }
    }
}

/// pimsim-nn's NoC table.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// ns per flit and pJ per flit, by (source, destination).
    latency: HashMap<(Node, Node), f64>,
    energy: HashMap<(Node, Node), f64>,
    pub file: String,
}

/// A 2-D mesh with XY routing.
#[derive(Debug, Clone, PartialEq)]
pub struct Mesh {
    pub cols: u32,
    pub rows: u32,
    /// Router plus link delay per hop, ns.
    pub hop_ns: f64,
    /// Time a link takes per flit, ns.
    pub flit_ns: f64,
    /// Energy per flit per hop, pJ.
    pub hop_energy: f64,
    /// The router global memory hangs off (core 0's).
    pub global_at: (u32, u32),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Noc {
    Table(Table),
    Mesh(Mesh),
}

impl Noc {
    /// The NoC of `arch`: the table its config names (`config_path` is where the config was
    /// read from; the table's path is relative to it), else a mesh from its core layout.
    pub fn for_arch(arch: &Arch, config_path: Option<&Path>) -> Result<Noc> {
        let named = &arch.network.net_config_file_path;
        if !named.is_empty() {
            let base = config_path.and_then(Path::parent).unwrap_or(Path::new("."));
            let path = base.join(named);
            if let Err(e) = std::fs::metadata(&path) {
                let config = config_path.map_or_else(|| arch.name.clone(), |c| c.display().to_string());
                return Err(Error::new(format!(
                    "network_config.net_config_file_path names the NoC table {}, which cannot be read: {e} (the path is relative to the config file)",
                    path.display()
                ))
                .in_file(&config));
            }
            return Ok(Noc::Table(Table::load(&path)?));
        }
        Ok(Noc::Mesh(Mesh::of(arch)))
    }

    pub fn describe(&self) -> String {
        match self {
            Noc::Table(t) => format!("NoC table {}", t.file),
            Noc::Mesh(m) => format!("{}x{} mesh, XY routing", m.cols, m.rows),
        }
    }
}

impl Table {
    pub fn load(path: &PathBuf) -> Result<Table> {
        let shown = path.display().to_string();
        let f = std::fs::File::open(path).map_err(|e| {
            Error::new(format!(
                "cannot read the NoC table (network_config.net_config_file_path, relative to the config): {e}"
            ))
            .in_file(&shown)
        })?;
        let text = crate::limits::read_text(f, 256 << 20)
            .map_err(|e| Error::new(format!("cannot read the NoC table: {e}")).in_file(&shown))?;
        Table::parse(&text, &shown)
    }

    pub fn parse(text: &str, file: &str) -> Result<Table> {
        type Grid = HashMap<String, HashMap<String, f64>>;
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Json {
            latency: Grid,
            #[serde(default)]
            energy: Grid,
        }
        let j: Json = serde_json::from_str(text).map_err(|e| {
            Error::new(format!("not a NoC table ({{\"latency\": ..., \"energy\": ...}}): {e}")).in_file(file)
        })?;
        let node = |k: &str| -> Result<Node> {
            match k.parse::<i64>() {
                Ok(-10) => Ok(Node::Global),
                Ok(c) if (0..=i64::from(u32::MAX)).contains(&c) => Ok(Node::Core(CoreId(c as u32))),
                _ => {
                    Err(Error::new(format!("NoC table: '{k}' is not a node (a core number, or -10 for global memory)"))
                        .in_file(file))
                }
            }
        };
        let grid = |g: &Grid, what: &str| -> Result<HashMap<(Node, Node), f64>> {
            let mut out = HashMap::new();
            for (s, row) in g {
                let from = node(s)?;
                for (d, &v) in row {
                    if !v.is_finite() || v < 0.0 {
                        return Err(Error::new(format!("NoC table: {what} from {s} to {d} is {v}")).in_file(file));
                    }
                    out.insert((from, node(d)?), v);
                }
            }
            Ok(out)
        };
        Ok(Table { latency: grid(&j.latency, "latency")?, energy: grid(&j.energy, "energy")?, file: file.to_string() })
    }

    /// ns per flit from `s` to `d` (0 to itself).
    pub fn latency(&self, s: Node, d: Node) -> Result<f64, String> {
        if s == d {
            return Ok(0.0);
        }
        self.latency
            .get(&(s, d))
            .copied()
            .ok_or_else(|| format!("the NoC table {} has no latency from {s} to {d}", self.file))
    }

    /// Every pair of nodes `p` sends messages between has a latency (the table is the whole
    /// NoC model: a missing pair would make its messages free).
    /// `responses`: load data comes back over the NoC (pimlir's model; pimsim-nn's is free).
    pub fn check_program(&self, p: &crate::isa::Program, responses: bool) -> Result<()> {
        use crate::isa::Inst;
        let mut missing = vec![];
        for c in &p.cores {
            let me = Node::Core(c.id);
            let mut seen = std::collections::HashSet::new();
            crate::isa::visit_insts(&c.body, &mut |inst, line| {
                // A send posts a ready message and gets the receiver's answer; ld and st talk
                // to global memory both ways.
                let pairs: &[(Node, Node)] = match inst {
                    Inst::Send { core, .. } => &[(me, Node::Core(*core)), (Node::Core(*core), me)],
                    Inst::Ld { .. } if responses => &[(me, Node::Global), (Node::Global, me)],
                    Inst::Ld { .. } | Inst::St { .. } => &[(me, Node::Global)],
                    _ => &[],
                };
                for &(s, d) in pairs {
                    if seen.insert((s, d)) {
                        if let Err(why) = self.latency(s, d) {
                            let at =
                                format!(" (needed by core {}'s {}{})", c.id, inst.info().mnemonic, p.at_line(line));
                            missing.push(format!("{why}{at}"));
                        }
                    }
                }
            });
        }
        match missing.len() {
            0 => Ok(()),
            n => {
                let more = if n > 1 { format!("; and {} more pair(s)", n - 1) } else { String::new() };
                Err(Error::new(format!("{}{more}", missing[0])))
            }
        }
    }

    pub fn energy(&self, s: Node, d: Node) -> f64 {
        self.energy.get(&(s, d)).copied().unwrap_or(0.0)
    }
}

impl Mesh {
    /// The mesh of `arch`'s cores: its `layout` if given, else the squarest grid that holds
    /// every core. A router hop takes two core cycles (switch, link), a link a cycle per flit.
    pub fn of(arch: &Arch) -> Mesh {
        let n = arch.core_count().max(1);
        let [lx, ly] = arch.network.layout;
        let (cols, rows) = if lx > 0 && ly > 0 && u64::from(lx) * u64::from(ly) >= u64::from(n) {
            (lx, ly)
        } else {
            let cols = (f64::from(n).sqrt().ceil() as u32).max(1);
            (cols, n.div_ceil(cols))
        };
        let p = arch.core.period;
        Mesh { cols, rows, hop_ns: 2.0 * p, flit_ns: p, hop_energy: 0.0, global_at: (0, 0) }
    }

    pub fn position(&self, n: Node) -> (u32, u32) {
        match n {
            Node::Core(c) => (c.0 % self.cols, c.0 / self.cols),
            Node::Global => self.global_at,
        }
    }

    /// Manhattan hops from `s` to `d` (global memory is one hop off its router).
    pub fn hops(&self, s: Node, d: Node) -> u32 {
        if s == d {
            return 0;
        }
        let ((x0, y0), (x1, y1)) = (self.position(s), self.position(d));
        let g = u32::from(s == Node::Global) + u32::from(d == Node::Global);
        x0.abs_diff(x1) + y0.abs_diff(y1) + g
    }

    /// The links of the XY route from `s` to `d`, as (router, direction) ids.
    pub fn route(&self, s: Node, d: Node, out: &mut Vec<u32>) {
        out.clear();
        if s == d {
            return;
        }
        let (mut x, mut y) = self.position(s);
        let (x1, y1) = self.position(d);
        let id = |x: u32, y: u32, dir: u32| (y * self.cols + x) * 6 + dir;
        if s == Node::Global {
            out.push(id(x, y, 4)); // global memory into its router
        }
        while x != x1 {
            let dir = if x < x1 { 0 } else { 1 };
            out.push(id(x, y, dir));
            x = if x < x1 { x + 1 } else { x - 1 };
        }
        while y != y1 {
            let dir = if y < y1 { 2 } else { 3 };
            out.push(id(x, y, dir));
            y = if y < y1 { y + 1 } else { y - 1 };
        }
        if d == Node::Global {
            out.push(id(x, y, 5)); // router out to global memory
        }
    }

    /// pimsim-nn-like latency per flit for the compat model without a table: 2 ns per hop
    /// plus 2 (the example table's nearest neighbours take 4, the next 6, 8, 10).
    pub fn compat_latency(&self, s: Node, d: Node) -> f64 {
        if s == d {
            0.0
        } else {
            2.0 * f64::from(self.hops(s, d)) + 2.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_reads_pimsim_nn_ids() {
        let t = Table::parse(
            r#"{"latency": {"-10": {"0": 15}, "0": {"-10": 15, "1": 4}}, "energy": {"0": {"1": 2.5}}}"#,
            "n.json",
        )
        .unwrap();
        assert_eq!(t.latency(Node::Core(CoreId(0)), Node::Core(CoreId(1))), Ok(4.0));
        assert_eq!(t.latency(Node::Global, Node::Core(CoreId(0))), Ok(15.0));
        assert!(t.latency(Node::Core(CoreId(1)), Node::Core(CoreId(0))).unwrap_err().contains("from core 1 to core 0"));
        assert_eq!(t.energy(Node::Core(CoreId(0)), Node::Core(CoreId(1))), 2.5);
        let e = Table::parse(r#"{"latency": {"x": {}}}"#, "n.json").unwrap_err().to_string();
        assert!(e.contains("'x' is not a node"), "{e}");
    }

    #[test]
    fn mesh_routes_x_then_y() {
        let m = Mesh { cols: 4, rows: 4, hop_ns: 2.0, flit_ns: 1.0, hop_energy: 0.0, global_at: (0, 0) };
        let (a, b) = (Node::Core(CoreId(1)), Node::Core(CoreId(14)));
        assert_eq!(m.hops(a, b), 4);
        let mut r = vec![];
        m.route(a, b, &mut r);
        assert_eq!(r.len(), 4);
        assert_eq!(m.hops(Node::Global, Node::Core(CoreId(0))), 1);
        m.route(Node::Global, Node::Core(CoreId(0)), &mut r);
        assert_eq!(r.len(), 1);
    }
}
