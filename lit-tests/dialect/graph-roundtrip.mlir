// Every graph op parses, verifies, and prints back to a fixed point.
// RUN: pim-opt %s | FileCheck %s
// RUN: pim-opt %s | pim-opt | FileCheck %s

// CHECK-LABEL: func.func @main
// CHECK-SAME: {pim.name = "image"}
func.func @main(%x: tensor<1x3x8x8xf32> {pim.name = "image"}, %y: tensor<1x4x8x8xf32> {pim.name = "skip"}) -> (tensor<1x10xf32> {pim.name = "probs"}) {
  // CHECK: %[[C:.*]] = "graph.conv2d"(%arg0) {act = "relu", bias = "c1.b", dilations = array<i64: 1, 1>, group = 1 : i64, kernel = array<i64: 3, 3>, name = "c1", pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 1, 1>, weight = "c1.w"} : (tensor<1x3x8x8xf32>) -> tensor<1x4x8x8xf32>
  %0 = "graph.conv2d"(%x) {name = "c1", weight = "c1.w", bias = "c1.b", act = "relu", kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<1x3x8x8xf32>) -> tensor<1x4x8x8xf32>
  // CHECK: %[[R:.*]] = "graph.relu"(%[[C]])
  %1 = "graph.relu"(%0) : (tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
  // CHECK: "graph.add"(%[[R]], %arg1)
  %2 = "graph.add"(%1, %y) : (tensor<1x4x8x8xf32>, tensor<1x4x8x8xf32>) -> tensor<1x4x8x8xf32>
  // CHECK: "graph.maxpool"({{.*}}) {kernel = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 2, 2>}
  %3 = "graph.maxpool"(%2) {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>} : (tensor<1x4x8x8xf32>) -> tensor<1x4x4x4xf32>
  // CHECK: "graph.avgpool"({{.*}}) {count_include_pad = false
  %4 = "graph.avgpool"(%3) {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, count_include_pad = false} : (tensor<1x4x4x4xf32>) -> tensor<1x4x2x2xf32>
  // CHECK: "graph.concat"({{.*}}) {axis = 1 : i64} : (tensor<1x4x2x2xf32>, tensor<1x4x2x2xf32>) -> tensor<1x8x2x2xf32>
  %5 = "graph.concat"(%4, %4) {axis = 1 : i64} : (tensor<1x4x2x2xf32>, tensor<1x4x2x2xf32>) -> tensor<1x8x2x2xf32>
  // CHECK: "graph.global_avgpool"
  %6 = "graph.global_avgpool"(%5) : (tensor<1x8x2x2xf32>) -> tensor<1x8x1x1xf32>
  // CHECK: "graph.flatten"({{.*}}) {axis = 1 : i64}
  %7 = "graph.flatten"(%6) {axis = 1 : i64} : (tensor<1x8x1x1xf32>) -> tensor<1x8xf32>
  // CHECK: "graph.fc"({{.*}}) {name = "f", transpose_weight = true, weight = "f.w"}
  %8 = "graph.fc"(%7) {name = "f", weight = "f.w", transpose_weight = true} : (tensor<1x8xf32>) -> tensor<1x10xf32>
  // CHECK: "graph.softmax"({{.*}}) {axis = -1 : i64}
  %9 = "graph.softmax"(%8) {axis = -1 : i64} : (tensor<1x10xf32>) -> tensor<1x10xf32>
  return %9 : tensor<1x10xf32>
}
