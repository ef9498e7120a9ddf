"""The simulator: determinism, schedules, observation rates, ground-truth contacts, lists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from zhikong.sim import observe
from zhikong.sim.district import projection_for, tiny_district
from zhikong.sim.epidemic import Epidemic
from zhikong.sim.params import SimParams
from zhikong.sim.places import ROLE_WORKER, SCAN_KINDS, World, build_world
from zhikong.sim.population import population_frame
from zhikong.sim.schedule import DAY_MIN, Arrivals, Stays, day_stays
from zhikong.sim.service import FEEDS, generate_world, world_hash


@pytest.fixture(scope="module")
def small() -> tuple[World, pd.DataFrame, SimParams]:
    villages = tiny_district()
    params = SimParams(seed=7, people=1500, days=2)
    persons = population_frame(villages, params.people, params.seed)
    return build_world(villages, persons, params, projection_for(villages)), persons, params


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world") / "w"
    generate_world(out, SimParams(seed=11, people=600, days=3), villages=tiny_district())
    return out


def _no_arrivals() -> Arrivals:
    e = np.empty(0, dtype=np.int64)
    return Arrivals(e, e, e)


def test_same_seed_same_world(world_dir: Path, tmp_path: Path) -> None:
    again = generate_world(tmp_path / "w", SimParams(seed=11, people=600, days=3), villages=tiny_district())
    assert again.world_hash == world_hash(world_dir)
    other = generate_world(tmp_path / "o", SimParams(seed=12, people=600, days=3), villages=tiny_district())
    assert other.world_hash != again.world_hash


def test_world_layout(world_dir: Path) -> None:
    for rel in ["world.json", "ledger.csv", "places.csv", "ref/tower.csv", "ref/camera.csv", "ref/venue.csv",
                "truth/persons.parquet", "truth/cases.parquet", "truth/close_contacts.parquet",
                "truth/infections.parquet", "truth/travellers.parquet"]:
        assert (world_dir / rel).is_file(), rel
    for src in FEEDS:
        assert sorted(p.name for p in (world_dir / "feeds" / src).glob("*.csv")) == [
            "2020-03-01.csv", "2020-03-02.csv", "2020-03-03.csv"]
    ledger = pd.read_csv(world_dir / "ledger.csv", dtype=str)
    assert list(ledger.columns) == ["id_number", "name", "sex", "birth_date", "phone", "household_code",
                                    "address", "village_code", "residence_status"]
    assert len(ledger) == 600
    cell = pd.read_csv(world_dir / "feeds/cell/2020-03-02.csv", dtype=str)
    assert list(cell.columns) == ["phone", "ts", "tower_id", "event"]
    assert cell["ts"].str.endswith("+08:00").all() and cell["ts"].str.startswith("2020-03-02T").all()
    assert set(cell["phone"]) <= set(ledger["phone"].dropna())
    persons = pq.read_table(world_dir / "truth/persons.parquet").to_pandas()
    assert set(persons.columns) >= {"id_number", "phone", "household_code", "village_code", "home_venue",
                                    "work_venue", "has_gps", "has_proximity", "has_phone"}
    for name in ["arrivals_telecom", "self_declared", "netizen_reports"]:
        rows = pd.read_csv(world_dir / "lists" / f"{name}.csv", dtype=str)
        ident = pq.read_table(world_dir / "truth/lists" / f"{name}.identity.parquet").to_pandas()
        assert list(ident["row"]) == list(range(1, len(rows) + 1))
        known = ident["id_number"].dropna()
        assert set(known) <= set(ledger["id_number"])


def test_schedules_are_sane(small: tuple[World, pd.DataFrame, SimParams]) -> None:
    world, persons, params = small
    n = len(persons)
    present = np.ones(n, dtype=bool)
    present[:10] = False                                    # away today
    cut = np.full(n, DAY_MIN, dtype=np.int64)
    cut[10] = 600                                           # isolated at 10:00
    st, _ = day_stays(world, params, np.random.default_rng(1), 0, present, _no_arrivals(), cut)
    assert len(st) > n
    assert not np.isin(np.arange(10), st.person).any()
    assert ((st.start >= 0) & (st.end <= DAY_MIN) & (st.end > st.start)).all()
    assert st.end[st.person == 10].max() <= 600
    # sorted by person and time, never two places at once
    same = st.person[1:] == st.person[:-1]
    assert (st.start[1:][same] >= st.end[:-1][same]).all()
    # everyone present is somewhere; workers spend a Monday at their workplace's sub-zone
    assert set(np.flatnonzero(present)) <= set(st.person.tolist())
    workers = np.flatnonzero(present & (world.role == ROLE_WORKER))
    at_work = np.isin(workers, st.person[st.sub == world.work_sub[st.person]])
    assert at_work.mean() > 0.95
    # a venue's stays use its own sub-zones only
    assert (world.sub_venue[st.sub] == st.venue).all()


def test_observation_rates(small: tuple[World, pd.DataFrame, SimParams]) -> None:
    world, persons, params = small
    n = len(persons)
    st, passes = day_stays(world, params, np.random.default_rng(2), 2, np.ones(n, dtype=bool), _no_arrivals(),
                           np.full(n, DAY_MIN, dtype=np.int64))
    idn = persons["id_number"].to_numpy(dtype=object)
    kinds = world.venues["kind"].to_numpy()
    scans = observe.venue_scan(world, params, np.random.default_rng(3), st, idn)
    visits = np.isin(kinds[st.venue], sorted(SCAN_KINDS)).sum()
    assert scans.num_rows / visits == pytest.approx(params.venue_scan_compliance, abs=0.05)
    cams = observe.camera(world, params, np.random.default_rng(4), st, passes, idn)
    chances = (world.venue_ncam[st.venue] > 0).sum() + len(passes.person)
    assert cams.num_rows / chances == pytest.approx(params.camera_detection, abs=0.05)
    phone = persons["phone"].fillna("").to_numpy(dtype=object)
    has_phone = persons["phone"].notna().to_numpy()
    cell = observe.cell(world, params, np.random.default_rng(5), st, phone, has_phone, _no_arrivals())
    minutes = (st.end - st.start)[has_phone[st.person]].sum()
    expected = minutes / params.cell_mean_interval_min * (1 - params.cell_miss_rate)
    assert cell.num_rows == pytest.approx(expected, rel=0.15)   # + handovers between stays
    events = cell.column("event").to_pylist()
    assert {"periodic", "data", "call", "handover"} <= set(events)
    assert set(cell.column("phone").to_pylist()) <= set(phone[has_phone])


def test_gps_and_proximity_shares(world_dir: Path) -> None:
    p = pq.read_table(world_dir / "truth/persons.parquet").to_pandas()
    phones = p[p["has_phone"]]
    assert phones["has_gps"].mean() == pytest.approx(0.30, abs=0.06)
    assert phones["has_proximity"].mean() == pytest.approx(0.20, abs=0.06)
    assert not p.loc[~p["has_phone"], "has_gps"].any()
    gps = pd.read_csv(world_dir / "feeds/gps/2020-03-02.csv", dtype={"phone": str})
    assert set(gps["phone"]) <= set(phones.loc[phones["has_gps"], "phone"])


def _stays(rows: list[tuple[int, int, int, int]]) -> Stays:
    a = np.array(rows, dtype=np.int64)
    return Stays(a[:, 0], a[:, 1], a[:, 1] // 10, a[:, 2], a[:, 3])


def test_close_contacts_follow_the_sub_zone_definition() -> None:
    """Person 0 is infectious; 1 shares the sub-zone 20 min; 2 shares it 10 min on each of two days
    (20 cumulative); 3 shares it 10 min once; 4 is in the same venue but another sub-zone for hours;
    5 lives with 0 and never meets them."""
    params = SimParams(beta_per_min=0.0, close_contact_minutes=15)
    epi = Epidemic(6, params, np.random.default_rng(0))
    epi.infect(np.array([0]), np.array([-5 * 1440.0]), np.array([-1]), np.array([-1]), imported=True)
    epi.inf_start[0], epi.inf_end[0] = -1440.0, 3 * 1440.0
    day0 = _stays([(0, 10, 600, 700), (1, 10, 620, 640), (2, 10, 650, 660), (3, 10, 690, 700),
                   (4, 11, 500, 900)])
    day1 = _stays([(0, 10, 600, 700), (2, 10, 600, 610)])
    epi.step(0, day0)
    epi.step(1, day1)
    household = np.array([0, 1, 2, 3, 4, 0])
    cc = epi.close_contacts(household).set_index("other")
    assert sorted(cc.index) == [1, 2, 5]
    assert cc.loc[1, "minutes"] == 20 and cc.loc[2, "minutes"] == 20
    assert cc.loc[1, "first"] == 620 and cc.loc[2, "last"] == 1440 + 610
    assert bool(cc.loc[5, "household"]) and cc.loc[5, "minutes"] == 0


def test_contacts_outside_the_infectious_window_do_not_count() -> None:
    params = SimParams(beta_per_min=0.0)
    epi = Epidemic(2, params, np.random.default_rng(0))
    epi.infect(np.array([0]), np.array([0.0]), np.array([-1]), np.array([-1]))
    epi.inf_start[0], epi.inf_end[0] = 650.0, 2000.0
    epi.step(0, _stays([(0, 10, 600, 700), (1, 10, 600, 660)]))
    cc = epi.close_contacts(np.array([0, 1]))
    assert cc.empty                                     # only 10 of the 60 minutes were infectious


def test_transmission_happens_only_by_co_presence() -> None:
    params = SimParams(beta_per_min=1.0)                 # certain infection on any overlap
    epi = Epidemic(3, params, np.random.default_rng(0))
    epi.infect(np.array([0]), np.array([-3000.0]), np.array([-1]), np.array([-1]))
    epi.inf_start[0], epi.inf_end[0] = 0.0, 5000.0
    epi.step(0, _stays([(0, 10, 600, 700), (1, 10, 650, 660), (2, 11, 600, 700)]))
    assert not np.isnan(epi.infected_at[1]) and np.isnan(epi.infected_at[2])
    assert 650 <= epi.infected_at[1] <= 660 and epi.infector[1] == 0 and epi.venue[1] == 1


def test_truth_cases_and_contacts_are_consistent(world_dir: Path) -> None:
    cases = pq.read_table(world_dir / "truth/cases.parquet").to_pandas()
    inf = pq.read_table(world_dir / "truth/infections.parquet").to_pandas()
    cc = pq.read_table(world_dir / "truth/close_contacts.parquet").to_pandas()
    assert set(inf["infectee_id_number"]) <= set(cases["id_number"])
    assert (cases["imported"] == cases["infector_id_number"].isna()).all()
    assert set(cc["case_id_number"]) <= set(cases["id_number"])
    assert ((cc["minutes"] >= 15) | cc["household"]).all()
    trav = pq.read_table(world_dir / "truth/travellers.parquet").to_pandas()
    assert not trav.loc[~trav["from_risk_area"], "concealed"].any()
    risky = set(trav.loc[trav["from_risk_area"], "id_number"])
    assert set(cases.loc[cases["imported"], "id_number"]) <= risky


def test_roles_follow_ages_on_the_worlds_own_days() -> None:
    """Pupils are 6-18 on the world's first day, whatever its date (ages from the ledger's birth
    dates, as a tracer computes them), and the ledger itself does not depend on the date."""
    from datetime import date

    from zhikong.sim.places import ROLE_STUDENT

    villages = tiny_district()
    for start in (date(2020, 3, 1), date(2026, 11, 13)):
        params = SimParams(seed=7, people=1500, days=2, start_date=start)
        persons = population_frame(villages, params.people, params.seed, as_of=start)
        world = build_world(villages, persons, params, projection_for(villages))
        born = pd.to_datetime(persons["birth_date"])
        age = ((pd.Timestamp(start) - born).dt.days // 365.25).to_numpy()
        pupils = world.role == ROLE_STUDENT
        assert pupils.sum() > 50
        assert ((age[pupils] >= 6) & (age[pupils] <= 18)).all()
    early = population_frame(villages, 300, 7, as_of=date(2020, 3, 1))
    late = population_frame(villages, 300, 7, as_of=date(2026, 11, 13))
    assert (early["id_number"] == late["id_number"]).all()
    born_before = early["age"] > 0
    assert (late["age"] - early["age"])[born_before].between(6, 7).all()
