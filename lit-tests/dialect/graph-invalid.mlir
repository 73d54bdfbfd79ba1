// IRDL and pimlir's verifier reject malformed graph IR with the op's location.
// RUN: pim-opt %s --split-input-file --verify-diagnostics

func.func @missing_attribute(%x: tensor<1x3x8x8xf32>) -> tensor<1x4x8x8xf32> {
  // expected-error@+1 {{attribute "weight" is expected but not provided}}
  %0 = "graph.conv2d"(%x) {name = "c", kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<1x3x8x8xf32>) -> tensor<1x4x8x8xf32>
  return %0 : tensor<1x4x8x8xf32>
}

// -----

func.func @wrong_result_shape(%x: tensor<1x3x8x8xf32>) -> tensor<1x4x7x7xf32> {
  // expected-error@+1 {{result shape [1, 4, 7, 7] does not match the inferred shape [1, 4, 8, 8]}}
  %0 = "graph.conv2d"(%x) {name = "c", weight = "w", kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64} : (tensor<1x3x8x8xf32>) -> tensor<1x4x7x7xf32>
  return %0 : tensor<1x4x7x7xf32>
}

// -----

func.func @bad_activation(%x: tensor<1x8xf32>) -> tensor<1x4xf32> {
  // expected-error@+1 {{unknown activation 'gelu' (expected relu, leaky_relu, clip, sigmoid, tanh, hard_sigmoid, hard_swish)}}
  %0 = "graph.fc"(%x) {name = "f", weight = "w", transpose_weight = false, act = "gelu"} : (tensor<1x8xf32>) -> tensor<1x4xf32>
  return %0 : tensor<1x4xf32>
}

// -----

func.func @batch_two(%x: tensor<2x3x8x8xf32>) -> tensor<2x3x4x4xf32> {
  // expected-error@+1 {{pooling input has batch size 2; pimlir compiles batch-1 inference}}
  %0 = "graph.maxpool"(%x) {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>} : (tensor<2x3x8x8xf32>) -> tensor<2x3x4x4xf32>
  return %0 : tensor<2x3x4x4xf32>
}

// -----

func.func @add_shapes(%x: tensor<1x8xf32>, %y: tensor<1x4xf32>) -> tensor<1x8xf32> {
  // expected-error@+1 {{shapes [1, 8] and [1, 4] do not broadcast}}
  %0 = "graph.add"(%x, %y) : (tensor<1x8xf32>, tensor<1x4xf32>) -> tensor<1x8xf32>
  return %0 : tensor<1x8xf32>
}

// -----

// expected-error@+1 {{graph input 0: tensor tensor<1x?xf32> has a dynamic dimension; pimlir needs static shapes}}
func.func @dynamic(%x: tensor<1x?xf32>) -> tensor<1x?xf32> {
  %0 = "graph.relu"(%x) : (tensor<1x?xf32>) -> tensor<1x?xf32>
  return %0 : tensor<1x?xf32>
}

// -----

func.func @two_operands(%x: tensor<1x8xf32>) -> tensor<1x8xf32> {
  // expected-error@+1 {{op expects exactly 1 operands, but got 2}}
  %0 = "graph.relu"(%x, %x) : (tensor<1x8xf32>, tensor<1x8xf32>) -> tensor<1x8xf32>
  return %0 : tensor<1x8xf32>
}
