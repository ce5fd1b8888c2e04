"""The dispatcher: follows the outbox per target, delivers at least once, in order.

Sending happens outside every database transaction (a slow target must not hold a lock
that ingest waits for). After a send the cursor and a log record are written together;
a crash between the two resends that notification, which is why delivery is at least
once and why webhooks carry a stable `webhook-id` for receivers to drop duplicates.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from service.auditlog.chain import record_internal
from service.auditlog.schemas import Outcome as LogOutcome
from service.config import Settings
from service.db import session_scope
from service.logging import get_logger
from service.notify.models import OutboxRow, TargetCursor
from service.notify.send import Outcome, deliver
from service.notify.targets import Target, load_targets

log = get_logger(__name__)

ACTOR = {"type": "service", "id": "notify-dispatcher"}


class Dispatcher:
    name = "notify-dispatcher"

    def __init__(
        self,
        *,
        targets: Sequence[Target],
        base_url: str | None = None,
        max_attempts: int = 12,
        backoff: float = 1.0,
        max_backoff: float = 300.0,
        batch: int = 100,
        history: timedelta = timedelta(hours=24),
        clock: Callable[[], float] = time.monotonic,
        client: httpx.Client | None = None,
    ) -> None:
        self.targets = list(targets)
        self.base_url = base_url
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.batch = batch
        # A target added later starts with notifications younger than this, not the past.
        self.history = history
        self.clock = clock
        self.client = client or httpx.Client()
        self.retry_at: dict[str, float] = {}

    def run_once(self, factory: sessionmaker[Session]) -> bool:
        busy = False
        for target in self.targets:
            if self.clock() < self.retry_at.get(target.name, 0.0):
                continue
            busy = self._drain(factory, target) or busy
        return busy

    def _pending(self, factory: sessionmaker[Session], target: Target) -> list[OutboxRow]:
        with session_scope(factory) as session:
            cursor = session.get(TargetCursor, target.name)
            if cursor is None:
                cursor = _create_cursor(session, target.name, history=self.history)
            rows = session.scalars(
                select(OutboxRow)
                .where(OutboxRow.id > cursor.last_id)
                .order_by(OutboxRow.id)
                .limit(self.batch)
            ).all()
            session.expunge_all()
            return list(rows)

    def _drain(self, factory: sessionmaker[Session], target: Target) -> bool:
        rows = self._pending(factory, target)
        for row in rows:
            if not target.wants(type=row.type, severity=row.severity):
                _advance(factory, target.name, row.id)
                continue
            outcome = deliver(
                target,
                row.payload,
                msg_id=f"custody-notify-{row.id}",
                client=self.client,
                base_url=self.base_url,
            )
            if not self._record(factory, target, row, outcome):
                return True
        return bool(rows)

    def _record(
        self, factory: sessionmaker[Session], target: Target, row: OutboxRow, outcome: Outcome
    ) -> bool:
        """Write the attempt's outcome; False when the target must wait before retrying."""
        with session_scope(factory) as session:
            cursor = session.get(TargetCursor, target.name)
            assert cursor is not None  # created by _pending
            attempt = cursor.attempts + 1
            given_up = not outcome.ok and attempt >= self.max_attempts
            if outcome.ok or given_up:
                cursor.last_id = row.id
                cursor.attempts = 0
                cursor.last_error = None if outcome.ok else outcome.detail
                if outcome.ok:
                    cursor.delivered += 0 if outcome.skipped else 1
                else:
                    cursor.failed += 1
            else:
                cursor.attempts = attempt
                cursor.last_error = outcome.detail
            if not outcome.skipped:
                action = "notification.delivered" if outcome.ok else "notification.failed"
                record_internal(
                    session=session,
                    action=action,
                    actor=ACTOR,
                    resource={"type": "incident", "id": f"INC-{row.incident_number}"},
                    outcome=LogOutcome.success if outcome.ok else LogOutcome.failure,
                    attributes={
                        "target": target.name,
                        "target_type": target.type,
                        "notification": row.type,
                        "outbox_id": row.id,
                        "attempt": attempt,
                        "detail": outcome.detail,
                        "gave_up": given_up,
                    },
                )
        if outcome.ok:
            self.retry_at.pop(target.name, None)
            return True
        if given_up:
            log.error("notify.gave_up", target=target.name, outbox_id=row.id, detail=outcome.detail)
            return True
        wait = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        wait = max(wait, outcome.retry_after or 0.0)
        self.retry_at[target.name] = self.clock() + wait
        log.warning(
            "notify.failed",
            target=target.name,
            attempt=attempt,
            retry_in=wait,
            detail=outcome.detail,
        )
        return False

    def close(self) -> None:
        self.client.close()


def _create_cursor(session: Session, name: str, *, history: timedelta) -> TargetCursor:
    begin = datetime.now(UTC) - history
    start = session.scalar(select(func.max(OutboxRow.id)).where(OutboxRow.created_at < begin))
    cursor = TargetCursor(target=name, last_id=start or 0, attempts=0, delivered=0, failed=0)
    session.add(cursor)
    session.flush()
    return cursor


def _advance(factory: sessionmaker[Session], name: str, last_id: int) -> None:
    with session_scope(factory) as session:
        cursor = session.get(TargetCursor, name)
        assert cursor is not None
        cursor.last_id = last_id


def status(session: Session) -> list[dict[str, Any]]:
    """Per target: cursor, undelivered depth, counts, last error (for /metrics and the CLI)."""
    head = session.scalar(select(func.max(OutboxRow.id))) or 0
    out = []
    for cursor in session.scalars(select(TargetCursor).order_by(TargetCursor.target)):
        depth = session.scalar(
            select(func.count()).select_from(OutboxRow).where(OutboxRow.id > cursor.last_id)
        )
        out.append(
            {
                "target": cursor.target,
                "last_id": cursor.last_id,
                "head": head,
                "depth": depth,
                "delivered": cursor.delivered,
                "failed": cursor.failed,
                "attempts": cursor.attempts,
                "last_error": cursor.last_error,
            }
        )
    return out


def build(settings: Settings) -> Dispatcher | None:
    """The dispatcher for `custody worker` (and `custody serve` on the embedded default);
    none when no targets are configured."""
    targets = load_targets(settings.notify_targets_file)
    if not targets:
        return None
    return Dispatcher(
        targets=targets, base_url=settings.public_url, max_attempts=settings.notify_max_attempts
    )
