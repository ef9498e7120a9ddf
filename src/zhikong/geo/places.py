"""Key places (重点场所): CSV import with row-level validation, and demo places for Banan.

CSV columns (header required, any order, extra columns ignored)::

    code,name,kind,village_code,lat,lon,address

``kind`` is a ``PlaceKind`` value (``market``…) or its Chinese name (``农贸市场``…). Files may be UTF-8
(with or without BOM) or GBK/GB18030; the encoding is detected. Row numbers count the header as
row 1, as a spreadsheet does. A bad row is reported (file, row, field, reason) and skipped; good
rows land; importing the same file again changes nothing.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhikong.core.errors import InvalidInput, RowError
from zhikong.geo import service
from zhikong.geo.generate import sample_points_in
from zhikong.geo.geometry import points_in_polygon
from zhikong.geo.loader import DistrictDef, UnitDef
from zhikong.geo.models import AdminUnit, Place, PlaceKind, UnitLevel

__all__ = [
    "KIND_NAMES_ZH",
    "PLACE_COLUMNS",
    "PlaceImportResult",
    "PlaceRow",
    "demo_places",
    "import_places",
    "import_places_file",
    "parse_places_csv",
    "read_text_autodetect",
    "write_places_csv",
]

PLACE_COLUMNS = ("code", "name", "kind", "village_code", "lat", "lon", "address")
KIND_NAMES_ZH: dict[PlaceKind, str] = {
    PlaceKind.MARKET: "农贸市场",
    PlaceKind.SUPERMARKET: "超市",
    PlaceKind.SQUARE: "广场",
    PlaceKind.CHECKPOINT: "交通卡口",
    PlaceKind.SCHOOL: "学校",
    PlaceKind.HOSPITAL: "医院",
    PlaceKind.ISOLATION_POINT: "集中隔离医学观察点",
    PlaceKind.STATION: "车站",
    PlaceKind.ADMIN_CENTRE: "行政中心",
    PlaceKind.ENTERPRISE: "企业",
    PlaceKind.OTHER: "其他",
}
_KIND_LOOKUP: dict[str, PlaceKind] = {
    **{k.value: k for k in PlaceKind},
    **{v: k for k, v in KIND_NAMES_ZH.items()},
    "市场": PlaceKind.MARKET,
    "卡口": PlaceKind.CHECKPOINT,
    "隔离点": PlaceKind.ISOLATION_POINT,
}


@dataclass(frozen=True)
class PlaceRow:
    code: str
    name: str
    kind: PlaceKind
    village_code: str
    lat: float
    lon: float
    address: str | None = None


@dataclass
class PlaceImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    file: str | None = None


def read_text_autodetect(path: str | Path) -> str:
    """The text of a CSV file in UTF-8 (BOM or not) or GBK/GB18030, whichever decodes."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError as e:
        raise InvalidInput(f"file {p} does not exist", field="file") from e
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    raise InvalidInput(f"file {p}: neither UTF-8 nor GBK/GB18030 text", field="file")


def parse_places_csv(text: str, file: str | None = None) -> tuple[list[tuple[int, PlaceRow]], list[RowError]]:
    """Parse CSV text into valid rows (with their row numbers) and row errors (no database needed)."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in PLACE_COLUMNS if c not in header and c != "address"]
    if missing:
        raise InvalidInput(f"file {file or 'input'}: missing column(s) {', '.join(missing)} "
                           f"(need {','.join(PLACE_COLUMNS)})", field="header")
    reader.fieldnames = header
    rows: list[tuple[int, PlaceRow]] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for n, rec in enumerate(reader, start=2):
        def err(fld: str, reason: str, value: str | None, n: int = n) -> None:
            errors.append(RowError(row=n, field=fld, reason=reason, value=value, file=file))

        vals = {k: (rec.get(k) or "").strip() for k in PLACE_COLUMNS}
        before = len(errors)
        code = vals["code"]
        if not code:
            err("code", "missing", None)
        elif len(code) > 32:
            err("code", "longer than 32 characters", code)
        elif code in seen:
            err("code", f"duplicate code in this file (first on row {seen[code]})", code)
        if not vals["name"]:
            err("name", "missing", None)
        elif len(vals["name"]) > 128:
            err("name", "longer than 128 characters", vals["name"])
        kind = _KIND_LOOKUP.get(vals["kind"].lower() if vals["kind"].isascii() else vals["kind"])
        if kind is None:
            err("kind", f"unknown kind (one of {', '.join(k.value for k in PlaceKind)})", vals["kind"])
        vcode = vals["village_code"]
        if not (vcode.isascii() and vcode.isdigit() and len(vcode) in (6, 9, 12)):
            err("village_code", "must be a 12-digit village code (or 9/6-digit town/district code)", vcode)
        coords: dict[str, float] = {}
        for fld, lim in (("lat", 90.0), ("lon", 180.0)):
            try:
                v = float(vals[fld])
            except ValueError:
                err(fld, "not a number", vals[fld])
                continue
            if not math.isfinite(v) or abs(v) > lim:
                err(fld, f"out of range (±{lim:g} degrees)", vals[fld])
                continue
            coords[fld] = v
        if len(vals["address"]) > 255:
            err("address", "longer than 255 characters", vals["address"][:40])
        if code and code not in seen:
            seen[code] = n
        if len(errors) == before and kind is not None:
            rows.append((n, PlaceRow(code, vals["name"], kind, vcode, coords["lat"], coords["lon"],
                                     vals["address"] or None)))
    return rows, errors


def import_places(session: Session, rows: Sequence[tuple[int, PlaceRow]] | Iterable[PlaceRow],
                  file: str | None = None) -> PlaceImportResult:
    """Insert or update places by code; rows whose unit is unknown or whose position lies outside
    the loaded district are reported and skipped. The caller commits."""
    numbered: list[tuple[int, PlaceRow]] = []
    for i, r in enumerate(rows, start=2):
        numbered.append(r if isinstance(r, tuple) else (i, r))
    result = PlaceImportResult(file=file)
    codes = {r.village_code for _, r in numbered}
    units = {u.code: u for u in session.scalars(select(AdminUnit).where(AdminUnit.code.in_(codes)))}
    located = service.locate_many(session, [r.lat for _, r in numbered], [r.lon for _, r in numbered])
    existing = {p.code: p for p in session.scalars(
        select(Place).where(Place.code.in_([r.code for _, r in numbered])))}
    for (n, r), where in zip(numbered, located, strict=True):
        unit = units.get(r.village_code)
        if unit is None:
            result.errors.append(RowError(n, "village_code", "unknown administrative unit (load the district "
                                          "first: zhikong geo load)", r.village_code, file))
            continue
        if where is None:
            result.errors.append(RowError(n, "lat/lon", "position lies outside the loaded district",
                                          f"{r.lat},{r.lon}", file))
            continue
        values = {"name": r.name, "kind": r.kind, "unit_id": unit.id, "lat": r.lat, "lon": r.lon,
                  "address": r.address}
        row = existing.get(r.code)
        if row is None:
            row = Place(code=r.code, **values)
            session.add(row)
            existing[r.code] = row
            result.created += 1
        else:
            changed = {k: v for k, v in values.items() if getattr(row, k) != v}
            for k, v in changed.items():
                setattr(row, k, v)
            if changed:
                result.updated += 1
            else:
                result.unchanged += 1
    session.flush()
    return result


def import_places_file(session: Session, path: str | Path) -> PlaceImportResult:
    """Read, validate and import a places CSV; bad rows are in ``result.errors``."""
    p = Path(path)
    rows, errors = parse_places_csv(read_text_autodetect(p), file=p.name)
    result = import_places(session, rows, file=p.name)
    result.errors = sorted(errors + result.errors, key=lambda e: e.row)
    return result


def write_places_csv(rows: Iterable[PlaceRow], path: str | Path) -> Path:
    """Write places in the import format (UTF-8)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(PLACE_COLUMNS)
        for r in rows:
            w.writerow([r.code, r.name, r.kind.value, r.village_code, f"{r.lat:.6f}", f"{r.lon:.6f}",
                        r.address or ""])
    return p


# ---- demo places ------------------------------------------------------------------------------------

_PREFIX = {
    PlaceKind.MARKET: "MKT", PlaceKind.SUPERMARKET: "SUP", PlaceKind.SQUARE: "SQR",
    PlaceKind.CHECKPOINT: "CHK", PlaceKind.SCHOOL: "SCH", PlaceKind.HOSPITAL: "HSP",
    PlaceKind.ISOLATION_POINT: "ISO", PlaceKind.STATION: "STA", PlaceKind.ADMIN_CENTRE: "ADM",
}
#: per town/street: (kind, count in a street, count in a town, name pattern)
_PER_TOWN = [
    (PlaceKind.MARKET, 2, 1, "{t}{v}农贸市场"),
    (PlaceKind.SUPERMARKET, 3, 1, "{t}{v}生活超市"),
    (PlaceKind.SQUARE, 2, 1, "{t}{v}广场"),
    (PlaceKind.SCHOOL, 3, 2, "{t}{v}小学"),
    (PlaceKind.HOSPITAL, 1, 1, "{t}卫生院"),
]


def _short(name: str) -> str:
    for suffix in ("街道", "社区", "镇", "村"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def demo_places(defn: DistrictDef, seed: int = 20200301) -> list[PlaceRow]:
    """Generated key places for a district definition (all names generated; see docs/geo.md).

    Per street: 2 markets, 3 supermarkets, 2 squares, 3 schools, a health centre; per town one of
    each (two schools); 12 traffic checkpoints in villages on the district's edge; 15 centralised
    isolation points; the district hospital and the administrative centre in the first street.
    """
    rng = np.random.default_rng(seed)
    out: list[PlaceRow] = []
    counters: dict[tuple[PlaceKind, str], int] = {}
    dname = defn.root.name

    def add(kind: PlaceKind, name: str, town: UnitDef, village: UnitDef, centre: bool = False) -> None:
        key = (kind, village.code)
        counters[key] = counters.get(key, 0) + 1
        if centre or not village.boundary:
            lat = float(village.lat or 0.0) + float(rng.normal(0, 0.0008))
            lon = float(village.lon or 0.0) + float(rng.normal(0, 0.0008))
            if village.boundary and not points_in_polygon(  # keep it inside the village
                    np.array([lon]), np.array([lat]), village.boundary)[0]:
                lat, lon = float(village.lat or 0.0), float(village.lon or 0.0)
        else:
            lon, lat = (float(v) for v in sample_points_in(village.boundary, 1, rng)[0])
        out.append(PlaceRow(
            code=f"{_PREFIX[kind]}-{village.code}-{counters[key]}", name=name, kind=kind,
            village_code=village.code, lat=round(lat, 6), lon=round(lon, 6),
            address=f"{dname}{town.name}{village.name}",
        ))

    towns = [t for t in defn.root.children if t.children]
    for town in towns:
        street = town.kind.value == "street"
        urban = [v for v in town.children if v.urban] or town.children
        for kind, n_street, n_town, pattern in _PER_TOWN:
            for _ in range(n_street if street else n_town):
                pool = urban if kind != PlaceKind.SCHOOL or street else town.children
                v = pool[int(rng.integers(len(pool)))]
                name = pattern.format(t=_short(town.name), v=_short(v.name))
                if kind == PlaceKind.HOSPITAL:
                    name = f"{_short(town.name)}{'社区卫生服务中心' if street else '镇卫生院'}"
                add(kind, name, town, v, centre=kind in (PlaceKind.MARKET, PlaceKind.SQUARE))
    if not towns:
        return out
    first = towns[0]
    flat, flon = first.lat or 0.0, first.lon or 0.0
    seat = min(first.children, key=lambda v: ((v.lat or 0.0) - flat) ** 2 + ((v.lon or 0.0) - flon) ** 2)
    add(PlaceKind.ADMIN_CENTRE, f"{dname}行政中心", first, seat, centre=True)
    add(PlaceKind.HOSPITAL, f"{dname}人民医院", first, first.children[min(1, len(first.children) - 1)])
    if len(towns) > 1:
        t2 = towns[1]
        add(PlaceKind.HOSPITAL, f"{dname}中医院", t2, t2.children[0])
        add(PlaceKind.STATION, f"{_short(t2.name)}轨道交通站", t2, t2.children[0], centre=True)
        add(PlaceKind.STATION, f"{dname}汽车客运站", t2, t2.children[-1])
    # checkpoints: the villages farthest from the district's centre, spread over different towns
    villages = [(t, v) for t in towns for v in t.children]
    clat, clon = defn.root.lat or 0.0, defn.root.lon or 0.0
    by_far = sorted(villages, key=lambda tv: -((tv[1].lat or 0) - clat) ** 2 - ((tv[1].lon or 0) - clon) ** 2)
    used_towns: set[str] = set()
    for t, v in by_far:
        if len(used_towns) >= 12:
            break
        if t.code in used_towns:
            continue
        used_towns.add(t.code)
        add(PlaceKind.CHECKPOINT, f"{_short(t.name)}{_short(v.name)}交通卡口", t, v)
    # 15 isolation points, mostly in rural towns
    rural = [tv for tv in villages if not tv[1].urban] or villages
    picks = rng.choice(len(rural), size=min(15, len(rural)), replace=False)
    for k, i in enumerate(sorted(picks.tolist()), start=1):
        t, v = rural[i]
        name = f"{dname}第{k}集中隔离医学观察点（{_short(t.name)}{_short(v.name)}）"
        add(PlaceKind.ISOLATION_POINT, name, t, v)
    return out


def counts_by_kind(session: Session) -> dict[str, int]:
    """Stored places per kind."""
    out: dict[str, int] = {}
    for kind in session.scalars(select(Place.kind)):
        out[kind.value] = out.get(kind.value, 0) + 1
    return out


def units_per_level(session: Session) -> dict[str, int]:
    out: dict[str, int] = {lvl.value: 0 for lvl in UnitLevel}
    for lvl in session.scalars(select(AdminUnit.level)):
        out[lvl.value] += 1
    return out
