#!/usr/bin/env bash
# Mapping quality, run by hand (not part of `make test`): every zoo model (models/*.onnx) and
# PIMCOMP-NN's 12 structure files (../shared/data/pimcomp-json, or $PIMCOMP_JSON) compiled
# for pimcomp-default with each replication strategy, then timed by pim-sim (pimlir model,
# 6 samples: with 2 the period is one interval and still holds the pipeline fill). Prints a
# markdown table:
#   crossbars   crossbars the program's array groups hold (with `none`: one replica each)
#   use         crossbars over the chip's (144 x 64 = 9216 on pimcomp-default)
#   compile     wall time of the whole compile
#   latency     first sample, pimlir timing model
#   period      time between samples in the steady state (1 / throughput)
#   bound       the issue-bound roofline: all mvmul time of one sample over the cores (a core
#               runs one instruction at a time with its one-entry ROB), so no mapping of this
#               program's crossbar work on this chip can have a shorter period
#   busiest     the busiest core's mvmul time per sample, as --map-cores notes it (its
#               estimate of the mapping, exact for crossbar work; waits and transfers come on top)
#   gap         period / bound (ll: latency / bound), and busiest / bound (the part placement
#               and replication leave)
#   estimate    ht: the period --map-cores estimates (src/mapping/period.rs: busiest core with
#               its queueing for global memory, or the global-memory server), and its ratio
#               to the simulated period; ll: the latency --schedule=mode=ll estimates (its list
#               schedule), and its ratio to the simulated latency
#   global      the global-memory server's busy time per sample, simulated
#   search      the ga search's time (its note)
# A model that does not compile shows the first line of its error instead. Models with
# softmax or LRN get pimcomp-default with the vector-unit extensions (marked +ext).
#
# MODES (default "ht"; "ht ll" for both): ll compiles with --schedule=mode=ll and simulates
# one sample (its period and global columns are then one sample's).
#
# Usage: STRATEGIES="none balance work" MODES="ht ll" tools/bench_mapping.sh [MODEL-FILE...]
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x target/release/pim-opt ] || cargo build --release --bins
bin=target/release
json=${PIMCOMP_JSON:-../shared/data/pimcomp-json}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ $# -gt 0 ]; then
    files=("$@")
else
    files=(models/*.onnx)
    [ -d "$json" ] && files+=("$json"/*.json)
fi
# pimcomp-default with the vector-unit extensions.
python3 tools/arch_with_extensions.py "$tmp/pimcomp-ext.json"
echo "| model | mode | strategy | crossbars | use | compile | latency | period | bound | busiest | gap | estimate | global | search |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for f in "${files[@]}"; do
    name=$(basename "$f")
    arch=pimcomp-default
    "$bin/pim-opt" "$f" --arch "$arch" --compile -o "$tmp/p.pim" 2> "$tmp/err" || true
    if grep -q vector_extensions "$tmp/err"; then
        arch="$tmp/pimcomp-ext.json"
        name="$name+ext"
    fi
    for mode in ${MODES:-ht}; do
    samples=6
    [ "$mode" = ll ] && samples=1
    for s in ${STRATEGIES:-none balance work uniform proportional ga}; do
        pipeline="builtin.module(partition,replicate{strategy=$s},map-cores,schedule{mode=$mode},alloc-memory)"
        start=$(date +%s%N)
        if ! "$bin/pim-opt" "$f" --arch "$arch" --pass-pipeline="$pipeline" -o "$tmp/p.pim" 2> "$tmp/err"; then
            why=$(grep -m1 "error" "$tmp/err" | sed 's/|/\\|/g' | cut -c1-140)
            echo "| $name | $mode | $s | - | - | - | $why | | | | | | | |"
            # The other strategies stop at the same place.
            break
        fi
        end=$(date +%s%N)
        cp "$tmp/err" "$tmp/note"
        if ! "$bin/pim-sim" "$tmp/p.pim" --arch "$arch" --samples "$samples" --report-json "$tmp/r.json" -q 2> "$tmp/err"; then
            echo "| $name | $mode | $s | | | | $(grep -m1 error "$tmp/err" | cut -c1-140) | | | | | | | |"
            continue
        fi
        python3 - "$tmp/p.pim" "$tmp/r.json" "$name" "$s" "$(( (end - start) / 1000000 ))" "$tmp/note" "$mode" <<'PY'
import json, re, sys
pim, report, name, strategy, ms, note, mode = sys.argv[1:8]
text = open(note).read()
m = re.search(r"busiest core \d+ ([0-9.]+) ms", text)
busiest = float(m.group(1)) * 1e6 if m else float("nan")
m = re.search(r"estimated period ([0-9.]+) ms" if mode == "ht" else r"estimated latency ([0-9.]+) ms", text)
estimate = float(m.group(1)) * 1e6 if m else float("nan")
m = re.search(r"scored in ([0-9.]+) s", text)
search = f"{float(m.group(1)):.2f} s" if m else "-"
xbars = sum(int(m.group(1)) for m in re.finditer(r"^  ag \d+ .* xbars=(\d+)", open(pim).read(), re.M))
r = json.load(open(report))
chip = 144 * 64
period = 1e9 / r["throughput_per_s"] if r.get("throughput_per_s") else float("nan")
# What the estimate is of: the period (ht), one sample's latency (ll).
measured = period if mode == "ht" else r["latency_ns"]
matrix = sum(c["busy_ns"]["matrix"] for c in r["cores"]) / r["samples"]
bound = matrix / 144
ms_ = lambda ns: f"{ns / 1e6:.3f} ms" if ns == ns else "-"
print(f"| {name} | {mode} | {strategy} | {xbars} | {100 * xbars / chip:.1f}% | {int(ms) / 1000:.2f} s | {ms_(r['latency_ns'])} "
      f"| {ms_(period)} | {ms_(bound)} | {ms_(busiest)} | {measured / bound:.1f}x ({busiest / bound:.1f}x) "
      f"| {ms_(estimate)} ({estimate / measured:.2f}x) | {ms_(r['global_busy_ns_per_sample'])} | {search} |")
PY
    done
    done
done
