"""Person-count accuracy of the default detector on hand-labelled frames of real footage, for both
runtimes of the SSDLite model (OpenVINO and OpenCV dnn), which must give the same boxes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.integration.video.footage import labels, require_sample
from zhikong.video.detector import Box, SsdLitePersonDetector
from zhikong.video.ov_runtime import openvino_installed

#: measured on the labels (40 frames, threshold 0.3, automatic 2x1 tiles with 30 % overlap): 0.150,
#: the same with either runtime
MEASURED_MAE = 0.150
TOLERANCE = 0.05
RUNTIMES = [
    "opencv",
    pytest.param("openvino", marks=pytest.mark.skipif(not openvino_installed(), reason="no openvino")),
]


def _frames(path: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    out: dict[int, np.ndarray] = {}
    i = 0
    while len(out) < len(wanted):
        ok, frame = cap.read()
        if not ok:
            break
        if i in wanted:
            out[i] = frame
        i += 1
    cap.release()
    return out


@pytest.fixture(scope="module")
def labelled() -> tuple[list[tuple[int, int]], dict[int, np.ndarray]]:
    sample = require_sample()
    truth = labels()
    assert len(truth) >= 30
    frames = _frames(sample, {f for f, _ in truth})
    assert len(frames) == len(truth), "the sample video has fewer frames than labelled"
    return truth, frames


@pytest.fixture(scope="module")
def cache(video_models: Path) -> Path:
    return video_models


_SEEN: dict[tuple[str, str | None, Path], dict[int, list[Box]]] = {}


def _boxes(
    runtime: str, tiles: str | None, cache: Path, frames: dict[int, np.ndarray]
) -> dict[int, list[Box]]:
    """Boxes per labelled frame (computed once per runtime and tiling in this module)."""
    key = (runtime, tiles, cache)
    if key not in _SEEN:
        det = SsdLitePersonDetector(cache, score_threshold=0.3, tiles=tiles, runtime=runtime)
        assert det.runtime == runtime
        _SEEN[key] = {f: det.detect(frame) for f, frame in frames.items()}
    return _SEEN[key]


def _mae(truth: list[tuple[int, int]], boxes: dict[int, list[Box]]) -> float:
    return float(np.mean([abs(len(boxes[f]) - n) for f, n in truth]))


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_count_mae_on_labelled_frames(runtime: str, labelled: tuple, cache: Path) -> None:
    truth, frames = labelled
    mae = _mae(truth, _boxes(runtime, "auto", cache, frames))
    assert mae <= MEASURED_MAE + TOLERANCE, (
        f"{runtime}: count MAE {mae:.3f} is worse than measured {MEASURED_MAE}"
    )
    # tiling must be what makes it good: the whole frame alone misses many standing people
    plain_mae = _mae(truth, _boxes(runtime, None, cache, frames))
    assert mae < plain_mae


@pytest.mark.skipif(not openvino_installed(), reason="no openvino")
def test_both_runtimes_give_the_same_boxes(labelled: tuple, cache: Path) -> None:
    truth, frames = labelled
    cv = _boxes("opencv", "auto", cache, frames)
    ov = _boxes("openvino", "auto", cache, frames)
    assert _mae(truth, cv) == _mae(truth, ov)
    total = 0
    for f in frames:
        a = sorted(cv[f], key=lambda b: (b.x1, b.y1))
        b = sorted(ov[f], key=lambda b: (b.x1, b.y1))
        assert len(a) == len(b), f"frame {f}: OpenCV found {len(a)} people, OpenVINO {len(b)}"
        for x, y in zip(a, b, strict=True):
            # float rounding only: under a tenth of a pixel and 1e-3 of score
            assert np.allclose([x.x1, x.y1, x.x2, x.y2], [y.x1, y.y1, y.x2, y.y2], atol=0.1), (f, x, y)
            assert abs(x.score - y.score) < 1e-3, (f, x, y)
        total += len(a)
    assert total >= 20  # most labelled frames have a person: the comparison is not vacuous
