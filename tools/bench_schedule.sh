#!/usr/bin/env bash
# Scheduling benchmark (issue 10): for every zoo model (models/*.onnx, `make models ZOO=1`)
# and every PIMCOMP-NN structure file in ../shared/data/pimcomp-json/, compiled for
# pimcomp-default in both modes (MODES, default "ht ll"): compile time (ONNX or JSON to
# .pim) and peak memory, dynamic instructions by kind, simulated first-sample latency (one
# sample) and steady-state throughput (SAMPLES samples pipelined, pimlir timing model).
# Models with softmax or LRN need the vector-unit extensions: they get pimcomp-default with
# "vector_extensions": true (marked +ext).
#
#   tools/bench_schedule.sh [MODEL...]        STRATEGY=balance SAMPLES=4 MODES="ht ll" by default
#
# Release binaries; a few minutes for everything (VGG-16 dominates).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bins -q
B=target/release
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
STRATEGY=${STRATEGY:-balance}
SAMPLES=${SAMPLES:-4}
JSON_DIR=../shared/data/pimcomp-json

# pimcomp-default with the vector-unit extensions.
python3 tools/arch_with_extensions.py "$OUT/pimcomp-ext.json"

inputs=()
if [ $# -gt 0 ]; then
    for m in "$@"; do
        if [ -f "models/$m.onnx" ]; then inputs+=("models/$m.onnx"); else inputs+=("$JSON_DIR/$m.json"); fi
    done
else
    for f in models/*.onnx; do inputs+=("$f"); done
    for f in "$JSON_DIR"/*.json; do [ -f "$f" ] && inputs+=("$f"); done
fi

printf '%-24s %-4s %8s %8s %10s %8s %8s %8s %8s %11s %11s\n' \
    model mode compile_s peak_MB dynamic mvmul vector ld/st other first_ms samples/s
for f in "${inputs[@]}"; do
  for mode in ${MODES:-ht ll}; do
    base=$(basename "$f"); name=${base%.*}
    [ "${f##*.}" = json ] && name="$name.json"
    pipeline="builtin.module(partition,replicate{strategy=$STRATEGY},map-cores,schedule{mode=$mode},alloc-memory)"
    arch=pimcomp-default
    if ! "$B/pim-opt" "$f" --arch "$arch" --pass-pipeline="$pipeline" -o "$OUT/p.pim" 2>"$OUT/err"; then
        if grep -q "vector_extensions" "$OUT/err"; then
            arch="$OUT/pimcomp-ext.json"
        else
            printf '%-24s %-4s FAILED: %s\n' "$name" "$mode" "$(head -1 "$OUT/err" | cut -c1-120)"
            continue
        fi
    fi
    /usr/bin/time -f '%e %M' -o "$OUT/t" "$B/pim-opt" "$f" --arch "$arch" --pass-pipeline="$pipeline" \
        -o "$OUT/p.pim" 2>"$OUT/err" || { printf '%-24s %-4s FAILED: %s\n' "$name" "$mode" "$(head -1 "$OUT/err")"; continue; }
    read -r secs kb < "$OUT/t"
    "$B/pim-sim" -q --arch "$arch" --samples 1 --report-json "$OUT/one.json" "$OUT/p.pim" >/dev/null
    "$B/pim-sim" -q --arch "$arch" --samples "$SAMPLES" --report-json "$OUT/many.json" "$OUT/p.pim" >/dev/null
    [ "$arch" = pimcomp-default ] || name="$name+ext"
    .venv/bin/python - "$OUT/one.json" "$OUT/many.json" "$name" "$secs" "$kb" "$mode" <<'PY'
import json, sys
one, many = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
mix = one["instruction_mix"]
total = sum(mix.values())
vector = sum(n for op, n in mix.items() if op.startswith("v"))
ldst = mix.get("ld", 0) + mix.get("st", 0)
other = total - vector - ldst - mix.get("mvmul", 0)
print(f"{sys.argv[3]:<24} {sys.argv[6]:<4} {float(sys.argv[4]):8.2f} {int(sys.argv[5]) / 1024:8.0f} {total:10d} "
      f"{mix.get('mvmul', 0):8d} {vector:8d} {ldst:8d} {other:8d} {one['latency_ns'] / 1e6:11.2f} "
      f"{many['throughput_per_s']:11.1f}")
PY
  done
done
