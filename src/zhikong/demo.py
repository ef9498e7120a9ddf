"""The main job on the embedded defaults (``zhikong demo``), made of steps that domains contribute.

Each step is ``zhikong.<domain>.demo.step(ctx)``; a domain without a ``demo`` module is skipped.
Steps run in ``STEPS`` order and share a ``DemoContext``; each prints what it did.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from rich.console import Console

#: the order in which domains contribute to the demo
STEPS = ["core", "geo", "people", "sim", "lake", "auth", "tasks", "alerts", "tracing", "screening",
         "facilities", "video", "enterprise", "reporting", "web"]


@dataclass
class DemoContext:
    console: Console
    people: int = 5000
    days: int = 14
    seed: int = 20200301
    serve: bool = True
    #: the world's first day (None: it ends yesterday, local time)
    start: date | None = None
    data: dict[str, Any] = field(default_factory=dict)


def run(ctx: DemoContext) -> None:
    for name in STEPS:
        try:
            module = importlib.import_module(f"zhikong.{name}.demo")
        except ModuleNotFoundError as e:
            if e.name == f"zhikong.{name}.demo":
                continue
            raise
        ctx.console.rule(f"[bold]{name}")
        module.step(ctx)
