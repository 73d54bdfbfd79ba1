// The pim_isa level: layers, global buffers, and per-core functions with loops whose
// addresses are affine in the loop counters.
// RUN: pim-opt %s | FileCheck %s
// RUN: pim-opt %s | pim-opt | FileCheck %s
// RUN: pim-opt %s -o %t.pim && FileCheck %s --check-prefix=PIM < %t.pim
// pim_isa MLIR -> .pim -> pim_isa MLIR is the identity:
// RUN: pim-opt %s -o %t.mlir && pim-translate --mlir-to-pim %t.mlir | pim-translate --pim-to-mlir | diff -u %t.mlir -

// CHECK: "pim_isa.layer"() {cols = 4 : i64, kind = "fc", name = "fc", rows = 8 : i64, transposed = false, weight = "fc.w"}
// CHECK: "pim_isa.global"() {addr = 0 : i64, input = 0 : i64, name = "x", shape = array<i64: 1, 8>, size = 16 : i64}
// CHECK: func.func @core0() attributes {pim.core = 0 : i64}
// CHECK: %[[B:.*]] = "pim_isa.buffer"() {addr = 0 : i64, name = "v", size = 16 : i64} : () -> index
// CHECK: affine.for %[[I:.*]] = 0 to 4 {
// CHECK: %[[A:.*]] = affine.apply #{{.*}}(%[[I]])[%[[B]]]
// CHECK: "pim_isa.vrelu"(%[[A]], %[[A]]) {len = 2 : i64}
// CHECK: "pim_isa.send"(%[[B]]) {core = 1 : i64, size = 8 : i64}
// CHECK: func.func @core1() attributes {pim.core = 1 : i64}
// CHECK: "pim_isa.recv"

// PIM: layer fc fc weight="fc.w" rows=8 cols=4
// PIM: global $x size=16 addr=0 input=0 shape=1x8
// PIM-LABEL: core 0 {
// PIM: ag 0 fc replica=0 rows=0..8 xbars=1
// PIM: buffer @v size=16 addr=0
// PIM: ld @v, $x, size=16
// PIM: repeat i in 0..4 {
// PIM-NEXT: vrelu @v+4*i, @v+4*i, len=2
// PIM-NEXT: }
// PIM: mvmul @out, @v, group=0, relu
// PIM: send @v, core=1, size=8
// PIM-LABEL: core 1 {
// PIM: recv @r, core=0, size=8
#map = affine_map<(d0)[s0] -> (d0 * 4 + s0)>
module attributes {pim.arch = "pimcomp-default", pim.weights = "none.onnx"} {
  "pim_isa.layer"() {cols = 4 : i64, kind = "fc", name = "fc", rows = 8 : i64, transposed = false, weight = "fc.w"} : () -> ()
  "pim_isa.global"() {addr = 0 : i64, input = 0 : i64, name = "x", shape = array<i64: 1, 8>, size = 16 : i64} : () -> ()
  func.func @core0() attributes {pim.core = 0 : i64} {
    "pim_isa.ag"() {index = 0 : i64, layer = "fc", replica = 0 : i64, row_begin = 0 : i64, rows = 8 : i64, xbars = 1 : i64} : () -> ()
    %0 = "pim_isa.buffer"() {addr = 0 : i64, name = "v", size = 16 : i64} : () -> index
    %1 = "pim_isa.buffer"() {addr = 16 : i64, name = "out", size = 8 : i64} : () -> index
    %2 = "pim_isa.global_addr"() {name = "x"} : () -> index
    "pim_isa.setbw"() {ibiw = 16 : i64, obiw = 16 : i64} : () -> ()
    "pim_isa.ld"(%0, %2) {size = 16 : i64} : (index, index) -> ()
    affine.for %arg0 = 0 to 4 {
      %3 = affine.apply #map(%arg0)[%0]
      "pim_isa.vrelu"(%3, %3) {len = 2 : i64} : (index, index) -> ()
    }
    "pim_isa.mvmul"(%1, %0) {group = 0 : i64, mbiw = 0 : i64, relu = true} : (index, index) -> ()
    "pim_isa.send"(%0) {core = 1 : i64, size = 8 : i64} : (index) -> ()
    return
  }
  func.func @core1() attributes {pim.core = 1 : i64} {
    %0 = "pim_isa.buffer"() {addr = 0 : i64, name = "r", size = 8 : i64} : () -> index
    "pim_isa.recv"(%0) {core = 0 : i64, size = 8 : i64} : (index) -> ()
    return
  }
}
