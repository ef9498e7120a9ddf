from __future__ import annotations

from zhikong.cli import main

main()
