"""`Client(url, token).send(events)`: batched, retried, never stored twice."""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx
import orjson

from service.client.batching import DEFAULT_MAX_BYTES, DEFAULT_MAX_EVENTS, Batch, Batcher
from service.client.http import api_client
from service.client.retry import OnRetry, Rejected, RetryPolicy, post_with_retry

EVENTS_PATH = "/v1/events"
NDJSON = "application/x-ndjson"


@dataclass
class SendResult:
    """What the server acknowledged, summed over the batches of one or more posts."""

    accepted: int = 0
    duplicates: int = 0
    batches: int = 0
    last_seq: int | None = None
    head_hash: str | None = None

    def add(self, answer: Mapping[str, Any]) -> None:
        self.accepted += int(answer.get("accepted", 0))
        self.duplicates += int(answer.get("duplicates", 0))
        self.batches += 1
        if answer.get("last_seq") is not None:
            self.last_seq = int(answer["last_seq"])
        self.head_hash = answer.get("head_hash", self.head_hash)


def _dumps(event: Mapping[str, Any]) -> bytes:
    try:
        return orjson.dumps(event)
    except TypeError as exc:
        raise ValueError(f"event is not JSON-serializable: {exc}") from exc


class Client:
    """Ships Custody events (schema v1 dicts) to a server.

    Events without an `id` get a random one when `send` receives them, before the first
    attempt, so the retries inside one `send` never store an event twice. To make a
    repeated `send` of the same events idempotent too, give them ids of your own.
    `http` lets callers (tests, apps with their own transport) supply the httpx client.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        batch_size: int = DEFAULT_MAX_EVENTS,
        max_batch_bytes: int = DEFAULT_MAX_BYTES,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        compress: bool = False,
        http: httpx.Client | None = None,
        sleep: Callable[[float], Any] | None = None,
    ) -> None:
        self._own_http = http is None
        self.http = http if http is not None else api_client(url, token, timeout=timeout)
        self.batch_size = batch_size
        self.max_batch_bytes = max_batch_bytes
        self.retry = retry or RetryPolicy()
        self.compress = compress
        self._sleep = sleep

    def post_batch(
        self,
        batch: Batch[Any],
        *,
        retry: RetryPolicy | None = None,
        on_retry: OnRetry | None = None,
        sleep: Callable[[float], Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Post one batch with the retry policy; the server's answer on success.
        Raises Rejected (with per-event errors) or GaveUp."""
        body = batch.body
        headers = {"content-type": NDJSON}
        if self.compress:
            # Level 1: most of gzip's gain on JSON for a fraction of its CPU.
            body = gzip.compress(body, compresslevel=1)
            headers["content-encoding"] = "gzip"
        kwargs: dict[str, Any] = {}
        if sleep or self._sleep:
            kwargs["sleep"] = sleep or self._sleep
        response = post_with_retry(
            self.http,
            EVENTS_PATH,
            content=body,
            headers=headers,
            policy=retry or self.retry,
            on_retry=on_retry,
            params=params,
            **kwargs,
        )
        answer: dict[str, Any] = response.json()
        return answer

    def send(self, events: Iterable[Mapping[str, Any]]) -> SendResult:
        """Send every event, in order, in batches. On a permanent refusal raises Rejected
        whose error indexes are positions in `events`; batches before it are stored."""
        result = SendResult()
        batcher: Batcher[int] = Batcher(max_events=self.batch_size, max_bytes=self.max_batch_bytes)
        for position, event in enumerate(events):
            if not event.get("id"):
                event = {**event, "id": uuid.uuid4().hex}
            for batch in batcher.add(_dumps(event), position):
                self._send_batch(batch, result)
        last = batcher.flush()
        if last is not None:
            self._send_batch(last, result)
        return result

    def _send_batch(self, batch: Batch[int], result: SendResult) -> None:
        try:
            result.add(self.post_batch(batch))
        except Rejected as exc:
            for error in exc.errors:
                index = error.get("index")
                if isinstance(index, int) and 0 <= index < len(batch.tags):
                    error["index"] = batch.tags[index]
            raise

    def close(self) -> None:
        if self._own_http:
            self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
