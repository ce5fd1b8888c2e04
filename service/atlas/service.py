"""Coverage of the deployed rules, with the live engine's firing counts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.atlas.navigator import RuleTags, layer
from service.rules.model import Rule
from service.rules.models import RuleStats


def coverage_layer(
    *, session: Session | None, rules: Sequence[Rule], score_by: Literal["rules", "firings"]
) -> dict[str, Any]:
    """The Navigator layer of `rules`; firing counts come from the database when given."""
    firings: dict[str, int] = {}
    if session is not None:
        rows = session.execute(select(RuleStats.rule_id, RuleStats.firings))
        firings = {row[0]: row[1] for row in rows}
    tagged = [RuleTags(r.id, r.name or r.title, r.tags) for r in rules if r.emits]
    return layer(tagged, firings=firings, score_by=score_by)
