#!/usr/bin/env bash
# Benchmark of pim-sim, run by hand (not part of `make test`):
#
#   1. timing of PIMCOMP-NN's ResNet-18 program for pimsim-nn (resnet18_batch.gz, 3.1 M
#      instructions) under --timing=pimsim-compat with latency_config.json, with its ROB of 1
#      and again with 2 and 8 entries; and of the element-pipeline program
#      (resnet18_element_setbw.gz). Each: wall time and peak RSS of the whole run (import,
#      checks, timing), the event loop's own rate, and the latency against pimsim-nn's.
#   2. a functional (f32) run of pimlir's own ResNet-18 (models/resnet18.onnx, compiled with
#      the balance pipeline): wall time and peak RSS.
#
# pimsim-nn's figures are from ../shared/docs/pimsim-model.md: 22.5637 ms (ROB 1), 22.260874
# (ROB 2), 22.197556 (ROB 8), 218.000567 ms (element pipeline); 16-25 s and 2.25 GB for the
# ROB-1 run, about 250k instructions per second.
#
# Usage: tools/bench_sim.sh
# Environment: PIMSIM_DATA (default ../shared/data/pimsim, relative to the repository root).
# Needs models/resnet18.onnx for part 2 (`make models-test`); skipped without it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
data=${PIMSIM_DATA:-../shared/data/pimsim}
data=$(cd "$data" && pwd)
bin=target/release
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for b in pim-sim pim-opt; do
    if [ ! -x "$bin/$b" ]; then
        echo "building release binaries ($bin/$b is missing)"
        cargo build --release --bins
        break
    fi
done
for f in latency_config.json resnet18_batch.gz resnet18_element_setbw.gz; do
    [ -f "$data/$f" ] || { echo "error: $data/$f not found (set PIMSIM_DATA)" >&2; exit 1; }
done

# Warm the page cache, so that the first run does not pay for reading the files from disk.
cat "$bin/pim-sim" "$bin/pim-opt" "$data"/*.gz >/dev/null

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "pim-sim: $root/$bin/pim-sim ($(date -r "$bin/pim-sim" '+%F %T'))"

# Reference figures of pimsim-nn.
ref_wall_lo=16 ref_wall_hi=25 ref_rss_gb=2.25 ref_rate=250000

# A copy of latency_config.json with rob_size set and the NoC table's path made absolute.
config_with_rob() {
    python3 -c '
import json, os, sys
src, rob, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(src) as f:
    c = json.load(f)
c["chip_config"]["core_config"]["rob_size"] = rob
net = c["chip_config"]["network_config"]
net["net_config_file_path"] = os.path.join(os.path.dirname(os.path.abspath(src)), net["net_config_file_path"])
with open(out, "w") as f:
    json.dump(c, f, indent=1)
' "$data/latency_config.json" "$1" "$2"
}

# run NAME REF_MS CONFIG PROGRAM: one pimsim-compat timing run and its figures.
run() {
    local name=$1 ref=$2 config=$3 prog=$4
    local cmd=("$bin/pim-sim" --timing=pimsim-compat --arch "$config" "$prog" --report-json "$tmp/$name.json")
    echo
    echo "== $name"
    echo "\$ ${cmd[*]}"
    /usr/bin/time -f "%e %M" -o "$tmp/$name.time" "${cmd[@]}" >"$tmp/$name.out"
    read -r wall rss <"$tmp/$name.time"
    grep -E '^timed ' "$tmp/$name.out"
    python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
ref, wall, rss = float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
ms = r["latency_ns"] / 1e6
n = r["instructions"]
print(f"latency {ms:.6f} ms, pimsim-nn {ref:.6f} ms: {100 * (ms - ref) / ref:+.3f}%")
print(f"wall {wall:.2f} s, peak RSS {rss / 1024:.0f} MB, {n / max(wall, 1e-9) / 1e6:.2f} M instructions/s end to end")
' "$tmp/$name.json" "$ref" "$wall" "$rss"
    echo "$wall $rss" >"$tmp/$name.fig"
}

echo
echo "### 1. pimsim-compat timing of PIMCOMP-NN's programs"
config_with_rob 2 "$tmp/rob2.json"
config_with_rob 8 "$tmp/rob8.json"
run batch-rob1 22.5637 "$data/latency_config.json" "$data/resnet18_batch.gz"
run batch-rob2 22.260874 "$tmp/rob2.json" "$data/resnet18_batch.gz"
run batch-rob8 22.197556 "$tmp/rob8.json" "$data/resnet18_batch.gz"
run element 218.000567 "$data/latency_config.json" "$data/resnet18_element_setbw.gz"

echo
echo "== against pimsim-nn (resnet18_batch.gz, ROB 1: ${ref_wall_lo}-${ref_wall_hi} s, ${ref_rss_gb} GB, ~${ref_rate} instructions/s)"
read -r wall rss <"$tmp/batch-rob1.fig"
# The event loop's rate: "timed N instructions in S s (event loop E s, X M instructions/s)"
# (older binaries: "(X M/s)").
rate=$(grep -E '^timed ' "$tmp/batch-rob1.out" | sed -E 's/.*[ (]([0-9.]+) M( instructions)?\/s\).*/\1/')
python3 -c '
import sys
wall, rss, rate = float(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
lo, hi, gb, ref = float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7])
n = 3119907
print(f"wall: {lo / wall:.0f}-{hi / wall:.0f}x faster ({wall:.2f} s, import and checks included)")
print(f"peak memory: {gb * 1024**3 / (rss * 1024):.1f}x less ({rss / 1024:.0f} MB)")
print(f"event loop: {rate * 1e6 / ref:.0f}x the instruction rate ({rate:.1f} M/s); end to end {n / wall / ref:.0f}x")
' "$wall" "$rss" "$rate" "$ref_wall_lo" "$ref_wall_hi" "$ref_rss_gb" "$ref_rate"

echo
echo "### 2. functional run (f32) of pimlir's ResNet-18"
if [ ! -f models/resnet18.onnx ] || [ ! -f models/resnet18.input0.npy ]; then
    echo "skipped: models/resnet18.onnx or models/resnet18.input0.npy missing (make models-test)"
    exit 0
fi
pipeline='builtin.module(partition,replicate{strategy=balance},map-cores,schedule,alloc-memory)'
echo "\$ $bin/pim-opt models/resnet18.onnx --pass-pipeline='$pipeline' -o resnet18.pim"
/usr/bin/time -f "%e %M" -o "$tmp/compile.time" "$bin/pim-opt" models/resnet18.onnx --pass-pipeline="$pipeline" \
    -o "$tmp/resnet18.pim"
read -r wall rss <"$tmp/compile.time"
echo "compile: wall $wall s, peak RSS $((rss / 1024)) MB"
cmd=("$bin/pim-sim" "$tmp/resnet18.pim" --timing=off -i models/resnet18.input0.npy -o "$tmp/y.npy")
echo "\$ ${cmd[*]}"
/usr/bin/time -f "%e %M" -o "$tmp/func.time" "${cmd[@]}" >"$tmp/func.out"
read -r wall rss <"$tmp/func.time"
head -1 "$tmp/func.out"
grep -E '^simulated ' "$tmp/func.out"
echo "functional run: wall $wall s, peak RSS $((rss / 1024)) MB (weights read from the ONNX file included)"
if [ -x .venv/bin/python ] && .venv/bin/python -c 'import numpy' 2>/dev/null; then
    .venv/bin/python -c '
import sys, numpy as np
y, ref = np.load(sys.argv[1]), np.load(sys.argv[2])
print(f"output vs onnxruntime (models/resnet18.output0.npy): max abs difference {np.abs(y - ref).max():.3g}")
' "$tmp/y.npy" models/resnet18.output0.npy
fi
