"""Canonical bytes for hashing: RFC 8785 (JCS), with an orjson fast path.

orjson with sorted keys produces exactly the JCS bytes for the values we feed it once
the differences are removed: small integral floats (orjson writes `100.0`, JCS `100`)
are turned into ints; large integral floats, floats below 1e-5 (exponent notation
differs) and keys outside the Basic Multilingual Plane (JCS sorts by UTF-16 code
units, orjson by code points) send the value to the `rfc8785` package instead.
`tests/logformat/test_canonical.py` proves the equality with hypothesis.
"""

from __future__ import annotations

import math
from typing import Any

import orjson
import rfc8785

MAX_SAFE_INTEGER = 2**53 - 1
MAX_DEPTH = 64


class NotIJSON(ValueError):
    """A value JCS cannot canonicalize (I-JSON, RFC 7493); `path` names where it is."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def _normalize(value: Any, path: str, depth: int) -> tuple[Any, bool]:
    """Return (value with integral floats as ints, whether the slow path is needed)."""
    if depth > MAX_DEPTH:
        raise NotIJSON(path, f"nesting deeper than {MAX_DEPTH} levels")
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return value, False
    if kind is int:
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return value, False
        raise NotIJSON(path, "integer outside +-(2^53-1), which JSON cannot carry exactly")
    if kind is float:
        if not math.isfinite(value):
            raise NotIJSON(path, "non-finite number")
        if value.is_integer():
            # Small integral floats print like ints in JCS; large ones need its exponent form.
            return (int(value), False) if abs(value) <= MAX_SAFE_INTEGER else (value, True)
        # Below 1e-5 orjson switches to exponent notation earlier than JCS (which does at 1e-7).
        return value, abs(value) < 1e-5
    if kind is dict:
        slow = False
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not key.isascii() and any(ord(ch) > 0xFFFF for ch in key):
                slow = True
            out[key], item_slow = _normalize(item, f"{path}.{key}", depth + 1)
            slow = slow or item_slow
        return out, slow
    if kind is list:
        slow = False
        items = []
        for i, item in enumerate(value):
            norm, item_slow = _normalize(item, f"{path}[{i}]", depth + 1)
            items.append(norm)
            slow = slow or item_slow
        return items, slow
    raise NotIJSON(path, f"unsupported JSON value of type {kind.__name__}")


def _as_is(value: Any, depth: int) -> bool:
    """Whether orjson's sorted output of `value` is already JCS, with nothing to refuse:
    a read-only walk, several times cheaper than `_normalize`'s copy, for the values
    nearly every event carries (strings, safe integers, ordinary floats)."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return bool(-MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER)
    if kind is float:
        return math.isfinite(value) and not value.is_integer() and abs(value) >= 1e-5
    if depth >= MAX_DEPTH:
        return False
    if kind is dict:
        for key, item in value.items():
            if not key.isascii():
                return False
            kind = type(item)
            if kind is str or (kind is int and -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER):
                continue
            if not _as_is(item, depth + 1):
                return False
        return True
    if kind is list:
        return all(_as_is(item, depth + 1) for item in value)
    return False


def canonical_json(value: Any, path: str = "$") -> bytes:
    """JCS bytes of any accepted JSON value; raises NotIJSON for values JCS refuses."""
    if _as_is(value, 0):
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except TypeError:
            pass  # strings that are not valid Unicode: `_normalize` words the error
    normalized, slow = _normalize(value, path, 0)
    try:
        if slow:
            return bytes(rfc8785.dumps(normalized))
        return orjson.dumps(normalized, option=orjson.OPT_SORT_KEYS)
    except (TypeError, ValueError, rfc8785.CanonicalizationError) as exc:
        # Lone surrogates and similar strings that are not valid Unicode land here.
        raise NotIJSON(path, f"cannot be canonicalized: {exc}") from exc


def canonical_record(record: dict[str, Any]) -> bytes:
    """JCS bytes of a log record.

    Records have fixed ASCII keys and only strings, ints and nulls as values, for which
    orjson's sorted output is exactly JCS, so no normalization walk is needed.
    """
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
