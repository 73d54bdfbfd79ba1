#!/usr/bin/env bash
# Every compilable zoo model, with each replication strategy, simulated functionally and
# compared with onnxruntime's outputs (models/<m>.output{0,1,2}.npy, from
# tools/make_models.py): three samples pipelined (pim-sim --samples 3 first times them
# overlapped and refuses a schedule where a sample would read another's data), each output
# checked. Run by hand (a few minutes for the big models): tools/check_zoo.sh [MODEL...]
# MODES (default "ht ll") and STRATEGIES (default "none balance work ga") pick the runs.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x target/release/pim-sim ] || cargo build --release --bins
bin=target/release
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
models=${*:-lenet5 vgg8 resnet18_cifar resnet18 resnet34 resnet50 alexnet vgg16 shufflenet mobilenetv2 squeezenet googlenet mobilenetv3_small efficientnet_b0 resnext50_32x4d}
status=0
for m in $models; do
    # GoogLeNet's LRN needs the vector-unit extensions (exp, log, divide): puma has them.
    arch=pimcomp-default
    [ "$m" = googlenet ] && arch=puma
    for mode in ${MODES:-ht ll}; do
    for s in ${STRATEGIES:-none balance work ga}; do
        pipeline="builtin.module(partition{mode=$mode},replicate{strategy=$s},map-cores,schedule{mode=$mode},alloc-memory)"
        "$bin/pim-opt" "models/$m.onnx" --arch "$arch" --pass-pipeline="$pipeline" -o "$tmp/$m.pim" ||
            { echo "$m $s $mode: does not compile"; status=1; continue; }
        "$bin/pim-sim" -q --samples 3 -i "models/$m.input0.npy,models/$m.input1.npy,models/$m.input2.npy" \
            -o "$tmp/$m.0.npy,$tmp/$m.1.npy,$tmp/$m.2.npy" "$tmp/$m.pim" || { status=1; continue; }
        .venv/bin/python - "$tmp/$m" "models/$m" "$m" "$s $mode" <<'PY' || status=1
import sys
import numpy as np
ok, errs = True, []
for k in range(3):
    got, want = np.load(f"{sys.argv[1]}.{k}.npy"), np.load(f"{sys.argv[2]}.output{k}.npy")
    err = float(np.abs(got - want).max())
    errs.append(err)
    ok = ok and got.shape == want.shape and err <= 1e-4 * max(1.0, float(np.abs(want).max()))
print(f"{sys.argv[3]:>16} {sys.argv[4]:>11}: 3 samples, max |pim-sim - onnxruntime| = {max(errs):.3g} {'ok' if ok else 'MISMATCH'}")
sys.exit(0 if ok else 1)
PY
    done
    done
done
exit $status
