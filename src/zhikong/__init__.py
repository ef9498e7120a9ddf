"""zhikong (智控): an epidemic prevention and control command platform for a Chinese district.

The public API is re-exported here; everything else is private to its domain package.
"""

from __future__ import annotations

from zhikong.core.errors import (
    Conflict,
    EngineError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    ZhikongError,
)

__version__ = "0.1.0"

__all__ = [
    "Conflict",
    "EngineError",
    "InvalidInput",
    "NotFound",
    "PermissionDenied",
    "ZhikongError",
    "__version__",
]
