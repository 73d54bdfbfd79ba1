//! Built-in accelerator presets, written in the same config format a user would write.
//!
//! Geometry from PIMCOMP (TCAD'24) Table II; timing of `pimcomp-default` is PIMCOMP-NN's
//! config (which says `core_cnt: 136`; the preset uses the full 12x12 mesh of 144 cores, as
//! PIMCOMP's own evaluation does - give the JSON file with `--arch` to get exactly 136).
//! The others reuse that timing with their own crossbar geometry, since the papers do not
//! publish pimsim-style cycle counts.

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
const ISAAC: &str = r#"{
  "chip_config": {
    "core_cnt": 168,
    "core_config": {
      "period": 1, "rob_size": 1, "vector_width": 32, "vector_latency_cycle": 4,
      "matrix_config": {
        "xbar_array_count": 96, "period": 1, "pipeline_mode": true,
        "dac_resolution": 1, "dac_count": 128, "dac_latency_cycle": 1,
        "xbar_size": [128, 128], "cell_precision": 2, "xbar_latency": 100,
        "sample_hold_latency_cycle": 1,
        "adc_resolution": 8, "adc_latency_cycle": 1, "adc_count": 1,
        "shift_adder_latency_cycle": 1, "output_buffer_latency_cycle": 1, "input_buffer_latency_cycle": 0
      },
      "local_memory_config": {
        "memory_size": 65536, "data_width": 32, "period": 1,
        "write_latency_cycle": 2, "read_latency_cycle": 2
      }
    },
    "global_memory_config": {
      "memory_size": 1073741824, "data_width": 32, "period": 1,
      "write_latency_cycle": 50, "read_latency_cycle": 40
    },
    "network_config": { "bus_topology": "mesh", "bus_width": 32, "layout": [14, 12] }
  },
  "sim_config": { "sim_mode": 0, "sim_time": 200 },
  "pimlir": { "name": "isaac", "activation_bits": 16, "weight_bits": 16 }
}"#;

/// PUMA (Arch-B): 138 cores of 128 128x128 crossbars with 2-bit cells.
const PUMA: &str = r#"{
  "chip_config": {
    "core_cnt": 138,
    "core_config": {
      "period": 1, "rob_size": 1, "vector_width": 32, "vector_latency_cycle": 4,
      "matrix_config": {
        "xbar_array_count": 128, "period": 1, "pipeline_mode": true,
        "dac_resolution": 1, "dac_count": 128, "dac_latency_cycle": 1,
        "xbar_size": [128, 128], "cell_precision": 2, "xbar_latency": 100,
        "sample_hold_latency_cycle": 1,
        "adc_resolution": 8, "adc_latency_cycle": 1, "adc_count": 1,
        "shift_adder_latency_cycle": 1, "output_buffer_latency_cycle": 1, "input_buffer_latency_cycle": 0
      },
      "local_memory_config": {
        "memory_size": 65536, "data_width": 32, "period": 1,
        "write_latency_cycle": 2, "read_latency_cycle": 2
      }
    },
    "global_memory_config": {
      "memory_size": 1073741824, "data_width": 32, "period": 1,
      "write_latency_cycle": 50, "read_latency_cycle": 40
    },
    "network_config": { "bus_topology": "mesh", "bus_width": 32, "layout": [12, 12] }
  },
  "sim_config": { "sim_mode": 0, "sim_time": 200 },
  "pimlir": { "name": "puma", "activation_bits": 16, "weight_bits": 16 }
}"#;

/// ISSCC'23 (Arch-C): 16 chips of 4 cores, 8 crossbars of 512x1024 with 2-bit cells each.
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
