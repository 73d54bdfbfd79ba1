// The `pim_partition` dialect: crossbar layers (conv2d, fc) whose weight matrix has been
// unfolded and cut into array groups (AGs) by `--partition`, and replicated by `--replicate`.
// Non-crossbar ops stay in the `graph` dialect at this level. Documented in pim_partition.md.
irdl.dialect @pim_partition {
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
    irdl.operands(input: %t0)
    irdl.results(output: %t1)
    irdl.attributes {"name" = %str0, "weight" = %str1, "kernel" = %arr0, "strides" = %arr1,
                     "pads" = %arr2, "dilations" = %arr3, "group" = %int0,
                     "rows" = %rows, "cols" = %cols, "ag_rows" = %ag_rows, "ag_count" = %ag_count, "xbars_per_ag" = %xbars_per_ag, "replicas" = %replicas}
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
    irdl.operands(input: %t0)
    irdl.results(output: %t1)
    irdl.attributes {"name" = %str0, "weight" = %str1, "transpose_weight" = %bool0,
                     "rows" = %rows, "cols" = %cols, "ag_rows" = %ag_rows, "ag_count" = %ag_count, "xbars_per_ag" = %xbars_per_ag, "replicas" = %replicas}
  }
}
