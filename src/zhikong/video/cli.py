"""``zhikong video``: cameras, stream workers, the detector."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
import yaml
from rich.console import Console
from rich.table import Table

from zhikong.core.config import get_settings
from zhikong.core.db import get_engine, unit_of_work
from zhikong.core.errors import InvalidInput, RowError, RowErrors

app = typer.Typer(help="Video control of key places: cameras, stream workers, person detection.",
                  no_args_is_help=True)
console = Console()


@app.command("import")
def import_cameras(path: Path = typer.Argument(..., help="YAML or JSON list of cameras.")) -> None:
    """Register or update cameras from a file (all or nothing; errors name the camera)."""
    from pydantic import ValidationError

    from zhikong.video.schemas import CameraIn
    from zhikong.video.service import register_camera

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise InvalidInput(f"{path}: cannot read cameras: {e}", field="file") from e
    if isinstance(data, dict):
        data = data.get("cameras", [])
    if not isinstance(data, list):
        raise InvalidInput(f"{path}: expected a list of cameras", field="file")
    errors: list[RowError] = []
    with unit_of_work() as s:
        for i, item in enumerate(data, start=1):
            code = str(item.get("code", "?")) if isinstance(item, dict) else "?"
            try:
                register_camera(s, CameraIn.model_validate(item))
            except ValidationError as e:
                err = e.errors()[0]
                errors.append(RowError(i, ".".join(map(str, err["loc"])), f"camera {code}: {err['msg']}",
                                       file=path.name))
            except InvalidInput as e:
                errors.append(RowError(i, e.field or "camera", e.message, file=path.name))
        if errors:
            raise RowErrors(errors=errors, file=path.name)
    console.print(f"{len(data)} cameras registered")


@app.command("list")
def list_cmd(unit: str = typer.Option(None, help="Only cameras of this unit (and units under it).")) -> None:
    """List cameras with their status."""
    from zhikong.video.service import close_handled_alarms, list_cameras, open_alarm_counts

    table = Table("code", "name", "status", "last frame", "open alarms", "error")
    with unit_of_work() as s:
        close_handled_alarms(s)
        counts = open_alarm_counts(s)
        for c in list_cameras(s, unit):
            table.add_row(c.code, c.name, str(c.status), str(c.last_frame_at or "-"),
                          str(counts.get(c.id, 0)), c.last_error or "")
    console.print(table)


@app.command()
def run(
    seconds: float = typer.Option(0, help="Stop after this many seconds (0 = until Ctrl-C)."),
    camera: list[str] = typer.Option(None, help="Only these camera codes."),
    workers: int = typer.Option(0, help="Detector instances (default: one per core)."),
) -> None:
    """Run the stream workers: read every camera, detect people, raise alarms."""
    from zhikong.video.worker import build_supervisor

    settings = get_settings()
    sup, sink, problems = build_supervisor(settings, get_engine(), camera or None, workers or None)
    for p in problems:
        console.print(f"[red]skipped:[/] {p}")
    console.print(f"{len(sup.workers)} cameras at {settings.video_fps:g} fps; Ctrl-C stops")
    sup.start()
    started = time.monotonic()
    try:
        while not seconds or time.monotonic() - started < seconds:
            time.sleep(min(5.0, seconds or 5.0))
            h = sup.health()
            online = sum(1 for x in h.values() if x.online)
            console.print(f"online {online}/{len(h)}, frames {sum(x.frames for x in h.values())}, "
                          f"alarms stored {sink.stored}")
    except KeyboardInterrupt:
        pass
    finally:
        sup.stop()
    for code, ch in sup.health().items():
        state = "online" if ch.online else "offline"
        console.print(f"{code}: {state}, {ch.frames} frames, {ch.bad_frames} bad, {ch.last_error or ''}")


@app.command()
def detect(
    source: Path = typer.Argument(..., help="An image or a video file."),
    frame: int = typer.Option(0, help="Frame index of a video."),
    out: Path = typer.Option(None, help="Write the frame with boxes drawn (JPEG)."),
) -> None:
    """Count people in one image or video frame with the configured detector."""
    from zhikong.video._cv import cv2
    from zhikong.video.alarms import draw_snapshot
    from zhikong.video.detector import load_detector

    if not source.is_file():
        raise InvalidInput(f"{source} does not exist", field="source")
    img = cv2.imread(str(source))
    if img is None:
        cap = cv2.VideoCapture(str(source))
        cap.set(cv2.CAP_PROP_POS_FRAMES, frame)
        ok, img = cap.read()
        cap.release()
        if not ok:
            raise InvalidInput(f"{source}: no image or frame {frame} could be decoded", field="source")
    det = load_detector(get_settings())
    boxes = det.detect(img)
    console.print(json.dumps({"people": len(boxes), "runtime": getattr(det, "runtime", det.name), "boxes": [
        [round(b.x1), round(b.y1), round(b.x2), round(b.y2), round(b.score, 3)] for b in boxes]}))
    if out is not None:
        out.write_bytes(draw_snapshot(img, boxes))


@app.command()
def textgraph(out: Path = typer.Argument(..., help="Where to write the OpenCV text graph (.pbtxt).")) -> None:
    """Generate the OpenCV text graph of the bundled SSDLite person model."""
    from zhikong.video.detector import ssdlite_graph_path
    from zhikong.video.textgraph import write_ssd_text_graph

    pb = ssdlite_graph_path()
    n = write_ssd_text_graph(pb, out)
    console.print(f"{out}: text graph of {pb.name} ({n} class{'es' if n > 1 else ''} + background)")
