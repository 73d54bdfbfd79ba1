#!/usr/bin/env bash
# pimlir's ResNet-18 against PIMCOMP's own program for it, run by hand (not part of `make
# test`): the same architecture (../shared/data/pimsim/latency_config.json, 64 cores), the
# same bit widths (8-bit activations and weights, as PIMCOMP's program) and the same
# simulator and timing model (pim-sim --timing=pimsim-compat, pimsim-nn's model). Prints,
# per replication strategy, the steady-state throughput with --samples N (default 6), the
# first sample's latency, the bottleneck core's crossbar work per sample, and the
# issue-bound roofline (all mvmul time of one sample over the 64 cores), with the ratios to
# PIMCOMP's resnet18_batch.gz under the same run.
#
# Then the low-latency element pipeline: one sample's latency against PIMCOMP's
# resnet18_element_setbw.gz and its batch program.
#
# Usage: tools/bench_anchor.sh [SAMPLES]   (needs models/resnet18.onnx: make models ZOO=1)
set -euo pipefail
cd "$(dirname "$0")/.."
samples=${1:-6}
data=${PIMSIM_DATA:-../shared/data/pimsim}
[ -x target/release/pim-opt ] || cargo build --release --bins
bin=target/release
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
[ -f models/resnet18.onnx ] || { echo "models/resnet18.onnx missing (make models ZOO=1)"; exit 1; }

# latency_config.json with 8-bit activations and weights for pimlir's compiler, and the NoC
# table's path made absolute (the copy lives elsewhere).
python3 - "$data/latency_config.json" "$tmp/lat8.json" <<'PY'
import json, os, sys
src, out = sys.argv[1:3]
c = json.load(open(src))
net = c["chip_config"]["network_config"]
net["net_config_file_path"] = os.path.join(os.path.dirname(os.path.abspath(src)), net["net_config_file_path"])
c["pimlir"] = {"activation_bits": 8, "weight_bits": 8}
json.dump(c, open(out, "w"), indent=1)
PY

# sim NAME PROGRAM: pimsim-compat timing with $samples samples, the report in $tmp/NAME.json.
sim() {
    "$bin/pim-sim" "$2" --timing=pimsim-compat --arch "$tmp/lat8.json" --samples "$samples" \
        --report-json "$tmp/$1.json" -q
}

echo "\$ $bin/pim-sim $data/resnet18_batch.gz --timing=pimsim-compat --arch lat8.json --samples $samples"
sim pimcomp "$data/resnet18_batch.gz"
echo "| program | compile | throughput | vs PIMCOMP | latency | bottleneck work | roofline | vs roofline | overwrites |"
echo "|---|---|---|---|---|---|---|---|---|"
row() {
    python3 - "$tmp/$1.json" "$tmp/pimcomp.json" "$1" "$2" <<'PY'
import json, sys
r, ref, name, compile_s = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3], sys.argv[4]
cores = 64
bound = sum(c["busy_ns"]["matrix"] for c in r["cores"]) / r["samples"] / cores
tp = r["throughput_per_s"]
roof = 1e9 / bound
print(f"| {name} | {compile_s} | {tp:.1f}/s | {tp / ref['throughput_per_s']:.2f}x | {r['latency_ns'] / 1e6:.3f} ms "
      f"| {r['bottleneck']['work_ns_per_sample'] / 1e6:.3f} ms | {roof:.1f}/s | {tp / roof:.2f}x | {r['overwrite_count']} |")
PY
}
# compile NAME PIPELINE: ResNet-18 into $tmp/NAME.pim; the compile time in $compile_ms.
compile() {
    local start end
    start=$(date +%s%N)
    "$bin/pim-opt" models/resnet18.onnx --arch "$tmp/lat8.json" --pass-pipeline="$2" -o "$tmp/$1.pim"
    end=$(date +%s%N)
    compile_ms="$(( (end - start) / 1000000 )) ms"
}
row pimcomp -
for s in balance work proportional ga; do
    compile "$s" "builtin.module(partition,replicate{strategy=$s},map-cores,schedule,alloc-memory)"
    sim "$s" "$tmp/$s.pim"
    row "$s" "$compile_ms"
done

# The low-latency element pipeline: one sample's latency (--samples 1), against PIMCOMP's
# element-pipeline program (resnet18_element_setbw.gz) and its batch program's latency.
echo
echo "\$ $bin/pim-sim $data/resnet18_element_setbw.gz --timing=pimsim-compat --arch lat8.json --samples 1"
one() {
    "$bin/pim-sim" "$2" --timing=pimsim-compat --arch "$tmp/lat8.json" --samples 1 --report-json "$tmp/$1.one.json" -q
}
one pimcomp_ll "$data/resnet18_element_setbw.gz"
one pimcomp_ht "$data/resnet18_batch.gz"
echo "| program | compile | latency | PIMCOMP's element pipeline / this | PIMCOMP's batch program / this |"
echo "|---|---|---|---|---|"
lrow() {
    python3 - "$tmp/$1.one.json" "$tmp/pimcomp_ll.one.json" "$tmp/pimcomp_ht.one.json" "$1" "$2" <<'PY'
import json, sys
r, ll, ht = (json.load(open(f))["latency_ns"] for f in sys.argv[1:4])
print(f"| {sys.argv[4]} | {sys.argv[5]} | {r / 1e6:.3f} ms | {ll / r:.2f}x | {ht / r:.2f}x |")
PY
}
lrow pimcomp_ll -
lrow pimcomp_ht -
for s in work ga; do
    compile "ll-$s" "builtin.module(partition,replicate{strategy=$s},map-cores{report=false},schedule{mode=ll},alloc-memory)"
    one "ll-$s" "$tmp/ll-$s.pim"
    lrow "ll-$s" "$compile_ms"
done
