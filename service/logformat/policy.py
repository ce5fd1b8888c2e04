"""Which records only Custody may write: refused at ingest for every token.

Custody's own records (incident changes, erasures, audited reads, holds, snoozes,
notification attempts, log upgrades, console sign-ins) are what `custody verify`, erasure checks and
`custody incidents audit` read meaning from, so no shipper may produce one: not under the
source ``custody``, and not under these actions from any source. `apikey.*` and `auth.*`
are also written by Custody, but AI services legitimately send them too, so they stay
open; nothing trusts them.
"""

from __future__ import annotations

from service.logformat.record import SERVER_SOURCE

SERVER_ONLY_PREFIXES = (
    "incident.",
    "runbook.",
    "hold.",
    "snooze.",
    "notification.",
    "log.",
    "witness.",
    "checkpoint.",
    "console.",
)
SERVER_ONLY_ACTIONS = frozenset({"event.erase", "audit.read", "rules.reload", "rules.tick"})


def is_server_only_action(action: str) -> bool:
    return action in SERVER_ONLY_ACTIONS or action.startswith(SERVER_ONLY_PREFIXES)


def refusal(source: str | None, action: str) -> tuple[str, str] | None:
    """(field, message) when a shipper may not send this event, else None."""
    if source == SERVER_SOURCE:
        return "source", f"source {SERVER_SOURCE!r} is reserved for Custody's own records"
    if is_server_only_action(action):
        return "action", f"action {action!r} is reserved for Custody's own records"
    return None
