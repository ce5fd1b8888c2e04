"""Route: the overview, charts people would rather look at than read.

Every figure is one aggregate query (or one bounded read), never a query per row.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.auditlog.models import LogRecord
from service.auth.schemas import Scope
from service.config import Settings
from service.console import charts
from service.console.sessions import Signed
from service.console.web import PREFIX, page, render
from service.deps import get_session, get_settings
from service.incidents import stats
from service.incidents.models import Incident
from service.incidents.schemas import Severity
from service.logformat import format_time

router = APIRouter(prefix=PREFIX, include_in_schema=False)
Reader = Annotated[Signed, Depends(page(Scope.read))]
Db = Annotated[Session, Depends(get_session)]
Config = Annotated[Settings, Depends(get_settings)]
DAYS = 14
HOURS = 24
TOP_SOURCES = 6
# Late/skew figures read the newest events only: a bounded read on any log size.
RECENT_EVENTS = 20_000
SKEW = timedelta(minutes=1)


def _day(session: Session) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", Incident.opened_at), "YYYY-MM-DD")
    return func.substr(Incident.opened_at, 1, 10)


def incidents_per_day(session: Session, now: datetime) -> tuple[list[str], dict[str, list[float]]]:
    start = (now - timedelta(days=DAYS - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    days = [(start + timedelta(days=i)).strftime("%Y-%m-%d") for i in range(DAYS)]
    day = _day(session)
    rows = session.execute(
        select(day, Incident.severity, func.count())
        .where(Incident.opened_at >= start)
        .group_by(day, Incident.severity)
    ).all()
    order = [s.value for s in Severity][::-1]
    series: dict[str, list[float]] = {s: [0.0] * DAYS for s in order}
    index = {d: i for i, d in enumerate(days)}
    for d, severity, count in rows:
        if d in index and severity in series:
            series[severity][index[d]] = count
    return [d[5:] for d in days], series


def events_per_hour(session: Session, now: datetime) -> tuple[list[str], dict[str, list[float]]]:
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - timedelta(hours=HOURS)
    hours = [(start + timedelta(hours=i)).strftime("%Y-%m-%dT%H") for i in range(HOURS)]
    hour = func.substr(LogRecord.time, 1, 13)
    rows = session.execute(
        select(hour, LogRecord.source, func.count())
        .where(LogRecord.time >= format_time(start), LogRecord.time < format_time(end))
        .group_by(hour, LogRecord.source)
    ).all()
    totals: Counter[str] = Counter()
    for _, source, count in rows:
        totals[source] += count
    top = [s for s, _ in totals.most_common(TOP_SOURCES)]
    series: dict[str, list[float]] = {s: [0.0] * HOURS for s in top}
    if len(totals) > TOP_SOURCES:
        series["other"] = [0.0] * HOURS
    index = {h: i for i, h in enumerate(hours)}
    for h, source, count in rows:
        if h in index:
            series[source if source in top else "other"][index[h]] += count
    return [h[11:] + "h" for h in hours], series


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def late_and_skewed(session: Session, lateness: timedelta) -> list[dict[str, Any]]:
    """Per source, among the newest events: how many arrived later than the rules wait
    for (late) and how many claim a time after their arrival (clock skew)."""
    rows = session.execute(
        select(LogRecord.source, LogRecord.time, LogRecord.received_at)
        .order_by(LogRecord.seq.desc())
        .limit(RECENT_EVENTS)
    ).all()
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for source, time, received in rows:
        delay = _parse(received) - _parse(time)
        counts[source]["events"] += 1
        if delay > lateness:
            counts[source]["late"] += 1
        elif delay < -SKEW:
            counts[source]["skewed"] += 1
    out = [{"source": s, **c} for s, c in counts.items()]
    return sorted(out, key=lambda r: (-(r.get("late", 0) + r.get("skewed", 0)), r["source"]))


@router.get("/overview")
def overview(signed: Reader, request: Request, session: Db, settings: Config) -> Response:
    now = datetime.now(UTC)
    days, per_day = incidents_per_day(session, now)
    hours, per_hour = events_per_hour(session, now)
    durations = stats.compute(session=session, since=now - timedelta(days=30))
    tta, ttr = durations.time_to_acknowledge, durations.time_to_resolve
    minutes = {
        "acknowledge median": (tta.median or 0) / 60,
        "acknowledge p90": (tta.p90 or 0) / 60,
        "resolve median": (ttr.median or 0) / 60,
        "resolve p90": (ttr.p90 or 0) / 60,
    }
    labels = list(minutes)
    return render(
        request,
        "overview.html",
        {
            "per_day": charts.stacked_bars("Incidents opened per day by severity", days, per_day),
            "per_day_legend": charts.legend(list(per_day)),
            "per_hour": charts.lines(
                "Events per hour per source (event time, UTC)", hours, per_hour
            ),
            "per_hour_legend": charts.legend(list(per_hour)),
            "durations": charts.stacked_bars(
                "Minutes to acknowledge and resolve (last 30 days)",
                labels,
                {"minutes": [minutes[k] for k in labels]},
            ),
            "stats": durations,
            "late": late_and_skewed(session, timedelta(seconds=settings.rules_lateness_seconds)),
            "recent": RECENT_EVENTS,
        },
        signed=signed,
    )
