"""The live rules engine: a BackgroundTask that follows the log by seq cursor.

Each `run_once` is one transaction: lock the lease row, (re)build the in-memory engine
if this runner is not exactly at the committed cursor, process up to `batch` events,
open or extend incidents, write first-seen memory and counters, advance the cursor.
Everything commits together, so a crash never skips an event or applies one twice,
and a second runner (another `custody worker`) waits on the lease, then rebuilds from
the log before touching anything.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from service.auditlog.chain import read_head
from service.config import Settings
from service.db import session_scope
from service.evidence.anchors import anchor_opened
from service.incidents import flows
from service.incidents.sla import SlaPolicy, policy_of
from service.logging import get_logger
from service.rules import store
from service.rules.engine import Engine
from service.rules.logread import newest_time, read_batch, stream_events
from service.rules.merge import merge_firings
from service.rules.model import Firing
from service.rules.ruleset import RuleSet, load_rule_set
from service.rules.timeutil import from_us, to_us

log = get_logger(__name__)
PRUNE_EVERY_SECONDS = 300.0


class RuleRunner:
    name = "rules"

    def __init__(
        self,
        *,
        rules_dir: Path,
        runbooks_dir: Path,
        sla: SlaPolicy | None = None,
        batch: int = 1000,
        lateness: timedelta = timedelta(minutes=5),
        signing_key_path: Path | None = None,
    ) -> None:
        self.rules_dir = rules_dir
        # Where the checkpoint anchoring newly opened incidents is signed (None: unsigned,
        # the anchor is then the first periodic checkpoint covering the open).
        self.signing_key_path = signing_key_path
        self.policy = flows.Policy(runbooks_dir=runbooks_dir, sla=sla or SlaPolicy())
        self.batch = batch
        self.lateness = lateness
        self.rule_set: RuleSet | None = None
        self._engine: Engine | None = None
        self._seen = store.DbSeenStore()
        self._cursor = -1
        self._generation = -1
        self._counted: Counter[str] = Counter()
        self._max_t: int | None = None
        self._last_prune = time.monotonic()

    def run_once(self, factory: sessionmaker[Session]) -> bool:
        # Look before locking: on SQLite the lease is the database write lock, and an
        # idle poll must not contend with ingest for it.
        with session_scope(factory) as session:
            state = store.read_state(session)
            if self._engine is None or state.generation != self._generation:
                # Build while idle too (read-only), so the first event after a start or
                # a reload does not wait for it; the batch below re-checks the cursor.
                try:
                    self._rebuild(session, state)
                finally:
                    self._seen.session = None
            if read_head(session)[0] <= state.cursor:
                return False
        try:
            with session_scope(factory) as session:
                state = store.lock_state(session)
                self._seen.session = session
                if (
                    self._engine is None
                    or state.cursor != self._cursor
                    or state.generation != self._generation
                ):
                    self._rebuild(session, state)
                done = self._process_batch(session, state.cursor)
        except BaseException:
            self._engine = None  # its state may hold uncommitted work: rebuild next time
            raise
        finally:
            self._seen.session = None
        return done > 0

    def _rebuild(self, session: Session, state: store.EngineState) -> None:
        """Reload rules if asked to, then warm a fresh engine per its restart contract."""
        if self.rule_set is None or state.generation != self._generation:
            self.rule_set = load_rule_set(directory=self.rules_dir)
        self._generation = state.generation
        self._seen = store.DbSeenStore()
        self._seen.session = session
        engine = Engine(self.rule_set.rules, lateness=self.lateness, seen=self._seen)
        newest = newest_time(session=session, to_seq=state.cursor)
        warmed = 0
        if newest is not None:
            self._max_t = to_us(newest)
            for event in stream_events(
                session=session, to_seq=state.cursor, since=newest - engine.max_window()
            ):
                engine.warm(event)
                warmed += 1
        self._engine = engine
        self._cursor = state.cursor
        # Counters report live work only, not the replay.
        self._counted = Counter(engine.match_counts())
        log.info("rules.engine_ready", cursor=state.cursor, warmed=warmed, rules=len(engine.rules))

    def _process_batch(self, session: Session, cursor: int) -> int:
        engine = self._engine
        assert engine is not None
        events, last = read_batch(session=session, after_seq=cursor, limit=self.batch)
        if last is None:
            return 0
        firings: list[Firing] = []
        for event in events:
            firings.extend(engine.process(event))
            t = to_us(event["time"])
            if self._max_t is None or t > self._max_t:
                self._max_t = t
        deltas: dict[str, store.StatsDelta] = {}
        now_us = int(time.time() * 1_000_000)
        for firing in firings:
            d = deltas.setdefault(firing.rule_id, store.StatsDelta())
            d.firings += 1
            d.last_fired_us = now_us
        opened = 0
        for firing in merge_firings(firings):
            outcome = flows.apply_firing(session=session, firing=firing, policy=self.policy)
            if outcome is flows.Outcome.opened:
                deltas.setdefault(firing.rule_id, store.StatsDelta()).incidents_opened += 1
                opened += 1
        if opened and self.signing_key_path is not None:
            anchor_opened(session=session, key_path=self.signing_key_path)  # one per batch
        counts = Counter(engine.match_counts())
        for rule_id, total in counts.items():
            if total != self._counted[rule_id]:
                d = deltas.setdefault(rule_id, store.StatsDelta())
                d.events_matched += total - self._counted[rule_id]
        self._counted = counts
        store.add_stats(session=session, deltas=deltas)
        self._seen.flush()
        self._maybe_prune(session)
        store.advance_cursor(session=session, cursor=last)
        self._cursor = last
        return last - cursor

    def _maybe_prune(self, session: Session) -> None:
        """Drop first-seen memory older than each rule's history (bounded table)."""
        if self._max_t is None or time.monotonic() - self._last_prune < PRUNE_EVERY_SECONDS:
            return
        self._last_prune = time.monotonic()
        newest = from_us(self._max_t)
        assert self.rule_set is not None
        horizons = {
            r.id: newest - r.first_seen.history - self.lateness
            for r in self.rule_set.rules
            if r.first_seen is not None
        }
        removed = self._seen.prune(session=session, horizons=horizons)
        if removed:
            log.info("rules.seen_pruned", removed=removed)


def build(settings: Settings) -> RuleRunner:
    return RuleRunner(
        rules_dir=settings.rules_dir,
        runbooks_dir=settings.runbooks_dir,
        sla=policy_of(settings),
        lateness=timedelta(seconds=settings.rules_lateness_seconds),
        signing_key_path=settings.signing_key_path,
    )

