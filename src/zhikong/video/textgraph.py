"""Our own generator of the OpenCV text graph (``.pbtxt``) for a TensorFlow SSD frozen graph.

OpenCV's dnn module runs the convolutional body of a TensorFlow Object Detection API SSD model
straight from the frozen ``.pb``, but the model's pre- and post-processing (``Preprocessor/``,
``MultipleGridAnchorGenerator/``, ``Postprocessor/``) use TensorFlow control flow that OpenCV
cannot import. The text graph tells OpenCV which nodes to build: the body only, plus an SSD head
made of OpenCV layers (``Flatten``, ``ConcatV2``, ``PriorBox``, ``Sigmoid`` and
``DetectionOutput``). Weights are still read from the ``.pb`` by node name.

The steps, done here without TensorFlow:

1. ``cv2.dnn.writeTextGraph`` dumps the binary graph as protobuf text (constant tensors elided).
2. :func:`parse_text` reads that text into a tree of ``(key, value)`` fields.
3. :func:`build_ssd_text_graph` keeps the body's compute nodes, drops ``Identity`` nodes and
   attributes the importer does not need, wires the input placeholder to the first convolution,
   and appends the head: per predictor layer a ``Flatten`` of box and class predictions, one
   ``PriorBox`` that reproduces the anchors of TensorFlow's ``ssd_anchor_generator`` (scales
   interpolated between ``min_scale`` and ``max_scale``; the lowest layer has three reduced
   boxes), concatenations, a sigmoid on the class scores and ``DetectionOutput`` decoding boxes
   with variances 0.1/0.1/0.2/0.2 (TensorFlow's 10/10/5/5 scale factors) in the (y, x, h, w)
   order (``loc_pred_transposed``).
4. :func:`format_text` writes the tree back as protobuf text.

The number of classes is read from the shape of the first class predictor's weights.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from zhikong.core.errors import ConfigError

#: a message: ``(key, value)`` fields; a value is a scalar token as written or a nested message
Fields = list[tuple[str, object]]

_TOKEN = re.compile(r'\s*(?:("(?:[^"\\]|\\.)*")|([{}:])|([^\s{}:"]+))')

#: compute ops the SSD body is made of; everything else (shape arithmetic, control flow) goes
KEEP_OPS = frozenset(
    {
        "Conv2D",
        "BiasAdd",
        "Add",
        "AddV2",
        "Relu6",
        "Relu",
        "Placeholder",
        "FusedBatchNorm",
        "FusedBatchNormV3",
        "DepthwiseConv2dNative",
        "ConcatV2",
        "Mul",
        "MaxPool",
        "AvgPool",
        "Identity",
    }
)
#: attributes the importer ignores (dropping them keeps the file small)
DROP_ATTRS = frozenset(
    {"T", "data_format", "Tshape", "N", "Tidx", "Tdim", "use_cudnn_on_gpu", "Index", "Tperm",
     "is_training", "Tpaddings", "_class", "explicit_paddings", "U", "exponential_avg_factor"}
)
#: scopes of the TensorFlow pre/post-processing that OpenCV replaces with its own layers
DROP_SCOPES = ("MultipleGridAnchorGenerator/", "Postprocessor/", "Preprocessor/")


def parse_text(text: str) -> Fields:
    """Parse protobuf text format into nested ``(key, value)`` lists."""
    tokens = [m.group(1) or m.group(2) or m.group(3) for m in _TOKEN.finditer(text) if m.group(0).strip()]
    pos = 0

    def message(closing: bool) -> Fields:
        nonlocal pos
        out: Fields = []
        while pos < len(tokens):
            tok = tokens[pos]
            if tok == "}":
                if not closing:
                    raise ConfigError(f"unbalanced '}}' at token {pos} of the text graph")
                pos += 1
                return out
            key = tok
            pos += 1
            if pos < len(tokens) and tokens[pos] == ":":
                pos += 1
            if pos >= len(tokens):
                raise ConfigError(f"text graph ends after field {key!r}")
            if tokens[pos] == "{":
                pos += 1
                out.append((key, message(True)))
            else:
                out.append((key, tokens[pos]))
                pos += 1
        if closing:
            raise ConfigError("text graph ends inside a message")
        return out

    return message(False)


def format_text(fields: Fields, indent: int = 0) -> str:
    """Write nested fields back as protobuf text."""
    pad = "  " * indent
    lines: list[str] = []
    for key, value in fields:
        if isinstance(value, list):
            lines.append(f"{pad}{key} {{")
            body = format_text(value, indent + 1)
            if body:
                lines.append(body)
            lines.append(f"{pad}}}")
        else:
            lines.append(f"{pad}{key}: {value}")
    return "\n".join(lines)


@dataclass
class Node:
    """One graph node: name, op, inputs, attributes (raw field trees)."""

    name: str
    op: str
    inputs: list[str] = field(default_factory=list)
    attrs: list[tuple[str, Fields]] = field(default_factory=list)

    @classmethod
    def from_fields(cls, fields: Fields) -> Node:
        node = cls(name="", op="")
        for key, value in fields:
            if key == "name":
                node.name = _unquote(str(value))
            elif key == "op":
                node.op = _unquote(str(value))
            elif key == "input":
                node.inputs.append(_unquote(str(value)))
            elif key == "attr" and isinstance(value, list):
                k = next(_unquote(str(v)) for kk, v in value if kk == "key")
                v = next(v for kk, v in value if kk == "value")
                node.attrs.append((k, v))
        return node

    def attr(self, key: str) -> Fields | None:
        return next((v for k, v in self.attrs if k == key), None)

    def to_fields(self) -> Fields:
        out: Fields = [("name", _quote(self.name)), ("op", _quote(self.op))]
        out += [("input", _quote(i)) for i in self.inputs]
        for k, v in self.attrs:
            out.append(("attr", [("key", _quote(k)), ("value", v)]))
        return out


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unquote(s: str) -> str:
    if len(s) >= 2 and s[0] == s[-1] == '"':
        return s[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return s


def _tensor(values: list[float] | list[int]) -> Fields:
    is_float = any(isinstance(v, float) for v in values)
    body: Fields = [
        ("dtype", "DT_FLOAT" if is_float else "DT_INT32"),
        ("tensor_shape", [("dim", [("size", str(len(values)))])]),
    ]
    key = "float_val" if is_float else "int_val"
    body += [(key, repr(float(v)) if is_float else str(int(v))) for v in values]
    return [("tensor", body)]


def _const(name: str, values: list[int]) -> Node:
    return Node(name, "Const", attrs=[("value", _tensor(values))])


def tensor_shape(node: Node) -> list[int]:
    """The shape of a ``Const`` node's tensor as written in the text graph."""
    value = node.attr("value")
    if value is None:
        raise ConfigError(f"node {node.name} has no value")
    tensor = cast(Fields, next(v for k, v in value if k == "tensor"))
    shape = cast(Fields, next(v for k, v in tensor if k == "tensor_shape"))
    dims = [cast(Fields, v) for k, v in shape if k == "dim"]
    return [int(str(next(s for kk, s in d if kk == "size"))) for d in dims]


@dataclass(frozen=True)
class AnchorConfig:
    """Hyper-parameters of TensorFlow's ``ssd_anchor_generator`` (defaults of the SSD configs)."""

    num_layers: int = 6
    min_scale: float = 0.2
    max_scale: float = 0.95
    aspect_ratios: tuple[float, ...] = (1.0, 2.0, 0.5, 3.0, 0.3333)
    image_width: int = 300
    image_height: int = 300

    def boxes(self, layer: int) -> tuple[list[float], list[float]]:
        """Anchor widths and heights (pixels of the network input) of one predictor layer."""
        n = self.num_layers
        scales = [self.min_scale + (self.max_scale - self.min_scale) * i / (n - 1) for i in range(n)]
        scales.append(1.0)
        if layer == 0:
            pairs = [(0.1, 1.0), (self.min_scale, 2.0), (self.min_scale, 0.5)]
        else:
            pairs = [(scales[layer], ar) for ar in self.aspect_ratios]
            pairs.append((math.sqrt(scales[layer] * scales[layer + 1]), 1.0))
        widths = [s * math.sqrt(ar) * self.image_width for s, ar in pairs]
        heights = [s / math.sqrt(ar) * self.image_height for s, ar in pairs]
        return widths, heights


def build_ssd_text_graph(full_text: str, anchors: AnchorConfig | None = None) -> tuple[str, int]:
    """Turn the full text dump of an SSD frozen graph into OpenCV's text graph.

    Returns the text and the number of object classes (without background).
    """
    anchors = anchors or AnchorConfig()
    nodes = [Node.from_fields(v) for k, v in parse_text(full_text) if k == "node" and isinstance(v, list)]
    by_name = {n.name: n for n in nodes}
    cls_w = by_name.get("BoxPredictor_0/ClassPredictor/weights")
    if cls_w is None:
        raise ConfigError("not a TensorFlow SSD graph: BoxPredictor_0/ClassPredictor/weights is missing")
    n_anchor0 = len(anchors.boxes(0)[0])
    out_channels = tensor_shape(cls_w)[-1]
    if out_channels % n_anchor0:
        raise ConfigError(
            f"class predictor has {out_channels} outputs, not a multiple of {n_anchor0} anchors"
        )
    num_classes = out_channels // n_anchor0 - 1
    for i in range(anchors.num_layers):
        if f"BoxPredictor_{i}/BoxEncodingPredictor/BiasAdd" not in by_name:
            raise ConfigError(f"SSD graph has no predictor layer {i} (num_layers={anchors.num_layers})")

    # drop Identity nodes, rewiring their consumers to the Identity's input
    alias = {n.name: n.inputs[0] for n in nodes if n.op == "Identity" and n.inputs}

    def resolve(name: str) -> str:
        seen = 0
        while name in alias and seen < 100:
            name, seen = alias[name], seen + 1
        return name

    kept: list[Node] = []
    removed: set[str] = set()
    for n in nodes:
        if n.op == "Identity":
            continue
        if n.op not in KEEP_OPS or n.name.startswith(DROP_SCOPES):
            if n.op != "Const":
                removed.add(n.name)
            continue
        n.inputs = [resolve(i) for i in n.inputs]
        n.attrs = [(k, v) for k, v in n.attrs if k not in DROP_ATTRS]
        kept.append(n)
    for n in kept:
        n.inputs = [i for i in n.inputs if i.split(":")[0].lstrip("^") not in removed]

    placeholders = [n for n in kept if n.op == "Placeholder"]
    if not placeholders:
        raise ConfigError("SSD graph has no input placeholder")
    inp = placeholders[0]
    first_conv = next((n for n in kept if n.op == "Conv2D"), None)
    if first_conv is None:
        raise ConfigError("SSD graph has no convolution")
    weights = first_conv.inputs[-1] if first_conv.inputs else ""
    first_conv.inputs = [inp.name, weights]
    body = [inp] + [n for n in kept if n is not inp]

    head: list[Node] = [_const("concat/axis_flatten", [-1]), _const("PriorBox/concat/axis", [-2])]
    for label in ("ClassPredictor", "BoxEncodingPredictor"):
        flats = []
        for i in range(anchors.num_layers):
            src = f"BoxPredictor_{i}/{label}/BiasAdd"
            head.append(Node(src + "/Flatten", "Flatten", [src]))
            flats.append(src + "/Flatten")
        head.append(Node(f"{label}/concat", "ConcatV2", [*flats, "concat/axis_flatten"]))
    head.append(_const("reshape_prior_boxes_to_4d", [1, 2, -1, 1]))
    priors = []
    for i in range(anchors.num_layers):
        widths, heights = anchors.boxes(i)
        prior = Node(
            f"PriorBox_{i}",
            "PriorBox",
            [f"BoxPredictor_{i}/BoxEncodingPredictor/BiasAdd", inp.name],
            attrs=[
                ("flip", [("b", "false")]),
                ("clip", [("b", "false")]),
                ("width", _tensor(widths)),
                ("height", _tensor(heights)),
                ("variance", _tensor([0.1, 0.1, 0.2, 0.2])),
            ],
        )
        head.append(prior)
        head.append(Node(prior.name + "/4d", "Reshape", [prior.name, "reshape_prior_boxes_to_4d"]))
        priors.append(prior.name + "/4d")
    head.append(Node("PriorBox/concat", "ConcatV2", [*priors, "PriorBox/concat/axis"]))
    head.append(Node("ClassPredictor/concat/sigmoid", "Sigmoid", ["ClassPredictor/concat"]))
    head.append(
        Node(
            "detection_out",
            "DetectionOutput",
            ["BoxEncodingPredictor/concat", "ClassPredictor/concat/sigmoid", "PriorBox/concat"],
            attrs=[
                ("num_classes", [("i", str(num_classes + 1))]),
                ("share_location", [("b", "true")]),
                ("background_label_id", [("i", "0")]),
                ("nms_threshold", [("f", "0.6")]),
                ("top_k", [("i", "100")]),
                ("code_type", [("s", '"CENTER_SIZE"')]),
                ("keep_top_k", [("i", "100")]),
                ("confidence_threshold", [("f", "0.01")]),
                ("loc_pred_transposed", [("b", "true")]),
            ],
        )
    )
    graph = _prune_dangling(body + head, "detection_out")
    text = format_text([("node", n.to_fields()) for n in graph]) + "\n"
    return text, num_classes


def _prune_dangling(nodes: list[Node], output: str) -> list[Node]:
    """Keep only nodes the output depends on (weights are not nodes of the text graph)."""
    by_name = {n.name: n for n in nodes}
    needed: set[str] = set()
    stack = [output]
    while stack:
        name = stack.pop()
        if name in needed or name not in by_name:
            continue
        needed.add(name)
        stack.extend(i.split(":")[0].lstrip("^") for i in by_name[name].inputs)
    return [n for n in nodes if n.name in needed]


def write_ssd_text_graph(pb_path: Path, out_path: Path, anchors: AnchorConfig | None = None) -> int:
    """Generate the text graph of ``pb_path`` into ``out_path``; returns the number of classes."""
    import tempfile

    from zhikong.video._cv import cv2

    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / "full.pbtxt"
        cv2.dnn.writeTextGraph(str(pb_path), str(full))
        text, num_classes = build_ssd_text_graph(full.read_text(), anchors)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out_path.with_suffix(".tmp")
    tmp_out.write_text(text)
    tmp_out.replace(out_path)
    return num_classes
