#!/usr/bin/env bash
# Compile-time benchmark through pim-opt (MLIR passes included), release binaries: ResNet-18
# with both replication strategies, every other models/*.onnx with the default pipeline, and
# a single 3x3 convolution on a 1x16x2000x2000 input (generated here), whose compile time and
# memory must follow the static program, not its 4 M windows. Median of 5 runs; peak memory
# from /usr/bin/time.
#
#   tools/bench_compile.sh            (run `make models-test` or `make models ZOO=1` first)
#
# The plain-Rust pipeline without MLIR: `cargo bench --bench compile`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bins -q
B=target/release
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

.venv/bin/python - "$OUT/conv2000.onnx" <<'PY'
import sys
sys.path.insert(0, "tools")
import numpy as np
import onnx
from make_models import make_single_op_model
w = (np.random.default_rng(1).standard_normal((16, 16, 3, 3)) * 0.1).astype(np.float32)
onnx.save(make_single_op_model("Conv", [[1, 16, 2000, 2000]],
                               {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}, {"weight": w}), sys.argv[1])
PY

printf '%-22s %-9s %9s %9s %8s\n' model replicate seconds peak_MB lines
measure() { # name strategy model
    local name=$1 strategy=$2 model=$3 times=() kb=0
    for _ in 1 2 3 4 5; do
        /usr/bin/time -f '%e %M' -o "$OUT/t" "$B/pim-opt" "$model" \
            --pass-pipeline="builtin.module(partition,replicate{strategy=$strategy},map-cores,schedule,alloc-memory)" \
            -o "$OUT/out.pim" 2>"$OUT/err" || { printf '%-22s %-9s FAILED: %s\n' "$name" "$strategy" "$(head -1 "$OUT/err")"; return; }
        read -r s k < "$OUT/t"
        times+=("$s")
        kb=$((k > kb ? k : kb))
    done
    local med
    med=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 3p)
    printf '%-22s %-9s %9s %9s %8s\n' "$name" "$strategy" "$med" "$((kb / 1024))" "$(wc -l < "$OUT/out.pim")"
}

for m in models/*.onnx; do
    n=$(basename "$m" .onnx)
    measure "$n" none "$m"
    [ "$n" = resnet18 ] && measure "$n" balance "$m"
done
measure conv3x3_16x2000x2000 none "$OUT/conv2000.onnx"
