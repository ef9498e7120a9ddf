"""Reading incoming lists and risk-area lists from CSV (UTF-8 or GBK) or Excel, with row checks.

Headers may be Chinese or English (see ``LIST_ALIASES``). Every row is checked; problems are
collected as ``RowError`` and raised together as ``RowErrors`` before anything is stored.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from zhikong.core.errors import InvalidInput, RowError, RowErrors
from zhikong.screening.identifiers import (
    id_valid,
    normalise_date,
    normalise_id_number,
    normalise_phone,
)
from zhikong.screening.names import clean_name

#: accepted header spellings → canonical column
LIST_ALIASES: dict[str, str] = {
    "name": "name", "姓名": "name", "subject_name": "name", "被举报人": "name",
    "id_number": "id_number", "身份证号": "id_number", "身份证号码": "id_number", "证件号码": "id_number",
    "phone": "phone", "手机号": "phone", "手机号码": "phone", "电话": "phone", "联系电话": "phone",
    "subject_phone": "phone",
    "sex": "sex", "性别": "sex",
    "birth_date": "birth_date", "出生日期": "birth_date",
    "address": "address", "地址": "address", "住址": "address", "现住址": "address",
    "village_code": "village_code", "村居编码": "village_code",
    "origin_city": "origin_city", "来源地": "origin_city", "出发地": "origin_city", "途经地": "origin_city",
    "arrived_date": "event_date", "到达日期": "event_date", "抵达日期": "event_date",
    "reported_at": "event_date", "举报日期": "event_date", "event_date": "event_date",
    "onset_date": "event_date", "发病日期": "event_date",
}
IDENTIFYING = ("id_number", "phone", "address")


def _header_key(h: object) -> str:
    return unicodedata.normalize("NFKC", str(h)).strip().lstrip("\ufeff").lower()


def detect_encoding(raw: bytes) -> str:
    """``utf-8-sig`` when the bytes decode as UTF-8, else ``gb18030`` (a superset of GBK)."""
    try:
        raw.decode("utf-8")
        return "utf-8-sig"
    except UnicodeDecodeError:
        pass
    try:
        raw.decode("gb18030")
        return "gb18030"
    except UnicodeDecodeError as e:
        raise InvalidInput(f"cannot decode the file as UTF-8 or GBK (byte {e.start})",
                           field="file") from e


def read_table(path: Path) -> pd.DataFrame:
    """All cells as strings ('' for empty), from .csv/.txt (UTF-8 or GBK) or .xlsx/.xls."""
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file", field="file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm", ".xls"):
            df = pd.read_excel(path, dtype=str, keep_default_na=False)
        else:
            raw = path.read_bytes()
            enc = detect_encoding(raw)
            import io

            df = pd.read_csv(io.StringIO(raw.decode(enc)), dtype=str, keep_default_na=False)
    except InvalidInput:
        raise
    except Exception as e:
        raise InvalidInput(f"{path.name}: cannot read the table: {e}", field="file") from e
    return df.fillna("")


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class ParsedRow:
    row_no: int
    name: str
    id_number: str | None
    id_number_valid: bool
    phone_raw: str | None
    phone: str | None
    sex: str | None
    birth_date: date | None
    address: str | None
    village_code: str | None
    origin_city: str | None
    event_date: date | None
    extra: dict[str, Any] = field(default_factory=dict)


def parse_list(df: pd.DataFrame, file: str, *, allow_duplicates: bool = False) -> list[ParsedRow]:
    """Check every row of an incoming list; ``RowErrors`` lists every problem found."""
    mapping: dict[str, str] = {}
    extra_cols: list[str] = []
    for col in df.columns:
        canon = LIST_ALIASES.get(_header_key(col))
        if canon and canon not in mapping.values():
            mapping[str(col)] = canon
        else:
            extra_cols.append(str(col))
    present = set(mapping.values())
    missing = []
    if "name" not in present:
        missing.append("name (姓名)")
    if not present & set(IDENTIFYING):
        missing.append("one of id_number (身份证号), phone (手机号), address (地址)")
    if missing:
        raise RowErrors(errors=[RowError(1, "header", "missing column " + m, file=file)
                                for m in missing], file=file)
    errors: list[RowError] = []
    rows: list[ParsedRow] = []
    inv = {v: k for k, v in mapping.items()}

    def cell(rec: dict[str, str], canon: str) -> str:
        return str(rec.get(inv[canon], "")).strip() if canon in inv else ""

    seen_ids: dict[str, int] = {}
    seen_rows: dict[tuple[str, ...], int] = {}
    ids_given = ids_bad = 0
    for i, rec in enumerate(df.to_dict("records"), start=2):  # row 1 is the header
        errs_before = len(errors)
        name = clean_name(cell(rec, "name"))
        if name is None:
            errors.append(RowError(i, "name", "empty name (姓名为空)", file=file))
        raw_id = cell(rec, "id_number")
        idn = normalise_id_number(raw_id) if raw_id else None
        valid = id_valid(idn)
        if raw_id:
            ids_given += 1
            ids_bad += 0 if valid else 1
        raw_phone = cell(rec, "phone") or None
        phone = normalise_phone(raw_phone) if raw_phone else None
        if raw_phone and phone is None and "*" not in raw_phone:
            errors.append(RowError(i, "phone", "not a phone number", raw_phone, file=file))
        address = cell(rec, "address") or None
        if not (raw_id or raw_phone or address):
            errors.append(RowError(i, "id_number", "no ID number, phone or address", file=file))
        bd_raw = cell(rec, "birth_date")
        bd = normalise_date(bd_raw) if bd_raw else None
        if bd_raw and bd is None:
            errors.append(RowError(i, "birth_date", "not a date", bd_raw, file=file))
        ev_raw = cell(rec, "event_date")
        ev = normalise_date(ev_raw) if ev_raw else None
        if ev_raw and ev is None:
            errors.append(RowError(i, "event_date", "not a date", ev_raw, file=file))
        village = cell(rec, "village_code") or None
        if village and not re.fullmatch(r"\d{12}", village):
            errors.append(RowError(i, "village_code", "must be 12 digits", village, file=file))
        key = tuple(str(v).strip() for v in rec.values())
        if not allow_duplicates:
            if key in seen_rows:
                errors.append(RowError(i, "row", f"duplicate of row {seen_rows[key]}", file=file))
            elif valid and idn in seen_ids:
                errors.append(RowError(i, "id_number", f"same ID number as row {seen_ids[idn or '']}",
                                       raw_id, file=file))
        seen_rows.setdefault(key, i)
        if valid and idn:
            seen_ids.setdefault(idn, i)
        if len(errors) > errs_before:
            continue
        sex = cell(rec, "sex")
        rows.append(ParsedRow(
            row_no=i, name=name or "", id_number=idn, id_number_valid=valid,
            phone_raw=raw_phone, phone=phone,
            sex={"男": "male", "女": "female"}.get(sex, sex.lower() or None),
            birth_date=date.fromisoformat(bd) if bd else None, address=address,
            village_code=village, origin_city=cell(rec, "origin_city") or None,
            event_date=date.fromisoformat(ev) if ev else None,
            extra={c: str(rec[c]) for c in extra_cols if str(rec[c]).strip()}))
    if ids_given and ids_given == ids_bad and ids_given >= 3:
        errors.append(RowError(1, "id_number", f"every one of the {ids_given} ID numbers is malformed:"
                               " wrong column, or numbers mangled by a spreadsheet?", file=file))
    if errors:
        raise RowErrors(errors=sorted(errors, key=lambda e: e.row), file=file)
    if not rows:
        raise RowErrors(errors=[RowError(1, "file", "the list has no rows", file=file)], file=file)
    return rows


# ---- risk areas ----------------------------------------------------------------------------------

RISK_ALIASES: dict[str, str] = {
    "level": "level", "风险等级": "level", "等级": "level",
    "province": "province", "省": "province", "省份": "province",
    "city": "city", "市": "city", "城市": "city",
    "area_code": "area_code", "code": "area_code", "区划代码": "area_code", "city_code": "area_code",
    "district": "district", "区县": "district", "区": "district",
    "street": "street", "街道": "street", "镇街": "street", "地区": "street",
    "effective_from": "effective_from", "生效日期": "effective_from", "起始日期": "effective_from",
    "effective_to": "effective_to", "解除日期": "effective_to", "截止日期": "effective_to",
}
_LEVELS = {"high": "high", "高": "high", "高风险": "high", "medium": "medium", "中": "medium",
           "中风险": "medium"}


def parse_risk_areas(df: pd.DataFrame, file: str) -> list[dict[str, Any]]:
    """Rows of a risk-area list: level, city (or area code), effective_from required."""
    mapping = {str(c): RISK_ALIASES[_header_key(c)] for c in df.columns if _header_key(c) in RISK_ALIASES}
    inv = {v: k for k, v in mapping.items()}
    missing = [c for c in ("level", "effective_from") if c not in inv]
    if "city" not in inv and "area_code" not in inv:
        missing.append("city or area_code")
    if missing:
        raise RowErrors(errors=[RowError(1, "header", f"missing column {m}", file=file)
                                for m in missing], file=file)
    errors: list[RowError] = []
    out: list[dict[str, Any]] = []
    for i, rec in enumerate(df.to_dict("records"), start=2):
        def cell(canon: str, rec: dict[str, Any] = rec) -> str:
            return str(rec.get(inv[canon], "")).strip() if canon in inv else ""

        n0 = len(errors)
        level = _LEVELS.get(cell("level").lower())
        if level is None:
            errors.append(RowError(i, "level", "must be high/medium (高/中)", cell("level"), file=file))
        start = normalise_date(cell("effective_from"))
        if start is None:
            errors.append(RowError(i, "effective_from", "not a date", cell("effective_from"), file=file))
        end_raw = cell("effective_to")
        end = normalise_date(end_raw) if end_raw else None
        if end_raw and end is None:
            errors.append(RowError(i, "effective_to", "not a date", end_raw, file=file))
        if start and end and end < start:
            errors.append(RowError(i, "effective_to", "before effective_from", end_raw, file=file))
        code = cell("area_code")
        if code and not re.fullmatch(r"\d{6}(\d{3})?(\d{3})?", code):
            errors.append(RowError(i, "area_code", "must be 6, 9 or 12 digits", code, file=file))
        if not cell("city") and not code:
            errors.append(RowError(i, "city", "no city and no area code", file=file))
        if len(errors) == n0:
            out.append({"level": level, "province": cell("province") or None,
                        "city": cell("city") or code, "area_code": code or None,
                        "district": cell("district") or None, "street": cell("street") or None,
                        "effective_from": start, "effective_to": end})
    if errors:
        raise RowErrors(errors=errors, file=file)
    if not out:
        raise RowErrors(errors=[RowError(1, "file", "the list has no rows", file=file)], file=file)
    return out
