"""Ingest paths of the bulk pipeline: no plaintext identifier anywhere in the lake, Parquet rejects
named by row and field, big partitions split over parallel files (atomic and idempotent)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zhikong.core.config import Settings
from zhikong.core.crypto import get_cipher
from zhikong.core.errors import InvalidInput, RowErrors
from zhikong.lake import store
from zhikong.lake.service import get_lake, ingest_file, ingest_files, ingest_ref

from .test_ingest import GOOD, HEADER, _feed, _lake_files

PHONES = ["13800138000", "13900139000", "13700137000", "13600136000"]
#: what must never appear in a lake file: the numbers, their E.164 form, their spellings
FORBIDDEN = [*PHONES, *(f"+86{p}" for p in PHONES), "138-0013-8000", "138 0013 8000",
             "11010519491231002X", "110105491231002"]

BAD_CELL = [
    "13700137000,2020-03-01T09:00:00+08:00,T9,data",                  # unknown tower
    "+86 138-0013-8000,2020-03-01T09:00:00+08:00",                    # truncated
    "138 0013 8000,2020-03-01T09:00:00+08:00,T1,data,extra",          # too many fields
    "1360013600,2020-03-01T09:00:00+08:00,T1,data",                   # ten digits: not a mobile
    "13600136000,2020-03-01T09:00:00-05:00,T1,data",                  # wrong time zone
]


def _all_lake_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())


def test_no_plaintext_identifier_in_any_lake_file(lake_with_refs: Path) -> None:
    cell = _feed(lake_with_refs, "cell.csv", [*GOOD, *BAD_CELL])
    res = ingest_file(cell, "cell")
    assert (res.accepted, res.rejected) == (3, 5)
    scan = _feed(lake_with_refs, "scan.csv", ["V1,2020-03-01T10:00:00+08:00,11010519491231002X",
                                              "V1,2020-03-01T10:05:00+08:00,110105491231002",
                                              "V9,2020-03-01T10:06:00+08:00,11010519491231002X",
                                              "V1,2020-03-01T10:07:00+08:00"],
                 header="venue_id,ts,id_number\n")
    res = ingest_file(scan, "venue_scan")
    assert (res.accepted, res.rejected) == (2, 2)
    pq_feed = lake_with_refs / "cell.parquet"
    pq.write_table(pa.table({"phone": ["13600136000", "1360013600"], "tower_id": ["T1", "T1"],
                             "event": ["call", "call"],
                             "ts": pa.array([1583035200_000000] * 2, pa.timestamp("us", tz="+08:00"))}),
                   pq_feed)
    res = ingest_file(pq_feed, "cell")
    assert (res.accepted, res.rejected) == (1, 1)
    lake = get_lake()
    data = _all_lake_bytes(lake.root)
    assert list((lake.root / "_rejects").rglob("*.csv"))
    for ident in FORBIDDEN:
        assert ident.encode() not in data, ident
    # the pseudonyms are there: the ledger's keyed hash of the normalised numbers
    pids = set(pq.read_table(lake.root / "cell").column("pid").to_pylist())
    assert pids == {get_cipher().keyed_hash(f"+86{p}") for p in ("13800138000", "13900139000", "13600136000")}
    scans = pq.read_table(lake.root / "venue_scan").column("pid").to_pylist()
    assert scans == [get_cipher().keyed_hash("11010519491231002X")] * 2     # 15-digit form → same


def test_parquet_rejects_name_row_and_field(lake_with_refs: Path) -> None:
    ts = pa.array([1583020800_000000 + i * 60_000_000 for i in range(5)], pa.timestamp("us", tz="+08:00"))
    f = lake_with_refs / "cell.parquet"
    pq.write_table(pa.table({"phone": ["13800138000", "12345", "13800138000", None, "13800138000"],
                             "ts": ts, "tower_id": ["T1", "T1", "T9", "T1", "T2"],
                             "event": ["data", "data", "data", "data", "teleport"]}), f)
    res = ingest_file(f, "cell")
    assert res.accepted == 1
    got = [(e.row, e.field, e.reason.split(" (")[0]) for e in res.sample]
    assert got == [(2, "phone", "not a mainland mobile number"), (3, "tower_id", "unknown tower_id"),
                   (4, "phone", "missing phone number"), (5, "event", "unknown event")]
    assert all(str(f) in str(e) for e in res.sample)
    naive = lake_with_refs / "naive.parquet"
    naive_ts = pa.array([1583020800_000000], pa.timestamp("us"))
    pq.write_table(pa.table({"phone": ["13800138000"], "ts": naive_ts, "tower_id": ["T1"],
                             "event": ["data"]}), naive)
    with pytest.raises(RowErrors, match="row 1, field ts: timestamp without time zone"):
        ingest_file(naive, "cell")
    renamed = lake_with_refs / "renamed.parquet"
    pq.write_table(pa.table({"msisdn": ["13800138000"], "ts": ts.slice(0, 1), "tower_id": ["T1"],
                             "event": ["data"]}), renamed)
    with pytest.raises(InvalidInput, match=r"renamed\.parquet: missing column\(s\) phone"):
        ingest_file(renamed, "cell")


def _many_rows(n: int) -> list[str]:
    return [f"138{i:08d},2020-03-0{1 + i % 2}T{8 + i % 10:02d}:{i % 60:02d}:00+08:00,T{1 + i % 2},data"
            for i in range(n)]


def test_big_partitions_land_as_several_files_atomically(lake_with_refs: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "_ROWS_PER_FILE", 10)
    lake = get_lake()
    before = _lake_files(lake.root)
    f = _feed(lake_with_refs, "cell.csv", _many_rows(60))       # 30 rows per day: split in 2 files
    real = store.pq.write_table
    calls = {"n": 0}

    def crash_on_third(*a: object, **k: object) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        real(*a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(store.pq, "write_table", crash_on_third)
    with pytest.raises(OSError):
        ingest_file(f, "cell")
    monkeypatch.setattr(store.pq, "write_table", real)
    assert not list(lake.root.glob("cell/day=*/*.parquet"))     # nothing of the batch is visible
    assert lake.recover()[0].startswith("dropped unfinished batch")
    assert _lake_files(lake.root) == before

    res = ingest_file(f, "cell")
    assert res.accepted == 60
    files = sorted(p.name for p in lake.root.glob("cell/day=*/*.parquet"))
    assert len(files) == 4 and all(p.startswith(f"part-{res.batch}-") for p in files)
    assert pq.read_table(lake.root / "cell").num_rows == 60
    after = _lake_files(lake.root)
    assert ingest_file(f, "cell").skipped and _lake_files(lake.root) == after
    assert lake.stats()["cell"]["rows"] == 60


def test_reference_tables_are_required_per_source(settings: Settings, tmp_path: Path) -> None:
    ref = tmp_path / "ref"
    ref.mkdir()
    (ref / "tower.csv").write_text("tower_id,lat,lon,radius_m,unit_code\nT1,29.40,106.70,300,500113001001\n")
    ingest_ref(ref)
    assert ingest_file(_feed(tmp_path, "cell.csv", GOOD[:1]), "cell").accepted == 1
    with pytest.raises(InvalidInput, match="no reference table camera"):
        ingest_file(_feed(tmp_path, "cam.csv", ["C1,2020-03-01T10:00:00+08:00,11010519491231002X,0.9"],
                          header="camera_id,ts,id_number,score\n"), "camera")
    assert HEADER.startswith("phone")


@pytest.mark.parametrize("in_time_order", [True, False])
def test_duplicates_in_and_out_of_time_order(lake_with_refs: Path, in_time_order: bool) -> None:
    rows = ["13800138000,2020-03-01T08:00:00+08:00,T1,data",
            "13900139000,2020-03-01T08:00:00+08:00,T1,data",      # same time, another phone
            "13800138000,2020-03-01T08:00:00+08:00,T2,data",      # same time, another tower
            "+86 138 0013 8000,2020-03-01T08:00:00+08:00,T1,data",  # the first row again
            "13800138000,2020-03-01T08:01:00+08:00,T1,data",
            "13800138000,2020-03-01T08:01:00+08:00,T1,call",
            "13800138000,2020-03-01T08:01:00+08:00,T1,data"]      # the fifth row again
    if not in_time_order:
        rows = [rows[4], *rows[:4], *rows[5:]]
    res = ingest_file(_feed(lake_with_refs, "cell.csv", rows), "cell")
    assert res.accepted == 5
    dup_rows = sorted(e.row for e in res.sample if e.reason.startswith("duplicated row"))
    assert dup_rows == ([4, 7] if in_time_order else [5, 7])


def test_ingest_files_overlaps_batches_and_lands_them_in_order(lake_with_refs: Path) -> None:
    days = [_feed(lake_with_refs, f"d{i}.csv", [f"1380013800{i},2020-03-0{i + 1}T08:00:00+08:00,T1,data",
                                                 f"1390013900{i},2020-03-0{i + 1}T09:00:00+08:00,T2,call"])
            for i in range(5)]
    bad = _feed(lake_with_refs, "bad.csv", [*GOOD, "13800138000,2020-03-01T08:00:00+08:00,T9,data"])
    seen: list[int] = []
    files = [(f, "cell") for f in [*days, bad, days[0]]]
    res = ingest_files(files, workers=3, progress=lambda _s, d, _t: seen.append(d))
    assert [r.file for r in res] == [str(f) for f, _s in files] and seen == list(range(1, 8))
    assert [r.accepted for r in res] == [2] * 5 + [3, 0] and res[-1].skipped   # the same file twice
    assert res[5].rejected == 1 and res[5].sample[0].field == "tower_id"
    lake = get_lake()
    assert lake.stats()["cell"]["rows"] == 13
    before = _lake_files(lake.root)
    assert all(r.skipped for r in ingest_files(files))
    assert _lake_files(lake.root) == before


def test_ingest_files_stops_at_a_failing_batch(lake_with_refs: Path) -> None:
    ok = _feed(lake_with_refs, "ok.csv", GOOD)
    cut = _feed(lake_with_refs, "cut.csv", GOOD, header="msisdn,ts,tower_id,event\n")
    later = _feed(lake_with_refs, "later.csv", ["13700137000,2020-03-05T08:00:00+08:00,T1,data"])
    with pytest.raises(InvalidInput, match=r"cut\.csv: missing column\(s\) phone"):
        ingest_files([(ok, "cell"), (cut, "cell"), (later, "cell")])
    lake = get_lake()
    assert [d for _s, d, _p in lake.partitions()] == ["2020-03-01", "2020-03-02"]   # ok.csv only
    assert not (lake.root / "_staging").exists() or not any((lake.root / "_staging").iterdir())
    with pytest.raises(InvalidInput, match="unknown source"):
        ingest_files([(ok, "cel")])
