// A model that needs more crossbars than the architecture has is an error naming both counts.
// RUN: pim-opt %inputs/small-net.mlir --arch %inputs/tiny-arch.json --partition="ag-rows=2 format=ik2_o_1" --replicate=strategy=none | not pim-opt --map-cores 2>&1 | FileCheck %s

// 36 conv rows in groups of 2: 18 crossbars; 128 fc rows: 64 more. 12 x 3 = 36.
// CHECK: error: model does not fit on 'tiny': it needs 82 crossbars, the architecture has 36 (12 cores x 3 crossbars); out of cores at layer 'fc'
