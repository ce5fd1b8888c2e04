"""Posting a batch with retries: exponential backoff, full jitter, Retry-After honoured.

Retrying a POST is safe only because every event carries an idempotency key (`id`):
a batch the server committed but whose answer was lost comes back as duplicates, never
as a second copy. Callers must therefore fix each event's id *before* the first attempt.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

# Temporary by definition: rate limited, or the server (or a proxy) failing.
RETRY_STATUSES = frozenset({408, 429})


@dataclass(frozen=True)
class RetryPolicy:
    """`max_attempts` counts the first try; None retries until the caller's stop event."""

    max_attempts: int | None = 10
    base_delay: float = 0.5
    max_delay: float = 30.0
    # A server asking for more than this is treated as asking for this much.
    max_retry_after: float = 300.0

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number `retry` (0-based)."""
        # Full jitter (AWS architecture blog): spreads a crowd of clients that all lost
        # the server at the same moment, instead of having them return in lockstep.
        wait = random.uniform(0, min(self.max_delay, self.base_delay * 2**retry))
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_retry_after))
        return wait


class Rejected(Exception):
    """The server refused the batch for good (a 4xx other than 408/429).

    `errors` is the problem+json `errors` list (index, field, message), index being the
    position in the batch.
    """

    def __init__(self, status: int, title: str, detail: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"HTTP {status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors

    @classmethod
    def from_response(cls, response: httpx.Response) -> Rejected:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return cls(response.status_code, response.reason_phrase, response.text[:500], [])
        errors = body.get("errors")
        return cls(
            response.status_code,
            str(body.get("title") or response.reason_phrase),
            str(body.get("detail") or ""),
            [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else [],
        )


class GaveUp(Exception):
    """Every attempt failed with a temporary error; the batch may or may not be stored."""


class WrongURL(Exception):
    """The events route is not there (404): the base URL points somewhere else."""


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """RFC 9110 Retry-After: delay-seconds or an HTTP-date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


OnRetry = Callable[[int, float, str], None]


def post_with_retry(
    http: httpx.Client,
    url: str,
    *,
    content: bytes,
    headers: dict[str, str],
    policy: RetryPolicy,
    sleep: Callable[[float], Any] = time.sleep,
    on_retry: OnRetry | None = None,
    params: dict[str, str] | None = None,
) -> httpx.Response:
    """POST until a 2xx (returned), a permanent 4xx (Rejected) or the attempts run out
    (GaveUp). `sleep` may return True to abort the wait (a stop event's `wait`)."""
    target = http.build_request("POST", url).url  # what the messages name
    attempt = 0
    while True:
        retry_after: float | None = None
        try:
            response = http.post(url, content=content, headers=headers, params=params)
        except httpx.TransportError as exc:
            # Connection refused, reset, timeout: the server may have committed the batch
            # before the connection died, which the idempotency keys make harmless.
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            reason = f"{reason} (reaching {target})"
        else:
            if response.is_success:
                return response
            if response.status_code == 404:
                # Custody always has this route: whatever answered is not its API root.
                raise WrongURL(
                    f"{target} answered 404 Not Found: the server URL is probably wrong "
                    "(give the base URL, like http://host:8000, without /v1/events)"
                )
            if response.status_code < 500 and response.status_code not in RETRY_STATUSES:
                raise Rejected.from_response(response)
            reason = f"HTTP {response.status_code} from {target}"
            retry_after = retry_after_seconds(response.headers.get("retry-after"))
        if policy.max_attempts is not None and attempt + 1 >= policy.max_attempts:
            raise GaveUp(f"gave up after {attempt + 1} attempts; last error: {reason}")
        wait = policy.delay(attempt, retry_after)
        if on_retry is not None:
            on_retry(attempt + 1, wait, reason)
        if sleep(wait) is True:
            raise GaveUp(f"stopped while retrying; last error: {reason}")
        attempt += 1
