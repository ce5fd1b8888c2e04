"""Background loops: rules engine, checkpointer, search indexer, notification
dispatcher, SLA watch, snooze expiry and log partitions made ahead (PostgreSQL).

Each task is a plain object with a `name` and a `run_once(factory) -> bool` that does
one bounded batch of work in its own transaction and says whether it found any, so its
loop can poll fast while there is work and back off when idle. `custody worker` runs
them in production; `custody serve` runs them in a thread on the embedded default.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from service.config import Settings
from service.db import session_scope
from service.heartbeat import beat
from service.leader import Leadership
from service.logging import get_logger

log = get_logger(__name__)


class BackgroundTask(Protocol):
    name: str

    def run_once(self, factory: sessionmaker[Session]) -> bool: ...


TaskBuilder = Callable[[Settings], BackgroundTask | None]


class PeriodicTask:
    """A task that looks for due work every `every` seconds: `step(session, now)` does it
    and returns how much it found. While it finds some, the loop calls again at once."""

    name = "periodic"

    def __init__(
        self,
        *,
        every: float = 30.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.every = every
        self.clock = clock
        self.monotonic = monotonic
        self.next_at = 0.0

    def step(self, session: Session, now: datetime) -> int:
        raise NotImplementedError

    def run_once(self, factory: sessionmaker[Session]) -> bool:
        if self.monotonic() < self.next_at:
            return False
        with session_scope(factory) as session:
            found = self.step(session, self.clock())
        if found == 0:
            self.next_at = self.monotonic() + self.every
        return found > 0


def builders() -> list[TaskBuilder]:
    """Every background task Custody runs. A new task is added here, by name, rather than
    registering itself when its module happens to be imported."""
    from service.evidence import task as checkpointer
    from service.incidents import sla
    from service.notify import dispatcher
    from service.retention import task as partitions
    from service.rules import runner
    from service.search import indexer
    from service.snoozes import service as snoozes

    return [runner.build, checkpointer.build, indexer.build, dispatcher.build, sla.build,
            snoozes.build, partitions.build]  # fmt: skip


def build_tasks(settings: Settings) -> list[BackgroundTask]:
    """The tasks this configuration enables (a builder returns None when it has nothing
    to do, e.g. the indexer without the OpenSearch backend)."""
    tasks = [build(settings) for build in builders()]
    return [t for t in tasks if t is not None]


def run(
    tasks: Sequence[BackgroundTask],
    factory: sessionmaker[Session],
    stop: threading.Event,
    *,
    idle_sleep: float = 0.2,
    heartbeat: Path | None = None,
) -> None:
    """Run every task in its own thread until `stop` is set, while this process leads
    (service.leader: the rules engine and the checkpointer must run once across
    replicas; a standby waits and takes over when the leader dies).

    One thread per task so that a slow task (a notification target timing out, a long
    checkpoint) never delays another: the rules engine keeps opening incidents while a
    webhook hangs. Each task's cursor only moves when its transaction commits, so a
    failure loses nothing it was processing. While every thread is alive the
    `heartbeat` file (if given) is touched, for the health check."""
    leadership = Leadership(factory.kw["bind"])
    leading, halt = threading.Event(), threading.Event()
    threads = [
        threading.Thread(
            target=_loop,
            args=(task, factory, stop, halt, leading, idle_sleep),
            name=f"custody-{task.name}",
        )
        for task in tasks
    ]
    for thread in threads:
        thread.start()
    try:
        while not stop.is_set():
            if leadership.holds():
                leading.set()
            else:
                leading.clear()
            if heartbeat and all(t.is_alive() for t in threads):
                beat(heartbeat)
            stop.wait(min(1.0, leadership.retry_every, leadership.check_every))
    finally:
        leading.clear()
        halt.set()
        for thread in threads:
            thread.join()
        leadership.release()


def _loop(
    task: BackgroundTask,
    factory: sessionmaker[Session],
    stop: threading.Event,
    halt: threading.Event,
    leading: threading.Event,
    idle: float,
) -> None:
    while not (stop.is_set() or halt.is_set()):
        if not leading.wait(0.5):
            continue  # a standby: the leader runs the tasks
        try:
            busy = task.run_once(factory)
        except Exception:
            log.exception("worker.task_failed", task=task.name)
            stop.wait(1.0)
            continue
        if not busy:
            stop.wait(idle)


class InProcessWorker:
    """The worker loops in a daemon thread, for `custody serve` on the embedded default."""

    def __init__(self, tasks: Sequence[BackgroundTask], factory: sessionmaker[Session]) -> None:
        self.tasks = tasks
        self.factory = factory
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="custody-worker", daemon=True)

    def _run(self) -> None:
        run(self.tasks, self.factory, self.stop, idle_sleep=0.05)

    def start(self) -> None:
        if self.tasks:
            self.thread.start()

    def close(self, timeout: float = 5.0) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout)


def sleep_until(deadline: float) -> None:
    time.sleep(max(0.0, deadline - time.monotonic()))
