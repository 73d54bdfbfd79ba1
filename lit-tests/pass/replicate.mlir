// --replicate decides how many copies of each crossbar layer to store.
// RUN: pim-opt %inputs/small-net.mlir --arch %inputs/tiny-arch.json --partition=format=ik2_o_1 --replicate=strategy=none | FileCheck %s --check-prefix=NONE
// RUN: pim-opt %inputs/small-net.mlir --arch %inputs/tiny-arch.json --partition=format=ik2_o_1 --replicate | FileCheck %s --check-prefix=BAL
// RUN: pim-opt %inputs/small-net.mlir --arch %inputs/tiny-arch.json --partition=format=ik2_o_1 --replicate=strategy=balance | FileCheck %s --check-prefix=BAL
// RUN: pim-opt %inputs/small-net.mlir --arch %inputs/tiny-arch.json --partition=format=ik2_o_1 --replicate="strategy=balance max-replicas=4" | FileCheck %s --check-prefix=MAX
// RUN: pim-opt %inputs/two-conv-net.mlir --arch %inputs/tiny-arch.json --partition=format=ik2_o_1 --replicate=strategy=uniform | FileCheck %s --check-prefix=UNI
// RUN: pim-opt %inputs/two-conv-net.mlir --arch %inputs/tiny-arch.json --partition=format=ik2_o_1 --replicate=strategy=proportional | FileCheck %s --check-prefix=PROP
// RUN: pim-opt %inputs/two-conv-net.mlir --arch %inputs/tiny-arch.json --partition=format=ik2_o_1 --replicate="strategy=uniform max-replicas=5" | FileCheck %s --check-prefix=UNIMAX
// RUN: pim-opt %inputs/small-net.mlir --arch %inputs/tiny-arch.json --partition="ag-rows=2 format=ik2_o_1" | not pim-opt --replicate=strategy=proportional 2>&1 | FileCheck %s --check-prefix=FIT
// RUN: pim-opt %inputs/small-net.mlir --arch %inputs/tiny-arch.json --partition="ag-rows=2 format=ik2_o_1" | not pim-opt --replicate=strategy=balance 2>&1 | FileCheck %s --check-prefix=FIT
// RUN: pim-opt %inputs/small-net.mlir --arch %inputs/tiny-arch.json --partition=format=ik2_o_1 | not pim-opt --replicate=strategy=magic 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not pim-opt %inputs/small-net.mlir --replicate 2>&1 | FileCheck %s --check-prefix=ORDER

// NONE: "pim_partition.conv2d"{{.*}}replicas = 1 : i64
// NONE: "pim_partition.fc"{{.*}}replicas = 1 : i64

// 12 cores x 3 crossbars = 36: the fc keeps its 2 one-crossbar groups (it has 1 window),
// the conv (64 windows, 1 crossbar per copy) takes the other 34.
// The default strategy is work; on this net it agrees with balance.
// BAL: "pim_partition.conv2d"{{.*}}replicas = 34 : i64
// BAL: "pim_partition.fc"{{.*}}replicas = 1 : i64

// MAX: "pim_partition.conv2d"{{.*}}replicas = 4 : i64

// two-conv-net: every group is one crossbar; a replica of conv1 (64 windows) takes 1, of
// conv2 (16 windows) 2, the fc 2 (kept at 1 replica: 1 window); 36 crossbars in all.
// Uniform: n of each conv: n + 2n + 2 <= 36 gives n = 11 (12 would need 38).
// UNI: "pim_partition.conv2d"{{.*}}name = "conv1"{{.*}}replicas = 11 : i64
// UNI: "pim_partition.conv2d"{{.*}}name = "conv2"{{.*}}replicas = 11 : i64
// UNI: "pim_partition.fc"{{.*}}replicas = 1 : i64
// Proportional: conv1 n, conv2 ceil(n * 16 / 64), each layer from a fresh core unless it
// fits in what is left (aligned packing): n = 21 fills 7 cores with conv1, 4 with conv2
// (12 crossbars) and puts the fc on the last; n = 22 leaves 2 crossbars of core 7 that
// conv2 (12) does not fit, so conv2 starts on core 8 and the fc finds no room.
// PROP: "pim_partition.conv2d"{{.*}}name = "conv1"{{.*}}replicas = 21 : i64
// PROP: "pim_partition.conv2d"{{.*}}name = "conv2"{{.*}}replicas = 6 : i64
// UNIMAX: "pim_partition.conv2d"{{.*}}name = "conv1"{{.*}}replicas = 5 : i64
// UNIMAX: "pim_partition.conv2d"{{.*}}name = "conv2"{{.*}}replicas = 5 : i64

// A model that does not fit even once is an error at --replicate, with both counts.
// FIT: error: model does not fit on 'tiny': it needs 82 crossbars, the architecture has 36 (12 cores x 3 crossbars)

// BAD: error: unknown replicate strategy 'magic'; available: none, balance, work, uniform, proportional
// ORDER: error: --replicate expects pim_partition-level IR (run --partition first), got graph-level IR
