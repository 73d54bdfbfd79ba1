//! Built-in accelerator presets, written in the same config format a user would write.
//!
//! Geometry from PIMCOMP (TCAD'24) Table II; timing of `pimcomp-default` is PIMCOMP-NN's
//! config (which says `core_cnt: 136`; the preset uses the full 12x12 mesh of 144 cores, as
//! PIMCOMP's own evaluation does - give the JSON file with `--arch` to get exactly 136).
//! The others reuse that timing with their own crossbar geometry, since the papers do not
//! publish pimsim-style cycle counts. Power figures: `pimcomp-default` has PIMCOMP-NN's three
//! (crossbar read, ADC dynamic and static); `isaac` and `puma` those their sources publish
//! (see each); `isscc23` none (no published figures found). Keys a preset does not give take
//! pimlir's defaults (0, or pimsim-nn's 1 mW memory leakage) and are listed in every report.

pub const PRESETS: &[(&str, &str)] =
    &[("pimcomp-default", PIMCOMP_DEFAULT), ("isaac", ISAAC), ("puma", PUMA), ("isscc23", ISSCC23)];

const PIMCOMP_DEFAULT: &str = r#"{
  "chip_config": {
    "core_cnt": 144,
    "global_memory_switch_id": -10,
    "core_config": {
      "period": 1,
      "rob_size": 1,
      "vector_width": 32,
      "vector_latency_cycle": 4,
      "global_memory_switch_id": -10,
      "matrix_config": {
        "xbar_array_count": 64, "period": 1, "pipeline_mode": true,
        "dac_resolution": 1, "dac_count": 128, "dac_latency_cycle": 1,
        "xbar_size": [128, 128], "cell_precision": 2, "xbar_latency": 7, "xbar_read_power": 22.24,
        "sample_hold_latency_cycle": 1,
        "adc_resolution": 8, "adc_latency_cycle": 20, "adc_count": 16,
        "adc_static_power": 0.322, "adc_dynamic_power": 1.135,
        "shift_adder_latency_cycle": 1, "output_buffer_latency_cycle": 1, "input_buffer_latency_cycle": 0
      },
      "local_memory_config": {
        "memory_size": 1048576, "data_width": 64, "period": 1,
        "write_latency_cycle": 30, "read_latency_cycle": 20
      }
    },
    "global_memory_config": {
      "memory_size": 1073741824, "data_width": 32, "period": 1,
      "write_latency_cycle": 50, "read_latency_cycle": 40
    },
    "network_config": { "bus_topology": "mesh", "bus_width": 32, "layout": [12, 12] }
  },
  "sim_config": { "sim_mode": 0, "sim_time": 200, "report_verbose_level": 0 },
  "pimlir": { "name": "pimcomp-default", "activation_bits": 16, "weight_bits": 8 }
}"#;

/// ISAAC (Arch-A): 168 cores of 96 128x128 crossbars with 2-bit cells, 64 KiB eDRAM per tile.
/// The crossbars are physical: a 16-bit weight spans 8 of them, so a core holds 12 logical
/// crossbars' weights.
///
/// Powers from ISAAC (Shafiee et al., ISCA'16) as quoted by Accelergy's hwcomponents-library
/// (`library/isaac.py`) and the PUMA simulator (`include/constants.py`, "Models from ISAAC
/// paper"): DAC 4 mW per IMA of 8 x 128 DACs -> 0.0039 mW each; ADC 16 mW per 8 ADCs -> 2 mW
/// each; crossbar 0.3 mW (128x128); sample-and-hold 9.7e-6 mW per column; shift-and-add 0.2
/// mW per IMA of 8 crossbars -> 0.025 mW each; eDRAM 20.45 pJ per 256-bit access. Not
/// published in a usable form: static powers (ISAAC gives totals), buffers, the vector unit,
/// control, global memory; the router's 20.74 pJ per 256-bit flit needs a NoC table. pimlir
/// charges a DAC only for its `dac_latency_cycle`, which undercounts ISAAC's DACs (on for
/// the whole 100 ns read).
const ISAAC: &str = r#"{
  "chip_config": {
    "core_cnt": 168,
    "core_config": {
      "period": 1, "rob_size": 1, "vector_width": 32, "vector_latency_cycle": 4,
      "matrix_config": {
        "xbar_array_count": 96, "period": 1, "pipeline_mode": true,
        "dac_resolution": 1, "dac_count": 128, "dac_latency_cycle": 1, "dac_dynamic_power": 0.0039,
        "xbar_size": [128, 128], "cell_precision": 2, "xbar_latency": 100, "xbar_read_power": 0.3,
        "sample_hold_latency_cycle": 1, "sample_hold_dynamic_power": 0.0000097,
        "adc_resolution": 8, "adc_latency_cycle": 1, "adc_count": 1, "adc_dynamic_power": 2.0,
        "shift_adder_latency_cycle": 1, "shift_adder_dynamic_power": 0.025,
        "output_buffer_latency_cycle": 1, "input_buffer_latency_cycle": 0
      },
      "local_memory_config": {
        "memory_size": 65536, "data_width": 32, "period": 1,
        "write_latency_cycle": 2, "read_latency_cycle": 2,
        "read_dynamic_energy": 20.45, "write_dynamic_energy": 20.45
      }
    },
    "global_memory_config": {
      "memory_size": 1073741824, "data_width": 32, "period": 1,
      "write_latency_cycle": 50, "read_latency_cycle": 40
    },
    "network_config": { "bus_topology": "mesh", "bus_width": 32, "layout": [14, 12] }
  },
  "sim_config": { "sim_mode": 0, "sim_time": 200 },
  "pimlir": { "name": "isaac", "activation_bits": 16, "weight_bits": 16, "crossbars": "physical" }
}"#;

/// PUMA (Arch-B): 138 cores of 128 128x128 crossbars with 2-bit cells. The crossbars are
/// physical: an MVMU is 8 of them holding the 2-bit slices of 16-bit weights, so a core holds
/// 16 logical crossbars' weights.
///
/// Powers from the PUMA authors' simulator (Ankit et al., ASPLOS'19; puma-simulator
/// `include/constants.py`, "all values in ns, mw"): DAC 0.00350625 dynamic / 0.000390625
/// leakage mW; ADC (8 bit) 1.8 / 0.2 mW; sample-and-hold 8.73e-6 mW per column dynamic,
/// 128 x 9.7e-7 mW per crossbar leakage; shift-and-add 0.045 / 0.005 mW; crossbar 0.3 mW;
/// input / output buffers 1.7 / 0.16 mW per MVMU of 8 physical crossbars -> 0.2125 / 0.02 mW,
/// leakage 0.04 -> 0.005 each; eDRAM (64 KB) 17.2 pJ per access, 0.46 mW leakage; vector ALU
/// 0.373 x 32/45 mW per lane -> about 8.5 pJ per 32-element chunk, leakage 4 ALUs x 8 cores x
/// 0.192 -> 6.1 mW; control 8 x 0.25 + 0.05 -> 2.05 mW. Not published: global memory (only
/// off-chip HyperTransport), the router (16.13 mW per router needs a NoC table). The paper's
/// own table was not available to check these against.
const PUMA: &str = r#"{
  "chip_config": {
    "core_cnt": 138,
    "core_config": {
      "period": 1, "rob_size": 1, "vector_width": 32, "vector_latency_cycle": 4,
      "controller_static_power": 2.05, "vector_alu_static_power": 6.1, "vector_alu_dynamic_energy": 8.5,
      "matrix_config": {
        "xbar_array_count": 128, "period": 1, "pipeline_mode": true,
        "dac_resolution": 1, "dac_count": 128, "dac_latency_cycle": 1,
        "dac_dynamic_power": 0.00350625, "dac_static_power": 0.000390625,
        "xbar_size": [128, 128], "cell_precision": 2, "xbar_latency": 100, "xbar_read_power": 0.3,
        "sample_hold_latency_cycle": 1, "sample_hold_dynamic_power": 0.00000873, "sample_hold_static_power": 0.000124,
        "adc_resolution": 8, "adc_latency_cycle": 1, "adc_count": 1, "adc_dynamic_power": 1.8, "adc_static_power": 0.2,
        "shift_adder_latency_cycle": 1, "shift_adder_dynamic_power": 0.045, "shift_adder_static_power": 0.005,
        "output_buffer_latency_cycle": 1, "output_buffer_dynamic_power": 0.02, "output_buffer_static_power": 0.005,
        "input_buffer_latency_cycle": 0, "input_buffer_dynamic_power": 0.2125, "input_buffer_static_power": 0.005
      },
      "local_memory_config": {
        "memory_size": 65536, "data_width": 32, "period": 1,
        "write_latency_cycle": 2, "read_latency_cycle": 2,
        "read_dynamic_energy": 17.2, "write_dynamic_energy": 17.2, "static_power": 0.46
      }
    },
    "global_memory_config": {
      "memory_size": 1073741824, "data_width": 32, "period": 1,
      "write_latency_cycle": 50, "read_latency_cycle": 40
    },
    "network_config": { "bus_topology": "mesh", "bus_width": 32, "layout": [12, 12] }
  },
  "sim_config": { "sim_mode": 0, "sim_time": 200 },
  "pimlir": { "name": "puma", "activation_bits": 16, "weight_bits": 16, "vector_extensions": true, "crossbars": "physical" }
}"#;

/// ISSCC'23 (Arch-C): 16 chips of 4 cores, 8 crossbars of 512x1024 with 2-bit cells each.
/// Counted as logical crossbars (the default), as the design brief's geometry is given; as
/// physical ones, 8-bit weights in 2-bit cells would leave 2 logical crossbars per core.
const ISSCC23: &str = r#"{
  "chip_config": {
    "core_cnt": 4,
    "core_config": {
      "period": 1, "rob_size": 1, "vector_width": 32, "vector_latency_cycle": 4,
      "matrix_config": {
        "xbar_array_count": 8, "period": 1, "pipeline_mode": true,
        "dac_resolution": 1, "dac_count": 512, "dac_latency_cycle": 1,
        "xbar_size": [512, 1024], "cell_precision": 2, "xbar_latency": 50,
        "sample_hold_latency_cycle": 1,
        "adc_resolution": 8, "adc_latency_cycle": 8, "adc_count": 64,
        "shift_adder_latency_cycle": 1, "output_buffer_latency_cycle": 1, "input_buffer_latency_cycle": 0
      },
      "local_memory_config": {
        "memory_size": 262144, "data_width": 64, "period": 1,
        "write_latency_cycle": 2, "read_latency_cycle": 2
      }
    },
    "global_memory_config": {
      "memory_size": 1073741824, "data_width": 32, "period": 1,
      "write_latency_cycle": 50, "read_latency_cycle": 40
    },
    "network_config": { "bus_topology": "mesh", "bus_width": 32, "layout": [2, 2] }
  },
  "sim_config": { "sim_mode": 0, "sim_time": 200 },
  "pimlir": { "name": "isscc23", "chips": 16, "activation_bits": 8, "weight_bits": 8 }
}"#;
