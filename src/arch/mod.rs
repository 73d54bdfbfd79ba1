//! The accelerator description shared by the compiler and the simulator.
//!
//! One structure, read from one file (or a preset): crossbar geometry for partitioning, core
//! counts and capacities for mapping, memory sizes for allocation, and the timing parameters
//! for simulation. The file format is PIMCOMP-NN/pimsim-nn's config JSON, read as is, plus an
//! optional `pimlir` section.

mod config_json;
mod presets;

use crate::diag::{Error, Result};
use config_json::*;
use std::path::Path;

pub use presets::PRESETS;

crate::id_type!(
    /// A core of the accelerator, numbered from 0 across all chips: what placements,
    /// programs, transfers and the simulator call a core.
    CoreId
);

#[derive(Debug, Clone, PartialEq)]
pub struct MatrixConfig {
    pub xbar_array_count: u32,
    pub period: f64,
    pub pipeline_mode: bool,
    pub dac_resolution: u32,
    pub dac_latency_cycle: u32,
    pub dac_static_power: f64,
    pub dac_dynamic_power: f64,
    pub dac_count: u32,
    /// Rows x columns of one crossbar.
    pub xbar_size: [u32; 2],
    pub cell_precision: u32,
    pub xbar_latency: f64,
    pub xbar_read_power: f64,
    pub sample_hold_latency_cycle: u32,
    pub sample_hold_static_power: f64,
    pub sample_hold_dynamic_power: f64,
    pub adc_resolution: u32,
    pub adc_latency_cycle: u32,
    pub adc_static_power: f64,
    pub adc_dynamic_power: f64,
    pub adc_count: u32,
    pub shift_adder_latency_cycle: u32,
    pub shift_adder_static_power: f64,
    pub shift_adder_dynamic_power: f64,
    pub input_buffer_latency_cycle: u32,
    pub input_buffer_static_power: f64,
    pub input_buffer_dynamic_power: f64,
    pub output_buffer_latency_cycle: u32,
    pub output_buffer_static_power: f64,
    pub output_buffer_dynamic_power: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MemoryConfig {
    /// Capacity in bytes.
    pub memory_size: u64,
    /// Bytes per access beat.
    pub data_width: u32,
    pub period: f64,
    pub static_power: f64,
    pub write_latency_cycle: u32,
    pub write_dynamic_energy: f64,
    pub read_latency_cycle: u32,
    pub read_dynamic_energy: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    Mesh,
    Bus,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NetworkConfig {
    pub topology: Topology,
    /// Bytes per flit.
    pub bus_width: u32,
    pub layout: [u32; 2],
    pub net_config_file_path: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CoreConfig {
    pub period: f64,
    pub matrix: MatrixConfig,
    pub vector_width: u32,
    pub vector_latency_cycle: u32,
    pub local_memory: MemoryConfig,
    pub rob_size: u32,
    /// Power and energy figures of the core's other units.
    pub powers: CorePowers,
}

/// Static powers (mW) and dynamic powers (mW, while busy) or energies (pJ, per access) of a
/// core's units other than the crossbars, as pimsim-nn's config names them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CorePowers {
    pub controller_static_power: f64,
    pub controller_dynamic_power: f64,
    pub inst_fetch_static_power: f64,
    pub inst_fetch_dynamic_power: f64,
    pub inst_decode_static_power: f64,
    pub inst_decode_dynamic_power: f64,
    pub inst_decode_offset_static_power: f64,
    pub inst_decode_offset_dynamic_power: f64,
    pub reg_file_static_power: f64,
    pub reg_file_read_dynamic_power: f64,
    pub reg_file_write_dynamic_power: f64,
    pub scalar_static_power: f64,
    pub scalar_dynamic_power: f64,
    pub vector_alu_static_power: f64,
    pub vector_alu_dynamic_energy: f64,
    pub vector_reg_static_power: f64,
    pub vector_reg_read_dynamic_energy: f64,
    pub vector_reg_write_dynamic_energy: f64,
    pub transfer_static_power: f64,
    pub transfer_dynamic_power: f64,
}

impl CorePowers {
    /// Sum of the static powers (mW).
    pub fn static_power(&self) -> f64 {
        self.controller_static_power
            + self.inst_fetch_static_power
            + self.inst_decode_static_power
            + self.inst_decode_offset_static_power
            + self.reg_file_static_power
            + self.scalar_static_power
            + self.vector_alu_static_power
            + self.vector_reg_static_power
            + self.transfer_static_power
    }
}

/// How crossbars are counted. A logical crossbar stores `xbar_size` weights of full
/// precision (PIMCOMP-NN and pimsim-nn count these: the slicing into `cell_precision`-bit
/// cells shows only in their timing). Physical crossbars are the arrays of the hardware: a
/// weight of `weight_bits` spans ceil(weight_bits / cell_precision) cells, one in each of
/// that many crossbars side by side (PUMA's MVMU, ISAAC's IMA), which share the input and
/// are read together; so one logical crossbar takes that many physical ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CrossbarCount {
    Logical,
    Physical,
}

impl CrossbarCount {
    pub fn name(self) -> &'static str {
        match self {
            CrossbarCount::Logical => "logical",
            CrossbarCount::Physical => "physical",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    pub sim_mode: u32,
    pub sim_time: f64,
    pub report_verbose_level: u32,
}

/// A resolved accelerator configuration: every value concrete, the defaulted ones recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Arch {
    pub name: String,
    pub chips: u32,
    /// Cores per chip (`core_cnt`).
    pub cores_per_chip: u32,
    pub core: CoreConfig,
    pub global_memory: MemoryConfig,
    pub network: NetworkConfig,
    pub global_memory_switch_id: i64,
    pub sim: SimConfig,
    pub activation_bits: u32,
    pub weight_bits: u32,
    /// The vector unit runs the extension ops (`vexp`, `vlog`, `vvdiv`; key
    /// `pimlir.vector_extensions`, default false: the published ISA has none of them).
    pub vector_extensions: bool,
    /// What `xbar_array_count` (and every crossbar count pimlir prints) counts (key
    /// `pimlir.crossbars`, default logical).
    pub crossbars: CrossbarCount,
    /// Keys that the source did not give and that took pimlir's default, as `path = value`.
    pub defaulted: Vec<String>,
}

impl Arch {
    /// Total number of cores.
    pub fn core_count(&self) -> u32 {
        self.chips * self.cores_per_chip
    }
    pub fn xbar_rows(&self) -> u32 {
        self.core.matrix.xbar_size[0]
    }
    pub fn xbar_cols(&self) -> u32 {
        self.core.matrix.xbar_size[1]
    }
    /// Crossbars of a core, as the configuration counts them ([`Arch::crossbars`]).
    pub fn xbars_per_core(&self) -> u32 {
        self.core.matrix.xbar_array_count
    }
    /// Counted crossbars that hold one logical crossbar's weights: 1 when crossbars are
    /// logical, else the cells a weight spans, ceil(weight_bits / cell_precision).
    pub fn xbars_per_logical(&self) -> u32 {
        match self.crossbars {
            CrossbarCount::Logical => 1,
            CrossbarCount::Physical => self.weight_bits.div_ceil(self.core.matrix.cell_precision.max(1)).max(1),
        }
    }
    /// "crossbars", or "physical crossbars" when they are counted so: for messages.
    pub fn crossbar_noun(&self) -> &'static str {
        match self.crossbars {
            CrossbarCount::Logical => "crossbars",
            CrossbarCount::Physical => "physical crossbars",
        }
    }
    /// Counted crossbars an array group of `cols` weight columns occupies: one logical
    /// crossbar per `xbar_cols` columns, each [`Arch::xbars_per_logical`] counted ones.
    pub fn xbars_for_cols(&self, cols: u32) -> u32 {
        xbars_for_cols(cols, self.xbar_cols(), self.xbars_per_logical())
    }
    /// Bytes of one activation element in local/global memory.
    pub fn activation_bytes(&self) -> u32 {
        self.activation_bits.div_ceil(8)
    }
    pub fn local_memory_bytes(&self) -> u64 {
        self.core.local_memory.memory_size
    }
    pub fn global_memory_bytes(&self) -> u64 {
        self.global_memory.memory_size
    }

    /// A preset by name, or a config file by path.
    pub fn load(spec: &str) -> Result<Arch> {
        if let Some(arch) = Arch::preset(spec) {
            return Ok(arch);
        }
        let path = Path::new(spec);
        if path.extension().is_some_and(|e| e == "json") || path.exists() {
            return Arch::from_file(path);
        }
        Err(Error::new(format!(
            "unknown architecture '{spec}': expected a preset ({}) or a config .json file",
            PRESETS.iter().map(|p| p.0).collect::<Vec<_>>().join(", ")
        )))
    }

    pub fn is_preset(spec: &str) -> bool {
        PRESETS.iter().any(|(n, _)| *n == spec)
    }

    pub fn preset(name: &str) -> Option<Arch> {
        let (_, text) = PRESETS.iter().find(|(n, _)| *n == name)?;
        let mut arch = Arch::from_json_str(text, name).expect("built-in preset is valid");
        arch.name = name.to_string();
        Some(arch)
    }

    pub fn from_file(path: &Path) -> Result<Arch> {
        let shown = path.display().to_string();
        // A config is a few KB; 16 MiB is plenty and keeps a device or a huge file out.
        let f = std::fs::File::open(path)
            .map_err(|e| Error::new(format!("cannot read architecture config: {e}")).in_file(&shown))?;
        let text = crate::limits::read_text(f, 16 << 20)
            .map_err(|e| Error::new(format!("cannot read architecture config: {e}")).in_file(&shown))?;
        Arch::from_json_str(&text, &shown)
    }

    /// Parses a config in PIMCOMP-NN/pimsim-nn format; `origin` names it in errors.
    pub fn from_json_str(text: &str, origin: &str) -> Result<Arch> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let json: GlobalConfigJson = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let msg = inner.to_string();
            // serde's message ends with " at line L column C"; report that as our location.
            let (msg, line, col) = split_serde_position(&msg);
            let what = if msg.starts_with("unknown field") {
                format!("unknown key '{path}': {msg}")
            } else {
                format!("invalid value for '{path}': {msg}")
            };
            Error::at(what, crate::diag::Loc::new(origin, line, col))
        })?;
        let mut arch = resolve(json).map_err(|e| e.in_file(origin))?;
        arch.validate().map_err(|e| e.in_file(origin))?;
        if arch.name.is_empty() {
            arch.name = Path::new(origin)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| origin.to_string());
        }
        Ok(arch)
    }

    /// Rejects values no machine can have, naming the key.
    fn validate(&self) -> Result<()> {
        let m = &self.core.matrix;
        let mut errs = vec![];
        let mut need = |ok: bool, key: &str, what: &str| {
            if !ok {
                errs.push(crate::diag::Diagnostic::error(format!("invalid value for '{key}': {what}")));
            }
        };
        need(self.cores_per_chip > 0, "chip_config.core_cnt", "must be at least 1");
        need(self.chips > 0, "pimlir.chips", "must be at least 1");
        need(
            self.chips.checked_mul(self.cores_per_chip).is_some_and(|n| n <= MAX_CORES),
            "chip_config.core_cnt",
            &format!("{} chips x {} cores is more than {MAX_CORES} cores", self.chips, self.cores_per_chip),
        );
        // Upper bounds far above any real crossbar, so that sizes multiplied together (cells
        // per core, bits per weight) stay far from overflowing.
        need(
            (1..=1 << 16).contains(&m.xbar_array_count),
            "chip_config.core_config.matrix_config.xbar_array_count",
            "must be in 1..=65536",
        );
        need(
            (1..=1 << 16).contains(&m.xbar_size[0]) && (1..=1 << 16).contains(&m.xbar_size[1]),
            "chip_config.core_config.matrix_config.xbar_size",
            "rows and columns must be in 1..=65536",
        );
        need(
            (1..=32).contains(&m.cell_precision),
            "chip_config.core_config.matrix_config.cell_precision",
            "must be 1 to 32 bits",
        );
        need(m.dac_count > 0, "chip_config.core_config.matrix_config.dac_count", "must be at least 1");
        need(m.adc_count > 0, "chip_config.core_config.matrix_config.adc_count", "must be at least 1");
        need(
            (1..=32).contains(&m.dac_resolution),
            "chip_config.core_config.matrix_config.dac_resolution",
            "must be 1 to 32 bits",
        );
        need(m.period > 0.0, "chip_config.core_config.matrix_config.period", "must be positive");
        need(self.core.period > 0.0, "chip_config.core_config.period", "must be positive");
        need(self.core.vector_width > 0, "chip_config.core_config.vector_width", "must be at least 1");
        need(self.core.rob_size > 0, "chip_config.core_config.rob_size", "must be at least 1");
        need(
            self.core.local_memory.memory_size > 0,
            "chip_config.core_config.local_memory_config.memory_size",
            "must be positive",
        );
        need(
            self.core.local_memory.data_width > 0,
            "chip_config.core_config.local_memory_config.data_width",
            "must be positive",
        );
        need(self.global_memory.memory_size > 0, "chip_config.global_memory_config.memory_size", "must be positive");
        need(self.global_memory.data_width > 0, "chip_config.global_memory_config.data_width", "must be positive");
        need(self.network.bus_width > 0, "chip_config.network_config.bus_width", "must be positive");
        let [lx, ly] = self.network.layout;
        need(
            lx > 0 && ly > 0 && (lx as u64 * ly as u64) >= self.cores_per_chip as u64,
            "chip_config.network_config.layout",
            &format!("{lx}x{ly} mesh has fewer positions than core_cnt = {}", self.cores_per_chip),
        );
        need(self.sim.sim_mode <= 1, "sim_config.sim_mode", "must be 0 (throughput) or 1 (latency)");
        need(self.sim.sim_time > 0.0, "sim_config.sim_time", "must be positive");
        need((1..=32).contains(&self.activation_bits), "pimlir.activation_bits", "must be 1..32");
        need((1..=32).contains(&self.weight_bits), "pimlir.weight_bits", "must be 1..32");
        need(
            self.xbars_per_logical() <= self.xbars_per_core(),
            "pimlir.crossbars",
            &format!(
                "a weight of {} bits spans {} physical crossbars of {}-bit cells, more than the {} of a core",
                self.weight_bits,
                self.xbars_per_logical(),
                self.core.matrix.cell_precision,
                self.xbars_per_core()
            ),
        );
        if errs.is_empty() {
            Ok(())
        } else {
            Err(Error::many(errs))
        }
    }

    /// Short human summary, e.g. for `pim-sim` reports.
    pub fn summary(&self) -> String {
        format!(
            "{}: {} core(s) x {} {} crossbars of {}x{} ({}-bit cells), local memory {} KiB/core",
            self.name,
            self.core_count(),
            self.xbars_per_core(),
            self.crossbars.name(),
            self.xbar_rows(),
            self.xbar_cols(),
            self.core.matrix.cell_precision,
            self.local_memory_bytes() / 1024
        )
    }
}

/// Counted crossbars of an array group of `cols` weight columns, on crossbars of `xbar_cols`
/// columns that take `per_logical` counted crossbars per logical one.
pub fn xbars_for_cols(cols: u32, xbar_cols: u32, per_logical: u32) -> u32 {
    cols.div_ceil(xbar_cols.max(1)).saturating_mul(per_logical.max(1))
}

fn split_serde_position(msg: &str) -> (String, u32, u32) {
    if let Some(i) = msg.rfind(" at line ") {
        let rest = &msg[i + " at line ".len()..];
        let mut it = rest.split(" column ");
        if let (Some(l), Some(c)) = (it.next(), it.next()) {
            if let (Ok(l), Ok(c)) = (l.trim().parse(), c.trim().parse()) {
                return (msg[..i].to_string(), l, c);
            }
        }
    }
    (msg.to_string(), 0, 0)
}

/// Fills defaults (recording each one) and converts to concrete types.
struct Resolver {
    defaulted: Vec<String>,
    errors: Vec<crate::diag::Diagnostic>,
}

impl Resolver {
    fn f(&mut self, v: Option<f64>, path: &str, default: f64) -> f64 {
        v.unwrap_or_else(|| {
            self.defaulted.push(format!("{path} = {default}"));
            default
        })
    }
    fn b(&mut self, v: Option<bool>, path: &str, default: bool) -> bool {
        v.unwrap_or_else(|| {
            self.defaulted.push(format!("{path} = {default}"));
            default
        })
    }
    fn u(&mut self, v: Option<i64>, path: &str, default: u32) -> u32 {
        match v {
            None => {
                self.defaulted.push(format!("{path} = {default}"));
                default
            }
            Some(x) if x < 0 || x > u32::MAX as i64 => {
                self.errors
                    .push(crate::diag::Diagnostic::error(format!("invalid value for '{path}': {x} is out of range")));
                default
            }
            Some(x) => x as u32,
        }
    }
    fn u64(&mut self, v: Option<i64>, path: &str, default: u64) -> u64 {
        match v {
            None => {
                self.defaulted.push(format!("{path} = {default}"));
                default
            }
            Some(x) if x < 0 => {
                self.errors
                    .push(crate::diag::Diagnostic::error(format!("invalid value for '{path}': {x} is negative")));
                default
            }
            Some(x) => x as u64,
        }
    }
    fn nonneg(&mut self, v: f64, path: &str) -> f64 {
        if v < 0.0 || !v.is_finite() {
            self.errors.push(crate::diag::Diagnostic::error(format!(
                "invalid value for '{path}': {v} must be a non-negative number"
            )));
        }
        v
    }

    fn memory(&mut self, m: Option<MemoryConfigJson>, path: &str, size_default: u64) -> MemoryConfig {
        let m = m.unwrap_or_default();
        let p = |k: &str| format!("{path}.{k}");
        let static_power = self.f(m.static_power, &p("static_power"), 1.0);
        let write_dynamic_energy = self.f(m.write_dynamic_energy, &p("write_dynamic_energy"), 0.0);
        let read_dynamic_energy = self.f(m.read_dynamic_energy, &p("read_dynamic_energy"), 0.0);
        let period = self.f(m.period, &p("period"), 1.0);
        MemoryConfig {
            memory_size: self.u64(m.memory_size, &p("memory_size"), size_default),
            data_width: self.u(m.data_width, &p("data_width"), 16),
            period: self.nonneg(period, &p("period")),
            static_power: self.nonneg(static_power, &p("static_power")),
            write_latency_cycle: self.u(m.write_latency_cycle, &p("write_latency_cycle"), 10),
            write_dynamic_energy: self.nonneg(write_dynamic_energy, &p("write_dynamic_energy")),
            read_latency_cycle: self.u(m.read_latency_cycle, &p("read_latency_cycle"), 8),
            read_dynamic_energy: self.nonneg(read_dynamic_energy, &p("read_dynamic_energy")),
        }
    }

    fn matrix(&mut self, m: Option<MatrixConfigJson>) -> MatrixConfig {
        let m = m.unwrap_or_default();
        let path = "chip_config.core_config.matrix_config";
        let p = |k: &str| format!("{path}.{k}");
        let xbar_size = match m.xbar_size {
            Some([r, c]) => [self.u(Some(r), &p("xbar_size[0]"), 128), self.u(Some(c), &p("xbar_size[1]"), 128)],
            None => {
                self.defaulted.push(format!("{} = [128, 128]", p("xbar_size")));
                [128, 128]
            }
        };
        let pw = |s: &mut Self, v: Option<f64>, k: &str| {
            let x = s.f(v, &p(k), 0.0);
            s.nonneg(x, &p(k))
        };
        MatrixConfig {
            xbar_array_count: self.u(m.xbar_array_count, &p("xbar_array_count"), 64),
            period: self.f(m.period, &p("period"), 1.0),
            pipeline_mode: self.b(m.pipeline_mode, &p("pipeline_mode"), true),
            dac_resolution: self.u(m.dac_resolution, &p("dac_resolution"), 1),
            dac_latency_cycle: self.u(m.dac_latency_cycle, &p("dac_latency_cycle"), 1),
            dac_static_power: pw(self, m.dac_static_power, "dac_static_power"),
            dac_dynamic_power: pw(self, m.dac_dynamic_power, "dac_dynamic_power"),
            dac_count: self.u(m.dac_count, &p("dac_count"), 128),
            xbar_size,
            cell_precision: self.u(m.cell_precision, &p("cell_precision"), 2),
            xbar_latency: {
                let x = self.f(m.xbar_latency, &p("xbar_latency"), 30.0);
                self.nonneg(x, &p("xbar_latency"))
            },
            xbar_read_power: pw(self, m.xbar_read_power, "xbar_read_power"),
            sample_hold_latency_cycle: self.u(m.sample_hold_latency_cycle, &p("sample_hold_latency_cycle"), 1),
            sample_hold_static_power: pw(self, m.sample_hold_static_power, "sample_hold_static_power"),
            sample_hold_dynamic_power: pw(self, m.sample_hold_dynamic_power, "sample_hold_dynamic_power"),
            adc_resolution: self.u(m.adc_resolution, &p("adc_resolution"), 8),
            adc_latency_cycle: self.u(m.adc_latency_cycle, &p("adc_latency_cycle"), 1),
            adc_static_power: pw(self, m.adc_static_power, "adc_static_power"),
            adc_dynamic_power: pw(self, m.adc_dynamic_power, "adc_dynamic_power"),
            adc_count: self.u(m.adc_count, &p("adc_count"), 1),
            shift_adder_latency_cycle: self.u(m.shift_adder_latency_cycle, &p("shift_adder_latency_cycle"), 1),
            shift_adder_static_power: pw(self, m.shift_adder_static_power, "shift_adder_static_power"),
            shift_adder_dynamic_power: pw(self, m.shift_adder_dynamic_power, "shift_adder_dynamic_power"),
            input_buffer_latency_cycle: self.u(m.input_buffer_latency_cycle, &p("input_buffer_latency_cycle"), 0),
            input_buffer_static_power: pw(self, m.input_buffer_static_power, "input_buffer_static_power"),
            input_buffer_dynamic_power: pw(self, m.input_buffer_dynamic_power, "input_buffer_dynamic_power"),
            output_buffer_latency_cycle: self.u(m.output_buffer_latency_cycle, &p("output_buffer_latency_cycle"), 1),
            output_buffer_static_power: pw(self, m.output_buffer_static_power, "output_buffer_static_power"),
            output_buffer_dynamic_power: pw(self, m.output_buffer_dynamic_power, "output_buffer_dynamic_power"),
        }
    }
}

/// Most cores an architecture may have (chips x cores per chip).
pub const MAX_CORES: u32 = 1 << 20;

/// Default capacities where pimsim-nn's own defaults (1 MiB for both memories) cannot hold a
/// real network's activations: global memory defaults to 1 GiB.
const DEFAULT_LOCAL_MEMORY: u64 = 1 << 20;
const DEFAULT_GLOBAL_MEMORY: u64 = 1 << 30;

fn resolve(json: GlobalConfigJson) -> Result<Arch> {
    let mut r = Resolver { defaulted: vec![], errors: vec![] };
    let chip = json.chip_config.unwrap_or_default();
    let core = chip.core_config.unwrap_or_default();
    let cp = |k: &str| format!("chip_config.core_config.{k}");
    let matrix = r.matrix(core.matrix_config);
    let local_memory = r.memory(core.local_memory_config, &cp("local_memory_config"), DEFAULT_LOCAL_MEMORY);
    let mut pw = |v: Option<f64>, key: &str| {
        let x = r.f(v, &cp(key), 0.0);
        r.nonneg(x, &cp(key))
    };
    let powers = CorePowers {
        controller_static_power: pw(core.controller_static_power, "controller_static_power"),
        controller_dynamic_power: pw(core.controller_dynamic_power, "controller_dynamic_power"),
        inst_fetch_static_power: pw(core.inst_fetch_static_power, "inst_fetch_static_power"),
        inst_fetch_dynamic_power: pw(core.inst_fetch_dynamic_power, "inst_fetch_dynamic_power"),
        inst_decode_static_power: pw(core.inst_decode_static_power, "inst_decode_static_power"),
        inst_decode_dynamic_power: pw(core.inst_decode_dynamic_power, "inst_decode_dynamic_power"),
        inst_decode_offset_static_power: pw(core.inst_decode_offset_static_power, "inst_decode_offset_static_power"),
        inst_decode_offset_dynamic_power: pw(core.inst_decode_offset_dynamic_power, "inst_decode_offset_dynamic_power"),
        reg_file_static_power: pw(core.reg_file_static_power, "reg_file_static_power"),
        reg_file_read_dynamic_power: pw(core.reg_file_read_dynamic_power, "reg_file_read_dynamic_power"),
        reg_file_write_dynamic_power: pw(core.reg_file_write_dynamic_power, "reg_file_write_dynamic_power"),
        scalar_static_power: pw(core.scalar_static_power, "scalar_static_power"),
        scalar_dynamic_power: pw(core.scalar_dynamic_power, "scalar_dynamic_power"),
        vector_alu_static_power: pw(core.vector_alu_static_power, "vector_alu_static_power"),
        vector_alu_dynamic_energy: pw(core.vector_alu_dynamic_energy, "vector_alu_dynamic_energy"),
        vector_reg_static_power: pw(core.vector_reg_static_power, "vector_reg_static_power"),
        vector_reg_read_dynamic_energy: pw(core.vector_reg_read_dynamic_energy, "vector_reg_read_dynamic_energy"),
        vector_reg_write_dynamic_energy: pw(core.vector_reg_write_dynamic_energy, "vector_reg_write_dynamic_energy"),
        transfer_static_power: pw(core.transfer_static_power, "transfer_static_power"),
        transfer_dynamic_power: pw(core.transfer_dynamic_power, "transfer_dynamic_power"),
    };
    let core_period = r.f(core.period, &cp("period"), 1.0);
    let core_cfg = CoreConfig {
        period: core_period,
        matrix,
        vector_width: r.u(core.vector_width, &cp("vector_width"), 16),
        vector_latency_cycle: r.u(core.vector_latency_cycle, &cp("vector_latency_cycle"), 8),
        local_memory,
        rob_size: r.u(core.rob_size, &cp("rob_size"), 1),
        powers,
    };
    let global_memory = r.memory(chip.global_memory_config, "chip_config.global_memory_config", DEFAULT_GLOBAL_MEMORY);
    let net = chip.network_config.unwrap_or_default();
    let topology = match net.bus_topology.as_deref() {
        None => {
            r.defaulted.push("chip_config.network_config.bus_topology = mesh".into());
            Topology::Mesh
        }
        Some("mesh") => Topology::Mesh,
        Some("bus") => Topology::Bus,
        Some(other) => {
            r.errors.push(crate::diag::Diagnostic::error(format!(
                "invalid value for 'chip_config.network_config.bus_topology': '{other}' (expected 'mesh' or 'bus')"
            )));
            Topology::Mesh
        }
    };
    let cores_per_chip = r.u(chip.core_cnt, "chip_config.core_cnt", 1);
    let layout = match net.layout {
        Some([x, y]) => [
            r.u(Some(x), "chip_config.network_config.layout[0]", 1),
            r.u(Some(y), "chip_config.network_config.layout[1]", 1),
        ],
        None => {
            // A square-ish mesh that holds every core.
            let x = (cores_per_chip as f64).sqrt().ceil().max(1.0) as u32;
            let y = cores_per_chip.div_ceil(x).max(1);
            r.defaulted.push(format!("chip_config.network_config.layout = [{x}, {y}]"));
            [x, y]
        }
    };
    let network = NetworkConfig {
        topology,
        bus_width: r.u(net.bus_width, "chip_config.network_config.bus_width", 16),
        layout,
        net_config_file_path: net.net_config_file_path.unwrap_or_default(),
    };
    let switch_core = core.global_memory_switch_id;
    let switch_chip = chip.global_memory_switch_id;
    if let (Some(a), Some(b)) = (switch_core, switch_chip) {
        if a != b {
            r.errors.push(crate::diag::Diagnostic::error(format!(
                "inconsistent 'global_memory_switch_id': chip_config says {b}, chip_config.core_config says {a}"
            )));
        }
    }
    let global_memory_switch_id = switch_chip.or(switch_core).unwrap_or(-10);
    let sim = json.sim_config.unwrap_or_default();
    let sim_time = r.f(sim.sim_time, "sim_config.sim_time", 1.0);
    let sim = SimConfig {
        sim_mode: r.u(sim.sim_mode, "sim_config.sim_mode", 0),
        sim_time,
        report_verbose_level: r.u(sim.report_verbose_level, "sim_config.report_verbose_level", 0),
    };
    let ext = json.pimlir.unwrap_or_default();
    let chips = match ext.chips {
        None => 1,
        Some(c) => r.u(Some(c), "pimlir.chips", 1),
    };
    let activation_bits = match ext.activation_bits {
        None => 16,
        Some(b) => r.u(Some(b), "pimlir.activation_bits", 16),
    };
    let weight_bits = match ext.weight_bits {
        None => 8,
        Some(b) => r.u(Some(b), "pimlir.weight_bits", 8),
    };
    let crossbars = match ext.crossbars.as_deref() {
        None | Some("logical") => CrossbarCount::Logical,
        Some("physical") => CrossbarCount::Physical,
        Some(other) => {
            r.errors.push(crate::diag::Diagnostic::error(format!(
                "'pimlir.crossbars' is \"{other}\"; expected \"logical\" (a crossbar holds full-precision weights, as PIMCOMP-NN and pimsim-nn count) or \"physical\" (a weight spans weight_bits / cell_precision crossbars)"
            )));
            CrossbarCount::Logical
        }
    };
    if !r.errors.is_empty() {
        return Err(Error::many(r.errors));
    }
    Ok(Arch {
        name: ext.name.unwrap_or_default(),
        chips,
        cores_per_chip,
        core: core_cfg,
        global_memory,
        network,
        global_memory_switch_id,
        sim,
        activation_bits,
        weight_bits,
        vector_extensions: ext.vector_extensions.unwrap_or(false),
        crossbars,
        defaulted: r.defaulted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_loads_and_validates() {
        for (name, _) in PRESETS {
            let a = Arch::load(name).unwrap();
            assert_eq!(a.name, *name);
            assert!(a.core_count() > 0);
        }
    }

    #[test]
    fn vector_extensions_are_off_unless_the_pimlir_section_enables_them() {
        assert!(Arch::preset("puma").unwrap().vector_extensions);
        assert!(!Arch::preset("pimcomp-default").unwrap().vector_extensions);
        let with = super::presets::PRESETS[0]
            .1
            .replace(r#""weight_bits": 8"#, r#""weight_bits": 8, "vector_extensions": true"#);
        assert!(Arch::from_json_str(&with, "test").unwrap().vector_extensions);
        let bad =
            super::presets::PRESETS[0].1.replace(r#""weight_bits": 8"#, r#""weight_bits": 8, "vector_extensions": 1"#);
        assert!(Arch::from_json_str(&bad, "test").is_err());
    }

    #[test]
    fn crossbars_are_logical_unless_the_pimlir_section_says_physical() {
        let p = Arch::preset("pimcomp-default").unwrap();
        assert_eq!((p.crossbars, p.xbars_per_logical(), p.xbars_for_cols(130)), (CrossbarCount::Logical, 1, 2));
        // 16-bit weights in 2-bit cells span 8 crossbars: 12 logical ones on ISAAC's 96.
        let isaac = Arch::preset("isaac").unwrap();
        assert_eq!(
            (isaac.crossbars, isaac.xbars_per_logical(), isaac.xbars_for_cols(130)),
            (CrossbarCount::Physical, 8, 16)
        );
        assert_eq!(Arch::preset("puma").unwrap().xbars_per_logical(), 8);
        let odd = PRESETS[0].1.replace(r#""weight_bits": 8"#, r#""weight_bits": 7, "crossbars": "physical""#);
        assert_eq!(Arch::from_json_str(&odd, "odd").unwrap().xbars_per_logical(), 4);
        let bad = PRESETS[0].1.replace(r#""weight_bits": 8"#, r#""weight_bits": 8, "crossbars": "virtual""#);
        let err = Arch::from_json_str(&bad, "c.json").unwrap_err().to_string();
        assert!(err.contains("'pimlir.crossbars' is \"virtual\""), "{err}");
        // A weight wider than a core's crossbars can hold is refused.
        let wide = PRESETS[0]
            .1
            .replace(r#""weight_bits": 8"#, r#""weight_bits": 32, "crossbars": "physical""#)
            .replace(r#""xbar_array_count": 64"#, r#""xbar_array_count": 8"#);
        let err = Arch::from_json_str(&wide, "c.json").unwrap_err().to_string();
        assert!(err.contains("spans 16 physical crossbars"), "{err}");
    }

    #[test]
    fn preset_geometry_matches_the_design_brief() {
        let isaac = Arch::preset("isaac").unwrap();
        assert_eq!((isaac.core_count(), isaac.xbars_per_core(), isaac.xbar_rows()), (168, 96, 128));
        let puma = Arch::preset("puma").unwrap();
        assert_eq!((puma.core_count(), puma.xbars_per_core()), (138, 128));
        let c = Arch::preset("isscc23").unwrap();
        assert_eq!((c.chips, c.core_count(), c.xbars_per_core(), c.xbar_rows(), c.xbar_cols()), (16, 64, 8, 512, 1024));
        let p = Arch::preset("pimcomp-default").unwrap();
        assert_eq!((p.xbars_per_core(), p.network.layout), (64, [12, 12]));
    }

    #[test]
    fn misspelled_key_is_named_with_its_path() {
        let err = Arch::from_json_str(
            r#"{"chip_config": {"core_config": {"matrix_config": {"xbar_sise": [1,2]}}}}"#,
            "c.json",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown key 'chip_config.core_config.matrix_config.xbar_sise'"), "{err}");
        assert!(err.starts_with("c.json:1:"), "{err}");
    }

    #[test]
    fn impossible_values_are_rejected() {
        let err = Arch::from_json_str(r#"{"chip_config": {"core_cnt": 0}}"#, "c.json").unwrap_err().to_string();
        assert!(err.contains("'chip_config.core_cnt': must be at least 1"), "{err}");
        let err =
            Arch::from_json_str(r#"{"chip_config": {"core_cnt": 10, "network_config": {"layout": [2, 2]}}}"#, "c.json")
                .unwrap_err()
                .to_string();
        assert!(err.contains("chip_config.network_config.layout"), "{err}");
        let err = Arch::from_json_str(
            r#"{"chip_config": {"core_config": {"matrix_config": {"xbar_size": [128, -1]}}}}"#,
            "c.json",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("xbar_size[1]"), "{err}");
    }

    #[test]
    fn defaults_are_recorded() {
        let a = Arch::from_json_str(r#"{"chip_config": {"core_cnt": 4}}"#, "c.json").unwrap();
        assert!(a.defaulted.iter().any(|d| d.starts_with("chip_config.core_config.matrix_config.xbar_size")));
        assert!(!a.defaulted.iter().any(|d| d.starts_with("chip_config.core_cnt")));
        assert_eq!(a.name, "c");
    }
}
