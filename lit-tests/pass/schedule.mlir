// --schedule turns the placed graph into per-core programs. Checked on the .pim text.
// RUN: pim-opt %inputs/small-net.mlir --arch %inputs/tiny-arch.json --partition="ag-rows=16 format=ik2_o_1" --replicate=strategy=none --map-cores --schedule --emit=pim | FileCheck %s
// RUN: pim-opt %inputs/small-net.mlir --arch %inputs/tiny-arch.json --partition=format=ik2_o_1 --replicate=strategy=none --map-cores --schedule | FileCheck %s --check-prefix=MLIR

// The conv loads the input rows its windows read once (input reuse) and gathers each
// window's patch from them with lmv. Its interior windows become a loop nest over output
// rows and columns; windows on the padded border stay outside the loops.
// CHECK-LABEL: core 0 {
// CHECK: ag 0 conv replica=0 rows=0..16 xbars=1
// CHECK: setbw ibiw=16, obiw=16
// CHECK: ld @conv.bias, $conv.bias, size=16
// CHECK-NEXT: ld @conv.in, $input, size=512
// CHECK: repeat i in 0..6 {
// CHECK: repeat j in 0..6 {
// CHECK-NEXT: lmv @conv.patch, @conv.in+64*i+8*j, size=24
// CHECK: mvmul @conv.acc, @conv.patch, group=0, mbiw=8
// CHECK: vvadd @conv.acc, @conv.acc, @conv.bias, len=8
// CHECK-NEXT: vrelu @conv.acc, @conv.acc, len=8
// CHECK-NEXT: st $conv+128*i+16*j+144, @conv.acc, size=16
// After the pool, core 0 tells each fc core that its input is ready.
// CHECK: st $maxpool1+64*i, @pool1.out, size=64
// CHECK: send @token, core=1, size=2
// CHECK-NEXT: send @token, core=2, size=2
// CHECK-NEXT: send @token, core=3, size=2

// Core 1 owns the fc: it sums the partial products of cores 2 and 3 and stores the output.
// Task markers say what each part of a core's program is for.
// CHECK-LABEL: core 1 {
// CHECK: task fc sync
// CHECK-NEXT: recv @token, core=0, size=2
// CHECK-NEXT: task fc replica=0 windows=0..1
// CHECK-NEXT: ld @fc.patch, $maxpool1, size=96
// CHECK: recv @fc.recv, core=2, size=20
// CHECK-NEXT: vvadd @fc.acc, @fc.acc, @fc.recv, len=10
// CHECK-NEXT: recv @fc.recv, core=3, size=20
// CHECK: st $output, @fc.acc, size=20
// CHECK-LABEL: core 2 {
// CHECK: ld @fc.patch+96, $maxpool1+96, size=96
// CHECK: send @fc.acc, core=1, size=20

// MLIR: "pim_isa.layer"() {channels = 4 : i64, cols = 8 : i64, kernel = array<i64: 3, 3>, kind = "conv", name = "conv", rows = 36 : i64, weight = "conv.w"}
// MLIR: func.func @core0() attributes {pim.core = 0 : i64}
// MLIR: "pim_isa.ag"() {index = 0 : i64, layer = "conv"
// MLIR: %[[PATCH:.*]] = "pim_isa.buffer"() {name = "conv.patch", size = 72 : i64} : () -> index
// MLIR: affine.for %[[I:.*]] = 0 to 6 {
// MLIR: affine.for %[[J:.*]] = 0 to 6 {
// MLIR: "pim_isa.mvmul"(%{{.*}}, %[[PATCH]]) {group = 0 : i64, mbiw = 8 : i64, relu = false} : (index, index) -> ()
