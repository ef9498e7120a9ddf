"""A deterministic synthetic population for the ledger (demo data, simulator, benchmarks).

``generate_population(villages, n, seed)`` yields :class:`PopulationChunk` s (households and their
members) of bounded size, so a million people never sit in memory at once. The same seed and
villages give the same people, byte for byte. Everything is synthetic: names are drawn from a
surname frequency table (the most common surnames of China, with polyphonic surnames such as 单 曾 解
仇 区 朴 at low frequency) and common given-name characters; ID numbers are valid GB 11643 numbers
(region = the village's district for registered residents, another county for floating residents);
phone numbers are in real mobile ranges but drawn by a bijection, so they are unique and not anyone's.

Examples
--------
>>> v = [VillageSpec("500113001001", "龙洲湾社区", urban=True, town_name="龙洲湾街道")]
>>> rows = [p for c in generate_population(v, 10, seed=1) for p in c.persons]
>>> len(rows), rows[0].village_code
(10, '500113001001')
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import IO, NamedTuple, Protocol

import numpy as np

from zhikong.people.idcard import make_id_number

#: the ledger CSV columns, in order (the import format)
LEDGER_COLUMNS: tuple[str, ...] = ("id_number", "name", "sex", "birth_date", "phone", "household_code",
                                   "address", "village_code", "residence_status")

SEX_LABEL = {"male": "男", "female": "女"}
STATUS_LABEL = {"resident": "常住", "floating": "流动", "away": "外出"}

# surname → relative frequency (per mille, rounded; common surnames of China)
_SURNAMES: dict[str, float] = {
    "王": 71.2, "李": 70.9, "张": 66.0, "刘": 53.8, "陈": 45.3, "杨": 30.8, "黄": 22.3, "赵": 22.9,
    "吴": 20.5, "周": 19.8, "徐": 16.7, "孙": 15.4, "马": 14.5, "朱": 13.7, "胡": 13.3, "郭": 11.4,
    "何": 11.4, "林": 10.9, "高": 10.7, "罗": 9.0, "郑": 8.2, "梁": 8.2, "谢": 7.3, "宋": 6.2,
    "唐": 6.0, "许": 5.7, "韩": 5.5, "冯": 5.2, "邓": 5.1, "曹": 5.0, "彭": 4.9, "曾": 4.6,
    "肖": 4.5, "田": 4.3, "董": 4.2, "袁": 4.0, "潘": 3.9, "于": 3.9, "蒋": 3.8, "蔡": 3.7,
    "余": 3.7, "杜": 3.6, "叶": 3.6, "程": 3.5, "苏": 3.3, "魏": 3.3, "吕": 3.2, "丁": 3.1,
    "任": 3.0, "沈": 2.9, "姚": 2.7, "卢": 2.7, "姜": 2.6, "崔": 2.5, "钟": 2.4, "谭": 2.4,
    "陆": 2.3, "汪": 2.2, "范": 2.2, "金": 2.1, "石": 2.1, "廖": 2.0, "贾": 2.0, "夏": 2.0,
    "韦": 2.0, "付": 1.9, "方": 1.9, "白": 1.8, "邹": 1.8, "孟": 1.8, "熊": 1.8, "秦": 1.7,
    "邱": 1.7, "江": 1.7, "尹": 1.6, "薛": 1.6, "闫": 1.5, "段": 1.5, "雷": 1.5, "侯": 1.4,
    "龙": 1.4, "史": 1.4, "陶": 1.3, "黎": 1.3, "贺": 1.3, "顾": 1.2, "毛": 1.2, "郝": 1.2,
    "龚": 1.2, "邵": 1.1, "万": 1.1, "钱": 1.1, "严": 1.0, "向": 1.0, "冉": 0.9, "武": 1.0,
    "戴": 1.0, "莫": 1.0, "孔": 0.9, "汤": 0.8, "牟": 0.6, "母": 0.3,
    # polyphonic surnames (read differently as surnames), rare
    "单": 0.3, "解": 0.2, "仇": 0.2, "区": 0.1, "朴": 0.1, "查": 0.2, "盖": 0.1,
    # compound surnames, rare
    "欧阳": 0.3, "司马": 0.05, "诸葛": 0.05, "上官": 0.05,
}
_MALE_CHARS = tuple(
    "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆帅旭宁龙林阳建国志文峰成东海亮博晨轩睿泽子一诚宏德兵永福贵春庆祥顺豪航铭"
)
_FEMALE_CHARS = tuple(
    "芳娜敏静丽艳娟霞秀燕玲桂英萍红琳婷雪慧倩颖洁梅琴兰凤晶欣怡悦涵萱雨佳思梦瑶淑珍玉月莉彤诗琪妍蓉春小丹露薇"
)
_ESTATES = (
    "锦绣花园", "阳光小区", "金科城", "龙湖花苑", "滨江名都", "翠湖苑", "东方明珠",
    "学府雅居", "中央公园", "融汇城", "江南新城", "幸福家园", "和平小区", "绿地新都",
    "鹿角佳苑", "电厂宿舍", "农机厂宿舍", "滨河小区", "天誉城", "万达广场",
)
#: counties floating residents come from (GB/T 2260; Sichuan, Guizhou, Hubei, Hunan … and Chongqing)
_ELSEWHERE = ("510122", "510703", "511302", "511602", "520102", "520302", "522401", "420106",
              "420111", "430104", "430602", "410105", "360426", "500101", "500102", "500222",
              "500230", "500233", "500241", "440113", "320106", "130102", "530102", "610113")
#: mobile number blocks (3-digit prefixes that are all mobile in libphonenumber's CN pattern)
_PREFIXES = ("130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151",
             "152", "153", "155", "156", "157", "158", "159", "166", "175", "176", "177", "178",
             "180", "181", "182", "183", "184", "185", "186", "187", "188", "189", "198", "199")
_HOUSEHOLD_SIZES = np.array([1, 2, 3, 4, 5, 6])
_HOUSEHOLD_P = np.array([0.16, 0.29, 0.25, 0.16, 0.09, 0.05])


def _age_weights() -> np.ndarray:
    """Relative population by single year of age 0..99 (a 2020-like pyramid: a bulge at 30-60,
    fewer children, thinning after 70)."""
    ages = np.arange(100)
    w = np.interp(ages, [0, 10, 20, 30, 35, 45, 55, 60, 70, 80, 90, 99],
                  [0.95, 1.15, 1.0, 1.55, 1.35, 1.45, 1.55, 1.2, 0.95, 0.45, 0.12, 0.01])
    return w / w.sum()


class VillageLike(Protocol):
    @property
    def code(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def urban(self) -> bool: ...


@dataclass(frozen=True)
class VillageSpec:
    """A village/community people are generated for (``AdminUnit`` rows also fit)."""

    code: str
    name: str
    urban: bool = False
    town_name: str = ""


class PersonRow(NamedTuple):
    """One ledger row, in the CSV column order (``sex``/``residence_status`` as enum values)."""

    id_number: str
    name: str
    sex: str
    birth_date: date
    phone: str  # E.164, or "" for no phone
    household_code: str
    address: str
    village_code: str
    residence_status: str

    def csv_row(self) -> tuple[str, ...]:
        return (self.id_number, self.name, SEX_LABEL[self.sex], self.birth_date.isoformat(),
                self.phone[3:] if self.phone else "", self.household_code, self.address,
                self.village_code, STATUS_LABEL[self.residence_status])


class HouseholdRow(NamedTuple):
    code: str
    village_code: str
    address: str
    size: int


@dataclass
class PopulationChunk:
    households: list[HouseholdRow] = field(default_factory=list)
    persons: list[PersonRow] = field(default_factory=list)


def _town_of(v: VillageLike) -> str:
    town = getattr(v, "town_name", "") or ""
    if not town:
        parent = getattr(v, "parent", None)
        town = getattr(parent, "name", "") if parent is not None else ""
    return str(town)


def generate_population(villages: Sequence[VillageLike], n: int, seed: int, *,
                        as_of: date = date(2022, 3, 1), chunk_size: int = 20_000,
                        urban_weight: float = 2.5) -> Iterator[PopulationChunk]:
    """Yield households and persons, about ``chunk_size`` persons per chunk, ``n`` persons in all.

    Villages receive households in proportion to ``urban_weight`` (urban) or 1 (rural).
    """
    if not villages:
        raise ValueError("no villages to generate people for")
    rng = np.random.default_rng(seed)
    surnames = list(_SURNAMES)
    sp = np.array([_SURNAMES[s] for s in surnames])
    sp = sp / sp.sum()
    age_p = _age_weights()
    adult_p = age_p.copy()
    adult_p[:22] = 0
    adult_p /= adult_p.sum()
    vw = np.array([urban_weight if v.urban else 1.0 for v in villages])
    vw = vw / vw.sum()
    towns = [_town_of(v) for v in villages]
    hh_counter = [0] * len(villages)
    seq_counter: dict[tuple[str, date, bool], int] = {}
    a_mul = int(rng.integers(1, 10**7)) * 10 + 3  # odd and not a multiple of 5: a bijection mod 10^8
    b_off = int(rng.integers(0, 10**8))
    npref = len(_PREFIXES)
    made = 0
    phone_index = 0

    def id_for(region: str, born: date, male: bool) -> str:
        key = (region, born, male)
        seq = seq_counter.get(key)
        if seq is None:
            seq = int(rng.integers(0, 60))
        while seq >= 500:  # that birth day is full for this region and sex: use the next day
            born = born + timedelta(days=1) if born < as_of else born - timedelta(days=1)
            key = (region, born, male)
            seq = seq_counter.get(key, 0)
        seq_counter[key] = seq + 1
        return make_id_number(region, born, seq, "male" if male else "female")

    def name_for(surname: str, male: bool, r: float) -> str:
        chars = _MALE_CHARS if male else _FEMALE_CHARS
        k = rng.integers(0, len(chars), size=2)
        given = chars[k[0]] if r < 0.3 else chars[k[0]] + chars[k[1]]
        return surname + given

    while made < n:
        chunk = PopulationChunk()
        while len(chunk.persons) < chunk_size and made < n:
            batch = min(4096, n - made)
            sizes = rng.choice(_HOUSEHOLD_SIZES, size=batch, p=_HOUSEHOLD_P)
            vidx = rng.choice(len(villages), size=batch, p=vw)
            head_ages = rng.choice(100, size=batch, p=adult_p)
            fam_idx = rng.choice(len(surnames), size=batch, p=sp)
            spouse_idx = rng.choice(len(surnames), size=batch, p=sp)
            for h in range(batch):
                if made >= n or len(chunk.persons) >= chunk_size:
                    break
                size = int(min(sizes[h], n - made))
                vi = int(vidx[h])
                v = villages[vi]
                hh_counter[vi] += 1
                hcode = f"{v.code}{hh_counter[vi]:05d}"
                if v.urban:
                    est = _ESTATES[int(rng.integers(0, len(_ESTATES)))]
                    b, u, f, r = (int(x) for x in rng.integers((1, 1, 1, 1), (30, 5, 33, 7)))
                    addr = f"{towns[vi]}{v.name}{est}{b}栋{u}单元{f}-{r}号"
                else:
                    addr = f"{towns[vi]}{v.name}{int(rng.integers(1, 13))}组{int(rng.integers(1, 120))}号"
                floating = rng.random() < 0.10
                away = (not floating) and rng.random() < 0.05
                status = "floating" if floating else ("away" if away else "resident")
                region = _ELSEWHERE[int(rng.integers(0, len(_ELSEWHERE)))] if floating else v.code[:6]
                head_age = int(head_ages[h])
                head_male = bool(rng.random() < 0.7)
                family = surnames[int(fam_idx[h])]
                members: list[tuple[int, bool, str]] = [(head_age, head_male, family)]
                if size >= 2:
                    if rng.random() < 0.85:
                        sp_age = max(20, head_age + int(rng.integers(-5, 4)))
                        members.append((min(sp_age, 99), not head_male, surnames[int(spouse_idx[h])]))
                    for _ in range(size - len(members)):
                        gap = int(rng.integers(20, 38))
                        if head_age - gap >= 0 and rng.random() < 0.85:
                            members.append((head_age - gap, bool(rng.random() < 0.515), family))
                        else:
                            members.append((min(99, head_age + int(rng.integers(22, 32))),
                                            bool(rng.random() < 0.45), family))
                chunk.households.append(HouseholdRow(hcode, v.code, addr, len(members)))
                for age, male, surname in members:
                    born = as_of - timedelta(days=int(age * 365.25 + rng.integers(0, 365)) + 1)
                    idn = id_for(region, born, male)
                    has_phone = (age >= 12 and rng.random() > (0.3 if age >= 75 else 0.03)) or (
                        6 <= age < 12 and rng.random() < 0.15)
                    if has_phone:
                        pref = _PREFIXES[int(rng.integers(0, npref))]
                        phone = "+86" + pref + f"{(a_mul * phone_index + b_off) % 10**8:08d}"
                        phone_index += 1
                    else:
                        phone = ""
                    chunk.persons.append(PersonRow(
                        idn, name_for(surname, male, float(rng.random())),
                        "male" if male else "female", date.fromisoformat(idn[6:10] + "-" + idn[10:12]
                                                                         + "-" + idn[12:14]),
                        phone, hcode, addr, v.code, status))
                    made += 1
        yield chunk


def write_ledger_csv(chunks: Iterator[PopulationChunk], out: Path | IO[str],
                     encoding: str = "utf-8") -> int:
    """Write persons of ``chunks`` as a ledger CSV; returns the number of rows written."""
    if isinstance(out, Path):
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding=encoding, newline="") as fh:
            return write_ledger_csv(chunks, fh)
    w = csv.writer(out, lineterminator="\n")
    w.writerow(LEDGER_COLUMNS)
    total = 0
    for chunk in chunks:
        w.writerows(p.csv_row() for p in chunk.persons)
        total += len(chunk.persons)
    return total
