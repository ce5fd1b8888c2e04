"""Runtime configuration: environment variables with the CUSTODY_ prefix, nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.packaged import default_home, shipped

MiB = 1024 * 1024


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CUSTODY_", extra="ignore")

    # The data directory: the default SQLite database and the signing key live here, so
    # every command finds the same ones wherever it runs.
    home: Path = Field(default_factory=default_home)
    database_url: str = ""  # default: sqlite:///<home>/custody.db
    host: str = "127.0.0.1"
    port: int = 8000

    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "INFO"

    # Ingest limits: the event schema and the I-JSON rules decide these defaults.
    max_body_bytes: int = Field(default=10 * MiB, ge=1024)
    max_events_per_request: int = Field(default=10_000, ge=1)
    max_attributes_bytes: int = Field(default=64 * 1024, ge=256)
    max_raw_bytes: int = Field(default=256 * 1024, ge=256)
    # Ingest bodies one server process parses and inserts at once (a body's commit no
    # longer counts: the next one starts meanwhile); the rest wait their turn. None: one
    # on SQLite, where a process's threads share one GIL and one write lock and taking
    # turns stored more per second (bench/ingest.py --concurrency); no limit on
    # PostgreSQL, whose work overlaps in the server's own processes.
    ingest_concurrency: int | None = Field(default=None, ge=1)

    # OTLP receiver: spans and log records without gen_ai.* attributes are dropped
    # unless this is on (then stored as otel.span / otel.log).
    otlp_keep_non_genai: bool = False
    # Content dedup for id-less events of these sources ("*": all), for forwarders that
    # retry whole chunks: the same content within one to two windows is stored once.
    content_dedup_sources: list[str] = Field(default_factory=list)
    content_dedup_window_seconds: int = Field(default=600, ge=1)

    # Access control.
    rate_limit_per_minute: int = Field(default=600, ge=1)
    ingest_rate_limit_per_minute: int = Field(default=60_000, ge=1)
    metrics_open: bool = False
    # Failed authentications per client address: a burst, then this many per minute;
    # attempts beyond are refused (429) unevaluated and logged as counts every flush.
    auth_failure_burst: int = Field(default=10, ge=1)
    auth_failures_per_minute: int = Field(default=30, ge=1)
    auth_throttle_flush_seconds: float = Field(default=10.0, gt=0)

    # Database outages: a 503 asks clients to come back after this many seconds, and
    # /readyz stays not-ready that long after a write failed for one. On SQLite, /readyz
    # also wants this much free disk next to the database file.
    unavailable_retry_after: int = Field(default=5, ge=1, le=3600)
    min_free_disk_bytes: int = Field(default=16 * MiB, ge=0)

    # Background work (rules engine, checkpointer) in-process with `custody serve`.
    # Unset: on for the embedded SQLite default, off for PostgreSQL (run `custody worker`).
    run_background: bool | None = None
    rules_dir: Path = Field(default_factory=lambda: shipped("rules"))
    # Event time is tracked per source: an event may be this much older than the newest
    # event of its own source and still join correlation windows (per-source overrides
    # as a JSON object, e.g. {"aws.cloudtrail": 1200}).
    rules_lateness_seconds: float = Field(default=300.0, ge=0)
    rules_source_lateness_seconds: dict[str, float] = Field(default_factory=dict)
    # A source that sent nothing for this long (by arrival time) stops holding windows open.
    rules_idle_timeout_seconds: float = Field(default=900.0, gt=0)
    # An event dated further than this ahead of its arrival is correlated at its arrival.
    rules_clock_skew_seconds: float = Field(default=300.0, ge=0)
    # How often the runner snapshots engine state with its cursor (bounds start-up work).
    rules_snapshot_every_seconds: float = Field(default=30.0, gt=0)
    # Wall-clock budget of one POST /v1/rules/backtest: candidate rules are code a caller
    # chose, and a request must not hold a server thread for as long as it likes.
    backtest_budget_seconds: float = Field(default=30.0, gt=0)
    runbooks_dir: Path = Field(default_factory=lambda: shipped("runbooks"))
    signing_key_path: Path = Path()  # default: <home>/custody-signing-key.pem
    checkpoint_every_events: int = Field(default=10_000, ge=1)
    checkpoint_every_seconds: float = Field(default=300.0, gt=0)

    # Retention (PostgreSQL): the log is partitioned by seq, this many records a
    # partition (fixed for the partitions that exist; new ones take the new size).
    # `custody archive --policy` archives whole partitions whose records are all older
    # than `retention_days` (None: keep forever) into `archive_dir` (default
    # <home>/archive) as signed evidence bundles, then drops them.
    log_partition_size: int = Field(default=1_000_000, ge=10)
    retention_days: int | None = Field(default=None, ge=1)
    archive_dir: Path | None = None

    # Search: `sql` reads the log tables (never lags); `opensearch` is fed by the indexer
    # in `custody worker` (or in-process with `custody serve` when background work runs).
    search_backend: Literal["sql", "opensearch"] = "sql"
    opensearch_url: str = "http://127.0.0.1:9200"
    opensearch_index: str = Field(default="custody-events", pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    search_index_batch: int = Field(default=2000, ge=1, le=10_000)
    # The index template and ISM policy Custody installs (service/search/resources/):
    # the index behind the alias rolls over at this size or age, whichever comes first,
    # and is deleted this many days after its rollover. Changes reach new indices only.
    opensearch_shards: int = Field(default=1, ge=1, le=1024)
    opensearch_replicas: int = Field(default=1, ge=0, le=16)
    opensearch_rollover_size: str = Field(default="30gb", pattern=r"^[1-9][0-9]*(b|kb|mb|gb|tb)$")
    opensearch_rollover_age: str = Field(default="1d", pattern=r"^[1-9][0-9]*(d|h|m|s)$")
    search_retention_days: int = Field(default=365, ge=1)

    # SLA targets in minutes per severity (JSON objects in the environment); a severity
    # left out has no clock. Defaults: critical 15 min / 4 h, high 1 h / 24 h,
    # medium 4 h / 3 d, low 24 h / 7 d, info none.
    sla_acknowledge_minutes: dict[str, float] = Field(
        default_factory=lambda: {"critical": 15.0, "high": 60.0, "medium": 240.0, "low": 1440.0}
    )
    sla_resolve_minutes: dict[str, float] = Field(
        default_factory=lambda: {
            "critical": 240.0,
            "high": 1440.0,
            "medium": 4320.0,
            "low": 10080.0,
        }
    )
    sla_check_seconds: float = Field(default=30.0, gt=0)

    # Notifications: targets (webhook, Slack, PagerDuty, SMTP) in a YAML file; links in
    # messages point at `public_url` (how responders reach this server).
    notify_targets_file: Path | None = None
    # Touched by `custody worker` while its loops run (container health check).
    worker_heartbeat_file: Path | None = None
    notify_max_attempts: int = Field(default=12, ge=1)
    public_url: str | None = None
    # Who exported an incident, as peers see it (STIX identity, MISP Orgc).
    sharing_producer: str = Field(default="Custody", min_length=1, max_length=200)

    # Console: a sign-in lasts this long (it also ends when its token is revoked).
    console_session_minutes: int = Field(default=120, ge=1, le=24 * 60)

    @model_validator(mode="before")
    @classmethod
    def _home_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):
            home = Path(data.get("home") or default_home()).expanduser()
            if not data.get("database_url"):
                data["database_url"] = f"sqlite:///{home / 'custody.db'}"
            if not data.get("signing_key_path"):
                data["signing_key_path"] = home / "custody-signing-key.pem"
        return data

    @field_validator("database_url")
    @classmethod
    def _driver(cls, value: str) -> str:
        # postgres:// (Heroku, many PaaS) and postgresql:// mean the psycopg 3 driver here.
        for scheme in ("postgres://", "postgresql://"):
            if value.startswith(scheme):
                return "postgresql+psycopg://" + value[len(scheme) :]
        return value

    @field_validator("rules_source_lateness_seconds")
    @classmethod
    def _lateness_not_negative(cls, value: dict[str, float]) -> dict[str, float]:
        bad = sorted(k for k, v in value.items() if v < 0)
        if bad:
            raise ValueError(f"lateness must be >= 0 seconds (sources: {', '.join(bad)})")
        return value

    @property
    def background_in_process(self) -> bool:
        return self.is_sqlite if self.run_background is None else self.run_background

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
