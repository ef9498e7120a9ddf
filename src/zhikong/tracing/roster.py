"""Class rosters (学校班级花名册) from the education bureau, for the class detector.

A roster is a CSV or Excel file with one row per pupil: ``school_code`` (the school's place code),
``class``, ``id_number`` and optionally ``school_name``, ``name`` and ``guardian_phone``. An import
checks every row, pseudonymises the ID number and the guardian phone with the installation's keyed
hash (the lake's ``pid``) and stores the good rows as the lake's reference table
``ref/school_roster.parquet`` (``school``, ``class_name``, ``pid``, ``guardian_pid``). A school's rows
replace that school's earlier roster, so schools may hand theirs in one by one. Rows that cannot be
used (blank or invalid ID number, no school or class, the same pupil twice) are returned with the
row number, the field and the reason, and the file's other rows are stored; a file without the
required columns, or with no usable row, stores nothing.

The trace registers the table as ``ref_school_roster`` (empty when none was imported); the class
detector (``tracing.structure``) then takes a rostered pupil case's classmates from it and keeps the
cell-tower stand-in for pupils no roster lists.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from zhikong.core.crypto import PiiCipher, mask_middle
from zhikong.core.errors import InvalidInput, RowError
from zhikong.engine import QueryEngine
from zhikong.screening.identifiers import id_valid, normalise_id_number, normalise_phone
from zhikong.screening.imports import read_table

ROSTER_SCHEMA = pa.schema(
    [
        ("school", pa.string()),
        ("class_name", pa.string()),
        ("pid", pa.string()),
        ("guardian_pid", pa.string()),
    ]
)
REQUIRED = ("school_code", "class", "id_number")
#: other spellings of the columns a school may use
ALIASES = {
    "学校代码": "school_code",
    "学校编码": "school_code",
    "学校名称": "school_name",
    "班级": "class",
    "身份证号": "id_number",
    "身份证号码": "id_number",
    "姓名": "name",
    "监护人电话": "guardian_phone",
    "家长电话": "guardian_phone",
}


@dataclass
class RosterImport:
    file: str
    rows: int
    stored: int
    schools: int
    errors: list[RowError] = field(default_factory=list)


def roster_path(lake_dir: Path) -> Path:
    return lake_dir / "ref" / "school_roster.parquet"


def read_roster_file(path: Path) -> pd.DataFrame:
    """The roster file as strings (CSV in UTF-8 or GB18030, or Excel), columns normalised."""
    df = read_table(path)
    df = df.rename(columns=lambda c: ALIASES.get(str(c).strip(), str(c).strip().lower()))
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise InvalidInput(
            f"{path.name}: missing column(s) {', '.join(missing)} (a roster needs school_code, class, "
            "id_number; optional school_name, name, guardian_phone)",
            field="file",
        )
    return df


def parse_roster(df: pd.DataFrame, cipher: PiiCipher, file: str) -> tuple[pa.Table, list[RowError]]:
    """Check and pseudonymise roster rows; return the good rows and the errors (row = 1-based data row)."""
    errors: list[RowError] = []
    out: dict[str, list[str | None]] = {"school": [], "class_name": [], "pid": [], "guardian_pid": []}
    seen: dict[str, int] = {}
    guardian = df["guardian_phone"] if "guardian_phone" in df.columns else pd.Series([""] * len(df))
    cols = (df["school_code"], df["class"], df["id_number"], guardian)
    for i, (school, cls, idn, phone) in enumerate(zip(*cols, strict=True), start=1):
        school, cls = str(school).strip(), str(cls).strip()
        if not school:
            errors.append(RowError(i, "school_code", "blank school code", file=file))
            continue
        if not cls:
            errors.append(RowError(i, "class", "blank class", file=file))
            continue
        norm = normalise_id_number(idn)
        if norm is None:
            errors.append(RowError(i, "id_number", "blank ID number", file=file))
            continue
        if not id_valid(norm):
            errors.append(
                RowError(
                    i,
                    "id_number",
                    "not a valid ID number (length, birth date or check digit)",
                    _mask(str(idn)),
                    file=file,
                )
            )
            continue
        if norm in seen:
            errors.append(
                RowError(
                    i, "id_number", f"the same pupil is already on row {seen[norm]}", _mask(norm), file=file
                )
            )
            continue
        seen[norm] = i
        ph = normalise_phone(phone) if str(phone).strip() else None
        out["school"].append(school)
        out["class_name"].append(cls)
        out["pid"].append(cipher.keyed_hash(norm))
        out["guardian_pid"].append(cipher.keyed_hash("+86" + ph) if ph else None)
    return pa.table(out, schema=ROSTER_SCHEMA), errors


def _mask(value: str) -> str:
    return mask_middle(value.strip(), 6, 4)


def import_roster(path: Path, lake_dir: Path, cipher: PiiCipher) -> RosterImport:
    """Import one roster file into the lake (see the module docstring); atomic per file."""
    df = read_roster_file(path)
    table, errors = parse_roster(df, cipher, path.name)
    if table.num_rows == 0:
        raise InvalidInput(
            f"{path.name}: no usable row of {len(df)} ("
            + ("; ".join(str(e) for e in errors[:3]) or "the file is empty")
            + ")",
            field="file",
        )
    target = roster_path(lake_dir)
    schools = set(table.column("school").to_pylist())
    if target.is_file():
        old = pq.read_table(target, schema=ROSTER_SCHEMA)
        keep = [s not in schools for s in old.column("school").to_pylist()]
        table = pa.concat_tables([old.filter(pa.array(keep, pa.bool_())), table])
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, target)
    return RosterImport(path.name, len(df), len(df) - len(errors), len(schools), errors)


def register_roster(engine: QueryEngine, lake_dir: Path) -> bool:
    """Register ``ref_school_roster`` (empty when no roster was imported); return whether one was."""
    path = roster_path(lake_dir)
    if path.is_file() and engine.register_parquet("ref_school_roster", path, hive=False):
        return True
    engine.register_arrow("ref_school_roster", ROSTER_SCHEMA.empty_table())
    return False
