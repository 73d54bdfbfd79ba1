// Running the stages one by one gives the same program as one --pass-pipeline, and the
// --compile shorthand is that pipeline.
// RUN: pim-opt %inputs/small-net.mlir --arch %inputs/tiny-arch.json --partition > %t.1.mlir
// RUN: pim-opt %t.1.mlir --replicate > %t.2.mlir
// RUN: pim-opt %t.2.mlir --map-cores > %t.3.mlir
// RUN: pim-opt %t.3.mlir --schedule > %t.4.mlir
// RUN: pim-opt %t.4.mlir --alloc-memory > %t.staged.mlir
// RUN: pim-opt %inputs/small-net.mlir --arch %inputs/tiny-arch.json --pass-pipeline='builtin.module(partition,replicate,map-cores,schedule,alloc-memory)' > %t.pipeline.mlir
// RUN: pim-opt %inputs/small-net.mlir --arch %inputs/tiny-arch.json --compile > %t.compile.mlir
// RUN: diff %t.staged.mlir %t.pipeline.mlir
// RUN: diff %t.staged.mlir %t.compile.mlir
// RUN: FileCheck %s < %t.staged.mlir

// CHECK: module attributes {pim.arch = "{{.*}}tiny-arch.json"}
// CHECK: "pim_isa.buffer"() {addr = {{[0-9]+}} : i64, name = "conv.patch"
