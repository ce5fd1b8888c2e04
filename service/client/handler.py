"""Shipping audit events from a Python service without ever blocking it.

`AuditHandler` (a logging.Handler) and `AuditProcessor` (a structlog processor) hand
events to a `BackgroundShipper`: a bounded in-memory queue drained by one daemon thread
that posts batches with the client's retry policy. The caller's cost is one dict build
and a deque append under a lock; no I/O happens on the caller's thread.

When the server is unreachable for long the queue fills up and the *oldest* events are
dropped (the newest say most about what is happening now); `dropped` counts them and a
warning is logged on the `custody.client` logger, at most once a minute.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping, MutableMapping
from datetime import UTC, datetime
from typing import Any

import orjson

from service.client.batching import Batcher
from service.client.retry import GaveUp, Rejected, RetryPolicy, WrongURL
from service.client.sender import Client

log = logging.getLogger("custody.client")
WARN_EVERY = 60.0


def rfc3339(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


class BackgroundShipper:
    def __init__(
        self,
        client: Client,
        *,
        max_queue: int = 10_000,
        batch_size: int = 500,
        flush_interval: float = 1.0,
    ) -> None:
        self.client = client
        # Retry for as long as it takes: the bounded queue, not the retry count, is what
        # caps the damage of a long outage.
        self.retry = RetryPolicy(max_attempts=None, max_delay=30.0)
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self._queue: deque[dict[str, Any]] = deque()
        self._max_queue = max_queue
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._in_flight = 0
        self._last_warning = 0.0
        self.dropped = 0
        self.sent = 0
        self.rejected = 0
        self._thread = threading.Thread(target=self._run, name="custody-shipper", daemon=True)
        self._thread.start()

    @property
    def thread_ident(self) -> int | None:
        return self._thread.ident

    def submit(self, event: dict[str, Any]) -> None:
        """Queue one event; O(1), never blocks on I/O, drops the oldest when full."""
        with self._cond:
            if self._stop.is_set():
                self.dropped += 1
                return
            if len(self._queue) >= self._max_queue:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(event)
            if len(self._queue) >= self.batch_size:
                self._cond.notify()

    @property
    def queued(self) -> int:
        return len(self._queue)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued so far was posted (or given up); False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._cond.notify_all()
            while self._queue or self._in_flight:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining if remaining is not None else 0.1)
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Flush for up to `timeout` seconds, then stop; what is left counts as dropped."""
        self.flush(timeout)
        with self._cond:
            self._stop.set()
            self._cond.notify_all()
        self._thread.join(timeout=max(1.0, timeout))
        with self._cond:
            self.dropped += len(self._queue)
            self._queue.clear()

    def _take(self) -> list[dict[str, Any]]:
        with self._cond:
            if len(self._queue) < self.batch_size and not self._stop.is_set():
                self._cond.wait(self.flush_interval)
            count = min(self.batch_size, len(self._queue))
            taken = [self._queue.popleft() for _ in range(count)]
            self._in_flight = len(taken)
            return taken

    def _run(self) -> None:
        while not self._stop.is_set():
            events = self._take()
            if events:
                self._post(events)
            with self._cond:
                self._in_flight = 0
                self._cond.notify_all()

    def _post(self, events: list[dict[str, Any]]) -> None:
        batcher: Batcher[int] = Batcher(max_events=len(events))
        batches = []
        for index, event in enumerate(events):
            try:
                line = orjson.dumps(event, default=str)
            except TypeError as exc:  # e.g. a non-string key: the event cannot be sent
                self.rejected += 1
                log.warning("custody: dropped an audit event that is not JSON: %s", exc)
                continue
            batches += batcher.add(line, index)
        last = batcher.flush()
        batches += [last] if last is not None else []
        for batch in batches:
            try:
                self.client.post_batch(
                    batch, retry=self.retry, on_retry=self._on_retry, sleep=self._stop.wait
                )
                self.sent += len(batch)
            except (Rejected, WrongURL) as exc:
                self.rejected += len(batch)
                log.warning("custody: the server refused %d audit events: %s", len(batch), exc)
            except GaveUp:  # only when stopping: close() counts what was left
                with self._cond:
                    self.dropped += len(batch)
            except ValueError as exc:  # a 2xx whose body is not JSON: not our server
                self.rejected += len(batch)
                log.warning("custody: unexpected answer from the server: %s", exc)

    def _on_retry(self, attempt: int, wait: float, reason: str) -> None:
        now = time.monotonic()
        if now - self._last_warning >= WARN_EVERY:
            self._last_warning = now
            log.warning(
                "custody: cannot ship audit events (%s); retrying, %d queued, %d dropped so far",
                reason,
                len(self._queue),
                self.dropped,
            )


def make_event(
    audit: Mapping[str, Any], *, created: float, source: str | None, message: str | None
) -> dict[str, Any]:
    """An event from the caller's `audit` mapping: time, source and id filled in when
    absent; the log message kept as `attributes.message`."""
    event: dict[str, Any] = {"time": rfc3339(created), "id": uuid.uuid4().hex}
    if source:
        event["source"] = source
    event.update(audit)
    if message:
        attributes = dict(event.get("attributes") or {})
        attributes.setdefault("message", message)
        event["attributes"] = attributes
    return event


class AuditHandler(logging.Handler):
    """Ships records that carry `extra={"audit": {...}}` (other records are ignored):

    handler = AuditHandler(url, token, source="inference-gateway")
    logging.getLogger("audit").addHandler(handler)
    logging.getLogger("audit").info("weights downloaded", extra={"audit": {
        "action": "model.weights.download", "actor": {"id": "alice"}}})
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        source: str | None = None,
        client: Client | None = None,
        max_queue: int = 10_000,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        level: int = logging.NOTSET,
    ) -> None:
        super().__init__(level)
        self.source = source
        self.shipper = BackgroundShipper(
            client or Client(url, token),
            max_queue=max_queue,
            batch_size=batch_size,
            flush_interval=flush_interval,
        )

    @property
    def dropped(self) -> int:
        return self.shipper.dropped

    def emit(self, record: logging.LogRecord) -> None:
        audit = getattr(record, "audit", None)
        # Our own warnings must not feed back into the queue they are about.
        if not isinstance(audit, Mapping) or record.name.startswith("custody.client"):
            return
        try:
            event = make_event(
                audit, created=record.created, source=self.source, message=record.getMessage()
            )
        except Exception:  # logging's contract: a handler reports, never raises
            self.handleError(record)
            return
        self.shipper.submit(event)

    def flush(self, timeout: float | None = 10.0) -> None:
        self.shipper.flush(timeout)

    def close(self) -> None:
        self.shipper.close()
        super().close()


class AuditProcessor:
    """A structlog processor: `log.info("weights downloaded", audit={...})` ships the
    event and passes the event dict on unchanged."""

    def __init__(self, shipper: BackgroundShipper, *, source: str | None = None) -> None:
        self.shipper = shipper
        self.source = source

    def __call__(
        self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        audit = event_dict.get("audit")
        if isinstance(audit, Mapping):
            message = event_dict.get("event")
            self.shipper.submit(
                make_event(
                    audit,
                    created=time.time(),
                    source=self.source,
                    message=message if isinstance(message, str) else None,
                )
            )
        return event_dict
