"""The live rules engine: a BackgroundTask that follows the log by seq cursor.

Each `run_once` is one transaction: lock the lease row, (re)build the in-memory engine
if this runner is not exactly at the committed cursor, process up to `batch` events,
open or extend incidents, write first-seen memory and counters, advance the cursor.
Everything commits together, so a crash never skips an event or applies one twice,
and a second runner (another `custody worker`) waits on the lease, then rebuilds before
touching anything. A rebuild restores the engine snapshot saved with an earlier cursor
and replays only the events after it, so start-up work is bounded by the snapshot
interval, not by window length times event rate.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from service.auditlog.chain import read_head, record_internal
from service.config import Settings
from service.db import session_scope
from service.evidence.anchors import anchor_opened
from service.incidents import flows
from service.incidents.sla import SlaPolicy, policy_of
from service.logformat import format_time
from service.logging import get_logger
from service.rules import snapshot, store
from service.rules.engine import Engine
from service.rules.eventtime import TICK_ACTION, CountDelta, EventTimePolicy
from service.rules.logread import read_batch, replay_start, stream_events
from service.rules.model import Firing
from service.rules.ruleset import RuleSet, load_rule_set
from service.rules.timeutil import from_us

log = get_logger(__name__)
PRUNE_EVERY_SECONDS = 300.0
LATE_LOG_EVERY_SECONDS = 60.0


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
        policy: EventTimePolicy | None = None,
        snapshot_every: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rules_dir = rules_dir
        # Wall-clock seconds, read only to decide when a quiet log needs a tick (tests
        # hold it back to look at the state before a grace has passed).
        self.clock = clock
        # Where the checkpoint anchoring newly opened incidents is signed (None: unsigned,
        # the anchor is then the first periodic checkpoint covering the open).
        self.signing_key_path = signing_key_path
        self.incident_policy = flows.Policy(runbooks_dir=runbooks_dir, sla=sla or SlaPolicy())
        self.batch = batch
        self.policy = policy if policy is not None else EventTimePolicy(lateness=lateness)
        self.snapshot_every = snapshot_every
        self.rule_set: RuleSet | None = None
        self.warmup: str | None = None  # how the last rebuild went (rules status)
        self._engine: Engine | None = None
        self._seen = store.DbSeenStore()
        self._cursor = -1
        self._generation = -1
        self._counted: Counter[str] = Counter()
        self._last_prune = time.monotonic()
        self._last_snapshot = time.monotonic()
        self._status_dirty = False
        self._late_unlogged: Counter[str] = Counter()
        self._late_logged_at = 0.0
        self._ticked_for: int | None = None

    def run_once(self, factory: sessionmaker[Session]) -> bool:
        # Look before locking: on SQLite the lease is the database write lock, and an
        # idle poll must not contend with ingest for it, so this is a plain (deferred,
        # read-only) transaction, not `session_scope`'s writer; closing rolls it back.
        with factory() as session:
            state = store.read_state(session)
            if self._engine is None or state.generation != self._generation:
                # Build while idle too (read-only), so the first event after a start or
                # a reload does not wait for it; the batch below re-checks the cursor.
                try:
                    self._rebuild(session, state)
                finally:
                    self._seen.session = None
            idle = read_head(session)[0] <= state.cursor
        if idle:
            return self._tick_if_due(factory)
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
        except BaseException as exc:
            self._engine = None  # its state may hold uncommitted work: rebuild next time
            self._record_error(factory, exc)
            raise
        finally:
            self._seen.session = None
        return done > 0

    def _tick_if_due(self, factory: sessionmaker[Session]) -> bool:
        """On a quiet log, append a clock tick once a held trigger's grace has passed, so
        it is decided now rather than whenever the next event arrives. The tick is a
        record (server-only action), so a backtest replays the same decision."""
        due = self._engine.next_due() if self._engine is not None else None
        if due is None or due == self._ticked_for or self.clock() * 1_000_000 <= due:
            return False
        with session_scope(factory) as session:
            record_internal(
                session=session,
                action=TICK_ACTION,
                actor={"type": "service", "id": "rules-runner"},
                resource={"type": "rules", "id": "clock"},
                attributes={"due": format_time(from_us(due))},
            )
        self._ticked_for = due
        return True

    def _record_error(self, factory: sessionmaker[Session], exc: BaseException) -> None:
        """Best effort: the rules status shows the last failure."""
        if not isinstance(exc, Exception):
            return
        try:
            with session_scope(factory) as session:
                store.write_status(
                    session=session,
                    error=f"{type(exc).__name__}: {exc}",
                    at_us=int(time.time() * 1_000_000),
                )
        except Exception:  # the database itself may be what failed
            log.warning("rules.status_write_failed", exc_info=True)

    def _rebuild(self, session: Session, state: store.EngineState) -> None:
        """Reload rules if asked to, then bring a fresh engine to the committed cursor:
        from the saved snapshot when it fits, else by replaying the log."""
        began = time.perf_counter()
        if self.rule_set is None or state.generation != self._generation:
            self.rule_set = load_rule_set(directory=self.rules_dir)
        self._generation = state.generation
        self._seen = store.DbSeenStore()
        self._seen.session = session
        engine = Engine(self.rule_set.rules, policy=self.policy, seen=self._seen)
        saved = store.read_snapshot(session=session)
        if (
            saved is not None
            and saved.body is not None
            and saved.fingerprint == snapshot.fingerprint(engine)
            and 0 <= saved.seq <= state.cursor
        ):
            snapshot.load(engine, saved.body)
            after, how = saved.seq, "snapshot"
        else:
            after, how = replay_start(session=session, engine=engine, to_seq=state.cursor), "replay"
        warmed = 0
        chunk: list[dict[str, Any]] = []
        for event in stream_events(session=session, after_seq=after, to_seq=state.cursor):
            chunk.append(event)
            if len(chunk) == self.batch:
                warmed += self._warm(engine, chunk)
        warmed += self._warm(engine, chunk)
        engine.clocks.take_counts()  # counters report live work only, not the replay
        self._engine = engine
        self._cursor = state.cursor
        self._counted = Counter(engine.match_counts())
        seconds = time.perf_counter() - began
        self.warmup = f"{how} at seq {after}, {warmed} events warmed in {seconds:.2f} s"
        self._status_dirty = True
        log.info(
            "rules.engine_ready",
            cursor=state.cursor,
            warmed=warmed,
            start=how,
            seconds=round(seconds, 3),
            rules=len(engine.rules),
        )

    def _warm(self, engine: Engine, events: list[dict[str, Any]]) -> int:
        """Replay `events` into `engine` (first-seen lookups prefetched); empties the list."""
        self._seen.prefetch(engine.seen_keys(events))
        for event in events:
            engine.warm(event)
        count = len(events)
        events.clear()
        return count

    def _process_batch(self, session: Session, cursor: int) -> int:
        engine = self._engine
        assert engine is not None
        events, last = read_batch(session=session, after_seq=cursor, limit=self.batch)
        if last is None:
            return 0
        self._seen.prefetch(engine.seen_keys(events))
        firings: list[Firing] = []
        for event in events:
            firings.extend(engine.process(event))
        deltas: dict[str, store.StatsDelta] = {}
        now_us = int(time.time() * 1_000_000)
        for firing in firings:
            d = deltas.setdefault(firing.rule_id, store.StatsDelta())
            d.firings += 1
            d.last_fired_us = now_us
        opened = 0
        applied = flows.apply_firings(session=session, firings=firings, policy=self.incident_policy)
        for firing, outcome in applied:
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
        counted = engine.clocks.take_counts()
        store.save_clocks(session=session, clocks=engine.clocks, delta=counted)
        self._seen.flush()
        self._maybe_prune(session)
        if self._status_dirty:
            store.write_status(session=session, warmup=self.warmup)
            self._status_dirty = False
        if time.monotonic() - self._last_snapshot >= self.snapshot_every:
            self._last_snapshot = time.monotonic()
            store.write_snapshot(
                session=session,
                seq=last,
                fingerprint=snapshot.fingerprint(engine),
                body=snapshot.dump(engine),
                at_us=now_us,
            )
        store.advance_cursor(session=session, cursor=last)
        self._cursor = last
        self._log_late(counted)
        return last - cursor

    def _log_late(self, counted: CountDelta) -> None:
        """Late events are never silent, but one log line a minute is enough to say so."""
        self._late_unlogged.update(counted.late)
        if not self._late_unlogged:
            return
        if time.monotonic() - self._late_logged_at < LATE_LOG_EVERY_SECONDS:
            return
        self._late_logged_at = time.monotonic()
        log.warning(
            "rules.late_events",
            late=dict(self._late_unlogged),
            hint="raise CUSTODY_RULES_SOURCE_LATENESS_SECONDS for these sources",
        )
        self._late_unlogged.clear()

    def _maybe_prune(self, session: Session) -> None:
        """Drop first-seen memory older than each rule's history (bounded table)."""
        if time.monotonic() - self._last_prune < PRUNE_EVERY_SECONDS:
            return
        assert self._engine is not None
        times = [c.max_t for c in self._engine.clocks.sources.values() if c.max_t is not None]
        if not times:
            return
        self._last_prune = time.monotonic()
        newest = from_us(max(times))
        assert self.rule_set is not None
        horizons = {
            r.id: newest - r.first_seen.history - self.policy.max_lateness()
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
        signing_key_path=settings.signing_key_path,
        policy=EventTimePolicy.from_settings(settings),
        snapshot_every=settings.rules_snapshot_every_seconds,
    )
