"""Daily activity schedules at minute resolution, vectorised over all people of one day.

A day of a person is a sequence of **stays** (person, sub-zone, venue, start, end) in minutes of
the local day; between two stays the person travels (10 minutes each way, in no sub-zone).

Routines (times are means; every person draws their own):

* workers, Monday–Friday (and Saturday for ``saturday_work_share``): work 07:45–17:45, lunch at a
  restaurant of the work town for 40%, an errand to a market or supermarket on the way home for 30%;
* pupils on school days: school 07:30–16:30 (``schools_open``);
* the retired and those at home, every day: a morning market trip (55% / 45%), an afternoon square
  visit or the evening square dance (广场舞) (35%);
* workers and pupils at weekends: a late-morning errand (50%), dinner out (25%);
* anyone: a hospital visit (0.3% a day);
* travellers: absent until their arrival, then the station (train/coach), then home.

Anyone not elsewhere is at home, in their household's sub-zone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zhikong.sim.params import SimParams
from zhikong.sim.places import ROLE_CHILD, ROLE_HOME, ROLE_RETIRED, ROLE_STUDENT, ROLE_WORKER, World

TRAVEL_MIN = 10
DAY_MIN = 1440


@dataclass
class Stays:
    person: np.ndarray   # int64
    sub: np.ndarray      # int64 global sub-zone
    venue: np.ndarray    # int64
    start: np.ndarray    # int64 minute of the day (inclusive)
    end: np.ndarray      # int64 minute of the day (exclusive)

    def __len__(self) -> int:
        return len(self.person)

    def take(self, mask: np.ndarray) -> Stays:
        return Stays(self.person[mask], self.sub[mask], self.venue[mask], self.start[mask], self.end[mask])


@dataclass
class Arrivals:
    """Travellers arriving on a day: person, minute of arrival, station venue (−1: none)."""

    person: np.ndarray
    minute: np.ndarray
    station: np.ndarray


@dataclass
class Passes:
    """Pass-bys of checkpoints (no stay): person, checkpoint venue, minute."""

    person: np.ndarray
    venue: np.ndarray
    minute: np.ndarray


class _Acts:
    def __init__(self) -> None:
        self.p: list[np.ndarray] = []
        self.v: list[np.ndarray] = []
        self.s: list[np.ndarray] = []
        self.e: list[np.ndarray] = []
        self.sub: list[np.ndarray] = []

    def add(self, p: np.ndarray, v: np.ndarray, sub: np.ndarray, s: np.ndarray, e: np.ndarray) -> None:
        self.p.append(p)
        self.v.append(v)
        self.sub.append(sub)
        self.s.append(np.round(s).astype(np.int64))
        self.e.append(np.round(e).astype(np.int64))


def _pick(world: World, rng: np.random.Generator, kind: str, towns: np.ndarray) -> np.ndarray:
    """A random venue of ``kind`` in each person's town (−1 where the town has none)."""
    out = np.full(len(towns), -1, dtype=np.int64)
    for t in np.unique(towns):
        cands = world.by_kind_town.get((kind, int(t)))
        if cands is None or len(cands) == 0:
            continue
        m = towns == t
        out[m] = cands[rng.integers(0, len(cands), int(m.sum()))]
    return out


def _random_sub(world: World, rng: np.random.Generator, venue: np.ndarray) -> np.ndarray:
    base = world.venues["sub_base"].to_numpy()[venue]
    nsub = world.venues["n_sub"].to_numpy()[venue]
    return base + (rng.random(len(venue)) * nsub).astype(np.int64)


def _visit(acts: _Acts, world: World, rng: np.random.Generator, p: np.ndarray, v: np.ndarray,
           s: np.ndarray, minutes: tuple[float, float]) -> None:
    """Visits of ``p`` to venues ``v`` from ``s`` for a uniform number of minutes, random sub-zone."""
    acts.add(p, v, _random_sub(world, rng, v), s, s + rng.uniform(*minutes, len(p)))


def day_stays(world: World, params: SimParams, rng: np.random.Generator, weekday: int,
              present: np.ndarray, arrivals: Arrivals, cut: np.ndarray) -> tuple[Stays, Passes]:
    """The stays of one day.

    ``present``: people in the district all day (not away, not isolated); ``arrivals`` join during
    the day; ``cut`` (minute per person, ``DAY_MIN`` = none) ends a person's day early (isolation).
    """
    n = len(present)
    role = world.role
    acts = _Acts()
    u = rng.random
    weekend = weekday >= 5
    idx = np.flatnonzero(present)
    r = role[idx]
    town = world.person_town[idx]

    workday = np.zeros(len(idx), dtype=bool)
    if weekday < 5:
        workday = r == ROLE_WORKER
    elif weekday == 5:
        workday = (r == ROLE_WORKER) & (u(len(idx)) < params.saturday_work_share)
    wk = idx[workday]
    k = len(wk)
    ws = np.clip(rng.normal(465, 30, k), 360, 600)
    we = np.clip(rng.normal(1065, 45, k), ws + 240, 1320)
    lunch = u(k) < 0.4
    wven = world.work_venue[wk]
    wsub = world.work_sub[wk]
    lv = _pick(world, rng, "restaurant", world.venue_town[wven])
    lunch &= lv >= 0
    le = 720 + rng.uniform(30, 50, k)
    # morning block ends at lunch for those who eat out
    acts.add(wk, wven, wsub, ws, np.where(lunch, 720 - TRAVEL_MIN, we))
    acts.add(wk[lunch], lv[lunch], _random_sub(world, rng, lv[lunch]), np.full(int(lunch.sum()), 720),
             le[lunch])
    acts.add(wk[lunch], wven[lunch], wsub[lunch], le[lunch] + TRAVEL_MIN, we[lunch])
    errand = u(k) < 0.3
    ev = np.where(u(k) < 0.4, _pick(world, rng, "market", town[workday]),
                  _pick(world, rng, "supermarket", town[workday]))
    errand &= ev >= 0
    es = we + rng.uniform(10, 30, k)
    acts.add(wk[errand], ev[errand], _random_sub(world, rng, ev[errand]), es[errand],
             es[errand] + rng.uniform(15, 50, int(errand.sum())))
    # commuters cross a checkpoint of the work town
    cross = world.venue_town[wven] != town[workday]
    cp = _pick(world, rng, "checkpoint", world.venue_town[wven][cross])
    ok = cp >= 0
    passes = Passes(wk[cross][ok], cp[ok], (ws[cross][ok] - 15).astype(np.int64))

    if params.schools_open and weekday < 5:
        st = idx[r == ROLE_STUDENT]
        st = st[world.work_venue[st] >= 0]
        s0 = np.clip(rng.normal(450, 10, len(st)), 400, 500)
        s1 = np.clip(rng.normal(990, 20, len(st)), 900, 1080)
        acts.add(st, world.work_venue[st], world.work_sub[st], s0, s1)

    home_like = (r == ROLE_RETIRED) | (r == ROLE_HOME) | ((r == ROLE_WORKER) & ~workday)
    if weekend:
        home_like |= r == ROLE_STUDENT
    hl = idx[home_like]
    t_hl = town[home_like]
    pm = np.where(role[hl] == ROLE_RETIRED, 0.55, 0.45)
    # workers and pupils on days off do weekend things instead of the morning market
    busy = weekend & ((role[hl] == ROLE_WORKER) | (role[hl] == ROLE_STUDENT))
    go = (u(len(hl)) < pm) & ~busy
    mv = np.where(u(len(hl)) < 0.7, _pick(world, rng, "market", t_hl), _pick(world, rng, "supermarket", t_hl))
    go &= mv >= 0
    ms = np.clip(rng.normal(480, 50, len(hl)), 360, 630)
    _visit(acts, world, rng, hl[go], mv[go], ms[go], (20, 80))
    sq = (u(len(hl)) < 0.35) & ~busy
    sv = _pick(world, rng, "square", t_hl)
    sq &= sv >= 0
    evening = u(len(hl)) < 0.5
    ss = np.where(evening, rng.normal(1170, 30, len(hl)), rng.normal(900, 60, len(hl)))
    _visit(acts, world, rng, hl[sq], sv[sq], ss[sq], (45, 120))
    if weekend:
        b = hl[busy]
        tb = t_hl[busy]
        er = u(len(b)) < 0.5
        kinds = rng.choice(["market", "supermarket", "square"], size=len(b), p=[0.3, 0.5, 0.2])
        ev2 = np.full(len(b), -1, dtype=np.int64)
        for kname in ("market", "supermarket", "square"):
            m = kinds == kname
            ev2[m] = _pick(world, rng, kname, tb[m])
        er &= ev2 >= 0
        es2 = rng.normal(600, 60, len(b))
        _visit(acts, world, rng, b[er], ev2[er], es2[er], (30, 90))
        din = u(len(b)) < 0.25
        dv = _pick(world, rng, "restaurant", tb)
        din &= dv >= 0
        ds = rng.normal(1110, 30, len(b))
        _visit(acts, world, rng, b[din], dv[din], ds[din], (60, 120))
    # small children go out with family to the square sometimes
    ch = idx[(r == ROLE_CHILD) & (u(len(idx)) < 0.2)]
    cv = _pick(world, rng, "square", world.person_town[ch])
    ok = cv >= 0
    cs = rng.normal(960, 60, len(ch))
    _visit(acts, world, rng, ch[ok], cv[ok], cs[ok], (30, 90))
    hosp = idx[u(len(idx)) < 0.003]
    hv = _pick(world, rng, "hospital", world.person_town[hosp])
    ok = hv >= 0
    hs = rng.normal(540, 60, len(hosp))
    _visit(acts, world, rng, hosp[ok], hv[ok], hs[ok], (60, 180))

    # travellers arriving today: station (if any) then home; nothing before
    a_ok = arrivals.station >= 0
    acts.add(arrivals.person[a_ok], arrivals.station[a_ok], _random_sub(world, rng, arrivals.station[a_ok]),
             arrivals.minute[a_ok], arrivals.minute[a_ok] + 15)

    p = np.concatenate(acts.p) if acts.p else np.empty(0, np.int64)
    v = np.concatenate(acts.v)
    sub = np.concatenate(acts.sub)
    s = np.clip(np.concatenate(acts.s), 0, DAY_MIN)
    e = np.clip(np.concatenate(acts.e), 0, DAY_MIN)
    # the day starts at home (or at arrival) and ends early for those isolated today
    day_start = np.zeros(n, dtype=np.int64)
    day_start[arrivals.person] = arrivals.minute
    s = np.maximum(s, day_start[p])
    e = np.minimum(e, cut[p])
    order = np.lexsort((s, p))
    p, v, sub, s, e = p[order], v[order], sub[order], s[order], e[order]
    # remove overlaps: a stay starts after the previous one of the same person ended (+ travel)
    key_end = p * 4096 + e
    prev = np.concatenate([[-1], np.maximum.accumulate(key_end)[:-1]])
    same = (prev // 4096) == p
    s = np.where(same, np.maximum(s, prev % 4096 + TRAVEL_MIN), s)
    keep = e - s >= 5
    p, v, sub, s, e = p[keep], v[keep], sub[keep], s[keep], e[keep]

    home = _home_gaps(world, p, s, e, present, arrivals, day_start, cut)
    allp = np.concatenate([p, home.person])
    order = np.lexsort((np.concatenate([s, home.start]), allp))
    st = Stays(allp[order], np.concatenate([sub, home.sub])[order], np.concatenate([v, home.venue])[order],
               np.concatenate([s, home.start])[order], np.concatenate([e, home.end])[order])
    return st, passes


def _home_gaps(world: World, p: np.ndarray, s: np.ndarray, e: np.ndarray, present: np.ndarray,
               arrivals: Arrivals, day_start: np.ndarray, cut: np.ndarray) -> Stays:
    """Home stays filling the gaps between the (sorted, non-overlapping) activities."""
    in_day = present.copy()
    in_day[arrivals.person] = True
    people = np.flatnonzero(in_day)
    first = np.ones(len(p), dtype=bool)
    first[1:] = p[1:] != p[:-1]
    last = np.ones(len(p), dtype=bool)
    last[:-1] = p[1:] != p[:-1]
    # gap before each activity: from previous end (or the day start) to this start
    g_start = np.where(first, day_start[p], np.concatenate([[0], e[:-1]]) + TRAVEL_MIN)
    g_end = s - TRAVEL_MIN
    g_start = np.where(first & (day_start[p] > 0), day_start[p] + 60, g_start)  # from station home
    # after the last activity until the end of the day (or the cut)
    t_start = e[last] + TRAVEL_MIN
    t_end = cut[p[last]]
    t_p = p[last]
    # people with no activity: home all day (from arrival + 60 for arrivals)
    no_act = np.setdiff1d(people, p, assume_unique=False)
    n_start = np.where(day_start[no_act] > 0, day_start[no_act] + 60, 0)
    hp = np.concatenate([p, t_p, no_act])
    hs = np.concatenate([g_start, t_start, n_start])
    he = np.concatenate([g_end, t_end, cut[no_act]])
    ok = he - hs >= 5
    hp, hs, he = hp[ok], hs[ok], he[ok]
    return Stays(hp, world.home_sub[hp], world.home_venue[hp], hs, he)
