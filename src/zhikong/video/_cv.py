"""OpenCV, imported only when the video module is used (``from zhikong.video._cv import cv2``).

A missing ``opencv-python-headless`` raises :class:`~zhikong.core.errors.MissingExtra`.
"""

from __future__ import annotations

from typing import Any

from zhikong.core.errors import MissingExtra


def _load() -> Any:
    try:
        import cv2 as _cv2
    except ImportError as e:
        raise MissingExtra("opencv-python-headless", "video") from e
    return _cv2


cv2: Any = _load()
