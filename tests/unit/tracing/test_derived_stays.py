"""Cell stays derived once per lake (``tracing.stays``): same stays as from the pings, rebuilt only when
the lake or the stay rules change, replaced whole, and not used when they would differ."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from tests.unit.tracing.scenario import at, ledger, pings, write_source
from zhikong.core.errors import EngineError
from zhikong.engine import duckdb_engine
from zhikong.tracing import pipeline, stays
from zhikong.tracing.lake import register_lake
from zhikong.tracing.policy import load_policy


def _cell(lake: Path) -> None:
    t0 = at(1, 8)
    rows = pings("ph1", "A", t0, 60) + pings("ph1", "B", t0 + timedelta(minutes=70), 40)
    # a ping-pong A-B-A and a stay across midnight (stays do not stop at partition ends)
    rows += pings("ph2", "A", t0, 30) + pings("ph2", "B", t0 + timedelta(minutes=33), 0)
    rows += pings("ph2", "A", t0 + timedelta(minutes=36), 20)
    rows += pings("ph3", "C", at(1, 23, 0), 120)
    rows += pings("ph4", "C", at(2, 0, 30), 60)  # a phone the ledger does not know
    write_source(lake, "cell", rows)


def _stay_cell(
    lake: Path, led: pa.Table, derived: Path | None, lo_s: int, hi_s: int
) -> list[tuple[object, ...]]:
    with duckdb_engine() as eng:
        register_lake(eng, lake, stays=derived)
        eng.register_arrow("ledger", led)
        pipeline.prepare(eng, load_policy(), lo_s, hi_s, sources=["cell"], derived=derived is not None)
        rows = eng.sql(f"SELECT * FROM ({pipeline.named_stays('stay_cell')}) q ORDER BY ALL").to_pylist()
        return [tuple(r.values()) for r in rows]


LEDGER = [("id1", "ph1", "h1"), ("id2", "ph2", "h1"), ("id3", "ph3", None)]


@pytest.mark.parametrize(("lo_h", "hi_h"), [(0, 72), (8 * 1, 24 + 1), (23, 24)])
def test_derived_stays_equal_the_stays_from_the_pings(
    tmp_path: Path, lo_h: int, hi_h: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cell(tmp_path)
    built = stays.build_stays(tmp_path)
    assert built.built and built.pings > 0 and built.people == 4
    derived = stays.fresh(tmp_path, load_policy().rules)
    assert derived == stays.stays_dir(tmp_path)
    lo = int(at(1, 0).timestamp()) + lo_h * 3600
    hi = int(at(1, 0).timestamp()) + hi_h * 3600
    from_pings = _stay_cell(tmp_path, ledger(LEDGER), None, lo, hi)
    assert from_pings, "the scenario has stays in the period"
    with monkeypatch.context() as m:  # the derived stays are read, not recomputed
        m.setattr(stays, "stays_sql", lambda *a: pytest.fail("stays computed from the pings"))
        assert _stay_cell(tmp_path, ledger(LEDGER), derived, lo, hi) == from_pings
    # persons through the ledger, the unknown phone as itself; the midnight stay is one stay
    people = {r[0] for r in _stay_cell(tmp_path, ledger(LEDGER), derived, lo, hi)}
    assert people <= {"id1", "id2", "id3", "ph4"}
    if hi_h - lo_h == 72:
        assert ("id3", "C", int(at(1, 23, 0).timestamp()), int(at(2, 1, 30).timestamp())) in from_pings
        assert [r[1] for r in from_pings if r[0] == "id2"] == ["A"]  # B was a ping-pong


def test_build_is_idempotent_and_follows_the_lake_and_the_rules(tmp_path: Path) -> None:
    _cell(tmp_path)
    rules = load_policy().rules
    assert stays.fresh(tmp_path, rules) is None
    assert stays.build_stays(tmp_path).built
    again = stays.build_stays(tmp_path)
    assert not again.built  # up to date: nothing done
    other = rules.model_copy(update={"cell_gap_minutes": rules.cell_gap_minutes + 5})
    assert stays.fresh(tmp_path, other) is None  # other stay rules: the derived stays do not apply
    write_source(tmp_path, "cell", pings("ph1", "D", at(3, 9), 30))  # a new day lands
    assert stays.fresh(tmp_path, rules) is None
    rebuilt = stays.build_stays(tmp_path)
    assert rebuilt.built
    state = json.loads((stays.stays_dir(tmp_path) / "_state.json").read_text())
    assert state["stays"] == rebuilt.stays and state["pings"] == rebuilt.pings
    assert sorted(p.name for p in (stays.stays_dir(tmp_path) / "stays").glob("day=*")) == [
        "day=2022-03-01", "day=2022-03-02", "day=2022-03-03"]
    assert not list((tmp_path / stays.DERIVED).glob(".*.tmp-*"))  # no staging left behind
    assert len(list((tmp_path / stays.DERIVED).glob(".*.old-*"))) == 1  # the previous generation only


def test_a_failed_build_leaves_the_previous_stays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _cell(tmp_path)
    stays.build_stays(tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in stays.stays_dir(tmp_path).rglob("*"))
    monkeypatch.setattr(stays, "stays_sql", lambda *a: "SELECT no_such_column FROM bs_pings")
    with pytest.raises(EngineError):
        stays.build_stays(tmp_path, force=True)
    assert sorted(p.relative_to(tmp_path) for p in stays.stays_dir(tmp_path).rglob("*")) == before
    assert stays.fresh(tmp_path, load_policy().rules) is not None
    assert not list((tmp_path / stays.DERIVED).glob(".*.tmp-*"))


def test_a_person_with_two_phones_gets_stays_from_the_pings(tmp_path: Path) -> None:
    # derived stays are per phone; a person with two phones has one stream of pings
    _cell(tmp_path)
    stays.build_stays(tmp_path)
    led = ledger([*LEDGER, ("id1", "ph4", "h1")])
    lo, hi = int(at(1, 0).timestamp()), int(at(4, 0).timestamp())
    derived = stays.fresh(tmp_path, load_policy().rules)
    assert _stay_cell(tmp_path, led, derived, lo, hi) == _stay_cell(tmp_path, led, None, lo, hi)


def test_an_empty_lake_builds_no_stays(tmp_path: Path) -> None:
    (tmp_path / "cell").mkdir()
    built = stays.build_stays(tmp_path)
    assert built.built and built.stays == 0
    lo = int(at(1, 0).timestamp())
    derived = stays.fresh(tmp_path, load_policy().rules)
    assert _stay_cell(tmp_path, ledger(LEDGER), derived, lo, lo + 86400) == []
