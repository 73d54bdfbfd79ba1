// A small partitioned network shared by pass tests: conv(3x3, 4->8, pad 1) + relu, maxpool,
// flatten, fc(128 -> 10). With the tiny architecture (64x64 crossbars, 3 per core) the conv
// is one group, the fc two.
module {
  func.func @main(%x: tensor<1x4x8x8xf32>) -> tensor<1x10xf32> {
    %0 = "graph.conv2d"(%x) {name = "conv", weight = "conv.w", bias = "conv.b", kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64, act = "relu"} : (tensor<1x4x8x8xf32>) -> tensor<1x8x8x8xf32>
    %1 = "graph.maxpool"(%0) {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>} : (tensor<1x8x8x8xf32>) -> tensor<1x8x4x4xf32>
    %2 = "graph.flatten"(%1) {axis = 1 : i64} : (tensor<1x8x4x4xf32>) -> tensor<1x128xf32>
    %3 = "graph.fc"(%2) {name = "fc", weight = "fc.w", transpose_weight = true} : (tensor<1x128xf32>) -> tensor<1x10xf32>
    return %3 : tensor<1x10xf32>
  }
}
