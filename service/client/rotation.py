"""Where log rotation puts a followed file: its rotated siblings in the same directory
(`name.1`, `name.2.gz`, `name-20261205`, `name.2026-12-05.gz`), with a lazily read
fingerprint of each (decompressed for .gz)."""

from __future__ import annotations

import gzip
import os
import re
import zlib
from dataclasses import dataclass
from typing import IO, cast

from service.client.registry import FINGERPRINT_BYTES, fingerprint

# What logrotate and friends append: .1, .2.gz, -20261205, .2026-12-05, -20261205.gz.
ROTATED = re.compile(r"[.-][0-9][0-9_:T.-]*(\.gz)?")


@dataclass
class Candidate:
    """A rotated sibling of the followed file, as found on disk."""

    path: str
    stat: os.stat_result
    gz: bool
    _fp: tuple[int, str] | None = None
    _read: bool = False

    @property
    def fp(self) -> tuple[int, str] | None:
        if not self._read:
            self._read = True
            try:
                with open_file(self.path, self.gz) as stream:
                    self._fp = fingerprint(stream.read(FINGERPRINT_BYTES))
            except (OSError, EOFError, zlib.error):
                self._fp = None
        return self._fp


def open_file(path: str, gz: bool) -> IO[bytes]:
    return cast(IO[bytes], gzip.open(path, "rb")) if gz else open(path, "rb")


def siblings(path: str, exclude: set[str]) -> list[Candidate]:
    """Rotated versions of `path` in its directory."""
    folder, name = os.path.split(os.path.abspath(path))
    found = []
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    for other in names:
        full = os.path.join(folder, other)
        if not other.startswith(name) or full in exclude:
            continue
        if not ROTATED.fullmatch(other[len(name) :]):
            continue
        try:
            stat = os.stat(full)
        except FileNotFoundError:
            continue
        found.append(Candidate(full, stat, other.endswith(".gz")))
    return found
