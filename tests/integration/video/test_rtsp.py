"""A stream worker against a real RTSP server on loopback.

Debian's ``livemedia-utils`` (live555MediaServer) is not in the main component the machine uses,
so the server is Debian's ``rtsp-server-perl`` (main): ffmpeg publishes the sample footage to it
(RTSP ANNOUNCE/RECORD, H.264 over RTP/UDP) and the worker reads it as a camera would be read. The
server speaks RTP over UDP only, which is what the camera's ``rtsp_transport: udp`` is for.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.video.footage import require_sample
from tests.integration.video.test_streams import WHOLE_FRAME, free_port, kinds, wait_for
from zhikong.video.alarms import AlarmKind, RecordingSink
from zhikong.video.schemas import parse_rules
from zhikong.video.stream import CameraSpec, DetectorPool, FrameSource, Supervisor

pytestmark = pytest.mark.slow

SERVER = "rtsp-server-perl"


def _wait_port(port: int, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.1)
    return False


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 s of the sample footage as H.264 in Matroska, a keyframe every second."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed (apt-get install ffmpeg)")
    if shutil.which(SERVER) is None:
        pytest.skip(f"{SERVER} is not installed (apt-get install {SERVER}; scripts/setup.sh with "
                    "ZHIKONG_SETUP_TESTS=1 does it)")
    sample = require_sample()
    out = tmp_path_factory.mktemp("rtsp") / "clip.mkv"
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-ss", "8", "-i", str(sample), "-t", "20",
         "-an", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "10", str(out)],
        check=True, timeout=120,
    )
    return out


@pytest.fixture
def rtsp_server(clip: Path) -> Iterator[tuple[str, Callable[[], subprocess.Popen[bytes]]]]:
    """(the URL cameras read, a function that starts publishing the clip there)."""
    client_port, source_port = free_port(), free_port()
    server = subprocess.Popen(
        [SERVER, "--clientport", str(client_port), "--serverport", str(source_port),
         "--client_listen_address", "127.0.0.1", "--source_listen_address", "127.0.0.1",
         "--rtp_start_port", str(20000 + 2 * (client_port % 10000)), "--loglevel", "1"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    procs = [server]

    def publish() -> subprocess.Popen[bytes]:
        p = subprocess.Popen(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", str(clip),
             "-c", "copy", "-f", "rtsp", f"rtsp://127.0.0.1:{source_port}/cam"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        procs.append(p)
        return p

    try:
        assert _wait_port(client_port, 10) and _wait_port(source_port, 10), f"{SERVER} did not start"
        yield f"rtsp://127.0.0.1:{client_port}/cam", publish
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                p.wait(5)


def test_rtsp_stream_real_detector_offline_and_back(
    rtsp_server: tuple[str, Callable[[], subprocess.Popen[bytes]]], tmp_path: Path, video_models: Path
) -> None:
    from zhikong.video.detector import SsdLitePersonDetector

    pool = DetectorPool(lambda: SsdLitePersonDetector(video_models), 1)
    url, publish = rtsp_server
    publisher = publish()
    # the server only relays RTP over UDP: a camera set to udp reads it
    source = FrameSource(url, rtsp_transport="udp")
    assert wait_for(lambda: source.cap is not None or source.open(), 20), "RTSP stream did not open"
    assert source.grab()
    frame = source.retrieve()
    source.close()
    assert frame is not None and frame.shape == (432, 768, 3)

    sink = RecordingSink()
    spec = CameraSpec("cam-rtsp", url, rules=parse_rules("cam-rtsp", WHOLE_FRAME), rtsp_transport="udp")
    sup = Supervisor([spec], pool, sink, fps=2.0, offline_after_s=4.0, backoff_s=0.2, max_backoff_s=1.0,
                     latest_dir=tmp_path / "latest").start()
    try:
        # a person is in the hall in the clip's first seconds: the real detector raises the alarm
        assert wait_for(lambda: AlarmKind.INTRUSION in kinds(sink, "cam-rtsp"), 40), sup.health()
        alarm = next(a for a in sink.alarms if a.kind == AlarmKind.INTRUSION)
        assert alarm.snapshot_jpeg is not None and alarm.people and alarm.people >= 1
        assert (tmp_path / "latest" / "cam-rtsp.jpg").stat().st_size > 1000
        # the publisher stops: the camera goes offline once; publishing again brings it back
        publisher.terminate()
        publisher.wait(5)
        assert wait_for(lambda: AlarmKind.CAMERA_OFFLINE in kinds(sink, "cam-rtsp"), 30), sup.health()
        publish()
        assert wait_for(lambda: AlarmKind.CAMERA_ONLINE in kinds(sink, "cam-rtsp"), 40), sup.health()
    finally:
        sup.stop()
    ks = kinds(sink, "cam-rtsp")
    assert ks.count(AlarmKind.CAMERA_OFFLINE) == 1 and ks.count(AlarmKind.CAMERA_ONLINE) == 1
    # (the relay may resume the same RTP session when publishing restarts, or the worker reconnects)
    assert sup.health()["cam-rtsp"].frames >= 3
