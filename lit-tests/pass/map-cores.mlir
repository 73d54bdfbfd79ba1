// --map-cores places array groups first-fit, layer after layer, and runs each vector op on
// the core that produces its input. ag_cores prints as runs of one core (core*count).
// RUN: pim-opt %inputs/small-net.mlir --arch %inputs/tiny-arch.json --partition="ag-rows=16 format=ik2_o_1" --replicate=strategy=none --map-cores | FileCheck %s
// RUN: pim-opt %inputs/small-net.mlir --arch %inputs/tiny-arch.json --partition=format=ik2_o_1 --replicate=strategy=none --map-cores | FileCheck %s --check-prefix=PACKED

// 36 rows in groups of 16: 3 groups; 128 fc rows: 8 groups; 3 crossbars per core.
// CHECK: "pim_core.conv2d"{{.*}}ag_cores = "0*3"
// CHECK: "pim_core.maxpool"{{.*}}cores = array<i64: 0>
// CHECK: "pim_core.flatten"{{.*}}cores = array<i64>
// CHECK: "pim_core.fc"{{.*}}ag_cores = "1*3 2*3 3*2"

// PACKED: "pim_core.conv2d"{{.*}}ag_cores = "0"
// PACKED: "pim_core.fc"{{.*}}ag_cores = "0*2"
