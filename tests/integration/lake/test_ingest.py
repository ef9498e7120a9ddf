"""Ingest into a real lake directory: good batches, bad input, atomicity, idempotence, purge."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from zhikong.cli import app
from zhikong.core.config import Settings
from zhikong.core.crypto import get_cipher
from zhikong.core.errors import InvalidInput, RowErrors
from zhikong.lake import store
from zhikong.lake.schemas import SOURCES
from zhikong.lake.service import get_lake, ingest_file, ingest_world

HEADER = "phone,ts,tower_id,event\n"
GOOD = [
    "13800138000,2020-03-01T08:00:00+08:00,T1,periodic",
    "13800138000,2020-03-01T08:30:00+08:00,T2,data",
    "13900139000,2020-03-02T09:00:00+08:00,T1,call",
]


def _feed(tmp: Path, name: str, lines: list[str], header: str = HEADER) -> Path:
    p = tmp / name
    p.write_text(header + "\n".join(lines) + "\n")
    return p


def _lake_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".lock" and "_rejects" not in p.parts}


def test_good_batch_lands_pseudonymised_and_once(lake_with_refs: Path) -> None:
    f = _feed(lake_with_refs, "cell.csv", GOOD)
    res = ingest_file(f, "cell")
    assert (res.accepted, res.rejected, res.days) == (3, 0, ["2020-03-01", "2020-03-02"])
    lake = get_lake()
    t = pq.read_table(lake.partition("cell", "2020-03-01"))
    assert t.num_rows == 2
    assert set(t.column("pid").to_pylist()) == {get_cipher().keyed_hash("+8613800138000")}
    assert t.schema.remove_metadata() == SOURCES["cell"]
    for p in lake.root.rglob("*.parquet"):
        assert b"13800138000" not in p.read_bytes() and b"13900139000" not in p.read_bytes()
    before = _lake_files(lake.root)
    again = ingest_file(f, "cell")
    assert again.skipped and _lake_files(lake.root) == before
    assert lake.stats()["cell"]["rows"] == 3


def test_jsonl_and_parquet_inputs(lake_with_refs: Path) -> None:
    j = lake_with_refs / "scan.jsonl"
    j.write_text('{"venue_id": "V1", "ts": "2020-03-01T10:00:00+08:00", "id_number": "11010519491231002X"}\n')
    assert ingest_file(j, "venue_scan").accepted == 1
    p = lake_with_refs / "cam.parquet"
    pq.write_table(pa.table({"camera_id": ["C1"], "id_number": ["11010519491231002X"], "score": [0.9],
                             "ts": pa.array([1583020800_000000], pa.timestamp("us", tz="+08:00"))}), p)
    assert ingest_file(p, "camera").accepted == 1


@pytest.mark.parametrize(("line", "field", "reason"), [
    ("13800138000,2020-03-01T08:00:00+08:00,T9,data", "tower_id", "unknown tower_id"),
    ("13800138000,2020-03-01T08:00:00,T1,data", "ts", "without UTC offset"),
    ("13800138000,2020-03-01T08:00:00-05:00,T1,data", "ts", "wrong time zone"),
    ("13800138000,1999-03-01T08:00:00+08:00,T1,data", "ts", "out of range"),
    ("13800138000,2099-03-01T08:00:00+08:00,T1,data", "ts", "out of range"),
    ("13800138000,8 o'clock,T1,data", "ts", "not an ISO-8601 timestamp"),
    ("12345,2020-03-01T08:00:00+08:00,T1,data", "phone", "not a mainland mobile number"),
    ("13800138000,2020-03-01T08:00:00+08:00,T1,teleport", "event", "unknown event"),
    ("13800138000,2020-03-01T08:00:00+08:00,T1", "event", "truncated row"),
    ("13800138000,2020-03-01T08:00:00+08:00", "tower_id", "truncated row: 2 of 4 fields"),
    ("13800138000,2020-03-01T08:00:00+08:00,T1,data,x", "*", "5 fields, expected 4"),
    ("13800138000,2020-03-01T08:00:00+08:00,T1,", "event", "missing value"),
    (",2020-03-01T08:00:00+08:00,T1,data", "phone", "missing phone number"),
    ("+86 138-0013-8000,2020-03-01T08:00:00+08:00,T1,periodic", "*", "duplicated row"),
    (GOOD[0], "*", "duplicated row"),
])
def test_bad_rows_are_rejected_with_row_field_reason(lake_with_refs: Path, line: str, field: str,
                                                     reason: str) -> None:
    f = _feed(lake_with_refs, "cell.csv", [*GOOD, line])
    res = ingest_file(f, "cell")
    assert res.accepted == 3 and res.rejected == 1
    err = res.sample[0]
    assert (err.row, err.field) == (4, field) and reason in err.reason
    assert str(f) in str(err)
    assert res.reject_file is not None
    rej = Path(res.reject_file).read_text()
    assert reason in rej and "13800138000" not in rej          # identifiers are masked there too


def test_truncated_file_names_the_row(lake_with_refs: Path) -> None:
    f = lake_with_refs / "cut.csv"
    f.write_text(HEADER + "\n".join(GOOD) + "\n13800138000,2020-03-0")
    res = ingest_file(f, "cell")
    assert res.accepted == 3 and res.sample[0].row == 4 and "truncated" in res.sample[0].reason
    assert res.sample[0].field == "tower_id"          # the first column the cut row lacks


def test_wrong_columns_fail_the_file(lake_with_refs: Path) -> None:
    f = _feed(lake_with_refs, "cell.csv", GOOD, header="msisdn,ts,tower_id,event\n")
    with pytest.raises(InvalidInput, match=r"missing column.*phone") as e:
        ingest_file(f, "cell")
    assert e.value.field == "phone" and "cell.csv" in e.value.message
    empty = lake_with_refs / "e.csv"
    empty.write_bytes(b"")
    with pytest.raises(InvalidInput, match=r"e\.csv: the file is empty"):
        ingest_file(empty, "cell")
    p = lake_with_refs / "broken.parquet"
    p.write_bytes(b"PAR1\x00\x01garbage")
    with pytest.raises(InvalidInput, match=r"broken\.parquet: cannot read"):
        ingest_file(p, "cell")


def test_strict_mode_lands_nothing(lake_with_refs: Path) -> None:
    f = _feed(lake_with_refs, "cell.csv", [*GOOD, "13800138000,2020-03-01T08:00:00+08:00,T9,data"])
    before = _lake_files(get_lake().root)
    with pytest.raises(RowErrors, match="row 4, field tower_id"):
        ingest_file(f, "cell", strict=True)
    assert _lake_files(get_lake().root) == before


def test_all_rows_bad_is_an_error(lake_with_refs: Path) -> None:
    f = _feed(lake_with_refs, "cell.csv", ["13800138000,2020-03-01T08:00:00+08:00,T9,data"])
    with pytest.raises(RowErrors):
        ingest_file(f, "cell")


def test_unknown_towers_need_reference_tables(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="ingest-ref"):
        ingest_file(_feed(tmp_path, "cell.csv", GOOD), "cell")


def test_crash_before_commit_leaves_the_lake_unchanged(lake_with_refs: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    lake = get_lake()
    before = _lake_files(lake.root)
    real = store.pq.write_table
    calls = {"n": 0}

    def crash_on_second(*a: object, **k: object) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        real(*a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(store.pq, "write_table", crash_on_second)
    f = _feed(lake_with_refs, "cell.csv", GOOD)          # two days: two partition files
    with pytest.raises(OSError):
        ingest_file(f, "cell")
    monkeypatch.setattr(store.pq, "write_table", real)
    assert not list(lake.root.glob("cell/day=*/*.parquet"))
    staged = [d.name for d in (lake.root / "_staging").iterdir()]
    assert len(staged) == 1                               # the half-written batch, never visible
    assert lake.recover() == [f"dropped unfinished batch {staged[0]}"]
    assert _lake_files(lake.root) == before
    assert ingest_file(f, "cell").accepted == 3           # not marked as ingested


def test_crash_after_commit_marker_is_finished_on_recovery(lake_with_refs: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    lake = get_lake()

    def crash(self: store.Lake, d: Path, entry: dict[str, object]) -> None:
        raise OSError("power cut")

    real = store.Lake._publish
    monkeypatch.setattr(store.Lake, "_publish", crash)
    f = _feed(lake_with_refs, "cell.csv", GOOD)
    with pytest.raises(OSError):
        ingest_file(f, "cell")
    assert not list(lake.root.glob("cell/day=*/*.parquet"))
    monkeypatch.setattr(store.Lake, "_publish", real)
    done = lake.recover()
    assert len(done) == 1 and done[0].startswith("finished batch")
    assert len(list(lake.root.glob("cell/day=*/*.parquet"))) == 2
    assert ingest_file(f, "cell").skipped


def test_purge_removes_whole_old_partitions(lake_with_refs: Path) -> None:
    f = _feed(lake_with_refs, "cell.csv", GOOD)
    ingest_file(f, "cell")
    r = CliRunner().invoke(app, ["lake", "purge", "--older-than", "0", "--today", "2020-03-02"])
    assert r.exit_code == 0, r.output
    assert "removed cell day=2020-03-01: 2 rows" in r.output
    lake = get_lake()
    assert [d for _s, d, _p in lake.partitions()] == ["2020-03-02"]
    r = CliRunner().invoke(app, ["lake", "purge", "--older-than", "1", "--today", "2020-03-02"])
    assert "nothing older than 2020-03-01" in r.output
    CliRunner().invoke(app, ["lake", "purge", "--older-than", "0", "--today", "2020-03-03"])
    assert lake.partitions() == []
    assert ingest_file(f, "cell").accepted == 3          # a fully purged batch may come again
    r = CliRunner().invoke(app, ["lake", "stats"])
    assert "cell" in r.output and "3" in r.output


def test_ingest_world(settings: Settings, tmp_path: Path) -> None:
    from zhikong.sim.district import tiny_district
    from zhikong.sim.params import SimParams
    from zhikong.sim.service import generate_world

    w = tmp_path / "w"
    summary = generate_world(w, SimParams(seed=3, people=300, days=2), villages=tiny_district())
    results = ingest_world(w)
    landed: dict[str, int] = {}
    for r in results:
        landed[r.source] = landed.get(r.source, 0) + r.accepted + r.rejected
        assert r.rejected == 0, r.sample                    # the simulator writes only valid rows
    assert landed == summary.rows
    meta = json.loads((w / "world.json").read_text())
    assert get_lake().meta()["origin_lat"] == meta["origin"]["lat"]
    assert all(r.skipped for r in ingest_world(w))


def test_time_window_option(lake_with_refs: Path) -> None:
    f = _feed(lake_with_refs, "cell.csv", GOOD)
    r = CliRunner().invoke(app, ["lake", "ingest", str(f), "--source", "cell",
                                 "--since", "2020-03-02T00:00:00+08:00"])
    assert r.exit_code == 0, r.output
    assert "1 rows landed" in r.output and "2 rejected" in r.output and "out of range" in r.output
    r = CliRunner().invoke(app, ["lake", "ingest", str(f), "--source", "cell", "--since", "2020-03-02"])
    assert r.exit_code != 0


def test_wrong_types_and_positions(lake_with_refs: Path) -> None:
    from zhikong.geo.service import district_projection

    cam = _feed(lake_with_refs, "cam.csv", ["C1,2020-03-01T10:00:00+08:00,11010519491231002X,0.9",
                                            "C1,2020-03-01T10:01:00+08:00,11010519491231002X,high"],
                header="camera_id,ts,id_number,score\n")
    res = ingest_file(cam, "camera")
    assert res.accepted == 1 and (res.sample[0].row, res.sample[0].field) == (2, "score")
    assert "not a number" in res.sample[0].reason
    gps = _feed(lake_with_refs, "gps.csv", ["13800138000,2020-03-01T10:00:00+08:00,29.41,106.72,12.5",
                                            "13800138000,2020-03-01T10:05:00+08:00,91.0,106.72,12.5"],
                header="phone,ts,lat,lon,accuracy_m\n")
    res = ingest_file(gps, "gps")
    assert res.accepted == 1 and res.sample[0].field == "lat"
    t = pq.read_table(get_lake().partition("gps", "2020-03-01"))
    x, y = district_projection("500113").to_xy(29.41, 106.72)
    assert t.column("x")[0].as_py() == pytest.approx(x, abs=0.5)
    assert t.column("y")[0].as_py() == pytest.approx(y, abs=0.5)


def test_ingest_derives_the_cell_stays_and_keeps_them_current(lake_with_refs: Path) -> None:
    from zhikong.tracing import stays
    from zhikong.tracing.policy import load_policy

    rules = load_policy().rules
    lake = get_lake()
    ingest_file(_feed(lake_with_refs, "cell.csv", GOOD), "cell")
    d = stays.fresh(lake.root, rules)
    assert d is not None  # derived by the ingest, for the lake as it is now
    state = json.loads((d / "_state.json").read_text())
    assert (state["pings"], state["stays"], state["people"]) == (3, 3, 2)
    r = CliRunner().invoke(app, ["lake", "build-stays"])
    assert r.exit_code == 0 and "up to date" in r.output, r.output
    r = CliRunner().invoke(app, ["lake", "purge", "--older-than", "0", "--today", "2020-03-02"])
    assert r.exit_code == 0, r.output
    d = stays.fresh(lake.root, rules)
    assert d is not None and json.loads((d / "_state.json").read_text())["pings"] == 1
    r = CliRunner().invoke(app, ["lake", "build-stays", "--force"])
    assert r.exit_code == 0 and "1 pings of 1 phones → 1 stays" in r.output, r.output
    assert "_derived" not in {s for s, _d, _p in lake.partitions()}


def test_ingest_without_derive_leaves_the_stays_stale_until_built(lake_with_refs: Path) -> None:
    from zhikong.tracing import stays
    from zhikong.tracing.policy import load_policy

    rules = load_policy().rules
    lake = get_lake()
    feed = _feed(lake_with_refs, "cell.csv", GOOD)
    r = CliRunner().invoke(app, ["lake", "ingest", str(feed), "--source", "cell", "--no-derive"])
    assert r.exit_code == 0, r.output
    assert int(str(lake.stats()["cell"]["rows"])) == 3
    assert stays.fresh(lake.root, rules) is None     # landed, not derived
    r = CliRunner().invoke(app, ["lake", "build-stays"])
    assert r.exit_code == 0, r.output
    d = stays.fresh(lake.root, rules)
    assert d is not None and json.loads((d / "_state.json").read_text())["pings"] == 3
