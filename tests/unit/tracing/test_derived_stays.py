"""Cell stays derived once per lake (``tracing.stays``): same stays as from the pings, rebuilt only when
the lake or the stay rules change, replaced whole, and not used when they would differ."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.unit.tracing.scenario import at, build_scenario, gps_track, ledger, pings, write_ref, write_source
from zhikong.core.errors import EngineError
from zhikong.engine import duckdb_engine
from zhikong.tracing import pipeline, stays, structure
from zhikong.tracing import prepare as prepare_mod
from zhikong.tracing.lake import register_lake
from zhikong.tracing.policy import Policy, load_policy


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


def _numbers(path: Path, col: str) -> dict[str, int]:
    t = pq.read_table(path)
    return dict(zip(t.column("pid").to_pylist(), t.column(col).to_pylist(), strict=True))


def _t_gps(lake: Path, led: pa.Table, derived: Path | None, lo_s: int, hi_s: int) -> list[tuple[object, ...]]:
    with duckdb_engine() as eng:
        register_lake(eng, lake, stays=derived)
        eng.register_arrow("ledger", led)
        pipeline.prepare(eng, load_policy(), lo_s, hi_s, sources=["gps"], derived=derived is not None)
        rows = eng.sql(
            "SELECT k.s AS person, g.t, g.x, g.y, g.b, g.gx, g.gy FROM t_gps g "
            "JOIN pkey k ON k.pk = g.person ORDER BY ALL"
        ).to_pylist()
        return [tuple(r.values()) for r in rows]


def test_derived_gps_points_equal_the_points_from_the_lake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cell(tmp_path)
    t0 = at(1, 8)
    rows = gps_track("ph1", t0, 30, 100.0, 200.0) + gps_track("ph9", t0, 30, 103.5, 201.25)
    rows.append({**rows[0], "ts": at(2, 0) + timedelta(milliseconds=1500)})  # a fraction of a second
    write_source(tmp_path, "gps", rows)
    built = stays.build_stays(tmp_path)
    derived = stays.fresh(tmp_path, load_policy().rules)
    assert derived is not None
    assert json.loads((derived / "_state.json").read_text())["gps_points"] == len(rows)
    # a GPS pseudonym keeps its cell number (persons are numbered by it); the others come after
    pn = _numbers(derived / "pids.parquet", "pn")
    gn = _numbers(derived / "gps_pids.parquet", "gn")
    assert gn["ph1"] == pn["ph1"] and gn["ph9"] == max(pn.values()) + 1
    # the period's edges fall on points (start included, end excluded) and between them
    periods = [(t0, t0 + timedelta(minutes=15)), (t0 + timedelta(minutes=1), at(2, 0)), (at(1, 0), at(3, 0))]
    for lo, hi in periods:
        lo_s, hi_s = int(lo.timestamp()), int(hi.timestamp())
        from_lake = _t_gps(tmp_path, ledger(LEDGER), None, lo_s, hi_s)
        assert from_lake, "points in the period"
        with monkeypatch.context() as m:  # the derived points are read, not the lake's
            m.setattr(prepare_mod, "epoch_sql", lambda *a: pytest.fail("points read from the lake"))
            assert _t_gps(tmp_path, ledger(LEDGER), derived, lo_s, hi_s) == from_lake
    assert built.built
    # a new GPS file makes the derived tables stale
    write_source(tmp_path, "gps", gps_track("ph2", at(3, 8), 10, 0.0, 0.0))
    assert stays.fresh(tmp_path, load_policy().rules) is None


PREPARED = {
    "stay_cell": "SELECT k.s, c.tower_id, t.start_s, t.end_s, g.place FROM stay_cell t "
    "JOIN pkey k ON k.pk = t.person JOIN cell_tower c ON c.tk = t.place "
    "LEFT JOIN (SELECT DISTINCT gk, place FROM tower_grid) g ON g.gk = t.grid",
    "stay_venue": "SELECT k.s, t.place, t.start_s, t.end_s, t.kind FROM stay_venue t "
    "JOIN pkey k ON k.pk = t.person",
    "t_camera": "SELECT k.s, t.t, t.place FROM t_camera t JOIN pkey k ON k.pk = t.person",
    "t_gps": "SELECT k.s, t.t, t.x, t.y, t.b, t.gx, t.gy, t.k FROM t_gps t JOIN pkey k ON k.pk = t.person",
    "t_prox": "SELECT k.s, o.s AS other, t.t, t.dur_s, t.rssi FROM t_prox t JOIN pkey k ON k.pk = t.person "
    "JOIN pkey o ON o.pk = t.other",
    "obs_day": "SELECT d0 FROM obs_day",
    "stay_short": "SELECT k.s, t.tower, t.start_s, t.end_s FROM stay_short t JOIN pkey k ON k.pk = t.person",
    "stay_anchor": "SELECT k.s, v.venue_id, v.kind, t.start_s, t.end_s FROM stay_work t "
    "JOIN anchor_venue v ON v.vn = t.place JOIN pkey k ON k.pk = t.person "
    "WHERE t.inferred = 1",
}


def _prepared(
    lake: Path, led: pa.Table, lo_s: int, hi_s: int, derived: bool
) -> dict[str, list[tuple[object, ...]]]:
    policy = load_policy()
    d = stays.fresh(lake, policy.rules) if derived else None
    parts = stays.fresh_parts(d, lake, policy.rules, policy.companion.cell_m)
    assert not derived or parts == set(stays.PARTS)
    with duckdb_engine() as eng:
        register_lake(eng, lake, stays=d)
        eng.register_arrow("ledger", led)
        pipeline.prepare(eng, policy, lo_s, hi_s, derived=d is not None, parts=parts)
        got = {k: sorted(tuple(r.values()) for r in eng.sql(q).to_pylist()) for k, q in PREPARED.items()}
        # the short stays' runs where they come with them (derived), and as found in the trace
        short = "SELECT person, tower, start_s, end_s FROM stay_short"
        found = structure.short_runs_sql(short, "stay_cell")
        got["runs"] = sorted(tuple(r.values()) for r in eng.sql(
            "SELECT k.s, t.start_s, t.run_s, t.run_e, b.run_s AS found_s, b.run_e AS found_e "
            "FROM stay_short t JOIN pkey k ON k.pk = t.person "
            f"JOIN ({found}) b ON b.person = t.person AND b.start_s = t.start_s AND b.tower = t.tower "
            "WHERE t.run_s IS NOT NULL").to_pylist())
        return got


def _scenario_with_work_and_visits(lake: Path) -> pa.Table:
    led = build_scenario(lake)
    write_ref(lake, "venue", [
        {"venue_id": "V-REST", "name": "小面馆", "kind": "restaurant", "x": 100.0, "y": 100.0},
        {"venue_id": "V-MKT", "name": "农贸市场", "kind": "market", "x": 5000.0, "y": 5000.0},
        {"venue_id": "V-WORK", "name": "厂", "kind": "work", "x": 3000.0, "y": 3000.0},
    ])
    write_source(lake, "venue_scan", [{"venue_id": "V-WORK", "ts": at(11, 9, 0), "pid": "idB"}])
    rows = pings("phB", "T2", at(11, 7), 12 * 60, 20) + pings("phB", "T2", at(12, 7), 12 * 60, 20)
    # on the restaurant's tower: 30 minutes in the morning, 100 in the evening (130 on the day in all)
    rows += pings("phJ", "T1", at(12, 10), 30) + pings("phJ", "T3", at(12, 11), 30)
    rows += pings("phJ", "T1", at(12, 20), 100)
    # on the 13th, three short stays there (80 minutes): the second after a stay on T3, the third
    # after a silence only (one run of the visit rule)
    rows += pings("phJ", "T1", at(13, 10), 0) + pings("phJ", "T3", at(13, 10, 20), 0)
    rows += pings("phJ", "T1", at(13, 10, 40), 0) + pings("phJ", "T1", at(13, 12), 0)
    write_source(lake, "cell", rows)
    return led


@pytest.mark.parametrize(("lo", "hi"), [((10, 0), (14, 0)), ((11, 8), (12, 15)), ((12, 10, 20), (12, 23))])
def test_derived_parts_give_the_prepared_tables_of_the_lake(
    tmp_path: Path, lo: tuple[int, ...], hi: tuple[int, ...]
) -> None:
    # the short stays, the days with stays and the anchor stays are derived for whole days; a period
    # ending mid-day (15:00 on the 12th) sees phJ's morning stay as short, the whole day would not
    led = _scenario_with_work_and_visits(tmp_path)
    stays.build_stays(tmp_path)
    lo_s, hi_s = int(at(*lo).timestamp()), int(at(*hi).timestamp())
    want = _prepared(tmp_path, led, lo_s, hi_s, derived=False)
    got = _prepared(tmp_path, led, lo_s, hi_s, derived=True)
    for name in PREPARED:
        assert got[name] == want[name], name
    assert not want["runs"], "no derived runs without the derived tables"
    assert all(r[2:4] == r[4:6] for r in got["runs"]), "derived runs are those the trace would find"
    if lo == (10, 0):  # 10:00-10:20, then after T3 10:40-11:10 and (a silence only) 12:00-12:30
        t = int(at(13, 10).timestamp())
        assert [(r[2] - t, r[3] - t) for r in got["runs"] if r[0] == "idJ"] == [
            (0, 1200), (2400, 9000), (2400, 9000)]
    if hi == (12, 15):
        assert ("idJ", 1) in {(r[0], r[1]) for r in got["stay_short"]}, "the period's edge day is computed"
    if lo == (10, 0):
        assert {r[0] for r in got["stay_anchor"]} == {"idB"} and got["t_prox"] and got["t_camera"]
        assert {r[4] for r in got["stay_cell"]} == {"0_0", "3_3"}  # the towers' 800 m grid cells


def test_parts_follow_their_sources_and_rules(tmp_path: Path) -> None:
    _scenario_with_work_and_visits(tmp_path)
    rules, cell_m = load_policy().rules, load_policy().companion.cell_m
    stays.build_stays(tmp_path)
    d = stays.fresh(tmp_path, rules)
    assert stays.fresh_parts(d, tmp_path, rules, cell_m) == set(stays.PARTS)
    other = rules.model_copy(update={"gps_bin_minutes": 10, "visit_max_minutes": 60})
    assert stays.fresh_parts(d, tmp_path, other, cell_m) == {"pids", "anchor", "grid", "grid_days"}
    assert stays.fresh_parts(d, tmp_path, rules, cell_m + 100) == set(stays.PARTS) - {"grid", "grid_days"}
    day = next((stays.stays_dir(tmp_path) / "stays").glob("day=*/part.parquet"))
    inode = day.stat().st_ino
    # new venue scans: the cell stays stay fresh, the other sources' part is derived again alone
    write_source(tmp_path, "venue_scan", [{"venue_id": "V-REST", "ts": at(13, 12), "pid": "idQ"}])
    d = stays.fresh(tmp_path, rules)
    assert d is not None and stays.fresh_parts(d, tmp_path, rules, cell_m) == set(stays.PARTS) - {"pids"}
    assert stays.build_stays(tmp_path).built
    d = stays.fresh(tmp_path, rules)
    assert stays.fresh_parts(d, tmp_path, rules, cell_m) == set(stays.PARTS)
    assert (d / day.relative_to(stays.stays_dir(tmp_path))).stat().st_ino == inode  # linked, not rebuilt
    assert "idQ" in pq.read_table(d / "src_pids.parquet").column("pid").to_pylist()


def test_the_duckdb_file_holds_the_parquet_rows_and_gives_the_same_prepared_tables(tmp_path: Path) -> None:
    # the largest derived tables again as native tables of a DuckDB file (read through views), the
    # GPS points with their key (``stays.gps_key``); a file this DuckDB cannot open, or none (an
    # older lake), leaves the Parquet files to be read
    led = _scenario_with_work_and_visits(tmp_path)
    write_source(tmp_path, "gps", gps_track("phB", at(11, 8), 30, 100.0, 200.0))
    stays.build_stays(tmp_path)
    d = stays.stays_dir(tmp_path)
    db = d / stays.DB_FILE
    with duckdb_engine() as eng:
        for table in stays.DB_TABLES:
            assert eng.register_duckdb(f"f_{table}", db, table) and eng.native(f"f_{table}")
            assert eng.register_parquet(f"p_{table}", d / table, hive=False)
            cols = {"f": "* EXCLUDE (k)" if table == "gps" else "*", "p": "*"}
            got, want = (eng.sql(f"SELECT {cols[p]} FROM {p}_{table} ORDER BY ALL") for p in ("f", "p"))
            assert got.num_rows > 0 and got.equals(want), table
        key = stays.gps_key("b", "gx")
        assert eng.scalar(f"SELECT COUNT(*) FROM f_gps WHERE k IS DISTINCT FROM {key}") == 0
        assert not eng.register_duckdb("f_none", db, "no_such_table")
    lo_s, hi_s = int(at(10, 0).timestamp()), int(at(14, 0).timestamp())
    native = _prepared(tmp_path, led, lo_s, hi_s, derived=True)
    lake = _prepared(tmp_path, led, lo_s, hi_s, derived=False)
    assert native["t_gps"] and all(native[k] == lake[k] for k in PREPARED)
    db.write_bytes(b"not a database")
    assert _prepared(tmp_path, led, lo_s, hi_s, derived=True) == native
    db.unlink()
    assert _prepared(tmp_path, led, lo_s, hi_s, derived=True) == native


def test_persons_are_numbered_by_their_phones_derived_numbers_and_ranked_by_name(tmp_path: Path) -> None:
    # with the derived stays, a person's number is its cell phone's (``pn``): the stays are read as
    # stored; ``ord`` keeps the pseudonyms' order, which outputs are sorted by
    _cell(tmp_path)
    stays.build_stays(tmp_path)
    derived = stays.fresh(tmp_path, load_policy().rules)
    pn = _numbers(stays.stays_dir(tmp_path) / "pids.parquet", "pn")
    lo, hi = int(at(1, 0).timestamp()), int(at(4, 0).timestamp())
    with duckdb_engine() as eng:
        register_lake(eng, tmp_path, stays=derived)
        eng.register_arrow("ledger", ledger(LEDGER))
        pipeline.prepare(eng, load_policy(), lo, hi, sources=["cell"], derived=True)
        keys = {r["s"]: (r["pk"], r["ord"]) for r in eng.sql("SELECT s, pk, ord FROM pkey").to_pylist()}
        assert eng.native("dv_stays") and eng.scalar(
            "SELECT COUNT(*) FROM duckdb_views() WHERE view_name = 'stay_cell'") == 1
    assert [keys[p][0] for p in ("id1", "id2", "id3")] == [pn["ph1"], pn["ph2"], pn["ph3"]]
    assert keys["ph4"][0] == pn["ph4"]  # a phone the ledger does not know is its own person
    assert sorted(keys, key=lambda s: keys[s][1]) == sorted(keys)
    assert len({k[0] for k in keys.values()}) == len(keys)  # one number per pseudonym


def test_an_engine_reads_a_new_generation_of_the_duckdb_file(tmp_path: Path) -> None:
    # a long-lived engine (a worker's) registers the lake again for its next trace: after a rebuild
    # the file under the same name is another one, attached again
    _cell(tmp_path)
    stays.build_stays(tmp_path)
    d = stays.stays_dir(tmp_path)
    count = "SELECT COUNT(*) FROM dv_stays"
    with duckdb_engine() as eng:
        register_lake(eng, tmp_path, stays=d)
        before = eng.scalar(count)
        write_source(tmp_path, "cell", pings("ph5", "D", at(3, 9), 30))
        stays.build_stays(tmp_path)
        register_lake(eng, tmp_path, stays=d)
        assert eng.native("dv_stays") and eng.scalar(count) == before + 1


def _grid_hours(
    lake: Path, led: pa.Table, lo_s: int, hi_s: int, derived: bool
) -> tuple[frozenset[str], dict[tuple[str, str], tuple[int, int]]]:
    """What ``prepare`` made, and the seconds per person and grid cell the companion rule sums: from
    ``grid_secs`` where it was made, else from every grid stay (``GRID_SECS``); with the number of
    rows summed."""
    policy = load_policy()
    d = stays.fresh(lake, policy.rules) if derived else None
    parts = stays.fresh_parts(d, lake, policy.rules, policy.companion.cell_m)
    with duckdb_engine() as eng:
        register_lake(eng, lake, stays=d)
        eng.register_arrow("ledger", led)
        made = pipeline.prepare(eng, policy, lo_s, hi_s, derived=d is not None, parts=parts)
        secs = "grid_secs" if "grid_secs" in made else pipeline.GRID_SECS
        rows = eng.sql(
            f"SELECT k.s AS person, g.place, SUM(s.secs) AS secs, COUNT(*) AS n FROM {secs} s "
            "JOIN pkey k ON k.pk = s.person JOIN (SELECT DISTINCT gk, place FROM tower_grid) g "
            "ON g.gk = s.place GROUP BY ALL ORDER BY ALL"
        ).to_pylist()
    return made, {(r["person"], r["place"]): (int(r["secs"]), r["n"]) for r in rows}


@pytest.mark.parametrize(
    ("lo", "hi"),
    [((10, 0), (18, 0)), ((15, 8), (17, 9)), ((15, 23, 30), (16, 8)), ((16, 10, 20), (16, 23)),
     ((12, 10), (16, 9))],
)
def test_grid_days_give_the_seconds_of_the_grid_stays(
    tmp_path: Path, lo: tuple[int, ...], hi: tuple[int, ...]
) -> None:
    # whole days from the derived seconds per person, cell and day, the period's first and last
    # days (a stay across midnight, the edges mid-day) from the stays themselves
    led = _scenario_with_work_and_visits(tmp_path)
    rows = pings("phA", "T3", at(15, 23), 90) + pings("phA", "T1", at(16, 9), 200)
    rows += pings("phA", "T3", at(16, 13, 30), 30) + pings("phA", "T1", at(17, 8), 60)
    rows += pings("phJ", "T1", at(16, 10), 30) + pings("phJ", "T2", at(17, 9), 300)
    write_source(tmp_path, "cell", rows)
    stays.build_stays(tmp_path)
    lo_s, hi_s = int(at(*lo).timestamp()), int(at(*hi).timestamp())
    made, got = _grid_hours(tmp_path, led, lo_s, hi_s, derived=True)
    none, want = _grid_hours(tmp_path, led, lo_s, hi_s, derived=False)
    assert made == {"grid_secs"} and none == frozenset()
    assert want and {k: v[0] for k, v in got.items()} == {k: v[0] for k, v in want.items()}
    if lo == (10, 0):  # phA's two stays in cell 0_0 on the 16th (T1, then T3) are one row
        assert got[("idA", "0_0")][1] < want[("idA", "0_0")][1]
        assert {p for p, _ in want} == {"idA", "idB", "idJ"}
        state = json.loads((stays.stays_dir(tmp_path) / "_state.json").read_text())
        assert state["grid_days"] == len(pq.read_table(stays.stays_dir(tmp_path) / "grid_days"))


def test_grid_days_are_read_only_when_fresh_else_the_stays(tmp_path: Path) -> None:
    led = _scenario_with_work_and_visits(tmp_path)
    stays.build_stays(tmp_path)
    lo_s, hi_s = int(at(10, 0).timestamp()), int(at(14, 0).timestamp())
    made, want = _grid_hours(tmp_path, led, lo_s, hi_s, derived=True)
    assert made == {"grid_secs"}
    d = stays.stays_dir(tmp_path)
    # a DuckDB file this DuckDB cannot open: the grid days' Parquet files
    (d / stays.DB_FILE).write_bytes(b"not a database")
    assert _grid_hours(tmp_path, led, lo_s, hi_s, derived=True) == (made, want)
    # a lake derived before the grid days (no such part, files or table): the stays are summed
    state = json.loads((d / "_state.json").read_text())
    del state["parts"]["grid_days"]
    (d / "_state.json").write_text(json.dumps(state))
    shutil.rmtree(d / "grid_days")
    policy = load_policy()
    assert "grid_days" not in stays.fresh_parts(d, tmp_path, policy.rules, policy.companion.cell_m)
    made, got = _grid_hours(tmp_path, led, lo_s, hi_s, derived=True)
    assert made == frozenset() and {k: v[0] for k, v in got.items()} == {k: v[0] for k, v in want.items()}
    # and the next build derives them again
    assert stays.build_stays(tmp_path).built
    assert _grid_hours(tmp_path, led, lo_s, hi_s, derived=True) == (made | {"grid_secs"}, want)


def _work(
    lake: Path, led: pa.Table, policy: Policy, d: Path | None, lo_s: int, hi_s: int
) -> tuple[frozenset[str], list[tuple[object, ...]]]:
    """The fresh parts and the inferred workplace stays (``stay_work``, named) of a prepared trace."""
    parts = stays.fresh_parts(d, lake, policy.rules, policy.companion.cell_m)
    with duckdb_engine() as eng:
        register_lake(eng, lake, stays=d)
        eng.register_arrow("ledger", led)
        pipeline.prepare(eng, policy, lo_s, hi_s, derived=d is not None, parts=parts)
        rows = eng.sql(PREPARED["stay_anchor"]).to_pylist()
    return parts, sorted(tuple(r.values()) for r in rows)


@pytest.mark.parametrize(
    "hours", [{"work": (8.0, 17.0)}, {"work": (9.0, 12.0), "market": (6.0, 20.0)}], ids=["one", "two"]
)
def test_anchor_candidates_come_cut_to_the_hours_and_an_older_layout_is_cut_by_the_trace(
    tmp_path: Path, hours: dict[str, tuple[float, float]]
) -> None:
    # derived with each candidate cut to the earliest to the latest anchor hours of its start day; a
    # trace reads the cut stays when every kind has the same hours (one kind), else cuts them itself
    led = _scenario_with_work_and_visits(tmp_path)
    base = load_policy()
    policy = base.model_copy(update={"rules": base.rules.model_copy(update={"anchor_hours": hours})})
    stays.build_stays(tmp_path, policy.rules, force=True)
    d = stays.fresh(tmp_path, policy.rules)
    assert d is not None
    h0, h1 = (int(f(h[i] for h in hours.values()) * 3600) for i, f in ((0, min), (1, max)))
    with duckdb_engine() as eng:
        eng.register_parquet("anc", d / "anchor", hive=False)
        rows = eng.sql(f"""
            SELECT start_s, end_s, a0, a1, {structure._midnight("start_s")} AS d0 FROM anc""").to_pylist()
    assert rows and all(
        (r["a0"], r["a1"]) == (max(r["start_s"], r["d0"] + h0), min(r["end_s"], r["d0"] + h1)) for r in rows
    )
    lo_s, hi_s = int(at(10, 0).timestamp()), int(at(14, 0).timestamp())
    parts, got = _work(tmp_path, led, policy, d, lo_s, hi_s)
    _, want = _work(tmp_path, led, policy, None, lo_s, hi_s)
    assert "anchor" in parts and got == want
    w0, w1 = (int(h * 3600) for h in hours["work"])
    day = {r[3] - (r[3] + 8 * 3600) % 86400 for r in want}
    assert want and all(r[0] == "idB" and r[1] == "V-WORK" for r in want)
    assert all(any(d0 + w0 <= r[3] < r[4] <= d0 + w1 for d0 in day) for r in want)
    # a lake derived before the candidates were cut: its part is stale, the trace cuts the stays
    state_file = d / "_state.json"
    state = json.loads(state_file.read_text())
    del state["parts"]["anchor"]["columns"]
    state_file.write_text(json.dumps(state))
    parts, got = _work(tmp_path, led, policy, d, lo_s, hi_s)
    assert "anchor" not in parts and got == want
