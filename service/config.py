"""Runtime configuration: environment variables with the CUSTODY_ prefix, nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MiB = 1024 * 1024


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CUSTODY_", extra="ignore")

    database_url: str = "sqlite:///./custody.db"
    host: str = "127.0.0.1"
    port: int = 8000

    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "INFO"

    # Ingest limits: DESIGN.md and the I-JSON rules decide these defaults.
    max_body_bytes: int = Field(default=10 * MiB, ge=1024)
    max_events_per_request: int = Field(default=10_000, ge=1)
    max_attributes_bytes: int = Field(default=64 * 1024, ge=256)
    max_raw_bytes: int = Field(default=256 * 1024, ge=256)

    # Access control.
    rate_limit_per_minute: int = Field(default=600, ge=1)
    ingest_rate_limit_per_minute: int = Field(default=60_000, ge=1)
    metrics_open: bool = False

    # Background work (rules engine, checkpointer) in-process with `custody serve`.
    # Unset: on for the embedded SQLite default, off for PostgreSQL (run `custody worker`).
    run_background: bool | None = None
    rules_dir: Path = Path("rules")
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
    runbooks_dir: Path = Path("runbooks")
    signing_key_path: Path = Path("custody-signing-key.pem")
    checkpoint_every_events: int = Field(default=10_000, ge=1)
    checkpoint_every_seconds: float = Field(default=300.0, gt=0)

    # Search: `sql` reads the log tables (never lags); `opensearch` is fed by the indexer
    # in `custody worker` (or in-process with `custody serve` when background work runs).
    search_backend: Literal["sql", "opensearch"] = "sql"
    opensearch_url: str = "http://127.0.0.1:9200"
    opensearch_index: str = Field(default="custody-events", pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    search_index_batch: int = Field(default=2000, ge=1, le=10_000)

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
    notify_max_attempts: int = Field(default=12, ge=1)
    public_url: str | None = None

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
