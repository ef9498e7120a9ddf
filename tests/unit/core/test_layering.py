"""Heavy optional dependencies never load at module level in core, tracing or screening."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[3] / "src" / "zhikong"
FORBIDDEN = re.compile(r"^(import|from)\s+(pyspark|cv2)\b", re.MULTILINE)
FRAMEWORKS = re.compile(r"^(import|from)\s+(fastapi|typer|starlette)\b", re.MULTILINE)


def test_no_module_level_heavy_imports() -> None:
    bad = [str(p) for pkg in ("core", "tracing", "screening", "engine") if (SRC / pkg).exists()
           for p in (SRC / pkg).rglob("*.py") if FORBIDDEN.search(p.read_text())
           and "backends/spark" not in p.as_posix()]
    assert bad == []


def test_services_import_no_framework() -> None:
    bad = [str(p) for p in SRC.rglob("service.py") if FRAMEWORKS.search(p.read_text())]
    assert bad == []
