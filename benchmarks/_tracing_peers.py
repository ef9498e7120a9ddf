"""Peers for ``bench_tracing.py``: PostgreSQL running the same SQL, and a plain pandas version.

* :class:`PostgresEngine` is a ``QueryEngine`` over psycopg 3: lake files are loaded into real,
  indexed tables (``COPY``), and the tracing SQL — written once in DuckDB's dialect — is transpiled
  to PostgreSQL by sqlglot, as for Spark.
* :func:`pandas_exposures` is the straightforward pandas implementation of the same detectors
  (venue stays by sort and shift; merge on place, filter overlaps, group), for comparison. Like the
  SQL peers it reads the cell stays the lake derived once (``zhikong.tracing.stays``).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from zhikong.engine.base import QueryEngine
from zhikong.engine.dialects import FUNCTIONS, Dialect
from zhikong.tracing import stays
from zhikong.tracing.pipeline import EVIDENCE_COLUMNS, LOCAL_OFFSET_S
from zhikong.tracing.policy import Policy

FUNCTIONS["epoch_s"].setdefault("postgres", "zk_epoch")
POSTGRES = Dialect("postgres", "postgres")

_PG_TYPES = {
    "string": "TEXT",
    "int16": "SMALLINT",
    "int32": "INTEGER",
    "int64": "BIGINT",
    "float": "REAL",
    "double": "DOUBLE PRECISION",
    "date32[day]": "DATE",
    "bool": "BOOLEAN",
}
_INDEX = {
    "cell": ["pid", "tower_id"],
    "venue_scan": ["pid", "venue_id"],
    "camera": ["pid", "camera_id"],
    "gps": ["pid", "ts"],
    "proximity": ["pid", "other_pid"],
    "travel": ["pid", "vehicle"],
}

#: the lake's derived cell stays (``zhikong.tracing.stays``), indexed as a reader uses them
_DERIVED_INDEX = {"dv_stays": ["pn", "tk, start_s"], "dv_pids": ["pid"], "dv_towers": ["tk"]}


def _pg_type(t: pa.DataType) -> str:
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ"
    return _PG_TYPES.get(str(t), "TEXT")


class PostgresEngine(QueryEngine):
    dialect = POSTGRES

    def __init__(self, url: str) -> None:
        import psycopg

        self.conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
        self.conn.execute("SET TimeZone = 'UTC'")
        self.conn.execute(
            "CREATE OR REPLACE FUNCTION zk_epoch(timestamptz) RETURNS double precision "
            "LANGUAGE sql IMMUTABLE AS $$ SELECT extract(epoch FROM $1)::double precision $$"
        )
        self.conn.execute(
            "CREATE OR REPLACE FUNCTION regexp_extract(text, text, integer) RETURNS text "
            "LANGUAGE sql IMMUTABLE AS $$ SELECT substring($1 from $2) $$"
        )

    def _load(self, name: str, table: pa.Table, temp: bool, create: bool = True) -> None:
        if create:
            cols = ", ".join(f'"{f.name}" {_pg_type(f.type)}' for f in table.schema)
            self.conn.execute(f"CREATE {'TEMP ' if temp else ''}TABLE {name} ({cols})")
        if table.num_rows:
            buf = io.BytesIO()
            pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False))
            with self.conn.cursor().copy(f"COPY {name} FROM STDIN WITH (FORMAT csv)") as cp:
                cp.write(buf.getvalue())

    def _execute(self, sql: str) -> pa.Table:
        cur = self.conn.execute(sql)
        if cur.description is None:
            return pa.table({})
        names = [d.name for d in cur.description]
        rows = cur.fetchall()
        cols = {n: [r[i] for r in rows] for i, n in enumerate(names)}
        return pa.table(
            {
                n: pa.array(
                    [
                        float(v) if hasattr(v, "as_integer_ratio") and not isinstance(v, int) else v
                        for v in vals
                    ]
                )
                for n, vals in cols.items()
            }
        )

    def _register_parquet(self, name: str, paths: list[str], hive: bool) -> None:
        # one file at a time (COPY), so a 100,000-person lake does not sit in memory as CSV
        for i, p in enumerate(paths):
            t = pq.read_table(p)
            if hive:
                day = next((s.split("=", 1)[1] for s in Path(p).parts if s.startswith("day=")), None)
                if day:
                    t = t.append_column("day", pa.array([day] * t.num_rows, pa.string()).cast(pa.date32()))
            self._load(name, t, temp=False, create=i == 0)
        source = name.removeprefix("src_")
        for col in _INDEX.get(source, []) + _DERIVED_INDEX.get(name, []):
            self.conn.execute(f"CREATE INDEX ON {name} ({col})")
        if source in _INDEX:
            self.conn.execute(f"CREATE INDEX ON {name} (ts)")
        self.conn.execute(f"ANALYZE {name}")

    def _register_arrow(self, name: str, table: pa.Table) -> None:
        self._load(name, table, temp=True)
        self.conn.execute(f"ANALYZE {name}")

    def _materialise(self, name: str, sql: str) -> None:
        self.conn.execute(f"CREATE TEMP TABLE {name} AS {sql}")
        cols = {r[0] for r in self.conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s", [name])}
        for col in ("person", "place", "pk", "tk"):
            if col in cols:
                self.conn.execute(f"CREATE INDEX ON {name} ({col})")
        # the overlap joins look up stays by place and time
        if {"place", "start_s", "end_s"} <= cols:
            self.conn.execute(f"CREATE INDEX ON {name} (place, start_s, end_s)")
        elif {"place", "t"} <= cols:
            self.conn.execute(f"CREATE INDEX ON {name} (place, t)")
        self.conn.execute(f"ANALYZE {name}")

    def _drop(self, name: str) -> None:
        self.conn.execute(f"DROP TABLE IF EXISTS {name}")

    def close(self) -> None:
        self.conn.close()


# ---- pandas --------------------------------------------------------------------------------------
def _read(lake: Path, source: str) -> pd.DataFrame:
    files = sorted((lake / source).rglob("*.parquet"))
    if not files:
        return pd.DataFrame()
    return pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)


def _epoch(s: pd.Series) -> pd.Series:
    return (s.astype("int64") // 10**6).astype("int64") if s.dt.unit == "us" else s.astype("int64") // 10**9


def _day(t: pd.Series) -> pd.Series:
    return (t + LOCAL_OFFSET_S) // 86400


def _overlap(stays: pd.DataFrame, idx: pd.DataFrame, source: str, distance: pd.Series | str) -> pd.DataFrame:
    x = stays.merge(idx, on="person")
    x = x[(x["end_s"] > x["i_start"]) & (x["start_s"] < x["i_end"])]
    x = x.assign(a=np.maximum(x["start_s"], x["i_start"]), b=np.minimum(x["end_s"], x["i_end"]))
    # others' stays at the index persons' places within their time span there (as the SQL does), then
    # one case at a time, so the pairs of one case are in memory at once, not those of all cases
    env = x.groupby("place").agg(a0=("a", "min"), b1=("b", "max"))
    cand = stays.merge(env, left_on="place", right_index=True)
    cand = cand[(cand["start_s"] < cand["b1"]) & (cand["end_s"] > cand["a0"])].drop(columns=["a0", "b1"])
    cand = cand.rename(columns={"person": "contact"})
    out = []
    for _case, xc in x[["case_key", "hop", "person", "place", "a", "b"]].groupby("case_key", sort=False):
        e = xc.merge(cand, on="place")
        e = e[(e["start_s"] < e["b"]) & (e["end_s"] > e["a"]) & (e["contact"] != e["person"])]
        e = e.assign(s0=np.maximum(e["a"], e["start_s"]), s1=np.minimum(e["b"], e["end_s"]))
        e["distance"] = (
            distance if isinstance(distance, str) else e["kind"].map(distance).fillna("same_place")
        )
        e["day"] = _day(e["s0"])
        g = e.groupby(["case_key", "hop", "contact", "place", "distance", "day"], as_index=False).agg(
            start_s=("s0", "min"), end_s=("s1", "max"), m=("s1", "sum"), m0=("s0", "sum")
        )
        g["minutes"] = (g["m"] - g["m0"]) / 60.0
        g["source"] = source
        out.append(g[EVIDENCE_COLUMNS])
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=EVIDENCE_COLUMNS)


def pandas_exposures(lake: Path, ledger: pa.Table, idx: pa.Table, policy: Policy) -> pd.DataFrame:
    r = policy.rules
    led = ledger.to_pandas()
    pmap = (
        pd.concat(
            [
                led.dropna(subset=["pid_id"]).assign(pid=lambda d: d["pid_id"], person=lambda d: d["pid_id"])[
                    ["pid", "person"]
                ],
                led.dropna(subset=["pid_phone"])
                .assign(person=lambda d: d["pid_id"].fillna(d["pid_phone"]))
                .groupby("pid_phone", as_index=False)["person"]
                .min()
                .rename(columns={"pid_phone": "pid"}),
            ]
        )
        .drop_duplicates("pid")
        .set_index("pid")["person"]
    )
    ix = idx.to_pandas().rename(columns={"start_s": "i_start", "end_s": "i_end"})
    lo, hi = int(ix["i_start"].min()) - policy.companion.lookback_days * 86400, int(ix["i_end"].max()) + 3600

    def person(pids: pd.Series) -> pd.Series:
        return pids.map(pmap).fillna(pids)

    out = []
    # cell stays: the lake's derived stays (``zhikong.tracing.stays``), each phone mapped to its
    # person, those overlapping the period
    d = lake / stays.DERIVED / stays.STAYS
    pids = pq.read_table(d / "pids.parquet").to_pandas().set_index("pn")["pid"]
    towers = pq.read_table(d / "towers.parquet").to_pandas().set_index("tk")["tower_id"]
    c = _read(d, "stays")
    c = c[(c["start_s"] < hi) & (c["end_s"] > lo)]
    person_of = pd.Series(person(pids).to_numpy(), index=pids.index)  # phone number → person
    stay_cell = pd.DataFrame(
        {
            "person": c["pn"].map(person_of),
            "place": c["tk"].map(towers),
            "start_s": c["start_s"].astype("int64"),
            "end_s": c["end_s"].astype("int64"),
        }
    )
    out.append(_overlap(stay_cell[["person", "place", "start_s", "end_s"]], ix, "cell", "coarse"))
    # venue stays
    v = _read(lake, "venue_scan")
    v = v.assign(t=_epoch(v["ts"]))
    v = v[(v["t"] >= lo) & (v["t"] < hi)]
    v = pd.DataFrame({"person": person(v["pid"]), "t": v["t"], "place": v["venue_id"]})
    v = v.sort_values(["person", "t", "place"]).reset_index(drop=True)
    nt = v["t"].shift(-1).where(v["person"].eq(v["person"].shift(-1)))
    ref = pq.read_table(lake / "ref" / "venue.parquet").to_pandas().set_index("venue_id")["kind"]
    v["kind"] = v["place"].map(ref).fillna("default")
    dwell = v["kind"].map(lambda k: r.dwell(k) * 60)
    v["start_s"], v["end_s"] = v["t"], np.minimum(v["t"] + dwell, nt.fillna(v["t"] + 86400)).astype("int64")
    near = {k: "near" for k in r.venue_near_kinds}
    out.append(_overlap(v[["person", "place", "start_s", "end_s", "kind"]], ix, "venue_scan", near))
    # proximity
    p = _read(lake, "proximity")
    p = p.assign(t=_epoch(p["ts"]))
    p = p[(p["t"] >= lo) & (p["t"] < hi)]
    p = pd.DataFrame(
        {
            "person": person(p["pid"]),
            "other": person(p["other_pid"]),
            "t": p["t"],
            "dur_s": p["duration_s"].astype("int64"),
            "rssi": p["rssi"].astype("int64"),
        }
    )
    both = pd.concat([p, p.rename(columns={"person": "other", "other": "person"})], ignore_index=True)
    e = both.merge(ix, on="person")
    e = e[(e["t"] >= e["i_start"]) & (e["t"] < e["i_end"]) & (e["other"] != e["person"])]
    e = e.groupby(["case_key", "hop", "other", "t"], as_index=False).agg(
        dur_s=("dur_s", "max"), rssi=("rssi", "max")
    )
    e["distance"] = np.where(
        e["rssi"] >= r.proximity_rssi.close,
        "close",
        np.where(e["rssi"] >= r.proximity_rssi.near, "near", "same_place"),
    )
    e["day"] = _day(e["t"])
    e["tend"] = e["t"] + e["dur_s"]
    g = e.groupby(["case_key", "hop", "other", "distance", "day"], as_index=False).agg(
        start_s=("t", "min"), end_s=("tend", "max"), dur=("dur_s", "sum")
    )
    g = g.rename(columns={"other": "contact"}).assign(
        source="proximity", place="ble", minutes=g["dur"] / 60.0
    )
    out.append(g[EVIDENCE_COLUMNS])
    # household
    h = led.assign(person=led["pid_id"].fillna(led["pid_phone"]))
    h = h[h["household"].notna() & (h["household"] != "")][["person", "household"]].drop_duplicates()
    e = ix.merge(h, on="person").merge(h.rename(columns={"person": "contact"}), on="household")
    e = e[e["contact"] != e["person"]]
    out.append(
        pd.DataFrame(
            {
                "case_key": e["case_key"],
                "hop": e["hop"],
                "contact": e["contact"],
                "source": "ledger",
                "place": "household:" + e["household"],
                "start_s": e["i_start"],
                "end_s": e["i_end"],
                "minutes": policy.weights.household_minutes,
                "distance": "household",
            }
        )
    )
    ev = pd.concat([o for o in out if not o.empty], ignore_index=True)
    return ev.sort_values(["case_key", "hop", "contact", "source", "start_s", "place"]).reset_index(drop=True)
