"""`custody ship --follow`: read a growing NDJSON file like `tail -F`, across rotations.

The registry (service.client.registry) remembers every file by identity and the offset
the server acknowledged. On start the follower first finishes the files it had not
finished, wherever rotation put them: renamed (`name.1`, `name-20261205`), compressed
(`name.1.gz`) or copied before a truncation (copytruncate); then it follows the file at
the path. A rotated file the registry does not know yet but that changed after the last
state save (two rotations while the shipper was down) is read whole. While running, a
replaced file is drained through its open handle before the new one is opened, and a
truncated one is finished from its copy first.

Lines re-read after a crash between an acknowledgement and the state write are
harmless: their ids are derived from the file's identity, offset and content, so the
server counts them as duplicates.
"""

from __future__ import annotations

import gzip
import os
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Final

import orjson

from service.client.registry import FINGERPRINT_BYTES, Entry, Registry, fingerprint
from service.client.registry import read_fingerprint as _fingerprint_of
from service.client.rotation import Candidate, open_file, siblings
from service.client.sources import InputError, Record, records_of


class Idle:
    """Yielded when the file has been quiet for a while: time to send a partial batch."""


IDLE: Final = Idle()
READ_SIZE = 1024 * 1024


class Follower:
    def __init__(
        self,
        path: str,
        *,
        registry: Registry,
        stop: threading.Event,
        poll: float = 0.2,
        idle: float = 1.0,
        state_file: Path | None = None,
        note: Callable[[str], None] | None = None,
    ) -> None:
        self.path = path
        self.registry = registry
        self.stop = stop
        self.poll = poll
        self.idle = idle
        self.note = note or (lambda _message: None)
        self._exclude = {os.path.abspath(path)}
        if state_file is not None:
            state = os.path.abspath(state_file)
            self._exclude |= {state, state + ".tmp"}
        self._retired: set[str] = set()  # keys of entries no longer at the path
        self._read: dict[str, int] = {}  # key -> offset read up to, in this run

    # ------------------------------------------------------------------ startup

    def _current(self) -> tuple[os.stat_result, tuple[int, str] | None] | None:
        try:
            with open(self.path, "rb") as stream:
                return os.fstat(stream.fileno()), _fingerprint_of(stream)
        except FileNotFoundError:
            return None

    def _find(self, entry: Entry, candidates: list[Candidate]) -> Candidate | None:
        """Where rotation put a known file: the same inode, else a copy (another inode,
        same first line, at least as long as what was acknowledged), else a .gz of it."""
        for candidate in candidates:
            if not candidate.gz and entry.same_file(candidate.stat, candidate.fp):
                return candidate
        if entry.fingerprint is None:
            return None
        for candidate in candidates:
            big_enough = candidate.stat.st_size >= entry.offset
            if not candidate.gz and big_enough and entry.matches(candidate.fp):
                return candidate
        for candidate in candidates:
            if candidate.gz and entry.matches(candidate.fp):
                return candidate
        return None

    def _backlog(self, since: float) -> Iterator[Record]:
        """Finish the known files rotation moved, and read whole the rotated files never
        seen that changed after `since` (the last state save, or when the file just
        replaced was opened: rotated twice before the shipper looked)."""
        registry = self.registry
        current = self._current()
        with registry.lock:
            entries = list(registry.entries)
        if current is not None:
            stat, fp = current
            at_path = [e for e in entries if e.key not in self._retired and e.same_file(stat, fp)]
            if at_path and stat.st_size >= at_path[-1].offset:
                entries.remove(at_path[-1])  # followed next, from its offset
            elif at_path:  # truncated since: its copy, if any, is among the siblings
                self._retired.add(at_path[-1].key)
        candidates = siblings(self.path, self._exclude)
        plan: list[tuple[float, Candidate, Entry]] = []
        lost = []
        for entry in entries:
            found = self._find(entry, candidates)
            if found is None:
                lost.append(entry)
                continue
            candidates.remove(found)
            if self._unfinished(entry, found):
                plan.append((found.stat.st_mtime, found, entry))
            self._retired.add(entry.key)
        for entry in lost:
            self.note(f"forgetting {entry.path}: rotated out of reach")
        registry.forget(lost)
        if since:
            for candidate in candidates:
                if candidate.stat.st_mtime <= since or candidate.fp is None:
                    continue
                entry = registry.add(candidate.stat, candidate.fp, candidate.path)
                plan.append((candidate.stat.st_mtime, candidate, entry))
        plan.sort(key=lambda item: item[0])
        for _mtime, candidate, entry in plan:
            if self.stop.is_set():
                return
            position = self._position(entry)
            self.note(f"finishing rotated {candidate.path} from byte {position}")
            yield from self._finish(candidate.path, candidate.gz, entry, position)

    def _unfinished(self, entry: Entry, found: Candidate) -> bool:
        position = self._position(entry)
        if found.gz:  # final content: its length is known once read to the end
            return entry.eof < 0 or position < entry.eof
        return found.stat.st_size > position

    def _position(self, entry: Entry) -> int:
        """Where to go on in a file: acknowledged, or further if read in this run."""
        return max(entry.offset, self._read.get(entry.key, 0))

    def _finish(self, path: str, gz: bool, entry: Entry, offset: int) -> Iterator[Record]:
        """The complete lines of a file no longer written to, from `offset` to its end."""
        try:
            with open_file(path, gz) as stream:
                stream.seek(offset)  # a gzip stream seeks by reading forward
                pending = b""
                while not self.stop.is_set():
                    chunk = stream.read(READ_SIZE)
                    if not chunk:
                        self.registry.finished(entry, offset)
                        return
                    pending += chunk
                    cut = pending.rfind(b"\n") + 1
                    complete, pending = pending[:cut], pending[cut:]
                    yield from self._lines(complete, offset, entry, path)
                    offset += len(complete)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise InputError(path, f"unreadable compressed file: {exc}") from None

    # ---------------------------------------------------------------- following

    def _open(self) -> tuple[IO[bytes], Entry, int] | None:
        try:
            stream = open(self.path, "rb")  # noqa: SIM115 (kept open while following)
        except FileNotFoundError:
            return None
        stat = os.fstat(stream.fileno())
        fp = _fingerprint_of(stream)
        if fp is None:  # empty, or its first line is still being written
            stream.close()
            return None
        with self.registry.lock:
            known = [
                e
                for e in self.registry.entries
                if e.key not in self._retired and e.same_file(stat, fp)
            ]
        if known and stat.st_size >= known[-1].offset:
            entry = known[-1]
            self.registry.adopt(entry, stat, fp, self.path)
        else:
            entry = self.registry.add(stat, fp, self.path)
        stream.seek(entry.offset)
        return stream, entry, entry.offset

    def __iter__(self) -> Iterator[Record | Idle]:
        yield from self._backlog(self.registry.saved_at)
        opened_at = 0.0
        stream: IO[bytes] | None = None
        entry: Entry | None = None
        offset, pending = 0, b""
        quiet_since: float | None = None
        drained = False  # read the old file once more after seeing it replaced
        try:
            while not self.stop.is_set():
                if stream is None or entry is None:  # waiting for the file (again)
                    opened = self._open()
                    if opened is None:
                        self.stop.wait(self.poll)
                        continue
                    stream, entry, offset = opened
                    pending, drained, quiet_since = b"", False, time.monotonic()
                    opened_at = time.time()
                chunk = stream.read(READ_SIZE)
                switched = None
                if chunk and not self._same_start(stream, entry):
                    # Truncated and written past our position before we looked: what we
                    # just read is the middle of the new content, not the rest of ours.
                    chunk, switched = b"", "truncated"
                if chunk:
                    pending += chunk
                    cut = pending.rfind(b"\n") + 1
                    # A line without its newline yet is still being written: wait for it.
                    complete, pending = pending[:cut], pending[cut:]
                    yield from self._lines(complete, offset, entry, self.path)
                    offset += len(complete)
                    quiet_since = time.monotonic()
                    drained = False
                    continue
                if quiet_since is not None and time.monotonic() - quiet_since >= self.idle:
                    quiet_since = None
                    yield IDLE
                switched = switched or self._rotated(entry, offset + len(pending))
                if switched == "replaced" and not drained:
                    drained = True  # lines written just before the rotation come first
                    continue
                if switched is not None:
                    if switched == "truncated":
                        yield from self._from_copy(entry, offset)
                    self._retired.add(entry.key)
                    stream.close()
                    stream = entry = None
                    yield from self._backlog(opened_at)
                    continue
                self.stop.wait(self.poll)
        finally:
            if stream is not None:
                stream.close()

    @staticmethod
    def _same_start(stream: IO[bytes], entry: Entry) -> bool:
        return entry.matches(fingerprint(os.pread(stream.fileno(), FINGERPRINT_BYTES, 0)))

    def _from_copy(self, entry: Entry, offset: int) -> Iterator[Record]:
        """copytruncate: what was written after our last read went into the copy."""
        for candidate in siblings(self.path, self._exclude):
            if candidate.stat.st_ino == entry.inode or not entry.matches(candidate.fp):
                continue
            if candidate.gz or candidate.stat.st_size > offset:
                self.note(f"finishing truncated {self.path} from its copy {candidate.path}")
                yield from self._finish(candidate.path, candidate.gz, entry, offset)
                return

    def _rotated(self, entry: Entry, position: int) -> str | None:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return None  # moved away, the new one not created yet: keep the old handle
        if (stat.st_dev, stat.st_ino) != (entry.device, entry.inode):
            return "replaced"
        if stat.st_size < position:
            return "truncated"
        try:  # truncated and already written past our position: another first line
            with open(self.path, "rb") as stream:
                if not entry.matches(_fingerprint_of(stream)):
                    return "truncated"
        except FileNotFoundError:
            return None
        return None

    def _lines(self, data: bytes, offset: int, entry: Entry, path: str) -> Iterator[Record]:
        for raw in data.split(b"\n")[:-1]:  # `data` ends with a newline
            start, offset = offset, offset + len(raw) + 1
            line = raw.strip()
            if not line:
                continue
            origin = f"{path}@{start}"
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise InputError(origin, f"malformed JSON: {exc}") from None
            yield from records_of(origin, value, start, offset, line, entry.key)
        self._read[entry.key] = offset
