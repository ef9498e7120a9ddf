from __future__ import annotations

from zhikong.cli import main

if __name__ == "__main__":
    main()
