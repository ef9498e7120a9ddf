"""The result of a trace as columns, with objects and pandas frames built only when asked for.

A full trace of 100 cases on a 100,000-person world classifies some 300,000 contacts with 1.65 M
evidence rows. Building a :class:`~zhikong.tracing.risk.ContactResult` (with a dict of
contributions) per contact and a pandas frame of named evidence cost about 1.7 s of
single-threaded Python per trace, more than most SQL statements; the consumers that store, count
or score contacts need columns. So a :class:`TraceResult` holds Arrow tables:

* ``table`` (:data:`CONTACT_SCHEMA`): one row per contact, by case, score descending, contact;
* ``contributions`` (:data:`CONTRIBUTION_SCHEMA`): each contact's sources with a positive score,
  as a long table: ``n`` (the contact's row in ``table``, from 0), ``source`` and ``score`` rounded
  to 3 decimals (:func:`~zhikong.tracing.risk.round3`), by ``n`` and then in the order of the
  source's first evidence row. A long table rather than a ``list<struct>`` column of ``table``: it
  filters, joins (on ``n``), converts to pandas and loads into an engine as it is, without a
  Python object per contact, which is what a nested column costs as soon as it leaves Arrow;
* ``evidence_table``: the evidence rows (``evidence`` as pandas, built on first use).

Name columns (``case_key``, ``contact``, ``via``) are dictionary-encoded: the engine works on case
and person numbers, and the names are the dictionary (every pseudonym, once), so naming 1.65 M
rows costs nothing until the names are read. ``pc.cast(col, pa.string())`` decodes one; pandas
gets categories. :attr:`TraceResult.contacts` (a list of ``ContactResult``) and
:attr:`TraceResult.evidence` (a pandas frame with string columns, as before) are built from the
columns on first use; :meth:`TraceResult.of_class` builds only its class's objects.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from zhikong.tracing.columns import EVIDENCE_SCHEMA
from zhikong.tracing.risk import ContactResult, round3_array, strings

NAME = pa.dictionary(pa.int64(), pa.string())

#: the columns of :attr:`TraceResult.table`
CONTACT_SCHEMA = pa.schema(
    [
        ("case_key", NAME),
        ("contact", NAME),
        ("cls", pa.string()),  # close, secondary or companion
        ("hop", pa.int64()),
        ("score", pa.float64()),
        ("close_minutes", pa.float64()),
        ("first_s", pa.int64()),
        ("last_s", pa.int64()),
        ("via", NAME),  # secondary contacts: the close contact they came through (else null)
    ]
)
#: the columns of :attr:`TraceResult.contributions`
CONTRIBUTION_SCHEMA = pa.schema([("n", pa.int64()), ("source", pa.string()), ("score", pa.float64())])
#: the columns of :attr:`TraceResult.evidence_table` (``evidence`` has them with string names)
EVIDENCE_TABLE_SCHEMA = pa.schema(
    [
        *(pa.field(f.name, NAME) if f.name in ("case_key", "contact") else f for f in EVIDENCE_SCHEMA),
        pa.field("score", pa.float64()),
        pa.field("via", NAME),
    ]
)
NAME_COLUMNS = ("case_key", "contact", "via")


@dataclass(frozen=True, eq=False)
class Names:
    """Names by the engine's numbers (cases 1 … n; persons by any distinct non-negative number, e.g.
    their cell phones' derived numbers): ``dictionary`` holds each name once, ``slot`` gives a
    number's place in it (−1 for a number with no name)."""

    dictionary: pa.Array
    slot: np.ndarray

    @classmethod
    def of(cls, keys: np.ndarray, names: pa.Array) -> Names:
        """The names ``names`` of the distinct numbers ``keys``, in number order."""
        order = np.argsort(keys, kind="stable")
        ranked = keys[order]
        if len(ranked) and (ranked[0] < 0 or bool((ranked[1:] == ranked[:-1]).any())):
            raise ValueError("names must have distinct non-negative numbers")
        slot = np.full(int(ranked[-1]) + 1 if len(ranked) else 1, -1, dtype=np.int64)
        slot[ranked] = np.arange(len(ranked))
        return cls(names.take(pa.array(order)) if len(order) else names, slot)

    def column(self, numbers: pa.ChunkedArray) -> pa.ChunkedArray:
        """``numbers`` (null for none) as a dictionary column on :attr:`dictionary`, without copying
        a name."""
        chunks = []
        for c in numbers.chunks:
            idx = self.slot[c.cast(pa.int64()).fill_null(0).to_numpy()]
            mask = c.is_null().to_numpy(zero_copy_only=False) if c.null_count else None
            indices = pa.array(idx, pa.int64(), mask=mask)
            chunks.append(pa.DictionaryArray.from_arrays(indices, self.dictionary))
        return pa.chunked_array(chunks, type=NAME)

    def strings(self, numbers: pa.ChunkedArray) -> np.ndarray:
        """The names of ``numbers`` (None for null) as a numpy object array."""
        return NameDecoder()(self.column(numbers))


def _plain(t: pa.DataType) -> pa.DataType:
    return pa.string() if pa.types.is_dictionary(t) else t


def encoded(t: pa.Table, schema: pa.Schema) -> pa.Table:
    """The columns of ``schema`` from ``t`` (names as strings or dictionaries), cast to its types."""
    cols = [
        pc.dictionary_encode(t.column(f.name).cast(pa.string())).cast(NAME)
        if pa.types.is_dictionary(f.type)
        else t.column(f.name).cast(f.type)
        for f in schema
    ]
    return pa.table(cols, schema=schema)


class NameDecoder:
    """Decodes name columns to numpy object arrays (None for null), each dictionary once."""

    def __init__(self) -> None:
        self._seen: list[tuple[pa.Array, np.ndarray]] = []

    def __call__(self, col: pa.ChunkedArray) -> np.ndarray:
        if not pa.types.is_dictionary(col.type):
            return strings(col)
        if col.num_chunks == 0:
            return np.empty(0, dtype=object)
        out = []
        for chunk in col.chunks:
            names = self._names(chunk.dictionary)
            out.append(names[chunk.indices.fill_null(-1).to_numpy()])
        return np.concatenate(out) if len(out) > 1 else out[0]

    def _names(self, d: pa.Array) -> np.ndarray:
        for seen, names in self._seen:
            if seen is d or seen.equals(d):
                return names
        names = np.array([*d.to_pylist(), None], dtype=object)
        self._seen.append((d, names))
        return names


@dataclass(eq=False)
class TraceResult:
    #: the contacts (:data:`CONTACT_SCHEMA`), by case, score descending, contact
    table: pa.Table
    #: per contact (``n``: row of ``table``) and source, the rounded score (:data:`CONTRIBUTION_SCHEMA`)
    contributions: pa.Table
    #: the evidence rows (every hop-1 row, and the secondary contacts' hop-2 rows) in no particular
    #: order (:data:`EVIDENCE_TABLE_SCHEMA`)
    evidence_table: pa.Table
    sources: dict[str, bool]
    without_trajectory: list[str] = field(default_factory=list)
    #: every hop-1 pair with evidence and its score (classified or not), for ranking curves
    ranking: pd.DataFrame = field(default_factory=pd.DataFrame)

    @classmethod
    def from_contacts(
        cls,
        contacts: Sequence[ContactResult],
        evidence: pd.DataFrame,
        sources: dict[str, bool],
        without_trajectory: list[str] | None = None,
        ranking: pd.DataFrame | None = None,
    ) -> TraceResult:
        """A result from contact objects (in order) and a pandas frame of evidence."""
        table = encoded(
            pa.table({f.name: pa.array([getattr(c, f.name) for c in contacts], _plain(f.type))
                      for f in CONTACT_SCHEMA}),
            CONTACT_SCHEMA,
        )
        rows = [(n, s, v) for n, c in enumerate(contacts) for s, v in c.contributions.items()]
        contrib = pa.table(
            [pa.array([r[i] for r in rows], t) for i, t in enumerate(CONTRIBUTION_SCHEMA.types)],
            schema=CONTRIBUTION_SCHEMA,
        )
        out = cls(
            table=table,
            contributions=contrib,
            evidence_table=encoded(
                pa.Table.from_pandas(evidence.assign(via=evidence.get("via")), preserve_index=False),
                EVIDENCE_TABLE_SCHEMA,
            ),
            sources=sources,
            without_trajectory=without_trajectory or [],
            ranking=ranking if ranking is not None else pd.DataFrame(),
        )
        out.__dict__["contacts"] = list(contacts)
        out.__dict__["evidence"] = evidence
        return out

    def __len__(self) -> int:
        """The number of contacts."""
        return self.table.num_rows

    @cached_property
    def contacts(self) -> list[ContactResult]:
        """The contacts as objects, in the order of ``table`` (built on first use)."""
        return contact_results(self.table, self.contributions)

    def rows_of(self, cls: str) -> np.ndarray:
        """The rows of ``table`` of class ``cls``, in order."""
        mask = pc.equal(self.table.column("cls"), cls).fill_null(False)
        return np.flatnonzero(mask.to_numpy(zero_copy_only=False))

    def of_class(self, cls: str) -> list[ContactResult]:
        rows = self.rows_of(cls)
        if "contacts" in self.__dict__:
            return [self.contacts[i] for i in rows.tolist()]
        return contact_results(self.table, self.contributions, rows)

    def top(self, k: int) -> list[ContactResult]:
        """The ``k`` contacts with the highest scores (ties in the order of ``table``), as
        ``sorted(contacts, key=lambda c: -c.score)[:k]``."""
        score = self.table.column("score").to_numpy()
        rows = np.sort(np.argsort(-score, kind="stable")[:k])
        objs = contact_results(self.table, self.contributions, rows)
        by_row = dict(zip(rows.tolist(), objs, strict=True))
        return [by_row[i] for i in np.argsort(-score, kind="stable")[:k].tolist()]

    def columns(self, *names: str) -> list[list[Any]]:
        """Columns of ``table`` as Python lists (names as ``str``, null as None)."""
        decode = NameDecoder()
        return [
            decode(self.table.column(c)).tolist()
            if c in (*NAME_COLUMNS, "cls")
            else self.table.column(c).to_numpy().tolist()
            for c in names
        ]

    def contribution_dicts(self) -> list[dict[str, float]]:
        """Each contact's contributions as a dict (source → rounded score, in order), by row."""
        return _contribution_dicts(self.contributions, self.table.num_rows)

    def counts(self) -> dict[str, int]:
        """Contacts per class (classes without contacts are left out)."""
        vc = pc.value_counts(self.table.column("cls"))
        return {str(v): int(n) for v, n in zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(),
                                                strict=True)}

    def pairs(self, cls: str) -> list[tuple[str, str, str | None]]:
        """(case, contact, via) of the contacts of class ``cls``, in order."""
        t = self.table.take(pa.array(self.rows_of(cls)))
        decode = NameDecoder()
        case, contact, via = (decode(t.column(c)).tolist() for c in ("case_key", "contact", "via"))
        return list(zip(case, contact, via, strict=True))

    @cached_property
    def evidence(self) -> pd.DataFrame:
        """``evidence_table`` as pandas, names as strings (built on first use; :func:`sort_evidence`
        sorts it)."""
        t = self.evidence_table
        names = NameDecoder()
        plain = t.drop_columns([c for c in NAME_COLUMNS if c in t.column_names])
        frame = plain.to_pandas()
        return pd.DataFrame(
            {c: names(t.column(c)) if c in NAME_COLUMNS else frame[c] for c in t.column_names}, copy=False
        )


def contact_results(
    table: pa.Table, contributions: pa.Table, rows: np.ndarray | None = None
) -> list[ContactResult]:
    """``ContactResult``s of ``table``'s ``rows`` (default all, in order; ``rows`` ascending) with
    their ``contributions`` (:data:`CONTRIBUTION_SCHEMA`, by ``n``)."""
    n = contributions.column("n").to_numpy()
    if rows is not None:
        keep = np.flatnonzero(np.isin(n, rows))
        contributions = contributions.take(pa.array(keep))
        n = np.searchsorted(rows, n[keep])
        table = table.take(pa.array(rows))
    names = NameDecoder()
    cols: dict[str, list[object]] = {
        f: (names(table.column(f)) if f in (*NAME_COLUMNS, "cls") else table.column(f).to_numpy()).tolist()
        for f in CONTACT_SCHEMA.names
    }
    fields = ("case_key", "contact", "cls", "hop", "score", "close_minutes", "first_s", "last_s")
    # hundreds of thousands of small objects: the cyclic collector has nothing to find among them
    enabled = gc.isenabled()
    gc.disable()
    try:
        contrib = _contribution_dicts(contributions, table.num_rows, n)
        return list(map(ContactResult, *(cols[f] for f in fields), contrib, cols["via"]))
    finally:
        if enabled:
            gc.enable()


def _contribution_dicts(
    contributions: pa.Table, rows: int, n: np.ndarray | None = None
) -> list[dict[str, float]]:
    """A dict of ``contributions`` (by ``n``, or by ``n`` given) for each of ``rows`` rows."""
    n = contributions.column("n").to_numpy() if n is None else n
    bounds = np.searchsorted(n, np.arange(rows + 1)).tolist()
    pairs = list(
        zip(
            strings(contributions.column("source")).tolist(),
            contributions.column("score").to_numpy().tolist(),
            strict=True,
        )
    )
    return [dict(pairs[a:b]) for a, b in pairwise(bounds)]


def rounded_contributions(contributions: pa.Table) -> pa.Table:
    """``contributions`` (``n``, ``source``, ``score``) with scores rounded to 3 decimals, typed as
    :data:`CONTRIBUTION_SCHEMA`."""
    score = contributions.column("score").cast(pa.float64()).to_numpy()
    return pa.table(
        {
            "n": contributions.column("n").cast(pa.int64()),
            "source": contributions.column("source").cast(pa.string()),
            "score": pa.array(round3_array(score), pa.float64()),
        },
        schema=CONTRIBUTION_SCHEMA,
    )
