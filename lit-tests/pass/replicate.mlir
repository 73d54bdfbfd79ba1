// --replicate decides how many copies of each crossbar layer to store.
// RUN: pim-opt %inputs/small-net.mlir --arch %inputs/tiny-arch.json --partition --replicate | FileCheck %s --check-prefix=NONE
// RUN: pim-opt %inputs/small-net.mlir --arch %inputs/tiny-arch.json --partition --replicate=strategy=balance | FileCheck %s --check-prefix=BAL
// RUN: pim-opt %inputs/small-net.mlir --arch %inputs/tiny-arch.json --partition --replicate="strategy=balance max-replicas=4" | FileCheck %s --check-prefix=MAX
// RUN: pim-opt %inputs/small-net.mlir --arch %inputs/tiny-arch.json --partition | not pim-opt --replicate=strategy=magic 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not pim-opt %inputs/small-net.mlir --replicate 2>&1 | FileCheck %s --check-prefix=ORDER

// NONE: "pim_partition.conv2d"{{.*}}replicas = 1 : i64
// NONE: "pim_partition.fc"{{.*}}replicas = 1 : i64

// 12 cores x 3 crossbars = 36: the fc keeps its 2 one-crossbar groups (it has 1 window),
// the conv (64 windows, 1 crossbar per copy) takes the other 34.
// BAL: "pim_partition.conv2d"{{.*}}replicas = 34 : i64
// BAL: "pim_partition.fc"{{.*}}replicas = 1 : i64

// MAX: "pim_partition.conv2d"{{.*}}replicas = 4 : i64

// BAD: error: unknown replicate strategy 'magic'; available: none, balance
// ORDER: error: --replicate expects pim_partition-level IR (run --partition first), got graph-level IR
