"""Image validation by content and size."""

from __future__ import annotations

import pytest

from zhikong.core.config import Settings, get_settings
from zhikong.core.errors import InvalidInput
from zhikong.tasks.files import store_image, validate_image

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 100
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100


def test_accepts_jpeg_and_png(settings: Settings) -> None:
    assert validate_image(JPEG) == ("jpg", "image/jpeg")
    assert validate_image(PNG) == ("png", "image/png")
    rel, ctype, digest = store_image(PNG, "tasks/1")
    assert ctype == "image/png" and rel.endswith(f"{digest}.png")
    assert (settings.data_dir / rel).read_bytes() == PNG


@pytest.mark.parametrize("data", [b"", b"GIF89a" + b"\0" * 10, b"%PDF-1.4", b"<svg></svg>", b"\xff\xd8"])
def test_rejects_other_content(settings: Settings, data: bytes) -> None:
    with pytest.raises(InvalidInput) as e:
        validate_image(data, field="photo")
    assert e.value.field == "photo"


def test_rejects_oversized(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZHIKONG_ATTACHMENT_MAX_BYTES", "2048")
    get_settings.cache_clear()
    validate_image(PNG)
    with pytest.raises(InvalidInput, match="at most 2048"):
        validate_image(PNG + b"\0" * 2048)
    get_settings.cache_clear()
