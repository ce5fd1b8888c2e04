"""Failed authentications, throttled per client address and all accounted for in the log.

Each address may fail ``auth_failure_burst`` times at once, then once per
``60 / auth_failures_per_minute`` seconds. Every failure that is evaluated gets its own
``auth.login.failure`` record (the throttle bounds how many); an attempt from an address
over its budget is not evaluated at all: it gets a 429 with ``Retry-After`` and is
counted in memory, and the counts are appended as ``auth.login.throttled`` records
(``attributes.count``, per address) every ``auth_throttle_flush_seconds`` and when the
server stops. So a flood costs one record per address per flush, and none is dropped.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from service.auditlog.chain import record_internal
from service.auditlog.schemas import Outcome
from service.auth.ratelimit import RateLimiter
from service.db import session_scope
from service.logformat import format_time
from service.logging import get_logger

log = get_logger(__name__)


@dataclass
class Tally:
    count: int = 0
    routes: Counter[str] = field(default_factory=Counter)
    first_at: str = ""
    last_at: str = ""

    def merge(self, other: Tally) -> None:
        self.count += other.count
        self.routes.update(other.routes)
        self.first_at = min(filter(None, (self.first_at, other.first_at)), default="")
        self.last_at = max(self.last_at, other.last_at)


class FailureThrottle:
    def __init__(self, *, per_minute: int, burst: int) -> None:
        self.limiter = RateLimiter(per_minute=per_minute, burst=burst)
        self._pending: dict[str, Tally] = {}
        self._lock = threading.Lock()

    def blocked_for(self, address: str) -> float:
        """Seconds until ``address`` may try again (0: now)."""
        return self.limiter.peek(address)

    def failed(self, address: str) -> None:
        self.limiter.acquire(address)

    def refused(self, address: str, route: str) -> None:
        now = format_time(datetime.now(UTC))
        with self._lock:
            tally = self._pending.setdefault(address, Tally(first_at=now))
            tally.count += 1
            tally.routes[route] += 1
            tally.last_at = now

    def pending(self) -> int:
        with self._lock:
            return sum(t.count for t in self._pending.values())

    def flush(self, factory: sessionmaker[Session]) -> int:
        """Append the counts so far (one record per address); return how many attempts
        they account for. On a database error the counts are kept for the next flush."""
        with self._lock:
            drained, self._pending = self._pending, {}
        if not drained:
            return 0
        try:
            with session_scope(factory) as session:
                for address, tally in drained.items():
                    record_throttled(session=session, address=address, tally=tally)
        except Exception:
            log.error("auth.throttle_flush_failed", pending=len(drained), exc_info=True)
            with self._lock:
                for address, tally in drained.items():
                    kept = self._pending.setdefault(address, Tally())
                    kept.merge(tally)
            return 0
        return sum(t.count for t in drained.values())


def record_throttled(*, session: Session, address: str, tally: Tally) -> None:
    record_internal(
        session=session,
        action="auth.login.throttled",
        outcome=Outcome.denied,
        actor={"type": "anonymous", "ip": address},
        attributes={
            "count": tally.count,
            "routes": dict(tally.routes),
            "first_at": tally.first_at,
            "last_at": tally.last_at,
        },
    )


class ThrottleFlusher:
    """Flushes a throttle's counts every ``interval`` seconds in a daemon thread, and
    once more on close."""

    def __init__(
        self, throttle: FailureThrottle, factory: sessionmaker[Session], interval: float
    ) -> None:
        self.throttle = throttle
        self.factory = factory
        self.interval = interval
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="custody-auth-flush", daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            self.throttle.flush(self.factory)

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(5.0)
        self.throttle.flush(self.factory)
