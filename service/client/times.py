"""Times as responders type them: `24h`, `now-7d`, `now`, `yesterday`, `today`, a date,
or RFC 3339. Everything becomes an RFC 3339 UTC instant for the API."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_RELATIVE = re.compile(r"^(?:now\s*-\s*)?(\d+(?:\.\d+)?)\s*([smhdw])$")
HELP = "24h, now-7d, now, yesterday, today, 2026-11-30 or RFC 3339"


class TimeFormatError(ValueError):
    pass


def parse_time(value: str, *, now: datetime | None = None) -> datetime:
    """An aware UTC datetime; relative values count back from `now`."""
    now = now or datetime.now(UTC)
    text = value.strip().lower()
    if text == "now":
        return now
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if text == "today":
        return midnight
    if text == "yesterday":
        return midnight - timedelta(days=1)
    match = _RELATIVE.match(text)
    if match:
        return now - timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    try:
        moment = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError:
        raise TimeFormatError(f"{value!r} is not a time ({HELP})") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def api_time(value: str | None) -> str | None:
    """The RFC 3339 form sent to the API (None stays None)."""
    if value is None:
        return None
    return parse_time(value).isoformat().replace("+00:00", "Z")


def time_param(value: str | None, option: str) -> str | None:
    """api_time for a command-line option: a bad value is a usage error naming it."""
    import typer

    try:
        return api_time(value)
    except TimeFormatError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None
