"""The optimised trace gives the answers of the reference (the straightforward SQL kept in
``tests/unit/tracing/reference_pipeline.py``, scored and classified in pandas by
``tests/unit/tracing/reference_trace.py``) on a small simulated world: contacts, classes, scores (to
float rounding, though both round their sums to 6 decimals), explanations, evidence (in the order of
``sort_evidence``: the trace does not sort it), companions and the baselines."""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from tests.unit.tracing import reference_pipeline, reference_trace
from zhikong.engine import duckdb_engine
from zhikong.evaluation.tracing import world_cases, world_roster
from zhikong.evaluation.world import World, world_lake
from zhikong.sim.params import SimParams
from zhikong.sim.service import generate_world
from zhikong.tracing import pipeline, stays
from zhikong.tracing.lake import register_lake
from zhikong.tracing.policy import load_policy
from zhikong.tracing.risk import ContactResult
from zhikong.tracing.trace import IndexCase, TraceResult, index_table, sort_evidence, trace


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    out = tmp_path_factory.mktemp("world")
    generate_world(out, SimParams(seed=11, people=400, days=6))
    w = World(out)
    assert world_roster(w, world_lake(w))  # the class rosters, so the class detector is compared too
    return w


@pytest.fixture(scope="module")
def cases(world: World) -> list[IndexCase]:
    out = world_cases(world)[:6]
    start = pd.Timestamp(str(world.params["start_date"]), tz="Asia/Shanghai").to_pydatetime()
    rng = random.Random(3)
    people = [p for p in world.ledger().column("pid_id").to_pylist() if p]
    for p in rng.sample(people, 14):  # residents traced as if they had fallen ill on day 3
        out.append(
            IndexCase(p, p, start + timedelta(days=3, hours=rng.randint(0, 23)), start + timedelta(days=5))
        )
    return out


def _trace(world: World, cases: list[IndexCase], run: Callable[..., TraceResult]) -> TraceResult:
    with duckdb_engine() as eng:
        now = max(c.end_at for c in cases)
        return run(eng, world_lake(world), world.ledger(), cases, load_policy(), now=now)


@pytest.fixture(scope="module")
def both(world: World, cases: list[IndexCase]) -> tuple[TraceResult, TraceResult]:
    return _trace(world, cases, reference_trace.trace), _trace(world, cases, trace)


def same_contacts(new: list[ContactResult], ref: list[ContactResult]) -> None:
    """The same contacts in the same order, scores and minutes equal to float rounding."""
    assert len(new) == len(ref)
    for a, b in zip(new, ref, strict=True):
        assert (a.score, a.close_minutes) == pytest.approx((b.score, b.close_minutes), rel=1e-9, abs=1e-9)
        assert {**vars(a), "score": 0, "close_minutes": 0} == {**vars(b), "score": 0, "close_minutes": 0}
        assert list(a.contributions) == list(b.contributions)


def test_the_world_has_something_to_find(both: tuple[TraceResult, TraceResult]) -> None:
    ref, _ = both
    classes = {c.cls for c in ref.contacts}
    assert {"close", "companion"} <= classes, classes
    assert set(ref.evidence["source"]) >= {"cell", "venue_scan", "ledger"}


def test_contacts_are_identical(both: tuple[TraceResult, TraceResult]) -> None:
    ref, new = both
    same_contacts(new.contacts, ref.contacts)
    assert new.without_trajectory == ref.without_trajectory
    pd.testing.assert_frame_equal(
        new.ranking.reset_index(drop=True), ref.ranking.reset_index(drop=True), check_exact=False, rtol=1e-9
    )


def test_evidence_is_identical(both: tuple[TraceResult, TraceResult]) -> None:
    ref, new = both
    assert (new.evidence["hop"] == 2).any()  # secondary contacts' evidence too
    same_evidence(new.evidence, ref.evidence)


def same_evidence(new: pd.DataFrame, ref: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(sort_evidence(new), sort_evidence(ref), check_exact=False, rtol=1e-9)


def test_the_lake_has_derived_stays_and_without_them_the_answers_are_the_same(
    world: World, cases: list[IndexCase], both: tuple[TraceResult, TraceResult], tmp_path: Path
) -> None:
    # ``both`` traced with the lake's derived cell stays (built with the world's lake, as ingest does)
    assert stays.fresh(world_lake(world), load_policy().rules) is not None
    # a copy of the lake without them: the trace derives the stays from the pings itself
    lake = tmp_path / "lake"
    shutil.copytree(world_lake(world), lake, ignore=shutil.ignore_patterns(stays.DERIVED))
    assert stays.fresh(lake, load_policy().rules) is None
    ref, _ = both
    with duckdb_engine() as eng:
        new = trace(eng, lake, world.ledger(), cases, load_policy(), now=max(c.end_at for c in cases))
    same_contacts(new.contacts, ref.contacts)
    same_evidence(new.evidence, ref.evidence)
    assert new.without_trajectory == ref.without_trajectory


def test_stays_companions_and_baselines_are_identical(world: World, cases: list[IndexCase]) -> None:
    policy = load_policy()
    idx = index_table(cases, policy)
    lo = min(idx.column("start_s").to_pylist()) - policy.companion.lookback_days * 86400
    hi = max(idx.column("end_s").to_pylist()) + 3600
    got: list[dict[str, pd.DataFrame]] = []
    for module in (reference_pipeline, pipeline):
        with duckdb_engine() as eng:
            register_lake(eng, world_lake(world))
            eng.register_arrow("ledger", world.ledger())
            module.prepare(eng, policy, lo, hi)  # type: ignore[attr-defined]
            module.register_index(eng, idx)  # type: ignore[attr-defined]
            queries = {
                "stay_cell": module.named_stays("stay_cell"),  # type: ignore[attr-defined]
                "stay_grid": module.named_stays("stay_grid"),  # type: ignore[attr-defined]
                "companion": module.companion_sql(policy),  # type: ignore[attr-defined]
                "grid": module.baseline_sql("grid", policy),  # type: ignore[attr-defined]
                "tower": module.baseline_sql("tower", policy),  # type: ignore[attr-defined]
            }
            got.append({k: _sorted(eng.sql(q).to_pandas()) for k, q in queries.items()})
    for name in got[0]:
        assert len(got[0][name]) > 0, name
        pd.testing.assert_frame_equal(got[1][name], got[0][name], check_dtype=False, obj=name)


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(list(df.columns)).reset_index(drop=True)


def test_companion_pairs_without_hours_are_the_pairs_with_hours(world: World, cases: list[IndexCase]) -> None:
    """The trace's companion pairs (``hours=False``: a contact's hours summed only where the index
    person's own do not qualify the pair) are the rule's pairs."""
    policy = load_policy()
    idx = index_table(cases, policy)
    lo = min(idx.column("start_s").to_pylist()) - policy.companion.lookback_days * 86400
    hi = max(idx.column("end_s").to_pylist()) + 3600
    with duckdb_engine() as eng:
        register_lake(eng, world_lake(world))
        eng.register_arrow("ledger", world.ledger())
        pipeline.prepare(eng, policy, lo, hi)
        pipeline.register_index(eng, idx)
        cols = "case_key, hop, contact, minutes, start_s, end_s"
        full = eng.sql(f"SELECT {cols} FROM ({pipeline.companion_sql(policy, named=False)}) q").to_pandas()
        fast = eng.sql(
            f"SELECT {cols} FROM ({pipeline.companion_sql(policy, named=False, hours=False)}) q"
        ).to_pandas()
    assert len(full) > 0
    pd.testing.assert_frame_equal(_sorted(fast), _sorted(full))
