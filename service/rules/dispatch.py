"""Which vendor-logsource rules an event can match, without trying them all.

Custody rules are indexed by `action` in the engine. A vendor rule (SigmaHQ's) has no
action: it is pinned to one adapter's `source` by its pipeline, and usually to a few
values of the vendor's operation field (CloudTrail `eventName`, GCP `methodName`...). An
event only runs the vendor rules of its own source, and of those, the ones pinned to its
operation plus the ones that pin nothing; an import of hundreds of SigmaHQ rules then
costs events of other sources one dict lookup.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from service.rules.fields import Getter, make_getter
from service.rules.model import Event, Predicate, Rule

Candidates = tuple[tuple[Rule, Predicate], ...]


@dataclass(frozen=True, slots=True)
class SourceIndex:
    get: Getter  # the vendor's operation field
    by_value: Mapping[str, Candidates]  # lowercased value -> pinned rules (+ unpinned)
    unpinned: Candidates  # rules that do not pin the operation
    every: Candidates  # all rules of the source, with their full predicate

    def candidates(self, event: Event) -> Candidates:
        value = self.get(event)
        if isinstance(value, str):
            return self.by_value.get(value.lower(), self.unpinned)
        if value is None:  # no rule pinned to a value can match a missing field
            return self.unpinned
        # A list (or a number): the folded dispatch predicates would not hold.
        return self.every


def vendor_index(rules: Sequence[Rule]) -> dict[str, SourceIndex]:
    """source -> its vendor rules, indexed like the engine indexes Custody rules by action."""
    by_source: dict[str, list[Rule]] = {}
    for rule in rules:
        if rule.vendor_source is not None and rule.predicate is not None:
            by_source.setdefault(rule.vendor_source, []).append(rule)
    out: dict[str, SourceIndex] = {}
    for source, members in by_source.items():
        unpinned: Candidates = tuple(
            (r, r.predicate) for r in members if r.actions is None and r.predicate is not None
        )
        pinned: dict[str, list[tuple[Rule, Predicate]]] = {}
        for rule in members:
            if rule.dispatch is not None:
                for value in rule.actions or ():
                    pinned.setdefault(value, []).append((rule, rule.dispatch))
        out[source] = SourceIndex(
            get=make_getter(members[0].index),
            by_value={v: (*rs, *unpinned) for v, rs in pinned.items()},
            unpinned=unpinned,
            every=tuple((r, r.predicate) for r in members if r.predicate is not None),
        )
    return out
