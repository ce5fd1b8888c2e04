"""Reading what `custody ship` is given into records that know where they came from.

A file (or stdin, or a `.gz` of either) is NDJSON when its first non-blank line is a
complete JSON value, and one JSON document otherwise (a pretty-printed CloudTrail
`{"Records": [...]}` file, an array, an OpenAI list response). `.json5` documents may
have trailing commas. Each record carries its origin (`file:line` or `file[index]`), so
a refusal can be mapped back to the line that caused it, and its byte position, from
which ids are derived and `--follow` resumes.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any, cast

import orjson

from service.adapters import AdapterError, flatten, loads_trailing_commas
from service.client.registry import fingerprint, make_key

STDIN = "-"


@dataclass(frozen=True, slots=True)
class Record:
    """One JSON value to ship. `line` is the original NDJSON line (reused verbatim when it
    is already a Custody event with an id); `start`/`end` are its byte offsets."""

    origin: str
    value: Any
    start: int
    end: int
    line: bytes | None = None
    file_key: str | None = None  # the file's identity (see `file_key`); None for stdin

    def derived_id(self) -> str:
        """A deterministic id for an event that has none: the file's identity, the
        record's position and its bytes. Re-reading the same file gives the same ids, so
        a retry or a second run stores nothing twice; two identical lines stay two events
        whether they sit at two offsets of one file or at one offset of two files."""
        content = self.line if self.line is not None else orjson.dumps(self.value)
        key = self.file_key.encode() + b"\0" if self.file_key else b""
        digest = hashlib.sha256(key + b"%d\0" % self.start + content).hexdigest()
        return f"ship-{digest[:40]}"


class InputError(ValueError):
    """A record that cannot be read (malformed JSON); `origin` says where."""

    def __init__(self, origin: str, message: str) -> None:
        super().__init__(f"{origin}: {message}")
        self.origin = origin
        self.message = message


def open_input(path: str) -> tuple[str, IO[bytes]]:
    if path == STDIN:
        return "<stdin>", sys.stdin.buffer
    if path.endswith(".gz"):
        return path, cast(IO[bytes], gzip.open(path, "rb"))
    return path, open(path, "rb")


def file_key(path: str, head: bytes) -> str:
    """The identity of a file for derived ids: device, inode and a fingerprint of its
    first line (`head` is its uncompressed beginning), as `--follow` names it when it
    first sees the file. Not its path: a rotated file keeps its ids under its new name."""
    fp = fingerprint(head)
    if fp is None:  # the whole file is one line without its newline
        fp = (len(head), hashlib.sha256(head).hexdigest())
    stat = os.stat(path)
    return make_key(stat.st_dev, stat.st_ino, fp)


def records_of(
    name: str, value: Any, start: int, end: int, line: bytes | None, key: str | None = None
) -> list[Record]:
    """One record, or the records of a container (an array, `{"Records": [...]}`,
    `{"object": "list", ...}`) found on one line or as the whole document."""
    if not isinstance(value, dict | list) or (
        isinstance(value, dict) and "Records" not in value and value.get("object") != "list"
    ):
        return [Record(name, value, start, end, line, key)]
    items = flatten(value)
    # Records of one container share its bytes: position keys start + i stay distinct
    # (every item takes at least two bytes), and only the last one completes the line.
    return [
        Record(f"{name}[{i}]", item, start + i, end if i == len(items) - 1 else start, None, key)
        for i, item in enumerate(items)
    ]


def iter_lines(
    name: str, lines: Iterable[bytes], offset: int = 0, key: str | None = None
) -> Iterator[Record]:
    """NDJSON records; `offset` is the input position of the first line's first byte."""
    for number, raw in enumerate(lines, start=1):
        start, offset = offset, offset + len(raw)
        line = raw.strip()
        if not line:
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"{name}:{number}", f"malformed JSON: {exc}") from None
        yield from records_of(f"{name}:{number}", value, start, offset, line, key)


def _document(name: str, data: bytes) -> Any:
    if name.removesuffix(".gz").endswith(".json5"):
        try:
            return loads_trailing_commas(data.decode("utf-8"))
        except (AdapterError, UnicodeDecodeError) as exc:
            raise InputError(name, str(exc)) from None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InputError(name, f"malformed JSON: {exc}") from None


def read_records(path: str) -> Iterator[Record]:
    """Every record of one input, NDJSON streamed, a document parsed whole."""
    name, stream = open_input(path)
    try:
        head: list[bytes] = []
        for raw in stream:  # up to the first non-blank line, which decides the kind
            head.append(raw)
            if raw.strip():
                break
        is_lines = True  # an empty input is an empty NDJSON stream
        if head and head[-1].strip():
            try:
                orjson.loads(head[-1])
            except orjson.JSONDecodeError:
                is_lines = False
        key = file_key(path, b"".join(head)) if path != STDIN else None
        if is_lines:
            yield from iter_lines(name, itertools.chain(head, stream), key=key)
        else:
            value = _document(name, b"".join(head) + stream.read())
            yield from records_of(name, value, 0, 0, None, key)
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
