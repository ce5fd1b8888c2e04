"""Turning shipped text into parsed JSON values: strict by default, tolerant only on request.

Vendor exports are not always strict JSON: OpenAI's official audit-log list example has
trailing commas, and gateway `.log` files end without a newline. The rule (FORMATS.md):
a tolerant *reader* where the file kind calls for it, a strict JSON parser on every
record, and a clear error instead of guessing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from service.adapters.common import AdapterError

NDJSON_SUFFIXES = frozenset({".jsonl", ".ndjson", ".log"})


def _reject_constant(name: str) -> Any:
    # json.loads accepts NaN/Infinity by default; they are not JSON and not I-JSON.
    raise ValueError(f"{name} is not valid JSON")


def loads_strict(text: str | bytes) -> Any:
    """Parse one JSON text (RFC 8259); NaN/Infinity are refused. Raises AdapterError."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise AdapterError(f"invalid JSON: {exc}") from exc


def strip_trailing_commas(text: str) -> str:
    """Remove commas that directly precede `]` or `}` (whitespace between allowed).

    Commas inside string literals are left alone: the scan tracks string state and
    backslash escapes, so `"a,]"` survives. Nothing else about JSON5 is supported.
    """
    out: list[str] = []
    in_string = False
    escaped = False
    pending_comma: int | None = None  # index in `out` of a comma that may be trailing
    for ch in text:
        if in_string:
            out.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch in "]}" and pending_comma is not None:
            out[pending_comma] = ""
        if ch == ",":
            pending_comma = len(out)
        elif not ch.isspace():
            pending_comma = None
        if ch == '"':
            in_string = True
        out.append(ch)
    return "".join(out)


def loads_trailing_commas(text: str) -> Any:
    """Parse JSON that may contain trailing commas (the `.json5` samples), else strict."""
    return loads_strict(strip_trailing_commas(text))


def iter_ndjson(lines: Iterable[str | bytes]) -> Iterator[tuple[int, Any]]:
    """Yield (1-based line number, parsed value) for each non-blank line.

    A missing final newline is fine; a line that is not strict JSON raises an
    AdapterError naming the line.
    """
    for number, line in enumerate(lines, start=1):
        text = line.decode("utf-8") if isinstance(line, bytes) else line
        if not text.strip():
            continue
        try:
            yield number, loads_strict(text)
        except AdapterError as exc:
            raise AdapterError(f"line {number}: {exc}") from exc


def load_file(path: str | Path) -> Any:
    """Read a sample or export file, choosing the reader by suffix.

    `.jsonl`/`.ndjson`/`.log` -> a list of the lines' values; `.json5` -> trailing
    commas tolerated; anything else -> one strict JSON document.
    """
    file = Path(path)
    text = file.read_text(encoding="utf-8")
    suffix = file.suffix.lower()
    if suffix in NDJSON_SUFFIXES:
        return [value for _, value in iter_ndjson(text.splitlines())]
    if suffix == ".json5":
        return loads_trailing_commas(text)
    return loads_strict(text)
