// Each chunk is compiled on its own and the outputs are separated like mlir-opt's; errors
// keep the line numbers of the whole file (see dialect/*-invalid.mlir).
// RUN: pim-opt %s --split-input-file --partition | FileCheck %s

// CHECK: "pim_partition.fc"{{.*}}rows = 8
// CHECK: // -----
// CHECK: "pim_partition.fc"{{.*}}rows = 16
func.func @a(%x: tensor<1x8xf32>) -> tensor<1x4xf32> {
  %0 = "graph.fc"(%x) {name = "fc", weight = "w", transpose_weight = false} : (tensor<1x8xf32>) -> tensor<1x4xf32>
  return %0 : tensor<1x4xf32>
}

// -----

func.func @b(%x: tensor<1x16xf32>) -> tensor<1x4xf32> {
  %0 = "graph.fc"(%x) {name = "fc", weight = "w", transpose_weight = false} : (tensor<1x16xf32>) -> tensor<1x4xf32>
  return %0 : tensor<1x4xf32>
}
