"""Column checks and conversions for ingest, vectorised with pyarrow.compute.

Each check takes a column (string as delivered in CSV/JSON, or already typed from Parquet) and
returns the converted column plus a list of ``Problem`` (a boolean mask of bad rows, the field and
the reason). ``Checker`` gathers them in column order so each rejected row gets the first reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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
    if isinstance(col, pa.ChunkedArray):
        if pa.types.is_dictionary(col.type):
            col = col.unify_dictionaries()
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if not pa.types.is_dictionary(col.type):
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            col = pc.cast(col, pa.string())
        col = pc.dictionary_encode(col)
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


def _parse_times(vals: pa.Array, offsets: tuple[str, ...]) -> tuple[pa.Array, list[tuple[str, np.ndarray]]]:
    """Parse distinct timestamp texts; return them as UTC and the reasons of those that fail."""
    n = len(vals)
    out = pc.cast(pc.strptime(vals, format="%Y-%m-%dT%H:%M:%S%z", unit="us", error_is_null=True), TS)
    failed = np.flatnonzero(_np_bool(pc.is_null(out)) & ~_np_bool(pc.equal(vals, "")))
    naive = np.zeros(n, dtype=bool)
    bad = np.zeros(n, dtype=bool)
    if len(failed):
        # slow path only for what strptime did not take: fractions, a space separator, errors
        us = pc.cast(out, pa.int64()).to_numpy(zero_copy_only=False).astype(np.float64)
        for i in failed.tolist():
            v = vals[i].as_py()
            try:
                us[i] = pc.cast(pa.array([v]), TS).cast(pa.int64())[0].as_py()
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                try:
                    pc.cast(pa.array([v]), pa.timestamp("us"))
                    naive[i] = True
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    bad[i] = True
        out = pa.array(us, mask=np.isnan(us)).cast(pa.int64()).cast(TS)
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


_PHONE_RE = re.compile(r"^(?:\+86|0086|86)?(1[3-9]\d{9})$")
_ID_RE = re.compile(r"^\d{17}[\dX]$")


def normalise_phone(raw: str) -> tuple[str | None, str]:
    """``(E.164 form, '')`` or ``(None, reason)`` for a mainland mobile number."""
    s = raw.strip().replace(" ", "").replace("-", "")
    if not s:
        return None, "missing phone number"
    m = _PHONE_RE.match(s)
    if m is None:
        return None, "not a mainland mobile number"
    return "+86" + m.group(1), ""


def normalise_id(raw: str) -> tuple[str | None, str]:
    """``(18-character upper-case ID number, '')`` or ``(None, reason)``."""
    s = raw.strip().upper()
    if not s:
        return None, "missing ID number"
    if _ID_RE.match(s) is None:
        return None, "not an 18-character ID number"
    digits = np.frombuffer(s[:17].encode(), dtype=np.uint8).astype(np.int64) - 48
    if _CHECK[int((digits * _WEIGHTS).sum() % 11)] != ord(s[17]):
        return None, "ID number checksum does not match"
    return s, ""


def pseudonymise(col: pa.ChunkedArray, name: str, kind: str, chk: Checker,
                 hasher: Callable[[str], str]) -> pa.DictionaryArray:
    """Replace identifiers by the keyed hash of their normalised form (validated per distinct value).

    Work per row is one dictionary encoding and one ``take``; normalisation and HMAC run once per
    distinct identifier (and ``hasher`` may cache across batches).
    """
    enc = as_dict(col)
    values = enc.dictionary.to_pylist()
    norm = normalise_phone if kind == "phone" else normalise_id
    hashes: list[str] = []
    reasons: list[str] = []
    for v in values:
        n, why = norm(v)
        hashes.append(hasher(n) if n is not None else "")     # '' rows are rejected
        reasons.append(why)
    for why in sorted(set(reasons) - {""}):
        chk.add(row_mask(enc, np.array([r == why for r in reasons])), name, why)
    # dictionary-encoded: no per-row copy of the 64-character pseudonyms (Parquet stores it as a
    # dictionary-encoded string column; readers see plain strings)
    return pa.DictionaryArray.from_arrays(enc.indices, pa.array(hashes, pa.string()))
