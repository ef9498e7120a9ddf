"""Demo step: cameras at the demo markets, supermarkets and squares; a short run on real footage.

When the sample footage is found beside the repository (``../shared/data/video``), two cameras play
it (as files, in real time) for a few seconds so the video wall has frames and alarms to show.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from zhikong.core.config import get_settings
from zhikong.core.db import get_engine, unit_of_work
from zhikong.geo.models import Place, PlaceKind
from zhikong.video.schemas import CameraIn
from zhikong.video.service import register_camera

if TYPE_CHECKING:
    from zhikong.demo import DemoContext

SAMPLE = "one-by-one-person-detection.mp4"
#: the sample's frame, a zone around the table (the "closed area") and the whole floor
DEMO_RULES = {
    "frame_width": 768, "frame_height": 432,
    "zones": [
        {"name": "柜台区", "polygon": [[330, 250], [620, 250], [620, 432], [330, 432], [330, 250]],
         "intrusion": True, "intrusion_release_seconds": 20, "loitering": {"max_seconds": 20}},
        {"name": "大厅", "polygon": [[0, 200], [768, 200], [768, 432], [0, 432], [0, 200]],
         "crowd": {"min_people": 3, "min_seconds": 10}},
    ],
}


def find_sample() -> Path | None:
    here = Path(__file__).resolve()
    for base in (Path.cwd(), *here.parents):
        p = base.parent / "shared" / "data" / "video" / SAMPLE
        if p.is_file():
            return p
    return None


def step(ctx: DemoContext) -> None:
    sample = find_sample()
    kinds = (PlaceKind.MARKET, PlaceKind.SUPERMARKET, PlaceKind.SQUARE, PlaceKind.CHECKPOINT)
    with unit_of_work() as s:
        places = list(s.scalars(select(Place).where(Place.kind.in_(kinds)).order_by(Place.code).limit(8)))
        for i, p in enumerate(places, start=1):
            url = str(sample) if sample is not None and i <= 2 else f"rtsp://127.0.0.1:8554/demo/{i:02d}"
            register_camera(s, CameraIn(code=f"demo-cam-{i:02d}", name=f"{p.name}监控{i}", stream_url=url,
                                        place_code=p.code, rules=DEMO_RULES))
    ctx.console.print(f"video: {len(places)} demo cameras at markets, supermarkets and squares")
    if sample is None:
        ctx.console.print("video: sample footage not found beside the repository; no stream run")
        return
    try:
        from zhikong.video.worker import build_supervisor

        sup, sink, _ = build_supervisor(get_settings(), get_engine(), ["demo-cam-01", "demo-cam-02"], 1)
        sup.run_for(15.0)
        frames = sum(h.frames for h in sup.health().values())
        ctx.console.print(f"video: 2 cameras read {frames} frames of {SAMPLE} (Intel IoT DevKit sample "
                          f"videos, CC BY 4.0); {len(sink.latencies)} alarms stored")
    except Exception as e:  # the demo goes on without video (e.g. OpenCV or the model missing)
        ctx.console.print(f"[yellow]video: stream run skipped: {e}")
