"""A simulated world as the evaluation sees it: its truth tables and a lake built from its feeds.

The world's feeds carry plaintext identifiers; :func:`world_lake` pseudonymises them with a fixed
evaluation key (``PiiCipher``, the same keyed hash ingest uses) and writes them in the lake layout
(``<world>/.eval/lake/<source>/day=YYYY-MM-DD/part-0.parquet``, ``ref/<name>.parquet``), once per
world. The truth is hashed with the same key, so results and truth compare pid to pid.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from zhikong.core.crypto import PiiCipher
from zhikong.core.errors import InvalidInput
from zhikong.lake.schemas import REFERENCE, SOURCES
from zhikong.tracing.lake import LEDGER_SCHEMA

EVAL_SECRET = b"zhikong-evaluation-key-v1"
_FEED_ID = {
    "cell": "phone",
    "gps": "phone",
    "proximity": "phone",
    "roaming": "phone",
    "camera": "id_number",
    "venue_scan": "id_number",
    "travel": "id_number",
}


def normalise_phone(raw: str) -> str | None:
    """E.164 form of a mainland mobile number (``+8613800138000``), or None."""
    digits = "".join(ch for ch in str(raw) if ch.isdigit())
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    if len(digits) != 11 or not digits.startswith("1"):
        return None
    return "+86" + digits


def normalise_id(raw: str) -> str | None:
    s = str(raw).strip().upper()
    return s if len(s) == 18 else None


@dataclass
class World:
    root: Path

    def __post_init__(self) -> None:
        if not (self.root / "world.json").is_file():
            raise InvalidInput(
                f"{self.root} is not a world directory (no world.json); "
                "generate one with `zhikong sim generate`",
                field="world",
            )

    @cached_property
    def params(self) -> dict[str, object]:
        return dict(json.loads((self.root / "world.json").read_text())["params"])

    @cached_property
    def cipher(self) -> PiiCipher:
        return PiiCipher(EVAL_SECRET)

    def truth(self, name: str) -> pd.DataFrame:
        path = self.root / "truth" / f"{name}.parquet"
        if not path.is_file():
            raise InvalidInput(f"{path} is missing: the world has no ground truth", field="world")
        return pd.read_parquet(path)

    def hash_id(self, raw: object) -> str | None:
        if raw is None or (isinstance(raw, float) and math.isnan(raw)):
            return None
        n = normalise_id(str(raw))
        return self.cipher.keyed_hash(n) if n else None

    def hash_phone(self, raw: object) -> str | None:
        if raw is None or (isinstance(raw, float) and math.isnan(raw)) or raw == "":
            return None
        n = normalise_phone(str(raw))
        return self.cipher.keyed_hash(n) if n else None

    def ledger(self) -> pa.Table:
        """(pid_id, pid_phone, household, born_s, village) of every person the world knows (the
        birth date and village from the world's ledger file, as the ledger import stores them)."""
        p = self.truth("persons")
        path = self.root / "ledger.csv"
        cols = ["id_number", "birth_date", "village_code"]
        # a world without a ledger file (hand-made test worlds) has no birth dates or villages
        led = pd.read_csv(path, dtype=str, usecols=cols) if path.is_file() else pd.DataFrame(columns=cols)
        led = led.drop_duplicates("id_number").set_index("id_number")
        born = pd.to_datetime(p["id_number"].map(led["birth_date"]), errors="coerce")
        # local midnight of the birth date, as epoch seconds (China: UTC+8, no DST)
        born_s = (born - pd.Timestamp("1970-01-01")).dt.total_seconds() - 8 * 3600
        return pa.table(
            {
                "pid_id": [self.hash_id(v) for v in p["id_number"]],
                "pid_phone": [self.hash_phone(v) for v in p["phone"]],
                "household": [None if v is None else str(v) for v in p["household_code"]],
                "born_s": pa.array(born_s.round().astype("Int64"), pa.int64()),
                "village": pa.array(
                    [v if isinstance(v, str) else None for v in p["id_number"].map(led["village_code"])],
                    pa.string(),
                ),
            },
            schema=LEDGER_SCHEMA,
        )


def world_lake(world: World, *, rebuild: bool = False) -> Path:
    """The lake of ``world`` (built from its feeds on first use)."""
    lake = world.root / ".eval" / "lake"
    done = lake / "_SUCCESS"
    if done.exists() and not rebuild:
        return lake
    if lake.exists():
        shutil.rmtree(lake)
    tmp = world.root / ".eval" / "lake.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    lat0, lon0 = _origin(world)
    # identifiers: hash each distinct value once
    for source, col in _FEED_ID.items():
        files = sorted((world.root / "feeds" / source).glob("*.csv"))
        if not files:
            continue
        flist = "[" + ", ".join(f"'{f}'" for f in files) + "]"
        cols = [col, "other_phone"] if source == "proximity" else [col]
        for c in cols:
            vals = con.execute(
                f"SELECT DISTINCT CAST({c} AS VARCHAR) FROM read_csv({flist}, all_varchar = true)"
            ).fetchall()
            fn = world.hash_phone if col == "phone" else world.hash_id
            con.register(f"map_{c}", pa.table({"raw": [v for (v,) in vals], "pid": [fn(v) for (v,) in vals]}))
        con.execute(
            f"CREATE OR REPLACE VIEW raw AS SELECT * FROM read_csv({flist}, all_varchar = true, "
            "filename = true)"
        )
        schema = SOURCES[source]
        sel = []
        for f in schema:
            name = f.name
            if name == "pid":
                expr = f"(SELECT pid FROM map_{col} m WHERE m.raw = raw.{col})"
            elif name == "other_pid":
                expr = "(SELECT pid FROM map_other_phone m WHERE m.raw = raw.other_phone)"
            elif name in ("x", "y"):
                expr = _xy(name, lat0, lon0)
            elif pa.types.is_timestamp(f.type):
                expr = f"CAST({name} AS TIMESTAMPTZ)"
            elif pa.types.is_string(f.type):
                expr = f"COALESCE({name}, '')" if name in ("carriage",) else name
            else:
                expr = f"CAST({name} AS {_duck_type(f.type)})"
            sel.append(f"{expr} AS {name}")
        day = "regexp_extract(filename, '([0-9]{4}-[0-9]{2}-[0-9]{2})\\.csv$', 1)"
        out = tmp / source
        out.mkdir()
        con.execute(
            f"COPY (SELECT {', '.join(sel)}, {day} AS day FROM raw) TO '{out}' "
            "(FORMAT parquet, PARTITION_BY (day), OVERWRITE_OR_IGNORE true)"
        )
        for c in cols:
            con.unregister(f"map_{c}")
    (tmp / "ref").mkdir()
    for name, schema in REFERENCE.items():
        csv = world.root / "ref" / f"{name}.csv"
        if not csv.is_file():
            continue
        df = pd.read_csv(csv, dtype=str, keep_default_na=False)
        arrays: dict[str, pa.Array] = {}
        for f in schema:
            v = df[f.name] if f.name in df else pd.Series([""] * len(df))
            arrays[f.name] = pa.array(v if pa.types.is_string(f.type) else pd.to_numeric(v), type=f.type)
        import pyarrow.parquet as pq

        pq.write_table(pa.table(arrays, schema=schema), tmp / "ref" / f"{name}.parquet")
    con.close()
    from zhikong.tracing.stays import build_stays

    build_stays(tmp)  # the derived cell stays, as ingest builds them
    tmp.rename(lake)
    done.touch()
    return lake


def _duck_type(t: pa.DataType) -> str:
    if pa.types.is_float32(t):
        return "FLOAT"
    if pa.types.is_floating(t):
        return "DOUBLE"
    if pa.types.is_int16(t):
        return "SMALLINT"
    if pa.types.is_int32(t):
        return "INTEGER"
    if pa.types.is_integer(t):
        return "BIGINT"
    return "VARCHAR"


def _origin(world: World) -> tuple[float, float]:
    """The local projection's origin: the towers' mean position (matches the ref tables' x/y)."""
    t = pd.read_csv(world.root / "ref" / "tower.csv")
    # solve x = (lon - lon0) * k_lon, y = (lat - lat0) * k_lat from two reference points
    k_lat = 111_320.0
    lat0 = float((t["lat"] - t["y"] / k_lat).median())
    k_lon = 111_320.0 * math.cos(math.radians(lat0))
    lon0 = float((t["lon"] - t["x"] / k_lon).median())
    return lat0, lon0


def _xy(name: str, lat0: float, lon0: float) -> str:
    k_lat = 111_320.0
    k_lon = 111_320.0 * math.cos(math.radians(lat0))
    if name == "x":
        return f"CAST((CAST(lon AS DOUBLE) - {lon0}) * {k_lon} AS FLOAT)"
    return f"CAST((CAST(lat AS DOUBLE) - {lat0}) * {k_lat} AS FLOAT)"
