#!/usr/bin/env bash
# Every compilable zoo model, with each replication strategy, simulated functionally and
# compared with onnxruntime's output (models/<m>.output0.npy, from tools/make_models.py).
# Run by hand (a few minutes for the big models): tools/check_zoo.sh [MODEL...]
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x target/release/pim-sim ] || cargo build --release --bins
bin=target/release
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
models=${*:-lenet5 vgg8 resnet18_cifar resnet18 resnet34 resnet50 alexnet vgg16 shufflenet mobilenetv2}
status=0
for m in $models; do
    for s in none balance; do
        pipeline="builtin.module(partition,replicate{strategy=$s},map-cores,schedule,alloc-memory)"
        "$bin/pim-opt" "models/$m.onnx" --pass-pipeline="$pipeline" -o "$tmp/$m.pim"
        "$bin/pim-sim" --timing=off -q -i "models/$m.input0.npy" -o "$tmp/$m.npy" "$tmp/$m.pim"
        .venv/bin/python - "$tmp/$m.npy" "models/$m.output0.npy" "$m" "$s" <<'PY' || status=1
import sys
import numpy as np
got, want = np.load(sys.argv[1]), np.load(sys.argv[2])
err = float(np.abs(got - want).max())
ok = got.shape == want.shape and err <= 1e-4 * max(1.0, float(np.abs(want).max()))
print(f"{sys.argv[3]:>16} {sys.argv[4]:>8}: max |pim-sim - onnxruntime| = {err:.3g} {'ok' if ok else 'MISMATCH'}")
sys.exit(0 if ok else 1)
PY
    done
done
exit $status
