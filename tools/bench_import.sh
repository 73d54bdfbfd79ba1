#!/usr/bin/env bash
# Import benchmark: the PIMCOMP-NN structure files and the ONNX model zoo, with release
# binaries. For each model: graph ops after import, import time and peak memory
# (/usr/bin/time), and whether the result verifies (pim-opt re-reads it).
#
#   tools/bench_import.sh [PIMCOMP_JSON_DIR]      default: ../shared/data/pimcomp-json
#
# Generate the zoo first: `make models ZOO=1`.
set -euo pipefail
cd "$(dirname "$0")/.."
JSON_DIR=${1:-../shared/data/pimcomp-json}
cargo build --release --bins -q
B=target/release
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

row() { # name kind time(s) peak(KB) ops verified
    printf '%-22s %-6s %8s %10s %6s  %s\n' "$@"
}
row model kind seconds peak_MB ops verified

measure() { # name kind cmd...
    local name=$1 kind=$2
    shift 2
    local t="$OUT/$name.time"
    if /usr/bin/time -f '%e %M' -o "$t" "$@" -o "$OUT/$name.mlir" 2>"$OUT/$name.err"; then
        read -r secs kb < "$t"
        local ops verified
        ops=$(grep -c '"graph\.' "$OUT/$name.mlir" || true)
        if "$B/pim-opt" "$OUT/$name.mlir" > /dev/null 2>&1; then verified=yes; else verified=NO; fi
        row "$name" "$kind" "$secs" "$((kb / 1024))" "$ops" "$verified"
    else
        row "$name" "$kind" - - - "FAILED: $(head -1 "$OUT/$name.err")"
    fi
}

if [ -d "$JSON_DIR" ]; then
    for f in "$JSON_DIR"/*.json; do
        measure "$(basename "$f" .json)" json "$B/pim-translate" --import-pimcomp-json "$f"
    done
else
    echo "(no PIMCOMP-NN JSON directory at $JSON_DIR)"
fi
for f in models/*.onnx; do
    measure "$(basename "$f" .onnx)" onnx "$B/pim-translate" --import-onnx "$f"
done
