#!/usr/bin/env python3
"""Write a small ONNX fixture for a lit test: `make_fixture.py NAME OUT.onnx [--with-data]`.

Fixtures are built from code (seeded from the fixture name), never downloaded; each
exercises one importer path (an operator, an attribute form or an export pattern),
including the failures a user must get a clear error for. Inputs are tiny, e.g.
[1, 4, 6, 6].

    make_fixture.py --list                 every fixture with its description; marked
                                           [invalid] if it is deliberately not valid ONNX
                                           (checker/shape inference/onnxruntime reject it)
    make_fixture.py NAME OUT.onnx          write the model
    make_fixture.py NAME OUT.onnx --with-data
                                           also write OUT.input<k>.npy (seeded, standard
                                           normal) and OUT.output<k>.npy (onnxruntime)
                                           beside it, k over the graph inputs/outputs;
                                           OUT is the model path without ".onnx"
    make_fixture.py --verify               build every fixture, check that the valid ones
                                           pass onnx.checker, strict shape inference and
                                           onnxruntime, and that the invalid ones fail

The `external-data` fixture stores its weights in OUT.onnx.data beside OUT.onnx.
"""

from __future__ import annotations

import argparse
import inspect
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_models import (IR_VERSION, OPSET, GraphBuilder, make_single_op_model,  # noqa: E402
                         stable_seed, validate_model)
from onnx_reference import run_onnxruntime  # noqa: E402

TP = onnx.TensorProto


@dataclass(frozen=True)
class Fixture:
    name: str
    build: Callable[[], onnx.ModelProto]
    doc: str
    # Passes onnx.checker (full), strict shape inference and onnxruntime. False for
    # the deliberately broken fixtures (the importer must reject them cleanly).
    valid: bool = True
    # Sample inputs for --with-data: standard normal times this.
    input_scale: float = 1.0
    # Save with the tensors in OUT.onnx.data (onnx external data).
    external_data: bool = False


FIXTURES: dict[str, Fixture] = {}


def _add(fx: Fixture) -> None:
    if fx.name in FIXTURES:
        raise ValueError(f"fixture '{fx.name}' defined twice")
    FIXTURES[fx.name] = fx


def fixture(name, valid: bool = True, input_scale: float = 1.0, external_data: bool = False):
    """Register `fn() -> ModelProto` as fixture `name`."""
    def deco(fn):
        _add(Fixture(name, fn, inspect.getdoc(fn) or "", valid, input_scale, external_data))
        return fn
    return deco


def graph_fixture(name, opset: int = OPSET, torch_names: bool = False, input_scale: float = 1.0,
                  external_data: bool = False):
    """Register `fn(gb: GraphBuilder) -> output tensor` as fixture `name`.

    The builder is seeded from `name`; the returned tensor becomes the graph
    output `output`, and the model is checked (checker + strict shape
    inference) when built."""
    def deco(fn):
        doc = inspect.getdoc(fn) or ""

        def build() -> onnx.ModelProto:
            gb = GraphBuilder(name, torch_names=torch_names)
            gb.output(fn(gb), "output")
            return gb.make_model(doc=doc, opset=opset)
        _add(Fixture(name, build, doc, True, input_scale, external_data))
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


# ------------------------------------------------------------------ convolution

X = [1, 4, 6, 6]  # default fixture input


@graph_fixture("conv-group")
def conv_group(gb: GraphBuilder) -> str:
    """Grouped Conv (group=2, 4 -> 6 channels, 3x3 pad 1)."""
    return gb.conv(gb.input("input", X), 6, 3, 1, 1, group=2)


@graph_fixture("conv-depthwise")
def conv_depthwise(gb: GraphBuilder) -> str:
    """Depthwise Conv (group = channels = 4, 3x3 pad 1)."""
    return gb.conv(gb.input("input", X), 4, 3, 1, 1, group=4)


@graph_fixture("conv-depthwise-5x5")
def conv_depthwise_5x5(gb: GraphBuilder) -> str:
    """Depthwise Conv 5x5 pad 2 over 12 channels of 9x9 (EfficientNet's kind): packed matrices of a few channels."""
    return gb.conv(gb.input("input", [1, 12, 9, 9]), 12, 5, 1, 2, group=12)


@graph_fixture("conv-wide")
def conv_wide(gb: GraphBuilder) -> str:
    """Conv over 96 channels (3x3 pad 1, 7x7, 96 -> 8): on 64-row crossbars a replica is two row groups, which a small core cannot hold together (owner and helper)."""
    return gb.conv(gb.input("input", [1, 96, 7, 7]), 8, 3, 1, 1)


@graph_fixture("residual-block")
def residual_block(gb: GraphBuilder) -> str:
    """A ResNet block: Relu(Conv3x3(Relu(Conv3x3(x))) + x), read by a 1x1 conv; the add and its ReLU run inside the second conv (sched::fuse)."""
    x = gb.input("input", X)
    h = gb.conv(gb.relu(gb.conv(x, 4, 3, 1, 1)), 4, 3, 1, 1)
    return gb.conv(gb.relu(gb.add(h, x)), 4, 1)


@graph_fixture("conv-dilation")
def conv_dilation(gb: GraphBuilder) -> str:
    """Dilated Conv (3x3, dilations 2, pads 2: 6x6 -> 6x6)."""
    return gb.conv(gb.input("input", X), 5, 3, 1, 2, dilation=2)


@graph_fixture("conv-asym-pads")
def conv_asym_pads(gb: GraphBuilder) -> str:
    """Conv with asymmetric pads [0, 1, 1, 2] (top, left, bottom, right): 6x6 -> 5x7."""
    return gb.conv(gb.input("input", X), 5, 3, 1, (0, 1, 1, 2))


def _auto_pad_conv(gb: GraphBuilder, auto_pad: str, stride: int, out_hw: int) -> str:
    x = gb.input("input", X)
    w = gb.initializer("conv.weight", gb.he_normal((5, 4, 3, 3), 4 * 9))
    b = gb.initializer("conv.bias", gb.small_uniform((5,)))
    return gb.node("Conv", [x, w, b], (1, 5, out_hw, out_hw), name="conv", kernel_shape=[3, 3],
                   strides=[stride, stride], auto_pad=auto_pad)


@graph_fixture("conv-auto-pad-same-upper")
def conv_auto_pad_same_upper(gb: GraphBuilder) -> str:
    """Conv with auto_pad=SAME_UPPER, 3x3 stride 2: 6x6 -> 3x3, the one pad row/column at the end."""
    return _auto_pad_conv(gb, "SAME_UPPER", 2, 3)


@graph_fixture("conv-auto-pad-valid")
def conv_auto_pad_valid(gb: GraphBuilder) -> str:
    """Conv with auto_pad=VALID (no padding), 3x3: 6x6 -> 4x4."""
    return _auto_pad_conv(gb, "VALID", 1, 4)


@graph_fixture("conv-bn")
def conv_bn(gb: GraphBuilder) -> str:
    """Conv, then BatchNormalization, then Relu (BN foldable into the conv)."""
    x = gb.conv(gb.input("input", X), 6, 3, 1, 1)
    return gb.relu(gb.batchnorm(x))


@graph_fixture("bn-alone")
def bn_alone(gb: GraphBuilder) -> str:
    """BatchNormalization applied to the graph input (no conv to fold it into)."""
    return gb.batchnorm(gb.input("input", X))


# ---------------------------------------------------------------- fully connected

@graph_fixture("gemm-bias")
def gemm_bias(gb: GraphBuilder) -> str:
    """Gemm with a C bias and transB=0 (B stored [in, out])."""
    return gb.gemm(gb.input("input", [1, 16]), 8, transB=0)


@graph_fixture("gemm-alpha")
def gemm_alpha(gb: GraphBuilder) -> str:
    """Gemm with alpha=0.5 (the importer should reject alpha/beta != 1)."""
    x = gb.input("input", [1, 16])
    w = gb.initializer("fc.weight", gb.he_normal((8, 16), 16))
    b = gb.initializer("fc.bias", gb.small_uniform((8,)))
    return gb.node("Gemm", [x, w, b], (1, 8), name="fc", alpha=0.5, transB=1)


@graph_fixture("matmul-add")
def matmul_add(gb: GraphBuilder) -> str:
    """MatMul with a constant [16, 8] weight, then Add of a constant [8] bias."""
    x = gb.matmul(gb.input("input", [1, 16]), 8)
    return gb.add(x, gb.initializer("bias", gb.small_uniform((8,), 0.5)))


# ------------------------------------------------------------------- elementwise

@graph_fixture("add-broadcast")
def add_broadcast(gb: GraphBuilder) -> str:
    """Add of a constant per-channel [C, 1, 1] bias to [1, C, H, W], after a Relu (not a conv)."""
    x = gb.relu(gb.input("input", X))
    return gb.add(x, gb.initializer("bias", gb.small_uniform((4, 1, 1), 0.5)))


@graph_fixture("add-width-vector")
def add_width_vector(gb: GraphBuilder) -> str:
    """Conv1x1 without bias (2 -> 4 channels on a 3x4 map), then Add of a constant [4]: numpy
    broadcasting adds it along the width (W == C here), so it is not the conv's bias."""
    x = gb.input("input", (1, 2, 3, 4))
    y = gb.conv(x, 4, 1, bias=False)
    return gb.add(y, gb.initializer("row", np.array([10, 20, 30, 40], dtype=np.float32)))


@graph_fixture("add-eltwise")
def add_eltwise(gb: GraphBuilder) -> str:
    """Add of two activations (a residual join): Relu(Conv3x3(x)) + Conv1x1(x)."""
    x = gb.input("input", X)
    a = gb.relu(gb.conv(x, 4, 3, 1, 1))
    return gb.add(a, gb.conv(x, 4, 1))


@graph_fixture("add-relu")
def add_relu(gb: GraphBuilder) -> str:
    """A residual block's join: Relu(Relu(Conv3x3(x)) + x), then a 1x1 conv reading it; the
    ReLU runs inside the add (one pass over the map instead of two)."""
    x = gb.input("input", X)
    y = gb.relu(gb.add(gb.relu(gb.conv(x, 4, 3, 1, 1)), x))
    return gb.conv(y, 4, 1)


@graph_fixture("mul-eltwise")
def mul_eltwise(gb: GraphBuilder) -> str:
    """Squeeze-excite: GlobalAveragePool, Conv1x1, Relu, Conv1x1, Sigmoid, Mul [1,C,H,W] by [1,C,1,1]."""
    x = gb.input("input", X)
    s = gb.relu(gb.conv(gb.global_avgpool(x), 2, 1))
    s = gb.sigmoid(gb.conv(s, 4, 1))
    return gb.mul(x, s)


@graph_fixture("leaky-relu")
def leaky_relu(gb: GraphBuilder) -> str:
    """LeakyRelu with alpha 0.1."""
    x = gb.input("input", X)
    return gb.node("LeakyRelu", [x], X, alpha=0.1)


@graph_fixture("clip-relu6", input_scale=4.0)
def clip_relu6(gb: GraphBuilder) -> str:
    """ReLU6 as opset-11+ Clip with scalar min/max initializer inputs (0, 6)."""
    return gb.relu6(gb.input("input", X))


@graph_fixture("conv-relu6", input_scale=4.0)
def conv_relu6(gb: GraphBuilder) -> str:
    """Conv 3x3 (4 -> 6) with ReLU6 fused: clipped on the way out of the crossbars."""
    return gb.relu6(gb.conv(gb.input("input", X), 6, 3, 1, 1))


@graph_fixture("conv-depthwise-relu6", input_scale=4.0)
def conv_depthwise_relu6(gb: GraphBuilder) -> str:
    """Depthwise conv 3x3 with ReLU6 fused (MobileNetV2's pattern)."""
    return gb.relu6(gb.conv(gb.input("input", X), 4, 3, 1, 1, group=4))


@graph_fixture("clip-attr", opset=10, input_scale=4.0)
def clip_attr(gb: GraphBuilder) -> str:
    """Opset-6..10 Clip with min/max attributes (0, 6); the model imports opset 10."""
    x = gb.input("input", X)
    return gb.node("Clip", [x], X, min=0.0, max=6.0)


@graph_fixture("sigmoid")
def sigmoid(gb: GraphBuilder) -> str:
    """Sigmoid."""
    return gb.sigmoid(gb.input("input", X))


@graph_fixture("tanh")
def tanh(gb: GraphBuilder) -> str:
    """Tanh."""
    x = gb.input("input", X)
    return gb.node("Tanh", [x], X)


@graph_fixture("hard-sigmoid", input_scale=4.0)
def hard_sigmoid(gb: GraphBuilder) -> str:
    """HardSigmoid with alpha 1/6, beta 0.5 (what torch exports for F.hardsigmoid)."""
    x = gb.input("input", X)
    return gb.node("HardSigmoid", [x], X, alpha=1.0 / 6.0, beta=0.5)


@graph_fixture("hard-swish", input_scale=4.0)
def hard_swish(gb: GraphBuilder) -> str:
    """HardSwish (opset 14+): x * max(0, min(1, x/6 + 1/2))."""
    x = gb.input("input", X)
    return gb.node("HardSwish", [x], X)


# ------------------------------------------------------------------------ pooling

@graph_fixture("maxpool-pads")
def maxpool_pads(gb: GraphBuilder) -> str:
    """MaxPool 3x3 stride 2 pads 1 (ResNet stem): 6x6 -> 3x3."""
    return gb.maxpool(gb.input("input", X), 3, 2, 1)


@graph_fixture("maxpool-ceil")
def maxpool_ceil(gb: GraphBuilder) -> str:
    """MaxPool 3x3 stride 2 with ceil_mode=1: 6x6 -> 3x3 (floor mode would give 2x2)."""
    return gb.maxpool(gb.input("input", X), 3, 2, 0, ceil_mode=True)


@graph_fixture("avgpool-count-include-pad")
def avgpool_count_include_pad(gb: GraphBuilder) -> str:
    """AveragePool 3x3 stride 2 pads 1 with count_include_pad=1 (padding zeros count): 6x6 -> 3x3."""
    return gb.avgpool(gb.input("input", X), 3, 2, 1, count_include_pad=True)


@graph_fixture("avgpool-exclude-pad")
def avgpool_exclude_pad(gb: GraphBuilder) -> str:
    """AveragePool 3x3 stride 2 pads 1, count_include_pad absent (0: divide by the real cells only)."""
    return gb.avgpool(gb.input("input", X), 3, 2, 1)


@graph_fixture("global-avgpool")
def global_avgpool(gb: GraphBuilder) -> str:
    """GlobalAveragePool: [1, 4, 6, 6] -> [1, 4, 1, 1]."""
    return gb.global_avgpool(gb.input("input", X))


# ------------------------------------------------------------- shape / data movement

@graph_fixture("concat")
def concat(gb: GraphBuilder) -> str:
    """Concat (axis 1) of three branches: Conv1x1 (2 ch), Conv3x3 (3 ch), Relu of the input (4 ch)."""
    x = gb.input("input", X)
    a = gb.conv(x, 2, 1)
    b = gb.conv(x, 3, 3, 1, 1)
    return gb.concat([a, b, gb.relu(x)], axis=1)


@graph_fixture("flatten-axis")
def flatten_axis(gb: GraphBuilder) -> str:
    """Flatten with axis=1 on a 4-D tensor: [1, 4, 6, 6] -> [1, 144]."""
    return gb.flatten(gb.input("input", X), axis=1)


@graph_fixture("reshape-shape-subgraph", torch_names=True)
def reshape_shape_subgraph(gb: GraphBuilder) -> str:
    """PyTorch x.view(x.size(0), -1): Shape, Gather, Unsqueeze, Concat with [-1], Reshape, then Gemm."""
    x = gb.relu(gb.conv(gb.input("input", X), 8, 3, 1, 1, name="conv"), name="relu")
    x = gb.global_avgpool(x, name="avgpool")
    x = gb.view_flatten(x)
    return gb.gemm(x, 10, name="fc")


@graph_fixture("reshape-constant")
def reshape_constant(gb: GraphBuilder) -> str:
    """Reshape to [1, -1] with the shape from a Constant node (not an initializer), then Gemm."""
    x = gb.reshape(gb.input("input", X), [1, -1], const_node=True)
    return gb.gemm(x, 10)


@graph_fixture("transpose-shuffle")
def transpose_shuffle(gb: GraphBuilder) -> str:
    """Channel shuffle, groups 2, after a grouped conv: Reshape [1,2,2,6,6], Transpose [0,2,1,3,4], Reshape [1,4,6,6] (initializer shapes)."""
    x = gb.conv(gb.input("input", X), 4, 1, group=2)
    x = gb.reshape(x, [1, 2, 2, 6, 6])
    x = gb.transpose(x, [0, 2, 1, 3, 4])
    return gb.reshape(x, [1, 4, 6, 6])


@graph_fixture("transpose-other")
def transpose_other(gb: GraphBuilder) -> str:
    """Transpose perm [0, 2, 3, 1] (NCHW -> NHWC), not a channel shuffle (the importer should reject it)."""
    return gb.transpose(gb.input("input", X), [0, 2, 3, 1])


@graph_fixture("flatten-output")
def flatten_output(gb: GraphBuilder) -> str:
    """Conv, global average pooling, then Flatten as the model output (SqueezeNet's tail)."""
    x = gb.relu(gb.conv(gb.input("input", X), 6, 3, 1, 1))
    return gb.flatten(gb.global_avgpool(x))


@graph_fixture("concat-flattened")
def concat_flattened(gb: GraphBuilder) -> str:
    """Two branches, each global average pooling and Flatten, concatenated as vectors."""
    x = gb.input("input", X)
    a = gb.flatten(gb.global_avgpool(gb.relu(gb.conv(x, 3, 1))))
    b = gb.flatten(gb.global_avgpool(gb.conv(x, 5, 3, 1, 1)))
    return gb.concat([a, b], axis=1)


@graph_fixture("flatten-map-output")
def flatten_map_output(gb: GraphBuilder) -> str:
    """Conv, then Flatten of the 6x6 map as the model output (copied from height-width-channel into channel-major order)."""
    return gb.flatten(gb.conv(gb.input("input", X), 3, 3, 1, 1))


@graph_fixture("softmax")
def softmax(gb: GraphBuilder) -> str:
    """Gemm then Softmax (opset 13 semantics, axis -1)."""
    return gb.softmax(gb.gemm(gb.input("input", [1, 16]), 10), axis=-1)


@graph_fixture("dropout")
def dropout(gb: GraphBuilder) -> str:
    """Two inference Dropouts: one with a ratio input (no training_mode), one with an unused mask output."""
    x = gb.dropout(gb.input("input", X), 0.5)
    x = gb.relu(x)
    gb.nodes.append(helper.make_node("Dropout", [x], ["dropout2", "dropout2_mask"], name="dropout2"))
    gb.shapes["dropout2"] = tuple(X)
    gb.dtypes["dropout2"] = TP.FLOAT
    return "dropout2"


@graph_fixture("identity")
def identity(gb: GraphBuilder) -> str:
    """Identity between a Relu and the output."""
    x = gb.relu(gb.input("input", X))
    return gb.node("Identity", [x], X)


@graph_fixture("pad")
def pad(gb: GraphBuilder) -> str:
    """Pad (opset 11+ form) with pads [0,0,1,2, 0,0,1,2] as an initializer input, mode constant, value 0."""
    x = gb.input("input", X)
    pads = gb.initializer("pads", np.array([0, 0, 1, 2, 0, 0, 1, 2], dtype=np.int64))
    value = gb.initializer("value", np.array(0.0, dtype=np.float32))
    return gb.node("Pad", [x, pads, value], (1, 4, 8, 10), mode="constant")


@graph_fixture("pad-value-maxpool")
def pad_value_maxpool(gb: GraphBuilder) -> str:
    """Conv, then Pad with value 0.25 and uneven pads (top 2, left 0, bottom 1, right 3), then MaxPool 2x2: a pad that folds into nothing."""
    x = gb.conv(gb.input("input", X), 5, 3, 1, 1)
    pads = gb.initializer("pads", np.array([0, 0, 2, 0, 0, 0, 1, 3], dtype=np.int64))
    value = gb.initializer("value", np.array(0.25, dtype=np.float32))
    x = gb.node("Pad", [x, pads, value], (1, 5, 9, 9), mode="constant")
    return gb.maxpool(x, 2, 2, 0)


@graph_fixture("pad-reflect")
def pad_reflect(gb: GraphBuilder) -> str:
    """Pad with mode reflect (the importer should reject it)."""
    x = gb.input("input", X)
    pads = gb.initializer("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], dtype=np.int64))
    return gb.node("Pad", [x, pads], (1, 4, 8, 8), mode="reflect")


@graph_fixture("lrn")
def lrn(gb: GraphBuilder) -> str:
    """LRN across 8 channels (size 5, alpha 1e-4, beta 0.75, bias 1)."""
    return gb.lrn(gb.input("input", [1, 8, 6, 6]))


@graph_fixture("lrn-strong", input_scale=2.0)
def lrn_strong(gb: GraphBuilder) -> str:
    """LRN whose normalization is far from 1 (size 3, alpha 0.8, beta 0.75, bias 2)."""
    return gb.lrn(gb.input("input", [1, 12, 5, 5]), size=3, alpha=0.8, beta=0.75, bias=2.0)


@graph_fixture("conv-lrn")
def conv_lrn(gb: GraphBuilder) -> str:
    """Conv 3x3 to 64 channels on 12x12, then LRN (size 5, alpha 0.5): several pixel blocks, a big vector op."""
    x = gb.conv(gb.input("input", [1, 3, 12, 12]), 64, 3, 1, 1)
    return gb.lrn(x, size=5, alpha=0.5, beta=0.75, bias=1.0)


@graph_fixture("softmax-opset11-4d", opset=11)
def softmax_opset11_4d(gb: GraphBuilder) -> str:
    """Softmax before opset 13 from axis 1 of a feature map: normalizes C*H*W at once (the importer should reject it)."""
    return gb.softmax(gb.input("input", X), axis=1)


@graph_fixture("softmax-channels", input_scale=3.0)
def softmax_channels(gb: GraphBuilder) -> str:
    """Conv 1x1 to 8 channels, then Softmax along the channels of every pixel (opset 13, axis 1)."""
    return gb.softmax(gb.conv(gb.input("input", [1, 4, 5, 5]), 8, 1), axis=1)


# ---------------------------------------------------------------- model storage

@graph_fixture("external-data", external_data=True)
def external_data(gb: GraphBuilder) -> str:
    """Conv + Relu whose weights are stored as onnx external data in OUT.onnx.data."""
    return gb.relu(gb.conv(gb.input("input", X), 4, 3, 1, 1))


def _typed_weight_conv(name: str, w: np.ndarray, doc: str) -> onnx.ModelProto:
    """Conv [1,4,6,6] -> [1,4,6,6] (3x3 pad 1) with weight `w` (any dtype), float bias."""
    r = rng(name)
    b = (r.standard_normal(4) * 0.1).astype(np.float32)
    node = helper.make_node("Conv", ["input", "conv.weight", "conv.bias"], ["output"], name="conv",
                            kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    g = helper.make_graph(
        [node], name,
        [helper.make_tensor_value_info("input", TP.FLOAT, X)],
        [helper.make_tensor_value_info("output", TP.FLOAT, X)],
        initializer=[numpy_helper.from_array(w, "conv.weight"), numpy_helper.from_array(b, "conv.bias")],
        doc_string=doc)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)


@fixture("float16-weight", valid=False)
def float16_weight() -> onnx.ModelProto:
    """Conv with a FLOAT16 weight initializer and float input (type-invalid ONNX; the importer should reject it)."""
    w = (rng("float16-weight").standard_normal((4, 4, 3, 3)) * 0.3).astype(np.float16)
    return _typed_weight_conv("float16-weight", w, float16_weight.__doc__)


@fixture("int-weight", valid=False)
def int_weight() -> onnx.ModelProto:
    """Conv with an INT8 weight initializer (type-invalid ONNX; the importer should reject it)."""
    w = rng("int-weight").integers(-127, 128, size=(4, 4, 3, 3)).astype(np.int8)
    return _typed_weight_conv("int-weight", w, int_weight.__doc__)


@fixture("bad-kernel", valid=False)
def bad_kernel() -> onnx.ModelProto:
    """Conv whose kernel_shape [5, 5] disagrees with its 3x3 weight (invalid; passes only the basic checker)."""
    w = (rng("bad-kernel").standard_normal((4, 4, 3, 3)) * 0.3).astype(np.float32)
    m = _typed_weight_conv("bad-kernel", w, bad_kernel.__doc__)
    attr = next(a for a in m.graph.node[0].attribute if a.name == "kernel_shape")
    attr.ints[:] = [5, 5]
    return m


@fixture("missing-input", valid=False)
def missing_input() -> onnx.ModelProto:
    """An Add reading 'undefined', a tensor no node, input or initializer defines (fails the checker)."""
    g = helper.make_graph(
        [helper.make_node("Relu", ["input"], ["r"], name="relu1"),
         helper.make_node("Add", ["r", "undefined"], ["output"], name="add")], "missing-input",
        [helper.make_tensor_value_info("input", TP.FLOAT, X)],
        [helper.make_tensor_value_info("output", TP.FLOAT, X)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)


def _bare(name: str, nodes, inits, doc: str, out_shape=X) -> onnx.ModelProto:
    """A model on input [1,4,6,6] with no validation (for the deliberately broken fixtures)."""
    g = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("input", TP.FLOAT, X)],
        [helper.make_tensor_value_info("output", TP.FLOAT, out_shape)],
        initializer=inits, doc_string=doc)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)


@fixture("conv-group-zero", valid=False)
def conv_group_zero() -> onnx.ModelProto:
    """Conv with group = 0 (invalid)."""
    w = (rng("conv-group-zero").standard_normal((4, 4, 3, 3)) * 0.3).astype(np.float32)
    node = helper.make_node("Conv", ["input", "w"], ["output"], name="conv", kernel_shape=[3, 3],
                            pads=[1, 1, 1, 1], group=0)
    return _bare("conv-group-zero", [node], [numpy_helper.from_array(w, "w")], conv_group_zero.__doc__)


@fixture("maxpool-kernel-zero", valid=False)
def maxpool_kernel_zero() -> onnx.ModelProto:
    """MaxPool with kernel_shape [0, 0] (invalid)."""
    node = helper.make_node("MaxPool", ["input"], ["output"], name="pool", kernel_shape=[0, 0])
    return _bare("maxpool-kernel-zero", [node], [], maxpool_kernel_zero.__doc__)


@fixture("concat-axis-range", valid=False)
def concat_axis_range() -> onnx.ModelProto:
    """Concat of one input along axis 2^63 - 1 (out of range; invalid)."""
    node = helper.make_node("Concat", ["input"], ["output"], name="concat", axis=2**63 - 1)
    return _bare("concat-axis-range", [node], [], concat_axis_range.__doc__)


@fixture("identity-only", valid=False)
def identity_only() -> onnx.ModelProto:
    """A model whose only node is a Dropout (removed on import): nothing is left to compile."""
    node = helper.make_node("Dropout", ["input"], ["output"], name="dropout")
    return _bare("identity-only", [node], [], identity_only.__doc__)


@fixture("weight-short", valid=False)
def weight_short() -> onnx.ModelProto:
    """Conv whose weight tensor holds 10 bytes for shape [4, 4, 3, 3] (invalid)."""
    w = numpy_helper.from_array(np.zeros((4, 4, 3, 3), np.float32), "w")
    w.raw_data = w.raw_data[:10]
    node = helper.make_node("Conv", ["input", "w"], ["output"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    return _bare("weight-short", [node], [w], weight_short.__doc__)


# ------------------------------------------------------------------------ output

def save_fixture(fx: Fixture, model: onnx.ModelProto, out: Path) -> None:
    if fx.external_data:
        data = out.with_name(out.name + ".data")
        # onnx appends to an existing data file: start from scratch so reruns are identical.
        data.unlink(missing_ok=True)
        onnx.save_model(model, str(out), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=data.name, size_threshold=0)
    else:
        onnx.save(model, str(out))


def sample_inputs(fx: Fixture, model: onnx.ModelProto) -> list[np.ndarray]:
    """Seeded inputs for every graph input: standard normal * input_scale for
    floats, small non-negative integers otherwise; symbolic dims become 4."""
    r = np.random.default_rng(stable_seed("inputs", fx.name))
    inits = {t.name for t in model.graph.initializer}
    arrays = []
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        tt = vi.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else 4 for d in tt.shape.dim]
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tt.elem_type))
        if np.issubdtype(dtype, np.floating):
            a = r.standard_normal(shape) * fx.input_scale
        else:
            a = r.integers(0, 4, size=shape)
        arrays.append(np.asarray(a, dtype=dtype, order="C"))
    return arrays


def data_base(out: Path) -> Path:
    """OUT.onnx -> OUT (the prefix of the .npy files)."""
    return out.with_suffix("") if out.suffix == ".onnx" else out


def write_data(fx: Fixture, model: onnx.ModelProto, out: Path) -> list[Path]:
    """Run the saved fixture `out` in onnxruntime on seeded inputs and write
    OUT.input<k>.npy / OUT.output<k>.npy. Loads from the file, so external
    data is read the way a user's tool would."""
    inputs = sample_inputs(fx, model)
    outputs = run_onnxruntime(out, inputs)
    base = data_base(out)
    written = []
    for kind, arrays in (("input", inputs), ("output", outputs)):
        for k, a in enumerate(arrays):
            p = base.with_name(f"{base.name}.{kind}{k}.npy")
            np.save(p, a)
            written.append(p)
    return written


def verify() -> int:
    """Build every fixture; valid ones must pass the full checker, strict shape
    inference and onnxruntime (from the saved file), invalid ones must fail
    at least one of them."""
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for fx in FIXTURES.values():
            model = fx.build()
            out = Path(tmp) / f"{fx.name}.onnx"
            save_fixture(fx, model, out)
            problems = []
            try:
                onnx.checker.check_model(str(out), full_check=True)
            except Exception as e:  # noqa: BLE001
                problems.append(f"checker: {str(e).splitlines()[0][:100]}")
            try:
                shape_inference.infer_shapes_path(str(out), str(out) + ".inferred",
                                                  check_type=True, strict_mode=True, data_prop=True)
            except Exception as e:  # noqa: BLE001
                problems.append(f"shape inference: {str(e).splitlines()[0][:100]}")
            try:
                files = write_data(fx, model, out)
            except Exception as e:  # noqa: BLE001
                files = []
                problems.append(f"onnxruntime: {str(e).splitlines()[0][:100]}")
            ok = not problems if fx.valid else bool(problems)
            failures += not ok
            what = "valid" if fx.valid else "invalid"
            detail = "; ".join(problems) if problems else f"runs ({len(files)} npy)"
            print(f"{'ok  ' if ok else 'FAIL'} {fx.name:28s} {what:8s} {detail}")
    print(f"{len(FIXTURES)} fixtures, {failures} failure(s)")
    return 1 if failures else 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        usage="make_fixture.py NAME OUT.onnx [--with-data] | --list | --verify",
        description=__doc__.split("\n\n")[0])
    parser.add_argument("name", nargs="?")
    parser.add_argument("out", nargs="?", type=Path)
    parser.add_argument("--with-data", action="store_true",
                        help="also write OUT.input<k>.npy and onnxruntime's OUT.output<k>.npy")
    parser.add_argument("--list", action="store_true", help="list the fixtures")
    parser.add_argument("--verify", action="store_true",
                        help="check every fixture (valid ones run, invalid ones fail)")
    args = parser.parse_args(argv)
    if args.list:
        for fx in FIXTURES.values():
            print(f"{fx.name}: {fx.doc}{'' if fx.valid else ' [invalid]'}")
        return 0
    if args.verify:
        return verify()
    if args.name not in FIXTURES or args.out is None:
        print(f"usage: make_fixture.py NAME OUT.onnx [--with-data]  (names: {', '.join(FIXTURES)})",
              file=sys.stderr)
        return 2
    fx = FIXTURES[args.name]
    if args.with_data and not fx.valid:
        print(f"make_fixture.py: '{fx.name}' is deliberately invalid; onnxruntime cannot run it, "
              "so --with-data is not available", file=sys.stderr)
        return 2
    model = fx.build()
    save_fixture(fx, model, args.out)
    if args.with_data:
        write_data(fx, model, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
