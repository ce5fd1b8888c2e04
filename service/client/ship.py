"""The shipper behind `custody ship`: records -> events -> batches -> the server.

Reading, normalizing and serializing run in a producer thread while the main thread
posts the previous batch, so the shipper costs the server little waiting time. Batches
go out one at a time, in file order: an audit trail arrives in the order it was written.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson

from service.adapters import AdapterError, detect_format, normalize
from service.adapters.registry import skipped
from service.client.batching import DEFAULT_MAX_BYTES, DEFAULT_MAX_EVENTS, Batch, Batcher
from service.client.follow import Follower, Idle
from service.client.progress import Reporter
from service.client.registry import Registry
from service.client.retry import Rejected
from service.client.sender import Client, SendResult
from service.client.sources import InputError, Record, read_records

DONE: Final = object()


@dataclass(frozen=True, slots=True)
class Tag:
    """Where a batched event came from, and the input position once it is acknowledged."""

    origin: str
    end: int
    file_key: str | None


@dataclass
class ShipOptions:
    format: str | None = None
    batch_size: int = DEFAULT_MAX_EVENTS
    max_batch_bytes: int = DEFAULT_MAX_BYTES
    follow: bool = False
    state_file: Path | None = None
    idle_flush: float = 1.0
    poll: float = 0.2


class ShipRejected(Exception):
    """The server refused a batch (or a record could not be read); `lines` say which
    records and why. Everything before that batch is stored, nothing after was sent."""

    def __init__(self, summary: str, lines: list[str], result: SendResult) -> None:
        super().__init__(summary)
        self.summary = summary
        self.lines = lines
        self.result = result


def event_lines(record: Record, format: str | None) -> list[bytes]:
    """The serialized Custody events of one record (a vendor record may be a container)."""
    value = record.value
    if skipped(value):
        return []
    if format is None and isinstance(value, dict):
        # Custody events are the common case: recognise them without the adapters' scan.
        custody = isinstance(value.get("action"), str) and isinstance(value.get("time"), str)
        name = "custody" if custody else detect_format(value)
    else:
        name = format
    if name in (None, "custody"):
        # Unrecognised objects go as they are: the server names their invalid fields.
        if isinstance(value, dict) and not value.get("id"):
            return [orjson.dumps({**value, "id": record.derived_id()})]
        return [record.line if record.line is not None else orjson.dumps(value)]
    try:
        events = normalize(value, name)
    except AdapterError as exc:
        raise InputError(record.origin, str(exc)) from None
    return [orjson.dumps(event) for event in events]


class _Producer(threading.Thread):
    def __init__(
        self,
        items: Iterable[Record | Idle],
        options: ShipOptions,
        out: queue.Queue[Any],
        stop: threading.Event,
    ) -> None:
        super().__init__(name="custody-ship-reader", daemon=True)
        self.items = items
        self.options = options
        self.out = out
        self.stop = stop

    def _put(self, item: Any) -> None:
        while not self.stop.is_set():
            try:
                self.out.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def run(self) -> None:
        batcher: Batcher[Tag] = Batcher(
            max_events=self.options.batch_size, max_bytes=self.options.max_batch_bytes
        )
        try:
            for item in self.items:
                if self.stop.is_set():
                    return
                if isinstance(item, Idle):
                    self._put(batcher.flush())
                    continue
                lines = event_lines(item, self.options.format)
                last = len(lines) - 1
                for i, line in enumerate(lines):
                    # Only the record's last event completes it for --follow's offset.
                    tag = Tag(item.origin, item.end if i == last else item.start, item.file_key)
                    for batch in batcher.add(line, tag):
                        self._put(batch)
            self._put(batcher.flush())
            self._put(DONE)
        except Exception as exc:  # handed to the main thread, which reports it
            self._put(batcher.flush())
            self._put(exc)


def _rejection(exc: Rejected, batch: Batch[Tag], result: SendResult) -> ShipRejected:
    lines = []
    for error in exc.errors:
        index = error.get("index")
        where = batch.tags[index].origin if isinstance(index, int) and index < len(batch) else "?"
        field = error.get("field")
        prefix = f"{field}: " if field and field != "$" else ""
        lines.append(f"{where}: {prefix}{error.get('message')}")
    first, last = batch.tags[0].origin, batch.tags[-1].origin
    summary = (
        f"the server refused the batch of {len(batch)} events from {first} to {last} "
        f"({exc}); {result.accepted + result.duplicates} events before it are stored"
    )
    return ShipRejected(summary, lines, result)


def _items(
    paths: list[str],
    options: ShipOptions,
    stop: threading.Event,
    registry: Registry,
    reporter: Reporter,
) -> Iterator[Any]:
    if options.follow:
        follower = Follower(
            paths[0],
            registry=registry,
            stop=stop,
            idle=options.idle_flush,
            poll=options.poll,
            state_file=options.state_file,
            note=reporter.note,
        )
        return iter(follower)
    return itertools.chain.from_iterable(read_records(path) for path in paths)


def ship(
    paths: list[str], *, client: Client, options: ShipOptions, reporter: Reporter
) -> SendResult:
    """Ship every record of `paths` (or follow one file until interrupted)."""
    out: queue.Queue[Any] = queue.Queue(maxsize=4)
    stop = threading.Event()
    registry = Registry.load(options.state_file if options.follow else None)
    items = _items(paths, options, stop, registry, reporter)
    producer = _Producer(items, options, out, stop)
    producer.start()
    result = SendResult()
    try:
        while True:
            item = out.get()
            if item is DONE:
                return result
            if item is None:
                continue
            if isinstance(item, InputError):
                raise ShipRejected(
                    f"cannot read {item.origin}; "
                    f"{result.accepted + result.duplicates} events before it are stored",
                    [str(item)],
                    result,
                )
            if isinstance(item, Exception):
                raise item
            try:
                answer = client.post_batch(item, on_retry=reporter.retrying)
            except Rejected as exc:
                raise _rejection(exc, item, result) from None
            result.add(answer)
            reporter.sent(len(item), answer["accepted"], answer["duplicates"])
            if options.follow and options.state_file is not None:
                for tag in item.tags:  # a batch may end one file and start the next
                    if tag.file_key is not None:
                        registry.ack(tag.file_key, tag.end)
                registry.save(options.state_file)
    finally:
        stop.set()
        producer.join(timeout=5)
