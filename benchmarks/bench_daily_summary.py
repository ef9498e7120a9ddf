"""District daily summary PDF: render time on the Banan demo database (goal ≤ 10 s).

Usage: ``ZHIKONG_DATA_DIR=<data dir> PYTHONPATH=src python benchmarks/bench_daily_summary.py
[--day YYYY-MM-DD] [--runs 5] [--png out.png]``. Measures, in the same run: gathering + rendering the
summary PDF, and as the peer the day view of the town daily report gathered and exported to Excel
(the other per-day export). Prints medians and the ratio. With ``--png`` it converts page 1 with
``pdftoppm`` (Debian poppler-utils).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from datetime import date
from pathlib import Path

from zhikong.core.db import unit_of_work
from zhikong.core.time import local_day, utcnow
from zhikong.reporting import excel, pdf
from zhikong.reporting.summary import build_summary


def _time(fn: object, runs: int) -> tuple[float, list[float]]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append(time.perf_counter() - t0)
    return statistics.median(out), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--day", default=None)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--png", type=Path, default=None)
    args = ap.parse_args()
    day = date.fromisoformat(args.day) if args.day else local_day(utcnow())
    last: dict[str, bytes] = {}

    def summary() -> None:
        with unit_of_work() as s:
            last["pdf"] = pdf.summary_pdf(build_summary(s, day))

    def peer() -> None:
        with unit_of_work() as s:
            last["xlsx"] = excel.export_day(s, "town_daily", day)

    summary()  # warm-up: font registration, imports
    peer()
    med, runs = _time(summary, args.runs)
    pmed, pruns = _time(peer, args.runs)
    print(
        f"day {day}: summary PDF {len(last['pdf']) // 1024} KiB, median {med * 1000:.0f} ms "
        f"(runs {', '.join(f'{r * 1000:.0f}' for r in runs)} ms; goal 10000 ms)"
    )
    print(
        f"peer town_daily Excel export: median {pmed * 1000:.0f} ms "
        f"(runs {', '.join(f'{r * 1000:.0f}' for r in pruns)} ms); ratio {med / pmed:.1f}x"
    )
    if args.png:
        tool = shutil.which("pdftoppm")
        if tool is None:
            print("pdftoppm missing: apt-get install -y poppler-utils")
            return
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "summary.pdf"
            src.write_bytes(last["pdf"])
            subprocess.run(
                [
                    tool,
                    "-r",
                    "90",
                    "-png",
                    "-f",
                    "1",
                    "-l",
                    "1",
                    "-singlefile",
                    str(src),
                    str(args.png.with_suffix("")),
                ],
                check=True,
            )
        print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
