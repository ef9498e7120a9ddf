"""The OpenVINO runtime of the SSDLite model: anchors, decoding, the IR cache, runtime choice."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from zhikong.core.errors import ConfigError, MissingExtra
from zhikong.video import ov_runtime
from zhikong.video.detector import (
    SsdLitePersonDetector,
    cached_text_graph,
    resolve_runtime,
    ssdlite_graph_path,
)
from zhikong.video.ov_runtime import cached_openvino_model, decode_ssd, feature_map_sides, ssd_anchors

needs_openvino = pytest.mark.skipif(not ov_runtime.openvino_installed(), reason="openvino not installed")


def _corners(anchors: np.ndarray) -> np.ndarray:
    cx, cy, w, h = anchors.T
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


def test_feature_maps_and_anchor_count() -> None:
    assert feature_map_sides(300, 6) == [19, 10, 5, 3, 2, 1]
    assert ssd_anchors(300).shape == (1917, 4)  # what the TensorFlow graph asserts


def test_anchors_equal_the_opencv_priorbox_layers(tmp_path: Path) -> None:
    """Our numpy anchors are the priors the OpenCV text graph's PriorBox layers generate."""
    from zhikong.video._cv import cv2

    pb = ssdlite_graph_path()
    net = cv2.dnn.readNetFromTensorflow(str(pb), str(cached_text_graph(pb, tmp_path)))
    net.setInput(cv2.dnn.blobFromImage(np.zeros((300, 300, 3), np.uint8), 1.0, (300, 300)))
    priors = np.asarray(net.forward("PriorBox/concat")).reshape(2, -1, 4)
    np.testing.assert_allclose(_corners(ssd_anchors(300)), priors[0], atol=1e-5)
    np.testing.assert_allclose(priors[1], np.tile([0.1, 0.1, 0.2, 0.2], (1917, 1)), atol=1e-6)


def test_decode_zero_encodings_give_the_anchors_and_nms() -> None:
    anchors = np.array([[0.5, 0.5, 0.2, 0.4], [0.51, 0.5, 0.2, 0.4], [0.1, 0.1, 0.1, 0.1]], np.float32)
    enc = np.zeros((3, 4), np.float32)
    logits = np.array([[0, 2.0], [0, 1.0], [0, -3.0]], np.float32)  # person scores .88, .73, .05
    out = decode_ssd(enc, logits, anchors, 0.3)
    # the second box overlaps the first (IoU 0.9 > 0.6) and goes; the third is under the threshold
    assert out.shape == (1, 5)
    np.testing.assert_allclose(out[0], [0.4, 0.3, 0.6, 0.7, 1 / (1 + np.exp(-2.0))], atol=1e-6)
    both = decode_ssd(enc, logits, anchors, 0.01, nms_threshold=0.95)
    assert both.shape == (3, 5) and list(both[:, 4]) == sorted(both[:, 4], reverse=True)
    assert decode_ssd(enc, logits, anchors, 0.99).shape == (0, 5)
    assert decode_ssd(enc, logits, anchors, 0.01, nms_threshold=0.95, top_k=1).shape == (1, 5)


def test_decode_applies_the_box_coder_in_yxhw_order() -> None:
    anchors = np.array([[0.5, 0.5, 0.2, 0.4]], np.float32)
    # ty = 1 → centre y moves by 0.1 * 0.4; tw = ln 2 / 0.2 → width doubles
    enc = np.array([[1.0, 0.0, 0.0, np.log(2.0) / 0.2]], np.float32)
    (box,) = decode_ssd(enc, np.array([[0, 5.0]], np.float32), anchors, 0.3)
    np.testing.assert_allclose(box[:4], [0.3, 0.54 - 0.2, 0.7, 0.54 + 0.2], atol=1e-6)


def test_decode_rejects_a_model_with_other_anchors() -> None:
    with pytest.raises(ConfigError, match="box encodings for 1917 anchors"):
        decode_ssd(np.zeros((10, 4)), np.zeros((10, 2)), ssd_anchors(300), 0.3)


def test_runtime_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="video_runtime"):
        resolve_runtime("tensorflow")
    assert resolve_runtime("opencv") == "opencv"
    monkeypatch.setattr(ov_runtime, "openvino_installed", lambda: False)
    assert resolve_runtime("auto") == "opencv"
    with pytest.raises(MissingExtra, match="openvino"):
        SsdLitePersonDetector(Path("/nonexistent"), runtime="openvino")
    monkeypatch.setattr(ov_runtime, "openvino_installed", lambda: True)
    assert resolve_runtime("auto") == "openvino"


@needs_openvino
def test_converted_model_is_cached_and_rebuilt_when_missing(tmp_path: Path) -> None:
    pb = ssdlite_graph_path()
    xml = cached_openvino_model(pb, tmp_path)
    assert xml.name.startswith(f"ssdlite-{ov_runtime.model_digest(pb)}-openvino-")
    assert xml.with_suffix(".bin").stat().st_size > 10_000_000  # float32 weights, not float16
    assert "Postprocessor" not in xml.read_text()
    mtime = xml.stat().st_mtime_ns
    assert cached_openvino_model(pb, tmp_path) == xml and xml.stat().st_mtime_ns == mtime
    xml.with_suffix(".bin").unlink()
    det = SsdLitePersonDetector(tmp_path, runtime="openvino", tiles=None)
    assert det.runtime == "openvino" and xml.with_suffix(".bin").is_file()
    assert det.detect(np.full((300, 300, 3), 200, np.uint8)) == []
    # float32 on one thread, even on CPUs where OpenVINO would pick bfloat16 (MAE 0.175, not 0.150)
    compiled = det._ov._requests[1].get_compiled_model()
    assert str(compiled.get_property("INFERENCE_PRECISION_HINT")) in ("<Type: 'float32'>", "f32")
    assert int(compiled.get_property("INFERENCE_NUM_THREADS")) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [xml.with_suffix(".bin").name, xml.name]
    # a damaged cache is converted again
    bin_path = xml.with_suffix(".bin")
    bin_path.write_bytes(bin_path.read_bytes()[:1000])
    det = SsdLitePersonDetector(tmp_path, runtime="openvino", tiles=None)
    assert bin_path.stat().st_size > 10_000_000
    assert det.detect(np.full((300, 300, 3), 200, np.uint8)) == []


@needs_openvino
def test_openvino_is_imported_without_its_telemetry(tmp_path: Path) -> None:
    """Importing openvino directly writes ~/intel and posts a usage event; ours does neither."""
    code = (
        "import sys; from zhikong.video.ov_runtime import import_openvino; import_openvino(); "
        "print(sys.modules.get('openvino_telemetry'))"
    )
    env = {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("CI", None)  # OpenVINO declines telemetry by itself under CI=true
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "None"
    assert not (tmp_path / "intel").exists()
