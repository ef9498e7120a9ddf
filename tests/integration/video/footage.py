"""The real sample footage beside the repository (``../shared/data/video``), never committed."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
#: ``shared/`` sits beside the repository (a worktree under ``wt/`` looks one level further up)
VIDEO_DIR = next(
    (p / "shared" / "data" / "video" for p in (REPO.parent, REPO.parent.parent) if (p / "shared").is_dir()),
    REPO.parent / "shared" / "data" / "video",
)
SAMPLE = VIDEO_DIR / "one-by-one-person-detection.mp4"
LABELS = REPO / "tests" / "data" / "video" / "labels.csv"


def require_sample() -> Path:
    if not SAMPLE.is_file():
        pytest.skip(f"sample footage {SAMPLE} is absent (it lives in shared/data/video beside the repo)")
    return SAMPLE


def labels() -> list[tuple[int, int]]:
    with LABELS.open() as fh:
        return [(int(r["frame"]), int(r["count"])) for r in csv.DictReader(fh)]
