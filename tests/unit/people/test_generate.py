from __future__ import annotations

import io
from collections import Counter
from datetime import date

from zhikong.people import idcard, phone
from zhikong.people.generate import (
    LEDGER_COLUMNS,
    VillageSpec,
    generate_population,
    write_ledger_csv,
)

VILLAGES = [VillageSpec("500113001001", "龙海社区", urban=True, town_name="龙洲湾街道"),
            VillageSpec("500113101001", "石岗村", urban=False, town_name="界石镇"),
            VillageSpec("500113101002", "桂花村", urban=False, town_name="界石镇")]


def _people(n: int, seed: int, chunk_size: int = 20_000) -> list:
    return [p for c in generate_population(VILLAGES, n, seed, chunk_size=chunk_size) for p in c.persons]


def test_deterministic_and_exact_count() -> None:
    a = _people(3000, 5)
    assert len(a) == 3000
    assert a == _people(3000, 5)
    assert a != _people(3000, 6)


def test_chunks_are_bounded() -> None:
    chunks = list(generate_population(VILLAGES, 5000, 1, chunk_size=1000))
    assert sum(len(c.persons) for c in chunks) == 5000
    assert max(len(c.persons) for c in chunks) <= 1000 + 6
    hh = {h.code for c in chunks for h in c.households}
    assert hh == {p.household_code for c in chunks for p in c.persons}


def test_rows_are_valid_and_unique() -> None:
    rows = _people(5000, 9)
    ids = [p.id_number for p in rows]
    assert len(set(ids)) == len(ids)
    phones = [p.phone for p in rows if p.phone]
    assert len(set(phones)) == len(phones)
    assert 0.7 * len(rows) < len(phones) < len(rows)
    for p in rows:
        parsed = idcard.parse(p.id_number, today=date(2022, 3, 1))
        assert parsed.sex == p.sex and parsed.birth_date == p.birth_date
        if p.phone:
            assert phone.normalise(p.phone) == p.phone
        if p.residence_status != "floating":
            assert parsed.region == "500113"
        assert 2 <= len(p.name) <= 4
    status = Counter(p.residence_status for p in rows)
    assert status["resident"] > status["floating"] > 0 and status["away"] > 0
    # urban communities get more people than rural villages
    by_village = Counter(p.village_code for p in rows)
    assert by_village["500113001001"] > by_village["500113101001"]
    surnames = Counter(p.name[0] for p in rows)
    assert surnames.most_common(1)[0][0] in "王李张刘陈"
    ages = [2022 - p.birth_date.year for p in rows]
    assert min(ages) <= 5 and max(ages) >= 80


def test_csv_format() -> None:
    buf = io.StringIO()
    n = write_ledger_csv(generate_population(VILLAGES, 50, 3), buf)
    lines = buf.getvalue().splitlines()
    assert n == 50 and len(lines) == 51
    assert lines[0] == ",".join(LEDGER_COLUMNS)
    first = lines[1].split(",")
    assert first[2] in ("男", "女") and first[8] in ("常住", "流动", "外出")
