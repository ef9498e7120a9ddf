"""OpenCV, imported only when the video module is used (``from zhikong.video._cv import cv2``).

A missing ``opencv-python-headless`` raises :class:`~zhikong.core.errors.MissingExtra`.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any

from zhikong.core.errors import MissingExtra

_OPTIONS_LOCK = threading.Lock()
_OPTIONS_ENV = "OPENCV_FFMPEG_CAPTURE_OPTIONS"


def _load() -> Any:
    try:
        import cv2 as _cv2
    except ImportError as e:
        raise MissingExtra("opencv-python-headless", "video") from e
    return _cv2


cv2: Any = _load()


@contextlib.contextmanager
def ffmpeg_capture_options(options: dict[str, str] | None) -> Iterator[None]:
    """Open a capture with these FFmpeg demuxer options (e.g. ``{"rtsp_transport": "udp"}``).

    OpenCV takes FFmpeg options only from the process environment, read when a capture opens; the
    variable is set for the duration of the open, under a lock (opens are serialised anyway), and
    restored afterwards. ``None`` keeps OpenCV's default (RTSP over TCP when the server allows).
    """
    if not options:
        yield
        return
    with _OPTIONS_LOCK:
        before = os.environ.get(_OPTIONS_ENV)
        os.environ[_OPTIONS_ENV] = "|".join(f"{k};{v}" for k, v in options.items())
        try:
            yield
        finally:
            if before is None:
                os.environ.pop(_OPTIONS_ENV, None)
            else:
                os.environ[_OPTIONS_ENV] = before
