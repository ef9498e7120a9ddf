"""District definition files (YAML or GeoJSON) → a validated ``DistrictDef`` tree.

The formats are documented in ``docs/geo.md``. In short:

* **YAML**: the district at the top (``code``, ``name``, ``lat``, ``lon``, ``boundary``) with its
  towns/streets under ``units``, each with its villages/communities under ``units``. A town may say
  ``generate: {communities: N, villages: M}`` to have the generator make up its villages (names
  marked ``generated``) and boundaries may be left out to be derived as Voronoi cells.
* **GeoJSON**: a ``FeatureCollection``, one feature per unit; ``properties.code`` is required, the
  level and the parent follow from the code (6, 9, 12 digits) unless ``level``/``parent`` are given.

Every problem is reported with the unit's code and the field: ``unit 500113001: boundary: polygon
ring not closed …``. All problems of a file are collected into one ``InvalidInput``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from zhikong.core.errors import InvalidInput
from zhikong.geo.geometry import Poly, geojson_to_polygons
from zhikong.geo.models import UnitKind, UnitLevel

__all__ = [
    "BUILTIN_DIR",
    "CODE_LENGTHS",
    "DistrictDef",
    "GenerateSpec",
    "UnitDef",
    "builtin_path",
    "parse_definition",
    "read_definition",
    "validate_definition",
]

BUILTIN_DIR = Path(__file__).resolve().parent / "districts"
#: code length of each level (GB/T 2260 district + 3-digit town + 3-digit village)
CODE_LENGTHS = {UnitLevel.DISTRICT: 6, UnitLevel.TOWN: 9, UnitLevel.VILLAGE: 12}
_LEVEL_BY_LENGTH = {v: k for k, v in CODE_LENGTHS.items()}
_KINDS = {
    UnitLevel.DISTRICT: {UnitKind.DISTRICT},
    UnitLevel.TOWN: {UnitKind.STREET, UnitKind.TOWN},
    UnitLevel.VILLAGE: {UnitKind.COMMUNITY, UnitKind.VILLAGE},
}
_CHILD_LEVEL = {UnitLevel.DISTRICT: UnitLevel.TOWN, UnitLevel.TOWN: UnitLevel.VILLAGE}
_URBAN_KINDS = {UnitKind.DISTRICT, UnitKind.STREET, UnitKind.COMMUNITY}


@dataclass
class GenerateSpec:
    """Ask the generator for ``communities`` 社区 and ``villages`` 村 under a town."""

    communities: int = 0
    villages: int = 0


@dataclass
class UnitDef:
    code: str
    name: str
    level: UnitLevel
    kind: UnitKind
    lat: float | None = None
    lon: float | None = None
    #: lon/lat polygons, or None when not given (the generator may derive them)
    boundary: list[Poly] | None = None
    generated: bool = False
    urban: bool = False
    #: the position is approximate (hand-placed), not surveyed
    approximate: bool = False
    generate: GenerateSpec | None = None
    children: list[UnitDef] = field(default_factory=list)

    def walk(self) -> Iterator[UnitDef]:
        """This unit and all its descendants, parents before children."""
        yield self
        for c in self.children:
            yield from c.walk()


@dataclass
class DistrictDef:
    root: UnitDef
    source: str = "<memory>"
    #: seed for generated villages and boundaries (the same seed gives the same district)
    seed: int = 0

    def units(self) -> Iterator[UnitDef]:
        return self.root.walk()

    def by_code(self) -> dict[str, UnitDef]:
        return {u.code: u for u in self.units()}


class _Problems:
    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[tuple[str, str, str]] = []

    def add(self, code: str, fld: str, reason: str) -> None:
        self.items.append((code, fld, reason))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        lines = [f"unit {c}: {f}: {r}" for c, f, r in self.items]
        head = "; ".join(lines[:8]) + (f" (+{len(lines) - 8} more)" if len(lines) > 8 else "")
        raise InvalidInput(f"district file {self.source}: {len(lines)} problem(s): {head}",
                           field=f"{self.items[0][0]}.{self.items[0][1]}")


def builtin_path(code: str) -> Path:
    return BUILTIN_DIR / f"{code}.yaml"


def read_definition(path: str | Path) -> DistrictDef:
    """Read, parse, complete (generate villages/boundaries where asked) and validate a file."""
    from zhikong.geo.generate import complete_definition

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError as e:
        raise InvalidInput(f"district file {p} does not exist", field="file") from e
    except UnicodeDecodeError as e:
        raise InvalidInput(f"district file {p} is not UTF-8 text: {e}", field="file") from e
    if p.suffix.lower() in (".geojson", ".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise InvalidInput(f"district file {p}: not valid JSON: {e}", field="file") from e
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise InvalidInput(f"district file {p}: not valid YAML: {e}", field="file") from e
    defn = parse_definition(data, source=p.name)
    complete_definition(defn)
    validate_definition(defn)
    return defn


def parse_definition(data: Any, source: str = "<memory>") -> DistrictDef:
    """Parse a loaded YAML mapping or GeoJSON FeatureCollection (structure only)."""
    if isinstance(data, dict) and data.get("type") == "FeatureCollection":
        return _parse_geojson(data, source)
    if not isinstance(data, dict):
        raise InvalidInput(f"district file {source}: expected a mapping at the top", field="file")
    problems = _Problems(source)
    root = _parse_yaml_unit(data, None, problems, "district")
    problems.raise_if_any()
    assert root is not None
    seed = data.get("seed", 0)
    return DistrictDef(root=root, source=source, seed=int(seed) if isinstance(seed, int) else 0)


# ---- field parsing --------------------------------------------------------------------------------


def _code_of(raw: Any) -> str:
    if isinstance(raw, bool) or raw is None:
        return ""
    return str(raw).strip()


def _float(raw: Any, code: str, fld: str, problems: _Problems) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, bool):
        problems.add(code, fld, f"must be a number, got {raw!r}")
        return None
    try:
        return float(raw)
    except (TypeError, ValueError):
        problems.add(code, fld, f"must be a number, got {raw!r}")
        return None


def _boundary(raw: Any, code: str, problems: _Problems) -> list[Poly] | None:
    if raw is None:
        return None
    if isinstance(raw, list):  # a bare ring of [lon, lat]
        raw = {"type": "Polygon", "coordinates": [raw]}
    try:
        return geojson_to_polygons(raw)
    except ValueError as e:
        problems.add(code, "boundary", str(e))
        return None


def _common(props: dict[str, Any], code: str, level: UnitLevel | None, problems: _Problems) -> UnitDef | None:
    name = props.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.add(code, "name", "missing or empty")
        name = ""
    elif len(name.strip()) > 64:
        problems.add(code, "name", "longer than 64 characters")
    if level is None:
        level = _LEVEL_BY_LENGTH.get(len(code))
        raw_level = props.get("level")
        if raw_level is not None:
            try:
                level = UnitLevel(raw_level)
            except ValueError:
                problems.add(code, "level", f"unknown level {raw_level!r} (district, town, village)")
                return None
        if level is None:
            problems.add(code, "code", "must have 6, 9 or 12 digits (district, town, village)")
            return None
    raw_kind = props.get("kind")
    if raw_kind is None:
        kind = next(iter(_KINDS[level])) if level == UnitLevel.DISTRICT else None
        if kind is None:
            allowed = ", ".join(sorted(k.value for k in _KINDS[level]))
            problems.add(code, "kind", f"missing (one of {allowed})")
            return None
    else:
        try:
            kind = UnitKind(raw_kind)
        except ValueError:
            problems.add(code, "kind", f"unknown kind {raw_kind!r}")
            return None
    urban = props.get("urban")
    gen = props.get("generated", False)
    return UnitDef(
        code=code,
        name=name.strip(),
        level=level,
        kind=kind,
        lat=_float(props.get("lat"), code, "lat", problems),
        lon=_float(props.get("lon"), code, "lon", problems),
        boundary=_boundary(props.get("boundary"), code, problems),
        generated=bool(gen),
        urban=bool(urban) if urban is not None else kind in _URBAN_KINDS,
        approximate=bool(props.get("approximate", False)),
    )


def _parse_yaml_unit(data: Any, parent: UnitDef | None, problems: _Problems, where: str) -> UnitDef | None:
    if not isinstance(data, dict):
        problems.add(where, "units", f"each unit must be a mapping, got {type(data).__name__}")
        return None
    code = _code_of(data.get("code"))
    if not code:
        problems.add(where, "code", "missing")
        return None
    level = UnitLevel.DISTRICT if parent is None else _CHILD_LEVEL.get(parent.level)
    if level is None:
        problems.add(code, "level", "units nest only three levels deep (district, town, village)")
        return None
    unit = _common(data, code, level, problems)
    if unit is None:
        return None
    gen = data.get("generate")
    if gen is not None:
        if level != UnitLevel.TOWN or not isinstance(gen, dict):
            problems.add(code, "generate", "only a town/street may ask to generate its villages, "
                                           "as a mapping")
        else:
            counts = {}
            for key in ("communities", "villages"):
                v = gen.get(key, 0)
                if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 999:
                    problems.add(code, f"generate.{key}", f"must be a whole number 0-999, got {v!r}")
                    v = 0
                counts[key] = v
            unit.generate = GenerateSpec(**counts)
    raw_children = data.get("units", [])
    if not isinstance(raw_children, list):
        problems.add(code, "units", "must be a list")
        raw_children = []
    for i, child in enumerate(raw_children):
        c = _parse_yaml_unit(child, unit, problems, f"{code}.units[{i}]")
        if c is not None:
            unit.children.append(c)
    return unit


def _parse_geojson(data: dict[str, Any], source: str) -> DistrictDef:
    problems = _Problems(source)
    features = data.get("features")
    if not isinstance(features, list) or not features:
        raise InvalidInput(f"district file {source}: FeatureCollection has no features", field="features")
    units: dict[str, UnitDef] = {}
    parents: dict[str, str] = {}
    for i, feat in enumerate(features):
        props = feat.get("properties") if isinstance(feat, dict) else None
        if not isinstance(props, dict):
            problems.add(f"features[{i}]", "properties", "missing")
            continue
        code = _code_of(props.get("code"))
        if not code:
            problems.add(f"features[{i}]", "code", "missing")
            continue
        if code in units:
            problems.add(code, "code", "duplicate code")
            continue
        merged = dict(props)
        merged["boundary"] = feat.get("geometry")
        unit = _common(merged, code, None, problems)
        if unit is None:
            continue
        units[code] = unit
        parent = _code_of(props.get("parent"))
        if not parent and unit.level != UnitLevel.DISTRICT:
            parent = code[: CODE_LENGTHS[unit.level] - 3]
        if parent:
            parents[code] = parent
    roots = [u for u in units.values() if u.level == UnitLevel.DISTRICT]
    if len(roots) != 1:
        problems.add("-", "level", f"exactly one district feature is needed, found {len(roots)}")
    for code, parent in parents.items():
        if parent not in units:
            problems.add(code, "parent", f"unknown parent {parent}")
        else:
            units[parent].children.append(units[code])
    problems.raise_if_any()
    seed = data.get("seed", 0)
    return DistrictDef(root=roots[0], source=source, seed=int(seed) if isinstance(seed, int) else 0)


# ---- validation -----------------------------------------------------------------------------------


def validate_definition(defn: DistrictDef) -> None:
    """Check the whole tree; raise one ``InvalidInput`` listing every problem by unit and field."""
    problems = _Problems(defn.source)
    seen: set[str] = set()

    def check(unit: UnitDef, parent: UnitDef | None) -> None:
        code = unit.code
        if code in seen:
            problems.add(code, "code", "duplicate code")
        seen.add(code)
        expected_level = UnitLevel.DISTRICT if parent is None else _CHILD_LEVEL.get(parent.level)
        if expected_level is None:
            problems.add(code, "level", "units nest only three levels deep (district, town, village)")
            return
        if unit.level != expected_level:
            problems.add(code, "level", f"is {unit.level.value} but must be {expected_level.value} here")
        want = CODE_LENGTHS[expected_level]
        if not code.isascii() or not code.isdigit() or len(code) != want:
            problems.add(code, "code", f"must be {want} digits for a {expected_level.value}")
        if parent is not None and not code.startswith(parent.code):
            problems.add(code, "code", f"not nested under its parent's code {parent.code}")
        if unit.kind not in _KINDS[expected_level]:
            allowed = ", ".join(sorted(k.value for k in _KINDS[expected_level]))
            problems.add(code, "kind", f"{unit.kind.value} is not allowed for a {expected_level.value} "
                                       f"({allowed})")
        if unit.lat is None or unit.lon is None:
            problems.add(code, "lat/lon", "position missing (give lat and lon, or a boundary)")
        else:
            if not -90 <= unit.lat <= 90:
                problems.add(code, "lat", f"out of range: {unit.lat}")
            if not -180 <= unit.lon <= 180:
                problems.add(code, "lon", f"out of range: {unit.lon}")
        for c in unit.children:
            check(c, unit)

    check(defn.root, None)
    problems.raise_if_any()
