"""The simulator's class rosters: one row per pupil with its true class, noisy like a real roster,
drawn from their own random stream (the world's other files do not change)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from zhikong.sim.district import projection_for, tiny_district
from zhikong.sim.params import SimParams
from zhikong.sim.places import ROLE_STUDENT, build_world
from zhikong.sim.population import population_frame
from zhikong.sim.rosters import ROSTER_COLUMNS, class_name, write_school_rosters


def test_roster_rows_are_the_pupils_classes_with_some_noise(tmp_path: Path) -> None:
    villages = tiny_district()
    params = SimParams(seed=5, people=6000, days=1)
    persons = population_frame(villages, params.people, params.seed)
    world = build_world(villages, persons, params, projection_for(villages))
    n = write_school_rosters(tmp_path, params, persons, world)
    df = pd.read_csv(tmp_path / "rosters" / "school_rosters.csv", dtype=str, keep_default_na=False)
    ident = pd.read_parquet(tmp_path / "truth" / "rosters" / "school_rosters.identity.parquet")
    assert list(df.columns) == ROSTER_COLUMNS and len(df) == n == len(ident)
    pupils = np.flatnonzero(world.role == ROLE_STUDENT)
    assert 0.95 * len(pupils) < n <= len(pupils)  # about 1 % missing
    # the true class of each row's pupil
    base = world.venues["sub_base"].to_numpy()
    row_of = {idn: i for i, idn in enumerate(persons["id_number"])}
    p = np.array([row_of[v] for v in ident["id_number"]])
    true_school = world.venues["venue_id"].to_numpy()[world.work_venue[p]]
    true_class = [class_name(int(s)) for s in world.work_sub[p] - base[world.work_venue[p]]]
    assert (df["school_code"].to_numpy() == true_school).all()
    right = np.mean(df["class"].to_numpy() == np.array(true_class))
    assert 0.97 < right < 1.0  # about 1 % listed in another class
    same_id = np.mean(df["id_number"].to_numpy() == ident["id_number"].to_numpy())
    assert 0.9 < same_id < 0.995  # blank or malformed ID numbers
    assert (df["id_number"] == "").any()


def test_same_seed_same_roster(tmp_path: Path) -> None:
    villages = tiny_district()
    params = SimParams(seed=5, people=1500, days=1)
    persons = population_frame(villages, params.people, params.seed)
    world = build_world(villages, persons, params, projection_for(villages))
    write_school_rosters(tmp_path / "a", params, persons, world)
    write_school_rosters(tmp_path / "b", params, persons, world)
    a = (tmp_path / "a" / "rosters" / "school_rosters.csv").read_bytes()
    assert a == (tmp_path / "b" / "rosters" / "school_rosters.csv").read_bytes()


@pytest.mark.parametrize(
    "rel", ["rosters/school_rosters.csv", "truth/rosters/school_rosters.identity.parquet"]
)
def test_generated_world_has_rosters(tmp_path: Path, rel: str) -> None:
    from zhikong.sim.service import generate_world

    generate_world(tmp_path / "w", SimParams(seed=11, people=600, days=1), villages=tiny_district())
    assert (tmp_path / "w" / rel).is_file()
