"""Places and infrastructure of the synthetic district: venues with sub-zones, towers, cameras.

Every venue is split into **sub-zones** of a few metres (a household's flat, an office bay, a
market stall row, a classroom, a restaurant table area). Two people are *co-present* when they are
in the same sub-zone at the same minute; that is the ground-truth definition of proximity.

Counts per town (reasoning: a Chongqing town of 20–60k people has one wet market per few
communities, a health centre, a few schools, squares for 广场舞, checkpoints on its roads):

=============  ===========================================  ===========  ================
kind           how many                                     sub-zones    cell size
=============  ===========================================  ===========  ================
home           compounds of 150 (urban) / 25 (rural) hh     1 per hh     a flat
work           one per 40 workers, urban villages 4× more   8 workers    an office bay
school         one per 800 pupils of the town               40 pupils    a classroom
market         1 per town + 1 per 3 urban villages          40           a stall row, 3 m
supermarket    1 per urban village, 1 per rural town        30           an aisle, 3 m
square         1 per town + 1 per 4 urban villages          60           3 m × 3 m
restaurant     1 per 400 people of a village (≥ 1)          10           a table area
hospital       1 per town                                   20           a waiting area
checkpoint     2 per town                                   2            a lane
station        2 in the district (railway, coach)           30           a waiting area
=============  ===========================================  ===========  ================
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from zhikong.geo.projection import Projection
from zhikong.sim.district import Village
from zhikong.sim.params import SimParams

KIND_NAMES = {"home": "小区", "work": "公司", "school": "学校", "market": "农贸市场",
              "supermarket": "超市", "square": "广场", "restaurant": "餐馆", "hospital": "卫生院",
              "checkpoint": "交通卡口", "station": "车站"}
#: kinds that have cameras (天眼) and how many
CAMERA_KINDS = {"market": 1, "supermarket": 1, "square": 2, "hospital": 1, "checkpoint": 1, "station": 2}
#: kinds where people scan the venue code (场所码) on entry
SCAN_KINDS = {"work", "market", "supermarket", "restaurant", "hospital", "station", "square"}
#: kinds written to places.csv, with the place kind of the ledger's place import
PLACE_KINDS = {"market": "market", "supermarket": "supermarket", "square": "square",
               "checkpoint": "checkpoint", "school": "school", "hospital": "hospital",
               "station": "station", "work": "enterprise", "restaurant": "other"}

ROLE_CHILD, ROLE_STUDENT, ROLE_WORKER, ROLE_HOME, ROLE_RETIRED = 0, 1, 2, 3, 4


@dataclass
class World:
    """The static part of a world: venues, sub-zones, towers, cameras and who lives/works where."""

    venues: pd.DataFrame        # venue_id, name, kind, village_idx, unit_code, lat, lon, x, y, …
    sub_venue: np.ndarray       # global sub-zone → venue index
    sub_x: np.ndarray           # sub-zone centre, local metres
    sub_y: np.ndarray
    towers: pd.DataFrame        # tower_id, lat, lon, x, y, radius_m, unit_code
    cameras: pd.DataFrame       # camera_id, place_code, lat, lon, x, y, unit_code, venue_idx
    venue_tower: np.ndarray     # nearest tower of each venue
    venue_tower2: np.ndarray    # second-nearest (ping-pong)
    venue_cam: np.ndarray       # first camera index of each venue, −1 when none
    venue_ncam: np.ndarray
    role: np.ndarray            # per person, ROLE_*
    home_venue: np.ndarray
    home_sub: np.ndarray
    work_venue: np.ndarray      # −1 when none (school for students)
    work_sub: np.ndarray
    by_kind_town: dict[tuple[str, int], np.ndarray]   # venue indices of a kind in a town
    person_town: np.ndarray
    venue_town: np.ndarray
    proj: Projection


class _Builder:
    def __init__(self, villages: list[Village], proj: Projection, rng: np.random.Generator) -> None:
        self.villages = villages
        self.proj = proj
        self.rng = rng
        vx, vy = proj.to_xy(np.array([v.lat for v in villages]), np.array([v.lon for v in villages]))
        self.vx, self.vy = vx, vy
        self.vradius = np.array([500.0 if v.urban else 2000.0 for v in villages])
        self.rows: list[tuple[str, int, int]] = []   # kind, village idx, n_sub

    def add(self, kind: str, village: int, n_sub: int) -> int:
        self.rows.append((kind, village, max(1, int(n_sub))))
        return len(self.rows) - 1

    def frame(self, district_code: str) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
        kinds = np.array([r[0] for r in self.rows])
        vil = np.array([r[1] for r in self.rows], dtype=np.int32)
        nsub = np.array([r[2] for r in self.rows], dtype=np.int32)
        n = len(self.rows)
        r = self.vradius[vil] * np.sqrt(self.rng.random(n))
        t = self.rng.random(n) * 2 * np.pi
        x = self.vx[vil] + r * np.cos(t)
        y = self.vy[vil] + r * np.sin(t)
        lat, lon = self.proj.to_latlon(x, y)
        ids = np.char.add("V" + district_code, np.char.zfill(np.arange(n).astype(str), 7))
        vnames = np.array([v.name for v in self.villages])
        kn = np.array([KIND_NAMES[k] for k in kinds])
        num = np.char.add((np.arange(n) % 9 + 1).astype(str), "号")
        names = np.char.add(np.char.add(vnames[vil], kn), num)
        df = pd.DataFrame({"venue_id": ids.astype(object), "name": names.astype(object), "kind": kinds,
                           "village_idx": vil, "unit_code": np.array([v.code for v in self.villages])[vil],
                           "lat": lat, "lon": lon, "x": x, "y": y, "n_sub": nsub})
        df["sub_base"] = np.concatenate([[0], np.cumsum(nsub)[:-1]]).astype(np.int64)
        sub_venue = np.repeat(np.arange(n, dtype=np.int32), nsub)
        j = np.arange(len(sub_venue)) - df["sub_base"].to_numpy()[sub_venue]
        sub_x = x[sub_venue] + (j % 10) * 3.0 - 13.5
        sub_y = y[sub_venue] + (j // 10) * 3.0
        return df, sub_venue, sub_x, sub_y


def build_world(villages: list[Village], persons: pd.DataFrame, params: SimParams,
                proj: Projection) -> World:
    rng = np.random.default_rng([params.seed, 2])
    n = len(persons)
    b = _Builder(villages, proj, rng)
    town_codes = sorted({v.town_code for v in villages})
    town_of_village = np.array([town_codes.index(v.town_code) for v in villages])
    person_town = town_of_village[persons["village_idx"].to_numpy()]
    age = persons["age"].to_numpy()
    role = np.full(n, ROLE_HOME, dtype=np.int8)
    role[age < 6] = ROLE_CHILD
    role[(age >= 6) & (age < 19)] = ROLE_STUDENT
    working_age = (age >= 19) & (age < 60)
    role[working_age & (rng.random(n) < 0.75)] = ROLE_WORKER
    role[age >= 60] = ROLE_RETIRED

    # homes: households of a village grouped into compounds
    hh = persons.groupby("household_idx", sort=True)["village_idx"].first()
    hh_village = hh.to_numpy()
    hh_compound = np.empty(len(hh_village), dtype=np.int64)
    hh_slot = np.empty(len(hh_village), dtype=np.int64)
    for vi in np.unique(hh_village):
        members = np.flatnonzero(hh_village == vi)
        per = 150 if villages[vi].urban else 25
        for start in range(0, len(members), per):
            chunk = members[start:start + per]
            c = b.add("home", int(vi), len(chunk))
            hh_compound[chunk] = c
            hh_slot[chunk] = np.arange(len(chunk))

    urban = np.array([v.urban for v in villages])
    vil_pop = np.bincount(persons["village_idx"].to_numpy(), minlength=len(villages))
    by_kind_town: dict[tuple[str, int], list[int]] = {}

    def add_in_town(kind: str, t: int, k: int, n_sub: int) -> None:
        vs = np.flatnonzero(town_of_village == t)
        w = np.where(urban[vs], 4.0, 1.0)
        for v in rng.choice(vs, size=k, p=w / w.sum()):
            by_kind_town.setdefault((kind, t), []).append(b.add(kind, int(v), n_sub))

    students = role == ROLE_STUDENT
    for t in range(len(town_codes)):
        vs = np.flatnonzero(town_of_village == t)
        n_urban = int(urban[vs].sum())
        add_in_town("market", t, 1 + n_urban // 3, 40)
        add_in_town("square", t, 1 + n_urban // 4, 60)
        add_in_town("hospital", t, 1, 20)
        add_in_town("checkpoint", t, 2, 2)
        if n_urban == 0:
            add_in_town("supermarket", t, 1, 30)
        for v in vs:
            if urban[v]:
                by_kind_town.setdefault(("supermarket", t), []).append(b.add("supermarket", int(v), 30))
            for _ in range(max(1, int(vil_pop[v] // 400))):
                by_kind_town.setdefault(("restaurant", t), []).append(b.add("restaurant", int(v), 10))
        n_stu = int((students & (person_town == t)).sum())
        if n_stu:
            add_in_town("school", t, max(1, -(-n_stu // 800)), 0)
    first_urban_town = int(town_of_village[np.argmax(urban)]) if urban.any() else 0
    add_in_town("station", first_urban_town, 2, 30)

    # workplaces: in the worker's town with p 0.7, else anywhere (commuters)
    workers = np.flatnonzero(role == ROLE_WORKER)
    w_town = person_town[workers].copy()
    commute = rng.random(len(workers)) >= 0.7
    w_town[commute] = rng.integers(0, len(town_codes), int(commute.sum()))
    work_venue = np.full(n, -1, dtype=np.int64)
    work_slot = np.zeros(n, dtype=np.int64)
    for t in range(len(town_codes)):
        ws = workers[w_town == t]
        if len(ws) == 0:
            continue
        k = max(1, -(-len(ws) // 40))
        vs = np.flatnonzero(town_of_village == t)
        w = np.where(urban[vs], 4.0, 1.0)
        places = [b.add("work", int(v), 0) for v in rng.choice(vs, size=k, p=w / w.sum())]
        pick = rng.integers(0, k, len(ws))
        work_venue[ws] = np.array(places)[pick]
    # schools: pupils of a town spread over its schools
    for t in range(len(town_codes)):
        st = np.flatnonzero(students & (person_town == t))
        schools = by_kind_town.get(("school", t), [])
        if len(st) and schools:
            work_venue[st] = np.array(schools)[rng.integers(0, len(schools), len(st))]
    # sub-zones of workplaces and schools: groups of 8 workers / 40 pupils
    has_work = work_venue >= 0
    order = np.lexsort((np.arange(n), work_venue))
    order = order[has_work[order]]
    wv = work_venue[order]
    first = np.searchsorted(wv, wv)
    rank = np.arange(len(order)) - first
    group = np.where(role[order] == ROLE_STUDENT, 40, 8)
    work_slot[order] = rank // group
    nsub_needed = np.zeros(len(b.rows), dtype=np.int64)
    np.maximum.at(nsub_needed, work_venue[has_work], work_slot[has_work] + 1)
    for i, (kind, vil, ns) in enumerate(b.rows):
        if kind in ("work", "school"):
            b.rows[i] = (kind, vil, max(ns, int(nsub_needed[i]), 1))

    venues, sub_venue, sub_x, sub_y = b.frame(params.district_code)
    base = venues["sub_base"].to_numpy()
    hh_sub = base[hh_compound] + hh_slot
    pid_hh = persons["household_idx"].to_numpy()
    home_venue = hh_compound[pid_hh]
    home_sub = hh_sub[pid_hh]
    work_sub = np.where(has_work, base[np.maximum(work_venue, 0)] + work_slot, -1)

    towers = _towers(villages, b.vx, b.vy, b.vradius, params, proj, rng)
    tree = cKDTree(np.c_[towers["x"].to_numpy(), towers["y"].to_numpy()])
    k = 2 if len(towers) > 1 else 1
    _, idx = tree.query(np.c_[venues["x"].to_numpy(), venues["y"].to_numpy()], k=k)
    idx = np.asarray(idx).reshape(len(venues), k)
    cameras, venue_cam, venue_ncam = _cameras(venues, params)
    return World(venues=venues, sub_venue=sub_venue, sub_x=sub_x, sub_y=sub_y, towers=towers,
                 cameras=cameras, venue_tower=idx[:, 0].astype(np.int32),
                 venue_tower2=idx[:, -1].astype(np.int32), venue_cam=venue_cam, venue_ncam=venue_ncam,
                 role=role, home_venue=home_venue, home_sub=home_sub, work_venue=work_venue,
                 work_sub=work_sub,
                 by_kind_town={k_: np.array(v, dtype=np.int64) for k_, v in by_kind_town.items()},
                 person_town=person_town,
                 venue_town=town_of_village[venues["village_idx"].to_numpy()], proj=proj)


def _towers(villages: list[Village], vx: np.ndarray, vy: np.ndarray, vr: np.ndarray, params: SimParams,
            proj: Projection, rng: np.random.Generator) -> pd.DataFrame:
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    units: list[str] = []
    radii: list[float] = []
    for i, v in enumerate(villages):
        spacing = params.tower_spacing_urban_m if v.urban else params.tower_spacing_rural_m
        # a rural village's towers also cover the fields around it: count over a 2.5 km disk
        area = np.pi * max(vr[i], spacing / 2) ** 2
        k = max(1, round(area / spacing**2))
        r = vr[i] * np.sqrt(rng.random(k))
        t = rng.random(k) * 2 * np.pi
        xs.append(vx[i] + r * np.cos(t))
        ys.append(vy[i] + r * np.sin(t))
        units += [v.code] * k
        radii += [spacing * 0.6] * k
    x = np.concatenate(xs)
    y = np.concatenate(ys)
    lat, lon = proj.to_latlon(x, y)
    n = len(x)
    tid = np.char.add("T", np.char.zfill(np.arange(n).astype(str), 6)).astype(object)
    return pd.DataFrame({"tower_id": tid,
                         "lat": lat, "lon": lon, "x": x.astype(np.float32), "y": y.astype(np.float32),
                         "radius_m": np.array(radii, dtype=np.float32), "unit_code": units})


def _cameras(venues: pd.DataFrame, params: SimParams) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    ncam = venues["kind"].map(CAMERA_KINDS).fillna(0).astype(np.int64).to_numpy()
    first = np.concatenate([[0], np.cumsum(ncam)[:-1]])
    venue_cam = np.where(ncam > 0, first, -1)
    vidx = np.repeat(np.arange(len(venues)), ncam)
    n = len(vidx)
    v = venues.iloc[vidx]
    cams = pd.DataFrame({
        "camera_id": np.char.add("C", np.char.zfill(np.arange(n).astype(str), 6)).astype(object),
        "place_code": v["venue_id"].to_numpy(),
        "lat": v["lat"].to_numpy(), "lon": v["lon"].to_numpy(),
        "x": v["x"].to_numpy().astype(np.float32), "y": v["y"].to_numpy().astype(np.float32),
        "unit_code": v["unit_code"].to_numpy(), "venue_idx": vidx})
    return cams, venue_cam.astype(np.int64), ncam
