#!/usr/bin/env python3
"""Run an ONNX model in onnxruntime to produce or check reference outputs.

Two modes:

  Write reference outputs:
    python tools/onnx_reference.py MODEL.onnx --input X.npy [--input X2.npy ...] \\
        --output Y.npy [--output Y2.npy ...]

  Compare results of another implementation (e.g. pimlir) against onnxruntime:
    python tools/onnx_reference.py MODEL.onnx --input X.npy --compare ACTUAL.npy [--atol 1e-4]

    Prints `max abs error: <e>` and then either
      `matches onnxruntime (max abs error <e> <= <atol>)`   (exit status 0) or
      `MISMATCH ...`                                        (exit status 1).

`--input` files bind positionally to the model's graph inputs (in graph
order); `NAME=PATH` binds explicitly by input name. `--output` / `--compare`
bind positionally to the model's outputs. Other errors exit with status 2.

The functions `run_onnxruntime` and `compare_arrays` are importable from other
tools (make_models.py uses the former).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

import numpy as np

DEFAULT_ATOL = 1e-4


def make_session(model: str | os.PathLike | bytes):
    """Create a CPU onnxruntime session configured for reproducible results."""
    import onnxruntime as ort  # imported lazily: slow to import, not always needed

    opts = ort.SessionOptions()
    # One intra-op thread: multi-threaded reductions may sum in a different
    # order from run to run, which would make reference files non-deterministic.
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # errors only; keep tool output clean for lit
    if isinstance(model, os.PathLike):
        model = os.fspath(model)
    return ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])


def run_onnxruntime(
    model: str | os.PathLike | bytes,
    inputs: Sequence[np.ndarray] | Mapping[str, np.ndarray],
) -> list[np.ndarray]:
    """Run `model` (path or serialized bytes) on `inputs` and return all outputs.

    `inputs` is either a sequence bound positionally to the graph inputs or a
    mapping from input name to array.
    """
    return run_session(make_session(model), inputs)


def run_session(sess, inputs: Sequence[np.ndarray] | Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """Run an existing session; see `run_onnxruntime` for how inputs bind."""
    feeds = _bind_inputs(sess, inputs)
    return [np.asarray(o) for o in sess.run(None, feeds)]


def _bind_inputs(sess, inputs) -> dict[str, np.ndarray]:
    model_inputs = sess.get_inputs()
    if isinstance(inputs, Mapping):
        feeds = dict(inputs)
        unknown = set(feeds) - {i.name for i in model_inputs}
        if unknown:
            raise ValueError(f"unknown model input name(s): {sorted(unknown)}")
    else:
        if len(inputs) != len(model_inputs):
            raise ValueError(
                f"model has {len(model_inputs)} input(s) "
                f"({', '.join(i.name for i in model_inputs)}), got {len(inputs)}"
            )
        feeds = {info.name: arr for info, arr in zip(model_inputs, inputs)}
    missing = [i.name for i in model_inputs if i.name not in feeds]
    if missing:
        raise ValueError(f"missing model input(s): {missing}")
    return feeds


def compare_arrays(actual: np.ndarray, expected: np.ndarray) -> float:
    """Return the max absolute error between two same-shaped arrays.

    NaNs or infinities are only considered equal when both arrays hold the
    same value at the same position; otherwise the error is infinite.
    """
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.size == 0:
        return 0.0
    with np.errstate(invalid="ignore"):
        err = np.abs(a - e)
    same = (a == e) | (np.isnan(a) & np.isnan(e))
    err = np.where(same, 0.0, err)
    err = np.where(np.isnan(err), np.inf, err)
    return float(err.max())


def _load_inputs(specs: Sequence[str]) -> list[np.ndarray] | dict[str, np.ndarray]:
    """Load `--input` arguments: all positional (PATH) or all named (NAME=PATH)."""
    named = ["=" in s and not os.path.exists(s) for s in specs]
    if any(named) and not all(named):
        raise ValueError("--input arguments must be either all PATH or all NAME=PATH")
    if all(named) and specs:
        return {k: np.load(v) for k, v in (s.split("=", 1) for s in specs)}
    return [np.load(s) for s in specs]


# onnxruntime type strings of the input types the tools deal with.
_ORT_TYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
}


def _check_dtypes(sess, feeds: Mapping[str, np.ndarray]) -> None:
    """Fail early with a clear message when an input file has the wrong dtype
    (onnxruntime's own error for this is hard to read)."""
    for info in sess.get_inputs():
        want = _ORT_TYPES.get(info.type)
        arr = feeds[info.name]
        if want is not None and arr.dtype != want:
            raise ValueError(
                f"input '{info.name}' expects {np.dtype(want).name}, "
                f"file has {arr.dtype.name}"
            )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Run an ONNX model with onnxruntime (CPU) to write or check reference outputs."
    )
    parser.add_argument("model", help="path to the .onnx model")
    parser.add_argument(
        "--input", action="append", default=[], metavar="[NAME=]X.npy",
        help="input array; repeat for multi-input models (positional, or NAME=PATH)",
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument(
        "--output", action="append", metavar="Y.npy",
        help="write the model's outputs (positionally) to these .npy files",
    )
    mode.add_argument(
        "--compare", action="append", metavar="ACTUAL.npy",
        help="compare these arrays (positionally) against the model's outputs",
    )
    parser.add_argument(
        "--atol", type=float, default=DEFAULT_ATOL,
        help=f"absolute tolerance for --compare (default {DEFAULT_ATOL:g})",
    )
    args = parser.parse_args(argv)

    try:
        inputs = _load_inputs(args.input)
        sess = make_session(args.model)
        feeds = _bind_inputs(sess, inputs)
        _check_dtypes(sess, feeds)
        outputs = run_session(sess, feeds)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # onnxruntime raises its own exception types
        print(f"error: onnxruntime failed: {exc}", file=sys.stderr)
        return 2

    files = args.output if args.output is not None else args.compare
    if len(files) > len(outputs):
        print(
            f"error: model has {len(outputs)} output(s) but {len(files)} file(s) were given",
            file=sys.stderr,
        )
        return 2

    if args.output is not None:
        for path, arr in zip(files, outputs):
            np.save(path, arr)
        return 0

    ok = True
    errors: list[float] = []  # max abs error of each output whose shape matched
    for idx, (path, expected) in enumerate(zip(files, outputs)):
        try:
            actual = np.load(path)
        except (ValueError, OSError) as exc:
            print(f"error: cannot load {path}: {exc}", file=sys.stderr)
            return 2
        label = f"output {idx}" if len(files) > 1 else "output"
        if actual.shape != expected.shape:
            print(
                f"MISMATCH: {label} shape {tuple(actual.shape)} (actual) "
                f"!= {tuple(expected.shape)} (onnxruntime)"
            )
            ok = False
            continue
        err = compare_arrays(actual, expected)
        errors.append(err)
        if len(files) > 1:
            print(f"{label}: max abs error: {err:.6g}")
        # `not <=` so that a NaN error counts as a mismatch.
        if not err <= args.atol:
            ok = False

    if not errors:
        print("max abs error: n/a (no output with matching shape)")
        return 1
    worst = max(errors)
    print(f"max abs error: {worst:.6g}")
    if ok:
        print(f"matches onnxruntime (max abs error {worst:.6g} <= {args.atol:g})")
        return 0
    if worst > args.atol:
        print(f"MISMATCH: max abs error {worst:.6g} > {args.atol:g}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
