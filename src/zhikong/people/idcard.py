"""Citizen identity numbers (公民身份号码) after GB 11643-1999.

An 18-character number is ``RRRRRR YYYYMMDD SSS C``: a 6-digit administrative region code (GB/T 2260,
the place of first registration), the birth date, a 3-digit sequence whose last digit is odd for
men and even for women, and a check character computed with ISO 7064 MOD 11-2 (``0``–``9`` or
``X`` for 10). First-generation cards carried 15 digits (``RRRRRR YYMMDD SSS``, century 19xx and no
check character); :func:`normalise` upgrades them to 18.

Examples
--------
>>> parse("11010519491231002X").birth_date
datetime.date(1949, 12, 31)
>>> normalise(" 11010519491231002x ")
'11010519491231002X'
>>> check_char("36042619910101007")
'1'
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from operator import mul

from zhikong.core.errors import InvalidInput
from zhikong.core.time import CHINA_TZ, utcnow

#: weights W_i = 2^(17-i) mod 11 of positions 1..17
WEIGHTS: tuple[int, ...] = tuple(pow(2, 17 - i, 11) for i in range(17))
#: check character by (sum of weighted digits) mod 11
_CHECK = "10X98765432"
_OFFSET = 48 * sum(WEIGHTS)

#: 2-digit province-level prefixes in use (GB/T 2260), plus 83 (Taiwan residents' residence permits)
PROVINCES: dict[str, str] = {
    "11": "北京", "12": "天津", "13": "河北", "14": "山西", "15": "内蒙古",
    "21": "辽宁", "22": "吉林", "23": "黑龙江",
    "31": "上海", "32": "江苏", "33": "浙江", "34": "安徽", "35": "福建", "36": "江西", "37": "山东",
    "41": "河南", "42": "湖北", "43": "湖南", "44": "广东", "45": "广西", "46": "海南",
    "50": "重庆", "51": "四川", "52": "贵州", "53": "云南", "54": "西藏",
    "61": "陕西", "62": "甘肃", "63": "青海", "64": "宁夏", "65": "新疆",
    "71": "台湾", "81": "香港", "82": "澳门", "83": "台湾居民",
}

_WS = re.compile(r"\s+")
_RE18 = re.compile(r"[0-9]{17}[0-9X]")
_RE15 = re.compile(r"[0-9]{15}")
_FIELD = "id_number"


@dataclass(frozen=True, slots=True)
class IdNumber:
    """A validated 18-character citizen ID number and what it says."""

    number: str
    region: str
    birth_date: date
    sex: str  # "male" | "female" (the values of people.models.Sex)

    @property
    def province(self) -> str:
        return PROVINCES[self.region[:2]]

    def __str__(self) -> str:
        return self.number


def check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 17 digits."""
    if len(first17) != 17:
        raise ValueError("check_char needs exactly 17 digits")
    # sum(w * (c - 48)) over the ASCII codes c, computed in C by map/sum
    return _CHECK[(sum(map(mul, WEIGHTS, first17.encode())) - _OFFSET) % 11]


def _fold(raw: str) -> str:
    s = raw if raw.isascii() else unicodedata.normalize("NFKC", raw)
    return _WS.sub("", s).upper()


def _bad(msg: str, raw: str) -> InvalidInput:
    return InvalidInput(f"身份证号 {raw.strip()!r} 无效 / invalid ID number: {msg}", field=_FIELD)


def _birth(s: str, raw: str, today: date | None) -> date:
    try:
        born = date(int(s[0:4]), int(s[4:6]), int(s[6:8]))
    except ValueError:
        raise _bad(f"出生日期 {s} 不存在 / birth date {s} does not exist", raw) from None
    limit = today or utcnow().astimezone(CHINA_TZ).date()
    if born > limit:
        raise _bad(f"出生日期 {born.isoformat()} 在未来 / birth date is in the future", raw)
    if born.year < 1890:
        raise _bad(f"出生日期 {born.isoformat()} 不合理 / birth date is implausibly early", raw)
    return born


def parse(raw: str, *, today: date | None = None) -> IdNumber:
    """Validate ``raw`` and return the 18-character number with its region, birth date and sex.

    Accepts surrounding/inner whitespace, full-width digits and a lower-case ``x``; upgrades 15-digit
    numbers. Raises :class:`InvalidInput` (field ``id_number``) saying what is wrong.
    """
    if raw is None or not str(raw).strip():
        raise InvalidInput("身份证号为空 / ID number is empty", field=_FIELD)
    s = _fold(str(raw))
    if len(s) == 15:
        if not _RE15.fullmatch(s):
            raise _bad("15 位旧号码只能由数字组成 / a 15-digit number must be all digits", raw)
        born = _birth("19" + s[6:12], raw, today)
        first17 = s[:6] + "19" + s[6:]
        s = first17 + check_char(first17)
    elif len(s) == 18:
        if not _RE18.fullmatch(s):
            raise _bad("前 17 位须为数字，末位为数字或 X / expected 17 digits and a digit or X", raw)
        born = _birth(s[6:14], raw, today)
        expected = check_char(s[:17])
        if s[17] != expected:
            raise _bad(f"校验码错误，应为 {expected} / check digit is {s[17]}, expected {expected}", raw)
    else:
        raise _bad(f"长度 {len(s)}，应为 18 位（或 15 位旧号码）/ length {len(s)}, expected 18 (or 15)",
                   raw)
    region = s[:6]
    if region[:2] not in PROVINCES:
        raise _bad(f"地区码 {region} 的省级代码 {region[:2]} 不存在 / unknown province code {region[:2]}",
                   raw)
    if region[2:] == "0000" and region[:2] not in ("71", "81", "82", "83"):
        raise _bad(f"地区码 {region} 不是县级代码 / region {region} is not a county-level code", raw)
    sex = "male" if (ord(s[16]) - 48) % 2 == 1 else "female"
    return IdNumber(number=s, region=region, birth_date=born, sex=sex)


def normalise(raw: str, *, today: date | None = None) -> str:
    """The validated 18-character upper-case form of ``raw`` (raises :class:`InvalidInput`)."""
    return parse(raw, today=today).number


def is_valid(raw: str, *, today: date | None = None) -> bool:
    try:
        parse(raw, today=today)
    except InvalidInput:
        return False
    return True


def upgrade15(old: str) -> str:
    """Upgrade a 15-digit first-generation number to its 18-character form (century 19xx)."""
    s = _fold(old)
    if not _RE15.fullmatch(s):
        raise _bad("不是 15 位旧号码 / not a 15-digit number", old)
    return normalise(s)


def downgrade18(number: str) -> str:
    """The 15-digit form of an 18-character number of someone born in 19xx (for old systems)."""
    s = normalise(number)
    if s[6:8] != "19":
        raise _bad("只有 19xx 年出生的号码有 15 位形式 / only 19xx births have a 15-digit form", number)
    return s[:6] + s[8:17]


def make_id_number(region: str, birth_date: date, sequence: int, sex: str) -> str:
    """Build a valid 18-character number (for generators and tests).

    ``sequence`` (0..499) picks the order code: the 3-digit code is ``2*sequence + 1`` for men and
    ``2*sequence`` for women (``sex`` is ``male``/``female`` or ``男``/``女``).
    """
    if len(region) != 6 or not region.isdigit():
        raise InvalidInput(f"region code {region!r} must be 6 digits", field="region")
    if not 0 <= sequence < 500:
        raise InvalidInput(f"sequence {sequence} must be in 0..499", field="sequence")
    if sex in ("male", "男", "m", "M"):
        order = 2 * sequence + 1
    elif sex in ("female", "女", "f", "F"):
        order = 2 * sequence
    else:
        raise InvalidInput(f"sex {sex!r} must be male or female", field="sex")
    first17 = f"{region}{birth_date:%Y%m%d}{order:03d}"
    return first17 + check_char(first17)
