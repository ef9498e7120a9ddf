"""Stream workers against real network streams on loopback (ffmpeg and a small MJPEG server)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.integration.video.footage import require_sample
from tests.integration.video.mjpeg_server import MjpegCamera
from zhikong.video.alarms import Alarm, AlarmKind, RecordingSink
from zhikong.video.detector import Box
from zhikong.video.schemas import parse_rules
from zhikong.video.stream import CameraSpec, DetectorPool, Supervisor, diagnose, url_with_credentials

pytestmark = pytest.mark.slow

WHOLE_FRAME = {
    "frame_width": 768, "frame_height": 432,
    "zones": [{"name": "hall", "polygon": [[0, 0], [768, 0], [768, 432], [0, 432], [0, 0]],
               "intrusion": True}],
}


class CountingDetector:
    """A stand-in detector for stream plumbing tests: one box when the frame is bright enough."""

    name = "stub"

    def detect(self, frame: np.ndarray) -> list[Box]:
        return [Box(10, 10, 60, 120, 0.9)] if float(frame.mean()) > 20 else []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(cond: Callable[[], bool], seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.2)
    return cond()


def jpeg(value: int = 128) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".jpg", np.full((120, 160, 3), value, np.uint8))
    assert ok
    return bytes(buf.tobytes())


def kinds(sink: RecordingSink, camera: str) -> list[AlarmKind]:
    return [a.kind for a in list(sink.alarms) if a.camera == camera]


@pytest.fixture
def ffmpeg_stream() -> Iterator[Callable[[int], subprocess.Popen[bytes]]]:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed (apt-get install ffmpeg)")
    sample = require_sample()
    procs: list[subprocess.Popen[bytes]] = []

    def start(port: int) -> subprocess.Popen[bytes]:
        p = subprocess.Popen(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-ss", "8", "-stream_loop", "-1",
             "-i", str(sample), "-t", "90", "-q:v", "6", "-f", "mpjpeg", "-listen", "1",
             f"http://127.0.0.1:{port}/cam.mjpg"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        procs.append(p)
        return p

    yield start
    for p in procs:
        if p.poll() is None:
            p.terminate()
            p.wait(5)


def test_ffmpeg_mjpeg_stream_real_detector_offline_and_back(
    ffmpeg_stream: Callable[[int], subprocess.Popen[bytes]], tmp_path: Path, video_models: Path
) -> None:
    from zhikong.video.detector import SsdLitePersonDetector

    pool = DetectorPool(lambda: SsdLitePersonDetector(video_models), 1)
    port = free_port()
    proc = ffmpeg_stream(port)
    sink = RecordingSink()
    spec = CameraSpec("cam-ffmpeg", f"http://127.0.0.1:{port}/cam.mjpg",
                      rules=parse_rules("cam-ffmpeg", WHOLE_FRAME))
    sup = Supervisor([spec], pool, sink, fps=2.0, offline_after_s=3.0, backoff_s=0.2, max_backoff_s=1.0,
                     latest_dir=tmp_path / "latest").start()
    try:
        assert wait_for(lambda: AlarmKind.INTRUSION in kinds(sink, "cam-ffmpeg"), 30), sup.health()
        alarm = next(a for a in sink.alarms if a.kind == AlarmKind.INTRUSION)
        assert alarm.snapshot_jpeg is not None and alarm.snapshot_jpeg[:2] == b"\xff\xd8"
        assert alarm.people and alarm.people >= 1
        assert (tmp_path / "latest" / "cam-ffmpeg.jpg").stat().st_size > 1000
        # the stream dies: offline once; it comes back: online once
        proc.terminate()
        proc.wait(5)
        assert wait_for(lambda: AlarmKind.CAMERA_OFFLINE in kinds(sink, "cam-ffmpeg"), 15)
        ffmpeg_stream(port)
        assert wait_for(lambda: AlarmKind.CAMERA_ONLINE in kinds(sink, "cam-ffmpeg"), 20), sup.health()
    finally:
        sup.stop()
    ks = kinds(sink, "cam-ffmpeg")
    assert ks.count(AlarmKind.CAMERA_OFFLINE) == 1 and ks.count(AlarmKind.CAMERA_ONLINE) == 1
    assert sup.health()["cam-ffmpeg"].reconnects >= 1


def test_bad_cameras_never_stop_the_good_one(tmp_path: Path) -> None:
    good_jpeg = jpeg(128)
    rng = np.random.default_rng(7)

    def half_corrupt(i: int) -> bytes:
        return good_jpeg if i % 2 else good_jpeg[:200] + rng.bytes(300)

    sink = RecordingSink()
    with (
        MjpegCamera(lambda i: good_jpeg, username="admin", password="right") as good,
        MjpegCamera(lambda i: good_jpeg, username="admin", password="right") as locked,
        MjpegCamera(half_corrupt) as flaky,
        MjpegCamera(lambda i: rng.bytes(2000)) as garbage,
    ):
        specs = [
            CameraSpec("good", good.url, "admin", "right",
                       rules=parse_rules("good", {**WHOLE_FRAME, "frame_width": 160, "frame_height": 120,
                                                  "zones": []})),
            CameraSpec("wrong-password", locked.url, "admin", "wrong"),
            CameraSpec("unreachable", f"http://127.0.0.1:{free_port()}/none.mjpg"),
            CameraSpec("no-file", str(tmp_path / "missing.mp4")),
            CameraSpec("flaky", flaky.url),
            CameraSpec("garbage", garbage.url),
            CameraSpec("bad-scheme", "rtsp://127.0.0.1:1/x"),
        ]
        pool = DetectorPool(CountingDetector, 1)
        # OpenCV opens streams one at a time: a hanging open (garbage) delays the others' opens,
        # which the back-off keeps rare
        sup = Supervisor(specs, pool, sink, fps=4.0, offline_after_s=8.0, backoff_s=0.5,
                         max_backoff_s=8.0).start()
        try:
            assert wait_for(
                lambda: {a.camera for a in sink.alarms if a.kind == AlarmKind.CAMERA_OFFLINE}
                >= {"wrong-password", "unreachable", "no-file", "garbage", "bad-scheme"}, 30
            ), sup.health()
            wait_for(lambda: sup.health()["flaky"].frames >= 3 and sup.health()["good"].frames >= 8, 15)
        finally:
            sup.stop()
    health = sup.health()
    assert health["good"].online is True and health["good"].frames >= 8, health
    assert health["flaky"].online is True and health["flaky"].frames >= 3, health
    offline: dict[str, Alarm] = {a.camera: a for a in sink.alarms if a.kind == AlarmKind.CAMERA_OFFLINE}
    assert "good" not in offline and "flaky" not in offline
    assert "wrong credentials (HTTP 401)" in offline["wrong-password"].message
    assert "unreachable" in offline["unreachable"].message
    assert "does not exist" in offline["no-file"].message
    assert "unreachable" in offline["bad-scheme"].message
    assert any(w in offline["garbage"].message for w in ("decod", "corrupted", "ended"))


def test_credentials_go_into_the_url_escaped() -> None:
    assert url_with_credentials("rtsp://10.0.0.1:554/s1", "ad min", "p@ss:1") == (
        "rtsp://ad%20min:p%40ss%3A1@10.0.0.1:554/s1"
    )
    assert url_with_credentials("rtsp://h/s", None, None) == "rtsp://h/s"


def test_diagnose_wrong_credentials_and_unreachable() -> None:
    with MjpegCamera(lambda i: jpeg(), username="u", password="p") as cam:
        assert diagnose(cam.url, "u", "bad") == "wrong credentials (HTTP 401)"
        assert diagnose(cam.url, None, None) == "wrong credentials (HTTP 401)"
    assert diagnose(f"http://127.0.0.1:{free_port()}/x", None, None).startswith("unreachable")


class SlowDetector:
    """A detector slower than the camera's frame interval (1.3 s per frame against 0.5 s)."""

    name = "slow"

    def detect(self, frame: np.ndarray) -> list[Box]:
        time.sleep(1.3)
        return []


def test_a_worker_that_cannot_keep_up_reports_late_and_dropped_frames() -> None:
    with MjpegCamera(lambda i: jpeg(), fps=10.0) as cam:
        sup = Supervisor([CameraSpec("slow", cam.url)], DetectorPool(SlowDetector, 1), RecordingSink(),
                         fps=2.0, offline_after_s=60.0).start()
        try:
            assert wait_for(lambda: sup.health()["slow"].frames >= 3, 40), sup.health()
        finally:
            sup.stop()
    h = sup.health()["slow"]
    # every frame ends more than its 0.5 s after it was due; the ticks in between are dropped
    assert h.late == len(h.lags) == h.frames and min(h.lags) >= 1.3
    assert h.dropped >= h.frames - 1 >= 2
