"""The incident status machine (README, Incidents)."""

from __future__ import annotations

from service.incidents.errors import InvalidTransition
from service.incidents.schemas import Status

TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.open: frozenset({Status.acknowledged, Status.false_positive, Status.duplicate}),
    Status.acknowledged: frozenset(
        {Status.contained, Status.resolved, Status.false_positive, Status.duplicate}
    ),
    Status.contained: frozenset({Status.resolved}),
    Status.resolved: frozenset({Status.closed, Status.acknowledged}),
    Status.closed: frozenset(),
    Status.false_positive: frozenset(),
    Status.duplicate: frozenset(),
}

# Statuses in which an incident still receives new firings of its rule and group.
ACTIVE: frozenset[Status] = frozenset({Status.open, Status.acknowledged, Status.contained})


def allowed_next(status: Status) -> list[str]:
    return sorted(s.value for s in TRANSITIONS[status])


def check_transition(current: Status, target: Status) -> None:
    if target not in TRANSITIONS[current]:
        allowed = allowed_next(current)
        raise InvalidTransition(
            f"Cannot move from {current.value} to {target.value}; allowed: "
            + (", ".join(allowed) or "none (terminal status)"),
            current=current.value,
            allowed=allowed,
        )
