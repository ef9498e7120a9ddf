"""Each exposure detector on a hand-made scenario, classification, secondary contacts, explanations."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tests.unit.tracing.scenario import at, build_scenario
from zhikong.core.errors import InvalidInput
from zhikong.engine import duckdb_engine
from zhikong.tracing.graph import ContactGraph
from zhikong.tracing.policy import load_policy
from zhikong.tracing.trace import IndexCase, TraceResult, sort_evidence, trace


def run(lake: Path, policy: str = "protocol-9", onset_day: int = 12) -> TraceResult:
    led = build_scenario(lake)
    case = IndexCase("A", "idA", at(onset_day, 0), at(13, 0))
    with duckdb_engine() as eng:
        return trace(eng, lake, led, [case], load_policy(policy))


@pytest.fixture
def result(tmp_path: Path) -> TraceResult:
    return run(tmp_path)


def test_classes(result: TraceResult) -> None:
    cls = {c.contact: c.cls for c in result.contacts}
    assert cls == {
        "idB": "close",
        "idC": "close",
        "idD": "close",  # 45 minutes at the market with the case: the built-in policies count markets
        "idE": "close",
        "idF": "close",
        "idG": "close",
        "idK": "secondary",
    }


def test_each_detector_keeps_its_evidence(result: TraceResult) -> None:
    ev = sort_evidence(result.evidence)
    row = {c: ev[ev["contact"] == c].iloc[0] for c in ev["contact"].unique()}
    assert (row["idB"]["source"], row["idB"]["distance"]) == ("ledger", "household")
    assert (row["idC"]["source"], row["idC"]["place"], row["idC"]["distance"]) == (
        "venue_scan",
        "V-REST",
        "near",
    )
    assert row["idC"]["minutes"] == pytest.approx(85.0)  # 12:05 .. 13:30 (A's 90-minute dwell)
    assert (row["idD"]["source"], row["idD"]["distance"]) == ("venue_scan", "near")
    assert (row["idE"]["source"], row["idE"]["distance"], row["idE"]["minutes"]) == (
        "proximity",
        "close",
        20.0,
    )
    assert (row["idF"]["source"], row["idF"]["minutes"]) == ("gps", 20.0)
    assert (row["idG"]["source"], row["idG"]["distance"], row["idG"]["minutes"]) == ("travel", "close", 240.0)
    assert "idH" not in row  # 7 rows away: not an exposure
    assert (row["idI"]["source"], row["idI"]["place"]) == ("camera", "CAM1")
    assert (row["idJ"]["source"], row["idJ"]["distance"]) == ("cell", "coarse")
    assert "idZ" not in row  # 1 March: before the infectious window
    assert row["idK"]["via"] == "idC" and row["idK"]["hop"] == 2


def test_score_is_explained_by_source_contributions(result: TraceResult) -> None:
    c = next(c for c in result.contacts if c.contact == "idC")
    assert set(c.contributions) == {"venue_scan"}
    assert c.score == pytest.approx(sum(c.contributions.values()), rel=1e-3)
    assert c.explain().startswith(f"score {c.score:.1f} = venue_scan")
    # the household ranks first: 480 assumed minutes at weight 1
    assert max(result.contacts, key=lambda x: x.score).contact == "idB"


def test_policy_edition_changes_the_window(tmp_path: Path) -> None:
    # onset on the 13th: protocol-9 opens the window on the 11th (missing the train on the 10th),
    # protocol-8 four days before, on the 9th
    p9 = {c.contact for c in run(tmp_path / "a", "protocol-9", onset_day=13).contacts}
    p8 = {c.contact for c in run(tmp_path / "b", "protocol-8", onset_day=13).contacts}
    assert "idG" not in p9 and "idG" in p8


def test_bad_input(tmp_path: Path) -> None:
    led = build_scenario(tmp_path / "lake")
    pol = load_policy()
    with duckdb_engine() as eng:
        with pytest.raises(InvalidInput, match="in the future"):
            trace(
                eng, tmp_path / "lake", led, [IndexCase("A", "idA", at(12, 0), at(13, 0))], pol, now=at(11, 0)
            )
        with pytest.raises(InvalidInput, match="no cases"):
            trace(eng, tmp_path / "lake", led, [], pol)
        with pytest.raises(InvalidInput, match="no trajectory data in any source"):
            trace(eng, tmp_path / "empty", led, [IndexCase("A", "idA", at(12, 0), at(13, 0))], pol)
        r = trace(eng, tmp_path / "lake", led, [IndexCase("N", "idNobody", at(12, 0), at(13, 0))], pol)
        assert r.without_trajectory == ["N"] and r.contacts == []


def test_graph_exports_and_chains(result: TraceResult) -> None:
    g = ContactGraph(["idA", "idC"], [replace(c, case_key="idA") for c in result.contacts])
    assert ["idA", "idC"] in g.chains()
    assert '"role": "secondary"' in g.to_json()
    xml = g.to_graphml()
    assert xml.count("<edge ") == len(result.contacts) and 'source="idC" target="idK"' in xml
