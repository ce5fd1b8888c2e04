"""Background loops: rules engine, checkpointer, search indexer, notification
dispatcher, SLA watch and snooze expiry.

Each task is a plain object with a `name` and a `run_once(factory) -> bool` that does
one bounded batch of work in its own transaction and says whether it found any, so its
loop can poll fast while there is work and back off when idle. `custody worker` runs
them in production; `custody serve` runs them in a thread on the embedded default.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from service.config import Settings
from service.heartbeat import beat
from service.logging import get_logger

log = get_logger(__name__)
HEARTBEAT_SECONDS = 10.0


class BackgroundTask(Protocol):
    name: str

    def run_once(self, factory: sessionmaker[Session]) -> bool: ...


TaskBuilder = Callable[[Settings], BackgroundTask | None]


def builders() -> list[TaskBuilder]:
    """Every background task Custody runs. A new task is added here, by name, rather than
    registering itself when its module happens to be imported."""
    from service.evidence import task as checkpointer
    from service.incidents import sla
    from service.notify import dispatcher
    from service.rules import runner
    from service.search import indexer
    from service.snoozes import service as snoozes

    return [runner.build, checkpointer.build, indexer.build, dispatcher.build, sla.build,
            snoozes.build]  # fmt: skip


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
    """Run every task in its own thread until `stop` is set; while all of them are
    alive, touch `heartbeat` (if given) every few seconds for the health check.

    One thread per task so that a slow task (a notification target timing out, a long
    checkpoint) never delays another: the rules engine keeps opening incidents while a
    webhook hangs. Each task's cursor only moves when its transaction commits, so a
    failure loses nothing it was processing."""
    threads = [
        threading.Thread(
            target=_loop, args=(task, factory, stop, idle_sleep), name=f"custody-{task.name}"
        )
        for task in tasks
    ]
    for thread in threads:
        thread.start()
    while True:
        if heartbeat and all(t.is_alive() for t in threads):
            beat(heartbeat)
        if stop.wait(HEARTBEAT_SECONDS):
            break
    for thread in threads:
        thread.join()


def _loop(
    task: BackgroundTask, factory: sessionmaker[Session], stop: threading.Event, idle: float
) -> None:
    while not stop.is_set():
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
