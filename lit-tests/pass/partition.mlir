// --partition unfolds conv weights to (K*K*C_in) x C_out and cuts them into array groups
// of crossbar height; fc layers keep their (in x out) matrix. Vector ops stay in graph.
// RUN: pim-opt %s --partition=format=ik2_o_1 | FileCheck %s
// RUN: pim-opt %s --partition="ag-rows=32 format=ik2_o_1" | FileCheck %s --check-prefix=ROWS32
// RUN: pim-opt %s --arch isscc23 --partition=format=ik2_o_1 | FileCheck %s --check-prefix=BIG

// CHECK: module attributes {pim.arch = "pimcomp-default"}
func.func @main(%x: tensor<1x16x8x8xf32>) -> tensor<1x200xf32> {
  // 3*3*16 = 144 rows: 2 groups of 128 rows; 130 columns: 2 crossbars of 128 columns.
  // CHECK: "pim_partition.conv2d"(%arg0) {{{.*}}ag_count = 2 : i64, ag_rows = 128 : i64, {{.*}}cols = 130 : i64, {{.*}}replicas = 1 : i64, rows = 144 : i64, {{.*}}xbars_per_ag = 2 : i64}
  // ROWS32: "pim_partition.conv2d"{{.*}}ag_count = 5 : i64, ag_rows = 32 : i64
  // BIG: "pim_partition.conv2d"{{.*}}ag_count = 1 : i64, ag_rows = 512 : i64{{.*}}xbars_per_ag = 1 : i64
  %0 = "graph.conv2d"(%x) {name = "conv", weight = "conv.w", kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64, act = "relu"} : (tensor<1x16x8x8xf32>) -> tensor<1x130x8x8xf32>
  // CHECK: "graph.maxpool"
  %1 = "graph.maxpool"(%0) {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>} : (tensor<1x130x8x8xf32>) -> tensor<1x130x4x4xf32>
  %2 = "graph.flatten"(%1) {axis = 1 : i64} : (tensor<1x130x4x4xf32>) -> tensor<1x2080xf32>
  // 2080 rows: 17 groups; 200 columns: 2 crossbars.
  // CHECK: "pim_partition.fc"({{.*}}) {ag_count = 17 : i64, ag_rows = 128 : i64, cols = 200 : i64, name = "fc", replicas = 1 : i64, rows = 2080 : i64, transpose_weight = false, weight = "fc.w", xbars_per_ag = 2 : i64}
  %3 = "graph.fc"(%2) {name = "fc", weight = "fc.w", transpose_weight = false} : (tensor<1x2080xf32>) -> tensor<1x200xf32>
  return %3 : tensor<1x200xf32>
}
