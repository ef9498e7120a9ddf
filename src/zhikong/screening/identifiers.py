"""Lenient normalisation of the identifiers incoming lists carry, for linkage.

Lists are noisy: an ID number may have a typo (bad checksum), a lower-case ``x``, full-width
digits or spaces; a phone may carry ``+86`` or dashes. Linkage needs the *best reading* of the
value plus whether it is valid, so these functions never raise: they return ``None`` when nothing
usable is left. (The ledger's strict validators live in ``zhikong.people``.)

>>> normalise_id_number(" 11010519491231002x ")
'11010519491231002X'
>>> normalise_id_number("110105491231002")  # 15-digit form
'11010519491231002X'
>>> id_checksum_ok("11010519491231002X")
True
>>> normalise_phone("+86 138-0013-8000")
'13800138000'
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_ID_CHARS = re.compile(r"[^0-9X]")


def normalise_id_number(raw: object) -> str | None:
    """Upper-case digits-and-X form of an ID number (any length), or ``None`` when empty."""
    if raw is None:
        return None
    text = unicodedata.normalize("NFKC", str(raw)).upper().replace("×", "X")
    text = _ID_CHARS.sub("", text)
    if len(text) == 15 and text.isdigit():  # first-generation number: 19 + yymmdd, no check digit
        first17 = text[:6] + "19" + text[6:]
        text = first17 + _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]
    return text or None


def id_checksum_ok(value: str) -> bool:
    """GB 11643 check digit of an 18-character ID number."""
    if len(value) != 18 or not value[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _WEIGHTS, strict=True))
    return _CHECK[total % 11] == value[17]


def id_birth_date(value: str | None) -> str | None:
    """``YYYY-MM-DD`` birth date encoded in an 18-character ID number, if it is a real date."""
    if value is None or len(value) != 18 or not value[6:14].isdigit():
        return None
    try:
        return date(int(value[6:10]), int(value[10:12]), int(value[12:14])).isoformat()
    except ValueError:
        return None


def id_valid(value: str | None) -> bool:
    """18 characters, a real birth date and a correct check digit."""
    return value is not None and id_checksum_ok(value) and id_birth_date(value) is not None


def normalise_phone(raw: object) -> str | None:
    """The 11-digit national form of a mainland mobile number (``+86``/``0086`` dropped);
    other digit strings are returned as they are, empty ones as ``None``."""
    if raw is None:
        return None
    text = unicodedata.normalize("NFKC", str(raw))
    if "*" in text or "×" in text:  # masked (138****8000): not a number
        return None
    digits = re.sub(r"\D", "", text)
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits or None


def phone_e164(national: str | None) -> str | None:
    """E.164 form (the lake's pseudonym input) of an 11-digit mobile number."""
    if national is None or len(national) != 11 or not national.startswith("1"):
        return None
    return "+86" + national


def normalise_date(raw: object) -> str | None:
    """``YYYY-MM-DD`` from ``1990-01-02``, ``1990/1/2``, ``19900102`` or a date; else ``None``."""
    if raw is None:
        return None
    if isinstance(raw, date):
        return raw.isoformat()
    text = unicodedata.normalize("NFKC", str(raw)).strip()
    m = re.fullmatch(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T].*)?", text)
    if m is None:
        m = re.fullmatch(r"(\d{4})(\d{2})(\d{2})", text)
    if m is None:
        return None
    try:
        return date(int(m[1]), int(m[2]), int(m[3])).isoformat()
    except ValueError:
        return None


_MASKED = re.compile(r"^\s*(1\d{2})[*×xX]{4}(\d{4})\s*$")


def phone_mask_key(raw: object) -> str | None:
    """First 3 + last 4 digits of a mobile number, from the full or the masked form.

    >>> phone_mask_key("138****8000"), phone_mask_key("13800138000")
    ('1388000', '1388000')
    """
    if raw is None:
        return None
    text = unicodedata.normalize("NFKC", str(raw))
    m = _MASKED.match(text)
    if m:
        return m[1] + m[2]
    full = normalise_phone(text)
    if full is None or len(full) != 11:
        return None
    return full[:3] + full[-4:]
