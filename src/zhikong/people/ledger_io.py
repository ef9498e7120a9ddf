"""Reading ledger files: CSV in UTF-8 (with or without BOM) or GBK/GB18030, and Excel .xlsx.

Rows stream one at a time (``openpyxl`` read-only mode for Excel), so memory does not grow with
the file. File-level problems (unknown encoding or format, missing columns) raise
:class:`~zhikong.core.errors.InvalidInput` / :class:`~zhikong.core.errors.RowErrors`.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from zhikong.core.errors import InvalidInput, RowError, RowErrors
from zhikong.people.generate import LEDGER_COLUMNS

REQUIRED = ("id_number", "name", "village_code")
#: accepted header spellings → column
HEADER_ALIASES: dict[str, str] = {
    **{c: c for c in LEDGER_COLUMNS},
    "身份证号": "id_number", "身份证号码": "id_number", "公民身份号码": "id_number",
    "姓名": "name", "性别": "sex", "出生日期": "birth_date",
    "手机号": "phone", "手机号码": "phone", "联系电话": "phone",
    "户号": "household_code", "户编号": "household_code",
    "住址": "address", "地址": "address", "现住址": "address",
    "村居代码": "village_code", "村社区代码": "village_code", "村居编码": "village_code",
    "居住状态": "residence_status", "人口类型": "residence_status",
}


def detect_encoding(path: Path, sample: int = 1 << 20) -> str:
    """``utf-8-sig`` (BOM), ``utf-8``, or ``gb18030`` (a superset of GBK) from the first bytes."""
    with path.open("rb") as fh:
        head = fh.read(sample)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        codecs.getincrementaldecoder("gb18030")().decode(head, final=False)
        return "gb18030"
    except UnicodeDecodeError:
        raise InvalidInput(f"{path.name}: 文件编码无法识别（应为 UTF-8 或 GBK）/ the file is neither "
                           "UTF-8 nor GBK/GB18030 text", field="file") from None


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, datetime):
        return v.date().isoformat()
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def _rows_xlsx(path: Path) -> Iterator[list[str]]:
    try:
        from openpyxl import load_workbook
    except ImportError as e:  # pragma: no cover - openpyxl is a dependency
        raise InvalidInput("openpyxl is needed to read .xlsx files", field="file") from e
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises many types for a broken file
        raise InvalidInput(f"{path.name}: 不是有效的 Excel 文件 / not a valid .xlsx file ({e})",
                           field="file") from e
    try:
        ws = wb.worksheets[0]
        for values in ws.iter_rows(values_only=True):
            yield [_cell(v) for v in values]
    finally:
        wb.close()


def _rows_csv(path: Path, encoding: str) -> Iterator[list[str]]:
    with path.open("r", encoding=encoding, newline="") as fh:
        try:
            yield from csv.reader(fh)
        except UnicodeDecodeError as e:
            raise InvalidInput(f"{path.name}: 文件中有不是 {encoding} 的字节 / bytes at position "
                               f"{e.start} are not valid {encoding}; save the file as UTF-8 or GBK",
                               field="file") from e
        except csv.Error as e:
            raise InvalidInput(f"{path.name}: CSV 格式错误 / malformed CSV: {e}", field="file") from e


def read_rows(path: Path) -> tuple[str, Iterator[list[str]]]:
    """(encoding or ``xlsx``, iterator of raw rows including the header row)."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx", _rows_xlsx(path)
    if suffix == ".xls":
        raise InvalidInput(f"{path.name}: 不支持旧版 .xls，请另存为 .xlsx 或 CSV / old .xls files are "
                           "not supported; save as .xlsx or CSV", field="file")
    enc = detect_encoding(path)
    return enc, _rows_csv(path, enc)


def map_header(header: Sequence[str], file: str) -> list[str | None]:
    """Column of each header cell (``None`` for ignored columns); missing required columns → errors."""
    cols: list[str | None] = []
    for h in header:
        key = h.strip().lstrip("\ufeff").strip().lower()
        cols.append(HEADER_ALIASES.get(key) or HEADER_ALIASES.get(h.strip()))
    missing = [c for c in REQUIRED if c not in cols]
    if missing:
        raise RowErrors(errors=[RowError(row=1, field=c, reason="缺少此列 / required column is missing",
                                         file=file) for c in missing], file=file)
    dups = {c for c in cols if c is not None and cols.count(c) > 1}
    if dups:
        raise RowErrors(errors=[RowError(row=1, field=c, reason="此列重复 / column appears twice",
                                         file=file) for c in sorted(dups)], file=file)
    return cols
