//! The cost model: what each instruction costs on an architecture, in time and energy, from
//! the figures of its config. One model, two flavours: [`Model::PimsimCompat`] computes
//! exactly what pimsim-nn computes (floor divisions, the hard-coded x8 input read, vector
//! latency applied in ns), [`Model::Pimlir`] the same structure with those defects fixed
//! (`../shared/docs/pimsim-model.md`). The timing simulator charges these costs to units; the
//! mapper's estimator uses the same numbers, so a search optimizes what the simulator
//! measures.
//!
//! Times are in ns, energies in pJ (mW x ns), sizes in bytes.

use crate::arch::Arch;
use crate::isa::VecOp;

/// Which timing rules to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// pimsim-nn's rules, defects included, so programs compare with its results.
    PimsimCompat,
    /// pimlir's rules: pimsim-nn's structure with its defects fixed.
    Pimlir,
}

/// A memory's timing: `ceil(bytes / width)` beats of `latency` cycles of `period` ns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryTiming {
    pub width: u32,
    pub read_cycles: u32,
    pub write_cycles: u32,
    pub period: f64,
    pub read_energy: f64,
    pub write_energy: f64,
    pub static_power: f64,
}

impl MemoryTiming {
    /// Beats to move `bytes`.
    pub fn beats(&self, bytes: u64) -> u64 {
        bytes.div_ceil(u64::from(self.width.max(1)))
    }
    pub fn read_ns(&self, bytes: u64) -> f64 {
        self.beats(bytes) as f64 * f64::from(self.read_cycles) * self.period
    }
    pub fn write_ns(&self, bytes: u64) -> f64 {
        self.beats(bytes) as f64 * f64::from(self.write_cycles) * self.period
    }
    /// Dynamic energy of reading (`write` false) or writing `bytes`.
    pub fn energy(&self, bytes: u64, write: bool) -> f64 {
        self.beats(bytes) as f64 * if write { self.write_energy } else { self.read_energy }
    }
}

/// The phases of one matrix-vector product.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MvmulCost {
    /// Input vector read from local memory.
    pub read_bytes: u64,
    /// The crossbars' own time.
    pub xbar_ns: f64,
    /// Result written to local memory.
    pub write_bytes: u64,
    /// Dynamic energy of the crossbars and their converters.
    pub energy: f64,
}

/// Costs of one architecture under one model.
#[derive(Debug, Clone, PartialEq)]
pub struct CostModel {
    pub model: Model,
    /// Core clock period.
    pub period: f64,
    pub rob_size: u32,
    pub xbar_rows: u32,
    pub xbar_cols: u32,
    pub cell_precision: u32,
    matrix_period: f64,
    pipeline: bool,
    dac_resolution: u32,
    dac_count: u32,
    adc_count: u32,
    /// Front end of one crossbar step (input buffer, DAC, crossbar, sample and hold) and back
    /// end (ADC, shift-add, output buffer), in matrix cycles, ADC passes excluded.
    front_cycles: u64,
    adc_cycles: u64,
    after_adc_cycles: u64,
    front_energy: f64,
    back_energy_per_adc_pass: f64,
    pub vector_width: u32,
    pub vector_latency_cycles: u32,
    vector_energy: f64,
    pub local: MemoryTiming,
    pub global: MemoryTiming,
    /// Bytes per NoC flit.
    pub flit_bytes: u32,
    /// Static power of one core (its units and local memory), mW.
    pub core_static_power: f64,
}

impl CostModel {
    pub fn new(arch: &Arch, model: Model) -> CostModel {
        let m = &arch.core.matrix;
        let xbar_latency_cycles = (m.xbar_latency / m.period).ceil() as u64;
        let front_cycles = u64::from(m.input_buffer_latency_cycle)
            + u64::from(m.dac_latency_cycle)
            + xbar_latency_cycles
            + u64::from(m.sample_hold_latency_cycle);
        let after_adc_cycles = u64::from(m.shift_adder_latency_cycle) + u64::from(m.output_buffer_latency_cycle);
        let p = m.period;
        // Energy of one step: every DAC, the crossbar read, a sample-and-hold per column (as
        // pimsim-nn's XbarArray counts it); then per ADC pass every ADC and the shift-add.
        let front_energy = m.dac_dynamic_power * f64::from(m.dac_count) * f64::from(m.dac_latency_cycle) * p
            + m.xbar_read_power * m.xbar_latency
            + m.sample_hold_dynamic_power * f64::from(m.sample_hold_latency_cycle) * p * f64::from(m.xbar_size[1])
            + m.input_buffer_dynamic_power * f64::from(m.input_buffer_latency_cycle) * p;
        let back_energy_per_adc_pass =
            m.adc_dynamic_power * f64::from(m.adc_count) * f64::from(m.adc_latency_cycle) * p
                + m.shift_adder_dynamic_power * f64::from(m.shift_adder_latency_cycle) * p
                + m.output_buffer_dynamic_power * f64::from(m.output_buffer_latency_cycle) * p;
        let mem = |c: &crate::arch::MemoryConfig| MemoryTiming {
            width: c.data_width,
            read_cycles: c.read_latency_cycle,
            write_cycles: c.write_latency_cycle,
            period: c.period,
            read_energy: c.read_dynamic_energy,
            write_energy: c.write_dynamic_energy,
            static_power: c.static_power,
        };
        let matrix_static = (m.dac_static_power * f64::from(m.dac_count)
            + m.adc_static_power * f64::from(m.adc_count)
            + m.sample_hold_static_power
            // One shift-adder per ADC (pimsim-nn's XbarArray).
            + m.shift_adder_static_power * f64::from(m.adc_count)
            + m.input_buffer_static_power
            + m.output_buffer_static_power)
            * f64::from(m.xbar_array_count);
        CostModel {
            model,
            period: arch.core.period,
            rob_size: arch.core.rob_size,
            xbar_rows: m.xbar_size[0],
            xbar_cols: m.xbar_size[1],
            cell_precision: m.cell_precision,
            matrix_period: p,
            pipeline: m.pipeline_mode,
            dac_resolution: m.dac_resolution,
            dac_count: m.dac_count,
            adc_count: m.adc_count,
            front_cycles,
            adc_cycles: u64::from(m.adc_latency_cycle),
            after_adc_cycles,
            front_energy,
            back_energy_per_adc_pass,
            vector_width: arch.core.vector_width,
            vector_latency_cycles: arch.core.vector_latency_cycle,
            // Per chunk: the ALU, two register reads and a write (pimsim-nn's VectorUnit).
            vector_energy: arch.core.powers.vector_alu_dynamic_energy
                + 2.0 * arch.core.powers.vector_reg_read_dynamic_energy
                + arch.core.powers.vector_reg_write_dynamic_energy,
            local: mem(&arch.core.local_memory),
            global: mem(&arch.global_memory),
            flit_bytes: arch.network.bus_width,
            core_static_power: arch.core.powers.static_power() + arch.core.local_memory.static_power + matrix_static,
        }
    }

    /// `a / b` rounded the way the model rounds (pimsim-nn's "divideWithCeiling" floors).
    fn div(&self, a: u64, b: u64) -> u64 {
        let b = b.max(1);
        match self.model {
            Model::PimsimCompat => a / b,
            Model::Pimlir => a.div_ceil(b),
        }
    }

    /// Bit-serial input passes, row (DAC) passes and column (ADC) passes of one product on
    /// an array group of `rows` x `cols` at input width `ibiw`.
    pub fn passes(&self, rows: u32, cols: u32, ibiw: u32) -> (u64, u64, u64) {
        let input_times = self.div(u64::from(ibiw), u64::from(self.dac_resolution));
        let dac_times = self.div(u64::from(rows), u64::from(self.dac_count));
        let adc_times = self.div(u64::from(cols), u64::from(self.adc_count));
        (input_times, dac_times, adc_times)
    }

    /// The crossbars' time for one product (pimsim-nn's `T_xbar`), in matrix cycles. Under
    /// the compat model rows and columns are the crossbar's, as pimsim-nn computes them.
    pub fn xbar_cycles(&self, rows: u32, cols: u32, ibiw: u32) -> u64 {
        let (input_times, dac_times, adc_times) = self.passes(rows, cols, ibiw);
        let f = self.front_cycles;
        let b = self.adc_cycles
            + self.after_adc_cycles
            + adc_times.saturating_sub(1) * self.adc_cycles.max(self.after_adc_cycles);
        let steps = input_times * dac_times;
        if self.pipeline {
            if steps == 0 {
                // No `setbw` (bit width 0): pimsim-nn's signed arithmetic gives
                // F + B - max(F, B).
                return f.min(b);
            }
            f + b + (steps - 1) * f.max(b)
        } else {
            (f + b) * steps
        }
    }

    /// One `mvmul` on an array group of `rows` x `cols` over `xbars` crossbars, at input and
    /// output widths `ibiw`/`obiw` and weight width `mbiw`.
    pub fn mvmul(&self, rows: u32, cols: u32, xbars: u32, ibiw: u32, obiw: u32, mbiw: u32) -> MvmulCost {
        match self.model {
            Model::PimsimCompat => {
                // Whole crossbars; the input read is eight times the vector (hard-coded), the
                // output counts cell-precision columns per weight bit width.
                let (ibyw, obyw) = (u64::from(ibiw / 8), u64::from(obiw / 8));
                let (r, c) = (self.xbar_rows, self.xbar_cols);
                let per_weight =
                    if mbiw == 0 { 0 } else { u64::from(c) * u64::from(self.cell_precision) / u64::from(mbiw) };
                let xbar = self.xbar_cycles(r, c, ibiw);
                let (it, dt, at) = self.passes(r, c, ibiw);
                MvmulCost {
                    read_bytes: u64::from(r) * ibyw * 8,
                    xbar_ns: xbar as f64 * self.matrix_period,
                    write_bytes: per_weight * obyw * u64::from(xbars),
                    energy: f64::from(xbars)
                        * (it * dt) as f64
                        * (self.front_energy + at as f64 * self.back_energy_per_adc_pass),
                }
            }
            Model::Pimlir => {
                let (ibyw, obyw) = (u64::from(ibiw.div_ceil(8)), u64::from(obiw.div_ceil(8)));
                let per_xbar_cols = cols.min(self.xbar_cols);
                let xbar = self.xbar_cycles(rows, per_xbar_cols, ibiw);
                let (it, dt, at) = self.passes(rows, per_xbar_cols, ibiw);
                MvmulCost {
                    read_bytes: u64::from(rows) * ibyw,
                    xbar_ns: xbar as f64 * self.matrix_period,
                    write_bytes: u64::from(cols) * obyw,
                    energy: f64::from(xbars)
                        * (it * dt) as f64
                        * (self.front_energy + at as f64 * self.back_energy_per_adc_pass),
                }
            }
        }
    }

    /// How long one `mvmul` keeps its core busy (the estimates' unit of crossbar work): the
    /// input read from local memory, the crossbar passes and the output written back.
    pub fn mvmul_ns(&self, rows: u32, cols: u32, xbars: u32, ibiw: u32, obiw: u32, mbiw: u32) -> f64 {
        let c = self.mvmul(rows, cols, xbars, ibiw, obiw, mbiw);
        self.local.read_ns(c.read_bytes) + c.xbar_ns + self.local.write_ns(c.write_bytes)
    }

    /// The vector unit's compute time for `len` elements.
    pub fn vector_ns(&self, len: u32) -> f64 {
        let chunks = u64::from(len).div_ceil(u64::from(self.vector_width.max(1))) as f64;
        match self.model {
            // pimsim-nn adds the latency in cycles as nanoseconds.
            Model::PimsimCompat => chunks * f64::from(self.vector_latency_cycles),
            Model::Pimlir => chunks * f64::from(self.vector_latency_cycles) * self.period,
        }
    }

    /// Dynamic energy of the vector unit for `len` elements.
    pub fn vector_energy(&self, len: u32) -> f64 {
        u64::from(len).div_ceil(u64::from(self.vector_width.max(1))) as f64 * self.vector_energy
    }

    /// Bytes a vector op reads from and writes to local memory: each source, and the result.
    pub fn vector_bytes(&self, op: VecOp, len: u32, ibiw: u32, obiw: u32) -> (u64, u64) {
        let (ib, ob) = match self.model {
            Model::PimsimCompat => (u64::from(ibiw / 8), u64::from(obiw / 8)),
            Model::Pimlir => (u64::from(ibiw.div_ceil(8)), u64::from(obiw.div_ceil(8))),
        };
        let sources = if op.binary() { 2 } else { 1 };
        // pimsim-nn writes the output width for these, the input width otherwise.
        let wide = matches!(
            op,
            VecOp::Vvmul
                | VecOp::Vvsll
                | VecOp::Vvsra
                | VecOp::Vtanh
                | VecOp::Vsigm
                | VecOp::Vrsu
                | VecOp::Vrsl
                | VecOp::Vvdiv
                | VecOp::Vexp
                | VecOp::Vlog
        );
        let written = match self.model {
            Model::PimsimCompat => u64::from(len),
            Model::Pimlir => u64::from(op.out_len(len)),
        };
        (sources * u64::from(len) * ib, written * if wide { ob } else { ib })
    }

    /// NoC flits for a message of `bytes`.
    pub fn flits(&self, bytes: u64) -> u64 {
        bytes.div_ceil(u64::from(self.flit_bytes.max(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// pimsim-nn's example config (`../shared/data/pimsim/latency_config.json`): the document
    /// gives T_xbar = 5168 cycles at 8-bit inputs. F = 0 (input buffer) + 1 (DAC) + 30
    /// (crossbar) + 1 (sample-hold) = 32; B = 10 + 1 + 1 + 63 * max(10, 2) = 642 (64 ADC passes
    /// over 128 columns with 2 ADCs); 8 input bits one at a time on 128 DACs: 8 steps, so
    /// T = 32 + 642 + 7 * 642 = 5168.
    const LATENCY_CONFIG: &str = r#"{"chip_config": {"core_config": {"rob_size": 1, "period": 1,
        "matrix_config": {"xbar_array_count": 64, "period": 1, "pipeline_mode": true, "dac_resolution": 1,
          "dac_count": 128, "xbar_size": [128, 128], "cell_precision": 8, "xbar_latency": 30,
          "sample_hold_latency_cycle": 1, "adc_resolution": 8, "adc_latency_cycle": 10, "adc_count": 2,
          "shift_adder_latency_cycle": 1, "output_buffer_latency_cycle": 1},
        "vector_width": 16, "vector_latency_cycle": 4,
        "local_memory_config": {"data_width": 64, "period": 1, "write_latency_cycle": 1, "read_latency_cycle": 1}},
      "global_memory_config": {"data_width": 16, "period": 1, "write_latency_cycle": 1, "read_latency_cycle": 1},
      "network_config": {"bus_topology": "mesh", "bus_width": 8, "layout": [8, 8]}, "core_cnt": 64},
      "sim_config": {"sim_mode": 0, "sim_time": 100}}"#;

    fn latency_config() -> Arch {
        Arch::from_json_str(LATENCY_CONFIG, "latency_config.json").unwrap()
    }

    /// Energy of one mvmul, by hand, on the example config with powers: one crossbar, 8
    /// input steps (1-bit DACs, 128 rows at once), 64 ADC passes (128 columns, 2 ADCs).
    /// Front per step: DACs 0.01 mW x 128 x 1 ns = 1.28 pJ; crossbar 2 mW x 30 ns = 60 pJ;
    /// sample-and-hold 0.001 mW x 1 ns x 128 columns = 0.128 pJ: 61.408 pJ. Back per ADC
    /// pass: ADCs 1 mW x 2 x 10 ns = 20 pJ; shift-add 0.5 mW x 1 ns = 0.5 pJ: 20.5 pJ.
    /// Total 8 x (61.408 + 64 x 20.5) = 8 x 1373.408 = 10987.264 pJ. Static: (ADCs 0.1 x 2 +
    /// shift-adders 0.05 x 2 ADCs) x 64 crossbars = 19.2 mW.
    #[test]
    fn mvmul_energy_of_the_example_config() {
        let mut a = latency_config();
        let m = &mut a.core.matrix;
        (m.dac_dynamic_power, m.xbar_read_power, m.sample_hold_dynamic_power) = (0.01, 2.0, 0.001);
        (m.adc_dynamic_power, m.shift_adder_dynamic_power) = (1.0, 0.5);
        (m.adc_static_power, m.shift_adder_static_power) = (0.1, 0.05);
        a.core.local_memory.static_power = 0.0;
        let c = CostModel::new(&a, Model::PimsimCompat);
        assert!((c.mvmul(128, 128, 1, 8, 8, 8).energy - 10987.264).abs() < 1e-6);
        assert!((c.core_static_power - 19.2).abs() < 1e-9, "{}", c.core_static_power);
    }

    #[test]
    fn xbar_time_of_the_example_config() {
        let c = CostModel::new(&latency_config(), Model::PimsimCompat);
        assert_eq!(c.xbar_cycles(128, 128, 8), 5168);
        // 1-bit inputs: one step, F + B = 674.
        assert_eq!(c.xbar_cycles(128, 128, 1), 674);
        let m = c.mvmul(128, 128, 1, 8, 8, 8);
        // 128 rows x 1 byte x 8 (hard-coded) = 1024 bytes in; 128 x 8 / 8 x 1 byte out.
        assert_eq!((m.read_bytes, m.write_bytes), (1024, 128));
    }

    #[test]
    fn the_corrected_model_rounds_up_and_reads_the_vector_once() {
        let arch = latency_config();
        let compat = CostModel::new(&arch, Model::PimsimCompat);
        let fixed = CostModel::new(&arch, Model::Pimlir);
        // 3-bit inputs on 2-bit DACs: pimsim-nn floors to 1 pass, pimlir takes 2.
        let mut a = arch.clone();
        a.core.matrix.dac_resolution = 2;
        let (c2, f2) = (CostModel::new(&a, Model::PimsimCompat), CostModel::new(&a, Model::Pimlir));
        assert_eq!((c2.passes(128, 128, 3).0, f2.passes(128, 128, 3).0), (1, 2));
        // A 16-row group reads 16 bytes, not 128 x 8.
        assert_eq!(fixed.mvmul(16, 10, 1, 8, 8, 8).read_bytes, 16);
        assert_eq!(fixed.mvmul(16, 10, 1, 8, 8, 8).write_bytes, 10);
        // Vector latency: 4 cycles of 1 ns either way here, but cycles scale with the period.
        assert_eq!(compat.vector_ns(33), 12.0);
        let mut slow = arch;
        slow.core.period = 2.0;
        assert_eq!(CostModel::new(&slow, Model::Pimlir).vector_ns(33), 24.0);
        assert_eq!(CostModel::new(&slow, Model::PimsimCompat).vector_ns(33), 12.0);
    }

    #[test]
    fn memory_beats_and_vector_bytes() {
        let c = CostModel::new(&latency_config(), Model::PimsimCompat);
        assert_eq!(c.local.read_ns(65), 2.0);
        assert_eq!(c.global.write_ns(33), 3.0);
        assert_eq!(c.vector_bytes(VecOp::Vvadd, 10, 8, 8), (20, 10));
        assert_eq!(c.vector_bytes(VecOp::Vvmul, 10, 8, 16), (20, 20));
        assert_eq!(c.flits(9), 2);
    }
}
