"""Chinese names for record linkage: cleaning, surname-aware pinyin and fuzzy pinyin.

Pinyin of a name is computed with pypinyin, but the surname is read first from a table of
compound surnames (尉迟 yuchi, 欧阳 ouyang …) and of polyphonic surnames that pypinyin reads with
their everyday reading (单 dan → shan, 曾 ceng → zeng, 解 jie → xie, 仇 chou → qiu, 区 qu → ou, 朴 pu →
piao, 查 cha → zha, 盖 gai → ge, 覃 tan → qin …).

Fuzzy pinyin folds the confusions of south-western and southern Mandarin speakers and of clerks
typing by ear: initials zh/z, ch/c, sh/s, n/l, h/f (with hua-/fa-, hui/fei) and finals an/ang,
en/eng, in/ing.

>>> name_pinyin("单雄信")
'shan xiong xin'
>>> fuzzy_pinyin("shan xiong xin")
'san xion xin'
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from pypinyin import Style, lazy_pinyin

#: compound surnames (复姓) and their readings
COMPOUND_SURNAMES: dict[str, str] = {
    "尉迟": "yu chi", "欧阳": "ou yang", "司马": "si ma", "上官": "shang guan", "诸葛": "zhu ge",
    "长孙": "zhang sun", "令狐": "ling hu", "单于": "chan yu", "万俟": "mo qi", "皇甫": "huang fu",
    "慕容": "mu rong", "司徒": "si tu", "夏侯": "xia hou", "东方": "dong fang", "公孙": "gong sun",
    "澹台": "tan tai", "宇文": "yu wen", "轩辕": "xuan yuan", "端木": "duan mu", "南宫": "nan gong",
}

#: single-character surnames whose surname reading differs from pypinyin's default reading
POLYPHONIC_SURNAMES: dict[str, str] = {
    "单": "shan", "曾": "zeng", "解": "xie", "仇": "qiu", "区": "ou", "朴": "piao", "查": "zha",
    "盖": "ge", "覃": "qin", "尉": "wei", "乐": "yue", "缪": "miao", "种": "chong", "繁": "po",
    "召": "shao", "翟": "zhai", "员": "yun", "秘": "bi", "过": "guo", "华": "hua", "任": "ren",
    "纪": "ji", "沈": "shen", "重": "chong", "长": "chang", "朝": "chao", "柏": "bai", "薄": "bo",
    "贲": "ben", "藏": "zang", "句": "gou", "阚": "kan", "蕃": "pi", "眭": "sui", "冼": "xian",
    "洗": "xian", "隗": "wei", "莘": "shen", "折": "she", "祭": "zhai", "相": "xiang", "都": "du",
    "万": "wan", "行": "xing", "宿": "su", "能": "nai", "要": "yao", "殷": "yin", "石": "shi",
}

_KEEP = re.compile(r"[\u3400-\u9fff\uf900-\ufaffA-Za-z]")
_INITIALS = ("zh", "ch", "sh", "n", "h")
_INITIAL_FOLD = {"zh": "z", "ch": "c", "sh": "s", "n": "l", "h": "f"}
_FINAL_FOLD = (("ang", "an"), ("eng", "en"), ("ing", "in"))


def clean_name(raw: str | None) -> str | None:
    """NFKC, drop spaces, middle dots and punctuation; ``None`` when nothing is left.

    >>> clean_name(" 张 三 ")
    '张三'
    >>> clean_name("阿依古丽·买买提")
    '阿依古丽买买提'
    """
    if raw is None:
        return None
    text = unicodedata.normalize("NFKC", str(raw))
    kept = "".join(ch for ch in text if _KEEP.match(ch))
    return kept or None


def split_surname(name: str) -> tuple[str, str]:
    """(surname, given name), with compound surnames recognised.

    >>> split_surname("尉迟恭")
    ('尉迟', '恭')
    """
    if len(name) >= 3 and name[:2] in COMPOUND_SURNAMES:
        return name[:2], name[2:]
    return name[:1], name[1:]


def _syllables(text: str) -> list[str]:
    return [s.lower() for s in lazy_pinyin(text, style=Style.NORMAL, errors="default") if s.strip()]


@lru_cache(maxsize=262_144)
def name_pinyin(name: str | None) -> str | None:
    """Space-separated toneless pinyin of a (cleaned) name with the surname read as a surname.

    >>> name_pinyin("曾国藩")
    'zeng guo fan'
    """
    name = clean_name(name)
    if name is None:
        return None
    if not any("\u3400" <= ch <= "\u9fff" for ch in name):
        return name.lower()
    surname, given = split_surname(name)
    if surname in COMPOUND_SURNAMES:
        head = COMPOUND_SURNAMES[surname].split()
    elif surname in POLYPHONIC_SURNAMES:
        head = [POLYPHONIC_SURNAMES[surname]]
    else:
        head = _syllables(surname)
    return " ".join(head + _syllables(given))


def fuzzy_syllable(syllable: str) -> str:
    """Fold one pinyin syllable.

    >>> [fuzzy_syllable(s) for s in ("zhang", "ning", "hong", "feng", "shen")]
    ['zan', 'lin', 'fong', 'fen', 'sen']
    """
    s = syllable
    for ini in _INITIALS:
        if s.startswith(ini):
            s = _INITIAL_FOLD[ini] + s[len(ini):]
            break
    if s.startswith("fu") and len(s) > 2:  # 黄/方, 灰/飞: hua- → fa-, hui → fei
        s = "fe" + s[3:] if s == "fui" else ("f" + s[2:] if s[2] in "ao" else s)
    for long, short in _FINAL_FOLD:
        if s.endswith(long):
            s = s[: -len(long)] + short
            break
    return s


def fuzzy_pinyin(pinyin: str | None) -> str | None:
    """Fold every syllable of a space-separated pinyin string."""
    if pinyin is None:
        return None
    return " ".join(fuzzy_syllable(s) for s in pinyin.split())
