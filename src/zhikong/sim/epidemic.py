"""The epidemic: imported infections, transmission by true co-presence, and the ground truth.

Times are minutes since the start of the first simulated local day (NaN = never; imported
infections may be negative: before the first day).

* **Transmission**: an infectious person and a susceptible one in the same sub-zone for ``m``
  overlapping minutes: infection with probability ``1 − exp(−β·m)`` (``beta_per_min``), at a
  uniformly drawn minute of the overlap.
* **Natural history**: incubation log-normal (mean 5.2 d); symptomatic cases are infectious from
  ``presymptomatic_days`` before onset until they are reported (then isolated and gone from the
  schedules); sampling follows onset after a gamma delay, the report follows sampling by 0.5–1.5 d.
  Asymptomatic infections (``asymptomatic_share``) are infectious from infection + 3 d for
  ``asymptomatic_infectious_days`` and are never reported.
* **Close contacts (truth)**: for every infected person, everyone who shared a sub-zone with them
  for ≥ ``close_contact_minutes`` cumulative minutes inside their infectious window, plus their
  household members.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from zhikong.sim.params import SimParams
from zhikong.sim.schedule import DAY_MIN, Stays

DAY = float(DAY_MIN)


class Epidemic:
    def __init__(self, n: int, params: SimParams, rng: np.random.Generator) -> None:
        self.n = n
        self.p = params
        self.rng = rng
        self.infected_at = np.full(n, np.nan)
        self.onset_at = np.full(n, np.nan)
        self.sampled_at = np.full(n, np.nan)
        self.reported_at = np.full(n, np.nan)
        self.inf_start = np.full(n, np.inf)
        self.inf_end = np.full(n, -np.inf)
        self.infector = np.full(n, -1, dtype=np.int64)
        self.venue = np.full(n, -1, dtype=np.int64)
        self.imported = np.zeros(n, dtype=bool)
        self._contacts: list[pd.DataFrame] = []

    # ---- state changes -----------------------------------------------------------------------
    def infect(self, who: np.ndarray, at: np.ndarray, infector: np.ndarray, venue: np.ndarray,
               imported: bool = False) -> None:
        k = len(who)
        if k == 0:
            return
        p, rng = self.p, self.rng
        self.infected_at[who] = at
        self.infector[who] = infector
        self.venue[who] = venue
        self.imported[who] = imported
        incub = rng.lognormal(p.incubation_mu, p.incubation_sigma, k) * DAY
        asym = rng.random(k) < p.asymptomatic_share
        onset = at + incub
        sampled = onset + rng.gamma(2.0, p.onset_to_sample_mean_days / 2.0, k) * DAY
        reported = sampled + rng.uniform(*p.sample_to_report_days, k) * DAY
        self.onset_at[who] = np.where(asym, np.nan, onset)
        self.sampled_at[who] = np.where(asym, np.nan, sampled)
        self.reported_at[who] = np.where(asym, np.nan, reported)
        self.inf_start[who] = np.where(asym, at + 3 * DAY,
                                       np.maximum(at + DAY, onset - p.presymptomatic_days * DAY))
        self.inf_end[who] = np.where(asym, at + (3 + p.asymptomatic_infectious_days) * DAY, reported)

    def isolated_cut(self, day: int) -> tuple[np.ndarray, np.ndarray]:
        """(absent all day, minute of the day a person is isolated or ``DAY_MIN``)."""
        rep = self.reported_at
        d0 = day * DAY
        with np.errstate(invalid="ignore"):
            absent = rep <= d0
            today = (rep > d0) & (rep < d0 + DAY)
        cut = np.where(today, np.floor(np.nan_to_num(rep) - d0), DAY_MIN).astype(np.int64)
        return absent, cut

    # ---- one day -------------------------------------------------------------------------------
    def step(self, day: int, stays: Stays) -> int:
        """Record contacts and transmit along today's stays; return the number of new infections."""
        d0 = day * DAY
        s_abs = stays.start + d0
        e_abs = stays.end + d0
        cs = np.maximum(s_abs, self.inf_start[stays.person])
        ce = np.minimum(e_abs, self.inf_end[stays.person])
        inf = ce > cs
        if not inf.any():
            return 0
        case = pd.DataFrame({"case": stays.person[inf], "sub": stays.sub[inf], "cs": cs[inf], "ce": ce[inf]})
        near = np.isin(stays.sub, case["sub"].to_numpy())
        other = pd.DataFrame({"other": stays.person[near], "sub": stays.sub[near], "os": s_abs[near],
                              "oe": e_abs[near], "venue": stays.venue[near]})
        m = case.merge(other, on="sub")
        m = m[m["case"] != m["other"]]
        lo = np.maximum(m["cs"].to_numpy(), m["os"].to_numpy())
        hi = np.minimum(m["ce"].to_numpy(), m["oe"].to_numpy())
        ok = hi > lo
        m = m[ok]
        lo, hi = lo[ok], hi[ok]
        if len(m) == 0:
            return 0
        minutes = hi - lo
        self._contacts.append(pd.DataFrame({
            "case": m["case"].to_numpy(), "other": m["other"].to_numpy(), "minutes": minutes,
            "first": lo, "last": hi, "venue": m["venue"].to_numpy()}))
        # transmission to the susceptible
        oth = m["other"].to_numpy()
        sus = np.isnan(self.infected_at[oth])
        hit = sus & (self.rng.random(len(m)) < 1 - np.exp(-self.p.beta_per_min * minutes))
        if not hit.any():
            return 0
        at = lo[hit] + self.rng.random(int(hit.sum())) * minutes[hit]
        ev = pd.DataFrame({"who": oth[hit], "at": at, "by": m["case"].to_numpy()[hit],
                           "venue": m["venue"].to_numpy()[hit]}).sort_values(["who", "at"])
        ev = ev.drop_duplicates("who", keep="first")
        self.infect(ev["who"].to_numpy(), ev["at"].to_numpy(), ev["by"].to_numpy(), ev["venue"].to_numpy())
        return len(ev)

    # ---- truth ------------------------------------------------------------------------------------
    def infected(self) -> np.ndarray:
        return np.flatnonzero(~np.isnan(self.infected_at))

    def close_contacts(self, household: np.ndarray) -> pd.DataFrame:
        """case, contact, minutes, first, last, venue (the venue where most minutes were spent)."""
        cols = ["case", "other", "minutes", "first", "last", "venue"]
        c = pd.concat(self._contacts, ignore_index=True) if self._contacts else pd.DataFrame(columns=cols)
        c = c.astype({"case": np.int64, "other": np.int64, "minutes": float, "first": float,
                      "last": float, "venue": np.int64})
        per_venue = c.groupby(["case", "other", "venue"], as_index=False)["minutes"].sum()
        best = per_venue.sort_values("minutes", ascending=False).drop_duplicates(["case", "other"])
        agg = c.groupby(["case", "other"], as_index=False).agg(
            minutes=("minutes", "sum"), first=("first", "min"), last=("last", "max"))
        agg = agg.merge(best[["case", "other", "venue"]], on=["case", "other"])
        # household members of every infected person count whatever the minutes
        cases = self.infected()
        hh = pd.DataFrame({"case": cases, "hh": household[cases]})
        members = pd.DataFrame({"other": np.arange(self.n), "hh": household})
        pairs = hh.merge(members, on="hh")
        pairs = pairs[pairs["case"] != pairs["other"]][["case", "other"]]
        pairs["household"] = True
        agg = agg.merge(pairs, on=["case", "other"], how="outer")
        agg["household"] = agg["household"].astype("boolean").fillna(False).astype(bool)
        agg["minutes"] = agg["minutes"].fillna(0.0)
        keep = (agg["minutes"] >= self.p.close_contact_minutes) | agg["household"]
        return agg[keep].reset_index(drop=True)
