#!/usr/bin/env python3
"""Write a small ONNX fixture for a lit test: `make_fixture.py NAME OUT.onnx`.

Fixtures are built from code (seeded), never downloaded; each exercises one importer path,
including the failures a user must get a clear error for. `--list` shows them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_models import IR_VERSION, OPSET, make_single_op_model  # noqa: E402

FIXTURES = {}


def fixture(name):
    def deco(fn):
        FIXTURES[name] = fn
        return fn
    return deco


def rng(name: str) -> np.random.Generator:
    import zlib
    return np.random.default_rng(zlib.crc32(name.encode()))


@fixture("conv-relu")
def conv_relu() -> onnx.ModelProto:
    """Conv with bias and padding, then Relu (fused into the conv on import)."""
    r = rng("conv-relu")
    w = r.standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.3
    b = r.standard_normal(4).astype(np.float32) * 0.1
    nodes = [
        helper.make_node("Conv", ["input", "w", "b"], ["c"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["output"], name="relu"),
    ]
    g = helper.make_graph(
        nodes, "conv-relu",
        [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, [1, 3, 6, 6])],
        [helper.make_tensor_value_info("output", onnx.TensorProto.FLOAT, [1, 4, 6, 6])],
        initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)


@fixture("unsupported-op")
def unsupported_op() -> onnx.ModelProto:
    """A model using an operator pimlir does not import (Erf)."""
    return make_single_op_model("Erf", [[1, 8]])


@fixture("nonconst-weight")
def nonconst_weight() -> onnx.ModelProto:
    """A Conv whose weight is a graph input instead of an initializer."""
    return make_single_op_model("Conv", {"input": [1, 3, 6, 6], "w": [4, 3, 3, 3]}, {"kernel_shape": [3, 3]})


@fixture("dynamic-shape")
def dynamic_shape() -> onnx.ModelProto:
    """An input with a symbolic spatial dimension."""
    g = helper.make_graph(
        [helper.make_node("Relu", ["input"], ["output"], name="relu")], "dyn",
        [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, [1, 3, "height", 8])],
        [helper.make_tensor_value_info("output", onnx.TensorProto.FLOAT, [1, 3, "height", 8])],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)


@fixture("int-input")
def int_input() -> onnx.ModelProto:
    """An int64 model input (pimlir compiles float32 models)."""
    g = helper.make_graph(
        [helper.make_node("Identity", ["input"], ["output"], name="id")], "int",
        [helper.make_tensor_value_info("input", onnx.TensorProto.INT64, [1, 4])],
        [helper.make_tensor_value_info("output", onnx.TensorProto.INT64, [1, 4])],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--list"]:
        for name, fn in FIXTURES.items():
            print(f"{name}: {fn.__doc__}")
        return 0
    if len(argv) != 2 or argv[0] not in FIXTURES:
        print(f"usage: make_fixture.py NAME OUT.onnx  (names: {', '.join(FIXTURES)})", file=sys.stderr)
        return 2
    model = FIXTURES[argv[0]]()
    onnx.save(model, argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
