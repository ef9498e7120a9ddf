"""Video benchmark: detector ms/frame, cameras sustained at 1 fps per core, alarm latency p95.

Peer measured in the same run: OpenCV's MOG2 background subtractor with a blob counter (the
classic cheap people counter; OpenCV 5 no longer ships the HOG people detector).

    PYTHONPATH=src python benchmarks/bench_video.py [--cameras 40] [--seconds 20]

Needs the sample footage in ``../shared/data/video`` beside the repository.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
import time
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


def time_detector(det: object, frames: list[np.ndarray], n: int = 60) -> float:
    step = max(1, len(frames) // n)
    picked = frames[::step][:n]
    det.detect(picked[0])  # type: ignore[attr-defined]
    t = time.perf_counter()
    for f in picked:
        det.detect(f)  # type: ignore[attr-defined]
    return (time.perf_counter() - t) / len(picked) * 1000


def mae(counts: dict[int, int]) -> float:
    return float(np.mean([abs(counts[f] - n) for f, n in labels()]))


def sustained(sample: Path, cameras: int, seconds: float, workdir: Path) -> tuple[float, float]:
    """Run ``cameras`` file cameras (played in real time) at 1 fps; returns (fps per camera, min)."""
    from zhikong.video.alarms import RecordingSink
    from zhikong.video.stream import CameraSpec, DetectorPool, Supervisor

    cores = os.cpu_count() or 1
    pool = DetectorPool(lambda: SsdLitePersonDetector(workdir / "models"), cores)
    specs = [CameraSpec(f"cam-{i:03d}", str(sample)) for i in range(cameras)]
    sup = Supervisor(specs, pool, RecordingSink(), fps=1.0, offline_after_s=60.0)
    sup.start()
    time.sleep(3.0)  # opening
    before = {k: h.frames for k, h in sup.health().items()}
    t = time.perf_counter()
    time.sleep(seconds)
    after = {k: h.frames for k, h in sup.health().items()}
    elapsed = time.perf_counter() - t
    sup.stop()
    rates = [(after[k] - before[k]) / elapsed for k in after]
    return statistics.mean(rates), min(rates)


def latency(frames: list[np.ndarray], workdir: Path, n: int = 100) -> list[float]:
    """From the frame that completes a crowd rule to the alarm stored (and forwarded)."""
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
                        "crowd": {"min_people": 1, "min_seconds": 0, "release_seconds": 0}}]}
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cameras", type=int, default=0, help="cameras for the sustained run (0 = 20 per core)")
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    import cv2

    sample = find_sample()
    frames = read_frames(sample)
    cores = os.cpu_count() or 1
    print(f"machine: {cores} cores, load average {os.getloadavg()[0]:.1f} (shared with other jobs)")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cv2.setNumThreads(1)  # per-core figures
        ssd_plain = SsdLitePersonDetector(work / "models", tiles=None)
        ssd_tiled = SsdLitePersonDetector(work / "models", tiles="auto")
        peer = Mog2Counter()
        ms_plain = time_detector(ssd_plain, frames)
        ms_tiled = time_detector(ssd_tiled, frames)
        # the peer needs the frames in order (background model): time it over a continuous run
        t = time.perf_counter()
        peer_counts = {}
        wanted = {f for f, _ in labels()}
        for i, f in enumerate(frames):
            boxes = peer.detect(f)
            if i in wanted:
                peer_counts[i] = len(boxes)
        ms_peer = (time.perf_counter() - t) / len(frames) * 1000
        ssd_counts = {f: len(ssd_tiled.detect(frames[f])) for f in wanted}
        plain_counts = {f: len(ssd_plain.detect(frames[f])) for f in wanted}
        print("\ndetector (1 thread)          ms/frame  cameras/core@1fps  count MAE (40 labelled frames)")
        for name, ms, m in [("ssdlite + 2x1 tiles (default)", ms_tiled, mae(ssd_counts)),
                            ("ssdlite whole frame", ms_plain, mae(plain_counts)),
                            ("peer: MOG2 blobs", ms_peer, mae(peer_counts))]:
            print(f"{name:<29}{ms:>8.1f}  {1000 / ms:>17.1f}  {m:>8.3f}")
        print(f"ratio ssdlite(default)/peer ms: {ms_tiled / ms_peer:.1f}x; "
              f"MAE peer/ssdlite: {mae(peer_counts) / max(mae(ssd_counts), 1e-9):.1f}x")
        cv2.setNumThreads(0)
        n_cams = args.cameras or 20 * cores
        mean_fps, min_fps = sustained(sample, n_cams, args.seconds, work)
        print(f"\nsustained: {n_cams} file cameras (decoded in real time at 10 fps) for {args.seconds:.0f} s "
              f"at 1 fps on {cores} cores: mean {mean_fps:.2f} fps/camera, slowest {min_fps:.2f} "
              f"→ {n_cams * min(1.0, mean_fps) / cores:.1f} cameras per core")
        lats = latency(frames, work / "lat")
        if lats:
            q = statistics.quantiles(lats, n=20)
            print(f"\nalarm latency (frame read → detected → rule → snapshot → stored + alert intake), "
                  f"{len(lats)} alarms: median {statistics.median(lats) * 1000:.0f} ms, "
                  f"p95 {q[18] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
