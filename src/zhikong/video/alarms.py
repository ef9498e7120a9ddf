"""Video alarms and where they go: the :class:`AlarmSink` interface.

Rules and stream workers produce :class:`Alarm` values and hand them to a sink:

* :class:`RecordingSink` keeps them in memory (tests, dry runs);
* ``zhikong.video.service.StoringSink`` stores them in the video tables (the video wall's "open
  alarms") and forwards them to the alert intake (``zhikong.alerts.service.intake``) when that
  domain is installed, with an idempotency key so that a retry never makes a second alert.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from zhikong.video.detector import Box


class AlarmKind(enum.StrEnum):
    CROWD = "crowd"  # 人员聚集
    LOITERING = "loitering"  # 封闭区域逗留
    INTRUSION = "intrusion"  # 闯入封闭区域
    CAMERA_OFFLINE = "camera_offline"  # 摄像头离线
    CAMERA_ONLINE = "camera_online"  # 摄像头恢复
    PATROL_FINDING = "patrol_finding"  # 视频巡查发现


#: Chinese titles of alarm kinds (the alert's title)
KIND_TITLES: dict[AlarmKind, str] = {
    AlarmKind.CROWD: "人员聚集",
    AlarmKind.LOITERING: "封闭区域人员逗留",
    AlarmKind.INTRUSION: "人员闯入封闭区域",
    AlarmKind.CAMERA_OFFLINE: "摄像头离线",
    AlarmKind.CAMERA_ONLINE: "摄像头恢复在线",
    AlarmKind.PATROL_FINDING: "视频巡查发现问题",
}


@dataclass
class Alarm:
    """One alarm of one camera. ``key`` is stable for one episode (idempotency key)."""

    camera: str
    kind: AlarmKind
    at: datetime
    key: str
    message: str
    zone: str | None = None
    people: int | None = None
    snapshot_jpeg: bytes | None = None
    boxes: Sequence[Box] = ()
    #: wall-clock (``time.perf_counter``) when the frame that completed the rule was read
    frame_clock: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return KIND_TITLES[self.kind]


class AlarmSink(Protocol):
    """Receives alarms; must be safe to call from several camera threads."""

    def deliver(self, alarm: Alarm) -> None: ...


class RecordingSink:
    """Keeps every alarm in memory, in order."""

    def __init__(self) -> None:
        self.alarms: list[Alarm] = []
        self._lock = threading.Lock()

    def deliver(self, alarm: Alarm) -> None:
        with self._lock:
            self.alarms.append(alarm)

    def kinds(self) -> list[str]:
        with self._lock:
            return [str(a.kind) for a in self.alarms]


def draw_snapshot(
    frame: np.ndarray,
    boxes: Sequence[Box],
    polygon: Sequence[tuple[float, float]] | None = None,
    quality: int = 80,
) -> bytes:
    """A JPEG of ``frame`` with person boxes (and the zone outline) drawn."""
    from zhikong.video._cv import cv2

    img = frame.copy()
    if polygon:
        pts = np.array([[round(x), round(y)] for x, y in polygon], dtype=np.int32)
        cv2.polylines(img, [pts], True, (0, 200, 255), 2)
    for b in boxes:
        cv2.rectangle(img, (round(b.x1), round(b.y1)), (round(b.x2), round(b.y2)), (0, 0, 255), 2)
        cv2.putText(
            img, f"{b.score:.2f}", (round(b.x1), max(12, round(b.y1) - 4)),
            cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 255), 1,
        )
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 BGR image
        raise RuntimeError("JPEG encoding failed")
    return bytes(buf.tobytes())
