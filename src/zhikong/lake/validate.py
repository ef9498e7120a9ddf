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


def required_string(col: pa.ChunkedArray, name: str, chk: Checker) -> pa.ChunkedArray:
    if not _is_string(col):
        col = pc.cast(col, pa.string())
    col = pc.utf8_trim_whitespace(col)
    chk.add(pc.or_kleene(pc.is_null(col), pc.equal(col, "")), name, "missing value")
    return col


def optional_string(col: pa.ChunkedArray) -> pa.ChunkedArray:
    if not _is_string(col):
        col = pc.cast(col, pa.string())
    return pc.fill_null(pc.utf8_trim_whitespace(col), "")


def timestamp(col: pa.ChunkedArray, name: str, chk: Checker, lo: pa.Scalar, hi: pa.Scalar,
              offsets: tuple[str, ...]) -> pa.ChunkedArray:
    """ISO-8601 text with a UTC offset in ``offsets`` (or 'Z'), or a zoned timestamp → UTC."""
    if pa.types.is_timestamp(col.type):
        if col.type.tz is None:
            chk.add(np.ones(len(col), dtype=bool), name, "timestamp without time zone")
            return pc.cast(pc.assume_timezone(col, "UTC"), TS)
        out = pc.cast(col, TS)
    else:
        if not _is_string(col):
            chk.add(np.ones(len(col), dtype=bool), name, f"not a timestamp (type {col.type})")
            return pa.chunked_array([pa.nulls(len(col), TS)])
        col = pc.utf8_trim_whitespace(col)
        out = pc.cast(pc.strptime(col, format="%Y-%m-%dT%H:%M:%S%z", unit="us", error_is_null=True), TS)
        failed = _np_bool(pc.and_(pc.is_null(out), pc.is_valid(col)))
        if failed.any():
            # slow path only for the rows strptime did not take: fractions, space separator, errors
            idx = np.flatnonzero(failed)
            vals = col.take(pa.array(idx)).to_pylist()
            fixed: list[object] = []
            naive = np.zeros(len(col), dtype=bool)
            bad = np.zeros(len(col), dtype=bool)
            for i, v in zip(idx, vals, strict=True):
                try:
                    fixed.append(pc.cast(pa.array([v]), TS)[0].as_py())
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    fixed.append(None)
                    try:
                        pc.cast(pa.array([v]), pa.timestamp("us"))
                        naive[i] = True
                    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                        bad[i] = True
            patch = np.zeros(len(col), dtype=np.int64)
            patch_valid = np.zeros(len(col), dtype=bool)
            for i, v in zip(idx, fixed, strict=True):
                if v is not None:
                    patch[i] = int(pa.scalar(v, TS).cast(pa.int64()).as_py())
                    patch_valid[i] = True
            base = pc.cast(out, pa.int64()).to_numpy(zero_copy_only=False)
            base = np.where(patch_valid, patch, np.nan_to_num(base).astype(np.int64))
            out = pa.chunked_array([pa.array(base, pa.int64()).cast(TS)])
            keep = ~(naive | bad) & ~_np_bool(pc.is_null(col))
            out = pc.if_else(pa.array(keep), out, pa.nulls(len(col), TS))
            chk.add(naive, name, "timestamp without UTC offset (expected e.g. 2020-03-01T08:00:00+08:00)")
            chk.add(bad, name, "not an ISO-8601 timestamp")
        # the offset must be the district's (or UTC): anything else is a wrong time zone
        tail6 = pc.utf8_slice_codeunits(col, -6)
        ok_off = pc.or_(pc.is_in(tail6, pa.array(list(offsets))), pc.ends_with(col, "Z"))
        tail5 = pc.utf8_slice_codeunits(col, -5)
        compact = [o.replace(":", "") for o in offsets]
        ok_off = pc.or_(ok_off, pc.is_in(tail5, pa.array(compact)))
        wrong = pc.and_(pc.is_valid(out), pc.invert(ok_off))
        chk.add(wrong, name, f"wrong time zone (expected offset {offsets[0]} or Z)")
    chk.add(pc.is_null(out), name, "missing timestamp")
    chk.add(pc.or_(pc.less(out, lo), pc.greater(out, hi)), name,
            f"timestamp out of range [{lo.as_py():%Y-%m-%d}, {hi.as_py():%Y-%m-%d %H:%M}]")
    return out


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
                 hasher: Callable[[str], str]) -> pa.Array:
    """Replace identifiers by the keyed hash of their normalised form (validated per distinct value).

    Work per row is one dictionary encoding and one ``take``; normalisation and HMAC run once per
    distinct identifier (and ``hasher`` may cache across batches).
    """
    if not _is_string(col):
        col = pc.cast(col, pa.string())
    enc = pc.dictionary_encode(pc.fill_null(col, "")).combine_chunks()
    values = enc.dictionary.to_pylist()
    norm = normalise_phone if kind == "phone" else normalise_id
    hashes: list[str | None] = []
    reasons: list[str] = []
    for v in values:
        n, why = norm(v)
        hashes.append(hasher(n) if n is not None else None)
        reasons.append(why)
    idx = enc.indices.to_numpy(zero_copy_only=False)
    for why in sorted(set(reasons) - {""}):
        bad_vals = np.array([r == why for r in reasons])
        chk.add(bad_vals[idx], name, why)
    return pa.array(hashes, pa.string()).take(enc.indices)
