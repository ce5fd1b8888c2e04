"""`custody ship --follow`: read a growing NDJSON file like `tail -F`, resumably.

The state file records (device, inode, offset) of the last line the server
acknowledged. After a restart the same file resumes at that offset; a file replaced
since (log rotation: another inode) or truncated (copytruncate: smaller than the offset)
is read from its start. Lines re-read after a crash between an acknowledgement and the
state write are harmless: their ids are derived from offset and content, so the server
counts them as duplicates.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

import orjson

from service.client.sources import InputError, Record, records_of


class Idle:
    """Yielded when the file has been quiet for a while: time to send a partial batch."""


IDLE: Final = Idle()
READ_SIZE = 1024 * 1024


@dataclass(frozen=True)
class FollowState:
    device: int
    inode: int
    offset: int

    @classmethod
    def load(cls, path: Path) -> FollowState | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(int(data["device"]), int(data["inode"]), int(data["offset"]))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"unreadable state file {path}: {exc}") from exc

    def save(self, path: Path) -> None:
        # Write-then-rename: a crash leaves the old state or the new, never half of one.
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(dataclasses.asdict(self)), encoding="utf-8")
        os.replace(tmp, path)


def _identity(stat: os.stat_result) -> tuple[int, int]:
    return stat.st_dev, stat.st_ino


class Follower:
    def __init__(
        self,
        path: str,
        *,
        state: FollowState | None,
        stop: threading.Event,
        poll: float = 0.2,
        idle: float = 1.0,
    ) -> None:
        self.path = path
        self.stop = stop
        self.poll = poll
        self.idle = idle
        self._resume = state

    def _open(self) -> tuple[IO[bytes], tuple[int, int], int] | None:
        try:
            stream = open(self.path, "rb")  # noqa: SIM115 (kept open while following)
        except FileNotFoundError:
            return None
        stat = os.fstat(stream.fileno())
        identity, offset = _identity(stat), 0
        resume, self._resume = self._resume, None
        if resume and (resume.device, resume.inode) == identity and stat.st_size >= resume.offset:
            offset = resume.offset
        stream.seek(offset)
        return stream, identity, offset

    def __iter__(self) -> Iterator[Record | Idle]:
        opened = None
        while opened is None and not self.stop.is_set():  # wait for the file to appear
            opened = self._open()
            if opened is None:
                self.stop.wait(self.poll)
        if opened is None:
            return
        stream, identity, offset = opened
        pending = b""
        quiet_since: float | None = time.monotonic()
        drained = False  # read the old file once more after seeing it replaced
        try:
            while not self.stop.is_set():
                chunk = stream.read(READ_SIZE)
                if chunk:
                    pending += chunk
                    cut = pending.rfind(b"\n") + 1
                    # A line without its newline yet is still being written: wait for it.
                    complete, pending = pending[:cut], pending[cut:]
                    yield from self._lines(complete, offset, identity)
                    offset += len(complete)
                    quiet_since = time.monotonic()
                    drained = False
                    continue
                if quiet_since is not None and time.monotonic() - quiet_since >= self.idle:
                    quiet_since = None
                    yield IDLE
                switched = self._rotated(identity, offset + len(pending))
                if switched == "replaced" and not drained:
                    drained = True  # lines written just before the rotation come first
                    continue
                if switched == "replaced":
                    reopened = self._open()
                    if reopened is not None:
                        stream.close()
                        stream, identity, offset = reopened
                        pending, drained = b"", False
                        continue
                elif switched == "truncated":
                    stream.seek(0)
                    offset, pending = 0, b""
                    continue
                self.stop.wait(self.poll)
        finally:
            stream.close()

    def _rotated(self, identity: tuple[int, int], position: int) -> str | None:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return None  # moved away, the new one not created yet: keep the old handle
        if _identity(stat) != identity:
            return "replaced"
        if stat.st_size < position:
            return "truncated"
        return None

    def _lines(self, data: bytes, offset: int, identity: tuple[int, int]) -> Iterator[Record]:
        for raw in data.split(b"\n")[:-1]:  # `data` ends with a newline
            start, offset = offset, offset + len(raw) + 1
            line = raw.strip()
            if not line:
                continue
            origin = f"{self.path}@{start}"
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise InputError(origin, f"malformed JSON: {exc}") from None
            for record in records_of(origin, value, start, offset, line):
                yield dataclasses.replace(record, file_id=identity)
