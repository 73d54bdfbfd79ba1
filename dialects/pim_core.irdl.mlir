// The `pim_core` dialect: the dataflow graph with every op placed on cores by `--map-cores`.
// Crossbar layers carry their partition plus the core of every array group (`ag_cores`,
// replica-major: runs `"0*64 1*64"` as printed, or a dense array); vector ops carry the cores that share their work (`cores`).
// Documented in pim_core.md.
irdl.dialect @pim_core {
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
    %rows = irdl.base "#builtin.integer"
    %cols = irdl.base "#builtin.integer"
    %ag_rows = irdl.base "#builtin.integer"
    %ag_count = irdl.base "#builtin.integer"
    %xbars_per_ag = irdl.base "#builtin.integer"
    %replicas = irdl.base "#builtin.integer"
    %ag_cores_array = irdl.base "#builtin.dense_array"
    %ag_cores_runs = irdl.base "#builtin.string"
    %ag_cores = irdl.any_of(%ag_cores_array, %ag_cores_runs)
    irdl.operands(input: %t0)
    irdl.results(output: %t1)
    irdl.attributes {"name" = %str0, "weight" = %str1, "kernel" = %arr0, "strides" = %arr1,
                     "pads" = %arr2, "dilations" = %arr3, "group" = %int0,
                     "rows" = %rows, "cols" = %cols, "ag_rows" = %ag_rows, "ag_count" = %ag_count, "xbars_per_ag" = %xbars_per_ag, "replicas" = %replicas,
                     "ag_cores" = %ag_cores}
  }
  irdl.operation @fc {
    %t0 = irdl.base "!builtin.tensor"
    %t1 = irdl.base "!builtin.tensor"
    %str0 = irdl.base "#builtin.string"
    %str1 = irdl.base "#builtin.string"
    %bool0 = irdl.base "#builtin.integer"
    %rows = irdl.base "#builtin.integer"
    %cols = irdl.base "#builtin.integer"
    %ag_rows = irdl.base "#builtin.integer"
    %ag_count = irdl.base "#builtin.integer"
    %xbars_per_ag = irdl.base "#builtin.integer"
    %replicas = irdl.base "#builtin.integer"
    %ag_cores_array = irdl.base "#builtin.dense_array"
    %ag_cores_runs = irdl.base "#builtin.string"
    %ag_cores = irdl.any_of(%ag_cores_array, %ag_cores_runs)
    irdl.operands(input: %t0)
    irdl.results(output: %t1)
    irdl.attributes {"name" = %str0, "weight" = %str1, "transpose_weight" = %bool0,
                     "rows" = %rows, "cols" = %cols, "ag_rows" = %ag_rows, "ag_count" = %ag_count, "xbars_per_ag" = %xbars_per_ag, "replicas" = %replicas,
                     "ag_cores" = %ag_cores}
  }
  irdl.operation @relu {
    %t0 = irdl.base "!builtin.tensor"
    %t1 = irdl.base "!builtin.tensor"
    %cores = irdl.base "#builtin.dense_array"
    irdl.operands(input: %t0)
    irdl.results(output: %t1)
    irdl.attributes {"cores" = %cores}
  }
  irdl.operation @maxpool {
    %t0 = irdl.base "!builtin.tensor"
    %t1 = irdl.base "!builtin.tensor"
    %arr0 = irdl.base "#builtin.dense_array"
    %arr1 = irdl.base "#builtin.dense_array"
    %arr2 = irdl.base "#builtin.dense_array"
    %cores = irdl.base "#builtin.dense_array"
    irdl.operands(input: %t0)
    irdl.results(output: %t1)
    irdl.attributes {"kernel" = %arr0, "strides" = %arr1, "pads" = %arr2, "cores" = %cores}
  }
  irdl.operation @avgpool {
    %t0 = irdl.base "!builtin.tensor"
    %t1 = irdl.base "!builtin.tensor"
    %arr0 = irdl.base "#builtin.dense_array"
    %arr1 = irdl.base "#builtin.dense_array"
    %arr2 = irdl.base "#builtin.dense_array"
    %bool0 = irdl.base "#builtin.integer"
    %cores = irdl.base "#builtin.dense_array"
    irdl.operands(input: %t0)
    irdl.results(output: %t1)
    irdl.attributes {"kernel" = %arr0, "strides" = %arr1, "pads" = %arr2, "count_include_pad" = %bool0, "cores" = %cores}
  }
  irdl.operation @global_avgpool {
    %t0 = irdl.base "!builtin.tensor"
    %t1 = irdl.base "!builtin.tensor"
    %cores = irdl.base "#builtin.dense_array"
    irdl.operands(input: %t0)
    irdl.results(output: %t1)
    irdl.attributes {"cores" = %cores}
  }
  irdl.operation @add {
    %t0 = irdl.base "!builtin.tensor"
    %t1 = irdl.base "!builtin.tensor"
    %t2 = irdl.base "!builtin.tensor"
    %cores = irdl.base "#builtin.dense_array"
    irdl.operands(lhs: %t0, rhs: %t1)
    irdl.results(output: %t2)
    irdl.attributes {"cores" = %cores}
  }
  // Binary: IRDL binds one constraint variable to one type, so a variadic operand list would
  // force equal shapes. A concatenation of n tensors is a chain of n-1 concats, which
  // pimlir reads back as one n-ary op.
  irdl.operation @concat {
    %t0 = irdl.base "!builtin.tensor"
    %t2 = irdl.base "!builtin.tensor"
    %t1 = irdl.base "!builtin.tensor"
    %int0 = irdl.base "#builtin.integer"
    %cores = irdl.base "#builtin.dense_array"
    irdl.operands(lhs: %t0, rhs: %t2)
    irdl.results(output: %t1)
    irdl.attributes {"axis" = %int0, "cores" = %cores}
  }
  irdl.operation @flatten {
    %t0 = irdl.base "!builtin.tensor"
    %t1 = irdl.base "!builtin.tensor"
    %int0 = irdl.base "#builtin.integer"
    %cores = irdl.base "#builtin.dense_array"
    irdl.operands(input: %t0)
    irdl.results(output: %t1)
    irdl.attributes {"axis" = %int0, "cores" = %cores}
  }
  irdl.operation @softmax {
    %t0 = irdl.base "!builtin.tensor"
    %t1 = irdl.base "!builtin.tensor"
    %int0 = irdl.base "#builtin.integer"
    %cores = irdl.base "#builtin.dense_array"
    irdl.operands(input: %t0)
    irdl.results(output: %t1)
    irdl.attributes {"axis" = %int0, "cores" = %cores}
  }
  irdl.operation @leaky_relu {
    %t0 = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %alpha = irdl.base "#builtin.float"
    %cores = irdl.base "#builtin.dense_array"
    irdl.operands(input: %t0)
    irdl.results(output: %out)
    irdl.attributes {"alpha" = %alpha, "cores" = %cores}
  }
  irdl.operation @clip {
    %t0 = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %min = irdl.base "#builtin.float"
    %max = irdl.base "#builtin.float"
    %cores = irdl.base "#builtin.dense_array"
    irdl.operands(input: %t0)
    irdl.results(output: %out)
    irdl.attributes {"min" = %min, "max" = %max, "cores" = %cores}
  }
  irdl.operation @sigmoid {
    %t0 = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %cores = irdl.base "#builtin.dense_array"
    irdl.operands(input: %t0)
    irdl.results(output: %out)
    irdl.attributes {"cores" = %cores}
  }
  irdl.operation @tanh {
    %t0 = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %cores = irdl.base "#builtin.dense_array"
    irdl.operands(input: %t0)
    irdl.results(output: %out)
    irdl.attributes {"cores" = %cores}
  }
  irdl.operation @hard_sigmoid {
    %t0 = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %alpha = irdl.base "#builtin.float"
    %beta = irdl.base "#builtin.float"
    %cores = irdl.base "#builtin.dense_array"
    irdl.operands(input: %t0)
    irdl.results(output: %out)
    irdl.attributes {"alpha" = %alpha, "beta" = %beta, "cores" = %cores}
  }
  irdl.operation @hard_swish {
    %t0 = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %cores = irdl.base "#builtin.dense_array"
    irdl.operands(input: %t0)
    irdl.results(output: %out)
    irdl.attributes {"cores" = %cores}
  }
  irdl.operation @mul {
    %t0 = irdl.base "!builtin.tensor"
    %t1 = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %cores = irdl.base "#builtin.dense_array"
    irdl.operands(lhs: %t0, rhs: %t1)
    irdl.results(output: %out)
    irdl.attributes {"cores" = %cores}
  }
  irdl.operation @constant {
    %out = irdl.base "!builtin.tensor"
    %weight = irdl.base "#builtin.string"
    %cores = irdl.base "#builtin.dense_array"
    irdl.results(output: %out)
    irdl.attributes {"weight" = %weight, "cores" = %cores}
  }
  irdl.operation @batchnorm {
    %t0 = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %gamma = irdl.base "#builtin.string"
    %beta = irdl.base "#builtin.string"
    %mean = irdl.base "#builtin.string"
    %var = irdl.base "#builtin.string"
    %epsilon = irdl.base "#builtin.float"
    %cores = irdl.base "#builtin.dense_array"
    irdl.operands(input: %t0)
    irdl.results(output: %out)
    irdl.attributes {"gamma" = %gamma, "beta" = %beta, "mean" = %mean, "var" = %var, "epsilon" = %epsilon, "cores" = %cores}
  }
  irdl.operation @channel_shuffle {
    %t0 = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %groups = irdl.base "#builtin.integer"
    %cores = irdl.base "#builtin.dense_array"
    irdl.operands(input: %t0)
    irdl.results(output: %out)
    irdl.attributes {"groups" = %groups, "cores" = %cores}
  }
  irdl.operation @pad {
    %t0 = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %pads = irdl.base "#builtin.dense_array"
    %value = irdl.base "#builtin.float"
    %cores = irdl.base "#builtin.dense_array"
    irdl.operands(input: %t0)
    irdl.results(output: %out)
    irdl.attributes {"pads" = %pads, "value" = %value, "cores" = %cores}
  }
  irdl.operation @lrn {
    %t0 = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %size = irdl.base "#builtin.integer"
    %alpha = irdl.base "#builtin.float"
    %beta = irdl.base "#builtin.float"
    %bias = irdl.base "#builtin.float"
    %cores = irdl.base "#builtin.dense_array"
    irdl.operands(input: %t0)
    irdl.results(output: %out)
    irdl.attributes {"size" = %size, "alpha" = %alpha, "beta" = %beta, "bias" = %bias, "cores" = %cores}
  }
}
