// RUN: not pim-opt %s --partition=ag-rows=500 2>&1 | FileCheck %s --check-prefix=ROWS
// RUN: not pim-opt %s --partition=ag-rows=0 2>&1 | FileCheck %s --check-prefix=ZERO
// RUN: not pim-opt %s --partition=frobs=1 2>&1 | FileCheck %s --check-prefix=OPT
// RUN: pim-opt %s --partition | not pim-opt --partition 2>&1 | FileCheck %s --check-prefix=TWICE

// ROWS: error: ag-rows = 500 must be an integer in 1..=128 (the crossbar height)
// ZERO: error: ag-rows = 0 must be an integer in 1..=128 (the crossbar height)
// OPT: error: pass 'partition' has no option 'frobs'; options: ag-rows
// TWICE: error: --partition expects graph-level IR, got pim_partition-level IR
func.func @main(%x: tensor<1x8xf32>) -> tensor<1x4xf32> {
  %0 = "graph.fc"(%x) {name = "fc", weight = "fc.w", transpose_weight = false} : (tensor<1x8xf32>) -> tensor<1x4xf32>
  return %0 : tensor<1x4xf32>
}
