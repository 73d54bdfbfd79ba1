// Two convolutions with different window counts (64 and 16) and an fc, for the replication
// strategies: conv1 (3x3, 4->8, pad 1) on 8x8, conv2 (3x3, 8->8, stride 2, pad 1) to 4x4,
// flatten, fc(128 -> 10). On the tiny architecture (64x64 crossbars, 3 per core, 12 cores:
// 36 crossbars) conv1 is one 1-crossbar group (36 rows), conv2 two (72 rows), the fc two.
module {
  func.func @main(%x: tensor<1x4x8x8xf32>) -> tensor<1x10xf32> {
    %0 = "graph.conv2d"(%x) {name = "conv1", weight = "conv1.w", kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64, act = "relu"} : (tensor<1x4x8x8xf32>) -> tensor<1x8x8x8xf32>
    %1 = "graph.conv2d"(%0) {name = "conv2", weight = "conv2.w", kernel = array<i64: 3, 3>, strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64, act = "relu"} : (tensor<1x8x8x8xf32>) -> tensor<1x8x4x4xf32>
    %2 = "graph.flatten"(%1) {axis = 1 : i64} : (tensor<1x8x4x4xf32>) -> tensor<1x128xf32>
    %3 = "graph.fc"(%2) {name = "fc", weight = "fc.w", transpose_weight = true} : (tensor<1x128xf32>) -> tensor<1x10xf32>
    return %3 : tensor<1x10xf32>
  }
}
