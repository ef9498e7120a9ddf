"""Import a resident ledger from CSV (UTF-8, UTF-8 with BOM, GBK/GB18030) or Excel (.xlsx).

The file is streamed in chunks; every row is validated and each problem becomes one
:class:`~zhikong.core.errors.RowError` (file, row, field, reason). Bad rows are skipped and written
to a reject CSV beside the input (the original values plus ``_row`` and ``_errors``); good rows are
upserted by the keyed hash of the ID number: new people are inserted, changed people updated,
unchanged people left alone, so importing the same file twice changes nothing. File-level problems
(unknown format or encoding, missing columns) reject the whole file. The whole import is one
transaction: it lands completely or not at all, and rows that fail validation never touch stored
data.

Speed: validation, keyed hashes and encryption run in worker processes (two on a multi-core machine
for files over 4 MB; ``workers=0`` keeps everything in-process), several chunks ahead of the main
process, which only reads the CSV, rejects duplicates, maps household codes to ids and writes. A
worker returns plain tuples ready to store (cheap to unpickle) and, into an empty ledger on
PostgreSQL, the rows already rendered as ``COPY`` text; rows are written with the driver's
``executemany`` (SQLite) or ``COPY`` (PostgreSQL), and stored rows are looked up with one array
parameter on PostgreSQL. Into an empty ledger every row is encrypted ahead; otherwise only new or
changed identifiers are encrypted, by the writer. A worker that raises or dies (then
:class:`~zhikong.core.errors.EngineError`) fails the import, which rolls back whole: nothing of
the file is stored and no reject file is left. Memory: a few chunks per worker plus the ID numbers
seen (for duplicates in the file), 8 bytes per row (:class:`SeenKeys`).
"""

from __future__ import annotations

import csv
import gc
import hashlib
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
from sqlalchemy import Connection, Engine, Table, bindparam, func, insert, select, update

from zhikong.core.config import get_settings
from zhikong.core.crypto import get_cipher
from zhikong.core.db import get_engine
from zhikong.core.errors import EngineError, InvalidInput, RowError
from zhikong.core.time import CHINA_TZ, utcnow
from zhikong.geo.models import AdminUnit, UnitLevel
from zhikong.people.generate import LEDGER_COLUMNS
from zhikong.people.ledger_io import map_header, read_rows
from zhikong.people.models import Household, ImportBatch, Person, ResidenceStatus, Sex
from zhikong.people.service import Protector
from zhikong.people.validate import ChunkSpec, Prepared, RawRow, init_worker, prepare_chunk

_PERSON = cast(Table, Person.__table__)
_HOUSEHOLD = cast(Table, Household.__table__)
_BATCH = cast(Table, ImportBatch.__table__)
_UNIT = cast(Table, AdminUnit.__table__)

_SQLITE_CACHE_KIB = 256 * 1024
#: files smaller than this are imported in-process (starting a worker costs more than it saves)
_WORKER_MIN_BYTES = 4 << 20
ProgressFn = Callable[[int], None]
NULL = "\\N"  # NULL in COPY text


@dataclass
class ImportResult:
    file: str
    batch_id: int
    rows_total: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    households_created: int = 0
    encoding: str = ""
    workers: int = 0
    seconds: float = 0.0
    reject_file: Path | None = None
    #: the first problems found (all of them are in the reject file)
    errors: list[RowError] = field(default_factory=list)

    def add(self, counts: tuple[int, int, int]) -> None:
        """Add a chunk's (inserted, updated, unchanged)."""
        self.inserted += counts[0]
        self.updated += counts[1]
        self.unchanged += counts[2]

    @property
    def rows_per_second(self) -> float:
        return self.rows_total / self.seconds if self.seconds else 0.0


# ----------------------------------------------------------------------------------------- writing

_PERSON_COLS = ("name", "sex", "birth_date", "id_number_enc", "id_number_hash", "id_number_masked",
                "phone_enc", "phone_hash", "phone_masked", "household_id", "address", "village_id",
                "residence_status", "created_at", "updated_at")


class _Writer:
    """Writes prepared chunks into ``person`` and ``household`` in the caller's transaction."""

    def __init__(self, conn: Connection, protector: Protector) -> None:
        self.conn = conn
        self.p = protector
        self.pg = conn.dialect.name == "postgresql"
        t = _PERSON
        dialect = conn.dialect
        # the dialect's own conversion of timestamps, so raw inserts store what the ORM would
        ts = t.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
        now = utcnow()
        self.now = now
        self.now_db = ts(now) if ts else now
        ph = "%s" if dialect.paramstyle in ("format", "pyformat") else "?"
        self._insert_sql = (f"INSERT INTO person ({', '.join(_PERSON_COLS)}) "
                            f"VALUES ({', '.join([ph] * len(_PERSON_COLS))})")
        self.households_created = 0
        # an empty ledger at the start of this transaction: every valid row is new (duplicates in the
        # file are rejected before), so the per-chunk lookup of stored rows can be skipped
        self.fresh = conn.execute(select(t.c.id).limit(1)).first() is None

    def _lookup(self, sql: str, values: list[str]) -> list[tuple[Any, ...]]:
        """Run ``sql`` whose ``{in}`` is a membership test against ``values`` (one array parameter on
        PostgreSQL: thousands of bind parameters cost more to parse than the lookup itself)."""
        if self.pg:
            return list(self.conn.exec_driver_sql(sql.format(any="= ANY(%s)"), (values,)).all())
        return list(self.conn.exec_driver_sql(
            sql.format(any=f"IN ({', '.join(['?'] * len(values))})"), tuple(values)).all())

    def households(self, first: dict[str, tuple[str | None, int]]) -> dict[str, int]:
        """Ids of the chunk's household codes; missing households are created (first row's address)."""
        if not first:
            return {}
        sql = "SELECT code, id FROM household WHERE code {any}"
        ids: dict[str, int] = dict(self._lookup(sql, list(first)))
        missing = [c for c in first if c not in ids]
        if missing:
            addresses = [first[c][0] for c in missing]
            villages = [first[c][1] for c in missing]
            if self.pg:
                self.conn.exec_driver_sql(
                    "INSERT INTO household (code, address, village_id) SELECT * FROM "
                    "unnest(%s::varchar[], %s::varchar[], %s::integer[])", (missing, addresses, villages))
            else:
                self.conn.exec_driver_sql(
                    "INSERT INTO household (code, address, village_id) VALUES (?, ?, ?)",
                    list(zip(missing, addresses, villages, strict=True)))
            self.households_created += len(missing)
            ids.update(self._lookup(sql, missing))
        return ids

    def existing(self, hashes: list[str]) -> dict[str, tuple[Any, ...]]:
        """Stored rows by ID hash: (id, then the compared fields in ``Row`` order, birth as ISO text)."""
        rows = self._lookup(
            "SELECT id_number_hash, id, name, sex, birth_date, phone_hash, household_id, address, "
            "village_id, residence_status FROM person WHERE id_number_hash {any}", hashes)
        return {r[0]: (r[1], r[2], r[3], str(r[4]) if r[4] is not None else None, *r[5:])
                for r in rows}

    def write(self, prep: Prepared, keep: list[int] | None = None) -> tuple[int, int, int]:
        """Upsert the rows of a chunk (only positions ``keep`` when given); (inserted, updated,
        unchanged)."""
        rows = prep.rows if keep is None else [prep.rows[i] for i in keep]
        plain = prep.plain
        if plain and keep is not None:
            plain = [plain[i] for i in keep]
        first = prep.households
        if keep is not None:  # without the rejected duplicates' households
            first = {}
            for r in rows:
                if r[9] and r[9] not in first:
                    first[r[9]] = (r[10], r[11])
        hh = self.households(first).get
        now_db = self.now_db
        if self.fresh and not plain and self.pg and prep.copy:  # COPY text made by the workers
            copy = prep.copy if keep is None else [prep.copy[i] for i in keep]
            text = "".join([f"{pre}{hh(r[9]) if r[9] else NULL}{post}"
                            for r, (pre, post) in zip(rows, copy, strict=True)])
            raw = self.conn.connection.driver_connection
            with raw.cursor() as cur, cur.copy(  # type: ignore[union-attr]
                    f"COPY person ({', '.join(_PERSON_COLS)}) FROM STDIN") as cp:
                cp.write(text)
            return len(rows), 0, 0
        if self.fresh and not plain:  # the bulk path: every row new and already encrypted
            self._insert([(*r[:9], hh(r[9]) if r[9] else None, *r[10:], now_db, now_db) for r in rows])
            return len(rows), 0, 0
        old = {} if self.fresh else self.existing([r[4] for r in rows])
        new_rows: list[tuple[Any, ...]] = []
        changes: list[dict[str, Any]] = []
        unchanged = 0
        for i, r in enumerate(rows):
            hid = hh(r[9]) if r[9] else None
            prev = old.get(r[4])
            if prev is None:
                if r[3] is None:  # not encrypted ahead: encrypt now
                    number, tel = plain[i]
                    id_enc, id_masked = self.p.id_fields(number)
                    phone_enc, phone_masked = self.p.phone_fields(tel)
                    r = (*r[:3], id_enc, r[4], id_masked, phone_enc, r[7], phone_masked, *r[9:])
                new_rows.append((*r[:9], hid, *r[10:], now_db, now_db))
                continue
            pid, name, sex, birth, old_phash, old_hid, address, village_id, status = prev
            if (name, sex, birth, old_phash, old_hid, address, village_id, status) == (
                    r[0], r[1], r[2], r[7], hid, r[10], r[11], r[12]):
                unchanged += 1
                continue
            change: dict[str, Any] = {"_id": pid, "name": r[0], "sex": Sex(r[1]),
                                      "birth_date": date.fromisoformat(r[2]), "household_id": hid,
                                      "address": r[10], "village_id": r[11],
                                      "residence_status": ResidenceStatus(r[12]),
                                      "updated_at": self.now}
            if r[7] != old_phash:
                if r[6] is None and r[7] is not None:
                    change["phone_enc"], change["phone_masked"] = self.p.phone_fields(plain[i][1])
                else:
                    change["phone_enc"], change["phone_masked"] = r[6], r[8]
                change["phone_hash"] = r[7]
            changes.append(change)
        if new_rows:
            self._insert(new_rows)
        self._update(changes)
        return len(new_rows), len(changes), unchanged

    def _insert(self, rows: list[tuple[Any, ...]]) -> None:
        if self.pg:
            raw = self.conn.connection.driver_connection
            with raw.cursor() as cur, cur.copy(  # type: ignore[union-attr]
                    f"COPY person ({', '.join(_PERSON_COLS)}) FROM STDIN") as cp:
                for r in rows:
                    cp.write_row(r)
        else:
            self.conn.exec_driver_sql(self._insert_sql, rows)

    def _update(self, changes: list[dict[str, Any]]) -> None:
        t = _PERSON
        with_phone = [c for c in changes if "phone_hash" in c]
        without = [c for c in changes if "phone_hash" not in c]
        for group in (with_phone, without):
            if not group:
                continue
            cols = [k for k in group[0] if k != "_id"]
            stmt = update(t).where(t.c.id == bindparam("_id")).values(
                {k: bindparam(k) for k in cols})
            self.conn.execute(stmt, group)


# ------------------------------------------------------------------------------------------ import

def _village_ids(conn: Connection) -> dict[str, int]:
    t = _UNIT
    return dict(conn.execute(select(t.c.code, t.c.id).where(t.c.level == UnitLevel.VILLAGE)).all())


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def default_reject_path(path: Path) -> Path:
    return path.with_name(path.stem + ".rejects.csv")


def _chunks(rows: Iterator[list[str]], size: int) -> Iterator[list[RawRow]]:
    chunk: list[RawRow] = []
    rownum = 1
    for raw in rows:
        rownum += 1
        if not (raw and raw[0].strip()) and not any(v.strip() for v in raw):
            continue  # blank line
        chunk.append((rownum, raw))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _init_worker_process(spec: ChunkSpec) -> None:
    # a worker lives for one import and makes no reference cycles: the cyclic collector would only
    # cost time (about 15 % of the CPU, measured)
    gc.disable()
    init_worker(spec)


@contextmanager
def _young_gc_only() -> Iterator[None]:
    """The cyclic collector paused during an import (the caller collects young objects now and
    then); its state restored after."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _prepared(chunks: Iterable[list[RawRow]], spec: ChunkSpec,
              workers: int) -> Iterator[tuple[Prepared, list[RawRow]]]:
    """(prepared chunk, raw rows) per chunk, in file order; ``workers`` processes work ahead."""
    if workers <= 0:
        init_worker(spec)
        for c in chunks:
            yield prepare_chunk(c), c
        return
    # fork, not spawn: spawn re-runs the parent's __main__ (the CLI, a script) in the child; the child
    # only validates and encrypts, it never touches the inherited DB connections or Rich's console.
    # concurrent.futures, not multiprocessing.Pool: a worker that dies breaks the pool with an error
    # (Pool would wait for the lost chunk forever).
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker_process,
                             initargs=(spec,)) as pool:
        pending: deque[tuple[Future[Prepared], list[RawRow]]] = deque()
        try:
            for c in chunks:  # at most 2 chunks per worker in flight: memory stays bounded
                pending.append((pool.submit(prepare_chunk, c), c))
                if len(pending) > 2 * workers:
                    fut, c = pending.popleft()
                    yield fut.result(), c
            while pending:
                fut, c = pending.popleft()
                yield fut.result(), c
        except BrokenProcessPool as e:
            raise EngineError("导入工作进程意外退出，本次导入未写入任何数据 / an import worker process "
                              "died; nothing of this import was stored") from e
        finally:
            for fut, _ in pending:
                fut.cancel()


class SeenKeys:
    """The ID numbers (first 17 digits as int64) seen so far in a file: recent ones in a set, older
    ones merged into a sorted numpy array (8 bytes each instead of ~70 in a set)."""

    def __init__(self, merge_at: int = 100_000) -> None:
        self.old = np.empty(0, dtype=np.int64)
        self.recent: set[int] = set()
        self.merge_at = merge_at

    def add_all(self, keys: list[int]) -> list[bool]:
        """Add ``keys`` in order; for each, whether it was seen before (earlier or in ``keys``)."""
        out: list[bool] = []
        if not keys:
            return out
        if len(self.old):
            arr = np.fromiter(keys, dtype=np.int64, count=len(keys))
            pos = np.minimum(np.searchsorted(self.old, arr), len(self.old) - 1)
            in_old = (self.old[pos] == arr).tolist()
        else:
            in_old = [False] * len(keys)
        recent = self.recent
        for k, was in zip(keys, in_old, strict=True):
            if was or k in recent:
                out.append(True)
            else:
                recent.add(k)
                out.append(False)
        if len(recent) >= self.merge_at:
            self.old = np.union1d(self.old, np.fromiter(recent, dtype=np.int64, count=len(recent)))
            recent.clear()
        return out

    def __len__(self) -> int:
        return len(self.old) + len(self.recent)


class _Rejects:
    """The reject CSV, opened on the first bad row."""

    def __init__(self, path: Path, header: list[str]) -> None:
        self.path = path
        self.header = header
        self.fh: IO[str] | None = None
        self.w: Any = None

    def write(self, rownum: int, raw: list[str], errs: list[RowError]) -> None:
        if self.w is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.fh = self.path.open("w", encoding="utf-8-sig", newline="")
            self.w = csv.writer(self.fh)
            self.w.writerow([*self.header, "_row", "_errors"])
        self.w.writerow([*raw, rownum, "; ".join(f"{e.field}: {e.reason}" for e in errs)])

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()


def import_ledger(path: Path | str, *, engine: Engine | None = None, reject_file: Path | None = None,
                  chunk_size: int = 5000, progress: ProgressFn | None = None,
                  today: date | None = None, keep_errors: int = 1000,
                  workers: int | None = None) -> ImportResult:
    """Import a ledger file; see the module docstring. Returns counts and the first errors.

    ``workers``: processes that validate and encrypt ahead of the database writes (``None``: two
    on a multi-core machine for files over 4 MB, else none).
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"文件不存在 / file not found: {path}", field="file")
    started = utcnow()
    fname = path.name
    encoding, rows = read_rows(path)
    try:
        header = next(rows)
    except StopIteration:
        raise InvalidInput(f"{fname}: 文件为空 / the file is empty", field="file") from None
    cols = map_header(header, fname)
    ncols = len(header)
    if workers is None:
        cpus = os.cpu_count() or 1
        workers = min(2, cpus) if cpus > 1 and path.stat().st_size >= _WORKER_MIN_BYTES else 0
    reject_path = reject_file or default_reject_path(path)
    if reject_path.exists():
        reject_path.unlink()
    rejects = _Rejects(reject_path, header)
    protector = Protector(get_cipher())
    engine = engine or get_engine()
    today = today or utcnow().astimezone(CHINA_TZ).date()
    res = ImportResult(file=fname, batch_id=0, encoding=encoding, workers=workers)
    seen = SeenKeys()
    try:
        with _young_gc_only(), engine.begin() as conn:
            if conn.dialect.name == "sqlite":  # room for the indexes of a big import (per connection)
                conn.exec_driver_sql(f"PRAGMA cache_size=-{_SQLITE_CACHE_KIB}")
            writer = _Writer(conn, protector)
            spec = ChunkSpec(file=fname, villages=_village_ids(conn), today=today, ncols=ncols,
                             picks=[cols.index(c) if c in cols else ncols for c in LEDGER_COLUMNS],
                             secret=get_settings().secret_bytes(),
                             # into an empty ledger every row is new: encrypt while preparing;
                             # otherwise only new or changed rows are encrypted, by the writer
                             encrypt=writer.fresh,
                             copy_now=writer.now.isoformat() if writer.fresh and writer.pg else None)
            res.batch_id = int(conn.execute(insert(_BATCH).values(
                kind="ledger", file_name=fname[:255], sha256=_sha256(path), created_at=started,
            ).returning(_BATCH.c.id)).scalar_one())
            # the writes run in one thread beside the main one: the drivers release the GIL while
            # SQLite inserts and while PostgreSQL answers, so reading the file and handing chunks
            # to the workers overlaps them; leaving this block waits for the thread, before the
            # transaction commits or rolls back
            with ThreadPoolExecutor(1, thread_name_prefix="ledger-writer") as wthread:
                writing: deque[Future[tuple[int, int, int]]] = deque()
                for n, (prep, chunk) in enumerate(_prepared(_chunks(rows, chunk_size), spec, workers)):
                    if n % 20 == 19:
                        gc.collect(1)
                    res.rows_total += len(chunk)
                    bad = prep.rejected
                    dups = seen.add_all(prep.keys)
                    keep: list[int] | None = None
                    if any(dups):
                        keep = [i for i, d in enumerate(dups) if not d]
                        raw_of = dict(chunk)
                        for i, d in enumerate(dups):
                            if d:
                                line = prep.lines[i]
                                bad.append((line, raw_of[line], [RowError(
                                    line, "id_number", "身份证号在本文件中重复 / duplicate ID number: it "
                                    "appears on an earlier row of this file",
                                    value=raw_of[line][spec.picks[0]].strip() or None, file=fname)]))
                    if prep.rows and keep != []:
                        writing.append(wthread.submit(writer.write, prep, keep))
                        if len(writing) > 1:
                            res.add(writing.popleft().result())
                    for rownum, raw, errs in sorted(bad, key=lambda b: b[0]) if bad else ():
                        res.rejected += 1
                        room = keep_errors - len(res.errors)
                        if room > 0:
                            res.errors.extend(errs[:room])
                        rejects.write(rownum, raw, errs)
                    if progress:
                        progress(len(chunk))
                while writing:
                    res.add(writing.popleft().result())
            res.households_created = writer.households_created
            conn.execute(update(_BATCH).where(_BATCH.c.id == res.batch_id).values(
                rows_total=res.rows_total, rows_inserted=res.inserted, rows_updated=res.updated,
                rows_unchanged=res.unchanged, rows_rejected=res.rejected))
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA cache_size=-2000")
    except BaseException:
        rejects.close()  # the file as a whole was refused: no half reject file either
        reject_path.unlink(missing_ok=True)
        raise
    rejects.close()
    res.reject_file = reject_path if res.rejected else None
    res.seconds = (utcnow() - started).total_seconds()
    return res


def person_count(engine: Engine | None = None) -> int:
    with (engine or get_engine()).connect() as conn:
        return int(conn.execute(select(func.count()).select_from(_PERSON)).scalar_one())
