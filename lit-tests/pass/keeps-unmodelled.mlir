// A pass keeps what it does not model: every op's location and the attributes pimlir does
// not know (here `my.note`, `my.tag` and one on the function) survive partition,
// replicate and map-cores. Argument attributes other than pim.name (and arguments' own
// locations) are dropped, as docs/design.md says.
// RUN: pim-opt %s --partition --replicate --map-cores --mlir-print-debuginfo | FileCheck %s

// CHECK: func.func @main(%arg0: tensor<1x8xf32> {pim.name = "x"} loc({{.*}})) -> (tensor<1x4xf32> {pim.name = "y"}) attributes {my.func_note = "kept"}
// CHECK-NOT: my.arg_note
// CHECK: "pim_core.fc"(%arg0) {{{.*}}my.note = "kept"{{.*}}} : (tensor<1x8xf32>) -> tensor<1x4xf32> loc(#[[FC:loc[0-9]*]])
// CHECK: "pim_core.relu"({{.*}}) {cores = array<i64: 0>, my.tag = 7 : i64} : (tensor<1x4xf32>) -> tensor<1x4xf32> loc(#[[RELU:loc[0-9]*]])
// CHECK-DAG: #[[FC]] = loc("{{.*}}keeps-unmodelled.mlir":14:8)
// CHECK-DAG: #[[RELU]] = loc("the relu"(
func.func @main(%x: tensor<1x8xf32> {pim.name = "x", my.arg_note = "dropped"}) -> (tensor<1x4xf32> {pim.name = "y"}) attributes {my.func_note = "kept"} {
  %0 = "graph.fc"(%x) {name = "fc", weight = "fc.w", transpose_weight = false, my.note = "kept"} : (tensor<1x8xf32>) -> tensor<1x4xf32>
  %1 = "graph.relu"(%0) {my.tag = 7 : i64} : (tensor<1x4xf32>) -> tensor<1x4xf32> loc("the relu"("relu.py":3:1))
  return %1 : tensor<1x4xf32>
}
