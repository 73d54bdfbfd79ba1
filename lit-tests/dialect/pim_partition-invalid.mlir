// RUN: pim-opt %s --split-input-file --verify-diagnostics

func.func @wrong_group_count(%x: tensor<1x300xf32>) -> tensor<1x10xf32> {
  // expected-error@+1 {{layer 'fc': 300 rows in groups of 128 make 3 array groups, not 2}}
  %0 = "pim_partition.fc"(%x) {ag_count = 2 : i64, ag_rows = 128 : i64, cols = 10 : i64, name = "fc", replicas = 1 : i64, rows = 300 : i64, transpose_weight = true, weight = "fc.w", xbars_per_ag = 1 : i64} : (tensor<1x300xf32>) -> tensor<1x10xf32>
  return %0 : tensor<1x10xf32>
}

// -----

func.func @rows_taller_than_crossbar(%x: tensor<1x300xf32>) -> tensor<1x10xf32> {
  // expected-error@+1 {{layer 'fc': ag_rows = 300 must be in 1..=128 (the crossbar height)}}
  %0 = "pim_partition.fc"(%x) {ag_count = 1 : i64, ag_rows = 300 : i64, cols = 10 : i64, name = "fc", replicas = 1 : i64, rows = 300 : i64, transpose_weight = true, weight = "fc.w", xbars_per_ag = 1 : i64} : (tensor<1x300xf32>) -> tensor<1x10xf32>
  return %0 : tensor<1x10xf32>
}

// -----

func.func @wrong_matrix(%x: tensor<1x300xf32>) -> tensor<1x10xf32> {
  // expected-error@+1 {{layer 'fc': matrix is 300x10, not 200x10}}
  %0 = "pim_partition.fc"(%x) {ag_count = 2 : i64, ag_rows = 128 : i64, cols = 10 : i64, name = "fc", replicas = 1 : i64, rows = 200 : i64, transpose_weight = true, weight = "fc.w", xbars_per_ag = 1 : i64} : (tensor<1x300xf32>) -> tensor<1x10xf32>
  return %0 : tensor<1x10xf32>
}

// -----

func.func @too_few_crossbars(%x: tensor<1x64xf32>) -> tensor<1x300xf32> {
  // expected-error@+1 {{layer 'fc': 300 columns per group need 3 crossbars of 128 columns, not 2}}
  %0 = "pim_partition.fc"(%x) {ag_count = 1 : i64, ag_rows = 128 : i64, cols = 300 : i64, name = "fc", replicas = 1 : i64, rows = 64 : i64, transpose_weight = true, weight = "fc.w", xbars_per_ag = 2 : i64} : (tensor<1x64xf32>) -> tensor<1x300xf32>
  return %0 : tensor<1x300xf32>
}

// -----

func.func @no_replicas(%x: tensor<1x64xf32>) -> tensor<1x10xf32> {
  // expected-error@+1 {{attribute "replicas" is expected but not provided}}
  %0 = "pim_partition.fc"(%x) {ag_count = 1 : i64, ag_rows = 128 : i64, cols = 10 : i64, name = "fc", rows = 64 : i64, transpose_weight = true, weight = "fc.w", xbars_per_ag = 1 : i64} : (tensor<1x64xf32>) -> tensor<1x10xf32>
  return %0 : tensor<1x10xf32>
}

// -----

func.func @vector_op_in_partition_dialect(%x: tensor<1x64xf32>) -> tensor<1x64xf32> {
  // expected-error@+1 {{unregistered operation 'pim_partition.relu'}}
  %0 = "pim_partition.relu"(%x) : (tensor<1x64xf32>) -> tensor<1x64xf32>
  return %0 : tensor<1x64xf32>
}
