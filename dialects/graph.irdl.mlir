// The `graph` dialect: a DNN as a dataflow graph of tensor operations, as imported from ONNX
// or PIMCOMP-NN JSON. Activations are ranked f32 tensors (NCHW, batch 1); weights are never
// inlined, ops name them in the model's weight store. Documented in graph.md.
//
// IRDL checks operand/result counts and attribute kinds; shapes, optional attributes and
// value ranges are checked by pimlir's verifier (src/pass/verify.rs).
irdl.dialect @graph {
  irdl.operation @conv2d {
    %t0 = irdl.base "!builtin.tensor"
    %t1 = irdl.base "!builtin.tensor"
    %str0 = irdl.base "#builtin.string"
    %str1 = irdl.base "#builtin.string"
    %arr0 = irdl.base "#builtin.dense_array"
    %arr1 = irdl.base "#builtin.dense_array"
    %arr2 = irdl.base "#builtin.dense_array"
    %arr3 = irdl.base "#builtin.dense_array"
    %int0 = irdl.base "#builtin.integer"
    irdl.operands(input: %t0)
    irdl.results(output: %t1)
    irdl.attributes {"name" = %str0, "weight" = %str1, "kernel" = %arr0, "strides" = %arr1,
                     "pads" = %arr2, "dilations" = %arr3, "group" = %int0}
  }
  irdl.operation @fc {
    %t0 = irdl.base "!builtin.tensor"
    %t1 = irdl.base "!builtin.tensor"
    %str0 = irdl.base "#builtin.string"
    %str1 = irdl.base "#builtin.string"
    %bool0 = irdl.base "#builtin.integer"
    irdl.operands(input: %t0)
    irdl.results(output: %t1)
    irdl.attributes {"name" = %str0, "weight" = %str1, "transpose_weight" = %bool0}
  }
  irdl.operation @relu {
    %t0 = irdl.base "!builtin.tensor"
    %t1 = irdl.base "!builtin.tensor"
    irdl.operands(input: %t0)
    irdl.results(output: %t1)
  }
  irdl.operation @maxpool {
    %t0 = irdl.base "!builtin.tensor"
    %t1 = irdl.base "!builtin.tensor"
    %arr0 = irdl.base "#builtin.dense_array"
    %arr1 = irdl.base "#builtin.dense_array"
    %arr2 = irdl.base "#builtin.dense_array"
    irdl.operands(input: %t0)
    irdl.results(output: %t1)
    irdl.attributes {"kernel" = %arr0, "strides" = %arr1, "pads" = %arr2}
  }
  irdl.operation @avgpool {
    %t0 = irdl.base "!builtin.tensor"
    %t1 = irdl.base "!builtin.tensor"
    %arr0 = irdl.base "#builtin.dense_array"
    %arr1 = irdl.base "#builtin.dense_array"
    %arr2 = irdl.base "#builtin.dense_array"
    %bool0 = irdl.base "#builtin.integer"
    irdl.operands(input: %t0)
    irdl.results(output: %t1)
    irdl.attributes {"kernel" = %arr0, "strides" = %arr1, "pads" = %arr2, "count_include_pad" = %bool0}
  }
  irdl.operation @global_avgpool {
    %t0 = irdl.base "!builtin.tensor"
    %t1 = irdl.base "!builtin.tensor"
    irdl.operands(input: %t0)
    irdl.results(output: %t1)
  }
  irdl.operation @add {
    %t0 = irdl.base "!builtin.tensor"
    %t1 = irdl.base "!builtin.tensor"
    %t2 = irdl.base "!builtin.tensor"
    irdl.operands(lhs: %t0, rhs: %t1)
    irdl.results(output: %t2)
  }
  // Binary: IRDL binds one constraint variable to one type, so a variadic operand list would
  // force equal shapes. A concatenation of n tensors is a chain of n-1 concats, which
  // pimlir reads back as one n-ary op.
  irdl.operation @concat {
    %t0 = irdl.base "!builtin.tensor"
    %t2 = irdl.base "!builtin.tensor"
    %t1 = irdl.base "!builtin.tensor"
    %int0 = irdl.base "#builtin.integer"
    irdl.operands(lhs: %t0, rhs: %t2)
    irdl.results(output: %t1)
    irdl.attributes {"axis" = %int0}
  }
  irdl.operation @flatten {
    %t0 = irdl.base "!builtin.tensor"
    %t1 = irdl.base "!builtin.tensor"
    %int0 = irdl.base "#builtin.integer"
    irdl.operands(input: %t0)
    irdl.results(output: %t1)
    irdl.attributes {"axis" = %int0}
  }
  irdl.operation @softmax {
    %t0 = irdl.base "!builtin.tensor"
    %t1 = irdl.base "!builtin.tensor"
    %int0 = irdl.base "#builtin.integer"
    irdl.operands(input: %t0)
    irdl.results(output: %t1)
    irdl.attributes {"axis" = %int0}
  }
  irdl.operation @leaky_relu {
    %t0 = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %alpha = irdl.base "#builtin.float"
    irdl.operands(input: %t0)
    irdl.results(output: %out)
    irdl.attributes {"alpha" = %alpha}
  }
  irdl.operation @clip {
    %t0 = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %min = irdl.base "#builtin.float"
    %max = irdl.base "#builtin.float"
    irdl.operands(input: %t0)
    irdl.results(output: %out)
    irdl.attributes {"min" = %min, "max" = %max}
  }
  irdl.operation @sigmoid {
    %t0 = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    irdl.operands(input: %t0)
    irdl.results(output: %out)
  }
  irdl.operation @tanh {
    %t0 = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    irdl.operands(input: %t0)
    irdl.results(output: %out)
  }
  irdl.operation @hard_sigmoid {
    %t0 = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %alpha = irdl.base "#builtin.float"
    %beta = irdl.base "#builtin.float"
    irdl.operands(input: %t0)
    irdl.results(output: %out)
    irdl.attributes {"alpha" = %alpha, "beta" = %beta}
  }
  irdl.operation @hard_swish {
    %t0 = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    irdl.operands(input: %t0)
    irdl.results(output: %out)
  }
  irdl.operation @mul {
    %t0 = irdl.base "!builtin.tensor"
    %t1 = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    irdl.operands(lhs: %t0, rhs: %t1)
    irdl.results(output: %out)
  }
  irdl.operation @constant {
    %out = irdl.base "!builtin.tensor"
    %weight = irdl.base "#builtin.string"
    irdl.results(output: %out)
    irdl.attributes {"weight" = %weight}
  }
  irdl.operation @batchnorm {
    %t0 = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %gamma = irdl.base "#builtin.string"
    %beta = irdl.base "#builtin.string"
    %mean = irdl.base "#builtin.string"
    %var = irdl.base "#builtin.string"
    %epsilon = irdl.base "#builtin.float"
    irdl.operands(input: %t0)
    irdl.results(output: %out)
    irdl.attributes {"gamma" = %gamma, "beta" = %beta, "mean" = %mean, "var" = %var, "epsilon" = %epsilon}
  }
  irdl.operation @channel_shuffle {
    %t0 = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %groups = irdl.base "#builtin.integer"
    irdl.operands(input: %t0)
    irdl.results(output: %out)
    irdl.attributes {"groups" = %groups}
  }
  irdl.operation @pad {
    %t0 = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %pads = irdl.base "#builtin.dense_array"
    %value = irdl.base "#builtin.float"
    irdl.operands(input: %t0)
    irdl.results(output: %out)
    irdl.attributes {"pads" = %pads, "value" = %value}
  }
  irdl.operation @lrn {
    %t0 = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %size = irdl.base "#builtin.integer"
    %alpha = irdl.base "#builtin.float"
    %beta = irdl.base "#builtin.float"
    %bias = irdl.base "#builtin.float"
    irdl.operands(input: %t0)
    irdl.results(output: %out)
    irdl.attributes {"size" = %size, "alpha" = %alpha, "beta" = %beta, "bias" = %bias}
  }
}
