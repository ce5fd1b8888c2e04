"""Per-key token buckets: in process memory on SQLite (one process owns the file), in
PostgreSQL otherwise, so replicas behind a load balancer share one limit per key.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine, text


class RateLimiter:
    def __init__(
        self,
        *,
        per_minute: int,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.rate = per_minute / 60.0
        self.capacity = float(burst if burst is not None else per_minute)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str, cost: float = 1.0) -> float:
        """Take `cost` tokens; return 0 if allowed, else seconds until it would be."""
        now = self.clock()
        with self._lock:
            tokens, stamp = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - stamp) * self.rate)
            if tokens >= cost:
                self._buckets[key] = (tokens - cost, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (cost - tokens) / self.rate

    def peek(self, key: str, cost: float = 1.0) -> float:
        """Seconds until `cost` tokens would be there (0: now), taking none."""
        now = time.monotonic()
        with self._lock:
            tokens, stamp = self._buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - stamp) * self.rate)
        return 0.0 if tokens >= cost else (cost - tokens) / self.rate

    @staticmethod
    def retry_after(wait: float) -> int:
        return max(1, math.ceil(wait))


# One statement, atomic across processes: refill by elapsed time, take if there is enough.
# In SET, `b.` is the row before the update.
_TAKE = text(
    """
    INSERT INTO rate_buckets AS b (key, tokens, stamp, allowed)
    VALUES (:key, :capacity - :cost, extract(epoch FROM now()), true)
    ON CONFLICT (key) DO UPDATE SET
      allowed = least(:capacity, b.tokens + (extract(epoch FROM now()) - b.stamp) * :rate)
                >= :cost,
      tokens = least(:capacity, b.tokens + (extract(epoch FROM now()) - b.stamp) * :rate)
               - CASE WHEN least(:capacity, b.tokens + (extract(epoch FROM now()) - b.stamp)
                                 * :rate) >= :cost THEN :cost ELSE 0 END,
      stamp = extract(epoch FROM now())
    RETURNING allowed, tokens
    """
)


class SharedRateLimiter(RateLimiter):
    """The same buckets kept in PostgreSQL (`rate_buckets`), keyed `name:key`."""

    def __init__(
        self, engine: Engine, name: str, *, per_minute: int, burst: int | None = None
    ) -> None:
        super().__init__(per_minute=per_minute, burst=burst)
        self.engine = engine
        self.name = name

    def acquire(self, key: str, cost: float = 1.0) -> float:
        params = {
            "key": f"{self.name}:{key}"[:200],
            "capacity": self.capacity,
            "cost": cost,
            "rate": self.rate,
        }
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            allowed, tokens = conn.execute(_TAKE, params).one()
        return 0.0 if allowed else (cost - float(tokens)) / self.rate


def make_limiter(
    engine: Engine, name: str, *, per_minute: int, burst: int | None = None
) -> RateLimiter:
    if engine.dialect.name == "postgresql":
        return SharedRateLimiter(engine, name, per_minute=per_minute, burst=burst)
    return RateLimiter(per_minute=per_minute, burst=burst)
