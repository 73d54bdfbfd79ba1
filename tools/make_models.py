#!/usr/bin/env python3
"""Generate the ONNX test models used by pimlir, with sample inputs and
onnxruntime reference outputs.

Models are built with `onnx.helper` only (no torch, no downloads). Weights are
random but seeded and realistically initialized (He/Kaiming normal), so
activations neither vanish nor explode and results are meaningful to compare.
Everything is deterministic: running the script twice produces byte-identical
files.

Usage:
    python tools/make_models.py [NAME ...] [--out-dir DIR] [--list]

For each model NAME this writes into the output directory (default
<repo>/models):
    NAME.onnx                 the model (opset 17, IR version 8)
    NAME.input<k>.npy         sample inputs, k = 0..2
    NAME.output<k>.npy        onnxruntime (CPU) outputs for those inputs
Models with several inputs/outputs use NAME.input<k>.<tensor name>.npy etc.

Adding a model: write a function taking a `GraphBuilder` and decorate it with
`@register("name")`; see `lenet5` below.

Other scripts (e.g. lit fixture generators) can import this module and use
`make_single_op_model` to build one-operator models, and `write_model_bundle`
to save a model together with sample inputs and reference outputs.
"""

from __future__ import annotations

import argparse
import math
import sys
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

# Importable both as `tools.make_models` and when run as a script from anywhere.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from onnx_reference import run_onnxruntime  # noqa: E402

OPSET = 17
# IR version 8 is what onnx 1.13-1.14 emit for opset 17; newer onnx defaults to
# a higher IR version that older onnxruntime builds refuse to load.
IR_VERSION = 8
PRODUCER = "pimlir-make_models"
NUM_SAMPLES = 3
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT_DIR = REPO_ROOT / "models"

Shape = tuple[int, ...]


def stable_seed(*parts: str | int) -> int:
    """A seed derived from names, stable across runs and Python versions
    (unlike hash(), which is randomized per process)."""
    return zlib.crc32("/".join(str(p) for p in parts).encode())


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    a, b = v
    return (int(a), int(b))


def _pads(p: int | Sequence[int]) -> tuple[int, int, int, int]:
    """Normalize padding to ONNX order (top, left, bottom, right)."""
    if isinstance(p, int):
        return (p, p, p, p)
    p = tuple(int(x) for x in p)
    if len(p) == 2:  # (pad_h, pad_w), symmetric
        return (p[0], p[1], p[0], p[1])
    if len(p) == 4:
        return p  # type: ignore[return-value]
    raise ValueError(f"padding must have 1, 2 or 4 values, got {p}")


def _pool_out(size: int, k: int, s: int, pad_begin: int, pad_end: int,
              dilation: int = 1, ceil_mode: bool = False) -> int:
    """Output size of a conv/pool window along one spatial axis (ONNX rules)."""
    span = size + pad_begin + pad_end - dilation * (k - 1) - 1
    if span < 0:
        raise ValueError(f"window {k} (dilation {dilation}) does not fit input size {size}")
    out = (math.ceil(span / s) if ceil_mode else span // s) + 1
    # ONNX/PyTorch: with ceil_mode the last window must start inside the
    # (left-padded) input, otherwise it is dropped.
    if ceil_mode and (out - 1) * s >= size + pad_begin:
        out -= 1
    return out


class GraphBuilder:
    """Small helper to build ONNX graphs while tracking tensor shapes.

    Each op method takes tensor names, appends a node and returns the name of
    its output tensor. Node names default to `<prefix><n>` with one counter
    per prefix (conv1, relu1, pool1, fc1, ...); the output tensor gets the
    node's name. Parameters become float32 initializers named
    `<node>.weight`, `<node>.bias`, ... (PyTorch style).

    Weights use He/Kaiming normal initialization, std = sqrt(2 / fan_in), which
    keeps the activation variance roughly constant through ReLU layers; biases
    are small, ~U(-0.05, 0.05).
    """

    def __init__(self, name: str, seed: int | None = None):
        self.name = name
        self.rng = np.random.default_rng(stable_seed(name) if seed is None else seed)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[str] = []
        self.shapes: dict[str, Shape] = {}
        self.dtypes: dict[str, int] = {}
        self._counters: dict[str, int] = {}

    # ----------------------------------------------------------------- basics
    def shape(self, x: str) -> Shape:
        return self.shapes[x]

    def fresh_name(self, prefix: str) -> str:
        n = self._counters.get(prefix, 0) + 1
        self._counters[prefix] = n
        return f"{prefix}{n}"

    def input(self, name: str, shape: Sequence[int], dtype=np.float32) -> str:
        elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
        self.inputs.append(helper.make_tensor_value_info(name, elem, list(shape)))
        self.shapes[name] = tuple(shape)
        self.dtypes[name] = elem
        return name

    def initializer(self, name: str, array: np.ndarray) -> str:
        """Add a constant tensor (stored as raw_data via numpy_helper)."""
        array = np.ascontiguousarray(array)
        self.initializers.append(numpy_helper.from_array(array, name))
        self.shapes[name] = tuple(array.shape)
        self.dtypes[name] = helper.np_dtype_to_tensor_dtype(array.dtype)
        return name

    def node(self, op_type: str, inputs: Sequence[str], out_shape: Shape | None,
             name: str | None = None, prefix: str | None = None,
             out_dtype: int | None = None, **attrs) -> str:
        """Append a single-output node. `out_shape` is the tracked output shape
        (None if unknown; then shape inference fills it in at the end).
        Attributes whose value is None are omitted."""
        name = name or self.fresh_name(prefix or op_type.lower())
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(helper.make_node(op_type, list(inputs), [name], name=name, **attrs))
        if out_shape is not None:
            self.shapes[name] = tuple(int(d) for d in out_shape)
        first = next((i for i in inputs if i), None)
        self.dtypes[name] = out_dtype if out_dtype is not None else self.dtypes.get(first, onnx.TensorProto.FLOAT)
        return name

    def output(self, x: str, name: str | None = None) -> str:
        """Mark `x` as a graph output, optionally renaming it (e.g. to "output")."""
        if name is not None and name != x:
            self._rename(x, name)
            x = name
        self.outputs.append(x)
        return x

    def _rename(self, old: str, new: str) -> None:
        if new in self.shapes:
            raise ValueError(f"tensor name '{new}' already used")
        for n in self.nodes:
            for seq in (n.input, n.output):
                for i, t in enumerate(seq):
                    if t == old:
                        seq[i] = new
        if old in self.shapes:
            self.shapes[new] = self.shapes.pop(old)
        self.dtypes[new] = self.dtypes.pop(old)

    # ------------------------------------------------------------ initializers
    def he_normal(self, shape: Sequence[int], fan_in: int) -> np.ndarray:
        std = math.sqrt(2.0 / fan_in)
        return (self.rng.standard_normal(shape) * std).astype(np.float32)

    def small_uniform(self, shape: Sequence[int], bound: float = 0.05) -> np.ndarray:
        return self.rng.uniform(-bound, bound, size=shape).astype(np.float32)

    # --------------------------------------------------------------- layers
    def conv(self, x: str, out_ch: int, k: int | Sequence[int], stride: int | Sequence[int] = 1,
             pad: int | Sequence[int] = 0, group: int = 1, bias: bool = True,
             dilation: int | Sequence[int] = 1, name: str | None = None) -> str:
        n, c, h, w = self.shape(x)
        if c % group or out_ch % group:
            raise ValueError(f"channels {c}->{out_ch} not divisible by group {group}")
        kh, kw = _pair(k)
        sh, sw = _pair(stride)
        dh, dw = _pair(dilation)
        pads = _pads(pad)
        name = name or self.fresh_name("conv")
        fan_in = (c // group) * kh * kw
        inputs = [x, self.initializer(f"{name}.weight",
                                      self.he_normal((out_ch, c // group, kh, kw), fan_in))]
        if bias:
            inputs.append(self.initializer(f"{name}.bias", self.small_uniform((out_ch,))))
        oh = _pool_out(h, kh, sh, pads[0], pads[2], dh)
        ow = _pool_out(w, kw, sw, pads[1], pads[3], dw)
        return self.node("Conv", inputs, (n, out_ch, oh, ow), name=name,
                         kernel_shape=[kh, kw], strides=[sh, sw], pads=list(pads),
                         dilations=[dh, dw], group=group)

    def batchnorm(self, x: str, eps: float = 1e-5, name: str | None = None) -> str:
        """BatchNormalization (inference) with plausible trained-looking
        statistics: scale ~1, small shift, small mean, variance ~1."""
        c = self.shape(x)[1]
        name = name or self.fresh_name("bn")
        scale = self.rng.uniform(0.8, 1.2, size=c).astype(np.float32)
        shift = self.small_uniform((c,))
        mean = self.small_uniform((c,), 0.1)
        var = self.rng.uniform(0.5, 1.5, size=c).astype(np.float32)
        inputs = [x] + [self.initializer(f"{name}.{p}", a) for p, a in
                        (("weight", scale), ("bias", shift),
                         ("running_mean", mean), ("running_var", var))]
        return self.node("BatchNormalization", inputs, self.shape(x), name=name, epsilon=eps)

    def gemm(self, x: str, out: int, transB: int = 1, bias: bool = True,
             name: str | None = None) -> str:
        """Fully connected layer: Y = X * W^T + b (W stored [out, in] when transB=1)."""
        m, k = self.shape(x)
        name = name or self.fresh_name("fc")
        w = self.he_normal((out, k), k)
        inputs = [x, self.initializer(f"{name}.weight", w if transB else np.ascontiguousarray(w.T))]
        if bias:
            inputs.append(self.initializer(f"{name}.bias", self.small_uniform((out,))))
        return self.node("Gemm", inputs, (m, out), name=name, transB=transB or None)

    def matmul(self, x: str, out: int, name: str | None = None) -> str:
        """MatMul with a [in, out] weight initializer (no bias)."""
        shape = self.shape(x)
        name = name or self.fresh_name("matmul")
        w = self.initializer(f"{name}.weight", self.he_normal((shape[-1], out), shape[-1]))
        return self.node("MatMul", [x, w], shape[:-1] + (out,), name=name)

    # ----------------------------------------------------- elementwise / misc
    def relu(self, x: str, name: str | None = None) -> str:
        return self.node("Relu", [x], self.shape(x), name=name, prefix="relu")

    def sigmoid(self, x: str, name: str | None = None) -> str:
        return self.node("Sigmoid", [x], self.shape(x), name=name, prefix="sigmoid")

    def clip(self, x: str, lo: float, hi: float, name: str | None = None) -> str:
        """Clip with scalar min/max initializers (opset >= 11 form); relu6 = clip(0, 6)."""
        name = name or self.fresh_name("clip")
        lo_t = self.initializer(f"{name}.min", np.array(lo, dtype=np.float32))
        hi_t = self.initializer(f"{name}.max", np.array(hi, dtype=np.float32))
        return self.node("Clip", [x, lo_t, hi_t], self.shape(x), name=name)

    def relu6(self, x: str, name: str | None = None) -> str:
        return self.clip(x, 0.0, 6.0, name=name or self.fresh_name("relu6"))

    def add(self, a: str, b: str, name: str | None = None) -> str:
        shape = np.broadcast_shapes(self.shape(a), self.shape(b))
        return self.node("Add", [a, b], shape, name=name, prefix="add")

    def mul(self, a: str, b: str, name: str | None = None) -> str:
        shape = np.broadcast_shapes(self.shape(a), self.shape(b))
        return self.node("Mul", [a, b], shape, name=name, prefix="mul")

    def concat(self, xs: Sequence[str], axis: int = 1, name: str | None = None) -> str:
        shapes = [self.shape(x) for x in xs]
        rank = len(shapes[0])
        ax = axis % rank
        out = list(shapes[0])
        out[ax] = sum(s[ax] for s in shapes)
        return self.node("Concat", list(xs), tuple(out), name=name, prefix="concat", axis=axis)

    def softmax(self, x: str, axis: int = -1, name: str | None = None) -> str:
        return self.node("Softmax", [x], self.shape(x), name=name, prefix="softmax", axis=axis)

    def flatten(self, x: str, axis: int = 1, name: str | None = None) -> str:
        shape = self.shape(x)
        ax = axis + len(shape) if axis < 0 else axis  # Flatten allows axis in [-r, r]
        out = (math.prod(shape[:ax]), math.prod(shape[ax:]))
        return self.node("Flatten", [x], out, name=name, prefix="flatten", axis=axis)

    def reshape(self, x: str, shape: Sequence[int], name: str | None = None) -> str:
        name = name or self.fresh_name("reshape")
        target = self.initializer(f"{name}.shape", np.array(shape, dtype=np.int64))
        # Resolve 0 (copy input dim) and -1 (infer) for shape tracking.
        in_shape = self.shape(x)
        out = [in_shape[i] if d == 0 else d for i, d in enumerate(shape)]
        if -1 in out:
            known = math.prod(d for d in out if d != -1)
            out[out.index(-1)] = math.prod(in_shape) // known
        return self.node("Reshape", [x, target], tuple(out), name=name)

    def transpose(self, x: str, perm: Sequence[int], name: str | None = None) -> str:
        shape = self.shape(x)
        return self.node("Transpose", [x], tuple(shape[p] for p in perm), name=name,
                         prefix="transpose", perm=list(perm))

    # ----------------------------------------------------------------- pooling
    def _pool(self, op: str, x: str, k, stride, pad, ceil_mode: bool, name, **extra) -> str:
        n, c, h, w = self.shape(x)
        kh, kw = _pair(k)
        sh, sw = _pair(stride if stride is not None else k)
        pads = _pads(pad)
        oh = _pool_out(h, kh, sh, pads[0], pads[2], ceil_mode=ceil_mode)
        ow = _pool_out(w, kw, sw, pads[1], pads[3], ceil_mode=ceil_mode)
        return self.node(op, [x], (n, c, oh, ow), name=name, prefix="pool",
                         kernel_shape=[kh, kw], strides=[sh, sw], pads=list(pads),
                         ceil_mode=1 if ceil_mode else None, **extra)

    def maxpool(self, x: str, k: int | Sequence[int], stride: int | Sequence[int] | None = None,
                pad: int | Sequence[int] = 0, ceil_mode: bool = False,
                name: str | None = None) -> str:
        """MaxPool; stride defaults to the kernel size."""
        return self._pool("MaxPool", x, k, stride, pad, ceil_mode, name)

    def avgpool(self, x: str, k: int | Sequence[int], stride: int | Sequence[int] | None = None,
                pad: int | Sequence[int] = 0, ceil_mode: bool = False,
                count_include_pad: bool = False, name: str | None = None) -> str:
        """AveragePool; stride defaults to the kernel size."""
        return self._pool("AveragePool", x, k, stride, pad, ceil_mode, name,
                          count_include_pad=1 if count_include_pad else None)

    def global_avgpool(self, x: str, name: str | None = None) -> str:
        n, c = self.shape(x)[:2]
        return self.node("GlobalAveragePool", [x], (n, c, 1, 1), name=name, prefix="gap")

    # ------------------------------------------------------------------ model
    def make_model(self, doc: str = "") -> onnx.ModelProto:
        """Assemble, check and shape-infer the model.

        Graph outputs get their type from shape inference, which is also
        cross-checked against the shapes tracked by the builder.
        """
        if not self.outputs:
            raise ValueError(f"model '{self.name}' has no outputs")
        outputs = []
        for o in self.outputs:
            shape = self.shapes.get(o)
            outputs.append(helper.make_tensor_value_info(
                o, self.dtypes[o], list(shape) if shape is not None else None))
        graph = helper.make_graph(self.nodes, self.name, self.inputs, outputs,
                                  initializer=self.initializers, doc_string=doc or None)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  ir_version=IR_VERSION, producer_name=PRODUCER)
        return validate_model(model, self.shapes)


def validate_model(model: onnx.ModelProto,
                   expected_shapes: Mapping[str, Shape] | None = None) -> onnx.ModelProto:
    """Run the ONNX checker and strict shape inference.

    Returns the model with graph-output types filled in from inference (for
    outputs that had none) but without intermediate value_info, so the saved
    file stays minimal. If `expected_shapes` is given, every inferred tensor
    shape must match it.
    """
    onnx.checker.check_model(model, full_check=False)
    inferred = shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    onnx.checker.check_model(inferred, full_check=True)

    infos = {vi.name: vi for vi in list(inferred.graph.value_info) + list(inferred.graph.output)}
    if expected_shapes:
        for name, vi in infos.items():
            if name not in expected_shapes:
                continue
            dims = vi.type.tensor_type.shape.dim
            got = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in dims)
            if got != tuple(expected_shapes[name]):
                raise AssertionError(
                    f"{model.graph.name}: tensor '{name}' tracked shape "
                    f"{expected_shapes[name]} != inferred {got}")

    out = onnx.ModelProto()
    out.CopyFrom(model)
    for o in out.graph.output:
        if not o.type.HasField("tensor_type") or not o.type.tensor_type.HasField("shape"):
            o.CopyFrom(infos[o.name])
    return out


# ---------------------------------------------------------------- registry

@dataclass(frozen=True)
class ModelSpec:
    name: str
    build: Callable[[GraphBuilder], None]
    # How sample inputs are drawn: "uniform" = U[0,1) like a normalized image,
    # "normal" = standard normal.
    input_dist: str = "uniform"
    # Included when no model names are given on the command line.
    default: bool = True


MODELS: dict[str, ModelSpec] = {}


def register(name: str, input_dist: str = "uniform", default: bool = True):
    """Decorator registering `fn(gb: GraphBuilder) -> None` as model `name`.

    The builder must declare inputs with `gb.input` and outputs with
    `gb.output`. Weights are seeded from the model name, so adding or
    changing one model never changes the others."""
    def wrap(fn: Callable[[GraphBuilder], None]):
        if name in MODELS:
            raise ValueError(f"model '{name}' registered twice")
        MODELS[name] = ModelSpec(name, fn, input_dist, default)
        return fn
    return wrap


def build_model(name: str) -> onnx.ModelProto:
    spec = MODELS[name]
    gb = GraphBuilder(name)
    spec.build(gb)
    return gb.make_model(doc=(spec.build.__doc__ or "").strip())


@register("lenet5")
def lenet5(gb: GraphBuilder) -> None:
    """LeNet-5 for 1x28x28 inputs (MNIST-like), 10 logits."""
    x = gb.input("input", [1, 1, 28, 28])
    x = gb.conv(x, 6, 5)                  # conv1 -> [1,6,24,24]
    x = gb.relu(x)
    x = gb.maxpool(x, 2, 2)               # pool1 -> [1,6,12,12]
    x = gb.conv(x, 16, 5)                 # conv2 -> [1,16,8,8]
    x = gb.relu(x)
    x = gb.maxpool(x, 2, 2)               # pool2 -> [1,16,4,4]
    x = gb.flatten(x, axis=1)             # -> [1,256]
    x = gb.relu(gb.gemm(x, 120))          # fc1
    x = gb.relu(gb.gemm(x, 84))           # fc2
    x = gb.gemm(x, 10)                    # fc3
    gb.output(x, "output")


# ------------------------------------------------------- single-op fixtures

def make_single_op_model(
    op_type: str,
    input_shapes: Sequence[Sequence[int]] | Mapping[str, Sequence[int]],
    attrs: Mapping[str, object] | None = None,
    initializers: Mapping[str, np.ndarray] | None = None,
    *,
    input_dtypes: Sequence[object] | None = None,
    num_outputs: int = 1,
    node_inputs: Sequence[str] | None = None,
    name: str | None = None,
) -> onnx.ModelProto:
    """Build a model holding a single `op_type` node (for lit-test fixtures).

    - `input_shapes`: shapes of the graph inputs, either a list (inputs are
      named `input` if there is one, else `input0`, `input1`, ...) or a
      mapping name -> shape. Inputs are float32 unless `input_dtypes` says
      otherwise.
    - `attrs`: node attributes (None values are dropped).
    - `initializers`: name -> array, stored as constant initializers.
    - `node_inputs`: the node's input list; defaults to the graph inputs
      followed by the initializers in the given order. Use "" for an omitted
      optional input.
    - Outputs are named `output` (or `output0`, ... when `num_outputs` > 1);
      their types and shapes come from ONNX shape inference.

    Example:
        make_single_op_model("Conv", [[1, 3, 8, 8]],
                             {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]},
                             {"weight": w, "bias": b})
    """
    if isinstance(input_shapes, Mapping):
        named = list(input_shapes.items())
    elif len(input_shapes) == 1:
        named = [("input", input_shapes[0])]
    else:
        named = [(f"input{i}", s) for i, s in enumerate(input_shapes)]
    dtypes = list(input_dtypes) if input_dtypes is not None else [np.float32] * len(named)
    if len(dtypes) != len(named):
        raise ValueError("input_dtypes must have one entry per input")

    graph_inputs = [
        helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(np.dtype(d)), list(s))
        for (n, s), d in zip(named, dtypes)
    ]
    inits = [numpy_helper.from_array(np.ascontiguousarray(a), n)
             for n, a in (initializers or {}).items()]
    if node_inputs is None:
        node_inputs = [n for n, _ in named] + [t.name for t in inits]
    out_names = ["output"] if num_outputs == 1 else [f"output{i}" for i in range(num_outputs)]
    node_attrs = {k: v for k, v in (attrs or {}).items() if v is not None}
    node = helper.make_node(op_type, list(node_inputs), out_names,
                            name=op_type.lower(), **node_attrs)
    # Outputs start untyped; validate_model fills them in by shape inference.
    outputs = []
    for o in out_names:
        vi = onnx.ValueInfoProto()
        vi.name = o
        outputs.append(vi)
    graph = helper.make_graph([node], name or op_type.lower(), graph_inputs, outputs,
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              ir_version=IR_VERSION, producer_name=PRODUCER)
    # check_model on a graph with untyped outputs would fail, so infer first.
    inferred = shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    types = {o.name: o for o in inferred.graph.output}
    for o in model.graph.output:
        o.CopyFrom(types[o.name])
    return validate_model(model)


# ------------------------------------------------------------------ output

def _np_dtype(elem_type: int) -> np.dtype:
    return np.dtype(helper.tensor_dtype_to_np_dtype(elem_type))


def sample_inputs(model: onnx.ModelProto, seed: int, dist: str = "uniform") -> list[np.ndarray]:
    """Draw one deterministic set of inputs for `model`'s graph inputs."""
    rng = np.random.default_rng(seed)
    init_names = {t.name for t in model.graph.initializer}
    arrays = []
    for vi in model.graph.input:
        if vi.name in init_names:
            continue
        tt = vi.type.tensor_type
        shape = [d.dim_value for d in tt.shape.dim]
        if any(d <= 0 for d in shape):
            raise ValueError(f"input '{vi.name}' needs a static shape, got {shape}")
        dtype = _np_dtype(tt.elem_type)
        if np.issubdtype(dtype, np.floating):
            a = rng.random(shape) if dist == "uniform" else rng.standard_normal(shape)
        elif dtype == np.bool_:
            a = rng.random(shape) < 0.5
        else:  # integer inputs: small non-negative values (e.g. indices)
            a = rng.integers(0, 4, size=shape)
        arrays.append(np.ascontiguousarray(a, dtype=dtype))
    return arrays


def write_model_bundle(model: onnx.ModelProto, out_dir: Path, name: str,
                       num_samples: int = NUM_SAMPLES, input_dist: str = "uniform",
                       seed: int | None = None) -> list[Path]:
    """Save `model` as NAME.onnx plus sample inputs and onnxruntime outputs.

    Returns the written paths. Inputs are seeded from `seed` (default: derived
    from `name`) and the sample index.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    data = model.SerializeToString()
    model_path = out_dir / f"{name}.onnx"
    model_path.write_bytes(data)
    written = [model_path]

    base_seed = stable_seed("inputs", name) if seed is None else seed
    init_names = {t.name for t in model.graph.initializer}
    in_names = [vi.name for vi in model.graph.input if vi.name not in init_names]
    out_names = [vi.name for vi in model.graph.output]
    for k in range(num_samples):
        inputs = sample_inputs(model, base_seed + k, input_dist)
        outputs = run_onnxruntime(data, inputs)
        for kind, names, arrays in (("input", in_names, inputs), ("output", out_names, outputs)):
            for tensor_name, arr in zip(names, arrays):
                suffix = f".{tensor_name}" if len(names) > 1 else ""
                path = out_dir / f"{name}.{kind}{k}{suffix}.npy"
                np.save(path, arr)
                written.append(path)
    return written


def _describe(arr: np.ndarray) -> str:
    a = arr.astype(np.float64)
    return (f"shape={list(arr.shape)} mean={a.mean():+.4f} std={a.std():.4f} "
            f"min={a.min():+.4f} max={a.max():+.4f} finite={bool(np.isfinite(a).all())}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="models to generate (default: all default models)")
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR,
                        help=f"output directory (default: {DEFAULT_OUT_DIR})")
    parser.add_argument("--list", action="store_true", help="list registered models and exit")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print statistics of the reference outputs")
    args = parser.parse_args(argv)

    if args.list:
        for spec in MODELS.values():
            doc = (spec.build.__doc__ or "").strip().splitlines()
            extra = "" if spec.default else " (not built by default)"
            print(f"{spec.name:16s} {doc[0] if doc else ''}{extra}")
        return 0

    names = args.names or [s.name for s in MODELS.values() if s.default]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        parser.error(f"unknown model(s): {', '.join(unknown)} (see --list)")

    for name in names:
        model = build_model(name)
        paths = write_model_bundle(model, args.out_dir, name, input_dist=MODELS[name].input_dist)
        n_params = sum(math.prod(t.dims) for t in model.graph.initializer)
        print(f"{name}: {len(model.graph.node)} nodes, {n_params} parameters, "
              f"{len(paths)} files -> {args.out_dir}")
        if args.verbose:
            for p in paths:
                if ".output" in p.name:
                    print(f"  {p.name}: {_describe(np.load(p))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
