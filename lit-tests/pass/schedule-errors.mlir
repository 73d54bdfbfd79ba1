// RUN: pim-opt %inputs/small-net.mlir --partition --replicate --map-cores | not pim-opt --schedule="mode=ll bands=0" 2>&1 | FileCheck %s --check-prefix=BANDS
// RUN: pim-opt %inputs/small-net.mlir --partition --replicate --map-cores | not pim-opt --schedule="mode=ll bands=many" 2>&1 | FileCheck %s --check-prefix=BANDS-TEXT
// RUN: pim-opt %inputs/small-net.mlir --partition --replicate --map-cores | not pim-opt --schedule=mode=fast 2>&1 | FileCheck %s --check-prefix=MODE
// RUN: not pim-opt %inputs/small-net.mlir --partition --schedule 2>&1 | FileCheck %s --check-prefix=ORDER
// RUN: not pim-opt %s --partition --replicate --map-cores --schedule 2>&1 | FileCheck %s --check-prefix=SOFTMAX

// BANDS: error: schedule bands=0: expected an integer in 1..=1024
// BANDS-TEXT: error: schedule bands=many: expected an integer in 1..=1024
// MODE: error: unknown schedule mode 'fast'; expected ht or ll
// ORDER: error: --schedule expects pim_core-level IR (run --map-cores first), got pim_partition-level IR
// SOFTMAX: schedule-errors.mlir:[[@LINE+3]]:8: error: softmax needs exp, log and divide, which the published PIM ISA does not have; enable the vector-unit extensions
func.func @main(%x: tensor<1x8xf32>) -> tensor<1x4xf32> {
  %0 = "graph.fc"(%x) {name = "fc", weight = "fc.w", transpose_weight = false} : (tensor<1x8xf32>) -> tensor<1x4xf32>
  %1 = "graph.softmax"(%0) {axis = 1 : i64} : (tensor<1x4xf32>) -> tensor<1x4xf32>
  return %1 : tensor<1x4xf32>
}
