"""The lake on disk: partitions, the batch manifest, atomic commits, retention.

Layout under ``Settings.resolved_lake_dir``::

    <source>/day=YYYY-MM-DD/part-<batch>[-<i>].parquet   accepted rows of one batch for one local day
                                                        (a big one in a few files, written in parallel)
    ref/<table>.parquet                            reference tables (tower, camera, venue)
    _manifest.json                                 ingested batches (content hash → outcome)
    _meta.json                                     projection origin of x/y
    _rejects/<source>/<batch>.csv                  rejected rows (row, field, reason, masked value)
    _staging/<batch>/                              a batch being written (never read)

**Atomic batches.** A batch's partition files are first written under ``_staging/<batch>/``; then
a ``COMMIT`` marker is written (atomically, by rename); then each file is renamed into its
partition and the manifest is updated; then the staging directory is removed. On the next open,
``recover()`` finishes any staged batch that has a ``COMMIT`` marker and deletes any that has none,
so a crash either leaves the lake as it was or the whole batch lands: never part of one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from zhikong.core.errors import Conflict

#: parallel Parquet writers of one commit, and the partition size above which a day is split
_WRITERS = max(2, min(4, os.cpu_count() or 2))
_ROWS_PER_FILE = 500_000


def write_json_atomic(path: Path, data: object) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1, default=str))
    os.replace(tmp, path)


@dataclass
class Lake:
    root: Path

    # ---- paths ------------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.root / "_manifest.json"

    @property
    def meta_path(self) -> Path:
        return self.root / "_meta.json"

    def staging(self, batch: str) -> Path:
        return self.root / "_staging" / batch

    def partition(self, source: str, day: date | str) -> Path:
        return self.root / source / f"day={day}"

    def ref_path(self, table: str) -> Path:
        return self.root / "ref" / f"{table}.parquet"

    # ---- locking and recovery ------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as e:
                raise Conflict(f"the lake {self.root} is being written by another process") from e
            try:
                self.recover()
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def recover(self) -> list[str]:
        """Finish committed staged batches, drop uncommitted ones; return what was done."""
        done: list[str] = []
        st = self.root / "_staging"
        if not st.exists():
            return done
        for d in sorted(st.iterdir()):
            marker = d / "COMMIT"
            if marker.exists():
                entry = json.loads(marker.read_text())
                self._publish(d, entry)
                done.append(f"finished batch {d.name}")
            else:
                shutil.rmtree(d)
                done.append(f"dropped unfinished batch {d.name}")
        return done

    # ---- manifest -------------------------------------------------------------------------------
    def manifest(self) -> dict[str, dict[str, object]]:
        if not self.manifest_path.exists():
            return {}
        data: dict[str, dict[str, object]] = json.loads(self.manifest_path.read_text())
        return data

    def meta(self) -> dict[str, object]:
        if not self.meta_path.exists():
            return {}
        data: dict[str, object] = json.loads(self.meta_path.read_text())
        return data

    def set_meta(self, **kw: object) -> None:
        m = self.meta()
        m.update(kw)
        self.root.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.meta_path, m)

    # ---- commit ---------------------------------------------------------------------------------
    def commit(self, batch: str, source: str, parts: dict[str, pa.Table], entry: dict[str, object]) -> None:
        """Land ``parts`` (day → table) of one batch atomically (see the module docstring)."""
        d = self.staging(batch)
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        files: list[str] = []
        jobs: list[tuple[pa.Table, Path]] = []
        for day in sorted(parts):
            tbl = parts[day]
            # a big partition is written as a few files in parallel (one Parquet file is encoded
            # by one thread); readers glob ``day=*/*.parquet``
            k = max(1, min(_WRITERS, tbl.num_rows // _ROWS_PER_FILE))
            step = -(-tbl.num_rows // k)
            for i in range(k):
                rel = f"{source}/day={day}/part-{batch}" + (f"-{i}" if k > 1 else "") + ".parquet"
                files.append(rel)
                jobs.append((tbl.slice(i * step, step), d / rel.replace("/", "__")))
        if len(jobs) > 1:   # pyarrow releases the GIL while encoding: write files in parallel
            with ThreadPoolExecutor(max_workers=min(_WRITERS, len(jobs))) as pool:
                for fut in [pool.submit(_write_part, tbl, path) for tbl, path in jobs]:
                    fut.result()
        else:
            for tbl, path in jobs:
                _write_part(tbl, path)
        entry = {**entry, "files": files, "source": source}
        tmp_marker = d / "COMMIT.tmp"
        tmp_marker.write_text(json.dumps(entry, ensure_ascii=False, default=str))
        os.replace(tmp_marker, d / "COMMIT")
        self._publish(d, entry)

    def _publish(self, d: Path, entry: dict[str, object]) -> None:
        files = entry["files"]
        assert isinstance(files, list)
        for rel in files:
            src = d / str(rel).replace("/", "__")
            dst = self.root / str(rel)
            if src.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src, dst)
        man = self.manifest()
        man[d.name] = {k: v for k, v in entry.items()}
        write_json_atomic(self.manifest_path, man)
        shutil.rmtree(d)

    # ---- retention and statistics -------------------------------------------------------------------
    def partitions(self) -> list[tuple[str, str, Path]]:
        out: list[tuple[str, str, Path]] = []
        if not self.root.exists():
            return out
        for src in sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
            if src.name == "ref":
                continue
            for part in sorted(src.glob("day=*")):
                out.append((src.name, part.name[4:], part))
        return out

    def purge_before(self, cutoff: date) -> list[tuple[str, str, int, int]]:
        """Remove whole day partitions older than ``cutoff``: (source, day, rows, bytes) removed."""
        removed: list[tuple[str, str, int, int]] = []
        gone: set[str] = set()
        for src, day, path in self.partitions():
            if date.fromisoformat(day) < cutoff:
                rows, size = _part_size(path)
                shutil.rmtree(path)
                removed.append((src, day, rows, size))
                gone.add(f"{src}/day={day}/")
        if gone:
            man = self.manifest()
            for key, entry in list(man.items()):
                files = entry.get("files", [])
                assert isinstance(files, list)
                left = [f for f in files if not any(str(f).startswith(g) for g in gone)]
                if not left and files:
                    del man[key]      # a purged batch may be ingested again
                else:
                    entry["files"] = left
            write_json_atomic(self.manifest_path, man)
        return removed

    def stats(self) -> dict[str, dict[str, object]]:
        out: dict[str, dict[str, object]] = {}
        for src, day, path in self.partitions():
            rows, size = _part_size(path)
            s = out.setdefault(src, {"rows": 0, "bytes": 0, "partitions": 0,
                                     "first_day": day, "last_day": day})
            s["rows"] = int(str(s["rows"])) + rows
            s["bytes"] = int(str(s["bytes"])) + size
            s["partitions"] = int(str(s["partitions"])) + 1
            s["last_day"] = day
        return out


def _write_part(tbl: pa.Table, path: Path) -> None:
    # no stored Arrow schema: dictionary-encoded columns read back as the plain strings of
    # ``schemas.SOURCES``; dictionary pages for text, min/max statistics for times and numbers
    text = [f.name for f in tbl.schema if pa.types.is_dictionary(f.type) or pa.types.is_string(f.type)]
    other = [f.name for f in tbl.schema if f.name not in text]
    pq.write_table(tbl, path, compression="zstd", compression_level=1, store_schema=False,
                   use_dictionary=text or False, write_statistics=other or False)


def _part_size(path: Path) -> tuple[int, int]:
    rows = size = 0
    for f in path.glob("*.parquet"):
        rows += pq.read_metadata(f).num_rows
        size += f.stat().st_size
    return rows, size
