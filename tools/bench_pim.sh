#!/usr/bin/env bash
# Benchmarks of the ISA-level formats, run by hand (not part of `make test`):
#
#   1. import of PIMCOMP-NN's resnet18 program for pimsim-nn (3.1 M records): time, peak memory
#   2. .pim parse and print rate on that program, flat (~1 M instruction lines)
#   3. export of the imported program and re-import: the same program comes back
#   4. --reroll on the imported program and on pimlir's own resnet18 program, flattened
#
# Usage: tools/bench_pim.sh [RUNS]   (default 5 runs for the rates; best and median shown)
# Needs ../shared/data/pimsim/resnet18_batch.gz and `make models-test` (models/resnet18.onnx).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
data=../shared/data/pimsim/resnet18_batch.gz
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cargo build --release --quiet
bin=target/release
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"

# Instruction lines of a .pim file (not declarations, loop headers or braces).
static() { grep -E '^ +[a-z]' "$1" | grep -vcE '^ +(ag|buffer|repeat) '; }

echo
echo "== 1. import $data"
/usr/bin/time -f "wall %e s, peak %M KB" "$bin/pim-translate" --timing --import-pimsim "$data" -o "$tmp/flat.pim" 2>&1 |
    grep -E "timing: import|wall"

echo
echo "== 2. .pim parse / print of the flat program ($(static "$tmp/flat.pim") instruction lines)"
for _ in $(seq "$runs"); do
    "$bin/pim-translate" --timing --pim-to-pim "$tmp/flat.pim" -o "$tmp/again.pim" 2>>"$tmp/rates"
done
for step in parse print; do
    grep "timing: $step" "$tmp/rates" | awk '{ print $(NF-1) }' | sort -n | awk -v step="$step" '
        { r[NR] = $1 }
        END { printf "%-6s best %.2f M instr/s, median %.2f M instr/s over %d runs\n", step, r[NR], r[int((NR+1)/2)], NR }'
done
cmp -s "$tmp/flat.pim" "$tmp/again.pim" && echo "re-printed text identical to the input"
/usr/bin/time -f "parse+print peak %M KB" "$bin/pim-translate" --pim-to-pim "$tmp/flat.pim" -o /dev/null

echo
echo "== 3. export and re-import"
"$bin/pim-translate" --timing --export-pimsim "$tmp/flat.pim" -o "$tmp/out.gz" 2>&1 | grep -E "export"
"$bin/pim-translate" --import-pimsim "$tmp/out.gz" -o "$tmp/reimported.pim"
cmp -s "$tmp/flat.pim" "$tmp/reimported.pim" && echo "re-imported program identical to the first import"
echo "file sizes: original $(stat -c %s "$data") B, exported $(stat -c %s "$tmp/out.gz") B"

echo
echo "== 4. reroll"

"$bin/pim-translate" --timing --pim-to-pim --reroll "$tmp/flat.pim" -o "$tmp/rolled.pim" 2>&1 | grep reroll
echo "PIMCOMP resnet18: $(static "$tmp/flat.pim") instruction lines flat -> $(static "$tmp/rolled.pim") rerolled"
if [ -f models/resnet18.onnx ]; then
    "$bin/pim-opt" models/resnet18.onnx --compile -o "$tmp/own.pim"
    "$bin/pim-translate" --pim-to-pim --flatten "$tmp/own.pim" -o "$tmp/own-flat.pim"
    "$bin/pim-translate" --timing --pim-to-pim --reroll "$tmp/own-flat.pim" -o "$tmp/own-rolled.pim" 2>&1 | grep reroll
    echo "pimlir resnet18: $(static "$tmp/own.pim") instruction lines as scheduled, $(static "$tmp/own-flat.pim") flat," \
        "$(static "$tmp/own-rolled.pim") rerolled"
fi
