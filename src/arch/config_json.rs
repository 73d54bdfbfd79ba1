//! The PIMCOMP-NN / pimsim-nn architecture config file, field for field.
//!
//! Every field is optional here (pimsim-nn fills missing keys with defaults), but unknown keys
//! are rejected: a misspelled key silently taking a default is the most common way to simulate
//! the wrong machine. `pimlir` is our own section for what the pimsim format cannot express.

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalConfigJson {
    pub chip_config: Option<ChipConfigJson>,
    pub sim_config: Option<SimConfigJson>,
    pub pimlir: Option<PimlirJson>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChipConfigJson {
    pub core_config: Option<CoreConfigJson>,
    pub global_memory_config: Option<MemoryConfigJson>,
    pub network_config: Option<BusConfigJson>,
    pub core_cnt: Option<i64>,
    pub global_memory_switch_id: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoreConfigJson {
    pub period: Option<f64>,
    pub controller_static_power: Option<f64>,
    pub controller_dynamic_power: Option<f64>,
    pub inst_fetch_static_power: Option<f64>,
    pub inst_fetch_dynamic_power: Option<f64>,
    pub inst_decode_static_power: Option<f64>,
    pub inst_decode_dynamic_power: Option<f64>,
    pub inst_decode_offset_static_power: Option<f64>,
    pub inst_decode_offset_dynamic_power: Option<f64>,
    pub reg_file_static_power: Option<f64>,
    pub reg_file_read_dynamic_power: Option<f64>,
    pub reg_file_write_dynamic_power: Option<f64>,
    pub scalar_static_power: Option<f64>,
    pub scalar_dynamic_power: Option<f64>,
    pub matrix_config: Option<MatrixConfigJson>,
    pub vector_width: Option<i64>,
    pub vector_latency_cycle: Option<i64>,
    pub vector_alu_static_power: Option<f64>,
    pub vector_alu_dynamic_energy: Option<f64>,
    pub vector_reg_static_power: Option<f64>,
    pub vector_reg_read_dynamic_energy: Option<f64>,
    pub vector_reg_write_dynamic_energy: Option<f64>,
    pub transfer_static_power: Option<f64>,
    pub transfer_dynamic_power: Option<f64>,
    pub local_memory_config: Option<MemoryConfigJson>,
    pub rob_size: Option<i64>,
    pub global_memory_switch_id: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatrixConfigJson {
    pub xbar_array_count: Option<i64>,
    pub period: Option<f64>,
    pub pipeline_mode: Option<bool>,
    pub dac_resolution: Option<i64>,
    pub dac_latency_cycle: Option<i64>,
    pub dac_static_power: Option<f64>,
    pub dac_dynamic_power: Option<f64>,
    pub dac_count: Option<i64>,
    pub xbar_size: Option<[i64; 2]>,
    pub cell_precision: Option<i64>,
    pub xbar_latency: Option<f64>,
    pub xbar_read_power: Option<f64>,
    pub sample_hold_latency_cycle: Option<i64>,
    pub sample_hold_static_power: Option<f64>,
    pub sample_hold_dynamic_power: Option<f64>,
    pub adc_resolution: Option<i64>,
    pub adc_latency_cycle: Option<i64>,
    pub adc_static_power: Option<f64>,
    pub adc_dynamic_power: Option<f64>,
    pub adc_count: Option<i64>,
    pub shift_adder_latency_cycle: Option<i64>,
    pub shift_adder_static_power: Option<f64>,
    pub shift_adder_dynamic_power: Option<f64>,
    pub input_buffer_latency_cycle: Option<i64>,
    pub input_buffer_static_power: Option<f64>,
    pub input_buffer_dynamic_power: Option<f64>,
    pub output_buffer_latency_cycle: Option<i64>,
    pub output_buffer_static_power: Option<f64>,
    pub output_buffer_dynamic_power: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryConfigJson {
    pub memory_size: Option<i64>,
    pub data_width: Option<i64>,
    pub period: Option<f64>,
    pub static_power: Option<f64>,
    pub write_latency_cycle: Option<i64>,
    pub write_dynamic_energy: Option<f64>,
    pub read_latency_cycle: Option<i64>,
    pub read_dynamic_energy: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusConfigJson {
    pub bus_topology: Option<String>,
    pub bus_width: Option<i64>,
    pub layout: Option<[i64; 2]>,
    pub net_config_file_path: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimConfigJson {
    pub sim_mode: Option<i64>,
    pub sim_time: Option<f64>,
    pub report_verbose_level: Option<i64>,
}

/// pimlir's own keys (not part of the pimsim-nn format).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PimlirJson {
    pub name: Option<String>,
    /// Number of chips; cores are `chips * core_cnt`.
    pub chips: Option<i64>,
    /// Activation precision in bits (input/output bit width of mvmul and vector ops).
    pub activation_bits: Option<i64>,
    /// Weight precision in bits (`mbiw`).
    pub weight_bits: Option<i64>,
    /// The vector unit has exp, log and divide (`vexp`, `vlog`, `vvdiv`), as PUMA's does.
    pub vector_extensions: Option<bool>,
    /// What `xbar_array_count` counts: `"logical"` crossbars (each holds full-precision
    /// weights; PIMCOMP-NN and pimsim-nn) or `"physical"` ones (a weight spans
    /// ceil(weight_bits / cell_precision) of them; ISAAC, PUMA).
    pub crossbars: Option<String>,
}
