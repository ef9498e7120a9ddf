"""Video benchmark: detector ms/frame and count MAE per mode, a sustained wall-clock run of N
cameras at 1 fps on ONE core per runtime (lag, late and dropped frames), alarm latency p95.

Modes side by side: the SSDLite model with 2 x 1 tiles (the default) and on the whole frame, each
through both runtimes (OpenVINO, the default when installed, and OpenCV dnn); the sustained run is
made for the tiled default of each runtime. Peer measured in the same run: OpenCV's MOG2
background subtractor with a blob counter (the classic cheap people counter; OpenCV 5 no longer
ships the HOG people detector). The two runtimes' boxes on the labelled frames are compared too.

    PYTHONPATH=src python benchmarks/bench_video.py [--cameras 20] [--seconds 60] [--core 0]

The whole process is pinned to one core (``--core``); OpenCV and OpenVINO run one thread each, so
every figure is per core. Takes about 2 x (seconds + 5) s plus ~1.5 min. Needs the sample footage
in ``../shared/data/video`` beside the repository.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from zhikong.video.detector import Box, SsdLitePersonDetector  # noqa: E402

SAMPLE_NAME = "one-by-one-person-detection.mp4"


def find_sample() -> Path:
    for base in (REPO.parent, REPO.parent.parent):
        p = base / "shared" / "data" / "video" / SAMPLE_NAME
        if p.is_file():
            return p
    raise SystemExit(f"sample footage {SAMPLE_NAME} not found in ../shared/data/video")


def read_frames(path: Path) -> list[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    return frames


def labels() -> list[tuple[int, int]]:
    with (REPO / "tests" / "data" / "video" / "labels.csv").open() as fh:
        return [(int(r["frame"]), int(r["count"])) for r in csv.DictReader(fh)]


class Mog2Counter:
    """Peer: foreground blobs of a background subtractor, filtered by size and shape."""

    name = "mog2"

    def __init__(self) -> None:
        import cv2

        self.cv2 = cv2
        self.sub = cv2.createBackgroundSubtractorMOG2(history=200, varThreshold=25, detectShadows=True)
        self.kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))

    def detect(self, frame: np.ndarray) -> list[Box]:
        cv2 = self.cv2
        small = cv2.resize(frame, (384, 216))
        mask = self.sub.apply(small)
        mask = cv2.threshold(mask, 200, 255, cv2.THRESH_BINARY)[1]
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self.kernel)
        mask = cv2.dilate(mask, self.kernel, iterations=2)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        sx, sy = frame.shape[1] / 384, frame.shape[0] / 216
        out = []
        for c in contours:
            x, y, w, h = cv2.boundingRect(c)
            if w * h >= 0.02 * 384 * 216 and h > 0.8 * w:
                out.append(Box(x * sx, y * sy, (x + w) * sx, (y + h) * sy, 1.0))
        return out


def time_detector(det: object, frames: list[np.ndarray], n: int = 60) -> tuple[float, float]:
    """Wall and CPU milliseconds per frame (CPU time is what a loaded, shared machine distorts least)."""
    step = max(1, len(frames) // n)
    picked = frames[::step][:n]
    det.detect(picked[0])  # type: ignore[attr-defined]
    t, c = time.perf_counter(), time.process_time()
    for f in picked:
        det.detect(f)  # type: ignore[attr-defined]
    return ((time.perf_counter() - t) / len(picked) * 1000, (time.process_time() - c) / len(picked) * 1000)


def mae(counts: dict[int, int]) -> float:
    return float(np.mean([abs(counts[f] - n) for f, n in labels()]))


@dataclass
class Sustained:
    cameras: int
    seconds: float
    due: int  # frames that should have been processed (cameras x seconds at 1 fps)
    processed: int
    late: int  # processed after their second had passed
    dropped: int  # ticks skipped because the camera's worker was still busy
    lag_p50: float
    lag_p95: float
    lag_max: float
    cpu_ms_per_frame: float  # CPU of the whole process (decoding every frame included)

    @property
    def kept_up(self) -> bool:
        return self.dropped == 0 and self.late == 0 and self.processed >= 0.97 * self.due


def sustained(
    sample: Path, cameras: int, seconds: float, workdir: Path, tiles: str | None, runtime: str
) -> Sustained:
    """``cameras`` file cameras (each decoding every frame of the sample in real time, 10 fps)
    at 1 fps through one detector on this (pinned) core for ``seconds`` of wall-clock time."""
    from zhikong.video.alarms import RecordingSink
    from zhikong.video.stream import CameraSpec, DetectorPool, Supervisor

    pool = DetectorPool(lambda: SsdLitePersonDetector(workdir / "models", tiles=tiles, runtime=runtime), 1)
    specs = [CameraSpec(f"cam-{i:03d}", str(sample)) for i in range(cameras)]
    sup = Supervisor(specs, pool, RecordingSink(), fps=1.0, offline_after_s=120.0)
    sup.start()
    time.sleep(5.0)  # opening and the first frames
    before = sup.health()
    t, c = time.perf_counter(), time.process_time()
    time.sleep(seconds)
    after = sup.health()
    elapsed, cpu = time.perf_counter() - t, time.process_time() - c
    sup.stop()
    processed = sum(after[k].frames - before[k].frames for k in after)
    lags = sorted(x for k in after for x in after[k].lags[len(before[k].lags):])
    q = statistics.quantiles(lags, n=20) if len(lags) >= 2 else [float("nan")] * 19
    return Sustained(
        cameras, elapsed, round(cameras * elapsed), processed,
        sum(after[k].late - before[k].late for k in after),
        sum(after[k].dropped - before[k].dropped for k in after),
        statistics.median(lags) if lags else float("nan"), q[18], lags[-1] if lags else float("nan"),
        cpu / max(1, processed) * 1000,
    )


def latency(frames: list[np.ndarray], workdir: Path, n: int = 100) -> list[float]:
    """From the frame that completes a rule (intrusion) to the alarm stored (and forwarded)."""
    from datetime import timedelta

    from zhikong.core.config import Settings
    from zhikong.core.db import make_engine, unit_of_work
    from zhikong.core.migrate import upgrade
    from zhikong.core.time import utcnow
    from zhikong.video.rules import RuleEngine
    from zhikong.video.schemas import CameraIn, parse_rules
    from zhikong.video.service import StoringSink, register_camera

    os.environ["ZHIKONG_DATA_DIR"] = str(workdir)
    os.environ.setdefault("ZHIKONG_SECRET_KEY", "bench-secret-key-0123456789")
    settings = Settings()
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    rules = {"frame_width": 768, "frame_height": 432,
             "zones": [{"name": "all", "polygon": [[0, 0], [768, 0], [768, 432], [0, 432], [0, 0]],
                        "intrusion": True, "intrusion_release_seconds": 0}]}
    with unit_of_work(engine) as s:
        register_camera(s, CameraIn(code="bench", name="bench", stream_url="x.mp4", rules=rules))
    det = SsdLitePersonDetector(workdir / "models")
    sink = StoringSink(engine, settings.data_dir)
    eng = RuleEngine("bench", parse_rules("bench", rules))
    with_person = [f for f in frames[300:700:4] if det.detect(f)][:20]
    blank = np.full_like(frames[0], 255)
    t0 = utcnow()
    for i in range(n):
        eng.update(t0 + timedelta(seconds=2 * i), [], blank)  # release the previous gathering
        clock = time.perf_counter()
        frame = with_person[i % len(with_person)]
        boxes = det.detect(frame)
        for a in eng.update(t0 + timedelta(seconds=2 * i + 1), boxes, frame, frame_clock=clock):
            sink.deliver(a)
    engine.dispose()
    return [x.seconds for x in sink.latencies]


def box_difference(a: dict[int, list[Box]], b: dict[int, list[Box]]) -> tuple[int, float]:
    """Frames whose person count differs, and the largest coordinate difference (pixels) else."""
    frames, worst = 0, 0.0
    for f in a:
        if len(a[f]) != len(b[f]):
            frames += 1
            continue
        for x, y in zip(sorted(a[f], key=lambda r: (r.x1, r.y1)), sorted(b[f], key=lambda r: (r.x1, r.y1)),
                        strict=True):
            worst = max(worst, abs(x.x1 - y.x1), abs(x.y1 - y.y1), abs(x.x2 - y.x2), abs(x.y2 - y.y2))
    return frames, worst


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cameras", type=int, default=20,
                    help="cameras in the sustained run (the goal: 20 per core)")
    ap.add_argument("--seconds", type=float, default=60.0, help="wall-clock seconds of each sustained run")
    ap.add_argument("--core", type=int, default=0, help="the one core the benchmark is pinned to")
    args = ap.parse_args()
    import cv2

    from zhikong.video.ov_runtime import import_openvino, openvino_installed

    os.sched_setaffinity(0, {args.core})
    cv2.setNumThreads(1)
    runtimes = ["openvino", "opencv"] if openvino_installed() else ["opencv"]
    ov_version = import_openvino().get_version() if openvino_installed() else "not installed"
    sample = find_sample()
    frames = read_frames(sample)
    print(f"machine: {os.cpu_count()} cores, pinned to core {args.core}, OpenCV {cv2.__version__} and "
          f"OpenVINO {ov_version} on 1 thread each; load average {os.getloadavg()[0]:.1f} "
          f"(shared with other jobs: wall times suffer)")
    wanted = {f for f, _ in labels()}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        modes = {}
        for runtime in runtimes:
            default = " (default)" if runtime == runtimes[0] else ""
            modes[f"{runtime} 2x1 tiles{default}"] = ("auto", runtime)
        for runtime in runtimes:
            modes[f"{runtime} whole frame"] = (None, runtime)
        rows = []
        found: dict[str, dict[int, list[Box]]] = {}
        for name, (tiles, runtime) in modes.items():
            det = SsdLitePersonDetector(work / "models", tiles=tiles, runtime=runtime)
            ms, cpu = time_detector(det, frames)
            found[name] = {f: det.detect(frames[f]) for f in wanted}
            rows.append((name, ms, cpu, mae({f: len(b) for f, b in found[name].items()})))
        # the peer needs the frames in order (background model): time it over a continuous run
        peer = Mog2Counter()
        t, c = time.perf_counter(), time.process_time()
        peer_counts = {}
        for i, f in enumerate(frames):
            boxes = peer.detect(f)
            if i in wanted:
                peer_counts[i] = len(boxes)
        rows.append(("peer: MOG2 blobs", (time.perf_counter() - t) / len(frames) * 1000,
                     (time.process_time() - c) / len(frames) * 1000, mae(peer_counts)))
        print(f"\nload average {os.getloadavg()[0]:.1f}; sustained run: {args.cameras} file cameras "
              f"(each decoding the sample in real time, 10 fps) at 1 fps on core {args.core} for "
              f"{args.seconds:.0f} s per runtime")
        runs = {}
        for name, (tiles, runtime) in modes.items():
            if tiles == "auto":
                runs[name] = sustained(sample, args.cameras, args.seconds, work, tiles, runtime)
        print(f"\nmode                          detector wall ms  CPU ms/frame  cameras/core (CPU)  "
              f"count MAE | sustained {args.cameras} cams: processed/due  late  dropped  lag p50/p95/max s  "
              f"CPU ms/frame incl. decode  kept up")
        for name, ms, cpu, m in rows:
            line = f"{name:<30}{ms:>16.1f}  {cpu:>12.1f}  {1000 / cpu:>18.1f}  {m:>9.3f}"
            r = runs.get(name)
            if r is not None:
                line += (f" | {r.processed:>6}/{r.due:<6}  {r.late:>4}  {r.dropped:>7}  "
                         f"{r.lag_p50:.2f}/{r.lag_p95:.2f}/{r.lag_max:.2f}  {r.cpu_ms_per_frame:>24.1f}  "
                         f"{'yes' if r.kept_up else 'NO'}")
            print(line)
        by = {name: (cpu, m) for name, _ms, cpu, m in rows}
        tiled = [n for n in modes if modes[n][0] == "auto"]
        plain = [n for n in modes if modes[n][0] is None]
        default, peer_row = by[tiled[0]], by["peer: MOG2 blobs"]
        if len(runtimes) == 2:
            for a, b in ((tiled[0], tiled[1]), (plain[0], plain[1])):
                diff_frames, worst = box_difference(found[a], found[b])
                print(f"{a} vs {b}: CPU ms {by[a][0] / by[b][0]:.2f}x ({by[b][0] / by[a][0]:.2f}x faster), "
                      f"MAE {by[a][1]:.3f} vs {by[b][1]:.3f}; boxes on the {len(wanted)} labelled frames: "
                      f"{diff_frames} frames with another count, "
                      f"largest coordinate difference {worst:.4f} px")
        print(f"ratio default/whole-frame CPU ms: {default[0] / by[plain[0]][0]:.2f}x, "
              f"MAE whole-frame/default: {by[plain[0]][1] / max(default[1], 1e-9):.1f}x; "
              f"default/peer CPU ms: {default[0] / peer_row[0]:.0f}x, "
              f"MAE peer/default: {peer_row[1] / max(default[1], 1e-9):.1f}x")
        lats = latency(frames, work / "lat")
        if lats:
            q = statistics.quantiles(lats, n=20)
            print(f"\nalarm latency (frame read → detected → rule → snapshot → stored + alert intake, "
                  f"{runtimes[0]}), {len(lats)} alarms: median {statistics.median(lats) * 1000:.0f} ms, "
                  f"p95 {q[18] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
