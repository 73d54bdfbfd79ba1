// --alloc-memory gives buffers addresses; buffers whose lifetimes do not overlap share memory.
// RUN: pim-opt %inputs/small-net.mlir --arch %inputs/tiny-arch.json --partition="ag-rows=16 format=ik2_o_1" --replicate=strategy=none --map-cores --schedule --alloc-memory --emit=pim | FileCheck %s
// RUN: pim-opt %inputs/small-net.mlir --arch %inputs/tiny-lmem.json --partition="ag-rows=16 format=ik2_o_1" --replicate=strategy=none --map-cores=report=false --schedule | not pim-opt --arch %inputs/tiny-lmem.json --alloc-memory 2>&1 | FileCheck %s --check-prefix=FULL

// Globals are laid out in order, 64-byte aligned.
// CHECK: global $input size=512 addr=0 input=0 shape=1x4x8x8
// CHECK-NEXT: global $conv size=1024 addr=512
// CHECK-NEXT: global $maxpool1 size=256 addr=1536
// The pool's buffers reuse the memory of the conv's, which died before them.
// CHECK-LABEL: core 0 {
// CHECK: buffer @conv.bias size=16 addr=0
// CHECK: buffer @pool1.in size=256 addr=0

// FULL: error: core 1 needs 316 bytes of local memory but has 256 (largest buffers: 'fc.patch' 256 B, 'fc.recv' 20 B, 'fc.psum2' 20 B)
