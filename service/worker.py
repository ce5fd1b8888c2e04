"""Background loops that follow the log: rules engine, checkpointer, indexer.

Each task is a plain object with a `name` and a `run_once(factory) -> bool` that does
one bounded batch of work in its own transaction and says whether it found any, so the
runner can poll fast while there is work and back off when idle. `custody worker` runs
them in production; `custody serve` runs them in a thread on the embedded default.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from service.config import Settings
from service.leader import Leadership
from service.logging import get_logger

log = get_logger(__name__)


class BackgroundTask(Protocol):
    name: str

    def run_once(self, factory: sessionmaker[Session]) -> bool: ...


# Each domain that has background work registers a builder here (see build_tasks).
TaskBuilder = Callable[[Settings], BackgroundTask | None]
BUILDERS: list[TaskBuilder] = []


def build_tasks(settings: Settings) -> list[BackgroundTask]:
    from service.evidence import task as _checkpointer  # noqa: F401  (registers its builder)
    from service.notify import dispatcher
    from service.rules import runner as _rules_runner  # noqa: F401  (registers its builder)
    from service.search import indexer as _indexer  # noqa: F401  (registers its builder)

    tasks = [builder(settings) for builder in [*BUILDERS, dispatcher.build]]
    return [t for t in tasks if t is not None]


def run(
    tasks: Sequence[BackgroundTask],
    factory: sessionmaker[Session],
    stop: threading.Event,
    *,
    idle_sleep: float = 0.2,
) -> None:
    """Run every task until `stop` is set, while this process leads (service.leader);
    a standby waits to take over. A failing task is logged and retried later; its
    cursor only moves on commit, so nothing it was processing is lost."""
    leadership = Leadership(factory.kw["bind"])
    try:
        _run(tasks, factory, stop, idle_sleep, leadership)
    finally:
        leadership.release()


def _run(
    tasks: Sequence[BackgroundTask],
    factory: sessionmaker[Session],
    stop: threading.Event,
    idle_sleep: float,
    leadership: Leadership,
) -> None:
    while not stop.is_set():
        if not leadership.holds():
            stop.wait(min(idle_sleep, leadership.retry_every))
            continue
        busy = False
        for task in tasks:
            try:
                busy = task.run_once(factory) or busy
            except Exception:
                log.exception("worker.task_failed", task=task.name)
                stop.wait(1.0)
        if not busy:
            stop.wait(idle_sleep)


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
