"""What `custody ship --follow` remembers between runs: every file it has been reading.

A file is known by its identity, not its name (rotation renames it): device + inode, and
a fingerprint of its first line (at most FINGERPRINT_BYTES), which tells a reused inode
from the file that had it and finds a file again after `gzip` or a copy (copytruncate)
gave it another inode. Each entry keeps the offset up to which the server acknowledged
the file's lines (in the uncompressed content). Like Filebeat's registry and Fluent
Bit's tail database, but one small JSON file written by rename.

The entry's `key` names the file for the ids derived for lines without one (see
`sources.file_key`): it is fixed when the file is first seen and kept when the file is
later found renamed, compressed or copied, so its lines keep their ids.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

FINGERPRINT_BYTES = 1024
VERSION = 2


def fingerprint(head: bytes) -> tuple[int, str] | None:
    """(length, sha256) of the first line (newline included, at most FINGERPRINT_BYTES)
    of `head`; None while that line is incomplete: the file is too young to be known."""
    cut = head.find(b"\n", 0, FINGERPRINT_BYTES)
    if cut >= 0:
        head = head[: cut + 1]
    elif len(head) >= FINGERPRINT_BYTES:
        head = head[:FINGERPRINT_BYTES]
    else:
        return None
    return len(head), hashlib.sha256(head).hexdigest()


def read_fingerprint(stream: IO[bytes]) -> tuple[int, str] | None:
    """The fingerprint of an open file; the stream position is left where it was."""
    position = stream.tell()
    stream.seek(0)
    try:
        return fingerprint(stream.read(FINGERPRINT_BYTES))
    finally:
        stream.seek(position)


def make_key(device: int, inode: int, fp: tuple[int, str], generation: int = 0) -> str:
    """A file's name for derived ids. `generation` separates files that share device,
    inode and first line (a copytruncated file that starts over with the same line)."""
    text = f"{device}:{inode}:{fp[0]}:{fp[1]}"
    if generation:
        text += f":{generation}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass
class Entry:
    key: str
    device: int
    inode: int
    fingerprint: str | None  # None: loaded from a version 1 state file
    fingerprint_len: int
    offset: int  # acknowledged bytes of the uncompressed content
    path: str  # where it was last seen, for messages only
    # Read to its end after rotation (it no longer grows): offset of its last complete
    # line; -1 while it is or may be written. Saves re-reading a finished .gz.
    eof: int = -1

    def matches(self, fp: tuple[int, str] | None) -> bool:
        if self.fingerprint is None:
            return True
        return fp is not None and (self.fingerprint_len, self.fingerprint) == fp

    def same_file(self, stat: os.stat_result, fp: tuple[int, str] | None) -> bool:
        return (stat.st_dev, stat.st_ino) == (self.device, self.inode) and self.matches(fp)


class Registry:
    """The entries, shared by the reading thread (adds files) and the sending thread
    (records acknowledgements and saves)."""

    def __init__(self, entries: list[Entry] | None = None, saved_at: float = 0.0) -> None:
        self.entries: list[Entry] = entries or []
        self.saved_at = saved_at
        self.lock = threading.Lock()

    @classmethod
    def load(cls, path: Path | None) -> Registry:
        if path is None:
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except ValueError as exc:
            raise ValueError(f"unreadable state file {path}: {exc}") from exc
        try:
            if data.get("version") != VERSION:  # version 1: one file, no fingerprint
                old = Entry("", int(data["device"]), int(data["inode"]), None, 0, 0, "")
                old.offset = int(data["offset"])
                return cls([old], path.stat().st_mtime)
            return cls([_entry(e) for e in data["files"]], float(data["saved_at"]))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"unreadable state file {path}: {exc!r}") from exc

    def save(self, path: Path) -> None:
        with self.lock:
            self.saved_at = time.time()
            body = {
                "version": VERSION,
                "saved_at": self.saved_at,
                "files": [asdict(e) for e in self.entries],
            }
        # Write-then-rename: a crash leaves the old state or the new, never half of one.
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(body), encoding="utf-8")
        os.replace(tmp, path)

    def add(self, stat: os.stat_result, fp: tuple[int, str], path: str) -> Entry:
        with self.lock:
            same = [
                e
                for e in self.entries
                if (e.device, e.inode) == (stat.st_dev, stat.st_ino) and e.matches(fp)
            ]
            entry = Entry(
                make_key(stat.st_dev, stat.st_ino, fp, len(same)),
                stat.st_dev,
                stat.st_ino,
                fp[1],
                fp[0],
                0,
                path,
            )
            self.entries.append(entry)
            return entry

    def adopt(self, entry: Entry, stat: os.stat_result, fp: tuple[int, str], path: str) -> None:
        """A version 1 entry found again: give it the identity it lacked."""
        with self.lock:
            if entry.fingerprint is None:
                entry.fingerprint_len, entry.fingerprint = fp
                entry.key = make_key(stat.st_dev, stat.st_ino, fp)
            entry.path = path

    def ack(self, key: str, end: int) -> None:
        with self.lock:
            for entry in self.entries:
                if entry.key == key:
                    entry.offset = max(entry.offset, end)

    def finished(self, entry: Entry, eof: int) -> None:
        with self.lock:
            entry.eof = eof

    def forget(self, entries: list[Entry]) -> None:
        with self.lock:
            self.entries = [e for e in self.entries if e not in entries]


def _entry(data: dict[str, Any]) -> Entry:
    return Entry(
        str(data["key"]),
        int(data["device"]),
        int(data["inode"]),
        str(data["fingerprint"]),
        int(data["fingerprint_len"]),
        int(data["offset"]),
        str(data["path"]),
        int(data.get("eof", -1)),
    )
