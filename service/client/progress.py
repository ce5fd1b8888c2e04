"""What `custody ship` tells the operator while it runs: a rich bar with events/s on a
terminal, plain lines (one every few seconds) when the output is a file or a pipe."""

from __future__ import annotations

import time
from types import TracebackType
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text


class Reporter(Protocol):
    def __enter__(self) -> Reporter: ...
    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None: ...
    def sent(self, events: int, accepted: int, duplicates: int) -> None: ...
    def retrying(self, attempt: int, wait: float, reason: str) -> None: ...
    def note(self, message: str) -> None: ...


class _Rate(ProgressColumn):
    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        rate = task.completed / elapsed if elapsed > 0 else 0.0
        return Text(f"{task.completed:,.0f} events  {rate:,.0f} events/s", style="cyan")


class RichReporter:
    def __init__(self, console: Console, label: str) -> None:
        self.console = console
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            _Rate(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._task = self._progress.add_task(label, total=None, detail="")
        self._accepted = self._duplicates = 0

    def __enter__(self) -> RichReporter:
        self._progress.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()

    def sent(self, events: int, accepted: int, duplicates: int) -> None:
        self._accepted += accepted
        self._duplicates += duplicates
        detail = f"{self._accepted:,} new, {self._duplicates:,} duplicates"
        self._progress.update(self._task, advance=events, detail=detail)

    def retrying(self, attempt: int, wait: float, reason: str) -> None:
        self._progress.update(
            self._task, detail=f"[yellow]{reason}; retry {attempt} in {wait:.1f}s"
        )

    def note(self, message: str) -> None:
        self._progress.console.print(message)


class PlainReporter:
    def __init__(self, console: Console, label: str, every: float = 5.0) -> None:
        self.console = console
        self.label = label
        self.every = every
        self.events = self.accepted = self.duplicates = 0
        self._start = self._last = time.monotonic()

    def __enter__(self) -> PlainReporter:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._line()

    def _line(self) -> None:
        elapsed = max(time.monotonic() - self._start, 1e-9)
        self.console.print(
            f"{self.label}: {self.events} events sent ({self.accepted} new, "
            f"{self.duplicates} duplicates), {self.events / elapsed:.0f} events/s",
            highlight=False,
            soft_wrap=True,
        )

    def sent(self, events: int, accepted: int, duplicates: int) -> None:
        self.events += events
        self.accepted += accepted
        self.duplicates += duplicates
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self._line()

    def retrying(self, attempt: int, wait: float, reason: str) -> None:
        self.console.print(
            f"{self.label}: {reason}; retry {attempt} in {wait:.1f}s", highlight=False
        )

    def note(self, message: str) -> None:
        self.console.print(message, highlight=False, soft_wrap=True)


def reporter(console: Console, label: str) -> RichReporter | PlainReporter:
    return RichReporter(console, label) if console.is_terminal else PlainReporter(console, label)
