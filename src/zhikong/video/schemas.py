"""Validated configuration of a camera's zones and rules (data, not code), and API shapes.

A camera's rules are JSON such as::

    {"frame_width": 768, "frame_height": 432,
     "zones": [{"name": "entrance", "polygon": [[0,200],[400,200],[400,432],[0,432],[0,200]],
                "crowd": {"min_people": 5, "min_seconds": 30},
                "loitering": {"max_seconds": 120},
                "intrusion": false}]}

Polygons are in frame pixels and must close (last point = first point). Errors name the camera,
the zone and the field.
"""

from __future__ import annotations

import itertools
from datetime import datetime, time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from zhikong.core.errors import ConfigError, InvalidInput


class CrowdRule(BaseModel):
    """Crowd gathering: at least ``min_people`` in the zone for at least ``min_seconds``.

    Hysteresis: the gathering ends only after the count stays below ``release_people`` for
    ``release_seconds``; until then it is the same gathering (one alarm).
    """

    model_config = ConfigDict(extra="forbid")

    min_people: int = Field(ge=2, le=1000)
    min_seconds: float = Field(ge=0, le=3600)
    release_people: int | None = Field(default=None, ge=1, le=1000)
    release_seconds: float = Field(default=30.0, ge=0, le=3600)

    @model_validator(mode="after")
    def _check(self) -> CrowdRule:
        if self.release_people is None:
            self.release_people = self.min_people
        if self.release_people > self.min_people:
            raise ValueError("release_people must not exceed min_people")
        return self


class LoiterRule(BaseModel):
    """Loitering in a closed area: one tracked person stays in the zone longer than ``max_seconds``."""

    model_config = ConfigDict(extra="forbid")

    max_seconds: float = Field(ge=5, le=86400)


class ZoneConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    polygon: list[tuple[float, float]]
    crowd: CrowdRule | None = None
    loitering: LoiterRule | None = None
    #: any person in the zone is an alarm (a closed area)
    intrusion: bool = False
    intrusion_release_seconds: float = Field(default=30.0, ge=0, le=3600)

    @field_validator("polygon")
    @classmethod
    def _closed_ring(cls, v: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if len(v) < 4:
            raise ValueError("a polygon needs at least 3 corners and the closing point (4 points)")
        if tuple(v[0]) != tuple(v[-1]):
            raise ValueError(f"polygon does not close: first point {list(v[0])} != last point {list(v[-1])}")
        if len(set(v[:-1])) < 3:
            raise ValueError("polygon has fewer than 3 distinct corners")
        if abs(polygon_area(v)) < 1.0:
            raise ValueError("polygon has no area")
        return v


class CameraRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    frame_width: int = Field(ge=16, le=10000)
    frame_height: int = Field(ge=16, le=10000)
    zones: list[ZoneConfig] = Field(default_factory=list, max_length=32)
    #: this camera's tiling (``auto``, ``off``, ``COLSxROWS``); unset = the ``video_tiles`` setting
    tiles: str | None = None
    #: RTSP over ``tcp`` (interleaved) or ``udp`` (RTP ports); unset = TCP when the server allows
    rtsp_transport: Literal["tcp", "udp"] | None = None

    @field_validator("tiles")
    @classmethod
    def _tiles(cls, v: str | None) -> str | None:
        if v is not None:
            from zhikong.video.detector import parse_tiles

            try:
                parse_tiles(v)
            except ConfigError as e:
                raise ValueError(e.message) from None
        return v

    @model_validator(mode="after")
    def _inside_frame(self) -> CameraRules:
        names = [z.name for z in self.zones]
        if len(set(names)) != len(names):
            raise ValueError("zone names must be unique")
        for z in self.zones:
            for x, y in z.polygon:
                if not (0 <= x <= self.frame_width and 0 <= y <= self.frame_height):
                    raise ValueError(
                        f"zone {z.name}: point ({x:g}, {y:g}) lies outside the "
                        f"{self.frame_width}x{self.frame_height} frame"
                    )
        return self


def polygon_area(points: list[tuple[float, float]]) -> float:
    """Signed shoelace area of a closed ring."""
    return 0.5 * sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in itertools.pairwise(points))


def parse_rules(camera: str, data: object) -> CameraRules:
    """Validate a camera's rules; the error names the camera, the zone and the field."""
    try:
        return CameraRules.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        loc = list(first["loc"])
        where = ""
        if len(loc) >= 2 and loc[0] == "zones" and isinstance(loc[1], int) and isinstance(data, dict):
            zones = data.get("zones") or []
            zone = zones[loc[1]] if loc[1] < len(zones) else None
            name = zone.get("name") if isinstance(zone, dict) else None
            where = f" zone {name or loc[1]}"
            loc = loc[2:]
        field = ".".join(str(p) for p in loc) or "rules"
        msg = str(first["msg"]).removeprefix("Value error, ")
        raise InvalidInput(f"camera {camera}:{where} {field}: {msg}", field=field) from e


class ScheduleWindow(BaseModel):
    """When a camera's rules are armed: weekdays (1 = Monday) and a local time window."""

    model_config = ConfigDict(extra="forbid")

    days: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5, 6, 7])
    start: time = time(0, 0)
    end: time = time(23, 59, 59)

    @field_validator("days")
    @classmethod
    def _days(cls, v: list[int]) -> list[int]:
        if not v or any(d < 1 or d > 7 for d in v):
            raise ValueError("days are 1 (Monday) to 7 (Sunday)")
        return v

    def contains(self, local: datetime) -> bool:
        if local.isoweekday() not in self.days:
            return False
        t = local.time()
        if self.start <= self.end:
            return self.start <= t <= self.end
        return t >= self.start or t <= self.end  # a window over midnight


class CameraIn(BaseModel):
    """A camera to register."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    name: str = Field(min_length=1, max_length=128)
    stream_url: str = Field(min_length=1, max_length=1024)
    place_code: str | None = None
    unit_code: str | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    username: str | None = None
    password: str | None = None
    rules: dict[str, object] | None = None
    schedule: list[ScheduleWindow] = Field(default_factory=list)

    @field_validator("stream_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if "://" in v:
            scheme = v.split("://", 1)[0].lower()
            if scheme not in ("rtsp", "rtsps", "http", "https", "file"):
                raise ValueError(f"stream_url scheme {scheme} is not rtsp, http(s) or file")
            if "@" in v.split("://", 1)[1].split("/", 1)[0]:
                raise ValueError("put credentials in username/password, not in stream_url")
        return v


class CameraOut(BaseModel):
    id: int
    code: str
    name: str
    place_code: str | None
    unit_code: str | None
    lat: float | None
    lon: float | None
    status: str
    last_frame_at: datetime | None
    open_alarms: int = 0


class AlarmOut(BaseModel):
    id: int
    camera_code: str
    kind: str
    zone: str | None
    people: int | None
    message: str
    at: datetime
    stored_at: datetime
    status: str
    snapshot_url: str | None
