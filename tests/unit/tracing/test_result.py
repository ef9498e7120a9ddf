"""The trace's columnar result: its tables, the object view built from them, and consumers of columns."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from tests.unit.tracing.scenario import at, build_scenario
from zhikong.engine import duckdb_engine
from zhikong.tracing.graph import ContactGraph
from zhikong.tracing.policy import load_policy
from zhikong.tracing.result import CONTACT_SCHEMA, CONTRIBUTION_SCHEMA, EVIDENCE_TABLE_SCHEMA, NAME, Names
from zhikong.tracing.risk import round3
from zhikong.tracing.trace import IndexCase, TraceResult, sort_evidence, trace

CLASSES = ("close", "secondary", "companion")


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> TraceResult:
    lake = tmp_path_factory.mktemp("lake")
    led = build_scenario(lake)
    # two cases, so the order is by case, then score descending, then contact
    cases = [IndexCase("A", "idA", at(12, 0), at(13, 0)), IndexCase("C", "idC", at(12, 0), at(13, 0))]
    with duckdb_engine() as eng:
        return trace(eng, lake, led, cases, load_policy())


def test_the_tables_have_their_schemas(result: TraceResult) -> None:
    assert result.table.schema == CONTACT_SCHEMA
    assert result.contributions.schema == CONTRIBUTION_SCHEMA
    assert result.evidence_table.schema == EVIDENCE_TABLE_SCHEMA
    assert len(result) == result.table.num_rows > 7


def test_the_objects_are_the_columns(result: TraceResult) -> None:
    # built from the columns before anything else asks for the objects
    fresh = {cls: result.of_class(cls) for cls in CLASSES}
    top = result.top(4)
    t = result.table.to_pylist()
    contacts = result.contacts
    assert len(contacts) == len(t)
    for c, row in zip(contacts, t, strict=True):
        assert {k: getattr(c, k) for k in row} == row
    assert [(c.case_key, -c.score, c.contact) for c in contacts] == sorted(
        (c.case_key, -c.score, c.contact) for c in contacts
    )
    assert {c.case_key for c in contacts} == {"A", "C"}
    # contributions: the long table, in order, rounded as round3
    rows = result.contributions.to_pylist()
    assert [(r["n"], r["source"], r["score"]) for r in rows] == [
        (n, s, v) for n, c in enumerate(contacts) for s, v in c.contributions.items()
    ]
    assert [r["score"] for r in rows] == round3(result.contributions.column("score").to_numpy())
    assert any(c.contributions for c in contacts)
    for cls in CLASSES:
        assert fresh[cls] == [c for c in contacts if c.cls == cls] == result.of_class(cls)
    assert result.counts() == {cls: n for cls in CLASSES if (n := len(fresh[cls]))}
    assert top == sorted(contacts, key=lambda c: -c.score)[:4]
    assert result.pairs("secondary") == [(c.case_key, c.contact, c.via) for c in fresh["secondary"]]
    assert all(via for _, _, via in result.pairs("secondary"))
    assert result.columns("contact", "score", "via") == [
        [c.contact for c in contacts],
        [c.score for c in contacts],
        [c.via for c in contacts],
    ]


def test_the_evidence_frame_is_the_table_with_names(result: TraceResult) -> None:
    ev = result.evidence
    assert list(ev.columns) == EVIDENCE_TABLE_SCHEMA.names
    assert {type(v) for c in ("case_key", "contact") for v in ev[c]} == {str}
    assert {type(v) for v in ev["via"]} == {str, type(None)}
    plain = [pa.field(f.name, pa.string()) if f.name in ("case_key", "contact", "via") else f
             for f in EVIDENCE_TABLE_SCHEMA]
    decoded = result.evidence_table.cast(pa.schema(plain))
    want = decoded.to_pandas().to_dict("list") | {"via": decoded.column("via").to_pylist()}
    assert ev.to_dict("list") == want


def test_a_result_from_objects_has_the_same_columns(result: TraceResult) -> None:
    again = TraceResult.from_contacts(result.contacts, result.evidence, result.sources, [], result.ranking)
    assert again.table.to_pylist() == result.table.to_pylist()
    assert again.contributions.equals(result.contributions)
    assert again.evidence_table.schema == EVIDENCE_TABLE_SCHEMA
    assert sort_evidence(again.evidence).equals(sort_evidence(result.evidence))
    assert again.counts() == result.counts() and again.pairs("close") == result.pairs("close")


def test_the_graph_from_columns_is_the_graph_from_objects(result: TraceResult) -> None:
    key_of = {"A": "idA", "C": "idC"}
    objs = ContactGraph(key_of.values(), [replace(c, case_key=key_of[c.case_key]) for c in result.contacts])
    cols = ContactGraph.from_table(key_of.values(), result.table, key_of)
    assert cols.edges == objs.edges and cols.nodes == objs.nodes
    assert cols.to_json() == objs.to_json() and cols.to_graphml() == objs.to_graphml()


def test_an_empty_result(tmp_path: Path) -> None:
    led = build_scenario(tmp_path)
    with duckdb_engine() as eng:
        r = trace(eng, tmp_path, led, [IndexCase("N", "idNobody", at(12, 0), at(13, 0))], load_policy())
    assert len(r) == 0 and r.counts() == {} and r.of_class("close") == [] and r.top(3) == []
    assert r.contacts == [] and r.pairs("close") == [] and r.contributions.num_rows == 0
    assert list(r.evidence.columns) == EVIDENCE_TABLE_SCHEMA.names and r.evidence.empty


def test_names_by_numbers_with_gaps() -> None:
    # persons are numbered by their phones' derived numbers: distinct, not 1 … n
    names = Names.of(np.array([7, 2, 40]), pa.array(["g", "b", "z"]))
    numbers = pa.chunked_array([pa.array([40, None, 2]), pa.array([7, 7])])
    col = names.column(numbers)
    assert col.type == NAME
    assert col.cast(pa.string()).to_pylist() == ["z", None, "b", "g", "g"]
    assert col.to_pandas().tolist()[:1] == ["z"]  # a categorical: every name in the dictionary once
    assert names.strings(numbers).tolist() == ["z", None, "b", "g", "g"]
    assert names.dictionary.to_pylist() == ["b", "g", "z"]


@pytest.mark.parametrize("keys", [[1, 1, 2], [-1, 2, 3]])
def test_names_need_distinct_non_negative_numbers(keys: list[int]) -> None:
    with pytest.raises(ValueError, match="distinct non-negative"):
        Names.of(np.array(keys), pa.array(["a", "b", "c"]))
