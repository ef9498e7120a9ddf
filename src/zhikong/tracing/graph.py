"""The contact graph: cases, contacts and the chains between them, exportable as JSON or GraphML.

Nodes are people (by person key) with their role (``case`` or the contact class); edges run from a
case to its contact (or from a close contact to a secondary contact). A contact who is also a case
links two cases into a transmission chain; :func:`chains` lists them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from xml.sax.saxutils import escape

import pyarrow as pa

from zhikong.tracing.risk import ContactResult, strings

_RANK = {"case": 0, "close": 1, "secondary": 2, "companion": 3}


class ContactGraph:
    def __init__(self, cases: Iterable[str], contacts: Iterable[ContactResult]) -> None:
        self.cases = set(cases)
        self.nodes: dict[str, str] = {c: "case" for c in self.cases}
        self.edges: list[tuple[str, str, dict[str, object]]] = []
        for c in contacts:
            self._add(c.case_key, c.contact, c.cls, c.score, c.via)

    @classmethod
    def from_table(cls, cases: Iterable[str], table: pa.Table, key_of: Mapping[str, str]) -> ContactGraph:
        """The graph of a trace's contact ``table`` (``TraceResult.table``), with its case keys
        renamed by ``key_of`` (e.g. case IDs to person keys)."""
        out = cls(cases, [])
        names = ("case_key", "contact", "cls", "via")
        decode = {c: strings(table.column(c).cast(pa.string())).tolist() for c in names}
        score = table.column("score").to_numpy().tolist()
        for case_key, contact, c, s, via in zip(
            decode["case_key"], decode["contact"], decode["cls"], score, decode["via"], strict=True
        ):
            out._add(key_of[case_key], contact, c, s, via)
        return out

    def _add(self, case_key: str, contact: str, cls: str, score: float, via: str | None) -> None:
        src = via if cls == "secondary" and via else case_key
        self.edges.append((src, contact, {"cls": cls, "score": round(score, 3), "case": case_key}))
        old = self.nodes.get(contact)
        if old is None or _RANK[cls] < _RANK[old]:
            self.nodes[contact] = cls
        self.nodes.setdefault(src, "close")

    def successors(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = defaultdict(list)
        for a, b, _ in self.edges:
            out[a].append(b)
        return out

    def chains(self) -> list[list[str]]:
        """Maximal case → case paths through close contacts who are themselves cases."""
        nxt: dict[str, set[str]] = defaultdict(set)
        for a, b, attrs in self.edges:
            if a in self.cases and b in self.cases and attrs["cls"] == "close":
                nxt[a].add(b)
        # orient each chain by onset order is not known here: treat the graph as given
        has_parent = {b for bs in nxt.values() for b in bs}
        out: list[list[str]] = []

        def walk(path: list[str]) -> None:
            ends = [b for b in sorted(nxt.get(path[-1], ())) if b not in path]
            if not ends:
                if len(path) > 1:
                    out.append(path)
                return
            for b in ends:
                walk([*path, b])

        for root in sorted(a for a in nxt if a not in has_parent) or sorted(nxt):
            walk([root])
        return out

    def to_json(self, labels: dict[str, str] | None = None) -> str:
        labels = labels or {}
        return json.dumps(
            {
                "nodes": [
                    {"id": n, "label": labels.get(n, n[:8]), "role": r} for n, r in sorted(self.nodes.items())
                ],
                "edges": [{"source": a, "target": b, **attrs} for a, b, attrs in self.edges],
                "chains": self.chains(),
            },
            ensure_ascii=False,
            indent=1,
        )

    def to_graphml(self, labels: dict[str, str] | None = None) -> str:
        labels = labels or {}
        lines = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<graphml xmlns="http://graphml.graphdrawing.org/xmlns">',
            '  <key id="role" for="node" attr.name="role" attr.type="string"/>',
            '  <key id="label" for="node" attr.name="label" attr.type="string"/>',
            '  <key id="cls" for="edge" attr.name="cls" attr.type="string"/>',
            '  <key id="score" for="edge" attr.name="score" attr.type="double"/>',
            '  <graph id="contacts" edgedefault="directed">',
        ]
        for n, r in sorted(self.nodes.items()):
            lines.append(
                f'    <node id="{escape(n)}"><data key="role">{r}</data>'
                f'<data key="label">{escape(labels.get(n, n[:8]))}</data></node>'
            )
        for i, (a, b, attrs) in enumerate(self.edges):
            lines.append(
                f'    <edge id="e{i}" source="{escape(a)}" target="{escape(b)}">'
                f'<data key="cls">{attrs["cls"]}</data><data key="score">{attrs["score"]}</data></edge>'
            )
        lines += ["  </graph>", "</graphml>"]
        return "\n".join(lines) + "\n"
