"""Ingest of feed files into the lake: read, validate, pseudonymise, land atomically.

A *batch* is one file for one source. Its id is the SHA-256 of the source name and the file's
bytes, so re-ingesting the same file adds nothing. Rows are numbered from 1 for the first data row
(the CSV header is not a row). Rejected rows go to ``_rejects/<source>/<batch>.csv`` with the row,
the field, the reason and the value (identifiers masked); accepted rows land whole or not at all.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from zhikong.core.config import get_settings
from zhikong.core.crypto import get_cipher, mask_middle
from zhikong.core.errors import InvalidInput, NotFound, RowError, RowErrors
from zhikong.geo.projection import Projection
from zhikong.lake import validate as v
from zhikong.lake.schemas import PID_KIND, REFERENCE, SOURCES, TIME_COLUMN
from zhikong.lake.store import Lake

#: columns of each source as operators deliver them: the identifier in plaintext instead of pid,
#: no x/y (computed at ingest)
RAW_COLUMNS: dict[str, list[str]] = {
    "cell": ["phone", "ts", "tower_id", "event"],
    "roaming": ["phone", "city", "city_code", "first_seen", "last_seen"],
    "camera": ["camera_id", "ts", "id_number", "score"],
    "venue_scan": ["venue_id", "ts", "id_number"],
    "travel": ["id_number", "mode", "vehicle", "carriage", "seat", "origin_city", "origin_code",
               "depart_ts", "ts"],
    "gps": ["phone", "ts", "lat", "lon", "accuracy_m"],
    "proximity": ["phone", "ts", "other_phone", "duration_s", "rssi"],
}
EVENTS = ["periodic", "handover", "call", "data", "attach"]
MODES = ["train", "coach", "flight"]
#: feed column → reference table that must know its value
REF_OF = {"tower_id": "tower", "camera_id": "camera", "venue_id": "venue"}
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_IDENT = {"phone", "other_phone", "id_number"}
#: text columns read from Parquet as dictionaries (few distinct values)
_DICT_PARQUET = {"tower_id", "camera_id", "venue_id", "event", "mode", "city", "city_code", "origin_city",
                 "origin_code"}
_TEXT_JSON = {"ts", "depart_ts", "first_seen", "last_seen", "tower_id", "camera_id", "venue_id", "city_code",
              "origin_code"}


@dataclass
class IngestResult:
    file: str
    source: str
    batch: str
    rows: int = 0
    accepted: int = 0
    rejected: int = 0
    days: list[str] = field(default_factory=list)
    skipped: bool = False          # the same batch was ingested before
    reject_file: str | None = None
    sample: list[RowError] = field(default_factory=list)


def get_lake() -> Lake:
    return Lake(get_settings().resolved_lake_dir)


# ---- reading -------------------------------------------------------------------------------------
def _fmt(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith(".csv"):
        return "csv"
    raise InvalidInput(f"{path}: unknown file type (expected .csv, .jsonl or .parquet)", field="file")


def read_file(path: Path, expected: list[str]) -> tuple[pa.Table, np.ndarray | None, list[RowError]]:
    """The file as a table, the file row number of each table row (None: row i is i + 1), and the
    rows that could not be parsed at all (wrong number of fields: truncated or shifted lines)."""
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file", field="file")
    if path.stat().st_size == 0:
        raise InvalidInput(f"{path}: the file is empty", field="file")
    fmt = _fmt(path)
    broken: list[RowError] = []
    try:
        if fmt == "parquet":
            # identifiers as plain strings (when a column's dictionary overflowed into plain pages,
            # encoding them afterwards costs less than reading them as dictionaries); codes, ids
            # and events as dictionaries, as Parquet stores them
            names = pq.read_schema(path).names
            tbl = pq.read_table(path, read_dictionary=[c for c in expected
                                                            if c in _DICT_PARQUET and c in names])
        elif fmt == "jsonl":
            # text columns stay text (Arrow would turn "+08:00" times into naive UTC ones)
            text_cols = [c for c in expected if c in _TEXT_JSON]
            tbl = pajson.read_json(path, parse_options=pajson.ParseOptions(
                explicit_schema=pa.schema([(c, pa.string()) for c in text_cols])))
        else:
            header = path.open("rb").readline().decode("utf-8-sig", errors="replace").strip()
            cols = [c.strip().strip('"') for c in header.split(",")]
            _check_columns(path, cols, expected)
            bad: list[tuple[int | None, str, int, int]] = []

            def handler(row: pacsv.InvalidRow) -> str:
                bad.append((row.number, row.text, row.expected_columns, row.actual_columns))
                return "skip"

            def read(threads: bool) -> pa.Table:
                return pacsv.read_csv(
                    path, read_options=pacsv.ReadOptions(use_threads=threads, block_size=16 << 20),
                    parse_options=pacsv.ParseOptions(invalid_row_handler=handler),
                    convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(cols, pa.string()),
                                                         strings_can_be_null=False))
            tbl = read(True)
            if bad and any(b[0] is None for b in bad):
                bad.clear()
                tbl = read(False)      # single-threaded reading knows the line numbers
            skipped = sorted(int(b[0] or 0) - 1 for b in bad)
            for (num, text, exp, act) in sorted(bad, key=lambda b: b[0] or 0):
                # a short row names its first missing column; a long one the whole row
                fld = cols[act] if act < min(exp, len(cols)) else "*"
                why = (f"truncated row: {act} of {exp} fields (from {fld} on missing)" if act < exp
                       else f"{act} fields, expected {exp}")
                broken.append(RowError(int(num or 0) - 1, fld, why, _mask_text(text, cols), str(path)))
            return tbl, (_row_numbers(tbl.num_rows, skipped) if skipped else None), broken
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as e:
        raise InvalidInput(f"{path}: cannot read the {fmt} file (truncated or corrupt?): {e}",
                           field="file") from e
    _check_columns(path, tbl.column_names, expected)
    return tbl, None, broken


_LOOKS_LIKE_ID = re.compile(r"\d{6,}[\dXx]*|(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d){8}")


def _mask_text(text: str, cols: list[str]) -> str:
    """Raw row text with its identifier columns, and anything else that looks like a phone or ID
    number (also spelt with spaces or dashes), masked; at most 80 characters."""
    try:
        fields = next(csv.reader([text]))
    except (csv.Error, StopIteration):
        fields = [text]
    masked = [mask_middle(f, 3, 2) if i < len(cols) and cols[i] in _IDENT else f
              for i, f in enumerate(fields)]
    return _LOOKS_LIKE_ID.sub(lambda m: mask_middle(m.group(0), 3, 2), ",".join(masked))[:80]


def _row(rows: np.ndarray | None, i: int) -> int:
    return i + 1 if rows is None else int(rows[i])


def _row_numbers(n: int, skipped: list[int]) -> np.ndarray:
    rows = np.arange(1, n + 1)
    for s in skipped:
        rows[rows >= s] += 1
    return rows


def _check_columns(path: Path, cols: list[str], expected: list[str]) -> None:
    missing = [c for c in expected if c not in cols]
    if missing:
        raise InvalidInput(f"{path}: missing column(s) {', '.join(missing)}; the file has "
                           f"{', '.join(cols) or 'no header'} (expected {', '.join(expected)})",
                           field=missing[0])
    dup = sorted({c for c in cols if cols.count(c) > 1})
    if dup:
        raise InvalidInput(f"{path}: duplicated column(s) {', '.join(dup)}", field=dup[0])


# ---- reference tables --------------------------------------------------------------------------------
_REF_IDS = {"tower": "tower_id", "camera": "camera_id", "venue": "venue_id"}


def known_ids(lake: Lake, table: str) -> pa.Array:
    p = lake.ref_path(table)
    if not p.exists():
        raise InvalidInput(f"the lake has no reference table {table}: run `zhikong lake ingest-ref` first",
                           field=_REF_IDS[table])
    return pq.read_table(p, columns=[_REF_IDS[table]]).column(0).combine_chunks()


def ingest_ref(path: Path, lake: Lake | None = None,
               origin: tuple[float, float] | None = None) -> dict[str, int]:
    """Load reference tables (``tower.csv``, ``camera.csv``, ``venue.csv`` in a directory, or one file
    named after its table); each replaces the table whole. Returns rows per table."""
    lake = lake or get_lake()
    files = sorted(path.glob("*.*")) if path.is_dir() else [path]
    out: dict[str, int] = {}
    with lake.locked():
        if origin is not None:
            lake.set_meta(origin_lat=origin[0], origin_lon=origin[1])
        for f in files:
            table = f.name.split(".")[0]
            if table not in REFERENCE:
                continue
            schema = REFERENCE[table]
            tbl, rows, broken = read_file(f, [c for c in schema.names if c not in ("x", "y")])
            if broken:
                raise RowErrors(errors=broken[:1000], file=str(f))
            chk = v.Checker(tbl.num_rows)
            cols: dict[str, pa.ChunkedArray] = {}
            for name in schema.names:
                typ = schema.field(name).type
                if name in ("lat", "lon"):
                    lo, hi = (3.0, 54.0) if name == "lat" else (73.0, 136.0)
                    cols[name] = v.number(tbl[name], name, chk, typ, lo, hi)
                elif name in ("x", "y"):
                    continue
                elif pa.types.is_floating(typ):
                    cols[name] = v.number(tbl[name], name, chk, typ, 0, 1e6)
                elif name == _REF_IDS[table]:
                    cols[name] = v.required_string(tbl[name], name, chk)
                else:
                    cols[name] = v.optional_string(tbl[name])
            ids = cols[_REF_IDS[table]]
            dup = pd.Series(ids.to_numpy(zero_copy_only=False)).duplicated().to_numpy()
            chk.add(dup, _REF_IDS[table], "duplicated id")
            if chk.problems:
                raise RowErrors(errors=[RowError(_row(rows, i), fld, why, None, str(f))
                                        for i, fld, why in chk.first_reasons()[:1000]], file=str(f))
            x, y = _xy(lake, cols["lat"], cols["lon"])
            cols["x"], cols["y"] = x, y
            out_tbl = pa.table({n: cols[n] for n in schema.names}, schema=schema)
            dst = lake.ref_path(table)
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_suffix(".parquet.tmp")
            pq.write_table(out_tbl, tmp)
            tmp.replace(dst)
            out[table] = out_tbl.num_rows
    if not out:
        raise InvalidInput(f"{path}: no reference table found (expected tower.csv, camera.csv, venue.csv)",
                           field="file")
    return out


def _projection(lake: Lake) -> Projection:
    """The projection of x/y: the origin recorded in the lake, else the district's (geo)."""
    m = lake.meta()
    if "origin_lat" not in m:
        from zhikong.geo.service import district_projection

        try:
            p = district_projection(get_settings().district_code)
        except NotFound as e:
            raise InvalidInput("the lake has no projection origin: ingest a world's reference tables "
                               "first (`zhikong lake ingest-world`)", field="origin") from e
        lake.set_meta(origin_lat=p.origin_lat, origin_lon=p.origin_lon)
        return p
    return Projection(float(str(m["origin_lat"])), float(str(m["origin_lon"])))


def _xy(lake: Lake, lat: pa.ChunkedArray, lon: pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    x, y = _projection(lake).to_xy(pc.fill_null(lat, 0.0).to_numpy(zero_copy_only=False),
                                   pc.fill_null(lon, 0.0).to_numpy(zero_copy_only=False))
    return pa.array(np.asarray(x, dtype=np.float32)), pa.array(np.asarray(y, dtype=np.float32))


# ---- feeds -------------------------------------------------------------------------------------------
def batch_id(path: Path, source: str) -> str:
    """The batch id: SHA-256 of the source name and the file's bytes (first 32 hex digits)."""
    h = hashlib.sha256(source.encode())
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()[:32]


def _check_source(source: str) -> None:
    if source not in SOURCES:
        raise InvalidInput(f"unknown source {source!r} (one of {', '.join(SOURCES)})", field="source")


@dataclass
class _Prepared:
    """A batch read, checked and split by day, not yet landed."""
    res: IngestResult
    parts: dict[str, pa.Table]
    errors: list[RowError]


def ingest_file(path: Path, source: str, lake: Lake | None = None, *, strict: bool = False,
                since: datetime | None = None, until: datetime | None = None,
                _before_commit: Callable[[], None] | None = None, build_derived: bool = True) -> IngestResult:
    """Ingest one feed file of ``source``. ``strict``: any bad row fails the whole batch.
    ``build_derived=False`` lands the rows only and leaves the derived tables stale (see
    :func:`ingest_files`)."""
    _check_source(source)
    lake = lake or get_lake()
    batch = batch_id(path, source)
    with lake.locked():
        if batch in lake.manifest():
            return IngestResult(str(path), source, batch, skipped=True)
        res = _land(lake, _prepare(lake, path, source, batch, strict, since, until), _before_commit)
        if build_derived and source in DERIVED_FROM and res.accepted:
            derive(lake)
        return res


def ingest_files(files: Sequence[tuple[Path, str]], lake: Lake | None = None, *, strict: bool = False,
                 since: datetime | None = None, until: datetime | None = None, workers: int = 2,
                 progress: Callable[[str, int, int], None] | None = None,
                 build_derived: bool = True) -> list[IngestResult]:
    """Ingest many ``(file, source)`` batches under one lock of the lake.

    Up to ``workers`` batches are read, checked and pseudonymised at the same time in threads
    (pyarrow, numpy and DuckDB release the GIL, so two cores work); they land one after the other
    in the given order, each atomically as in :func:`ingest_file`. At most ``workers + 1`` batches
    are in memory. An error stops the run: the batches before it have landed, none after it.

    When rows of a traced source landed (:data:`DERIVED_FROM`), the derived tables a trace reads are
    brought up to date once at the end (:func:`derive`). ``build_derived=False`` skips that, for
    frequent small deliveries (e.g. hourly files): the derived tables are then stale, a trace falls
    back to the pings (same results, slower) until ``zhikong lake build-stays`` or the next ingest
    builds them.
    """
    for _f, src in files:
        _check_source(src)
    lake = lake or get_lake()
    results: list[IngestResult] = []
    with lake.locked():
        if any(src == "gps" for _f, src in files):
            _projection(lake)                     # record the origin once, before the threads
        known = set(lake.manifest())

        def job(path: Path, source: str) -> IngestResult | _Prepared:
            batch = batch_id(path, source)
            if batch in known:
                return IngestResult(str(path), source, batch, skipped=True)
            return _prepare(lake, path, source, batch, strict, since, until)

        todo = iter(files)
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            pending: deque[Future[IngestResult | _Prepared]] = deque(
                pool.submit(job, *f) for f in islice(todo, max(1, workers)))
            try:
                while pending:
                    done = pending.popleft().result()
                    nxt = next(todo, None)
                    if nxt is not None:
                        pending.append(pool.submit(job, *nxt))
                    if isinstance(done, _Prepared):
                        if done.res.batch in known:     # the same file twice in one run
                            r = done.res
                            done = IngestResult(r.file, r.source, r.batch, skipped=True)
                        else:
                            done = _land(lake, done, None)
                            known.add(done.batch)
                    results.append(done)
                    if progress:
                        progress("files", len(results), len(files))
            finally:
                for fut in pending:
                    fut.cancel()
        if build_derived and any(r.source in DERIVED_FROM and not r.skipped and r.accepted
                                 for r in results):
            derive(lake)
    return results


#: the sources the derived tables are built from (``derive``; cell and GPS: all of them, the others:
#: only their part, see ``zhikong.tracing.stays``)
DERIVED_FROM = ("cell", "gps", "venue_scan", "camera", "travel", "proximity")


def derive(lake: Lake) -> object:
    """Bring the lake's derived tables up to date (the caller holds the lake's lock): the cell stays,
    the numbered GPS points and the other sources' rows on numbers a trace reads instead of every
    ping, point and pseudonym (``zhikong.tracing.stays``); nothing when up to date."""
    from zhikong.tracing.stays import build_stays

    return build_stays(lake.root, memory_limit=get_settings().duckdb_memory_limit)


def _prepare(lake: Lake, path: Path, source: str, batch: str, strict: bool, since: datetime | None,
             until: datetime | None) -> _Prepared:
    res = IngestResult(str(path), source, batch)
    tbl, rows, broken = read_file(path, RAW_COLUMNS[source])
    out, chk = _convert(lake, source, tbl, since, until)
    res.rows = tbl.num_rows + len(broken)
    bad = chk.rejected()
    # the offending value is shown for the first 10,000 bad rows (the rest: row, field, reason)
    errors = broken + [RowError(_row(rows, i), fld, why, _shown(tbl, fld, i) if k < 10_000 else None,
                                str(path))
                       for k, (i, fld, why) in enumerate(chk.first_reasons())]
    errors.sort(key=lambda e: e.row)
    res.rejected = len(errors)
    res.sample = errors[:20]
    if errors and (strict or res.rejected == res.rows):
        raise RowErrors(errors=errors[:1000], file=str(path))
    good = out.filter(pa.array(~bad)) if errors else out
    parts = _split_days(good, TIME_COLUMN[source])
    res.accepted = good.num_rows
    res.days = sorted(parts)
    return _Prepared(res, parts, errors)


def _land(lake: Lake, p: _Prepared, before_commit: Callable[[], None] | None) -> IngestResult:
    res = p.res
    if p.errors:
        rej = lake.root / "_rejects" / res.source / f"{res.batch}.csv"
        rej.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame([e.__dict__ for e in p.errors]).to_csv(rej, index=False)
        res.reject_file = str(rej)
    if before_commit is not None:
        before_commit()
    lake.commit(res.batch, res.source, p.parts, {
        "file": res.file, "rows": res.rows, "accepted": res.accepted, "rejected": res.rejected,
        "days": res.days, "at": datetime.now(UTC).isoformat(timespec="seconds")})
    return res


def _shown(tbl: pa.Table, fld: str, i: int) -> str | None:
    if fld not in tbl.column_names:
        return None
    val = tbl[fld][i].as_py()
    if val is None:
        return None
    s = str(val)
    return mask_middle(s, 3, 2) if fld in _IDENT else s[:80]


def _convert(lake: Lake, source: str, tbl: pa.Table, since: datetime | None,
             until: datetime | None) -> tuple[pa.Table, v.Checker]:
    s = get_settings()
    tz = ZoneInfo(s.timezone)
    off = datetime(2020, 1, 1, tzinfo=tz).strftime("%z")
    offsets = (f"{off[:3]}:{off[3:]}", "+00:00")
    lo = pa.scalar(since or EARLIEST, v.TS)
    hi = pa.scalar(until or datetime.now(UTC) + timedelta(days=1), v.TS)
    chk = v.Checker(tbl.num_rows)
    schema = SOURCES[source]
    key = get_cipher().hash_key()
    c: dict[str, pa.ChunkedArray | pa.Array] = {}
    raw = RAW_COLUMNS[source]
    for name in raw:
        col = tbl[name]
        if name in ("phone", "id_number"):
            c["pid"] = v.pseudonymise(col, name, PID_KIND[source], chk, key)
        elif name == "other_phone":
            c["other_pid"] = v.pseudonymise(col, name, "phone", chk, key)
        elif name in ("ts", "depart_ts", "first_seen", "last_seen"):
            c[name] = v.timestamp(col, name, chk, lo, hi, offsets)
        elif name in REF_OF:
            d = v.required_string(col, name, chk)
            v.value_check(d, pc.is_in(d.dictionary, known_ids(lake, REF_OF[name])), name, chk,
                          f"unknown {name} (not in the {REF_OF[name]} reference table)")
            c[name] = d
        elif name in ("event", "mode"):
            allowed = EVENTS if name == "event" else MODES
            d = v.required_string(col, name, chk)
            v.value_check(d, pc.is_in(d.dictionary, pa.array(allowed)), name, chk,
                          f"unknown {name} (one of {', '.join(allowed)})")
            c[name] = d
        elif name in ("city_code", "origin_code"):
            d = v.required_string(col, name, chk)
            v.value_check(d, pc.match_substring_regex(d.dictionary, r"^\d{6}$"), name, chk,
                          "not a 6-digit area code")
            c[name] = d
        elif name in ("city", "origin_city", "vehicle"):
            c[name] = v.required_string(col, name, chk)
        elif name in ("carriage", "seat"):
            c[name] = v.optional_string(col)
        elif name == "score":
            c[name] = v.number(col, name, chk, pa.float32(), 0.0, 1.0)
        elif name == "lat":
            c[name] = v.number(col, name, chk, pa.float64(), 3.0, 54.0)
        elif name == "lon":
            c[name] = v.number(col, name, chk, pa.float64(), 73.0, 136.0)
        elif name == "accuracy_m":
            c[name] = v.number(col, name, chk, pa.float32(), 0.0, 10_000.0)
        elif name == "duration_s":
            c[name] = v.number(col, name, chk, pa.int32(), 0, 86_400)
        elif name == "rssi":
            c[name] = v.number(col, name, chk, pa.int16(), -130, 0)
    if source == "gps":
        c["x"], c["y"] = _xy(lake, c["lat"], c["lon"])
    # pseudonyms stay dictionary-encoded until written (same values as the schema's strings)
    fields = [pa.field(n, c[n].type if pa.types.is_dictionary(c[n].type) else schema.field(n).type)
              for n in schema.names]
    out = pa.table({n: c[n] for n in schema.names}, schema=pa.schema(fields))
    _duplicates(out, chk, out.column_names.index(TIME_COLUMN[source]))
    return out, chk


def _codes(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """An int64 code per row that is equal exactly when the values are (nulls get their own code)."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if pa.types.is_dictionary(col.type):
        idx = col.indices
    elif pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        idx = pc.dictionary_encode(col).indices
    elif pa.types.is_floating(col.type):
        f = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
        return np.nan_to_num(f, nan=-1e300).view(np.int64)
    else:
        idx = pc.cast(col, pa.int64())
    idx = pc.cast(idx, pa.int64())
    if idx.null_count:
        idx = pc.fill_null(idx, -1)
    return np.asarray(idx.to_numpy(zero_copy_only=False))


def _duplicates(out: pa.Table, chk: v.Checker, time_col: int) -> None:
    """Rows equal to an earlier row of the same batch.

    Every column becomes an integer code and the codes are mixed into one hash per row. Rows whose
    32-bit hash (within their time, for a batch in time order) is unique cannot repeat; the few
    others (true duplicates and chance collisions) are compared exactly. Cost: one pass and one
    sort (adaptive on a batch in time order, else of 32-bit keys).
    """
    n = out.num_rows
    if n < 2:
        return
    codes = [_codes(out.column(i)) for i in range(out.num_columns)]
    h = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for c in codes:
            h ^= c.view(np.uint64)
            h *= np.uint64(0x100000001B3)
            h += np.uint64(0x9E3779B97F4A7C15)
        h ^= h >> np.uint64(29)
        h *= np.uint64(0xBF58476D1CE4E5B9)
    h32 = (h >> np.uint64(32)).astype(np.uint32)
    t = codes[time_col]
    if (t[1:] >= t[:-1]).all():
        # in time order (as feeds are): equal rows share a time, so the key (rank of the time,
        # 32-bit hash) is sorted but within runs of equal times, which an adaptive sort exploits
        rank = np.zeros(n, dtype=np.uint64)
        np.cumsum(t[1:] != t[:-1], out=rank[1:])
        key = (rank << np.uint64(32)) | h32
        srt = np.sort(key, kind="stable")
    else:
        key = h32
        srt = np.sort(h32)
    same = srt[1:] == srt[:-1]
    if not same.any():
        return
    cand = np.flatnonzero(pd.Series(key).isin(np.unique(srt[1:][same])).to_numpy())
    exact = pd.DataFrame({f"c{i}": c[cand] for i, c in enumerate(codes)}).duplicated().to_numpy()
    dup = np.zeros(n, dtype=bool)
    dup[cand[exact]] = True
    chk.add(dup, "*", "duplicated row (same values as an earlier row)")


def _split_days(tbl: pa.Table, time_col: str) -> dict[str, pa.Table]:
    if tbl.num_rows == 0:
        return {}
    tz = get_settings().timezone
    us = pc.cast(tbl[time_col], pa.int64()).to_numpy(zero_copy_only=False)
    lo = datetime.fromtimestamp(int(us.min()) / 1e6, UTC).astimezone(ZoneInfo(tz))
    hi = datetime.fromtimestamp(int(us.max()) / 1e6, UTC).astimezone(ZoneInfo(tz))
    if lo.utcoffset() == hi.utcoffset():   # no DST change inside the batch: arithmetic is exact
        off = lo.utcoffset()
        assert off is not None
        dayno = (us + int(off.total_seconds() * 1e6)) // 86_400_000_000
    else:
        local = pc.strftime(pc.cast(tbl[time_col], pa.timestamp("us", tz=tz)), format="%Y-%m-%d")
        dayno = np.array([(date.fromisoformat(d) - date(1970, 1, 1)).days for d in local.to_pylist()])
    if len(dayno) > 1 and not (np.diff(dayno) >= 0).all():   # feeds are mostly in time order
        order = np.argsort(dayno, kind="stable")
        tbl = tbl.take(pa.array(order))
        dayno = dayno[order]
    cut = np.flatnonzero(dayno[1:] != dayno[:-1]) + 1        # dayno is sorted now
    starts = np.concatenate([[0], cut])
    days = dayno[starts]
    ends = [*cut.tolist(), len(dayno)]
    return {(date(1970, 1, 1) + timedelta(days=int(d))).isoformat(): tbl.slice(int(a), int(b) - int(a))
            for d, a, b in zip(days, starts, ends, strict=True)}


# ---- a whole world ------------------------------------------------------------------------------------
def ingest_world(world: Path, lake: Lake | None = None,
                 progress: Callable[[str, int, int], None] | None = None,
                 build_derived: bool = True) -> list[IngestResult]:
    """Reference tables, then every feed file of a world directory."""
    lake = lake or get_lake()
    meta_file = world / "world.json"
    origin = None
    if meta_file.exists():
        o = json.loads(meta_file.read_text()).get("origin")
        if o:
            origin = (float(o["lat"]), float(o["lon"]))
    ingest_ref(world / "ref", lake, origin=origin)
    files = [(f, src) for src in SOURCES for f in sorted((world / "feeds" / src).glob("*.*"))]
    return ingest_files(files, lake, progress=progress)
