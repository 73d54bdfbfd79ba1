// RUN: pim-opt %inputs/small-net.mlir --partition --replicate --print-ir-after-all 2>&1 >/dev/null | FileCheck %s
// RUN: pim-opt %inputs/small-net.mlir --pass-pipeline='builtin.module(partition,canonicalize)' | FileCheck %s --check-prefix=UPSTREAM

// CHECK: // -----// IR Dump After partition (partition) //----- //
// CHECK: "pim_partition.conv2d"
// CHECK: // -----// IR Dump After verify (verify) //----- //
// CHECK: // -----// IR Dump After replicate (replicate) //----- //

// Upstream MLIR passes mix with ours.
// UPSTREAM: "pim_partition.fc"
