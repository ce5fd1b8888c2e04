"""What every client command shares: the global options, one HTTP call that turns every
failure into one line and an exit code, and output as a table, JSON or NDJSON.

Exit codes (documented in the README): 0 done; 1 the server refused (4xx) or a check
failed; 2 bad usage or configuration; 3 the server is unreachable or failing (5xx);
4 a conflict: the incident changed meanwhile (412) or the change is not allowed now (409).
"""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from rich.console import Console
from rich.markup import escape

from service.client.http import ClientConfigError, api_client, problem_message

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3
EXIT_CONFLICT = 4

err = Console(stderr=True, soft_wrap=True, highlight=False)


def console() -> Console:
    """A console for stdout, made per command so COLUMNS and the terminal are read then."""
    return Console(highlight=False)


class OutputFormat(enum.StrEnum):
    table = "table"
    json = "json"
    ndjson = "ndjson"


@dataclass
class Globals:
    url: str | None = None
    token: str | None = None
    output: OutputFormat = OutputFormat.table


GLOBALS = Globals()


class CliError(Exception):
    """A failure to report as one line, with its exit code (the `custody` group prints it
    and exits)."""

    def __init__(self, message: str, code: int = EXIT_REFUSED) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def show(self) -> None:
        err.print(f"[red]error:[/red] {escape(self.message)}")


def output_format(override: OutputFormat | None = None) -> OutputFormat:
    return override or GLOBALS.output


def client(timeout: float = 30.0) -> httpx.Client:
    try:
        return api_client(GLOBALS.url, GLOBALS.token, timeout=timeout)
    except ClientConfigError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


def exit_code_for(status: int) -> int:
    if status in (409, 412):
        return EXIT_CONFLICT
    if status >= 500:
        return EXIT_UNAVAILABLE
    return EXIT_REFUSED


def request(
    method: str,
    path: str,
    *,
    params: dict[str, Any] | None = None,
    json_body: Any = None,
    headers: dict[str, str] | None = None,
    ok: Iterable[int] = (),
) -> httpx.Response:
    """One API call; a failure becomes a CliError carrying the server's problem detail.
    Statuses in `ok` are returned instead, for callers that explain them better."""
    clean = {k: v for k, v in (params or {}).items() if v is not None and v != []}
    try:
        with client() as c:
            response = c.request(method, path, params=clean, json=json_body, headers=headers)
    except httpx.HTTPError as exc:
        raise CliError(f"cannot reach the server: {exc}", EXIT_UNAVAILABLE) from None
    if response.status_code >= 400 and response.status_code not in set(ok):
        raise CliError(problem_message(response), exit_code_for(response.status_code))
    return response


def emit(data: Any, table: Callable[[], None], *, fmt: OutputFormat | None = None) -> None:
    """Print `data` as the API returned it (json, ndjson: one item per line), or call
    `table` for people."""
    chosen = output_format(fmt)
    if chosen is OutputFormat.table:
        table()
        return
    if chosen is OutputFormat.ndjson:
        items = data["items"] if isinstance(data, dict) and "items" in data else data
        for item in items if isinstance(items, list) else [items]:
            sys.stdout.write(json.dumps(item, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    return f"{count} {noun if count == 1 else plural_form or noun + 's'}"


def seconds(value: float | None) -> str:
    """45.254 -> '45.3 s', 5400 -> '1.5 h': a duration with its unit."""
    if value is None:
        return "-"
    for limit, unit, size in ((120, "s", 1), (7200, "min", 60), (172800, "h", 3600)):
        if value < limit:
            return f"{value / size:.1f} {unit}"
    return f"{value / 86400:.1f} d"


def when(value: str | None) -> str:
    """An RFC 3339 instant shortened to the minute, for tables ('2026-11-30 12:00')."""
    if not value:
        return "-"
    return value[:16].replace("T", " ")


def short_when(value: str | None) -> str:
    """'11-30 12:00' this year, '2025-11-30' before: for narrow tables."""
    if not value:
        return "-"
    if value[:4] == str(datetime.now(UTC).year):
        return value[5:16].replace("T", " ")
    return value[:10]
