"""Import a resident ledger from CSV (UTF-8, UTF-8 with BOM, GBK/GB18030) or Excel (.xlsx).

The file is streamed in chunks; every row is validated and each problem becomes one
:class:`~zhikong.core.errors.RowError` (file, row, field, reason). Bad rows are skipped and written
to a reject CSV beside the input (the original values plus ``_row`` and ``_errors``); good rows are
upserted by the keyed hash of the ID number: new people are inserted, changed people updated,
unchanged people left alone, so importing the same file twice changes nothing. File-level problems
(unknown format or encoding, missing columns) reject the whole file. The whole import is one
transaction: it lands completely or not at all, and rows that fail validation never touch stored
data.

Speed: identifiers are hashed with one-shot HMAC, only new or changed identifiers are encrypted,
rows are written with the driver's ``executemany`` (SQLite) or ``COPY`` (PostgreSQL).
Memory: one chunk of rows plus a set of the ID numbers seen (for duplicates in the file), about
70 bytes per row.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from operator import itemgetter
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, bindparam, func, insert, select, update

from zhikong.core.crypto import get_cipher
from zhikong.core.db import get_engine
from zhikong.core.errors import InvalidInput, RowError, RowErrors
from zhikong.core.time import CHINA_TZ, utcnow
from zhikong.geo.models import AdminUnit, UnitLevel
from zhikong.people import idcard, phone
from zhikong.people.generate import LEDGER_COLUMNS
from zhikong.people.models import Household, ImportBatch, Person, ResidenceStatus, Sex
from zhikong.people.service import Protector

_PERSON = cast(Table, Person.__table__)
_HOUSEHOLD = cast(Table, Household.__table__)
_BATCH = cast(Table, ImportBatch.__table__)
_UNIT = cast(Table, AdminUnit.__table__)

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
SEX_VALUES = {"男": "male", "女": "female", "male": "male", "female": "female", "m": "male",
              "f": "female"}
STATUS_VALUES = {"常住": "resident", "流动": "floating", "外出": "away", "resident": "resident",
                 "floating": "floating", "away": "away", "": "resident"}
_POS = {c: i for i, c in enumerate(LEDGER_COLUMNS)}
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d", "%Y年%m月%d日")

_SQLITE_CACHE_KIB = 256 * 1024
ProgressFn = Callable[[int], None]


@dataclass
class ImportResult:
    file: str
    batch_id: int
    rows_total: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    households_created: int = 0
    encoding: str = ""
    seconds: float = 0.0
    reject_file: Path | None = None
    #: the first problems found (all of them are in the reject file)
    errors: list[RowError] = field(default_factory=list)

    @property
    def rows_per_second(self) -> float:
        return self.rows_total / self.seconds if self.seconds else 0.0


@dataclass(slots=True)
class _Good:
    row: int
    number: str
    name: str
    sex: str
    birth: date
    phone: str | None
    household_code: str | None
    address: str | None
    village_id: int
    status: str


# ----------------------------------------------------------------------------------------- reading

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


def parse_date(s: str) -> date:
    if len(s) == 10 and s[4] == "-":
        try:
            return date.fromisoformat(s)
        except ValueError:
            pass
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(s, fmt).date()
        except ValueError:
            continue
    raise ValueError(s)


# -------------------------------------------------------------------------------------- validation

class _Validator:
    def __init__(self, file: str, villages: dict[str, int], today: date) -> None:
        self.file = file
        self.villages = villages
        self.today = today
        self.seen: set[int] = set()

    def check(self, rownum: int, vals: Sequence[str]) -> tuple[_Good | None, list[RowError]]:
        """Validate one row; ``vals`` holds the ``LEDGER_COLUMNS`` values in order."""
        (raw_id, name, raw_sex, raw_birth, raw_phone, hcode_raw, address_raw, vcode,
         raw_status) = vals
        errs: list[RowError] = []

        def bad(fld: str, reason: str) -> None:
            errs.append(RowError(row=rownum, field=fld, reason=reason, value=vals[_POS[fld]] or None,
                                 file=self.file))

        parsed: idcard.IdNumber | None = None
        try:
            parsed = idcard.parse(raw_id, today=self.today)
        except InvalidInput as e:
            bad("id_number", e.message)
        if parsed is not None:
            key = int(parsed.number[:17])
            if key in self.seen:
                bad("id_number", "身份证号在本文件中重复 / duplicate ID number: it appears on an earlier "
                                 "row of this file")
                parsed = None
            else:
                self.seen.add(key)
        name = name.strip()
        if not name:
            bad("name", "姓名为空 / name is empty")
        elif len(name) > 64:
            bad("name", "姓名超过 64 个字符 / name is longer than 64 characters")
        raw_sex = raw_sex.strip()
        sex = SEX_VALUES.get(raw_sex.lower()) if raw_sex else (parsed.sex if parsed else None)
        if sex is None and raw_sex:
            bad("sex", "性别应为 男/女 或 male/female / sex must be 男/女 or male/female")
        elif parsed is not None and sex != parsed.sex:
            bad("sex", f"性别与身份证号不符（号码为{'男' if parsed.sex == 'male' else '女'}）/ "
                       f"does not match the ID number ({parsed.sex})")
        raw_birth = raw_birth.strip()
        birth = parsed.birth_date if parsed else None
        if raw_birth:
            try:
                given = parse_date(raw_birth)
            except ValueError:
                bad("birth_date", "日期格式应为 YYYY-MM-DD / not a date (expected YYYY-MM-DD)")
            else:
                if parsed is not None and given != parsed.birth_date:
                    bad("birth_date", f"出生日期与身份证号不符（号码为 {parsed.birth_date}）/ does not "
                                      f"match the ID number ({parsed.birth_date})")
        raw_phone = raw_phone.strip()
        e164: str | None = None
        if raw_phone:
            try:
                e164 = phone.normalise(raw_phone)
            except InvalidInput as e:
                bad("phone", e.message)
        hcode = hcode_raw.strip() or None
        if hcode is not None and len(hcode) > 32:
            bad("household_code", "户号超过 32 个字符 / household code is longer than 32 characters")
        address = address_raw.strip() or None
        if address is not None and len(address) > 255:
            bad("address", "住址超过 255 个字符 / address is longer than 255 characters")
        vcode = vcode.strip()
        village_id = self.villages.get(vcode)
        if not vcode:
            bad("village_code", "村居代码为空 / village code is empty")
        elif village_id is None:
            bad("village_code", f"村居代码 {vcode} 不存在 / unknown village code")
        status = STATUS_VALUES.get(raw_status.strip().lower())
        if status is None:
            bad("residence_status", "居住状态应为 常住/流动/外出 或 resident/floating/away")
        if errs or parsed is None or birth is None or sex is None or village_id is None or status is None:
            return None, errs
        return _Good(rownum, parsed.number, name, sex, birth, e164, hcode, address, village_id,
                     status), errs


# ----------------------------------------------------------------------------------------- writing

_PERSON_COLS = ("name", "sex", "birth_date", "id_number_enc", "id_number_hash", "id_number_masked",
                "phone_enc", "phone_hash", "phone_masked", "household_id", "address", "village_id",
                "residence_status", "created_at", "updated_at")


class _Writer:
    def __init__(self, conn: Connection, protector: Protector) -> None:
        self.conn = conn
        self.p = protector
        self.pg = conn.dialect.name == "postgresql"
        t = _PERSON
        dialect = conn.dialect
        self._date = t.c.birth_date.type.bind_processor(dialect)
        self._ts = t.c.created_at.type.bind_processor(dialect)
        ph = "%s" if dialect.paramstyle in ("format", "pyformat") else "?"
        self._insert_sql = (f"INSERT INTO person ({', '.join(_PERSON_COLS)}) "
                            f"VALUES ({', '.join([ph] * len(_PERSON_COLS))})")
        self.households_created = 0
        # an empty ledger at the start of this transaction: every valid row is new (duplicates in the
        # file are rejected before), so the per-chunk lookup of stored rows can be skipped
        self.fresh = conn.execute(select(t.c.id).limit(1)).first() is None

    def households(self, goods: list[_Good]) -> dict[str, int]:
        first: dict[str, _Good] = {}
        for g in goods:
            if g.household_code and g.household_code not in first:
                first[g.household_code] = g
        if not first:
            return {}
        h = _HOUSEHOLD
        ids = dict(self.conn.execute(select(h.c.code, h.c.id).where(h.c.code.in_(list(first)))).all())
        missing = [c for c in first if c not in ids]
        if missing:
            self.conn.execute(insert(h), [{"code": c, "address": first[c].address,
                                           "village_id": first[c].village_id} for c in missing])
            self.households_created += len(missing)
            ids.update(self.conn.execute(select(h.c.code, h.c.id).where(h.c.code.in_(missing))).all())
        return ids

    def existing(self, hashes: list[str]) -> dict[str, tuple[Any, ...]]:
        t = _PERSON
        rows = self.conn.execute(select(
            t.c.id_number_hash, t.c.id, t.c.name, t.c.sex, t.c.birth_date, t.c.phone_hash,
            t.c.household_id, t.c.address, t.c.village_id, t.c.residence_status,
        ).where(t.c.id_number_hash.in_(hashes))).all()
        return {r[0]: tuple(r[1:]) for r in rows}

    def write(self, goods: list[_Good]) -> tuple[int, int, int]:
        """Upsert one chunk; returns (inserted, updated, unchanged)."""
        hh = self.households(goods)
        hashes = [self.p.hash(g.number) for g in goods]
        old = {} if self.fresh else self.existing(hashes)
        now = utcnow()
        now_db = self._ts(now) if self._ts else now
        new_rows: list[tuple[Any, ...]] = []
        changes: list[dict[str, Any]] = []
        unchanged = 0
        for g, h in zip(goods, hashes, strict=True):
            phash = self.p.hash(g.phone) if g.phone else None
            hid = hh.get(g.household_code) if g.household_code else None
            prev = old.get(h)
            if prev is None:
                enc, masked = self.p.id_fields(g.number)
                penc, pmasked = self.p.phone_fields(g.phone)
                new_rows.append((g.name, g.sex, self._date(g.birth) if self._date else g.birth,
                                 enc, h, masked, penc, phash, pmasked, hid, g.address, g.village_id,
                                 g.status, now_db, now_db))
                continue
            pid, name, sex, birth, old_phash, old_hid, address, village_id, status = prev
            if (name, sex, birth, old_phash, old_hid, address, village_id, status) == (
                    g.name, g.sex, g.birth, phash, hid, g.address, g.village_id, g.status):
                unchanged += 1
                continue
            change: dict[str, Any] = {"_id": pid, "name": g.name, "sex": Sex(g.sex),
                                      "birth_date": g.birth, "household_id": hid,
                                      "address": g.address, "village_id": g.village_id,
                                      "residence_status": ResidenceStatus(g.status),
                                      "updated_at": now}
            if phash != old_phash:
                change["phone_enc"], change["phone_masked"] = self.p.phone_fields(g.phone)
                change["phone_hash"] = phash
            changes.append(change)
        if new_rows:
            self._insert(new_rows)
        self._update(changes)
        return len(new_rows), len(changes), unchanged

    def _insert(self, rows: list[tuple[Any, ...]]) -> None:
        if self.pg:
            raw = self.conn.connection.driver_connection
            with raw.cursor() as cur, cur.copy(  # type: ignore[union-attr]
                    f"COPY person ({', '.join(_PERSON_COLS)}) FROM STDIN") as cp:
                for r in rows:
                    cp.write_row(r)
        else:
            self.conn.exec_driver_sql(self._insert_sql, rows)

    def _update(self, changes: list[dict[str, Any]]) -> None:
        t = _PERSON
        with_phone = [c for c in changes if "phone_hash" in c]
        without = [c for c in changes if "phone_hash" not in c]
        for group in (with_phone, without):
            if not group:
                continue
            cols = [k for k in group[0] if k != "_id"]
            stmt = update(t).where(t.c.id == bindparam("_id")).values(
                {k: bindparam(k) for k in cols})
            self.conn.execute(stmt, group)


# ------------------------------------------------------------------------------------------ import

def _village_ids(conn: Connection) -> dict[str, int]:
    t = _UNIT
    return dict(conn.execute(select(t.c.code, t.c.id).where(t.c.level == UnitLevel.VILLAGE)).all())


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def default_reject_path(path: Path) -> Path:
    return path.with_name(path.stem + ".rejects.csv")


def import_ledger(path: Path | str, *, engine: Engine | None = None, reject_file: Path | None = None,
                  chunk_size: int = 5000, progress: ProgressFn | None = None,
                  today: date | None = None, keep_errors: int = 1000) -> ImportResult:
    """Import a ledger file; see the module docstring. Returns counts and the first errors."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"文件不存在 / file not found: {path}", field="file")
    started = utcnow()
    fname = path.name
    encoding, rows = read_rows(path)
    try:
        header = next(rows)
    except StopIteration:
        raise InvalidInput(f"{fname}: 文件为空 / the file is empty", field="file") from None
    cols = map_header(header, fname)
    ncols = len(header)
    # each ledger column's index in a row padded with one trailing "" (for absent columns)
    pick = itemgetter(*[cols.index(c) if c in cols else ncols for c in LEDGER_COLUMNS])
    reject_path = reject_file or default_reject_path(path)
    if reject_path.exists():
        reject_path.unlink()
    reject_fh = None
    reject_w: Any = None
    protector = Protector(get_cipher())
    engine = engine or get_engine()
    today = today or utcnow().astimezone(CHINA_TZ).date()
    res = ImportResult(file=fname, batch_id=0, encoding=encoding)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "sqlite":  # room for the indexes of a big import (per connection)
                conn.exec_driver_sql(f"PRAGMA cache_size=-{_SQLITE_CACHE_KIB}")
            validator = _Validator(fname, _village_ids(conn), today)
            writer = _Writer(conn, protector)
            batch_t = _BATCH
            res.batch_id = int(conn.execute(insert(batch_t).values(
                kind="ledger", file_name=fname[:255], sha256=_sha256(path), created_at=started,
            ).returning(batch_t.c.id)).scalar_one())
            goods: list[_Good] = []
            pending = 0
            rownum = 1
            for raw in rows:
                rownum += 1
                if not any(v.strip() for v in raw):
                    continue  # blank line
                res.rows_total += 1
                pending += 1
                vals = pick([*raw, ""] if len(raw) >= ncols else [*raw, *[""] * (ncols + 1 - len(raw))])
                if len(raw) > ncols and any(v.strip() for v in raw[ncols:]):
                    good, errs = None, [RowError(rownum, "*", f"本行有 {len(raw)} 列，表头只有 {ncols} 列 / "
                                                 f"row has {len(raw)} fields, header has {ncols}",
                                                 file=fname)]
                else:
                    good, errs = validator.check(rownum, vals)
                if good is not None:
                    goods.append(good)
                else:
                    res.rejected += 1
                    room = keep_errors - len(res.errors)
                    if room > 0:
                        res.errors.extend(errs[:room])
                    if reject_w is None:
                        reject_path.parent.mkdir(parents=True, exist_ok=True)
                        reject_fh = reject_path.open("w", encoding="utf-8-sig", newline="")
                        reject_w = csv.writer(reject_fh)
                        reject_w.writerow([*header, "_row", "_errors"])
                    reject_w.writerow([*raw, rownum, "; ".join(f"{e.field}: {e.reason}" for e in errs)])
                if len(goods) >= chunk_size:
                    _flush(writer, goods, res)
                    goods = []
                if pending >= chunk_size and progress:
                    progress(pending)
                    pending = 0
            if goods:
                _flush(writer, goods, res)
            if progress and pending:
                progress(pending)
            res.households_created = writer.households_created
            conn.execute(update(batch_t).where(batch_t.c.id == res.batch_id).values(
                rows_total=res.rows_total, rows_inserted=res.inserted, rows_updated=res.updated,
                rows_unchanged=res.unchanged, rows_rejected=res.rejected))
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA cache_size=-2000")
    finally:
        if reject_fh is not None:
            reject_fh.close()
    res.reject_file = reject_path if res.rejected else None
    res.seconds = (utcnow() - started).total_seconds()
    return res


def _flush(writer: _Writer, goods: list[_Good], res: ImportResult) -> None:
    ins, upd, same = writer.write(goods)
    res.inserted += ins
    res.updated += upd
    res.unchanged += same


def person_count(engine: Engine | None = None) -> int:
    with (engine or get_engine()).connect() as conn:
        return int(conn.execute(select(func.count()).select_from(_PERSON)).scalar_one())
