// RUN: pim-opt %s --arch %inputs/tiny-arch.json --split-input-file --verify-diagnostics

func.func @wrong_placement_count(%x: tensor<1x128xf32>) -> tensor<1x10xf32> {
  // expected-error@+1 {{layer 'fc': 2 array groups but 1 cores in ag_cores}}
  %0 = "pim_core.fc"(%x) {ag_cores = array<i64: 1>, ag_count = 2 : i64, ag_rows = 64 : i64, cols = 10 : i64, name = "fc", replicas = 1 : i64, rows = 128 : i64, transpose_weight = true, weight = "fc.w", xbars_per_ag = 1 : i64} : (tensor<1x128xf32>) -> tensor<1x10xf32>
  return %0 : tensor<1x10xf32>
}

// -----

func.func @missing_core(%x: tensor<1x128xf32>) -> tensor<1x10xf32> {
  // expected-error@+1 {{layer 'fc': core 40 does not exist (the architecture has 12)}}
  %0 = "pim_core.fc"(%x) {ag_cores = array<i64: 1, 40>, ag_count = 2 : i64, ag_rows = 64 : i64, cols = 10 : i64, name = "fc", replicas = 1 : i64, rows = 128 : i64, transpose_weight = true, weight = "fc.w", xbars_per_ag = 1 : i64} : (tensor<1x128xf32>) -> tensor<1x10xf32>
  return %0 : tensor<1x10xf32>
}

// -----

// The layer that fills the core beyond its crossbars carries the error.
func.func @over_capacity(%x: tensor<1x128xf32>) -> tensor<1x10xf32> {
  // expected-error@+1 {{core 1 holds array groups of 4 crossbars but has 3}}
  %0 = "pim_core.fc"(%x) {ag_cores = array<i64: 1, 1, 1, 1>, ag_count = 2 : i64, ag_rows = 64 : i64, cols = 10 : i64, name = "fc", replicas = 2 : i64, rows = 128 : i64, transpose_weight = true, weight = "fc.w", xbars_per_ag = 1 : i64} : (tensor<1x128xf32>) -> tensor<1x10xf32>
  return %0 : tensor<1x10xf32>
}

// -----

func.func @unplaced_pool(%x: tensor<1x8x8x8xf32>) -> tensor<1x8x4x4xf32> {
  // expected-error@+1 {{'maxpool' is placed on no core}}
  %0 = "pim_core.maxpool"(%x) {cores = array<i64>, kernel = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 2, 2>} : (tensor<1x8x8x8xf32>) -> tensor<1x8x4x4xf32>
  return %0 : tensor<1x8x4x4xf32>
}

// -----

func.func @mixed_levels(%x: tensor<1x128xf32>) -> tensor<1x10xf32> {
  %0 = "pim_core.relu"(%x) {cores = array<i64: 0>} : (tensor<1x128xf32>) -> tensor<1x128xf32>
  // expected-error@+1 {{'graph.fc' is at the graph level but 'pim_core.relu' is at the pim_core level; a module must be at one level}}
  %1 = "graph.fc"(%0) {name = "fc", transpose_weight = true, weight = "fc.w"} : (tensor<1x128xf32>) -> tensor<1x10xf32>
  return %1 : tensor<1x10xf32>
}
