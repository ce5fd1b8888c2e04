"""Cutting a stream of serialized events into NDJSON request bodies.

A batch closes at `max_events` or before its body would pass `max_bytes`, whichever
comes first. The default byte bound sits well under the server's 10 MiB body limit so
a batch is never refused for its size (the limit counts the decompressed body).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

MiB = 1024 * 1024
DEFAULT_MAX_EVENTS = 1000
DEFAULT_MAX_BYTES = 8 * MiB

Tag = TypeVar("Tag")


class EventTooLarge(ValueError):
    """One event alone is larger than a batch may be."""


@dataclass
class Batch(Generic[Tag]):
    """An NDJSON body and, per line, the caller's tag (where the event came from)."""

    lines: list[bytes] = field(default_factory=list)
    tags: list[Tag] = field(default_factory=list)
    size: int = 0

    def __len__(self) -> int:
        return len(self.lines)

    @property
    def body(self) -> bytes:
        return b"\n".join(self.lines) + b"\n"


class Batcher(Generic[Tag]):
    def __init__(
        self, *, max_events: int = DEFAULT_MAX_EVENTS, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        if max_events < 1 or max_bytes < 1:
            raise ValueError("batch limits must be positive")
        self.max_events = max_events
        self.max_bytes = max_bytes
        self._batch: Batch[Tag] = Batch()

    def add(self, line: bytes, tag: Tag) -> list[Batch[Tag]]:
        """Add one serialized event (no newline); return the batches this closed (0-2)."""
        cost = len(line) + 1
        if cost > self.max_bytes:
            raise EventTooLarge(
                f"an event of {cost} bytes exceeds the batch limit of {self.max_bytes}"
            )
        closed: list[Batch[Tag]] = []
        if self._batch.size + cost > self.max_bytes:
            closed.append(self._close())
        self._batch.lines.append(line)
        self._batch.tags.append(tag)
        self._batch.size += cost
        if len(self._batch) >= self.max_events:
            closed.append(self._close())
        return closed

    def _close(self) -> Batch[Tag]:
        closed, self._batch = self._batch, Batch()
        return closed

    def flush(self) -> Batch[Tag] | None:
        """Close and return the open batch (None when it is empty)."""
        return self._close() if self._batch.lines else None

    @property
    def pending(self) -> int:
        return len(self._batch)
