"""Observation models: what each feed records of one day's true stays (see ``params`` for rates).

Every function returns a ``pyarrow.Table`` as the operator would deliver it: **plaintext**
identifiers (``phone`` or ``id_number``) and times as seconds of the local day in column ``sec``
(``service`` turns them into ISO-8601 strings with the ``+08:00`` offset).

* cell: a Poisson process of events per stay (mean interval ``cell_mean_interval_min``, so the
  intervals are irregular) on the venue's nearest tower; ``cell_pingpong_rate`` of events land on
  the second-nearest tower as a ``handover``; a ``handover`` when a stay's tower differs from the
  previous stay's; ``attach`` when a traveller's phone registers on arrival; ``cell_miss_rate`` of
  rows are lost. Phones only (``has_phone``).
* camera: one chance per visit of a place with cameras (and per checkpoint pass) of being matched
  (``camera_detection``); ``camera_false_match`` of matches name a random other person with a
  lower score.
* venue_scan: one scan per visit of a scanning venue with probability ``venue_scan_compliance``.
* gps: fixes at Poisson times (mean ``gps_mean_interval_min``) for ``has_gps`` people, displaced
  by a Gaussian error whose scale is the reported accuracy (log-normal, median 15 m).
* proximity: for ``has_proximity`` people, every overlap ≥ ``proximity_min_minutes`` with another
  such person in the same sub-zone, logged by each phone unless it misses it (``proximity_miss_rate``);
  RSSI −55 to −85 dBm.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from zhikong.sim.params import SimParams
from zhikong.sim.places import SCAN_KINDS, World
from zhikong.sim.schedule import Arrivals, Passes, Stays


def cell(world: World, params: SimParams, rng: np.random.Generator, st: Stays, phone: np.ndarray,
         has_phone: np.ndarray, arrivals: Arrivals) -> pa.Table:
    m = has_phone[st.person]
    p, v, s, e = st.person[m], st.venue[m], st.start[m], st.end[m]
    dur = (e - s).astype(np.float64)
    n_ev = rng.poisson(dur / params.cell_mean_interval_min)
    rep = np.repeat(np.arange(len(p)), n_ev)
    sec = s[rep] * 60 + (rng.random(len(rep)) * dur[rep] * 60).astype(np.int64)
    tower = world.venue_tower[v[rep]].astype(np.int64)
    names = list(params.cell_event_mix)
    probs = np.array([params.cell_event_mix[k] for k in names])
    ev = rng.choice(len(names), size=len(rep), p=probs / probs.sum())
    pp = rng.random(len(rep)) < params.cell_pingpong_rate
    tower = np.where(pp, world.venue_tower2[v[rep]], tower)
    names.append("handover")
    ev = np.where(pp, len(names) - 1, ev)
    # handovers between consecutive stays on different towers
    t_stay = world.venue_tower[v]
    chg = np.zeros(len(p), dtype=bool)
    chg[1:] = (p[1:] == p[:-1]) & (t_stay[1:] != t_stay[:-1])
    ho = np.flatnonzero(chg)
    names.append("attach")
    a = arrivals.person[has_phone[arrivals.person]]
    a_min = arrivals.minute[has_phone[arrivals.person]]
    a_tower = np.where(arrivals.station[has_phone[arrivals.person]] >= 0,
                       world.venue_tower[np.maximum(arrivals.station[has_phone[arrivals.person]], 0)],
                       world.venue_tower[world.home_venue[a]])
    person = np.concatenate([p[rep], p[ho], a])
    sec = np.concatenate([sec, s[ho] * 60 + rng.integers(0, 60, len(ho)), a_min * 60])
    tower = np.concatenate([tower, t_stay[ho], a_tower])
    ev = np.concatenate([ev, np.full(len(ho), len(names) - 2), np.full(len(a), len(names) - 1)])
    keep = rng.random(len(person)) >= params.cell_miss_rate
    return _table(sec[keep], {
        "phone": _dict(phone, person[keep]),
        "tower_id": _dict(world.towers["tower_id"].to_numpy(), tower[keep]),
        "event": _dict(np.array(names, dtype=object), ev[keep]),
    })


def camera(world: World, params: SimParams, rng: np.random.Generator, st: Stays, passes: Passes,
           id_number: np.ndarray) -> pa.Table:
    m = world.venue_ncam[st.venue] > 0
    p = np.concatenate([st.person[m], passes.person])
    v = np.concatenate([st.venue[m], passes.venue])
    s = np.concatenate([st.start[m], passes.minute])
    dur = np.concatenate([st.end[m] - st.start[m], np.ones(len(passes.person), dtype=np.int64)])
    det = rng.random(len(p)) < params.camera_detection
    p, v, s, dur = p[det], v[det], s[det], dur[det]
    cam = world.venue_cam[v] + (rng.random(len(v)) * world.venue_ncam[v]).astype(np.int64)
    sec = s * 60 + (rng.random(len(p)) * np.minimum(dur, 5) * 60).astype(np.int64)
    false = rng.random(len(p)) < params.camera_false_match
    who = np.where(false, rng.integers(0, len(id_number), len(p)), p)
    score = np.where(false, rng.uniform(0.6, 0.8, len(p)), 0.6 + 0.39 * rng.beta(6, 2, len(p)))
    return _table(sec, {
        "camera_id": _dict(world.cameras["camera_id"].to_numpy(), cam),
        "id_number": _dict(id_number, who),
        "score": pa.array(np.round(score, 3).astype(np.float32)),
    })


def venue_scan(world: World, params: SimParams, rng: np.random.Generator, st: Stays,
               id_number: np.ndarray) -> pa.Table:
    kinds = world.venues["kind"].to_numpy()
    scan_kind = np.isin(kinds, sorted(SCAN_KINDS))
    m = scan_kind[st.venue] & (rng.random(len(st)) < params.venue_scan_compliance)
    sec = st.start[m] * 60 + rng.integers(0, 120, int(m.sum()))
    return _table(sec, {
        "venue_id": _dict(world.venues["venue_id"].to_numpy(), st.venue[m]),
        "id_number": _dict(id_number, st.person[m]),
    })


def gps(world: World, params: SimParams, rng: np.random.Generator, st: Stays, phone: np.ndarray,
        has_gps: np.ndarray) -> pa.Table:
    m = has_gps[st.person]
    p, sub, s, e = st.person[m], st.sub[m], st.start[m], st.end[m]
    dur = (e - s).astype(np.float64)
    n = rng.poisson(dur / params.gps_mean_interval_min)
    rep = np.repeat(np.arange(len(p)), n)
    sec = s[rep] * 60 + (rng.random(len(rep)) * dur[rep] * 60).astype(np.int64)
    acc = params.gps_accuracy_median_m * np.exp(rng.normal(0, 0.6, len(rep)))
    x = world.sub_x[sub[rep]] + rng.normal(0, 1, len(rep)) * acc / 1.5
    y = world.sub_y[sub[rep]] + rng.normal(0, 1, len(rep)) * acc / 1.5
    lat, lon = world.proj.to_latlon(x, y)
    return _table(sec, {
        "phone": _dict(phone, p[rep]),
        "lat": pa.array(np.round(lat, 6)), "lon": pa.array(np.round(lon, 6)),
        "accuracy_m": pa.array(np.round(acc, 1).astype(np.float32)),
    })


def proximity(params: SimParams, rng: np.random.Generator, st: Stays, phone: np.ndarray,
              has_prox: np.ndarray) -> pa.Table:
    m = has_prox[st.person]
    df = pd.DataFrame({"a": st.person[m], "sub": st.sub[m], "s": st.start[m], "e": st.end[m]})
    j = df.merge(df.rename(columns={"a": "b", "s": "s2", "e": "e2"}), on="sub")
    j = j[j["a"] != j["b"]]
    lo = np.maximum(j["s"].to_numpy(), j["s2"].to_numpy())
    hi = np.minimum(j["e"].to_numpy(), j["e2"].to_numpy())
    ok = (hi - lo) >= params.proximity_min_minutes
    a, b, lo, hi = j["a"].to_numpy()[ok], j["b"].to_numpy()[ok], lo[ok], hi[ok]
    logged = rng.random(len(a)) >= params.proximity_miss_rate
    a, b, lo, hi = a[logged], b[logged], lo[logged], hi[logged]
    sec = lo * 60 + rng.integers(0, 60, len(a))
    return _table(sec, {
        "phone": _dict(phone, a),
        "other_phone": _dict(phone, b),
        "duration_s": pa.array(((hi - lo) * 60).astype(np.int32)),
        "rssi": pa.array(np.round(-55 - 30 * rng.random(len(a))).astype(np.int16)),
    })


def _dict(values: np.ndarray, idx: np.ndarray) -> pa.Array:
    """``values[idx]`` as an Arrow string column (dictionary-decoded; fast for repeated values)."""
    d = pa.DictionaryArray.from_arrays(pa.array(idx.astype(np.int32)), pa.array(values, pa.string()))
    return d.cast(pa.string())


def _table(sec: np.ndarray, cols: dict[str, pa.Array]) -> pa.Table:
    order = np.argsort(sec, kind="stable")
    out = {"sec": pa.array(sec[order].astype(np.int64))}
    for k, v in cols.items():
        out[k] = v.take(pa.array(order))
    return pa.table(out)
