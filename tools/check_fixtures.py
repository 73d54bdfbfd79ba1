#!/usr/bin/env python3
"""Compile and simulate ONNX fixtures end to end, comparing with onnxruntime.

    check_fixtures.py --opt PIM_OPT --sim PIM_SIM --work DIR NAME [NAME ...]

For each fixture (see make_fixture.py) this writes the model with a sample input and the
onnxruntime output, compiles it with `pim-opt --compile`, simulates it with `pim-sim`, and
prints `NAME: ok (max abs error E)` or `NAME: FAIL ...`. Exit status 1 if any failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fixture  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--opt", required=True, help="pim-opt binary")
    ap.add_argument("--sim", required=True, help="pim-sim binary")
    ap.add_argument("--work", required=True, type=Path, help="scratch directory")
    ap.add_argument("--atol", type=float, default=1e-4)
    ap.add_argument("--arch", default="pimcomp-default")
    ap.add_argument(
        "--passes",
        help="pim-opt pass flags to run instead of --compile, e.g. '--partition=format=ik_o_k --replicate "
        "--map-cores --schedule --alloc-memory' (the .pim is emitted after them)",
    )
    ap.add_argument("names", nargs="+")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    failed = 0
    for name in args.names:
        base = args.work / name
        onnx_path = base.with_suffix(".onnx")
        if make_fixture.main([name, str(onnx_path), "--with-data"]) != 0:
            print(f"{name}: FAIL (could not generate)")
            failed += 1
            continue
        pim = base.with_suffix(".pim")
        out = base.with_name(name + ".sim.npy")
        steps = [
            [args.opt, str(onnx_path), "--arch", args.arch]
            + (args.passes.split() + ["--emit=pim"] if args.passes else ["--compile"])
            + ["-o", str(pim)],
            [args.sim, str(pim), "-q", "--input", str(base.with_name(name + ".input0.npy")), "--output", str(out)],
        ]
        ok = True
        for cmd in steps:
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                print(f"{name}: FAIL ({Path(cmd[0]).name}: {r.stderr.strip().splitlines()[0] if r.stderr.strip() else r.returncode})")
                ok = False
                break
        if not ok:
            failed += 1
            continue
        got = np.load(out)
        want = np.load(base.with_name(name + ".output0.npy"))
        if got.shape != want.shape:
            print(f"{name}: FAIL (shape {got.shape} != {want.shape})")
            failed += 1
            continue
        err = float(np.max(np.abs(got - want))) if got.size else 0.0
        if not err <= args.atol:
            print(f"{name}: FAIL (max abs error {err:.3g} > {args.atol})")
            failed += 1
        else:
            print(f"{name}: ok (max abs error {err:.3g})")
    print(f"{len(args.names) - failed} of {len(args.names)} fixtures match onnxruntime")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
