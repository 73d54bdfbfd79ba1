#!/usr/bin/env bash
# The main job: compile LeNet-5 (ONNX) for the pimcomp-default accelerator, simulate the
# program on a sample input, and check the result against onnxruntime.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${PIMLIR_BIN_DIR:-target/debug}
PY=.venv/bin/python
mkdir -p build

echo "== compile: models/lenet5.onnx -> build/lenet5.pim (pimcomp-default)"
"$BIN/pim-opt" models/lenet5.onnx --arch pimcomp-default --compile -o build/lenet5.pim
echo "   $(grep -c '^core ' build/lenet5.pim) core(s), $(grep -c '^  ag ' build/lenet5.pim) array group(s), $(wc -l < build/lenet5.pim) lines of .pim"

echo "== simulate: build/lenet5.pim on models/lenet5.input0.npy"
"$BIN/pim-sim" build/lenet5.pim --input models/lenet5.input0.npy --output build/lenet5.output0.npy

echo "== verify against onnxruntime"
"$PY" tools/onnx_reference.py models/lenet5.onnx --input models/lenet5.input0.npy \
    --compare build/lenet5.output0.npy --atol 1e-4
