"""Stream workers: one thread per camera reads frames at a set rate, detects people, applies the
camera's rules and delivers alarms; a watchdog reports cameras offline and online again.

* Sources are opened with OpenCV's FFmpeg backend: ``rtsp://``, ``http(s)://`` (MJPEG) or a file
  (played in real time and looped, for demos and tests). Credentials are inserted into the URL
  only when opening, never stored in it.
* A failed open or a broken stream is retried with exponential back-off (``backoff_s`` doubling up
  to ``max_backoff_s``); the reason (unreachable, wrong credentials, corrupted frames) is kept per
  camera and shown in the offline alarm.
* Each camera has its own thread and its errors stay there: one bad camera never stops the others.
  Detection runs on a small pool of detectors (one per core): OpenCV networks are not shared
  between threads.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import numpy as np

from zhikong.core.errors import InvalidInput
from zhikong.core.time import utcnow
from zhikong.video.alarms import Alarm, AlarmKind, AlarmSink
from zhikong.video.detector import Box, PersonDetector, TiledDetector, parse_tiles
from zhikong.video.rules import RuleEngine
from zhikong.video.schemas import CameraRules, ScheduleWindow


def url_with_credentials(url: str, username: str | None, password: str | None) -> str:
    """``rtsp://host/path`` + user/password → ``rtsp://user:password@host/path`` (escaped)."""
    if not username or "://" not in url:
        return url
    parts = urlsplit(url)
    cred = quote(username, safe="") + (":" + quote(password, safe="") if password else "")
    return urlunsplit((parts.scheme, f"{cred}@{parts.netloc}", parts.path, parts.query, parts.fragment))


def is_file_source(url: str) -> bool:
    return "://" not in url or url.lower().startswith("file://")


def file_path(url: str) -> Path:
    return Path(url[7:] if url.lower().startswith("file://") else url)


def precheck(url: str, username: str | None, password: str | None, timeout: float = 3.0) -> str | None:
    """A fast reason why a source cannot work (unreachable, wrong credentials), or None.

    Used to explain a failed open, and to re-check a camera that refused our credentials without
    an OpenCV open: OpenCV opens streams one at a time, so a doomed open holds up every other
    camera's (re)connection.
    """
    if is_file_source(url):
        p = file_path(url)
        return None if p.is_file() else f"file {p} does not exist"
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}.get(parts.scheme, 0)
    if parts.scheme in ("http", "https"):
        import httpx

        auth = (username, password or "") if username else None
        try:
            with httpx.stream("GET", url, auth=auth, timeout=timeout) as r:
                if r.status_code in (401, 403):
                    return f"wrong credentials (HTTP {r.status_code})"
                if r.status_code >= 400:
                    return f"HTTP {r.status_code} from {host}"
                return None
        except httpx.ConnectError as e:
            return f"unreachable: {host}:{port} ({e})"
        except httpx.HTTPError as e:
            return f"HTTP error from {host}:{port}: {type(e).__name__}"
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as e:
        return f"unreachable: {host}:{port} ({e.strerror or e})"


def diagnose(url: str, username: str | None, password: str | None, timeout: float = 3.0) -> str:
    """Why a source does not open, in words for the duty staff."""
    reason = precheck(url, username, password, timeout)
    if reason is not None:
        return reason
    if is_file_source(url):
        return f"file {file_path(url)} is not a readable video"
    if url.lower().startswith("http"):
        return "the stream answered but no frame could be decoded"
    return "stream did not open (wrong credentials or path?)"


class FrameSource:
    """An OpenCV capture of one stream URL."""

    def __init__(self, url: str, username: str | None = None, password: str | None = None,
                 timeout_ms: int = 5000, rtsp_transport: str | None = None) -> None:
        self.url = url
        self.rtsp_transport = rtsp_transport
        self.username = username
        self.password = password
        self.timeout_ms = timeout_ms
        self.is_file = is_file_source(url)
        self.cap: Any = None
        self.file_fps = 0.0

    def open(self) -> bool:
        from zhikong.video._cv import cv2, ffmpeg_capture_options

        target = str(file_path(self.url)) if self.is_file else url_with_credentials(
            self.url, self.username, self.password)
        if self.is_file and not Path(target).is_file():
            return False
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, self.timeout_ms,
                  cv2.CAP_PROP_READ_TIMEOUT_MSEC, self.timeout_ms]
        options = ({"rtsp_transport": self.rtsp_transport}
                   if self.rtsp_transport and self.url.lower().startswith("rtsp") else None)
        with ffmpeg_capture_options(options):
            cap = cv2.VideoCapture(target, cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            cap.release()
            return False
        self.cap = cap
        self.file_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0) if self.is_file else 0.0
        return True

    def grab(self) -> bool:
        return bool(self.cap is not None and self.cap.grab())

    def retrieve(self) -> np.ndarray | None:
        if self.cap is None:
            return None
        ok, frame = self.cap.retrieve()
        return frame if ok else None

    def close(self) -> None:
        if self.cap is not None:
            self.cap.release()
            self.cap = None


class DetectorPool:
    """A fixed number of detectors shared by the camera threads."""

    def __init__(self, factory: Callable[[], PersonDetector], size: int) -> None:
        self._q: queue.Queue[PersonDetector] = queue.Queue()
        for _ in range(max(1, size)):
            self._q.put(factory())

    @contextlib.contextmanager
    def borrow(self) -> Iterator[PersonDetector]:
        det = self._q.get()
        try:
            yield det
        finally:
            self._q.put(det)


@dataclass
class CameraSpec:
    """What a worker needs to know about one camera."""

    code: str
    url: str
    username: str | None = None
    password: str | None = None
    rules: CameraRules | None = None
    schedule: list[ScheduleWindow] = field(default_factory=list)
    #: RTSP lower transport, ``tcp`` or ``udp``; None = OpenCV's default (TCP preferred)
    rtsp_transport: str | None = None


@dataclass
class CameraHealth:
    online: bool | None = None
    last_frame_clock: float | None = None
    last_frame_at: datetime | None = None
    frames: int = 0
    bad_frames: int = 0
    reconnects: int = 0
    last_error: str | None = None
    offline_since: float | None = None
    #: frames processed after their second had passed (due time + interval), and ticks skipped
    #: because the worker was still busy (the frame rate could not be kept)
    late: int = 0
    dropped: int = 0
    #: seconds from each processed frame's due time to the end of its processing (the last 600)
    lags: list[float] = field(default_factory=list)


StatusCallback = Callable[[str, bool, datetime | None, str | None], None]


class CameraWorker(threading.Thread):
    """Reads one camera at ``fps`` frames per second until stopped."""

    def __init__(
        self, spec: CameraSpec, pool: DetectorPool, sink: AlarmSink, stop: threading.Event, *,
        fps: float = 1.0, backoff_s: float = 1.0, max_backoff_s: float = 60.0,
        latest_dir: Path | None = None, armed: Callable[[CameraSpec, datetime], bool] | None = None,
    ) -> None:
        super().__init__(name=f"camera-{spec.code}", daemon=True)
        self.spec = spec
        self.pool = pool
        self.sink = sink
        self.stop_event = stop
        self.interval = 1.0 / fps
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.latest_dir = latest_dir
        self.armed = armed
        self.engine = RuleEngine(spec.code, spec.rules) if spec.rules and spec.rules.zones else None
        #: the camera's own tiling, when its rules set one (None there means "off")
        self.own_tiles = bool(spec.rules and spec.rules.tiles)
        self.tiles = parse_tiles(spec.rules.tiles) if spec.rules and spec.rules.tiles else None
        self.health = CameraHealth()
        self.lock = threading.Lock()
        self.latest_jpeg: bytes | None = None
        self.last_boxes: list[Box] = []
        self.on_frame: Callable[[CameraWorker, bool], None] | None = None

    # -- the loop ------------------------------------------------------------------------
    def run(self) -> None:
        failures = 0
        source = FrameSource(self.spec.url, self.spec.username, self.spec.password,
                             rtsp_transport=self.spec.rtsp_transport)
        next_tick = 0.0
        bad_grabs = 0
        last_grab = time.perf_counter()
        last_reason: str | None = None
        while not self.stop_event.is_set():
            if source.cap is None:
                # re-check a camera that refused our credentials (or a missing file) cheaply, without
                # an OpenCV open; never probe an unknown server first, since a single-client stream
                # server (ffmpeg -listen 1) would spend its one connection on the probe
                reason = None
                if last_reason and last_reason.startswith(("wrong credentials", "HTTP 4", "file ")):
                    reason = precheck(self.spec.url, self.spec.username, self.spec.password)
                opened = False
                if reason is None:
                    try:
                        opened = source.open()
                    except Exception as e:  # a bad URL must not kill the thread
                        reason = f"cannot open: {e}"
                    if not opened and reason is None:
                        reason = diagnose(self.spec.url, self.spec.username, self.spec.password)
                last_reason = reason
                if not opened:
                    self._error(reason or "stream did not open")
                    failures += 1
                    with self.lock:
                        self.health.reconnects += 1
                    self.stop_event.wait(min(self.max_backoff_s, self.backoff_s * 2 ** (failures - 1)))
                    continue
                last_grab, bad_grabs = time.perf_counter(), 0
                next_tick = 0.0  # (re)connected: frames are due from now, not since the outage
            if not source.grab():
                # a corrupted frame fails one grab and the stream goes on; a dead stream keeps failing
                bad_grabs += 1
                if not source.is_file and bad_grabs < 3 and time.perf_counter() - last_grab < 5.0:
                    with self.lock:
                        self.health.bad_frames += 1
                    self._error("corrupted frame (could not be decoded)")
                    continue
                source.close()
                if source.is_file and self.health.frames:
                    continue  # end of a file: play it again
                self._error("stream ended or stopped sending frames")
                failures += 1
                with self.lock:
                    self.health.reconnects += 1
                self.stop_event.wait(min(self.max_backoff_s, self.backoff_s * 2 ** (failures - 1)))
                continue
            bad_grabs = 0
            last_grab = now = time.perf_counter()
            if source.is_file and source.file_fps > 0:
                self.stop_event.wait(1.0 / source.file_fps)  # play files in real time
            if now < next_tick:
                continue
            due = next_tick if next_tick > 0 else now
            missed = int((now - due) // self.interval)
            next_tick = max(next_tick + self.interval, now)
            frame = source.retrieve()
            if frame is None or frame.ndim != 3 or frame.shape[0] < 8:
                with self.lock:
                    self.health.bad_frames += 1
                self._error("corrupted frame (could not be decoded)")
                continue
            failures = 0
            try:
                self.process(frame, now)
                lag = time.perf_counter() - due
                with self.lock:
                    h = self.health
                    h.dropped += missed
                    h.late += lag > self.interval
                    h.lags.append(lag)
                    del h.lags[:-600]
            except InvalidInput as e:
                with self.lock:
                    self.health.bad_frames += 1
                self._error(f"bad frame: {e}")
            except Exception as e:  # keep the camera alive; the error is shown per camera
                self._error(f"processing failed: {type(e).__name__}: {e}")
        source.close()

    def process(self, frame: np.ndarray, clock: float) -> list[Alarm]:
        """Detect, apply rules, deliver alarms; returns the alarms (used by tests and benchmarks)."""
        at = utcnow()
        with self.pool.borrow() as det:
            if self.own_tiles and isinstance(det, TiledDetector):
                boxes = det.detect(frame, tiles=self.tiles)
            else:
                boxes = det.detect(frame)
        came_back = False
        with self.lock:
            h = self.health
            came_back = h.online is False
            h.online, h.last_frame_clock, h.last_frame_at = True, clock, at
            h.frames += 1
            h.offline_since = None
            self.last_boxes = boxes
        if came_back:
            self.sink.deliver(Alarm(self.spec.code, AlarmKind.CAMERA_ONLINE, at,
                                    f"video:{self.spec.code}:online:{int(at.timestamp() * 1000)}",
                                    f"摄像头 {self.spec.code} 恢复在线"))
        alarms: list[Alarm] = []
        if self.engine is not None and (self.armed is None or self.armed(self.spec, at)):
            alarms = self.engine.update(at, boxes, frame, frame_clock=clock)
            for a in alarms:
                self.sink.deliver(a)
        self._keep_latest(frame, boxes)
        if self.on_frame is not None:
            self.on_frame(self, came_back)
        return alarms

    def _keep_latest(self, frame: np.ndarray, boxes: list[Box]) -> None:
        from zhikong.video.alarms import draw_snapshot

        jpeg = draw_snapshot(frame, boxes, quality=70)
        with self.lock:
            self.latest_jpeg = jpeg
        if self.latest_dir is not None:
            self.latest_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.latest_dir / f".{self.spec.code}.jpg.tmp"
            tmp.write_bytes(jpeg)
            tmp.replace(self.latest_dir / f"{self.spec.code}.jpg")

    def _error(self, message: str) -> None:
        with self.lock:
            self.health.last_error = message


class Supervisor:
    """Runs one worker per camera and a watchdog that reports cameras offline and online."""

    def __init__(
        self, specs: list[CameraSpec], pool: DetectorPool, sink: AlarmSink, *, fps: float = 1.0,
        offline_after_s: float = 30.0, backoff_s: float = 1.0, max_backoff_s: float = 60.0,
        latest_dir: Path | None = None, on_status: StatusCallback | None = None,
        armed: Callable[[CameraSpec, datetime], bool] | None = None,
    ) -> None:
        self.stop_event = threading.Event()
        self.sink = sink
        self.offline_after_s = offline_after_s
        self.on_status = on_status
        self.workers = [
            CameraWorker(s, pool, sink, self.stop_event, fps=fps, backoff_s=backoff_s,
                         max_backoff_s=max_backoff_s, latest_dir=latest_dir, armed=armed)
            for s in specs
        ]
        for w in self.workers:
            w.on_frame = self._frame_seen
        self._watchdog = threading.Thread(target=self._watch, name="camera-watchdog", daemon=True)
        self._started = 0.0

    def start(self) -> Supervisor:
        self._started = time.perf_counter()
        for w in self.workers:
            w.start()
        self._watchdog.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        for w in self.workers:
            w.join(timeout)
        self._watchdog.join(timeout)

    def run_for(self, seconds: float) -> None:
        self.start()
        try:
            self.stop_event.wait(seconds)
        finally:
            self.stop()

    def health(self) -> dict[str, CameraHealth]:
        out = {}
        for w in self.workers:
            with w.lock:
                out[w.spec.code] = CameraHealth(**{**w.health.__dict__, "lags": list(w.health.lags)})
        return out

    def _frame_seen(self, w: CameraWorker, came_back: bool) -> None:
        frames = w.health.frames
        if self.on_status is not None and (came_back or frames == 1 or frames % 60 == 0):
            self.on_status(w.spec.code, True, w.health.last_frame_at, None)

    def _watch(self) -> None:
        tick = min(1.0, self.offline_after_s / 4)
        while not self.stop_event.wait(tick):
            now = time.perf_counter()
            for w in self.workers:
                with w.lock:
                    h = w.health
                    last = h.last_frame_clock if h.last_frame_clock is not None else self._started
                    went_offline = h.online is not False and now - last >= self.offline_after_s
                    if went_offline:
                        h.online, h.offline_since = False, now
                    error = h.last_error
                if went_offline:
                    at = utcnow()
                    reason = error or "still connecting: the stream has not delivered a decodable frame"
                    self.sink.deliver(Alarm(
                        w.spec.code, AlarmKind.CAMERA_OFFLINE, at,
                        f"video:{w.spec.code}:offline:{int(at.timestamp() * 1000)}",
                        f"摄像头 {w.spec.code} 离线：{self.offline_after_s:.0f} 秒无画面（{reason}）",
                        detail={"reason": reason},
                    ))
                    if self.on_status is not None:
                        self.on_status(w.spec.code, False, None, reason)
