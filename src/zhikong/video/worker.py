"""``zhikong video run``: stream workers for the registered cameras, wired to the database."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from zhikong.core.config import Settings
from zhikong.core.db import unit_of_work
from zhikong.core.errors import InvalidInput
from zhikong.video.detector import load_detector
from zhikong.video.models import CameraStatus
from zhikong.video.service import (
    StoringSink,
    armed,
    camera_credentials,
    camera_rules,
    camera_schedule,
    list_cameras,
    set_camera_status,
)
from zhikong.video.stream import CameraSpec, DetectorPool, Supervisor


def camera_specs(engine: Engine, codes: list[str] | None = None) -> tuple[list[CameraSpec], list[str]]:
    """Specs of the enabled cameras (or of ``codes``); a camera with bad rules is reported, not run."""
    specs: list[CameraSpec] = []
    problems: list[str] = []
    with unit_of_work(engine) as s:
        for cam in list_cameras(s, enabled_only=True):
            if codes and cam.code not in codes:
                continue
            try:
                user, password = camera_credentials(cam)
                rules = camera_rules(cam)
                specs.append(CameraSpec(cam.code, cam.stream_url, user, password, rules,
                                        camera_schedule(cam),
                                        rtsp_transport=rules.rtsp_transport if rules else None))
            except InvalidInput as e:
                problems.append(str(e))
    return specs, problems


def build_supervisor(
    settings: Settings, engine: Engine, codes: list[str] | None = None, workers: int | None = None,
) -> tuple[Supervisor, StoringSink, list[str]]:
    specs, problems = camera_specs(engine, codes)
    sink = StoringSink(engine, settings.data_dir)
    size = workers or max(1, min(len(specs), os.cpu_count() or 1))
    pool = DetectorPool(lambda: load_detector(settings), size)

    def on_status(code: str, online: bool, frame_at: datetime | None, error: str | None) -> None:
        with unit_of_work(engine) as s:
            set_camera_status(s, code, CameraStatus.ONLINE if online else CameraStatus.OFFLINE,
                              frame_at=frame_at, error=error)

    is_armed: Callable[[CameraSpec, datetime], bool] = lambda spec, at: armed(spec.schedule, at)  # noqa: E731
    sup = Supervisor(
        specs, pool, sink, fps=settings.video_fps, offline_after_s=settings.video_offline_after_s,
        latest_dir=settings.data_dir / "video" / "latest", on_status=on_status, armed=is_armed,
    )
    return sup, sink, problems
