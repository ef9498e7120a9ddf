"""Chinese mobile numbers, normalised to E.164 (``+8613800138000``).

Accepted spellings: ``13800138000``, ``138 0013 8000``, ``138-0013-8000``, ``+86 138…``, ``+86-138…``,
``0086…``, ``86…`` (11 digits after it), full-width digits. Landlines, service numbers and numbers
outside the mobile ranges are rejected with a message saying which. Validity comes from the
``phonenumbers`` metadata (libphonenumber's China mobile pattern), applied directly for speed; the
full ``phonenumbers`` parser is only used to explain a rejection.

Examples
--------
>>> normalise("138 0013 8000")
'+8613800138000'
>>> mask("+8613800138000")
'138****8000'
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import phonenumbers

from zhikong.core.errors import InvalidInput

_FIELD = "phone"
_SEPARATORS = re.compile(r"[\s\-().·]+")
_PREFIX = re.compile(r"^(?:\+86|0086|86(?=\d{11}$))")


@lru_cache(maxsize=1)
def _mobile_pattern() -> re.Pattern[str]:
    meta = phonenumbers.PhoneMetadata.metadata_for_region("CN")
    if meta is None or meta.mobile is None or meta.mobile.national_number_pattern is None:
        raise RuntimeError("phonenumbers has no metadata for CN mobile numbers")
    return re.compile(meta.mobile.national_number_pattern)


def _bad(msg: str, raw: str) -> InvalidInput:
    return InvalidInput(f"手机号 {raw.strip()!r} 无效 / invalid mobile number: {msg}", field=_FIELD)


def _explain(raw: str, digits: str) -> InvalidInput:
    try:
        num = phonenumbers.parse(digits if digits.startswith("+") else raw, "CN")
    except phonenumbers.NumberParseException:
        return _bad("无法识别为电话号码 / not a phone number", raw)
    if num.country_code != 86:
        return _bad(f"不是中国号码（国家码 +{num.country_code}）/ not a Chinese number", raw)
    if phonenumbers.is_valid_number(num):
        kind = phonenumbers.number_type(num)
        if kind == phonenumbers.PhoneNumberType.FIXED_LINE:
            return _bad("这是固定电话，不是手机号 / this is a landline, not a mobile number", raw)
        return _bad("不是手机号 / not a mobile number", raw)
    nsn = phonenumbers.national_significant_number(num)
    if nsn.startswith("1") and len(nsn) != 11:
        return _bad(f"手机号应为 11 位，实为 {len(nsn)} 位 / expected 11 digits, got {len(nsn)}", raw)
    return _bad("号段不存在 / not in any mobile number range", raw)


def national(raw: str) -> str:
    """The 11-digit national number of a valid mobile number (raises :class:`InvalidInput`)."""
    if raw is None or not str(raw).strip():
        raise InvalidInput("手机号为空 / phone number is empty", field=_FIELD)
    s = str(raw)
    if not s.isascii():
        s = unicodedata.normalize("NFKC", s)
    s = _SEPARATORS.sub("", s)
    nsn = _PREFIX.sub("", s, count=1)
    if len(nsn) == 11 and nsn.isdigit() and _mobile_pattern().fullmatch(nsn):
        return nsn
    raise _explain(str(raw), s)


def normalise(raw: str) -> str:
    """E.164 form ``+86XXXXXXXXXXX`` of a Chinese mobile number (raises :class:`InvalidInput`)."""
    return "+86" + national(raw)


def is_valid(raw: str) -> bool:
    try:
        national(raw)
    except InvalidInput:
        return False
    return True


def mask(e164_or_national: str) -> str:
    """``138****8000``: the first 3 and last 4 digits of the national number."""
    n = e164_or_national[3:] if e164_or_national.startswith("+86") else e164_or_national
    return n[:3] + "*" * (len(n) - 7) + n[-4:]
