"""Generate a world directory (see ``docs/sim.md`` for the layout, the contract of sim, lake,
tracing and screening). Streams day by day: only one day's stays and feed rows are in memory."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from zhikong.sim import observe
from zhikong.sim.district import Village, load_villages, projection_for
from zhikong.sim.epidemic import Epidemic
from zhikong.sim.lists import write_lists
from zhikong.sim.params import CITIES, SimParams
from zhikong.sim.places import PLACE_KINDS, ROLE_CHILD, World, build_world
from zhikong.sim.population import population_frame
from zhikong.sim.rosters import write_school_rosters
from zhikong.sim.schedule import DAY_MIN, Arrivals, Passes, day_stays

FEEDS = ["cell", "roaming", "camera", "venue_scan", "travel", "gps", "proximity"]
ProgressFn = Callable[[str, int, int], None]


@dataclass
class WorldSummary:
    out: Path
    rows: dict[str, int]
    bytes: dict[str, int]
    cases: int
    close_contacts: int
    world_hash: str


def _noop(stage: str, done: int, total: int) -> None:
    return None


def generate_world(out: Path, params: SimParams, villages: list[Village] | None = None,
                   progress: ProgressFn = _noop) -> WorldSummary:
    """Write a whole world to ``out`` (replaced if it exists)."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    villages = villages or load_villages(params.district_code)
    proj = projection_for(villages, params.district_code)
    progress("people", 0, 1)
    persons = population_frame(villages, params.people, params.seed, ledger_csv=out / "ledger.csv",
                               as_of=params.start_date)
    n = len(persons)
    world = build_world(villages, persons, params, proj)
    rng = np.random.default_rng([params.seed, 3])
    age = persons["age"].to_numpy()
    has_phone = persons["phone"].notna().to_numpy()      # the ledger says who has a phone
    has_gps = has_phone & (rng.random(n) < params.gps_share)
    has_prox = has_phone & (rng.random(n) < params.proximity_share)
    # people registered here but living elsewhere (外出) are never in the district
    living_away = (persons["residence_status"] == "away").to_numpy()
    _write_static(out, persons, world, villages)
    progress("people", 1, 1)

    trav = _travellers(params, world, rng, age, living_away)
    epi = Epidemic(n, params, np.random.default_rng([params.seed, 4]))
    imp = trav[trav["infected"]]
    epi.infect(imp["person"].to_numpy(), imp["infected_at"].to_numpy(),
               np.full(len(imp), -1), np.full(len(imp), -1), imported=True)

    phone = persons["phone"].fillna("").to_numpy(dtype=object)
    idn = persons["id_number"].to_numpy(dtype=object)
    rows = dict.fromkeys(FEEDS, 0)
    away = living_away.copy()
    away[trav["person"].to_numpy()] = True
    for d in range(params.days):
        day = params.start_date + timedelta(days=d)
        absent, cut = epi.isolated_cut(d)
        t_today = trav[trav["arrival_day"] == d]
        arr_ok = ~absent[t_today["person"].to_numpy()]
        t_today = t_today[arr_ok]
        arrivals = Arrivals(t_today["person"].to_numpy(), t_today["minute"].to_numpy(),
                            t_today["station"].to_numpy())
        present = ~away & ~absent
        drng = [np.random.default_rng([params.seed, 100 + k, d]) for k in range(8)]
        stays, passes = day_stays(world, params, drng[0], day.weekday(), present, arrivals, cut)
        car = t_today[t_today["mode"] == "car"]
        cp = world.by_kind_town.get(("checkpoint", 0), np.empty(0, np.int64))
        if len(car) and len(cp):
            passes = Passes(np.concatenate([passes.person, car["person"].to_numpy()]),
                            np.concatenate([passes.venue, cp[drng[7].integers(0, len(cp), len(car))]]),
                            np.concatenate([passes.minute, np.maximum(car["minute"].to_numpy() - 20, 0)]))
        epi.step(d, stays)
        tables = {
            "cell": observe.cell(world, params, drng[1], stays, phone, has_phone, arrivals),
            "camera": observe.camera(world, params, drng[2], stays, passes, idn),
            "venue_scan": observe.venue_scan(world, params, drng[3], stays, idn),
            "gps": observe.gps(world, params, drng[4], stays, phone, has_gps),
            "proximity": observe.proximity(params, drng[5], stays, phone, has_prox),
        }
        for src, tbl in tables.items():
            rows[src] += _write_feed(out, src, day, _with_ts(tbl, day, params.utc_offset))
        r_tbl, t_tbl = _arrival_records(params, t_today, phone, idn, day, has_phone)
        rows["roaming"] += _write_feed(out, "roaming", day, r_tbl)
        rows["travel"] += _write_feed(out, "travel", day, t_tbl)
        away[t_today["person"].to_numpy()] = False
        progress("days", d + 1, params.days)

    n_cc = _write_truth(out, params, persons, world, epi, trav, has_phone, has_gps, has_prox)
    write_lists(out, params, persons, trav, params.start_date)
    write_school_rosters(out, params, persons, world)
    sizes = {src: sum(f.stat().st_size for f in (out / "feeds" / src).glob("*.csv")) for src in FEEDS}
    meta = {"params": params.to_json(), "origin": {"lat": proj.origin_lat, "lon": proj.origin_lon},
            "villages": len(villages), "venues": len(world.venues), "towers": len(world.towers),
            "cameras": len(world.cameras), "persons": n, "cases": len(epi.infected()),
            "close_contacts": n_cc, "rows": rows, "bytes": sizes, "layout_version": 1}
    (out / "world.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2))
    return WorldSummary(out, rows, sizes, len(epi.infected()), n_cc, world_hash(out))


def world_hash(out: Path) -> str:
    """SHA-256 over every file of a world (names and bytes), for determinism checks."""
    h = hashlib.sha256()
    for f in sorted(p for p in out.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(out)).encode())
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


# ---- static files ----------------------------------------------------------------------------
def _write_static(out: Path, persons: pd.DataFrame, world: World, villages: list[Village]) -> None:
    v = world.venues
    keyp = v[v["kind"].isin(list(PLACE_KINDS))]
    vnames = np.array([f"重庆市巴南区{x.town_name}{x.name}" for x in villages])
    pd.DataFrame({"code": keyp["venue_id"], "name": keyp["name"], "kind": keyp["kind"].map(PLACE_KINDS),
                  "village_code": keyp["unit_code"], "lat": keyp["lat"].round(6), "lon": keyp["lon"].round(6),
                  "address": vnames[keyp["village_idx"].to_numpy()]}).to_csv(out / "places.csv", index=False)
    ref = out / "ref"
    ref.mkdir()
    t = world.towers
    t.assign(lat=t["lat"].round(6), lon=t["lon"].round(6), x=t["x"].round(1), y=t["y"].round(1)).to_csv(
        ref / "tower.csv", index=False)
    c = world.cameras.drop(columns=["venue_idx"])
    c.assign(lat=c["lat"].round(6), lon=c["lon"].round(6), x=c["x"].round(1), y=c["y"].round(1)).to_csv(
        ref / "camera.csv", index=False)
    pd.DataFrame({"venue_id": v["venue_id"], "name": v["name"], "kind": v["kind"], "lat": v["lat"].round(6),
                  "lon": v["lon"].round(6), "x": v["x"].round(1), "y": v["y"].round(1),
                  "unit_code": v["unit_code"]}).to_csv(ref / "venue.csv", index=False)


# ---- travellers ------------------------------------------------------------------------------
def _travellers(params: SimParams, world: World, rng: np.random.Generator, age: np.ndarray,
                living_away: np.ndarray) -> pd.DataFrame:
    n = len(age)
    person = np.flatnonzero((rng.random(n) < params.traveller_share) & (world.role != ROLE_CHILD)
                            & ~living_away)
    k = len(person)
    risk = rng.random(k) < params.risk_traveller_share
    others = [c for c in CITIES if c not in params.risk_cities]
    rc = np.array(params.risk_cities, dtype=object)
    origin = np.where(risk, rc[rng.integers(0, len(rc), k)],
                      np.array(others, dtype=object)[rng.integers(0, len(others), k)])
    modes = list(params.travel_mode_mix)
    mp = np.array([params.travel_mode_mix[m] for m in modes])
    mode = np.array(modes, dtype=object)[rng.choice(len(modes), size=k, p=mp / mp.sum())]
    day = rng.integers(0, params.days, k)
    minute = np.clip(rng.normal(900, 240, k), 360, 1380).astype(np.int64)
    st_lists = [v for key, v in sorted(world.by_kind_town.items()) if key[0] == "station"]
    stations = np.concatenate(st_lists) if st_lists else np.empty(0, np.int64)
    station = np.full(k, -1, dtype=np.int64)
    if len(stations):
        station[mode == "train"] = stations[0]
        station[mode == "coach"] = stations[-1]
    hours = {"train": (4, 10), "coach": (6, 12), "flight": (1.5, 2.5), "car": (6, 12)}
    dur = np.array([rng.uniform(*hours[m]) * 60 for m in mode])
    infected = risk & (rng.random(k) < params.import_infection_rate)
    abs_arr = day * DAY_MIN + minute
    return pd.DataFrame({
        "person": person, "origin_city": origin, "origin_code": [CITIES[c][0] for c in origin],
        "from_risk_area": risk, "mode": mode, "arrival_day": day, "minute": minute, "station": station,
        "depart_min": abs_arr - dur, "arrive_min": abs_arr,
        "concealed": risk & (rng.random(k) < params.conceal_rate),
        "infected": infected, "infected_at": abs_arr - rng.uniform(1, 6, k) * DAY_MIN,
        "stay_days": rng.integers(3, 14, k),
        "vehicle": [_vehicle(m, rng) for m in mode],
        "carriage": [f"{rng.integers(1, 17):02d}" if m == "train" else "" for m in mode],
        "seat": [f"{rng.integers(1, 30):02d}{'ABCDF'[rng.integers(0, 5)]}" if m != "car" else ""
                 for m in mode],
    })


def _vehicle(mode: str, rng: np.random.Generator) -> str:
    if mode == "train":
        return f"{'GDK'[rng.integers(0, 3)]}{rng.integers(100, 9999)}"
    if mode == "flight":
        return f"{['CA', 'MU', '3U', 'CZ'][rng.integers(0, 4)]}{rng.integers(1000, 9999)}"
    if mode == "coach":
        return f"渝{'ABCDF'[rng.integers(0, 5)]}{rng.integers(10000, 99999)}"
    return ""


def _arrival_records(params: SimParams, t: pd.DataFrame, phone: np.ndarray, idn: np.ndarray,
                     day: object, has_phone: np.ndarray) -> tuple[pa.Table, pa.Table]:
    start = datetime(params.start_date.year, params.start_date.month, params.start_date.day)
    off = params.utc_offset

    def iso(minutes: np.ndarray) -> list[str]:
        return [(start + timedelta(minutes=float(m))).strftime("%Y-%m-%dT%H:%M:%S") + off for m in minutes]

    ph = t[has_phone[t["person"].to_numpy()]]
    roaming = pa.table({
        "phone": pa.array(phone[ph["person"].to_numpy()].tolist(), pa.string()),
        "city": pa.array(ph["origin_city"].tolist(), pa.string()),
        "city_code": pa.array(ph["origin_code"].tolist(), pa.string()),
        "first_seen": pa.array(iso(ph["depart_min"].to_numpy() - ph["stay_days"].to_numpy() * DAY_MIN),
                               pa.string()),
        "last_seen": pa.array(iso(ph["depart_min"].to_numpy()), pa.string()),
    })
    tk = t[t["mode"] != "car"]
    travel = pa.table({
        "id_number": pa.array(idn[tk["person"].to_numpy()].tolist(), pa.string()),
        "mode": pa.array(tk["mode"].tolist(), pa.string()),
        "vehicle": pa.array(tk["vehicle"].tolist(), pa.string()),
        "carriage": pa.array(tk["carriage"].tolist(), pa.string()),
        "seat": pa.array(tk["seat"].tolist(), pa.string()),
        "origin_city": pa.array(tk["origin_city"].tolist(), pa.string()),
        "origin_code": pa.array(tk["origin_code"].tolist(), pa.string()),
        "depart_ts": pa.array(iso(tk["depart_min"].to_numpy()), pa.string()),
        "ts": pa.array(iso(tk["arrive_min"].to_numpy()), pa.string()),
    })
    return roaming, travel


# ---- feeds -----------------------------------------------------------------------------------
def _with_ts(tbl: pa.Table, day: object, offset: str) -> pa.Table:
    """Replace ``sec`` (seconds of the local day) by ``ts`` text with the UTC offset."""
    base = np.datetime64(str(day), "s")
    local = pa.array(base + tbl["sec"].to_numpy().astype("timedelta64[s]"), pa.timestamp("s"))
    text = pc.binary_join_element_wise(pc.strftime(local, format="%Y-%m-%dT%H:%M:%S"), offset, "")
    cols = tbl.column_names[1:]
    first = cols[:1]
    return pa.table({**{c: tbl[c] for c in first}, "ts": text, **{c: tbl[c] for c in cols[1:]}})


def _write_feed(out: Path, src: str, day: object, tbl: pa.Table) -> int:
    d = out / "feeds" / src
    d.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(tbl, d / f"{day}.csv", pacsv.WriteOptions(quoting_style="needed"))
    return tbl.num_rows


# ---- truth -----------------------------------------------------------------------------------
def _write_truth(out: Path, params: SimParams, persons: pd.DataFrame, world: World, epi: Epidemic,
                 trav: pd.DataFrame, has_phone: np.ndarray, has_gps: np.ndarray, has_prox: np.ndarray) -> int:
    tdir = out / "truth"
    tdir.mkdir(exist_ok=True)
    vid = world.venues["venue_id"].to_numpy(dtype=object)
    idn = persons["id_number"].to_numpy(dtype=object)
    t0 = datetime(params.start_date.year, params.start_date.month, params.start_date.day,
                  tzinfo=UTC) - timedelta(hours=8)

    def ts(minutes: np.ndarray) -> pa.Array:
        """Minutes since the start (NaN = null) as UTC timestamps."""
        m = np.asarray(minutes, dtype=np.float64)
        us = (np.nan_to_num(m) * 60e6).round().astype(np.int64) + int(t0.timestamp() * 1e6)
        return pa.array(us, pa.timestamp("us", tz="UTC"), mask=np.isnan(m))

    wv = world.work_venue
    pq.write_table(pa.table({
        "id_number": pa.array(idn.tolist(), pa.string()),
        "phone": pa.array(persons["phone"].tolist(), pa.string()),
        "household_code": pa.array(persons["household_code"].tolist(), pa.string()),
        "village_code": pa.array(persons["village_code"].tolist(), pa.string()),
        "home_venue": pa.array(vid[world.home_venue].tolist(), pa.string()),
        "work_venue": _opt(vid, wv),
        "has_gps": has_gps, "has_proximity": has_prox, "has_phone": has_phone,
    }), tdir / "persons.parquet")
    inf = epi.infected()
    org = dict(zip(trav["person"], trav["origin_city"], strict=True))
    by = epi.infector[inf]
    pq.write_table(pa.table({
        "id_number": pa.array(idn[inf].tolist(), pa.string()),
        "infected_at": ts(epi.infected_at[inf]),
        "onset_at": ts(epi.onset_at[inf]), "sampled_at": ts(epi.sampled_at[inf]),
        "reported_at": ts(epi.reported_at[inf]),
        "infector_id_number": _opt(idn, by),
        "imported": pa.array(epi.imported[inf]),
        "origin_city": pa.array([org.get(i) if epi.imported[i] else None for i in inf], pa.string()),
    }), tdir / "cases.parquet")
    sec = inf[by >= 0]
    pq.write_table(pa.table({
        "infector_id_number": pa.array(idn[epi.infector[sec]].tolist(), pa.string()),
        "infectee_id_number": pa.array(idn[sec].tolist(), pa.string()),
        "at": ts(epi.infected_at[sec]),
        "venue_id": pa.array(vid[epi.venue[sec]].tolist(), pa.string()),
    }), tdir / "infections.parquet")
    cc = epi.close_contacts(persons["household_idx"].to_numpy())
    first = cc["first"].to_numpy(dtype=np.float64, na_value=np.nan)
    last = cc["last"].to_numpy(dtype=np.float64, na_value=np.nan)
    venue = cc["venue"].to_numpy(dtype=np.float64, na_value=-1).astype(np.int64)
    pq.write_table(pa.table({
        "case_id_number": pa.array(idn[cc["case"].to_numpy(dtype=np.int64)].tolist(), pa.string()),
        "contact_id_number": pa.array(idn[cc["other"].to_numpy(dtype=np.int64)].tolist(), pa.string()),
        "minutes": pa.array(cc["minutes"].to_numpy(dtype=np.float64).round().astype(np.int32)),
        "first_at": ts(first), "last_at": ts(last),
        "venue_id": _opt(vid, venue),
        "household": pa.array(cc["household"].to_numpy(dtype=bool)),
    }), tdir / "close_contacts.parquet")
    pq.write_table(pa.table({
        "id_number": pa.array(idn[trav["person"].to_numpy()].tolist(), pa.string()),
        "origin_city": pa.array(trav["origin_city"].tolist(), pa.string()),
        "origin_code": pa.array(trav["origin_code"].tolist(), pa.string()),
        "arrived_at": ts(trav["arrive_min"].to_numpy()),
        "mode": pa.array(trav["mode"].tolist(), pa.string()),
        "from_risk_area": pa.array(trav["from_risk_area"].to_numpy()),
        "concealed": pa.array(trav["concealed"].to_numpy()),
    }), tdir / "travellers.parquet")
    return len(cc)


def _opt(values: np.ndarray, idx: np.ndarray) -> pa.Array:
    """``values[idx]`` as strings, null where ``idx`` < 0."""
    picked = values[np.maximum(idx, 0)]
    return pa.array(picked.tolist(), pa.string(), mask=np.asarray(idx) < 0)
