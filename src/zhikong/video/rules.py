"""Zone rules over person detections: intrusion, crowd gathering (with hysteresis), loitering.

A person is in a zone when the bottom centre of the box (where the feet are) lies inside the zone
polygon. Loitering needs identities across frames: a simple greedy IoU tracker gives them.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from zhikong.video.alarms import Alarm, AlarmKind, draw_snapshot
from zhikong.video.detector import Box
from zhikong.video.schemas import CameraRules, ZoneConfig


def point_in_polygon(x: float, y: float, polygon: Sequence[tuple[float, float]]) -> bool:
    """Even-odd ray casting; points on the boundary count as inside."""
    inside = False
    n = len(polygon)
    for i in range(n - 1 if polygon[0] == polygon[-1] else n):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % n]
        # on the segment?
        cross = (x - x1) * (y2 - y1) - (y - y1) * (x2 - x1)
        if abs(cross) < 1e-9 and min(x1, x2) <= x <= max(x1, x2) and min(y1, y2) <= y <= max(y1, y2):
            return True
        if (y1 > y) != (y2 > y):
            xin = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < xin:
                inside = not inside
    return inside


def in_zone(box: Box, polygon: Sequence[tuple[float, float]]) -> bool:
    return point_in_polygon(*box.bottom_centre, polygon)


@dataclass
class Track:
    id: int
    box: Box
    first_at: float
    last_at: float


class IouTracker:
    """Greedy IoU association of boxes to tracks; a track dies after ``max_age`` seconds unseen."""

    def __init__(self, iou_threshold: float = 0.3, max_age: float = 5.0) -> None:
        self.iou_threshold = iou_threshold
        self.max_age = max_age
        self.tracks: dict[int, Track] = {}
        self._ids = itertools.count(1)

    def update(self, t: float, boxes: Sequence[Box]) -> list[tuple[Track, Box]]:
        pairs = sorted(
            ((tr.box.iou(b), tid, bi) for tid, tr in self.tracks.items() for bi, b in enumerate(boxes)),
            reverse=True,
        )
        used_t: set[int] = set()
        used_b: set[int] = set()
        out: list[tuple[Track, Box]] = []
        for iou, tid, bi in pairs:
            if iou < self.iou_threshold:
                break
            if tid in used_t or bi in used_b:
                continue
            tr = self.tracks[tid]
            tr.box, tr.last_at = boxes[bi], t
            used_t.add(tid)
            used_b.add(bi)
            out.append((tr, boxes[bi]))
        for bi, b in enumerate(boxes):
            if bi not in used_b:
                tr = Track(next(self._ids), b, t, t)
                self.tracks[tr.id] = tr
                out.append((tr, b))
        for tid in [tid for tid, tr in self.tracks.items() if t - tr.last_at > self.max_age]:
            del self.tracks[tid]
        return out


@dataclass
class _ZoneState:
    crowd_since: float | None = None  # count >= min_people since
    crowd_active_key: str | None = None  # the open gathering
    below_since: float | None = None  # count < release_people since (while active)
    intrusion_key: str | None = None
    empty_since: float | None = None
    entered: dict[int, float] = field(default_factory=dict)  # track id -> first time in zone
    loiter_alarmed: set[int] = field(default_factory=set)


class RuleEngine:
    """Evaluates one camera's zone rules frame by frame and returns the alarms to raise."""

    def __init__(self, camera: str, rules: CameraRules) -> None:
        self.camera = camera
        self.rules = rules
        self.state = {z.name: _ZoneState() for z in rules.zones}
        needs_tracks = any(z.loitering for z in rules.zones)
        self.tracker = IouTracker() if needs_tracks else None

    def update(
        self, at: datetime, boxes: Sequence[Box], frame: np.ndarray | None = None,
        frame_clock: float | None = None,
    ) -> list[Alarm]:
        t = at.timestamp()
        tracked = self.tracker.update(t, boxes) if self.tracker else []
        alarms: list[Alarm] = []
        for zone in self.rules.zones:
            inside = [b for b in boxes if in_zone(b, zone.polygon)]
            st = self.state[zone.name]
            new: list[Alarm] = []
            new += self._intrusion(zone, st, t, at, inside)
            new += self._crowd(zone, st, t, at, inside)
            new += self._loiter(zone, st, t, at, tracked)
            for a in new:
                a.frame_clock = frame_clock
                if frame is not None:
                    a.snapshot_jpeg = draw_snapshot(frame, a.boxes, zone.polygon)
            alarms += new
        return alarms

    def _key(self, kind: AlarmKind, zone: str, since: float, extra: str = "") -> str:
        return f"video:{self.camera}:{zone}:{kind}:{int(since * 1000)}{extra}"

    def _intrusion(
        self, zone: ZoneConfig, st: _ZoneState, t: float, at: datetime, inside: list[Box]
    ) -> list[Alarm]:
        if not zone.intrusion:
            return []
        if inside:
            st.empty_since = None
            if st.intrusion_key is None:
                st.intrusion_key = self._key(AlarmKind.INTRUSION, zone.name, t)
                return [Alarm(self.camera, AlarmKind.INTRUSION, at, st.intrusion_key,
                              f"{len(inside)} 人闯入封闭区域 {zone.name}", zone.name, len(inside),
                              boxes=inside)]
        elif st.intrusion_key is not None:
            st.empty_since = st.empty_since if st.empty_since is not None else t
            if t - st.empty_since >= zone.intrusion_release_seconds:
                st.intrusion_key, st.empty_since = None, None
        return []

    def _crowd(
        self, zone: ZoneConfig, st: _ZoneState, t: float, at: datetime, inside: list[Box]
    ) -> list[Alarm]:
        rule = zone.crowd
        if rule is None:
            return []
        n = len(inside)
        release = rule.release_people or rule.min_people
        if st.crowd_active_key is not None:
            if n < release:
                st.below_since = st.below_since if st.below_since is not None else t
                if t - st.below_since >= rule.release_seconds:
                    st.crowd_active_key, st.below_since, st.crowd_since = None, None, None
            else:
                st.below_since = None
            return []
        if n >= rule.min_people:
            st.crowd_since = st.crowd_since if st.crowd_since is not None else t
            if t - st.crowd_since >= rule.min_seconds:
                st.crowd_active_key = self._key(AlarmKind.CROWD, zone.name, st.crowd_since)
                return [Alarm(self.camera, AlarmKind.CROWD, at, st.crowd_active_key,
                              f"区域 {zone.name} 聚集 {n} 人，持续 {t - st.crowd_since:.0f} 秒",
                              zone.name, n, boxes=inside,
                              detail={"since": st.crowd_since, "min_people": rule.min_people})]
        else:
            st.crowd_since = None
        return []

    def _loiter(
        self, zone: ZoneConfig, st: _ZoneState, t: float, at: datetime, tracked: list[tuple[Track, Box]]
    ) -> list[Alarm]:
        rule = zone.loitering
        if rule is None:
            return []
        present = set()
        out: list[Alarm] = []
        for tr, box in tracked:
            if not in_zone(box, zone.polygon):
                continue
            present.add(tr.id)
            first = st.entered.setdefault(tr.id, t)
            if t - first >= rule.max_seconds and tr.id not in st.loiter_alarmed:
                st.loiter_alarmed.add(tr.id)
                out.append(Alarm(self.camera, AlarmKind.LOITERING, at,
                                 self._key(AlarmKind.LOITERING, zone.name, first, f":{tr.id}"),
                                 f"有人在封闭区域 {zone.name} 逗留 {t - first:.0f} 秒",
                                 zone.name, 1, boxes=[box], detail={"track": tr.id}))
        # a person who left the zone (or was lost) starts a new stay when seen in it again
        for tid in [tid for tid in st.entered if tid not in present]:
            st.entered.pop(tid, None)
            st.loiter_alarmed.discard(tid)
        return out
