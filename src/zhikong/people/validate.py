"""Validation of ledger rows and their preparation for storage (hashes, ciphertexts).

:class:`Validator` turns one row into a :class:`Good` record or a list of
:class:`~zhikong.core.errors.RowError` (one per problem). :func:`prepare_chunk` validates a chunk of
rows and computes keyed hashes (and, when asked, ciphertexts); it is what the importer's worker
process runs, so it only uses picklable inputs and outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from operator import itemgetter
from typing import Any

from zhikong.core.crypto import PiiCipher
from zhikong.core.errors import InvalidInput, RowError
from zhikong.people import idcard, phone
from zhikong.people.generate import LEDGER_COLUMNS
from zhikong.people.service import Protector

SEX_VALUES = {"男": "male", "女": "female", "male": "male", "female": "female", "m": "male",
              "f": "female"}
STATUS_VALUES = {"常住": "resident", "流动": "floating", "外出": "away", "resident": "resident",
                 "floating": "floating", "away": "away", "": "resident"}
_POS = {c: i for i, c in enumerate(LEDGER_COLUMNS)}
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d", "%Y年%m月%d日")

#: a raw row with its 1-based row number in the file (the header is row 1)
RawRow = tuple[int, list[str]]
#: a rejected row: row number, raw values, problems
Rejected = tuple[int, list[str], list[RowError]]


@dataclass(slots=True)
class Good:
    """A valid row, normalised."""

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


class Validator:
    """Checks rows of one file against the villages known to the database."""

    def __init__(self, file: str, villages: dict[str, int], today: date) -> None:
        self.file = file
        self.villages = villages
        self.today = today

    def check(self, rownum: int, vals: Sequence[str]) -> tuple[Good | None, list[RowError]]:
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
        return Good(rownum, parsed.number, name, sex, birth, e164, hcode, address, village_id,
                     status), errs


@dataclass
class ChunkSpec:
    """What a worker needs to validate and prepare chunks of one file (picklable)."""

    file: str
    villages: dict[str, int]
    today: date
    ncols: int
    picks: list[int]
    secret: bytes
    encrypt: bool
    #: also render each row as PostgreSQL ``COPY`` text around the household id, with this timestamp
    #: (ISO text) as created_at/updated_at (``None``: no COPY text)
    copy_now: str | None = None


#: a prepared row in the order of the ``person`` insert, without the two timestamps, and with the
#: household *code* where the household id goes (the writer maps it):
#: name, sex, birth (ISO text), id_enc, id_hash, id_masked, phone_enc, phone_hash, phone_masked,
#: household code, address, village id, residence status
Row = tuple[Any, ...]
HOUSEHOLD = 9  # index of the household code in a Row


@dataclass(slots=True)
class Prepared:
    """One chunk after validation: plain picklable data, cheap to send between processes."""

    rows: list[Row] = field(default_factory=list)
    #: row numbers of ``rows`` in the file
    lines: list[int] = field(default_factory=list)
    #: the first 17 digits of each row's ID number as an int (duplicate detection)
    keys: list[int] = field(default_factory=list)
    #: (ID number, E.164 phone) of each row when the chunk was not encrypted (else empty)
    plain: list[tuple[str, str | None]] = field(default_factory=list)
    #: households in order of first appearance in the chunk: code -> (address, village id)
    households: dict[str, tuple[str | None, int]] = field(default_factory=dict)
    #: with ``ChunkSpec.copy_now``: each row as COPY text before and after its household id
    copy: list[tuple[str, str]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(v: Any) -> str:
    """One value in PostgreSQL's ``COPY`` text format (``\\N`` for NULL; backslash, tab, newline and
    carriage return escaped)."""
    if v is None:
        return "\\N"
    return str(v).translate(_COPY_ESCAPES)


_state: dict[str, Any] = {}


def init_worker(spec: ChunkSpec) -> None:
    _state["spec"] = spec
    _state["validator"] = Validator(spec.file, spec.villages, spec.today)
    _state["protector"] = Protector(PiiCipher(spec.secret))
    _state["pick"] = itemgetter(*spec.picks)


def prepare_chunk(chunk: list[RawRow]) -> Prepared:
    """Validate and protect one chunk (in a worker after :func:`init_worker`, or in-process)."""
    spec: ChunkSpec = _state["spec"]
    check = _state["validator"].check
    p: Protector = _state["protector"]
    pick = _state["pick"]
    ncols = spec.ncols
    out = Prepared()
    rows, lines, keys, plain, households = out.rows, out.lines, out.keys, out.plain, out.households
    hashes = p.hashes
    copy_tail = None if spec.copy_now is None or not spec.encrypt else f"\t{spec.copy_now}\t{spec.copy_now}\n"
    for rownum, raw in chunk:
        n = len(raw)
        if n > ncols and any(v.strip() for v in raw[ncols:]):
            out.rejected.append((rownum, raw, [RowError(
                rownum, "*", f"本行有 {n} 列，表头只有 {ncols} 列 / row has {n} fields, header has "
                f"{ncols}", file=spec.file)]))
            continue
        padded = [*raw, *[""] * (ncols + 1 - n)] if n <= ncols else [*raw, ""]
        g, errs = check(rownum, pick(padded))
        if g is None:
            out.rejected.append((rownum, raw, errs))
            continue
        number, tel = g.number, g.phone
        id_hash, phone_hash = hashes(number, tel)
        id_enc: str | None = None
        id_masked: str | None = None
        phone_enc: str | None = None
        phone_masked: str | None = None
        if spec.encrypt:
            id_enc, id_masked = p.id_fields(number)
            phone_enc, phone_masked = p.phone_fields(tel)
        else:
            plain.append((number, tel))
        hcode = g.household_code
        if hcode is not None and hcode not in households:
            households[hcode] = (g.address, g.village_id)
        row = (g.name, g.sex, g.birth.isoformat(), id_enc, id_hash, id_masked, phone_enc,
               phone_hash, phone_masked, hcode, g.address, g.village_id, g.status)
        rows.append(row)
        if copy_tail is not None:
            # only the free-text values can hold characters to escape; the others are hex, base64url,
            # masks, ISO dates, integers and status words
            phone_part = (f"{phone_enc}\t{phone_hash}\t{phone_masked}\t" if phone_enc is not None
                          else "\\N\t\\N\t\\N\t")
            out.copy.append((
                f"{copy_text(g.name)}\t{g.sex}\t{row[2]}\t{id_enc}\t{id_hash}\t{id_masked}\t{phone_part}",
                f"\t{copy_text(g.address)}\t{g.village_id}\t{g.status}{copy_tail}"))
        lines.append(rownum)
        keys.append(int(number[:17]))
    return out
