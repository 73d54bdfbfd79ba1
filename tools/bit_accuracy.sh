#!/usr/bin/env bash
# The error of bit-accurate crossbars (pim-sim --numerics=bit-accurate) against f32 and
# against onnxruntime, per bit-width setting: weights and inputs both at 4, 8 and 16 bits,
# with the architecture's cells, DACs and ADCs (pimcomp-default: 2-bit cells, 1-bit DACs,
# 8-bit ADCs, 128-row crossbars), and once more with 16 bits and an ADC wide enough never to
# clip. Prints a markdown table (docs/numerics.md holds one). Run by hand: about a minute for
# LeNet-5, a few for ResNet-18.
#
# Usage: tools/bit_accuracy.sh [MODEL...]   (default: lenet5 resnet18)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x target/release/pim-sim ] || cargo build --release --bins
bin=target/release
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
models=${*:-lenet5 resnet18}
echo "| model | weights / inputs | ADC | vs f32: max error (% of max) | vs f32: rel. L2 | vs onnxruntime: max error (% of max) | vs onnxruntime: rel. L2 | argmax as onnxruntime | time |"
echo "|---|---|---|---|---|---|---|---|---|"
for m in $models; do
    "$bin/pim-opt" "models/$m.onnx" \
        --pass-pipeline='builtin.module(partition,replicate{strategy=balance},map-cores,schedule,alloc-memory)' \
        -o "$tmp/$m.pim"
    for setting in "4 8" "8 8" "16 8" "16 24"; do
        set -- $setting
        bits=$1 adc=$2
        start=$(date +%s%N)
        "$bin/pim-sim" --timing=off --numerics=bit-accurate --weight-bits "$bits" --input-bits "$bits" \
            --adc-bits "$adc" -i "models/$m.input0.npy" -o "$tmp/y.npy" "$tmp/$m.pim" > "$tmp/out.txt"
        end=$(date +%s%N)
        .venv/bin/python - "$tmp/y.npy" "models/$m.output0.npy" "$tmp/out.txt" "$m" "$bits" "$adc" \
            "$(( (end - start) / 1000000 ))" <<'PY'
import re, sys
import numpy as np
got, want = np.load(sys.argv[1]).ravel(), np.load(sys.argv[2]).ravel()
line = next(l for l in open(sys.argv[3]) if "bit-accurate against f32" in l)
f32_max, f32_pct, f32_l2 = re.search(r"max \|error\| (\S+) \((\S+)% of the largest value\), relative L2 error (\S+),", line).groups()
err = np.abs(got - want)
ort_pct = 100 * err.max() / np.abs(want).max()
l2 = np.linalg.norm(got - want) / np.linalg.norm(want)
same = "yes" if got.argmax() == want.argmax() else "no"
m, bits, adc, t = sys.argv[4:8]
print(f"| {m} | {bits} / {bits} | {adc} bits | {float(f32_max):.3g} ({float(f32_pct):.2f}%) | {float(f32_l2):.3g} | {err.max():.3g} ({ort_pct:.2f}%) | {l2:.3g} | {same} | {int(t) / 1000:.1f} s |")
PY
    done
done
