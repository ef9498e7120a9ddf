"""Shared by the video integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def video_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model cache with the default detector's converted model built once for the session (the
    conversion takes seconds of CPU; done inside a stream test it delays the first frames)."""
    from zhikong.video.detector import SsdLitePersonDetector

    models = tmp_path_factory.mktemp("video-models")
    SsdLitePersonDetector(models)
    return models
