"""Folding firings that share a dedup key, the way the incidents layer would."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from service.rules.model import Firing


def merge_firings(firings: Iterable[Firing]) -> list[Firing]:
    """One firing per dedup key, in order of first appearance: evidence unioned (sorted),
    first/last seen widened; group, title and hash come from the first firing.

    Within one runner batch no incident can close between two firings, so applying the
    merged firing is what applying each in turn would do, with one write instead of many.
    """
    merged: dict[str, Firing] = {}
    for firing in firings:
        prior = merged.get(firing.dedup_key)
        if prior is None:
            merged[firing.dedup_key] = firing
            continue
        merged[firing.dedup_key] = replace(
            prior,
            evidence=tuple(sorted({*prior.evidence, *firing.evidence})),
            first_seen=min(prior.first_seen, firing.first_seen),
            last_seen=max(prior.last_seen, firing.last_seen),
        )
    return list(merged.values())
