"""Column checks and conversions for ingest, vectorised with pyarrow.compute.

Each check takes a column (string as delivered in CSV/JSON, or already typed from Parquet) and
returns the converted column plus a list of ``Problem`` (a boolean mask of bad rows, the field and
the reason). ``Checker`` gathers them in column order so each rejected row gets the first reason.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from zhikong.core.errors import InvalidInput

TS = pa.timestamp("us", tz="UTC")
_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)
_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)


@dataclass
class Problem:
    mask: np.ndarray      # bool per row
    field: str
    reason: str


@dataclass
class Checker:
    n: int
    problems: list[Problem] = field(default_factory=list)

    def add(self, mask: np.ndarray | pa.Array | pa.ChunkedArray, field_: str, reason: str) -> None:
        m = _np_bool(mask)
        if m.any():
            self.problems.append(Problem(m, field_, reason))

    def rejected(self) -> np.ndarray:
        bad = np.zeros(self.n, dtype=bool)
        for p in self.problems:
            bad |= p.mask
        return bad

    def first_reasons(self) -> list[tuple[int, str, str]]:
        """(row index, field, reason) of each rejected row, first problem per row, sorted by row."""
        taken = np.zeros(self.n, dtype=bool)
        out: list[tuple[int, str, str]] = []
        for p in self.problems:
            new = p.mask & ~taken
            taken |= new
            out += [(int(i), p.field, p.reason) for i in np.flatnonzero(new)]
        return sorted(out)


def _np_bool(mask: np.ndarray | pa.Array | pa.ChunkedArray) -> np.ndarray:
    if isinstance(mask, np.ndarray):
        return mask.astype(bool)
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def _is_string(col: pa.ChunkedArray) -> bool:
    return pa.types.is_string(col.type) or pa.types.is_large_string(col.type)


def as_dict(col: pa.ChunkedArray | pa.Array) -> pa.DictionaryArray:
    """A text column as one dictionary array of trimmed, distinct values with nulls as ''.

    Checks and conversions then run once per distinct value (a feed repeats its towers, events,
    people and, within a day, its timestamps), and the result maps back to rows by index.
    """
    if not pa.types.is_dictionary(col.type):
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            col = pc.cast(col, pa.string())
        col = pc.dictionary_encode(col)   # chunk by chunk: the chunks share one growing dictionary
        if isinstance(col, pa.ChunkedArray):
            col = _shared_dict_chunks(col)
    if isinstance(col, pa.ChunkedArray):
        col = col.unify_dictionaries()
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    raw = pc.cast(col.dictionary, pa.string())
    values = pc.fill_null(pc.utf8_trim_whitespace(raw), "")
    if (col.indices.null_count == 0 and raw.null_count == 0 and pc.all(pc.equal(values, raw)).as_py()
            and len(pc.unique(values)) == len(values)):
        return col if col.indices.type == pa.int32() else pa.DictionaryArray.from_arrays(
            pc.cast(col.indices, pa.int32()), raw)                # already clean: no copy
    remap = pc.dictionary_encode(values)
    idx = pc.fill_null(col.indices, len(values))                # null rows → the '' entry
    values_ext = pa.concat_arrays([remap.dictionary, pa.array([""])])
    ext_idx = pa.concat_arrays([remap.indices, pa.array([len(remap.dictionary)], remap.indices.type)])
    new_idx = pc.take(ext_idx, pc.cast(idx, pa.int64()))
    return pa.DictionaryArray.from_arrays(pc.cast(new_idx, pa.int32()), values_ext)


def _shared_dict_chunks(col: pa.ChunkedArray) -> pa.DictionaryArray | pa.ChunkedArray:
    """The chunks of ``pc.dictionary_encode(chunked)`` as one array over the last chunk's
    dictionary (which holds every value), without hashing the values again."""
    if col.num_chunks == 0:
        return col
    last = col.chunk(col.num_chunks - 1).dictionary
    if not all(ch.dictionary.equals(last.slice(0, len(ch.dictionary))) for ch in col.chunks):
        return col
    idx = pa.concat_arrays([ch.indices for ch in col.chunks])
    return pa.DictionaryArray.from_arrays(idx, last)


def row_mask(col: pa.DictionaryArray, bad_values: np.ndarray | pa.Array) -> np.ndarray:
    """Per-row mask from a per-dictionary-value mask."""
    return _np_bool(bad_values)[col.indices.to_numpy(zero_copy_only=False)]


def required_string(col: pa.ChunkedArray | pa.Array, name: str, chk: Checker) -> pa.DictionaryArray:
    d = as_dict(col)
    chk.add(row_mask(d, pc.equal(d.dictionary, "")), name, "missing value")
    return d


def optional_string(col: pa.ChunkedArray | pa.Array) -> pa.DictionaryArray:
    return as_dict(col)


def value_check(d: pa.DictionaryArray, ok_values: pa.Array | np.ndarray, name: str, chk: Checker,
                reason: str) -> None:
    """Rows whose (non-empty) value fails ``ok_values`` (a mask over ``d.dictionary``)."""
    bad = ~_np_bool(ok_values) & ~_np_bool(pc.equal(d.dictionary, ""))
    chk.add(row_mask(d, bad), name, reason)


def timestamp(col: pa.ChunkedArray, name: str, chk: Checker, lo: pa.Scalar, hi: pa.Scalar,
              offsets: tuple[str, ...]) -> pa.ChunkedArray:
    """ISO-8601 text with a UTC offset in ``offsets`` (or 'Z'), or a zoned timestamp → UTC."""
    if pa.types.is_timestamp(col.type):
        if col.type.tz is None:
            chk.add(np.ones(len(col), dtype=bool), name, "timestamp without time zone")
            return pc.cast(pc.assume_timezone(col, "UTC"), TS)
        out = pc.cast(col, TS)
    else:
        if not (_is_string(col) or pa.types.is_dictionary(col.type)):
            chk.add(np.ones(len(col), dtype=bool), name, f"not a timestamp (type {col.type})")
            return pa.chunked_array([pa.nulls(len(col), TS)])
        d = as_dict(col)
        vals = d.dictionary
        parsed, problems = _parse_times(vals, offsets)
        idx = d.indices
        out = pc.take(parsed, idx)
        for reason, bad_vals in problems:
            chk.add(row_mask(d, bad_vals), name, reason)
        chk.add(row_mask(d, pc.equal(vals, "")), name, "missing timestamp")
    chk.add(pc.or_(pc.less(out, lo), pc.greater(out, hi)), name,
            f"timestamp out of range [{lo.as_py():%Y-%m-%d}, {hi.as_py():%Y-%m-%d %H:%M}]")
    return out


_NAIVE_RE = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$"


def _parse_times(vals: pa.Array, offsets: tuple[str, ...]) -> tuple[pa.Array, list[tuple[str, np.ndarray]]]:
    """Parse distinct timestamp texts (vectorised); return them as UTC and the reasons of failures.

    Accepted: ``YYYY-MM-DDTHH:MM:SS[.ffffff](±HH:MM|±HHMM|Z)``, a space instead of ``T`` too.
    """
    first = pc.strptime(vals, format="%Y-%m-%dT%H:%M:%S%z", unit="us", error_is_null=True)
    retry = np.flatnonzero(_np_bool(pc.is_null(first)))
    if len(retry):   # fractions of a second, a space separator, or errors: the slower regex path
        sub = _parse_flexible(vals.take(pa.array(retry)))
        us = pc.fill_null(pc.cast(first, pa.int64()), 0).to_numpy(zero_copy_only=False).copy()
        valid = _np_bool(pc.is_valid(first))
        us[retry] = pc.fill_null(pc.cast(sub, pa.int64()), 0).to_numpy(zero_copy_only=False)
        valid[retry] = _np_bool(pc.is_valid(sub))
        first = pa.array(us, pa.int64(), mask=~valid).cast(TS)
    return _classify(vals, pc.cast(first, TS), offsets)


def _parse_flexible(vals: pa.Array) -> pa.Array:
    s = pc.replace_substring_regex(vals, r"^(\d{4}-\d{2}-\d{2}) ", r"\1T")
    frac = pc.struct_field(pc.extract_regex(s, r"\.(?P<f>\d{1,6})"), [0])
    s = pc.replace_substring_regex(s, r"\.\d+", "")
    base = pc.strptime(s, format="%Y-%m-%dT%H:%M:%S%z", unit="us", error_is_null=True)
    frac_us = pc.fill_null(pc.cast(pc.utf8_rpad(frac, 6, "0"), pa.int64()), 0)
    return pc.cast(pc.add(pc.cast(base, pa.int64()), frac_us), TS)


def _classify(vals: pa.Array, out: pa.Array,
              offsets: tuple[str, ...]) -> tuple[pa.Array, list[tuple[str, np.ndarray]]]:
    failed = _np_bool(pc.is_null(out)) & ~_np_bool(pc.equal(vals, ""))
    naive = failed & _np_bool(pc.match_substring_regex(vals, _NAIVE_RE))
    bad = failed & ~naive
    # the offset must be the district's (or UTC): anything else is a wrong time zone
    ok_off = pc.or_(pc.is_in(pc.utf8_slice_codeunits(vals, -6), pa.array(list(offsets))),
                    pc.ends_with(vals, "Z"))
    compact = [o.replace(":", "") for o in offsets]
    ok_off = pc.or_(ok_off, pc.is_in(pc.utf8_slice_codeunits(vals, -5), pa.array(compact)))
    wrong = _np_bool(pc.is_valid(out)) & ~_np_bool(ok_off)
    out = pc.if_else(pa.array(naive | bad | wrong), pa.scalar(None, TS), out)
    return out, [("timestamp without UTC offset (expected e.g. 2020-03-01T08:00:00+08:00)", naive),
                 ("not an ISO-8601 timestamp", bad),
                 (f"wrong time zone (expected offset {offsets[0]} or Z)", wrong)]


def number(col: pa.ChunkedArray, name: str, chk: Checker, typ: pa.DataType, lo: float, hi: float,
           required: bool = True) -> pa.ChunkedArray:
    if _is_string(col):
        col = pc.utf8_trim_whitespace(col)
        empty = pc.equal(col, "")
        col = pc.if_else(empty, pa.scalar(None, pa.string()), col)
        num = pc.if_else(pc.match_substring_regex(col, r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"),
                         col, pa.scalar(None, pa.string()))
        chk.add(pc.and_(pc.is_valid(col), pc.is_null(num)), name, f"not a number (expected {typ})")
        out = pc.cast(num, pa.float64())
    elif pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
        out = pc.cast(col, pa.float64())
    else:
        chk.add(np.ones(len(col), dtype=bool), name, f"wrong type {col.type} (expected {typ})")
        out = pa.chunked_array([pa.nulls(len(col), pa.float64())])
    if required:
        chk.add(pc.is_null(out), name, "missing value")
    chk.add(pc.or_(pc.less(out, lo), pc.greater(out, hi)), name, f"out of range [{lo:g}, {hi:g}]")
    if pa.types.is_integer(typ):
        out = pc.round(out)
        out = pc.if_else(pc.or_(pc.less(out, lo), pc.greater(out, hi)), pa.scalar(None, pa.float64()), out)
    return pc.cast(out, typ, safe=False)


_PHONE_RE = re.compile(r"^(?:\+86|0086|86)?(1[3-9][0-9]{9})$")
_ID_RE = re.compile(r"^[0-9]{17}[0-9X]$")
#: ``_PHONE_RE`` for pyarrow (RE2); anything it does not match takes the slow path
_PHONE_FAST = r"^(?:\+86|0086|86)?(?P<d>1[3-9][0-9]{9})$"


def _people_reason(exc: InvalidInput) -> str:
    """The people domain's message without the value it quotes (no identifier in reject files)."""
    return re.sub(r"\s+", " ", re.sub(r"'[^']*'\s*", "", exc.message)).strip()


def normalise_phone(raw: str) -> tuple[str | None, str]:
    """``(E.164 form, '')`` or ``(None, reason)`` for a mainland mobile number.

    The common spellings (11 digits, +86/0086/86, spaces, dashes) take a fast path; anything else
    goes through the ledger's own normaliser (``people.phone``: full-width digits, other separators,
    number ranges), so a pid means the same number as the ledger's hash.
    """
    s = raw.strip().replace(" ", "").replace("-", "")
    if not s:
        return None, "missing phone number"
    m = _PHONE_RE.match(s)
    if m is not None:
        return "+86" + m.group(1), ""
    from zhikong.people import phone

    try:
        return phone.normalise(raw), ""
    except InvalidInput as e:
        return None, f"not a mainland mobile number ({_people_reason(e)})"


def normalise_id(raw: str) -> tuple[str | None, str]:
    """``(18-character upper-case ID number, '')`` or ``(None, reason)``.

    Well-formed 18-character numbers with a valid check character take a fast path; anything else
    goes through the ledger's normaliser (``people.idcard``: full-width characters, the old
    15-digit form, birth-date checks).
    """
    s = raw.strip().upper()
    if not s:
        return None, "missing ID number"
    if _ID_RE.match(s) is not None:
        digits = np.frombuffer(s[:17].encode(), dtype=np.uint8).astype(np.int64) - 48
        if _CHECK[int((digits * _WEIGHTS).sum() % 11)] == ord(s[17]):
            return s, ""
    from zhikong.people import idcard

    try:
        return idcard.normalise(raw), ""
    except InvalidInput as e:
        return None, f"not a valid ID number ({_people_reason(e)})"


def normalise_many(vals: pa.Array, kind: str) -> tuple[pa.Array, dict[str, np.ndarray]]:
    """Normalise distinct identifier texts: the normalised forms (null where invalid) and, per
    reason, a mask over ``vals`` of the invalid ones.

    The common spellings are recognised vectorised (the same patterns as the fast paths of
    :func:`normalise_phone` / :func:`normalise_id`); only the rest go through those functions one by
    one (so full-width digits, 15-digit ID numbers etc. still get the ledger's normal form).
    """
    if kind == "phone":
        s = pc.replace_substring_regex(pc.utf8_trim_whitespace(vals), r"[ -]", "")
        digits = pc.struct_field(pc.extract_regex(s, _PHONE_FAST), [0])
        fast = pc.binary_join_element_wise("+86", digits, "")
        slow_fn = normalise_phone
    else:
        s = pc.utf8_upper(pc.utf8_trim_whitespace(vals))
        fast = pc.if_else(_id_checksum_ok(s), s, pa.scalar(None, pa.string()))
        slow_fn = normalise_id
    slow = np.flatnonzero(_np_bool(pc.is_null(fast)))
    reasons: dict[str, np.ndarray] = {}
    if not len(slow):
        return fast, reasons
    found: list[str | None] = []
    for i, raw in zip(slow.tolist(), vals.take(pa.array(slow)).to_pylist(), strict=True):
        n, why = slow_fn(raw or "")
        found.append(n)
        if n is None:
            reasons.setdefault(why, np.zeros(len(vals), dtype=bool))[i] = True
    # put the slow path's results in place: fast values, then the found ones, picked by index
    pick = np.arange(len(vals))
    pick[slow] = len(vals) + np.arange(len(slow))
    both = pa.concat_arrays([pc.cast(fast, pa.string()), pa.array(found, pa.string())])
    return both.take(pa.array(pick)), reasons


def _id_checksum_ok(s: pa.Array) -> np.ndarray:
    """Mask of values that are 17 ASCII digits plus a correct check character (GB 11643)."""
    shape = _np_bool(pc.match_substring_regex(s, r"^[0-9]{17}[0-9X]$"))
    idx = np.flatnonzero(shape)
    ok = np.zeros(len(s), dtype=bool)
    if len(idx):
        sub = s.take(pa.array(idx))
        sub = pa.array(sub.to_pylist(), pa.string()) if sub.offset else sub
        offs = np.frombuffer(sub.buffers()[1], dtype=np.int32)[: len(sub) + 1]
        data = np.frombuffer(sub.buffers()[2], dtype=np.uint8)[offs[0]:offs[-1]].reshape(-1, 18)
        total = ((data[:, :17].astype(np.int64) - 48) * _WEIGHTS).sum(axis=1)
        ok[idx] = _CHECK[total % 11] == data[:, 17]
    return ok


def keyed_hashes(normalised: pa.Array, key: bytes) -> pa.Array:
    """``PiiCipher.keyed_hash`` (HMAC-SHA256, lower-case hex) of every value, computed in bulk.

    HMAC(K, m) = SHA256((K ^ opad) || SHA256((K ^ ipad) || m)) (RFC 2104), evaluated by DuckDB's
    vectorised ``sha256`` on both cores; nulls stay null. Equal to ``hmac.new(key, m, sha256)``
    (checked by the tests against ``PiiCipher.keyed_hash``).
    """
    if len(normalised) == 0:
        return pa.array([], pa.string())
    k = hashlib.sha256(key).digest() if len(key) > 64 else key
    k = k.ljust(64, b"\0")
    ipad = bytes(b ^ 0x36 for b in k)
    opad = bytes(b ^ 0x5C for b in k)
    con = duckdb.connect(config={"preserve_insertion_order": True})     # results in input order
    try:
        con.execute("SET enable_progress_bar = false")
        tbl = pa.table({"m": pc.cast(normalised, pa.string())})
        con.register("ids", tbl)
        out = con.sql("SELECT sha256($o::BLOB || unhex(sha256($i::BLOB || encode(m)))) AS h FROM ids",
                      params={"i": ipad, "o": opad}).to_arrow_table()
    finally:
        con.close()
    return pc.cast(out.column("h").combine_chunks(), pa.string())


#: hash key → normalised identifier → pseudonym, kept between batches of one process (the same
#: phones come back every day); bounded, in memory only (as the ingest holds the plaintext anyway)
_PIDS: dict[bytes, dict[str, str]] = {}
PID_CACHE_MAX = 2_000_000


def cached_keyed_hashes(normalised: pa.Array, key: bytes) -> pa.Array:
    """:func:`keyed_hashes` with the pseudonyms of earlier batches reused (nulls stay null)."""
    cache = _PIDS.setdefault(key, {})
    vals: list[str | None] = pc.cast(normalised, pa.string()).to_pylist()
    got: list[str | None] = [None] * len(vals)
    if cache:
        got = [cache.get(v) if v is not None else None for v in vals]
    miss = [i for i, (v, g) in enumerate(zip(vals, got, strict=True)) if g is None and v is not None]
    if miss:
        fresh = keyed_hashes(pa.array([vals[i] for i in miss], pa.string()), key).to_pylist()
        if len(cache) + len(miss) > PID_CACHE_MAX:
            cache.clear()
        for i, h in zip(miss, fresh, strict=True):
            got[i] = h
            cache[str(vals[i])] = h
    return pa.array(got, pa.string())


def pseudonymise(col: pa.ChunkedArray, name: str, kind: str, chk: Checker, key: bytes) -> pa.DictionaryArray:
    """Replace identifiers by the keyed hash of their normalised form (validated per distinct value).

    Work per row is one dictionary encoding and one ``take``; normalisation runs once per distinct
    raw spelling (vectorised for the common ones) and the HMAC once per distinct normalised value.
    Invalid identifiers get the pseudonym '' and a reason (their rows are rejected).
    """
    enc = as_dict(col)
    norm, reasons = normalise_many(enc.dictionary, kind)
    for why in sorted(reasons):
        chk.add(row_mask(enc, reasons[why]), name, why)
    # spellings of one number share one entry (and one hash); invalid ones share the '' entry
    distinct = pc.dictionary_encode(norm, null_encoding="encode")
    hashes = pc.fill_null(cached_keyed_hashes(distinct.dictionary, key), "")
    idx = pc.take(distinct.indices, enc.indices)
    # dictionary-encoded: no per-row copy of the 64-character pseudonyms (Parquet stores it as a
    # dictionary-encoded string column; readers see plain strings)
    return pa.DictionaryArray.from_arrays(pc.cast(idx, pa.int32()), hashes)
