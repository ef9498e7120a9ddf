"""Image attachments: validated by magic bytes and size, stored content-addressed on disk."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from zhikong.core.config import get_settings
from zhikong.core.errors import InvalidInput

_MAGIC: list[tuple[bytes, str, str]] = [
    (b"\xff\xd8\xff", "jpg", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png", "image/png"),
]


def validate_image(data: bytes, field: str = "file") -> tuple[str, str]:
    """``(extension, content type)`` of a JPEG or PNG; ``InvalidInput`` for anything else."""
    limit = get_settings().attachment_max_bytes
    if not data:
        raise InvalidInput("the file is empty", field=field)
    if len(data) > limit:
        raise InvalidInput(f"the file has {len(data)} bytes; at most {limit} are accepted", field=field)
    for magic, ext, ctype in _MAGIC:
        if data.startswith(magic):
            return ext, ctype
    raise InvalidInput("only JPEG or PNG images are accepted (checked by content, not by name)", field=field)


def store_image(data: bytes, subdir: str, field: str = "file") -> tuple[str, str, str]:
    """Validate and store ``data``; returns ``(relative path, content type, sha256)``."""
    ext, ctype = validate_image(data, field)
    digest = hashlib.sha256(data).hexdigest()
    rel = Path("attachments") / subdir / f"{digest}.{ext}"
    target = get_settings().data_dir / rel
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".tmp{os.getpid()}-{threading.get_ident()}")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    return rel.as_posix(), ctype, digest


def read_stored(rel_path: str) -> bytes:
    return (get_settings().data_dir / rel_path).read_bytes()
