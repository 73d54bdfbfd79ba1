// RUN: pim-opt %s --arch %inputs/tiny-arch.json | FileCheck %s
// RUN: pim-opt %s --arch %inputs/tiny-arch.json | pim-opt --arch %inputs/tiny-arch.json | FileCheck %s

// CHECK: "pim_core.conv2d"(%arg0) {{{.*}}ag_cores = array<i64: 0, 0>, {{.*}}replicas = 2 : i64
// CHECK: "pim_core.maxpool"({{.*}}) {cores = array<i64: 0>
// CHECK: "pim_core.flatten"({{.*}}) {axis = 1 : i64, cores = array<i64>}
// CHECK: "pim_core.fc"({{.*}}) {ag_cores = array<i64: 1, 2>, ag_count = 2 : i64, ag_rows = 64 : i64
module attributes {pim.arch = "tiny"} {
  func.func @main(%arg0: tensor<1x4x8x8xf32>) -> tensor<1x10xf32> {
    %0 = "pim_core.conv2d"(%arg0) {act = "relu", ag_cores = array<i64: 0, 0>, ag_count = 1 : i64, ag_rows = 64 : i64, bias = "conv.b", cols = 8 : i64, dilations = array<i64: 1, 1>, group = 1 : i64, kernel = array<i64: 3, 3>, name = "conv", pads = array<i64: 1, 1, 1, 1>, replicas = 2 : i64, rows = 36 : i64, strides = array<i64: 1, 1>, weight = "conv.w", xbars_per_ag = 1 : i64} : (tensor<1x4x8x8xf32>) -> tensor<1x8x8x8xf32>
    %1 = "pim_core.maxpool"(%0) {cores = array<i64: 0>, kernel = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 2, 2>} : (tensor<1x8x8x8xf32>) -> tensor<1x8x4x4xf32>
    %2 = "pim_core.flatten"(%1) {axis = 1 : i64, cores = array<i64>} : (tensor<1x8x4x4xf32>) -> tensor<1x128xf32>
    %3 = "pim_core.fc"(%2) {ag_cores = array<i64: 1, 2>, ag_count = 2 : i64, ag_rows = 64 : i64, cols = 10 : i64, name = "fc", replicas = 1 : i64, rows = 128 : i64, transpose_weight = true, weight = "fc.w", xbars_per_ag = 1 : i64} : (tensor<1x128xf32>) -> tensor<1x10xf32>
    return %3 : tensor<1x10xf32>
  }
}
