"""The education bureau's class rosters (学校班级花名册), as an incoming list with its true identities.

Every school hands in its roster: one row per pupil with the school code (the venue code of
``places.csv``), the class, the pupil's ID number, name and a guardian's phone. Epidemiologists use
it to find a pupil case's classmates; the simulator's classroom (a sub-zone of 40 pupils) is the
class. Noise, as rosters compiled by hand have it (rates below, not simulator parameters):

* a pupil missing from the roster (transferred in after it was compiled);
* a pupil listed in another class of the same school (moved class);
* a blank or malformed ID number (the same malformations as the other lists);
* a homophone in the name; a guardian phone that changed or is blank.

Written as ``rosters/school_rosters.csv`` with ``truth/rosters/school_rosters.identity.parquet``
(``row`` = 1-based data row → the pupil's true ``id_number``). The rosters sit apart from ``lists/``
(the screening lists of people back from risk areas) and draw from their own random stream, so a
world's other files are the same with or without them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from zhikong.sim.lists import homophone, malformed_id
from zhikong.sim.params import SimParams
from zhikong.sim.places import ROLE_STUDENT, World
from zhikong.sim.population import random_phones

ROSTER_COLUMNS = ["school_code", "school_name", "class", "id_number", "name", "guardian_phone"]
#: a pupil not on the roster at all
MISSING_RATE = 0.01
#: a pupil listed in another class of the same school
MOVED_RATE = 0.01
#: blank ID number / malformed ID number
ID_BLANK_RATE = 0.02
ID_MALFORMED_RATE = 0.02
#: homophone in the name; guardian phone changed; guardian phone blank
HOMOPHONE_RATE = 0.05
PHONE_CHANGED_RATE = 0.05
PHONE_BLANK_RATE = 0.05


def class_name(slot: int) -> str:
    """The class label of a school's ``slot``-th classroom (0-based): ``1班``, ``2班`` …"""
    return f"{slot + 1}班"


def _guardians(persons: pd.DataFrame, pupils: np.ndarray) -> np.ndarray:
    """A guardian's phone per pupil: the oldest adult of the household with a phone ('' if none)."""
    adults = persons[(persons["age"] >= 19) & persons["phone"].notna()]
    first = adults.sort_values(["household_idx", "age"], ascending=[True, False]).drop_duplicates(
        "household_idx"
    )
    by_hh = dict(zip(first["household_idx"], first["phone"], strict=True))
    hh = persons["household_idx"].to_numpy()[pupils]
    return np.array([by_hh.get(int(h), "") for h in hh], dtype=object)


def write_school_rosters(out: Path, params: SimParams, persons: pd.DataFrame, world: World) -> int:
    """Write ``rosters/school_rosters.csv`` and its identities; return the number of rows."""
    rng = np.random.default_rng([params.seed, 8])
    venues = world.venues
    base = venues["sub_base"].to_numpy()
    pupils = np.flatnonzero((world.role == ROLE_STUDENT) & (world.work_venue >= 0))
    school = world.work_venue[pupils]
    slot = world.work_sub[pupils] - base[school]
    n = len(pupils)
    keep = rng.random(n) >= MISSING_RATE
    nsub = venues["n_sub"].to_numpy()[school]
    moved = (rng.random(n) < MOVED_RATE) & (nsub > 1)
    shift = rng.integers(1, np.maximum(nsub, 2))
    slot = np.where(moved, (slot + shift) % np.maximum(nsub, 1), slot)
    ids = persons["id_number"].to_numpy()[pupils]
    id_out = ids.astype(object).copy()
    blank = rng.random(n) < ID_BLANK_RATE
    bad = ~blank & (rng.random(n) < ID_MALFORMED_RATE)
    for j in np.flatnonzero(bad).tolist():
        id_out[j] = malformed_id(str(ids[j]), rng)
    id_out[blank] = ""
    names = persons["name"].to_numpy()[pupils].astype(object).copy()
    for j in np.flatnonzero(rng.random(n) < HOMOPHONE_RATE).tolist():
        names[j] = homophone(str(names[j]), rng)
    phones = _guardians(persons, pupils)
    changed = (phones != "") & (rng.random(n) < PHONE_CHANGED_RATE)
    phones[changed] = random_phones(rng, int(changed.sum()), set(persons["phone"].dropna()))
    phones[rng.random(n) < PHONE_BLANK_RATE] = ""
    df = pd.DataFrame(
        {
            "school_code": venues["venue_id"].to_numpy()[school],
            "school_name": venues["name"].to_numpy()[school],
            "class": [class_name(int(s)) for s in slot],
            "id_number": id_out,
            "name": names,
            "guardian_phone": phones,
            "slot": slot,
        }
    )[keep]
    df = df.sort_values(["school_code", "slot"], kind="stable")
    truth = ids[df.index.to_numpy()]
    df = df.drop(columns=["slot"]).reset_index(drop=True)
    rosters = out / "rosters"
    ident = out / "truth" / "rosters"
    rosters.mkdir(parents=True, exist_ok=True)
    ident.mkdir(parents=True, exist_ok=True)
    df.to_csv(rosters / "school_rosters.csv", index=False)
    pq.write_table(
        pa.table(
            {
                "row": pa.array(np.arange(1, len(df) + 1, dtype=np.int64)),
                "id_number": pa.array([str(v) for v in truth], pa.string()),
            }
        ),
        ident / "school_rosters.identity.parquet",
    )
    return len(df)
